/*
 * conf_ops.c - the syslog, ntp and metrics statements (conf_ops.h).  A
 * small lexer of its own (words split by blanks, '#' ends the line) keeps
 * this file independent of conf.c's internals.
 */
#include <keel/string.h>
#include <keel/textbuf.h>

#include "conf_addr.h"
#include "conf_ops.h"

struct ops_word {
    const char *s;
    size_t n;
    unsigned col;
};

/* Splits LINE into at most MAX words; returns how many (MAX + 1: more). */
static unsigned split(const char *line, size_t len, struct ops_word *w, unsigned max)
{
    unsigned n = 0;
    size_t i = 0;
    while (i < len && line[i] != '#') {
        if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '#')
            i++;
        if (n == max)
            return max + 1;
        w[n++] = (struct ops_word){ line + start, i - start, (unsigned)start + 1 };
    }
    return n;
}

static bool is(const struct ops_word *w, const char *s) { return w->n == strlen(s) && memcmp(w->s, s, w->n) == 0; }

static bool parse_num(const char *s, size_t n, uint32_t max, uint32_t *out)
{
    if (n == 0 || n > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* ADDRESS[:PORT]; PORT_REQUIRED or not. */
static bool parse_addr_port(const struct ops_word *w, bool port_required, uint32_t *addr, uint16_t *port)
{
    size_t colon = 0;
    while (colon < w->n && w->s[colon] != ':')
        colon++;
    if (!conf_parse_ipv4(w->s, colon, addr))
        return false;
    if (colon == w->n)
        return !port_required;
    uint32_t p;
    if (!parse_num(w->s + colon + 1, w->n - colon - 1, 65535, &p) || p == 0)
        return false;
    *port = (uint16_t)p;
    return true;
}

bool conf_ops_word(const char *w, size_t n)
{
    struct ops_word x = { w, n, 1 };
    return is(&x, "syslog") || is(&x, "ntp") || is(&x, "metrics");
}

/* Copies S into OUT (CAP bytes, cut and NUL-terminated); the host tools
 * build this file too, so no strlcpy. */
static void copy(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (!cap)
        return;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static int fail(unsigned *col, unsigned at, char *msg, size_t cap, const char *what)
{
    *col = at;
    copy(msg, cap, what);
    return -1;
}

static int once(unsigned *seen, unsigned lineno, unsigned *col, char *msg, size_t cap, const char *word)
{
    if (!*seen) {
        *seen = lineno;
        return 0;
    }
    char m[96];
    size_t n = strlen(word);
    memcpy(m, "expected one ", 13);
    memcpy(m + 13, word, n);
    copy(m + 13 + n, sizeof m - 13 - n, " line");
    return fail(col, 1, msg, cap, m);
}

int conf_ops_parse(struct conf_ops *o, const char *line, size_t len, unsigned lineno, unsigned *col, char *msg,
                   size_t cap)
{
    struct ops_word w[4];
    unsigned n = split(line, len, w, 3);
    if (n == 0)
        return fail(col, 1, msg, cap, "expected syslog, ntp or metrics");
    unsigned end = n > 3 ? (unsigned)len + 1 : w[n - 1].col + (unsigned)w[n - 1].n;
    if (is(&w[0], "syslog")) {
        if (n < 2)
            return fail(col, end, msg, cap, "expected ADDRESS[:PORT] after syslog");
        struct conf_ip a;
        uint16_t p = CONF_SYSLOG_PORT;
        int r = conf_parse_endpoint(w[1].s, w[1].n, false, &a, &p);
        if (r == 2)
            return fail(col, w[1].col, msg, cap, "expected a unicast IPv6 syslog collector " CONF_V6_UNICAST_WHAT);
        if (r != 0 || (a.af == CONF_AF_INET && conf_ip_v4(&a) == 0))
            return fail(col, w[1].col, msg, cap,
                        "expected a syslog collector A.B.C.D, A.B.C.D:PORT, IPV6 or [IPV6]:PORT (port 1-65535)");
        if (n > 2)
            return fail(col, w[2].col, msg, cap, "expected the end of the line");
        if (once(&o->syslog_line, lineno, col, msg, cap, "syslog"))
            return -1;
        o->syslog_v6 = a.af == CONF_AF_INET6;
        o->syslog_addr = o->syslog_v6 ? 0 : conf_ip_v4(&a);
        memset(o->syslog_addr6, 0, 16);
        if (o->syslog_v6)
            memcpy(o->syslog_addr6, a.a, 16);
        o->syslog_port = p;
        return 0;
    }
    if (is(&w[0], "ntp")) {
        if (n < 2 || !is(&w[1], "server"))
            return fail(col, n < 2 ? end : w[1].col, msg, cap, "expected server after ntp");
        if (n < 3)
            return fail(col, end, msg, cap, "expected an NTP server A.B.C.D or IPV6 after ntp server");
        struct conf_ip a;
        uint16_t p = 0;
        int r = conf_parse_endpoint(w[2].s, w[2].n, false, &a, &p);
        if (r == 2)
            return fail(col, w[2].col, msg, cap, "expected a unicast IPv6 NTP server " CONF_V6_UNICAST_WHAT);
        if (r != 0 || p != 0 || (a.af == CONF_AF_INET && conf_ip_v4(&a) == 0))
            return fail(col, w[2].col, msg, cap, "expected an NTP server A.B.C.D or IPV6 after ntp server (no port)");
        if (n > 3)
            return fail(col, end, msg, cap, "expected the end of the line");
        if (once(&o->ntp_line, lineno, col, msg, cap, "ntp"))
            return -1;
        o->ntp_v6 = a.af == CONF_AF_INET6;
        o->ntp_addr = o->ntp_v6 ? 0 : conf_ip_v4(&a);
        memset(o->ntp_addr6, 0, 16);
        if (o->ntp_v6)
            memcpy(o->ntp_addr6, a.a, 16);
        return 0;
    }
    if (is(&w[0], "metrics")) {
        if (n < 2 || !is(&w[1], "listen"))
            return fail(col, n < 2 ? end : w[1].col, msg, cap, "expected listen after metrics");
        uint32_t a = 0;
        uint16_t p = 0;
        if (n < 3 || !parse_addr_port(&w[2], true, &a, &p))
            return fail(col, n < 3 ? end : w[2].col, msg, cap, "expected ADDRESS:PORT after metrics listen");
        if (n > 3)
            return fail(col, end, msg, cap, "expected the end of the line");
        if (once(&o->metrics_line, lineno, col, msg, cap, "metrics"))
            return -1;
        o->metrics_addr = a;
        o->metrics_port = p;
        return 0;
    }
    return fail(col, w[0].col, msg, cap, "expected syslog, ntp or metrics");
}

void conf_ops_write(const struct conf_ops *o, struct textbuf *b)
{
    if (!conf_ops_syslog_on(o) && !conf_ops_ntp_on(o) && !o->metrics_port)
        return;
    tb_put(b, "\n");
    if (conf_ops_syslog_on(o)) {
        bool port = o->syslog_port != CONF_SYSLOG_PORT;
        tb_put(b, "syslog ");
        if (o->syslog_v6) {
            /* Bare without a port; brackets only with one (RFC 3986). */
            if (port)
                tb_put(b, "[");
            conf_put_ip6(b, o->syslog_addr6);
            if (port)
                tb_put(b, "]");
        } else {
            tb_ipv4(b, o->syslog_addr);
        }
        if (port) {
            tb_put(b, ":");
            tb_u64(b, o->syslog_port);
        }
        tb_put(b, "\n");
    }
    if (conf_ops_ntp_on(o)) {
        tb_put(b, "ntp server ");
        if (o->ntp_v6)
            conf_put_ip6(b, o->ntp_addr6);
        else
            tb_ipv4(b, o->ntp_addr);
        tb_put(b, "\n");
    }
    if (o->metrics_port) {
        tb_put(b, "metrics listen ");
        tb_ipv4(b, o->metrics_addr);
        tb_put(b, ":");
        tb_u64(b, o->metrics_port);
        tb_put(b, "\n");
    }
}

bool conf_ops_equal(const struct conf_ops *a, const struct conf_ops *b)
{
    return a->syslog_addr == b->syslog_addr && a->syslog_port == b->syslog_port && a->syslog_v6 == b->syslog_v6 &&
           memcmp(a->syslog_addr6, b->syslog_addr6, 16) == 0 && a->ntp_addr == b->ntp_addr && a->ntp_v6 == b->ntp_v6 &&
           memcmp(a->ntp_addr6, b->ntp_addr6, 16) == 0 && a->metrics_addr == b->metrics_addr &&
           a->metrics_port == b->metrics_port;
}
