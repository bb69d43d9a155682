/*
 * kcheck.c - the kernel's invariant checks, run on demand (DEBUG_CTL_CHECK).
 *
 * After a test (the system-call fuzzer above all) the kernel walks every
 * live task, its threads, capabilities and regions, and the heap, and
 * checks what the rest of the kernel promises:
 *   - no destruction or budget-release work is left queued (cap.c);
 *   - every capability names a live object of a known type, with rights in
 *     RIGHTS_ALL and a badge only on endpoints and notifications, charged
 *     (if at all) to a live budget; a budget's capability count equals the
 *     capabilities that name it and is at most its reference count;
 *   - a killed task holds no capability and no mapping;
 *   - a task's thread list has n_threads entries, each pointing back;
 *   - each thread's state agrees with its links: a sender or receiver is
 *     on its endpoint's queue, a caller waiting for a reply has a replier
 *     that owes it, a notification waiter or bound thread is named by its
 *     notification, a dead thread takes part in nothing;
 *   - a thread's priority is its own (base_prio) or, while it hogs, lower,
 *     and a thread that blocked counts no ticks (sched.c);
 *   - every kernel stack belongs to a live thread or one waiting to be
 *     reaped; the heap's partial pages add up (kheap_check).
 * Each violation is logged as one `keel: check: ...` line and counted.
 * Runs in a system call, with interrupts off: nothing changes under it.
 */
#include "kcheck.h"

#include "iommu.h"
#include "kheap.h"
#include "log.h"
#include "sched.h"
#include "task.h"
#include "vm.h"

static int report(const struct task *t, const char *what)
{
    kprintf("keel: check: task %s: %s\n", t ? t->name : "-", what);
    return 1;
}

static bool on_queue(const struct thread_queue *q, const struct thread *th)
{
    for (const struct thread *c = q->head; c; c = c->q_next)
        if (c == th)
            return true;
    return false;
}

static int check_thread(const struct task *t, const struct thread *th)
{
    int bad = 0;
    if (th->hdr.type != CAP_THREAD || th->hdr.refs == 0 || th->task != t)
        bad += report(t, "thread list holds a thread that is not its own, or is dead");
    switch (th->state) {
    case TS_BLOCKED_SEND:
        if (!th->blocked_ep || !on_queue(&th->blocked_ep->senders, th))
            bad += report(t, "a sending thread is not on its endpoint's queue");
        break;
    case TS_BLOCKED_RECV:
        if (!th->blocked_ep || !on_queue(&th->blocked_ep->receivers, th))
            bad += report(t, "a receiving thread is not on its endpoint's queue");
        break;
    case TS_BLOCKED_REPLY:
        if (!th->replier || th->replier->caller != th)
            bad += report(t, "a thread waits for a reply nobody owes it");
        break;
    case TS_BLOCKED_NTFN:
        if (!th->waiting_ntfn || th->waiting_ntfn->waiter != th)
            bad += report(t, "a thread waits on a notification that does not name it");
        break;
    case TS_FAULTED:
        if (th->blocked_ep && !on_queue(&th->blocked_ep->senders, th))
            bad += report(t, "a fault message is queued nowhere");
        break;
    case TS_DEAD:
        if (th->blocked_ep || th->caller || th->replier || th->waiting_ntfn || th->bound_ntfn)
            bad += report(t, "a dead thread still takes part in IPC");
        break;
    case TS_INACTIVE:
    case TS_RUNNABLE: break;
    default: bad += report(t, "a thread in an unknown state");
    }
    if (th->caller && (th->caller->replier != th || th->caller->state != TS_BLOCKED_REPLY))
        bad += report(t, "a reply right whose caller does not wait for it");
    if (th->bound_ntfn && th->bound_ntfn->bound != th)
        bad += report(t, "a bound notification that does not name its thread");
    if (th->state != TS_INACTIVE &&
        (th->prio > th->base_prio || (th->run_ticks < SCHED_HOG_GRACE_TICKS && th->prio != th->base_prio)))
        bad += report(t, "a thread's priority is above its own, or lowered though it did not hog");
    if (th->state != TS_INACTIVE && th->state != TS_RUNNABLE && th->state != TS_DEAD && th->run_ticks)
        bad += report(t, "a blocked thread still counts ticks run without blocking");
    return bad;
}

