/*
 * netd_route.h - netd's static routes: `route A.B.C.D/P via G` and
 * `route IPV6/P via G` lines of appliance.conf, looked up by longest
 * prefix, each family in a table of its own.
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
 * IPv6 (netd_ip6.c, LWIP_HOOK_IP6_ROUTE and LWIP_HOOK_ND6_GET_GW) follows
 * the same order: a connected network (a static address's prefix, an
 * address's /64, an on-link prefix of a router advertisement) wins; then
 * the static IPv6 route with the longest prefix whose gateway is on a
 * connected network now; then a default router of a router advertisement;
 * then the interface's static IPv6 `gateway`, if its gateway is on-link.
 *
 * The table is part of the configuration netd applies: it is replaced as a
 * whole with the firewall's rule set (netd_fw_conf.c), never half-updated.
 *
 * Invariants of struct netd_routes: n <= NETD_ROUTES_MAX; every entry has
 * 1 <= prefix <= 32, net has no bits outside its prefix, gw is a unicast
 * address (not 0.0.0.0, not 255.255.255.255, not multicast, not loopback);
 * no two entries have the same net and prefix.  Addresses are host order.
 * Every entry of r6 has 1 <= prefix <= 128, net with no bits outside its
 * prefix and not link-local or multicast, gw a global or unique-local
 * unicast address (not ::, ::1, IPv4-mapped, multicast, link-local); no
 * two have the same net and prefix; n + n6 <= NETD_ROUTES_MAX.  IPv6
 * addresses are 16 bytes in network order.
 *
 * Pure C (no lwIP): built for the guest and for the host unit test.
 */
#ifndef NETD_ROUTE_H
#define NETD_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#define NETD_ROUTES_MAX 32 /* of both families together (appliance.conf's CONF_MAX_ROUTES) */

struct netd_route {
    uint32_t net;   /* host order, host bits zero */
    uint32_t gw;    /* host order */
    uint8_t prefix; /* 1-32 */
    unsigned line;  /* its line in the configuration, for messages */
};

struct netd_route6 {
    uint8_t net[16]; /* network order, host bits zero */
    uint8_t gw[16];  /* network order */
    uint8_t prefix;  /* 1-128 */
    unsigned line;
};

struct netd_routes {
    unsigned n;
    struct netd_route r[NETD_ROUTES_MAX];
    unsigned n6;
    struct netd_route6 r6[NETD_ROUTES_MAX];
};

enum netd_route_error {
    NETD_ROUTE_OK = 0,
    NETD_ROUTE_E_PREFIX = -1,    /* prefix 0 (the default route is an interface's gateway) or > 32 (> 128) */
    NETD_ROUTE_E_HOST_BITS = -2, /* the network has bits set beyond its prefix */
    NETD_ROUTE_E_GATEWAY = -3,   /* not a unicast gateway (IPv6: not global or unique-local) */
    NETD_ROUTE_E_DUPLICATE = -4, /* the same network and prefix twice */
    NETD_ROUTE_E_FULL = -5,      /* more than NETD_ROUTES_MAX routes */
    NETD_ROUTE_E_NETWORK = -6,   /* IPv6: a link-local or multicast network */
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

/* Adds an IPv6 route (16-byte addresses, network order) to T after
 * checking it; T is unchanged on error. */
int netd_route6_add(struct netd_routes *t, const uint8_t net[16], unsigned prefix, const uint8_t gw[16], unsigned line)
    __attribute__((warn_unused_result));

/*
 * The IPv6 route for DEST: the longest prefix holding it among the routes
 * for which USABLE(CTX, gw) is true; NULL if none.  USABLE may be NULL.
 */
const struct netd_route6 *netd_route6_lookup(const struct netd_routes *t, const uint8_t dest[16],
                                             bool (*usable)(void *ctx, const uint8_t gw[16]), void *ctx);

/* True iff A lies in NET/PREFIX (16-byte addresses; PREFIX 0-128). */
bool netd_route6_in(const uint8_t a[16], const uint8_t net[16], unsigned prefix);

/* 255.255.255.0 for 24; 0 for 0. */
static inline uint32_t netd_route_mask(unsigned prefix) { return prefix ? ~0u << (32 - prefix) : 0; }

#endif
