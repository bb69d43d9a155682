/* test_fw_match.c - packet parsing, rule evaluation, verdicts and logging
 * (net/firewall/fw_match.c, fw_log.c, with fw_rules.c and fw_state.c). */
#include <string.h>

#include "fw_log.h"
#include "fw_match.h"
#include "fw_text.h"
#include "fw_wire.h"
#include "unit.h"

#define SEC    FW_NS_PER_SEC
#define WAN    0
#define LAN    1
#define HOST   IP(192, 168, 50, 10) /* on the lan */
#define SERVER IP(93, 184, 216, 34) /* on the internet */
#define ME_WAN IP(10, 0, 2, 15)     /* the appliance on wan */

/* ------------------------------------------------------ wire packets ---- */

/* Recomputes the IPv4 header checksum of the header at b. */
static void fix_csum(uint8_t *b)
{
    size_t hlen = (size_t)(b[0] & 0xf) * 4;
    wr16(b + 10, 0);
    wr16(b + 10, fold(sum_words(b, hlen, 0)));
}

/* An IPv4 header with optlen bytes of options (NOPs) and l4len payload bytes
 * from l4; returns the total length. */
static size_t ipv4(uint8_t *b, uint8_t proto, uint32_t src, uint32_t dst, const uint8_t *l4, size_t l4len,
                   size_t optlen)
{
    size_t hlen = 20 + optlen;
    memset(b, 0, hlen);
    b[0] = (uint8_t)(0x40 | hlen / 4);
    wr16(b + 2, (uint16_t)(hlen + l4len));
    wr16(b + 4, 0x1234);
    b[8] = 64;
    b[9] = proto;
    wr32(b + 12, src);
    wr32(b + 16, dst);
    memset(b + 20, 1, optlen);
    memcpy(b + hlen, l4, l4len);
    fix_csum(b);
    return hlen + l4len;
}

static size_t tcp_wire(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t flags)
{
    uint8_t l4[24] = { 0 };
    wr16(l4, sport);
    wr16(l4 + 2, dport);
    l4[12] = 5 << 4;
    l4[13] = flags;
    return ipv4(b, FW_PROTO_TCP, src, dst, l4, sizeof l4, 0);
}

static size_t udp_wire(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    uint8_t l4[12] = { 0 };
    wr16(l4, sport);
    wr16(l4 + 2, dport);
    wr16(l4 + 4, sizeof l4);
    return ipv4(b, FW_PROTO_UDP, src, dst, l4, sizeof l4, 0);
}

static size_t icmp_wire(uint8_t *b, uint32_t src, uint32_t dst, uint8_t type, uint16_t id)
{
    uint8_t l4[16] = { 0 };
    l4[0] = type;
    wr16(l4 + 4, id);
    return ipv4(b, FW_PROTO_ICMP, src, dst, l4, sizeof l4, 0);
}

static int parse(const uint8_t *b, size_t n, struct fw_packet *p)
{
    memset(p, 0, sizeof *p);
    return fw_parse_ipv4(b, n, p);
}

/* ---------------------------------------------------------- the engine -- */

static struct fw_ifaces ifs = { 2, { { "wan", ME_WAN, 24, true }, { "lan", IP(192, 168, 50, 1), 24, true } } };
static struct fw_ruleset sets[2];
static struct fw_ruleset *spare;
static struct fw_state slots[64];
static uint32_t buckets[16];
static struct fw_src_node srcs[16];
static struct fw_state_table states;
static struct fw_engine eng;
static char err[200];

static void load_slots(const char *rules, uint32_t nslots)
{
    int rc = fw_text_compile(rules, &ifs, &sets[0], err, sizeof err);
    CHECK_EQ(rc, FW_OK);
    if (rc != FW_OK)
        printf("rules: %s\n", err);
    struct fw_state_storage mem = { slots, nslots, buckets, 16, srcs, 16, { 7, 9 }, { 3, 5 } };
    CHECK_EQ(fw_state_init(&states, &mem), FW_OK);
    memset(&eng, 0, sizeof eng);
    eng.rules = &sets[0];
    eng.states = &states;
    eng.ifaces = &ifs;
    spare = &sets[1];
}

static void load(const char *rules) { load_slots(rules, 64); }

static struct fw_packet pkt(uint8_t dir, uint8_t iface, uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst,
                            uint16_t dport)
{
    struct fw_packet p = { 0 };
    p.dir = dir;
    p.iface = iface;
    p.proto = proto;
    p.src = src;
    p.sport = sport;
    p.dst = dst;
    p.dport = dport;
    p.len = 100;
    return p;
}

static struct fw_packet tcp(uint8_t dir, uint8_t iface, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                            uint8_t flags)
{
    struct fw_packet p = pkt(dir, iface, FW_PROTO_TCP, src, sport, dst, dport);
    p.tcp_flags = flags;
    return p;
}

static struct fw_packet icmp(uint8_t dir, uint8_t iface, uint32_t src, uint32_t dst, uint8_t type, uint16_t id)
{
    struct fw_packet p = pkt(dir, iface, FW_PROTO_ICMP, src, id, dst, id);
    p.icmp_type = type;
    return p;
}

static struct fw_verdict run(struct fw_packet p, uint64_t now)
{
    struct fw_verdict v;
    fw_filter(&eng, &p, now, &v);
    return v;
}

/* Action of p's verdict, and its deciding rule (or -1), in one number: rule*10 + action. */
static int verdict(struct fw_packet p)
{
    struct fw_verdict v = run(p, SEC);
    return v.rule * 10 + v.action;
}
#define PASSED(rule)  ((rule)*10 + FW_PASS)
#define BLOCKED(rule) ((rule)*10 + FW_BLOCK)

/* ------------------------------------------------------------- parsing -- */

