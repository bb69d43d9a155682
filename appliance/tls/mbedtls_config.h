/*
 * mbedtls_config.h - Keel's configuration of Mbed TLS 3.6 LTS (MBEDTLS_CONFIG_FILE).
 *
 * What it selects, and why:
 *
 *  - TLS 1.3 and TLS 1.2 on the wire (a listener may allow one or both,
 *    tls_conn.h).  SSL 3, TLS 1.0 and 1.1 do not exist in 3.6, so a
 *    ClientHello that offers nothing newer is refused with a
 *    protocol_version alert.
 *  - TLS 1.2 key exchange: ECDHE only, over X25519, P-256 and P-384,
 *    authenticated by RSA (2048 bits and more, PKCS#1 v1.5 signatures) or
 *    ECDSA certificates.  No static RSA key exchange: keyd never decrypts,
 *    it only signs.  No DHE, no PSK suites.
 *  - TLS 1.3 key exchange: (EC)DHE over the same groups, and tickets as
 *    PSK with (EC)DHE for resumption (psk_dhe_ke; plain psk_ke, which
 *    would give up forward secrecy, is compiled in because mbedTLS offers
 *    no way to build PSK_EPHEMERAL alone, and tls_conn.c turns it off per
 *    configuration).  Signatures: ECDSA P-256/P-384 and RSA-PSS (rsae).
 *    No early data, no record_size_limit.
 *  - Ciphers: AES-GCM (128 and 256) and ChaCha20-Poly1305 in both
 *    versions.  No CBC, no NULL cipher; MBEDTLS_SSL_CIPHERSUITES below is
 *    the exact list, in the server's order of preference.
 *  - Where the private keys are: in keyd, never here.  TLS 1.2 signs
 *    through MBEDTLS_SSL_ASYNC_PRIVATE (asynchronous: the handshake waits
 *    for keyd's notification).  TLS 1.3's CertificateVerify has no
 *    asynchronous hook in 3.6: it signs with mbedtls_pk_sign_ext on the
 *    configuration's own key, so that key is an opaque PSA key
 *    (MBEDTLS_USE_PSA_CRYPTO, mbedtls_pk_setup_opaque) living in a secure
 *    element (MBEDTLS_PSA_CRYPTO_SE_C) whose driver is keyd
 *    (tls_keyd_se.c).  The SE interface requires PSA key storage
 *    (MBEDTLS_PSA_CRYPTO_STORAGE_C) for the keys' registrations: that
 *    storage is in memory (tls_its.c), since what it holds is a slot
 *    number per key, not key material, and is rebuilt at every start.
 *  - PSA's random numbers are our DRBG (MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG,
 *    tls_plat_psa_random), seeded from virtio-rng and RDRAND/RDSEED.
 *  - PSA key slots grow with use (MBEDTLS_PSA_KEY_STORE_DYNAMIC): every
 *    open connection holds two keys (its record keys), a handshake a few
 *    more, so tlsd's 4,092 connections need ~8,200 slots, which a fixed
 *    array would make every program (keyd too) carry in its .bss.  The
 *    store's slices are kept until psa_crypto_free, so they are charged to
 *    the program's global account (MBEDTLS_PSA_KEY_SLICE_CALLOC, our patch
 *    third_party/patches/mbedtls/02-psa-key-slices-program-account.patch),
 *    not to the connection whose key happened to need a new slice (its
 *    account would never come back to zero).
 *  - No renegotiation, no compression, no DTLS, no max_fragment_length,
 *    no encrypt-then-MAC (no CBC suites to use it).
 *  - Session tickets (our own ticket module, tls_ticket.c, rotates its keys
 *    on a schedule with time passed in), SNI, ALPN, extended master secret.
 *  - The client side is compiled too (MBEDTLS_SSL_CLI_C): the host tests
 *    drive the server with a real mbedTLS client.  Unused code is dropped
 *    at link time (the guest archive is built with -ffunction-sections,
 *    programs link with --gc-sections).
 *
 * Platform: no file system, no <time.h>, no libc.  What the library needs
 * of the platform goes through the MBEDTLS_PLATFORM_*_MACRO hooks below,
 * bound at compile time to functions we provide:
 *
 *   calloc/free  tls_mem_calloc/tls_mem_free (tls_mem.c: lib's struct heap,
 *                with a byte account per connection)
 *   snprintf     snprintf (lib/libc_names.c in the guest, libc on the host)
 *   printf       tls_plat_printf (self-tests only; a line buffer to ulog)
 *   time         tls_plat_time: whole seconds of keel_now_ns() (monotonic,
 *                since boot; there is no wall clock, and nothing here needs
 *                one: certificate dates are not checked, MBEDTLS_HAVE_TIME_DATE
 *                is off, and ticket ages come from tls_ticket.c's own clock)
 *   ms time      mbedtls_ms_time (MBEDTLS_PLATFORM_MS_TIME_ALT): the same
 *                clock in milliseconds, for TLS 1.3 ticket ages
 *   entropy      none built in (MBEDTLS_NO_PLATFORM_ENTROPY): entropy.c adds
 *                virtio-rng and RDRAND/RDSEED as sources at run time
 *
 * The same file configures the guest archive and the host archive
 * (build/host-mbedtls/), so the host tests run exactly this feature set;
 * only the functions behind the hooks differ (tls_plat_* live in plat_keel.c
 * in the guest and in the test in the host build).
 */
