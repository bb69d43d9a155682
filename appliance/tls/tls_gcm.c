/*
 * tls_gcm.c - AES-GCM for mbedTLS (MBEDTLS_GCM_ALT): eight blocks at a
 * time with AES-NI and PCLMULQDQ.  The context and the reasons are in
 * gcm_alt.h; the contracts are mbedTLS's gcm.h, kept exactly (return
 * codes, streaming with partial blocks, in-place operation, length limits).
 *
 * Every user of AES-GCM in mbedTLS lands here: PSA's built-in AEAD
 * (psa_crypto_aead.c: TLS 1.2 and 1.3 records with MBEDTLS_USE_PSA_CRYPTO,
 * one mbedtls_gcm_setkey per record), the cipher layer (cipher_wrap.c),
 * and gcm.c's self-test, which stays compiled (tlsselftest runs it).
 *
 * GCM (NIST SP 800-38D) in brief: H = E_K(0); Y0 from the IV (IV || 1 for
 * 12-byte IVs, else GHASH of the IV); the text is XORed with E_K(Y1),
 * E_K(Y2), ... (the last 32 bits of Y count, modulo 2^32); the tag is
 * E_K(Y0) XOR GHASH_H(AAD padded, ciphertext padded, lengths in bits).
 *
 * The fast path (CPUID: AES-NI, PCLMULQDQ, SSSE3, SSE4.1).  GHASH works on
 * byte-reversed blocks, where a carry-less multiply of two 128-bit values
 * gives the field product shifted right by one bit: it is shifted back and
 * reduced modulo x^128 + x^7 + x^2 + x + 1 with shifts (the method of
 * Gueron and Kounavis's Intel paper on CLMUL and GCM).  Multiplication and
 * reduction are linear, so for n blocks C1..Cn
 *     X' = (X ^ C1)·H^n ^ C2·H^(n-1) ^ ... ^ Cn·H
 * is summed unreduced (three carry-less multiplies per block, Karatsuba,
 * with each power's half-sum precomputed) and reduced once.  The powers
 * H^1..H^8 are computed at setkey.  Under QEMU's TCG each PCLMULQDQ and
 * AESENC is a helper call, and each other instruction costs too: per
 * 16-byte block this path runs the AES rounds, three multiplies and a few
 * XORs; mbedTLS's own gcm.c runs four multiplies, a reduction and several
 * function calls.
 *
 * Constant time: no branch and no memory index depends on the key, H or
 * the data (the portable multiply uses masks).  Lengths and the mode are
 * public.  The tag check (mbedtls_gcm_auth_decrypt) uses mbedtls_ct_memcmp.
 *
 * Not handled: ciphers other than AES (mbedTLS's GCM also takes ARIA and
 * Camellia; our configuration has neither): mbedtls_gcm_setkey refuses them.
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include <stdint.h>
#include <string.h>

#include <cpuid.h>
#include <wmmintrin.h>
#include <smmintrin.h>

#include "mbedtls/gcm.h"
#include "mbedtls/constant_time.h"
#include "mbedtls/platform_util.h"

/* Compiled out with mbedTLS's own GCM (MBEDTLS_GCM_ALT off in
 * mbedtls_config.h: one line to compare the two). */
#if defined(MBEDTLS_GCM_ALT)

int keel_gcm_force_portable;

/* ------------------------------------------------------------ helpers ---- */

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void incr32(unsigned char y[16]) { put_be32(y + 12, get_be32(y + 12) + 1); }

/* AES-NI, PCLMULQDQ, SSSE3 (PSHUFB), SSE4.1 (PINSRD): CPUID leaf 1, ECX.
 * Asked once (a CPUID is a VM exit under KVM, and setkey runs per record);
 * threads racing on the first call store the same answer. */