static void test_parse_valid(void)
{
    uint8_t b[128];
    struct fw_packet p;
    size_t n = tcp_wire(b, HOST, 40000, SERVER, 443, FW_TH_SYN);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK_EQ(p.proto, FW_PROTO_TCP);
    CHECK_EQ(p.src, HOST);
    CHECK_EQ(p.dst, SERVER);
    CHECK_EQ(p.sport, 40000);
    CHECK_EQ(p.dport, 443);
    CHECK_EQ(p.tcp_flags, FW_TH_SYN);
    CHECK_EQ(p.len, 44);
    CHECK(!p.ip_options);
    CHECK_EQ(parse(b, n + 20, &p), FW_PKT_IPV4); /* link-layer padding after the packet */
    CHECK_EQ(p.len, 44);

    n = udp_wire(b, SERVER, 53, HOST, 5353);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK_EQ(p.proto, FW_PROTO_UDP);
    CHECK_EQ(p.sport, 53);
    CHECK_EQ(p.dport, 5353);

    n = icmp_wire(b, HOST, SERVER, FW_ICMP_ECHO_REQUEST, 0xbeef);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK_EQ(p.icmp_type, FW_ICMP_ECHO_REQUEST);
    CHECK_EQ(p.sport, 0xbeef);
    CHECK_EQ(p.dport, 0xbeef);
    CHECK(!p.has_inner);

    uint8_t gre[4] = { 0 };
    n = ipv4(b, 47, HOST, SERVER, gre, sizeof gre, 8);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK_EQ(p.proto, 47);
    CHECK(p.ip_options);

    /* dir and iface are the caller's and survive parsing */
    uint8_t frame[160] = { 0 };
    frame[12] = 0x08;
    n = tcp_wire(frame + 14, HOST, 1, SERVER, 2, FW_TH_ACK);
    p.dir = FW_IN;
    p.iface = 3;
    CHECK_EQ(fw_parse_ether(frame, n + 14, &p), FW_PKT_IPV4);
    CHECK_EQ(p.dir, FW_IN);
    CHECK_EQ(p.iface, 3);
    CHECK_EQ(p.sport, 1);
    frame[12] = 0x08;
    frame[13] = 0x06; /* ARP */
    CHECK_EQ(fw_parse_ether(frame, 60, &p), FW_PKT_NOT_IPV4);
    CHECK_EQ(fw_parse_ether(frame, 13, &p), FW_PKT_E_TRUNCATED);
    CHECK_EQ(fw_parse_ether(NULL, 0, &p), FW_PKT_E_TRUNCATED);
}

static void test_parse_malformed(void)
{
    uint8_t b[128], c[128];
    struct fw_packet p;
    size_t n = tcp_wire(b, HOST, 40000, SERVER, 443, FW_TH_SYN);

    for (size_t cut = 0; cut < n; cut++) /* every truncation of the IP packet */
        CHECK(parse(b, cut, &p) < 0);
    CHECK_EQ(parse(b, 19, &p), FW_PKT_E_TRUNCATED);
    CHECK_EQ(parse(b, n - 1, &p), FW_PKT_E_TRUNCATED); /* total length beyond the buffer */
    CHECK_EQ(parse(NULL, 40, &p), FW_PKT_E_TRUNCATED);

    memcpy(c, b, n);
    c[0] = 0x65; /* version 6 */
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_VERSION);
    memcpy(c, b, n);
    c[0] = 0x44; /* IHL 4 */
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_HDRLEN);
    memcpy(c, b, n);
    c[0] = 0x4f; /* 60-byte header in a 44-byte packet */
    fix_csum(c);
    CHECK_EQ(parse(c, sizeof c, &p), FW_PKT_E_HDRLEN);
    memcpy(c, b, n);
    wr16(c + 2, 19); /* total length shorter than the header */
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_HDRLEN);
    memcpy(c, b, n);
    c[11] ^= 1;
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_CHECKSUM);
    memcpy(c, b, n);
    c[8] = 63; /* TTL changed without fixing the checksum */
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_CHECKSUM);
    memcpy(c, b, n);
    c[6] = 0x80; /* the reserved ("evil") bit */
    fix_csum(c);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_IP_FLAGS);
    memcpy(c, b, n);
    wr32(c + 12, IP(224, 0, 0, 1));
    fix_csum(c);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_SRC_ADDR);
    wr32(c + 12, 0xffffffffu);
    fix_csum(c);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_SRC_ADDR);

    /* TCP: header cut, data offset, flags */
    memcpy(c, b, n);
    wr16(c + 2, 20 + 19);
    fix_csum(c);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_L4_TRUNCATED);
    memcpy(c, b, n);
    c[32] = 4 << 4;
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_TCP_HDRLEN);
    c[32] = 6 << 4; /* 24 bytes: fits */
    CHECK_EQ(parse(c, n, &p), FW_PKT_IPV4);
    c[32] = 7 << 4; /* 28 bytes: past the payload */
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_TCP_HDRLEN);
    static const uint8_t bad_flags[] = {
        FW_TH_SYN | FW_TH_FIN,
        FW_TH_SYN | FW_TH_RST,
        0,
        FW_TH_FIN,
        FW_TH_FIN | FW_TH_PSH | FW_TH_URG,
        FW_TH_PSH,
        FW_TH_RST | FW_TH_FIN,
        FW_TH_SYN | FW_TH_PSH,
        FW_TH_SYN | FW_TH_URG /* PSH, URG only with ACK (pf) */
    };
    for (size_t i = 0; i < sizeof bad_flags; i++) {
        n = tcp_wire(c, HOST, 1, SERVER, 2, bad_flags[i]);
        CHECK_EQ(parse(c, n, &p), FW_PKT_E_TCP_FLAGS);
    }
    static const uint8_t good_flags[] = { FW_TH_SYN,
                                          FW_TH_SYN | FW_TH_ACK,
                                          FW_TH_ACK,
                                          FW_TH_RST,
                                          FW_TH_RST | FW_TH_ACK,
                                          FW_TH_FIN | FW_TH_ACK,
                                          FW_TH_SYN | FW_TH_ECE | FW_TH_CWR };
    for (size_t i = 0; i < sizeof good_flags; i++) {
        n = tcp_wire(c, HOST, 1, SERVER, 2, good_flags[i]);
        CHECK_EQ(parse(c, n, &p), FW_PKT_IPV4);
    }

    /* UDP: header cut, length field */
    n = udp_wire(c, HOST, 1, SERVER, 2);
    wr16(c + 24, 7);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_UDP_LEN);
    wr16(c + 24, 13);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_UDP_LEN);
    wr16(c + 24, 8); /* a shorter datagram than the payload is fine */
    CHECK_EQ(parse(c, n, &p), FW_PKT_IPV4);
    uint8_t short_l4[7] = { 0 };
    n = ipv4(c, FW_PROTO_UDP, HOST, SERVER, short_l4, sizeof short_l4, 0);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_L4_TRUNCATED);
    n = ipv4(c, FW_PROTO_ICMP, HOST, SERVER, short_l4, sizeof short_l4, 0);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_L4_TRUNCATED);
    n = ipv4(c, FW_PROTO_TCP, HOST, SERVER, short_l4, 0, 0);
    CHECK_EQ(parse(c, n, &p), FW_PKT_E_L4_TRUNCATED);
}

/* Sets the fragment field of the packet at b and fixes the checksum. */
static void set_frag(uint8_t *b, uint16_t frag)
{
    wr16(b + 6, frag);
    fix_csum(b);
}

