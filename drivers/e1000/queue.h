/*
 * queue.h - the e1000 driver's data path between netd's shared rings
 * (abi/keel/nic.h) and the device's legacy descriptor rings (regs.h),
 * zero copy: the device DMAs straight into and out of netd's buffers.
 *
 * Pure logic: no system calls and no MMIO.  The functions fill and read
 * descriptors in memory and move indices; the caller (e1000.c) writes the
 * device's tail registers (RDT = eq_rdt(), TDT = eq_tdt()) afterwards and
 * raises netd's notification.  So the whole path runs in a host unit test
 * with the test playing the device (tests/unit/test_e1000_queue.c).
 *
 * Ownership of a buffer (an offset into the shared region):
 *   netd --rx_free--> posted in the RX ring --(device fills)--> rx_used --> netd
 *   netd --tx_send--> posted in the TX ring --(device sends)--> tx_done --> netd
 * A buffer the driver holds has a place reserved in the ring it will leave
 * by: the driver takes a buffer from rx_free (tx_send) only while the
 * buffers it holds are fewer than the free entries of rx_used (tx_done).
 * So a completion never waits for netd, and netd's consumption alone paces
 * the driver.  A frame the device damaged (errors, bad length, split over
 * descriptors) goes straight back into the RX ring, so netd never sees it.
 *
 * Trust: netd's region is read as hostile.  The driver keeps its own
 * copies of the indices it owns (tails of rx_free/tx_send, heads of
 * rx_used/tx_done) and of every offset it gave the device, reads each
 * shared ring entry once, and checks it with nic_desc_ok before use.  The
 * device rings live in the driver's own DMA memory and the device is only
 * ever given shm_phys + a checked buffer offset, with RCTL.BSIZE equal to
 * the buffer size, so nothing netd writes can aim the device outside the
 * buffer area.  Lengths and status the device writes back are checked too.
 * Bad entries are counted in nic_shared.stats and dropped.
 *
 * Single-threaded: only the driver's server loop calls these.
 */
#ifndef KEEL_DRIVERS_E1000_QUEUE_H
#define KEEL_DRIVERS_E1000_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/nic.h>

#include "regs.h"

#define EQ_RING_N       256u /* descriptors per device ring: 4 KiB, one page */
#define EQ_RING_BYTES   (EQ_RING_N * sizeof(struct e1000_rx_desc))
#define EQ_MIN_TX_FRAME 60u /* an Ethernet frame without FCS, padded with zeros */

_Static_assert((EQ_RING_N & (EQ_RING_N - 1)) == 0, "free-running indices need a power of two");
_Static_assert(EQ_RING_BYTES % E1000_RING_LEN_ALIGN == 0, "SDM 13.4.27: RDLEN/TDLEN are multiples of 128");
_Static_assert(EQ_RING_N * sizeof(struct e1000_tx_desc) == EQ_RING_BYTES, "both rings are one page");
_Static_assert(NIC_BUF_SIZE == 2048, "RCTL.BSIZE_2048 must equal the buffer size, or the device writes past it");
_Static_assert(EQ_MIN_TX_FRAME <= NIC_BUF_SIZE, "padding stays inside the buffer");

/* What the device wrote back into an RX descriptor means. */
enum eq_rx_verdict {
    EQ_RX_PENDING = 0,    /* DD clear: the device still owns it */
    EQ_RX_OK = 1,         /* a whole frame, 14..1514 bytes, no errors */
    EQ_RX_FRAGMENT = 2,   /* part of a frame split over descriptors: dropped */
    EQ_RX_ERROR = 3,      /* the device flagged the frame (CRC, symbol, ...) */
    EQ_RX_BAD_LENGTH = 4, /* shorter than a header or longer than NIC_MAX_FRAME */
};

struct eq {
    /* Fixed by eq_init. */
    volatile struct e1000_rx_desc *rxd; /* EQ_RING_N, the driver's DMA memory */
    volatile struct e1000_tx_desc *txd; /* EQ_RING_N, the driver's DMA memory */
    struct nic_shared *sh;              /* netd's region (NIC_SHM_PAGES mapped): untrusted */
    uint64_t shm_phys;                  /* physical address of sh */

