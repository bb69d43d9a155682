/*
 * test_tls_crypto.c - known-answer tests for the public-key code tlsd and
 * keyd run, built from mbedTLS with the appliance's own configuration
 * (appliance/tls/mbedtls_config.h, the host archive of appliance/tls.mk).
 *
 * What the configuration turns on for speed must still compute the right
 * answers, through the same PSA calls the TLS stack makes:
 *   - X25519 through Everest/HACL* (MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED):
 *     ecdh.c picks the Everest variant for Curve25519; RFC 7748 section 6.1
 *     (Alice and Bob) and section 5.2 (1 and 1,000 iterations);
 *   - P-256 with MBEDTLS_ECP_NIST_OPTIM and the fixed-point comb: RFC 6979
 *     A.2.5 (deterministic ECDSA, SHA-256, "sample"), its public key, and
 *     an ECDH shared secret (RFC 6979's key with RFC 5903's initiator key
 *     as the peer; the answer computed once with OpenSSL 3.0);
 *   - RSA 2048 with MBEDTLS_MPI_WINDOW_SIZE 6: a PKCS#1 v1.5 SHA-256
 *     signature of "sample" by a test key, both made once with OpenSSL 3.0
 *     (v1.5 signatures are deterministic), and an RSA-PSS round trip.
 * Each test also prints an INFO line with the host's time per operation,
 * the figure the configuration's choices are about.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <mbedtls/ecdh.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_time.h>
#include <psa/crypto.h>
#include <psa/internal_trusted_storage.h>

#include "unit.h"

/* ------------------------------------------------ platform (host) ---- */

void *tls_mem_calloc(size_t n, size_t size) { return calloc(n, size); }
void tls_mem_free(void *p) { free(p); }
void *tls_mem_calloc_global(size_t n, size_t size) { return calloc(n, size); } /* the PSA key store's slices */

/* tls_plat_printf, tls_plat_time, mbedtls_ms_time: tls_host_plat.c. */
psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
                                             size_t output_size, size_t *output_length);
psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
                                             size_t output_size, size_t *output_length)
{
    (void)context;
    *output_length = 0;
    if (getrandom(output, output_size, 0) != (ssize_t)output_size)
        return PSA_ERROR_INSUFFICIENT_ENTROPY;
    *output_length = output_size;
    return PSA_SUCCESS;
}

/* PSA key storage (MBEDTLS_PSA_CRYPTO_STORAGE_C, for keyd's secure
 * element): these tests make volatile keys only, so nothing is ever stored. */
psa_status_t psa_its_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info);
psa_status_t psa_its_get(psa_storage_uid_t uid, uint32_t offset, uint32_t length, void *p_data, size_t *p_len);
psa_status_t psa_its_set(psa_storage_uid_t uid, uint32_t length, const void *p_data, psa_storage_create_flags_t f);
psa_status_t psa_its_remove(psa_storage_uid_t uid);

psa_status_t psa_its_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info)
{
    (void)uid;
    (void)p_info;
    return PSA_ERROR_DOES_NOT_EXIST;
}
psa_status_t psa_its_get(psa_storage_uid_t uid, uint32_t offset, uint32_t length, void *p_data, size_t *p_len)
{
    (void)uid;
    (void)offset;
    (void)length;
    (void)p_data;
    (void)p_len;
    return PSA_ERROR_DOES_NOT_EXIST;
}
psa_status_t psa_its_set(psa_storage_uid_t uid, uint32_t length, const void *p_data, psa_storage_create_flags_t f)
{
    (void)uid;
    (void)length;
    (void)p_data;
    (void)f;
    return PSA_ERROR_NOT_SUPPORTED;
}
psa_status_t psa_its_remove(psa_storage_uid_t uid)
{
    (void)uid;
    return PSA_ERROR_DOES_NOT_EXIST;
}

/* ------------------------------------------------------------ helpers ---- */