static int check_cap(const struct task *t, const struct cap *c)
{
    const struct kobj *o = c->obj;
    if (!o)
        return 0;
    int bad = 0;
    if (o->type < CAP_ENDPOINT || o->type > CAP_DMA_SPACE || o->refs == 0)
        bad += report(t, "a capability names a dead object or one of no known type");
    if (c->rights & ~RIGHTS_ALL)
        bad += report(t, "a capability with rights beyond RIGHTS_ALL");
    if (c->badge && o->type != CAP_ENDPOINT && o->type != CAP_NOTIFICATION)
        bad += report(t, "a badge on a capability that cannot carry one");
    if (o->type == CAP_MEMORY) {
        struct memory *m = (struct memory *)o;
        if (m->caps == 0 || m->caps > o->refs)
            bad += report(t, "a budget's capability count disagrees with its references");
        m->check_caps++;
    }
    if (o->charged && (o->charged->hdr.type != CAP_MEMORY || o->charged->hdr.refs == 0))
        bad += report(t, "an object is charged to something that is not a live budget");
    return bad;
}

/* Sets (or, with COUNT false, zeroes) check_caps of every budget a
 * capability names; then each must equal the budget's own count. */
static void zero_budget_counts(void)
{
    for (const struct task *t = task_list(); t; t = t->all_next)
        for (uint64_t s = 0; s < KEEL_CAP_SLOTS; s++)
            if (t->caps[s].obj && t->caps[s].obj->type == CAP_MEMORY)
                ((struct memory *)t->caps[s].obj)->check_caps = 0;
}

static int compare_budget_counts(void)
{
    int bad = 0;
    for (const struct task *t = task_list(); t; t = t->all_next) {
        for (uint64_t s = 0; s < KEEL_CAP_SLOTS; s++) {
            const struct kobj *o = t->caps[s].obj;
            if (o && o->type == CAP_MEMORY &&
                ((const struct memory *)o)->check_caps != ((const struct memory *)o)->caps)
                bad += report(t, "a budget's capability count differs from the capabilities that name it");
        }
    }
    return bad;
}

static int check_task(const struct task *t, uint64_t *threads)
{
    int bad = 0;
    if (t->hdr.type != CAP_TASK || t->hdr.refs == 0)
        bad += report(t, "the task list holds a dead task");
    uint32_t n = 0;
    for (const struct thread *th = t->threads; th; th = th->task_next, n++)
        bad += check_thread(t, th);
    if (n != t->n_threads)
        bad += report(t, "n_threads disagrees with the thread list");
    *threads += n;
    uint32_t regions = 0;
    for (const struct region *r = t->regions; r; r = r->next, regions++)
        if (r->frame->hdr.type != CAP_FRAME || r->frame->hdr.refs == 0)
            bad += report(t, "a mapping of a dead frame");
    if (regions != t->n_regions)
        bad += report(t, "n_regions disagrees with the region list");
    if (t->pt_pages > VM_MAX_PT_PAGES)
        bad += report(t, "more page-table pages than the allowance");
    for (uint64_t s = 0; s < KEEL_CAP_SLOTS; s++) {
        bad += check_cap(t, &t->caps[s]);
        if (t->dead && t->caps[s].obj)
            bad += report(t, "a killed task still holds a capability");
    }
    if (t->dead && t->regions)
        bad += report(t, "a killed task still has mappings");
    return bad;
}

/* One line per thread of T: its state and what it waits on. */
static void dump_task(const struct task *t)
{
    unsigned i = 0;
    for (const struct thread *th = t->threads; th; th = th->task_next, i++)
        kprintf("keel: check: task %s%s thread %u (%p): state %u prio %u ep %p replier %p (task %s) caller %p "
                "ntfn %p bound %p rip 0x%llx\n",
                t->name, t->dead ? " (killed)" : "", i, (const void *)th, th->state, th->prio,
                (const void *)th->blocked_ep, (const void *)th->replier,
                th->replier && th->replier->task ? th->replier->task->name : "-", (const void *)th->caller,
                (const void *)th->waiting_ntfn, (const void *)th->bound_ntfn, (unsigned long long)th->uframe->rip);
}

int kcheck_run(uint64_t *n_tasks, uint64_t *n_threads, bool verbose)
{
    int bad = 0;
    *n_tasks = *n_threads = 0;
    if (kobj_work_pending())
        bad += report(NULL, "destruction work left queued after a system call");
    zero_budget_counts();
    for (const struct task *t = task_list(); t; t = t->all_next) {
        (*n_tasks)++;
        bad += check_task(t, n_threads);
        if (verbose)
            dump_task(t);
    }
    bad += compare_budget_counts();
    if (*n_threads + sched_reap_count() != vm_kstack_slots_used())
        bad += report(NULL, "kernel stacks in use differ from the threads alive");
    bad += kheap_check();
    bad += dmaspace_check();
    return bad;
}
