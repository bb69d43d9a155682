/*
 * keel/clock.h - calendar arithmetic for wall-clock time (pure: no system
 * calls).  Times are seconds since 1970-01-01 00:00:00 UTC, leap seconds
 * not counted (POSIX time), proleptic Gregorian calendar.
 */
#ifndef KEEL_LIB_CLOCK_H
#define KEEL_LIB_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct clock_civil {
    unsigned year, month, day; /* month 1-12, day 1-31 */
    unsigned hour, min, sec;
};

/* Seconds since 1970 for a civil date and time (UTC); false when a field
 * is out of range or the date is before 1970. */
bool clock_from_civil(const struct clock_civil *c, uint64_t *secs);
/* The civil date and time (UTC) of SECS. */
void clock_to_civil(uint64_t secs, struct clock_civil *c);
/* The CMOS real-time clock's registers as read (MC146818: 0 sec, 2 min,
 * 4 hour, 7 day, 8 month, 9 year, 0x32 century; status B's bits 1
 * (24-hour) and 2 (binary, else BCD)). */
struct clock_cmos {
    uint8_t sec, min, hour, day, month, year, century, status_b;
};
/* Their time in seconds since 1970; false when a field is out of range.
 * A century register of 0 means 20. */
bool clock_from_cmos(const struct clock_cmos *r, uint64_t *unix_s);
/* "2026-12-07 01:02:03 UTC" into OUT (at least 24 bytes); returns OUT. */
char *clock_format_utc(uint64_t secs, char *out, size_t cap);
/* RFC 3339 with microseconds, "2026-12-07T01:02:03.123456Z" (syslog's
 * TIMESTAMP): SECS and NSEC. */
char *clock_format_rfc3339(uint64_t secs, uint32_t nsec, char *out, size_t cap);

#endif
