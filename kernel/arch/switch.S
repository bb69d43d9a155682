/*
 * switch.S - kernel stack switching between threads.
 *
 * switch_context(uint64_t *save_rsp, uint64_t next_rsp) saves the callee-
 * saved registers on the current kernel stack, stores RSP, loads the next
 * thread's RSP and pops its registers: execution continues wherever the
 * next thread last called switch_context (or, for a new thread, in
 * thread_first_run, which gives back the big kernel lock and leaves to
 * user mode through trap_return).  Every switch happens with the lock held.
 */
#include "frame.h"

        .text
        .code64
        .globl switch_context
switch_context:
        PUSH_CALLEE_SAVED
        movq %rsp, (%rdi)
        movq %rsi, %rsp
        POP_CALLEE_SAVED
        ret

        /* A new thread's first switch "returns" here, with RSP at its user
         * trap frame. */
        .globl thread_first_run
thread_first_run:
        call bkl_unlock                 /* switched to with the lock held */
        jmp trap_return
