/*
 * tlsd_worker.h - tlsd's workers: each owns connections, drives their TLS
 * engine and their backend, and runs on a core of its own.
 *
 * Threads.  Thread 0 (tlsd's first thread, tlsd.c) is the front: it
 * receives netd's notification (socket events; keyd's completions arrive
 * on the same notification, KEYD_NOTIFY_BIT) and tlsd's endpoint, accepts
 * new connections and gives each to the worker with the fewest, relays
 * socket events to the worker that owns the socket, and is also worker 0.
 * Workers 1..n-1 are threads of their own (tls_thread.h), one per further
 * core, each waiting on its own notification (WORKER_WAKE_BIT, and its
 * timer).  With one core there is only worker 0 and no relaying at all.
 *
 * Slots.  Connection slots live in chunks of TLSD_CHUNK, taken from the
 * heap by thread 0 when every slot it has is busy (tlsd_conn_new) and kept
 * for the program's life; slot i is tlsd_conn(d, i).  Thread 0 publishes
 * a chunk (release store of its pointer) before handing out any of its
 * slots, and other threads reach a slot only through an index handed to
 * them after that, so a chunk pointer they read is always set.
 *
 * Ownership.  A connection slot (struct conn, tlsd_conn()) is free
 * (C_FREE) or owned by one worker (owner[i]).  Thread 0 takes a free slot,
 * fills it (C_NEW) and hands it over by setting its ready bit in the
 * worker's `ready` set; from then on only the owner touches it, until the
 * owner stores C_FREE (release) in conn_release.  Each connection's
 * mbedTLS context and memory account are its owner's.  s2c maps a socket
 * to its connection for the relay: written by the owner (backend socket)
 * or thread 0 (client socket) before the socket can have events it would
 * miss, cleared before the socket is closed.
 *
 * Walking only what moved.  A worker's pass drives exactly the connections
 * whose bit is in its ready set: set by the relay for a socket event, by
 * a keyd completion for the connections waiting on a signature, by a new
 * connection, and by the worker itself for one that still had work after
 * its turn.  Once a second it looks at all of its own for timeouts
 * (handshake-timeout, idle-timeout, the close deadline).
 *
 * Statistics.  A listener's counters are atomic adds from every worker
 * (tls_conn.c's engine counters too), so the sums are the listener's; each
 * worker also counts what it served, for the stats log line.
 */
#ifndef KEEL_TLSD_WORKER_H
#define KEEL_TLSD_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/sock_client.h>

#include <keel/keyd_client.h>
#include "tls_conn.h"
#include "tlsd_conf.h"

#define TLSD_MAX_WORKERS 8
#define TLSD_CONN_WORDS  ((TLSD_MAX_CONNS + 63) / 64)
#define WORKER_WAKE_BIT  (1ull << 0) /* a worker's own notification: "look at your ready set" */
#define WORKER_TIMER_BIT (1ull << 1) /* ... and its timer */
#define TLSD_PEND_BYTES  16384u      /* a whole TLS record's payload (tlsd_worker.c: the pending buffer) */
#define TLSD_CHUNK       64u         /* connection slots per chunk taken from the heap */
#define TLSD_CHUNKS      ((TLSD_MAX_CONNS + TLSD_CHUNK - 1) / TLSD_CHUNK)
#define TLSD_PARK_NS     1000000000ull /* nothing moved for this long: the engine gives its buffers back */

enum cstate { C_FREE, C_NEW, C_HANDSHAKE, C_CONNECTING, C_PROXY, C_CLOSING };

struct worker;
struct tlsd;

struct conn {
    unsigned idx;     /* its slot number (constant: set when its chunk is made) */
    enum cstate st;   /* C_FREE: thread 0 may take it; else the owner's */
    struct worker *w; /* the owner (set with C_NEW) */
    struct listener *l;
    int cs, bs;       /* client and backend sockets, -1: none */
    uint32_t peer_ip; /* 0 for an IPv6 client (peer6) */
    uint16_t peer_port;
    bool peer6;  /* the client came over IPv6 (SOCK_ST_PEER6) */
    bool addrs6; /* peer6 and netd gave its addresses (SOCK_ADDRS6): PROXY headers carry them */
    uint8_t peer_addr6[16], local_addr6[16]; /* addrs6: the client's and ours, network order */
    bool tls_live;                           /* tls_conn_init done: tls_conn_free due */
    bool c_eof;                              /* client's direction closed (close_notify or FIN) */
    bool b_eof;                              /* backend's FIN */
    bool shut_sent;                          /* FIN to the backend requested */
    bool notify_done;                        /* our close_notify sent */
    uint64_t started, last, close_deadline;
    size_t pend_len, pend_off;
    uint8_t *pend; /* TLSD_PEND_BYTES from the heap while it holds bytes, else NULL */
    /* Client bytes decrypted but not yet in the backend's ring: the tx
     * pool is shared by every worker, so pages the room check counted can
     * be taken by another worker before the send (tlsd_worker.c, c2b_*). */
    size_t c2b_len, c2b_off;
    uint8_t *c2b; /* from the heap while it holds bytes, else NULL */
    struct tls_conn tls;
};

