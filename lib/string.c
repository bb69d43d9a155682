/*
 * string.c - memory and string routines for user space (see keel/string.h).
 *
 * Pure code, no state.  Built freestanding for the guest and with the
 * sanitizers for the host test (tests/unit/test_lib_string.c), which is why
 * everything here is named lib_*; lib/libc_names.c maps the standard names
 * onto these in the guest build.
 *
 * memcpy, memmove and memset move eight bytes at a time once the destination
 * is 8-byte aligned; the source may have any alignment.  Unaligned and
 * type-punned accesses go through the two typedefs below, which tell gcc the
 * truth (may_alias, aligned(1)) instead of relying on x86 tolerating it, so
 * the code is defined behaviour and UBSan-clean.  Short copies (< 16 bytes)
 * stay byte loops.  String functions read byte by byte: a word-at-a-time
 * strlen reads past the terminator, which is harmless on real pages but
 * not something to prove under ASan.
 *
 * gcc may recognise a copy or fill loop and replace it with a call to
 * memcpy/memset (-ftree-loop-distribute-patterns; whether it does depends on
 * the version and the loop).  Here those names forward back to these
 * functions, so that would recurse forever: the pragma below switches the
 * transformation off for this file, whatever the compiler version.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#include <keel/string.h>

#include <stdint.h>

typedef uint64_t __attribute__((__may_alias__)) lib_word;                  /* 8-aligned */
typedef uint64_t __attribute__((__may_alias__, __aligned__(1))) lib_uword; /* any alignment */

#define WORD      sizeof(uint64_t)
#define WORD_MASK (WORD - 1)
#define WIDE_MIN  16 /* below this, byte loops win */
#define ONES      0x0101010101010101ull

_Static_assert(sizeof(lib_word) == 8 && sizeof(lib_uword) == 8, "word size");
_Static_assert(_Alignof(lib_uword) == 1, "unaligned word type must have alignment 1");

/* Copies low to high addresses; also correct for overlap when d < s. */
static void copy_forward(uint8_t *d, const uint8_t *s, size_t n)
{
    if (n >= WIDE_MIN) {
        while ((uintptr_t)d & WORD_MASK) {
            *d++ = *s++;
            n--;
        }
        /* Load all four words before storing any: keeps overlap (d < s) safe. */
        while (n >= 4 * WORD) {
            uint64_t a = ((const lib_uword *)s)[0], b = ((const lib_uword *)s)[1];
            uint64_t c = ((const lib_uword *)s)[2], e = ((const lib_uword *)s)[3];
            ((lib_word *)d)[0] = a;
            ((lib_word *)d)[1] = b;
            ((lib_word *)d)[2] = c;
            ((lib_word *)d)[3] = e;
            d += 4 * WORD;
            s += 4 * WORD;
            n -= 4 * WORD;
        }
        while (n >= WORD) {
            *(lib_word *)d = *(const lib_uword *)s;
            d += WORD;
            s += WORD;
            n -= WORD;
        }
    }
    while (n--)
        *d++ = *s++;
}

/* Copies high to low addresses; correct for overlap when d > s. */
static void copy_backward(uint8_t *d, const uint8_t *s, size_t n)
{
    d += n;
    s += n;
    if (n >= WIDE_MIN) {
        while ((uintptr_t)d & WORD_MASK) {
            *--d = *--s;
            n--;
        }
        while (n >= WORD) {
            d -= WORD;
            s -= WORD;
            *(lib_word *)d = *(const lib_uword *)s;
            n -= WORD;
        }
    }
    while (n--)
        *--d = *--s;
}

void *lib_memcpy(void *dst, const void *src, size_t n)
{
    copy_forward(dst, src, n);
    return dst;
}

void *lib_memmove(void *dst, const void *src, size_t n)
{
    uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    if (d == s || n == 0)
        return dst;
    /* Compared as integers: the two pointers may point into different objects. */
    if (d < s || d - s >= n)
        copy_forward(dst, src, n);
    else
        copy_backward(dst, src, n);
    return dst;
}

void *lib_memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    uint8_t byte = (uint8_t)c;
    if (n >= WIDE_MIN) {
        uint64_t pattern = ONES * byte;
        while ((uintptr_t)d & WORD_MASK) {
            *d++ = byte;
            n--;
        }
        while (n >= WORD) {
            *(lib_word *)d = pattern;
            d += WORD;
            n -= WORD;
        }
    }
    while (n--)
        *d++ = byte;
    return dst;
}

int lib_memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    /* Skip equal words; the first differing word is settled byte by byte. */
    while (n >= WORD && *(const lib_uword *)x == *(const lib_uword *)y) {
        x += WORD;
        y += WORD;
        n -= WORD;
    }
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x < *y ? -1 : 1;
    return 0;
}

size_t lib_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

size_t lib_strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

int lib_strcmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    while (*x && *x == *y) {
        x++;
        y++;
    }
    return (*x > *y) - (*x < *y);
}

int lib_strncmp(const char *a, const char *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (; n; n--, x++, y++) {
        if (*x != *y)
            return *x < *y ? -1 : 1;
        if (!*x)
            return 0;
    }
    return 0;
}

char *lib_strchr(const char *s, int c)
{
    char ch = (char)c;
    for (;; s++) {
        if (*s == ch)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}

size_t lib_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = lib_strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        copy_forward((uint8_t *)dst, (const uint8_t *)src, n);
        dst[n] = '\0';
    }
    return len;
}
