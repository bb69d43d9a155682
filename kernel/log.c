/*
 * log.c - kprintf, panic and the final halt.
 *
 * Everything goes straight to COM1 through serial_putc; there is no buffer to
 * lose when the kernel dies.  panic() disables interrupts first so the dump is
 * not interleaved with anything else, and a panic inside panic is cut short.
 */
#include "log.h"

#include <stdbool.h>

#include "arch.h"
#include "cmdline.h"
#include "fmt.h"
#include "serial.h"
#include "smp.h"
#include "trap.h"

#define DEBUG_EXIT_PORT 0xf4 /* QEMU isa-debug-exit: status = (value << 1) | 1 */

static void serial_sink(void *ctx, char c)
{
    (void)ctx;
    serial_putc(c);
}

void kvprintf(const char *fmt, va_list ap) { fmt_format(serial_sink, 0, fmt, ap); }

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
}

void kernel_halt(int debug_exit_code)
{
    irq_disable();
    smp_halt_others();
    kprintf("keel: halted\n");
    if (cmdline_has("debug-exit"))
        outb(DEBUG_EXIT_PORT, (uint8_t)debug_exit_code);
    for (;;)
        cpu_halt();
}

void panic(const char *fmt, ...)
{
    static bool in_panic;
    irq_disable();
    smp_halt_others(); /* the dump is this core's alone, and nothing runs on */
    if (in_panic) {
        kprintf("keel: PANIC during panic\n");
        kernel_halt(DEBUG_EXIT_PANIC);
    }
    in_panic = true;
    kprintf("keel: PANIC: ");
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
    kprintf("\n");
    trap_backtrace(0, (uint64_t)__builtin_frame_address(0));
    kernel_halt(DEBUG_EXIT_PANIC);
}
