/*
 * test_fw_modulate.c - modulate state (net/firewall/fw_modulate.c, the
 * offsets in fw_state.c) with the compiler, the classifier and NAT, as
 * netd_fw_packet runs them: whole wire packets through fw_filter, then
 * fw_nat_rewrite and fw_modulate_ipv4.
 *
 * What is checked: the initiator's sequence numbers leave offset and the
 * acknowledgement numbers (and SACK edges, aligned and not) come back
 * without it, the same for the responder's side; each end sees its own
 * numbers acknowledged exactly (also through two modulating states, and
 * with nat-to and rdr-to); an ICMP error's quote is given back its
 * original sequence number; other protocols and states picked up
 * mid-stream are left alone.  Every rewritten packet's checksums are
 * computed afresh and compared, for full checksums, for partial ones
 * (NIC_DF_CSUM_PARTIAL: completed afterwards as a device would) and for
 * a 64 KiB GSO segment.
 *
 * Not here: sequence-window checks, which Keel's state table does not do
 * (fw_state.h).
 */
#include <string.h>

#include "fw6.h"
#include "fw_match.h"
#include "fw_modulate.h"
#include "fw_nat.h"
#include "fw_text.h"
#include "fw_wire.h"
#include "unit.h"

#define SEC       FW_NS_PER_SEC
#define WAN       0
#define LAN       1
#define ME_WAN    IP(203, 0, 113, 1)
#define ME_LAN    IP(10, 1, 0, 1)
#define HOST      IP(10, 1, 0, 9)
#define SERVER_IN IP(10, 1, 0, 5)
#define REMOTE    IP(198, 51, 100, 2)
#define ROUTER    IP(203, 0, 113, 254)

/* ------------------------------------------------------ wire packets ---- */

/*
 * Whether every checksum of the packet at IP (LEN bytes) is the one a fresh
 * computation writes: the packet is copied, sealed afresh and compared
 * byte for byte (a checksum of 0 and one of 0xffff are the same ones'
 * complement zero, which no TCP or ICMP sum of real data comes to).
 */
static bool fresh(const uint8_t *ip, size_t len)
{
    static uint8_t copy[65536];
    memcpy(copy, ip, len);
    seal(copy);
    return memcmp(copy, ip, len) == 0;
}

/* A TCP segment: options OPTS (OPTLEN, a multiple of 4), PAYLOAD bytes of data. */
static size_t tcp_seg(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t flags,
                      uint32_t seq, uint32_t ack, const uint8_t *opts, size_t optlen, size_t payload)
{
    size_t hl = 20 + optlen, n = ip_hdr(b, FW_PROTO_TCP, src, dst, hl + payload);
    uint8_t *th = b + 20;
    memset(th, 0, hl);
    wr16(th, sport);
    wr16(th + 2, dport);
    wr32(th + 4, seq);
    wr32(th + 8, ack);
    th[12] = (uint8_t)(hl / 4 << 4);
    th[13] = flags;
    wr16(th + 14, 65535);
    if (optlen)
        memcpy(th + 20, opts, optlen);
    for (size_t i = 0; i < payload; i++)
        th[hl + i] = (uint8_t)(i * 7 + 3);
    seal(b);
    return n;
}

static size_t echo_wire(uint8_t *b, uint32_t src, uint32_t dst, uint8_t type, uint16_t id)
{
    return echo_data_wire(b, src, dst, type, id, "ping", 4);
}

static uint32_t seq_of(const uint8_t *b) { return rd32(b + 24); }
static uint32_t ack_of(const uint8_t *b) { return rd32(b + 28); }

/* ---------------------------------------------------------- the engine -- */

static struct fw_ifaces ifs = { 2, { { "wan", ME_WAN, 24, true }, { "lan", ME_LAN, 24, true } } };
static struct fw_ruleset set;
static struct fw_state slots[256];
static uint32_t buckets[64];
static struct fw_src_node srcs[16];
static struct fw_nat_side sides[256];
static uint32_t nat_buckets[64];
static struct fw_state_table states;
static struct fw_nat nat;
static struct fw_engine eng;
static char err[256];
static bool partial; /* step() hands fw_modulate_ipv4 this CSUM_PARTIAL */

