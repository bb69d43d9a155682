/*
 * netd_route.h - netd's static routes: `route A.B.C.D/P via G` lines of
 * appliance.conf, looked up by longest prefix.
 *
 * Where they sit in lwIP's choice of a next hop (ip4_route, etharp_output):
 *   1. a connected network (an up netif whose prefix holds the destination)
 *      always wins, as in any router;
 *   2. else the static route with the longest prefix that holds the
 *      destination, if its gateway lies on a connected network now (the
 *      LWIP_HOOK_IP4_ROUTE and LWIP_HOOK_ETHARP_GET_GW hooks, netd.c); a
 *      route whose gateway is on no connected network (its interface has
 *      no address yet, or lost it) is skipped, not an error: DHCP may give
 *      the address later;
 *   3. else the default route (the interface `gateway`, or a DHCP lease's
 *      router), else no route (lwIP counts rterr and drops).
 *
 * The table is part of the configuration netd applies: it is replaced as a
 * whole with the firewall's rule set (netd_fw.c), never half-updated.
 *
 * Invariants of struct netd_routes: n <= NETD_ROUTES_MAX; every entry has
 * 1 <= prefix <= 32, net has no bits outside its prefix, gw is a unicast
 * address (not 0.0.0.0, not 255.255.255.255, not multicast, not loopback);
 * no two entries have the same net and prefix.  Addresses are host order.
 *
 * Pure C (no lwIP): built for the guest and for the host unit test.
 */
#ifndef NETD_ROUTE_H
#define NETD_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#define NETD_ROUTES_MAX 32

struct netd_route {
    uint32_t net;   /* host order, host bits zero */
    uint32_t gw;    /* host order */
    uint8_t prefix; /* 1-32 */
    unsigned line;  /* its line in the configuration, for messages */
};

struct netd_routes {
    unsigned n;
    struct netd_route r[NETD_ROUTES_MAX];
};

enum netd_route_error {
    NETD_ROUTE_OK = 0,
    NETD_ROUTE_E_PREFIX = -1,    /* prefix 0 (the default route is an interface's gateway) or > 32 */
    NETD_ROUTE_E_HOST_BITS = -2, /* the network has bits set beyond its prefix */
    NETD_ROUTE_E_GATEWAY = -3,   /* not a unicast gateway */
    NETD_ROUTE_E_DUPLICATE = -4, /* the same network and prefix twice */
    NETD_ROUTE_E_FULL = -5,      /* more than NETD_ROUTES_MAX routes */
};

/* Adds a route to T after checking it; T is unchanged on error. */
int netd_route_add(struct netd_routes *t, uint32_t net, unsigned prefix, uint32_t gw, unsigned line)
    __attribute__((warn_unused_result));

/* What an error means, for "expected ..." messages. */
const char *netd_route_strerror(int err);

/*
 * The route for DEST: the longest prefix holding it among the routes for
 * which USABLE(CTX, gw) is true (the gateway is on a connected network);
 * NULL if none.  USABLE may be NULL (every route is usable).
 */
const struct netd_route *netd_route_lookup(const struct netd_routes *t, uint32_t dest,
                                           bool (*usable)(void *ctx, uint32_t gw), void *ctx);

/* 255.255.255.0 for 24; 0 for 0. */
static inline uint32_t netd_route_mask(unsigned prefix) { return prefix ? ~0u << (32 - prefix) : 0; }

#endif
