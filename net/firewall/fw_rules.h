/*
 * fw_rules.h - the firewall's compiled rule set: rules with their counters,
 * tables, replacing the active set at run time, and printing a rule.
 *
 * The rules come from appliance.conf through the one parser
 * (appliance/config/conf_pf.h: pf's grammar, macros and lists expanded);
 * fw_conf.h compiles that into this form.  Meaning (pf's, with the
 * DESIGN.md choice that no match means block):
 *  - Rules are evaluated in order; the last matching rule decides, unless a
 *    matching rule says `quick`, which decides at once.  No match: block.
 *    `match` rules (FW_MATCH) are evaluated and counted but never decide.
 *  - Neither in nor out: both directions.  `on IFACE`: only packets on that
 *    interface (the index into struct fw_ifaces).
 *  - A packet that matches a kept state passes without rule evaluation.
 *  - Pass rules keep state unless they say `no state` (pf's default); a
 *    state is created when a TCP packet matching the rule's flags (S/SA by
 *    default), a UDP datagram, an ICMP echo request or any other protocol's
 *    packet passes.
 *  - `max-src-conn-rate N/S`: at most N new states per S seconds from one
 *    source address through this rule; beyond that new ones are blocked.
 *  - `block return` (RST for TCP, ICMP port unreachable otherwise),
 *    `return-rst` (TCP only) and `return-icmp (CODE)` ask the caller to
 *    answer; the verdict says how, the engine itself sends nothing.
 *  - `antispoof for IFACE` blocks packets coming in on another interface
 *    with a source address in IFACE's network, and packets coming in with
 *    IFACE's own address as source (pf's expansion).
 *  - Addresses: a prefix, a table (longest prefix wins; a negated entry
 *    that wins means "not in the table", as pf), an interface's address or
 *    network now (from struct fw_ifaces, which netd keeps current), or any
 *    address of the appliance (self).
 *  - Packets with IP options are blocked unless the deciding rule (or the
 *    state's rule) says allow-opts.
 *
 * Tables belong to the rule set: a reload replaces them with the
 * configuration's contents (as pfctl -f does); fw_table_add/delete change
 * the active set's table at once (the console's `table NAME add`).
 *
 * Memory: struct fw_ruleset is caller storage of fixed capacity (rules and
 * tables); nothing allocates.  Counters in the rules are written by the
 * classifier (fw_match.c) from netd's single loop; nothing here is
 * thread-safe.
 */
#ifndef KEEL_FW_RULES_H
#define KEEL_FW_RULES_H

#include "fw_types.h"

#define FW_MAX_RULES 512

#define FW_MAX_TABLES 32    /* tables in a rule set */
#define FW_TABLE_SIZE 128   /* addresses in one table (netd holds two rule sets in its 4 MiB segment) */
#define FW_TABLE_NAME 32    /* with the NUL */
#define FW_LABEL_MAX  64    /* with the NUL */
#define FW_LABEL_TEXT 16384 /* bytes of labels in a rule set (rules of one list share theirs) */
#define FW_ICMP_ANY   0xffffu

enum fw_action {
    FW_PASS = 1,
    FW_BLOCK = 2,
    FW_MATCH = 3, /* evaluated, never decides */
};

/* struct fw_rule.flags */
#define FW_RF_QUICK        0x001u
#define FW_RF_KEEP_STATE   0x002u
#define FW_RF_LOG          0x004u
#define FW_RF_RETURN       0x008u /* block return: RST for TCP, ICMP unreachable (return_code) otherwise */
#define FW_RF_ALLOW_OPTS   0x010u
#define FW_RF_ANTISPOOF    0x020u /* iface is the protected interface; addresses unused */
#define FW_RF_RETURN_RST   0x040u /* block return-rst: RST for TCP, nothing otherwise */
#define FW_RF_RETURN_ICMP  0x080u /* block return-icmp: ICMP unreachable (return_code) for every protocol */
#define FW_RF_DROP         0x100u /* block drop written out (for listings) */
#define FW_RF_RETURN_ICMP6 0x200u /* block return-icmp6 written (listings); acts as FW_RF_RETURN_ICMP */
#define FW_RF_MODULATE     0x400u /* with KEEP_STATE: modulate state (TCP sequence numbers, fw_state.h) */

