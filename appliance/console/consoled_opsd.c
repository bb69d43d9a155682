/*
 * consoled_opsd.c - consoled's side of the region it shares with opsd
 * (abi/keel/ops.h): the operations settings of the running configuration
 * (syslog, ntp, metrics, the hostname), every log entry the ring keeps
 * (opsd sends them to the syslog collector), and the wall clock opsd
 * keeps, read for `show system` and for the saved configuration's records.
 *
 * Given: "shm:ops-consoled" (the region) and "signal:sock-opsd" (opsd's
 * notification).  Without them, or when init did not start opsd, ops_on
 * stays false: no syslog, no metrics, the time since boot only.  consoled
 * only writes the region and signals: it never waits for opsd.
 */
#include <keel/clock.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/ops.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>

#include "consoled.h"

void ops_setup(struct consoled *c, const struct keel_srvinfo *si)
{
    uint64_t shm = srv_find_cap(si, "shm:ops-consoled"), sig = srv_find_cap(si, "signal:sock-opsd"), pages = 0;
    unsigned state = 0;
    uint32_t restarts = 0;
    if (!shm || !sig || task_find("opsd", &state, &restarts) < 0 || state == INIT_TASK_ABSENT ||
        state == INIT_TASK_OTHER)
        return;
    if (keel_frame_info(shm, NULL, &pages) != KE_OK || pages < OPS_SHM_PAGES ||
        keel_map(SRV_SLOT_TASK, shm, OPS_VA, RIGHT_READ | RIGHT_WRITE) != KE_OK) {
        con_log(c, CONF_LOG_ERROR, "the region shared with opsd cannot be mapped: no syslog, NTP or metrics");
        return;
    }
    c->ops = (struct ops_shared *)OPS_VA;
    c->ops_signal = sig;
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
    if (!sh || !sh->cfg.syslog_addr)
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

/* A consistent copy of opsd's clock: false when there is none. */
static bool clock_copy(const struct consoled *c, struct ops_clock *out)
{
    if (!c->ops)
        return false;
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

int do_show_system(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    char line[200], when[40], addr[20];
    uint64_t now = keel_now_ns(), up = now / 1000000000ull;
    struct ops_clock k;
    bool known = clock_copy(c, &k);
    if (known) {
        uint64_t wall = (uint64_t)((int64_t)now + k.offset_ns);
        clock_format_utc(wall / 1000000000ull, when, sizeof when);
        lib_snprintf(line, sizeof line, "time: %s\r\n", when);
    } else {
        lib_snprintf(line, sizeof line, "time: unknown (%s)\r\n",
                     c->ops ? "no real-time clock and no NTP answer yet" : "opsd does not run on this boot");
    }
    con_say(c, line);
    lib_snprintf(line, sizeof line, "uptime: %llu days, %02llu:%02llu:%02llu\r\n", (unsigned long long)(up / 86400),
                 (unsigned long long)(up / 3600 % 24), (unsigned long long)(up / 60 % 60),
                 (unsigned long long)(up % 60));
    con_say(c, line);
    if (!known) {
        con_say(c, "time source: none\r\n");
    } else if (k.source == OPS_CLOCK_NTP) {
        ipv4(k.ntp_server, addr, sizeof addr);
        lib_snprintf(line, sizeof line, "time source: ntp, server %s, stratum %u, last answer %llu s ago\r\n", addr,
                     k.stratum, (unsigned long long)((now - k.synced_ns) / 1000000000ull));
        con_say(c, line);
    } else {
        con_say(c, "time source: rtc (the real-time clock at boot; no NTP answer yet)\r\n");
    }
    if (c->ops) {
        const struct conf_ops *o = &c->running.ops;
        if (o->syslog_addr) {
            ipv4(o->syslog_addr, addr, sizeof addr);
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
