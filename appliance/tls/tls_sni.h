/*
 * tls_sni.h - which certificates answer a TLS server name (SNI, RFC 6066
 * section 3): exact names and "*." wildcards from the configuration.
 *
 * Patterns (the `sni` names of appliance.conf's `certificate` lines) are
 * DNS names: labels of [A-Za-z0-9-], 1 to 63 bytes, at most 253 bytes in
 * all, optionally starting with "*." followed by at least two labels
 * ("*.example.com", never "*.com" or "a.*.com").  tls_sni_pattern_check
 * says why one is refused, for a config error that names it.
 *
 * Matching, case-insensitive (ASCII), one trailing dot of the client's
 * name ignored:
 *   - "api.example.com" matches exactly that name;
 *   - "*.example.com" matches one more label in front: "a.example.com",
 *     not "example.com", not "a.b.example.com" (RFC 6125 6.4.3).
 * Selection: the certificates with an exact match win; else those with a
 * wildcard match; else none (the caller then serves its defaults).  A
 * client name that is not a valid DNS name (binary, empty labels, too
 * long) matches nothing.
 *
 * Pure code: no allocation, no state.  Host-tested (test_tls_sni.c).
 */
#ifndef KEEL_TLS_SNI_H
#define KEEL_TLS_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_SNI_NAME_MAX  253
#define TLS_SNI_LABEL_MAX 63

enum tls_sni_error {
    TLS_SNI_OK = 0,
    TLS_SNI_E_EMPTY = -1,    /* empty name, or an empty label ("a..b", ".a", "a.") */
    TLS_SNI_E_LONG = -2,     /* more than 253 bytes, or a label over 63 */
    TLS_SNI_E_CHAR = -3,     /* a byte outside [A-Za-z0-9-.*] */
    TLS_SNI_E_WILDCARD = -4, /* '*' anywhere but a leading "*." */
    TLS_SNI_E_TOO_WIDE = -5, /* "*." followed by fewer than two labels */
};

/* Checks a configured pattern.  Returns TLS_SNI_OK or an error above. */
int tls_sni_pattern_check(const char *pattern) __attribute__((warn_unused_result));

/* A short constant description of a tls_sni_error. */
const char *tls_sni_strerror(int err);

/* Does PATTERN (valid per tls_sni_pattern_check) match the client's NAME
 * (LEN bytes, not NUL-terminated, untrusted)? */
bool tls_sni_match(const char *pattern, const uint8_t *name, size_t len);

enum tls_sni_kind {
    TLS_SNI_NONE = 0,     /* nothing matched: serve the defaults */
    TLS_SNI_EXACT = 1,    /* *mask holds the certificates with an exact match */
    TLS_SNI_WILDCARD = 2, /* *mask holds those with a wildcard match */
};

/* One configured name and the certificate (index < 32) it belongs to. */
struct tls_sni_entry {
    const char *pattern;
    unsigned cert;
};

/* Selects the certificates for NAME among N entries: sets *mask (bit i =
 * certificate i) and returns the kind of match. */
enum tls_sni_kind tls_sni_select(const struct tls_sni_entry *entries, size_t n, const uint8_t *name, size_t len,
                                 uint32_t *mask);

#endif
