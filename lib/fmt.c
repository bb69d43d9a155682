/*
 * fmt.c - printf-style formatting for user space (contract in keel/fmt.h).
 *
 * Pure code: no globals besides two read-only padding strings, no
 * allocation, no floating point.  Tested on the host against the host's own
 * snprintf by tests/unit/test_lib_fmt.c.
 *
 * One conversion is handled in three steps: parse_spec() reads flags, width,
 * precision and length into a struct fmt_spec (taking '*' arguments), the
 * conversion character picks a formatter, and the formatter emits
 *
 *     [spaces] [sign] [0x prefix] [zeros] [digits or text] [spaces]
 *
 * where at most one of the two space runs is non-empty.  Numbers are
 * converted into a 24-byte stack buffer (a 64-bit value has at most 22 octal
 * digits); zeros from a precision or the '0' flag are emitted as a run, never
 * stored, so a huge precision costs time but no memory.
 *
 * The va_list is copied once in fmt_format() and passed by pointer to the
 * helpers: on x86-64 va_list is an array type, and a va_list parameter
 * cannot portably be passed on by address.
 */
#include <keel/fmt.h>

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

enum fmt_length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE, LEN_INTMAX, LEN_PTRDIFF };

struct fmt_spec {
    bool left;     /* '-': pad on the right */
    bool zero;     /* '0': pad numbers with zeros (unless left or a precision) */
    bool plus;     /* '+': signed conversions always show a sign */
    bool space;    /* ' ': signed conversions show ' ' for non-negative (plus wins) */
    bool alt;      /* '#': 0x prefix for %x/%X, leading 0 for %o */
    int width;     /* minimum field width, >= 0 */
    int precision; /* -1 = none; numbers: minimum digits; %s: maximum bytes */
    enum fmt_length length;
};

struct fmt_out {
    fmt_sink sink;
    void *ctx;
    size_t count; /* bytes handed to sink so far */
};

#define PAD_CHUNK 64
static const char pad_spaces[] = "                                                                ";
static const char pad_zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";
_Static_assert(sizeof pad_spaces == PAD_CHUNK + 1 && sizeof pad_zeros == PAD_CHUNK + 1, "padding strings");

static void emit(struct fmt_out *o, const char *s, size_t len)
{
    if (!len)
        return;
    o->sink(o->ctx, s, len);
    o->count += len;
}

/* Emits n copies of '0' or ' ' in chunks. */
static void emit_pad(struct fmt_out *o, bool zeros, size_t n)
{
    const char *chunk = zeros ? pad_zeros : pad_spaces;
    while (n) {
        size_t k = n < PAD_CHUNK ? n : PAD_CHUNK;
        emit(o, chunk, k);
        n -= k;
    }
}

/* ---------------------------------------------------------- parsing ---- */

/* Reads decimal digits at *pp, saturating at INT_MAX. */
static int parse_decimal(const char **pp)
{
    const char *p = *pp;
    int v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        v = (v > (INT_MAX - d) / 10) ? INT_MAX : v * 10 + d;
    }
    *pp = p;
    return v;
}

static const char *parse_flags(const char *p, struct fmt_spec *s)
{
    for (;; p++) {
        switch (*p) {
        case '-': s->left = true; break;
        case '0': s->zero = true; break;
        case '+': s->plus = true; break;
        case ' ': s->space = true; break;
        case '#': s->alt = true; break;
        default: return p;
        }
    }
}

static const char *parse_width(const char *p, struct fmt_spec *s, va_list *ap)
{
    if (*p != '*') {
        s->width = parse_decimal(&p);
        return p;
    }
    int w = va_arg(*ap, int);
    if (w < 0) {
        s->left = true;
        w = (w == INT_MIN) ? INT_MAX : -w;
    }
    s->width = w;
    return p + 1;
}

static const char *parse_precision(const char *p, struct fmt_spec *s, va_list *ap)
{
    if (*p != '.')
        return p;
    p++;
    if (*p == '*') {
        int v = va_arg(*ap, int);
        s->precision = v < 0 ? -1 : v;
        return p + 1;
    }
    s->precision = parse_decimal(&p); /* "%.d" means precision 0 */
    return p;
}

/* A modifier that may be doubled ("h"/"hh", "l"/"ll") at P: ONCE or TWICE
 * into S, and what follows it. */
