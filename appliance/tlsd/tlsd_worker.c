/*
 * tlsd_worker.c - a tlsd worker: the connections it owns, their states,
 * and its pass over the ones that moved (tlsd_worker.h says who owns
 * what, and how the threads hand connections and events over).
 *
 * One state per connection:
 *   NEW        thread 0 accepted it and gave it to this worker;
 *   HANDSHAKE  the engine's handshake (keyd signs asynchronously: the
 *              connection is driven again when keyd's completion comes);
 *              the engine starts with the client's first bytes, so a
 *              client that sends nothing holds no engine memory;
 *   CONNECTING the backend connection is being made;
 *   PROXY      bytes both ways; each direction closes on its own
 *              (client close_notify/FIN -> FIN to the backend; backend
 *              FIN -> our close_notify); the PROXY protocol header first
 *              when the block says `proxy-protocol v1` (a text line) or
 *              `v2` (28 binary bytes, 52 for an IPv6 client); the
 *              backend is IPv4 or IPv6 as its block says;
 *   CLOSING    waiting (bounded) for queued bytes to leave, then close.
 * Backpressure: client -> backend reads from the engine only as many bytes
 * as the backend's tx ring has room for; backend -> client takes from the
 * backend's rx ring only when the one pending buffer (16 KiB, a whole
 * record's payload, taken from the heap only while it holds bytes: what
 * the engine has not taken yet) is empty.  netd opens TCP windows
 * only for bytes we consumed, so a slow side stalls the other side's
 * window, never our memory.
 *
 * Timeouts (once a second over the worker's own connections): a handshake
 * not finished within the listener's handshake-timeout, a connection with
 * nothing moving for idle-timeout, and CLOSING past its deadline.  The
 * same walk parks the engine of a connection with nothing moving for
 * TLSD_PARK_NS (tls_conn_park: its record buffers go back to the heap,
 * ~33 KiB, and come back at its next engine call), so an idle connection
 * costs its slot and ~1.1 KiB of engine.
 */
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "tls_mem.h"
#include "tls_plat.h"
#include "conf_addr.h"
#include "tlsd_proxy.h"
#include "tlsd_worker.h"

#define CLOSE_WAIT_NS (5ull * 1000000000ull)
#define TICK_NS       1000000000ull
#define DRIVE_STEPS   64 /* state steps per connection per pass; more waits for the next pass */

#define STAT_ADD(field, n) ((void)__atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED))

static unsigned conn_index(const struct tlsd *d, const struct conn *c)
{
    (void)d;
    return c->idx;
}

static void set_bit(uint64_t *set, unsigned i) { __atomic_fetch_or(&set[i / 64], 1ull << (i % 64), __ATOMIC_RELEASE); }
static void clear_bit(uint64_t *set, unsigned i) { set[i / 64] &= ~(1ull << (i % 64)); }

void worker_mark(struct worker *w, unsigned i) { set_bit(w->ready, i); }

void worker_wake(struct worker *w)
{
    if (w->ntfn)
        (void)keel_signal(w->ntfn, WORKER_WAKE_BIT);
}

/* ------------------------------------------------------- transport ---- */

static int io_send(void *io, const uint8_t *buf, size_t len)
{
    struct conn *c = io;
    long n = sock_send(&c->w->d->sc, c->cs, buf, len);
    if (n < 0)
        return TLS_IO_ERROR;
    if (n == 0)
        return TLS_IO_AGAIN;
    c->w->kick = true;
    return (int)n;
}

static int io_recv(void *io, uint8_t *buf, size_t len)
{
    struct conn *c = io;
    long n = sock_recv(&c->w->d->sc, c->cs, buf, len);
    if (n == SOCK_E_AGAIN)
        return TLS_IO_AGAIN;
    if (n < 0)
        return TLS_IO_ERROR;
    if (n > 0)
        c->w->kick = true;
    return (int)n;
}

static const struct tls_transport IO = { io_send, io_recv };

/* ----------------------------------------------------------- helpers ---- */

