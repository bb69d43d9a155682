/* test_nic_ring.c - the NIC protocol's SPSC rings and descriptor checks
 * (lib/include/keel/nic_ring.h), including indices that wrap and indices a
 * hostile peer made up. */
#include <stdlib.h>

#include <keel/nic_ring.h>

#include "unit.h"

static struct nic_ring r;

static void test_push_pop_fifo_and_full(void)
{
    memset(&r, 0, sizeof r);
    for (uint32_t i = 0; i < NIC_RING_SIZE; i++)
        CHECK(nic_ring_push(&r, (struct nic_desc){ .offset = i, .len = (uint16_t)i }));
    CHECK(!nic_ring_push(&r, (struct nic_desc){ 0 })); /* full */
    CHECK_EQ(nic_ring_space(&r), 0);
    struct nic_desc d = { 0 };
    for (uint32_t i = 0; i < NIC_RING_SIZE; i++) {
        CHECK(nic_ring_pop(&r, &d));
        CHECK_EQ(d.offset, i);
    }
    CHECK(!nic_ring_pop(&r, &d)); /* empty */
}

static void test_indices_wrap(void)
{
    memset(&r, 0, sizeof r);
    r.head = r.tail = 0xfffffff0u;
    for (int round = 0; round < 100; round++) {
        CHECK(nic_ring_push(&r, (struct nic_desc){ .offset = (uint32_t)round }));
        struct nic_desc d = { 0 };
        CHECK(nic_ring_pop(&r, &d));
        CHECK_EQ(d.offset, round);
    }
}

static void test_hostile_indices_are_bounded(void)
{
    memset(&r, 0, sizeof r);
    r.head = 5000; /* a producer claiming more entries than the ring holds */
    CHECK_EQ(nic_ring_ready(&r), 0);
    struct nic_desc d = { 0 };
    CHECK(!nic_ring_pop(&r, &d));
    r.head = 0;
    r.tail = 7; /* a consumer ahead of the producer */
    CHECK_EQ(nic_ring_space(&r), 0);
    CHECK(!nic_ring_push(&r, (struct nic_desc){ 0 }));
}

static void test_descriptor_checks(void)
{
    uint32_t first = NIC_BUF_AREA_OFFSET, last = NIC_BUF_AREA_OFFSET + (NIC_BUF_COUNT - 1) * NIC_BUF_SIZE;
    CHECK(nic_desc_ok((struct nic_desc){ .offset = first, .len = 60 }, true));
    CHECK(nic_desc_ok((struct nic_desc){ .offset = last, .len = 1514 }, true));
    CHECK(!nic_desc_ok((struct nic_desc){ .offset = last + NIC_BUF_SIZE, .len = 60 }, true)); /* past the area */
    CHECK(!nic_desc_ok((struct nic_desc){ .offset = first + 1, .len = 60 }, true));           /* not a buffer start */
    CHECK(!nic_desc_ok((struct nic_desc){ .offset = 0, .len = 60 }, true));                   /* the header */
    CHECK(!nic_desc_ok((struct nic_desc){ .offset = first, .len = 1515 }, true));             /* too long */
    CHECK(!nic_desc_ok((struct nic_desc){ .offset = first, .len = 13 }, true));               /* too short */
    CHECK(nic_desc_ok((struct nic_desc){ .offset = first, .len = 0 }, false));                /* an empty buffer */
    CHECK(!nic_desc_ok((struct nic_desc){ .offset = first, .len = NIC_BUF_SIZE + 1 }, false));
    srand(7);
    for (int i = 0; i < 100000; i++) {
        struct nic_desc d = { .offset = (uint32_t)rand() * 2u, .len = (uint16_t)rand() };
        if (nic_desc_ok(d, false))
            CHECK(d.offset + NIC_BUF_SIZE <= (uint32_t)NIC_SHM_PAGES * 4096u && d.len <= NIC_BUF_SIZE);
    }
}

