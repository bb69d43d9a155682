/* test_fw_rules.c - the firewall rule parser and printer (net/firewall/fw_rules.c). */
#include <string.h>

#include "fw_rules.h"
#include "unit.h"

static struct fw_ruleset rs;
static struct fw_ifaces ifs = { 2, { { "wan", 0, 0, false }, { "lan", 0xc0a83201u, 24, true } } };
static char err[256];
static struct fw_parser parser = { &ifs, NULL, err, sizeof err, 0, 0 };

static int parse(const char *text)
{
    err[0] = '\0';
    return fw_parse_ruleset(&parser, &rs, text, strlen(text));
}

/* Parses one rule that must be valid; returns it. */
static const struct fw_rule *rule(const char *text)
{
    int rc = parse(text);
    CHECK_EQ(rc, FW_OK);
    if (rc != FW_OK)
        printf("unexpected error: %s\n", err);
    CHECK_EQ(rs.count, 1);
    return &rs.rules[0];
}

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static void test_design_example(void)
{
    const char *conf = "hostname edge1\n"
                       "log info                                   # debug | info | warn | error\n"
                       "\n"
                       "interface wan nic 0 dhcp\n"
                       "interface lan nic 1 address 192.168.50.1/24 gateway 192.168.50.254\n"
                       "\n"
                       "# Firewall\n"
                       "pass out keep state\n"
                       "pass in on wan proto tcp to port 443 keep state\n"
                       "pass in on lan proto icmp\n"
                       "block in quick on wan from 10.66.0.0/16\n"
                       "\n"
                       "tls 443 {\n"
                       "    certificate edge1.crt key edge1.key\n"
                       "    backend 10.0.2.2:8080\n"
                       "    idle-timeout 60s\n"
                       "}\n";
    CHECK_EQ(parse(conf), FW_OK);
    CHECK(rs.valid);
    CHECK_EQ(rs.count, 4);
    const struct fw_rule *r = &rs.rules[0];
    CHECK_EQ(r->action, FW_PASS);
    CHECK_EQ(r->dir, FW_OUT);
    CHECK_EQ(r->flags, FW_RF_KEEP_STATE);
    CHECK_EQ(r->proto, FW_PROTO_ANY);
    CHECK_EQ(r->iface, -1);
    CHECK_EQ(r->tcp_mask, FW_TH_SYN | FW_TH_ACK); /* pf's flags S/SA for stateful rules */
    CHECK_EQ(r->tcp_set, FW_TH_SYN);
    CHECK_EQ(r->line, 8);
    r = &rs.rules[1];
    CHECK_EQ(r->dir, FW_IN);
    CHECK_EQ(r->iface, 0);
    CHECK_EQ(r->proto, FW_PROTO_TCP);
    CHECK_EQ(r->dport.op, FW_PORT_EQ);
    CHECK_EQ(r->dport.lo, 443);
    CHECK_EQ(r->sport.op, FW_PORT_ANY);
    CHECK_EQ(r->dst.mask, 0);
    CHECK_EQ(r->line, 9);
    r = &rs.rules[2];
    CHECK_EQ(r->iface, 1);
    CHECK_EQ(r->proto, FW_PROTO_ICMP);
    CHECK_EQ(r->flags, 0);
    CHECK_EQ(r->tcp_mask, 0);
    r = &rs.rules[3];
    CHECK_EQ(r->action, FW_BLOCK);
    CHECK_EQ(r->flags, FW_RF_QUICK);
    CHECK_EQ(r->src.addr, IP(10, 66, 0, 0));
    CHECK_EQ(r->src.mask, 0xffff0000u);
    CHECK_EQ(r->line, 11);
}

