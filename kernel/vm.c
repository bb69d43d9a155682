/*
 * vm.c - the kernel's page tables: direct map of RAM, the image with W^X.
 *
 * vm_init builds a fresh PML4 (boot.S's 1 GiB, 2 MiB-page, RWX tables were
 * only a bridge), switches to it and so drops the identity map: from then on
 * a stray low pointer in the kernel faults instead of silently working.
 * Page-table frames come from pmm_alloc, which hands out the lowest frames
 * first, so while building we can still reach them through the boot map.
 *
 * Every kernel mapping is global (G): the upper half is the same in every
 * address space, so a CR3 switch need not flush it.  Nothing in the upper
 * half is ever user-accessible.
 */
#include "vm.h"

#include <stdbool.h>

#include "arch.h"
#include "log.h"
#include "pmm.h"
#include "smp.h"
#include <keel/syscall.h>

#define PTE_P         (1ull << 0)
#define PTE_W         (1ull << 1)
#define PTE_U         (1ull << 2)
#define PTE_PWT       (1ull << 3)
#define PTE_PCD       (1ull << 4)
#define PTE_PS        (1ull << 7)
#define PTE_G         (1ull << 8)
#define PTE_NX        (1ull << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

#define LARGE_PAGE (2ull << 20)

extern char _text_start[], _text_end[], _rodata_start[], _rodata_end[], _data_start[], _bss_end[];

static uint64_t *kernel_pml4;
static uint64_t nx_bit; /* PTE_NX when the CPU has NX, else 0 */

static unsigned index_at(uint64_t va, int level) { return (va >> (12 + 9 * (level - 1))) & 511; }

/* Returns the entry for VA at LEVEL (1 = 4 KiB PTE, 2 = PDE), creating the
 * tables above it; NULL when memory runs out or a large page is in the way. */
static uint64_t *walk_create(uint64_t *pml4, uint64_t va, int level)
{
    uint64_t *table = pml4;
    for (int l = 4; l > level; l--) {
        uint64_t *e = &table[index_at(va, l)];
        if (!(*e & PTE_P)) {
            uint64_t frame = pmm_alloc();
            if (!frame)
                return NULL;
            *e = frame | PTE_P | PTE_W;
        } else if (*e & PTE_PS) {
            return NULL;
        }
        table = phys_to_virt(*e & PTE_ADDR_MASK);
    }
    return &table[index_at(va, level)];
}

static void map_4k(uint64_t va, uint64_t phys, uint64_t flags)
{
    uint64_t *e = walk_create(kernel_pml4, va, 1);
    if (!e)
        panic("vm: cannot map 0x%llx (out of memory or large page)", (unsigned long long)va);
    *e = phys | flags | PTE_P;
}

/* Maps [start, end) of RAM into the direct map, 2 MiB pages where aligned. */
static void map_direct_range(uint64_t start, uint64_t end)
{
    uint64_t flags = PTE_P | PTE_W | PTE_G | nx_bit;
    uint64_t p = start;
    while (p < end) {
        if (p % LARGE_PAGE == 0 && end - p >= LARGE_PAGE) {
            uint64_t *e = walk_create(kernel_pml4, PHYS_MAP_BASE + p, 2);
            if (!e)
                panic("vm: cannot map the direct map at 0x%llx", (unsigned long long)p);
            *e = p | flags | PTE_PS;
            p += LARGE_PAGE;
        } else {
            map_4k(PHYS_MAP_BASE + p, p, flags);
            p += PAGE_SIZE;
        }
    }
}

static void map_image_range(const char *start, const char *end, uint64_t flags)
{
    for (uint64_t va = (uint64_t)start; va < (uint64_t)end; va += PAGE_SIZE)
        map_4k(va, va - KERNEL_VMA, flags | PTE_G);
}

