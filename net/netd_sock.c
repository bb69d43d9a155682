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
 *   UDP      a bound udp pcb
 * An accepted connection takes its index at lwIP's accept callback (so
 * bytes that come before SOCK_ACCEPT already go into its ring); no free
 * index or a full queue: the connection is aborted (counted: refused).
 *
 * Memory: per socket at most TCP_WND received bytes held (rx ring + pend,
 * a list of pbufs counted in pend_bytes:
 * lwIP gets tcp_recved only for bytes the client consumed), TCP_SND_BUF
 * queued in lwIP (tcp_write copies; tx_tail moves when lwIP took bytes).
 * Nothing is allocated here beyond lwIP's pools.
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
 * Not handled: SO_REUSEADDR (lwipopts.h has no SO_REUSE: a port
 * whose connection netd closed actively stays taken during TIME_WAIT);
 * IPv6; a close that lingers for bytes still in the tx ring.
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

#define RING_MASK     (SOCK_RING_BYTES - 1)
#define CLIENT_STRIDE 0x800000ull /* 8 MiB per client region (4 MiB + 12 KiB used) */
_Static_assert((SOCK_RING_BYTES & RING_MASK) == 0, "ring size is a power of two");
_Static_assert((SOCK_SHM_PAGES + SOCK_SHM_TX_PAGES) * 4096ull <= CLIENT_STRIDE, "a region fits its stride");
_Static_assert(SOCK_MAX <= 0x7fff, "indices fit the int16_t queue links");

/* ------------------------------------------------------------- helpers -- */

static struct sock_state *st_of(const struct nsock *s) { return &s->c->sh->s[s->idx]; }
static uint8_t *rx_of(const struct nsock *s) { return s->c->base + SOCK_RX_OFFSET(s->idx); }
static uint8_t *tx_of(const struct nsock *s) { return s->c->base + SOCK_TX_OFFSET(s->idx); }
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

/* Copies N bytes from SRC into the ring R at position POS (wraps). */
static void ring_put(uint8_t *r, uint32_t pos, const void *src, uint32_t n)
{
    uint32_t off = pos & RING_MASK, first = n < SOCK_RING_BYTES - off ? n : SOCK_RING_BYTES - off;
    memcpy(r + off, src, first);
    memcpy(r, (const uint8_t *)src + first, n - first);
}

static void ring_get(const uint8_t *r, uint32_t pos, void *dst, uint32_t n)
{
    uint32_t off = pos & RING_MASK, first = n < SOCK_RING_BYTES - off ? n : SOCK_RING_BYTES - off;
    memcpy(dst, r + off, first);
    memcpy((uint8_t *)dst + first, r, n - first);
}

/* Free room in S's rx ring, by the client's rx_tail (clamped). */
static uint32_t rx_room(const struct nsock *s)
{
    uint32_t used = s->rx_head - ld(&st_of(s)->rx_tail);
    return used > SOCK_RING_BYTES ? 0 : SOCK_RING_BYTES - used;
}

/* ------------------------------------------------------------ TCP data -- */

/* Moves pend into the rx ring as far as it fits; EOF once all is in.
 * pend is a list of pbufs linked by next, longer than a pbuf's 16-bit
 * tot_len can count (TCP_WND is 256 KiB), so only each pbuf's own len is
 * used, and consumed pbufs are freed one at a time. */
