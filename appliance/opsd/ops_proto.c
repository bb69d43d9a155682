/*
 * ops_proto.c - syslog, SNTP and RTC formats (ops_proto.h).  Pure: what
 * goes on the wire is built and checked here, so opsd.c only moves bytes.
 */
#include <keel/clock.h>
#include <keel/fmt.h>
#include <keel/string.h>

#include "ops_proto.h"

/* ------------------------------------------------------------- syslog -- */

unsigned ops_syslog_severity(unsigned level)
{
    static const uint8_t sev[4] = { 7, 6, 4, 3 }; /* debug, informational, warning, error */
    return level < 4 ? sev[level] : 3u;
}

/* Appends S as printable ASCII without spaces (RFC 5424 PRINTUSASCII for
 * HOSTNAME and APP-NAME), at most MAX bytes; "-" when empty. */
static size_t put_token(char *out, size_t cap, size_t at, const char *s, size_t max)
{
    size_t n = 0;
    for (; s && s[n] && n < max && at + 1 < cap; n++) {
        char ch = s[n];
        out[at++] = ch > 32 && ch < 127 ? ch : '_';
    }
    if (n == 0 && at + 1 < cap)
        out[at++] = '-';
    return at;
}

size_t ops_syslog_format(char *out, size_t cap, unsigned level, uint64_t wall_ns, const char *host, const char *app,
                         const char *msg)
{
    if (!cap)
        return 0;
    char ts[40] = "-";
    if (wall_ns)
        clock_format_rfc3339(wall_ns / 1000000000ull, (uint32_t)(wall_ns % 1000000000ull), ts, sizeof ts);
    size_t at = (size_t)lib_snprintf(out, cap, "<%u>1 %s ", OPS_FACILITY * 8 + ops_syslog_severity(level), ts);
    if (at >= cap)
        at = cap - 1;
    at = put_token(out, cap, at, host, 255);
    if (at + 1 < cap)
        out[at++] = ' ';
    at = put_token(out, cap, at, app, 48);
    const char *mid = " - - - ";
    for (size_t i = 0; mid[i] && at + 1 < cap; i++)
        out[at++] = mid[i];
    for (size_t i = 0; msg && msg[i] && at + 1 < cap; i++)
        out[at++] = msg[i] >= 32 && msg[i] < 127 ? msg[i] : '?';
    out[at] = '\0';
    return at;
}

/* --------------------------------------------------------------- SNTP -- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ns since 1970 <-> NTP's 64-bit fixed point (seconds since 1900 . 2^-32). */
static uint64_t to_ntp(uint64_t ns)
{
    uint64_t s = ns / 1000000000ull + NTP_UNIX_OFFSET, frac = ((ns % 1000000000ull) << 32) / 1000000000ull;
    return s << 32 | frac;
}

static int64_t from_ntp(uint64_t t)
{
    uint64_t s = t >> 32, frac = t & 0xffffffffull;
    return ((int64_t)s - (int64_t)NTP_UNIX_OFFSET) * 1000000000ll + (int64_t)((frac * 1000000000ull) >> 32);
}

static uint64_t get_ts(const uint8_t *p) { return (uint64_t)get_be32(p) << 32 | get_be32(p + 4); }

void ops_sntp_request(uint8_t pkt[NTP_PACKET], uint64_t t1_ns)
{
    memset(pkt, 0, NTP_PACKET);
    pkt[0] = 0 << 6 | 4 << 3 | 3; /* LI 0, version 4, mode 3 (client) */
    uint64_t t = to_ntp(t1_ns);
    put_be32(pkt + 40, (uint32_t)(t >> 32));
    put_be32(pkt + 44, (uint32_t)t);
}

int ops_sntp_answer(const uint8_t *pkt, size_t n, uint64_t t1_ns, uint64_t t4_ns, int64_t *offset_ns, unsigned *stratum)
{
    if (n < NTP_PACKET)
        return OPS_SNTP_SHORT;
    unsigned li = pkt[0] >> 6, vn = pkt[0] >> 3 & 7, mode = pkt[0] & 7;
    if (mode != 4 || (vn != 3 && vn != 4))
        return OPS_SNTP_MODE;
    if (get_ts(pkt + 24) != to_ntp(t1_ns))
        return OPS_SNTP_ORIGIN;
    if (li == 3 || pkt[1] == 0 || pkt[1] > 15)
        return OPS_SNTP_UNSYNC;
    uint64_t t2 = get_ts(pkt + 32), t3 = get_ts(pkt + 40);
    if (t3 == 0 || from_ntp(t3) < 1577836800ll * 1000000000ll) /* 2020-01-01 */
        return OPS_SNTP_BOGUS;
    int64_t a = from_ntp(t2) - (int64_t)t1_ns, b = from_ntp(t3) - (int64_t)t4_ns;
    *offset_ns = a / 2 + b / 2;
    *stratum = pkt[1];
    return OPS_SNTP_OK;
}
