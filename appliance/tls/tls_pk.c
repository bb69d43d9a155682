/*
 * tls_pk.c - which keys Keel's TLS accepts, and key fingerprints (see
 * tls_pk.h).
 */
#include <stdio.h>

/* mbedtls_pk_get_ec_group_id is library-internal in 3.6 (pk_internal.h). */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include "mbedtls/sha256.h"
#include "pk_internal.h"

#include "tls_pk.h"

enum tls_pk_kind tls_pk_check(const mbedtls_pk_context *pk, unsigned *bits, char *why, size_t whylen)
{
    unsigned n = (unsigned)mbedtls_pk_get_bitlen(pk);
    if (bits)
        *bits = n;
    switch (mbedtls_pk_get_type(pk)) {
    case MBEDTLS_PK_RSA:
        if (n >= TLS_PK_RSA_MIN_BITS)
            return TLS_PK_RSA;
        if (why)
            snprintf(why, whylen, "RSA key of %u bits: at least %u are needed", n, TLS_PK_RSA_MIN_BITS);
        return TLS_PK_BAD;
    case MBEDTLS_PK_ECKEY:
    case MBEDTLS_PK_ECDSA: {
        mbedtls_ecp_group_id id = mbedtls_pk_get_ec_group_id(pk);
        if (id == MBEDTLS_ECP_DP_SECP256R1 || id == MBEDTLS_ECP_DP_SECP384R1)
            return TLS_PK_EC;
        if (why)
            snprintf(why, whylen, "EC key on a curve other than P-256 or P-384");
        return TLS_PK_BAD;
    }
    default:
        if (why)
            snprintf(why, whylen, "key type other than RSA or EC");
        return TLS_PK_BAD;
    }
}

int tls_pk_fingerprint(mbedtls_pk_context *pk, uint8_t out[TLS_PK_FP_LEN])
{
    unsigned char der[2200]; /* an RSA-8192 SubjectPublicKeyInfo is ~1.1 KB */
    int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof der);
    if (n < 0)
        return n;
    return mbedtls_sha256(der + sizeof der - (size_t)n, (size_t)n, out, 0);
}