static void rx_drain(struct nsock *s)
{
    uint32_t room = rx_room(s);
    while (s->pend && room) {
        struct pbuf *p = s->pend;
        uint32_t n = p->len < room ? p->len : room;
        ring_put(rx_of(s), s->rx_head, p->payload, n);
        s->rx_head += n;
        room -= n;
        s->pend_bytes -= n;
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
        uint32_t off = s->tx_tail & RING_MASK, n = avail;
        if (n > SOCK_RING_BYTES - off)
            n = SOCK_RING_BYTES - off;
        if (n > tcp_sndbuf(s->tcp))
            n = tcp_sndbuf(s->tcp);
        if (!n || tcp_write(s->tcp, tx_of(s) + off, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
            break; /* full: tcp_sent or tcp_poll comes back here */
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

static struct nsock *alloc_sock(struct nsock_client *c, uint8_t kind)
{
    for (unsigned i = 0; i < SOCK_MAX; i++) {
        struct nsock *s = &c->s[i];
        if (s->kind != NSOCK_FREE)
            continue;
        memset(s, 0, sizeof *s);
        s->kind = kind;
        s->idx = (uint16_t)i;
        s->listener = s->qnext = s->qhead = s->qtail = -1;
        s->c = c;
        memset(&c->sh->s[i], 0, sizeof c->sh->s[i]);
        return s;
    }
    return NULL;
}

/* Frees S (and, for a listener, the connections still in its queue).
 * ABORT: RST instead of an orderly close (a dead client's sockets). */
static void free_sock(struct nsock *s, bool abort)
{
    if (s->kind == NSOCK_LISTEN)
        for (int i = s->qhead; i >= 0;) {
            int next = s->c->s[i].qnext; /* read before free_sock clears it */
            free_sock(&s->c->s[i], true);
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
    unsigned idx = s->idx;
    memset(s, 0, sizeof *s);
    memset(&c->sh->s[idx], 0, sizeof c->sh->s[idx]);
    event_idx(c, idx);
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
        c->s[l->qtail].qnext = (int16_t)s->idx;
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
    uint32_t len = p->tot_len, rec = 8 + ((len + 7) & ~7u);
    if (len > SOCK_DGRAM_MAX || rec > rx_room(s)) {
        st(&st_of(s)->rx_dropped, ld(&st_of(s)->rx_dropped) + 1);
        s->c->udp_dropped++;
        pbuf_free(p);
        return;
    }
    struct sock_dgram h = { .ip = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(addr))), .port = port, .len = (uint16_t)len };
    pbuf_copy_partial(p, tmp, (u16_t)len, 0);
    pbuf_free(p);
    ring_put(rx_of(s), s->rx_head, &h, sizeof h);
    ring_put(rx_of(s), s->rx_head + 8, tmp, len);
    s->rx_head += rec;
    st(&st_of(s)->rx_head, s->rx_head);
    event(s);
}

/* Sends the datagram records the client put into tx. */
static void udp_push(struct nsock *s)
{
    uint32_t avail = ld(&st_of(s)->tx_head) - s->tx_tail;
    if (avail > SOCK_RING_BYTES)
        avail = 0;
    uint32_t start = s->tx_tail;
    while (avail >= sizeof(struct sock_dgram)) {
        struct sock_dgram h;
        ring_get(tx_of(s), s->tx_tail, &h, sizeof h);
        uint32_t rec = 8 + ((h.len + 7u) & ~7u);
        if (h.len > SOCK_DGRAM_MAX || rec > avail) {
            s->tx_tail += avail; /* garbage: the client's bug; skip it all */
            break;
        }
        struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, h.len, PBUF_RAM);
        if (!p)
            break; /* out of memory: the next kick tries again */
        ring_get(tx_of(s), s->tx_tail + 8, p->payload, h.len);
        ip_addr_t to;
        ip_addr_set_ip4_u32_val(to, lwip_htonl(h.ip));
        (void)udp_sendto(s->udp, p, &to, h.port);
        pbuf_free(p);
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

/* The caller's socket numbered by m->mr[0], of KIND, or an error. */
static int64_t sock_arg(struct netd_socks *ss, struct keel_msg *m, uint8_t kind, struct nsock **out)
{
    struct nsock_client *c = client_of(ss, m->badge);
    if (!c)
        return SOCK_E_NO_CLIENT;
    if (!c->hello)
        return SOCK_E_NO_HELLO;
    if (m->mr[0] >= SOCK_MAX || c->s[m->mr[0]].kind == NSOCK_FREE)
        return SOCK_E_BAD_SOCKET;
    *out = &c->s[m->mr[0]];
    if (kind != NSOCK_FREE && (*out)->kind != kind)
        return SOCK_E_WRONG_TYPE;
    return 0;
}

static int64_t caller(struct netd_socks *ss, struct keel_msg *m, struct nsock_client **out)
{
    *out = client_of(ss, m->badge);
    if (!*out)
        return SOCK_E_NO_CLIENT;
    return (*out)->hello ? 0 : SOCK_E_NO_HELLO;
}

/* Aborts every socket of C (queued connections first go with their
 * listener) and clears its region's header; returns how many it closed. */
static unsigned client_drop(struct nsock_client *c)
{
    unsigned closed = 0;
    for (unsigned i = 0; i < SOCK_MAX; i++)
        if (c->s[i].kind != NSOCK_FREE && c->s[i].listener < 0) {
            free_sock(&c->s[i], true);
            closed++;
        }
    for (unsigned i = 0; i < SOCK_MAX; i++) /* queued ones went with their listener */
        if (c->s[i].kind != NSOCK_FREE) {
            free_sock(&c->s[i], true);
            closed++;
        }
    memset(c->sh, 0, sizeof *c->sh);
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
    struct nsock_client *c = client_of(ctx, m->badge);
    if (!c)
        return SOCK_E_NO_CLIENT;
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
    struct nsock_client *c;
    int64_t e = caller(ctx, m, &c);
    if (e)
        return e;
    if (m->mr[0] == 0 || m->mr[0] > 0xffff || m->mr[1] == 0 || m->mr[1] > SOCK_MAX)
        return SOCK_E_INVALID;
    uint8_t lwip_backlog = m->mr[1] > 255 ? 255 : (uint8_t)m->mr[1]; /* lwIP's is a u8 */
    struct nsock *s = alloc_sock(c, NSOCK_LISTEN);
    if (!s)
        return SOCK_E_NO_SOCKETS;
    struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY); /* dual stack: IPv4 and IPv6 clients */
    if (!pcb) {
        s->kind = NSOCK_FREE;
        return SOCK_E_NO_MEMORY;
    }
    if (tcp_bind(pcb, IP_ANY_TYPE, (u16_t)m->mr[0]) != ERR_OK) {
        tcp_abort(pcb);
        s->kind = NSOCK_FREE;
        return SOCK_E_ADDR_IN_USE;
    }
    err_t err = ERR_OK;
    struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(pcb, lwip_backlog, &err);
    if (!lpcb) {
        tcp_abort(pcb);
        s->kind = NSOCK_FREE;
        return SOCK_E_NO_MEMORY;
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
    struct nsock *l;
    int64_t e = sock_arg(ctx, m, NSOCK_LISTEN, &l);
    if (e)
        return e;
    if (l->qhead < 0)
        return SOCK_E_AGAIN;
    struct nsock *s = &l->c->s[l->qhead];
    l->qhead = s->qnext;
    if (l->qhead < 0)
        l->qtail = -1;
    l->nq--;
    if (!l->nq)
        set_status(l, 0, SOCK_ST_ACCEPT);
    s->listener = s->qnext = -1;
    return s->idx;
}

static int64_t do_connect(void *ctx, struct keel_msg *m)
{
    struct nsock_client *c;
    int64_t e = caller(ctx, m, &c);
    if (e)
        return e;
    if (m->mr[1] == 0 || m->mr[1] > 0xffff || m->mr[0] > 0xffffffffu)
        return SOCK_E_INVALID;
    struct nsock *s = alloc_sock(c, NSOCK_TCP);
    if (!s)
        return SOCK_E_NO_SOCKETS;
    struct tcp_pcb *pcb = tcp_new();
    if (!pcb) {
        s->kind = NSOCK_FREE;
        return SOCK_E_NO_MEMORY;
    }
    ip_addr_t to;
    ip_addr_set_ip4_u32_val(to, lwip_htonl((uint32_t)m->mr[0]));
    tcp_hook(s, pcb);
    if (tcp_connect(pcb, &to, (u16_t)m->mr[1], on_connected) != ERR_OK) {
        tcp_unhook(pcb);
        tcp_abort(pcb);
        s->tcp = NULL;
        s->kind = NSOCK_FREE;
        return SOCK_E_NO_MEMORY;
    }
    struct sock_state *ss = st_of(s);
    ss->peer_ip = (uint32_t)m->mr[0];
    ss->peer_port = (uint16_t)m->mr[1];
    ss->local_port = pcb->local_port;
    set_status(s, SOCK_ST_OPEN, 0);
    return s->idx;
}

static int64_t do_udp_bind(void *ctx, struct keel_msg *m)
{
    struct nsock_client *c;
    int64_t e = caller(ctx, m, &c);
    if (e)
        return e;
    if (m->mr[0] == 0 || m->mr[0] > 0xffff)
        return SOCK_E_INVALID;
    struct nsock *s = alloc_sock(c, NSOCK_UDP);
    if (!s)
        return SOCK_E_NO_SOCKETS;
    struct udp_pcb *pcb = udp_new();
    if (!pcb) {
        s->kind = NSOCK_FREE;
        return SOCK_E_NO_MEMORY;
    }
    if (udp_bind(pcb, IP4_ADDR_ANY, (u16_t)m->mr[0]) != ERR_OK) {
        udp_remove(pcb);
        s->kind = NSOCK_FREE;
        return SOCK_E_ADDR_IN_USE;
    }
    s->udp = pcb;
    udp_recv(pcb, on_udp, s);
    st_of(s)->local_port = (uint16_t)m->mr[0];
    set_status(s, SOCK_ST_OPEN | SOCK_ST_UDP, 0);
    return s->idx;
}

static int64_t do_kick(void *ctx, struct keel_msg *m)
{
    struct nsock_client *c;
    int64_t e = caller(ctx, m, &c);
    if (e)
        return e;
    for (unsigned w = 0; w < SOCK_EVENT_WORDS; w++) {
        uint64_t bits = __atomic_exchange_n(&c->sh->kicks[w], 0, __ATOMIC_ACQUIRE);
        while (bits) {
            unsigned i = w * 64 + (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            struct nsock *s = &c->s[i];
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
    struct nsock *s;
    int64_t e = sock_arg(ctx, m, NSOCK_TCP, &s);
    if (e)
        return e;
    s->shut_wr = true;
    tx_push(s);
    return 0;
}

static int64_t do_close(void *ctx, struct keel_msg *m)
{
    struct nsock *s;
    int64_t e = sock_arg(ctx, m, NSOCK_FREE, &s);
    if (e)
        return e;
    if (s->listener >= 0)
        return SOCK_E_BAD_SOCKET; /* not handed out yet: SOCK_ACCEPT it first */
    free_sock(s, false);
    return 0;
}

static int64_t do_setopt(void *ctx, struct keel_msg *m)
{
    struct nsock *s;
    int64_t e = sock_arg(ctx, m, NSOCK_TCP, &s);
    if (e)
        return e;
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
    { SOCK_HELLO, 0, do_hello },         { SOCK_TCP_LISTEN, 2, do_listen }, { SOCK_ACCEPT, 1, do_accept },
    { SOCK_TCP_CONNECT, 2, do_connect }, { SOCK_UDP_BIND, 1, do_udp_bind }, { SOCK_KICK, 0, do_kick },
    { SOCK_SHUTDOWN, 1, do_shutdown },   { SOCK_CLOSE, 1, do_close },       { SOCK_SETOPT, 3, do_setopt },
};

int netd_sock_dispatch(struct netd_socks *ss, struct keel_msg *m)
{
    const struct srv_loop l = { .handlers = handlers, .n_handlers = sizeof handlers / sizeof handlers[0], .ctx = ss };
    return srv_dispatch(&l, m);
}

/* --------------------------------------------------------------- setup -- */

/* Maps one frame SLOT of exactly PAGES pages at AT. */
static int64_t map_exact(uint64_t slot, uint64_t pages, uint64_t at)
{
    uint64_t have = 0;
    int64_t err = slot ? keel_frame_info(slot, NULL, &have) : KE_EMPTY_SLOT;
    if (!err && have != pages)
        err = KE_RANGE; /* a larger sock-C would overlap socktx-C */
    if (!err)
        err = keel_map(SRV_SLOT_TASK, slot, at, RIGHT_READ | RIGHT_WRITE);
    return err;
}

/* Maps client NAME's region at AT: sock-NAME, then socktx-NAME right
 * after it (socket.h).  0 or the error (the first mapping then stays:
 * netd_sock_init skips the client, and the address is not reused). */
static int64_t map_region(const struct keel_srvinfo *si, const char *name, uint64_t rx, uint64_t at)
{
    char full[32];
    snprintf(full, sizeof full, "shm:socktx-%s", name);
    uint64_t tx = srv_find_cap(si, full);
    int64_t err = map_exact(rx, SOCK_SHM_PAGES, at);
    if (!err)
        err = map_exact(tx, SOCK_SHM_TX_PAGES, at + SOCK_SHM_PAGES * 4096ull);
    return err;
}

void netd_sock_init(struct netd_socks *ss, const struct keel_srvinfo *si, uint64_t va)
{
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++) {
        const struct keel_srv_cap *cap = &si->caps[i];
        if (cap->type != CAP_NONE || strncmp(cap->name, "client:", 7) != 0)
            continue;
        const char *name = cap->name + 7;
        char full[32];
        snprintf(full, sizeof full, "shm:sock-%s", name);
        uint64_t shm = srv_find_cap(si, full);
        snprintf(full, sizeof full, "signal:sock-%s", name);
        uint64_t sig = srv_find_cap(si, full);
        if (!shm || !sig)
            continue; /* a client of netd without sockets */
        if (ss->n == NETD_SOCK_CLIENTS) {
            ulog("netd: sock: more than %d clients; %s ignored\n", NETD_SOCK_CLIENTS, name);
            continue;
        }
        uint64_t at = va + ss->n * CLIENT_STRIDE;
        int64_t err = map_region(si, name, shm, at);
        if (err) {
            ulog("netd: sock: %s: cannot map its region (error %lld; it needs `share sock-%s %u share socktx-%s "
                 "%u`)\n",
                 name, (long long)err, name, (unsigned)SOCK_SHM_PAGES, name, (unsigned)SOCK_SHM_TX_PAGES);
            va += CLIENT_STRIDE; /* a half-mapped region: never reused */
            continue;
        }
        struct nsock_client *c = &ss->c[ss->n++];
        memset(c, 0, sizeof *c);
        strlcpy(c->name, name, sizeof c->name);
        c->badge = cap->slot;
        c->signal = sig;
        c->base = (uint8_t *)at;
        c->sh = (struct sock_shared *)at;
        for (unsigned k = 0; k < SOCK_MAX; k++)
            c->s[k].c = c;
        /* The client said HELLO to an earlier run of netd: its sockets died
         * with that run.  Magic 0 tells it the session is gone (socket.h),
         * and the signal wakes it to look. */
        if (ld(&c->sh->magic) == SOCK_MAGIC) {
            st(&c->sh->magic, 0);
            (void)keel_signal(sig, SOCK_EVENT_BIT);
            ulog("netd: sock: %s: its session was with an earlier netd: told it to start again\n", name);
        }
        ulog("netd: sock: client %s (badge %llu), %u sockets\n", name, (unsigned long long)c->badge, SOCK_MAX);
    }
    if (ss->n)
        sys_timeout(SOCK_DEATH_POLL_MS, poll_deaths, ss);
}

void netd_sock_flush(struct netd_socks *ss)
{
    for (unsigned i = 0; i < ss->n; i++)
        if (ss->c[i].dirty) {
            (void)keel_signal(ss->c[i].signal, SOCK_EVENT_BIT);
            ss->c[i].dirty = false;
        }
}

void netd_sock_log_stats(const struct netd_socks *ss)
{
    for (unsigned i = 0; i < ss->n; i++) {
        const struct nsock_client *c = &ss->c[i];
        unsigned n[4] = { 0 };
        for (unsigned k = 0; k < SOCK_MAX; k++)
            n[c->s[k].kind]++;
        ulog("netd: sock: %s: %u open (listen %u tcp %u udp %u); accepted %llu refused %llu udp-dropped %llu "
             "hellos %llu deaths %llu\n",
             c->name, SOCK_MAX - n[NSOCK_FREE], n[NSOCK_LISTEN], n[NSOCK_TCP], n[NSOCK_UDP],
             (unsigned long long)c->accepted, (unsigned long long)c->refused, (unsigned long long)c->udp_dropped,
             (unsigned long long)c->hellos, (unsigned long long)c->deaths);
    }
}
