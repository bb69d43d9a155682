/* test_fw6.c - the firewall's IPv6 half (net/firewall/fw6.h): parsing
 * (extension headers, fragments, truncation), ND/MLD/packet-too-big passed
 * before the rules, inet6 rules from appliance.conf text (prefixes, tables
 * with IPv6 entries, icmp6-type, self, quick, last match), states both ways
 * and their expiry, a full state table, and that inet rules never see IPv6
 * nor inet6 rules IPv4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw6.h"
#include "fw_match.h"
#include "fw_text.h"
#include "unit.h"

static struct fw_ruleset rs;
static struct fw6_state_table st;
static struct fw6_ifaces ifs6;
static struct fw_ifaces ifs = { 2, { { .name = "wan" }, { .name = "lan" } } };
static struct fw6_engine eng;
static uint8_t pkt[2048];
static char err[256];

#define NS 1000000000ull

static void addr(uint8_t out[16], const char *text)
{
    struct conf_ip ip;
    if (!conf_parse_ip(text, strlen(text), &ip) || ip.af != CONF_AF_INET6)
        abort();
    memcpy(out, ip.a, 16);
}

/* An IPv6 packet: SRC -> DST, next header NH, then L4 bytes (LEN). */
static size_t make(const char *src, const char *dst, uint8_t nh, uint8_t hop, const uint8_t *l4, size_t len)
{
    memset(pkt, 0, 40);
    pkt[0] = 0x60;
    pkt[4] = (uint8_t)(len >> 8), pkt[5] = (uint8_t)len;
    pkt[6] = nh;
    pkt[7] = hop;
    addr(pkt + 8, src);
    addr(pkt + 24, dst);
    memcpy(pkt + 40, l4, len);
    return 40 + len;
}

static size_t tcp(const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t flags)
{
    uint8_t th[20] = { (uint8_t)(sport >> 8), (uint8_t)sport, (uint8_t)(dport >> 8), (uint8_t)dport };
    th[12] = 5 << 4;
    th[13] = flags;
    return make(src, dst, 6, 64, th, sizeof th);
}

static size_t icmp6(const char *src, const char *dst, uint8_t type, uint8_t hop)
{
    uint8_t ih[8] = { type, 0, 0, 0, 0x12, 0x34, 0, 1 };
    return make(src, dst, 58, hop, ih, sizeof ih);
}

static int verdict(size_t len, uint8_t dir, uint8_t iface, uint64_t now)
{
    struct fw6_packet p = { .dir = dir, .iface = iface };
    int rc = fw6_parse(pkt, len, &p);
    if (rc < 0)
        return rc;
    if (fw6_is_nd(&p))
        return 100; /* passed before the rules */
    struct fw_verdict v;
    fw6_filter(&eng, &p, now, &v);
    return v.action;
}

static int load(const char *text)
{
    int rc = fw_text_compile(text, &ifs, &rs, err, sizeof err);
    if (rc != FW_OK)
        printf("  compile: %s\n", err);
    fw6_state_init(&st, 12345);
    memset(&eng, 0, sizeof eng);
    eng.rules = &rs;
    eng.states = &st;
    eng.ifaces = &ifs6;
    return rc;
}

