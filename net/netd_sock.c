/*
 * netd_sock.c - netd's socket service: abi/keel/socket.h on lwIP's raw
 * TCP/UDP API, in netd's one loop (every function here runs on the main
 * thread: from a request on serve:netd or from an lwIP callback).
 *
 * States of a socket (struct nsock.kind):
 *   FREE     index unused; its sock_state is all zero
 *   LISTEN   a tcp listener; accepted connections wait in its accept
 *            queue (a list through nsock.qnext, at most backlog long)
 *            until SOCK_ACCEPT hands their index out
 *   TCP      a connection (accepted or connecting); tcp == NULL once lwIP
 *            freed the pcb (tcp_err: SOCK_ST_RESET), until SOCK_CLOSE
 *   UDP      a bound udp pcb: IPv4 only, or dual stack (SOCK_ST_UDP6,
 *            SOCK_UDP_BIND6) with IPv6 records in its rings (socket.h)
 * An accepted connection takes its index at lwIP's accept callback (so
 * bytes that come before SOCK_ACCEPT already go into its ring); no free
 * index or a full queue: the connection is aborted (counted: refused).
 *
 * Memory: per socket at most TCP_WND received bytes held (rx ring + pend,
 * a list of pbufs counted in pend_bytes:
 * lwIP gets tcp_recved only for bytes the client consumed), TCP_SND_BUF
 * queued in lwIP (tcp_write copies; tx_tail moves when lwIP took bytes).
 * Ring pages (keel/sock_ring.h): netd owns the rx pool and takes a page
 * when it first writes into a slot; it gives pages back as soon as the
 * client's rx_tail passed them (rx_consumed, at every kick), so an idle
 * socket holds none.  A socket whose bytes found the pool empty is marked
 * starved and drained again once pages come back (netd_sock_flush).  The
 * socket table grows in chunks of NSOCK_CHUNK sockets, each a frame of
 * netd's budget mapped when its first socket opens and unmapped (the
 * budget refunded) when its last one closes; chunk 0 stays.
 *
 * Trust: the client writes rx_tail and tx_head and may write anything;
 * netd reads each once per use, clamps it, and keeps its own copies of
 * what it produces (rx_head, tx_tail), so a lying client only hurts
 * itself.  The kicks bitmap only says which of the client's own sockets
 * to look at (free ones are skipped), and netd never reads the events
 * bitmap it sets.  Calls are matched to a client by badge; a socket index
 * belongs to the client whose table holds it.
 *
 * Events: every change sets the socket's bit in the shared events bitmap
 * at once (atomic OR) and marks the client dirty; netd_sock_flush signals
 * each dirty client once per loop iteration.  SOCK_KICK looks only at the
 * sockets whose bits the client set in the kicks bitmap; lwIP's poll
 * (every second) looks at each TCP socket regardless.
 *
 * A dead client (socket.h): poll_deaths asks init (INIT_STATUS, never the
 * other way round) for each client's fault count every
 * SOCK_DEATH_POLL_MS; a count that moved since the client's SOCK_HELLO
 * means the run that opened the sockets is gone: client_drop aborts them
 * all at once.
 *
 * Listeners bind with SOF_REUSEADDR, as servers do elsewhere: a port whose
 * connections are in TIME_WAIT (or still open, accepted by a listener since
 * closed) can be listened on again; a second listener on a port is refused
 * (SOCK_E_ADDR_IN_USE).  Connecting sockets do not take the option.
 *
 * Not handled: a close that lingers for bytes still in the tx ring.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/ulog.h>

#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netd_sock.h"

enum { NSOCK_FREE, NSOCK_LISTEN, NSOCK_TCP, NSOCK_UDP };

#define CHUNK_PAGES        ((NSOCK_CHUNK * sizeof(struct nsock) + 4095) / 4096)
#define NSOCK_CHUNK_STRIDE 0x10000ull /* 64 KiB of address space per chunk */
#define LINK_STRIDE        0x40000ull /* 256 KiB per client: the rx pool's links */
#define TABLES_VA(va)      ((va) + NETD_SOCK_CLIENTS * NETD_SOCK_STRIDE)
#define LINKS_VA(va)       (TABLES_VA(va) + NETD_SOCK_CLIENTS * NSOCK_CHUNKS * NSOCK_CHUNK_STRIDE)
_Static_assert(CHUNK_PAGES * 4096 <= NSOCK_CHUNK_STRIDE, "a chunk fits its stride");
_Static_assert((SOCK_HDR_PAGES + 2ull * SOCK_POOL_MAX) * 4096 <= NETD_SOCK_STRIDE, "a region fits its stride");
_Static_assert(SOCK_POOL_MAX * 2 <= LINK_STRIDE, "the links fit their stride");
_Static_assert((LINKS_VA(0ull) + NETD_SOCK_CLIENTS * LINK_STRIDE) <= NETD_SOCK_SPAN, "all within the span");
_Static_assert(SOCK_MAX % NSOCK_CHUNK == 0, "whole chunks");

/* ------------------------------------------------------------- helpers -- */

static struct sock_state *st_of(const struct nsock *s) { return &s->c->sh->s[s->idx]; }
/* Socket I of C, or NULL when its chunk is not mapped (then it is free). */
static struct nsock *sock_at(const struct nsock_client *c, unsigned i)
{
    struct nsock *ch = i < SOCK_MAX ? c->chunk[i / NSOCK_CHUNK] : NULL;
    return ch ? &ch[i % NSOCK_CHUNK] : NULL;
}
/* Socket IDX of C changed: its bit in the shared events bitmap (release:
 * the client that sees the bit sees the state written before it). */
static void event_idx(struct nsock_client *c, unsigned idx)
{
    __atomic_fetch_or(&c->sh->events[idx / 64], 1ull << (idx % 64), __ATOMIC_RELEASE);
    c->dirty = true;
}
static void event(struct nsock *s) { event_idx(s->c, s->idx); }

