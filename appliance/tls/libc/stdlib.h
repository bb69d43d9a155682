/*
 * stdlib.h for the guest build of mbedTLS (see string.h here).  mbedTLS's
 * cipher.c includes it and calls nothing from it (memory goes through the
 * calloc/free macros of mbedtls_config.h).  rsa.c's self-test fills PKCS#1
 * padding with rand(): libc_extra.c has one, a fixed-seed LCG that is not
 * random at all and must never be used for anything but that self-test.
 */
#ifndef KEEL_TLS_LIBC_STDLIB_H
#define KEEL_TLS_LIBC_STDLIB_H

#include <stddef.h>

#define RAND_MAX 0x7fff
int rand(void); /* NOT random: self-test padding only (libc_extra.c) */

#endif
