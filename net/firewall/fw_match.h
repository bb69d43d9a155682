/*
 * fw_match.h - the classifier: IPv4 packet parsing and the verdict for one
 * packet (kept states first, then the rules, pf-style).
 *
 * How netd uses it, per packet, in its one loop:
 *
 *   struct fw_packet pkt;
 *   int rc = fw_parse_ether(frame, len, &pkt);      (or fw_parse_ipv4 on the IP header)
 *   if (rc == FW_PKT_NOT_IPV4)  -> not the firewall's business (ARP): go on
 *   if (rc < 0)                 -> fw_count_malformed(&eng, rc); drop (and maybe log)
 *   pkt.dir = FW_IN; pkt.iface = i;
 *   fw_filter(&eng, &pkt, now_ns, &v);
 *   if (v.log && fw_ratelimit_allow(&rl, now_ns)) print fw_log_format(...)
 *   v.action == FW_PASS ? deliver / forward : drop (v.return_ asks for an RST/unreachable)
 *
 * Forwarded packets are filtered twice, like pf: `in` on the interface they
 * arrive on, then `out` on the one they leave by.  The appliance's own
 * traffic is filtered once (in, or out).
 *
 * Fragments are never passed: netd does not reassemble before filtering
 * (a later fragment has no ports to match), so every fragment is dropped
 * with a reason, and lwIP must not fragment what it sends (its packets are
 * filtered before lwIP's ip4_frag would run: keep IP_FRAG off or the MTU).
 *
 * Not checked here: TCP/UDP/ICMP checksums (lwIP checks what it receives,
 * end hosts check what is forwarded), IP option contents (options are
 * blocked unless a rule says allow-opts).
 *
 * State: struct fw_engine holds pointers to the caller's active rule set,
 * state table and interface table, plus drop counters.  Nothing is global;
 * nothing is allocated; nothing here is thread-safe (one loop).
 */
#ifndef KEEL_FW_MATCH_H
#define KEEL_FW_MATCH_H

#include "fw_modulate.h"
#include "fw_nat.h"
#include "fw_rules.h"
#include "fw_state.h"

/* What fw_parse_ipv4 / fw_parse_ether make of a buffer.  Negative: drop. */
enum fw_pkt_result {
    FW_PKT_IPV4 = 0,            /* parsed: *out is filled */
    FW_PKT_NOT_IPV4 = 1,        /* fw_parse_ether only: another ethertype (ARP, IPv6, VLAN) */
    FW_PKT_E_TRUNCATED = -1,    /* buffer shorter than the IPv4 header or its total length */
    FW_PKT_E_VERSION = -2,      /* IP version is not 4 */
    FW_PKT_E_HDRLEN = -3,       /* IHL < 5, or the header is longer than the total length */
    FW_PKT_E_CHECKSUM = -4,     /* bad IPv4 header checksum */
    FW_PKT_E_IP_FLAGS = -5,     /* the reserved flag bit is set */
    FW_PKT_E_FRAG = -6,         /* a well-formed fragment: not reassembled, dropped */
    FW_PKT_E_FRAG_BAD = -7,     /* malformed fragment: DF with MF/offset, ends past 65535, MF and not 8-aligned */
    FW_PKT_E_FRAG_OVERLAP = -8, /* tiny or overlapping fragment (RFC 1858): L4 header cut or overwritten */
    FW_PKT_E_L4_TRUNCATED = -9, /* TCP/UDP/ICMP header longer than the IP payload */
    FW_PKT_E_TCP_HDRLEN = -10,  /* TCP data offset < 5 or past the payload */
    FW_PKT_E_TCP_FLAGS = -11,   /* SYN+FIN, SYN+RST, no SYN/ACK/RST, FIN/PSH/URG without ACK */
    FW_PKT_E_UDP_LEN = -12,     /* UDP length < 8 or longer than the IP payload */
    FW_PKT_E_SRC_ADDR = -13,    /* source is multicast or 255.255.255.255 */
};
#define FW_PKT_NREASONS 14 /* malformed[] index: -reason, 1..13 (0 unused) */

/* Why a verdict is what it is. */
enum fw_reason {
    FW_R_STATE = 1,   /* pass: the packet belongs to a kept state */
    FW_R_RELATED,     /* pass: an ICMP error about a kept state's packet */
    FW_R_RULE,        /* pass: a pass rule decided */
    FW_R_BLOCK_RULE,  /* block: a block (or antispoof) rule decided */
    FW_R_DEFAULT,     /* block: no rule matched */
    FW_R_INVALID,     /* block: not valid in its connection's TCP state */
    FW_R_STATE_FULL,  /* block: the pass rule keeps state and the table is full */
    FW_R_SRC_RATE,    /* block: max-src-conn-rate refused a new state */
    FW_R_IP_OPTIONS,  /* block: IP options, and neither rule nor state allows them */
    FW_R_STATE_LIMIT, /* block: the rule's state option max N is reached */
    FW_R_SRC_CONN,    /* block: max-src-conn N is reached for this source */
    FW_R_NAT,         /* block: a translation applies but cannot be made (no state, no free port, no address) */
    FW_R_LAST = FW_R_NAT,
};

