/*
 * conf_pf.c - the firewall statements of appliance.conf (grammar in
 * conf_pf.h): one statement's tokens with macros expanded, macro
 * definitions, tables, `set` options, and the walk over a configuration.
 * The rules themselves are in conf_pf_rule.c.
 *
 * Macros.  A definition stores where its value is in the text (the line
 * for conf_parse's check, the kept statement text for a walk: both outlive
 * the walk).  A use ($name) lexes the value again, pf's way: its strings are
 * lexed once more, so NAME = "{ 22, 443 }" gives a list, and $names in it
 * are expanded in turn (at most 8 deep, so a loop is an error, not a hang).
 * Every token that comes from a macro carries the column of the $name at
 * its use, so errors point at what the operator wrote.  A macro must be
 * defined on an earlier line than its use (pf reads top to bottom).
 *
 * Tables.  Each name gets an index at its first mention: a `table` line
 * (which hands its entries to the sink) or a rule (an empty table, as pf
 * creates one).  A `table` line for a name a rule already made is an
 * error: the rules before it would have seen a different table.
 */
#include "conf_pf_int.h"

#include <keel/string.h>

#include <keel/textbuf.h>

#define MACRO_DEPTH 8
#define GOT_MAX     32

static const struct conf_tok end_tok_proto = { "", 0, 0, CONF_T_END };

int pf_fail(struct pf_ctx *x, unsigned col, const char *msg, const struct conf_tok *got)
{
    struct conf_pf_error *e = x->err;
    struct textbuf b;
    e->line = x->line;
    e->col = col ? col : 1;
    tb_init(&b, e->msg, sizeof e->msg);
    tb_put(&b, msg);
    if (got && got->n && got->kind != CONF_T_END) {
        tb_put(&b, " (got \"");
        if (got->kind == CONF_T_MACRO)
            tb_put(&b, "$");
        if (got->kind == CONF_T_TABLE)
            tb_put(&b, "<");
        for (size_t i = 0; i < got->n && i < GOT_MAX; i++) {
            char ch = got->s[i];
            tb_putn(&b, (ch >= ' ' && ch <= '~' && ch != '"') ? &ch : "?", 1);
        }
        if (got->kind == CONF_T_TABLE)
            tb_put(&b, ">");
        tb_put(&b, got->n > GOT_MAX ? "...\")" : "\")");
    }
    return -1;
}

int pf_unsupported(struct pf_ctx *x, const struct conf_tok *t, const char *why)
{
    char m[160];
    struct textbuf b;
    tb_init(&b, m, sizeof m);
    tb_put(&b, "unsupported: \"");
    tb_putn(&b, t->s, t->n < GOT_MAX ? t->n : GOT_MAX);
    tb_put(&b, "\" is not supported by Keel");
    if (why) {
        tb_put(&b, " (");
        tb_put(&b, why);
        tb_put(&b, ")");
    }
    return pf_fail(x, t->col, m, NULL);
}

int pf_sink_rc(struct pf_ctx *x, int rc)
{
    if (!rc)
        return 0;
    x->stop = rc;
    return -1;
}

/* ---------------------------------------------------------------- tokens -- */

const struct conf_tok *pf_peek(struct pf_ctx *x)
{
    static struct conf_tok end;
    if (x->tk->i < x->tk->n)
        return &x->tk->t[x->tk->i];
    end = end_tok_proto;
    end.col = x->tk->end_col;
    return &end;
}

const struct conf_tok *pf_next(struct pf_ctx *x)
{
    const struct conf_tok *t = pf_peek(x);
    if (x->tk->i < x->tk->n)
        x->tk->i++;
    return t;
}

bool pf_at_end(struct pf_ctx *x) { return x->tk->i >= x->tk->n; }

bool pf_accept(struct pf_ctx *x, const char *w)
{
    if (!conf_tok_is(pf_peek(x), w))
        return false;
    x->tk->i++;
    return true;
}

bool pf_accept_punct(struct pf_ctx *x, const char *p)
{
    if (!conf_tok_punct(pf_peek(x), p))
        return false;
    x->tk->i++;
    return true;
}

