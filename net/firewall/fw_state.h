/*
 * fw_state.h - connection tracking: the table of kept states.
 *
 * A state is created when a packet passes a `keep state` rule; from then on
 * packets of that connection, in both directions, pass on the state alone
 * (pf's semantics: the state is looked up before any rule).  A state is
 * keyed by the first packet: its protocol, addresses, ports (the ICMP echo
 * identifier for echo) and its direction (in or out).  A packet matches a
 * state either "forward" (same direction, same source and destination as
 * the first packet) or "reply" (the other direction, addresses and ports
 * swapped).  So a connection forwarded from wan to lan has two states, one
 * made when it came in on wan and one when it went out on lan, like pf.
 * States are floating: the interface is recorded but not matched.
 *
 * TCP states (one per connection, driven by the flags of both sides):
 *
 *   SYN_SENT --reply SYN(+ACK)--> SYN_RECV --ACK--> ESTABLISHED --FIN--> FIN_WAIT
 *   FIN_WAIT --FIN from the other side--> CLOSING --ACK of the last FIN--> TIME_WAIT
 *   any --RST--> CLOSED
 *
 * A SYN without ACK on a TIME_WAIT or CLOSED state ends it (port reuse: the
 * caller evaluates the rules again).  Packets that make no sense in the
 * current state (a non-SYN answer to a SYN, a new SYN on an established
 * connection, a SYN+ACK from the initiator) are invalid: the caller blocks
 * them.  Sequence numbers are not tracked (no window checks): an attacker
 * who can guess the ports of a connection can reset it.
 *
 * `modulate state` (pf's): a TCP state that a modulate-state rule makes
 * from a SYN (FW_SF_MODULATE) gets, for each side, a random non-zero
 * 32-bit offset d[side] (fw_state_seqdiffs).  Every packet of the state
 * from side s leaves with s's sequence number plus d[s] and its
 * acknowledgement number and SACK edges minus d[1 - s]
 * (fw_state_modulation says which; fw_modulate.h does it), so each end
 * sees a strong initial sequence number from the other however weak its
 * own stack's is (pf modulates both sides too).  A state picked up
 * mid-stream (`flags any`, no SYN) is never modulated: the offset must
 * apply from the first byte.  Other protocols: modulate state keeps state,
 * nothing more.  The initiator's offset d[0] is the next word of a
 * SipHash-2-4 keystream under mem.mod_key (random, from the RNG: the
 * offsets are exactly as secret as that key), stored in the state; the
 * responder's d[1] is SipHash of d[0] under the same key, computed when
 * needed, not stored: a slot stays 88 bytes (netd keeps 16384 of them in
 * a 7 MiB budget that has no 128 KiB to spare).  Listings may say that a
 * state is modulated but never show an offset.
 *
 * Sequence-window checks (pf's tcp_track_full) are not done, so no check
 * reads these numbers; one added later must compare each side's numbers
 * in one space: side s's sequence numbers as they leave (plus d[s]) with
 * the acknowledgements the other side sends back (as they arrive, before
 * d[s] is taken off).
 *
 * Timeouts (defaults below, in struct fw_timeouts, changeable after init)
 * restart with every packet of the state.  An expired state is reclaimed
 * when a lookup or insert walks past it, and by fw_state_expire(), which
 * netd should call about once a second.  Time is the caller's monotonic
 * clock in nanoseconds.
 *
 * Capacity: the caller provides the slots and the hash buckets.  When all
 * slots are in use by live states, fw_state_insert fails (counted in
 * stats.full) and the caller blocks the new connection: no live state is
 * ever evicted to make room.  The hash is SipHash-2-4 keyed by a caller
 * seed (take it from the RNG), so remote hosts cannot choose colliding keys.
 *
 * Source tracking for `max-src-conn-rate N/S`: a second small table of
 * per-(source, rule) rate counters (pf's decaying counter).  When its probe
 * window has no free or stale entry, new states from that source are
 * refused (counted in stats.src_full), never silently allowed.
 *
 * Single-threaded: every function runs in netd's loop; the table belongs
 * to the caller, who passes it to every call.
 */
#ifndef KEEL_FW_STATE_H
#define KEEL_FW_STATE_H

#include "fw_types.h"

#define FW_NS_PER_SEC 1000000000ull

