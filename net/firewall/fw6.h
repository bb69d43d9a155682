/*
 * fw6.h - the firewall's IPv6 half: the IPv6 packet parser, the IPv6
 * addresses of the appliance's interfaces, the IPv6 state table and the
 * verdict for one IPv6 packet (kept states first, then the rules).
 *
 * The rules are the one rule set (fw_rules.h) the IPv4 half uses: a rule
 * whose family is inet6 (struct fw_rule.af == 6) or is not given (af == 0)
 * is evaluated for IPv6 packets, an inet rule never; its addresses are
 * fw_rule.src6/dst6 (a prefix, when the fw_addr kind is FW_ADDR_NET), a
 * table's IPv6 entries (fw_table.e6), an interface's IPv6 addresses or
 * networks (struct fw6_ifaces) or any of the appliance's (self).  pf's
 * meaning as for IPv4: last match wins, quick stops, no match blocks.
 *
 * Passed before the rules, always (docs/CONFIG.md lists them): what
 * neighbour discovery and path MTU discovery need, as ICMPv6 (RFC 4443,
 * RFC 4861, RFC 2710):
 *   - router solicitation/advertisement, neighbour solicitation and
 *     advertisement (133-136) with hop limit 255, the RFC 4861 proof that
 *     they never crossed a router;
 *   - MLD query/report/done (130-132, 143) from a link-local source with
 *     hop limit 1 (the solicited-node groups ND relies on);
 *   - packet too big (2), in and out and forwarded (path MTU discovery).
 * Everything else (echo included) needs a rule, as in IPv4.
 *
 * Dropped before classification (counted by reason): truncated packets,
 * a version other than 6, every fragment (as IPv4: nothing is reassembled),
 * routing headers of type 0 (RFC 5095), unknown extension headers before
 * the upper layer, bad TCP flag combinations, multicast sources.
 *
 * States: key (protocol, the two addresses and ports, in a direction-free
 * order), looked up for every packet before the rules; a pass rule that
 * keeps state (the default) creates one for a TCP SYN, a UDP datagram, an
 * ICMPv6 echo request or any other protocol's packet.  TCP states follow
 * the flags (opening, established, closing, closed) with pf's timeouts; no
 * sequence-window check (the IPv4 table does none either).  Floating
 * (any interface), as pf's default state policy.  A full table refuses new
 * states (the packet is blocked and counted), never an old one.
 *
 * State options, as IPv4's (fw_state.h) and checked in its order before a
 * state is made: `max N` (rule_live: live states per rule of the newest
 * rule-set generation), `max-src-conn-rate N/S` (a source node's decaying
 * count), `max-src-conn N` (a source node's live states); over a limit the
 * new state is refused (FW_R_STATE_LIMIT, FW_R_SRC_RATE, FW_R_SRC_CONN),
 * never an old one, and `overload <t>` adds the source to table t as an
 * IPv6 /128, `flush [global]` then removing its states (of the rule, or
 * all).  Source nodes: FW6_SRCS slots, FW6_SRC_PROBE probed per source; a
 * full probe window refuses the new state (stats.src_full).
 *
 * `block return`: the verdict carries return_, return_rst and return_code
 * (the ICMPv6 unreachable code, fw_rule.return_code6: 4, port, unless
 * `return-icmp6 (CODE)` or `return-icmp (CODE, CODE6)`); fw6_may_answer
 * and fw6_return_build are the caller's (netd_fw6.c) to send the answer.
 * `antispoof for I` (inet6 or no family): in on another interface from
 * one of I's IPv6 networks but the link-local one, or in on I from one of
 * its own addresses.  `scrub (max-mss N)`: the verdict's max_mss (pass
 * rules, match rules, and a state's packets as its first); the caller
 * applies fw6_clamp_mss.  Not done for IPv6: translation (conf_pf refuses
 * it in an inet6 rule; a rule for both families translates IPv4 only).
 *
 * modulate state (design in fw_state.h, offsets from the same functions as
 * IPv4's): a TCP state a modulate-state rule opens (always from a SYN
 * here) has FW6_SF_MODULATE and the initiator's offset; fw6_filter puts
 * the packet's rewrite in the verdict (v->mod) and the caller applies it
 * to the TCP header at l4off (fw_modulate_tcp).  ICMPv6 errors quoting a
 * modulated segment (packet too big too, which passes before the rules)
 * get the quote's numbers back through fw6_modulate_error, so path MTU
 * discovery keeps working.
 *
 * Pure C, no allocation, no globals; the caller owns every struct; time is
 * the caller's nanoseconds.  Host unit test: tests/unit/test_fw6.c.
 */
