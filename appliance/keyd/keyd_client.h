/*
 * keyd_client.h - the thin client library of keyd's protocol
 * (abi/keel/keyd.h), for tlsd: open keys by name, and a struct tls_signer
 * (tls_conn.h) that sends the engine's signatures to keyd.
 *
 * TLS 1.2's signatures never block on keyd while it signs: KEYD_SIGN goes
 * out as a non-blocking call.  TLS 1.3's do (sign_now, KEYD_SIGN_NOW: a
 * call that returns with the signature; tls_psa.h says why), but only once
 * keyd takes the call: if keyd is not receiving for 3 s (or dies holding
 * the call and no successor takes it in that time), the signature fails
 * instead.  When keyd is busy (not receiving), the request stays
 * "unsubmitted" in its slot and every later poll tries again; the owner
 * must re-drive waiting connections both on KEYD_NOTIFY_BIT (a slot
 * finished) and, while keyd_client_unsubmitted() > 0, on a short timer
 * (a millisecond): keyd's notification only says "done", never "I am
 * receiving again".
 *
 * One slot per signature in flight (KEYD_SLOTS; with all in flight a new
 * signature gets TLS_WANT_SIGN and the engine retries it later, so any
 * number of handshakes may queue); a connection holds at
 * most one.  Slots are matched to results by sequence number, so a
 * restarted keyd (new generation) can never hand a stale signature to a
 * new request.  Single-threaded; the struct is the owner's.
 */
#ifndef KEEL_KEYD_CLIENT_H
#define KEEL_KEYD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <keel/keyd.h>

#include "tls_conn.h"

enum keyd_slot_use {
    KC_FREE = 0,
    KC_UNSUBMITTED, /* written, KEYD_SIGN not accepted yet (keyd busy) */
    KC_WAITING,     /* accepted: waiting for DONE/FAILED in the slot */
    KC_LOST,        /* keyd restarted meanwhile: the next poll fails it */
};

struct keyd_client {
    uint64_t ep;                      /* send capability to keyd */
    volatile struct keyd_slot *slots; /* the shared region, mapped by the owner */
    uint32_t generation;              /* keyd's, at the last KEYD_INFO */
    uint32_t next_seq;
    struct {
        enum keyd_slot_use use;
        uint32_t seq;
        uint32_t key;
        unsigned hash; /* KEYD_HASH_* */
        size_t hash_len;
        uint8_t digest[KEYD_HASH_MAX];
        const void *owner; /* the struct tls_conn it signs for */
    } s[KEYD_SLOTS];
    uint64_t submitted, retries, done, failed;
};

/* SHM is the mapped "shm:keyd" region.  Asks keyd for its generation.
 * Returns 0 or a KEYD_E_* / KE_* error. */
int keyd_client_init(struct keyd_client *kc, uint64_t ep, void *shm);

/* KEYD_INFO: keys loaded and generation (either may be NULL).  A new
 * generation (keyd restarted) fails every request still out; the owner
 * must then open its keys again (ids are not kept across restarts). */
int keyd_client_info(struct keyd_client *kc, uint32_t *n_keys, uint32_t *generation);

/* KEYD_OPEN NAME: the key's id, type (KEYD_KEY_*), bits and public-key
 * fingerprint (32 bytes).  Blocks for the load (start-up time only).
 * Returns 0 or a KEYD_E_* / KE_* error. */
int keyd_client_open(struct keyd_client *kc, const char *name, uint32_t *id, unsigned *type, unsigned *bits,
                     uint8_t fp[32]);

/* Requests whose KEYD_SIGN keyd has not accepted yet. */
unsigned keyd_client_unsubmitted(const struct keyd_client *kc);

/* The engine's signer, sending to KC. */
struct tls_signer keyd_client_signer(struct keyd_client *kc);

/* A short constant description of a KEYD_E_* code. */
const char *keyd_strerror(int err);

#endif
