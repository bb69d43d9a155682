/*
 * virtio.h - virtio 1.x over PCI (the modern interface) for user-space
 * drivers: the spec's layouts, the split virtqueue, and the transport.
 *
 * Three parts, three files, one prefix each:
 *   virtio_pci.c  vpci_*  pure: finds the virtio structures (common, notify,
 *                 ISR, device config) and the MSI-X table in the PCI
 *                 configuration snapshot init gave us, and checks every
 *                 offset and length against the BAR it names.
 *   virtq.c       vq_*    pure: the driver side of a split virtqueue
 *                 (spec 1.2 section 2.7) in memory the caller provides:
 *                 descriptor free list, adding chains, publishing them,
 *                 deciding whether the device must be notified, taking
 *                 used buffers back (checking every index and length the
 *                 device wrote), and interrupt suppression.
 *   virtio.c      vio_*   the device: maps the BARs, owns the DMA arena,
 *                 resets the device, runs the status/feature handshake,
 *                 sets queues up through common config, programs MSI-X
 *                 entry 0 and routes the interrupt to a notification.
 * The pure parts make no system call, so host unit tests run them against
 * byte arrays and a simulated device (tests/unit/test_virtio_*.c).
 *
 * Trust: there is no IOMMU.  The device DMAs to the physical addresses we
 * put in descriptors, so a driver only ever puts addresses of its own DMA
 * arena or of the NIC region it shares with netd into a descriptor.  The
 * device (QEMU or a real card) is hardware we rely on, but what it writes
 * into the used ring is still checked so a broken device produces an error
 * code, not a wild write by the driver.
 *
 * Byte order: virtio 1.x is little-endian, as is x86-64; fields are read
 * and written as native integers.
 */
#ifndef KEEL_DRIVERS_VIRTIO_H
#define KEEL_DRIVERS_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <keel/pci.h>

/* ------------------------------------------------------------ errors ---- */

/* One error enum for the virtio layer; every function that can fail
 * returns 0 or one of these. */
enum vio_error {
    VIO_OK = 0,
    VIO_E_NO_DEVICE = -1, /* no PCI device granted, or not the virtio device expected */
    VIO_E_NO_CAP = -2,    /* a required virtio structure is missing from the capability list */
    VIO_E_BAR = -3,       /* a structure lies outside its BAR, or in an I/O or ungranted BAR */
    VIO_E_MAP = -4,       /* mapping a BAR or DMA memory failed */
    VIO_E_NO_MEMORY = -5, /* the DMA arena (or the memory budget behind it) is exhausted */
    VIO_E_RESET = -6,     /* the device did not finish its reset in time */
    VIO_E_FEATURES = -7,  /* VIRTIO_F_VERSION_1 (or another required feature) refused */
    VIO_E_QUEUE = -8,     /* the queue does not exist, is too small, or is already live */
    VIO_E_MSIX = -9,      /* the MSI-X table is unusable or the device refused vector 0 */
    VIO_E_IRQ = -10,      /* no usable interrupt, or binding it to a notification failed */
    VIO_E_FULL = -11,     /* not enough free descriptors for the chain */
    VIO_E_INVAL = -12,    /* a bad argument from the caller (empty chain, zero length) */
    VIO_E_DEVICE = -13,   /* the device broke the protocol (bad used id or length, NEEDS_RESET) */
};

/* --------------------------------------------- PCI capabilities (4.1.4) - */

#define VIRTIO_PCI_VENDOR        0x1af4u
#define VIRTIO_PCI_DEV_MODERN    0x1040u /* + virtio device id (spec 4.1.2.1) */
#define VIRTIO_PCI_DEV_LEGACY_LO 0x1000u /* transitional devices 0x1000-0x103f */
#define VIRTIO_PCI_DEV_LEGACY_HI 0x103fu
#define VIRTIO_ID_NET            1u
#define VIRTIO_ID_BLK            2u
#define VIRTIO_ID_RNG            4u
#define VIRTIO_TRANS_NET         0x1000u /* transitional device ids (spec 4.1.2.1) */
#define VIRTIO_TRANS_BLK         0x1001u
#define VIRTIO_TRANS_RNG         0x1005u

