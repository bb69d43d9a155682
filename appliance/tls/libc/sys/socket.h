/*
 * sys/socket.h for the guest build of mbedTLS: empty on purpose.  x509_crt.c asks
 * __has_include(<sys/socket.h>) and, when the header exists, includes it to
 * use the platform's inet_pton; without AF_INET6 defined it falls back
 * to its own parser, which is what the guest needs (there is no libc).
 * This header stops the host's glibc header from being found instead.
 */
#ifndef KEEL_TLS_LIBC_SYS_SOCKET_H
#define KEEL_TLS_LIBC_SYS_SOCKET_H
#endif
