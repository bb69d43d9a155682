/*
 * fw_rules.c - the rule parser and printer (grammar and meaning in fw_rules.h).
 *
 * A hand-written lexer over one line: words, the operators ! = < > (a run
 * of them is one token, so "!=" and "><" are single tokens and "port=80"
 * splits as port, =, 80), and the single characters ( ) ,.  The parser
 * walks the keywords in pf's fixed order with a "phase": a keyword is
 * accepted only at or after its place, so a rule is read left to right in
 * one pass and every error can say exactly which words were possible at
 * that column.
 *
 * Every error names FILE:LINE:COLUMN and what was expected there; the
 * column is the first byte of the offending word, or of the place a missing
 * word should have been.  A rule is built in a local struct and appended
 * only when the whole line parsed (validate, then commit).
 *
 * No allocation, no globals: the caller owns the rule set and the message
 * buffer (struct fw_parser).
 */
#include "fw_rules.h"

#include <keel/string.h>

#include <keel/textbuf.h>

#define FW_RATE_MAX_CONNS 1000000u
#define FW_RATE_MAX_SECS  86400u
#define FW_GOT_MAX        32 /* bytes of an offending word quoted in a message */

struct tok {
    const char *s;
    size_t n;
    unsigned col; /* 1-based byte column of s (or of where a missing word belongs) */
};

struct pctx {
    struct fw_parser *p;
    const char *s; /* the line, up to (not including) its newline */
    size_t len;
    size_t pos;
    unsigned line;
};

/* The order of a filter rule's keywords (pf's); see fw_rules.h. */
enum phase {
    PH_DIR,
    PH_LOG,
    PH_QUICK,
    PH_ON,
    PH_AF,
    PH_PROTO,
    PH_FROM,
    PH_TO,
    PH_FLAGS,
    PH_STATE,
    PH_RATE,
    PH_OPTS,
    PH_END,
};

/* ------------------------------------------------------------- lexing ---- */

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f'; }
static bool is_op(char ch) { return ch == '!' || ch == '=' || ch == '<' || ch == '>'; }
static bool is_single(char ch) { return ch == '(' || ch == ')' || ch == ','; }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static bool is_word_char(char ch) { return !is_space(ch) && ch != '#' && !is_op(ch) && !is_single(ch); }

/* The next token of the line; false at its end or at a comment (t->col then
 * says where the missing word belongs). */
static bool lex_next(struct pctx *c, struct tok *t)
{
    while (c->pos < c->len && is_space(c->s[c->pos]))
        c->pos++;
    size_t start = c->pos;
    t->s = c->s + start;
    t->n = 0;
    t->col = (unsigned)(start + 1);
    if (start >= c->len || c->s[start] == '#')
        return false;
    if (is_single(c->s[start]))
        c->pos++;
    else if (is_op(c->s[start]))
        while (c->pos < c->len && is_op(c->s[c->pos]))
            c->pos++;
    else
        while (c->pos < c->len && is_word_char(c->s[c->pos]))
            c->pos++;
    t->n = c->pos - start;
    return true;
}

static bool lex_peek(struct pctx *c, struct tok *t)
{
    size_t saved = c->pos;
    bool got = lex_next(c, t);
    c->pos = saved;
    return got;
}

static bool tok_is(const struct tok *t, const char *w)
{
    size_t n = 0;
    while (w[n])
        n++;
    return t->n == n && memcmp(t->s, w, n) == 0;
}

/* ------------------------------------------------------------- errors ---- */

/* Writes "FILE:LINE:COL: MSG[ (got "WORD")]" and returns FW_E_SYNTAX. */
static int fail(struct pctx *c, unsigned col, const char *msg, const struct tok *got)
{
    struct textbuf b;
    tb_init(&b, c->p->err, c->p->errlen);
    tb_put(&b, c->p->file ? c->p->file : "appliance.conf");
    tb_put(&b, ":");
    tb_u64(&b, c->line);
    tb_put(&b, ":");
    tb_u64(&b, col);
    tb_put(&b, ": ");
    tb_put(&b, msg);
    if (got && got->n) {
        tb_put(&b, " (got \"");
        for (size_t i = 0; i < got->n && i < FW_GOT_MAX; i++) {
            char ch = got->s[i];
            tb_putn(&b, (ch >= ' ' && ch <= '~' && ch != '"') ? &ch : "?", 1);
        }
        tb_put(&b, got->n > FW_GOT_MAX ? "...\")" : "\")");
    }
    c->p->err_line = c->line;
    c->p->err_col = col;
    return FW_E_SYNTAX;
}

