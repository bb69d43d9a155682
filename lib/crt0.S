/*
 * crt0.S - where every user program starts.  RDI holds the argument the
 * starter gave (the boot-information or server-information address),
 * kept in keel_start_arg (lib/ulog.c) for the library.  A return from main
 * ends the thread.
 */
        .text
        .globl _start
_start:
        xorl %ebp, %ebp
        andq $-16, %rsp
        movq %rdi, keel_start_arg(%rip)
        call main
        movl $25, %eax          /* SYS_THREAD_EXIT */
        syscall
1:      movl $10, %eax          /* SYS_YIELD, should exit ever return */
        syscall
        jmp 1b
