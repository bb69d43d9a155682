/*
 * keel/socket.h - netd's socket service: the shared region, the calls and
 * the events.  A client (tlsd, socktest) needs this header and
 * lib/include/keel/sock_client.h only, never netd's internals.
 *
 * Manifest.  netd has `endpoint netd` (serve:netd) and, per client C,
 * `share sock-C 353 share socktx-C 160 signal sock-C` (SOCK_SHM_PAGES,
 * SOCK_SHM_TX_PAGES, or larger pools); client C has `connect netd share sock-C 353 share
 * socktx-C 160 notify sock-C`.  netd finds each client by the "client:C"
 * note in its srvinfo (the badge C's calls carry) and the three grants
 * named sock-C / socktx-C; a client without them gets SOCK_E_NO_CLIENT.
 *
 * The shared region (one per client, mapped by both): two frames mapped
 * back to back.  sock-C is SOCK_HDR_PAGES pages of struct sock_shared
 * (the bitmaps, then one struct sock_state per socket, SOCK_MAX of them)
 * followed by the receive pool; socktx-C is the send pool.  A pool is a
 * set of 4 KiB pages, as many as the manifest grants (the frame's size:
 * SOCK_SHM_PAGES / SOCK_SHM_TX_PAGES are only the defaults the shipped
 * manifests use; at most SOCK_POOL_MAX pages each), shared by all the
 * client's sockets.  Rings are not memory of their own: each ring is a
 * window of SOCK_RING_BYTES (64 KiB) of stream positions, backed page by
 * page by pool pages that need not be contiguous.  Position P of a ring
 * lives in the page named by the ring's page list entry
 * (P / 4096) % SOCK_RING_PAGES, at offset P % 4096; the entry holds the
 * pool page's index + 1, 0 = none.  The producer of a ring owns its pool
 * (netd: rx, pages of sock-C after the header; the client: tx, pages of
 * socktx-C) and its page list: it takes a page when it first writes into
 * a slot, and gives back every page that holds no unconsumed byte once the
 * consumer's tail has passed it (all of them when tail == head).  So an
 * idle socket holds no page, and ring memory follows the bytes in flight.
 * A producer keeps head - (tail & ~4095) <= SOCK_RING_BYTES, so the pages
 * in use never need one slot twice; room = SOCK_RING_BYTES - (head -
 * (tail & ~4095)), less when its pool has no free page (sock_tx_room).
 * The consumer reads an entry only for bytes in [tail, head), after it
 * loaded head (acquire); netd checks every tx entry it reads against the
 * pool's size.  Stream bytes never go through IPC; netd
 * buffers up to TCP_WND per socket beyond the rx ring and lwIP up to
 * TCP_SND_BUF beyond the tx ring, so a ring's size sets how many bytes
 * move per round trip (event, KICK), not the TCP window.  Each ring is
 * single-producer,
 * single-consumer with free-running 32-bit positions (head = bytes ever
 * produced, tail = bytes ever consumed; used = head - tail):
 *   rx: netd produces (rx_head), the client consumes (rx_tail)
 *   tx: the client produces (tx_head), netd consumes (tx_tail)
 * A producer writes the bytes, then publishes head (release); a consumer
 * reads head (acquire), then the bytes, then publishes tail (release).
 * netd never trusts a value the client wrote: it clamps tx_head - tx_tail
 * to the ring size, ignores rx_tail moves beyond rx_head, skips tx bytes
 * whose page entry is out of the pool, and keeps its own copy of the rx
 * page lists and of its free pages (the shared rx lists are for the
 * client to read).  A client that lies only garbles its own streams.
 *
 * UDP sockets carry datagrams in the same rings as records: struct
 * sock_dgram (8 bytes) then the payload, the record padded to 8 bytes; a
 * record may wrap around the ring end.  An IPv6 record (SOCK_DGRAM_IP6 set
 * in sock_dgram.len; ip is 0) has the address's 16 bytes (network order)
 * between the header and the payload: 8 + 16 + payload, padded to 8
 * (sock_dgram_rec).  Only a socket bound with SOCK_UDP_BIND6
 * (SOCK_ST_UDP6) ever sees or may write one; its IPv4 datagrams keep the
 * IPv4 record, so an IPv4-only client's records never change.  rx: netd
 * drops a datagram that does not fit (counted in sock_state.rx_dropped).
 * tx: SOCK_UDP_SENDTO is "write a record, then SOCK_KICK" (the client
 * library's sock_sendto / sock_sendto6).  netd checks every tx header
 * (sock_dgram_check): an IPv6 record on an IPv4-only socket or to an
 * address it will not send to (::, loopback, multicast, link-local) is
 * skipped (SOCK_E_INVALID); a header that claims more bytes than the ring
 * holds (SOCK_E_TRUNCATED) or a bad length ends the ring's bytes as
 * garbage (netd skips to tx_head); either way netd counts it (its
 * per-client "udp-refused", logged with the error code) and goes on.
 *
 * Calls (client -> netd on ep:netd; SRV_LABEL(label, words); the reply
 * label is >= 0 on success or a negative enum sock_error):
 *   SOCK_HELLO ()                       first call after every (re)start:
 *                                       closes every socket the client held
 *                                       (a restarted client's old sockets)
 *                                       and resets the region; -> 0
 *   SOCK_TCP_LISTEN (port, backlog)     -> socket index; SOCK_E_ADDR_IN_USE
 *                                       when another listener has the port
 *                                       (connections in TIME_WAIT on it do
 *                                       not count: SO_REUSEADDR semantics)
 *   SOCK_ACCEPT (listener)              -> socket index, or SOCK_E_AGAIN
 *                                       (wait for SOCK_ST_ACCEPT on it)
 *   SOCK_TCP_CONNECT (ip, port)         -> socket index; SOCK_ST_CONNECTED
 *                                       or SOCK_ST_RESET follows
 *   SOCK_TCP_CONNECT6 (a0, a1, port)    the same to an IPv6 address: its 16
 *                                       bytes (network order) in a0 then a1
 *                                       as memory holds them (memcpy); the
 *                                       socket gets SOCK_ST_PEER6
 *   SOCK_ADDRS6 (socket)                an IPv6 TCP socket's (SOCK_ST_PEER6)
 *                                       addresses -> 0, and in the reply's
 *                                       words: the peer's 16 bytes in
 *                                       mr[0..1], the local address's in
 *                                       mr[2..3] (as SOCK_TCP_CONNECT6);
 *                                       SOCK_E_WRONG_TYPE for an IPv4 or
 *                                       UDP socket, SOCK_E_INVALID once the
 *                                       connection is gone
 *   SOCK_UDP_BIND (port)                -> socket index (IPv4 only)
 *   SOCK_UDP_BIND6 (port)               -> socket index: dual stack, IPv4
 *                                       and IPv6 datagrams (SOCK_ST_UDP6,
 *                                       IPv6 records as above)
 *   SOCK_KICK ()                        the client produced into tx rings
 *                                       and/or consumed from rx rings; netd
 *                                       looks at the sockets flagged in
 *                                       sock_shared.kicks -> 0
 *   SOCK_SHUTDOWN (socket)              no more tx: FIN once the tx ring is
 *                                       sent -> 0
 *   SOCK_CLOSE (socket)                 -> 0; bytes already in the tx ring
 *                                       that netd has not taken (tx_tail <
 *                                       tx_head) are discarded: wait for
 *                                       tx_tail == tx_head first.  Bytes
 *                                       netd took are still sent, then FIN.
 *   SOCK_SETOPT (socket, opt, value)    SOCK_OPT_NODELAY, SOCK_OPT_KEEPALIVE
 *                                       (value = idle seconds, 0 = off) -> 0
 * Ports and addresses: host byte order; ip 10.9.0.2 = 0x0a090002.
 *
 * Events (netd -> client): netd sets bit k of sock_shared.events (an
 * atomic OR, release) when socket k's state word or ring positions changed
 * (readable, writable, accept ready, connected, EOF, reset), then signals
 * the client's notification (notify:sock-C) with SOCK_EVENT_BIT, once per
 * netd loop iteration however many sockets changed.  The client takes the
 * bitmap with an atomic exchange to zero (acquire) and looks at the
 * sockets whose bits were set; bits coalesce and the state word
 * (sock_state.status) says what holds now.  netd never reads events.
 *
 * Kicks (client -> netd): before SOCK_KICK the client sets bit k of
 * sock_shared.kicks for every socket k whose tx it produced into or whose
 * rx it consumed from (the client library does this); netd takes the
 * bitmap (atomic exchange) at SOCK_KICK and looks at those sockets only.
 * A bit the client forgets only delays that socket until its next kick
 * or lwIP's poll (netd polls every TCP socket's tx every second anyway).
 *
 * Flow control: netd gives lwIP back receive window (tcp_recved) only for
 * bytes the client consumed from rx, so a client that does not read closes
 * the TCP window; netd buffers at most TCP_WND per socket beyond the ring.
 *
 * A dead client: the kernel tells netd nothing when a client dies, and
 * init must never call (block on) netd.  So netd asks init: at SOCK_HELLO
 * and every SOCK_DEATH_POLL_MS it calls INIT_STATUS (abi/keel/init.h) for
 * each client that holds sockets, with the client's manifest index (its
 * badge - 1, init's convention for `connect` badges).  When init's fault
 * count for it differs from the one seen at its last SOCK_HELLO, that run
 * of the client is dead: netd aborts all its sockets at once (RST to the
 * peers, memory back to lwIP's pools), marks the region's magic 0 and
 * answers SOCK_E_NO_HELLO to every call until the restarted client says
 * SOCK_HELLO.  init -> nobody, netd -> init: no call cycle.  SOCK_HELLO
 * still closes whatever is left, so a client restarted before netd's poll
 * (init's first back-off is 10 ms) loses its old sockets all the same.
 *
 * A restarted netd: its sockets died with the old run.  The new run finds
 * SOCK_MAGIC in a client's region, sets it to 0 and signals the client
 * (SOCK_EVENT_BIT).  A client that sees magic 0 after its SOCK_HELLO
 * (sock_session_lost in the client library) has lost every socket and
 * starts again: SOCK_HELLO, then its listeners (tlsd simply exits and init
 * restarts it, which does exactly that).
 */
