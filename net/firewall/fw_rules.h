/*
 * fw_rules.h - firewall rules: the pf-style grammar, the parsed rule set, and
 * replacing the active set at run time.
 *
 * Grammar (one rule per line; '#' starts a comment; keywords in this order):
 *
 *   rule      = action [in|out] [log] [quick] [on IFACE] [inet] [proto P]
 *               hosts [flags F] [state] [allow-opts]
 *   action    = pass | block [drop|return]
 *   P         = tcp | udp | icmp | NUMBER(0-255)
 *   hosts     = all | [from HOST] [to HOST]          (both omitted = all)
 *   HOST      = [!] (any | A.B.C.D | A.B.C.D/N) [port PORT] | port PORT
 *   PORT      = N | = N | != N | < N | <= N | > N | >= N
 *             | N:M (N..M inclusive) | N >< M (strictly between) | N <> M (outside)
 *   F         = any | X/Y | X     (letters FSRPAUEW; X/Y: of flags Y, exactly X set;
 *                                  X alone means X/FSRPAUEW)
 *   state     = no state
 *             | keep state [ "(" max-src-conn-rate N/S ")" ] [max-src-conn-rate N/S]
 *   antispoof = antispoof [log] [quick] for IFACE [inet]
 *
 * Meaning (pf's, with the DESIGN.md choice that no match means block):
 *  - Rules are evaluated in order; the last matching rule decides, unless a
 *    matching rule says `quick`, which decides at once.  No match: block.
 *  - Neither in nor out: both directions.  `on IFACE`: only packets on that
 *    interface (names come from the config's `interface NAME nic N` lines).
 *  - `port` needs proto tcp or udp.  `flags` needs proto tcp or no proto.
 *  - A packet that matches a kept state passes without rule evaluation.
 *  - `keep state` creates a state when a TCP SYN, a UDP datagram, an ICMP
 *    echo request or any other IP protocol's packet passes the rule.  As in
 *    pf, a keep-state rule that names no flags checks TCP packets with
 *    `flags S/SA`, so only a connection's first SYN creates its state.
 *    Unlike pf (since 4.1), pass rules do not keep state unless they say so:
 *    a state is a hole in the firewall and is only opened when written.
 *  - `max-src-conn-rate N/S`: at most N new states per S seconds from one
 *    source address through this rule; beyond that new ones are blocked.
 *  - `block return` asks the caller to answer (TCP RST, ICMP unreachable);
 *    the verdict says so, the engine itself sends nothing.
 *  - `antispoof for IFACE` blocks packets coming in on another interface
 *    with a source address in IFACE's network, and packets coming in with
 *    IFACE's own address as source (pf's expansion).  It is quick only when
 *    it says quick.  It uses the address netd keeps in struct fw_ifaces, so
 *    it matches nothing until the interface has an address.
 *  - Packets with IP options are blocked unless the deciding rule (or the
 *    state's rule) says allow-opts.
 *
 * Not supported (an error where written): lists `{ }`, macros, tables,
 * service names, IPv6 (`inet6`), `on ! IFACE`, NAT, `label`, `tag`.
 *
 * Memory: struct fw_ruleset is caller storage of fixed capacity; the parser
 * never allocates.  Counters in the rules are written by the classifier
 * (fw_match.c) from netd's single loop; nothing here is thread-safe.
 */
#ifndef KEEL_FW_RULES_H
#define KEEL_FW_RULES_H

#include "fw_types.h"

#define FW_MAX_RULES 512

enum fw_action {
    FW_PASS = 1,
    FW_BLOCK = 2,
};

/* struct fw_rule.flags */
#define FW_RF_QUICK      0x01u
#define FW_RF_KEEP_STATE 0x02u
#define FW_RF_LOG        0x04u
#define FW_RF_RETURN     0x08u /* block return */
#define FW_RF_ALLOW_OPTS 0x10u
#define FW_RF_ANTISPOOF  0x20u /* iface is the protected interface; addresses unused */

/* An address match: (a & mask) == addr, inverted by neg.  "any": mask 0, !neg. */
struct fw_addr {
    uint32_t addr; /* invariant: addr & ~mask == 0 */
    uint32_t mask; /* a prefix mask (leading ones) */
    bool neg;
};

enum fw_port_op {
    FW_PORT_ANY = 0,
    FW_PORT_EQ,      /* == lo */
    FW_PORT_NE,      /* != lo */
    FW_PORT_LT,      /* <  lo */
    FW_PORT_LE,      /* <= lo */
    FW_PORT_GT,      /* >  lo */
    FW_PORT_GE,      /* >= lo */
    FW_PORT_RANGE,   /* lo:hi, inclusive */
    FW_PORT_INSIDE,  /* lo >< hi, exclusive */
    FW_PORT_OUTSIDE, /* lo <> hi: < lo or > hi */
};
struct fw_port {
    uint8_t op;      /* enum fw_port_op */
    uint16_t lo, hi; /* invariant for the two-value ops: lo <= hi */
};

