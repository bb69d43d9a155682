/*
 * test_tls_gcm.c - known answers for Keel's AES-GCM (appliance/tls/tls_gcm.c,
 * MBEDTLS_GCM_ALT), through mbedTLS's GCM API, on both of its paths: the
 * AES-NI/PCLMULQDQ one (when the host has them) and the portable one
 * (forced by keel_gcm_force_portable).
 *
 *   - the test cases of the GCM specification (McGrew and Viega, the ones
 *     NIST's validation uses): AES-128 cases 1-6 and AES-256 cases 13-16:
 *     empty text, one block, 64 bytes, 60 bytes (not a multiple of 16)
 *     with 20 bytes of AAD, and IVs of 8 and 60 bytes (GHASHed Y0);
 *     encryption, decryption, a flipped tag bit refused with the output
 *     wiped;
 *   - streaming: the same answers when text and AAD arrive in pieces of
 *     every size 1..67 (partial blocks across calls, groups of eight
 *     blocks split anywhere), and in place;
 *   - the two paths agree on 200 random cases (key sizes 128/192/256,
 *     lengths 0..700, AAD 0..70, IV 1..40 bytes);
 *   - the 32-bit counter wraps modulo 2^32 inside a group of eight;
 *   - gcm.c's own self-test (mbedtls_gcm_self_test) passes against us;
 *   - bad input: tag lengths, empty IV, an output overlapping the input
 *     ahead of it, a cipher other than AES, a key of 100 bits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <psa/crypto.h>
#include <psa/internal_trusted_storage.h>

#include "unit.h"

void *tls_mem_calloc(size_t n, size_t size) { return calloc(n, size); }
void tls_mem_free(void *p) { free(p); }
void *tls_mem_calloc_global(size_t n, size_t size) { return calloc(n, size); } /* the PSA key store's slices */

/* The whole host archive is linked (appliance/tls.mk): PSA's random source
 * and key storage must exist, and are never called here. */
psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
                                             size_t output_size, size_t *output_length);
psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
                                             size_t output_size, size_t *output_length)
{
    (void)context;
    (void)output;
    (void)output_size;
    *output_length = 0;
    return PSA_ERROR_INSUFFICIENT_ENTROPY;
}
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

static size_t unhex(const char *s, unsigned char *out)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return n;
}

struct kat {
    const char *key, *iv, *aad, *pt, *ct, *tag;
};

#define K128 "feffe9928665731c6d6a8f9467308308"
#define PT64                                                                                                           \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657" \
    "ba637b391aafd255"
#define PT60                                                                                                           \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657" \
    "ba637b39"
#define AAD20 "feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define IV60                                                                                                           \
    "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57" \
    "a637b39b"

