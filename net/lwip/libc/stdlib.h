/*
 * stdlib.h for lwIP (see string.h here): the one function lwIP's modules
 * in netd's build use, atoi (netif_find), defined in net/lwip/sys_arch.c.
 * No malloc: MEM_LIBC_MALLOC is off.
 */
#ifndef NETD_LIBC_STDLIB_H
#define NETD_LIBC_STDLIB_H

int atoi(const char *s);

#endif
