/*
 * pmm.h - physical memory: the kernel's one frame allocator.
 *
 * Frames are 4 KiB.  Never handed out: the first MiB (real-mode IVT, BIOS
 * data, EBDA, option ROMs), the kernel image and its .bss, every boot module,
 * and anything the firmware's map does not call available RAM.
 */
#ifndef KEEL_PMM_H
#define KEEL_PMM_H

#include <stdbool.h>
#include <stdint.h>

#include "multiboot.h"

#define PAGE_SIZE    4096ull
#define PAGE_SHIFT   12
#define PMM_MAX_PHYS (4ull << 30) /* RAM above 4 GiB is not used (logged) */

void pmm_init(const struct boot_info *bi);
/* A zeroed frame's physical address, or 0 when memory is exhausted. */
uint64_t pmm_alloc(void);
/* COUNT zeroed contiguous frames aligned to ALIGN frames; 0 when none. */
uint64_t pmm_alloc_contig(uint64_t count, uint64_t align);
void pmm_free(uint64_t phys);
uint64_t pmm_free_frames(void);
uint64_t pmm_total_frames(void);
/* True when [phys, phys+len) touches any RAM the firmware map lists as
 * available (such memory is never handed out as a device window). */
bool pmm_overlaps_ram(uint64_t phys, uint64_t len);
/* The highest physical address of available RAM we manage (exclusive). */
uint64_t pmm_ram_end(void);

/* Test hook: after SKIP more allocations succeed, the next FAIL fail
 * (FAIL = 0 disarms).  Returns nothing; pmm_injected_failures counts. */
void pmm_inject_failures(uint64_t skip, uint64_t fail);
uint64_t pmm_injected_failures(void);

#endif
