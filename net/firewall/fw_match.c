/*
 * fw_match.c - packet parsing and the verdict (contract in fw_match.h).
 *
 * Parsing copies each wire header into a local struct laid out as its RFC
 * shows (byte arrays for multi-byte fields, so the struct has no padding
 * and no alignment demands) and reads fields big-endian by hand.  Every
 * length is checked against the buffer before a byte is read: the total
 * length against the buffer, the header length against the total length,
 * and each L4 header against the IP payload.
 *
 * The verdict follows pf: (1) a packet that belongs to a kept state passes
 * (or is blocked as invalid for its TCP state) without rule evaluation;
 * (2) an ICMP error quoting a packet of a kept state passes; (3) the rules
 * are evaluated, last match wins unless quick, no match blocks; a pass rule
 * with keep state creates the state, and if it cannot (table full, source
 * rate) the packet is blocked, never passed without its state.
 * (4) modulate state (fw_state.h) rides on states too: the verdict's mod
 * says how the packet's sequence space is offset (fw_modulate.h).
 * (5) Translations (fw_nat.h) ride on states: the last matching `match`
 * rule with nat-to/rdr-to/binat-to, or the deciding pass rule when it has
 * one, gives the new state its translated key; a packet that a translation
 * applies to but that makes no state is blocked, never passed untranslated.
 */
#include "fw_bytes.h"
#include "fw_match.h"

#include <stddef.h>

#include <keel/string.h>

/* IPv4 header, RFC 791 section 3.1; options follow when IHL > 5. */
struct ipv4_hdr {
    uint8_t ver_ihl; /* version (high 4 bits), header length in 32-bit words */
    uint8_t tos;
    uint8_t tot_len[2]; /* header + payload, bytes */
    uint8_t id[2];
    uint8_t frag[2]; /* IP_RF | IP_DF | IP_MF | offset in 8-byte units */
    uint8_t ttl;
    uint8_t proto;
    uint8_t csum[2]; /* ones' complement of the header's ones' complement sum */
    uint8_t src[4];
    uint8_t dst[4];
};
_Static_assert(sizeof(struct ipv4_hdr) == 20, "RFC 791 header is 20 bytes");
_Static_assert(offsetof(struct ipv4_hdr, frag) == 6 && offsetof(struct ipv4_hdr, proto) == 9, "RFC 791 layout");
_Static_assert(offsetof(struct ipv4_hdr, src) == 12 && offsetof(struct ipv4_hdr, dst) == 16, "RFC 791 layout");

#define IP_RF      0x8000u /* reserved, must be zero */
#define IP_DF      0x4000u /* don't fragment */
#define IP_MF      0x2000u /* more fragments */
#define IP_OFFMASK 0x1fffu
#define IP_MAXLEN  65535u

/* TCP header, RFC 9293 section 3.1; options follow when the data offset > 5. */
struct tcp_hdr {
    uint8_t sport[2], dport[2];
    uint8_t seq[4], ack[4];
    uint8_t off; /* data offset in 32-bit words (high 4 bits) */
    uint8_t flags;
    uint8_t win[2], csum[2], urp[2];
};
_Static_assert(sizeof(struct tcp_hdr) == 20, "RFC 9293 header is 20 bytes");
_Static_assert(offsetof(struct tcp_hdr, off) == 12 && offsetof(struct tcp_hdr, flags) == 13, "RFC 9293 layout");

/* UDP header, RFC 768. */
struct udp_hdr {
    uint8_t sport[2], dport[2];
    uint8_t len[2]; /* header + data, bytes */
    uint8_t csum[2];
};
_Static_assert(sizeof(struct udp_hdr) == 8, "RFC 768 header is 8 bytes");

/* ICMP header, RFC 792: echo carries id and sequence; errors carry 4 unused
 * bytes, then the offending IP header and its first 8 payload bytes. */
struct icmp_hdr {
    uint8_t type, code;
    uint8_t csum[2];
    uint8_t id[2], seq[2];
};
_Static_assert(sizeof(struct icmp_hdr) == 8, "RFC 792 header is 8 bytes");

#define ICMP_QUOTE_L4 8u /* bytes of the offending packet's payload an error quotes, at least */

static uint16_t be16(const uint8_t b[2]) { return (uint16_t)(b[0] << 8 | b[1]); }
static uint32_t be32(const uint8_t b[4])
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* RFC 1071: the ones' complement sum of a correct header is 0xffff. */
static bool ip_checksum_ok(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return sum == 0xffffu;
}

