/*
 * test_netd_route.c - host unit test of net/netd_route.c: every refusal,
 * longest-prefix lookup, and that a route whose gateway is unusable is
 * skipped in favour of a shorter usable one; the same for IPv6, and that
 * both families share NETD_ROUTES_MAX.
 */
#include "netd_route.h"

#include <string.h>

#include "unit.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static struct netd_routes t;

static void test_refusals(void)
{
    t.n = 0;
    CHECK_EQ(netd_route_add(&t, IP(10, 0, 0, 0), 0, IP(10, 9, 0, 1), 1), NETD_ROUTE_E_PREFIX);
    CHECK_EQ(netd_route_add(&t, IP(10, 0, 0, 0), 33, IP(10, 9, 0, 1), 1), NETD_ROUTE_E_PREFIX);
    CHECK_EQ(netd_route_add(&t, IP(10, 1, 0, 1), 16, IP(10, 9, 0, 1), 1), NETD_ROUTE_E_HOST_BITS);
    CHECK_EQ(netd_route_add(&t, IP(10, 1, 0, 0), 16, 0, 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(netd_route_add(&t, IP(10, 1, 0, 0), 16, 0xffffffffu, 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(netd_route_add(&t, IP(10, 1, 0, 0), 16, IP(224, 0, 0, 1), 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(netd_route_add(&t, IP(10, 1, 0, 0), 16, IP(127, 0, 0, 1), 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(t.n, 0);
    CHECK_EQ(netd_route_add(&t, IP(10, 1, 0, 0), 16, IP(10, 9, 0, 1), 1), NETD_ROUTE_OK);
    CHECK_EQ(netd_route_add(&t, IP(10, 1, 0, 0), 16, IP(10, 9, 0, 7), 2), NETD_ROUTE_E_DUPLICATE);
    CHECK_EQ(t.n, 1);
    for (unsigned i = 1; i < NETD_ROUTES_MAX; i++)
        CHECK_EQ(netd_route_add(&t, IP(10, 2, i, 0), 24, IP(10, 9, 0, 1), 2 + i), NETD_ROUTE_OK);
    CHECK_EQ(netd_route_add(&t, IP(10, 3, 0, 0), 24, IP(10, 9, 0, 1), 99), NETD_ROUTE_E_FULL);
    CHECK_EQ(t.n, NETD_ROUTES_MAX);
    CHECK(netd_route_strerror(NETD_ROUTE_E_FULL)[0] == 'e');
}

static bool only_net9(void *ctx, uint32_t gw)
{
    (void)ctx;
    return (gw & 0xffffff00u) == IP(10, 9, 0, 0);
}

static void test_longest_prefix(void)
{
    t.n = 0;
    CHECK_EQ(netd_route_add(&t, IP(10, 0, 0, 0), 8, IP(10, 9, 0, 1), 1), NETD_ROUTE_OK);
    CHECK_EQ(netd_route_add(&t, IP(10, 5, 5, 0), 24, IP(10, 9, 0, 2), 2), NETD_ROUTE_OK);
    CHECK_EQ(netd_route_add(&t, IP(10, 5, 0, 0), 16, IP(10, 9, 0, 3), 3), NETD_ROUTE_OK);
    CHECK_EQ(netd_route_add(&t, IP(10, 5, 5, 9), 32, IP(10, 8, 0, 4), 4), NETD_ROUTE_OK);
    const struct netd_route *r = netd_route_lookup(&t, IP(10, 5, 5, 1), NULL, NULL);
    CHECK(r && r->line == 2);
    r = netd_route_lookup(&t, IP(10, 5, 6, 1), NULL, NULL);
    CHECK(r && r->line == 3);
    r = netd_route_lookup(&t, IP(10, 6, 0, 1), NULL, NULL);
    CHECK(r && r->line == 1);
    CHECK(netd_route_lookup(&t, IP(192, 168, 0, 1), NULL, NULL) == NULL);
    r = netd_route_lookup(&t, IP(10, 5, 5, 9), NULL, NULL);
    CHECK(r && r->line == 4);
    /* The /32's gateway is on no connected network: the /24 serves instead. */
    r = netd_route_lookup(&t, IP(10, 5, 5, 9), only_net9, NULL);
    CHECK(r && r->line == 2);
    CHECK(netd_route_lookup(&t, IP(10, 5, 5, 9), only_net9, NULL)->gw == IP(10, 9, 0, 2));
}

/* 2001:db8:A:B::C as 16 bytes. */
static const uint8_t *v6(unsigned a, unsigned b, unsigned c)
{
    static uint8_t buf[8][16];
    static unsigned k;
    uint8_t *x = buf[k++ % 8];
    memset(x, 0, 16);
    x[0] = 0x20;
    x[1] = 0x01;
    x[2] = 0x0d;
    x[3] = 0xb8;
    x[4] = (uint8_t)(a >> 8);
    x[5] = (uint8_t)a;
    x[6] = (uint8_t)(b >> 8);
    x[7] = (uint8_t)b;
    x[14] = (uint8_t)(c >> 8);
    x[15] = (uint8_t)c;
    return x;
}

static void test_refusals6(void)
{
    static const uint8_t ll[16] = { 0xfe, 0x80, [15] = 1 }, mc[16] = { 0xff, 0x02, [15] = 1 };
    static const uint8_t lo[16] = { [15] = 1 }, any[16] = { 0 };
    static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 };
    static const uint8_t llnet[16] = { 0xfe, 0x80 };
    memset(&t, 0, sizeof t);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 0, 0), 0, v6(1, 0, 0xfe), 1), NETD_ROUTE_E_PREFIX);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 0, 0), 129, v6(1, 0, 0xfe), 1), NETD_ROUTE_E_PREFIX);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 0, 1), 48, v6(1, 0, 0xfe), 1), NETD_ROUTE_E_HOST_BITS);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 0x4000, 0), 49, v6(1, 0, 0xfe), 1), NETD_ROUTE_E_HOST_BITS);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 0x8000, 0), 49, v6(1, 0, 0xfe), 1), NETD_ROUTE_OK);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 0, 1), 128, v6(1, 0, 0xfe), 1), NETD_ROUTE_OK);
    CHECK_EQ(netd_route6_add(&t, llnet, 64, v6(1, 0, 0xfe), 1), NETD_ROUTE_E_NETWORK);
    CHECK_EQ(netd_route6_add(&t, mc, 128, v6(1, 0, 0xfe), 1), NETD_ROUTE_E_NETWORK);
    CHECK_EQ(netd_route6_add(&t, v6(0x21, 0, 0), 48, ll, 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(netd_route6_add(&t, v6(0x21, 0, 0), 48, mc, 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(netd_route6_add(&t, v6(0x21, 0, 0), 48, lo, 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(netd_route6_add(&t, v6(0x21, 0, 0), 48, any, 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(netd_route6_add(&t, v6(0x21, 0, 0), 48, mapped, 1), NETD_ROUTE_E_GATEWAY);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 0x8000, 0), 49, v6(1, 0, 0xfd), 2), NETD_ROUTE_E_DUPLICATE);
    CHECK_EQ(t.n6, 2);
    /* IPv4 and IPv6 routes share NETD_ROUTES_MAX. */
    for (unsigned i = 2; i < NETD_ROUTES_MAX - 1; i++)
        CHECK_EQ(netd_route6_add(&t, v6(0x30 + i, 0, 0), 48, v6(1, 0, 0xfe), 2 + i), NETD_ROUTE_OK);
    CHECK_EQ(netd_route_add(&t, IP(10, 1, 0, 0), 16, IP(10, 9, 0, 1), 40), NETD_ROUTE_OK);
    CHECK_EQ(netd_route6_add(&t, v6(0x99, 0, 0), 48, v6(1, 0, 0xfe), 41), NETD_ROUTE_E_FULL);
    CHECK_EQ(netd_route_add(&t, IP(10, 2, 0, 0), 16, IP(10, 9, 0, 1), 42), NETD_ROUTE_E_FULL);
    CHECK_EQ(t.n + t.n6, NETD_ROUTES_MAX);
    CHECK(netd_route_strerror(NETD_ROUTE_E_NETWORK)[0] == 'e');
}

static bool only_gw_net1(void *ctx, const uint8_t gw[16])
{
    (void)ctx;
    return netd_route6_in(gw, v6(1, 0, 0), 64);
}

static void test_longest_prefix6(void)
{
    memset(&t, 0, sizeof t);
    CHECK_EQ(netd_route6_add(&t, v6(0, 0, 0), 32, v6(1, 0, 1), 1), NETD_ROUTE_OK); /* 2001:db8::/32 */
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 5, 0), 64, v6(1, 0, 2), 2), NETD_ROUTE_OK);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 0, 0), 48, v6(1, 0, 3), 3), NETD_ROUTE_OK);
    CHECK_EQ(netd_route6_add(&t, v6(0x20, 5, 9), 128, v6(2, 0, 4), 4), NETD_ROUTE_OK);
    const struct netd_route6 *r = netd_route6_lookup(&t, v6(0x20, 5, 1), NULL, NULL);
    CHECK(r && r->line == 2);
    r = netd_route6_lookup(&t, v6(0x20, 6, 1), NULL, NULL);
    CHECK(r && r->line == 3);
    r = netd_route6_lookup(&t, v6(0x21, 0, 1), NULL, NULL);
    CHECK(r && r->line == 1);
    static const uint8_t other[16] = { 0x20, 0x01, 0x0d, 0xb9, [15] = 1 };
    CHECK(netd_route6_lookup(&t, other, NULL, NULL) == NULL);
    r = netd_route6_lookup(&t, v6(0x20, 5, 9), NULL, NULL);
    CHECK(r && r->line == 4);
    /* The /128's gateway is on no connected network: the /64 serves instead. */
    r = netd_route6_lookup(&t, v6(0x20, 5, 9), only_gw_net1, NULL);
    CHECK(r && r->line == 2 && memcmp(r->gw, v6(1, 0, 2), 16) == 0);
    /* The IPv4 table is untouched by IPv6 routes. */
    CHECK(netd_route_lookup(&t, IP(10, 0, 0, 1), NULL, NULL) == NULL);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_refusals),
        UNIT_TEST(test_longest_prefix),
        UNIT_TEST(test_refusals6),
        UNIT_TEST(test_longest_prefix6),
    };
    return unit_main("netd_route", tests, (int)(sizeof tests / sizeof tests[0]));
}