static void test_parse_fragments(void)
{
    uint8_t b[128];
    struct fw_packet p;
    uint8_t payload[32] = { 0 };
    size_t n = ipv4(b, FW_PROTO_TCP, HOST, SERVER, payload, 32, 0);
    set_frag(b, 0x2000); /* MF, offset 0: a first fragment */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG);
    set_frag(b, 0x0010); /* a last fragment at 128 */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG);
    set_frag(b, 0x2010); /* a middle fragment */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG);
    set_frag(b, 0x4000); /* DF alone: not a fragment */
    payload[12] = 5 << 4;
    payload[13] = FW_TH_ACK;
    n = ipv4(b, FW_PROTO_TCP, HOST, SERVER, payload, 32, 0);
    set_frag(b, 0x4000);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    set_frag(b, 0x6000); /* DF and MF */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG_BAD);
    set_frag(b, 0x4010); /* DF with an offset */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG_BAD);
    set_frag(b, 0x1fff); /* ends past 65535 ("ping of death") */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG_BAD);
    n = ipv4(b, FW_PROTO_TCP, HOST, SERVER, payload, 30, 0);
    set_frag(b, 0x2004); /* MF with a length that is not a multiple of 8 */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG_BAD);
    n = ipv4(b, FW_PROTO_TCP, HOST, SERVER, payload, 0, 0);
    set_frag(b, 0x2004); /* MF with no data */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG_BAD);
    n = ipv4(b, FW_PROTO_TCP, HOST, SERVER, payload, 8, 0);
    set_frag(b, 0x2000); /* a first fragment too short for the TCP header (RFC 1858) */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG_OVERLAP);
    set_frag(b, 0x0001); /* offset 8 overwrites the TCP flags (RFC 1858) */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG_OVERLAP);
    n = ipv4(b, FW_PROTO_UDP, HOST, SERVER, payload, 8, 0);
    set_frag(b, 0x0001); /* the same offset for UDP is merely a fragment */
    CHECK_EQ(parse(b, n, &p), FW_PKT_E_FRAG);
}

static void test_parse_icmp_quote(void)
{
    uint8_t inner[64], l4[128], b[192];
    struct fw_packet p;
    size_t in_n = udp_wire(inner, HOST, 5353, SERVER, 53);
    memset(l4, 0, 8);
    l4[0] = FW_ICMP_UNREACH;
    l4[1] = 3;
    memcpy(l4 + 8, inner, 28); /* IP header + 8 bytes, as RFC 792 asks */
    size_t n = ipv4(b, FW_PROTO_ICMP, SERVER, HOST, l4, 8 + 28, 0);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK_EQ(p.icmp_type, FW_ICMP_UNREACH);
    CHECK_EQ(p.icmp_code, 3);
    CHECK(p.has_inner);
    CHECK_EQ(p.inner.proto, FW_PROTO_UDP);
    CHECK_EQ(p.inner.src, HOST);
    CHECK_EQ(p.inner.dst, SERVER);
    CHECK_EQ(p.inner.sport, 5353);
    CHECK_EQ(p.inner.dport, 53);
    CHECK_EQ(p.sport, 0);
    n = ipv4(b, FW_PROTO_ICMP, SERVER, HOST, l4, 8 + 27, 0); /* quote too short */
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK(!p.has_inner);
    in_n = icmp_wire(inner, HOST, SERVER, FW_ICMP_ECHO_REQUEST, 99);
    memcpy(l4 + 8, inner, in_n);
    l4[0] = FW_ICMP_TIME_EXCEEDED;
    n = ipv4(b, FW_PROTO_ICMP, IP(10, 9, 9, 9), HOST, l4, 8 + in_n, 0);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK(p.has_inner);
    CHECK_EQ(p.inner.proto, FW_PROTO_ICMP);
    CHECK_EQ(p.inner.icmp_type, FW_ICMP_ECHO_REQUEST);
    CHECK_EQ(p.inner.sport, 99);
    l4[8 + 20] = FW_ICMP_UNREACH; /* an error about an error: related to nothing */
    n = ipv4(b, FW_PROTO_ICMP, IP(10, 9, 9, 9), HOST, l4, 8 + in_n, 0);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK(!p.has_inner);
    l4[0] = 13; /* timestamp: not an error, nothing quoted */
    n = ipv4(b, FW_PROTO_ICMP, IP(10, 9, 9, 9), HOST, l4, 8 + in_n, 0);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    CHECK(!p.has_inner);
}

/* --------------------------------------------------------------- rules -- */

static void test_last_match_and_quick(void)
{
    load("block all\npass proto tcp no state\nblock proto tcp to port 22\n");
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 80, FW_TH_ACK)), PASSED(1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 22, FW_TH_ACK)), BLOCKED(2));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 1, HOST, 80)), BLOCKED(0));
    load("pass all no state\nblock quick proto udp\nblock quick proto udp to port 53\npass proto udp no state\n");
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 1, HOST, 53)), BLOCKED(1)); /* the first quick */
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 53, FW_TH_ACK)), PASSED(0));
    CHECK_EQ(eng.rules->rules[3].c.evaluations, 1); /* the quick rule stopped evaluation */
}

static void test_default_block(void)
{
    load("");
    struct fw_verdict v = run(tcp(FW_OUT, WAN, ME_WAN, 1, SERVER, 443, FW_TH_SYN), SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_DEFAULT);
    CHECK_EQ(v.rule, -1);
    CHECK(v.log);
    load("pass in proto udp no state\n");
    v = run(tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 443, FW_TH_SYN), SEC);
    CHECK_EQ(v.reason, FW_R_DEFAULT);
    CHECK_EQ(eng.rules->none.packets, 1);
    CHECK_EQ(eng.rules->none.bytes, 100);
    CHECK_EQ(eng.stats.blocked, 1);
    /* a packet without a valid direction matches nothing */
    v = run(pkt(0, WAN, FW_PROTO_UDP, SERVER, 1, ME_WAN, 2), SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    v = run(pkt(FW_BOTH, WAN, FW_PROTO_UDP, SERVER, 1, ME_WAN, 2), SEC);
    CHECK_EQ(v.action, FW_BLOCK);
}

static void test_direction_and_interface(void)
{
    load("pass in on wan no state\npass out on lan proto udp no state\n");
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 1, HOST, 2)), PASSED(0));
    CHECK_EQ(verdict(pkt(FW_IN, LAN, FW_PROTO_UDP, HOST, 1, SERVER, 2)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_OUT, WAN, FW_PROTO_UDP, HOST, 1, SERVER, 2)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_OUT, LAN, FW_PROTO_UDP, SERVER, 1, HOST, 2)), PASSED(1));
    CHECK_EQ(verdict(pkt(FW_OUT, LAN, FW_PROTO_TCP, SERVER, 1, HOST, 2)), BLOCKED(-1));
    load("pass on lan no state\n"); /* neither in nor out: both */
    CHECK_EQ(verdict(pkt(FW_IN, LAN, 47, HOST, 0, SERVER, 0)), PASSED(0));
    CHECK_EQ(verdict(pkt(FW_OUT, LAN, 47, SERVER, 0, HOST, 0)), PASSED(0));
}

