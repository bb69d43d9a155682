/* test_config_fw.c - appliance.conf's firewall rules handed to the firewall's
 * own parser (appliance/config/conf_fw.c -> net/firewall/fw_rules.c). */
#include <string.h>

#include "conf_fw.h"
#include "unit.h"

static struct conf c, c2;
static struct conf_result res;
static struct fw_ruleset rs;
static struct conf_fw fw;
static char out[16384];

static int parse(const char *t)
{
    conf_fw_init(&fw, &rs, NULL);
    struct conf_parser p = { NULL, conf_fw_check_rule, &fw, 0 };
    return conf_parse(&p, t, strlen(t), &c, &res);
}

static const char *err1(const char *t) { return parse(t) == CONF_OK ? "" : res.errors[0].msg; }

static void test_rules_reach_the_firewall(void)
{
    const char *t = "pass out keep state\n"
                    "pass in on wan proto tcp to port 443 keep state   # https\n"
                    "pass in on lan proto icmp\n"
                    "block in quick on wan from 10.66.0.0/16\n"
                    "antispoof for lan\n"
                    "interface wan nic 0 dhcp\n" /* declared after the rules that name it */
                    "interface lan nic 1 address 192.168.50.1/24 gateway 192.168.50.254\n";
    CHECK_EQ(parse(t), CONF_OK);
    CHECK_EQ(rs.count, 5);
    CHECK(rs.valid);
    CHECK_EQ(rs.rules[0].action, FW_PASS);
    CHECK_EQ(rs.rules[0].dir, FW_OUT);
    CHECK(rs.rules[0].flags & FW_RF_KEEP_STATE);
    CHECK_EQ(rs.rules[1].iface, 0); /* wan: conf->ifaces[0] */
    CHECK_EQ(rs.rules[1].proto, FW_PROTO_TCP);
    CHECK_EQ(rs.rules[1].dport.lo, 443);
    CHECK_EQ(rs.rules[1].line, 2);
    CHECK_EQ(rs.rules[2].iface, 1);
    CHECK_EQ(rs.rules[3].action, FW_BLOCK);
    CHECK(rs.rules[3].flags & FW_RF_QUICK);
    CHECK(rs.rules[4].flags & FW_RF_ANTISPOOF);
    CHECK_EQ(rs.rules[4].iface, 1);
    struct fw_ifaces ifs;
    conf_fw_ifaces(&c, &ifs);
    CHECK_EQ(ifs.count, 2);
    CHECK_STR(ifs.ifs[1].name, "lan");
    /* the canonical text parses to the same rules */
    size_t n = conf_write(&c, out, sizeof out);
    CHECK(n < sizeof out);
    conf_fw_init(&fw, &rs, NULL);
    struct conf_parser p = { NULL, conf_fw_check_rule, &fw, 0 };
    CHECK_EQ(conf_parse(&p, out, n, &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    CHECK_EQ(rs.count, 5);
}

static void test_firewall_errors_have_our_format(void)
{
    const char *e = err1("interface wan nic 0 dhcp\n\npass in on dmz\n");
    CHECK(strncmp(e, "appliance.conf:3:12: expected ", 30) == 0);
    CHECK(strstr(e, "dmz") != NULL);
    e = err1("block in frobnicate\n");
    CHECK(strncmp(e, "appliance.conf:1:10: expected ", 30) == 0);
    e = err1("pass proto tcp to port 99999\n");
    CHECK(strncmp(e, "appliance.conf:1:24: expected ", 30) == 0);
    /* file name of the caller's choice, errors of both parsers sorted together */
    conf_fw_init(&fw, &rs, "site.conf");
    struct conf_parser p = { "site.conf", conf_fw_check_rule, &fw, 0 };
    const char *t = "pass in on nowhere\nlog loud\n";
    CHECK_EQ(conf_parse(&p, t, strlen(t), &c, &res), CONF_E_SYNTAX);
    CHECK_EQ(res.n_errors, 2);
    CHECK(strncmp(res.errors[0].msg, "site.conf:1:12: expected ", 25) == 0);
    CHECK(strncmp(res.errors[1].msg, "site.conf:2:5: expected a log level", 35) == 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_rules_reach_the_firewall),
        UNIT_TEST(test_firewall_errors_have_our_format),
    };
    return unit_main("config_fw", tests, (int)(sizeof tests / sizeof tests[0]));
}
