/*
 * nic_offload.c - what netd does in software when a NIC cannot (or when a
 * frame came in with its checksum left to complete): IPv4 and IPv6
 * TCP/UDP checksums (IPv6 after any hop-by-hop, routing and destination
 * options headers; a fragment header makes a frame "not L4"), and cutting a TCP segment longer than the MTU into
 * MTU-sized ones (the device's TSO, done here for a NIC without it).
 *
 * Used by nic_netif.c on the transmit path:
 *   - a NIC that completes checksums (NIC_FEAT_TX_CSUM) gets the
 *     pseudo-header sum in the checksum field (nof_set_pseudo) and the
 *     frame marked NIC_DF_CSUM_PARTIAL;
 *   - a GSO frame (a received 64 KiB segment forwarded to another NIC)
 *     goes to a TSO NIC whole, with its pseudo-header sum, and to any other
 *     NIC cut by nof_segment, each segment with its own complete checksums.
 * The firewall has already seen the whole segment once before any of this
 * (one packet, its state advanced by all its bytes).
 *
 * Everything works on one frame in one contiguous buffer (netd's scratch
 * or one NIC buffer) and trusts only what nof_parse checked: every offset
 * used lies inside the IP total length, which lies inside the buffer.
 * Fragments are not handled (the firewall drops them; IP_FRAG is off).
 * No state; no allocation.
 */
#include <stdbool.h>
#include <string.h>

#include "nic_offload.h"

