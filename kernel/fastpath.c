/*
 * fastpath.c - the IPC fastpath: call and reply_recv in the common case.
 *
 * This is the one deliberately long-winded path in the kernel: it checks
 * every condition the common case needs and bails out to the general path
 * (endpoint.c) at the first that fails, then commits with no further checks.
 * It must give exactly the results of the general path; tests/ktest runs
 * the same exchanges with KEEL_SLOWPATH and compares.
 *
 *   call:        a receiver is waiting on the endpoint, owes no reply, runs
 *                on this core, and nothing of higher priority than it is
 *                ready (with or without KEEL_NONBLOCK: the same outcome then).
 *   reply_recv:  we owe a reply to a caller, no sender and no notification
 *                is pending for us (so we would block), the caller runs on
 *                this core, and nothing of higher priority than it is ready.
 * A partner on another core takes the general path, which wakes it there
 * (sched_direct_switch sends that core VECTOR_RESCHED): the fastpath is the
 * same-core direct switch only.
 * Neither touches a ready queue: the blocking thread is not queued (it is
 * running) and the woken one runs at once.
 */
#include "ipc.h"
#include "sched.h"

static struct endpoint *endpoint_for(struct thread *cur, uint64_t slot, uint8_t right)
{
    if (slot >= KEEL_CAP_SLOTS)
        return NULL;
    struct cap *c = &cur->task->caps[slot];
    if (!c->obj || c->obj->type != CAP_ENDPOINT || !(c->rights & right))
        return NULL;
    return (struct endpoint *)c->obj;
}

static void copy_message(struct thread *to, const struct trap_frame *from, uint64_t badge, uint64_t info)
{
    struct trap_frame *d = to->uframe;
    d->rdi = badge;
    d->rsi = info;
    d->rdx = from->rdx;
    d->r10 = from->r10;
    d->r8 = from->r8;
    d->r9 = from->r9;
    to->wake_error = KE_OK;
}

bool fastpath_call(struct trap_frame *tf)
{
    /* KEEL_NONBLOCK is allowed: it only says "fail if no receiver waits",
     * and the fastpath runs only when one does, so both paths agree
     * (netd calls its drivers this way, once per batch). */
    if (tf->rsi & ~(KEEL_LABEL_MASK | KEEL_NONBLOCK))
        return false; /* SLOWPATH or reserved bits */
    struct thread *cur = sched_current();
    struct endpoint *ep = endpoint_for(cur, tf->rdi, RIGHT_WRITE);
    if (!ep)
        return false;
    struct thread *receiver = ep->receivers.head;
    if (!receiver || receiver->caller || receiver->cpu != cur->cpu || sched_higher_ready(receiver->prio))
        return false;

    /* point of no return */
    uint64_t badge = cur->task->caps[tf->rdi].badge;
    ep->receivers.head = receiver->q_next;
    if (!ep->receivers.head)
        ep->receivers.tail = NULL;
    receiver->q_next = NULL;
    receiver->blocked_ep = NULL;
    copy_message(receiver, tf, badge, (tf->rsi & KEEL_LABEL_MASK) | KEEL_RECV_CALL);
    receiver->caller = cur;
    receiver->state = TS_RUNNABLE;
    cur->replier = receiver;
    cur->state = TS_BLOCKED_REPLY;
    cur->wake_error = KE_OK;
    cur->ipc_count++;
    kstat_ipc++;
    sched_switch_now(receiver);
    tf->rax = cur->wake_error;
    return true;
}

bool fastpath_reply_recv(struct trap_frame *tf)
{
    if (tf->rsi & ~KEEL_LABEL_MASK)
        return false;
    struct thread *cur = sched_current();
    struct endpoint *ep = endpoint_for(cur, tf->rdi, RIGHT_READ);
    if (!ep)
        return false;
    struct thread *caller = cur->caller;
    if (!caller || caller->cpu != cur->cpu || ep->senders.head || (cur->bound_ntfn && cur->bound_ntfn->bits) ||
        sched_higher_ready(caller->prio))
        return false;

    /* point of no return */
    copy_message(caller, tf, 0, tf->rsi & KEEL_LABEL_MASK);
    caller->replier = NULL;
    caller->state = TS_RUNNABLE;
    cur->caller = NULL;
    cur->state = TS_BLOCKED_RECV;
    cur->blocked_ep = ep;
    ep->missed_since = 0; /* as ep_recv: someone serves it */
    tq_push(&ep->receivers, cur);
    cur->wake_error = KE_OK;
    sched_switch_now(caller);
    tf->rax = cur->wake_error;
    return true;
}
