/*
 * arch/cc.h - lwIP's compiler and platform port for netd: freestanding
 * x86-64, gcc, Keel's lib/ as the only C library.
 *
 * What lwIP gets from where:
 *   integer types    <stdint.h>, <stddef.h> (the compiler's own headers)
 *   string functions lib/ (memcpy, memset, strlen, ... by their standard
 *                    names, lib/libc_names.c); atoi, which netif_find uses,
 *                    from net/lwip/sys_arch.c
 *   diagnostics      ulog (<keel/ulog.h>): one SYS_DEBUG_LOG line per call
 *   assertions       netd_lwip_assert(): logs file and line, then faults the
 *                    thread on purpose (ud2), so init logs the fault and
 *                    restarts netd.  A failed lwIP assertion means lwIP's
 *                    state is corrupt; carrying on would be worse.
 *   time             sys_now() (sys_arch.c): the kernel clock in ms
 *   randomness       LWIP_RAND() = netd_rand32() (net/netd_rand.c): a
 *                    SipHash-2-4 keystream keyed from the entropy server
 *                    (abi/keel/rng.h) when netd has one; WITHOUT IT THE KEY
 *                    COMES FROM TSC MIXING, A STOP-GAP THAT IS PREDICTABLE
 *                    to anyone who can estimate the boot time (see
 *                    netd_rand.c).  Never a constant.
 *
 * Headers: lwIP is compiled with net/lwip/libc/ first on its include path,
 * so its `#include <string.h>`, `<stdlib.h>`, `<stdio.h>` get three small
 * headers that forward to lib/ (and atoi, above), never the host's glibc
 * headers (whose inline atoi would call strtol, which lib/ lacks).  The
 * compiler's own <stddef.h> and <stdint.h> are the only others.
 * LWIP_NO_{LIMITS,INTTYPES,CTYPE,UNISTD}_H keep lwIP from asking for more:
 * it then defines ssize_t (int) itself and needs only INT_MAX and the
 * printf formats from here.
 */
#ifndef NETD_ARCH_CC_H
#define NETD_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>

#include <keel/fmt.h> /* snprintf: mem.c uses it without including <stdio.h> */

#define LWIP_NO_LIMITS_H   1
#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H    1
#define LWIP_NO_UNISTD_H   1
#ifndef INT_MAX
#define INT_MAX __INT_MAX__
#endif

#define BYTE_ORDER LITTLE_ENDIAN

/* Byte swaps: the compiler's builtins (one bswap / rol instruction). */
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))

/* Struct packing for the wire headers (lwip/prot/). */
#define PACK_STRUCT_STRUCT __attribute__((packed))
#define PACK_STRUCT_BEGIN
#define PACK_STRUCT_END
#define PACK_STRUCT_FIELD(x) x

/* printf formats for lwIP's diagnostics: what lib/fmt.c understands. */
#define X8_F  "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "zu"

void ulog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs "netd: lwIP assertion failed: MSG at FILE:LINE" and faults. */
void netd_lwip_assert(const char *msg, const char *file, int line) __attribute__((noreturn));
uint32_t netd_rand32(void);

/* x is a parenthesised printf argument list: LWIP_PLATFORM_DIAG(("%d", n)). */
#define LWIP_PLATFORM_DIAG(x)                                                                                          \
    do {                                                                                                               \
        ulog x;                                                                                                        \
    } while (0)
#define LWIP_PLATFORM_ASSERT(msg) netd_lwip_assert((msg), __FILE__, __LINE__)

#define LWIP_RAND() (netd_rand32())

#endif
