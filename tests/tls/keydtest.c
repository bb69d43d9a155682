/*
 * keydtest.c - keyd and the TLS engine in the guest (program `keydtest`).
 *
 * Role "client" (the default): keyd's client, as tlsd will be.  Opens the
 * test keys keyd reads from the site archive, checks their fingerprints
 * against the certificates (also in the site archive), has keyd sign and
 * verifies the signatures, checks keyd's refusals, then runs full and
 * resumed TLS handshakes between an mbedTLS client and the engine
 * (tls_conn) in memory, the engine's signatures going to keyd, and moves
 * bulk data through it.  Prints `PASS name` / `FAIL name: why`, timing
 * lines (`keydtest: TIME name=... value=... unit=...`), `N passed, N
 * failed`, and ends the VM (debug capability).
 *
 * Role "intruder" (args `intruder`): a second client of keyd's endpoint
 * with another badge; keyd must refuse it everything.  Prints its own
 * PASS/FAIL line and then waits for ever.
 *
 * The site archive (made by tests/tls/test_keyd.py with openssl, never
 * committed) holds ec.key/ec.crt (P-256), rsa.key/rsa.crt (RSA 2048),
 * small.key (RSA 1024) and appliance.conf.  The manifest lines are in that
 * script.
 */
#include <keel/cpio.h>
#include <keel/init.h>
#include <keel/keyd.h>
#include <keel/keyd_client.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "mbedtls/sha256.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

#include "entropy.h"
#include "tls_conn.h"
#include "tls_pk.h"
#include "tls_plat.h"

#define SHM_VA     0x0000006000000000ull
#define SITE_VA    0x0000006100000000ull
#define HEAP_BYTES (6u << 20)

static int n_passed, n_failed;
static struct tls_entropy ENT;
static struct keyd_client KC;
static uint64_t EP, NOTIFY;
static const uint8_t *SITE;
static size_t SITE_LEN;

static void result(const char *name, int ok, const char *why)
{
    if (ok) {
        ulog("PASS %s\n", name);
        n_passed++;
    } else {
        ulog("FAIL %s: %s\n", name, why ? why : "failed");
        n_failed++;
    }
}

static void time_line(const char *name, uint64_t ns, unsigned count)
{
    uint64_t us = ns / 1000 / (count ? count : 1);
    ulog("keydtest: TIME name=%s value=%llu.%03llu unit=ms\n", name, (unsigned long long)(us / 1000),
         (unsigned long long)(us % 1000));
}

/* Waits for keyd: its notification when a request is out, a millisecond
 * when keyd was too busy to take it (keyd_client.h). */
static void wait_keyd(void)
{
    if (keyd_client_unsubmitted(&KC) || !NOTIFY) {
        (void)tls_plat_sleep_ns(1000000);
        return;
    }
    uint64_t bits = 0;
    (void)keel_wait(NOTIFY, 0, &bits);
}

/* A file of the site archive, parsed as a certificate. */
static int load_crt(const char *name, mbedtls_x509_crt *crt)
{
    const void *data;
    size_t size;
    mbedtls_x509_crt_init(crt);
    if (cpio_find(SITE, SITE_LEN, name, &data, &size) != 0)
        return -1;
    unsigned char *copy = tls_mem_calloc(1, size + 1);
    if (!copy)
        return -1;
    memcpy(copy, data, size);
    int r = mbedtls_x509_crt_parse(crt, copy, size + 1);
    tls_mem_free(copy);
    return r;
}

/* ----------------------------------------------------- keyd protocol ---- */

static uint32_t ID_EC, ID_RSA;
static uint8_t FP_EC[32], FP_RSA[32];

