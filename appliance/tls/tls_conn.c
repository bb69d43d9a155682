/*
 * tls_conn.c - the TLS engine: listener configuration, certificate
 * selection by SNI, asynchronous signing, and the per-connection state
 * machine over mbedTLS.  The contract is in tls_conn.h.
 *
 * How the pieces meet mbedTLS:
 *   - the transport is mbedTLS's BIO (bio_send/bio_recv), translating
 *     TLS_IO_AGAIN into WANT_READ/WANT_WRITE; bio_recv also keeps the first
 *     128 bytes of the stream (record header, handshake header, the
 *     ClientHello's version and the start of its suites), which is how a
 *     failed ClientHello is told apart from a client that does not speak
 *     TLS at all, and a TLS 1.3-only client from one with no suite in
 *     common;
 *   - SNI is mbedTLS's f_sni (sni_cb): it installs the selected
 *     certificates for this handshake; without SNI, or with no match, the
 *     configuration's own certificates (the defaults) serve;
 *   - TLS 1.2 signing is mbedTLS's async private-key interface (async_*):
 *     it hands the hash to the signer and returns "in progress" until poll
 *     has the signature; TLS 1.3 signs with the certificate's opaque key
 *     (tls_psa.h), synchronously;
 *   - memory: every call into mbedTLS for a connection runs between
 *     tls_mem_enter(&c->mem) and tls_mem_leave, so the connection's limit
 *     applies to everything mbedTLS allocates for it.
 * Every public function is non-blocking, except that a TLS 1.3 handshake
 * waits for its one signature (tls_psa.h says why); a connection's fields
 * are only touched by calls on that connection (and by the callbacks they
 * cause).
 */
/* The engine reads a few of mbedTLS's private fields (out_left, the
 * handshake's resume flag, key_cert; for parking, the record buffers and
 * the pointers into them) and calls mbedtls_ssl_flush_output
 * (library/ssl_misc.h): the same pinned version is always built with it. */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include <stddef.h>
#include <string.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h" /* MBEDTLS_ERR_NET_*: constants only */
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "ssl_misc.h" /* mbedtls_ssl_flush_output, handshake->resume */

#include "tls_conn.h"

/* The statistics are a listener's, and the connections of one listener may
 * run on several threads (tlsd's workers): every count is an atomic add,
 * so the totals are the sums over the threads without a lock. */
#define STAT_ADD(field, n) ((void)__atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED))
#include "tls_pk.h"
#include "tls_psa.h"

/* The server's preferences (mbedTLS keeps pointers to these lists): TLS
 * 1.3's suites first, then TLS 1.2's. */
static const int SUITES[] = {
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};
static const uint16_t GROUPS[] = {
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};
/* Signature algorithms, both versions in one list (TLS 1.2's hash/signature
 * pairs and TLS 1.3's schemes share code points): ECDSA with SHA-256/384/512,
 * RSA-PSS (TLS 1.3) and RSA PKCS#1 v1.5 (TLS 1.2) with the same hashes. */
static const uint16_t SIG_ALGS[] = {
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256, MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384,
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP521R1_SHA512, MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA256,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA384,    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA512,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256,       MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512,       MBEDTLS_TLS1_3_SIG_NONE,
};

static struct tls_conn *conn_of(mbedtls_ssl_context *ssl)
{
    return (struct tls_conn *)((char *)ssl - offsetof(struct tls_conn, ssl));
}

static void set_err(char *err, size_t errlen, const char *what, int mbed)
{
    if (!err || !errlen)
        return;
    if (mbed) {
        char detail[96];
        mbedtls_strerror(mbed, detail, sizeof detail);
        snprintf(err, errlen, "%s: %s (-0x%04x)", what, detail, (unsigned)-mbed);
    } else {
        snprintf(err, errlen, "%s", what);
    }
}

const char *tls_reason_str(enum tls_reason r)
{
    switch (r) {
    case TLS_R_NONE: return "none";
    case TLS_R_NOT_TLS: return "not TLS";
    case TLS_R_BAD_HELLO: return "bad ClientHello";
    case TLS_R_VERSION: return "no common version";
    case TLS_R_NO_SUITE: return "no cipher suite in common";
    case TLS_R_BAD_RECORD: return "bad record";
    case TLS_R_PEER_ALERT: return "alert from the peer";
    case TLS_R_EOF: return "peer closed during the handshake";
    case TLS_R_SIGN: return "signature failed";
    case TLS_R_MEMORY: return "connection memory limit";
    case TLS_R_RANDOM: return "no random numbers";
    case TLS_R_IO: return "transport failed";
    case TLS_R_TIMEOUT: return "timeout";
    case TLS_R_ABORTED: return "aborted";
    case TLS_R_PROTOCOL: return "protocol error";
    case TLS_R_COUNT: break;
    }
    return "?";
}

/* ------------------------------------------------- failure reasons ---- */

/* Do the first bytes look like a TLS record (type handshake..application,
 * version 3.x)?  With fewer than two bytes we cannot tell: yes. */
