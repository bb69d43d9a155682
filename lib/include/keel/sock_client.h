/*
 * keel/sock_client.h - the thin client library of netd's socket service
 * (abi/keel/socket.h).  One struct sock_client per task; single-threaded.
 *
 * Data calls (sock_send, sock_recv, sock_sendto, sock_recvfrom) only touch
 * the shared rings; netd learns of them at the next sock_kick (one call
 * for any number of sockets), which the caller makes after a batch: netd
 * sends nothing and opens no receive window until then.
 * Every function returns >= 0 on success or a negative enum sock_error
 * (SOCK_E_AGAIN: nothing now, wait with sock_wait and try again).
 */
#ifndef KEEL_LIB_SOCK_CLIENT_H
#define KEEL_LIB_SOCK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <keel/sock_ring.h>
#include <keel/socket.h>

struct keel_srvinfo;

struct sock_client {
    uint64_t ep;   /* ep:netd */
    uint64_t ntfn; /* notify:sock-NAME */
    struct sock_shared *sh;
    uint8_t *base;
    uint8_t *tx_base;                   /* socktx-NAME, the tx pool (mapped right after sock-NAME) */
    uint32_t rx_pool;                   /* pages in netd's rx pool (for checking rx page entries) */
    struct sock_pool tx;                /* the tx pool's free pages (links in its first pages) */
    uint64_t ev[SOCK_EVENT_WORDS];      /* events taken from the region, not yet handed out */
    unsigned ev_words;                  /* words that can hold events: past the highest socket netd gave us */
    unsigned ev_cursor;                 /* where sock_next_event's sweep goes on */
    uint64_t starved[SOCK_EVENT_WORDS]; /* sockets whose send found the tx pool empty */
    uint32_t lock;                      /* the above and the tx page lists, for a client's threads (sock_client.c) */
};

/* Finds ep:netd, shm:sock-NAME, shm:socktx-NAME and notify:sock-NAME
 * (NAME = si->name), maps the region at VA (the two frames' pages:
 * SOCK_SHM_PAGES + SOCK_SHM_TX_PAGES with the default pools; keep the
 * range unused up to the largest pools the manifest may grant) and says
 * SOCK_HELLO, which closes what an earlier run of this task left open. */
int sock_open(struct sock_client *c, const struct keel_srvinfo *si, uint64_t va) __attribute__((warn_unused_result));

int sock_tcp_listen(struct sock_client *c, uint16_t port, unsigned backlog);
int sock_accept(struct sock_client *c, int listener);
int sock_tcp_connect(struct sock_client *c, uint32_t ip, uint16_t port);
/* A TCP connection to an IPv6 address (16 bytes, network order; global or
 * unique-local: netd refuses ::, loopback, multicast and link-local). */
int sock_tcp_connect6(struct sock_client *c, const uint8_t ip[16], uint16_t port);
/* The peer's and the local IPv6 address of TCP socket S (SOCK_ST_PEER6):
 * 0, or SOCK_E_WRONG_TYPE (IPv4) or SOCK_E_INVALID (the connection is gone). */
int sock_addrs6(struct sock_client *c, int s, uint8_t peer[16], uint8_t local[16]);
int sock_udp_bind(struct sock_client *c, uint16_t port);
/* A dual-stack UDP socket (SOCK_ST_UDP6): IPv4 and IPv6 datagrams. */
int sock_udp_bind6(struct sock_client *c, uint16_t port);
int sock_shutdown(struct sock_client *c, int s);
int sock_close(struct sock_client *c, int s);
int sock_setopt(struct sock_client *c, int s, enum sock_opt opt, uint64_t value);
int sock_kick(struct sock_client *c);

/* Copies up to N bytes into S's tx ring: the count (0 when full, when the
 * tx pool has no free page, or N is 0), or SOCK_E_BAD_SOCKET when S is
 * out of range or was reset.  Call sock_kick after. */
long sock_send(struct sock_client *c, int s, const void *buf, size_t n);
/* Takes up to N bytes from S's rx ring: the count; 0 = EOF (the peer's FIN
 * and all bytes read); SOCK_E_AGAIN = nothing yet; SOCK_E_BAD_SOCKET once
 * the connection was reset and rx is empty.  sock_kick after. */
long sock_recv(struct sock_client *c, int s, void *buf, size_t n);
/* Bytes in S's tx ring netd has not taken yet. */
uint32_t sock_unsent(const struct sock_client *c, int s);
/* Bytes a sock_send on S takes whole now: the ring's room (a little less
 * than SOCK_RING_BYTES - sock_unsent: pages are whole) as far as the tx
 * pool can back it (when the pool is what limits it, S is handed out by
 * sock_next_event once pages come back).  Also gives back S's pages netd
 * is done with. */
uint32_t sock_tx_room(struct sock_client *c, int s);
/* One datagram (n <= SOCK_DGRAM_MAX) into S's tx ring: 0, or SOCK_E_AGAIN
 * when it does not fit now.  sock_kick after. */
int sock_sendto(struct sock_client *c, int s, uint32_t ip, uint16_t port, const void *buf, size_t n);
/* The same to an IPv6 address (16 bytes, network order) from a socket of
 * sock_udp_bind6 (else SOCK_E_WRONG_TYPE).  netd skips (and counts) a
 * datagram to ::, loopback, multicast or link-local. */
int sock_sendto6(struct sock_client *c, int s, const uint8_t ip[16], uint16_t port, const void *buf, size_t n);
/* One datagram: its length (cut to N), source in *ip / *port (*ip = 0 for
 * an IPv6 source: use sock_recvfrom6 on a dual-stack socket); SOCK_E_AGAIN. */
long sock_recvfrom(struct sock_client *c, int s, void *buf, size_t n, uint32_t *ip, uint16_t *port);
/* A datagram's source. */
struct sock_from {
    bool v6;         /* ip6 holds the address, else ip */
    uint32_t ip;     /* IPv4, host order */
    uint8_t ip6[16]; /* network order */
    uint16_t port;   /* host order */
};
/* One datagram: its length (cut to N), its source in *FROM (may be NULL);
 * SOCK_E_AGAIN.  A record that does not parse (sock_dgram_check: netd never
 * writes one) drops the ring's bytes and reads as SOCK_E_AGAIN. */
long sock_recvfrom6(struct sock_client *c, int s, void *buf, size_t n, struct sock_from *from);
/* S's status word (SOCK_ST_*). */
uint32_t sock_status(const struct sock_client *c, int s);
/* The next socket netd flagged as changed (socket.h: events), taking the
 * shared bitmap when the taken one is used up; -1 when none is.  A caller
 * that looks at every socket anyway need not call it. */
int sock_next_event(struct sock_client *c);
/* Blocks until netd signals (or another bit of the same notification, e.g.
 * a timer armed on it); the notification's bits: SOCK_EVENT_BIT means
 * "call sock_next_event". */
uint64_t sock_wait(struct sock_client *c);
/* True when the session that sock_open began is gone (socket.h: netd
 * restarted, or took this task for dead): every socket is lost, and the
 * task must start again from sock_open. */
bool sock_session_lost(const struct sock_client *c);

#endif
