/*
 * acpi.h - what the kernel reads from the firmware's ACPI tables.
 *
 * Only the MADT (LAPIC and IOAPIC addresses, ISA interrupt overrides),
 * MCFG (PCI ECAM, for the PCI issue) and DMAR (VT-d, found here and read by
 * iommu.c) are used.  Without ACPI the kernel falls
 * back to the architectural defaults and says so in the log.
 */
#ifndef KEEL_ACPI_H
#define KEEL_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 64

/* The header every ACPI system description table starts with (ACPI 6.5
 * §5.2.6); LENGTH covers the whole table, header included. */
struct acpi_sdt_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_sdt_header) == 36, "SDT header layout");

struct acpi_irq_override {
    uint32_t gsi;
    bool active_low;
    bool level_triggered;
};

struct acpi_info {
    bool found;
    uint64_t lapic_phys;
    uint64_t ioapic_phys;
    uint32_t ioapic_gsi_base;
    uint32_t n_cpus;
    uint8_t cpu_apic_ids[ACPI_MAX_CPUS]; /* enabled processors' LAPIC ids, MADT order */
    uint64_t ecam_phys;                  /* 0 when there is no MCFG */
    uint8_t ecam_bus_start, ecam_bus_end;
    struct acpi_irq_override isa[16]; /* ISA IRQ -> GSI, identity by default */
    uint64_t dmar_phys;               /* the VT-d DMAR table (checked), or 0 (iommu.c reads it) */
};

/* Reads the tables.  rsdp_phys: where the loader says the RSDP is (keel.efi
 * passes the EFI configuration table's); 0 searches the BIOS areas. */
void acpi_init(struct acpi_info *out, uint64_t rsdp_phys);

#endif
