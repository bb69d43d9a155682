/*
 * test_tls_conn.c - the TLS engine (appliance/tls/tls_conn.c with
 * tls_sni.c, tls_ticket.c, tls_mem.c) against a real mbedTLS client, both
 * in this process, over in-memory pipes, with mbedTLS built for the host
 * from the same configuration (build/host-mbedtls/).
 *
 * Certificates and keys are made at start by `openssl` in a temporary
 * directory that is removed at the end (no key is ever committed):
 *   default.test (ECDSA P-256, the default), api.example.com (ECDSA),
 *   *.wild.test (ECDSA), rsa.test (RSA 2048), small.test (RSA 1024, refused).
 * The "key server" is a test signer holding those keys, which can delay
 * (to exercise TLS_WANT_SIGN) or refuse.
 *
 * Checks: SNI selection (exact, wildcard, none, unknown, one label too
 * many), data both ways through small pipes, close_notify and half-close,
 * a stream ending without close_notify, resumption by ticket, ticket key
 * rotation and expiry, tampered tickets, ALPN, asynchronous and refused
 * signatures, the per-connection memory limit and its measured figures,
 * refusals with a reason (garbage, old version, no common suite, oversized
 * record, end of stream mid-handshake), configuration errors, and that
 * every byte the engine allocated came back.  Prints handshake times
 * (`# TIME ...` lines).
 *
 * The client speaks TLS 1.2 unless a test asks for TLS 1.3 (cli_opts
 * .version): the older tests exercise TLS 1.2's asynchronous signer; the
 * tls13_* tests exercise TLS 1.3 (signatures through the secure element
 * of tls_psa.h, the signer's sign_now; resumption by ticket as PSK; a
 * listener allowing one version refusing the other).
 */
#define _GNU_SOURCE
#define MBEDTLS_ALLOW_PRIVATE_ACCESS /* the client's session ticket, to tamper with it */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h" /* MBEDTLS_ERR_NET_*: constants only */
#include "mbedtls/pk.h"
#include "mbedtls/platform.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

#include "tls_conn.h"
#include "tls_mem.h"
#include "tls_pk.h"
#include "tls_psa.h"
#include "unit.h"

/* ------------------------------------------------ platform (host) ---- */

/* tls_plat_printf, tls_plat_time, mbedtls_ms_time: tls_host_plat.c. */
static void heap_report(const char *what, void *ptr)
{
    fprintf(stderr, "heap: %s at %p\n", what, ptr);
    abort();
}

#define ARENA_BYTES (48u << 20)
static struct heap HEAP;
static mbedtls_entropy_context ENT;
static mbedtls_ctr_drbg_context DRBG;

