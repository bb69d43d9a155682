/*
 * conf_edit.c - `set` and `delete` on a candidate configuration kept as
 * text (contract in conf.h).
 *
 * The candidate is a list of lines; a statement is found by its key: the
 * first word (hostname, log), the first two (interface NAME, route NET,
 * console password-hash), the whole text (a rule), or, inside the block
 * `tls PORT {`, the setting's first word (a certificate: together with its
 * sni).  An edit replaces, inserts or removes whole lines, then set parses
 * the whole text with the caller's parser and undoes the edit if the
 * edited line itself is wrong.  Lines are found by words, so a hand-written
 * candidate with odd spacing edits as well as conf_write's output; a
 * route's network is compared by value, so `delete route 2001:DB8::/32`
 * finds `route 2001:db8::/32 via ...`.
 *
 * Not handled: an error on the edited line that the parser could not report
 * because CONF_MAX_ERRORS earlier errors came first (commit finds it);
 * inserting a rule anywhere but after the last rule.
 */
#include "conf.h"

#include <keel/string.h>

#include <keel/textbuf.h>
#include "conf_addr.h"
#include "conf_lex.h"
#include "conf_pf.h"

#define MAX_WORDS 128

struct words {
    unsigned n;
    const char *s[MAX_WORDS];
    size_t len[MAX_WORDS];
};

/* The words of S[0, n) up to a comment or a newline (conf_lex.h, plain
 * mode: '{' and '}' are words of their own). */
static void split(const char *s, size_t n, struct words *w)
{
    size_t k = 0;
    while (k < n && s[k] != '\n')
        k++;
    struct conf_lex l;
    struct conf_tok t;
    conf_lex_init(&l, s, k, false);
    w->n = 0;
    while (w->n < MAX_WORDS && conf_lex_next(&l, &t)) {
        w->s[w->n] = t.s;
        w->len[w->n++] = t.n;
    }
}

static bool word_is(const struct words *w, unsigned i, const char *lit)
{
    size_t n = strlen(lit);
    return i < w->n && w->len[i] == n && memcmp(w->s[i], lit, n) == 0;
}

static bool word_eq(const struct words *a, unsigned i, const struct words *b, unsigned j)
{
    return i < a->n && j < b->n && a->len[i] == b->len[j] && memcmp(a->s[i], b->s[j], a->len[i]) == 0;
}

/* Word I of A and B, both `route` lines, name the same network: the same
 * address and prefix length however written ("2001:DB8:0::/48" is
 * "2001:db8::/48"); words that do not parse compare as text. */
static bool route_net_eq(const struct words *a, const struct words *b, unsigned i)
{
    struct conf_ip x, y;
    unsigned px, py;
    size_t slash;
    if (i >= a->n || i >= b->n || conf_parse_prefix(a->s[i], a->len[i], &x, &px, &slash) != 0 ||
        conf_parse_prefix(b->s[i], b->len[i], &y, &py, &slash) != 0)
        return word_eq(a, i, b, i);
    return px == py && conf_ip_equal(&x, &y);
}

/* The first K words of A and B agree (both have them); a route's network
 * by its value. */
static bool prefix_eq(const struct words *a, const struct words *b, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        bool route_net = i == 1 && word_is(a, 0, "route") && word_is(b, 0, "route");
        if (!(route_net ? route_net_eq(a, b, i) : word_eq(a, i, b, i)))
            return false;
    }
    return true;
}

static bool all_eq(const struct words *a, const struct words *b) { return a->n == b->n && prefix_eq(a, b, a->n); }

/* Words FROM.. of W joined by single spaces, after PREFIX, then "\n". */
static size_t join(const struct words *w, unsigned from, const char *prefix, char *buf, size_t cap)
{
    struct textbuf b;
    tb_init(&b, buf, cap);
    tb_put(&b, prefix);
    for (unsigned i = from; i < w->n; i++) {
        if (i > from)
            tb_put(&b, " ");
        tb_putn(&b, w->s[i], w->len[i]);
    }
    tb_put(&b, "\n");
    return b.len;
}

/* A port word as a number, or 0. */
static unsigned port_of(const struct words *w, unsigned i)
{
    if (i >= w->n || w->len[i] == 0 || w->len[i] > 5)
        return 0;
    unsigned v = 0;
    for (size_t k = 0; k < w->len[i]; k++) {
        char c = w->s[i][k];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (unsigned)(c - '0');
    }
    return v <= 65535 ? v : 0;
}

/* Index of the word after "sni" in W from FROM on, or W->n (no sni). */
static unsigned sni_of(const struct words *w, unsigned from)
{
    for (unsigned i = from; i + 1 < w->n; i++)
        if (word_is(w, i, "sni"))
            return i + 1;
    return w->n;
}

/* ------------------------------------------------------------ the lines -- */

