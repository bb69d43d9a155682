/*
 * queue.c - the e1000 data path (see queue.h for the design: ownership,
 * reservations, trust).  Pure: memory and indices only.
 *
 * Ordering, on x86 with the shared region and the descriptor rings mapped
 * write-back and the registers uncached:
 *  - shared rings: the __atomic acquire/release pairs (as in
 *    lib/include/keel/nic_ring.h) keep entry and index accesses in order;
 *  - device rings: stores are not reordered with other stores (including
 *    the later uncached store to RDT/TDT), and loads not with other loads,
 *    so the descriptor accesses only need the compiler to keep program
 *    order, which `volatile` gives.  The device sets DD last (SDM 3.2.3.1),
 *    so length and errors read after a set DD are the final values.
 */
#include "queue.h"

#include <keel/nic_ring.h>

static inline uint8_t *buf_ptr(const struct eq *q, uint32_t offset) { return (uint8_t *)q->sh + offset; }

enum eq_rx_verdict eq_rx_classify(uint8_t status, uint8_t errors, uint16_t length, bool in_fragment)
{
    if (!(status & E1000_RXD_STAT_DD))
        return EQ_RX_PENDING;
    /* A frame longer than one buffer cannot happen with LPE off and 2 KiB
     * buffers; if the device does it anyway, every piece is dropped. */
    if (!(status & E1000_RXD_STAT_EOP) || in_fragment)
        return EQ_RX_FRAGMENT;
    if (errors & E1000_RXD_ERR_FRAME)
        return EQ_RX_ERROR;
    /* The device never writes more than RCTL.BSIZE (= NIC_BUF_SIZE), but
     * the length is its claim: check it before netd reads that many bytes.
     * A VLAN-tagged 1518-byte frame is legal on the wire but over the MTU
     * the protocol carries, so it is dropped here too. */
    if (length < NIC_MIN_FRAME || length > NIC_MAX_FRAME)
        return EQ_RX_BAD_LENGTH;
    return EQ_RX_OK;
}

uint32_t eq_ring_ready(const struct nic_ring *r, uint32_t tail)
{
    uint32_t n = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) - tail;
    return n > NIC_RING_SIZE ? 0 : n;
}

uint32_t eq_ring_space(const struct nic_ring *r, uint32_t head)
{
    uint32_t used = head - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    return used > NIC_RING_SIZE ? 0 : NIC_RING_SIZE - used;
}

bool eq_ring_pop(struct nic_ring *r, uint32_t *tail, struct nic_desc *d)
{
    if (!eq_ring_ready(r, *tail))
        return false;
    /* Read each field exactly once: netd may change the entry under us,
     * and the copy is what gets checked and used. */
    const volatile struct nic_desc *e = &r->ring[*tail % NIC_RING_SIZE];
    d->offset = e->offset;
    d->len = e->len;
    d->flags = e->flags;
    d->start = e->start;
    d->gso_size = e->gso_size;
    d->csum_start = e->csum_start;
    d->csum_offset = e->csum_offset;
    *tail += 1;
    __atomic_store_n(&r->tail, *tail, __ATOMIC_RELEASE);
    return true;
}

bool eq_ring_push(struct nic_ring *r, uint32_t *head, struct nic_desc d)
{
    if (!eq_ring_space(r, *head))
        return false;
    r->ring[*head % NIC_RING_SIZE] = d;
    *head += 1;
    __atomic_store_n(&r->head, *head, __ATOMIC_RELEASE);
    return true;
}