    /* Device rings, free-running; slot = index % EQ_RING_N.
     * Invariant: post - clean <= EQ_RING_N - 1 (one slot stays empty, so
     * tail == head means "nothing for the device", SDM 3.2.6/3.4). */
    uint32_t rx_post, rx_clean; /* RX: given to the device / taken back */
    uint32_t tx_post, tx_clean; /* TX: given to the device / taken back */

    /* The driver's copies of the shared indices it owns; never read back. */
    uint32_t rx_free_tail, rx_used_head, tx_send_tail, tx_done_head;

    bool rx_in_fragment; /* dropping the rest of a frame that lacked EOP */

    /* What each device slot holds, as netd gave it; the device may rewrite
     * its descriptors, so these are the only record of the buffers. */
    uint32_t rx_off[EQ_RING_N];
    struct nic_desc tx_buf[EQ_RING_N];
};

/* Classifies an RX write-back.  IN_FRAGMENT: the previous descriptor ended
 * without EOP.  Pure. */
enum eq_rx_verdict eq_rx_classify(uint8_t status, uint8_t errors, uint16_t length, bool in_fragment);

/* Entries of R the consumer at TAIL may read (0 when the producer's head
 * is more than a ring ahead: an absurd index is an empty ring). */
uint32_t eq_ring_ready(const struct nic_ring *r, uint32_t tail);
/* Entries the producer at HEAD may still add (0 when the consumer's tail
 * is absurd). */
uint32_t eq_ring_space(const struct nic_ring *r, uint32_t head);
/* Reads one entry (once) into *D and publishes the new tail; false when empty. */
bool eq_ring_pop(struct nic_ring *r, uint32_t *tail, struct nic_desc *d);
/* Writes D and publishes the new head; false when full. */
bool eq_ring_push(struct nic_ring *r, uint32_t *head, struct nic_desc d);

/* Starts a fresh data path: zeroes both device rings, the driver's
 * indices and its indices in SH (netd zeroed its own before NIC_START).
 * The device must not be using the rings (RCTL.EN and TCTL.EN clear). */
void eq_init(struct eq *q, void *rx_ring, void *tx_ring, struct nic_shared *sh, uint64_t shm_phys);

/* Moves completed RX descriptors to rx_used (bad frames are re-posted to
 * the device).  Returns the frames handed to netd. */
uint32_t eq_rx_collect(struct eq *q);
/* Posts buffers from rx_free to the RX ring while reservations allow.
 * Returns the buffers posted; write RDT = eq_rdt(q) if any. */
uint32_t eq_rx_refill(struct eq *q);
/* Moves transmitted descriptors to tx_done.  Returns the buffers handed back. */
uint32_t eq_tx_reclaim(struct eq *q);
/* Posts frames from tx_send to the TX ring while reservations allow; a
 * descriptor with a good buffer but a bad length goes straight to tx_done.
 * Returns the frames posted; write TDT = eq_tdt(q) if any.  *RETURNED (may
 * be NULL) counts the buffers put on tx_done. */
uint32_t eq_tx_fill(struct eq *q, uint32_t *returned);
/* NIC_DMA_STRAY (tests): posts one descriptor of the driver's own whose
 * buffer is ADDR (not a buffer of netd's: reclaiming it hands nothing
 * back).  False when the ring is full; write TDT = eq_tdt(q) after. */
bool eq_tx_stray(struct eq *q, uint64_t addr, uint16_t len);
/* With the device stopped (RCTL.EN, TCTL.EN clear): returns every buffer
 * the driver holds.  Received frames go to rx_used as usual, unfilled RX
 * buffers to rx_used with len 0, unsent TX buffers to tx_done (counted as
 * tx_dropped).  Returns the NIC_EVT_* bits for netd. */
uint32_t eq_drain(struct eq *q);

static inline uint32_t eq_rdt(const struct eq *q) { return q->rx_post % EQ_RING_N; }
static inline uint32_t eq_tdt(const struct eq *q) { return q->tx_post % EQ_RING_N; }
static inline uint32_t eq_rx_held(const struct eq *q) { return q->rx_post - q->rx_clean; }
static inline uint32_t eq_tx_held(const struct eq *q) { return q->tx_post - q->tx_clean; }

#endif
