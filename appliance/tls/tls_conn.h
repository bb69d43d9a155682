/*
 * tls_conn.h - the TLS engine of tlsd: a server configuration per listener
 * (struct tls_server) and a state machine per connection (struct
 * tls_conn), over an abstract transport, with private-key operations
 * delegated to a signer (keyd).
 *
 * The engine owns no socket, no timer and no thread.  Its owner (tlsd's
 * event loop; the host tests; tlsselftest) gives each connection a
 * transport (two callbacks that move bytes without blocking) and calls
 * the engine when something may have changed: bytes arrived, the
 * transport became writable, the key server answered, time passed.  Each
 * call does what it can without waiting and says what it is waiting for
 * (TLS_WANT_READ / TLS_WANT_WRITE / TLS_WANT_SIGN).
 *
 * Connection states:
 *
 *   HANDSHAKE --tls_conn_handshake() == TLS_OK--> OPEN
 *   OPEN: application data both ways.  Each direction closes on its own
 *         (half-close): the peer's close_notify makes tls_conn_read
 *         return TLS_EOF (rd_closed) while we may still write;
 *         tls_conn_shutdown sends our close_notify (wr_closed) while we
 *         may still read.  Both closed -> CLOSED.
 *   any --fatal error or tls_conn_abort()--> FAILED (reason set, counted
 *         once in the listener's statistics; an alert may still be
 *         queued: tls_conn_flush pushes it out, best effort).
 *
 * Certificates and SNI: tls_server_add_cert() loads a chain (PEM) whose
 * private key lives in keyd under KEY_ID, with the server names it answers
 * (exact or "*." wildcard, tls_sni.h) and whether it is a default.  A
 * client's SNI picks the certificates of the best match; no SNI or no
 * match picks the defaults.  Among the picked ones mbedTLS chooses by key
 * type (an ECDSA and an RSA certificate may share names).  The engine
 * holds only public keys: every signature goes to the signer.
 *
 * Versions: TLS 1.3 and TLS 1.2, or one of them (tls_server_opts.versions);
 * with both, a client that offers 1.3 gets 1.3.
 *
 * Signing in TLS 1.2 (MBEDTLS_SSL_ASYNC_PRIVATE): when the handshake needs
 * the ServerKeyExchange signature the engine calls signer.start(key id,
 * hash) and tls_conn_handshake returns TLS_WANT_SIGN; the owner calls it
 * again when the signer may be done (keyd's notification); the engine
 * polls signer.poll and carries on.  A refused or failed signature fails
 * the handshake with TLS_R_SIGN.  A connection freed mid-signature cancels
 * it.  Signing in TLS 1.3 (CertificateVerify): mbedTLS 3.6 has no
 * asynchronous hook there, so each certificate's key is an opaque PSA key
 * whose secure element calls signer.sign_now synchronously (tls_psa.h);
 * a failure there also fails the handshake with TLS_R_SIGN.
 *
 * Session tickets (tls_ticket.h): on by default, keys rotated by
 * tls_server_tick(now); in TLS 1.3 a ticket is a PSK, always used with a
 * fresh (EC)DHE exchange (psk_dhe_ke), never alone.  ALPN: the listener's list, server preference;
 * the chosen protocol is tls_conn_alpn() for the proxy to pass on.
 *
 * Memory, bounded per connection: each connection has a tls_mem account
 * (tls_mem.h) with a limit (tls_server_opts.conn_mem_limit, default
 * TLS_CONN_MEM_DEFAULT); every allocation mbedTLS makes for it is charged
 * there and refused past the limit (the handshake then fails with
 * TLS_R_MEMORY).  Measured with this configuration (16 KiB records both
 * ways; test_tls_conn.c prints the figures and checks them against the
 * limit), in bytes charged (allocator overhead included):
 *     34.8 KiB after tls_conn_init: the two record buffers (in and out,
 *              16 KiB of payload each plus header and AEAD expansion);
 *     33.1 KiB while open (the handshake state gone, the keys kept);
 *     38.9 KiB peak, during a full handshake (ECDHE, handshake hashes,
 *              TLS 1.3's key schedule), the same for ECDSA and RSA
 *              certificates and for TLS 1.2 and 1.3 (Mbed TLS 3.6);
 * plus sizeof(struct tls_conn), ~1 KiB, in the owner's memory.  The
 * default limit, TLS_CONN_MEM_DEFAULT = 48 KiB, leaves ~9 KiB of margin.
 *
 * Parking: an OPEN connection with no partial record in either direction
 * (nothing half read from the transport, no decrypted bytes the owner has
 * not taken, nothing queued to send) may be parked (tls_conn_park): its
 * two record buffers are given back and replaced by TLS_PARK_BYTES each,
 * which keep the incoming record sequence number (the first 8 bytes of
 * mbedTLS's in_buf) while the offsets of mbedTLS's pointers into the
 * buffers are kept in the struct.  Every engine call that enters mbedTLS
 * unparks first (full-size buffers again, the pointers re-derived, as
 * mbedTLS's own MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH resizing does), so
 * parking is invisible to the owner and to the peer; a call that finds no
 * memory to unpark returns TLS_WANT_MEMORY and changes nothing (the owner
 * calls again later: the connection waits, it does not fail).  A parked
 * connection's
 * account holds only the keys, the session and the two small buffers
 * (test_tls_conn.c measures it; under TLS_PARKED_MEM_MAX), so an idle
 * connection costs ~2 KiB instead of ~33 KiB.  tlsd parks a connection
 * once nothing has moved on it for a second.
 *
 * Threads: none; not thread-safe.  All callbacks run inside engine calls.
 */
