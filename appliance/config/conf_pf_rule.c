/*
 * conf_pf_rule.c - pass, block, match and antispoof rules of appliance.conf
 * (grammar in conf_pf.h), and their expansion into single-valued rules.
 *
 * A rule is read left to right into a template (struct tmpl): the parts
 * that can be lists (interfaces, protocols, addresses, ports, ICMP types)
 * as arrays, the rest once.  The parts before the hosts follow pf's fixed
 * order, which a "phase" enforces so that an error can say what was
 * possible at that column; the options after the hosts come in any order,
 * each at most once (as pfctl).  Then the checks that span parts (a port
 * needs tcp or udp, nat-to needs an out rule, ...), then the expansion: one
 * rule per combination, in pf's nesting order, skipping combinations whose
 * source and destination are of different families (as pfctl does).  The
 * template is checked whole before the first rule is handed over, so a
 * wrong rule hands over nothing.
 */
#include "conf_pf_int.h"

#include <keel/string.h>

/* What Keel's engine does (see CONF_PF_HAVE_INET6 in conf_pf_int.h). */
#define HAVE_NAT      0 /* nat-to, rdr-to, binat-to */
#define HAVE_MAX_MSS  1 /* scrub (max-mss N) */
#define HAVE_MODULATE 0 /* modulate state */
#define HAVE_SRC_CONN 1 /* state options max, max-src-conn, overload */

#define LIST CONF_PF_LIST_MAX

enum phase { PH_DIR, PH_LOG, PH_QUICK, PH_ON, PH_AF, PH_PROTO, PH_HOSTS, PH_OPTS };

struct tmpl {
    struct conf_pf_rule r; /* single-valued parts; the list parts' first element is copied in per rule */
    unsigned n_ifs, n_protos, n_src, n_dst, n_sport, n_dport, n_icmp;
    int8_t ifs[CONF_MAX_IFACES];
    uint8_t protos[LIST];
    struct conf_pf_addr src[LIST], dst[LIST];
    struct conf_pf_port sport[LIST], dport[LIST];
    uint16_t icmp[LIST];
    bool icmp6;                    /* icmp6-type */
    bool state_given, flags_given; /* written, not defaulted */
    unsigned port_col, flags_col, icmp_col, state_col, nat_col, af_col;
    unsigned seen; /* option bits, each at most once */
};

/* ----------------------------------------------------------- names -- */

struct name_value {
    const char *name;
    uint16_t value;
};

static const struct name_value protocols[] = {
    { "icmp", 1 },   { "igmp", 2 },   { "ipencap", 4 },    { "tcp", 6 },      { "egp", 8 },
    { "udp", 17 },   { "ipv6", 41 },  { "rsvp", 46 },      { "gre", 47 },     { "esp", 50 },
    { "ah", 51 },    { "icmp6", 58 }, { "ipv6-icmp", 58 }, { "ospf", 89 },    { "pim", 103 },
    { "vrrp", 112 }, { "carp", 112 }, { "sctp", 132 },     { "pfsync", 240 },
};

/* Services of /etc/services that rules commonly name (pf looks them up there). */
static const struct name_value services[] = {
    { "ftp-data", 20 },      { "ftp", 21 },           { "ssh", 22 },          { "telnet", 23 },
    { "smtp", 25 },          { "domain", 53 },        { "bootps", 67 },       { "bootpc", 68 },
    { "tftp", 69 },          { "http", 80 },          { "www", 80 },          { "kerberos", 88 },
    { "pop3", 110 },         { "sunrpc", 111 },       { "auth", 113 },        { "ntp", 123 },
    { "netbios-ns", 137 },   { "netbios-dgm", 138 },  { "netbios-ssn", 139 }, { "imap", 143 },
    { "snmp", 161 },         { "snmp-trap", 162 },    { "bgp", 179 },         { "ldap", 389 },
    { "https", 443 },        { "microsoft-ds", 445 }, { "isakmp", 500 },      { "syslog", 514 },
    { "submission", 587 },   { "ldaps", 636 },        { "imaps", 993 },       { "pop3s", 995 },
    { "openvpn", 1194 },     { "ms-sql-s", 1433 },    { "mysql", 3306 },      { "ms-wbt-server", 3389 },
    { "ipsec-nat-t", 4500 }, { "postgresql", 5432 },  { "http-alt", 8080 },
};

static const struct name_value icmp_types[] = {
    { "echorep", 0 },  { "unreach", 3 },   { "squench", 4 },    { "redir", 5 },     { "althost", 6 },
    { "echoreq", 8 },  { "routeradv", 9 }, { "routersol", 10 }, { "timex", 11 },    { "paramprob", 12 },
    { "timereq", 13 }, { "timerep", 14 },  { "inforeq", 15 },   { "inforep", 16 },  { "maskreq", 17 },
    { "maskrep", 18 }, { "trace", 30 },    { "dataconv", 31 },  { "mobredir", 32 }, { "photuris", 40 },
};

static const struct name_value icmp6_types[] = {
    { "unreach", 1 },      { "toobig", 2 },       { "timex", 3 },        { "paramprob", 4 },   { "echoreq", 128 },
    { "echorep", 129 },    { "groupqry", 130 },   { "listqry", 130 },    { "grouprep", 131 },  { "listenrep", 131 },
    { "groupterm", 132 },  { "listendone", 132 }, { "routersol", 133 },  { "routeradv", 134 }, { "neighbrsol", 135 },
    { "neighbradv", 136 }, { "redir", 137 },      { "routrrenum", 138 }, { "niqry", 139 },     { "nirep", 140 },
    { "mtraceresp", 200 }, { "mtrace", 201 },
};

