/*
 * fuzz_fw_packet.c - libFuzzer target for the packet parser and the
 * classifier (net/firewall/fw_match.c, fw_state.c, fw_log.c).
 *
 * An input is a sequence of packets, each framed as
 *
 *   ctrl (1 byte) | time step (1 byte) | length (1 byte) | that many bytes
 *
 * ctrl bit 0: direction (in/out); bit 1: interface (wan/lan); bit 2: the
 * bytes are an Ethernet frame, else an IP packet; bit 3: after this packet,
 * sweep expired states; bit 4: replace the rule set (states kept); bit 5:
 * the bytes are an IPv6 packet for the firewall's IPv6 half (fw6.h: parser,
 * ND pass, rules, its own state table).  Each
 * packet is copied to a buffer of exactly its length, so ASan catches any
 * read past it.  The packets go through one engine with a small state table
 * (8 slots, so exhaustion happens), stateful rules, a rate limit and
 * antispoof, and every verdict is formatted as a log line.
 *
 * Translations (fw_nat.c): a nat-to with a pool of 4 ports and an rdr-to;
 * a passed packet with a translation is rewritten in its buffer and must
 * parse again (every checksum still right, lengths untouched).  The out
 * rule modulates state (fw_modulate.c): a passed packet of a modulated
 * state is rewritten too and must parse again with the same ports.
 *
 * Checks beyond the sanitizers: the parser's lengths agree with the buffer,
 * a verdict is pass or block with a known reason, the table's count never
 * exceeds its capacity (translated sides never exceed the states), and a
 * log line is terminated within its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw6.h"
#include "fw_log.h"
#include "fw_match.h"
#include "fw_text.h"

#define REQUIRE(cond)                                                                                                  \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules_a[] = "antispoof for lan\n"
                              "block in quick on wan from 10.66.0.0/16\n"
                              "pass out modulate state\n"
                              "pass in on wan proto tcp to port 443 keep state (max-src-conn-rate 3/5)\n"
                              "pass in on lan proto icmp\n"
                              "pass in on lan proto udp to port 53:60 keep state\n"
                              "block return in proto tcp to port 23\n"
                              "pass in proto tcp flags any keep state allow-opts\n"
                              "match out on wan from 192.168.50.0/24 nat-to (wan) port 50001:50004\n"
                              "pass in on wan proto tcp to (wan) port 8080 rdr-to 192.168.50.10 port 80\n"
                              "table <v6> { 2001:db8:66::/48, !2001:db8:66:1::/64 }\n"
                              "block in quick inet6 from <v6>\n"
                              "pass in on wan inet6 proto tcp from 2001:db8::/32 to port 80 modulate state\n"
                              "pass in inet6 proto icmp6 icmp6-type echoreq\n"
                              "pass in inet6 proto udp to self port 53\n";
static const char rules_b[] = "pass in log quick proto udp from ! 192.168.50.0/24 port >= 1024 keep state\n"
                              "block in proto tcp to port 1 <> 1023\n";

struct harness {
    struct fw_ifaces ifs;
    struct fw_ruleset sets[2];
    struct fw_ruleset *spare;
    struct fw_state slots[8];
    uint32_t buckets[4];
    struct fw_src_node srcs[4];
    struct fw_state_table states;
    struct fw_nat_side sides[8];
    uint32_t nat_buckets[4];
    struct fw_nat nat;
    struct fw_engine eng;
    struct fw_ratelimit rl;
    struct fw6_state_table states6;
    struct fw6_ifaces ifs6;
    struct fw6_engine eng6;
};

static void load(struct harness *h, struct fw_ruleset *rs, const char *text)
{
    char err[128];
    REQUIRE(fw_text_compile(text, &h->ifs, rs, err, sizeof err) == FW_OK);
}

static void setup(struct harness *h)
{
    memset(h, 0, sizeof *h);
    h->ifs = (struct fw_ifaces){ 2, { { "wan", 0x0a00020fu, 24, true }, { "lan", 0xc0a83201u, 24, true } } };
    load(h, &h->sets[0], rules_a);
    struct fw_state_storage mem = { h->slots, 8, h->buckets, 4, h->srcs, 4, { 1, 2 }, { 3, 5 } };
    REQUIRE(fw_state_init(&h->states, &mem) == FW_OK);
    REQUIRE(fw_nat_init(&h->nat, h->sides, 8, h->nat_buckets, 4, 7) == FW_OK);
    h->states.nat = &h->nat;
    h->eng.rules = &h->sets[0];
    h->eng.states = &h->states;
    h->eng.ifaces = &h->ifs;
    h->spare = &h->sets[1];
    fw_ratelimit_init(&h->rl, 5, 5, 0);
    fw6_state_init(&h->states6, 7);
    h->ifs6.ifs[0].n = 1;
    h->ifs6.ifs[0].prefix[0] = 64;
    h->ifs6.ifs[0].a[0][0] = 0x20, h->ifs6.ifs[0].a[0][1] = 0x01, h->ifs6.ifs[0].a[0][15] = 1;
    h->eng6.states = &h->states6;
    h->eng6.ifaces = &h->ifs6;
}

/* The IPv6 half: parse, ND before the rules, then the verdict, and modulate
 * state's rewrite of a passed packet (netd_fw6_packet's steps), after which
 * the packet must parse again the same. */