/* "expected <every keyword allowed from phase ph on> or end of line". */
static int fail_phase(struct pctx *c, unsigned ph, bool kept, const struct tok *got)
{
    static const char *const words[PH_END] = {
        [PH_DIR] = "in, out",
        [PH_LOG] = "log",
        [PH_QUICK] = "quick",
        [PH_ON] = "on",
        [PH_AF] = "inet",
        [PH_PROTO] = "proto",
        [PH_FROM] = "from, all",
        [PH_TO] = "to",
        [PH_FLAGS] = "flags",
        [PH_STATE] = "keep state, no state",
        [PH_RATE] = "max-src-conn-rate",
        [PH_OPTS] = "allow-opts",
    };
    char msg[200];
    struct textbuf b;
    tb_init(&b, msg, sizeof msg);
    tb_put(&b, "expected ");
    for (unsigned i = ph; i < PH_END; i++) {
        if (i == PH_RATE && !kept)
            continue;
        tb_put(&b, words[i]);
        tb_put(&b, i + 1 < PH_END ? ", " : " or ");
    }
    tb_put(&b, "end of line");
    return fail(c, got->col, msg, got);
}

/* ------------------------------------------------------------ numbers ---- */

/* Decimal digits only, value <= max. */
static bool parse_uint(const char *s, size_t n, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        uint32_t d = (uint32_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Length of the prefix of s[0..n) before the first ch, or n. */
static size_t span_until(const char *s, size_t n, char ch)
{
    size_t i = 0;
    while (i < n && s[i] != ch)
        i++;
    return i;
}

/* "A.B.C.D": exactly four parts of 1-3 digits, each <= 255. */
static bool parse_ipv4(const char *s, size_t n, uint32_t *out)
{
    uint32_t a = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t k = i;
        while (k < n && is_digit(s[k]) && k - i < 3)
            k++;
        uint32_t v;
        if (!parse_uint(s + i, k - i, 255, &v))
            return false;
        a = a << 8 | v;
        i = k;
        if (part < 3) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
    }
    if (i != n)
        return false;
    *out = a;
    return true;
}

static uint32_t prefix_mask(uint32_t len) { return len == 0 ? 0 : 0xffffffffu << (32 - len); }

/* ---------------------------------------------------------- interfaces --- */

static int find_iface(const struct fw_ifaces *ifs, const struct tok *t)
{
    if (!ifs || t->n == 0 || t->n >= FW_IFNAMSIZ)
        return -1;
    for (unsigned i = 0; i < ifs->count && i < FW_MAX_IFACES; i++)
        if (memcmp(ifs->ifs[i].name, t->s, t->n) == 0 && ifs->ifs[i].name[t->n] == '\0')
            return (int)i;
    return -1;
}

/* Reads the interface name after `on` or `for` into r->iface. */
static int parse_iface(struct pctx *c, struct fw_rule *r)
{
    struct tok t;
    if (!lex_next(c, &t))
        return fail(c, t.col, "expected an interface name", NULL);
    int idx = find_iface(c->p->ifaces, &t);
    if (idx < 0)
        return fail(c, t.col, "expected the name of an interface defined by an interface line", &t);
    r->iface = (int8_t)idx;
    return FW_OK;
}

/* ------------------------------------------------------ hosts and ports -- */

/* ADDR after an optional "!": any | A.B.C.D | A.B.C.D/N. */
static int parse_addr(struct pctx *c, struct fw_addr *a)
{
    struct tok t;
    if (!lex_next(c, &t))
        return fail(c, t.col, "expected an address A.B.C.D, a prefix A.B.C.D/N, any or port", NULL);
    if (tok_is(&t, "any")) {
        a->addr = 0;
        a->mask = 0;
        return FW_OK;
    }
    size_t alen = span_until(t.s, t.n, '/');
    uint32_t ip, plen = 32;
    if (!parse_ipv4(t.s, alen, &ip))
        return fail(c, t.col, "expected an address A.B.C.D, a prefix A.B.C.D/N, any or port", &t);
    if (alen < t.n && !parse_uint(t.s + alen + 1, t.n - alen - 1, 32, &plen))
        return fail(c, t.col + (unsigned)alen + 1, "expected a prefix length 0-32", &t);
    a->mask = prefix_mask(plen);
    a->addr = ip & a->mask; /* host bits of a prefix are ignored, as pf does */
    return FW_OK;
}

static int parse_port_number(struct pctx *c, const struct tok *t, uint16_t *out)
{
    uint32_t v;
    if (!parse_uint(t->s, t->n, 65535, &v))
        return fail(c, t->col, "expected a port number 0-65535", t);
    *out = (uint16_t)v;
    return FW_OK;
}

static int op_from_tok(const struct tok *t)
{
    static const struct {
        const char *w;
        uint8_t op;
    } ops[] = { { "=", FW_PORT_EQ },  { "!=", FW_PORT_NE }, { "<", FW_PORT_LT },
                { "<=", FW_PORT_LE }, { ">", FW_PORT_GT },  { ">=", FW_PORT_GE } };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (tok_is(t, ops[i].w))
            return ops[i].op;
    return -1;
}

/* "N:M" in one word. */
static int parse_colon_range(struct pctx *c, const struct tok *t, size_t colon, struct fw_port *pt)
{
    struct tok lo = { t->s, colon, t->col };
    struct tok hi = { t->s + colon + 1, t->n - colon - 1, t->col + (unsigned)colon + 1 };
    int rc = parse_port_number(c, &lo, &pt->lo);
    if (rc == FW_OK)
        rc = parse_port_number(c, &hi, &pt->hi);
    if (rc == FW_OK && pt->lo > pt->hi)
        rc = fail(c, t->col, "expected a port range N:M with N <= M", t);
    pt->op = FW_PORT_RANGE;
    return rc;
}

/* PORT after the word `port` (kw); see the grammar in fw_rules.h. */
static int parse_port(struct pctx *c, const struct tok *kw, const struct fw_rule *r, struct fw_port *pt)
{
    static const char what[] = "expected a port: N, N:M, = N, != N, < N, <= N, > N, >= N, N >< M or N <> M";
    struct tok t, t2;
    if (r->proto != FW_PROTO_TCP && r->proto != FW_PROTO_UDP)
        return fail(c, kw->col, "expected proto tcp or proto udp before port", NULL);
    if (!lex_next(c, &t))
        return fail(c, t.col, what, NULL);
    if (is_op(t.s[0])) {
        int op = op_from_tok(&t);
        if (op < 0)
            return fail(c, t.col, what, &t);
        if (!lex_next(c, &t2))
            return fail(c, t2.col, "expected a port number 0-65535", NULL);
        pt->op = (uint8_t)op;
        return parse_port_number(c, &t2, &pt->lo);
    }
    size_t colon = span_until(t.s, t.n, ':');
    if (colon < t.n)
        return parse_colon_range(c, &t, colon, pt);
    int rc = parse_port_number(c, &t, &pt->lo);
    if (rc != FW_OK)
        return rc;
    pt->op = FW_PORT_EQ;
    if (!lex_peek(c, &t2) || !(tok_is(&t2, "><") || tok_is(&t2, "<>")))
        return FW_OK;
    lex_next(c, &t2);
    pt->op = tok_is(&t2, "><") ? FW_PORT_INSIDE : FW_PORT_OUTSIDE;
    struct tok t3;
    if (!lex_next(c, &t3))
        return fail(c, t3.col, "expected a port number 0-65535", NULL);
    rc = parse_port_number(c, &t3, &pt->hi);
    if (rc == FW_OK && pt->lo > pt->hi)
        return fail(c, t.col, "expected a port range N >< M or N <> M with N <= M", NULL);
    return rc;
}

/* HOST after `from` or `to`: [!] ADDR [port PORT] | port PORT. */
static int parse_host(struct pctx *c, const struct fw_rule *r, struct fw_addr *a, struct fw_port *pt)
{
    struct tok t;
    bool have = lex_peek(c, &t);
    if (!(have && tok_is(&t, "port"))) {
        if (have && tok_is(&t, "!")) {
            lex_next(c, &t);
            a->neg = true;
        }
        int rc = parse_addr(c, a);
        if (rc != FW_OK)
            return rc;
        if (!lex_peek(c, &t) || !tok_is(&t, "port"))
            return FW_OK;
    }
    lex_next(c, &t);
    return parse_port(c, &t, r, pt);
}

/* ------------------------------------------------- flags and state ------ */

static int flag_bit(char ch)
{
    static const char letters[] = "FSRPAUEW"; /* bit order: FIN first (FW_TH_*) */
    for (int i = 0; i < 8; i++)
        if (letters[i] == ch)
            return 1 << i;
    return -1;
}

static bool parse_flag_letters(const char *s, size_t n, uint8_t *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        int bit = flag_bit(s[i]);
        if (bit < 0)
            return false;
        v |= (unsigned)bit;
    }
    *out = (uint8_t)v;
    return true;
}

