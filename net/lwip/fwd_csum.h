/*
 * fwd_csum.h - netd's netif->output for lwIP 2.2: checksums of forwarded
 * IPv4 packets restored (fwd_csum.c says why), then etharp_output.
 */
#ifndef NETD_FWD_CSUM_H
#define NETD_FWD_CSUM_H

#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"

err_t netd_fwd_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *ipaddr);

#endif
