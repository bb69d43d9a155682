/*
 * keyd_client.c - keyd's client library (see keel/keyd_client.h and
 * abi/keel/keyd.h).  Not in libkeel.a: it is the TLS engine's signer
 * (struct tls_signer, appliance/tls/tls_conn.h) and so is built with
 * mbedTLS's headers, as its own object (KEYD_CLIENT_OBJS, appliance/tls.mk)
 * that only the programs linking mbedTLS list.
 */
#include <keel/keyd.h>
#include <keel/spin.h>
#include <keel/string.h>
#include <keel/sys.h>

#include <keel/keyd_client.h>
#include "tls_plat.h"

/* sign_now: how many times a signature is asked: again of a keyd that died
 * holding the call (KE_DEAD), each time of its successor, and again after
 * opening the keys anew (KEYD_E_STALE). */
#define SIGN_NOW_TRIES 5
/* submit: asks again once after opening the keys anew. */
#define SUBMIT_TRIES 2
const char *keyd_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case KEYD_E_CLIENT: return "not keyd's client";
    case KEYD_E_LABEL: return "unknown request";
    case KEYD_E_ARGS: return "bad arguments";
    case KEYD_E_SLOT: return "no such slot";
    case KEYD_E_BUSY: return "slot busy";
    case KEYD_E_KEY: return "no such key";
    case KEYD_E_HASH: return "bad hash";
    case KEYD_E_NAME: return "bad key name";
    case KEYD_E_NOT_FOUND: return "no such file in the site archive";
    case KEYD_E_BAD_KEY: return "not a usable private key";
    case KEYD_E_FULL: return "too many keys";
    case KEYD_E_NO_SITE: return "keyd has no site archive";
    case KEYD_E_NO_ENTROPY: return "keyd has no entropy source";
    case KEYD_E_SIGN: return "the signature failed";
    case KEYD_E_STALE: return "a key id from before keyd's restart";
    }
    return "IPC error";
}

static int call(struct keyd_client *kc, uint64_t label, uint64_t flags, struct keel_msg *m)
{
    m->info = label | flags;
    int64_t err = keel_call(kc->ep, m);
    if (err)
        return (int)err;
    return (int32_t)keel_label(m);
}

int keyd_client_info(struct keyd_client *kc, uint32_t *n_keys, uint32_t *generation)
{
    struct keel_msg m = { 0 };
    int r = call(kc, KEYD_INFO, 0, &m);
    if (r)
        return r;
    uint32_t gen = (uint32_t)m.mr[2];
    if (kc->generation && gen != kc->generation) {
        /* keyd restarted: what it had queued is gone and its key ids mean
         * nothing now.  Orphans are free again; waiting connections fail at
         * their next poll. */
        for (int i = (int)kc->first; i < (int)kc->end; i++) {
            if (kc->s[i].use == KC_FREE)
                continue;
            if (kc->s[i].owner)
                kc->s[i].use = KC_LOST;
            else
                kc->s[i].use = KC_FREE;
        }
    }
    kc->generation = gen;
    if (n_keys)
        *n_keys = (uint32_t)m.mr[0];
    if (generation)
        *generation = kc->generation;
    return 0;
}

int keyd_client_init_slots(struct keyd_client *kc, uint64_t ep, void *shm, unsigned first, unsigned count)
{
    memset(kc, 0, sizeof *kc);
    if (count == 0 || first >= KEYD_SLOTS || count > KEYD_SLOTS - first)
        return KEYD_E_SLOT;
    kc->ep = ep;
    kc->slots = shm;
    kc->first = first;
    kc->end = first + count;
    kc->next_seq = 1;
    kc->keys = &kc->own_keys;
    return keyd_client_info(kc, NULL, NULL);
}

int keyd_client_init(struct keyd_client *kc, uint64_t ep, void *shm)
{
    return keyd_client_init_slots(kc, ep, shm, 0, KEYD_SLOTS);
}

/* A slot for a new request: a free one, or one whose connection went away
 * while keyd still had it and which keyd has finished with since. */
static int free_slot(struct keyd_client *kc)
{
    for (int i = (int)kc->first; i < (int)kc->end; i++) {
        if (kc->s[i].use == KC_WAITING && !kc->s[i].owner && kc->slots[i].state != KEYD_SLOT_BUSY)
            kc->s[i].use = KC_FREE;
        if (kc->s[i].use == KC_FREE)
            return i;
    }
    return -1;
}