static int cpu_has_fast(void)
{
    static int known = -1;
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v < 0) {
        unsigned a, b, c, d;
        const unsigned need = bit_AES | bit_PCLMUL | bit_SSSE3 | bit_SSE4_1;
        v = __get_cpuid(1, &a, &b, &c, &d) && (c & need) == need;
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* ----------------------------------------------------- portable path ---- */

/* x = x · h in GF(2^128), GCM's bit order (SP 800-38D, algorithm 1), with
 * masks instead of branches. */
static void port_mul(unsigned char x[16], const unsigned char h[16])
{
    uint64_t zh = 0, zl = 0, vh = get_be64(h), vl = get_be64(h + 8);
    for (int i = 0; i < 128; i++) {
        uint64_t m = -(uint64_t)((x[i / 8] >> (7 - i % 8)) & 1);
        zh ^= vh & m;
        zl ^= vl & m;
        uint64_t r = -(vl & 1);
        vl = (vl >> 1) | (vh << 63);
        vh = (vh >> 1) ^ (0xE100000000000000ull & r);
    }
    put_be64(x, zh);
    put_be64(x + 8, zl);
}

static void port_ghash(mbedtls_gcm_context *ctx, const unsigned char *data, size_t nblocks)
{
    for (; nblocks; nblocks--, data += 16) {
        for (int i = 0; i < 16; i++)
            ctx->x[i] ^= data[i];
        port_mul(ctx->x, ctx->h);
    }
}

static int port_crypt(mbedtls_gcm_context *ctx, const unsigned char *in, unsigned char *out, size_t nblocks)
{
    unsigned char ks[16], c[16];
    for (; nblocks; nblocks--, in += 16, out += 16) {
        incr32(ctx->y);
        int ret = mbedtls_aes_crypt_ecb(&ctx->aes, MBEDTLS_AES_ENCRYPT, ctx->y, ks);
        if (ret != 0)
            return ret;
        for (int i = 0; i < 16; i++) {
            unsigned char o = in[i] ^ ks[i];
            c[i] = ctx->mode == MBEDTLS_GCM_DECRYPT ? in[i] : o;
            out[i] = o;
        }
        port_ghash(ctx, c, 1);
    }
    mbedtls_platform_zeroize(ks, sizeof ks);
    return 0;
}

/* --------------------------------------------------------- fast path ---- */

#define FAST        __attribute__((target("aes,pclmul,ssse3,sse4.1")))
#define FAST_INLINE FAST __attribute__((always_inline)) static inline
/* The per-block loops unrolled: under TCG a loop's branch ends a
 * translation block, and unrolled groups ran 40% faster (qemu-x86_64 7.2,
 * 16 KiB records: 46 -> 65 MB/s). */
#define KEEL_UNROLL8 _Pragma("GCC unroll 8")

FAST_INLINE __m128i bswap128(__m128i v)
{
    return _mm_shuffle_epi8(v, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

/* The Karatsuba half-sum of V: low 64 bits = V's high half XOR its low half. */
FAST_INLINE __m128i halfsum(__m128i v) { return _mm_xor_si128(v, _mm_shuffle_epi32(v, 0x4E)); }

/* Add a·h (unreduced, Karatsuba) to lo/mid/hi; hk = halfsum(h). */
FAST_INLINE void gh_acc(__m128i a, __m128i h, __m128i hk, __m128i *lo, __m128i *mid, __m128i *hi)
{
    *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, h, 0x00));
    *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, h, 0x11));
    *mid = _mm_xor_si128(*mid, _mm_clmulepi64_si128(halfsum(a), hk, 0x00));
}

/* The sum of products in lo/mid/hi (as gh_acc left them), shifted left by
 * one bit and reduced: the GHASH product of byte-reversed operands. */
