/*
 * iommu.h - DMA isolation: the VT-d remapping hardware (iommu.c) and the
 * DMA-space object that confines one PCI device to its driver's DMA memory
 * (dmaspace.c).  docs/ARCHITECTURE.md §2.9 tells the whole story.
 */
#ifndef KEEL_IOMMU_H
#define KEEL_IOMMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acpi.h"
#include "object.h"

/* ---------------------------------------------------------- iommu.c ---- */

/* Finds the DMAR table's remapping units (A->dmar_phys), builds their root
 * tables, turns on fault reporting and translation.  Logs exactly one line:
 * either the units found and "DMA isolation on", or why there is none. */
void iommu_init(const struct acpi_info *a);
/* Whether DMA remapping is on (some unit's translation is enabled). */
bool iommu_present(void);
/* Whether [phys, phys + len) touches a remapping unit's registers (never
 * handed out as device memory: SYS_MMIO_GET refuses it). */
bool iommu_owns_mmio(uint64_t phys, uint64_t len);
/* The unit that translates requests of BDF (bus << 8 | dev << 3 | fn), or
 * -1 when no unit's scope covers it. */
int iommu_unit_for(uint16_t bdf);
/* Second-level paging levels of UNIT (3: 39-bit, 4: 48-bit addresses). */
unsigned iommu_levels(int unit);
/* Points BDF's context entry at the second-level table SLPT (domain DID)
 * and invalidates what the unit may have cached for it.  KE_OK, or
 * KE_NO_MEMORY when the bus's context table cannot be allocated. */
int iommu_context_set(int unit, uint16_t bdf, uint16_t did, uint64_t slpt_phys) __attribute__((warn_unused_result));
/* Makes BDF's context entry not present again (its DMA is then blocked). */
void iommu_context_clear(int unit, uint16_t bdf, uint16_t did);
/* Invalidates the unit's IOTLB entries of domain DID; returns when done, so
 * a page unmapped before the call is unreachable by the device after it. */
void iommu_flush_domain(int unit, uint16_t did);
/* Writes back table entries the unit reads, when its page walks do not
 * snoop the CPU caches (ECAP.C = 0). */
void iommu_flush_tables(int unit, const void *p, size_t len);

/* ------------------------------------------------------- dmaspace.c ---- */

#define DMASPACE_MAX 32 /* devices with a DMA space at once (domain ids 1..32) */

/* One device's DMA address space (a domain).  IOVA = physical address: the
 * driver gives the device the addresses SYS_FRAME_INFO tells it. */
struct dma_space {
    struct kobj hdr;
    /* Fixed at creation. */
    uint16_t bdf;
    uint16_t did; /* domain id: index in dmaspace.c's table + 1 */
    int unit;
    uint64_t root_phys; /* top second-level table */
    /* Under the kernel lock. */
    uint32_t pt_pages;         /* table pages held, root included; <= DMASPACE_PT_PAGES */
    struct task *task;         /* whose DMA frames are mapped; no reference (task_destroy detaches) */
    struct notification *ntfn; /* told of faults (bit); holds a reference */
    uint64_t bit;
    uint64_t faults;    /* fault records seen for this device, ever */
    uint64_t last_addr; /* the page the last one reached */
    uint64_t last_info; /* its reason | read << 8 */
};

/* task.c's hooks.  A DMA frame (struct frame.dma) mapped into a task with a
 * DMA space attached enters that space (read-only unless RIGHT_WRITE):
 * KE_OK, or KE_NO_MEMORY when the space's table pages are spent (the
 * mapping is then refused). */
int dmaspace_region_added(struct task *t, struct frame *f, uint8_t rights) __attribute__((warn_unused_result));
/* F's region in T is gone (already unlinked from T's list): F leaves the
 * space unless another region of T still maps it; returns after the unit
 * forgot the translation, so F's pages may be freed. */
void dmaspace_region_removed(struct task *t, struct frame *f);
/* T is being freed: no space may keep pointing at it. */
void dmaspace_task_gone(struct task *t);
/* cap.c: the last reference went. */
void dmaspace_destroy(struct dma_space *ds);
/* iommu.c's fault interrupt: a fault record for requester SID. */
void dmaspace_fault(uint16_t sid, uint64_t addr, uint8_t reason, bool read);
/* kcheck.c: every present page of every space is a page of a DMA frame a
 * region of the attached task maps (writable only if such a region is),
 * and no space holds more table pages than it paid for.  Returns the
 * violations, each logged. */
int dmaspace_check(void);
/* SYS_DMA (abi/keel/syscall.h). */
int64_t dmaspace_syscall(struct trap_frame *tf);

#endif
