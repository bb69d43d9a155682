/*
 * pci.c - PCI configuration space, owned by init alone: through ECAM (the
 * memory-mapped window ACPI's MCFG describes) where the board has one, else
 * through ports 0xcf8/0xcfc (mechanism #1).
 *
 * Enumeration walks every bus and slot (function 0, and 1-7 when function 0
 * says it is multi-function).  BARs are sized the usual way, with decoding
 * off while the all-ones pattern is in place, so the device never decodes
 * a bogus window.  Writes to configuration space happen only here, at the
 * moment a device is handed to its driver (and when it is taken back).
 * INTx routing assumes QEMU's q35 board, whose chipset sends slot S pin P
 * to PIRQ (S + P - 1) % 4 + 4, i.e. GSI 20-23; drivers should prefer MSI-X
 * or MSI, which need no board knowledge.
 */
#include "pci.h"

#include <keel/boot.h>
#include <keel/syscall.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "manifest.h"

#define CONFIG_ADDRESS     0xcf8
#define CONFIG_DATA        0xcfc
#define PCI_COMMAND        0x04
#define CMD_IO             (1u << 0)
#define CMD_MEM            (1u << 1)
#define CMD_BUS_MASTER     (1u << 2)
#define CMD_INTX_DISABLE   (1u << 10)
#define PCI_HEADER_TYPE    0x0e
#define PCI_BAR0           0x10
#define PCI_CAP_PTR        0x34
#define PCI_INT_PIN        0x3d
#define PCI_STATUS_CAPS    (1u << 4)
#define CAP_MSI            0x05
#define CAP_MSIX           0x11
#define MSIX_ENABLE        (1u << 15)
#define MSIX_FUNCTION_MASK (1u << 14)
#define MSI_ENABLE         (1u << 0)
#define MSI_64BIT          (1u << 7)
#define MSI_ADDRESS        0xfee00000u /* the boot CPU's LAPIC, physical destination 0 */

static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static uint32_t cfg_addr(const struct pci_device *d, unsigned off)
{
    return 0x80000000u | ((uint32_t)d->bus << 16) | ((uint32_t)d->dev << 11) | ((uint32_t)d->fn << 8) | (off & 0xfc);
}

/* ECAM (PCIe memory-mapped configuration, from ACPI MCFG), when the board
 * has it: the first ECAM_MAX_BUSES buses are mapped; others use the ports. */
#define ECAM_VA        0x0000003000000000ull
#define ECAM_MAX_BUSES 32
static volatile uint8_t *ecam;
static unsigned ecam_first, ecam_last;

static volatile uint32_t *ecam_reg(const struct pci_device *d, unsigned off)
{
    if (!ecam || d->bus < ecam_first || d->bus > ecam_last)
        return NULL;
    uint64_t o =
        ((uint64_t)(d->bus - ecam_first) << 20) | ((uint64_t)d->dev << 15) | ((uint64_t)d->fn << 12) | (off & 0xffc);
    return (volatile uint32_t *)(ecam + o);
}

static uint32_t cfg_read32(const struct pci_device *d, unsigned off)
{
    volatile uint32_t *r = ecam_reg(d, off);
    if (r)
        return *r;
    outl(CONFIG_ADDRESS, cfg_addr(d, off));
    return inl(CONFIG_DATA);
}

static void cfg_write32(const struct pci_device *d, unsigned off, uint32_t v)
{
    volatile uint32_t *r = ecam_reg(d, off);
    if (r) {
        *r = v;
        return;
    }
    outl(CONFIG_ADDRESS, cfg_addr(d, off));
    outl(CONFIG_DATA, v);
}

/* Maps the ECAM window of the first buses through an MMIO capability. */
static void ecam_init(const struct keel_bootinfo *bi, uint64_t slot)
{
    if (!bi->ecam_phys || bi->ecam_bus_end < bi->ecam_bus_start)
        return;
    unsigned buses = bi->ecam_bus_end - bi->ecam_bus_start + 1;
    if (buses > ECAM_MAX_BUSES)
        buses = ECAM_MAX_BUSES;
    uint64_t pages = (uint64_t)buses * 256; /* 1 MiB per bus */
    if (keel_mmio_get(INIT_SLOT_MMIO_CONTROL, bi->ecam_phys, pages, slot) ||
        keel_map(INIT_SLOT_TASK, slot, ECAM_VA, RIGHT_READ | RIGHT_WRITE)) {
        ulog("keel: init: ECAM at 0x%llx cannot be mapped; using ports 0xcf8/0xcfc\n",
             (unsigned long long)bi->ecam_phys);
        return;
    }
    ecam = (volatile uint8_t *)ECAM_VA;
    ecam_first = bi->ecam_bus_start;
    ecam_last = bi->ecam_bus_start + buses - 1;
    ulog("keel: init: PCI configuration through ECAM at 0x%llx (buses %u-%u)\n", (unsigned long long)bi->ecam_phys,
         ecam_first, ecam_last);
}

