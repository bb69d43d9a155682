/*
 * sys_arch.c - the platform functions lwIP calls in NO_SYS mode
 * (see arch/cc.h and arch/sys_arch.h for what comes from where).
 *
 *   sys_now()          milliseconds from the kernel's monotonic clock
 *                      (SYS_CLOCK, nanoseconds since timer_init), cut to
 *                      32 bits: lwIP's timeout arithmetic is wrap-safe.
 *   netd_lwip_assert() LWIP_PLATFORM_ASSERT: log, then fault (ud2).
 *   atoi()             the one libc function lwIP uses that lib/ lacks
 *                      (netif_find parses "en0" style names with it).
 *
 * Runs only in netd's main thread, like all of lwIP.
 */
#include <keel/sys.h>
#include <keel/ulog.h>

#include "lwip/sys.h"

u32_t sys_now(void) { return (u32_t)(keel_now_ns() / 1000000u); }

/* The return addresses on the frame-pointer chain (netd and lwIP keep frame
 * pointers), so that an assertion names its callers: `addr2line -e netd.elf`.
 * Stops at the first frame that does not lie just above the last. */
static void log_backtrace(void)
{
    char line[200];
    size_t n = 0;
    const uintptr_t *fp = __builtin_frame_address(0);
    for (int i = 0; i < 10 && fp && ((uintptr_t)fp & 7u) == 0 && n < sizeof line - 24; i++) {
        n += (size_t)snprintf(line + n, sizeof line - n, " %#lx", (unsigned long)fp[1]);
        const uintptr_t *next = (const uintptr_t *)fp[0];
        if (next <= fp || (uintptr_t)next - (uintptr_t)fp > (1u << 20))
            break;
        fp = next;
    }
    line[n] = 0;
    ulog("netd: lwIP assertion: called from%s\n", line);
}

void netd_lwip_assert(const char *msg, const char *file, int line)
{
    ulog("netd: lwIP assertion failed: %s at %s:%d; faulting so init restarts netd\n", msg, file, line);
    log_backtrace();
    __builtin_trap();
}

/* C's atoi for what netif_find passes it: optional sign, decimal digits;
 * stops at the first other character; no overflow checks beyond int's
 * wrap (netif numbers are 0-255). */
int atoi(const char *s);
int atoi(const char *s)
{
    unsigned v = 0;
    int neg = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    while (*s >= '0' && *s <= '9')
        v = v * 10u + (unsigned)(*s++ - '0');
    return neg ? -(int)v : (int)v;
}
