/*
 * iommu.c - the Intel VT-d DMA-remapping units (Intel VT-d specification
 * rev. 4.1: DMAR table §8, root/context entries §9.1-9.3, registers §11.4,
 * fault recording §7.2-7.3, register-based invalidation §6.5.1).
 *
 * What it does: reads the DMAR table's DRHD units, gives each a root table
 * (legacy mode: one root entry per bus, one context table per bus that has
 * a device with a domain), turns on fault reporting (one interrupt vector,
 * VECTOR_IOMMU_FAULT, on the boot core) and then translation.  From then on
 * a device whose context entry is not present cannot DMA at all; the
 * DMA-space objects (dmaspace.c) make present exactly the devices init
 * handed to drivers, each with its own second-level tables.
 *
 * Invariants:
 *   - a unit's translation is on only with a valid root table (TE after
 *     SRTP), and it stays on until the machine stops;
 *   - every change to a context entry or a present page-table entry is
 *     followed by a context-cache and/or IOTLB invalidation that has
 *     completed (the register's busy bit read clear) before the caller
 *     frees or reuses anything the old entry reached;
 *   - the register pages are never handed to user space (iommu_owns_mmio).
 *
 * Context: all of it under the kernel lock; the fault handler runs as an
 * interrupt handler (under the lock, trap.c) and only reads and clears
 * fault records, then tells dmaspace.c.
 *
 * Not handled (said where it matters): queued invalidation (register-based
 * invalidation is enough for the few changes a driver start makes; QEMU's
 * unit offers both), interrupt remapping (left off: MSIs keep the
 * compatibility format), RMRRs (no device Keel drives has one), device
 * scopes deeper than one bridge-less hop, PCI segments other than 0.
 */
#include "iommu.h"

#include "apic.h"
#include "arch.h"
#include "kstring.h"
#include "log.h"
#include "pmm.h"
#include "smp.h"
#include "trap.h"
#include "vm.h"

#define IOMMU_MAX_UNITS    4
#define IOMMU_SPIN_LIMIT   100000000u /* register polls before we call the unit dead */
#define VECTOR_IOMMU_FAULT 0xe0

/* ---- DMAR table (§8.1-8.3) -------------------------------------------- */

struct dmar_header {
    struct acpi_sdt_header sdt; /* signature "DMAR" */
    uint8_t host_address_width; /* HAW - 1 */
    uint8_t flags;
    uint8_t reserved[10];
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_header) == 48, "DMAR header §8.1");

struct dmar_remap {
    uint16_t type; /* DMAR_TYPE_* */
    uint16_t length;
} __attribute__((packed));

#define DMAR_TYPE_DRHD 0

struct dmar_drhd {
    struct dmar_remap h;
    uint8_t flags; /* DRHD_INCLUDE_PCI_ALL */
    uint8_t size;
    uint16_t segment;
    uint64_t reg_base;
    /* device scopes follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_drhd) == 16, "DRHD §8.3");
#define DRHD_INCLUDE_PCI_ALL 0x01

struct dmar_scope {
    uint8_t type; /* SCOPE_PCI_ENDPOINT, ... */
    uint8_t length;
    uint8_t flags, reserved;
    uint8_t enum_id;
    uint8_t start_bus;
    /* (device, function) pairs follow */
} __attribute__((packed));
_Static_assert(sizeof(struct dmar_scope) == 6, "device scope §8.3.1");
#define SCOPE_PCI_ENDPOINT 1

/* ---- root and context entries (§9.1, §9.3) ---------------------------- */

struct root_entry {
    uint64_t lo; /* RW: bit 0 present, 12-63 context-table pointer */
    uint64_t hi; /* reserved in legacy mode */
};
_Static_assert(sizeof(struct root_entry) == 16, "root entry §9.1");

struct context_entry {
    uint64_t lo; /* RW: bit 0 present, 1 FPD, 2-3 TT, 12-63 SLPTPTR */
    uint64_t hi; /* RW: bits 0-2 AW, 8-23 domain id */
};
_Static_assert(sizeof(struct context_entry) == 16, "context entry §9.3");
#define ENTRY_PRESENT  1ull
#define CTX_TT_SL_ONLY (0ull << 2) /* untranslated requests through second-level tables */
#define CTX_AW_39      1ull
#define CTX_AW_48      2ull
#define CTX_DID_SHIFT  8
#define ENTRY_ADDR     0x000ffffffffff000ull

