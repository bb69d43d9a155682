/*
 * netd_ip6.h - IPv6 on netd's netifs: an interface line's IPv6 clause
 * applied to lwIP (link-local, static address, SLAAC), the routes lwIP asks
 * for (netd_hooks.h), and the addresses the firewall's IPv6 half matches.
 * Design comment in netd_ip6.c.
 */
#ifndef NETD_IP6_H
#define NETD_IP6_H

#include <stdbool.h>
#include <stdint.h>

struct nic;

/* Applies N's configuration's IPv6 clause (n->cfg; NULL or mode6 NONE:
 * IPv6 off) to its netif, replacing whatever IPv6 address it had but the
 * link-local one.  Call after netif_add and after every reconfiguration. */
void netd_ip6_apply(struct nic *n);

/* Copies N's valid IPv6 addresses into the firewall (n->fw->v6.ifaces);
 * called on every IPv6 frame before filtering (a SLAAC address may have
 * come or gone since). */
void netd_ip6_refresh(struct nic *n);

/* netd_ip6_refresh for every NIC with a netif. */
void netd_ip6_refresh_all(void);

/* The netif of NIC K (connection index), or NULL while it has none. */
struct netif *netd_ip6_netif(unsigned k);

#endif
