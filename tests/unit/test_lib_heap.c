/*
 * test_lib_heap.c - lib/heap.c: the allocator's contract, a random run
 * against a model, and the guard checks (double free, overruns, underruns,
 * bad pointers, damaged free lists, damaged counters).
 *
 * Every test that expects no trouble ends with teardown(): all memory back,
 * one free block per region, heap_check() clean, and no corruption report.
 * The callback records reports in the globals below (test code only; the
 * heap itself keeps no globals).
 */
#include <stdint.h>
#include <stdlib.h>

#include <keel/heap.h>

#include "unit.h"

#define ARENA_SIZE (256 * 1024)

static uint8_t arena[ARENA_SIZE] __attribute__((aligned(16)));
static uint8_t arena2[64 * 1024] __attribute__((aligned(16)));

static int reports;
static const char *last_what;
static void *last_ptr;

static void on_corruption(const char *what, void *ptr)
{
    reports++;
    last_what = what;
    last_ptr = ptr;
}

static void fresh(struct heap *h, size_t len)
{
    reports = 0;
    last_what = NULL;
    last_ptr = NULL;
    memset(arena, 0x77, sizeof arena);
    CHECK_EQ(heap_init(h, arena, len, on_corruption), HEAP_OK);
}

/* Everything freed: the heap must be back to one free block per region. */
static void teardown(struct heap *h)
{
    struct heap_stats st;
    CHECK_EQ(heap_check(h), HEAP_OK);
    heap_stats(h, &st);
    CHECK_EQ(st.live_allocs, 0);
    CHECK_EQ(st.bytes_used, 0);
    CHECK_EQ(st.bytes_requested, 0);
    CHECK_EQ(st.bytes_free, st.bytes_total);
    CHECK_EQ(st.free_blocks, st.regions);
    CHECK(!st.broken);
    if (st.regions == 1)
        CHECK_EQ(st.largest_alloc, st.bytes_total - HEAP_OVERHEAD);
    CHECK_EQ(reports, 0);
}

static bool contains(const char *haystack, const char *needle) { return haystack && strstr(haystack, needle) != NULL; }

/* ------------------------------------------------------ contract ---- */

static void test_init_rejects_bad_arguments(void)
{
    struct heap h;
    CHECK_EQ(heap_init(&h, arena, sizeof arena, NULL), HEAP_E_INVAL);
    CHECK_EQ(heap_init(&h, NULL, sizeof arena, on_corruption), HEAP_E_INVAL);
    CHECK_EQ(heap_init(&h, arena, HEAP_MIN_REGION - 1, on_corruption), HEAP_E_INVAL);
    CHECK_EQ(heap_init(&h, arena + 1, HEAP_MIN_REGION, on_corruption), HEAP_E_INVAL); /* too small once aligned */
    CHECK_EQ(heap_init(&h, (void *)(UINTPTR_MAX - 100), 1000, on_corruption), HEAP_E_INVAL);
    CHECK_EQ(heap_init(&h, arena, HEAP_MIN_REGION, on_corruption), HEAP_OK);
    CHECK(heap_alloc(&h, 16) != NULL);
}

static void test_alloc_aligned_distinct_and_stats(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    struct heap_stats before, st;
    heap_stats(&h, &before);
    CHECK_EQ(before.regions, 1);
    CHECK_EQ(before.free_blocks, 1);
    CHECK(before.bytes_total > sizeof arena - 128);

    uint8_t *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = heap_alloc(&h, (size_t)(1 + i * 37));
        CHECK(p[i] != NULL);
        CHECK_EQ((uintptr_t)p[i] % HEAP_ALIGN, 0);
        CHECK(p[i] >= arena && p[i] + 1 + i * 37 <= arena + sizeof arena);
        memset(p[i], i, (size_t)(1 + i * 37));
    }
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 1 + i * 37; j++)
            CHECK_EQ(p[i][j], i);
    heap_stats(&h, &st);
    CHECK_EQ(st.live_allocs, 8);
    CHECK_EQ(st.bytes_requested, 8 + 37 * 28);
    CHECK(st.bytes_used >= st.bytes_requested + 8 * HEAP_OVERHEAD);
    CHECK_EQ(heap_check(&h), HEAP_OK);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(heap_free(&h, p[(i * 3) % 8]), HEAP_OK); /* out of order */
    CHECK_EQ(heap_free(&h, NULL), HEAP_OK);
    teardown(&h);
}

