/*
 * keel/textbuf.h - a bounded text appender for messages built piece by
 * piece (parse errors, log lines, rule listings, configuration text), used
 * by the firewall engine and the configuration module alike.
 *
 * Header-only and libc-free, so the host tests and the guest use the same
 * code.  An appender never
 * writes past cap; it always keeps the buffer NUL-terminated (when cap > 0)
 * and counts in `len` the length the full text would have had, so
 * truncation happened iff len >= cap.
 */
#ifndef KEEL_LIB_TEXTBUF_H
#define KEEL_LIB_TEXTBUF_H

#include <stddef.h>
#include <stdint.h>

struct textbuf {
    char *s;    /* caller's buffer, or NULL when cap == 0 */
    size_t cap; /* its size in bytes */
    size_t len; /* length of the full text so far (may exceed cap - 1) */
};

static inline void tb_init(struct textbuf *b, char *s, size_t cap)
{
    b->s = s;
    b->cap = s ? cap : 0;
    b->len = 0;
    if (b->cap)
        s[0] = '\0';
}

static inline void tb_putn(struct textbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, b->len++)
        if (b->len + 1 < b->cap)
            b->s[b->len] = s[i];
    if (b->cap)
        b->s[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

static inline void tb_put(struct textbuf *b, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    tb_putn(b, s, n);
}

static inline void tb_u64(struct textbuf *b, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tb_putn(b, tmp + n, sizeof tmp - n);
}

/* A host-order IPv4 address as A.B.C.D. */
static inline void tb_ipv4(struct textbuf *b, uint32_t a)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        tb_u64(b, (a >> shift) & 0xffu);
        if (shift)
            tb_putn(b, ".", 1);
    }
}

#endif
