/*
 * tls_mem.c - mbedTLS's calloc/free over a lib heap, with per-account
 * byte limits.  The design is in tls_mem.h.
 *
 * Block layout: [struct tls_mem_prefix (16 bytes)][the caller's bytes].
 * The prefix names the account charged and the size asked for, with a
 * magic word so that a stray pointer is caught before the account is
 * touched (the heap's own canaries catch overruns of the block).
 */
#include <stdint.h>
#include <string.h>

#include "tls_mem.h"

#define TLS_MEM_MAGIC 0x4b544d31u /* "KTM1" */

struct tls_mem_prefix {
    struct tls_mem_account *account; /* never NULL: the global account stands for "none" */
    uint32_t size;                   /* bytes the caller asked for */
    uint32_t magic;                  /* TLS_MEM_MAGIC while allocated, 0 after free */
};
_Static_assert(sizeof(struct tls_mem_prefix) == HEAP_ALIGN, "the prefix keeps the caller's bytes aligned");

static struct {
    struct heap *heap;               /* NULL until tls_mem_init */
    struct tls_mem_account global;   /* allocations outside any bracket */
    struct tls_mem_account *current; /* never NULL after tls_mem_init */
    tls_mem_grow_fn grow;            /* NULL: the heap has the size it was given */
} M;

void tls_mem_init(struct heap *h)
{
    memset(&M, 0, sizeof M);
    M.heap = h;
    M.current = &M.global;
}

void tls_mem_set_grow(tls_mem_grow_fn fn) { M.grow = fn; }

struct tls_mem_account *tls_mem_enter(struct tls_mem_account *a)
{
    struct tls_mem_account *prev = M.current;
    M.current = a ? a : &M.global;
    return prev;
}

void tls_mem_leave(struct tls_mem_account *prev) { M.current = prev ? prev : &M.global; }

const struct tls_mem_account *tls_mem_global(void) { return &M.global; }

size_t tls_mem_cost(size_t size)
{
    size_t body = (size + sizeof(struct tls_mem_prefix) + HEAP_ALIGN - 1) & ~(size_t)(HEAP_ALIGN - 1);
    return body + HEAP_OVERHEAD;
}

void *tls_mem_calloc(size_t n, size_t size)
{
    if (!M.heap)
        return NULL;
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    if (bytes > UINT32_MAX - 2 * HEAP_ALIGN)
        return NULL;
    struct tls_mem_account *a = M.current;
    size_t cost = tls_mem_cost(bytes);
    if (a->limit && (a->used > a->limit || cost > a->limit - a->used)) {
        a->denied++;
        return NULL;
    }
    struct tls_mem_prefix *p = heap_calloc(M.heap, 1, sizeof *p + bytes);
    if (!p && M.grow && M.grow(cost))
        p = heap_calloc(M.heap, 1, sizeof *p + bytes);
    if (!p)
        return NULL;
    p->account = a;
    p->size = (uint32_t)bytes;
    p->magic = TLS_MEM_MAGIC;
    a->used += cost;
    a->allocs++;
    if (a->used > a->peak)
        a->peak = a->used;
    return p + 1;
}

void tls_mem_free(void *ptr)
{
    if (!ptr || !M.heap)
        return;
    struct tls_mem_prefix *p = (struct tls_mem_prefix *)ptr - 1;
    if (p->magic != TLS_MEM_MAGIC) {
        /* Not ours, or freed twice: let the heap report it (it checks the
         * block's canaries before anything is written). */
        (void)heap_free(M.heap, p);
        return;
    }
    struct tls_mem_account *a = p->account;
    size_t cost = tls_mem_cost(p->size);
    p->magic = 0;
    if (heap_free(M.heap, p) != HEAP_OK)
        return; /* reported by the heap; the account keeps the charge */
    a->used -= cost;
    a->allocs--;
}
