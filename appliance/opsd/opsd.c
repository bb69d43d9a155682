/*
 * opsd.c - the operations server (program `opsd`): the appliance's wall
 * clock kept by SNTP (consoled sets it from the CMOS RTC at boot), its log
 * sent on as RFC 5424 syslog over UDP, and its metrics page
 * (opsd_metrics.c).  init starts it only when appliance.conf has a
 * syslog, ntp or metrics line (`requires ops`): its socket region is 2 MiB.  Everything it
 * sends or serves goes through netd's socket service, so the firewall
 * decides who reaches it like any other port.
 *
 * What it is given (image/manifest):
 *   connect netd, share sock-opsd 353, socktx-opsd 160, notify sock-opsd
 *                                   netd's sockets (abi/keel/socket.h)
 *   signal sock-opsd                the same notification, for its timer
 *   share ops-consoled 4            the region consoled fills (abi/keel/ops.h):
 *                                   the configuration, the log ring; opsd
 *                                   writes the clock and its counters there
 *   share admin-opsd 33, connect tlsd   the metrics' sources (opsd_metrics.c)
 *
 * One thread, one loop, no calls that wait on a client: wake on the
 * notification (netd's socket events, consoled's OPS_BIT_CONFIG /
 * OPS_BIT_LOG, our timer), then: take a new configuration; send the log
 * entries consoled queued (one datagram each; when the socket's tx ring is
 * full or there is no collector route the line is counted as not sent and
 * dropped: the log never waits for the network); read UDP answers (SNTP);
 * serve the metrics connections; arm the timer for the next SNTP poll.
 *
 * IPv6: the one UDP socket is dual stack (SOCK_UDP_BIND6), so a collector
 * or an NTP server on an IPv6 address (ops_config.flags) is reached from
 * the same port; an SNTP answer counts only from the configured server,
 * family and address both.
 *
 * SNTP (RFC 4330): a request every NTP_POLL_S (every NTP_RETRY_S until
 * the first answer); an answer is taken only when it echoes our transmit
 * time (ops_proto.c checks mode, stratum, origin), and it steps the clock:
 * wall = keel_now_ns() + offset.  No slewing: the clock is for logs and
 * metrics, and steps are logged with their size.
 *
 * Restarts: when netd restarts our sockets are gone (sock_session_lost);
 * opsd exits and init starts it again (as tlsd does).  The clock survives
 * in the region.
 */
#include <keel/clock.h>
#include <keel/init.h>
#include <keel/ops.h>
#include <keel/server.h>
#include <keel/sock_client.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "opsd.h"
#include "ops_proto.h"

#define SOCK_VA     0x0000006000000000ull
#define OPS_VA      0x0000006100000000ull
#define TIMER_BIT   (1ull << 40)
#define NTP_PORT    123
#define LOCAL_PORT  10123 /* opsd's UDP port: syslog out, SNTP in */
#define NTP_POLL_S  64
#define NTP_RETRY_S 2
#define NS          1000000000ull

static struct opsd O;

static bool syslog_on(const struct ops_config *c) { return c->syslog_addr || (c->flags & OPS_CFG_SYSLOG6); }
static bool ntp_on(const struct ops_config *c) { return c->ntp_addr || (c->flags & OPS_CFG_NTP6); }

/* One datagram to ADDR / ADDR6 (V6):PORT from the UDP socket. */
static int send_to(struct opsd *o, bool v6, uint32_t addr, const uint8_t *addr6, uint16_t port, const void *buf,
                   size_t n)
{
    if (v6)
        return sock_sendto6(&o->sc, o->udp, addr6, port, buf, n);
    return sock_sendto(&o->sc, o->udp, addr, port, buf, n);
}

/* ---------------------------------------------------------- the clock -- */

static void clock_set(struct opsd *o, uint32_t source, int64_t offset_ns, uint32_t server, const uint8_t *server6,
                      unsigned stratum)
{
    struct ops_clock *c = &o->sh->clock;
    int64_t step = c->source ? offset_ns - c->offset_ns : 0;
    __atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELAXED); /* odd: being written */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    c->source = source;
    c->offset_ns = offset_ns;
    c->synced_ns = keel_now_ns();
    c->ntp_server = server;
    if (server6)
        memcpy(c->ntp_server6, server6, 16);
    else
        memset(c->ntp_server6, 0, 16);
    c->stratum = stratum;
    c->last_step_ns = step;
    __atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE); /* even: done */
}

uint64_t opsd_wall_ns(const struct opsd *o, uint64_t mono_ns)
{
    const struct ops_clock *c = &o->sh->clock;
    if (c->source == OPS_CLOCK_NONE)
        return 0;
    return (uint64_t)((int64_t)mono_ns + c->offset_ns);
}

/* ------------------------------------------------------------ sockets -- */