#define ETH_HLEN     14
#define ETHTYPE_IPV4 0x0800
#define ETHTYPE_IPV6 0x86dd
#define IP6_HLEN     40
#define PROTO_TCP    6
#define PROTO_UDP    17
#define TCP_FIN      0x01
#define TCP_PSH      0x08
#define TCP_CWR      0x80

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }
static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* The ones' complement sum of N bytes at P added to SUM (not folded). */
static uint64_t sum_bytes(const uint8_t *p, size_t n, uint64_t sum)
{
    for (; n >= 2; p += 2, n -= 2)
        sum += rd16(p);
    if (n)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static int finish(const uint8_t *frame, struct nof_l4 *out, unsigned l4, unsigned l4_len, uint8_t proto);

/* The TCP/UDP header of an IPv6 packet at IP (LEN bytes from IP, the
 * payload length checked to lie inside): walks hop-by-hop, routing and
 * destination options headers (RFC 8200 4.1); a fragment header or any
 * other next header is not L4. */
static int parse_v6(const uint8_t *frame, size_t len, struct nof_l4 *out, unsigned *l4, unsigned *l4_len,
                    uint8_t *proto)
{
    const uint8_t *ip = frame + ETH_HLEN;
    if (len < ETH_HLEN + IP6_HLEN || ip[0] >> 4 != 6)
        return NOF_E_TRUNCATED;
    unsigned plen = rd16(ip + 4);
    if (ETH_HLEN + IP6_HLEN + (size_t)plen > len)
        return NOF_E_TRUNCATED;
    unsigned off = IP6_HLEN, end = IP6_HLEN + plen;
    uint8_t nh = ip[6];
    while (nh == 0 || nh == 43 || nh == 60) {
        if (off + 8 > end)
            return NOF_E_TRUNCATED;
        unsigned ext = (ip[off + 1] + 1u) * 8u;
        if (off + ext > end)
            return NOF_E_TRUNCATED;
        nh = ip[off];
        off += ext;
    }
    *l4 = ETH_HLEN + off;
    *l4_len = end - off;
    *proto = nh;
    out->v6 = 1;
    return NOF_OK;
}

int nof_parse(const uint8_t *frame, size_t len, struct nof_l4 *out)
{
    if (len >= ETH_HLEN && rd16(frame + 12) == ETHTYPE_IPV6) {
        unsigned l4, l4_len;
        uint8_t proto;
        int rc = parse_v6(frame, len, out, &l4, &l4_len, &proto);
        if (rc != NOF_OK)
            return rc;
        return finish(frame, out, l4, l4_len, proto);
    }
    out->v6 = 0;
    if (len < ETH_HLEN + 20)
        return len >= ETH_HLEN && rd16(frame + 12) == ETHTYPE_IPV4 ? NOF_E_TRUNCATED : NOF_E_NOT_L4;
    if (rd16(frame + 12) != ETHTYPE_IPV4)
        return NOF_E_NOT_L4;
    const uint8_t *ip = frame + ETH_HLEN;
    unsigned ihl = (ip[0] & 0xfu) * 4u, tot = rd16(ip + 2);
    if (ip[0] >> 4 != 4 || ihl < 20 || tot < ihl || ETH_HLEN + (size_t)tot > len)
        return NOF_E_TRUNCATED;
    if (rd16(ip + 6) & 0x3fff)
        return NOF_E_NOT_L4; /* a fragment (MF or an offset) */
    return finish(frame, out, ETH_HLEN + ihl, tot - ihl, ip[9]);
}

/* The TCP/UDP part of nof_parse, from the L4 header's offset L4 and length. */
static int finish(const uint8_t *frame, struct nof_l4 *out, unsigned l4, unsigned l4_len, uint8_t proto)
{
    unsigned hlen;
    if (proto == PROTO_TCP) {
        if (l4_len < 20 || (unsigned)(frame[l4 + 12] >> 4) * 4u < 20 || (unsigned)(frame[l4 + 12] >> 4) * 4u > l4_len)
            return NOF_E_TRUNCATED;
        hlen = l4 + (frame[l4 + 12] >> 4) * 4u;
        out->csum_off = 16;
    } else if (proto == PROTO_UDP) {
        if (l4_len < 8)
            return NOF_E_TRUNCATED;
        hlen = l4 + 8;
        out->csum_off = 6;
    } else {
        return NOF_E_NOT_L4;
    }
    out->ip_off = ETH_HLEN;
    out->l4_off = (uint16_t)l4;
    out->hdr_len = (uint16_t)hlen;
    out->l4_len = (uint16_t)l4_len;
    out->proto = proto;
    return NOF_OK;
}

/* The pseudo-header sum (RFC 9293 3.1, RFC 768; IPv6: RFC 8200 8.1) of
 * FRAME's L4 part. */
static uint64_t pseudo_sum(const uint8_t *frame, const struct nof_l4 *l4)
{
    const uint8_t *ip = frame + l4->ip_off;
    if (l4->v6)
        return sum_bytes(ip + 8, 32, 0) + l4->proto + l4->l4_len;
    uint64_t s = sum_bytes(ip + 12, 8, 0); /* source and destination */
    return s + l4->proto + l4->l4_len;
}

void nof_set_pseudo(uint8_t *frame, const struct nof_l4 *l4)
{
    wr16(frame + l4->l4_off + l4->csum_off, fold(pseudo_sum(frame, l4)));
}

void nof_set_full(uint8_t *frame, const struct nof_l4 *l4)
{
    uint8_t *field = frame + l4->l4_off + l4->csum_off;
    wr16(field, 0);
    uint16_t c = (uint16_t)~fold(sum_bytes(frame + l4->l4_off, l4->l4_len, pseudo_sum(frame, l4)));
    if (c == 0 && l4->proto == PROTO_UDP)
        c = 0xffff; /* RFC 768: 0 means "no checksum" */
    wr16(field, c);
}

int nof_check(const uint8_t *frame, const struct nof_l4 *l4)
{
    if (l4->proto == PROTO_UDP && rd16(frame + l4->l4_off + 6) == 0)
        return 1;
    return fold(sum_bytes(frame + l4->l4_off, l4->l4_len, pseudo_sum(frame, l4))) == 0xffff;
}

int nof_segment(const uint8_t *frame, const struct nof_l4 *l4, uint16_t mss, unsigned k, uint8_t *out)
{
    if (mss == 0 || l4->proto != PROTO_TCP)
        return NOF_E_MSS;
    unsigned payload = l4->l4_len - (l4->hdr_len - l4->l4_off);
    unsigned from = k * (unsigned)mss;
    if (from >= payload && !(k == 0 && payload == 0))
        return 0;
    unsigned n = payload - from < mss ? payload - from : mss;
    bool last = from + n >= payload;
    memcpy(out, frame, l4->hdr_len);
    memcpy(out + l4->hdr_len, frame + l4->hdr_len + from, n);
    uint8_t *ip = out + l4->ip_off, *th = out + l4->l4_off;
    unsigned ihl = l4->l4_off - l4->ip_off;
    if (l4->v6) { /* payload length: extension headers + TCP header + data; no ID, no header checksum */
        wr16(ip + 4, (uint16_t)(ihl - IP6_HLEN + (l4->hdr_len - l4->l4_off) + n));
    } else {
        wr16(ip + 2, (uint16_t)(ihl + (l4->hdr_len - l4->l4_off) + n));
        wr16(ip + 4, (uint16_t)(rd16(ip + 4) + k));
        wr16(ip + 10, 0);
        wr16(ip + 10, (uint16_t)~fold(sum_bytes(ip, ihl, 0)));
    }
    wr32(th + 4, rd32(th + 4) + from);
    if (!last)
        th[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
    if (k > 0)
        th[13] &= (uint8_t)~TCP_CWR;
    struct nof_l4 s = *l4;
    s.l4_len = (uint16_t)((l4->hdr_len - l4->l4_off) + n);
    nof_set_full(out, &s);
    return (int)(l4->hdr_len + n);
}
