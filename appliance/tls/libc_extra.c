/*
 * libc_extra.c - the C library functions mbedTLS calls that lib/ does not
 * have, guest build only (the host build links the host's libc).  Declared
 * in appliance/tls/libc/ (the shim headers mbedTLS sees).
 *
 *   strstr  pem.c, pkparse.c, x509_crt.c look for "-----BEGIN ..." lines
 *   rand    rsa.c's self-test pads with it; NOT RANDOM (a fixed-seed LCG),
 *           never to be used for anything else
 *   explicit_bzero  mbedtls_platform_zeroize (platform_util.c) calls it
 *           when it sees glibc's __GLIBC__, which the guest build picks up
 *           from the compiler's <limits.h>: a memset the compiler may not
 *           drop (the barrier says the bytes are read afterwards)
 *
 * If lib/ grows these, this file shrinks.  Pure functions (rand has one
 * word of state); no allocation.
 */
#include <stdlib.h>
#include <string.h>

char *strstr(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return (char *)haystack;
    for (; *haystack; haystack++)
        if (*haystack == *needle && strncmp(haystack, needle, n) == 0)
            return (char *)haystack;
    return NULL;
}

void explicit_bzero(void *p, size_t n)
{
    memset(p, 0, n);
    __asm__ volatile("" : : "r"(p) : "memory");
}

int rand(void)
{
    static unsigned long state = 1; /* C's own example generator (C11 7.22.2.2) */
    state = state * 1103515245u + 12345u;
    return (int)((state / 65536u) % 32768u);
}
