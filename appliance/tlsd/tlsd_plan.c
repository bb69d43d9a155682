/*
 * tlsd_plan.c - the listener diff of a configuration commit (tlsd_plan.h).
 * Pure: strings are compared up to their NUL (bytes after it may differ),
 * numbers field by field, so padding and the `line` fields never count.
 */
#include <keel/string.h>

#include "tlsd_plan.h"

static bool cert_same(const struct conf_cert *a, const struct conf_cert *b)
{
    return strcmp(a->cert, b->cert) == 0 && strcmp(a->key, b->key) == 0 && strcmp(a->sni, b->sni) == 0;
}

bool tlsd_plan_same(const struct conf_tls *a, const struct conf_tls *b)
{
    if (a->port != b->port || a->proxy_protocol != b->proxy_protocol || a->backend_port != b->backend_port ||
        a->backend_addr != b->backend_addr || a->backend_v6 != b->backend_v6 ||
        memcmp(a->backend_addr6, b->backend_addr6, 16) != 0 || a->max_connections != b->max_connections ||
        a->idle_timeout != b->idle_timeout || a->handshake_timeout != b->handshake_timeout ||
        a->n_certs != b->n_certs || a->n_alpn != b->n_alpn || a->tls_versions != b->tls_versions ||
        a->n_certs > CONF_MAX_CERTS || a->n_alpn > CONF_MAX_ALPN)
        return false;
    for (unsigned i = 0; i < a->n_certs; i++)
        if (!cert_same(&a->certs[i], &b->certs[i]))
            return false;
    for (unsigned i = 0; i < a->n_alpn; i++)
        if (strcmp(a->alpn[i], b->alpn[i]) != 0)
            return false;
    return true;
}

int tlsd_plan_make(const struct conf_tls *run, const bool *run_ok, unsigned n_run, const struct conf_tls *next,
                   unsigned n_next, struct tlsd_plan *p)
{
    if (n_run > CONF_MAX_TLS || n_next > CONF_MAX_TLS)
        return -1;
    memset(p, 0, sizeof *p);
    p->n_next = n_next;
    bool used[CONF_MAX_TLS] = { false };
    for (unsigned j = 0; j < n_next; j++) {
        p->action[j] = TLSD_PLAN_NEW;
        p->from[j] = -1;
        for (unsigned i = 0; i < n_run; i++) {
            if (run[i].port != next[j].port)
                continue;
            used[i] = true;
            p->from[j] = (int8_t)i;
            p->action[j] = run_ok[i] && tlsd_plan_same(&run[i], &next[j]) ? TLSD_PLAN_KEEP : TLSD_PLAN_REPLACE;
            break;
        }
        if (p->action[j] == TLSD_PLAN_KEEP)
            p->kept++;
        else
            p->started++;
    }
    for (unsigned i = 0; i < n_run; i++) {
        p->removed[i] = !used[i];
        p->stopped += !used[i];
    }
    return 0;
}
