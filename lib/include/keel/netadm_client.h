/*
 * keel/netadm_client.h - the thin client library of netd's administration
 * protocol (abi/keel/netadm.h), for consoled and opsd: one call per operation, the
 * bulk (configuration text, tables, error messages) in the shared region.
 * Depends on nothing of netd's.
 */
#ifndef KEEL_LIB_NETADM_CLIENT_H
#define KEEL_LIB_NETADM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <keel/netadm.h>

/* Calls are sent with KEEL_NONBLOCK, so a netd that is absent (its NIC
 * missing, never started) or restarting cannot hang the console: while
 * netd is not waiting, NAP is called and the call tried again, up to
 * NETADM_TRIES times (then KE_WOULD_BLOCK). */
#define NETADM_TRIES 300

struct netadm {
    uint64_t ep;            /* ep:netd; 0: no netd to talk to */
    uint8_t *base;          /* the region "admin-NAME", NETADM_SHM_PAGES pages, mapped */
    void (*nap)(void *ctx); /* waits a little (about 10 ms); NULL: one try only */
    void *ctx;
};

/* Each returns 0, a negative NETADM_E_* reply, or a negative KE_* error
 * of the call itself (netd absent or restarting). */

/* Parses TEXT (LEN bytes) into netd's spare set.  On NETADM_E_PARSE: MSG
 * (MSGLEN bytes, always terminated) holds netd's message and *LINE,
 * *COL where it points (0 when unknown). */
int64_t netadm_prepare(const struct netadm *n, const char *text, size_t len, char *msg, size_t msglen, unsigned *line,
                       unsigned *col);
/* Makes the prepared set the running one; *RULES = rules now in force. */
int64_t netadm_commit(const struct netadm *n, unsigned *rules);
int64_t netadm_abort(const struct netadm *n);
/* Table WHAT (NETADM_SHOW_*): *TEXT points into the region (LEN bytes,
 * '\t'-separated rows; valid until the next call); *CUT when netd cut it. */
int64_t netadm_show(const struct netadm *n, unsigned what, const char **text, size_t *len, int *cut);
/* Starts COUNT echo requests to ADDR (host order). */
int64_t netadm_ping(const struct netadm *n, uint32_t addr, unsigned count);
/* The same to an IPv6 address (16 bytes, network order). */
int64_t netadm_ping6(const struct netadm *n, const uint8_t addr[16], unsigned count);
/* The ping's progress: sent, received, done, round trips in microseconds. */
int64_t netadm_ping_status(const struct netadm *n, unsigned *sent, unsigned *received, int *done, uint32_t *min_us,
                           uint32_t *max_us);

/*
 * A firewall table of the running rule set (NETADM_TABLE): OP is
 * NETADM_TABLE_*; NAME (LEN bytes, no <>), ADDR/PREFIX for ADD and DELETE.
 * FLUSH: *COUNT = addresses removed.  SHOW: *TEXT points into the region
 * (*TEXTLEN bytes, one address per line; valid until the next call), *CUT
 * when netd cut it.  TEXT, TEXTLEN, CUT and COUNT may be NULL for the
 * other ops.
 */
int64_t netadm_table(const struct netadm *n, unsigned op, const char *name, size_t len, uint32_t addr, unsigned prefix,
                     const char **text, size_t *textlen, int *cut, unsigned *count);

/* Zeroes netd's counters (NETADM_CLEAR). */
int64_t netadm_clear(const struct netadm *n);

/* A message for a NETADM_E_* or KE_* code. */
const char *netadm_strerror(int64_t err);

#endif
