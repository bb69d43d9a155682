/*
 * sched.c - threads, ready queues, context switches, the idle loops.
 *
 * Invariants (each core's struct percpu, smp.h; all under the BKL):
 *  - c->current is the thread running on core c and is never on a ready
 *    queue.
 *  - A thread belongs to one core (t->cpu, fixed at thread_start): it is
 *    queued only on that core's queues and runs only there.  Waking a thread
 *    of another core queues it there and sends that core VECTOR_RESCHED.
 *  - A thread is on at most one ready queue (t->queued); a queued thread
 *    that is no longer TS_RUNNABLE is stale and dropped when met.
 *  - c->rq_bitmap bit p is set whenever c->ready[p] is non-empty (possibly
 *    stale).
 *  - Cores other than the boot core tick only while a thread runs there.
 *  - Kernel code runs with interrupts off; only the idle loop enables them,
 *    around hlt, and it gives up the BKL while it sleeps.  So a switch can
 *    happen only at the explicit calls below, always with the BKL held, and
 *    a tick that finds a thread (not the idle loop) running interrupted it
 *    in ring 3: its trap frame is t->uframe.
 *  - A thread's priority changes only while it is its core's current
 *    thread (so never while it is queued: a queue holds its threads at
 *    their t->prio): t->prio <= t->base_prio, and t->prio == t->base_prio
 *    whenever t->run_ticks < SCHED_HOG_GRACE_TICKS.
 *
 * Hogs (MINIX 3's answer to a process that keeps using whole quanta):
 * t->run_ticks counts the ticks that found T running since it last blocked.
 * After SCHED_HOG_GRACE_TICKS of them (a signature under emulation, tens of
 * ms, fits: such work keeps its priority), each SCHED_HOG_STEP_TICKS more
 * (a whole slice) cost it SCHED_HOG_STEP_PRIOS levels, down to
 * SCHED_HOG_FLOOR, below every server's priority, so a server that spins (a wild write left a driver in a loop)
 * no longer starves the ones below it: the console, netd, init.  Blocking
 * (a receive, a wait, a call's reply-wait; a fault or death too: any switch
 * away from a thread that is no longer runnable) gives back its priority
 * and zeroes the count: switch_to does that, one test of run_ticks, which
 * is 0 on the IPC paths unless a tick found the thread running.  So does a
 * receive or wait that may block and succeeds without blocking because
 * work was waiting (sched_came_around, from syscall.c: a server flooded
 * with work comes around its loop and is busy, not spinning; without this
 * a netd or tlsd kept busy for cpu-limit would be restarted, turning a
 * load into an outage).  A receive that fails does not count (a server
 * whose corrupted loop retries a bad receive is spinning), nor does being
 * preempted or yielding, nor a receive or wait with KEEL_NONBLOCK (a
 * polling loop).  A thread with a CPU limit
 * (t->cpu_limit, SYS_THREAD_START) that reaches it is suspended with
 * FAULT_HOG to its fault endpoint, and init restarts its server as after a
 * crash.  Ticks count CPU time, not waiting on a queue: a demoted hog that
 * seldom runs reaches its limit late, which is harmless, since it harms no
 * one meanwhile.
 * FPU/SSE state is switched lazily (fpu.c): a switch only sets or clears
 * CR0.TS; the state moves on the first FPU instruction after it (#NM).
 */
#include "sched.h"

#include "arch.h"
#include "fpu.h"
#include "ipc.h"
#include "gdt.h"
#include "kheap.h"
#include "kstring.h"
#include "log.h"
#include "pmm.h"
#include "task.h"
#include "timer.h"
#include "vm.h"

#define USER_RFLAGS 0x202 /* IF, and the always-one bit 1 */

static void reap_pending(void);
static void unhog(struct thread *t);
static struct thread *reap;       /* dying threads whose stacks wait for a switch (free_thread) */
static struct thread idle_thread; /* the boot core's */

extern char boot_stack_top[];
void switch_context(uint64_t *save_rsp, uint64_t next_rsp);
void thread_first_run(void);

void sched_init_ap(struct percpu *c, struct thread *idle)
{
    idle->hdr.type = CAP_THREAD;
    idle->state = TS_RUNNABLE;
    idle->prio = 0;
    idle->cpu = (uint8_t)c->id;
    c->idle = idle;
    c->current = idle;
    c->self = c;
    c->kernel_stack_top = idle->kstack_base + KSTACK_SIZE;
    c->tss_rsp0 = tss_rsp0_slot(c->id);
    wrmsr(MSR_GS_BASE, (uint64_t)c);
    wrmsr(MSR_KERNEL_GS, 0);
}