static int host_entropy(void *ctx, unsigned char *out, size_t len, size_t *olen)
{
    (void)ctx;
    ssize_t n = getrandom(out, len, 0);
    *olen = n > 0 ? (size_t)n : 0;
    return n > 0 ? 0 : MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------- keys and certs ---- */

static char DIR_[64];

struct keyfile {
    const char *name;   /* file stem */
    const char *newkey; /* openssl -newkey argument */
    const char *cn;
    char *crt_pem;
    size_t crt_len;
    mbedtls_pk_context key; /* the private key: the test signer's */
    mbedtls_x509_crt crt;   /* for the client's trust list */
    uint8_t fp[32];
};

enum { K_DEFAULT, K_API, K_WILD, K_RSA, K_SMALL, K_COUNT };
static struct keyfile KEYS[K_COUNT] = {
    { .name = "default", .newkey = "ec -pkeyopt ec_paramgen_curve:P-256", .cn = "default.test" },
    { .name = "api", .newkey = "ec -pkeyopt ec_paramgen_curve:P-256", .cn = "api.example.com" },
    { .name = "wild", .newkey = "ec -pkeyopt ec_paramgen_curve:P-256", .cn = "*.wild.test" },
    { .name = "rsa", .newkey = "rsa:2048", .cn = "rsa.test" },
    { .name = "small", .newkey = "rsa:1024", .cn = "small.test" },
};

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

static int make_keys(void)
{
    strcpy(DIR_, "/tmp/keel-tls-test.XXXXXX");
    if (!mkdtemp(DIR_))
        return -1;
    for (int i = 0; i < K_COUNT; i++) {
        struct keyfile *k = &KEYS[i];
        char cmd[1024], path[128];
        snprintf(cmd, sizeof cmd,
                 "openssl req -x509 -newkey %s -nodes -keyout %s/%s.key -out %s/%s.crt -days 2 -subj '/CN=%s' "
                 "-addext 'subjectAltName=DNS:%s' 2>/dev/null",
                 k->newkey, DIR_, k->name, DIR_, k->name, k->cn, k->cn);
        if (system(cmd) != 0) {
            fprintf(stderr, "openssl failed: %s\n", cmd);
            return -1;
        }
        snprintf(path, sizeof path, "%s/%s.crt", DIR_, k->name);
        k->crt_pem = slurp(path, &k->crt_len);
        size_t klen = 0;
        snprintf(path, sizeof path, "%s/%s.key", DIR_, k->name);
        char *key_pem = slurp(path, &klen);
        if (!k->crt_pem || !key_pem)
            return -1;
        mbedtls_pk_init(&k->key);
        mbedtls_x509_crt_init(&k->crt);
        int r =
            mbedtls_pk_parse_key(&k->key, (unsigned char *)key_pem, klen + 1, NULL, 0, mbedtls_ctr_drbg_random, &DRBG);
        memset(key_pem, 0, klen);
        free(key_pem);
        if (r != 0 || mbedtls_x509_crt_parse(&k->crt, (unsigned char *)k->crt_pem, k->crt_len + 1) != 0)
            return -1;
        if (tls_pk_fingerprint(&k->key, k->fp) != 0)
            return -1;
    }
    return 0;
}

static void remove_keys(void)
{
    char cmd[128];
    if (DIR_[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", DIR_);
    }
    for (int i = 0; i < K_COUNT; i++) {
        mbedtls_pk_free(&KEYS[i].key);
        mbedtls_x509_crt_free(&KEYS[i].crt);
        free(KEYS[i].crt_pem);
    }
}

/* ---------------------------------------------------- test signer ---- */

struct signer {
    int delay; /* polls that answer "not yet" before the signature */
    int full;  /* starts that answer "no room now" (TLS_WANT_SIGN) before one is taken */
    bool refuse;
    int starts, polls, cancels, signatures;
    int nows, pss; /* sign_now calls (TLS 1.3), those asking for RSA-PSS */
    /* the one operation in flight (a test drives one handshake at a time
     * per signer, except where noted) */
    bool busy;
    int left;
    uint32_t key;
    mbedtls_md_type_t md;
    uint8_t hash[64];
    size_t hash_len;
};

static int sig_start(void *ctx, struct tls_conn *c, uint32_t key_id, mbedtls_md_type_t md, const uint8_t *hash,
                     size_t hash_len)
{
    struct signer *s = ctx;
    (void)c;
    s->starts++;
    if (s->refuse || key_id >= K_COUNT || hash_len > sizeof s->hash || s->busy)
        return TLS_E_FAILED;
    if (s->full > 0) {
        s->full--;
        return TLS_WANT_SIGN;
    }
    s->busy = true;
    s->left = s->delay;
    s->key = key_id;
    s->md = md;
    memcpy(s->hash, hash, hash_len);
    s->hash_len = hash_len;
    return TLS_OK;
}

static int sig_poll(void *ctx, struct tls_conn *c, uint8_t *out, size_t *out_len, size_t out_size)
{
    struct signer *s = ctx;
    (void)c;
    s->polls++;
    if (!s->busy)
        return TLS_E_FAILED;
    if (s->left > 0) {
        s->left--;
        return TLS_WANT_SIGN;
    }
    s->busy = false;
    uint8_t sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t n = 0;
    int r = mbedtls_pk_sign(&KEYS[s->key].key, s->md, s->hash, s->hash_len, sig, sizeof sig, &n,
                            mbedtls_ctr_drbg_random, &DRBG);
    if (r != 0 || n > out_size)
        return TLS_E_FAILED;
    memcpy(out, sig, n);
    *out_len = n;
    s->signatures++;
    return TLS_OK;
}

static void sig_cancel(void *ctx, struct tls_conn *c)
{
    struct signer *s = ctx;
    (void)c;
    s->cancels++;
    s->busy = false;
}

static int sig_now(void *ctx, uint32_t key_id, bool pss, mbedtls_md_type_t md, const uint8_t *hash, size_t hash_len,
                   uint8_t *out, size_t *out_len, size_t out_size)
{
    struct signer *s = ctx;
    s->nows++;
    s->pss += pss;
    if (s->refuse || key_id >= K_COUNT)
        return TLS_E_FAILED;
    mbedtls_pk_context *k = &KEYS[key_id].key;
    int r = pss ? mbedtls_pk_sign_ext(MBEDTLS_PK_RSASSA_PSS, k, md, hash, hash_len, out, out_size, out_len,
                                      mbedtls_ctr_drbg_random, &DRBG)
                : mbedtls_pk_sign(k, md, hash, hash_len, out, out_size, out_len, mbedtls_ctr_drbg_random, &DRBG);
    if (r != 0)
        return TLS_E_FAILED;
    s->signatures++;
    return TLS_OK;
}

/* ----------------------------------------------------------- pipes ---- */

#define PIPE_MAX (64 * 1024)

struct pipe {
    uint8_t buf[PIPE_MAX];
    size_t head, len, cap;
    bool closed; /* the writer is done: an empty pipe then reads as end of stream */
    bool broken; /* reads and writes fail */
};

static void pipe_init(struct pipe *p, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->cap = cap ? cap : PIPE_MAX;
}

static int pipe_write(struct pipe *p, const uint8_t *b, size_t n)
{
    if (p->broken)
        return TLS_IO_ERROR;
    size_t room = p->cap - p->len;
    if (room == 0)
        return TLS_IO_AGAIN;
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++)
        p->buf[(p->head + p->len + i) % PIPE_MAX] = b[i];
    p->len += n;
    return (int)n;
}

static int pipe_read(struct pipe *p, uint8_t *b, size_t n)
{
    if (p->broken)
        return TLS_IO_ERROR;
    if (p->len == 0)
        return p->closed ? 0 : TLS_IO_AGAIN;
    if (n > p->len)
        n = p->len;
    for (size_t i = 0; i < n; i++)
        b[i] = p->buf[(p->head + i) % PIPE_MAX];
    p->head = (p->head + n) % PIPE_MAX;
    p->len -= n;
    return (int)n;
}

/* The pipe's bytes, in order, into OUT (at most MAX); returns the count. */
static size_t pipe_peek(const struct pipe *p, uint8_t *out, size_t max)
{
    size_t n = p->len < max ? p->len : max;
    for (size_t i = 0; i < n; i++)
        out[i] = p->buf[(p->head + i) % PIPE_MAX];
    return n;
}

struct link {
    struct pipe c2s, s2c;
};

static int srv_send(void *io, const uint8_t *b, size_t n) { return pipe_write(&((struct link *)io)->s2c, b, n); }
static int srv_recv(void *io, uint8_t *b, size_t n) { return pipe_read(&((struct link *)io)->c2s, b, n); }
static const struct tls_transport SRV_IO = { srv_send, srv_recv };

static int cli_send(void *io, const unsigned char *b, size_t n)
{
    int r = pipe_write(&((struct link *)io)->c2s, b, n);
    return r == TLS_IO_AGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : r < 0 ? MBEDTLS_ERR_NET_SEND_FAILED : r;
}

static int cli_recv(void *io, unsigned char *b, size_t n)
{
    int r = pipe_read(&((struct link *)io)->s2c, b, n);
    return r == TLS_IO_AGAIN ? MBEDTLS_ERR_SSL_WANT_READ : r < 0 ? MBEDTLS_ERR_NET_RECV_FAILED : r;
}

/* ------------------------------------------------- server and client ---- */

static struct signer SIGNER;
static uint64_t NOW = 1000000; /* the ticket clock, seconds */

struct srv_opts {
    size_t mem_limit;
    unsigned versions; /* TLS_V12 | TLS_V13; 0: both */
    bool only_ecdsa;
    bool no_tickets;
    uint32_t rotate, lifetime;
    const char *const *alpn;
    size_t n_alpn;
};

static int server_setup(struct tls_server *s, const struct srv_opts *so)
{
    struct tls_server_opts o = {
        .f_rng = mbedtls_ctr_drbg_random,
        .p_rng = &DRBG,
        .signer = { sig_start, sig_poll, sig_cancel, &SIGNER, sig_now },
        .conn_mem_limit = so ? so->mem_limit : 0,
        .versions = so ? so->versions : 0,
        .no_tickets = so ? so->no_tickets : false,
        .ticket_rotate_s = so ? so->rotate : 0,
        .ticket_lifetime_s = so ? so->lifetime : 0,
        .now_s = NOW,
    };
    char err[256] = "";
    if (tls_server_init(s, &o, err, sizeof err) != TLS_OK) {
        fprintf(stderr, "tls_server_init: %s\n", err);
        return -1;
    }
    static const char *const api_names[] = { "api.example.com" };
    static const char *const wild_names[] = { "*.wild.test" };
    static const char *const rsa_names[] = { "rsa.test" };
    int r = tls_server_add_cert(s, (const uint8_t *)KEYS[K_DEFAULT].crt_pem, KEYS[K_DEFAULT].crt_len, K_DEFAULT,
                                KEYS[K_DEFAULT].fp, NULL, 0, true, err, sizeof err);
    if (!r)
        r = tls_server_add_cert(s, (const uint8_t *)KEYS[K_API].crt_pem, KEYS[K_API].crt_len, K_API, KEYS[K_API].fp,
                                api_names, 1, false, err, sizeof err);
    if (!r)
        r = tls_server_add_cert(s, (const uint8_t *)KEYS[K_WILD].crt_pem, KEYS[K_WILD].crt_len, K_WILD, KEYS[K_WILD].fp,
                                wild_names, 1, false, err, sizeof err);
    if (!r && !(so && so->only_ecdsa))
        r = tls_server_add_cert(s, (const uint8_t *)KEYS[K_RSA].crt_pem, KEYS[K_RSA].crt_len, K_RSA, KEYS[K_RSA].fp,
                                rsa_names, 1, false, err, sizeof err);
    if (!r && so && so->n_alpn)
        r = tls_server_set_alpn(s, so->alpn, so->n_alpn, err, sizeof err);
    if (r) {
        fprintf(stderr, "server setup: %s\n", err);
        return -1;
    }
    return 0;
}

struct client {
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    int suites[4];
    const char *alpn[4];
};

struct cli_opts {
    const char *host; /* SNI and name check; NULL: neither */
    int trust;        /* KEYS index the client trusts */
    bool optional;    /* verify but do not fail (inspect the flags after) */
    int only_suite;   /* offer just this suite (0: all) */
    const char *alpn; /* offer this protocol (NULL: no ALPN) */
    mbedtls_ssl_session *resume;
    const uint16_t *groups; /* offer these groups (NULL: all) */
    int version;            /* 0: TLS 1.2 only, 13: TLS 1.3 only, 1: both */
};

static int client_setup(struct client *c, struct link *l, const struct cli_opts *o)
{
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_init(&c->ssl);
    int r = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
    if (r)
        return r;
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &DRBG);
    mbedtls_ssl_conf_authmode(&c->conf, o->optional ? MBEDTLS_SSL_VERIFY_OPTIONAL : MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &KEYS[o->trust].crt, NULL);
    if (o->only_suite) {
        c->suites[0] = o->only_suite;
        c->suites[1] = 0;
        mbedtls_ssl_conf_ciphersuites(&c->conf, c->suites);
    }
    if (o->groups)
        mbedtls_ssl_conf_groups(&c->conf, o->groups);
    mbedtls_ssl_conf_min_tls_version(&c->conf,
                                     o->version == 13 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&c->conf, o->version ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&c->conf,
                                                             MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
    if (o->alpn) {
        c->alpn[0] = o->alpn;
        c->alpn[1] = NULL;
        mbedtls_ssl_conf_alpn_protocols(&c->conf, c->alpn);
    }
    if ((r = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0)
        return r;
    /* NULL: no SNI, and no name check (mbedTLS 3.6 wants that said) */
    if ((r = mbedtls_ssl_set_hostname(&c->ssl, o->host)) != 0)
        return r;
    if (o->resume && (r = mbedtls_ssl_set_session(&c->ssl, o->resume)) != 0)
        return r;
    mbedtls_ssl_set_bio(&c->ssl, l, cli_send, cli_recv, NULL);
    return 0;
}

static void client_free(struct client *c)
{
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
}

/* Steps both sides until both finished the handshake or one failed.
 * Returns the server's last status; *cli_ret the client's.  The time the
 * server's calls took is added to *srv_ms. */
static int drive(struct tls_conn *s, struct client *c, int *cli_ret, double *srv_ms)
{
    int sr = TLS_WANT_READ, cr = MBEDTLS_ERR_SSL_WANT_READ;
    for (int round = 0; round < 200; round++) {
        if (cr != 0)
            cr = mbedtls_ssl_handshake(&c->ssl);
        double t0 = now_ms();
        sr = tls_conn_handshake(s);
        if (srv_ms)
            *srv_ms += now_ms() - t0;
        bool cli_waiting = cr == MBEDTLS_ERR_SSL_WANT_READ || cr == MBEDTLS_ERR_SSL_WANT_WRITE;
        if (sr == TLS_OK && cr == 0)
            break;
        if (sr == TLS_E_FAILED || (cr != 0 && !cli_waiting)) {
            /* let the client read the server's alert, if any */
            if (cr != 0 && cli_waiting)
                cr = mbedtls_ssl_handshake(&c->ssl);
            break;
        }
    }
    *cli_ret = cr;
    if (getenv("TLS_DEBUG") && (sr != TLS_OK || cr != 0)) /* TLS_DEBUG=1: why a handshake stopped */
        fprintf(stderr,
                "drive: server %d (reason %d, mbedtls -0x%04x), client -0x%04x, memory %zu peak %zu denied %zu\n", sr,
                s->reason, (unsigned)-s->mbedtls_err, (unsigned)-cr, s->mem.used, s->mem.peak, s->mem.denied);
    return sr;
}

struct pair {
    struct link link;
    struct client cli;
    struct tls_conn conn;
};

/* A fresh connection pair; returns the server's handshake status. */
static int connect_pair(struct pair *p, struct tls_server *s, const struct cli_opts *o, size_t pipe_cap, int *cli_ret,
                        double *srv_ms)
{
    memset(p, 0, sizeof *p);
    pipe_init(&p->link.c2s, pipe_cap);
    pipe_init(&p->link.s2c, pipe_cap);
    if (client_setup(&p->cli, &p->link, o) != 0)
        return -100;
    if (tls_conn_init(&p->conn, s, &SRV_IO, &p->link) != TLS_OK)
        return TLS_E_FAILED;
    return drive(&p->conn, &p->cli, cli_ret, srv_ms);
}

/* Connects the pair P to server S through pipes of PIPE bytes (0: no
 * limit), the client set up with the cli_opts fields given, and checks
 * that both ends finished the handshake well.  A macro, so a failure names
 * the test's own line. */
#define CHECK_CONNECTED(p, s, pipe, ...)                                                                               \
    do {                                                                                                               \
        const struct cli_opts conn_opts = { __VA_ARGS__ };                                                             \
        int conn_cli_ret;                                                                                              \
        CHECK_EQ(connect_pair(p, s, &conn_opts, pipe, &conn_cli_ret, NULL), TLS_OK);                                   \
        CHECK_EQ(conn_cli_ret, 0);                                                                                     \
    } while (0)

static void pair_free(struct pair *p)
{
    CHECK(tls_conn_free(&p->conn)); /* every byte of the connection came back */
    client_free(&p->cli);
}

/* ----------------------------------------------------------- tests ---- */

static struct tls_server SRV; /* the common listener */

static void test_sni_default_without_sni(void)
{
    struct pair p;
    uint64_t before = SRV.stats.sni_default;
    CHECK_CONNECTED(&p, &SRV, 0, .host = NULL, .trust = K_DEFAULT);
    CHECK_EQ(p.conn.state, TLS_CS_OPEN);
    CHECK_EQ(p.conn.sni_kind, TLS_SNI_NONE);
    CHECK_EQ(p.conn.signed_cert, K_DEFAULT);
    CHECK_EQ(SRV.stats.sni_default, before + 1);
    CHECK(strstr(tls_conn_suite(&p.conn), "ECDHE-ECDSA") != NULL);
    CHECK_EQ(mbedtls_ssl_get_verify_result(&p.cli.ssl), 0);
    pair_free(&p);
}

static void test_sni_exact(void)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 0, .host = "api.example.com", .trust = K_API);
    CHECK_EQ(p.conn.sni_kind, TLS_SNI_EXACT);
    CHECK_EQ(p.conn.signed_cert, K_API);
    CHECK_STR(p.conn.sni, "api.example.com");
    pair_free(&p);
}