struct fw_verdict {
    uint8_t action;         /* FW_PASS or FW_BLOCK */
    uint8_t reason;         /* enum fw_reason */
    bool log;               /* worth a log line (every block; passes by a `log` rule); rate-limit it */
    bool return_;           /* block return*: the caller should answer ... */
    bool return_rst;        /* ... with a TCP RST (else an ICMP unreachable) */
    uint8_t return_code;    /* ... the ICMP unreachable's code */
    uint16_t max_mss;       /* pass: clamp a TCP SYN's MSS option to this (fw_clamp_mss); 0: leave it */
    int rule;               /* index of the deciding rule in the active set, or -1 */
    unsigned line;          /* that rule's line in the configuration, or 0 */
    struct fw_xlate xl;     /* pass: how to rewrite the packet (fw_nat_rewrite); kind 0: leave it */
    struct fw_modulate mod; /* pass: modulate state's offsets (fw_modulate_ipv4); all 0: leave it */
};

struct fw_stats {
    uint64_t packets; /* classified by fw_filter */
    uint64_t passed, blocked;
    uint64_t state_passed;                 /* passed on a state (FW_R_STATE) */
    uint64_t related;                      /* FW_R_RELATED */
    uint64_t invalid;                      /* FW_R_INVALID */
    uint64_t state_full;                   /* FW_R_STATE_FULL */
    uint64_t src_limited;                  /* FW_R_SRC_RATE */
    uint64_t ip_options;                   /* FW_R_IP_OPTIONS */
    uint64_t state_limited;                /* FW_R_STATE_LIMIT */
    uint64_t src_conn_limited;             /* FW_R_SRC_CONN */
    uint64_t nat_failed;                   /* FW_R_NAT */
    uint64_t overloaded, flushed;          /* sources put in overload tables; their states removed */
    uint64_t orphan_packets, orphan_bytes; /* state packets whose rule set was replaced */
    uint64_t malformed[FW_PKT_NREASONS];   /* dropped before classification, by -reason */
};

/* The classifier's context: the caller's objects plus counters. */
struct fw_engine {
    struct fw_ruleset *rules;      /* the active set; swap with fw_ruleset_replace(&e->rules, &spare) */
    struct fw_state_table *states; /* initialised by fw_state_init */
    const struct fw_ifaces *ifaces;
    struct fw_stats stats;
};

/*
 * Parses an IPv4 packet starting at its header; len is the buffer's length
 * (it may exceed the packet's total length: link-layer padding).  Sets every
 * field of *out except dir and iface, which it leaves as they were.  Returns
 * FW_PKT_IPV4 or a negative enum fw_pkt_result (then *out is unspecified).
 * Reads only [ip, ip + min(len, total length)).
 */
FW_MUST_CHECK int fw_parse_ipv4(const uint8_t *ip, size_t len, struct fw_packet *out);

/* The same for an Ethernet II frame (14-byte header, no FCS).  Returns
 * FW_PKT_NOT_IPV4 for other ethertypes. */
FW_MUST_CHECK int fw_parse_ether(const uint8_t *frame, size_t len, struct fw_packet *out);

/* Counts a packet fw_parse_* refused (err < 0) in e->stats.malformed. */
void fw_count_malformed(struct fw_engine *e, int err);

/*
 * Evaluates the rules alone (no states, no counters but evaluations):
 * the index of the deciding rule, or -1 when none matches.
 */
int fw_rules_eval(struct fw_ruleset *rs, const struct fw_packet *p, const struct fw_ifaces *ifs);

/* Whether a TCP segment's flags are a combination pf's normalization
 * lets through: no SYN with FIN or RST, one of SYN/ACK/RST set, and FIN,
 * PSH or URG only with ACK (so SYN|PSH without ACK is malformed).  Both
 * families' parsers (fw6_match.c too). */
bool fw_tcp_flags_ok(uint8_t f);

/* True iff PORT (host order) satisfies a rule's port condition PT (pf's
 * `port` operators; FW_PORT_ANY and unknown operators match every port).
 * Both families' rules (fw6_match.c too). */
bool fw_port_match(const struct fw_port *pt, uint16_t port);

/*
 * The verdict for p (dir and iface set) at time now: a matching kept state
 * passes it; otherwise the rules decide, creating a state when a pass rule
 * says keep state.  Updates per-rule counters, states and e->stats.  When
 * the state (or the new state) translates, v->xl says how: the caller
 * applies it with fw_nat_rewrite before the packet goes on; when it is
 * modulated, v->mod says how, applied with fw_modulate_ipv4 (in either
 * order with the translation: fw_modulate.h).
 */
void fw_filter(struct fw_engine *e, const struct fw_packet *p, uint64_t now, struct fw_verdict *v);

/*
 * scrub (max-mss N): when IP (LEN bytes, a valid IPv4 packet as
 * fw_parse_ipv4 accepted it) is a TCP segment with SYN whose MSS option is
 * above MSS, lowers it to MSS and updates the TCP checksum incrementally
 * (RFC 1624).  Returns true iff it changed the packet.
 */
bool fw_clamp_mss(uint8_t *ip, size_t len, uint16_t mss);

/* The same on a TCP segment TH (LEN bytes from its header on), whatever
 * the IP version (the checksum update does not need the pseudo-header:
 * only option bytes change).  fw6_clamp_mss uses it for IPv6. */
bool fw_clamp_mss_tcp(uint8_t *th, size_t len, uint16_t mss);

/* Names for listings and logs ("bad IPv4 header checksum", "no rule matched"). */
const char *fw_pkt_reason_name(int err);
const char *fw_reason_name(unsigned reason);

#endif
