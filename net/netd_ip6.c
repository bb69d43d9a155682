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
 * IPv6 routing beyond that (static IPv6 routes, a static IPv6 gateway) is
 * not done: the default route of IPv6 is a router that advertised itself.
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
#include "lwip/netif.h"
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
    if (e != ERR_OK)
        ulog("netd: %s: IPv6 address %s/%u refused by lwIP (error %d)\n", n->name, text, (unsigned)c->prefix6, (int)e);
    else
        ulog("netd: %s: IPv6 address %s/%u (static) and link-local\n", n->name, text, (unsigned)c->prefix6);
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

/* The NIC whose static IPv6 prefix holds DEST (the longest), or NULL. */
static struct nic *static_owner(const ip6_addr_t *dest)
{
    struct nic *best = NULL;
    for (unsigned k = 0; k < NETD_MAX_IFS; k++) {
        struct nic *n = nics[k];
        if (!n || !n->netif_added || !n->cfg || n->cfg->mode6 != NETD_IF6_STATIC || !netif_is_up(&n->netif) ||
            !netif_is_link_up(&n->netif))
            continue;
        if (in_prefix((const uint8_t *)dest->addr, n->cfg->addr6, n->cfg->prefix6) &&
            (!best || n->cfg->prefix6 > best->cfg->prefix6))
            best = n;
    }
    return best;
}

struct netif *netd_ip6_route(const ip6_addr_t *src, const ip6_addr_t *dest)
{
    (void)src;
    struct nic *n = static_owner(dest);
    return n ? &n->netif : NULL;
}

const ip6_addr_t *netd_nd6_gw(struct netif *netif, const ip6_addr_t *dest)
{
    struct nic *n = static_owner(dest);
    return n && &n->netif == netif ? dest : NULL; /* on-link: resolve DEST itself */
}

struct netif *netd_ip6_netif(unsigned k)
{
    return k < NETD_MAX_IFS && nics[k] && nics[k]->netif_added ? &nics[k]->netif : NULL;
}
