/*
 * consoled_opsd.c - consoled's side of the region it shares with opsd
 * (abi/keel/ops.h): the operations settings of the running configuration
 * (syslog, ntp, metrics, the hostname), every log entry the ring keeps
 * (opsd sends them to the syslog collector), and the wall clock opsd
 * keeps, read for `show system` and for the saved configuration's records.
 *
 * The clock at boot: consoled reads the CMOS real-time clock (`ioport
 * 0x70-0x71`, its only reader) once at start, keeps that offset for
 * itself, and writes it into the region's clock while that has none, so
 * opsd starts from it; opsd's SNTP answers then step it.
 *
 * Given: "shm:ops-consoled" (the region) and "signal:sock-opsd" (opsd's
 * notification).  Without them, or when init did not start opsd (no
 * syslog, ntp or metrics line at boot), ops stays NULL: no syslog, no
 * metrics, the RTC's time only.  consoled only writes the region and
 * signals: it never waits for opsd.
 */
#include <keel/clock.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/ops.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>

#include "conf_addr.h"
#include "consoled.h"

/* ------------------------------------------------------- the RTC ---- */

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static uint8_t cmos(uint8_t reg)
{
    outb(0x70, reg); /* bit 7 clear: NMIs stay enabled */
    return inb(0x71);
}

static void cmos_read(struct clock_cmos *r)
{
    for (int i = 0; i < 10000 && (cmos(0x0a) & 0x80); i++) /* an update in progress: at most ~2 ms */
        ;
    r->sec = cmos(0x00), r->min = cmos(0x02), r->hour = cmos(0x04);
    r->day = cmos(0x07), r->month = cmos(0x08), r->year = cmos(0x09);
    r->century = cmos(0x32), r->status_b = cmos(0x0b);
}

/* The RTC's time, read until two reads agree (an update may fall between
 * the registers); false without the ports or when it makes no sense. */
static bool rtc_read(uint64_t *unix_s)
{
    struct clock_cmos a, b;
    for (int tries = 0; tries < 5; tries++) {
        cmos_read(&a);
        cmos_read(&b);
        if (memcmp(&a, &b, sizeof a) == 0)
            return clock_from_cmos(&a, unix_s);
    }
    return false;
}

