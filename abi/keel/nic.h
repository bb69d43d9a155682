/*
 * keel/nic.h - the NIC protocol between netd (the client) and a NIC driver
 * (virtio-net, e1000): the same for every driver.
 *
 * Data never rides in IPC.  init gives both sides one shared region
 * ("shm:NAME", NIC_SHM_PAGES pages) laid out as struct nic_shared followed
 * by the packet buffers, and a notification ("signal:NAME" for the driver,
 * "notify:NAME" for netd) on which the driver raises NIC_EVT_* bits.
 *
 * Four single-producer/single-consumer rings of descriptors (buffer offset
 * + length) move buffers:
 *   rx_free  netd -> driver  empty buffers the driver may receive into
 *   rx_used  driver -> netd  received frames
 *   tx_send  netd -> driver  frames to transmit
 *   tx_done  driver -> netd  transmitted buffers, for netd to reuse
 * Each ring: the producer writes entries, then (release) its `head`; the
 * consumer reads entries up to `head`, then (release) its `tail`.  Indices
 * are free-running uint32; entry = ring[index % NIC_RING_SIZE].  Neither
 * side trusts the other: every offset and length read from a ring is
 * checked against the buffer area, and a bad one is dropped and counted.
 *
 * Frames and offloads.  A frame is one descriptor, or several in a row in
 * one ring, every one but the last with NIC_DF_MORE ("the frame goes on in
 * the next buffer").  A descriptor names one whole buffer (`offset`); its
 * bytes are `len` bytes from `start` within that buffer (a driver may keep
 * its own header in front: virtio-net's mergeable buffers).  The first
 * descriptor of a frame carries the per-frame offload word:
 *   NIC_DF_CSUM_VALID    (rx) the device checked the L4 checksum: good
 *   NIC_DF_CSUM_PARTIAL  the L4 checksum field holds only the pseudo-header
 *                        sum; the ones' complement sum of the bytes from
 *                        csum_start (from the frame's first byte) to the end
 *                        belongs at csum_start + csum_offset.  rx: from a
 *                        trusted local sender (the host), not yet summed;
 *                        tx: the device completes it.
 *   NIC_DF_GSO_TCP4/6    a TCP segment longer than the MTU: the device
 *                        splits it into gso_size-byte segments (tx), or the
 *                        host coalesced them (rx).  Always with CSUM_PARTIAL
 *                        (tx) or CSUM_PARTIAL/CSUM_VALID (rx).
 * A frame without offload flags and with one descriptor is a plain
 * Ethernet frame of NIC_MIN_FRAME..NIC_MAX_FRAME bytes; a GSO frame is at
 * most NIC_MAX_GSO_FRAME bytes in at most NIC_FRAME_MAX_BUFS buffers.
 * Offloads are opt-in both ways: NIC_INFO's MR3 says (bits 32..) which
 * NIC_FEAT_* the device has, NIC_START's MR1 which ones the client takes;
 * a driver uses only features the client took, and refuses (tx_bad_desc)
 * a frame that needs one it did not offer.  A client that takes none sees
 * the protocol as it was: one plain frame per descriptor, start 0.
 *
 * Calls (netd -> driver, on the driver's endpoint "serve:NAME"), with the
 * plain label below (no SRV_LABEL word count; arguments are checked by
 * value); the reply label is 0 or a negative KE_* / NIC_E_* code:
 *   NIC_INFO    -> MR0 = MAC (6 bytes, little-endian in the low 48 bits),
 *                  MR1 = link up (1/0), MR2 = generation,
 *                  MR3 = MTU (bits 0..31) | NIC_FEAT_* offered << 32
 *   NIC_START   the rings are initialised (zero indices); start RX/TX.
 *               MR0 = the generation netd saw in NIC_INFO (else NIC_E_STALE)
 *               MR1 = the NIC_FEAT_* the client takes (a subset of MR3's)
 *   NIC_KICK    tx_send and/or rx_free have new entries: one call per batch
 *   NIC_STOP    quiesce the device; buffers in flight return via tx_done, and
 *               via rx_used with len 0 ("buffer returned, no frame")
 *   NIC_CRASH   (tests) fault on purpose, so init restarts the driver
 *   NIC_DMA_STRAY (tests) MR0 = a physical address outside the driver's
 *               memory: the driver queues one TX buffer of NIC_STRAY_LEN
 *               bytes there, so the device reads it.  With an IOMMU that is
 *               a DMA fault and init restarts the driver; without one the
 *               device reads whatever is there (tests use an address no
 *               RAM or device answers: QEMU reads it as zeroes or ones).
 *               NIC_E_NOT_STARTED before NIC_START, KE_BUSY with a full ring
 * The generation is the driver's restart count + 1, also written into
 * nic_shared.generation at NIC_START: a restarted driver answers with a new
 * generation, so netd knows to re-initialise the rings and call NIC_START.
 */
#ifndef KEEL_ABI_NIC_H
#define KEEL_ABI_NIC_H

#include <keel/errors.h>

#include <stdint.h>

