/*
 * task.c - tasks: address spaces, mappings, I/O permissions, death.
 *
 * Mappings are kept as regions (one frame object at one address), each
 * holding a reference on its frame, so a frame cannot be freed while any
 * task can still reach it, and unmapping or killing a task drops exactly
 * the references it took.  Rights: the syscall layer checks the capability;
 * here W+X is refused again, as the last line of defence.
 * PCIDs: each task gets one (when the CPU has PCID); a task whose mappings
 * changed while it was not loaded, or whose PCID is recycled, is marked
 * tlb_stale and its next CR3 load flushes.
 * Several cores: each has its own loaded task (struct percpu.loaded_task);
 * PCIDs are off (pcid_disable), so a core that switched away from a task
 * holds none of its translations, and a change to a task's mappings is
 * shot down (smp.c) on exactly the cores that have it loaded, before the
 * frames can be reused.  A task's page tables are freed only after every
 * core has left them (smp_tlb_leave).
 */
#include "task.h"

#include "arch.h"
#include "gdt.h"
#include "iommu.h"
#include "ipc.h"
#include "kheap.h"
#include "klog.h"
#include "kstring.h"
#include "log.h"
#include "pmm.h"
#include "sched.h"
#include "smp.h"
#include "vm.h"

#define MAX_REGIONS 1024
#define PCID_COUNT  4096
#define CR3_NOFLUSH (1ull << 63)

static bool pcid_enabled;
/* The task whose translations a PCID may hold: PCIDs are reused after 4095
 * tasks, so a task loads without a flush only if it was the last to use
 * its PCID. */
static struct task *pcid_owner[PCID_COUNT];
static uint16_t next_pcid = 1;
#define loaded_task (this_cpu()->loaded_task)
uint64_t kstat_as_switches; /* CR3 loads by task_activate (SYS_KSTATS); under the kernel lock */
/* Every task from task_create to task_destroy, for budget release and the
 * invariant checks. */
static struct task *all_tasks;

void pcid_disable(void)
{
    if (!pcid_enabled)
        return;
    write_cr4(read_cr4() & ~CR4_PCIDE); /* flushes every PCID's entries */
    pcid_enabled = false;
}

void pcid_init(void)
{
    if (cpuid(1, 0).ecx & (1u << 17)) {
        write_cr4(read_cr4() | CR4_PCIDE);
        pcid_enabled = true;
    }
}

struct task *task_create(const char *name)
{
    struct task *t = kheap_alloc(sizeof *t);
    if (!t)
        return NULL;
    uint64_t caps = pmm_alloc_contig(CAP_TABLE_PAGES, 1);
    uint64_t pml4 = caps ? vm_user_create() : 0;
    if (!pml4) {
        if (caps)
            for (int i = 0; i < CAP_TABLE_PAGES; i++)
                pmm_free(caps + (uint64_t)i * PAGE_SIZE);
        kheap_free(t, sizeof *t);
        return NULL;
    }
    t->hdr.type = CAP_TASK;
    t->caps = phys_to_virt(caps);
    t->pml4_phys = pml4;
    t->pcid = next_pcid;
    next_pcid = next_pcid + 1 < PCID_COUNT ? next_pcid + 1 : 1;
    t->tlb_stale = true;
    t->all_next = all_tasks;
    if (all_tasks)
        all_tasks->all_prev = t;
    all_tasks = t;
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof t->name; i++)
        t->name[i] = name[i];
    return t;
}

void task_activate(struct task *t)
{
    if (t == loaded_task && !t->tlb_stale)
        return;
    uint64_t cr3 = t->pml4_phys;
    if (pcid_enabled) {
        cr3 |= t->pcid;
        if (!t->tlb_stale && pcid_owner[t->pcid] == t)
            cr3 |= CR3_NOFLUSH;
        pcid_owner[t->pcid] = t;
    }
    t->tlb_stale = false;
    write_cr3(cr3);
    kstat_as_switches++;
    if (t->iobitmap || (loaded_task && loaded_task->iobitmap))
        tss_set_iobitmap(t->iobitmap, t->io_lo, t->io_hi);
    loaded_task = t;
}

/* After changing T's page tables: flush now if loaded, else on next load. */
static void tlb_invalidate(struct task *t, uint64_t va, uint64_t pages)
{
    smp_tlb_user(t, va, pages); /* the other cores that have T loaded; returns when done */
    if (t != loaded_task) {
        t->tlb_stale = true;
        return;
    }
    for (uint64_t i = 0; i < pages; i++)
        invlpg(va + i * PAGE_SIZE);
}