static void test_ports_and_prefixes(void)
{
    load("pass proto tcp to port 1024:2048 no state\n"
         "pass proto tcp from port != 7 to port 80 no state\n"
         "pass proto udp to port 5000 >< 5002 no state\n"
         "pass proto udp from 172.16.0.0/12 to port 10 <> 20 no state\n"
         "pass proto udp from 10.1.0.0/16 to port < 5 no state\n"
         "pass proto tcp from ! 10.0.0.0/8 to 192.168.50.0/24 port >= 60000 no state\n"
         "pass proto icmp to 192.168.50.10 no state\n");
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 9, HOST, 1023, FW_TH_ACK)), BLOCKED(-1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 9, HOST, 1024, FW_TH_ACK)), PASSED(0));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 9, HOST, 2048, FW_TH_ACK)), PASSED(0));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 9, HOST, 2049, FW_TH_ACK)), BLOCKED(-1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 9, HOST, 80, FW_TH_ACK)), PASSED(1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 7, HOST, 80, FW_TH_ACK)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 9, HOST, 5000)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 9, HOST, 5001)), PASSED(2));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 9, HOST, 5002)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(172, 16, 0, 1), 9, HOST, 10)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(172, 16, 0, 1), 9, HOST, 15)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(172, 31, 0, 1), 9, HOST, 20)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(172, 31, 0, 1), 9, HOST, 21)), PASSED(3));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(172, 16, 0, 1), 9, HOST, 9)), PASSED(3));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(172, 32, 0, 1), 9, HOST, 9)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(10, 1, 255, 255), 9, HOST, 4)), PASSED(4));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(10, 1, 0, 0), 9, HOST, 5)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(10, 2, 0, 0), 9, HOST, 4)), BLOCKED(-1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, IP(11, 0, 0, 1), 9, IP(192, 168, 50, 200), 60000, FW_TH_ACK)), PASSED(5));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, IP(10, 0, 0, 1), 9, IP(192, 168, 50, 200), 60000, FW_TH_ACK)), BLOCKED(-1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, IP(11, 0, 0, 1), 9, IP(192, 168, 51, 200), 60000, FW_TH_ACK)), BLOCKED(-1));
    CHECK_EQ(verdict(icmp(FW_IN, WAN, SERVER, HOST, FW_ICMP_ECHO_REQUEST, 1)), PASSED(6));
    CHECK_EQ(verdict(icmp(FW_IN, WAN, SERVER, HOST + 1, FW_ICMP_ECHO_REQUEST, 1)), BLOCKED(-1));
}

static void test_tcp_flags_rules(void)
{
    load("pass proto tcp flags S/SA no state\nblock proto tcp flags R/R\npass proto tcp flags /SFR no state\n");
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 2, FW_TH_SYN)), PASSED(0));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 2, FW_TH_SYN | FW_TH_ACK)), BLOCKED(-1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 2, FW_TH_RST | FW_TH_ACK)), BLOCKED(1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 2, FW_TH_ACK | FW_TH_PSH)), PASSED(2));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 2, FW_TH_FIN | FW_TH_ACK)), BLOCKED(-1));
    /* stateful rules see only SYNs (pf's flags S/SA); UDP is not affected */
    load("pass keep state\n");
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, HOST, 2, FW_TH_ACK)), BLOCKED(-1));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 1, HOST, 2)), PASSED(0));
}

static void test_counters(void)
{
    load("pass in proto tcp keep state\nblock in proto udp\npass out no state\n");
    struct fw_packet syn = tcp(FW_IN, WAN, SERVER, 1000, HOST, 80, FW_TH_SYN);
    run(syn, SEC);
    run(tcp(FW_OUT, LAN, HOST, 80, SERVER, 1000, FW_TH_SYN | FW_TH_ACK), SEC); /* on the state */
    run(tcp(FW_IN, WAN, SERVER, 1000, HOST, 80, FW_TH_ACK), SEC);
    run(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 1, HOST, 2), SEC);
    run(pkt(FW_OUT, WAN, FW_PROTO_UDP, HOST, 1, SERVER, 2), SEC);
    const struct fw_rule *r = eng.rules->rules;
    CHECK_EQ(r[0].c.evaluations, 3); /* state packets skip evaluation */
    CHECK_EQ(r[0].c.packets, 3);     /* its own, plus its state's */
    CHECK_EQ(r[0].c.bytes, 300);
    CHECK_EQ(r[0].c.states, 1);
    CHECK_EQ(r[1].c.evaluations, 3);
    CHECK_EQ(r[1].c.packets, 1);
    CHECK_EQ(r[2].c.packets, 1);
    CHECK_EQ(r[2].c.states, 0);
    CHECK_EQ(eng.stats.packets, 5);
    CHECK_EQ(eng.stats.passed, 4);
    CHECK_EQ(eng.stats.blocked, 1);
    CHECK_EQ(eng.stats.state_passed, 2);
}

/* -------------------------------------------------------------- states -- */

static void test_state_passes_replies(void)
{
    load("pass out keep state\n");
    struct fw_verdict v = run(tcp(FW_OUT, WAN, ME_WAN, 40000, SERVER, 443, FW_TH_SYN), SEC);
    CHECK_EQ(v.action, FW_PASS);
    CHECK_EQ(v.reason, FW_R_RULE);
    CHECK(!v.log);
    v = run(tcp(FW_IN, WAN, SERVER, 443, ME_WAN, 40000, FW_TH_SYN | FW_TH_ACK), SEC);
    CHECK_EQ(v.action, FW_PASS);
    CHECK_EQ(v.reason, FW_R_STATE);
    CHECK_EQ(v.rule, 0);
    v = run(tcp(FW_OUT, WAN, ME_WAN, 40000, SERVER, 443, FW_TH_ACK), SEC);
    CHECK_EQ(v.reason, FW_R_STATE);
    /* another port, or an unsolicited packet from the server, has no state */
    v = run(tcp(FW_IN, WAN, SERVER, 443, ME_WAN, 40001, FW_TH_ACK), SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    v = run(tcp(FW_IN, WAN, SERVER, 444, ME_WAN, 40000, FW_TH_ACK), SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    /* the state ends: replies no longer pass */
    v = run(tcp(FW_IN, WAN, SERVER, 443, ME_WAN, 40000, FW_TH_RST), 2 * SEC);
    CHECK_EQ(v.reason, FW_R_STATE);
    v = run(tcp(FW_IN, WAN, SERVER, 443, ME_WAN, 40000, FW_TH_ACK), 13 * SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_DEFAULT);
}

static void test_udp_replies_need_state(void)
{
    load("pass out proto udp no state\n");
    CHECK_EQ(run(pkt(FW_OUT, WAN, FW_PROTO_UDP, ME_WAN, 5353, SERVER, 53), SEC).action, FW_PASS);
    CHECK_EQ(run(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 53, ME_WAN, 5353), SEC).action, FW_BLOCK);
    load("pass out proto udp keep state\n");
    CHECK_EQ(run(pkt(FW_OUT, WAN, FW_PROTO_UDP, ME_WAN, 5353, SERVER, 53), SEC).action, FW_PASS);
    struct fw_verdict v = run(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 53, ME_WAN, 5353), 2 * SEC);
    CHECK_EQ(v.action, FW_PASS);
    CHECK_EQ(v.reason, FW_R_STATE);
    CHECK_EQ(run(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 53, ME_WAN, 5353), 62 * SEC).action, FW_BLOCK); /* expired */
}