static const struct name_value unreach_codes[] = {
    { "net-unr", 0 },   { "host-unr", 1 },       { "proto-unr", 2 },    { "port-unr", 3 },
    { "needfrag", 4 },  { "srcfail", 5 },        { "net-unk", 6 },      { "host-unk", 7 },
    { "isolate", 8 },   { "net-prohib", 9 },     { "host-prohib", 10 }, { "net-tos", 11 },
    { "host-tos", 12 }, { "filter-prohib", 13 }, { "host-preced", 14 }, { "cutoff-preced", 15 },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* T as a name of TABLE or a number 0..MAX; -1 if neither. */
static long name_or_number(const struct conf_tok *t, const struct name_value *table, size_t n, uint64_t max)
{
    if (t->kind != CONF_T_WORD)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (conf_tok_is(t, table[i].name))
            return table[i].value;
    uint64_t v;
    return conf_parse_uint(t->s, t->n, 0, max, &v) ? (long)v : -1;
}

/* --------------------------------------------------------- addresses -- */

static bool is_alpha_word(const struct conf_tok *t)
{
    for (size_t i = 0; i < t->n; i++)
        if ((t->s[i] >= 'a' && t->s[i] <= 'z') || (t->s[i] >= 'A' && t->s[i] <= 'Z'))
            return true;
    return false;
}

/* IFACE:MODIFIER: the interface, or -1; *MOD the modifier's token. */
static int iface_modifier(struct pf_ctx *x, const struct conf_tok *t, struct conf_tok *mod)
{
    size_t colon = 0;
    while (colon < t->n && t->s[colon] != ':')
        colon++;
    if (colon == 0 || colon >= t->n)
        return -1;
    struct conf_tok name = { t->s, colon, t->col, CONF_T_WORD };
    *mod = (struct conf_tok){ t->s + colon + 1, t->n - colon - 1, t->col + (unsigned)colon + 1, CONF_T_WORD };
    return pf_iface(x, &name);
}

static int addr_net(struct pf_ctx *x, const struct conf_tok *t, struct conf_pf_addr *a)
{
    static const char what[] = "expected an address: any, self, A.B.C.D[/N], an IPv6 address[/N], <table>, "
                               "(interface), interface or interface:network";
    unsigned prefix;
    size_t slash;
    int rc = t->kind == CONF_T_WORD ? conf_parse_prefix(t->s, t->n, &a->ip, &prefix, &slash) : 1;
    if (rc == 2)
        return pf_fail(x, t->col + (unsigned)slash + 1, "expected a prefix length (0-32 for IPv4, 0-128 for IPv6)", t);
    if (rc && t->kind == CONF_T_WORD && is_alpha_word(t) && t->n > 1)
        return pf_unsupported(x, t, "host names: Keel has no resolver; or an interface no interface line defines");
    if (rc)
        return pf_fail(x, t->col, what, t);
    if (a->ip.af == CONF_AF_INET6 && !CONF_PF_HAVE_INET6)
        return pf_unsupported(x, t, "IPv6 addresses: Keel filters IPv4 only");
    a->kind = CONF_PFA_NET;
    a->prefix = (uint8_t)prefix;
    conf_ip_mask(&a->ip, prefix); /* host bits are ignored, as pf does */
    return 0;
}

/* One address (no '!', no list) at the cursor. */
static int address(struct pf_ctx *x, struct conf_pf_addr *a)
{
    const struct conf_tok *t = pf_next(x);
    struct conf_tok mod;
    int k;
    if (conf_tok_is(t, "any"))
        return a->kind = CONF_PFA_ANY, 0;
    if (conf_tok_is(t, "self"))
        return a->kind = CONF_PFA_SELF, 0;
    if (conf_tok_is(t, "no-route") || conf_tok_is(t, "urpf-failed") || conf_tok_is(t, "route"))
        return pf_unsupported(x, t, NULL);
    if (t->kind == CONF_T_TABLE) {
        k = pf_table_ref(x, t);
        if (k < 0)
            return -1;
        a->kind = CONF_PFA_TABLE;
        a->index = (uint8_t)k;
        return 0;
    }
    if (conf_tok_punct(t, "(")) {
        const struct conf_tok *n = pf_next(x);
        k = pf_iface(x, n);
        if (k < 0 && iface_modifier(x, n, &mod) >= 0)
            return pf_unsupported(x, &mod, "interface modifiers inside ( )");
        if (k < 0)
            return pf_fail(x, n->col, "expected the name of an interface defined by an interface line", n);
        if (!pf_accept_punct(x, ")"))
            return pf_fail(x, pf_peek(x)->col, "expected ')' after the interface", pf_peek(x));
        a->kind = CONF_PFA_IFADDR;
        a->index = (uint8_t)k;
        return 0;
    }
    if ((k = pf_iface(x, t)) >= 0) {
        a->kind = CONF_PFA_IFADDR;
        a->index = (uint8_t)k;
        return 0;
    }
    if ((k = iface_modifier(x, t, &mod)) >= 0) {
        if (!conf_tok_is(&mod, "network"))
            return pf_unsupported(x, &mod, "interface modifiers other than :network");
        a->kind = CONF_PFA_IFNET;
        a->index = (uint8_t)k;
        return 0;
    }
    if (addr_net(x, t, a))
        return -1;
    if (conf_tok_is(pf_peek(x), "-"))
        return pf_unsupported(x, pf_peek(x), "address ranges");
    return 0;
}

/* [!] ADDRESS or [!] { [!] ADDRESS [,] ... } into OUT[*N]. */
static int address_list(struct pf_ctx *x, struct conf_pf_addr *out, unsigned *n)
{
    bool neg = pf_accept_punct(x, "!");
    if (!pf_accept_punct(x, "{")) {
        memset(&out[0], 0, sizeof out[0]);
        if (address(x, &out[0]))
            return -1;
        out[0].neg = neg;
        *n = 1;
        return 0;
    }
    *n = 0;
    while (!pf_accept_punct(x, "}")) {
        const struct conf_tok *t = pf_peek(x);
        if (pf_at_end(x) || conf_tok_punct(t, "{"))
            return pf_fail(x, t->col, "expected an address or '}' in the list", t);
        if (*n == LIST)
            return pf_fail(x, t->col, "expected at most 64 members in a list", NULL);
        struct conf_pf_addr *a = &out[*n];
        memset(a, 0, sizeof *a);
        bool member_neg = pf_accept_punct(x, "!") != neg; /* "! { a }" applies to each member, as pf expands it */
        if (address(x, a))
            return -1;
        a->neg = member_neg;
        (*n)++;
        (void)pf_accept_punct(x, ",");
    }
    if (*n == 0)
        return pf_fail(x, pf_peek(x)->col, "expected at least one address in the list", NULL);
    return 0;
}

/* ------------------------------------------------------------- ports -- */

static int port_number(struct pf_ctx *x, const struct conf_tok *t, uint16_t *out)
{
    if (t->kind != CONF_T_WORD)
        return pf_fail(x, t->col, "expected a port number 0-65535 or a service name", t);
    long v = name_or_number(t, services, COUNT(services), 65535);
    if (v < 0 && is_alpha_word(t))
        return pf_fail(x, t->col, "expected a port number or a service name Keel knows (as ssh, domain, www, https)",
                       t);
    if (v < 0)
        return pf_fail(x, t->col, "expected a port number 0-65535", t);
    *out = (uint16_t)v;
    return 0;
}

static int port_op(const struct conf_tok *t)
{
    static const struct name_value ops[] = { { "=", CONF_PORT_EQ },  { "!=", CONF_PORT_NE }, { "<", CONF_PORT_LT },
                                             { "<=", CONF_PORT_LE }, { ">", CONF_PORT_GT },  { ">=", CONF_PORT_GE } };
    for (size_t i = 0; i < COUNT(ops); i++)
        if (conf_tok_punct(t, ops[i].name))
            return ops[i].value;
    return -1;
}

/* One PORT at the cursor: N | OP N | N:M | N >< M | N <> M. */
static int port(struct pf_ctx *x, struct conf_pf_port *pt)
{
    static const char what[] = "expected a port: N, N:M, = N, != N, < N, <= N, > N, >= N, N >< M or N <> M";
    const struct conf_tok *t = pf_next(x);
    if (t->kind == CONF_T_OP) {
        int op = port_op(t);
        if (op < 0)
            return pf_fail(x, t->col, what, t);
        pt->op = (uint8_t)op;
        return port_number(x, pf_next(x), &pt->lo);
    }
    if (t->kind != CONF_T_WORD)
        return pf_fail(x, t->col, what, t);
    size_t colon = 0;
    while (colon < t->n && t->s[colon] != ':')
        colon++;
    if (colon < t->n) {
        struct conf_tok lo = { t->s, colon, t->col, CONF_T_WORD };
        struct conf_tok hi = { t->s + colon + 1, t->n - colon - 1, t->col + (unsigned)colon + 1, CONF_T_WORD };
        pt->op = CONF_PORT_RANGE;
        if (port_number(x, &lo, &pt->lo) || port_number(x, &hi, &pt->hi))
            return -1;
        if (pt->lo > pt->hi)
            return pf_fail(x, t->col, "expected a port range N:M with N <= M", t);
        return 0;
    }
    if (port_number(x, t, &pt->lo))
        return -1;
    pt->op = CONF_PORT_EQ;
    const struct conf_tok *op = pf_peek(x);
    if (!conf_tok_punct(op, "><") && !conf_tok_punct(op, "<>"))
        return 0;
    pf_next(x);
    pt->op = conf_tok_punct(op, "><") ? CONF_PORT_INSIDE : CONF_PORT_OUTSIDE;
    if (port_number(x, pf_next(x), &pt->hi))
        return -1;
    if (pt->lo > pt->hi)
        return pf_fail(x, t->col, "expected a port range N >< M or N <> M with N <= M", NULL);
    return 0;
}

static int port_list(struct pf_ctx *x, struct conf_pf_port *out, unsigned *n)
{
    if (!pf_accept_punct(x, "{")) {
        memset(&out[0], 0, sizeof out[0]);
        *n = 1;
        return port(x, &out[0]);
    }
    *n = 0;
    while (!pf_accept_punct(x, "}")) {
        if (pf_at_end(x))
            return pf_fail(x, pf_peek(x)->col, "expected '}' to close the list of ports", NULL);
        if (*n == LIST)
            return pf_fail(x, pf_peek(x)->col, "expected at most 64 members in a list", NULL);
        memset(&out[*n], 0, sizeof out[0]);
        if (port(x, &out[(*n)++]))
            return -1;
        (void)pf_accept_punct(x, ",");
    }
    if (*n == 0)
        return pf_fail(x, pf_peek(x)->col, "expected at least one port in the list", NULL);
    return 0;
}

/* HOST after from/to: [!] ADDRS [port PORTS] | port PORTS. */
static int host(struct pf_ctx *x, struct tmpl *tp, bool src)
{
    struct conf_pf_addr *a = src ? tp->src : tp->dst;
    unsigned *na = src ? &tp->n_src : &tp->n_dst;
    if (!conf_tok_is(pf_peek(x), "port")) {
        if (pf_at_end(x))
            return pf_fail(x, pf_peek(x)->col, "expected an address or port after from/to", NULL);
        if (address_list(x, a, na))
            return -1;
    }
    if (src && conf_tok_is(pf_peek(x), "os"))
        return pf_unsupported(x, pf_peek(x), "passive OS fingerprints");
    if (!conf_tok_is(pf_peek(x), "port"))
        return 0;
    const struct conf_tok *kw = pf_next(x);
    if (!tp->port_col)
        tp->port_col = kw->col;
    return port_list(x, src ? tp->sport : tp->dport, src ? &tp->n_sport : &tp->n_dport);
}

/* ------------------------------------------------------ before hosts -- */

static int protocol(struct pf_ctx *x, uint8_t *out)
{
    const struct conf_tok *t = pf_next(x);
    long v = name_or_number(t, protocols, COUNT(protocols), 255);
    if (v <= 0)
        return pf_fail(x, t->col, "expected a protocol: tcp, udp, icmp, icmp6, another name or a number 1-255", t);
    if (v == 58 && !CONF_PF_HAVE_INET6)
        return pf_unsupported(x, t, "ICMPv6: Keel filters IPv4 only");
    *out = (uint8_t)v;
    return 0;
}

static int proto_list(struct pf_ctx *x, struct tmpl *tp)
{
    if (!pf_accept_punct(x, "{")) {
        tp->n_protos = 1;
        return protocol(x, &tp->protos[0]);
    }
    tp->n_protos = 0;
    while (!pf_accept_punct(x, "}")) {
        if (pf_at_end(x) || tp->n_protos == LIST)
            return pf_fail(x, pf_peek(x)->col, "expected '}' to close the list of protocols", NULL);
        if (protocol(x, &tp->protos[tp->n_protos++]))
            return -1;
        (void)pf_accept_punct(x, ",");
    }
    return tp->n_protos ? 0 : pf_fail(x, pf_peek(x)->col, "expected at least one protocol in the list", NULL);
}

static int on_iface(struct pf_ctx *x, struct tmpl *tp)
{
    if (pf_accept(x, "any"))
        return 0;
    if (conf_tok_punct(pf_peek(x), "!"))
        return pf_unsupported(x, pf_peek(x), "on ! interface");
    if (conf_tok_is(pf_peek(x), "rdomain"))
        return pf_unsupported(x, pf_peek(x), NULL);
    bool list = pf_accept_punct(x, "{");
    do {
        const struct conf_tok *t = pf_next(x);
        if (list && conf_tok_punct(t, "}"))
            break;
        int k = pf_iface(x, t);
        if (k < 0)
            return pf_fail(x, t->col,
                           t->kind == CONF_T_END ? "expected an interface name"
                                                 : "expected the name of an interface defined by an interface line",
                           t);
        if (tp->n_ifs == CONF_MAX_IFACES)
            return pf_fail(x, t->col, "expected each interface once in the list", t);
        tp->ifs[tp->n_ifs++] = (int8_t)k;
        if (list)
            (void)pf_accept_punct(x, ",");
    } while (list);
    return tp->n_ifs ? 0 : pf_fail(x, pf_peek(x)->col, "expected at least one interface in the list", NULL);
}

/* block's modifiers: drop | return | return-rst | return-icmp [(CODE)] | return-icmp6 */
static int block_mode(struct pf_ctx *x, struct conf_pf_rule *r)
{
    r->return_code = 3; /* port unreachable, as pf */
    if (pf_accept(x, "drop"))
        r->block_mode = CONF_PF_DROP;
    else if (pf_accept(x, "return"))
        r->block_mode = CONF_PF_RETURN;
    else if (pf_accept(x, "return-rst"))
        r->block_mode = CONF_PF_RETURN_RST;
    else if (conf_tok_is(pf_peek(x), "return-icmp6"))
        return pf_unsupported(x, pf_peek(x), "ICMPv6: Keel filters IPv4 only");
    else if (pf_accept(x, "return-icmp"))
        r->block_mode = CONF_PF_RETURN_ICMP;
    else
        return 0;
    if (!conf_tok_punct(pf_peek(x), "("))
        return 0;
    const struct conf_tok *open = pf_next(x);
    if (r->block_mode != CONF_PF_RETURN_ICMP)
        return pf_unsupported(x, open, "options of return-rst (ttl)");
    const struct conf_tok *t = pf_next(x);
    long v = name_or_number(t, unreach_codes, COUNT(unreach_codes), 255);
    if (v < 0)
        return pf_fail(x, t->col, "expected an unreachable code (as port-unr, host-unr) or a number 0-255", t);
    r->return_code = (uint8_t)v;
    if (!pf_accept_punct(x, ")"))
        return pf_fail(x, pf_peek(x)->col, "expected ')' after the code", pf_peek(x));
    return 0;
}

/* "expected <the words allowed from phase PH on> or end of line". */
static int fail_phase(struct pf_ctx *x, unsigned ph, const struct conf_tok *got)
{
    static const char options_words[] = "flags, icmp-type, label, keep state, no state, nat-to, rdr-to, allow-opts";
    static const char *const words[] = { "in, out", "log",   "quick",         "on",
                                         "inet",    "proto", "from, to, all", options_words };
    char msg[220] = "expected ";
    size_t n = strlen(msg);
    for (unsigned i = ph; i <= PH_OPTS; i++) {
        size_t k = strlen(words[i]);
        if (n + k + 24 < sizeof msg) {
            memcpy(msg + n, words[i], k);
            n += k;
            memcpy(msg + n, ", ", 2);
            n += 2;
        }
    }
    memcpy(msg + n - 2, " or end of line", sizeof " or end of line");
    return pf_fail(x, got->col, msg, got);
}

/* The words before the hosts, in pf's order, and then the hosts. */
static int head(struct pf_ctx *x, struct tmpl *tp)
{
    unsigned ph = PH_DIR;
    while (!pf_at_end(x)) {
        const struct conf_tok *t = pf_peek(x);
        int rc = 0;
        if (ph <= PH_DIR && (conf_tok_is(t, "in") || conf_tok_is(t, "out"))) {
            tp->r.dir = conf_tok_is(t, "in") ? 1 : 2;
            ph = PH_LOG;
        } else if (ph <= PH_LOG && conf_tok_is(t, "log")) {
            tp->r.log = true;
            ph = PH_QUICK;
            pf_next(x);
            if (conf_tok_punct(pf_peek(x), "("))
                return pf_unsupported(x, pf_peek(x), "log options");
            continue;
        } else if (ph <= PH_QUICK && conf_tok_is(t, "quick")) {
            tp->r.quick = true;
            ph = PH_ON;
        } else if (ph <= PH_ON && conf_tok_is(t, "on")) {
            pf_next(x);
            rc = on_iface(x, tp);
            ph = PH_AF;
            if (rc)
                return rc;
            continue;
        } else if (ph <= PH_AF && (conf_tok_is(t, "inet") || conf_tok_is(t, "inet6"))) {
            if (conf_tok_is(t, "inet6") && !CONF_PF_HAVE_INET6)
                return pf_unsupported(x, t, "IPv6: Keel filters IPv4 only");
            tp->r.af = CONF_AF_INET;
            tp->af_col = t->col;
            ph = PH_PROTO;
        } else if (ph <= PH_PROTO && conf_tok_is(t, "proto")) {
            pf_next(x);
            if (proto_list(x, tp))
                return -1;
            ph = PH_HOSTS;
            continue;
        } else if (ph <= PH_HOSTS && conf_tok_is(t, "all")) {
            ph = PH_OPTS;
        } else if (ph <= PH_HOSTS && (conf_tok_is(t, "from") || conf_tok_is(t, "to"))) {
            bool from = conf_tok_is(t, "from");
            pf_next(x);
            if (host(x, tp, from))
                return -1;
            if (from && conf_tok_is(pf_peek(x), "to")) {
                pf_next(x);
                if (host(x, tp, false))
                    return -1;
            }
            ph = PH_OPTS;
            continue;
        } else {
            return ph;
        }
        pf_next(x);
    }
    return ph;
}

/* ------------------------------------------------------------ options -- */

enum opt_bit {
    OPT_FLAGS = 1,
    OPT_ICMP = 2,
    OPT_LABEL = 4,
    OPT_STATE = 8,
    OPT_OPTS = 16,
    OPT_NAT = 32,
    OPT_SCRUB = 64,
};

static int once(struct pf_ctx *x, struct tmpl *tp, unsigned bit, const struct conf_tok *t)
{
    if (tp->seen & bit)
        return pf_fail(x, t->col, "expected this option once per rule", t);
    tp->seen |= bit;
    return 0;
}

static int flag_letters(const char *s, size_t n, uint8_t *out)
{
    static const char letters[] = "FSRPAUEW"; /* bit order: FIN first */
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(letters, s[i]) : NULL;
        if (!p)
            return -1;
        v |= 1u << (p - letters);
    }
    *out = (uint8_t)v;
    return 0;
}

