/* test_config_pf.c - appliance.conf's one tokenizer (conf_lex.c), its
 * address parser (conf_addr.c, IPv4 and IPv6) and the firewall grammar
 * (conf_pf*.c): macros, lists, tables, options, unsupported constructs. */
#include <string.h>

#include "conf.h"
#include "conf_addr.h"
#include "conf_lex.h"
#include "conf_pf.h"
#include "unit.h"

static struct conf c;
static struct conf_result res;
static struct conf_pf_work work;
static struct conf_pf_rule rules[64];
static unsigned n_rules, n_tables, table_entries;
static struct conf_pf_options opts;

static int on_rule(void *ctx, const struct conf_pf_rule *r)
{
    (void)ctx;
    if (n_rules < 64)
        rules[n_rules] = *r;
    n_rules++;
    return 0;
}
static int on_table(void *ctx, const struct conf_pf_table *t, const struct conf_pf_table_entry *e, unsigned n)
{
    (void)ctx, (void)t, (void)e;
    n_tables++;
    table_entries += n;
    return 0;
}
static int on_options(void *ctx, const struct conf_pf_options *o)
{
    (void)ctx;
    opts = *o;
    return 0;
}

static const char *ifs = "interface wan nic 0 address 10.0.0.2/24\ninterface lan nic 1 dhcp\n";

/* Parses IFS + TEXT and walks it; returns conf_parse's result. */
static int walk(const char *text)
{
    static char buf[8192];
    snprintf(buf, sizeof buf, "%s%s", ifs, text);
    n_rules = n_tables = table_entries = 0;
    int rc = conf_parse(NULL, buf, strlen(buf), &c, &res);
    if (rc == CONF_OK) {
        struct conf_pf_sink sink = { NULL, on_rule, on_table, on_options, NULL };
        struct conf_pf_error e;
        CHECK_EQ(conf_pf_walk(&c, &sink, &work, &e), 0);
    }
    return rc;
}

static const char *err1(const char *text) { return walk(text) == CONF_OK ? "" : res.errors[0].msg; }

static void test_lexer(void)
{
    struct conf_lex l;
    struct conf_tok t;
    const char *line = "pass in port!=80 from <bad> to $x label \"a # b\" { 1, 2 }(x) # c";
    conf_lex_init(&l, line, strlen(line), true);
    const char *want[] = { "pass",  "in", "port", "!=", "80", "from", "bad", "to", "x", "label",
                           "a # b", "{",  "1",    ",",  "2",  "}",    "(",   "x",  ")" };
    unsigned kinds[] = { CONF_T_WORD,   CONF_T_WORD,  CONF_T_WORD, CONF_T_OP,    CONF_T_WORD,
                         CONF_T_WORD,   CONF_T_TABLE, CONF_T_WORD, CONF_T_MACRO, CONF_T_WORD,
                         CONF_T_STRING, CONF_T_PUNCT, CONF_T_WORD, CONF_T_PUNCT, CONF_T_WORD,
                         CONF_T_PUNCT,  CONF_T_PUNCT, CONF_T_WORD, CONF_T_PUNCT };
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK(conf_lex_next(&l, &t));
        CHECK_EQ(t.n, strlen(want[i]));
        CHECK(memcmp(t.s, want[i], t.n) == 0);
        CHECK_EQ(t.kind, kinds[i]);
    }
    CHECK(!conf_lex_next(&l, &t));
    CHECK_EQ(t.col, 61); /* the comment */
    /* plain mode: operators and quotes are word bytes */
    line = "console password-hash $a=b\"c tls 1{";
    conf_lex_init(&l, line, strlen(line), false);
    CHECK(conf_lex_next(&l, &t) && conf_lex_next(&l, &t) && conf_lex_next(&l, &t));
    CHECK_EQ(t.n, strlen("$a=b\"c"));
    CHECK(conf_lex_next(&l, &t) && conf_lex_next(&l, &t) && conf_lex_next(&l, &t));
    CHECK(conf_tok_punct(&t, "{"));
    /* an unterminated string */
    conf_lex_init(&l, "label \"x", 8, true);
    CHECK(conf_lex_next(&l, &t) && conf_lex_next(&l, &t));
    CHECK_EQ(t.kind, CONF_T_BAD);
}