/* HEX (even length, at most 2 * cap digits) -> bytes; returns the count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    if (n > cap)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            abort();
        out[i] = (uint8_t)v;
    }
    return n;
}

static bool bytes_are(const uint8_t *got, size_t n, const char *hex)
{
    uint8_t want[512];
    return unhex(hex, want, sizeof want) == n && memcmp(got, want, n) == 0;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static psa_key_id_t import_key(psa_key_type_t type, size_t bits, psa_key_usage_t usage, psa_algorithm_t alg,
                               const char *hex)
{
    uint8_t raw[64];
    size_t n = unhex(hex, raw, sizeof raw);
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, type);
    psa_set_key_bits(&a, bits);
    psa_set_key_usage_flags(&a, usage);
    psa_set_key_algorithm(&a, alg);
    psa_key_id_t id = 0;
    CHECK_EQ(psa_import_key(&a, raw, n, &id), PSA_SUCCESS);
    return id;
}

#define X25519_PAIR PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY)
#define P256_PAIR   PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)

/* X25519(K, U) through PSA's key agreement, as the TLS stack calls it. */
static bool x25519(const uint8_t k[32], const uint8_t u[32], uint8_t out[32])
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, X25519_PAIR);
    psa_set_key_bits(&a, 255);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE);
    psa_set_key_algorithm(&a, PSA_ALG_ECDH);
    psa_key_id_t id = 0;
    size_t n = 0;
    bool ok = psa_import_key(&a, k, 32, &id) == PSA_SUCCESS &&
              psa_raw_key_agreement(PSA_ALG_ECDH, id, u, 32, out, 32, &n) == PSA_SUCCESS && n == 32;
    psa_destroy_key(id);
    return ok;
}

/* -------------------------------------------------------------- X25519 ---- */

static void test_everest_serves_x25519(void)
{
    mbedtls_ecdh_context ctx;
    mbedtls_ecdh_init(&ctx);
    CHECK_EQ(mbedtls_ecdh_setup(&ctx, MBEDTLS_ECP_DP_CURVE25519), 0);
    CHECK_EQ(ctx.MBEDTLS_PRIVATE(var), MBEDTLS_ECDH_VARIANT_EVEREST);
    mbedtls_ecdh_free(&ctx);
    mbedtls_ecdh_init(&ctx);
    CHECK_EQ(mbedtls_ecdh_setup(&ctx, MBEDTLS_ECP_DP_SECP256R1), 0);
    CHECK_EQ(ctx.MBEDTLS_PRIVATE(var), MBEDTLS_ECDH_VARIANT_MBEDTLS_2_0);
    mbedtls_ecdh_free(&ctx);
}