/* ---- registers (§11.4) ------------------------------------------------ */

#define REG_VER     0x00 /* RO 32 */
#define REG_CAP     0x08 /* RO 64 */
#define REG_ECAP    0x10 /* RO 64 */
#define REG_GCMD    0x18 /* WO 32 */
#define REG_GSTS    0x1c /* RO 32 */
#define REG_RTADDR  0x20 /* RW 64 */
#define REG_CCMD    0x28 /* RW 64 */
#define REG_FSTS    0x34 /* RW1C 32 */
#define REG_FECTL   0x38 /* RW 32 */
#define REG_FEDATA  0x3c /* RW 32 */
#define REG_FEADDR  0x40 /* RW 32 */
#define REG_FEUADDR 0x44 /* RW 32 */

#define CAP_SAGAW(c) (((c) >> 8) & 0x1f)
#define CAP_SAGAW_39 (1u << 1)
#define CAP_SAGAW_48 (1u << 2)
#define CAP_ND(c)    ((unsigned)((c)&7)) /* domains supported: 2^(4 + 2 ND) */
#define CAP_RWBF     (1ull << 4)
#define CAP_FRO(c)   ((((c) >> 24) & 0x3ff) * 16)
#define CAP_NFR(c)   ((unsigned)(((c) >> 40) & 0xff) + 1)
#define ECAP_C       (1ull << 0)
#define ECAP_IRO(e)  ((((e) >> 8) & 0x3ff) * 16)

#define GCMD_TE   (1u << 31)
#define GCMD_SRTP (1u << 30)
#define GCMD_WBF  (1u << 27)
#define GSTS_TES  (1u << 31)
#define GSTS_RTPS (1u << 30)
#define GSTS_WBFS (1u << 27)

#define CCMD_ICC         (1ull << 63)
#define CCMD_GLOBAL      (1ull << 61)
#define IOTLB_IVT        (1ull << 63)
#define IOTLB_GLOBAL     (1ull << 60)
#define IOTLB_DOMAIN     (2ull << 60)
#define IOTLB_DR         (1ull << 49)
#define IOTLB_DW         (1ull << 48)
#define IOTLB_DID_SHIFT  32
#define FSTS_PFO         (1u << 0)
#define FSTS_PPF         (1u << 1)
#define FSTS_W1C         0x7du /* PFO, AFO, APF, IQE, ICE, ITE */
#define FECTL_IM         (1u << 31)
#define FRCD_F           (1ull << 63) /* in the high quadword; RW1C */
#define FRCD_T_READ      (1ull << 62)
#define FRCD_REASON(h)   ((uint8_t)((h) >> 32))
#define FRCD_SID(h)      ((uint16_t)(h))
#define MSI_ADDRESS_BASE 0xfee00000u

struct iommu_unit {
    volatile uint8_t *regs;
    uint64_t reg_phys, reg_len;
    uint64_t cap, ecap;
    bool include_all;
    uint16_t scope[16]; /* BDFs of its PCI endpoint scopes */
    unsigned n_scope;
    struct root_entry *root; /* one page; context tables hang off it */
    unsigned levels;         /* 3 or 4 */
    bool coherent;           /* ECAP.C: page walks snoop */
};

static struct iommu_unit units[IOMMU_MAX_UNITS];
static unsigned n_units;
static bool enabled;

static uint32_t rd32(const struct iommu_unit *u, unsigned off) { return *(volatile uint32_t *)(u->regs + off); }
static uint64_t rd64(const struct iommu_unit *u, unsigned off) { return *(volatile uint64_t *)(u->regs + off); }
static void wr32(struct iommu_unit *u, unsigned off, uint32_t v) { *(volatile uint32_t *)(u->regs + off) = v; }
static void wr64(struct iommu_unit *u, unsigned off, uint64_t v) { *(volatile uint64_t *)(u->regs + off) = v; }

/* Waits for (reg & mask) == want; a unit that never answers is a broken
 * hardware contract. */
