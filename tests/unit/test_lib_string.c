/*
 * test_lib_string.c - lib/string.c against the host libc.
 *
 * Every routine is compared with its libc twin over all source and
 * destination alignments mod 16 and lengths around the word-loop edges.
 * Buffers are exact-size heap blocks with guard bytes checked around the
 * written range, so ASan catches an over-read and the guards an over-write.
 */
#include <stdint.h>
#include <stdlib.h>

#include <keel/string.h>

#include "unit.h"

#define MAXLEN 300
#define GUARD  16

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void) { return unit_xorshift64(&rng_state); }

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng();
}

static const size_t lengths[] = { 0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, MAXLEN - 32 };
#define NLENGTHS (sizeof lengths / sizeof lengths[0])

static void test_memcpy_all_alignments(void)
{
    for (size_t li = 0; li < NLENGTHS; li++) {
        size_t n = lengths[li];
        for (size_t sa = 0; sa < 16; sa++) {
            for (size_t da = 0; da < 16; da++) {
                uint8_t *src = malloc(n + sa + 1);
                uint8_t dst[MAXLEN + 2 * GUARD], want[MAXLEN + 2 * GUARD];
                fill_random(src, n + sa + 1);
                fill_random(dst, sizeof dst);
                memcpy(want, dst, sizeof dst);
                memcpy(want + GUARD + da, src + sa, n);
                void *r = lib_memcpy(dst + GUARD + da, src + sa, n);
                CHECK(r == dst + GUARD + da);
                CHECK(memcmp(dst, want, sizeof dst) == 0);
                free(src);
            }
        }
    }
}

static void test_memmove_overlap_both_directions(void)
{
    uint8_t buf[MAXLEN + 64], want[MAXLEN + 64];
    for (size_t li = 0; li < NLENGTHS; li++) {
        size_t n = lengths[li];
        for (size_t from = 0; from < 24; from++) {
            for (size_t to = 0; to < 24; to++) {
                fill_random(buf, sizeof buf);
                memcpy(want, buf, sizeof buf);
                memmove(want + to, want + from, n);
                void *r = lib_memmove(buf + to, buf + from, n);
                CHECK(r == buf + to);
                CHECK(memcmp(buf, want, sizeof buf) == 0);
            }
        }
    }
}

static void test_memmove_disjoint(void)
{
    uint8_t *a = malloc(200), *b = malloc(200);
    fill_random(a, 200);
    lib_memmove(b, a, 200);
    CHECK(memcmp(a, b, 200) == 0);
    lib_memmove(a + 3, b + 5, 150);
    CHECK(memcmp(a + 3, b + 5, 150) == 0);
    free(a);
    free(b);
}

static void test_memset_all_alignments_and_values(void)
{
    static const int values[] = { 0, 0x5a, 0xff, -1, 0x1ab /* only the low byte counts */ };
    for (size_t vi = 0; vi < sizeof values / sizeof values[0]; vi++) {
        for (size_t li = 0; li < NLENGTHS; li++) {
            for (size_t a = 0; a < 16; a++) {
                uint8_t buf[MAXLEN + 2 * GUARD], want[MAXLEN + 2 * GUARD];
                size_t n = lengths[li];
                fill_random(buf, sizeof buf);
                memcpy(want, buf, sizeof buf);
                memset(want + GUARD + a, values[vi], n);
                CHECK(lib_memset(buf + GUARD + a, values[vi], n) == buf + GUARD + a);
                CHECK(memcmp(buf, want, sizeof buf) == 0);
            }
        }
    }
}

static int sign(int v) { return (v > 0) - (v < 0); }

static void test_memcmp_difference_at_every_position(void)
{
    for (size_t n = 0; n < 70; n++) {
        for (size_t a = 0; a < 8; a++) {
            uint8_t *x = malloc(n + a + 1), *y = malloc(n + 1);
            fill_random(x, n + a + 1);
            memcpy(y, x + a, n);
            CHECK_EQ(lib_memcmp(x + a, y, n), 0);
            for (size_t i = 0; i < n; i++) {
                uint8_t saved = y[i];
                y[i] = (uint8_t)(saved + 1 + rng() % 255);
                CHECK_EQ(sign(lib_memcmp(x + a, y, n)), sign(memcmp(x + a, y, n)));
                CHECK_EQ(sign(lib_memcmp(y, x + a, n)), sign(memcmp(y, x + a, n)));
                y[i] = saved;
            }
            free(x);
            free(y);
        }
    }
    /* Bytes compare as unsigned: 0x80 > 0x7f. */
    CHECK(lib_memcmp("\x80", "\x7f", 1) > 0);
}

