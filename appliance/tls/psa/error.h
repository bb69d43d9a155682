/*
 * psa/error.h - what Mbed TLS's PSA storage (psa_crypto_storage.c) expects
 * of a platform that brings its own internal trusted storage (ITS)
 * instead of MBEDTLS_PSA_ITS_FILE_C: the PSA status type and codes.  Mbed
 * TLS's own headers define them already, so this only includes those.
 * The storage itself is tls_its.c (psa/internal_trusted_storage.h).
 */
#ifndef KEEL_PSA_ERROR_H
#define KEEL_PSA_ERROR_H

#include <psa/crypto_types.h>
#include <psa/crypto_values.h>

#endif
