/*
 * fw_nat.c - translated keys, port pools and packet rewriting (design and
 * invariants in fw_nat.h).
 *
 * Rewriting works on the wire bytes in place: each 16-bit word that
 * changes goes through put16(), which writes it and fixes every checksum
 * that covers it (RFC 1624 eqn. 3), so the order of the changes does not
 * matter and a checksum that was wrong stays exactly as wrong.  Offsets
 * are checked against the packet's length before any byte changes.
 */
#include "fw_nat.h"

#include <keel/string.h>

#include "fw_state.h"

_Static_assert(sizeof(struct fw_nat_side) <= 24, "one side per state slot: netd keeps 16384 of them");

/* ------------------------------------------------------------ the table -- */

int fw_nat_init(struct fw_nat *n, struct fw_nat_side *sides, uint32_t nsides, uint32_t *buckets, uint32_t nbuckets,
                uint32_t seed)
{
    if (!n || !sides || !nsides || !buckets || !nbuckets || (nbuckets & (nbuckets - 1)))
        return FW_E_INVAL;
    memset(n, 0, sizeof *n);
    n->sides = sides;
    n->nsides = nsides;
    n->buckets = buckets;
    n->nbuckets = nbuckets;
    n->rng = seed ? seed : 0x9e3779b9u;
    fw_nat_reset(n);
    return FW_OK;
}

void fw_nat_reset(struct fw_nat *n)
{
    for (uint32_t b = 0; b < n->nbuckets; b++)
        n->buckets[b] = FW_STATE_NIL;
    for (uint32_t i = 0; i < n->nsides; i++)
        n->sides[i] = (struct fw_nat_side){ .next = FW_STATE_NIL };
    n->in_use = 0;
}

static uint32_t *post_bucket(struct fw_nat *n, const struct fw_state_table *t, uint8_t proto,
                             const struct fw_nat_key *k)
{
    return &n->buckets[fw_state_hash(t, proto, k->src, k->sport, k->dst, k->dport) & (n->nbuckets - 1)];
}

void fw_nat_link(struct fw_nat *n, struct fw_state_table *t, struct fw_state *st, const struct fw_nat_key *post,
                 uint8_t kind, uint16_t rule)
{
    uint32_t i = (uint32_t)(st - t->mem.slots);
    if (i >= n->nsides || (st->flags & FW_SF_NAT))
        return; /* broken contract: a slot of another table, or linked twice */
    struct fw_nat_side *s = &n->sides[i];
    s->post = *post;
    s->kind = kind;
    s->rule = rule;
    uint32_t *head = post_bucket(n, t, st->proto, post);
    s->next = *head;
    *head = i;
    st->flags |= FW_SF_NAT;
    n->in_use++;
    n->stats.translations++;
}

void fw_nat_unlink(struct fw_nat *n, const struct fw_state_table *t, uint32_t slot)
{
    if (slot >= n->nsides)
        return;
    struct fw_nat_side *s = &n->sides[slot];
    uint32_t *link = post_bucket(n, t, t->mem.slots[slot].proto, &s->post);
    while (*link != FW_STATE_NIL && *link != slot)
        link = &n->sides[*link].next;
    if (*link != slot)
        return; /* not linked */
    *link = s->next;
    s->next = FW_STATE_NIL;
    s->kind = FW_NAT_NONE;
    n->in_use--;
}

/* ------------------------------------------------------------ lookups -- */

static bool echo_ok(const struct fw_packet *p, bool forward)
{
    return p->proto != FW_PROTO_ICMP || p->icmp_type == (forward ? FW_ICMP_ECHO_REQUEST : FW_ICMP_ECHO_REPLY);
}

static bool key_eq(const struct fw_nat_key *k, const struct fw_packet *p)
{
    return p->src == k->src && p->dst == k->dst && p->sport == k->sport && p->dport == k->dport;
}

static bool key_rev(const struct fw_nat_key *k, const struct fw_packet *p)
{
    return p->src == k->dst && p->dst == k->src && p->sport == k->dport && p->dport == k->sport;
}

struct fw_state *fw_nat_lookup(struct fw_nat *n, struct fw_state_table *t, const struct fw_packet *p, uint64_t now,
                               bool related, unsigned *form)
{
    struct fw_nat_key k = { p->src, p->dst, p->sport, p->dport };
    for (uint32_t i = *post_bucket(n, t, p->proto, &k); i != FW_STATE_NIL; i = n->sides[i].next) {
        struct fw_state *st = &t->mem.slots[i];
        const struct fw_nat_side *s = &n->sides[i];
        if (st->proto != p->proto || !fw_state_is_live(st, now))
            continue; /* an expired one is freed by the state table's walks */
        if (p->dir != st->dir && key_rev(&s->post, p) && (related || echo_ok(p, false))) {
            *form = FW_NF_POST_REV;
            return st;
        }
        if (related && p->dir == st->dir && key_eq(&s->post, p)) {
            *form = FW_NF_POST_FWD;
            return st;
        }
    }
    return NULL;
}