/* F after `flags` (kw): any | X/Y | X. */
static int parse_flags(struct pctx *c, const struct tok *kw, struct fw_rule *r)
{
    static const char what[] = "expected flags any, X/Y or X (letters FSRPAUEW)";
    struct tok t;
    if (r->proto != FW_PROTO_TCP && r->proto != FW_PROTO_ANY)
        return fail(c, kw->col, "expected proto tcp (or no proto) before flags", NULL);
    if (!lex_next(c, &t))
        return fail(c, t.col, what, NULL);
    if (tok_is(&t, "any")) {
        r->tcp_mask = r->tcp_set = 0;
        return FW_OK;
    }
    size_t slash = span_until(t.s, t.n, '/');
    uint8_t set, mask = 0xff;
    if (!parse_flag_letters(t.s, slash, &set) ||
        (slash < t.n && !parse_flag_letters(t.s + slash + 1, t.n - slash - 1, &mask)) || mask == 0)
        return fail(c, t.col, what, &t);
    if (set & ~mask)
        return fail(c, t.col, "expected flags X/Y with X a subset of Y", &t);
    r->tcp_set = set;
    r->tcp_mask = mask;
    return FW_OK;
}

/* N/S after `max-src-conn-rate`. */
static int parse_rate(struct pctx *c, struct fw_rule *r)
{
    static const char what[] = "expected max-src-conn-rate N/S (N 1-1000000 connections, S 1-86400 seconds)";
    struct tok t;
    if (!lex_next(c, &t))
        return fail(c, t.col, what, NULL);
    if (r->rate_conns)
        return fail(c, t.col, "expected one max-src-conn-rate per rule", NULL);
    size_t slash = span_until(t.s, t.n, '/');
    uint32_t n, s;
    if (slash == t.n || !parse_uint(t.s, slash, FW_RATE_MAX_CONNS, &n) ||
        !parse_uint(t.s + slash + 1, t.n - slash - 1, FW_RATE_MAX_SECS, &s) || n == 0 || s == 0)
        return fail(c, t.col, what, &t);
    r->rate_conns = n;
    r->rate_secs = s;
    return FW_OK;
}