static bool looks_like_tls(const struct tls_conn *c)
{
    if (c->first_len >= 1 && (c->first[0] < 20 || c->first[0] > 23))
        return false;
    if (c->first_len >= 2 && c->first[1] != 3)
        return false;
    return true;
}

/* Does the ClientHello in c->first offer TLS 1.3 suites only (as a
 * TLS 1.3-only client does)?  Judged on the suites captured; false when
 * the hello is not there to read. */
static bool hello_offers_only_tls13(const struct tls_conn *c)
{
    const uint8_t *h = c->first;
    size_t n = c->first_len, at = 43; /* record 5 + handshake 4 + version 2 + random 32 */
    if (n <= at || h[0] != MBEDTLS_SSL_MSG_HANDSHAKE || h[5] != MBEDTLS_SSL_HS_CLIENT_HELLO)
        return false;
    at += 1 + (size_t)h[at]; /* session id */
    if (at + 2 > n)
        return false;
    size_t len = (size_t)h[at] << 8 | h[at + 1];
    at += 2;
    bool any = false;
    for (size_t i = 0; i + 1 < len && at + i + 1 < n; i += 2) {
        uint16_t s = (uint16_t)(h[at + i] << 8 | h[at + i + 1]);
        if (s == 0x00ff) /* TLS_EMPTY_RENEGOTIATION_INFO_SCSV: not a suite */
            continue;
        if ((s >> 8) != 0x13)
            return false;
        any = true;
    }
    return any;
}

static enum tls_reason classify(const struct tls_conn *c, int err)
{
    if (c->io_failed)
        return TLS_R_IO;
    if (c->sign_failed)
        return TLS_R_SIGN;
    if (c->mem.denied)
        return TLS_R_MEMORY;
    if (!looks_like_tls(c))
        return TLS_R_NOT_TLS;
    /* A first record longer than any TLS record can be is a bad record,
     * whatever mbedTLS calls it. */
    if (c->ssl.state == MBEDTLS_SSL_CLIENT_HELLO && c->first_len >= 5 && c->first[0] == MBEDTLS_SSL_MSG_HANDSHAKE &&
        ((size_t)c->first[3] << 8 | c->first[4]) > MBEDTLS_SSL_IN_CONTENT_LEN)
        return TLS_R_BAD_RECORD;
    switch (err) {
    case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION: return TLS_R_VERSION;
    case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE: /* no suite, group or certificate in common */
        /* A TLS 1.2-only listener reads a TLS 1.3-only hello as TLS 1.2
         * with no suite it knows: that is a version mismatch. */
        if (!(c->srv->versions & TLS_V13) && hello_offers_only_tls13(c))
            return TLS_R_VERSION;
        return TLS_R_NO_SUITE;
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: return TLS_R_PEER_ALERT;
    case MBEDTLS_ERR_SSL_CONN_EOF:
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY: return TLS_R_EOF;
    case MBEDTLS_ERR_SSL_ALLOC_FAILED: return TLS_R_MEMORY;
    case MBEDTLS_ERR_SSL_INVALID_RECORD:
    case MBEDTLS_ERR_SSL_INVALID_MAC: return TLS_R_BAD_RECORD;
    case MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED:
    case MBEDTLS_ERR_ECP_RANDOM_FAILED: return TLS_R_RANDOM;
    case MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL: return TLS_R_BAD_HELLO;
    case MBEDTLS_ERR_SSL_DECODE_ERROR:
    case MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER:
    case MBEDTLS_ERR_SSL_UNSUPPORTED_EXTENSION:
        return c->ssl.state == MBEDTLS_SSL_CLIENT_HELLO ? TLS_R_BAD_HELLO : TLS_R_PROTOCOL;
    }
    return TLS_R_PROTOCOL;
}

/* Enters FAILED (once) and counts it.  Returns TLS_E_FAILED. */
static int fail(struct tls_conn *c, int err)
{
    if (c->state != TLS_CS_FAILED) {
        c->state = TLS_CS_FAILED;
        c->mbedtls_err = err;
        c->reason = classify(c, err);
        STAT_ADD(c->srv->stats.failed[c->reason], 1);
    }
    return TLS_E_FAILED;
}

/* mbedTLS's "not yet" codes to ours; anything else fails the connection. */
static int status_of(struct tls_conn *c, int r)
{
    switch (r) {
    case MBEDTLS_ERR_SSL_WANT_READ: return TLS_WANT_READ;
    case MBEDTLS_ERR_SSL_WANT_WRITE: return TLS_WANT_WRITE;
    case MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS: return TLS_WANT_SIGN;
    }
    return fail(c, r);
}

static void maybe_closed(struct tls_conn *c)
{
    if (c->state == TLS_CS_OPEN && c->rd_closed && c->wr_closed && c->ssl.out_left == 0)
        c->state = TLS_CS_CLOSED;
}