static const char *single_or_double(const char *p, struct fmt_spec *s, enum fmt_length once, enum fmt_length twice)
{
    if (p[1] == p[0]) {
        s->length = twice;
        return p + 2;
    }
    s->length = once;
    return p + 1;
}

static const char *parse_length(const char *p, struct fmt_spec *s)
{
    switch (*p) {
    case 'h': return single_or_double(p, s, LEN_SHORT, LEN_CHAR);
    case 'l': return single_or_double(p, s, LEN_LONG, LEN_LLONG);
    case 'z': s->length = LEN_SIZE; return p + 1;
    case 'j': s->length = LEN_INTMAX; return p + 1;
    case 't': s->length = LEN_PTRDIFF; return p + 1;
    default: return p;
    }
}

/* Parses everything between '%' and the conversion; returns the conversion's address. */
static const char *parse_spec(const char *p, struct fmt_spec *s, va_list *ap)
{
    *s = (struct fmt_spec){ .precision = -1, .length = LEN_INT };
    p = parse_flags(p, s);
    p = parse_width(p, s, ap);
    p = parse_precision(p, s, ap);
    return parse_length(p, s);
}

/* ------------------------------------------------------- arguments ---- */

static int64_t take_signed(const struct fmt_spec *s, va_list *ap)
{
    switch (s->length) {
    case LEN_CHAR: return (signed char)va_arg(*ap, int);
    case LEN_SHORT: return (short)va_arg(*ap, int);
    case LEN_LONG: return va_arg(*ap, long);
    case LEN_LLONG: return va_arg(*ap, long long);
    case LEN_SIZE: return (int64_t)va_arg(*ap, size_t);
    case LEN_INTMAX: return va_arg(*ap, intmax_t);
    case LEN_PTRDIFF: return va_arg(*ap, ptrdiff_t);
    default: return va_arg(*ap, int);
    }
}

static uint64_t take_unsigned(const struct fmt_spec *s, va_list *ap)
{
    switch (s->length) {
    case LEN_CHAR: return (unsigned char)va_arg(*ap, unsigned int);
    case LEN_SHORT: return (unsigned short)va_arg(*ap, unsigned int);
    case LEN_LONG: return va_arg(*ap, unsigned long);
    case LEN_LLONG: return va_arg(*ap, unsigned long long);
    case LEN_SIZE: return va_arg(*ap, size_t);
    case LEN_INTMAX: return va_arg(*ap, uintmax_t);
    case LEN_PTRDIFF: return (uint64_t)va_arg(*ap, ptrdiff_t);
    default: return va_arg(*ap, unsigned int);
    }
}

/* ------------------------------------------------------ formatters ---- */

/* Text with width: used by %s and %c. */
static void format_text(struct fmt_out *o, const struct fmt_spec *s, const char *text, size_t len)
{
    size_t pad = (size_t)s->width > len ? (size_t)s->width - len : 0;
    if (!s->left)
        emit_pad(o, false, pad);
    emit(o, text, len);
    if (s->left)
        emit_pad(o, false, pad);
}

static void format_string(struct fmt_out *o, const struct fmt_spec *s, const char *str)
{
    if (!str)
        str = "(null)";
    size_t len = 0;
    while (str[len] && (s->precision < 0 || len < (size_t)s->precision))
        len++;
    format_text(o, s, str, len);
}

/*
 * One integer conversion.  conv is d, i, u, o, x, X or p; magnitude and
 * negative together give the value.
 */
