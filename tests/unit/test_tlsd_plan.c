/*
 * test_tlsd_plan.c - appliance/tlsd/tlsd_plan.c: the listener diff of a
 * commit (keep, replace, new, removed), from texts parsed by the real
 * parser: a moved block (only its line differs) is kept; every setting
 * that changes makes it a replacement; a stopped listener is replaced even
 * when equal; counts out of range are refused.
 */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "tlsd_plan.h"
#include "unit.h"

static struct conf *A, *B;

static const char *const BASE = "tls 443 {\n"
                                "    certificate ec.crt key ec.key\n"
                                "    backend 10.0.0.1:8080\n"
                                "}\n"
                                "tls 8443 {\n"
                                "    certificate ec.crt key ec.key\n"
                                "    certificate a.crt key a.key sni a.test\n"
                                "    backend 10.0.0.1:8081\n"
                                "    alpn h2 http/1.1\n"
                                "}\n";

static void parse(struct conf *c, const char *t)
{
    struct conf_result res;
    int r = conf_parse(NULL, t, strlen(t), c, &res);
    if (r != CONF_OK)
        fprintf(stderr, "parse: %s\n", res.n_errors ? res.errors[0].msg : "?");
    CHECK_EQ(r, CONF_OK);
}

static void setup(void)
{
    if (!A)
        A = calloc(1, sizeof *A);
    if (!B)
        B = calloc(1, sizeof *B);
    parse(A, BASE);
}

static void test_same_text_keeps_all(void)
{
    setup();
    parse(B, BASE);
    bool ok[2] = { true, true };
    struct tlsd_plan p;
    CHECK_EQ(tlsd_plan_make(A->tls, ok, A->n_tls, B->tls, B->n_tls, &p), 0);
    CHECK_EQ(p.n_next, 2u);
    CHECK_EQ(p.action[0], TLSD_PLAN_KEEP);
    CHECK_EQ(p.action[1], TLSD_PLAN_KEEP);
    CHECK_EQ(p.from[0], 0);
    CHECK_EQ(p.from[1], 1);
    CHECK_EQ(p.kept, 2u);
    CHECK_EQ(p.started, 0u);
    CHECK_EQ(p.stopped, 0u);
}

static void test_moved_block_is_kept(void)
{
    setup();
    /* 8443 first, comments and blank lines added: only lines differ */
    parse(B, "# moved\n\ntls 8443 {\n"
             "    certificate ec.crt key ec.key   # default\n"
             "    certificate a.crt key a.key sni a.test\n"
             "    backend 10.0.0.1:8081\n"
             "    alpn h2 http/1.1\n"
             "}\n\n"
             "tls 443 {\n"
             "    certificate ec.crt key ec.key\n"
             "    backend 10.0.0.1:8080\n"
             "}\n");
    CHECK(A->tls[0].line != B->tls[1].line);
    bool ok[2] = { true, true };
    struct tlsd_plan p;
    CHECK_EQ(tlsd_plan_make(A->tls, ok, A->n_tls, B->tls, B->n_tls, &p), 0);
    CHECK_EQ(p.action[0], TLSD_PLAN_KEEP);
    CHECK_EQ(p.from[0], 1);
    CHECK_EQ(p.action[1], TLSD_PLAN_KEEP);
    CHECK_EQ(p.from[1], 0);
    CHECK_EQ(p.kept, 2u);
}

/* Two IPv6 backends: the same address is the same block, another is not. */
static void test_ipv6_backend(void)
{
    setup();
    parse(A, "tls 443 {\n    certificate a key b\n    backend [2001:db8::1]:8080\n}\n");
    parse(B, "tls 443 {\n    certificate a key b\n    backend [2001:DB8:0::1]:8080\n}\n");
    CHECK(tlsd_plan_same(&A->tls[0], &B->tls[0]));
    parse(B, "tls 443 {\n    certificate a key b\n    backend [2001:db8::2]:8080\n}\n");
    CHECK(!tlsd_plan_same(&A->tls[0], &B->tls[0]));
}

