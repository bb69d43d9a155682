/*
 * keel/tlsd.h - tlsd's protocol: per-listener counters over IPC, for the
 * console (`show tls`) and tests, and the console's two-phase commit of
 * the `tls` blocks of appliance.conf.  A caller needs this header and
 * keel/server.h (SRV_LABEL, SRV_E_*) only; consoled uses the client
 * library lib/tlsadm_client.c (keel/tlsadm_client.h).
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
 *   TLSD_G_VERSIONS    handshakes ok in TLS 1.3, of them resumed (a ticket
 *                      as PSK); handshakes ok in TLS 1.2, of them resumed
 * A listener that is stopped answers all zeros.  A listener that a commit
 * kept unchanged keeps its counters; one whose block changed (same port)
 * carries its counters over; a new one starts at zero.
 *
 * Configuration (two-phase, so that consoled's `commit` is all or nothing
 * across netd and tlsd; abi/keel/netadm.h is netd's half).
 *
 *   Who: a client C named by a "client:C" note of tlsd's (C has `connect
 *   tlsd`) that also shares region "tlsadm-C" with tlsd (both sides `share
 *   tlsadm-C TLSADM_SHM_PAGES`).  A config call from any other caller is
 *   refused with TLSD_E_NOT_ADMIN (reading statistics stays open to all).
 *   tlsd never calls its admin client: calls flow consoled -> tlsd only,
 *   and each is answered at once from the event loop (no call to keyd or
 *   anyone: the keys are looked up in what tlsd opened at start).
 *
 *   The region (TLSADM_SHM_PAGES pages, read-write on both sides):
 *     [TLSADM_IN_OFF,  + TLSADM_IN_MAX)   written by the client: the whole
 *                                         appliance.conf text
 *     [TLSADM_OUT_OFF, + TLSADM_OUT_MAX)  written by tlsd: an error message
 *   tlsd copies the text before it parses it and checks every length.
 *
 *   TLSD_CONFIG_PREPARE (MR0 = length of the text at TLSADM_IN_OFF)
 *       Forgets any earlier prepared state (as ABORT), parses the text
 *       ("appliance.conf"), and builds the new state of every `tls` block
 *       whose block is new or changed: its certificates from the site
 *       archive, checked against keys keyd holds, its ALPN list; a new
 *       port is listened on now (connections wait in netd's accept queue
 *       until COMMIT), so COMMIT cannot fail.  The running listeners are
 *       untouched.  A key tlsd did not open at start is refused: keyd
 *       loads keys at boot, so a new key needs a reboot.
 *       -> 0 with MR0 = listeners in the new configuration, MR1 = kept
 *          (unchanged), MR2 = to start (new or changed), MR3 = to stop
 *          (ports that are gone);
 *       or TLSD_E_CONFIG with MR0 = line, MR1 = column (of appliance.conf;
 *          0 when not known), MR2 = length of a message at TLSADM_OUT_OFF:
 *          "appliance.conf:LINE:COL: ..." (naming the file for certificate
 *          and key errors), nothing prepared;
 *       or TLSD_E_INVAL for a length beyond TLSADM_IN_MAX.
 *   TLSD_CONFIG_COMMIT ()
 *       Swaps the prepared state in, at once, between two passes of the
 *       event loop.  A listener whose block is unchanged (every setting
 *       equal; only its line may move) keeps running with its connections.
 *       A port that is gone stops listening and its open connections are
 *       closed (reset) now.  A changed block (same port, other settings)
 *       keeps the listening socket but serves new connections with the new
 *       settings; its open connections are closed too (they use the old
 *       certificates and backend, which are freed).  A new port serves.
 *       -> 0 with MR0 = listeners now, MR1 = kept, MR2 = started,
 *          MR3 = connections closed;
 *       or TLSD_E_NOT_PREPARED: nothing prepared (never, aborted, failed,
 *          already committed, or tlsd restarted since).
 *   TLSD_CONFIG_ABORT ()
 *       Frees the prepared state (closing the new ports' sockets). -> 0.
 *
 *   Memory is bounded: one prepared state at most (a PREPARE replaces an
 *   unfinished one).  The console calls PREPARE on every server first and
 *   COMMIT only when all accepted, ABORT otherwise.  A restarted tlsd
 *   serves the site archive's appliance.conf again: the console gives it
 *   the running configuration anew (as it does netd).
 */
