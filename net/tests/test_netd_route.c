/*
 * test_netd_route.c - host unit test of net/netd_route.c: every refusal,
 * longest-prefix lookup, and that a route whose gateway is unusable is
 * skipped in favour of a shorter usable one.
 */
#include "netd_route.h"
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

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_refusals),
        UNIT_TEST(test_longest_prefix),
    };
    return unit_main("netd_route", tests, (int)(sizeof tests / sizeof tests[0]));
}