/* Minimum L4 header a first fragment must carry to be judged (RFC 1858). */
static size_t l4_min(uint8_t proto)
{
    switch (proto) {
    case FW_PROTO_TCP: return sizeof(struct tcp_hdr);
    case FW_PROTO_UDP: return sizeof(struct udp_hdr);
    case FW_PROTO_ICMP: return sizeof(struct icmp_hdr);
    default: return 0;
    }
}

/* 0 for an unfragmented packet; otherwise the drop reason. */
static int check_fragment(uint16_t frag, uint8_t proto, size_t payload)
{
    size_t off = (size_t)(frag & IP_OFFMASK) * 8;
    if (!(frag & IP_MF) && off == 0)
        return 0;
    if ((frag & IP_DF) || off + payload > IP_MAXLEN || ((frag & IP_MF) && (payload == 0 || payload % 8)))
        return FW_PKT_E_FRAG_BAD;
    if ((off == 0 && payload < l4_min(proto)) || (off == 8 && proto == FW_PROTO_TCP))
        return FW_PKT_E_FRAG_OVERLAP; /* tiny first fragment, or one that rewrites the TCP flags */
    return FW_PKT_E_FRAG;
}

/* pf's scrub rules: combinations no TCP stack sends. */
bool fw_tcp_flags_ok(uint8_t f)
{
    if ((f & FW_TH_SYN) && (f & (FW_TH_FIN | FW_TH_RST)))
        return false;
    if (!(f & (FW_TH_SYN | FW_TH_ACK | FW_TH_RST)))
        return false;
    return (f & FW_TH_ACK) || !(f & (FW_TH_FIN | FW_TH_PSH | FW_TH_URG));
}

static int parse_tcp(const uint8_t *l4, size_t n, struct fw_packet *out)
{
    struct tcp_hdr h;
    if (n < sizeof h)
        return FW_PKT_E_L4_TRUNCATED;
    memcpy(&h, l4, sizeof h);
    size_t doff = (size_t)(h.off >> 4) * 4;
    if (doff < sizeof h || doff > n)
        return FW_PKT_E_TCP_HDRLEN;
    if (!fw_tcp_flags_ok(h.flags))
        return FW_PKT_E_TCP_FLAGS;
    out->sport = be16(h.sport);
    out->dport = be16(h.dport);
    out->tcp_flags = h.flags;
    return FW_PKT_IPV4;
}

static int parse_udp(const uint8_t *l4, size_t n, struct fw_packet *out)
{
    struct udp_hdr h;
    if (n < sizeof h)
        return FW_PKT_E_L4_TRUNCATED;
    memcpy(&h, l4, sizeof h);
    size_t ulen = be16(h.len);
    if (ulen < sizeof h || ulen > n)
        return FW_PKT_E_UDP_LEN;
    out->sport = be16(h.sport);
    out->dport = be16(h.dport);
    return FW_PKT_IPV4;
}

static bool is_icmp_error(uint8_t type)
{
    return type == FW_ICMP_UNREACH || type == FW_ICMP_SOURCE_QUENCH || type == FW_ICMP_REDIRECT ||
           type == FW_ICMP_TIME_EXCEEDED || type == FW_ICMP_PARAM_PROBLEM;
}

/* The packet an ICMP error quotes: its header and first 8 payload bytes.
 * A quote too short, or of a non-first fragment, leaves has_inner false. */
static void parse_quote(const uint8_t *q, size_t n, struct fw_packet *out)
{
    struct ipv4_hdr h;
    if (n < sizeof h)
        return;
    memcpy(&h, q, sizeof h);
    size_t hlen = (size_t)(h.ver_ihl & 0xf) * 4;
    if (h.ver_ihl >> 4 != 4 || hlen < sizeof h || hlen + ICMP_QUOTE_L4 > n || (be16(h.frag) & IP_OFFMASK))
        return;
    const uint8_t *l4 = q + hlen;
    struct fw_inner *in = &out->inner;
    in->proto = h.proto;
    in->src = be32(h.src);
    in->dst = be32(h.dst);
    if (h.proto == FW_PROTO_TCP || h.proto == FW_PROTO_UDP) {
        in->sport = be16(l4);
        in->dport = be16(l4 + 2);
    } else if (h.proto == FW_PROTO_ICMP) {
        in->icmp_type = l4[0];
        if (l4[0] != FW_ICMP_ECHO_REQUEST && l4[0] != FW_ICMP_ECHO_REPLY)
            return; /* an error about an error relates to nothing */
        in->sport = in->dport = be16(l4 + 4);
    }
    out->has_inner = true;
}

