/* test_nic_offload.c - netd's software checksums and TCP segmentation
 * (net/nic_offload.c): a 64 KiB TCP segment cut into MSS-sized ones whose
 * checksums and sequence numbers are right, the pseudo-header sum a device
 * completes, and bad frames refused. */
#include <stdbool.h>
#include <stdlib.h>

#include "nic_offload.h"
#include "unit.h"

static uint8_t frame[65535], seg[2048];

/* Completes the frame whose TCP header is at TH, HDR_LEN bytes into it
 * (all headers): data offset 5 words, FLAGS, window 0xff00, then PAYLOAD
 * bytes of the pattern i * MUL + ADD, and the full TCP checksum.  Returns
 * the frame's length. */
static size_t finish_tcp(uint8_t *th, size_t hdr_len, uint8_t flags, unsigned payload, unsigned mul, unsigned add)
{
    th[12] = 5 << 4;
    th[13] = flags;
    th[14] = 0xff;
    for (unsigned i = 0; i < payload; i++)
        th[20 + i] = (uint8_t)(i * mul + add);
    struct nof_l4 l4;
    if (nof_parse(frame, hdr_len + payload, &l4) == NOF_OK)
        nof_set_full(frame, &l4);
    return hdr_len + payload;
}

/* An Ethernet + IPv4 + TCP frame with PAYLOAD bytes and a valid checksum. */
static size_t make_tcp(unsigned payload, uint8_t flags)
{
    memset(frame, 0, 54);
    frame[12] = 0x08;
    uint8_t *ip = frame + 14, *th = frame + 34;
    unsigned tot = 20 + 20 + payload;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(tot >> 8);
    ip[3] = (uint8_t)tot;
    ip[4] = 0x12, ip[5] = 0x34; /* ID */
    ip[6] = 0x40;               /* DF */
    ip[8] = 64, ip[9] = 6;
    ip[12] = 10, ip[13] = 9, ip[14] = 0, ip[15] = 1;
    ip[16] = 10, ip[17] = 9, ip[18] = 1, ip[19] = 1;
    th[0] = 0x30, th[1] = 0x39, th[2] = 0, th[3] = 9;
    th[4] = 0xff, th[5] = 0xff, th[6] = 0xff, th[7] = 0x00; /* a sequence number that wraps */
    return finish_tcp(th, 54, flags, payload, 7, 3);
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3]; }

static void test_parse_and_checksums(void)
{
    size_t len = make_tcp(1000, 0x18);
    struct nof_l4 l4;
    CHECK_EQ(nof_parse(frame, len, &l4), NOF_OK);
    CHECK_EQ(l4.l4_off, 34);
    CHECK_EQ(l4.hdr_len, 54);
    CHECK_EQ(l4.l4_len, 1020);
    CHECK(nof_check(frame, &l4));
    frame[500] ^= 1; /* a bad checksum is seen */
    CHECK(!nof_check(frame, &l4));
    frame[500] ^= 1;
    /* Partial: the field holds the pseudo sum; summing from l4_off and
     * storing the complement (what the device does) gives the full one. */
    uint8_t full[2] = { frame[50], frame[51] };
    nof_set_pseudo(frame, &l4);
    CHECK(frame[50] != full[0] || frame[51] != full[1]);
    uint64_t s = 0;
    for (unsigned i = 0; i < l4.l4_len; i += 2)
        s += (unsigned)(frame[34 + i] << 8 | (i + 1 < l4.l4_len ? frame[35 + i] : 0));
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    CHECK_EQ((uint16_t)~s, (uint16_t)(full[0] << 8 | full[1]));
}

static void test_bad_frames_refused(void)
{
    struct nof_l4 l4;
    size_t len = make_tcp(100, 0x10);
    CHECK_EQ(nof_parse(frame, len - 1, &l4), NOF_E_TRUNCATED); /* IP length past the frame */
    frame[12] = 0x08, frame[13] = 0x06;
    CHECK_EQ(nof_parse(frame, len, &l4), NOF_E_NOT_L4); /* ARP */
    frame[12] = 0x86, frame[13] = 0xdd;
    CHECK_EQ(nof_parse(frame, len, &l4), NOF_E_TRUNCATED); /* IPv6 ethertype, version 4 */
    len = make_tcp(100, 0x10);
    frame[14 + 6] = 0x20; /* MF: a fragment */
    CHECK_EQ(nof_parse(frame, len, &l4), NOF_E_NOT_L4);
    len = make_tcp(20, 0x10);
    frame[34 + 12] = 15 << 4; /* TCP header past the packet */
    CHECK_EQ(nof_parse(frame, len, &l4), NOF_E_TRUNCATED);
    CHECK_EQ(nof_parse(frame, 20, &l4), NOF_E_TRUNCATED);
}

/* Cuts segment K (MSS payload bytes each) of the frame L4 describes into
 * seg: its length, or 0 after the last.  Every segment must parse and
 * carry a valid TCP checksum. */
