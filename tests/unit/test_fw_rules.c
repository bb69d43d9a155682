/* test_fw_rules.c - the compiled rule set: appliance.conf's firewall
 * statements through the one parser and fw_conf.c into the engine's rules
 * (pf's defaults, lists, tables, options), tables at run time, the pfctl-form
 * printer, and replacing the active set. */
#include <string.h>

#include "fw_match.h"
#include "fw_text.h"
#include "unit.h"

static struct fw_ruleset rs;
static struct fw_ifaces ifs = { 2, { { "wan", 0x0a000002u, 24, true }, { "lan", 0xc0a83201u, 24, true } } };
static char err[256];

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static int compile(const char *text)
{
    err[0] = '\0';
    int rc = fw_text_compile(text, &ifs, &rs, err, sizeof err);
    if (rc != FW_OK)
        printf("compile: %s\n", err);
    return rc;
}

static const char *format(unsigned i)
{
    static char buf[256];
    fw_rule_format(&rs.rules[i], &ifs, &rs, buf, sizeof buf);
    return buf;
}

static void test_design_example(void)
{
    const char *conf = "hostname edge1\n"
                       "interface wan nic 0 dhcp\n"
                       "interface lan nic 1 address 192.168.50.1/24 gateway 192.168.50.254\n"
                       "lan_net = \"192.168.50.0/24\"\n"
                       "table <blocked> persist { 10.66.0.0/16 }\n"
                       "pass out keep state\n"
                       "pass in on wan proto tcp to port { 443, 8443 } keep state\n"
                       "pass in on lan proto icmp\n"
                       "block in quick on wan from <blocked>\n"
                       "block in on wan from ! $lan_net to port 22 proto tcp\n";
    CHECK_EQ(compile(conf), FW_E_SYNTAX); /* proto after to: pf's order */
    CHECK(strstr(err, "appliance.conf:10:") != NULL);
    conf = "hostname edge1\n"
           "interface wan nic 0 dhcp\n"
           "interface lan nic 1 address 192.168.50.1/24 gateway 192.168.50.254\n"
           "lan_net = \"192.168.50.0/24\"\n"
           "table <blocked> persist { 10.66.0.0/16 }\n"
           "pass out keep state\n"
           "pass in on wan proto tcp to port { 443, 8443 } keep state\n"
           "pass in on lan proto icmp\n"
           "block in quick on wan from <blocked>\n";
    CHECK_EQ(compile(conf), FW_OK);
    CHECK(rs.valid);
    CHECK_EQ(rs.count, 5); /* the list made two rules */
    const struct fw_rule *r = &rs.rules[0];
    CHECK_EQ(r->action, FW_PASS);
    CHECK_EQ(r->dir, FW_OUT);
    CHECK_EQ(r->flags, FW_RF_KEEP_STATE);
    CHECK_EQ(r->tcp_mask, FW_TH_SYN | FW_TH_ACK);
    CHECK_EQ(r->tcp_set, FW_TH_SYN);
    CHECK_EQ(r->line, 6);
    CHECK_EQ(rs.rules[1].dport.lo, 443);
    CHECK_EQ(rs.rules[2].dport.lo, 8443);
    CHECK_EQ(rs.rules[2].line, 7);
    r = &rs.rules[3];
    CHECK_EQ(r->iface, 1);
    CHECK_EQ(r->proto, FW_PROTO_ICMP);
    CHECK(r->flags & FW_RF_KEEP_STATE); /* pf's default */
    CHECK_EQ(r->tcp_mask, 0);           /* flags S/SA is for TCP */
    r = &rs.rules[4];
    CHECK_EQ(r->action, FW_BLOCK);
    CHECK_EQ(r->src.kind, FW_ADDR_TABLE);
    CHECK_EQ(rs.n_tables, 1);
    CHECK_STR(rs.tables[0].name, "blocked");
    CHECK(rs.tables[0].persist);
    CHECK(fw_table_match(&rs, 0, IP(10, 66, 3, 4)));
    CHECK(!fw_table_match(&rs, 0, IP(10, 67, 3, 4)));
    CHECK_STR(format(1), "pass in on wan proto tcp from any to any port = 443 flags S/SA");
    CHECK_STR(format(4), "block drop in quick on wan from <blocked> to any");
}