static const struct kat kats[] = {
    /* AES-128, cases 1-6 */
    { "00000000000000000000000000000000", "000000000000000000000000", "", "", "", "58e2fccefa7e3061367f1d57a4e7455a" },
    { "00000000000000000000000000000000", "000000000000000000000000", "", "00000000000000000000000000000000",
      "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf" },
    { K128, "cafebabefacedbaddecaf888", "", PT64,
      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac97"
      "3d58e091473f5985",
      "4d5c2af327cd64a62cf35abd2ba6fab4" },
    { K128, "cafebabefacedbaddecaf888", AAD20, PT60,
      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac97"
      "3d58e091",
      "5bc94fbc3221a5db94fae95ae7121a47" },
    { K128, "cafebabefacedbad", AAD20, PT60,
      "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07"
      "c23f4598",
      "3612d2e79e3b0785561be14aaca2fccb" },
    { K128, IV60, AAD20, PT60,
      "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca41703"
      "4c34aee5",
      "619cc5aefffe0bfa462af43c1699d050" },
    /* AES-256, cases 13-16 */
    { "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
      "530f8afbc74536b9a963b4f1c4cb738b" },
    { "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "",
      "00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
    { K128 K128, "cafebabefacedbaddecaf888", "", PT64,
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
      "bcc9f662898015ad",
      "b094dac5d93471bdec1a502270e3cc6c" },
    { K128 K128, "cafebabefacedbaddecaf888", AAD20, PT60,
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
      "bcc9f662",
      "76fc6ece0f4e1768cddf8853bb2d551b" },
};
#define NKATS (sizeof kats / sizeof kats[0])

struct vec {
    unsigned char key[32], iv[64], aad[64], pt[64], ct[64], tag[16];
    size_t keylen, ivlen, aadlen, len, taglen;
};

static void load(const struct kat *k, struct vec *v)
{
    v->keylen = unhex(k->key, v->key);
    v->ivlen = unhex(k->iv, v->iv);
    v->aadlen = unhex(k->aad, v->aad);
    v->len = unhex(k->pt, v->pt);
    unhex(k->ct, v->ct);
    v->taglen = unhex(k->tag, v->tag);
}

/* Both paths where the host has the fast one; the portable one always. */
static int npaths(void) { return 2; }

static void set_path(int p) { keel_gcm_force_portable = p; }

static void test_kat_one_shot(void)
{
    for (int p = 0; p < npaths(); p++) {
        set_path(p);
        for (size_t i = 0; i < NKATS; i++) {
            struct vec v;
            unsigned char out[64], tag[16];
            load(&kats[i], &v);
            mbedtls_gcm_context ctx;
            mbedtls_gcm_init(&ctx);
            CHECK_EQ(mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_AES, v.key, (unsigned)v.keylen * 8), 0);
            CHECK_EQ(mbedtls_gcm_crypt_and_tag(&ctx, MBEDTLS_GCM_ENCRYPT, v.len, v.iv, v.ivlen, v.aad, v.aadlen, v.pt,
                                               out, 16, tag),
                     0);
            CHECK(memcmp(out, v.ct, v.len) == 0);
            CHECK(memcmp(tag, v.tag, 16) == 0);
            if (memcmp(tag, v.tag, 16) != 0)
                printf("INFO case %zu path %d: tag differs\n", i, p);
            /* decrypt, and a flipped tag bit refused with the output wiped */
            CHECK_EQ(mbedtls_gcm_auth_decrypt(&ctx, v.len, v.iv, v.ivlen, v.aad, v.aadlen, v.tag, 16, v.ct, out), 0);
            CHECK(memcmp(out, v.pt, v.len) == 0);
            v.tag[15] ^= 1;
            CHECK_EQ(mbedtls_gcm_auth_decrypt(&ctx, v.len, v.iv, v.ivlen, v.aad, v.aadlen, v.tag, 16, v.ct, out),
                     MBEDTLS_ERR_GCM_AUTH_FAILED);
            for (size_t j = 0; j < v.len; j++)
                CHECK_EQ(out[j], 0);
            /* a truncated tag (12 bytes) is the prefix */
            CHECK_EQ(mbedtls_gcm_crypt_and_tag(&ctx, MBEDTLS_GCM_ENCRYPT, v.len, v.iv, v.ivlen, v.aad, v.aadlen, v.pt,
                                               out, 12, tag),
                     0);
            v.tag[15] ^= 1;
            CHECK(memcmp(tag, v.tag, 12) == 0);
            mbedtls_gcm_free(&ctx);
        }
    }
    set_path(0);
}

/* KAT I through the streaming calls: AAD in pieces of STEP, text in pieces
 * of STEP, encrypting (in place when INPLACE) or decrypting. */
static void stream_one(size_t i, size_t step, int mode, int inplace)
{
    struct vec v;
    unsigned char buf[64], out[64], tag[16];
    size_t olen;
    load(&kats[i], &v);
    const unsigned char *src = mode == MBEDTLS_GCM_ENCRYPT ? v.pt : v.ct;
    const unsigned char *want = mode == MBEDTLS_GCM_ENCRYPT ? v.ct : v.pt;
    memcpy(buf, src, v.len);
    unsigned char *dst = inplace ? buf : out;
    mbedtls_gcm_context ctx;
    mbedtls_gcm_init(&ctx);
    CHECK_EQ(mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_AES, v.key, (unsigned)v.keylen * 8), 0);
    CHECK_EQ(mbedtls_gcm_starts(&ctx, mode, v.iv, v.ivlen), 0);
    for (size_t o = 0; o < v.aadlen; o += step)
        CHECK_EQ(mbedtls_gcm_update_ad(&ctx, v.aad + o, v.aadlen - o < step ? v.aadlen - o : step), 0);
    for (size_t o = 0; o < v.len; o += step) {
        size_t n = v.len - o < step ? v.len - o : step;
        CHECK_EQ(mbedtls_gcm_update(&ctx, buf + o, n, dst + o, n, &olen), 0);
        CHECK_EQ(olen, n);
    }
    CHECK_EQ(mbedtls_gcm_finish(&ctx, NULL, 0, &olen, tag, 16), 0);
    CHECK_EQ(olen, 0);
    CHECK(memcmp(dst, want, v.len) == 0);
    CHECK(memcmp(tag, v.tag, 16) == 0);
    mbedtls_gcm_free(&ctx);
}

static void test_kat_streaming(void)
{
    for (int p = 0; p < npaths(); p++) {
        set_path(p);
        for (size_t i = 0; i < NKATS; i++)
            for (size_t step = 1; step <= 67; step++) {
                stream_one(i, step, MBEDTLS_GCM_ENCRYPT, (int)(step & 1));
                stream_one(i, step, MBEDTLS_GCM_DECRYPT, (int)(step & 2));
            }
    }
    set_path(0);
}