/* PCI configuration header fields the parser reads (PCI Local Bus 3.0 6.1, 6.7). */
#define PCI_CFG_STATUS      0x06
#define PCI_STATUS_CAP_LIST 0x0010u
#define PCI_CFG_CAP_PTR     0x34
#define PCI_CAP_PTR_MASK    0xfcu /* the low two bits are reserved */
#define PCI_CAP_ID_VNDR     0x09u
#define PCI_CAP_ID_MSIX     0x11u
#define PCI_CFG_HEADER_END  0x40 /* capabilities live after the standard header */
#define PCI_CFG_SIZE        256
#define PCI_MAX_CAPS        48 /* (256 - 64) / 4: more means the list loops */
#define PCI_BAR_COUNT       6

/* cfg_type values (spec 4.1.4). */
enum virtio_pci_cfg_type {
    VIRTIO_PCI_CAP_COMMON_CFG = 1,
    VIRTIO_PCI_CAP_NOTIFY_CFG = 2,
    VIRTIO_PCI_CAP_ISR_CFG = 3,
    VIRTIO_PCI_CAP_DEVICE_CFG = 4,
    VIRTIO_PCI_CAP_PCI_CFG = 5,
};

/* struct virtio_pci_cap (spec 4.1.4); all fields RO (config space). */
struct virtio_pci_cap {
    uint8_t cap_vndr; /* PCI_CAP_ID_VNDR */
    uint8_t cap_next; /* next capability pointer */
    uint8_t cap_len;  /* length of this capability, >= 16 */
    uint8_t cfg_type; /* enum virtio_pci_cfg_type */
    uint8_t bar;      /* 0-5; other values are reserved: skip the capability */
    uint8_t id;       /* multiple capabilities of one type (1.2); 0 in 1.1 */
    uint8_t padding[2];
    uint32_t offset; /* within the BAR */
    uint32_t length; /* bytes of the structure */
};
_Static_assert(sizeof(struct virtio_pci_cap) == 16, "spec 4.1.4: virtio_pci_cap is 16 bytes");
_Static_assert(__builtin_offsetof(struct virtio_pci_cap, offset) == 8, "spec 4.1.4: offset at 8");

/* struct virtio_pci_notify_cap (spec 4.1.4.4). */
struct virtio_pci_notify_cap {
    struct virtio_pci_cap cap;
    uint32_t notify_off_multiplier; /* queue doorbell = offset + queue_notify_off * this */
};
_Static_assert(sizeof(struct virtio_pci_notify_cap) == 20, "spec 4.1.4.4: notify cap is 20 bytes");

/* MSI-X capability (PCI Local Bus 3.0 section 6.8.2). */
#define MSIX_CAP_CTRL        2 /* message control, 16 bits */
#define MSIX_CAP_TABLE       4 /* table offset | BIR, 32 bits */
#define MSIX_CAP_LEN         12
#define MSIX_CTRL_TABLE_SIZE 0x07ffu /* entries - 1 */
#define MSIX_CTRL_FUNC_MASK  0x4000u
#define MSIX_CTRL_ENABLE     0x8000u
#define MSIX_TABLE_BIR_MASK  0x7u
#define MSIX_TABLE_OFF_MASK  (~0x7u)
#define MSIX_MSG_ADDR        0xfee00000u /* the local APIC's message address (Intel SDM 3 10.11.1) */

/* One MSI-X table entry (PCI 3.0 6.8.2.6-9); all RW, 32-bit accesses only. */
struct msix_entry {
    uint32_t addr_lo;
    uint32_t addr_hi;
    uint32_t data;
    uint32_t vector_ctrl; /* MSIX_VECTOR_MASKED: the entry may not send */
};
_Static_assert(sizeof(struct msix_entry) == 16, "PCI 3.0 6.8.2: MSI-X entries are 16 bytes");
#define MSIX_VECTOR_MASKED 0x1u

/* Where one virtio structure is: a BAR, an offset in it, a length. */
struct vpci_region {
    bool present;
    uint8_t bar;
    uint32_t offset;
    uint32_t length;
};