static const char *ip_str(uint32_t ip, char *b, size_t n)
{
    snprintf(b, n, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return b;
}

/* An IPv6 address (network order) as RFC 5952 text. */
static const char *ip6_str(const uint8_t a[16], char *b, size_t n)
{
    struct conf_ip ip = { .af = CONF_AF_INET6 };
    memcpy(ip.a, a, 16);
    (void)conf_ip_format(&ip, b, n);
    return b;
}

/* The client's address as text: IPv4, IPv6 ("[...]" as before a port), or
 * "[?]" for an IPv6 client whose address netd could not give. */
static const char *peer_text(const struct conn *c, char *b, size_t n)
{
    if (!c->peer6)
        return ip_str(c->peer_ip, b, n);
    char a[48];
    snprintf(b, n, "[%s]", c->addrs6 ? ip6_str(c->peer_addr6, a, sizeof a) : "?");
    return b;
}

/* ------------------------------------------------- pending buffer ---- */

/* The pending buffer holds what the backend sent and the engine has not
 * taken yet: up to TLSD_PEND_BYTES (16 KiB, a whole TLS record's payload,
 * so a full record goes out in one piece: netd's rings are 64 KiB windows,
 * SOCK_RING_BYTES, so the backend's rx ring holds a whole record's bytes).
 * It is taken from the heap when the backend has bytes and given back as
 * soon as the engine took them all, so an idle connection holds none. */
enum pend_result { PEND_NONE, PEND_BYTES, PEND_EOF, PEND_RESET, PEND_NO_MEMORY };

static void pend_give(struct conn *c)
{
    if (c->pend)
        tls_mem_free(c->pend);
    c->pend = NULL;
    c->pend_off = c->pend_len = 0;
}

/* Client -> backend bytes that did not fit (c2b).  sock_tx_room counted
 * free pool pages, but the pool is shared by every worker: another one may
 * take them before this one's send.  Decrypted bytes cannot go back into
 * the engine, so the rest waits here; sock_send marked the socket starved,
 * and the pages coming back hand it out as an event again. */
static void c2b_give(struct conn *c)
{
    if (c->c2b)
        tls_mem_free(c->c2b);
    c->c2b = NULL;
    c->c2b_off = c->c2b_len = 0;
}

static bool c2b_keep(struct conn *c, const uint8_t *b, size_t n)
{
    c->c2b = tls_mem_alloc(n);
    if (!c->c2b)
        return false;
    memcpy(c->c2b, b, n);
    c->c2b_len = n;
    c->c2b_off = 0;
    return true;
}

/* Sends what c2b holds.  Returns the bytes sent, or -1 if the backend's
 * socket is gone. */
static long c2b_flush(struct worker *w, struct conn *c)
{
    long k = sock_send(&w->d->sc, c->bs, c->c2b + c->c2b_off, c->c2b_len - c->c2b_off);
    if (k < 0)
        return -1;
    c->c2b_off += (size_t)k;
    if (c->c2b_off == c->c2b_len)
        c2b_give(c);
    return k;
}

/* Fills the (empty) pending buffer from the backend's rx ring. */
static enum pend_result pend_fill(struct worker *w, struct conn *c)
{
    struct sock_client *sc = &w->d->sc;
    const struct sock_state *ss = &sc->sh->s[c->bs];
    /* The status first: netd sets RX_EOF or RESET only after the bytes
     * before them are in the ring, so an empty ring read after it is
     * empty for good. */
    uint32_t st = sock_status(sc, c->bs);
    if (__atomic_load_n(&ss->rx_head, __ATOMIC_ACQUIRE) == __atomic_load_n(&ss->rx_tail, __ATOMIC_RELAXED)) {
        if (st & SOCK_ST_RX_EOF)
            return PEND_EOF;
        if (st & SOCK_ST_RESET)
            return PEND_RESET;
        return PEND_NONE;
    }
    c->pend = tls_mem_alloc(TLSD_PEND_BYTES); /* not zeroed: only [pend_off, pend_len) is ever read */
    if (!c->pend) {
        w->pend_starved = true;
        return PEND_NO_MEMORY;
    }
    while (c->pend_len < TLSD_PEND_BYTES) {
        long n = sock_recv(sc, c->bs, c->pend + c->pend_len, TLSD_PEND_BYTES - c->pend_len);
        if (n <= 0)
            break; /* EOF or reset after the bytes: seen at the next fill */
        c->pend_len += (size_t)n;
    }
    if (!c->pend_len) { /* the ring was not empty: cannot happen, but hold nothing */
        pend_give(c);
        return PEND_NONE;
    }
    return PEND_BYTES;
}

/* Starts closing C: best-effort flush, then CLOSING until the queued bytes
 * are gone (or CLOSE_WAIT_NS). */
static void conn_close(struct worker *w, struct conn *c)
{
    if (c->tls_live)
        (void)tls_conn_flush(&c->tls);
    c->st = C_CLOSING;
    c->close_deadline = keel_now_ns() + CLOSE_WAIT_NS;
    w->kick = true;
}

/* Gives C's sockets, engine and slot back; the slot is thread 0's again
 * once C_FREE is stored (last, release). */
static void conn_release(struct worker *w, struct conn *c)
{
    struct tlsd *d = w->d;
    unsigned i = conn_index(d, c);
    if (c->cs >= 0) {
        __atomic_store_n(&d->s2c[c->cs], -1, __ATOMIC_SEQ_CST);
        (void)sock_close(&d->sc, c->cs);
    }
    if (c->bs >= 0) {
        __atomic_store_n(&d->s2c[c->bs], -1, __ATOMIC_SEQ_CST);
        (void)sock_close(&d->sc, c->bs);
    }
    pend_give(c);
    c2b_give(c);
    if (c->tls_live && !tls_conn_free(&c->tls))
        ulog("tlsd: %u: BUG: a connection's memory account did not come back to zero\n", c->l->ct->port);
    STAT_ADD(c->l->current, (uint64_t)-1);
    STAT_ADD(d->conns_now, (unsigned)-1);
    STAT_ADD(w->current, (uint64_t)-1);
    c->cs = c->bs = -1;
    c->tls_live = false;
    clear_bit(w->mine, i);
    w->kick = true;
    __atomic_store_n(&c->st, C_FREE, __ATOMIC_RELEASE);
}

unsigned worker_close_listener(struct worker *w, struct listener *l)
{
    struct tlsd *d = w->d;
    unsigned n = 0;
    unsigned n_slots = tlsd_slots(d);
    for (unsigned i = 0; i < n_slots; i++) {
        struct conn *c = tlsd_conn(d, i);
        if (__atomic_load_n(&c->st, __ATOMIC_ACQUIRE) != C_FREE && c->w == w && c->l == l) {
            if (c->st == C_NEW) /* not taken over yet: nothing of the engine's */
                set_bit(w->mine, i);
            conn_release(w, c);
            n++;
        }
    }
    return n;
}

static void conn_fail(struct worker *w, struct conn *c, enum tls_reason why, const char *what)
{
    char ip[56], dsc[160];
    if (!c->tls_live) { /* the client sent nothing: no engine yet (do_new) */
        STAT_ADD(c->l->srv.stats.failed[why], 1);
        ulog("tlsd: %u: client %s:%u: %s: %s (nothing received)\n", c->l->ct->port, peer_text(c, ip, sizeof ip),
             c->peer_port, what, tls_reason_str(why));
        conn_close(w, c);
        return;
    }
    if (c->tls.state != TLS_CS_FAILED)
        tls_conn_abort(&c->tls, why); /* counted once, by reason */
    ulog("tlsd: %u: client %s:%u: %s: %s\n", c->l->ct->port, peer_text(c, ip, sizeof ip), c->peer_port, what,
         tls_conn_describe_failure(&c->tls, dsc, sizeof dsc));
    conn_close(w, c);
}

/* Whether C's client socket has something for the engine: bytes in its rx
 * ring, or the end of the stream.  A parked engine is called (and so takes
 * its record buffers back) only then, not at every wake-up of C. */
static bool client_has_input(struct worker *w, const struct conn *c)
{
    const struct sock_state *ss = &w->d->sc.sh->s[c->cs];
    if (sock_status(&w->d->sc, c->cs) & (SOCK_ST_RX_EOF | SOCK_ST_RESET))
        return true;
    return __atomic_load_n(&ss->rx_head, __ATOMIC_ACQUIRE) != __atomic_load_n(&ss->rx_tail, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ states ---- */

/* NEW: the worker takes the connection over.  Its engine (two record
 * buffers, ~35 KiB) starts with the client's first bytes (do_handshake),
 * so a client that connects and sends nothing holds only its slot until
 * handshake-timeout drops it. */
static bool do_new(struct worker *w, struct conn *c)
{
    unsigned i = conn_index(w->d, c);
    set_bit(w->mine, i);
    w->conns++;
    c->st = C_HANDSHAKE;
    return true;
}

/* Starts C's engine.  Returns false when there was no memory for it (C
 * is closing). */
static bool engine_start(struct worker *w, struct conn *c)
{
    if (tls_conn_init(&c->tls, &c->l->srv, &IO, c) != TLS_OK) {
        char ip[56];
        c->tls_live = true;
        ulog("tlsd: %u: client %s:%u: out of memory for a connection\n", c->l->ct->port, peer_text(c, ip, sizeof ip),
             c->peer_port);
        conn_close(w, c);
        return false;
    }
    c->tls_live = true;
    return true;
}

static bool do_handshake(struct worker *w, struct conn *c)
{
    if (!c->tls_live) {
        if (!client_has_input(w, c))
            return false; /* nothing yet: its socket's event drives it again */
        (void)engine_start(w, c);
        return true;
    }
    int r = tls_conn_handshake(&c->tls);
    if (r == TLS_OK) {
        char ip[56];
        w->handshakes++;
        ulog("tlsd: %u: client %s:%u: handshake ok (%s%s%s), worker %u, to backend\n", c->l->ct->port,
             peer_text(c, ip, sizeof ip), c->peer_port, tls_conn_suite(&c->tls), c->tls.resumed ? ", resumed" : "",
             c->tls.sni[0] ? ", sni given" : "", w->id);
        const struct conf_tls *ct = c->l->ct;
        c->bs = ct->backend_v6 ? sock_tcp_connect6(&w->d->sc, ct->backend_addr6, ct->backend_port)
                               : sock_tcp_connect(&w->d->sc, ct->backend_addr, ct->backend_port);
        if (c->bs < 0) {
            c->bs = -1;
            STAT_ADD(c->l->backend_failed, 1);
            conn_fail(w, c, TLS_R_ABORTED, "backend connect refused by netd");
            return true;
        }
        /* Before the first look at its status: an event the relay sees
         * from now on finds this connection (tlsd_worker.h). */
        __atomic_store_n(&w->d->s2c[c->bs], (int16_t)conn_index(w->d, c), __ATOMIC_SEQ_CST);
        c->st = C_CONNECTING;
        c->last = keel_now_ns();
        return true;
    }
    if (r == TLS_E_FAILED) {
        char ip[56], dsc[160];
        ulog("tlsd: %u: client %s:%u: handshake failed: %s\n", c->l->ct->port, peer_text(c, ip, sizeof ip),
             c->peer_port, tls_conn_describe_failure(&c->tls, dsc, sizeof dsc));
        conn_close(w, c);
        return true;
    }
    return false;
}

static void be32_put(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* Sends C's PROXY protocol header (tlsd_proxy.h), if its block asks for
 * one, into the empty tx ring of its backend socket; what the shared pool
 * cannot take now waits in c2b, ahead of the client's bytes.  False: no
 * memory for that. */
static bool send_proxy_header(struct worker *w, struct conn *c)
{
    struct tlsd_proxy_ends e = {
        .v6 = c->peer6, .known = !c->peer6 || c->addrs6, .sport = c->peer_port, .dport = (uint16_t)c->l->ct->port
    };
    if (c->peer6) {
        memcpy(e.src, c->peer_addr6, 16);
        memcpy(e.dst, c->local_addr6, 16);
    } else {
        be32_put(e.src, c->peer_ip);
        be32_put(e.dst, w->d->our_ip);
    }
    uint8_t h[TLSD_PROXY_MAX];
    size_t n = tlsd_proxy_header(c->l->ct->proxy_protocol, &e, h);
    if (!n)
        return true;
    long k = sock_send(&w->d->sc, c->bs, h, n);
    if (k < 0)
        k = 0; /* a reset socket: the next pass sees it */
    return (size_t)k == n || c2b_keep(c, h + k, n - (size_t)k);
}

static bool do_connecting(struct worker *w, struct conn *c)
{
    struct sock_client *sc = &w->d->sc;
    uint32_t st = sock_status(sc, c->bs);
    if (st & SOCK_ST_RESET) {
        STAT_ADD(c->l->backend_failed, 1);
        conn_fail(w, c, TLS_R_ABORTED, "backend refused or unreachable");
        return true;
    }
    if (!(st & SOCK_ST_CONNECTED))
        return false;
    (void)sock_setopt(sc, c->bs, SOCK_OPT_NODELAY, 1);
    if (!send_proxy_header(w, c)) {
        char ip[56];
        ulog("tlsd: %u: client %s:%u: out of memory for the PROXY header\n", c->l->ct->port,
             peer_text(c, ip, sizeof ip), c->peer_port);
        conn_close(w, c);
        return true;
    }
    c->st = C_PROXY;
    w->kick = true;
    return true;
}

static bool do_proxy(struct worker *w, struct conn *c)
{
    bool moved = false;
    if (c->c2b) { /* what did not fit last time goes first */
        long k = c2b_flush(w, c);
        if (k < 0) {
            STAT_ADD(c->l->backend_failed, 1);
            conn_fail(w, c, TLS_R_ABORTED, "backend reset");
            return true;
        }
        if (k) {
            STAT_ADD(c->l->bytes_c2b, (uint64_t)k);
            moved = w->kick = true;
        }
    }
    /* client -> backend, no more than the backend's ring takes. */
    while (!c->c2b && !c->c_eof && (!c->tls.parked || client_has_input(w, c))) {
        uint32_t room =
            sock_tx_room(&w->d->sc, c->bs); /* <= SOCK_RING_BYTES, iobuf's size; less when the tx pool is short */
        if (!room)
            break;
        int n = tls_conn_read(&c->tls, w->iobuf, room);
        if (n > 0) {
            long k = sock_send(&w->d->sc, c->bs, w->iobuf, (size_t)n);
            if (k < 0) {
                STAT_ADD(c->l->backend_failed, 1);
                conn_fail(w, c, TLS_R_ABORTED, "backend reset");
                return true;
            }
            if (k)
                STAT_ADD(c->l->bytes_c2b, (uint64_t)k);
            moved = w->kick = true;
            if (k < n && !c2b_keep(c, w->iobuf + k, (size_t)(n - k))) {
                char ip[56];
                ulog("tlsd: %u: client %s:%u: out of memory for bytes to the backend\n", c->l->ct->port,
                     peer_text(c, ip, sizeof ip), c->peer_port);
                conn_close(w, c);
                return true;
            }
            continue;
        }
        if (n == TLS_EOF) {
            c->c_eof = true;
            moved = true;
            break;
        }
        if (n == TLS_E_FAILED) {
            conn_fail(w, c, TLS_R_IO, "client connection failed");
            return true;
        }
        if (n == TLS_WANT_MEMORY)
            w->pend_starved = true; /* parked, the heap full: the tick drives it again */
        break;                      /* WANT_READ / WANT_WRITE / WANT_MEMORY */
    }
    if (c->c_eof && !c->c2b && !c->shut_sent) {
        (void)sock_shutdown(&w->d->sc, c->bs); /* FIN once the ring is sent */
        c->shut_sent = moved = w->kick = true;
    }
    /* backend -> client, one pending buffer at most. */
    for (;;) {
        if (c->pend_off < c->pend_len) {
            int wr = tls_conn_write(&c->tls, c->pend + c->pend_off, c->pend_len - c->pend_off);
            if (wr > 0) {
                c->pend_off += (size_t)wr;
                STAT_ADD(c->l->bytes_b2c, (uint64_t)wr);
                moved = true;
                continue;
            }
            if (wr == TLS_E_FAILED || wr == TLS_E_STATE) {
                conn_fail(w, c, TLS_R_IO, "client connection failed");
                return true;
            }
            if (wr == TLS_WANT_MEMORY)
                w->pend_starved = true;
            break; /* WANT_WRITE / WANT_MEMORY */
        }
        pend_give(c);
        if (c->b_eof)
            break;
        int r = pend_fill(w, c);
        if (r == PEND_BYTES) {
            moved = w->kick = true;
            continue;
        }
        if (r == PEND_EOF) {
            c->b_eof = moved = true;
            break;
        }
        if (r == PEND_RESET) {
            STAT_ADD(c->l->backend_failed, 1);
            conn_fail(w, c, TLS_R_ABORTED, "backend reset");
            return true;
        }
        break; /* nothing now (or no memory: the tick tries again) */
    }
    int f = tls_conn_flush(&c->tls);
    if (f == TLS_E_FAILED) {
        conn_fail(w, c, TLS_R_IO, "client connection failed");
        return true;
    }
    if (c->b_eof && c->pend_off >= c->pend_len && !c->notify_done) {
        int r = tls_conn_shutdown(&c->tls);
        if (r == TLS_WANT_MEMORY)
            w->pend_starved = true; /* the tick tries again */
        if (r == TLS_OK) {
            c->notify_done = moved = true;
        } else if (r != TLS_WANT_WRITE && r != TLS_WANT_MEMORY) {
            c->notify_done = moved = true; /* failed state: nothing more to say */
        }
    }
    if (c->notify_done && c->c_eof && !c->c2b) {
        conn_close(w, c);
        moved = true;
    }
    if (moved)
        c->last = keel_now_ns();
    return moved;
}

static bool do_closing(struct worker *w, struct conn *c)
{
    struct sock_client *sc = &w->d->sc;
    if (c->tls_live)
        (void)tls_conn_flush(&c->tls);
    bool cs_done = c->cs < 0 || sock_unsent(sc, c->cs) == 0 || (sock_status(sc, c->cs) & SOCK_ST_RESET);
    bool bs_done = c->bs < 0 || sock_unsent(sc, c->bs) == 0 || (sock_status(sc, c->bs) & SOCK_ST_RESET);
    if ((cs_done && bs_done) || keel_now_ns() > c->close_deadline) {
        conn_release(w, c);
        return true;
    }
    return false;
}

/* Drives C until nothing moves (or DRIVE_STEPS steps).  Returns true when
 * it may have more to do at once (it is marked ready again). */
static bool drive(struct worker *w, struct conn *c)
{
    /* A ready bit may outlive its connection (released earlier in this
     * pass); the slot may even be another worker's by now.  Thread 0
     * writes c->w before C_NEW (release), so this order of reads sees
     * either C_FREE or the new owner. */
    if (__atomic_load_n(&c->st, __ATOMIC_ACQUIRE) == C_FREE || c->w != w)
        return false;
    for (int i = 0; i < DRIVE_STEPS; i++) {
        bool m = false;
        switch (c->st) {
        case C_NEW: m = do_new(w, c); break;
        case C_HANDSHAKE: m = do_handshake(w, c); break;
        case C_CONNECTING: m = do_connecting(w, c); break;
        case C_PROXY: m = do_proxy(w, c); break;
        case C_CLOSING: m = do_closing(w, c); break;
        case C_FREE: return false;
        }
        if (!m)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ timers ---- */

static void timeouts(struct worker *w)
{
    uint64_t now = keel_now_ns();
    bool starved = w->pend_starved;
    w->pend_starved = false;
    for (unsigned k = 0; k < TLSD_CONN_WORDS; k++)
        for (uint64_t b = w->mine[k]; b; b &= b - 1) {
            unsigned i = k * 64 + (unsigned)__builtin_ctzll(b);
            struct conn *c = tlsd_conn(w->d, i);
            if (c->st == C_HANDSHAKE && now - c->started > (uint64_t)c->l->ct->handshake_timeout * 1000000000ull)
                conn_fail(w, c, TLS_R_TIMEOUT, "handshake timeout");
            else if ((c->st == C_PROXY || c->st == C_CONNECTING) &&
                     now - c->last > (uint64_t)c->l->ct->idle_timeout * 1000000000ull)
                conn_fail(w, c, TLS_R_TIMEOUT, "idle timeout");
            else if (starved && c->st == C_PROXY && !c->pend && (!c->b_eof || c->tls.parked))
                ; /* the heap had no pending buffer (or record buffers) for it: try again */
            else if (c->st != C_CLOSING || now <= c->close_deadline) {
                /* Idle for a second: the engine gives its record buffers
                 * back (tls_conn_park; the next engine call takes them
                 * again).  Refused while a record is half done. */
                if ((c->st == C_PROXY || c->st == C_CONNECTING) && !c->tls.parked && !c->pend &&
                    now - c->last >= TLSD_PARK_NS)
                    (void)tls_conn_park(&c->tls);
                continue;
            }
            worker_mark(w, i); /* driven in this pass: CLOSING flushes and releases it */
        }
}

/* keyd finished something: every connection of W waiting on a signature
 * (started or deferred for want of a slot) is driven again. */
static void keyd_wake(struct worker *w)
{
    for (unsigned k = 0; k < TLSD_CONN_WORDS; k++)
        for (uint64_t b = w->mine[k]; b; b &= b - 1) {
            unsigned i = k * 64 + (unsigned)__builtin_ctzll(b);
            struct conn *c = tlsd_conn(w->d, i);
            if (c->st == C_HANDSHAKE && c->tls_live && c->tls.sign_pending)
                worker_mark(w, i);
        }
}

uint64_t worker_deadline(const struct worker *w) { return w->next_tick; }

/* ------------------------------------------------------------- pass ---- */

bool worker_pass(struct worker *w)
{
    struct tlsd *d = w->d;
    uint32_t seq = __atomic_load_n(&w->close_seq, __ATOMIC_ACQUIRE);
    if (seq != w->close_ack) {
        w->close_n = worker_close_listener(w, w->close_l);
        __atomic_store_n(&w->close_ack, seq, __ATOMIC_RELEASE);
    }
    if (__atomic_exchange_n(&w->keyd_done, 0, __ATOMIC_ACQUIRE))
        keyd_wake(w);
    uint64_t now = keel_now_ns();
    if (now >= w->next_tick) {
        timeouts(w);
        w->next_tick = now + TICK_NS;
    }
    bool more = false;
    for (unsigned k = 0; k < TLSD_CONN_WORDS; k++) {
        uint64_t b = __atomic_exchange_n(&w->ready[k], 0, __ATOMIC_ACQUIRE);
        for (; b; b &= b - 1) {
            unsigned i = k * 64 + (unsigned)__builtin_ctzll(b);
            if (drive(w, tlsd_conn(d, i))) {
                worker_mark(w, i);
                more = true;
            }
            if (d->relay && w->id == 0)
                d->relay(d); /* the other workers' events wait for no more than one connection's turn */
        }
    }
    if (w->kick) {
        (void)sock_kick(&d->sc);
        w->kick = false;
    }
    for (unsigned k = 0; k < TLSD_CONN_WORDS && !more; k++)
        more = __atomic_load_n(&w->ready[k], __ATOMIC_ACQUIRE) != 0;
    return more;
}

/* ------------------------------------------------------------ set-up ---- */

int worker_init(struct worker *w, struct tlsd *d, unsigned id, uint64_t keyd_ep, void *keyd_shm, unsigned first,
                unsigned count)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->d = d;
    return keyd_client_init_slots(&w->kc, keyd_ep, keyd_shm, first, count);
}

void worker_main(void *arg)
{
    struct worker *w = arg;
    for (;;) {
        if (__atomic_load_n(&w->quit, __ATOMIC_ACQUIRE))
            keel_thread_exit();
        if (worker_pass(w))
            continue;
        (void)sys6(SYS_TIMER_ARM, w->ntfn, w->next_tick, WORKER_TIMER_BIT, 0, 0, 0);
        uint64_t bits = 0;
        (void)keel_wait(w->ntfn, 0, &bits);
    }
}