#ifndef KEEL_TLS_CONN_H
#define KEEL_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

#include "tls_mem.h"
#include "tls_sni.h"
#include "tls_ticket.h"

#define TLS_MAX_CERTS        16
#define TLS_MAX_NAMES        32 /* SNI names over all certificates of a listener */
#define TLS_MAX_ALPN         8
#define TLS_ALPN_LEN         32           /* bytes per protocol name, NUL included */
#define TLS_CONN_MEM_DEFAULT (48u * 1024) /* bytes per connection, mbedTLS's share */
#define TLS_PARK_BYTES       64u          /* each record buffer of a parked connection */
#define TLS_PARKED_MEM_MAX   (4u * 1024)  /* a parked connection's account stays below (test_tls_conn.c) */

/* Returned by the engine's calls (negative; 0 is success, > 0 a count). */
enum tls_status {
    TLS_OK = 0,
    TLS_WANT_READ = -1,   /* needs bytes from the transport: call again when readable */
    TLS_WANT_WRITE = -2,  /* the transport is full: call again when writable */
    TLS_WANT_SIGN = -3,   /* waiting for the signer: call again when it may be done */
    TLS_EOF = -4,         /* tls_conn_read: the peer closed its direction (close_notify) */
    TLS_E_FAILED = -5,    /* the connection failed (tls_conn_reason says why) */
    TLS_E_STATE = -6,     /* not allowed in this state (write after shutdown, ...) */
    TLS_E_INVAL = -7,     /* a bad argument */
    TLS_WANT_MEMORY = -8, /* parked, and no memory to take its record buffers back: call again later */
};

/* Why a connection failed: one counter each per listener. */
enum tls_reason {
    TLS_R_NONE = 0,
    TLS_R_NOT_TLS,    /* the first bytes are not a TLS handshake record (garbage, plain HTTP) */
    TLS_R_BAD_HELLO,  /* a malformed ClientHello, or no protocol in common (ALPN) */
    TLS_R_VERSION,    /* no version in common (TLS 1.1 or older, or one the listener does not allow) */
    TLS_R_NO_SUITE,   /* no cipher suite, curve or certificate type in common */
    TLS_R_BAD_RECORD, /* a record too long, malformed, or failing its MAC */
    TLS_R_PEER_ALERT, /* the peer sent a fatal alert */
    TLS_R_EOF,        /* the peer went away during the handshake */
    TLS_R_SIGN,       /* the signer refused or failed */
    TLS_R_MEMORY,     /* the connection's memory limit */
    TLS_R_RANDOM,     /* the DRBG failed (no entropy left) */
    TLS_R_IO,         /* the transport failed */
    TLS_R_TIMEOUT,    /* the owner: handshake or idle timeout */
    TLS_R_ABORTED,    /* the owner: anything else (backend refused, shutting down) */
    TLS_R_PROTOCOL,   /* any other protocol error (unexpected message, ...) */
    TLS_R_COUNT
};