static void one_packet6(struct harness *h, uint8_t ctrl, const uint8_t *bytes, size_t len, uint64_t now)
{
    uint8_t *copy = malloc(len ? len : 1);
    REQUIRE(copy != NULL);
    memcpy(copy, bytes, len);
    struct fw6_packet p = { .dir = (ctrl & 1) ? FW_OUT : FW_IN, .iface = (ctrl >> 1) & 1 };
    int rc = fw6_parse(copy, len, &p);
    h->eng6.rules = h->eng.rules;
    if (rc < 0) {
        free(copy);
        REQUIRE(rc > -FW6_PKT_NREASONS);
        fw6_count_malformed(&h->eng6, rc);
        return;
    }
    REQUIRE(p.len >= 40 && p.len <= len);
    REQUIRE(p.l4off >= 40 && p.l4off <= p.len);
    if (fw6_is_nd(&p)) {
        (void)fw6_modulate_error(&h->states6, copy, len, &p, now);
        free(copy);
        return;
    }
    struct fw_verdict v;
    fw6_filter(&h->eng6, &p, now, &v);
    if (v.action == FW_PASS) {
        bool changed = p.proto == FW_PROTO_TCP
                           ? fw_modulate_tcp(copy + p.l4off, p.len - p.l4off, &v.mod, (ctrl & 4) != 0)
                           : fw6_modulate_error(&h->states6, copy, len, &p, now);
        struct fw6_packet q = { .dir = p.dir, .iface = p.iface };
        REQUIRE(!changed || (fw6_parse(copy, len, &q) == FW6_PKT_OK && q.len == p.len && q.proto == p.proto &&
                             q.sport == p.sport && q.dport == p.dport && q.tcp_flags == p.tcp_flags));
    }
    free(copy);
    REQUIRE(v.action == FW_PASS || v.action == FW_BLOCK);
    REQUIRE(v.rule >= -1 && v.rule < (int)h->eng.rules->count);
    REQUIRE(h->states6.count <= FW6_STATES);
    char a[48];
    REQUIRE(strlen(fw6_ntop(p.src, a, sizeof a)) < sizeof a);
}

static void check_parsed(const struct fw_packet *p, size_t len, bool ether)
{
    size_t ip_len = ether ? len - 14 : len;
    REQUIRE(p->len >= 20 && p->len <= ip_len);
    if (p->proto == FW_PROTO_TCP)
        REQUIRE(p->len >= 40);
    if (p->proto == FW_PROTO_UDP || p->proto == FW_PROTO_ICMP)
        REQUIRE(p->len >= 28);
}

