/*
 * netd_ip6.c - IPv6 on netd's netifs (contract in netd_ip6.h).
 *
 * An interface line's IPv6 clause (appliance/config/conf.h) becomes:
 *   address IPV6/P   the link-local address fe80::/64 from the MAC
 *                    (modified EUI-64) and IPV6 as a static address; both
 *                    go through duplicate address detection (one probe)
 *                    before they are used.  lwIP treats a static
 *                    address's /64 as on-link (RFC 5942); for any other
 *                    prefix length netd's hooks make IPV6/P on-link:
 *                    netd_ip6_route (LWIP_HOOK_IP6_ROUTE) sends a
 *                    destination inside it out of this netif and
 *                    netd_nd6_gw (LWIP_HOOK_ND6_GET_GW) resolves it
 *                    directly instead of through a router;
 *   autoconf         the link-local address, router solicitations, and
 *                    SLAAC (RFC 4862) from the prefixes of router
 *                    advertisements (an address per advertised /64 with
 *                    the autonomous flag, up to lwIP's three per netif),
 *                    default routers from the advertisements too;
 *   nothing          no IPv6 at all: no link-local address, autoconfig off,
 *                    and the firewall drops every IPv6 frame on the NIC
 *                    (netd_fw6.c).
 * Next hops (netd_route.h has the order): lwIP's own choice for connected
 * destinations (an address's /64, an on-link prefix of a router
 * advertisement); else the static IPv6 route (`route IPV6/P via G`) with
 * the longest prefix whose gateway is on-link now (netd_ip6_route picks the
 * gateway's netif, netd_nd6_gw gives G as the next hop); else lwIP's
 * default routers from advertisements; else, when no advertisement gave
 * one, the static clause's `gateway G` if G is on-link.  Gateways are
 * global or unique-local addresses (conf.h), so "on-link" is: inside a
 * static address's prefix, an address's /64 or an advertised prefix.
 * lwIP caches a destination's next hop (nd6's destination cache);
 * netd_fw_commit clears it when the routes change, and netd_ip6_apply when
 * an interface's IPv6 clause does.  Not handled: a router advertisement
 * that arrives (or a router that expires) while destinations are cached
 * with the static gateway as next hop (or the router) does not move them:
 * they keep the cached next hop until lwIP reuses their cache entry or
 * the configuration changes.  (Clearing the cache from the hooks is not
 * possible: lwIP is filling an entry when it asks.)
 *
 * Context: netd's main thread (lwIP's one thread).  The table of NICs here
 * (nics[]) is filled as their netifs are added and is only read by the
 * hooks, which lwIP calls from the same thread.
 */
#include "netd_ip6.h"

#include <keel/fmt.h>
#include <keel/string.h>
#include <keel/ulog.h>

#include "lwip/ip6_addr.h"
#include "lwip/nd6.h"
#include "lwip/netif.h"
#include "lwip/priv/nd6_priv.h"
#include "netd_fw.h"
#include "netd_route.h"
#include "nic_netif.h"
#include "netd_hooks.h"

static struct nic *nics[NETD_MAX_IFS]; /* by n->index; set by netd_ip6_apply (main thread only) */

static bool in_prefix(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (full > 16 || memcmp(a, net, full) != 0)
        return false;
    return !rest || ((a[full] ^ net[full]) & (0xff00u >> rest)) == 0;
}

static void to_lwip(ip6_addr_t *out, const uint8_t *a)
{
    memcpy(out->addr, a, 16);
    ip6_addr_clear_zone(out);
}