#define NIC_RING_SIZE       256  /* entries per ring; a power of two */
#define NIC_BUF_SIZE        2048 /* bytes per packet buffer */
#define NIC_SHM_PAGES       256  /* 1 MiB: header + rings, then buffers */
#define NIC_BUF_AREA_OFFSET 65536
#define NIC_BUF_COUNT       ((NIC_SHM_PAGES * 4096 - NIC_BUF_AREA_OFFSET) / NIC_BUF_SIZE) /* 480 */
#define NIC_MAX_FRAME       1514                                                          /* without FCS */
#define NIC_MIN_FRAME       14
#define NIC_MAX_GSO_FRAME   65535 /* a GSO frame, Ethernet header included */
#define NIC_FRAME_MAX_BUFS  34    /* buffers of one frame: 65535 + a 12-byte header, in 2 KiB */

/* Per-descriptor flags (struct nic_desc.flags); design comment above. */
#define NIC_DF_MORE         (1u << 0) /* the frame goes on in the next descriptor */
#define NIC_DF_CSUM_VALID   (1u << 1) /* rx: the device verified the L4 checksum */
#define NIC_DF_CSUM_PARTIAL (1u << 2) /* L4 checksum to complete from csum_start */
#define NIC_DF_GSO_TCP4     (1u << 3) /* a TCP/IPv4 segment of gso_size pieces */
#define NIC_DF_GSO_TCP6     (1u << 4) /* a TCP/IPv6 segment of gso_size pieces */
#define NIC_DF_GSO          (NIC_DF_GSO_TCP4 | NIC_DF_GSO_TCP6)
#define NIC_DF_OFFLOAD      (NIC_DF_CSUM_VALID | NIC_DF_CSUM_PARTIAL | NIC_DF_GSO)

/* Offload features (NIC_INFO MR3 >> 32 offered; NIC_START MR1 taken). */
#define NIC_FEAT_RX_CSUM (1u << 0) /* rx frames may carry CSUM_VALID / CSUM_PARTIAL */
#define NIC_FEAT_RX_GSO  (1u << 1) /* rx frames may be GSO frames over several buffers */
#define NIC_FEAT_TX_CSUM (1u << 2) /* tx frames may ask for CSUM_PARTIAL */
#define NIC_FEAT_TX_TSO4 (1u << 3) /* tx frames may be GSO_TCP4, over several buffers */
#define NIC_FEAT_TX_TSO6 (1u << 4) /* tx frames may be GSO_TCP6, over several buffers */
#define NIC_FEAT_ALL     0x1fu

enum nic_label {
    NIC_INFO = 1,
    NIC_START = 2,
    NIC_KICK = 3,
    NIC_STOP = 4,
    NIC_CRASH = 5,
    NIC_DMA_STRAY = 6,
};
#define NIC_STRAY_LEN 64

enum nic_error {
    NIC_E_STALE = -100, /* the generation is not the driver's current one */
    NIC_E_NOT_STARTED = -101,
    NIC_E_NO_DEVICE = -102,
};
_Static_assert(KEEL_ERR_IN(NIC, NIC_E_STALE) && KEEL_ERR_IN(NIC, NIC_E_NO_DEVICE),
               "NIC_E_* in its range (keel/errors.h)");

/* Notification bits the driver raises for netd. */
#define NIC_EVT_RX   (1u << 0) /* rx_used has new entries */
#define NIC_EVT_TX   (1u << 1) /* tx_done has new entries */
#define NIC_EVT_LINK (1u << 2) /* link state changed (see nic_shared.link_up) */

struct nic_desc {
    uint32_t offset;      /* a whole buffer, from the start of the shared region */
    uint16_t len;         /* bytes of frame in this buffer (rx_free: 0) */
    uint16_t flags;       /* NIC_DF_*: MORE on every piece but a frame's last */
    uint16_t start;       /* the frame's bytes begin here within the buffer */
    uint16_t gso_size;    /* first piece of a GSO frame: payload bytes per segment */
    uint16_t csum_start;  /* first piece, CSUM_PARTIAL: from the frame's first byte */
    uint16_t csum_offset; /* first piece, CSUM_PARTIAL: checksum field from csum_start */
};
_Static_assert(sizeof(struct nic_desc) == 16, "nic descriptor layout");
_Static_assert(__builtin_offsetof(struct nic_desc, start) == 8, "nic descriptor layout");

struct nic_ring {
    volatile uint32_t head; /* written by the producer */
    uint32_t pad0[15];      /* own cache line */
    volatile uint32_t tail; /* written by the consumer */
    uint32_t pad1[15];
    struct nic_desc ring[NIC_RING_SIZE];
};
_Static_assert(sizeof(struct nic_ring) == 128 + 16 * NIC_RING_SIZE, "nic ring layout");

struct nic_stats {
    volatile uint64_t rx_frames, rx_bytes, rx_dropped, rx_bad_desc;
    volatile uint64_t tx_frames, tx_bytes, tx_dropped, tx_bad_desc;
    volatile uint64_t irqs, kicks;
};

struct nic_shared {
    volatile uint32_t generation; /* written by the driver at NIC_START */
    volatile uint32_t link_up;    /* written by the driver */
    uint8_t mac[6];
    uint8_t pad[2];
    struct nic_stats stats; /* written by the driver */
    uint8_t pad2[4096 - 16 - sizeof(struct nic_stats)];
    struct nic_ring rx_free, rx_used, tx_send, tx_done;
};
_Static_assert(sizeof(struct nic_shared) <= NIC_BUF_AREA_OFFSET, "nic header fits before the buffers");

#endif
