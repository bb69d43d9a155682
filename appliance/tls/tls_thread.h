/*
 * tls_thread.h - more than one thread in a program that runs mbedTLS
 * (tlsd's workers, keyd's signers), guest only.
 *
 * A program's first thread is thread 0.  tls_thread_start makes thread K
 * (1..TLS_MAX_THREADS-1) on a stack of its own (frames mapped below
 * TLS_THREAD_STACK_VA, an unmapped guard page under each, so an overflow
 * faults instead of writing into a neighbour) on a given core and at a
 * given priority.  A thread finds its own number from its stack pointer
 * (tls_thread_self: the stacks are the registry; no thread-local storage
 * is needed), and with it its sleep notification and its "current memory
 * account" (tls_mem.h).
 *
 * mbedTLS's mutexes (MBEDTLS_THREADING_C with MBEDTLS_THREADING_ALT:
 * PSA's key slots and random state, each DRBG and entropy pool) are
 * struct tls_lock (tls_lock.h); tls_thread_init installs them and the
 * locks' slow path (a 20 us sleep on the caller's own notification), and
 * must run before any mbedTLS object is made (tls_plat_init calls it).
 *
 * Which state is shared, and how: the heap and the accounts (tls_mem.c,
 * one lock); ticket keys (tls_ticket.c, a lock per listener); PSA and the
 * DRBGs (mbedTLS's mutexes); the engine's statistics (atomic adds).
 * Everything else is one thread's: a connection, its mbedTLS context and
 * its memory account belong to the worker that accepted it.
 */
#ifndef KEEL_TLS_THREAD_H
#define KEEL_TLS_THREAD_H

#include <stddef.h>
#include <stdint.h>

#define TLS_MAX_THREADS     9                     /* thread 0 and up to 8 more */
#define TLS_THREAD_STACK_VA 0x0000006800000000ull /* thread k's stack: k * TLS_THREAD_SLOT above */
#define TLS_THREAD_STACK    (64u << 10)           /* bytes of stack per thread, as thread 0 (KEEL_SRV_STACK_PAGES) */
#define TLS_THREAD_SLOT     (TLS_THREAD_STACK + 4096u) /* with its guard page */

enum tls_thread_error {
    TLS_THREAD_OK = 0,
    TLS_THREAD_E_INVAL = -1,  /* K out of range, or already started */
    TLS_THREAD_E_SLOTS = -2,  /* no free capability slot */
    TLS_THREAD_E_KERNEL = -3, /* the kernel refused (memory, priority, core): *kerr says why */
};

/* Installs mbedTLS's mutexes and the lock slow path.  Call once, first. */
void tls_thread_init(void);

/* Starts thread K running FN(ARG) on core CPU (which must be online) at priority PRIO or, where the
 * kernel refuses that (above the task's own), the highest below it that
 * it allows (so 31 means "the task's own"), with its faults going to init (a fault ends the
 * program's restartable run, as for thread 0).  Returns TLS_THREAD_OK or
 * an error above, with the kernel's error in *KERR. */
int tls_thread_start(unsigned k, void (*fn)(void *), void *arg, unsigned prio, unsigned cpu, int64_t *kerr)
    __attribute__((warn_unused_result));

/* The calling thread's number: 0 for the first thread. */
unsigned tls_thread_self(void);

/* The notification thread K sleeps on (created at its first sleep), or 0. */
uint64_t tls_thread_sleep_ntfn(unsigned k);

#endif