/* A short constant phrase for logs ("not TLS", "old protocol version", ...). */
const char *tls_reason_str(enum tls_reason r);

/* ---------------------------------------------------------- transport ---- */

#define TLS_IO_AGAIN (-1) /* nothing can move now */
#define TLS_IO_ERROR (-2) /* the transport broke (reset) */

struct tls_transport {
    /* Takes up to len bytes: returns how many (> 0), TLS_IO_AGAIN or TLS_IO_ERROR. */
    int (*send)(void *io, const uint8_t *buf, size_t len);
    /* Gives up to len bytes: returns how many (> 0), 0 when the peer
     * closed (end of stream), TLS_IO_AGAIN or TLS_IO_ERROR. */
    int (*recv)(void *io, uint8_t *buf, size_t len);
};

/* ------------------------------------------------------------- signer ---- */

struct tls_conn;

struct tls_signer {
    /* Starts a signature of HASH (HASH_LEN bytes, digest MD) with the key
     * KEY_ID for C; must copy HASH.  Returns TLS_OK (started),
     * TLS_WANT_SIGN (no room for another signature now: the engine keeps
     * the request and calls start again at the next handshake step) or
     * TLS_E_FAILED (refused). */
    int (*start)(void *ctx, struct tls_conn *c, uint32_t key_id, mbedtls_md_type_t md, const uint8_t *hash,
                 size_t hash_len);
    /* TLS_OK with the signature (DER for ECDSA, PKCS#1 v1.5 for RSA) in
     * OUT and its length in *OUT_LEN; TLS_WANT_SIGN (not yet); TLS_E_FAILED. */
    int (*poll)(void *ctx, struct tls_conn *c, uint8_t *out, size_t *out_len, size_t out_size);
    /* C goes away with a signature outstanding: forget it.  May be NULL. */
    void (*cancel)(void *ctx, struct tls_conn *c);
    void *ctx;
    /* Signs HASH (HASH_LEN bytes, digest MD) with the key KEY_ID now and
     * waits for it (TLS 1.3, through tls_psa.h's secure element): RSA-PSS
     * with a salt as long as the hash when PSS, else PKCS#1 v1.5; ECDSA
     * for EC keys (PSS ignored).  Writes the signature (DER for ECDSA) to
     * OUT and its length to *OUT_LEN.  Returns TLS_OK or TLS_E_FAILED.
     * NULL: TLS 1.3 handshakes fail with TLS_R_SIGN. */
    int (*sign_now)(void *ctx, uint32_t key_id, bool pss, mbedtls_md_type_t md, const uint8_t *hash, size_t hash_len,
                    uint8_t *out, size_t *out_len, size_t out_size);
};

/* ------------------------------------------------------------- server ---- */

/* Protocol versions, as bits of tls_server_opts.versions. */
#define TLS_V12 0x1u
#define TLS_V13 0x2u

enum tls_version_index { TLS_VI_12 = 0, TLS_VI_13 = 1, TLS_VI_COUNT };

struct tls_stats {
    uint64_t handshakes_ok, resumed;
    uint64_t version_ok[TLS_VI_COUNT];      /* handshakes_ok by version */
    uint64_t version_resumed[TLS_VI_COUNT]; /* resumed by version */
    uint64_t failed[TLS_R_COUNT];           /* by reason; [TLS_R_NONE] stays 0 */
    uint64_t sni_exact, sni_wildcard, sni_default;
    uint64_t truncated;           /* streams that ended without close_notify (not a failure) */
    uint64_t bytes_in, bytes_out; /* application data, decrypted / before encryption */
    uint64_t current;             /* connections initialised and not yet freed */
};

struct tls_cert {
    mbedtls_x509_crt chain; /* leaf first; its public key stands in for the private one in TLS 1.2 */
    mbedtls_pk_context key; /* TLS 1.3: the opaque key in keyd's secure element (tls_psa.h) */
    uint32_t key_id;        /* the signer's name for the private key */
    bool is_default;
};

