/*
 * netd_sock.h - netd's socket service (abi/keel/socket.h) on lwIP's raw
 * API; netd_sock.c says how.  Main thread only, like all of lwIP.
 */
#ifndef NETD_SOCK_H
#define NETD_SOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/sock_ring.h>
#include <keel/socket.h>
#include <keel/sys.h>

#define NETD_SOCK_CLIENTS 4
#define NSOCK_CHUNK       64 /* sockets per chunk of the table, mapped when first needed */
#define NSOCK_CHUNKS      (SOCK_MAX / NSOCK_CHUNK)

struct keel_srvinfo;
struct nsock_client;

/* One socket of one client; kind NSOCK_FREE when the index is unused. */
struct nsock {
    uint8_t kind;        /* NSOCK_* */
    bool fin;            /* the peer's FIN came (p == NULL); RX_EOF once pend is empty */
    bool shut_wr;        /* SOCK_SHUTDOWN asked: FIN once tx is taken */
    bool shut_done;      /* tcp_shutdown done */
    uint16_t idx;        /* its index in the client's table: bit idx of the bitmaps */
    int16_t listener;    /* TCP: the listener whose accept queue holds it, or -1 */
    int16_t qnext;       /* TCP, queued: the next in that accept queue, or -1 */
    int16_t qhead;       /* listener: the oldest connection waiting for SOCK_ACCEPT, or -1 */
    int16_t qtail;       /* listener: the newest, or -1 */
    uint16_t backlog;    /* listener: accept queue limit (<= SOCK_MAX) */
    uint16_t nq;         /* listener: connections in the queue */
    uint32_t tx_tail;    /* netd's own copy: bytes taken from tx (authoritative) */
    uint32_t rx_head;    /* netd's own copy: bytes put into rx */
    uint32_t rx_acked;   /* rx_tail up to which lwIP got tcp_recved */
    struct tcp_pcb *tcp; /* NULL once lwIP freed it (error) */
    struct udp_pcb *udp;
    struct pbuf *pend;      /* received bytes that did not fit rx yet (<= TCP_WND): pbufs linked by next */
    struct pbuf *pend_tail; /* pend's last pbuf (NULL when pend is) */
    uint32_t pend_bytes;    /* bytes in pend (a pbuf's tot_len cannot count past 64 KiB) */
    struct nsock_client *c;
    uint16_t rx_list[SOCK_RING_PAGES]; /* the rx ring's pages: netd's own copy (sock_state.rx_pages mirrors it) */
};

/* A client: its badge, its region (mapped), its notification (signal),
 * its socket table (chunks of NSOCK_CHUNK sockets, each a frame of netd's
 * budget mapped at chunk_va + k * NSOCK_CHUNK_STRIDE while any of its
 * sockets is open; chunk 0 stays) and the rx pool netd hands out. */
struct nsock_client {
    char name[16];
    uint64_t badge;  /* its calls' badge: its manifest index + 1 (init's convention) */
    uint64_t signal; /* signal:sock-NAME slot */
    struct sock_shared *sh;
    uint8_t *base;                         /* the region (sh == base) */
    uint8_t *rx_base;                      /* the rx pool's page 0 (base + SOCK_HDR_PAGES pages) */
    uint8_t *tx_base;                      /* the tx pool's page 0 (socktx-NAME, mapped read-only) */
    uint32_t tx_pool;                      /* the tx pool's pages (page entries beyond it are the client's lie) */
    struct sock_pool rx;                   /* free rx pages; links in netd's own frame */
    uint64_t rx_starved[SOCK_EVENT_WORDS]; /* sockets with bytes waiting for an rx page */
    bool rx_retry;                         /* rx pages came back: drain the starved sockets */
    bool hello;                            /* SOCK_HELLO seen, and that run has not died since */
    bool dirty;                            /* events set since the last netd_sock_flush: signal */
    uint64_t faults;                       /* init's fault count for it at its last SOCK_HELLO */
    uint64_t accepted, refused, udp_dropped, udp_refused, hellos,
        deaths;                        /* udp_refused: tx records sock_dgram_check refused */
    uint64_t chunk_va;                 /* where chunk k maps: chunk_va + k * NSOCK_CHUNK_STRIDE */
    struct nsock *chunk[NSOCK_CHUNKS]; /* NULL: not mapped (every socket of it free) */
    uint16_t chunk_open[NSOCK_CHUNKS]; /* open sockets in chunk k */
    uint32_t open, open_peak;          /* open sockets now, and the most at once */
    uint32_t rx_pages_peak;            /* the most rx pages in use at once */
};

struct netd_socks {
    unsigned n;
    struct nsock_client c[NETD_SOCK_CLIENTS];
    struct nsock_client *caller; /* the client of the request being handled (set by admit) */
    struct nsock *sock;          /* the socket it names, for the requests that name one (set by admit) */
};

/* Finds the clients in SI ("client:C" + shm:sock-C + signal:sock-C),
 * maps each region at VA + i * NETD_SOCK_STRIDE (its socket table's
 * chunks and rx pool links above all the regions, within NETD_SOCK_SPAN
 * of VA) and starts the dead-client poll (an lwIP timeout every
 * SOCK_DEATH_POLL_MS). */
#define NETD_SOCK_STRIDE 0x40000000ull  /* 1 GiB per client region (<= 2 x 65535 pool pages + header) */
#define NETD_SOCK_SPAN   0x180000000ull /* 6 GiB from VA: regions, then tables and links */
void netd_sock_init(struct netd_socks *ss, const struct keel_srvinfo *si, uint64_t va);
/* Handles one request M received on serve:netd; returns whether to reply
 * (M then holds the reply). */
int netd_sock_dispatch(struct netd_socks *ss, struct keel_msg *m);
/* Signals every client its pending event bits.  Once per loop iteration. */
void netd_sock_flush(struct netd_socks *ss);
/* Logs each client's socket table summary ("netd: sock: C: N open ..."). */
void netd_sock_log_stats(const struct netd_socks *ss);

#endif