static void test_strlen_strnlen(void)
{
    CHECK_EQ(lib_strlen(""), 0);
    CHECK_EQ(lib_strlen("keel"), 4);
    for (size_t n = 0; n < 40; n++) {
        char *s = malloc(n + 1);
        memset(s, 'a', n);
        s[n] = '\0';
        CHECK_EQ(lib_strlen(s), n);
        CHECK_EQ(lib_strnlen(s, n + 5), n);
        CHECK_EQ(lib_strnlen(s, n), n);
        if (n)
            CHECK_EQ(lib_strnlen(s, n - 1), n - 1);
        free(s);
    }
    /* strnlen never looks past max: this buffer has no terminator. */
    char *unterminated = malloc(4);
    memcpy(unterminated, "abcd", 4);
    CHECK_EQ(lib_strnlen(unterminated, 4), 4);
    free(unterminated);
}

static void test_strcmp_strncmp(void)
{
    static const char *const words[] = { "", "a", "ab", "abc", "abd", "b", "\x80", "\x7f", "ab\xff" };
    size_t nw = sizeof words / sizeof words[0];
    for (size_t i = 0; i < nw; i++) {
        for (size_t j = 0; j < nw; j++) {
            CHECK_EQ(sign(lib_strcmp(words[i], words[j])), sign(strcmp(words[i], words[j])));
            for (size_t n = 0; n < 5; n++)
                CHECK_EQ(sign(lib_strncmp(words[i], words[j], n)), sign(strncmp(words[i], words[j], n)));
        }
    }
    CHECK_EQ(lib_strncmp("abcX", "abcY", 3), 0);
    CHECK(lib_strncmp("abcX", "abcY", 4) < 0);
}

static void test_strchr(void)
{
    const char *s = "keel\xff-os";
    CHECK(lib_strchr(s, 'e') == s + 1);
    CHECK(lib_strchr(s, 'l') == s + 3);
    CHECK(lib_strchr(s, 'z') == NULL);
    CHECK(lib_strchr(s, '\0') == s + 8);
    CHECK(lib_strchr(s, 0xff) == s + 4); /* c converts to char */
    CHECK(lib_strchr(s, -1) == s + 4);
    CHECK(lib_strchr("", 'a') == NULL);
    CHECK(lib_strchr("", 0) != NULL);
}

static void test_strlcpy(void)
{
    char buf[8];
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(lib_strlcpy(buf, "hello", sizeof buf), 5);
    CHECK_STR(buf, "hello");
    CHECK_EQ(lib_strlcpy(buf, "a long string", sizeof buf), 13);
    CHECK_STR(buf, "a long ");
    CHECK_EQ(lib_strlcpy(buf, "abcdefgh", 8), 8); /* exactly one too long */
    CHECK_STR(buf, "abcdefg");
    CHECK_EQ(lib_strlcpy(buf, "abcdefg", 8), 7); /* exactly fits */
    CHECK_STR(buf, "abcdefg");
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(lib_strlcpy(buf, "zz", 1), 2);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(buf[1], 'X');
    CHECK_EQ(lib_strlcpy(buf, "zz", 0), 2);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(buf[1], 'X');
    CHECK_EQ(lib_strlcpy(NULL, "abc", 0), 3); /* size 0: dst is never touched */
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_memcpy_all_alignments),
        UNIT_TEST(test_memmove_overlap_both_directions),
        UNIT_TEST(test_memmove_disjoint),
        UNIT_TEST(test_memset_all_alignments_and_values),
        UNIT_TEST(test_memcmp_difference_at_every_position),
        UNIT_TEST(test_strlen_strnlen),
        UNIT_TEST(test_strcmp_strncmp),
        UNIT_TEST(test_strchr),
        UNIT_TEST(test_strlcpy),
    };
    return unit_main("lib_string", tests, (int)(sizeof tests / sizeof tests[0]));
}
