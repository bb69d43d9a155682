/*
 * entropy.c - entropy sources and the CTR-DRBG for tlsd and keyd.  The
 * design (sources, health checks, failing closed) is in entropy.h.
 *
 * The three source callbacks follow mbedTLS's contract for
 * mbedtls_entropy_add_source: fill up to LEN bytes, set *olen, return 0.
 * They never return an error: mbedTLS would then fail the whole gather,
 * even when another source is healthy.  A source in trouble returns 0
 * bytes (and, for a failed health check, is marked dead); the accumulator
 * then simply lacks its share, and fails only when all sources together
 * cannot provide a block.
 */
#include <cpuid.h>
#include <string.h>

#include <keel/rng.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "entropy.h"
#include "tls_psa.h"
#include "tls_plat.h"

#define HW_TRIES       10          /* Intel's advice: retry RDRAND up to ten times */
#define HW_CHECK_DRAWS 8           /* draws of the start-up check */
#define RNG_RETRY_NS   10000000ull /* 10 ms between tries while the entropy server starts */

static int bit_index(unsigned bit)
{
    int i = 0;
    while (bit > 1) {
        bit >>= 1;
        i++;
    }
    return i;
}

const char *tls_entropy_source_name(unsigned bit)
{
    switch (bit) {
    case TLS_ENT_RNG_SERVER: return "virtio-rng";
    case TLS_ENT_RDSEED: return "rdseed";
    case TLS_ENT_RDRAND: return "rdrand";
    }
    return "?";
}

/* ---------------------------------------------------------------- CPU ---- */

int tls_cpu_has_rdrand(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    return (c >> 30) & 1;
}

int tls_cpu_has_rdseed(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 18) & 1;
}

/* One 64-bit draw; 0 when the instruction kept failing (CF = 0). */
static int rdrand64(uint64_t *v)
{
    for (int i = 0; i < HW_TRIES; i++) {
        uint8_t ok;
        __asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
        if (ok)
            return 1;
    }
    return 0;
}

static int rdseed64(uint64_t *v)
{
    for (int i = 0; i < HW_TRIES; i++) {
        uint8_t ok;
        __asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
        if (ok)
            return 1;
        __asm__ volatile("pause"); /* RDSEED runs dry under load: give it a moment */
    }
    return 0;
}

/* The start-up check: every draw succeeds and no two are alike. */
static int hw_check(int (*draw)(uint64_t *), uint64_t *last)
{
    uint64_t v[HW_CHECK_DRAWS];
    for (int i = 0; i < HW_CHECK_DRAWS; i++) {
        if (!draw(&v[i]))
            return 0;
        for (int j = 0; j < i; j++)
            if (v[i] == v[j])
                return 0;
    }
    *last = v[HW_CHECK_DRAWS - 1];
    return 1;
}

static void source_dead(struct tls_entropy *e, unsigned bit, const char *why)
{
    if (!(e->dead & bit))
        ulog("tls: entropy: %s %s; no longer used\n", tls_entropy_source_name(bit), why);
    e->dead |= bit;
}

/* The RDRAND / RDSEED source callback body. */
static int hw_poll(struct tls_entropy *e, unsigned bit, int (*draw)(uint64_t *), uint64_t *last, unsigned char *out,
                   size_t len, size_t *olen)
{
    *olen = 0;
    if (e->dead & bit)
        return 0;
    while (*olen < len) {
        uint64_t v;
        if (!draw(&v))
            break; /* dry for now (RDSEED under load): give what we have */
        if (v == *last) {
            source_dead(e, bit, "repeated its output (continuous test)");
            memset(out, 0, *olen);
            *olen = 0;
            return 0;
        }
        *last = v;
        size_t n = len - *olen < 8 ? len - *olen : 8;
        memcpy(out + *olen, &v, n);
        *olen += n;
    }
    e->bytes[bit_index(bit)] += *olen;
    return 0;
}

