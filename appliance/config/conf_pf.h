/*
 * conf_pf.h - appliance.conf's firewall statements: pf.conf(5)'s grammar
 * for what Keel implements, parsed into plain rules with every macro and
 * list expanded (the form netd compiles into its engine).
 *
 * Statements (one per line, in the order written; docs/CONFIG.md has the
 * whole grammar with examples):
 *
 *   NAME = VALUE                     a macro: VALUE is "text", a word or a
 *                                    $macro, several joined by blanks;
 *                                    $NAME in a later firewall line is
 *                                    replaced by its text (pf's lexer does
 *                                    the same), so VALUE may hold a list
 *   table <NAME> [persist] [const] [{ ADDR, !ADDR, ... }]
 *   set block-policy drop|return
 *   set skip on IFACE | { IFACE, ... }
 *   antispoof [log] [quick] for IFACE|{ ... } [inet|inet6]
 *   pass|block|match ...             filter and translation rules
 *
 * A rule, as pf.conf(5) orders it:
 *
 *   ACTION [in|out] [log] [quick] [on IFACE|any|{ ... }] [inet|inet6]
 *          [proto P|{ P, ... }] (all | [from HOST] [to HOST]) OPTION...
 *   ACTION  pass | match | block [drop | return | return-rst |
 *           return-icmp [(CODE)] | return-icmp6 [(CODE)]]
 *   HOST    [!] ADDR [port PORT] | port PORT, with ADDR or PORT a { list }
 *   ADDR    any | self | A.B.C.D[/N] | IPv6[/N] | <table> | (IFACE) | IFACE
 *           | IFACE:network
 *   PORT    N | OP N | N:M | N >< M | N <> M   (OP: = != < <= > >=)
 *   OPTION  flags X/Y | flags any | icmp-type T [code C] | icmp6-type T
 *           [code C] | label "text" | allow-opts | no state | keep state
 *           [(SOPT, ...)] | modulate state [(SOPT, ...)] | scrub (max-mss N)
 *           | nat-to ADDR [port N[:M]] | rdr-to ADDR [port N[:M]] |
 *           binat-to ADDR   (IPv4; ADDR one address or (IFACE); a
 *           translating pass rule keeps state; binat-to from one host)
 *   SOPT    max N | max-src-conn N | max-src-conn-rate N/S |
 *           overload <table> [flush [global]]
 *
 * Lists are expanded as pf expands them: one rule per combination of
 * interface, protocol, source address, source port, destination address,
 * destination port and ICMP type, in that nesting order; a "!" written
 * before a list applies to each of its members.  Meaning: pf's (the last
 * matching rule decides unless `quick`; pass rules keep state with flags
 * S/SA unless they say `no state`), except that a packet no rule matches is
 * blocked (DESIGN.md), and `match` rules only carry translations.
 *
 * Refused with FILE:LINE:COLUMN (the column of the word, or of the $macro
 * it came from): pf's invalid rulesets, and every pf construct Keel does
 * not implement, named as unsupported ("\"route-to\" is not supported by
 * Keel").
 *
 * Use: conf_parse (conf.h) keeps each firewall statement's text and checks
 * it here; a consumer walks them with conf_pf_walk and gets every rule,
 * table and option through its callbacks, in file order.
 *
 * Pure C; no allocation, no globals; includes no server's header.
 */
#ifndef KEEL_APPLIANCE_CONF_PF_H
#define KEEL_APPLIANCE_CONF_PF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf_addr.h"

struct conf;

#define CONF_PF_MAX_RULES   512 /* after expansion; the engine's FW_MAX_RULES */
#define CONF_PF_MAX_TABLES  32  /* tables named in one configuration */
#define CONF_PF_TABLE_NAME  32  /* with the NUL (pf's PF_TABLE_NAME_SIZE) */
#define CONF_PF_MAX_ENTRIES 64  /* addresses in one table { } */
#define CONF_PF_MAX_MACROS  64
#define CONF_PF_LABEL_MAX   64  /* with the NUL (pf's PF_RULE_LABEL_SIZE) */
#define CONF_PF_MAX_TOKENS  512 /* tokens of one statement after macro expansion */
#define CONF_PF_LIST_MAX    64  /* members of one { } list */

enum conf_pf_action {
    CONF_PF_PASS = 1,
    CONF_PF_BLOCK = 2,
    CONF_PF_MATCH = 3,
    CONF_PF_ANTISPOOF = 4, /* expanded by the consumer: block in on !IFACE from IFACE's network, ... */
};