FAST_INLINE __m128i gh_reduce(__m128i lo, __m128i mid, __m128i hi)
{
    mid = _mm_xor_si128(mid, _mm_xor_si128(lo, hi));
    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
    /* [hi:lo] <<= 1 */
    __m128i c0 = _mm_srli_epi32(lo, 31), c1 = _mm_srli_epi32(hi, 31);
    lo = _mm_slli_epi32(lo, 1);
    hi = _mm_slli_epi32(hi, 1);
    __m128i cross = _mm_srli_si128(c0, 12);
    hi = _mm_or_si128(hi, _mm_or_si128(_mm_slli_si128(c1, 4), cross));
    lo = _mm_or_si128(lo, _mm_slli_si128(c0, 4));
    /* reduce the low half into the high half */
    __m128i a = _mm_xor_si128(_mm_slli_epi32(lo, 31), _mm_xor_si128(_mm_slli_epi32(lo, 30), _mm_slli_epi32(lo, 25)));
    __m128i carry = _mm_srli_si128(a, 4);
    lo = _mm_xor_si128(lo, _mm_slli_si128(a, 12));
    __m128i b = _mm_xor_si128(_mm_srli_epi32(lo, 1), _mm_xor_si128(_mm_srli_epi32(lo, 2), _mm_srli_epi32(lo, 7)));
    b = _mm_xor_si128(b, carry);
    lo = _mm_xor_si128(lo, b);
    return _mm_xor_si128(hi, lo);
}

FAST_INLINE __m128i gh_mul(__m128i a, __m128i h)
{
    __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
    gh_acc(a, h, halfsum(h), &lo, &mid, &hi);
    return gh_reduce(lo, mid, hi);
}

FAST static void fast_powers(mbedtls_gcm_context *ctx)
{
    __m128i h = bswap128(_mm_loadu_si128((const __m128i *)ctx->h)), p = h;
    for (int i = 0; i < KEEL_GCM_POWERS; i++) {
        _mm_storeu_si128((__m128i *)ctx->htab[i], p);
        _mm_storeu_si128((__m128i *)ctx->hkar[i], halfsum(p));
        p = gh_mul(p, h);
    }
}

/* Fold N (1..8) byte-reversed blocks C into x: (x ^ C[0])·H^n ^ ... ^ C[n-1]·H. */
FAST_INLINE __m128i gh_blocks(const mbedtls_gcm_context *ctx, __m128i x, const __m128i *c, int n)
{
    __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
    KEEL_UNROLL8
    for (int j = 0; j < n; j++) {
        __m128i a = j == 0 ? _mm_xor_si128(c[0], x) : c[j];
        gh_acc(a, _mm_loadu_si128((const __m128i *)ctx->htab[n - 1 - j]),
               _mm_loadu_si128((const __m128i *)ctx->hkar[n - 1 - j]), &lo, &mid, &hi);
    }
    return gh_reduce(lo, mid, hi);
}

FAST static void fast_ghash(mbedtls_gcm_context *ctx, const unsigned char *data, size_t nblocks)
{
    __m128i x = _mm_loadu_si128((const __m128i *)ctx->x), c[KEEL_GCM_POWERS];
    while (nblocks) {
        int n = nblocks < KEEL_GCM_POWERS ? (int)nblocks : KEEL_GCM_POWERS;
        for (int j = 0; j < n; j++)
            c[j] = bswap128(_mm_loadu_si128((const __m128i *)(data + 16 * j)));
        x = gh_blocks(ctx, x, c, n);
        data += 16 * n;
        nblocks -= n;
    }
    _mm_storeu_si128((__m128i *)ctx->x, x);
}

/* N (1..8) blocks of CTR and GHASH.  Y0W is the counter block with its
 * last word zeroed, *ctr the last counter used (advanced by n).  The
 * input is read whole before the output is written (in place is fine). */