static void test_sni_wildcard(void)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 0, .host = "shop.wild.test", .trust = K_WILD);
    CHECK_EQ(p.conn.sni_kind, TLS_SNI_WILDCARD);
    CHECK_EQ(p.conn.signed_cert, K_WILD);
    pair_free(&p);
}

/* A name nobody has, and a name one label too deep for the wildcard: the
 * default certificate answers (trusted, but its name does not match). */
static void sni_falls_back(const char *host)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 0, .host = host, .trust = K_DEFAULT, .optional = true);
    CHECK_EQ(p.conn.sni_kind, TLS_SNI_NONE);
    CHECK_EQ(p.conn.signed_cert, K_DEFAULT);
    CHECK_EQ(mbedtls_ssl_get_verify_result(&p.cli.ssl), MBEDTLS_X509_BADCERT_CN_MISMATCH);
    pair_free(&p);
}

static void test_sni_unknown_name_gets_default(void) { sni_falls_back("nobody.test"); }
static void test_sni_wildcard_one_label_only(void) { sni_falls_back("a.b.wild.test"); }

static void test_rsa_certificate(void)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 0, .host = "rsa.test", .trust = K_RSA);
    CHECK_EQ(p.conn.signed_cert, K_RSA);
    CHECK(strstr(tls_conn_suite(&p.conn), "ECDHE-RSA") != NULL);
    pair_free(&p);
}

/* Moves everything: client -> server and server -> client, through small
 * pipes, checking the bytes. */
static void test_data_both_ways(void)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 3000, .host = "api.example.com", .trust = K_API);
    enum { N = 300 * 1024 };
    uint8_t *up = malloc(N), *down = malloc(N), *got_up = malloc(N), *got_down = malloc(N);
    CHECK(getrandom(up, N, 0) == N && getrandom(down, N, 0) == N);
    size_t cw = 0, cr_n = 0, sw = 0, sr_n = 0;
    int want_writes = 0;
    for (int round = 0; round < 100000 && (cr_n < N || sr_n < N); round++) {
        if (cw < N) {
            int r = mbedtls_ssl_write(&p.cli.ssl, up + cw, N - cw);
            if (r > 0)
                cw += (size_t)r;
            else
                CHECK(r == MBEDTLS_ERR_SSL_WANT_WRITE);
        }
        if (sw < N) {
            int r = tls_conn_write(&p.conn, down + sw, N - sw);
            if (r > 0)
                sw += (size_t)r;
            else if (r == TLS_WANT_WRITE)
                want_writes++;
            else
                CHECK_EQ(r, TLS_WANT_WRITE);
        } else {
            int r = tls_conn_flush(&p.conn);
            CHECK(r == TLS_OK || r == TLS_WANT_WRITE);
        }
        int r = tls_conn_read(&p.conn, got_up + sr_n, N - sr_n);
        if (r > 0)
            sr_n += (size_t)r;
        else
            CHECK_EQ(r, TLS_WANT_READ);
        r = mbedtls_ssl_read(&p.cli.ssl, got_down + cr_n, N - cr_n);
        if (r > 0)
            cr_n += (size_t)r;
        else
            CHECK(r == MBEDTLS_ERR_SSL_WANT_READ);
    }
    CHECK_EQ(sr_n, N);
    CHECK_EQ(cr_n, N);
    CHECK(memcmp(up, got_up, N) == 0);
    CHECK(memcmp(down, got_down, N) == 0);
    CHECK(want_writes > 0); /* the small pipes really pushed back */
    CHECK_EQ(p.conn.bytes_in, N);
    CHECK_EQ(p.conn.bytes_out, N);
    printf("# MEM connection open: %zu bytes charged, peak %zu (limit %u)\n", p.conn.mem.used, p.conn.mem.peak,
           TLS_CONN_MEM_DEFAULT);
    CHECK(p.conn.mem.peak <= TLS_CONN_MEM_DEFAULT);
    free(up);
    free(down);
    free(got_up);
    free(got_down);
    pair_free(&p);
}

/* Half-close both ways: the client closes first and still reads; then the
 * server closes. */
static void test_close_notify_and_half_close(void)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 0, .host = "api.example.com", .trust = K_API);
    uint8_t buf[4096];
    CHECK_EQ(mbedtls_ssl_write(&p.cli.ssl, (const uint8_t *)"last words", 10), 10);
    CHECK_EQ(mbedtls_ssl_close_notify(&p.cli.ssl), 0);
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), 10);
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), TLS_EOF);
    CHECK(p.conn.rd_closed && !p.conn.truncated);
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), TLS_EOF); /* and stays so */
    CHECK_EQ(p.conn.state, TLS_CS_OPEN);                        /* our direction is still open */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(tls_conn_write(&p.conn, buf, sizeof buf), (int)sizeof buf);
    CHECK_EQ(tls_conn_shutdown(&p.conn), TLS_OK);
    CHECK_EQ(p.conn.state, TLS_CS_CLOSED);
    CHECK_EQ(tls_conn_write(&p.conn, buf, 1), TLS_E_STATE);
    uint8_t got[8192];
    size_t n = 0;
    int r;
    while ((r = mbedtls_ssl_read(&p.cli.ssl, got + n, sizeof got - n)) > 0)
        n += (size_t)r;
    CHECK_EQ(n, sizeof buf);
    CHECK_EQ(r, MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    pair_free(&p);
}

/* The other order: the server closes first, then reads the client's data. */
static void test_server_closes_first(void)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 0, .host = NULL, .trust = K_DEFAULT);
    CHECK_EQ(tls_conn_shutdown(&p.conn), TLS_OK);
    CHECK(p.conn.wr_closed);
    uint8_t buf[64];
    CHECK_EQ(mbedtls_ssl_read(&p.cli.ssl, buf, sizeof buf), MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    CHECK_EQ(mbedtls_ssl_write(&p.cli.ssl, (const uint8_t *)"after", 5), 5);
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), 5);
    CHECK_EQ(mbedtls_ssl_close_notify(&p.cli.ssl), 0);
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), TLS_EOF);
    CHECK_EQ(p.conn.state, TLS_CS_CLOSED);
    pair_free(&p);
}

static void test_end_of_stream_without_close_notify(void)
{
    struct pair p;
    uint64_t before = SRV.stats.truncated;
    CHECK_CONNECTED(&p, &SRV, 0, .host = NULL, .trust = K_DEFAULT);
    p.link.c2s.closed = true;
    uint8_t buf[64];
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), TLS_EOF);
    CHECK(p.conn.truncated);
    CHECK_EQ(SRV.stats.truncated, before + 1);
    CHECK(p.conn.state != TLS_CS_FAILED);
    pair_free(&p);
}

/* Full handshake, keep the session, resume with its ticket (VERSION as in
 * cli_opts).  A TLS 1.3 ticket comes after the handshake, as a
 * NewSessionTicket message the client reads. */
static int full_then_resume_v(struct tls_server *s, struct pair *second, mbedtls_ssl_session *sess, int version)
{
    struct pair first;
    int cr;
    struct cli_opts o = { .host = "api.example.com", .trust = K_API, .version = version };
    if (connect_pair(&first, s, &o, 0, &cr, NULL) != TLS_OK || cr != 0)
        return -1;
    if (version == 13) {
        /* mbedTLS's client takes the NewSessionTicket in two reads: "want
         * read" (message seen), then "received". */
        uint8_t b[16];
        int r = MBEDTLS_ERR_SSL_WANT_READ;
        for (int i = 0; i < 4 && r == MBEDTLS_ERR_SSL_WANT_READ; i++)
            r = mbedtls_ssl_read(&first.cli.ssl, b, sizeof b);
        if (r != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            pair_free(&first);
            return -4;
        }
    }
    mbedtls_ssl_session_init(sess);
    int r = mbedtls_ssl_get_session(&first.cli.ssl, sess);
    pair_free(&first);
    if (r != 0 || sess->ticket_len == 0)
        return -2;
    o.resume = sess;
    return connect_pair(second, s, &o, 0, &cr, NULL) == TLS_OK && cr == 0 ? 0 : -3;
}

