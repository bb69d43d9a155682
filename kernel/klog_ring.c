/*
 * klog_ring.c - the kernel log's ring of whole lines (klog_ring.h says
 * what it keeps true).  No locking: the kernel calls it under its big lock.
 */
#include "klog_ring.h"

size_t klog_ring_note(uint64_t lost, char *out)
{
    static const char pre[] = "[kernel log: ", post[] = " lines lost: the console was busy]\n";
    char digits[24];
    size_t nd = 0, n = 0;
    do {
        digits[nd++] = (char)('0' + lost % 10);
        lost /= 10;
    } while (lost);
    for (const char *p = pre; *p; p++)
        out[n++] = *p;
    while (nd)
        out[n++] = digits[--nd];
    for (const char *p = post; *p; p++)
        out[n++] = *p;
    return n;
}
_Static_assert(sizeof "[kernel log: " - 1 + 20 + sizeof " lines lost: the console was busy]\n" - 1 <= KLOG_NOTE_MAX,
               "the longest note fits");

static void put(struct klog_ring *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->buf[(r->head + i) & (KLOG_RING_BYTES - 1)] = s[i];
    r->head += n;
}

bool klog_ring_put_line(struct klog_ring *r, const char *s, size_t n)
{
    return klog_ring_put_line_within(r, s, n, KLOG_RING_BYTES);
}

bool klog_ring_put_line_within(struct klog_ring *r, const char *s, size_t n, size_t limit)
{
    char note[KLOG_NOTE_MAX];
    size_t nn = r->lost ? klog_ring_note(r->lost, note) : 0;
    if (limit > KLOG_RING_BYTES)
        limit = KLOG_RING_BYTES;
    if (klog_ring_used(r) > limit || limit - klog_ring_used(r) < nn + n) {
        r->lost++;
        return false;
    }
    put(r, note, nn);
    r->lost = 0;
    put(r, s, n);
    return true;
}

void klog_ring_peek(const struct klog_ring *r, size_t max, const char **p1, size_t *n1, const char **p2, size_t *n2)
{
    uint64_t want = klog_ring_used(r) < max ? klog_ring_used(r) : max;
    uint64_t off = r->tail & (KLOG_RING_BYTES - 1);
    uint64_t first = want < KLOG_RING_BYTES - off ? want : KLOG_RING_BYTES - off;
    *p1 = &r->buf[off];
    *n1 = (size_t)first;
    *p2 = r->buf;
    *n2 = (size_t)(want - first);
}

void klog_ring_consume(struct klog_ring *r, size_t n)
{
    if (n > klog_ring_used(r))
        n = (size_t)klog_ring_used(r);
    r->tail += n;
}
