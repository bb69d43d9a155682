/*
 * virtio.c - the virtio 1.x PCI transport for user-space drivers (virtio
 * 1.2 section 4.1): BARs, DMA arena, reset, status and feature handshake,
 * queue setup through common config, MSI-X, interrupts as notifications.
 *
 * What init already did (abi/keel/pci.h): enabled memory decoding and bus
 * mastering, enabled MSI-X with the function unmasked and every table entry
 * masked, allocated one interrupt vector, and granted the BARs as frame
 * capabilities.  The driver never touches configuration space; it reads the
 * snapshot in its server-information page.
 *
 * Order of use (spec 3.1.1), each step a function here:
 *   vio_open        parse capabilities, map BARs, create the DMA arena
 *   vio_irq_setup   notification, IRQ binding, MSI-X entry 0
 *   vio_reset       status 0, wait for 0
 *   vio_negotiate   ACKNOWLEDGE, DRIVER, features, FEATURES_OK, config vector
 *   vio_queue_setup per queue: size, ring addresses, vector, enable
 *   vio_driver_ok   DRIVER_OK
 * (vio_open_device checks the device type and does the first two.)
 * A driver that restarts the device (NIC_START twice, NIC_STOP) runs
 * vio_reset .. vio_driver_ok again after vio_dma_reset.
 *
 * MMIO: the BAR frames are mapped uncached by the kernel (device frames),
 * and every register access goes through the vio_mmio_* accessors below:
 * one volatile access of the field's natural width.  Uncached accesses are
 * not reordered with each other or with earlier stores on x86, so register
 * sequences (status handshake, MSI-X address/data before unmask) need no
 * fence beyond the compiler ordering volatile gives.
 *
 * Interrupts: one vector for everything (init grants one).  With MSI-X the
 * configuration-change vector and every queue vector are 0, so an interrupt
 * means "look at the queues and the device configuration"; without MSI-X
 * (INTx) reading the ISR both says why and deasserts the line, and must
 * happen before the IRQ is acknowledged.
 *
 * VIRTIO_F_ACCESS_PLATFORM is accepted whenever the device offers it: the
 * device then sends its DMA through the platform's IOMMU, where init has
 * confined it to this driver's DMA frames (addresses stay physical: the
 * kernel's DMA spaces map IOVA = physical address).  A device that does not
 * offer it bypasses the IOMMU (QEMU's default), as before; vio_negotiate
 * says which in one line.
 *
 * Not handled: devices whose structures lie in I/O BARs (QEMU puts them in
 * memory unless told otherwise), packed queues, indirect descriptors.
 */
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "virtio.h"

#define PAGE_SIZE 4096u
/* How long a reset may take before we call the device dead (spec 4.1.4.3.2
 * gives no bound; QEMU finishes at once). */
#define VIO_RESET_TIMEOUT_NS 1000000000ull

/* ------------------------------------------------------------- MMIO ---- */

static inline uint8_t vio_mmio_r8(const volatile uint8_t *p) { return *p; }
static inline uint16_t vio_mmio_r16(const volatile uint16_t *p) { return *p; }
static inline uint32_t vio_mmio_r32(const volatile uint32_t *p) { return *p; }
static inline void vio_mmio_w8(volatile uint8_t *p, uint8_t v) { *p = v; }
static inline void vio_mmio_w16(volatile uint16_t *p, uint16_t v) { *p = v; }
static inline void vio_mmio_w32(volatile uint32_t *p, uint32_t v) { *p = v; }

static uint8_t status_read(struct vio_dev *d) { return vio_mmio_r8(&d->common->device_status); }
static void status_set(struct vio_dev *d, uint8_t bits)
{
    vio_mmio_w8(&d->common->device_status, (uint8_t)(status_read(d) | bits));
}

/* ---------------------------------------------------------- helpers ---- */

const char *vio_strerror(int err)
{
    switch (err) {
    case VIO_OK: return "ok";
    case VIO_E_NO_DEVICE: return "no device";
    case VIO_E_NO_CAP: return "virtio capability missing";
    case VIO_E_BAR: return "structure outside its BAR";
    case VIO_E_MAP: return "mapping failed";
    case VIO_E_NO_MEMORY: return "out of DMA memory";
    case VIO_E_RESET: return "reset timed out";
    case VIO_E_FEATURES: return "features refused";
    case VIO_E_QUEUE: return "queue unusable";
    case VIO_E_MSIX: return "MSI-X refused";
    case VIO_E_IRQ: return "interrupt unusable";
    case VIO_E_FULL: return "queue full";
    case VIO_E_INVAL: return "bad argument";
    case VIO_E_DEVICE: return "device broke the protocol";
    default: return "unknown error";
    }
}

