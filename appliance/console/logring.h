/*
 * logring.h - consoled's log: a fixed ring of the latest LOG_RING_ENTRIES
 * entries (time, level, server, message), the level filter, and the text
 * `show log` prints.  Pure code (no system calls, no allocation, no
 * globals); the caller supplies the time.
 *
 * Sizes: 128 entries of 128 bytes (16 KiB), a message cut at
 * LOG_MSG_MAX - 1 = 95 bytes, a server name at LOG_SERVER_MAX - 1 = 15.
 * When the ring is full the oldest entry is overwritten; `show log` says
 * how many were lost.  Bytes outside printable ASCII in a message or name
 * are stored as '?', so a log line can never move the terminal's cursor.
 *
 * Entries are numbered from 0 in the order they were added (seq); the
 * ring holds seq [log_ring_first, log_ring_next).  A reader that follows
 * the log keeps the next seq it wants and asks again later.
 *
 * Levels are conf.h's (CONF_LOG_DEBUG .. CONF_LOG_ERROR): an entry below
 * the ring's level is not stored.
 */
#ifndef KEEL_APPLIANCE_LOGRING_H
#define KEEL_APPLIANCE_LOGRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_RING_ENTRIES 128 /* a power of two */
#define LOG_MSG_MAX      96  /* with the NUL */
#define LOG_SERVER_MAX   16  /* with the NUL */
#define LOG_LINE_MAX     160 /* one formatted row with the NUL: 20 + 7 + 17 + 95 + 2 + 1 at most */

_Static_assert((LOG_RING_ENTRIES & (LOG_RING_ENTRIES - 1)) == 0, "the ring's size is a power of two");

struct log_entry {
    uint64_t time_ns; /* since boot */
    uint8_t level;    /* enum conf_log_level */
    char server[LOG_SERVER_MAX];
    char msg[LOG_MSG_MAX];
};
_Static_assert(sizeof(struct log_entry) <= 128, "an entry stays small");

struct log_ring {
    uint64_t next;                        /* seq of the next entry; entries [next - n, next) are held */
    uint8_t level;                        /* entries below it are dropped */
    struct log_entry e[LOG_RING_ENTRIES]; /* seq s lives in e[s % LOG_RING_ENTRIES] */
};

/* An empty ring that keeps LEVEL and above. */
void log_ring_init(struct log_ring *r, unsigned level);

/* Sets the level (values above CONF_LOG_ERROR are taken as CONF_LOG_ERROR). */
void log_ring_set_level(struct log_ring *r, unsigned level);

/* Adds an entry (SERVER and MSG are NUL-terminated; cut and cleaned as
 * above).  Returns true if it was stored, false if its level is below the
 * ring's. */
bool log_ring_add(struct log_ring *r, uint64_t time_ns, unsigned level, const char *server, const char *msg);

/* The oldest seq held, and the seq the next entry will get. */
uint64_t log_ring_first(const struct log_ring *r);
uint64_t log_ring_next(const struct log_ring *r);

/* The entry SEQ, or NULL when it is not held (too old, or not yet). */
const struct log_entry *log_ring_get(const struct log_ring *r, uint64_t seq);

/*
 * One table row for E, ended by "\r\n", as `show log` prints it:
 *
 *   TIME          LEVEL  SERVER    MESSAGE
 *   12.345678     info   consoled  login on the console
 *
 * (time in seconds since boot, right-aligned to 12 characters with six
 * decimals; level padded to 5, server to 8).  Writes at most CAP bytes
 * including a NUL; returns the row's length (truncated iff >= CAP).
 * log_format_header writes the heading row the same way.
 */
size_t log_format_entry(const struct log_entry *e, char *buf, size_t cap);
size_t log_format_header(char *buf, size_t cap);

/* "debug" / "info" / "warn" / "error" (N bytes) -> the level, or -1. */
int log_level_parse(const char *s, size_t n);

#endif
