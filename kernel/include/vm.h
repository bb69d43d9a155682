/*
 * vm.h - the kernel's address space.
 *
 *   0xffff800000000000  PHYS_MAP_BASE: all RAM, read/write, never executable;
 *                       MMIO windows are added here uncached (vm_map_mmio).
 *   0xffffc00000000000  KSTACK_AREA: thread kernel stacks, each above an
 *                       unmapped guard page.
 *   0xffffffff80000000  KERNEL_VMA: the kernel image, text RX, rodata R,
 *                       data and bss RW+NX.
 * The lower half is left to user space (issue 3); the boot identity map is
 * gone once vm_init returns.
 */
#ifndef KEEL_VM_H
#define KEEL_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "multiboot.h"

#define PHYS_MAP_BASE  0xffff800000000000ull
#define KSTACK_AREA    0xffffc00000000000ull /* thread kernel stacks, with guard pages */
#define KERNEL_VMA     0xffffffff80000000ull
#define BOOT_MAP_LIMIT (1ull << 30) /* what boot.S maps before vm_init */

static inline void *phys_to_virt(uint64_t phys) { return (void *)(PHYS_MAP_BASE + phys); }
static inline uint64_t virt_to_phys(const void *v)
{
    uint64_t a = (uint64_t)v;
    return a >= KERNEL_VMA ? a - KERNEL_VMA : a - PHYS_MAP_BASE;
}

void vm_init(const struct boot_info *bi);
/* Maps PAGES contiguous frames at PHYS as a kernel stack with a guard page
 * below; returns the lowest stack address, or 0 when no slot is free. */
uint64_t vm_kstack_map(uint64_t phys, unsigned pages);
void vm_kstack_unmap(uint64_t va, unsigned pages);
/* Kernel-stack slots in use (one per thread not yet freed). */
uint64_t vm_kstack_slots_used(void);
/* Maps [phys, phys+size) uncached into the direct map; returns the pointer. */
volatile void *vm_map_mmio(uint64_t phys, uint64_t size);
/* True when VA is mapped in the current address space (for safe dumps). */
int vm_is_mapped(uint64_t va);

#endif

/* ---- User address spaces (lower half), used by task.c ---- */
#define VM_USER_READ     1u
#define VM_USER_WRITE    2u
#define VM_USER_EXEC     4u
#define VM_USER_UNCACHED 8u
#define VM_MAX_PT_PAGES  64 /* page-table pages per task (charged at creation): bounds a hostile task */

/* The kernel's own PML4 (no user half), physical. */
uint64_t vm_kernel_pml4(void);
/* Set at boot when SMAP is on: user accesses need stac/clac. */
extern bool cpu_has_smap;
/* A new PML4 sharing the kernel half; 0 when out of memory. */
uint64_t vm_user_create(void);
/* Maps one page; returns 0, KE_NO_MEMORY, KE_ALREADY_MAPPED or KE_RANGE
 * (the task's page-table allowance is spent).  *pt_pages counts tables. */
int vm_user_map(uint64_t pml4, uint64_t va, uint64_t phys, unsigned flags, uint32_t *pt_pages);
/* Unmaps one page; returns the physical address that was mapped, or 0. */
uint64_t vm_user_unmap(uint64_t pml4, uint64_t va);
/* The PTE for VA (0 when not mapped). */
uint64_t vm_user_pte(uint64_t pml4, uint64_t va);
/* Frees every lower-half page table and the PML4 (mappings must be gone). */
void vm_user_destroy(uint64_t pml4);
#define VM_PTE_USER  (1ull << 2)
#define VM_PTE_WRITE (1ull << 1)
#define VM_PTE_NX    (1ull << 63)
#define VM_PTE_ADDR  0x000ffffffffff000ull
