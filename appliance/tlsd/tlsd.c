/*
 * tlsd.c - the TLS-terminating reverse proxy: set-up, and thread 0's part.
 *
 * Reads appliance.conf from the site archive (`site` grant), and for every
 * `tls PORT { ... }` block listens on PORT through netd's socket service
 * (abi/keel/socket.h), terminates TLS with the engine (appliance/tls/
 * tls_conn.h; certificates from the site archive, signatures by keyd) and
 * copies the bytes both ways to the block's backend A.B.C.D:PORT, which it
 * connects to through the socket service too.  The connections themselves
 * are the workers' (tlsd_worker.h: a worker per core, each with its own
 * connections, engines, memory accounts and share of keyd's slots).
 *
 * Thread 0 (this file's loop) is the front and worker 0: it accepts, hands
 * each new connection to the worker with the fewest open, relays socket
 * events to the worker owning the socket and keyd's completions to every
 * worker, answers tlsd's endpoint, rotates ticket keys (one key per
 * listener, shared by the workers, so a ticket issued on one resumes on
 * any), and logs statistics; between those it drives its own connections.
 * `args workers=N` sets how many workers (default: one per core online,
 * at most TLSD_MAX_WORKERS); worker k > 0 runs on the k-th core after
 * thread 0's.
 *
 * Limits: netd's socket service gives a client SOCK_MAX (8192) sockets;
 * each listener takes one and each connection two, so TLSD_MAX_CONNS =
 * (8192 - CONF_MAX_TLS) / 2 = 4092 connections at once over all listeners
 * and workers, on top of each listener's max-connections, and as many as
 * the heap holds.  A connection over a limit is accepted and closed at
 * once (counted as refused), never left hanging; one whose engine finds
 * no memory is closed (logged).  Memory per connection, all from the
 * heap, which grows with use up to HEAP_BYTES within the budget: its slot
 * (struct conn, ~1.1 KiB, in chunks of TLSD_CHUNK made when first needed
 * and kept); the engine's account from the client's first bytes on
 * (tls_conn.h: ~38 KiB at the peak of a handshake, ~34 KiB while data
 * moves, 1.1 KiB once parked: a connection idle for TLSD_PARK_NS gives
 * its record buffers back, tlsd_worker.c); a 16 KiB pending buffer only
 * while backend bytes wait for the engine; plus two PSA key slots in the
 * key store.  An idle connection thus costs ~2.4 KiB here, and netd two
 * PCBs and two socket entries (~0.9 KiB).  When the heap has no pending
 * buffer (or record buffers) to give, that connection waits (the worker
 * tries again each second) rather than failing.
 *
 * Waiting: one notification (netd's, SOCK_EVENT_BIT; keyd signals its
 * completions on it too, KEYD_NOTIFY_BIT, manifest `args signal=sock-tlsd`
 * for keyd) bound to thread 0 with a timer on it (TIMER_BIT: the next
 * timeout or statistics tick).  Nothing is polled: a signature's result is
 * awaited on keyd's bit, a socket's progress on netd's.  The notification
 * is bound to thread 0, so one receive on `endpoint tlsd` waits for a call,
 * an event or the timer alike; while connections move, each pass polls
 * the endpoint without blocking, so a reader never waits for the proxy to
 * go idle.
 *
 * Statistics: logged every `stats=` seconds (a line per worker too), and
 * served on `endpoint tlsd` (serve:tlsd, optional) by the protocol of
 * abi/keel/tlsd.h: the listeners' counters, which every worker adds to.
 *
 * Listeners and configuration: tlsd_conf.c builds them from the site
 * archive's appliance.conf at start, and swaps them at run time when the
 * console commits a configuration in two phases (TLSD_CONFIG_PREPARE /
 * COMMIT / ABORT of abi/keel/tlsd.h, through a shared region "tlsadm-C").
 * Those calls arrive on the same endpoint and run between passes, so a
 * commit never races a connection: close_conns_of() has every worker
 * release the connections of a removed or changed listener (and waits for
 * them) before tlsd_conf.c frees it.
 *
 * Without an entropy source tlsd refuses to serve and says so.
 *
 * Manifest (see tests/qemu/test_tlsd.py):
 *   server tlsd needs netd priority 13 memory 12M args rng=NAME[,stats=S][,workers=N]
 *       site connect netd share sock-tlsd 353 share socktx-tlsd 160
 *       notify sock-tlsd signal sock-tlsd
 *       connect keyd share keyd 4 connect NAME [endpoint tlsd
 *       [share tlsadm-C 17 ...]]  (C: a configuring client, e.g. consoled)
 *   netd: `share sock-tlsd 353 share socktx-tlsd 160 signal sock-tlsd`; keyd: `args client=tlsd,signal=sock-tlsd`,
 *   `signal sock-tlsd`, a priority above tlsd's: keyd's signing threads
 *   receive on one endpoint, each on its own core, and a signature asked
 *   of a thread whose core is busy with a tlsd worker would otherwise wait
 *   for that worker to block (with one core and keyd below tlsd, a queued
 *   signature waited only for tlsd's idle moments; with a worker on every
 *   core there are none).
 */
