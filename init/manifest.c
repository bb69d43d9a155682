/*
 * manifest.c - parsing the boot manifest (grammar in manifest.h).
 *
 * A hand-written tokenizer over one line at a time; every error names the
 * line and column of the offending word and what was expected there.  The
 * whole manifest is checked before init acts on any of it: a `connect` to
 * an endpoint no server creates, a server name used twice, or an endpoint
 * created twice within one boot set (same `when`), is an error too.
 */
#include "manifest.h"

struct cursor {
    const char *p, *end;
    unsigned line, col;
    char *err;
    size_t errlen;
};

struct token {
    const char *s;
    size_t n;
    unsigned col;
};

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static bool tok_is(const struct token *t, const char *w)
{
    size_t n = str_len(w);
    if (t->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (t->s[i] != w[i])
            return false;
    return true;
}

/* Appends S to ERR at *pos (cut to fit). */
static void err_put(char *err, size_t cap, size_t *pos, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *pos + 1 < cap; i++)
        err[(*pos)++] = s[i];
    if (cap)
        err[*pos < cap ? *pos : cap - 1] = '\0';
}

static void err_num(char *err, size_t cap, size_t *pos, unsigned v)
{
    char buf[12];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        err_put(err, cap, pos, &buf[--n], 1);
}

static int fail(struct cursor *c, unsigned col, const char *what)
{
    size_t pos = 0;
    err_put(c->err, c->errlen, &pos, "manifest:", 9);
    err_num(c->err, c->errlen, &pos, c->line);
    err_put(c->err, c->errlen, &pos, ":", 1);
    err_num(c->err, c->errlen, &pos, col);
    err_put(c->err, c->errlen, &pos, ": ", 2);
    err_put(c->err, c->errlen, &pos, what, str_len(what));
    return -1;
}

/* The next word on the current line; false at the end of the line. */
static bool next_token(struct cursor *c, struct token *t)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) {
        c->p++;
        c->col++;
    }
    if (c->p >= c->end || *c->p == '\n' || *c->p == '#')
        return false;
    t->s = c->p;
    t->col = c->col;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\n' && *c->p != '\r' && *c->p != '#') {
        c->p++;
        c->col++;
    }
    t->n = (size_t)(c->p - t->s);
    return true;
}

static void next_line(struct cursor *c)
{
    while (c->p < c->end && *c->p != '\n')
        c->p++;
    if (c->p < c->end)
        c->p++;
    c->line++;
    c->col = 1;
}