/* ------------------------------------------------------------- BIO ---- */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct tls_conn *c = ctx;
    int r = c->io->send(c->io_ctx, buf, len);
    if (r > 0)
        return r;
    if (r == TLS_IO_AGAIN)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    c->io_failed = true;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct tls_conn *c = ctx;
    int r = c->io->recv(c->io_ctx, buf, len);
    if (r > 0) {
        size_t n = (size_t)r;
        for (size_t i = 0; i < n && c->first_len < sizeof c->first; i++)
            c->first[c->first_len++] = buf[i];
        return r;
    }
    if (r == 0)
        return 0; /* end of stream: mbedTLS says MBEDTLS_ERR_SSL_CONN_EOF */
    if (r == TLS_IO_AGAIN)
        return MBEDTLS_ERR_SSL_WANT_READ;
    c->io_failed = true;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* ------------------------------------------------------------- SNI ---- */

static int sni_cb(void *p, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
    struct tls_server *s = p;
    struct tls_conn *c = conn_of(ssl);
    uint32_t mask = 0;
    c->sni_kind = tls_sni_select(s->names, s->n_names, name, len, &mask);
    /* Keep the name for logs when it is a plain DNS name. */
    size_t keep = len <= TLS_SNI_NAME_MAX ? len : 0;
    for (size_t i = 0; i < keep; i++) {
        unsigned char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '.'))
            keep = 0;
    }
    memcpy(c->sni, name, keep);
    c->sni[keep] = 0;
    for (unsigned i = 0; i < s->n_certs; i++) {
        if (!(mask & (1u << i)))
            continue;
        int r = mbedtls_ssl_set_hs_own_cert(ssl, &s->certs[i].chain, &s->certs[i].key);
        if (r != 0)
            return r;
    }
    return 0; /* nothing installed: the defaults (mbedtls_ssl_conf_own_cert) serve */
}

/* -------------------------------------------------------- signing ---- */

static int async_sign_start(mbedtls_ssl_context *ssl, mbedtls_x509_crt *cert, mbedtls_md_type_t md,
                            const unsigned char *hash, size_t hash_len)
{
    struct tls_conn *c = conn_of(ssl);
    struct tls_server *s = c->srv;
    int idx = -1;
    for (unsigned i = 0; i < s->n_certs; i++)
        if (&s->certs[i].chain == cert)
            idx = (int)i;
    if (idx < 0 || !s->signer.start) {
        c->sign_failed = true;
        return MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE;
    }
    if (hash_len > sizeof c->defer_hash) {
        c->sign_failed = true;
        return MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE;
    }
    /* The signer's own memory is not the connection's. */
    struct tls_mem_account *prev = tls_mem_enter(NULL);
    int r = s->signer.start(s->signer.ctx, c, s->certs[idx].key_id, md, hash, hash_len);
    tls_mem_leave(prev);
    if (r == TLS_WANT_SIGN) { /* the signer is full: keep the request, start it later */
        c->sign_deferred = true;
        c->defer_md = (uint8_t)md;
        c->defer_len = (uint8_t)hash_len;
        c->defer_key = s->certs[idx].key_id;
        memcpy(c->defer_hash, hash, hash_len);
    } else if (r != TLS_OK) {
        c->sign_failed = true;
        return MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE;
    }
    c->sign_pending = true;
    c->signed_cert = idx;
    return MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS;
}

static int async_resume(mbedtls_ssl_context *ssl, unsigned char *out, size_t *out_len, size_t out_size)
{
    struct tls_conn *c = conn_of(ssl);
    struct tls_server *s = c->srv;
    struct tls_mem_account *prev = tls_mem_enter(NULL);
    int r;
    if (c->sign_deferred) { /* start it now, if the signer has room */
        r = s->signer.start(s->signer.ctx, c, c->defer_key, (mbedtls_md_type_t)c->defer_md, c->defer_hash,
                            c->defer_len);
        if (r == TLS_OK)
            c->sign_deferred = false;
        if (r == TLS_OK || r == TLS_WANT_SIGN) {
            tls_mem_leave(prev);
            return MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS;
        }
        c->sign_deferred = false;
    } else {
        r = s->signer.poll(s->signer.ctx, c, out, out_len, out_size);
    }
    tls_mem_leave(prev);
    if (r == TLS_WANT_SIGN)
        return MBEDTLS_ERR_SSL_ASYNC_IN_PROGRESS;
    c->sign_pending = false;
    if (r != TLS_OK || *out_len == 0 || *out_len > out_size) {
        c->sign_failed = true;
        return MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE;
    }
    return 0;
}

static void async_cancel(mbedtls_ssl_context *ssl)
{
    struct tls_conn *c = conn_of(ssl);
    struct tls_server *s = c->srv;
    if (c->sign_pending && !c->sign_deferred && s->signer.cancel) {
        struct tls_mem_account *prev = tls_mem_enter(NULL);
        s->signer.cancel(s->signer.ctx, c);
        tls_mem_leave(prev);
    }
    c->sign_pending = c->sign_deferred = false;
}

/* ---------------------------------------------------------- server ---- */

