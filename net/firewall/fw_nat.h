/*
 * fw_nat.h - network address translation, as pf does it: `nat-to` (source
 * translation with a port pool), `rdr-to` (destination translation: port
 * forwarding) and `binat-to` (1:1 both ways), carried by kept states.
 * IPv4 only.
 *
 * The model (pf's two state keys).  A translated state has two keys:
 *   pre   the connection's first packet as the filter first saw it (the
 *         state's key in fw_state.h: initiator -> responder);
 *   post  the same packet after translation.
 * For an `out` state (nat-to, binat-to) pre is the inside (stack) form and
 * post the wire form: src is replaced by the translation address and, for
 * nat-to, the source port (the ICMP echo identifier) by one from the pool.
 * For an `in` state (rdr-to) pre is the wire form and post the inside form:
 * dst (and the destination port) are replaced.  A packet of the state then
 * comes in one of two shapes:
 *   forward   same direction as the first packet, in pre form: rewritten
 *             to post;
 *   reply     the other direction, in post form reversed: rewritten to pre
 *             reversed.
 * A reply in pre form reversed (a host that writes to the private address
 * behind a nat-to) does not match: it meets the rules as a new packet.
 * ICMP errors quote a packet of the state in any of the four forms (pre or
 * post, forward or reversed); the quote is rewritten to the other key in
 * the same orientation, and the outer destination (the quoted source) with
 * it; the outer source too when it was the quoted destination (the end host
 * itself reporting).
 *
 * Where the keys live.  The state table (fw_state.c) hashes pre; this
 * module keeps post in a side table parallel to the state slots (side i
 * belongs to slot i) with hash chains of its own, so a reply finds its
 * state by post.  Invariants: side i is on a chain iff slot i is used and
 * has FW_SF_NAT; a side on a chain appears on exactly one chain, the one
 * its post key hashes to (fw_state_hash, the same hash as the state
 * table's, symmetric in the two ends); `in_use` counts the sides on chains.
 * fw_state.c calls fw_nat_unlink whenever it frees a slot with FW_SF_NAT,
 * so a side never outlives its state.
 *
 * Port pool (nat-to ADDR port LO:HI, default 50001:65535 as pf): a port is
 * free for (proto, ADDR, dst, dport) when no live state has that post key
 * and no live state has it as pre (the appliance's own connections from
 * ADDR).  The search starts at a random port of the pool and walks it
 * once, so distinct flows to one destination always get distinct ports
 * while the pool lasts; an exhausted pool refuses the new flow (counted),
 * never an old one.  lwIP's own ephemeral ports (49152-65535) are not
 * known here: a local connection opened later from a port the pool gave
 * out, to the same destination and port, is refused by the classifier
 * (its key is a translated state's wire key: FW_R_NAT).
 *
 * Checksums are fixed incrementally (RFC 1624, eqn. 3): IP header, TCP,
 * UDP (a zero UDP checksum stays zero), ICMP, and in an ICMP error the
 * quoted IP header, the quoted TCP/UDP checksum when the quote holds it
 * and the ICMP checksum over every quoted byte changed.
 *
 * Pure C, no allocation, no globals; single-threaded (netd's loop).
 */
#ifndef KEEL_FW_NAT_H
#define KEEL_FW_NAT_H

#include "fw_types.h"

struct fw_state_table;
struct fw_state;

/* Kinds of translation (struct fw_rule_nat.kind, struct fw_nat_side.kind). */
enum fw_nat_kind {
    FW_NAT_NONE = 0,
    FW_NAT_SNAT = 1,  /* nat-to: source address and port (pool) */
    FW_NAT_RDR = 2,   /* rdr-to: destination address and port */
    FW_NAT_BINAT = 3, /* binat-to, out half: source address only; its in half is an RDR rule */
};

/* The translated side of a state: addresses and ports in host order,
 * ICMP echo: the identifier in both ports, as the state key. */
struct fw_nat_key {
    uint32_t src, dst;
    uint16_t sport, dport;
};

/* One side per state slot (side i belongs to slot i). */
struct fw_nat_side {
    struct fw_nat_key post;
    uint32_t next; /* next side on its hash chain, FW_STATE_NIL at the end */
    uint8_t kind;  /* enum fw_nat_kind; FW_NAT_NONE while unlinked */
    uint16_t rule; /* the rule whose translation it is (listings) */
};

struct fw_nat_stats {
    uint64_t translations;   /* states made with a translation */
    uint64_t pool_exhausted; /* new flows refused: no free port in the pool */
    uint64_t no_address;     /* new flows refused: nat-to (IFACE) without an address */
    uint64_t rewritten;      /* packets rewritten */
    uint64_t icmp_errors;    /* of them, ICMP errors whose quote was rewritten */
};

struct fw_nat {
    struct fw_nat_side *sides; /* nsides == the state table's nslots */
    uint32_t nsides;
    uint32_t *buckets; /* chains of sides by post key */
    uint32_t nbuckets; /* a power of two */
    uint32_t in_use;   /* sides on chains */
    uint32_t rng;      /* xorshift32 state for the pools' start ports; never 0 */
    struct fw_nat_stats stats;
};