static uint32_t ld(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void st(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static void set_status(struct nsock *s, uint32_t set, uint32_t clear)
{
    struct sock_state *ss = st_of(s);
    st(&ss->status, (ld(&ss->status) & ~clear) | set);
    event(s);
}

/* Free room in S's rx ring, by the client's rx_tail (clamped). */
static uint32_t rx_room(const struct nsock *s) { return sock_ring_room(s->rx_head, ld(&st_of(s)->rx_tail)); }

/* Gives back the rx pages the client has read every byte of. */
static void rx_reclaim(struct nsock *s)
{
    struct nsock_client *c = s->c;
    if (sock_ring_reclaim(s->rx_list, st_of(s)->rx_pages, &c->rx, s->rx_head, ld(&st_of(s)->rx_tail)))
        c->rx_retry = true;
}

static void note_rx_use(struct nsock_client *c)
{
    uint32_t used = c->rx.pages - c->rx.first - c->rx.nfree;
    if (used > c->rx_pages_peak)
        c->rx_pages_peak = used;
}

static void starve(struct nsock *s, bool on)
{
    uint64_t bit = 1ull << (s->idx % 64);
    if (on)
        s->c->rx_starved[s->idx / 64] |= bit;
    else
        s->c->rx_starved[s->idx / 64] &= ~bit;
}

/* ------------------------------------------------------------ TCP data -- */

/* Moves pend into the rx ring as far as it fits; EOF once all is in.
 * pend is a list of pbufs linked by next, longer than a pbuf's 16-bit
 * tot_len can count (TCP_WND is 256 KiB), so only each pbuf's own len is
 * used, and consumed pbufs are freed one at a time. */
static void rx_drain(struct nsock *s)
{
    rx_reclaim(s);
    uint32_t room = rx_room(s);
    bool starved = false;
    while (s->pend && room) {
        struct pbuf *p = s->pend;
        uint32_t want = p->len < room ? p->len : room;
        uint32_t n =
            sock_ring_write(s->rx_list, st_of(s)->rx_pages, &s->c->rx, s->c->rx_base, s->rx_head, p->payload, want);
        s->rx_head += n;
        room -= n;
        s->pend_bytes -= n;
        if (n < want) {
            starved = true; /* the pool is empty: again once pages come back */
            if (n)
                (void)pbuf_remove_header(p, (u16_t)n);
            break;
        }
        if (n == p->len) {
            s->pend = p->next;
            if (!s->pend)
                s->pend_tail = NULL;
            p->next = NULL;
            p->tot_len = p->len;
            pbuf_free(p);
        } else {
            (void)pbuf_remove_header(p, (u16_t)n); /* n < p->len: cannot fail */
        }
    }
    starve(s, starved);
    note_rx_use(s->c);
    if (s->rx_head != ld(&st_of(s)->rx_head)) {
        st(&st_of(s)->rx_head, s->rx_head);
        event(s);
    }
    if (!s->pend && s->fin && !(ld(&st_of(s)->status) & SOCK_ST_RX_EOF))
        set_status(s, SOCK_ST_RX_EOF, 0);
}

/* Gives lwIP back the window for the bytes the client consumed. */
static void rx_consumed(struct nsock *s)
{
    uint32_t tail = ld(&st_of(s)->rx_tail), delta = tail - s->rx_acked;
    if (delta > s->rx_head - s->rx_acked)
        return; /* the client's tail is beyond what it was given: ignored */
    s->rx_acked = tail;
    rx_reclaim(s);
    while (delta && s->tcp) {
        u16_t n = delta > 0xffff ? 0xffff : (u16_t)delta;
        tcp_recved(s->tcp, n);
        delta -= n;
    }
}

/* Hands lwIP what the client put into tx, as far as lwIP takes it. */
static void tx_push(struct nsock *s)
{
    if (!s->tcp || !(ld(&st_of(s)->status) & SOCK_ST_CONNECTED))
        return;
    uint32_t avail = ld(&st_of(s)->tx_head) - s->tx_tail;
    if (avail > SOCK_RING_BYTES)
        avail = 0; /* a head beyond the ring: the client's bug, nothing sent */
    bool took = false;
    while (avail) {
        /* src NULL: a page entry out of the pool, the client's bug; those bytes are skipped. */
        const uint8_t *src;
        uint32_t n = sock_ring_span(st_of(s)->tx_pages, s->c->tx_pool, s->c->tx_base, s->tx_tail, avail, &src);
        if (src) {
            if (n > tcp_sndbuf(s->tcp))
                n = tcp_sndbuf(s->tcp);
            if (!n || tcp_write(s->tcp, src, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
                break; /* full: tcp_sent or tcp_poll comes back here */
        }
        s->tx_tail += n;
        avail -= n;
        took = true;
    }
    if (took) {
        st(&st_of(s)->tx_tail, s->tx_tail);
        event(s);
    }
    if (!avail && s->shut_wr && !s->shut_done) {
        s->shut_done = true;
        (void)tcp_shutdown(s->tcp, 0, 1);
    }
    if (took || s->shut_done)
        (void)tcp_output(s->tcp);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct nsock *s = arg;
    (void)pcb;
    (void)err;
    if (!p) {
        s->fin = true;
    } else {
        for (struct pbuf *q = p; q; q = q->next)
            s->pend_bytes += q->len;
        if (s->pend_tail)
            s->pend_tail->next = p; /* linked, not pbuf_cat: see rx_drain */
        else
            s->pend = p;
        while (p->next)
            p = p->next;
        s->pend_tail = p;
    }
    rx_drain(s);
    return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    (void)pcb;
    (void)len;
    tx_push(arg);
    return ERR_OK;
}

/* Every second per connection: whatever a client forgot to flag in kicks. */
static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
    (void)pcb;
    rx_consumed(arg);
    rx_drain(arg);
    tx_push(arg);
    return ERR_OK;
}

/* lwIP has freed the pcb already. */
static void on_err(void *arg, err_t err)
{
    struct nsock *s = arg;
    (void)err;
    s->tcp = NULL;
    set_status(s, SOCK_ST_RESET, SOCK_ST_CONNECTED);
}

static void tcp_hook(struct nsock *s, struct tcp_pcb *pcb)
{
    s->tcp = pcb;
    tcp_arg(pcb, s);
    tcp_recv(pcb, on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    tcp_poll(pcb, on_poll, 2);
}

static void tcp_unhook(struct tcp_pcb *pcb)
{
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
}

/* ------------------------------------------------------ socket objects -- */

/* Maps a zeroed frame of PAGES pages of netd's budget at VA (the mapping
 * keeps it; unmapping refunds it): 0 or the kernel's error. */
static int64_t map_new(uint64_t va, uint64_t pages)
{
    uint64_t slot = srv_free_slot();
    int64_t err = slot ? keel_obj_create(SRV_SLOT_MEMORY, OBJ_FRAME, slot, pages) : KE_NO_MEMORY;
    if (err == KE_OK) {
        err = keel_map(SRV_SLOT_TASK, slot, va, RIGHT_READ | RIGHT_WRITE);
        (void)keel_cap_delete(slot);
    }
    return err;
}

/* Maps C's chunk K; false when netd's budget is spent. */
static bool chunk_map(struct nsock_client *c, unsigned k)
{
    uint64_t va = c->chunk_va + k * NSOCK_CHUNK_STRIDE;
    int64_t err = map_new(va, CHUNK_PAGES);
    if (err) {
        ulog("netd: sock: %s: no memory for sockets %u-%u (error %lld): netd's manifest memory\n", c->name,
             k * NSOCK_CHUNK, k * NSOCK_CHUNK + NSOCK_CHUNK - 1, (long long)err);
        return false;
    }
    c->chunk[k] = (struct nsock *)va;
    return true;
}

static struct nsock *alloc_sock(struct nsock_client *c, uint8_t kind)
{
    for (unsigned k = 0; k < NSOCK_CHUNKS; k++) {
        if (c->chunk_open[k] == NSOCK_CHUNK || (!c->chunk[k] && !chunk_map(c, k)))
            continue;
        for (unsigned j = 0; j < NSOCK_CHUNK; j++) {
            struct nsock *s = &c->chunk[k][j];
            if (s->kind != NSOCK_FREE)
                continue;
            unsigned i = k * NSOCK_CHUNK + j;
            memset(s, 0, sizeof *s);
            s->kind = kind;
            s->idx = (uint16_t)i;
            s->listener = s->qnext = s->qhead = s->qtail = -1;
            s->c = c;
            struct sock_state *ss = &c->sh->s[i];
            memset(ss, 0, __builtin_offsetof(struct sock_state, tx_pages)); /* tx_pages: the client's */
            c->chunk_open[k]++;
            if (++c->open > c->open_peak)
                c->open_peak = c->open;
            return s;
        }
    }
    return NULL;
}

/* Undoes alloc_sock for S when setting it up failed. */
static void unalloc_sock(struct nsock *s)
{
    s->kind = NSOCK_FREE;
    s->c->chunk_open[s->idx / NSOCK_CHUNK]--;
    s->c->open--;
}

/* Frees S (and, for a listener, the connections still in its queue).
 * ABORT: RST instead of an orderly close (a dead client's sockets). */
static void free_sock(struct nsock *s, bool abort)
{
    if (s->kind == NSOCK_LISTEN)
        for (int i = s->qhead; i >= 0;) {
            struct nsock *q = sock_at(s->c, (unsigned)i);
            int next = q->qnext; /* read before free_sock clears it */
            free_sock(q, true);
            i = next;
        }
    if (s->tcp) {
        if (s->kind == NSOCK_LISTEN) { /* lwIP asserts on recv/sent/err/poll of a listener */
            tcp_arg(s->tcp, NULL);
            tcp_accept(s->tcp, NULL);
        } else {
            tcp_unhook(s->tcp);
        }
        if (abort && s->kind == NSOCK_TCP)
            tcp_abort(s->tcp);
        else if (tcp_close(s->tcp) != ERR_OK)
            tcp_abort(s->tcp);
    }
    if (s->udp)
        udp_remove(s->udp);
    if (s->pend)
        pbuf_free(s->pend);
    struct nsock_client *c = s->c;
    unsigned idx = s->idx, k = idx / NSOCK_CHUNK;
    if (sock_ring_reclaim(s->rx_list, NULL, &c->rx, s->rx_head, s->rx_head))
        c->rx_retry = true;
    starve(s, false);
    memset(s, 0, sizeof *s);
    memset(&c->sh->s[idx], 0, __builtin_offsetof(struct sock_state, tx_pages)); /* tx_pages: the client's */
    event_idx(c, idx);
    c->open--;
    if (!--c->chunk_open[k] && k) { /* the chunk's last socket: its memory back to the budget */
        (void)keel_unmap(SRV_SLOT_TASK, c->chunk_va + k * NSOCK_CHUNK_STRIDE);
        c->chunk[k] = NULL;
    }
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct nsock *l = arg;
    struct nsock_client *c = l->c;
    struct nsock *s = err == ERR_OK && pcb && l->nq < l->backlog ? alloc_sock(c, NSOCK_TCP) : NULL;
    if (!s) {
        c->refused++;
        if (pcb)
            tcp_abort(pcb);
        return ERR_ABRT;
    }
    tcp_hook(s, pcb);
    s->listener = (int16_t)l->idx;
    if (l->qtail >= 0)
        sock_at(c, (unsigned)l->qtail)->qnext = (int16_t)s->idx;
    else
        l->qhead = (int16_t)s->idx;
    l->qtail = (int16_t)s->idx;
    l->nq++;
    c->accepted++;
    struct sock_state *ss = st_of(s);
    bool v6 = IP_IS_V6_VAL(pcb->remote_ip);
    ss->peer_ip = v6 ? 0 : lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(&pcb->remote_ip)));
    ss->peer_port = pcb->remote_port;
    ss->local_port = pcb->local_port;
    set_status(s, SOCK_ST_OPEN | SOCK_ST_CONNECTED | (v6 ? SOCK_ST_PEER6 : 0), 0);
    set_status(l, SOCK_ST_ACCEPT, 0);
    return ERR_OK;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct nsock *s = arg;
    (void)pcb;
    (void)err;
    set_status(s, SOCK_ST_CONNECTED, 0);
    tx_push(s);
    return ERR_OK;
}

/* ----------------------------------------------------------------- UDP -- */

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
    struct nsock *s = arg;
    static uint8_t tmp[SOCK_DGRAM_MAX];
    (void)pcb;
    /* A dual-stack socket's IPv6 datagrams carry their source after the
     * header (socket.h); an IPv4-only pcb never sees IPv6 ones. */
    bool v6 = IP_IS_V6(addr);
    uint32_t len = p->tot_len, rec = sock_dgram_rec(len, v6);
    rx_reclaim(s);
    if (len > SOCK_DGRAM_MAX || rec > rx_room(s) ||
        sock_ring_pages_wanted(s->rx_list, s->rx_head, rec) > s->c->rx.nfree) {
        st(&st_of(s)->rx_dropped, ld(&st_of(s)->rx_dropped) + 1);
        s->c->udp_dropped++;
        pbuf_free(p);
        return;
    }
    struct sock_dgram h = { .ip = v6 ? 0 : lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(addr))),
                            .port = port,
                            .len = (uint16_t)(len | (v6 ? SOCK_DGRAM_IP6 : 0)) };
    pbuf_copy_partial(p, tmp, (u16_t)len, 0);
    pbuf_free(p);
    struct nsock_client *c = s->c;
    uint32_t at = s->rx_head;
    (void)sock_ring_write(s->rx_list, st_of(s)->rx_pages, &c->rx, c->rx_base, at, &h, sizeof h);
    at += sizeof h;
    if (v6) {
        (void)sock_ring_write(s->rx_list, st_of(s)->rx_pages, &c->rx, c->rx_base, at, ip_2_ip6(addr)->addr,
                              SOCK_DGRAM_ADDR6);
        at += SOCK_DGRAM_ADDR6;
    }
    (void)sock_ring_write(s->rx_list, st_of(s)->rx_pages, &c->rx, c->rx_base, at, tmp, len);
    note_rx_use(c);
    s->rx_head += rec;
    st(&st_of(s)->rx_head, s->rx_head);
    event(s);
}

