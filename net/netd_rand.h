/*
 * netd_rand.h - netd's random numbers: LWIP_RAND() and TCP initial sequence
 * numbers (design comment in netd_rand.c).
 */
#ifndef NETD_RAND_H
#define NETD_RAND_H

#include <stdbool.h>
#include <stdint.h>

/* Errors (negative). */
enum rand_error {
    RAND_OK = 0,
    RAND_E_NOT_READY = -1, /* the entropy server did not answer yet (try again) */
    RAND_E_SERVER = -2,    /* the entropy server answered with an error or nothing */
    RAND_E_NO_CPU = -3,    /* the CPU has neither RDSEED nor RDRAND that passes its check */
};

/*
 * Keys the generator from the entropy server on endpoint EP (abi/keel/rng.h;
 * the call is non-blocking, so an absent server cannot hang netd).
 * Returns RAND_OK, RAND_E_NOT_READY (no server waiting: call again later)
 * or RAND_E_SERVER.  May be called again to re-key.
 */
int rand_seed_from_server(uint64_t ep) __attribute__((warn_unused_result));

/* The stop-gap: keys the generator from TSC readings.  PREDICTABLE; logs a
 * warning.  Used only when no entropy server is available. */
void rand_seed_from_tsc(void);

/* Keys the generator from the CPU's RDSEED or RDRAND (lib/cpurand.c).
 * Returns RAND_OK or RAND_E_NO_CPU (nothing changed). */
int rand_seed_from_cpu(void) __attribute__((warn_unused_result));

/* Where the key came from: "entropy server", "CPU (RDSEED)", "CPU (RDRAND)", "TSC (stop-gap)" or "none". */
const char *rand_source(void);

/* 32 pseudo-random bits (LWIP_RAND).  Before any seeding it seeds from the
 * CPU (else the TSC, loudly) first: lwIP must never see a constant. */
uint32_t netd_rand32(void);

#endif