static int rdrand_source(void *ctx, unsigned char *out, size_t len, size_t *olen)
{
    struct tls_entropy *e = ctx;
    return hw_poll(e, TLS_ENT_RDRAND, rdrand64, &e->last_rdrand, out, len, olen);
}

static int rdseed_source(void *ctx, unsigned char *out, size_t len, size_t *olen)
{
    struct tls_entropy *e = ctx;
    return hw_poll(e, TLS_ENT_RDSEED, rdseed64, &e->last_rdseed, out, len, olen);
}

/* ------------------------------------------------------ entropy server ---- */

/* One RNG_READ: the byte count (1..32) into buf, 0 when the server is not
 * receiving right now (KE_WOULD_BLOCK), or a negative error. */
static int rng_read(uint64_t ep, uint8_t buf[32])
{
    struct keel_msg m = { .info = RNG_READ | KEEL_NONBLOCK };
    int64_t err = keel_call(ep, &m);
    if (err == KE_WOULD_BLOCK)
        return 0;
    if (err)
        return (int)err;
    int32_t n = (int32_t)keel_label(&m);
    if (n < 0)
        return n;
    if (n == 0 || n > 32)
        return RNG_E_DEVICE;
    memcpy(buf, m.mr, (size_t)n);
    memset(m.mr, 0, sizeof m.mr);
    return n;
}

static int rng_source(void *ctx, unsigned char *out, size_t len, size_t *olen)
{
    struct tls_entropy *e = ctx;
    *olen = 0;
    if (e->dead & TLS_ENT_RNG_SERVER)
        return 0;
    while (*olen < len) {
        uint8_t buf[32];
        int n = rng_read(e->rng_ep, buf);
        if (n == 0)
            break; /* busy or restarting: the other sources (or the next gather) cover it */
        if (n < 0) {
            if (n == RNG_E_NO_DEVICE || n == KE_DEAD || n == KE_INVALID_SLOT || n == KE_EMPTY_SLOT)
                source_dead(e, TLS_ENT_RNG_SERVER, "went away");
            break;
        }
        if ((size_t)n == e->last_rng_len && memcmp(buf, e->last_rng, (size_t)n) == 0) {
            source_dead(e, TLS_ENT_RNG_SERVER, "repeated its output (continuous test)");
            memset(out, 0, *olen);
            *olen = 0;
            return 0;
        }
        memcpy(e->last_rng, buf, (size_t)n);
        e->last_rng_len = (size_t)n;
        size_t take = (size_t)n < len - *olen ? (size_t)n : len - *olen;
        memcpy(out + *olen, buf, take);
        *olen += take;
        memset(buf, 0, sizeof buf);
    }
    e->bytes[bit_index(TLS_ENT_RNG_SERVER)] += *olen;
    return 0;
}

/* Waits (sleeping) for the entropy server's first answer. */
static int rng_probe(struct tls_entropy *e, uint64_t wait_ns)
{
    uint64_t deadline = keel_now_ns() + wait_ns;
    for (;;) {
        uint8_t buf[32];
        int n = rng_read(e->rng_ep, buf);
        if (n > 0) {
            memcpy(e->last_rng, buf, (size_t)n);
            e->last_rng_len = (size_t)n;
            memset(buf, 0, sizeof buf);
            return 1;
        }
        if (n < 0) {
            ulog("tls: entropy: the entropy server answered error %d\n", n);
            return 0;
        }
        if (keel_now_ns() >= deadline)
            return 0;
        if (tls_plat_sleep_ns(RNG_RETRY_NS) != KE_OK)
            (void)keel_yield();
    }
}

/* --------------------------------------------------------------- API ---- */