static void test_keywords(void)
{
    const struct fw_rule *r = rule("pass");
    CHECK_EQ(r->dir, FW_BOTH);
    CHECK_EQ(r->flags, 0);
    r = rule("block drop log quick on lan inet proto udp all");
    CHECK_EQ(r->action, FW_BLOCK);
    CHECK_EQ(r->flags, FW_RF_LOG | FW_RF_QUICK);
    CHECK_EQ(r->iface, 1);
    CHECK_EQ(r->proto, FW_PROTO_UDP);
    r = rule("block return out proto 47");
    CHECK_EQ(r->flags, FW_RF_RETURN);
    CHECK_EQ(r->dir, FW_OUT);
    CHECK_EQ(r->proto, 47);
    r = rule("pass in proto tcp from ! 10.0.0.0/8 to 192.168.50.1 flags S/SA allow-opts # web");
    CHECK(r->src.neg);
    CHECK_EQ(r->src.addr, IP(10, 0, 0, 0));
    CHECK_EQ(r->dst.addr, IP(192, 168, 50, 1));
    CHECK_EQ(r->dst.mask, 0xffffffffu);
    CHECK_EQ(r->tcp_set, FW_TH_SYN);
    CHECK_EQ(r->tcp_mask, FW_TH_SYN | FW_TH_ACK);
    CHECK_EQ(r->flags, FW_RF_ALLOW_OPTS);
    r = rule("pass proto tcp flags SA");
    CHECK_EQ(r->tcp_set, FW_TH_SYN | FW_TH_ACK);
    CHECK_EQ(r->tcp_mask, 0xff);
    r = rule("pass proto tcp flags /R");
    CHECK_EQ(r->tcp_set, 0);
    CHECK_EQ(r->tcp_mask, FW_TH_RST);
    r = rule("\tpass\tin  from any to any   ");
    CHECK_EQ(r->src.mask, 0);
    CHECK(!r->src.neg);
    r = rule("pass from !10.1.2.3");
    CHECK(r->src.neg);
    CHECK_EQ(r->src.mask, 0xffffffffu);
}

static void test_prefixes(void)
{
    const struct fw_rule *r = rule("pass from 10.1.2.3/8");
    CHECK_EQ(r->src.addr, IP(10, 0, 0, 0)); /* host bits ignored */
    CHECK_EQ(r->src.mask, 0xff000000u);
    r = rule("pass to 0.0.0.0/0");
    CHECK_EQ(r->dst.mask, 0);
    CHECK_EQ(r->dst.addr, 0);
    r = rule("pass to 255.255.255.255/32");
    CHECK_EQ(r->dst.addr, 0xffffffffu);
    CHECK_EQ(r->dst.mask, 0xffffffffu);
    r = rule("pass to 192.168.1.128/25");
    CHECK_EQ(r->dst.mask, 0xffffff80u);
    CHECK_EQ(r->dst.addr, IP(192, 168, 1, 128));
}