static int full_then_resume(struct tls_server *s, struct pair *second, mbedtls_ssl_session *sess)
{
    return full_then_resume_v(s, second, sess, 0);
}

static void test_resumption_by_ticket(void)
{
    struct pair p;
    mbedtls_ssl_session sess;
    uint64_t resumed = SRV.stats.resumed, accepted = SRV.tickets.stats.accepted;
    int starts;
    CHECK_EQ(full_then_resume(&SRV, &p, &sess), 0);
    starts = SIGNER.starts;
    CHECK(p.conn.resumed);
    CHECK_EQ(p.conn.signed_cert, -1); /* no signature in a resumed handshake */
    CHECK_EQ(SRV.stats.resumed, resumed + 1);
    CHECK_EQ(SRV.tickets.stats.accepted, accepted + 1);
    /* data still flows after resumption */
    CHECK_EQ(mbedtls_ssl_write(&p.cli.ssl, (const uint8_t *)"ping", 4), 4);
    uint8_t buf[8];
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), 4);
    CHECK_EQ(SIGNER.starts, starts);
    pair_free(&p);
    mbedtls_ssl_session_free(&sess);
}

/* A listener of its own with a short schedule: rotate every 100 s,
 * tickets good for 60 s. */
static void test_ticket_rotation_and_expiry(void)
{
    struct tls_server s;
    struct srv_opts so = { .rotate = 100, .lifetime = 60 };
    NOW = 5000;
    CHECK_EQ(server_setup(&s, &so), 0);
    struct pair p;
    mbedtls_ssl_session sess;
    CHECK_EQ(full_then_resume(&s, &p, &sess), 0);
    CHECK(p.conn.resumed);
    pair_free(&p);

    /* 50 s later: same key, ticket 50 s old: resumes. */
    tls_server_tick(&s, 5050);
    CHECK_EQ(s.tickets.stats.rotations, 0);
    int cr;
    struct cli_opts o = { .host = "api.example.com", .trust = K_API, .resume = &sess };
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_OK);
    CHECK(p.conn.resumed);
    pair_free(&p);

    /* 61 s after issue: expired, full handshake. */
    tls_server_tick(&s, 5061);
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_OK);
    CHECK_EQ(cr, 0);
    CHECK(!p.conn.resumed);
    CHECK_EQ(s.tickets.stats.refused_expired, 1);
    /* take the new ticket (issued at 5061) */
    mbedtls_ssl_session_free(&sess);
    mbedtls_ssl_session_init(&sess);
    CHECK_EQ(mbedtls_ssl_get_session(&p.cli.ssl, &sess), 0);
    pair_free(&p);

    /* Rotation at 5100: the old key still opens the 5061 ticket. */
    tls_server_tick(&s, 5100);
    CHECK_EQ(s.tickets.stats.rotations, 1);
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_OK);
    CHECK(p.conn.resumed);
    pair_free(&p);

    /* Next rotation at 5200 drops that key: unknown key, full handshake
     * (the ticket would be too old by then anyway; the counter says why). */
    tls_server_tick(&s, 5200);
    CHECK_EQ(s.tickets.stats.rotations, 2);
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_OK);
    CHECK(!p.conn.resumed);
    CHECK_EQ(s.tickets.stats.refused_unknown_key, 1);
    pair_free(&p);

    /* A clock going backwards changes nothing. */
    tls_server_tick(&s, 10);
    CHECK_EQ(s.tickets.now, 5200);

    mbedtls_ssl_session_free(&sess);
    tls_server_free(&s);
    NOW = 1000000;
}

static void test_tampered_ticket(void)
{
    struct pair p;
    mbedtls_ssl_session sess;
    CHECK_EQ(full_then_resume(&SRV, &p, &sess), 0);
    pair_free(&p);
    uint64_t bad = SRV.tickets.stats.refused_auth;
    sess.ticket[sess.ticket_len / 2] ^= 0x40;
    int cr;
    struct cli_opts o = { .host = "api.example.com", .trust = K_API, .resume = &sess };
    CHECK_EQ(connect_pair(&p, &SRV, &o, 0, &cr, NULL), TLS_OK);
    CHECK_EQ(cr, 0);
    CHECK(!p.conn.resumed);
    CHECK_EQ(SRV.tickets.stats.refused_auth, bad + 1);
    pair_free(&p);
    mbedtls_ssl_session_free(&sess);
}

static void test_alpn(void)
{
    static const char *const protos[] = { "h2", "http/1.1" };
    struct tls_server s;
    struct srv_opts so = { .alpn = protos, .n_alpn = 2 };
    CHECK_EQ(server_setup(&s, &so), 0);
    struct pair p;
    int cr;
    struct cli_opts o = { .host = "api.example.com", .trust = K_API, .alpn = "http/1.1" };
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_OK);
    CHECK_EQ(cr, 0);
    CHECK(tls_conn_alpn(&p.conn) && strcmp(tls_conn_alpn(&p.conn), "http/1.1") == 0);
    CHECK(mbedtls_ssl_get_alpn_protocol(&p.cli.ssl) && !strcmp(mbedtls_ssl_get_alpn_protocol(&p.cli.ssl), "http/1.1"));
    pair_free(&p);
    /* no ALPN from the client: fine, none chosen */
    struct cli_opts o2 = { .host = "api.example.com", .trust = K_API };
    CHECK_EQ(connect_pair(&p, &s, &o2, 0, &cr, NULL), TLS_OK);
    CHECK(tls_conn_alpn(&p.conn) == NULL);
    pair_free(&p);
    /* nothing in common: refused */
    struct cli_opts o3 = { .host = "api.example.com", .trust = K_API, .alpn = "spdy/1" };
    CHECK_EQ(connect_pair(&p, &s, &o3, 0, &cr, NULL), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_BAD_HELLO);
    CHECK(cr != 0);
    pair_free(&p);
    tls_server_free(&s);
}

static void test_async_signature_waits(void)
{
    struct pair p;
    int cr;
    SIGNER.delay = 3;
    int polls = SIGNER.polls;
    struct cli_opts o = { .host = "api.example.com", .trust = K_API };
    memset(&p, 0, sizeof p);
    pipe_init(&p.link.c2s, 0);
    pipe_init(&p.link.s2c, 0);
    CHECK_EQ(client_setup(&p.cli, &p.link, &o), 0);
    CHECK_EQ(tls_conn_init(&p.conn, &SRV, &SRV_IO, &p.link), TLS_OK);
    CHECK_EQ(mbedtls_ssl_handshake(&p.cli.ssl), MBEDTLS_ERR_SSL_WANT_READ); /* ClientHello out */
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_WANT_SIGN);
    CHECK(p.conn.sign_pending);
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_WANT_SIGN);
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_WANT_SIGN);
    CHECK_EQ(drive(&p.conn, &p.cli, &cr, NULL), TLS_OK);
    CHECK_EQ(cr, 0);
    CHECK(!p.conn.sign_pending);
    CHECK_EQ(SIGNER.polls - polls, 4);
    pair_free(&p);
    SIGNER.delay = 0;

    /* freed mid-signature: the signer hears of it */
    SIGNER.delay = 100;
    int cancels = SIGNER.cancels;
    memset(&p, 0, sizeof p);
    pipe_init(&p.link.c2s, 0);
    pipe_init(&p.link.s2c, 0);
    CHECK_EQ(client_setup(&p.cli, &p.link, &o), 0);
    CHECK_EQ(tls_conn_init(&p.conn, &SRV, &SRV_IO, &p.link), TLS_OK);
    CHECK_EQ(mbedtls_ssl_handshake(&p.cli.ssl), MBEDTLS_ERR_SSL_WANT_READ);
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_WANT_SIGN);
    pair_free(&p);
    CHECK_EQ(SIGNER.cancels, cancels + 1);
    CHECK(!SIGNER.busy);
    SIGNER.delay = 0;
}

/* A signer with every slot in flight (keyd's 16): the engine keeps the
 * request and starts it at a later step; freed while deferred, the signer
 * is never told (it never took the request). */
static void test_signer_full_defers(void)
{
    struct pair p;
    int cr;
    struct cli_opts o = { .host = "api.example.com", .trust = K_API };
    SIGNER.full = 2;
    int starts = SIGNER.starts, cancels = SIGNER.cancels;
    memset(&p, 0, sizeof p);
    pipe_init(&p.link.c2s, 0);
    pipe_init(&p.link.s2c, 0);
    CHECK_EQ(client_setup(&p.cli, &p.link, &o), 0);
    CHECK_EQ(tls_conn_init(&p.conn, &SRV, &SRV_IO, &p.link), TLS_OK);
    CHECK_EQ(mbedtls_ssl_handshake(&p.cli.ssl), MBEDTLS_ERR_SSL_WANT_READ);
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_WANT_SIGN);
    CHECK(p.conn.sign_pending && p.conn.sign_deferred);
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_WANT_SIGN); /* still full */
    CHECK(p.conn.sign_deferred);
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_WANT_SIGN); /* taken now */
    CHECK(!p.conn.sign_deferred);
    CHECK_EQ(drive(&p.conn, &p.cli, &cr, NULL), TLS_OK);
    CHECK_EQ(cr, 0);
    CHECK_EQ(SIGNER.starts - starts, 3);
    pair_free(&p);

    SIGNER.full = 100;
    memset(&p, 0, sizeof p);
    pipe_init(&p.link.c2s, 0);
    pipe_init(&p.link.s2c, 0);
    CHECK_EQ(client_setup(&p.cli, &p.link, &o), 0);
    CHECK_EQ(tls_conn_init(&p.conn, &SRV, &SRV_IO, &p.link), TLS_OK);
    CHECK_EQ(mbedtls_ssl_handshake(&p.cli.ssl), MBEDTLS_ERR_SSL_WANT_READ);
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_WANT_SIGN);
    pair_free(&p);
    CHECK_EQ(SIGNER.cancels, cancels);
    CHECK(!SIGNER.busy);
    SIGNER.full = 0;
}