void vm_init(const struct boot_info *bi)
{
    if (rdmsr(MSR_EFER) & EFER_NXE)
        nx_bit = PTE_NX;
    uint64_t pml4_phys = pmm_alloc();
    if (!pml4_phys)
        panic("vm: no memory for the kernel page tables");
    kernel_pml4 = phys_to_virt(pml4_phys);

    /* The first MiB holds firmware tables (ACPI RSDP, MP tables) we read. */
    map_direct_range(0, 0x100000);
    for (uint32_t i = 0; i < bi->n_regions; i++) {
        const struct boot_region *r = &bi->regions[i];
        if (r->type == MB_MEM_AVAILABLE || r->type == 3 /* ACPI reclaimable */ || r->type == 4 /* ACPI NVS */) {
            uint64_t s = r->base & ~(PAGE_SIZE - 1);
            uint64_t e = (r->base + r->length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
            if (s < 0x100000)
                s = 0x100000;
            if (e > PMM_MAX_PHYS)
                e = PMM_MAX_PHYS;
            if (e > s)
                map_direct_range(s, e);
        }
    }
    /* The kernel-stack area's tables exist before the first user address
     * space copies the kernel half, so every address space shares them. */
    if (!walk_create(kernel_pml4, KSTACK_AREA, 1))
        panic("vm: no memory for the kernel-stack area");
    map_image_range(_text_start, _text_end, 0);
    map_image_range(_rodata_start, _rodata_end, nx_bit);
    map_image_range(_data_start, _bss_end, PTE_W | nx_bit);

    write_cr3(pml4_phys);
    write_cr4(read_cr4() | CR4_PGE);
}

/*
 * Kernel stacks live in their own area, each in a slot with an unmapped
 * page below it: an overflow faults (and, as the fault cannot push its
 * frame, becomes a double fault on its IST stack, with a dump) instead of
 * silently corrupting whatever frame happened to lie below.
 */
#define KSTACK_SLOT_SIZE (4 * PAGE_SIZE) /* guard page, up to 3 stack pages */
#define KSTACK_SLOTS     4096
static uint8_t kstack_slot_used[KSTACK_SLOTS];

uint64_t vm_kstack_map(uint64_t phys, unsigned pages)
{
    KASSERT(pages <= 3, "kernel stack too large for its slot");
    for (uint64_t i = 0; i < KSTACK_SLOTS; i++) {
        if (kstack_slot_used[i])
            continue;
        uint64_t base = KSTACK_AREA + i * KSTACK_SLOT_SIZE + PAGE_SIZE; /* above the guard page */
        /* Find (or make) every entry first: a page table we cannot allocate
         * fails the call (thread creation returns KE_NO_MEMORY); it never
         * panics.  Tables made here stay, shared by every address space. */
        uint64_t *e[3];
        for (unsigned p = 0; p < pages; p++) {
            e[p] = walk_create(kernel_pml4, base + p * PAGE_SIZE, 1);
            if (!e[p])
                return 0;
        }
        /* point of no return */
        for (unsigned p = 0; p < pages; p++)
            *e[p] = (phys + p * PAGE_SIZE) | PTE_W | PTE_G | nx_bit | PTE_P;
        kstack_slot_used[i] = 1;
        return base;
    }
    return 0;
}

uint64_t vm_kstack_slots_used(void)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < KSTACK_SLOTS; i++)
        n += kstack_slot_used[i];
    return n;
}

void vm_kstack_unmap(uint64_t va, unsigned pages)
{
    uint64_t slot = (va - KSTACK_AREA) / KSTACK_SLOT_SIZE;
    KASSERT(va >= KSTACK_AREA && slot < KSTACK_SLOTS && kstack_slot_used[slot], "vm_kstack_unmap of a bad stack");
    for (unsigned p = 0; p < pages; p++) {
        uint64_t *e = walk_create(kernel_pml4, va + p * PAGE_SIZE, 1);
        KASSERT(e, "kernel stack page table missing");
        *e = 0;
        invlpg(va + p * PAGE_SIZE);
    }
    smp_tlb_kernel(va, pages); /* before the slot and its frames are reused */
    kstack_slot_used[slot] = 0;
}