static void one_packet(struct harness *h, uint8_t ctrl, const uint8_t *bytes, size_t len, uint64_t now)
{
    uint8_t *copy = malloc(len ? len : 1);
    REQUIRE(copy != NULL);
    memcpy(copy, bytes, len);
    struct fw_packet p;
    memset(&p, 0, sizeof p);
    p.dir = (ctrl & 1) ? FW_OUT : FW_IN;
    p.iface = (ctrl >> 1) & 1;
    bool ether = ctrl & 4;
    int rc = ether ? fw_parse_ether(copy, len, &p) : fw_parse_ipv4(copy, len, &p);
    char line[96];
    if (rc < 0) {
        free(copy);
        REQUIRE(rc > -FW_PKT_NREASONS);
        fw_count_malformed(&h->eng, rc);
        size_t n = fw_log_format_malformed(line, sizeof line, p.dir, p.iface, rc, &h->ifs, 0);
        REQUIRE(strlen(line) == (n < sizeof line ? n : sizeof line - 1));
        return;
    }
    if (rc == FW_PKT_NOT_IPV4) {
        free(copy);
        return;
    }
    REQUIRE(rc == FW_PKT_IPV4);
    check_parsed(&p, len, ether);
    struct fw_verdict v;
    fw_filter(&h->eng, &p, now, &v);
    if (v.action == FW_PASS && v.xl.kind) {
        uint8_t *ip = ether ? copy + 14 : copy;
        if (fw_nat_rewrite(ip, ether ? len - 14 : len, &p, &v.xl)) {
            struct fw_packet q;
            memset(&q, 0, sizeof q);
            int again = fw_parse_ipv4(ip, ether ? len - 14 : len, &q);
            REQUIRE(again == FW_PKT_IPV4 || again == FW_PKT_E_SRC_ADDR); /* a quoted broadcast as source */
            REQUIRE(again != FW_PKT_IPV4 || (q.len == p.len && q.proto == p.proto));
        }
    }
    if (v.action == FW_PASS) {
        uint8_t *ip = ether ? copy + 14 : copy;
        size_t n = ether ? len - 14 : len;
        if (fw_modulate_ipv4(ip, n, &p, &v.mod, (v.mod.seq_add & 1) != 0)) {
            struct fw_packet q;
            memset(&q, 0, sizeof q);
            int again = fw_parse_ipv4(ip, n, &q);
            REQUIRE(again == FW_PKT_IPV4 || again == FW_PKT_E_SRC_ADDR);
            REQUIRE(again != FW_PKT_IPV4 || (q.len == p.len && q.proto == p.proto && q.tcp_flags == p.tcp_flags));
        }
    }
    free(copy);
    REQUIRE(h->nat.in_use <= h->states.count);
    REQUIRE(v.action == FW_PASS || v.action == FW_BLOCK);
    REQUIRE(v.reason >= FW_R_STATE && v.reason <= FW_R_LAST);
    REQUIRE(v.rule >= -1 && v.rule < (int)h->eng.rules->count);
    REQUIRE(h->states.count <= 8);
    if (v.log && fw_ratelimit_allow(&h->rl, now)) {
        size_t n = fw_log_format(line, sizeof line, &p, &v, &h->ifs, fw_ratelimit_take_suppressed(&h->rl));
        REQUIRE(strlen(line) == (n < sizeof line ? n : sizeof line - 1));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct harness h;
    setup(&h);
    uint64_t now = FW_NS_PER_SEC;
    size_t pos = 0;
    unsigned reloads = 0;
    while (pos + 3 <= size) {
        uint8_t ctrl = data[pos], step = data[pos + 1], len = data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = (uint8_t)(size - pos);
        now += (uint64_t)step * step * (FW_NS_PER_SEC / 16); /* up to ~68 minutes per packet */
        if (ctrl & 32)
            one_packet6(&h, ctrl, data + pos, len, now);
        else
            one_packet(&h, ctrl, data + pos, len, now);
        pos += len;
        if (ctrl & 8) {
            (void)fw_state_expire(&h.states, now);
            (void)fw6_state_expire(&h.states6, now);
        }
        if (ctrl & 16) {
            load(&h, h.spare, (reloads++ & 1) ? rules_a : rules_b);
            REQUIRE(fw_ruleset_replace(&h.eng.rules, &h.spare) == FW_OK);
        }
    }
    /* a last packet: everything that is left, as one IP packet */
    if (pos < size)
        one_packet(&h, 0, data + pos, size - pos, now);
    for (unsigned i = 0; i < 8; i++) {
        char line[160];
        if (fw_state_is_live(&h.slots[i], now))
            REQUIRE(fw_state_format(&h.slots[i], &h.ifs, now, line, sizeof line) < sizeof line);
    }
    return 0;
}
