/*
 * netd_fw.h - the stateful firewall (net/firewall/) in netd's packet path,
 * and netd's reader of appliance.conf from the site archive.  Design
 * comment in netd_fw.c; the functions live by seam in netd_fw.c (init,
 * the path, the tick), netd_fw_conf.c (prepare, commit, abort, reload,
 * the addresses), netd_fw_return.c (flush) and netd_fw_stats.c (logs).
 */
#ifndef NETD_FW_H
#define NETD_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "fw_log.h"
#include "fw_match.h"
#include "netd_config.h"
#include "netd_fw6.h"
#include "netd_route.h"

#define NETD_FW_STATES      16384 /* kept states: a full table blocks new connections, never evicts */
#define NETD_FW_BUCKETS     16384 /* power of two */
#define NETD_FW_SRCS        1024  /* max-src-conn-rate sources; power of two */
#define NETD_FW_NAT_BUCKETS 4096  /* chains of translated keys (fw_nat.h); power of two */
#define NETD_FW_RETURNS     16    /* `block return` answers queued within one loop iteration */
#define NETD_FW_FILE        "appliance.conf"
#define NETD_FW_ERR_MAX     CONF_MSG_MAX /* "appliance.conf:LINE:COL: expected ...": as long as the parser's */

/* Errors (negative). */
enum netd_fw_error {
    NETD_FW_OK = 0,
    NETD_FW_E_NO_SITE = -1,      /* no site archive (no `site` grant, or it is empty or damaged) */
    NETD_FW_E_NO_FILE = -2,      /* the site archive has no such file */
    NETD_FW_E_PARSE = -3,        /* the file does not parse: "FILE:LINE:COL: ..." in the error buffer */
    NETD_FW_E_NOT_PREPARED = -4, /* netd_fw_commit without a prepared set (or a reload since) */
};

/* A `block return` answer waiting for the end of the loop iteration. */
struct netd_fw_return {
    uint8_t kind;          /* RET_RST or RET_ICMP (netd_fw_return.c) */
    uint8_t code;          /* ICMP: the destination-unreachable code */
    uint32_t src, dst;     /* the blocked packet's addresses, host order */
    uint16_t sport, dport; /* its ports (RST) */
    uint32_t seq, ack;     /* RST: the answer's sequence and acknowledgement numbers */
    uint8_t quote[28];     /* ICMP: the blocked packet's IP header (20 bytes) and 8 bytes of data */
    uint8_t quote_len;     /* bytes of quote used */
};

/* netd's own firewall counters (the engine's are in eng.stats and the rules). */
struct netd_fw_counters {
    uint64_t passed[FW_R_LAST + 1];  /* by enum fw_reason */
    uint64_t blocked[FW_R_LAST + 1]; /* by enum fw_reason */
    uint64_t not_ipv4;               /* frames passed untouched (ARP, command frames, IPv6) */
    uint64_t dhcp;                   /* our DHCP client's packets, passed before the rules */
    uint64_t generated;              /* our `block return` answers, passed without the rules */
    uint64_t skipped;                /* packets on `set skip on` interfaces, passed unfiltered */
    uint64_t mss_clamped;            /* TCP SYNs whose MSS scrub (max-mss) lowered */
    uint64_t nat_rewrite_failed;     /* translated verdicts the packet was too short to take (dropped) */
    uint64_t modulated;              /* packets whose TCP sequence space modulate state rewrote */
    uint64_t returns_sent, returns_limited, returns_skipped;
    uint64_t loads, load_failures; /* rule sets made active (the first included), texts refused */
};

/*
 * Everything the firewall keeps: the engine with its two rule sets (active
 * and spare), the state table and its storage, the interface table and
 * the rate limiters.  Main thread only (netd's loop), like lwIP.
 */
struct netd_fw {
    struct fw_engine eng;     /* eng.rules: the active set, one of sets[] */
    struct fw_ruleset *spare; /* the other one of sets[]: the next parse goes here */
    struct fw_ruleset sets[2];
    struct fw_ifaces ifaces;   /* eng.ifaces: index k < n_nics is NIC k, then absent NICs' names */
    struct netd_routes routes; /* the static routes of the configuration in force (netd_route.h) */
    struct fw_state_table table;
    struct fw_state slots[NETD_FW_STATES];
    uint32_t buckets[NETD_FW_BUCKETS];
    struct fw_src_node srcs[NETD_FW_SRCS];
    struct fw_nat nat; /* table.nat: translated keys, one side per slot */
    struct fw_nat_side nat_sides[NETD_FW_STATES];
    uint32_t nat_buckets[NETD_FW_NAT_BUCKETS];
    struct fw_ratelimit log_rl;    /* blocked-packet and malformed-packet log lines */
    struct fw_ratelimit return_rl; /* `block return` answers */
    uint64_t now;                  /* the loop's clock, ns (netd_fw_tick) */
    uint64_t next_expire_ns;

    const uint8_t *site; /* the site archive, mapped read-only; NULL: none */
    size_t site_size;
    char source[32]; /* the file the active set came from; "" while deny-all */
    uint8_t skip;    /* bit k: interface k is not filtered (set skip on) */
    /* The addresses of the file read at start (interface lines that parsed). */
    struct netd_if_cfg boot_if[NETD_MAX_IFS]; /* mode NONE: unused */
    unsigned boot_nic[NETD_MAX_IFS];          /* the `nic N` of boot_if[i] */
    /* Two-phase loads (netd_fw_prepare/commit): the spare holds a parsed set. */
    bool prepared;
    struct fw_ifaces prep_ifs;                /* its interface table */
    struct netd_routes prep_routes;           /* its static routes */
    uint8_t prep_skip;                        /* its set skip on */
    struct netd_if_cfg prep_if[NETD_MAX_IFS]; /* its interface lines' addresses: boot_if after the commit */
    unsigned prep_nic[NETD_MAX_IFS];          /* and their NICs: boot_nic after the commit */
    char prep_source[32];                     /* and where it came from */