void clock_setup(struct consoled *c, const struct keel_srvinfo *si)
{
    if (!srv_find_cap(si, "ioport")) {
        con_log(c, CONF_LOG_WARN, "no RTC ports (manifest `ioport 0x70-0x71`): the time is unknown until NTP");
        return;
    }
    uint64_t s = 0;
    if (!rtc_read(&s)) {
        con_log(c, CONF_LOG_WARN, "the real-time clock cannot be read: the time is unknown until NTP");
        return;
    }
    uint64_t now = keel_now_ns();
    c->rtc_offset_ns = (int64_t)(s * 1000000000ull) - (int64_t)now;
    c->rtc_ok = true;
    char b[40];
    con_log(c, CONF_LOG_INFO, "clock from the real-time clock: %s", clock_format_utc(s, b, sizeof b));
    struct ops_clock *k = c->ops ? &c->ops->clock : NULL;
    if (!k || k->source != OPS_CLOCK_NONE)
        return; /* no opsd, or it has a clock already (consoled restarted) */
    __atomic_store_n(&k->seq, k->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    k->source = OPS_CLOCK_RTC;
    k->offset_ns = c->rtc_offset_ns;
    k->synced_ns = now;
    __atomic_store_n(&k->seq, k->seq + 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------- the region ---- */

void ops_setup(struct consoled *c, const struct keel_srvinfo *si)
{
    if (region_connect(c, si, "opsd", "signal:sock-opsd", "shm:ops-consoled", OPS_SHM_PAGES, OPS_VA,
                       "no syslog, NTP or metrics", &c->ops_signal))
        c->ops = (struct ops_shared *)OPS_VA;
}

void ops_push_config(struct consoled *c)
{
    struct ops_shared *sh = c->ops;
    if (!sh)
        return;
    const struct conf_ops *o = &c->running.ops;
    struct ops_config cfg = { 0 };
    cfg.syslog_addr = o->syslog_addr;
    cfg.syslog_port = o->syslog_port;
    cfg.ntp_addr = o->ntp_addr;
    cfg.flags = (o->syslog_v6 ? OPS_CFG_SYSLOG6 : 0) | (o->ntp_v6 ? OPS_CFG_NTP6 : 0);
    memcpy(cfg.syslog_addr6, o->syslog_addr6, 16);
    memcpy(cfg.ntp_addr6, o->ntp_addr6, 16);
    cfg.metrics_addr = o->metrics_addr;
    cfg.metrics_port = o->metrics_port;
    strlcpy(cfg.hostname, c->running.hostname, sizeof cfg.hostname);
    memcpy(&sh->cfg, &cfg, sizeof cfg);
    __atomic_store_n(&sh->cfg_gen, sh->cfg_gen + 1, __ATOMIC_RELEASE);
    (void)keel_signal(c->ops_signal, OPS_BIT_CONFIG);
}

void ops_log(struct consoled *c, uint64_t time_ns, unsigned level, const char *server, const char *msg)
{
    struct ops_shared *sh = c->ops;
    if (!sh || (!sh->cfg.syslog_addr && !(sh->cfg.flags & OPS_CFG_SYSLOG6)))
        return;
    uint32_t head = sh->log_head, tail = __atomic_load_n(&sh->log_tail, __ATOMIC_ACQUIRE);
    if (head - tail >= OPS_LOG_SLOTS) {
        sh->log_full++; /* opsd is behind: this line is not sent (counted) */
        return;
    }
    struct ops_log_entry *e = &sh->ring[head % OPS_LOG_SLOTS];
    e->time_ns = time_ns;
    e->level = (uint8_t)level;
    strlcpy(e->server, server, sizeof e->server);
    strlcpy(e->msg, msg, sizeof e->msg);
    __atomic_store_n(&sh->log_head, head + 1, __ATOMIC_RELEASE);
    (void)keel_signal(c->ops_signal, OPS_BIT_LOG);
}

void ops_log_lost(struct consoled *c)
{
    if (!c->ops)
        return;
    /* Racy reads of the log thread's counters: a count one entry late at worst. */
    __atomic_store_n(&c->ops->log_missed, __atomic_load_n(&c->logsrv.missed, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_store_n(&c->ops->log_dropped, __atomic_load_n(&c->logsrv.dropped, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

/* A consistent copy of the clock: opsd's, or the RTC's when there is no
 * opsd; false when there is none. */
static bool clock_copy(const struct consoled *c, struct ops_clock *out)
{
    if (!c->ops) {
        memset(out, 0, sizeof *out);
        out->source = c->rtc_ok ? OPS_CLOCK_RTC : OPS_CLOCK_NONE;
        out->offset_ns = c->rtc_offset_ns;
        return c->rtc_ok;
    }
    const struct ops_clock *k = &c->ops->clock;
    for (int tries = 0; tries < 100; tries++) {
        uint32_t s1 = __atomic_load_n(&k->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1)
            continue;
        memcpy(out, (const void *)k, sizeof *out);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&k->seq, __ATOMIC_RELAXED) == s1)
            return out->source != OPS_CLOCK_NONE;
    }
    return false;
}

uint64_t ops_wall_ns(const struct consoled *c, uint64_t mono_ns)
{
    struct ops_clock k;
    if (!clock_copy(c, &k))
        return 0;
    return (uint64_t)((int64_t)mono_ns + k.offset_ns);
}

static void ipv4(uint32_t a, char *out, size_t cap)
{
    lib_snprintf(out, cap, "%u.%u.%u.%u", a >> 24, a >> 16 & 0xff, a >> 8 & 0xff, a & 0xff);
}

/* IPv6 address A (network order) in canonical text (conf_addr.c). */
static void ipv6(const uint8_t a[16], char *out, size_t cap)
{
    struct conf_ip ip = { .af = CONF_AF_INET6 };
    memcpy(ip.a, a, 16);
    (void)conf_ip_format(&ip, out, cap);
}

int do_show_system(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    char line[200], when[40], addr[48];
    uint64_t now = keel_now_ns(), up = now / 1000000000ull;
    struct ops_clock k;
    bool known = clock_copy(c, &k);
    if (known) {
        uint64_t wall = (uint64_t)((int64_t)now + k.offset_ns);
        clock_format_utc(wall / 1000000000ull, when, sizeof when);
        lib_snprintf(line, sizeof line, "time: %s\r\n", when);
    } else {
        lib_snprintf(line, sizeof line, "time: unknown (%s)\r\n",
                     c->ops ? "no real-time clock and no NTP answer yet" : "no real-time clock, and no ntp server");
    }
    con_say(c, line);
    lib_snprintf(line, sizeof line, "uptime: %llu days, %02llu:%02llu:%02llu\r\n", (unsigned long long)(up / 86400),
                 (unsigned long long)(up / 3600 % 24), (unsigned long long)(up / 60 % 60),
                 (unsigned long long)(up % 60));
    con_say(c, line);
    if (!known) {
        con_say(c, "time source: none\r\n");
    } else if (k.source == OPS_CLOCK_NTP) {
        if (k.ntp_server)
            ipv4(k.ntp_server, addr, sizeof addr);
        else
            ipv6(k.ntp_server6, addr, sizeof addr);
        lib_snprintf(line, sizeof line, "time source: ntp, server %s, stratum %u, last answer %llu s ago\r\n", addr,
                     k.stratum, (unsigned long long)((now - k.synced_ns) / 1000000000ull));
        con_say(c, line);
    } else {
        con_say(c, c->ops && conf_ops_ntp_on(&c->running.ops)
                       ? "time source: rtc (the real-time clock at boot; no NTP answer yet)\r\n"
                       : "time source: rtc (the real-time clock at boot)\r\n");
    }
    if (c->ops) {
        const struct conf_ops *o = &c->running.ops;
        if (conf_ops_syslog_on(o)) {
            if (o->syslog_v6) {
                char a6[46];
                ipv6(o->syslog_addr6, a6, sizeof a6);
                lib_snprintf(addr, sizeof addr, "[%s]", a6);
            } else {
                ipv4(o->syslog_addr, addr, sizeof addr);
            }
            lib_snprintf(line, sizeof line, "syslog: %s:%u, %llu lines sent, %llu could not be sent\r\n", addr,
                         o->syslog_port, (unsigned long long)c->ops->syslog_sent,
                         (unsigned long long)(c->ops->syslog_unsent + c->ops->log_full));
        } else {
            lib_snprintf(line, sizeof line, "syslog: off\r\n");
        }
        con_say(c, line);
        if (o->metrics_port) {
            ipv4(o->metrics_addr, addr, sizeof addr);
            lib_snprintf(line, sizeof line, "metrics: http://%s:%u/metrics, %llu pages served\r\n", addr,
                         o->metrics_port, (unsigned long long)c->ops->metrics_scrapes);
            con_say(c, line);
        }
    }
    return 0;
}