/* What the parser found in the configuration snapshot. */
struct vpci_layout {
    struct vpci_region common, notify, isr, device;
    uint32_t notify_off_multiplier;
    bool msix;                     /* an MSI-X capability exists */
    bool msix_enabled;             /* and init left it enabled */
    uint16_t msix_table_size;      /* entries */
    struct vpci_region msix_table; /* length = 16 * entries */
};

/* Minimum lengths the driver needs of each structure. */
#define VIRTIO_COMMON_CFG_MIN 56 /* through queue_device (1.1); 1.2 adds 4 bytes we never use */
#define VIRTIO_ISR_MIN        1
#define VIRTIO_NOTIFY_MIN     2

/*
 * Finds the virtio structures and the MSI-X table in a PCI configuration
 * snapshot (the first 256 bytes).  Walks the capability list with a bound
 * (a looping list ends the walk), takes the first capability of each type
 * whose BAR number is valid (spec 4.1.4.1: the driver uses the first it
 * can), and records the MSI-X table.  Checks only what config space alone
 * can tell; vpci_check_region() checks against the BARs.
 * Returns VIO_OK, or VIO_E_NO_CAP when the capability list is missing or
 * there is no common, notify or ISR structure (device config is optional
 * for the transport; each driver checks it needs one).
 */
int vpci_parse(const uint8_t cfg[PCI_CFG_SIZE], struct vpci_layout *out) __attribute__((warn_unused_result));

/* Whether REGION (which must be present) lies inside a memory BAR of
 * BAR_LEN mapped bytes and is at least MIN_LEN long: VIO_OK or VIO_E_BAR. */
int vpci_check_region(const struct vpci_region *region, uint64_t bar_len, uint32_t min_len)
    __attribute__((warn_unused_result));

/* The byte offset (within the notify structure's BAR) of the doorbell of
 * a queue whose queue_notify_off is NOTIFY_OFF, or VIO_E_BAR when it falls
 * outside the notify structure (spec 4.1.4.4).  Returns >= 0 on success. */
int64_t vpci_notify_offset(const struct vpci_layout *l, uint16_t notify_off);

/* Whether the PCI vendor/device ids name virtio device type TYPE (modern
 * 0x1040 + type, or the transitional id TRANSITIONAL). */
bool vpci_is_device(uint16_t vendor, uint16_t device, uint16_t type, uint16_t transitional);

/* --------------------------------------- common configuration (4.1.4.3) - */

/* struct virtio_pci_common_cfg (spec 4.1.4.3), in BAR memory: every access
 * goes through the vio_mmio_* accessors.  64-bit fields are split into
 * 32-bit halves, which the spec allows (4.1.3.1) and which keeps each
 * access one naturally aligned 32-bit MMIO operation. */
struct virtio_pci_common_cfg {
    /* About the whole device. */
    uint32_t device_feature_select; /* RW: which 32 feature bits device_feature shows */
    uint32_t device_feature;        /* RO */
    uint32_t driver_feature_select; /* RW */
    uint32_t driver_feature;        /* RW */
    uint16_t config_msix_vector;    /* RW: reads VIRTIO_MSI_NO_VECTOR when refused */
    uint16_t num_queues;            /* RO */
    uint8_t device_status;          /* RW: VIRTIO_STATUS_*; write 0 to reset */
    uint8_t config_generation;      /* RO: changes when device config changes */
    /* About the queue selected by queue_select. */
    uint16_t queue_select;                     /* RW */
    uint16_t queue_size;                       /* RW: max on reset; 0 = no such queue */
    uint16_t queue_msix_vector;                /* RW */
    uint16_t queue_enable;                     /* RW: write 1 after setup; never 0 */
    uint16_t queue_notify_off;                 /* RO */
    uint32_t queue_desc_lo, queue_desc_hi;     /* RW: descriptor table */
    uint32_t queue_driver_lo, queue_driver_hi; /* RW: available ring */
    uint32_t queue_device_lo, queue_device_hi; /* RW: used ring */
};
_Static_assert(sizeof(struct virtio_pci_common_cfg) == VIRTIO_COMMON_CFG_MIN, "spec 4.1.4.3: common cfg layout");
_Static_assert(__builtin_offsetof(struct virtio_pci_common_cfg, device_status) == 20, "spec 4.1.4.3");
_Static_assert(__builtin_offsetof(struct virtio_pci_common_cfg, queue_select) == 22, "spec 4.1.4.3");
_Static_assert(__builtin_offsetof(struct virtio_pci_common_cfg, queue_notify_off) == 30, "spec 4.1.4.3");
_Static_assert(__builtin_offsetof(struct virtio_pci_common_cfg, queue_desc_lo) == 32, "spec 4.1.4.3");
_Static_assert(__builtin_offsetof(struct virtio_pci_common_cfg, queue_device_lo) == 48, "spec 4.1.4.3");