static int find_macro(const struct conf_pf_work *w, const char *s, size_t n)
{
    for (int i = (int)w->n_macros - 1; i >= 0; i--) /* the latest definition wins */
        if (w->macros[i].name_len == n && memcmp(w->macros[i].name, s, n) == 0)
            return i;
    return -1;
}

static int push(struct pf_ctx *x, const struct conf_tok *t)
{
    if (x->tk->n == CONF_PF_MAX_TOKENS)
        return pf_fail(x, t->col, "expected at most 512 words in a statement (macros expanded)", NULL);
    x->tk->t[x->tk->n++] = *t;
    return 0;
}

/* Lexes S[0, N) into x->tk; DEPTH > 0 inside a macro's value, whose tokens
 * all get column COL and whose strings are lexed again. */
static int expand(struct pf_ctx *x, const char *s, size_t n, unsigned depth, unsigned col)
{
    struct conf_lex l;
    struct conf_tok t;
    conf_lex_init(&l, s, n, true);
    while (conf_lex_next(&l, &t)) {
        if (depth)
            t.col = col;
        if (t.kind == CONF_T_BAD)
            return pf_fail(x, t.col, "expected a closing '\"'", NULL);
        if (t.kind == CONF_T_MACRO) {
            int m = find_macro(x->w, t.s, t.n);
            if (t.n == 0)
                return pf_fail(x, t.col, "expected a macro name after '$'", NULL);
            if (m < 0)
                return pf_fail(x, t.col, "expected a macro defined on an earlier line", &t);
            if (depth == MACRO_DEPTH)
                return pf_fail(x, t.col, "expected macros nested at most 8 deep (is one defined by itself?)", &t);
            if (expand(x, x->w->macros[m].value, x->w->macros[m].value_len, depth + 1, t.col))
                return -1;
            continue;
        }
        if (t.kind == CONF_T_STRING && depth) {
            if (expand(x, t.s, t.n, depth + 1, col))
                return -1;
            continue;
        }
        if (push(x, &t))
            return -1;
    }
    if (!depth)
        x->tk->end_col = t.col;
    return 0;
}

/* ---------------------------------------------------------------- macros -- */