static void test_refused_signature(void)
{
    struct pair p;
    int cr;
    SIGNER.refuse = true;
    uint64_t before = SRV.stats.failed[TLS_R_SIGN];
    struct cli_opts o = { .host = "api.example.com", .trust = K_API };
    CHECK_EQ(connect_pair(&p, &SRV, &o, 0, &cr, NULL), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_SIGN);
    CHECK_EQ(SRV.stats.failed[TLS_R_SIGN], before + 1);
    CHECK(cr != 0);
    pair_free(&p);
    SIGNER.refuse = false;
}

/* ---------------------------------------------------------- TLS 1.3 ---- */

/* A client offering both versions gets TLS 1.3, signed through sign_now
 * (the secure element), never through the asynchronous signer. */
static void tls13_full(const char *host, int trust, bool rsa)
{
    struct pair p;
    int starts = SIGNER.starts, nows = SIGNER.nows, pss = SIGNER.pss;
    uint64_t v13 = SRV.stats.version_ok[TLS_VI_13];
    CHECK_CONNECTED(&p, &SRV, 0, .host = host, .trust = trust, .version = 1);
    CHECK_STR(tls_conn_version(&p.conn), "TLSv1.3");
    CHECK_STR(mbedtls_ssl_get_version(&p.cli.ssl), "TLSv1.3");
    CHECK_EQ(mbedtls_ssl_get_verify_result(&p.cli.ssl), 0);
    CHECK_EQ(SIGNER.starts, starts);
    CHECK_EQ(SIGNER.nows, nows + 1);
    CHECK_EQ(SIGNER.pss, pss + (rsa ? 1 : 0));
    CHECK_EQ(SRV.stats.version_ok[TLS_VI_13], v13 + 1);
    printf("# MEM per connection: %zu bytes peak in a full TLS 1.3 %s handshake\n", p.conn.mem.peak,
           rsa ? "RSA-2048 (PSS)" : "ECDSA");
    CHECK(p.conn.mem.peak <= TLS_CONN_MEM_DEFAULT);
    /* data both ways */
    CHECK_EQ(mbedtls_ssl_write(&p.cli.ssl, (const uint8_t *)"ping", 4), 4);
    uint8_t buf[8];
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), 4);
    CHECK_EQ(tls_conn_write(&p.conn, (const uint8_t *)"pong", 4), 4);
    CHECK_EQ(tls_conn_flush(&p.conn), TLS_OK);
    int r = MBEDTLS_ERR_SSL_WANT_READ;
    for (int i = 0; i < 8 && (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET); i++)
        r = mbedtls_ssl_read(&p.cli.ssl, buf, sizeof buf); /* the NewSessionTicket comes first */
    CHECK_EQ(r, 4);
    CHECK(memcmp(buf, "pong", 4) == 0);
    pair_free(&p);
}

static void test_tls13_ecdsa(void) { tls13_full("api.example.com", K_API, false); }
static void test_tls13_rsa_pss(void) { tls13_full("rsa.test", K_RSA, true); }

static void test_tls13_resumption_by_ticket(void)
{
    struct pair p;
    mbedtls_ssl_session sess;
    uint64_t r13 = SRV.stats.version_resumed[TLS_VI_13], accepted = SRV.tickets.stats.accepted;
    int fr = full_then_resume_v(&SRV, &p, &sess, 13);
    CHECK_EQ(fr, 0);
    if (fr != 0)
        return;
    int nows = SIGNER.nows;
    CHECK(p.conn.resumed);
    CHECK_STR(tls_conn_version(&p.conn), "TLSv1.3");
    CHECK_EQ(SRV.stats.version_resumed[TLS_VI_13], r13 + 1);
    CHECK_EQ(SRV.tickets.stats.accepted, accepted + 1);
    CHECK_EQ(mbedtls_ssl_write(&p.cli.ssl, (const uint8_t *)"ping", 4), 4);
    uint8_t buf[8];
    CHECK_EQ(tls_conn_read(&p.conn, buf, sizeof buf), 4);
    CHECK_EQ(SIGNER.nows, nows); /* no signature in a resumed handshake */
    pair_free(&p);
    mbedtls_ssl_session_free(&sess);
}

static void test_tls13_refused_signature(void)
{
    struct pair p;
    int cr;
    SIGNER.refuse = true;
    uint64_t before = SRV.stats.failed[TLS_R_SIGN];
    struct cli_opts o = { .host = "api.example.com", .trust = K_API, .version = 13 };
    CHECK_EQ(connect_pair(&p, &SRV, &o, 0, &cr, NULL), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_SIGN);
    CHECK_EQ(SRV.stats.failed[TLS_R_SIGN], before + 1);
    CHECK(cr != 0);
    pair_free(&p);
    SIGNER.refuse = false;
}

/* A listener allowing VERSIONS meets a client offering only CLIENT_VERSION
 * (12 or 13): refused as a version mismatch, with the listener's versions
 * in the description. */
static void version_refused(unsigned versions, int client_version, const char *says)
{
    struct tls_server s;
    struct srv_opts so = { .versions = versions };
    CHECK_EQ(server_setup(&s, &so), 0);
    struct pair p;
    int cr;
    struct cli_opts o = { .host = "api.example.com", .trust = K_API, .version = client_version == 13 ? 13 : 0 };
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_VERSION);
    CHECK_EQ(s.stats.failed[TLS_R_VERSION], 1);
    CHECK(cr != 0);
    char why[160];
    tls_conn_describe_failure(&p.conn, why, sizeof why);
    CHECK(strstr(why, says) != NULL);
    pair_free(&p);
    /* ... and the version it allows still works */
    o.version = client_version == 13 ? 0 : 13;
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_OK);
    CHECK_EQ(cr, 0);
    pair_free(&p);
    tls_server_free(&s);
}

static void test_tls13_only_refuses_tls12(void) { version_refused(TLS_V13, 12, "listener: TLS 1.3"); }
static void test_tls12_only_refuses_tls13(void) { version_refused(TLS_V12, 13, "listener: TLS 1.2"); }

/* ------------------------------------------ refusals with a reason ---- */

/* Feeds RAW as the client's bytes (then, if EOF, the end of the stream);
 * returns the server's status and leaves its output in P's s2c pipe. */
static int feed_raw(struct pair *p, struct tls_server *s, const uint8_t *raw, size_t n, bool eof)
{
    memset(p, 0, sizeof *p);
    pipe_init(&p->link.c2s, 0);
    pipe_init(&p->link.s2c, 0);
    if (tls_conn_init(&p->conn, s, &SRV_IO, &p->link) != TLS_OK)
        return -100;
    CHECK_EQ(pipe_write(&p->link.c2s, raw, n), (int)n);
    p->link.c2s.closed = eof;
    int r = TLS_WANT_READ;
    for (int i = 0; i < 10 && r == TLS_WANT_READ; i++)
        r = tls_conn_handshake(&p->conn);
    (void)tls_conn_flush(&p->conn);
    return r;
}

/* A ClientHello by hand: record version 3.1, VERSION in the hello, the
 * given suites, X25519/P-256 and ECDSA/RSA SHA-256 signatures offered. */
static size_t client_hello(uint8_t *out, uint16_t version, const uint16_t *suites, size_t n_suites)
{
    uint8_t body[512];
    size_t b = 0;
    body[b++] = (uint8_t)(version >> 8);
    body[b++] = (uint8_t)version;
    for (int i = 0; i < 32; i++)
        body[b++] = (uint8_t)(i * 7);
    body[b++] = 0; /* session id */
    body[b++] = (uint8_t)(2 * n_suites >> 8);
    body[b++] = (uint8_t)(2 * n_suites);
    for (size_t i = 0; i < n_suites; i++) {
        body[b++] = (uint8_t)(suites[i] >> 8);
        body[b++] = (uint8_t)suites[i];
    }
    body[b++] = 1; /* compression: null */
    body[b++] = 0;
    static const uint8_t ext[] = {
        0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17, /* supported_groups */
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,                         /* ec_point_formats */
        0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01, /* signature_algorithms */
    };
    body[b++] = 0;
    body[b++] = sizeof ext;
    memcpy(body + b, ext, sizeof ext);
    b += sizeof ext;
    size_t o = 0;
    out[o++] = 0x16;
    out[o++] = 3;
    out[o++] = 1;
    out[o++] = (uint8_t)((b + 4) >> 8);
    out[o++] = (uint8_t)(b + 4);
    out[o++] = 1; /* client_hello */
    out[o++] = 0;
    out[o++] = (uint8_t)(b >> 8);
    out[o++] = (uint8_t)b;
    memcpy(out + o, body, b);
    return o + b;
}