static int opt_flags(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    static const char what[] = "expected flags any, X/Y or X (letters FSRPAUEW)";
    const struct conf_tok *t = pf_next(x);
    tp->flags_given = true;
    tp->flags_col = kw->col;
    if (conf_tok_is(t, "any"))
        return tp->r.tcp_mask = tp->r.tcp_set = 0, 0;
    if (t->kind != CONF_T_WORD)
        return pf_fail(x, t->col, what, t);
    size_t slash = 0;
    while (slash < t->n && t->s[slash] != '/')
        slash++;
    uint8_t set, mask = 0xff;
    if (flag_letters(t->s, slash, &set) || (slash < t->n && flag_letters(t->s + slash + 1, t->n - slash - 1, &mask)) ||
        mask == 0)
        return pf_fail(x, t->col, what, t);
    if (set & ~mask)
        return pf_fail(x, t->col, "expected flags X/Y with X a subset of Y", t);
    tp->r.tcp_set = set;
    tp->r.tcp_mask = mask;
    return 0;
}

static int icmp_type(struct pf_ctx *x, bool v6, uint16_t *out)
{
    const struct conf_tok *t = pf_next(x);
    long v = v6 ? name_or_number(t, icmp6_types, COUNT(icmp6_types), 255)
                : name_or_number(t, icmp_types, COUNT(icmp_types), 255);
    if (v < 0)
        return pf_fail(x, t->col,
                       v6 ? "expected an ICMPv6 type (as echoreq, neighbrsol) or a number 0-255"
                          : "expected an ICMP type (as echoreq, unreach, timex) or a number 0-255",
                       t);
    *out = (uint16_t)v;
    return 0;
}

