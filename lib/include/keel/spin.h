/*
 * keel/spin.h - the spin lock of user space: a uint32_t word, 0 free and
 * 1 held, for data a few threads of one task share for a few hundred
 * instructions at a time (the socket client's rings, keyd client's key
 * table).  A waiter spins with `pause`, then yields to the scheduler: the
 * holder may be blocked in a call, or a thread of the same priority
 * preempted on the waiter's core.  Not recursive; no fairness.
 */
#ifndef KEEL_LIB_SPIN_H
#define KEEL_LIB_SPIN_H

#include <stdint.h>

#include <keel/sys.h>

#define SPIN_PAUSES 256 /* pauses before a waiter starts yielding */

/* Takes LOCK: acquire order, so what the previous holder wrote is seen. */
static inline void spin_lock(uint32_t *lock)
{
    for (unsigned spins = 0; __atomic_exchange_n(lock, 1u, __ATOMIC_ACQUIRE); spins++) {
        if (spins < SPIN_PAUSES)
            __asm__ volatile("pause");
        else
            (void)keel_yield();
    }
}

/* Releases LOCK: release order, so the next holder sees what was written. */
static inline void spin_unlock(uint32_t *lock) { __atomic_store_n(lock, 0u, __ATOMIC_RELEASE); }

#endif
