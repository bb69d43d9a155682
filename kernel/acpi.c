/*
 * acpi.c - finding the RSDP and reading the MADT and MCFG.
 *
 * Layouts from the ACPI 6.4 specification: RSDP 5.2.5.3, SDT header 5.2.6,
 * MADT 5.2.12, MCFG in the PCI Firmware Specification 3.2, 4.1.2.
 * Tables are firmware input: every length is checked against the mapped
 * window and every checksum verified; a bad table is skipped, not trusted.
 * The RSDP is searched in the first KiB of the EBDA and in 0xe0000-0xfffff
 * (ACPI 5.2.5.1) when the loader gives no pointer to it (multiboot v1 has
 * none; keel.efi passes the one in the EFI configuration table, 5.2.5.2).
 */
#include "acpi.h"

#include <stddef.h>

#include "kstring.h"
#include "log.h"
#include "vm.h"

struct rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_addr;
    uint32_t length; /* revision >= 2 from here on */
    uint64_t xsdt_addr;
    uint8_t ext_checksum;
    uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct rsdp) == 36, "RSDP layout");

#define MADT_LAPIC_ADDR_OFF 36
#define MADT_ENTRIES_OFF    44
#define MADT_TYPE_LAPIC     0
#define MADT_TYPE_IOAPIC    1
#define MADT_TYPE_OVERRIDE  2
#define MCFG_ENTRIES_OFF    44
#define ACPI_MAX_TABLE_LEN  (1u << 20) /* anything larger is corrupt */

static bool checksum_ok(const void *p, uint32_t len)
{
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; i++)
        sum += ((const uint8_t *)p)[i];
    return sum == 0;
}

static const struct rsdp *scan_rsdp(uint64_t start, uint64_t len)
{
    for (uint64_t p = start; p + sizeof(struct rsdp) <= start + len; p += 16) {
        const struct rsdp *r = phys_to_virt(p);
        if (memcmp(r->signature, "RSD PTR ", 8) == 0 && checksum_ok(r, 20))
            return r;
    }
    return NULL;
}

/* Maps a table (header first, then its full length) and validates it. */
static const struct acpi_sdt_header *map_table(uint64_t phys)
{
    if (!phys)
        return NULL;
    const struct acpi_sdt_header *h = (const void *)vm_map_mmio(phys, sizeof *h);
    if (h->length < sizeof *h || h->length > ACPI_MAX_TABLE_LEN)
        return NULL;
    h = (const void *)vm_map_mmio(phys, h->length);
    return checksum_ok(h, h->length) ? h : NULL;
}

static void parse_madt(const struct acpi_sdt_header *madt, struct acpi_info *out)
{
    const uint8_t *base = (const uint8_t *)madt;
    uint32_t lapic;
    memcpy(&lapic, base + MADT_LAPIC_ADDR_OFF, 4);
    out->lapic_phys = lapic;
    for (uint32_t off = MADT_ENTRIES_OFF; off + 2 <= madt->length;) {
        uint8_t type = base[off], len = base[off + 1];
        if (len < 2 || off + len > madt->length)
            break;
        const uint8_t *e = base + off;
        if (type == MADT_TYPE_LAPIC && len >= 8 && (e[4] & 1)) {
            /* Processor Local APIC (5.2.12.2): uid e[2], APIC id e[3], flags e[4]. */
            if (out->n_cpus < ACPI_MAX_CPUS)
                out->cpu_apic_ids[out->n_cpus++] = e[3];
        } else if (type == MADT_TYPE_IOAPIC && len >= 12 && !out->ioapic_phys) {
            uint32_t addr, gsi;
            memcpy(&addr, e + 4, 4);
            memcpy(&gsi, e + 8, 4);
            out->ioapic_phys = addr;
            out->ioapic_gsi_base = gsi;
        } else if (type == MADT_TYPE_OVERRIDE && len >= 10 && e[3] < 16) {
            uint32_t gsi;
            uint16_t flags;
            memcpy(&gsi, e + 4, 4);
            memcpy(&flags, e + 8, 2);
            struct acpi_irq_override *o = &out->isa[e[3]];
            o->gsi = gsi;
            /* MPS INTI flags: polarity bits 0-1 (3 = low), trigger bits 2-3 (3 = level). */
            o->active_low = (flags & 3) == 3;
            o->level_triggered = ((flags >> 2) & 3) == 3;
        }
        off += len;
    }
}

