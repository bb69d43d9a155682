/*
 * conf_ops.h - the operations statements of appliance.conf: where the log
 * goes, where the time comes from, where the metrics are served.  Parsed
 * here, in a file of its own, and called by conf.c's statement dispatch
 * (one branch), so the rest of the parser is untouched:
 *
 *   syslog A.B.C.D[:PORT]          every log line as RFC 5424 over UDP (port 514)
 *   syslog IPV6 | [IPV6][:PORT]    the same over IPv6
 *   ntp server A.B.C.D | IPV6      SNTP keeps the clock (UDP port 123; [IPV6] too)
 *   metrics listen ADDRESS:PORT    Prometheus text format over HTTP
 *
 * Each may appear once.  syslog and ntp take a destination: not 0.0.0.0,
 * and an IPv6 one unicast (conf_ip6_unicast); both parsed by conf_addr.c's
 * conf_parse_endpoint (as tls's backend).  metrics listens on an IPv4
 * address, 0.0.0.0 for every address.
 * Pure code (host-tested by tests/unit/test_config.c's ops cases).
 */
#ifndef KEEL_APPLIANCE_CONF_OPS_H
#define KEEL_APPLIANCE_CONF_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct textbuf;

#define CONF_SYSLOG_PORT 514

struct conf_ops {
    uint32_t syslog_addr;     /* IPv4; 0: none (no syslog unless syslog_v6) */
    uint16_t syslog_port;     /* with syslog_addr or syslog_v6 */
    bool syslog_v6;           /* syslog to syslog_addr6 (syslog_addr is then 0) */
    uint8_t syslog_addr6[16]; /* network order, unicast; zero unless syslog_v6 */
    uint32_t ntp_addr;        /* IPv4; 0: none (no ntp server unless ntp_v6) */
    bool ntp_v6;              /* ask ntp_addr6 (ntp_addr is then 0) */
    uint8_t ntp_addr6[16];    /* network order, unicast; zero unless ntp_v6 */
    uint32_t metrics_addr;    /* with metrics_port (0.0.0.0: every address) */
    uint16_t metrics_port;    /* 0: no metrics */
    /* Where each was written (0: not seen): for "one X line" errors only. */
    unsigned syslog_line, ntp_line, metrics_line;
};

/* Whether syslog / ntp is configured (either family). */
static inline bool conf_ops_syslog_on(const struct conf_ops *o) { return o->syslog_addr || o->syslog_v6; }
static inline bool conf_ops_ntp_on(const struct conf_ops *o) { return o->ntp_addr || o->ntp_v6; }

/* Whether the word W (N bytes) starts an operations statement. */
bool conf_ops_word(const char *w, size_t n);

/*
 * Parses one statement: LINE (LEN bytes, no newline, a trailing comment
 * allowed) starting at the keyword, numbered LINENO.  Returns 0, or -1 with
 * *COL (1-based in LINE) and MSG ("expected ...") filled in.
 */
int conf_ops_parse(struct conf_ops *o, const char *line, size_t len, unsigned lineno, unsigned *col, char *msg,
                   size_t cap);

/* Appends the statements in canonical form ("" when none is set). */
void conf_ops_write(const struct conf_ops *o, struct textbuf *b);

/* Same settings (the line numbers do not count). */
bool conf_ops_equal(const struct conf_ops *a, const struct conf_ops *b);

#endif