struct tls_server_opts {
    int (*f_rng)(void *, unsigned char *, size_t); /* the DRBG (tls_entropy_random) */
    void *p_rng;
    struct tls_signer signer;
    size_t conn_mem_limit;                       /* 0: TLS_CONN_MEM_DEFAULT */
    unsigned versions;                           /* TLS_V12 | TLS_V13 bits; 0: both */
    bool no_tickets;                             /* session tickets are on unless this is set */
    uint32_t ticket_rotate_s, ticket_lifetime_s; /* 0: TLS_TICKET_*_DEFAULT */
    uint64_t now_s;                              /* the owner's clock, seconds */
};

struct tls_server {
    mbedtls_ssl_config conf;
    struct tls_signer signer;
    size_t conn_mem_limit;
    unsigned versions; /* TLS_V12 | TLS_V13, never 0 */
    struct tls_cert certs[TLS_MAX_CERTS];
    unsigned n_certs;
    struct tls_sni_entry names[TLS_MAX_NAMES];
    char name_store[TLS_MAX_NAMES][TLS_SNI_NAME_MAX + 1];
    unsigned n_names;
    char alpn_store[TLS_MAX_ALPN][TLS_ALPN_LEN];
    const char *alpn[TLS_MAX_ALPN + 1]; /* NULL-terminated, for mbedTLS */
    bool tickets_on;
    struct tls_tickets tickets;
    struct tls_stats stats;
};

/* Sets up a listener's configuration.  Returns TLS_OK or TLS_E_INVAL /
 * TLS_E_FAILED with a message in ERR. */