enum fw_tcp_state {
    FW_TCP_NONE = 0, /* not TCP */
    FW_TCP_SYN_SENT,
    FW_TCP_SYN_RECV,
    FW_TCP_ESTABLISHED,
    FW_TCP_FIN_WAIT,  /* one side sent FIN */
    FW_TCP_CLOSING,   /* both sides sent FIN */
    FW_TCP_TIME_WAIT, /* the last FIN was acknowledged */
    FW_TCP_CLOSED,    /* reset */
};

/* Idle time after which a state expires, in ns. */
struct fw_timeouts {
    uint64_t tcp_embryonic;   /* SYN_SENT, SYN_RECV: 30 s */
    uint64_t tcp_established; /* 24 h */
    uint64_t tcp_fin_wait;    /* FIN_WAIT: 60 s */
    uint64_t tcp_closing;     /* CLOSING: 60 s */
    uint64_t tcp_time_wait;   /* 30 s */
    uint64_t tcp_closed;      /* after RST: 10 s */
    uint64_t udp;             /* 60 s */
    uint64_t icmp;            /* echo: 30 s */
    uint64_t other;           /* other IP protocols: 60 s */
};

/* struct fw_state.flags */
#define FW_SF_ALLOW_OPTS 0x01u /* created by an allow-opts rule */
#define FW_SF_REPLIED    0x02u /* a reply has been seen */
#define FW_SF_LOG        0x04u /* created by a `log` rule */
#define FW_SF_NAT        0x08u /* translated: its second key is in the NAT side table (fw_nat.h) */
#define FW_SF_MODULATE   0x10u /* modulate state: TCP sequence numbers offset by seqdiff (fw_state_insert sets it) */

#define FW_STATE_NIL 0xffffffffu

/* One kept state.  All fields are owned by the table's functions; callers
 * read them (listings) but never write. */
struct fw_state {
    /* key: the first packet */
    uint32_t src, dst;     /* initiator, responder */
    uint16_t sport, dport; /* ICMP echo: the identifier, twice */
    uint8_t proto;
    uint8_t dir;                   /* FW_IN or FW_OUT of the first packet; 0: slot free */
    uint8_t iface;                 /* where the first packet was (not matched: floating) */
    uint8_t tcp;                   /* enum fw_tcp_state */
    uint8_t fin;                   /* FIN seen: bit 0 from the initiator, bit 1 from the responder */
    uint8_t last_fin;              /* the side (0 initiator, 1 responder) whose FIN came last */
    uint8_t flags;                 /* FW_SF_* */
    uint16_t max_mss;              /* scrub (max-mss) of the creating rule, 0: none (set by fw_match.c) */
    uint16_t rule;                 /* index of the creating rule in its rule set */
    uint32_t gen;                  /* generation of that rule set */
    uint32_t srcn;                 /* its source node (max-src-conn), or FW_STATE_NIL */
    uint32_t next;                 /* next slot in the bucket's chain or the free list */
    uint32_t seqdiff;              /* FW_SF_MODULATE: the initiator's offset, never 0 (fw_state_seqdiffs) */
    uint64_t created, expires;     /* ns; live iff dir != 0 and expires > now */
    uint64_t packets[2], bytes[2]; /* [0] initiator->responder, [1] replies */
};

/* Per-(source, rule) new-connection rate (max-src-conn-rate) and live
 * states (max-src-conn).  A node with live states is never reused. */
struct fw_src_node {
    uint32_t addr;   /* source address */
    uint32_t gen;    /* rule-set generation */
    uint16_t rule;   /* rule index */
    bool used;       /* false: free */
    uint32_t live;   /* states of this source through this rule now */
    uint64_t last;   /* ns of the last new connection */
    uint64_t window; /* S in ns (0: the node counts live states only) */
    uint64_t count;  /* decaying count of recent connections, x1000 */
};

#define FW_STATE_RULES 512 /* per-rule live counts (max N): the rule set's FW_MAX_RULES */

struct fw_state_stats {
    uint64_t inserted;    /* states created */
    uint64_t expired;     /* states reclaimed after their timeout */
    uint64_t removed;     /* ended early: port reuse, flush */
    uint64_t full;        /* new states refused: table full */
    uint64_t src_limited; /* new states refused: max-src-conn-rate */
    uint64_t src_full;    /* new states refused: source table full */
};

