/*
 * nic_netif.h - one lwIP netif over one NIC-protocol connection
 * (abi/keel/nic.h): netd's side of the driver.  Design comment in
 * nic_netif.c.
 */
#ifndef NETD_NIC_NETIF_H
#define NETD_NIC_NETIF_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/nic.h>

#include "lwip/netif.h"
#include "netd_config.h"
#include "netd_fw.h"

enum nic_state {
    NICS_DETACHED = 0, /* no driver answering yet, or it died: retry at retry_at_ns */
    NICS_ATTACHED,     /* NIC_START accepted for `generation`; rings live */
};

/* Who holds a packet buffer of the shared region (per buffer, so a driver
 * that hands a buffer back twice or hands back one it never had is caught). */
enum nic_buf_owner {
    NICB_NETD = 0, /* on our free stack */
    NICB_RX,       /* given to the driver through rx_free, until rx_used */
    NICB_TX,       /* given to the driver through tx_send, until tx_done */
};

/* netd's own counters (the driver's are in nic_shared.stats). */
struct nic_counters {
    uint64_t rx_frames, rx_bytes;
    uint64_t rx_bad_desc;   /* rx_used entry with a bad offset/length, or a buffer not lent for RX */
    uint64_t rx_no_pbuf;    /* PBUF_POOL empty: frame dropped */
    uint64_t rx_input_err;  /* lwIP's input refused the frame */
    uint64_t rx_fw_drop;    /* the firewall blocked it, or it was malformed IPv4 */
    uint64_t rx_csum_bad;   /* a TCP/UDP checksum the device did not check was wrong: dropped */
    uint64_t rx_gso_frames; /* frames over several buffers or longer than 1514 bytes */
    uint64_t tx_frames, tx_bytes;
    uint64_t tx_bad_desc;    /* tx_done entry naming a buffer not lent for TX */
    uint64_t tx_no_buf;      /* no free buffer: frame dropped */
    uint64_t tx_ring_full;   /* tx_send full: frame dropped */
    uint64_t tx_too_long;    /* longer than NIC_MAX_FRAME: dropped */
    uint64_t tx_detached;    /* no driver attached: dropped */
    uint64_t tx_fw_drop;     /* the firewall blocked it */
    uint64_t tx_gso_frames;  /* frames longer than 1514 bytes handed to the NIC whole (TSO) */
    uint64_t tx_sw_segments; /* segments cut by netd for a NIC without TSO */
    uint64_t kicks, kick_retries;
    uint64_t attaches;
    uint64_t tx_lost_on_reattach; /* frames in tx_send/in the driver when it went away: maybe not sent */
};

struct nic {
    /* Set by nic_init; never changed. */
    char name[NETD_IF_NAME_MAX]; /* the connection's name: caps ep:NAME, shm:NAME, notify:NAME */
    unsigned index;              /* position among netd's NICs: also its firewall interface index */
    uint64_t ep;                 /* the driver's endpoint (WRITE) */
    struct nic_shared *shm;      /* mapped shared region, NIC_SHM_PAGES pages */
    struct netd_fw *fw;          /* the firewall every frame passes (netd's, shared by all NICs) */

    /* Set by nic_init, or by netd before the first nic_poll (appliance.conf's
     * interface line when args has no item); never changed after. */
    const struct netd_if_cfg *cfg; /* NULL: no address configured */

    /* Attachment (main thread only). */
    enum nic_state state;
    uint32_t generation;      /* the driver generation we started; valid when ATTACHED */
    uint64_t retry_at_ns;     /* DETACHED: next attach attempt */
    uint32_t attach_failures; /* consecutive, for the retry back-off and quiet logs */
    uint64_t detached_at_ns;  /* DETACHED after an attachment: when the driver went (the restart grace) */
    uint8_t mac[6];
    uint32_t features; /* NIC_FEAT_* taken at NIC_START (NETD_FEATURES of what the driver offered) */
    bool netif_added;  /* netif registered with lwIP (after the first attach) */

    /* Buffers (main thread only).  Invariant: every buffer is in exactly
     * one place: free[] (owner NETD), lent for RX, or lent for TX. */
    uint8_t owner[NIC_BUF_COUNT]; /* enum nic_buf_owner */
    uint32_t free[NIC_BUF_COUNT]; /* offsets of NETD-owned buffers (a stack) */
    uint32_t n_free;
    uint32_t rx_lent, tx_lent;
    bool kick_pending;              /* rx_free or tx_send gained entries since the last NIC_KICK */
    uint64_t kick_blocked_since_ns; /* first NIC_KICK that found no driver waiting; 0: none */
    uint64_t last_kick_ns;          /* last successful NIC_START/NIC_KICK (liveness check) */

    struct netif netif;
    struct nic_counters stats;
};

/*
 * Sets N up for connection NAME (index INDEX): the driver endpoint EP and
 * the shared region already mapped at SHM.  CFG may be NULL.  FW filters
 * every frame in and out (it must be set up before the first nic_poll).
 * Does not talk to the driver (nic_poll does, as soon as it is called).
 */
void nic_init(struct nic *n, const char *name, unsigned index, uint64_t ep, struct nic_shared *shm,
              const struct netd_if_cfg *cfg, struct netd_fw *fw);

/* A committed configuration changed N's address, netmask, gateway or mode
 * (CFG; NULL: none): applied at once (DHCP stopped or started, the default
 * route moved), without a restart.  WAS_DHCP: the old mode was DHCP. */
void nic_reconfigure(struct nic *n, const struct netd_if_cfg *cfg, bool was_dhcp);

/*
 * One service pass, main thread only, lwIP initialised: attaches when due,
 * notices a restarted driver (generation) and the link state, takes back
 * transmitted buffers, and feeds up to BUDGET received frames to lwIP.
 * Returns true when more work is waiting (frames beyond the budget), so the
 * loop must come back without blocking.
 */
bool nic_poll(struct nic *n, uint64_t now_ns, unsigned budget);

/*
 * Ends a loop iteration: refills rx_free and, if either ring gained
 * entries, makes the one NIC_KICK call of this iteration.  Returns true if
 * the kick must be retried soon (the driver was busy).
 */
bool nic_flush(struct nic *n, uint64_t now_ns);

/* The earliest time this NIC needs the loop without an event: an attach
 * retry, or the once-a-second liveness kick. */
uint64_t nic_next_deadline(const struct nic *n);

/* Logs one line of counters (netd's and the driver's). */
void nic_log_stats(const struct nic *n);

#endif
