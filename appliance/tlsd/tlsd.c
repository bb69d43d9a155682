/*
 * tlsd.c - the TLS-terminating reverse proxy (first version).
 *
 * Reads appliance.conf from the site archive (`site` grant), and for every
 * `tls PORT { ... }` block listens on PORT through netd's socket service
 * (abi/keel/socket.h), terminates TLS with the engine (appliance/tls/
 * tls_conn.h; certificates from the site archive, signatures by keyd) and
 * copies the bytes both ways to the block's backend A.B.C.D:PORT, which it
 * connects to through the socket service too.
 *
 * One event loop, one state per connection, no threads:
 *   HANDSHAKE  the engine's handshake (keyd signs asynchronously);
 *   CONNECTING the backend connection is being made;
 *   PROXY      bytes both ways; each direction closes on its own
 *              (client close_notify/FIN -> FIN to the backend; backend
 *              FIN -> our close_notify); the PROXY protocol header first
 *              when the block says `proxy-protocol v1` (a text line) or
 *              `v2` (28 binary bytes);
 *   CLOSING    waiting (bounded) for queued bytes to leave, then close.
 * Backpressure: client -> backend reads from the engine only as many bytes
 * as the backend's tx ring has room for; backend -> client takes from the
 * backend's rx ring only when the one pending buffer (one ring's worth,
 * SOCK_RING_BYTES: what the engine has not taken yet) is empty.  netd opens TCP windows only for
 * bytes we consumed, so a slow side stalls the other side's window, never
 * our memory.  Memory per connection: the engine's account (<= 48 KiB,
 * tls_conn.h, from the heap; 35 KiB measured with 100 open) + struct conn
 * (~5 KiB: struct tls_conn and the one-ring pending buffer), plus 2 x 8 KiB
 * of netd's shared rings.
 *
 * Limits: netd's socket service gives a client SOCK_MAX (256) sockets;
 * each listener takes one and each connection two, so MAX_CONNS =
 * (256 - CONF_MAX_TLS) / 2 = 124 connections at once over all listeners
 * (HEAP_BYTES holds 124 engine accounts), on top of each listener's
 * max-connections.  A connection over either limit is accepted and closed
 * at once (counted as refused), never left hanging.
 *
 * Waiting: one notification (netd's, bit k = socket k) plus a timer on it
 * (TIMER_BIT) - 1 ms while keyd has signatures out (keyd's notification is
 * another object: we poll its slots on each pass), else the next timeout
 * or statistics tick.
 *
 * Statistics: logged every `stats=` seconds, and served on `endpoint
 * tlsd` (serve:tlsd, optional) by the protocol of abi/keel/tlsd.h.  The
 * socket notification is bound to tlsd's thread, so one receive on the
 * endpoint waits for a call, a socket event or the timer alike; while
 * connections move, each pass polls the endpoint without blocking, so a
 * reader never waits for the proxy to go idle.
 *
 * Listeners and configuration: tlsd_conf.c builds them from the site
 * archive's appliance.conf at start, and swaps them at run time when the
 * console commits a configuration in two phases (TLSD_CONFIG_PREPARE /
 * COMMIT / ABORT of abi/keel/tlsd.h, through a shared region "tlsadm-C").
 * Those calls arrive on the same endpoint and run between passes, so a
 * commit never races a connection: close_conns_of() releases the
 * connections of a removed or changed listener before tlsd_conf.c frees it.
 *
 * Without an entropy source tlsd refuses to serve and says so.
 *
 * Manifest (see tests/qemu/test_tlsd.py):
 *   server tlsd needs netd priority 13 memory 12M args rng=NAME[,stats=S]
 *       site connect netd share sock-tlsd 259 share socktx-tlsd 256
 *       notify sock-tlsd signal sock-tlsd
 *       connect keyd share keyd 4 notify tlsd connect NAME [endpoint tlsd
 *       [share tlsadm-C 17 ...]]  (C: a configuring client, e.g. consoled)
 *   netd: `share sock-tlsd 259 share socktx-tlsd 256 signal sock-tlsd`; keyd: `args client=tlsd`,
 *   `signal tlsd`, priority below tlsd's.
 */
#include <stdbool.h>

#include <keel/cpio.h>
#include <keel/init.h>
#include <keel/keyd.h>
#include <keel/server.h>
#include <keel/sock_client.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/tlsd.h>
#include <keel/ulog.h>

#include "conf.h"
#include "entropy.h"
#include "keyd_client.h"
#include "tls_conn.h"
#include "tls_plat.h"
#include "tlsd_conf.h"