/* The caller's memory for a table.  nslots <= 2^31; nbuckets a power of two;
 * srcs may be NULL (then rules with max-src-conn-rate refuse every state)
 * or nsrcs a power of two. */
struct fw_state_storage {
    struct fw_state *slots;
    uint32_t nslots;
    uint32_t *buckets;
    uint32_t nbuckets;
    struct fw_src_node *srcs;
    uint32_t nsrcs;
    uint64_t seed[2];    /* SipHash key: random, from the RNG */
    uint64_t mod_key[2]; /* modulate state's offsets: SipHash keystream key, random, from the RNG, secret */
};

struct fw_state_table {
    struct fw_state_storage mem; /* caller's memory, fixed at init */
    uint32_t count;              /* live or not yet reclaimed states in chains */
    uint32_t free_head;          /* free list through fw_state.next */
    uint64_t last_full_sweep;    /* ns: a full table sweeps at most once a second */
    struct fw_timeouts timeouts; /* defaults from init; the caller may change them */
    struct fw_state_stats stats;
    /* Live states per rule of generation rule_gen (state option max N);
     * states of other generations count against nothing. */
    uint32_t rule_gen;
    uint32_t rule_live[FW_STATE_RULES];
    /* Translations (fw_nat.h), or NULL: set by the caller after init, over
     * sides as many as the slots; states with FW_SF_NAT have one. */
    struct fw_nat *nat;
    uint64_t mod_counter; /* position in the offsets' keystream (mem.mod_key) */
};

/* What modulate state does to one packet (fw_modulate.h applies it; all 0:
 * nothing).  Additions and subtractions are mod 2^32. */
struct fw_modulate {
    uint32_t seq_add;       /* TCP: added to the sequence number */
    uint32_t ack_sub;       /* TCP with ACK: taken from the acknowledgement number and every SACK edge */
    uint32_t quote_seq_sub; /* ICMP error: taken from the quoted TCP segment's sequence number */
    uint32_t quote_ack_add; /* ... and added to its acknowledgement number (with ACK), when quoted */
};

/* What a packet does to the state it matched. */
enum fw_state_result {
    FW_ST_PASS = 0,    /* valid: pass */
    FW_ST_INVALID = 1, /* not valid in the state's TCP state: block */
    FW_ST_REOPEN = 2,  /* a new SYN on a finished connection: the state is gone, evaluate rules */
};

/*
 * Sets t up over the caller's storage: every slot free, default timeouts.
 * Returns FW_OK or FW_E_INVAL (NULL memory, zero sizes, nbuckets or nsrcs
 * not a power of two).
 */
FW_MUST_CHECK int fw_state_init(struct fw_state_table *t, const struct fw_state_storage *mem);

/*
 * The live state p belongs to, or NULL.  *reply says whether p travels
 * against the state's first packet.  Expired states met on the way are
 * reclaimed.  Does not change the state (see fw_state_update).
 */
struct fw_state *fw_state_lookup(struct fw_state_table *t, const struct fw_packet *p, uint64_t now, bool *reply);

/*
 * The state whose (translated or not) connection an ICMP error quotes: P
 * stands for the quoted packet.  Unlike fw_state_lookup it also finds a
 * translated state from a quote in any of its four shapes; *FORM says
 * which (enum fw_nat_form; FW_NF_PRE_FWD/PRE_REV for untranslated states).
 */
struct fw_state *fw_state_lookup_related(struct fw_state_table *t, const struct fw_packet *p, uint64_t now,
                                         unsigned *form);

/* The hash bucket of a connection's key (either direction gives the same). */
uint32_t fw_state_hash(const struct fw_state_table *t, uint8_t proto, uint32_t a, uint16_t ap, uint32_t b, uint16_t bp);

/*
 * Accounts packet p (found by fw_state_lookup with this reply value) to st:
 * advances the TCP state machine, counters and timeout.  Returns an
 * enum fw_state_result; on FW_ST_REOPEN st has been freed (do not use it).
 */
FW_MUST_CHECK int fw_state_update(struct fw_state_table *t, struct fw_state *st, const struct fw_packet *p, bool reply,
                                  uint64_t now);

