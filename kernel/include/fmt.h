/*
 * fmt.h - printf-style formatting, with no allocation and no global state.
 *
 * The core walks the format once and hands each produced character to a sink
 * callback, so the same code serves the serial log and fixed-size buffers.
 * Supported: %d %i %u %x %X %o %p %s %c %%, flags '-' '0', a field width (or
 * '*'), a precision for %s, length modifiers hh h l ll z.  Unknown conversions
 * are printed literally (a log line is more useful than a crash).
 */
#ifndef KEEL_FMT_H
#define KEEL_FMT_H

#include <stdarg.h>
#include <stddef.h>

typedef void (*fmt_sink)(void *ctx, char c);

/* Returns the number of characters produced (passed to sink). */
size_t fmt_format(fmt_sink sink, void *ctx, const char *fmt, va_list ap);

/* snprintf: writes at most n-1 characters and a NUL (when n > 0); returns the
 * length the full output would have had. */
size_t fmt_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t fmt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

#endif
