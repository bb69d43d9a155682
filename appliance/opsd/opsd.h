/*
 * opsd.h - opsd's state, shared by opsd.c (the loop, the clock, syslog,
 * SNTP) and opsd_metrics.c (the metrics page).  Private to opsd; the
 * design comment is at the top of opsd.c.
 */
#ifndef KEEL_OPSD_H
#define KEEL_OPSD_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/ops.h>
#include <keel/sock_client.h>

#include <keel/netadm_client.h>

#define MX_CONNS    4              /* metrics connections at once */
#define MX_REQ_MAX  2048           /* bytes of an HTTP request we read */
#define MX_PAGE_MAX 65536          /* bytes of the page */
#define MX_IDLE_NS  10000000000ull /* a scrape that stalls this long is closed */

struct mx_conn {
    int s;          /* socket, -1: free */
    uint64_t since; /* keel_now_ns() at accept */
    size_t req_len;
    char req[MX_REQ_MAX];
    bool answering;
    size_t out_off, out_len; /* the answer being sent, in out[] */
    char *out;               /* MX_PAGE_MAX bytes, per connection */
};

struct opsd {
    struct sock_client sc;
    struct ops_shared *sh; /* the region with consoled */
    uint64_t timer;        /* signal:sock-opsd: our timer (0: none) */
    struct ops_config cfg; /* what runs */
    bool cfg_loaded;       /* cfg was taken from the region since this start */
    bool kick;             /* sockets' rings moved: SOCK_KICK before waiting */
    int udp;               /* syslog out and SNTP in; -1: none */
    /* SNTP */
    uint64_t ntp_t1;   /* the transmit time of the request in flight (0: none) */
    uint64_t ntp_mono; /* keel_now_ns() when it was sent */
    uint64_t ntp_next; /* when the next request is due */
    bool ntp_synced;   /* an answer was taken since the server was set */
    /* metrics */
    int mx_listener; /* -1: not listening */
    uint16_t mx_port;
    struct mx_conn mx[MX_CONNS];
    struct netadm net; /* netd's tables (admin-opsd); net.ep 0: none */
    uint64_t tlsd_ep;  /* ep:tlsd, 0: none */
    uint64_t nap_ntfn; /* a notification of our own for short naps */
};

/* The wall time (ns since 1970) at boot-clock MONO_NS, or 0 while unknown. */
uint64_t opsd_wall_ns(const struct opsd *o, uint64_t mono_ns);

/* opsd_metrics.c */
void opsd_metrics_init(struct opsd *o, const struct keel_srvinfo *si);
void opsd_metrics_config(struct opsd *o);             /* after a new cfg: listen, or stop */
void opsd_metrics_serve(struct opsd *o);              /* accept, read requests, send pages */
uint64_t opsd_metrics_deadline(const struct opsd *o); /* the next idle cut, 0: none */

#endif
