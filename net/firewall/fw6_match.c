/*
 * fw6_match.c - the IPv6 classifier: parsing an IPv6 packet, the ND/PMTU
 * ICMPv6 types passed before the rules, rule matching for IPv6 packets, the
 * verdict, and tables' IPv6 entries (contract and meaning in fw6.h).
 *
 * Reads only [ip, ip + 40 + payload length) and never past LEN; every
 * offset is checked before it is read.  One loop, no locking.
 */
#include "fw6.h"

#include <keel/string.h>

#include "fw_match.h"

#define IP6_HLEN 40

/* Extension headers (RFC 8200 4.1, IANA). */
#define NH_HOPOPTS  0
#define NH_ROUTING  43
#define NH_FRAGMENT 44
#define NH_ESP      50
#define NH_AH       51
#define NH_NONE     59
#define NH_DSTOPTS  60

/* ICMPv6 types (RFC 4443, RFC 4861, RFC 2710, RFC 3810). */
#define ICMP6_PACKET_TOO_BIG 2
#define ICMP6_ECHO_REQUEST   128
#define ICMP6_ECHO_REPLY     129
#define ICMP6_MLD_QUERY      130
#define ICMP6_MLD_REPORT     131
#define ICMP6_MLD_DONE       132
#define ICMP6_ROUTER_SOL     133
#define ICMP6_NEIGHBOR_ADV   136
#define ICMP6_MLD2_REPORT    143

static uint16_t be16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }

/* The upper layer at L4 (N bytes). */
static int parse_l4(const uint8_t *l4, size_t n, struct fw6_packet *out)
{
    switch (out->proto) {
    case FW_PROTO_TCP:
        if (n < 20 || (size_t)(l4[12] >> 4) * 4u < 20 || (size_t)(l4[12] >> 4) * 4u > n)
            return FW6_PKT_E_L4;
        out->sport = be16(l4);
        out->dport = be16(l4 + 2);
        out->tcp_flags = l4[13];
        return fw_tcp_flags_ok(out->tcp_flags) ? FW6_PKT_OK : FW6_PKT_E_TCP_FLAGS;
    case FW_PROTO_UDP:
        if (n < 8 || be16(l4 + 4) < 8 || be16(l4 + 4) > n)
            return FW6_PKT_E_L4;
        out->sport = be16(l4);
        out->dport = be16(l4 + 2);
        return FW6_PKT_OK;
    case FW_PROTO_ICMP6:
        if (n < 4)
            return FW6_PKT_E_L4;
        out->icmp_type = l4[0];
        out->icmp_code = l4[1];
        if (out->icmp_type == ICMP6_ECHO_REQUEST || out->icmp_type == ICMP6_ECHO_REPLY) {
            if (n < 8)
                return FW6_PKT_E_L4;
            out->sport = out->dport = be16(l4 + 4); /* the identifier keys echo pairs */
        }
        return FW6_PKT_OK;
    default: return FW6_PKT_OK;
    }
}

int fw6_parse(const uint8_t *ip, size_t len, struct fw6_packet *out)
{
    if (len < IP6_HLEN)
        return FW6_PKT_E_TRUNCATED;
    if (ip[0] >> 4 != 6)
        return FW6_PKT_E_VERSION;
    size_t end = IP6_HLEN + (size_t)be16(ip + 4);
    if (end > len)
        return FW6_PKT_E_TRUNCATED;
    uint8_t dir = out->dir, iface = out->iface;
    memset(out, 0, sizeof *out);
    out->dir = dir;
    out->iface = iface;
    out->hop_limit = ip[7];
    out->len = (uint32_t)end;
    memcpy(out->src, ip + 8, 16);
    memcpy(out->dst, ip + 24, 16);
    if (out->src[0] == 0xff)
        return FW6_PKT_E_SRC;
    size_t off = IP6_HLEN;
    uint8_t nh = ip[6];
    for (;;) {
        if (nh == NH_FRAGMENT)
            return FW6_PKT_E_FRAG;
        if (nh != NH_HOPOPTS && nh != NH_ROUTING && nh != NH_DSTOPTS && nh != NH_AH)
            break;
        if (off + 8 > end)
            return FW6_PKT_E_TRUNCATED;
        if (nh == NH_ROUTING && ip[off + 2] == 0)
            return FW6_PKT_E_EXT; /* RFC 5095: type 0 is deprecated */
        size_t ext = nh == NH_AH ? (ip[off + 1] + 2u) * 4u : (ip[off + 1] + 1u) * 8u;
        if (off + ext > end)
            return FW6_PKT_E_TRUNCATED;
        nh = ip[off];
        off += ext;
    }
    out->proto = nh;
    out->l4off = (uint16_t)off;
    return parse_l4(ip + off, end - off, out);
}

