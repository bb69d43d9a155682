/*
 * tls_mem.h - the memory mbedTLS allocates, from one lib heap (keel/heap.h),
 * charged to byte accounts so that each connection's memory is bounded.
 *
 * mbedTLS's calloc and free (mbedtls_config.h: MBEDTLS_PLATFORM_CALLOC_MACRO,
 * MBEDTLS_PLATFORM_FREE_MACRO) are tls_mem_calloc and tls_mem_free.  They
 * take no context, so the account to charge is "the current one": the code
 * that calls into mbedTLS for a connection brackets the call with
 *
 *     struct tls_mem_account *prev = tls_mem_enter(&conn->mem);
 *     ... mbedtls_ssl_handshake(&conn->ssl) ...
 *     tls_mem_leave(prev);
 *
 * and every allocation made meanwhile is charged to conn->mem, which
 * refuses (calloc returns NULL, mbedTLS fails the operation with
 * MBEDTLS_ERR_SSL_ALLOC_FAILED) once its limit would be passed.  Outside a
 * bracket allocations go to the global account (configuration,
 * certificates, ticket keys), which has no limit of its own: the heap's
 * size is that limit.
 *
 * Each block records the account it was charged to, so a free credits the
 * right account whichever is current.  An account must not be discarded
 * while it is charged (tls_mem_account_idle); tls_conn_free checks that.
 *
 * Charged bytes are what the heap really spends: the size asked for plus
 * this module's 16-byte prefix, rounded up to HEAP_ALIGN, plus HEAP_OVERHEAD.
 *
 * State: one heap per process and one "current account" per thread
 * (file-scope: the hooks have no context argument).  Threads: the heap and
 * the accounts are behind one lock (tls_lock.h), and the current account
 * is kept per thread number, which tls_mem_self_hook gives (tls_thread.c
 * sets it; NULL: one thread, number 0).  Pure code apart from the heap:
 * host-tested (test_tls_mem.c), and the host TLS tests run mbedTLS on it.
 */
#ifndef KEEL_TLS_MEM_H
#define KEEL_TLS_MEM_H

#include <stdbool.h>
#include <stddef.h>

#include <keel/heap.h>

struct tls_mem_account {
    size_t used;   /* bytes charged now */
    size_t peak;   /* most ever charged at once */
    size_t limit;  /* refuse allocations beyond this; 0: no limit */
    size_t allocs; /* live blocks */
    size_t denied; /* allocations refused because of the limit */
};

#define TLS_MEM_THREADS 9 /* thread numbers 0..8 (tls_thread.h's TLS_MAX_THREADS) */

/* The calling thread's number, < TLS_MEM_THREADS (NULL: always 0). */
extern unsigned (*tls_mem_self_hook)(void);

/* Makes tls_mem_calloc draw from h (already heap_init'ed) and resets the
 * global account.  Must be called before anything allocates. */
void tls_mem_init(struct heap *h);

/* Called when the heap cannot hold an allocation of `bytes` (its block
 * included): maps more memory into the heap and returns true, or returns
 * false (the budget is spent).  The allocation is then tried once more. */
typedef bool (*tls_mem_grow_fn)(size_t bytes);
void tls_mem_set_grow(tls_mem_grow_fn fn);

/* Makes a the current account (NULL: the global one); returns the one it
 * replaces, for tls_mem_leave. */
struct tls_mem_account *tls_mem_enter(struct tls_mem_account *a);
void tls_mem_leave(struct tls_mem_account *prev);

/* The global account (allocations outside any bracket). */
const struct tls_mem_account *tls_mem_global(void);

/* What one allocation of size bytes charges. */
size_t tls_mem_cost(size_t size);

/* True when nothing is charged to a (it may be discarded). */
static inline bool tls_mem_account_idle(const struct tls_mem_account *a) { return a->used == 0 && a->allocs == 0; }

/* calloc(n, size) charged to the current account: zeroed, 16-byte
 * aligned, NULL when n * size overflows, the account's limit would be
 * passed, the heap is full, or tls_mem_init was never called. */
void *tls_mem_calloc(size_t n, size_t size);

/* As tls_mem_calloc, but charged to the global account whatever the
 * current one is: for memory that outlives the connection being served
 * (the PSA key store's slices, mbedtls_config.h). */
void *tls_mem_calloc_global(size_t n, size_t size);

/* As tls_mem_calloc(1, size) but the bytes are NOT zeroed: they may hold
 * what an earlier owner of the memory left (another connection's data), so
 * only for a buffer whose bytes are read only after being written (tlsd's
 * pending buffer: 16 KiB per record, whose zeroing cost as much as a copy
 * under TCG).  Freed with tls_mem_free. */
void *tls_mem_alloc(size_t size);

/* Frees p (NULL: nothing), crediting the account it was charged to.  A
 * pointer this module did not return is reported by the heap's corruption
 * callback (a broken contract). */
void tls_mem_free(void *p);

/* The heap's statistics, taken under the lock. */
void tls_mem_heap_stats(struct heap_stats *st);

#endif