static void wait32(struct iommu_unit *u, unsigned off, uint32_t mask, uint32_t want)
{
    for (uint32_t i = 0; i < IOMMU_SPIN_LIMIT; i++) {
        if ((rd32(u, off) & mask) == want)
            return;
        cpu_pause();
    }
    panic("iommu: unit at 0x%llx: register 0x%x never reached 0x%x", (unsigned long long)u->reg_phys, off, want);
}

static void wait64_clear(struct iommu_unit *u, unsigned off, uint64_t bit)
{
    for (uint32_t i = 0; i < IOMMU_SPIN_LIMIT; i++) {
        if (!(rd64(u, off) & bit))
            return;
        cpu_pause();
    }
    panic("iommu: unit at 0x%llx: invalidation at 0x%x never completed", (unsigned long long)u->reg_phys, off);
}

/* GCMD is write-only and its bits are commands: keep TE set in every write
 * once translation is on (§11.4.4.1). */
static void gcmd(struct iommu_unit *u, uint32_t bit, uint32_t status_bit, bool one_shot)
{
    uint32_t keep = rd32(u, REG_GSTS) & GSTS_TES;
    wr32(u, REG_GCMD, keep | bit);
    wait32(u, REG_GSTS, status_bit, one_shot ? 0 : status_bit);
}

void iommu_flush_tables(int unit, const void *p, size_t len)
{
    if (units[unit].coherent)
        return;
    for (uintptr_t a = (uintptr_t)p & ~63ull; a < (uintptr_t)p + len; a += 64)
        __asm__ volatile("clflush (%0)" ::"r"(a) : "memory");
    __asm__ volatile("mfence" ::: "memory");
}

static void write_buffer_flush(struct iommu_unit *u)
{
    if (u->cap & CAP_RWBF)
        gcmd(u, GCMD_WBF, GSTS_WBFS, true);
}

static void context_flush_global(struct iommu_unit *u)
{
    write_buffer_flush(u);
    wr64(u, REG_CCMD, CCMD_ICC | CCMD_GLOBAL);
    wait64_clear(u, REG_CCMD, CCMD_ICC);
}

static void iotlb_flush(struct iommu_unit *u, uint64_t what)
{
    unsigned off = (unsigned)ECAP_IRO(u->ecap) + 8;
    write_buffer_flush(u);
    wr64(u, off, IOTLB_IVT | IOTLB_DR | IOTLB_DW | what);
    wait64_clear(u, off, IOTLB_IVT);
}

void iommu_flush_domain(int unit, uint16_t did)
{
    iotlb_flush(&units[unit], IOTLB_DOMAIN | (uint64_t)did << IOTLB_DID_SHIFT);
}

bool iommu_present(void) { return enabled; }
unsigned iommu_levels(int unit) { return units[unit].levels; }

bool iommu_owns_mmio(uint64_t phys, uint64_t len)
{
    for (unsigned i = 0; i < n_units; i++)
        if (phys < units[i].reg_phys + units[i].reg_len && units[i].reg_phys < phys + len)
            return true;
    return false;
}

int iommu_unit_for(uint16_t bdf)
{
    if (!enabled)
        return -1;
    for (unsigned i = 0; i < n_units; i++)
        for (unsigned s = 0; s < units[i].n_scope; s++)
            if (units[i].scope[s] == bdf)
                return (int)i;
    for (unsigned i = 0; i < n_units; i++)
        if (units[i].include_all)
            return (int)i;
    return -1;
}

/* The context entry of BDF, allocating the bus's context table if ALLOC. */
static struct context_entry *context_of(struct iommu_unit *u, uint16_t bdf, bool alloc)
{
    struct root_entry *re = &u->root[bdf >> 8];
    if (!(re->lo & ENTRY_PRESENT)) {
        if (!alloc)
            return NULL;
        uint64_t ct = pmm_alloc();
        if (!ct)
            return NULL;
        re->hi = 0;
        re->lo = ct | ENTRY_PRESENT;
        iommu_flush_tables((int)(u - units), re, sizeof *re);
    }
    struct context_entry *table = phys_to_virt(re->lo & ENTRY_ADDR);
    return &table[bdf & 0xff];
}