static bool parse_number(const struct token *t, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    unsigned base = 10;
    if (t->n > 2 && t->s[0] == '0' && (t->s[1] == 'x' || t->s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    if (i >= t->n)
        return false;
    for (; i < t->n; i++) {
        char ch = t->s[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (base == 16 && ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else if (base == 16 && ch >= 'A' && ch <= 'F')
            d = (unsigned)(ch - 'A' + 10);
        else
            return false;
        if (v > (max - d) / base)
            return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

static bool parse_size(const struct token *t, uint64_t *out)
{
    struct token num = *t;
    uint64_t mult = 1;
    if (num.n > 1 && (num.s[num.n - 1] == 'K' || num.s[num.n - 1] == 'M')) {
        mult = num.s[num.n - 1] == 'K' ? 1024 : 1024 * 1024;
        num.n--;
    }
    uint64_t v;
    if (!parse_number(&num, (1ull << 40) / mult, &v) || v == 0)
        return false;
    *out = v * mult;
    return true;
}

static bool copy_word(const struct token *t, char *dst, size_t cap)
{
    if (t->n == 0 || t->n >= cap)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        char ch = t->s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_' || ch == '.' || ch == '=' || ch == ',' || ch == ':' || ch == '/';
        if (!ok)
            return false;
        dst[i] = ch;
    }
    dst[t->n] = '\0';
    return true;
}

static bool names_equal(const char *a, const char *b)
{
    size_t i = 0;
    for (; a[i] && a[i] == b[i]; i++)
        ;
    return a[i] == b[i];
}

/* The word after a keyword; fails with "expected WHAT after KEYWORD". */
static int need_arg(struct cursor *c, const struct token *kw, struct token *arg, const char *what)
{
    if (!next_token(c, arg))
        return fail(c, kw->col + (unsigned)kw->n + 1, what);
    return 0;
}

static int parse_ioport(struct cursor *c, const struct token *t, struct grant *g)
{
    size_t dash = 0;
    while (dash < t->n && t->s[dash] != '-')
        dash++;
    struct token lo = { t->s, dash, t->col };
    struct token hi = { t->s + dash + 1, dash < t->n ? t->n - dash - 1 : 0, t->col };
    if (dash == t->n || !parse_number(&lo, 0xffff, &g->a) || !parse_number(&hi, 0xffff, &g->b) || g->b < g->a)
        return fail(c, t->col, "expected a port range FIRST-LAST (0-0xffff, FIRST <= LAST)");
    return 0;
}

static int parse_grant(struct cursor *c, const struct token *kw, struct server_spec *s)
{
    if (s->n_grants == MANIFEST_MAX_GRANTS)
        return fail(c, kw->col, "too many grants for one server (at most 16)");
    struct grant *g = &s->grants[s->n_grants];
    struct token a, b;
    if (tok_is(kw, "debug")) {
        g->kind = GRANT_DEBUG;
    } else if (tok_is(kw, "site")) {
        g->kind = GRANT_SITE;
    } else if (tok_is(kw, "admin")) {
        g->kind = GRANT_ADMIN;
    } else if (tok_is(kw, "irq")) {
        g->kind = GRANT_IRQ;
        if (need_arg(c, kw, &a, "expected an IRQ line (0-23) or msi after irq"))
            return -1;
        if (tok_is(&a, "msi"))
            g->a = GRANT_IRQ_MSI;
        else if (!parse_number(&a, 23, &g->a))
            return fail(c, a.col, "expected an IRQ line (0-23) or msi");
    } else if (tok_is(kw, "ioport")) {
        g->kind = GRANT_IOPORT;
        if (need_arg(c, kw, &a, "expected a port range FIRST-LAST after ioport") || parse_ioport(c, &a, g))
            return -1;
    } else if (tok_is(kw, "mmio")) {
        g->kind = GRANT_MMIO;
        if (need_arg(c, kw, &a, "expected a physical address after mmio"))
            return -1;
        if (!parse_number(&a, (1ull << 52) - 1, &g->a) || (g->a & 0xfff))
            return fail(c, a.col, "expected a page-aligned physical address");
        if (need_arg(c, &a, &b, "expected a page count after the address"))
            return -1;
        if (!parse_number(&b, 65536, &g->b) || g->b == 0)
            return fail(c, b.col, "expected a page count (1-65536)");
    } else if (tok_is(kw, "pci")) {
        g->kind = GRANT_PCI;
        if (need_arg(c, kw, &a, "expected net or rng after pci"))
            return -1;
        if (tok_is(&a, "net"))
            g->a = PCI_SEL_NET;
        else if (tok_is(&a, "rng"))
            g->a = PCI_SEL_RNG;
        else
            return fail(c, a.col, "expected net or rng");
        if (need_arg(c, &a, &b, "expected a device index after the device kind"))
            return -1;
        if (!parse_number(&b, 31, &g->b))
            return fail(c, b.col, "expected a device index (0-31)");
    } else if (tok_is(kw, "share")) {
        g->kind = GRANT_SHARE;
        if (need_arg(c, kw, &a, "expected a region name after share"))
            return -1;
        if (!copy_word(&a, g->name, sizeof g->name))
            return fail(c, a.col, "expected a region name (letters, digits, -_.; at most 15)");
        g->line = c->line;
        g->col = a.col;
        if (need_arg(c, &a, &b, "expected a page count after the region name"))
            return -1;
        if (!parse_number(&b, MANIFEST_MAX_SHARE_PAGES, &g->a) || g->a == 0)
            return fail(c, b.col, "expected a page count (1-4096)");
    } else if (tok_is(kw, "signal") || tok_is(kw, "notify")) {
        g->kind = tok_is(kw, "signal") ? GRANT_SIGNAL : GRANT_NOTIFY;
        if (need_arg(c, kw, &a, "expected a notification name"))
            return -1;
        if (!copy_word(&a, g->name, sizeof g->name))
            return fail(c, a.col, "expected a notification name (letters, digits, -_.; at most 15)");
    } else if (tok_is(kw, "endpoint") || tok_is(kw, "connect")) {
        g->kind = tok_is(kw, "endpoint") ? GRANT_ENDPOINT : GRANT_CONNECT;
        if (need_arg(c, kw, &a, "expected an endpoint name"))
            return -1;
        if (!copy_word(&a, g->name, sizeof g->name))
            return fail(c, a.col, "expected an endpoint name (letters, digits, -_.; at most 15)");
        g->line = c->line;
        g->col = a.col;
    } else {
        return fail(c, kw->col, "expected program, when, needs, priority, memory, args, debug, irq, ioport, mmio, endpoint, connect, pci, share, "
                    "signal, notify, site or admin");
    }
    s->n_grants++;
    return 0;
}

static bool parse_hex16(const char *s, size_t n, uint16_t *out)
{
    if (n != 4)
        return false;
    uint16_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            d = (unsigned)(ch - 'A' + 10);
        else
            return false;
        v = (uint16_t)(v * 16 + d);
    }
    *out = v;
    return true;
}

static int parse_driver(struct cursor *c, const struct token *first, struct manifest *m)
{
    if (m->n_drivers == MANIFEST_MAX_DRIVERS)
        return fail(c, first->col, "too many driver lines (at most 16)");
    struct driver_entry *d = &m->drivers[m->n_drivers];
    struct token id, prog, extra;
    if (need_arg(c, first, &id, "expected VVVV:DDDD after driver"))
        return -1;
    if (id.n != 9 || id.s[4] != ':' || !parse_hex16(id.s, 4, &d->vendor) || !parse_hex16(id.s + 5, 4, &d->device))
        return fail(c, id.col, "expected a PCI vendor:device pair such as 1af4:1041");
    if (need_arg(c, &id, &prog, "expected a program name after the device"))
        return -1;
    if (!copy_word(&prog, d->program, sizeof d->program))
        return fail(c, prog.col, "expected a program name (letters, digits, -_.; at most 15)");
    if (next_token(c, &extra))
        return fail(c, extra.col, "expected the end of the line after the program name");
    m->n_drivers++;
    return 0;
}

static int parse_server(struct cursor *c, const struct token *first, struct manifest *m)
{
    if (tok_is(first, "driver"))
        return parse_driver(c, first, m);
    if (!tok_is(first, "server"))
        return fail(c, first->col, "expected 'server' or 'driver'");
    if (m->n_servers == MANIFEST_MAX_SERVERS)
        return fail(c, first->col, "too many servers (at most 32)");
    struct server_spec *s = &m->servers[m->n_servers];
    *s = (struct server_spec){ .priority = 10 };
    struct token t, a;
    if (need_arg(c, first, &t, "expected a server name after 'server'"))
        return -1;
    if (!copy_word(&t, s->name, sizeof s->name))
        return fail(c, t.col, "expected a server name (letters, digits, -_.; at most 15)");
    for (unsigned i = 0; i < m->n_servers; i++)
        if (names_equal(m->servers[i].name, s->name))
            return fail(c, t.col, "a server of this name is already listed");
    while (next_token(c, &t)) {
        if (tok_is(&t, "when")) {
            if (need_arg(c, &t, &a, "expected a command-line word after when"))
                return -1;
            if (!copy_word(&a, s->when, sizeof s->when))
                return fail(c, a.col, "expected a command-line word (letters, digits, -_.; at most 15)");
        } else if (tok_is(&t, "program")) {
            if (need_arg(c, &t, &a, "expected a program name after program"))
                return -1;
            if (!copy_word(&a, s->program, sizeof s->program))
                return fail(c, a.col, "expected a program name (letters, digits, -_.; at most 15)");
        } else if (tok_is(&t, "needs")) {
            if (need_arg(c, &t, &a, "expected a server name after needs"))
                return -1;
            if (!copy_word(&a, s->needs, sizeof s->needs))
                return fail(c, a.col, "expected a server name (letters, digits, -_.; at most 15)");
        } else if (tok_is(&t, "requires")) {
            if (need_arg(c, &t, &a, "expected tls or nic after requires"))
                return -1;
            if (tok_is(&a, "tls"))
                s->requires |= REQUIRES_TLS;
            else if (tok_is(&a, "nic"))
                s->requires |= REQUIRES_NIC;
            else
                return fail(c, a.col, "expected tls or nic after requires");
        } else if (tok_is(&t, "priority")) {
            uint64_t v;
            if (need_arg(c, &t, &a, "expected a priority (0-19) after priority"))
                return -1;
            if (!parse_number(&a, MANIFEST_MAX_PRIORITY, &v))
                return fail(c, a.col, "expected a priority (0-19)");
            s->priority = (uint8_t)v;
        } else if (tok_is(&t, "memory")) {
            if (need_arg(c, &t, &a, "expected a size (e.g. 4M) after memory"))
                return -1;
            if (!parse_size(&a, &s->memory))
                return fail(c, a.col, "expected a size such as 512K or 4M");
        } else if (tok_is(&t, "args")) {
            if (need_arg(c, &t, &a, "expected a word after args"))
                return -1;
            if (!copy_word(&a, s->args, sizeof s->args))
                return fail(c, a.col, "expected one word of arguments (at most 127 characters)");
        } else if (parse_grant(c, &t, s)) {
            return -1;
        }
    }
    m->n_servers++;
    return 0;
}

/* Every `connect NAME` needs some server's `endpoint NAME`, and each
 * endpoint is created by one server of a boot set (the servers with the
 * same `when` word, or none): two sets never run together, so each may
 * have its own `endpoint netd` (init creates the object once). */
static int check_endpoints(struct cursor *c, const struct manifest *m)
{
    for (unsigned i = 0; i < m->n_servers; i++) {
        for (unsigned g = 0; g < m->servers[i].n_grants; g++) {
            const struct grant *gr = &m->servers[i].grants[g];
            unsigned providers = 0, in_set = 0;
            for (unsigned j = 0; j < m->n_servers; j++)
                for (unsigned h = 0; h < m->servers[j].n_grants; h++)
                    if (m->servers[j].grants[h].kind == GRANT_ENDPOINT &&
                        names_equal(m->servers[j].grants[h].name, gr->name)) {
                        providers++;
                        in_set += names_equal(m->servers[j].when, m->servers[i].when);
                    }
            if (gr->kind == GRANT_CONNECT && providers == 0) {
                c->line = gr->line;
                return fail(c, gr->col, "expected the name of an endpoint some server creates");
            }
            if (gr->kind == GRANT_SHARE) {
                for (unsigned j = 0; j < m->n_servers; j++)
                    for (unsigned h = 0; h < m->servers[j].n_grants; h++) {
                        const struct grant *o = &m->servers[j].grants[h];
                        if (o->kind == GRANT_SHARE && names_equal(o->name, gr->name) && o->a != gr->a) {
                            c->line = gr->line;
                            return fail(c, gr->col, "this region is shared with a different page count elsewhere");
                        }
                    }
            }
            if (gr->kind == GRANT_ENDPOINT && in_set > 1) {
                c->line = gr->line;
                return fail(c, gr->col, "this endpoint name is created by more than one server");
            }
        }
    }
    return 0;
}

int manifest_parse(const char *text, size_t len, struct manifest *out, char *err, size_t errlen)
{
    struct cursor c = { text, text + len, 1, 1, err, errlen };
    out->n_servers = 0;
    out->n_drivers = 0;
    if (errlen)
        err[0] = '\0';
    while (c.p < c.end) {
        struct token t;
        if (next_token(&c, &t) && parse_server(&c, &t, out))
            return -1;
        next_line(&c);
    }
    return check_endpoints(&c, out);
}