static void test_addresses(void)
{
    struct conf_ip a;
    char buf[64];
    uint32_t v4;
    CHECK(conf_parse_ipv4("10.0.0.1", 8, &v4) && v4 == 0x0a000001u);
    CHECK(!conf_parse_ipv4("010.0.0.1", 9, &v4)); /* one parser: leading zeros refused everywhere */
    CHECK(!conf_parse_ipv4("1.2.3.256", 9, &v4));
    CHECK(!conf_parse_ipv4("1.2.3", 5, &v4));
    static const struct {
        const char *in, *out;
    } v6[] = {
        { "::", "::" },
        { "::1", "::1" },
        { "2001:db8::1", "2001:db8::1" },
        { "2001:DB8:0:0:0:0:0:1", "2001:db8::1" },
        { "fe80::1:2", "fe80::1:2" },
        { "1:0:0:2:0:0:0:3", "1:0:0:2::3" },
        { "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8" },
        { "::ffff:10.0.0.1", "::ffff:10.0.0.1" },
        { "1::", "1::" },
        { "2001:db8:0:1:0:0:0:0", "2001:db8:0:1::" },
        { "1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7" },
    };
    for (unsigned i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        CHECK(conf_parse_ip(v6[i].in, strlen(v6[i].in), &a));
        CHECK_EQ(a.af, CONF_AF_INET6);
        conf_ip_format(&a, buf, sizeof buf);
        CHECK_STR(buf, v6[i].out);
    }
    static const char *const bad[] = { ":",   ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "1:2:3:4:5:6:7",
                                       "::g", "1:",  ":1",      "1::2:3:4:5:6:7:8",  "::1.2.3", "fe80::1%eth0" };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!conf_parse_ip(bad[i], strlen(bad[i]), &a));
    unsigned prefix;
    size_t slash;
    CHECK_EQ(conf_parse_prefix("2001:db8::/32", 13, &a, &prefix, &slash), 0);
    CHECK_EQ(prefix, 32);
    CHECK_EQ(conf_parse_prefix("2001:db8::/129", 14, &a, &prefix, &slash), 2);
    CHECK_EQ(conf_parse_prefix("10.0.0.0/33", 11, &a, &prefix, &slash), 2);
    CHECK_EQ(slash, 8);
    CHECK_EQ(conf_parse_prefix("10.0.0.0", 8, &a, &prefix, &slash), 0);
    CHECK_EQ(prefix, 32);
    conf_parse_prefix("10.1.2.3/8", 10, &a, &prefix, &slash);
    conf_ip_mask(&a, prefix);
    CHECK_EQ(conf_ip_v4(&a), 0x0a000000u);
}

static void test_macros(void)
{
    CHECK_EQ(walk("net = \"192.168.50.0/24\"\nports = \"{ 22, 443 }\"\nboth = \"{\" $net \"10.9.0.0/16 }\"\n"
                  "pass in from $both to port $ports proto tcp\n"),
             CONF_E_SYNTAX); /* proto after the hosts */
    CHECK_EQ(walk("net = \"192.168.50.0/24\"\nports = \"{ 22, 443 }\"\nboth = \"{\" $net \"10.9.0.0/16 }\"\n"
                  "pass in proto tcp from $both to port $ports\n"),
             CONF_OK);
    CHECK_EQ(n_rules, 4);
    CHECK_EQ(conf_ip_v4(&rules[0].src.ip), 0xc0a83200u);
    CHECK_EQ(rules[0].src.prefix, 24);
    CHECK_EQ(conf_ip_v4(&rules[2].src.ip), 0x0a090000u);
    CHECK_EQ(rules[1].dport.lo, 443);
    /* redefinition: the latest wins for later lines */
    CHECK_EQ(walk("p = 22\npass proto tcp to port $p\np = 80\npass proto tcp to port $p\n"), CONF_OK);
    CHECK_EQ(rules[0].dport.lo, 22);
    CHECK_EQ(rules[1].dport.lo, 80);
    /* errors point at the $macro */
    CHECK_STR(err1("pass proto tcp to port $nope\n"),
              "appliance.conf:3:24: expected a macro defined on an earlier line (got \"$nope\")");
    CHECK_STR(err1("p = \"httpx\"\npass proto tcp to port $p\n"),
              "appliance.conf:4:24: expected a port number or a service name Keel knows (as ssh, domain, www, https) "
              "(got \"httpx\")");
    CHECK_STR(err1("a = $a\n"), "appliance.conf:3:5: expected a macro defined on an earlier line (got \"$a\")");
    CHECK_STR(err1("pass = 1\n"), "appliance.conf:3:1: expected a macro name that is not a keyword (got \"pass\")");
    CHECK_STR(err1("x =\n"), "appliance.conf:3:4: expected a value after '=' (\"text\")");
    CHECK_STR(err1("x = \"open\n"), "appliance.conf:3:5: expected a closing '\"'");
}