static unsigned vm_flags(uint8_t rights, bool device)
{
    unsigned f = 0;
    if (rights & RIGHT_WRITE)
        f |= VM_USER_WRITE;
    if (rights & RIGHT_EXEC)
        f |= VM_USER_EXEC;
    if (device)
        f |= VM_USER_UNCACHED;
    return f;
}

int task_map(struct task *t, struct frame *f, uint64_t va, uint8_t rights)
{
    if ((rights & RIGHT_WRITE) && (rights & RIGHT_EXEC))
        return KE_INVALID_ARG;
    if (!(rights & RIGHT_READ))
        return KE_INVALID_ARG; /* x86 cannot map a page without read */
    if (va % PAGE_SIZE)
        return KE_ALIGNMENT;
    if (va < KEEL_USER_BASE || va >= KEEL_USER_TOP || f->pages > (KEEL_USER_TOP - va) / PAGE_SIZE)
        return KE_BAD_ADDRESS;
    if (t->n_regions >= MAX_REGIONS)
        return KE_RANGE;
    for (uint64_t i = 0; i < f->pages; i++)
        if (vm_user_pte(t->pml4_phys, va + i * PAGE_SIZE))
            return KE_ALREADY_MAPPED;
    struct region *r = kheap_alloc(sizeof *r);
    if (!r)
        return KE_NO_MEMORY;
    /* point of no return, except for running out of page-table pages */
    for (uint64_t i = 0; i < f->pages; i++) {
        int err =
            vm_user_map(t->pml4_phys, va + i * PAGE_SIZE, frame_page(f, i), vm_flags(rights, f->device), &t->pt_pages);
        if (err) {
            for (uint64_t j = 0; j < i; j++)
                vm_user_unmap(t->pml4_phys, va + j * PAGE_SIZE);
            tlb_invalidate(t, va, i);
            kheap_free(r, sizeof *r);
            return err;
        }
    }
    int err = dmaspace_region_added(t, f, rights); /* the device of a DMA space attached to T */
    if (err) {
        for (uint64_t i = 0; i < f->pages; i++)
            vm_user_unmap(t->pml4_phys, va + i * PAGE_SIZE);
        tlb_invalidate(t, va, f->pages);
        kheap_free(r, sizeof *r);
        return err;
    }
    r->vaddr = va;
    r->frame = f;
    r->rights = rights;
    r->next = t->regions;
    t->regions = r;
    t->n_regions++;
    kobj_ref(&f->hdr);
    return KE_OK;
}

static void region_remove(struct task *t, struct region *r)
{
    for (uint64_t i = 0; i < r->frame->pages; i++)
        vm_user_unmap(t->pml4_phys, r->vaddr + i * PAGE_SIZE);
    tlb_invalidate(t, r->vaddr, r->frame->pages);
    t->n_regions--;
    struct frame *f = r->frame;
    kheap_free(r, sizeof *r);
    dmaspace_region_removed(t, f); /* no device reaches F through T any more */
    kobj_unref(&f->hdr);
}

int task_unmap(struct task *t, uint64_t va)
{
    for (struct region **pp = &t->regions; *pp; pp = &(*pp)->next) {
        if ((*pp)->vaddr == va) {
            struct region *r = *pp;
            *pp = r->next;
            region_remove(t, r);
            return KE_OK;
        }
    }
    return KE_NOT_MAPPED;
}

int task_grant_ports(struct task *t, uint16_t first, uint32_t count)
{
    if (count == 0 || first + count > 65536)
        return KE_INVALID_ARG;
    if (t->dead)
        return KE_DEAD;
    if (!t->iobitmap) {
        uint64_t pages = pmm_alloc_contig(2, 1);
        if (!pages)
            return KE_NO_MEMORY;
        t->iobitmap = phys_to_virt(pages);
        memset(t->iobitmap, 0xff, 8192);
        t->io_lo = first;
        t->io_hi = (uint16_t)(first + count - 1);
    }
    for (uint32_t p = first; p < first + count; p++)
        t->iobitmap[p / 8] &= (uint8_t) ~(1u << (p % 8));
    if (first < t->io_lo)
        t->io_lo = first;
    if (first + count - 1 > t->io_hi)
        t->io_hi = (uint16_t)(first + count - 1);
    if (t == loaded_task)
        tss_set_iobitmap(t->iobitmap, t->io_lo, t->io_hi);
    smp_ports_changed(t); /* a thread of T may run on another core right now */
    return KE_OK;
}