void eq_init(struct eq *q, void *rx_ring, void *tx_ring, struct nic_shared *sh, uint64_t shm_phys)
{
    q->rxd = rx_ring;
    q->txd = tx_ring;
    q->sh = sh;
    q->shm_phys = shm_phys;
    q->rx_post = q->rx_clean = q->tx_post = q->tx_clean = 0;
    q->rx_free_tail = q->rx_used_head = q->tx_send_tail = q->tx_done_head = 0;
    q->rx_in_fragment = false;
    for (uint32_t i = 0; i < EQ_RING_N; i++) {
        q->rxd[i].buffer_addr = 0; /* a null buffer: the device skips it (SDM 3.2.3) */
        q->rxd[i].length = 0;
        q->rxd[i].status = 0;
        q->rxd[i].errors = 0;
        q->txd[i].buffer_addr = 0;
        q->txd[i].length = 0;
        q->txd[i].cmd = 0;
        q->txd[i].status = 0;
        q->rx_off[i] = 0;
        q->tx_buf[i] = (struct nic_desc){ 0 };
    }
    /* Our side of each shared ring starts at zero, like netd's. */
    __atomic_store_n(&sh->rx_free.tail, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&sh->tx_send.tail, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&sh->rx_used.head, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&sh->tx_done.head, 0, __ATOMIC_RELEASE);
}

/* Gives the device one checked buffer.  Caller: eq_rx_held(q) < EQ_RING_N - 1. */
static void rx_post(struct eq *q, uint32_t offset)
{
    uint32_t slot = q->rx_post % EQ_RING_N;
    q->rx_off[slot] = offset;
    q->rxd[slot].buffer_addr = q->shm_phys + offset;
    q->rxd[slot].length = 0;
    q->rxd[slot].errors = 0;
    q->rxd[slot].status = 0; /* DD clear: the device owns it once RDT passes it */
    q->rx_post++;
}

uint32_t eq_rx_collect(struct eq *q)
{
    struct nic_stats *st = &q->sh->stats;
    uint32_t delivered = 0;
    while (q->rx_clean != q->rx_post) {
        uint32_t slot = q->rx_clean % EQ_RING_N;
        uint8_t status = q->rxd[slot].status;
        if (!(status & E1000_RXD_STAT_DD))
            break;
        uint16_t length = q->rxd[slot].length;
        uint8_t errors = q->rxd[slot].errors;
        uint32_t offset = q->rx_off[slot];
        enum eq_rx_verdict v = eq_rx_classify(status, errors, length, q->rx_in_fragment);
        q->rx_in_fragment = (v == EQ_RX_FRAGMENT) && !(status & E1000_RXD_STAT_EOP);
        q->rx_clean++;
        /* The place in rx_used was reserved when the buffer was taken; it
         * is missing only if netd moved its tail backwards. */
        if (v == EQ_RX_OK &&
            eq_ring_push(&q->sh->rx_used, &q->rx_used_head, (struct nic_desc){ .offset = offset, .len = length })) {
            st->rx_frames++;
            st->rx_bytes += length;
            delivered++;
            continue;
        }
        /* Dropped: the buffer goes straight back to the device (the count
         * of buffers held, and so its reservation, is unchanged). */
        st->rx_dropped++;
        rx_post(q, offset);
    }
    return delivered;
}

uint32_t eq_rx_refill(struct eq *q)
{
    struct nic_stats *st = &q->sh->stats;
    uint32_t posted = 0;
    while (eq_rx_held(q) < EQ_RING_N - 1 && eq_rx_held(q) < eq_ring_space(&q->sh->rx_used, q->rx_used_head)) {
        struct nic_desc d;
        if (!eq_ring_pop(&q->sh->rx_free, &q->rx_free_tail, &d))
            break;
        /* rx_free entries carry len 0 (at most NIC_BUF_SIZE is tolerated);
         * the offset must name a whole buffer, since the device will write
         * up to NIC_BUF_SIZE bytes there. */
        if (!nic_desc_ok(d, false)) {
            st->rx_bad_desc++;
            continue;
        }
        rx_post(q, d.offset);
        posted++;
    }
    return posted;
}

uint32_t eq_tx_reclaim(struct eq *q)
{
    struct nic_stats *st = &q->sh->stats;
    uint32_t returned = 0;
    while (q->tx_clean != q->tx_post) {
        uint32_t slot = q->tx_clean % EQ_RING_N;
        uint8_t status = q->txd[slot].status;
        if (!(status & E1000_TXD_STAT_DD))
            break;
        struct nic_desc d = q->tx_buf[slot];
        q->tx_clean++;
        if (d.len == 0)
            continue; /* the driver's own (eq_tx_stray): netd never posts an empty buffer */
        if (status & E1000_TXD_STAT_FAILED) {
            st->tx_dropped++;
        } else {
            st->tx_frames++;
            st->tx_bytes += d.len;
        }
        /* Reserved when taken; lost only if netd moved its tail backwards. */
        if (eq_ring_push(&q->sh->tx_done, &q->tx_done_head, d))
            returned++;
    }
    return returned;
}

