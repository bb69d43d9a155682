/*
 * gdt.h - segments, the TSS and its interrupt stacks.
 *
 * Selector layout is fixed by syscall/sysret (Intel SDM vol. 2B, SYSRET):
 * STAR[47:32] = KERNEL_CS, so SS = KERNEL_CS + 8; STAR[63:48] = 0x10, so a
 * 64-bit sysret loads CS = 0x10 + 16 = USER_CS and SS = 0x10 + 8 = USER_DS.
 */
#ifndef KEEL_GDT_H
#define KEEL_GDT_H

#include <stdint.h>

/* A TSS field: 8 bytes at a 4-byte offset (SDM vol. 3A, 8.7). */
typedef uint64_t tss_u64 __attribute__((aligned(1)));

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS   (0x18 | 3)
#define USER_CS   (0x20 | 3)
#define TSS_SEL   0x28

#define IST_DOUBLE_FAULT  1
#define IST_NMI           2
#define IST_MACHINE_CHECK 3

/* Intel SDM vol. 3A, 8.7 "Task Management in 64-bit Mode", figure 8-11. */
struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3]; /* RW: stack for entry from ring 3 (rsp[0]) */
    uint64_t reserved1;
    uint64_t ist[7]; /* RW: ist[0] is IST1 */
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base; /* RW: offset of the I/O permission bitmap */
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "TSS layout");

void gdt_init(void);
/* Builds and loads core CPU's GDT and TSS (gdt_init: the boot core's). */
void gdt_init_cpu(uint32_t cpu);
/* The stack the CPU switches to on entry from user mode. */
void tss_set_kernel_stack(uint64_t rsp0);
/* Core CPU's TSS.RSP0, for the scheduler's switch (struct percpu.tss_rsp0);
 * at offset 4 of the TSS, so not 8-byte aligned. */
tss_u64 *tss_rsp0_slot(uint32_t cpu);
/* True when ADDR lies inside one of the IST stacks (for safe backtraces). */
int gdt_on_ist_stack(uint64_t addr);

/* Loads BITMAP's bytes covering ports [lo, hi] into the TSS, closing the
 * previous task's ports; NULL closes all. */
void tss_set_iobitmap(const uint8_t *bitmap, uint16_t lo, uint16_t hi);
#endif