static int parse_icmp(const uint8_t *l4, size_t n, struct fw_packet *out)
{
    struct icmp_hdr h;
    if (n < sizeof h)
        return FW_PKT_E_L4_TRUNCATED;
    memcpy(&h, l4, sizeof h);
    out->icmp_type = h.type;
    out->icmp_code = h.code;
    if (h.type == FW_ICMP_ECHO_REQUEST || h.type == FW_ICMP_ECHO_REPLY)
        out->sport = out->dport = be16(h.id);
    else if (is_icmp_error(h.type))
        parse_quote(l4 + sizeof h, n - sizeof h, out);
    return FW_PKT_IPV4;
}

int fw_parse_ipv4(const uint8_t *ip, size_t len, struct fw_packet *out)
{
    struct ipv4_hdr h;
    if (!ip || !out || len < sizeof h)
        return FW_PKT_E_TRUNCATED;
    memcpy(&h, ip, sizeof h);
    size_t hlen = (size_t)(h.ver_ihl & 0xf) * 4, tot = be16(h.tot_len);
    if (h.ver_ihl >> 4 != 4)
        return FW_PKT_E_VERSION;
    if (hlen < sizeof h)
        return FW_PKT_E_HDRLEN;
    if (tot > len)
        return FW_PKT_E_TRUNCATED;
    if (hlen > tot)
        return FW_PKT_E_HDRLEN;
    if (!ip_checksum_ok(ip, hlen))
        return FW_PKT_E_CHECKSUM;
    uint16_t frag = be16(h.frag);
    if (frag & IP_RF)
        return FW_PKT_E_IP_FLAGS;
    int rc = check_fragment(frag, h.proto, tot - hlen);
    if (rc)
        return rc;
    uint32_t src = be32(h.src);
    if ((src >> 28) == 0xe || src == 0xffffffffu)
        return FW_PKT_E_SRC_ADDR;
    uint8_t dir = out->dir, iface = out->iface;
    memset(out, 0, sizeof *out);
    out->dir = dir;
    out->iface = iface;
    out->proto = h.proto;
    out->src = src;
    out->dst = be32(h.dst);
    out->len = (uint16_t)tot;
    out->ip_options = hlen > sizeof h;
    switch (h.proto) {
    case FW_PROTO_TCP: return parse_tcp(ip + hlen, tot - hlen, out);
    case FW_PROTO_UDP: return parse_udp(ip + hlen, tot - hlen, out);
    case FW_PROTO_ICMP: return parse_icmp(ip + hlen, tot - hlen, out);
    default: return FW_PKT_IPV4;
    }
}

#define ETH_HLEN      14u
#define ETH_TYPE_IPV4 0x0800u

int fw_parse_ether(const uint8_t *frame, size_t len, struct fw_packet *out)
{
    if (!frame || len < ETH_HLEN)
        return FW_PKT_E_TRUNCATED;
    if (be16(frame + 12) != ETH_TYPE_IPV4)
        return FW_PKT_NOT_IPV4;
    return fw_parse_ipv4(frame + ETH_HLEN, len - ETH_HLEN, out);
}

void fw_count_malformed(struct fw_engine *e, int err)
{
    if (err < 0 && -err < FW_PKT_NREASONS)
        e->stats.malformed[-err]++;
}

/* ------------------------------------------------------------- rules ---- */

static uint32_t mask_of(unsigned prefix) { return prefix ? 0xffffffffu << (32 - prefix) : 0; }

/* An interface's address or network, as netd keeps it now; nothing
 * matches an interface without an address. */
static bool iface_match(const struct fw_ifaces *ifs, unsigned k, uint32_t ip, bool network)
{
    if (!ifs || k >= ifs->count || k >= FW_MAX_IFACES || !ifs->ifs[k].has_addr)
        return false;
    const struct fw_iface *f = &ifs->ifs[k];
    uint32_t m = network ? mask_of(f->prefix <= 32 ? f->prefix : 32) : 0xffffffffu;
    return (ip & m) == (f->addr & m);
}

static bool addr_match(const struct fw_addr *a, uint32_t ip, const struct fw_ifaces *ifs, const struct fw_ruleset *rs)
{
    bool m;
    switch (a->kind) {
    case FW_ADDR_TABLE: m = fw_table_match(rs, a->index, ip); break;
    case FW_ADDR_IFADDR: m = iface_match(ifs, a->index, ip, false); break;
    case FW_ADDR_IFNET: m = iface_match(ifs, a->index, ip, true); break;
    case FW_ADDR_SELF:
        m = false;
        for (unsigned k = 0; ifs && k < ifs->count && k < FW_MAX_IFACES && !m; k++)
            m = iface_match(ifs, k, ip, false);
        break;
    default: m = (ip & a->mask) == a->addr; break;
    }
    return m != a->neg;
}

