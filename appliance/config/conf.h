/*
 * conf.h - appliance.conf: the configuration language, its parser, the
 * canonical writer (`show running-config`) and the line diff (`show |
 * compare`).
 *
 * The grammar (docs/CONFIG.md has it with an example per statement).  One
 * statement per line; '#' starts a comment that runs to the end of the
 * line; words are separated by spaces or tabs; '{' and '}' are words of
 * their own wherever they appear.
 *
 *   hostname NAME                         RFC 1123 name, <= 63 characters
 *   log LEVEL                             debug | info | warn | error
 *   interface NAME nic N CLAUSE...        one or two clauses: at most one IPv4
 *       dhcp                              clause and at most one IPv6 clause
 *       address A.B.C.D/P [gateway A.B.C.D]
 *       address IPV6/P [gateway IPV6]     a static IPv6 address (RFC 4291 text);
 *                                         the gateway is the IPv6 default
 *                                         router when no router
 *                                         advertisement gives one
 *       autoconf                          IPv6 SLAAC from router advertisements
 *                                         (an IPv6 clause also gives the
 *                                         interface its link-local address)
 *   route A.B.C.D/P via A.B.C.D           a static route (net/netd_route.h)
 *   route IPV6/P via IPV6                 a static IPv6 route (the same rules)
 *   pass | block | match | antispoof | table | set | NAME = VALUE ...
 *                                         a firewall statement (conf_pf.h)
 *   tls PORT {                            a TLS listener; '{' ends the line
 *       certificate FILE key FILE [sni NAME]
 *       backend A.B.C.D:PORT | [IPV6]:PORT
 *       proxy-protocol v1 | v2
 *       max-connections N
 *       idle-timeout DURATION             N followed by s, m or h
 *       handshake-timeout DURATION
 *       alpn PROTOCOL...
 *       tls-versions 1.2-1.3 | 1.3 | 1.2  the protocol versions offered (default 1.2-1.3)
 *   }                                     alone on its line
 *   console password-hash HASH            from tools/keel-passwd
 *
 * Rules of meaning the parser enforces (each is an error where broken):
 *  - hostname, log and console password-hash at most once each;
 *  - interface names and nic numbers unique; NAME is [a-z][a-z0-9_-]*
 *    (<= 15 characters); a gateway lies inside its interface's prefix and
 *    is not its address; at most one interface has a gateway (it carries
 *    the default route); the same for an IPv6 gateway (inside the static
 *    IPv6 prefix, not its address; at most one interface has one);
 *  - routes: the network has no host bits, prefix 1-32 (IPv4) or 1-128
 *    (IPv6; not a link-local or multicast network), gateway of the
 *    network's family, unicast (IPv6: not ::, ::1,
 *    IPv4-mapped, multicast or link-local: gateways are global or
 *    unique-local addresses, which need no zone), no network twice, at
 *    most NETD_ROUTES_MAX of all families (netd_route_add's checks);
 *  - an IPv6 tls backend is a unicast address as a route's gateway is;
 *  - tls ports unique; each block has exactly one backend, one default
 *    certificate (the one without sni) and any number of sni certificates
 *    with distinct names, and each other keyword at most once; FILE is a
 *    relative path inside the configuration's folder ([A-Za-z0-9._/-], no
 *    leading '/', no '..' component);
 *  - firewall statements: kept as text in file order and checked whole by
 *    conf_pf.c (the one grammar every reader uses: init, netd, tlsd,
 *    consoled, tools/conf_check.c) after the whole file has been read, so
 *    a rule may name an interface declared further down.
 *
 * Errors read "appliance.conf:LINE:COLUMN: expected ..." (the file name is
 * the caller's choice).  Columns count bytes from 1.  The parser goes on
 * after an error (with the next line), so one run reports up to
 * CONF_MAX_ERRORS errors, the earliest lines first.
 *
 * Memory: struct conf is caller storage of fixed capacity (about 44 KiB;
 * the limits are below).  Nothing allocates, nothing is global; the code is
 * freestanding (it needs <keel/string.h>'s memcpy, memset, memcmp and
 * strlen, which the host's libc also provides) and builds unchanged for the
 * guest and for host tests and fuzzers.
 *
 * Tokens, numbers and addresses: conf_lex.h (one tokenizer) and
 * conf_addr.h (one address, prefix and port parser, IPv4 and IPv6).
 *
 * What it does not do: include other files, DNS names for backends (there
 * is no resolver), link-local (zoned, "fe80::1%lan") IPv6 gateways or
 * backends.
 */
