/*
 * manifest.c - parsing the boot manifest (grammar in manifest.h).
 *
 * A hand-written tokenizer over one line at a time; every error names the
 * line and column of the offending word and what was expected there.  The
 * whole manifest is checked before init acts on any of it: a `connect` to
 * an endpoint no server creates, a server name used twice within one boot
 * set, or an endpoint created twice within one boot set (same `when`), is an
 * error too.
 *
 * Templates: a line with `instances FIRST-LAST` is copied once per N with
 * `%` replaced by N (expand_template) and each copy parsed as a line of its
 * own.  A `%` left in a grant name of an ordinary line is a per-instance
 * grant, expanded after the line (expand_patterns) into one grant per
 * instance that an earlier line of the same set names.
 */
#include <stddef.h>

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
        if (d > max || v > (max - d) / base)
            return false; /* (d > max first: max - d must not wrap) */
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

/* `memory SIZE` or `memory MIN-MAX` (init/budget.h: a range shrinks on a
 * small machine). */
static int parse_size_range(struct cursor *c, const struct token *t, struct server_spec *s)
{
    struct token lo = *t, hi = { 0 };
    for (size_t i = 0; i < t->n; i++) {
        if (t->s[i] == '-') {
            lo.n = i;
            hi = *t;
            hi.s = t->s + i + 1;
            hi.n = t->n - i - 1;
            hi.col = t->col + (unsigned)i + 1;
            break;
        }
    }
    if (!parse_size(&lo, &s->memory))
        return fail(c, t->col, "expected a size such as 512K or 4M, or a range such as 4M-8M");
    s->memory_min = s->memory;
    if (!hi.s)
        return 0;
    if (!parse_size(&hi, &s->memory))
        return fail(c, hi.col, "expected a size such as 8M after the range's '-'");
    if (s->memory < s->memory_min)
        return fail(c, hi.col, "a memory range's maximum is below its minimum");
    return 0;
}

static bool copy_chars(const struct token *t, char *dst, size_t cap, bool pattern)
{
    if (t->n == 0 || t->n >= cap)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        char ch = t->s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_' || ch == '.' || ch == '=' || ch == ',' || ch == ':' || ch == '/' || (pattern && ch == '%');
        if (!ok)
            return false;
        dst[i] = ch;
    }
    dst[t->n] = '\0';
    return true;
}

static bool copy_word(const struct token *t, char *dst, size_t cap) { return copy_chars(t, dst, cap, false); }

/* An object or server name that may hold one `%` (a per-instance pattern). */
static bool copy_name(const struct token *t, char *dst, size_t cap)
{
    unsigned pct = 0;
    for (size_t i = 0; i < t->n; i++)
        pct += t->s[i] == '%';
    return pct <= 1 && copy_chars(t, dst, cap, true);
}

static bool has_pct(const char *s)
{
    for (; *s; s++)
        if (*s == '%')
            return true;
    return false;
}

bool manifest_name_matches(const char *pattern, const char *name)
{
    while (*pattern && *pattern != '%') {
        if (*pattern++ != *name++)
            return false;
    }
    if (!*pattern)
        return !*name;
    /* `%`: a decimal 0..MANIFEST_MAX_INSTANCES-1 without leading zeros, then the rest. */
    unsigned v = 0, digits = 0;
    while (name[digits] >= '0' && name[digits] <= '9' && digits < 3)
        v = v * 10 + (unsigned)(name[digits++] - '0');
    if (!digits || (digits > 1 && name[0] == '0') || v >= MANIFEST_MAX_INSTANCES)
        return false;
    const char *a = pattern + 1, *b = name + digits;
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return !*a && !*b;
}