/* Takes T apart; the caller guarantees T stays allocated meanwhile. */
static void task_teardown(struct task *t)
{
    if (t->dead)
        return;
    t->dead = true;
    klog_task_gone(t);
    for (struct thread *th = t->threads; th; th = th->task_next)
        thread_stop(th);
    for (uint64_t s = 0; s < KEEL_CAP_SLOTS; s++)
        cap_clear(t, s);
    while (t->regions) {
        struct region *r = t->regions;
        t->regions = r->next;
        region_remove(t, r);
    }
    if (t->iobitmap) {
        uint8_t *bitmap = t->iobitmap;
        t->iobitmap = NULL;
        if (t == loaded_task)
            tss_set_iobitmap(NULL, 0, 0);
        smp_ports_changed(t); /* closes them in every other core's TSS too */
        pmm_free(virt_to_phys(bitmap));
        pmm_free(virt_to_phys(bitmap) + PAGE_SIZE);
    }
}

void task_kill(struct task *t)
{
    kobj_ref(&t->hdr); /* dropping its own capabilities must not free T under us */
    task_teardown(t);
    kobj_unref(&t->hdr);
}

void task_destroy(struct task *t)
{
    /* No references remain, so no capability (not even its own) names T:
     * tear it down without the reference dance of task_kill. */
    task_teardown(t);
    KASSERT(t->n_threads == 0, "task destroyed with threads");
    dmaspace_task_gone(t);
    smp_tlb_leave(t); /* no other core keeps running on these tables */
    if ((read_cr3() & VM_PTE_ADDR) == t->pml4_phys)
        write_cr3(vm_kernel_pml4()); /* never run on tables about to be freed */
    if (loaded_task == t)
        loaded_task = NULL;
    if (pcid_owner[t->pcid] == t)
        pcid_owner[t->pcid] = NULL;
    vm_user_destroy(t->pml4_phys);
    if (t->all_prev)
        t->all_prev->all_next = t->all_next;
    else
        all_tasks = t->all_next;
    if (t->all_next)
        t->all_next->all_prev = t->all_prev;
    uint64_t caps = virt_to_phys(t->caps);
    for (int i = 0; i < CAP_TABLE_PAGES; i++)
        pmm_free(caps + (uint64_t)i * PAGE_SIZE);
    kheap_free(t, sizeof *t);
}

struct task *task_list(void) { return all_tasks; }

int copy_to_user(uint64_t va, const void *src, uint64_t len)
{
    struct task *t = sched_current()->task;
    if (!t || va < KEEL_USER_BASE || va >= KEEL_USER_TOP || len > KEEL_USER_TOP - va)
        return KE_BAD_ADDRESS;
    for (uint64_t p = va & ~(PAGE_SIZE - 1); p < va + len; p += PAGE_SIZE) {
        uint64_t pte = vm_user_pte(t->pml4_phys, p);
        if (!(pte & 1) || !(pte & VM_PTE_USER) || !(pte & VM_PTE_WRITE))
            return KE_BAD_ADDRESS;
    }
    /* Checked above and single CPU: the pages cannot vanish during the copy. */
    if (cpu_has_smap)
        __asm__ volatile("stac" ::: "memory");
    for (uint64_t i = 0; i < len; i++)
        ((volatile uint8_t *)va)[i] = ((const uint8_t *)src)[i];
    if (cpu_has_smap)
        __asm__ volatile("clac" ::: "memory");
    return KE_OK;
}

static bool charged_under(const struct kobj *o, const struct memory *m)
{
    for (const struct memory *b = o->charged; b; b = b->hdr.charged)
        if (b == m)
            return true;
    return false;
}

void task_kill_charged_to(struct memory *m)
{
    /* The list cannot change under us: a task whose count reaches zero here
     * only joins cap.c's destruction list, drained after we return.  A task
     * already on that list (refs == 0) is left to it. */
    for (struct task *t = all_tasks; t; t = t->all_next)
        if (!t->dead && t->hdr.refs > 0 && charged_under(&t->hdr, m))
            task_kill(t);
}

int copy_from_user(void *dst, uint64_t va, uint64_t len)
{
    struct task *t = sched_current()->task;
    if (!t || va < KEEL_USER_BASE || va >= KEEL_USER_TOP || len > KEEL_USER_TOP - va)
        return KE_BAD_ADDRESS;
    for (uint64_t p = va & ~(PAGE_SIZE - 1); p < va + len; p += PAGE_SIZE) {
        uint64_t pte = vm_user_pte(t->pml4_phys, p);
        if (!(pte & 1) || !(pte & VM_PTE_USER))
            return KE_BAD_ADDRESS;
    }
    /* Checked above and single CPU: the pages cannot vanish during the copy. */
    if (cpu_has_smap)
        __asm__ volatile("stac" ::: "memory");
    for (uint64_t i = 0; i < len; i++)
        ((uint8_t *)dst)[i] = ((const volatile uint8_t *)va)[i];
    if (cpu_has_smap)
        __asm__ volatile("clac" ::: "memory");
    return KE_OK;
}