/* An IPv6 destination netd sends to: no zone to send a link-local one out
 * of, and ::, loopback and multicast are no peers (as SOCK_TCP_CONNECT6). */
static bool v6_sendable(const ip6_addr_t *a)
{
    return !(ip6_addr_isany(a) || ip6_addr_ismulticast(a) || ip6_addr_isloopback(a) || ip6_addr_islinklocal(a));
}

/* Counts a tx record refused with error E (logged at the 1st, 2nd, 4th...). */
static void udp_refuse(struct nsock *s, int e)
{
    struct nsock_client *c = s->c;
    c->udp_refused++;
    if ((c->udp_refused & (c->udp_refused - 1)) == 0)
        ulog("netd: sock: %s: socket %u: UDP tx record refused (%d), %llu so far\n", c->name, s->idx, e,
             (unsigned long long)c->udp_refused);
}

/* Sends the datagram records the client put into tx.  Each header is
 * checked (sock_dgram_check) before anything is sent: a record of the
 * wrong family or to an address netd does not send to is skipped, a bad
 * length or a truncated record makes the rest of the ring garbage. */
static void udp_push(struct nsock *s)
{
    uint32_t avail = ld(&st_of(s)->tx_head) - s->tx_tail;
    if (avail > SOCK_RING_BYTES)
        avail = 0;
    uint32_t start = s->tx_tail;
    bool allow6 = (st_of(s)->status & SOCK_ST_UDP6) != 0;
    while (avail) {
        struct sock_dgram h = { 0 };
        uint32_t rec = 0;
        if (avail >= sizeof h)
            sock_ring_read(st_of(s)->tx_pages, s->c->tx_pool, s->c->tx_base, s->tx_tail, &h, sizeof h);
        int e = sock_dgram_check(&h, avail, allow6, &rec);
        if (e && !rec) {
            udp_refuse(s, e);
            s->tx_tail += avail; /* garbage: the client's bug; skip it all */
            break;
        }
        uint32_t len = h.len & SOCK_DGRAM_LEN_MASK, at = s->tx_tail + sizeof h;
        ip_addr_t to;
        if (!e && (h.len & SOCK_DGRAM_IP6)) {
            memset(&to, 0, sizeof to);
            IP_SET_TYPE_VAL(to, IPADDR_TYPE_V6);
            sock_ring_read(st_of(s)->tx_pages, s->c->tx_pool, s->c->tx_base, at, ip_2_ip6(&to)->addr, SOCK_DGRAM_ADDR6);
            ip6_addr_clear_zone(ip_2_ip6(&to));
            at += SOCK_DGRAM_ADDR6;
            if (!v6_sendable(ip_2_ip6(&to)))
                e = SOCK_E_INVALID;
        } else if (!e) {
            ip_addr_set_ip4_u32_val(to, lwip_htonl(h.ip));
        }
        if (e) {
            udp_refuse(s, e); /* just this record */
        } else {
            struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
            if (!p)
                break; /* out of memory: the next kick tries again */
            sock_ring_read(st_of(s)->tx_pages, s->c->tx_pool, s->c->tx_base, at, p->payload, len);
            (void)udp_sendto(s->udp, p, &to, h.port);
            pbuf_free(p);
        }
        s->tx_tail += rec;
        avail -= rec;
    }
    if (s->tx_tail != start) {
        st(&st_of(s)->tx_tail, s->tx_tail);
        event(s);
    }
}

