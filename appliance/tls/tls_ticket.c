/*
 * tls_ticket.c - sealed session tickets with scheduled key rotation.  The
 * format, the rotation rule and the clock are described in tls_ticket.h.
 */
#include <string.h>

#include "mbedtls/platform_util.h"

#include "tls_ticket.h"

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Fills slot K with a fresh key made at NOW; the other slot's name is
 * never reused, so a name finds one key. */
static int make_key(struct tls_tickets *t, unsigned k, uint64_t now)
{
    struct tls_ticket_key *key = &t->keys[k], *other = &t->keys[k ^ 1];
    uint8_t material[32], name[TLS_TICKET_NAME_LEN];
    do {
        if (t->f_rng(t->p_rng, name, sizeof name) != 0)
            return TLS_TICKET_E_RANDOM;
    } while (other->live && memcmp(name, other->name, sizeof name) == 0);
    if (t->f_rng(t->p_rng, material, sizeof material) != 0)
        return TLS_TICKET_E_RANDOM;
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    int r = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, material, 8 * sizeof material);
    mbedtls_platform_zeroize(material, sizeof material);
    if (r != 0) {
        mbedtls_gcm_free(&gcm);
        return TLS_TICKET_E_CIPHER;
    }
    /* point of no return: replace the slot */
    if (key->live)
        mbedtls_gcm_free(&key->gcm);
    key->gcm = gcm;
    memcpy(key->name, name, sizeof name);
    key->created = now;
    key->live = true;
    return TLS_TICKET_OK;
}

int tls_ticket_setup(struct tls_tickets *t, int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                     uint32_t rotate_s, uint32_t lifetime_s, uint64_t now)
{
    if (!t)
        return TLS_TICKET_E_INVAL;
    memset(t, 0, sizeof *t);
    if (!f_rng || rotate_s == 0 || lifetime_s == 0 || lifetime_s > rotate_s)
        return TLS_TICKET_E_INVAL;
    t->f_rng = f_rng;
    t->p_rng = p_rng;
    t->rotate_s = rotate_s;
    t->lifetime_s = lifetime_s;
    t->now = now;
    t->active = 0;
    return make_key(t, 0, now);
}

static int tick_locked(struct tls_tickets *t, uint64_t now)
{
    if (now > t->now)
        t->now = now;
    const struct tls_ticket_key *a = &t->keys[t->active];
    if (a->live && t->now < a->created + t->rotate_s)
        return 0;
    unsigned next = t->active ^ 1;
    int r = make_key(t, next, t->now);
    if (r != TLS_TICKET_OK)
        return r;
    t->active = next;
    t->stats.rotations++;
    return 1;
}

int tls_ticket_tick(struct tls_tickets *t, uint64_t now)
{
    tls_lock_take(&t->lock);
    int r = tick_locked(t, now);
    tls_lock_give(&t->lock);
    return r;
}

static int write_locked(void *ctx, const mbedtls_ssl_session *session, unsigned char *start, const unsigned char *end,
                        size_t *tlen, uint32_t *lifetime)
{
    struct tls_tickets *t = ctx;
    struct tls_ticket_key *key = &t->keys[t->active];
    *tlen = 0;
    if (!key->live || end < start || (size_t)(end - start) < TLS_TICKET_OVERHEAD)
        return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
    size_t room = (size_t)(end - start) - TLS_TICKET_OVERHEAD;
    uint8_t *iv = start + TLS_TICKET_NAME_LEN, *lenp = iv + TLS_TICKET_IV_LEN;
    uint8_t *plain = start + TLS_TICKET_HDR_LEN;
    size_t slen = 0;
    int r = mbedtls_ssl_session_save(session, plain + 8, room, &slen);
    if (r != 0)
        return r;
    size_t plen = 8 + slen;
    if (plen > 0xffff)
        return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
    memcpy(start, key->name, TLS_TICKET_NAME_LEN);
    if (t->f_rng(t->p_rng, iv, TLS_TICKET_IV_LEN) != 0) {
        mbedtls_platform_zeroize(plain, plen);
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    }
    put16(lenp, plen);
    put64(plain, t->now);
    r = mbedtls_gcm_crypt_and_tag(&key->gcm, MBEDTLS_GCM_ENCRYPT, plen, iv, TLS_TICKET_IV_LEN, start,
                                  TLS_TICKET_HDR_LEN, plain, plain, TLS_TICKET_TAG_LEN, plain + plen);
    if (r != 0) {
        mbedtls_platform_zeroize(plain, plen);
        return r;
    }
    *tlen = TLS_TICKET_HDR_LEN + plen + TLS_TICKET_TAG_LEN;
    *lifetime = t->lifetime_s;
    t->stats.issued++;
    return 0;
}

int tls_ticket_write(void *ctx, const mbedtls_ssl_session *session, unsigned char *start, const unsigned char *end,
                     size_t *tlen, uint32_t *lifetime)
{
    struct tls_tickets *t = ctx;
    tls_lock_take(&t->lock);
    int r = write_locked(ctx, session, start, end, tlen, lifetime);
    tls_lock_give(&t->lock);
    return r;
}

static int parse_locked(void *ctx, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
    struct tls_tickets *t = ctx;
    if (len < TLS_TICKET_OVERHEAD) {
        t->stats.refused_malformed++;
        return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    }
    size_t plen =
        ((size_t)buf[TLS_TICKET_NAME_LEN + TLS_TICKET_IV_LEN] << 8) | buf[TLS_TICKET_NAME_LEN + TLS_TICKET_IV_LEN + 1];
    if (plen < 8 || plen != len - TLS_TICKET_HDR_LEN - TLS_TICKET_TAG_LEN) {
        t->stats.refused_malformed++;
        return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    }
    struct tls_ticket_key *key = NULL;
    for (unsigned i = 0; i < 2; i++)
        if (t->keys[i].live && memcmp(t->keys[i].name, buf, TLS_TICKET_NAME_LEN) == 0)
            key = &t->keys[i];
    if (!key) {
        t->stats.refused_unknown_key++;
        return MBEDTLS_ERR_SSL_INVALID_MAC; /* mbedTLS: not authentic, do a full handshake */
    }
    uint8_t *iv = buf + TLS_TICKET_NAME_LEN, *plain = buf + TLS_TICKET_HDR_LEN;
    int r = mbedtls_gcm_auth_decrypt(&key->gcm, plen, iv, TLS_TICKET_IV_LEN, buf, TLS_TICKET_HDR_LEN, plain + plen,
                                     TLS_TICKET_TAG_LEN, plain, plain);
    if (r != 0) {
        t->stats.refused_auth++;
        return MBEDTLS_ERR_SSL_INVALID_MAC;
    }
    uint64_t issued = get64(plain);
    if (issued > t->now || t->now - issued > t->lifetime_s) {
        mbedtls_platform_zeroize(plain, plen);
        t->stats.refused_expired++;
        return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
    }
    r = mbedtls_ssl_session_load(session, plain + 8, plen - 8);
    mbedtls_platform_zeroize(plain, plen);
    if (r != 0) {
        t->stats.refused_malformed++;
        return r;
    }
    t->stats.accepted++;
    return 0;
}

int tls_ticket_parse(void *ctx, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
    struct tls_tickets *t = ctx;
    tls_lock_take(&t->lock);
    int r = parse_locked(ctx, session, buf, len);
    tls_lock_give(&t->lock);
    return r;
}

void tls_ticket_free(struct tls_tickets *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < 2; i++)
        if (t->keys[i].live)
            mbedtls_gcm_free(&t->keys[i].gcm);
    mbedtls_platform_zeroize(t, sizeof *t);
}