static void test_defaults_and_modes(void)
{
    CHECK_EQ(compile("pass\nblock\nblock return\nblock return-rst proto tcp\nblock return-icmp (host-unr) proto udp\n"
                     "pass no state\nmatch in on lan\n"),
             FW_OK);
    CHECK_EQ(rs.count, 7);
    CHECK_EQ(rs.rules[0].flags, FW_RF_KEEP_STATE);
    CHECK_EQ(rs.rules[1].flags, 0);
    CHECK_EQ(rs.rules[2].flags, FW_RF_RETURN);
    CHECK_EQ(rs.rules[3].flags, FW_RF_RETURN_RST);
    CHECK_EQ(rs.rules[4].flags, FW_RF_RETURN_ICMP);
    CHECK_EQ(rs.rules[4].return_code, 1);
    CHECK_EQ(rs.rules[5].flags, 0);
    CHECK_EQ(rs.rules[5].tcp_mask, 0);
    CHECK_EQ(rs.rules[6].action, FW_MATCH);
    CHECK_STR(format(0), "pass all flags S/SA");
    CHECK_STR(format(1), "block drop all");
    CHECK_STR(format(4), "block return-icmp (1) proto udp all");
    CHECK_STR(format(5), "pass all no state");
    /* set block-policy return: plain blocks answer, wherever the set line stands */
    CHECK_EQ(compile("block in\nblock drop in\nset block-policy return\n"), FW_OK);
    CHECK_EQ(rs.rules[0].flags, FW_RF_RETURN);
    CHECK_EQ(rs.rules[1].flags, FW_RF_DROP);
}

static void test_lists_expand(void)
{
    CHECK_EQ(compile("pass in on { wan lan } proto { tcp udp } from { 10.0.0.1, 10.0.0.2 } to port { 53 5353 }\n"),
             FW_OK);
    CHECK_EQ(rs.count, 16);
    /* pf's nesting order: interface, protocol, source, source port, destination, destination port */
    CHECK_EQ(rs.rules[0].iface, 0);
    CHECK_EQ(rs.rules[8].iface, 1);
    CHECK_EQ(rs.rules[0].proto, FW_PROTO_TCP);
    CHECK_EQ(rs.rules[4].proto, FW_PROTO_UDP);
    CHECK_EQ(rs.rules[0].src.addr, IP(10, 0, 0, 1));
    CHECK_EQ(rs.rules[2].src.addr, IP(10, 0, 0, 2));
    CHECK_EQ(rs.rules[0].dport.lo, 53);
    CHECK_EQ(rs.rules[1].dport.lo, 5353);
    /* "! { a, b }" negates each member (pf's expansion) */
    CHECK_EQ(compile("block from ! { 10.1.0.0/16, 10.2.0.0/16 }\n"), FW_OK);
    CHECK_EQ(rs.count, 2);
    CHECK(rs.rules[0].src.neg && rs.rules[1].src.neg);
}

static void test_addresses_and_icmp(void)
{
    CHECK_EQ(compile("pass in to (wan)\npass in from lan:network to self\npass proto icmp icmp-type echoreq code 0\n"
                     "pass in proto tcp from any port ssh to any port 1000:2000\n"),
             FW_OK);
    CHECK_EQ(rs.rules[0].dst.kind, FW_ADDR_IFADDR);
    CHECK_EQ(rs.rules[0].dst.index, 0);
    CHECK_EQ(rs.rules[1].src.kind, FW_ADDR_IFNET);
    CHECK_EQ(rs.rules[1].src.index, 1);
    CHECK_EQ(rs.rules[1].dst.kind, FW_ADDR_SELF);
    CHECK_EQ(rs.rules[2].icmp_type, 8);
    CHECK_EQ(rs.rules[2].icmp_code, 0);
    CHECK_EQ(rs.rules[3].sport.lo, 22);
    CHECK_EQ(rs.rules[3].dport.op, FW_PORT_RANGE);
    CHECK_STR(format(0), "pass in from any to (wan) flags S/SA");
    CHECK_STR(format(1), "pass in from lan:network to self flags S/SA");
    CHECK_STR(format(2), "pass proto icmp all icmp-type 8 code 0");
}

static void test_labels(void)
{
    CHECK_EQ(compile("pass in proto tcp to port { 1 2 } label \"web\"\npass out label \"out  bound\"\npass\n"), FW_OK);
    CHECK_STR(fw_rule_label(&rs, &rs.rules[0]), "web");
    CHECK_EQ(rs.rules[0].label, rs.rules[1].label); /* one list, one label */
    CHECK_STR(fw_rule_label(&rs, &rs.rules[2]), "out  bound");
    CHECK_STR(fw_rule_label(&rs, &rs.rules[3]), "");
    CHECK_STR(format(2), "pass out all flags S/SA label \"out  bound\"");
}

