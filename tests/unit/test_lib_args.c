/*
 * test_lib_args.c - lib/args.c (a server's KEY=VALUE arguments) and
 * keel/ipv4.h (the dotted-quad reader): found and missing keys, keys that
 * are prefixes of others, both separators, cut values, numbers with and
 * without digits; addresses whole, as a prefix of a longer word, and every
 * malformed form the configuration refuses.
 */
#include <stdint.h>

#include <keel/args.h>
#include <keel/ipv4.h>

#include "unit.h"

static void test_arg_finds_values(void)
{
    char v[32];
    CHECK(srv_arg("rng=rng0,stats=5", "rng", v, sizeof v) == v);
    CHECK_STR(v, "rng0");
    CHECK(srv_arg("rng=rng0,stats=5", "stats", v, sizeof v) == v);
    CHECK_STR(v, "5");
    CHECK(srv_arg("rng=a stats=7", "stats", v, sizeof v) == v); /* a space separates too */
    CHECK_STR(v, "7");
    CHECK(srv_arg("a=1,,  b=2", "b", v, sizeof v) == v);
    CHECK_STR(v, "2");
    CHECK(srv_arg("k=", "k", v, sizeof v) == v);
    CHECK_STR(v, "");
    CHECK(srv_arg("k=1,k=2", "k", v, sizeof v) == v); /* the first wins */
    CHECK_STR(v, "1");
    char cut[4]; /* a longer value is cut */
    CHECK(srv_arg("name=abcdefgh", "name", cut, sizeof cut) == cut);
    CHECK_STR(cut, "abc");
    char one[1];
    CHECK(srv_arg("name=abc", "name", one, sizeof one) == one);
    CHECK_EQ(one[0], 0);
}

static void test_arg_missing_and_prefix_keys(void)
{
    char v[8] = "keep";
    CHECK(srv_arg("", "rng", v, sizeof v) == NULL);
    CHECK(srv_arg("rngx=1,xrng=2", "rng", v, sizeof v) == NULL);
    CHECK(srv_arg("rng", "rng", v, sizeof v) == NULL);     /* no '=' */
    CHECK(srv_arg("a=rng=1", "rng", v, sizeof v) == NULL); /* inside a value */
    CHECK_STR(v, "keep");
}

static void test_arg_u64(void)
{
    CHECK_EQ(srv_arg_u64("seed=42,calls=7", "seed", 1), 42);
    CHECK_EQ(srv_arg_u64("seed=42,calls=7", "calls", 1), 7);
    CHECK_EQ(srv_arg_u64("seed=42", "batches", 10), 10); /* missing */
    CHECK_EQ(srv_arg_u64("seed=", "seed", 10), 10);      /* empty */
    CHECK_EQ(srv_arg_u64("seed=,x=1", "seed", 10), 10);
    CHECK_EQ(srv_arg_u64("seed=x1", "seed", 10), 0); /* no digits */
    CHECK_EQ(srv_arg_u64("seed=12x", "seed", 10), 12);
    CHECK(srv_arg_u64("n=99999999999999999999999", "n", 0) == UINT64_MAX); /* saturates */
    CHECK(srv_arg_u64("n=18446744073709551615", "n", 0) == UINT64_MAX);
    CHECK(srv_arg_u64("n=18446744073709551614", "n", 0) == UINT64_MAX - 1);
}

static void test_ipv4_parse(void)
{
    uint32_t a = 0;
    CHECK(ipv4_parse("10.0.2.15", 9, &a));
    CHECK_EQ(a, 0x0a00020f);
    CHECK(ipv4_parse("0.0.0.0", 7, &a));
    CHECK_EQ(a, 0);
    CHECK(ipv4_parse("255.255.255.255", 15, &a));
    CHECK_EQ(a, 0xffffffffu);
    CHECK(ipv4_parse("1.2.3.4xyz", 7, &a)); /* N bounds the word */
    CHECK_EQ(a, 0x01020304);
    static const char *const bad[] = { "",         "1",        "1.2.3",   "1.2.3.",  "1.2.3.4.", "1.2.3.256",
                                       "01.2.3.4", "1.2.3.04", "1..3.4",  ".1.2.3",  "1.2.3.4 ", "1.2.3.1234",
                                       "a.b.c.d",  "1.2.3.-4", "1,2,3,4", "1.2.3.4/" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = 7;
        CHECK(!ipv4_parse(bad[i], strlen(bad[i]), &a));
        CHECK_EQ(a, 7);
    }
}

static void test_ipv4_scan_takes_a_prefix(void)
{
    uint32_t a = 0;
    CHECK_EQ(ipv4_scan("192.168.1.1/24", 14, &a), 11);
    CHECK_EQ(a, 0xc0a80101);
    CHECK_EQ(ipv4_scan("10.0.0.1:10.0.0.254", 19, &a), 8);
    CHECK_EQ(ipv4_scan("10.0.0.1", 100, &a), 8); /* stops at the NUL */
    CHECK_EQ(ipv4_scan("10.0.0.1234", 11, &a), 0);
    CHECK_EQ(ipv4_scan("10.0.0", 6, &a), 0);
    CHECK_EQ(ipv4_scan("10.0.0.1", 7, &a), 0); /* N cuts the last part */
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_arg_finds_values), UNIT_TEST(test_arg_missing_and_prefix_keys), UNIT_TEST(test_arg_u64),
        UNIT_TEST(test_ipv4_parse),       UNIT_TEST(test_ipv4_scan_takes_a_prefix),
    };
    return unit_main("lib_args", tests, (int)(sizeof tests / sizeof tests[0]));
}