static void load_key(const char *rules, uint64_t k0)
{
    int rc = fw_text_compile(rules, &ifs, &set, err, sizeof err);
    CHECK_EQ(rc, FW_OK);
    if (rc != FW_OK)
        printf("rules: %s\n", err);
    struct fw_state_storage mem = { slots, 256, buckets, 64, srcs, 16, { 7, 9 }, { k0, 0x5eed } };
    CHECK_EQ(fw_state_init(&states, &mem), FW_OK);
    CHECK_EQ(fw_nat_init(&nat, sides, 256, nat_buckets, 64, 12345), FW_OK);
    states.nat = &nat;
    memset(&eng, 0, sizeof eng);
    eng.rules = &set;
    eng.states = &states;
    eng.ifaces = &ifs;
    partial = false;
}

static void load(const char *rules) { load_key(rules, 0x0123456789abcdefull); }

/* netd_fw_packet's steps for the packet at B (N bytes): the verdict, then
 * the translation and the modulation of a passed packet. */
static struct fw_verdict step(uint8_t *b, size_t n, uint8_t dir, uint8_t iface, uint64_t now)
{
    struct fw_packet p;
    memset(&p, 0, sizeof p);
    CHECK_EQ(fw_parse_ipv4(b, n, &p), FW_PKT_IPV4);
    p.dir = dir;
    p.iface = iface;
    struct fw_verdict v;
    fw_filter(&eng, &p, now, &v);
    if (v.action == FW_PASS && v.xl.kind)
        CHECK(fw_nat_rewrite(b, n, &p, &v.xl));
    if (v.action == FW_PASS)
        (void)fw_modulate_ipv4(b, n, &p, &v.mod, partial);
    return v;
}

static void lan_to_wan(uint8_t *b, size_t n, uint64_t now)
{
    CHECK_EQ(step(b, n, FW_IN, LAN, now).action, FW_PASS);
    CHECK_EQ(step(b, n, FW_OUT, WAN, now).action, FW_PASS);
}

static void wan_to_lan(uint8_t *b, size_t n, uint64_t now)
{
    CHECK_EQ(step(b, n, FW_IN, WAN, now).action, FW_PASS);
    CHECK_EQ(step(b, n, FW_OUT, LAN, now).action, FW_PASS);
}

/* The live state of rule set index RULE (the first one found). */
static const struct fw_state *state_of_rule(uint16_t rule)
{
    for (unsigned i = 0; i < 256; i++)
        if (fw_state_is_live(&slots[i], SEC) && slots[i].rule == rule)
            return &slots[i];
    return NULL;
}

#define OUT_RULES                                                                                                      \
    "pass in on lan\n"                                                                                                 \
    "pass out on wan\n"                                                                                                \
    "pass out on wan proto tcp modulate state\n"

/* SACK with one block at an odd offset (no padding before it). */
static void sack1(uint8_t o[12], uint32_t l, uint32_t r)
{
    o[0] = 1; /* NOP */
    o[1] = 5;
    o[2] = 10;
    wr32(o + 3, l);
    wr32(o + 7, r);
    o[11] = 0; /* EOL */
}

/* SACK with two blocks, aligned (NOP, NOP, kind, length). */
static void sack2(uint8_t o[20], uint32_t l1, uint32_t r1, uint32_t l2, uint32_t r2)
{
    o[0] = 1;
    o[1] = 1;
    o[2] = 5;
    o[3] = 18;
    wr32(o + 4, l1);
    wr32(o + 8, r1);
    wr32(o + 12, l2);
    wr32(o + 16, r2);
}

/*
 * A whole exchange between HOST:5000 (initiator, on lan) and the remote
 * end (RADDR:RPORT as HOST writes to it; the packets the remote sends come
 * from WADDR:WPORT to HOST_WIRE:HPORT_WIRE, its view of HOST).  Checks that
 * each end sees exactly its own numbers acknowledged and its own SACK
 * edges, and returns through *WIRE_ISN the initiator's ISN as the remote
 * saw it and through *HOST_SAW the remote's ISN as HOST saw it.
 */
struct ends {
    uint32_t raddr;
    uint16_t rport;
    uint32_t waddr;
    uint16_t wport;
};

