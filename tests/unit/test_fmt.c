/* test_fmt.c - the kernel's printf-style formatter (kernel/fmt.c). */
#include <stdint.h>

#include "fmt.h"
#include "unit.h"

/* Some cases feed the formatter what gcc would reject at compile time. */
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wformat-overflow"

static char buf[128];

#define CHECK_FMT(expected, ...) CHECK_FORMATS(fmt_snprintf, buf, expected, __VA_ARGS__)

static void test_integers(void)
{
    CHECK_FMT("-42 7 4000000000", "%d %i %u", -42, 7, 4000000000u);
    CHECK_FMT("-9223372036854775808 18446744073709551615", "%lld %llu", (long long)INT64_MIN,
              (unsigned long long)UINT64_MAX);
    CHECK_FMT("44 4464 12", "%hhd %hu %zu", 300, 70000, (size_t)12);
}

static void test_hex_octal_pointer(void)
{
    CHECK_FMT("beef BEEF 10 ffffffff80000000", "%x %X %o %lx", 0xbeefu, 0xbeefu, 8u, 0xffffffff80000000ul);
    CHECK_FMT("0x1234", "%p", (void *)0x1234);
}

static void test_width_and_flags(void)
{
    CHECK_FMT("[   42][42   ][-0042][0000000000000abc]", "[%5d][%-5d][%05d][%016llx]", 42, 42, -42, 0xabcull);
    CHECK_FMT("[  ab][ab  ][abc]", "[%*s][%-*s][%.3s]", 4, "ab", 4, "ab", "abcdef");
    CHECK_FMT("[  x][y  ]", "[%3c][%-3c]", 'x', 'y');
}

static void test_strings_and_percent(void) { CHECK_FMT("keel|(null)|100%", "%s|%s|100%%", "keel", (const char *)0); }

static void test_truncation(void)
{
    char small[6];
    size_t n = fmt_snprintf(small, sizeof small, "%s", "abcdefgh");
    CHECK_EQ(n, 8);
    CHECK_STR(small, "abcde");
    n = fmt_snprintf(small, 0, "%d", 12345);
    CHECK_EQ(n, 5);
    n = fmt_snprintf(small, 1, "xyz");
    CHECK_STR(small, "");
}

static void test_unknown_conversion_is_literal(void) { CHECK_FMT("a%qb%", "a%qb%", 1); }

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_integers),        UNIT_TEST(test_hex_octal_pointer),
        UNIT_TEST(test_width_and_flags), UNIT_TEST(test_strings_and_percent),
        UNIT_TEST(test_truncation),      UNIT_TEST(test_unknown_conversion_is_literal),
    };
    return unit_main("fmt", tests, sizeof tests / sizeof tests[0]);
}