enum fw_addr_kind {
    FW_ADDR_NET = 0,    /* (a & mask) == addr; any: mask 0 */
    FW_ADDR_TABLE = 1,  /* index: table of the rule set */
    FW_ADDR_IFADDR = 2, /* index: interface; its address now */
    FW_ADDR_IFNET = 3,  /* index: interface; its network now */
    FW_ADDR_SELF = 4,   /* any address of the appliance's interfaces */
};

/* An address match, inverted by neg.  "any": NET with mask 0, !neg. */
struct fw_addr {
    uint32_t addr; /* NET: invariant addr & ~mask == 0 */
    uint32_t mask; /* NET: a prefix mask (leading ones) */
    uint8_t kind;  /* enum fw_addr_kind */
    uint8_t index; /* TABLE, IFADDR, IFNET */
    bool neg;
};

/* A table: addresses and prefixes; the longest matching entry decides,
 * and a negated one that decides means "not in the table". */
struct fw_table_entry {
    uint32_t addr; /* no bits beyond prefix */
    uint8_t prefix;
    bool neg;
};
/* IPv6 entries (fw6.h: fw_table_add6, fw_table_match6). */
#define FW_TABLE6_SIZE 32
struct fw_table6_entry {
    uint8_t addr[16]; /* network order, no bits beyond prefix */
    uint8_t prefix;
    bool neg;
};
struct fw_table {
    char name[FW_TABLE_NAME];
    bool persist, konst;
    uint16_t n; /* <= FW_TABLE_SIZE */
    struct fw_table_entry e[FW_TABLE_SIZE];
    uint16_t n6; /* <= FW_TABLE6_SIZE */
    struct fw_table6_entry e6[FW_TABLE6_SIZE];
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

/*
 * A rule's translation (fw_nat.h; pf's nat-to, rdr-to, binat-to).  The
 * address is a host (NET, mask all ones) or an interface's address now
 * (IFADDR).  nat-to: source port from the pool lo..hi; rdr-to: lo 0 keeps
 * the destination port, lo == hi sets it, lo < hi maps the rule's
 * destination port range onto lo..hi as pf does; binat-to: no ports.
 */
struct fw_rule_nat {
    uint8_t kind;      /* enum fw_nat_kind (fw_nat.h); 0: none */
    uint8_t addr_kind; /* FW_ADDR_NET or FW_ADDR_IFADDR */
    uint8_t index;     /* IFADDR: the interface */
    uint32_t addr;     /* NET: the address */
    uint16_t lo, hi;
    uint64_t states; /* states made with this translation (written by the classifier) */
};

/* Written only by the classifier; reset when a rule set is parsed. */
struct fw_counters {
    uint64_t evaluations; /* times the rule was looked at */
    uint64_t packets;     /* packets it decided, plus packets of states it created */
    uint64_t bytes;       /* their IPv4 total lengths */
    uint64_t states;      /* states it created */
};

struct fw_rule {
    uint8_t action;      /* enum fw_action */
    uint8_t dir;         /* FW_IN, FW_OUT or FW_BOTH */
    uint8_t proto;       /* FW_PROTO_ANY or an IP protocol number */
    uint8_t return_code; /* FW_RF_RETURN(_ICMP): the ICMP unreachable code */
    uint16_t flags;      /* FW_RF_* */
    int8_t iface;        /* index into struct fw_ifaces, or -1 for any */
    uint8_t tcp_mask;    /* TCP packets match iff (flags & tcp_mask) == tcp_set; mask 0: any */
    uint8_t tcp_set;     /* invariant: tcp_set & ~tcp_mask == 0 */
    struct fw_addr src, dst;
    struct fw_port sport, dport;   /* op != ANY only when proto is tcp or udp */
    uint16_t icmp_type, icmp_code; /* FW_ICMP_ANY or the value (proto icmp) */
    uint32_t rate_conns;           /* max-src-conn-rate N/S; 0: no limit (then rate_secs 0) */
    uint32_t rate_secs;
    uint32_t max_states;    /* state option max N; 0: none */
    uint32_t max_src_conn;  /* max-src-conn N; 0: none */
    int8_t overload;        /* overload <table>: its index, or -1 */
    uint8_t flush;          /* ... flush: 0 none, 1 this rule's states of the source, 2 all (global) */
    uint16_t max_mss;       /* scrub (max-mss N): TCP SYNs it (or its states) pass carry MSS <= N; 0: none */
    uint16_t label;         /* offset + 1 of its label in the set's label_text; 0: none */
    unsigned line;          /* where it was written, for listings and logs */
    struct fw_rule_nat nat; /* translation; nat.kind 0: none */
    struct fw_counters c;
    /* Family (fw6.h): 0 both, 4 inet (IPv4 packets only), 6 inet6 (IPv6
     * only).  src6/dst6: the prefix when src/dst is FW_ADDR_NET and af is 6. */
    uint8_t af;
    uint8_t return_code6; /* FW_RF_RETURN(_ICMP): the ICMPv6 unreachable code for IPv6 packets (4: port) */
    struct fw_net6 {
        uint8_t a[16]; /* network order, no bits beyond prefix */
        uint8_t prefix;
    } src6, dst6;
};

struct fw_ruleset {
    uint32_t generation; /* set by fw_ruleset_replace; states remember it */
    bool valid;          /* false after a failed compile: replace refuses it */
    unsigned count;      /* <= FW_MAX_RULES */
    struct fw_rule rules[FW_MAX_RULES];
    struct fw_counters none; /* packets no rule matched (blocked by default) */
    unsigned n_tables;       /* <= FW_MAX_TABLES */
    struct fw_table tables[FW_MAX_TABLES];
    size_t label_len; /* bytes used in label_text: NUL-terminated labels */
    char label_text[FW_LABEL_TEXT];
};

/* An empty, valid rule set (blocks everything); counters zero; generation 0. */
void fw_ruleset_init(struct fw_ruleset *rs);

/* Appends R (its counters zeroed) with label LABEL ("" or NULL: none).
 * FW_E_FULL when FW_MAX_RULES are there or the labels do not fit. */
FW_MUST_CHECK int fw_ruleset_add(struct fw_ruleset *rs, const struct fw_rule *r, const char *label);

/* Rule R's label ("" when none). */
const char *fw_rule_label(const struct fw_ruleset *rs, const struct fw_rule *r);

/* The table named NAME (LEN bytes), or -1. */
int fw_table_find(const struct fw_ruleset *rs, const char *name, size_t len);

/* Adds an empty table NAME; its index, or FW_E_FULL / FW_E_EXISTS / FW_E_INVAL (name too long). */
FW_MUST_CHECK int fw_table_new(struct fw_ruleset *rs, const char *name, bool persist, bool konst);

/* Adds ADDR/PREFIX (NEG: an exception) to table T (host bits cleared).
 * FW_OK; FW_E_EXISTS (already there: nothing changes); FW_E_FULL; FW_E_INVAL. */
FW_MUST_CHECK int fw_table_add(struct fw_ruleset *rs, unsigned t, uint32_t addr, unsigned prefix, bool neg);

/* Removes ADDR/PREFIX from table T.  FW_OK, FW_E_NOT_FOUND, FW_E_INVAL. */
FW_MUST_CHECK int fw_table_delete(struct fw_ruleset *rs, unsigned t, uint32_t addr, unsigned prefix);

/* Removes every address of table T. */
void fw_table_flush(struct fw_ruleset *rs, unsigned t);

/* True iff ADDR is in table T (longest prefix; a negated winner says no). */
bool fw_table_match(const struct fw_ruleset *rs, unsigned t, uint32_t addr);

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
 * Writes rule r the way pfctl -sr prints a rule (pf's canonical form), with
 * interface names from IFS and table names from RS (either may be NULL),
 * into buf, NUL-terminated, cut to fit.  Returns the length of the full text.
 */
size_t fw_rule_format(const struct fw_rule *r, const struct fw_ifaces *ifs, const struct fw_ruleset *rs, char *buf,
                      size_t cap);

#endif