static int opt_icmp(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    bool v6 = conf_tok_is(kw, "icmp6-type");
    if (v6 && !CONF_PF_HAVE_INET6)
        return pf_unsupported(x, kw, "ICMPv6: Keel filters IPv4 only");
    tp->icmp6 = v6;
    tp->icmp_col = kw->col;
    if (pf_accept_punct(x, "{")) {
        while (!pf_accept_punct(x, "}")) {
            if (pf_at_end(x) || tp->n_icmp == LIST)
                return pf_fail(x, pf_peek(x)->col, "expected '}' to close the list of ICMP types", NULL);
            if (icmp_type(x, v6, &tp->icmp[tp->n_icmp++]))
                return -1;
            (void)pf_accept_punct(x, ",");
        }
        return tp->n_icmp ? 0 : pf_fail(x, pf_peek(x)->col, "expected at least one ICMP type in the list", NULL);
    }
    tp->n_icmp = 1;
    if (icmp_type(x, v6, &tp->icmp[0]))
        return -1;
    if (!pf_accept(x, "code"))
        return 0;
    const struct conf_tok *t = pf_next(x);
    long v = name_or_number(t, unreach_codes, COUNT(unreach_codes), 255);
    if (v < 0)
        return pf_fail(x, t->col, "expected an ICMP code (a number 0-255 or a name as port-unr)", t);
    tp->r.icmp_code = (uint16_t)v;
    return 0;
}

