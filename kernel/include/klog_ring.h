/*
 * klog_ring.h - the kernel log's ring of whole lines (klog_ring.c): pure
 * code, host-tested (tests/unit/test_klog_ring.c); klog.c owns the one the
 * kernel uses and decides when lines go there.
 *
 * Invariants: tail <= head <= tail + KLOG_RING_BYTES; bytes [tail, head)
 * wait, at buf[pos % KLOG_RING_BYTES]; a line enters whole or not at all;
 * `lost` counts the lines refused since the last note, and the next line
 * that enters is preceded by the note "[kernel log: N lines lost: the
 * console was busy]\n" (the note and the line enter together).
 */
#ifndef KEEL_KLOG_RING_H
#define KEEL_KLOG_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KLOG_RING_BYTES 16384u /* a power of two: 1.4 s of a 115200-baud line */
#define KLOG_NOTE_MAX   80u    /* the longest note */
_Static_assert((KLOG_RING_BYTES & (KLOG_RING_BYTES - 1)) == 0, "positions wrap by mask");

struct klog_ring {
    uint64_t head, tail;
    uint64_t lost; /* lines refused since the last note */
    char buf[KLOG_RING_BYTES];
};

static inline uint64_t klog_ring_used(const struct klog_ring *r) { return r->head - r->tail; }

/* Line S (N bytes, its newline included) with the note owed before it, if
 * both fit; else counts it lost.  Returns whether it entered. */
bool klog_ring_put_line(struct klog_ring *r, const char *s, size_t n);

/* The same, but the line enters only if the ring then holds at most LIMIT
 * bytes: klog.c keeps the rest of the ring for the lines that must not be
 * lost to a flood of ordinary ones. */
bool klog_ring_put_line_within(struct klog_ring *r, const char *s, size_t n, size_t limit);

/* Up to MAX waiting bytes, oldest first, into at most two pieces of the
 * buffer (P1 and N1, then P2 and N2 after a wrap); they stay waiting until
 * klog_ring_consume. */
void klog_ring_peek(const struct klog_ring *r, size_t max, const char **p1, size_t *n1, const char **p2, size_t *n2);

/* N bytes of what klog_ring_peek showed have been taken. */
void klog_ring_consume(struct klog_ring *r, size_t n);

/* The note for LOST lines into OUT (KLOG_NOTE_MAX bytes); returns its length. */
size_t klog_ring_note(uint64_t lost, char *out);

#endif