static void test_tables_and_set(void)
{
    CHECK_EQ(walk("table <bad> persist { 10.0.0.0/8 !10.1.0.0/16, 192.0.2.1 }\ntable <empty> const\n"
                  "block from <bad> to <empty>\nset block-policy return\nset skip on { lan }\n"),
             CONF_OK);
    CHECK_EQ(n_tables, 2);
    CHECK_EQ(table_entries, 3);
    CHECK_EQ(rules[0].src.kind, CONF_PFA_TABLE);
    CHECK_EQ(rules[0].dst.index, 1);
    CHECK_EQ(opts.block_policy, CONF_PF_RETURN);
    CHECK_EQ(opts.skip, 2);
    CHECK_STR(err1("table <t> { 10.0.0.0/33 }\n"),
              "appliance.conf:3:22: expected a prefix length (0-32 for IPv4, 0-128 for IPv6) (got \"10.0.0.0/33\")");
    CHECK_STR(
        err1("table <t> { www.example.com }\n"),
        "appliance.conf:3:13: expected an address or prefix in the table (host names need a resolver Keel does not "
        "have) (got \"www.example.com\")");
    CHECK_STR(err1("table <t>\ntable <t>\n"), "appliance.conf:4:7: expected a table defined once (got \"<t>\")");
    CHECK_STR(err1("block from <t>\ntable <t>\n"),
              "appliance.conf:4:7: expected the table's definition before the rules that use it (got \"<t>\")");
    CHECK_STR(
        err1("table <t> file \"/etc/x\"\n"),
        "appliance.conf:3:11: unsupported: \"file\" is not supported by Keel (table options other than persist and "
        "const)");
    CHECK_STR(err1("set block-policy maybe\n"),
              "appliance.conf:3:18: expected drop or return after set block-policy (got \"maybe\")");
    CHECK_STR(err1("set skip on lo0\n"),
              "appliance.conf:3:13: expected the name of an interface defined by an interface line (got \"lo0\")");
    CHECK_STR(
        err1("set timeout interval 10\n"),
        "appliance.conf:3:5: unsupported: \"timeout\" is not supported by Keel (Keel has set block-policy and set "
        "skip on)");
}