static void test_ports(void)
{
    static const struct {
        const char *text;
        uint8_t op;
        uint16_t lo, hi;
    } cases[] = {
        { "pass proto tcp to port 443", FW_PORT_EQ, 443, 0 },
        { "pass proto tcp to port = 443", FW_PORT_EQ, 443, 0 },
        { "pass proto tcp to port=443", FW_PORT_EQ, 443, 0 },
        { "pass proto tcp to port != 22", FW_PORT_NE, 22, 0 },
        { "pass proto tcp to port < 1024", FW_PORT_LT, 1024, 0 },
        { "pass proto tcp to port <= 1024", FW_PORT_LE, 1024, 0 },
        { "pass proto tcp to port > 1023", FW_PORT_GT, 1023, 0 },
        { "pass proto tcp to port >= 1024", FW_PORT_GE, 1024, 0 },
        { "pass proto udp to port 1024:65535", FW_PORT_RANGE, 1024, 65535 },
        { "pass proto udp to port 53:53", FW_PORT_RANGE, 53, 53 },
        { "pass proto tcp to port 6000 >< 6010", FW_PORT_INSIDE, 6000, 6010 },
        { "pass proto tcp to port 1 <> 1023", FW_PORT_OUTSIDE, 1, 1023 },
        { "pass proto tcp to port 0", FW_PORT_EQ, 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct fw_rule *r = rule(cases[i].text);
        CHECK_EQ(r->dport.op, cases[i].op);
        CHECK_EQ(r->dport.lo, cases[i].lo);
        CHECK_EQ(r->dport.hi, cases[i].hi);
    }
    const struct fw_rule *r = rule("pass proto udp from 10.0.0.1 port 53 to port 1024:65535");
    CHECK_EQ(r->src.addr, IP(10, 0, 0, 1));
    CHECK_EQ(r->sport.op, FW_PORT_EQ);
    CHECK_EQ(r->sport.lo, 53);
    CHECK_EQ(r->dport.op, FW_PORT_RANGE);
    r = rule("pass proto tcp from port 80");
    CHECK_EQ(r->src.mask, 0);
    CHECK_EQ(r->sport.lo, 80);
}

static void test_state_options(void)
{
    const struct fw_rule *r = rule("pass proto udp keep state");
    CHECK_EQ(r->flags, FW_RF_KEEP_STATE);
    CHECK_EQ(r->tcp_mask, 0); /* flags apply to TCP only */
    r = rule("pass proto tcp flags any keep state");
    CHECK_EQ(r->tcp_mask, 0);
    r = rule("pass proto tcp keep state (max-src-conn-rate 15/5)");
    CHECK_EQ(r->rate_conns, 15);
    CHECK_EQ(r->rate_secs, 5);
    CHECK_EQ(r->tcp_mask, FW_TH_SYN | FW_TH_ACK);
    r = rule("pass proto tcp keep state max-src-conn-rate 1000000/86400 allow-opts");
    CHECK_EQ(r->rate_conns, 1000000);
    CHECK_EQ(r->rate_secs, 86400);
    CHECK_EQ(r->flags, FW_RF_KEEP_STATE | FW_RF_ALLOW_OPTS);
    r = rule("pass proto tcp no state");
    CHECK_EQ(r->flags, 0);
    CHECK_EQ(r->tcp_mask, 0);
}

static void test_antispoof(void)
{
    const struct fw_rule *r = rule("antispoof for lan");
    CHECK_EQ(r->action, FW_BLOCK);
    CHECK_EQ(r->flags, FW_RF_ANTISPOOF);
    CHECK_EQ(r->dir, FW_IN);
    CHECK_EQ(r->iface, 1);
    r = rule("antispoof log quick for wan inet");
    CHECK_EQ(r->flags, FW_RF_ANTISPOOF | FW_RF_LOG | FW_RF_QUICK);
    CHECK_EQ(r->iface, 0);
}

/* Each error: the input, the exact message. */
static void test_error_messages(void)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        { "pass in on dmz", "appliance.conf:1:12: expected the name of an interface defined by an interface line "
                            "(got \"dmz\")" },
        { "pass in on", "appliance.conf:1:11: expected an interface name" },
        { "pass in on # lan", "appliance.conf:1:12: expected an interface name" },
        { "pass frm any", "appliance.conf:1:6: expected in, out, log, quick, on, inet, proto, from, all, to, flags, "
                          "keep state, no state, allow-opts or end of line (got \"frm\")" },
        { "pass on lan in", "appliance.conf:1:13: expected inet, proto, from, all, to, flags, keep state, no state, "
                            "allow-opts or end of line (got \"in\")" },
        { "pass in keep state quick", "appliance.conf:1:20: expected max-src-conn-rate, allow-opts or end of line "
                                      "(got \"quick\")" },
        { "pass allow-opts all", "appliance.conf:1:17: expected end of line (got \"all\")" },
        { "pass all from any", "appliance.conf:1:10: expected flags, keep state, no state, allow-opts or end of line "
                               "(got \"from\")" },
        { "pass to any from any", "appliance.conf:1:13: expected flags, keep state, no state, allow-opts or end of "
                                  "line (got \"from\")" },
        { "pass max-src-conn-rate 1/1", "appliance.conf:1:6: expected in, out, log, quick, on, inet, proto, from, "
                                        "all, to, flags, keep state, no state, allow-opts or end of line (got "
                                        "\"max-src-conn-rate\")" },
        { "pass inet6", "appliance.conf:1:6: expected inet: IPv6 is not supported" },
        { "pass proto gre", "appliance.conf:1:12: expected tcp, udp, icmp or a protocol number 1-255 (got \"gre\")" },
        { "pass proto 256", "appliance.conf:1:12: expected tcp, udp, icmp or a protocol number 1-255 (got \"256\")" },
        { "pass proto 0", "appliance.conf:1:12: expected tcp, udp, icmp or a protocol number 1-255 (got \"0\")" },
        { "pass proto", "appliance.conf:1:11: expected tcp, udp, icmp or a protocol number 1-255" },
        { "pass from", "appliance.conf:1:10: expected an address A.B.C.D, a prefix A.B.C.D/N, any or port" },
        { "pass from 10.0.0", "appliance.conf:1:11: expected an address A.B.C.D, a prefix A.B.C.D/N, any or port "
                              "(got \"10.0.0\")" },
        { "pass from 10.0.0.256", "appliance.conf:1:11: expected an address A.B.C.D, a prefix A.B.C.D/N, any or "
                                  "port (got \"10.0.0.256\")" },
        { "pass to 1.2.3.4.5", "appliance.conf:1:9: expected an address A.B.C.D, a prefix A.B.C.D/N, any or port "
                               "(got \"1.2.3.4.5\")" },
        { "pass to 1.2.3.0004", "appliance.conf:1:9: expected an address A.B.C.D, a prefix A.B.C.D/N, any or port "
                                "(got \"1.2.3.0004\")" },
        { "pass to ! ", "appliance.conf:1:11: expected an address A.B.C.D, a prefix A.B.C.D/N, any or port" },
        { "pass from 10.0.0.0/33", "appliance.conf:1:20: expected a prefix length 0-32 (got \"10.0.0.0/33\")" },
        { "pass from 10.0.0.0/", "appliance.conf:1:20: expected a prefix length 0-32 (got \"10.0.0.0/\")" },
        { "pass to port 80", "appliance.conf:1:9: expected proto tcp or proto udp before port" },
        { "pass proto icmp to any port 80", "appliance.conf:1:24: expected proto tcp or proto udp before port" },
        { "pass proto tcp to port", "appliance.conf:1:23: expected a port: N, N:M, = N, != N, < N, <= N, > N, >= N, "
                                    "N >< M or N <> M" },
        { "pass proto tcp to port =< 5", "appliance.conf:1:24: expected a port: N, N:M, = N, != N, < N, <= N, > N, "
                                         ">= N, N >< M or N <> M (got \"=<\")" },
        { "pass proto tcp to port 65536", "appliance.conf:1:24: expected a port number 0-65535 (got \"65536\")" },
        { "pass proto tcp to port http", "appliance.conf:1:24: expected a port number 0-65535 (got \"http\")" },
        { "pass proto tcp to port >", "appliance.conf:1:25: expected a port number 0-65535" },
        { "pass proto tcp to port 1:x", "appliance.conf:1:26: expected a port number 0-65535 (got \"x\")" },
        { "pass proto tcp to port 9:1", "appliance.conf:1:24: expected a port range N:M with N <= M (got \"9:1\")" },
        { "pass proto tcp to port 9 >< 1", "appliance.conf:1:24: expected a port range N >< M or N <> M with N <= M" },
        { "pass proto tcp to port 9 <>", "appliance.conf:1:28: expected a port number 0-65535" },
        { "pass proto udp flags S/SA", "appliance.conf:1:16: expected proto tcp (or no proto) before flags" },
        { "pass proto tcp flags", "appliance.conf:1:21: expected flags any, X/Y or X (letters FSRPAUEW)" },
        { "pass proto tcp flags S/Q", "appliance.conf:1:22: expected flags any, X/Y or X (letters FSRPAUEW) (got "
                                      "\"S/Q\")" },
        { "pass proto tcp flags S/", "appliance.conf:1:22: expected flags any, X/Y or X (letters FSRPAUEW) (got "
                                     "\"S/\")" },
        { "pass proto tcp flags SF/A", "appliance.conf:1:22: expected flags X/Y with X a subset of Y (got "
                                       "\"SF/A\")" },
        { "pass keep", "appliance.conf:1:10: expected state after keep" },
        { "pass keep states", "appliance.conf:1:11: expected state after keep (got \"states\")" },
        { "pass no", "appliance.conf:1:8: expected state after no" },
        { "block keep state", "appliance.conf:1:7: expected pass: only pass rules keep state" },
        { "pass keep state (", "appliance.conf:1:18: expected max-src-conn-rate N/S in keep state ( )" },
        { "pass keep state (max-src-conn 5)", "appliance.conf:1:18: expected max-src-conn-rate N/S in keep state ( ) "
                                              "(got \"max-src-conn\")" },
        { "pass keep state (max-src-conn-rate 5/1", "appliance.conf:1:39: expected , or ) after a state option" },
        { "pass keep state (max-src-conn-rate 5/1 x", "appliance.conf:1:40: expected , or ) after a state option (got "
                                                      "\"x\")" },
        { "pass keep state (max-src-conn-rate 5/1, max-src-conn-rate 5/1)",
          "appliance.conf:1:59: expected one max-src-conn-rate per rule" },
        { "pass keep state max-src-conn-rate", "appliance.conf:1:34: expected max-src-conn-rate N/S (N 1-1000000 "
                                               "connections, S 1-86400 seconds)" },
        { "pass keep state max-src-conn-rate 0/5", "appliance.conf:1:35: expected max-src-conn-rate N/S (N 1-1000000 "
                                                   "connections, S 1-86400 seconds) (got \"0/5\")" },
        { "pass keep state max-src-conn-rate 5/86401", "appliance.conf:1:35: expected max-src-conn-rate N/S (N "
                                                       "1-1000000 connections, S 1-86400 seconds) (got \"5/86401\")" },
        { "pass keep state max-src-conn-rate 5", "appliance.conf:1:35: expected max-src-conn-rate N/S (N 1-1000000 "
                                                 "connections, S 1-86400 seconds) (got \"5\")" },
        { "antispoof lan", "appliance.conf:1:11: expected log, quick or for (got \"lan\")" },
        { "antispoof quick log for lan", "appliance.conf:1:17: expected log, quick or for (got \"log\")" },
        { "antispoof for", "appliance.conf:1:14: expected an interface name" },
        { "antispoof for eth0", "appliance.conf:1:15: expected the name of an interface defined by an interface line "
                                "(got \"eth0\")" },
        { "antispoof for lan inet6", "appliance.conf:1:19: expected inet or end of line (got \"inet6\")" },
        { "antispoof for lan inet x", "appliance.conf:1:24: expected end of line (got \"x\")" },
        { "pass from { 10.0.0.1 }", "appliance.conf:1:11: expected an address A.B.C.D, a prefix A.B.C.D/N, any or "
                                    "port (got \"{\")" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ(parse(cases[i].text), FW_E_SYNTAX);
        CHECK(!rs.valid);
        CHECK_STR(err, cases[i].msg);
        CHECK_EQ(parser.err_line, 1);
    }
}

