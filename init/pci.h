/*
 * pci.h - init's view of the PCI bus: enumeration, BAR sizing, and handing
 * one device to one driver (abi/keel/pci.h says what the driver gets).
 */
#ifndef KEEL_INIT_PCI_H
#define KEEL_INIT_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/boot.h>
#include <keel/pci.h>

#define PCI_MAX_DEVICES 64

struct pci_device {
    uint8_t bus, dev, fn;
    uint16_t vendor, device;
    uint8_t class_code, subclass;
    struct {
        uint32_t kind; /* enum keel_bar_kind */
        uint64_t base, size;
    } bars[6];
    bool claimed;
};

/* Uses ECAM (ACPI MCFG, from the boot information; the MMIO capability goes
 * to ECAM_SLOT) for the buses it covers, opens ports 0xcf8-0xcff for the
 * rest (IOPORT_CONTROL; the capability goes to SLOT), and scans every bus.  Returns the number of functions
 * found (at most max). */
unsigned pci_scan(struct pci_device *devs, unsigned max, uint64_t slot, const struct keel_bootinfo *bi,
                  uint64_t ecam_slot);
/* The INDEXth device of kind SEL (PCI_SEL_NET / PCI_SEL_RNG), or NULL. */
struct pci_device *pci_select(struct pci_device *devs, unsigned n, unsigned sel, unsigned index);
/* Turns on decoding (bus mastering stays off) and programs the interrupt:
 * MSI-X (enable, function unmasked, entries left masked) or MSI (address,
 * data = VECTOR) when the device has one, else nothing (INTx).  Returns the
 * PCI_IRQ_* kind the driver should use. */
uint32_t pci_enable(const struct pci_device *d, bool have_msi_vector, uint32_t vector);
/* Bus mastering on, once the driver has reset the device (INIT_PCI_DMA). */
void pci_enable_dma(const struct pci_device *d);
/* Bus mastering off: the device can no longer DMA (before its driver's
 * memory is released). */
void pci_disable_dma(const struct pci_device *d);
/* The SYS_IRQ_GET line for the device's INTx pin: on q35 the GSI (PIRQ
 * E-H, 20-23); on i440FX the firmware's Interrupt Line with
 * KEEL_IRQ_GSI_LEVEL_HIGH; -1 when the device has no pin. */
int64_t pci_intx_line(const struct pci_device *d);
bool pci_has_msi(const struct pci_device *d);
void pci_read_config(const struct pci_device *d, uint8_t out[256]);

#endif