static void exchange(const struct ends *e, uint32_t *wire_isn, uint32_t *host_saw)
{
    static uint8_t b[256];
    uint8_t o[20];
    const uint32_t c_isn = 1000, s_isn = 7000;
    /* SYN: HOST's ISN leaves as the remote sees it */
    size_t n = tcp_seg(b, HOST, 5000, e->raddr, e->rport, FW_TH_SYN, c_isn, 0, NULL, 0, 0);
    lan_to_wan(b, n, SEC);
    CHECK(fresh(b, n));
    CHECK_EQ(ack_of(b), 0); /* no ACK: the field stays as it was */
    uint32_t c_wire = seq_of(b);
    uint32_t h_addr = rd32(b + 12), h_port = rd16(b + 20); /* HOST as the remote sees it (after nat-to) */
    *wire_isn = c_wire;
    /* SYN+ACK: the remote acknowledges its view; HOST gets its own ISN + 1 */
    n = tcp_seg(b, e->waddr, e->wport, h_addr, (uint16_t)h_port, FW_TH_SYN | FW_TH_ACK, s_isn, c_wire + 1, NULL, 0, 0);
    wan_to_lan(b, n, SEC);
    CHECK(fresh(b, n));
    CHECK_EQ(ack_of(b), c_isn + 1);
    CHECK_EQ(rd32(b + 16), HOST);
    uint32_t s_host = seq_of(b); /* the remote's ISN as HOST sees it */
    *host_saw = s_host;
    /* ACK with 100 bytes of data: the remote gets its own ISN + 1 back */
    n = tcp_seg(b, HOST, 5000, e->raddr, e->rport, FW_TH_ACK, c_isn + 1, s_host + 1, NULL, 0, 100);
    lan_to_wan(b, n, SEC);
    CHECK(fresh(b, n));
    CHECK_EQ(seq_of(b), c_wire + 1);
    CHECK_EQ(ack_of(b), s_isn + 1);
    /* the remote SACKs a later block of HOST's data, at an odd offset */
    sack1(o, c_wire + 201, c_wire + 301);
    n = tcp_seg(b, e->waddr, e->wport, h_addr, (uint16_t)h_port, FW_TH_ACK, s_isn + 1, c_wire + 101, o, 12, 0);
    wan_to_lan(b, n, SEC);
    CHECK(fresh(b, n));
    CHECK_EQ(seq_of(b), s_host + 1);
    CHECK_EQ(ack_of(b), c_isn + 101);
    CHECK_EQ(rd32(b + 20 + 20 + 3), c_isn + 201);
    CHECK_EQ(rd32(b + 20 + 20 + 7), c_isn + 301);
    /* HOST SACKs two blocks of the remote's data, aligned */
    sack2(o, s_host + 11, s_host + 21, s_host + 31, s_host + 41);
    n = tcp_seg(b, HOST, 5000, e->raddr, e->rport, FW_TH_ACK, c_isn + 101, s_host + 1, o, 20, 0);
    lan_to_wan(b, n, SEC);
    CHECK(fresh(b, n));
    CHECK_EQ(ack_of(b), s_isn + 1);
    CHECK_EQ(rd32(b + 44), s_isn + 11);
    CHECK_EQ(rd32(b + 48), s_isn + 21);
    CHECK_EQ(rd32(b + 52), s_isn + 31);
    CHECK_EQ(rd32(b + 56), s_isn + 41);
    /* the remote's FIN, HOST's last ACK */
    n = tcp_seg(b, e->waddr, e->wport, h_addr, (uint16_t)h_port, FW_TH_FIN | FW_TH_ACK, s_isn + 1, c_wire + 101, NULL,
                0, 0);
    wan_to_lan(b, n, SEC);
    CHECK(fresh(b, n));
    CHECK_EQ(seq_of(b), s_host + 1);
    CHECK_EQ(ack_of(b), c_isn + 101);
}

/* ----------------------------------------------------------- the tests -- */

static void test_compile_and_list(void)
{
    load("pass out on wan proto tcp modulate state\n"
         "pass in on wan proto tcp to port 22 modulate state (max 10, max-src-conn-rate 5/10)\n"
         "pass in on lan keep state\n");
    CHECK_EQ(set.count, 3);
    CHECK((set.rules[0].flags & (FW_RF_KEEP_STATE | FW_RF_MODULATE)) == (FW_RF_KEEP_STATE | FW_RF_MODULATE));
    CHECK((set.rules[1].flags & FW_RF_MODULATE) != 0);
    CHECK_EQ(set.rules[1].max_states, 10);
    CHECK_EQ(set.rules[2].flags & FW_RF_MODULATE, 0);
    char buf[256];
    fw_rule_format(&set.rules[0], &ifs, &set, buf, sizeof buf);
    CHECK_STR(buf, "pass out on wan proto tcp all flags S/SA modulate state");
    fw_rule_format(&set.rules[1], &ifs, &set, buf, sizeof buf);
    CHECK_STR(buf, "pass in on wan proto tcp from any to any port = 22 flags S/SA modulate state (max 10, "
                   "max-src-conn-rate 5/10)");
    fw_rule_format(&set.rules[2], &ifs, &set, buf, sizeof buf);
    CHECK_STR(buf, "pass in on lan all flags S/SA");
}