bool eq_tx_stray(struct eq *q, uint64_t addr, uint16_t len)
{
    if (eq_tx_held(q) >= EQ_RING_N - 1)
        return false;
    uint32_t slot = q->tx_post % EQ_RING_N;
    q->txd[slot].buffer_addr = addr;
    q->txd[slot].length = len;
    q->txd[slot].cso = 0;
    q->txd[slot].css = 0;
    q->txd[slot].special = 0;
    q->txd[slot].status = 0;
    q->txd[slot].cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
    q->tx_buf[slot] = (struct nic_desc){ 0 };
    q->tx_post++;
    return true;
}

uint32_t eq_tx_fill(struct eq *q, uint32_t *returned)
{
    struct nic_stats *st = &q->sh->stats;
    uint32_t posted = 0, back = 0;
    while (eq_tx_held(q) < EQ_RING_N - 1 && eq_tx_held(q) < eq_ring_space(&q->sh->tx_done, q->tx_done_head)) {
        struct nic_desc d;
        if (!eq_ring_pop(&q->sh->tx_send, &q->tx_send_tail, &d))
            break;
        if (!nic_desc_ok(d, true)) {
            st->tx_bad_desc++;
            /* A real buffer with a bad length is still netd's buffer: hand
             * it back so it is not lost.  A bad offset names no buffer. */
            if (nic_desc_ok(d, false) && eq_ring_push(&q->sh->tx_done, &q->tx_done_head, d))
                back++;
            continue;
        }
        uint16_t wire_len = d.len;
        if (wire_len < EQ_MIN_TX_FRAME) {
            /* Pad in place with zeros: the device's own padding (TCTL.PSP)
             * needs at least 17 bytes, and stale buffer bytes must never
             * reach the wire.  The buffer is ours until tx_done. */
            uint8_t *p = buf_ptr(q, d.offset);
            for (uint32_t i = wire_len; i < EQ_MIN_TX_FRAME; i++)
                p[i] = 0;
            wire_len = EQ_MIN_TX_FRAME;
        }
        uint32_t slot = q->tx_post % EQ_RING_N;
        q->tx_buf[slot] = d;
        q->txd[slot].buffer_addr = q->shm_phys + d.offset;
        q->txd[slot].length = wire_len;
        q->txd[slot].cso = 0;
        q->txd[slot].css = 0;
        q->txd[slot].special = 0;
        q->txd[slot].status = 0;
        q->txd[slot].cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
        q->tx_post++;
        posted++;
    }
    if (returned)
        *returned = back;
    return posted;
}

uint32_t eq_drain(struct eq *q)
{
    struct nic_stats *st = &q->sh->stats;
    uint32_t events = 0;
    if (eq_rx_collect(q))
        events |= NIC_EVT_RX;
    /* What is left was never filled (or was dropped and re-posted). */
    while (q->rx_clean != q->rx_post) {
        uint32_t slot = q->rx_clean % EQ_RING_N;
        if (eq_ring_push(&q->sh->rx_used, &q->rx_used_head, (struct nic_desc){ .offset = q->rx_off[slot], .len = 0 }))
            events |= NIC_EVT_RX;
        q->rxd[slot].buffer_addr = 0;
        q->rx_clean++;
    }
    q->rx_in_fragment = false;
    if (eq_tx_reclaim(q))
        events |= NIC_EVT_TX;
    while (q->tx_clean != q->tx_post) {
        uint32_t slot = q->tx_clean % EQ_RING_N;
        st->tx_dropped++;
        if (eq_ring_push(&q->sh->tx_done, &q->tx_done_head, q->tx_buf[slot]))
            events |= NIC_EVT_TX;
        q->txd[slot].buffer_addr = 0;
        q->tx_clean++;
    }
    return events;
}
