/*
 * dmaspace.c - DMA spaces: one PCI device confined to its driver's DMA
 * memory (the capability type CAP_DMA_SPACE, system call SYS_DMA).
 *
 * A DMA space is a VT-d domain for one device (bus/device/function): its
 * own second-level page tables, its own domain id, and the device's context
 * entry pointing at them (iommu.c).  Its address space mirrors physical
 * memory (IOVA = physical address), so a driver keeps giving its device the
 * addresses SYS_FRAME_INFO tells it; but only some pages are present:
 *
 *   exactly the pages of the DMA frames (struct frame.dma: OBJ_DMA_FRAME,
 *   the regions init shares) mapped into the task the space is attached
 *   to, writable only where that task's mapping is writable.
 *
 * So the rule "a device reaches only its driver's DMA memory" is kept by the
 * mappings themselves: task.c tells us of every region added and removed
 * (dmaspace_region_added/removed), and there is no call that maps an
 * arbitrary address.  A task's memory is the memory it holds capabilities
 * to; a frame it cannot name it cannot map, so it cannot give it to its
 * device either.
 *
 * Life: init creates one space per driven device at boot (DMA_CREATE, with
 * its MMIO control capability and a memory budget that pays for the space
 * and up to DMASPACE_PT_PAGES table pages), binds a notification bit to it
 * (DMA_BIND) and, at each start of the driver, attaches it to the driver's
 * new task (DMA_ATTACH) before the driver runs.  When the task dies its
 * regions go, and with them every page of the space: the device is blocked
 * until the next attach.  A DMA outside the space is recorded by the unit;
 * its fault interrupt lands in dmaspace_fault, which counts it and signals
 * the bound bit; init reads DMA_INFO and restarts the driver.
 *
 * Invariants:
 *   - ds->task, when set, is a task not yet freed (task_destroy calls
 *     dmaspace_task_gone first) and every present leaf of the space is a
 *     page of a DMA frame some region of that task maps;
 *   - a leaf is cleared and the unit's IOTLB flushed before the region's
 *     frame reference is dropped (task.c calls us before kobj_unref);
 *   - pt_pages <= DMASPACE_PT_PAGES: table pages are charged to the budget
 *     up front; tables are kept (empty) until the space dies.
 * Context: system calls and task.c under the kernel lock; dmaspace_fault in
 * the unit's fault interrupt (also under the lock, trap.c).
 */
#include "iommu.h"

#include "ipc.h"
#include "kheap.h"
#include "log.h"
#include "memory.h"
#include "pmm.h"
#include "sched.h"
#include "task.h"
#include "vm.h"

#define DMASPACE_PT_PAGES 32 /* table pages per space: 64 MiB of scattered 4 KiB DMA pages, or more */
#define SL_READ           (1ull << 0)
#define SL_WRITE          (1ull << 1)
#define SL_ADDR           0x000ffffffffff000ull
#define SL_ENTRIES        512
#define FAULT_LOG_LIMIT   4 /* fault records logged per space; the rest are only counted */

static struct dma_space *spaces[DMASPACE_MAX]; /* index = domain id - 1 */
static uint64_t unowned_faults;                /* faults of devices without a space (blocked ones) */

/* The leaf entry for IOVA, allocating tables on the way when ALLOC; NULL
 * when absent (or KE_NO_MEMORY in *err when the space's tables are spent). */
static uint64_t *leaf_of(struct dma_space *ds, uint64_t iova, bool alloc, int *err)
{
    uint64_t *table = phys_to_virt(ds->root_phys);
    for (unsigned level = iommu_levels(ds->unit); level > 1; level--) {
        uint64_t *e = &table[(iova >> (12 + 9 * (level - 1))) & (SL_ENTRIES - 1)];
        if (!(*e & (SL_READ | SL_WRITE))) {
            if (!alloc)
                return NULL;
            uint64_t page = ds->pt_pages < DMASPACE_PT_PAGES ? pmm_alloc() : 0;
            if (!page) {
                *err = KE_NO_MEMORY;
                return NULL;
            }
            ds->pt_pages++;
            iommu_flush_tables(ds->unit, phys_to_virt(page), PAGE_SIZE);
            *e = page | SL_READ | SL_WRITE; /* a table's rights: the leaves decide */
            iommu_flush_tables(ds->unit, e, sizeof *e);
        }
        table = phys_to_virt(*e & SL_ADDR);
    }
    return &table[(iova >> 12) & (SL_ENTRIES - 1)];
}

