/*
 * tlsd_proxy.c - PROXY protocol headers (contract in tlsd_proxy.h).
 *
 * v1 (section 2.1): one text line "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n"
 * with addresses in their usual text (IPv6 as RFC 5952), or "PROXY
 * UNKNOWN\r\n".  v2 (section 2.2): the 12-byte signature, version 2 and
 * command (0x21 PROXY, 0x20 LOCAL), family and transport (0x11 TCP over
 * IPv4, 0x21 TCP over IPv6, 0x00 UNSPEC), the address block's length
 * (12, 36 or 0, big-endian), then source and destination address and
 * port, big-endian.  No TLVs.
 */
#include "tlsd_proxy.h"

#include <keel/string.h>

#include <keel/textbuf.h>
#include "conf.h"
#include "conf_addr.h"

static void put_addr(struct textbuf *b, const struct tlsd_proxy_ends *e, const uint8_t *a)
{
    struct conf_ip ip = { .af = e->v6 ? CONF_AF_INET6 : CONF_AF_INET };
    char text[48];
    memcpy(ip.a, a, e->v6 ? 16 : 4);
    (void)conf_ip_format(&ip, text, sizeof text);
    tb_put(b, text);
}

static size_t header_v1(const struct tlsd_proxy_ends *e, uint8_t *out)
{
    char line[TLSD_PROXY_MAX];
    struct textbuf b;
    tb_init(&b, line, sizeof line);
    if (e->v6 && !e->known) {
        tb_put(&b, "PROXY UNKNOWN\r\n");
    } else {
        tb_put(&b, e->v6 ? "PROXY TCP6 " : "PROXY TCP4 ");
        put_addr(&b, e, e->src);
        tb_put(&b, " ");
        put_addr(&b, e, e->dst);
        tb_put(&b, " ");
        tb_u64(&b, e->sport);
        tb_put(&b, " ");
        tb_u64(&b, e->dport);
        tb_put(&b, "\r\n");
    }
    memcpy(out, line, b.len); /* 15 + 2 * 39 + 2 * 5 + 4 spaces and CRLF: < TLSD_PROXY_MAX */
    return b.len;
}

static size_t header_v2(const struct tlsd_proxy_ends *e, uint8_t *out)
{
    static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
    memcpy(out, sig, sizeof sig);
    if (e->v6 && !e->known) {
        out[12] = 0x20; /* LOCAL */
        out[13] = 0x00; /* UNSPEC */
        out[14] = out[15] = 0;
        return 16;
    }
    size_t alen = e->v6 ? 16 : 4;
    out[12] = 0x21;
    out[13] = e->v6 ? 0x21 : 0x11;
    out[14] = 0;
    out[15] = (uint8_t)(2 * alen + 4);
    memcpy(out + 16, e->src, alen);
    memcpy(out + 16 + alen, e->dst, alen);
    uint8_t *p = out + 16 + 2 * alen;
    p[0] = (uint8_t)(e->sport >> 8);
    p[1] = (uint8_t)e->sport;
    p[2] = (uint8_t)(e->dport >> 8);
    p[3] = (uint8_t)e->dport;
    return 16 + 2 * alen + 4;
}

size_t tlsd_proxy_header(unsigned version, const struct tlsd_proxy_ends *e, uint8_t out[TLSD_PROXY_MAX])
{
    if (version == CONF_PROXY_V1)
        return header_v1(e, out);
    if (version == CONF_PROXY_V2)
        return header_v2(e, out);
    return 0;
}