/* The initiator's ISN is replaced on the wire, the responder's too (pf's
 * deferred choice), and each end sees only its own numbers. */
static void test_tcp_exchange(void)
{
    load(OUT_RULES);
    struct ends e = { REMOTE, 80, REMOTE, 80 };
    uint32_t wire_isn, host_saw;
    exchange(&e, &wire_isn, &host_saw);
    CHECK(wire_isn != 1000);
    CHECK(host_saw != 7000);
    const struct fw_state *st = state_of_rule(2);
    CHECK(st != NULL);
    if (!st)
        return;
    CHECK(st->flags & FW_SF_MODULATE);
    uint32_t d[2];
    fw_state_seqdiffs(&states, st, d);
    CHECK_EQ(d[0], wire_isn - 1000);
    CHECK_EQ(d[1], host_saw - 7000);
    CHECK(d[0] != 0 && d[1] != 0 && d[0] != d[1]);
    /* the lan state (keep state) is not modulated */
    CHECK_EQ(state_of_rule(0)->flags & FW_SF_MODULATE, 0);

    /* negative control: keep state leaves every number as it was */
    load("pass in on lan\npass out on wan proto tcp keep state\n");
    exchange(&e, &wire_isn, &host_saw);
    CHECK_EQ(wire_isn, 1000);
    CHECK_EQ(host_saw, 7000);
}

/* Two modulating states on the way (in on lan and out on wan): each adds
 * its own offset and takes it off again; the ends see their own numbers. */
static void test_two_modulating_states(void)
{
    load("pass in on lan proto tcp modulate state\npass out on wan proto tcp modulate state\n");
    struct ends e = { REMOTE, 80, REMOTE, 80 };
    uint32_t wire_isn, host_saw;
    exchange(&e, &wire_isn, &host_saw);
    CHECK(wire_isn != 1000 && host_saw != 7000);
    const struct fw_state *a = state_of_rule(0), *b = state_of_rule(1);
    CHECK(a && b);
    if (a && b) {
        uint32_t da[2], db[2];
        fw_state_seqdiffs(&states, a, da);
        fw_state_seqdiffs(&states, b, db);
        CHECK_EQ(wire_isn, 1000 + da[0] + db[0]);
        CHECK_EQ(host_saw, 7000 + da[1] + db[1]);
    }
}

/* nat-to and modulate state on one state, and rdr-to with modulate state:
 * both rewrites, in both directions, checksums fresh. */
static void test_with_nat(void)
{
    load("match out on wan from 10.1.0.0/24 nat-to (wan)\n" OUT_RULES);
    struct ends e = { REMOTE, 80, REMOTE, 80 };
    uint32_t wire_isn, host_saw;
    exchange(&e, &wire_isn, &host_saw);
    CHECK(wire_isn != 1000 && host_saw != 7000);
    CHECK_EQ(nat.in_use, 1);

    /* rdr-to: REMOTE initiates to the WAN address, SERVER_IN answers */
    load("pass in on wan proto tcp to (wan) port 80 rdr-to 10.1.0.5 port 8080 modulate state\npass out on lan\n");
    static uint8_t b[256];
    size_t n = tcp_seg(b, REMOTE, 40000, ME_WAN, 80, FW_TH_SYN, 500, 0, NULL, 0, 0);
    wan_to_lan(b, n, SEC);
    CHECK(fresh(b, n));
    CHECK_EQ(rd32(b + 16), SERVER_IN);
    CHECK_EQ(rd16(b + 22), 8080);
    uint32_t r_seen = seq_of(b);
    CHECK(r_seen != 500);
    n = tcp_seg(b, SERVER_IN, 8080, REMOTE, 40000, FW_TH_SYN | FW_TH_ACK, 9000, r_seen + 1, NULL, 0, 0);
    CHECK_EQ(step(b, n, FW_IN, LAN, SEC).action, FW_PASS);
    CHECK_EQ(step(b, n, FW_OUT, WAN, SEC).action, FW_PASS);
    CHECK(fresh(b, n));
    CHECK_EQ(rd32(b + 12), ME_WAN);
    CHECK_EQ(rd16(b + 20), 80);
    CHECK_EQ(ack_of(b), 501);
    CHECK(seq_of(b) != 9000);
}

