/*
 * test_kheap.c - the kernel heap (kernel/kheap.c) on the host.
 *
 * The pmm is replaced by page-aligned host allocations whose "physical"
 * address is chosen so the kernel's phys_to_virt (PHYS_MAP_BASE + phys,
 * wrapping) lands on the host pointer.  The stub counts pages out, so each
 * test's teardown proves the heap gave every page back once every block
 * was freed.  A panic (a KASSERT) jumps back into the test that expected it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#include "kheap.h"
#include "pmm.h"
#include "unit.h"
#include "vm.h"

/* ------------------------------------------------------------ the stubs */

static long pages_out;       /* pages the heap holds from the stub pmm */
static long fail_after = -1; /* allocations to grant before failing (-1: never fail) */
static jmp_buf panic_jump;
static int expect_panic, panics;

uint64_t pmm_alloc(void)
{
    if (fail_after == 0)
        return 0;
    if (fail_after > 0)
        fail_after--;
    void *p = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
    if (!p)
        return 0;
    memset(p, 0, PAGE_SIZE);
    pages_out++;
    return (uint64_t)p - PHYS_MAP_BASE; /* phys_to_virt gives p back */
}

void pmm_free(uint64_t phys)
{
    pages_out--;
    free(phys_to_virt(phys));
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void panic(const char *fmt, ...)
{
    panics++;
    if (expect_panic)
        longjmp(panic_jump, 1);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    abort();
}

/* ------------------------------------------------------------ the tests */

static const size_t sizes[] = { 1, 8, 24, 32, 33, 56, 64, 80, 128, 200, 256, 500, 512, 752, 1024, 1025, 2048, 4096 };
#define N_SIZES (sizeof sizes / sizeof sizes[0])

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void test_block_sizes(void)
{
    CHECK_EQ(kheap_block_size(1), 32);
    CHECK_EQ(kheap_block_size(32), 32);
    CHECK_EQ(kheap_block_size(33), 64);
    CHECK_EQ(kheap_block_size(752), 1024);
    CHECK_EQ(kheap_block_size(1024), 1024);
    CHECK_EQ(kheap_block_size(1025), 4096); /* above 1 KiB: a whole page */
    CHECK_EQ(kheap_block_size(4096), 4096);
    CHECK(kheap_alloc(0) == NULL);
    CHECK(kheap_alloc(KHEAP_MAX + 1) == NULL);
}

/* Random allocations and frees of every size: blocks are zeroed, aligned to
 * their size, never overlap; and once all are freed, no page is left. */
#define LIVE 3000
static struct {
    unsigned char *p;
    size_t size;
    unsigned char tag;
} live[LIVE];

static void test_random_churn_returns_every_page(void)
{
    unsigned seed = 12345;
    for (int round = 0; round < 200000; round++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % LIVE);
        if (live[i].p) {
            /* our tag survived: nobody else wrote into this block */
            CHECK(live[i].p[0] == live[i].tag && live[i].p[live[i].size - 1] == live[i].tag);
            kheap_free(live[i].p, live[i].size);
            live[i].p = NULL;
            continue;
        }
        size_t size = sizes[(seed >> 20) % N_SIZES];
        unsigned char *p = kheap_alloc(size);
        CHECK(p != NULL);
        if (!p)
            break;
        size_t bs = kheap_block_size(size);
        CHECK(((uintptr_t)p & (bs - 1)) == 0);
        CHECK(all_zero(p, bs));
        live[i].p = p;
        live[i].size = size;
        live[i].tag = (unsigned char)(1 + (seed >> 24) % 250);
        memset(p, live[i].tag, size);
        if (round % 20000 == 0)
            CHECK_EQ(kheap_check(), 0);
    }
    CHECK_EQ(kheap_check(), 0);
    CHECK(kheap_pages_held() > 0);
    CHECK_EQ((long)kheap_pages_held(), pages_out);
    for (int i = 0; i < LIVE; i++) {
        if (live[i].p)
            kheap_free(live[i].p, live[i].size);
        live[i].p = NULL;
    }
    CHECK_EQ(kheap_bytes_in_use(), 0);
    CHECK_EQ(kheap_pages_held(), 0);
    CHECK_EQ(pages_out, 0); /* every page went back */
    CHECK_EQ(kheap_check(), 0);
}

/* A page goes back as soon as its last block does, not later. */
static void test_page_returned_when_its_last_block_goes(void)
{
    void *a = kheap_alloc(512), *b = kheap_alloc(512);
    CHECK_EQ(pages_out, 1); /* 7 blocks of 512 B fit after the page's header */
    kheap_free(a, 512);
    CHECK_EQ(pages_out, 1);
    kheap_free(b, 512);
    CHECK_EQ(pages_out, 0);
    void *big = kheap_alloc(3000);
    CHECK_EQ(pages_out, 1);
    CHECK_EQ(kheap_bytes_in_use(), PAGE_SIZE);
    kheap_free(big, 3000);
    CHECK_EQ(pages_out, 0);
    CHECK_EQ(kheap_bytes_in_use(), 0);
}

/* Full pages leave the partial list and come back to it on a free. */
static void test_full_page_reused_after_a_free(void)
{
    void *blk[7];
    for (int i = 0; i < 7; i++)
        blk[i] = kheap_alloc(512);
    CHECK_EQ(pages_out, 1);
    void *eighth = kheap_alloc(512);
    CHECK_EQ(pages_out, 2); /* the first page was full */
    kheap_free(blk[3], 512);
    void *again = kheap_alloc(512);
    CHECK(again == blk[3]); /* the freed block of the first page, no new page */
    CHECK_EQ(pages_out, 2);
    CHECK_EQ(kheap_check(), 0);
    for (int i = 0; i < 7; i++)
        kheap_free(blk[i], 512);
    kheap_free(eighth, 512);
    CHECK_EQ(pages_out, 0);
}

static void test_out_of_pages_returns_null(void)
{
    fail_after = 0;
    CHECK(kheap_alloc(64) == NULL);
    CHECK(kheap_alloc(2000) == NULL);
    fail_after = -1;
    CHECK_EQ(pages_out, 0);
    CHECK_EQ(kheap_bytes_in_use(), 0);
}

/* Freeing with the wrong size, or a pointer inside a block, is caught. */
static void test_wrong_size_and_misaligned_free_panic(void)
{
    void *a = kheap_alloc(100), *keep = kheap_alloc(100);
    expect_panic = 1;
    panics = 0;
    if (!setjmp(panic_jump))
        kheap_free(a, 40); /* a 128-byte block freed as 64 bytes */
    CHECK_EQ(panics, 1);
    expect_panic = 0;
    kheap_free(a, 100);
    expect_panic = 1;
    if (!setjmp(panic_jump))
        kheap_free((char *)keep + 32, 100); /* not the start of a block */
    CHECK_EQ(panics, 2);
    expect_panic = 0;
    kheap_free(keep, 100);
    CHECK_EQ(pages_out, 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_block_sizes),
        UNIT_TEST(test_random_churn_returns_every_page),
        UNIT_TEST(test_page_returned_when_its_last_block_goes),
        UNIT_TEST(test_full_page_reused_after_a_free),
        UNIT_TEST(test_out_of_pages_returns_null),
        UNIT_TEST(test_wrong_size_and_misaligned_free_panic),
    };
    return unit_main("kheap", tests, sizeof tests / sizeof tests[0]);
}
