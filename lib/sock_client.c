/*
 * sock_client.c - the client side of netd's socket service
 * (abi/keel/socket.h; the contract is in keel/sock_client.h).  Calls are
 * IPC on ep:netd; bytes go through the shared rings: the client produces
 * tx (tx_head) and consumes rx (rx_tail), netd the other ends, each
 * position published with release and read with acquire (socket.h).
 * Every data call that moves a position flags its socket in the shared
 * kicks bitmap, so the next SOCK_KICK makes netd look at exactly those.
 *
 * Ring pages (keel/sock_ring.h): the client owns the tx pool (socktx-NAME)
 * and its free list, whose links sit in the pool's own first pages (memory
 * netd never writes); it takes a page when a send first writes into a
 * slot and gives pages back once netd's tx_tail passed them: at every
 * send, at every event handed out (netd flags a socket whose tx_tail
 * moved), at close.  A send that found the pool empty marks its socket
 * starved; pages given back later hand the starved sockets out as events,
 * so a caller that waits for an event on the socket is not left waiting.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/sock_client.h>
#include <keel/sock_ring.h>
#include <keel/spin.h>
#include <keel/string.h>
#include <keel/sys.h>

static uint32_t ld(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void st(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static int call(struct sock_client *c, uint32_t label, unsigned words, uint64_t a, uint64_t b, uint64_t d)
{
    struct keel_msg m = { .info = SRV_LABEL(label, words), .mr = { a, b, d, 0 } };
    int64_t err = keel_call(c->ep, &m);
    if (err)
        return SOCK_E_NO_CLIENT; /* netd is gone (restarting): the caller starts again */
    return (int32_t)keel_label(&m);
}

/* Pages of the tx pool that hold the free list's links (2 bytes a page). */
static uint32_t link_pages(uint32_t pages) { return (pages * 2u + 4095u) / 4096u; }

int sock_open(struct sock_client *c, const struct keel_srvinfo *si, uint64_t va)
{
    char name[32];
    memset(c, 0, sizeof *c);
    c->ep = srv_find_cap(si, "ep:netd");
    snprintf(name, sizeof name, "shm:sock-%s", si->name);
    uint64_t shm = srv_find_cap(si, name);
    snprintf(name, sizeof name, "notify:sock-%s", si->name);
    c->ntfn = srv_find_cap(si, name);
    snprintf(name, sizeof name, "shm:socktx-%s", si->name);
    uint64_t shm_tx = srv_find_cap(si, name);
    if (!c->ep || !shm || !shm_tx || !c->ntfn)
        return SOCK_E_NO_CLIENT;
    uint64_t rx_pages = 0, tx_pages = 0;
    if (keel_frame_info(shm, NULL, &rx_pages) != KE_OK || keel_frame_info(shm_tx, NULL, &tx_pages) != KE_OK ||
        rx_pages <= SOCK_HDR_PAGES || rx_pages - SOCK_HDR_PAGES > SOCK_POOL_MAX || tx_pages > SOCK_POOL_MAX ||
        tx_pages <= link_pages((uint32_t)tx_pages))
        return SOCK_E_NO_CLIENT;
    /* sock-NAME, then socktx-NAME right after it (socket.h). */
    if (keel_map(SRV_SLOT_TASK, shm, va, RIGHT_READ | RIGHT_WRITE) != KE_OK ||
        keel_map(SRV_SLOT_TASK, shm_tx, va + rx_pages * 4096ull, RIGHT_READ | RIGHT_WRITE) != KE_OK)
        return SOCK_E_NO_CLIENT;
    c->base = (uint8_t *)va;
    c->sh = (struct sock_shared *)va;
    c->rx_pool = (uint32_t)(rx_pages - SOCK_HDR_PAGES);
    c->tx_base = (uint8_t *)(va + rx_pages * 4096ull);
    sock_pool_init(&c->tx, (uint16_t *)c->tx_base, link_pages((uint32_t)tx_pages), (uint32_t)tx_pages);
    return call(c, SOCK_HELLO, 0, 0, 0, 0);
}

static void client_lock(struct sock_client *c);
static void client_unlock(struct sock_client *c);

/* S, a socket netd just gave us (or an error): sock_next_event's sweep
 * covers it from now on. */
static int made(struct sock_client *c, int s)
{
    if (s >= 0 && s < SOCK_MAX) {
        client_lock(c);
        if ((unsigned)s / 64 + 1 > c->ev_words)
            c->ev_words = (unsigned)s / 64 + 1;
        client_unlock(c);
    }
    return s;
}