static int opt_label(struct pf_ctx *x, struct tmpl *tp)
{
    const struct conf_tok *t = pf_next(x);
    if (t->kind != CONF_T_STRING && t->kind != CONF_T_WORD)
        return pf_fail(x, t->col, "expected a label \"text\" after label", t);
    if (t->n >= CONF_PF_LABEL_MAX)
        return pf_fail(x, t->col, "expected a label of at most 63 bytes", t);
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i] == '$')
            return pf_unsupported(x, t, "label macros ($if, $srcaddr, ...)");
    memcpy(tp->r.label, t->s, t->n);
    tp->r.label[t->n] = '\0';
    return 0;
}

static int state_count(struct pf_ctx *x, uint32_t *out)
{
    const struct conf_tok *t = pf_next(x);
    uint64_t v;
    if (!conf_parse_uint(t->s, t->kind == CONF_T_WORD ? t->n : 0, 1, 1000000, &v))
        return pf_fail(x, t->col, "expected a number 1-1000000", t);
    *out = (uint32_t)v;
    return 0;
}

static int state_rate(struct pf_ctx *x, struct conf_pf_rule *r)
{
    static const char what[] = "expected max-src-conn-rate N/S (N 1-1000000 connections, S 1-86400 seconds)";
    const struct conf_tok *t = pf_next(x);
    size_t slash = 0;
    uint64_t n, s;
    while (slash < t->n && t->s[slash] != '/')
        slash++;
    if (t->kind != CONF_T_WORD || slash == t->n || !conf_parse_uint(t->s, slash, 1, 1000000, &n) ||
        !conf_parse_uint(t->s + slash + 1, t->n - slash - 1, 1, 86400, &s))
        return pf_fail(x, t->col, what, t);
    r->rate_conns = (uint32_t)n;
    r->rate_secs = (uint32_t)s;
    return 0;
}