/* Each variant changes one setting of 443's block: a replacement. */
static void test_each_setting_replaces(void)
{
    static const char *const variants[] = {
        "    backend 10.0.0.2:8080\n",
        "    backend 10.0.0.1:8090\n",
        "    backend [2001:db8::1]:8080\n",
        "    backend 10.0.0.1:8080\n    max-connections 5\n",
        "    backend 10.0.0.1:8080\n    idle-timeout 7s\n",
        "    backend 10.0.0.1:8080\n    handshake-timeout 7s\n",
        "    backend 10.0.0.1:8080\n    proxy-protocol v1\n",
        "    backend 10.0.0.1:8080\n    alpn http/1.1\n",
        "    backend 10.0.0.1:8080\n    certificate a.crt key a.key sni a.test\n",
    };
    for (unsigned v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        setup();
        char t[600];
        snprintf(t, sizeof t, "tls 443 {\n    certificate ec.crt key ec.key\n%s}\n", variants[v]);
        parse(B, t);
        bool ok[2] = { true, true };
        struct tlsd_plan p;
        CHECK_EQ(tlsd_plan_make(A->tls, ok, A->n_tls, B->tls, B->n_tls, &p), 0);
        CHECK_EQ(p.action[0], TLSD_PLAN_REPLACE);
        CHECK_EQ(p.from[0], 0);
        CHECK_EQ(p.started, 1u);
        CHECK_EQ(p.kept, 0u);
        CHECK(!p.removed[0]);
        CHECK(p.removed[1]); /* 8443 is gone */
        CHECK_EQ(p.stopped, 1u);
    }
    /* another certificate file or key name for the default */
    setup();
    parse(B, "tls 443 {\n    certificate ec2.crt key ec.key\n    backend 10.0.0.1:8080\n}\n");
    bool ok[2] = { true, true };
    struct tlsd_plan p;
    CHECK_EQ(tlsd_plan_make(A->tls, ok, 1, B->tls, 1, &p), 0);
    CHECK_EQ(p.action[0], TLSD_PLAN_REPLACE);
    parse(B, "tls 443 {\n    certificate ec.crt key ec2.key\n    backend 10.0.0.1:8080\n}\n");
    CHECK_EQ(tlsd_plan_make(A->tls, ok, 1, B->tls, 1, &p), 0);
    CHECK_EQ(p.action[0], TLSD_PLAN_REPLACE);
}

static void test_new_removed_and_stopped(void)
{
    setup();
    parse(B, "tls 443 {\n    certificate ec.crt key ec.key\n    backend 10.0.0.1:8080\n}\n"
             "tls 6443 {\n    certificate ec.crt key ec.key\n    backend 10.0.0.1:8080\n}\n");
    bool ok[2] = { false, true }; /* 443 stopped at start (a bad certificate) */
    struct tlsd_plan p;
    CHECK_EQ(tlsd_plan_make(A->tls, ok, A->n_tls, B->tls, B->n_tls, &p), 0);
    CHECK_EQ(p.action[0], TLSD_PLAN_REPLACE); /* equal, but stopped: built again */
    CHECK_EQ(p.from[0], 0);
    CHECK_EQ(p.action[1], TLSD_PLAN_NEW);
    CHECK_EQ(p.from[1], -1);
    CHECK(!p.removed[0]);
    CHECK(p.removed[1]);
    CHECK_EQ(p.kept, 0u);
    CHECK_EQ(p.started, 2u);
    CHECK_EQ(p.stopped, 1u);
    /* nothing in the candidate: every listener removed */
    CHECK_EQ(tlsd_plan_make(A->tls, ok, A->n_tls, B->tls, 0, &p), 0);
    CHECK_EQ(p.n_next, 0u);
    CHECK_EQ(p.stopped, 2u);
    /* nothing running (tlsd had no listener): all new */
    CHECK_EQ(tlsd_plan_make(A->tls, ok, 0, B->tls, B->n_tls, &p), 0);
    CHECK_EQ(p.action[0], TLSD_PLAN_NEW);
    CHECK_EQ(p.action[1], TLSD_PLAN_NEW);
}

static void test_counts_checked(void)
{
    setup();
    bool ok[CONF_MAX_TLS + 1] = { false };
    struct tlsd_plan p;
    memset(&p, 0x5a, sizeof p);
    CHECK_EQ(tlsd_plan_make(A->tls, ok, CONF_MAX_TLS + 1, A->tls, 1, &p), -1);
    CHECK_EQ(tlsd_plan_make(A->tls, ok, 1, A->tls, CONF_MAX_TLS + 1, &p), -1);
    CHECK_EQ(p.n_next, 0x5a5a5a5au); /* untouched */
    /* a corrupted count inside a block is never read past its array */
    struct conf_tls x = A->tls[0], y = A->tls[0];
    x.n_certs = y.n_certs = CONF_MAX_CERTS + 1;
    CHECK(!tlsd_plan_same(&x, &y));
    free(A);
    free(B);
    A = B = NULL;
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_same_text_keeps_all),     UNIT_TEST(test_moved_block_is_kept),
        UNIT_TEST(test_each_setting_replaces),   UNIT_TEST(test_ipv6_backend),
        UNIT_TEST(test_new_removed_and_stopped), UNIT_TEST(test_counts_checked),
    };
    return unit_main("tlsd_plan", tests, (int)(sizeof tests / sizeof tests[0]));
}
