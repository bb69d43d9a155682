/*
 * test_tlsd_proxy.c - appliance/tlsd/tlsd_proxy.c: PROXY protocol v1 and
 * v2 headers byte for byte, for IPv4 and IPv6 clients, the address-less
 * forms of an IPv6 client whose addresses are unknown, and no header for
 * a block without proxy-protocol.
 */
#include <string.h>

#include "conf.h"
#include "tlsd_proxy.h"
#include "unit.h"

static const uint8_t SIG[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static struct tlsd_proxy_ends v4(void)
{
    struct tlsd_proxy_ends e = { .v6 = false, .known = true, .sport = 51000, .dport = 443 };
    const uint8_t s[4] = { 10, 9, 0, 2 }, d[4] = { 10, 9, 0, 1 };
    memcpy(e.src, s, 4);
    memcpy(e.dst, d, 4);
    return e;
}

static struct tlsd_proxy_ends v6(void)
{
    struct tlsd_proxy_ends e = { .v6 = true, .known = true, .sport = 51000, .dport = 8444 };
    const uint8_t s[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x10, [15] = 2 };
    const uint8_t d[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0x52, 0x54, 0, 0xff, 0xfe, 0x12, 0x34, 0x56 };
    memcpy(e.src, s, 16);
    memcpy(e.dst, d, 16);
    return e;
}

static void test_v1(void)
{
    uint8_t h[TLSD_PROXY_MAX + 1];
    struct tlsd_proxy_ends e = v4();
    size_t n = tlsd_proxy_header(CONF_PROXY_V1, &e, h);
    h[n] = 0;
    CHECK_STR((char *)h, "PROXY TCP4 10.9.0.2 10.9.0.1 51000 443\r\n");
    e = v6();
    n = tlsd_proxy_header(CONF_PROXY_V1, &e, h);
    h[n] = 0;
    CHECK_STR((char *)h, "PROXY TCP6 2001:db8:10::2 2001:db8:10:0:5254:ff:fe12:3456 51000 8444\r\n");
    e.known = false;
    n = tlsd_proxy_header(CONF_PROXY_V1, &e, h);
    h[n] = 0;
    CHECK_STR((char *)h, "PROXY UNKNOWN\r\n");
    /* the longest line fits */
    memset(e.src, 0x12, 16);
    memset(e.dst, 0x12, 16);
    e.known = true;
    e.sport = e.dport = 65535;
    n = tlsd_proxy_header(CONF_PROXY_V1, &e, h);
    CHECK(n < TLSD_PROXY_MAX);
    CHECK_EQ(n, strlen("PROXY TCP6 1212:1212:1212:1212:1212:1212:1212:1212 1212:1212:1212:1212:1212:1212:1212:1212 "
                       "65535 65535\r\n"));
}

static void test_v2(void)
{
    uint8_t h[TLSD_PROXY_MAX];
    struct tlsd_proxy_ends e = v4();
    CHECK_EQ(tlsd_proxy_header(CONF_PROXY_V2, &e, h), 28);
    CHECK(memcmp(h, SIG, 12) == 0);
    const uint8_t want4[16] = { 0x21, 0x11, 0, 12, 10, 9, 0, 2, 10, 9, 0, 1, 0xc7, 0x38, 0x01, 0xbb };
    CHECK(memcmp(h + 12, want4, 16) == 0);
    e = v6();
    CHECK_EQ(tlsd_proxy_header(CONF_PROXY_V2, &e, h), 52);
    CHECK(memcmp(h, SIG, 12) == 0);
    CHECK_EQ(h[12], 0x21);
    CHECK_EQ(h[13], 0x21);
    CHECK_EQ(h[14], 0);
    CHECK_EQ(h[15], 36);
    CHECK(memcmp(h + 16, e.src, 16) == 0);
    CHECK(memcmp(h + 32, e.dst, 16) == 0);
    const uint8_t ports[4] = { 0xc7, 0x38, 0x20, 0xfc };
    CHECK(memcmp(h + 48, ports, 4) == 0);
    e.known = false;
    CHECK_EQ(tlsd_proxy_header(CONF_PROXY_V2, &e, h), 16);
    const uint8_t local[4] = { 0x20, 0x00, 0, 0 };
    CHECK(memcmp(h + 12, local, 4) == 0);
}

static void test_none(void)
{
    uint8_t h[TLSD_PROXY_MAX];
    struct tlsd_proxy_ends e = v6();
    CHECK_EQ(tlsd_proxy_header(CONF_PROXY_NONE, &e, h), 0);
    CHECK_EQ(tlsd_proxy_header(3, &e, h), 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_v1),
        UNIT_TEST(test_v2),
        UNIT_TEST(test_none),
    };
    return unit_main("tlsd_proxy", tests, (int)(sizeof tests / sizeof tests[0]));
}
