/*
 * fw_state.c - the state table (design, TCP state machine and timeouts in
 * fw_state.h).
 *
 * Layout: the caller's slots form a pool; a free slot has dir == 0 and sits
 * on a free list threaded through `next`.  A used slot sits on exactly one
 * chain, the one of the bucket its key hashes to; chains are threaded
 * through `next` as well and end with FW_STATE_NIL.  Both ends of a
 * connection hash to the same bucket because the hash sorts the two
 * (address, port) ends first.  Invariants: count == number of slots on
 * chains; every index on a chain or the free list is < nslots and appears
 * once.
 *
 * Expired states stay on their chain until something walks past them
 * (lookup, insert, remove) or fw_state_expire() sweeps; a walk frees them
 * as it goes, so lookups never return them and inserts can reuse them.
 */
#include "fw_state.h"

#include <keel/string.h>

#include "fw_nat.h"

_Static_assert(sizeof(struct fw_state) <= 88, "netd keeps 16384 slots in a 7 MiB budget (fw_state.h, modulate state)");

#define FW_SRC_PROBE    8 /* source-table slots looked at per source */
#define FW_SRC_UNIT     1000ull
#define FW_NS_PER_MS    1000000ull
#define FW_SWEEP_PERIOD FW_NS_PER_SEC /* a full table sweeps at most this often */

/* -------------------------------------------------------------- hashing -- */

struct sip {
    uint64_t v0, v1, v2, v3;
};

static uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13) ^ s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16) ^ s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21) ^ s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17) ^ s->v2;
    s->v2 = rotl64(s->v2, 32);
}

