/*
 * syscall_entry.S - the `syscall` instruction's entry and the sysret exit.
 *
 * `syscall` leaves RSP on the user stack and interrupts off (FMASK clears
 * IF, DF, TF and AC).  We swap to the kernel GS, save the user RSP, load
 * the current thread's kernel stack top (cpu0.kernel_stack_top = %gs:0) and
 * build the same struct trap_frame an interrupt would, with vector
 * SYSCALL_VECTOR, so the rest of the kernel sees one register layout.
 *
 * The exit loads RIP from the frame into RCX and RFLAGS into R11 for
 * sysretq.  syscall_dispatch guarantees the RIP is a canonical user address
 * (sysret to a non-canonical RIP would fault in ring 0 on Intel CPUs).
 */
#include "frame.h"
#define USER_DS (0x18 | 3)
#define USER_CS (0x20 | 3)
#define SYSCALL_VECTOR 0x100

        .text
        .code64
        .globl syscall_entry
syscall_entry:
        swapgs
        movq %rsp, %gs:8
        movq %gs:0, %rsp
        pushq $USER_DS
        pushq %gs:8
        pushq %r11
        pushq $USER_CS
        pushq %rcx
        pushq $0
        pushq $SYSCALL_VECTOR
        SAVE_GPRS
        movq %rsp, %rdi
        call syscall_dispatch
        RESTORE_GPRS
        movq 16(%rsp), %rcx             /* RIP */
        movq 32(%rsp), %r11             /* RFLAGS */
        movq 40(%rsp), %rsp             /* user RSP: the frame is gone now */
        swapgs
        sysretq
