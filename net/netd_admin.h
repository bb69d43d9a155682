/*
 * netd_admin.h - netd's side of the administration protocol
 * (abi/keel/netadm.h): configuration commits, `show` tables, ping.
 * netd_admin.c says how.  Main thread only, like lwIP.
 */
#ifndef NETD_ADMIN_H
#define NETD_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/netadm.h>
#include <keel/server.h>
#include <keel/sys.h>

#include "netd_fw.h"
#include "nic_netif.h"

#define NETD_ADMIN_CLIENTS 2

struct raw_pcb;

/* The one ping in progress (NETADM_PING); idle when count == 0. */
struct netd_ping {
    uint32_t addr;        /* host order; 0 when v6 */
    bool v6;              /* the target is addr6 (netd_admin6.c) */
    uint8_t addr6[16];    /* v6: network order */
    struct raw_pcb *pcb6; /* ICMPv6 echo (netd_admin6.c); kept across pings */
    uint16_t id, seq;
    unsigned count, sent, received;
    uint64_t next_ns;                  /* when the next request goes */
    uint64_t sent_ns[NETADM_PING_MAX]; /* per sequence number: when it went (0: not yet) */
    uint64_t rtt_min_us, rtt_max_us;
    struct raw_pcb *pcb;
};

struct netd_admin {
    unsigned n;
    struct srv_client_region c[NETD_ADMIN_CLIENTS]; /* the admin clients: badge and region (NETADM_SHM_PAGES) */
    struct netd_fw *fw;                             /* netd's firewall */
    struct nic *nics;                               /* netd's NICs (n_nics of them) */
    unsigned n_nics;
    struct netd_ping ping;
    char text[NETADM_IN_MAX];         /* the client's text, copied before parsing */
    struct srv_client_region *caller; /* the client of the request being handled (set by admit) */
    /* Called after each commit (netd.c: the interfaces' new addresses); may be NULL. */
    void (*on_commit)(void *ctx);
    void *on_commit_ctx;
};

/* Counts the echo reply with sequence number SEQ (once per request). */
void netd_ping_count_reply(struct netd_ping *pg, uint16_t seq);

/* The ping's next echo request for either family: a pbuf (PBUF_IP) with
 * the 8-byte echo header (TYPE, code 0, checksum 0, pg's id, sequence
 * number pg->sent) and 32 bytes of payload (PING_BYTES); NULL when lwIP
 * is out of memory.  The caller writes the checksum (IPv4) or has lwIP
 * write it (ICMPv6), sends it and frees it. */
struct pbuf *netd_ping_echo(const struct netd_ping *pg, uint8_t type);

/* Finds the admin clients in SI ("client:C" + shm:admin-C) and maps each
 * region at VA + i * NETD_ADMIN_STRIDE. */
#define NETD_ADMIN_STRIDE 0x0000000000400000ull
void netd_admin_init(struct netd_admin *a, const struct keel_srvinfo *si, uint64_t va, struct netd_fw *fw,
                     struct nic *nics, unsigned n_nics);
/* True if M (a request received on serve:netd) carries a NETADM_* label. */
bool netd_admin_owns(const struct keel_msg *m);
/* Handles one such request; returns whether to reply (M then holds it). */
int netd_admin_dispatch(struct netd_admin *a, struct keel_msg *m);
/* Once per loop iteration: sends the ping's next request when due. */
void netd_admin_tick(struct netd_admin *a, uint64_t now);
/* When the loop must run next for the ping (UINT64_MAX: never). */
uint64_t netd_admin_next_deadline(const struct netd_admin *a);

#endif