int iommu_context_set(int unit, uint16_t bdf, uint16_t did, uint64_t slpt_phys)
{
    struct iommu_unit *u = &units[unit];
    struct context_entry *ce = context_of(u, bdf, true);
    if (!ce)
        return KE_NO_MEMORY;
    ce->hi = (u->levels == 4 ? CTX_AW_48 : CTX_AW_39) | (uint64_t)did << CTX_DID_SHIFT;
    /* The high half first: the unit reads the entry only once present. */
    __asm__ volatile("" ::: "memory");
    ce->lo = (slpt_phys & ENTRY_ADDR) | CTX_TT_SL_ONLY | ENTRY_PRESENT;
    iommu_flush_tables(unit, ce, sizeof *ce);
    context_flush_global(u);
    iotlb_flush(u, IOTLB_DOMAIN | (uint64_t)did << IOTLB_DID_SHIFT);
    return KE_OK;
}

void iommu_context_clear(int unit, uint16_t bdf, uint16_t did)
{
    struct iommu_unit *u = &units[unit];
    struct context_entry *ce = context_of(u, bdf, false);
    if (!ce)
        return;
    ce->lo = 0;
    ce->hi = 0;
    iommu_flush_tables(unit, ce, sizeof *ce);
    context_flush_global(u);
    iotlb_flush(u, IOTLB_DOMAIN | (uint64_t)did << IOTLB_DID_SHIFT);
}

/* ---- faults ----------------------------------------------------------- */

/* Reads and clears every pending fault record of U (§7.3.1). */
static void drain_faults(struct iommu_unit *u)
{
    unsigned fro = (unsigned)CAP_FRO(u->cap), nfr = CAP_NFR(u->cap);
    for (unsigned i = 0; i < nfr; i++) {
        unsigned off = fro + i * 16;
        uint64_t hi = rd64(u, off + 8);
        if (!(hi & FRCD_F))
            continue;
        uint64_t lo = rd64(u, off);
        wr32(u, off + 12, (uint32_t)(FRCD_F >> 32)); /* RW1C: the record is free again */
        dmaspace_fault(FRCD_SID(hi), lo & ENTRY_ADDR, FRCD_REASON(hi), (hi & FRCD_T_READ) != 0);
    }
    uint32_t fsts = rd32(u, REG_FSTS);
    if (fsts & FSTS_W1C)
        wr32(u, REG_FSTS, fsts & FSTS_W1C);
}

/* EOI first, as irq.c does: signalling init may switch to it at once, and
 * init may kill the very thread this interrupt came in on (the driver whose
 * device faulted), whose kernel stack would then never send the EOI, and
 * every lower interrupt priority class would stay blocked.  A fault that
 * arrives after the EOI raises a new interrupt: none is lost. */
static void on_fault_irq(struct trap_frame *tf, void *ctx)
{
    (void)tf;
    (void)ctx;
    lapic_eoi();
    for (unsigned i = 0; i < n_units; i++)
        if (rd32(&units[i], REG_FSTS) & (FSTS_PPF | FSTS_PFO))
            drain_faults(&units[i]);
}

/* ---- discovery and start ---------------------------------------------- */

static void parse_scopes(struct iommu_unit *u, const uint8_t *p, const uint8_t *end)
{
    while (p + sizeof(struct dmar_scope) <= end) {
        const struct dmar_scope *s = (const void *)p;
        if (s->length < sizeof *s || p + s->length > end)
            return;
        /* Only endpoints reached directly from the start bus (one path
         * entry): a deeper path needs the bridges' secondary bus numbers. */
        if (s->type == SCOPE_PCI_ENDPOINT && s->length == sizeof *s + 2 && u->n_scope < 16) {
            uint8_t dev = p[6], fn = p[7];
            u->scope[u->n_scope++] = (uint16_t)(s->start_bus << 8 | (dev & 31) << 3 | (fn & 7));
        }
        p += s->length;
    }
}

