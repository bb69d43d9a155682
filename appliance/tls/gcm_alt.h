/*
 * gcm_alt.h - the GCM context of Keel's AES-GCM (MBEDTLS_GCM_ALT; the code
 * is tls_gcm.c).  mbedTLS's gcm.h includes this file in place of its own
 * context when mbedtls_config.h defines MBEDTLS_GCM_ALT; the functions
 * (mbedtls_gcm_init ... mbedtls_gcm_free) keep gcm.h's contracts exactly.
 *
 * Why our own: mbedTLS 3.6 does GCM one 16-byte block at a time, through
 * several calls per block (counter, block cipher, AES-NI, two XORs, one
 * PCLMUL multiply with its reduction).  Under QEMU's TCG every guest
 * instruction costs, and that made TLS bulk transfer slow (issue 14).
 * tls_gcm.c does eight counter blocks per round of AES-NI and folds eight
 * ciphertext blocks into GHASH with precomputed powers of H and one
 * reduction, in constant time.  Without AES-NI, PCLMULQDQ, SSSE3 and
 * SSE4.1 (CPUID) it falls back to mbedTLS's AES and a constant-time
 * bitwise GHASH (slow, correct).
 *
 * Fields: owned by whoever owns the context (one thread at a time, as for
 * every mbedTLS context).  `fast` is fixed by mbedtls_gcm_setkey and says
 * how htab and x are represented; nothing else changes it.
 */
#ifndef KEEL_GCM_ALT_H
#define KEEL_GCM_ALT_H

#include <stdint.h>

#include "mbedtls/aes.h"

#define KEEL_GCM_POWERS 8 /* blocks folded into GHASH per reduction */

typedef struct mbedtls_gcm_context {
    mbedtls_aes_context MBEDTLS_PRIVATE(aes); /* the key schedule (mbedTLS's AES expands it) */
    /* fast: H^1..H^8 byte-reversed (the PCLMUL form), and beside each the
     * XOR of its two 64-bit halves (Karatsuba's middle term) */
    unsigned char MBEDTLS_PRIVATE(htab)[KEEL_GCM_POWERS][16];
    unsigned char MBEDTLS_PRIVATE(hkar)[KEEL_GCM_POWERS][16];
    unsigned char MBEDTLS_PRIVATE(h)[16];         /* H = E_K(0^128), as bytes (portable path) */
    unsigned char MBEDTLS_PRIVATE(x)[16];         /* GHASH so far: byte-reversed if fast, else as bytes */
    unsigned char MBEDTLS_PRIVATE(y)[16];         /* the counter block last used */
    unsigned char MBEDTLS_PRIVATE(base_ectr)[16]; /* E_K(Y0), masks the tag */
    unsigned char MBEDTLS_PRIVATE(ectr)[16];      /* key stream of the block at len % 16 (if len % 16) */
    unsigned char MBEDTLS_PRIVATE(pend)[16];      /* a partial block of AAD or ciphertext, zero padded */
    uint64_t MBEDTLS_PRIVATE(len);                /* bytes of text so far */
    uint64_t MBEDTLS_PRIVATE(add_len);            /* bytes of AAD so far */
    int MBEDTLS_PRIVATE(mode);                    /* MBEDTLS_GCM_ENCRYPT or MBEDTLS_GCM_DECRYPT */
    int MBEDTLS_PRIVATE(fast);                    /* 1: AES-NI + PCLMULQDQ path; 0: portable */
} mbedtls_gcm_context;

/* Test hook (tests/unit/test_tls_gcm.c): nonzero makes the next
 * mbedtls_gcm_setkey choose the portable path even where the CPU has
 * AES-NI, so both paths meet the same known answers. */
extern int keel_gcm_force_portable;

#endif