/* An ICMP error about a modulated segment quotes the offset number; it
 * reaches the sender with the sender's own number (Linux drops errors
 * whose quoted sequence number is outside its window: PMTU discovery). */
static void test_icmp_error_quote(void)
{
    static const char *const rules[] = { OUT_RULES, "match out on wan from 10.1.0.0/24 nat-to (wan)\n" OUT_RULES };
    for (unsigned k = 0; k < 2; k++) {
        load(rules[k]);
        static uint8_t b[256], orig[256], wire[256], err_b[512];
        size_t n = tcp_seg(b, HOST, 5000, REMOTE, 80, FW_TH_SYN, 1000, 0, NULL, 0, 0);
        lan_to_wan(b, n, SEC);
        uint32_t c_wire = seq_of(b);
        CHECK(c_wire != 1000);
        uint32_t h_addr = rd32(b + 12);
        uint16_t h_port = rd16(b + 20);
        n = tcp_seg(b, REMOTE, 80, h_addr, h_port, FW_TH_SYN | FW_TH_ACK, 7000, c_wire + 1, NULL, 0, 0);
        wan_to_lan(b, n, SEC);
        uint32_t s_host = seq_of(b);
        n = tcp_seg(orig, HOST, 5000, REMOTE, 80, FW_TH_ACK, 1001, s_host + 1, NULL, 0, 60);
        memcpy(wire, orig, n);
        lan_to_wan(wire, n, SEC);
        CHECK_EQ(seq_of(wire), c_wire + 1);
        /* a router past the appliance: fragmentation needed, quoting the
         * RFC 792 minimum (header + 8) and the whole TCP header */
        for (size_t qlen = 28; qlen <= 40; qlen += 12) {
            size_t m = error_wire(err_b, ROUTER, FW_ICMP_UNREACH, 4, wire, qlen);
            CHECK_EQ(step(err_b, m, FW_IN, WAN, SEC).reason, FW_R_RELATED);
            CHECK_EQ(step(err_b, m, FW_OUT, LAN, SEC).reason, FW_R_RELATED);
            CHECK(fresh(err_b, m));
            CHECK_EQ(rd32(err_b + 16), HOST);
            CHECK_EQ(memcmp(err_b + 28, orig, qlen), 0); /* the quote as HOST sent it, checksum and all */
        }
    }
}

/* Other protocols keep state plainly under modulate state; a TCP state
 * picked up mid-stream is not modulated; a RST answering the SYN is. */
static void test_keep_state_cases(void)
{
    load("pass in on lan flags any\npass out on wan modulate state\npass out on wan proto tcp flags any modulate "
         "state\n");
    static uint8_t b[256], before[256];
    size_t n = udp_probe_wire(b, HOST, 4000, REMOTE, 53);
    memcpy(before, b, n);
    lan_to_wan(b, n, SEC);
    CHECK_EQ(memcmp(b, before, n), 0);
    n = echo_wire(b, HOST, REMOTE, FW_ICMP_ECHO_REQUEST, 77);
    memcpy(before, b, n);
    lan_to_wan(b, n, SEC);
    CHECK_EQ(memcmp(b, before, n), 0);
    /* mid-stream (flags any, no SYN): left alone both ways */
    n = tcp_seg(b, HOST, 5001, REMOTE, 443, FW_TH_ACK, 123456, 654321, NULL, 0, 10);
    memcpy(before, b, n);
    lan_to_wan(b, n, SEC);
    CHECK_EQ(memcmp(b, before, n), 0);
    n = tcp_seg(b, REMOTE, 443, HOST, 5001, FW_TH_ACK, 654321, 123466, NULL, 0, 0);
    memcpy(before, b, n);
    wan_to_lan(b, n, SEC);
    CHECK_EQ(memcmp(b, before, n), 0);
    for (unsigned i = 0; i < 256; i++)
        CHECK(!fw_state_is_live(&slots[i], SEC) || !(slots[i].flags & FW_SF_MODULATE));
    /* a refused connection: the RST+ACK acknowledges HOST's own ISN */
    load(OUT_RULES);
    n = tcp_seg(b, HOST, 5002, REMOTE, 81, FW_TH_SYN, 4242, 0, NULL, 0, 0);
    lan_to_wan(b, n, SEC);
    uint32_t c_wire = seq_of(b);
    CHECK(c_wire != 4242);
    n = tcp_seg(b, REMOTE, 81, HOST, 5002, FW_TH_RST | FW_TH_ACK, 0, c_wire + 1, NULL, 0, 0);
    wan_to_lan(b, n, SEC);
    CHECK(fresh(b, n));
    CHECK_EQ(ack_of(b), 4243);
}