int tls_server_init(struct tls_server *s, const struct tls_server_opts *o, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Adds a certificate chain (PEM, LEN bytes, need not be NUL-terminated)
 * whose private key is KEY_ID at the signer, answering NAMES (N patterns)
 * and, if IS_DEFAULT, clients without a (matching) SNI.  KEY_FP, when not
 * NULL, is the SHA-256 of the key's public half (tls_pk_fingerprint, what
 * keyd's KEYD_OPEN returns): the certificate must carry the same key.  The
 * leaf's key must pass tls_pk_check (RSA >= 2048 bits, EC P-256/P-384).  Returns
 * TLS_OK, or TLS_E_INVAL with the reason in ERR. */
int tls_server_add_cert(struct tls_server *s, const uint8_t *pem, size_t len, uint32_t key_id, const uint8_t *key_fp,
                        const char *const *names, size_t n, bool is_default, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Sets the protocols offered by ALPN, in preference order (e.g. "h2",
 * "http/1.1").  A client offering ALPN with none of them is refused. */
int tls_server_set_alpn(struct tls_server *s, const char *const *protos, size_t n, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Time passed: rotates the ticket key when due. */
void tls_server_tick(struct tls_server *s, uint64_t now_s);

/* All connections must be freed first. */
void tls_server_free(struct tls_server *s);

/* --------------------------------------------------------- connection ---- */

enum tls_conn_state { TLS_CS_HANDSHAKE, TLS_CS_OPEN, TLS_CS_CLOSED, TLS_CS_FAILED };

struct tls_conn {
    /* Set by tls_conn_init, constant after. */
    struct tls_server *srv;
    const struct tls_transport *io;
    void *io_ctx;
    void *user; /* the owner's; the engine never touches it */

    /* The engine's. */
    enum tls_conn_state state;
    enum tls_reason reason; /* TLS_R_NONE unless FAILED */
    int mbedtls_err;        /* the mbedTLS error behind reason (0 if none) */
    bool rd_closed;         /* the peer's close_notify (or end of stream) arrived */
    bool truncated;         /* ... end of stream without close_notify */
    bool wr_closed;         /* our close_notify is queued or sent */
    bool resumed;           /* this handshake resumed a session (ticket) */
    bool sign_pending;      /* signer.start called (or deferred), result not yet taken */
    bool sign_deferred;     /* signer.start said TLS_WANT_SIGN: the request waits in defer_* */
    uint8_t defer_md;       /* deferred: the digest's mbedtls_md_type_t */
    uint8_t defer_len;      /* deferred: bytes in defer_hash */
    uint32_t defer_key;     /* deferred: the signer's key id */
    uint8_t defer_hash[64]; /* deferred: the digest (SHA-512 at most) */
    bool sign_failed;       /* the signer refused or failed */
    bool io_failed;         /* the transport said TLS_IO_ERROR */
    int signed_cert;        /* index of the certificate that signed, -1: none (resumed) */
    enum tls_sni_kind sni_kind;
    char sni[TLS_SNI_NAME_MAX + 1]; /* the client's server name, "" if none or unusable */
    uint8_t first[128];             /* the first bytes received: the ClientHello's start, up to its suites */
    size_t first_len;
    uint64_t bytes_in, bytes_out; /* application data */
    struct tls_mem_account mem;   /* what mbedTLS holds for this connection */
    /* Parked (tls_conn_park): ssl.in_buf/out_buf are TLS_PARK_BYTES each
     * and mbedTLS's other pointers into them are unset; park_in/park_out
     * hold their offsets (ctr, hdr, len, iv, msg) to restore. */
    bool parked;
    uint16_t park_in[5], park_out[5];
    mbedtls_ssl_context ssl;
};

/* Starts a server-side connection over IO.  Returns TLS_OK, or
 * TLS_E_FAILED (memory: reason TLS_R_MEMORY; c must still be freed). */
int tls_conn_init(struct tls_conn *c, struct tls_server *s, const struct tls_transport *io, void *io_ctx)
    __attribute__((warn_unused_result));

/* Drives the handshake: TLS_OK once it is complete (state OPEN), else
 * TLS_WANT_READ / TLS_WANT_WRITE / TLS_WANT_SIGN / TLS_E_FAILED.  In OPEN
 * it returns TLS_OK at once. */
int tls_conn_handshake(struct tls_conn *c);

/* Decrypts application data into BUF: the byte count (> 0), TLS_EOF (the
 * peer's close_notify, or end of stream: rd_closed), TLS_WANT_READ,
 * TLS_WANT_WRITE (an alert must go out first), TLS_WANT_MEMORY (parked:
 * see above), TLS_E_FAILED, TLS_E_STATE (handshake not done). */
int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t len);

/* Encrypts up to LEN bytes (one record, at most 16 KiB): the count taken
 * (> 0; they are the engine's now, even if still queued for the
 * transport), TLS_WANT_WRITE (an earlier record is still queued: nothing
 * taken), TLS_WANT_MEMORY (parked: nothing taken), TLS_E_FAILED,
 * TLS_E_STATE (not OPEN, or after shutdown). */
int tls_conn_write(struct tls_conn *c, const uint8_t *buf, size_t len);

/* Pushes queued bytes to the transport: TLS_OK (nothing left),
 * TLS_WANT_WRITE, TLS_E_FAILED.  Also usable in FAILED (to deliver an
 * alert; then TLS_OK or TLS_WANT_WRITE, never fails again). */
int tls_conn_flush(struct tls_conn *c);

/* Closes our direction with close_notify: TLS_OK when sent, TLS_WANT_WRITE
 * (call again or flush), TLS_WANT_MEMORY (parked: call again later),
 * TLS_E_FAILED, TLS_E_STATE (not OPEN). */
int tls_conn_shutdown(struct tls_conn *c);

/* Gives back C's record buffers while it is idle (see "Parking" above).
 * Returns true when C is parked now (or was), false when it cannot be:
 * not OPEN, a record in progress either way, bytes queued to send, or no
 * memory for the small buffers (C is then unchanged and still works).
 * Any later engine call on C unparks it first. */
bool tls_conn_park(struct tls_conn *c);

/* The owner ends the connection (timeout, backend refused, ...): state
 * FAILED with REASON, counted.  No alert is sent. */
void tls_conn_abort(struct tls_conn *c, enum tls_reason reason);

/* Releases everything mbedTLS holds for C (cancelling a pending
 * signature).  Returns true when the connection's account came back to
 * zero (false: a leak, a bug; the owner logs it). */
bool tls_conn_free(struct tls_conn *c);

/* After the handshake: the negotiated ALPN protocol (NULL if none), the
 * suite name, the version ("TLSv1.3", "TLSv1.2"). */
const char *tls_conn_alpn(const struct tls_conn *c);
const char *tls_conn_suite(const struct tls_conn *c);
const char *tls_conn_version(const struct tls_conn *c);

/* "not TLS (first bytes 47 45 54 20 2f)", "old protocol version (TLS 1.1)",
 * ... with detail where the engine has it. */
const char *tls_conn_describe_failure(const struct tls_conn *c, char *buf, size_t len);

#endif