/* KEYD_OPEN NAME on keyd as it is now: *WORD = keyd's id | generation << 32. */
static int open_raw(struct keyd_client *kc, const char *name, uint64_t *word, unsigned *type, unsigned *bits,
                    uint8_t fp[32])
{
    size_t n = strlen(name);
    int slot = free_slot(kc);
    if (n == 0 || n >= KEYD_NAME_MAX)
        return KEYD_E_NAME;
    if (slot < 0)
        return KEYD_E_BUSY;
    volatile struct keyd_slot *s = &kc->slots[slot];
    for (size_t i = 0; i <= n; i++)
        s->data[i] = (uint8_t)name[i];
    struct keel_msg m = { .mr = { (uint64_t)slot } };
    int r = call(kc, KEYD_OPEN, 0, &m);
    if (r)
        return r;
    if (s->len != 32 || m.mr[3] == 0 || m.mr[3] > UINT32_MAX || m.mr[0] >= KEYD_MAX_KEYS)
        return KEYD_E_ARGS;
    for (int i = 0; i < 32; i++)
        fp[i] = s->data[i];
    *word = m.mr[0] | m.mr[3] << 32;
    *type = (unsigned)m.mr[1];
    *bits = (unsigned)m.mr[2];
    return 0;
}

/* The table's writers: a waiter spins, then yields (the holder may be
 * blocked on keyd, or preempted on the waiter's core). */
static void keys_lock(struct keyd_keys *t) { spin_lock(&t->lock); }

static void keys_unlock(struct keyd_keys *t) { spin_unlock(&t->lock); }

int keyd_client_open(struct keyd_client *kc, const char *name, uint32_t *id, unsigned *type, unsigned *bits,
                     uint8_t fp[32])
{
    struct keyd_keys *t = kc->keys;
    keys_lock(t);
    unsigned h = 0;
    while (h < t->n && strcmp(t->k[h].name, name) != 0)
        h++;
    uint64_t word = 0;
    /* Opened again even when the name is known: an aborted commit's key
     * was unloaded, and its id may name another key now. */
    int r = h < KEYD_CLIENT_KEYS ? open_raw(kc, name, &word, type, bits, fp) : KEYD_E_FULL;
    if (r == 0) {
        if (h == t->n) {
            strlcpy(t->k[h].name, name, sizeof t->k[h].name);
            t->n++;
        }
        __atomic_store_n(&t->k[h].word, word, __ATOMIC_RELEASE);
        *id = h;
    }
    keys_unlock(t);
    return r;
}

/* Handle H's word (keyd's id | generation << 32), or KEYD_E_KEY. */
static int key_word(const struct keyd_client *kc, uint32_t h, uint64_t *word)
{
    const struct keyd_keys *t = kc->keys;
    if (h >= __atomic_load_n(&t->n, __ATOMIC_ACQUIRE))
        return KEYD_E_KEY;
    *word = __atomic_load_n(&t->k[h].word, __ATOMIC_ACQUIRE);
    return *word >> 32 ? 0 : KEYD_E_KEY; /* generation 0: not open in any keyd */
}

/* keyd said KEYD_E_STALE to handle H's word STALE: a new keyd.  Opens every
 * name in the table again on it (unless another thread has since). */
static void keys_refresh(struct keyd_client *kc, uint32_t h, uint64_t stale)
{
    struct keyd_keys *t = kc->keys;
    keys_lock(t);
    if (h < t->n && __atomic_load_n(&t->k[h].word, __ATOMIC_ACQUIRE) == stale) {
        for (unsigned i = 0; i < t->n; i++) {
            uint64_t word = 0;
            unsigned type, bits;
            uint8_t fp[32];
            if (open_raw(kc, t->k[i].name, &word, &type, &bits, fp) != 0)
                word = 0; /* gone (a name of an aborted commit): signs nothing */
            __atomic_store_n(&t->k[i].word, word, __ATOMIC_RELEASE);
        }
        kc->reopened++;
    }
    keys_unlock(t);
}

unsigned keyd_client_unsubmitted(const struct keyd_client *kc)
{
    unsigned n = 0;
    for (int i = (int)kc->first; i < (int)kc->end; i++)
        n += kc->s[i].use == KC_UNSUBMITTED;
    return n;
}

static unsigned hash_of(mbedtls_md_type_t md)
{
    switch (md) {
    case MBEDTLS_MD_SHA256: return KEYD_HASH_SHA256;
    case MBEDTLS_MD_SHA384: return KEYD_HASH_SHA384;
    case MBEDTLS_MD_SHA512: return KEYD_HASH_SHA512;
    default: return 0;
    }
}

/* Hands slot I's request to keyd.  KEYD_SIGN is a blocking call: keyd
 * receives between any two signatures it works off, so the wait is at
 * most one signature (keyd queues the request and answers at once), and
 * the completion then arrives as KEYD_NOTIFY_BIT: nothing to poll.  (A
 * non-blocking call would fail whenever keyd is signing, and its retry
 * would need a timer: keyd's notification says "done", not "receiving".)
 * Returns TLS_OK (accepted: waiting, or already done) or TLS_E_FAILED
 * (refused, or keyd died: KE_DEAD). */