    unsigned n_nics;
    char nic_names[NETD_MAX_IFS][NETD_IF_NAME_MAX];
    unsigned nic_numbers[NETD_MAX_IFS]; /* connection k drives PCI NIC nic_numbers[k] (`nic N`) */
    bool nic_dhcp[NETD_MAX_IFS];        /* that NIC runs lwIP's DHCP client */

    bool generating; /* sending our own `block return` answers: linkoutput passes them */
    unsigned n_returns;
    struct netd_fw_return returns[NETD_FW_RETURNS];
    struct netd_fw_counters c;
    struct netd_fw6 v6; /* the IPv6 half (netd_fw6.h) */
};

/*
 * Sets the firewall up for N_NICS NICs named NIC_NAMES (netd's connection
 * names, in discovery order) with deny-all in force, then reads
 * appliance.conf from the site archive SITE (SITE_SIZE bytes; NULL: none)
 * and makes its rules the active set.  The archive must stay mapped.
 * Returns NETD_FW_OK, or an error with deny-all in force (logged: "netd:
 * firewall: ..." with the file, line and column of a parse error).
 * netd_rand32 must be seeded (the state table's hash key).
 */
int netd_fw_init(struct netd_fw *fw, const char (*nic_names)[NETD_IF_NAME_MAX], const unsigned *nic_numbers,
                 unsigned n_nics, const void *site, size_t site_size, uint64_t now) __attribute__((warn_unused_result));

/* The address configuration appliance.conf gives NIC NIC, or NULL. */
const struct netd_if_cfg *netd_fw_conf_if(const struct netd_fw *fw, unsigned nic);

/*
 * Parses TEXT (LEN bytes) as configuration file FILE into the spare rule
 * set and, if it parses, makes it the active set (kept states survive).
 * Returns NETD_FW_OK, or NETD_FW_E_PARSE with "FILE:LINE:COL: ..." in ERR
 * (ERRLEN bytes) and the active set unchanged.  Logs either way.
 */
int netd_fw_reload(struct netd_fw *fw, const char *file, const char *text, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * The two halves of netd_fw_reload, for a commit across servers: prepare
 * parses into the spare set (NETD_FW_E_PARSE with the error as above, the
 * active set untouched either way); commit makes the prepared set active
 * (NETD_FW_E_NOT_PREPARED when there is none: never prepared, aborted, or
 * overwritten by a reload since); abort forgets it.
 */
int netd_fw_prepare(struct netd_fw *fw, const char *file, const char *text, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int netd_fw_commit(struct netd_fw *fw) __attribute__((warn_unused_result));
void netd_fw_abort(struct netd_fw *fw);

/* The same for file FILE of the site archive (NETD_FW_E_NO_SITE/_NO_FILE when absent). */
int netd_fw_reload_site(struct netd_fw *fw, const char *file) __attribute__((warn_unused_result));

/* NIC NIC now has address ADDR/PREFIX (host order; 0: none) and does or
 * does not run DHCP: for antispoof and the DHCP client's packets. */
void netd_fw_iface_update(struct netd_fw *fw, unsigned nic, uint32_t addr, unsigned prefix, bool dhcp);

/*
 * The verdict for one whole Ethernet frame (FRAME, LEN bytes, no FCS) going
 * DIR (FW_IN: received; FW_OUT: about to be sent) on NIC NIC.  Non-IPv4
 * frames pass; malformed IPv4 is dropped and counted; everything else goes
 * through the rules and states.  Logs blocked packets (rate-limited) and
 * queues `block return` answers for netd_fw_flush.  A passed TCP SYN under
 * scrub (max-mss N) has its MSS option lowered in FRAME; one of a
 * modulated state has its sequence space rewritten (fw_modulate.h).
 * CSUM_PARTIAL: FRAME's TCP/UDP checksum field holds only the pseudo-header
 * sum, to be completed later (a received frame marked NIC_DF_CSUM_PARTIAL);
 * false when it holds a full checksum (or one linkoutput overwrites after
 * this call).  True: pass it.
 */
bool netd_fw_packet(struct netd_fw *fw, unsigned dir, unsigned nic, uint8_t *frame, size_t len, bool csum_partial);

/* Start of a loop iteration: the clock for this iteration's packets, and
 * expired states reclaimed about once a second. */
void netd_fw_tick(struct netd_fw *fw, uint64_t now);

/* Sends the queued `block return` answers through lwIP (after lwIP's timers,
 * before the NICs are flushed). */
void netd_fw_flush(struct netd_fw *fw);

/* When the loop must run next for the firewall (the next expiry sweep). */
uint64_t netd_fw_next_deadline(const struct netd_fw *fw);

/* Logs the firewall's statistics: verdicts by reason, malformed drops by
 * reason, the state table, and per rule evaluations, packets, bytes, states. */
void netd_fw_log_stats(const struct netd_fw *fw);

/* Logs the static routes in force (one line each), as after every load. */
void netd_fw_log_routes(const struct netd_fw *fw);

#endif