int sock_tcp_listen(struct sock_client *c, uint16_t port, unsigned backlog)
{
    return made(c, call(c, SOCK_TCP_LISTEN, 2, port, backlog, 0));
}
int sock_accept(struct sock_client *c, int listener)
{
    return made(c, call(c, SOCK_ACCEPT, 1, (uint64_t)listener, 0, 0));
}
int sock_tcp_connect(struct sock_client *c, uint32_t ip, uint16_t port)
{
    return made(c, call(c, SOCK_TCP_CONNECT, 2, ip, port, 0));
}
int sock_tcp_connect6(struct sock_client *c, const uint8_t ip[16], uint16_t port)
{
    uint64_t w[2];
    memcpy(w, ip, 16);
    return made(c, call(c, SOCK_TCP_CONNECT6, 3, w[0], w[1], port));
}

int sock_addrs6(struct sock_client *c, int s, uint8_t peer[16], uint8_t local[16])
{
    struct keel_msg m = { .info = SRV_LABEL(SOCK_ADDRS6, 1), .mr = { (uint64_t)s, 0, 0, 0 } };
    if (keel_call(c->ep, &m))
        return SOCK_E_NO_CLIENT;
    int rc = (int32_t)keel_label(&m);
    if (rc == 0) {
        memcpy(peer, &m.mr[0], 16);
        memcpy(local, &m.mr[2], 16);
    }
    return rc;
}

int sock_udp_bind(struct sock_client *c, uint16_t port) { return made(c, call(c, SOCK_UDP_BIND, 1, port, 0, 0)); }
int sock_udp_bind6(struct sock_client *c, uint16_t port) { return made(c, call(c, SOCK_UDP_BIND6, 1, port, 0, 0)); }
int sock_shutdown(struct sock_client *c, int s) { return call(c, SOCK_SHUTDOWN, 1, (uint64_t)s, 0, 0); }
static void tx_release(struct sock_client *c, int s, bool all);

/*
 * The client's shared state - the tx pool, the starved and event bitmaps,
 * and a socket's tx page list, which sock_next_event's reclaim touches too -
 * is kept under one lock: a client's threads (tlsd's workers) send on their
 * own sockets at the same time, on several cores.  It is held for a few
 * hundred instructions; a waiter spins, then yields (the holder may be a
 * thread of the same priority preempted on the waiter's core).
 */
static void client_lock(struct sock_client *c) { spin_lock(&c->lock); }

static void client_unlock(struct sock_client *c) { spin_unlock(&c->lock); }

int sock_close(struct sock_client *c, int s)
{
    int r = call(c, SOCK_CLOSE, 1, (uint64_t)s, 0, 0);
    if (r == 0) {
        client_lock(c);
        tx_release(c, s, true); /* netd has dropped the socket; its pages are ours again */
        client_unlock(c);
    }
    return r;
}
int sock_setopt(struct sock_client *c, int s, enum sock_opt opt, uint64_t value)
{
    return call(c, SOCK_SETOPT, 3, (uint64_t)s, opt, value);
}
int sock_kick(struct sock_client *c) { return call(c, SOCK_KICK, 0, 0, 0, 0); }

static struct sock_state *state(const struct sock_client *c, int s) { return &c->sh->s[s]; }
static void flag(struct sock_client *c, int s)
{
    __atomic_fetch_or(&c->sh->kicks[(unsigned)s / 64], 1ull << ((unsigned)s % 64), __ATOMIC_RELEASE);
}
static const uint8_t *rx_base(const struct sock_client *c) { return c->base + SOCK_RX_PAGE_OFFSET(0); }
static bool valid(int s) { return s >= 0 && s < SOCK_MAX; }

static void starve(struct sock_client *c, int s) { c->starved[(unsigned)s / 64] |= 1ull << ((unsigned)s % 64); }

/* Pages given back: hand every starved socket out as an event (the sweep
 * starts again, as it may have passed their words already: no signal
 * would bring them). */
static void unstarve(struct sock_client *c)
{
    for (unsigned w = 0; w < SOCK_EVENT_WORDS; w++) {
        if (c->starved[w])
            c->ev_cursor = 0;
        c->ev[w] |= c->starved[w];
        c->starved[w] = 0;
    }
}

/* Gives back S's tx pages that netd has taken every byte of (ALL: every
 * page, the socket is closed). */
static void tx_release(struct sock_client *c, int s, bool all)
{
    struct sock_state *ss = state(c, s);
    uint32_t head = ss->tx_head;
    if (sock_ring_reclaim(ss->tx_pages, NULL, &c->tx, head, all ? head : ld(&ss->tx_tail)))
        unstarve(c);
}

