/*
 * logring.c - consoled's log ring and its table rows (see logring.h).
 *
 * Invariant: the ring holds min(next, LOG_RING_ENTRIES) entries, the
 * newest being seq next - 1; a slot is overwritten only by the entry
 * LOG_RING_ENTRIES later.  Formatting writes through a bounded cursor
 * (struct textbuf), so a row is cut, never overrun.
 */
#include "logring.h"

#include <keel/string.h>
#include <keel/textbuf.h>

#include "conf.h"

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_ring_init(struct log_ring *r, unsigned level)
{
    memset(r, 0, sizeof *r);
    log_ring_set_level(r, level);
}

void log_ring_set_level(struct log_ring *r, unsigned level)
{
    r->level = (uint8_t)(level > CONF_LOG_ERROR ? CONF_LOG_ERROR : level);
}

/* Copies S into DST (CAP bytes with the NUL), printable ASCII only. */
static void copy_clean(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    dst[i] = '\0';
}

bool log_ring_add(struct log_ring *r, uint64_t time_ns, unsigned level, const char *server, const char *msg)
{
    if (level < r->level)
        return false;
    struct log_entry *e = &r->e[r->next % LOG_RING_ENTRIES];
    e->time_ns = time_ns;
    e->level = (uint8_t)(level > CONF_LOG_ERROR ? CONF_LOG_ERROR : level);
    copy_clean(e->server, sizeof e->server, server);
    copy_clean(e->msg, sizeof e->msg, msg);
    r->next++;
    return true;
}

uint64_t log_ring_first(const struct log_ring *r)
{
    return r->next > LOG_RING_ENTRIES ? r->next - LOG_RING_ENTRIES : 0;
}

uint64_t log_ring_next(const struct log_ring *r) { return r->next; }

const struct log_entry *log_ring_get(const struct log_ring *r, uint64_t seq)
{
    if (seq < log_ring_first(r) || seq >= r->next)
        return NULL;
    return &r->e[seq % LOG_RING_ENTRIES];
}

/* ------------------------------------------------------------ formatting -- */

/* S, then blanks up to WIDTH, then two more (the column gap). */
static void put_col(struct textbuf *o, const char *s, size_t width)
{
    size_t n = strlen(s);
    tb_putn(o, s, n);
    for (; n < width + 2; n++)
        tb_putn(o, " ", 1);
}

/* V in decimal, right-aligned to WIDTH (blanks before), at least MIN_DIGITS digits. */
static void put_dec(struct textbuf *o, uint64_t v, unsigned width, unsigned min_digits)
{
    char t[24];
    unsigned n = 0;
    do {
        t[sizeof t - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < min_digits);
    for (unsigned i = n; i < width; i++)
        tb_putn(o, " ", 1);
    tb_putn(o, t + sizeof t - n, n);
}

#define TIME_WIDTH   12 /* "12345.678901" */
#define LEVEL_WIDTH  5
#define SERVER_WIDTH 8

size_t log_format_header(char *buf, size_t cap)
{
    struct textbuf o = { buf, cap, 0 };
    tb_putn(&o, "", 0);
    put_col(&o, "        TIME", TIME_WIDTH);
    put_col(&o, "LEVEL", LEVEL_WIDTH);
    put_col(&o, "SERVER", SERVER_WIDTH);
    tb_putn(&o, "MESSAGE\r\n", 9);
    return o.len;
}

size_t log_format_entry(const struct log_entry *e, char *buf, size_t cap)
{
    struct textbuf o = { buf, cap, 0 };
    tb_putn(&o, "", 0);
    uint64_t us = e->time_ns / 1000;
    char secs[TIME_WIDTH + 1];
    struct textbuf s = { secs, sizeof secs, 0 };
    put_dec(&s, us / 1000000, TIME_WIDTH - 7, 1);
    tb_putn(&s, ".", 1);
    put_dec(&s, us % 1000000, 6, 6);
    put_col(&o, secs, TIME_WIDTH);
    put_col(&o, e->level <= CONF_LOG_ERROR ? level_names[e->level] : "?", LEVEL_WIDTH);
    put_col(&o, e->server, SERVER_WIDTH);
    tb_putn(&o, e->msg, strlen(e->msg));
    tb_putn(&o, "\r\n", 2);
    return o.len;
}

int log_level_parse(const char *s, size_t n)
{
    for (unsigned i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strlen(level_names[i]) == n && memcmp(level_names[i], s, n) == 0)
            return (int)i;
    return -1;
}
