/*
 * keel/fmt.h - printf-style formatting for user space: no allocation, no
 * global state, no floating point.
 *
 * The core, fmt_format(), walks the format once and hands the output to a
 * sink callback in runs (literal text, padding, a converted number), so a
 * console writer can forward a run per call instead of a byte per call.
 * lib_snprintf/lib_vsnprintf are that core with a bounded-buffer sink.
 *
 * Conversions: %d %i %u %x %X %o %p %s %c %%.
 * Flags: '-' (left-justify), '0' (zero-pad numbers; ignored with '-' or a
 * precision), '+' and ' ' (sign of signed conversions; '+' wins), '#' (0x/0X
 * for non-zero %x/%X, a leading 0 for %o).  Width and precision as decimal or
 * '*' (a negative '*' width means '-'; a negative '*' precision means none).
 * Length modifiers: hh h l ll z j t.  All with C99 meanings.
 *
 * Keel's choices where C leaves room or where we refuse:
 *  - %s with NULL prints "(null)" (cut by the precision like any string).
 *  - %p prints like %#lx but always with "0x", so NULL is "0x0"; flags,
 *    width and precision apply to it as to %x.
 *  - An unknown or unsupported conversion (%n, %f, %q, ...) is printed
 *    literally, from the '%' through the offending character, and consumes no
 *    argument beyond those a '*' already took.  %n is refused on purpose.
 *    A '%' at the very end of the format prints as '%'.
 *  - Width and precision saturate at INT_MAX rather than overflowing.
 */
#ifndef KEEL_LIB_FMT_H
#define KEEL_LIB_FMT_H

#include <stdarg.h>
#include <stddef.h>

/* Receives len (> 0) bytes of output; s is not NUL-terminated. */
typedef void (*fmt_sink)(void *ctx, const char *s, size_t len);

/* Formats into sink; returns the number of bytes handed to it (no NUL). */
size_t fmt_format(fmt_sink sink, void *ctx, const char *fmt, va_list ap);

/* Error codes (negative) of the snprintf family. */
enum fmt_error {
    FMT_E_OVERFLOW = -1, /* the full output would be longer than INT_MAX */
};

/*
 * C99 snprintf: writes at most n-1 bytes and a NUL when n > 0 (buf may be
 * NULL when n == 0).  Returns the length the full output has, not counting
 * the NUL, so truncation happened iff the result >= n; FMT_E_OVERFLOW if that
 * length does not fit an int (buf is still filled and terminated).
 */
int lib_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int lib_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* The standard names: defined only in the guest build (lib/libc_names.c). */
int snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#endif
