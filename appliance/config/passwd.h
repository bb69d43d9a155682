/*
 * passwd.h - the console password hash: PBKDF2-HMAC-SHA256 (RFC 8018
 * section 5.2, HMAC from RFC 2104, SHA-256 from FIPS 180-4), and the text
 * form `console password-hash` takes in appliance.conf:
 *
 *   $pbkdf2-sha256$ITERATIONS$SALT$HASH
 *
 * ITERATIONS in decimal (PASSWD_ITER_MIN..PASSWD_ITER_MAX, no leading
 * zero); SALT (PASSWD_SALT_MIN..PASSWD_SALT_MAX bytes) and HASH (the 32-byte
 * derived key) in base64 with the standard alphabet (RFC 4648 section 4)
 * and no '=' padding; a string must be canonical (unused trailing bits
 * zero), so one hash has one spelling.  tools/keel-passwd writes it (with
 * a 16-byte random salt and PASSWD_ITER_DEFAULT iterations) and
 * tests/unit/test_passwd.c checks both against Python's hashlib.
 *
 * Pure code, no allocation, no globals; builds for the guest (consoled,
 * the configuration parser) and the host.  The derived keys and HMAC
 * states on the stack are wiped before returning.
 *
 * Cost: one iteration is two SHA-256 compressions (the HMAC pads are
 * hashed once); PASSWD_ITER_DEFAULT takes about 0.1 s natively and a few
 * seconds under QEMU's TCG, which is the point: a slow hash per guess.
 */
#ifndef KEEL_APPLIANCE_PASSWD_H
#define KEEL_APPLIANCE_PASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PASSWD_PREFIX       "$pbkdf2-sha256$"
#define PASSWD_ITER_MIN     1000u
#define PASSWD_ITER_MAX     10000000u
#define PASSWD_ITER_DEFAULT 100000u
#define PASSWD_SALT_MIN     8u
#define PASSWD_SALT_MAX     32u
#define PASSWD_SALT_DEFAULT 16u
#define PASSWD_DK_LEN       32u  /* the HASH field: one SHA-256 block of output */
#define PASSWD_TEXT_MAX     128u /* the longest text form, with the NUL (fits CONF_HASH_MAX) */

#define SHA256_LEN       32u
#define SHA256_BLOCK_LEN 64u

/* Errors (negative). */
enum passwd_error {
    PASSWD_OK = 0,
    PASSWD_E_FORMAT = -1, /* not $pbkdf2-sha256$ITER$SALT$HASH */
    PASSWD_E_ITER = -2,   /* iterations outside PASSWD_ITER_MIN..MAX */
    PASSWD_E_SALT = -3,   /* salt length outside PASSWD_SALT_MIN..MAX */
    PASSWD_E_SPACE = -4,  /* the output buffer is too small */
    PASSWD_E_INVAL = -5,  /* a NULL argument */
};

struct sha256_ctx {
    uint32_t h[8];
    uint64_t bytes; /* message length so far */
    uint8_t block[SHA256_BLOCK_LEN];
    size_t used; /* bytes in block, < SHA256_BLOCK_LEN */
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Writes the digest and wipes the context. */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* HMAC-SHA256 (RFC 2104 / RFC 4231). */
void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen, uint8_t out[SHA256_LEN]);

/* PBKDF2 with HMAC-SHA256 (RFC 8018 5.2): DKLEN bytes into OUT.  ITER >= 1,
 * DKLEN >= 1 (any length; blocks of 32 bytes). */
void pbkdf2_hmac_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen, uint32_t iter, uint8_t *out,
                        size_t dklen);

/* Base64, standard alphabet, no padding.  Encode: writes 4*ceil(n/3)
 * minus the padding characters plus a NUL; returns the length or
 * PASSWD_E_SPACE.  Decode: only canonical text (see above); returns the
 * byte count or PASSWD_E_FORMAT / PASSWD_E_SPACE. */
int passwd_b64_encode(const uint8_t *in, size_t n, char *out, size_t cap) __attribute__((warn_unused_result));
int passwd_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap) __attribute__((warn_unused_result));

/* A parsed hash string. */
struct passwd_hash {
    uint32_t iterations;
    size_t salt_len;
    uint8_t salt[PASSWD_SALT_MAX];
    uint8_t dk[PASSWD_DK_LEN];
};

/* Parses the text form (LEN bytes).  Returns PASSWD_OK or an error. */
int passwd_parse(const char *s, size_t len, struct passwd_hash *out) __attribute__((warn_unused_result));

/* A one-line description of a passwd_error, "expected ..." style. */
const char *passwd_strerror(int err);

/*
 * Hashes PW with SALT and ITER into the text form in OUT (CAP bytes, NUL
 * included; PASSWD_TEXT_MAX is always enough).  Returns the text's length,
 * or PASSWD_E_ITER / PASSWD_E_SALT / PASSWD_E_SPACE / PASSWD_E_INVAL.
 */
int passwd_make(const char *pw, size_t pwlen, const uint8_t *salt, size_t saltlen, uint32_t iter, char *out, size_t cap)
    __attribute__((warn_unused_result));

/*
 * Checks PW against the text form HASH.  Returns 1 (match), 0 (no match)
 * or a negative passwd_error (HASH malformed: never a match).  The final
 * comparison takes the same time wherever the keys differ.
 */
int passwd_verify(const char *hash, size_t hashlen, const char *pw, size_t pwlen) __attribute__((warn_unused_result));

#endif
