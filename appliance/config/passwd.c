/*
 * passwd.c - SHA-256, HMAC-SHA256, PBKDF2-HMAC-SHA256 and the console
 * password hash's text form (see passwd.h).
 *
 * SHA-256 follows FIPS 180-4 section 6.2 word for word: the message
 * schedule W[0..63], eight working variables, the constants K of 4.2.2.
 * PBKDF2's inner loop hashes the HMAC key's ipad and opad blocks once and
 * clones those two states for every iteration (RFC 2104 section 4 notes
 * this), so an iteration costs two compressions.
 *
 * Secrets (password-derived keys, HMAC states, U and T blocks) are wiped
 * with a volatile store loop before the functions return, so the compiler
 * cannot drop the wipe as a dead store.
 */
#include "passwd.h"

#include <keel/string.h>

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

static inline uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* FIPS 180-4 6.2.2: one 64-byte block into the state. */
static void sha256_compress(uint32_t h[8], const uint8_t block[SHA256_BLOCK_LEN])
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(block + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[t] + w[t];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
    wipe(w, sizeof w);
}

void sha256_init(struct sha256_ctx *c)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->h, iv, sizeof iv);
    c->bytes = 0;
    c->used = 0;
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->bytes += len;
    while (len) {
        size_t n = SHA256_BLOCK_LEN - c->used;
        if (n > len)
            n = len;
        memcpy(c->block + c->used, p, n);
        c->used += n;
        p += n;
        len -= n;
        if (c->used == SHA256_BLOCK_LEN) {
            sha256_compress(c->h, c->block);
            c->used = 0;
        }
    }
}

void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
    uint64_t bits = c->bytes * 8;
    uint8_t pad = 0x80;
    sha256_update(c, &pad, 1);
    pad = 0;
    while (c->used != SHA256_BLOCK_LEN - 8)
        sha256_update(c, &pad, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, len, 8);
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, c->h[i]);
    wipe(c, sizeof *c);
}

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_final(&c, out);
}

/* HMAC key schedule: the states after hashing K^ipad and K^opad. */
struct hmac_state {
    struct sha256_ctx inner, outer;
};

static void hmac_setup(struct hmac_state *s, const void *key, size_t keylen)
{
    uint8_t k[SHA256_BLOCK_LEN] = { 0 };
    if (keylen > SHA256_BLOCK_LEN)
        sha256(key, keylen, k);
    else if (keylen)
        memcpy(k, key, keylen);
    uint8_t pad[SHA256_BLOCK_LEN];
    for (size_t i = 0; i < SHA256_BLOCK_LEN; i++)
        pad[i] = k[i] ^ 0x36;
    sha256_init(&s->inner);
    sha256_update(&s->inner, pad, sizeof pad);
    for (size_t i = 0; i < SHA256_BLOCK_LEN; i++)
        pad[i] = k[i] ^ 0x5c;
    sha256_init(&s->outer);
    sha256_update(&s->outer, pad, sizeof pad);
    wipe(k, sizeof k);
    wipe(pad, sizeof pad);
}

/* HMAC of MSG with the key of S (S is not changed). */
static void hmac_run(const struct hmac_state *s, const void *msg, size_t msglen, const void *msg2, size_t msg2len,
                     uint8_t out[SHA256_LEN])
{
    struct sha256_ctx c = s->inner;
    uint8_t ih[SHA256_LEN];
    sha256_update(&c, msg, msglen);
    if (msg2len)
        sha256_update(&c, msg2, msg2len);
    sha256_final(&c, ih);
    c = s->outer;
    sha256_update(&c, ih, sizeof ih);
    sha256_final(&c, out);
    wipe(ih, sizeof ih);
}

void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen, uint8_t out[SHA256_LEN])
{
    struct hmac_state s;
    hmac_setup(&s, key, keylen);
    hmac_run(&s, msg, msglen, NULL, 0, out);
    wipe(&s, sizeof s);
}

void pbkdf2_hmac_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen, uint32_t iter, uint8_t *out,
                        size_t dklen)
{
    struct hmac_state s;
    hmac_setup(&s, pw, pwlen);
    for (uint32_t block = 1; dklen; block++) {
        uint8_t idx[4], u[SHA256_LEN], t[SHA256_LEN];
        store_be32(idx, block);
        hmac_run(&s, salt, saltlen, idx, sizeof idx, u); /* U1 = PRF(P, S || INT(i)) */
        memcpy(t, u, sizeof t);
        for (uint32_t j = 1; j < iter; j++) { /* Uj = PRF(P, Uj-1); T ^= Uj */
            hmac_run(&s, u, sizeof u, NULL, 0, u);
            for (size_t b = 0; b < SHA256_LEN; b++)
                t[b] ^= u[b];
        }
        size_t n = dklen < SHA256_LEN ? dklen : SHA256_LEN;
        memcpy(out, t, n);
        out += n;
        dklen -= n;
        wipe(u, sizeof u);
        wipe(t, sizeof t);
    }
    wipe(&s, sizeof s);
}

