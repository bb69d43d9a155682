/*
 * heap.c - a checked, segregated-fit heap over caller-provided regions
 * (contract in keel/heap.h).
 *
 * Layout.  A region, aligned inward to 16 bytes, is
 *
 *   [struct heap_region][prologue footer][block][block]...[epilogue header]
 *    32 bytes            16, size 0                         32, state EDGE
 *
 * and a block is
 *
 *   [header 32: size, state, req, canary][payload][footer 16: canary, size]
 *
 * with size the whole block (a multiple of 16, at least MIN_BLOCK), so the
 * payload is 16-aligned.  The header's canary comes last and the footer's
 * first: an underrun of a payload hits its own header canary, an overrun hits
 * its own footer canary, before anything else.  Canaries are a hash of the
 * heap key, the address, and the fields beside them, so a stale or copied
 * header does not validate at another address or with other contents.
 * The prologue footer (size 0) and epilogue header (state EDGE) stop
 * coalescing at the region's ends.
 *
 * States.  A block is USED or FREE.  A used block records req, the size the
 * caller asked for; bytes [req, capacity) hold TAIL_BYTE, so even a one-byte
 * overrun inside the rounding is seen.  A free block is on exactly one bin
 * (bins[bin_of(size)]), doubly linked through the first 16 payload bytes.
 *
 * Invariants (heap_check() verifies all of them):
 *   - blocks tile [first, end) of each region exactly;
 *   - no two free blocks are adjacent (free coalesces both ways);
 *   - every free block is on its bin once, and the bins hold nothing else;
 *   - the counters in struct heap equal the sums over the blocks.
 * Freed headers that coalescing absorbs are left in place with state FREE:
 * a second free of that pointer then finds a valid FREE header and is
 * reported as a double free, not as a wild pointer.
 *
 * Checking.  Every pointer read from heap memory (a free-list link, a
 * neighbour's size) is checked to lie in a region and to point at a valid
 * header before it is followed, and list walks are bounded by the number of
 * free blocks, so a corrupted heap is reported, never followed off a cliff.
 * Errors in the caller's pointer (bad pointer, double free) are found
 * before anything is written.  Corruption found in the middle of an
 * operation abandons it and marks the heap broken: nothing is repaired.
 *
 * Not handled: use-after-free writes beyond a free block's links, and
 * thread safety (one user at a time).  Free memory is not poisoned.
 */
#include <keel/heap.h>

#include <stddef.h>

#define HDR_SIZE    32u
#define FTR_SIZE    16u
#define REGION_SIZE 32u
#define MIN_PAYLOAD 16u
#define MIN_BLOCK   (HDR_SIZE + MIN_PAYLOAD + FTR_SIZE)
#define MIN_SHIFT   6 /* log2(MIN_BLOCK): bin 0 holds [64, 128) */
#define TAIL_BYTE   0xa5

/* Block states: large distinct constants, so a zeroed or random word is none of them. */
#define BLOCK_USED 0x55534544424c4b31ull /* "USEDBLK1" */
#define BLOCK_FREE 0x46524545424c4b31ull /* "FREEBLK1" */
#define BLOCK_EDGE 0x45444745424c4b31ull /* "EDGEBLK1": the epilogue */

/* Block header.  Invariant: canary == block_canary(h, this). */
struct heap_block {
    uint64_t size;   /* whole block in bytes; 0 only for the epilogue */
    uint64_t state;  /* BLOCK_USED, BLOCK_FREE or BLOCK_EDGE */
    uint64_t req;    /* USED: bytes the caller asked for, <= capacity; else 0 */
    uint64_t canary; /* last: an underrun of the payload reaches it first */
};

/* Block footer, the last 16 bytes of a block.  Invariant: size == header's size. */
struct heap_footer {
    uint64_t canary; /* first: an overrun of the payload reaches it first */
    uint64_t size;
};

/* The first payload bytes of a free block. */
struct heap_links {
    struct heap_block *next, *prev; /* prev == NULL: this block is its bin's head */
};

/* Region header, at the region's aligned start.  Immutable after heap_grow. */
struct heap_region {
    struct heap_region *next;
    uintptr_t first; /* first block header */
    uintptr_t end;   /* epilogue header; the region ends at end + HDR_SIZE */
    uint64_t canary;
};