static void test_zero_size_and_calloc(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    void *a = heap_alloc(&h, 0), *b = heap_alloc(&h, 0);
    CHECK(a && b && a != b);
    uint8_t *c = heap_calloc(&h, 10, 100);
    CHECK(c != NULL);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(c[i], 0); /* the arena was 0x77 */
    CHECK(heap_calloc(&h, SIZE_MAX / 2, 3) == NULL);
    CHECK(heap_alloc(&h, SIZE_MAX) == NULL);
    CHECK(heap_alloc(&h, SIZE_MAX - 40) == NULL);
    CHECK(heap_alloc(&h, ARENA_SIZE) == NULL); /* bigger than the region */
    CHECK_EQ(heap_free(&h, a), HEAP_OK);
    CHECK_EQ(heap_free(&h, b), HEAP_OK);
    CHECK_EQ(heap_free(&h, c), HEAP_OK);
    teardown(&h);
}

static void test_realloc_in_place_moving_and_edges(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *p = heap_realloc(&h, NULL, 40); /* NULL: allocates */
    CHECK(p != NULL);
    for (int i = 0; i < 40; i++)
        p[i] = (uint8_t)i;
    uint8_t *q = heap_realloc(&h, p, 4000); /* the rest of the heap is free: grows in place */
    CHECK(q == p);
    uint8_t *blocker = heap_alloc(&h, 16);
    CHECK(blocker != NULL);
    q = heap_realloc(&h, q, 100000); /* the block behind is used now: moves */
    CHECK(q != NULL && q != p);
    for (int i = 0; i < 40; i++)
        CHECK_EQ(q[i], i);
    uint8_t *r = heap_realloc(&h, q, 10); /* shrinks in place */
    CHECK(r == q);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(r[i], i);
    CHECK(heap_realloc(&h, r, SIZE_MAX) == NULL); /* failure leaves r alone */
    CHECK_EQ(r[9], 9);
    CHECK_EQ(heap_check(&h), HEAP_OK);
    CHECK(heap_realloc(&h, r, 0) == NULL); /* size 0 frees */
    CHECK_EQ(heap_free(&h, blocker), HEAP_OK);
    teardown(&h);
}

static void test_exhaustion_then_everything_returns(void)
{
    struct heap h;
    fresh(&h, 64 * 1024);
    void *p[2048];
    int n = 0;
    while (n < 2048 && (p[n] = heap_alloc(&h, 100)) != NULL)
        n++;
    CHECK(n > 300);
    CHECK(n < 2048);
    struct heap_stats st;
    heap_stats(&h, &st);
    CHECK(st.largest_alloc < 100);
    CHECK_EQ(heap_check(&h), HEAP_OK);
    for (int i = 0; i < n; i += 2) /* every other one: nothing coalesces yet */
        CHECK_EQ(heap_free(&h, p[i]), HEAP_OK);
    heap_stats(&h, &st);
    CHECK(st.free_blocks >= (size_t)n / 2);
    CHECK(heap_alloc(&h, 200) == NULL); /* fragmented: no 200-byte hole */
    for (int i = 1; i < n; i += 2)
        CHECK_EQ(heap_free(&h, p[i]), HEAP_OK);
    teardown(&h);
}

static void test_grow_adds_a_region(void)
{
    struct heap h;
    fresh(&h, 4096);
    void *big = heap_alloc(&h, 3000);
    CHECK(big != NULL);
    CHECK(heap_alloc(&h, 3000) == NULL);
    CHECK_EQ(heap_grow(&h, arena2, sizeof arena2), HEAP_OK);
    uint8_t *more = heap_alloc(&h, 3000);
    CHECK(more >= arena2 && more < arena2 + sizeof arena2);
    CHECK_EQ(heap_grow(&h, arena + 1024, 8192), HEAP_E_INVAL); /* overlaps region 1 */
    CHECK_EQ(heap_grow(&h, arena2 + 100, 8192), HEAP_E_INVAL); /* overlaps region 2 */
    CHECK_EQ(heap_grow(&h, arena + 8192, 100), HEAP_E_INVAL);  /* too small */
    CHECK_EQ(heap_grow(&h, arena + 8192, 8192), HEAP_OK);      /* disjoint part of the same array */
    struct heap_stats st;
    heap_stats(&h, &st);
    CHECK_EQ(st.regions, 3);
    CHECK_EQ(heap_free(&h, big), HEAP_OK);
    CHECK_EQ(heap_free(&h, more), HEAP_OK);
    teardown(&h);
}

