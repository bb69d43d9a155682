/*
 * netd_fw_return.c - the answers of `block return`, for both families: a
 * blocked packet whose verdict asks for an answer is queued during the
 * loop iteration's input (netd_fw_packet, netd_fw6_packet) and answered by
 * netd_fw_flush after it, through lwIP.  Calling lwIP from inside
 * linkoutput would re-enter it, hence the queue.
 *
 * IPv4: a TCP RST from the blocked packet's destination (tcp_rst), or an
 * ICMP destination unreachable (port for UDP, protocol otherwise, or the
 * rule's return-icmp code) from our address (icmp_dest_unreach).
 * IPv6: fw6_return_build makes a TCP RST from the blocked packet's
 * destination or an ICMPv6 destination unreachable from the destination
 * when it is ours, else from the address lwIP selects on the answer's
 * netif (RFC 6724), and the netif's output_ip6 (neighbour discovery, then
 * linkoutput) sends it.  The netif: the NIC a blocked `in` packet came in
 * on; the route to the source for an `out` one.
 *
 * Invariants.
 *   - At most NETD_FW_RETURNS (IPv4) and NETD_FW6_RETURNS (IPv6) answers
 *     are queued per loop iteration, and both families share one token
 *     bucket (fw->return_rl: 50 answers a second); what does not fit is
 *     counted (returns_limited), never queued.
 *   - No answer to broadcasts (also a directed one of our networks),
 *     multicast, unspecified addresses, RSTs, ICMP errors, packets with IP
 *     options, or our own packets (counted as returns_skipped).
 *   - fw->generating is true exactly while netd_fw_flush hands the answers
 *     to lwIP: the answers bypass the out rules, as pf's own RSTs do.  One
 *     whose next hop is not in the ARP or neighbour cache leaves later
 *     from lwIP's queue and then meets the out rules like any packet.
 *   - The queues are empty after every netd_fw_flush; an answer lwIP
 *     cannot take (its heap full) is dropped: best effort, as pf's.
 *
 * Context: netd's main thread only, like lwIP and the rest of the firewall.
 */
#include <keel/string.h>

#include "lwip/icmp.h"
#include "lwip/ip6.h"
#include "lwip/ip6_addr.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "netd_fw.h"
#include "netd_fw_int.h"
#include "netd_ip6.h"

enum { RET_RST = 1, RET_ICMP = 2 };

static uint32_t prefix_mask(unsigned prefix) { return prefix ? ~0u << (32 - prefix) : 0; }

/* A (host order) is no address to answer: unspecified, broadcast (also a
 * directed one of our networks), multicast, or our own. */
static bool is_ours_or_broadcast(const struct netd_fw *fw, uint32_t a)
{
    if (a == 0 || a == NETD_FW_BROADCAST || (a >> 28) == 0xe)
        return true;
    for (unsigned k = 0; k < fw->n_nics; k++) {
        const struct fw_iface *fi = &fw->ifaces.ifs[k];
        uint32_t host = ~prefix_mask(fi->prefix);
        if (fi->has_addr &&
            (a == fi->addr || (fi->prefix < 31 && (a & ~host) == (fi->addr & ~host) && (a & host) == host)))
            return true;
    }
    return false;
}

static uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void netd_fw_queue_return(struct netd_fw *fw, const struct fw_packet *p, const struct fw_verdict *v, const uint8_t *ip,
                          size_t len)
{
    bool icmp_ok = p->proto != FW_PROTO_ICMP || p->icmp_type == FW_ICMP_ECHO_REQUEST || p->icmp_type == 13 ||
                   p->icmp_type == 15 || p->icmp_type == 17; /* queries only, never an error about an error */
    bool rst_ok = p->proto != FW_PROTO_TCP || !(p->tcp_flags & FW_TH_RST);
    if (!icmp_ok || !rst_ok || p->ip_options || is_ours_or_broadcast(fw, p->src) ||
        (p->dst == NETD_FW_BROADCAST || (p->dst >> 28) == 0xe) || len < 28) {
        fw->c.returns_skipped++;
        return;
    }
    if (fw->n_returns == NETD_FW_RETURNS || !fw_ratelimit_allow(&fw->return_rl, fw->now)) {
        fw->c.returns_limited++;
        return;
    }
    struct netd_fw_return *r = &fw->returns[fw->n_returns];
    *r = (struct netd_fw_return){ .src = p->src, .dst = p->dst, .sport = p->sport, .dport = p->dport };
    if (v->return_rst) {
        unsigned ihl = (ip[0] & 0xfu) * 4u;
        const uint8_t *th = ip + ihl; /* fw_parse_ether checked the TCP header lies inside the packet */
        uint32_t seq = rd32(th + 4), ack = rd32(th + 8);
        uint32_t seglen = (uint32_t)p->len - ihl - (th[12] >> 4) * 4u;
        seglen += (p->tcp_flags & FW_TH_SYN) ? 1 : 0;
        seglen += (p->tcp_flags & FW_TH_FIN) ? 1 : 0;
        r->kind = RET_RST;
        r->seq = (p->tcp_flags & FW_TH_ACK) ? ack : 0; /* RFC 9293 3.10.7.1 */
        r->ack = seq + seglen;
    } else {
        r->kind = RET_ICMP;
        r->code = v->return_code;                /* pf's: port unreachable unless return-icmp (CODE) */
        r->quote_len = (uint8_t)sizeof r->quote; /* 20-byte header (no options) + 8 */
        memcpy(r->quote, ip, sizeof r->quote);
    }
    fw->n_returns++;
}