#ifndef KEEL_MBEDTLS_CONFIG_H
#define KEEL_MBEDTLS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
/* The snprintf/vsnprintf the hooks below name; x509_crt.c calls them
 * without including <stdio.h> itself (the guest's is keel/fmt.h). */
#include <stdio.h>

/* ------------------------------------------------------------ system ---- */
#define MBEDTLS_HAVE_ASM  /* bignum multiply and AES-NI in inline assembly */
#define MBEDTLS_HAVE_TIME /* session start times; seconds from tls_plat_time */
/* bignum.c would divide 128 by 64 bits with the compiler's __udivti3, which
 * lives in libgcc; user programs link no libgcc (lib/user.ld, -nostdlib). */
#define MBEDTLS_NO_UDBL_DIVISION

#define MBEDTLS_PLATFORM_C
/* Guest programs run mbedTLS on several threads (tlsd's workers, keyd's
 * signers): PSA's global state, the DRBGs and the entropy pools take
 * mutexes, which are tls_thread.c's locks.  The host tests are one thread
 * and build without. */
#if defined(KEEL_TLS_THREADS)
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_ALT
#endif
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_PLATFORM_CALLOC_MACRO    tls_mem_calloc
#define MBEDTLS_PLATFORM_FREE_MACRO      tls_mem_free
#define MBEDTLS_PLATFORM_SNPRINTF_MACRO  snprintf
#define MBEDTLS_PLATFORM_VSNPRINTF_MACRO vsnprintf
#define MBEDTLS_PLATFORM_PRINTF_MACRO    tls_plat_printf
#define MBEDTLS_PLATFORM_TIME_TYPE_MACRO long long
#define MBEDTLS_PLATFORM_TIME_MACRO      tls_plat_time
#define MBEDTLS_PLATFORM_MS_TIME_ALT     /* mbedtls_ms_time: plat_keel.c, or the host test */
#define MBEDTLS_NO_PLATFORM_ENTROPY

void *tls_mem_calloc(size_t n, size_t size);
void tls_mem_free(void *p);
int tls_plat_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long long tls_plat_time(long long *t);

/* -------------------------------------------------- hashes and ciphers ---- */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA1_C   /* parsing SHA-1-signed chains, RSA self-test; never signed with */
#define MBEDTLS_SHA224_C /* mbedTLS builds SHA-224 and SHA-256 as one module */
#define MBEDTLS_SHA256_C /* PRF, HKDF, signatures, ticket key names */
#define MBEDTLS_SHA384_C /* SHA-384 suites */
#define MBEDTLS_SHA512_C /* the entropy accumulator, RSA-PSS with SHA-512 */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C /* used when CPUID says so; portable code otherwise */
#define MBEDTLS_GCM_C
/* GCM itself is ours (tls_gcm.c, context in gcm_alt.h): eight blocks per
 * round of AES-NI and one GHASH reduction per eight PCLMUL-multiplied
 * blocks, where mbedTLS's gcm.c goes block by block (issue 14: TLS bulk
 * under TCG).  gcm.c's self-test still runs against it. */
#define MBEDTLS_GCM_ALT
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_HKDF_C /* TLS 1.3's key schedule (through PSA) */