/* --------------------------------------------------- random model ---- */

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void) { return unit_xorshift64(&rng_state); }

struct live {
    uint8_t *p;
    size_t size;
    uint8_t tag;
};

static size_t random_size(void)
{
    switch (rng() % 8) {
    case 0: return 0;
    case 1:
    case 2:
    case 3: return rng() % 64;
    case 4:
    case 5:
    case 6: return rng() % 1024;
    default: return rng() % 16384;
    }
}

static bool intact(const struct live *l)
{
    for (size_t i = 0; i < l->size; i++)
        if (l->p[i] != (uint8_t)(l->tag + i))
            return false;
    return true;
}

static void stamp(struct live *l, uint8_t tag)
{
    l->tag = tag;
    for (size_t i = 0; i < l->size; i++)
        l->p[i] = (uint8_t)(tag + i);
}

static void model_step(struct heap *h, struct live *lv, size_t *n, size_t max)
{
    unsigned op = (unsigned)(rng() % 10);
    if (*n == 0 || (op < 5 && *n < max)) {
        struct live l = { .size = random_size() };
        l.p = (op == 0) ? heap_calloc(h, 1, l.size) : heap_alloc(h, l.size);
        if (!l.p)
            return; /* full is allowed; the model just does not grow */
        CHECK_EQ((uintptr_t)l.p % HEAP_ALIGN, 0);
        if (op == 0)
            for (size_t i = 0; i < l.size; i++)
                CHECK_EQ(l.p[i], 0);
        stamp(&l, (uint8_t)rng());
        lv[(*n)++] = l;
        return;
    }
    size_t i = (size_t)(rng() % *n);
    CHECK(intact(&lv[i]));
    if (op < 8) {
        CHECK_EQ(heap_free(h, lv[i].p), HEAP_OK);
        lv[i] = lv[--*n];
        return;
    }
    size_t size = random_size() + 1;
    uint8_t *q = heap_realloc(h, lv[i].p, size);
    if (!q)
        return; /* the old block must be untouched: checked by intact() later */
    size_t keep = size < lv[i].size ? size : lv[i].size;
    for (size_t k = 0; k < keep; k++)
        CHECK_EQ(q[k], (uint8_t)(lv[i].tag + k));
    lv[i].p = q;
    lv[i].size = size;
    stamp(&lv[i], (uint8_t)rng());
}

static void test_random_against_model(void)
{
    enum { MAXLIVE = 400, STEPS = 40000 };
    static struct live lv[MAXLIVE];
    struct heap h;
    size_t n = 0;
    fresh(&h, sizeof arena);
    CHECK_EQ(heap_grow(&h, arena2, sizeof arena2), HEAP_OK);
    for (int step = 0; step < STEPS; step++) {
        model_step(&h, lv, &n, MAXLIVE);
        if (step % 1000 == 0) {
            struct heap_stats st;
            size_t requested = 0;
            CHECK_EQ(heap_check(&h), HEAP_OK);
            heap_stats(&h, &st);
            for (size_t i = 0; i < n; i++) {
                CHECK(intact(&lv[i]));
                requested += lv[i].size;
            }
            CHECK_EQ(st.live_allocs, n);
            CHECK_EQ(st.bytes_requested, requested);
        }
    }
    while (n) {
        CHECK(intact(&lv[n - 1]));
        CHECK_EQ(heap_free(&h, lv[--n].p), HEAP_OK);
    }
    teardown(&h);
}

/* -------------------------------------------------------- guards ---- */

static void test_double_free_is_reported_and_heap_survives(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    void *a = heap_alloc(&h, 50), *b = heap_alloc(&h, 50), *c = heap_alloc(&h, 50);
    CHECK_EQ(heap_free(&h, b), HEAP_OK);
    CHECK_EQ(heap_free(&h, b), HEAP_E_DOUBLEFREE);
    CHECK_EQ(reports, 1);
    CHECK(contains(last_what, "double free"));
    CHECK(last_ptr == b);
    /* a merges with b; freeing b again still finds b's old FREE header. */
    CHECK_EQ(heap_free(&h, a), HEAP_OK);
    CHECK_EQ(heap_free(&h, b), HEAP_E_DOUBLEFREE);
    CHECK_EQ(heap_free(&h, a), HEAP_E_DOUBLEFREE);
    CHECK_EQ(reports, 3);
    /* Not corruption: the heap is intact and usable. */
    reports = 0;
    CHECK_EQ(heap_check(&h), HEAP_OK);
    void *d = heap_alloc(&h, 30);
    CHECK(d != NULL);
    CHECK_EQ(heap_free(&h, d), HEAP_OK);
    CHECK_EQ(heap_free(&h, c), HEAP_OK);
    teardown(&h);
}