FAST_INLINE __m128i crypt_group(const mbedtls_gcm_context *ctx, __m128i x, __m128i y0w, uint32_t *ctr,
                                const unsigned char *in, unsigned char *out, int n)
{
    const __m128i *rk = (const __m128i *)(ctx->aes.buf + ctx->aes.rk_offset);
    const int nr = ctx->aes.nr;
    /* zeroed only for the compiler: blocks >= n are never read */
    __m128i b[KEEL_GCM_POWERS] = { 0 }, d[KEEL_GCM_POWERS] = { 0 }, k = _mm_loadu_si128(rk);
    KEEL_UNROLL8
    for (int j = 0; j < n; j++) {
        *ctr += 1;
        b[j] = _mm_xor_si128(_mm_insert_epi32(y0w, (int)__builtin_bswap32(*ctr), 3), k);
        d[j] = _mm_loadu_si128((const __m128i *)(in + 16 * j));
    }
    for (int r = 1; r < nr; r++) {
        k = _mm_loadu_si128(rk + r);
        KEEL_UNROLL8
        for (int j = 0; j < n; j++)
            b[j] = _mm_aesenc_si128(b[j], k);
    }
    k = _mm_loadu_si128(rk + nr);
    KEEL_UNROLL8
    for (int j = 0; j < n; j++) {
        b[j] = _mm_xor_si128(_mm_aesenclast_si128(b[j], k), d[j]);
        _mm_storeu_si128((__m128i *)(out + 16 * j), b[j]);
        d[j] = bswap128(ctx->mode == MBEDTLS_GCM_DECRYPT ? d[j] : b[j]);
    }
    return gh_blocks(ctx, x, d, n);
}

FAST static void fast_crypt(mbedtls_gcm_context *ctx, const unsigned char *in, unsigned char *out, size_t nblocks)
{
    __m128i x = _mm_loadu_si128((const __m128i *)ctx->x);
    __m128i y0w = _mm_insert_epi32(_mm_loadu_si128((const __m128i *)ctx->y), 0, 3);
    uint32_t ctr = get_be32(ctx->y + 12);
    for (; nblocks >= KEEL_GCM_POWERS; nblocks -= KEEL_GCM_POWERS) {
        x = crypt_group(ctx, x, y0w, &ctr, in, out, KEEL_GCM_POWERS);
        in += 16 * KEEL_GCM_POWERS;
        out += 16 * KEEL_GCM_POWERS;
    }
    if (nblocks)
        x = crypt_group(ctx, x, y0w, &ctr, in, out, (int)nblocks);
    put_be32(ctx->y + 12, ctr);
    _mm_storeu_si128((__m128i *)ctx->x, x);
}

/* ------------------------------------------------------------ common ---- */

/* GHASH N whole blocks of DATA (as bytes) into the state. */
static void ghash(mbedtls_gcm_context *ctx, const unsigned char *data, size_t nblocks)
{
    if (ctx->fast)
        fast_ghash(ctx, data, nblocks);
    else
        port_ghash(ctx, data, nblocks);
}

/* Fold the zero-padded partial block and clear it. */
static void fold_pend(mbedtls_gcm_context *ctx)
{
    ghash(ctx, ctx->pend, 1);
    memset(ctx->pend, 0, sizeof ctx->pend);
}

void mbedtls_gcm_init(mbedtls_gcm_context *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    mbedtls_aes_init(&ctx->aes);
}

int mbedtls_gcm_setkey(mbedtls_gcm_context *ctx, mbedtls_cipher_id_t cipher, const unsigned char *key,
                       unsigned int keybits)
{
    if (cipher != MBEDTLS_CIPHER_ID_AES || (keybits != 128 && keybits != 192 && keybits != 256))
        return MBEDTLS_ERR_GCM_BAD_INPUT;
    int ret = mbedtls_aes_setkey_enc(&ctx->aes, key, keybits);
    if (ret != 0)
        return ret;
    memset(ctx->h, 0, sizeof ctx->h);
    ret = mbedtls_aes_crypt_ecb(&ctx->aes, MBEDTLS_AES_ENCRYPT, ctx->h, ctx->h);
    if (ret != 0)
        return ret;
    ctx->fast = !keel_gcm_force_portable && cpu_has_fast();
    if (ctx->fast)
        fast_powers(ctx);
    return 0;
}

