/*
 * endpoint.c - synchronous IPC: the general path.
 *
 * An endpoint has two FIFO queues, and at most one is non-empty: senders
 * waiting for a receiver (each with its message saved in its TCB), or
 * receivers waiting for a sender.  A message is the label and
 * KEEL_MSG_WORDS words from the sender's registers plus the badge of the
 * capability it used; it goes straight into the receiver's saved registers.
 *
 * Reply rights: when a receiver takes a *call*, it gets the one right to
 * answer it (receiver->caller), and the caller blocks in TS_BLOCKED_REPLY
 * with caller->replier set.  Only that thread can reply, once; SYS_REPLY
 * never blocks, because the caller is by construction already waiting.
 * A receiver that takes a new message while still owing a reply drops the
 * old one: that caller wakes with KE_NO_REPLY instead of waiting forever.
 *
 * Misses: a KEEL_NONBLOCK send or call that finds no receiver fails with
 * KE_WOULD_BLOCK and leaves nothing queued, so the endpoint keeps the time
 * of the first such miss (missed_since) until a thread comes to receive on
 * it (any receive, here or in fastpath.c): SYS_TASK_STALL counts it as
 * work waiting, and a server that stopped receiving while its callers only
 * poll is found stuck all the same.
 *
 * Direct switch: when a call finds a receiver waiting, the caller blocks and
 * the kernel switches straight to the receiver; a reply switches straight
 * back (sched_direct_switch; no ready-queue operation unless something of
 * higher priority is ready).  fastpath.c does the same for the common case
 * with fewer checks; the two must agree exactly (tests/ktest compares).
 */
#include "ipc.h"
#include "log.h"
#include "sched.h"
#include "timer.h"

void ipc_msg_from_frame(const struct trap_frame *tf, struct ipc_msg *m)
{
    m->info = tf->rsi & KEEL_LABEL_MASK;
    m->mr[0] = tf->rdx;
    m->mr[1] = tf->r10;
    m->mr[2] = tf->r8;
    m->mr[3] = tf->r9;
}

void ipc_deliver(struct thread *t, const struct ipc_msg *m, uint64_t err)
{
    struct trap_frame *tf = t->uframe;
    tf->rdi = m->badge;
    tf->rsi = m->info;
    tf->rdx = m->mr[0];
    tf->r10 = m->mr[1];
    tf->r8 = m->mr[2];
    tf->r9 = m->mr[3];
    t->wake_error = err;
}

/* Blocks the current thread and runs something else; returns the error the
 * waker left (the message, if any, is already in the registers). */
static int64_t block_current(void)
{
    struct thread *cur = sched_current();
    cur->wake_error = KE_OK;
    sched_yield_to_best();
    return (int64_t)cur->wake_error;
}

/* The receiver was owed a reply from an earlier call it never answered. */
static void drop_owed_reply(struct thread *receiver)
{
    struct thread *old = receiver->caller;
    if (!old)
        return;
    receiver->caller = NULL;
    old->replier = NULL;
    old->wake_error = KE_NO_REPLY;
    sched_wake(old);
}

/* Hands message M from SENDER (which called when CALL) to RECEIVER, which
 * is not queued anywhere now. */
static void transfer(struct thread *sender, struct thread *receiver, const struct ipc_msg *m, bool call)
{
    struct ipc_msg in = *m;
    if (call)
        in.info |= KEEL_RECV_CALL;
    drop_owed_reply(receiver);
    ipc_deliver(receiver, &in, KE_OK);
    if (call) {
        receiver->caller = sender;
        sender->replier = receiver;
        sender->state = TS_BLOCKED_REPLY;
    }
    sender->ipc_count++;
    kstat_ipc++;
}

uint64_t kstat_ipc;

int64_t ep_send(struct cap *cap, struct trap_frame *tf, bool call)
{
    struct endpoint *ep = (struct endpoint *)cap->obj;
    struct thread *cur = sched_current();
    bool nonblock = tf->rsi & KEEL_NONBLOCK;
    struct ipc_msg m;
    ipc_msg_from_frame(tf, &m);
    m.badge = cap->badge;

    struct thread *receiver = tq_pop(&ep->receivers);
    if (receiver) {
        receiver->blocked_ep = NULL;
        transfer(cur, receiver, &m, call);
        receiver->state = TS_RUNNABLE;
        if (call) {
            sched_direct_switch(receiver);
            return (int64_t)cur->wake_error;
        }
        sched_wake(receiver);
        if (receiver->prio > cur->prio)
            sched_yield_to_best();
        return KE_OK;
    }
    if (nonblock) {
        if (!ep->missed_since)
            ep->missed_since = clock_ns();
        return KE_WOULD_BLOCK;
    }
    cur->msg = m;
    cur->msg_is_call = call;
    cur->state = TS_BLOCKED_SEND;
    cur->blocked_ep = ep;
    cur->send_since = clock_ns(); /* work waits from now (SYS_TASK_STALL) */
    tq_push(&ep->senders, cur);
    return block_current();
}