/* Every connection gets its own offsets, from the key: another key gives others. */
static void test_offsets(void)
{
    uint32_t d[8];
    load(OUT_RULES);
    static uint8_t b[256];
    for (unsigned i = 0; i < 8; i++) {
        size_t n = tcp_seg(b, HOST, (uint16_t)(6000 + i), REMOTE, 80, FW_TH_SYN, 1000, 0, NULL, 0, 0);
        lan_to_wan(b, n, SEC);
        d[i] = seq_of(b) - 1000;
        CHECK(d[i] != 0);
        for (unsigned j = 0; j < i; j++)
            CHECK(d[i] != d[j]);
    }
    load_key(OUT_RULES, 0xfeedfacecafebeefull);
    size_t n = tcp_seg(b, HOST, 6000, REMOTE, 80, FW_TH_SYN, 1000, 0, NULL, 0, 0);
    lan_to_wan(b, n, SEC);
    CHECK(seq_of(b) - 1000 != d[0]);
}

/*
 * A frame whose checksum the device completes (NIC_DF_CSUM_PARTIAL): the
 * field holds the pseudo-header sum, and the device sums the TCP bytes as
 * they leave.  The rewrite must leave the field alone; RFC 1624 on it (the
 * negative control) completes to a wrong checksum.  And a 64 KiB GSO
 * segment, full and partial.
 */
static bool complete_ok(uint8_t *ip)
{
    size_t n = rd16(ip + 2) - 20u;
    uint8_t *th = ip + 20;
    wr16(th + 16, fold(sum_words(th, n, 0))); /* the device: over [csum_start, end), the field included */
    return fresh(ip, n + 20);
}

static void make_partial(uint8_t *ip)
{
    size_t n = rd16(ip + 2) - 20u;
    wr16(ip + 20 + 16, fold_raw(pseudo(ip, n))); /* not complemented: nic_offload.c nof_set_pseudo */
}

static void test_partial_and_gso(void)
{
    static uint8_t b[65536];
    for (int gso = 0; gso < 2; gso++) {
        size_t payload = gso ? 65535 - 40 - 12 : 40;
        for (int mode = 0; mode < 3; mode++) { /* full; partial; partial rewritten as full (negative) */
            load(OUT_RULES);
            size_t n = tcp_seg(b, HOST, 5000, REMOTE, 80, FW_TH_SYN, 1000, 0, NULL, 0, 0);
            lan_to_wan(b, n, SEC);
            uint32_t c_wire = seq_of(b);
            n = tcp_seg(b, REMOTE, 80, HOST, 5000, FW_TH_SYN | FW_TH_ACK, 7000, c_wire + 1, NULL, 0, 0);
            wan_to_lan(b, n, SEC);
            uint32_t s_host = seq_of(b);
            uint8_t o[12];
            sack1(o, s_host + 1, s_host + 2);
            n = tcp_seg(b, HOST, 5000, REMOTE, 80, FW_TH_ACK | FW_TH_PSH, 1001, s_host + 1, o, 12, payload);
            if (mode)
                make_partial(b);
            CHECK_EQ(step(b, n, FW_IN, LAN, SEC).action, FW_PASS);
            partial = mode == 1;
            CHECK_EQ(step(b, n, FW_OUT, WAN, SEC).action, FW_PASS);
            CHECK_EQ(seq_of(b), c_wire + 1);
            CHECK_EQ(ack_of(b), 7001);
            if (mode == 0)
                CHECK(fresh(b, n));
            else if (mode == 1)
                CHECK(complete_ok(b));
            else
                CHECK(!complete_ok(b)); /* RFC 1624 on a partial sum: off by the change */
        }
    }
}

/* ---------------------------------------------------------------- IPv6 -- */

