/*
 * test_netd_config.c - host unit test of net/netd_config.c, netd's interim
 * `args` configuration parser: every accepted form, every error with its
 * column, and that a failed parse leaves nothing configured.
 */
#include "netd_config.h"
#include "unit.h"

static struct netd_config cfg;
static char err[128];

static int parse(const char *s) { return netd_config_parse(s, &cfg, err, sizeof err); }

static void test_empty(void)
{
    CHECK_EQ(parse(""), NETD_CONFIG_OK);
    CHECK_EQ(cfg.n_ifs, 0);
    CHECK_EQ(cfg.stats_seconds, 0);
}

static void test_static_dhcp_stats(void)
{
    CHECK_EQ(parse("nic0=10.9.0.2/24,nic1=dhcp,stats=30"), NETD_CONFIG_OK);
    CHECK_EQ(cfg.n_ifs, 2);
    CHECK_STR(cfg.ifs[0].name, "nic0");
    CHECK_EQ(cfg.ifs[0].mode, NETD_IF_STATIC);
    CHECK_EQ(cfg.ifs[0].addr[0], 10);
    CHECK_EQ(cfg.ifs[0].addr[3], 2);
    CHECK_EQ(cfg.ifs[0].prefix, 24);
    CHECK(!cfg.ifs[0].has_gateway);
    CHECK_STR(cfg.ifs[1].name, "nic1");
    CHECK_EQ(cfg.ifs[1].mode, NETD_IF_DHCP);
    CHECK_EQ(cfg.stats_seconds, 30);
    CHECK(!cfg.debug);
    CHECK(netd_config_find(&cfg, "nic1") == &cfg.ifs[1]);
    CHECK(netd_config_find(&cfg, "nic2") == NULL);
}

static void test_debug(void)
{
    CHECK_EQ(parse("debug=1"), NETD_CONFIG_OK);
    CHECK(cfg.debug);
    CHECK_EQ(parse("debug=0,nic0=dhcp"), NETD_CONFIG_OK);
    CHECK(!cfg.debug);
    CHECK_EQ(parse("debug=2"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:7: expected debug=0 or debug=1");
    CHECK_EQ(parse("debug=yes"), NETD_CONFIG_E_SYNTAX);
}

static void test_gateway(void)
{
    CHECK_EQ(parse("wan=192.168.50.1/24:192.168.50.254"), NETD_CONFIG_OK);
    CHECK(cfg.ifs[0].has_gateway);
    CHECK_EQ(cfg.ifs[0].gateway[3], 254);
    CHECK_EQ(parse("a=10.0.0.1/32:10.0.0.2"), NETD_CONFIG_E_SYNTAX); /* outside a /32 */
    CHECK_STR(err, "args:15: expected a gateway inside the interface's prefix (not its own address)");
    CHECK_EQ(parse("a=10.0.0.1/8:10.0.0.1"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(parse("a=10.0.0.1/8:10.9.9.9,b=10.1.0.1/16:10.1.0.2"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:37: a second default gateway (only one interface may have one)");
}

static void test_errors_have_columns(void)
{
    CHECK_EQ(parse("nic0"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:5: expected '=' after the name");
    CHECK_EQ(parse("nic0=10.9.0/24"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:6: expected dhcp or an address A.B.C.D/PREFIX");
    CHECK_EQ(parse("nic0=10.9.0.256/24"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(parse("nic0=010.9.0.2/24"), NETD_CONFIG_E_SYNTAX); /* keel/ipv4.h: no leading zeros */
    CHECK_STR(err, "args:6: expected dhcp or an address A.B.C.D/PREFIX");
    CHECK_EQ(parse("nic0=10.9.0.2/24:10.9.0.0001"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:18: expected an IPv4 address A.B.C.D");
    CHECK_EQ(parse("nic0=10.9.0.2"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:14: expected /PREFIX after the address");
    CHECK_EQ(parse("nic0=10.9.0.2/33"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:15: expected a prefix length 1-32");
    CHECK_EQ(parse("nic0=10.9.0.2/0"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(parse("nic0=0.0.0.0/8"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(parse("nic0=dhcpx"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(parse("nic0=dhcp,"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:11: expected another item after ','");
    CHECK_EQ(parse(",nic0=dhcp"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:1: expected NAME=..., stats=SECONDS or debug=0|1");
    CHECK_EQ(parse("nic0=dhcp,nic0=dhcp"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:11: this NIC is configured twice");
    CHECK_EQ(parse("a=dhcp,b=dhcp,c=dhcp,d=dhcp,e=dhcp,f=dhcp,g=dhcp,h=dhcp"), 0);
    CHECK_EQ(parse("a=dhcp,b=dhcp,c=dhcp,d=dhcp,e=dhcp,f=dhcp,g=dhcp,h=dhcp,i=dhcp"), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:57: too many interfaces (at most 8)");
    CHECK_EQ(parse("abcdefghijklmnop=dhcp"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(parse("stats=x"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(parse("stats=86401"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(parse("nic0=10.9.0.2/24 "), NETD_CONFIG_E_SYNTAX);
    CHECK_STR(err, "args:17: expected ',' or the end after the interface");
}

static void test_failure_configures_nothing(void)
{
    CHECK_EQ(parse("nic0=10.9.0.2/24,stats=5,nic1=bogus"), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(cfg.n_ifs, 0);
    CHECK_EQ(cfg.stats_seconds, 0);
    /* A tiny error buffer is still terminated. */
    char small[8];
    CHECK_EQ(netd_config_parse("x", &cfg, small, sizeof small), NETD_CONFIG_E_SYNTAX);
    CHECK_EQ(strlen(small), 7);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_empty),   UNIT_TEST(test_static_dhcp_stats),   UNIT_TEST(test_debug),
        UNIT_TEST(test_gateway), UNIT_TEST(test_errors_have_columns), UNIT_TEST(test_failure_configures_nothing),
    };
    return unit_main("netd_config", tests, (int)(sizeof tests / sizeof tests[0]));
}