static void test_icmp_echo_and_related(void)
{
    load("pass out keep state\n");
    CHECK_EQ(run(icmp(FW_OUT, WAN, ME_WAN, SERVER, FW_ICMP_ECHO_REQUEST, 5), SEC).action, FW_PASS);
    CHECK_EQ(states.count, 1);
    struct fw_verdict v = run(icmp(FW_IN, WAN, SERVER, ME_WAN, FW_ICMP_ECHO_REPLY, 5), SEC);
    CHECK_EQ(v.reason, FW_R_STATE);
    CHECK_EQ(run(icmp(FW_IN, WAN, SERVER, ME_WAN, FW_ICMP_ECHO_REPLY, 6), SEC).action, FW_BLOCK);
    CHECK_EQ(run(icmp(FW_IN, WAN, SERVER, ME_WAN, FW_ICMP_ECHO_REQUEST, 5), SEC).action, FW_BLOCK);
    /* echo replies passing a keep-state rule make no state */
    CHECK_EQ(run(icmp(FW_OUT, WAN, ME_WAN, SERVER, FW_ICMP_ECHO_REPLY, 9), SEC).action, FW_PASS);
    CHECK_EQ(states.count, 1);

    /* an ICMP error about a UDP flow with state passes; about another flow it does not */
    CHECK_EQ(run(pkt(FW_OUT, WAN, FW_PROTO_UDP, ME_WAN, 7000, SERVER, 53), SEC).action, FW_PASS);
    struct fw_packet err_pkt = icmp(FW_IN, WAN, IP(10, 9, 9, 9), ME_WAN, FW_ICMP_UNREACH, 0);
    err_pkt.sport = err_pkt.dport = 0;
    err_pkt.has_inner = true;
    err_pkt.inner = (struct fw_inner){ FW_PROTO_UDP, 0, ME_WAN, SERVER, 7000, 53 };
    v = run(err_pkt, SEC);
    CHECK_EQ(v.action, FW_PASS);
    CHECK_EQ(v.reason, FW_R_RELATED);
    CHECK_EQ(eng.stats.related, 1);
    err_pkt.inner.sport = 7001;
    CHECK_EQ(run(err_pkt, SEC).action, FW_BLOCK);
    err_pkt.inner.sport = 7000;
    err_pkt.dst = ME_WAN + 1; /* not sent to the quoted packet's source */
    CHECK_EQ(run(err_pkt, SEC).action, FW_BLOCK);
    err_pkt.dst = ME_WAN;
    err_pkt.dir = FW_OUT;                        /* the quoted packet did not go in */
    CHECK_EQ(run(err_pkt, SEC).action, FW_PASS); /* (pass out keep state passes it anyway) */
    CHECK_EQ(eng.stats.related, 1);
    /* about an echo request with state */
    err_pkt.dir = FW_IN;
    err_pkt.inner = (struct fw_inner){ FW_PROTO_ICMP, FW_ICMP_ECHO_REQUEST, ME_WAN, SERVER, 5, 5 };
    CHECK_EQ(run(err_pkt, SEC).reason, FW_R_RELATED);
}

/* A connection forwarded wan -> lan passes in on wan and out on lan: two states. */
static void test_forwarded_connection(void)
{
    load("pass in on wan proto tcp to port 8080 keep state\npass out on lan keep state\n");
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 5555, HOST, 8080, FW_TH_SYN)), PASSED(0));
    CHECK_EQ(verdict(tcp(FW_OUT, LAN, SERVER, 5555, HOST, 8080, FW_TH_SYN)), PASSED(1));
    CHECK_EQ(states.count, 2);
    struct fw_verdict v = run(tcp(FW_IN, LAN, HOST, 8080, SERVER, 5555, FW_TH_SYN | FW_TH_ACK), SEC);
    CHECK_EQ(v.reason, FW_R_STATE);
    CHECK_EQ(v.rule, 1);
    v = run(tcp(FW_OUT, WAN, HOST, 8080, SERVER, 5555, FW_TH_SYN | FW_TH_ACK), SEC);
    CHECK_EQ(v.reason, FW_R_STATE);
    CHECK_EQ(v.rule, 0);
    /* a port the rule does not pass gets nothing through */
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 5555, HOST, 22, FW_TH_SYN)), BLOCKED(-1));
}

static void test_reload_keeps_states(void)
{
    load("pass in proto tcp to port 22 keep state\n");
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 5000, ME_WAN, 22, FW_TH_SYN)), PASSED(0));
    CHECK_EQ(verdict(tcp(FW_OUT, WAN, ME_WAN, 22, SERVER, 5000, FW_TH_SYN | FW_TH_ACK)), PASSED(0));
    /* a bad set changes nothing */
    CHECK_EQ(fw_text_compile("pass in\nblock quack\n", &ifs, spare, err, sizeof err), FW_E_SYNTAX);
    CHECK_STR(err, "appliance.conf:2:7: expected in, out, log, quick, on, inet, proto, from, to, all, flags, "
                   "icmp-type, label, keep state, no state, nat-to, rdr-to, allow-opts or end of line (got \"quack\")");
    CHECK_EQ(fw_ruleset_replace(&eng.rules, &spare), FW_E_NOT_VALID);
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 5001, ME_WAN, 22, FW_TH_SYN)), PASSED(0));
    /* a new set that blocks ssh: the established connection survives, new ones are blocked */
    CHECK_EQ(fw_text_compile("block in proto tcp to port 22\n", &ifs, spare, err, sizeof err), FW_OK);
    CHECK_EQ(fw_ruleset_replace(&eng.rules, &spare), FW_OK);
    struct fw_verdict v = run(tcp(FW_IN, WAN, SERVER, 5000, ME_WAN, 22, FW_TH_ACK), SEC);
    CHECK_EQ(v.action, FW_PASS);
    CHECK_EQ(v.reason, FW_R_STATE);
    CHECK_EQ(v.rule, -1); /* its rule belongs to the old set */
    CHECK_EQ(eng.stats.orphan_packets, 1);
    CHECK_EQ(eng.rules->rules[0].c.packets, 0);
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 5002, ME_WAN, 22, FW_TH_SYN)), BLOCKED(0));
}