#define VIRTIO_MSI_NO_VECTOR 0xffffu

/* Device status bits (spec 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01u
#define VIRTIO_STATUS_DRIVER      0x02u
#define VIRTIO_STATUS_DRIVER_OK   0x04u
#define VIRTIO_STATUS_FEATURES_OK 0x08u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED      0x80u

/* ISR status bits (spec 4.1.4.5): read clears, and deasserts INTx. */
#define VIRTIO_ISR_QUEUE  0x1u
#define VIRTIO_ISR_CONFIG 0x2u

/* Reserved (transport) feature bits (spec 6). */
#define VIRTIO_F_RING_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_RING_EVENT_IDX     (1ull << 29)
#define VIRTIO_F_VERSION_1          (1ull << 32)
#define VIRTIO_F_ACCESS_PLATFORM    (1ull << 33)
#define VIRTIO_F_RING_PACKED        (1ull << 34)

/* ------------------------------------------- split virtqueue (2.7) ---- */

/* struct virtq_desc (spec 2.7.5): written by the driver, read by the device. */
struct virtq_desc {
    uint64_t addr; /* guest-physical */
    uint32_t len;
    uint16_t flags; /* VIRTQ_DESC_F_* */
    uint16_t next;  /* with VIRTQ_DESC_F_NEXT */
};
_Static_assert(sizeof(struct virtq_desc) == 16, "spec 2.7.5: descriptors are 16 bytes");
#define VIRTQ_DESC_F_NEXT     0x1u
#define VIRTQ_DESC_F_WRITE    0x2u /* device-writable (else device-readable) */
#define VIRTQ_DESC_F_INDIRECT 0x4u

/* struct virtq_avail (spec 2.7.6): written by the driver. ring[size] is
 * followed by used_event (with VIRTIO_F_RING_EVENT_IDX). */
struct virtq_avail {
    uint16_t flags; /* VIRTQ_AVAIL_F_NO_INTERRUPT */
    uint16_t idx;   /* where the driver puts the next entry, free-running */
    uint16_t ring[];
};
_Static_assert(sizeof(struct virtq_avail) == 4, "spec 2.7.6: avail header");
#define VIRTQ_AVAIL_F_NO_INTERRUPT 0x1u

/* struct virtq_used_elem / virtq_used (spec 2.7.8): written by the device.
 * ring[size] is followed by avail_event (with VIRTIO_F_RING_EVENT_IDX). */
struct virtq_used_elem {
    uint32_t id;  /* head of the descriptor chain */
    uint32_t len; /* bytes written into the device-writable part */
};
_Static_assert(sizeof(struct virtq_used_elem) == 8, "spec 2.7.8: used elements are 8 bytes");
struct virtq_used {
    uint16_t flags; /* VIRTQ_USED_F_NO_NOTIFY */
    uint16_t idx;
    struct virtq_used_elem ring[];
};
_Static_assert(sizeof(struct virtq_used) == 4, "spec 2.7.8: used header");
#define VIRTQ_USED_F_NO_NOTIFY 0x1u

#define VQ_MAX_SIZE 256u    /* the largest queue a driver here sets up */
#define VQ_NONE     0xffffu /* end of the free list */

/* Bytes one chain segment describes. */
struct vq_seg {
    uint64_t phys;
    uint32_t len;
};

