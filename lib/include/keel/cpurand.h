/*
 * keel/cpurand.h - the CPU's own random-number instructions (RDSEED,
 * RDRAND) for servers that need unpredictable keys but no DRBG of their
 * own (netd: DHCP transaction IDs, TCP initial sequence numbers).
 *
 * An instruction is used only when CPUID says the CPU has it and it passes
 * a start-up check (eight draws, each succeeding within ten tries, no two
 * alike: the check that catches the AMD parts whose RDRAND returned
 * all-ones after a resume).  RDSEED is preferred (it is the conditioned
 * entropy source itself; RDRAND is a DRBG the CPU reseeds from it).
 *
 * Stateless; any thread.  tlsd and keyd have their own copy inside their
 * mbedTLS entropy source (appliance/tls/entropy.c), with continuous health
 * tests across many draws; here only one 32-byte key is drawn per start.
 */
#ifndef KEEL_CPURAND_H
#define KEEL_CPURAND_H

#include <stddef.h>
#include <stdint.h>

enum cpurand_source {
    CPURAND_NONE = 0,
    CPURAND_RDSEED = 1,
    CPURAND_RDRAND = 2,
};

/* Which instruction passes the start-up check now (RDSEED first), or
 * CPURAND_NONE. */
enum cpurand_source cpurand_probe(void);

/* Fills OUT (LEN bytes) from SOURCE.  Returns 0, or -1 when the instruction
 * failed (CF = 0) ten times in a row or repeated its previous 64-bit value;
 * OUT is then zeroed and must not be used. */
int cpurand_fill(enum cpurand_source source, uint8_t *out, size_t len) __attribute__((warn_unused_result));

/* "RDSEED", "RDRAND" or "none". */
const char *cpurand_name(enum cpurand_source source);

#endif