bool fw_port_match(const struct fw_port *pt, uint16_t port)
{
    switch (pt->op) {
    case FW_PORT_EQ: return port == pt->lo;
    case FW_PORT_NE: return port != pt->lo;
    case FW_PORT_LT: return port < pt->lo;
    case FW_PORT_LE: return port <= pt->lo;
    case FW_PORT_GT: return port > pt->lo;
    case FW_PORT_GE: return port >= pt->lo;
    case FW_PORT_RANGE: return port >= pt->lo && port <= pt->hi;
    case FW_PORT_INSIDE: return port > pt->lo && port < pt->hi;
    case FW_PORT_OUTSIDE: return port < pt->lo || port > pt->hi;
    default: return true;
    }
}

/* pf's expansion of `antispoof for I`: in on another interface from I's
 * network, or in on I from I's own address. */
static bool antispoof_match(const struct fw_rule *r, const struct fw_packet *p, const struct fw_ifaces *ifs)
{
    if (!ifs || r->iface < 0 || (unsigned)r->iface >= ifs->count || r->iface >= FW_MAX_IFACES)
        return false;
    const struct fw_iface *f = &ifs->ifs[r->iface];
    if (!f->has_addr || f->prefix > 32)
        return false;
    uint32_t mask = f->prefix ? 0xffffffffu << (32 - f->prefix) : 0;
    if (p->iface != (uint8_t)r->iface)
        return (p->src & mask) == (f->addr & mask);
    return p->src == f->addr;
}

static bool rule_matches(const struct fw_rule *r, const struct fw_packet *p, const struct fw_ifaces *ifs,
                         const struct fw_ruleset *rs)
{
    if (!(r->dir & p->dir) || r->af == 6) /* inet6 rules: fw6_match.c */
        return false;
    if (r->flags & FW_RF_ANTISPOOF)
        return antispoof_match(r, p, ifs);
    if (r->iface >= 0 && (uint8_t)r->iface != p->iface)
        return false;
    if (r->proto != FW_PROTO_ANY && r->proto != p->proto)
        return false;
    if (!addr_match(&r->src, p->src, ifs, rs) || !addr_match(&r->dst, p->dst, ifs, rs))
        return false;
    if (!fw_port_match(&r->sport, p->sport) || !fw_port_match(&r->dport, p->dport))
        return false; /* rules have ports only with proto tcp/udp, checked above */
    if (r->tcp_mask && p->proto == FW_PROTO_TCP && (p->tcp_flags & r->tcp_mask) != r->tcp_set)
        return false;
    if (r->icmp_type != FW_ICMP_ANY && (p->proto != FW_PROTO_ICMP || p->icmp_type != r->icmp_type))
        return false;
    if (r->icmp_code != FW_ICMP_ANY && (p->proto != FW_PROTO_ICMP || p->icmp_code != r->icmp_code))
        return false;
    return true;
}

/* The deciding rule, or -1; *MSS gets the smallest max-mss of the matching
 * match rules (pf's `match ... scrub (max-mss N)`), 0 when none. */
static int eval_rules(struct fw_ruleset *rs, const struct fw_packet *p, const struct fw_ifaces *ifs, uint16_t *mss,
                      int *natr)
{
    int last = -1;
    *mss = 0;
    *natr = -1;
    for (unsigned i = 0; i < rs->count; i++) {
        struct fw_rule *r = &rs->rules[i];
        r->c.evaluations++;
        if (!rule_matches(r, p, ifs, rs))
            continue;
        if (r->action == FW_MATCH) { /* counted, never decides */
            r->c.packets++;
            r->c.bytes += p->len;
            if (r->max_mss && (!*mss || r->max_mss < *mss))
                *mss = r->max_mss;
            if (r->nat.kind)
                *natr = (int)i; /* the last match rule's translation, unless the pass rule has one */
            if (r->flags & FW_RF_QUICK)
                break;
            continue;
        }
        last = (int)i;
        if (r->flags & FW_RF_QUICK)
            break;
    }
    if (last >= 0 && rs->rules[last].nat.kind)
        *natr = last;
    return last;
}

int fw_rules_eval(struct fw_ruleset *rs, const struct fw_packet *p, const struct fw_ifaces *ifs)
{
    uint16_t mss;
    int natr;
    return eval_rules(rs, p, ifs, &mss, &natr);
}

/* ----------------------------------------------------------- verdicts --- */

static void decide(struct fw_engine *e, struct fw_verdict *v, uint8_t action, uint8_t reason)
{
    v->action = action;
    v->reason = reason;
    if (action == FW_PASS) {
        e->stats.passed++;
    } else {
        e->stats.blocked++;
        v->log = true;
    }
}