/* After `keep state`: an optional "(" max-src-conn-rate N/S {"," ...} ")". */
static int parse_state_opts(struct pctx *c, struct fw_rule *r)
{
    struct tok t;
    if (!lex_peek(c, &t) || !tok_is(&t, "("))
        return FW_OK;
    lex_next(c, &t);
    for (;;) {
        if (!lex_next(c, &t) || !tok_is(&t, "max-src-conn-rate"))
            return fail(c, t.col, "expected max-src-conn-rate N/S in keep state ( )", &t);
        int rc = parse_rate(c, r);
        if (rc != FW_OK)
            return rc;
        if (!lex_next(c, &t) || !(tok_is(&t, ")") || tok_is(&t, ",")))
            return fail(c, t.col, "expected , or ) after a state option", &t);
        if (tok_is(&t, ")"))
            return FW_OK;
    }
}

/* `keep state ...` or `no state` (kw is keep or no). */
static int parse_state(struct pctx *c, const struct tok *kw, struct fw_rule *r)
{
    struct tok t;
    bool keep = tok_is(kw, "keep");
    if (!lex_next(c, &t) || !tok_is(&t, "state"))
        return fail(c, t.col, keep ? "expected state after keep" : "expected state after no", &t);
    if (!keep)
        return FW_OK;
    if (r->action != FW_PASS)
        return fail(c, kw->col, "expected pass: only pass rules keep state", NULL);
    r->flags |= FW_RF_KEEP_STATE;
    return parse_state_opts(c, r);
}

