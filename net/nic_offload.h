/*
 * nic_offload.h - netd's software side of the NIC protocol's offloads
 * (abi/keel/nic.h NIC_DF_*): IPv4 and IPv6 TCP/UDP checksums and TCP segmentation
 * over a whole Ethernet frame in one buffer.  Pure C over bytes (no lwIP,
 * no kernel), so tests/unit/test_nic_offload.c runs it on the host.
 * Design comment in nic_offload.c.
 */
#ifndef NETD_NIC_OFFLOAD_H
#define NETD_NIC_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

enum nof_error {
    NOF_OK = 0,
    NOF_E_NOT_L4 = -1,    /* not IPv4/IPv6 TCP/UDP (ARP, ICMP, a fragment): nothing to offload */
    NOF_E_TRUNCATED = -2, /* the headers or the IP length do not fit the frame */
    NOF_E_MSS = -3,       /* segmentation asked with an MSS of 0 or of a non-TCP frame */
};

/* Where a frame's layers sit (nof_parse). */
struct nof_l4 {
    uint16_t ip_off;   /* 14: the IPv4 or IPv6 header */
    uint16_t l4_off;   /* the TCP/UDP header, from the frame's first byte */
    uint16_t hdr_len;  /* headers up to the end of the TCP/UDP header */
    uint16_t csum_off; /* the checksum field, from l4_off (TCP 16, UDP 6) */
    uint16_t l4_len;   /* TCP/UDP header + payload, from the IP total length */
    uint8_t proto;     /* 6 or 17 */
    uint8_t v6;        /* 1: an IPv6 packet (ip_off: its fixed header) */
};

/* Finds the layers of FRAME (LEN bytes): NOF_OK, NOF_E_NOT_L4 or
 * NOF_E_TRUNCATED.  The IP total length must lie within LEN. */
int nof_parse(const uint8_t *frame, size_t len, struct nof_l4 *out) __attribute__((warn_unused_result));

/* Writes the pseudo-header sum (not complemented: what a device that
 * completes the checksum from l4_off expects, nic.h CSUM_PARTIAL). */
void nof_set_pseudo(uint8_t *frame, const struct nof_l4 *l4);

/* Computes and writes the whole TCP/UDP checksum in software. */
void nof_set_full(uint8_t *frame, const struct nof_l4 *l4);

/* Whether the TCP/UDP checksum of FRAME is right (a UDP 0: no checksum). */
int nof_check(const uint8_t *frame, const struct nof_l4 *l4);

/*
 * Segment K (from 0) of the TCP frame FRAME cut into MSS-byte payloads,
 * written to OUT (room for hdr_len + MSS bytes): headers copied, IP total
 * length, ID (+K) and checksum, TCP sequence number (+K * MSS), FIN and
 * PSH kept on the last segment only, CWR on the first only, and the TCP
 * checksum, all set.  Returns its length, 0 when K is past the end, or a
 * negative NOF_E_*.
 */
int nof_segment(const uint8_t *frame, const struct nof_l4 *l4, uint16_t mss, unsigned k, uint8_t *out)
    __attribute__((warn_unused_result));

#endif
