/*
 * conf_pf_host.c - the firewall grammar's names and values (conf_pf.h):
 * protocol, service, ICMP type and code names (the part of /etc/protocols
 * and /etc/services rules commonly use: Keel has no such files), addresses
 * (any, self, prefixes, <table>, (iface), iface, iface:network) and ports
 * with pf's operators, one value or a { list }.  Used by conf_pf_rule.c.
 */
#include "conf_pf_int.h"

#include <keel/string.h>

#define LIST     CONF_PF_LIST_MAX
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

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

/* ICMPv6 destination unreachable codes (RFC 4443 3.1), pf's names. */
static const struct name_value unreach6_codes[] = {
    { "noroute-unr", 0 }, { "admin-unr", 1 }, { "beyond-unr", 2 }, { "addr-unr", 3 }, { "port-unr", 4 },
};

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
int pf_address(struct pf_ctx *x, struct conf_pf_addr *a)
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
int pf_address_list(struct pf_ctx *x, struct conf_pf_addr *out, unsigned *n)
{
    bool neg = pf_accept_punct(x, "!");
    if (!pf_accept_punct(x, "{")) {
        memset(&out[0], 0, sizeof out[0]);
        if (pf_address(x, &out[0]))
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
        if (pf_address(x, a))
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
int pf_port(struct pf_ctx *x, struct conf_pf_port *pt)
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

int pf_port_list(struct pf_ctx *x, struct conf_pf_port *out, unsigned *n)
{
    if (!pf_accept_punct(x, "{")) {
        memset(&out[0], 0, sizeof out[0]);
        *n = 1;
        return pf_port(x, &out[0]);
    }
    *n = 0;
    while (!pf_accept_punct(x, "}")) {
        if (pf_at_end(x))
            return pf_fail(x, pf_peek(x)->col, "expected '}' to close the list of ports", NULL);
        if (*n == LIST)
            return pf_fail(x, pf_peek(x)->col, "expected at most 64 members in a list", NULL);
        memset(&out[*n], 0, sizeof out[0]);
        if (pf_port(x, &out[(*n)++]))
            return -1;
        (void)pf_accept_punct(x, ",");
    }
    if (*n == 0)
        return pf_fail(x, pf_peek(x)->col, "expected at least one port in the list", NULL);
    return 0;
}

long pf_protocol_value(const struct conf_tok *t) { return name_or_number(t, protocols, COUNT(protocols), 255); }

long pf_icmp_value(const struct conf_tok *t, bool v6)
{
    return v6 ? name_or_number(t, icmp6_types, COUNT(icmp6_types), 255)
              : name_or_number(t, icmp_types, COUNT(icmp_types), 255);
}

long pf_unreach_value(const struct conf_tok *t) { return name_or_number(t, unreach_codes, COUNT(unreach_codes), 255); }

long pf_unreach6_value(const struct conf_tok *t)
{
    return name_or_number(t, unreach6_codes, COUNT(unreach6_codes), 255);
}