static const char ALICE_PRIV[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char ALICE_PUB[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char BOB_PRIV[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
static const char BOB_PUB[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
static const char SHARED[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

static void test_x25519_rfc7748_alice_and_bob(void)
{
    uint8_t a[32], b[32], ap[32], bp[32], s[32], pub[32];
    unhex(ALICE_PRIV, a, 32);
    unhex(BOB_PRIV, b, 32);
    unhex(ALICE_PUB, ap, 32);
    unhex(BOB_PUB, bp, 32);
    CHECK(x25519(a, bp, s) && bytes_are(s, 32, SHARED));
    CHECK(x25519(b, ap, s) && bytes_are(s, 32, SHARED));
    /* The public key, as TLS exports its ephemeral one. */
    psa_key_id_t id = import_key(X25519_PAIR, 255, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH, ALICE_PRIV);
    size_t n = 0;
    CHECK_EQ(psa_export_public_key(id, pub, sizeof pub, &n), PSA_SUCCESS);
    CHECK(n == 32 && bytes_are(pub, 32, ALICE_PUB));
    psa_destroy_key(id);
    /* A wrong peer key gives another secret. */
    bp[5] ^= 1;
    CHECK(x25519(a, bp, s) && !bytes_are(s, 32, SHARED));
}

/* The public half of generated keys, as every TLS handshake exports its
 * ephemeral one: Keel's mbedTLS patch (third_party/patches/mbedtls/01-...)
 * computes it with Everest's ladder; it must equal ecp.c's generic ladder's
 * answer for the same private key, and two such keys must agree on their
 * shared secret. */
static int host_rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    return getrandom(out, len, 0) == (ssize_t)len ? 0 : -1;
}

static void test_x25519_public_key_of_generated_keys(void)
{
    enum { KEYS = 20 };
    double t_export = 0;
    for (int i = 0; i < KEYS; i++) {
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        psa_set_key_type(&a, X25519_PAIR);
        psa_set_key_bits(&a, 255);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE | PSA_KEY_USAGE_EXPORT);
        psa_set_key_algorithm(&a, PSA_ALG_ECDH);
        psa_key_id_t id = 0;
        uint8_t priv[32], pub[32], generic[32];
        size_t n = 0, m = 0;
        CHECK_EQ(psa_generate_key(&a, &id), PSA_SUCCESS);
        CHECK_EQ(psa_export_key(id, priv, sizeof priv, &n), PSA_SUCCESS);
        double t0 = now_us();
        CHECK_EQ(psa_export_public_key(id, pub, sizeof pub, &m), PSA_SUCCESS);
        t_export += now_us() - t0;
        CHECK(n == 32 && m == 32);
        mbedtls_ecp_keypair kp;
        mbedtls_ecp_point q;
        mbedtls_ecp_keypair_init(&kp);
        mbedtls_ecp_point_init(&q);
        CHECK_EQ(mbedtls_ecp_read_key(MBEDTLS_ECP_DP_CURVE25519, &kp, priv, sizeof priv), 0);
        CHECK_EQ(mbedtls_ecp_mul(&kp.MBEDTLS_PRIVATE(grp), &q, &kp.MBEDTLS_PRIVATE(d), &kp.MBEDTLS_PRIVATE(grp).G,
                                 host_rng, NULL),
                 0);
        CHECK_EQ(mbedtls_ecp_point_write_binary(&kp.MBEDTLS_PRIVATE(grp), &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &m, generic,
                                                sizeof generic),
                 0);
        CHECK(m == 32 && memcmp(pub, generic, 32) == 0);
        /* ... and the key agrees with Alice on a secret, both ways. */
        uint8_t ap[32], alice[32], s1[32], s2[32];
        unhex(ALICE_PUB, ap, 32);
        unhex(ALICE_PRIV, alice, 32);
        CHECK(x25519(priv, ap, s1) && x25519(alice, pub, s2) && memcmp(s1, s2, 32) == 0);
        mbedtls_ecp_point_free(&q);
        mbedtls_ecp_keypair_free(&kp);
        psa_destroy_key(id);
    }
    printf("INFO x25519 public key of a generated key (psa_export_public_key): %.1f us per key on this host\n",
           t_export / KEYS);
}

static void test_x25519_rfc7748_iterated(void)
{
    uint8_t k[32] = { 9 }, u[32] = { 9 }, r[32];
    double t0 = now_us();
    for (int i = 1; i <= 1000; i++) {
        if (!x25519(k, u, r)) {
            CHECK(!"x25519 failed");
            return;
        }
        memcpy(u, k, 32);
        memcpy(k, r, 32);
        if (i == 1)
            CHECK(bytes_are(k, 32, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"));
    }
    CHECK(bytes_are(k, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"));
    printf("INFO x25519 shared secret (Everest, with PSA import): %.1f us per operation on this host\n",
           (now_us() - t0) / 1000);
}

/* --------------------------------------------------------------- P-256 ---- */

static const char P256_PRIV[] = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";

static void test_p256_ecdsa_rfc6979(void)
{
    psa_algorithm_t alg = PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256);
    psa_key_id_t id = import_key(P256_PAIR, 256, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH, alg, P256_PRIV);
    uint8_t hash[32], sig[64], pub[65];
    size_t n = 0;
    CHECK_EQ(psa_hash_compute(PSA_ALG_SHA_256, (const uint8_t *)"sample", 6, hash, sizeof hash, &n), PSA_SUCCESS);
    CHECK_EQ(psa_export_public_key(id, pub, sizeof pub, &n), PSA_SUCCESS);
    CHECK(n == 65 && bytes_are(pub, 65,
                               "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
                               "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"));
    double t0 = now_us();
    enum { SIGNS = 50 };
    for (int i = 0; i < SIGNS; i++) {
        CHECK_EQ(psa_sign_hash(id, alg, hash, sizeof hash, sig, sizeof sig, &n), PSA_SUCCESS);
        CHECK(n == 64 && bytes_are(sig, 64,
                                   "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
                                   "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"));
    }
    printf("INFO ecdsa p-256 sign: %.1f us per signature on this host\n", (now_us() - t0) / SIGNS);
    CHECK_EQ(psa_verify_hash(id, alg, hash, sizeof hash, sig, 64), PSA_SUCCESS);
    sig[10] ^= 0x40;
    CHECK_EQ(psa_verify_hash(id, alg, hash, sizeof hash, sig, 64), PSA_ERROR_INVALID_SIGNATURE);
    psa_destroy_key(id);
}

static void test_p256_ecdh(void)
{
    psa_key_id_t id = import_key(P256_PAIR, 256, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH, P256_PRIV);
    uint8_t peer[65], s[32];
    unhex("04dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
          "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
          peer, sizeof peer);
    size_t n = 0;
    CHECK_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, id, peer, sizeof peer, s, sizeof s, &n), PSA_SUCCESS);
    CHECK(n == 32 && bytes_are(s, 32, "2ccfb36e37b87017832463206835ffda3843d2b0aa59597c3b61717cab6c9690"));
    peer[64] ^= 1; /* off the curve: refused */
    CHECK(psa_raw_key_agreement(PSA_ALG_ECDH, id, peer, sizeof peer, s, sizeof s, &n) != PSA_SUCCESS);
    psa_destroy_key(id);
}

/* ------------------------------------------------------------ RSA 2048 ---- */

static const char RSA_KEY[] = "-----BEGIN RSA PRIVATE KEY-----\n"
                              "MIIEowIBAAKCAQEApkdTqVJmT6MQ4lZGGNlqKA5Q3EvlDHhcdQi9MjRBieGm9xeX\n"
                              "Nnw0slkhSpEU/4riTecZOSY5mLbtYMFiU6A3J5WnxRRtqio60Qft9e0gXD1KQ9Tx\n"
                              "qeBXSqKV+dncyGa5LNxNKxDvtB8jZLxU/cQ9q5mq77T6+snH7enW39OzsiZsJUWg\n"
                              "BvC2voY1tmNb6MUdxctNBmrZNTjsfHFFj+rqaNxjIke0wP3DUqNwzSqd1Vm1KNww\n"
                              "c/wavZ239i0zylakf5qlhc6t6wfNt9uuaWEBx/V18QgEZn7pm/GQhoWleB/L7h1/\n"
                              "NbS981CJRHn+cbT5JCTD4oyZbIKUGbzbCSyDHQIDAQABAoIBAAQddfNV4/d6v7n4\n"
                              "7HVZz3ABggb1r4vlCwAQJjiGGmIfw2/64Ds7ty/RF2Bpoe/8v1gyDN8ryZdJ3arm\n"
                              "66NKBDDBWicn4oU91CSksi2uKj5w0N6dYu6zQTh1Dh+iaz2gFzCbnM2g9sG0geh7\n"
                              "ZbdoYiYAoKjxMm3polOfwCQxcHwglOxttN9AXVAlWh5BKBuzwWehxrwS6Cdytzfh\n"
                              "ae3/GJoOZDrlr2Z5jCgAPEKmRpTljQCYH016HAgO5bHKF1AEPlotnHN3S3nsIo8W\n"
                              "a+RZyzkSlyBPCRZRcA+aAI77QugjMGV5s5HnG6Hfi04yIzPmPR+Pw5wvzR7KPpWV\n"
                              "wLDdi8kCgYEAzw+6IP1vNY6wPbAuqbhrV+U2498IvlmMMDVTJQnizl4K8AryxQBT\n"
                              "JyJtxFJ3uu7hWKgH4ZjuPuIiVBIahJxuHWxWE+88YcIGnHQPcc3DeZwzfJSbP/un\n"
                              "gBx6/tO1mMZuZDduI9h9JcMh/DTdzXa20QreGYowF8jIp/+ryOON5HUCgYEAzZQI\n"
                              "D9VyoaJSOXvev6dXsOcP3HBLkFoVg3r8bqrh/UQgpvYKll1hp7dL7VexSNzY8qMI\n"
                              "wLhX+b29pGrLk0pxGr65n+ZYly2GYmIQ+nhjXsJxiZM4w08tKdtQnDKBdsOXrBWH\n"
                              "uCFNgIqzSnR25E4JtvXfUfoRMg/JpaC3C+uGLwkCgYAelwI2cXqGfQgIdQjPxhEF\n"
                              "sTVEwOR3yp7tWFNqO2Woezg+cj+fXwbp1ypEQLKziSr9gAV6DK/V1m6f4PTN9pZF\n"
                              "/oVQ+J0BDDsRzguiEnX4d10b4JB3CWSbhpmdIAXKBja004OQBCGo/IT+z4idHBay\n"
                              "F1rshv/H47/RIfJtAUErKQKBgEdltxsQrZw3TMlMHQOA8fKtfRO5KHU85CXiy9L/\n"
                              "pDcatyBlaS3pxqXCAiuu/hJpKSuztbGBFITXAgsdUBCalQeN39gJ3xC6LebzWiQz\n"
                              "NYfOjjISoG8si2nzEl79J3uA2KdaXuVzI4CWK0ibhEMsWzFg2SuWZux1ETplw8zv\n"
                              "Ao5JAoGBAMCHr4PCUAcMGgznwIMLMDUSHqGIbbwcZZwBqG8BD6fw0q/8CbrPO00X\n"
                              "WGY0755MEbF3cvUFk3nXt+sXSm1RFYSmWolLiyIdy6GiCaqsto638HdJMPkLkESz\n"
                              "KolORPE3jJLGgSWBBSJzoCLtDALA0s1dBTCptTghOM+BoEZpXB3e\n"
                              "-----END RSA PRIVATE KEY-----\n";

static const char RSA_SIG_SAMPLE[] = "435e420cffe9d33acbc57354d6925f0e06b21ba21131c1f3e8bfddea87341177"
                                     "4a9184a4b70a738dd4b6ba109201e51d79951b80ec74dab09fd35b5337cda330"
                                     "69d50b7d8dd34fde91047b6e33f8a4f7d8816a1e33100d7238b5c330ab7857d2"
                                     "2cbab3528ae66b1a11dd4482959ec4e4460e4420bd05fe6f09d7bcf2e8e8431e"
                                     "04eeca25c89b885427c5d656759f2798d89984df30f3e642379f8b150f77e18f"
                                     "dd086c195d54e5fa631cdaf602d9cdf9660e9359117dfce85d97ea65c7a721a9"
                                     "9e3e48fb8b7cb4e28fd307035174dd94595a551a4adf2ecfbe46dd41118f0e27"
                                     "1be2ba9426224d219763043a06064ec48c3a0da13b67f9fe027d051a04bcfc7e";

static void test_rsa2048_pkcs1v15_and_pss(void)
{
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    CHECK_EQ(mbedtls_pk_parse_key(&pk, (const unsigned char *)RSA_KEY, sizeof RSA_KEY, NULL, 0, host_rng, NULL), 0);
    CHECK_EQ(mbedtls_pk_get_bitlen(&pk), 2048);
    uint8_t hash[32], sig[256];
    size_t n = 0;
    CHECK_EQ(psa_hash_compute(PSA_ALG_SHA_256, (const uint8_t *)"sample", 6, hash, sizeof hash, &n), PSA_SUCCESS);
    enum { SIGNS = 20 };
    double t0 = now_us();
    for (int i = 0; i < SIGNS; i++) {
        CHECK_EQ(mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, sizeof sig, &n, host_rng, NULL), 0);
        CHECK(n == 256 && bytes_are(sig, 256, RSA_SIG_SAMPLE));
    }
    printf("INFO rsa 2048 sign (PKCS#1 v1.5, CRT): %.1f us per signature on this host\n", (now_us() - t0) / SIGNS);
    CHECK_EQ(mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, n), 0);
    /* RSA-PSS (TLS 1.3's CertificateVerify): randomised, so a round trip. */
    CHECK_EQ(mbedtls_pk_sign_ext(MBEDTLS_PK_RSASSA_PSS, &pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, sizeof sig, &n,
                                 host_rng, NULL),
             0);
    mbedtls_pk_rsassa_pss_options opt = { .mgf1_hash_id = MBEDTLS_MD_SHA256,
                                          .expected_salt_len = MBEDTLS_RSA_SALT_LEN_ANY };
    CHECK_EQ(mbedtls_pk_verify_ext(MBEDTLS_PK_RSASSA_PSS, &opt, &pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, n), 0);
    sig[100] ^= 1;
    CHECK(mbedtls_pk_verify_ext(MBEDTLS_PK_RSASSA_PSS, &opt, &pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, n) != 0);
    mbedtls_pk_free(&pk);
}

int main(void)
{
    if (psa_crypto_init() != PSA_SUCCESS) {
        printf("FAIL tls_crypto.psa_crypto_init\n0 passed, 1 failed\n");
        return 1;
    }
    static const struct unit_test tests[] = {
        UNIT_TEST(test_everest_serves_x25519),    UNIT_TEST(test_x25519_rfc7748_alice_and_bob),
        UNIT_TEST(test_x25519_rfc7748_iterated),  UNIT_TEST(test_x25519_public_key_of_generated_keys),
        UNIT_TEST(test_p256_ecdsa_rfc6979),       UNIT_TEST(test_p256_ecdh),
        UNIT_TEST(test_rsa2048_pkcs1v15_and_pss),
    };
    int r = unit_main("tls_crypto", tests, (int)(sizeof tests / sizeof tests[0]));
    mbedtls_psa_crypto_free();
    return r;
}
