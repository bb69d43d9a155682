/*
 * frame.h - the general registers of struct trap_frame (kernel/include/trap.h),
 * saved and restored in its order.  Both kernel entries (trap_entry.S and
 * syscall_entry.S) use these, so the layout is written down once; the
 * _Static_assert on sizeof(struct trap_frame) checks the count.
 *
 * Also the System V callee-saved registers (RBP, RBX, R12-R15), which
 * switch_context (switch.S) and usercheck_enter (usercheck.S) keep on the
 * stack across a switch: PUSH_CALLEE_SAVED and POP_CALLEE_SAVED, in mirror
 * order.
 */
/* Assembler macros: clang-format would join them into C lines. */
/* clang-format off */
#ifndef KEEL_ARCH_FRAME_H
#define KEEL_ARCH_FRAME_H

.macro SAVE_GPRS
        pushq %rax
        pushq %rbx
        pushq %rcx
        pushq %rdx
        pushq %rsi
        pushq %rdi
        pushq %rbp
        pushq %r8
        pushq %r9
        pushq %r10
        pushq %r11
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
.endm

.macro RESTORE_GPRS
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %r11
        popq %r10
        popq %r9
        popq %r8
        popq %rbp
        popq %rdi
        popq %rsi
        popq %rdx
        popq %rcx
        popq %rbx
        popq %rax
.endm

.macro PUSH_CALLEE_SAVED
        pushq %rbp
        pushq %rbx
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
.endm

.macro POP_CALLEE_SAVED
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbx
        popq %rbp
.endm

#endif
