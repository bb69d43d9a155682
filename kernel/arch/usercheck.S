/*
 * usercheck.S - one round trip to ring 3 and back through SYSCALL, at boot.
 *
 * Some hypervisors (this project's nested, paravirtual KVM among them) run
 * the SYSCALL instruction without entering ring 0: the guest then executes
 * LSTAR's code in ring 3 and faults.  usercheck.c uses this to find out
 * before init starts, so the failure is one clear line, not a fault in init.
 *
 * uint64_t usercheck_enter(uint64_t rip, uint64_t rsp) enters ring 3 at RIP
 * and returns 1 when the user code's SYSCALL arrived at usercheck_syscall in
 * ring 0, or 0 when usercheck_fail was called from the fault handler.
 */
#define USER_DS (0x18 | 3)
#define USER_CS (0x20 | 3)

#include "frame.h"

        .text
        .code64
        .globl usercheck_enter, usercheck_syscall, usercheck_fail
usercheck_enter:
        PUSH_CALLEE_SAVED
        movq %rsp, usercheck_saved_rsp(%rip)
        pushq $USER_DS
        pushq %rsi
        pushq $0x2                      /* RFLAGS: interrupts stay off */
        pushq $USER_CS
        pushq %rdi
        iretq

usercheck_syscall:
        movq usercheck_saved_rsp(%rip), %rsp
        movl $1, %eax
        jmp 1f
usercheck_fail:
        movq usercheck_saved_rsp(%rip), %rsp
        xorl %eax, %eax
1:      POP_CALLEE_SAVED
        ret

        .bss
        .align 8
usercheck_saved_rsp:
        .quad 0
