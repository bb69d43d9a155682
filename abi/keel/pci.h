/*
 * keel/pci.h - what init tells a driver about the one PCI device it owns.
 *
 * init owns PCI configuration space (port 0xcf8/0xcfc).  For a server whose
 * manifest line says `pci net N` (the Nth network controller on the bus) or
 * `pci rng N` (the Nth virtio entropy device), init finds the device, turns
 * on memory/I/O decoding (bus mastering only when the driver asks, with
 * INIT_PCI_DMA, after resetting the device), hands the driver its BARs (MMIO
 * as frame capabilities, I/O BARs as port ranges opened in its bitmap), an
 * interrupt, and this description in its server-information page.  The
 * driver never touches configuration space itself; the snapshot below has
 * everything it needs to read (virtio capabilities, the MSI-X table's BAR
 * and offset), and init has already done the writes:
 *   MSI-X:  enabled, function mask off, every table entry still masked; the
 *           driver writes entry 0 (address 0xfee00000, data = irq.vector)
 *           and unmasks it.
 *   MSI:    address/data programmed with irq.vector and enabled.
 *   INTx:   irq is the IOAPIC line (level, active low).
 */
#ifndef KEEL_ABI_PCI_H
#define KEEL_ABI_PCI_H

#include <stdint.h>

enum keel_bar_kind { BAR_NONE = 0, BAR_MMIO = 1, BAR_IO = 2 };
enum keel_irq_kind { PCI_IRQ_NONE = 0, PCI_IRQ_MSIX = 1, PCI_IRQ_MSI = 2, PCI_IRQ_INTX = 3 };

struct keel_pci_bar {
    uint32_t kind; /* enum keel_bar_kind */
    uint32_t slot; /* MMIO: frame capability slot (map it anywhere); IO: ioport capability slot */
    uint64_t base; /* physical address or first port */
    uint64_t size; /* bytes (MMIO: whole pages) or ports */
};
_Static_assert(sizeof(struct keel_pci_bar) == 24, "pci bar layout");

struct keel_pci_info {
    uint32_t present; /* 1 when init found and granted a device */
    uint8_t bus, dev, fn, reserved0;
    uint16_t vendor, device;
    uint8_t class_code, subclass, prog_if, revision;
    struct keel_pci_bar bars[6];
    uint32_t irq_kind;   /* enum keel_irq_kind */
    uint32_t irq_slot;   /* IRQ capability slot */
    uint32_t irq_vector; /* MSI-X/MSI: the vector to write as data */
    uint32_t reserved1;
    uint8_t config[256]; /* configuration space as init left it */
};
_Static_assert(sizeof(struct keel_pci_info) == 16 + 144 + 16 + 256, "pci info layout");

#endif