#include <stdbool.h>

#include <keel/args.h>
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
#include <keel/keyd_client.h>
#include "tls_conn.h"
#include "tls_plat.h"
#include "tls_thread.h"
#include "tlsd_conf.h"
#include "tlsd_worker.h"

#define SOCK_VA         0x0000006000000000ull
#define KEYD_VA         0x0000006100000000ull
#define SITE_VA         0x0000006200000000ull
#define ADMIN_VA        0x0000006300000000ull
#define HEAP_BYTES      (44u << 20) /* the most it grows to; the budget (manifest: memory 3M-48M) bounds it first */
#define TIMER_BIT       (1ull << 40)
#define TICK_NS         1000000000ull
#define KEYD_WAIT_NS    (20ull * 1000000ull) /* between tries while keyd restarts, at start */
#define KEYD_WAIT_TRIES 500                  /* 10 s of them */
_Static_assert(TLSD_MAX_CONNS == 4092, "the listening line and docs/CONFIG.md say 4,092");
_Static_assert(TLSD_MAX_CONNS < 32768, "s2c holds a slot number in 16 bits");
_Static_assert(TLSD_MAX_WORKERS < TLS_MAX_THREADS && TLSD_MAX_WORKERS <= KEYD_POOL_MAX,
               "a thread and a keyd client per worker");
_Static_assert(KEYD_SLOTS >= TLSD_MAX_WORKERS, "every worker has a keyd slot of its own");
_Static_assert((TIMER_BIT | SOCK_EVENT_BIT | KEYD_NOTIFY_BIT) == (TIMER_BIT ^ SOCK_EVENT_BIT ^ KEYD_NOTIFY_BIT),
               "the bits on tlsd's notification are distinct");

/* Thread 0's state: one per program, main's, handed to every function
 * (the workers reach the shared part through f->d).  main's steps fill it
 * in order; after start-up only thread 0 touches it, but for d, which the
 * workers share as tlsd_worker.h says. */
struct front {
    struct tlsd d;
    struct worker w[TLSD_MAX_WORKERS];
    struct keyd_pool pool; /* the listeners' signer: each worker's own keyd client */
    struct tls_entropy ent;
    char ent_desc[48];     /* the entropy source, for the log */
    struct tlsd_conf conf; /* the listeners and their configuration (tlsd_conf.c) */
    const uint8_t *site;
    size_t site_len;
    uint64_t serve_ep; /* serve:tlsd, or 0: no statistics endpoint */
    uint64_t timer;    /* signal:sock-tlsd: the timer is armed on our own notification */
    size_t heap_peak;  /* the most heap in use at the once-a-second samples */
    unsigned rr;       /* pick_worker's turn */
    /* From args and the machine (read_args). */
    char rng[32];     /* the entropy server's name (ep:NAME) */
    uint64_t stats_s; /* seconds between statistics lines */
    unsigned cores, my_core;
};

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

/* ------------------------------------------------------------ accept ---- */

static unsigned sockets_free(const struct sock_client *sc)
{
    unsigned used = 0;
    for (int s = 0; s < SOCK_MAX; s++)
        if (sock_status(sc, s) & SOCK_ST_OPEN)
            used++;
    return SOCK_MAX - used;
}

