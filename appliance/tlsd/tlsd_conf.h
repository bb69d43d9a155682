/*
 * tlsd_conf.h - tlsd's listeners and their configuration: built from
 * appliance.conf at start, and replaced at run time by the console's
 * two-phase commit (abi/keel/tlsd.h TLSD_CONFIG_*).  tlsd.c owns the
 * connections and the event loop; this module owns the listeners.
 *
 * State: struct tlsd_conf below, one per tlsd, passed to every call.
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
#include <keel/tlsd.h>

#include "conf.h"
#include "entropy.h"
#include <keel/keyd_client.h>
#include "tls_conn.h"
#include "tlsd_plan.h"

/* netd's socket service gives a client SOCK_MAX sockets (8192); each
 * listener takes one and each connection two, so tlsd holds
 * (SOCK_MAX - CONF_MAX_TLS) / 2 = 4092 connections at once.  Their slots
 * come from the heap in chunks of TLSD_CHUNK as they are first needed
 * (tlsd_worker.h), so a small machine pays only for what it uses. */
#define TLSD_MAX_CONNS ((SOCK_MAX - CONF_MAX_TLS) / 2)
_Static_assert(2 * TLSD_MAX_CONNS + CONF_MAX_TLS <= SOCK_MAX, "netd has the sockets");
_Static_assert(CONF_DEFAULT_MAX_CONNECTIONS == TLSD_MAX_CONNS, "a listener's default limit is tlsd's own");

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
    /* Releases every connection of L now; returns how many.  CTX: close_ctx. */
    unsigned (*close_conns)(void *ctx, struct listener *l);
    void *close_ctx;
};

#define TLSD_CONF_POOL      (2 * CONF_MAX_TLS) /* listener slots: the running ones and a prepared set */
#define TLSD_CONF_KEYS      (CONF_MAX_TLS * CONF_MAX_CERTS)
#define TLSD_CONF_ADMIN_MAX 2

/* A key keyd opened for us: name -> id and fingerprint. */
struct tlsd_key {
    char name[CONF_PATH_MAX];
    uint32_t id;
    uint8_t fp[32];
};

/* The module's whole state, one per tlsd (tlsd.c keeps it in its thread
 * 0 state; only thread 0 touches it, from the event loop).  Fields are
 * this module's: tlsd.c reads the running listeners through
 * tlsd_conf_running() only. */
struct tlsd_conf {
    struct tlsd_env env;
    struct conf confs[2];
    unsigned run;                         /* confs[run] is running; the other takes a candidate */
    struct conf_result res;               /* the last parse's errors */
    struct listener pool[TLSD_CONF_POOL]; /* slots; `used` says which are taken */
    struct listener *rl[CONF_MAX_TLS];    /* the running listeners, in appliance.conf order */
    unsigned nl;                          /* == confs[run].n_tls */
    bool prepared;                        /* a PREPARE succeeded: plan and pl[] hold it */
    struct tlsd_plan plan;                /* valid while prepared */
    struct listener *pl[CONF_MAX_TLS];    /* the listeners the candidate will run */
    unsigned pnl;                         /* pl entries set (also while a PREPARE is building) */
    struct tlsd_key keys[TLSD_CONF_KEYS];
    unsigned nkeys;
    unsigned nkeys_run; /* keys[0..nkeys_run) are the running configuration's; the rest a PREPARE's */
    struct srv_client_region adm[TLSD_CONF_ADMIN_MAX]; /* the configuring clients, "shm:tlsadm-C" */
    unsigned nadm;
    char text[TLSADM_IN_MAX];         /* our copy of a candidate's text */
    struct srv_client_region *caller; /* the admin client of the request being handled (set by tlsd_conf_admit) */
};

/* Call order at start: tlsd_conf_boot (TC zeroed: static storage, it is
 * large), tlsd_conf_init (what ENV holds needs keyd and netd, which come
 * after the configuration), tlsd_conf_start; tlsd_conf_admin_init any
 * time after init. */

/* Parses appliance.conf at start (errors logged); *OUT = the running
 * configuration.  Returns CONF_OK or the parser's error. */
int tlsd_conf_boot(struct tlsd_conf *tc, const char *text, size_t len, const struct conf **out)
    __attribute__((warn_unused_result));

/* Stores ENV (copied) in TC. */
void tlsd_conf_init(struct tlsd_conf *tc, const struct tlsd_env *env);

/* Builds and listens on every block of the boot configuration (opening
 * each key with keyd, which may block: start-up only).  A bad block is
 * logged and kept as a stopped listener. */
void tlsd_conf_start(struct tlsd_conf *tc);

/* The running listeners; *N = how many. */
struct listener *const *tlsd_conf_running(const struct tlsd_conf *tc, unsigned *n);

/* Maps the admin regions: for each "client:C" note with a region
 * "shm:tlsadm-C" of TLSADM_SHM_PAGES pages, at VA + k * 1 MiB. */
void tlsd_conf_admin_init(struct tlsd_conf *tc, const struct keel_srvinfo *si, uint64_t va);

/* The prologue of tlsd.c's dispatch (srv_loop.admit; CTX: the struct
 * tlsd_conf): the configuration's calls (TLSD_CONFIG_*, TLSD_STATS_CLEAR)
 * are an admin client's only, TLSD_E_NOT_ADMIN for any other caller; the
 * statistics are anyone's. */
int64_t tlsd_conf_admit(void *ctx, const struct keel_msg *m);

/* The handlers of TLSD_CONFIG_PREPARE (1 word), _COMMIT and _ABORT
 * (abi/keel/tlsd.h), for tlsd.c's dispatch table with tlsd_conf_admit;
 * CTX is the struct tlsd_conf.  Each answers at once. */
int64_t tlsd_conf_prepare(void *ctx, struct keel_msg *m);
int64_t tlsd_conf_commit(void *ctx, struct keel_msg *m);
int64_t tlsd_conf_abort(void *ctx, struct keel_msg *m);
/* TLSD_STATS_CLEAR: every running listener's counters to 0, but the
 * connections open now (admin client only). */
int64_t tlsd_conf_clear(void *ctx, struct keel_msg *m);

#endif