void sched_init(void)
{
    idle_thread.kstack_base = (uint64_t)boot_stack_top - KSTACK_SIZE; /* never entered from ring 3 */
    cpus[0].id = 0;
    sched_init_ap(&cpus[0], &idle_thread);
}

bool sched_is_idle(const struct thread *t) { return t == cpus[t->cpu].idle; }

bool sched_running_anywhere(const struct thread *t)
{
    for (uint32_t i = 0; i < smp_ncpus; i++)
        if (cpus[i].current == t)
            return true;
    return false;
}

static void rq_push(struct thread *t, bool front)
{
    if (t->queued || sched_is_idle(t))
        return;
    struct percpu *c = &cpus[t->cpu];
    struct run_queue *q = &c->ready[t->prio];
    t->rq_next = NULL;
    if (!q->head) {
        q->head = q->tail = t;
    } else if (front) {
        t->rq_next = q->head;
        q->head = t;
    } else {
        q->tail->rq_next = t;
        q->tail = t;
    }
    t->queued = true;
    c->rq_bitmap |= 1u << t->prio;
}

static struct thread *rq_pop_prio(struct percpu *c, int p)
{
    struct run_queue *q = &c->ready[p];
    struct thread *t = q->head;
    q->head = t->rq_next;
    if (!q->head) {
        q->tail = NULL;
        c->rq_bitmap &= ~(1u << p);
    }
    t->queued = false;
    t->rq_next = NULL;
    return t;
}

/* Drops stale heads; returns the highest priority with a runnable thread at
 * the head of its queue, or -1. */
static int highest_ready(struct percpu *c)
{
    while (c->rq_bitmap) {
        int p = 31 - __builtin_clz(c->rq_bitmap);
        if (c->ready[p].head->state == TS_RUNNABLE)
            return p;
        rq_pop_prio(c, p);
    }
    return -1;
}

bool sched_higher_ready_slow(uint8_t prio) { return highest_ready(this_cpu()) > (int)prio; }

/* T (running, so on no queue) stopped running without blocking for another
 * whole step: one step lower, not below the floor (nor above where it was). */
static void demote(struct thread *t)
{
    KASSERT(!t->queued, "a running thread is on no ready queue");
    if (t->prio <= SCHED_HOG_FLOOR)
        return;
    t->prio = t->prio > SCHED_HOG_FLOOR + SCHED_HOG_STEP_PRIOS ? (uint8_t)(t->prio - SCHED_HOG_STEP_PRIOS)
                                                               : (uint8_t)SCHED_HOG_FLOOR;
}

/* T blocked (or faulted or died) as its core switches away from it: it is
 * on no queue (it was running and is not runnable), and it has its
 * priority back and a new count. */
static void unhog(struct thread *t)
{
    KASSERT(!t->queued, "a thread that blocks is on no ready queue");
    t->prio = t->base_prio;
    t->run_ticks = 0;
}

void sched_came_around(struct thread *t)
{
    KASSERT(t == this_cpu()->current && !t->queued, "only the running thread comes around");
    t->prio = t->base_prio;
    t->run_ticks = 0;
}

static void switch_to(struct thread *next)
{
    struct percpu *c = this_cpu();
    struct thread *prev = c->current;
    if (next == prev)
        return;
    KASSERT(next->cpu == c->id, "a thread runs only on its own core");
    if (__builtin_expect(prev->run_ticks != 0, 0) && prev->state != TS_RUNNABLE)
        unhog(prev);
    if (next->task)
        task_activate(next->task);
    if (c->id != 0) {
        /* Tickless idle on the other cores: no thread, no tick (and no
         * trip through the kernel lock 1000 times a second); work arrives
         * with VECTOR_RESCHED.  The boot core ticks always: it runs the
         * timers (ktimer.c) and keeps the clock's tick count. */
        if (next == c->idle)
            timer_stop_ap();
        else if (prev == c->idle)
            timer_start_ap();
    }
    uint64_t top = next->kstack_base + KSTACK_SIZE;
    c->kernel_stack_top = top;
    *c->tss_rsp0 = top; /* tss_set_kernel_stack, without the call: every IPC switch runs this */
    c->current = next;
    fpu_switch(c, prev, next);
    switch_context(&prev->kernel_rsp, next->kernel_rsp);
    if (reap)
        reap_pending();
}