int tls_entropy_init(struct tls_entropy *e, const struct tls_entropy_opts *opts)
{
    if (!e || !opts)
        return TLS_ENT_E_INVAL;
    memset(e, 0, sizeof *e);
    mbedtls_entropy_init(&e->ent);
    mbedtls_ctr_drbg_init(&e->drbg);
    e->rng_ep = opts->rng_ep;
    /* PSA (TLS 1.3; keys parsed into pk) draws from this DRBG too
     * (tls_psa.h).  It starts now, so that keys can be parsed even when
     * no source turns up below; until the DRBG is seeded every draw fails. */
    if (tls_psa_init(tls_entropy_random, e) != TLS_PSA_OK)
        return TLS_ENT_E_PSA;

    if (opts->rng_ep && !(opts->disable & TLS_ENT_RNG_SERVER) && rng_probe(e, opts->rng_wait_ns))
        e->sources |= TLS_ENT_RNG_SERVER;
    if (!(opts->disable & TLS_ENT_RDSEED) && tls_cpu_has_rdseed() && hw_check(rdseed64, &e->last_rdseed))
        e->sources |= TLS_ENT_RDSEED;
    if (!(opts->disable & TLS_ENT_RDRAND) && tls_cpu_has_rdrand() && hw_check(rdrand64, &e->last_rdrand))
        e->sources |= TLS_ENT_RDRAND;
    if (!e->sources)
        return TLS_ENT_E_NONE;

    static const struct {
        unsigned bit;
        mbedtls_entropy_f_source_ptr fn;
    } table[] = {
        { TLS_ENT_RNG_SERVER, rng_source },
        { TLS_ENT_RDSEED, rdseed_source },
        { TLS_ENT_RDRAND, rdrand_source },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!(e->sources & table[i].bit))
            continue;
        /* threshold 0: a gather never waits for one particular source */
        if (mbedtls_entropy_add_source(&e->ent, table[i].fn, e, 0, MBEDTLS_ENTROPY_SOURCE_STRONG) != 0)
            return TLS_ENT_E_DRBG;
    }

    /* Personalisation: who we are and when, so two programs seeded from the
     * same (broken) source still differ. */
    unsigned char pers[48];
    size_t plen = 0;
    const char *who = opts->who ? opts->who : "keel-tls";
    while (who[plen] && plen < 32) {
        pers[plen] = (unsigned char)who[plen];
        plen++;
    }
    uint64_t tsc = keel_rdtsc(), ns = keel_now_ns();
    memcpy(pers + plen, &tsc, 8);
    memcpy(pers + plen + 8, &ns, 8);
    plen += 16;
    if (mbedtls_ctr_drbg_seed(&e->drbg, mbedtls_entropy_func, &e->ent, pers, plen) != 0)
        return TLS_ENT_E_DRBG;
    e->ready = 1;
    return TLS_ENT_OK;
}

int tls_entropy_random(void *ctx, unsigned char *out, size_t len)
{
    struct tls_entropy *e = ctx;
    if (!e || !e->ready)
        return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
    return mbedtls_ctr_drbg_random(&e->drbg, out, len);
}

const char *tls_entropy_describe(const struct tls_entropy *e, char *buf, size_t len)
{
    static const unsigned order[] = { TLS_ENT_RNG_SERVER, TLS_ENT_RDSEED, TLS_ENT_RDRAND };
    size_t at = 0;
    if (len)
        buf[0] = 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        unsigned bit = order[i];
        if (!(e->sources & bit) || (e->dead & bit))
            continue;
        const char *name = tls_entropy_source_name(bit);
        size_t n = strlen(name);
        if (at + (at ? 1 : 0) + n + 1 > len)
            break;
        if (at)
            buf[at++] = '+';
        memcpy(buf + at, name, n + 1);
        at += n;
    }
    if (at == 0 && len >= 5)
        memcpy(buf, "none", 5);
    return buf;
}

void tls_entropy_free(struct tls_entropy *e)
{
    if (!e)
        return;
    mbedtls_ctr_drbg_free(&e->drbg);
    mbedtls_entropy_free(&e->ent);
    memset(e->last_rng, 0, sizeof e->last_rng);
    e->ready = 0;
}