/* Walks the lines of a text, knowing which tls block each is in. */
struct it {
    const struct conf_text *t;
    size_t pos;      /* start of the next line */
    size_t off, len; /* this line (newline excluded) */
    unsigned no;     /* its number, from 1 */
    unsigned block;  /* port of the tls block this line is in (its `{` and `}` lines included), or 0 */
    bool opens, closes;
    struct words w;
};

static void it_init(struct it *i, const struct conf_text *t)
{
    memset(i, 0, sizeof *i);
    i->t = t;
}

static bool it_next(struct it *i)
{
    if (i->pos >= i->t->len)
        return false;
    if (i->closes)
        i->block = 0;
    i->off = i->pos;
    size_t end = i->pos;
    while (end < i->t->len && i->t->buf[end] != '\n')
        end++;
    i->len = end - i->off;
    i->pos = end + 1;
    i->no++;
    split(i->t->buf + i->off, i->len, &i->w);
    i->opens = !i->block && i->w.n == 3 && word_is(&i->w, 0, "tls") && word_is(&i->w, 2, "{");
    i->closes = i->block && i->w.n >= 1 && word_is(&i->w, 0, "}");
    if (i->opens)
        i->block = port_of(&i->w, 1) ? port_of(&i->w, 1) : 0x10000; /* a bad port is nobody's */
    return true;
}

/* The end of the line at OFF, newline included (or the end of the text). */
static size_t line_end(const struct conf_text *t, size_t off)
{
    while (off < t->len && t->buf[off] != '\n')
        off++;
    return off < t->len ? off + 1 : off;
}

static unsigned line_no(const struct conf_text *t, size_t off)
{
    unsigned n = 1;
    for (size_t i = 0; i < off && i < t->len; i++)
        n += t->buf[i] == '\n';
    return n;
}

/* Replaces [off, off+len) of T by S[0, n). */
static int splice(struct conf_text *t, size_t off, size_t len, const char *s, size_t n)
{
    if (t->len - len + n >= CONF_TEXT_MAX)
        return CONF_E_TOO_BIG;
    memmove(t->buf + off + n, t->buf + off + len, t->len - off - len);
    memcpy(t->buf + off, s, n);
    t->len = t->len - len + n;
    t->buf[t->len] = '\0';
    return CONF_OK;
}

/* Makes sure the text ends with a newline (so appending adds a line). */
static int end_line(struct conf_text *t)
{
    if (t->len && t->buf[t->len - 1] != '\n')
        return splice(t, t->len, 0, "\n", 1);
    return CONF_OK;
}

static void set_err(char *err, size_t errlen, const char *msg, const struct words *w, unsigned i)
{
    struct textbuf b;
    tb_init(&b, err, errlen);
    tb_put(&b, msg);
    if (w && i < w->n) {
        tb_put(&b, " (got \"");
        tb_putn(&b, w->s[i], w->len[i] > 32 ? 32 : w->len[i]);
        tb_put(&b, "\")");
    }
}

/* A firewall statement (conf_pf.h): a rule, macro, table or set line. */
static bool is_rule(const struct words *w)
{
    return w->n && conf_pf_is_statement(w->s[0], (size_t)(w->s[w->n - 1] + w->len[w->n - 1] - w->s[0]));
}

/* How many first words find the line a firewall statement replaces: a
 * macro (NAME =), a table (table <NAME>) and a set option (set WORD) are
 * replaced; a rule is only added (0: the whole text is its key). */
static unsigned rule_key(const struct words *w)
{
    if (word_is(w, 1, "="))
        return 1;
    if (word_is(w, 0, "table") || word_is(w, 0, "set"))
        return 2;
    return 0;
}

#define TOP_WORDS                                                                                                      \
    "expected hostname, log, interface, route, a firewall statement (pass, block, match, antispoof, table, set or "    \
    "NAME = VALUE), tls, console, syslog, ntp or metrics"

/* syslog, ntp, metrics (conf_ops.h): one line each, keyed by the first word. */
static bool is_ops(const struct words *w)
{
    return word_is(w, 0, "syslog") || word_is(w, 0, "ntp") || word_is(w, 0, "metrics");
}

/* --------------------------------------------------------------- set -- */

/* Where a new top-level statement of kind S goes: after the last line of
 * its group, or of the groups before it (hostname/log, interfaces, rules). */
static size_t insert_point(const struct conf_text *t, const struct words *s)
{
    int rank = word_is(s, 0, "interface") || word_is(s, 0, "route") ? 1 : is_rule(s) ? 2 : 0;
    size_t at = 0;
    struct it i;
    it_init(&i, t);
    while (it_next(&i)) {
        if (i.block || i.w.n == 0)
            continue;
        int r = word_is(&i.w, 0, "hostname") || word_is(&i.w, 0, "log")      ? 0
                : word_is(&i.w, 0, "interface") || word_is(&i.w, 0, "route") ? 1
                : is_rule(&i.w)                                              ? 2
                                                                             : 9;
        if (r <= rank)
            at = line_end(t, i.off);
    }
    return at;
}