/* --------------------------------------------------------------- calls -- */

static struct nsock_client *client_of(struct netd_socks *ss, uint64_t badge)
{
    for (unsigned i = 0; i < ss->n; i++)
        if (ss->c[i].badge == badge)
            return &ss->c[i];
    return NULL;
}

/* C's socket numbered by m->mr[0], of KIND (NSOCK_FREE: any kind), or an
 * error. */
static int64_t sock_arg(struct nsock_client *c, const struct keel_msg *m, uint8_t kind, struct nsock **out)
{
    struct nsock *s = m->mr[0] < SOCK_MAX ? sock_at(c, (unsigned)m->mr[0]) : NULL;
    if (!s || s->kind == NSOCK_FREE)
        return SOCK_E_BAD_SOCKET;
    *out = s;
    if (kind != NSOCK_FREE && (*out)->kind != kind)
        return SOCK_E_WRONG_TYPE;
    return 0;
}

/* The requests that name one of the caller's sockets in MR0, and the kind
 * it must be (NSOCK_FREE: any).  Their handlers, and only they, take the
 * socket from sock_of() (NULL for any other request). */
static const struct {
    uint32_t label;
    uint8_t kind;
} sock_calls[] = {
    { SOCK_ACCEPT, NSOCK_LISTEN }, { SOCK_SHUTDOWN, NSOCK_TCP }, { SOCK_CLOSE, NSOCK_FREE },
    { SOCK_SETOPT, NSOCK_TCP },    { SOCK_ADDRS6, NSOCK_TCP },
};

