/*
 * Host test of lwIP's heap (src/core/mem.c) built with netd's lwipopts.h,
 * i.e. with MEM_OVERFLOW_CHECK on.  mem_trim() in lwIP 2.2.1 counted the
 * sanity regions on one side of its comparison only, so a trim by less
 * than their length (32 bytes) tripped "mem_trim can only shrink memory":
 * netd died when TCP's persist timer split a queued segment to fit a small
 * peer window (pbuf_realloc -> mem_trim).  third_party/patches/lwip/ fixes
 * it; this test keeps it fixed.
 */
#include "unit.h"

#include "lwip/mem.h"
#include "lwip/stats.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* netd's heap and platform hooks, as net/lwip/arch/cc.h declares them. */
static unsigned char heap_space[LWIP_MEM_ALIGN_SIZE(MEM_SIZE) + 2 * LWIP_MEM_ALIGN_SIZE(64) + MEM_ALIGNMENT];
unsigned char *netd_lwip_heap = heap_space;
static jmp_buf on_assert;

/* An assertion fails the test that tripped it (netd would fault). */
void netd_lwip_assert(const char *msg, const char *file, int line)
{
    fprintf(stderr, "lwIP assertion: %s at %s:%d\n", msg, file, line);
    longjmp(on_assert, 1);
}

void ulog(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

uint32_t netd_rand32(void) { return 4; /* chosen by a fair die */ }

static void test_trim_by_less_than_the_sanity_regions(void)
{
    if (setjmp(on_assert)) {
        CHECK(!"lwIP asserted");
        return;
    }
    mem_init();
    for (mem_size_t cut = 1; cut <= 64; cut++) {
        uint8_t *p = mem_malloc(1500);
        CHECK(p != NULL);
        memset(p, 0xab, 1500);
        uint8_t *q = mem_trim(p, (mem_size_t)(1500 - cut));
        CHECK(q == p);
        /* The shrunk block's own sanity region moved to its new end and is
         * checked when it is freed. */
        mem_free(q);
    }
}

static void test_trim_then_neighbours_still_allocate_and_free(void)
{
    if (setjmp(on_assert)) {
        CHECK(!"lwIP asserted");
        return;
    }
    mem_init();
    uint8_t *a = mem_malloc(2000), *b = mem_malloc(2000), *c = mem_malloc(2000);
    CHECK(a && b && c);
    /* b's next block is used (c): the freed tail becomes its own block only
     * when it can hold one. */
    CHECK(mem_trim(b, 1990) == b);
    CHECK(mem_trim(b, 100) == b);
    uint8_t *d = mem_malloc(1500); /* fits in the tail b gave back */
    CHECK(d != NULL);
    CHECK(d > b && d < c);
    mem_free(a);
    mem_free(b);
    mem_free(c);
    mem_free(d);
    /* Everything back: the whole heap allocates as one block again. */
    uint8_t *all = mem_malloc(MEM_SIZE - 1024);
    CHECK(all != NULL);
    mem_free(all);
}

static void test_trim_to_the_same_size(void)
{
    if (setjmp(on_assert)) {
        CHECK(!"lwIP asserted");
        return;
    }
    mem_init();
    uint8_t *p = mem_malloc(100);
    CHECK(p != NULL);
    CHECK(mem_trim(p, 100) == p); /* same size: unchanged */
    mem_free(p);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_trim_by_less_than_the_sanity_regions),
        UNIT_TEST(test_trim_then_neighbours_still_allocate_and_free),
        UNIT_TEST(test_trim_to_the_same_size),
    };
    return unit_main("lwip_mem", tests, sizeof tests / sizeof tests[0]);
}