static void count(struct fw_counters *c, const struct fw_packet *p)
{
    c->packets++;
    c->bytes += p->len;
}

/* Step 1: the packet's own state.  False when it has none (or it ended). */
static bool filter_by_state(struct fw_engine *e, const struct fw_packet *p, uint64_t now, struct fw_verdict *v)
{
    bool reply;
    struct fw_state *st = fw_state_lookup(e->states, p, now, &reply);
    if (!st)
        return false;
    if (p->ip_options && !(st->flags & FW_SF_ALLOW_OPTS)) {
        e->stats.ip_options++;
        decide(e, v, FW_BLOCK, FW_R_IP_OPTIONS);
        return true;
    }
    uint16_t rule = st->rule;
    uint32_t gen = st->gen;
    uint16_t mss = st->max_mss;
    int r = fw_state_update(e->states, st, p, reply, now); /* may free st */
    if (r == FW_ST_REOPEN)
        return false;
    struct fw_nat *nat = e->states->nat;
    if (r == FW_ST_PASS && (st->flags & FW_SF_NAT) && nat) /* a reply of a translated state comes translated */
        fw_nat_xlate_packet(st, &nat->sides[st - e->states->mem.slots], p, reply ? FW_NF_POST_REV : FW_NF_PRE_FWD,
                            &v->xl);
    if (r == FW_ST_PASS)
        fw_state_modulation(e->states, st, p, reply, &v->mod);
    if (r == FW_ST_INVALID) {
        e->stats.invalid++;
        decide(e, v, FW_BLOCK, FW_R_INVALID);
        return true;
    }
    struct fw_ruleset *rs = e->rules;
    if (gen == rs->generation && rule < rs->count) {
        count(&rs->rules[rule].c, p);
        v->rule = rule;
        v->line = rs->rules[rule].line;
    } else {
        e->stats.orphan_packets++;
        e->stats.orphan_bytes += p->len;
    }
    e->stats.state_passed++;
    v->max_mss = mss;
    decide(e, v, FW_PASS, FW_R_STATE);
    return true;
}

/* Step 2: an ICMP error about a packet of a kept state.  It must be sent to
 * the quoted packet's source, and that packet went the other way. */
static bool filter_related(struct fw_engine *e, const struct fw_packet *p, uint64_t now, struct fw_verdict *v)
{
    if (p->proto != FW_PROTO_ICMP || !p->has_inner || p->dst != p->inner.src)
        return false;
    struct fw_packet q = { 0 };
    q.dir = p->dir == FW_IN ? FW_OUT : FW_IN;
    q.iface = p->iface;
    q.proto = p->inner.proto;
    q.src = p->inner.src;
    q.dst = p->inner.dst;
    q.sport = p->inner.sport;
    q.dport = p->inner.dport;
    q.icmp_type = p->inner.icmp_type;
    unsigned form;
    struct fw_state *st = fw_state_lookup_related(e->states, &q, now, &form);
    if (!st)
        return false;
    struct fw_nat *nat = e->states->nat;
    if ((st->flags & FW_SF_NAT) && nat)
        fw_nat_xlate_error(st, &nat->sides[st - e->states->mem.slots], p, form, &v->xl);
    if ((st->flags & FW_SF_MODULATE) && q.proto == FW_PROTO_TCP) { /* the quote shows the offset packet: undo it */
        unsigned side = form == FW_NF_PRE_FWD || form == FW_NF_POST_FWD ? 0 : 1;
        uint32_t d[2];
        fw_state_seqdiffs(e->states, st, d);
        v->mod.quote_seq_sub = d[side];
        v->mod.quote_ack_add = d[1 - side];
    }
    e->stats.related++;
    decide(e, v, FW_PASS, FW_R_RELATED);
    return true;
}

/* Does a packet that passes a keep-state rule open a state?  ICMP: only echo requests. */
static bool opens_state(const struct fw_packet *p)
{
    return p->proto != FW_PROTO_ICMP || p->icmp_type == FW_ICMP_ECHO_REQUEST;
}

/* A source over a limit of rule R: into R's overload table (pf's
 * `overload <t> [flush [global]]`), its states removed when R says flush.
 * Done once per source: one already in the table is left as it is. */
static void overload(struct fw_engine *e, const struct fw_rule *r, unsigned idx, uint32_t src)
{
    struct fw_ruleset *rs = e->rules;
    if (r->overload < 0 || fw_table_add(rs, (unsigned)r->overload, src, 32, false) != FW_OK)
        return;
    e->stats.overloaded++;
    if (r->flush)
        e->stats.flushed += fw_state_kill_src(e->states, src, (uint16_t)idx, rs->generation, r->flush == 2);
}