#define SOCK_VA       0x0000006000000000ull
#define KEYD_VA       0x0000006100000000ull
#define SITE_VA       0x0000006200000000ull
#define HEAP_BYTES    (6u << 20) /* MAX_CONNS x 48 KiB + certificates and tickets: 3.5 MiB measured with 100 open */
#define TIMER_BIT     (1ull << 40)
#define ADMIN_VA      0x0000006300000000ull
#define MAX_CONNS     TLSD_MAX_CONNS
#define PEND_BYTES    SOCK_RING_BYTES
#define CLOSE_WAIT_NS (5ull * 1000000000ull)
#define KEYD_WAIT_NS    (20ull * 1000000ull) /* between tries while keyd restarts, at start */
#define KEYD_WAIT_TRIES 500                  /* 10 s of them */
_Static_assert(MAX_CONNS == 124, "the listening line and docs/CONFIG.md say 124");

enum cstate { C_FREE, C_HANDSHAKE, C_CONNECTING, C_PROXY, C_CLOSING };

struct conn {
    enum cstate st;
    struct listener *l;
    int cs, bs; /* client and backend sockets, -1: none */
    uint32_t peer_ip;
    uint16_t peer_port;
    bool tls_live;    /* tls_conn_init done: tls_conn_free due */
    bool c_eof;       /* client's direction closed (close_notify or FIN) */
    bool b_eof;       /* backend's FIN */
    bool shut_sent;   /* FIN to the backend requested */
    bool notify_done; /* our close_notify sent */
    uint64_t started, last, close_deadline;
    size_t pend_len, pend_off;
    struct tls_conn tls;
    uint8_t pend[PEND_BYTES];
};

static struct sock_client SC;
static struct keyd_client KC;
static struct tls_entropy ENT;
static struct conn C[MAX_CONNS];
static uint8_t IOBUF[SOCK_RING_BYTES];
static const uint8_t *SITE;
static size_t SITE_LEN;
static bool KICK;
static uint32_t OUR_IP;
static uint64_t SERVE_EP;         /* serve:tlsd, or 0: no statistics endpoint */
static unsigned CONNS, CONN_PEAK; /* connections in slots now, and the most at once */
static size_t HEAP_PEAK;          /* the most heap in use at the once-a-second samples */

/* The engine's failure reasons are the protocol's (abi/keel/tlsd.h). */
_Static_assert((int)TLS_R_NOT_TLS == TLSD_FAIL_NOT_TLS && (int)TLS_R_BAD_HELLO == TLSD_FAIL_BAD_HELLO &&
                   (int)TLS_R_VERSION == TLSD_FAIL_VERSION && (int)TLS_R_NO_SUITE == TLSD_FAIL_NO_SUITE &&
                   (int)TLS_R_BAD_RECORD == TLSD_FAIL_BAD_RECORD && (int)TLS_R_PEER_ALERT == TLSD_FAIL_ALERT &&
                   (int)TLS_R_EOF == TLSD_FAIL_EOF && (int)TLS_R_SIGN == TLSD_FAIL_SIGN &&
                   (int)TLS_R_MEMORY == TLSD_FAIL_MEMORY && (int)TLS_R_RANDOM == TLSD_FAIL_RANDOM &&
                   (int)TLS_R_IO == TLSD_FAIL_IO && (int)TLS_R_TIMEOUT == TLSD_FAIL_TIMEOUT &&
                   (int)TLS_R_ABORTED == TLSD_FAIL_ABORTED && (int)TLS_R_PROTOCOL == TLSD_FAIL_PROTOCOL &&
                   (int)TLS_R_COUNT == TLSD_FAIL_COUNT,
               "tls_conn.h's reasons are keel/tlsd.h's");
_Static_assert(CONF_MAX_TLS <= TLSD_MAX_LISTENERS, "every listener has a port slot");

/* ------------------------------------------------------- transport ---- */

static int io_send(void *io, const uint8_t *buf, size_t len)
{
    struct conn *c = io;
    long n = sock_send(&SC, c->cs, buf, len);
    if (n < 0)
        return TLS_IO_ERROR;
    if (n == 0)
        return TLS_IO_AGAIN;
    KICK = true;
    return (int)n;
}

static int io_recv(void *io, uint8_t *buf, size_t len)
{
    struct conn *c = io;
    long n = sock_recv(&SC, c->cs, buf, len);
    if (n == SOCK_E_AGAIN)
        return TLS_IO_AGAIN;
    if (n < 0)
        return TLS_IO_ERROR;
    if (n > 0)
        KICK = true;
    return (int)n;
}

