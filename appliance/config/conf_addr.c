/*
 * conf_addr.c - numbers, IPv4 and IPv6 addresses, prefixes and ports of
 * appliance.conf (forms and contracts in conf_addr.h).
 *
 * Each parser reads a whole word and either accepts all of it or refuses
 * it; none of them reads past S + N or needs a NUL.  IPv6 is read group by
 * group into a 16-byte buffer, remembering where "::" was, and the groups
 * after it are moved to the end at the finish (RFC 4291 2.2, form 2).
 */
#include "conf_addr.h"

#include <keel/ipv4.h>
#include <keel/string.h>

#include <keel/textbuf.h>

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int hex_value(char ch)
{
    if (is_digit(ch))
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

bool conf_parse_uint(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 12)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool conf_parse_ipv4(const char *s, size_t n, uint32_t *out) { return ipv4_parse(s, n, out); }

/* One group of 1-4 hex digits at S[*i]; false if there is none. */
static bool hex_group(const char *s, size_t n, size_t *i, uint16_t *out)
{
    size_t start = *i;
    unsigned v = 0;
    while (*i < n && *i - start < 4 && hex_value(s[*i]) >= 0)
        v = v << 4 | (unsigned)hex_value(s[(*i)++]);
    if (*i == start || (*i < n && hex_value(s[*i]) >= 0))
        return false;
    *out = (uint16_t)v;
    return true;
}

/* True iff an IPv4 tail starts at S[i] (a '.' before the next ':'). */
static bool v4_tail_at(const char *s, size_t n, size_t i)
{
    while (i < n && s[i] != ':') {
        if (s[i] == '.')
            return true;
        i++;
    }
    return false;
}

bool conf_parse_ipv6(const char *s, size_t n, uint8_t out[16])
{
    uint8_t b[16] = { 0 };
    size_t i = 0, nb = 0; /* nb: bytes written */
    long gap = -1;        /* where "::" is, in bytes */
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (n && s[0] == ':') {
        return false;
    }
    while (i < n) {
        if (nb == 16)
            return false;
        if (v4_tail_at(s, n, i)) {
            uint32_t v4;
            if (nb > 12 || !conf_parse_ipv4(s + i, n - i, &v4))
                return false;
            b[nb++] = (uint8_t)(v4 >> 24);
            b[nb++] = (uint8_t)(v4 >> 16);
            b[nb++] = (uint8_t)(v4 >> 8);
            b[nb++] = (uint8_t)v4;
            i = n;
            break;
        }
        uint16_t g;
        if (!hex_group(s, n, &i, &g))
            return false;
        b[nb++] = (uint8_t)(g >> 8);
        b[nb++] = (uint8_t)g;
        if (i == n)
            break;
        if (s[i] != ':')
            return false;
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return false; /* a second "::" */
            gap = (long)nb;
            i++;
        } else if (i == n) {
            return false; /* a trailing single ':' */
        }
    }
    if (gap < 0 && nb != 16)
        return false;
    if (gap >= 0) {
        if (nb == 16)
            return false; /* "::" must stand for at least one group */
        size_t tail = nb - (size_t)gap;
        memmove(b + 16 - tail, b + gap, tail);
        memset(b + gap, 0, 16 - tail - (size_t)gap);
    }
    memcpy(out, b, 16);
    return true;
}

bool conf_parse_ip(const char *s, size_t n, struct conf_ip *out)
{
    struct conf_ip a;
    memset(&a, 0, sizeof a);
    bool v6 = false;
    for (size_t i = 0; i < n; i++)
        v6 |= s[i] == ':';
    if (v6) {
        if (!conf_parse_ipv6(s, n, a.a))
            return false;
        a.af = CONF_AF_INET6;
    } else {
        uint32_t v4;
        if (!conf_parse_ipv4(s, n, &v4))
            return false;
        conf_ip_from_v4(&a, v4);
    }
    *out = a;
    return true;
}

int conf_parse_prefix(const char *s, size_t n, struct conf_ip *out, unsigned *prefix, size_t *slash)
{
    size_t k = 0;
    while (k < n && s[k] != '/')
        k++;
    *slash = k;
    if (!conf_parse_ip(s, k, out))
        return 1;
    unsigned max = out->af == CONF_AF_INET ? 32 : 128;
    if (k == n) {
        *prefix = max;
        return 0;
    }
    uint64_t v;
    if (!conf_parse_uint(s + k + 1, n - k - 1, 0, max, &v))
        return 2;
    *prefix = (unsigned)v;
    return 0;
}

bool conf_parse_port(const char *s, size_t n, uint16_t *out)
{
    uint64_t v;
    if (!conf_parse_uint(s, n, 0, 65535, &v))
        return false;
    *out = (uint16_t)v;
    return true;
}