/* ------------------------------------------------------------- rules ---- */

enum kw_id {
    KW_IN,
    KW_OUT,
    KW_LOG,
    KW_QUICK,
    KW_ON,
    KW_INET,
    KW_INET6,
    KW_PROTO,
    KW_FROM,
    KW_ALL,
    KW_TO,
    KW_FLAGS,
    KW_KEEP,
    KW_NO,
    KW_RATE,
    KW_ALLOW_OPTS,
};

struct keyword {
    const char *w;
    uint8_t id;    /* enum kw_id */
    uint8_t phase; /* where it may appear */
    uint8_t next;  /* the phase after it */
};

static const struct keyword keywords[] = {
    { "in", KW_IN, PH_DIR, PH_LOG },
    { "out", KW_OUT, PH_DIR, PH_LOG },
    { "log", KW_LOG, PH_LOG, PH_QUICK },
    { "quick", KW_QUICK, PH_QUICK, PH_ON },
    { "on", KW_ON, PH_ON, PH_AF },
    { "inet", KW_INET, PH_AF, PH_PROTO },
    { "inet6", KW_INET6, PH_AF, PH_PROTO },
    { "proto", KW_PROTO, PH_PROTO, PH_FROM },
    { "from", KW_FROM, PH_FROM, PH_TO },
    { "all", KW_ALL, PH_FROM, PH_FLAGS },
    { "to", KW_TO, PH_TO, PH_FLAGS },
    { "flags", KW_FLAGS, PH_FLAGS, PH_STATE },
    { "keep", KW_KEEP, PH_STATE, PH_RATE },
    { "no", KW_NO, PH_STATE, PH_OPTS },
    { "max-src-conn-rate", KW_RATE, PH_RATE, PH_OPTS },
    { "allow-opts", KW_ALLOW_OPTS, PH_OPTS, PH_END },
};

static const struct keyword *find_keyword(const struct tok *t)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (tok_is(t, keywords[i].w))
            return &keywords[i];
    return NULL;
}

static int parse_proto(struct pctx *c, struct fw_rule *r)
{
    struct tok t;
    uint32_t v;
    bool have = lex_next(c, &t);
    if (have && tok_is(&t, "tcp"))
        v = FW_PROTO_TCP;
    else if (have && tok_is(&t, "udp"))
        v = FW_PROTO_UDP;
    else if (have && tok_is(&t, "icmp"))
        v = FW_PROTO_ICMP;
    else if (!have || !parse_uint(t.s, t.n, 255, &v) || v == 0)
        return fail(c, t.col, "expected tcp, udp, icmp or a protocol number 1-255", &t);
    r->proto = (uint8_t)v;
    return FW_OK;
}

/* One keyword (and its arguments) of a pass/block rule. */
static int parse_keyword(struct pctx *c, const struct keyword *kw, const struct tok *t, struct fw_rule *r,
                         bool *flags_given)
{
    switch (kw->id) {
    case KW_IN: r->dir = FW_IN; return FW_OK;
    case KW_OUT: r->dir = FW_OUT; return FW_OK;
    case KW_LOG: r->flags |= FW_RF_LOG; return FW_OK;
    case KW_QUICK: r->flags |= FW_RF_QUICK; return FW_OK;
    case KW_ON: return parse_iface(c, r);
    case KW_INET: return FW_OK; /* IPv4 is all there is */
    case KW_INET6: return fail(c, t->col, "expected inet: IPv6 is not supported", NULL);
    case KW_PROTO: return parse_proto(c, r);
    case KW_FROM: return parse_host(c, r, &r->src, &r->sport);
    case KW_ALL: return FW_OK;
    case KW_TO: return parse_host(c, r, &r->dst, &r->dport);
    case KW_FLAGS: *flags_given = true; return parse_flags(c, t, r);
    case KW_KEEP:
    case KW_NO: return parse_state(c, t, r);
    case KW_RATE: return parse_rate(c, r);
    case KW_ALLOW_OPTS: r->flags |= FW_RF_ALLOW_OPTS; return FW_OK;
    default: return FW_E_INVAL; /* unreachable: every keyword has a case */
    }
}