static void format_integer(struct fmt_out *o, const struct fmt_spec *s, char conv, uint64_t magnitude, bool negative)
{
    unsigned base = (conv == 'o') ? 8 : (conv == 'x' || conv == 'X' || conv == 'p') ? 16 : 10;
    const char *digit_set = (conv == 'X') ? "0123456789ABCDEF" : "0123456789abcdef";
    char digits[24];
    size_t n = 0;
    if (magnitude != 0 || s->precision != 0) {
        uint64_t v = magnitude;
        do {
            digits[sizeof digits - 1 - n++] = digit_set[v % base];
            v /= base;
        } while (v);
    }

    bool is_signed = (conv == 'd' || conv == 'i');
    char sign = negative ? '-' : (is_signed && s->plus) ? '+' : (is_signed && s->space) ? ' ' : 0;
    const char *prefix = "";
    if (conv == 'p' || (s->alt && magnitude != 0 && (conv == 'x' || conv == 'X')))
        prefix = (conv == 'X') ? "0X" : "0x";
    size_t prefix_len = prefix[0] ? 2 : 0;

    size_t zeros = (s->precision > 0 && (size_t)s->precision > n) ? (size_t)s->precision - n : 0;
    if (conv == 'o' && s->alt && zeros == 0 && (n == 0 || digits[sizeof digits - n] != '0'))
        zeros = 1;
    size_t body = (sign ? 1 : 0) + prefix_len + zeros + n;
    size_t pad = (size_t)s->width > body ? (size_t)s->width - body : 0;
    if (s->zero && !s->left && s->precision < 0) {
        zeros += pad;
        pad = 0;
    }

    if (!s->left)
        emit_pad(o, false, pad);
    emit(o, &sign, sign ? 1 : 0);
    emit(o, prefix, prefix_len);
    emit_pad(o, true, zeros);
    emit(o, digits + sizeof digits - n, n);
    if (s->left)
        emit_pad(o, false, pad);
}

/*
 * Handles conversion character conv; returns false when it is not one we
 * know.  Length modifiers belong to integers only: "%ls" would be a wide
 * string, which we do not support, so it is refused rather than misread.
 */
static bool format_one(struct fmt_out *o, const struct fmt_spec *s, char conv, va_list *ap)
{
    if (s->length != LEN_INT && (conv == 'p' || conv == 's' || conv == 'c' || conv == '%'))
        return false;
    switch (conv) {
    case 'd':
    case 'i': {
        int64_t v = take_signed(s, ap);
        uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        format_integer(o, s, conv, mag, v < 0);
        return true;
    }
    case 'u':
    case 'o':
    case 'x':
    case 'X': format_integer(o, s, conv, take_unsigned(s, ap), false); return true;
    case 'p': format_integer(o, s, 'p', (uintptr_t)va_arg(*ap, void *), false); return true;
    case 's': format_string(o, s, va_arg(*ap, const char *)); return true;
    case 'c': {
        char c = (char)va_arg(*ap, int);
        format_text(o, s, &c, 1);
        return true;
    }
    case '%': emit(o, "%", 1); return true;
    default: return false;
    }
}

size_t fmt_format(fmt_sink sink, void *ctx, const char *fmt, va_list ap)
{
    struct fmt_out o = { .sink = sink, .ctx = ctx, .count = 0 };
    va_list aq;
    va_copy(aq, ap);
    const char *p = fmt;
    while (*p) {
        const char *start = p;
        while (*p && *p != '%')
            p++;
        emit(&o, start, (size_t)(p - start));
        if (!*p)
            break;

        const char *percent = p;
        struct fmt_spec spec;
        const char *conv = parse_spec(p + 1, &spec, &aq);
        if (*conv && format_one(&o, &spec, *conv, &aq)) {
            p = conv + 1;
            continue;
        }
        /* Unknown conversion, or the format ended inside the spec: print it as is. */
        p = *conv ? conv + 1 : conv;
        emit(&o, percent, (size_t)(p - percent));
    }
    va_end(aq);
    return o.count;
}

/* ------------------------------------------------------- snprintf ---- */

struct buf_sink {
    char *buf;
    size_t cap;  /* n from the caller; 0 means write nothing */
    size_t used; /* bytes stored, always <= cap - 1 when cap > 0 */
};

static void buf_put(void *ctx, const char *s, size_t len)
{
    struct buf_sink *b = ctx;
    if (b->cap == 0 || b->used >= b->cap - 1)
        return;
    size_t room = b->cap - 1 - b->used;
    size_t k = len < room ? len : room;
    for (size_t i = 0; i < k; i++)
        b->buf[b->used + i] = s[i];
    b->used += k;
}

int lib_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct buf_sink b = { .buf = buf, .cap = n, .used = 0 };
    size_t total = fmt_format(buf_put, &b, fmt, ap);
    if (n)
        buf[b.used] = '\0';
    return total > INT_MAX ? FMT_E_OVERFLOW : (int)total;
}

int lib_snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = lib_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
