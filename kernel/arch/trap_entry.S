/*
 * trap_entry.S - the 256 interrupt entry points and the common path.
 *
 * Each stub makes the stack uniform (a 0 for vectors where the CPU pushes no
 * error code, then the vector), the common path saves the general registers
 * in struct trap_frame order, calls trap_dispatch(frame) and returns with
 * iretq.  swapgs is done only when the trap came from ring 3, so GS always
 * holds the kernel's per-CPU base while in the kernel.  From ring 3 the
 * entry also clears RFLAGS (AC above all: SMAP), as FMASK does for syscall.
 * From ring 0 the flags are the kernel's own (AC=1 only inside
 * copy_from_user's stac/clac window, where a fault panics anyway).
 */
#include "frame.h"
        .text
        .code64

/* Vectors whose exception pushes an error code (SDM vol. 3A, table 6-1):
 * 8, 10-14, 17, 21, 29, 30. */
        .altmacro
        .macro TRAP_STUB v
        .align 16
trap_stub_\v:
        .if !(\v == 8 || (\v >= 10 && \v <= 14) || \v == 17 || \v == 21 || \v == 29 || \v == 30)
        pushq $0
        .endif
        pushq $\v
        jmp trap_common
        .endm

        .macro STUB_ADDR v
        .quad trap_stub_\v
        .endm

        .set i, 0
        .rept 256
        TRAP_STUB %i
        .set i, i + 1
        .endr

trap_common:
        testb $3, 24(%rsp)              /* CS of the interrupted code */
        jz 1f
        swapgs
        /* An interrupt gate clears IF, TF and NT, but not AC or DF: with
         * the user's AC=1 the kernel would run with SMAP off.  Load a clean
         * RFLAGS (only the always-one bit); iretq restores the user's.
         * popfq rather than clac, which is #UD on CPUs without SMAP. */
        pushq $2
        popfq
1:      SAVE_GPRS
        movq %rsp, %rdi
        cld
        call trap_dispatch
        .globl trap_return
trap_return:
        RESTORE_GPRS
        testb $3, 24(%rsp)
        jz 2f
        swapgs
2:      addq $16, %rsp                  /* vector and error code */
        iretq

        /* The table of stub addresses, read by trap_init. */
        .section .rodata
        .align 8
        .globl trap_stubs
trap_stubs:
        .set i, 0
        .rept 256
        STUB_ADDR %i
        .set i, i + 1
        .endr