static void test_frames_span_buffers(void)
{
    uint32_t b0 = NIC_BUF_AREA_OFFSET, b1 = b0 + NIC_BUF_SIZE, b2 = b1 + NIC_BUF_SIZE;
    memset(&r, 0, sizeof r);
    struct nic_desc f[3] = {
        { .offset = b0,
          .start = 12,
          .len = NIC_BUF_SIZE - 12,
          .flags = NIC_DF_MORE | NIC_DF_GSO_TCP4 | NIC_DF_CSUM_PARTIAL,
          .gso_size = 1448,
          .csum_start = 34,
          .csum_offset = 16 },
        { .offset = b1, .len = NIC_BUF_SIZE, .flags = NIC_DF_MORE },
        { .offset = b2, .len = 100 },
    };
    CHECK(nic_ring_push_frame(&r, f, 3));
    CHECK_EQ(nic_ring_ready(&r), 3);
    struct nic_desc d[NIC_FRAME_MAX_BUFS];
    CHECK_EQ(nic_ring_pop_frame(&r, d, NIC_FRAME_MAX_BUFS), 3);
    CHECK_EQ(d[0].gso_size, 1448);
    CHECK_EQ(d[2].len, 100);
    for (int i = 0; i < 3; i++)
        CHECK(nic_piece_ok(d[i]));
    CHECK(!nic_desc_ok(d[0], true)); /* not a plain frame: a client without features never sees it */
    CHECK(nic_frame_len_ok(2 * NIC_BUF_SIZE - 12 + 100, d[0].flags));
    CHECK(!nic_frame_len_ok(2000, 0));                          /* a plain frame is at most 1514 */
    CHECK(!nic_frame_len_ok(65536, NIC_DF_GSO_TCP4));           /* a GSO frame at most 65535 */
    CHECK_EQ(nic_ring_pop_frame(&r, d, NIC_FRAME_MAX_BUFS), 0); /* empty */
    /* A piece past its buffer, an empty piece, unknown flags. */
    CHECK(!nic_piece_ok((struct nic_desc){ .offset = b0, .start = 2000, .len = 100 }));
    CHECK(!nic_piece_ok((struct nic_desc){ .offset = b0, .len = 0 }));
    CHECK(!nic_piece_ok((struct nic_desc){ .offset = b0, .len = 60, .flags = 0x8000 }));
    /* No room: nothing pushed. */
    memset(&r, 0, sizeof r);
    r.head = NIC_RING_SIZE - 2;
    CHECK(!nic_ring_push_frame(&r, f, 3));
    CHECK_EQ(r.head, NIC_RING_SIZE - 2);
}

static void test_broken_frame_popped_and_reported(void)
{
    memset(&r, 0, sizeof r);
    uint32_t b0 = NIC_BUF_AREA_OFFSET;
    /* A producer that published a frame's first two pieces only. */
    CHECK(nic_ring_push(&r, (struct nic_desc){ .offset = b0, .len = 10, .flags = NIC_DF_MORE }));
    CHECK(nic_ring_push(&r, (struct nic_desc){ .offset = b0 + NIC_BUF_SIZE, .len = 10, .flags = NIC_DF_MORE }));
    struct nic_desc d[NIC_FRAME_MAX_BUFS];
    CHECK_EQ(nic_ring_pop_frame(&r, d, NIC_FRAME_MAX_BUFS), -2);
    CHECK_EQ(nic_ring_ready(&r), 0); /* its pieces are gone from the ring, for the consumer to give back */
    /* A frame longer than the consumer's limit. */
    for (int i = 0; i < 5; i++)
        CHECK(nic_ring_push(&r, (struct nic_desc){ .offset = b0, .len = 10, .flags = i < 4 ? NIC_DF_MORE : 0 }));
    CHECK_EQ(nic_ring_pop_frame(&r, d, 3), -3);
    CHECK_EQ(nic_ring_pop_frame(&r, d, 3), 2); /* the rest reads as a (short) frame of its own */
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_push_pop_fifo_and_full),      UNIT_TEST(test_indices_wrap),
        UNIT_TEST(test_hostile_indices_are_bounded), UNIT_TEST(test_descriptor_checks),
        UNIT_TEST(test_frames_span_buffers),         UNIT_TEST(test_broken_frame_popped_and_reported),
    };
    return unit_main("nic_ring", tests, sizeof tests / sizeof tests[0]);
}