static bool refuse(struct fw_engine *e, struct fw_verdict *v, uint64_t *counter, uint8_t reason)
{
    (*counter)++;
    decide(e, v, FW_BLOCK, reason);
    return false;
}

/* The translation address of N now: FW_OK, or FW_E_INVAL when N names
 * an interface without an address (stats.no_address). */
static int nat_address(struct fw_engine *e, const struct fw_rule_nat *n, uint32_t *a)
{
    if (n->addr_kind != FW_ADDR_IFADDR) {
        *a = n->addr;
        return FW_OK;
    }
    const struct fw_ifaces *ifs = e->ifaces;
    if (!ifs || n->index >= ifs->count || !ifs->ifs[n->index].has_addr) {
        e->states->nat->stats.no_address++;
        return FW_E_INVAL;
    }
    *a = ifs->ifs[n->index].addr;
    return FW_OK;
}

/* rdr-to's destination port for DPORT: kept (lo 0), set (lo == hi), or
 * the rule's port range mapped onto lo..hi (pf's rdr port ranges). */
static uint16_t rdr_port(const struct fw_rule *r, uint16_t dport)
{
    const struct fw_rule_nat *n = &r->nat;
    if (!n->lo)
        return dport;
    if (n->hi > n->lo && r->dport.op == FW_PORT_RANGE && dport >= r->dport.lo)
        return (uint16_t)(n->lo + (uint32_t)(dport - r->dport.lo) % ((uint32_t)n->hi - n->lo + 1));
    return n->lo;
}

/* The translated key of P's new state under rule R's translation: FW_OK,
 * or an error (no address, the pool is exhausted). */
static int nat_post(struct fw_engine *e, const struct fw_rule *r, const struct fw_packet *p, uint64_t now,
                    struct fw_nat_key *post)
{
    *post = (struct fw_nat_key){ p->src, p->dst, p->sport, p->dport };
    uint32_t a;
    if (nat_address(e, &r->nat, &a) != FW_OK)
        return FW_E_INVAL;
    if (r->nat.kind == FW_NAT_RDR) {
        post->dst = a;
        if (p->proto == FW_PROTO_TCP || p->proto == FW_PROTO_UDP)
            post->dport = rdr_port(r, p->dport);
        return FW_OK;
    }
    post->src = a;
    bool ports = p->proto == FW_PROTO_TCP || p->proto == FW_PROTO_UDP || p->proto == FW_PROTO_ICMP;
    if (r->nat.kind != FW_NAT_SNAT || !ports)
        return FW_OK; /* binat-to keeps ports; other protocols have none */
    uint16_t lo = r->nat.lo ? r->nat.lo : FW_NAT_POOL_LO, hi = r->nat.lo ? r->nat.hi : FW_NAT_POOL_HI, port;
    if (fw_nat_pick_port(e->states->nat, e->states, p->proto, a, p->dst, p->dport, lo, hi, now, &port) != FW_OK)
        return FW_E_FULL;
    post->sport = port;
    post->dport = p->proto == FW_PROTO_ICMP ? port : p->dport; /* the echo identifier, twice */
    return FW_OK;
}

/* Gives the new state ST rule NATR's translation, or removes it: true iff
 * translated (v->xl then rewrites the first packet). */
static bool translate_new(struct fw_engine *e, int natr, struct fw_state *st, const struct fw_packet *p, uint64_t now,
                          struct fw_verdict *v)
{
    struct fw_rule *nr = &e->rules->rules[natr];
    struct fw_nat_key post;
    if (!e->states->nat || nat_post(e, nr, p, now, &post) != FW_OK) {
        fw_state_remove(e->states, st);
        return false;
    }
    fw_nat_link(e->states->nat, e->states, st, &post, nr->nat.kind, (uint16_t)natr);
    nr->nat.states++;
    v->xl = (struct fw_xlate){ .kind = FW_XL_PACKET, .out = post };
    return true;
}

