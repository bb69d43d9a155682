/*
 * conf_write.c - the canonical text of a configuration (`show
 * running-config`) and the equality that round trips are checked with.
 *
 * The canonical form is what conf.h promises: fixed group order, defaults
 * written out, four spaces of indent inside tls blocks, comments gone.
 * Rule lines are written as stored (already normalised by the parser).
 */
#include "conf.h"

#include <keel/string.h>

#include <keel/textbuf.h>
#include "conf_addr.h"

static void put_duration(struct textbuf *b, uint32_t s)
{
    tb_u64(b, s);
    tb_put(b, "s");
}

static void write_tls(struct textbuf *b, const struct conf_tls *t)
{
    tb_put(b, "tls ");
    tb_u64(b, t->port);
    tb_put(b, " {\n");
    for (unsigned i = 0; i < t->n_certs; i++) {
        tb_put(b, "    certificate ");
        tb_put(b, t->certs[i].cert);
        tb_put(b, " key ");
        tb_put(b, t->certs[i].key);
        if (t->certs[i].sni[0]) {
            tb_put(b, " sni ");
            tb_put(b, t->certs[i].sni);
        }
        tb_put(b, "\n");
    }
    tb_put(b, "    backend ");
    if (t->backend_v6) {
        tb_put(b, "[");
        conf_put_ip6(b, t->backend_addr6);
        tb_put(b, "]");
    } else {
        tb_ipv4(b, t->backend_addr);
    }
    tb_put(b, ":");
    tb_u64(b, t->backend_port);
    tb_put(b, "\n");
    if (t->proxy_protocol != CONF_PROXY_NONE)
        tb_put(b, t->proxy_protocol == CONF_PROXY_V1 ? "    proxy-protocol v1\n" : "    proxy-protocol v2\n");
    tb_put(b, "    max-connections ");
    tb_u64(b, t->max_connections);
    tb_put(b, "\n    idle-timeout ");
    put_duration(b, t->idle_timeout);
    tb_put(b, "\n    handshake-timeout ");
    put_duration(b, t->handshake_timeout);
    tb_put(b, "\n");
    if (t->tls_versions != CONF_TLS_DEFAULT) /* the default is not written */
        tb_put(b, t->tls_versions == CONF_TLS_V13 ? "    tls-versions 1.3\n" : "    tls-versions 1.2\n");
    if (t->n_alpn) {
        tb_put(b, "    alpn");
        for (unsigned i = 0; i < t->n_alpn; i++) {
            tb_put(b, " ");
            tb_put(b, t->alpn[i]);
        }
        tb_put(b, "\n");
    }
    tb_put(b, "}\n");
}

/* An interface's IPv6 clause, if any, with its leading blank. */
static void write_if6(struct textbuf *b, const struct conf_iface *f)
{
    if (f->mode6 == CONF_IF6_AUTOCONF) {
        tb_put(b, " autoconf");
    } else if (f->mode6 == CONF_IF6_STATIC) {
        tb_put(b, " address ");
        conf_put_ip6(b, f->addr6);
        tb_put(b, "/");
        tb_u64(b, f->prefix6);
        if (f->has_gateway6) {
            tb_put(b, " gateway ");
            conf_put_ip6(b, f->gateway6);
        }
    }
}

size_t conf_write(const struct conf *c, char *buf, size_t cap)
{
    struct textbuf b;
    tb_init(&b, buf, cap);
    tb_put(&b, "hostname ");
    tb_put(&b, c->hostname);
    tb_put(&b, "\nlog ");
    tb_put(&b, conf_log_level_name(c->log_level));
    tb_put(&b, "\n");
    if (c->n_ifaces)
        tb_put(&b, "\n");
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        const struct conf_iface *f = &c->ifaces[i];
        tb_put(&b, "interface ");
        tb_put(&b, f->name);
        tb_put(&b, " nic ");
        tb_u64(&b, f->nic);
        if (f->mode == CONF_IF_DHCP) {
            tb_put(&b, " dhcp");
        } else if (f->mode == CONF_IF_STATIC) {
            tb_put(&b, " address ");
            tb_ipv4(&b, f->addr);
            tb_put(&b, "/");
            tb_u64(&b, f->prefix);
            if (f->has_gateway) {
                tb_put(&b, " gateway ");
                tb_ipv4(&b, f->gateway);
            }
        }
        write_if6(&b, f);
        tb_put(&b, "\n");
    }
    for (unsigned i = 0; i < c->n_routes; i++) {
        const struct conf_route *r = &c->routes[i];
        tb_put(&b, "route ");
        if (r->v6)
            conf_put_ip6(&b, r->net6);
        else
            tb_ipv4(&b, r->net);
        tb_put(&b, "/");
        tb_u64(&b, r->prefix);
        tb_put(&b, " via ");
        if (r->v6)
            conf_put_ip6(&b, r->gw6);
        else
            tb_ipv4(&b, r->gw);
        tb_put(&b, "\n");
    }
    if (c->n_rules)
        tb_put(&b, "\n");
    for (unsigned i = 0; i < c->n_rules; i++) {
        size_t n;
        const char *s = conf_rule_text(c, i, &n);
        tb_putn(&b, s, n);
        tb_put(&b, "\n");
    }
    for (unsigned i = 0; i < c->n_tls; i++) {
        tb_put(&b, "\n");
        write_tls(&b, &c->tls[i]);
    }
    conf_ops_write(&c->ops, &b);
    if (c->password_hash[0]) {
        tb_put(&b, "\nconsole password-hash ");
        tb_put(&b, c->password_hash);
        tb_put(&b, "\n");
    }
    return b.len;
}