static uint16_t cfg_read16(const struct pci_device *d, unsigned off)
{
    return (uint16_t)(cfg_read32(d, off) >> ((off & 2) * 8));
}

static void cfg_write16(const struct pci_device *d, unsigned off, uint16_t v)
{
    uint32_t w = cfg_read32(d, off);
    unsigned shift = (off & 2) * 8;
    w = (w & ~(0xffffu << shift)) | ((uint32_t)v << shift);
    cfg_write32(d, off, w);
}

void pci_read_config(const struct pci_device *d, uint8_t out[256])
{
    for (unsigned off = 0; off < 256; off += 4) {
        uint32_t v = cfg_read32(d, off);
        for (unsigned i = 0; i < 4; i++)
            out[off + i] = (uint8_t)(v >> (8 * i));
    }
}

/* Sizes every BAR with decoding off; restores the original values. */
static void size_bars(struct pci_device *d)
{
    uint16_t cmd = cfg_read16(d, PCI_COMMAND);
    cfg_write16(d, PCI_COMMAND, (uint16_t)(cmd & ~(CMD_IO | CMD_MEM)));
    for (unsigned i = 0; i < 6; i++) {
        unsigned off = PCI_BAR0 + 4 * i;
        uint32_t orig = cfg_read32(d, off);
        cfg_write32(d, off, 0xffffffffu);
        uint32_t probe = cfg_read32(d, off);
        cfg_write32(d, off, orig);
        if (probe == 0 || probe == 0xffffffffu)
            continue;
        if (orig & 1) {
            d->bars[i].kind = BAR_IO;
            d->bars[i].base = orig & ~3u;
            d->bars[i].size = (~(probe & ~3u) + 1) & 0xffff;
            continue;
        }
        uint64_t base = orig & ~0xfu, mask = probe & ~0xfu;
        bool is64 = ((orig >> 1) & 3) == 2;
        if (is64 && i < 5) {
            uint32_t orig_hi = cfg_read32(d, off + 4);
            cfg_write32(d, off + 4, 0xffffffffu);
            uint32_t probe_hi = cfg_read32(d, off + 4);
            cfg_write32(d, off + 4, orig_hi);
            base |= (uint64_t)orig_hi << 32;
            mask |= (uint64_t)probe_hi << 32;
        } else {
            mask |= 0xffffffff00000000ull;
        }
        d->bars[i].kind = BAR_MMIO;
        d->bars[i].base = base;
        d->bars[i].size = ~mask + 1;
        if (is64)
            i++; /* the upper half is not a BAR of its own */
    }
    cfg_write16(d, PCI_COMMAND, cmd);
}

unsigned pci_scan(struct pci_device *devs, unsigned max, uint64_t slot, const struct keel_bootinfo *bi,
                  uint64_t ecam_slot)
{
    ecam_init(bi, ecam_slot);
    if (keel_ioport_get(INIT_SLOT_IOPORT_CONTROL, CONFIG_ADDRESS, 8, slot) || keel_ioport_grant(slot, INIT_SLOT_TASK)) {
        ulog("keel: init: cannot open the PCI configuration ports\n");
        return 0;
    }
    unsigned n = 0;
    for (unsigned bus = 0; bus < 256; bus++) {
        for (unsigned dev = 0; dev < 32; dev++) {
            for (unsigned fn = 0; fn < 8; fn++) {
                struct pci_device probe = { .bus = (uint8_t)bus, .dev = (uint8_t)dev, .fn = (uint8_t)fn };
                uint32_t id = cfg_read32(&probe, 0);
                if ((id & 0xffff) == 0xffff) {
                    if (fn == 0)
                        break;
                    continue;
                }
                if (n < max) {
                    struct pci_device *d = &devs[n++];
                    *d = probe;
                    d->vendor = (uint16_t)id;
                    d->device = (uint16_t)(id >> 16);
                    uint32_t class_reg = cfg_read32(d, 0x08);
                    d->class_code = (uint8_t)(class_reg >> 24);
                    d->subclass = (uint8_t)(class_reg >> 16);
                    if ((cfg_read32(d, PCI_HEADER_TYPE & ~3u) >> 16 & 0x7f) == 0)
                        size_bars(d);
                }
                if (fn == 0 && !(cfg_read32(&probe, PCI_HEADER_TYPE & ~3u) >> 16 & 0x80))
                    break; /* single-function device */
            }
        }
    }
    return n;
}

static bool is_virtio_rng(const struct pci_device *d)
{
    return d->vendor == 0x1af4 && (d->device == 0x1005 || d->device == 0x1044);
}

static bool is_virtio_blk(const struct pci_device *d)
{
    return d->vendor == 0x1af4 && (d->device == 0x1001 || d->device == 0x1042);
}

