/*
 * notification.c - asynchronous notifications: a word of bits.
 *
 * signal ORs bits in and never blocks; wait returns the bits and clears
 * them, blocking (unless asked not to) while they are zero.  At most one
 * thread waits on a notification at a time (a second gets KE_BUSY): a
 * notification belongs to one server loop.  A notification may be bound to
 * one thread, whose endpoint receive then also returns when bits arrive
 * (info has KEEL_RECV_NOTIFY, the bits are where the badge would be): one
 * loop serves both requests and interrupts.
 */
#include "ipc.h"
#include "log.h"
#include "sched.h"
#include "timer.h"

static void deliver_bits(struct thread *t, uint64_t bits)
{
    struct ipc_msg n = { .info = KEEL_RECV_NOTIFY, .badge = bits };
    ipc_deliver(t, &n, KE_OK);
}

uint64_t kstat_signals;

int64_t ntfn_signal(struct notification *n, uint64_t bits)
{
    kstat_signals++;
    uint64_t had = n->bits;
    n->bits |= bits;
    if (!n->bits)
        return KE_OK;
    struct thread *t = n->waiter;
    if (t) {
        n->waiter = NULL;
        t->waiting_ntfn = NULL;
    } else if (n->bound && n->bound->state == TS_BLOCKED_RECV) {
        t = n->bound;
        tq_remove(&t->blocked_ep->receivers, t);
        t->blocked_ep = NULL;
    }
    if (!t) {
        if (!had)
            n->bits_since = clock_ns(); /* work waits from now (SYS_TASK_STALL) */
        return KE_OK;
    }
    deliver_bits(t, n->bits);
    n->bits = 0;
    sched_wake(t);
    if (t->prio > sched_current()->prio)
        sched_yield_to_best();
    return KE_OK;
}

int64_t ntfn_wait(struct notification *n, struct trap_frame *tf, bool nonblock)
{
    struct thread *cur = sched_current();
    (void)tf;
    if (n->bits || nonblock) {
        deliver_bits(cur, n->bits);
        n->bits = 0;
        return KE_OK;
    }
    if (n->waiter)
        return KE_BUSY;
    n->waiter = cur;
    cur->waiting_ntfn = n;
    cur->state = TS_BLOCKED_NTFN;
    cur->wake_error = KE_OK;
    sched_yield_to_best();
    return (int64_t)cur->wake_error;
}

int64_t ntfn_bind(struct thread *t, struct notification *n)
{
    if (!n) {
        if (t->bound_ntfn)
            t->bound_ntfn->bound = NULL;
        t->bound_ntfn = NULL;
        return KE_OK;
    }
    if (n->bound == t)
        return KE_OK;
    if (n->bound || t->bound_ntfn)
        return KE_BUSY;
    n->bound = t;
    t->bound_ntfn = n;
    return KE_OK;
}

bool ntfn_take_bound(struct thread *t, uint64_t *bits)
{
    struct notification *n = t->bound_ntfn;
    if (!n || !n->bits)
        return false;
    *bits = n->bits;
    n->bits = 0;
    return true;
}

void ntfn_destroy(struct notification *n)
{
    irq_unbind_ntfn(n);
    ktimer_disarm(n);
    if (n->waiter) {
        struct thread *t = n->waiter;
        t->waiting_ntfn = NULL;
        t->wake_error = (uint64_t)KE_DEAD;
        sched_wake(t);
    }
    if (n->bound)
        n->bound->bound_ntfn = NULL;
    n->waiter = NULL;
    n->bound = NULL;
}
