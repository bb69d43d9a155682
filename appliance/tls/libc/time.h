/*
 * time.h for the guest build of mbedTLS (see string.h here).  There is no
 * wall clock in Keel: mbedtls_time is tls_plat_time (seconds since boot)
 * and mbedtls_ms_time is plat_keel.c's (mbedtls_config.h).  Mbed TLS 3.6's
 * x509.c, x509_crt.c and platform_util.c include this header whatever the
 * configuration says; time_t is defined as the configured time type
 * (MBEDTLS_PLATFORM_TIME_TYPE_MACRO) and nothing else is.
 */
#ifndef KEEL_TLS_LIBC_TIME_H
#define KEEL_TLS_LIBC_TIME_H

typedef long long time_t;

#endif