static void test_bad_pointers_are_reported_and_heap_survives(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *a = heap_alloc(&h, 100);
    uint8_t local[64] __attribute__((aligned(16)));
    static uint8_t other[64] __attribute__((aligned(16)));
    CHECK_EQ(heap_free(&h, local), HEAP_E_BADPTR);
    CHECK(contains(last_what, "not from this heap"));
    CHECK_EQ(heap_free(&h, other + 16), HEAP_E_BADPTR);
    CHECK_EQ(heap_free(&h, a + 1), HEAP_E_BADPTR);  /* misaligned */
    CHECK_EQ(heap_free(&h, a + 16), HEAP_E_BADPTR); /* inside the block */
    CHECK(contains(last_what, "not the start of a block"));
    CHECK(last_ptr == a + 16);
    CHECK_EQ(heap_free(&h, a + 64), HEAP_E_BADPTR);
    CHECK(heap_realloc(&h, a + 32, 10) == NULL);
    CHECK_EQ(heap_free(&h, arena + sizeof arena - 16), HEAP_E_BADPTR); /* past the last block */
    CHECK_EQ(heap_free(&h, (void *)16), HEAP_E_BADPTR);
    CHECK_EQ(reports, 8);
    reports = 0;
    CHECK_EQ(heap_check(&h), HEAP_OK);
    CHECK_EQ(heap_free(&h, a), HEAP_OK);
    teardown(&h);
}

/* After corruption: reported once, then every call refuses. */
static void expect_broken(struct heap *h)
{
    struct heap_stats st;
    heap_stats(h, &st);
    CHECK(st.broken);
    CHECK(heap_alloc(h, 10) == NULL);
    CHECK_EQ(heap_check(h), HEAP_E_BROKEN);
    CHECK_EQ(heap_grow(h, arena2, sizeof arena2), HEAP_E_BROKEN);
}

/* CALL found the damage: it returned HEAP_E_CORRUPT, the last report names
 * WHAT and the block at PTR, and the heap is broken from then on.  A macro,
 * so a failed check names the test's own line. */
#define CHECK_CORRUPTION(h, call, what, ptr)                                                                           \
    do {                                                                                                               \
        CHECK_EQ(call, HEAP_E_CORRUPT);                                                                                \
        CHECK(contains(last_what, what));                                                                              \
        CHECK(last_ptr == (ptr));                                                                                      \
        expect_broken(h);                                                                                              \
    } while (0)

static void test_overflow_by_one_inside_the_rounding(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *a = heap_alloc(&h, 20), *b = heap_alloc(&h, 20);
    void *c = heap_alloc(&h, 20);
    a[20] = 0;                           /* one past the end: still inside the 32-byte payload */
    CHECK_EQ(heap_free(&h, c), HEAP_OK); /* not a's neighbour: nothing seen yet */
    CHECK_EQ(reports, 0);
    CHECK_CORRUPTION(&h, heap_free(&h, a), "overflow past the end", a);
    CHECK_EQ(reports, 1);
    CHECK_EQ(heap_free(&h, b), HEAP_E_BROKEN);
    CHECK_EQ(reports, 1);
}

static void test_overflow_is_found_when_the_neighbour_is_freed(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *a = heap_alloc(&h, 20), *b = heap_alloc(&h, 20);
    a[21] = 0;
    /* Freeing b looks at a (to coalesce) and sees the damage first. */
    CHECK_CORRUPTION(&h, heap_free(&h, b), "overflow past the end", a);
}

static void test_overflow_into_the_footer_found_by_check(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *a = heap_alloc(&h, 32);
    void *b = heap_alloc(&h, 32);
    (void)b;
    CHECK_EQ(heap_check(&h), HEAP_OK);
    /* Exact fit: the 33rd byte is the footer canary.  The canary hashes the
     * block's address, so a fixed byte would equal it once in 256 runs (ASLR):
     * flip the byte that is there instead. */
    memset(a, 'x', 32);
    a[32] = (uint8_t)~a[32];
    CHECK_CORRUPTION(&h, heap_check(&h), "footer canary", a);
}