#ifndef KEEL_ABI_SOCKET_H
#define KEEL_ABI_SOCKET_H

#include <keel/errors.h>

#include <stdint.h>

#define SOCK_MAX           8192   /* sockets per client (indices 0..SOCK_MAX-1) */
#define SOCK_RING_BYTES    65536u /* a ring's window each way: a power of two, whole pages */
#define SOCK_RING_PAGES    (SOCK_RING_BYTES / 4096u)
#define SOCK_HDR_PAGES     193u   /* struct sock_shared */
#define SOCK_POOL_MAX      65535u /* pages in a pool at most (a page entry is a uint16_t, 0 = none) */
#define SOCK_POOL_PAGES    160u   /* the shipped manifests' pools: 640 KiB each way (513 pages in all, as before #14) */
#define SOCK_SHM_PAGES     (SOCK_HDR_PAGES + SOCK_POOL_PAGES) /* sock-C: header, rx pool (default) */
#define SOCK_SHM_TX_PAGES  SOCK_POOL_PAGES                    /* socktx-C: tx pool (default) */
#define SOCK_EVENT_BIT     1ull                               /* the one notification bit netd signals */
#define SOCK_EVENT_WORDS   (SOCK_MAX / 64)
#define SOCK_DEATH_POLL_MS 250u
#define SOCK_MAGIC         0x4b534f43u /* "COSK" */

