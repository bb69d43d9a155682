/*
 * tls_host_plat.c - the TLS platform hooks of mbedtls_config.h on the host,
 * for the unit tests that link mbedTLS (test_tls_conn, test_tls_crypto):
 * printf to stdout, seconds of the wall clock, milliseconds of the
 * monotonic clock.  In the guest plat_keel.c provides them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "mbedtls/platform_time.h"

int tls_plat_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vprintf(fmt, ap);
    va_end(ap);
    return r;
}

long long tls_plat_time(long long *t)
{
    long long s = (long long)time(NULL);
    if (t)
        *t = s;
    return s;
}

mbedtls_ms_time_t mbedtls_ms_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (mbedtls_ms_time_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
