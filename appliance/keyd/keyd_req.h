/*
 * keyd_req.h - keyd's request checks and argument parsing: pure functions
 * over the message words, copies of the shared slots and keyd's state, so
 * every rule that stands between a client and a private key is
 * host-tested (tests/unit/test_tls_keyd.c).
 *
 * The rule for shared memory: a check copies what it needs out of the
 * slot first (a client may change the slot at any moment) and looks only
 * at the copy; lengths come from the message words, never from the slot.
 * Each check either fills its output completely and returns 0, or returns
 * a KEYD_E_* code and leaves keyd's state untouched (validate, then commit:
 * the caller commits).
 */
#ifndef KEEL_KEYD_REQ_H
#define KEEL_KEYD_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <keel/keyd.h>

/* What the checks need of keyd's state. */
struct keyd_req_state {
    uint64_t client;     /* the one badge keyd answers; 0: nobody */
    unsigned n_keys;     /* key ids 0 .. n_keys-1 are loaded */
    uint32_t busy;       /* bit i: slot i has a queued KEYD_SIGN */
    uint32_t generation; /* keyd's restart count + 1 (keel/keyd.h) */
};

/* A checked KEYD_SIGN, with its own copy of the hash. */
struct keyd_job {
    uint32_t slot, key, seq;
    unsigned hash;   /* KEYD_HASH_* */
    bool pss;        /* KEYD_SIGN_PSS */
    bool now;        /* KEYD_SIGN_NOW */
    size_t hash_len; /* its digest length */
    uint8_t digest[KEYD_HASH_MAX];
};

/* The digest length of a KEYD_HASH_* value; 0 when unknown. */
size_t keyd_hash_len(uint64_t hash);

/* 0 when BADGE is keyd's client, else KEYD_E_CLIENT. */
int keyd_check_client(const struct keyd_req_state *st, uint64_t badge);

/* KEYD_INFO: no arguments (all four words 0). */
int keyd_check_info(const uint64_t mr[4]);

/* The key-name rule (keel/keyd.h): 0 or KEYD_E_NAME. */
int keyd_check_name(const char *name);

/* KEYD_OPEN: MR0 = slot (not busy: keyd writes its answer there); copies
 * and checks the name in that slot.  Fills *slot and NAME. */
int keyd_check_open(const struct keyd_req_state *st, const uint64_t mr[4], const struct keyd_slot *slots,
                    uint32_t *slot, char name[KEYD_NAME_MAX]);

/* KEYD_SIGN: slot, key, hash and length as keel/keyd.h says; the slot must
 * not be busy; copies the hash and seq into *job. */
int keyd_check_sign(const struct keyd_req_state *st, const uint64_t mr[4], const struct keyd_slot *slots,
                    struct keyd_job *job);

/* keyd's manifest argument word: comma-separated items
 *   client=NAME   the server keyd answers (default "tlsd"); its badge comes
 *                 from init ("client:NAME" in the server information)
 *   badge=N       ... or this badge, until init provides that
 *   rng=NAME      the entropy server's endpoint (default "rng": `connect rng`)
 *   signal=NAME   the notification completions are signalled on (`signal
 *                 NAME`; default the client's name).  tlsd's manifest says
 *                 `signal sock-tlsd`: the notification its socket events
 *                 arrive on, so one wait serves both
 *   threads=N     signing threads, 1..KEYD_MAX_THREADS (default 1): each
 *                 receives on the endpoint, so N signatures run at once on
 *                 N cores (thread k on core k mod the cores online)
 *   key=FILE      a key to load at start (repeatable, up to KEYD_MAX_KEYS)
 * Returns 0, or KEYD_E_ARGS with *bad_at = the offset of the item that is
 * wrong. */
#define KEYD_MAX_THREADS 8
struct keyd_args {
    char client[16];
    char rng[16];
    char signal[16]; /* the completion notification's name */
    unsigned threads;
    uint64_t badge; /* 0: none given */
    unsigned n_keys;
    char keys[KEYD_MAX_KEYS][KEYD_NAME_MAX];
};
int keyd_parse_args(const char *args, struct keyd_args *out, size_t *bad_at);

#endif