enum sock_label {
    SOCK_HELLO = 1,
    SOCK_TCP_LISTEN = 2,
    SOCK_ACCEPT = 3,
    SOCK_TCP_CONNECT = 4,
    SOCK_UDP_BIND = 5,
    SOCK_KICK = 6,
    SOCK_SHUTDOWN = 7,
    SOCK_CLOSE = 8,
    SOCK_SETOPT = 9,
    SOCK_TCP_CONNECT6 = 10,
    SOCK_ADDRS6 = 11,
    SOCK_UDP_BIND6 = 12,
};

enum sock_error {
    SOCK_E_AGAIN = -901,      /* nothing yet (accept): wait for the event */
    SOCK_E_NO_CLIENT = -902,  /* the caller has no shared region / notification */
    SOCK_E_BAD_SOCKET = -903, /* index out of range, not open, or not the caller's */
    SOCK_E_WRONG_TYPE = -904, /* e.g. accept on a non-listener */
    SOCK_E_NO_SOCKETS = -905, /* all SOCK_MAX sockets of the client in use */
    SOCK_E_ADDR_IN_USE = -906,
    SOCK_E_NO_MEMORY = -907, /* lwIP out of PCBs or memory */
    SOCK_E_INVALID = -908,   /* a bad argument (port 0, unknown option) */
    SOCK_E_NO_HELLO = -909,  /* SOCK_HELLO first */
    SOCK_E_TRUNCATED = -910, /* a datagram record longer than the bytes in the ring */
};
_Static_assert(KEEL_ERR_IN(SOCK, SOCK_E_AGAIN) && KEEL_ERR_IN(SOCK, SOCK_E_TRUNCATED),
               "SOCK_E_* in its range (keel/errors.h)");

enum sock_opt {
    SOCK_OPT_NODELAY = 1,
    SOCK_OPT_KEEPALIVE = 2,
};