static void test_rule_options(void)
{
    CHECK_EQ(walk("pass in on wan proto tcp to (wan) port 443 flags S/SA keep state (max-src-conn-rate 5/10, "
                  "floating) label \"web\"\n"),
             CONF_OK);
    CHECK_EQ(n_rules, 1);
    const struct conf_pf_rule *r = &rules[0];
    CHECK_EQ(r->rate_conns, 5);
    CHECK_EQ(r->rate_secs, 10);
    CHECK_EQ(r->overload, -1);
    CHECK_STR(r->label, "web");
    CHECK_EQ(r->dst.kind, CONF_PFA_IFADDR);
    CHECK_EQ(r->tcp_mask, 0x12);
    CHECK_EQ(walk("pass in proto tcp keep state (max 100, max-src-conn 10, max-src-conn-rate 5/10, overload "
                  "<flood> flush global)\n"),
             CONF_OK);
    r = &rules[0];
    CHECK_EQ(r->max_states, 100);
    CHECK_EQ(r->max_src_conn, 10);
    CHECK_EQ(r->overload, 0);
    CHECK(r->overload_flush && r->overload_flush_global);
    CHECK_EQ(n_tables, 1); /* <flood>, made by its first mention */
    CHECK_STR(err1("pass keep state (overload <x>)\n"),
              "appliance.conf:3:6: expected max-src-conn or max-src-conn-rate with overload");
    CHECK_STR(err1("pass keep state (max 0)\n"), "appliance.conf:3:22: expected a number 1-1000000 (got \"0\")");
    CHECK_EQ(walk("block return-icmp (port-unr) in proto udp\npass proto icmp icmp-type { echoreq unreach }\n"),
             CONF_OK);
    CHECK_EQ(rules[0].block_mode, CONF_PF_RETURN_ICMP);
    CHECK_EQ(rules[0].return_code, 3);
    CHECK_EQ(n_rules, 3);
    CHECK_EQ(rules[2].icmp_type, 3);
    /* pf's checks */
    CHECK_STR(err1("pass to port 80\n"), "appliance.conf:3:9: expected proto tcp or proto udp before port");
    CHECK_STR(err1("pass proto { tcp icmp } to port 80\n"),
              "appliance.conf:3:28: expected proto tcp or proto udp before port");
    CHECK_STR(err1("pass icmp-type echoreq\n"), "appliance.conf:3:6: expected proto icmp before icmp-type");
    CHECK_STR(err1("block keep state\n"), "appliance.conf:3:7: expected pass: only pass rules keep state");
    CHECK_STR(err1("pass flags S/SA flags S/SA proto tcp\n"),
              "appliance.conf:3:17: expected this option once per rule (got \"flags\")");
    CHECK_STR(err1("pass keep state max-src-conn-rate 5/1\n"),
              "appliance.conf:3:17: expected flags, icmp-type, label, keep state, no state, nat-to, rdr-to, allow-opts "
              "or end of line (got \"max-src-conn-rate\")");
    CHECK_STR(err1("pass in on dmz\n"),
              "appliance.conf:3:12: expected the name of an interface defined by an interface line (got \"dmz\")");
    CHECK_STR(err1("pass from 010.0.0.1\n"),
              "appliance.conf:3:11: expected an address: any, self, A.B.C.D[/N], an IPv6 address[/N], <table>, "
              "(interface), interface or interface:network (got \"010.0.0.1\")");
}

/* modulate state: accepted as pf writes it, with the state options keep
 * state takes; pass rules only; once per rule, as keep state. */
static void test_modulate_state(void)
{
    CHECK_EQ(walk("pass out on wan proto tcp from any to any port 22 modulate state\n"), CONF_OK);
    CHECK_EQ(n_rules, 1);
    CHECK_EQ(rules[0].state, CONF_PF_MODULATE_STATE);
    CHECK_EQ(rules[0].tcp_mask, 0x12); /* flags S/SA, as keep state */
    CHECK_EQ(rules[0].tcp_set, 0x02);
    CHECK_EQ(walk("pass in proto tcp modulate state (max 100, max-src-conn 10, max-src-conn-rate 5/10, overload "
                  "<flood> flush, floating)\n"),
             CONF_OK);
    CHECK_EQ(rules[0].state, CONF_PF_MODULATE_STATE);
    CHECK_EQ(rules[0].max_states, 100);
    CHECK_EQ(rules[0].max_src_conn, 10);
    CHECK_EQ(rules[0].rate_conns, 5);
    CHECK_EQ(rules[0].overload, 0);
    CHECK(rules[0].overload_flush && !rules[0].overload_flush_global);
    /* any protocol (UDP, ICMP: keep state), inet6, and with a translation */
    CHECK_EQ(walk("pass out proto { tcp udp icmp } modulate state\n"), CONF_OK);
    CHECK_EQ(n_rules, 3);
    CHECK_EQ(rules[1].state, CONF_PF_MODULATE_STATE);
    CHECK_EQ(walk("pass in inet6 proto udp to port 53 modulate state\n"), CONF_OK); /* keep state, as pf */
    CHECK_EQ(rules[0].state, CONF_PF_MODULATE_STATE);
    CHECK_EQ(walk("pass in inet6 proto tcp to port 80 modulate state\n"), CONF_OK);
    CHECK_EQ(rules[0].state, CONF_PF_MODULATE_STATE);
    CHECK_EQ(walk("pass in modulate state\n"), CONF_OK); /* both families */
    CHECK_EQ(walk("pass out on wan proto tcp nat-to (wan) modulate state\n"), CONF_OK);
    CHECK_EQ(rules[0].state, CONF_PF_MODULATE_STATE);
    /* refusals, each where it is */
    CHECK_STR(err1("block modulate state\n"), "appliance.conf:3:7: expected pass: only pass rules keep state");
    CHECK_STR(err1("pass proto tcp keep state modulate state\n"),
              "appliance.conf:3:27: expected this option once per rule (got \"modulate\")");
    CHECK_STR(err1("pass proto tcp modulate\n"), "appliance.conf:3:24: expected state after keep, modulate or no");
    CHECK_STR(err1("pass proto tcp modulate state (sloppy)\n"),
              "appliance.conf:3:32: unsupported: \"sloppy\" is not supported by Keel");
}