/* Makes F's pages present in DS (RIGHTS of the region) or, with RIGHTS 0,
 * absent; flushes the unit either way.  On KE_NO_MEMORY the pages already
 * made present are removed again. */
static int set_frame(struct dma_space *ds, const struct frame *f, uint8_t rights)
{
    uint64_t flags = rights ? SL_READ | ((rights & RIGHT_WRITE) ? SL_WRITE : 0) : 0;
    int err = KE_OK;
    uint64_t i = 0;
    for (; i < f->pages; i++) {
        uint64_t pa = f->phys + i * PAGE_SIZE;
        uint64_t *leaf = leaf_of(ds, pa, flags != 0, &err);
        if (!leaf) {
            if (err)
                break;
            continue; /* clearing, and no table there: nothing to clear */
        }
        *leaf = flags ? pa | flags : 0;
        iommu_flush_tables(ds->unit, leaf, sizeof *leaf);
    }
    if (err) {
        for (uint64_t j = 0; j < i; j++) {
            uint64_t *leaf = leaf_of(ds, f->phys + j * PAGE_SIZE, false, &err);
            if (leaf) {
                *leaf = 0;
                iommu_flush_tables(ds->unit, leaf, sizeof *leaf);
            }
        }
        err = KE_NO_MEMORY;
    }
    iommu_flush_domain(ds->unit, ds->did);
    return err;
}

static bool is_dma(const struct frame *f) { return f->dma && !f->device; }

int dmaspace_region_added(struct task *t, struct frame *f, uint8_t rights)
{
    if (!is_dma(f))
        return KE_OK;
    for (unsigned i = 0; i < DMASPACE_MAX; i++) {
        struct dma_space *ds = spaces[i];
        if (!ds || ds->task != t)
            continue;
        int err = set_frame(ds, f, rights);
        if (err) {
            /* Undo it in the spaces done so far; their other regions of F
             * (if any) keep their rights. */
            dmaspace_region_removed(t, f);
            return err;
        }
    }
    return KE_OK;
}

/* The rights of T's remaining mappings of F (0: none left). */
static uint8_t remaining_rights(const struct task *t, const struct frame *f)
{
    uint8_t rights = 0;
    for (const struct region *r = t->regions; r; r = r->next)
        if (r->frame == f)
            rights |= r->rights;
    return rights;
}

void dmaspace_region_removed(struct task *t, struct frame *f)
{
    if (!is_dma(f))
        return;
    for (unsigned i = 0; i < DMASPACE_MAX; i++) {
        struct dma_space *ds = spaces[i];
        if (ds && ds->task == t) {
            int err = set_frame(ds, f, remaining_rights(t, f));
            KASSERT(!err, "narrowing or clearing needs no new table");
        }
    }
}

void dmaspace_task_gone(struct task *t)
{
    for (unsigned i = 0; i < DMASPACE_MAX; i++)
        if (spaces[i] && spaces[i]->task == t) {
            KASSERT(!t->regions, "a task is freed only after its regions went");
            spaces[i]->task = NULL;
        }
}

/* Frees DS's tables below TABLE at LEVEL (the leaves point at frames that
 * are not ours). */
static void free_tables(uint64_t table_phys, unsigned level)
{
    uint64_t *table = phys_to_virt(table_phys);
    if (level > 1)
        for (unsigned i = 0; i < SL_ENTRIES; i++)
            if (table[i] & (SL_READ | SL_WRITE))
                free_tables(table[i] & SL_ADDR, level - 1); /* depth <= 4: bounded recursion */
    pmm_free(table_phys);
}

void dmaspace_destroy(struct dma_space *ds)
{
    iommu_context_clear(ds->unit, ds->bdf, ds->did); /* the device is blocked from here on */
    free_tables(ds->root_phys, iommu_levels(ds->unit));
    if (ds->ntfn)
        kobj_unref(&ds->ntfn->hdr);
    spaces[ds->did - 1] = NULL;
    kheap_free(ds, sizeof *ds);
}

