/*
 * entropy.h - where tlsd's and keyd's random numbers come from.
 *
 * Sources, each used only if it is really there:
 *   - the entropy server (virtio-rng, abi/keel/rng.h): RNG_READ, up to 32
 *     bytes a call, when the program holds a send capability to it and the
 *     server answers within opts.rng_wait_ns;
 *   - RDSEED and RDRAND, when CPUID says the CPU has them and they pass a
 *     start-up check (eight draws, each succeeding within ten tries, no two
 *     alike: the check that catches the AMD parts whose RDRAND returned
 *     all-ones).
 * Every source found is added to an mbedTLS entropy accumulator (SHA-512)
 * as a strong source with threshold 0, so each gather polls all of them and
 * a request needs 64 bytes from them together.  The accumulator seeds a
 * CTR-DRBG (AES-256), which is what callers draw from (tls_entropy_random,
 * mbedTLS's f_rng); it reseeds from the accumulator every
 * MBEDTLS_CTR_DRBG_RESEED_INTERVAL requests.
 *
 * Health while running: every draw from a source is compared with the
 * previous one (a continuous test); a repeat, or a source that stops
 * answering, marks that source dead and it contributes nothing from then
 * on.  When no live source is left, reseeding fails and so does every draw
 * after the reseed interval: callers fail closed (a handshake fails),
 * never on predictable numbers.
 *
 * With no source at all tls_entropy_init returns TLS_ENT_E_NONE, and the
 * caller must refuse to work and say so (tlsd: "no entropy source ...
 * refusing to serve"; keyd likewise).  There is no TSC fallback.
 *
 * Guest only (IPC, CPUID).  The struct is the caller's; one per program.
 * Not thread-safe.
 */
#ifndef KEEL_TLS_ENTROPY_H
#define KEEL_TLS_ENTROPY_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"

/* Sources (bits of tls_entropy.sources / .dead / opts.disable). */
enum tls_ent_source {
    TLS_ENT_RNG_SERVER = 1u << 0, /* virtio-rng through the entropy server */
    TLS_ENT_RDSEED = 1u << 1,
    TLS_ENT_RDRAND = 1u << 2,
};
#define TLS_ENT_N_SOURCES 3

enum tls_ent_error {
    TLS_ENT_OK = 0,
    TLS_ENT_E_NONE = -1,  /* no usable source: refuse to serve */
    TLS_ENT_E_DRBG = -2,  /* the DRBG could not be seeded (sources failed while seeding) */
    TLS_ENT_E_INVAL = -3, /* a NULL argument */
    TLS_ENT_E_PSA = -4,   /* PSA's crypto core would not start on this DRBG (tls_psa.h) */
};

struct tls_entropy_opts {
    uint64_t rng_ep;      /* slot of a send capability to the entropy server, 0: none */
    uint64_t rng_wait_ns; /* how long to wait for that server to answer at start */
    unsigned disable;     /* enum tls_ent_source bits to leave out (tests) */
    const char *who;      /* personalisation string, e.g. "tlsd" */
};

struct tls_entropy {
    unsigned sources; /* found usable at init */
    unsigned dead;    /* failed a health check since */
    uint64_t rng_ep;
    uint64_t bytes[TLS_ENT_N_SOURCES]; /* bytes contributed, per source (bit index) */
    /* Continuous-test state: each source's previous output. */
    uint8_t last_rng[32];
    size_t last_rng_len;
    uint64_t last_rdseed, last_rdrand;
    mbedtls_entropy_context ent;
    mbedtls_ctr_drbg_context drbg;
    int ready; /* the DRBG is seeded */
};

/* Finds the sources, checks them, seeds the DRBG.  May sleep up to
 * opts->rng_wait_ns waiting for the entropy server.  Returns TLS_ENT_OK,
 * TLS_ENT_E_NONE (e is then unusable but may be freed), TLS_ENT_E_DRBG,
 * TLS_ENT_E_PSA or TLS_ENT_E_INVAL.  The first DRBG to succeed also becomes
 * PSA's random source (tls_psa_init). */
int tls_entropy_init(struct tls_entropy *e, const struct tls_entropy_opts *opts) __attribute__((warn_unused_result));

/* mbedTLS's f_rng: LEN random bytes from the DRBG (ctx is the struct
 * tls_entropy).  Returns 0, or an MBEDTLS_ERR_CTR_DRBG_* error (not
 * seeded; reseed failed because no source is left). */
int tls_entropy_random(void *ctx, unsigned char *out, size_t len);

/* "virtio-rng+rdrand" or "none": the live sources, for log lines. */
const char *tls_entropy_describe(const struct tls_entropy *e, char *buf, size_t len);

/* The name of one source bit. */
const char *tls_entropy_source_name(unsigned bit);

/* CPUID: does this CPU have the instruction (RDRAND: leaf 1 ECX bit 30;
 * RDSEED: leaf 7 EBX bit 18)? */
int tls_cpu_has_rdrand(void);
int tls_cpu_has_rdseed(void);

void tls_entropy_free(struct tls_entropy *e);

#endif
