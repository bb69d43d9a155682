/*
 * fw6_state.c - the IPv6 state table (contract in fw6.h).
 *
 * FW6_STATES slots, FW6_BUCKETS chains of slot indices (uint16_t, FW6_NONE
 * ends a chain), and a free list threaded through the same `next` field.
 * Invariant: every slot is on exactly one list, a bucket's chain or the
 * free list; count is the number on chains.  The key is direction-free
 * (the smaller (address, port) pair first), so one lookup finds a state
 * from either side; the hash is a keyed mix of the key's bytes (the key
 * from netd_rand, so a remote host cannot aim at one chain).
 *
 * Timeouts (pf's defaults, pf.conf(5) "set timeout"): TCP opening 30 s,
 * established 24 h, closing 900 s, closed 90 s; UDP 60 s; ICMPv6 20 s;
 * other protocols 60 s.  Expired states are removed when a lookup meets
 * them and by fw6_state_expire (netd calls it once a second).
 *
 * State limits (as the IPv4 table's, fw_state.h): rule_live counts the live
 * states of each rule of the newest generation (state option max N); a
 * source node counts one source's live states through one rule
 * (max-src-conn) and its recent new connections, a decaying counter that
 * falls linearly to 0 over the rule's window (max-src-conn-rate).  Source
 * nodes sit in an open-addressed table probed FW6_SRC_PROBE slots from a
 * keyed hash; a full probe window refuses the new state.  Invariant: a
 * node's live count is the number of states whose srcn names it, and
 * rule_live[r] the number of states of rule r of generation rule_gen.
 */
#include "fw6.h"

#include <keel/string.h>

#include "fw_modulate.h"

#define S_NS(s) ((uint64_t)(s)*1000000000ull)

#define FW6_SRC_PROBE 8 /* source nodes looked at per source */
#define FW6_SRC_UNIT  1000ull
#define NS_PER_MS     1000000ull

_Static_assert((FW6_STATES & (FW6_STATES - 1)) == 0 && FW6_STATES < FW6_NONE, "slots fit uint16_t");
_Static_assert((FW6_BUCKETS & (FW6_BUCKETS - 1)) == 0, "a power of two");
_Static_assert((FW6_SRCS & (FW6_SRCS - 1)) == 0 && FW6_SRCS < FW6_NONE, "a power of two that fits srcn");

void fw6_state_init(struct fw6_state_table *t, uint64_t key)
{
    memset(t, 0, sizeof *t);
    t->key = key | 1;
    for (unsigned i = 0; i < FW6_BUCKETS; i++)
        t->bucket[i] = FW6_NONE;
    for (unsigned i = 0; i < FW6_STATES; i++)
        t->s[i].next = (uint16_t)(i + 1 < FW6_STATES ? i + 1 : FW6_NONE);
    t->free = 0;
}

/* The direction-free order: true when (src, sport) sorts before (dst, dport). */
static bool src_first(const struct fw6_packet *p)
{
    int c = memcmp(p->src, p->dst, 16);
    return c < 0 || (c == 0 && p->sport <= p->dport);
}

