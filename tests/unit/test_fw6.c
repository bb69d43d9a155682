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

/* The whole verdict for the packet in pkt (parsed: no ND shortcut). */
static struct fw_verdict vfull(size_t len, uint8_t dir, uint8_t iface, uint64_t now)
{
    struct fw6_packet p = { .dir = dir, .iface = iface };
    struct fw_verdict v = { .action = 0 };
    if (fw6_parse(pkt, len, &p) == FW6_PKT_OK)
        fw6_filter(&eng, &p, now, &v);
    return v;
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

/* max N: the rule's live states; the N+1st SYN is refused until one ends. */
static void test_state_max(void)
{
    CHECK_EQ(load("pass in inet6 proto tcp to port 80 keep state (max 2)\npass out inet6\n"), FW_OK);
    CHECK_EQ(rs.rules[0].max_states, 2u);
    CHECK_EQ(verdict(tcp("2001:db8::1", "2001:db8::2", 1000, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8::3", "2001:db8::2", 1000, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    struct fw_verdict v = vfull(tcp("2001:db8::4", "2001:db8::2", 1000, 80, FW_TH_SYN), FW_IN, 0, NS);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_STATE_LIMIT);
    CHECK_EQ(v.line, 1u);
    CHECK_EQ(eng.stats.state_limited, 1u);
    /* the kept ones still pass both ways */
    CHECK_EQ(verdict(tcp("2001:db8::2", "2001:db8::1", 80, 1000, FW_TH_SYN | FW_TH_ACK), FW_OUT, 0, NS), FW_PASS);
    /* another rule's states count against nothing of rule 0 */
    CHECK_EQ(verdict(tcp("2001:db8::2", "2001:db8::9", 5, 6, FW_TH_SYN), FW_OUT, 0, NS), FW_PASS);
    CHECK_EQ(fw6_state_rule_live(&st, 0, rs.generation), 2u);
    /* the opening state of ::3 times out (30 s); its slot is free again */
    CHECK_EQ(verdict(tcp("2001:db8::1", "2001:db8::2", 1000, 80, FW_TH_ACK), FW_IN, 0, 20 * NS), FW_PASS);
    CHECK(fw6_state_expire(&st, 40 * NS) >= 1);
    CHECK_EQ(fw6_state_rule_live(&st, 0, rs.generation), 1u);
    CHECK_EQ(verdict(tcp("2001:db8::4", "2001:db8::2", 1000, 80, FW_TH_SYN), FW_IN, 0, 40 * NS), FW_PASS);
}

/* max-src-conn N with overload <t> flush global: one source's N+1st
 * connection puts it in the table, its states go, another source is
 * still served; a table rule then blocks the first. */
static void test_src_conn_overload(void)
{
    CHECK_EQ(load("table <bad> persist\nblock in quick inet6 from <bad>\n"
                  "pass in inet6 proto tcp to port 80 keep state (max-src-conn 2, overload <bad> flush global)\n"
                  "pass in inet6 proto udp\n"),
             FW_OK);
    uint8_t x[16], y[16];
    addr(x, "2001:db8:5::1");
    addr(y, "2001:db8:6::1");
    CHECK_EQ(verdict(tcp("2001:db8:5::1", "2001:db8::2", 1000, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8:5::1", "2001:db8::2", 1001, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    uint8_t udp[8] = { 0, 9, 0, 53, 0, 8 };
    CHECK_EQ(verdict(make("2001:db8:5::1", "2001:db8::2", 17, 64, udp, 8), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(st.count, 3u);
    CHECK(!fw_table_match6(&rs, 0, x));
    struct fw_verdict v = vfull(tcp("2001:db8:5::1", "2001:db8::2", 1002, 80, FW_TH_SYN), FW_IN, 0, NS);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_SRC_CONN);
    CHECK_EQ(eng.stats.src_conn_limited, 1u);
    CHECK_EQ(eng.stats.overloaded, 1u);
    CHECK(fw_table_match6(&rs, 0, x));
    CHECK(!fw_table_match6(&rs, 0, y));
    CHECK_EQ(eng.stats.flushed, 3u); /* global: the UDP state of another rule too */
    CHECK_EQ(st.count, 0u);
    /* the source is blocked by the table now, even on an old connection's ports */
    v = vfull(tcp("2001:db8:5::1", "2001:db8::2", 1000, 80, FW_TH_ACK), FW_IN, 0, NS);
    CHECK_EQ(v.reason, FW_R_BLOCK_RULE);
    CHECK_EQ(v.line, 2u);
    /* another source is served, up to its own two */
    CHECK_EQ(verdict(tcp("2001:db8:6::1", "2001:db8::2", 1000, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8:6::1", "2001:db8::2", 1001, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8:6::1", "2001:db8::2", 1002, 80, FW_TH_SYN), FW_IN, 0, NS), FW_BLOCK);
    /* a state that ends gives its source a slot back (no overload table, no flush) */
    CHECK_EQ(load("pass in inet6 proto tcp to port 80 keep state (max-src-conn 1)\n"), FW_OK);
    CHECK_EQ(verdict(tcp("2001:db8:5::1", "2001:db8::2", 1000, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8:5::1", "2001:db8::2", 1001, 80, FW_TH_SYN), FW_IN, 0, NS), FW_BLOCK);
    CHECK_EQ(fw6_state_expire(&st, 31 * NS), 1u);
    CHECK_EQ(verdict(tcp("2001:db8:5::1", "2001:db8::2", 1001, 80, FW_TH_SYN), FW_IN, 0, 31 * NS), FW_PASS);
}

/* max-src-conn-rate N/S: the N+1st new connection within S seconds is
 * refused (overload without flush keeps the states); the count decays. */
static void test_src_conn_rate(void)
{
    CHECK_EQ(load("table <slow> persist\n"
                  "pass in inet6 proto tcp to port 80 keep state (max-src-conn-rate 3/10, overload <slow> flush)\n"),
             FW_OK);
    for (unsigned i = 0; i < 3; i++)
        CHECK_EQ(verdict(tcp("2001:db8:5::1", "2001:db8::2", (uint16_t)(1000 + i), 80, FW_TH_SYN), FW_IN, 0, NS),
                 FW_PASS);
    struct fw_verdict v = vfull(tcp("2001:db8:5::1", "2001:db8::2", 1003, 80, FW_TH_SYN), FW_IN, 0, NS);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_SRC_RATE);
    uint8_t x[16];
    addr(x, "2001:db8:5::1");
    CHECK(fw_table_match6(&rs, 0, x));
    CHECK_EQ(eng.stats.flushed, 3u); /* flush: this rule's states of the source */
    /* another source is not limited */
    CHECK_EQ(verdict(tcp("2001:db8:6::1", "2001:db8::2", 1000, 80, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    /* a window later the count has decayed to 0 */
    CHECK_EQ(verdict(tcp("2001:db8:5::1", "2001:db8::2", 1004, 80, FW_TH_SYN), FW_IN, 0, 12 * NS), FW_PASS);
    CHECK_EQ(st.stats.src_limited, 1u);
}

/* A TCP segment with sequence/acknowledgement numbers and DATA bytes. */
static size_t tcp_seq(const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                      uint32_t ack, size_t data)
{
    uint8_t th[60] = { (uint8_t)(sport >> 8), (uint8_t)sport, (uint8_t)(dport >> 8), (uint8_t)dport };
    for (int i = 0; i < 4; i++) {
        th[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
        th[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
    }
    th[12] = 5 << 4;
    th[13] = flags;
    return make(src, dst, 6, 64, th, 20 + data);
}

/* The test's own ones' complement check: pseudo-header + upper layer of
 * the IPv6 packet A must sum to 0xffff. */
static bool sum_ok(const uint8_t *a, size_t len)
{
    size_t plen = (size_t)(a[4] << 8 | a[5]);
    if (40 + plen != len)
        return false;
    uint32_t s = 0;
    for (int i = 8; i < 40; i += 2)
        s += (uint32_t)(a[i] << 8 | a[i + 1]);
    s += (uint32_t)plen + a[6];
    for (size_t i = 40; i < len; i += 2)
        s += (uint32_t)(a[i] << 8 | (i + 1 < len ? a[i + 1] : 0));
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return s == 0xffff;
}

static void ip6_bytes(uint8_t *out, const char *src, const char *dst, uint8_t nh, size_t plen)
{
    memset(out, 0, 40);
    out[0] = 0x60;
    out[4] = (uint8_t)(plen >> 8), out[5] = (uint8_t)plen;
    out[6] = nh;
    out[7] = 64;
    addr(out + 8, src);
    addr(out + 24, dst);
}

/* block return / return-rst / return-icmp6 (CODE): the verdict asks for
 * the right answer, and the answers are right to the byte. */
static void test_block_return(void)
{
    CHECK_EQ(load("block return in inet6 proto tcp to port 6004\n"
                  "block return in inet6 proto udp to port 53\n"
                  "block return-icmp6 (admin-unr) in inet6 proto udp to port 54\n"
                  "block return-rst in inet6 proto { tcp udp } to port 55\n"
                  "block return-icmp (host-unr, addr-unr) in proto tcp to port 56\n"
                  "block drop in inet6 proto tcp to port 57\n"),
             FW_OK);
    char text[200];
    (void)fw_rule_format(&rs.rules[2], &ifs, &rs, text, sizeof text);
    CHECK(strstr(text, "block return-icmp6 (1) in inet6 proto udp") == text);
    (void)fw_rule_format(&rs.rules[5], &ifs, &rs, text, sizeof text);
    CHECK(strstr(text, "block return-icmp (1, 3) in proto tcp") == text);
    const char *A = "2001:db8:10::2", *B = "2001:db8:11::2";
    size_t n = tcp_seq(A, B, 40000, 6004, FW_TH_SYN, 0x11223344, 0, 0);
    struct fw_verdict v = vfull(n, FW_IN, 0, NS);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK(v.return_ && v.return_rst);
    /* the RST: from B:6004 to A:40000, seq 0, ack = SYN's seq + 1, RST|ACK */
    struct fw6_packet p = { .dir = FW_IN };
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
    CHECK(fw6_may_answer(&p));
    uint8_t out[FW6_RETURN_MAX], want[80];
    CHECK_EQ(fw6_return_build(pkt, n, &p, true, 0, NULL, out, sizeof out), 60u);
    ip6_bytes(want, B, A, 6, 20);
    static const uint8_t rst_syn[20] = { 0x17, 0x74, 0x9c, 0x40, 0,    0,    0,    0,    0x11, 0x22,
                                         0x33, 0x45, 0x50, 0x14, 0x00, 0x00, 0x5c, 0x1e, 0,    0 };
    memcpy(want + 40, rst_syn, 20);
    CHECK(memcmp(out, want, 60) == 0);
    CHECK(sum_ok(out, 60));
    /* with ACK and 10 bytes: seq = its ack, ack = its seq + 10 */
    n = tcp_seq(A, B, 40000, 6004, FW_TH_ACK | FW_TH_PSH, 0x01020304, 0xa0b0c0d0, 10);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
    CHECK_EQ(fw6_return_build(pkt, n, &p, true, 0, NULL, out, sizeof out), 60u);
    static const uint8_t rst_ack[20] = { 0x17, 0x74, 0x9c, 0x40, 0xa0, 0xb0, 0xc0, 0xd0, 0x01, 0x02,
                                         0x03, 0x0e, 0x50, 0x14, 0x00, 0x00, 0x3a, 0xf4, 0,    0 };
    memcpy(want + 40, rst_ack, 20);
    CHECK(memcmp(out, want, 60) == 0);
    CHECK(sum_ok(out, 60));
    /* UDP to 53: an ICMPv6 port unreachable (code 4) quoting the datagram */
    uint8_t udp[8] = { 0x9c, 0x40, 0, 53, 0, 8, 0, 0 };
    n = make(A, B, 17, 64, udp, 8);
    v = vfull(n, FW_IN, 0, NS);
    CHECK(v.return_ && !v.return_rst);
    CHECK_EQ(v.return_code, 4);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
    uint8_t self[16];
    addr(self, "2001:db8:10::1");
    CHECK_EQ(fw6_return_build(pkt, n, &p, false, v.return_code, self, out, sizeof out), 96u);
    ip6_bytes(want, "2001:db8:10::1", A, 58, 56);
    static const uint8_t icmp_head[8] = { 1, 4, 0x39, 0x97, 0, 0, 0, 0 };
    memcpy(want + 40, icmp_head, 8);
    CHECK(memcmp(out, want, 48) == 0);
    CHECK(memcmp(out + 48, pkt, 48) == 0);
    CHECK(sum_ok(out, 96));
    /* return-icmp6 (admin-unr): code 1 */
    udp[3] = 54;
    v = vfull(make(A, B, 17, 64, udp, 8), FW_IN, 0, NS);
    CHECK(v.return_ && !v.return_rst);
    CHECK_EQ(v.return_code, 1);
    /* return-rst: TCP only */
    v = vfull(tcp(A, B, 1, 55, FW_TH_SYN), FW_IN, 0, NS);
    CHECK(v.return_ && v.return_rst);
    udp[3] = 55;
    v = vfull(make(A, B, 17, 64, udp, 8), FW_IN, 0, NS);
    CHECK(!v.return_);
    /* return-icmp answers TCP with ICMPv6, its second code */
    v = vfull(tcp(A, B, 1, 56, FW_TH_SYN), FW_IN, 0, NS);
    CHECK(v.return_ && !v.return_rst);
    CHECK_EQ(v.return_code, 3);
    /* block drop: nothing */
    v = vfull(tcp(A, B, 1, 57, FW_TH_SYN), FW_IN, 0, NS);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK(!v.return_);
    /* a long packet's quote stops at 1280 bytes in all */
    static uint8_t big[1500];
    memset(big, 0, sizeof big);
    big[0] = 0x9c, big[1] = 0x40, big[3] = 53, big[4] = (1400 >> 8), big[5] = (uint8_t)1400;
    n = make(A, B, 17, 64, big, 1400);
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
    CHECK_EQ(fw6_return_build(pkt, n, &p, false, 4, self, out, sizeof out), 1280u);
    CHECK(sum_ok(out, 1280));
    CHECK_EQ(fw6_return_build(pkt, n, &p, false, 4, self, out, 1279), 0u);
    /* never answered: ICMPv6 errors, RSTs, multicast destinations */
    CHECK_EQ(fw6_parse(pkt, icmp6(A, B, 1, 64), &p), FW6_PKT_OK);
    CHECK(!fw6_may_answer(&p));
    CHECK_EQ(fw6_parse(pkt, icmp6(A, B, 128, 64), &p), FW6_PKT_OK);
    CHECK(fw6_may_answer(&p));
    CHECK_EQ(fw6_parse(pkt, tcp(A, B, 1, 6004, FW_TH_RST), &p), FW6_PKT_OK);
    CHECK(!fw6_may_answer(&p));
    udp[3] = 53;
    CHECK_EQ(fw6_parse(pkt, make(A, "ff02::1", 17, 64, udp, 8), &p), FW6_PKT_OK);
    CHECK(!fw6_may_answer(&p));
    CHECK_EQ(fw6_parse(pkt, make("::", B, 17, 64, udp, 8), &p), FW6_PKT_OK);
    CHECK(!fw6_may_answer(&p));
    /* set block-policy return: a plain block answers too */
    CHECK_EQ(load("set block-policy return\nblock in inet6 proto tcp\n"), FW_OK);
    v = vfull(tcp(A, B, 1, 80, FW_TH_SYN), FW_IN, 0, NS);
    CHECK(v.return_ && v.return_rst);
    CHECK_EQ(load("block in inet6 proto udp\n"), FW_OK);
    udp[3] = 53;
    v = vfull(make(A, B, 17, 64, udp, 8), FW_IN, 0, NS);
    CHECK(!v.return_);
}

/* antispoof for IFACE [inet6]: in on another interface from IFACE's
 * networks (not its link-local one), or in on IFACE from its addresses. */
static void test_antispoof(void)
{
    CHECK_EQ(load("pass inet6 all no state\nantispoof quick for lan inet6\n"), FW_OK);
    char text[120];
    (void)fw_rule_format(&rs.rules[1], &ifs, &rs, text, sizeof text);
    CHECK_STR(text, "antispoof quick for lan inet6");
    memset(&ifs6, 0, sizeof ifs6);
    ifs6.ifs[0].n = 2;
    ifs6.ifs[0].prefix[0] = ifs6.ifs[0].prefix[1] = 64;
    addr(ifs6.ifs[0].a[0], "fe80::1");
    addr(ifs6.ifs[0].a[1], "2001:db8:10::7");
    ifs6.ifs[1].n = 2;
    ifs6.ifs[1].prefix[0] = 64;
    ifs6.ifs[1].prefix[1] = 48;
    addr(ifs6.ifs[1].a[0], "fe80::2");
    addr(ifs6.ifs[1].a[1], "2001:db8:11::1");
    const char *B = "2001:db8:10::9";
    struct fw_verdict v = vfull(tcp("2001:db8:11:5::5", B, 1, 2, FW_TH_SYN), FW_IN, 0, NS);
    CHECK_EQ(v.action, FW_BLOCK); /* lan's /48 coming in on wan */
    CHECK_EQ(v.reason, FW_R_BLOCK_RULE);
    CHECK_EQ(v.line, 2u);
    CHECK_EQ(verdict(tcp("2001:db8:12::5", B, 1, 2, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8:11:5::5", B, 1, 2, FW_TH_SYN), FW_IN, 1, NS), FW_PASS); /* on lan: fine */
    CHECK_EQ(verdict(tcp("2001:db8:11::1", B, 1, 2, FW_TH_SYN), FW_IN, 1, NS), FW_BLOCK);  /* our own address */
    CHECK_EQ(verdict(tcp("fe80::2", "fe80::9", 1, 2, FW_TH_SYN), FW_IN, 1, NS), FW_BLOCK); /* our link-local */
    CHECK_EQ(verdict(tcp("fe80::5", "fe80::9", 1, 2, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);  /* any link's fe80::/64 */
    CHECK_EQ(verdict(tcp("fe80::5", "fe80::9", 1, 2, FW_TH_SYN), FW_IN, 1, NS), FW_PASS);
    CHECK_EQ(verdict(tcp("2001:db8:11:5::5", B, 1, 2, FW_TH_SYN), FW_OUT, 0, NS), FW_PASS); /* in only */
    /* no family: both; inet: IPv4 only */
    CHECK_EQ(load("pass inet6 all no state\nantispoof for lan\n"), FW_OK);
    CHECK_EQ(verdict(tcp("2001:db8:11:5::5", B, 1, 2, FW_TH_SYN), FW_IN, 0, NS), FW_BLOCK);
    CHECK_EQ(load("pass inet6 all no state\nantispoof for lan inet\n"), FW_OK);
    CHECK_EQ(verdict(tcp("2001:db8:11:5::5", B, 1, 2, FW_TH_SYN), FW_IN, 0, NS), FW_PASS);
    memset(&ifs6, 0, sizeof ifs6);
}

/* The test's own checksum: stores the value that makes sum_ok true. */
static void fix_sum(uint8_t *a, size_t len, size_t field)
{
    a[field] = a[field + 1] = 0;
    uint32_t s = 0;
    for (int i = 8; i < 40; i += 2)
        s += (uint32_t)(a[i] << 8 | a[i + 1]);
    s += (uint32_t)(len - 40) + a[6];
    for (size_t i = 40; i < len; i += 2)
        s += (uint32_t)(a[i] << 8 | (i + 1 < len ? a[i + 1] : 0));
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    a[field] = (uint8_t)(~s >> 8), a[field + 1] = (uint8_t)~s;
}

/* A SYN (or SYN+ACK) with NOPS NOP options, then MSS, padded to 4 bytes. */
static size_t syn_mss(const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t flags, unsigned nops,
                      uint16_t mss)
{
    uint8_t th[32] = { (uint8_t)(sport >> 8), (uint8_t)sport, (uint8_t)(dport >> 8), (uint8_t)dport, 1, 2, 3, 4 };
    th[12] = 8 << 4; /* 32 bytes: 12 of options */
    th[13] = flags;
    th[14] = 0xff, th[15] = 0xff;
    unsigned i = 20;
    for (unsigned k = 0; k < nops; k++)
        th[i++] = 1;
    th[i] = 2, th[i + 1] = 4, th[i + 2] = (uint8_t)(mss >> 8), th[i + 3] = (uint8_t)mss;
    size_t n = make(src, dst, 6, 64, th, sizeof th);
    fix_sum(pkt, n, 40 + 16);
    return n;
}

/* scrub (max-mss N) on IPv6 SYNs, the SYN+ACK of the state too, and from
 * match rules; the checksum stays right (the test's own sum). */
static void test_scrub_max_mss(void)
{
    CHECK_EQ(load("pass in inet6 proto tcp to port 80 scrub (max-mss 1200)\npass out inet6\n"), FW_OK);
    CHECK_EQ(rs.rules[0].max_mss, 1200);
    const char *A = "2001:db8:10::2", *B = "2001:db8:11::2";
    for (unsigned nops = 0; nops < 2; nops++) { /* MSS at an even and an odd offset */
        size_t n = syn_mss(A, B, (uint16_t)(4000 + nops), 80, FW_TH_SYN, nops, 1460);
        CHECK(sum_ok(pkt, n));
        struct fw6_packet p = { .dir = FW_IN };
        CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
        struct fw_verdict v;
        fw6_filter(&eng, &p, NS, &v);
        CHECK_EQ(v.action, FW_PASS);
        CHECK_EQ(v.max_mss, 1200);
        CHECK(fw6_clamp_mss(pkt, n, &p, v.max_mss));
        CHECK_EQ(pkt[40 + 20 + nops + 2] << 8 | pkt[40 + 20 + nops + 3], 1200);
        CHECK(sum_ok(pkt, n));
        CHECK(!fw6_clamp_mss(pkt, n, &p, v.max_mss)); /* already low enough */
        /* the answer passes by the state and is scrubbed as its SYN was */
        n = syn_mss(B, A, 80, (uint16_t)(4000 + nops), FW_TH_SYN | FW_TH_ACK, nops, 9000);
        p.dir = FW_OUT;
        CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
        fw6_filter(&eng, &p, NS, &v);
        CHECK_EQ(v.reason, FW_R_STATE);
        CHECK_EQ(v.max_mss, 1200);
        CHECK(fw6_clamp_mss(pkt, n, &p, v.max_mss));
        CHECK(sum_ok(pkt, n));
    }
    /* not a SYN, or not TCP: left alone */
    size_t n = syn_mss(A, B, 4100, 80, FW_TH_ACK, 0, 1460);
    struct fw6_packet p = { .dir = FW_IN };
    CHECK_EQ(fw6_parse(pkt, n, &p), FW6_PKT_OK);
    CHECK(!fw6_clamp_mss(pkt, n, &p, 1200));
    /* a match rule's max-mss applies whatever rule decides; the smallest wins */
    CHECK_EQ(load("match in inet6 scrub (max-mss 1300)\nmatch in scrub (max-mss 1400)\n"
                  "pass in inet6 proto tcp\n"),
             FW_OK);
    struct fw_verdict v = vfull(syn_mss(A, B, 4200, 80, FW_TH_SYN, 0, 1460), FW_IN, 0, NS);
    CHECK_EQ(v.action, FW_PASS);
    CHECK_EQ(v.max_mss, 1300);
    CHECK_EQ(fw_text_compile("pass in inet6 proto tcp scrub (max-mss 1200)\n", &ifs, &rs, err, sizeof err), FW_OK);
}

static void test_conf_errors(void)
{
    CHECK_EQ(fw_text_compile("pass in inet6 from 10.0.0.0/8\n", &ifs, &rs, err, sizeof err), FW_E_SYNTAX);
    CHECK_EQ(fw_text_compile("antispoof for wan inet6\n", &ifs, &rs, err, sizeof err), FW_OK);
    CHECK_EQ(fw_text_compile("block return-icmp6 in inet6 all\n", &ifs, &rs, err, sizeof err), FW_OK);
    CHECK_EQ(fw_text_compile("pass in proto icmp icmp6-type echoreq\n", &ifs, &rs, err, sizeof err), FW_E_SYNTAX);
    /* what the IPv6 half does not do is refused for inet6 rules, not ignored */
    CHECK_EQ(fw_text_compile("pass in inet6 proto tcp keep state (max-src-conn 5, max 9, max-src-conn-rate 3/5)\n",
                             &ifs, &rs, err, sizeof err),
             FW_OK);
    CHECK_EQ(fw_text_compile("block return in inet6 all\n", &ifs, &rs, err, sizeof err), FW_OK);
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
    CHECK_EQ(p.l4off, 40);
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
        UNIT_TEST(test_parse),
        UNIT_TEST(test_nd_passes_deny_all),
        UNIT_TEST(test_rules_and_states),
        UNIT_TEST(test_self_and_ifaces),
        UNIT_TEST(test_full_table_refuses_new),
        UNIT_TEST(test_ipv4_ignores_inet6),
        UNIT_TEST(test_state_max),
        UNIT_TEST(test_src_conn_overload),
        UNIT_TEST(test_src_conn_rate),
        UNIT_TEST(test_block_return),
        UNIT_TEST(test_antispoof),
        UNIT_TEST(test_scrub_max_mss),
        UNIT_TEST(test_conf_errors),
        UNIT_TEST(test_modulate_state),
    };
    return unit_main("fw6", tests, sizeof tests / sizeof tests[0]);
}