/*
 * Creates the state for p (the first packet of a connection, which has
 * passed rule `rule` of rule-set generation gen; sflags FW_SF_*), already
 * accounting p.  A TCP SYN starts in SYN_SENT; any other TCP packet (a rule
 * with `flags any`) starts ESTABLISHED.  FW_SF_MODULATE is kept only for a
 * TCP SYN (the initiator's offset is chosen then); other packets keep
 * state plainly.  *out (may be NULL) gets the state.
 * Returns FW_OK, FW_E_EXISTS (p already has a live state), FW_E_FULL (no
 * free slot even after reclaiming expired ones: counted in stats.full).
 */
FW_MUST_CHECK int fw_state_insert(struct fw_state_table *t, const struct fw_packet *p, uint64_t now, uint16_t rule,
                                  uint32_t gen, uint8_t sflags, struct fw_state **out);

/*
 * modulate state's offsets, for the IPv4 and the IPv6 table: the next
 * initiator's offset of the SipHash keystream under KEY at *COUNTER
 * (advanced), and the responder's offset that goes with initiator's offset
 * D0.  Neither is ever 0.
 */
uint32_t fw_seqdiff_draw(const uint64_t key[2], uint64_t *counter);
uint32_t fw_seqdiff_responder(const uint64_t key[2], uint32_t d0);

/*
 * The offsets of a modulated state ST of T: D[0] the initiator's, D[1]
 * the responder's, both non-zero; both 0 for a state without
 * FW_SF_MODULATE.
 */
void fw_state_seqdiffs(const struct fw_state_table *t, const struct fw_state *st, uint32_t d[2]);

/*
 * What modulate state does to packet P (found by fw_state_lookup with this
 * REPLY value, after fw_state_update passed it) of ST in T: *M is all zero
 * for a state that is not modulated or a packet that is not TCP.
 */
void fw_state_modulation(const struct fw_state_table *t, const struct fw_state *st, const struct fw_packet *p,
                         bool reply, struct fw_modulate *m);

/* Frees st at once (counted as removed). */
void fw_state_remove(struct fw_state_table *t, struct fw_state *st);

/* Reclaims every expired state; returns how many.  Call about once a second. */
uint32_t fw_state_expire(struct fw_state_table *t, uint64_t now);

/* Frees every state (pfctl -F states). */
void fw_state_flush(struct fw_state_table *t);

/* True iff slot s holds a live state at time now (for listings: walk mem.slots). */
bool fw_state_is_live(const struct fw_state *s, uint64_t now);

/*
 * Counts one new connection from src through rule (of generation gen) with
 * limit conns per secs seconds.  Returns FW_OK (allowed), FW_E_LIMIT (over
 * the rate: stats.src_limited) or FW_E_FULL (no room to track this source:
 * stats.src_full).  Call before fw_state_insert for rules with a rate.
 */
FW_MUST_CHECK int fw_state_src_admit(struct fw_state_table *t, uint32_t src, uint16_t rule, uint32_t gen,
                                     uint32_t conns, uint32_t secs, uint64_t now);

/*
 * The source node of (src, rule, gen), made if need be: its index in *IDX.
 * FW_OK, or FW_E_FULL when the probe window has no free or stale node
 * (stats.src_full).
 */
FW_MUST_CHECK int fw_state_src_node(struct fw_state_table *t, uint32_t src, uint16_t rule, uint32_t gen, uint64_t now,
                                    uint32_t *idx);

/* Live states of rule RULE of generation GEN (0 for another generation). */
uint32_t fw_state_rule_live(const struct fw_state_table *t, uint16_t rule, uint32_t gen);

/* Counts ST against source node IDX (from fw_state_src_node) until ST ends. */
void fw_state_attach_src(struct fw_state_table *t, struct fw_state *st, uint32_t idx);

/*
 * Removes the states whose source is SRC: of rule RULE of generation GEN
 * only, or all of them (GLOBAL), as pf's `overload <t> flush [global]`.
 * Returns how many.  Walks every slot.
 */
uint32_t fw_state_kill_src(struct fw_state_table *t, uint32_t src, uint16_t rule, uint32_t gen, bool global);

/* "SYN_SENT", "ESTABLISHED", ... for listings. */
const char *fw_tcp_state_name(unsigned s);

#endif