/* PATTERN with its `%` replaced by N, into DST (CAP bytes); false if it does not fit. */
static bool instance_name(const char *pattern, unsigned n, char *dst, size_t cap)
{
    size_t o = 0;
    for (const char *p = pattern; *p; p++) {
        if (*p != '%') {
            if (o + 1 >= cap)
                return false;
            dst[o++] = *p;
            continue;
        }
        if (n >= 10) {
            if (o + 1 >= cap)
                return false;
            dst[o++] = (char)('0' + n / 10);
        }
        if (o + 1 >= cap)
            return false;
        dst[o++] = (char)('0' + n % 10);
    }
    dst[o] = '\0';
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

/* The number after KW (read into the token A) into *OUT: MISSING when
 * there is none, MALFORMED when it is not a number from MIN to MAX.  0, or
 * -1 with the error made. */
static int number_after(struct cursor *c, const struct token *kw, struct token *a, uint64_t min, uint64_t max,
                        const char *missing, const char *malformed, uint64_t *out)
{
    if (need_arg(c, kw, a, missing))
        return -1;
    if (!parse_number(a, max, out) || *out < min)
        return fail(c, a->col, malformed);
    return 0;
}

/* `cpu-limit` 's and `stall-limit`'s argument: `none` (0), or N followed by
 * `ms` or `s`, from MANIFEST_MIN_CPU_LIMIT_MS to MANIFEST_MAX_CPU_LIMIT_MS,
 * into *MS.  0, or -1 with the error made at the argument. */
static int parse_limit(struct cursor *c, const struct token *kw, uint32_t *ms)
{
    bool cpu = tok_is(kw, "cpu-limit");
    const char *what = cpu ? "expected a CPU limit (none, or 10ms to 86400s: a number then ms or s)"
                           : "expected a stall limit (none, or 10ms to 86400s: a number then ms or s)";
    struct token a;
    if (need_arg(c, kw, &a,
                 cpu ? "expected a CPU limit (none, or e.g. 2s or 500ms) after cpu-limit"
                     : "expected a stall limit (none, or e.g. 5s or 500ms) after stall-limit"))
        return -1;
    if (tok_is(&a, "none")) {
        *ms = 0;
        return 0;
    }
    uint64_t v = 0;
    size_t i = 0;
    for (; i < a.n && a.s[i] >= '0' && a.s[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(a.s[i] - '0');
        if (v > MANIFEST_MAX_CPU_LIMIT_MS)
            return fail(c, a.col, what);
    }
    struct token unit = { a.s + i, a.n - i, a.col + (unsigned)i };
    if (i == 0)
        return fail(c, a.col, what);
    if (tok_is(&unit, "s"))
        v *= 1000;
    else if (!tok_is(&unit, "ms"))
        return fail(c, a.col, what);
    if (v < MANIFEST_MIN_CPU_LIMIT_MS || v > MANIFEST_MAX_CPU_LIMIT_MS)
        return fail(c, a.col, what);
    *ms = (uint32_t)v;
    return 0;
}

/* The object name after KW (a token A) into grant G, with where it stands
 * (the checks after the whole manifest point there): MISSING when there is
 * none, MALFORMED when it is not a name.  0, or -1 with the error made. */
static int grant_name(struct cursor *c, const struct token *kw, struct token *a, struct grant *g, const char *missing,
                      const char *malformed)
{
    if (need_arg(c, kw, a, missing))
        return -1;
    if (!copy_name(a, g->name, sizeof g->name))
        return fail(c, a->col, malformed);
    g->line = c->line;
    g->col = a->col;
    return 0;
}

static int parse_grant(struct cursor *c, const struct token *kw, struct server_spec *s)
{
    if (s->n_grants == MANIFEST_MAX_GRANTS)
        return fail(c, kw->col, "too many grants for one server (at most 48)");
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
        if (number_after(c, &a, &b, 1, 65536, "expected a page count after the address",
                         "expected a page count (1-65536)", &g->b))
            return -1;
    } else if (tok_is(kw, "pci")) {
        g->kind = GRANT_PCI;
        if (need_arg(c, kw, &a, "expected net, rng or blk after pci"))
            return -1;
        if (tok_is(&a, "net"))
            g->a = PCI_SEL_NET;
        else if (tok_is(&a, "rng"))
            g->a = PCI_SEL_RNG;
        else if (tok_is(&a, "blk"))
            g->a = PCI_SEL_BLK;
        else
            return fail(c, a.col, "expected net, rng or blk");
        if (number_after(c, &a, &b, 0, 31, "expected a device index after the device kind",
                         "expected a device index (0-31)", &g->b))
            return -1;
    } else if (tok_is(kw, "share")) {
        g->kind = GRANT_SHARE;
        if (grant_name(c, kw, &a, g, "expected a region name after share",
                       "expected a region name (letters, digits, -_.; at most 15)"))
            return -1;
        if (number_after(c, &a, &b, 1, MANIFEST_MAX_SHARE_PAGES, "expected a page count after the region name",
                         "expected a page count (1-4096)", &g->a))
            return -1;
    } else if (tok_is(kw, "signal") || tok_is(kw, "notify")) {
        g->kind = tok_is(kw, "signal") ? GRANT_SIGNAL : GRANT_NOTIFY;
        if (grant_name(c, kw, &a, g, "expected a notification name",
                       "expected a notification name (letters, digits, -_.; at most 15)"))
            return -1;
        /* `signal NAME bit N`: a capability badged with bit N alone, so
         * the holder raises that bit and no other (a driver waking netd). */
        struct cursor save = *c;
        if (g->kind == GRANT_SIGNAL && next_token(c, &b) && tok_is(&b, "bit")) {
            if (number_after(c, &b, &b, 0, 63, "expected a bit number (0-63) after bit", "expected a bit number (0-63)",
                             &g->b))
                return -1;
            g->b++; /* 0: no badge */
        } else {
            *c = save;
        }
    } else if (tok_is(kw, "endpoint") || tok_is(kw, "connect")) {
        g->kind = tok_is(kw, "endpoint") ? GRANT_ENDPOINT : GRANT_CONNECT;
        if (grant_name(c, kw, &a, g, "expected an endpoint name",
                       "expected an endpoint name (letters, digits, -_.; at most 15)"))
            return -1;
    } else {
        return fail(
            c, kw->col,
            "expected program, when, needs, priority, cpu, cpu-limit, stall-limit, memory, args, debug, irq, ioport, "
            "mmio, "
            "endpoint, "
            "connect, pci, share, "
            "signal, notify, site, admin or with");
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

/* Does a server of M's set WHEN (other than S) name an object of KIND's
 * family called NAME (CONNECT matches ENDPOINT; SIGNAL and NOTIFY match
 * each other)? */
static bool set_names_object(const struct manifest *m, const char *when, enum grant_kind kind, const char *name)
{
    for (unsigned j = 0; j < m->n_servers; j++) {
        if (!names_equal(m->servers[j].when, when))
            continue;
        for (unsigned h = 0; h < m->servers[j].n_grants; h++) {
            const struct grant *o = &m->servers[j].grants[h];
            bool family = kind == GRANT_CONNECT ? o->kind == GRANT_ENDPOINT
                          : (kind == GRANT_SIGNAL || kind == GRANT_NOTIFY)
                              ? (o->kind == GRANT_SIGNAL || o->kind == GRANT_NOTIFY)
                              : o->kind == kind;
            if (family && !o->per_instance && names_equal(o->name, name))
                return true;
        }
    }
    return false;
}

/* Replaces each grant of S whose name holds `%` by one grant per instance
 * N whose object an earlier line of S's set names (see manifest.h). */
static int expand_patterns(struct cursor *c, const struct manifest *m, struct server_spec *s)
{
    static struct grant out[MANIFEST_MAX_GRANTS]; /* not on init's small stack; the parser is not reentrant */
    unsigned n = 0;
    for (unsigned g = 0; g < s->n_grants; g++) {
        const struct grant *gr = &s->grants[g];
        if (!has_pct(gr->name)) {
            out[n++] = *gr;
            continue;
        }
        unsigned saved = c->line;
        c->line = gr->line;
        if (gr->kind == GRANT_ENDPOINT)
            return fail(c, gr->col, "an endpoint with `%` needs `instances FIRST-LAST` on its line");
        unsigned found = 0;
        for (unsigned k = 0; k < MANIFEST_MAX_INSTANCES; k++) {
            char name[MANIFEST_NAME_MAX];
            if (!instance_name(gr->name, k, name, sizeof name))
                return fail(c, gr->col, "this name is too long once `%` is a number (at most 15)");
            if (!set_names_object(m, s->when, gr->kind, name))
                continue;
            if (n == MANIFEST_MAX_GRANTS)
                return fail(c, gr->col, "too many grants for one server once `%` is expanded (at most 48)");
            out[n] = *gr;
            for (size_t i = 0; i < sizeof name; i++)
                out[n].name[i] = name[i];
            out[n++].per_instance = true;
            found++;
        }
        if (!found)
            return fail(c, gr->col, "no earlier `instances` line of this boot set names an object that matches");
        c->line = saved;
    }
    for (unsigned g = 0; g < n; g++)
        s->grants[g] = out[g];
    s->n_grants = n;
    return 0;
}

/* A server's options whose value is one word, copied into a field of its
 * struct server_spec: a server name (copy_name: may hold one `%`) or a
 * command-line word (copy_word). */
#define SPEC_FIELD(f) offsetof(struct server_spec, f), sizeof((struct server_spec *)0)->f
static const struct word_option {
    const char *key;
    bool is_name;
    size_t off, cap;                 /* the field (SPEC_FIELD) */
    const char *missing, *malformed; /* the errors: no word after KEY, a bad one */
} word_options[] = {
    { "when", false, SPEC_FIELD(when), "expected a command-line word after when",
      "expected a command-line word (letters, digits, -_.; at most 15)" },
    { "with", false, SPEC_FIELD(with), "expected a command-line word after with",
      "expected a command-line word (letters, digits, -_.; at most 15)" },
    { "program", false, SPEC_FIELD(program), "expected a program name after program",
      "expected a program name (letters, digits, -_.; at most 15)" },
    { "needs", true, SPEC_FIELD(needs), "expected a server name after needs",
      "expected a server name (letters, digits, -_.; at most 15)" },
    { "args", false, SPEC_FIELD(args), "expected a word after args",
      "expected one word of arguments (at most 127 characters)" },
};

/* The word option keyword T names, or NULL. */
static const struct word_option *find_word_option(const struct token *t)
{
    for (size_t i = 0; i < sizeof word_options / sizeof word_options[0]; i++)
        if (tok_is(t, word_options[i].key))
            return &word_options[i];
    return NULL;
}

static int parse_server(struct cursor *c, const struct token *first, struct manifest *m, int instance)
{
    if (tok_is(first, "driver"))
        return parse_driver(c, first, m);
    if (!tok_is(first, "server"))
        return fail(c, first->col, "expected 'server' or 'driver'");
    if (m->n_servers == MANIFEST_MAX_SERVERS)
        return fail(c, first->col, "too many servers (at most 64)");
    struct server_spec *s = &m->servers[m->n_servers];
    *s = (struct server_spec){ .priority = 10, .cpu = -1, .instance = (int8_t)instance };
    struct token t, a, name;
    if (need_arg(c, first, &name, "expected a server name after 'server'"))
        return -1;
    if (!copy_name(&name, s->name, sizeof s->name) || (has_pct(s->name) && instance < 0))
        return fail(c, name.col,
                    has_pct(s->name) ? "a name with `%` needs `instances FIRST-LAST` on its line"
                                     : "expected a server name (letters, digits, -_.; at most 15)");
    while (next_token(c, &t)) {
        if (tok_is(&t, "instances")) {
            if (need_arg(c, &t, &a, "expected FIRST-LAST after instances"))
                return -1;
            continue; /* read by manifest_parse, which expanded this line */
        }
        const struct word_option *w = find_word_option(&t);
        if (w) {
            if (need_arg(c, &t, &a, w->missing))
                return -1;
            char *field = (char *)s + w->off;
            if (!(w->is_name ? copy_name(&a, field, w->cap) : copy_word(&a, field, w->cap)))
                return fail(c, a.col, w->malformed);
        } else if (tok_is(&t, "requires")) {
            if (need_arg(c, &t, &a, "expected tls, nic or ops after requires"))
                return -1;
            if (tok_is(&a, "tls"))
            s->requires |= REQUIRES_TLS;
            else if (tok_is(&a, "nic")) s->requires |= REQUIRES_NIC;
            else if (tok_is(&a, "ops")) s->requires |= REQUIRES_OPS;
            else return fail(c, a.col, "expected tls, nic or ops after requires");
        } else if (tok_is(&t, "priority")) {
            uint64_t v;
            if (number_after(c, &t, &a, 0, MANIFEST_MAX_PRIORITY, "expected a priority (0-19) after priority",
                             "expected a priority (0-19)", &v))
                return -1;
            s->priority = (uint8_t)v;
        } else if (tok_is(&t, "cpu")) {
            uint64_t v;
            if (number_after(c, &t, &a, 0, MANIFEST_MAX_CPU, "expected a core (0-7) after cpu", "expected a core (0-7)",
                             &v))
                return -1;
            s->cpu = (int8_t)v;
        } else if (tok_is(&t, "cpu-limit")) {
            if (parse_limit(c, &t, &s->cpu_limit_ms))
                return -1;
        } else if (tok_is(&t, "stall-limit")) {
            if (parse_limit(c, &t, &s->stall_limit_ms))
                return -1;
        } else if (tok_is(&t, "memory")) {
            if (need_arg(c, &t, &a, "expected a size (e.g. 4M) after memory"))
                return -1;
            if (parse_size_range(c, &a, s))
                return -1;
        } else if (parse_grant(c, &t, s)) {
            return -1;
        }
    }
    if (s->when[0] && s->with[0])
        return fail(c, name.col, "a server takes `when` (a test set) or `with` (beside the appliance), not both");
    /* Names are scoped by boot set: checked here, once `when` is known. */
    for (unsigned i = 0; i < m->n_servers; i++)
        if (names_equal(m->servers[i].name, s->name) && names_equal(m->servers[i].when, s->when))
            return fail(c, name.col, "a server of this name is already listed in this boot set");
    if (expand_patterns(c, m, s))
        return -1;
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

/* Looks for `instances FIRST-LAST` on the current line (without moving C):
 * *FIRST and *LAST, or both -1 when the line has none. */
static int line_instances(struct cursor *c, int *first, int *last)
{
    struct cursor look = *c;
    struct token t, r;
    while (next_token(&look, &t)) {
        if (!tok_is(&t, "instances"))
            continue;
        if (!next_token(&look, &r))
            return fail(c, t.col + (unsigned)t.n + 1, "expected FIRST-LAST after instances");
        size_t dash = 0;
        while (dash < r.n && r.s[dash] != '-')
            dash++;
        struct token lo = { r.s, dash, r.col }, hi = { r.s + dash + 1, dash < r.n ? r.n - dash - 1 : 0, r.col };
        uint64_t a, b;
        if (dash == r.n || !parse_number(&lo, MANIFEST_MAX_INSTANCES - 1, &a) ||
            !parse_number(&hi, MANIFEST_MAX_INSTANCES - 1, &b) || b < a)
            return fail(c, r.col, "expected an instance range FIRST-LAST (0-15, FIRST <= LAST)");
        *first = (int)a;
        *last = (int)b;
        return 0;
    }
    return 0;
}

/* Parses the current line once per instance N in FIRST..LAST, with `%`
 * replaced by N (up to a `#` comment). */
static int expand_template(struct cursor *c, struct manifest *m, unsigned first, unsigned last)
{
    const char *end = c->p;
    while (end < c->end && *end != '\n')
        end++;
    for (unsigned n = first; n <= last; n++) {
        char buf[MANIFEST_LINE_MAX];
        size_t o = 0;
        bool comment = false;
        for (const char *p = c->p; p < end; p++) {
            comment |= *p == '#';
            if (*p == '%' && !comment) {
                if (n >= 10 && o < sizeof buf)
                    buf[o++] = (char)('0' + n / 10);
                if (o < sizeof buf)
                    buf[o++] = (char)('0' + n % 10);
            } else if (o < sizeof buf) {
                buf[o++] = *p;
            }
        }
        if (o == sizeof buf)
            return fail(c, 1, "this line is too long (at most 1023 characters)");
        struct cursor sub = { buf, buf + o, c->line, c->col, c->err, c->errlen };
        struct token t;
        if (next_token(&sub, &t) && parse_server(&sub, &t, m, (int)n))
            return -1;
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
        int first = -1, last = -1;
        if (line_instances(&c, &first, &last))
            return -1;
        if (first >= 0) {
            if (expand_template(&c, out, (unsigned)first, (unsigned)last))
                return -1;
        } else if (next_token(&c, &t) && parse_server(&c, &t, out, -1)) {
            return -1;
        }
        next_line(&c);
    }
    return check_endpoints(&c, out);
}
