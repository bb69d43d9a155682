/*
 * stdio.h for the guest build of mbedTLS (see string.h here): only the
 * formatting functions, from lib/ (lib/libc_names.c).  There are no
 * streams: mbedtls_printf goes to tls_plat_printf (mbedtls_config.h).
 */
#ifndef KEEL_TLS_LIBC_STDIO_H
#define KEEL_TLS_LIBC_STDIO_H

#include <keel/fmt.h>

/* An incomplete type for the headers that name FILE in declarations
 * (Everest's kremlin/internal/types.h): no stream ever exists. */
typedef struct keel_no_stream FILE;

#endif
