/*
 * stdio.h for lwIP (see string.h here): snprintf from lib/ (<keel/fmt.h>);
 * no FILE, no printf (LWIP_PLATFORM_DIAG goes to ulog, arch/cc.h).
 */
#ifndef NETD_LIBC_STDIO_H
#define NETD_LIBC_STDIO_H

#include <keel/fmt.h>

#endif