/* A pass rule with keep state: make the state, or block. */
static bool keep_state(struct fw_engine *e, struct fw_rule *r, unsigned idx, const struct fw_packet *p, uint64_t now,
                       int natr, struct fw_verdict *v)
{
    struct fw_ruleset *rs = e->rules;
    if (r->max_states && fw_state_rule_live(e->states, (uint16_t)idx, rs->generation) >= r->max_states)
        return refuse(e, v, &e->stats.state_limited, FW_R_STATE_LIMIT);
    if (r->rate_conns && fw_state_src_admit(e->states, p->src, (uint16_t)idx, rs->generation, r->rate_conns,
                                            r->rate_secs, now) != FW_OK) {
        overload(e, r, idx, p->src);
        return refuse(e, v, &e->stats.src_limited, FW_R_SRC_RATE);
    }
    unsigned form; /* a translated state's wire key (the appliance's own connection from a port nat-to gave out):
                    * the replies would go to one of the two, so the newcomer is refused */
    if (e->states->nat && fw_nat_lookup(e->states->nat, e->states, p, now, true, &form) && form == FW_NF_POST_FWD)
        return refuse(e, v, &e->stats.nat_failed, FW_R_NAT);
    uint32_t node = FW_STATE_NIL;
    if (r->max_src_conn) {
        if (fw_state_src_node(e->states, p->src, (uint16_t)idx, rs->generation, now, &node) != FW_OK)
            return refuse(e, v, &e->stats.src_limited, FW_R_SRC_RATE);
        if (e->states->mem.srcs[node].live >= r->max_src_conn) {
            overload(e, r, idx, p->src);
            return refuse(e, v, &e->stats.src_conn_limited, FW_R_SRC_CONN);
        }
    }
    uint8_t sflags =
        (uint8_t)(((r->flags & FW_RF_ALLOW_OPTS) ? FW_SF_ALLOW_OPTS : 0) | ((r->flags & FW_RF_LOG) ? FW_SF_LOG : 0) |
                  ((r->flags & FW_RF_MODULATE) ? FW_SF_MODULATE : 0));
    struct fw_state *st = NULL;
    int rc = fw_state_insert(e->states, p, now, (uint16_t)idx, rs->generation, sflags, &st);
    if (rc == FW_OK && node != FW_STATE_NIL)
        fw_state_attach_src(e->states, st, node);
    if (rc == FW_OK) {
        st->max_mss = v->max_mss; /* the state's packets are scrubbed as its first was */
        fw_state_modulation(e->states, st, p, false, &v->mod);
    }
    if (rc != FW_OK && rc != FW_E_EXISTS) { /* FW_E_FULL: never pass without the state */
        e->stats.state_full++;
        decide(e, v, FW_BLOCK, FW_R_STATE_FULL);
        return false;
    }
    if (natr >= 0 && (rc != FW_OK || !translate_new(e, natr, st, p, now, v)))
        return refuse(e, v, &e->stats.nat_failed, FW_R_NAT); /* never passed untranslated */
    if (rc == FW_OK)
        r->c.states++;
    return true;
}

/* Step 3: the rules. */
static void filter_by_rules(struct fw_engine *e, const struct fw_packet *p, uint64_t now, struct fw_verdict *v)
{
    struct fw_ruleset *rs = e->rules;
    uint16_t mss;
    int natr;
    int idx = eval_rules(rs, p, e->ifaces, &mss, &natr);
    if (idx < 0) {
        count(&rs->none, p);
        decide(e, v, FW_BLOCK, FW_R_DEFAULT);
        return;
    }
    struct fw_rule *r = &rs->rules[idx];
    v->rule = idx;
    v->line = r->line;
    if (r->action == FW_BLOCK) {
        count(&r->c, p);
        v->return_ = (r->flags & (FW_RF_RETURN | FW_RF_RETURN_RST | FW_RF_RETURN_ICMP)) != 0;
        v->return_rst = p->proto == FW_PROTO_TCP && !(r->flags & FW_RF_RETURN_ICMP);
        v->return_code = r->return_code;
        if ((r->flags & FW_RF_RETURN_RST) && p->proto != FW_PROTO_TCP)
            v->return_ = false; /* return-rst answers TCP only */
        decide(e, v, FW_BLOCK, FW_R_BLOCK_RULE);
        return;
    }
    if (p->ip_options && !(r->flags & FW_RF_ALLOW_OPTS)) {
        e->stats.ip_options++;
        decide(e, v, FW_BLOCK, FW_R_IP_OPTIONS);
        return;
    }
    if (r->max_mss && (!mss || r->max_mss < mss))
        mss = r->max_mss;
    v->max_mss = mss;
    bool stateful = (r->flags & FW_RF_KEEP_STATE) && opens_state(p);
    if (natr >= 0 && !stateful) { /* translations ride on states */
        refuse(e, v, &e->stats.nat_failed, FW_R_NAT);
        return;
    }
    if (stateful && !keep_state(e, r, (unsigned)idx, p, now, natr, v))
        return;
    count(&r->c, p);
    v->log = (r->flags & FW_RF_LOG) != 0;
    decide(e, v, FW_PASS, FW_R_RULE);
}