/* SipHash-2-4 of the 16-byte message whose little-endian words are m0, m1. */
static uint64_t siphash16(const uint64_t k[2], uint64_t m0, uint64_t m1)
{
    struct sip s = { k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull, k[0] ^ 0x6c7967656e657261ull,
                     k[1] ^ 0x7465646279746573ull };
    const uint64_t m[3] = { m0, m1, 16ull << 56 }; /* the last block carries the length */
    for (int i = 0; i < 3; i++) {
        s.v3 ^= m[i];
        sip_round(&s);
        sip_round(&s);
        s.v0 ^= m[i];
    }
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* The bucket of a connection; the same for both directions. */
uint32_t fw_state_hash(const struct fw_state_table *t, uint8_t proto, uint32_t a, uint16_t ap, uint32_t b, uint16_t bp)
{
    if (a > b || (a == b && ap > bp)) {
        uint32_t ta = a;
        uint16_t tp = ap;
        a = b;
        ap = bp;
        b = ta;
        bp = tp;
    }
    uint64_t m0 = (uint64_t)a << 32 | b;
    uint64_t m1 = (uint64_t)ap << 48 | (uint64_t)bp << 32 | proto;
    return (uint32_t)siphash16(t->mem.seed, m0, m1) & (t->mem.nbuckets - 1);
}

static uint32_t *bucket_for_packet(struct fw_state_table *t, const struct fw_packet *p)
{
    return &t->mem.buckets[fw_state_hash(t, p->proto, p->src, p->sport, p->dst, p->dport)];
}

/* ------------------------------------------------------------ the pool -- */

static uint64_t deadline(uint64_t now, uint64_t timeout)
{
    return now > UINT64_MAX - timeout ? UINT64_MAX : now + timeout;
}

static bool is_expired(const struct fw_state *s, uint64_t now) { return s->expires <= now; }

bool fw_state_is_live(const struct fw_state *s, uint64_t now) { return s->dir != 0 && !is_expired(s, now); }

/* Unlinks slot i (which *link points to) and puts it on the free list. */
static void free_slot(struct fw_state_table *t, uint32_t *link, uint32_t i)
{
    struct fw_state *s = &t->mem.slots[i];
    if (s->gen == t->rule_gen && s->rule < FW_STATE_RULES && t->rule_live[s->rule])
        t->rule_live[s->rule]--;
    if (s->srcn != FW_STATE_NIL && s->srcn < t->mem.nsrcs && t->mem.srcs[s->srcn].live)
        t->mem.srcs[s->srcn].live--;
    if ((s->flags & FW_SF_NAT) && t->nat)
        fw_nat_unlink(t->nat, t, i);
    s->flags &= (uint8_t)~FW_SF_NAT;
    *link = s->next;
    s->dir = 0;
    s->next = t->free_head;
    t->free_head = i;
    t->count--;
}

static void reset_chains(struct fw_state_table *t)
{
    for (uint32_t b = 0; b < t->mem.nbuckets; b++)
        t->mem.buckets[b] = FW_STATE_NIL;
    for (uint32_t i = 0; i < t->mem.nslots; i++) {
        t->mem.slots[i].dir = 0;
        t->mem.slots[i].next = i + 1 < t->mem.nslots ? i + 1 : FW_STATE_NIL;
    }
    t->free_head = 0;
    t->count = 0;
    memset(t->rule_live, 0, sizeof t->rule_live);
    for (uint32_t i = 0; i < t->mem.nsrcs; i++)
        t->mem.srcs[i].live = 0;
    if (t->nat)
        fw_nat_reset(t->nat);
}

static bool is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

int fw_state_init(struct fw_state_table *t, const struct fw_state_storage *mem)
{
    if (!t || !mem || !mem->slots || mem->nslots == 0 || mem->nslots > 0x80000000u || !mem->buckets ||
        !is_pow2(mem->nbuckets) || (mem->srcs && !is_pow2(mem->nsrcs)))
        return FW_E_INVAL;
    memset(t, 0, sizeof *t);
    t->mem = *mem;
    if (!mem->srcs)
        t->mem.nsrcs = 0;
    memset(mem->slots, 0, (size_t)mem->nslots * sizeof mem->slots[0]);
    if (mem->srcs)
        memset(mem->srcs, 0, (size_t)mem->nsrcs * sizeof mem->srcs[0]);
    reset_chains(t);
    t->timeouts = (struct fw_timeouts){
        .tcp_embryonic = 30 * FW_NS_PER_SEC,
        .tcp_established = 24 * 3600 * FW_NS_PER_SEC,
        .tcp_fin_wait = 60 * FW_NS_PER_SEC,
        .tcp_closing = 60 * FW_NS_PER_SEC,
        .tcp_time_wait = 30 * FW_NS_PER_SEC,
        .tcp_closed = 10 * FW_NS_PER_SEC,
        .udp = 60 * FW_NS_PER_SEC,
        .icmp = 30 * FW_NS_PER_SEC,
        .other = 60 * FW_NS_PER_SEC,
    };
    return FW_OK;
}

void fw_state_flush(struct fw_state_table *t)
{
    t->stats.removed += t->count;
    reset_chains(t);
}

/* ------------------------------------------------------------ matching -- */

/*
 * Does p belong to s?  Forward: as the first packet; reply: the other way.
 * ICMP echo states take only requests forward and replies back, so an ICMP
 * error (whose "ports" are 0) never matches an echo state directly.  The
 * replies of a translated state come in its translated form (fw_nat.h):
 * here only when RELATED (an ICMP error's quote may show either form).
 */
static bool state_matches(const struct fw_state *s, const struct fw_packet *p, bool *reply, bool related)
{
    if (s->proto != p->proto)
        return false;
    if (p->dir == s->dir && p->src == s->src && p->dst == s->dst && p->sport == s->sport && p->dport == s->dport) {
        *reply = false;
        return p->proto != FW_PROTO_ICMP || p->icmp_type == FW_ICMP_ECHO_REQUEST;
    }
    if ((related || !(s->flags & FW_SF_NAT)) && p->dir != s->dir && p->src == s->dst && p->dst == s->src &&
        p->sport == s->dport && p->dport == s->sport) {
        *reply = true;
        return p->proto != FW_PROTO_ICMP || p->icmp_type == FW_ICMP_ECHO_REPLY;
    }
    return false;
}

/*
 * Walks p's chain, freeing expired states; returns the link that points to
 * p's live state, or NULL.
 */
static uint32_t *find_link_in(struct fw_state_table *t, const struct fw_packet *p, uint64_t now, bool *reply,
                              bool related)
{
    uint32_t *link = bucket_for_packet(t, p);
    while (*link != FW_STATE_NIL) {
        uint32_t i = *link;
        struct fw_state *s = &t->mem.slots[i];
        if (is_expired(s, now)) {
            free_slot(t, link, i);
            t->stats.expired++;
            continue;
        }
        if (state_matches(s, p, reply, related))
            return link;
        link = &s->next;
    }
    return NULL;
}

static uint32_t *find_link(struct fw_state_table *t, const struct fw_packet *p, uint64_t now, bool *reply)
{
    return find_link_in(t, p, now, reply, false);
}

struct fw_state *fw_state_lookup(struct fw_state_table *t, const struct fw_packet *p, uint64_t now, bool *reply)
{
    bool r = false;
    uint32_t *link = find_link(t, p, now, &r);
    struct fw_state *st = link ? &t->mem.slots[*link] : NULL;
    unsigned form;
    if (!st && t->nat && (st = fw_nat_lookup(t->nat, t, p, now, false, &form)) != NULL)
        r = true; /* a translated state's reply, in its translated form */
    if (reply)
        *reply = r;
    return st;
}

struct fw_state *fw_state_lookup_related(struct fw_state_table *t, const struct fw_packet *p, uint64_t now,
                                         unsigned *form)
{
    bool r = false;
    uint32_t *link = find_link_in(t, p, now, &r, true);
    if (link) {
        *form = r ? FW_NF_PRE_REV : FW_NF_PRE_FWD;
        return &t->mem.slots[*link];
    }
    return t->nat ? fw_nat_lookup(t->nat, t, p, now, true, form) : NULL;
}

void fw_state_remove(struct fw_state_table *t, struct fw_state *st)
{
    uint32_t i = (uint32_t)(st - t->mem.slots);
    uint32_t *link = &t->mem.buckets[fw_state_hash(t, st->proto, st->src, st->sport, st->dst, st->dport)];
    while (*link != FW_STATE_NIL && *link != i)
        link = &t->mem.slots[*link].next;
    if (*link == i) {
        free_slot(t, link, i);
        t->stats.removed++;
    }
}

uint32_t fw_state_expire(struct fw_state_table *t, uint64_t now)
{
    uint32_t n = 0;
    for (uint32_t b = 0; b < t->mem.nbuckets; b++) {
        uint32_t *link = &t->mem.buckets[b];
        while (*link != FW_STATE_NIL) {
            uint32_t i = *link;
            if (is_expired(&t->mem.slots[i], now)) {
                free_slot(t, link, i);
                n++;
            } else {
                link = &t->mem.slots[i].next;
            }
        }
    }
    t->stats.expired += n;
    return n;
}

/* ------------------------------------------------------- TCP and timers -- */

static uint64_t timeout_of(const struct fw_state_table *t, const struct fw_state *s)
{
    const struct fw_timeouts *to = &t->timeouts;
    switch (s->proto) {
    case FW_PROTO_UDP: return to->udp;
    case FW_PROTO_ICMP: return to->icmp;
    case FW_PROTO_TCP: break;
    default: return to->other;
    }
    switch (s->tcp) {
    case FW_TCP_ESTABLISHED: return to->tcp_established;
    case FW_TCP_FIN_WAIT: return to->tcp_fin_wait;
    case FW_TCP_CLOSING: return to->tcp_closing;
    case FW_TCP_TIME_WAIT: return to->tcp_time_wait;
    case FW_TCP_CLOSED: return to->tcp_closed;
    default: return to->tcp_embryonic;
    }
}

/*
 * The TCP state machine (diagram in fw_state.h).  side: 0 initiator, 1
 * responder.  The packet parser has already dropped impossible flag
 * combinations (SYN+FIN, SYN+RST, neither SYN nor ACK nor RST), so a packet
 * without SYN and RST here carries ACK.
 */
static int tcp_advance(struct fw_state *s, uint8_t fl, unsigned side)
{
    bool syn = fl & FW_TH_SYN, ack = fl & FW_TH_ACK;
    if (syn && !ack && (s->tcp == FW_TCP_TIME_WAIT || s->tcp == FW_TCP_CLOSED))
        return FW_ST_REOPEN;
    if (fl & FW_TH_RST) {
        s->tcp = FW_TCP_CLOSED;
        return FW_ST_PASS;
    }
    switch (s->tcp) {
    case FW_TCP_SYN_SENT:
        if (side == 0)
            return (syn && !ack) ? FW_ST_PASS : FW_ST_INVALID; /* only SYN retransmissions */
        if (!syn)
            return FW_ST_INVALID; /* the answer to a SYN is SYN+ACK (or SYN, or RST) */
        s->tcp = FW_TCP_SYN_RECV;
        return FW_ST_PASS;
    case FW_TCP_SYN_RECV:
        if (!syn)
            s->tcp = FW_TCP_ESTABLISHED;
        break;
    default:
        if (syn && (!ack || side == 0))
            return FW_ST_INVALID; /* a new SYN, or SYN+ACK from the initiator, mid-connection */
        break;
    }
    if ((fl & FW_TH_FIN) && s->tcp >= FW_TCP_ESTABLISHED && s->tcp <= FW_TCP_CLOSING) {
        s->fin |= (uint8_t)(1u << side);
        s->last_fin = (uint8_t)side;
        s->tcp = s->fin == 3 ? FW_TCP_CLOSING : FW_TCP_FIN_WAIT;
    } else if (s->tcp == FW_TCP_CLOSING && ack && side != s->last_fin) {
        s->tcp = FW_TCP_TIME_WAIT;
    }
    return FW_ST_PASS;
}

uint32_t fw_seqdiff_draw(const uint64_t key[2], uint64_t *counter)
{
    uint32_t d;
    do {
        uint64_t h = siphash16(key, (*counter)++, 0x6d6f64756c617465ull); /* "modulate" */
        d = (uint32_t)(h ^ (h >> 32));
    } while (d == 0);
    return d;
}

uint32_t fw_seqdiff_responder(const uint64_t key[2], uint32_t d0)
{
    uint64_t h = siphash16(key, d0, 0x726573706f6e6465ull); /* "responde(r)" */
    uint32_t d = (uint32_t)(h ^ (h >> 32));
    return d ? d : 1; /* one value in 2^32 is not worth a second draw: never 0 */
}

/* modulate state: the next initiator's offset, never 0. */
static uint32_t next_seqdiff(struct fw_state_table *t) { return fw_seqdiff_draw(t->mem.mod_key, &t->mod_counter); }

void fw_state_seqdiffs(const struct fw_state_table *t, const struct fw_state *st, uint32_t d[2])
{
    d[0] = d[1] = 0;
    if (!(st->flags & FW_SF_MODULATE))
        return;
    d[0] = st->seqdiff;
    d[1] = fw_seqdiff_responder(t->mem.mod_key, st->seqdiff);
}

void fw_state_modulation(const struct fw_state_table *t, const struct fw_state *st, const struct fw_packet *p,
                         bool reply, struct fw_modulate *m)
{
    *m = (struct fw_modulate){ 0 };
    if (!(st->flags & FW_SF_MODULATE) || p->proto != FW_PROTO_TCP)
        return;
    uint32_t d[2];
    fw_state_seqdiffs(t, st, d);
    unsigned side = reply ? 1 : 0;
    m->seq_add = d[side];
    if (p->tcp_flags & FW_TH_ACK)
        m->ack_sub = d[1 - side];
}

static void account(struct fw_state_table *t, struct fw_state *st, const struct fw_packet *p, unsigned side,
                    uint64_t now)
{
    if (side)
        st->flags |= FW_SF_REPLIED;
    st->packets[side]++;
    st->bytes[side] += p->len;
    st->expires = deadline(now, timeout_of(t, st));
}

int fw_state_update(struct fw_state_table *t, struct fw_state *st, const struct fw_packet *p, bool reply, uint64_t now)
{
    unsigned side = reply ? 1 : 0;
    if (p->proto == FW_PROTO_TCP) {
        int r = tcp_advance(st, p->tcp_flags, side);
        if (r == FW_ST_REOPEN)
            fw_state_remove(t, st);
        if (r != FW_ST_PASS)
            return r;
    }
    account(t, st, p, side, now);
    return FW_ST_PASS;
}

/* A free slot for a new state, reclaiming expired ones (at most once a
 * second when the table is full); FW_STATE_NIL if there is none. */
static uint32_t take_slot(struct fw_state_table *t, uint64_t now)
{
    if (t->free_head == FW_STATE_NIL && (t->last_full_sweep == 0 || now >= t->last_full_sweep + FW_SWEEP_PERIOD)) {
        t->last_full_sweep = now;
        (void)fw_state_expire(t, now);
    }
    uint32_t i = t->free_head;
    if (i != FW_STATE_NIL)
        t->free_head = t->mem.slots[i].next;
    return i;
}

int fw_state_insert(struct fw_state_table *t, const struct fw_packet *p, uint64_t now, uint16_t rule, uint32_t gen,
                    uint8_t sflags, struct fw_state **out)
{
    bool reply;
    if (p->dir != FW_IN && p->dir != FW_OUT)
        return FW_E_INVAL;
    if (find_link(t, p, now, &reply))
        return FW_E_EXISTS;
    uint32_t i = take_slot(t, now);
    if (i == FW_STATE_NIL) {
        t->stats.full++;
        return FW_E_FULL;
    }
    /* point of no return */
    struct fw_state *s = &t->mem.slots[i];
    memset(s, 0, sizeof *s);
    s->src = p->src;
    s->dst = p->dst;
    s->sport = p->sport;
    s->dport = p->dport;
    s->proto = p->proto;
    s->dir = p->dir;
    s->iface = p->iface;
    s->flags = sflags & (FW_SF_ALLOW_OPTS | FW_SF_LOG);
    if ((sflags & FW_SF_MODULATE) && p->proto == FW_PROTO_TCP &&
        (p->tcp_flags & (FW_TH_SYN | FW_TH_ACK)) == FW_TH_SYN) { /* from the first byte only, as pf */
        s->flags |= FW_SF_MODULATE;
        s->seqdiff = next_seqdiff(t);
    }
    s->rule = rule;
    s->gen = gen;
    s->srcn = FW_STATE_NIL;
    s->created = now;
    if (gen != t->rule_gen) { /* a new rule set: earlier states count against nothing */
        t->rule_gen = gen;
        memset(t->rule_live, 0, sizeof t->rule_live);
    }
    if (rule < FW_STATE_RULES)
        t->rule_live[rule]++;
    if (p->proto == FW_PROTO_TCP) {
        bool syn = p->tcp_flags & FW_TH_SYN, ack = p->tcp_flags & FW_TH_ACK;
        s->tcp = (syn && !ack) ? FW_TCP_SYN_SENT : FW_TCP_ESTABLISHED; /* else picked up mid-stream */
        if (!syn)
            (void)tcp_advance(s, p->tcp_flags, 0); /* a FIN or RST as first packet */
    }
    uint32_t *head = bucket_for_packet(t, p);
    s->next = *head;
    *head = i;
    t->count++;
    t->stats.inserted++;
    account(t, s, p, 0, now);
    if (out)
        *out = s;
    return FW_OK;
}

/* ------------------------------------------------- source rate limits -- */

static bool src_stale(const struct fw_src_node *n, uint32_t gen, uint64_t now)
{
    return !n->used || (n->live == 0 && (n->gen != gen || now - n->last >= n->window));
}

/* pf's decaying counter: the count falls linearly to 0 over one window. */
static void src_decay(struct fw_src_node *n, uint64_t now)
{
    uint64_t diff = now > n->last ? now - n->last : 0;
    if (diff >= n->window) {
        n->count = 0;
        return;
    }
    uint64_t diff_ms = diff / FW_NS_PER_MS, window_ms = n->window / FW_NS_PER_MS;
    n->count -= n->count * diff_ms / window_ms; /* count <= 1e9, diff_ms < 8.64e7: no overflow */
}

int fw_state_src_node(struct fw_state_table *t, uint32_t src, uint16_t rule, uint32_t gen, uint64_t now, uint32_t *idx)
{
    uint32_t spare = FW_STATE_NIL;
    uint32_t mask = t->mem.nsrcs - 1;
    uint32_t h = t->mem.nsrcs ? (uint32_t)siphash16(t->mem.seed, src, (uint64_t)rule << 32 | gen) : 0;
    for (uint32_t j = 0; j < FW_SRC_PROBE && j < t->mem.nsrcs; j++) {
        uint32_t k = (h + j) & mask;
        struct fw_src_node *n = &t->mem.srcs[k];
        if (n->used && n->addr == src && n->rule == rule && n->gen == gen) {
            *idx = k;
            return FW_OK;
        }
        if (spare == FW_STATE_NIL && src_stale(n, gen, now))
            spare = k;
    }
    if (spare == FW_STATE_NIL) {
        t->stats.src_full++;
        return FW_E_FULL;
    }
    t->mem.srcs[spare] = (struct fw_src_node){ .addr = src, .gen = gen, .rule = rule, .used = true, .last = now };
    *idx = spare;
    return FW_OK;
}

int fw_state_src_admit(struct fw_state_table *t, uint32_t src, uint16_t rule, uint32_t gen, uint32_t conns,
                       uint32_t secs, uint64_t now)
{
    uint32_t k;
    if (fw_state_src_node(t, src, rule, gen, now, &k) != FW_OK)
        return FW_E_FULL;
    struct fw_src_node *hit = &t->mem.srcs[k];
    hit->window = (uint64_t)secs * FW_NS_PER_SEC;
    src_decay(hit, now);
    hit->count += FW_SRC_UNIT;
    if (hit->count > ((uint64_t)conns + 1) * FW_SRC_UNIT)
        hit->count = ((uint64_t)conns + 1) * FW_SRC_UNIT;
    hit->last = now;
    if (hit->count > (uint64_t)conns * FW_SRC_UNIT) {
        t->stats.src_limited++;
        return FW_E_LIMIT;
    }
    return FW_OK;
}

uint32_t fw_state_rule_live(const struct fw_state_table *t, uint16_t rule, uint32_t gen)
{
    return gen == t->rule_gen && rule < FW_STATE_RULES ? t->rule_live[rule] : 0;
}

void fw_state_attach_src(struct fw_state_table *t, struct fw_state *st, uint32_t idx)
{
    if (idx >= t->mem.nsrcs || st->srcn != FW_STATE_NIL)
        return;
    st->srcn = idx;
    t->mem.srcs[idx].live++;
}

uint32_t fw_state_kill_src(struct fw_state_table *t, uint32_t src, uint16_t rule, uint32_t gen, bool global)
{
    uint32_t n = 0;
    for (uint32_t b = 0; b < t->mem.nbuckets; b++) {
        uint32_t *link = &t->mem.buckets[b];
        while (*link != FW_STATE_NIL) {
            struct fw_state *s = &t->mem.slots[*link];
            if (s->src == src && (global || (s->rule == rule && s->gen == gen))) {
                free_slot(t, link, *link);
                t->stats.removed++;
                n++;
            } else {
                link = &s->next;
            }
        }
    }
    return n;
}

const char *fw_tcp_state_name(unsigned s)
{
    static const char *const names[] = { "-",        "SYN_SENT", "SYN_RECV",  "ESTABLISHED",
                                         "FIN_WAIT", "CLOSING",  "TIME_WAIT", "CLOSED" };
    return s < sizeof names / sizeof names[0] ? names[s] : "?";
}