/* Every call's prologue (srv_loop.admit), the checks in this order: the
 * caller must be a client (its entry: ss->caller, caller()), and have
 * said SOCK_HELLO (but for SOCK_HELLO itself); a request of sock_calls[]
 * must name a socket of the caller of its kind (ss->sock, sock_of()). */
static int64_t admit(void *ctx, const struct keel_msg *m)
{
    struct netd_socks *ss = ctx;
    uint32_t id = SRV_LABEL_ID((uint32_t)keel_label(m));
    ss->caller = client_of(ss, m->badge);
    ss->sock = NULL;
    if (!ss->caller)
        return SOCK_E_NO_CLIENT;
    if (!ss->caller->hello && id != SOCK_HELLO)
        return SOCK_E_NO_HELLO;
    for (unsigned i = 0; i < sizeof sock_calls / sizeof sock_calls[0]; i++)
        if (sock_calls[i].label == id)
            return sock_arg(ss->caller, m, sock_calls[i].kind, &ss->sock);
    return 0;
}

/* The client of the request being handled (admit found it). */
static struct nsock_client *caller(void *ctx) { return ((struct netd_socks *)ctx)->caller; }

/* The socket the request names (admit checked it; sock_calls[] only). */
static struct nsock *sock_of(void *ctx) { return ((struct netd_socks *)ctx)->sock; }

/* Aborts every socket of C (queued connections first go with their
 * listener) and clears its region's header; returns how many it closed. */
static unsigned client_drop(struct nsock_client *c)
{
    unsigned closed = 0;
    for (unsigned i = 0; i < SOCK_MAX; i++) {
        struct nsock *s = sock_at(c, i);
        if (s && s->kind != NSOCK_FREE && s->listener < 0) {
            free_sock(s, true);
            closed++;
        }
    }
    for (unsigned i = 0; i < SOCK_MAX; i++) { /* queued ones went with their listener */
        struct nsock *s = sock_at(c, i);
        if (s && s->kind != NSOCK_FREE) {
            free_sock(s, true);
            closed++;
        }
    }
    memset(c->sh, 0, sizeof *c->sh);
    sock_pool_init(&c->rx, c->rx.link, 0, c->rx.pages); /* every page back (a new run) */
    memset(c->rx_starved, 0, sizeof c->rx_starved);
    c->rx_retry = false;
    c->hello = false;
    c->dirty = false;
    return closed;
}

/* init's fault count for C (INIT_STATUS on its manifest index, badge - 1):
 * 0 and *faults set, or the error.  init answers at once and never calls
 * netd, so this cannot deadlock. */
static int64_t client_faults(const struct nsock_client *c, uint64_t *faults)
{
    struct keel_msg m = { .info = INIT_STATUS, .mr = { c->badge - 1, 0, 0, 0 } }; /* init reads the whole label */
    int64_t err = keel_call(SRV_SLOT_INIT, &m);
    if (err)
        return err;
    if (keel_label(&m))
        return (int32_t)keel_label(&m);
    *faults = m.mr[2];
    return 0;
}

static int64_t do_hello(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct nsock_client *c = caller(ctx);
    unsigned closed = client_drop(c);
    uint64_t faults = 0;
    if (client_faults(c, &faults) == 0)
        c->faults = faults;
    c->sh->generation = (uint32_t)++c->hellos;
    st(&c->sh->magic, SOCK_MAGIC);
    c->hello = true;
    ulog("netd: sock: %s: hello %u: closed %u socket%s it held\n", c->name, (unsigned)c->hellos, closed,
         closed == 1 ? "" : "s");
    return 0;
}

/* lwIP timeout, every SOCK_DEATH_POLL_MS: drops the sockets of every
 * client whose run that said SOCK_HELLO has died since (socket.h). */
static void poll_deaths(void *arg)
{
    struct netd_socks *ss = arg;
    for (unsigned i = 0; i < ss->n; i++) {
        struct nsock_client *c = &ss->c[i];
        uint64_t faults = 0;
        if (!c->hello || client_faults(c, &faults) != 0 || faults == c->faults)
            continue;
        c->deaths++;
        unsigned closed = client_drop(c);
        ulog("netd: sock: %s: died (init counts %llu faults): closed %u socket%s at once\n", c->name,
             (unsigned long long)faults, closed, closed == 1 ? "" : "s");
    }
    sys_timeout(SOCK_DEATH_POLL_MS, poll_deaths, arg);
}