_Static_assert(sizeof(struct heap_block) == HDR_SIZE, "header size");
_Static_assert(offsetof(struct heap_block, canary) == HDR_SIZE - 8, "header canary must be last");
_Static_assert(sizeof(struct heap_footer) == FTR_SIZE, "footer size");
_Static_assert(offsetof(struct heap_footer, canary) == 0, "footer canary must be first");
_Static_assert(sizeof(struct heap_region) == REGION_SIZE, "region header size");
_Static_assert(sizeof(struct heap_links) <= MIN_PAYLOAD, "links fit a minimal payload");
_Static_assert(HDR_SIZE + FTR_SIZE == HEAP_OVERHEAD, "HEAP_OVERHEAD in heap.h");
_Static_assert(HDR_SIZE % HEAP_ALIGN == 0 && (REGION_SIZE + FTR_SIZE) % HEAP_ALIGN == 0, "payload alignment");
_Static_assert(MIN_BLOCK == 1u << MIN_SHIFT, "bin 0 starts at MIN_BLOCK");
_Static_assert(REGION_SIZE + FTR_SIZE + MIN_BLOCK + HDR_SIZE + HEAP_ALIGN <= HEAP_MIN_REGION, "HEAP_MIN_REGION");

/* -------------------------------------------------------- helpers ---- */

/* splitmix64's finaliser: every input bit affects every output bit. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t block_canary(const struct heap *h, const struct heap_block *b)
{
    uint64_t x = mix64(h->key ^ (uintptr_t)b);
    x = mix64(x ^ b->size);
    x = mix64(x ^ b->state);
    return mix64(x ^ b->req);
}

static uint64_t footer_canary(const struct heap *h, const struct heap_footer *f, uint64_t size)
{
    return mix64(mix64(h->key ^ ~(uint64_t)(uintptr_t)f) ^ size);
}

static uint64_t region_canary(const struct heap *h, const struct heap_region *r)
{
    uint64_t x = mix64(h->key ^ (uintptr_t)r ^ 0x524547494f4eull);
    x = mix64(x ^ (uintptr_t)r->next);
    x = mix64(x ^ r->first);
    return mix64(x ^ r->end);
}

static struct heap_block *block_at(uintptr_t a) { return (struct heap_block *)a; }
static struct heap_block *next_block(const struct heap_block *b) { return block_at((uintptr_t)b + b->size); }
static struct heap_footer *footer_of(const struct heap_block *b)
{
    return (struct heap_footer *)((uintptr_t)b + b->size - FTR_SIZE);
}
static struct heap_links *links_of(struct heap_block *b) { return (struct heap_links *)(b + 1); }
static uint8_t *payload_of(const struct heap_block *b) { return (uint8_t *)(uintptr_t)(b + 1); }
static uint64_t capacity_of(const struct heap_block *b) { return b->size - HEAP_OVERHEAD; }

static unsigned bin_of(uint64_t size)
{
    unsigned log2 = 63u - (unsigned)__builtin_clzll(size);
    unsigned bin = log2 > MIN_SHIFT ? log2 - MIN_SHIFT : 0;
    return bin < HEAP_NBINS ? bin : HEAP_NBINS - 1;
}

/* Block size for a request of req bytes, or 0 if it cannot exist. */
static uint64_t block_size_for(size_t req)
{
    if (req > SIZE_MAX - HEAP_OVERHEAD - 2 * HEAP_ALIGN)
        return 0;
    uint64_t payload = req < MIN_PAYLOAD ? MIN_PAYLOAD : (req + HEAP_ALIGN - 1) & ~(uint64_t)(HEAP_ALIGN - 1);
    return payload + HEAP_OVERHEAD;
}