static void parse_dmar(uint64_t phys)
{
    const struct dmar_header *h = (const void *)vm_map_mmio(phys, sizeof *h);
    uint32_t len = h->sdt.length;
    const uint8_t *base = (const uint8_t *)vm_map_mmio(phys, len);
    for (uint32_t off = sizeof *h; off + sizeof(struct dmar_remap) <= len;) {
        const struct dmar_remap *r = (const void *)(base + off);
        if (r->length < sizeof *r || off + r->length > len)
            break;
        if (r->type == DMAR_TYPE_DRHD && r->length >= sizeof(struct dmar_drhd) && n_units < IOMMU_MAX_UNITS) {
            const struct dmar_drhd *d = (const void *)r;
            if (d->segment == 0) {
                struct iommu_unit *u = &units[n_units++];
                u->reg_phys = d->reg_base;
                u->include_all = d->flags & DRHD_INCLUDE_PCI_ALL;
                parse_scopes(u, base + off + sizeof *d, base + off + r->length);
            }
        }
        off += r->length;
    }
}

/* Maps U's registers, checks what Keel needs of it, gives it a root table.
 * Returns NULL, or why the unit cannot be used. */
static const char *unit_setup(struct iommu_unit *u)
{
    u->regs = vm_map_mmio(u->reg_phys, PAGE_SIZE);
    u->cap = rd64(u, REG_CAP);
    u->ecap = rd64(u, REG_ECAP);
    uint64_t end = CAP_FRO(u->cap) + CAP_NFR(u->cap) * 16ull;
    if (ECAP_IRO(u->ecap) + 16 > end)
        end = ECAP_IRO(u->ecap) + 16;
    u->reg_len = (end + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
    if (u->reg_len > 4 * PAGE_SIZE)
        return "register block larger than 16 KiB";
    u->regs = vm_map_mmio(u->reg_phys, u->reg_len);
    unsigned sagaw = (unsigned)CAP_SAGAW(u->cap);
    u->levels = (sagaw & CAP_SAGAW_48) ? 4 : (sagaw & CAP_SAGAW_39) ? 3 : 0;
    if (!u->levels)
        return "no 39- or 48-bit second-level paging";
    if (pmm_ram_end() > (1ull << (u->levels == 4 ? 48 : 39)))
        return "RAM beyond the address width";
    _Static_assert(DMASPACE_MAX < 64, "ND >= 1 gives 64 domain ids");
    if (CAP_ND(u->cap) < 1)
        return "fewer domain ids than Keel's DMA spaces";
    u->coherent = (u->ecap & ECAP_C) != 0;
    uint64_t root = pmm_alloc();
    if (!root)
        return "no memory for the root table";
    u->root = phys_to_virt(root);
    iommu_flush_tables((int)(u - units), u->root, PAGE_SIZE);
    return NULL;
}

static void unit_enable(struct iommu_unit *u)
{
    wr64(u, REG_RTADDR, virt_to_phys(u->root)); /* TTM 00: legacy root/context tables */
    gcmd(u, GCMD_SRTP, GSTS_RTPS, false);
    context_flush_global(u);
    iotlb_flush(u, IOTLB_GLOBAL);
    wr32(u, REG_FEDATA, VECTOR_IOMMU_FAULT);
    wr32(u, REG_FEADDR, MSI_ADDRESS_BASE | lapic_id() << 12);
    wr32(u, REG_FEUADDR, 0);
    wr32(u, REG_FECTL, 0); /* unmasked */
    gcmd(u, GCMD_TE, GSTS_TES, false);
}

void iommu_init(const struct acpi_info *a)
{
    if (!a->dmar_phys) {
        kprintf("keel: iommu: none (no ACPI DMAR table): DMA isolation off, devices can reach all RAM\n");
        return;
    }
    parse_dmar(a->dmar_phys);
    if (!n_units) {
        kprintf("keel: iommu: the DMAR table lists no remapping unit for segment 0: DMA isolation off\n");
        return;
    }
    for (unsigned i = 0; i < n_units; i++) {
        const char *why = unit_setup(&units[i]);
        if (why) {
            kprintf("keel: iommu: unit at 0x%llx unusable (%s): DMA isolation off\n",
                    (unsigned long long)units[i].reg_phys, why);
            n_units = 0;
            return;
        }
    }
    trap_set_handler(VECTOR_IOMMU_FAULT, on_fault_irq, NULL);
    for (unsigned i = 0; i < n_units; i++)
        unit_enable(&units[i]);
    enabled = true;
    kprintf("keel: iommu: VT-d, %u unit(s), first at 0x%llx (%u-level tables%s): DMA isolation on\n", n_units,
            (unsigned long long)units[0].reg_phys, units[0].levels, units[0].coherent ? "" : ", flushed");
}
