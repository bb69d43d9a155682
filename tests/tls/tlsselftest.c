/*
 * tlsselftest.c - the link test of Keel's freestanding mbedTLS (program
 * `tlsselftest`, started under `when tlsselftest`): mbedTLS's own
 * self-tests for every algorithm the configuration turns on, our entropy
 * module, and ECDSA/ECDH with keys made from it.  (Handshakes through the
 * engine and keyd are keydtest's.)
 *
 * Prints `PASS name` or `FAIL name: why` per test, timing lines
 * (`tlsselftest: TIME name=... value=... unit=...`), then
 * `N passed, N failed`, and ends the VM through the debug capability
 * (QEMU status 1 when everything passed, 3 otherwise).
 *
 * Manifest: server tlsselftest when tlsselftest memory 8M debug
 * Optionally `args NAME connect NAME` with NAME the endpoint of a
 * virtio-rng server (`server NAME when tlsselftest pci rng 0 endpoint NAME`):
 * then the entropy test also expects that server as a source.
 */
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "mbedtls/aes.h"
#include "mbedtls/base64.h"
#include "mbedtls/bignum.h"
#include "mbedtls/chacha20.h"
#include "mbedtls/chachapoly.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecdh.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/gcm.h"
#include "mbedtls/hmac_drbg.h"
#include "mbedtls/poly1305.h"
#include "mbedtls/rsa.h"
#include "mbedtls/sha1.h"
#include "mbedtls/sha256.h"
#include "mbedtls/sha512.h"

#include "entropy.h"
#include "tls_mem.h"
#include "tls_plat.h"

#define HEAP_BYTES (6u << 20)

static int n_passed, n_failed;
static struct tls_entropy ENT;
static bool ent_ok;

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
    ulog("tlsselftest: TIME name=%s value=%llu.%03llu unit=ms\n", name, (unsigned long long)(us / 1000),
         (unsigned long long)(us % 1000));
}

/* mbedTLS's self-tests: 0 means passed.  verbose 0: they print nothing. */
static void self_test(const char *name, int (*fn)(int))
{
    const struct tls_mem_account *g = tls_mem_global();
    size_t allocs = g->allocs;
    uint64_t t0 = keel_now_ns();
    int r = fn(0);
    uint64_t t1 = keel_now_ns();
    char why[64];
    snprintf(why, sizeof why, "returned %d", r);
    if (r == 0 && g->allocs != allocs) {
        snprintf(why, sizeof why, "leaked %zu blocks", g->allocs - allocs);
        r = -1;
    }
    result(name, r == 0, why);
    time_line(name, t1 - t0, 1);
}

/* The entropy server's endpoint: "ep:" + the manifest's args word (the
 * name of the endpoint to use), or "ep:rng". */
static uint64_t rng_endpoint(const struct keel_srvinfo *si)
{
    char name[40];
    snprintf(name, sizeof name, "ep:%s", si->args[0] ? si->args : "rng");
    return srv_find_cap(si, name);
}

