/*
 * selftest.c - faults raised on purpose, for the exception-dump tests.
 *
 * `fault=KIND` on the kernel command line calls selftest_fault(KIND) after
 * `keel: kernel up`.  Each case must end in the exception dump and a halt;
 * returning from here is itself a failure and says so.
 */
#include <stdint.h>

#include "cmdline.h"
#include "kstring.h"
#include "log.h"
#include "trap.h"

void selftest_fault(const char *kind);

/* Not static and not inlined: the backtrace must show a caller. */
__attribute__((noinline)) void selftest_fault(const char *kind)
{
    kprintf("keel: selftest: raising fault=%s\n", kind);
    if (strncmp(kind, "ud", 3) == 0) {
        __asm__ volatile("ud2");
    } else if (strncmp(kind, "gp", 3) == 0) {
        /* A non-canonical address: #GP, not #PF. */
        volatile uint64_t *p = (volatile uint64_t *)0x8000000000000000ull;
        (void)*p;
    } else if (strncmp(kind, "pf", 3) == 0) {
        volatile uint64_t *p = (volatile uint64_t *)0xdead0000ull;
        (void)*p;
    } else if (strncmp(kind, "de", 3) == 0) {
        uint64_t zero = 0;
        __asm__ volatile("xorl %%edx, %%edx\n\tmovl $1, %%eax\n\tdivq %0" ::"r"(zero) : "rax", "rdx");
    } else if (strncmp(kind, "bp", 3) == 0) {
        __asm__ volatile("int3");
    } else if (strncmp(kind, "df", 3) == 0) {
        /* An unmapped stack: delivering the #UD pushes onto it, which page
         * faults, which cannot be delivered either: a double fault, caught on
         * its own IST stack. */
        __asm__ volatile("movabsq $0xfffffe0000001000, %%rsp\n\tud2" ::: "memory");
    } else {
        kprintf("keel: selftest: unknown fault kind '%s' (ud gp pf de bp df)\n", kind);
        kernel_halt(DEBUG_EXIT_FAIL);
    }
    kprintf("keel: selftest: fault=%s did not trap\n", kind);
    kernel_halt(DEBUG_EXIT_FAIL);
}