void netd_ip6_apply(struct nic *n)
{
    struct netif *ni = &n->netif;
    if (n->index < NETD_MAX_IFS)
        nics[n->index] = n;
    const struct netd_if_cfg *c = n->cfg;
    unsigned mode6 = c ? c->mode6 : NETD_IF6_NONE;
    for (s8_t i = 1; i < LWIP_IPV6_NUM_ADDRESSES; i++) /* every address but the link-local one */
        netif_ip6_addr_set_state(ni, i, IP6_ADDR_INVALID);
    if (n->fw && n->index < NETD_MAX_IFS)
        n->fw->v6.enabled[n->index] = mode6 != NETD_IF6_NONE;
    nd6_clear_destination_cache(); /* next hops chosen under the old clause */
    if (mode6 == NETD_IF6_NONE) {
        netif_ip6_addr_set_state(ni, 0, IP6_ADDR_INVALID);
        netif_set_ip6_autoconfig_enabled(ni, 0);
        return;
    }
    if (!ip6_addr_isvalid(netif_ip6_addr_state(ni, 0)))
        netif_create_ip6_linklocal_address(ni, 1);
    if (mode6 == NETD_IF6_AUTOCONF) {
        netif_set_ip6_autoconfig_enabled(ni, 1);
        ulog("netd: %s: IPv6 link-local and SLAAC (autoconf)\n", n->name);
        return;
    }
    netif_set_ip6_autoconfig_enabled(ni, 0);
    ip6_addr_t a;
    to_lwip(&a, c->addr6);
    s8_t idx = -1;
    err_t e = netif_add_ip6_address(ni, &a, &idx);
    char text[48];
    fw6_ntop(c->addr6, text, sizeof text);
    char gw[48] = "";
    if (c->has_gateway6)
        fw6_ntop(c->gateway6, gw, sizeof gw);
    if (e != ERR_OK)
        ulog("netd: %s: IPv6 address %s/%u refused by lwIP (error %d)\n", n->name, text, (unsigned)c->prefix6, (int)e);
    else
        ulog("netd: %s: IPv6 address %s/%u (static) and link-local%s%s\n", n->name, text, (unsigned)c->prefix6,
             gw[0] ? ", gateway " : "", gw);
}

void netd_ip6_refresh(struct nic *n)
{
    if (!n->fw || n->index >= FW_MAX_IFACES)
        return;
    struct fw6_iface *f = &n->fw->v6.ifaces.ifs[n->index];
    f->n = 0;
    if (!n->netif_added)
        return;
    for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES && f->n < FW6_ADDRS; i++) {
        if (!ip6_addr_isvalid(netif_ip6_addr_state(&n->netif, i)))
            continue;
        memcpy(f->a[f->n], netif_ip6_addr(&n->netif, i)->addr, 16);
        bool is_static = n->cfg && n->cfg->mode6 == NETD_IF6_STATIC &&
                         memcmp(n->cfg->addr6, netif_ip6_addr(&n->netif, i)->addr, 16) == 0;
        f->prefix[f->n] = is_static ? n->cfg->prefix6 : 64; /* link-local and SLAAC addresses: /64 */
        f->n++;
    }
}

void netd_ip6_refresh_all(void)
{
    for (unsigned k = 0; k < NETD_MAX_IFS; k++)
        if (nics[k])
            netd_ip6_refresh(nics[k]);
}

/* The NIC whose static IPv6 prefix holds A (the longest), or NULL. */
static struct nic *static_owner_bytes(const uint8_t *a)
{
    struct nic *best = NULL;
    for (unsigned k = 0; k < NETD_MAX_IFS; k++) {
        struct nic *n = nics[k];
        if (!n || !n->netif_added || !n->cfg || n->cfg->mode6 != NETD_IF6_STATIC || !netif_is_up(&n->netif) ||
            !netif_is_link_up(&n->netif))
            continue;
        if (in_prefix(a, n->cfg->addr6, n->cfg->prefix6) && (!best || n->cfg->prefix6 > best->cfg->prefix6))
            best = n;
    }
    return best;
}

static struct nic *static_owner(const ip6_addr_t *dest) { return static_owner_bytes((const uint8_t *)dest->addr); }

/* The up netif on which A (global or unique-local) is on-link now: a
 * static prefix, the /64 of a valid address, or an advertised prefix. */
