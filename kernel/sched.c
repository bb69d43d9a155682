/*
 * sched.c - threads, ready queues, context switches, the idle loop.
 *
 * Invariants:
 *  - cpu0.current is the running thread and is never on a ready queue.
 *  - A thread is on at most one ready queue (t->queued); a queued thread
 *    that is no longer TS_RUNNABLE is stale and dropped when met.
 *  - rq_bitmap bit p is set whenever queue p is non-empty (possibly stale).
 *  - Kernel code runs with interrupts off; only the idle loop enables them,
 *    around hlt.  So a switch can happen only at the explicit calls below.
 * FPU/SSE state is saved and restored eagerly on every switch between user
 * threads (fxsave/fxrstor); the kernel itself never touches the FPU.
 */
#include "sched.h"

#include "arch.h"
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

struct percpu cpu0;

static struct thread_queue_rq {
    struct thread *head, *tail;
} ready[SCHED_PRIOS];
static void reap_pending(void);
static uint32_t rq_bitmap;
static struct thread idle_thread;
static uint8_t fpu_template[512] __attribute__((aligned(16)));

extern char boot_stack_top[];
void switch_context(uint64_t *save_rsp, uint64_t next_rsp);
void thread_first_run(void);

void fpu_init(void)
{
    write_cr0((read_cr0() & ~(1ull << 2)) | (1ull << 1)); /* EM off, MP on */
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    uint32_t mxcsr = 0x1f80; /* all exceptions masked, round to nearest */
    (void)mxcsr;
    __asm__ volatile("fninit\n\tfxsave64 %0" : "=m"(fpu_template));
}

void sched_init(void)
{
    idle_thread.hdr.type = CAP_THREAD;
    idle_thread.state = TS_RUNNABLE;
    idle_thread.prio = 0;
    idle_thread.kstack_base = (uint64_t)boot_stack_top - KSTACK_SIZE; /* never entered from ring 3 */
    cpu0.current = &idle_thread;
    cpu0.kernel_stack_top = (uint64_t)boot_stack_top;
    wrmsr(MSR_GS_BASE, (uint64_t)&cpu0);
    wrmsr(MSR_KERNEL_GS, 0);
}

static void rq_push(struct thread *t, bool front)
{
    if (t->queued || t == &idle_thread)
        return;
    struct thread_queue_rq *q = &ready[t->prio];
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
    rq_bitmap |= 1u << t->prio;
}

static struct thread *rq_pop_prio(int p)
{
    struct thread_queue_rq *q = &ready[p];
    struct thread *t = q->head;
    q->head = t->rq_next;
    if (!q->head) {
        q->tail = NULL;
        rq_bitmap &= ~(1u << p);
    }
    t->queued = false;
    t->rq_next = NULL;
    return t;
}

/* Drops stale heads; returns the highest priority with a runnable thread at
 * the head of its queue, or -1. */
static int highest_ready(void)
{
    while (rq_bitmap) {
        int p = 31 - __builtin_clz(rq_bitmap);
        if (ready[p].head->state == TS_RUNNABLE)
            return p;
        rq_pop_prio(p);
    }
    return -1;
}

bool sched_higher_ready(uint8_t prio) { return highest_ready() > (int)prio; }

static void switch_to(struct thread *next)
{
    struct thread *prev = cpu0.current;
    if (next == prev)
        return;
    if (prev->task)
        __asm__ volatile("fxsave64 %0" : "=m"(prev->fpu));
    if (next->task)
        task_activate(next->task);
    uint64_t top = next->kstack_base + KSTACK_SIZE;
    cpu0.kernel_stack_top = top;
    tss_set_kernel_stack(top);
    cpu0.current = next;
    if (next->task)
        __asm__ volatile("fxrstor64 %0" : : "m"(next->fpu));
    switch_context(&prev->kernel_rsp, next->kernel_rsp);
    reap_pending();
}

void sched_wake(struct thread *t)
{
    t->state = TS_RUNNABLE;
    if (t != cpu0.current)
        rq_push(t, false);
}

void sched_yield_to_best(void)
{
    struct thread *cur = cpu0.current;
    int p = highest_ready();
    if (cur->state == TS_RUNNABLE && cur != &idle_thread) {
        if (p < (int)cur->prio || (p == (int)cur->prio && cur->slice > 0))
            return; /* the current thread is still the best choice */
        rq_push(cur, false);
        p = highest_ready();
    }
    struct thread *next = p >= 0 ? rq_pop_prio(p) : &idle_thread;
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
    if (highest_ready() > (int)t->prio) {
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
    ktimer_expire(clock_ns());
    struct thread *cur = cpu0.current;
    if (cur != &idle_thread && cur->slice > 0)
        cur->slice--;
    if (cur == &idle_thread || cur->slice == 0 || sched_higher_ready(cur->prio))
        sched_yield_to_best();
}

void sched_idle_loop(void)
{
    for (;;) {
        sched_yield_to_best();
        __asm__ volatile("sti\n\thlt\n\tcli" ::: "memory");
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

void thread_start(struct thread *t, uint64_t rip, uint64_t rsp, uint64_t arg, uint8_t prio)
{
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
    memcpy(t->fpu, fpu_template, sizeof t->fpu);
    t->prio = prio < SCHED_PRIOS ? prio : SCHED_PRIOS - 1;
    t->slice = SCHED_SLICE_TICKS;
    sched_wake(t);
}

/*
 * A dying thread cannot free the kernel stack it is running on: such
 * threads wait on the `reap` list (linked through task_next, which is no
 * longer needed once the thread is off its task's list) until a switch has
 * left their stack.
 */
static struct thread *reap;

static void free_thread(struct thread *t)
{
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
        if (t == cpu0.current) {
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
    struct thread_queue_rq *q = &ready[t->prio];
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
        rq_bitmap &= ~(1u << t->prio);
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