/* Set a top-level statement keyed by its first KEY words (0: the whole
 * statement, for rules).  *LINE_OFF is where the new line is. */
static int set_top(struct conf_text *t, const struct words *s, unsigned key, const char *line, size_t n,
                   size_t *line_off)
{
    struct it i;
    it_init(&i, t);
    while (it_next(&i)) {
        if (i.block)
            continue;
        if (key ? (i.w.n >= key && prefix_eq(&i.w, s, key)) : all_eq(&i.w, s)) {
            *line_off = i.off;
            if (!key)
                return CONF_OK; /* the same rule is there already */
            return splice(t, i.off, line_end(t, i.off) - i.off, line, n);
        }
    }
    int err = end_line(t);
    if (err)
        return err;
    *line_off = word_is(s, 0, "console") ? t->len : insert_point(t, s);
    return splice(t, *line_off, 0, line, n);
}

/* The line in block PORT that setting S (words 2.. of the statement)
 * replaces: the same first word; for certificates also the same sni. */
static bool same_setting(const struct words *line, const struct words *s)
{
    if (!word_eq(line, 0, s, 2))
        return false;
    if (!word_is(s, 2, "certificate"))
        return true;
    unsigned a = sni_of(line, 1), b = sni_of(s, 3);
    if (a == line->n || b == s->n)
        return a == line->n && b == s->n;
    return word_eq(line, a, s, b);
}

static int set_tls(struct conf_text *t, const struct words *s, const char *line, size_t n, size_t *line_off,
                   size_t *open_off, char *err, size_t errlen)
{
    unsigned port = port_of(s, 1);
    if (!port) {
        set_err(err, errlen, "expected a port (1-65535) after tls", s, 1);
        return CONF_E_SYNTAX;
    }
    if (s->n < 3) {
        set_err(err, errlen, "expected a setting after the port, e.g. tls 443 backend 10.0.2.2:8080", NULL, 0);
        return CONF_E_SYNTAX;
    }
    struct it i;
    it_init(&i, t);
    bool found = false;
    while (it_next(&i)) {
        if (i.block != port)
            continue;
        if (i.opens) {
            found = true; /* *open_off stays unset: only a block we create is checked */
        } else if (i.closes) {
            *line_off = i.off;
            return splice(t, i.off, 0, line, n);
        } else if (i.w.n && same_setting(&i.w, s)) {
            *line_off = i.off;
            return splice(t, i.off, line_end(t, i.off) - i.off, line, n);
        }
    }
    if (found) { /* a block never closed: add at the end */
        int e = end_line(t);
        *line_off = t->len;
        return e ? e : splice(t, t->len, 0, line, n);
    }
    /* A new block at the end. */
    char head[32];
    struct textbuf b;
    tb_init(&b, head, sizeof head);
    tb_put(&b, "tls ");
    tb_u64(&b, port);
    tb_put(&b, " {\n");
    int e = end_line(t);
    if (!e)
        e = splice(t, t->len, 0, "\n", t->len ? 1 : 0);
    *open_off = t->len;
    if (!e)
        e = splice(t, t->len, 0, head, b.len);
    *line_off = t->len;
    if (!e)
        e = splice(t, t->len, 0, line, n);
    if (!e)
        e = splice(t, t->len, 0, "}\n", 2);
    return e;
}

