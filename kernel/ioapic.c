/*
 * ioapic.c - the I/O APIC: every redirection entry masked at start, then
 * routed one GSI at a time for the driver that owns it.
 *
 * Registers: the 82093AA datasheet, section 3 (IOREGSEL at 0x00, IOWIN at
 * 0x10; version register 0x01; redirection table from 0x10, two 32-bit
 * registers per entry).  Delivery is fixed, physical, to the boot CPU.
 */
#include "apic.h"
#include "log.h"
#include "vm.h"

#define IOREGSEL         0x00
#define IOWIN            0x10
#define IOAPIC_VER       0x01
#define IOAPIC_REDTBL(n) (0x10 + 2 * (n))
#define RTE_MASKED       (1u << 16)
#define RTE_LEVEL        (1u << 15)
#define RTE_ACTIVE_LOW   (1u << 13)

static volatile uint32_t *ioapic_regs;
static uint32_t gsi_base;
static uint32_t gsi_count;

static uint32_t ioapic_read(uint32_t reg)
{
    ioapic_regs[IOREGSEL / 4] = reg;
    return ioapic_regs[IOWIN / 4];
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
    ioapic_regs[IOREGSEL / 4] = reg;
    ioapic_regs[IOWIN / 4] = v;
}

void ioapic_init(const struct acpi_info *acpi)
{
    ioapic_regs = (volatile uint32_t *)vm_map_mmio(acpi->ioapic_phys, 4096);
    gsi_base = acpi->ioapic_gsi_base;
    gsi_count = ((ioapic_read(IOAPIC_VER) >> 16) & 0xff) + 1;
    for (uint32_t i = 0; i < gsi_count; i++) {
        ioapic_write(IOAPIC_REDTBL(i), RTE_MASKED);
        ioapic_write(IOAPIC_REDTBL(i) + 1, 0);
    }
}

uint32_t ioapic_gsi_count(void) { return gsi_count; }
bool ioapic_has_gsi(uint32_t gsi) { return gsi >= gsi_base && gsi - gsi_base < gsi_count; }

static bool gsi_index(uint32_t gsi, uint32_t *idx)
{
    if (gsi < gsi_base || gsi - gsi_base >= gsi_count)
        return false;
    *idx = gsi - gsi_base;
    return true;
}

bool ioapic_route(uint32_t gsi, uint8_t vector, bool active_low, bool level)
{
    uint32_t i;
    if (!gsi_index(gsi, &i))
        return false;
    uint32_t lo = vector | RTE_MASKED | (active_low ? RTE_ACTIVE_LOW : 0) | (level ? RTE_LEVEL : 0);
    ioapic_write(IOAPIC_REDTBL(i) + 1, lapic_id() << 24);
    ioapic_write(IOAPIC_REDTBL(i), lo);
    return true;
}

void ioapic_route_to(uint32_t gsi, uint32_t apic_id)
{
    uint32_t i;
    if (gsi_index(gsi, &i))
        ioapic_write(IOAPIC_REDTBL(i) + 1, apic_id << 24); /* physical destination (82093AA 3.2.4) */
}

void ioapic_mask(uint32_t gsi)
{
    uint32_t i;
    if (gsi_index(gsi, &i))
        ioapic_write(IOAPIC_REDTBL(i), ioapic_read(IOAPIC_REDTBL(i)) | RTE_MASKED);
}

void ioapic_unmask(uint32_t gsi)
{
    uint32_t i;
    if (gsi_index(gsi, &i))
        ioapic_write(IOAPIC_REDTBL(i), ioapic_read(IOAPIC_REDTBL(i)) & ~RTE_MASKED);
}
