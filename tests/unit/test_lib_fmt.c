/*
 * test_lib_fmt.c - lib/fmt.c: fixed cases for Keel's own choices, then a
 * differential run against the host's snprintf over random specs (every
 * flag, width, precision, '*' and length combination whose meaning C
 * defines), with random truncation lengths.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <keel/fmt.h>

#include "unit.h"

/* Some cases feed the formatter what gcc would reject at compile time. */
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wformat-overflow"
#pragma GCC diagnostic ignored "-Wformat-zero-length"

static char buf[256];

#define CHECK_FMT(expected, ...) CHECK_FORMATS(lib_snprintf, buf, expected, __VA_ARGS__)

static void test_integers_and_lengths(void)
{
    CHECK_FMT("-42 7 4000000000", "%d %i %u", -42, 7, 4000000000u);
    CHECK_FMT("-9223372036854775808 18446744073709551615", "%lld %llu", (long long)INT64_MIN,
              (unsigned long long)UINT64_MAX);
    CHECK_FMT("44 255 4464 4464", "%hhd %hhu %hd %hu", 300, 511, 70000, 70000);
    CHECK_FMT("12 -3 -5 -6 -7", "%zu %zd %jd %td %ld", (size_t)12, (ptrdiff_t)-3, (intmax_t)-5, (ptrdiff_t)-6, -7L);
    CHECK_FMT("-2147483648 2147483647", "%d %d", INT_MIN, INT_MAX);
}

static void test_hex_octal_alt(void)
{
    CHECK_FMT("beef BEEF 10 ffffffff80000000", "%x %X %o %lx", 0xbeefu, 0xbeefu, 8u, 0xffffffff80000000ul);
    CHECK_FMT("0xff 0XFF 010 0 0 0", "%#x %#X %#o %#x %#o %#.0o", 255u, 255u, 8u, 0u, 0u, 0u);
    CHECK_FMT("[0x000000ab][0xab    ][0010]", "[%#010x][%#-8x][%#.4o]", 0xabu, 0xabu, 8u);
}

static void test_flags_width_precision(void)
{
    CHECK_FMT("[   42][42   ][-0042][+5][ 5][+5][ 0005]", "[%5d][%-5d][%05d][%+d][% d][%+ d][% 05d]", 42, 42, -42, 5, 5,
              5, 5);
    CHECK_FMT("[007][    -007][007     ][     007][][     ]", "[%.3d][%8.3d][%-8.3d][%08.3d][%.0d][%5.0d]", 7, -7, 7, 7,
              0, 0);
    CHECK_FMT("[   1][1   ][1   ][001][1]", "[%*d][%-*d][%*d][%.*d][%.*d]", 4, 1, 4, 1, -4, 1, 3, 1, -3, 1);
    CHECK_FMT("[  ab][ab  ][abc][ab][]", "[%*s][%-*s][%.3s][%.*s][%.s]", 4, "ab", 4, "ab", "abcdef", 2, "abcdef",
              "xyz");
    CHECK_FMT("[  x][y  ][A]", "[%3c][%-3c][%c]", 'x', 'y', 0x141);
    CHECK_FMT("[3    ][3][3][3]", "[%-05d][%u][%+u][% u]", 3, 3u, 3u, 3u);
}

static void test_strings_pointers_percent(void)
{
    CHECK_FMT("keel|(null)|(nu|100%", "%s|%s|%.3s|100%%", "keel", (const char *)0, (const char *)0);
    CHECK_FMT("0x1234 0x0             0xdead 0x0   |", "%p %p %18p %-6p|", (void *)0x1234, (void *)0, (void *)0xdead,
              (void *)0);
    CHECK_FMT("0xffff800000000000", "%p", (void *)0xffff800000000000ull);
}

static void test_unknown_conversions_are_literal(void)
{
    int n = lib_snprintf(buf, sizeof buf, "a%yb %5.2qc %n %f %ls %lc %-%", 1, 2);
    CHECK_STR(buf, "a%yb %5.2qc %n %f %ls %lc %");
    CHECK_EQ(n, (long long)strlen(buf));
    /* An unknown conversion takes no argument: the next one still gets its own. */
    CHECK_FMT("%k9", "%k%d", 9);
    /* The format ends inside a spec: printed as is. */
    CHECK_FMT("50%", "50%");
    CHECK_FMT("x%-08.3l", "x%-08.3l");
    CHECK_FMT("", "");
}