volatile void *vm_map_mmio(uint64_t phys, uint64_t size)
{
    uint64_t start = phys & ~(PAGE_SIZE - 1);
    uint64_t end = (phys + size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    for (uint64_t p = start; p < end; p += PAGE_SIZE) {
        uint64_t va = PHYS_MAP_BASE + p;
        if (vm_is_mapped(va))
            continue; /* RAM or an earlier window: already reachable */
        map_4k(va, p, PTE_W | PTE_PCD | PTE_PWT | PTE_G | nx_bit);
        invlpg(va);
    }
    return (volatile void *)(PHYS_MAP_BASE + phys);
}

int vm_is_mapped(uint64_t va)
{
    uint64_t *table = phys_to_virt(read_cr3() & PTE_ADDR_MASK);
    for (int l = 4; l >= 1; l--) {
        uint64_t e = table[index_at(va, l)];
        if (!(e & PTE_P))
            return 0;
        if (l == 1 || (e & PTE_PS))
            return 1;
        table = phys_to_virt(e & PTE_ADDR_MASK);
    }
    return 0;
}

/* ---- User address spaces ---- */

bool cpu_has_smap;

uint64_t vm_kernel_pml4(void) { return virt_to_phys(kernel_pml4); }

uint64_t vm_user_create(void)
{
    uint64_t pml4 = pmm_alloc();
    if (!pml4)
        return 0;
    uint64_t *dst = phys_to_virt(pml4);
    for (int i = 256; i < 512; i++)
        dst[i] = kernel_pml4[i];
    return pml4;
}

/* Like walk_create, for the lower half, with user-accessible intermediate
 * entries (the leaf decides the real rights) and a page-table allowance. */
static uint64_t *user_walk(uint64_t pml4, uint64_t va, bool create, uint32_t *pt_pages, int *err)
{
    uint64_t *table = phys_to_virt(pml4);
    for (int l = 4; l > 1; l--) {
        uint64_t *e = &table[index_at(va, l)];
        if (!(*e & PTE_P)) {
            if (!create)
                return NULL;
            if (*pt_pages >= VM_MAX_PT_PAGES) {
                *err = KE_RANGE;
                return NULL;
            }
            uint64_t frame = pmm_alloc();
            if (!frame) {
                *err = KE_NO_MEMORY;
                return NULL;
            }
            (*pt_pages)++;
            *e = frame | PTE_P | PTE_W | PTE_U;
        }
        table = phys_to_virt(*e & PTE_ADDR_MASK);
    }
    return &table[index_at(va, 1)];
}

int vm_user_map(uint64_t pml4, uint64_t va, uint64_t phys, unsigned flags, uint32_t *pt_pages)
{
    int err = 0;
    uint64_t *e = user_walk(pml4, va, true, pt_pages, &err);
    if (!e)
        return err;
    if (*e & PTE_P)
        return KE_ALREADY_MAPPED;
    uint64_t pte = phys | PTE_P | PTE_U;
    if (flags & VM_USER_WRITE)
        pte |= PTE_W;
    if (!(flags & VM_USER_EXEC))
        pte |= nx_bit;
    if (flags & VM_USER_UNCACHED)
        pte |= PTE_PCD | PTE_PWT;
    *e = pte;
    return 0;
}

uint64_t vm_user_unmap(uint64_t pml4, uint64_t va)
{
    int err = 0;
    uint64_t *e = user_walk(pml4, va, false, NULL, &err);
    if (!e || !(*e & PTE_P))
        return 0;
    uint64_t phys = *e & PTE_ADDR_MASK;
    *e = 0;
    return phys;
}

uint64_t vm_user_pte(uint64_t pml4, uint64_t va)
{
    int err = 0;
    if (va >= KEEL_USER_TOP)
        return 0;
    uint64_t *e = user_walk(pml4, va, false, NULL, &err);
    return e ? *e : 0;
}

static void free_table(uint64_t phys, int level)
{
    uint64_t *t = phys_to_virt(phys);
    if (level > 1) {
        for (int i = 0; i < 512; i++)
            if (t[i] & PTE_P)
                free_table(t[i] & PTE_ADDR_MASK, level - 1);
    }
    pmm_free(phys);
}

void vm_user_destroy(uint64_t pml4)
{
    uint64_t *t = phys_to_virt(pml4);
    for (int i = 0; i < 256; i++)
        if (t[i] & PTE_P)
            free_table(t[i] & PTE_ADDR_MASK, 3);
    pmm_free(pml4);
}
