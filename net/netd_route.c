/*
 * netd_route.c - the static route table (see netd_route.h for where it sits
 * in lwIP's next-hop choice and its invariants).  A linear scan: at most
 * NETD_ROUTES_MAX entries, looked up only for destinations that are on no
 * connected network, so a trie would buy nothing here.
 */
#include "netd_route.h"

#include <keel/string.h>

#include "conf_addr.h"

static bool gw_is_unicast(uint32_t gw)
{
    uint8_t top = (uint8_t)(gw >> 24);
    return gw != 0 && gw != 0xffffffffu && top != 127 && (top & 0xf0) != 0xe0;
}

int netd_route_add(struct netd_routes *t, uint32_t net, unsigned prefix, uint32_t gw, unsigned line)
{
    if (prefix == 0 || prefix > 32)
        return NETD_ROUTE_E_PREFIX;
    if (net & ~netd_route_mask(prefix))
        return NETD_ROUTE_E_HOST_BITS;
    if (!gw_is_unicast(gw))
        return NETD_ROUTE_E_GATEWAY;
    for (unsigned i = 0; i < t->n; i++)
        if (t->r[i].net == net && t->r[i].prefix == prefix)
            return NETD_ROUTE_E_DUPLICATE;
    if (t->n + t->n6 >= NETD_ROUTES_MAX)
        return NETD_ROUTE_E_FULL;
    t->r[t->n++] = (struct netd_route){ .net = net, .gw = gw, .prefix = (uint8_t)prefix, .line = line };
    return NETD_ROUTE_OK;
}

const char *netd_route_strerror(int err)
{
    switch (err) {
    case NETD_ROUTE_OK: return "ok";
    case NETD_ROUTE_E_PREFIX:
        return "expected a prefix length 1-32 or 1-128 (the default route is an interface's gateway)";
    case NETD_ROUTE_E_HOST_BITS: return "expected a network address (no bits set beyond the prefix)";
    case NETD_ROUTE_E_GATEWAY: return "expected a unicast gateway address";
    case NETD_ROUTE_E_DUPLICATE: return "expected a network no other route line names";
    case NETD_ROUTE_E_FULL: return "expected at most 32 route lines";
    case NETD_ROUTE_E_NETWORK: return "expected a unicast network (not multicast ff00::/8 or link-local fe80::/10)";
    default: return "unknown route error";
    }
}

const struct netd_route *netd_route_lookup(const struct netd_routes *t, uint32_t dest,
                                           bool (*usable)(void *ctx, uint32_t gw), void *ctx)
{
    const struct netd_route *best = 0;
    for (unsigned i = 0; i < t->n; i++) {
        const struct netd_route *r = &t->r[i];
        if ((dest & netd_route_mask(r->prefix)) != r->net)
            continue;
        if (best && best->prefix >= r->prefix)
            continue;
        if (usable && !usable(ctx, r->gw))
            continue;
        best = r;
    }
    return best;
}

/* ------------------------------------------------------------------ IPv6 -- */

bool netd_route6_in(const uint8_t a[16], const uint8_t net[16], unsigned prefix)
{
    for (unsigned i = 0; i < 16 && prefix > i * 8; i++) {
        unsigned bits = prefix - i * 8;
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);
        if ((a[i] ^ net[i]) & mask)
            return false;
    }
    return true;
}

int netd_route6_add(struct netd_routes *t, const uint8_t net[16], unsigned prefix, const uint8_t gw[16], unsigned line)
{
    if (prefix == 0 || prefix > 128)
        return NETD_ROUTE_E_PREFIX;
    for (unsigned i = prefix / 8; i < 16; i++) {
        uint8_t host = i == prefix / 8 ? (uint8_t)(0xffu >> (prefix % 8)) : 0xff;
        if (net[i] & host)
            return NETD_ROUTE_E_HOST_BITS;
    }
    if (net[0] == 0xff || (net[0] == 0xfe && (net[1] & 0xc0) == 0x80))
        return NETD_ROUTE_E_NETWORK;
    if (!conf_ip6_unicast(gw)) /* the parser's rule for a gateway: not ::, ::1, mapped, multicast, link-local */
        return NETD_ROUTE_E_GATEWAY;
    for (unsigned i = 0; i < t->n6; i++)
        if (t->r6[i].prefix == prefix && memcmp(t->r6[i].net, net, 16) == 0)
            return NETD_ROUTE_E_DUPLICATE;
    if (t->n + t->n6 >= NETD_ROUTES_MAX)
        return NETD_ROUTE_E_FULL;
    struct netd_route6 *r = &t->r6[t->n6++];
    memcpy(r->net, net, 16);
    memcpy(r->gw, gw, 16);
    r->prefix = (uint8_t)prefix;
    r->line = line;
    return NETD_ROUTE_OK;
}

const struct netd_route6 *netd_route6_lookup(const struct netd_routes *t, const uint8_t dest[16],
                                             bool (*usable)(void *ctx, const uint8_t gw[16]), void *ctx)
{
    const struct netd_route6 *best = 0;
    for (unsigned i = 0; i < t->n6; i++) {
        const struct netd_route6 *r = &t->r6[i];
        if (!netd_route6_in(dest, r->net, r->prefix) || (best && best->prefix >= r->prefix))
            continue;
        if (usable && !usable(ctx, r->gw))
            continue;
        best = r;
    }
    return best;
}
