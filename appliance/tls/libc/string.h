/*
 * string.h for the guest build of mbedTLS and of appliance/tls, keyd
 * (appliance/tls/libc/ comes first on their include path, so they never see
 * the host's glibc headers): lib/'s routines under their standard names
 * (lib/libc_names.c), plus the few mbedTLS needs that lib/ lacks
 * (appliance/tls/libc_extra.c).
 */
#ifndef KEEL_TLS_LIBC_STRING_H
#define KEEL_TLS_LIBC_STRING_H

#include <keel/string.h>

/* appliance/tls/libc_extra.c */
char *strstr(const char *haystack, const char *needle);
void explicit_bzero(void *p, size_t n);

#endif