/* Did the server send a fatal alert with DESCRIPTION? */
static bool sent_alert(const struct pair *p, uint8_t description)
{
    uint8_t out[4096];
    size_t n = pipe_peek(&p->link.s2c, out, sizeof out);
    for (size_t i = 0; i + 7 <= n; i++)
        if (out[i] == 0x15 && out[i + 1] == 3 && out[i + 3] == 0 && out[i + 4] == 2 && out[i + 5] == 2 &&
            out[i + 6] == description)
            return true;
    return false;
}

static void test_refuses_garbage(void)
{
    struct pair p;
    char why[200];
    const char *http = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    uint64_t before = SRV.stats.failed[TLS_R_NOT_TLS];
    CHECK_EQ(feed_raw(&p, &SRV, (const uint8_t *)http, strlen(http), false), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_NOT_TLS);
    CHECK_EQ(SRV.stats.failed[TLS_R_NOT_TLS], before + 1);
    tls_conn_describe_failure(&p.conn, why, sizeof why);
    printf("# refused: %s\n", why);
    CHECK(strstr(why, "not TLS (first bytes 47 45 54 20 2f)") != NULL);
    pair_free(&p);
    /* binary noise */
    const uint8_t noise[] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0, 0, 0, 0x10 }; /* an SSLv2 hello */
    CHECK_EQ(feed_raw(&p, &SRV, noise, sizeof noise, false), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_NOT_TLS);
    pair_free(&p);
}

static void test_refuses_old_version(void)
{
    struct pair p;
    uint8_t hello[600];
    static const uint16_t suites[] = { 0xc02b, 0xc009, 0xc013 };
    size_t n = client_hello(hello, 0x0302, suites, 3); /* TLS 1.1 */
    CHECK_EQ(feed_raw(&p, &SRV, hello, n, false), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_VERSION);
    CHECK(sent_alert(&p, 70)); /* protocol_version */
    char why[200];
    tls_conn_describe_failure(&p.conn, why, sizeof why);
    printf("# refused: %s\n", why);
    CHECK(strstr(why, "TLS 1.1") != NULL);
    pair_free(&p);
    n = client_hello(hello, 0x0300, suites, 3); /* SSL 3.0 */
    CHECK_EQ(feed_raw(&p, &SRV, hello, n, false), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_VERSION);
    pair_free(&p);
}

static void test_refuses_no_common_suite(void)
{
    struct pair p;
    uint8_t hello[600];
    static const uint16_t suites[] = { 0x002f, 0x0035, 0x000a }; /* RSA key exchange, CBC, 3DES */
    size_t n = client_hello(hello, 0x0303, suites, 3);
    CHECK_EQ(feed_raw(&p, &SRV, hello, n, false), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_NO_SUITE);
    CHECK(sent_alert(&p, 40)); /* handshake_failure */
    char why[200];
    tls_conn_describe_failure(&p.conn, why, sizeof why);
    printf("# refused: %s\n", why);
    pair_free(&p);

    /* A real client that only does ECDHE-RSA, against a listener that only
     * has ECDSA certificates. */
    struct tls_server s;
    struct srv_opts so = { .only_ecdsa = true };
    CHECK_EQ(server_setup(&s, &so), 0);
    int cr;
    struct cli_opts o = { .host = NULL,
                          .trust = K_DEFAULT,
                          .only_suite = MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 };
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_NO_SUITE);
    CHECK_EQ(cr, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
    pair_free(&p);
    tls_server_free(&s);
}

static void test_refuses_oversized_record(void)
{
    struct pair p;
    const uint8_t huge[] = { 0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0xff, 0xfb };
    CHECK_EQ(feed_raw(&p, &SRV, huge, sizeof huge, false), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_BAD_RECORD);
    pair_free(&p);
}

static void test_refuses_truncated_hello(void)
{
    struct pair p;
    uint8_t hello[600];
    static const uint16_t suites[] = { 0xc02b };
    size_t n = client_hello(hello, 0x0303, suites, 1);
    CHECK_EQ(feed_raw(&p, &SRV, hello, n / 2, true), TLS_E_FAILED); /* half, then the end */
    CHECK_EQ(p.conn.reason, TLS_R_EOF);
    pair_free(&p);
    CHECK_EQ(feed_raw(&p, &SRV, hello, n / 2, false), TLS_WANT_READ); /* half, then silence: waits */
    tls_conn_abort(&p.conn, TLS_R_TIMEOUT);                           /* the owner's handshake timeout */
    CHECK_EQ(p.conn.reason, TLS_R_TIMEOUT);
    CHECK_EQ(tls_conn_handshake(&p.conn), TLS_E_FAILED);
    pair_free(&p);
}

static void test_transport_error(void)
{
    struct pair p;
    uint8_t hello[600];
    static const uint16_t suites[] = { 0xc02b };
    size_t n = client_hello(hello, 0x0303, suites, 1);
    memset(&p, 0, sizeof p);
    pipe_init(&p.link.c2s, 0);
    pipe_init(&p.link.s2c, 0);
    CHECK_EQ(tls_conn_init(&p.conn, &SRV, &SRV_IO, &p.link), TLS_OK);
    CHECK_EQ(pipe_write(&p.link.c2s, hello, n), (int)n);
    p.link.s2c.broken = true; /* a reset as the server answers */
    int r = TLS_WANT_READ;
    for (int i = 0; i < 10 && r != TLS_E_FAILED; i++)
        r = tls_conn_handshake(&p.conn);
    CHECK_EQ(r, TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_IO);
    CHECK_EQ(tls_conn_flush(&p.conn), TLS_OK); /* nothing more to try */
    pair_free(&p);
}

/* ------------------------------------------------- memory, bounded ---- */

static void test_memory_figures_and_limit(void)
{
    struct pair p;
    int cr;
    struct cli_opts o = { .host = "api.example.com", .trust = K_API };
    CHECK_EQ(connect_pair(&p, &SRV, &o, 0, &cr, NULL), TLS_OK);
    size_t open_bytes = p.conn.mem.used, peak = p.conn.mem.peak;
    printf("# MEM per connection: %zu bytes open, %zu peak in a full ECDSA handshake, struct tls_conn %zu bytes\n",
           open_bytes, peak, sizeof(struct tls_conn));
    CHECK(peak <= TLS_CONN_MEM_DEFAULT);
    CHECK(open_bytes < peak);
    pair_free(&p);

    /* RSA handshake peak */
    struct cli_opts orsa = { .host = "rsa.test", .trust = K_RSA };
    CHECK_EQ(connect_pair(&p, &SRV, &orsa, 0, &cr, NULL), TLS_OK);
    printf("# MEM per connection: %zu bytes peak in a full RSA-2048 handshake\n", p.conn.mem.peak);
    CHECK(p.conn.mem.peak <= TLS_CONN_MEM_DEFAULT);
    pair_free(&p);

    /* A limit below the record buffers: the connection cannot even start. */
    struct tls_server s;
    struct srv_opts so = { .mem_limit = 20000 };
    CHECK_EQ(server_setup(&s, &so), 0);
    memset(&p, 0, sizeof p);
    CHECK_EQ(tls_conn_init(&p.conn, &s, &SRV_IO, &p.link), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_MEMORY);
    CHECK(tls_conn_free(&p.conn));
    tls_server_free(&s);

    /* A limit that admits the record buffers but not the handshake. */
    memset(&p, 0, sizeof p);
    CHECK_EQ(tls_conn_init(&p.conn, &SRV, &SRV_IO, &p.link), TLS_OK);
    size_t init_bytes = p.conn.mem.used;
    CHECK(tls_conn_free(&p.conn));
    printf("# MEM per connection: %zu bytes right after tls_conn_init (the two record buffers)\n", init_bytes);
    so.mem_limit = init_bytes + 1024; /* a full handshake needs ~3.4 KB more */
    CHECK_EQ(server_setup(&s, &so), 0);
    CHECK_EQ(connect_pair(&p, &s, &o, 0, &cr, NULL), TLS_E_FAILED);
    CHECK_EQ(p.conn.reason, TLS_R_MEMORY);
    CHECK(p.conn.mem.denied > 0);
    CHECK(p.conn.mem.peak <= so.mem_limit);
    CHECK_EQ(s.stats.failed[TLS_R_MEMORY], 1);
    pair_free(&p);
    tls_server_free(&s);
}

/* ---------------------------------------------------------- parking ---- */

/* Moves N random bytes from one end to the other through small pipes,
 * byte-exact; the server's side parked before every transfer when PARK.
 * CLIENT_SENDS: client -> server, else server -> client. */
static void park_transfer(struct pair *p, size_t n, bool client_sends, bool park)
{
    uint8_t *src = malloc(n), *dst = malloc(n);
    CHECK(src && dst && getrandom(src, n, 0) == (ssize_t)n);
    if (park) {
        if (!tls_conn_park(&p->conn)) {
            const mbedtls_ssl_context *x = &p->conn.ssl;
            printf("# not parkable: n %zu %d state %d hs %p in_left %zu msglen %zu offt %p hslen %zu frag %u keep %d "
                   "out_left %zu\n",
                   n, client_sends, p->conn.state, (void *)x->handshake, x->in_left, x->in_msglen, (void *)x->in_offt,
                   x->in_hslen, x->badmac_seen_or_in_hsfraglen, x->keep_current_message, x->out_left);
        }
        CHECK(tls_conn_park(&p->conn));
        CHECK(p->conn.parked);
        CHECK(p->conn.mem.used < TLS_PARKED_MEM_MAX);
    }
    size_t w = 0, r = 0;
    for (int round = 0; round < 100000 && r < n; round++) {
        if (client_sends) {
            if (w < n) {
                int k = mbedtls_ssl_write(&p->cli.ssl, src + w, n - w);
                if (k > 0)
                    w += (size_t)k;
                else
                    CHECK(k == MBEDTLS_ERR_SSL_WANT_WRITE);
            }
            int k = tls_conn_read(&p->conn, dst + r, n - r);
            if (k > 0)
                r += (size_t)k;
            else
                CHECK_EQ(k, TLS_WANT_READ);
        } else {
            if (w < n) {
                int k = tls_conn_write(&p->conn, src + w, n - w);
                if (k > 0)
                    w += (size_t)k;
                else
                    CHECK_EQ(k, TLS_WANT_WRITE);
            } else {
                int k = tls_conn_flush(&p->conn);
                CHECK(k == TLS_OK || k == TLS_WANT_WRITE);
            }
            int k = mbedtls_ssl_read(&p->cli.ssl, dst + r, n - r);
            if (k > 0)
                r += (size_t)k;
            else /* TLS 1.3: the server's tickets come first */
                CHECK(k == MBEDTLS_ERR_SSL_WANT_READ || k == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET);
        }
    }
    CHECK_EQ(r, n);
    CHECK(memcmp(src, dst, n) == 0);
    CHECK(!p->conn.parked || !park); /* the engine unparked to move them */
    free(src);
    free(dst);
}