static void test_unsupported(void)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        { "pass in route-to (wan 10.0.0.1)\n",
          "appliance.conf:3:9: unsupported: \"route-to\" is not supported by Keel" },
        { "pass in user bob\n", "appliance.conf:3:9: unsupported: \"user\" is not supported by Keel" },
        { "anchor \"x\"\n", "appliance.conf:3:1: unsupported: \"anchor\" is not supported by Keel" },
        { "pass keep state (if-bound)\n", "appliance.conf:3:18: unsupported: \"if-bound\" is not supported by Keel" },
        { "pass in from www.example.com\n",
          "appliance.conf:3:14: unsupported: \"www.example.com\" is not supported by Keel (host names: Keel has no "
          "resolver; or an interface no interface line defines)" },
        { "pass from 10.0.0.1 - 10.0.0.9\n",
          "appliance.conf:3:20: unsupported: \"-\" is not supported by Keel (address ranges)" },
        { "pass log (all)\n", "appliance.conf:3:10: unsupported: \"(\" is not supported by Keel (log options)" },
        { "pass from wan:broadcast\n",
          "appliance.conf:3:15: unsupported: \"broadcast\" is not supported by Keel (interface modifiers other than "
          ":network)" },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_STR(err1(cases[i].text), cases[i].msg);
}

/* What the IPv6 half of the firewall does (fw6.h) is accepted for inet6
 * rules; what it does not is refused with its place. */