/* Maps BAR I (once) at VIO_VA_BASE + I * 16 MiB. */
static int map_bar(struct vio_dev *d, uint8_t i)
{
    if (d->bar_va[i])
        return VIO_OK;
    const struct keel_pci_bar *bar = &d->pci->bars[i];
    if (bar->kind != BAR_MMIO || bar->slot == 0)
        return VIO_E_BAR; /* an I/O BAR or one init did not grant */
    uint64_t phys = 0, pages = 0;
    if (keel_frame_info(bar->slot, &phys, &pages) != KE_OK || pages == 0)
        return VIO_E_MAP;
    if (pages * PAGE_SIZE > VIO_VA_BAR_STRIDE)
        return VIO_E_BAR; /* would overlap the next BAR's window */
    /* The frame starts at the page holding the BAR; a small BAR need not
     * start on a page boundary. */
    uint64_t in_page = bar->base % PAGE_SIZE;
    if (phys && phys != bar->base - in_page)
        return VIO_E_BAR; /* the frame is not this BAR */
    uint64_t len = pages * PAGE_SIZE - in_page;
    if (bar->size && bar->size < len)
        len = bar->size; /* never use more than the BAR decodes */
    uint64_t va = VIO_VA_BASE + i * VIO_VA_BAR_STRIDE;
    if (keel_map(SRV_SLOT_TASK, bar->slot, va, RIGHT_READ | RIGHT_WRITE) != KE_OK)
        return VIO_E_MAP;
    d->bar_va[i] = (volatile uint8_t *)(va + in_page);
    d->bar_len[i] = len;
    return VIO_OK;
}

/* Maps the BAR REGION lies in and checks the region fits: its address in
 * *P.  MIN_LEN is the least the driver will touch. */
static int map_region(struct vio_dev *d, const struct vpci_region *r, uint32_t min_len, volatile uint8_t **p)
{
    int err = map_bar(d, r->bar);
    if (err)
        return err;
    err = vpci_check_region(r, d->bar_len[r->bar], min_len);
    if (err)
        return err;
    *p = d->bar_va[r->bar] + r->offset;
    return VIO_OK;
}

/* ------------------------------------------------------------- open ---- */

static int dma_create(struct vio_dev *d, size_t pages)
{
    uint64_t slot = srv_free_slot();
    if (!slot)
        return VIO_E_NO_MEMORY;
    if (keel_obj_create(SRV_SLOT_MEMORY, OBJ_DMA_FRAME, slot, pages) != KE_OK)
        return VIO_E_NO_MEMORY;
    uint64_t phys = 0, got = 0;
    if (keel_frame_info(slot, &phys, &got) != KE_OK || phys == 0 || got != pages)
        return VIO_E_MAP;
    if (keel_map(SRV_SLOT_TASK, slot, VIO_VA_DMA, RIGHT_READ | RIGHT_WRITE) != KE_OK)
        return VIO_E_MAP;
    d->dma_slot = slot;
    d->dma_phys = phys;
    d->dma_va = (uint8_t *)VIO_VA_DMA;
    d->dma_size = pages * PAGE_SIZE;
    d->dma_used = 0;
    return VIO_OK;
}

int vio_open(struct vio_dev *d, const struct keel_srvinfo *si, size_t dma_pages)
{
    *d = (struct vio_dev){ .pci = &si->pci };
    if (!si->pci.present)
        return VIO_E_NO_DEVICE;
    int err = vpci_parse(si->pci.config, &d->layout);
    if (err)
        return err;
    volatile uint8_t *p;
    if ((err = map_region(d, &d->layout.common, VIRTIO_COMMON_CFG_MIN, &p)))
        return err;
    d->common = (volatile struct virtio_pci_common_cfg *)p;
    if ((err = map_region(d, &d->layout.isr, VIRTIO_ISR_MIN, &p)))
        return err;
    d->isr = p;
    /* Doorbells are computed per queue (vpci_notify_offset); keep the BAR. */
    if ((err = map_region(d, &d->layout.notify, VIRTIO_NOTIFY_MIN, &p)))
        return err;
    d->notify = d->bar_va[d->layout.notify.bar];
    if (d->layout.device.present) {
        if ((err = map_region(d, &d->layout.device, 1, &p)))
            return err;
        d->device_cfg = p;
        d->device_cfg_len = d->layout.device.length;
    }
    if (d->layout.msix && d->layout.msix_enabled) {
        /* Only entry 0 is ever written, so only it must fit. */
        struct vpci_region entry0 = d->layout.msix_table;
        if ((err = map_region(d, &entry0, sizeof(struct msix_entry), &p)))
            return err;
        d->msix = (volatile struct msix_entry *)p;
    }
    return dma_create(d, dma_pages);
}