void fw6_count_malformed(struct fw6_engine *e, int err)
{
    if (err < 0 && -err < FW6_PKT_NREASONS)
        e->stats.malformed[-err]++;
}

bool fw6_is_nd(const struct fw6_packet *p)
{
    if (p->proto != FW_PROTO_ICMP6)
        return false;
    uint8_t t = p->icmp_type;
    if (t == ICMP6_PACKET_TOO_BIG)
        return true;
    if (t >= ICMP6_ROUTER_SOL && t <= ICMP6_NEIGHBOR_ADV)
        return p->hop_limit == 255;
    bool link_local = p->src[0] == 0xfe && (p->src[1] & 0xc0) == 0x80;
    bool unspecified = true;
    for (int i = 0; i < 16; i++)
        unspecified = unspecified && p->src[i] == 0;
    if (t == ICMP6_MLD_QUERY || t == ICMP6_MLD_REPORT || t == ICMP6_MLD_DONE || t == ICMP6_MLD2_REPORT)
        return p->hop_limit == 1 && (link_local || unspecified);
    return false;
}

/* ------------------------------------------------------------ rules ---- */

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (full > 16)
        return false;
    if (memcmp(a, b, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t m = (uint8_t)(0xff00u >> rest);
    return (a[full] & m) == (b[full] & m);
}

static bool iface_match6(const struct fw6_ifaces *ifs, unsigned k, const uint8_t *ip, bool network)
{
    if (!ifs || k >= FW_MAX_IFACES)
        return false;
    const struct fw6_iface *f = &ifs->ifs[k];
    for (unsigned i = 0; i < f->n && i < FW6_ADDRS; i++)
        if (prefix_eq(ip, f->a[i], network ? f->prefix[i] : 128))
            return true;
    return false;
}

static bool addr_match6(const struct fw_addr *a, const struct fw_net6 *net, const uint8_t *ip,
                        const struct fw6_ifaces *ifs, const struct fw_ruleset *rs, uint8_t af)
{
    bool m;
    switch (a->kind) {
    case FW_ADDR_TABLE: m = fw_table_match6(rs, a->index, ip); break;
    case FW_ADDR_IFADDR: m = iface_match6(ifs, a->index, ip, false); break;
    case FW_ADDR_IFNET: m = iface_match6(ifs, a->index, ip, true); break;
    case FW_ADDR_SELF:
        m = false;
        for (unsigned k = 0; k < FW_MAX_IFACES && !m; k++)
            m = iface_match6(ifs, k, ip, false);
        break;
    default:
        if (af == 6)
            m = prefix_eq(ip, net->a, net->prefix);
        else
            m = a->mask == 0; /* a family-free rule's NET address is "any" (an IPv4 one makes it inet) */
        break;
    }
    return m != a->neg;
}

/* `antispoof for I` for IPv6, as IPv4's (fw_match.c): in on another
 * interface from one of I's networks, or in on I from one of I's own
 * addresses.  I's link-local network is left out of the first: fe80::/64
 * is every link's (pf's scoped fe80::%I/64 matches only I's link). */
static bool antispoof_match6(const struct fw_rule *r, const struct fw6_packet *p, const struct fw6_ifaces *ifs)
{
    if (!ifs || r->iface < 0 || r->iface >= FW_MAX_IFACES)
        return false;
    const struct fw6_iface *f = &ifs->ifs[r->iface];
    for (unsigned i = 0; i < f->n && i < FW6_ADDRS; i++) {
        if (p->iface == (uint8_t)r->iface) {
            if (memcmp(p->src, f->a[i], 16) == 0)
                return true;
        } else if (!(f->a[i][0] == 0xfe && (f->a[i][1] & 0xc0) == 0x80) && prefix_eq(p->src, f->a[i], f->prefix[i])) {
            return true;
        }
    }
    return false;
}

static bool rule_matches6(const struct fw_rule *r, const struct fw6_packet *p, const struct fw6_ifaces *ifs,
                          const struct fw_ruleset *rs)
{
    if (!(r->dir & p->dir) || r->af == 4)
        return false;
    if (r->flags & FW_RF_ANTISPOOF)
        return antispoof_match6(r, p, ifs);
    if (r->iface >= 0 && (uint8_t)r->iface != p->iface)
        return false;
    if (r->proto != FW_PROTO_ANY && r->proto != p->proto)
        return false;
    if (!addr_match6(&r->src, &r->src6, p->src, ifs, rs, r->af) ||
        !addr_match6(&r->dst, &r->dst6, p->dst, ifs, rs, r->af))
        return false;
    if (!fw_port_match(&r->sport, p->sport) || !fw_port_match(&r->dport, p->dport))
        return false;
    if (r->tcp_mask && p->proto == FW_PROTO_TCP && (p->tcp_flags & r->tcp_mask) != r->tcp_set)
        return false;
    if (r->icmp_type != FW_ICMP_ANY && (p->proto != FW_PROTO_ICMP6 || p->icmp_type != r->icmp_type))
        return false;
    if (r->icmp_code != FW_ICMP_ANY && (p->proto != FW_PROTO_ICMP6 || p->icmp_code != r->icmp_code))
        return false;
    return true;
}

static bool opens_state(const struct fw6_packet *p)
{
    if (p->proto == FW_PROTO_TCP)
        return (p->tcp_flags & (FW_TH_SYN | FW_TH_ACK | FW_TH_RST)) == FW_TH_SYN;
    if (p->proto == FW_PROTO_ICMP6)
        return p->icmp_type == ICMP6_ECHO_REQUEST;
    return true;
}

static void set(struct fw_verdict *v, uint8_t action, uint8_t reason, int rule, unsigned line)
{
    memset(v, 0, sizeof *v);
    v->action = action;
    v->reason = reason;
    v->rule = rule;
    v->line = line;
    v->log = action != FW_PASS;
}

static void refuse(struct fw6_engine *e, struct fw_verdict *v, uint64_t *counter, uint8_t reason, int rule,
                   unsigned line)
{
    (*counter)++;
    set(v, FW_BLOCK, reason, rule, line);
    e->stats.blocked++;
}

/* A source over a limit of rule R (index IDX): into R's overload table
 * (an IPv6 /128 entry), its states removed when R says flush.  Once per
 * source: one already in the table is left as it is. */
static void overload(struct fw6_engine *e, const struct fw_rule *r, unsigned idx, const uint8_t src[16])
{
    struct fw_ruleset *rs = e->rules;
    if (r->overload < 0 || fw_table_add6(rs, (unsigned)r->overload, src, 128, false) != FW_OK)
        return;
    e->stats.overloaded++;
    if (r->flush)
        e->stats.flushed += fw6_state_kill_src(e->states, src, idx, rs->generation, r->flush == 2);
}

/* A pass rule that keeps state: the state limits (max N, max-src-conn-rate,
 * max-src-conn, in IPv4's order), then the state.  False: V blocks. */
static bool keep_state(struct fw6_engine *e, struct fw_rule *r, unsigned idx, const struct fw6_packet *p, uint64_t now,
                       uint16_t mss, struct fw_verdict *v, struct fw6_state **made)
{
    struct fw_ruleset *rs = e->rules;
    if (r->max_states && fw6_state_rule_live(e->states, idx, rs->generation) >= r->max_states) {
        refuse(e, v, &e->stats.state_limited, FW_R_STATE_LIMIT, (int)idx, r->line);
        return false;
    }
    if (r->rate_conns &&
        fw6_state_src_admit(e->states, p->src, idx, rs->generation, r->rate_conns, r->rate_secs, now) != FW_OK) {
        overload(e, r, idx, p->src);
        refuse(e, v, &e->stats.src_limited, FW_R_SRC_RATE, (int)idx, r->line);
        return false;
    }
    unsigned node = FW6_SRCS;
    if (r->max_src_conn) {
        if (fw6_state_src_node(e->states, p->src, idx, rs->generation, now, &node) != FW_OK) {
            refuse(e, v, &e->stats.src_limited, FW_R_SRC_RATE, (int)idx, r->line);
            return false;
        }
        if (e->states->srcs[node].live >= r->max_src_conn) {
            overload(e, r, idx, p->src);
            refuse(e, v, &e->stats.src_conn_limited, FW_R_SRC_CONN, (int)idx, r->line);
            return false;
        }
    }
    struct fw6_state *st = fw6_state_insert(e->states, p, (int)idx, rs->generation, now);
    if (!st) {
        refuse(e, v, &e->stats.state_full, FW_R_STATE_FULL, (int)idx, r->line);
        return false;
    }
    if (node < FW6_SRCS)
        fw6_state_attach_src(e->states, st, node);
    st->max_mss = mss; /* the state's packets are scrubbed as its first was */
    r->c.states++;
    *made = st;
    return true;
}

void fw6_filter(struct fw6_engine *e, const struct fw6_packet *p, uint64_t now, struct fw_verdict *v)
{
    struct fw_ruleset *rs = e->rules;
    e->stats.packets++;
    bool reply;
    struct fw6_state *st = fw6_state_find(e->states, p, now, &reply);
    if (st) {
        fw6_state_update(st, p, reply, now);
        st->packets++;
        st->bytes += p->len;
        int rule = st->generation == rs->generation ? st->rule : -1;
        if (rule >= 0 && (unsigned)rule < rs->count) {
            rs->rules[rule].c.packets++;
            rs->rules[rule].c.bytes += p->len;
        }
        set(v, FW_PASS, FW_R_STATE, rule, rule >= 0 ? rs->rules[rule].line : 0);
        v->max_mss = st->max_mss;
        fw6_state_modulation(e->states, st, p, reply, &v->mod);
        e->stats.passed++;
        e->stats.state_passed++;
        return;
    }
    int last = -1;
    uint16_t mss = 0; /* the smallest max-mss of the matching match rules, as IPv4 */
    for (unsigned i = 0; i < rs->count; i++) {
        struct fw_rule *r = &rs->rules[i];
        if (r->af == 4)
            continue;
        r->c.evaluations++;
        if (!rule_matches6(r, p, e->ifaces, rs))
            continue;
        if (r->action == FW_MATCH) { /* counted, never decides */
            r->c.packets++;
            r->c.bytes += p->len;
            if (r->max_mss && (!mss || r->max_mss < mss))
                mss = r->max_mss;
            if (r->flags & FW_RF_QUICK)
                break;
            continue;
        }
        last = (int)i;
        if (r->flags & FW_RF_QUICK)
            break;
    }
    if (last < 0) {
        rs->none.packets++;
        rs->none.bytes += p->len;
        set(v, FW_BLOCK, FW_R_DEFAULT, -1, 0);
        e->stats.blocked++;
        e->stats.default_blocked++;
        return;
    }
    struct fw_rule *r = &rs->rules[last];
    if (r->action == FW_PASS) {
        if (r->max_mss && (!mss || r->max_mss < mss))
            mss = r->max_mss;
        struct fw6_state *made = NULL;
        if ((r->flags & FW_RF_KEEP_STATE) && opens_state(p) && !keep_state(e, r, (unsigned)last, p, now, mss, v, &made))
            return;
        r->c.packets++;
        r->c.bytes += p->len;
        set(v, FW_PASS, FW_R_RULE, last, r->line);
        v->log = (r->flags & FW_RF_LOG) != 0;
        v->max_mss = mss;
        if (made && (r->flags & FW_RF_MODULATE) && p->proto == FW_PROTO_TCP) { /* a SYN (opens_state): from byte one */
            struct fw6_state_table *t = e->states;
            made->flags |= FW6_SF_MODULATE;
            made->seqdiff = fw_seqdiff_draw(t->mod_key, &t->mod_counter);
            fw6_state_modulation(t, made, p, false, &v->mod);
        }
        e->stats.passed++;
        e->stats.rule_passed++;
        return;
    }
    r->c.packets++;
    r->c.bytes += p->len;
    set(v, FW_BLOCK, FW_R_BLOCK_RULE, last, r->line);
    /* block return*: as IPv4 (fw_match.c), the code ICMPv6's */
    v->return_ = (r->flags & (FW_RF_RETURN | FW_RF_RETURN_RST | FW_RF_RETURN_ICMP)) != 0;
    v->return_rst = p->proto == FW_PROTO_TCP && !(r->flags & FW_RF_RETURN_ICMP);
    v->return_code = r->return_code6;
    if ((r->flags & FW_RF_RETURN_RST) && p->proto != FW_PROTO_TCP)
        v->return_ = false; /* return-rst answers TCP only */
    e->stats.blocked++;
    e->stats.rule_blocked++;
}

bool fw6_clamp_mss(uint8_t *ip, size_t len, const struct fw6_packet *p, uint16_t mss)
{
    if (p->proto != FW_PROTO_TCP || !(p->tcp_flags & FW_TH_SYN) || !mss)
        return false;
    size_t end = len < p->len ? len : p->len;
    if ((size_t)p->l4off + 20 > end)
        return false;
    return fw_clamp_mss_tcp(ip + p->l4off, end - p->l4off, mss);
}

/* ---------------------------------------------------- block return ---- */

bool fw6_is_self(const struct fw6_ifaces *ifs, const uint8_t a[16])
{
    for (unsigned k = 0; k < FW_MAX_IFACES; k++)
        if (iface_match6(ifs, k, a, false))
            return true;
    return false;
}

static bool unspecified(const uint8_t a[16])
{
    for (int i = 0; i < 16; i++)
        if (a[i])
            return false;
    return true;
}

bool fw6_may_answer(const struct fw6_packet *p)
{
    if (p->src[0] == 0xff || p->dst[0] == 0xff || unspecified(p->src) || unspecified(p->dst))
        return false;
    if (p->proto == FW_PROTO_ICMP6 && p->icmp_type < 128)
        return false; /* never an error about an error (RFC 4443 2.4 e) */
    return p->proto != FW_PROTO_TCP || !(p->tcp_flags & FW_TH_RST);
}

static uint32_t sum16(uint32_t s, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (n & 1)
        s += (uint32_t)b[n - 1] << 8;
    return s;
}

uint16_t fw6_cksum(const uint8_t src[16], const uint8_t dst[16], uint8_t nh, const uint8_t *data, size_t len)
{
    uint32_t s = sum16(0, src, 16);
    s = sum16(s, dst, 16);
    s += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + nh;
    s = sum16(s, data, len);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void put16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
    put16(b, v >> 16);
    put16(b + 2, v);
}

static uint32_t get32(const uint8_t *b) { return (uint32_t)be16(b) << 16 | be16(b + 2); }

size_t fw6_return_build(const uint8_t *ip, size_t len, const struct fw6_packet *p, bool rst, uint8_t code,
                        const uint8_t src[16], uint8_t *out, size_t cap)
{
    size_t body;
    if (rst) {
        if (p->proto != FW_PROTO_TCP || (size_t)p->l4off + 20 > len)
            return 0;
        body = 20;
    } else {
        size_t quote = len < p->len ? len : p->len;
        if (quote > FW6_RETURN_MAX - IP6_HLEN - 8)
            quote = FW6_RETURN_MAX - IP6_HLEN - 8;
        body = 8 + quote;
    }
    if (cap < IP6_HLEN + body)
        return 0;
    memset(out, 0, IP6_HLEN + body);
    out[0] = 0x60;
    put16(out + 4, (uint32_t)body);
    out[6] = rst ? FW_PROTO_TCP : FW_PROTO_ICMP6;
    out[7] = 64;
    memcpy(out + 8, rst ? p->dst : src, 16);
    memcpy(out + 24, p->src, 16);
    uint8_t *l4 = out + IP6_HLEN;
    if (rst) {
        const uint8_t *th = ip + p->l4off;
        uint32_t seglen = p->len - p->l4off - (uint32_t)(th[12] >> 4) * 4u;
        seglen += (p->tcp_flags & FW_TH_SYN) ? 1 : 0;
        seglen += (p->tcp_flags & FW_TH_FIN) ? 1 : 0;
        put16(l4, p->dport);
        put16(l4 + 2, p->sport);
        put32(l4 + 4, (p->tcp_flags & FW_TH_ACK) ? get32(th + 8) : 0);
        put32(l4 + 8, get32(th + 4) + seglen);
        l4[12] = 5 << 4;
        l4[13] = FW_TH_RST | FW_TH_ACK;
    } else {
        l4[0] = 1; /* destination unreachable */
        l4[1] = code;
        memcpy(l4 + 8, ip, body - 8);
    }
    uint16_t c = fw6_cksum(out + 8, out + 24, out[6], l4, body);
    put16(l4 + (rst ? 16 : 2), c);
    return IP6_HLEN + body;
}

/* ----------------------------------------------------------- tables ---- */

int fw_table_add6(struct fw_ruleset *rs, unsigned ti, const uint8_t addr[16], unsigned prefix, bool neg)
{
    if (!rs || ti >= rs->n_tables || prefix > 128)
        return FW_E_INVAL;
    struct fw_table *t = &rs->tables[ti];
    struct fw_table6_entry e = { .prefix = (uint8_t)prefix, .neg = neg };
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
        e.addr[i] = bits >= 8 ? addr[i] : (uint8_t)(addr[i] & (0xff00u >> bits));
    }
    for (unsigned i = 0; i < t->n6; i++)
        if (t->e6[i].prefix == e.prefix && memcmp(t->e6[i].addr, e.addr, 16) == 0)
            return FW_E_EXISTS;
    if (t->n6 == FW_TABLE6_SIZE)
        return FW_E_FULL;
    t->e6[t->n6++] = e;
    return FW_OK;
}