static bool is_macro_name(const struct conf_tok *t)
{
    if (t->kind != CONF_T_WORD || t->n == 0 || t->n > 31)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        char ch = t->s[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

/* Words that start a statement of appliance.conf: no macro may be named so. */
static bool reserved(const struct conf_tok *t)
{
    static const char *const words[] = { "hostname", "log",   "interface", "route", "pass",    "block",
                                         "match",    "table", "set",       "tls",   "console", "antispoof" };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (conf_tok_is(t, words[i]))
            return true;
    return false;
}

/* NAME = VALUE: the value is checked by expanding it (every $macro in it
 * must exist) and kept as text. */
static int st_macro(struct pf_ctx *x, const char *text, size_t len, const struct conf_tok *name,
                    const struct conf_tok *eq)
{
    struct conf_pf_work *w = x->w;
    if (!is_macro_name(name))
        return pf_fail(x, name->col, "expected a macro name ([A-Za-z_][A-Za-z0-9_]*, at most 31 characters)", name);
    if (reserved(name))
        return pf_fail(x, name->col, "expected a macro name that is not a keyword", name);
    size_t start = (size_t)(eq->s - text) + 1, end = start;
    bool quoted = false;
    while (end < len && (quoted || text[end] != '#')) {
        quoted ^= text[end] == '"';
        end++;
    }
    while (start < end && (text[start] == ' ' || text[start] == '\t'))
        start++;
    while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r'))
        end--;
    if (start == end)
        return pf_fail(x, eq->col + 1, "expected a value after '=' (\"text\")", NULL);
    if (expand(x, text + start, end - start, 1, (unsigned)start + 1)) /* into the unused token buffer */
        return -1;
    if (w->n_macros == CONF_PF_MAX_MACROS && find_macro(w, name->s, name->n) < 0)
        return pf_fail(x, name->col, "expected at most 64 macros", NULL);
    /* point of no return */
    unsigned i = w->n_macros < CONF_PF_MAX_MACROS ? w->n_macros++ : (unsigned)find_macro(w, name->s, name->n);
    w->macros[i].name = name->s;
    w->macros[i].name_len = (uint16_t)name->n;
    w->macros[i].value = text + start;
    w->macros[i].value_len = (uint16_t)(end - start);
    w->macros[i].line = x->line;
    return 0;
}

/* ---------------------------------------------------------------- tables -- */

int pf_iface(struct pf_ctx *x, const struct conf_tok *t)
{
    if (t->kind != CONF_T_WORD)
        return -1;
    for (unsigned i = 0; i < x->c->n_ifaces; i++)
        if (strlen(x->c->ifaces[i].name) == t->n && memcmp(x->c->ifaces[i].name, t->s, t->n) == 0)
            return (int)i;
    return -1;
}

static int find_table(const struct conf_pf_work *w, const struct conf_tok *t)
{
    for (unsigned i = 0; i < w->n_tables; i++)
        if (strlen(w->tables[i].name) == t->n && memcmp(w->tables[i].name, t->s, t->n) == 0)
            return (int)i;
    return -1;
}

static int new_table(struct pf_ctx *x, const struct conf_tok *t)
{
    struct conf_pf_work *w = x->w;
    if (t->n >= CONF_PF_TABLE_NAME)
        return pf_fail(x, t->col, "expected a table name of at most 31 characters", t);
    if (w->n_tables == CONF_PF_MAX_TABLES)
        return pf_fail(x, t->col, "expected at most 32 tables", t);
    struct conf_pf_table *tb = &w->tables[w->n_tables];
    memset(tb, 0, sizeof *tb);
    memcpy(tb->name, t->s, t->n);
    tb->index = (uint8_t)w->n_tables++;
    tb->line = x->line;
    return tb->index;
}

int pf_table_ref(struct pf_ctx *x, const struct conf_tok *t)
{
    int i = find_table(x->w, t);
    if (i >= 0)
        return i;
    i = new_table(x, t);
    if (i < 0)
        return -1;
    if (x->sink && x->sink->table && pf_sink_rc(x, x->sink->table(x->sink->ctx, &x->w->tables[i], NULL, 0)))
        return -1;
    return i;
}

/* One table entry at the cursor: [!] ADDRESS[/N]. */
static int table_entry(struct pf_ctx *x, struct conf_pf_table_entry *e)
{
    const struct conf_tok *t = pf_next(x);
    memset(e, 0, sizeof *e);
    if (conf_tok_punct(t, "!")) {
        e->neg = true;
        t = pf_next(x);
    }
    if (t->kind != CONF_T_WORD)
        return pf_fail(x, t->col, "expected an address or prefix in the table", t);
    unsigned prefix;
    size_t slash;
    int rc = conf_parse_prefix(t->s, t->n, &e->ip, &prefix, &slash);
    if (rc == 2)
        return pf_fail(x, t->col + (unsigned)slash + 1, "expected a prefix length (0-32 for IPv4, 0-128 for IPv6)", t);
    if (rc)
        return pf_fail(x, t->col,
                       "expected an address or prefix in the table (host names need a resolver Keel does "
                       "not have)",
                       t);
    if (e->ip.af == CONF_AF_INET6 && !CONF_PF_HAVE_INET6)
        return pf_unsupported(x, t, "IPv6 addresses");
    e->prefix = (uint8_t)prefix;
    conf_ip_mask(&e->ip, prefix);
    return 0;
}

/* table <NAME> [persist] [const] [{ ENTRY [,] ... }] */
static int st_table(struct pf_ctx *x)
{
    struct conf_pf_table_entry e[CONF_PF_MAX_ENTRIES];
    unsigned n = 0;
    const struct conf_tok *t = pf_next(x);
    if (t->kind != CONF_T_TABLE)
        return pf_fail(x, t->col, "expected a table name <NAME> after table", t);
    int i = find_table(x->w, t);
    if (i >= 0)
        return pf_fail(x, t->col,
                       x->w->tables[i].defined ? "expected a table defined once"
                                               : "expected the table's definition before the rules that use it",
                       t);
    struct conf_tok name = *t;
    bool persist = false, konst = false;
    for (;;) {
        if (pf_accept(x, "persist"))
            persist = true;
        else if (pf_accept(x, "const"))
            konst = true;
        else if (conf_tok_is(pf_peek(x), "counters") || conf_tok_is(pf_peek(x), "file"))
            return pf_unsupported(x, pf_peek(x), "table options other than persist and const");
        else
            break;
    }
    if (pf_accept_punct(x, "{")) {
        while (!pf_accept_punct(x, "}")) {
            if (pf_at_end(x))
                return pf_fail(x, pf_peek(x)->col, "expected '}' to close the table's list", NULL);
            if (n == CONF_PF_MAX_ENTRIES)
                return pf_fail(x, pf_peek(x)->col, "expected at most 64 addresses in a table's list", NULL);
            if (table_entry(x, &e[n]))
                return -1;
            n++;
            (void)pf_accept_punct(x, ",");
        }
    }
    if (!pf_at_end(x))
        return pf_fail(x, pf_peek(x)->col, "expected persist, const, { addresses } or the end of the line", pf_peek(x));
    i = new_table(x, &name);
    if (i < 0)
        return -1;
    struct conf_pf_table *tb = &x->w->tables[i];
    tb->persist = persist;
    tb->konst = konst;
    tb->defined = true;
    if (x->sink && x->sink->table)
        return pf_sink_rc(x, x->sink->table(x->sink->ctx, tb, e, n));
    return 0;
}

/* ------------------------------------------------------------------- set -- */

/* IFACE or { IFACE, ... } into the bit set *OUT. */
static int iface_set(struct pf_ctx *x, uint8_t *out)
{
    bool list = pf_accept_punct(x, "{");
    do {
        const struct conf_tok *t = pf_next(x);
        if (list && conf_tok_punct(t, "}"))
            return 0;
        int k = pf_iface(x, t);
        if (k < 0)
            return pf_fail(x, t->col, "expected the name of an interface defined by an interface line", t);
        *out |= (uint8_t)(1u << k);
        if (list)
            (void)pf_accept_punct(x, ",");
    } while (list);
    return 0;
}

static int st_set(struct pf_ctx *x)
{
    static const char *const unsupported[] = { "timeout",      "limit",        "optimization", "ruleset-optimization",
                                               "loginterface", "hostid",       "reassemble",   "state-defaults",
                                               "state-policy", "fingerprints", "debug",        "syncookies",
                                               "prio",         "require-order" };
    const struct conf_tok *t = pf_next(x);
    struct conf_pf_options *o = &x->w->options;
    if (conf_tok_is(t, "block-policy")) {
        t = pf_next(x);
        if (conf_tok_is(t, "drop"))
            o->block_policy = CONF_PF_DROP;
        else if (conf_tok_is(t, "return"))
            o->block_policy = CONF_PF_RETURN;
        else
            return pf_fail(x, t->col, "expected drop or return after set block-policy", t);
    } else if (conf_tok_is(t, "skip")) {
        if (!pf_accept(x, "on"))
            return pf_fail(x, pf_peek(x)->col, "expected on after set skip", pf_peek(x));
        uint8_t bits = 0;
        if (iface_set(x, &bits))
            return -1;
        o->skip |= bits;
    } else {
        for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
            if (conf_tok_is(t, unsupported[i]))
                return pf_unsupported(x, t, "Keel has set block-policy and set skip on");
        return pf_fail(x, t->col, "expected block-policy or skip after set", t);
    }
    if (!pf_at_end(x))
        return pf_fail(x, pf_peek(x)->col, "expected the end of the line", pf_peek(x));
    return 0;
}

/* ------------------------------------------------------------ statements -- */

/* pf's statements that Keel does not have (pf.conf(5) and older pf). */
static const char *const unsupported_statements[] = { "anchor", "load",       "include",    "queue",
                                                      "altq",   "scrub",      "nat",        "rdr",
                                                      "binat",  "nat-anchor", "rdr-anchor", "binat-anchor" };

static bool is_unsupported_statement(const struct conf_tok *t)
{
    for (size_t i = 0; i < sizeof unsupported_statements / sizeof unsupported_statements[0]; i++)
        if (conf_tok_is(t, unsupported_statements[i]))
            return true;
    return false;
}

bool conf_pf_is_statement(const char *line, size_t len)
{
    struct conf_lex l;
    struct conf_tok a, b;
    conf_lex_init(&l, line, len, true);
    if (!conf_lex_next(&l, &a))
        return false;
    if (conf_tok_is(&a, "pass") || conf_tok_is(&a, "block") || conf_tok_is(&a, "match") ||
        conf_tok_is(&a, "antispoof") || conf_tok_is(&a, "table") || conf_tok_is(&a, "set") ||
        is_unsupported_statement(&a))
        return true;
    return a.kind == CONF_T_WORD && conf_lex_next(&l, &b) && conf_tok_punct(&b, "=");
}

void conf_pf_begin(struct conf_pf_work *w)
{
    memset(w, 0, sizeof *w);
    w->options.block_policy = CONF_PF_DROP;
}

/* One statement in X (its tokens buffer empty). */
static int statement(struct pf_ctx *x, const char *text, size_t len)
{
    struct conf_lex l;
    struct conf_tok a, b;
    conf_lex_init(&l, text, len, true);
    if (!conf_lex_next(&l, &a))
        return 0;
    if (a.kind == CONF_T_WORD && conf_lex_next(&l, &b) && conf_tok_punct(&b, "="))
        return st_macro(x, text, len, &a, &b);
    if (expand(x, text, len, 0, 0))
        return -1;
    const struct conf_tok *first = pf_peek(x);
    if (conf_tok_is(first, "table")) {
        pf_next(x);
        return st_table(x);
    }
    if (conf_tok_is(first, "set")) {
        pf_next(x);
        return st_set(x);
    }
    if (conf_tok_is(first, "antispoof"))
        return pf_antispoof(x);
    if (conf_tok_is(first, "pass") || conf_tok_is(first, "block") || conf_tok_is(first, "match"))
        return pf_rule(x);
    if (is_unsupported_statement(first)) {
        bool old = conf_tok_is(first, "nat") || conf_tok_is(first, "rdr") || conf_tok_is(first, "binat");
        return pf_unsupported(x, first,
                              old ? "pf's old syntax; write pass or match ... nat-to, rdr-to, binat-to" : NULL);
    }
    return pf_fail(x, first->col, "expected pass, block, match, antispoof, table, set or NAME = VALUE", first);
}

int conf_pf_statement(const struct conf *c, struct conf_pf_work *w, const struct conf_pf_sink *sink, const char *text,
                      size_t len, unsigned lineno, struct conf_pf_error *err)
{
    struct pf_toks tokens;
    struct pf_ctx x = { c, w, sink, err, lineno, &tokens, 0 };
    tokens.n = tokens.i = 0;
    tokens.end_col = 1;
    int rc = statement(&x, text, len);
    return rc && x.stop ? x.stop : rc;
}

int conf_pf_finish(const struct conf *c, struct conf_pf_work *w, const struct conf_pf_sink *sink,
                   struct conf_pf_error *err)
{
    (void)c;
    (void)err;
    if (sink && sink->options)
        return sink->options(sink->ctx, &w->options);
    return 0;
}

int conf_pf_walk(const struct conf *c, const struct conf_pf_sink *sink, struct conf_pf_work *w,
                 struct conf_pf_error *err)
{
    conf_pf_begin(w);
    for (unsigned i = 0; i < c->n_rules; i++) {
        size_t n;
        const char *s = conf_rule_text(c, i, &n);
        int rc = conf_pf_statement(c, w, sink, s, n, c->rules[i].line, err);
        if (rc < 0 && sink && sink->error) {
            rc = sink->error(sink->ctx, err);
            if (rc)
                return rc;
            continue;
        }
        if (rc)
            return rc;
    }
    return conf_pf_finish(c, w, sink, err);
}
