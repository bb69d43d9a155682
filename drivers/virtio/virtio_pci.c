/*
 * virtio_pci.c - finding a virtio device's structures in its PCI
 * configuration space (virtio 1.2 section 4.1.4), and its MSI-X table.
 *
 * Input: the 256-byte configuration snapshot init put in the server's
 * information page.  init read it from the device, but nothing here trusts
 * it to be well formed: the capability walk is bounded (a list that loops
 * or points into the standard header ends the walk), every capability must
 * fit inside the 256 bytes, and a capability naming a reserved BAR number is
 * skipped.  Offsets and lengths inside BARs are only recorded here; the
 * transport checks them against the BARs it actually mapped with
 * vpci_check_region() before it makes a pointer from them.
 *
 * Pure code: no system calls, no global state; host-tested by
 * tests/unit/test_virtio_pci.c.
 */
#include "virtio.h"

static uint8_t cfg8(const uint8_t *cfg, unsigned off) { return cfg[off]; }
static uint16_t cfg16(const uint8_t *cfg, unsigned off) { return (uint16_t)(cfg[off] | cfg[off + 1] << 8); }
static uint32_t cfg32(const uint8_t *cfg, unsigned off)
{
    return (uint32_t)cfg[off] | (uint32_t)cfg[off + 1] << 8 | (uint32_t)cfg[off + 2] << 16 |
           (uint32_t)cfg[off + 3] << 24;
}

/* Records a virtio structure capability at OFF (already known to fit). */
static void take_virtio_cap(const uint8_t *cfg, unsigned off, struct vpci_layout *out)
{
    unsigned len = cfg8(cfg, off + 2);
    if (len < sizeof(struct virtio_pci_cap))
        return; /* too short to be one: ignore it, as for an unknown type */
    uint8_t bar = cfg8(cfg, off + 4);
    if (bar >= PCI_BAR_COUNT)
        return; /* spec 4.1.4: reserved BAR values; the driver must ignore the capability */
    struct vpci_region r = {
        .present = true,
        .bar = bar,
        .offset = cfg32(cfg, off + 8),
        .length = cfg32(cfg, off + 12),
    };
    struct vpci_region *slot = NULL;
    switch (cfg8(cfg, off + 3)) {
    case VIRTIO_PCI_CAP_COMMON_CFG: slot = &out->common; break;
    case VIRTIO_PCI_CAP_ISR_CFG: slot = &out->isr; break;
    case VIRTIO_PCI_CAP_DEVICE_CFG: slot = &out->device; break;
    case VIRTIO_PCI_CAP_NOTIFY_CFG:
        /* The multiplier follows the generic part; the capability must be
         * long enough to hold it (spec 4.1.4.4). */
        if (len < sizeof(struct virtio_pci_notify_cap) || out->notify.present)
            return;
        out->notify_off_multiplier = cfg32(cfg, off + 16);
        slot = &out->notify;
        break;
    default: return; /* PCI_CFG, shared memory, vendor: not used */
    }
    if (!slot->present) /* the first one of each type wins (spec 4.1.4.1) */
        *slot = r;
}

static void take_msix_cap(const uint8_t *cfg, unsigned off, struct vpci_layout *out)
{
    if (out->msix)
        return; /* a function has one MSI-X capability; ignore a second */
    uint16_t ctrl = cfg16(cfg, off + MSIX_CAP_CTRL);
    uint32_t table = cfg32(cfg, off + MSIX_CAP_TABLE);
    uint8_t bir = (uint8_t)(table & MSIX_TABLE_BIR_MASK);
    if (bir >= PCI_BAR_COUNT)
        return; /* BIR 6 and 7 are reserved (PCI 3.0 6.8.2.4) */
    out->msix = true;
    out->msix_enabled = (ctrl & MSIX_CTRL_ENABLE) != 0;
    out->msix_table_size = (uint16_t)((ctrl & MSIX_CTRL_TABLE_SIZE) + 1);
    out->msix_table = (struct vpci_region){
        .present = true,
        .bar = bir,
        .offset = table & MSIX_TABLE_OFF_MASK,
        .length = (uint32_t)out->msix_table_size * (uint32_t)sizeof(struct msix_entry),
    };
}

int vpci_parse(const uint8_t cfg[PCI_CFG_SIZE], struct vpci_layout *out)
{
    *out = (struct vpci_layout){ 0 };
    if (!(cfg16(cfg, PCI_CFG_STATUS) & PCI_STATUS_CAP_LIST))
        return VIO_E_NO_CAP;
    unsigned off = cfg8(cfg, PCI_CFG_CAP_PTR) & PCI_CAP_PTR_MASK;
    /* Each step moves to a pointer read from the snapshot: bound the walk so
     * a list that loops ends, and refuse pointers into the header. */
    for (int n = 0; off != 0 && n < PCI_MAX_CAPS; n++) {
        if (off < PCI_CFG_HEADER_END || off + 2 > PCI_CFG_SIZE)
            break;
        uint8_t id = cfg8(cfg, off);
        if (id == PCI_CAP_ID_VNDR) {
            /* cap_len is the device's claim: it must fit in config space. */
            if (off + 3 <= PCI_CFG_SIZE && off + cfg8(cfg, off + 2) <= PCI_CFG_SIZE)
                take_virtio_cap(cfg, off, out);
        } else if (id == PCI_CAP_ID_MSIX && off + MSIX_CAP_LEN <= PCI_CFG_SIZE) {
            take_msix_cap(cfg, off, out);
        }
        off = cfg8(cfg, off + 1) & PCI_CAP_PTR_MASK;
    }
    if (!out->common.present || !out->notify.present || !out->isr.present)
        return VIO_E_NO_CAP;
    return VIO_OK;
}

int vpci_check_region(const struct vpci_region *region, uint64_t bar_len, uint32_t min_len)
{
    if (!region->present || region->length < min_len)
        return VIO_E_BAR;
    /* 64-bit sums: offset and length are 32-bit values from the device. */
    if ((uint64_t)region->offset + region->length > bar_len)
        return VIO_E_BAR;
    return VIO_OK;
}

int64_t vpci_notify_offset(const struct vpci_layout *l, uint16_t notify_off)
{
    uint64_t rel = (uint64_t)notify_off * l->notify_off_multiplier;
    /* The doorbell is 16 bits wide and must lie inside the notify structure. */
    if (rel + VIRTIO_NOTIFY_MIN > l->notify.length)
        return VIO_E_BAR;
    /* A 16-bit doorbell write must be naturally aligned to be one access. */
    if ((l->notify.offset + rel) % 2)
        return VIO_E_BAR;
    return (int64_t)(l->notify.offset + rel);
}

bool vpci_is_device(uint16_t vendor, uint16_t device, uint16_t type, uint16_t transitional)
{
    if (vendor != VIRTIO_PCI_VENDOR)
        return false;
    return device == VIRTIO_PCI_DEV_MODERN + type || device == transitional;
}