/* Parks the server between every transfer of a real exchange (both
 * directions, records of every size up to several 16 KiB ones), TLS 1.2
 * and 1.3: every byte arrives intact, and a parked connection's account
 * is below TLS_PARKED_MEM_MAX. */
static void park_exchange(int version)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 3000, .host = "api.example.com", .trust = K_API, .version = version);
    size_t open_bytes = p.conn.mem.used;
    static const size_t sizes[] = { 1, 17, 1000, 16384, 16385, 70000 };
    for (unsigned round = 0; round < 3; round++)
        for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            park_transfer(&p, sizes[i], true, true);
            park_transfer(&p, sizes[i], false, true);
        }
    CHECK(tls_conn_park(&p.conn));
    size_t parked = p.conn.mem.used;
    printf("# MEM TLS 1.%d connection: %zu bytes charged open, %zu parked (limit %u)\n", version == 13 ? 3 : 2,
           open_bytes, parked, TLS_PARKED_MEM_MAX);
    CHECK(parked < TLS_PARKED_MEM_MAX);
    /* A parked connection closes cleanly both ways, parked again between
     * its close_notify and the client's. */
    CHECK_EQ(tls_conn_shutdown(&p.conn), TLS_OK);
    CHECK(tls_conn_park(&p.conn)); /* still OPEN: the client's direction is */
    CHECK_EQ(mbedtls_ssl_close_notify(&p.cli.ssl), 0);
    uint8_t b[64];
    CHECK_EQ(tls_conn_read(&p.conn, b, sizeof b), TLS_EOF);
    pair_free(&p); /* the account came back to zero */
}

static void test_park_between_records_tls12(void) { park_exchange(0); }
static void test_park_between_records_tls13(void) { park_exchange(13); }

/* A record half taken, or bytes still queued: no parking; a parked
 * connection that is freed gives everything back. */
static void test_park_refused_mid_record(void)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 0, .host = "api.example.com", .trust = K_API, .version = 1);
    uint8_t msg[1000], got[1000];
    memset(msg, 'x', sizeof msg);
    CHECK_EQ(mbedtls_ssl_write(&p.cli.ssl, msg, sizeof msg), (int)sizeof msg);
    CHECK_EQ(tls_conn_read(&p.conn, got, 10), 10); /* 990 decrypted bytes wait in the engine */
    CHECK(!tls_conn_park(&p.conn));
    CHECK_EQ(tls_conn_read(&p.conn, got + 10, sizeof got - 10), (int)sizeof got - 10);
    CHECK(memcmp(msg, got, sizeof got) == 0);
    /* Half a record from the transport: not parkable either. */
    CHECK_EQ(mbedtls_ssl_write(&p.cli.ssl, msg, sizeof msg), (int)sizeof msg);
    uint8_t raw[PIPE_MAX];
    size_t n = pipe_peek(&p.link.c2s, raw, sizeof raw);
    struct pipe rest = p.link.c2s;
    p.link.c2s.len = n / 2; /* the first half now, the rest later */
    CHECK_EQ(tls_conn_read(&p.conn, got, sizeof got), TLS_WANT_READ);
    CHECK(!tls_conn_park(&p.conn));
    p.link.c2s = rest;
    p.link.c2s.head = (rest.head + n / 2) % PIPE_MAX;
    p.link.c2s.len = n - n / 2;
    CHECK_EQ(tls_conn_read(&p.conn, got, sizeof got), (int)sizeof got);
    CHECK(tls_conn_park(&p.conn));
    /* Bytes queued for a full transport: not parkable. */
    p.link.s2c.cap = p.link.s2c.len;                                     /* the pipe takes nothing more */
    CHECK_EQ(tls_conn_write(&p.conn, msg, sizeof msg), (int)sizeof msg); /* unparks; queued */
    CHECK(!p.conn.parked);
    CHECK(!tls_conn_park(&p.conn));
    p.link.s2c.cap = PIPE_MAX;
    CHECK_EQ(tls_conn_flush(&p.conn), TLS_OK);
    CHECK(tls_conn_park(&p.conn));
    pair_free(&p); /* freed while parked: the account comes back to zero */
}

/* A parked connection with no memory to take its buffers back waits
 * (TLS_WANT_MEMORY, nothing changed) and carries on once there is. */
static void test_park_no_memory_waits(void)
{
    struct pair p;
    CHECK_CONNECTED(&p, &SRV, 0, .host = "api.example.com", .trust = K_API, .version = 1);
    CHECK(tls_conn_park(&p.conn));
    size_t limit = p.conn.mem.limit;
    p.conn.mem.limit = p.conn.mem.used + 1024; /* far too little for two record buffers */
    uint8_t msg[100], got[100];
    memset(msg, 'm', sizeof msg);
    CHECK_EQ(mbedtls_ssl_write(&p.cli.ssl, msg, sizeof msg), (int)sizeof msg);
    CHECK_EQ(tls_conn_read(&p.conn, got, sizeof got), TLS_WANT_MEMORY);
    CHECK_EQ(tls_conn_write(&p.conn, msg, sizeof msg), TLS_WANT_MEMORY);
    CHECK_EQ(tls_conn_shutdown(&p.conn), TLS_WANT_MEMORY);
    CHECK(p.conn.parked);
    CHECK_EQ(p.conn.state, TLS_CS_OPEN);
    CHECK_EQ(p.conn.reason, TLS_R_NONE);
    CHECK_EQ(p.conn.mem.denied, 0);
    p.conn.mem.limit = limit; /* memory again */
    CHECK_EQ(tls_conn_read(&p.conn, got, sizeof got), (int)sizeof got);
    CHECK(memcmp(msg, got, sizeof got) == 0);
    CHECK(!p.conn.parked);
    pair_free(&p);
}

/* Many connections open at once, parked: the PSA key store grows by
 * slices while their handshakes run (two keys per open connection), and
 * the slices are the program's (MBEDTLS_PSA_KEY_SLICE_CALLOC), so every
 * connection's account still comes back to zero. */
static void test_many_parked_key_store_grows(void)
{
    enum { N = 120 };
    struct pair *ps = calloc(N, sizeof *ps);
    CHECK(ps != NULL);
    size_t parked_total = 0;
    for (int i = 0; i < N; i++) {
        CHECK_CONNECTED(&ps[i], &SRV, 0, .host = "api.example.com", .trust = K_API, .version = i % 2 ? 13 : 0);
        CHECK(tls_conn_park(&ps[i].conn));
        parked_total += ps[i].conn.mem.used;
    }
    printf("# MEM %d connections parked: %zu bytes charged to them, %zu each\n", N, parked_total, parked_total / N);
    CHECK(parked_total < (size_t)N * TLS_PARKED_MEM_MAX);
    for (int i = 0; i < N; i++)
        pair_free(&ps[i]); /* each account back to zero, though their keys made the store grow */
    free(ps);
}

/* ---------------------------------------------- configuration errors ---- */

static void test_config_errors(void)
{
    struct tls_server s;
    CHECK_EQ(server_setup(&s, NULL), 0);
    char err[256];
    /* RSA-1024 */
    CHECK_EQ(tls_server_add_cert(&s, (const uint8_t *)KEYS[K_SMALL].crt_pem, KEYS[K_SMALL].crt_len, K_SMALL,
                                 KEYS[K_SMALL].fp, NULL, 0, false, err, sizeof err),
             TLS_E_INVAL);
    CHECK(strstr(err, "1024 bits") != NULL);
    /* a certificate with somebody else's key */
    CHECK_EQ(tls_server_add_cert(&s, (const uint8_t *)KEYS[K_API].crt_pem, KEYS[K_API].crt_len, K_API, KEYS[K_WILD].fp,
                                 NULL, 0, false, err, sizeof err),
             TLS_E_INVAL);
    CHECK(strstr(err, "does not match") != NULL);
    /* not a certificate */
    const char *junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    CHECK_EQ(tls_server_add_cert(&s, (const uint8_t *)junk, strlen(junk), 0, NULL, NULL, 0, false, err, sizeof err),
             TLS_E_INVAL);
    CHECK(strlen(err) > 0);
    /* a key file where the certificate should be */
    CHECK_EQ(tls_server_add_cert(&s, (const uint8_t *)"hello", 5, 0, NULL, NULL, 0, false, err, sizeof err),
             TLS_E_INVAL);
    /* a bad server name */
    static const char *const bad_names[] = { "*.com" };
    CHECK_EQ(tls_server_add_cert(&s, (const uint8_t *)KEYS[K_API].crt_pem, KEYS[K_API].crt_len, K_API, KEYS[K_API].fp,
                                 bad_names, 1, false, err, sizeof err),
             TLS_E_INVAL);
    CHECK(strstr(err, "*.com") != NULL);
    CHECK_EQ(s.n_certs, 4); /* none of the refused ones was added */
    /* ALPN names */
    static const char *const long_alpn[] = { "a-protocol-name-that-is-far-too-long-for-us" };
    CHECK_EQ(tls_server_set_alpn(&s, long_alpn, 1, err, sizeof err), TLS_E_INVAL);
    tls_server_free(&s);
    /* a ticket lifetime longer than the rotation period */
    struct srv_opts so = { .rotate = 10, .lifetime = 20 };
    struct tls_server s2;
    CHECK_EQ(server_setup(&s2, &so), -1);
}

