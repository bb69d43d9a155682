/*
 * tls_psa.h - Mbed TLS's PSA crypto core, as Keel runs it: random numbers
 * from our DRBG, an in-memory key store, and keyd as a secure element, so
 * that TLS 1.3 signs with keys it never holds.
 *
 * Why a secure element: TLS 1.2 reaches keyd through mbedTLS's
 * asynchronous private-key hook (MBEDTLS_SSL_ASYNC_PRIVATE, tls_conn.c).
 * mbedTLS 3.6 has no such hook for TLS 1.3: its CertificateVerify calls
 * mbedtls_pk_sign_ext on the configured own key, which for RSA must do
 * PSS, which only a real RSA context or an opaque PSA key can.  So each
 * certificate's own key is an opaque PSA key (mbedtls_pk_setup_opaque)
 * registered in a secure element (MBEDTLS_PSA_CRYPTO_SE_C) at location
 * TLS_PSA_SE_LOCATION, with keyd's key id as its slot number; the
 * element's driver (tls_psa.c) sends psa_sign_hash to the bound signer's
 * sign_now (tls_conn.h), which for tlsd is keyd_client.c's synchronous
 * KEYD_SIGN.  The key itself never leaves keyd.
 *
 * The cost: TLS 1.3's signature is synchronous.  tlsd's loop waits while
 * keyd signs (one call; keyd signs before it replies; keyd_client.c gives
 * keyd at most 3 s to take the call, time for a restarting keyd, then
 * fails the signature).  keyd is a server
 * of the same appliance that answers every call (abi/keel/keyd.h), and
 * ECDSA P-256 takes well under a millisecond, RSA-2048 a few; the
 * handshakes of other connections wait that long.
 *
 * The key store: the SE interface needs PSA's persistent storage for the
 * registrations, and Keel has no file system, so psa_its_* are a small
 * table in memory here (psa/internal_trusted_storage.h).  It holds slot
 * numbers and key attributes, never key material, and starts empty at
 * every start: tlsd registers its keys again.
 *
 * State: file-scope (PSA's core is a process-wide singleton too).  One
 * thread.  tls_psa_init must run before anything uses PSA (mbedTLS's TLS
 * and pk code do), under the global memory account (tls_mem.h).
 */
#ifndef KEEL_TLS_PSA_H
#define KEEL_TLS_PSA_H

#include <stdint.h>

#include "mbedtls/pk.h"

#include "tls_conn.h"

#define TLS_PSA_SE_LOCATION 0x4bu /* 'K': the secure element that is keyd (SE locations are 1..255) */
#define TLS_PSA_MAX_KEYS    64    /* keyd key ids 0..63 (keyd has KEYD_MAX_KEYS) */
#define TLS_PSA_ITS_ENTRIES 80    /* registrations plus PSA's own records */

enum tls_psa_err {
    TLS_PSA_OK = 0,
    TLS_PSA_E_INIT = -1, /* psa_crypto_init or the driver registration failed */
    TLS_PSA_E_KEY = -2,  /* a key id out of range, or a public key that is not RSA / EC P-256 / P-384 */
    TLS_PSA_E_PSA = -3,  /* PSA refused the registration or the opaque context */
};

/* Sets PSA's random source (F_RNG(P_RNG, buf, len), 0 on success),
 * registers keyd's secure-element driver and initialises PSA.  Later
 * calls only replace the random source.  Returns TLS_PSA_OK or
 * TLS_PSA_E_INIT. */
int tls_psa_init(int (*f_rng)(void *, unsigned char *, size_t), void *p_rng) __attribute__((warn_unused_result));

/* The signer whose sign_now the secure element calls (copied).  Until one
 * is bound, every signature fails (PSA_ERROR_BAD_STATE). */
void tls_psa_bind_signer(const struct tls_signer *s);

/* Makes OUT (mbedtls_pk_init'ed, empty) an opaque key for the signer's key
 * KEY_ID, whose public half is PUB (a certificate's key: RSA, or EC P-256
 * / P-384).  The same KEY_ID may be wrapped many times; it is registered
 * with PSA once.  Free OUT with mbedtls_pk_free (the registration stays).
 * Returns TLS_PSA_OK, TLS_PSA_E_KEY or TLS_PSA_E_PSA. */
int tls_psa_opaque_key(uint32_t key_id, const mbedtls_pk_context *pub, mbedtls_pk_context *out)
    __attribute__((warn_unused_result));

/* Signatures the element made, and refused or failed (statistics). */
struct tls_psa_stats {
    uint64_t signed_ok, sign_failed;
};
struct tls_psa_stats tls_psa_stats(void);

#endif