static int submit(struct keyd_client *kc, int i)
{
    volatile struct keyd_slot *s = &kc->slots[i];
    int r = KEYD_E_STALE;
    for (unsigned tries = 0; r == KEYD_E_STALE && tries < SUBMIT_TRIES; tries++) {
        uint64_t word;
        if (key_word(kc, kc->s[i].key, &word) != 0)
            return TLS_E_FAILED;
        s->state = KEYD_SLOT_IDLE;
        s->seq = kc->s[i].seq;
        for (size_t b = 0; b < kc->s[i].hash_len; b++)
            s->data[b] = kc->s[i].digest[b];
        struct keel_msg m = { .mr = { (uint64_t)i, word, kc->s[i].hash, kc->s[i].hash_len } };
        r = call(kc, KEYD_SIGN, 0, &m);
        if (r == KEYD_E_STALE)
            keys_refresh(kc, kc->s[i].key, word);
    }
    if (r != 0)
        return TLS_E_FAILED;
    kc->s[i].use = KC_WAITING;
    kc->submitted++;
    return TLS_OK;
}

static int sign_start(void *ctx, struct tls_conn *c, uint32_t key_id, mbedtls_md_type_t md, const uint8_t *hash,
                      size_t hash_len)
{
    struct keyd_client *kc = ctx;
    unsigned h = hash_of(md);
    int i = free_slot(kc);
    if (!h || hash_len > KEYD_HASH_MAX)
        return TLS_E_FAILED;
    if (i < 0)
        return TLS_WANT_SIGN; /* every slot in flight: the engine keeps the request */
    kc->s[i].use = KC_UNSUBMITTED;
    kc->s[i].seq = kc->next_seq++;
    kc->s[i].key = key_id;
    kc->s[i].hash = h;
    kc->s[i].hash_len = hash_len;
    memcpy(kc->s[i].digest, hash, hash_len);
    kc->s[i].owner = c;
    if (submit(kc, i) == TLS_E_FAILED) {
        kc->s[i].use = KC_FREE;
        return TLS_E_FAILED;
    }
    return TLS_OK;
}

static int slot_of(const struct keyd_client *kc, const struct tls_conn *c)
{
    for (int i = (int)kc->first; i < (int)kc->end; i++)
        if (kc->s[i].use != KC_FREE && kc->s[i].owner == c)
            return i;
    return -1;
}

/* The end of a signature, either way it was asked: when OK (keyd finished
 * this request well) and its LEN bytes fit KEYD_SIG_MAX and OUT_SIZE, copies
 * them from slot S to OUT and counts it done (TLS_OK); otherwise counts a
 * failure (TLS_E_FAILED).  S's state was read before LEN (acquire). */
static int hand_over(struct keyd_client *kc, const volatile struct keyd_slot *s, bool ok, uint32_t len, uint8_t *out,
                     size_t *out_len, size_t out_size)
{
    if (!ok || len == 0 || len > KEYD_SIG_MAX || len > out_size) {
        kc->failed++;
        return TLS_E_FAILED;
    }
    for (uint32_t b = 0; b < len; b++)
        out[b] = s->data[b];
    *out_len = len;
    kc->done++;
    return TLS_OK;
}

static int sign_poll(void *ctx, struct tls_conn *c, uint8_t *out, size_t *out_len, size_t out_size)
{
    struct keyd_client *kc = ctx;
    int i = slot_of(kc, c);
    if (i < 0)
        return TLS_E_FAILED;
    if (kc->s[i].use == KC_LOST) {
        kc->s[i].use = KC_FREE;
        kc->failed++;
        return TLS_E_FAILED;
    }
    if (kc->s[i].use == KC_UNSUBMITTED) {
        int r = submit(kc, i);
        if (r != TLS_OK) {
            if (r == TLS_E_FAILED)
                kc->s[i].use = KC_FREE;
            return r;
        }
    }
    volatile struct keyd_slot *s = &kc->slots[i];
    uint32_t state = s->state;
    if (state != KEYD_SLOT_DONE && state != KEYD_SLOT_FAILED)
        return TLS_WANT_SIGN;
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the state before the result it hands over */
    int ok = state == KEYD_SLOT_DONE && s->seq == kc->s[i].seq && s->result == 0;
    uint32_t len = s->len;
    kc->s[i].use = KC_FREE;
    return hand_over(kc, s, ok, len, out, out_len, out_size);
}

static void sign_cancel(void *ctx, struct tls_conn *c)
{
    struct keyd_client *kc = ctx;
    int i = slot_of(kc, c);
    if (i < 0)
        return;
    /* A queued request still belongs to keyd until it finishes: the slot
     * stays in use (WAITING with no owner) until its state comes back. */
    if (kc->s[i].use == KC_WAITING && kc->slots[i].state == KEYD_SLOT_BUSY)
        kc->s[i].owner = NULL;
    else
        kc->s[i].use = KC_FREE;
}