static void test_state_table_full(void)
{
    load_slots("pass out keep state\n", 2);
    CHECK_EQ(verdict(tcp(FW_OUT, WAN, ME_WAN, 1, SERVER, 443, FW_TH_SYN)), PASSED(0));
    CHECK_EQ(verdict(tcp(FW_OUT, WAN, ME_WAN, 2, SERVER, 443, FW_TH_SYN)), PASSED(0));
    struct fw_verdict v = run(tcp(FW_OUT, WAN, ME_WAN, 3, SERVER, 443, FW_TH_SYN), SEC);
    CHECK_EQ(v.action, FW_BLOCK); /* never passed without its state */
    CHECK_EQ(v.reason, FW_R_STATE_FULL);
    CHECK(v.log);
    CHECK_EQ(eng.stats.state_full, 1);
    CHECK_EQ(states.stats.full, 1);
    CHECK_EQ(eng.rules->rules[0].c.states, 2);
    /* the existing connections still pass */
    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER, 443, ME_WAN, 1, FW_TH_SYN | FW_TH_ACK), SEC).reason, FW_R_STATE);
    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER, 443, ME_WAN, 2, FW_TH_SYN | FW_TH_ACK), SEC).reason, FW_R_STATE);
    /* a pass rule without keep state still passes when the table is full */
    load_slots("pass out keep state\npass out proto udp no state\n", 2);
    run(tcp(FW_OUT, WAN, ME_WAN, 1, SERVER, 443, FW_TH_SYN), SEC);
    run(tcp(FW_OUT, WAN, ME_WAN, 2, SERVER, 443, FW_TH_SYN), SEC);
    CHECK_EQ(run(pkt(FW_OUT, WAN, FW_PROTO_UDP, ME_WAN, 1, SERVER, 53), SEC).action, FW_PASS);
}

static void test_src_conn_rate(void)
{
    load("pass in proto tcp to port 443 keep state (max-src-conn-rate 2/10)\n");
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 443, FW_TH_SYN)), PASSED(0));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 2, ME_WAN, 443, FW_TH_SYN)), PASSED(0));
    struct fw_verdict v = run(tcp(FW_IN, WAN, SERVER, 3, ME_WAN, 443, FW_TH_SYN), SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_SRC_RATE);
    CHECK_EQ(eng.stats.src_limited, 1);
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER + 1, 3, ME_WAN, 443, FW_TH_SYN)), PASSED(0)); /* another source */
    CHECK_EQ(run(tcp(FW_OUT, WAN, ME_WAN, 443, SERVER, 1, FW_TH_SYN | FW_TH_ACK), SEC).action, FW_PASS);
    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER, 4, ME_WAN, 443, FW_TH_SYN), 12 * SEC).action, FW_PASS);
}

/* One's complement sum over B (N bytes) from SUM. */
static uint32_t csum_add(uint32_t sum, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sum += (i & 1) ? b[i] : (uint32_t)b[i] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* A TCP SYN with options OPT (N bytes, a multiple of 4) and a right checksum. */
static size_t syn_with_options(uint8_t *b, const uint8_t *opt, size_t n)
{
    size_t len = 20 + 20 + n;
    memset(b, 0, len);
    b[0] = 0x45;
    b[2] = (uint8_t)(len >> 8);
    b[3] = (uint8_t)len;
    b[8] = 64;
    b[9] = FW_PROTO_TCP;
    memcpy(b + 12, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
    uint8_t *th = b + 20;
    th[0] = 0x30, th[1] = 0x39, th[2] = 0x01, th[3] = 0xbb;
    th[12] = (uint8_t)((20 + n) / 4 << 4);
    th[13] = FW_TH_SYN;
    memcpy(th + 20, opt, n);
    uint8_t pseudo[12] = { 10, 0, 0, 1, 10, 0, 0, 2, 0, FW_PROTO_TCP, (uint8_t)((20 + n) >> 8), (uint8_t)(20 + n) };
    uint16_t c = csum_fold(csum_add(csum_add(0, pseudo, 12), th, 20 + n));
    th[16] = (uint8_t)(c >> 8);
    th[17] = (uint8_t)c;
    return len;
}

static bool tcp_csum_ok(const uint8_t *b, size_t len)
{
    size_t tl = len - 20;
    uint8_t pseudo[12] = { 10, 0, 0, 1, 10, 0, 0, 2, 0, FW_PROTO_TCP, (uint8_t)(tl >> 8), (uint8_t)tl };
    return csum_fold(csum_add(csum_add(0, pseudo, 12), b + 20, tl)) == 0;
}

/* scrub (max-mss N): the MSS option lowered, the checksum still right,
 * at an even and at an odd offset; nothing else touched. */
static void test_clamp_mss(void)
{
    uint8_t b[80];
    size_t n = syn_with_options(b, (uint8_t[]){ 2, 4, 0x05, 0xb4, 1, 1, 4, 2 }, 8); /* MSS 1460, NOP NOP SACKOK */
    CHECK(tcp_csum_ok(b, n));
    CHECK(fw_clamp_mss(b, n, 1200));
    CHECK_EQ(b[40 + 2] << 8 | b[40 + 3], 1200);
    CHECK(tcp_csum_ok(b, n));
    CHECK(!fw_clamp_mss(b, n, 1300));                                        /* already below */
    n = syn_with_options(b, (uint8_t[]){ 1, 2, 4, 0x23, 0x28, 1, 1, 0 }, 8); /* NOP, MSS 9000 at an odd offset */
    CHECK(tcp_csum_ok(b, n));
    CHECK(fw_clamp_mss(b, n, 1400));
    CHECK_EQ(b[41 + 2] << 8 | b[41 + 3], 1400);
    CHECK(tcp_csum_ok(b, n));
    b[33] = FW_TH_ACK; /* not a SYN: left alone */
    CHECK(!fw_clamp_mss(b, n, 536));
    n = syn_with_options(b, (uint8_t[]){ 2, 9, 0x05, 0xb4 }, 4); /* a malformed option length */
    CHECK(!fw_clamp_mss(b, n, 536));
    /* the verdict carries the smallest max-mss of the matching rules */
    load("match in scrub (max-mss 1300)\npass in proto tcp keep state scrub (max-mss 1400)\n");
    struct fw_verdict v = run(tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 80, FW_TH_SYN), SEC);
    CHECK_EQ(v.action, FW_PASS);
    CHECK_EQ(v.max_mss, 1300);
    v = run(tcp(FW_OUT, WAN, ME_WAN, 80, SERVER, 1, FW_TH_SYN | FW_TH_ACK), SEC); /* the reply, on the state */
    CHECK_EQ(v.reason, FW_R_STATE);
    CHECK_EQ(v.max_mss, 1300);
}

/* max N, max-src-conn N and overload <t> flush: one source cannot take
 * every slot; the overloaded source lands in the table and its states go. */
static void test_state_limits_and_overload(void)
{
    load("table <flood> persist\nblock in quick from <flood>\n"
         "pass in proto tcp to port 80 keep state (max 3)\n"
         "pass in proto tcp to port 443 keep state (max-src-conn 2, overload <flood> flush global)\n");
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 80, FW_TH_SYN)), PASSED(1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER, 2, ME_WAN, 80, FW_TH_SYN)), PASSED(1));
    CHECK_EQ(verdict(tcp(FW_IN, WAN, SERVER + 1, 3, ME_WAN, 80, FW_TH_SYN)), PASSED(1));
    struct fw_verdict v = run(tcp(FW_IN, WAN, SERVER + 2, 4, ME_WAN, 80, FW_TH_SYN), SEC);
    CHECK_EQ(v.reason, FW_R_STATE_LIMIT); /* max 3 counts every source */
    CHECK_EQ(eng.stats.state_limited, 1);
    /* a state that ends frees its place */
    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 80, FW_TH_RST), SEC).action, FW_PASS);
    CHECK_EQ(fw_state_expire(&states, 15 * SEC), 1); /* the reset one (10 s) */
    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER + 2, 5, ME_WAN, 80, FW_TH_SYN), 15 * SEC).action, FW_PASS);

    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER, 10, ME_WAN, 443, FW_TH_SYN), 16 * SEC).action, FW_PASS);
    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER, 11, ME_WAN, 443, FW_TH_SYN), 16 * SEC).action, FW_PASS);
    CHECK_EQ(states.count, 5);
    v = run(tcp(FW_IN, WAN, SERVER, 12, ME_WAN, 443, FW_TH_SYN), 16 * SEC);
    CHECK_EQ(v.reason, FW_R_SRC_CONN);
    CHECK_EQ(eng.stats.overloaded, 1);
    CHECK(fw_table_match(eng.rules, 0, SERVER));
    CHECK_EQ(eng.stats.flushed, 3); /* flush global: its port-80 state too */
    CHECK_EQ(states.count, 2);
    /* the source is blocked now; another one is still served */
    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER, 13, ME_WAN, 443, FW_TH_SYN), 16 * SEC).rule, 0);
    CHECK_EQ(run(tcp(FW_IN, WAN, SERVER + 1, 14, ME_WAN, 443, FW_TH_SYN), 16 * SEC).action, FW_PASS);
}