/* pass | block [drop|return], then keywords in phase order. */
static int parse_filter(struct pctx *c, const struct tok *first, struct fw_rule *r)
{
    struct tok t;
    bool flags_given = false;
    unsigned ph = PH_DIR;
    r->action = tok_is(first, "pass") ? FW_PASS : FW_BLOCK;
    if (r->action == FW_BLOCK && lex_peek(c, &t) && (tok_is(&t, "drop") || tok_is(&t, "return"))) {
        lex_next(c, &t);
        if (tok_is(&t, "return"))
            r->flags |= FW_RF_RETURN;
    }
    while (lex_next(c, &t)) {
        const struct keyword *kw = find_keyword(&t);
        if (!kw || kw->phase < ph || (kw->phase == PH_RATE && !(r->flags & FW_RF_KEEP_STATE)))
            return fail_phase(c, ph, r->flags & FW_RF_KEEP_STATE, &t);
        ph = kw->next;
        int rc = parse_keyword(c, kw, &t, r, &flags_given);
        if (rc != FW_OK)
            return rc;
    }
    /* pf's default for stateful rules: only a SYN (without ACK) opens a TCP state. */
    if ((r->flags & FW_RF_KEEP_STATE) && !flags_given && (r->proto == FW_PROTO_TCP || r->proto == FW_PROTO_ANY)) {
        r->tcp_mask = FW_TH_SYN | FW_TH_ACK;
        r->tcp_set = FW_TH_SYN;
    }
    return FW_OK;
}

/* antispoof [log] [quick] for IFACE [inet] */
static int parse_antispoof(struct pctx *c, struct fw_rule *r)
{
    struct tok t;
    r->action = FW_BLOCK;
    r->dir = FW_IN;
    r->flags |= FW_RF_ANTISPOOF;
    bool have = lex_next(c, &t);
    if (have && tok_is(&t, "log")) {
        r->flags |= FW_RF_LOG;
        have = lex_next(c, &t);
    }
    if (have && tok_is(&t, "quick")) {
        r->flags |= FW_RF_QUICK;
        have = lex_next(c, &t);
    }
    if (!have || !tok_is(&t, "for"))
        return fail(c, t.col, "expected log, quick or for", &t);
    int rc = parse_iface(c, r);
    if (rc != FW_OK)
        return rc;
    if (lex_next(c, &t) && !tok_is(&t, "inet"))
        return fail(c, t.col, "expected inet or end of line", &t);
    if (t.n && lex_next(c, &t))
        return fail(c, t.col, "expected end of line", &t);
    return FW_OK;
}

static void rule_init(struct fw_rule *r, unsigned lineno)
{
    memset(r, 0, sizeof *r);
    r->dir = FW_BOTH;
    r->iface = -1;
    r->line = lineno;
}

void fw_ruleset_init(struct fw_ruleset *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->valid = true;
}

static size_t line_length(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && s[n] != '\n')
        n++;
    return n;
}

bool fw_is_rule_line(const char *line, size_t len)
{
    struct fw_parser none = { 0 };
    struct pctx c = { &none, line, line ? line_length(line, len) : 0, 0, 0 };
    struct tok t;
    if (!lex_next(&c, &t))
        return false;
    return tok_is(&t, "pass") || tok_is(&t, "block") || tok_is(&t, "antispoof");
}