static void test_parse(void)
{
    struct fw6_packet p;
    size_t n = tcp("2001:db8::1", "2001:db8::2", 1000, 80, FW_TH_SYN);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
    CHECK_EQ(p.proto, 6);
    CHECK_EQ(p.sport, 1000);
    CHECK_EQ(p.dport, 80);
    CHECK_EQ(p.len, 60u);
    CHECK_EQ(fw6_parse(pkt, n - 1, &p), FW6_PKT_E_TRUNCATED);
    CHECK_EQ(fw6_parse(pkt, 39, &p), FW6_PKT_E_TRUNCATED);
    pkt[0] = 0x40;
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_E_VERSION);
    /* hop-by-hop, then TCP */
    uint8_t l4[28] = { 6, 0, 1, 4 };
    l4[8] = 0x03, l4[9] = 0xe8, l4[11] = 22, l4[20] = 5 << 4, l4[21] = FW_TH_SYN;
    n = make("2001:db8::1", "2001:db8::2", 0, 64, l4, sizeof l4);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
    CHECK_EQ(p.proto, 6);
    CHECK_EQ(p.dport, 22);
    /* a fragment header: dropped; routing type 0: dropped */
    uint8_t frag[16] = { 6 };
    n = make("2001:db8::1", "2001:db8::2", 44, 64, frag, sizeof frag);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_E_FRAG);
    uint8_t rh0[8] = { 6, 0, 0, 0 };
    n = make("2001:db8::1", "2001:db8::2", 43, 64, rh0, sizeof rh0);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_E_EXT);
    n = tcp("2001:db8::1", "2001:db8::2", 1, 2, FW_TH_SYN | FW_TH_FIN);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_E_TCP_FLAGS);
    n = tcp("ff02::1", "2001:db8::2", 1, 2, FW_TH_SYN);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_E_SRC);
    char text[48];
    uint8_t a[16];
    addr(a, "2001:db8:0:0:1:0:0:1");
    CHECK_STR(fw6_ntop(a, text, sizeof text), "2001:db8::1:0:0:1");
    addr(a, "::");
    CHECK_STR(fw6_ntop(a, text, sizeof text), "::");
    addr(a, "fe80::1");
    CHECK_STR(fw6_ntop(a, text, sizeof text), "fe80::1");
}

/* Deny-all (no rules) still passes ND with hop limit 255, MLD from a
 * link-local source with hop limit 1, and packet too big; not echo. */
static void test_nd_passes_deny_all(void)
{
    CHECK_EQ(load("block all\n"), FW_OK);
    CHECK_EQ(verdict(icmp6("fe80::1", "ff02::1:ff00:2", 135, 255), FW_IN, 0, NS), 100);
    CHECK_EQ(verdict(icmp6("fe80::1", "fe80::2", 136, 255), FW_IN, 0, NS), 100);
    CHECK_EQ(verdict(icmp6("fe80::1", "ff02::1", 134, 255), FW_IN, 0, NS), 100);
    CHECK_EQ(verdict(icmp6("fe80::1", "ff02::2", 133, 255), FW_OUT, 0, NS), 100);
    CHECK_EQ(verdict(icmp6("fe80::1", "ff02::1", 134, 64), FW_IN, 0, NS), FW_BLOCK); /* routed: not ND */
    CHECK_EQ(verdict(icmp6("fe80::1", "ff02::16", 143, 1), FW_OUT, 0, NS), 100);
    CHECK_EQ(verdict(icmp6("2001:db8::1", "ff02::16", 143, 1), FW_IN, 0, NS), FW_BLOCK);
    CHECK_EQ(verdict(icmp6("2001:db8::1", "2001:db8::2", 2, 60), FW_IN, 0, NS), 100);
    CHECK_EQ(verdict(icmp6("2001:db8::1", "2001:db8::2", 128, 64), FW_IN, 0, NS), FW_BLOCK);
}