void dmaspace_fault(uint16_t sid, uint64_t addr, uint8_t reason, bool read)
{
    struct dma_space *ds = NULL;
    for (unsigned i = 0; i < DMASPACE_MAX && !ds; i++)
        if (spaces[i] && spaces[i]->bdf == sid)
            ds = spaces[i];
    if (ds ? ds->faults < FAULT_LOG_LIMIT : unowned_faults++ < FAULT_LOG_LIMIT)
        kprintf("keel: iommu: DMA fault: device %02x:%02x.%x %s 0x%llx (reason 0x%x)%s%s\n", sid >> 8, (sid >> 3) & 31,
                sid & 7, read ? "read" : "write", (unsigned long long)addr, reason,
                ds && ds->task ? "; driver task " : "", ds && ds->task ? ds->task->name : "");
    if (!ds)
        return; /* a device nobody was given: it is blocked, nothing more to do */
    ds->faults++;
    ds->last_addr = addr;
    ds->last_info = reason | (uint64_t)read << 8;
    if (ds->ntfn)
        ntfn_signal(ds->ntfn, ds->bit);
}

/* ---- invariant checks (kcheck.c) -------------------------------------- */

/* The rights T's DMA-frame regions give the page at PA (0: none). */
static uint8_t rights_at(const struct task *t, uint64_t pa)
{
    uint8_t rights = 0;
    for (const struct region *r = t ? t->regions : NULL; r; r = r->next)
        if (is_dma(r->frame) && pa >= r->frame->phys && pa < r->frame->phys + r->frame->pages * PAGE_SIZE)
            rights |= r->rights;
    return rights;
}

static int check_table(const struct dma_space *ds, uint64_t table_phys, unsigned level, uint64_t base)
{
    const uint64_t *table = phys_to_virt(table_phys);
    int bad = 0;
    for (uint64_t i = 0; i < SL_ENTRIES; i++) {
        uint64_t e = table[i];
        if (!(e & (SL_READ | SL_WRITE)))
            continue;
        uint64_t iova = base + (i << (12 + 9 * (level - 1)));
        if (level > 1) {
            bad += check_table(ds, e & SL_ADDR, level - 1, iova); /* depth <= 4 */
            continue;
        }
        uint8_t rights = rights_at(ds->task, iova);
        if ((e & SL_ADDR) != iova || !rights || ((e & SL_WRITE) && !(rights & RIGHT_WRITE))) {
            kprintf("keel: check: DMA space of %02x:%02x.%x: page 0x%llx is not its task's DMA memory\n", ds->bdf >> 8,
                    (ds->bdf >> 3) & 31, ds->bdf & 7, (unsigned long long)iova);
            bad++;
        }
    }
    return bad;
}

int dmaspace_check(void)
{
    int bad = 0;
    for (unsigned i = 0; i < DMASPACE_MAX; i++) {
        const struct dma_space *ds = spaces[i];
        if (!ds)
            continue;
        if (ds->did != i + 1 || ds->pt_pages > DMASPACE_PT_PAGES) {
            kprintf("keel: check: DMA space %u: wrong domain id or too many table pages\n", i + 1);
            bad++;
        }
        bad += check_table(ds, ds->root_phys, iommu_levels(ds->unit), 0);
    }
    return bad;
}

/* ---- SYS_DMA ------------------------------------------------------------ */

static struct task *cur_task(void) { return sched_current()->task; }

/* (mmio control slot, DMA_CREATE, bdf, dest slot, memory slot) */
static int64_t op_create(struct trap_frame *tf)
{
    struct cap *ctl, *mem;
    int err = cap_lookup(cur_task(), tf->rdi, CAP_MMIO_CONTROL, 0, &ctl);
    if (!err)
        err = cap_lookup(cur_task(), tf->r8, CAP_MEMORY, RIGHT_WRITE, &mem);
    if (err)
        return err;
    if (tf->rdx > 0xffff)
        return KE_INVALID_ARG;
    if (tf->r10 >= KEEL_CAP_SLOTS)
        return KE_INVALID_SLOT;
    if (cur_task()->caps[tf->r10].obj)
        return KE_SLOT_IN_USE;
    if (!iommu_present())
        return KE_NO_IOMMU;
    uint16_t bdf = (uint16_t)tf->rdx;
    int unit = iommu_unit_for(bdf);
    if (unit < 0)
        return KE_NO_IOMMU; /* no unit's scope covers the device */
    int free_idx = -1;
    for (int i = DMASPACE_MAX - 1; i >= 0; i--) {
        if (spaces[i] && spaces[i]->bdf == bdf)
            return KE_BUSY;
        if (!spaces[i])
            free_idx = i;
    }
    if (free_idx < 0)
        return KE_BUSY;
    uint64_t cost = kheap_block_size(sizeof(struct dma_space)) + DMASPACE_PT_PAGES * PAGE_SIZE;
    struct memory *m = (struct memory *)mem->obj;
    if (!memory_charge(m, cost))
        return KE_NO_MEMORY;
    /* point of no return for the budget: refunded below on failure */
    struct dma_space *ds = kheap_alloc(sizeof *ds);
    uint64_t root = ds ? pmm_alloc() : 0;
    if (root)
        err = iommu_context_set(unit, bdf, (uint16_t)(free_idx + 1), root);
    if (!root || err) {
        if (root)
            pmm_free(root);
        if (ds)
            kheap_free(ds, sizeof *ds);
        m->remaining += cost;
        return KE_NO_MEMORY;
    }
    ds->hdr.type = CAP_DMA_SPACE;
    ds->bdf = bdf;
    ds->did = (uint16_t)(free_idx + 1);
    ds->unit = unit;
    ds->root_phys = root;
    ds->pt_pages = 1;
    iommu_flush_tables(unit, phys_to_virt(root), PAGE_SIZE);
    spaces[free_idx] = ds;
    memory_account(&ds->hdr, m, cost);
    cap_install(cur_task(), tf->r10, &ds->hdr, RIGHTS_ALL, 0);
    return KE_OK;
}

