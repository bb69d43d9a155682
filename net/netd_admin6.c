/*
 * netd_admin6.c - the IPv6 half of netd's admin tables and ping (contract
 * in netd_admin6.h).  netd_admin.c writes the IPv4 rows of each table and
 * then calls the matching function here, which adds IPv6 rows with the same
 * columns:
 *   interfaces  one row per valid IPv6 address of each NIC (link-local,
 *               static, SLAAC), "tentative" while duplicate address
 *               detection runs; the counters are on the IPv4 row ("-");
 *   arp         lwIP's neighbour cache (the IPv6 ARP): reachable, stale,
 *               delay and probe entries, not incomplete ones;
 *   routes      static prefixes (connected), static IPv6 routes (their
 *               gateway's interface, or "gateway unreachable"), the static
 *               clause's IPv6 gateway, prefixes router advertisements
 *               made on-link (connected, ra), default routers (::/0, ra);
 *   states      the IPv6 state table (net/firewall/fw6_state.c): FROM is
 *               the side that opened it, DIR "-" (IPv6 states float).
 * Ping: an ICMPv6 echo request a second from a raw PCB (lwIP fills in the
 * checksum, chksum_offset 2), replies matched by identifier and source and
 * counted by netd_ping_count_reply like IPv4's.
 *
 * Reads lwIP's ND tables (lwip/priv/nd6_priv.h) directly: netd's main
 * thread is lwIP's only thread, so nothing changes them meanwhile.
 */
#include "netd_admin6.h"

#include <keel/fmt.h>
#include <keel/string.h>
#include <keel/sys.h>

#include "lwip/icmp6.h"
#include "lwip/ip.h"
#include "lwip/ip6_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/nd6_priv.h"
#include "lwip/prot/icmp.h"
#include "lwip/prot/icmp6.h"
#include "lwip/raw.h"
#include "fw6.h"
#include "netd_fw.h"
#include "netd_hooks.h"
#include "netd_route.h"
#include "nic_netif.h"

static const char *name_of(const struct netd_admin *a, unsigned k)
{
    return k < a->fw->ifaces.count ? a->fw->ifaces.ifs[k].name : "?";
}

static const char *netif_name(const struct netd_admin *a, const struct netif *nif)
{
    for (unsigned k = 0; k < a->n_nics; k++)
        if (&a->nics[k].netif == nif)
            return name_of(a, k);
    return "?";
}

