/*
 * conf.c - the appliance.conf parser (grammar and rules in conf.h).
 *
 * Shape: one pass over the text, a line at a time.  Each line is first
 * screened (length, bytes: printable ASCII outside comments, no NUL
 * anywhere), then split into words by a small lexer and handed to the
 * statement's parser, which fills struct conf directly.  State that spans
 * lines is the open tls block (struct pstate.tls*) and the "seen on line N"
 * marks that make a second hostname or a second backend an error.
 *
 * Errors: every check calls fail() with a column and "expected ...", which
 * records the error and makes the statement's parser return; the main loop
 * then goes on with the next line, so one parse reports several errors.
 * A tls block whose opening line is wrong is still read (into a scratch
 * listener that is thrown away) so its lines do not cascade into errors of
 * their own.  Firewall rules are checked last, by the caller's checker
 * (conf.h), when every interface is known.  The errors are kept sorted by
 * line and column; when there are more than fit, the latest are dropped.
 *
 * A parse that found any error leaves *out as conf_init made it (validate,
 * then commit: the caller never sees half a configuration).
 */
#include "conf.h"

#include <keel/string.h>

#include <keel/textbuf.h>
#include "conf_addr.h"
#include "conf_lex.h"
#include "conf_pf.h"
#include "passwd.h"

#define GOT_MAX 32 /* bytes of an offending word quoted in a message */

struct tok {
    const char *s;
    size_t n;
    unsigned col; /* 1-based byte column (of where a missing word belongs, when n == 0) */
};

/* The 'seen on line N' marks of a tls block (0: not yet). */
struct tls_seen {
    unsigned backend, proxy, max_conns, idle, handshake, alpn, versions, default_cert;
};

struct pstate {
    const char *file;
    unsigned max_errors;
    struct conf *c;
    struct conf_result *res;
    bool failed; /* any error at all */

    /* The current line: s[0, len), comment included, newline excluded. */
    const char *s;
    size_t len, pos;
    unsigned line;

    /* Lines of single statements (0: not seen). */
    unsigned hostname_line, log_line, hash_line, gateway_line, gateway6_line;

    /* The open tls block, if any. */
    bool in_tls;
    bool tls_discard;     /* the block is read into scratch and thrown away */
    struct conf_tls *tls; /* &c->tls[c->n_tls] or &scratch */
    unsigned tls_brace_col;
    struct tls_seen seen;
    struct conf_tls scratch;

    /* Where each firewall statement was written, for conf_pf's check. */
    size_t rule_src_off[CONF_MAX_RULES];
    uint16_t rule_src_len[CONF_MAX_RULES]; /* <= CONF_LINE_MAX */
    struct conf_pf_work pf;
};

/* ---------------------------------------------------------------- errors -- */

static size_t str_len(const char *s) { return strlen(s); }

/* Records "FILE:LINE:COL: MSG[ (got "WORD")]" at LINE, keeping the list
 * sorted and its earliest max_errors entries. */
static void record(struct pstate *ps, unsigned line, unsigned col, const char *msg, const struct tok *got)
{
    ps->failed = true;
    struct conf_result *r = ps->res;
    if (!r)
        return;
    unsigned at = r->n_errors;
    while (at > 0 && (r->errors[at - 1].line > line || (r->errors[at - 1].line == line && r->errors[at - 1].col > col)))
        at--;
    if (at >= ps->max_errors) {
        r->more = true;
        return;
    }
    if (r->n_errors == ps->max_errors) {
        r->n_errors--; /* drop the latest */
        r->more = true;
    }
    for (unsigned i = r->n_errors; i > at; i--)
        r->errors[i] = r->errors[i - 1];
    r->n_errors++;
    struct conf_diag *d = &r->errors[at];
    d->line = line;
    d->col = col;
    struct textbuf b;
    tb_init(&b, d->msg, sizeof d->msg);
    tb_put(&b, ps->file);
    tb_put(&b, ":");
    tb_u64(&b, line);
    tb_put(&b, ":");
    tb_u64(&b, col);
    tb_put(&b, ": ");
    tb_put(&b, msg);
    if (got && got->n) {
        tb_put(&b, " (got \"");
        for (size_t i = 0; i < got->n && i < GOT_MAX; i++) {
            char ch = got->s[i];
            tb_putn(&b, (ch >= ' ' && ch <= '~' && ch != '"') ? &ch : "?", 1);
        }
        tb_put(&b, got->n > GOT_MAX ? "...\")" : "\")");
    }
}

/* An error at column COL of the current line; returns -1 for `return fail(...)`. */
static int fail(struct pstate *ps, unsigned col, const char *msg, const struct tok *got)
{
    record(ps, ps->line, col, msg, got);
    return -1;
}

/* Like fail, with " (line N has one)" or similar: MSG + N + TAIL. */
static int fail_line(struct pstate *ps, unsigned col, const char *msg, unsigned n, const char *tail)
{
    char m[CONF_MSG_MAX];
    struct textbuf b;
    tb_init(&b, m, sizeof m);
    tb_put(&b, msg);
    tb_u64(&b, n);
    tb_put(&b, tail);
    return fail(ps, col, m, NULL);
}

/* ----------------------------------------------------------------- lexer -- */

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f'; }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_lower(char ch) { return ch >= 'a' && ch <= 'z'; }
static bool is_alpha(char ch) { return is_lower(ch) || (ch >= 'A' && ch <= 'Z'); }
static bool is_alnum(char ch) { return is_alpha(ch) || is_digit(ch); }

/* The next word of the line (conf_lex.h, plain mode), or false at its end
 * or at a comment (then t->col is where a missing word belongs). */
static bool lex(struct pstate *ps, struct tok *t)
{
    struct conf_lex l;
    struct conf_tok ct;
    conf_lex_init(&l, ps->s, ps->len, false);
    l.pos = ps->pos;
    bool got = conf_lex_next(&l, &ct);
    ps->pos = l.pos;
    t->s = ct.s;
    t->n = ct.n;
    t->col = ct.col;
    return got;
}

