/*
 * timer.c - TSC frequency, the monotonic clock and the LAPIC tick.
 *
 * TSC frequency: CPUID 0x15 (crystal ratio) when it gives one, else CPUID
 * 0x40000010 (the hypervisor timing leaf) when present, else a measurement
 * against PIT channel 2: we gate the channel, let it count down ~50 ms and
 * read the TSC on both sides.  The median of three measurements is kept, so
 * one run disturbed by the host does not skew the clock.
 * The LAPIC timer is calibrated against the TSC the same way.
 * Conversions use a 32.32 fixed-point factor: ns = delta * ns_per_tsc >> 32.
 */
#include "timer.h"

#include <stdbool.h>

#include "apic.h"
#include "arch.h"
#include "klog.h"
#include "log.h"
#include "smp.h"
#include "trap.h"

#define PIT_HZ        1193182u
#define PIT_CH2       0x42
#define PIT_CMD       0x43
#define PIT_GATE_PORT 0x61
#define PIT_GATE      0x01
#define PIT_SPEAKER   0x02
#define PIT_OUT2      0x20
#define PIT_CAL_TICKS 59659u /* 50 ms */
#define CAL_RUNS      3

static uint64_t tsc_freq;
static uint64_t tsc_start;
static uint64_t ns_per_tsc_q32;
static volatile uint64_t ticks;
static uint32_t lapic_initial; /* counts per tick, for every core */
static void (*tick_hook)(void);

static uint64_t median3(uint64_t a, uint64_t b, uint64_t c)
{
    if (a > b) {
        uint64_t t = a;
        a = b;
        b = t;
    }
    if (b > c)
        b = c;
    return a > b ? a : b;
}

/* Busy-waits PIT_CAL_TICKS of PIT channel 2 (mode 0, one shot). */
static void pit_wait(void *ctx)
{
    (void)ctx;
    uint8_t gate = inb(PIT_GATE_PORT);
    outb(PIT_GATE_PORT, (gate & ~PIT_SPEAKER) & ~PIT_GATE);
    outb(PIT_CMD, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
    outb(PIT_CH2, PIT_CAL_TICKS & 0xff);
    outb(PIT_CH2, PIT_CAL_TICKS >> 8);
    outb(PIT_GATE_PORT, (gate & ~PIT_SPEAKER) | PIT_GATE);
    /* Bounded: a missing PIT must not hang the boot. 2^28 reads is seconds. */
    for (uint32_t spin = 0; spin < (1u << 28); spin++)
        if (inb(PIT_GATE_PORT) & PIT_OUT2)
            break;
    outb(PIT_GATE_PORT, gate & ~PIT_GATE);
}

static uint64_t tsc_measure_once(void)
{
    uint64_t t0 = rdtsc();
    pit_wait(0);
    uint64_t t1 = rdtsc();
    return (t1 - t0) * PIT_HZ / PIT_CAL_TICKS;
}

static uint64_t tsc_from_cpuid(const char **how)
{
    struct cpuid_regs max = cpuid(0, 0);
    if (max.eax >= 0x15) {
        struct cpuid_regs r = cpuid(0x15, 0);
        if (r.eax && r.ebx && r.ecx) {
            *how = "cpuid 0x15";
            return (uint64_t)r.ecx * r.ebx / r.eax;
        }
    }
    struct cpuid_regs hv = cpuid(0x40000000, 0);
    if (hv.eax >= 0x40000010) {
        struct cpuid_regs r = cpuid(0x40000010, 0);
        if (r.eax) {
            *how = "hypervisor leaf";
            return (uint64_t)r.eax * 1000;
        }
    }
    return 0;
}

static void on_tick(struct trap_frame *tf, void *ctx)
{
    (void)tf;
    (void)ctx;
    if (!smp_active || this_cpu()->id == 0)
        ticks++; /* the boot core's tick is the clock's */
    lapic_eoi();
    if (!smp_active || this_cpu()->id == 0)
        klog_kick(); /* the kernel's own lines (faults, restarts) reach the UART driver within a tick */
    if (tick_hook)
        tick_hook();
}

struct tsc_wait {
    uint64_t cycles;
};
static void tsc_wait(void *ctx)
{
    const struct tsc_wait *w = ctx;
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < w->cycles)
        cpu_pause();
}

void timer_init(void)
{
    const char *how = "PIT";
    tsc_freq = tsc_from_cpuid(&how);
    if (!tsc_freq) {
        uint64_t m[CAL_RUNS];
        for (int i = 0; i < CAL_RUNS; i++)
            m[i] = tsc_measure_once();
        tsc_freq = median3(m[0], m[1], m[2]);
    }
    if (tsc_freq < 1000000)
        panic("timer: TSC frequency %llu Hz is implausible", (unsigned long long)tsc_freq);
    ns_per_tsc_q32 = (1000000000ull << 32) / tsc_freq;
    tsc_start = rdtsc();

    struct tsc_wait w = { tsc_freq / 100 }; /* 10 ms */
    uint64_t counts[CAL_RUNS];
    for (int i = 0; i < CAL_RUNS; i++)
        counts[i] = lapic_timer_measure(tsc_wait, &w);
    uint64_t lapic_hz = median3(counts[0], counts[1], counts[2]) * 100;
    uint32_t initial = (uint32_t)(lapic_hz / TIMER_HZ);
    if (initial == 0)
        panic("timer: LAPIC timer does not count");
    trap_set_handler(VECTOR_LAPIC_TIMER, on_tick, 0);
    lapic_initial = initial;
    lapic_timer_periodic(initial);

    bool invariant = (cpuid(0x80000000, 0).eax >= 0x80000007) && (cpuid(0x80000007, 0).edx & (1u << 8));
    kprintf("keel: timer: TSC %llu kHz (%s%s), LAPIC timer %llu kHz, tick %u Hz\n",
            (unsigned long long)(tsc_freq / 1000), how, invariant ? ", invariant" : "",
            (unsigned long long)(lapic_hz / 1000), TIMER_HZ);
}

uint64_t tsc_to_ns(uint64_t delta) { return (uint64_t)(((unsigned __int128)delta * ns_per_tsc_q32) >> 32); }
uint64_t clock_ns(void) { return tsc_to_ns(rdtsc() - tsc_start); }
uint64_t timer_ticks(void) { return ticks; }
uint64_t tsc_hz(void) { return tsc_freq; }
void timer_start_ap(void) { lapic_timer_periodic(lapic_initial); }
void timer_stop_ap(void) { lapic_timer_stop(); }
void timer_set_tick_hook(void (*hook)(void)) { tick_hook = hook; }
