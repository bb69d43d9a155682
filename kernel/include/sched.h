/*
 * sched.h - threads and the scheduler.
 *
 * Fixed priorities (SCHED_PRIOS levels, higher runs first), round-robin
 * within a level with a time slice of SCHED_SLICE_TICKS, preemption from the
 * LAPIC tick.  A thread that runs whole slices without blocking is demoted
 * step by step (to SCHED_HOG_FLOOR) until it blocks, and one with a CPU
 * limit that reaches it faults with FAULT_HOG (sched.c says how).  The running thread is never on a ready queue; every
 * other runnable thread is.  Blocking therefore touches no queue, and the IPC paths switch directly between two threads
 * without any queue operation (seL4's "Benno scheduling"; see docs/ARCHITECTURE.md for why not Liedtke's lazy queues).
 * A queue may hold a thread that blocked after being queued; the picker drops such stale entries as it meets them.
 */
#ifndef KEEL_SCHED_H
#define KEEL_SCHED_H

#include "object.h"
#include "smp.h"

#define SCHED_SLICE_TICKS 10
/* Hogs (sched.c): after SCHED_HOG_GRACE_TICKS ticks run without blocking,
 * each SCHED_HOG_STEP_TICKS more cost SCHED_HOG_STEP_PRIOS levels, down to
 * SCHED_HOG_FLOOR, which is below every server's priority (image/manifest;
 * init runs at 20, the servers at 6-15, test servers at 8-10).  From 15
 * that is 50 ms at 15, then 11, 7, 3 and the floor at 80 ms. */
#define SCHED_HOG_GRACE_TICKS (5 * SCHED_SLICE_TICKS)
#define SCHED_HOG_STEP_TICKS  SCHED_SLICE_TICKS
#define SCHED_HOG_STEP_PRIOS  4
#define SCHED_HOG_FLOOR       1
#define KSTACK_PAGES          2
#define KSTACK_SIZE           (KSTACK_PAGES * 4096)

/* The thread running on this core (struct percpu.current, %gs:16). */
static inline struct thread *sched_current(void)
{
    struct thread *t;
    __asm__ volatile("movq %%gs:16, %0" : "=r"(t));
    return t;
}

/* The boot core's scheduler: its idle thread is the boot stack's context. */
void sched_init(void);
/* An application processor's: IDLE runs on the core's boot stack. */
void sched_init_ap(struct percpu *c, struct thread *idle);
/* True when T is some core's idle thread. */
bool sched_is_idle(const struct thread *t);
/* True when T is the running thread of some core. */
bool sched_running_anywhere(const struct thread *t);
/* Kernel entry from ring 3 on a core that waited for the lock: a thread
 * killed meanwhile (by another core) never runs its system call. */
void sched_entry_check(void);
/* Makes T runnable and queues it (tail); does not switch. */
void sched_wake(struct thread *t);
/* Picks the best runnable thread and switches to it (the current one stays
 * eligible if it is runnable).  Returns when the caller runs again. */
void sched_yield_to_best(void);
/* Switches directly to T (already TS_RUNNABLE), without a queue operation,
 * when nothing of higher priority is ready; else queues T and reschedules. */
void sched_direct_switch(struct thread *t);
/* The fastpath's switch: T is runnable and the caller checked priorities. */
void sched_switch_now(struct thread *t);
/* True when a ready thread has a higher priority than PRIO.  Inline, for
 * the fastpath: with no queue bit above PRIO (the common case) nothing is;
 * else the slow check drops stale entries and decides. */
bool sched_higher_ready_slow(uint8_t prio);
static inline bool sched_higher_ready(uint8_t prio)
{
    if (!((uint64_t)this_cpu()->rq_bitmap >> prio >> 1))
        return false;
    return sched_higher_ready_slow(prio);
}
void sched_tick(void);
/* T, the current thread, took work from a receive or wait that may block
 * (work was waiting, so it did not block): it is serving, not spinning, so
 * it has its priority back and its hog count starts again (sched.c). */
void sched_came_around(struct thread *t);
/* The idle loop; never returns. */
__attribute__((noreturn)) void sched_idle_loop(void);

/* Threads. */
struct thread *thread_create(struct task *task);
/* Starts T on core CPU (< smp_ncpus) at PRIO; CPU_LIMIT: the ticks it may
 * run without blocking before FAULT_HOG (0: no limit). */
void thread_start(struct thread *t, uint64_t rip, uint64_t rsp, uint64_t arg, uint8_t prio, uint32_t cpu,
                  uint32_t cpu_limit);
/* Takes T off whatever it waits on and marks it dead (task kill). */
void thread_stop(struct thread *t);
/* T (not on a core) stops for good without a fault: out of every queue,
 * suspended, never resumed (FAULTINJ_STOP: a server stuck where nothing
 * wakes it, which init's stall-limit must find). */
void thread_hang(struct thread *t);
void thread_destroy(struct thread *t);
/* Destroyed threads whose kernel stacks wait for the next switch. */
uint64_t sched_reap_count(void);

#endif
