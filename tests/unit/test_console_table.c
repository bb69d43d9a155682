/*
 * test_console_table.c - the aligned tables consoled prints for netd's
 * answers (appliance/console/table.c): widths, cut columns, unprintable
 * bytes, empty and unterminated input.
 */
#include <string.h>

#include "table.h"
#include "unit.h"

static char out[4096];
static size_t out_len;

static void sink(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    if (out_len + n < sizeof out) {
        memcpy(out + out_len, s, n);
        out_len += n;
        out[out_len] = 0;
    }
}

static const char *print(const char *t)
{
    out_len = 0;
    out[0] = 0;
    table_print(t, strlen(t), sink, NULL);
    return out;
}

static void test_aligned(void)
{
    CHECK_STR(print("NAME\tNIC\nwan\teth0\nlan-long\teth1\n"), "NAME      NIC\r\nwan       eth0\r\nlan-long  eth1\r\n");
}

static void test_empty_and_unterminated(void)
{
    CHECK_STR(print(""), "");
    CHECK_STR(print("A\tB"), "A  B\r\n");
    CHECK_STR(print("A\t\tC\n"), "A    C\r\n");
}

static void test_unprintable_bytes(void) { CHECK_STR(print("a\x1b[2Jb\tc\x7f\n"), "a?[2Jb  c?\r\n"); }

static void test_too_many_columns(void)
{
    /* 13 fields: the last two share the twelfth column, the tab shown as '?' */
    CHECK_STR(print("1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\n"), "1  2  3  4  5  6  7  8  9  10  11  12?13\r\n");
}

static void test_wide_column_capped(void)
{
    char t[300];
    memset(t, 'x', 200);
    strcpy(t + 200, "\ty\nz\tw\n");
    print(t);
    const char *second = strstr(out, "\r\nz");
    CHECK(second != NULL);
    /* z is padded to the cap (80), not to 200 */
    CHECK_EQ(strlen(second + 2), 1 + 79 + 2 + 1 + 2);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_aligned),          UNIT_TEST(test_empty_and_unterminated), UNIT_TEST(test_unprintable_bytes),
        UNIT_TEST(test_too_many_columns), UNIT_TEST(test_wide_column_capped),
    };
    return unit_main("console_table", tests, (int)(sizeof tests / sizeof tests[0]));
}