struct worker {
    /* Constant once started. */
    unsigned id;
    unsigned cpu;
    struct tlsd *d;
    uint64_t ntfn; /* WORKER_WAKE_BIT / WORKER_TIMER_BIT; 0 for worker 0 */
    /* Any thread sets bits (atomic OR); the worker takes them (exchange). */
    uint64_t ready[TLSD_CONN_WORDS];
    int keyd_done; /* a keyd completion arrived: re-drive the signing */
    int quit;      /* thread 0 ends the program (netd restarted) */
    /* Thread 0 asks, the worker answers (a configuration commit). */
    struct listener *close_l;
    uint32_t close_seq, close_ack;
    unsigned close_n;
    /* The worker's own. */
    uint64_t mine[TLSD_CONN_WORDS]; /* connections it has taken over */
    struct keyd_client kc;          /* its share of keyd's slots */
    bool kick;                      /* something for netd: SOCK_KICK at the end of the pass */
    bool pend_starved;  /* a pending buffer or a parked engine's buffers were refused (heap full): the tick retries */
    uint64_t next_tick; /* when it looks at all of its connections again */
    /* Counters: conns and handshakes the worker's (thread 0 reads them);
     * current = connections handed to it and not yet released (thread 0
     * adds at hand-over, the worker subtracts at release: atomic), which
     * is what thread 0 balances the workers by. */
    uint64_t conns, handshakes, current;
    uint8_t iobuf[SOCK_RING_BYTES];
};

struct tlsd {
    struct sock_client sc;
    uint32_t our_ip;
    unsigned n_workers;
    struct worker *w;              /* n_workers of them, w[0] on thread 0 */
    uint8_t owner[TLSD_MAX_CONNS]; /* the worker a taken slot belongs to */
    int16_t s2c[SOCK_MAX];         /* socket -> connection slot, -1: none */
    unsigned conns_now, conn_peak; /* slots taken (atomic), the most at once */
    void (*relay)(struct tlsd *d); /* thread 0's relay, called between connections by worker 0 */
    /* Thread 0 adds chunks (release); n_chunks only grows. */
    struct conn *chunk[TLSD_CHUNKS];
    unsigned n_chunks;
    unsigned next_free; /* thread 0's: where free_conn looks first */
};

/* Slot I of D (I < TLSD_MAX_CONNS, its chunk made). */
static inline struct conn *tlsd_conn(const struct tlsd *d, unsigned i)
{
    return &__atomic_load_n(&d->chunk[i / TLSD_CHUNK], __ATOMIC_ACQUIRE)[i % TLSD_CHUNK];
}

/* The slots made so far (any thread: a lower bound while thread 0 adds). */
static inline unsigned tlsd_slots(const struct tlsd *d)
{
    unsigned n = __atomic_load_n(&d->n_chunks, __ATOMIC_ACQUIRE) * TLSD_CHUNK;
    return n < TLSD_MAX_CONNS ? n : TLSD_MAX_CONNS;
}

/* Sets up worker ID of D (its keyd share is slots [first, first+count)). */
int worker_init(struct worker *w, struct tlsd *d, unsigned id, uint64_t keyd_ep, void *keyd_shm, unsigned first,
                unsigned count);

/* Marks connection I ready in W (any thread).  The caller wakes W after. */
void worker_mark(struct worker *w, unsigned i);

/* Wakes W's thread (any thread; nothing for worker 0). */
void worker_wake(struct worker *w);

/* One pass of W over its ready set (W's thread only).  Returns true when
 * something is still ready (call again before waiting). */
bool worker_pass(struct worker *w);

/* W's thread (workers 1..n-1): passes, and waits on its notification. */
void worker_main(void *arg);

/* Releases every connection of W on listener L (W's thread only); returns
 * how many. */
unsigned worker_close_listener(struct worker *w, struct listener *l);

/* When W next wants to be called without an event (its tick). */
uint64_t worker_deadline(const struct worker *w);

#endif