static bool tok_is(const struct tok *t, const char *w)
{
    size_t n = str_len(w);
    return t->n == n && memcmp(t->s, w, n) == 0;
}

/* The next word, which must be there: else an error "expected WHAT". */
static int need(struct pstate *ps, struct tok *t, const char *what)
{
    if (!lex(ps, t))
        return fail(ps, t->col, what, NULL);
    return 0;
}

/* The line must end here (a comment may follow). */
static int need_end(struct pstate *ps)
{
    struct tok t;
    if (lex(ps, &t))
        return fail(ps, t.col, "expected the end of the line", &t);
    return 0;
}

/* Copies T into DST (CAP bytes with the NUL); false if it does not fit. */
static bool tok_copy(const struct tok *t, char *dst, size_t cap)
{
    if (t->n + 1 > cap)
        return false;
    memcpy(dst, t->s, t->n);
    dst[t->n] = '\0';
    return true;
}

/* --------------------------------------------------------------- values -- */

static bool parse_uint(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out)
{
    return conf_parse_uint(s, n, min, max, out);
}

static bool parse_ipv4(const char *s, size_t n, uint32_t *out) { return conf_parse_ipv4(s, n, out); }

static uint32_t prefix_mask(unsigned prefix) { return prefix ? 0xffffffffu << (32 - prefix) : 0; }

/* RFC 1123 host name: labels of [A-Za-z0-9-], 1-63 bytes, not starting or
 * ending with '-', joined by single dots; WILDCARD allows a leading "*.". */
static bool valid_dns_name(const char *s, size_t n, size_t max, bool wildcard)
{
    if (n == 0 || n > max)
        return false;
    size_t i = 0;
    if (wildcard && n > 2 && s[0] == '*' && s[1] == '.')
        i = 2;
    size_t label = 0;
    for (; i <= n; i++) {
        char ch = i < n ? s[i] : '.';
        if (ch == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (is_alnum(ch) || ch == '-') {
            if (label == 0 && ch == '-')
                return false;
            label++;
        } else {
            return false;
        }
    }
    return true;
}

/* A relative path inside the configuration's folder. */
static bool valid_path(const char *s, size_t n)
{
    if (n == 0 || n >= CONF_PATH_MAX || s[0] == '/' || s[n - 1] == '/')
        return false;
    size_t comp = 0;
    for (size_t i = 0; i <= n; i++) {
        char ch = i < n ? s[i] : '/';
        if (ch == '/') {
            if (comp == 0 || (comp == 2 && s[i - 1] == '.' && s[i - 2] == '.') || (comp == 1 && s[i - 1] == '.'))
                return false;
            comp = 0;
        } else if (is_alnum(ch) || ch == '.' || ch == '_' || ch == '-') {
            comp++;
        } else {
            return false;
        }
    }
    return true;
}

/* N followed by s, m or h; seconds in [1, max]. */
static bool parse_duration(const struct tok *t, uint32_t max, uint32_t *out)
{
    if (t->n < 2)
        return false;
    uint64_t mult;
    switch (t->s[t->n - 1]) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    default: return false;
    }
    uint64_t v;
    if (!parse_uint(t->s, t->n - 1, 1, max, &v) || v * mult > max)
        return false;
    *out = (uint32_t)(v * mult);
    return true;
}

/* ---------------------------------------------------------- statements -- */

static int st_hostname(struct pstate *ps, const struct tok *kw)
{
    struct tok t;
    if (ps->hostname_line)
        return fail_line(ps, kw->col, "expected one hostname line (line ", ps->hostname_line, " has one)");
    if (need(ps, &t, "expected a host name after hostname"))
        return -1;
    if (!valid_dns_name(t.s, t.n, CONF_HOSTNAME_MAX - 1, false))
        return fail(ps, t.col, "expected a host name (letters, digits, '-' and '.', at most 63 characters)", &t);
    if (need_end(ps))
        return -1;
    (void)tok_copy(&t, ps->c->hostname, sizeof ps->c->hostname);
    ps->hostname_line = ps->line;
    return 0;
}

static const char *const level_names[] = { "debug", "info", "warn", "error" };

const char *conf_log_level_name(unsigned level)
{
    return level < sizeof level_names / sizeof level_names[0] ? level_names[level] : "?";
}

static int st_log(struct pstate *ps, const struct tok *kw)
{
    struct tok t;
    if (ps->log_line)
        return fail_line(ps, kw->col, "expected one log line (line ", ps->log_line, " has one)");
    if (need(ps, &t, "expected a log level after log: debug, info, warn or error"))
        return -1;
    unsigned level;
    for (level = 0; level < 4; level++)
        if (tok_is(&t, level_names[level]))
            break;
    if (level == 4)
        return fail(ps, t.col, "expected a log level: debug, info, warn or error", &t);
    if (need_end(ps))
        return -1;
    ps->c->log_level = (uint8_t)level;
    ps->log_line = ps->line;
    return 0;
}

static bool valid_ifname(const struct tok *t)
{
    if (t->n == 0 || t->n >= CONF_IFNAME_MAX || !is_lower(t->s[0]))
        return false;
    for (size_t i = 1; i < t->n; i++)
        if (!is_lower(t->s[i]) && !is_digit(t->s[i]) && t->s[i] != '_' && t->s[i] != '-')
            return false;
    return true;
}

#define IF_CLAUSES "expected dhcp, address A.B.C.D/P, address IPV6/P or autoconf"

