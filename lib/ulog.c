/*
 * ulog.c - formatted output to the kernel log and, for a server that has
 * "ep:log" (manifest `connect log`), to consoled's log as well
 * (abi/keel/log.h), where `show log` finds it.  The kernel log stays: the
 * tests read it from the serial port, and it is the only log when consoled
 * is absent.  The kernel replaces control characters so a server cannot
 * drive the terminal.
 *
 * ep:log is looked up once, in the server-information page crt0 was given
 * (keel_start_arg; init and test tasks get another argument and never look
 * further).  Two threads of one server may both do that first look-up: they
 * compute the same slot, so the race is harmless.  Each line goes as at
 * most three LOG_WRITE calls (LOG_MSG_BYTES each, LOG_MORE/LOG_CONT;
 * consoled keeps 95 bytes of an entry anyway), all with KEEL_NONBLOCK: when
 * consoled's log thread is not waiting the line is left to the kernel log,
 * so logging never waits for the console.  Level: info (the lines carry no
 * level of their own yet).
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/log.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include <stdarg.h>
#include <stdbool.h>

#define LOG_PARTS 3 /* calls per line at most: 96 bytes, consoled's entry */

uint64_t keel_start_arg; /* crt0: the argument the program was started with (RDI) */

static uint64_t log_ep;     /* ep:log; 0: none */
static bool log_looked;     /* log_ep is known */
static uint32_t log_missed; /* entries consoled could not take since the last that went through */

static uint64_t log_endpoint(void)
{
    if (!log_looked) {
        const struct keel_srvinfo *si = (const struct keel_srvinfo *)KEEL_SRVINFO_ADDR;
        if (keel_start_arg == KEEL_SRVINFO_ADDR && si->magic == KEEL_SRVINFO_MAGIC)
            log_ep = srv_find_cap(si, "ep:log");
        log_looked = true;
    }
    return log_ep;
}

/* Sends LEN bytes of S to consoled's log (see the top). */
static void log_send(uint64_t ep, const char *s, size_t len)
{
    for (unsigned part = 0; part < LOG_PARTS; part++) {
        struct keel_msg m = { 0 };
        unsigned k = log_pack(s, len, m.mr);
        s += k;
        len -= k;
        uint32_t flags = (part ? LOG_CONT : 0) | (len && part + 1 < LOG_PARTS ? LOG_MORE : 0);
        uint32_t missed = part ? 0 : (log_missed < 63 ? log_missed : 63);
        flags |= missed << LOG_MISSED_SHIFT;
        m.info = SRV_LABEL(LOG_WRITE | LOG_INFO << LOG_LEVEL_SHIFT | flags, LOG_WRITE_WORDS) | KEEL_NONBLOCK;
        if (keel_call(ep, &m) != KE_OK) {
            if (!part && log_missed != UINT32_MAX)
                log_missed++; /* the whole entry missed consoled: reported with the next one */
            return;
        }
        log_missed -= missed;
        if (!(flags & LOG_MORE))
            return;
    }
}

void ulog(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    (void)keel_debug_log(buf, len); /* the kernel console drops what it cannot take; nothing to do here */
    uint64_t ep = log_endpoint();
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (ep && len)
        log_send(ep, buf, len);
}
