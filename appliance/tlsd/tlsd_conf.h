/*
 * tlsd_conf.h - tlsd's listeners and their configuration: built from
 * appliance.conf at start, and replaced at run time by the console's
 * two-phase commit (abi/keel/tlsd.h TLSD_CONFIG_*).  tlsd.c owns the
 * connections and the event loop; this module owns the listeners.
 *
 * Invariant (between two calls): the running listeners are
 * tlsd_conf_running()[0..n-1], in appliance.conf order, and listener i's
 * `ct` points at block i of the running configuration.  A listener never
 * moves in memory (connections point at it, and the engine's connections
 * at its struct tls_server) until it is dropped, which happens only after
 * close_conns() has released every connection of it.
 */
#ifndef KEEL_TLSD_CONF_H
#define KEEL_TLSD_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/server.h>
#include <keel/sock_client.h>

#include "conf.h"
#include "entropy.h"
#include <keel/keyd_client.h>
#include "tls_conn.h"

/* netd's socket service gives a client SOCK_MAX sockets (8192); each
 * listener takes one and each connection two, so netd would let tlsd hold
 * (SOCK_MAX - CONF_MAX_TLS) / 2; tlsd's own table (C[], its heap) holds
 * 124 until its per-connection memory comes on demand (#14 item 7). */
#define TLSD_MAX_CONNS 124
_Static_assert(2 * TLSD_MAX_CONNS + CONF_MAX_TLS <= SOCK_MAX, "netd has the sockets");

struct listener {
    const struct conf_tls *ct; /* its block in the configuration it belongs to */
    bool ok;                   /* built and listening (or handed the socket at commit): serves */
    bool used;                 /* the pool slot is taken */
    bool has_srv;              /* tls_server_init done: tls_server_free due */
    int sock;                  /* the listening socket, -1: none */
    struct tls_server srv;
    /* tlsd.c's counters: accepted and refused by thread 0, the others by
     * every worker, with atomic adds (their sums are the listener's). */
    uint64_t accepted, refused, current, bytes_c2b, bytes_b2c, backend_failed;
};

/* What the module needs of tlsd.c. */
struct tlsd_env {
    struct sock_client *sc;
    struct keyd_client *kc;   /* thread 0's: KEYD_OPEN at start and at commits */
    struct tls_signer signer; /* every listener's (each worker signs through its own keyd client) */
    struct tls_entropy *ent;
    const uint8_t *site; /* the site archive (certificates) */
    size_t site_len;
    unsigned (*close_conns)(struct listener *l); /* releases every connection of L now; returns how many */
};

/* Stores ENV (copied).  Call first. */
void tlsd_conf_init(const struct tlsd_env *env);

/* Parses appliance.conf at start (errors logged); *OUT = the running
 * configuration.  Returns CONF_OK or the parser's error. */
int tlsd_conf_boot(const char *text, size_t len, const struct conf **out) __attribute__((warn_unused_result));

/* Builds and listens on every block of the boot configuration (opening
 * each key with keyd, which may block: start-up only).  A bad block is
 * logged and kept as a stopped listener. */
void tlsd_conf_start(void);

/* The running listeners; *N = how many. */
struct listener *const *tlsd_conf_running(unsigned *n);

/* Maps the admin regions: for each "client:C" note with a region
 * "shm:tlsadm-C" of TLSADM_SHM_PAGES pages, at VA + k * 1 MiB. */
void tlsd_conf_admin_init(const struct keel_srvinfo *si, uint64_t va);

/* The handlers of TLSD_CONFIG_PREPARE (1 word), _COMMIT and _ABORT
 * (abi/keel/tlsd.h), for tlsd.c's dispatch table.  Each answers at once. */
int64_t tlsd_conf_prepare(void *ctx, struct keel_msg *m);
int64_t tlsd_conf_commit(void *ctx, struct keel_msg *m);
int64_t tlsd_conf_abort(void *ctx, struct keel_msg *m);
/* TLSD_STATS_CLEAR: every running listener's counters to 0, but the
 * connections open now (admin client only). */
int64_t tlsd_conf_clear(void *ctx, struct keel_msg *m);

#endif