int vio_open_device(struct vio_dev *d, const struct keel_srvinfo *si, uint16_t type, uint16_t transitional,
                    size_t dma_pages, bool bind)
{
    if (!si->pci.present || !vpci_is_device(si->pci.vendor, si->pci.device, type, transitional))
        return VIO_E_NO_DEVICE;
    int err = vio_open(d, si, dma_pages);
    if (err)
        return err;
    return vio_irq_setup(d, bind);
}

/* ------------------------------------------------------- interrupts ---- */

int vio_irq_setup(struct vio_dev *d, bool bind)
{
    const struct keel_pci_info *pci = d->pci;
    switch (pci->irq_kind) {
    case PCI_IRQ_MSIX:
        if (!d->msix)
            return VIO_E_MSIX; /* init says MSI-X, the snapshot disagrees */
        d->use_msix = true;
        break;
    case PCI_IRQ_MSI: /* virtio has no MSI vectors; the device signals as for INTx */
    case PCI_IRQ_INTX: d->use_msix = false; break;
    default: return VIO_E_IRQ;
    }
    if (!pci->irq_slot)
        return VIO_E_IRQ;
    d->irq_slot = pci->irq_slot;
    uint64_t ntfn_slot = srv_free_slot();
    if (!ntfn_slot)
        return VIO_E_NO_MEMORY;
    if (keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, ntfn_slot, 0) != KE_OK)
        return VIO_E_NO_MEMORY;
    d->ntfn_slot = ntfn_slot;
    uint64_t apic_id = 0;
    if (keel_irq_bind_to(d->irq_slot, ntfn_slot, VIO_BIT_IRQ, &apic_id) != KE_OK || apic_id > 0xff)
        return VIO_E_IRQ;
    if (bind && keel_ntfn_bind(ntfn_slot) != KE_OK)
        return VIO_E_IRQ;
    if (d->use_msix) {
        /* Entry 0 (PCI 3.0 6.8.2): address and data first, then unmask.
         * The entry is masked until the last store, and uncached stores stay
         * in order, so the device never sees a half-written entry.  Address:
         * the local APIC of the core this driver runs on (SYS_IRQ_BIND
         * said which; Intel SDM 3 10.11.1: destination id in bits 12-19),
         * physical destination mode; data: the vector, fixed delivery, edge. */
        vio_mmio_w32(&d->msix->addr_lo, MSIX_MSG_ADDR | (uint32_t)(apic_id << 12));
        vio_mmio_w32(&d->msix->addr_hi, 0);
        vio_mmio_w32(&d->msix->data, pci->irq_vector & 0xffu);
        vio_mmio_w32(&d->msix->vector_ctrl, vio_mmio_r32(&d->msix->vector_ctrl) & ~MSIX_VECTOR_MASKED);
    }
    return VIO_OK;
}

uint8_t vio_irq_cause(struct vio_dev *d)
{
    if (!d->use_msix)
        return vio_mmio_r8(d->isr); /* read-to-clear; deasserts INTx */
    uint8_t gen = vio_config_generation(d);
    if (gen == d->cfg_gen)
        return VIRTIO_ISR_QUEUE;
    d->cfg_gen = gen;
    return VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG;
}

void vio_irq_ack(struct vio_dev *d) { (void)keel_irq_ack(d->irq_slot); }

/* ------------------------------------------------------ the handshake -- */

int vio_reset(struct vio_dev *d)
{
    vio_mmio_w8(&d->common->device_status, 0);
    uint64_t t0 = keel_now_ns();
    /* Spec 4.1.4.3.2: wait until device_status reads 0; only then is the
     * reset done (queues disabled, no DMA in flight). */
    while (status_read(d) != 0) {
        if (keel_now_ns() - t0 > VIO_RESET_TIMEOUT_NS)
            return VIO_E_RESET;
        keel_yield();
    }
    return VIO_OK;
}

void vio_stop(struct vio_dev *d)
{
    if (d->common && vio_reset(d) != VIO_OK)
        ulog("virtio: the device did not finish its reset");
}

