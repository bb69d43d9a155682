/*
 * fw_wire.h - for the firewall's host tests that build wire packets
 * (test_fw_nat.c, test_fw_modulate.c): big-endian fields, the Internet
 * checksum computed afresh, and an IPv4 header.  A test checks the
 * engine's incremental checksum fixes against these full computations.
 *
 * Header-only: every function is static inline, so a test uses what it
 * needs.
 */
#ifndef KEEL_TESTS_FW_WIRE_H
#define KEEL_TESTS_FW_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fw_types.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static inline uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t rd32(const uint8_t *b) { return (uint32_t)rd16(b) << 16 | rd16(b + 2); }

static inline void wr16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *b, uint32_t v)
{
    wr16(b, (uint16_t)(v >> 16));
    wr16(b + 2, (uint16_t)v);
}

/* SUM plus the 16-bit big-endian words of B (N bytes, an odd last byte
 * padded with zero), not folded. */
static inline uint32_t sum_words(const uint8_t *b, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += rd16(b + i);
    if (n & 1)
        sum += (uint32_t)b[n - 1] << 8;
    return sum;
}

/* SUM folded to 16 bits (ones' complement addition), not complemented. */
static inline uint16_t fold_raw(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* The checksum of SUM: folded and complemented. */
static inline uint16_t fold(uint32_t sum) { return (uint16_t)~fold_raw(sum); }

/* The pseudo-header sum of an IPv4 packet IP for its transport (LEN bytes). */
static inline uint32_t pseudo(const uint8_t *ip, size_t len)
{
    return sum_words(ip + 12, 8, 0) + ip[9] + (uint32_t)len;
}

/* Writes every checksum of the IPv4 packet at IP (its total length's
 * bytes: IP, and TCP, UDP or ICMP) afresh. */
static inline void seal(uint8_t *ip)
{
    size_t ihl = (size_t)(ip[0] & 0xf) * 4, total = rd16(ip + 2), n = total - ihl;
    uint8_t *l4 = ip + ihl;
    wr16(ip + 10, 0);
    wr16(ip + 10, fold(sum_words(ip, ihl, 0)));
    if (ip[9] == FW_PROTO_TCP) {
        wr16(l4 + 16, 0);
        wr16(l4 + 16, fold(sum_words(l4, n, pseudo(ip, n))));
    } else if (ip[9] == FW_PROTO_UDP) {
        wr16(l4 + 6, 0);
        uint16_t c = fold(sum_words(l4, n, pseudo(ip, n)));
        wr16(l4 + 6, c ? c : 0xffff);
    } else if (ip[9] == FW_PROTO_ICMP) {
        wr16(l4 + 2, 0);
        wr16(l4 + 2, fold(sum_words(l4, n, 0)));
    }
}

/* A 20-byte IPv4 header at B (no options, TTL 64, id 0x4242) for L4LEN
 * bytes of PROTO from SRC to DST; returns the packet's total length.  The
 * checksum is left to seal. */
static inline size_t ip_hdr(uint8_t *b, uint8_t proto, uint32_t src, uint32_t dst, size_t l4len)
{
    memset(b, 0, 20);
    b[0] = 0x45;
    wr16(b + 2, (uint16_t)(20 + l4len));
    wr16(b + 4, 0x4242);
    b[8] = 64;
    b[9] = proto;
    wr32(b + 12, src);
    wr32(b + 16, dst);
    return 20 + l4len;
}

/* A UDP datagram with the 5 bytes "probe", checksums sealed. */
static inline size_t udp_probe_wire(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    size_t n = ip_hdr(b, FW_PROTO_UDP, src, dst, 8 + 5);
    uint8_t *l4 = b + 20;
    wr16(l4, sport);
    wr16(l4 + 2, dport);
    wr16(l4 + 4, 13);
    memcpy(l4 + 8, "probe", 5);
    seal(b);
    return n;
}

/* An ICMP echo (TYPE) with identifier ID, sequence number 1 and the N
 * bytes DATA, checksums sealed. */
static inline size_t echo_data_wire(uint8_t *b, uint32_t src, uint32_t dst, uint8_t type, uint16_t id, const char *data,
                                    size_t n)
{
    size_t total = ip_hdr(b, FW_PROTO_ICMP, src, dst, 8 + n);
    uint8_t *l4 = b + 20;
    memset(l4, 0, 8 + n);
    l4[0] = type;
    wr16(l4 + 4, id);
    wr16(l4 + 6, 1);
    memcpy(l4 + 8, data, n);
    seal(b);
    return total;
}

/* An ICMP error of TYPE from FROM about the packet QUOTE (its header and
 * QLEN bytes of it), sent to the quoted source. */
static inline size_t error_wire(uint8_t *b, uint32_t from, uint8_t type, uint8_t code, const uint8_t *quote,
                                size_t qlen)
{
    size_t n = ip_hdr(b, FW_PROTO_ICMP, from, rd32(quote + 12), 8 + qlen);
    uint8_t *l4 = b + 20;
    memset(l4, 0, 8);
    l4[0] = type;
    l4[1] = code;
    memcpy(l4 + 8, quote, qlen);
    seal(b);
    return n;
}

#endif
