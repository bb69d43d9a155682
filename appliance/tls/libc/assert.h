/*
 * assert.h for the guest build of mbedTLS (see string.h here).  mbedTLS
 * 3.6's library/common.h includes it for static_assert only.  There is no
 * run-time assert(): a use of it fails to compile rather than link to a
 * libc that is not there.
 */
#ifndef KEEL_TLS_LIBC_ASSERT_H
#define KEEL_TLS_LIBC_ASSERT_H

#define static_assert _Static_assert

#endif