/* Whether some live state has key (PROTO, A:AP -> B:BP) as post, or as
 * pre (a connection of the appliance's own from A). */
static bool key_taken(struct fw_state_table *t, uint8_t proto, uint32_t a, uint16_t ap, uint32_t b, uint16_t bp,
                      uint64_t now)
{
    struct fw_packet q = { .dir = FW_OUT, .proto = proto, .src = a, .dst = b, .sport = ap, .dport = bp };
    q.icmp_type = FW_ICMP_ECHO_REQUEST;
    unsigned form;
    if (fw_state_lookup_related(t, &q, now, &form))
        return true; /* any state with this key, pre or post, either way */
    q.dir = FW_IN;
    return fw_state_lookup_related(t, &q, now, &form) != NULL;
}

static uint32_t rng_next(struct fw_nat *n)
{
    uint32_t x = n->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    n->rng = x;
    return x;
}

int fw_nat_pick_port(struct fw_nat *n, struct fw_state_table *t, uint8_t proto, uint32_t addr, uint32_t dst,
                     uint16_t dport, uint16_t lo, uint16_t hi, uint64_t now, uint16_t *port)
{
    if (lo == 0 || hi < lo)
        return FW_E_INVAL;
    uint32_t span = (uint32_t)hi - lo + 1;
    uint32_t start = rng_next(n) % span;
    for (uint32_t j = 0; j < span; j++) {
        uint16_t cand = (uint16_t)(lo + (start + j) % span);
        uint16_t cd = proto == FW_PROTO_ICMP ? cand : dport;
        if (!key_taken(t, proto, addr, cand, dst, cd, now)) {
            *port = cand;
            return FW_OK;
        }
    }
    n->stats.pool_exhausted++;
    return FW_E_FULL;
}

/* -------------------------------------------------------- translations -- */

static struct fw_nat_key pre_key(const struct fw_state *st)
{
    return (struct fw_nat_key){ st->src, st->dst, st->sport, st->dport };
}

static struct fw_nat_key reversed(struct fw_nat_key k) { return (struct fw_nat_key){ k.dst, k.src, k.dport, k.sport }; }

/* The key a packet in shape FORM leaves with: the other key, same way. */
static struct fw_nat_key target(const struct fw_state *st, const struct fw_nat_side *side, unsigned form)
{
    switch (form) {
    case FW_NF_PRE_FWD: return side->post;
    case FW_NF_PRE_REV: return reversed(side->post);
    case FW_NF_POST_FWD: return pre_key(st);
    default: return reversed(pre_key(st));
    }
}

void fw_nat_xlate_packet(const struct fw_state *st, const struct fw_nat_side *side, const struct fw_packet *p,
                         unsigned form, struct fw_xlate *x)
{
    (void)p;
    x->kind = FW_XL_PACKET;
    x->out = target(st, side, form);
}

void fw_nat_xlate_error(const struct fw_state *st, const struct fw_nat_side *side, const struct fw_packet *p,
                        unsigned form, struct fw_xlate *x)
{
    x->kind = FW_XL_ICMP_ERROR;
    x->inner = target(st, side, form);
    /* The error goes to the quoted source; an end host reporting on its own
     * (quoted) destination is shown under that destination's new address. */
    x->out = (struct fw_nat_key){ p->src, x->inner.src, 0, 0 };
    if (p->src == p->inner.dst)
        x->out.src = x->inner.dst;
}

/* ---------------------------------------------------------- rewriting -- */

uint16_t fw_csum_fixup(uint16_t csum, uint16_t old, uint16_t new_)
{
    uint32_t s = (uint16_t)~csum + (uint32_t)(uint16_t)~old + new_;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }

static void wr16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

/* A checksum field to keep right, and whether 0 means "none" (UDP). */
struct csum_ref {
    uint8_t *at; /* NULL: none */
    bool udp;
};

/* Writes V at B and fixes the checksums C[0..n). */
static void put16(uint8_t *b, uint16_t v, const struct csum_ref *c, unsigned nc)
{
    uint16_t old = rd16(b);
    if (old == v)
        return;
    wr16(b, v);
    for (unsigned i = 0; i < nc; i++) {
        if (!c[i].at || (c[i].udp && rd16(c[i].at) == 0))
            continue;
        uint16_t s = fw_csum_fixup(rd16(c[i].at), old, v);
        wr16(c[i].at, c[i].udp && s == 0 ? 0xffff : s);
    }
}

static void put32(uint8_t *b, uint32_t v, const struct csum_ref *c, unsigned nc)
{
    put16(b, (uint16_t)(v >> 16), c, nc);
    put16(b + 2, (uint16_t)v, c, nc);
}

/* Where the transport checksum of PROTO sits in a header of AVAIL bytes
 * at L4, or NULL when it is not there. */