static void t_entropy(const struct keel_srvinfo *si)
{
    struct tls_entropy_opts o = {
        .rng_ep = rng_endpoint(si),
        .rng_wait_ns = 3000000000ull,
        .who = "tlsselftest",
    };
    int r = tls_entropy_init(&ENT, &o);
    char desc[64], why[128];
    tls_entropy_describe(&ENT, desc, sizeof desc);
    ulog("tlsselftest: entropy sources: %s (rdrand %s, rdseed %s, entropy server %s)\n", desc,
         tls_cpu_has_rdrand() ? "in CPUID" : "absent", tls_cpu_has_rdseed() ? "in CPUID" : "absent",
         o.rng_ep ? "connected" : "not connected");
    snprintf(why, sizeof why, "tls_entropy_init: %d, sources %s", r, desc);
    result("entropy.init", r == TLS_ENT_OK, why);
    ent_ok = r == TLS_ENT_OK;
    if (o.rng_ep) {
        snprintf(why, sizeof why, "the entropy server is connected but not used (%s)", desc);
        result("entropy.uses_rng_server", (ENT.sources & TLS_ENT_RNG_SERVER) != 0, why);
    }
    if (!ent_ok)
        return;

    /* Draw enough to force reseeds through every source, and check the
     * output is not trivially broken. */
    uint8_t a[64], b[64];
    int ok = tls_entropy_random(&ENT, a, sizeof a) == 0 && tls_entropy_random(&ENT, b, sizeof b) == 0 &&
             memcmp(a, b, sizeof a) != 0;
    result("entropy.drbg_draws", ok, "two draws failed or were equal");
    ok = mbedtls_ctr_drbg_reseed(&ENT.drbg, NULL, 0) == 0;
    result("entropy.reseed_from_sources", ok, "mbedtls_ctr_drbg_reseed failed");
    unsigned live = ENT.sources & ~ENT.dead;
    int fed = 1;
    for (int i = 0; i < TLS_ENT_N_SOURCES; i++)
        if ((live & (1u << i)) && ENT.bytes[i] == 0)
            fed = 0;
    snprintf(why, sizeof why, "a live source gave nothing (rng %llu, rdseed %llu, rdrand %llu bytes)",
             (unsigned long long)ENT.bytes[0], (unsigned long long)ENT.bytes[1], (unsigned long long)ENT.bytes[2]);
    result("entropy.every_source_contributes", fed, why);

    /* No source at all: init must refuse. */
    struct tls_entropy none;
    struct tls_entropy_opts o2 = { .disable = TLS_ENT_RNG_SERVER | TLS_ENT_RDSEED | TLS_ENT_RDRAND, .who = "none" };
    r = tls_entropy_init(&none, &o2);
    snprintf(why, sizeof why, "tls_entropy_init with every source off returned %d, want %d", r, TLS_ENT_E_NONE);
    result("entropy.no_source_refused", r == TLS_ENT_E_NONE, why);
    tls_entropy_free(&none);
}

static void t_ecdsa(mbedtls_ecp_group_id gid, const char *name)
{
    mbedtls_ecdsa_context k;
    mbedtls_ecdsa_init(&k);
    uint8_t hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t slen = 0;
    char why[80] = "";
    int r = tls_entropy_random(&ENT, hash, sizeof hash);
    uint64_t t0 = keel_now_ns();
    if (!r)
        r = mbedtls_ecdsa_genkey(&k, gid, tls_entropy_random, &ENT);
    uint64_t t1 = keel_now_ns();
    if (!r)
        r = mbedtls_ecdsa_write_signature(&k, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, sizeof sig, &slen,
                                          tls_entropy_random, &ENT);
    uint64_t t2 = keel_now_ns();
    if (!r)
        r = mbedtls_ecdsa_read_signature(&k, hash, sizeof hash, sig, slen);
    uint64_t t3 = keel_now_ns();
    int bad = -1;
    if (!r) {
        hash[0] ^= 1; /* a different hash must not verify */
        bad = mbedtls_ecdsa_read_signature(&k, hash, sizeof hash, sig, slen);
    }
    snprintf(why, sizeof why, "error -0x%04x, tampered verify %d", (unsigned)-r, bad);
    result(name, r == 0 && bad != 0, why);
    char tn[48];
    snprintf(tn, sizeof tn, "%s.sign", name);
    time_line(tn, t2 - t1, 1);
    snprintf(tn, sizeof tn, "%s.verify", name);
    time_line(tn, t3 - t2, 1);
    (void)t0;
    mbedtls_ecdsa_free(&k);
}