static void mac_text(const uint8_t *m, char *buf, size_t cap)
{
    snprintf(buf, cap, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

void netd_admin6_interfaces(const struct netd_admin *a, netd_admin6_emit *emit, void *ctx)
{
    for (unsigned k = 0; k < a->n_nics; k++) {
        const struct nic *n = &a->nics[k];
        if (!n->netif_added)
            continue;
        for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
            u8_t st = netif_ip6_addr_state(&n->netif, i);
            if (!ip6_addr_isvalid(st) && !ip6_addr_istentative(st))
                continue;
            const uint8_t *ad = (const uint8_t *)netif_ip6_addr(&n->netif, i)->addr;
            bool is_static = n->cfg && n->cfg->mode6 == NETD_IF6_STATIC && memcmp(n->cfg->addr6, ad, 16) == 0;
            char addr[48], text[64], mac[24];
            snprintf(text, sizeof text, "%s/%u%s", fw6_ntop(ad, addr, sizeof addr),
                     is_static ? (unsigned)n->cfg->prefix6 : 64u, ip6_addr_istentative(st) ? " (tentative)" : "");
            mac_text(n->mac, mac, sizeof mac);
            bool up = netif_is_link_up(&n->netif) && n->state == NICS_ATTACHED;
            const char *f[] = { name_of(a, k), n->name, mac, text, up ? "up" : "down", "-", "-", "-" };
            emit(ctx, f, 8);
        }
    }
}

void netd_admin6_neighbours(const struct netd_admin *a, netd_admin6_emit *emit, void *ctx)
{
    for (int i = 0; i < LWIP_ND6_NUM_NEIGHBORS; i++) {
        const struct nd6_neighbor_cache_entry *e = &neighbor_cache[i];
        if (e->state == ND6_NO_ENTRY || e->state == ND6_INCOMPLETE)
            continue;
        char addr[48], mac[24];
        fw6_ntop((const uint8_t *)e->next_hop_address.addr, addr, sizeof addr);
        mac_text(e->lladdr, mac, sizeof mac);
        const char *f[] = { addr, mac, netif_name(a, e->netif) };
        emit(ctx, f, 3);
    }
}

void netd_admin6_routes(const struct netd_admin *a, netd_admin6_emit *emit, void *ctx)
{
    for (unsigned k = 0; k < a->n_nics; k++) {
        const struct nic *n = &a->nics[k];
        if (!n->netif_added || !netif_is_up(&n->netif) || !n->cfg || n->cfg->mode6 != NETD_IF6_STATIC)
            continue;
        uint8_t net[16];
        memcpy(net, n->cfg->addr6, 16);
        for (unsigned b = 0; b < 16; b++) {
            unsigned bits = n->cfg->prefix6 > b * 8 ? n->cfg->prefix6 - b * 8 : 0;
            net[b] = bits >= 8 ? net[b] : (uint8_t)(net[b] & (0xff00u >> bits));
        }
        char addr[48], text[56];
        snprintf(text, sizeof text, "%s/%u", fw6_ntop(net, addr, sizeof addr), (unsigned)n->cfg->prefix6);
        const char *f[] = { text, "-", name_of(a, k), "connected" };
        emit(ctx, f, 4);
    }
    for (int i = 0; i < LWIP_ND6_NUM_PREFIXES; i++) {
        const struct nd6_prefix_list_entry *p = &prefix_list[i];
        if (!p->netif || p->invalidation_timer == 0)
            continue;
        char addr[48], text[56];
        snprintf(text, sizeof text, "%s/64", fw6_ntop((const uint8_t *)p->prefix.addr, addr, sizeof addr));
        const char *f[] = { text, "-", netif_name(a, p->netif), "connected (ra)" };
        emit(ctx, f, 4);
    }
    for (unsigned i = 0; i < a->fw->routes.n6; i++) {
        const struct netd_route6 *rt = &a->fw->routes.r6[i];
        ip6_addr_t d;
        memcpy(d.addr, rt->net, 16);
        ip6_addr_clear_zone(&d);
        struct netif *via = netd_ip6_route(NULL, &d);
        bool up = via && netd_nd6_gw(via, &d) != NULL;
        char net[48], gw[48], text[56];
        snprintf(text, sizeof text, "%s/%u", fw6_ntop(rt->net, net, sizeof net), (unsigned)rt->prefix);
        fw6_ntop(rt->gw, gw, sizeof gw);
        const char *f[] = { text, gw, up ? netif_name(a, via) : "-", up ? "static" : "static (gateway unreachable)" };
        emit(ctx, f, 4);
    }
    for (unsigned k = 0; k < a->n_nics; k++) {
        const struct nic *n = &a->nics[k];
        if (!n->netif_added || !n->cfg || n->cfg->mode6 != NETD_IF6_STATIC || !n->cfg->has_gateway6)
            continue;
        char gw[48];
        fw6_ntop(n->cfg->gateway6, gw, sizeof gw);
        const char *f[] = { "::/0", gw, name_of(a, k), "default (static)" };
        emit(ctx, f, 4);
    }
    for (int i = 0; i < LWIP_ND6_NUM_ROUTERS; i++) {
        const struct nd6_router_list_entry *r = &default_router_list[i];
        if (!r->neighbor_entry || r->invalidation_timer == 0)
            continue;
        char addr[48];
        fw6_ntop((const uint8_t *)r->neighbor_entry->next_hop_address.addr, addr, sizeof addr);
        const char *f[] = { "::/0", addr, netif_name(a, r->neighbor_entry->netif), "default (ra)" };
        emit(ctx, f, 4);
    }
}

static const char *proto_name(uint8_t p)
{
    return p == 6 ? "tcp" : p == 17 ? "udp" : p == FW_PROTO_ICMP6 ? "icmp6" : "ip6";
}

static const char *tcp_name(uint8_t t)
{
    static const char *const names[] = { "opening", "established", "closing", "closed" };
    return t < 4 ? names[t] : "?";
}

void netd_admin6_states(const struct netd_admin *a, netd_admin6_emit *emit, void *ctx)
{
    const struct netd_fw *fw = a->fw;
    const struct fw6_state_table *t = &fw->v6.table;
    for (unsigned b = 0; b < FW6_BUCKETS; b++) {
        for (uint16_t i = t->bucket[b]; i != FW6_NONE; i = t->s[i].next) {
            const struct fw6_state *s = &t->s[i];
            if (s->expires <= fw->now)
                continue;
            /* the IPv4 rows' columns (netd_admin.c show_states): IFACE (IPv6
             * states keep none: "-"), PROTO, CONNECTION, STATE, PACKETS (both
             * ways), EXPIRES, FLAGS ("modulate", never the offset) */
            char x[48], y[48], conn[128], pk[24], ex[24];
            snprintf(conn, sizeof conn, "[%s]:%u -> [%s]:%u", fw6_ntop(s->a, x, sizeof x), (unsigned)s->aport,
                     fw6_ntop(s->b, y, sizeof y), (unsigned)s->bport);
            snprintf(pk, sizeof pk, "%llu", (unsigned long long)s->packets);
            snprintf(ex, sizeof ex, "%llus", (unsigned long long)((s->expires - fw->now) / 1000000000ull));
            const char *f[] = { "-",
                                proto_name(s->proto),
                                conn,
                                s->proto == 6 ? tcp_name(s->tcp) : "-",
                                pk,
                                ex,
                                (s->flags & FW6_SF_MODULATE) ? "modulate" : "-" };
            emit(ctx, f, 7);
        }
    }
}

/* ------------------------------------------------------------- ping6 -- */

/* Raw PCB receive: P starts at the IPv6 header.  Takes our echo replies
 * (returns 1: eaten); anything else goes on to lwIP (0). */
static u8_t ping6_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
    (void)pcb;
    struct netd_admin *a = arg;
    struct netd_ping *pg = &a->ping;
    struct icmp6_echo_hdr h;
    u16_t hlen = ip_current_header_tot_len();
    if (!pg->count || !pg->v6 || !IP_IS_V6(addr) || p->tot_len < hlen + sizeof h ||
        pbuf_copy_partial(p, &h, sizeof h, hlen) != sizeof h)
        return 0;
    if (h.type != ICMP6_TYPE_EREP || h.id != lwip_htons(pg->id) || memcmp(ip_2_ip6(addr)->addr, pg->addr6, 16) != 0)
        return 0;
    netd_ping_count_reply(pg, lwip_ntohs(h.seqno));
    pbuf_free(p);
    return 1;
}