/* Random cases: the fast path (if the host has it) against the portable
 * one, one-shot against pieces of random sizes. */
static void test_paths_agree(void)
{
    uint64_t rng = 0x7c5e11a9d3b2f001ull;
    enum { MAX = 700 };
    static unsigned char key[32], iv[40], aad[70], pt[MAX], c1[MAX], c2[MAX], c3[MAX];
    for (int round = 0; round < 200; round++) {
        unsigned keybits = 128 + 64 * (unsigned)(unit_xorshift64(&rng) % 3);
        size_t len = unit_xorshift64(&rng) % MAX, aadlen = unit_xorshift64(&rng) % 70;
        size_t ivlen = round % 4 ? 12 : 1 + unit_xorshift64(&rng) % 40;
        for (size_t i = 0; i < sizeof key; i++)
            key[i] = (unsigned char)unit_xorshift64(&rng);
        for (size_t i = 0; i < sizeof iv; i++)
            iv[i] = (unsigned char)unit_xorshift64(&rng);
        if (round % 8 == 1) /* counters near the 32-bit wrap */
            memset(iv + 8, 0xff, 4);
        for (size_t i = 0; i < aadlen; i++)
            aad[i] = (unsigned char)unit_xorshift64(&rng);
        for (size_t i = 0; i < len; i++)
            pt[i] = (unsigned char)unit_xorshift64(&rng);
        unsigned char t1[16], t2[16], t3[16];
        mbedtls_gcm_context a, b;
        mbedtls_gcm_init(&a);
        mbedtls_gcm_init(&b);
        set_path(0);
        CHECK_EQ(mbedtls_gcm_setkey(&a, MBEDTLS_CIPHER_ID_AES, key, keybits), 0);
        set_path(1);
        CHECK_EQ(mbedtls_gcm_setkey(&b, MBEDTLS_CIPHER_ID_AES, key, keybits), 0);
        set_path(0);
        CHECK_EQ(mbedtls_gcm_crypt_and_tag(&a, MBEDTLS_GCM_ENCRYPT, len, iv, ivlen, aad, aadlen, pt, c1, 16, t1), 0);
        CHECK_EQ(mbedtls_gcm_crypt_and_tag(&b, MBEDTLS_GCM_ENCRYPT, len, iv, ivlen, aad, aadlen, pt, c2, 16, t2), 0);
        CHECK(memcmp(c1, c2, len) == 0);
        CHECK(memcmp(t1, t2, 16) == 0);
        /* the fast context again, in random pieces */
        size_t olen;
        CHECK_EQ(mbedtls_gcm_starts(&a, MBEDTLS_GCM_ENCRYPT, iv, ivlen), 0);
        CHECK_EQ(mbedtls_gcm_update_ad(&a, aad, aadlen), 0);
        for (size_t o = 0; o < len;) {
            size_t n = 1 + unit_xorshift64(&rng) % 200;
            if (n > len - o)
                n = len - o;
            CHECK_EQ(mbedtls_gcm_update(&a, pt + o, n, c3 + o, n, &olen), 0);
            o += n;
        }
        CHECK_EQ(mbedtls_gcm_finish(&a, NULL, 0, &olen, t3, 16), 0);
        CHECK(memcmp(c1, c3, len) == 0);
        CHECK(memcmp(t1, t3, 16) == 0);
        /* and back */
        CHECK_EQ(mbedtls_gcm_auth_decrypt(&a, len, iv, ivlen, aad, aadlen, t1, 16, c1, c3), 0);
        CHECK(memcmp(c3, pt, len) == 0);
        mbedtls_gcm_free(&a);
        mbedtls_gcm_free(&b);
    }
}

/* The counter's last 32 bits wrap to 0 without carrying into the IV:
 * checked against blocks encrypted one at a time with AES-ECB. */
