/*
 * keel/string.h - memory and string routines for user-space servers.
 *
 * Naming (one decision for all of lib/): the implementations in lib/string.c
 * carry a `lib_` prefix, so the same object can be linked into a host unit
 * test next to the host's libc without either copy replacing the other.  The
 * guest build adds lib/libc_names.c, which defines the standard names
 * (memcpy, strlen, ...) as one-line forwards to the lib_ functions; gcc also
 * emits calls to memcpy/memset/memmove/memcmp on its own (struct copies,
 * recognised loops), and those resolve there too.  Server code calls the
 * standard names; tests call the lib_ names.
 *
 * All functions are pure: no global state, no allocation, safe in any
 * context.  Arguments follow the C standard's preconditions (valid pointers,
 * no overlap for memcpy); strlcpy and strnlen follow OpenBSD.
 */
#ifndef KEEL_LIB_STRING_H
#define KEEL_LIB_STRING_H

#include <stddef.h>

/* Copies n bytes; the ranges must not overlap.  Returns dst. */
void *lib_memcpy(void *dst, const void *src, size_t n);
/* Copies n bytes; the ranges may overlap.  Returns dst. */
void *lib_memmove(void *dst, const void *src, size_t n);
/* Fills n bytes with (unsigned char)c.  Returns dst. */
void *lib_memset(void *dst, int c, size_t n);
/* Compares n bytes as unsigned char: <0, 0 or >0. */
int lib_memcmp(const void *a, const void *b, size_t n);
/* Length of s, not counting the NUL. */
size_t lib_strlen(const char *s);
/* Length of s, but looks at no more than max bytes (returns max if no NUL). */
size_t lib_strnlen(const char *s, size_t max);
/* Compares as unsigned char: <0, 0 or >0. */
int lib_strcmp(const char *a, const char *b);
/* Compares at most n characters as unsigned char. */
int lib_strncmp(const char *a, const char *b, size_t n);
/* First occurrence of (char)c in s; c == 0 finds the terminator.  NULL if absent. */
char *lib_strchr(const char *s, int c);
/*
 * Copies src into dst (size bytes), truncating; always NUL-terminates when
 * size > 0.  Returns strlen(src): truncation happened iff the result >= size.
 */
size_t lib_strlcpy(char *dst, const char *src, size_t size);

/* The standard names: defined only in the guest build (lib/libc_names.c). */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
size_t strlcpy(char *dst, const char *src, size_t size);

#endif