int mbedtls_gcm_starts(mbedtls_gcm_context *ctx, int mode, const unsigned char *iv, size_t iv_len)
{
    /* IV: not empty, at most 2^64 bits */
    if (iv_len == 0 || (uint64_t)iv_len >> 61 != 0)
        return MBEDTLS_ERR_GCM_BAD_INPUT;
    ctx->mode = mode;
    ctx->len = 0;
    ctx->add_len = 0;
    memset(ctx->x, 0, sizeof ctx->x);
    memset(ctx->pend, 0, sizeof ctx->pend);
    memset(ctx->y, 0, sizeof ctx->y);
    if (iv_len == 12) {
        memcpy(ctx->y, iv, 12);
        ctx->y[15] = 1;
    } else {
        /* Y0 = GHASH(IV padded || 0^64 || [len(IV) in bits]_64) */
        size_t whole = iv_len / 16, rest = iv_len % 16;
        ghash(ctx, iv, whole);
        if (rest) {
            memcpy(ctx->pend, iv + 16 * whole, rest);
            fold_pend(ctx);
        }
        put_be64(ctx->pend + 8, (uint64_t)iv_len * 8);
        fold_pend(ctx);
        if (ctx->fast) {
            /* x is byte-reversed: back to bytes */
            for (int i = 0; i < 16; i++)
                ctx->y[i] = ctx->x[15 - i];
        } else {
            memcpy(ctx->y, ctx->x, 16);
        }
        memset(ctx->x, 0, sizeof ctx->x);
    }
    return mbedtls_aes_crypt_ecb(&ctx->aes, MBEDTLS_AES_ENCRYPT, ctx->y, ctx->base_ectr);
}

int mbedtls_gcm_update_ad(mbedtls_gcm_context *ctx, const unsigned char *add, size_t add_len)
{
    /* AAD: at most 2^64 bits in all */
    uint64_t total = ctx->add_len + (uint64_t)add_len;
    if (total < ctx->add_len || total >> 61 != 0)
        return MBEDTLS_ERR_GCM_BAD_INPUT;
    size_t off = ctx->add_len % 16;
    ctx->add_len = total;
    if (off) {
        size_t use = 16 - off < add_len ? 16 - off : add_len;
        memcpy(ctx->pend + off, add, use);
        add += use;
        add_len -= use;
        if (off + use < 16)
            return 0;
        fold_pend(ctx);
    }
    ghash(ctx, add, add_len / 16);
    if (add_len % 16)
        memcpy(ctx->pend, add + add_len / 16 * 16, add_len % 16);
    return 0;
}

/* LEN (< 16 - off) bytes through the key stream block ectr from OFF on. */
static void mask_partial(mbedtls_gcm_context *ctx, size_t off, const unsigned char *in, unsigned char *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = in[i], o = c ^ ctx->ectr[off + i];
        ctx->pend[off + i] = ctx->mode == MBEDTLS_GCM_DECRYPT ? c : o;
        out[i] = o;
    }
}

