/*
 * tls_ticket.h - session tickets (RFC 5077) for the TLS engine, with the
 * ticket key rotated on a schedule and time passed in.
 *
 * A ticket is the server's own session state, sealed with a key only the
 * server has, handed to the client to present on its next connection:
 *
 *   key name (4) | IV (12) | length (2) | AES-256-GCM(issued (8) | session) | tag (16)
 *
 * The key name, IV and length are the GCM additional data; "issued" is
 * the ticket's issue time in seconds (big-endian) and "session" mbedTLS's
 * own serialisation (mbedtls_ssl_session_save: master secret, suite, ...).
 * IVs are random (96 bits from the DRBG): far fewer than 2^32 tickets are
 * sealed under one key before it rotates.
 *
 * Keys and time: two key slots.  The active key seals; at
 * tls_ticket_tick(now) with now >= active.created + rotate_s a fresh key
 * (from the DRBG) becomes active and the old one stays for opening only,
 * until the next rotation replaces it.  A ticket is accepted when its key
 * is still held and it is at most lifetime_s old; tickets sealed under an
 * unknown (rotated out) key, too old, or failing authentication are
 * refused, and mbedTLS falls back to a full handshake.  lifetime_s <=
 * rotate_s, so a ticket never outlives the key that opens it.  The clock
 * is whatever the owner passes to tls_ticket_tick (seconds, monotonic):
 * tlsd passes keel_now_ns() / 1e9; tests pass what they like.
 *
 * Memory: the struct is the owner's; the GCM contexts allocate through
 * tls_mem (global account) at setup and rotation, never while a
 * connection seals or opens a ticket.  Single-threaded.
 */
#ifndef KEEL_TLS_TICKET_H
#define KEEL_TLS_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbedtls/gcm.h"
#include "mbedtls/ssl.h"

#include "tls_lock.h"

#define TLS_TICKET_NAME_LEN 4
#define TLS_TICKET_IV_LEN   12
#define TLS_TICKET_TAG_LEN  16
#define TLS_TICKET_HDR_LEN  (TLS_TICKET_NAME_LEN + TLS_TICKET_IV_LEN + 2)
#define TLS_TICKET_OVERHEAD (TLS_TICKET_HDR_LEN + 8 + TLS_TICKET_TAG_LEN)

#define TLS_TICKET_ROTATE_DEFAULT   3600 /* seconds a key seals */
#define TLS_TICKET_LIFETIME_DEFAULT 3600 /* seconds a ticket is good for */

enum tls_ticket_error {
    TLS_TICKET_OK = 0,
    TLS_TICKET_E_INVAL = -1,  /* lifetime > rotate, zero periods, NULL */
    TLS_TICKET_E_RANDOM = -2, /* the DRBG failed: no new key (the old one keeps sealing) */
    TLS_TICKET_E_CIPHER = -3, /* GCM setup failed (memory) */
};

struct tls_ticket_key {
    bool live;
    uint8_t name[TLS_TICKET_NAME_LEN];
    uint64_t created; /* seconds, the owner's clock */
    mbedtls_gcm_context gcm;
};

struct tls_ticket_stats {
    uint64_t issued, accepted, rotations;
    uint64_t refused_unknown_key, refused_expired, refused_auth, refused_malformed;
};

struct tls_tickets {
    struct tls_ticket_key keys[2];
    unsigned active; /* index of the key that seals */
    uint32_t rotate_s, lifetime_s;
    uint64_t now; /* seconds: the last tls_ticket_tick */
    int (*f_rng)(void *, unsigned char *, size_t);
    void *p_rng;
    struct tls_ticket_stats stats;
    /* One key for every thread that serves the listener (tlsd's workers):
     * a ticket sealed on one worker opens on another.  The lock covers the
     * keys (a GCM context is not reentrant), the clock and the counters,
     * in tick, write and parse. */
    struct tls_lock lock;
};

/* Makes the first key.  Returns TLS_TICKET_OK or an error above (t is
 * then unusable but may be freed). */
int tls_ticket_setup(struct tls_tickets *t, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                     uint32_t rotate_s, uint32_t lifetime_s, uint64_t now) __attribute__((warn_unused_result));

/* Advances the clock to NOW (seconds; a clock going backwards is taken as
 * "no time passed") and rotates when due.  Returns 1 (rotated), 0, or
 * TLS_TICKET_E_RANDOM / TLS_TICKET_E_CIPHER (rotation failed; tried again
 * next tick, the old key keeps sealing). */
int tls_ticket_tick(struct tls_tickets *t, uint64_t now);

/* mbedTLS's ticket callbacks (mbedtls_ssl_conf_session_tickets_cb), with
 * the struct tls_tickets as context. */
int tls_ticket_write(void *ctx, const mbedtls_ssl_session *session, unsigned char *start, const unsigned char *end,
                     size_t *tlen, uint32_t *lifetime);
int tls_ticket_parse(void *ctx, mbedtls_ssl_session *session, unsigned char *buf, size_t len);

void tls_ticket_free(struct tls_tickets *t);

#endif