/* `address A.B.C.D/P [gateway A.B.C.D]` after its address word T. */
static int if_address4(struct pstate *ps, struct conf_iface *f, struct tok *t)
{
    uint64_t v;
    size_t slash = 0;
    while (slash < t->n && t->s[slash] != '/')
        slash++;
    if (slash == t->n || !parse_ipv4(t->s, slash, &f->addr) ||
        !parse_uint(t->s + slash + 1, t->n - slash - 1, 1, 32, &v))
        return fail(ps, t->col, "expected an address A.B.C.D/P (prefix length 1-32)", t);
    f->mode = CONF_IF_STATIC;
    f->prefix = (uint8_t)v;
    size_t save = ps->pos;
    struct tok g;
    if (!lex(ps, &g) || !tok_is(&g, "gateway")) {
        ps->pos = save; /* not ours: the next clause */
        return 0;
    }
    if (need(ps, &g, "expected a gateway address A.B.C.D after gateway"))
        return -1;
    uint32_t mask = prefix_mask(f->prefix);
    if (!parse_ipv4(g.s, g.n, &f->gateway))
        return fail(ps, g.col, "expected a gateway address A.B.C.D", &g);
    if ((f->gateway & mask) != (f->addr & mask) || f->gateway == f->addr)
        return fail(ps, g.col, "expected a gateway inside the interface's prefix, other than its address", &g);
    if (ps->gateway_line)
        return fail_line(ps, g.col, "expected one default gateway (line ", ps->gateway_line, " has one)");
    f->has_gateway = true;
    return 0;
}

/* True iff A (network order) is a global or unique-local unicast address:
 * not ::, ::1, multicast ff00::/8, link-local fe80::/10 or IPv4-mapped. */
static bool v6_unicast(const uint8_t a[16]) { return conf_ip6_unicast(a); }

#define V6_UNICAST_WHAT CONF_V6_UNICAST_WHAT

/* True iff A and B (network order) agree in their first PREFIX bits. */
static bool v6_same_net(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);
        if ((a[i] ^ b[i]) & mask)
            return false;
    }
    return true;
}

/* `address IPV6/P [gateway IPV6]`: a global or unique-local unicast
 * address (not ::, ::1, multicast ff00::/8, link-local fe80::/10, which
 * every IPv6 interface makes itself, or IPv4-mapped), prefix length 1-128;
 * the gateway likewise, inside the prefix and not the address. */
static int if_address6(struct pstate *ps, struct conf_iface *f, const struct tok *t)
{
    struct conf_ip ip;
    unsigned prefix;
    size_t slash;
    int rc = conf_parse_prefix(t->s, t->n, &ip, &prefix, &slash);
    if (rc || ip.af != CONF_AF_INET6 || slash >= t->n || prefix < 1)
        return fail(ps, t->col, "expected an address IPV6/P (prefix length 1-128)", t);
    if (!v6_unicast(ip.a))
        return fail(ps, t->col, "expected a unicast IPv6 address " V6_UNICAST_WHAT, t);
    f->mode6 = CONF_IF6_STATIC;
    f->prefix6 = (uint8_t)prefix;
    memcpy(f->addr6, ip.a, 16);
    size_t save = ps->pos;
    struct tok g;
    if (!lex(ps, &g) || !tok_is(&g, "gateway")) {
        ps->pos = save; /* not ours: the next clause */
        return 0;
    }
    if (need(ps, &g, "expected a gateway address IPV6 after gateway"))
        return -1;
    struct conf_ip gw;
    if (!conf_parse_ip(g.s, g.n, &gw) || gw.af != CONF_AF_INET6)
        return fail(ps, g.col, "expected an IPv6 gateway address (the interface's address is IPv6)", &g);
    if (!v6_unicast(gw.a))
        return fail(ps, g.col, "expected a unicast IPv6 gateway " V6_UNICAST_WHAT, &g);
    if (!v6_same_net(gw.a, f->addr6, f->prefix6) || memcmp(gw.a, f->addr6, 16) == 0)
        return fail(ps, g.col, "expected a gateway inside the interface's prefix, other than its address", &g);
    if (ps->gateway6_line)
        return fail_line(ps, g.col, "expected one IPv6 default gateway (line ", ps->gateway6_line, " has one)");
    f->has_gateway6 = true;
    memcpy(f->gateway6, gw.a, 16);
    return 0;
}

/* One clause of an interface line, T its first word: at most one IPv4
 * clause (dhcp, address A.B.C.D/P) and one IPv6 clause (address IPV6/P,
 * autoconf). */
static int if_clause(struct pstate *ps, struct conf_iface *f, struct tok *t)
{
    bool v6 = tok_is(t, "autoconf");
    struct tok a = { 0 };
    if (tok_is(t, "address")) {
        if (need(ps, &a, "expected an address A.B.C.D/P or IPV6/P after address"))
            return -1;
        for (size_t i = 0; i < a.n; i++)
            v6 = v6 || a.s[i] == ':';
    } else if (!v6 && !tok_is(t, "dhcp")) {
        return fail(ps, t->col, IF_CLAUSES, t);
    }
    if (v6 && f->mode6)
        return fail(ps, t->col, "expected one IPv6 clause (address IPV6/P or autoconf) per interface", t);
    if (!v6 && f->mode)
        return fail(ps, t->col, "expected one IPv4 clause (dhcp or address A.B.C.D/P) per interface", t);
    if (tok_is(t, "dhcp")) {
        f->mode = CONF_IF_DHCP;
        return 0;
    }
    if (tok_is(t, "autoconf")) {
        f->mode6 = CONF_IF6_AUTOCONF;
        return 0;
    }
    return v6 ? if_address6(ps, f, &a) : if_address4(ps, f, &a);
}