static void t_ecdh(mbedtls_ecp_group_id gid, const char *name)
{
    mbedtls_ecdh_context a, b;
    mbedtls_ecdh_init(&a);
    mbedtls_ecdh_init(&b);
    uint8_t pa[100], pb[100], sa[66], sb[66];
    size_t la = 0, lb = 0, ka = 0, kb = 0;
    uint64_t t0 = keel_now_ns();
    int r = mbedtls_ecdh_setup(&a, gid);
    if (!r)
        r = mbedtls_ecdh_setup(&b, gid);
    if (!r)
        r = mbedtls_ecdh_make_public(&a, &la, pa, sizeof pa, tls_entropy_random, &ENT);
    if (!r)
        r = mbedtls_ecdh_make_public(&b, &lb, pb, sizeof pb, tls_entropy_random, &ENT);
    if (!r)
        r = mbedtls_ecdh_read_public(&a, pb, lb);
    if (!r)
        r = mbedtls_ecdh_read_public(&b, pa, la);
    if (!r)
        r = mbedtls_ecdh_calc_secret(&a, &ka, sa, sizeof sa, tls_entropy_random, &ENT);
    if (!r)
        r = mbedtls_ecdh_calc_secret(&b, &kb, sb, sizeof sb, tls_entropy_random, &ENT);
    uint64_t t1 = keel_now_ns();
    char why[80];
    snprintf(why, sizeof why, "error -0x%04x, secrets %zu/%zu bytes%s", (unsigned)-r, ka, kb,
             (!r && (ka != kb || memcmp(sa, sb, ka))) ? ", different" : "");
    result(name, r == 0 && ka == kb && ka > 0 && memcmp(sa, sb, ka) == 0, why);
    char tn[48];
    snprintf(tn, sizeof tn, "%s.two_sides", name);
    time_line(tn, t1 - t0, 1);
    mbedtls_ecdh_free(&a);
    mbedtls_ecdh_free(&b);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    uint64_t debug = srv_find_cap(si, "debug");
    if (tls_plat_init(si, HEAP_BYTES) != TLS_PLAT_OK) {
        ulog("tlsselftest: platform setup failed\n0 passed, 1 failed\n");
        (void)keel_debug_halt(debug, 1);
        return 1;
    }
    srv_ready();
    ulog("tlsselftest: starting (mbedTLS 3.6, appliance/tls/mbedtls_config.h)\n");

    self_test("mbedtls.aes", mbedtls_aes_self_test);
    self_test("mbedtls.gcm", mbedtls_gcm_self_test);
    self_test("mbedtls.chacha20", mbedtls_chacha20_self_test);
    self_test("mbedtls.poly1305", mbedtls_poly1305_self_test);
    self_test("mbedtls.chachapoly", mbedtls_chachapoly_self_test);
    self_test("mbedtls.sha1", mbedtls_sha1_self_test);
    self_test("mbedtls.sha256", mbedtls_sha256_self_test);
    self_test("mbedtls.sha512", mbedtls_sha512_self_test);
    self_test("mbedtls.base64", mbedtls_base64_self_test);
    self_test("mbedtls.mpi", mbedtls_mpi_self_test);
    self_test("mbedtls.rsa", mbedtls_rsa_self_test);
    self_test("mbedtls.ecp", mbedtls_ecp_self_test);
    self_test("mbedtls.ctr_drbg", mbedtls_ctr_drbg_self_test);
    self_test("mbedtls.hmac_drbg", mbedtls_hmac_drbg_self_test);
    /* Not mbedtls_entropy_self_test: it assumes a strong platform source
     * (MBEDTLS_NO_PLATFORM_ENTROPY leaves none) and fails by design here;
     * the entropy.* tests below cover our sources. */

    t_entropy(si);
    if (ent_ok) {
        t_ecdsa(MBEDTLS_ECP_DP_SECP256R1, "ecdsa.p256");
        t_ecdsa(MBEDTLS_ECP_DP_SECP384R1, "ecdsa.p384");
        t_ecdh(MBEDTLS_ECP_DP_CURVE25519, "ecdh.x25519");
        t_ecdh(MBEDTLS_ECP_DP_SECP256R1, "ecdh.p256");
    } else {
        ulog("tlsselftest: no entropy: skipping the tests that need random numbers\n");
    }

    size_t used = 0, total = 0;
    tls_plat_heap_usage(&used, &total);
    ulog("tlsselftest: heap %zu of %zu bytes in use at the end\n", used, total);
    ulog("%d passed, %d failed\n", n_passed, n_failed);
    (void)keel_debug_halt(debug, n_failed ? 1 : 0);
    return 0;
}
