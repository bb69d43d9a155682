/*
 * keel/ops.h - the region between consoled and opsd (the operations
 * server: syslog, the wall clock with SNTP, the metrics page).
 *
 * No calls: consoled never waits on opsd and opsd never calls consoled.
 * They share region "ops-consoled" (OPS_SHM_PAGES; both sides `share
 * ops-consoled 4`) and consoled signals opsd's notification (`signal
 * sock-opsd`, the one opsd's socket events arrive on) with:
 *   OPS_BIT_CONFIG  a new struct ops_config is in the region (cfg_gen moved)
 *   OPS_BIT_LOG     log entries were added to the ring
 *
 * The log ring: consoled produces (head), opsd consumes (tail); positions
 * are free-running 32-bit counters, entry i at ring[i % OPS_LOG_SLOTS].
 * A producer writes the entry, then publishes head (release); the consumer
 * reads head (acquire), then the entries, then publishes tail (release).
 * When the ring is full consoled drops the entry and counts it in
 * log_full (a syslog line that could not be sent).  opsd never trusts the
 * positions: it clamps head - tail to the ring size.
 *
 * The clock: consoled writes it once at its start from the CMOS RTC (while
 * source is OPS_CLOCK_NONE: before opsd runs), then opsd alone writes it
 * (SNTP); both under a sequence counter (odd while being written; a
 * reader retries until it reads the same even value before and after).  wall time (ns since 1970) = boot clock
 * (keel_now_ns)
 * + offset_ns, valid when source != OPS_CLOCK_NONE.
 *
 * consoled also keeps there the count of log entries its log service could
 * not take (log_missed, log_dropped), for the metrics page.
 * Counters opsd keeps in the region (for `show system` and the metrics
 * page): syslog lines sent, lines not sent (no route, no socket, tx ring
 * full), SNTP requests and answers.
 */
#ifndef KEEL_ABI_OPS_H
#define KEEL_ABI_OPS_H

#include <stdint.h>

#define OPS_SHM_PAGES  4
#define OPS_LOG_SLOTS  64
#define OPS_MSG_MAX    96 /* bytes of message with the NUL (consoled's LOG_MSG_MAX) */
#define OPS_NAME_MAX   16 /* server name with the NUL */
#define OPS_HOST_MAX   64 /* hostname with the NUL */
#define OPS_BIT_CONFIG (1ull << 41)
#define OPS_BIT_LOG    (1ull << 42)

/* What opsd does (consoled copies it from the running configuration). */
struct ops_config {
    uint32_t syslog_addr;  /* 0: no syslog */
    uint16_t syslog_port;  /* host order */
    uint16_t metrics_port; /* 0: no metrics page */
    uint32_t metrics_addr; /* 0.0.0.0: any */
    uint32_t ntp_addr;     /* 0: no SNTP over IPv4 */
    char hostname[OPS_HOST_MAX];
    uint32_t flags; /* OPS_CFG_*: which of the IPv6 addresses below is set */
    uint32_t pad;
    uint8_t syslog_addr6[16]; /* OPS_CFG_SYSLOG6: the collector (network order; syslog_addr 0) */
    uint8_t ntp_addr6[16];    /* OPS_CFG_NTP6: the NTP server (network order; ntp_addr 0) */
};
#define OPS_CFG_SYSLOG6 (1u << 0)
#define OPS_CFG_NTP6    (1u << 1)
_Static_assert(sizeof(struct ops_config) == 16 + OPS_HOST_MAX + 40, "ops_config layout");
_Static_assert(__builtin_offsetof(struct ops_config, syslog_addr6) == 16 + OPS_HOST_MAX + 8, "ops_config layout");

enum ops_clock_source {
    OPS_CLOCK_NONE = 0, /* the wall time is not known */
    OPS_CLOCK_RTC = 1,  /* from the CMOS real-time clock at boot (consoled) */
    OPS_CLOCK_NTP = 2,  /* set by an SNTP answer */
};

struct ops_clock {
    uint32_t seq;            /* odd while opsd writes */
    uint32_t source;         /* enum ops_clock_source */
    int64_t offset_ns;       /* wall = keel_now_ns() + offset_ns */
    uint64_t synced_ns;      /* keel_now_ns() of the last setting */
    uint32_t ntp_server;     /* the server of the last SNTP answer (IPv4; 0: IPv6, see ntp_server6) */
    uint32_t stratum;        /* its stratum */
    int64_t last_step_ns;    /* how far that answer moved the clock */
    uint8_t ntp_server6[16]; /* the server when it answered over IPv6 (network order), else zero */
};
_Static_assert(sizeof(struct ops_clock) == 56, "ops_clock layout");

struct ops_log_entry {
    uint64_t time_ns; /* keel_now_ns() when consoled took it */
    uint8_t level;    /* log.h's LOG_DEBUG..LOG_ERROR */
    uint8_t pad[7];
    char server[OPS_NAME_MAX];
    char msg[OPS_MSG_MAX];
};
_Static_assert(sizeof(struct ops_log_entry) == 128, "a log entry is 128 bytes");

struct ops_shared {
    /* consoled writes */
    uint32_t cfg_gen; /* bumped after each new cfg (release) */
    uint32_t pad0;
    struct ops_config cfg;
    uint32_t log_head;
    uint32_t pad1;
    uint64_t log_full; /* entries dropped because the ring was full */
    /* opsd writes */
    uint32_t log_tail;
    uint32_t cfg_seen; /* the cfg_gen opsd runs */
    struct ops_clock clock;
    uint64_t syslog_sent, syslog_unsent;
    uint64_t ntp_requests, ntp_answers;
    uint64_t metrics_scrapes;
    struct ops_log_entry ring[OPS_LOG_SLOTS];
    /* consoled writes (relaxed: counters for the metrics page): log entries
     * its log service could not take -- not handed over while it was busy
     * (as the clients report, log.h LOG_MISSED_*) and dropped to its full
     * queue (appliance/console/logsrv.c) */
    uint64_t log_missed, log_dropped;
};
_Static_assert(sizeof(struct ops_shared) <= OPS_SHM_PAGES * 4096, "the region holds it");

#endif