#ifndef KEEL_APPLIANCE_CONF_H
#define KEEL_APPLIANCE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf_ops.h" /* syslog, ntp, metrics */

#define CONF_MUST_CHECK __attribute__((warn_unused_result))

/* Limits.  Every one is checked; exceeding it is an error at its line. */
#define CONF_LINE_MAX     512   /* bytes in a line, newline excluded */
#define CONF_HOSTNAME_MAX 64    /* with the NUL */
#define CONF_IFNAME_MAX   16    /* with the NUL (the firewall's FW_IFNAMSIZ) */
#define CONF_PATH_MAX     128   /* certificate and key paths, with the NUL */
#define CONF_DNSNAME_MAX  128   /* sni names, with the NUL */
#define CONF_HASH_MAX     128   /* console password-hash, with the NUL */
#define CONF_ALPN_MAX     16    /* one ALPN protocol id, with the NUL */
#define CONF_MAX_IFACES   8     /* the firewall's FW_MAX_IFACES */
#define CONF_MAX_NIC      7     /* nic 0..7 */
#define CONF_MAX_RULES    256   /* firewall statement lines (rules, macros, tables, set) */
#define CONF_RULE_TEXT    16384 /* bytes of firewall statement text in all (normalised) */
#define CONF_MAX_ROUTES   32    /* route lines */
#define CONF_MAX_TLS      8     /* tls listeners */
#define CONF_MAX_CERTS    8     /* certificates per listener */
#define CONF_MAX_ALPN     4     /* protocols per alpn line */
#define CONF_MAX_ERRORS   8     /* errors one parse reports */
#define CONF_MSG_MAX      256   /* one error message, with the NUL */

/* Defaults of what a file may leave out. */
#define CONF_DEFAULT_HOSTNAME          "keel"
#define CONF_DEFAULT_MAX_CONNECTIONS   4092u /* tlsd's own limit (tlsd_conf.h): no listener limit below it */
#define CONF_DEFAULT_IDLE_TIMEOUT      60u   /* seconds */
#define CONF_DEFAULT_HANDSHAKE_TIMEOUT 10u   /* seconds */
#define CONF_MAX_MAX_CONNECTIONS       65535u
#define CONF_MAX_IDLE_TIMEOUT          86400u /* one day */
#define CONF_MAX_HANDSHAKE_TIMEOUT     600u

/* Errors (negative). */
enum conf_error {
    CONF_OK = 0,
    CONF_E_SYNTAX = -1,  /* the text has errors; struct conf_result lists them */
    CONF_E_INVAL = -2,   /* a NULL argument */
    CONF_E_TOO_BIG = -3, /* conf_diff: more lines than struct conf_diff_work holds */
};

enum conf_log_level {
    CONF_LOG_DEBUG = 0,
    CONF_LOG_INFO = 1, /* the default */
    CONF_LOG_WARN = 2,
    CONF_LOG_ERROR = 3,
};

enum conf_if_mode {
    CONF_IF_NONE = 0, /* no IPv4 on this interface (it has an IPv6 clause) */
    CONF_IF_DHCP = 1,
    CONF_IF_STATIC = 2,
};

enum conf_if6_mode {
    CONF_IF6_NONE = 0,     /* no IPv6 on this interface (not even link-local) */
    CONF_IF6_STATIC = 1,   /* address IPV6/P, plus the link-local address */
    CONF_IF6_AUTOCONF = 2, /* SLAAC from router advertisements (RFC 4862), plus link-local */
};