/* sock_state.status bits (netd writes, the client reads). */
#define SOCK_ST_OPEN      (1u << 0) /* the index is in use */
#define SOCK_ST_LISTENER  (1u << 1)
#define SOCK_ST_UDP       (1u << 2)
#define SOCK_ST_CONNECTED (1u << 3) /* TCP established (accepted or connected) */
#define SOCK_ST_ACCEPT    (1u << 4) /* listener: a connection waits for SOCK_ACCEPT */
#define SOCK_ST_RX_EOF    (1u << 5) /* the peer sent FIN and rx holds all its bytes */
#define SOCK_ST_RESET     (1u << 6) /* the connection failed or was reset: dead */
#define SOCK_ST_PEER6     (1u << 7) /* TCP: the peer is an IPv6 address (peer_ip is then 0) */
#define SOCK_ST_UDP6      (1u << 8) /* UDP: dual stack (SOCK_UDP_BIND6): IPv6 records allowed */

struct sock_state {
    uint32_t status;     /* SOCK_ST_*, netd writes */
    uint32_t rx_head;    /* netd writes */
    uint32_t rx_tail;    /* client writes */
    uint32_t tx_head;    /* client writes */
    uint32_t tx_tail;    /* netd writes */
    uint32_t peer_ip;    /* TCP: the peer's IPv4 address (netd writes at accept/connect); 0: IPv6 (SOCK_ST_PEER6) */
    uint16_t peer_port;  /* host byte order */
    uint16_t local_port; /* host byte order */
    uint32_t rx_dropped; /* UDP datagrams dropped for want of room, netd writes */
    uint16_t rx_pages[SOCK_RING_PAGES]; /* rx ring's pages: rx pool index + 1, 0 = none; netd writes */
    uint16_t tx_pages[SOCK_RING_PAGES]; /* tx ring's pages: tx pool index + 1, 0 = none; client writes */
};
_Static_assert(sizeof(struct sock_state) == 96, "sock_state layout");

struct sock_shared {
    uint32_t magic;      /* SOCK_MAGIC once netd took the region (SOCK_HELLO); 0 once netd saw the client die */
    uint32_t generation; /* bumped by every SOCK_HELLO */
    uint32_t pad[14];
    uint64_t events[SOCK_EVENT_WORDS]; /* netd sets bit k (atomic OR), the client takes them (exchange) */
    uint64_t kicks[SOCK_EVENT_WORDS];  /* the client sets bit k, netd takes them at SOCK_KICK */
    struct sock_state s[SOCK_MAX];
};
_Static_assert(SOCK_MAX % 64 == 0, "whole bitmap words");
_Static_assert(__builtin_offsetof(struct sock_shared, events) == 64, "sock_shared layout");
_Static_assert(__builtin_offsetof(struct sock_shared, s) == 64 + 16 * SOCK_EVENT_WORDS, "sock_shared layout");
_Static_assert(sizeof(struct sock_shared) <= SOCK_HDR_PAGES * 4096u, "the header fits its pages");
_Static_assert(SOCK_RING_BYTES % 4096u == 0 && (SOCK_RING_BYTES & (SOCK_RING_BYTES - 1)) == 0, "ring window");
_Static_assert(SOCK_MAX <= 0x7fff, "indices fit netd's int16_t queue links");

/* A UDP record's header in a ring. */
struct sock_dgram {
    uint32_t ip;   /* rx: the source; tx: the destination (IPv4; 0 in an IPv6 record) */
    uint16_t port; /* likewise */
    uint16_t len;  /* payload bytes (<= SOCK_DGRAM_MAX), | SOCK_DGRAM_IP6 for an IPv6 record */
};
_Static_assert(sizeof(struct sock_dgram) == 8, "sock_dgram layout");
_Static_assert(__builtin_offsetof(struct sock_dgram, len) == 6, "sock_dgram layout");
#define SOCK_DGRAM_MAX      1472u
#define SOCK_DGRAM_IP6      0x8000u /* sock_dgram.len: SOCK_DGRAM_ADDR6 address bytes follow the header */
#define SOCK_DGRAM_LEN_MASK 0x07ffu /* sock_dgram.len: the payload's bytes */
#define SOCK_DGRAM_ADDR6    16u
_Static_assert(SOCK_DGRAM_MAX <= SOCK_DGRAM_LEN_MASK && (SOCK_DGRAM_IP6 & SOCK_DGRAM_LEN_MASK) == 0,
               "the flag never overlaps a length");
_Static_assert(sizeof(struct sock_dgram) + SOCK_DGRAM_ADDR6 + SOCK_DGRAM_MAX + 7 < SOCK_RING_BYTES,
               "a record fits a ring");

/* Byte offset of pool page I (0-based) from the start of sock-C (rx pool)
 * or of socktx-C (tx pool, mapped right after sock-C). */
#define SOCK_RX_PAGE_OFFSET(i) ((SOCK_HDR_PAGES + (uint64_t)(i)) * 4096u)
#define SOCK_TX_PAGE_OFFSET(i) ((uint64_t)(i)*4096u)

#endif