static void test_rules_and_states(void)
{
    CHECK_EQ(load("table <bad> { 2001:db8:66::/48, !2001:db8:66:1::/64, 10.66.0.0/16 }\n"
                  "pass in inet proto tcp to port 22\n"
                  "pass in on wan inet6 proto tcp from 2001:db8:1::/64 to port 80\n"
                  "pass in inet6 proto icmp6 icmp6-type echoreq\n"
                  "pass out\n"
                  "block in quick from <bad>\n"),
             FW_OK);
    CHECK_EQ(rs.rules[0].af, 4);
    CHECK_EQ(rs.rules[1].af, 6);
    CHECK_EQ(rs.rules[1].src6.prefix, 64);
    CHECK_EQ(rs.rules[3].af, 0);
    char text[200];
    (void)fw_rule_format(&rs.rules[1], &ifs, &rs, text, sizeof text);
    printf("  listing: %s\n", text);
    CHECK(strstr(text, "pass in on wan inet6 proto tcp from 2001:db8:1::/64 to any port = 80") == text);
    (void)fw_rule_format(&rs.rules[2], &ifs, &rs, text, sizeof text);
    printf("  listing: %s\n", text);
    CHECK(strstr(text, "inet6 proto ipv6-icmp all icmp6-type 128") != NULL);
    /* the inet rule never passes IPv6 */
    CHECK_EQ(verdict(tcp("2001:db8:1::5", "2001:db8:2::1", 999, 22, FW_TH_SYN), FW_IN, 0, NS), FW_BLOCK);
    /* the inet6 rule: on wan from its prefix */
    CHECK_EQ(verdict(tcp("2001:db8:1::5", "2001:db8:2::1", 1000, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8:1::5", "2001:db8:2::1", 1001, 80, FW_TH_SYN), FW_IN, 1, NS), FW_BLOCK);
    CHECK_EQ(verdict(tcp("2001:db8:9::5", "2001:db8:2::1", 1002, 80, FW_TH_SYN), FW_IN, 0, NS), FW_BLOCK);
    /* the answer passes in on lan by the state, and the state is counted */
    CHECK_EQ(st.count, 1u);
    CHECK_EQ(verdict(tcp("2001:db8:2::1", "2001:db8:1::5", 80, 1000, FW_TH_SYN | FW_TH_ACK), FW_IN, 1, NS), FW_PASS);
    CHECK_EQ(rs.rules[1].c.states, 1u);
    CHECK_EQ(rs.rules[1].c.packets, 2u);
    /* an answer to a connection no rule allowed is blocked */
    CHECK_EQ(verdict(tcp("2001:db8:2::1", "2001:db8:9::5", 80, 1002, FW_TH_SYN | FW_TH_ACK), FW_IN, 1, NS), FW_BLOCK);
    /* icmp6-type echoreq */
    CHECK_EQ(verdict(icmp6("2001:db8:9::5", "2001:db8:2::1", 128, 64), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(icmp6("2001:db8:9::6", "2001:db8:2::1", 129, 64), FW_IN, 0, NS), FW_BLOCK);
    /* the table: the /48 blocks, its negated /64 does not */
    CHECK_EQ(verdict(icmp6("2001:db8:66:5::1", "2001:db8:2::1", 128, 64), FW_IN, 0, NS), FW_BLOCK);
    CHECK_EQ(verdict(icmp6("2001:db8:66:1::1", "2001:db8:2::1", 128, 64), FW_IN, 0, NS), FW_PASS);
    /* states expire: the established TCP state after a day without packets,
     * an echo state after 20 s */
    CHECK_EQ(verdict(tcp("2001:db8:2::1", "2001:db8:1::5", 80, 1000, FW_TH_ACK), FW_IN, 1, 20 * NS), FW_PASS);
    CHECK_EQ(fw6_state_expire(&st, 15 * NS), 0u);
    CHECK_EQ(fw6_state_expire(&st, 45 * NS), 2u); /* the two echo states */
    CHECK_EQ(verdict(tcp("2001:db8:2::1", "2001:db8:1::5", 80, 1000, FW_TH_ACK), FW_IN, 1, 3600 * NS), FW_PASS);
    CHECK(fw6_state_expire(&st, 3600 * NS + 86401 * NS) >= 1);
    CHECK_EQ(st.count, 0u);
    CHECK_EQ(verdict(tcp("2001:db8:2::1", "2001:db8:1::5", 80, 1000, FW_TH_ACK), FW_IN, 1, 90000 * NS), FW_BLOCK);
}

static void test_self_and_ifaces(void)
{
    CHECK_EQ(load("pass in inet6 proto tcp to self port 443\npass in inet6 proto udp to (lan) port 53\n"
                  "pass in inet6 proto udp from lan:network port 5353\n"),
             FW_OK);
    memset(&ifs6, 0, sizeof ifs6);
    ifs6.ifs[0].n = 1;
    ifs6.ifs[0].prefix[0] = 64;
    addr(ifs6.ifs[0].a[0], "2001:db8:10::7");
    ifs6.ifs[1].n = 1;
    ifs6.ifs[1].prefix[0] = 64;
    addr(ifs6.ifs[1].a[0], "2001:db8:11::1");
    CHECK_EQ(verdict(tcp("2001:db8:9::5", "2001:db8:10::7", 5, 443, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8:9::5", "2001:db8:10::8", 5, 443, FW_TH_SYN), FW_IN, 0, NS), FW_BLOCK);
    uint8_t udp[8] = { 0, 9, 0, 53, 0, 8 };
    CHECK_EQ(verdict(make("2001:db8:11::9", "2001:db8:11::1", 17, 64, udp, 8), FW_IN, 1, NS), FW_PASS);
    CHECK_EQ(verdict(make("2001:db8:11::9", "2001:db8:10::7", 17, 64, udp, 8), FW_IN, 1, NS), FW_BLOCK);
    uint8_t mdns[8] = { 0x14, 0xe9, 0, 99, 0, 8 };
    CHECK_EQ(verdict(make("2001:db8:11::9", "2001:db8:10::7", 17, 64, mdns, 8), FW_IN, 1, NS), FW_PASS);
    CHECK_EQ(verdict(make("2001:db8:12::9", "2001:db8:10::7", 17, 64, mdns, 8), FW_IN, 1, NS), FW_BLOCK);
    memset(&ifs6, 0, sizeof ifs6);
}

static void test_full_table_refuses_new(void)
{
    CHECK_EQ(load("pass inet6 proto udp\n"), FW_OK);
    uint8_t udp[8] = { 0, 1, 0, 2, 0, 8 };
    unsigned passed = 0;
    for (unsigned i = 0; i < FW6_STATES + 5; i++) {
        udp[0] = (uint8_t)(i >> 8), udp[1] = (uint8_t)i;
        passed += verdict(make("2001:db8::1", "2001:db8::2", 17, 64, udp, 8), FW_OUT, 0, NS) == FW_PASS;
    }
    CHECK_EQ(passed, (unsigned)FW6_STATES);
    CHECK_EQ(st.stats.full, 5u);
    CHECK_EQ(eng.stats.state_full, 5u);
    udp[0] = 0, udp[1] = 0; /* an old flow still passes */
    CHECK_EQ(verdict(make("2001:db8::1", "2001:db8::2", 17, 64, udp, 8), FW_OUT, 0, NS), FW_PASS);
}

/* inet6 rules never touch IPv4 packets (the IPv4 engine). */
static void test_ipv4_ignores_inet6(void)
{
    CHECK_EQ(load("pass in inet6 proto icmp6\npass in on wan inet6 all\n"), FW_OK);
    uint8_t ip4[28] = { 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0, 0, 0, 1, 0, 1 };
    unsigned s = 0;
    for (int i = 0; i < 20; i += 2)
        s += (unsigned)(ip4[i] << 8 | ip4[i + 1]);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    ip4[10] = (uint8_t)(~s >> 8), ip4[11] = (uint8_t)~s;
    struct fw_packet p;
    CHECK_EQ(fw_parse_ipv4(ip4, sizeof ip4, &p), FW_PKT_IPV4);
    p.dir = FW_IN;
    p.iface = 0;
    CHECK_EQ(fw_rules_eval(&rs, &p, &ifs), -1);
}

static void test_conf_errors(void)
{
    CHECK_EQ(fw_text_compile("pass in inet6 from 10.0.0.0/8\n", &ifs, &rs, err, sizeof err), FW_E_SYNTAX);
    CHECK_EQ(fw_text_compile("antispoof for wan inet6\n", &ifs, &rs, err, sizeof err), FW_E_SYNTAX);
    CHECK(strstr(err, "not supported") != NULL);
    CHECK_EQ(fw_text_compile("block return-icmp6 in inet6 all\n", &ifs, &rs, err, sizeof err), FW_E_SYNTAX);
    CHECK_EQ(fw_text_compile("pass in proto icmp icmp6-type echoreq\n", &ifs, &rs, err, sizeof err), FW_E_SYNTAX);
    /* what the IPv6 half does not do is refused for inet6 rules, not ignored */
    CHECK_EQ(fw_text_compile("pass in inet6 proto tcp keep state (max-src-conn 5)\n", &ifs, &rs, err, sizeof err),
             FW_E_SYNTAX);
    CHECK(strstr(err, "unsupported") != NULL);
    CHECK_EQ(fw_text_compile("block return in inet6 all\n", &ifs, &rs, err, sizeof err), FW_E_SYNTAX);
    CHECK(strstr(err, "block return is not supported by Keel for inet6") != NULL);
    CHECK_EQ(fw_text_compile("pass in inet6 proto tcp scrub (max-mss 1200)\n", &ifs, &rs, err, sizeof err),
             FW_E_SYNTAX);
    /* ... and fine for both families (IPv4 only then) */
    CHECK_EQ(
        fw_text_compile("block return in all\npass in proto tcp keep state (max 10)\n", &ifs, &rs, err, sizeof err),
        FW_OK);
    CHECK_EQ(fw_text_compile("block drop in inet6 all\n", &ifs, &rs, err, sizeof err), FW_OK);
}

/* modulate state: a TCP state opened by a SYN is marked and its packets'
 * verdicts carry offsets (the rewriting: test_fw_modulate); UDP keeps
 * state plainly. */
static void test_modulate_state(void)
{
    CHECK_EQ(
        load("pass in on wan proto tcp to port 80 modulate state\npass in on wan inet6 proto udp modulate state\n"),
        FW_OK);
    CHECK(rs.rules[0].flags & FW_RF_MODULATE);
    struct fw6_packet p = { .dir = FW_IN, .iface = 0 };
    struct fw_verdict v;
    CHECK_EQ(fw6_parse(pkt, tcp("2001:db8:1::5", "2001:db8:2::1", 1000, 80, FW_TH_SYN), &p), FW6_PKT_OK);
    fw6_filter(&eng, &p, NS, &v);
    CHECK_EQ(v.action, FW_PASS);
    CHECK(v.mod.seq_add != 0 && v.mod.ack_sub == 0);
    CHECK_EQ(p.l4_off, 40);
    p = (struct fw6_packet){ .dir = FW_IN, .iface = 1 };
    CHECK_EQ(fw6_parse(pkt, tcp("2001:db8:2::1", "2001:db8:1::5", 80, 1000, FW_TH_SYN | FW_TH_ACK), &p), FW6_PKT_OK);
    fw6_filter(&eng, &p, NS, &v);
    CHECK_EQ(v.action, FW_PASS);
    CHECK(v.mod.seq_add != 0 && v.mod.ack_sub != 0 && v.mod.seq_add != v.mod.ack_sub);
    bool modulated = false;
    for (unsigned i = 0; i < FW6_STATES; i++)
        modulated |= (st.s[i].flags & FW6_SF_MODULATE) != 0;
    CHECK(modulated);
    uint8_t udp[8] = { 0x13, 0x88, 0, 53, 0, 8, 0, 0 };
    p = (struct fw6_packet){ .dir = FW_IN, .iface = 0 };
    CHECK_EQ(fw6_parse(pkt, make("2001:db8:1::5", "2001:db8:2::1", 17, 64, udp, sizeof udp), &p), FW6_PKT_OK);
    fw6_filter(&eng, &p, NS, &v);
    CHECK_EQ(v.action, FW_PASS);
    CHECK(v.mod.seq_add == 0 && v.mod.ack_sub == 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_parse),           UNIT_TEST(test_nd_passes_deny_all),     UNIT_TEST(test_rules_and_states),
        UNIT_TEST(test_self_and_ifaces), UNIT_TEST(test_full_table_refuses_new), UNIT_TEST(test_ipv4_ignores_inet6),
        UNIT_TEST(test_conf_errors),     UNIT_TEST(test_modulate_state),
    };
    return unit_main("fw6", tests, sizeof tests / sizeof tests[0]);
}