static void t_open(void)
{
    uint32_t n = 0, gen = 0;
    int r = keyd_client_info(&KC, &n, &gen);
    char why[128];
    snprintf(why, sizeof why, "KEYD_INFO: %d (%s), generation %u", r, keyd_strerror(r), gen);
    result("keyd.info", r == 0 && gen >= 1, why);

    mbedtls_x509_crt ec, rsa;
    int ce = load_crt("ec.crt", &ec), cr = load_crt("rsa.crt", &rsa);
    uint8_t fp[32];
    unsigned type = 0, bits = 0;
    r = keyd_client_open(&KC, "ec.key", &ID_EC, &type, &bits, FP_EC);
    int same = ce == 0 && tls_pk_fingerprint(&ec.pk, fp) == 0 && memcmp(fp, FP_EC, 32) == 0;
    snprintf(why, sizeof why, "open: %d (%s), type %u, bits %u, certificate %d, fingerprints %s", r, keyd_strerror(r),
             type, bits, ce, same ? "equal" : "differ");
    result("keyd.open_ec_key_matches_certificate", r == 0 && type == KEYD_KEY_EC && bits == 256 && same, why);

    r = keyd_client_open(&KC, "rsa.key", &ID_RSA, &type, &bits, FP_RSA);
    same = cr == 0 && tls_pk_fingerprint(&rsa.pk, fp) == 0 && memcmp(fp, FP_RSA, 32) == 0;
    snprintf(why, sizeof why, "open: %d (%s), type %u, bits %u, fingerprints %s", r, keyd_strerror(r), type, bits,
             same ? "equal" : "differ");
    result("keyd.open_rsa_key_matches_certificate", r == 0 && type == KEYD_KEY_RSA && bits == 2048 && same, why);

    uint32_t again = 99;
    r = keyd_client_open(&KC, "ec.key", &again, &type, &bits, fp);
    result("keyd.open_same_name_same_id", r == 0 && again == ID_EC, "a second KEYD_OPEN gave another id");

    struct {
        const char *name;
        int want;
    } bad[] = {
        { "missing.key", KEYD_E_NOT_FOUND }, { "../ec.key", KEYD_E_NAME }, { "/ec.key", KEYD_E_NAME },
        { "small.key", KEYD_E_BAD_KEY },     { "ec.crt", KEYD_E_BAD_KEY }, { "appliance.conf", KEYD_E_BAD_KEY },
    };
    int all = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t id;
        r = keyd_client_open(&KC, bad[i].name, &id, &type, &bits, fp);
        if (r != bad[i].want) {
            snprintf(why, sizeof why, "%s: %d (%s), want %d", bad[i].name, r, keyd_strerror(r), bad[i].want);
            all = 0;
            break;
        }
    }
    result("keyd.open_refusals", all, why);
    mbedtls_x509_crt_free(&ec);
    mbedtls_x509_crt_free(&rsa);
}

/* One KEYD_SIGN by hand on slot SLOT; returns the reply label and leaves
 * the slot's result there once it is done. */
static int raw_sign(unsigned slot, uint64_t key, uint64_t hash, uint64_t len, const uint8_t *digest, uint32_t seq)
{
    volatile struct keyd_slot *s = &KC.slots[slot];
    for (size_t i = 0; i < len && i < KEYD_HASH_MAX; i++)
        s->data[i] = digest[i];
    s->seq = seq;
    s->state = KEYD_SLOT_IDLE;
    struct keel_msg m = { .info = KEYD_SIGN, .mr = { slot, key, hash, len } };
    int64_t err = keel_call(EP, &m);
    if (err)
        return (int)err;
    int r = (int32_t)keel_label(&m);
    if (r == 0 && m.mr[0] == KEYD_QUEUED) {
        while (s->state == KEYD_SLOT_BUSY || s->state == KEYD_SLOT_IDLE) {
            uint64_t bits = 0;
            (void)keel_wait(NOTIFY, 0, &bits);
        }
    }
    return r;
}

static void t_sign(const char *name, mbedtls_x509_crt *crt, uint32_t id)
{
    uint8_t digest[32];
    mbedtls_sha256((const unsigned char *)name, strlen(name), digest, 0);
    uint64_t t0 = keel_now_ns();
    int r = raw_sign(3, id, KEYD_HASH_SHA256, 32, digest, 4242);
    uint64_t t1 = keel_now_ns();
    volatile struct keyd_slot *s = &KC.slots[3];
    uint8_t sig[KEYD_SIG_MAX];
    uint32_t len = s->len;
    for (uint32_t i = 0; i < len && i < sizeof sig; i++)
        sig[i] = s->data[i];
    int v = -1, tampered = -1;
    if (r == 0 && s->state == KEYD_SLOT_DONE && len <= sizeof sig) {
        v = mbedtls_pk_verify(&crt->pk, MBEDTLS_MD_SHA256, digest, 32, sig, len);
        digest[5] ^= 1;
        tampered = mbedtls_pk_verify(&crt->pk, MBEDTLS_MD_SHA256, digest, 32, sig, len);
    }
    char why[128];
    snprintf(why, sizeof why, "sign %d, state %u, seq %u, %u bytes, verify -0x%x, tampered verify -0x%x", r,
             (unsigned)s->state, (unsigned)s->seq, len, (unsigned)-v, (unsigned)-tampered);
    result(name, r == 0 && s->state == KEYD_SLOT_DONE && s->seq == 4242 && v == 0 && tampered != 0, why);
    char tn[64];
    snprintf(tn, sizeof tn, "%s.round_trip", name);
    time_line(tn, t1 - t0, 1);
}