static struct netif *onlink_netif(const uint8_t *a)
{
    struct nic *n = static_owner_bytes(a);
    if (n)
        return &n->netif;
    struct netif *ni;
    NETIF_FOREACH(ni)
    {
        if (!netif_is_up(ni) || !netif_is_link_up(ni))
            continue;
        for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
            if (ip6_addr_isvalid(netif_ip6_addr_state(ni, i)) &&
                in_prefix(a, (const uint8_t *)netif_ip6_addr(ni, i)->addr, 64))
                return ni;
    }
    for (int i = 0; i < LWIP_ND6_NUM_PREFIXES; i++) {
        const struct nd6_prefix_list_entry *p = &prefix_list[i];
        if (p->netif && p->invalidation_timer && netif_is_up(p->netif) && netif_is_link_up(p->netif) &&
            in_prefix(a, (const uint8_t *)p->prefix.addr, 64))
            return p->netif;
    }
    return NULL;
}

static bool gw_usable(void *ctx, const uint8_t gw[16])
{
    (void)ctx;
    return onlink_netif(gw) != NULL;
}

/* The static IPv6 route for DEST whose gateway is on-link, or NULL. */
static const struct netd_route6 *route6_for(const ip6_addr_t *dest)
{
    for (unsigned k = 0; k < NETD_MAX_IFS; k++)
        if (nics[k] && nics[k]->fw)
            return netd_route6_lookup(&nics[k]->fw->routes, (const uint8_t *)dest->addr, gw_usable, NULL);
    return NULL;
}

/* True iff a router advertisement gave a default router that is still valid. */
static bool ra_router(void)
{
    for (int i = 0; i < LWIP_ND6_NUM_ROUTERS; i++)
        if (default_router_list[i].neighbor_entry && default_router_list[i].invalidation_timer)
            return true;
    return false;
}

/* The NIC whose static clause's gateway is on-link now (its netif in
 * *VIA), when no advertisement gave a default router; else NULL. */
static struct nic *static_gateway(struct netif **via)
{
    if (ra_router())
        return NULL;
    for (unsigned k = 0; k < NETD_MAX_IFS; k++) {
        struct nic *n = nics[k];
        if (!n || !n->netif_added || !n->cfg || n->cfg->mode6 != NETD_IF6_STATIC || !n->cfg->has_gateway6)
            continue;
        *via = onlink_netif(n->cfg->gateway6);
        if (*via)
            return n;
    }
    return NULL;
}

struct netif *netd_ip6_route(const ip6_addr_t *src, const ip6_addr_t *dest)
{
    (void)src;
    struct nic *n = static_owner(dest);
    if (n)
        return &n->netif;
    const uint8_t *d = (const uint8_t *)dest->addr;
    if (ip6_addr_islinklocal(dest) || ip6_addr_ismulticast(dest) || onlink_netif(d))
        return NULL; /* connected: lwIP's own choice */
    const struct netd_route6 *r = route6_for(dest);
    if (r)
        return onlink_netif(r->gw);
    struct netif *via = NULL;
    if (static_gateway(&via))
        return via;
    return NULL; /* lwIP: a router of an advertisement, or no route */
}

const ip6_addr_t *netd_nd6_gw(struct netif *netif, const ip6_addr_t *dest)
{
    static ip6_addr_t gw; /* lwIP copies it at once (nd6_get_next_hop_entry); main thread only */
    struct nic *n = static_owner(dest);
    if (n)
        return &n->netif == netif ? dest : NULL; /* on-link: resolve DEST itself */
    const struct netd_route6 *r = route6_for(dest);
    struct netif *via = NULL;
    if (r) {
        if (onlink_netif(r->gw) != netif)
            return NULL;
        to_lwip(&gw, r->gw);
        return &gw;
    }
    struct nic *g = static_gateway(&via);
    if (!g || via != netif)
        return NULL;
    to_lwip(&gw, g->cfg->gateway6);
    return &gw;
}

struct netif *netd_ip6_netif(unsigned k)
{
    return k < NETD_MAX_IFS && nics[k] && nics[k]->netif_added ? &nics[k]->netif : NULL;
}