static int state_overload(struct pf_ctx *x, struct conf_pf_rule *r)
{
    const struct conf_tok *t = pf_next(x);
    if (t->kind != CONF_T_TABLE)
        return pf_fail(x, t->col, "expected a table <NAME> after overload", t);
    int k = pf_table_ref(x, t);
    if (k < 0)
        return -1;
    r->overload = (int8_t)k;
    if (!pf_accept(x, "flush"))
        return 0;
    r->overload_flush = true;
    r->overload_flush_global = pf_accept(x, "global");
    return 0;
}

static bool has_dot(const struct conf_tok *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i] == '.')
            return true;
    return false;
}

/* ( SOPT, ... ) after keep/modulate state. */
static int state_options(struct pf_ctx *x, struct conf_pf_rule *r)
{
    static const char *const unsupported[] = { "no-sync",       "sloppy",         "pflow",    "source-track",
                                               "max-src-nodes", "max-src-states", "if-bound", "max-pkt-rate" };
    for (;;) {
        const struct conf_tok *t = pf_next(x);
        int rc;
        if (!HAVE_SRC_CONN && (conf_tok_is(t, "max") || conf_tok_is(t, "max-src-conn") || conf_tok_is(t, "overload")))
            return pf_unsupported(x, t, "not enforced yet; max-src-conn-rate is");
        if (conf_tok_is(t, "max") && !r->max_states)
            rc = state_count(x, &r->max_states);
        else if (conf_tok_is(t, "max-src-conn") && !r->max_src_conn)
            rc = state_count(x, &r->max_src_conn);
        else if (conf_tok_is(t, "max-src-conn-rate") && !r->rate_conns)
            rc = state_rate(x, r);
        else if (conf_tok_is(t, "overload") && r->overload < 0)
            rc = state_overload(x, r);
        else if (conf_tok_is(t, "floating"))
            rc = 0; /* Keel's states are floating */
        else {
            for (size_t i = 0; i < COUNT(unsupported); i++)
                if (conf_tok_is(t, unsupported[i]))
                    return pf_unsupported(x, t, NULL);
            if (t->kind == CONF_T_WORD && has_dot(t))
                return pf_unsupported(x, t, "per-rule state timeouts");
            return pf_fail(x, t->col, "expected max, max-src-conn, max-src-conn-rate, overload or floating (each once)",
                           t);
        }
        if (rc)
            return rc;
        t = pf_next(x);
        if (conf_tok_punct(t, ")"))
            return 0;
        if (!conf_tok_punct(t, ","))
            return pf_fail(x, t->col, "expected , or ) after a state option", t);
    }
}

static int opt_state(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    const struct conf_tok *t = pf_next(x);
    if (!conf_tok_is(t, "state"))
        return pf_fail(x, t->col, "expected state after keep, modulate or no", t);
    tp->state_given = true;
    tp->state_col = kw->col;
    if (conf_tok_is(kw, "no")) {
        tp->r.state = CONF_PF_NO_STATE;
        return 0;
    }
    if (conf_tok_is(kw, "modulate") && !HAVE_MODULATE)
        return pf_unsupported(x, kw, "modulate state, yet: write keep state");
    tp->r.state = conf_tok_is(kw, "modulate") ? CONF_PF_MODULATE_STATE : CONF_PF_KEEP_STATE;
    if (pf_accept_punct(x, "("))
        return state_options(x, &tp->r);
    return 0;
}

/* scrub (max-mss N) */
static int opt_scrub(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    if (!pf_accept_punct(x, "("))
        return pf_fail(x, pf_peek(x)->col, "expected ( max-mss N ) after scrub", pf_peek(x));
    const struct conf_tok *t = pf_next(x);
    if (!conf_tok_is(t, "max-mss"))
        return t->kind == CONF_T_WORD ? pf_unsupported(x, t, "scrub options other than max-mss")
                                      : pf_fail(x, t->col, "expected max-mss N", t);
    if (!HAVE_MAX_MSS)
        return pf_unsupported(x, kw, "scrub (max-mss), yet");
    t = pf_next(x);
    uint64_t v;
    if (!conf_parse_uint(t->s, t->kind == CONF_T_WORD ? t->n : 0, 64, 65535, &v))
        return pf_fail(x, t->col, "expected an MSS 64-65535", t);
    tp->r.max_mss = (uint16_t)v;
    if (!pf_accept_punct(x, ")"))
        return pf_fail(x, pf_peek(x)->col, "expected ')' after the MSS", pf_peek(x));
    return 0;
}

/* nat-to / rdr-to / binat-to ADDR [port N[:M]] */
static int opt_nat(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    if (!HAVE_NAT)
        return pf_unsupported(x, kw, "translation, yet");
    tp->nat_col = kw->col;
    tp->r.nat = conf_tok_is(kw, "nat-to")   ? CONF_PF_NAT_TO
                : conf_tok_is(kw, "rdr-to") ? CONF_PF_RDR_TO
                                            : CONF_PF_BINAT_TO;
    const struct conf_tok *t = pf_peek(x);
    if (conf_tok_punct(t, "{") || t->kind == CONF_T_TABLE)
        return pf_unsupported(x, t, "address pools");
    if (address(x, &tp->r.nat_addr))
        return -1;
    struct conf_pf_addr *a = &tp->r.nat_addr;
    bool host = a->kind == CONF_PFA_IFADDR || (a->kind == CONF_PFA_NET && a->prefix == 32);
    if (!host)
        return pf_fail(x, t->col, "expected one address or (interface) to translate to", t);
    if (tp->r.nat != CONF_PF_BINAT_TO && pf_accept(x, "port")) {
        if (port(x, &tp->r.nat_port))
            return -1;
        if (tp->r.nat_port.op != CONF_PORT_EQ && tp->r.nat_port.op != CONF_PORT_RANGE)
            return pf_fail(x, t->col, "expected port N or N:M after the address", NULL);
    }
    static const char *const pool[] = { "static-port", "round-robin", "random",
                                        "source-hash", "bitmask",     "sticky-address" };
    for (size_t i = 0; i < COUNT(pool); i++)
        if (conf_tok_is(pf_peek(x), pool[i]))
            return pf_unsupported(x, pf_peek(x), "pool options");
    return 0;
}