static bool tls_equal(const struct conf_tls *a, const struct conf_tls *b)
{
    if (a->port != b->port || a->proxy_protocol != b->proxy_protocol || a->backend_addr != b->backend_addr ||
        a->backend_v6 != b->backend_v6 || (a->backend_v6 && memcmp(a->backend_addr6, b->backend_addr6, 16)) ||
        a->backend_port != b->backend_port || a->max_connections != b->max_connections ||
        a->idle_timeout != b->idle_timeout || a->handshake_timeout != b->handshake_timeout ||
        a->n_certs != b->n_certs || a->n_alpn != b->n_alpn || a->tls_versions != b->tls_versions)
        return false;
    for (unsigned i = 0; i < a->n_certs; i++)
        if (strcmp(a->certs[i].cert, b->certs[i].cert) || strcmp(a->certs[i].key, b->certs[i].key) ||
            strcmp(a->certs[i].sni, b->certs[i].sni))
            return false;
    for (unsigned i = 0; i < a->n_alpn; i++)
        if (strcmp(a->alpn[i], b->alpn[i]))
            return false;
    return true;
}

bool conf_equal(const struct conf *a, const struct conf *b)
{
    if (strcmp(a->hostname, b->hostname) || a->log_level != b->log_level ||
        strcmp(a->password_hash, b->password_hash) || a->n_ifaces != b->n_ifaces || a->n_rules != b->n_rules ||
        a->n_tls != b->n_tls || a->n_routes != b->n_routes || !conf_ops_equal(&a->ops, &b->ops))
        return false;
    for (unsigned i = 0; i < a->n_routes; i++) {
        const struct conf_route *x = &a->routes[i], *y = &b->routes[i];
        if (x->net != y->net || x->prefix != y->prefix || x->gw != y->gw || x->v6 != y->v6)
            return false;
        if (x->v6 && (memcmp(x->net6, y->net6, 16) || memcmp(x->gw6, y->gw6, 16)))
            return false;
    }
    for (unsigned i = 0; i < a->n_ifaces; i++) {
        const struct conf_iface *x = &a->ifaces[i], *y = &b->ifaces[i];
        if (strcmp(x->name, y->name) || x->nic != y->nic || x->mode != y->mode || x->mode6 != y->mode6)
            return false;
        if (x->mode6 == CONF_IF6_STATIC &&
            (x->prefix6 != y->prefix6 || memcmp(x->addr6, y->addr6, 16) || x->has_gateway6 != y->has_gateway6 ||
             (x->has_gateway6 && memcmp(x->gateway6, y->gateway6, 16))))
            return false;
        if (x->mode == CONF_IF_STATIC &&
            (x->addr != y->addr || x->prefix != y->prefix || x->has_gateway != y->has_gateway ||
             (x->has_gateway && x->gateway != y->gateway)))
            return false;
    }
    for (unsigned i = 0; i < a->n_rules; i++) {
        size_t n, m;
        const char *s = conf_rule_text(a, i, &n), *t = conf_rule_text(b, i, &m);
        if (n != m || memcmp(s, t, n))
            return false;
    }
    for (unsigned i = 0; i < a->n_tls; i++)
        if (!tls_equal(&a->tls[i], &b->tls[i]))
            return false;
    return true;
}