int fw_parse_rule(struct fw_parser *p, struct fw_ruleset *rs, const char *line, size_t len, unsigned lineno)
{
    if (!p || !rs || (!line && len))
        return FW_E_INVAL;
    struct pctx c = { p, line, line ? line_length(line, len) : 0, 0, lineno };
    struct fw_rule r;
    struct tok t;
    int rc;
    if (!lex_next(&c, &t))
        return FW_OK; /* blank or comment */
    rule_init(&r, lineno);
    if (tok_is(&t, "pass") || tok_is(&t, "block"))
        rc = parse_filter(&c, &t, &r);
    else if (tok_is(&t, "antispoof"))
        rc = parse_antispoof(&c, &r);
    else
        rc = fail(&c, t.col, "expected pass, block or antispoof", &t);
    if (rc == FW_OK && rs->count >= FW_MAX_RULES) {
        (void)fail(&c, t.col, "expected at most 512 rules (FW_MAX_RULES)", NULL);
        rc = FW_E_FULL;
    }
    if (rc != FW_OK) {
        rs->valid = false;
        return rc;
    }
    rs->rules[rs->count++] = r; /* point of no return */
    return FW_OK;
}

/* Net change of `{ }` nesting on one line (ignoring its comment). */
static int brace_delta(const char *s, size_t n)
{
    int d = 0;
    for (size_t i = 0; i < n && s[i] != '#'; i++)
        d += (s[i] == '{') - (s[i] == '}');
    return d;
}

int fw_parse_ruleset(struct fw_parser *p, struct fw_ruleset *rs, const char *text, size_t len)
{
    if (!p || !rs || (!text && len))
        return FW_E_INVAL;
    fw_ruleset_init(rs);
    long depth = 0;
    unsigned lineno = 1;
    for (size_t pos = 0; pos < len; lineno++) {
        size_t n = line_length(text + pos, len - pos);
        if (depth == 0 && fw_is_rule_line(text + pos, n)) {
            int rc = fw_parse_rule(p, rs, text + pos, n, lineno);
            if (rc != FW_OK)
                return rc;
        }
        depth += brace_delta(text + pos, n);
        if (depth < 0)
            depth = 0;
        pos += n + 1;
    }
    return FW_OK;
}

int fw_ruleset_replace(struct fw_ruleset **active, struct fw_ruleset **candidate)
{
    if (!active || !candidate || !*active || !*candidate || *active == *candidate)
        return FW_E_INVAL;
    struct fw_ruleset *next = *candidate;
    if (!next->valid)
        return FW_E_NOT_VALID;
    next->generation = (*active)->generation + 1;
    /* point of no return: one pointer store makes the new set active */
    *candidate = *active;
    *active = next;
    return FW_OK;
}

/* ----------------------------------------------------------- printing --- */

static void put_addr(struct textbuf *b, const struct fw_addr *a)
{
    if (a->neg)
        tb_put(b, " !");
    if (a->mask == 0 && a->addr == 0) {
        tb_put(b, " any");
        return;
    }
    tb_put(b, " ");
    tb_ipv4(b, a->addr);
    if (a->mask != 0xffffffffu) {
        unsigned len = 0;
        for (uint32_t m = a->mask; m & 0x80000000u; m <<= 1)
            len++;
        tb_put(b, "/");
        tb_u64(b, len);
    }
}

static void put_port(struct textbuf *b, const struct fw_port *pt)
{
    static const char *const ops[] = {
        [FW_PORT_NE] = "!= ", [FW_PORT_LT] = "< ", [FW_PORT_LE] = "<= ", [FW_PORT_GT] = "> ", [FW_PORT_GE] = ">= "
    };
    tb_put(b, " port ");
    if (pt->op >= FW_PORT_NE && pt->op <= FW_PORT_GE)
        tb_put(b, ops[pt->op]);
    tb_u64(b, pt->lo);
    if (pt->op >= FW_PORT_RANGE) {
        tb_put(b, pt->op == FW_PORT_RANGE ? ":" : pt->op == FW_PORT_INSIDE ? " >< " : " <> ");
        tb_u64(b, pt->hi);
    }
}

static bool host_is_any(const struct fw_addr *a, const struct fw_port *pt)
{
    return a->mask == 0 && a->addr == 0 && !a->neg && pt->op == FW_PORT_ANY;
}