/* TLS 1.3's signature: KEYD_SIGN with KEYD_SIGN_NOW, so keyd signs before
 * it replies and the slot holds the result when the call returns.  A
 * blocking call, like submit's: keyd receives between any two signatures
 * (on each of its threads), so the wait is the signatures queued ahead of
 * this one plus its own, never a poll.  A keyd that dies holding the call
 * (KE_DEAD) is asked again, of its successor (the call waits until init
 * has started it): a keyd restart costs the handshake a delay, not its
 * life (the fault-injection campaign), up to SIGN_NOW_TRIES deaths. */
static int sign_now(void *ctx, uint32_t key_id, bool pss, mbedtls_md_type_t md, const uint8_t *hash, size_t hash_len,
                    uint8_t *out, size_t *out_len, size_t out_size)
{
    struct keyd_client *kc = ctx;
    unsigned h = hash_of(md);
    int i = free_slot(kc);
    if (!h || hash_len > KEYD_HASH_MAX || i < 0) {
        kc->failed++;
        return TLS_E_FAILED;
    }
    volatile struct keyd_slot *s = &kc->slots[i];
    uint32_t seq = 0;
    uint64_t flags = KEYD_SIGN_NOW | (pss ? KEYD_SIGN_PSS : 0);
    struct keel_msg m;
    int r = KE_DEAD;
    for (unsigned tries = 0; (r == KE_DEAD || r == KEYD_E_STALE) && tries < SIGN_NOW_TRIES; tries++) {
        /* Filled anew each try: a keyd that died holding the call may have
         * left the slot half written, and keys_refresh uses a slot too.
         * Its successor refuses the old generation (KEYD_E_STALE): the
         * keys are opened again, and the next try carries the new id. */
        uint64_t word;
        if (key_word(kc, key_id, &word) != 0) {
            r = KEYD_E_KEY;
            break;
        }
        seq = kc->next_seq++;
        s->state = KEYD_SLOT_IDLE;
        s->seq = seq;
        for (size_t b = 0; b < hash_len; b++)
            s->data[b] = hash[b];
        m = (struct keel_msg){ .mr = { (uint64_t)i, word, h | flags, hash_len } };
        r = call(kc, KEYD_SIGN, 0, &m);
        if (r == KE_DEAD)
            kc->retries++;
        else if (r == KEYD_E_STALE)
            keys_refresh(kc, key_id, word);
    }
    kc->submitted++;
    uint32_t state = s->state;
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the state before the result it hands over */
    uint32_t len = s->len;
    bool ok = r == 0 && m.mr[0] == KEYD_DONE && state == KEYD_SLOT_DONE && s->seq == seq && s->result == 0;
    return hand_over(kc, s, ok, len, out, out_len, out_size);
}

struct tls_signer keyd_client_signer(struct keyd_client *kc)
{
    struct tls_signer s = { sign_start, sign_poll, sign_cancel, kc, sign_now };
    return s;
}

/* The per-thread signer: each call goes to the calling thread's client. */
static struct keyd_client *mine(void *ctx)
{
    struct keyd_pool *p = ctx;
    unsigned k = p->self ? p->self() : 0;
    return p->kc[k < p->n && p->kc[k] ? k : 0];
}

static int pool_start(void *ctx, struct tls_conn *c, uint32_t key_id, mbedtls_md_type_t md, const uint8_t *hash,
                      size_t hash_len)
{
    return sign_start(mine(ctx), c, key_id, md, hash, hash_len);
}

static int pool_poll(void *ctx, struct tls_conn *c, uint8_t *out, size_t *out_len, size_t out_size)
{
    return sign_poll(mine(ctx), c, out, out_len, out_size);
}

static void pool_cancel(void *ctx, struct tls_conn *c) { sign_cancel(mine(ctx), c); }

static int pool_now(void *ctx, uint32_t key_id, bool pss, mbedtls_md_type_t md, const uint8_t *hash, size_t hash_len,
                    uint8_t *out, size_t *out_len, size_t out_size)
{
    return sign_now(mine(ctx), key_id, pss, md, hash, hash_len, out, out_len, out_size);
}

struct tls_signer keyd_pool_signer(struct keyd_pool *p)
{
    for (unsigned k = 1; k < p->n && p->n <= KEYD_POOL_MAX; k++)
        if (p->kc[k] && p->kc[0])
            p->kc[k]->keys = p->kc[0]->keys; /* one table: handles mean the same on every thread */
    struct tls_signer s = { pool_start, pool_poll, pool_cancel, p, pool_now };
    return s;
}