#ifndef KEEL_ABI_TLSD_H
#define KEEL_ABI_TLSD_H

#include <keel/errors.h>

#include <stdint.h>

#define TLSD_MAX_LISTENERS 8

/* The admin region "tlsadm-C" (see above). */
#define TLSADM_SHM_PAGES 17
#define TLSADM_IN_OFF    0u
#define TLSADM_IN_MAX    65536u /* appliance/config/conf.h CONF_TEXT_MAX */
#define TLSADM_OUT_OFF   65536u
#define TLSADM_OUT_MAX   (TLSADM_SHM_PAGES * 4096u - TLSADM_OUT_OFF)

enum tlsd_label {
    TLSD_LISTENERS = 1,
    TLSD_STATS = 2,
    TLSD_CONFIG_PREPARE = 3, /* admin client only */
    TLSD_CONFIG_COMMIT = 4,  /* admin client only */
    TLSD_CONFIG_ABORT = 5,   /* admin client only */
    TLSD_STATS_CLEAR = 6,    /* admin client only: () zero every listener's counters but
                              * `current` (the console's `clear counters`) -> 0 */
};

enum tlsd_error {
    TLSD_E_BAD_LISTENER = -800, /* listener index >= TLSD_LISTENERS' n */
    TLSD_E_BAD_GROUP = -801,    /* group >= TLSD_G_COUNT */
    TLSD_E_NOT_ADMIN = -802,    /* a config call from a caller without a "tlsadm-C" region */
    TLSD_E_INVAL = -803,        /* a text length beyond TLSADM_IN_MAX */
    TLSD_E_CONFIG = -804,       /* the configuration is refused (line, column, message) */
    TLSD_E_NOT_PREPARED = -805, /* COMMIT without a prepared configuration */
    TLSD_E_IDLE = -806,         /* any call: tlsd refuses to serve (no entropy, no socket service, no tls
                                 * blocks, ...: its log line at start says why) and only answers this */
};
_Static_assert(KEEL_ERR_IN(TLSD, TLSD_E_BAD_LISTENER) && KEEL_ERR_IN(TLSD, TLSD_E_IDLE),
               "TLSD_E_* in its range (keel/errors.h)");

enum tlsd_group {
    TLSD_G_CONNS = 0,
    TLSD_G_HANDSHAKES = 1,
    TLSD_G_BYTES = 2,
    TLSD_G_FAILED = 3, /* 3, 4, 5, 6: reasons 0-3, 4-7, 8-11, 12-15 */
    TLSD_G_VERSIONS = 7,
    TLSD_G_COUNT = 8,
};

/* Why a handshake failed (one reason per failed connection). */
enum tlsd_fail {
    TLSD_FAIL_NONE = 0,
    TLSD_FAIL_NOT_TLS = 1,    /* the first bytes are not a TLS handshake record (garbage, plain HTTP) */
    TLSD_FAIL_BAD_HELLO = 2,  /* a malformed ClientHello, or no ALPN protocol in common */
    TLSD_FAIL_VERSION = 3,    /* no version in common (TLS 1.1 or older, or one the listener's tls-versions excludes) */
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
_Static_assert(TLSADM_IN_OFF + TLSADM_IN_MAX <= TLSADM_OUT_OFF, "the two areas do not overlap");
_Static_assert(TLSADM_OUT_MAX >= 4096u, "room for a message");
_Static_assert(TLSD_FAIL_COUNT <= 4 * (TLSD_G_VERSIONS - TLSD_G_FAILED), "every reason has a slot");

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