enum conf_pf_block_mode {
    CONF_PF_BLOCK_POLICY = 0, /* what `set block-policy` says (drop unless set) */
    CONF_PF_DROP = 1,
    CONF_PF_RETURN = 2,       /* TCP: RST; other: ICMP unreachable */
    CONF_PF_RETURN_RST = 3,   /* TCP only */
    CONF_PF_RETURN_ICMP = 4,  /* ICMP unreachable (return_code, return_code6) for every protocol */
    CONF_PF_RETURN_ICMP6 = 5, /* the same, written return-icmp6 (CODE): the code is return_code6 */
};

enum conf_pf_addr_kind {
    CONF_PFA_ANY = 0,
    CONF_PFA_NET = 1,    /* ip/prefix */
    CONF_PFA_TABLE = 2,  /* index: table number (conf_pf_table.index) */
    CONF_PFA_IFADDR = 3, /* index: interface; (IFACE) or IFACE: its address(es) now */
    CONF_PFA_IFNET = 4,  /* index: interface; IFACE:network */
    CONF_PFA_SELF = 5,   /* every address of the appliance */
};

struct conf_pf_addr {
    uint8_t kind;      /* enum conf_pf_addr_kind */
    bool neg;          /* ! */
    uint8_t prefix;    /* NET: 0-32 or 0-128; ip has no bits beyond it */
    uint8_t index;     /* TABLE, IFADDR, IFNET */
    struct conf_ip ip; /* NET */
};

enum conf_pf_port_op {
    CONF_PORT_ANY = 0,
    CONF_PORT_EQ,      /* == lo */
    CONF_PORT_NE,      /* != lo */
    CONF_PORT_LT,      /* <  lo */
    CONF_PORT_LE,      /* <= lo */
    CONF_PORT_GT,      /* >  lo */
    CONF_PORT_GE,      /* >= lo */
    CONF_PORT_RANGE,   /* lo:hi, inclusive */
    CONF_PORT_INSIDE,  /* lo >< hi, exclusive */
    CONF_PORT_OUTSIDE, /* lo <> hi: < lo or > hi */
};

struct conf_pf_port {
    uint8_t op;      /* enum conf_pf_port_op */
    uint16_t lo, hi; /* two-value ops: lo <= hi */
};

enum conf_pf_state_kind {
    CONF_PF_NO_STATE = 0,
    CONF_PF_KEEP_STATE = 1,
    CONF_PF_MODULATE_STATE = 2,
};

enum conf_pf_nat_kind {
    CONF_PF_NAT_NONE = 0,
    CONF_PF_NAT_TO = 1,   /* source translation, port pool nat_port.lo..hi (default 50001:65535) */
    CONF_PF_RDR_TO = 2,   /* destination translation, nat_port.lo (0: keep the port; N:M maps a range) */
    CONF_PF_BINAT_TO = 3, /* 1:1 both ways */
};

#define CONF_PF_ICMP_ANY 0xffff /* icmp_type / icmp_code: not given */

/* One expanded rule: every field has one value (no lists, no macros). */
struct conf_pf_rule {
    uint8_t action;       /* enum conf_pf_action */
    uint8_t block_mode;   /* enum conf_pf_block_mode (block only) */
    uint8_t return_code;  /* RETURN_ICMP: the unreachable code (default 3, port) */
    uint8_t return_code6; /* RETURN*: the ICMPv6 unreachable code (default 4, port) */
    uint8_t dir;          /* 0 both, 1 in, 2 out (the firewall's FW_IN/FW_OUT values) */
    uint8_t af;           /* 0 either, CONF_AF_INET, CONF_AF_INET6 */
    uint8_t proto;        /* 0 any, else an IP protocol number */
    int8_t iface;         /* index into conf->ifaces, or -1 for any */
    bool log, quick, allow_opts;
    struct conf_pf_addr src, dst;
    struct conf_pf_port sport, dport;
    uint16_t icmp_type, icmp_code;  /* CONF_PF_ICMP_ANY or the value */
    uint8_t tcp_set, tcp_mask;      /* TCP flags X/Y; mask 0: any */
    uint8_t state;                  /* enum conf_pf_state_kind; pass rules only */
    uint32_t max_states;            /* state option max N; 0: none */
    uint32_t max_src_conn;          /* max-src-conn N; 0: none */
    uint32_t rate_conns, rate_secs; /* max-src-conn-rate N/S; 0: none */
    int8_t overload;                /* overload <table>: its index, or -1 */
    bool overload_flush;            /* ... flush: kill the source's states of this rule */
    bool overload_flush_global;     /* ... flush global: all of the source's states */
    uint16_t max_mss;               /* scrub (max-mss N); 0: none */
    uint8_t nat;                    /* enum conf_pf_nat_kind */
    struct conf_pf_addr nat_addr;   /* NET (a host) or IFADDR */
    struct conf_pf_port nat_port;   /* EQ or RANGE, or ANY */
    char label[CONF_PF_LABEL_MAX];  /* "" when none */
    unsigned line;                  /* where it was written */
};

