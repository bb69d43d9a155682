/*
 * ktimer.c - one-shot timers that end in a notification.
 *
 * The kernel has no timeouts on its blocking operations; a server that
 * needs to wake up at a time (lwIP's timers, init's restart back-off) arms
 * a timer on a notification it waits on, and the tick signals it.  One
 * timer per notification (re-arming moves it); the armed list is sorted by
 * deadline so the tick looks only at its head.  Resolution: one tick.
 */
#include "ipc.h"
#include "log.h"

static struct notification *armed; /* sorted, earliest first */

void ktimer_disarm(struct notification *n)
{
    if (!n->deadline_ns)
        return;
    for (struct notification **pp = &armed; *pp; pp = &(*pp)->timer_next) {
        if (*pp == n) {
            *pp = n->timer_next;
            break;
        }
    }
    n->deadline_ns = 0;
    n->timer_next = NULL;
}

int64_t ktimer_arm(struct notification *n, uint64_t deadline_ns, uint64_t bits)
{
    if (deadline_ns && bits == 0)
        return KE_INVALID_ARG; /* checked first: a refused call changes nothing */
    ktimer_disarm(n);
    if (deadline_ns == 0)
        return KE_OK;
    n->deadline_ns = deadline_ns;
    n->timer_bits = bits;
    struct notification **pp = &armed;
    while (*pp && (*pp)->deadline_ns <= deadline_ns)
        pp = &(*pp)->timer_next;
    n->timer_next = *pp;
    *pp = n;
    return KE_OK;
}

void ktimer_expire(uint64_t now_ns)
{
    while (armed && armed->deadline_ns <= now_ns) {
        struct notification *n = armed;
        armed = n->timer_next;
        n->timer_next = NULL;
        n->deadline_ns = 0;
        ntfn_signal(n, n->timer_bits);
    }
}
