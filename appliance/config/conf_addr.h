/*
 * conf_addr.h - the one parser of numbers, addresses, prefixes and ports
 * that every reader of appliance.conf uses (conf.c for interface, route and
 * tls lines; conf_pf.c for the firewall), for IPv4 and IPv6 alike.
 *
 * Forms accepted (each parser takes a whole word, S[0, N), and refuses
 * anything else, so "10.0.0.1x" or "010.0.0.1" is never half-read):
 *   number   decimal digits only, leading zeros allowed ("0080" is 80)
 *   IPv4     A.B.C.D: four decimal octets 0-255 without leading zeros
 *            ("010.0.0.1" is refused: some readers take it as octal)
 *   IPv6     RFC 4291 section 2.2 text: eight groups of 1-4 hex digits,
 *            one "::" for a run of zero groups, an IPv4 tail in the last
 *            32 bits ("::ffff:10.0.0.1"); no zone ("%eth0"), no brackets
 *   prefix   ADDRESS/LEN, LEN 0-32 (IPv4) or 0-128 (IPv6)
 *   port     0-65535
 *
 * An address is struct conf_ip: the family and 16 bytes in network order
 * (an IPv4 address in the first 4).  conf_ip_v4 gives an IPv4 address in
 * host order, the form the rest of the tree keeps IPv4 in.
 *
 * Pure C, no allocation, no globals; builds for the guest and the host.
 */
#ifndef KEEL_APPLIANCE_CONF_ADDR_H
#define KEEL_APPLIANCE_CONF_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_AF_INET  4 /* struct conf_ip.af */
#define CONF_AF_INET6 6

struct conf_ip {
    uint8_t af;    /* CONF_AF_INET or CONF_AF_INET6 */
    uint8_t a[16]; /* network byte order; IPv4: a[0..3], the rest zero */
};

/* Decimal digits only (1-12 of them), value in [MIN, MAX]. */
bool conf_parse_uint(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out);

/* A.B.C.D, host byte order (keel/ipv4.h's reader: no leading zeros). */
bool conf_parse_ipv4(const char *s, size_t n, uint32_t *out);

/* An IPv6 address (16 bytes, network order). */
bool conf_parse_ipv6(const char *s, size_t n, uint8_t out[16]);

/* Either family: IPv6 iff the word has a ':'. */
bool conf_parse_ip(const char *s, size_t n, struct conf_ip *out);

/*
 * ADDRESS or ADDRESS/LEN.  *PREFIX gets LEN, or the full length (32, 128)
 * without '/'.  Host bits are kept as written.  Returns 0; 1 when the
 * address is wrong; 2 when the address is right but LEN is not (*SLASH
 * then holds the offset of the '/', for a column).
 */
int conf_parse_prefix(const char *s, size_t n, struct conf_ip *out, unsigned *prefix, size_t *slash);

/* A port 0-65535. */
bool conf_parse_port(const char *s, size_t n, uint16_t *out);

/*
 * A destination with an optional port, the one form every `HOST:PORT`
 * statement takes (tls backend, syslog, ntp server):
 *   A.B.C.D   A.B.C.D:PORT   [IPV6]:PORT   [IPV6]   IPV6 (no port)
 * brackets as in URLs (RFC 3986 3.2.2).  PORT is 1-65535; PORT_REQUIRED
 * refuses the forms without one.  *PORT is left alone when none is
 * written (the caller's default stays).  Returns 0; 1 when the word is
 * not one of the forms; 2 when it is, but the IPv6 address is not unicast
 * (conf_ip6_unicast; *OUT and *PORT are then untouched).  An IPv4 address
 * is taken as written (the caller refuses 0.0.0.0 when it must).
 */
int conf_parse_endpoint(const char *s, size_t n, bool port_required, struct conf_ip *out, uint16_t *port);

/* True iff A (16 bytes, network order) is an IPv6 address a host can send
 * to: not ::, ::1, IPv4-mapped, multicast or link-local fe80::/10 (no zone
 * to send it out of).  CONF_V6_UNICAST_WHAT says so in an error. */
bool conf_ip6_unicast(const uint8_t a[16]);
#define CONF_V6_UNICAST_WHAT "(not ::, ::1, IPv4-mapped, multicast or link-local fe80::/10)"

/* The IPv4 address of A (host order); A must be CONF_AF_INET. */
uint32_t conf_ip_v4(const struct conf_ip *a);

/* A from an IPv4 address in host order. */
void conf_ip_from_v4(struct conf_ip *a, uint32_t host_order);

/* A with the bits beyond PREFIX cleared. */
void conf_ip_mask(struct conf_ip *a, unsigned prefix);

/* True iff A and B are the same family and bytes. */
bool conf_ip_equal(const struct conf_ip *a, const struct conf_ip *b);

/*
 * Writes A in its canonical text (IPv4 dotted quad; IPv6 as RFC 5952: lower
 * case, no leading zeros, the longest run of two or more zero groups as
 * "::", IPv4-mapped ::ffff:a.b.c.d) into BUF (CAP bytes, NUL-terminated, cut
 * to fit).  Returns the full length.  46 bytes always suffice.
 */
size_t conf_ip_format(const struct conf_ip *a, char *buf, size_t cap);

struct textbuf;
/* Appends the IPv6 address A (16 bytes, network order) to B in the text
 * conf_ip_format writes. */
void conf_put_ip6(struct textbuf *b, const uint8_t a[16]);

#endif
