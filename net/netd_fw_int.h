/*
 * netd_fw_int.h - what the files of netd's firewall glue share and nobody
 * else uses: netd_fw.c (the IPv4 filter path), netd_fw6.c (the IPv6 one),
 * netd_fw_conf.c (the configuration), netd_fw_return.c (`block return`).
 * Main thread only, like all of struct netd_fw.
 */
#ifndef NETD_FW_INT_H
#define NETD_FW_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fw6.h"
#include "fw_match.h"
#include "netd_fw.h"

#define NETD_FW_BROADCAST 0xffffffffu /* 255.255.255.255, host order */

/* netd_fw_conf.c: the boot's load, netd_fw_init's last step (the
 * interface table without a configuration, then appliance.conf from the
 * site archive: its addresses and its rule set).  0 or a NETD_FW_E_*. */
int netd_fw_conf_boot(struct netd_fw *fw);

/* netd_fw_return.c: queues the answer `block return` asks for to the
 * blocked IPv4 packet P with verdict V; IP is its IPv4 header (already
 * validated by fw_parse_ether), LEN bytes of buffer.  Counts what it does
 * not queue; netd_fw_flush sends the queue. */
void netd_fw_queue_return(struct netd_fw *fw, const struct fw_packet *p, const struct fw_verdict *v, const uint8_t *ip,
                          size_t len);

/* The same for the blocked IPv6 packet P (IP: its IPv6 header, LEN bytes). */
void netd_fw6_queue_return(struct netd_fw *fw, const struct fw6_packet *p, const struct fw_verdict *v,
                           const uint8_t *ip, size_t len);

#endif