static int st_interface(struct pstate *ps, const struct tok *kw)
{
    struct conf *c = ps->c;
    struct conf_iface f = { 0 };
    struct tok t;
    uint64_t v;
    if (need(ps, &t, "expected an interface name after interface"))
        return -1;
    if (!valid_ifname(&t))
        return fail(ps, t.col, "expected an interface name ([a-z][a-z0-9_-]*, at most 15 characters)", &t);
    for (unsigned i = 0; i < c->n_ifaces; i++)
        if (tok_is(&t, c->ifaces[i].name))
            return fail_line(ps, t.col, "expected a new interface name (line ", c->ifaces[i].line, " has this one)");
    if (c->n_ifaces == CONF_MAX_IFACES)
        return fail(ps, kw->col, "expected at most 8 interfaces", NULL);
    (void)tok_copy(&t, f.name, sizeof f.name);
    if (need(ps, &t, "expected nic N after the interface name"))
        return -1;
    if (!tok_is(&t, "nic"))
        return fail(ps, t.col, "expected nic N after the interface name", &t);
    if (need(ps, &t, "expected a NIC number (0-7) after nic"))
        return -1;
    if (!parse_uint(t.s, t.n, 0, CONF_MAX_NIC, &v))
        return fail(ps, t.col, "expected a NIC number (0-7) after nic", &t);
    for (unsigned i = 0; i < c->n_ifaces; i++)
        if (c->ifaces[i].nic == v)
            return fail_line(ps, t.col, "expected a NIC no other interface uses (line ", c->ifaces[i].line,
                             " has this one)");
    f.nic = (uint8_t)v;
    if (need(ps, &t, IF_CLAUSES))
        return -1;
    for (;;) {
        if (if_clause(ps, &f, &t))
            return -1;
        if (!lex(ps, &t))
            break;
    }
    if (f.has_gateway)
        ps->gateway_line = ps->line;
    if (f.has_gateway6)
        ps->gateway6_line = ps->line;
    f.line = ps->line;
    c->ifaces[c->n_ifaces++] = f;
    return 0;
}

/* The rest of `route IPV6/P via G`, T the network word (netd_route.h has
 * what netd does with it). */
static int st_route6(struct pstate *ps, const struct tok *kw, const struct tok *net_tok)
{
    struct conf *c = ps->c;
    struct tok t;
    struct conf_ip net, gw;
    unsigned prefix;
    size_t slash;
    if (conf_parse_prefix(net_tok->s, net_tok->n, &net, &prefix, &slash) != 0 || net.af != CONF_AF_INET6 ||
        slash >= net_tok->n)
        return fail(ps, net_tok->col, "expected a network IPV6/P (prefix length 1-128)", net_tok);
    if (need(ps, &t, "expected via GATEWAY after the network"))
        return -1;
    if (!tok_is(&t, "via"))
        return fail(ps, t.col, "expected via GATEWAY after the network", &t);
    if (need(ps, &t, "expected a gateway address IPV6 after via"))
        return -1;
    if (!conf_parse_ip(t.s, t.n, &gw) || gw.af != CONF_AF_INET6)
        return fail(ps, t.col, "expected an IPv6 gateway address (the network is IPv6)", &t);
    struct tok gw_tok = t;
    if (need_end(ps))
        return -1;
    if (prefix == 0)
        return fail(ps, net_tok->col,
                    "expected a prefix length 1-128 (the default route is an interface's gateway or a router "
                    "advertisement)",
                    net_tok);
    struct conf_ip masked = net;
    conf_ip_mask(&masked, prefix);
    if (!conf_ip_equal(&masked, &net))
        return fail(ps, net_tok->col, "expected a network address (no bits set beyond the prefix)", net_tok);
    if (net.a[0] == 0xff || (net.a[0] == 0xfe && (net.a[1] & 0xc0) == 0x80))
        return fail(ps, net_tok->col, "expected a unicast network (not multicast ff00::/8 or link-local fe80::/10)",
                    net_tok);
    if (!v6_unicast(gw.a))
        return fail(ps, gw_tok.col,
                    "expected a unicast IPv6 gateway (not ::, ::1, IPv4-mapped, multicast or link-local fe80::/10: "
                    "a global or unique-local address of a connected network)",
                    &gw_tok);
    for (unsigned i = 0; i < c->n_routes; i++)
        if (c->routes[i].v6 && c->routes[i].prefix == prefix && memcmp(c->routes[i].net6, net.a, 16) == 0)
            return fail(ps, net_tok->col, "expected a network no other route line names", net_tok);
    if (c->n_routes == CONF_MAX_ROUTES)
        return fail(ps, kw->col, "expected at most 32 route lines", NULL);
    struct conf_route *r = &c->routes[c->n_routes++];
    memset(r, 0, sizeof *r);
    r->v6 = true;
    r->prefix = (uint8_t)prefix;
    r->line = ps->line;
    memcpy(r->net6, net.a, 16);
    memcpy(r->gw6, gw.a, 16);
    return 0;
}

/* A unicast gateway: not 0.0.0.0, broadcast, multicast or loopback. */
static bool unicast(uint32_t a) { return a != 0 && a != 0xffffffffu && (a >> 28) != 0xe && (a >> 24) != 127; }

/* `route A.B.C.D/P via G` or `route IPV6/P via G` (netd_route.h has what
 * netd does with it). */
static int st_route(struct pstate *ps, const struct tok *kw)
{
    struct conf *c = ps->c;
    struct tok t;
    uint64_t v;
    uint32_t net = 0, gw = 0;
    if (need(ps, &t, "expected a network A.B.C.D/P or IPV6/P after route"))
        return -1;
    for (size_t i = 0; i < t.n; i++)
        if (t.s[i] == ':')
            return st_route6(ps, kw, &t);
    size_t slash = 0;
    while (slash < t.n && t.s[slash] != '/')
        slash++;
    if (slash == t.n || !parse_ipv4(t.s, slash, &net) || !parse_uint(t.s + slash + 1, t.n - slash - 1, 0, 32, &v))
        return fail(ps, t.col, "expected a network A.B.C.D/P (prefix length 1-32)", &t);
    struct tok net_tok = t;
    if (need(ps, &t, "expected via GATEWAY after the network"))
        return -1;
    if (!tok_is(&t, "via"))
        return fail(ps, t.col, "expected via GATEWAY after the network", &t);
    if (need(ps, &t, "expected a gateway address A.B.C.D after via"))
        return -1;
    if (!parse_ipv4(t.s, t.n, &gw))
        return fail(ps, t.col, "expected a gateway address A.B.C.D (the network is IPv4)", &t);
    struct tok gw_tok = t;
    if (need_end(ps))
        return -1;
    if (v == 0)
        return fail(ps, net_tok.col, "expected a prefix length 1-32 (the default route is an interface's gateway)",
                    &net_tok);
    if (net & ~prefix_mask((unsigned)v))
        return fail(ps, net_tok.col, "expected a network address (no bits set beyond the prefix)", &net_tok);
    if (!unicast(gw))
        return fail(ps, gw_tok.col, "expected a unicast gateway address", &gw_tok);
    for (unsigned i = 0; i < c->n_routes; i++)
        if (!c->routes[i].v6 && c->routes[i].net == net && c->routes[i].prefix == v)
            return fail(ps, net_tok.col, "expected a network no other route line names", &net_tok);
    if (c->n_routes == CONF_MAX_ROUTES)
        return fail(ps, kw->col, "expected at most 32 route lines", NULL);
    c->routes[c->n_routes++] = (struct conf_route){ .net = net, .gw = gw, .prefix = (uint8_t)v, .line = ps->line };
    return 0;
}