static void fill_bytes(uint8_t *p, uint8_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

static void copy_bytes(uint8_t *d, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

/* Reports through the heap's callback; corruption also breaks the heap. */
static int report(struct heap *h, int err, const char *what, const void *ptr)
{
    if (err == HEAP_E_CORRUPT)
        h->broken = true;
    h->on_corruption(what, (void *)(uintptr_t)ptr);
    return err;
}

/* Writes a complete header and footer. */
static void write_block(const struct heap *h, struct heap_block *b, uint64_t size, uint64_t state, uint64_t req)
{
    b->size = size;
    b->state = state;
    b->req = req;
    b->canary = block_canary(h, b);
    struct heap_footer *f = footer_of(b);
    f->size = size;
    f->canary = footer_canary(h, f, size);
}

/* Makes b a used block of size bytes holding req, with the tail pattern. */
static void set_used(const struct heap *h, struct heap_block *b, uint64_t size, size_t req)
{
    write_block(h, b, size, BLOCK_USED, req);
    fill_bytes(payload_of(b) + req, TAIL_BYTE, capacity_of(b) - req);
}

/* ----------------------------------------------------- validation ---- */

/*
 * Finds the region whose block area [first, end) holds addr.  Returns
 * HEAP_OK with *out set, HEAP_E_BADPTR if no region does, or
 * HEAP_E_CORRUPT if a region header is damaged (the caller reports).
 */
static int region_of(const struct heap *h, uintptr_t addr, struct heap_region **out)
{
    for (struct heap_region *r = h->regions; r; r = r->next) {
        if (r->canary != region_canary(h, r))
            return HEAP_E_CORRUPT;
        if (addr >= r->first && addr < r->end) {
            *out = r;
            return HEAP_OK;
        }
    }
    return HEAP_E_BADPTR;
}

static bool tail_intact(const struct heap_block *b)
{
    const uint8_t *p = payload_of(b);
    for (uint64_t i = b->req; i < capacity_of(b); i++)
        if (p[i] != TAIL_BYTE)
            return false;
    return true;
}

/*
 * Why the header at b is not a well-formed USED or FREE block of region r,
 * or NULL if it is.  Precondition: b is 16-aligned and in [r->first, r->end).
 * Reads nothing outside the region.
 */
static const char *block_fault(const struct heap *h, const struct heap_region *r, const struct heap_block *b)
{
    if (b->canary != block_canary(h, b))
        return "header canary overwritten";
    if (b->state != BLOCK_USED && b->state != BLOCK_FREE)
        return "block header has a bad state";
    if (b->size < MIN_BLOCK || b->size % HEAP_ALIGN || b->size > r->end - (uintptr_t)b)
        return "block size out of range";
    const struct heap_footer *f = footer_of(b);
    if (f->canary != footer_canary(h, f, b->size) || f->size != b->size)
        return "footer canary overwritten (overflow past the end)";
    if (b->state == BLOCK_USED && (b->req > capacity_of(b) || !tail_intact(b)))
        return "tail pattern overwritten (overflow past the end)";
    return NULL;
}

/* Is b a valid free block of this heap?  Reports nothing (used by const paths too). */
static bool free_node_ok(const struct heap *h, struct heap_block *b)
{
    struct heap_region *r;
    uintptr_t a = (uintptr_t)b;
    if (a % HEAP_ALIGN || region_of(h, a, &r) != HEAP_OK)
        return false;
    return block_fault(h, r, b) == NULL && b->state == BLOCK_FREE;
}

/*
 * Tells whether next, the block after one in r, is free; validates it (or
 * the epilogue, which counts as used).  HEAP_OK or HEAP_E_CORRUPT (reported).
 */
static int next_is_free(struct heap *h, struct heap_region *r, struct heap_block *next, bool *is_free)
{
    *is_free = false;
    if ((uintptr_t)next == r->end) {
        if (next->canary != block_canary(h, next) || next->state != BLOCK_EDGE || next->size != 0)
            return report(h, HEAP_E_CORRUPT, "region epilogue overwritten", next);
        return HEAP_OK;
    }
    const char *why = block_fault(h, r, next);
    if (why)
        return report(h, HEAP_E_CORRUPT, why, payload_of(next));
    *is_free = next->state == BLOCK_FREE;
    return HEAP_OK;
}

/* Sets *prev to the free block before b in r, or NULL.  HEAP_OK or HEAP_E_CORRUPT (reported). */
static int prev_if_free(struct heap *h, struct heap_region *r, struct heap_block *b, struct heap_block **prev)
{
    *prev = NULL;
    const struct heap_footer *f = (const struct heap_footer *)((uintptr_t)b - FTR_SIZE);
    if (f->canary != footer_canary(h, f, f->size))
        return report(h, HEAP_E_CORRUPT, "previous block's footer overwritten", b);
    if ((uintptr_t)b == r->first)
        return f->size == 0 ? HEAP_OK : report(h, HEAP_E_CORRUPT, "region prologue overwritten", b);
    if (f->size < MIN_BLOCK || f->size % HEAP_ALIGN || f->size > (uintptr_t)b - r->first)
        return report(h, HEAP_E_CORRUPT, "previous block's footer has a bad size", b);
    struct heap_block *p = block_at((uintptr_t)b - f->size);
    const char *why = block_fault(h, r, p);
    if (why)
        return report(h, HEAP_E_CORRUPT, why, payload_of(p));
    if (p->state == BLOCK_FREE)
        *prev = p;
    return HEAP_OK;
}

/*
 * The header at b failed its canary: walks r to tell a damaged real block
 * (corruption) from a pointer that is not a block start (caller's error).
 */
static int classify_bad_header(struct heap *h, struct heap_region *r, struct heap_block *b, void *p)
{
    uintptr_t cur = r->first;
    while (cur < r->end && cur < (uintptr_t)b) {
        const char *why = block_fault(h, r, block_at(cur));
        if (why)
            return report(h, HEAP_E_CORRUPT, why, payload_of(block_at(cur)));
        cur += block_at(cur)->size;
    }
    if (cur == (uintptr_t)b)
        return report(h, HEAP_E_CORRUPT, "header canary overwritten (underrun?)", p);
    return report(h, HEAP_E_BADPTR, "pointer is not the start of a block", p);
}

/*
 * Resolves p, a pointer the caller says heap_alloc returned, to its block
 * and region, validating everything about it.  Nothing is written.  Returns
 * HEAP_OK or a reported HEAP_E_BADPTR / HEAP_E_DOUBLEFREE / HEAP_E_CORRUPT.
 */
static int lookup_used(struct heap *h, void *p, struct heap_region **rp, struct heap_block **bp)
{
    uintptr_t a = (uintptr_t)p;
    if (a % HEAP_ALIGN || a < HDR_SIZE)
        return report(h, HEAP_E_BADPTR, "pointer not from this heap (misaligned)", p);
    int err = region_of(h, a - HDR_SIZE, rp);
    if (err == HEAP_E_CORRUPT)
        return report(h, err, "region header overwritten", p);
    if (err)
        return report(h, err, "pointer not from this heap", p);
    struct heap_block *b = block_at(a - HDR_SIZE);
    bool canary_ok = b->canary == block_canary(h, b);
    if (canary_ok && b->state == BLOCK_FREE)
        return report(h, HEAP_E_DOUBLEFREE, "double free", p);
    if (!canary_ok || b->state != BLOCK_USED)
        return classify_bad_header(h, *rp, b, p);
    const char *why = block_fault(h, *rp, b);
    if (why)
        return report(h, HEAP_E_CORRUPT, why, p);
    *bp = b;
    return HEAP_OK;
}

/* --------------------------------------------------------- bins ---- */

static int bin_push(struct heap *h, struct heap_block *b)
{
    unsigned i = bin_of(b->size);
    struct heap_block *head = h->bins[i];
    if (head && !free_node_ok(h, head))
        return report(h, HEAP_E_CORRUPT, "free list head overwritten", head);
    links_of(b)->next = head;
    links_of(b)->prev = NULL;
    if (head)
        links_of(head)->prev = b;
    h->bins[i] = b;
    h->n_free_blocks++;
    return HEAP_OK;
}

/* Takes free block b off its bin after checking both neighbours point back at it. */
static int bin_unlink(struct heap *h, struct heap_block *b)
{
    struct heap_links *l = links_of(b);
    unsigned i = bin_of(b->size);
    bool prev_ok = l->prev ? free_node_ok(h, l->prev) && links_of(l->prev)->next == b : h->bins[i] == b;
    bool next_ok = !l->next || (free_node_ok(h, l->next) && links_of(l->next)->prev == b);
    if (!prev_ok || !next_ok)
        return report(h, HEAP_E_CORRUPT, "free list links overwritten (use after free?)", payload_of(b));
    if (l->prev)
        links_of(l->prev)->next = l->next;
    else
        h->bins[i] = l->next;
    if (l->next)
        links_of(l->next)->prev = l->prev;
    h->n_free_blocks--;
    return HEAP_OK;
}

/*
 * First fit within the smallest size class that can hold need; any block in
 * a larger class fits.  Sets *out (NULL: nothing fits) and *rp.
 */
static int find_fit(struct heap *h, uint64_t need, struct heap_block **out, struct heap_region **rp)
{
    size_t budget = h->n_free_blocks; /* more steps than blocks means a cycle */
    *out = NULL;
    for (unsigned i = bin_of(need); i < HEAP_NBINS; i++) {
        for (struct heap_block *b = h->bins[i]; b; b = links_of(b)->next) {
            if (budget-- == 0)
                return report(h, HEAP_E_CORRUPT, "free list has a cycle", b);
            if (!free_node_ok(h, b))
                return report(h, HEAP_E_CORRUPT, "free list points at a damaged block", b);
            if (b->size >= need) {
                *out = b;
                if (region_of(h, (uintptr_t)b, rp) != HEAP_OK)
                    return report(h, HEAP_E_CORRUPT, "region header overwritten", b);
                return HEAP_OK;
            }
        }
    }
    return HEAP_OK;
}

/*
 * Makes [b, b+size) free, merged with the block after it if that is free,
 * and files it.  Precondition: the block before b is not free.
 */
static int release_range(struct heap *h, struct heap_region *r, struct heap_block *b, uint64_t size)
{
    struct heap_block *next = block_at((uintptr_t)b + size);
    bool next_free;
    int err = next_is_free(h, r, next, &next_free);
    if (!err && next_free) {
        err = bin_unlink(h, next);
        size += next->size;
    }
    if (err)
        return err;
    write_block(h, b, size, BLOCK_FREE, 0);
    return bin_push(h, b);
}

/*
 * b (unlinked, spanning size bytes) becomes a used block for req; what is
 * beyond need goes back to the bins if it can form a block of its own.
 */
static int shrink_to(struct heap *h, struct heap_region *r, struct heap_block *b, uint64_t size, uint64_t need,
                     size_t req)
{
    uint64_t spare = size - need;
    if (spare < MIN_BLOCK) {
        set_used(h, b, size, req);
        return HEAP_OK;
    }
    set_used(h, b, need, req);
    return release_range(h, r, block_at((uintptr_t)b + need), spare);
}

/* ------------------------------------------------------- regions ---- */

static bool overlaps_region(const struct heap *h, uintptr_t lo, uintptr_t hi)
{
    for (const struct heap_region *r = h->regions; r; r = r->next)
        if (lo < r->end + HDR_SIZE && (uintptr_t)r < hi)
            return true;
    return false;
}

static int add_region(struct heap *h, void *base, size_t len)
{
    uintptr_t a = (uintptr_t)base;
    if (!base || len > UINTPTR_MAX - a)
        return HEAP_E_INVAL;
    uintptr_t lo = (a + HEAP_ALIGN - 1) & ~(uintptr_t)(HEAP_ALIGN - 1);
    uintptr_t hi = (a + len) & ~(uintptr_t)(HEAP_ALIGN - 1);
    if (hi < lo || hi - lo < HEAP_MIN_REGION || overlaps_region(h, lo, hi))
        return HEAP_E_INVAL;

    struct heap_region *r = (struct heap_region *)lo;
    r->next = h->regions;
    r->first = lo + REGION_SIZE + FTR_SIZE;
    r->end = hi - HDR_SIZE;
    r->canary = region_canary(h, r);
    struct heap_footer *prologue = (struct heap_footer *)(lo + REGION_SIZE);
    prologue->size = 0;
    prologue->canary = footer_canary(h, prologue, 0);
    struct heap_block *epilogue = block_at(r->end);
    *epilogue = (struct heap_block){ .size = 0, .state = BLOCK_EDGE, .req = 0 };
    epilogue->canary = block_canary(h, epilogue);

    struct heap_block *b = block_at(r->first);
    write_block(h, b, r->end - r->first, BLOCK_FREE, 0);
    h->regions = r;
    h->bytes_total += b->size;
    return bin_push(h, b);
}

int heap_init(struct heap *h, void *base, size_t len, heap_corruption_fn on_corruption)
{
    if (!h || !on_corruption)
        return HEAP_E_INVAL;
    *h = (struct heap){ .on_corruption = on_corruption };
    h->key = mix64((uintptr_t)h ^ mix64((uintptr_t)base ^ len ^ 0x6b65656c68656170ull));
    return add_region(h, base, len);
}

int heap_grow(struct heap *h, void *more, size_t len)
{
    if (h->broken)
        return HEAP_E_BROKEN;
    return add_region(h, more, len);
}

/* ----------------------------------------------- allocate and free ---- */

void *heap_alloc(struct heap *h, size_t size)
{
    uint64_t need = block_size_for(size);
    struct heap_block *b;
    struct heap_region *r;
    if (h->broken || !need || find_fit(h, need, &b, &r) != HEAP_OK || !b)
        return NULL;
    if (bin_unlink(h, b) != HEAP_OK || shrink_to(h, r, b, b->size, need, size) != HEAP_OK)
        return NULL;
    h->bytes_used += b->size;
    h->bytes_requested += size;
    h->n_allocs++;
    return payload_of(b);
}

void *heap_calloc(struct heap *h, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total))
        return NULL;
    uint8_t *p = heap_alloc(h, total);
    if (p)
        fill_bytes(p, 0, total);
    return p;
}