/*
 * The driver side of one split virtqueue.  All fields are the driver's
 * (one thread, the server loop); the three ring pointers point into DMA
 * memory the device shares.  The link, length and cookie arrays are
 * private shadows: the driver never reads back what the device could
 * overwrite, so a chain is freed by the shadow links, not desc[].next.
 * Invariants: size is a power of two <= VQ_MAX_SIZE; num_free descriptors
 * are on the free list; chain_len[h] != 0 exactly for heads h of chains
 * the device owns (added and not yet taken back); avail_idx - last_used
 * <= size.
 */
struct virtq {
    uint16_t size;  /* descriptors (a power of two) */
    uint16_t index; /* the queue's number on the device */
    bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
    volatile struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    volatile uint16_t *used_event;  /* &avail->ring[size]: driver writes (event idx) */
    volatile uint16_t *avail_event; /* &used->ring[size]: device writes (event idx) */
    uint64_t desc_phys, avail_phys, used_phys;
    volatile uint16_t *doorbell; /* set by the transport (vio_queue_setup) */

    uint16_t free_head; /* first free descriptor or VQ_NONE */
    uint16_t num_free;
    uint16_t avail_idx;              /* next avail->idx; entries before it are written */
    uint16_t published;              /* the avail->idx the device has been shown */
    uint16_t last_used;              /* next used ring entry to take */
    uint16_t reclaim;                /* vq_reclaim's scan position */
    uint16_t next[VQ_MAX_SIZE];      /* free list and chain links */
    uint16_t chain_len[VQ_MAX_SIZE]; /* per head: descriptors in the chain, 0 if not in flight */
    uint32_t writable[VQ_MAX_SIZE];  /* per head: device-writable bytes (bounds used.len) */
    uint32_t cookie[VQ_MAX_SIZE];    /* per head: the caller's tag */
};

/* Bytes of DMA memory a queue of SIZE needs (descriptor table, avail ring
 * with used_event, used ring with avail_event, each aligned as 2.7 asks). */
size_t vq_mem_bytes(uint16_t size);

/*
 * Lays a queue of SIZE descriptors out in MEM (vq_mem_bytes(size) bytes,
 * 16-byte aligned, at physical address PHYS), zeroes it and builds the free
 * list.  Returns VIO_OK, or VIO_E_INVAL when size is 0, not a power of two,
 * or above VQ_MAX_SIZE, or MEM is not 16-byte aligned.
 */
int vq_init(struct virtq *q, uint16_t index, uint16_t size, void *mem, uint64_t phys, bool event_idx)
    __attribute__((warn_unused_result));

/*
 * Adds one chain: N_OUT device-readable segments then N_IN device-writable
 * ones, tagged COOKIE; it becomes visible to the device at vq_publish().
 * Returns the head descriptor (>= 0), VIO_E_FULL when fewer than
 * n_out + n_in descriptors are free, VIO_E_INVAL for an empty chain or a
 * zero-length segment.
 */
int vq_add(struct virtq *q, const struct vq_seg *segs, unsigned n_out, unsigned n_in, uint32_t cookie)
    __attribute__((warn_unused_result));

/* Shows the device every chain added since the last call (one store of
 * avail->idx) and says whether the device asked to be notified: true means
 * the caller must write the doorbell. */
bool vq_publish(struct virtq *q);

/*
 * Takes the next used buffer back: 1 and *COOKIE, *LEN (bytes the device
 * wrote) when there was one, 0 when the used ring is empty, VIO_E_DEVICE
 * when the device wrote an impossible entry (idx too far ahead, id not the
 * head of a chain it owns, len beyond the chain's writable bytes); the queue
 * is then unusable until the device is reset and the queue set up again.
 */
int vq_pop(struct virtq *q, uint32_t *cookie, uint32_t *len) __attribute__((warn_unused_result));

/* Whether the device has used buffers waiting for vq_pop. */
bool vq_has_used(const struct virtq *q);

/* Asks the device not to interrupt for this queue (a hint; see virtq.c). */
void vq_disarm(struct virtq *q);

/* Asks the device to interrupt when it next uses a buffer.  Returns true
 * when used buffers arrived before the request took effect: the caller
 * must drain the queue again or it could sleep on work already done. */
bool vq_arm(struct virtq *q) __attribute__((warn_unused_result));

/* Descriptors in chains the device owns. */
static inline uint16_t vq_in_flight(const struct virtq *q) { return (uint16_t)(q->size - q->num_free); }

