/*
 * tls_mem.c - mbedTLS's calloc/free over a lib heap, with per-account
 * byte limits.  The design is in tls_mem.h.
 *
 * Block layout: [struct tls_mem_prefix (16 bytes)][the caller's bytes].
 * The prefix names the account charged and the size asked for, with a
 * magic word so that a stray pointer is caught before the account is
 * touched (the heap's own canaries catch overruns of the block).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tls_lock.h"
#include "tls_mem.h"

#define TLS_MEM_MAGIC 0x4b544d31u /* "KTM1" */

struct tls_mem_prefix {
    struct tls_mem_account *account; /* never NULL: the global account stands for "none" */
    uint32_t size;                   /* bytes the caller asked for */
    uint32_t magic;                  /* TLS_MEM_MAGIC while allocated, 0 after free */
};
_Static_assert(sizeof(struct tls_mem_prefix) == HEAP_ALIGN, "the prefix keeps the caller's bytes aligned");

void (*tls_lock_wait_hook)(unsigned rounds);
unsigned (*tls_mem_self_hook)(void);

static struct {
    struct heap *heap;                                /* NULL until tls_mem_init */
    struct tls_lock lock;                             /* the heap and every account's counters */
    struct tls_mem_account global;                    /* allocations outside any bracket */
    struct tls_mem_account *current[TLS_MEM_THREADS]; /* per thread; NULL: the global one */
    tls_mem_grow_fn grow;                             /* NULL: the heap has the size it was given */
} M;

static unsigned self(void)
{
    unsigned k = tls_mem_self_hook ? tls_mem_self_hook() : 0;
    return k < TLS_MEM_THREADS ? k : 0;
}

void tls_mem_init(struct heap *h)
{
    memset(&M, 0, sizeof M);
    M.heap = h;
}

void tls_mem_set_grow(tls_mem_grow_fn fn) { M.grow = fn; }

struct tls_mem_account *tls_mem_enter(struct tls_mem_account *a)
{
    unsigned k = self();
    struct tls_mem_account *prev = M.current[k] ? M.current[k] : &M.global;
    M.current[k] = a ? a : &M.global;
    return prev;
}

void tls_mem_leave(struct tls_mem_account *prev) { M.current[self()] = prev ? prev : &M.global; }

void tls_mem_heap_stats(struct heap_stats *st)
{
    tls_lock_take(&M.lock);
    heap_stats(M.heap, st);
    tls_lock_give(&M.lock);
}

const struct tls_mem_account *tls_mem_global(void) { return &M.global; }

size_t tls_mem_cost(size_t size)
{
    size_t body = (size + sizeof(struct tls_mem_prefix) + HEAP_ALIGN - 1) & ~(size_t)(HEAP_ALIGN - 1);
    return body + HEAP_OVERHEAD;
}

/* BYTES from the heap charged to the current account, zeroed if ZERO. */
static void *charge_alloc(size_t bytes, bool zero)
{
    if (!M.heap)
        return NULL;
    if (bytes > UINT32_MAX - 2 * HEAP_ALIGN)
        return NULL;
    unsigned k = self();
    struct tls_mem_account *a = M.current[k] ? M.current[k] : &M.global;
    size_t cost = tls_mem_cost(bytes);
    tls_lock_take(&M.lock);
    if (a->limit && (a->used > a->limit || cost > a->limit - a->used)) {
        a->denied++;
        tls_lock_give(&M.lock);
        return NULL;
    }
    struct tls_mem_prefix *p = zero ? heap_calloc(M.heap, 1, sizeof *p + bytes) : heap_alloc(M.heap, sizeof *p + bytes);
    if (!p && M.grow && M.grow(cost)) /* under the lock: one thread grows the heap at a time */
        p = zero ? heap_calloc(M.heap, 1, sizeof *p + bytes) : heap_alloc(M.heap, sizeof *p + bytes);
    if (p) {
        p->account = a;
        p->size = (uint32_t)bytes;
        p->magic = TLS_MEM_MAGIC;
        a->used += cost;
        a->allocs++;
        if (a->used > a->peak)
            a->peak = a->used;
    }
    tls_lock_give(&M.lock);
    return p ? p + 1 : NULL;
}

void *tls_mem_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return charge_alloc(n * size, true);
}

void *tls_mem_alloc(size_t size) { return charge_alloc(size, false); }

void *tls_mem_calloc_global(size_t n, size_t size)
{
    struct tls_mem_account *prev = tls_mem_enter(NULL);
    void *p = tls_mem_calloc(n, size);
    tls_mem_leave(prev);
    return p;
}

void tls_mem_free(void *ptr)
{
    if (!ptr || !M.heap)
        return;
    struct tls_mem_prefix *p = (struct tls_mem_prefix *)ptr - 1;
    tls_lock_take(&M.lock);
    if (p->magic != TLS_MEM_MAGIC) {
        /* Not ours, or freed twice: let the heap report it (it checks the
         * block's canaries before anything is written). */
        (void)heap_free(M.heap, p);
        tls_lock_give(&M.lock);
        return;
    }
    struct tls_mem_account *a = p->account;
    size_t cost = tls_mem_cost(p->size);
    p->magic = 0;
    if (heap_free(M.heap, p) == HEAP_OK) { /* else reported by the heap; the account keeps the charge */
        a->used -= cost;
        a->allocs--;
    }
    tls_lock_give(&M.lock);
}
