/*
 * tls_lock.h - a small lock for the state the TLS code shares between
 * the threads of one program (tlsd's workers, keyd's signers): the heap,
 * the memory accounts' "current" pointer, the ticket keys, and mbedTLS's
 * own mutexes (MBEDTLS_THREADING_ALT, tls_thread.c).
 *
 * A test-and-set word.  Critical sections are short (a heap block, a
 * ticket's AES-GCM, a DRBG draw), so a waiter spins first; after each
 * TLS_LOCK_SPINS tries it calls the slow-path hook with the number of
 * rounds so far, which in the guest (tls_thread.c) yields the core for a
 * while (the holder may be a thread of the same priority preempted on the
 * waiter's own core: a yield lets it run) and then sleeps a little each
 * round (a lower-priority holder on this core runs only while the waiter
 * sleeps), so spinning alone never waits for ever.  On the
 * host (the unit tests, one thread) the hook is NULL and a lock is never
 * contended.
 *
 * Not recursive.  Acquire on take, release on give.
 */
#ifndef KEEL_TLS_LOCK_H
#define KEEL_TLS_LOCK_H

#include <stdbool.h>

#define TLS_LOCK_SPINS 2000

struct tls_lock {
    int held; /* 0 free, 1 taken */
};

/* The slow path's wait, given the rounds waited so far (NULL: spin only).
 * Set once at start (tls_thread.c). */
extern void (*tls_lock_wait_hook)(unsigned rounds);

static inline bool tls_lock_try(struct tls_lock *l) { return __atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE) == 0; }

static inline void tls_lock_take(struct tls_lock *l)
{
    unsigned spins = 0, rounds = 0;
    while (!tls_lock_try(l)) {
        while (__atomic_load_n(&l->held, __ATOMIC_RELAXED)) {
            __builtin_ia32_pause();
            if (++spins >= TLS_LOCK_SPINS && tls_lock_wait_hook) {
                tls_lock_wait_hook(rounds++);
                spins = 0;
            }
        }
    }
}

static inline void tls_lock_give(struct tls_lock *l) { __atomic_store_n(&l->held, 0, __ATOMIC_RELEASE); }

#endif
