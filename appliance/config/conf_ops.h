/*
 * conf_ops.h - the operations statements of appliance.conf: where the log
 * goes, where the time comes from, where the metrics are served.  Parsed
 * here, in a file of its own, and called by conf.c's statement dispatch
 * (one branch), so the rest of the parser is untouched:
 *
 *   syslog ADDRESS[:PORT]          every log line as RFC 5424 over UDP (port 514)
 *   ntp server ADDRESS             SNTP keeps the clock (UDP port 123)
 *   metrics listen ADDRESS:PORT    Prometheus text format over HTTP
 *
 * Each may appear once.  Addresses are IPv4, not 0.0.0.0 for syslog and
 * ntp (a destination); metrics may listen on 0.0.0.0 (every address).
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
    uint32_t syslog_addr;  /* 0: no syslog */
    uint16_t syslog_port;  /* with syslog_addr */
    uint32_t ntp_addr;     /* 0: no ntp server */
    uint32_t metrics_addr; /* with metrics_port (0.0.0.0: every address) */
    uint16_t metrics_port; /* 0: no metrics */
    /* Where each was written (0: not seen): for "one X line" errors only. */
    unsigned syslog_line, ntp_line, metrics_line;
};

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
