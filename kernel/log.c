/*
 * log.c - kprintf, panic and the final halt.
 *
 * Every byte goes through klog.c: straight to COM1 (serial_putc) until the
 * UART driver drains the log, then through the kernel log's ring to the
 * driver.  panic() and kernel_halt() go back to writing COM1 directly, after
 * what the ring held, so nothing is lost when the kernel dies.  panic()
 * disables interrupts first so the dump is not interleaved with anything
 * else, and a panic inside panic is cut short.
 */
#include "log.h"

#include <stdbool.h>

#include "arch.h"
#include "cmdline.h"
#include "fmt.h"
#include "klog.h"
#include "serial.h"
#include "smp.h"
#include "trap.h"

#define DEBUG_EXIT_PORT 0xf4 /* QEMU isa-debug-exit: status = (value << 1) | 1 */

static void klog_sink(void *ctx, char c)
{
    (void)ctx;
    klog_putc(c);
}

void kvprintf(const char *fmt, va_list ap) { fmt_format(klog_sink, 0, fmt, ap); }

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
    klog_go_direct();
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
    klog_go_direct();  /* what waited for the UART driver, then the dump, by polling */
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
