/*
 * keel/socket.h - netd's socket service: the shared region, the calls and
 * the events.  A client (tlsd, socktest) needs this header and
 * lib/include/keel/sock_client.h only, never netd's internals.
 *
 * Manifest.  netd has `endpoint netd` (serve:netd) and, per client C,
 * `share sock-C 259 share socktx-C 256 signal sock-C` (SOCK_SHM_PAGES,
 * SOCK_SHM_TX_PAGES); client C has `connect netd share sock-C 259 share
 * socktx-C 256 notify sock-C`.  netd finds each client by the "client:C"
 * note in its srvinfo (the badge C's calls carry) and the three grants
 * named sock-C / socktx-C; a client without them gets SOCK_E_NO_CLIENT.
 *
 * The shared region (one per client, mapped by both): two frames mapped
 * back to back, because one frame holds at most 1024 pages (the kernel's
 * limit) and with 8 KiB rings the region would need 1027; with today's
 * 4 KiB rings it needs 515, and the split stays so the ring size can grow
 * without a new layout.  sock-C (SOCK_SHM_PAGES = 259) is
 * SOCK_HDR_PAGES pages of struct sock_shared (the bitmaps and one struct
 * sock_state per socket) followed by the SOCK_MAX rx rings; socktx-C
 * (SOCK_SHM_TX_PAGES = 256) holds the SOCK_MAX tx rings.  Offsets below
 * (SOCK_RX_OFFSET, SOCK_TX_OFFSET) count from the start of sock-C.  Each
 * ring is SOCK_RING_BYTES = 4 KiB: 8 KiB of shared memory per socket,
 * 2 MiB + 12 KiB per client (4 KiB rather than 8 KiB: the appliance must
 * serve TLS in 32 MiB of guest memory, and 8 KiB rings moved test_netd's
 * echo only from 17-20 to 20-22 MB/s).  Stream bytes never go through IPC; netd
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
 * to the ring size and ignores rx_tail moves beyond rx_head.
 *
 * UDP sockets carry datagrams in the same rings as records: struct
 * sock_dgram (8 bytes) then the payload, the record padded to 8 bytes; a
 * record may wrap around the ring end.  rx: netd drops a datagram that
 * does not fit (counted in sock_state.rx_dropped).  tx: SOCK_UDP_SENDTO is
 * "write a record, then SOCK_KICK" (the client library's sock_sendto).
 *
 * Calls (client -> netd on ep:netd; SRV_LABEL(label, words); the reply
 * label is >= 0 on success or a negative enum sock_error):
 *   SOCK_HELLO ()                       first call after every (re)start:
 *                                       closes every socket the client held
 *                                       (a restarted client's old sockets)
 *                                       and resets the region; -> 0
 *   SOCK_TCP_LISTEN (port, backlog)     -> socket index
 *   SOCK_ACCEPT (listener)              -> socket index, or SOCK_E_AGAIN
 *                                       (wait for SOCK_ST_ACCEPT on it)
 *   SOCK_TCP_CONNECT (ip, port)         -> socket index; SOCK_ST_CONNECTED
 *                                       or SOCK_ST_RESET follows
 *   SOCK_UDP_BIND (port)                -> socket index
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

#include <stdint.h>

#define SOCK_MAX           256
#define SOCK_RING_BYTES    4096u /* a power of two, each way */
#define SOCK_HDR_PAGES     3u    /* struct sock_shared */
#define SOCK_SHM_PAGES     (SOCK_HDR_PAGES + SOCK_MAX * SOCK_RING_BYTES / 4096u) /* sock-C: header, rx rings */
#define SOCK_SHM_TX_PAGES  (SOCK_MAX * SOCK_RING_BYTES / 4096u)                  /* socktx-C: tx rings */
#define SOCK_EVENT_BIT     1ull /* the one notification bit netd signals */
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
};

enum sock_error {
    SOCK_E_AGAIN = -1,      /* nothing yet (accept): wait for the event */
    SOCK_E_NO_CLIENT = -2,  /* the caller has no shared region / notification */
    SOCK_E_BAD_SOCKET = -3, /* index out of range, not open, or not the caller's */
    SOCK_E_WRONG_TYPE = -4, /* e.g. accept on a non-listener */
    SOCK_E_NO_SOCKETS = -5, /* all SOCK_MAX sockets of the client in use */
    SOCK_E_ADDR_IN_USE = -6,
    SOCK_E_NO_MEMORY = -7, /* lwIP out of PCBs or memory */
    SOCK_E_INVALID = -8,   /* a bad argument (port 0, unknown option) */
    SOCK_E_NO_HELLO = -9,  /* SOCK_HELLO first */
};

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
};
_Static_assert(sizeof(struct sock_state) == 32, "sock_state layout");

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
_Static_assert(__builtin_offsetof(struct sock_shared, s) == 128, "sock_shared layout");
_Static_assert(sizeof(struct sock_shared) <= SOCK_HDR_PAGES * 4096u, "the header fits its pages");
_Static_assert(SOCK_SHM_PAGES <= 1024 && SOCK_SHM_TX_PAGES <= 1024, "each a frame (the kernel's limit: 1024 pages)");

/* A UDP record's header in a ring. */
struct sock_dgram {
    uint32_t ip;   /* rx: the source; tx: the destination */
    uint16_t port; /* likewise */
    uint16_t len;  /* payload bytes (<= SOCK_DGRAM_MAX) */
};
_Static_assert(sizeof(struct sock_dgram) == 8, "sock_dgram layout");
#define SOCK_DGRAM_MAX 1472u

/* Offsets of socket K's rings from the start of sock-C (socktx-C is mapped
 * right after it). */
#define SOCK_RX_OFFSET(k) (SOCK_HDR_PAGES * 4096u + (uint32_t)(k)*SOCK_RING_BYTES)
#define SOCK_TX_OFFSET(k) (SOCK_SHM_PAGES * 4096u + (uint32_t)(k)*SOCK_RING_BYTES)

#endif