static uint64_t device_features(struct vio_dev *d)
{
    vio_mmio_w32(&d->common->device_feature_select, 0);
    uint64_t lo = vio_mmio_r32(&d->common->device_feature);
    vio_mmio_w32(&d->common->device_feature_select, 1);
    uint64_t hi = vio_mmio_r32(&d->common->device_feature);
    return lo | hi << 32;
}

static void driver_features(struct vio_dev *d, uint64_t f)
{
    vio_mmio_w32(&d->common->driver_feature_select, 0);
    vio_mmio_w32(&d->common->driver_feature, (uint32_t)f);
    vio_mmio_w32(&d->common->driver_feature_select, 1);
    vio_mmio_w32(&d->common->driver_feature, (uint32_t)(f >> 32));
}

int vio_negotiate(struct vio_dev *d, uint64_t wanted, uint64_t required)
{
    /* The device has been reset (vio_reset), so it holds no queue address
     * of a dead predecessor: init may now turn bus mastering on, which it
     * keeps off until the driver asks (abi/keel/init.h INIT_PCI_DMA). */
    struct keel_msg dma = { .info = INIT_PCI_DMA };
    if (keel_call(SRV_SLOT_INIT, &dma) != 0 || keel_label(&dma) != 0)
        ulog("virtio: init refused bus mastering; the device cannot DMA\n");
    status_set(d, VIRTIO_STATUS_ACKNOWLEDGE);
    status_set(d, VIRTIO_STATUS_DRIVER);
    required |= VIRTIO_F_VERSION_1; /* modern interface only: no legacy layouts */
    uint64_t offered = device_features(d);
    wanted |= VIRTIO_F_ACCESS_PLATFORM; /* DMA through the IOMMU when the device can: header above */
    uint64_t accept = offered & (wanted | required);
    if (!d->said_platform) {
        d->said_platform = true;
        ulog("virtio: device %s VIRTIO_F_ACCESS_PLATFORM: its DMA %s\n",
             (offered & VIRTIO_F_ACCESS_PLATFORM) ? "offers" : "does not offer",
             (offered & VIRTIO_F_ACCESS_PLATFORM) ? "goes through the IOMMU (if any)" : "bypasses any IOMMU");
    }
    if ((accept & required) != required) {
        ulog("virtio: device offers features %#lx, lacks required %#lx", (unsigned long)offered,
             (unsigned long)(required & ~accept));
        status_set(d, VIRTIO_STATUS_FAILED);
        return VIO_E_FEATURES;
    }
    driver_features(d, accept);
    status_set(d, VIRTIO_STATUS_FEATURES_OK);
    /* Spec 3.1.1 step 6: FEATURES_OK must still read back set, or the device
     * does not support this subset. */
    if (!(status_read(d) & VIRTIO_STATUS_FEATURES_OK)) {
        status_set(d, VIRTIO_STATUS_FAILED);
        return VIO_E_FEATURES;
    }
    d->features = accept;
    /* The driver reads the configuration after this; a change after this
     * read shows as a new generation at the next interrupt. */
    d->cfg_gen = vio_config_generation(d);
    if (d->use_msix) {
        vio_mmio_w16(&d->common->config_msix_vector, 0);
        /* Spec 4.1.5.1.2: a refused vector reads back as NO_VECTOR. */
        if (vio_mmio_r16(&d->common->config_msix_vector) != 0) {
            status_set(d, VIRTIO_STATUS_FAILED);
            return VIO_E_MSIX;
        }
    }
    return VIO_OK;
}

int vio_driver_ok(struct vio_dev *d)
{
    status_set(d, VIRTIO_STATUS_DRIVER_OK);
    if (status_read(d) & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_NEEDS_RESET))
        return VIO_E_DEVICE;
    return VIO_OK;
}

bool vio_needs_reset(struct vio_dev *d) { return (status_read(d) & VIRTIO_STATUS_NEEDS_RESET) != 0; }

/* ------------------------------------------------------- DMA arena ---- */

void vio_dma_reset(struct vio_dev *d)
{
    volatile uint8_t *p = d->dma_va;
    for (size_t i = 0; i < d->dma_used; i++)
        p[i] = 0;
    d->dma_used = 0;
}

int vio_dma_alloc(struct vio_dev *d, size_t bytes, size_t align, void **va, uint64_t *phys)
{
    if (align == 0 || (align & (align - 1)) || align > PAGE_SIZE || bytes == 0)
        return VIO_E_INVAL;
    size_t off = (d->dma_used + align - 1) & ~(align - 1);
    if (off > d->dma_size || bytes > d->dma_size - off)
        return VIO_E_NO_MEMORY;
    d->dma_used = off + bytes;
    *va = d->dma_va + off;
    *phys = d->dma_phys + off;
    return VIO_OK;
}

