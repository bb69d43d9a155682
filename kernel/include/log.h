/*
 * log.h - the kernel's log (COM1) and its three kinds of check.
 *
 * kprintf never allocates, so it works from the first instruction in C, in
 * trap handlers and in panic; it writes the serial port directly, or into
 * the kernel log's ring while the UART driver drains it (klog.h).
 * KASSERT states an internal invariant; panic() is for corruption or a broken
 * hardware contract.  Both dump and halt: the kernel does not try to go on.
 */
#ifndef KEEL_LOG_H
#define KEEL_LOG_H

#include <stdarg.h>

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);
__attribute__((noreturn)) void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Stop the machine for good; with the `debug-exit` switch QEMU exits with code. */
__attribute__((noreturn)) void kernel_halt(int debug_exit_code);

#define KASSERT(cond, why)                                                                                             \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            panic("assertion failed: %s (%s) at %s:%d", #cond, why, __FILE__, __LINE__);                               \
    } while (0)

#endif
