/*
 * clock.c - calendar arithmetic (keel/clock.h).  Days from civil and back
 * by the era method (400-year cycles of 146097 days), so no table and no
 * loop over years; valid for every year from 1970 to far beyond 2100.
 */
#include <keel/clock.h>
#include <keel/fmt.h>

#define SECS_PER_DAY 86400ull

static bool leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const uint8_t d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap(y) ? 29u : d[m - 1];
}

/* Days since 1970-01-01 of Y-M-D (Y >= 1970). */
static uint64_t days_from_civil(unsigned y, unsigned m, unsigned d)
{
    y -= m <= 2;
    uint64_t era = y / 400, yoe = y - era * 400;
    uint64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool clock_from_civil(const struct clock_civil *c, uint64_t *secs)
{
    if (c->year < 1970 || c->month < 1 || c->month > 12 || c->day < 1 || c->day > days_in_month(c->year, c->month) ||
        c->hour > 23 || c->min > 59 || c->sec > 60)
        return false;
    *secs = days_from_civil(c->year, c->month, c->day) * SECS_PER_DAY + c->hour * 3600ull + c->min * 60ull + c->sec;
    return true;
}

void clock_to_civil(uint64_t secs, struct clock_civil *c)
{
    uint64_t z = secs / SECS_PER_DAY + 719468, rem = secs % SECS_PER_DAY;
    uint64_t era = z / 146097, doe = z - era * 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint64_t mp = (5 * doy + 2) / 153;
    c->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    c->year = (unsigned)(yoe + era * 400 + (c->month <= 2));
    c->hour = (unsigned)(rem / 3600);
    c->min = (unsigned)(rem / 60 % 60);
    c->sec = (unsigned)(rem % 60);
}

char *clock_format_utc(uint64_t secs, char *out, size_t cap)
{
    struct clock_civil c;
    clock_to_civil(secs, &c);
    lib_snprintf(out, cap, "%04u-%02u-%02u %02u:%02u:%02u UTC", c.year, c.month, c.day, c.hour, c.min, c.sec);
    return out;
}

char *clock_format_rfc3339(uint64_t secs, uint32_t nsec, char *out, size_t cap)
{
    struct clock_civil c;
    clock_to_civil(secs, &c);
    lib_snprintf(out, cap, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ", c.year, c.month, c.day, c.hour, c.min, c.sec,
                 nsec / 1000u);
    return out;
}

/* ------------------------------------------------------------- CMOS -- */

static bool cmos_field(uint8_t v, bool bcd, unsigned max, unsigned *out)
{
    if (bcd) {
        if ((v & 0x0f) > 9 || (v >> 4) > 9)
            return false;
        v = (uint8_t)((v >> 4) * 10 + (v & 0x0f));
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

bool clock_from_cmos(const struct clock_cmos *r, uint64_t *unix_s)
{
    bool bcd = !(r->status_b & 0x04), h24 = (r->status_b & 0x02) != 0;
    struct clock_civil c;
    unsigned yy, cc = 20, hour;
    bool pm = !h24 && (r->hour & 0x80);
    if (!cmos_field(r->sec, bcd, 59, &c.sec) || !cmos_field(r->min, bcd, 59, &c.min) ||
        !cmos_field((uint8_t)(r->hour & (h24 ? 0xff : 0x7f)), bcd, h24 ? 23 : 12, &hour) ||
        !cmos_field(r->day, bcd, 31, &c.day) || !cmos_field(r->month, bcd, 12, &c.month) ||
        !cmos_field(r->year, bcd, 99, &yy))
        return false;
    if (r->century && !cmos_field(r->century, bcd, 99, &cc))
        return false;
    if (!h24) {
        if (hour == 0)
            return false;
        hour = hour % 12 + (pm ? 12 : 0);
    }
    c.hour = hour;
    c.year = cc * 100 + yy;
    return clock_from_civil(&c, unix_s);
}