static void test_inet6(void)
{
    CHECK_EQ(walk("pass in inet6 proto tcp to port 80 keep state (max 100, max-src-conn 10, max-src-conn-rate 5/10, "
                  "overload <flood> flush global)\n"),
             CONF_OK);
    CHECK_EQ(n_rules, 1);
    CHECK_EQ(rules[0].af, CONF_AF_INET6);
    CHECK_EQ(rules[0].max_states, 100);
    CHECK_EQ(rules[0].max_src_conn, 10);
    CHECK_EQ(rules[0].rate_conns, 5);
    CHECK_EQ(rules[0].rate_secs, 10);
    CHECK(rules[0].overload_flush_global);
    CHECK_EQ(walk("pass in proto tcp from 2001:db8::/32 to port 80 keep state (max-src-conn-rate 5/10)\n"), CONF_OK);
    CHECK_EQ(rules[0].af, CONF_AF_INET6);
    /* block return for IPv6 */
    CHECK_EQ(walk("block return in inet6 proto tcp to port 6004\nblock return-icmp6 (admin-unr) in inet6\n"
                  "block return-icmp6 in inet6 proto udp\nblock return-icmp (host-unr, 3) in\n"
                  "block return-rst in inet6 proto tcp\n"),
             CONF_OK);
    CHECK_EQ(n_rules, 5);
    CHECK_EQ(rules[0].block_mode, CONF_PF_RETURN);
    CHECK_EQ(rules[0].return_code6, 4);
    CHECK_EQ(rules[1].block_mode, CONF_PF_RETURN_ICMP6);
    CHECK_EQ(rules[1].return_code6, 1);
    CHECK_EQ(rules[2].return_code6, 4);
    CHECK_EQ(rules[3].block_mode, CONF_PF_RETURN_ICMP);
    CHECK_EQ(rules[3].return_code, 1);
    CHECK_EQ(rules[3].return_code6, 3);
    CHECK_EQ(rules[4].block_mode, CONF_PF_RETURN_RST);
    CHECK_STR(err1("block return-icmp6 (host-unr) in inet6\n"),
              "appliance.conf:3:21: expected an ICMPv6 unreachable code (as port-unr, admin-unr) or a number 0-255 "
              "(got \"host-unr\")");
    CHECK_STR(err1("block return-icmp (port-unr, 300) in\n"),
              "appliance.conf:3:30: expected an ICMPv6 unreachable code (as port-unr, admin-unr) or a number 0-255 "
              "(got \"300\")");
    CHECK_STR(err1("block return-icmp6 (port-unr in inet6\n"),
              "appliance.conf:3:30: expected ')' after the code (got \"in\")");
    CHECK_STR(err1("block return-rst (ttl 5) in inet6 proto tcp\n"),
              "appliance.conf:3:18: unsupported: \"(\" is not supported by Keel (options of return-rst (ttl))");
    /* antispoof for IPv6 */
    CHECK_EQ(walk("antispoof log quick for { wan lan } inet6 label \"spoof\"\nantispoof for wan\n"), CONF_OK);
    CHECK_EQ(n_rules, 3);
    CHECK_EQ(rules[0].action, CONF_PF_ANTISPOOF);
    CHECK_EQ(rules[0].af, CONF_AF_INET6);
    CHECK_EQ(rules[1].iface, 1);
    CHECK_EQ(rules[2].af, 0);
    CHECK_STR(err1("antispoof for wan inet7\n"),
              "appliance.conf:3:19: expected inet, inet6, label or end of line (got \"inet7\")");
    CHECK_STR(err1("antispoof for wan inet6 inet\n"),
              "appliance.conf:3:25: expected inet, inet6, label or end of line (got \"inet\")");
    /* scrub (max-mss) for IPv6 */
    CHECK_EQ(walk("pass in inet6 proto tcp scrub (max-mss 1220)\nmatch in inet6 scrub (max-mss 1300)\n"), CONF_OK);
    CHECK_EQ(rules[0].max_mss, 1220);
    CHECK_EQ(rules[1].max_mss, 1300);
    CHECK_STR(err1("pass in inet6 proto tcp scrub (max-mss 10)\n"),
              "appliance.conf:3:40: expected an MSS 64-65535 (got \"10\")");
    /* still refused: translation */
    CHECK_STR(err1("pass out on wan inet6 nat-to (wan)\n"),
              "appliance.conf:3:23: unsupported: IPv6 translation is not supported by Keel (NAT is IPv4 only: write "
              "inet)");
    CHECK_STR(err1("pass in on wan inet6 proto tcp rdr-to 2001:db8::5\n"),
              "appliance.conf:3:39: unsupported: \"2001:db8::5\" is not supported by Keel (IPv6 translation: NAT is "
              "IPv4 only)");
    CHECK_STR(err1("pass in inet6 keep state (max-src-conn-rate 5)\n"),
              "appliance.conf:3:45: expected max-src-conn-rate N/S (N 1-1000000 connections, S 1-86400 seconds) (got "
              "\"5\")");
}

static void test_canonical_round_trip(void)
{
    static char out[16384];
    CHECK_EQ(walk("m = \"{ 1.1.1.1   2.2.2.2 }\"   # two\ntable <t>   { 3.3.3.3 }\npass   from $m label \"a  b\"\n"),
             CONF_OK);
    size_t n = conf_write(&c, out, sizeof out);
    CHECK(strstr(out, "m = \"{ 1.1.1.1   2.2.2.2 }\"\ntable <t> { 3.3.3.3 }\npass from $m label \"a  b\"\n") != NULL);
    static struct conf c2;
    CHECK_EQ(conf_parse(NULL, out, n, &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_lexer),          UNIT_TEST(test_addresses),    UNIT_TEST(test_macros),
        UNIT_TEST(test_tables_and_set), UNIT_TEST(test_rule_options), UNIT_TEST(test_modulate_state),
        UNIT_TEST(test_unsupported),    UNIT_TEST(test_inet6),        UNIT_TEST(test_canonical_round_trip),
    };
    return unit_main("config_pf", tests, (int)(sizeof tests / sizeof tests[0]));
}