/* After a device reset (the device owns nothing any more): takes back one
 * chain the device owned, 1 and *COOKIE, or 0 when none is left. */
int vq_reclaim(struct virtq *q, uint32_t *cookie);

/* Event-index test of spec 2.7.7.2 / 2.7.10: whether moving an index from
 * OLD to NEW passes EVENT, i.e. the other side asked to hear about it. */
static inline bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* ---------------------------------------------------- the transport ---- */

struct keel_srvinfo;

/* User virtual addresses the drivers use (below the stack, above the program). */
#define VIO_VA_BASE       0x0000005000000000ull
#define VIO_VA_BAR_STRIDE 0x0000000001000000ull /* 16 MiB per BAR */
#define VIO_VA_DMA        (VIO_VA_BASE + PCI_BAR_COUNT * VIO_VA_BAR_STRIDE)
#define VIO_VA_FREE       (VIO_VA_BASE + 0x0000000010000000ull) /* drivers map their own things here */

/* Notification bits a transport's notification carries. */
#define VIO_BIT_IRQ   (1ull << 0) /* the device interrupted */
#define VIO_BIT_TIMER (1ull << 1) /* a driver's own timer (rng) */

/*
 * One virtio PCI device and the resources a driver holds for it.  Owned by
 * the driver's one thread.  Lifetime: vio_open() fills everything but
 * features; the device itself is untouched until vio_reset().
 */
struct vio_dev {
    const struct keel_pci_info *pci;
    struct vpci_layout layout;
    volatile uint8_t *bar_va[PCI_BAR_COUNT]; /* NULL: not mapped */
    uint64_t bar_len[PCI_BAR_COUNT];         /* bytes mapped */
    volatile struct virtio_pci_common_cfg *common;
    volatile uint8_t *notify; /* the notify structure's BAR (doorbells are offsets in it) */
    volatile uint8_t *isr;
    volatile uint8_t *device_cfg; /* NULL when the device has none */
    uint32_t device_cfg_len;
    volatile struct msix_entry *msix; /* entry 0, or NULL when not MSI-X */
    uint64_t features;                /* negotiated (after vio_negotiate) */
    bool said_platform;               /* vio_negotiate logged whether DMA goes through the IOMMU */
    /* Interrupt: the IRQ capability init granted, and our notification. */
    uint64_t irq_slot, ntfn_slot;
    bool use_msix;   /* vectors in common config; otherwise INTx and the ISR */
    uint8_t cfg_gen; /* config_generation when the configuration was last looked at (MSI-X) */
    /* DMA arena: one physically contiguous frame, handed out by a bump pointer. */
    uint64_t dma_slot, dma_phys;
    uint8_t *dma_va;
    size_t dma_size, dma_used;
};

/*
 * Checks that SI describes a PCI device, parses its capabilities, maps the
 * BARs they use (at VIO_VA_BASE + bar * 16 MiB), checks every structure
 * lies inside its BAR, and creates a DMA arena of DMA_PAGES pages (mapped
 * at VIO_VA_DMA) from the server's memory budget, in a free capability
 * slot.  Touches no device register.  VIO_E_NO_DEVICE, VIO_E_NO_CAP,
 * VIO_E_BAR, VIO_E_MAP or VIO_E_NO_MEMORY on failure.
 */
int vio_open(struct vio_dev *d, const struct keel_srvinfo *si, size_t dma_pages) __attribute__((warn_unused_result));

/*
 * Creates a notification (in a free slot: d->ntfn_slot), binds the device's
 * interrupt to it as VIO_BIT_IRQ, and with MSI-X programs table entry 0
 * (address 0xfee00000, data = the vector init allocated) and unmasks it.
 * With BIND the notification is bound to the calling thread (a server loop
 * gets the bit in on_notify); otherwise the driver waits on it itself.
 */
int vio_irq_setup(struct vio_dev *d, bool bind) __attribute__((warn_unused_result));

/*
 * The first two steps for a driver of one device type: checks SI's device
 * is a virtio device of TYPE (VIRTIO_ID_*, or its TRANSITIONAL id), then
 * vio_open(DMA_PAGES) and vio_irq_setup(BIND).  VIO_E_NO_DEVICE for another
 * device, otherwise what those two return.
 */