void fw_filter(struct fw_engine *e, const struct fw_packet *p, uint64_t now, struct fw_verdict *v)
{
    *v = (struct fw_verdict){ .action = FW_BLOCK, .rule = -1 };
    e->stats.packets++;
    if (p->dir != FW_IN && p->dir != FW_OUT) {
        decide(e, v, FW_BLOCK, FW_R_DEFAULT); /* a broken caller: fail closed */
        return;
    }
    if (filter_by_state(e, p, now, v) || filter_related(e, p, now, v))
        return;
    filter_by_rules(e, p, now, v);
}

bool fw_clamp_mss(uint8_t *ip, size_t len, uint16_t mss)
{
    size_t avail;
    uint8_t *th = fw_ipv4_l4(ip, len, &avail);
    if (!th || ip[9] != FW_PROTO_TCP || !mss)
        return false;
    return fw_clamp_mss_tcp(th, avail, mss); /* it checks the TCP header's length */
}

bool fw_clamp_mss_tcp(uint8_t *th, size_t len, uint16_t mss)
{
    if (len < 20 || !mss)
        return false;
    size_t thl = (th[12] >> 4) * 4u;
    if (!(th[13] & FW_TH_SYN) || thl < 20 || thl > len)
        return false;
    for (size_t i = 20; i < thl;) { /* the options, RFC 9293 3.1 */
        uint8_t kind = th[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= thl || th[i + 1] < 2 || i + th[i + 1] > thl)
            break; /* a malformed option: leave the segment as it is */
        if (kind == 2 && th[i + 1] == 4) {
            uint16_t old = fw_rd16(th + i + 2);
            if (old <= mss)
                return false;
            fw_wr16(th + i + 2, mss);
            /* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').  At an odd offset the
             * value straddles two checksum words; the one's complement sum
             * does not care about byte order (RFC 1071), so the byte-swapped
             * old and new values stand in for the two words' change. */
            uint32_t sum = (uint16_t)~fw_rd16(th + 16);
            if ((i & 1) == 0)
                sum += (uint16_t)~old + mss;
            else
                sum += (uint16_t) ~(uint16_t)(old >> 8 | old << 8) + (uint16_t)(mss >> 8 | mss << 8);
            while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
            fw_wr16(th + 16, (uint16_t)~sum);
            return true;
        }
        i += th[i + 1];
    }
    return false;
}

const char *fw_pkt_reason_name(int err)
{
    static const char *const names[FW_PKT_NREASONS] = {
        [0] = "ok",
        [-FW_PKT_E_TRUNCATED] = "truncated IPv4 packet",
        [-FW_PKT_E_VERSION] = "not IPv4",
        [-FW_PKT_E_HDRLEN] = "bad IPv4 header length",
        [-FW_PKT_E_CHECKSUM] = "bad IPv4 header checksum",
        [-FW_PKT_E_IP_FLAGS] = "reserved IPv4 flag set",
        [-FW_PKT_E_FRAG] = "fragment (not reassembled)",
        [-FW_PKT_E_FRAG_BAD] = "malformed fragment",
        [-FW_PKT_E_FRAG_OVERLAP] = "tiny or overlapping fragment",
        [-FW_PKT_E_L4_TRUNCATED] = "truncated TCP/UDP/ICMP header",
        [-FW_PKT_E_TCP_HDRLEN] = "bad TCP header length",
        [-FW_PKT_E_TCP_FLAGS] = "bad TCP flags",
        [-FW_PKT_E_UDP_LEN] = "bad UDP length",
        [-FW_PKT_E_SRC_ADDR] = "bad source address",
    };
    if (err == FW_PKT_NOT_IPV4)
        return "not an IPv4 frame";
    return err <= 0 && -err < FW_PKT_NREASONS ? names[-err] : "?";
}

const char *fw_reason_name(unsigned reason)
{
    static const char *const names[] = {
        [FW_R_STATE] = "state",
        [FW_R_RELATED] = "related to a state",
        [FW_R_RULE] = "rule",
        [FW_R_BLOCK_RULE] = "rule",
        [FW_R_DEFAULT] = "no rule matched",
        [FW_R_INVALID] = "invalid for its TCP state",
        [FW_R_STATE_FULL] = "state table full",
        [FW_R_SRC_RATE] = "max-src-conn-rate",
        [FW_R_IP_OPTIONS] = "IP options",
        [FW_R_STATE_LIMIT] = "state limit (max)",
        [FW_R_SRC_CONN] = "max-src-conn",
        [FW_R_NAT] = "no translation possible",
    };
    return reason && reason < sizeof names / sizeof names[0] ? names[reason] : "?";
}
