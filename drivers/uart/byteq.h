/*
 * byteq.h - a fixed-size byte queue (a ring) for the UART driver's
 * transmit and receive buffers.  Single thread: the driver's server loop
 * is the only user, so there are no barriers.  CAP is a power of two;
 * head and tail run freely and wrap (unsigned arithmetic), so
 * head - tail is the fill level, always <= CAP.
 */
#ifndef KEEL_UART_BYTEQ_H
#define KEEL_UART_BYTEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BYTEQ_CAP 4096u
_Static_assert((BYTEQ_CAP & (BYTEQ_CAP - 1)) == 0, "capacity is a power of two");

struct byteq {
    uint32_t head; /* next byte written at head % CAP */
    uint32_t tail; /* next byte read at tail % CAP; invariant: head - tail <= CAP */
    uint8_t buf[BYTEQ_CAP];
};

static inline uint32_t byteq_used(const struct byteq *q) { return q->head - q->tail; }
static inline uint32_t byteq_free(const struct byteq *q) { return BYTEQ_CAP - byteq_used(q); }
static inline bool byteq_empty(const struct byteq *q) { return q->head == q->tail; }

static inline bool byteq_put(struct byteq *q, uint8_t b)
{
    if (!byteq_free(q))
        return false;
    q->buf[q->head++ % BYTEQ_CAP] = b;
    return true;
}

static inline bool byteq_get(struct byteq *q, uint8_t *b)
{
    if (byteq_empty(q))
        return false;
    *b = q->buf[q->tail++ % BYTEQ_CAP];
    return true;
}

#endif
