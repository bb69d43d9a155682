/*
 * conf_buf.h - a bounded text appender for the configuration code (error
 * messages, the canonical writer, the diff).  Internal to appliance/config/.
 *
 * An appender never writes past cap, keeps the buffer NUL-terminated when
 * cap > 0, and counts in `len` the length the whole text would have had,
 * so truncation happened iff len >= cap (snprintf's contract).  No libc.
 */
#ifndef KEEL_APPLIANCE_CONF_BUF_H
#define KEEL_APPLIANCE_CONF_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cbuf {
    char *s;    /* caller's buffer; NULL when cap == 0 */
    size_t cap; /* its size */
    size_t len; /* length of the whole text so far (may exceed cap - 1) */
};

static inline void cbuf_init(struct cbuf *b, char *s, size_t cap)
{
    b->s = s;
    b->cap = s ? cap : 0;
    b->len = 0;
    if (b->cap)
        s[0] = '\0';
}

static inline void cbuf_putn(struct cbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, b->len++)
        if (b->len + 1 < b->cap)
            b->s[b->len] = s[i];
    if (b->cap)
        b->s[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

static inline void cbuf_put(struct cbuf *b, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    cbuf_putn(b, s, n);
}

static inline void cbuf_u64(struct cbuf *b, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    cbuf_putn(b, tmp + n, sizeof tmp - n);
}

/* A host-order IPv4 address as A.B.C.D. */
static inline void cbuf_ipv4(struct cbuf *b, uint32_t a)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        cbuf_u64(b, (a >> shift) & 0xffu);
        if (shift)
            cbuf_putn(b, ".", 1);
    }
}

#endif