int heap_free(struct heap *h, void *p)
{
    if (!p)
        return HEAP_OK;
    if (h->broken)
        return HEAP_E_BROKEN;
    struct heap_region *r;
    struct heap_block *b, *prev;
    int err = lookup_used(h, p, &r, &b);
    if (!err)
        err = prev_if_free(h, r, b, &prev);
    if (err)
        return err;

    /* point of no return: the caller's pointer is good */
    uint64_t size = b->size;
    h->bytes_used -= size;
    h->bytes_requested -= b->req;
    h->n_allocs--;
    write_block(h, b, size, BLOCK_FREE, 0); /* even if merged away: a second free sees FREE */
    if (prev) {
        err = bin_unlink(h, prev);
        if (err)
            return err;
        size += prev->size;
        b = prev;
    }
    return release_range(h, r, b, size);
}

/* Grows b in place into a free successor if together they hold need. */
static int grow_in_place(struct heap *h, struct heap_region *r, struct heap_block *b, uint64_t need, size_t req,
                         bool *done)
{
    struct heap_block *next = next_block(b);
    bool next_free;
    *done = false;
    int err = next_is_free(h, r, next, &next_free);
    if (err || !next_free || b->size + next->size < need)
        return err;
    uint64_t total = b->size + next->size;
    err = bin_unlink(h, next);
    if (!err)
        err = shrink_to(h, r, b, total, need, req);
    *done = (err == HEAP_OK);
    return err;
}

