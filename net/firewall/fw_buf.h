/*
 * fw_buf.h - a bounded text appender for the firewall's messages (parse
 * errors, log lines, rule listings).  Internal to net/firewall/.
 *
 * The firewall formats its own text so that it needs nothing from a libc
 * (the host tests and the guest use the same code).  An appender never
 * writes past cap; it always keeps the buffer NUL-terminated (when cap > 0)
 * and counts in `len` the length the full text would have had, so
 * truncation happened iff len >= cap.
 */
#ifndef KEEL_FW_BUF_H
#define KEEL_FW_BUF_H

#include <stddef.h>
#include <stdint.h>

struct fw_buf {
    char *s;    /* caller's buffer, or NULL when cap == 0 */
    size_t cap; /* its size in bytes */
    size_t len; /* length of the full text so far (may exceed cap - 1) */
};

static inline void fw_buf_init(struct fw_buf *b, char *s, size_t cap)
{
    b->s = s;
    b->cap = s ? cap : 0;
    b->len = 0;
    if (b->cap)
        s[0] = '\0';
}

static inline void fw_buf_putn(struct fw_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, b->len++)
        if (b->len + 1 < b->cap)
            b->s[b->len] = s[i];
    if (b->cap)
        b->s[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

static inline void fw_buf_put(struct fw_buf *b, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    fw_buf_putn(b, s, n);
}

static inline void fw_buf_u64(struct fw_buf *b, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    fw_buf_putn(b, tmp + n, sizeof tmp - n);
}

static inline void fw_buf_ipv4(struct fw_buf *b, uint32_t a)
{
    for (int shift = 24; shift >= 0; shift -= 8) {
        fw_buf_u64(b, (a >> shift) & 0xffu);
        if (shift)
            fw_buf_putn(b, ".", 1);
    }
}

#endif