static void test_truncation_and_return_value(void)
{
    char small[6];
    memset(small, 'Z', sizeof small);
    CHECK_EQ(lib_snprintf(small, sizeof small, "%s", "abcdefgh"), 8);
    CHECK_STR(small, "abcde");
    CHECK_EQ(lib_snprintf(small, sizeof small, "%05d", 123), 5); /* exactly fits */
    CHECK_STR(small, "00123");
    CHECK_EQ(lib_snprintf(NULL, 0, "%d", 12345), 5);
    memset(small, 'Z', sizeof small);
    CHECK_EQ(lib_snprintf(small, 1, "xyz"), 3);
    CHECK_EQ(small[0], '\0');
    CHECK_EQ(small[1], 'Z');
    CHECK_EQ(lib_snprintf(small, 3, "%50d", 1), 50);
    CHECK_STR(small, "  ");
}

/* A sink that counts bytes and calls, and keeps a copy of what fits. */
struct record {
    char text[512];
    size_t bytes, calls;
};

static void record_sink(void *ctx, const char *s, size_t len)
{
    struct record *r = ctx;
    CHECK(len > 0);
    for (size_t i = 0; i < len && r->bytes + i < sizeof r->text - 1; i++)
        r->text[r->bytes + i] = s[i];
    r->bytes += len;
    r->calls++;
    r->text[r->bytes < sizeof r->text - 1 ? r->bytes : sizeof r->text - 1] = '\0';
}

static size_t record_format(struct record *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *r = (struct record){ .bytes = 0 };
    size_t n = fmt_format(record_sink, r, fmt, ap);
    va_end(ap);
    return n;
}

static void test_sink_receives_runs(void)
{
    struct record r;
    size_t n = record_format(&r, "hello, %s: %-100d|", "world", 42);
    CHECK_EQ(n, r.bytes);
    CHECK_EQ(n, 7 + 5 + 2 + 100 + 1);
    CHECK(memcmp(r.text, "hello, world: 42 ", 17) == 0);
    /* Literal text is one run, padding comes in chunks: far fewer calls than bytes. */
    CHECK(r.calls < 12);
    CHECK_EQ(record_format(&r, ""), 0);
    CHECK_EQ(r.calls, 0);
}

static void test_width_saturates_and_overflow_is_reported(void)
{
    /* 99999999999 does not fit an int: the width saturates at INT_MAX, and
     * with the 'x' the output is one byte longer than an int can count. */
    CHECK_EQ(lib_snprintf(buf, sizeof buf, "x%99999999999d", 1), FMT_E_OVERFLOW);
    CHECK_EQ(strlen(buf), sizeof buf - 1); /* still filled and terminated */
    CHECK_EQ(buf[0], 'x');
    struct record r;
    CHECK_EQ(record_format(&r, "%*d", INT_MIN, 7), INT_MAX); /* -INT_MIN saturates too */
    CHECK_EQ(r.text[0], '7');
}

/* ------------------------------------------------- differential run ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void) { return unit_xorshift64(&rng_state); }

/* A value with a random magnitude, so short and long numbers both occur. */
static uint64_t random_value(void)
{
    unsigned bits = (unsigned)(rng() % 65);
    uint64_t v = rng();
    return bits == 64 ? v : (v & ((1ull << bits) - 1));
}

enum arg_kind { ARG_INT, ARG_LLONG, ARG_STR, ARG_CHAR };

struct case_spec {
    char fmt[64];
    enum arg_kind kind;
    int nstars;
    int stars[2];
    long long value;
    const char *str;
};

typedef int (*snprintf_fn)(char *, size_t, const char *, ...);

static int run_case(snprintf_fn f, char *out, size_t n, const struct case_spec *c)
{
    switch (c->kind * 3 + c->nstars) {
    case ARG_INT * 3 + 0: return f(out, n, c->fmt, (int)c->value);
    case ARG_INT * 3 + 1: return f(out, n, c->fmt, c->stars[0], (int)c->value);
    case ARG_INT * 3 + 2: return f(out, n, c->fmt, c->stars[0], c->stars[1], (int)c->value);
    case ARG_LLONG * 3 + 0: return f(out, n, c->fmt, c->value);
    case ARG_LLONG * 3 + 1: return f(out, n, c->fmt, c->stars[0], c->value);
    case ARG_LLONG * 3 + 2: return f(out, n, c->fmt, c->stars[0], c->stars[1], c->value);
    case ARG_STR * 3 + 0: return f(out, n, c->fmt, c->str);
    case ARG_STR * 3 + 1: return f(out, n, c->fmt, c->stars[0], c->str);
    case ARG_STR * 3 + 2: return f(out, n, c->fmt, c->stars[0], c->stars[1], c->str);
    case ARG_CHAR * 3 + 0: return f(out, n, c->fmt, (int)c->value);
    case ARG_CHAR * 3 + 1: return f(out, n, c->fmt, c->stars[0], (int)c->value);
    default: return f(out, n, c->fmt, c->stars[0], c->stars[1], (int)c->value);
    }
}