static const struct tls_transport IO = { io_send, io_recv };

/* ----------------------------------------------------------- helpers ---- */

static const char *ip_str(uint32_t ip, char *b, size_t n)
{
    snprintf(b, n, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return b;
}

static unsigned sockets_free(void)
{
    unsigned used = 0;
    for (int s = 0; s < SOCK_MAX; s++)
        if (sock_status(&SC, s) & SOCK_ST_OPEN)
            used++;
    return SOCK_MAX - used;
}

/* Starts closing C: best-effort flush, then CLOSING until the queued bytes
 * are gone (or CLOSE_WAIT_NS). */
static void conn_close(struct conn *c)
{
    if (c->tls_live)
        (void)tls_conn_flush(&c->tls);
    c->st = C_CLOSING;
    c->close_deadline = keel_now_ns() + CLOSE_WAIT_NS;
    KICK = true;
}

static void conn_release(struct conn *c)
{
    if (c->cs >= 0)
        (void)sock_close(&SC, c->cs);
    if (c->bs >= 0)
        (void)sock_close(&SC, c->bs);
    if (c->tls_live && !tls_conn_free(&c->tls))
        ulog("tlsd: %u: BUG: a connection's memory account did not come back to zero\n", c->l->ct->port);
    c->l->current--;
    CONNS--;
    c->st = C_FREE;
    c->cs = c->bs = -1;
    c->tls_live = false;
    KICK = true;
}

/* Releases every connection of listener L at once (a commit removed or
 * changed it: its certificates and backend are about to go). */
static unsigned close_conns_of(struct listener *l)
{
    unsigned n = 0;
    for (unsigned i = 0; i < MAX_CONNS; i++)
        if (C[i].st != C_FREE && C[i].l == l) {
            conn_release(&C[i]);
            n++;
        }
    return n;
}

static void conn_fail(struct conn *c, enum tls_reason why, const char *what)
{
    char ip[16], d[160];
    if (c->tls_live && c->tls.state != TLS_CS_FAILED)
        tls_conn_abort(&c->tls, why); /* counted once, by reason */
    ulog("tlsd: %u: client %s:%u: %s: %s\n", c->l->ct->port, ip_str(c->peer_ip, ip, sizeof ip), c->peer_port, what,
         tls_conn_describe_failure(&c->tls, d, sizeof d));
    conn_close(c);
}

/* ------------------------------------------------------------ states ---- */

static bool do_handshake(struct conn *c)
{
    int r = tls_conn_handshake(&c->tls);
    if (r == TLS_OK) {
        char ip[16];
        ulog("tlsd: %u: client %s:%u: handshake ok (%s%s%s), to backend\n", c->l->ct->port,
             ip_str(c->peer_ip, ip, sizeof ip), c->peer_port, tls_conn_suite(&c->tls),
             c->tls.resumed ? ", resumed" : "", c->tls.sni[0] ? ", sni given" : "");
        c->bs = sock_tcp_connect(&SC, c->l->ct->backend_addr, c->l->ct->backend_port);
        if (c->bs < 0) {
            c->bs = -1;
            c->l->backend_failed++;
            conn_fail(c, TLS_R_ABORTED, "backend connect refused by netd");
            return true;
        }
        c->st = C_CONNECTING;
        c->last = keel_now_ns();
        return true;
    }
    if (r == TLS_E_FAILED) {
        char ip[16], d[160];
        ulog("tlsd: %u: client %s:%u: handshake failed: %s\n", c->l->ct->port, ip_str(c->peer_ip, ip, sizeof ip),
             c->peer_port, tls_conn_describe_failure(&c->tls, d, sizeof d));
        conn_close(c);
        return true;
    }
    return false;
}

/* The PROXY protocol v2 header for TCP over IPv4 (HAProxy's
 * proxy-protocol.txt, section 2.2): the 12-byte signature, version 2 +
 * command PROXY (0x21), family AF_INET + STREAM (0x11), the address block's
 * length (12, big-endian), then source and destination address and port,
 * all big-endian.  No TLVs. */
#define PROXY_V2_LEN 28
static void proxy_v2_header(uint8_t h[PROXY_V2_LEN], uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
    static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
    memcpy(h, sig, sizeof sig);
    h[12] = 0x21;
    h[13] = 0x11;
    h[14] = 0;
    h[15] = 12;
    for (int i = 0; i < 4; i++) {
        h[16 + i] = (uint8_t)(src >> (24 - 8 * i));
        h[20 + i] = (uint8_t)(dst >> (24 - 8 * i));
    }
    h[24] = (uint8_t)(sport >> 8);
    h[25] = (uint8_t)sport;
    h[26] = (uint8_t)(dport >> 8);
    h[27] = (uint8_t)dport;
}

static bool do_connecting(struct conn *c)
{
    uint32_t st = sock_status(&SC, c->bs);
    if (st & SOCK_ST_RESET) {
        c->l->backend_failed++;
        conn_fail(c, TLS_R_ABORTED, "backend refused or unreachable");
        return true;
    }
    if (!(st & SOCK_ST_CONNECTED))
        return false;
    (void)sock_setopt(&SC, c->bs, SOCK_OPT_NODELAY, 1);
    if (c->l->ct->proxy_protocol == CONF_PROXY_V1) {
        char line[108], a[16], b[16];
        int n = snprintf(line, sizeof line, "PROXY TCP4 %s %s %u %u\r\n", ip_str(c->peer_ip, a, sizeof a),
                         ip_str(OUR_IP, b, sizeof b), c->peer_port, c->l->ct->port);
        (void)sock_send(&SC, c->bs, line, (size_t)n); /* an empty ring: always fits */
    } else if (c->l->ct->proxy_protocol == CONF_PROXY_V2) {
        uint8_t h[PROXY_V2_LEN];
        proxy_v2_header(h, c->peer_ip, OUR_IP, c->peer_port, (uint16_t)c->l->ct->port);
        (void)sock_send(&SC, c->bs, h, sizeof h); /* an empty ring: always fits */
    }
    c->st = C_PROXY;
    KICK = true;
    return true;
}

static bool do_proxy(struct conn *c)
{
    bool moved = false;
    /* client -> backend, no more than the backend's ring takes. */
    while (!c->c_eof) {
        uint32_t room = SOCK_RING_BYTES - sock_unsent(&SC, c->bs);
        if (!room)
            break;
        int n = tls_conn_read(&c->tls, IOBUF, room);
        if (n > 0) {
            long k = sock_send(&SC, c->bs, IOBUF, (size_t)n);
            if (k != n) {
                c->l->backend_failed++;
                conn_fail(c, TLS_R_ABORTED, "backend reset");
                return true;
            }
            c->l->bytes_c2b += (uint64_t)n;
            moved = KICK = true;
            continue;
        }
        if (n == TLS_EOF) {
            c->c_eof = true;
            moved = true;
            break;
        }
        if (n == TLS_E_FAILED) {
            conn_fail(c, TLS_R_IO, "client connection failed");
            return true;
        }
        break; /* WANT_READ / WANT_WRITE */
    }
    if (c->c_eof && !c->shut_sent) {
        (void)sock_shutdown(&SC, c->bs); /* FIN once the ring is sent */
        c->shut_sent = moved = KICK = true;
    }
    /* backend -> client, one pending buffer at most. */
    for (;;) {
        if (c->pend_off < c->pend_len) {
            int w = tls_conn_write(&c->tls, c->pend + c->pend_off, c->pend_len - c->pend_off);
            if (w > 0) {
                c->pend_off += (size_t)w;
                c->l->bytes_b2c += (uint64_t)w;
                moved = true;
                continue;
            }
            if (w == TLS_E_FAILED || w == TLS_E_STATE) {
                conn_fail(c, TLS_R_IO, "client connection failed");
                return true;
            }
            break; /* WANT_WRITE */
        }
        c->pend_off = c->pend_len = 0;
        if (c->b_eof)
            break;
        long n = sock_recv(&SC, c->bs, c->pend, sizeof c->pend);
        if (n > 0) {
            c->pend_len = (size_t)n;
            moved = KICK = true;
            continue;
        }
        if (n == 0) {
            c->b_eof = moved = true;
            break;
        }
        if (n == SOCK_E_BAD_SOCKET) {
            c->l->backend_failed++;
            conn_fail(c, TLS_R_ABORTED, "backend reset");
            return true;
        }
        break;
    }
    int f = tls_conn_flush(&c->tls);
    if (f == TLS_E_FAILED) {
        conn_fail(c, TLS_R_IO, "client connection failed");
        return true;
    }
    if (c->b_eof && c->pend_off >= c->pend_len && !c->notify_done) {
        int r = tls_conn_shutdown(&c->tls);
        if (r == TLS_OK) {
            c->notify_done = moved = true;
        } else if (r != TLS_WANT_WRITE) {
            c->notify_done = moved = true; /* failed state: nothing more to say */
        }
    }
    if (c->notify_done && c->c_eof) {
        conn_close(c);
        moved = true;
    }
    if (moved)
        c->last = keel_now_ns();
    return moved;
}

static bool do_closing(struct conn *c)
{
    if (c->tls_live)
        (void)tls_conn_flush(&c->tls);
    bool cs_done = c->cs < 0 || sock_unsent(&SC, c->cs) == 0 || (sock_status(&SC, c->cs) & SOCK_ST_RESET);
    bool bs_done = c->bs < 0 || sock_unsent(&SC, c->bs) == 0 || (sock_status(&SC, c->bs) & SOCK_ST_RESET);
    if ((cs_done && bs_done) || keel_now_ns() > c->close_deadline) {
        conn_release(c);
        return true;
    }
    return false;
}

static bool drive(struct conn *c)
{
    bool any = false;
    for (int i = 0; i < 64; i++) {
        bool m = false;
        switch (c->st) {
        case C_HANDSHAKE: m = do_handshake(c); break;
        case C_CONNECTING: m = do_connecting(c); break;
        case C_PROXY: m = do_proxy(c); break;
        case C_CLOSING: m = do_closing(c); break;
        case C_FREE: return any;
        }
        if (!m)
            break;
        any = true;
    }
    return any;
}

static void timeouts(void)
{
    uint64_t now = keel_now_ns();
    for (unsigned i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &C[i];
        if (c->st == C_HANDSHAKE && now - c->started > (uint64_t)c->l->ct->handshake_timeout * 1000000000ull)
            conn_fail(c, TLS_R_TIMEOUT, "handshake timeout");
        else if ((c->st == C_PROXY || c->st == C_CONNECTING) &&
                 now - c->last > (uint64_t)c->l->ct->idle_timeout * 1000000000ull)
            conn_fail(c, TLS_R_TIMEOUT, "idle timeout");
    }
}

/* ------------------------------------------------------------ accept ---- */

static bool accept_on(struct listener *l)
{
    bool moved = false;
    for (;;) {
        if (!(sock_status(&SC, l->sock) & SOCK_ST_ACCEPT))
            return moved;
        struct conn *c = NULL;
        for (unsigned i = 0; i < MAX_CONNS && !c; i++)
            if (C[i].st == C_FREE)
                c = &C[i];
        /* a slot, and room for its backend socket after this one */
        if (c && sockets_free() < 2)
            c = NULL;
        int s = sock_accept(&SC, l->sock);
        if (s < 0)
            return moved;
        moved = KICK = true;
        l->accepted++;
        char ip[16];
        uint32_t pip = SC.sh->s[s].peer_ip;
        uint16_t pport = SC.sh->s[s].peer_port;
        if (!c || l->current >= l->ct->max_connections) {
            l->refused++;
            ulog("tlsd: %u: client %s:%u refused: %s\n", l->ct->port, ip_str(pip, ip, sizeof ip), pport,
                 c ? "max-connections reached" : "tlsd's connection limit reached (no free slot or socket)");
            (void)sock_close(&SC, s);
            continue;
        }
        memset(c, 0, offsetof(struct conn, tls));
        c->l = l;
        c->cs = s;
        c->bs = -1;
        c->peer_ip = pip;
        c->peer_port = pport;
        c->started = c->last = keel_now_ns();
        c->st = C_HANDSHAKE;
        l->current++;
        if (++CONNS > CONN_PEAK)
            CONN_PEAK = CONNS;
        (void)sock_setopt(&SC, s, SOCK_OPT_NODELAY, 1);
        if (tls_conn_init(&c->tls, &l->srv, &IO, c) != TLS_OK) {
            c->tls_live = true;
            ulog("tlsd: %u: client %s:%u: out of memory for a connection\n", l->ct->port, ip_str(pip, ip, sizeof ip),
                 pport);
            conn_close(c);
            continue;
        }
        c->tls_live = true;
        /* Not driven here: the main loop drives it right after, once the
         * whole accept queue is taken (a handshake step costs milliseconds
         * of crypto, and netd resets what overflows the queue). */
    }
}

/* -------------------------------------------------------- statistics ---- */

/* Samples the heap (once a second: heap_stats walks the blocks). */
static void sample_heap(void)
{
    size_t used = 0, total = 0;
    tls_plat_heap_usage(&used, &total);
    if (used > HEAP_PEAK)
        HEAP_PEAK = used;
}

static void log_stats(void)
{
    size_t used = 0, size = 0;
    tls_plat_heap_usage(&used, &size);
    ulog("tlsd: memory: heap %llu KiB used of %llu KiB (peak %llu KiB); connections %u (peak %u of %u)\n",
         (unsigned long long)(used >> 10), (unsigned long long)(size >> 10), (unsigned long long)(HEAP_PEAK >> 10),
         CONNS, CONN_PEAK, (unsigned)MAX_CONNS);
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(&nl);
    for (unsigned i = 0; i < nl; i++) {
        const struct listener *l = rl[i];
        if (!l->ok)
            continue;
        const struct tls_stats *s = &l->srv.stats;
        char fails[256];
        size_t at = 0;
        uint64_t total = 0;
        fails[0] = 0;
        for (int r = 1; r < TLS_R_COUNT; r++)
            if (s->failed[r]) {
                total += s->failed[r];
                int n = snprintf(fails + at, sizeof fails - at, "%s%s %llu", at ? ", " : "",
                                 tls_reason_str((enum tls_reason)r), (unsigned long long)s->failed[r]);
                if (n > 0 && (size_t)n < sizeof fails - at)
                    at += (size_t)n;
            }
        ulog("tlsd: stats %u: accepted %llu current %llu refused %llu handshakes ok %llu failed %llu (%s) resumed %llu "
             "bytes client->backend %llu backend->client %llu backend failures %llu\n",
             l->ct->port, (unsigned long long)l->accepted, (unsigned long long)l->current,
             (unsigned long long)l->refused, (unsigned long long)s->handshakes_ok, (unsigned long long)total,
             at ? fails : "none", (unsigned long long)s->resumed, (unsigned long long)l->bytes_c2b,
             (unsigned long long)l->bytes_b2c, (unsigned long long)l->backend_failed);
        /* A line of its own: a log line holds 256 bytes. */
        ulog("tlsd: stats %u by version: TLS 1.3 %llu (resumed %llu), TLS 1.2 %llu (resumed %llu)\n", l->ct->port,
             (unsigned long long)s->version_ok[TLS_VI_13], (unsigned long long)s->version_resumed[TLS_VI_13],
             (unsigned long long)s->version_ok[TLS_VI_12], (unsigned long long)s->version_resumed[TLS_VI_12]);
    }
}

/* ------------------------------------------- statistics over IPC ---- */

static int64_t do_listeners(void *ctx, struct keel_msg *m)
{
    (void)ctx;
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(&nl);
    m->mr[0] = nl;
    m->mr[1] = m->mr[2] = m->mr[3] = 0;
    for (unsigned i = 0; i < nl; i++) {
        if (rl[i]->ok)
            m->mr[1] |= 1ull << i;
        m->mr[2 + i / 4] |= (uint64_t)rl[i]->ct->port << (16 * (i % 4));
    }
    return 0;
}

static int64_t do_stats(void *ctx, struct keel_msg *m)
{
    (void)ctx;
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(&nl);
    if (m->mr[0] >= nl)
        return TLSD_E_BAD_LISTENER;
    if (m->mr[1] >= TLSD_G_COUNT)
        return TLSD_E_BAD_GROUP;
    const struct listener *l = rl[m->mr[0]];
    const struct tls_stats *s = &l->srv.stats;
    uint64_t v[4] = { 0 };
    if (l->ok) {
        switch (m->mr[1]) {
        case TLSD_G_CONNS: v[0] = l->accepted, v[1] = l->current, v[2] = l->refused, v[3] = l->backend_failed; break;
        case TLSD_G_HANDSHAKES:
            v[0] = s->handshakes_ok, v[1] = s->resumed, v[3] = s->truncated;
            for (int r = 1; r < TLS_R_COUNT; r++)
                v[2] += s->failed[r];
            break;
        case TLSD_G_BYTES:
            v[0] = l->bytes_c2b, v[1] = l->bytes_b2c, v[2] = s->sni_exact + s->sni_wildcard, v[3] = s->sni_default;
            break;
        case TLSD_G_VERSIONS:
            v[0] = s->version_ok[TLS_VI_13], v[1] = s->version_resumed[TLS_VI_13];
            v[2] = s->version_ok[TLS_VI_12], v[3] = s->version_resumed[TLS_VI_12];
            break;
        default:
            for (unsigned k = 0; k < 4; k++) {
                unsigned r = (unsigned)(m->mr[1] - TLSD_G_FAILED) * 4 + k;
                v[k] = r > 0 && r < TLS_R_COUNT ? s->failed[r] : 0;
            }
            break;
        }
    }
    for (unsigned k = 0; k < 4; k++)
        m->mr[k] = v[k];
    return 0;
}

/* The statistics for anyone; the configuration for an admin client only
 * (tlsd_conf.c checks the badge). */
static const struct srv_handler HANDLERS[] = {
    { TLSD_LISTENERS, 0, do_listeners },           { TLSD_STATS, 2, do_stats },
    { TLSD_CONFIG_PREPARE, 1, tlsd_conf_prepare }, { TLSD_CONFIG_COMMIT, 0, tlsd_conf_commit },
    { TLSD_CONFIG_ABORT, 0, tlsd_conf_abort },     { TLSD_STATS_CLEAR, 0, tlsd_conf_clear },
};

/* Waits for (or, with POLL, only looks for) an event: a statistics call is
 * answered here; returns the notification's bits (socket events, timer). */
static uint64_t wait_event(bool poll)
{
    uint64_t bits = 0;
    if (!SERVE_EP) {
        if (!poll)
            (void)keel_wait(SC.ntfn, 0, &bits);
        return bits;
    }
    struct keel_msg m = { .info = poll ? KEEL_NONBLOCK : 0 };
    if (keel_recv(SERVE_EP, &m) != KE_OK)
        return 0;
    if (m.info & KEEL_RECV_NOTIFY)
        return m.badge;
    static const struct srv_loop loop = { .handlers = HANDLERS, .n_handlers = sizeof HANDLERS / sizeof HANDLERS[0] };
    if (srv_dispatch(&loop, &m))
        (void)keel_reply(&m);
    return 0;
}

/* ------------------------------------------------------------ set-up ---- */

static const char *arg_value(const char *args, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    const char *p = args;
    while (*p) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            p += kl + 1;
            size_t i = 0;
            while (*p && *p != ',' && *p != ' ' && i + 1 < n)
                out[i++] = *p++;
            out[i] = 0;
            return out;
        }
        while (*p && *p != ',' && *p != ' ')
            p++;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return NULL;
}

