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

#include "conf_buf.h"

static void put_duration(struct cbuf *b, uint32_t s)
{
    cbuf_u64(b, s);
    cbuf_put(b, "s");
}

static void write_tls(struct cbuf *b, const struct conf_tls *t)
{
    cbuf_put(b, "tls ");
    cbuf_u64(b, t->port);
    cbuf_put(b, " {\n");
    for (unsigned i = 0; i < t->n_certs; i++) {
        cbuf_put(b, "    certificate ");
        cbuf_put(b, t->certs[i].cert);
        cbuf_put(b, " key ");
        cbuf_put(b, t->certs[i].key);
        if (t->certs[i].sni[0]) {
            cbuf_put(b, " sni ");
            cbuf_put(b, t->certs[i].sni);
        }
        cbuf_put(b, "\n");
    }
    cbuf_put(b, "    backend ");
    cbuf_ipv4(b, t->backend_addr);
    cbuf_put(b, ":");
    cbuf_u64(b, t->backend_port);
    cbuf_put(b, "\n");
    if (t->proxy_protocol != CONF_PROXY_NONE)
        cbuf_put(b, t->proxy_protocol == CONF_PROXY_V1 ? "    proxy-protocol v1\n" : "    proxy-protocol v2\n");
    cbuf_put(b, "    max-connections ");
    cbuf_u64(b, t->max_connections);
    cbuf_put(b, "\n    idle-timeout ");
    put_duration(b, t->idle_timeout);
    cbuf_put(b, "\n    handshake-timeout ");
    put_duration(b, t->handshake_timeout);
    cbuf_put(b, "\n");
    if (t->n_alpn) {
        cbuf_put(b, "    alpn");
        for (unsigned i = 0; i < t->n_alpn; i++) {
            cbuf_put(b, " ");
            cbuf_put(b, t->alpn[i]);
        }
        cbuf_put(b, "\n");
    }
    cbuf_put(b, "}\n");
}

size_t conf_write(const struct conf *c, char *buf, size_t cap)
{
    struct cbuf b;
    cbuf_init(&b, buf, cap);
    cbuf_put(&b, "hostname ");
    cbuf_put(&b, c->hostname);
    cbuf_put(&b, "\nlog ");
    cbuf_put(&b, conf_log_level_name(c->log_level));
    cbuf_put(&b, "\n");
    if (c->n_ifaces)
        cbuf_put(&b, "\n");
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        const struct conf_iface *f = &c->ifaces[i];
        cbuf_put(&b, "interface ");
        cbuf_put(&b, f->name);
        cbuf_put(&b, " nic ");
        cbuf_u64(&b, f->nic);
        if (f->mode == CONF_IF_DHCP) {
            cbuf_put(&b, " dhcp");
        } else {
            cbuf_put(&b, " address ");
            cbuf_ipv4(&b, f->addr);
            cbuf_put(&b, "/");
            cbuf_u64(&b, f->prefix);
            if (f->has_gateway) {
                cbuf_put(&b, " gateway ");
                cbuf_ipv4(&b, f->gateway);
            }
        }
        cbuf_put(&b, "\n");
    }
    if (c->n_rules)
        cbuf_put(&b, "\n");
    for (unsigned i = 0; i < c->n_rules; i++) {
        size_t n;
        const char *s = conf_rule_text(c, i, &n);
        cbuf_putn(&b, s, n);
        cbuf_put(&b, "\n");
    }
    for (unsigned i = 0; i < c->n_tls; i++) {
        cbuf_put(&b, "\n");
        write_tls(&b, &c->tls[i]);
    }
    if (c->password_hash[0]) {
        cbuf_put(&b, "\nconsole password-hash ");
        cbuf_put(&b, c->password_hash);
        cbuf_put(&b, "\n");
    }
    return b.len;
}

static bool tls_equal(const struct conf_tls *a, const struct conf_tls *b)
{
    if (a->port != b->port || a->proxy_protocol != b->proxy_protocol || a->backend_addr != b->backend_addr ||
        a->backend_port != b->backend_port || a->max_connections != b->max_connections ||
        a->idle_timeout != b->idle_timeout || a->handshake_timeout != b->handshake_timeout ||
        a->n_certs != b->n_certs || a->n_alpn != b->n_alpn)
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
        a->n_tls != b->n_tls)
        return false;
    for (unsigned i = 0; i < a->n_ifaces; i++) {
        const struct conf_iface *x = &a->ifaces[i], *y = &b->ifaces[i];
        if (strcmp(x->name, y->name) || x->nic != y->nic || x->mode != y->mode)
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
