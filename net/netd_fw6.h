/*
 * netd_fw6.h - the firewall's IPv6 half (net/firewall/fw6.h) in netd's
 * packet path: netd_fw_packet hands every IPv6 frame (ethertype 0x86dd)
 * here.  Design comment in netd_fw6.c.
 */
#ifndef NETD_FW6_H
#define NETD_FW6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw6.h"
#include "netd_config.h"

struct netd_fw;

struct netd_fw6_counters {
    uint64_t off;         /* IPv6 frames on a NIC without IPv6 (no IPv6 clause): dropped */
    uint64_t nd;          /* ND, MLD, packet too big: passed before the rules */
    uint64_t skipped;     /* set skip on */
    uint64_t malformed;   /* dropped by fw6_parse (by reason in eng.stats) */
    uint64_t mss_clamped; /* TCP SYNs whose scrub (max-mss) lowered the MSS */
    uint64_t returns_sent, returns_limited, returns_skipped; /* block return answers */
    uint64_t modulated; /* packets modulate state rewrote (TCP sequence space, an error's quote) */
};

#define NETD_FW6_RETURNS 8 /* IPv6 `block return` answers queued within one loop iteration */

/* A blocked IPv6 packet waiting for its answer (built at the flush, when
 * lwIP can say which netif and source address). */
struct netd_fw6_return {
    uint8_t dir, nic; /* where it was blocked */
    bool rst;         /* a TCP RST, else an ICMPv6 unreachable with code */
    uint8_t code;
    uint16_t len; /* bytes of pkt: the blocked packet, cut to what an answer can quote */
    struct fw6_packet p;
    uint8_t pkt[FW6_RETURN_MAX];
};

/* netd's IPv6 firewall: part of struct netd_fw (main thread only). */
struct netd_fw6 {
    struct fw6_engine eng; /* eng.rules follows the IPv4 engine's active set */
    struct fw6_state_table table;
    struct fw6_ifaces ifaces;   /* NIC k's IPv6 addresses (netd_ip6.c keeps them) */
    bool enabled[NETD_MAX_IFS]; /* NIC k has an IPv6 clause */
    struct netd_fw6_counters c;
    unsigned n_returns;
    struct netd_fw6_return returns[NETD_FW6_RETURNS];
};

/* Empty state table keyed by KEY, no IPv6 anywhere. */
void netd_fw6_init(struct netd_fw6 *f, uint64_t key);

/* The verdict for the IPv6 frame FRAME (LEN bytes) in direction DIR on NIC
 * NIC: true passes.  Called by netd_fw_packet for ethertype 0x86dd. */
bool netd_fw6_packet(struct netd_fw *fw, unsigned dir, unsigned nic, uint8_t *frame, size_t len, bool csum_partial);

#endif