/* ------------------------------------------------------ public keys ---- */
#define MBEDTLS_BIGNUM_C
/* Speed, all within mbedTLS's constant-time code:
 *  - bignum multiply-accumulate in x86-64 assembly (bn_mul.h, with
 *    MBEDTLS_HAVE_ASM above);
 *  - RSA: modular exponentiation with windows of up to 6 bits (the
 *    default is 3): a 2048-bit private operation (two 1024-bit CRT halves)
 *    then takes about a fifth fewer multiplications; the table lookup
 *    stays constant-time, 64 entries of 1024 bits per half (8 KiB);
 *  - ECC: MBEDTLS_ECP_NIST_OPTIM and the fixed-point comb (the static
 *    tables for P-256/P-384's generators, MBEDTLS_ECP_FIXED_POINT_OPTIM's
 *    default) stay on; MBEDTLS_ECP_WINDOW_SIZE stays 4, the window
 *    mbedTLS picks for P-256 anyway (ecp_pick_window_size).  */
#define MBEDTLS_MPI_WINDOW_SIZE 6
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15 /* TLS 1.2 RSA signatures */
#define MBEDTLS_PKCS1_V21 /* RSA-PSS: TLS 1.3 RSA signatures */
#define MBEDTLS_GENPRIME  /* RSA self-test only */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM /* P-256/P-384 reduction by the curves' special primes */
#define MBEDTLS_ECDH_C
/* X25519 shared secrets through Project Everest's HACL* (verified, constant
 * time, 64-bit limbs with 128-bit products) instead of the generic bignum
 * Montgomery ladder: ecdh.c's Everest variant, which PSA's key agreement
 * (psa_raw_key_agreement, TLS 1.2 and 1.3) goes through.  The ephemeral
 * public key (psa_export_public_key after psa_generate_key) is still
 * computed by ecp.c: PSA has no hook for it short of a driver. */
#define MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECDSA_DETERMINISTIC /* RFC 6979: no nonce from the DRBG */
#define MBEDTLS_HMAC_DRBG_C         /* ... which needs HMAC-DRBG */
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C /* public-key fingerprints (certificate <-> key id) */
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT /* chains signed with RSA-PSS; mbedTLS's client offers PSS only with it */

/* ------------------------------------------------------------ random ---- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_ENTROPY_MAX_SOURCES 4

/* --------------------------------------------------------------- PSA ---- */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_USE_PSA_CRYPTO                                /* opaque keys in pk: keyd's keys for TLS 1.3 */
#define MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG                       /* mbedtls_psa_external_get_random: our DRBG */
#define MBEDTLS_PSA_CRYPTO_SE_C                               /* the secure element that is keyd (tls_keyd_se.c) */
#define MBEDTLS_PSA_CRYPTO_STORAGE_C                          /* ... which needs key registrations stored: */
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC                         /* slots grow with use: see the top */
#define MBEDTLS_PSA_KEY_SLICE_CALLOC    tls_mem_calloc_global /* the store's slices: the program's account */
void *tls_mem_calloc_global(size_t n, size_t size);
/* PSA would otherwise copy every input and output buffer (a 16 KiB record
 * twice) to the heap first, a defence for a crypto service whose callers
 * share memory with others; here caller and PSA are one program. */
#define MBEDTLS_PSA_ASSUME_EXCLUSIVE_BUFFERS
/* (no MBEDTLS_PSA_ITS_FILE_C: psa_its_* are tls_its.c, in memory) */

/* --------------------------------------------------------------- TLS ---- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE /* what clients and middleboxes expect */
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_ASYNC_PRIVATE
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ALPN
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE /* the host tests' client checks the chain it got */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES    /* tell the peer why we refuse */

/* One full record each way.  A client may send 16 KiB records (RFC 5246
 * 6.2.1, RFC 8446 5.1) unless max_fragment_length or record_size_limit
 * was negotiated, which we do not offer, so the input buffer cannot be
 * smaller; the output side uses full records for bulk throughput.  These
 * two buffers are most of a connection's memory (tls_conn.h states the
 * whole bound). */
#define MBEDTLS_SSL_IN_CONTENT_LEN  16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 16384

/* The only suites compiled in, in the server's order of preference:
 * TLS 1.3's first (a client that offers 1.3 gets 1.3), then TLS 1.2's. */
#define MBEDTLS_SSL_CIPHERSUITES                                                                                       \
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256, MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS1_3_AES_256_GCM_SHA384,     \
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,        \
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,                \
        MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384

/* ----------------------------------------------------- diagnostics ---- */
#define MBEDTLS_ERROR_C   /* mbedtls_strerror: reasons in the log */
#define MBEDTLS_SELF_TEST /* tlsselftest; dropped from servers by --gc-sections */

#endif