static int64_t do_listen(void *ctx, struct keel_msg *m)
{
    struct nsock_client *c = caller(ctx);
    if (m->mr[0] == 0 || m->mr[0] > 0xffff || m->mr[1] == 0 || m->mr[1] > SOCK_MAX)
        return SOCK_E_INVALID;
    uint8_t lwip_backlog = m->mr[1] > 255 ? 255 : (uint8_t)m->mr[1]; /* lwIP's is a u8 */
    struct nsock *s = alloc_sock(c, NSOCK_LISTEN);
    if (!s)
        return SOCK_E_NO_SOCKETS;
    struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY); /* dual stack: IPv4 and IPv6 clients */
    if (!pcb) {
        unalloc_sock(s);
        return SOCK_E_NO_MEMORY;
    }
    ip_set_option(pcb, SOF_REUSEADDR);
    if (tcp_bind(pcb, IP_ANY_TYPE, (u16_t)m->mr[0]) != ERR_OK) {
        tcp_abort(pcb);
        unalloc_sock(s);
        return SOCK_E_ADDR_IN_USE;
    }
    err_t err = ERR_OK;
    struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(pcb, lwip_backlog, &err);
    if (!lpcb) {
        tcp_abort(pcb);
        unalloc_sock(s);
        return err == ERR_USE ? SOCK_E_ADDR_IN_USE : SOCK_E_NO_MEMORY; /* ERR_USE: another listener has the port */
    }
    /* point of no return */
    s->tcp = lpcb;
    s->backlog = (uint16_t)m->mr[1];
    tcp_arg(lpcb, s);
    tcp_accept(lpcb, on_accept);
    st_of(s)->local_port = (uint16_t)m->mr[0];
    set_status(s, SOCK_ST_OPEN | SOCK_ST_LISTENER, 0);
    return s->idx;
}

static int64_t do_accept(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct nsock *l = sock_of(ctx);
    if (l->qhead < 0)
        return SOCK_E_AGAIN;
    struct nsock *s = sock_at(l->c, (unsigned)l->qhead);
    l->qhead = s->qnext;
    if (l->qhead < 0)
        l->qtail = -1;
    l->nq--;
    if (!l->nq)
        set_status(l, 0, SOCK_ST_ACCEPT);
    s->listener = s->qnext = -1;
    return s->idx;
}

/* SOCK_TCP_CONNECT and SOCK_TCP_CONNECT6: a TCP connection to TO:PORT. */
static int64_t connect_to(void *ctx, const ip_addr_t *to, uint64_t port)
{
    struct nsock_client *c = caller(ctx);
    if (port == 0 || port > 0xffff)
        return SOCK_E_INVALID;
    bool v6 = IP_IS_V6(to);
    struct nsock *s = alloc_sock(c, NSOCK_TCP);
    if (!s)
        return SOCK_E_NO_SOCKETS;
    struct tcp_pcb *pcb = tcp_new_ip_type(v6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4);
    if (!pcb) {
        unalloc_sock(s);
        return SOCK_E_NO_MEMORY;
    }
    tcp_hook(s, pcb);
    if (tcp_connect(pcb, to, (u16_t)port, on_connected) != ERR_OK) {
        tcp_unhook(pcb);
        tcp_abort(pcb);
        s->tcp = NULL;
        unalloc_sock(s);
        return SOCK_E_NO_MEMORY;
    }
    struct sock_state *ss = st_of(s);
    ss->peer_ip = v6 ? 0 : lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(to)));
    ss->peer_port = (uint16_t)port;
    ss->local_port = pcb->local_port;
    set_status(s, SOCK_ST_OPEN | (v6 ? SOCK_ST_PEER6 : 0), 0);
    return s->idx;
}

static int64_t do_connect(void *ctx, struct keel_msg *m)
{
    if (m->mr[0] > 0xffffffffu)
        return SOCK_E_INVALID;
    ip_addr_t to;
    ip_addr_set_ip4_u32_val(to, lwip_htonl((uint32_t)m->mr[0]));
    return connect_to(ctx, &to, m->mr[1]);
}

static int64_t do_connect6(void *ctx, struct keel_msg *m)
{
    ip_addr_t to;
    memset(&to, 0, sizeof to);
    IP_SET_TYPE_VAL(to, IPADDR_TYPE_V6);
    memcpy(ip_2_ip6(&to)->addr, &m->mr[0], 16);
    ip6_addr_clear_zone(ip_2_ip6(&to));
    const ip6_addr_t *a = ip_2_ip6(&to);
    if (ip6_addr_isany(a) || ip6_addr_ismulticast(a) || ip6_addr_isloopback(a) || ip6_addr_islinklocal(a))
        return SOCK_E_INVALID; /* no zone to send a link-local destination out of */
    return connect_to(ctx, &to, m->mr[2]);
}

static int64_t do_addrs6(void *ctx, struct keel_msg *m)
{
    struct nsock *s = sock_of(ctx);
    if (!(st_of(s)->status & SOCK_ST_PEER6))
        return SOCK_E_WRONG_TYPE;
    if (!s->tcp || !IP_IS_V6_VAL(s->tcp->remote_ip))
        return SOCK_E_INVALID;
    memcpy(&m->mr[0], ip_2_ip6(&s->tcp->remote_ip)->addr, 16);
    memcpy(&m->mr[2], ip_2_ip6(&s->tcp->local_ip)->addr, 16);
    return 0;
}

/* SOCK_UDP_BIND and SOCK_UDP_BIND6: a UDP socket on PORT, IPv4 only or
 * dual stack (V6). */