static void t_sign_refusals(void)
{
    uint8_t digest[64] = { 1, 2, 3 };
    struct {
        const char *what;
        unsigned slot;
        uint64_t key, hash, len;
        int want;
    } cases[] = {
        { "slot out of range", KEYD_SLOTS, 0, KEYD_HASH_SHA256, 32, KEYD_E_SLOT },
        { "no such key", 1, 9, KEYD_HASH_SHA256, 32, KEYD_E_KEY },
        { "unknown hash", 1, 0, 7, 32, KEYD_E_HASH },
        { "wrong length", 1, 0, KEYD_HASH_SHA384, 32, KEYD_E_HASH },
    };
    char why[128] = "";
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct keel_msg m = { .info = KEYD_SIGN, .mr = { cases[i].slot, cases[i].key, cases[i].hash, cases[i].len } };
        for (int b = 0; b < 64 && cases[i].slot < KEYD_SLOTS; b++)
            KC.slots[cases[i].slot].data[b] = digest[b];
        int64_t err = keel_call(EP, &m);
        int r = err ? (int)err : (int32_t)keel_label(&m);
        if (r != cases[i].want) {
            snprintf(why, sizeof why, "%s: %d, want %d", cases[i].what, r, cases[i].want);
            ok = 0;
            break;
        }
    }
    struct keel_msg m = { .info = KEYD_INFO, .mr = { 0, 1 } };
    int64_t err = keel_call(EP, &m);
    if (ok && (err || (int32_t)keel_label(&m) != KEYD_E_ARGS)) {
        snprintf(why, sizeof why, "KEYD_INFO with a word set: %d", (int32_t)keel_label(&m));
        ok = 0;
    }
    struct keel_msg u = { .info = 99 };
    err = keel_call(EP, &u);
    if (ok && (err || (int32_t)keel_label(&u) != KEYD_E_LABEL)) {
        snprintf(why, sizeof why, "label 99: %d", (int32_t)keel_label(&u));
        ok = 0;
    }
    /* Two requests on one slot: the second finds it busy (keyd runs below
     * us, so the first is still queued when the second arrives). */
    struct keel_msg a = { .info = KEYD_SIGN, .mr = { 6, ID_RSA, KEYD_HASH_SHA256, 32 } };
    struct keel_msg b = a;
    err = keel_call(EP, &a);
    int64_t err2 = keel_call(EP, &b);
    int ra = err ? (int)err : (int32_t)keel_label(&a), rb = err2 ? (int)err2 : (int32_t)keel_label(&b);
    if (ok && !(ra == 0 && a.mr[0] == KEYD_QUEUED && rb == KEYD_E_BUSY)) {
        snprintf(why, sizeof why, "same slot twice: %d (%llu) then %d, want 0 (queued) then %d", ra,
                 (unsigned long long)a.mr[0], rb, KEYD_E_BUSY);
        ok = 0;
    }
    while (KC.slots[6].state == KEYD_SLOT_BUSY) {
        uint64_t bits = 0;
        (void)keel_wait(NOTIFY, 0, &bits);
    }
    result("keyd.sign_refusals", ok, why);
}

/* ------------------------------------------------ TLS through keyd ---- */

#define PIPE_CAP (64 * 1024)
struct pipe {
    uint8_t buf[PIPE_CAP];
    size_t head, len;
};
struct link {
    struct pipe c2s, s2c;
};

static int pipe_write(struct pipe *p, const uint8_t *b, size_t n)
{
    size_t room = PIPE_CAP - p->len;
    if (!room)
        return TLS_IO_AGAIN;
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++)
        p->buf[(p->head + p->len + i) % PIPE_CAP] = b[i];
    p->len += n;
    return (int)n;
}

