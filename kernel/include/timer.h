/*
 * timer.h - time: the TSC as the clock, the LAPIC timer as the tick.
 *
 * clock_ns() is monotonic nanoseconds since timer_init, from the TSC (its
 * frequency read from CPUID where the CPU states it, else measured against
 * the PIT).  The LAPIC timer raises TIMER_HZ ticks a second for preemption.
 */
#ifndef KEEL_TIMER_H
#define KEEL_TIMER_H

#include <stdint.h>

#define TIMER_HZ 1000

void timer_init(void);
uint64_t clock_ns(void);
uint64_t timer_ticks(void);
uint64_t tsc_hz(void);
/* Converts a TSC delta to nanoseconds. */
uint64_t tsc_to_ns(uint64_t delta);
/* Hook called on every tick (the scheduler, later); NULL for none. */
/* Starts this (application) core's tick at the boot core's rate. */
void timer_start_ap(void);
/* Stops it: an idle application processor sleeps until an IPI. */
void timer_stop_ap(void);
void timer_set_tick_hook(void (*hook)(void));

#endif