int64_t ep_recv(struct cap *cap, struct trap_frame *tf, bool nonblock)
{
    struct endpoint *ep = (struct endpoint *)cap->obj;
    struct thread *cur = sched_current();
    (void)tf;
    ep->missed_since = 0; /* someone serves it: a caller that missed may try again */
    uint64_t bits;
    if (ntfn_take_bound(cur, &bits)) {
        struct ipc_msg n = { .info = KEEL_RECV_NOTIFY, .badge = bits };
        ipc_deliver(cur, &n, KE_OK);
        return KE_OK;
    }
    struct thread *sender = tq_pop(&ep->senders);
    if (sender) {
        sender->blocked_ep = NULL;
        bool call = sender->msg_is_call;
        transfer(sender, cur, &sender->msg, call);
        if (sender->state == TS_FAULTED) {
            /* A fault message: the sender stays suspended until resumed. */
        } else if (!call) {
            sender->wake_error = KE_OK;
            sched_wake(sender);
            if (sender->prio > cur->prio)
                sched_yield_to_best();
        }
        return KE_OK;
    }
    if (nonblock)
        return KE_WOULD_BLOCK;
    cur->state = TS_BLOCKED_RECV;
    cur->blocked_ep = ep;
    tq_push(&ep->receivers, cur);
    return block_current();
}

/* Answers the current thread's caller with the message in TF. */
static int64_t reply_to_caller(struct trap_frame *tf, struct thread **woken)
{
    struct thread *cur = sched_current();
    struct thread *caller = cur->caller;
    *woken = NULL;
    if (!caller)
        return KE_NO_REPLY;
    KASSERT(caller->state == TS_BLOCKED_REPLY && caller->replier == cur, "reply right without a waiting caller");
    struct ipc_msg m;
    ipc_msg_from_frame(tf, &m);
    m.badge = 0;
    cur->caller = NULL;
    caller->replier = NULL;
    ipc_deliver(caller, &m, KE_OK);
    caller->state = TS_RUNNABLE;
    *woken = caller;
    return KE_OK;
}

int64_t ep_reply(struct trap_frame *tf)
{
    struct thread *woken;
    int64_t err = reply_to_caller(tf, &woken);
    if (woken) {
        sched_wake(woken);
        if (woken->prio > sched_current()->prio)
            sched_yield_to_best();
    }
    return err;
}

/* reply_recv: reply (never blocking; an error is not reported, as in any
 * server loop the next message matters more), then receive.  When the
 * receive would block and a caller was answered, switch straight to it. */
int64_t ep_reply_recv(struct cap *cap, struct trap_frame *tf)
{
    struct thread *cur = sched_current();
    struct thread *woken;
    (void)reply_to_caller(tf, &woken);
    struct endpoint *ep = (struct endpoint *)cap->obj;
    uint64_t bits;
    bool would_block = !ep->senders.head && !(cur->bound_ntfn && cur->bound_ntfn->bits);
    bool nonblock = tf->rsi & KEEL_NONBLOCK;
    if (woken && would_block && !nonblock) {
        ep->missed_since = 0;
        cur->state = TS_BLOCKED_RECV;
        cur->blocked_ep = ep;
        tq_push(&ep->receivers, cur);
        cur->wake_error = KE_OK;
        sched_direct_switch(woken);
        return (int64_t)cur->wake_error;
    }
    /* Decide about the woken caller now: ep_recv may block or switch, and
     * by the time it returns the caller may have been destroyed and freed. */
    bool outranks = woken && woken->prio > cur->prio;
    if (woken)
        sched_wake(woken);
    (void)bits;
    int64_t r = ep_recv(cap, tf, nonblock);
    if (outranks && cur->state == TS_RUNNABLE)
        sched_yield_to_best();
    return r;
}

void ep_send_fault(struct endpoint *ep, const struct ipc_msg *m)
{
    struct thread *cur = sched_current();
    struct thread *receiver = tq_pop(&ep->receivers);
    if (receiver) {
        receiver->blocked_ep = NULL;
        transfer(cur, receiver, m, false);
        sched_wake(receiver);
        return;
    }
    cur->msg = *m;
    cur->msg_is_call = false;
    cur->blocked_ep = ep;
    cur->send_since = clock_ns();
    tq_push(&ep->senders, cur);
}

static void wake_dead(struct thread *t)
{
    t->blocked_ep = NULL;
    t->wake_error = (uint64_t)KE_DEAD;
    if (t->state != TS_FAULTED)
        sched_wake(t);
}

void ep_destroy(struct endpoint *ep)
{
    struct thread *t;
    while ((t = tq_pop(&ep->senders)))
        wake_dead(t);
    while ((t = tq_pop(&ep->receivers)))
        wake_dead(t);
}

void ipc_detach(struct thread *t)
{
    if (t->blocked_ep) {
        tq_remove(&t->blocked_ep->senders, t);
        tq_remove(&t->blocked_ep->receivers, t);
        t->blocked_ep = NULL;
    }
    if (t->replier) {
        /* t waits for a reply: the server loses the right to answer it. */
        t->replier->caller = NULL;
        t->replier = NULL;
    }
    if (t->caller) {
        /* t owed a reply: its caller must not wait forever. */
        struct thread *c = t->caller;
        t->caller = NULL;
        c->replier = NULL;
        c->wake_error = (uint64_t)KE_DEAD;
        sched_wake(c);
    }
    if (t->waiting_ntfn) {
        t->waiting_ntfn->waiter = NULL;
        t->waiting_ntfn = NULL;
    }
    if (t->bound_ntfn) {
        t->bound_ntfn->bound = NULL;
        t->bound_ntfn = NULL;
    }
}
