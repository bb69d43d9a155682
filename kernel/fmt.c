/*
 * fmt.c - printf-style formatting for the kernel (see fmt.h for the contract).
 *
 * Pure code: no hardware, no globals.  It is built for the host too and tested
 * by tests/unit/test_fmt.c.  Numbers are converted into a small stack buffer
 * (a 64-bit value needs at most 22 octal digits) and then padded.
 */
#include "fmt.h"

#include <stdbool.h>
#include <stdint.h>

struct fmt_spec {
    bool left;     /* '-' : pad on the right */
    bool zero;     /* '0' : pad numbers with zeros */
    int width;     /* minimum field width */
    int precision; /* %s: maximum characters; -1 = none */
    int length;    /* 0 = int, 1 = long, 2 = long long, -1 = short, -2 = char, 3 = size_t */
};

struct fmt_out {
    fmt_sink sink;
    void *ctx;
    size_t count;
};

static void emit(struct fmt_out *o, char c)
{
    o->sink(o->ctx, c);
    o->count++;
}

static void emit_padding(struct fmt_out *o, char c, int n)
{
    while (n-- > 0)
        emit(o, c);
}

static void emit_string(struct fmt_out *o, const struct fmt_spec *s, const char *str)
{
    if (!str)
        str = "(null)";
    int len = 0;
    while (str[len] && (s->precision < 0 || len < s->precision))
        len++;
    if (!s->left)
        emit_padding(o, ' ', s->width - len);
    for (int i = 0; i < len; i++)
        emit(o, str[i]);
    if (s->left)
        emit_padding(o, ' ', s->width - len);
}

static void emit_number(struct fmt_out *o, const struct fmt_spec *s, uint64_t v, bool negative, unsigned base,
                        bool upper, const char *prefix)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char buf[24];
    int n = 0;
    do {
        buf[n++] = digits[v % base];
        v /= base;
    } while (v);

    int prefix_len = 0;
    while (prefix[prefix_len])
        prefix_len++;
    int body = n + prefix_len + (negative ? 1 : 0);

    if (!s->left && !s->zero)
        emit_padding(o, ' ', s->width - body);
    if (negative)
        emit(o, '-');
    for (int i = 0; i < prefix_len; i++)
        emit(o, prefix[i]);
    if (!s->left && s->zero)
        emit_padding(o, '0', s->width - body);
    while (n)
        emit(o, buf[--n]);
    if (s->left)
        emit_padding(o, ' ', s->width - body);
}

static uint64_t take_unsigned(const struct fmt_spec *s, va_list *ap)
{
    switch (s->length) {
    case -2: return (unsigned char)va_arg(*ap, unsigned int);
    case -1: return (unsigned short)va_arg(*ap, unsigned int);
    case 0: return va_arg(*ap, unsigned int);
    case 1: return va_arg(*ap, unsigned long);
    case 3: return va_arg(*ap, size_t);
    default: return va_arg(*ap, unsigned long long);
    }
}

static int64_t take_signed(const struct fmt_spec *s, va_list *ap)
{
    switch (s->length) {
    case -2: return (signed char)va_arg(*ap, int);
    case -1: return (short)va_arg(*ap, int);
    case 0: return va_arg(*ap, int);
    case 1: return va_arg(*ap, long);
    case 3: return (int64_t)va_arg(*ap, size_t);
    default: return va_arg(*ap, long long);
    }
}

/* Parses flags, width, precision and length at *pp; leaves *pp on the conversion. */
static void parse_spec(const char **pp, struct fmt_spec *s, va_list *ap)
{
    const char *p = *pp;
    *s = (struct fmt_spec){ .precision = -1 };
    for (;; p++) {
        if (*p == '-')
            s->left = true;
        else if (*p == '0')
            s->zero = true;
        else
            break;
    }
    if (*p == '*') {
        s->width = va_arg(*ap, int);
        if (s->width < 0) {
            s->left = true;
            s->width = -s->width;
        }
        p++;
    }
    while (*p >= '0' && *p <= '9')
        s->width = s->width * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        s->precision = 0;
        if (*p == '*') {
            s->precision = va_arg(*ap, int);
            p++;
        }
        while (*p >= '0' && *p <= '9')
            s->precision = s->precision * 10 + (*p++ - '0');
    }
    if (*p == 'h') {
        s->length = -1;
        if (*++p == 'h') {
            s->length = -2;
            p++;
        }
    } else if (*p == 'l') {
        s->length = 1;
        if (*++p == 'l') {
            s->length = 2;
            p++;
        }
    } else if (*p == 'z') {
        s->length = 3;
        p++;
    }
    *pp = p;
}

size_t fmt_format(fmt_sink sink, void *ctx, const char *fmt, va_list ap_in)
{
    struct fmt_out o = { sink, ctx, 0 };
    va_list ap;
    va_copy(ap, ap_in);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            emit(&o, *p);
            continue;
        }
        const char *start = p++;
        struct fmt_spec s;
        parse_spec(&p, &s, &ap);
        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v = take_signed(&s, &ap);
            emit_number(&o, &s, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0, 10, false, "");
            break;
        }
        case 'u': emit_number(&o, &s, take_unsigned(&s, &ap), false, 10, false, ""); break;
        case 'x': emit_number(&o, &s, take_unsigned(&s, &ap), false, 16, false, ""); break;
        case 'X': emit_number(&o, &s, take_unsigned(&s, &ap), false, 16, true, ""); break;
        case 'o': emit_number(&o, &s, take_unsigned(&s, &ap), false, 8, false, ""); break;
        case 'p':
            s.length = 1;
            emit_number(&o, &s, (uint64_t)(uintptr_t)va_arg(ap, void *), false, 16, false, "0x");
            break;
        case 's': emit_string(&o, &s, va_arg(ap, const char *)); break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            if (!s.left)
                emit_padding(&o, ' ', s.width - 1);
            emit(&o, c);
            if (s.left)
                emit_padding(&o, ' ', s.width - 1);
            break;
        }
        case '%': emit(&o, '%'); break;
        default:
            /* Unknown or truncated conversion: print it as written. */
            for (const char *q = start; q <= p && *q; q++)
                emit(&o, *q);
            if (!*p)
                p--;
            break;
        }
    }
    va_end(ap);
    return o.count;
}

struct buf_ctx {
    char *buf;
    size_t cap; /* bytes available for characters (excludes the NUL) */
    size_t used;
};

static void buf_sink(void *ctx, char c)
{
    struct buf_ctx *b = ctx;
    if (b->used < b->cap)
        b->buf[b->used++] = c;
}

size_t fmt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct buf_ctx b = { buf, n ? n - 1 : 0, 0 };
    size_t total = fmt_format(buf_sink, &b, fmt, ap);
    if (n)
        buf[b.used] = '\0';
    return total;
}

size_t fmt_snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t r = fmt_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
