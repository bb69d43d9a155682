/*
 * netd_route.c - the static route table (see netd_route.h for where it sits
 * in lwIP's next-hop choice and its invariants).  A linear scan: at most
 * NETD_ROUTES_MAX entries, looked up only for destinations that are on no
 * connected network, so a trie would buy nothing here.
 */
#include "netd_route.h"

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
    if (t->n == NETD_ROUTES_MAX)
        return NETD_ROUTE_E_FULL;
    t->r[t->n++] = (struct netd_route){ .net = net, .gw = gw, .prefix = (uint8_t)prefix, .line = line };
    return NETD_ROUTE_OK;
}

const char *netd_route_strerror(int err)
{
    switch (err) {
    case NETD_ROUTE_OK: return "ok";
    case NETD_ROUTE_E_PREFIX: return "expected a prefix length 1-32 (the default route is an interface's gateway)";
    case NETD_ROUTE_E_HOST_BITS: return "expected a network address (no bits set beyond the prefix)";
    case NETD_ROUTE_E_GATEWAY: return "expected a unicast gateway address";
    case NETD_ROUTE_E_DUPLICATE: return "expected a network no other route line names";
    case NETD_ROUTE_E_FULL: return "expected at most 32 route lines";
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
