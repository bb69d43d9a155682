/*
 * keel/heap.h - a checked heap allocator over memory the caller provides.
 *
 * No global state: every call takes the struct heap it works on, and the
 * memory it manages comes from heap_init() and heap_grow().  A server
 * typically maps a few pages, calls heap_init() on them at start, and
 * heap_grow() when it maps more.
 *
 * Every block carries a header canary and a footer canary that bind the
 * block's address, size and state to a per-heap key, and an allocation's
 * unused tail (between the size asked for and the 16-byte-rounded capacity)
 * is filled with a pattern.  heap_free(), heap_realloc() and heap_check()
 * verify them and report, through the on_corruption callback given to
 * heap_init(), never silently continuing:
 *
 *   - a double free                     -> HEAP_E_DOUBLEFREE, heap still usable
 *   - a pointer this heap did not return -> HEAP_E_BADPTR,    heap still usable
 *   - an overwritten canary, tail pattern, size or free-list link
 *                                        -> HEAP_E_CORRUPT, and the heap is
 *     "broken" from then on: every later call fails (NULL or HEAP_E_BROKEN)
 *     without touching the memory, because its metadata can not be trusted.
 *
 * The callback is meant to fault the task (a broken contract); if it returns,
 * the failing call returns its error as above.  It runs before the call
 * returns, with the heap in a consistent state for the first two kinds.
 * The canaries detect accidents, not attackers: the key is derived from
 * addresses, not secret.
 *
 * Not thread-safe: a heap is used by one thread at a time (servers are
 * single-threaded loops).  Allocation and free cost a walk of one size-class
 * list plus O(regions) pointer checks; heap_check() is O(blocks).
 */
#ifndef KEEL_LIB_HEAP_H
#define KEEL_LIB_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Errors (negative).  HEAP_OK is 0. */
enum heap_error {
    HEAP_OK = 0,
    HEAP_E_INVAL = -1,      /* bad argument: NULL, region too small, regions overlap */
    HEAP_E_BADPTR = -2,     /* not a pointer this heap returned (or not the start of one) */
    HEAP_E_DOUBLEFREE = -3, /* the block is already free */
    HEAP_E_CORRUPT = -4,    /* a canary, tail pattern or free-list link was overwritten */
    HEAP_E_BROKEN = -5,     /* corruption was reported earlier; the heap refuses all work */
};

/* Reports a problem: what says which (a constant string), ptr where. */
typedef void (*heap_corruption_fn)(const char *what, void *ptr);

#define HEAP_ALIGN      16  /* every pointer returned is aligned to this */
#define HEAP_OVERHEAD   48  /* bytes of header and footer per allocation */
#define HEAP_MIN_REGION 256 /* smallest region heap_init/heap_grow accept */
#define HEAP_NBINS      32  /* size classes: one per power of two from 64 bytes */

struct heap_block;  /* private to heap.c */
struct heap_region; /* private to heap.c */

/*
 * The heap's own state, in memory the caller owns (a static, a stack frame,
 * anything that outlives the heap).  Callers must not touch the fields.
 */
struct heap {
    /* Set by heap_init(); never changed afterwards. */
    heap_corruption_fn on_corruption; /* never NULL */
    uint64_t key;                     /* mixed into every canary */

    /* Owned by heap.c. */
    struct heap_region *regions;         /* singly linked, newest first */
    struct heap_block *bins[HEAP_NBINS]; /* free blocks by size class; doubly linked */
    size_t bytes_total;                  /* sum over regions of the bytes blocks can occupy */
    size_t bytes_used;                   /* sum of the sizes of allocated blocks (overhead included) */
    size_t bytes_requested;              /* sum of the sizes callers asked for, live allocations */
    size_t n_allocs;                     /* live allocations */
    size_t n_free_blocks;                /* blocks on the bins; no two are adjacent */
    bool broken;                         /* corruption reported: refuse everything */
};

struct heap_stats {
    size_t regions;
    size_t bytes_total;     /* bytes_used + bytes_free */
    size_t bytes_used;      /* allocated blocks, headers and footers included */
    size_t bytes_free;      /* free blocks, headers and footers included */
    size_t bytes_requested; /* what callers asked for, live allocations */
    size_t live_allocs;
    size_t free_blocks;
    size_t largest_alloc; /* the largest heap_alloc() size that would succeed now */
    bool broken;
};

/*
 * Makes h manage [base, base+len).  The region is aligned inward to 16 bytes
 * and must then hold HEAP_MIN_REGION bytes; on_corruption must not be NULL.
 * Returns HEAP_OK or HEAP_E_INVAL (h is then unusable).
 */
int heap_init(struct heap *h, void *base, size_t len, heap_corruption_fn on_corruption)
    __attribute__((warn_unused_result));

/*
 * Adds [more, more+len) to h.  It must not overlap a region h already has;
 * adjacent regions are not merged (a block never spans two regions).
 * Returns HEAP_OK, HEAP_E_INVAL, or HEAP_E_BROKEN.
 */
int heap_grow(struct heap *h, void *more, size_t len) __attribute__((warn_unused_result));

/*
 * Returns size bytes aligned to HEAP_ALIGN, or NULL if no block is big
 * enough or the heap is broken.  size 0 returns a unique, freeable pointer.
 */
void *heap_alloc(struct heap *h, size_t size);

/* heap_alloc(n * size) with the bytes zeroed; NULL if n * size overflows. */
void *heap_calloc(struct heap *h, size_t n, size_t size);

/*
 * Resizes p's allocation, in place when it can, keeping the first
 * min(old, new) bytes.  p == NULL acts as heap_alloc(size); size == 0 frees p
 * and returns NULL.  On failure returns NULL and p is untouched (a bad p is
 * reported as heap_free would).
 */
void *heap_realloc(struct heap *h, void *p, size_t size);

/*
 * Frees p (NULL is a no-op).  Returns HEAP_OK, or HEAP_E_BADPTR,
 * HEAP_E_DOUBLEFREE, HEAP_E_CORRUPT or HEAP_E_BROKEN, after reporting; on
 * any error nothing is freed.
 */
int heap_free(struct heap *h, void *p);

/*
 * Walks every block and free list and verifies all canaries, tail patterns,
 * links and counters.  Returns HEAP_OK, HEAP_E_CORRUPT (reported) or
 * HEAP_E_BROKEN.
 */
int heap_check(struct heap *h) __attribute__((warn_unused_result));

/* Fills *out.  Cheap: counters plus a look at the largest size class. */
void heap_stats(const struct heap *h, struct heap_stats *out);

#endif
