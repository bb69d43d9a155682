/*
 * keel/ipv4.h - the one reader of an IPv4 address in dotted-quad form,
 * A.B.C.D: for the configuration parser (appliance/config/conf_addr.c,
 * conf_parse_ipv4), netd's arguments (net/netd_config.c) and the servers.
 *
 * Each part is 1-3 decimal digits of value 0-255 without a leading zero
 * ("010" is refused: some readers take it for octal).  Header-only and
 * libc-free, like keel/textbuf.h, so the host tests and fuzzers of the
 * configuration use the same code without another source file.
 */
#ifndef KEEL_LIB_IPV4_H
#define KEEL_LIB_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads a dotted quad at the start of S (at most N bytes; stops at N, a NUL
 * or any byte that cannot continue it).  Returns the bytes it took, with
 * *OUT = the address in host order (A in the top byte); 0 when S does not
 * start with one (*OUT left alone).  What follows is the caller's to
 * check: "1.2.3.4/24" takes 7, "1.2.3.456" takes 9 (the part 456 is over
 * 255: refused as a whole, 0). */
static inline size_t ipv4_scan(const char *s, size_t n, uint32_t *out)
{
    uint32_t a = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        uint32_t v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (uint32_t)(s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || v > 255 || (digits > 1 && s[start] == '0'))
            return 0;
        if (i < n && s[i] >= '0' && s[i] <= '9')
            return 0; /* a fourth digit */
        a = (a << 8) | v;
        if (part < 3) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
    }
    *out = a;
    return i;
}

/* True, with *OUT in host order, when the N bytes at S are exactly one
 * dotted quad (nothing before or after it). */
static inline bool ipv4_parse(const char *s, size_t n, uint32_t *out)
{
    uint32_t a = 0;
    if (n == 0 || ipv4_scan(s, n, &a) != n)
        return false;
    *out = a;
    return true;
}

#endif
