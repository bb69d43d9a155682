/*
 * gdt.c - the GDT, the TSS and the IST stacks for faults that must not use
 * the current stack.
 *
 * A double fault, NMI or machine check runs on its own stack (IST), so a
 * kernel stack overflow or a corrupt RSP still gets a dump instead of a
 * triple fault.  The TSS carries an I/O permission bitmap with every port
 * denied; issue 3 opens ranges per driver task.
 * Each core has its own GDT, TSS (its own kernel stack pointer and I/O
 * bitmap: a busy TSS cannot be shared) and IST stacks; the functions below
 * act on the calling core's (this_cpu, so only once its GS base is set,
 * except gdt_init_cpu).
 */
#include "gdt.h"

#include <stddef.h>

#include "kstring.h"
#include "smp.h"

#define IST_STACK_SIZE 8192
#define IOBITMAP_BYTES (65536 / 8)

struct tss_with_iomap {
    struct tss64 tss;
    uint8_t iomap[IOBITMAP_BYTES + 1]; /* + the all-ones terminator byte */
} __attribute__((packed));

static struct tss_with_iomap tss_blocks[MAX_CPUS] __attribute__((aligned(16)));
static uint8_t ist_stacks[MAX_CPUS][3][IST_STACK_SIZE] __attribute__((aligned(16)));
/* The bitmap range each core's TSS has open (empty: lo > hi). */
static struct {
    uint16_t lo, hi;
} open_range[MAX_CPUS];

/* Descriptor encodings: Intel SDM vol. 3A, 3.4.5 "Segment Descriptors". */
#define SEG_CODE64_KERNEL 0x00af9a000000ffffull /* P, DPL0, code, L */
#define SEG_DATA_KERNEL   0x00cf92000000ffffull /* P, DPL0, data, writable */
#define SEG_DATA_USER     0x00cff2000000ffffull /* P, DPL3, data, writable */
#define SEG_CODE64_USER   0x00affa000000ffffull /* P, DPL3, code, L */

static uint64_t gdts[MAX_CPUS][7] __attribute__((aligned(16)));

struct descriptor_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));
_Static_assert(sizeof(struct descriptor_ptr) == 10, "lgdt operand");

static void set_tss_descriptor(uint64_t *slot, uint64_t base, uint32_t limit)
{
    /* A 16-byte system descriptor: type 9 (available 64-bit TSS), present. */
    slot[0] = (limit & 0xffffull) | ((base & 0xffffffull) << 16) | (0x89ull << 40) |
              ((uint64_t)(limit >> 16 & 0xf) << 48) | (((base >> 24) & 0xffull) << 56);
    slot[1] = base >> 32;
}

void gdt_init(void) { gdt_init_cpu(0); }

void gdt_init_cpu(uint32_t cpu)
{
    uint64_t *gdt = gdts[cpu];
    struct tss_with_iomap *tb = &tss_blocks[cpu];
    open_range[cpu].lo = 1;
    open_range[cpu].hi = 0;
    gdt[0] = 0;
    gdt[KERNEL_CS / 8] = SEG_CODE64_KERNEL;
    gdt[KERNEL_DS / 8] = SEG_DATA_KERNEL;
    gdt[0x18 / 8] = SEG_DATA_USER;
    gdt[0x20 / 8] = SEG_CODE64_USER;

    memset(tb, 0, sizeof *tb);
    memset(tb->iomap, 0xff, sizeof tb->iomap); /* every port denied */
    tb->tss.iomap_base = offsetof(struct tss_with_iomap, iomap);
    for (int i = 0; i < 3; i++)
        tb->tss.ist[i] = (uint64_t)&ist_stacks[cpu][i][IST_STACK_SIZE];
    set_tss_descriptor(&gdt[TSS_SEL / 8], (uint64_t)tb, sizeof *tb - 1);

    struct descriptor_ptr p = { sizeof gdts[0] - 1, (uint64_t)gdt };
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movw %w2, %%ds\n\t"
                     "movw %w2, %%es\n\t"
                     "movw %w2, %%ss\n\t"
                     "ltr %w3"
                     :
                     : "m"(p), "i"(KERNEL_CS), "r"(KERNEL_DS), "r"(TSS_SEL)
                     : "rax", "memory");
}

void tss_set_kernel_stack(uint64_t rsp0) { tss_blocks[this_cpu()->id].tss.rsp[0] = rsp0; }

tss_u64 *tss_rsp0_slot(uint32_t cpu)
{
    return (tss_u64 *)((uint8_t *)&tss_blocks[cpu].tss + __builtin_offsetof(struct tss64, rsp));
}

int gdt_on_ist_stack(uint64_t addr)
{
    uint64_t lo = (uint64_t)&ist_stacks[0][0][0];
    return addr >= lo && addr < lo + sizeof ist_stacks;
}

/*
 * The TSS bitmap holds the ports of the task that runs now.  Only the byte
 * range that task may use is ever opened, so switching tasks costs copying
 * that range, not 8 KiB.
 */
void tss_set_iobitmap(const uint8_t *bitmap, uint16_t lo, uint16_t hi)
{
    uint32_t cpu = this_cpu()->id;
    struct tss_with_iomap *tb = &tss_blocks[cpu];
    uint16_t open_lo = open_range[cpu].lo, open_hi = open_range[cpu].hi;
    if (open_lo <= open_hi)
        memset(&tb->iomap[open_lo / 8], 0xff, open_hi / 8 - open_lo / 8 + 1);
    open_range[cpu].lo = 1;
    open_range[cpu].hi = 0;
    if (!bitmap || lo > hi)
        return;
    memcpy(&tb->iomap[lo / 8], &bitmap[lo / 8], hi / 8 - lo / 8 + 1);
    open_range[cpu].lo = lo;
    open_range[cpu].hi = hi;
}
