/*
 * keel/nic_ring.h - the single-producer/single-consumer descriptor rings of
 * the NIC protocol (abi/keel/nic.h), for both sides.
 *
 * Ordering: x86 keeps stores in order and loads in order, so a release
 * store of the index after the entry (and an acquire load before reading
 * entries) is all the protocol needs; the __atomic builtins say so to the
 * compiler.  The indices come from the other side and are not trusted: a
 * consumer never reads more than NIC_RING_SIZE entries past its tail, and
 * every descriptor is checked with nic_desc_ok before use.
 */
#ifndef KEEL_LIB_NIC_RING_H
#define KEEL_LIB_NIC_RING_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/nic.h>

/* Entries the producer may still add. */
static inline uint32_t nic_ring_space(const struct nic_ring *r)
{
    uint32_t used = r->head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    return used > NIC_RING_SIZE ? 0 : NIC_RING_SIZE - used;
}

/* Entries waiting for the consumer (0 when the producer's index is absurd). */
static inline uint32_t nic_ring_ready(const struct nic_ring *r)
{
    uint32_t n = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) - r->tail;
    return n > NIC_RING_SIZE ? 0 : n;
}

static inline bool nic_ring_push(struct nic_ring *r, struct nic_desc d)
{
    if (!nic_ring_space(r))
        return false;
    r->ring[r->head % NIC_RING_SIZE] = d;
    __atomic_store_n(&r->head, r->head + 1, __ATOMIC_RELEASE);
    return true;
}

static inline bool nic_ring_pop(struct nic_ring *r, struct nic_desc *d)
{
    if (!nic_ring_ready(r))
        return false;
    *d = r->ring[r->tail % NIC_RING_SIZE];
    __atomic_store_n(&r->tail, r->tail + 1, __ATOMIC_RELEASE);
    return true;
}

/* A descriptor names one whole buffer of the buffer area, and its length
 * fits in it (and, for frames, is a plausible Ethernet frame). */
static inline bool nic_desc_ok(struct nic_desc d, bool is_frame)
{
    if (d.offset < NIC_BUF_AREA_OFFSET || (d.offset - NIC_BUF_AREA_OFFSET) % NIC_BUF_SIZE != 0)
        return false;
    if ((d.offset - NIC_BUF_AREA_OFFSET) / NIC_BUF_SIZE >= NIC_BUF_COUNT)
        return false;
    if (is_frame)
        return d.len >= NIC_MIN_FRAME && d.len <= NIC_MAX_FRAME;
    return d.len <= NIC_BUF_SIZE;
}

/* Resets all four rings (netd, before NIC_START). */
static inline void nic_rings_reset(struct nic_shared *s)
{
    s->rx_free.head = s->rx_free.tail = 0;
    s->rx_used.head = s->rx_used.tail = 0;
    s->tx_send.head = s->tx_send.tail = 0;
    s->tx_done.head = s->tx_done.tail = 0;
}

#endif