/* One table: its addresses (negated ones are exceptions, as in pf). */
struct conf_pf_table_entry {
    struct conf_ip ip; /* no bits beyond prefix */
    uint8_t prefix;
    bool neg;
};
struct conf_pf_table {
    char name[CONF_PF_TABLE_NAME];
    uint8_t index;       /* 0.. in order of first mention */
    bool persist, konst; /* persist, const */
    bool defined;        /* a `table` line defines it (else rules name it first: pf makes it empty) */
    unsigned line;       /* of the `table` line, or of the first rule naming it */
};

/* Options of `set` lines (the last one of each kind wins, as in pf). */
struct conf_pf_options {
    uint8_t block_policy; /* CONF_PF_DROP (default) or CONF_PF_RETURN */
    uint8_t skip;         /* bit k: `set skip on` interface k (conf->ifaces index) */
};

/*
 * What a walk hands over.  Each callback may be NULL.  A table comes at its
 * `table` line, or (defined false, no entries) at the first rule that names
 * it when no `table` line came before (pf makes such a table empty).
 * OPTIONS comes once, after the last statement.  ERROR gets each wrong
 * statement and the walk goes on with the next one; without it the walk
 * stops at the first.  A callback returning nonzero stops the walk, which
 * returns that value.
 */
struct conf_pf_error;
struct conf_pf_sink {
    void *ctx;
    int (*rule)(void *ctx, const struct conf_pf_rule *r);
    int (*table)(void *ctx, const struct conf_pf_table *t, const struct conf_pf_table_entry *e, unsigned n);
    int (*options)(void *ctx, const struct conf_pf_options *o);
    int (*error)(void *ctx, const struct conf_pf_error *e);
};

/* Where a statement is wrong (MSG without the "FILE:LINE:COL: " prefix). */
struct conf_pf_error {
    unsigned line, col;
    char msg[192];
};

/* The workspace of a walk (about 3 KiB): table names, macros, options. */
struct conf_pf_work {
    unsigned n_tables;
    struct conf_pf_table tables[CONF_PF_MAX_TABLES];
    unsigned n_macros;
    struct {
        const char *name, *value; /* into the configuration's statement text */
        uint16_t name_len, value_len;
        unsigned line;
    } macros[CONF_PF_MAX_MACROS];
    struct conf_pf_options options;
    unsigned rules; /* rules handed over so far */
};

/*
 * Walks the firewall statements of C (conf.h keeps their text, in file
 * order): parses each, expands macros and lists, and hands every rule and
 * table, then the options, to SINK (NULL: check only).  W is the caller's
 * workspace; after the walk it holds the tables' names (for listings).
 * Returns 0; -1 with *ERR filled in at the first wrong statement; or a
 * callback's nonzero value.  Uses about 12 KiB of stack.
 */
int conf_pf_walk(const struct conf *c, const struct conf_pf_sink *sink, struct conf_pf_work *w,
                 struct conf_pf_error *err);

/* The pieces of conf_pf_walk, for conf_parse, which checks the statements
 * in their original lines (for columns): init, each statement in order
 * (TEXT, LEN: the line; LINENO its number), then finish (the options, and
 * checks over the whole set).  Each returns as conf_pf_walk. */
void conf_pf_begin(struct conf_pf_work *w);
int conf_pf_statement(const struct conf *c, struct conf_pf_work *w, const struct conf_pf_sink *sink, const char *text,
                      size_t len, unsigned lineno, struct conf_pf_error *err);
int conf_pf_finish(const struct conf *c, struct conf_pf_work *w, const struct conf_pf_sink *sink,
                   struct conf_pf_error *err);

/* True iff the line's first token starts a firewall statement (pass,
 * block, match, antispoof, table, set, or NAME = for a macro). */
bool conf_pf_is_statement(const char *line, size_t len);

#endif
