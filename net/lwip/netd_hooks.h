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

#endif