#ifndef KEEL_FW6_H
#define KEEL_FW6_H

#include "fw_rules.h"

#define FW_PROTO_ICMP6 58u
#define FW6_ADDRS      3 /* IPv6 addresses one interface holds (lwIP's LWIP_IPV6_NUM_ADDRESSES) */

/* What fw6_parse makes of a buffer; negative: drop. */
enum fw6_pkt_result {
    FW6_PKT_OK = 0,
    FW6_PKT_E_TRUNCATED = -1, /* shorter than the header or its payload length */
    FW6_PKT_E_VERSION = -2,   /* version is not 6 */
    FW6_PKT_E_FRAG = -3,      /* a fragment header: not reassembled, dropped */
    FW6_PKT_E_EXT = -4,       /* routing header type 0, or an unknown extension header */
    FW6_PKT_E_L4 = -5,        /* TCP/UDP/ICMPv6 header longer than the payload */
    FW6_PKT_E_TCP_FLAGS = -6, /* SYN+FIN, SYN+RST, no SYN/ACK/RST, FIN/PSH/URG without ACK */
    FW6_PKT_E_SRC = -7,       /* multicast source address */
};
#define FW6_PKT_NREASONS 8

/* An IPv6 packet as the rules see it (addresses in network order). */
struct fw6_packet {
    uint8_t dir;   /* FW_IN or FW_OUT: caller */
    uint8_t iface; /* index into the interface tables: caller */
    uint8_t proto; /* the upper-layer protocol after the extension headers */
    uint8_t tcp_flags;
    uint8_t hop_limit;
    uint8_t icmp_type, icmp_code; /* ICMPv6 */
    uint16_t sport, dport;        /* TCP/UDP; ICMPv6 echo: the identifier in both */
    uint32_t len;                 /* 40 + payload length: what byte counters add */
    uint16_t l4off;               /* the upper-layer header's offset from the IPv6 header */
    uint8_t src[16], dst[16];
};

/* The appliance's IPv6 addresses per interface (netd keeps them current). */
struct fw6_iface {
    uint8_t n; /* <= FW6_ADDRS */
    uint8_t prefix[FW6_ADDRS];
    uint8_t a[FW6_ADDRS][16];
};
struct fw6_ifaces {
    struct fw6_iface ifs[FW_MAX_IFACES];
};

/* TCP progress of a state. */
enum fw6_tcp {
    FW6_TCP_OPENING = 0, /* SYN seen, no answer yet */
    FW6_TCP_ESTABLISHED,
    FW6_TCP_CLOSING, /* a FIN seen */
    FW6_TCP_CLOSED,  /* FINs both ways or a RST */
};

#define FW6_STATES  1024 /* power of two */
#define FW6_BUCKETS 1024 /* power of two */
#define FW6_NONE    0xffffu

#define FW6_SF_MODULATE 0x01u /* struct fw6_state.flags: modulate state (as FW_SF_MODULATE, fw_state.h) */

struct fw6_state {
    uint8_t proto, tcp, fin; /* fin: bit 0 initiator's FIN, bit 1 responder's */
    uint8_t flags;           /* FW6_SF_* */
    uint16_t aport, bport;   /* initiator's, responder's */
    uint8_t a[16], b[16];    /* initiator, responder */
    uint16_t next;           /* bucket chain, or the free list; FW6_NONE ends it */
    uint16_t srcn;           /* its source node (max-src-conn), or FW6_NONE */
    uint16_t max_mss;        /* scrub (max-mss) of the creating rule(s), 0: none */
    int16_t rule;            /* rule index in set `generation`, -1: none */
    uint32_t generation;
    uint32_t seqdiff; /* FW6_SF_MODULATE: the initiator's offset (the responder's: fw_seqdiff_responder) */
    uint64_t expires; /* ns */
    uint64_t packets, bytes;
};

struct fw6_state_stats {
    uint64_t inserted, expired, full;
    uint64_t removed;     /* ended early: overload flush */
    uint64_t src_limited; /* new states refused: max-src-conn-rate */
    uint64_t src_full;    /* new states refused: no room in the source table */
};

/* Per-(source, rule) new-connection rate (max-src-conn-rate) and live
 * states (max-src-conn), as the IPv4 table's struct fw_src_node.  A node
 * with live states is never reused. */
