/*
 * netd_hooks.h - lwIP hooks netd installs (LWIP_HOOK_FILENAME in
 * lwipopts.h; lwIP includes this file in the sources that use hooks).
 *
 *   LWIP_HOOK_TCP_ISN   RFC 6528 initial sequence numbers (net/netd_rand.c)
 *                       instead of lwIP's default, which is a global counter
 *                       anyone can predict from one connection.
 *
 * The firewall (net/firewall/) will add its packet hooks here or filter in
 * the netif driver (net/nic_netif.c, before ethernet_input and in
 * linkoutput); see the design comment there.
 */
#ifndef NETD_HOOKS_H
#define NETD_HOOKS_H

#include "lwip/ip_addr.h"

u32_t netd_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip, u16_t remote_port);
#define LWIP_HOOK_TCP_ISN(lip, lport, rip, rport) netd_tcp_isn((lip), (lport), (rip), (rport))

#endif