int netd_ping6_open(struct netd_admin *a)
{
    struct netd_ping *pg = &a->ping;
    if (pg->pcb6)
        return 0;
    pg->pcb6 = raw_new_ip_type(IPADDR_TYPE_V6, IP6_NEXTH_ICMP6);
    if (!pg->pcb6)
        return -1;
    pg->pcb6->chksum_reqd = 1; /* lwIP writes the ICMPv6 checksum (pseudo-header) at offset 2 */
    pg->pcb6->chksum_offset = 2;
    raw_recv(pg->pcb6, ping6_recv, a);
    return 0;
}

void netd_ping6_send(struct netd_admin *a)
{
    struct netd_ping *pg = &a->ping;
    _Static_assert(sizeof(struct icmp6_echo_hdr) == sizeof(struct icmp_echo_hdr), "the same echo header");
    struct pbuf *p = netd_ping_echo(pg, ICMP6_TYPE_EREQ); /* lwIP writes the checksum (chksum_reqd) */
    if (!p)
        return; /* out of memory: counted as sent, never answered */
    ip_addr_t to;
    memset(&to, 0, sizeof to);
    IP_SET_TYPE_VAL(to, IPADDR_TYPE_V6);
    memcpy(ip_2_ip6(&to)->addr, pg->addr6, 16);
    ip6_addr_clear_zone(ip_2_ip6(&to));
    pg->sent_ns[pg->sent] = keel_now_ns();
    (void)raw_sendto(pg->pcb6, p, &to);
    pbuf_free(p);
}