static void test_counter_wrap(void)
{
    static const unsigned char key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    unsigned char iv[12] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab };
    unsigned char zero[16 * 12] = { 0 }, out[16 * 12], tag[16];
    for (int p = 0; p < npaths(); p++) {
        set_path(p);
        mbedtls_gcm_context ctx;
        mbedtls_gcm_init(&ctx);
        CHECK_EQ(mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_AES, key, 128), 0);
        /* J0 = IV || 1; with a 12-byte IV the counter starts at 2.  No IV
         * of 12 bytes starts near the wrap, so GHASH a 16-byte IV whose
         * J0 we do not control: read the counter through ECB instead. */
        CHECK_EQ(mbedtls_gcm_crypt_and_tag(&ctx, MBEDTLS_GCM_ENCRYPT, sizeof zero, iv, sizeof iv, NULL, 0, zero, out,
                                           16, tag),
                 0);
        mbedtls_aes_context aes;
        mbedtls_aes_init(&aes);
        CHECK_EQ(mbedtls_aes_setkey_enc(&aes, key, 128), 0);
        unsigned char ctr[16], ks[16];
        memcpy(ctr, iv, 12);
        for (uint32_t b = 0; b < 12; b++) {
            uint32_t c = 2 + b;
            ctr[12] = (unsigned char)(c >> 24);
            ctr[13] = (unsigned char)(c >> 16);
            ctr[14] = (unsigned char)(c >> 8);
            ctr[15] = (unsigned char)c;
            CHECK_EQ(mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, ctr, ks), 0);
            CHECK(memcmp(out + 16 * b, ks, 16) == 0);
        }
        /* Now a context whose counter is made to sit just below the wrap:
         * starts() sets y = IV || 1; we set it to IV || 0xfffffffb so
         * blocks 2.. of the group cross 0xffffffff -> 0. */
        CHECK_EQ(mbedtls_gcm_starts(&ctx, MBEDTLS_GCM_ENCRYPT, iv, sizeof iv), 0);
        memset(ctx.MBEDTLS_PRIVATE(y) + 12, 0xff, 4);
        ctx.MBEDTLS_PRIVATE(y)[15] = 0xfb;
        size_t olen;
        CHECK_EQ(mbedtls_gcm_update(&ctx, zero, sizeof zero, out, sizeof out, &olen), 0);
        for (uint32_t b = 0; b < 12; b++) {
            uint32_t c = 0xfffffffcu + b; /* wraps */
            ctr[12] = (unsigned char)(c >> 24);
            ctr[13] = (unsigned char)(c >> 16);
            ctr[14] = (unsigned char)(c >> 8);
            ctr[15] = (unsigned char)c;
            CHECK_EQ(mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, ctr, ks), 0);
            CHECK(memcmp(out + 16 * b, ks, 16) == 0);
        }
        mbedtls_aes_free(&aes);
        mbedtls_gcm_free(&ctx);
    }
    set_path(0);
}

static void test_mbedtls_self_test(void)
{
    for (int p = 0; p < npaths(); p++) {
        set_path(p);
        CHECK_EQ(mbedtls_gcm_self_test(0), 0);
    }
    set_path(0);
}

static void test_bad_input(void)
{
    static const unsigned char key[32] = { 0 }, iv[12] = { 0 };
    unsigned char buf[64] = { 0 }, tag[16];
    size_t olen;
    mbedtls_gcm_context ctx;
    mbedtls_gcm_init(&ctx);
    CHECK_EQ(mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_CAMELLIA, key, 128), MBEDTLS_ERR_GCM_BAD_INPUT);
    CHECK_EQ(mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_AES, key, 100), MBEDTLS_ERR_GCM_BAD_INPUT);
    CHECK_EQ(mbedtls_gcm_setkey(&ctx, MBEDTLS_CIPHER_ID_AES, key, 128), 0);
    CHECK_EQ(mbedtls_gcm_starts(&ctx, MBEDTLS_GCM_ENCRYPT, iv, 0), MBEDTLS_ERR_GCM_BAD_INPUT);
    CHECK_EQ(mbedtls_gcm_starts(&ctx, MBEDTLS_GCM_ENCRYPT, iv, 12), 0);
    /* output one byte ahead of the input, overlapping it */
    CHECK_EQ(mbedtls_gcm_update(&ctx, buf, 32, buf + 1, 32, &olen), MBEDTLS_ERR_GCM_BAD_INPUT);
    CHECK_EQ(mbedtls_gcm_update(&ctx, buf, 32, buf + 32, 31, &olen), MBEDTLS_ERR_GCM_BUFFER_TOO_SMALL);
    CHECK_EQ(mbedtls_gcm_finish(&ctx, NULL, 0, &olen, tag, 3), MBEDTLS_ERR_GCM_BAD_INPUT);
    CHECK_EQ(mbedtls_gcm_finish(&ctx, NULL, 0, &olen, tag, 17), MBEDTLS_ERR_GCM_BAD_INPUT);
    mbedtls_gcm_free(&ctx);
    mbedtls_gcm_free(NULL);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_kat_one_shot), UNIT_TEST(test_kat_streaming),     UNIT_TEST(test_paths_agree),
        UNIT_TEST(test_counter_wrap), UNIT_TEST(test_mbedtls_self_test), UNIT_TEST(test_bad_input),
    };
    return unit_main("tls_gcm", tests, (int)(sizeof tests / sizeof tests[0]));
}