/* conf_tls.tls_versions: bits. */
#define CONF_TLS_V12     0x1u
#define CONF_TLS_V13     0x2u
#define CONF_TLS_DEFAULT (CONF_TLS_V12 | CONF_TLS_V13)

enum conf_proxy_protocol {
    CONF_PROXY_NONE = 0,
    CONF_PROXY_V1 = 1,
    CONF_PROXY_V2 = 2,
};

struct conf_iface {
    char name[CONF_IFNAME_MAX]; /* non-empty, unique */
    uint8_t nic;                /* 0..CONF_MAX_NIC, unique: the Nth NIC on the PCI bus */
    uint8_t mode;               /* enum conf_if_mode; NONE only when mode6 is not */
    uint8_t prefix;             /* CONF_IF_STATIC: 1..32 */
    bool has_gateway;           /* CONF_IF_STATIC only; at most one interface has one */
    uint32_t addr;              /* CONF_IF_STATIC: host byte order, as written (host bits kept) */
    uint32_t gateway;           /* has_gateway: inside addr/prefix, != addr */
    uint8_t mode6;              /* enum conf_if6_mode */
    uint8_t prefix6;            /* CONF_IF6_STATIC: 1..128 */
    uint8_t addr6[16];          /* CONF_IF6_STATIC: network order, unicast, not link-local */
    bool has_gateway6;          /* CONF_IF6_STATIC only; at most one interface has one */
    uint8_t gateway6[16];       /* has_gateway6: inside addr6/prefix6, != addr6, not link-local */
    unsigned line;              /* where it was written */
};

/* `route NET/P via GW`.  IPv4 (!v6): net and gw in host byte order,
 * 1 <= prefix <= 32, no bits of net beyond the prefix, gw unicast (not
 * 0.0.0.0, 255.255.255.255, multicast or loopback).  IPv6 (v6): net6 and
 * gw6 in network order, 1 <= prefix <= 128, no bits of net6 beyond the
 * prefix, net6 not link-local or multicast, gw6 global or unique-local
 * unicast (not ::, ::1, IPv4-mapped, multicast or link-local); net and gw
 * are 0.  No network (family, net, prefix) twice. */
struct conf_route {
    uint32_t net, gw;
    uint8_t prefix;
    unsigned line;
    bool v6;
    uint8_t net6[16], gw6[16];
};

/* A firewall statement (conf_pf.h: a rule, macro, table or set line): its
 * text, normalised (comment removed, runs of blanks outside "strings" made
 * one space, no leading or trailing blank), in conf.rule_text. */
struct conf_rule {
    uint16_t off, len; /* [off, off+len) inside rule_text; len >= 1 */
    unsigned line;
};

struct conf_cert {
    char cert[CONF_PATH_MAX];   /* relative path */
    char key[CONF_PATH_MAX];    /* relative path */
    char sni[CONF_DNSNAME_MAX]; /* empty: the default certificate */
    unsigned line;
};

struct conf_tls {
    uint16_t port;              /* 1..65535, unique */
    uint8_t proxy_protocol;     /* enum conf_proxy_protocol */
    uint8_t tls_versions;       /* CONF_TLS_V12 | CONF_TLS_V13 bits, never 0 */
    uint16_t backend_port;      /* 1..65535 */
    uint32_t backend_addr;      /* !backend_v6: host byte order; backend_v6: 0 */
    bool backend_v6;            /* the backend is [IPV6]:PORT */
    uint8_t backend_addr6[16];  /* backend_v6: network order, unicast, not link-local */
    uint32_t max_connections;   /* 1..CONF_MAX_MAX_CONNECTIONS */
    uint32_t idle_timeout;      /* seconds, 1..CONF_MAX_IDLE_TIMEOUT */
    uint32_t handshake_timeout; /* seconds, 1..CONF_MAX_HANDSHAKE_TIMEOUT */
    unsigned n_certs;           /* 1..CONF_MAX_CERTS; exactly one has sni empty */
    struct conf_cert certs[CONF_MAX_CERTS];
    unsigned n_alpn; /* 0..CONF_MAX_ALPN, in preference order */
    char alpn[CONF_MAX_ALPN][CONF_ALPN_MAX];
    unsigned line; /* of the `tls PORT {` line */
};