static void test_tables_at_run_time(void)
{
    CHECK_EQ(compile("table <t> { 10.0.0.0/8, !10.1.0.0/16 }\nblock from <t>\n"), FW_OK);
    CHECK(fw_table_match(&rs, 0, IP(10, 2, 3, 4)));
    CHECK(!fw_table_match(&rs, 0, IP(10, 1, 3, 4))); /* the negated entry is longer: not in the table */
    CHECK_EQ(fw_table_add(&rs, 0, IP(10, 1, 2, 3), 32, false), FW_OK);
    CHECK(fw_table_match(&rs, 0, IP(10, 1, 2, 3))); /* the host beats the negated /16 */
    CHECK_EQ(fw_table_add(&rs, 0, IP(10, 1, 2, 3), 32, false), FW_E_EXISTS);
    CHECK_EQ(fw_table_delete(&rs, 0, IP(10, 1, 2, 3), 32), FW_OK);
    CHECK_EQ(fw_table_delete(&rs, 0, IP(10, 1, 2, 3), 32), FW_E_NOT_FOUND);
    CHECK_EQ(fw_table_add(&rs, 5, IP(10, 1, 2, 3), 32, false), FW_E_INVAL);
    CHECK_EQ(fw_table_find(&rs, "t", 1), 0);
    CHECK_EQ(fw_table_find(&rs, "u", 1), -1);
    unsigned added = 0;
    for (unsigned i = 0; i < FW_TABLE_SIZE; i++)
        added += fw_table_add(&rs, 0, IP(192, 168, i / 256, i % 256), 32, false) == FW_OK;
    CHECK_EQ(added, FW_TABLE_SIZE - 2); /* the two /8 and /16 entries were there */
    CHECK_EQ(fw_table_add(&rs, 0, IP(172, 16, 0, 1), 32, false), FW_E_FULL);
    fw_table_flush(&rs, 0);
    CHECK_EQ(rs.tables[0].n, 0);
    /* a table rules name before any `table` line: empty, as pf makes it */
    CHECK_EQ(compile("block from <later>\n"), FW_OK);
    CHECK_EQ(rs.n_tables, 1);
    CHECK_EQ(rs.tables[0].n, 0);
}

static void test_replace(void)
{
    static struct fw_ruleset a, b;
    struct fw_ruleset *active = &a, *spare = &b;
    fw_ruleset_init(&a);
    CHECK_EQ(fw_text_compile("pass\nblock quick", &ifs, spare, err, sizeof err), FW_OK);
    CHECK_EQ(fw_ruleset_replace(&active, &spare), FW_OK);
    CHECK(active == &b);
    CHECK_EQ(active->generation, 1);
    CHECK_EQ(active->count, 2);
    /* a bad set leaves the old one in force */
    CHECK_EQ(fw_text_compile("pass\nblock nonsense", &ifs, spare, err, sizeof err), FW_E_SYNTAX);
    CHECK_EQ(fw_ruleset_replace(&active, &spare), FW_E_NOT_VALID);
    CHECK(active == &b);
    CHECK_EQ(fw_text_compile("", &ifs, spare, err, sizeof err), FW_OK); /* empty: deny all */
    CHECK_EQ(fw_ruleset_replace(&active, &spare), FW_OK);
    CHECK_EQ(active->generation, 2);
    CHECK_EQ(active->count, 0);
    CHECK_EQ(fw_ruleset_replace(&active, &active), FW_E_INVAL);
    CHECK_EQ(fw_ruleset_replace(NULL, &spare), FW_E_INVAL);
}

static void test_too_many_rules(void)
{
    static char text[256 * 40];
    size_t n = 0;
    for (int i = 0; i < 256; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "pass from { 1.1.1.1 1.1.1.2 }\n");
    CHECK_EQ(compile(text), FW_OK);
    CHECK_EQ(rs.count, FW_MAX_RULES);
    n = (size_t)snprintf(text, sizeof text, "pass from { 1.1.1.1 1.1.1.2 1.1.1.3 }\n");
    for (int i = 1; i < 256; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "pass from { 1.1.1.1 1.1.1.2 }\n");
    CHECK_EQ(compile(text), FW_E_SYNTAX);
    CHECK_STR(err, "appliance.conf:256:1: expected at most 512 rules in all, after lists are expanded");
}

static void test_format_cut(void)
{
    CHECK_EQ(compile("pass in on wan no state\n"), FW_OK);
    char small[8];
    CHECK_EQ(fw_rule_format(&rs.rules[0], &ifs, &rs, small, sizeof small), strlen("pass in on wan all no state"));
    CHECK_STR(small, "pass in");
    CHECK_EQ(fw_rule_format(&rs.rules[0], NULL, NULL, NULL, 0), strlen("pass in on if0 all no state"));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_design_example),     UNIT_TEST(test_defaults_and_modes), UNIT_TEST(test_lists_expand),
        UNIT_TEST(test_addresses_and_icmp), UNIT_TEST(test_tables_at_run_time), UNIT_TEST(test_replace),
        UNIT_TEST(test_too_many_rules),     UNIT_TEST(test_format_cut),         UNIT_TEST(test_labels),
    };
    return unit_main("fw_rules", tests, (int)(sizeof tests / sizeof tests[0]));
}