static int pipe_read(struct pipe *p, uint8_t *b, size_t n)
{
    if (!p->len)
        return TLS_IO_AGAIN;
    if (n > p->len)
        n = p->len;
    for (size_t i = 0; i < n; i++)
        b[i] = p->buf[(p->head + i) % PIPE_CAP];
    p->head = (p->head + n) % PIPE_CAP;
    p->len -= n;
    return (int)n;
}

static int srv_send(void *io, const uint8_t *b, size_t n) { return pipe_write(&((struct link *)io)->s2c, b, n); }
static int srv_recv(void *io, uint8_t *b, size_t n) { return pipe_read(&((struct link *)io)->c2s, b, n); }
static const struct tls_transport SRV_IO = { srv_send, srv_recv };
static int cli_send(void *io, const unsigned char *b, size_t n)
{
    int r = pipe_write(&((struct link *)io)->c2s, b, n);
    return r == TLS_IO_AGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : r;
}
static int cli_recv(void *io, unsigned char *b, size_t n)
{
    int r = pipe_read(&((struct link *)io)->s2c, b, n);
    return r == TLS_IO_AGAIN ? MBEDTLS_ERR_SSL_WANT_READ : r;
}

static struct link LINK;
static struct tls_server SRV;
static mbedtls_x509_crt CA_EC, CA_RSA;

struct client {
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
};

/* A client speaking TLS 1.2 only, or (V13) TLS 1.3 only. */
static int client_start_v(struct client *c, mbedtls_x509_crt *ca, const char *host, mbedtls_ssl_session *resume,
                          bool v13)
{
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_init(&c->ssl);
    int r = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
    if (r)
        return r;
    mbedtls_ssl_conf_rng(&c->conf, tls_entropy_random, &ENT);
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, ca, NULL);
    mbedtls_ssl_conf_min_tls_version(&c->conf, v13 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&c->conf, v13 ? MBEDTLS_SSL_VERSION_TLS1_3 : MBEDTLS_SSL_VERSION_TLS1_2);
    if ((r = mbedtls_ssl_setup(&c->ssl, &c->conf)) || (r = mbedtls_ssl_set_hostname(&c->ssl, host)))
        return r;
    if (resume && (r = mbedtls_ssl_set_session(&c->ssl, resume)))
        return r;
    memset(&LINK, 0, sizeof LINK);
    mbedtls_ssl_set_bio(&c->ssl, &LINK, cli_send, cli_recv, NULL);
    return 0;
}

static int client_start(struct client *c, mbedtls_x509_crt *ca, const char *host, mbedtls_ssl_session *resume)
{
    return client_start_v(c, ca, host, resume, false);
}

static void client_free(struct client *c)
{
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
}

/* Runs one handshake to the end.  Returns the server's status; *cr the
 * client's; *srv_ns the time spent in the engine's calls (keyd's signing
 * runs in between, in keyd). */
static int handshake(struct tls_conn *conn, struct client *c, int *cr, uint64_t *srv_ns)
{
    int sr = TLS_WANT_READ;
    *cr = MBEDTLS_ERR_SSL_WANT_READ;
    for (int round = 0; round < 10000; round++) {
        if (*cr != 0)
            *cr = mbedtls_ssl_handshake(&c->ssl);
        uint64_t t0 = keel_now_ns();
        sr = tls_conn_handshake(conn);
        *srv_ns += keel_now_ns() - t0;
        if (sr == TLS_OK && *cr == 0)
            return TLS_OK;
        if (sr == TLS_E_FAILED || (*cr != 0 && *cr != MBEDTLS_ERR_SSL_WANT_READ && *cr != MBEDTLS_ERR_SSL_WANT_WRITE))
            return sr;
        if (sr == TLS_WANT_SIGN)
            wait_keyd();
    }
    return sr;
}

/* COUNT full handshakes, TLS 1.2 or (V13) TLS 1.3.  Each asks keyd for
 * one signature: asynchronously in TLS 1.2, synchronously (the secure
 * element of tls_psa.h) in TLS 1.3. */