static unsigned hash(const struct fw6_state_table *t, const struct fw6_packet *p)
{
    bool f = src_first(p);
    const uint8_t *lo = f ? p->src : p->dst, *hi = f ? p->dst : p->src;
    uint64_t h =
        t->key ^ ((uint64_t)p->proto << 32) ^ ((uint64_t)(f ? p->sport : p->dport) << 16) ^ (f ? p->dport : p->sport);
    for (int i = 0; i < 16; i += 8) {
        uint64_t a, b;
        memcpy(&a, lo + i, 8);
        memcpy(&b, hi + i, 8);
        h = (h ^ a) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
        h = (h ^ b) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    return (unsigned)(h ^ h >> 32) & (FW6_BUCKETS - 1);
}

static uint64_t timeout(const struct fw6_state *s)
{
    switch (s->proto) {
    case 6:
        return s->tcp == FW6_TCP_OPENING       ? S_NS(30)
               : s->tcp == FW6_TCP_ESTABLISHED ? S_NS(86400)
               : s->tcp == FW6_TCP_CLOSING     ? S_NS(900)
                                               : S_NS(90);
    case 17: return S_NS(60);
    case FW_PROTO_ICMP6: return S_NS(20);
    default: return S_NS(60);
    }
}

/* Unlinks slot I (after PREV on chain B, or the head) and frees it. */
static void unlink_slot(struct fw6_state_table *t, unsigned b, uint16_t prev, uint16_t i)
{
    if (prev == FW6_NONE)
        t->bucket[b] = t->s[i].next;
    else
        t->s[prev].next = t->s[i].next;
    struct fw6_state *s = &t->s[i];
    if (s->generation == t->rule_gen && s->rule >= 0 && s->rule < FW_MAX_RULES && t->rule_live[s->rule])
        t->rule_live[s->rule]--;
    if (s->srcn < FW6_SRCS && t->srcs[s->srcn].live)
        t->srcs[s->srcn].live--;
    s->srcn = FW6_NONE;
    s->next = t->free;
    t->free = i;
    t->count--;
}

struct fw6_state *fw6_state_find(struct fw6_state_table *t, const struct fw6_packet *p, uint64_t now, bool *reply)
{
    unsigned b = hash(t, p);
    uint16_t prev = FW6_NONE;
    for (uint16_t i = t->bucket[b]; i != FW6_NONE;) {
        struct fw6_state *s = &t->s[i];
        uint16_t next = s->next;
        if (s->expires <= now) {
            unlink_slot(t, b, prev, i);
            t->stats.expired++;
            i = next;
            continue;
        }
        if (s->proto == p->proto) {
            if (memcmp(s->a, p->src, 16) == 0 && memcmp(s->b, p->dst, 16) == 0 && s->aport == p->sport &&
                s->bport == p->dport) {
                *reply = false;
                return s;
            }
            if (memcmp(s->a, p->dst, 16) == 0 && memcmp(s->b, p->src, 16) == 0 && s->aport == p->dport &&
                s->bport == p->sport) {
                *reply = true;
                return s;
            }
        }
        prev = i;
        i = next;
    }
    return NULL;
}

struct fw6_state *fw6_state_insert(struct fw6_state_table *t, const struct fw6_packet *p, int rule, uint32_t generation,
                                   uint64_t now)
{
    if (t->free == FW6_NONE) {
        t->stats.full++;
        return NULL;
    }
    uint16_t i = t->free;
    struct fw6_state *s = &t->s[i];
    t->free = s->next;
    /* point of no return: the slot is ours */
    unsigned b = hash(t, p);
    memset(s, 0, sizeof *s);
    s->proto = p->proto;
    memcpy(s->a, p->src, 16);
    memcpy(s->b, p->dst, 16);
    s->aport = p->sport;
    s->bport = p->dport;
    s->rule = (int16_t)rule;
    s->generation = generation;
    s->srcn = FW6_NONE;
    if (generation != t->rule_gen) { /* a new rule set: earlier states count against nothing */
        t->rule_gen = generation;
        memset(t->rule_live, 0, sizeof t->rule_live);
    }
    if (rule >= 0 && rule < FW_MAX_RULES)
        t->rule_live[rule]++;
    s->tcp = FW6_TCP_OPENING;
    s->packets = 1;
    s->bytes = p->len;
    s->next = t->bucket[b];
    t->bucket[b] = i;
    t->count++;
    t->stats.inserted++;
    s->expires = now + timeout(s);
    return s;
}

void fw6_state_update(struct fw6_state *s, const struct fw6_packet *p, bool reply, uint64_t now)
{
    if (s->proto == 6) {
        uint8_t f = p->tcp_flags;
        if (f & FW_TH_RST)
            s->tcp = FW6_TCP_CLOSED;
        else if (f & FW_TH_FIN)
            s->fin |= (uint8_t)(reply ? 2 : 1);
        if (s->tcp != FW6_TCP_CLOSED) {
            if (s->fin == 3)
                s->tcp = FW6_TCP_CLOSED;
            else if (s->fin)
                s->tcp = FW6_TCP_CLOSING;
            else if (s->tcp == FW6_TCP_OPENING && reply && (f & FW_TH_ACK))
                s->tcp = FW6_TCP_ESTABLISHED;
        }
    }
    s->expires = now + timeout(s);
}

/* What a sweep removes (remove_if): states expired at NOW, or those of
 * source SRC (of RULE in GEN, or all when GLOBAL). */
struct doom {
    uint64_t now;
    const uint8_t *src;
    unsigned rule;
    uint32_t gen;
    bool global;
};

static bool expired(const struct fw6_state *s, const struct doom *d) { return s->expires <= d->now; }

static bool of_src(const struct fw6_state *s, const struct doom *d)
{
    return memcmp(s->a, d->src, 16) == 0 && (d->global || (s->rule == (int16_t)d->rule && s->generation == d->gen));
}

/* Unlinks every state DOOMED says, bucket by bucket; how many. */
static unsigned remove_if(struct fw6_state_table *t, bool (*doomed)(const struct fw6_state *s, const struct doom *d),
                          const struct doom *d)
{
    unsigned n = 0;
    for (unsigned b = 0; b < FW6_BUCKETS; b++) {
        uint16_t prev = FW6_NONE;
        for (uint16_t i = t->bucket[b]; i != FW6_NONE;) {
            uint16_t next = t->s[i].next;
            if (doomed(&t->s[i], d)) {
                unlink_slot(t, b, prev, i);
                n++;
            } else {
                prev = i;
            }
            i = next;
        }
    }
    return n;
}

unsigned fw6_state_expire(struct fw6_state_table *t, uint64_t now)
{
    unsigned n = remove_if(t, expired, &(struct doom){ .now = now });
    t->stats.expired += n;
    return n;
}

/* ------------------------------------------------------ state limits ---- */

uint32_t fw6_state_rule_live(const struct fw6_state_table *t, unsigned rule, uint32_t gen)
{
    return gen == t->rule_gen && rule < FW_MAX_RULES ? t->rule_live[rule] : 0;
}

static unsigned src_hash(const struct fw6_state_table *t, const uint8_t src[16], unsigned rule, uint32_t gen)
{
    uint64_t h = t->key ^ ((uint64_t)rule << 32 | gen);
    for (int i = 0; i < 16; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        h = (h ^ a) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    return (unsigned)(h ^ h >> 32);
}

static bool src_stale(const struct fw6_src_node *n, uint32_t gen, uint64_t now)
{
    return !n->used || (n->live == 0 && (n->gen != gen || now - n->last >= n->window));
}

int fw6_state_src_node(struct fw6_state_table *t, const uint8_t src[16], unsigned rule, uint32_t gen, uint64_t now,
                       unsigned *idx)
{
    unsigned h = src_hash(t, src, rule, gen), spare = FW6_SRCS;
    for (unsigned j = 0; j < FW6_SRC_PROBE; j++) {
        unsigned k = (h + j) & (FW6_SRCS - 1);
        struct fw6_src_node *n = &t->srcs[k];
        if (n->used && n->rule == (int16_t)rule && n->gen == gen && memcmp(n->addr, src, 16) == 0) {
            *idx = k;
            return FW_OK;
        }
        if (spare == FW6_SRCS && src_stale(n, gen, now))
            spare = k;
    }
    if (spare == FW6_SRCS) {
        t->stats.src_full++;
        return FW_E_FULL;
    }
    struct fw6_src_node *n = &t->srcs[spare];
    memset(n, 0, sizeof *n);
    memcpy(n->addr, src, 16);
    n->used = true;
    n->rule = (int16_t)rule;
    n->gen = gen;
    n->last = now;
    *idx = spare;
    return FW_OK;
}

int fw6_state_src_admit(struct fw6_state_table *t, const uint8_t src[16], unsigned rule, uint32_t gen, uint32_t conns,
                        uint32_t secs, uint64_t now)
{
    unsigned k;
    if (fw6_state_src_node(t, src, rule, gen, now, &k) != FW_OK)
        return FW_E_FULL;
    struct fw6_src_node *n = &t->srcs[k];
    n->window = S_NS(secs);
    uint64_t diff = now > n->last ? now - n->last : 0;
    if (diff >= n->window) /* the count falls linearly to 0 over one window */
        n->count = 0;
    else
        n->count -= n->count * (diff / NS_PER_MS) / (n->window / NS_PER_MS);
    n->count += FW6_SRC_UNIT;
    uint64_t cap = ((uint64_t)conns + 1) * FW6_SRC_UNIT;
    if (n->count > cap)
        n->count = cap;
    n->last = now;
    if (n->count > (uint64_t)conns * FW6_SRC_UNIT) {
        t->stats.src_limited++;
        return FW_E_LIMIT;
    }
    return FW_OK;
}

void fw6_state_attach_src(struct fw6_state_table *t, struct fw6_state *s, unsigned idx)
{
    if (idx >= FW6_SRCS || s->srcn != FW6_NONE)
        return;
    s->srcn = (uint16_t)idx;
    t->srcs[idx].live++;
}

unsigned fw6_state_kill_src(struct fw6_state_table *t, const uint8_t src[16], unsigned rule, uint32_t gen, bool global)
{
    unsigned n = remove_if(t, of_src, &(struct doom){ .src = src, .rule = rule, .gen = gen, .global = global });
    t->stats.removed += n;
    return n;
}

/* ------------------------------------------------------ modulate state -- */

void fw6_state_modulation(const struct fw6_state_table *t, const struct fw6_state *s, const struct fw6_packet *p,
                          bool reply, struct fw_modulate *m)
{
    *m = (struct fw_modulate){ 0 };
    if (!(s->flags & FW6_SF_MODULATE) || p->proto != FW_PROTO_TCP)
        return;
    uint32_t d[2] = { s->seqdiff, fw_seqdiff_responder(t->mod_key, s->seqdiff) };
    unsigned side = reply ? 1 : 0;
    m->seq_add = d[side];
    if (p->tcp_flags & FW_TH_ACK)
        m->ack_sub = d[1 - side];
}

#define ICMP6_HLEN 8u
#define IP6_HLEN   40u

bool fw6_modulate_error(struct fw6_state_table *t, uint8_t *ip, size_t len, const struct fw6_packet *p, uint64_t now)
{
    if (p->proto != FW_PROTO_ICMP6 || p->icmp_type < 1 || p->icmp_type > 4) /* RFC 4443 errors */
        return false;
    size_t end = p->len < len ? p->len : len, l4 = p->l4off;
    if (l4 + ICMP6_HLEN + IP6_HLEN + 8 > end)
        return false;
    const uint8_t *q = ip + l4 + ICMP6_HLEN;
    if (q[0] >> 4 != 6 || q[6] != FW_PROTO_TCP)
        return false; /* not TCP, or extension headers before it: left alone */
    struct fw6_packet k = { .proto = FW_PROTO_TCP };
    memcpy(k.src, q + 8, 16);
    memcpy(k.dst, q + 24, 16);
    k.sport = (uint16_t)(q[40] << 8 | q[41]);
    k.dport = (uint16_t)(q[42] << 8 | q[43]);
    bool reply;
    struct fw6_state *s = fw6_state_find(t, &k, now, &reply);
    if (!s || !(s->flags & FW6_SF_MODULATE))
        return false;
    uint32_t d[2] = { s->seqdiff, fw_seqdiff_responder(t->mod_key, s->seqdiff) };
    unsigned side = reply ? 1 : 0; /* the quoted segment's sender */
    struct fw_modulate m = { .quote_seq_sub = d[side], .quote_ack_add = d[1 - side] };
    return fw_modulate_quote(ip + l4, end - l4, ICMP6_HLEN + IP6_HLEN, &m);
}
