/*
 * fwd_csum.c - netd's netif->output: restores the checksums lwIP 2.2
 * clears on forwarded IPv4 packets, then hands the packet to etharp_output.
 *
 * Why: lwIP 2.2's ip4_forward (core/ipv4/ip4.c) updates the IP header
 * checksum for the decremented TTL and then, whenever CHECKSUM_GEN_IP is
 * on (it is: netd computes checksums in software), sets the IP header
 * checksum and the TCP, UDP or ICMP checksum to 0, "for checksum offload
 * netifs", and sends the packet on without computing them again.  lwIP
 * 2.1 did not.  Every forwarded packet would leave with a zero IP header
 * checksum, which the next host drops.  lwIP's source is not ours to
 * edit, so the fix sits on the output path it offers: netif->output.
 *
 * The rule: an IPv4 packet whose header checksum field is 0 gets its
 * header checksum and its TCP, UDP or ICMP checksum computed afresh.
 * That is exact for forwarded packets; for a packet lwIP built itself,
 * whose correct header checksum happens to be 0 (one in 65535), it
 * recomputes the values lwIP already wrote, so it is never wrong.  A UDP
 * checksum that comes out 0 is sent as 0xffff (RFC 768).  Fragments never
 * get here (the firewall drops them, and IP_FRAG is off).
 *
 * Runs in netd's main thread, inside lwIP's output path.
 */
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/ip4.h"
#include "lwip/prot/icmp.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/tcp.h"
#include "lwip/prot/udp.h"

#include "fwd_csum.h"

/* The transport checksum of P (payload at the transport header, LEN
 * bytes) for PROTO, with its checksum field already 0.  Returns the value
 * to store, or -1 when P is too short for the header. */
static int l4_checksum(struct pbuf *p, u8_t proto, const ip4_addr_t *src, const ip4_addr_t *dst)
{
    switch (proto) {
    case IP_PROTO_TCP:
        if (p->len < TCP_HLEN)
            return -1;
        return inet_chksum_pseudo(p, IP_PROTO_TCP, p->tot_len, src, dst);
    case IP_PROTO_UDP: {
        if (p->len < UDP_HLEN)
            return -1;
        u16_t c = inet_chksum_pseudo(p, IP_PROTO_UDP, p->tot_len, src, dst);
        return c == 0 ? 0xffff : c;
    }
    case IP_PROTO_ICMP:
        if (p->len < sizeof(struct icmp_echo_hdr))
            return -1;
        return inet_chksum_pbuf(p);
    }
    return -2; /* another protocol: nothing to do */
}

/* Points at the checksum field of P's transport header (PROTO). */
static u8_t *l4_checksum_field(struct pbuf *p, u8_t proto)
{
    u8_t *h = p->payload;
    switch (proto) {
    case IP_PROTO_TCP: return h + 16; /* RFC 9293 3.1 */
    case IP_PROTO_UDP: return h + 6;  /* RFC 768 */
    case IP_PROTO_ICMP: return h + 2; /* RFC 792 */
    }
    return NULL;
}

err_t netd_fwd_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *ipaddr)
{
    struct ip_hdr *ih = p->payload;
    if (p->len < IP_HLEN || IPH_V(ih) != 4 || IPH_CHKSUM(ih) != 0)
        return etharp_output(netif, p, ipaddr);
    u16_t hlen = IPH_HL_BYTES(ih);
    if (hlen < IP_HLEN || hlen > p->len)
        return etharp_output(netif, p, ipaddr);
    IPH_CHKSUM_SET(ih, inet_chksum(ih, hlen));
    u8_t proto = IPH_PROTO(ih);
    ip4_addr_t src, dst;
    ip4_addr_copy(src, ih->src);
    ip4_addr_copy(dst, ih->dest);
    if ((IPH_OFFSET(ih) & PP_HTONS(IP_OFFMASK | IP_MF)) == 0 && pbuf_remove_header(p, hlen) == 0) {
        u8_t *field = l4_checksum_field(p, proto);
        if (field) {
            field[0] = field[1] = 0;
            int c = l4_checksum(p, proto, &src, &dst);
            if (c >= 0) {
                u16_t v = (u16_t)c; /* already in network order, as lwIP's checksum functions return it */
                memcpy(field, &v, 2);
            }
        }
        (void)pbuf_add_header(p, hlen); /* cannot fail: the same bytes */
    }
    return etharp_output(netif, p, ipaddr);
}