int conf_text_set(struct conf_text *t, const struct conf_parser *p, const char *stmt, size_t n,
                  struct conf_edit_work *w, char *err, size_t errlen)
{
    if (!t || !w || (!stmt && n))
        return CONF_E_INVAL;
    if (errlen)
        err[0] = '\0';
    struct words s;
    split(stmt, n, &s);
    if (s.n == 0) {
        set_err(err, errlen, "expected a configuration statement", NULL, 0);
        return CONF_E_SYNTAX;
    }
    for (unsigned i = 0; i < s.n && !is_rule(&s); i++)
        if (word_is(&s, i, "{") || word_is(&s, i, "}")) {
            set_err(err, errlen, "expected one line without braces (set tls PORT SETTING adds to a block)", &s, i);
            return CONF_E_SYNTAX;
        }
    char line[CONF_LINE_MAX + 8];
    size_t ln = join(&s, word_is(&s, 0, "tls") ? 2 : 0, word_is(&s, 0, "tls") ? "    " : "", line, sizeof line);
    if (ln >= sizeof line) {
        set_err(err, errlen, "expected a statement of at most 512 bytes", NULL, 0);
        return CONF_E_SYNTAX;
    }
    w->saved.len = t->len;
    memcpy(w->saved.buf, t->buf, t->len + 1);
    size_t line_off = 0, open_off = (size_t)-1;
    int rc;
    if (word_is(&s, 0, "hostname") || word_is(&s, 0, "log") || is_ops(&s))
        rc = set_top(t, &s, 1, line, ln, &line_off);
    else if (word_is(&s, 0, "console") || word_is(&s, 0, "interface") || word_is(&s, 0, "route"))
        rc = set_top(t, &s, s.n >= 2 ? 2 : 1, line, ln, &line_off);
    else if (is_rule(&s))
        rc = set_top(t, &s, rule_key(&s), line, ln, &line_off);
    else if (word_is(&s, 0, "tls"))
        rc = set_tls(t, &s, line, ln, &line_off, &open_off, err, errlen);
    else {
        set_err(err, errlen, TOP_WORDS, &s, 0);
        return CONF_E_SYNTAX;
    }
    if (rc != CONF_OK) {
        t->len = w->saved.len;
        memcpy(t->buf, w->saved.buf, w->saved.len + 1);
        if (rc == CONF_E_TOO_BIG)
            set_err(err, errlen, "expected a smaller candidate (it is full)", NULL, 0);
        return rc;
    }
    /* Check the edit: is its own line (or a block it opened) wrong now? */
    unsigned edited = line_no(t, line_off), opened = open_off != (size_t)-1 ? line_no(t, open_off) : 0;
    if (conf_parse(p, t->buf, t->len, &w->conf, &w->res) == CONF_OK)
        return CONF_OK;
    for (unsigned i = 0; i < w->res.n_errors; i++) {
        const struct conf_diag *d = &w->res.errors[i];
        if (d->line != edited && !(opened && d->line == opened))
            continue;
        /* "FILE:LINE:COL: expected ..." -> "expected ..." */
        const char *m = d->msg;
        for (int colons = 0; *m && colons < 3; m++)
            colons += *m == ':';
        while (*m == ' ')
            m++;
        set_err(err, errlen, m, NULL, 0);
        t->len = w->saved.len;
        memcpy(t->buf, w->saved.buf, w->saved.len + 1);
        return CONF_E_SYNTAX;
    }
    return CONF_OK;
}

/* ------------------------------------------------------------ delete -- */

int conf_text_delete(struct conf_text *t, const char *stmt, size_t n, char *err, size_t errlen)
{
    if (!t || (!stmt && n))
        return CONF_E_INVAL;
    if (errlen)
        err[0] = '\0';
    struct words s;
    split(stmt, n, &s);
    if (s.n == 0) {
        set_err(err, errlen, "expected what to delete, e.g. interface lan", NULL, 0);
        return CONF_E_SYNTAX;
    }
    bool tls = word_is(&s, 0, "tls"), whole = tls && s.n == 2;
    unsigned port = tls ? port_of(&s, 1) : 0;
    if (tls && !port) {
        set_err(err, errlen, "expected a port (1-65535) after tls", &s, 1);
        return CONF_E_SYNTAX;
    }
    unsigned key =
        word_is(&s, 0, "hostname") || word_is(&s, 0, "log") || is_ops(&s) || (word_is(&s, 0, "console") && s.n == 1) ? 1
        : word_is(&s, 0, "interface") || word_is(&s, 0, "console") || word_is(&s, 0, "route")                        ? 2
        : is_rule(&s) && rule_key(&s) && s.n <= rule_key(&s) + (word_is(&s, 1, "=") ? 1 : 0) ? rule_key(&s)
                                                                                             : 0;
    if (!key && !tls && !is_rule(&s)) {
        set_err(err, errlen, TOP_WORDS, &s, 0);
        return CONF_E_SYNTAX;
    }
    size_t from = 0, to = 0;
    bool found = false;
    struct it i;
    it_init(&i, t);
    while (it_next(&i)) {
        bool match;
        if (tls)
            match = i.block == port && (whole ? i.opens : (!i.opens && !i.closes && i.w.n && same_setting(&i.w, &s)));
        else
            match = !i.block && (key ? i.w.n >= key && prefix_eq(&i.w, &s, key) : all_eq(&i.w, &s));
        if (match && !found) {
            found = true;
            from = i.off;
            to = line_end(t, i.off);
            if (!whole)
                break;
        } else if (found && whole) {
            to = line_end(t, i.off);
            if (i.closes)
                break;
        }
    }
    if (!found) {
        set_err(err, errlen, "expected a statement the candidate has (see show)", NULL, 0);
        return CONF_E_SYNTAX;
    }
    return splice(t, from, to - from, "", 0);
}

void conf_text_from(struct conf_text *t, const struct conf *c)
{
    t->len = conf_write(c, t->buf, sizeof t->buf);
    if (t->len >= sizeof t->buf) /* cannot happen within the limits (conf.h) */
        t->len = sizeof t->buf - 1;
}