/* T was queued on another core: that core decides whether it runs now. */
static void kick_remote(struct thread *t)
{
    struct percpu *c = &cpus[t->cpu];
    if (c == this_cpu())
        return;
    struct thread *running = c->current;
    if (sched_is_idle(running) || running->prio < t->prio)
        smp_resched(t->cpu);
}

void sched_wake(struct thread *t)
{
    t->state = TS_RUNNABLE;
    if (t != cpus[t->cpu].current) {
        rq_push(t, false);
        kick_remote(t);
    }
}

void sched_yield_to_best(void)
{
    struct percpu *c = this_cpu();
    struct thread *cur = c->current;
    int p = highest_ready(c);
    if (cur->state == TS_RUNNABLE && cur != c->idle) {
        if (p < (int)cur->prio || (p == (int)cur->prio && cur->slice > 0))
            return; /* the current thread is still the best choice */
        rq_push(cur, false);
        p = highest_ready(c);
    }
    struct thread *next = p >= 0 ? rq_pop_prio(c, p) : c->idle;
    if (next->slice == 0)
        next->slice = SCHED_SLICE_TICKS;
    switch_to(next);
}

void sched_switch_now(struct thread *t)
{
    if (t->slice == 0)
        t->slice = SCHED_SLICE_TICKS;
    switch_to(t);
}

void sched_direct_switch(struct thread *t)
{
    if (t->cpu != this_cpu()->id) {
        /* Another core's thread: it wakes there; this core runs its best. */
        sched_wake(t);
        sched_yield_to_best();
        return;
    }
    if (highest_ready(this_cpu()) > (int)t->prio) {
        rq_push(t, true);
        sched_yield_to_best();
        return;
    }
    if (t->slice == 0)
        t->slice = SCHED_SLICE_TICKS;
    switch_to(t);
}

void sched_tick(void)
{
    struct percpu *c = this_cpu();
    if (c->id == 0)
        ktimer_expire(clock_ns()); /* one core keeps the timer list */
    struct thread *cur = c->current;
    if (cur != c->idle) {
        if (cur->slice > 0)
            cur->slice--;
        if (cur->run_ticks < UINT32_MAX)
            cur->run_ticks++;
        if (cur->run_ticks >= SCHED_HOG_GRACE_TICKS &&
            (cur->run_ticks - SCHED_HOG_GRACE_TICKS) % SCHED_HOG_STEP_TICKS == 0)
            demote(cur);
        if (cur->cpu_limit && cur->run_ticks >= cur->cpu_limit && cur->state == TS_RUNNABLE) {
            KASSERT(cur->uframe->cs & 3, "a tick finds a thread running only in ring 3");
            /* (A thread killed from another core meanwhile is TS_DEAD and
             * leaves through sched_entry_check instead.)  Never returns
             * unless its fault handler resumes the thread; unhog runs as
             * this core switches away from it. */
            fault_raise(cur->uframe, FAULT_HOG, (uint64_t)cur->run_ticks * 1000 / TIMER_HZ, 0);
            return;
        }
    }
    if (cur == c->idle || cur->slice == 0 || sched_higher_ready(cur->prio))
        sched_yield_to_best();
}

void sched_entry_check(void)
{
    if (sched_current()->state == TS_DEAD)
        sched_yield_to_best(); /* killed from another core while it waited: never returns */
}

/* The BKL is held on entry and whenever a thread is switched to; it is
 * given back only around hlt (an interrupt takes it again in
 * trap_dispatch). */
void sched_idle_loop(void)
{
    for (;;) {
        sched_yield_to_best();
        bkl_unlock();
        __asm__ volatile("sti\n\thlt\n\tcli" ::: "memory");
        bkl_lock();
    }
}

struct thread *thread_create(struct task *task)
{
    struct thread *t = kheap_alloc(sizeof *t);
    if (!t)
        return NULL;
    uint64_t stack = pmm_alloc_contig(KSTACK_PAGES, 1);
    uint64_t va = stack ? vm_kstack_map(stack, KSTACK_PAGES) : 0;
    if (!va) {
        if (stack)
            for (int i = 0; i < KSTACK_PAGES; i++)
                pmm_free(stack + (uint64_t)i * PAGE_SIZE);
        kheap_free(t, sizeof *t);
        return NULL;
    }
    t->hdr.type = CAP_THREAD;
    t->kstack_base = va;
    t->kstack_phys = stack;
    t->task = task;
    kobj_ref(&task->hdr);
    task->n_threads++;
    t->task_next = task->threads;
    task->threads = t;
    t->state = TS_INACTIVE;
    t->uframe = (struct trap_frame *)(t->kstack_base + KSTACK_SIZE - sizeof(struct trap_frame));
    return t;
}