/* A firewall statement: stored normalised (blanks outside "strings"
 * squeezed); checked at the end (check_rules). */
static int st_rule(struct pstate *ps, const struct tok *kw)
{
    struct conf *c = ps->c;
    if (c->n_rules == CONF_MAX_RULES)
        return fail(ps, kw->col, "expected at most 256 firewall rules", NULL);
    size_t start = c->rule_text_len, out = start;
    bool blank = false, quoted = false;
    for (size_t i = kw->col - 1; i < ps->len && (quoted || ps->s[i] != '#'); i++) {
        quoted ^= ps->s[i] == '"';
        if (is_blank(ps->s[i]) && !quoted) {
            blank = true;
            continue;
        }
        if (blank && out > start) {
            if (out == CONF_RULE_TEXT)
                return fail(ps, kw->col, "expected at most 16384 bytes of firewall rules in all", NULL);
            c->rule_text[out++] = ' ';
        }
        blank = false;
        if (out == CONF_RULE_TEXT)
            return fail(ps, kw->col, "expected at most 16384 bytes of firewall rules in all", NULL);
        c->rule_text[out++] = ps->s[i];
    }
    /* point of no return (conf_parse records where the line is, for the checker) */
    c->rules[c->n_rules].off = (uint16_t)start;
    c->rules[c->n_rules].len = (uint16_t)(out - start);
    c->rules[c->n_rules].line = ps->line;
    c->rule_text_len = out;
    c->n_rules++;
    return 0;
}

static const char *const tls_words = "certificate, backend, proxy-protocol, max-connections, idle-timeout, "
                                     "handshake-timeout, alpn, tls-versions or '}'";

static int st_tls_open(struct pstate *ps, const struct tok *kw)
{
    struct conf *c = ps->c;
    struct tok t;
    uint64_t v;
    bool ok = true;
    struct conf_tls *tls = c->n_tls < CONF_MAX_TLS ? &c->tls[c->n_tls] : &ps->scratch;
    /* Whatever goes wrong on this line, a block opened with '{' is read (into
     * scratch if need be) so that its lines do not cascade into errors. */
    size_t p = ps->pos, brace = 0;
    for (size_t i = p; i < ps->len && ps->s[i] != '#'; i++)
        if (ps->s[i] == '{')
            brace = i + 1;
    memset(tls, 0, sizeof *tls);
    tls->max_connections = CONF_DEFAULT_MAX_CONNECTIONS;
    tls->idle_timeout = CONF_DEFAULT_IDLE_TIMEOUT;
    tls->handshake_timeout = CONF_DEFAULT_HANDSHAKE_TIMEOUT;
    tls->tls_versions = CONF_TLS_DEFAULT;
    tls->line = ps->line;
    memset(&ps->seen, 0, sizeof ps->seen);
    ps->tls = tls;
    ps->tls_brace_col = brace ? (unsigned)brace : kw->col;

    if (need(ps, &t, "expected a port (1-65535) after tls")) {
        ok = false;
    } else if (!parse_uint(t.s, t.n, 1, 65535, &v)) {
        ok = fail(ps, t.col, "expected a port (1-65535) after tls", &t) == 0;
    } else {
        for (unsigned i = 0; i < c->n_tls && ok; i++)
            if (c->tls[i].port == v)
                ok = fail_line(ps, t.col, "expected a port no other tls block uses (line ", c->tls[i].line,
                               " has this one)") == 0;
        tls->port = (uint16_t)v;
        if (ok && !lex(ps, &t))
            ok = fail(ps, t.col, "expected '{' after the port", NULL) == 0;
        else if (ok && !tok_is(&t, "{"))
            ok = fail(ps, t.col, "expected '{' after the port", &t) == 0;
        else if (ok)
            ok = need_end(ps) == 0;
    }
    if (ok && c->n_tls == CONF_MAX_TLS)
        ok = fail(ps, kw->col, "expected at most 8 tls blocks", NULL) == 0;
    if (!brace)
        return -1; /* no block to read: its lines will be errors of their own */
    ps->in_tls = true;
    ps->tls_discard = !ok;
    if (!ok)
        ps->tls = &ps->scratch;
    if (tls != ps->tls)
        *ps->tls = *tls;
    return ok ? 0 : -1;
}

static int tls_once(struct pstate *ps, const struct tok *kw, unsigned *seen, const char *what)
{
    if (*seen) {
        char m[CONF_MSG_MAX];
        struct textbuf b;
        tb_init(&b, m, sizeof m);
        tb_put(&b, "expected one ");
        tb_put(&b, what);
        tb_put(&b, " line per tls block (line ");
        tb_u64(&b, *seen);
        tb_put(&b, " has one)");
        return fail(ps, kw->col, m, NULL);
    }
    return 0;
}

