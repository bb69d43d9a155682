/*
 * time.h for the guest build of mbedTLS (see string.h here).  There is no
 * wall clock in Keel: mbedtls_time is tls_plat_time (seconds since boot,
 * mbedtls_config.h).  x509_crt.c includes this header unconditionally, and
 * ssl_tls.c (2.28.3, ssl_session_load) casts to time_t even when
 * MBEDTLS_PLATFORM_TIME_TYPE_MACRO replaces it, so time_t is defined as
 * that same type and nothing else is.
 */
#ifndef KEEL_TLS_LIBC_TIME_H
#define KEEL_TLS_LIBC_TIME_H

typedef long long time_t;

#endif
