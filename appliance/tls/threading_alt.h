/*
 * threading_alt.h - mbedTLS's mutex type under MBEDTLS_THREADING_ALT
 * (guest builds, mbedtls_config.h): a tls_lock (tls_lock.h).  The
 * functions are tls_thread.c's, installed by tls_thread_init.
 */
#ifndef KEEL_THREADING_ALT_H
#define KEEL_THREADING_ALT_H

#include "tls_lock.h"

typedef struct mbedtls_threading_mutex_t {
    struct tls_lock lock;
    char is_valid; /* set by init, cleared by free */
} mbedtls_threading_mutex_t;

#endif