static int tls_certificate(struct pstate *ps, const struct tok *first)
{
    struct conf_tls *tls = ps->tls;
    struct conf_cert cert = { 0 };
    struct tok t, kw;
    if (need(ps, &t, "expected a certificate file after certificate"))
        return -1;
    if (!valid_path(t.s, t.n))
        return fail(ps, t.col, "expected a relative file path ([A-Za-z0-9._/-], no '..', at most 127 bytes)", &t);
    (void)tok_copy(&t, cert.cert, sizeof cert.cert);
    if (need(ps, &kw, "expected key FILE after the certificate"))
        return -1;
    if (!tok_is(&kw, "key"))
        return fail(ps, kw.col, "expected key FILE after the certificate", &kw);
    if (need(ps, &t, "expected a key file after key"))
        return -1;
    if (!valid_path(t.s, t.n))
        return fail(ps, t.col, "expected a relative file path ([A-Za-z0-9._/-], no '..', at most 127 bytes)", &t);
    (void)tok_copy(&t, cert.key, sizeof cert.key);
    if (lex(ps, &kw)) {
        if (!tok_is(&kw, "sni"))
            return fail(ps, kw.col, "expected sni NAME or the end of the line", &kw);
        if (need(ps, &t, "expected a server name after sni"))
            return -1;
        if (!valid_dns_name(t.s, t.n, CONF_DNSNAME_MAX - 1, true))
            return fail(ps, t.col, "expected a server name (a DNS name, '*.' allowed in front)", &t);
        (void)tok_copy(&t, cert.sni, sizeof cert.sni);
        for (size_t i = 0; cert.sni[i]; i++)
            if (cert.sni[i] >= 'A' && cert.sni[i] <= 'Z')
                cert.sni[i] = (char)(cert.sni[i] - 'A' + 'a');
        for (unsigned i = 0; i < tls->n_certs; i++)
            if (strcmp(tls->certs[i].sni, cert.sni) == 0)
                return fail_line(ps, t.col, "expected a server name no other certificate has (line ",
                                 tls->certs[i].line, " has this one)");
    } else if (ps->seen.default_cert) {
        return fail_line(ps, kw.col, "expected sni NAME: the default certificate is on line ", ps->seen.default_cert,
                         "");
    }
    if (need_end(ps))
        return -1;
    if (tls->n_certs == CONF_MAX_CERTS)
        return fail(ps, first->col, "expected at most 8 certificates per tls block", NULL);
    if (!cert.sni[0])
        ps->seen.default_cert = ps->line;
    cert.line = ps->line;
    tls->certs[tls->n_certs++] = cert;
    return 0;
}

#define BACKEND_WHAT "expected a backend A.B.C.D:PORT or [IPV6]:PORT (port 1-65535)"

/* `backend A.B.C.D:PORT` or `backend [IPV6]:PORT` (brackets as in URLs,
 * RFC 3986 3.2.2); an IPv6 one is global or unique-local unicast. */
static int tls_backend(struct pstate *ps, const struct tok *kw)
{
    struct tok t;
    uint32_t addr = 0;
    struct conf_ip ip6 = { 0 };
    bool v6;
    if (tls_once(ps, kw, &ps->seen.backend, "backend"))
        return -1;
    if (need(ps, &t, "expected a backend A.B.C.D:PORT or [IPV6]:PORT after backend"))
        return -1;
    struct conf_ip ep;
    uint16_t port = 0;
    int r = conf_parse_endpoint(t.s, t.n, true, &ep, &port);
    if (r == 2)
        return fail(ps, t.col, "expected a unicast IPv6 backend " V6_UNICAST_WHAT, &t);
    if (r != 0 || (ep.af == CONF_AF_INET6 && t.s[0] != '['))
        return fail(ps, t.col, BACKEND_WHAT, &t);
    v6 = ep.af == CONF_AF_INET6;
    if (v6)
        ip6 = ep;
    else
        addr = conf_ip_v4(&ep);
    if (need_end(ps))
        return -1;
    ps->tls->backend_addr = addr;
    ps->tls->backend_v6 = v6;
    memcpy(ps->tls->backend_addr6, ip6.a, 16);
    ps->tls->backend_port = (uint16_t)port;
    ps->seen.backend = ps->line;
    return 0;
}

static int tls_proxy(struct pstate *ps, const struct tok *kw)
{
    struct tok t;
    if (tls_once(ps, kw, &ps->seen.proxy, "proxy-protocol"))
        return -1;
    if (need(ps, &t, "expected v1 or v2 after proxy-protocol"))
        return -1;
    uint8_t v = tok_is(&t, "v1") ? CONF_PROXY_V1 : tok_is(&t, "v2") ? CONF_PROXY_V2 : CONF_PROXY_NONE;
    if (v == CONF_PROXY_NONE)
        return fail(ps, t.col, "expected v1 or v2 after proxy-protocol", &t);
    if (need_end(ps))
        return -1;
    ps->tls->proxy_protocol = v;
    ps->seen.proxy = ps->line;
    return 0;
}

static int tls_max_conns(struct pstate *ps, const struct tok *kw)
{
    struct tok t;
    uint64_t v;
    if (tls_once(ps, kw, &ps->seen.max_conns, "max-connections"))
        return -1;
    if (need(ps, &t, "expected a number (1-65535) after max-connections"))
        return -1;
    if (!parse_uint(t.s, t.n, 1, CONF_MAX_MAX_CONNECTIONS, &v))
        return fail(ps, t.col, "expected a number (1-65535) after max-connections", &t);
    if (need_end(ps))
        return -1;
    ps->tls->max_connections = (uint32_t)v;
    ps->seen.max_conns = ps->line;
    return 0;
}

