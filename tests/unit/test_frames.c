/* test_frames.c - the free-frame bitmap (kernel/frames.c). */
#include <stdlib.h>

#include "frames.h"
#include "unit.h"

#define N 1000

static uint64_t storage[(N + 63) / 64];

/* Counts set bits the slow way: the invariant free_count must match. */
static uint64_t count_free(const struct frame_bitmap *fb)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < fb->nframes; i++)
        n += frames_is_free(fb, i);
    return n;
}

static void test_starts_all_used(void)
{
    struct frame_bitmap fb;
    frames_init(&fb, storage, N);
    CHECK_EQ(fb.free_count, 0);
    CHECK_EQ(frames_alloc(&fb), (long long)FRAMES_NONE);
}

static void test_alloc_lowest_first_and_exhaustion(void)
{
    struct frame_bitmap fb;
    frames_init(&fb, storage, N);
    frames_mark_free(&fb, 100, 3);
    frames_mark_free(&fb, 10, 2);
    CHECK_EQ(fb.free_count, 5);
    CHECK_EQ(frames_alloc(&fb), 10);
    CHECK_EQ(frames_alloc(&fb), 11);
    CHECK_EQ(frames_alloc(&fb), 100);
    CHECK_EQ(frames_alloc(&fb), 101);
    CHECK_EQ(frames_alloc(&fb), 102);
    CHECK_EQ(frames_alloc(&fb), (long long)FRAMES_NONE);
    CHECK_EQ(fb.free_count, 0);
    CHECK_EQ(count_free(&fb), 0);
}

static void test_free_returns_frame_and_refuses_double_free(void)
{
    struct frame_bitmap fb;
    frames_init(&fb, storage, N);
    frames_mark_free(&fb, 0, N);
    uint64_t a = frames_alloc(&fb), b = frames_alloc(&fb);
    CHECK(frames_free(&fb, a));
    CHECK(!frames_free(&fb, a)); /* double free */
    CHECK(!frames_free(&fb, N)); /* out of range */
    CHECK(!frames_free(&fb, N + 12345));
    CHECK_EQ(frames_alloc(&fb), a); /* the hint moved back down */
    CHECK(frames_free(&fb, b));
    CHECK(frames_free(&fb, a));
    CHECK_EQ(fb.free_count, N);
    CHECK_EQ(count_free(&fb), N);
}

static void test_mark_used_reserves(void)
{
    struct frame_bitmap fb;
    frames_init(&fb, storage, N);
    frames_mark_free(&fb, 0, N);
    frames_mark_used(&fb, 0, 256);  /* e.g. the first MiB */
    frames_mark_used(&fb, 250, 10); /* overlapping: counted once */
    CHECK_EQ(fb.free_count, N - 260);
    CHECK_EQ(frames_alloc(&fb), 260);
    frames_mark_free(&fb, N - 5, 100); /* the part past the end is ignored */
    CHECK_EQ(count_free(&fb), fb.free_count);
}

static void test_contiguous_aligned(void)
{
    struct frame_bitmap fb;
    frames_init(&fb, storage, N);
    frames_mark_free(&fb, 3, 40);
    uint64_t f = frames_alloc_contig(&fb, 16, 16);
    CHECK_EQ(f, 16);
    CHECK(!frames_is_free(&fb, 16) && !frames_is_free(&fb, 31));
    CHECK(frames_is_free(&fb, 15) && frames_is_free(&fb, 32));
    CHECK_EQ(frames_alloc_contig(&fb, 16, 16), (long long)FRAMES_NONE); /* 32..42 too short */
    CHECK_EQ(frames_alloc_contig(&fb, 3, 3), (long long)FRAMES_NONE);   /* align not a power of 2 */
    CHECK_EQ(frames_alloc_contig(&fb, 0, 1), (long long)FRAMES_NONE);
    CHECK_EQ(count_free(&fb), fb.free_count);
}

static void test_random_against_model(void)
{
    static uint8_t model[N];
    struct frame_bitmap fb;
    frames_init(&fb, storage, N);
    frames_mark_free(&fb, 0, N);
    for (int i = 0; i < N; i++)
        model[i] = 1;
    srand(1234);
    for (int step = 0; step < 20000; step++) {
        if (rand() % 2) {
            uint64_t f = frames_alloc(&fb);
            if (f == FRAMES_NONE)
                continue;
            CHECK(f < N && model[f]);
            model[f] = 0;
        } else {
            uint64_t f = (uint64_t)(rand() % N);
            CHECK_EQ(frames_free(&fb, f), !model[f]);
            model[f] = 1;
        }
    }
    uint64_t expect = 0;
    for (int i = 0; i < N; i++)
        expect += model[i];
    CHECK_EQ(fb.free_count, expect);
    CHECK_EQ(count_free(&fb), expect);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_starts_all_used),
        UNIT_TEST(test_alloc_lowest_first_and_exhaustion),
        UNIT_TEST(test_free_returns_frame_and_refuses_double_free),
        UNIT_TEST(test_mark_used_reserves),
        UNIT_TEST(test_contiguous_aligned),
        UNIT_TEST(test_random_against_model),
    };
    return unit_main("frames", tests, sizeof tests / sizeof tests[0]);
}