static struct fw6_state_table st6;
static struct fw6_engine eng6;
static struct fw6_ifaces ifs6;

static void addr6(uint8_t out[16], unsigned last, unsigned net)
{
    memset(out, 0, 16);
    out[0] = 0x20, out[1] = 0x01, out[2] = 0x0d, out[3] = 0xb8;
    out[5] = (uint8_t)net;
    out[15] = (uint8_t)last;
}

/* The IPv6 pseudo-header sum (RFC 8200 8.1) of the packet at IP. */
static uint32_t pseudo6(const uint8_t *ip) { return sum_words(ip + 8, 32, 0) + rd16(ip + 4) + ip[6]; }

static void seal6(uint8_t *ip)
{
    size_t n = rd16(ip + 4);
    uint8_t *l4 = ip + 40, *c = ip[6] == FW_PROTO_TCP ? l4 + 16 : l4 + 2;
    wr16(c, 0);
    wr16(c, fold(sum_words(l4, n, pseudo6(ip))));
}

static bool fresh6(const uint8_t *ip)
{
    static uint8_t copy[2048];
    size_t n = 40 + (size_t)rd16(ip + 4);
    memcpy(copy, ip, n);
    seal6(copy);
    return memcmp(copy, ip, n) == 0;
}

/* A TCP segment from 2001:db8:0:S::SL to 2001:db8:0:D::DL. */
static size_t tcp6(uint8_t *b, unsigned s_net, unsigned s_last, uint16_t sport, unsigned d_net, unsigned d_last,
                   uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack, const uint8_t *opts, size_t optlen,
                   size_t payload)
{
    size_t hl = 20 + optlen;
    memset(b, 0, 40 + hl);
    b[0] = 0x60;
    wr16(b + 4, (uint16_t)(hl + payload));
    b[6] = FW_PROTO_TCP;
    b[7] = 64;
    addr6(b + 8, s_last, s_net);
    addr6(b + 24, d_last, d_net);
    uint8_t *th = b + 40;
    wr16(th, sport);
    wr16(th + 2, dport);
    wr32(th + 4, seq);
    wr32(th + 8, ack);
    th[12] = (uint8_t)(hl / 4 << 4);
    th[13] = flags;
    wr16(th + 14, 65535);
    if (optlen)
        memcpy(th + 20, opts, optlen);
    for (size_t i = 0; i < payload; i++)
        th[hl + i] = (uint8_t)(i * 5 + 1);
    seal6(b);
    return 40 + hl + payload;
}

static void load6(const char *rules)
{
    CHECK_EQ(fw_text_compile(rules, &ifs, &set, err, sizeof err), FW_OK);
    fw6_state_init(&st6, 4242);
    st6.mod_key[0] = 0x1111, st6.mod_key[1] = 0x2222;
    memset(&eng6, 0, sizeof eng6);
    eng6.rules = &set;
    eng6.states = &st6;
    eng6.ifaces = &ifs6;
}

/* netd_fw6_packet's steps: ND and packet too big pass first (a quote
 * fixed), then the verdict and the rewrite of a passed packet. */
static int step6(uint8_t *b, uint8_t dir, uint8_t iface, uint64_t now)
{
    struct fw6_packet p = { .dir = dir, .iface = iface };
    size_t n = 40 + (size_t)rd16(b + 4);
    CHECK_EQ(fw6_parse(b, n, &p), FW6_PKT_OK);
    if (fw6_is_nd(&p)) {
        (void)fw6_modulate_error(&st6, b, n, &p, now);
        return FW_PASS;
    }
    struct fw_verdict v;
    fw6_filter(&eng6, &p, now, &v);
    if (v.action != FW_PASS)
        return v.action;
    if (p.proto == FW_PROTO_TCP)
        (void)fw_modulate_tcp(b + p.l4off, p.len - p.l4off, &v.mod, false);
    else
        (void)fw6_modulate_error(&st6, b, n, &p, now);
    return v.action;
}

static uint32_t seq6(const uint8_t *b) { return rd32(b + 44); }
static uint32_t ack6(const uint8_t *b) { return rd32(b + 48); }

/* IPv6: the same exchange (A 2001:db8:1::5 on wan, B 2001:db8:2::1 on
 * lan), SACK, a packet too big quoting a modulated segment; UDP alone. */