static int next_segment(const struct nof_l4 *l4, unsigned mss, unsigned k)
{
    int n = nof_segment(frame, l4, mss, k, seg);
    CHECK(n >= 0);
    if (n <= 0)
        return 0;
    struct nof_l4 s;
    CHECK_EQ(nof_parse(seg, (size_t)n, &s), NOF_OK);
    CHECK(nof_check(seg, &s));
    return n;
}

/* A 64 KiB segment out through a NIC without TSO: every segment is a valid
 * TCP/IPv4 frame, the payloads join up to the original, sequence numbers
 * advance by the MSS, FIN/PSH only on the last. */
static void test_segment_64k(void)
{
    unsigned payload = 65535 - 54;
    size_t len = make_tcp(payload, 0x19); /* ACK PSH FIN */
    struct nof_l4 l4;
    CHECK_EQ(nof_parse(frame, len, &l4), NOF_OK);
    uint32_t seq0 = rd32(frame + 38);
    unsigned got = 0, k = 0;
    for (;; k++) {
        int n = next_segment(&l4, 1448, k);
        if (n == 0)
            break;
        CHECK_EQ(rd32(seg + 38), seq0 + got);
        CHECK(memcmp(seg + 54, frame + 54 + got, (size_t)n - 54) == 0);
        /* IP header checksum */
        uint64_t h = 0;
        for (int i = 0; i < 20; i += 2)
            h += (unsigned)(seg[14 + i] << 8 | seg[15 + i]);
        while (h >> 16)
            h = (h & 0xffff) + (h >> 16);
        CHECK_EQ(h, 0xffff);
        bool last = got + ((unsigned)n - 54) >= payload;
        CHECK_EQ((seg[47] & 0x09) != 0, last);
        got += (unsigned)n - 54;
    }
    CHECK_EQ(got, payload);
    CHECK_EQ(k, (payload + 1447) / 1448);
    CHECK_EQ(nof_segment(frame, &l4, 0, 0, seg), NOF_E_MSS);
}

/* An Ethernet + IPv6 + hop-by-hop (8 bytes) + TCP frame with PAYLOAD bytes. */
static size_t make_tcp6(unsigned payload, uint8_t flags)
{
    memset(frame, 0, 14 + 40 + 8 + 20);
    frame[12] = 0x86, frame[13] = 0xdd;
    uint8_t *ip = frame + 14, *hbh = ip + 40, *th = hbh + 8;
    unsigned plen = 8 + 20 + payload;
    ip[0] = 0x60;
    ip[4] = (uint8_t)(plen >> 8), ip[5] = (uint8_t)plen;
    ip[6] = 0, ip[7] = 64; /* next header: hop-by-hop */
    ip[8] = 0x20, ip[9] = 0x01, ip[10] = 0x0d, ip[11] = 0xb8, ip[23] = 1;
    ip[24] = 0x20, ip[25] = 0x01, ip[26] = 0x0d, ip[27] = 0xb8, ip[29] = 2, ip[39] = 2;
    hbh[0] = 6; /* TCP; length 0: 8 bytes (PadN after) */
    hbh[2] = 1, hbh[3] = 4;
    th[0] = 0x30, th[1] = 0x39, th[3] = 80;
    return finish_tcp(th, 82, flags, payload, 5, 1);
}

/* IPv6: the TCP header after an extension header, the pseudo-header over
 * both 128-bit addresses, segmentation setting the payload length. */
static void test_ipv6(void)
{
    size_t len = make_tcp6(3000, 0x18);
    struct nof_l4 l4;
    CHECK_EQ(nof_parse(frame, len, &l4), NOF_OK);
    CHECK_EQ(l4.v6, 1);
    CHECK_EQ(l4.l4_off, 62);
    CHECK_EQ(l4.hdr_len, 82);
    CHECK_EQ(l4.l4_len, 3020);
    CHECK(nof_check(frame, &l4));
    frame[14 + 8 + 15] ^= 1; /* the source address is in the sum */
    CHECK(!nof_check(frame, &l4));
    frame[14 + 8 + 15] ^= 1;
    unsigned got = 0, k = 0;
    for (;; k++) {
        int n = next_segment(&l4, 1200, k);
        if (n == 0)
            break;
        CHECK_EQ((unsigned)(seg[18] << 8 | seg[19]), (unsigned)n - 54); /* payload length */
        got += (unsigned)n - 82;
    }
    CHECK_EQ(got, 3000u);
    CHECK_EQ(k, 3u);
    len = make_tcp6(10, 0x10);
    frame[14 + 40] = 44; /* hop-by-hop then a fragment header: not L4 */
    CHECK_EQ(nof_parse(frame, len, &l4), NOF_E_NOT_L4);
    len = make_tcp6(10, 0x10);
    CHECK_EQ(nof_parse(frame, len - 1, &l4), NOF_E_TRUNCATED);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_parse_and_checksums),
        UNIT_TEST(test_bad_frames_refused),
        UNIT_TEST(test_segment_64k),
        UNIT_TEST(test_ipv6),
    };
    return unit_main("nic_offload", tests, sizeof tests / sizeof tests[0]);
}