bool conf_ip6_unicast(const uint8_t a[16])
{
    static const uint8_t zero[15];
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    return a[0] != 0xff && !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80) && memcmp(a, mapped, 12) != 0 &&
           !(memcmp(a, zero, 15) == 0 && a[15] <= 1);
}

int conf_parse_endpoint(const char *s, size_t n, bool port_required, struct conf_ip *out, uint16_t *port)
{
    struct conf_ip ip;
    size_t colon; /* of the port: n when none */
    if (n && s[0] == '[') {
        size_t close = 1;
        while (close < n && s[close] != ']')
            close++;
        if (close == n || !conf_parse_ipv6(s + 1, close - 1, ip.a))
            return 1;
        ip.af = CONF_AF_INET6;
        if (close + 1 < n && s[close + 1] != ':')
            return 1;
        colon = close + 1 < n ? close + 1 : n;
    } else {
        colon = 0;
        while (colon < n && s[colon] != ':')
            colon++;
        if (colon < n) {
            /* A colon: a bare IPv6 address (no port) or A.B.C.D:PORT. */
            uint32_t v4;
            size_t dot = 0;
            while (dot < colon && s[dot] != '.')
                dot++;
            if (dot < colon) {
                if (!conf_parse_ipv4(s, colon, &v4))
                    return 1;
                conf_ip_from_v4(&ip, v4);
            } else {
                if (!conf_parse_ipv6(s, n, ip.a))
                    return 1;
                ip.af = CONF_AF_INET6;
                colon = n;
            }
        } else {
            uint32_t v4;
            if (!conf_parse_ipv4(s, n, &v4))
                return 1;
            conf_ip_from_v4(&ip, v4);
        }
    }
    uint64_t p = 0;
    if (colon == n) {
        if (port_required)
            return 1;
    } else if (!conf_parse_uint(s + colon + 1, n - colon - 1, 1, 65535, &p)) {
        return 1;
    }
    if (ip.af == CONF_AF_INET6 && !conf_ip6_unicast(ip.a))
        return 2;
    *out = ip;
    if (colon != n)
        *port = (uint16_t)p;
    return 0;
}

uint32_t conf_ip_v4(const struct conf_ip *a)
{
    return (uint32_t)a->a[0] << 24 | (uint32_t)a->a[1] << 16 | (uint32_t)a->a[2] << 8 | a->a[3];
}

void conf_ip_from_v4(struct conf_ip *a, uint32_t v)
{
    memset(a, 0, sizeof *a);
    a->af = CONF_AF_INET;
    a->a[0] = (uint8_t)(v >> 24);
    a->a[1] = (uint8_t)(v >> 16);
    a->a[2] = (uint8_t)(v >> 8);
    a->a[3] = (uint8_t)v;
}

void conf_ip_mask(struct conf_ip *a, unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
        if (bits < 8)
            a->a[i] &= (uint8_t)(0xff00u >> bits);
    }
}

bool conf_ip_equal(const struct conf_ip *a, const struct conf_ip *b)
{
    return a->af == b->af && memcmp(a->a, b->a, 16) == 0;
}

static void put_hex(struct textbuf *b, unsigned v)
{
    char tmp[4];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        tb_putn(b, &tmp[--n], 1);
}

static void put_v4(struct textbuf *b, const uint8_t *q)
{
    for (int i = 0; i < 4; i++) {
        if (i)
            tb_put(b, ".");
        tb_u64(b, q[i]);
    }
}

size_t conf_ip_format(const struct conf_ip *a, char *buf, size_t cap)
{
    struct textbuf b;
    tb_init(&b, buf, cap);
    if (a->af != CONF_AF_INET6) {
        put_v4(&b, a->a);
        return b.len;
    }
    uint16_t g[8];
    for (int i = 0; i < 8; i++)
        g[i] = (uint16_t)(a->a[2 * i] << 8 | a->a[2 * i + 1]);
    bool mapped = !g[0] && !g[1] && !g[2] && !g[3] && !g[4] && g[5] == 0xffff;
    int best = -1, best_len = 1, run = 0;
    for (int i = 0; i < (mapped ? 5 : 8); i++) {
        run = g[i] ? 0 : run + 1;
        if (run > best_len) {
            best_len = run;
            best = i - run + 1;
        }
    }
    for (int i = 0; i < (mapped ? 6 : 8); i++) {
        if (i == best) {
            tb_put(&b, "::");
            i += best_len - 1;
            continue;
        }
        if (i && i != best + best_len)
            tb_put(&b, ":");
        put_hex(&b, g[i]);
    }
    if (mapped) {
        tb_put(&b, ":");
        put_v4(&b, a->a + 12);
    }
    return b.len;
}

void conf_put_ip6(struct textbuf *b, const uint8_t a[16])
{
    struct conf_ip ip = { .af = CONF_AF_INET6 };
    char text[48];
    memcpy(ip.a, a, 16);
    (void)conf_ip_format(&ip, text, sizeof text);
    tb_put(b, text);
}
