/*
 * string.h for lwIP (net/lwip/libc/: first on lwIP's include path, so lwIP
 * never sees the host's glibc headers): Keel's lib/ string functions under
 * their standard names (lib/libc_names.c).
 */
#ifndef NETD_LIBC_STRING_H
#define NETD_LIBC_STRING_H

#include <keel/string.h>

#endif