static void test_antispoof(void)
{
    load("pass all no state\nantispoof for lan\n");
    /* in on wan with a lan source: spoofed */
    struct fw_verdict v = run(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(192, 168, 50, 77), 1, ME_WAN, 2), SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_BLOCK_RULE);
    CHECK_EQ(v.rule, 1);
    CHECK_EQ(verdict(pkt(FW_IN, LAN, FW_PROTO_UDP, IP(192, 168, 50, 77), 1, ME_WAN, 2)), PASSED(0));
    /* in on lan from the appliance's own lan address: spoofed */
    CHECK_EQ(verdict(pkt(FW_IN, LAN, FW_PROTO_UDP, IP(192, 168, 50, 1), 1, ME_WAN, 2)), BLOCKED(1));
    CHECK_EQ(verdict(pkt(FW_OUT, WAN, FW_PROTO_UDP, IP(192, 168, 50, 77), 1, SERVER, 2)), PASSED(0));
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 1, ME_WAN, 2)), PASSED(0));
    /* not quick unless it says so */
    load("antispoof for lan\npass all no state\n");
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(192, 168, 50, 77), 1, ME_WAN, 2)), PASSED(1));
    load("antispoof quick for lan\npass all no state\n");
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(192, 168, 50, 77), 1, ME_WAN, 2)), BLOCKED(0));
    /* an interface without an address (DHCP not bound yet) protects nothing */
    ifs.ifs[LAN].has_addr = false;
    CHECK_EQ(verdict(pkt(FW_IN, WAN, FW_PROTO_UDP, IP(192, 168, 50, 77), 1, ME_WAN, 2)), PASSED(1));
    ifs.ifs[LAN].has_addr = true;
}

static void test_ip_options(void)
{
    load("pass in proto udp no state\npass in proto tcp flags any keep state allow-opts\n");
    struct fw_packet u = pkt(FW_IN, WAN, FW_PROTO_UDP, SERVER, 1, ME_WAN, 2);
    u.ip_options = true;
    struct fw_verdict v = run(u, SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_IP_OPTIONS);
    CHECK_EQ(eng.stats.ip_options, 1);
    struct fw_packet t = tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 2, FW_TH_ACK);
    t.ip_options = true;
    CHECK_EQ(run(t, SEC).action, FW_PASS);
    CHECK_EQ(run(t, SEC).reason, FW_R_STATE); /* the state allows them too */
    load("pass in proto tcp keep state\n");
    t = tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 2, FW_TH_SYN);
    CHECK_EQ(run(t, SEC).action, FW_PASS);
    t.ip_options = true;
    t.tcp_flags = FW_TH_ACK;
    CHECK_EQ(run(t, SEC).reason, FW_R_IP_OPTIONS);
}

static void test_block_return_log_invalid(void)
{
    load("block return in proto tcp to port 23\npass in log proto tcp to port 80 keep state\n");
    struct fw_verdict v = run(tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 23, FW_TH_SYN), SEC);
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK(v.return_);
    CHECK(v.log);
    CHECK_EQ(v.line, 1);
    v = run(tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 80, FW_TH_SYN), SEC);
    CHECK_EQ(v.action, FW_PASS);
    CHECK(v.log);
    CHECK_EQ(v.line, 2);
    v = run(tcp(FW_IN, WAN, SERVER, 1, ME_WAN, 80, FW_TH_ACK), SEC); /* an ACK before the SYN+ACK */
    CHECK_EQ(v.action, FW_BLOCK);
    CHECK_EQ(v.reason, FW_R_INVALID);
    CHECK_EQ(eng.stats.invalid, 1);
    v = run(tcp(FW_OUT, WAN, ME_WAN, 80, SERVER, 1, FW_TH_SYN | FW_TH_ACK), SEC);
    CHECK_EQ(v.reason, FW_R_STATE);
    CHECK(!v.log);
}

