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

/*
 * Pushes the N pieces of one frame and publishes them with one store of
 * head, so the consumer never sees part of a frame.  False (nothing
 * pushed) when the ring has fewer than N free entries.
 */
static inline bool nic_ring_push_frame(struct nic_ring *r, const struct nic_desc *d, uint32_t n)
{
    if (nic_ring_space(r) < n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        r->ring[(r->head + i) % NIC_RING_SIZE] = d[i];
    __atomic_store_n(&r->head, r->head + n, __ATOMIC_RELEASE);
    return true;
}

/*
 * Pops one whole frame, at most MAX pieces, into D.  Returns its pieces;
 * 0 when the ring is empty; or -K when the producer broke the protocol
 * (its last published piece has NIC_DF_MORE, or the frame runs past MAX):
 * the K pieces are popped into D all the same, so the consumer can give
 * their buffers back and count one bad frame.  Pieces are not checked here
 * (nic_piece_ok).
 */
static inline int nic_ring_pop_frame(struct nic_ring *r, struct nic_desc *d, uint32_t max)
{
    uint32_t ready = nic_ring_ready(r), n = 0;
    bool whole = false;
    while (n < ready && n < max) {
        d[n] = r->ring[(r->tail + n) % NIC_RING_SIZE];
        if (!(d[n++].flags & NIC_DF_MORE)) {
            whole = true;
            break;
        }
    }
    __atomic_store_n(&r->tail, r->tail + n, __ATOMIC_RELEASE);
    return whole ? (int)n : -(int)n;
}

/* D names one whole buffer of the buffer area. */
static inline bool nic_desc_buffer_ok(struct nic_desc d)
{
    if (d.offset < NIC_BUF_AREA_OFFSET || (d.offset - NIC_BUF_AREA_OFFSET) % NIC_BUF_SIZE != 0)
        return false;
    return (d.offset - NIC_BUF_AREA_OFFSET) / NIC_BUF_SIZE < NIC_BUF_COUNT;
}

/* A descriptor names one whole buffer of the buffer area, and its length
 * fits in it; for frames, it is a whole plain frame (one buffer, from its
 * first byte, no offload flags: what a client that took no NIC_FEAT_* and
 * a driver without offloads exchange) of a plausible Ethernet length. */
static inline bool nic_desc_ok(struct nic_desc d, bool is_frame)
{
    if (!nic_desc_buffer_ok(d))
        return false;
    if (is_frame)
        return d.flags == 0 && d.start == 0 && d.len >= NIC_MIN_FRAME && d.len <= NIC_MAX_FRAME;
    return d.len <= NIC_BUF_SIZE;
}

/* One piece of a frame that may span buffers: a whole buffer, at least one
 * byte, and start + len inside the buffer.  No other flag than NIC_DF_*. */
static inline bool nic_piece_ok(struct nic_desc d)
{
    return nic_desc_buffer_ok(d) && d.len >= 1 && (uint32_t)d.start + d.len <= NIC_BUF_SIZE &&
           (d.flags & ~(NIC_DF_MORE | NIC_DF_OFFLOAD)) == 0;
}

/* A whole frame of TOTAL bytes with the first piece's FLAGS: plain frames
 * are NIC_MIN_FRAME..NIC_MAX_FRAME, GSO frames up to NIC_MAX_GSO_FRAME. */
static inline bool nic_frame_len_ok(uint32_t total, uint16_t flags)
{
    uint32_t max = (flags & NIC_DF_GSO) ? NIC_MAX_GSO_FRAME : NIC_MAX_FRAME;
    return total >= NIC_MIN_FRAME && total <= max;
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
