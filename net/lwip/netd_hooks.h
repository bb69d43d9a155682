/*
 * netd_hooks.h - lwIP hooks netd installs (LWIP_HOOK_FILENAME in
 * lwipopts.h; lwIP includes this file in the sources that use hooks).
 *
 *   LWIP_HOOK_TCP_ISN   RFC 6528 initial sequence numbers (net/netd_rand.c)
 *                       instead of lwIP's default, which is a global counter
 *                       anyone can predict from one connection.
 *   LWIP_HOOK_UNKNOWN_ETH_PROTOCOL
 *                       test command frames (ethertype 0x88b5), obeyed only
 *                       with `debug=1` in netd's args (net/netd.c); any
 *                       other unknown frame is dropped and counted by lwIP.
 *
 *   LWIP_HOOK_IP4_ROUTE, LWIP_HOOK_ETHARP_GET_GW
 *                       static routes (net/netd_route.h): the netif and the
 *                       next hop for a destination on no connected network.
 *
 *   LWIP_HOOK_IP6_ROUTE, LWIP_HOOK_ND6_GET_GW
 *                       on-link IPv6 prefixes of static addresses other
 *                       than lwIP's implied /64, static IPv6 routes and the
 *                       static clause's IPv6 gateway (net/netd_ip6.c).
 *
 * The firewall (net/firewall/, glued in by net/netd_fw.c) filters in the
 * netif driver (net/nic_netif.c: before ethernet_input and in linkoutput),
 * not through lwIP hooks; see the design comment there.
 */
#ifndef NETD_HOOKS_H
#define NETD_HOOKS_H

#include "lwip/err.h"
#include "lwip/ip_addr.h"

struct pbuf;
struct netif;

u32_t netd_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip, u16_t remote_port);
#define LWIP_HOOK_TCP_ISN(lip, lport, rip, rport) netd_tcp_isn((lip), (lport), (rip), (rport))

/* ERR_OK: the frame was a command and is consumed (freed); anything else:
 * not ours, lwIP drops it. */
err_t netd_unknown_eth(struct pbuf *p, struct netif *netif);
#define LWIP_HOOK_UNKNOWN_ETH_PROTOCOL(p, netif) netd_unknown_eth((p), (netif))

/* The up netif with an address whose connected network holds GW (host
 * order), or NULL: where a static route's gateway is reached now. */
struct netif *netif_for_gateway(uint32_t gw);

/* The netif of the static route for DEST, or NULL (lwIP then takes the
 * default netif). */
struct netif *netd_route_netif(const ip4_addr_t *dest);
#define LWIP_HOOK_IP4_ROUTE(dest) netd_route_netif(dest)

/* The gateway of the static route for DEST if it leaves through NETIF, or
 * NULL (lwIP then takes NETIF's own gateway). */
const ip4_addr_t *netd_route_gateway(struct netif *netif, const ip4_addr_t *dest);
#define LWIP_HOOK_ETHARP_GET_GW(netif, dest) netd_route_gateway((netif), (dest))

/* IPv6 (net/netd_ip6.c): the netif whose static prefix holds DEST, else
 * NULL for a connected DEST (lwIP's own choice), else the netif of the
 * static IPv6 route's or the static gateway's next hop, or NULL. */
struct netif *netd_ip6_route(const ip6_addr_t *src, const ip6_addr_t *dest);
#define LWIP_HOOK_IP6_ROUTE(src, dest) netd_ip6_route((src), (dest))

/* DEST itself when it is on NETIF's static prefix (resolve it directly),
 * the gateway of DEST's static IPv6 route or the static IPv6 gateway when
 * it is reached through NETIF, or NULL (lwIP picks a router). */
const ip6_addr_t *netd_nd6_gw(struct netif *netif, const ip6_addr_t *dest);
#define LWIP_HOOK_ND6_GET_GW(netif, dest) netd_nd6_gw((netif), (dest))

#endif
