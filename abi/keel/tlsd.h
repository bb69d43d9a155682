/*
 * keel/tlsd.h - tlsd's statistics protocol: per-listener counters over
 * IPC, for the console (`show tls`) and tests.  A caller needs this header
 * and keel/server.h (SRV_LABEL, SRV_E_*) only.
 *
 * Manifest.  tlsd has `endpoint tlsd` (serve:tlsd); a reader has
 * `connect tlsd` (ep:tlsd).  Any caller may read: the counters are not
 * secret, and a call changes nothing.  tlsd answers from its one event
 * loop (the endpoint is received with tlsd's socket notification bound),
 * between passes over its connections, so an answer may wait for one
 * pass (milliseconds) but never for a connection.
 *
 * Calls (SRV_LABEL(label, words); the reply label is 0 on success, a
 * negative enum tlsd_error, or SRV_E_UNKNOWN / SRV_E_SHORT from the server
 * loop for an unknown label / too few words):
 *
 *   TLSD_LISTENERS ()                  -> MR0 = n, the listeners in
 *                                         appliance.conf order (<= 8,
 *                                         TLSD_MAX_LISTENERS), counting
 *                                         stopped ones (a bad certificate);
 *                                         MR1 = bitmap: bit i set when
 *                                         listener i serves;
 *                                         MR2 = ports of listeners 0-3,
 *                                         MR3 = of 4-7: listener i's port
 *                                         is bits 16*(i%4)..+15 (0: none)
 *   TLSD_STATS (listener, group)       -> MR0..MR3 = the four counters of
 *                                         GROUP (enum tlsd_group) for
 *                                         listener index LISTENER (0..n-1)
 *
 * Every counter is a uint64_t that counts since tlsd started (a restarted
 * tlsd starts at zero; `current` is a level, not a count).  The groups:
 *   TLSD_G_CONNS       accepted, current, refused (over max-connections or
 *                      tlsd's connection limit), backend failures (refused,
 *                      reset or unreachable backend)
 *   TLSD_G_HANDSHAKES  handshakes ok, resumed (a session ticket), failed
 *                      (the sum over every reason), truncated (streams the
 *                      client ended without close_notify; not failures)
 *   TLSD_G_BYTES       bytes client->backend, bytes backend->client
 *                      (plaintext), SNI matched a named certificate, SNI
 *                      absent or unmatched (the default certificate)
 *   TLSD_G_FAILED + k  (k = 0..3) handshakes failed by reason
 *                      4k, 4k+1, 4k+2, 4k+3 (enum tlsd_fail; reason 0 and
 *                      those >= TLSD_FAIL_COUNT read 0)
 * A listener that is stopped answers all zeros.
 */
#ifndef KEEL_ABI_TLSD_H
#define KEEL_ABI_TLSD_H

#include <stdint.h>

#define TLSD_MAX_LISTENERS 8

enum tlsd_label {
    TLSD_LISTENERS = 1,
    TLSD_STATS = 2,
};

enum tlsd_error {
    TLSD_E_BAD_LISTENER = -1, /* listener index >= TLSD_LISTENERS' n */
    TLSD_E_BAD_GROUP = -2,    /* group >= TLSD_G_COUNT */
};

enum tlsd_group {
    TLSD_G_CONNS = 0,
    TLSD_G_HANDSHAKES = 1,
    TLSD_G_BYTES = 2,
    TLSD_G_FAILED = 3, /* 3, 4, 5, 6: reasons 0-3, 4-7, 8-11, 12-15 */
    TLSD_G_COUNT = 7,
};

/* Why a handshake failed (one reason per failed connection). */
enum tlsd_fail {
    TLSD_FAIL_NONE = 0,
    TLSD_FAIL_NOT_TLS = 1,    /* the first bytes are not a TLS handshake record (garbage, plain HTTP) */
    TLSD_FAIL_BAD_HELLO = 2,  /* a malformed ClientHello, or no ALPN protocol in common */
    TLSD_FAIL_VERSION = 3,    /* the client offers nothing newer than TLS 1.1 */
    TLSD_FAIL_NO_SUITE = 4,   /* no cipher suite, curve or certificate type in common */
    TLSD_FAIL_BAD_RECORD = 5, /* a record too long, malformed, or failing its MAC */
    TLSD_FAIL_ALERT = 6,      /* the client sent a fatal alert */
    TLSD_FAIL_EOF = 7,        /* the client went away during the handshake */
    TLSD_FAIL_SIGN = 8,       /* keyd refused or failed the signature */
    TLSD_FAIL_MEMORY = 9,     /* the connection's memory limit */
    TLSD_FAIL_RANDOM = 10,    /* the random generator failed */
    TLSD_FAIL_IO = 11,        /* the transport failed (reset) */
    TLSD_FAIL_TIMEOUT = 12,   /* handshake or idle timeout */
    TLSD_FAIL_ABORTED = 13,   /* tlsd gave up (backend refused, out of memory) */
    TLSD_FAIL_PROTOCOL = 14,  /* any other protocol error */
    TLSD_FAIL_COUNT = 15,
};
_Static_assert(TLSD_FAIL_COUNT <= 4 * (TLSD_G_COUNT - TLSD_G_FAILED), "every reason has a slot");

/* A short name for reason R ("?" when out of range), for logs and the console. */
static inline const char *tlsd_fail_name(unsigned r)
{
    static const char *const names[TLSD_FAIL_COUNT] = {
        "none", "not-tls", "bad-hello", "version", "no-suite", "bad-record", "alert",    "eof",
        "sign", "memory",  "random",    "io",      "timeout",  "aborted",    "protocol",
    };
    return r < TLSD_FAIL_COUNT ? names[r] : "?";
}

#endif