uint32_t sock_tx_room(struct sock_client *c, int s)
{
    if (!valid(s))
        return 0;
    client_lock(c);
    tx_release(c, s, false);
    struct sock_state *ss = state(c, s);
    uint32_t head = ss->tx_head, room = sock_ring_room(head, ld(&ss->tx_tail)), n = 0, free = c->tx.nfree;
    /* No more than the pool can back: the slots' own pages, then free ones. */
    while (n < room) {
        uint32_t pos = head + n, k = 4096u - (pos & 4095u);
        if (k > room - n)
            k = room - n;
        if (!ss->tx_pages[(pos / 4096u) % SOCK_RING_PAGES]) {
            if (!free) {
                starve(c, s); /* the pool limits it: an event once pages come back */
                break;
            }
            free--;
        }
        n += k;
    }
    client_unlock(c);
    return n;
}

uint32_t sock_status(const struct sock_client *c, int s) { return valid(s) ? ld(&state(c, s)->status) : 0; }

uint32_t sock_unsent(const struct sock_client *c, int s)
{
    return valid(s) ? state(c, s)->tx_head - ld(&state(c, s)->tx_tail) : 0;
}

long sock_send(struct sock_client *c, int s, const void *buf, size_t n)
{
    if (!valid(s))
        return SOCK_E_BAD_SOCKET;
    struct sock_state *ss = state(c, s);
    if (ld(&ss->status) & SOCK_ST_RESET)
        return SOCK_E_BAD_SOCKET;
    client_lock(c);
    tx_release(c, s, false);
    uint32_t head = ss->tx_head, room = sock_ring_room(head, ld(&ss->tx_tail));
    uint32_t want = n < room ? (uint32_t)n : room;
    uint32_t k = sock_ring_write(ss->tx_pages, NULL, &c->tx, c->tx_base, head, buf, want);
    if (k < want)
        starve(c, s); /* the pool ran dry: an event once pages come back */
    st(&ss->tx_head, head + k);
    client_unlock(c);
    if (k)
        flag(c, s);
    return k;
}

long sock_recv(struct sock_client *c, int s, void *buf, size_t n)
{
    if (!valid(s))
        return SOCK_E_BAD_SOCKET;
    struct sock_state *ss = state(c, s);
    uint32_t status = ld(&ss->status), tail = ss->rx_tail, used = ld(&ss->rx_head) - tail;
    if (!used) {
        if (status & SOCK_ST_RESET)
            return SOCK_E_BAD_SOCKET;
        return (status & SOCK_ST_RX_EOF) ? 0 : SOCK_E_AGAIN;
    }
    uint32_t k = n < used ? (uint32_t)n : used;
    sock_ring_read(ss->rx_pages, c->rx_pool, rx_base(c), tail, buf, k);
    st(&ss->rx_tail, tail + k);
    flag(c, s);
    return k;
}

/* One record (socket.h): header H, the IPv6 address A6 when not NULL,
 * then N payload bytes. */
static int put_dgram(struct sock_client *c, int s, struct sock_dgram h, const uint8_t *a6, const void *buf, size_t n)
{
    if (!valid(s) || n > SOCK_DGRAM_MAX)
        return SOCK_E_INVALID;
    struct sock_state *ss = state(c, s);
    client_lock(c);
    tx_release(c, s, false);
    uint32_t head = ss->tx_head, room = sock_ring_room(head, ld(&ss->tx_tail));
    uint32_t rec = sock_dgram_rec((uint32_t)n, a6 != NULL);
    if (rec > room) {
        client_unlock(c);
        return SOCK_E_AGAIN;
    }
    if (sock_ring_pages_wanted(ss->tx_pages, head, rec) > c->tx.nfree) {
        starve(c, s);
        client_unlock(c);
        return SOCK_E_AGAIN;
    }
    uint32_t at = head;
    (void)sock_ring_write(ss->tx_pages, NULL, &c->tx, c->tx_base, at, &h, sizeof h);
    at += sizeof h;
    if (a6) {
        (void)sock_ring_write(ss->tx_pages, NULL, &c->tx, c->tx_base, at, a6, SOCK_DGRAM_ADDR6);
        at += SOCK_DGRAM_ADDR6;
    }
    (void)sock_ring_write(ss->tx_pages, NULL, &c->tx, c->tx_base, at, buf, (uint32_t)n);
    st(&ss->tx_head, head + rec);
    client_unlock(c);
    flag(c, s);
    return 0;
}

