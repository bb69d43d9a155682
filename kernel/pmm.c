/*
 * pmm.c - the physical memory manager: one frame bitmap over RAM below 4 GiB.
 *
 * Built once from the boot memory map: every "available" region is marked
 * free (shrunk inward to whole frames), then the first MiB, the kernel image
 * and the boot modules are marked used again.  Single CPU, and no allocation
 * from interrupt context, so no lock (revisit with SMP).
 * Frames are zeroed on allocation so no task ever sees another's data.
 */
#include "pmm.h"

#include "frames.h"
#include "kstring.h"
#include "log.h"
#include "vm.h"

extern char _load_start[], _bss_end_phys[];

#define PMM_FRAMES (PMM_MAX_PHYS / PAGE_SIZE)

static const struct boot_info *boot_map;
static uint64_t bitmap_storage[PMM_FRAMES / 64];
static struct frame_bitmap frames;
static uint64_t total_frames;
static uint64_t ram_end;

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

static void mark_used_range(uint64_t start, uint64_t end)
{
    uint64_t first = align_down(start, PAGE_SIZE) / PAGE_SIZE;
    uint64_t last = align_up(end, PAGE_SIZE) / PAGE_SIZE;
    frames_mark_used(&frames, first, last - first);
}

void pmm_init(const struct boot_info *bi)
{
    boot_map = bi;
    frames_init(&frames, bitmap_storage, PMM_FRAMES);
    uint64_t ignored = 0;
    for (uint32_t i = 0; i < bi->n_regions; i++) {
        const struct boot_region *r = &bi->regions[i];
        if (r->type != MB_MEM_AVAILABLE)
            continue;
        uint64_t start = align_up(r->base, PAGE_SIZE);
        uint64_t end = align_down(r->base + r->length, PAGE_SIZE);
        if (end > PMM_MAX_PHYS) {
            ignored += end - (start > PMM_MAX_PHYS ? start : PMM_MAX_PHYS);
            end = PMM_MAX_PHYS;
        }
        if (end <= start)
            continue;
        frames_mark_free(&frames, start / PAGE_SIZE, (end - start) / PAGE_SIZE);
        if (end > ram_end)
            ram_end = end;
    }
    mark_used_range(0, 0x100000);
    mark_used_range((uint64_t)_load_start, (uint64_t)_bss_end_phys);
    for (uint32_t i = 0; i < bi->n_modules; i++)
        mark_used_range(bi->modules[i].start, bi->modules[i].end);
    total_frames = frames.free_count;
    if (ignored)
        kprintf("keel: memory: %llu MiB above 4 GiB not used\n", (unsigned long long)(ignored >> 20));
}

/* Failure injection for the tests (DEBUG_CTL_FAIL_ALLOC): let `inject_skip`
 * allocations through, then fail `inject_fail` of them. */
static uint64_t inject_skip, inject_fail, injected;

void pmm_inject_failures(uint64_t skip, uint64_t fail)
{
    inject_skip = skip;
    inject_fail = fail;
}

uint64_t pmm_injected_failures(void) { return injected; }

static bool injected_failure(void)
{
    if (!inject_fail)
        return false;
    if (inject_skip) {
        inject_skip--;
        return false;
    }
    inject_fail--;
    injected++;
    return true;
}

uint64_t pmm_alloc(void)
{
    if (injected_failure())
        return 0;
    uint64_t f = frames_alloc(&frames);
    if (f == FRAMES_NONE)
        return 0;
    memset(phys_to_virt(f * PAGE_SIZE), 0, PAGE_SIZE);
    return f * PAGE_SIZE;
}

uint64_t pmm_alloc_contig(uint64_t count, uint64_t align)
{
    if (injected_failure())
        return 0;
    uint64_t f = frames_alloc_contig(&frames, count, align);
    if (f == FRAMES_NONE)
        return 0;
    memset(phys_to_virt(f * PAGE_SIZE), 0, count * PAGE_SIZE);
    return f * PAGE_SIZE;
}

void pmm_free(uint64_t phys)
{
    if (phys % PAGE_SIZE || !frames_free(&frames, phys / PAGE_SIZE))
        panic("pmm_free: bad or double free of frame 0x%llx", (unsigned long long)phys);
}

uint64_t pmm_free_frames(void) { return frames.free_count; }
uint64_t pmm_total_frames(void) { return total_frames; }
uint64_t pmm_ram_end(void) { return ram_end; }

bool pmm_overlaps_ram(uint64_t phys, uint64_t len)
{
    for (uint32_t i = 0; i < boot_map->n_regions; i++) {
        const struct boot_region *r = &boot_map->regions[i];
        if (r->type != MB_MEM_AVAILABLE)
            continue;
        if (phys < r->base + r->length && r->base < phys + len)
            return true;
    }
    return phys < 0x100000; /* the first MiB: firmware and BIOS data, never a device window */
}