int mbedtls_gcm_update(mbedtls_gcm_context *ctx, const unsigned char *input, size_t input_length, unsigned char *output,
                       size_t output_size, size_t *output_length)
{
    if (output_size < input_length)
        return MBEDTLS_ERR_GCM_BUFFER_TOO_SMALL;
    *output_length = input_length;
    if (input_length == 0)
        return 0;
    /* in place, or output entirely behind the input */
    if (output > input && (size_t)(output - input) < input_length)
        return MBEDTLS_ERR_GCM_BAD_INPUT;
    /* text: at most 2^39 - 256 bits */
    if (ctx->len + input_length < ctx->len || (uint64_t)ctx->len + input_length > 0xFFFFFFFE0ull)
        return MBEDTLS_ERR_GCM_BAD_INPUT;

    if (ctx->len == 0 && ctx->add_len % 16 != 0)
        fold_pend(ctx); /* the AAD's last, partial block */

    size_t off = ctx->len % 16;
    ctx->len += input_length;
    if (off) {
        size_t use = 16 - off < input_length ? 16 - off : input_length;
        mask_partial(ctx, off, input, output, use);
        input += use;
        output += use;
        input_length -= use;
        if (off + use < 16)
            return 0;
        fold_pend(ctx);
    }
    size_t whole = input_length / 16;
    if (whole) {
        if (ctx->fast) {
            fast_crypt(ctx, input, output, whole);
        } else {
            int ret = port_crypt(ctx, input, output, whole);
            if (ret != 0)
                return ret;
        }
        input += 16 * whole;
        output += 16 * whole;
        input_length -= 16 * whole;
    }
    if (input_length) {
        incr32(ctx->y);
        int ret = mbedtls_aes_crypt_ecb(&ctx->aes, MBEDTLS_AES_ENCRYPT, ctx->y, ctx->ectr);
        if (ret != 0)
            return ret;
        mask_partial(ctx, 0, input, output, input_length);
    }
    return 0;
}

int mbedtls_gcm_finish(mbedtls_gcm_context *ctx, unsigned char *output, size_t output_size, size_t *output_length,
                       unsigned char *tag, size_t tag_len)
{
    (void)output; /* all output left in update() */
    (void)output_size;
    *output_length = 0;
    if (tag_len > 16 || tag_len < 4)
        return MBEDTLS_ERR_GCM_BAD_INPUT;
    if ((ctx->len == 0 && ctx->add_len % 16 != 0) || ctx->len % 16 != 0)
        fold_pend(ctx);
    put_be64(ctx->pend, ctx->add_len * 8);
    put_be64(ctx->pend + 8, ctx->len * 8);
    fold_pend(ctx);
    for (size_t i = 0; i < tag_len; i++)
        tag[i] = ctx->base_ectr[i] ^ (ctx->fast ? ctx->x[15 - i] : ctx->x[i]);
    return 0;
}

int mbedtls_gcm_crypt_and_tag(mbedtls_gcm_context *ctx, int mode, size_t length, const unsigned char *iv, size_t iv_len,
                              const unsigned char *add, size_t add_len, const unsigned char *input,
                              unsigned char *output, size_t tag_len, unsigned char *tag)
{
    size_t olen;
    int ret = mbedtls_gcm_starts(ctx, mode, iv, iv_len);
    if (ret == 0)
        ret = mbedtls_gcm_update_ad(ctx, add, add_len);
    if (ret == 0)
        ret = mbedtls_gcm_update(ctx, input, length, output, length, &olen);
    if (ret == 0)
        ret = mbedtls_gcm_finish(ctx, NULL, 0, &olen, tag, tag_len);
    return ret;
}

int mbedtls_gcm_auth_decrypt(mbedtls_gcm_context *ctx, size_t length, const unsigned char *iv, size_t iv_len,
                             const unsigned char *add, size_t add_len, const unsigned char *tag, size_t tag_len,
                             const unsigned char *input, unsigned char *output)
{
    unsigned char check[16];
    int ret = mbedtls_gcm_crypt_and_tag(ctx, MBEDTLS_GCM_DECRYPT, length, iv, iv_len, add, add_len, input, output,
                                        tag_len, check);
    if (ret != 0)
        return ret;
    if (mbedtls_ct_memcmp(tag, check, tag_len) != 0) {
        mbedtls_platform_zeroize(output, length);
        return MBEDTLS_ERR_GCM_AUTH_FAILED;
    }
    return 0;
}

void mbedtls_gcm_free(mbedtls_gcm_context *ctx)
{
    if (ctx == NULL)
        return;
    mbedtls_aes_free(&ctx->aes);
    mbedtls_platform_zeroize(ctx, sizeof *ctx);
}

#endif /* MBEDTLS_GCM_ALT */