/* What to do to a passed packet: the header values it leaves with. */
enum fw_xlate_kind {
    FW_XL_NONE = 0,
    FW_XL_PACKET = 1,    /* rewrite src, dst, sport, dport */
    FW_XL_ICMP_ERROR = 2 /* rewrite the outer src/dst and the quoted packet's */
};
struct fw_xlate {
    uint8_t kind;            /* enum fw_xlate_kind */
    struct fw_nat_key out;   /* the packet's (outer) new addresses and ports (ICMP error: ports unused) */
    struct fw_nat_key inner; /* FW_XL_ICMP_ERROR: the quoted packet's new addresses and ports */
};

/* The four shapes a quoted (or any) packet of a translated state can have. */
enum fw_nat_form {
    FW_NF_PRE_FWD = 0,
    FW_NF_PRE_REV = 1,
    FW_NF_POST_FWD = 2,
    FW_NF_POST_REV = 3,
};

#define FW_NAT_POOL_LO 50001u /* pf's default nat-to port range */
#define FW_NAT_POOL_HI 65535u

/* Sets N up over the caller's sides (NSIDES, the state table's nslots) and
 * buckets (NBUCKETS, a power of two); SEED (any value) starts the port
 * choice.  FW_OK or FW_E_INVAL. */
FW_MUST_CHECK int fw_nat_init(struct fw_nat *n, struct fw_nat_side *sides, uint32_t nsides, uint32_t *buckets,
                              uint32_t nbuckets, uint32_t seed);

/* Unlinks every side (the state table was flushed). */
void fw_nat_reset(struct fw_nat *n);

/*
 * Gives state ST (a slot of T, just inserted) the translated key POST of
 * kind KIND from rule RULE, and marks it FW_SF_NAT.
 */
void fw_nat_link(struct fw_nat *n, struct fw_state_table *t, struct fw_state *st, const struct fw_nat_key *post,
                 uint8_t kind, uint16_t rule);

/* Removes slot SLOT's side from its chain (fw_state.c, when it frees it). */
void fw_nat_unlink(struct fw_nat *n, const struct fw_state_table *t, uint32_t slot);

/*
 * The live translated state P belongs to through its post key, or NULL:
 * a reply in post form reversed (*form FW_NF_POST_REV), or, when RELATED
 * (P stands for an ICMP error's quote), also a packet in post form forward
 * (FW_NF_POST_FWD).  ICMP echo keys match requests forward and replies
 * reversed only, as the state table's.
 */
struct fw_state *fw_nat_lookup(struct fw_nat *n, struct fw_state_table *t, const struct fw_packet *p, uint64_t now,
                               bool related, unsigned *form);

/*
 * A free port of [LO, HI] for a new post key (PROTO, ADDR:port -> DST:DPORT;
 * ICMP echo: the identifier in both ports, then DPORT is ignored).  FW_OK
 * with *PORT; FW_E_FULL when every port is taken (stats.pool_exhausted).
 */
FW_MUST_CHECK int fw_nat_pick_port(struct fw_nat *n, struct fw_state_table *t, uint8_t proto, uint32_t addr,
                                   uint32_t dst, uint16_t dport, uint16_t lo, uint16_t hi, uint64_t now,
                                   uint16_t *port);

/*
 * The translation of packet P found in translated state ST in shape FORM
 * (filter_by_state: forward = FW_NF_PRE_FWD, reply = FW_NF_POST_REV), into
 * *X: the packet's values in the other key, same orientation.
 */
void fw_nat_xlate_packet(const struct fw_state *st, const struct fw_nat_side *side, const struct fw_packet *p,
                         unsigned form, struct fw_xlate *x);

/* The same for an ICMP error P whose quote was found in ST in shape FORM. */
void fw_nat_xlate_error(const struct fw_state *st, const struct fw_nat_side *side, const struct fw_packet *p,
                        unsigned form, struct fw_xlate *x);

/* The bounds of the L4 part of the IPv4 packet at IP (LEN >= 20 bytes of
 * buffer; its total length counts only when shorter): the header length,
 * with *AVAIL the bytes after it; 0 when the header length is below 20
 * or beyond the packet.  For the rewrites after a verdict (fw_nat.c,
 * fw_modulate.c), which re-derive what fw_parse_ipv4 checked. */
size_t fw_ipv4_l4(const uint8_t *ip, size_t len, size_t *avail);

/*
 * Rewrites the IPv4 packet IP (LEN bytes, as fw_parse_ipv4 parsed it into
 * P) as X says, fixing every checksum incrementally.  Returns true iff it
 * changed the packet; false for FW_XL_NONE or a packet too short for the
 * fields (then nothing is changed).
 */
bool fw_nat_rewrite(uint8_t *ip, size_t len, const struct fw_packet *p, const struct fw_xlate *x);

/* RFC 1624 eqn. 3: the checksum CSUM (as stored, host order) after a
 * 16-bit word of the covered data changes from OLD to NEW. */
uint16_t fw_csum_fixup(uint16_t csum, uint16_t old, uint16_t new_);

/* "nat-to", "rdr-to", "binat-to" ("" for none). */
const char *fw_nat_kind_name(unsigned kind);

#endif