/* Written only by the classifier; reset when a rule set is parsed. */
struct fw_counters {
    uint64_t evaluations; /* times the rule was looked at */
    uint64_t packets;     /* packets it decided, plus packets of states it created */
    uint64_t bytes;       /* their IPv4 total lengths */
    uint64_t states;      /* states it created */
};

struct fw_rule {
    uint8_t action;   /* enum fw_action */
    uint8_t dir;      /* FW_IN, FW_OUT or FW_BOTH */
    uint8_t proto;    /* FW_PROTO_ANY or an IP protocol number */
    uint8_t flags;    /* FW_RF_* */
    int8_t iface;     /* index into struct fw_ifaces, or -1 for any */
    uint8_t tcp_mask; /* TCP packets match iff (flags & tcp_mask) == tcp_set; mask 0: any */
    uint8_t tcp_set;  /* invariant: tcp_set & ~tcp_mask == 0 */
    struct fw_addr src, dst;
    struct fw_port sport, dport; /* op != ANY only when proto is tcp or udp */
    uint32_t rate_conns;         /* max-src-conn-rate N/S; 0: no limit (then rate_secs 0) */
    uint32_t rate_secs;
    unsigned line; /* where it was written, for listings and logs */
    struct fw_counters c;
};

struct fw_ruleset {
    uint32_t generation; /* set by fw_ruleset_replace; states remember it */
    bool valid;          /* false after a parse error: replace refuses it */
    unsigned count;      /* <= FW_MAX_RULES */
    struct fw_rule rules[FW_MAX_RULES];
    struct fw_counters none; /* packets no rule matched (blocked by default) */
};

/*
 * Where parse errors go.  The caller fills ifaces, file (NULL means
 * "appliance.conf") and the message buffer err/errlen; on FW_E_SYNTAX the
 * parser writes "FILE:LINE:COLUMN: expected ..." there (cut to fit, always
 * NUL-terminated) and sets err_line/err_col (columns count bytes from 1).
 */
struct fw_parser {
    const struct fw_ifaces *ifaces; /* names `on` and `antispoof for` accept; may be NULL */
    const char *file;
    char *err;
    size_t errlen;
    unsigned err_line, err_col;
};

/* An empty, valid rule set (blocks everything); counters zero; generation 0. */
void fw_ruleset_init(struct fw_ruleset *rs);

/*
 * True iff the line's first word is pass, block or antispoof: the lines a
 * config parser hands to fw_parse_rule().  len excludes the newline.
 */
bool fw_is_rule_line(const char *line, size_t len);

/*
 * Parses one rule line (len bytes, no newline needed; a '\n' ends it) and
 * appends it to rs.  A comment-only or blank line adds nothing.
 * Returns FW_OK; FW_E_SYNTAX (message in p) or FW_E_FULL (too many rules,
 * message in p) and then marks rs invalid; FW_E_INVAL for NULL arguments.
 */
FW_MUST_CHECK int fw_parse_rule(struct fw_parser *p, struct fw_ruleset *rs, const char *line, size_t len,
                                unsigned lineno);

/*
 * Initialises rs and parses a whole configuration text: lines whose first
 * word is a rule keyword are rules; every other line (hostname, interface,
 * the inside of `{ }` blocks such as tls) is skipped, as it belongs to other
 * parsers.  Lines count from 1.  Returns as fw_parse_rule (the first error
 * stops the parse); on success rs is valid.
 */
FW_MUST_CHECK int fw_parse_ruleset(struct fw_parser *p, struct fw_ruleset *rs, const char *text, size_t len);

/*
 * Makes *candidate the active set and hands the previous one back in
 * *candidate (to be reused for the next parse).  Kept states are untouched:
 * established connections survive a reload.  The new set's generation is
 * the old one's plus one, so states of earlier sets no longer count against
 * its rules.  Returns FW_OK; FW_E_NOT_VALID if the candidate failed to parse
 * (nothing changes: the old set stays in force); FW_E_INVAL for NULL or
 * identical sets.  Call from the loop that classifies (no locking).
 */
FW_MUST_CHECK int fw_ruleset_replace(struct fw_ruleset **active, struct fw_ruleset **candidate);

/*
 * Writes rule r in the grammar above (parsing the text gives the same rule)
 * into buf, NUL-terminated, cut to fit.  Returns the length of the full text.
 */
size_t fw_rule_format(const struct fw_rule *r, const struct fw_ifaces *ifs, char *buf, size_t cap);

#endif