static void t_handshake(const char *name, mbedtls_x509_crt *ca, const char *host, int count, bool v13)
{
    uint64_t t0 = keel_now_ns(), srv_ns = 0;
    uint64_t asked = KC.submitted;
    char why[160] = "";
    int ok = 1;
    const char *suite = "?";
    for (int i = 0; i < count && ok; i++) {
        struct client c;
        struct tls_conn conn;
        int cr = client_start_v(&c, ca, host, NULL, v13);
        int sr = cr ? TLS_E_FAILED : tls_conn_init(&conn, &SRV, &SRV_IO, &LINK);
        if (sr == TLS_OK)
            sr = handshake(&conn, &c, &cr, &srv_ns);
        if (sr == TLS_OK && cr == 0 && strcmp(tls_conn_version(&conn), v13 ? "TLSv1.3" : "TLSv1.2") != 0) {
            snprintf(why, sizeof why, "negotiated %s", tls_conn_version(&conn));
            ok = 0;
        } else if (sr != TLS_OK || cr != 0) {
            char d[96];
            snprintf(why, sizeof why, "server %d (%s), client -0x%x", sr, tls_conn_describe_failure(&conn, d, sizeof d),
                     (unsigned)-cr);
            ok = 0;
        } else {
            suite = mbedtls_ssl_get_ciphersuite(&c.ssl);
        }
        if (!tls_conn_free(&conn)) {
            snprintf(why, sizeof why, "the connection's memory did not all come back");
            ok = 0;
        }
        client_free(&c);
    }
    uint64_t total = keel_now_ns() - t0;
    if (ok && KC.submitted - asked != (uint64_t)count) {
        snprintf(why, sizeof why, "keyd signed %llu times for %d handshakes",
                 (unsigned long long)(KC.submitted - asked), count);
        ok = 0;
    }
    ulog("keydtest: %s: %s\n", name, suite);
    result(name, ok, why);
    char tn[64];
    snprintf(tn, sizeof tn, "%s.total", name);
    time_line(tn, total, (unsigned)count);
    snprintf(tn, sizeof tn, "%s.engine", name);
    time_line(tn, srv_ns, (unsigned)count);
}

static void t_resumed_and_bulk(void)
{
    struct client c;
    struct tls_conn conn;
    uint64_t srv_ns = 0;
    int cr = client_start(&c, &CA_EC, "ec.test", NULL);
    int sr = cr ? TLS_E_FAILED : tls_conn_init(&conn, &SRV, &SRV_IO, &LINK);
    if (sr == TLS_OK)
        sr = handshake(&conn, &c, &cr, &srv_ns);
    mbedtls_ssl_session sess;
    mbedtls_ssl_session_init(&sess);
    int got = sr == TLS_OK && cr == 0 ? mbedtls_ssl_get_session(&c.ssl, &sess) : -1;

    /* Bulk: 4 MiB from the engine to the client, 1 MiB back. */
    enum { DOWN = 4 << 20, UP = 1 << 20, CHUNK = 16384 };
    static uint8_t buf[CHUNK], in[CHUNK];
    for (size_t i = 0; i < CHUNK; i++)
        buf[i] = (uint8_t)(i * 131);
    size_t sent = 0, rcvd = 0, up_sent = 0, up_rcvd = 0;
    uint64_t t0 = keel_now_ns();
    int ok = sr == TLS_OK && cr == 0;
    for (int guard = 0; ok && (rcvd < DOWN || up_rcvd < UP) && guard < 1000000; guard++) {
        if (sent < DOWN) {
            int w = tls_conn_write(&conn, buf, DOWN - sent < CHUNK ? DOWN - sent : CHUNK);
            if (w > 0)
                sent += (size_t)w;
            else if (w != TLS_WANT_WRITE)
                ok = 0;
        } else {
            (void)tls_conn_flush(&conn);
        }
        int r = mbedtls_ssl_read(&c.ssl, in, sizeof in);
        if (r > 0) {
            for (int i = 0; i < r; i++)
                if (in[i] != (uint8_t)((rcvd + (size_t)i) % CHUNK * 131))
                    ok = 0;
            rcvd += (size_t)r;
        }
        if (up_sent < UP) {
            int w = mbedtls_ssl_write(&c.ssl, buf, UP - up_sent < CHUNK ? UP - up_sent : CHUNK);
            if (w > 0)
                up_sent += (size_t)w;
        }
        r = tls_conn_read(&conn, in, sizeof in);
        if (r > 0)
            up_rcvd += (size_t)r;
        else if (r != TLS_WANT_READ)
            ok = 0;
    }
    uint64_t ns = keel_now_ns() - t0;
    char why[128];
    snprintf(why, sizeof why, "sent %zu, received %zu; up %zu/%zu", sent, rcvd, up_sent, up_rcvd);
    result("tls.bulk_both_ways_through_engine", ok && rcvd == DOWN && up_rcvd == UP, why);
    uint64_t kbps = ns ? (uint64_t)(DOWN + UP) * 1000000000ull / ns / 1024 : 0;
    ulog("keydtest: TIME name=tls.bulk value=%llu.%02llu unit=MB/s (encrypt+decrypt, both ends in this task)\n",
         (unsigned long long)(kbps / 1024), (unsigned long long)(kbps % 1024 * 100 / 1024));
    (void)tls_conn_shutdown(&conn);
    (void)tls_conn_free(&conn);
    client_free(&c);

    /* Resumed handshakes with that session's ticket: no keyd involved. */
    unsigned signs = (unsigned)KC.submitted;
    int n = 10, resumed = 0;
    srv_ns = 0;
    t0 = keel_now_ns();
    for (int i = 0; i < n && got == 0; i++) {
        cr = client_start(&c, &CA_EC, "ec.test", &sess);
        sr = cr ? TLS_E_FAILED : tls_conn_init(&conn, &SRV, &SRV_IO, &LINK);
        if (sr == TLS_OK && handshake(&conn, &c, &cr, &srv_ns) == TLS_OK && cr == 0 && conn.resumed)
            resumed++;
        (void)tls_conn_free(&conn);
        client_free(&c);
    }
    ns = keel_now_ns() - t0;
    snprintf(why, sizeof why, "%d of %d resumed, keyd asked %u times", resumed, n, (unsigned)KC.submitted - signs);
    result("tls.resumed_handshakes_skip_keyd", resumed == n && KC.submitted == signs, why);
    time_line("tls.handshake.resumed.total", ns, (unsigned)n);
    time_line("tls.handshake.resumed.engine", srv_ns, (unsigned)n);
    mbedtls_ssl_session_free(&sess);
}

