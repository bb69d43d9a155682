/*
 * test_lib_clock.c - calendar arithmetic (lib/clock.c) against dates the
 * host's own gmtime gives, over every day from 1970 to 2200, fields out of
 * range refused, and the CMOS clock's registers (BCD and binary, 12- and
 * 24-hour, out of range).
 */
#include <time.h>

#include <keel/clock.h>

#include "unit.h"

static void test_every_day_matches_gmtime(void)
{
    for (uint64_t d = 0; d < 84000; d++) {
        uint64_t s = d * 86400 + (d * 7919) % 86400;
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        struct clock_civil c;
        clock_to_civil(s, &c);
        CHECK_EQ(c.year, tm.tm_year + 1900);
        CHECK_EQ(c.month, tm.tm_mon + 1);
        CHECK_EQ(c.day, tm.tm_mday);
        CHECK_EQ(c.hour, tm.tm_hour);
        CHECK_EQ(c.min, tm.tm_min);
        CHECK_EQ(c.sec, tm.tm_sec);
        uint64_t back = 0;
        CHECK(clock_from_civil(&c, &back));
        CHECK_EQ(back, s);
    }
}

static void test_refuses_bad_fields(void)
{
    uint64_t s;
    struct clock_civil c = { 2023, 2, 29, 0, 0, 0 };
    CHECK(!clock_from_civil(&c, &s));
    c.year = 2024;
    CHECK(clock_from_civil(&c, &s));
    struct clock_civil bad[] = { { 1969, 12, 31, 0, 0, 0 },
                                 { 2024, 13, 1, 0, 0, 0 },
                                 { 2024, 4, 31, 0, 0, 0 },
                                 { 2024, 1, 1, 24, 0, 0 },
                                 { 2024, 1, 0, 0, 0, 0 } };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!clock_from_civil(&bad[i], &s));
}

static void test_formats(void)
{
    char b[40];
    CHECK_STR(clock_format_utc(0, b, sizeof b), "1970-01-01 00:00:00 UTC");
    CHECK_STR(clock_format_utc(1796605323, b, sizeof b), "2026-12-07 01:02:03 UTC");
    CHECK_STR(clock_format_rfc3339(1796605323, 123456789, b, sizeof b), "2026-12-07T01:02:03.123456Z");
}

static void test_rtc(void)
{
    uint64_t s = 0;
    struct clock_cmos bcd = { 0x03, 0x02, 0x01, 0x07, 0x12, 0x26, 0x20, 0x02 };
    CHECK(clock_from_cmos(&bcd, &s));
    CHECK_EQ(s, 1796605323ull);
    struct clock_cmos bin = { 3, 2, 1, 7, 12, 26, 0, 0x06 }; /* binary, century register absent */
    CHECK(clock_from_cmos(&bin, &s));
    CHECK_EQ(s, 1796605323ull);
    struct clock_cmos pm = { 0x03, 0x02, 0x81, 0x07, 0x12, 0x26, 0x20, 0x00 }; /* 1 PM, 12-hour BCD */
    CHECK(clock_from_cmos(&pm, &s));
    CHECK_EQ(s, 1796605323ull + 12 * 3600);
    struct clock_cmos twelve_am = { 0, 0, 0x12, 0x01, 0x01, 0x26, 0x20, 0x00 };
    CHECK(clock_from_cmos(&twelve_am, &s));
    CHECK_EQ(s % 86400, 0);
    struct clock_cmos bad = { 0x3a, 0, 0, 1, 1, 0x26, 0x20, 0x02 };
    CHECK(!clock_from_cmos(&bad, &s));
    struct clock_cmos feb30 = { 0, 0, 0, 0x30, 0x02, 0x26, 0x20, 0x02 };
    CHECK(!clock_from_cmos(&feb30, &s));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_every_day_matches_gmtime),
        UNIT_TEST(test_refuses_bad_fields),
        UNIT_TEST(test_formats),
        UNIT_TEST(test_rtc),
    };
    return unit_main("lib_clock", tests, sizeof tests / sizeof tests[0]);
}