static void put_host(struct textbuf *b, const char *kw, const struct fw_addr *a, const struct fw_port *pt)
{
    tb_put(b, kw);
    if (a->mask != 0 || a->addr != 0 || a->neg)
        put_addr(b, a);
    if (pt->op != FW_PORT_ANY)
        put_port(b, pt);
}

static void put_flags(struct textbuf *b, uint8_t v)
{
    static const char letters[] = "FSRPAUEW";
    for (int i = 0; i < 8; i++)
        if (v & (1u << i))
            tb_putn(b, &letters[i], 1);
}

static void put_iface(struct textbuf *b, const struct fw_ifaces *ifs, int idx)
{
    if (ifs && idx >= 0 && (unsigned)idx < ifs->count && idx < FW_MAX_IFACES) {
        tb_putn(b, ifs->ifs[idx].name, span_until(ifs->ifs[idx].name, FW_IFNAMSIZ, '\0'));
        return;
    }
    tb_put(b, "if");
    tb_u64(b, (uint64_t)idx);
}

static void put_proto(struct textbuf *b, uint8_t proto)
{
    if (proto == FW_PROTO_TCP)
        tb_put(b, " proto tcp");
    else if (proto == FW_PROTO_UDP)
        tb_put(b, " proto udp");
    else if (proto == FW_PROTO_ICMP)
        tb_put(b, " proto icmp");
    else {
        tb_put(b, " proto ");
        tb_u64(b, proto);
    }
}

/* The part after the interface: proto, hosts, flags, state, options. */
static void put_filter_tail(struct textbuf *b, const struct fw_rule *r)
{
    if (r->proto != FW_PROTO_ANY)
        put_proto(b, r->proto);
    bool src_any = host_is_any(&r->src, &r->sport), dst_any = host_is_any(&r->dst, &r->dport);
    if (src_any && dst_any)
        tb_put(b, " all");
    if (!src_any)
        put_host(b, " from", &r->src, &r->sport);
    if (!dst_any)
        put_host(b, " to", &r->dst, &r->dport);
    if (r->tcp_mask) {
        tb_put(b, " flags ");
        put_flags(b, r->tcp_set);
        tb_put(b, "/");
        put_flags(b, r->tcp_mask);
    } else if ((r->flags & FW_RF_KEEP_STATE) && (r->proto == FW_PROTO_TCP || r->proto == FW_PROTO_ANY)) {
        tb_put(b, " flags any");
    }
    if (r->flags & FW_RF_KEEP_STATE) {
        tb_put(b, " keep state");
        if (r->rate_conns) {
            tb_put(b, " (max-src-conn-rate ");
            tb_u64(b, r->rate_conns);
            tb_put(b, "/");
            tb_u64(b, r->rate_secs);
            tb_put(b, ")");
        }
    }
    if (r->flags & FW_RF_ALLOW_OPTS)
        tb_put(b, " allow-opts");
}

size_t fw_rule_format(const struct fw_rule *r, const struct fw_ifaces *ifs, char *buf, size_t cap)
{
    struct textbuf b;
    tb_init(&b, buf, cap);
    if (r->flags & FW_RF_ANTISPOOF) {
        tb_put(&b, "antispoof");
        tb_put(&b, (r->flags & FW_RF_LOG) ? " log" : "");
        tb_put(&b, (r->flags & FW_RF_QUICK) ? " quick" : "");
        tb_put(&b, " for ");
        put_iface(&b, ifs, r->iface);
        return b.len;
    }
    tb_put(&b, r->action == FW_PASS ? "pass" : (r->flags & FW_RF_RETURN) ? "block return" : "block");
    tb_put(&b, r->dir == FW_IN ? " in" : r->dir == FW_OUT ? " out" : "");
    tb_put(&b, (r->flags & FW_RF_LOG) ? " log" : "");
    tb_put(&b, (r->flags & FW_RF_QUICK) ? " quick" : "");
    if (r->iface >= 0) {
        tb_put(&b, " on ");
        put_iface(&b, ifs, r->iface);
    }
    put_filter_tail(&b, r);
    return b.len;
}
