/*
 * netd_config.h - netd's interim interface configuration, read from the
 * server's manifest `args` word until appliance.conf arrives (the config
 * issue); then the same struct is filled from `interface` lines instead.
 *
 * Format: comma-separated items, no spaces (the manifest's args is one word
 * of [A-Za-z0-9-_.=,:/], at most 127 characters):
 *
 *   NAME=dhcp              DHCP client on NIC connection NAME
 *   NAME=A.B.C.D/P         static address with prefix length P (1-32)
 *   NAME=A.B.C.D/P:G       ... and default gateway G (must be inside the
 *                          prefix); that interface carries the default route
 *   stats=S                log lwIP's pool use and netd's counters every S
 *                          seconds (0, the default: never)
 *   debug=1                TEST BOOTS ONLY: obey command frames (ethertype
 *                          0x88b5, netd.c) that log statistics or crash a
 *                          driver or netd on purpose; never in a product
 *                          manifest (anyone on the link could use them)
 *
 * NAME is a NIC connection's name as the manifest grants it (caps ep:NAME,
 * shm:NAME, notify:NAME), e.g. `nic0=10.9.0.2/24,nic1=dhcp,stats=30`.
 * At most one item per NAME and one gateway in all.  A NIC without an item
 * comes up with no address (it forwards nothing and answers nothing).
 *
 * Pure code: builds for the host (tests/unit style test in
 * net/tests/test_netd_config.c) and for the guest.
 */
#ifndef NETD_CONFIG_H
#define NETD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETD_MAX_IFS     8
#define NETD_IF_NAME_MAX 16 /* with the NUL; the manifest allows 15 characters */

enum netd_if_mode {
    NETD_IF_NONE = 0, /* no item for this NIC */
    NETD_IF_STATIC,
    NETD_IF_DHCP,
};

enum netd_if6_mode {
    NETD_IF6_NONE = 0, /* no IPv6 on this NIC (IPv6 frames are dropped) */
    NETD_IF6_STATIC,   /* addr6/prefix6 and the link-local address */
    NETD_IF6_AUTOCONF, /* SLAAC from router advertisements and the link-local address */
};

/* mode NONE with mode6 set: an IPv6-only interface (appliance.conf only;
 * the args items are IPv4). */
struct netd_if_cfg {
    char name[NETD_IF_NAME_MAX];
    enum netd_if_mode mode;
    uint8_t addr[4];  /* NETD_IF_STATIC: the address, network order */
    uint8_t prefix;   /* NETD_IF_STATIC: 1-32 */
    bool has_gateway; /* NETD_IF_STATIC: a gateway was given */
    uint8_t gateway[4];
    uint8_t mode6;        /* enum netd_if6_mode (net/netd_ip6.c) */
    uint8_t prefix6;      /* NETD_IF6_STATIC: 1-128 */
    uint8_t addr6[16];    /* NETD_IF6_STATIC: network order */
    bool has_gateway6;    /* NETD_IF6_STATIC: an IPv6 default gateway was given */
    uint8_t gateway6[16]; /* has_gateway6: network order, inside addr6/prefix6 */
};

struct netd_config {
    unsigned n_ifs;
    struct netd_if_cfg ifs[NETD_MAX_IFS];
    unsigned stats_seconds; /* 0: no periodic statistics */
    bool debug;             /* obey test command frames */
};

/* Errors (negative). */
enum netd_config_error {
    NETD_CONFIG_OK = 0,
    NETD_CONFIG_E_SYNTAX = -1, /* ERR says "args:COLUMN: what was expected" */
};

/*
 * Parses ARGS (NUL-terminated) into OUT.  Returns NETD_CONFIG_OK, or
 * NETD_CONFIG_E_SYNTAX with the first error in ERR (ERRLEN bytes, always
 * terminated when ERRLEN > 0) and OUT emptied (no interface configured: a
 * bad configuration never half-applies).
 */
int netd_config_parse(const char *args, struct netd_config *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The item for NAME, or NULL. */
const struct netd_if_cfg *netd_config_find(const struct netd_config *c, const char *name);

#endif