static int64_t udp_bind_to(void *ctx, struct keel_msg *m, bool v6)
{
    struct nsock_client *c = caller(ctx);
    if (m->mr[0] == 0 || m->mr[0] > 0xffff)
        return SOCK_E_INVALID;
    struct nsock *s = alloc_sock(c, NSOCK_UDP);
    if (!s)
        return SOCK_E_NO_SOCKETS;
    struct udp_pcb *pcb = udp_new_ip_type(v6 ? IPADDR_TYPE_ANY : IPADDR_TYPE_V4);
    if (!pcb) {
        unalloc_sock(s);
        return SOCK_E_NO_MEMORY;
    }
    if (udp_bind(pcb, v6 ? IP_ANY_TYPE : IP4_ADDR_ANY, (u16_t)m->mr[0]) != ERR_OK) {
        udp_remove(pcb);
        unalloc_sock(s);
        return SOCK_E_ADDR_IN_USE;
    }
    /* point of no return */
    s->udp = pcb;
    udp_recv(pcb, on_udp, s);
    st_of(s)->local_port = (uint16_t)m->mr[0];
    set_status(s, SOCK_ST_OPEN | SOCK_ST_UDP | (v6 ? SOCK_ST_UDP6 : 0), 0);
    return s->idx;
}

static int64_t do_udp_bind(void *ctx, struct keel_msg *m) { return udp_bind_to(ctx, m, false); }
static int64_t do_udp_bind6(void *ctx, struct keel_msg *m) { return udp_bind_to(ctx, m, true); }