void *heap_realloc(struct heap *h, void *p, size_t size)
{
    if (!p)
        return heap_alloc(h, size);
    if (size == 0) {
        (void)heap_free(h, p);
        return NULL;
    }
    struct heap_region *r;
    struct heap_block *b;
    uint64_t need = block_size_for(size);
    if (h->broken || !need || lookup_used(h, p, &r, &b) != HEAP_OK)
        return NULL;

    uint64_t old_size = b->size, old_req = b->req;
    bool done = need <= old_size;
    int err = done ? shrink_to(h, r, b, old_size, need, size) : grow_in_place(h, r, b, need, size, &done);
    if (err)
        return NULL;
    if (done) {
        h->bytes_used = h->bytes_used - old_size + b->size;
        h->bytes_requested = h->bytes_requested - old_req + size;
        return p;
    }
    uint8_t *q = heap_alloc(h, size);
    if (!q)
        return NULL;
    copy_bytes(q, p, old_req < size ? old_req : size);
    return heap_free(h, p) == HEAP_OK ? q : NULL;
}

/* --------------------------------------------------------- check ---- */

struct heap_tally {
    size_t bytes_total, bytes_used, bytes_requested, n_allocs, n_free_blocks;
};

/* Walks one region's blocks: each valid, tiling it exactly, no two free in a row. */
static int check_region(struct heap *h, struct heap_region *r, struct heap_tally *t)
{
    struct heap_block *prev = NULL;
    int err = prev_if_free(h, r, block_at(r->first), &prev); /* validates the prologue */
    uintptr_t cur = r->first;
    bool prev_free = false;
    while (!err && cur < r->end) {
        struct heap_block *b = block_at(cur);
        const char *why = block_fault(h, r, b);
        if (why)
            return report(h, HEAP_E_CORRUPT, why, payload_of(b));
        bool is_free = b->state == BLOCK_FREE;
        if (is_free && prev_free)
            return report(h, HEAP_E_CORRUPT, "two adjacent free blocks", payload_of(b));
        t->bytes_total += b->size;
        t->bytes_used += is_free ? 0 : b->size;
        t->bytes_requested += b->req;
        t->n_allocs += !is_free;
        t->n_free_blocks += is_free;
        prev_free = is_free;
        cur += b->size;
    }
    bool last_free;
    return err ? err : next_is_free(h, r, block_at(cur), &last_free); /* validates the epilogue */
}