/* Wire bytes all the way: parse, filter, and count what is dropped. */
static void test_wire_to_verdict(void)
{
    load("pass in on wan proto tcp to port 443 keep state\n");
    uint8_t b[128];
    struct fw_packet p;
    size_t n = tcp_wire(b, SERVER, 4000, ME_WAN, 443, FW_TH_SYN);
    CHECK_EQ(parse(b, n, &p), FW_PKT_IPV4);
    p.dir = FW_IN;
    p.iface = WAN;
    CHECK_EQ(run(p, SEC).action, FW_PASS);
    CHECK_EQ(eng.rules->rules[0].c.bytes, 44);
    b[11] ^= 0xff;
    int rc = parse(b, n, &p);
    CHECK_EQ(rc, FW_PKT_E_CHECKSUM);
    fw_count_malformed(&eng, rc);
    fw_count_malformed(&eng, FW_PKT_E_FRAG);
    fw_count_malformed(&eng, FW_PKT_E_FRAG);
    fw_count_malformed(&eng, 0);   /* not a drop: ignored */
    fw_count_malformed(&eng, -99); /* unknown: ignored */
    CHECK_EQ(eng.stats.malformed[-FW_PKT_E_CHECKSUM], 1);
    CHECK_EQ(eng.stats.malformed[-FW_PKT_E_FRAG], 2);
    CHECK_STR(fw_pkt_reason_name(FW_PKT_E_CHECKSUM), "bad IPv4 header checksum");
    CHECK_STR(fw_pkt_reason_name(FW_PKT_NOT_IPV4), "not an IPv4 frame");
    CHECK_STR(fw_pkt_reason_name(-99), "?");
    for (int e = 0; e > -FW_PKT_NREASONS; e--)
        CHECK(fw_pkt_reason_name(e) != NULL && strcmp(fw_pkt_reason_name(e), "?") != 0);
    CHECK_STR(fw_reason_name(FW_R_DEFAULT), "no rule matched");
    CHECK_STR(fw_reason_name(0), "?");
}

/* -------------------------------------------------------------- logging -- */

static void test_ratelimit(void)
{
    struct fw_ratelimit rl;
    fw_ratelimit_init(&rl, 10, 3, 0); /* 10 lines/s, bursts of 3 */
    CHECK(fw_ratelimit_allow(&rl, 0));
    CHECK(fw_ratelimit_allow(&rl, 0));
    CHECK(fw_ratelimit_allow(&rl, 0));
    CHECK(!fw_ratelimit_allow(&rl, 0));
    CHECK(!fw_ratelimit_allow(&rl, SEC / 10 - 1));
    CHECK(fw_ratelimit_allow(&rl, SEC / 10));
    CHECK(!fw_ratelimit_allow(&rl, SEC / 10));
    CHECK_EQ(fw_ratelimit_take_suppressed(&rl), 3);
    CHECK_EQ(fw_ratelimit_take_suppressed(&rl), 0);
    /* a flood for 10 s lets through 10/s */
    unsigned allowed = 0;
    for (uint64_t now = SEC; now < 11 * SEC; now += SEC / 1000)
        allowed += fw_ratelimit_allow(&rl, now);
    CHECK(allowed >= 100 && allowed <= 103);
    /* a long pause saves up only the burst; a clock stepping back adds nothing */
    uint64_t later = 1000 * SEC;
    for (int i = 0; i < 3; i++)
        CHECK(fw_ratelimit_allow(&rl, later));
    CHECK(!fw_ratelimit_allow(&rl, later));
    CHECK(!fw_ratelimit_allow(&rl, SEC));
    fw_ratelimit_init(&rl, 0, 5, 0); /* off */
    CHECK(!fw_ratelimit_allow(&rl, 100 * SEC));
}

static void test_log_lines(void)
{
    load("pass in on lan no state\nblock in quick on wan proto tcp to port 22\n");
    char buf[200];
    struct fw_packet p = tcp(FW_IN, WAN, SERVER, 4242, ME_WAN, 22, FW_TH_SYN);
    p.len = 60;
    struct fw_verdict v = run(p, SEC);
    size_t n = fw_log_format(buf, sizeof buf, &p, &v, &ifs, 0);
    CHECK_STR(buf, "fw: block in on wan tcp 93.184.216.34:4242 -> 10.0.2.15:22 [S] len 60: rule @1 (line 2)");
    CHECK_EQ(n, strlen(buf));
    p = icmp(FW_OUT, LAN, ME_WAN, HOST, FW_ICMP_ECHO_REQUEST, 3);
    v = run(p, SEC);
    fw_log_format(buf, sizeof buf, &p, &v, &ifs, 17);
    CHECK_STR(buf, "fw: block out on lan icmp 10.0.2.15 -> 192.168.50.10 type 8 code 0 len 100: no rule matched "
                   "(17 suppressed)");
    p = pkt(FW_IN, 7, 47, SERVER, 0, HOST, 0);
    v = run(p, SEC);
    fw_log_format(buf, sizeof buf, &p, &v, &ifs, 0);
    CHECK_STR(buf, "fw: block in on if7 proto 47 93.184.216.34 -> 192.168.50.10 len 100: no rule matched");
    fw_log_format_malformed(buf, sizeof buf, FW_IN, WAN, FW_PKT_E_FRAG_OVERLAP, &ifs, 2);
    CHECK_STR(buf, "fw: drop in on wan: tiny or overlapping fragment (2 suppressed)");
    char small[10];
    n = fw_log_format_malformed(small, sizeof small, FW_OUT, LAN, FW_PKT_E_UDP_LEN, &ifs, 0);
    CHECK_STR(small, "fw: drop ");
    CHECK_EQ(n, strlen("fw: drop out on lan: bad UDP length"));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_parse_valid),
        UNIT_TEST(test_parse_malformed),
        UNIT_TEST(test_parse_fragments),
        UNIT_TEST(test_parse_icmp_quote),
        UNIT_TEST(test_last_match_and_quick),
        UNIT_TEST(test_default_block),
        UNIT_TEST(test_direction_and_interface),
        UNIT_TEST(test_ports_and_prefixes),
        UNIT_TEST(test_tcp_flags_rules),
        UNIT_TEST(test_counters),
        UNIT_TEST(test_state_passes_replies),
        UNIT_TEST(test_udp_replies_need_state),
        UNIT_TEST(test_icmp_echo_and_related),
        UNIT_TEST(test_forwarded_connection),
        UNIT_TEST(test_reload_keeps_states),
        UNIT_TEST(test_state_table_full),
        UNIT_TEST(test_src_conn_rate),
        UNIT_TEST(test_state_limits_and_overload),
        UNIT_TEST(test_clamp_mss),
        UNIT_TEST(test_antispoof),
        UNIT_TEST(test_ip_options),
        UNIT_TEST(test_block_return_log_invalid),
        UNIT_TEST(test_wire_to_verdict),
        UNIT_TEST(test_ratelimit),
        UNIT_TEST(test_log_lines),
    };
    return unit_main("fw_match", tests, (int)(sizeof tests / sizeof tests[0]));
}