void thread_start(struct thread *t, uint64_t rip, uint64_t rsp, uint64_t arg, uint8_t prio, uint32_t cpu,
                  uint32_t cpu_limit)
{
    KASSERT(cpu < smp_ncpus, "thread_start on a core that is not up");
    t->cpu = (uint8_t)cpu;
    struct trap_frame *tf = t->uframe;
    memset(tf, 0, sizeof *tf);
    tf->rip = rip;
    tf->cs = USER_CS;
    tf->rflags = USER_RFLAGS;
    tf->rsp = rsp;
    tf->ss = USER_DS;
    tf->rdi = arg;
    /* The first switch pops six callee-saved registers and returns into
     * thread_first_run, with RSP at the trap frame. */
    uint64_t *sp = (uint64_t *)tf;
    *--sp = (uint64_t)thread_first_run;
    for (int i = 0; i < 6; i++)
        *--sp = 0;
    t->kernel_rsp = (uint64_t)sp;
    fpu_thread_init(t);
    t->prio = prio < SCHED_PRIOS ? prio : SCHED_PRIOS - 1;
    t->base_prio = t->prio;
    t->run_ticks = 0;
    t->cpu_limit = cpu_limit;
    t->slice = SCHED_SLICE_TICKS;
    sched_wake(t);
}

/*
 * A dying thread cannot free the kernel stack it is running on: such
 * threads wait on the `reap` list (linked through task_next, which is no
 * longer needed once the thread is off its task's list) until a switch has
 * left their stack.
 */
static void free_thread(struct thread *t)
{
    fpu_thread_gone(t);
    vm_kstack_unmap(t->kstack_base, KSTACK_PAGES);
    for (int i = 0; i < KSTACK_PAGES; i++)
        pmm_free(t->kstack_phys + (uint64_t)i * PAGE_SIZE);
    kheap_free(t, sizeof *t);
}

static void reap_pending(void)
{
    struct thread **pp = &reap;
    while (*pp) {
        struct thread *t = *pp;
        if (sched_running_anywhere(t)) {
            pp = &t->task_next;
            continue;
        }
        *pp = t->task_next;
        free_thread(t);
    }
}

uint64_t sched_reap_count(void)
{
    uint64_t n = 0;
    for (struct thread *t = reap; t; t = t->task_next)
        n++;
    return n;
}

static void rq_remove(struct thread *t)
{
    if (!t->queued)
        return;
    struct percpu *cpu = &cpus[t->cpu];
    struct run_queue *q = &cpu->ready[t->prio];
    struct thread *prev = NULL;
    for (struct thread *c = q->head; c; prev = c, c = c->rq_next) {
        if (c != t)
            continue;
        if (prev)
            prev->rq_next = c->rq_next;
        else
            q->head = c->rq_next;
        if (q->tail == c)
            q->tail = prev;
        break;
    }
    if (!q->head)
        cpu->rq_bitmap &= ~(1u << t->prio);
    t->queued = false;
    t->rq_next = NULL;
}

void thread_stop(struct thread *t)
{
    if (t->state == TS_DEAD)
        return;
    ipc_detach(t);
    rq_remove(t);
    t->state = TS_DEAD;
    /* Running on another core (in ring 3, or waiting for the lock): that
     * core switches away as soon as it enters the kernel; make it enter. */
    if (cpus[t->cpu].current == t && t->cpu != this_cpu()->id)
        smp_resched(t->cpu);
}

void thread_hang(struct thread *t)
{
    if (t->state == TS_DEAD || t->state == TS_FAULTED)
        return;
    ipc_detach(t);
    rq_remove(t);
    t->state = TS_FAULTED; /* suspended, with no fault message: nobody resumes it */
    /* A thread that is not running blocks here as a switch away from it
     * would block it: a queued one a tick found running (or demoted) must
     * not keep its count or its lowered priority in its suspension (it is
     * on no queue now, so its priority may change). */
    unhog(t);
}

void thread_destroy(struct thread *t)
{
    thread_stop(t);
    struct task *task = t->task;
    for (struct thread **pp = &task->threads; *pp; pp = &(*pp)->task_next) {
        if (*pp == t) {
            *pp = t->task_next;
            break;
        }
    }
    task->n_threads--;
    if (t->fault_ep)
        kobj_unref(&t->fault_ep->hdr);
    t->fault_ep = NULL;
    t->task_next = reap;
    reap = t;
    reap_pending();
    kobj_unref(&task->hdr);
}
