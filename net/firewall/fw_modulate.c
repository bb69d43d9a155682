/*
 * fw_modulate.c - modulate state's rewriting of TCP sequence space
 * (contract, checksum rules and the order against NAT in fw_modulate.h).
 *
 * Every 32-bit field goes through put32(), which sums the checksum words
 * the field's bytes lie in (one or two aligned 16-bit words each side: an
 * odd offset straddles), writes the field, sums them again and applies the
 * difference to the checksum (RFC 1624 eqn. 3 over a run of words).  The
 * caller has checked that those words lie inside the header.
 */
#include "fw_modulate.h"

#include <keel/string.h>

#include "fw_nat.h" /* fw_csum_fixup */

#define TCP_HLEN       20u
#define TCP_OPT_EOL    0u
#define TCP_OPT_NOP    1u
#define TCP_OPT_SACK   5u /* RFC 2018: kind, length 2 + 8n, n (left, right) edges */
#define ICMP_HLEN      8u
#define QUOTE_TCP_SPAN 20u /* the quoted TCP header, up to and with its checksum */

static uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static uint32_t rd32(const uint8_t *b) { return (uint32_t)rd16(b) << 16 | rd16(b + 2); }

static void wr16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

/* The ones' complement sum of the 16-bit words [FROM, TO) of BASE (both even), folded. */
static uint16_t sum_words(const uint8_t *base, size_t from, size_t to)
{
    uint32_t s = 0;
    for (size_t i = from; i < to; i += 2)
        s += rd16(base + i);
    while (s >> 16)
        s = (s & 0xffffu) + (s >> 16);
    return (uint16_t)s;
}

/*
 * Writes V at BASE + OFF (any alignment; the words it touches, relative to
 * BASE, lie inside the header) and, when CSUM is not NULL, fixes the
 * checksum at CSUM, which covers BASE's words.  Returns whether V differs.
 */
static bool put32(uint8_t *base, size_t off, uint32_t v, uint8_t *csum)
{
    if (rd32(base + off) == v)
        return false;
    size_t from = off & ~(size_t)1, to = (off + 5) & ~(size_t)1;
    uint16_t before = sum_words(base, from, to);
    base[off] = (uint8_t)(v >> 24);
    base[off + 1] = (uint8_t)(v >> 16);
    base[off + 2] = (uint8_t)(v >> 8);
    base[off + 3] = (uint8_t)v;
    if (csum)
        wr16(csum, fw_csum_fixup(rd16(csum), before, sum_words(base, from, to)));
    return true;
}

/* Takes D from every SACK edge in the options [20, DOFF) of TH. */
static bool sack_edges(uint8_t *th, size_t doff, uint32_t d, uint8_t *csum)
{
    bool changed = false;
    for (size_t i = TCP_HLEN; i < doff;) { /* RFC 9293 3.1: kind, or kind, length, data */
        uint8_t kind = th[i];
        if (kind == TCP_OPT_EOL)
            break;
        if (kind == TCP_OPT_NOP) {
            i++;
            continue;
        }
        if (i + 1 >= doff || th[i + 1] < 2 || i + th[i + 1] > doff)
            break; /* malformed: leave the rest */
        size_t olen = th[i + 1];
        if (kind == TCP_OPT_SACK && olen >= 10 && (olen - 2) % 8 == 0)
            for (size_t e = i + 2; e + 4 <= i + olen; e += 4) /* e + 5 rounded down <= doff: doff is a multiple of 4 */
                changed |= put32(th, e, rd32(th + e) - d, csum);
        i += olen;
    }
    return changed;
}

bool fw_modulate_tcp(uint8_t *th, size_t avail, const struct fw_modulate *m, bool csum_partial)
{
    if ((!m->seq_add && !m->ack_sub) || avail < TCP_HLEN)
        return false;
    size_t doff = (size_t)(th[12] >> 4) * 4u;
    if (doff < TCP_HLEN || doff > avail)
        return false;
    uint8_t *csum = csum_partial ? NULL : th + 16; /* partial: the field is summed later, as it is (header) */
    bool changed = false;
    if (m->seq_add)
        changed |= put32(th, 4, rd32(th + 4) + m->seq_add, csum);
    if (m->ack_sub) {
        changed |= put32(th, 8, rd32(th + 8) - m->ack_sub, csum);
        changed |= sack_edges(th, doff, m->ack_sub, csum);
    }
    return changed;
}

/* An ICMP error (ICMP header at L4, AVAIL bytes) quoting a TCP segment:
 * its sequence number less M->quote_seq_sub, its acknowledgement number
 * (when quoted, with ACK) plus M->quote_ack_add, the quoted TCP checksum
 * with them when the quote holds it, and the ICMP checksum for every
 * quoted word changed: the quote as its sender wrote it. */
static bool quote_seq(uint8_t *l4, size_t avail, const struct fw_modulate *m)
{
    if (avail < ICMP_HLEN + 20)
        return false;
    uint8_t *q = l4 + ICMP_HLEN;
    size_t qihl = (size_t)(q[0] & 0xfu) * 4u;
    if (qihl < 20 || q[9] != FW_PROTO_TCP)
        return false;
    return fw_modulate_quote(l4, avail, ICMP_HLEN + qihl, m);
}

bool fw_modulate_quote(uint8_t *l4, size_t avail, size_t qtcp, const struct fw_modulate *m)
{
    if ((qtcp & 1) || qtcp + 8 > avail)
        return false;
    uint8_t *qt = l4 + qtcp; /* even offset from L4: the ICMP sum's words line up */
    size_t qavail = avail - qtcp;
    size_t span = (qavail < QUOTE_TCP_SPAN ? qavail : QUOTE_TCP_SPAN) & ~(size_t)1;
    uint8_t before[QUOTE_TCP_SPAN];
    memcpy(before, qt, span);
    uint8_t *qcsum = qavail >= QUOTE_TCP_SPAN ? qt + 16 : NULL;
    bool changed = put32(qt, 4, rd32(qt + 4) - m->quote_seq_sub, qcsum);
    if (qavail >= 14 && (qt[13] & FW_TH_ACK))
        changed |= put32(qt, 8, rd32(qt + 8) + m->quote_ack_add, qcsum);
    if (!changed)
        return false;
    for (size_t i = 0; i < span; i += 2) {
        uint16_t o = rd16(before + i), v = rd16(qt + i);
        if (o != v)
            wr16(l4 + 2, fw_csum_fixup(rd16(l4 + 2), o, v));
    }
    return true;
}

bool fw_modulate_ipv4(uint8_t *ip, size_t len, const struct fw_packet *p, const struct fw_modulate *m,
                      bool csum_partial)
{
    if ((!m->seq_add && !m->ack_sub && !m->quote_seq_sub && !m->quote_ack_add) || len < 20)
        return false;
    size_t avail, ihl = fw_ipv4_l4(ip, len, &avail);
    if (!ihl)
        return false;
    uint8_t *l4 = ip + ihl;
    if (p->proto == FW_PROTO_TCP)
        return fw_modulate_tcp(l4, avail, m, csum_partial);
    if (p->proto == FW_PROTO_ICMP && p->has_inner && p->inner.proto == FW_PROTO_TCP && m->quote_seq_sub)
        return quote_seq(l4, avail, m);
    return false;
}