static void test_overflow_into_the_next_header_found_by_its_free(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *a = heap_alloc(&h, 64), *b = heap_alloc(&h, 64);
    memset(a + 64 + 16, 0, 8); /* skips a's footer, hits b's header */
    CHECK_EQ(heap_free(&h, b), HEAP_E_CORRUPT);
    CHECK(contains(last_what, "header canary overwritten"));
    expect_broken(&h);
}

static void test_underrun_hits_the_header_canary(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *a = heap_alloc(&h, 64);
    void *b = heap_alloc(&h, 64);
    (void)b;
    a[-1] ^= 0x40;
    CHECK_CORRUPTION(&h, heap_free(&h, a), "underrun", a);
}

static void test_write_after_free_into_links(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    void *a = heap_alloc(&h, 64);
    uint8_t *b = heap_alloc(&h, 64);
    void *c = heap_alloc(&h, 64);
    (void)a;
    (void)c;
    CHECK_EQ(heap_free(&h, b), HEAP_OK);
    memset(b, 0x41, 16); /* the free block's list links */
    CHECK(heap_alloc(&h, 64) == NULL);
    CHECK_EQ(reports, 1);
    CHECK(contains(last_what, "free list"));
    expect_broken(&h);
}

static void test_free_list_cycle_is_caught(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = heap_alloc(&h, 100); /* 160-byte blocks: size class [128, 256) */
    CHECK_EQ(heap_free(&h, p[0]), HEAP_OK);
    CHECK_EQ(heap_free(&h, p[2]), HEAP_OK); /* the class's list: p[2] -> p[0] */
    ((uint8_t **)p[0])[0] = p[2] - 32;      /* p[0]'s next: back to p[2]'s header */
    CHECK(heap_alloc(&h, 150) == NULL);     /* same class, fits neither: walks the loop */
    CHECK_EQ(reports, 1);
    CHECK(contains(last_what, "cycle"));
    expect_broken(&h);
}

static void test_check_finds_damaged_links_and_counters(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    uint8_t *a = heap_alloc(&h, 64);
    void *b = heap_alloc(&h, 64);
    (void)b;
    CHECK_EQ(heap_free(&h, a), HEAP_OK);
    ((void **)a)[1] = a; /* prev link pointing at itself */
    CHECK_EQ(heap_check(&h), HEAP_E_CORRUPT);
    CHECK(contains(last_what, "free list"));

    fresh(&h, sizeof arena);
    void *c = heap_alloc(&h, 64);
    (void)c;
    h.n_allocs++; /* the struct itself damaged */
    CHECK_EQ(heap_check(&h), HEAP_E_CORRUPT);
    CHECK(contains(last_what, "counters"));
}

static void test_region_header_damage(void)
{
    struct heap h;
    fresh(&h, sizeof arena);
    void *a = heap_alloc(&h, 64);
    arena[8] ^= 1; /* inside struct heap_region at the arena's start */
    CHECK_EQ(heap_free(&h, a), HEAP_E_CORRUPT);
    CHECK(contains(last_what, "region header"));
    expect_broken(&h);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_init_rejects_bad_arguments),
        UNIT_TEST(test_alloc_aligned_distinct_and_stats),
        UNIT_TEST(test_zero_size_and_calloc),
        UNIT_TEST(test_realloc_in_place_moving_and_edges),
        UNIT_TEST(test_exhaustion_then_everything_returns),
        UNIT_TEST(test_grow_adds_a_region),
        UNIT_TEST(test_random_against_model),
        UNIT_TEST(test_double_free_is_reported_and_heap_survives),
        UNIT_TEST(test_bad_pointers_are_reported_and_heap_survives),
        UNIT_TEST(test_overflow_by_one_inside_the_rounding),
        UNIT_TEST(test_overflow_is_found_when_the_neighbour_is_freed),
        UNIT_TEST(test_overflow_into_the_footer_found_by_check),
        UNIT_TEST(test_overflow_into_the_next_header_found_by_its_free),
        UNIT_TEST(test_underrun_hits_the_header_canary),
        UNIT_TEST(test_write_after_free_into_links),
        UNIT_TEST(test_free_list_cycle_is_caught),
        UNIT_TEST(test_check_finds_damaged_links_and_counters),
        UNIT_TEST(test_region_header_damage),
    };
    return unit_main("lib_heap", tests, (int)(sizeof tests / sizeof tests[0]));
}