static void t_tls(void)
{
    int a = load_crt("ec.crt", &CA_EC), b = load_crt("rsa.crt", &CA_RSA);
    struct tls_server_opts o = {
        .f_rng = tls_entropy_random,
        .p_rng = &ENT,
        .signer = keyd_client_signer(&KC),
        .now_s = keel_now_ns() / 1000000000ull,
    };
    char err[160] = "";
    static const char *const ec_names[] = { "ec.test" };
    static const char *const rsa_names[] = { "rsa.test" };
    const void *pem;
    size_t len;
    int r = a || b ? -1 : tls_server_init(&SRV, &o, err, sizeof err);
    if (!r && cpio_find(SITE, SITE_LEN, "ec.crt", &pem, &len) == 0)
        r = tls_server_add_cert(&SRV, pem, len, ID_EC, FP_EC, ec_names, 1, true, err, sizeof err);
    if (!r && cpio_find(SITE, SITE_LEN, "rsa.crt", &pem, &len) == 0)
        r = tls_server_add_cert(&SRV, pem, len, ID_RSA, FP_RSA, rsa_names, 1, false, err, sizeof err);
    /* a certificate with the other key's fingerprint is refused */
    int mismatch = -1;
    if (!r && cpio_find(SITE, SITE_LEN, "rsa.crt", &pem, &len) == 0)
        mismatch = tls_server_add_cert(&SRV, pem, len, ID_EC, FP_EC, NULL, 0, false, err + 80, sizeof err - 80);
    result("tls.listener_with_keyd_keys", r == 0 && mismatch == TLS_E_INVAL, err[0] ? err : err + 80);
    if (r)
        return;
    t_handshake("tls.handshake.full.ecdsa_p256", &CA_EC, "ec.test", 3, false);
    t_handshake("tls.handshake.full.rsa_2048", &CA_RSA, "rsa.test", 3, false);
    t_handshake("tls13.handshake.full.ecdsa_p256", &CA_EC, "ec.test", 3, true);
    t_handshake("tls13.handshake.full.rsa_2048_pss", &CA_RSA, "rsa.test", 3, true);
    t_resumed_and_bulk();
    const struct tls_stats *st = &SRV.stats;
    uint64_t failed = 0;
    for (int i = 0; i < TLS_R_COUNT; i++)
        failed += st->failed[i];
    ulog("keydtest: listener: %llu handshakes, %llu resumed, %llu failed, %llu bytes in, %llu out; keyd: %llu "
         "signatures, %llu retries\n",
         (unsigned long long)st->handshakes_ok, (unsigned long long)st->resumed, (unsigned long long)failed,
         (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out, (unsigned long long)KC.done,
         (unsigned long long)KC.retries);
    tls_server_free(&SRV);
    mbedtls_x509_crt_free(&CA_EC);
    mbedtls_x509_crt_free(&CA_RSA);
}

/* ------------------------------------------------------------ roles ---- */

__attribute__((noreturn)) static void idle_forever(void)
{
    for (;;)
        (void)tls_plat_sleep_ns(1000000000000ull);
}

static void intruder(const struct keel_srvinfo *si)
{
    uint64_t ep = srv_find_cap(si, "ep:keyd");
    struct keel_msg m = { .info = KEYD_INFO };
    int64_t err = keel_call(ep, &m);
    int r1 = err ? (int)err : (int32_t)keel_label(&m);
    struct keel_msg s = { .info = KEYD_SIGN, .mr = { 0, 0, KEYD_HASH_SHA256, 32 } };
    err = keel_call(ep, &s);
    int r2 = err ? (int)err : (int32_t)keel_label(&s);
    if (r1 == KEYD_E_CLIENT && r2 == KEYD_E_CLIENT && (m.mr[0] | m.mr[1] | m.mr[2] | m.mr[3]) == 0)
        ulog("PASS keyd.refuses_other_clients\n");
    else
        ulog("FAIL keyd.refuses_other_clients: KEYD_INFO %d, KEYD_SIGN %d, want %d\n", r1, r2, KEYD_E_CLIENT);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    if (tls_plat_init(si, strcmp(si->args, "intruder") == 0 ? (64u << 10) : HEAP_BYTES) != TLS_PLAT_OK)
        return 1;
    srv_ready();
    if (strcmp(si->args, "intruder") == 0) {
        intruder(si);
        idle_forever();
    }
    uint64_t debug = srv_find_cap(si, "debug");
    ulog("keydtest: starting\n");
    char rng_name[40];
    snprintf(rng_name, sizeof rng_name, "ep:%s", si->args[0] ? si->args : "rng");
    struct tls_entropy_opts eo = { .rng_ep = srv_find_cap(si, rng_name), .rng_wait_ns = 3000000000ull, .who = "kt" };
    int e = tls_entropy_init(&ENT, &eo);
    EP = srv_find_cap(si, "ep:keyd");
    NOTIFY = srv_find_cap(si, "notify:keydtest");
    uint64_t shm = srv_find_cap(si, "shm:keyd"), site = srv_find_cap(si, "site");
    int mapped = shm && keel_map(SRV_SLOT_TASK, shm, SHM_VA, RIGHT_READ | RIGHT_WRITE) == KE_OK;
    if (site && si->site_size && keel_map(SRV_SLOT_TASK, site, SITE_VA, RIGHT_READ) == KE_OK) {
        SITE = (const uint8_t *)SITE_VA + si->site_offset;
        SITE_LEN = si->site_size;
    }
    char why[128];
    snprintf(why, sizeof why, "entropy %d, ep:keyd %llu, shm %d, site %llu bytes, notify %llu", e,
             (unsigned long long)EP, mapped, (unsigned long long)SITE_LEN, (unsigned long long)NOTIFY);
    int setup = e == TLS_ENT_OK && EP && mapped && SITE && NOTIFY;
    if (setup) {
        int r = keyd_client_init(&KC, EP, (void *)SHM_VA);
        if (r)
            snprintf(why, sizeof why, "keyd_client_init: %d (%s)", r, keyd_strerror(r));
        setup = r == 0;
    }
    result("keydtest.setup", setup, why);
    if (setup) {
        t_open();
        mbedtls_x509_crt ec, rsa;
        if (load_crt("ec.crt", &ec) == 0 && load_crt("rsa.crt", &rsa) == 0) {
            t_sign("keyd.sign_ecdsa_p256_verifies", &ec, ID_EC);
            t_sign("keyd.sign_rsa_2048_verifies", &rsa, ID_RSA);
        }
        mbedtls_x509_crt_free(&ec);
        mbedtls_x509_crt_free(&rsa);
        t_sign_refusals();
        t_tls();
    }
    size_t used = 0, total = 0;
    tls_plat_heap_usage(&used, &total);
    ulog("keydtest: heap %zu of %zu bytes in use at the end\n", used, total);
    ulog("%d passed, %d failed\n", n_passed, n_failed);
    (void)keel_debug_halt(debug, n_failed ? 1 : 0);
    return 0;
}