/* A whole configuration.  Invariants hold after conf_init and after a
 * successful conf_parse; other writers must keep them. */
struct conf {
    char hostname[CONF_HOSTNAME_MAX];  /* never empty */
    uint8_t log_level;                 /* enum conf_log_level */
    char password_hash[CONF_HASH_MAX]; /* empty: the console asks for no password */

    unsigned n_ifaces;
    struct conf_iface ifaces[CONF_MAX_IFACES];

    unsigned n_routes; /* `route` lines in file order */
    struct conf_route routes[CONF_MAX_ROUTES];

    unsigned n_rules; /* in file order, which is evaluation order */
    struct conf_rule rules[CONF_MAX_RULES];
    size_t rule_text_len; /* bytes used in rule_text */
    char rule_text[CONF_RULE_TEXT];

    unsigned n_tls;
    struct conf_tls tls[CONF_MAX_TLS];

    struct conf_ops ops; /* syslog, ntp, metrics (conf_ops.h) */
};

/* One error: where, and the whole message "FILE:LINE:COLUMN: expected ...". */
struct conf_diag {
    unsigned line, col;
    char msg[CONF_MSG_MAX];
};

/* What a parse found wrong, earliest (line, column) first. */
struct conf_result {
    unsigned n_errors; /* <= CONF_MAX_ERRORS */
    bool more;         /* there were more errors than were kept (the latest were dropped) */
    struct conf_diag errors[CONF_MAX_ERRORS];
};

struct conf_parser {
    const char *file;    /* name in messages; NULL: "appliance.conf" */
    unsigned max_errors; /* stop after this many (1..CONF_MAX_ERRORS); 0 means CONF_MAX_ERRORS */
    bool keep_on_error;  /* on errors, *out keeps the statements that parsed (netd's addresses); never apply it */
};

/* The empty configuration: defaults, no interface, no rule (so the
 * firewall blocks everything), no listener, no password. */
void conf_init(struct conf *c);

/*
 * Parses TEXT (LEN bytes; need not be NUL-terminated; NUL bytes in it are
 * errors) into OUT and lists what was wrong in RES (may be NULL).  P may be
 * NULL (defaults).  Returns CONF_OK; CONF_E_SYNTAX, and then *OUT is the
 * empty configuration of conf_init (a bad file never half-applies: no
 * interface, no rule, no listener) unless P->keep_on_error; or
 * CONF_E_INVAL for a NULL OUT or TEXT (with LEN > 0).
 */
CONF_MUST_CHECK int conf_parse(const struct conf_parser *p, const char *text, size_t len, struct conf *out,
                               struct conf_result *res);

/* The text of firewall statement I of C (not NUL-terminated; *LEN set);
 * conf_pf_walk (conf_pf.h) parses them. */
const char *conf_rule_text(const struct conf *c, unsigned i, size_t *len);

/* The canonical name of a level ("info"), or "?" for a bad value. */
const char *conf_log_level_name(unsigned level);

/*
 * Writes C in canonical form: hostname, log, interfaces, rules, tls blocks,
 * console, with one blank line between the groups, comments gone, every
 * tls setting written out (defaults too), one statement per line, each line
 * ended by '\n'.  Parsing the output gives a configuration conf_equal to C.
 * Writes at most CAP bytes including a NUL (BUF may be NULL when CAP is 0)
 * and returns the length of the whole text, so truncation happened iff the
 * result >= CAP.
 */
size_t conf_write(const struct conf *c, char *buf, size_t cap);

/* True iff A and B configure the same thing (line numbers are ignored). */
bool conf_equal(const struct conf *a, const struct conf *b);