static void test_error_position_and_file(void)
{
    CHECK_EQ(parse("hostname x\n\npass in\n  pass in on wan proto tcp to port 99999\n"), FW_E_SYNTAX);
    CHECK_STR(err, "appliance.conf:4:36: expected a port number 0-65535 (got \"99999\")");
    CHECK_EQ(parser.err_line, 4);
    CHECK_EQ(parser.err_col, 36);
    CHECK_EQ(rs.count, 1); /* the rules before the error */
    CHECK(!rs.valid);

    struct fw_parser p2 = parser;
    char small[24];
    p2.file = "site/edge.conf";
    p2.err = small;
    p2.errlen = sizeof small;
    CHECK_EQ(fw_parse_ruleset(&p2, &rs, "block bogus", 11), FW_E_SYNTAX);
    CHECK_STR(small, "site/edge.conf:1:7: exp"); /* cut to fit, terminated */
    CHECK_EQ(p2.err_col, 7);

    /* a long word is quoted in part */
    CHECK_EQ(parse("pass on abcdefghijklmnopqrstuvwxyzabcdefghijklmnop"), FW_E_SYNTAX);
    CHECK_STR(err, "appliance.conf:1:9: expected the name of an interface defined by an interface line "
                   "(got \"abcdefghijklmnopqrstuvwxyzabcdef...\")");
    /* a control character in a word is not copied */
    CHECK_EQ(parse("pass on w\x01n"), FW_E_SYNTAX);
    CHECK_STR(err, "appliance.conf:1:9: expected the name of an interface defined by an interface line "
                   "(got \"w?n\")");
}

