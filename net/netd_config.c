/*
 * netd_config.c - the parser of netd's interim `args` configuration (format
 * in netd_config.h).  Pure: no system calls, no global state; a single pass
 * over the string with a cursor, the first error wins.
 */
#if __STDC_HOSTED__
#include <stdio.h>
#include <string.h>
#else
#include <keel/fmt.h>
#include <keel/string.h>
#endif

#include <keel/ipv4.h>

#include "netd_config.h"

struct cursor {
    const char *start, *p;
    char *err;
    size_t errlen;
};

static int fail(struct cursor *c, const char *at, const char *what)
{
    if (c->errlen)
        snprintf(c->err, c->errlen, "args:%u: %s", (unsigned)(at - c->start) + 1, what);
    return NETD_CONFIG_E_SYNTAX;
}

static bool is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
           ch == '.';
}

/* A decimal number up to MAX; advances c->p.  -1 when there is none. */
static long number(struct cursor *c, long max)
{
    if (*c->p < '0' || *c->p > '9')
        return -1;
    long v = 0;
    while (*c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (*c->p++ - '0');
        if (v > max)
            return -1;
    }
    return v;
}

/* A.B.C.D (keel/ipv4.h's reader: no leading zeros); advances c->p. */
static int dotted_quad(struct cursor *c, uint8_t out[4])
{
    uint32_t a = 0;
    size_t n = ipv4_scan(c->p, strlen(c->p), &a);
    if (!n)
        return fail(c, c->p, "expected an IPv4 address A.B.C.D");
    c->p += n;
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(a >> (24 - 8 * i));
    return NETD_CONFIG_OK;
}

static uint32_t be32(const uint8_t a[4])
{
    return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static bool at_item_end(const struct cursor *c) { return *c->p == ',' || *c->p == 0; }

/* NAME=dhcp | NAME=A.B.C.D/P[:G], with c->p just after '='. */
static int interface_item(struct cursor *c, struct netd_config *out, const char *name, size_t name_len,
                          const char *name_at)
{
    if (name_len >= NETD_IF_NAME_MAX)
        return fail(c, name_at, "expected a NIC name of at most 15 characters");
    for (unsigned i = 0; i < out->n_ifs; i++)
        if (strlen(out->ifs[i].name) == name_len && strncmp(out->ifs[i].name, name, name_len) == 0)
            return fail(c, name_at, "this NIC is configured twice");
    _Static_assert(NETD_MAX_IFS == 8, "the message below says 8");
    if (out->n_ifs == NETD_MAX_IFS)
        return fail(c, name_at, "too many interfaces (at most 8)");
    struct netd_if_cfg ifc;
    memset(&ifc, 0, sizeof ifc);
    memcpy(ifc.name, name, name_len);
    ifc.name[name_len] = 0;
    if (strncmp(c->p, "dhcp", 4) == 0 && (c->p[4] == ',' || c->p[4] == 0)) {
        c->p += 4;
        ifc.mode = NETD_IF_DHCP;
    } else {
        ifc.mode = NETD_IF_STATIC;
        const char *addr_at = c->p;
        if (dotted_quad(c, ifc.addr))
            return fail(c, addr_at, "expected dhcp or an address A.B.C.D/PREFIX");
        if (*c->p++ != '/')
            return fail(c, c->p - 1, "expected /PREFIX after the address");
        const char *prefix_at = c->p;
        long prefix = number(c, 32);
        if (prefix < 1)
            return fail(c, prefix_at, "expected a prefix length 1-32");
        ifc.prefix = (uint8_t)prefix;
        if (be32(ifc.addr) == 0)
            return fail(c, addr_at, "0.0.0.0 is not an interface address");
        if (*c->p == ':') {
            const char *gw_at = ++c->p;
            if (dotted_quad(c, ifc.gateway))
                return NETD_CONFIG_E_SYNTAX;
            uint32_t mask = prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
            if ((be32(ifc.gateway) & mask) != (be32(ifc.addr) & mask) || be32(ifc.gateway) == be32(ifc.addr))
                return fail(c, gw_at, "expected a gateway inside the interface's prefix (not its own address)");
            for (unsigned i = 0; i < out->n_ifs; i++)
                if (out->ifs[i].has_gateway)
                    return fail(c, gw_at, "a second default gateway (only one interface may have one)");
            ifc.has_gateway = true;
        }
    }
    if (!at_item_end(c))
        return fail(c, c->p, "expected ',' or the end after the interface");
    out->ifs[out->n_ifs++] = ifc;
    return NETD_CONFIG_OK;
}

static int parse(struct cursor *c, struct netd_config *out)
{
    while (*c->p) {
        const char *name_at = c->p;
        while (is_name_char(*c->p))
            c->p++;
        size_t name_len = (size_t)(c->p - name_at);
        if (name_len == 0)
            return fail(c, name_at, "expected NAME=..., stats=SECONDS or debug=0|1");
        if (*c->p++ != '=')
            return fail(c, c->p - 1, "expected '=' after the name");
        int err;
        if (name_len == 5 && strncmp(name_at, "stats", 5) == 0) {
            const char *at = c->p;
            long s = number(c, 86400);
            if (s < 0 || !at_item_end(c))
                return fail(c, at, "expected a number of seconds 0-86400");
            out->stats_seconds = (unsigned)s;
            err = NETD_CONFIG_OK;
        } else if (name_len == 5 && strncmp(name_at, "debug", 5) == 0) {
            const char *at = c->p;
            long v = number(c, 1);
            if (v < 0 || !at_item_end(c))
                return fail(c, at, "expected debug=0 or debug=1");
            out->debug = v == 1;
            err = NETD_CONFIG_OK;
        } else {
            err = interface_item(c, out, name_at, name_len, name_at);
        }
        if (err)
            return err;
        if (*c->p == ',') {
            c->p++;
            if (!*c->p)
                return fail(c, c->p, "expected another item after ','");
        }
    }
    return NETD_CONFIG_OK;
}

int netd_config_parse(const char *args, struct netd_config *out, char *err, size_t errlen)
{
    struct cursor c = { .start = args, .p = args, .err = err, .errlen = errlen };
    memset(out, 0, sizeof *out);
    if (errlen)
        err[0] = 0;
    int r = parse(&c, out);
    if (r)
        memset(out, 0, sizeof *out);
    return r;
}

const struct netd_if_cfg *netd_config_find(const struct netd_config *c, const char *name)
{
    for (unsigned i = 0; i < c->n_ifs; i++)
        if (strcmp(c->ifs[i].name, name) == 0)
            return &c->ifs[i];
    return NULL;
}
