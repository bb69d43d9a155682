/*
 * ops_proto.h - opsd's wire formats, pure (no system calls; host-tested by
 * tests/unit/test_opsd.c): RFC 5424 syslog lines and SNTP (RFC 4330)
 * requests and answers.
 */
#ifndef KEEL_OPSD_PROTO_H
#define KEEL_OPSD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPS_SYSLOG_MAX  480 /* bytes of one syslog datagram (RFC 5424 6.1: 480 always accepted) */
#define OPS_FACILITY    3u  /* daemon (RFC 5424 table 1) */
#define NTP_PACKET      48
#define NTP_UNIX_OFFSET 2208988800ull /* seconds from 1900 to 1970 */

/*
 * One RFC 5424 message: "<PRI>1 TIMESTAMP HOST APP - - - MSG" with
 * PRI = facility daemon * 8 + the severity of LEVEL (debug 7, info 6,
 * warn 4, error 3), TIMESTAMP in RFC 3339 UTC with microseconds or "-"
 * when WALL_NS is 0 (the time is not known), HOST and APP cut to the
 * RFC's lengths and made printable.  Returns the length (< CAP, NUL
 * added; cut at CAP - 1).
 */
size_t ops_syslog_format(char *out, size_t cap, unsigned level, uint64_t wall_ns, const char *host, const char *app,
                         const char *msg);

/* The severity RFC 5424 gives LEVEL (0 debug .. 3 error; above: error). */
unsigned ops_syslog_severity(unsigned level);

/* An SNTP client request (version 4, mode 3) whose transmit timestamp is
 * T1_NS (ns since 1970): the answer's originate timestamp must echo it. */
void ops_sntp_request(uint8_t pkt[NTP_PACKET], uint64_t t1_ns);

enum ops_sntp_result {
    OPS_SNTP_OK = 0,
    OPS_SNTP_SHORT = -1,  /* fewer than 48 bytes */
    OPS_SNTP_MODE = -2,   /* not a server answer (mode 4) of version 3 or 4 */
    OPS_SNTP_ORIGIN = -3, /* not the answer to our request */
    OPS_SNTP_UNSYNC = -4, /* leap indicator 3 or stratum 0 (kiss-o'-death) or > 15 */
    OPS_SNTP_BOGUS = -5,  /* zero transmit time, or an answer from before 2020 */
};

/*
 * Checks an answer to the request sent at T1_NS that arrived at T4_NS
 * (both on our clock, ns since 1970) and computes the offset to add to our
 * clock: ((T2 - T1) + (T3 - T4)) / 2 (RFC 4330 section 5).  OPS_SNTP_OK
 * with *OFFSET_NS and *STRATUM, or the reason it is refused.
 */
int ops_sntp_answer(const uint8_t *pkt, size_t n, uint64_t t1_ns, uint64_t t4_ns, int64_t *offset_ns,
                    unsigned *stratum);

#endif