int vio_open_device(struct vio_dev *d, const struct keel_srvinfo *si, uint16_t type, uint16_t transitional,
                    size_t dma_pages, bool bind) __attribute__((warn_unused_result));

/* Resets the device (status 0) and waits until it reads back 0 (spec
 * 4.1.4.3.2); afterwards the device owns no buffer and makes no DMA. */
int vio_reset(struct vio_dev *d) __attribute__((warn_unused_result));

/* The same for paths that are giving up anyway (a fatal error, NIC_CRASH):
 * best effort, nothing to report. */
void vio_stop(struct vio_dev *d);

/*
 * The start of the handshake (spec 3.1.1): ACKNOWLEDGE, DRIVER, then
 * accept device features & WANTED (VIRTIO_F_VERSION_1 is always wanted and
 * required, as is REQUIRED), FEATURES_OK and check it stuck; sets
 * config_msix_vector with MSI-X.  Returns VIO_OK (d->features holds what
 * was agreed), VIO_E_FEATURES or VIO_E_MSIX; on error the device is marked
 * FAILED.
 */
int vio_negotiate(struct vio_dev *d, uint64_t wanted, uint64_t required) __attribute__((warn_unused_result));

/* Gives back the whole DMA arena, zeroed (after vio_reset only: the device
 * must not own any of it). */
void vio_dma_reset(struct vio_dev *d);

/* BYTES of zeroed DMA memory aligned to ALIGN (a power of two <= 4096):
 * VIO_OK with *VA and *PHYS, or VIO_E_NO_MEMORY. */
int vio_dma_alloc(struct vio_dev *d, size_t bytes, size_t align, void **va, uint64_t *phys)
    __attribute__((warn_unused_result));

/* Sets queue INDEX up with at most MAX_SIZE descriptors from the DMA
 * arena, routes its interrupt to MSI-X vector 0, and enables it (spec
 * 4.1.5.1.3).  Between vio_negotiate and vio_driver_ok. */
int vio_queue_setup(struct vio_dev *d, struct virtq *q, uint16_t index, uint16_t max_size)
    __attribute__((warn_unused_result));

/* Sets DRIVER_OK: the device is live.  VIO_E_DEVICE if it has failed. */
int vio_driver_ok(struct vio_dev *d) __attribute__((warn_unused_result));

/* Publishes Q's new chains and rings its doorbell if the device asked. */
void vio_kick(struct vio_dev *d, struct virtq *q);

/* After an interrupt: with INTx reads (and so clears) the ISR, returning
 * VIRTIO_ISR_* bits.  With MSI-X one vector serves the queues and the
 * configuration, so it returns VIRTIO_ISR_QUEUE, plus VIRTIO_ISR_CONFIG
 * when config_generation moved since the last call (or vio_negotiate):
 * one register read instead of re-reading the configuration each time. */
uint8_t vio_irq_cause(struct vio_dev *d);

/* Lets the interrupt fire again (SYS_IRQ_ACK). */
void vio_irq_ack(struct vio_dev *d);

/* Whether the device wants a reset (DEVICE_NEEDS_RESET, spec 2.1.2). */
bool vio_needs_reset(struct vio_dev *d);

/* Device-specific configuration, each field read with its natural width
 * (spec 4.1.3.1): VIO_OK and *V, or VIO_E_BAR when the field lies outside
 * the device configuration structure (or there is none).  A driver reading
 * several fields repeats until vio_config_generation() is the same before
 * and after (spec 2.5.1). */
int vio_cfg_read8(struct vio_dev *d, uint32_t off, uint8_t *v) __attribute__((warn_unused_result));
int vio_cfg_read16(struct vio_dev *d, uint32_t off, uint16_t *v) __attribute__((warn_unused_result));
int vio_cfg_read32(struct vio_dev *d, uint32_t off, uint32_t *v) __attribute__((warn_unused_result));
uint8_t vio_config_generation(struct vio_dev *d);

/* A name for an error code, for logs. */
const char *vio_strerror(int err);

#endif
