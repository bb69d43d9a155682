/*
 * keel/tlsadm_client.h - the thin client library of tlsd's protocol
 * (abi/keel/tlsd.h) for consoled: the configuration's two-phase commit
 * (prepare / commit / abort, the text and error messages in the shared
 * region "tlsadm-C") and the `show tls` readers (listeners, statistics).
 * Depends on nothing of tlsd's.
 *
 * A commit across servers (issue 7): prepare netd and tlsd; when both
 * accepted, commit both (neither COMMIT can fail once its PREPARE
 * succeeded, short of the server restarting in between); when either
 * refused, abort both and show the refusal.
 */
#ifndef KEEL_LIB_TLSADM_CLIENT_H
#define KEEL_LIB_TLSADM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <keel/tlsd.h>

/* Calls are sent with KEEL_NONBLOCK, so a tlsd that is absent (no `tls`
 * block, never started) or restarting cannot hang the console: while tlsd
 * is not waiting, NAP is called and the call tried again, up to
 * TLSADM_TRIES times (then KE_WOULD_BLOCK).  tlsd answers between passes
 * over its connections, so a busy tlsd answers within milliseconds. */
#define TLSADM_TRIES 300

struct tlsadm {
    uint64_t ep;            /* ep:tlsd; 0: no tlsd to talk to */
    uint8_t *base;          /* the region "tlsadm-NAME", TLSADM_SHM_PAGES pages, mapped; NULL: reader only */
    void (*nap)(void *ctx); /* waits a little (about 10 ms); NULL: one try only */
    void *ctx;
};

/* What a PREPARE would do, or what a COMMIT did. */
struct tlsadm_summary {
    unsigned listeners; /* in the new configuration */
    unsigned kept;      /* unchanged, still running with their connections */
    unsigned started;   /* new or changed */
    unsigned other;     /* PREPARE: ports to stop; COMMIT: connections closed */
};

/* One listener, as TLSD_LISTENERS gives it. */
struct tlsadm_listener {
    uint16_t port;
    int serving; /* 0: stopped (e.g. a bad certificate at start) */
};

/* One listener's counters (abi/keel/tlsd.h's groups, decoded). */
struct tlsadm_stats {
    uint64_t accepted, current, refused, backend_failed;
    uint64_t handshakes_ok, resumed, failed, truncated;
    uint64_t bytes_c2b, bytes_b2c, sni_named, sni_default;
    uint64_t tls13_ok, tls13_resumed, tls12_ok, tls12_resumed; /* handshakes by version */
    uint64_t failed_by[TLSD_FAIL_COUNT];                       /* by enum tlsd_fail; [0] stays 0 */
};

/* Each returns 0, a negative TLSD_E_* reply, or a negative KE_* error of
 * the call itself (tlsd absent or restarting). */

/* Prepares TEXT (LEN bytes, the whole appliance.conf).  On TLSD_E_CONFIG:
 * MSG (MSGLEN bytes, always terminated) holds tlsd's message
 * ("appliance.conf:LINE:COL: ...") and *LINE, *COL where it points (0 when
 * unknown).  S (may be NULL) gets the plan on success. */
int64_t tlsadm_prepare(const struct tlsadm *t, const char *text, size_t len, char *msg, size_t msglen, unsigned *line,
                       unsigned *col, struct tlsadm_summary *s);
/* Swaps the prepared state in.  S (may be NULL) gets what it did. */
int64_t tlsadm_commit(const struct tlsadm *t, struct tlsadm_summary *s);
/* Frees a prepared state (0 also when there was none). */
int64_t tlsadm_abort(const struct tlsadm *t);
/* Zeroes tlsd's counters (TLSD_STATS_CLEAR; an admin client only). */
int64_t tlsadm_clear(const struct tlsadm *t);

/* The listeners in appliance.conf order: OUT[0..*N-1], *N <= MAX (and <=
 * TLSD_MAX_LISTENERS). */
int64_t tlsadm_listeners(const struct tlsadm *t, struct tlsadm_listener *out, unsigned max, unsigned *n);
/* Listener INDEX's counters (all seven groups). */
int64_t tlsadm_stats(const struct tlsadm *t, unsigned index, struct tlsadm_stats *s);

/* A message for a TLSD_E_* or KE_* code. */
const char *tlsadm_strerror(int64_t err);

#endif