static void append(char **p, const char *s)
{
    while (*s)
        *(*p)++ = *s++;
}

/* Builds one random conversion whose meaning C99 defines. */
static void random_case(struct case_spec *c)
{
    static const char convs[] = "diuoxXsc";
    static const char *const lengths[] = { "", "hh", "h", "l", "ll", "z", "j", "t" };
    static const char *const strings[] = { "", "k", "keel", "microkernel servers" };
    char conv = convs[rng() % (sizeof convs - 1)];
    bool integer = (conv != 's' && conv != 'c');
    char *p = c->fmt;
    *c = (struct case_spec){ .kind = ARG_INT };
    p = c->fmt;
    append(&p, "<");
    *p++ = '%';
    if (rng() % 2)
        *p++ = '-';
    if (integer && rng() % 3 == 0)
        *p++ = '0';
    if (integer && rng() % 4 == 0)
        *p++ = '+';
    if (integer && rng() % 4 == 0)
        *p++ = ' ';
    if ((conv == 'o' || conv == 'x' || conv == 'X') && rng() % 2)
        *p++ = '#';
    switch (rng() % 3) {
    case 0: break;
    case 1: p += sprintf(p, "%d", (int)(rng() % 25)); break;
    default: *p++ = '*'; c->stars[c->nstars++] = (int)(rng() % 50) - 25;
    }
    if (conv != 'c') {
        switch (rng() % 4) {
        case 0: break;
        case 1: p += sprintf(p, ".%d", (int)(rng() % 25)); break;
        case 2: *p++ = '.'; break;
        default: append(&p, ".*"); c->stars[c->nstars++] = (int)(rng() % 30) - 5;
        }
    }
    if (integer) {
        const char *len = lengths[rng() % 8];
        append(&p, len);
        c->kind = (len[0] && len[0] != 'h') ? ARG_LLONG : ARG_INT;
        c->value = (long long)random_value();
    } else if (conv == 's') {
        c->kind = ARG_STR;
        c->str = strings[rng() % 4];
    } else {
        c->kind = ARG_CHAR;
        c->value = 32 + (long long)(rng() % 95);
    }
    *p++ = conv;
    append(&p, ">");
    *p = '\0';
}

static void test_differential_against_host(void)
{
    char want[256], got[256];
    int mismatches = 0;
    for (int i = 0; i < 200000 && mismatches < 5; i++) {
        struct case_spec c;
        random_case(&c);
        size_t n = (rng() % 4 == 0) ? (size_t)(rng() % 40) : sizeof got;
        memset(want, 'Q', sizeof want);
        memset(got, 'Q', sizeof got);
        int rw = run_case(snprintf, want, n, &c);
        int rg = run_case(lib_snprintf, got, n, &c);
        if (rw != rg || memcmp(want, got, sizeof got) != 0) {
            mismatches++;
            printf("  mismatch: fmt \"%s\" n=%zu stars=%d,%d value=%lld: host \"%s\" (%d), lib \"%s\" (%d)\n", c.fmt, n,
                   c.stars[0], c.stars[1], c.value, n ? want : "", rw, n ? got : "", rg);
        }
    }
    CHECK_EQ(mismatches, 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_integers_and_lengths),
        UNIT_TEST(test_hex_octal_alt),
        UNIT_TEST(test_flags_width_precision),
        UNIT_TEST(test_strings_pointers_percent),
        UNIT_TEST(test_unknown_conversions_are_literal),
        UNIT_TEST(test_truncation_and_return_value),
        UNIT_TEST(test_sink_receives_runs),
        UNIT_TEST(test_width_saturates_and_overflow_is_reported),
        UNIT_TEST(test_differential_against_host),
    };
    return unit_main("lib_fmt", tests, (int)(sizeof tests / sizeof tests[0]));
}