bool fw_table_match6(const struct fw_ruleset *rs, unsigned ti, const uint8_t addr[16])
{
    if (ti >= rs->n_tables)
        return false;
    const struct fw_table *t = &rs->tables[ti];
    int best = -1;
    bool neg = false;
    for (unsigned i = 0; i < t->n6; i++)
        if (prefix_eq(addr, t->e6[i].addr, t->e6[i].prefix) && (int)t->e6[i].prefix > best) {
            best = t->e6[i].prefix;
            neg = t->e6[i].neg;
        }
    return best >= 0 && !neg;
}

char *fw6_ntop(const uint8_t a[16], char *buf, size_t cap)
{
    /* RFC 5952: the longest run (>= 2) of zero groups as "::", lower case. */
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && a[2 * j] == 0 && a[2 * j + 1] == 0)
            j++;
        if (j - i > best_len && j - i >= 2) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    static const char hex[] = "0123456789abcdef";
    char tmp[48];
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            tmp[n++] = ':';
            if (i == 0)
                tmp[n++] = ':';
            i += best_len - 1;
            continue;
        }
        unsigned g = (unsigned)(a[2 * i] << 8 | a[2 * i + 1]);
        bool lead = true;
        for (int s = 12; s >= 0; s -= 4) {
            unsigned d = g >> s & 0xf;
            if (lead && d == 0 && s)
                continue;
            lead = false;
            tmp[n++] = hex[d];
        }
        if (i < 7)
            tmp[n++] = ':';
    }
    tmp[n] = 0;
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(buf, tmp, k);
        buf[k] = 0;
    }
    return buf;
}
