/*
 * keel/keyd_client.h - the thin client library of keyd's protocol
 * (abi/keel/keyd.h), for tlsd: open keys by name, and a struct tls_signer
 * (tls_conn.h) that sends the engine's signatures to keyd.
 *
 * TLS 1.2's signatures never wait for keyd's signing: KEYD_SIGN is a
 * call that keyd answers at once with "queued" (it receives between any
 * two signatures, so the call waits at most for the one signature keyd is
 * busy with), and the result arrives later in the slot, announced by
 * KEYD_NOTIFY_BIT on the owner's notification: the owner re-drives the
 * connections waiting for a signature when that bit comes, and never polls.
 * TLS 1.3's signatures wait (sign_now, KEYD_SIGN_NOW: a call that returns
 * with the signature; tls_psa.h says why): for the signatures keyd is
 * busy with, then this one (asked again of keyd's successor if keyd dies
 * holding it).  keyd_client_unsubmitted() stays for the older
 * non-blocking form's callers and is 0 with this one.
 *
 * One slot per signature in flight (KEYD_SLOTS; with all in flight a new
 * signature gets TLS_WANT_SIGN and the engine retries it later, so any
 * number of handshakes may queue); a connection holds at
 * most one.  Slots are matched to results by sequence number, so a
 * restarted keyd (new generation) can never hand a stale signature to a
 * new request.  A struct keyd_client is one thread's; several threads
 * (tlsd's workers) each have one over their own share of the slots
 * (keyd_client_init_slots), and keyd_pool_signer sends each signature to
 * the calling thread's.
 *
 * Key ids.  The id keyd_client_open hands out is a handle: an index in the
 * client's table of key names (one table for a pool's clients), stable
 * while the client lives.  keyd's own id for the key, and the generation
 * of keyd it came from, stay in the table.  A restarted keyd numbers its
 * keys anew (boot keys first, then in the order they are opened again), so
 * every KEYD_SIGN carries the generation; keyd answers KEYD_E_STALE to an
 * old one, and the library opens every name in the table again and asks
 * once more.  A keyd restart costs the signatures in flight and a delay,
 * never a wrong key, and keys opened after boot (console commits) come
 * back too: keyd loads them from the site archive by name.
 */
#ifndef KEEL_LIB_KEYD_CLIENT_H
#define KEEL_LIB_KEYD_CLIENT_H

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

/* Handles' table (see the top).  Writers (open, refresh) hold LOCK;
 * signers read a key's word atomically without it. */
#define KEYD_CLIENT_KEYS (2 * KEYD_MAX_KEYS) /* names tried in aborted commits take a handle too */
struct keyd_keys {
    uint32_t lock;
    unsigned n;
    struct {
        char name[KEYD_NAME_MAX];
        uint64_t word; /* keyd's id | generation << 32; generation 0: not open in any keyd */
    } k[KEYD_CLIENT_KEYS];
};

struct keyd_client {
    uint64_t ep;            /* send capability to keyd */
    struct keyd_keys *keys; /* &own_keys, or a pool's kc[0]'s */
    struct keyd_keys own_keys;
    volatile struct keyd_slot *slots; /* the shared region, mapped by the owner */
    uint32_t generation;              /* keyd's, at the last KEYD_INFO */
    unsigned first, end;              /* the slots [first, end) are this client's */
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
    uint64_t reopened; /* times this thread opened the keys again on a new keyd */
};

/* SHM is the mapped "shm:keyd" region.  Asks keyd for its generation.
 * Returns 0 or a KEYD_E_* / KE_* error. */
int keyd_client_init(struct keyd_client *kc, uint64_t ep, void *shm);

/* The same over the slots [FIRST, FIRST + COUNT) only (KEYD_E_SLOT when
 * they are not within KEYD_SLOTS), so several clients share one region. */
int keyd_client_init_slots(struct keyd_client *kc, uint64_t ep, void *shm, unsigned first, unsigned count);

/* KEYD_INFO: keys loaded and generation (either may be NULL).  A new
 * generation (keyd restarted) fails every request still out; the owner
 * must then open its keys again (ids are not kept across restarts). */
int keyd_client_info(struct keyd_client *kc, uint32_t *n_keys, uint32_t *generation);

/* KEYD_OPEN NAME: the key's handle (the id the engine signs with; see
 * the top), type (KEYD_KEY_*), bits and public-key fingerprint (32 bytes).
 * Blocks for the load.  Returns 0 or a KEYD_E_* / KE_* error. */
int keyd_client_open(struct keyd_client *kc, const char *name, uint32_t *id, unsigned *type, unsigned *bits,
                     uint8_t fp[32]);

/* Requests whose KEYD_SIGN keyd has not accepted yet. */
unsigned keyd_client_unsubmitted(const struct keyd_client *kc);

/* The engine's signer, sending to KC. */
struct tls_signer keyd_client_signer(struct keyd_client *kc);

/* Several threads' clients behind one signer: each call goes to kc[self()]
 * (kc[0] when self is NULL or its answer has no client).  The pool is the
 * caller's and must outlive the signer.  keyd_pool_signer makes every
 * client use kc[0]'s key table, so a key opened on kc[0] signs on any. */
#define KEYD_POOL_MAX 9
struct keyd_pool {
    struct keyd_client *kc[KEYD_POOL_MAX];
    unsigned n;
    unsigned (*self)(void);
};
struct tls_signer keyd_pool_signer(struct keyd_pool *p);

/* A short constant description of a KEYD_E_* code. */
const char *keyd_strerror(int err);

#endif
