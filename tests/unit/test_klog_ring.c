/* test_klog_ring.c - the kernel log's ring of whole lines (kernel/klog_ring.c):
 * lines in and out in order across the wrap, a line that does not fit refused
 * whole and counted, and the note of the count before the next line. */
#include <stdlib.h>

#include "klog_ring.h"
#include "unit.h"

static struct klog_ring *fresh(void)
{
    struct klog_ring *r = calloc(1, sizeof *r);
    return r;
}

/* Takes everything waiting into OUT (NUL-terminated); returns its length. */
static size_t take_all(struct klog_ring *r, char *out, size_t cap)
{
    const char *p1, *p2;
    size_t n1, n2;
    klog_ring_peek(r, cap - 1, &p1, &n1, &p2, &n2);
    memcpy(out, p1, n1);
    memcpy(out + n1, p2, n2);
    out[n1 + n2] = 0;
    klog_ring_consume(r, n1 + n2);
    return n1 + n2;
}

static void test_lines_in_order(void)
{
    struct klog_ring *r = fresh();
    char out[256];
    CHECK(klog_ring_put_line(r, "one\n", 4));
    CHECK(klog_ring_put_line(r, "two\n", 4));
    CHECK_EQ(klog_ring_used(r), 8u);
    CHECK_EQ(take_all(r, out, sizeof out), 8u);
    CHECK_STR(out, "one\ntwo\n");
    CHECK_EQ(klog_ring_used(r), 0u);
    free(r);
}

static void test_full_ring_drops_whole_lines_and_notes_them(void)
{
    struct klog_ring *r = fresh();
    char line[100];
    memset(line, 'x', sizeof line);
    line[99] = '\n';
    unsigned in = 0;
    while (klog_ring_put_line(r, line, sizeof line))
        in++;
    CHECK_EQ(in, KLOG_RING_BYTES / 100);
    CHECK_EQ(r->lost, 1u);
    CHECK(!klog_ring_put_line(r, line, sizeof line));
    CHECK_EQ(r->lost, 2u);
    /* Room for the line (84 + 20 bytes free) but not for the note and the
     * line: still refused. */
    klog_ring_consume(r, 20);
    CHECK(!klog_ring_put_line(r, line, sizeof line));
    CHECK_EQ(r->lost, 3u);
    /* Room for both: the note comes first, then the line; the count restarts. */
    klog_ring_consume(r, 100);
    CHECK(klog_ring_put_line(r, "next\n", 5));
    CHECK_EQ(r->lost, 0u);
    static char all[KLOG_RING_BYTES + 1];
    size_t n = take_all(r, all, sizeof all);
    const char *note = "[kernel log: 3 lines lost: the console was busy]\nnext\n";
    CHECK(n > strlen(note));
    CHECK_STR(all + n - strlen(note), note);
    /* Every line before the note is whole. */
    for (size_t i = 0; i < n - strlen(note); i++)
        CHECK(all[i] == (((i + 120) % 100 == 99) ? '\n' : 'x')); /* 120 bytes were taken */
    free(r);
}

static void test_wraps_and_partial_takes(void)
{
    struct klog_ring *r = fresh();
    uint64_t seed = 0x6b6c6f67;
    char expect[64], got[64];
    for (unsigned k = 0; k < 5000; k++) {
        size_t len = 1 + unit_xorshift64(&seed) % 40;
        for (size_t i = 0; i + 1 < len; i++)
            expect[i] = (char)('a' + (k + i) % 26);
        expect[len - 1] = '\n';
        CHECK(klog_ring_put_line(r, expect, len));
        /* Taken back in two uneven pieces: the same bytes. */
        size_t a = len / 3, off = 0;
        const char *p1, *p2;
        size_t n1, n2;
        klog_ring_peek(r, a, &p1, &n1, &p2, &n2);
        CHECK_EQ(n1 + n2, a);
        memcpy(got, p1, n1);
        memcpy(got + n1, p2, n2);
        klog_ring_consume(r, a);
        off = a;
        klog_ring_peek(r, sizeof got, &p1, &n1, &p2, &n2);
        CHECK_EQ(n1 + n2, len - a);
        memcpy(got + off, p1, n1);
        memcpy(got + off + n1, p2, n2);
        klog_ring_consume(r, n1 + n2);
        CHECK(memcmp(got, expect, len) == 0);
    }
    CHECK(r->head > KLOG_RING_BYTES); /* it wrapped several times */
    CHECK_EQ(r->lost, 0u);
    free(r);
}

static void test_note_text(void)
{
    char note[KLOG_NOTE_MAX];
    size_t n = klog_ring_note(1, note);
    CHECK_EQ(n, strlen("[kernel log: 1 lines lost: the console was busy]\n"));
    n = klog_ring_note(UINT64_MAX, note);
    note[n] = 0;
    CHECK_STR(note, "[kernel log: 18446744073709551615 lines lost: the console was busy]\n");
    CHECK(n <= KLOG_NOTE_MAX);
}

static void test_consume_beyond_waiting_is_clamped(void)
{
    struct klog_ring *r = fresh();
    CHECK(klog_ring_put_line(r, "a\n", 2));
    klog_ring_consume(r, 100);
    CHECK_EQ(klog_ring_used(r), 0u);
    CHECK_EQ(r->tail, r->head);
    free(r);
}

/* Ordinary lines stop at their limit; a line allowed the whole ring still
 * enters after them, with the note of the ordinary lines refused. */
static void test_limit_keeps_room_for_urgent_lines(void)
{
    struct klog_ring *r = fresh();
    char line[100];
    memset(line, 'o', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    const size_t limit = KLOG_RING_BYTES * 3 / 4;
    unsigned in = 0;
    while (klog_ring_put_line_within(r, line, sizeof line, limit))
        in++;
    CHECK(klog_ring_used(r) <= limit);
    CHECK(klog_ring_used(r) + sizeof line > limit);
    CHECK_EQ(r->lost, 1u);
    CHECK(!klog_ring_put_line_within(r, line, sizeof line, limit));
    CHECK_EQ(r->lost, 2u);
    CHECK(klog_ring_put_line(r, "keel: init: server eth0 died\n", 29));
    CHECK_EQ(r->lost, 0u);
    /* A limit below what already waits refuses, and is no underflow. */
    CHECK(!klog_ring_put_line_within(r, "x\n", 2, 10));
    CHECK_EQ(r->lost, 1u);
    static char all[KLOG_RING_BYTES + 1];
    size_t n = take_all(r, all, sizeof all);
    CHECK_EQ(n, in * sizeof line + strlen("[kernel log: 2 lines lost: the console was busy]\n") + 29);
    CHECK(strstr(all, "[kernel log: 2 lines lost: the console was busy]\nkeel: init: server eth0 died\n") != NULL);
    free(r);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_lines_in_order),
        UNIT_TEST(test_full_ring_drops_whole_lines_and_notes_them),
        UNIT_TEST(test_wraps_and_partial_takes),
        UNIT_TEST(test_note_text),
        UNIT_TEST(test_consume_beyond_waiting_is_clamped),
        UNIT_TEST(test_limit_keeps_room_for_urgent_lines),
    };
    return unit_main("klog_ring", tests, sizeof tests / sizeof tests[0]);
}