static void parse_mcfg(const struct acpi_sdt_header *mcfg, struct acpi_info *out)
{
    /* Entries: base (8), segment (2), start bus (1), end bus (1), reserved (4). */
    if (mcfg->length < MCFG_ENTRIES_OFF + 16)
        return;
    const uint8_t *e = (const uint8_t *)mcfg + MCFG_ENTRIES_OFF;
    memcpy(&out->ecam_phys, e, 8);
    out->ecam_bus_start = e[10];
    out->ecam_bus_end = e[11];
}

static void visit_table(uint64_t phys, struct acpi_info *out)
{
    const struct acpi_sdt_header *t = map_table(phys);
    if (!t)
        return;
    if (memcmp(t->signature, "APIC", 4) == 0)
        parse_madt(t, out);
    else if (memcmp(t->signature, "MCFG", 4) == 0)
        parse_mcfg(t, out);
    else if (memcmp(t->signature, "DMAR", 4) == 0 && t->length >= 48)
        out->dmar_phys = phys; /* length and checksum checked: iommu.c walks it */
}

/* The loader's RSDP, mapped and checked like the tables it leads to. */
static const struct rsdp *given_rsdp(uint64_t phys)
{
    const struct rsdp *r = (const void *)vm_map_mmio(phys, sizeof *r);
    if (memcmp(r->signature, "RSD PTR ", 8) != 0 || !checksum_ok(r, 20)) {
        kprintf("keel: acpi: the loader's RSDP at 0x%llx is invalid; searching the BIOS areas\n",
                (unsigned long long)phys);
        return NULL;
    }
    return r;
}

void acpi_init(struct acpi_info *out, uint64_t rsdp_phys)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 16; i++)
        out->isa[i].gsi = (uint32_t)i;
    out->lapic_phys = 0xfee00000;
    out->ioapic_phys = 0;

    uint16_t ebda_seg = *(const uint16_t *)phys_to_virt(0x40e);
    const struct rsdp *r = rsdp_phys ? given_rsdp(rsdp_phys) : NULL;
    if (!r && ebda_seg)
        r = scan_rsdp((uint64_t)ebda_seg << 4, 1024);
    if (!r)
        r = scan_rsdp(0xe0000, 0x20000);
    if (!r) {
        kprintf("keel: acpi: no RSDP; using default APIC addresses\n");
        out->ioapic_phys = 0xfec00000;
        out->n_cpus = 1;
        return;
    }
    bool use_xsdt = r->revision >= 2 && r->length == sizeof *r && r->xsdt_addr && checksum_ok(r, sizeof *r);
    const struct acpi_sdt_header *root = map_table(use_xsdt ? r->xsdt_addr : r->rsdt_addr);
    if (!root) {
        kprintf("keel: acpi: root table invalid; using default APIC addresses\n");
        out->ioapic_phys = 0xfec00000;
        out->n_cpus = 1;
        return;
    }
    uint32_t entry_size = use_xsdt ? 8 : 4;
    uint32_t n = (root->length - sizeof *root) / entry_size;
    const uint8_t *entries = (const uint8_t *)root + sizeof *root;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t phys = 0;
        memcpy(&phys, entries + i * entry_size, entry_size);
        visit_table(phys, out);
    }
    out->found = true;
    if (!out->ioapic_phys)
        out->ioapic_phys = 0xfec00000;
    if (!out->n_cpus)
        out->n_cpus = 1;
}