/* ---------------------------------------------------------------- base64 -- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int passwd_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (!out || cap < need + 1)
        return PASSWD_E_SPACE;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        for (size_t k = 0; k < chars; k++)
            out[o++] = b64[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = '\0';
    return (int)o;
}

int passwd_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 == 1)
        return PASSWD_E_FORMAT; /* no byte count gives this length */
    size_t bytes = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (bytes > cap)
        return PASSWD_E_SPACE;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return PASSWD_E_FORMAT;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero: one spelling per value */
        return PASSWD_E_FORMAT;
    return (int)o;
}

/* ------------------------------------------------------------ text form -- */

int passwd_parse(const char *s, size_t len, struct passwd_hash *out)
{
    const size_t plen = sizeof PASSWD_PREFIX - 1;
    if (!s || !out)
        return PASSWD_E_INVAL;
    if (len < plen || memcmp(s, PASSWD_PREFIX, plen) != 0)
        return PASSWD_E_FORMAT;
    size_t i = plen, start = i;
    uint64_t iter = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 9)
        iter = iter * 10 + (uint64_t)(s[i++] - '0');
    if (i == start || i >= len || s[i] != '$' || s[start] == '0')
        return PASSWD_E_FORMAT;
    if (iter < PASSWD_ITER_MIN || iter > PASSWD_ITER_MAX)
        return PASSWD_E_ITER;
    start = ++i;
    while (i < len && s[i] != '$')
        i++;
    if (i >= len)
        return PASSWD_E_FORMAT;
    uint8_t salt[PASSWD_SALT_MAX + 3];
    int n = passwd_b64_decode(s + start, i - start, salt, sizeof salt);
    if (n == PASSWD_E_SPACE)
        return PASSWD_E_SALT;
    if (n < 0)
        return PASSWD_E_FORMAT;
    if ((size_t)n < PASSWD_SALT_MIN || (size_t)n > PASSWD_SALT_MAX)
        return PASSWD_E_SALT;
    start = ++i;
    uint8_t dk[PASSWD_DK_LEN + 3];
    int m = passwd_b64_decode(s + start, len - start, dk, sizeof dk);
    if (m != (int)PASSWD_DK_LEN)
        return PASSWD_E_FORMAT;
    out->iterations = (uint32_t)iter;
    out->salt_len = (size_t)n;
    memcpy(out->salt, salt, (size_t)n);
    memcpy(out->dk, dk, PASSWD_DK_LEN);
    return PASSWD_OK;
}

const char *passwd_strerror(int err)
{
    switch (err) {
    case PASSWD_OK: return "no error";
    case PASSWD_E_ITER: return "expected an iteration count from 1000 to 10000000 in the password hash";
    case PASSWD_E_SALT: return "expected a salt of 8 to 32 bytes in the password hash";
    case PASSWD_E_SPACE: return "expected a bigger buffer";
    case PASSWD_E_INVAL: return "expected arguments";
    default: return "expected a hash made by tools/keel-passwd ($pbkdf2-sha256$ITERATIONS$SALT$HASH)";
    }
}

int passwd_make(const char *pw, size_t pwlen, const uint8_t *salt, size_t saltlen, uint32_t iter, char *out, size_t cap)
{
    if ((!pw && pwlen) || !salt || !out)
        return PASSWD_E_INVAL;
    if (iter < PASSWD_ITER_MIN || iter > PASSWD_ITER_MAX)
        return PASSWD_E_ITER;
    if (saltlen < PASSWD_SALT_MIN || saltlen > PASSWD_SALT_MAX)
        return PASSWD_E_SALT;
    char text[PASSWD_TEXT_MAX];
    size_t n = sizeof PASSWD_PREFIX - 1;
    memcpy(text, PASSWD_PREFIX, n);
    char digits[10];
    size_t d = 0;
    for (uint32_t v = iter; v; v /= 10)
        digits[d++] = (char)('0' + v % 10);
    while (d)
        text[n++] = digits[--d];
    text[n++] = '$';
    int k = passwd_b64_encode(salt, saltlen, text + n, sizeof text - n);
    if (k < 0)
        return k;
    n += (size_t)k;
    text[n++] = '$';
    uint8_t dk[PASSWD_DK_LEN];
    pbkdf2_hmac_sha256(pw, pwlen, salt, saltlen, iter, dk, sizeof dk);
    k = passwd_b64_encode(dk, sizeof dk, text + n, sizeof text - n);
    wipe(dk, sizeof dk);
    if (k < 0)
        return k;
    n += (size_t)k;
    if (n + 1 > cap)
        return PASSWD_E_SPACE;
    memcpy(out, text, n + 1);
    return (int)n;
}

int passwd_verify(const char *hash, size_t hashlen, const char *pw, size_t pwlen)
{
    struct passwd_hash h;
    if (!hash || (!pw && pwlen))
        return PASSWD_E_INVAL;
    int err = passwd_parse(hash, hashlen, &h);
    if (err)
        return err;
    uint8_t dk[PASSWD_DK_LEN];
    pbkdf2_hmac_sha256(pw, pwlen, h.salt, h.salt_len, h.iterations, dk, sizeof dk);
    uint8_t diff = 0;
    for (size_t i = 0; i < PASSWD_DK_LEN; i++)
        diff |= dk[i] ^ h.dk[i];
    wipe(dk, sizeof dk);
    wipe(&h, sizeof h);
    return diff == 0;
}
