/*
 * vm.h - the kernel's address space.
 *
 *   0xffff800000000000  PHYS_MAP_BASE: all RAM, read/write, never executable;
 *                       MMIO windows are added here uncached (vm_map_mmio).
 *   0xffffffff80000000  KERNEL_VMA: the kernel image, text RX, rodata R,
 *                       data and bss RW+NX.
 * The lower half is left to user space (issue 3); the boot identity map is
 * gone once vm_init returns.
 */
#ifndef KEEL_VM_H
#define KEEL_VM_H

#include <stdint.h>

#include "multiboot.h"

#define PHYS_MAP_BASE 0xffff800000000000ull
#define KERNEL_VMA    0xffffffff80000000ull
#define BOOT_MAP_LIMIT (1ull << 30) /* what boot.S maps before vm_init */

static inline void *phys_to_virt(uint64_t phys) { return (void *)(PHYS_MAP_BASE + phys); }
static inline uint64_t virt_to_phys(const void *v)
{
    uint64_t a = (uint64_t)v;
    return a >= KERNEL_VMA ? a - KERNEL_VMA : a - PHYS_MAP_BASE;
}

void vm_init(const struct boot_info *bi);
/* Maps [phys, phys+size) uncached into the direct map; returns the pointer. */
volatile void *vm_map_mmio(uint64_t phys, uint64_t size);
/* True when VA is mapped in the current address space (for safe dumps). */
int vm_is_mapped(uint64_t va);

#endif