static int tls_timeout(struct pstate *ps, const struct tok *kw, bool idle)
{
    struct tok t;
    uint32_t v;
    const char *what = idle ? "expected a duration (1s-24h; a number and s, m or h) after idle-timeout"
                            : "expected a duration (1s-10m; a number and s, m or h) after handshake-timeout";
    if (tls_once(ps, kw, idle ? &ps->seen.idle : &ps->seen.handshake, idle ? "idle-timeout" : "handshake-timeout"))
        return -1;
    if (need(ps, &t, what))
        return -1;
    if (!parse_duration(&t, idle ? CONF_MAX_IDLE_TIMEOUT : CONF_MAX_HANDSHAKE_TIMEOUT, &v))
        return fail(ps, t.col, what, &t);
    if (need_end(ps))
        return -1;
    if (idle) {
        ps->tls->idle_timeout = v;
        ps->seen.idle = ps->line;
    } else {
        ps->tls->handshake_timeout = v;
        ps->seen.handshake = ps->line;
    }
    return 0;
}

static int tls_alpn(struct pstate *ps, const struct tok *kw)
{
    struct tok t;
    char ids[CONF_MAX_ALPN][CONF_ALPN_MAX];
    unsigned n = 0;
    if (tls_once(ps, kw, &ps->seen.alpn, "alpn"))
        return -1;
    if (need(ps, &t, "expected a protocol (such as h2 or http/1.1) after alpn"))
        return -1;
    do {
        bool ok = t.n < CONF_ALPN_MAX;
        for (size_t i = 0; i < t.n && ok; i++)
            ok = is_alnum(t.s[i]) || t.s[i] == '.' || t.s[i] == '/' || t.s[i] == '_' || t.s[i] == '-';
        if (!ok)
            return fail(ps, t.col, "expected a protocol id ([A-Za-z0-9./_-], at most 15 characters)", &t);
        if (n == CONF_MAX_ALPN)
            return fail(ps, t.col, "expected at most 4 protocols after alpn", &t);
        (void)tok_copy(&t, ids[n], sizeof ids[n]);
        for (unsigned i = 0; i < n; i++)
            if (strcmp(ids[i], ids[n]) == 0)
                return fail(ps, t.col, "expected each protocol once", &t);
        n++;
    } while (lex(ps, &t));
    memcpy(ps->tls->alpn, ids, sizeof ids);
    ps->tls->n_alpn = n;
    ps->seen.alpn = ps->line;
    return 0;
}

/* tls-versions 1.2-1.3 | 1.3 | 1.2 */
static int tls_versions(struct pstate *ps, const struct tok *kw)
{
    struct tok t;
    const char *what = "expected 1.2-1.3, 1.3 or 1.2 after tls-versions";
    if (tls_once(ps, kw, &ps->seen.versions, "tls-versions"))
        return -1;
    if (need(ps, &t, what))
        return -1;
    uint8_t v = tok_is(&t, "1.2-1.3") ? CONF_TLS_V12 | CONF_TLS_V13
                : tok_is(&t, "1.3")   ? CONF_TLS_V13
                : tok_is(&t, "1.2")   ? CONF_TLS_V12
                                      : 0;
    if (!v)
        return fail(ps, t.col, what, &t);
    if (need_end(ps))
        return -1;
    ps->tls->tls_versions = v;
    ps->seen.versions = ps->line;
    return 0;
}

/* '}': the block must be complete. */
static int tls_close(struct pstate *ps, const struct tok *kw)
{
    struct conf_tls *tls = ps->tls;
    bool discard = ps->tls_discard;
    ps->in_tls = false;
    if (need_end(ps))
        discard = true;
    char m[CONF_MSG_MAX];
    struct textbuf b;
    tb_init(&b, m, sizeof m);
    if (!ps->seen.backend) {
        tb_put(&b, "expected a backend line in the tls block of line ");
        tb_u64(&b, tls->line);
        return fail(ps, kw->col, m, NULL);
    }
    if (!ps->seen.default_cert) {
        tb_put(&b, "expected a certificate without sni (the default) in the tls block of line ");
        tb_u64(&b, tls->line);
        return fail(ps, kw->col, m, NULL);
    }
    if (discard)
        return -1;
    ps->c->n_tls++; /* point of no return: the block was built in place */
    return 0;
}

static int st_console(struct pstate *ps, const struct tok *kw)
{
    struct tok t;
    struct passwd_hash h;
    if (need(ps, &t, "expected password-hash after console"))
        return -1;
    if (!tok_is(&t, "password-hash"))
        return fail(ps, t.col, "expected password-hash after console", &t);
    if (ps->hash_line)
        return fail_line(ps, kw->col, "expected one console password-hash line (line ", ps->hash_line, " has one)");
    if (need(ps, &t, "expected a hash made by tools/keel-passwd after password-hash"))
        return -1;
    int err = passwd_parse(t.s, t.n, &h);
    if (err != PASSWD_OK || t.n >= CONF_HASH_MAX)
        return fail(ps, t.col, passwd_strerror(err ? err : PASSWD_E_FORMAT), &t);
    if (need_end(ps))
        return -1;
    (void)tok_copy(&t, ps->c->password_hash, sizeof ps->c->password_hash);
    ps->hash_line = ps->line;
    return 0;
}

/* ------------------------------------------------------------ the loop -- */

static const char *const top_words =
    "expected hostname, log, interface, route, a firewall statement (pass, block, "
    "match, antispoof, table, set or NAME = VALUE), tls, console, syslog, ntp or metrics";

static void line_in_tls(struct pstate *ps, const struct tok *kw)
{
    if (tok_is(kw, "}"))
        (void)tls_close(ps, kw);
    else if (tok_is(kw, "certificate"))
        (void)tls_certificate(ps, kw);
    else if (tok_is(kw, "backend"))
        (void)tls_backend(ps, kw);
    else if (tok_is(kw, "proxy-protocol"))
        (void)tls_proxy(ps, kw);
    else if (tok_is(kw, "max-connections"))
        (void)tls_max_conns(ps, kw);
    else if (tok_is(kw, "idle-timeout"))
        (void)tls_timeout(ps, kw, true);
    else if (tok_is(kw, "handshake-timeout"))
        (void)tls_timeout(ps, kw, false);
    else if (tok_is(kw, "alpn"))
        (void)tls_alpn(ps, kw);
    else if (tok_is(kw, "tls-versions"))
        (void)tls_versions(ps, kw);
    else {
        char m[CONF_MSG_MAX];
        struct textbuf b;
        tb_init(&b, m, sizeof m);
        tb_put(&b, "expected ");
        tb_put(&b, tls_words);
        tb_put(&b, " (the tls block of line ");
        tb_u64(&b, ps->tls->line);
        tb_put(&b, " is open)");
        (void)fail(ps, kw->col, m, kw);
    }
}