/* ----------------------------------------------------------- queues ---- */

int vio_queue_setup(struct vio_dev *d, struct virtq *q, uint16_t index, uint16_t max_size)
{
    volatile struct virtio_pci_common_cfg *c = d->common;
    if (index >= vio_mmio_r16(&c->num_queues))
        return VIO_E_QUEUE;
    vio_mmio_w16(&c->queue_select, index);
    uint16_t dev_max = vio_mmio_r16(&c->queue_size);
    if (dev_max == 0 || vio_mmio_r16(&c->queue_enable) != 0)
        return VIO_E_QUEUE; /* no such queue, or live although we reset */
    /* The smallest of the device's maximum, ours and the caller's, rounded
     * down to a power of two (split queues must be, spec 2.7). */
    uint16_t want = dev_max < max_size ? dev_max : max_size;
    if (want > VQ_MAX_SIZE)
        want = VQ_MAX_SIZE;
    uint16_t size = 1;
    while ((uint16_t)(size * 2) <= want && size * 2 <= VQ_MAX_SIZE)
        size = (uint16_t)(size * 2);
    void *mem;
    uint64_t phys;
    int err = vio_dma_alloc(d, vq_mem_bytes(size), PAGE_SIZE, &mem, &phys);
    if (err)
        return err;
    if ((err = vq_init(q, index, size, mem, phys, (d->features & VIRTIO_F_RING_EVENT_IDX) != 0)))
        return err;
    vio_mmio_w16(&c->queue_size, size);
    vio_mmio_w32(&c->queue_desc_lo, (uint32_t)q->desc_phys);
    vio_mmio_w32(&c->queue_desc_hi, (uint32_t)(q->desc_phys >> 32));
    vio_mmio_w32(&c->queue_driver_lo, (uint32_t)q->avail_phys);
    vio_mmio_w32(&c->queue_driver_hi, (uint32_t)(q->avail_phys >> 32));
    vio_mmio_w32(&c->queue_device_lo, (uint32_t)q->used_phys);
    vio_mmio_w32(&c->queue_device_hi, (uint32_t)(q->used_phys >> 32));
    if (d->use_msix) {
        vio_mmio_w16(&c->queue_msix_vector, 0);
        if (vio_mmio_r16(&c->queue_msix_vector) != 0)
            return VIO_E_MSIX; /* spec 4.1.5.1.2: refused */
    }
    int64_t off = vpci_notify_offset(&d->layout, vio_mmio_r16(&c->queue_notify_off));
    if (off < 0)
        return (int)off;
    q->doorbell = (volatile uint16_t *)(d->notify + off);
    /* The ring memory was zeroed and its addresses written before this
     * uncached store, which x86 keeps in order after them. */
    vio_mmio_w16(&c->queue_enable, 1);
    return VIO_OK;
}

void vio_kick(struct vio_dev *d, struct virtq *q)
{
    (void)d;
    /* vq_publish ends with a full fence, so the device sees the new idx
     * before the doorbell store (and uncached stores are never reordered
     * before earlier stores anyway). */
    if (vq_publish(q))
        vio_mmio_w16(q->doorbell, q->index); /* without NOTIFICATION_DATA: the queue index */
}

/* ---------------------------------------------- device configuration --- */

uint8_t vio_config_generation(struct vio_dev *d) { return vio_mmio_r8(&d->common->config_generation); }

int vio_cfg_read8(struct vio_dev *d, uint32_t off, uint8_t *v)
{
    if (!d->device_cfg || off >= d->device_cfg_len)
        return VIO_E_BAR;
    *v = vio_mmio_r8(d->device_cfg + off);
    return VIO_OK;
}

int vio_cfg_read16(struct vio_dev *d, uint32_t off, uint16_t *v)
{
    if (!d->device_cfg || off % 2 || d->device_cfg_len < 2 || off > d->device_cfg_len - 2)
        return VIO_E_BAR;
    *v = vio_mmio_r16((volatile uint16_t *)(d->device_cfg + off));
    return VIO_OK;
}

int vio_cfg_read32(struct vio_dev *d, uint32_t off, uint32_t *v)
{
    if (!d->device_cfg || off % 4 || d->device_cfg_len < 4 || off > d->device_cfg_len - 4)
        return VIO_E_BAR;
    *v = vio_mmio_r32((volatile uint32_t *)(d->device_cfg + off));
    return VIO_OK;
}