#define FW6_SRCS 512 /* power of two */
struct fw6_src_node {
    uint8_t addr[16];
    bool used;
    int16_t rule;
    uint32_t gen;
    uint32_t live;   /* states of this source through this rule now */
    uint64_t last;   /* ns of the last new connection */
    uint64_t window; /* S in ns (0: the node counts live states only) */
    uint64_t count;  /* decaying count of recent connections, x1000 */
};

struct fw6_state_table {
    uint64_t key;        /* hash key (netd_rand) */
    uint64_t mod_key[2]; /* modulate state's key: secret, random, set by the caller after fw6_state_init */
    uint64_t mod_counter;
    unsigned count; /* states in use */
    uint16_t free;  /* free list head */
    uint16_t bucket[FW6_BUCKETS];
    struct fw6_state s[FW6_STATES];
    struct fw6_state_stats stats;
    /* Live states per rule of generation rule_gen (state option max N). */
    uint32_t rule_gen;
    uint32_t rule_live[FW_MAX_RULES];
    struct fw6_src_node srcs[FW6_SRCS];
};

struct fw6_stats {
    uint64_t packets, passed, blocked;
    uint64_t nd_passed; /* ND/MLD/packet-too-big passed before the rules */
    uint64_t state_passed, rule_passed, rule_blocked, default_blocked, state_full;
    uint64_t state_limited, src_limited, src_conn_limited; /* refused: max N, max-src-conn-rate, max-src-conn */
    uint64_t overloaded, flushed;                          /* sources put in overload tables; their states removed */
    uint64_t malformed[FW6_PKT_NREASONS];                  /* by -reason */
};

struct fw6_engine {
    struct fw_ruleset *rules; /* the active set (the IPv4 engine's) */
    struct fw6_state_table *states;
    const struct fw6_ifaces *ifaces;
    struct fw6_stats stats;
};

/* Parses the IPv6 packet at IP (LEN bytes; may exceed the packet: padding).
 * Sets every field but dir and iface.  FW6_PKT_OK or a negative result. */
FW_MUST_CHECK int fw6_parse(const uint8_t *ip, size_t len, struct fw6_packet *out);

/* Counts a parse failure. */
void fw6_count_malformed(struct fw6_engine *e, int err);

/* Empties T; KEY seeds its hash. */
void fw6_state_init(struct fw6_state_table *t, uint64_t key);

/* The state P belongs to (either direction), or NULL; an expired one is
 * removed and not returned.  *REPLY: P goes responder -> initiator. */
struct fw6_state *fw6_state_find(struct fw6_state_table *t, const struct fw6_packet *p, uint64_t now, bool *reply);

/* A new state for P (its source the initiator), or NULL when full. */
struct fw6_state *fw6_state_insert(struct fw6_state_table *t, const struct fw6_packet *p, int rule, uint32_t generation,
                                   uint64_t now);

/* Advances S by P (TCP flags) and sets its expiry. */
void fw6_state_update(struct fw6_state *s, const struct fw6_packet *p, bool reply, uint64_t now);

/* Removes every expired state; how many. */
unsigned fw6_state_expire(struct fw6_state_table *t, uint64_t now);

/* Live states of rule RULE of generation GEN (0 for another generation). */
uint32_t fw6_state_rule_live(const struct fw6_state_table *t, unsigned rule, uint32_t gen);

/* The source node of (SRC, RULE, GEN), made if need be: its index in *IDX.
 * FW_OK, or FW_E_FULL when its probe window has no free or stale node. */
FW_MUST_CHECK int fw6_state_src_node(struct fw6_state_table *t, const uint8_t src[16], unsigned rule, uint32_t gen,
                                     uint64_t now, unsigned *idx);

/* Counts one new connection from SRC through RULE with limit CONNS per
 * SECS seconds (pf's decaying counter).  FW_OK, FW_E_LIMIT (over the
 * rate) or FW_E_FULL (no room to track this source). */
FW_MUST_CHECK int fw6_state_src_admit(struct fw6_state_table *t, const uint8_t src[16], unsigned rule, uint32_t gen,
                                      uint32_t conns, uint32_t secs, uint64_t now);

/* Counts S against source node IDX until S ends. */
void fw6_state_attach_src(struct fw6_state_table *t, struct fw6_state *s, unsigned idx);