static void test_parse_rule_api(void)
{
    fw_ruleset_init(&rs);
    CHECK(rs.valid);
    CHECK_EQ(fw_parse_rule(&parser, &rs, "pass in\nblock", 13, 7), FW_OK); /* stops at the newline */
    CHECK_EQ(rs.count, 1);
    CHECK_EQ(rs.rules[0].line, 7);
    CHECK_EQ(fw_parse_rule(&parser, &rs, "   # nothing", 12, 8), FW_OK);
    CHECK_EQ(fw_parse_rule(&parser, &rs, "", 0, 9), FW_OK);
    CHECK_EQ(rs.count, 1);
    CHECK_EQ(fw_parse_rule(&parser, &rs, "hostname edge1", 14, 10), FW_E_SYNTAX);
    CHECK_STR(err, "appliance.conf:10:1: expected pass, block or antispoof (got \"hostname\")");
    CHECK(!rs.valid);
    CHECK_EQ(fw_parse_rule(NULL, &rs, "pass", 4, 1), FW_E_INVAL);
    CHECK_EQ(fw_parse_rule(&parser, NULL, "pass", 4, 1), FW_E_INVAL);
    CHECK_EQ(fw_parse_ruleset(&parser, &rs, NULL, 1), FW_E_INVAL);
    /* no interface table: every name is unknown */
    struct fw_parser bare = { NULL, NULL, err, sizeof err, 0, 0 };
    fw_ruleset_init(&rs);
    CHECK_EQ(fw_parse_rule(&bare, &rs, "pass on wan", 11, 1), FW_E_SYNTAX);
}