/* ------------------------------------------------------ handshake time ---- */

static void time_handshakes(const char *name, const char *host, int trust, const uint16_t *groups, int count)
{
    double t0 = now_ms(), srv_ms = 0;
    for (int i = 0; i < count; i++) {
        struct pair p;
        int cr;
        struct cli_opts o = { .host = host, .trust = trust, .groups = groups };
        CHECK_EQ(connect_pair(&p, &SRV, &o, 0, &cr, &srv_ms), TLS_OK);
        pair_free(&p);
    }
    double total = now_ms() - t0;
    printf("# TIME handshake.%s: %.2f ms per handshake (client and server in one process), server share %.2f ms\n",
           name, total / count, srv_ms / count);
}

static void test_handshake_times(void)
{
    static const uint16_t p256[] = { MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1, MBEDTLS_SSL_IANA_TLS_GROUP_NONE };
    time_handshakes("full.ecdsa_p256.x25519", "api.example.com", K_API, NULL, 30);
    time_handshakes("full.ecdsa_p256.p256", "api.example.com", K_API, p256, 30);
    time_handshakes("full.rsa_2048.x25519", "rsa.test", K_RSA, NULL, 30);
    time_handshakes("full.rsa_2048.p256", "rsa.test", K_RSA, p256, 30);
    /* resumed */
    struct pair p;
    mbedtls_ssl_session sess;
    CHECK_EQ(full_then_resume(&SRV, &p, &sess), 0);
    pair_free(&p);
    double t0 = now_ms(), srv_ms = 0;
    int n = 100;
    for (int i = 0; i < n; i++) {
        int cr;
        struct cli_opts o = { .host = "api.example.com", .trust = K_API, .resume = &sess };
        CHECK_EQ(connect_pair(&p, &SRV, &o, 0, &cr, &srv_ms), TLS_OK);
        CHECK(p.conn.resumed);
        pair_free(&p);
    }
    printf("# TIME handshake.resumed: %.2f ms per handshake (client and server), server share %.2f ms\n",
           (now_ms() - t0) / n, srv_ms / n);
    mbedtls_ssl_session_free(&sess);
}

/* Teardown: the listener gone, nothing the engine allocated is left. */

static void test_teardown_nothing_leaked(void)
{
    struct heap_stats after;
    /* (Each connection's own account was checked by pair_free; the keys
     * may have grown since BEFORE: RSA blinding values live in them.) */
    CHECK_EQ(SRV.stats.current, 0);
    tls_server_free(&SRV);
    remove_keys();
    mbedtls_psa_crypto_free(); /* the opaque keys' registrations and PSA's slots */
    mbedtls_ctr_drbg_free(&DRBG);
    mbedtls_entropy_free(&ENT);
    heap_stats(&HEAP, &after);
    CHECK_EQ(after.live_allocs, 0);
    CHECK_EQ(heap_check(&HEAP), HEAP_OK);
}

/* The grow hook (tls_mem_set_grow): an allocation the heap cannot hold
 * asks for more memory once, and fails cleanly when none comes. */
static size_t GROW_ASKED;
static bool GROW_GIVES;
static bool grow_once(size_t bytes)
{
    GROW_ASKED = bytes;
    if (!GROW_GIVES)
        return false;
    GROW_GIVES = false;
    size_t len = 2 * ARENA_BYTES;
    void *more = malloc(len); /* lives as long as the test program */
    return more && heap_grow(&HEAP, more, len) == HEAP_OK;
}

static void test_mem_grows_on_demand(void)
{
    size_t big = ARENA_BYTES + 4096;
    GROW_ASKED = 0;
    GROW_GIVES = false;
    tls_mem_set_grow(grow_once);
    CHECK(tls_mem_calloc(1, big) == NULL); /* the hook refused: NULL, nothing charged */
    CHECK(GROW_ASKED >= big);
    GROW_GIVES = true;
    uint8_t *p = tls_mem_calloc(1, big);
    CHECK(p != NULL);
    if (p) {
        CHECK_EQ(p[big - 1], 0);
        tls_mem_free(p);
    }
    tls_mem_set_grow(NULL);
    CHECK_EQ(heap_check(&HEAP), HEAP_OK);
}

/* tls_mem_alloc (tlsd's pending buffer, not zeroed): charged, limited and
 * freed like tls_mem_calloc. */
static void test_mem_alloc_unzeroed_is_accounted(void)
{
    struct tls_mem_account a = { .limit = 20000 };
    struct tls_mem_account *prev = tls_mem_enter(&a);
    uint8_t *p = tls_mem_alloc(16384);
    CHECK(p != NULL);
    CHECK_EQ(a.allocs, 1);
    CHECK(a.used >= 16384);
    CHECK(tls_mem_alloc(16384) == NULL); /* past the limit */
    CHECK_EQ(a.denied, 1);
    if (p) {
        memset(p, 0xa5, 16384); /* all of it is the caller's */
        tls_mem_free(p);
    }
    CHECK_EQ(a.allocs, 0);
    CHECK_EQ(a.used, 0);
    tls_mem_leave(prev);
    CHECK_EQ(heap_check(&HEAP), HEAP_OK);
}

/* ------------------------------------------------------------- main ---- */

int main(void)
{
    void *arena = malloc(ARENA_BYTES);
    if (!arena || heap_init(&HEAP, arena, ARENA_BYTES, heap_report) != HEAP_OK)
        return 1;
    tls_mem_init(&HEAP);
    mbedtls_entropy_init(&ENT);
    mbedtls_ctr_drbg_init(&DRBG);
    if (mbedtls_entropy_add_source(&ENT, host_entropy, NULL, 32, MBEDTLS_ENTROPY_SOURCE_STRONG) != 0 ||
        mbedtls_ctr_drbg_seed(&DRBG, mbedtls_entropy_func, &ENT, (const unsigned char *)"test", 4) != 0) {
        printf("FAIL tls_conn.setup: no random numbers\n0 passed, 1 failed\n");
        return 1;
    }
    if (tls_psa_init(mbedtls_ctr_drbg_random, &DRBG) != TLS_PSA_OK) {
        printf("FAIL tls_conn.setup: PSA would not start\n0 passed, 1 failed\n");
        return 1;
    }
    if (make_keys() != 0 || server_setup(&SRV, NULL) != 0) {
        remove_keys();
        printf("FAIL tls_conn.setup: could not make keys with openssl (package openssl) or set up the server\n"
               "0 passed, 1 failed\n");
        return 1;
    }

    static const struct unit_test tests[] = {
        UNIT_TEST(test_mem_grows_on_demand),
        UNIT_TEST(test_mem_alloc_unzeroed_is_accounted),
        UNIT_TEST(test_sni_default_without_sni),
        UNIT_TEST(test_sni_exact),
        UNIT_TEST(test_sni_wildcard),
        UNIT_TEST(test_sni_unknown_name_gets_default),
        UNIT_TEST(test_sni_wildcard_one_label_only),
        UNIT_TEST(test_rsa_certificate),
        UNIT_TEST(test_data_both_ways),
        UNIT_TEST(test_close_notify_and_half_close),
        UNIT_TEST(test_server_closes_first),
        UNIT_TEST(test_end_of_stream_without_close_notify),
        UNIT_TEST(test_resumption_by_ticket),
        UNIT_TEST(test_ticket_rotation_and_expiry),
        UNIT_TEST(test_tampered_ticket),
        UNIT_TEST(test_alpn),
        UNIT_TEST(test_signer_full_defers),
        UNIT_TEST(test_async_signature_waits),
        UNIT_TEST(test_refused_signature),
        UNIT_TEST(test_tls13_ecdsa),
        UNIT_TEST(test_tls13_rsa_pss),
        UNIT_TEST(test_tls13_resumption_by_ticket),
        UNIT_TEST(test_tls13_refused_signature),
        UNIT_TEST(test_tls13_only_refuses_tls12),
        UNIT_TEST(test_tls12_only_refuses_tls13),
        UNIT_TEST(test_refuses_garbage),
        UNIT_TEST(test_refuses_old_version),
        UNIT_TEST(test_refuses_no_common_suite),
        UNIT_TEST(test_refuses_oversized_record),
        UNIT_TEST(test_refuses_truncated_hello),
        UNIT_TEST(test_transport_error),
        UNIT_TEST(test_memory_figures_and_limit),
        UNIT_TEST(test_park_between_records_tls12),
        UNIT_TEST(test_park_between_records_tls13),
        UNIT_TEST(test_park_refused_mid_record),
        UNIT_TEST(test_park_no_memory_waits),
        UNIT_TEST(test_many_parked_key_store_grows),
        UNIT_TEST(test_config_errors),
        UNIT_TEST(test_handshake_times),
        UNIT_TEST(test_teardown_nothing_leaked),
    };
    int r = unit_main("tls_conn", tests, (int)(sizeof tests / sizeof tests[0]));
    free(arena);
    return r;
}