int tls_server_init(struct tls_server *s, const struct tls_server_opts *o, char *err, size_t errlen)
{
    if (!s || !o || !o->f_rng || !o->signer.start || !o->signer.poll) {
        set_err(err, errlen, "tls_server_init: missing random source or signer", 0);
        return TLS_E_INVAL;
    }
    memset(s, 0, sizeof *s);
    mbedtls_ssl_config_init(&s->conf);
    int r = mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
    if (r != 0) {
        set_err(err, errlen, "TLS configuration", r);
        return TLS_E_FAILED;
    }
    s->signer = o->signer;
    s->conn_mem_limit = o->conn_mem_limit ? o->conn_mem_limit : TLS_CONN_MEM_DEFAULT;
    s->versions = o->versions ? o->versions : TLS_V12 | TLS_V13;
    tls_psa_bind_signer(&o->signer);
    mbedtls_ssl_conf_rng(&s->conf, o->f_rng, o->p_rng);
    mbedtls_ssl_conf_min_tls_version(&s->conf,
                                     s->versions & TLS_V12 ? MBEDTLS_SSL_VERSION_TLS1_2 : MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_max_tls_version(&s->conf,
                                     s->versions & TLS_V13 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_ciphersuites(&s->conf, SUITES);
    mbedtls_ssl_conf_groups(&s->conf, GROUPS);
    mbedtls_ssl_conf_sig_algs(&s->conf, SIG_ALGS);
    /* TLS 1.3: a full handshake always has (EC)DHE, and a resumed one too
     * (the ticket's PSK with a fresh exchange: forward secrecy kept). */
    mbedtls_ssl_conf_tls13_key_exchange_modes(&s->conf, MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL |
                                                            MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL);
    mbedtls_ssl_conf_authmode(&s->conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_sni(&s->conf, sni_cb, s);
    mbedtls_ssl_conf_async_private_cb(&s->conf, async_sign_start, NULL, async_resume, async_cancel, s);
    mbedtls_ssl_conf_new_session_tickets(&s->conf, o->no_tickets ? 0 : 1);
    if (!o->no_tickets) {
        uint32_t rot = o->ticket_rotate_s ? o->ticket_rotate_s : TLS_TICKET_ROTATE_DEFAULT;
        uint32_t life = o->ticket_lifetime_s ? o->ticket_lifetime_s : TLS_TICKET_LIFETIME_DEFAULT;
        r = tls_ticket_setup(&s->tickets, o->f_rng, o->p_rng, rot, life, o->now_s);
        if (r != TLS_TICKET_OK) {
            set_err(err, errlen,
                    r == TLS_TICKET_E_INVAL ? "session tickets: the lifetime must be at most the rotation period"
                                            : "session tickets: no key (random numbers or memory)",
                    0);
            mbedtls_ssl_config_free(&s->conf);
            return r == TLS_TICKET_E_INVAL ? TLS_E_INVAL : TLS_E_FAILED;
        }
        mbedtls_ssl_conf_session_tickets_cb(&s->conf, tls_ticket_write, tls_ticket_parse, &s->tickets);
        s->tickets_on = true;
    }
    return TLS_OK;
}

int tls_server_add_cert(struct tls_server *s, const uint8_t *pem, size_t len, uint32_t key_id, const uint8_t *key_fp,
                        const char *const *names, size_t n, bool is_default, char *err, size_t errlen)
{
    if (s->n_certs >= TLS_MAX_CERTS) {
        set_err(err, errlen, "too many certificates for one listener", 0);
        return TLS_E_INVAL;
    }
    if (s->n_names + n > TLS_MAX_NAMES) {
        set_err(err, errlen, "too many SNI names for one listener", 0);
        return TLS_E_INVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int e = tls_sni_pattern_check(names[i]);
        if (e != TLS_SNI_OK) {
            char what[TLS_SNI_NAME_MAX + 96];
            snprintf(what, sizeof what, "server name \"%.64s\": %s", names[i], tls_sni_strerror(e));
            set_err(err, errlen, what, 0);
            return TLS_E_INVAL;
        }
    }
    struct tls_cert *ct = &s->certs[s->n_certs];
    mbedtls_x509_crt_init(&ct->chain);
    mbedtls_pk_init(&ct->key);
    /* mbedTLS wants PEM with its terminating NUL counted. */
    unsigned char *copy = tls_mem_calloc(1, len + 1);
    if (!copy) {
        set_err(err, errlen, "out of memory", 0);
        return TLS_E_FAILED;
    }
    memcpy(copy, pem, len);
    int r = mbedtls_x509_crt_parse(&ct->chain, copy, len + 1);
    tls_mem_free(copy);
    if (r != 0) {
        set_err(err, errlen, r > 0 ? "a certificate in the chain could not be parsed" : "not a certificate",
                r > 0 ? 0 : r);
        goto fail;
    }
    char why[96];
    if (tls_pk_check(&ct->chain.pk, NULL, why, sizeof why) == TLS_PK_BAD) {
        set_err(err, errlen, why, 0);
        goto fail;
    }
    if (key_fp) {
        uint8_t fp[32];
        r = tls_pk_fingerprint(&ct->chain.pk, fp);
        if (r != 0) {
            set_err(err, errlen, "the certificate's public key", r);
            goto fail;
        }
        if (memcmp(fp, key_fp, sizeof fp) != 0) {
            set_err(err, errlen, "the certificate does not match its key (different public keys)", 0);
            goto fail;
        }
    }
    if (tls_psa_opaque_key(key_id, &ct->chain.pk, &ct->key) != TLS_PSA_OK) {
        set_err(err, errlen, "the key cannot be used through keyd's secure element (TLS 1.3)", 0);
        goto fail;
    }
    if (is_default) {
        r = mbedtls_ssl_conf_own_cert(&s->conf, &ct->chain, &ct->key);
        if (r != 0) {
            set_err(err, errlen, "default certificate", r);
            goto fail;
        }
    }
    /* point of no return */
    ct->key_id = key_id;
    ct->is_default = is_default;
    for (size_t i = 0; i < n; i++) {
        snprintf(s->name_store[s->n_names], sizeof s->name_store[0], "%s", names[i]);
        s->names[s->n_names].pattern = s->name_store[s->n_names];
        s->names[s->n_names].cert = s->n_certs;
        s->n_names++;
    }
    s->n_certs++;
    return TLS_OK;
fail:
    mbedtls_pk_free(&ct->key);
    mbedtls_x509_crt_free(&ct->chain);
    return TLS_E_INVAL;
}

int tls_server_set_alpn(struct tls_server *s, const char *const *protos, size_t n, char *err, size_t errlen)
{
    if (n > TLS_MAX_ALPN) {
        set_err(err, errlen, "too many ALPN protocols", 0);
        return TLS_E_INVAL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(protos[i]);
        if (len == 0 || len >= TLS_ALPN_LEN) {
            set_err(err, errlen, "an ALPN protocol name must have 1 to 31 bytes", 0);
            return TLS_E_INVAL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(s->alpn_store[i], protos[i], strlen(protos[i]) + 1);
        s->alpn[i] = s->alpn_store[i];
    }
    s->alpn[n] = NULL;
    int r = mbedtls_ssl_conf_alpn_protocols(&s->conf, n ? s->alpn : NULL);
    if (r != 0) {
        set_err(err, errlen, "ALPN", r);
        return TLS_E_INVAL;
    }
    return TLS_OK;
}

void tls_server_tick(struct tls_server *s, uint64_t now_s)
{
    if (!s->tickets_on)
        return;
    struct tls_mem_account *prev = tls_mem_enter(NULL);
    (void)tls_ticket_tick(&s->tickets, now_s); /* a failed rotation is retried next tick */
    tls_mem_leave(prev);
}

void tls_server_free(struct tls_server *s)
{
    struct tls_mem_account *prev = tls_mem_enter(NULL);
    mbedtls_ssl_config_free(&s->conf);
    for (unsigned i = 0; i < s->n_certs; i++) {
        mbedtls_pk_free(&s->certs[i].key);
        mbedtls_x509_crt_free(&s->certs[i].chain);
    }
    if (s->tickets_on)
        tls_ticket_free(&s->tickets);
    tls_mem_leave(prev);
    s->n_certs = 0;
}

/* --------------------------------------------------------- parking ---- */

/* The offsets of mbedTLS's pointers into a record buffer, in the order of
 * tls_conn's park_in/park_out: ctr, hdr, len, iv, msg. */
static void save_offsets(uint16_t off[5], const unsigned char *buf, unsigned char *const ptr[5])
{
    for (int i = 0; i < 5; i++)
        off[i] = (uint16_t)(ptr[i] - buf);
}

/* No partial record either way, nothing queued, the handshake done: the
 * buffers hold nothing but the incoming sequence number.  A whole
 * handshake message mbedTLS has handled may still be "current" (TLS 1.2's
 * client Finished stays so until the next read): the next read drops it
 * by its lengths alone (ssl_consume_current_message), never reading its
 * bytes, so it does not stop parking. */
static bool parkable(const struct tls_conn *c)
{
    const mbedtls_ssl_context *s = &c->ssl;
    bool no_record = s->in_msglen == 0 || (s->in_hslen != 0 && s->in_hslen >= s->in_msglen);
    return c->state == TLS_CS_OPEN && s->state == MBEDTLS_SSL_HANDSHAKE_OVER && s->in_buf && s->out_buf &&
           s->in_left == 0 && no_record && !s->in_offt && s->badmac_seen_or_in_hsfraglen == 0 &&
           !s->keep_current_message && s->out_left == 0;
}

_Static_assert(TLS_PARK_BYTES >= MBEDTLS_SSL_SEQUENCE_NUMBER_LEN && MBEDTLS_SSL_IN_BUFFER_LEN <= UINT16_MAX &&
                   MBEDTLS_SSL_OUT_BUFFER_LEN <= UINT16_MAX,
               "a parked buffer keeps the sequence number; offsets fit in 16 bits");

bool tls_conn_park(struct tls_conn *c)
{
    if (c->parked)
        return true;
    if (!parkable(c))
        return false;
    mbedtls_ssl_context *s = &c->ssl;
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    unsigned char *in = tls_mem_calloc(1, TLS_PARK_BYTES), *out = tls_mem_calloc(1, TLS_PARK_BYTES);
    tls_mem_leave(prev);
    if (!in || !out) {
        tls_mem_free(in);
        tls_mem_free(out);
        return false;
    }
    /* point of no return */
    if (s->handshake) {
        /* mbedTLS 3.6 keeps a TLS 1.3 server's handshake state (~2.4 KiB,
         * the PSA hash operations, and the unused TLS 1.2 transform and
         * session it set up beside it) after the handshake; nothing on the
         * server side reads them again (post-handshake messages from a
         * client are refused).  Freed as mbedtls_ssl_free would; a TLS 1.2
         * connection has none by now (its wrap-up freed them). */
        prev = tls_mem_enter(&c->mem);
        mbedtls_ssl_handshake_free(s);
        tls_mem_free(s->handshake);
        s->handshake = NULL;
        mbedtls_ssl_transform_free(s->transform_negotiate);
        tls_mem_free(s->transform_negotiate);
        s->transform_negotiate = NULL;
        mbedtls_ssl_session_free(s->session_negotiate);
        tls_mem_free(s->session_negotiate);
        s->session_negotiate = NULL;
        tls_mem_leave(prev);
    }
    save_offsets(c->park_in, s->in_buf,
                 (unsigned char *const[5]){ s->in_ctr, s->in_hdr, s->in_len, s->in_iv, s->in_msg });
    save_offsets(c->park_out, s->out_buf,
                 (unsigned char *const[5]){ s->out_ctr, s->out_hdr, s->out_len, s->out_iv, s->out_msg });
    memcpy(in, s->in_buf, TLS_PARK_BYTES);
    memcpy(out, s->out_buf, TLS_PARK_BYTES);
    /* As mbedtls_ssl_free does: no plaintext left behind in the heap. */
    mbedtls_platform_zeroize(s->in_buf, MBEDTLS_SSL_IN_BUFFER_LEN);
    mbedtls_platform_zeroize(s->out_buf, MBEDTLS_SSL_OUT_BUFFER_LEN);
    tls_mem_free(s->in_buf);
    tls_mem_free(s->out_buf);
    s->in_buf = in;
    s->out_buf = out;
    /* Nothing may use them while parked: every path into mbedTLS unparks. */
    s->in_ctr = s->in_hdr = s->in_len = s->in_iv = s->in_msg = NULL;
    s->out_ctr = s->out_hdr = s->out_len = s->out_iv = s->out_msg = NULL;
    c->parked = true;
    return true;
}

/* Full-size buffers again, before any call into mbedTLS: the small ones'
 * bytes copied back, the pointers restored.  Returns 0, or
 * MBEDTLS_ERR_SSL_ALLOC_FAILED (C stays parked, unchanged: the caller
 * says TLS_WANT_MEMORY). */
static int unpark(struct tls_conn *c)
{
    if (!c->parked)
        return 0;
    mbedtls_ssl_context *s = &c->ssl;
    size_t denied = c->mem.denied;
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    unsigned char *in = tls_mem_calloc(1, MBEDTLS_SSL_IN_BUFFER_LEN);
    unsigned char *out = in ? tls_mem_calloc(1, MBEDTLS_SSL_OUT_BUFFER_LEN) : NULL;
    tls_mem_leave(prev);
    if (!in || !out) {
        tls_mem_free(in);
        c->mem.denied = denied; /* not the connection's failure (classify() reads it): it waits */
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    memcpy(in, s->in_buf, TLS_PARK_BYTES);
    memcpy(out, s->out_buf, TLS_PARK_BYTES);
    mbedtls_platform_zeroize(s->in_buf, TLS_PARK_BYTES);
    tls_mem_free(s->in_buf);
    tls_mem_free(s->out_buf);
    s->in_buf = in;
    s->out_buf = out;
    s->in_ctr = in + c->park_in[0];
    s->in_hdr = in + c->park_in[1];
    s->in_len = in + c->park_in[2];
    s->in_iv = in + c->park_in[3];
    s->in_msg = in + c->park_in[4];
    s->out_ctr = out + c->park_out[0];
    s->out_hdr = out + c->park_out[1];
    s->out_len = out + c->park_out[2];
    s->out_iv = out + c->park_out[3];
    s->out_msg = out + c->park_out[4];
    c->parked = false;
    return 0;
}

/* ------------------------------------------------------ connection ---- */

int tls_conn_init(struct tls_conn *c, struct tls_server *s, const struct tls_transport *io, void *io_ctx)
{
    memset(c, 0, sizeof *c);
    c->srv = s;
    c->io = io;
    c->io_ctx = io_ctx;
    c->state = TLS_CS_HANDSHAKE;
    c->signed_cert = -1;
    c->mem.limit = s->conn_mem_limit;
    STAT_ADD(s->stats.current, 1);
    mbedtls_ssl_init(&c->ssl);
    /* Without a certificate marked default, the first one serves clients
     * that send no (or no matching) server name. */
    if (!s->conf.key_cert && s->n_certs) {
        struct tls_mem_account *g = tls_mem_enter(NULL);
        int r = mbedtls_ssl_conf_own_cert(&s->conf, &s->certs[0].chain, &s->certs[0].key);
        tls_mem_leave(g);
        if (r != 0)
            return fail(c, r);
    }
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    int r = mbedtls_ssl_setup(&c->ssl, &s->conf);
    tls_mem_leave(prev);
    if (r != 0)
        return fail(c, r);
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    return TLS_OK;
}

int tls_conn_handshake(struct tls_conn *c)
{
    if (c->state == TLS_CS_FAILED)
        return TLS_E_FAILED;
    if (c->state != TLS_CS_HANDSHAKE)
        return TLS_OK;
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    uint64_t se_failed = tls_psa_stats().sign_failed;
    int r = mbedtls_ssl_handshake(&c->ssl);
    /* TLS 1.3 signs inside mbedTLS, through the secure element: a failure
     * there reaches us only as "no signature algorithm worked". */
    if (tls_psa_stats().sign_failed != se_failed)
        c->sign_failed = true;
    /* mbedTLS frees its handshake state when it is done, and with it the
     * "resumed" flag: note it while it is there (a resumed handshake
     * always waits for the client's Finished at least once). */
    if (c->ssl.handshake && c->ssl.handshake->resume)
        c->resumed = true;
    tls_mem_leave(prev);
    if (r != 0)
        return status_of(c, r);
    c->state = TLS_CS_OPEN;
    struct tls_stats *st = &c->srv->stats;
    enum tls_version_index vi =
        mbedtls_ssl_get_version_number(&c->ssl) == MBEDTLS_SSL_VERSION_TLS1_3 ? TLS_VI_13 : TLS_VI_12;
    STAT_ADD(st->handshakes_ok, 1);
    STAT_ADD(st->version_ok[vi], 1);
    if (c->resumed) {
        STAT_ADD(st->resumed, 1);
        STAT_ADD(st->version_resumed[vi], 1);
    }
    if (c->sni_kind == TLS_SNI_EXACT)
        STAT_ADD(st->sni_exact, 1);
    else if (c->sni_kind == TLS_SNI_WILDCARD)
        STAT_ADD(st->sni_wildcard, 1);
    else
        STAT_ADD(st->sni_default, 1);
    return TLS_OK;
}

int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t len)
{
    if (c->state == TLS_CS_FAILED)
        return TLS_E_FAILED;
    if (c->state == TLS_CS_HANDSHAKE)
        return TLS_E_STATE;
    if (c->rd_closed)
        return TLS_EOF;
    if (len == 0)
        return TLS_E_INVAL;
    if (len > 0x7fffffff)
        len = 0x7fffffff;
    if (unpark(c) != 0)
        return TLS_WANT_MEMORY;
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    int r = mbedtls_ssl_read(&c->ssl, buf, len);
    tls_mem_leave(prev);
    if (r > 0) {
        c->bytes_in += (uint64_t)r;
        STAT_ADD(c->srv->stats.bytes_in, (uint64_t)r);
        return r;
    }
    if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        c->rd_closed = true;
        if (r == 0) { /* the stream ended without close_notify */
            c->truncated = true;
            STAT_ADD(c->srv->stats.truncated, 1);
        }
        maybe_closed(c);
        return TLS_EOF;
    }
    return status_of(c, r);
}

/* Pushes out what mbedTLS has queued (a record the transport did not take
 * whole).  Returns TLS_OK, or a status. */
static int push(struct tls_conn *c)
{
    if (c->ssl.out_left == 0)
        return TLS_OK;
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    int r = mbedtls_ssl_flush_output(&c->ssl);
    tls_mem_leave(prev);
    return r == 0 ? TLS_OK : status_of(c, r);
}

int tls_conn_write(struct tls_conn *c, const uint8_t *buf, size_t len)
{
    if (c->state == TLS_CS_FAILED)
        return TLS_E_FAILED;
    if (c->state != TLS_CS_OPEN || c->wr_closed)
        return TLS_E_STATE;
    if (len == 0)
        return TLS_E_INVAL;
    if (unpark(c) != 0)
        return TLS_WANT_MEMORY;
    int st = push(c);
    if (st != TLS_OK)
        return st;
    int max = mbedtls_ssl_get_max_out_record_payload(&c->ssl);
    if (max <= 0)
        return fail(c, max ? max : MBEDTLS_ERR_SSL_INTERNAL_ERROR);
    size_t n = len < (size_t)max ? len : (size_t)max;
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    int r = mbedtls_ssl_write(&c->ssl, buf, n);
    tls_mem_leave(prev);
    /* With nothing queued before the call, mbedTLS encrypts the record
     * first and only then sends: WANT_WRITE means "taken, still queued". */
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
        r = (int)n;
    if (r <= 0)
        return status_of(c, r);
    c->bytes_out += (uint64_t)r;
    STAT_ADD(c->srv->stats.bytes_out, (uint64_t)r);
    return r;
}

int tls_conn_flush(struct tls_conn *c)
{
    if (c->state == TLS_CS_FAILED) {
        /* Best effort for a queued alert: never fails again. */
        if (c->ssl.out_left == 0 || c->io_failed)
            return TLS_OK;
        int r = mbedtls_ssl_flush_output(&c->ssl);
        return r == MBEDTLS_ERR_SSL_WANT_WRITE ? TLS_WANT_WRITE : TLS_OK;
    }
    int st = push(c);
    if (st == TLS_OK)
        maybe_closed(c);
    return st;
}

int tls_conn_shutdown(struct tls_conn *c)
{
    if (c->state == TLS_CS_FAILED)
        return TLS_E_FAILED;
    if (c->state != TLS_CS_OPEN && c->state != TLS_CS_CLOSED)
        return TLS_E_STATE;
    if (c->wr_closed)
        return tls_conn_flush(c);
    int st = push(c); /* data queued before the alert goes first */
    if (st != TLS_OK)
        return st;
    if (unpark(c) != 0)
        return TLS_WANT_MEMORY;
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    int r = mbedtls_ssl_close_notify(&c->ssl);
    tls_mem_leave(prev);
    if (r != 0 && r != MBEDTLS_ERR_SSL_WANT_WRITE)
        return fail(c, r);
    c->wr_closed = true; /* the alert is sent or queued */
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
        return TLS_WANT_WRITE;
    maybe_closed(c);
    return TLS_OK;
}

void tls_conn_abort(struct tls_conn *c, enum tls_reason reason)
{
    if (c->state == TLS_CS_FAILED)
        return;
    if (reason <= TLS_R_NONE || reason >= TLS_R_COUNT)
        reason = TLS_R_ABORTED;
    c->state = TLS_CS_FAILED;
    c->reason = reason;
    STAT_ADD(c->srv->stats.failed[reason], 1);
}

bool tls_conn_free(struct tls_conn *c)
{
    if (!c->srv)
        return true;
    if (c->parked) { /* mbedtls_ssl_free would zeroize full-size buffers */
        mbedtls_platform_zeroize(c->ssl.in_buf, TLS_PARK_BYTES);
        tls_mem_free(c->ssl.in_buf);
        tls_mem_free(c->ssl.out_buf);
        c->ssl.in_buf = c->ssl.out_buf = NULL;
        c->parked = false;
    }
    struct tls_mem_account *prev = tls_mem_enter(&c->mem);
    mbedtls_ssl_free(&c->ssl); /* cancels a pending signature (async_cancel) */
    tls_mem_leave(prev);
    STAT_ADD(c->srv->stats.current, (uint64_t)-1);
    c->srv = NULL;
    return tls_mem_account_idle(&c->mem);
}

const char *tls_conn_alpn(const struct tls_conn *c) { return mbedtls_ssl_get_alpn_protocol(&c->ssl); }

const char *tls_conn_suite(const struct tls_conn *c) { return mbedtls_ssl_get_ciphersuite(&c->ssl); }

const char *tls_conn_version(const struct tls_conn *c) { return mbedtls_ssl_get_version(&c->ssl); }

/* The version a ClientHello names in its client_version field (bytes 9
 * and 10 of the stream): a TLS 1.3 client names 1.2 there and offers 1.3
 * in an extension; an older one names its newest. */
static const char *hello_version_name(const struct tls_conn *c)
{
    if (c->first_len < 11 || c->first[5] != MBEDTLS_SSL_HS_CLIENT_HELLO)
        return "an unknown version";
    if (c->first[9] != 3)
        return "not SSL/TLS";
    switch (c->first[10]) {
    case 0: return "SSL 3.0";
    case 1: return "TLS 1.0";
    case 2: return "TLS 1.1";
    case 3: return "TLS 1.2";
    }
    return "TLS 1.3 or later";
}

const char *tls_conn_describe_failure(const struct tls_conn *c, char *buf, size_t len)
{
    const char *what = tls_reason_str(c->reason);
    switch (c->reason) {
    case TLS_R_NOT_TLS: {
        char hex[3 * sizeof c->first + 1] = "";
        size_t at = 0;
        for (size_t i = 0; i < c->first_len && i < 5; i++) /* the record header's worth */
            at += (size_t)snprintf(hex + at, sizeof hex - at, "%s%02x", i ? " " : "", c->first[i]);
        snprintf(buf, len, "%s (first bytes %s)", what, c->first_len ? hex : "none");
        return buf;
    }
    case TLS_R_VERSION:
        if (c->first_len >= 11 && c->first[9] == 3 && c->first[10] >= 3)
            snprintf(buf, len, "%s (the client's versions are not among those of the listener: %s)", what,
                     c->srv->versions == TLS_V13   ? "TLS 1.3"
                     : c->srv->versions == TLS_V12 ? "TLS 1.2"
                                                   : "TLS 1.2, TLS 1.3");
        else
            snprintf(buf, len, "%s (the client offers at most %s)", what, hello_version_name(c));
        return buf;
    default: break;
    }
    if (c->mbedtls_err) {
        char detail[96];
        mbedtls_strerror(c->mbedtls_err, detail, sizeof detail);
        snprintf(buf, len, "%s (%s)", what, detail);
    } else {
        snprintf(buf, len, "%s", what);
    }
    return buf;
}