/* Removes the states whose initiator is SRC: of rule RULE of generation
 * GEN only, or all of them (GLOBAL), as pf's `overload <t> flush [global]`.
 * Returns how many. */
unsigned fw6_state_kill_src(struct fw6_state_table *t, const uint8_t src[16], unsigned rule, uint32_t gen, bool global);
/*
 * modulate state for IPv6 (fw_state.h has the design; IPv4's and IPv6's
 * offsets come from the same functions): *M for packet P (REPLY as
 * fw6_state_find said) of state S, all 0 when S is not modulated.
 */
struct fw_modulate;
void fw6_state_modulation(const struct fw6_state_table *t, const struct fw6_state *s, const struct fw6_packet *p,
                          bool reply, struct fw_modulate *m);

/*
 * An ICMPv6 error (destination unreachable, packet too big, time exceeded,
 * parameter problem) at IP (LEN bytes, parsed into P) quoting a TCP segment
 * of a modulated state, the TCP header right after the quoted IPv6 header:
 * the quote given back the numbers its sender wrote (fw_modulate_quote).
 * Returns true iff it changed the packet.
 */
bool fw6_modulate_error(struct fw6_state_table *t, uint8_t *ip, size_t len, const struct fw6_packet *p, uint64_t now);

/* ND, MLD and packet too big (the design comment): pass before the rules. */
bool fw6_is_nd(const struct fw6_packet *p);

/* The verdict for P (struct fw_verdict of fw_match.h: action, reason, log,
 * rule, line, return_/return_rst/return_code, max_mss; never xl). */
struct fw_verdict;
void fw6_filter(struct fw6_engine *e, const struct fw6_packet *p, uint64_t now, struct fw_verdict *v);

/* True iff A is one of the appliance's IPv6 addresses in IFS. */
bool fw6_is_self(const struct fw6_ifaces *ifs, const uint8_t a[16]);

/* May `block return` answer P at all?  Never to or from multicast or the
 * unspecified address, never to an ICMPv6 error (types below 128) or a
 * TCP RST. */
bool fw6_may_answer(const struct fw6_packet *p);

/*
 * `block return` for IPv6: builds the answer to the blocked packet IP (LEN
 * bytes, as fw6_parse accepted it into P) into OUT (CAP bytes): with RST a
 * TCP RST from P's destination to its source (RFC 9293 3.10.7: sequence
 * number the segment's acknowledgement if it had ACK, else 0 with ACK of
 * everything the segment occupied), otherwise an ICMPv6 destination
 * unreachable (RFC 4443 3.1) with CODE from SRC quoting as much of IP as
 * fits in 1280 bytes.  Hop limit 64; checksums over the IPv6
 * pseudo-header.  Returns the answer's length, 0 when CAP is too small or
 * RST is asked for a packet that is not TCP.
 */
size_t fw6_return_build(const uint8_t *ip, size_t len, const struct fw6_packet *p, bool rst, uint8_t code,
                        const uint8_t src[16], uint8_t *out, size_t cap);

#define FW6_RETURN_MAX 1280 /* the longest answer fw6_return_build makes (the IPv6 minimum MTU) */

/* The ones' complement sum for an IPv6 upper-layer checksum (RFC 8200
 * 8.1): the pseudo-header of SRC, DST, LEN bytes of protocol NH, plus
 * DATA; the value to store (0 for a correct packet's sum). */
uint16_t fw6_cksum(const uint8_t src[16], const uint8_t dst[16], uint8_t nh, const uint8_t *data, size_t len);

/* scrub (max-mss N) for IPv6: when P (parsed from IP, LEN bytes) is a TCP
 * SYN whose MSS option is above MSS, lowers it to MSS and updates the TCP
 * checksum incrementally (RFC 1624; the IPv6 pseudo-header is unchanged).
 * True iff it changed the packet. */
bool fw6_clamp_mss(uint8_t *ip, size_t len, const struct fw6_packet *p, uint16_t mss);

/* Table T's IPv6 entries: add ADDR/PREFIX (host bits cleared), match. */
FW_MUST_CHECK int fw_table_add6(struct fw_ruleset *rs, unsigned t, const uint8_t addr[16], unsigned prefix, bool neg);
bool fw_table_match6(const struct fw_ruleset *rs, unsigned t, const uint8_t addr[16]);

/* ADDR as RFC 5952 text into BUF (46 bytes suffice); returns BUF. */
char *fw6_ntop(const uint8_t addr[16], char *buf, size_t cap);

#endif