static int64_t do_kick(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct nsock_client *c = caller(ctx);
    for (unsigned w = 0; w < SOCK_EVENT_WORDS; w++) {
        uint64_t bits = __atomic_exchange_n(&c->sh->kicks[w], 0, __ATOMIC_ACQUIRE);
        while (bits) {
            unsigned i = w * 64 + (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            struct nsock *s = sock_at(c, i);
            if (!s)
                continue;
            if (s->kind == NSOCK_TCP) {
                rx_consumed(s);
                rx_drain(s);
                tx_push(s);
            } else if (s->kind == NSOCK_UDP) {
                udp_push(s);
            }
        }
    }
    return 0;
}

static int64_t do_shutdown(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct nsock *s = sock_of(ctx);
    s->shut_wr = true;
    tx_push(s);
    return 0;
}

static int64_t do_close(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct nsock *s = sock_of(ctx);
    if (s->listener >= 0)
        return SOCK_E_BAD_SOCKET; /* not handed out yet: SOCK_ACCEPT it first */
    /* The window for what the client consumed goes back first: lwIP's
     * tcp_close answers with a RST (and the peer loses what it had not yet
     * read) whenever the receive window is not whole, and a client that
     * read to EOF and closed before its kick was handled would look like
     * one that left data unread (test_netd's 20 MB echo was reset so). */
    if (s->kind == NSOCK_TCP)
        rx_consumed(s);
    free_sock(s, false);
    return 0;
}

static int64_t do_setopt(void *ctx, struct keel_msg *m)
{
    struct nsock *s = sock_of(ctx);
    if (m->mr[1] != SOCK_OPT_NODELAY && m->mr[1] != SOCK_OPT_KEEPALIVE)
        return SOCK_E_INVALID;
    if (!s->tcp)
        return 0; /* reset already: nothing to set */
    if (m->mr[1] == SOCK_OPT_NODELAY) {
        if (m->mr[2])
            tcp_nagle_disable(s->tcp);
        else
            tcp_nagle_enable(s->tcp);
    } else if (m->mr[2]) {
        s->tcp->keep_idle = (u32_t)(m->mr[2] > 7200 ? 7200 : m->mr[2]) * 1000u;
        ip_set_option(s->tcp, SOF_KEEPALIVE);
    } else {
        ip_reset_option(s->tcp, SOF_KEEPALIVE);
    }
    return 0;
}

static const struct srv_handler handlers[] = {
    { SOCK_HELLO, 0, do_hello },           { SOCK_TCP_LISTEN, 2, do_listen }, { SOCK_ACCEPT, 1, do_accept },
    { SOCK_TCP_CONNECT, 2, do_connect },   { SOCK_UDP_BIND, 1, do_udp_bind }, { SOCK_KICK, 0, do_kick },
    { SOCK_SHUTDOWN, 1, do_shutdown },     { SOCK_CLOSE, 1, do_close },       { SOCK_SETOPT, 3, do_setopt },
    { SOCK_TCP_CONNECT6, 3, do_connect6 }, { SOCK_ADDRS6, 1, do_addrs6 },     { SOCK_UDP_BIND6, 1, do_udp_bind6 },
};

int netd_sock_dispatch(struct netd_socks *ss, struct keel_msg *m)
{
    const struct srv_loop l = {
        .handlers = handlers, .n_handlers = sizeof handlers / sizeof handlers[0], .admit = admit, .ctx = ss
    };
    return srv_dispatch(&l, m);
}

/* --------------------------------------------------------------- setup -- */

/* Maps client NAME's region at AT: sock-NAME (slot RX, read-write), then
 * socktx-NAME right after it (read-only: netd only reads the tx pool),
 * and sets C's pools up; the rx pool's links go in a frame of netd's own
 * at LINKS.  0 or the error (a mapping made stays: netd_sock_init skips
 * the client, and the addresses are not reused). */
static int64_t map_region(const struct keel_srvinfo *si, struct nsock_client *c, uint64_t rx, uint64_t at,
                          uint64_t links)
{
    uint64_t tx = srv_find_cap_of(si, "shm:socktx-", c->name), rx_pages = 0, tx_pages = 0;
    int64_t err = keel_frame_info(rx, NULL, &rx_pages);
    if (!err)
        err = tx ? keel_frame_info(tx, NULL, &tx_pages) : KE_EMPTY_SLOT;
    if (!err && (rx_pages <= SOCK_HDR_PAGES || rx_pages - SOCK_HDR_PAGES > SOCK_POOL_MAX || !tx_pages ||
                 tx_pages > SOCK_POOL_MAX))
        err = KE_RANGE;
    if (!err)
        err = keel_map(SRV_SLOT_TASK, rx, at, RIGHT_READ | RIGHT_WRITE);
    if (!err)
        err = keel_map(SRV_SLOT_TASK, tx, at + rx_pages * 4096ull, RIGHT_READ);
    uint32_t pool = (uint32_t)(rx_pages - SOCK_HDR_PAGES);
    if (!err)
        err = map_new(links, (pool * 2u + 4095u) / 4096u);
    if (err)
        return err;
    c->base = (uint8_t *)at;
    c->sh = (struct sock_shared *)at;
    c->rx_base = c->base + SOCK_RX_PAGE_OFFSET(0);
    c->tx_base = (uint8_t *)(at + rx_pages * 4096ull);
    c->tx_pool = (uint32_t)tx_pages;
    sock_pool_init(&c->rx, (uint16_t *)links, 0, pool);
    return 0;
}

void netd_sock_init(struct netd_socks *ss, const struct keel_srvinfo *si, uint64_t va)
{
    unsigned slot = 0; /* address slots used, mapped or not */
    const char *name;
    uint64_t badge;
    for (uint32_t i = 0; (name = srv_next_client(si, &i, &badge)) != NULL;) {
        uint64_t shm = srv_find_cap_of(si, "shm:sock-", name), sig = srv_find_cap_of(si, "signal:sock-", name);
        if (!shm || !sig)
            continue; /* a client of netd without sockets */
        if (slot == NETD_SOCK_CLIENTS) {
            ulog("netd: sock: more than %d clients; %s ignored\n", NETD_SOCK_CLIENTS, name);
            continue;
        }
        struct nsock_client *c = &ss->c[ss->n];
        memset(c, 0, sizeof *c);
        strlcpy(c->name, name, sizeof c->name);
        int64_t err = map_region(si, c, shm, va + slot * NETD_SOCK_STRIDE, LINKS_VA(va) + slot * LINK_STRIDE);
        c->chunk_va = TABLES_VA(va) + slot * NSOCK_CHUNKS * NSOCK_CHUNK_STRIDE;
        slot++; /* a half-mapped region: never reused */
        if (err) {
            ulog("netd: sock: %s: cannot map its region (error %lld; it needs `share sock-%s N share socktx-%s M`, "
                 "N = %u + rx pool pages, M = tx pool pages, pools 1..%u pages; default %u and %u)\n",
                 name, (long long)err, name, name, (unsigned)SOCK_HDR_PAGES, (unsigned)SOCK_POOL_MAX,
                 (unsigned)SOCK_SHM_PAGES, (unsigned)SOCK_SHM_TX_PAGES);
            continue;
        }
        if (!chunk_map(c, 0))
            continue;
        ss->n++;
        c->badge = badge;
        c->signal = sig;
        /* The client said HELLO to an earlier run of netd: its sockets died
         * with that run.  Magic 0 tells it the session is gone (socket.h),
         * and the signal wakes it to look. */
        if (ld(&c->sh->magic) == SOCK_MAGIC) {
            st(&c->sh->magic, 0);
            (void)keel_signal(sig, SOCK_EVENT_BIT);
            ulog("netd: sock: %s: its session was with an earlier netd: told it to start again\n", name);
        }
        ulog("netd: sock: client %s (badge %llu), %u sockets, rx pool %u pages, tx pool %u pages\n", name,
             (unsigned long long)c->badge, SOCK_MAX, c->rx.pages, c->tx_pool);
    }
    if (ss->n)
        sys_timeout(SOCK_DEATH_POLL_MS, poll_deaths, ss);
}

/* Pages came back to C's rx pool: drains the sockets that waited for one. */
static void retry_starved(struct nsock_client *c)
{
    c->rx_retry = false;
    for (unsigned w = 0; w < SOCK_EVENT_WORDS && c->rx.nfree; w++) {
        uint64_t bits = c->rx_starved[w];
        while (bits && c->rx.nfree) {
            unsigned i = w * 64 + (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            struct nsock *s = sock_at(c, i);
            if (s && s->kind == NSOCK_TCP)
                rx_drain(s);
            else
                c->rx_starved[w] &= ~(1ull << (i % 64));
        }
    }
}

void netd_sock_flush(struct netd_socks *ss)
{
    for (unsigned i = 0; i < ss->n; i++) {
        struct nsock_client *c = &ss->c[i];
        if (c->rx_retry && c->hello)
            retry_starved(c);
        if (c->dirty) {
            (void)keel_signal(c->signal, SOCK_EVENT_BIT);
            c->dirty = false;
        }
    }
}

void netd_sock_log_stats(const struct netd_socks *ss)
{
    for (unsigned i = 0; i < ss->n; i++) {
        const struct nsock_client *c = &ss->c[i];
        unsigned n[4] = { 0 }, chunks = 0;
        for (unsigned k = 0; k < NSOCK_CHUNKS; k++) {
            if (!c->chunk[k])
                continue;
            chunks++;
            for (unsigned j = 0; j < NSOCK_CHUNK; j++)
                n[c->chunk[k][j].kind]++;
        }
        ulog("netd: sock: %s: %u open (listen %u tcp %u udp %u); peak %u, table %u KiB; rx pages %u in use (peak %u "
             "of %u); accepted %llu refused %llu udp-dropped %llu udp-refused %llu hellos %llu deaths %llu\n",
             c->name, c->open, n[NSOCK_LISTEN], n[NSOCK_TCP], n[NSOCK_UDP], c->open_peak,
             (unsigned)(chunks * CHUNK_PAGES * 4), c->rx.pages - c->rx.nfree, c->rx_pages_peak, c->rx.pages,
             (unsigned long long)c->accepted, (unsigned long long)c->refused, (unsigned long long)c->udp_dropped,
             (unsigned long long)c->udp_refused, (unsigned long long)c->hellos, (unsigned long long)c->deaths);
    }
}
