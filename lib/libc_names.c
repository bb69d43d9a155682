/*
 * libc_names.c - the standard C names for lib/'s routines, guest build only.
 *
 * lib/string.c and lib/fmt.c define lib_memcpy, lib_snprintf and so on, so
 * the host unit tests can link them beside the host libc.  A server links
 * this file too (it is in LIB_SRCS) and gets memcpy, snprintf, ... as
 * one-line forwards; gcc turns each into a single jump.  The host tests never
 * compile this file: it would replace the host libc's functions.
 *
 * Why forwards and not __attribute__((alias)): gcc only aliases a symbol
 * defined in the same translation unit, and keeping the two names in two
 * files is the point.  This file must stay free of anything gcc could turn
 * back into a call to one of these names (no loops, no struct copies).
 */
#include <keel/fmt.h>
#include <keel/string.h>

void *memcpy(void *dst, const void *src, size_t n) { return lib_memcpy(dst, src, n); }
void *memmove(void *dst, const void *src, size_t n) { return lib_memmove(dst, src, n); }
void *memset(void *dst, int c, size_t n) { return lib_memset(dst, c, n); }
int memcmp(const void *a, const void *b, size_t n) { return lib_memcmp(a, b, n); }
size_t strlen(const char *s) { return lib_strlen(s); }
size_t strnlen(const char *s, size_t max) { return lib_strnlen(s, max); }
int strcmp(const char *a, const char *b) { return lib_strcmp(a, b); }
int strncmp(const char *a, const char *b, size_t n) { return lib_strncmp(a, b, n); }
char *strchr(const char *s, int c) { return lib_strchr(s, c); }
size_t strlcpy(char *dst, const char *src, size_t size) { return lib_strlcpy(dst, src, size); }

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) { return lib_vsnprintf(buf, n, fmt, ap); }

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = lib_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