static void test_ipv6(void)
{
    load6("pass in on wan inet6 proto tcp to port 80 modulate state\npass in on wan inet6 proto udp modulate state\n");
    static uint8_t b[2048], orig[2048], err6[2048];
    uint8_t o[12];
    tcp6(b, 1, 5, 4000, 2, 1, 80, FW_TH_SYN, 1000, 0, NULL, 0, 0);
    CHECK_EQ(step6(b, FW_IN, WAN, SEC), FW_PASS);
    CHECK(fresh6(b));
    uint32_t c_wire = seq6(b);
    CHECK(c_wire != 1000);
    tcp6(b, 2, 1, 80, 1, 5, 4000, FW_TH_SYN | FW_TH_ACK, 7000, c_wire + 1, NULL, 0, 0);
    CHECK_EQ(step6(b, FW_IN, LAN, SEC), FW_PASS);
    CHECK(fresh6(b));
    CHECK_EQ(ack6(b), 1001);
    uint32_t s_host = seq6(b);
    CHECK(s_host != 7000);
    sack1(o, s_host + 11, s_host + 21);
    size_t n = tcp6(orig, 1, 5, 4000, 2, 1, 80, FW_TH_ACK, 1001, s_host + 1, o, 12, 100);
    memcpy(b, orig, n);
    CHECK_EQ(step6(b, FW_IN, WAN, SEC), FW_PASS);
    CHECK(fresh6(b));
    CHECK_EQ(seq6(b), c_wire + 1);
    CHECK_EQ(ack6(b), 7001);
    CHECK_EQ(rd32(b + 60 + 3), 7011);
    CHECK_EQ(rd32(b + 60 + 7), 7021);
    /* a router on B's side: packet too big, quoting a segment as it left
     * (without options: a quote's SACK edges are not given back, as pf) */
    n = tcp6(orig, 1, 5, 4000, 2, 1, 80, FW_TH_ACK, 1001, s_host + 1, NULL, 0, 1200);
    memcpy(b, orig, n);
    CHECK_EQ(step6(b, FW_IN, WAN, SEC), FW_PASS);
    size_t qlen = n < 1232 ? n : 1232;
    memset(err6, 0, 48);
    err6[0] = 0x60;
    wr16(err6 + 4, (uint16_t)(8 + qlen));
    err6[6] = FW_PROTO_ICMP6;
    err6[7] = 64;
    addr6(err6 + 8, 0xfe, 2);
    addr6(err6 + 24, 5, 1);
    err6[40] = 2; /* packet too big */
    wr32(err6 + 44, 1280);
    memcpy(err6 + 48, b, qlen);
    seal6(err6);
    CHECK_EQ(step6(err6, FW_OUT, WAN, SEC), FW_PASS);
    CHECK(fresh6(err6));
    CHECK_EQ(memcmp(err6 + 48, orig, qlen), 0); /* as A sent it */
    /* UDP under modulate state: kept state, bytes untouched */
    memset(b, 0, 48);
    b[0] = 0x60;
    wr16(b + 4, 8);
    b[6] = FW_PROTO_UDP;
    b[7] = 64;
    addr6(b + 8, 5, 1);
    addr6(b + 24, 1, 2);
    wr16(b + 40, 5353);
    wr16(b + 42, 53);
    wr16(b + 44, 8);
    seal6(b);
    memcpy(orig, b, 48);
    CHECK_EQ(step6(b, FW_IN, WAN, SEC), FW_PASS);
    CHECK_EQ(memcmp(b, orig, 48), 0);
    /* negative control: keep state leaves the numbers */
    load6("pass in on wan inet6 proto tcp to port 80 keep state\n");
    tcp6(b, 1, 5, 4001, 2, 1, 80, FW_TH_SYN, 1000, 0, NULL, 0, 0);
    CHECK_EQ(step6(b, FW_IN, WAN, SEC), FW_PASS);
    CHECK_EQ(seq6(b), 1000);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_compile_and_list), UNIT_TEST(test_tcp_exchange),     UNIT_TEST(test_two_modulating_states),
        UNIT_TEST(test_with_nat),         UNIT_TEST(test_icmp_error_quote), UNIT_TEST(test_keep_state_cases),
        UNIT_TEST(test_offsets),          UNIT_TEST(test_partial_and_gso),  UNIT_TEST(test_ipv6),
    };
    return unit_main("fw_modulate", tests, (int)(sizeof tests / sizeof tests[0]));
}