static bool unsupported_option(const struct conf_tok *t)
{
    static const char *const words[] = { "user",         "group",         "tos",          "fragment", "once",
                                         "tag",          "tagged",        "queue",        "rtable",   "probability",
                                         "prio",         "set",           "route-to",     "reply-to", "dup-to",
                                         "divert-to",    "divert-packet", "divert-reply", "af-to",    "received-on",
                                         "max-pkt-rate", "synproxy" };
    for (size_t i = 0; i < COUNT(words); i++)
        if (conf_tok_is(t, words[i]))
            return true;
    return false;
}

static int options(struct pf_ctx *x, struct tmpl *tp)
{
    while (!pf_at_end(x)) {
        const struct conf_tok *t = pf_next(x);
        int rc;
        if (conf_tok_is(t, "flags"))
            rc = once(x, tp, OPT_FLAGS, t) || opt_flags(x, tp, t);
        else if (conf_tok_is(t, "icmp-type") || conf_tok_is(t, "icmp6-type"))
            rc = once(x, tp, OPT_ICMP, t) || opt_icmp(x, tp, t);
        else if (conf_tok_is(t, "label"))
            rc = once(x, tp, OPT_LABEL, t) || opt_label(x, tp);
        else if (conf_tok_is(t, "keep") || conf_tok_is(t, "no") || conf_tok_is(t, "modulate"))
            rc = once(x, tp, OPT_STATE, t) || opt_state(x, tp, t);
        else if (conf_tok_is(t, "allow-opts"))
            rc = once(x, tp, OPT_OPTS, t) || (tp->r.allow_opts = true, 0);
        else if (conf_tok_is(t, "scrub"))
            rc = once(x, tp, OPT_SCRUB, t) || opt_scrub(x, tp, t);
        else if (conf_tok_is(t, "nat-to") || conf_tok_is(t, "rdr-to") || conf_tok_is(t, "binat-to"))
            rc = once(x, tp, OPT_NAT, t) || opt_nat(x, tp, t);
        else if (unsupported_option(t))
            return pf_unsupported(x, t, NULL);
        else
            return fail_phase(x, PH_OPTS, t);
        if (rc)
            return -1;
    }
    return 0;
}

/* --------------------------------------------------------- checking -- */

static bool is_tcp_udp(uint8_t p) { return p == 6 || p == 17; }

/* Checks across the parts; fills the defaults pf gives. */
static int check(struct pf_ctx *x, struct tmpl *tp)
{
    struct conf_pf_rule *r = &tp->r;
    bool ports = tp->n_sport || tp->n_dport;
    for (unsigned i = 0; i < tp->n_protos; i++) {
        if (ports && !is_tcp_udp(tp->protos[i]))
            return pf_fail(x, tp->port_col, "expected proto tcp or proto udp before port", NULL);
        if (tp->flags_given && (tp->r.tcp_mask || tp->r.tcp_set) && tp->protos[i] != 6)
            return pf_fail(x, tp->flags_col, "expected proto tcp (or no proto) before flags", NULL);
        if (tp->n_icmp && tp->protos[i] != (tp->icmp6 ? 58 : 1))
            return pf_fail(
                x, tp->icmp_col,
                tp->icmp6 ? "expected proto icmp6 before icmp6-type" : "expected proto icmp before icmp-type", NULL);
    }
    if (ports && !tp->n_protos)
        return pf_fail(x, tp->port_col, "expected proto tcp or proto udp before port", NULL);
    if (tp->n_icmp && !tp->n_protos)
        return pf_fail(x, tp->icmp_col, "expected proto icmp before icmp-type", NULL);
    if (r->action != CONF_PF_PASS && tp->state_given && r->state != CONF_PF_NO_STATE)
        return pf_fail(x, tp->state_col, "expected pass: only pass rules keep state", NULL);
    if (r->action == CONF_PF_PASS && !tp->state_given)
        r->state = CONF_PF_KEEP_STATE; /* pf's default since OpenBSD 4.1 */
    if (r->overload >= 0 && !r->max_src_conn && !r->rate_conns)
        return pf_fail(x, tp->state_col, "expected max-src-conn or max-src-conn-rate with overload", NULL);
    if (r->nat && r->action == CONF_PF_BLOCK)
        return pf_fail(x, tp->nat_col, "expected pass or match: a block rule translates nothing", NULL);
    if ((r->nat == CONF_PF_NAT_TO || r->nat == CONF_PF_BINAT_TO) && r->dir != 2)
        return pf_fail(x, tp->nat_col, "expected an out rule for nat-to and binat-to", NULL);
    if (r->nat == CONF_PF_RDR_TO && r->dir != 1)
        return pf_fail(x, tp->nat_col, "expected an in rule for rdr-to", NULL);
    if (r->state != CONF_PF_NO_STATE && r->action == CONF_PF_PASS && !tp->flags_given) {
        r->tcp_set = 0x02;         /* S */
        r->tcp_mask = 0x02 | 0x10; /* SA */
    }
    if (r->state == CONF_PF_NO_STATE && !tp->flags_given) {
        r->tcp_set = 0;
        r->tcp_mask = 0;
    }
    return 0;
}

/* --------------------------------------------------------- expanding -- */

static uint8_t addr_af(const struct conf_pf_addr *a) { return a->kind == CONF_PFA_NET ? a->ip.af : 0; }

static int emit(struct pf_ctx *x, const struct conf_pf_rule *r)
{
    if (x->w->rules == CONF_PF_MAX_RULES)
        return pf_fail(x, 1, "expected at most 512 rules in all, after lists are expanded", NULL);
    x->w->rules++;
    if (x->sink && x->sink->rule)
        return pf_sink_rc(x, x->sink->rule(x->sink->ctx, r));
    return 0;
}

