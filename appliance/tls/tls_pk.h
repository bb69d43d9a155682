/*
 * tls_pk.h - the rules for the keys Keel's TLS accepts, shared by tlsd
 * (checking certificates) and keyd (checking private keys), so both sides
 * refuse the same things:
 *   - RSA of at least TLS_PK_RSA_MIN_BITS bits (PKCS#1 v1.5 signatures);
 *   - ECDSA on P-256 or P-384 (the curves clients verify everywhere).
 * And the fingerprint that ties a certificate to a key without the key:
 * the SHA-256 of the public key's DER SubjectPublicKeyInfo.
 *
 * Pure (over mbedTLS); host-tested through test_tls_conn.c.
 */
#ifndef KEEL_TLS_PK_H
#define KEEL_TLS_PK_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/pk.h"

#define TLS_PK_RSA_MIN_BITS 2048
#define TLS_PK_FP_LEN       32

enum tls_pk_kind {
    TLS_PK_BAD = 0,
    TLS_PK_RSA = 1,
    TLS_PK_EC = 2,
};

/* Classifies PK: TLS_PK_RSA or TLS_PK_EC when acceptable, else TLS_PK_BAD
 * with the reason in WHY (may be NULL).  *bits gets the key size. */
enum tls_pk_kind tls_pk_check(const mbedtls_pk_context *pk, unsigned *bits, char *why, size_t whylen);

/* SHA-256 of PK's public key (DER SubjectPublicKeyInfo); PK may hold a
 * private or a public key.  Returns 0 or an mbedTLS error. */
int tls_pk_fingerprint(mbedtls_pk_context *pk, uint8_t out[TLS_PK_FP_LEN]);

#endif