static void udp_open(struct opsd *o)
{
    if (o->udp >= 0)
        return;
    int s = sock_udp_bind6(&o->sc, LOCAL_PORT); /* dual stack: IPv4 and IPv6 peers */
    if (s < 0) {
        ulog("opsd: UDP port %u: error %d", LOCAL_PORT, s);
        return;
    }
    o->udp = s;
}

/* ------------------------------------------------------------- syslog -- */

/* Sends (or counts as not sent) every entry consoled queued. */
static void drain_log(struct opsd *o)
{
    struct ops_shared *sh = o->sh;
    uint32_t head = __atomic_load_n(&sh->log_head, __ATOMIC_ACQUIRE), tail = sh->log_tail;
    if (head - tail > OPS_LOG_SLOTS)
        tail = head - OPS_LOG_SLOTS; /* a region written wrongly: never read beyond the ring */
    for (; tail != head; tail++) {
        const struct ops_log_entry *e = &sh->ring[tail % OPS_LOG_SLOTS];
        if (!syslog_on(&o->cfg))
            continue;
        char msg[OPS_MSG_MAX], server[OPS_NAME_MAX], line[OPS_SYSLOG_MAX];
        memcpy(msg, e->msg, sizeof msg);
        msg[sizeof msg - 1] = '\0';
        memcpy(server, e->server, sizeof server);
        server[sizeof server - 1] = '\0';
        size_t n =
            ops_syslog_format(line, sizeof line, e->level, opsd_wall_ns(o, e->time_ns), o->cfg.hostname, server, msg);
        if (o->udp >= 0 && send_to(o, (o->cfg.flags & OPS_CFG_SYSLOG6) != 0, o->cfg.syslog_addr, o->cfg.syslog_addr6,
                                   o->cfg.syslog_port, line, n) == 0) {
            sh->syslog_sent++;
            o->kick = true;
        } else {
            sh->syslog_unsent++;
        }
    }
    __atomic_store_n(&sh->log_tail, tail, __ATOMIC_RELEASE);
}

/* --------------------------------------------------------------- SNTP -- */

static void ntp_send(struct opsd *o, uint64_t now)
{
    if (!ntp_on(&o->cfg) || o->udp < 0)
        return;
    uint64_t wall = opsd_wall_ns(o, now);
    o->ntp_t1 = wall ? wall : now; /* the time we claim, echoed back as the origin */
    o->ntp_mono = now;
    uint8_t pkt[NTP_PACKET];
    ops_sntp_request(pkt, o->ntp_t1);
    if (send_to(o, (o->cfg.flags & OPS_CFG_NTP6) != 0, o->cfg.ntp_addr, o->cfg.ntp_addr6, NTP_PORT, pkt, sizeof pkt) ==
        0) {
        o->sh->ntp_requests++;
        o->kick = true;
    }
    o->ntp_next = now + (o->ntp_synced ? NTP_POLL_S : NTP_RETRY_S) * NS;
}

/* Whether FROM is the configured NTP server (family and address). */
static bool from_ntp_server(const struct opsd *o, const struct sock_from *from)
{
    if (o->cfg.flags & OPS_CFG_NTP6)
        return from->v6 && memcmp(from->ip6, o->cfg.ntp_addr6, 16) == 0;
    return !from->v6 && o->cfg.ntp_addr && from->ip == o->cfg.ntp_addr;
}

static void ntp_answer(struct opsd *o, const uint8_t *pkt, size_t n, const struct sock_from *from)
{
    uint64_t now = keel_now_ns();
    if (!o->ntp_t1 || !from_ntp_server(o, from))
        return;
    uint64_t t4 = o->ntp_t1 + (now - o->ntp_mono);
    int64_t off = 0;
    unsigned stratum = 0;
    int r = ops_sntp_answer(pkt, n, o->ntp_t1, t4, &off, &stratum);
    if (r != OPS_SNTP_OK) {
        ulog("opsd: NTP answer from the server refused (%d)", r);
        return;
    }
    /* Our clock claimed ntp_t1 at ntp_mono; the server says it was off by
     * OFF, so wall = mono + (ntp_t1 - ntp_mono) + OFF from now on. */
    int64_t new_offset = (int64_t)o->ntp_t1 - (int64_t)o->ntp_mono + off;
    o->ntp_t1 = 0;
    o->sh->ntp_answers++;
    int64_t step = new_offset - o->sh->clock.offset_ns;
    bool first = !o->ntp_synced || o->sh->clock.source != OPS_CLOCK_NTP;
    clock_set(o, OPS_CLOCK_NTP, new_offset, from->v6 ? 0 : from->ip, from->v6 ? from->ip6 : NULL, stratum);
    o->ntp_synced = true;
    if (first || step > 100000000ll || step < -100000000ll) {
        char b[40];
        ulog("opsd: clock set by NTP (stratum %u): %s, stepped %lld ms", stratum,
             clock_format_utc(opsd_wall_ns(o, now) / NS, b, sizeof b), (long long)(step / 1000000));
    }
}