static void test_is_rule_line(void)
{
    CHECK(fw_is_rule_line("pass", 4));
    CHECK(fw_is_rule_line("  block in", 10));
    CHECK(fw_is_rule_line("antispoof for lan", 17));
    CHECK(!fw_is_rule_line("passage", 7));
    CHECK(!fw_is_rule_line("# pass", 6));
    CHECK(!fw_is_rule_line("interface wan nic 0 dhcp", 24));
    CHECK(!fw_is_rule_line("", 0));
    CHECK(!fw_is_rule_line(NULL, 0));
    CHECK(fw_is_rule_line("pass\nblock", 3) == false); /* "pas" */
}

static void test_blocks_and_lines(void)
{
    const char *conf = "tls 443 {\n"
                       "    pass this is not a rule\n"
                       "    nested {\n"
                       "    }\n"
                       "    block neither\n"
                       "}\n"
                       "} # stray close: ignored\n"
                       "pass in # line 8\n"
                       "tls 8443 { # comment with } brace\n"
                       "  block x\n"
                       "}\n"
                       "pas in on wan\n" /* not a rule keyword: another parser's problem */
                       "block out";      /* no final newline */
    CHECK_EQ(parse(conf), FW_OK);
    CHECK_EQ(rs.count, 2);
    CHECK_EQ(rs.rules[0].line, 8);
    CHECK_EQ(rs.rules[1].line, 13);
    CHECK_EQ(rs.rules[1].action, FW_BLOCK);
}

static void test_too_many_rules(void)
{
    static char text[FW_MAX_RULES * 6 + 16];
    size_t n = 0;
    for (int i = 0; i < FW_MAX_RULES; i++) {
        memcpy(text + n, "pass\n", 5);
        n += 5;
    }
    text[n] = '\0';
    CHECK_EQ(parse(text), FW_OK);
    CHECK_EQ(rs.count, FW_MAX_RULES);
    memcpy(text + n, "block\n", 7);
    CHECK_EQ(parse(text), FW_E_FULL);
    CHECK_STR(err, "appliance.conf:513:1: expected at most 512 rules (FW_MAX_RULES)");
    CHECK(!rs.valid);
}

static void test_replace(void)
{
    static struct fw_ruleset a, b;
    struct fw_ruleset *active = &a, *spare = &b;
    fw_ruleset_init(&a);
    CHECK_EQ(fw_parse_ruleset(&parser, spare, "pass\nblock quick", 16), FW_OK);
    CHECK_EQ(fw_ruleset_replace(&active, &spare), FW_OK);
    CHECK(active == &b);
    CHECK(spare == &a);
    CHECK_EQ(active->generation, 1);
    CHECK_EQ(active->count, 2);

    /* a bad set leaves the old one in force */
    CHECK_EQ(fw_parse_ruleset(&parser, spare, "pass\nblock nonsense", 19), FW_E_SYNTAX);
    CHECK_EQ(fw_ruleset_replace(&active, &spare), FW_E_NOT_VALID);
    CHECK(active == &b);
    CHECK_EQ(active->generation, 1);

    CHECK_EQ(fw_parse_ruleset(&parser, spare, "", 0), FW_OK); /* empty: deny all */
    CHECK_EQ(fw_ruleset_replace(&active, &spare), FW_OK);
    CHECK(active == &a);
    CHECK_EQ(active->generation, 2);
    CHECK_EQ(active->count, 0);

    CHECK_EQ(fw_ruleset_replace(&active, &active), FW_E_INVAL);
    CHECK_EQ(fw_ruleset_replace(NULL, &spare), FW_E_INVAL);
    struct fw_ruleset *none = NULL;
    CHECK_EQ(fw_ruleset_replace(&active, &none), FW_E_INVAL);
}