/* Workspace of conf_diff: lines of both texts and the diff's V arrays. */
#define CONF_DIFF_MAX_LINES 1024 /* per text */
struct conf_diff_work {
    uint32_t a_off[CONF_DIFF_MAX_LINES], b_off[CONF_DIFF_MAX_LINES];
    uint16_t a_len[CONF_DIFF_MAX_LINES], b_len[CONF_DIFF_MAX_LINES];
    uint8_t a_del[CONF_DIFF_MAX_LINES], b_add[CONF_DIFF_MAX_LINES]; /* results of the LCS */
    int32_t vf[2 * 2 * CONF_DIFF_MAX_LINES + 2], vb[2 * 2 * CONF_DIFF_MAX_LINES + 2];
};

/*
 * A line diff of two texts (normally two conf_write outputs, running then
 * candidate), in the style of Junos's `show | compare`: every removed line
 * as "- LINE", every added line as "+ LINE", in the order of the texts;
 * when a changed line lies inside a `tls PORT {` block whose opening line
 * did not change, that line is shown first as context ("  tls 443 {").
 * Unchanged lines are otherwise not shown; identical texts give "".
 * A minimal diff (Myers's O(ND) algorithm, linear space).  Lines longer
 * than 65535 bytes are cut for comparison.  OUT as conf_write; *OUTLEN (may
 * be NULL) gets the full length.  Returns CONF_OK, CONF_E_TOO_BIG (more
 * than CONF_DIFF_MAX_LINES lines in either text) or CONF_E_INVAL.
 */
CONF_MUST_CHECK int conf_diff(const char *a, size_t alen, const char *b, size_t blen, struct conf_diff_work *w,
                              char *out, size_t cap, size_t *outlen);

/* ------------------------------------------------ editing a candidate -- */

/*
 * A candidate configuration as text, the way consoled's configuration mode
 * keeps it (Junos and VyOS work the same way): `set` and `delete` edit
 * lines, the candidate may be incomplete meanwhile (a tls block without a
 * backend yet), and `commit` parses the whole text.  conf_write's output
 * is a valid starting point.
 */
#define CONF_TEXT_MAX 65536 /* > the longest canonical text (~47 KiB at every limit) */
struct conf_text {
    size_t len; /* < CONF_TEXT_MAX; buf[len] == 0 */
    char buf[CONF_TEXT_MAX];
};

/* Workspace of the edits: the text before the edit, and a parse to check it. */
struct conf_edit_work {
    struct conf conf;
    struct conf_result res;
    struct conf_text saved;
};

/*
 * `set STMT`: STMT is one statement (comment allowed, no newline):
 *   hostname / log / console password-hash ...  replace the line (or add it)
 *   interface NAME ...                          replace interface NAME (or add it)
 *   pass / block / antispoof ...                add the rule after the last rule
 *                                               (nothing if the same rule is there)
 *   tls PORT SETTING...                         in block PORT (created if need be),
 *                                               replace the line of that setting
 *                                               (certificates: the one with the same
 *                                               sni, or the default) or add it
 * The edited text is parsed with P; if the edit's own line is wrong the
 * edit is undone and ERR says what was expected.  Errors elsewhere (a block
 * still missing its backend) are left for commit.  Returns CONF_OK,
 * CONF_E_SYNTAX (ERR), CONF_E_TOO_BIG (the text would not fit) or
 * CONF_E_INVAL.
 */
CONF_MUST_CHECK int conf_text_set(struct conf_text *t, const struct conf_parser *p, const char *stmt, size_t n,
                                  struct conf_edit_work *w, char *err, size_t errlen);

/*
 * `delete STMT`: hostname, log, console [password-hash], interface NAME,
 * a rule (its text, blanks squeezed), tls PORT (the whole block), or tls
 * PORT SETTING (certificate [... sni NAME] names one certificate).  Returns
 * CONF_OK, or CONF_E_SYNTAX with "expected ..." in ERR when nothing
 * matches.  A delete is never refused for what it leaves behind (rules
 * naming a deleted interface): commit reports that.
 */
CONF_MUST_CHECK int conf_text_delete(struct conf_text *t, const char *stmt, size_t n, char *err, size_t errlen);

/* Sets T to the canonical text of C. */
void conf_text_from(struct conf_text *t, const struct conf *c);

#endif
