/*
 * fw_log.h - what the firewall says: a token-bucket rate limiter for log
 * lines and the formatters for blocked packets, dropped (malformed)
 * packets and kept states.
 *
 * The engine never prints: netd asks fw_ratelimit_allow() whether a line
 * may go out now, formats it with fw_log_format() and writes it to its log.
 * Lines refused by the limiter are counted; the next line that goes out
 * says how many were suppressed, so nothing disappears without a trace.
 * A flood of blocked packets thus costs at most `per_sec` lines a second
 * (after a burst of `burst`).  Time is the caller's, in ns.
 */
#ifndef KEEL_FW_LOG_H
#define KEEL_FW_LOG_H

#include "fw_match.h"

struct fw_ratelimit {
    uint64_t cost;       /* ns of credit one line costs (1e9 / per_sec); 0: never allow */
    uint64_t cap;        /* most credit it can save up: burst * cost */
    uint64_t credit;     /* ns of credit now; invariant: credit <= cap */
    uint64_t last;       /* time of the last refill */
    uint64_t suppressed; /* lines refused since the last one allowed */
};

/* per_sec lines a second on average, burst at once; per_sec 0 turns logging off. */
void fw_ratelimit_init(struct fw_ratelimit *rl, uint32_t per_sec, uint32_t burst, uint64_t now);

/* True if a line may be written now (and takes its credit); false counts one suppressed line. */
bool fw_ratelimit_allow(struct fw_ratelimit *rl, uint64_t now);

/* Returns the suppressed count and restarts it (pass it to the next formatted line). */
uint64_t fw_ratelimit_take_suppressed(struct fw_ratelimit *rl);

/*
 * "fw: block in on wan tcp 10.66.0.9:4242 -> 192.168.50.1:443 [S] len 60: rule @3 (line 12)"
 * (@N: the rule's index in the active set, from 0, as pfctl shows it)
 * and " (5 suppressed)" at the end when suppressed > 0.  NUL-terminated,
 * cut to fit; returns the full length.
 */
size_t fw_log_format(char *buf, size_t cap, const struct fw_packet *p, const struct fw_verdict *v,
                     const struct fw_ifaces *ifs, uint64_t suppressed);

/* "fw: drop in on wan: bad IPv4 header checksum" for a packet fw_parse_* refused. */
size_t fw_log_format_malformed(char *buf, size_t cap, unsigned dir, unsigned iface, int err,
                               const struct fw_ifaces *ifs, uint64_t suppressed);

/* "tcp 10.0.0.2:5000 -> 192.168.50.9:443 out on lan ESTABLISHED 12:3400 10:900 expires 86399s"
 * (packets:bytes forward, then back) for `show connections`. */
size_t fw_state_format(const struct fw_state *s, const struct fw_ifaces *ifs, uint64_t now, char *buf, size_t cap);

#endif