void netd_fw6_queue_return(struct netd_fw *fw, const struct fw6_packet *p, const struct fw_verdict *v,
                           const uint8_t *ip, size_t len)
{
    struct netd_fw6 *f = &fw->v6;
    if (!fw6_may_answer(p) || fw6_is_self(&f->ifaces, p->src)) {
        f->c.returns_skipped++;
        return;
    }
    if (f->n_returns == NETD_FW6_RETURNS || !fw_ratelimit_allow(&fw->return_rl, fw->now)) {
        f->c.returns_limited++;
        return;
    }
    struct netd_fw6_return *r = &f->returns[f->n_returns++];
    r->dir = p->dir;
    r->nic = p->iface;
    r->rst = v->return_rst;
    r->code = v->return_code;
    r->p = *p;
    size_t n = len < p->len ? len : p->len;
    r->len = (uint16_t)(n < sizeof r->pkt ? n : sizeof r->pkt);
    memcpy(r->pkt, ip, r->len);
}

static void ip_host(ip_addr_t *a, uint32_t host_order) { ip_addr_set_ip4_u32_val(*a, lwip_htonl(host_order)); }

/* Sends the queued IPv6 answers (netd_fw_flush calls it with
 * fw->generating set, so linkoutput passes them). */
static void flush6(struct netd_fw *fw)
{
    struct netd_fw6 *f = &fw->v6;
    static uint8_t out[FW6_RETURN_MAX];
    for (unsigned i = 0; i < f->n_returns; i++) {
        struct netd_fw6_return *r = &f->returns[i];
        ip6_addr_t dest;
        memcpy(dest.addr, r->p.src, 16);
        ip6_addr_clear_zone(&dest);
        ip6_addr_t any; /* ip6_route reads its source: "any" lets the destination alone decide */
        ip6_addr_set_any(&any);
        struct netif *ni = r->dir == FW_IN ? netd_ip6_netif(r->nic) : ip6_route(&any, &dest);
        if (!ni) {
            f->c.returns_skipped++;
            continue;
        }
        ip6_addr_assign_zone(&dest, IP6_UNICAST, ni);
        uint8_t src[16];
        if (r->rst || fw6_is_self(&f->ifaces, r->p.dst)) {
            memcpy(src, r->p.dst, 16);
        } else {
            const ip_addr_t *a = ip6_select_source_address(ni, &dest);
            if (!a) {
                f->c.returns_skipped++;
                continue;
            }
            memcpy(src, ip_2_ip6(a)->addr, 16);
        }
        size_t n = fw6_return_build(r->pkt, r->len, &r->p, r->rst, r->code, src, out, sizeof out);
        struct pbuf *q = n ? pbuf_alloc(PBUF_LINK, (u16_t)n, PBUF_RAM) : NULL;
        if (!q) {
            f->c.returns_skipped++; /* lwIP's heap is full: best effort, as pf's */
            continue;
        }
        (void)pbuf_take(q, out, (u16_t)n);
        (void)ni->output_ip6(ni, q, &dest);
        pbuf_free(q);
        f->c.returns_sent++;
    }
    f->n_returns = 0;
}

void netd_fw_flush(struct netd_fw *fw)
{
    if (!fw->n_returns && !fw->v6.n_returns)
        return;
    fw->generating = true; /* linkoutput passes what lwIP sends now: these answers alone */
    flush6(fw);
    for (unsigned i = 0; i < fw->n_returns; i++) {
        const struct netd_fw_return *r = &fw->returns[i];
        if (r->kind == RET_RST) {
            ip_addr_t local, remote;
            ip_host(&local, r->dst);
            ip_host(&remote, r->src);
            tcp_rst(NULL, r->seq, r->ack, &local, &remote, r->dport, r->sport);
        } else {
            struct pbuf *p = pbuf_alloc(PBUF_RAW, r->quote_len, PBUF_RAM);
            if (!p)
                continue; /* lwIP's heap is full: no answer (pf's answers are best effort too) */
            (void)pbuf_take(p, r->quote, r->quote_len);
            icmp_dest_unreach(p, (enum icmp_dur_type)r->code);
            pbuf_free(p);
        }
        fw->c.returns_sent++;
    }
    fw->generating = false;
    fw->n_returns = 0;
}