struct pci_device *pci_select(struct pci_device *devs, unsigned n, unsigned sel, unsigned index)
{
    for (unsigned i = 0; i < n; i++) {
        bool match = sel == PCI_SEL_NET   ? devs[i].class_code == 0x02
                     : sel == PCI_SEL_BLK ? is_virtio_blk(&devs[i])
                                          : is_virtio_rng(&devs[i]);
        if (match && index-- == 0)
            return &devs[i];
    }
    return NULL;
}

/* The offset of capability ID in the device's list, or 0.  Bounded: a
 * looping list cannot hang init. */
static unsigned find_cap(const struct pci_device *d, uint8_t id)
{
    if (!(cfg_read16(d, 0x06) & PCI_STATUS_CAPS))
        return 0;
    unsigned off = cfg_read32(d, PCI_CAP_PTR) & 0xfc;
    for (int guard = 0; off >= 0x40 && guard < 48; guard++) {
        uint32_t w = cfg_read32(d, off);
        if ((w & 0xff) == id)
            return off;
        off = (w >> 8) & 0xfc;
    }
    return 0;
}

bool pci_has_msi(const struct pci_device *d) { return find_cap(d, CAP_MSIX) || find_cap(d, CAP_MSI); }

uint32_t pci_enable(const struct pci_device *d, bool have_msi_vector, uint32_t vector)
{
    /* Bus mastering stays off until the driver has reset the device
     * (INIT_PCI_DMA): after a restart the device may still hold ring
     * addresses in memory that belonged to the dead driver. */
    uint16_t cmd = cfg_read16(d, PCI_COMMAND) & (uint16_t)~CMD_BUS_MASTER;
    for (unsigned i = 0; i < 6; i++) {
        if (d->bars[i].kind == BAR_IO)
            cmd |= CMD_IO;
        if (d->bars[i].kind == BAR_MMIO)
            cmd |= CMD_MEM;
    }
    uint32_t kind = PCI_IRQ_INTX;
    unsigned msix = find_cap(d, CAP_MSIX), msi = find_cap(d, CAP_MSI);
    if (have_msi_vector && msix) {
        uint16_t ctl = cfg_read16(d, msix + 2);
        cfg_write16(d, msix + 2, (uint16_t)((ctl | MSIX_ENABLE) & ~MSIX_FUNCTION_MASK));
        cmd |= CMD_INTX_DISABLE;
        kind = PCI_IRQ_MSIX;
    } else if (have_msi_vector && msi) {
        uint16_t ctl = cfg_read16(d, msi + 2);
        cfg_write32(d, msi + 4, MSI_ADDRESS);
        if (ctl & MSI_64BIT) {
            cfg_write32(d, msi + 8, 0);
            cfg_write16(d, msi + 12, (uint16_t)vector);
        } else {
            cfg_write16(d, msi + 8, (uint16_t)vector);
        }
        cfg_write16(d, msi + 2, (uint16_t)((ctl & ~(7u << 4)) | MSI_ENABLE)); /* one vector */
        cmd |= CMD_INTX_DISABLE;
        kind = PCI_IRQ_MSI;
    } else {
        cmd &= (uint16_t)~CMD_INTX_DISABLE;
    }
    cfg_write16(d, PCI_COMMAND, cmd);
    return kind;
}

void pci_enable_dma(const struct pci_device *d)
{
    cfg_write16(d, PCI_COMMAND, (uint16_t)(cfg_read16(d, PCI_COMMAND) | CMD_BUS_MASTER));
}

void pci_disable_dma(const struct pci_device *d)
{
    cfg_write16(d, PCI_COMMAND, (uint16_t)(cfg_read16(d, PCI_COMMAND) & ~CMD_BUS_MASTER));
}

/* The board, from the host bridge at 00:00.0: q35 (8086:29c0) or
 * i440FX (8086:1237). */
static bool board_is_i440fx(void)
{
    struct pci_device host = { 0 };
    return cfg_read32(&host, 0) == 0x12378086u;
}

int64_t pci_intx_line(const struct pci_device *d)
{
    uint32_t reg = cfg_read32(d, 0x3c);
    uint32_t pin = (reg >> 8) & 0xff, line = reg & 0xff;
    if (pin < 1 || pin > 4)
        return -1;
    if (board_is_i440fx()) {
        /* PIIX routes PIRQ A-D to the ISA lines the firmware chose and
         * wrote into Interrupt Line; they reach the IOAPIC at the same
         * number, level-triggered and active high. */
        if (line == 0 || line >= 16)
            return -1;
        return (int64_t)(line | KEEL_IRQ_GSI_LEVEL_HIGH);
    }
    /* q35: ICH9 sends slot S pin P to PIRQ (S + P - 1) % 4 + 4 = GSI 20-23. */
    return 16 + 4 + (int64_t)((d->dev + pin - 1) % 4);
}
