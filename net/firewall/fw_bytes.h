/*
 * fw_bytes.h - network-order field access and the IPv4 header walk that the
 * firewall's packet rewriters (fw_nat.c, fw_modulate.c, fw_match.c's MSS
 * clamp) share.
 *
 * Invariant: fw_ipv4_l4 returns a pointer inside [ip, ip + len) and an
 * *avail that stays inside both the buffer and the header's total length,
 * or NULL; a rewriter never touches a byte outside what it returned.
 */
#ifndef KEEL_FW_BYTES_H
#define KEEL_FW_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t fw_rd16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t fw_rd32(const uint8_t *b) { return (uint32_t)fw_rd16(b) << 16 | fw_rd16(b + 2); }

static inline void fw_wr16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

/* The transport header of the IPv4 packet IP (LEN bytes in the buffer) and
 * the bytes of it the packet holds (*AVAIL: up to the smaller of LEN and the
 * header's total length), or NULL when the header is short or its IHL
 * is below 20 or past the packet. */
static inline uint8_t *fw_ipv4_l4(uint8_t *ip, size_t len, size_t *avail)
{
    if (len < 20)
        return NULL;
    size_t ihl = (size_t)(ip[0] & 0xfu) * 4u, total = fw_rd16(ip + 2);
    if (total < len)
        len = total;
    if (ihl < 20 || ihl > len)
        return NULL;
    *avail = len - ihl;
    return ip + ihl;
}

#endif