/* (dma slot, DMA_ATTACH, task slot): the task's DMA frames, now and later. */
static int64_t op_attach(struct trap_frame *tf)
{
    struct cap *dc, *tc;
    int err = cap_lookup(cur_task(), tf->rdi, CAP_DMA_SPACE, RIGHT_WRITE, &dc);
    if (!err)
        err = cap_lookup(cur_task(), tf->rdx, CAP_TASK, RIGHT_WRITE, &tc);
    if (err)
        return err;
    struct dma_space *ds = (struct dma_space *)dc->obj;
    struct task *t = (struct task *)tc->obj;
    if (t->dead)
        return KE_DEAD;
    if (ds->task == t)
        return KE_OK;
    if (ds->task && !ds->task->dead)
        return KE_BUSY; /* one driver at a time; its death frees the space */
    /* A dead predecessor's regions are gone, and its pages with them. */
    ds->task = t;
    for (struct region *r = t->regions; r; r = r->next) {
        if (!is_dma(r->frame))
            continue;
        err = set_frame(ds, r->frame, r->rights);
        if (err) {
            for (struct region *u = t->regions; u != r; u = u->next)
                if (is_dma(u->frame))
                    (void)set_frame(ds, u->frame, 0);
            ds->task = NULL;
            return err;
        }
    }
    return KE_OK;
}

/* (dma slot, DMA_BIND, ntfn slot, bit): faults signal BIT there. */
static int64_t op_bind(struct trap_frame *tf)
{
    struct cap *dc, *nc;
    int err = cap_lookup(cur_task(), tf->rdi, CAP_DMA_SPACE, RIGHT_WRITE, &dc);
    if (!err)
        err = cap_lookup(cur_task(), tf->rdx, CAP_NOTIFICATION, RIGHT_WRITE, &nc);
    if (err)
        return err;
    if (!tf->r10)
        return KE_INVALID_ARG;
    if (nc->badge && (tf->r10 & ~nc->badge))
        return KE_NO_RIGHTS; /* as SYS_SIGNAL: a badged capability sets only its bits */
    struct dma_space *ds = (struct dma_space *)dc->obj;
    if (ds->ntfn)
        kobj_unref(&ds->ntfn->hdr);
    ds->ntfn = (struct notification *)nc->obj;
    kobj_ref(&ds->ntfn->hdr);
    ds->bit = tf->r10;
    return KE_OK;
}

/* (dma slot, DMA_INFO) -> faults, last address, last reason | read << 8. */
static int64_t op_info(struct trap_frame *tf)
{
    struct cap *dc;
    int err = cap_lookup(cur_task(), tf->rdi, CAP_DMA_SPACE, RIGHT_READ, &dc);
    if (err)
        return err;
    const struct dma_space *ds = (const struct dma_space *)dc->obj;
    tf->rdi = ds->faults;
    tf->rsi = ds->last_addr;
    tf->rdx = ds->last_info;
    return KE_OK;
}

int64_t dmaspace_syscall(struct trap_frame *tf)
{
    switch (tf->rsi) {
    case DMA_CREATE: return op_create(tf);
    case DMA_ATTACH: return op_attach(tf);
    case DMA_BIND: return op_bind(tf);
    case DMA_INFO: return op_info(tf);
    default: return KE_INVALID_ARG;
    }
}