static bool same_rule(const struct fw_rule *a, const struct fw_rule *b)
{
    return a->action == b->action && a->dir == b->dir && a->proto == b->proto && a->flags == b->flags &&
           a->iface == b->iface && a->tcp_mask == b->tcp_mask && a->tcp_set == b->tcp_set &&
           a->src.addr == b->src.addr && a->src.mask == b->src.mask && a->src.neg == b->src.neg &&
           a->dst.addr == b->dst.addr && a->dst.mask == b->dst.mask && a->dst.neg == b->dst.neg &&
           a->sport.op == b->sport.op && a->sport.lo == b->sport.lo && a->sport.hi == b->sport.hi &&
           a->dport.op == b->dport.op && a->dport.lo == b->dport.lo && a->dport.hi == b->dport.hi &&
           a->rate_conns == b->rate_conns && a->rate_secs == b->rate_secs;
}

static void test_format_round_trip(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "pass out keep state", "pass out all flags S/SA keep state" },
        { "pass in on wan proto tcp to port 443 keep state",
          "pass in on wan proto tcp to port 443 flags S/SA keep state" },
        { "block in quick on wan from 10.66.0.0/16", "block in quick on wan from 10.66.0.0/16" },
        { "block return log proto udp from ! 1.2.3.4 port != 53 to 5.6.7.0/24 port 1:2",
          "block return log proto udp from ! 1.2.3.4 port != 53 to 5.6.7.0/24 port 1:2" },
        { "pass proto tcp from port 6000 >< 6010 to port 1 <> 1023 flags any keep state (max-src-conn-rate 9/3) "
          "allow-opts",
          "pass proto tcp from port 6000 >< 6010 to port 1 <> 1023 flags any keep state (max-src-conn-rate 9/3) "
          "allow-opts" },
        { "pass proto tcp to port <= 5 flags FPU/FSRPAUEW", "pass proto tcp to port <= 5 flags FPU/FSRPAUEW" },
        { "pass from ! any", "pass from ! any" },
        { "pass proto 50 to 10.0.0.1/32", "pass proto 50 to 10.0.0.1" },
        { "pass proto udp keep state", "pass proto udp all keep state" },
        { "antispoof log quick for lan inet", "antispoof log quick for lan" },
        { "block drop", "block all" },
        { "pass proto tcp to port > 1 ", "pass proto tcp to port > 1" },
        { "pass proto tcp to port >= 1 ", "pass proto tcp to port >= 1" },
        { "pass proto tcp to port < 1 ", "pass proto tcp to port < 1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fw_rule r1 = *rule(cases[i].in);
        char buf[256];
        size_t n = fw_rule_format(&r1, &ifs, buf, sizeof buf);
        CHECK_EQ(n, strlen(buf));
        CHECK_STR(buf, cases[i].out);
        const struct fw_rule *r2 = rule(buf);
        CHECK(same_rule(&r1, r2));
    }
    /* cut to fit; the full length is returned */
    struct fw_rule r = *rule("pass in on wan");
    char small[8];
    CHECK_EQ(fw_rule_format(&r, &ifs, small, sizeof small), strlen("pass in on wan all"));
    CHECK_STR(small, "pass in");
    CHECK_EQ(fw_rule_format(&r, NULL, NULL, 0), strlen("pass in on if0 all"));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_design_example),   UNIT_TEST(test_keywords),
        UNIT_TEST(test_prefixes),         UNIT_TEST(test_ports),
        UNIT_TEST(test_state_options),    UNIT_TEST(test_antispoof),
        UNIT_TEST(test_error_messages),   UNIT_TEST(test_error_position_and_file),
        UNIT_TEST(test_parse_rule_api),   UNIT_TEST(test_is_rule_line),
        UNIT_TEST(test_blocks_and_lines), UNIT_TEST(test_too_many_rules),
        UNIT_TEST(test_replace),          UNIT_TEST(test_format_round_trip),
    };
    return unit_main("fw_rules", tests, (int)(sizeof tests / sizeof tests[0]));
}
