/*
 * test_sock_ring.c - the socket rings' page lists and pools
 * (lib/sock_ring.c): a producer and a consumer move a pseudo-random stream
 * through a 64 KiB ring backed by a small pool, bytes intact across page
 * and wrap boundaries; an empty ring holds no page; the room rule keeps
 * one slot per page; a pool that runs dry shortens a write; lying tails
 * and page entries are refused; every page is back in the pool at the end
 * (nothing leaked).
 */
#include <stdlib.h>
#include <string.h>

#include <keel/sock_ring.h>

#include "unit.h"

#define POOL 40u

static uint8_t region[POOL * 4096u];
static uint16_t links[POOL];

static uint8_t byte_at(uint32_t pos) { return (uint8_t)(pos * 2654435761u >> 24); }

static void test_pool_take_give(void)
{
    struct sock_pool p;
    sock_pool_init(&p, links, 2, POOL);
    CHECK_EQ(p.nfree, POOL - 2);
    uint32_t seen[POOL] = { 0 };
    for (uint32_t i = 0; i < POOL - 2; i++) {
        uint32_t e = sock_pool_take(&p);
        CHECK(e >= 3 && e <= POOL); /* pages 0 and 1 are never handed out */
        CHECK(!seen[e - 1]);
        seen[e - 1] = 1;
    }
    CHECK_EQ(sock_pool_take(&p), 0u);
    CHECK_EQ(p.nfree, 0u);
    sock_pool_give(&p, 7);
    sock_pool_give(&p, 9);
    CHECK_EQ(p.nfree, 2u);
    CHECK_EQ(sock_pool_take(&p), 9u);
    CHECK_EQ(sock_pool_take(&p), 7u);
    CHECK_EQ(sock_pool_take(&p), 0u);
}

static void test_room_rule(void)
{
    CHECK_EQ(sock_ring_room(0, 0), SOCK_RING_BYTES);
    CHECK_EQ(sock_ring_room(100, 100), SOCK_RING_BYTES - 100); /* tail's page still counts from its start */
    CHECK_EQ(sock_ring_room(4096, 4096), SOCK_RING_BYTES);
    CHECK_EQ(sock_ring_room(SOCK_RING_BYTES, 0), 0u);
    CHECK_EQ(sock_ring_room(10, 20), 0u);                                         /* a tail beyond head: no room */
    CHECK_EQ(sock_ring_room(0xfffffff0u, 0xffffff00u), SOCK_RING_BYTES - 0xff0u); /* wraps */
}

/* Streams TOTAL bytes through one ring in chunks of varying size. */
static void test_stream_through_pages(void)
{
    struct sock_pool p;
    sock_pool_init(&p, links, 0, POOL);
    uint16_t list[SOCK_RING_PAGES] = { 0 }, mirror[SOCK_RING_PAGES] = { 0 };
    uint32_t head = 0xffff0000u, tail = head; /* positions wrap past 2^32 too */
    static uint8_t buf[SOCK_RING_BYTES], out[SOCK_RING_BYTES];
    uint64_t moved = 0;
    srand(7);
    while (moved < 8u << 20) {
        uint32_t room = sock_ring_room(head, tail), n = (uint32_t)rand() % (room + 1);
        for (uint32_t i = 0; i < n; i++)
            buf[i] = byte_at(head + i);
        uint32_t k = sock_ring_write(list, mirror, &p, region, head, buf, n);
        CHECK_EQ(k, n); /* 17 pages at most in use: the pool of 40 never runs dry */
        head += k;
        CHECK(memcmp(list, mirror, sizeof list) == 0);
        uint32_t used = head - tail, r = (uint32_t)rand() % (used + 1);
        sock_ring_read(list, POOL, region, tail, out, r);
        for (uint32_t i = 0; i < r; i++)
            if (out[i] != byte_at(tail + i)) {
                CHECK_EQ(out[i], byte_at(tail + i));
                return;
            }
        tail += r;
        moved += r;
        sock_ring_reclaim(list, mirror, &p, head, tail);
        /* Pages held = pages [tail's page, head) spans; none when empty. */
        uint32_t want = head == tail ? 0 : (head - 1 - (tail & ~4095u)) / 4096u + 1;
        CHECK_EQ(sock_ring_held(list), want);
        CHECK_EQ(p.nfree, POOL - want);
    }
    sock_ring_read(list, POOL, region, tail, out, head - tail);
    tail = head;
    CHECK_EQ(sock_ring_reclaim(list, mirror, &p, head, tail) <= SOCK_RING_PAGES, 1);
    CHECK_EQ(sock_ring_held(list), 0u);
    CHECK_EQ(p.nfree, POOL); /* nothing leaked */
}

static void test_dry_pool_shortens_write(void)
{
    struct sock_pool p;
    sock_pool_init(&p, links, 0, 3);
    uint16_t list[SOCK_RING_PAGES] = { 0 };
    static uint8_t buf[5 * 4096];
    CHECK_EQ(sock_ring_pages_wanted(list, 100, sizeof buf), 6u);
    CHECK_EQ(sock_ring_write(list, NULL, &p, region, 100, buf, sizeof buf), 3u * 4096 - 100);
    CHECK_EQ(p.nfree, 0u);
    CHECK_EQ(sock_ring_pages_wanted(list, 100, 3u * 4096 - 100), 0u);
    CHECK_EQ(sock_ring_reclaim(list, NULL, &p, 3u * 4096, 3u * 4096), 3u);
    CHECK_EQ(p.nfree, 3u);
}

