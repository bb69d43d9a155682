/* test_cmdline.c - kernel command-line switches (kernel/cmdline.c). */
#include "cmdline.h"
#include "unit.h"

static void test_words(void)
{
    const char *line = "keel debug-exit fault=ud  exit-when-up";
    CHECK(cmdline_line_has(line, "debug-exit"));
    CHECK(cmdline_line_has(line, "fault"));
    CHECK(cmdline_line_has(line, "exit-when-up"));
    CHECK(!cmdline_line_has(line, "debug")); /* a prefix is not a word */
    CHECK(!cmdline_line_has(line, "exit"));
    CHECK(!cmdline_line_has(line, "ud"));
    CHECK(!cmdline_line_has("", "x"));
}

static void test_values(void)
{
    char v[8];
    CHECK(cmdline_line_value("keel fault=ud x", "fault", v, sizeof v));
    CHECK_STR(v, "ud");
    CHECK(!cmdline_line_value("keel fault x", "fault", v, sizeof v));
    CHECK(cmdline_line_value("keel fault a=1 fault=pf", "fault", v, sizeof v));
    CHECK_STR(v, "pf");
    CHECK(cmdline_line_value("k=", "k", v, sizeof v));
    CHECK_STR(v, "");
    CHECK(cmdline_line_value("k=0123456789", "k", v, sizeof v));
    CHECK_STR(v, "0123456"); /* cut to the buffer */
}

static void test_kernel_copy(void)
{
    cmdline_set("keel debug-exit");
    CHECK(cmdline_has("debug-exit"));
    CHECK_STR(cmdline_get(), "keel debug-exit");
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_words),
        UNIT_TEST(test_values),
        UNIT_TEST(test_kernel_copy),
    };
    return unit_main("cmdline", tests, sizeof tests / sizeof tests[0]);
}