/* syslog, ntp, metrics: parsed by conf_ops.c, from the keyword to the end. */
static void st_ops(struct pstate *ps, const struct tok *kw)
{
    char msg[CONF_MSG_MAX];
    unsigned col = 1, off = kw->col - 1;
    if (conf_ops_parse(&ps->c->ops, ps->s + off, ps->len - off, ps->line, &col, msg, sizeof msg))
        (void)fail(ps, off + col, msg, NULL);
    ps->pos = ps->len;
}

static void line_top(struct pstate *ps, const struct tok *kw)
{
    if (tok_is(kw, "hostname"))
        (void)st_hostname(ps, kw);
    else if (tok_is(kw, "log"))
        (void)st_log(ps, kw);
    else if (tok_is(kw, "interface"))
        (void)st_interface(ps, kw);
    else if (tok_is(kw, "route"))
        (void)st_route(ps, kw);
    else if (tok_is(kw, "tls"))
        (void)st_tls_open(ps, kw);
    else if (tok_is(kw, "console"))
        (void)st_console(ps, kw);
    else if (conf_ops_word(kw->s, kw->n))
        st_ops(ps, kw);
    else if (tok_is(kw, "}"))
        (void)fail(ps, kw->col, "expected a statement ('}' closes no tls block here)", NULL);
    else if (conf_pf_is_statement(ps->s, ps->len))
        (void)st_rule(ps, kw);
    else
        (void)fail(ps, kw->col, top_words, kw);
}

/* Screens one line: its length and its bytes.  False (error recorded) if
 * the line is not to be parsed. */
static bool screen_line(struct pstate *ps)
{
    if (ps->len > CONF_LINE_MAX) {
        (void)fail(ps, CONF_LINE_MAX + 1, "expected a line of at most 512 bytes", NULL);
        return false;
    }
    bool comment = false;
    for (size_t i = 0; i < ps->len; i++) {
        unsigned char ch = (unsigned char)ps->s[i];
        if (ch == '#')
            comment = true;
        if (ch == 0 || (!comment && (ch >= 0x7f || (ch < 0x20 && !is_blank((char)ch))))) {
            char m[64] = "expected printable ASCII text (got byte 0x";
            size_t n = str_len(m);
            m[n++] = "0123456789abcdef"[ch >> 4];
            m[n++] = "0123456789abcdef"[ch & 15];
            m[n++] = ')';
            m[n] = '\0';
            (void)fail(ps, (unsigned)i + 1, m, NULL);
            return false;
        }
    }
    return true;
}

void conf_init(struct conf *c)
{
    memset(c, 0, sizeof *c);
    memcpy(c->hostname, CONF_DEFAULT_HOSTNAME, sizeof CONF_DEFAULT_HOSTNAME);
    c->log_level = CONF_LOG_INFO;
}

const char *conf_rule_text(const struct conf *c, unsigned i, size_t *len)
{
    *len = c->rules[i].len;
    return c->rule_text + c->rules[i].off;
}

/* Checks every firewall statement in its original line (conf_pf.h), now
 * that every interface is known; each wrong one is an error of its own. */
static void check_rules(struct pstate *ps, const char *text)
{
    struct conf_pf_error e;
    conf_pf_begin(&ps->pf);
    for (unsigned i = 0; i < ps->c->n_rules; i++) {
        const char *line = text + ps->rule_src_off[i];
        if (conf_pf_statement(ps->c, &ps->pf, NULL, line, ps->rule_src_len[i], ps->c->rules[i].line, &e) != 0)
            record(ps, e.line, e.col, e.msg, NULL);
    }
    if (conf_pf_finish(ps->c, &ps->pf, NULL, &e) != 0)
        record(ps, e.line, e.col, e.msg, NULL);
}

int conf_parse(const struct conf_parser *p, const char *text, size_t len, struct conf *out, struct conf_result *res)
{
    if (!out || (!text && len))
        return CONF_E_INVAL;
    /* The parse state is big (a scratch listener, rule positions); it lives
     * on the stack of this call only. */
    struct pstate ps;
    memset(&ps, 0, sizeof ps);
    ps.file = p && p->file ? p->file : "appliance.conf";
    ps.max_errors = p && p->max_errors && p->max_errors < CONF_MAX_ERRORS ? p->max_errors : CONF_MAX_ERRORS;
    ps.c = out;
    ps.res = res;
    if (res)
        memset(res, 0, sizeof *res);
    conf_init(out);

    size_t pos = 0;
    unsigned line = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        ps.s = text + pos;
        ps.len = end - pos;
        ps.pos = 0;
        ps.line = ++line;
        if (screen_line(&ps)) {
            struct tok kw;
            unsigned n_rules = out->n_rules;
            if (lex(&ps, &kw)) {
                if (ps.in_tls)
                    line_in_tls(&ps, &kw);
                else
                    line_top(&ps, &kw);
            }
            if (out->n_rules != n_rules) { /* a rule was stored: the checker gets the whole line */
                ps.rule_src_off[n_rules] = pos;
                ps.rule_src_len[n_rules] = (uint16_t)ps.len;
            }
        }
        pos = end + 1;
    }
    if (ps.in_tls) {
        ps.line = ps.tls->line;
        (void)fail(&ps, ps.tls_brace_col, "expected '}' to close this tls block before the end of the file", NULL);
    }
    check_rules(&ps, text);
    if (ps.failed) {
        if (!(p && p->keep_on_error))
            conf_init(out);
        return CONF_E_SYNTAX;
    }
    return CONF_OK;
}