static void test_lies_refused(void)
{
    struct sock_pool p;
    sock_pool_init(&p, links, 0, POOL);
    uint16_t list[SOCK_RING_PAGES] = { 0 };
    uint8_t b[8000];
    memset(b, 0xab, sizeof b);
    CHECK_EQ(sock_ring_write(list, NULL, &p, region, 0, b, sizeof b), (uint32_t)sizeof b);
    /* A tail beyond head, or further behind than a ring: nothing freed. */
    CHECK_EQ(sock_ring_reclaim(list, NULL, &p, 8000, 9000), 0u);
    CHECK_EQ(sock_ring_reclaim(list, NULL, &p, 8000, 8000 - SOCK_RING_BYTES - 1), 0u);
    CHECK_EQ(sock_ring_held(list), 2u);
    /* An entry beyond the pool reads as zeros and gives no address. */
    list[1] = POOL + 5;
    const uint8_t *at;
    CHECK_EQ(sock_ring_span(list, POOL, region, 4096, 100, &at), 100u);
    CHECK(at == NULL);
    uint8_t out[16];
    sock_ring_read(list, POOL, region, 4090, out, sizeof out);
    CHECK_EQ(out[0], 0xab);
    CHECK_EQ(out[6], 0);
    list[1] = 0;
    CHECK_EQ(sock_ring_span(list, POOL, region, 4096, 100, &at), 100u);
    CHECK(at == NULL);
}

/* Datagram records (socket.h): IPv4 ones as before, IPv6 ones with their
 * address, and every hostile header refused with its code. */
static void test_dgram_records(void)
{
    uint32_t rec = 99;
    /* An IPv4 record: 8 + payload padded, IPv6 ones or not. */
    struct sock_dgram h4 = { .ip = 0x0a000001u, .port = 514, .len = 13 };
    CHECK_EQ(sock_dgram_check(&h4, 24, false, &rec), 0);
    CHECK_EQ(rec, 24u);
    CHECK_EQ(sock_dgram_check(&h4, 24, true, &rec), 0);
    CHECK_EQ(rec, 24u);
    CHECK_EQ(sock_dgram_rec(13, false), 24u);
    CHECK_EQ(sock_dgram_rec(0, false), 8u);
    /* An IPv6 record: 8 + 16 + payload padded. */
    struct sock_dgram h6 = { .ip = 0, .port = 123, .len = (uint16_t)(48 | SOCK_DGRAM_IP6) };
    CHECK_EQ(sock_dgram_rec(48, true), 72u);
    CHECK_EQ(sock_dgram_check(&h6, 72, true, &rec), 0);
    CHECK_EQ(rec, 72u);
    CHECK_EQ(sock_dgram_check(&h6, 1000, true, &rec), 0);
    CHECK_EQ(rec, 72u);
    /* A bad family: an IPv6 record on an IPv4 socket, just that record skipped. */
    CHECK_EQ(sock_dgram_check(&h6, 72, false, &rec), SOCK_E_INVALID);
    CHECK_EQ(rec, 72u);
    /* Truncated: less than a header, or less than the address or payload. */
    CHECK_EQ(sock_dgram_check(&h4, 7, true, &rec), SOCK_E_TRUNCATED);
    CHECK_EQ(rec, 0u);
    CHECK_EQ(sock_dgram_check(&h4, 0, true, &rec), SOCK_E_TRUNCATED);
    CHECK_EQ(sock_dgram_check(&h4, 23, true, &rec), SOCK_E_TRUNCATED);
    CHECK_EQ(sock_dgram_check(&h6, 8, true, &rec), SOCK_E_TRUNCATED);
    CHECK_EQ(sock_dgram_check(&h6, 24, true, &rec), SOCK_E_TRUNCATED);
    CHECK_EQ(sock_dgram_check(&h6, 71, true, &rec), SOCK_E_TRUNCATED);
    CHECK_EQ(rec, 0u);
    /* Bad lengths and unknown bits: nothing after them is trusted. */
    struct sock_dgram big = { .len = SOCK_DGRAM_MAX + 1 };
    CHECK_EQ(sock_dgram_check(&big, SOCK_RING_BYTES, true, &rec), SOCK_E_INVALID);
    CHECK_EQ(rec, 0u);
    struct sock_dgram big6 = { .len = (uint16_t)((SOCK_DGRAM_MAX + 1) | SOCK_DGRAM_IP6) };
    CHECK_EQ(sock_dgram_check(&big6, SOCK_RING_BYTES, true, &rec), SOCK_E_INVALID);
    CHECK_EQ(rec, 0u);
    for (unsigned bit = 11; bit < 15; bit++) {
        struct sock_dgram odd = { .len = (uint16_t)(4 | 1u << bit) };
        CHECK_EQ(sock_dgram_check(&odd, SOCK_RING_BYTES, true, &rec), SOCK_E_INVALID);
        CHECK_EQ(rec, 0u);
    }
    struct sock_dgram all = { .ip = 0xffffffffu, .port = 0xffff, .len = 0xffff };
    CHECK_EQ(sock_dgram_check(&all, SOCK_RING_BYTES, true, &rec), SOCK_E_INVALID);
    /* The largest records fit. */
    struct sock_dgram max6 = { .len = (uint16_t)(SOCK_DGRAM_MAX | SOCK_DGRAM_IP6) };
    CHECK_EQ(sock_dgram_check(&max6, SOCK_RING_BYTES, true, &rec), 0);
    CHECK_EQ(rec, 8u + 16u + SOCK_DGRAM_MAX);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_pool_take_give),          UNIT_TEST(test_room_rule),    UNIT_TEST(test_stream_through_pages),
        UNIT_TEST(test_dry_pool_shortens_write), UNIT_TEST(test_lies_refused), UNIT_TEST(test_dgram_records),
    };
    return unit_main("sock_ring", tests, sizeof tests / sizeof tests[0]);
}