static void read_udp(struct opsd *o)
{
    if (o->udp < 0)
        return;
    uint8_t buf[512];
    for (int i = 0; i < 64; i++) {
        struct sock_from from;
        long n = sock_recvfrom6(&o->sc, o->udp, buf, sizeof buf, &from);
        if (n < 0)
            break;
        o->kick = true;
        if (from.port == NTP_PORT)
            ntp_answer(o, buf, (size_t)n, &from);
    }
}

/* ------------------------------------------------------ configuration -- */

static void take_config(struct opsd *o)
{
    uint32_t gen = __atomic_load_n(&o->sh->cfg_gen, __ATOMIC_ACQUIRE);
    if (gen == o->sh->cfg_seen && o->cfg_loaded)
        return; /* (a restarted opsd takes the one in the region again) */
    o->cfg_loaded = true;
    struct ops_config c;
    memcpy(&c, &o->sh->cfg, sizeof c);
    c.hostname[OPS_HOST_MAX - 1] = '\0';
    if (c.syslog_port == 0)
        c.syslog_port = 514;
    c.flags &= OPS_CFG_SYSLOG6 | OPS_CFG_NTP6;
    bool ntp_changed = c.ntp_addr != o->cfg.ntp_addr || (c.flags & OPS_CFG_NTP6) != (o->cfg.flags & OPS_CFG_NTP6) ||
                       memcmp(c.ntp_addr6, o->cfg.ntp_addr6, 16) != 0;
    o->cfg = c;
    o->sh->cfg_seen = gen;
    if (ntp_changed) {
        o->ntp_synced = false;
        o->ntp_t1 = 0;
        o->ntp_next = 0; /* at once */
    }
    opsd_metrics_config(o);
    ulog("opsd: configuration %u: syslog %s, ntp %s, metrics %s", gen,
         !syslog_on(&c)                ? "off"
         : (c.flags & OPS_CFG_SYSLOG6) ? "on (IPv6)"
                                       : "on",
         !ntp_on(&c)                ? "off"
         : (c.flags & OPS_CFG_NTP6) ? "on (IPv6)"
                                    : "on",
         c.metrics_port ? "on" : "off");
}

/* ------------------------------------------------------------ set-up ---- */

static int setup(struct opsd *o, const struct keel_srvinfo *si)
{
    uint64_t shm = srv_find_cap(si, "shm:ops-consoled"), pages = 0;
    if (!shm || keel_frame_info(shm, NULL, &pages) != KE_OK || pages < OPS_SHM_PAGES ||
        keel_map(SRV_SLOT_TASK, shm, OPS_VA, RIGHT_READ | RIGHT_WRITE) != KE_OK) {
        ulog("opsd: needs `share ops-consoled %d`", OPS_SHM_PAGES);
        return -1;
    }
    o->sh = (struct ops_shared *)OPS_VA;
    o->timer = srv_find_cap(si, "signal:sock-opsd");
    o->udp = -1;
    int r = sock_open(&o->sc, si, SOCK_VA);
    if (r) {
        ulog("opsd: netd's socket service: error %d: no syslog, NTP or metrics", r);
        return -1;
    }
    udp_open(o);
    opsd_metrics_init(o, si);
    return 0;
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    struct opsd *o = &O;
    if (setup(o, si)) {
        /* Nothing to do without the region or netd: say ready (the rest of
         * the appliance does not need us) and sleep on a notification of
         * our own that nobody signals. */
        srv_ready();
        if (keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, 254, 0) != KE_OK)
            return 1;
        for (;;) {
            uint64_t bits;
            (void)keel_wait(254, 0, &bits);
        }
    }
    ulog("opsd: serving (clock %s)", o->sh->clock.source == OPS_CLOCK_RTC   ? "from the RTC (consoled's)"
                                     : o->sh->clock.source == OPS_CLOCK_NTP ? "from NTP"
                                                                            : "unknown until NTP answers");
    srv_ready();
    for (;;) {
        if (sock_session_lost(&o->sc)) {
            ulog("opsd: netd's session is gone (netd restarted): starting again");
            return 1;
        }
        take_config(o);
        drain_log(o);
        read_udp(o);
        uint64_t now = keel_now_ns();
        if (ntp_on(&o->cfg) && now >= o->ntp_next)
            ntp_send(o, now);
        opsd_metrics_serve(o);
        if (o->kick) {
            (void)sock_kick(&o->sc);
            o->kick = false;
        }
        uint64_t deadline = ntp_on(&o->cfg) ? o->ntp_next : 0;
        uint64_t md = opsd_metrics_deadline(o);
        if (md && (!deadline || md < deadline))
            deadline = md;
        if (o->timer)
            (void)sys6(SYS_TIMER_ARM, o->timer, deadline, deadline ? TIMER_BIT : 0, 0, 0, 0);
        (void)sock_wait(&o->sc);
    }
}