/* One rule per combination (pf's nesting order). */
static int expand_rules(struct pf_ctx *x, const struct tmpl *tp)
{
    struct conf_pf_rule r = tp->r;
    unsigned made = 0;
    for (unsigned a = 0; a < (tp->n_ifs ? tp->n_ifs : 1); a++)
        for (unsigned b = 0; b < (tp->n_protos ? tp->n_protos : 1); b++)
            for (unsigned c = 0; c < (tp->n_src ? tp->n_src : 1); c++)
                for (unsigned d = 0; d < (tp->n_sport ? tp->n_sport : 1); d++)
                    for (unsigned e = 0; e < (tp->n_dst ? tp->n_dst : 1); e++)
                        for (unsigned f = 0; f < (tp->n_dport ? tp->n_dport : 1); f++)
                            for (unsigned g = 0; g < (tp->n_icmp ? tp->n_icmp : 1); g++) {
                                r.iface = tp->n_ifs ? tp->ifs[a] : -1;
                                r.proto = tp->n_protos ? tp->protos[b] : 0;
                                memset(&r.src, 0, sizeof r.src);
                                memset(&r.dst, 0, sizeof r.dst);
                                memset(&r.sport, 0, sizeof r.sport);
                                memset(&r.dport, 0, sizeof r.dport);
                                if (tp->n_src)
                                    r.src = tp->src[c];
                                if (tp->n_sport)
                                    r.sport = tp->sport[d];
                                if (tp->n_dst)
                                    r.dst = tp->dst[e];
                                if (tp->n_dport)
                                    r.dport = tp->dport[f];
                                r.icmp_type = tp->n_icmp ? tp->icmp[g] : CONF_PF_ICMP_ANY;
                                if (r.proto && r.proto != 6 && !tp->flags_given)
                                    r.tcp_set = r.tcp_mask = 0; /* pf's default flags S/SA is TCP's alone */
                                uint8_t s = addr_af(&r.src), t = addr_af(&r.dst);
                                if (s && t && s != t)
                                    continue; /* pfctl skips mixed families */
                                if ((s || t) && tp->r.af && (s ? s : t) != tp->r.af)
                                    continue;
                                r.af = tp->r.af ? tp->r.af : (s ? s : t);
                                if (emit(x, &r))
                                    return -1;
                                made++;
                            }
    if (!made)
        return pf_fail(x, tp->af_col ? tp->af_col : 1,
                       "expected addresses of one family (inet or inet6): no combination is left", NULL);
    return 0;
}

int pf_rule(struct pf_ctx *x)
{
    static struct tmpl zero; /* the template is 6 KiB: built in place below, never shared */
    struct tmpl tp = zero;
    const struct conf_tok *kw = pf_next(x);
    tp.r.action = conf_tok_is(kw, "pass") ? CONF_PF_PASS : conf_tok_is(kw, "block") ? CONF_PF_BLOCK : CONF_PF_MATCH;
    tp.r.iface = -1;
    tp.r.overload = -1;
    tp.r.icmp_code = CONF_PF_ICMP_ANY;
    tp.r.line = x->line;
    if (tp.r.action == CONF_PF_BLOCK && block_mode(x, &tp.r))
        return -1;
    int ph = head(x, &tp);
    if (ph < 0)
        return -1;
    if (!pf_at_end(x) && ph < PH_OPTS) {
        const struct conf_tok *t = pf_peek(x);
        bool opt = conf_tok_is(t, "flags") || conf_tok_is(t, "icmp-type") || conf_tok_is(t, "label") ||
                   conf_tok_is(t, "keep") || conf_tok_is(t, "no") || conf_tok_is(t, "allow-opts") ||
                   conf_tok_is(t, "modulate") || conf_tok_is(t, "nat-to") || conf_tok_is(t, "rdr-to") ||
                   conf_tok_is(t, "binat-to") || conf_tok_is(t, "scrub") || conf_tok_is(t, "icmp6-type") ||
                   unsupported_option(t);
        if (!opt)
            return fail_phase(x, (unsigned)ph, t);
    }
    if (options(x, &tp) || check(x, &tp))
        return -1;
    return expand_rules(x, &tp);
}

/* antispoof [log] [quick] for IFACE|{ ... } [inet] [label "text"] */
int pf_antispoof(struct pf_ctx *x)
{
    struct conf_pf_rule r;
    uint8_t ifs[CONF_MAX_IFACES];
    unsigned n = 0;
    memset(&r, 0, sizeof r);
    pf_next(x);
    r.action = CONF_PF_ANTISPOOF;
    r.dir = 1;
    r.overload = -1;
    r.icmp_type = r.icmp_code = CONF_PF_ICMP_ANY;
    r.line = x->line;
    r.log = pf_accept(x, "log");
    r.quick = pf_accept(x, "quick");
    if (!pf_accept(x, "for"))
        return pf_fail(x, pf_peek(x)->col, "expected log, quick or for", pf_peek(x));
    bool list = pf_accept_punct(x, "{");
    do {
        const struct conf_tok *t = pf_next(x);
        if (list && conf_tok_punct(t, "}"))
            break;
        int k = pf_iface(x, t);
        if (k < 0)
            return pf_fail(x, t->col,
                           t->kind == CONF_T_END ? "expected an interface name"
                                                 : "expected the name of an interface defined by an interface line",
                           t);
        if (n == CONF_MAX_IFACES)
            return pf_fail(x, t->col, "expected each interface once", t);
        ifs[n++] = (uint8_t)k;
        if (list)
            (void)pf_accept_punct(x, ",");
    } while (list);
    if (conf_tok_is(pf_peek(x), "inet6") && !CONF_PF_HAVE_INET6)
        return pf_unsupported(x, pf_peek(x), "IPv6: Keel filters IPv4 only");
    if (pf_accept(x, "inet"))
        r.af = CONF_AF_INET;
    if (pf_accept(x, "label")) {
        const struct conf_tok *t = pf_next(x);
        if ((t->kind != CONF_T_STRING && t->kind != CONF_T_WORD) || t->n >= CONF_PF_LABEL_MAX)
            return pf_fail(x, t->col, "expected a label \"text\" of at most 63 bytes after label", t);
        memcpy(r.label, t->s, t->n);
    }
    if (!pf_at_end(x))
        return pf_fail(x, pf_peek(x)->col, "expected inet, label or end of line", pf_peek(x));
    for (unsigned i = 0; i < n; i++) {
        r.iface = (int8_t)ifs[i];
        if (emit(x, &r))
            return -1;
    }
    return 0;
}