int sock_sendto(struct sock_client *c, int s, uint32_t ip, uint16_t port, const void *buf, size_t n)
{
    struct sock_dgram h = { .ip = ip, .port = port, .len = (uint16_t)n };
    return put_dgram(c, s, h, NULL, buf, n);
}

int sock_sendto6(struct sock_client *c, int s, const uint8_t ip[16], uint16_t port, const void *buf, size_t n)
{
    if (!valid(s))
        return SOCK_E_INVALID; /* as sock_sendto */
    if (!(ld(&state(c, s)->status) & SOCK_ST_UDP6))
        return SOCK_E_WRONG_TYPE;
    struct sock_dgram h = { .ip = 0, .port = port, .len = (uint16_t)(n | SOCK_DGRAM_IP6) };
    return put_dgram(c, s, h, ip, buf, n);
}

long sock_recvfrom6(struct sock_client *c, int s, void *buf, size_t n, struct sock_from *from)
{
    if (!valid(s))
        return SOCK_E_BAD_SOCKET;
    struct sock_state *ss = state(c, s);
    uint32_t tail = ss->rx_tail, used = ld(&ss->rx_head) - tail, rec = 0;
    if (!used)
        return SOCK_E_AGAIN;
    struct sock_dgram h = { 0 };
    if (used >= sizeof h)
        sock_ring_read(ss->rx_pages, c->rx_pool, rx_base(c), tail, &h, sizeof h);
    if (sock_dgram_check(&h, used, true, &rec) || !rec) {
        st(&ss->rx_tail, tail + used); /* netd wrote what it never writes: drop it all */
        flag(c, s);
        return SOCK_E_AGAIN;
    }
    uint32_t len = h.len & SOCK_DGRAM_LEN_MASK, at = tail + sizeof h;
    struct sock_from f = { .v6 = (h.len & SOCK_DGRAM_IP6) != 0, .ip = h.ip, .port = h.port };
    if (f.v6) {
        sock_ring_read(ss->rx_pages, c->rx_pool, rx_base(c), at, f.ip6, SOCK_DGRAM_ADDR6);
        at += SOCK_DGRAM_ADDR6;
    }
    uint32_t k = len < n ? len : (uint32_t)n;
    sock_ring_read(ss->rx_pages, c->rx_pool, rx_base(c), at, buf, k);
    if (from)
        *from = f;
    st(&ss->rx_tail, tail + rec);
    flag(c, s);
    return k;
}

long sock_recvfrom(struct sock_client *c, int s, void *buf, size_t n, uint32_t *ip, uint16_t *port)
{
    struct sock_from f;
    long k = sock_recvfrom6(c, s, buf, n, &f);
    if (k >= 0) {
        if (ip)
            *ip = f.ip; /* 0 for an IPv6 source */
        if (port)
            *port = f.port;
    }
    return k;
}

/* One sweep over the words that can hold events (ev_words, not all
 * SOCK_EVENT_WORDS: a client with a few hundred sockets looks at a few
 * words, not 128), from the cursor on, each word's events taken from the
 * region once per sweep; -1 at the sweep's end.  An event netd sets behind
 * the cursor is found by the next sweep: netd signals the notification
 * after setting it, so the caller's next wait returns at once. */
int sock_next_event(struct sock_client *c)
{
    int s = -1;
    client_lock(c);
    while (c->ev_cursor < c->ev_words) {
        unsigned w = c->ev_cursor;
        if (!c->ev[w])
            c->ev[w] = __atomic_exchange_n(&c->sh->events[w], 0, __ATOMIC_ACQUIRE);
        if (!c->ev[w]) {
            c->ev_cursor++;
            continue;
        }
        unsigned b = (unsigned)__builtin_ctzll(c->ev[w]);
        c->ev[w] &= c->ev[w] - 1;
        s = (int)(w * 64 + b);
        tx_release(c, s, false); /* netd flags a socket whose tx_tail moved; may restart the sweep */
        if (!c->ev[w] && c->ev_cursor == w)
            c->ev_cursor++; /* the word is done (else: more in it, or the sweep restarted) */
        break;
    }
    if (s < 0)
        c->ev_cursor = 0;
    client_unlock(c);
    return s;
}

uint64_t sock_wait(struct sock_client *c)
{
    uint64_t bits = 0;
    (void)keel_wait(c->ntfn, 0, &bits);
    return bits;
}

bool sock_session_lost(const struct sock_client *c) { return ld(&c->sh->magic) != SOCK_MAGIC; }
