/*
 * keyd_req.c - keyd's request checks and argument parsing (the rules are
 * in keyd_req.h and keel/keyd.h).  Pure: no system calls, no allocation.
 */
#include <string.h>

#include "keyd_req.h"

size_t keyd_hash_len(uint64_t hash)
{
    switch (hash) {
    case KEYD_HASH_SHA256: return 32;
    case KEYD_HASH_SHA384: return 48;
    case KEYD_HASH_SHA512: return 64;
    }
    return 0;
}

int keyd_check_client(const struct keyd_req_state *st, uint64_t badge)
{
    return (st->client != 0 && badge == st->client) ? 0 : KEYD_E_CLIENT;
}

int keyd_check_info(const uint64_t mr[4]) { return (mr[0] | mr[1] | mr[2] | mr[3]) ? KEYD_E_ARGS : 0; }

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '/';
}

int keyd_check_name(const char *name)
{
    size_t n = 0;
    while (n < KEYD_NAME_MAX && name[n])
        n++;
    if (n == 0 || n >= KEYD_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
        return KEYD_E_NAME;
    for (size_t i = 0; i < n; i++) {
        if (!name_char(name[i]))
            return KEYD_E_NAME;
        if (name[i] == '/' && name[i + 1] == '/')
            return KEYD_E_NAME;
        /* ".." as a whole component */
        bool starts = i == 0 || name[i - 1] == '/';
        if (starts && name[i] == '.' && name[i + 1] == '.' && (name[i + 2] == '/' || name[i + 2] == 0))
            return KEYD_E_NAME;
    }
    return 0;
}

int keyd_check_open(const struct keyd_req_state *st, const uint64_t mr[4], const struct keyd_slot *slots,
                    uint32_t *slot, char name[KEYD_NAME_MAX])
{
    if (mr[1] | mr[2] | mr[3])
        return KEYD_E_ARGS;
    if (mr[0] >= KEYD_SLOTS)
        return KEYD_E_SLOT;
    if (st->busy & (1u << mr[0]))
        return KEYD_E_BUSY;
    char copy[KEYD_NAME_MAX];
    memcpy(copy, slots[mr[0]].data, sizeof copy); /* one read of the shared bytes */
    if (strnlen(copy, sizeof copy) == sizeof copy)
        return KEYD_E_NAME; /* not terminated */
    int err = keyd_check_name(copy);
    if (err)
        return err;
    *slot = (uint32_t)mr[0];
    memcpy(name, copy, sizeof copy);
    return 0;
}

int keyd_check_sign(const struct keyd_req_state *st, const uint64_t mr[4], const struct keyd_slot *slots,
                    struct keyd_job *job)
{
    if (mr[0] >= KEYD_SLOTS)
        return KEYD_E_SLOT;
    if (st->busy & (1u << mr[0]))
        return KEYD_E_BUSY;
    uint32_t gen = (uint32_t)(mr[1] >> 32), key = (uint32_t)mr[1];
    if (gen && gen != st->generation)
        return KEYD_E_STALE; /* before the id: it may name another key now */
    if (key >= st->n_keys)
        return KEYD_E_KEY;
    if (mr[2] & ~(uint64_t)(KEYD_SIGN_HASH_MASK | KEYD_SIGN_FLAGS))
        return KEYD_E_ARGS;
    size_t want = keyd_hash_len(mr[2] & KEYD_SIGN_HASH_MASK);
    if (want == 0 || mr[3] != want)
        return KEYD_E_HASH;
    const struct keyd_slot *s = &slots[mr[0]];
    struct keyd_job j;
    memset(&j, 0, sizeof j);
    j.slot = (uint32_t)mr[0];
    j.key = key;
    j.hash = (unsigned)(mr[2] & KEYD_SIGN_HASH_MASK);
    j.pss = (mr[2] & KEYD_SIGN_PSS) != 0;
    j.now = (mr[2] & KEYD_SIGN_NOW) != 0;
    j.hash_len = want;
    memcpy(j.digest, s->data, want);
    j.seq = s->seq;
    *job = j;
    return 0;
}

/* Compares the item at p (up to ',' or the end) with "key=". */
static bool item_is(const char *p, const char *key, const char **value)
{
    size_t n = strlen(key);
    if (strncmp(p, key, n) != 0)
        return false;
    *value = p + n;
    return true;
}

/* Copies a value of N bytes at V into DST (CAP bytes) with its NUL: false,
 * and nothing copied, when it is empty or does not fit. */
static bool copy_value(char *dst, size_t cap, const char *v, size_t n)
{
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, v, n);
    dst[n] = 0;
    return true;
}

static size_t item_len(const char *p)
{
    size_t n = 0;
    while (p[n] && p[n] != ',')
        n++;
    return n;
}

int keyd_parse_args(const char *args, struct keyd_args *out, size_t *bad_at)
{
    struct keyd_args a;
    memset(&a, 0, sizeof a);
    memcpy(a.client, "tlsd", 5);
    memcpy(a.rng, "rng", 4);
    a.threads = 1;
    const char *p = args ? args : "";
    while (*p) {
        size_t len = item_len(p), at = (size_t)(p - args);
        const char *v;
        if (item_is(p, "client=", &v)) {
            if (!copy_value(a.client, sizeof a.client, v, len - (size_t)(v - p)))
                goto bad;
        } else if (item_is(p, "rng=", &v)) {
            if (!copy_value(a.rng, sizeof a.rng, v, len - (size_t)(v - p)))
                goto bad;
        } else if (item_is(p, "signal=", &v)) {
            if (!copy_value(a.signal, sizeof a.signal, v, len - (size_t)(v - p)))
                goto bad;
        } else if (item_is(p, "threads=", &v)) {
            size_t n = len - (size_t)(v - p);
            if (n != 1 || v[0] < '1' || v[0] > '0' + KEYD_MAX_THREADS)
                goto bad;
            a.threads = (unsigned)(v[0] - '0');
        } else if (item_is(p, "badge=", &v)) {
            size_t n = len - (size_t)(v - p);
            uint64_t b = 0;
            if (n == 0 || n > 10)
                goto bad;
            for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                    goto bad;
                b = b * 10 + (uint64_t)(v[i] - '0');
            }
            if (b == 0)
                goto bad;
            a.badge = b;
        } else if (item_is(p, "key=", &v)) {
            size_t n = len - (size_t)(v - p);
            if (a.n_keys >= KEYD_MAX_KEYS || n == 0 || n >= KEYD_NAME_MAX)
                goto bad;
            memcpy(a.keys[a.n_keys], v, n);
            a.keys[a.n_keys][n] = 0;
            if (keyd_check_name(a.keys[a.n_keys]) != 0)
                goto bad;
            a.n_keys++;
        } else {
            goto bad;
        }
        p += len;
        if (*p == ',' && p[1] == 0)
            goto bad; /* a trailing comma */
        if (*p == ',')
            p++;
        continue;
    bad:
        if (bad_at)
            *bad_at = at;
        return KEYD_E_ARGS;
    }
    if (!a.signal[0])
        memcpy(a.signal, a.client, sizeof a.signal);
    *out = a;
    return 0;
}
