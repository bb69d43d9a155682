/*
 * lapic.c - the local APIC in xAPIC (MMIO) mode: enable, EOI, timer.
 *
 * Register offsets: Intel SDM vol. 3A, table 11-1.  The timer runs at the
 * bus/core crystal rate divided by 16; timer.c calibrates it against the TSC.
 */
#include "apic.h"
#include "arch.h"
#include "trap.h"
#include "vm.h"

#define LAPIC_ID         0x020 /* RO */
#define LAPIC_TPR        0x080 /* RW: task priority */
#define LAPIC_EOI        0x0b0 /* WO */
#define LAPIC_SVR        0x0f0 /* RW: spurious vector, bit 8 = enable */
#define LAPIC_ICR_LO     0x300 /* RW: interrupt command, low half (writing it sends) */
#define LAPIC_ICR_HI     0x310 /* RW: bits 24-31 = destination APIC id */
#define LAPIC_LVT_TIMER  0x320 /* RW */
#define LAPIC_LVT_LINT0  0x350
#define LAPIC_LVT_LINT1  0x360
#define LAPIC_LVT_ERROR  0x370
#define LAPIC_TIMER_INIT 0x380 /* RW: initial count */
#define LAPIC_TIMER_CUR  0x390 /* RO: current count */
#define LAPIC_TIMER_DIV  0x3e0 /* RW: divide configuration */

#define SVR_ENABLE         (1u << 8)
#define LVT_MASKED         (1u << 16)
#define LVT_TIMER_PERIODIC (1u << 17)
#define TIMER_DIV_16       0x3
#define APIC_BASE_ENABLE   (1ull << 11)
/* ICR (SDM vol. 3A, 11.6.1): delivery mode bits 8-10, level bit 14,
 * delivery status bit 12 (1 = not yet accepted). */
#define ICR_FIXED        0x000u
#define ICR_INIT         0x500u
#define ICR_STARTUP      0x600u
#define ICR_NMI          0x400u
#define ICR_ALL_BUT_SELF (3u << 18) /* destination shorthand */
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_PENDING      (1u << 12)

static volatile uint32_t *lapic_regs;

static uint32_t lapic_read(uint32_t reg) { return lapic_regs[reg / 4]; }
static void lapic_write(uint32_t reg, uint32_t v) { lapic_regs[reg / 4] = v; }

void lapic_init(uint64_t phys)
{
    lapic_regs = (volatile uint32_t *)vm_map_mmio(phys, 4096);
    lapic_init_ap();
}

/* Every core's own LAPIC sits at the same address (the mapping is shared). */
void lapic_init_ap(void)
{
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_ENABLE);
    lapic_write(LAPIC_TPR, 0);
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
    lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
    lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
    lapic_write(LAPIC_SVR, SVR_ENABLE | VECTOR_SPURIOUS);
}

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

/* Bounded: a LAPIC that never accepts an IPI must not hang the kernel. */
static void icr_send(uint32_t apic_id, uint32_t low)
{
    for (uint32_t spin = 0; spin < (1u << 20) && (lapic_read(LAPIC_ICR_LO) & ICR_PENDING); spin++)
        cpu_pause();
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, low); /* this write sends */
}

void lapic_send_ipi(uint32_t apic_id, uint8_t vector) { icr_send(apic_id, ICR_FIXED | vector); }
void lapic_send_init(uint32_t apic_id) { icr_send(apic_id, ICR_INIT | ICR_LEVEL_ASSERT); }
void lapic_send_startup(uint32_t apic_id, uint8_t page) { icr_send(apic_id, ICR_STARTUP | page); }
void lapic_send_nmi_others(void) { icr_send(0, ICR_NMI | ICR_ALL_BUT_SELF); }
uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

void lapic_timer_periodic(uint32_t initial)
{
    lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
    lapic_write(LAPIC_LVT_TIMER, VECTOR_LAPIC_TIMER | LVT_TIMER_PERIODIC);
    lapic_write(LAPIC_TIMER_INIT, initial);
}

void lapic_timer_stop(void)
{
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
    lapic_write(LAPIC_TIMER_INIT, 0);
}

uint32_t lapic_timer_measure(void (*wait)(void *), void *ctx)
{
    lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
    lapic_write(LAPIC_TIMER_INIT, 0xffffffffu);
    wait(ctx);
    uint32_t elapsed = 0xffffffffu - lapic_read(LAPIC_TIMER_CUR);
    lapic_write(LAPIC_TIMER_INIT, 0);
    return elapsed;
}