/* Walks the bins: every node a valid free block in its right bin, links consistent. */
static int check_bins(struct heap *h, size_t expected)
{
    size_t seen = 0;
    for (unsigned i = 0; i < HEAP_NBINS; i++) {
        struct heap_block *prev = NULL;
        for (struct heap_block *b = h->bins[i]; b; prev = b, b = links_of(b)->next) {
            if (seen++ == expected)
                return report(h, HEAP_E_CORRUPT, "free lists hold more blocks than the heap has", b);
            if (!free_node_ok(h, b) || bin_of(b->size) != i || links_of(b)->prev != prev)
                return report(h, HEAP_E_CORRUPT, "free list damaged", b);
        }
    }
    if (seen != expected)
        return report(h, HEAP_E_CORRUPT, "free blocks missing from the free lists", h);
    return HEAP_OK;
}

int heap_check(struct heap *h)
{
    if (h->broken)
        return HEAP_E_BROKEN;
    struct heap_tally t = { 0 };
    for (struct heap_region *r = h->regions; r; r = r->next) {
        if (r->canary != region_canary(h, r))
            return report(h, HEAP_E_CORRUPT, "region header overwritten", r);
        int err = check_region(h, r, &t);
        if (err)
            return err;
    }
    if (t.bytes_total != h->bytes_total || t.bytes_used != h->bytes_used || t.bytes_requested != h->bytes_requested ||
        t.n_allocs != h->n_allocs || t.n_free_blocks != h->n_free_blocks)
        return report(h, HEAP_E_CORRUPT, "heap counters disagree with the blocks", h);
    return check_bins(h, t.n_free_blocks);
}