static void idle_forever(const char *why)
{
    ulog("tlsd: %s\n", why);
    struct keel_msg ready = { .info = INIT_READY };
    (void)keel_call(SRV_SLOT_INIT, &ready);
    for (;;)
        (void)tls_plat_sleep_ns(3600ull * 1000000000ull);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    if (tls_plat_init(si, HEAP_BYTES) != TLS_PLAT_OK)
        return 1;
    char rng[32] = "rng", sv[16];
    (void)arg_value(si->args, "rng", rng, sizeof rng);
    uint64_t stats_s = 10;
    if (arg_value(si->args, "stats", sv, sizeof sv)) {
        stats_s = 0;
        for (const char *p = sv; *p >= '0' && *p <= '9'; p++)
            stats_s = stats_s * 10 + (uint64_t)(*p - '0');
        if (!stats_s)
            stats_s = 10;
    }

    /* Entropy first: without it, nothing. */
    char name[48];
    snprintf(name, sizeof name, "ep:%s", rng);
    struct tls_entropy_opts eo = { .rng_ep = srv_find_cap(si, name), .rng_wait_ns = 3000000000ull, .who = "tlsd" };
    int e = tls_entropy_init(&ENT, &eo);
    char desc[48];
    tls_entropy_describe(&ENT, desc, sizeof desc);
    if (e != TLS_ENT_OK)
        idle_forever(e == TLS_ENT_E_NONE ? "no entropy source (no entropy server answered, and the CPU has neither "
                                           "RDRAND nor RDSEED): refusing to serve"
                                         : "the random generator could not be seeded: refusing to serve");

    /* The site archive and appliance.conf. */
    uint64_t site = srv_find_cap(si, "site"), pages = 0;
    if (!site || !si->site_size || keel_frame_info(site, NULL, &pages) != KE_OK || si->site_offset > pages * 4096 ||
        si->site_size > pages * 4096 - si->site_offset || keel_map(SRV_SLOT_TASK, site, SITE_VA, RIGHT_READ) != KE_OK)
        idle_forever("no site archive (manifest grant `site`): nothing to serve");
    SITE = (const uint8_t *)SITE_VA + si->site_offset;
    SITE_LEN = si->site_size;
    const void *text;
    size_t len;
    int r = cpio_find(SITE, SITE_LEN, "appliance.conf", &text, &len);
    if (r)
        idle_forever("appliance.conf is not in the site archive: nothing to serve");
    const struct conf *conf = NULL;
    if (tlsd_conf_boot(text, len, &conf) != CONF_OK)
        idle_forever("appliance.conf has errors: nothing to serve");
    if (conf->n_ifaces)
        OUR_IP = conf->ifaces[0].addr;
    if (!conf->n_tls)
        idle_forever("no tls blocks in appliance.conf: nothing to serve");

    /* keyd and netd. */
    uint64_t kep = srv_find_cap(si, "ep:keyd"), kshm = srv_find_cap(si, "shm:keyd");
    if (!kep || !kshm || keel_map(SRV_SLOT_TASK, kshm, KEYD_VA, RIGHT_READ | RIGHT_WRITE) != KE_OK)
        idle_forever("needs `connect keyd share keyd 4`: refusing to serve");
    /* keyd may be restarting right now (both start again after faults,
     * in any order): its endpoint outlives it, and a call that was in
     * flight when it died fails with an IPC error.  Try again for a while;
     * if keyd stays away, exit, and init's back-off starts us later. */
    r = keyd_client_init(&KC, kep, (void *)KEYD_VA);
    for (unsigned tries = 0; r && r > KEYD_E_CLIENT && tries < KEYD_WAIT_TRIES; tries++) {
        (void)tls_plat_sleep_ns(KEYD_WAIT_NS);
        r = keyd_client_init(&KC, kep, (void *)KEYD_VA);
    }
    if (r) {
        ulog("tlsd: keyd: %s\n", keyd_strerror(r));
        if (r > KEYD_E_CLIENT) {
            ulog("tlsd: keyd does not answer: exiting (init starts tlsd again)\n");
            return 1;
        }
        idle_forever("keyd refuses tlsd: refusing to serve");
    }
    r = sock_open(&SC, si, SOCK_VA);
    if (r) {
        ulog("tlsd: netd's socket service: error %d\n", r);
        idle_forever("no socket service: refusing to serve");
    }
    uint64_t timer = srv_find_cap(si, "signal:sock-tlsd");
    SERVE_EP = srv_find_cap(si, "serve:tlsd");
    if (SERVE_EP && keel_ntfn_bind(SC.ntfn) != KE_OK) {
        ulog("tlsd: cannot bind its notification to serve:tlsd; no statistics endpoint\n");
        SERVE_EP = 0;
    }
    struct tlsd_env env = { &SC, &KC, &ENT, SITE, SITE_LEN, close_conns_of };
    tlsd_conf_init(&env);
    tlsd_conf_start();
    if (SERVE_EP)
        tlsd_conf_admin_init(si, ADMIN_VA);
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(&nl);
    for (unsigned i = 0; i < MAX_CONNS; i++)
        C[i].cs = C[i].bs = -1;
    ulog("tlsd: serving, entropy %s, %u listener(s), at most %u connections at once\n", desc, nl,
         (unsigned)((SOCK_MAX - nl) / 2 < MAX_CONNS ? (SOCK_MAX - nl) / 2 : MAX_CONNS));
    struct keel_msg ready = { .info = INIT_READY };
    (void)keel_call(SRV_SLOT_INIT, &ready);

    uint64_t next_stats = keel_now_ns() + stats_s * 1000000000ull, next_tick = 0;
    for (;;) {
        if (sock_session_lost(&SC)) {
            /* netd restarted (socket.h): every socket, listeners included,
             * is gone.  Exiting is the recovery: init starts tlsd again,
             * which says SOCK_HELLO and listens anew. */
            ulog("tlsd: netd's session is gone (netd restarted): starting again\n");
            return 1;
        }
        bool moved = false;
        rl = tlsd_conf_running(&nl); /* a commit (in wait_event) may have changed them */
        for (unsigned i = 0; i < nl; i++)
            if (rl[i]->ok)
                moved |= accept_on(rl[i]);
        bool signing = false;
        for (unsigned i = 0; i < MAX_CONNS; i++) {
            moved |= drive(&C[i]);
            if (C[i].st == C_HANDSHAKE && C[i].tls.sign_pending)
                signing = true;
        }
        uint64_t now = keel_now_ns();
        if (now >= next_tick) {
            timeouts();
            sample_heap();
            for (unsigned i = 0; i < nl; i++)
                if (rl[i]->ok)
                    tls_server_tick(&rl[i]->srv, now / 1000000000ull);
            next_tick = now + 1000000000ull;
        }
        if (now >= next_stats) {
            log_stats();
            next_stats = now + stats_s * 1000000000ull;
        }
        if (KICK) {
            (void)sock_kick(&SC);
            KICK = false;
        }
        if (moved) {
            (void)wait_event(true); /* a statistics call, if one waits */
            continue;
        }
        uint64_t deadline = signing || keyd_client_unsubmitted(&KC) ? now + 1000000ull : next_tick;
        if (timer)
            (void)sys6(SYS_TIMER_ARM, timer, deadline, TIMER_BIT, 0, 0, 0);
        else if (signing)
            (void)tls_plat_sleep_ns(1000000ull);
        if (timer || !signing)
            (void)wait_event(false);
    }
}