static struct csum_ref l4_csum(uint8_t *l4, size_t avail, uint8_t proto)
{
    if (proto == FW_PROTO_TCP && avail >= 18)
        return (struct csum_ref){ l4 + 16, false };
    if (proto == FW_PROTO_UDP && avail >= 8)
        return (struct csum_ref){ l4 + 6, true };
    if (proto == FW_PROTO_ICMP && avail >= 4)
        return (struct csum_ref){ l4 + 2, false };
    return (struct csum_ref){ NULL, false };
}

/*
 * Rewrites the IP header H and its transport header L4 (AVAIL bytes
 * there) to K, fixing the IP header checksum and the transport checksum
 * when it lies within AVAIL.  Ports: TCP/UDP source and destination; the
 * ICMP echo identifier (K.sport for a request, K.dport for a reply: the
 * same value, as the state key holds it twice).
 */
static void rewrite_one(uint8_t *h, uint8_t *l4, size_t avail, uint8_t proto, uint8_t icmp_type,
                        const struct fw_nat_key *k)
{
    struct csum_ref l4c = l4_csum(l4, avail, proto);
    struct csum_ref none = { NULL, false };
    /* addresses: the IP header checksum and the TCP/UDP pseudo-header */
    struct csum_ref addr_c[2] = { { h + 10, false }, proto == FW_PROTO_ICMP ? none : l4c };
    put32(h + 12, k->src, addr_c, 2);
    put32(h + 16, k->dst, addr_c, 2);
    if ((proto == FW_PROTO_TCP || proto == FW_PROTO_UDP) && avail >= 4) {
        put16(l4, k->sport, &l4c, 1);
        put16(l4 + 2, k->dport, &l4c, 1);
    } else if (proto == FW_PROTO_ICMP && avail >= 8 &&
               (icmp_type == FW_ICMP_ECHO_REQUEST || icmp_type == FW_ICMP_ECHO_REPLY)) {
        put16(l4 + 4, icmp_type == FW_ICMP_ECHO_REQUEST ? k->sport : k->dport, &l4c, 1);
    }
}

#define QUOTE_MAX (60 + 20) /* a quoted IP header with options, and a TCP header up to its checksum */

/* An ICMP error (ICMP header at L4, AVAIL bytes): the quote rewritten to
 * X->inner, the ICMP checksum fixed for every quoted word that changed. */
static bool rewrite_error(uint8_t *l4, size_t avail, const struct fw_packet *p, const struct fw_xlate *x)
{
    if (avail < 8 + 20)
        return false;
    uint8_t *q = l4 + 8;
    size_t qihl = (size_t)(q[0] & 0xfu) * 4u;
    if (qihl < 20 || 8 + qihl + 8 > avail)
        return false;
    size_t qavail = avail - 8 - qihl;
    size_t span = qihl + ((qavail < 20 ? qavail : 20) & ~(size_t)1); /* even: the ICMP sum's words */
    uint8_t before[QUOTE_MAX];
    memcpy(before, q, span);
    rewrite_one(q, q + qihl, qavail, p->inner.proto, p->inner.icmp_type, &x->inner);
    for (size_t i = 0; i < span; i += 2) {
        uint16_t o = rd16(before + i), v = rd16(q + i);
        if (o != v)
            wr16(l4 + 2, fw_csum_fixup(rd16(l4 + 2), o, v));
    }
    return true;
}

size_t fw_ipv4_l4(const uint8_t *ip, size_t len, size_t *avail)
{
    size_t ihl = (size_t)(ip[0] & 0xfu) * 4u, total = rd16(ip + 2);
    if (total < len)
        len = total;
    if (ihl < 20 || ihl > len)
        return 0;
    *avail = len - ihl;
    return ihl;
}

bool fw_nat_rewrite(uint8_t *ip, size_t len, const struct fw_packet *p, const struct fw_xlate *x)
{
    if (x->kind == FW_XL_NONE || len < 20)
        return false;
    size_t avail, ihl = fw_ipv4_l4(ip, len, &avail);
    if (!ihl)
        return false;
    uint8_t *l4 = ip + ihl;
    if (x->kind == FW_XL_PACKET) {
        rewrite_one(ip, l4, avail, p->proto, p->icmp_type, &x->out);
        return true;
    }
    if (p->proto != FW_PROTO_ICMP || !p->has_inner || !rewrite_error(l4, avail, p, x))
        return false;
    struct csum_ref ipc = { ip + 10, false };
    put32(ip + 12, x->out.src, &ipc, 1); /* ICMP has no pseudo-header */
    put32(ip + 16, x->out.dst, &ipc, 1);
    return true;
}

const char *fw_nat_kind_name(unsigned kind)
{
    switch (kind) {
    case FW_NAT_SNAT: return "nat-to";
    case FW_NAT_RDR: return "rdr-to";
    case FW_NAT_BINAT: return "binat-to";
    default: return "";
    }
}