static const char *ip_str(uint32_t ip, char *b, size_t n)
{
    snprintf(b, n, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return b;
}

/* The worker with the fewest connections handed to it; among equals, the
 * one after the last chosen (so connections one after another, on an idle
 * proxy, take turns). */
static struct worker *pick_worker(struct front *f)
{
    unsigned n = f->d.n_workers, start = ++f->rr % n;
    struct worker *best = &f->w[start];
    for (unsigned j = 1; j < n; j++) {
        struct worker *w = &f->w[(start + j) % n];
        if (__atomic_load_n(&w->current, __ATOMIC_RELAXED) < __atomic_load_n(&best->current, __ATOMIC_RELAXED))
            best = w;
    }
    return best;
}

/* Makes the next chunk of slots (thread 0), from the heap (the global
 * account: slots outlive connections).  Returns false when every chunk
 * exists or the heap cannot grow. */
static bool add_chunk(struct tlsd *d)
{
    unsigned k = d->n_chunks;
    if (k >= TLSD_CHUNKS)
        return false;
    struct tls_mem_account *prev = tls_mem_enter(NULL);
    struct conn *ch = tls_mem_calloc(TLSD_CHUNK, sizeof *ch);
    tls_mem_leave(prev);
    if (!ch)
        return false;
    for (unsigned j = 0; j < TLSD_CHUNK; j++) {
        ch[j].idx = k * TLSD_CHUNK + j;
        ch[j].st = C_FREE;
        ch[j].cs = ch[j].bs = -1;
    }
    __atomic_store_n(&d->chunk[k], ch, __ATOMIC_RELEASE);
    __atomic_store_n(&d->n_chunks, k + 1, __ATOMIC_RELEASE);
    return true;
}

/* A free slot (thread 0): looked for from where the last one was found,
 * so a busy proxy does not walk thousands of taken slots per accept; a
 * new chunk when all are taken.  -1: none (TLSD_MAX_CONNS taken, or no
 * memory for another chunk). */
static int free_conn(struct tlsd *d)
{
    unsigned n = tlsd_slots(d);
    for (unsigned j = 0; j < n; j++) {
        unsigned i = (d->next_free + j) % n;
        if (__atomic_load_n(&tlsd_conn(d, i)->st, __ATOMIC_ACQUIRE) == C_FREE) {
            d->next_free = i + 1;
            return (int)i;
        }
    }
    if (n >= TLSD_MAX_CONNS || !add_chunk(d))
        return -1;
    d->next_free = n + 1;
    return (int)n;
}

/* Takes every connection waiting on L and hands each to a worker (its
 * engine starts on that worker, in its memory).  Returns the workers to
 * wake (bit k: worker k). */
static unsigned accept_on(struct front *f, struct listener *l)
{
    struct tlsd *d = &f->d;
    unsigned wake = 0;
    for (;;) {
        if (!(sock_status(&d->sc, l->sock) & SOCK_ST_ACCEPT))
            return wake;
        int i = free_conn(d);
        /* a slot, and room for its backend socket after this one */
        if (i >= 0 && sockets_free(&d->sc) < 2)
            i = -1;
        int s = sock_accept(&d->sc, l->sock);
        if (s < 0)
            return wake;
        l->accepted++;
        char ip[16];
        uint32_t pip = d->sc.sh->s[s].peer_ip;
        uint16_t pport = d->sc.sh->s[s].peer_port;
        if (i < 0 || __atomic_load_n(&l->current, __ATOMIC_RELAXED) >= l->ct->max_connections) {
            l->refused++;
            ulog("tlsd: %u: client %s:%u refused: %s\n", l->ct->port, ip_str(pip, ip, sizeof ip), pport,
                 i >= 0 ? "max-connections reached" : "tlsd's connection limit reached (no free slot or socket)");
            (void)sock_close(&d->sc, s);
            continue;
        }
        (void)sock_setopt(&d->sc, s, SOCK_OPT_NODELAY, 1);
        struct conn *c = tlsd_conn(d, (unsigned)i);
        struct worker *w = pick_worker(f);
        memset(&c->w, 0, offsetof(struct conn, tls) - offsetof(struct conn, w));
        c->w = w;
        c->l = l;
        c->cs = s;
        c->bs = -1;
        c->peer_ip = pip;
        c->peer6 = (d->sc.sh->s[s].status & SOCK_ST_PEER6) != 0; /* an IPv6 client: no IPv4 address to pass on */
        c->addrs6 = c->peer6 && sock_addrs6(&d->sc, s, c->peer_addr6, c->local_addr6) == 0;
        c->peer_port = pport;
        c->started = c->last = keel_now_ns();
        d->owner[i] = (uint8_t)w->id;
        __atomic_fetch_add(&l->current, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&w->current, 1, __ATOMIC_RELAXED);
        unsigned now = __atomic_add_fetch(&d->conns_now, 1, __ATOMIC_RELAXED);
        if (now > d->conn_peak)
            d->conn_peak = now;
        __atomic_store_n(&d->s2c[s], (int16_t)i, __ATOMIC_SEQ_CST);
        /* point of no return: the worker's from here (C_NEW, release) */
        __atomic_store_n(&c->st, C_NEW, __ATOMIC_RELEASE);
        worker_mark(w, (unsigned)i);
        wake |= 1u << w->id;
        /* Not driven here: its worker drives it once the whole accept queue
         * is taken (a handshake step costs milliseconds of crypto, and netd
         * resets what overflows the queue). */
    }
}

/* ------------------------------------------------------------- relay ---- */

static void wake_workers(struct front *f, unsigned mask)
{
    for (unsigned k = 1; k < f->d.n_workers; k++)
        if (mask & (1u << k))
            worker_wake(&f->w[k]);
}

/* keyd finished a signature: it does not say whose, so every worker looks
 * at its own connections waiting on one. */
static void keyd_done(struct front *f)
{
    unsigned mask = 0;
    for (unsigned k = 0; k < f->d.n_workers; k++) {
        __atomic_store_n(&f->w[k].keyd_done, 1, __ATOMIC_RELEASE);
        mask |= 1u << k;
    }
    wake_workers(f, mask);
}

/* Socket events to their owners; listeners with a connection waiting are
 * accepted from. */
static void route_events(struct front *f)
{
    struct tlsd *d = &f->d;
    unsigned wake = 0;
    bool listeners = false;
    for (int s; (s = sock_next_event(&d->sc)) >= 0;) {
        int i = __atomic_load_n(&d->s2c[s], __ATOMIC_SEQ_CST);
        if (i < 0) {
            listeners = true; /* a listener (or a socket closed since) */
            continue;
        }
        struct worker *w = tlsd_conn(d, (unsigned)i)->w;
        worker_mark(w, (unsigned)i);
        wake |= 1u << w->id;
    }
    if (listeners) {
        unsigned nl;
        struct listener *const *rl = tlsd_conf_running(&f->conf, &nl);
        for (unsigned k = 0; k < nl; k++)
            if (rl[k]->ok)
                wake |= accept_on(f, rl[k]);
    }
    wake_workers(f, wake);
}

static void take_bits(struct front *f, uint64_t bits)
{
    if (bits & KEYD_NOTIFY_BIT)
        keyd_done(f);
}

/* Worker 0's hook between two of its connections (more than one worker):
 * what arrived meanwhile goes on to the others at once. */
static void relay(struct tlsd *d)
{
    struct front *f = (struct front *)((char *)d - offsetof(struct front, d));
    uint64_t bits = 0;
    (void)keel_wait(d->sc.ntfn, KEEL_NONBLOCK, &bits);
    take_bits(f, bits);
    route_events(f);
}

/* Releases every connection of L, on every worker, and waits until they
 * have (a commit removed or changed it: its certificates and backend are
 * about to go).  Returns how many. */
static unsigned close_conns_of(void *ctx, struct listener *l)
{
    struct front *f = ctx;
    unsigned n = worker_close_listener(&f->w[0], l);
    for (unsigned k = 1; k < f->d.n_workers; k++) {
        struct worker *w = &f->w[k];
        w->close_l = l;
        uint32_t seq = w->close_seq + 1;
        __atomic_store_n(&w->close_seq, seq, __ATOMIC_RELEASE);
        worker_wake(w);
        while (__atomic_load_n(&w->close_ack, __ATOMIC_ACQUIRE) != seq)
            (void)tls_plat_sleep_ns(100000);
        n += w->close_n;
    }
    return n;
}

/* -------------------------------------------------------- statistics ---- */

/* Samples the heap (once a second: heap_stats walks the blocks). */
static void sample_heap(struct front *f)
{
    size_t used = 0, total = 0;
    tls_plat_heap_usage(&used, &total);
    if (used > f->heap_peak)
        f->heap_peak = used;
}

/* Connections whose engine is parked now (a glance at other workers'
 * slots: a statistic, exact only when nothing moves). */
static unsigned count_parked(const struct tlsd *d)
{
    unsigned n = 0, slots = tlsd_slots(d);
    for (unsigned i = 0; i < slots; i++) {
        const struct conn *c = tlsd_conn(d, i);
        if (__atomic_load_n(&c->st, __ATOMIC_ACQUIRE) != C_FREE && c->tls_live && c->tls.parked)
            n++;
    }
    return n;
}

static void log_stats(struct front *f)
{
    size_t used = 0, size = 0;
    tls_plat_heap_usage(&used, &size);
    ulog("tlsd: memory: heap %llu KiB used of %llu KiB (peak %llu KiB); connections %u (peak %u of %u), %u idle "
         "and parked, %u slots (%u KiB, kept)\n",
         (unsigned long long)(used >> 10), (unsigned long long)(size >> 10), (unsigned long long)(f->heap_peak >> 10),
         __atomic_load_n(&f->d.conns_now, __ATOMIC_RELAXED), f->d.conn_peak, (unsigned)TLSD_MAX_CONNS,
         count_parked(&f->d), tlsd_slots(&f->d),
         (unsigned)((size_t)f->d.n_chunks * tls_mem_cost(TLSD_CHUNK * sizeof(struct conn)) >> 10));
    for (unsigned k = 0; k < f->d.n_workers && f->d.n_workers > 1; k++) {
        const struct worker *w = &f->w[k];
        ulog("tlsd: worker %u (core %u): connections %llu, handshakes %llu, open %llu\n", k, w->cpu,
             (unsigned long long)w->conns, (unsigned long long)w->handshakes,
             (unsigned long long)__atomic_load_n(&w->current, __ATOMIC_RELAXED));
    }
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(&f->conf, &nl);
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

/* CTX (both): the struct tlsd_conf. */
static int64_t do_listeners(void *ctx, struct keel_msg *m)
{
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(ctx, &nl);
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
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(ctx, &nl);
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
 * (tlsd_conf_admit checks the badge). */
static const struct srv_handler HANDLERS[] = {
    { TLSD_LISTENERS, 0, do_listeners },           { TLSD_STATS, 2, do_stats },
    { TLSD_CONFIG_PREPARE, 1, tlsd_conf_prepare }, { TLSD_CONFIG_COMMIT, 0, tlsd_conf_commit },
    { TLSD_CONFIG_ABORT, 0, tlsd_conf_abort },     { TLSD_STATS_CLEAR, 0, tlsd_conf_clear },
};

/* Waits for (or, with POLL, only looks for) an event: a statistics call is
 * answered here; returns the notification's bits (socket events, keyd,
 * timer). */
static uint64_t wait_event(struct front *f, bool poll)
{
    uint64_t bits = 0;
    if (!f->serve_ep) {
        (void)keel_wait(f->d.sc.ntfn, poll ? KEEL_NONBLOCK : 0, &bits);
        return bits;
    }
    struct keel_msg m = { .info = poll ? KEEL_NONBLOCK : 0 };
    if (keel_recv(f->serve_ep, &m) != KE_OK)
        return 0;
    if (m.info & KEEL_RECV_NOTIFY)
        return m.badge;
    const struct srv_loop loop = { .handlers = HANDLERS,
                                   .n_handlers = sizeof HANDLERS / sizeof HANDLERS[0],
                                   .admit = tlsd_conf_admit,
                                   .ctx = &f->conf };
    if (srv_dispatch(&loop, &m))
        (void)keel_reply(&m);
    return 0;
}

/* ------------------------------------------------------------ set-up ---- */

/* Says why, tells init we are ready (so what waits for tlsd starts) and
 * sleeps for ever: a tlsd that cannot serve stays up and quiet rather
 * than crash-looping. */
/* Parked, not stuck: tlsd says why and that it is ready (init then stops
 * waiting for it), and answers every call on its endpoint (the console's)
 * with TLSD_E_IDLE at once, so no caller waits on a tlsd that will never
 * serve, and init's stall check finds no work left waiting for it (a call
 * that found nobody receiving counts as work waiting). */
__attribute__((noreturn)) static void idle_forever(const struct keel_srvinfo *si, const char *why)
{
    ulog("tlsd: %s\n", why);
    srv_ready();
    uint64_t ep = srv_find_cap(si, "serve:tlsd");
    struct keel_msg m = { 0 };
    while (ep && keel_recv(ep, &m) == KE_OK) {
        if (!(m.info & KEEL_RECV_CALL))
            continue; /* a notification or a plain send: nothing to answer */
        m = (struct keel_msg){ .info = (uint32_t)TLSD_E_IDLE };
        (void)keel_reply(&m);
    }
    for (;;) /* no endpoint, or a receive that fails: sleep */
        (void)tls_plat_sleep_ns(3600ull * 1000000000ull);
}

/* `args rng=NAME,stats=S,workers=N` (all optional) and the cores online.
 * Returns how many workers to start. */
static unsigned read_args(struct front *f, const struct keel_srvinfo *si)
{
    strlcpy(f->rng, "rng", sizeof f->rng);
    (void)srv_arg(si->args, "rng", f->rng, sizeof f->rng);
    f->stats_s = srv_arg_u64(si->args, "stats", 10);
    if (!f->stats_s)
        f->stats_s = 10;
    uint64_t want = 0;
    char sv[16];
    if (srv_arg(si->args, "workers", sv, sizeof sv)) {
        want = srv_arg_u64(si->args, "workers", 0);
        if (want < 1 || want > TLSD_MAX_WORKERS) {
            ulog("tlsd: workers=%s: want 1..%u; using one per core\n", sv, TLSD_MAX_WORKERS);
            want = 0;
        }
    }
    uint64_t cores = 1, my_core = 0;
    if (keel_cpu_count(&cores, &my_core) != KE_OK || cores < 1)
        cores = 1;
    f->cores = (unsigned)cores;
    f->my_core = (unsigned)my_core;
    unsigned n = (unsigned)(want ? want : cores);
    return n > TLSD_MAX_WORKERS ? TLSD_MAX_WORKERS : n;
}

/* Entropy first: without it, nothing. */
static void setup_entropy(struct front *f, const struct keel_srvinfo *si)
{
    char name[48];
    snprintf(name, sizeof name, "ep:%s", f->rng);
    struct tls_entropy_opts eo = { .rng_ep = srv_find_cap(si, name), .rng_wait_ns = 3000000000ull, .who = "tlsd" };
    int e = tls_entropy_init(&f->ent, &eo);
    tls_entropy_describe(&f->ent, f->ent_desc, sizeof f->ent_desc);
    if (e != TLS_ENT_OK)
        idle_forever(si, e == TLS_ENT_E_NONE ? "no entropy source (no entropy server answered, and the CPU has neither "
                                               "RDRAND nor RDSEED): refusing to serve"
                                             : "the random generator could not be seeded: refusing to serve");
}

/* The site archive and its appliance.conf, parsed into the boot
 * configuration (tlsd_conf_boot); idles when there is nothing to serve. */
static void load_config(struct front *f, const struct keel_srvinfo *si)
{
    const void *site;
    if (srv_map_site(si, SITE_VA, &site, &f->site_len) != 0)
        idle_forever(si, "no site archive (manifest grant `site`): nothing to serve");
    f->site = site;
    const void *text;
    size_t len;
    if (cpio_find(f->site, f->site_len, "appliance.conf", &text, &len) != 0)
        idle_forever(si, "appliance.conf is not in the site archive: nothing to serve");
    const struct conf *conf = NULL;
    if (tlsd_conf_boot(&f->conf, text, len, &conf) != CONF_OK)
        idle_forever(si, "appliance.conf has errors: nothing to serve");
    if (conf->n_ifaces)
        f->d.our_ip = conf->ifaces[0].addr;
    if (!conf->n_tls)
        idle_forever(si, "no tls blocks in appliance.conf: nothing to serve");
}

/* keyd: N workers, each with its keyd client and its share of the slots.
 * Returns 0; or -1 when keyd does not answer (main exits, and init's
 * back-off starts tlsd later); idles when keyd refuses tlsd. */
static int connect_keyd(struct front *f, const struct keel_srvinfo *si, unsigned n)
{
    struct tlsd *d = &f->d;
    uint64_t kep = srv_find_cap(si, "ep:keyd"), kshm = srv_find_cap(si, "shm:keyd");
    if (!kep || !kshm || keel_map(SRV_SLOT_TASK, kshm, KEYD_VA, RIGHT_READ | RIGHT_WRITE) != KE_OK)
        idle_forever(si, "needs `connect keyd share keyd 4`: refusing to serve");
    d->n_workers = n;
    d->w = f->w;
    for (unsigned k = 0; k < n; k++) {
        unsigned share = KEYD_SLOTS / n;
        /* keyd may be restarting right now (after faults both start again,
         * in any order): its endpoint outlives it, and a call that was in
         * flight when it died fails with an IPC error.  Try again for a
         * while; if keyd stays away, exit. */
        int r = worker_init(&f->w[k], d, k, kep, (void *)KEYD_VA, k * share, share);
        for (unsigned tries = 0; r && r > KEYD_E_CLIENT && tries < KEYD_WAIT_TRIES; tries++) {
            (void)tls_plat_sleep_ns(KEYD_WAIT_NS);
            r = worker_init(&f->w[k], d, k, kep, (void *)KEYD_VA, k * share, share);
        }
        if (r) {
            ulog("tlsd: keyd: %s\n", keyd_strerror(r));
            if (r > KEYD_E_CLIENT) {
                ulog("tlsd: keyd does not answer: exiting (init starts tlsd again)\n");
                return -1;
            }
            idle_forever(si, "keyd refuses tlsd: refusing to serve");
        }
        f->pool.kc[k] = &f->w[k].kc;
    }
    f->w[0].cpu = f->my_core;
    f->pool.n = n;
    f->pool.self = tls_thread_self;
    return 0;
}

/* netd's socket service; tlsd's endpoint (serve:tlsd, optional) and its
 * timer (signal:sock-tlsd) on the same notification.  Returns 0; or -1
 * when netd refused or did not answer the hello (main exits, and init's
 * back-off starts tlsd later: a netd broken by a fault is restarted
 * meanwhile); idles when the manifest grants no socket service. */
static int connect_netd(struct front *f, const struct keel_srvinfo *si)
{
    struct tlsd *d = &f->d;
    int r = sock_open(&d->sc, si, SOCK_VA);
    if (r && d->sc.sh) { /* mapped: the hello itself failed */
        ulog("tlsd: netd's socket service: the hello failed (error %d): exiting (init starts tlsd again)\n", r);
        return -1;
    }
    if (r) {
        ulog("tlsd: netd's socket service: error %d\n", r);
        idle_forever(si, "no socket service (needs `connect netd share sock-NAME share socktx-NAME notify "
                         "sock-NAME`): refusing to serve");
    }
    for (unsigned s = 0; s < SOCK_MAX; s++)
        d->s2c[s] = -1;
    f->timer = srv_find_cap(si, "signal:sock-tlsd");
    f->serve_ep = srv_find_cap(si, "serve:tlsd");
    if (f->serve_ep && keel_ntfn_bind(d->sc.ntfn) != KE_OK) {
        ulog("tlsd: cannot bind its notification to serve:tlsd; no statistics endpoint\n");
        f->serve_ep = 0;
    }
    return 0;
}

/* Starts workers 1..n-1, worker k on the k-th core after thread 0's, at
 * thread 0's priority.  A worker that cannot start ends the count there
 * (logged): tlsd serves with the ones it has. */
static void start_workers(struct front *f)
{
    for (unsigned k = 1; k < f->d.n_workers; k++) {
        struct worker *w = &f->w[k];
        uint64_t ntfn = tls_plat_slot_alloc();
        int64_t kerr = ntfn ? keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, ntfn, 0) : KE_INVALID_SLOT;
        w->ntfn = ntfn;
        w->cpu = (f->my_core + k) % f->cores;
        w->next_tick = keel_now_ns() + TICK_NS;
        int r = kerr ? TLS_THREAD_E_KERNEL : tls_thread_start(k, worker_main, w, 31, w->cpu, &kerr);
        if (r) {
            ulog("tlsd: worker %u could not start (error %d, kernel %lld): serving with %u worker(s)\n", k, r,
                 (long long)kerr, k);
            f->d.n_workers = k;
            f->pool.n = k;
            return;
        }
    }
}

/* The listeners (built and listening), the admin regions, the workers;
 * then tells init tlsd is ready. */
static void start_serving(struct front *f, const struct keel_srvinfo *si)
{
    struct tlsd *d = &f->d;
    struct tlsd_env env = { .sc = &d->sc,
                            .kc = &f->w[0].kc,
                            .signer = keyd_pool_signer(&f->pool),
                            .ent = &f->ent,
                            .site = f->site,
                            .site_len = f->site_len,
                            .close_conns = close_conns_of,
                            .close_ctx = f };
    tlsd_conf_init(&f->conf, &env);
    tlsd_conf_start(&f->conf);
    if (f->serve_ep)
        tlsd_conf_admin_init(&f->conf, si, ADMIN_VA);
    start_workers(f);
    if (d->n_workers > 1)
        d->relay = relay;
    unsigned nl;
    (void)tlsd_conf_running(&f->conf, &nl);
    ulog("tlsd: serving, entropy %s, %u listener(s), at most %u connections at once, %u worker(s) on %u core(s)\n",
         f->ent_desc, nl, (unsigned)((SOCK_MAX - nl) / 2 < TLSD_MAX_CONNS ? (SOCK_MAX - nl) / 2 : TLSD_MAX_CONNS),
         d->n_workers, f->cores);
    srv_ready();
}

/* ------------------------------------------------------------ the loop -- */

/* netd restarted (socket.h): every socket, listeners included, is gone.
 * Exiting is the recovery: init starts tlsd again, which says SOCK_HELLO
 * and listens anew.  The workers end first (init restarts the task when
 * its last thread ends). */
static void stop_workers(struct front *f)
{
    ulog("tlsd: netd's session is gone (netd restarted): starting again\n");
    for (unsigned k = 1; k < f->d.n_workers; k++) {
        __atomic_store_n(&f->w[k].quit, 1, __ATOMIC_RELEASE);
        worker_wake(&f->w[k]);
    }
}

/* Once a second: the heap's sample, and every running listener's ticket
 * key rotation (a commit, in wait_event, may have changed them). */
static void tick(struct front *f, uint64_t now)
{
    sample_heap(f);
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(&f->conf, &nl);
    for (unsigned i = 0; i < nl; i++)
        if (rl[i]->ok)
            tls_server_tick(&rl[i]->srv, now / 1000000000ull);
}

/* Thread 0's loop: route events, drive worker 0's connections, tick, log,
 * and wait (for an event, a call, or the timer at the next deadline).
 * Returns only when netd's session is lost (main's exit status). */
static int serve(struct front *f)
{
    uint64_t next_stats = keel_now_ns() + f->stats_s * 1000000000ull, next_tick = 0;
    route_events(f); /* connections that queued while we started */
    for (;;) {
        if (sock_session_lost(&f->d.sc)) {
            stop_workers(f);
            return 1;
        }
        route_events(f);
        bool more = worker_pass(&f->w[0]);
        uint64_t now = keel_now_ns();
        if (now >= next_tick) {
            tick(f, now);
            next_tick = now + TICK_NS;
        }
        if (now >= next_stats) {
            log_stats(f);
            next_stats = now + f->stats_s * 1000000000ull;
        }
        if (more) {
            take_bits(f, wait_event(f, true)); /* a statistics call or an event, if one waits */
            continue;
        }
        uint64_t deadline = worker_deadline(&f->w[0]);
        if (next_tick < deadline)
            deadline = next_tick;
        if (f->timer)
            (void)sys6(SYS_TIMER_ARM, f->timer, deadline, TIMER_BIT, 0, 0, 0);
        take_bits(f, wait_event(f, false));
    }
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    static struct front front; /* large (every connection's engine state): not on the stack */
    struct front *f = &front;
    if (tls_plat_init(si, HEAP_BYTES) != TLS_PLAT_OK)
        return 1;
    unsigned n_workers = read_args(f, si);
    setup_entropy(f, si);
    load_config(f, si);
    if (connect_keyd(f, si, n_workers) != 0)
        return 1;
    if (connect_netd(f, si) != 0)
        return 1;
    start_serving(f, si);
    return serve(f);
}