/* Capacity of the largest valid block on bin i, visiting at most *budget nodes. */
static size_t largest_in_bin(const struct heap *h, unsigned i, size_t *budget)
{
    size_t best = 0;
    for (struct heap_block *b = h->bins[i]; b && *budget > 0 && free_node_ok(h, b); b = links_of(b)->next) {
        (*budget)--;
        if (capacity_of(b) > best)
            best = capacity_of(b);
    }
    return best;
}

void heap_stats(const struct heap *h, struct heap_stats *out)
{
    *out = (struct heap_stats){
        .bytes_total = h->bytes_total,
        .bytes_used = h->bytes_used,
        .bytes_free = h->bytes_total - h->bytes_used,
        .bytes_requested = h->bytes_requested,
        .live_allocs = h->n_allocs,
        .free_blocks = h->n_free_blocks,
        .broken = h->broken,
    };
    for (const struct heap_region *r = h->regions; r && r->canary == region_canary(h, r); r = r->next)
        out->regions++;
    if (h->broken)
        return;
    /* The largest block is on the highest non-empty bin; only valid nodes count. */
    size_t budget = h->n_free_blocks;
    for (unsigned i = HEAP_NBINS; i-- > 0 && !out->largest_alloc;)
        out->largest_alloc = largest_in_bin(h, i, &budget);
}
