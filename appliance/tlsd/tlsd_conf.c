/*
 * tlsd_conf.c - tlsd's listeners: the boot configuration, and the
 * console's two-phase commit of a new one (abi/keel/tlsd.h, the contract).
 *
 * State.  A pool of 2 x CONF_MAX_TLS listener slots: at most CONF_MAX_TLS
 * run, and a prepared configuration takes at most CONF_MAX_TLS more, so
 * PREPARE never runs out of slots.  Two struct conf: confs[run] is the
 * running configuration (listeners point into it), the other takes a
 * candidate.  The prepared state (`prepared`): the candidate parsed, plan
 * (tlsd_plan.h: per block keep / replace / new), and pl[], the listeners
 * the candidate will run: the running one for a kept block, a fresh slot
 * built now for the others.  A fresh listener of a new port (or of a port
 * whose running listener is stopped) listens already; one that replaces a
 * serving listener takes that one's socket at COMMIT.  So COMMIT does
 * nothing that can fail: close connections, hand sockets over, free.
 *
 * Keys.  tlsd opens every key with keyd at start (keyd_client_open blocks
 * while keyd loads it) and remembers name -> id and fingerprint in keys[].
 * PREPARE opens a key it does not know the same way: the console has
 * prepared keyd first (keyd's KEYD_ADM_PREPARE loaded the candidate's
 * keys), so keyd answers at once; the ids PREPARE added to keys[] count only
 * from COMMIT on (nkeys_run): an aborted PREPARE forgets them, as keyd
 * unloads the keys it loaded for it.
 *
 * Who may configure: a client C with a "client:C" note (init adds one for
 * each server that has `connect tlsd`) and the region "shm:tlsadm-C";
 * calls are matched by badge.  Everything runs in tlsd's one thread, from
 * the event loop between passes over the connections.
 *
 * All of it lives in struct tlsd_conf (tlsd_conf.h), which tlsd.c owns and
 * hands to every call: no state at file scope.
 */
#include <keel/cpio.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/tlsd.h>
#include <keel/ulog.h>

#include "conf_addr.h"
#include "tlsd_conf.h"
#include "tlsd_plan.h"

#define ADMIN_STRIDE (1ull << 20)
/* netd's accept queue per listener: connections beyond it are reset, so
 * room for a burst as large as tlsd's own limit. */
#define LISTEN_BACKLOG TLSD_MAX_CONNS
_Static_assert(TLSADM_SHM_PAGES * 4096ull <= ADMIN_STRIDE, "the admin regions do not overlap");

static const struct conf_parser PARSER = { "appliance.conf", 0, false };

void tlsd_conf_init(struct tlsd_conf *tc, const struct tlsd_env *env) { tc->env = *env; }

static uint64_t now_s(void) { return keel_now_ns() / 1000000000ull; }

/* -------------------------------------------------------------- slots ---- */

static struct listener *slot_take(struct tlsd_conf *tc)
{
    for (unsigned i = 0; i < TLSD_CONF_POOL; i++)
        if (!tc->pool[i].used) {
            memset(&tc->pool[i], 0, sizeof tc->pool[i]);
            tc->pool[i].used = true;
            tc->pool[i].sock = -1;
            return &tc->pool[i];
        }
    return NULL; /* cannot happen: TLSD_CONF_POOL covers running + prepared */
}

/* Frees L's engine state and its socket (if it still has one).  Its
 * connections must be gone. */
static void slot_drop(struct tlsd_conf *tc, struct listener *l)
{
    if (l->sock >= 0)
        (void)sock_close(tc->env.sc, l->sock);
    if (l->has_srv)
        tls_server_free(&l->srv);
    l->used = l->ok = l->has_srv = false;
    l->sock = -1;
}

/* --------------------------------------------------------------- build ---- */

/* Key NAME's id and fingerprint: from tc->keys, or from keyd (which loads it,
 * or has it loaded already by the console's prepare). */
static int key_lookup(struct tlsd_conf *tc, const char *name, bool at_start, uint32_t *id, uint8_t fp[32], char *err,
                      size_t n)
{
    (void)at_start;
    for (unsigned i = 0; i < tc->nkeys; i++)
        if (strcmp(tc->keys[i].name, name) == 0) {
            *id = tc->keys[i].id;
            memcpy(fp, tc->keys[i].fp, 32);
            return 0;
        }
    unsigned type = 0, bits = 0;
    int r = keyd_client_open(tc->env.kc, name, id, &type, &bits, fp);
    if (r) {
        snprintf(err, n, "key %s: %s (keyd)", name, keyd_strerror(r));
        return -1;
    }
    if (tc->nkeys < TLSD_CONF_KEYS) {
        strlcpy(tc->keys[tc->nkeys].name, name, sizeof tc->keys[tc->nkeys].name);
        tc->keys[tc->nkeys].id = *id;
        memcpy(tc->keys[tc->nkeys].fp, fp, 32);
        tc->nkeys++;
    }
    return 0;
}

/* Builds L's engine state for block CT: certificates (site archive), keys,
 * ALPN.  Returns 0; or -1 with ERR, *LINE (the line at fault) and *WORD
 * (the file name at fault, or NULL).  L->has_srv says what to free. */
static int listener_build(struct tlsd_conf *tc, struct listener *l, const struct conf_tls *ct, bool at_start, char *err,
                          size_t n, unsigned *line, const char **word)
{
    char e[160];
    l->ct = ct;
    *line = ct->line;
    *word = NULL;
    struct tls_server_opts o = {
        .f_rng = tls_entropy_random,
        .p_rng = tc->env.ent,
        .signer = tc->env.signer,
        .now_s = now_s(),
        .versions = (ct->tls_versions & CONF_TLS_V12 ? TLS_V12 : 0) | (ct->tls_versions & CONF_TLS_V13 ? TLS_V13 : 0),
    };
    if (tls_server_init(&l->srv, &o, e, sizeof e) != TLS_OK) {
        snprintf(err, n, "%s", e);
        return -1;
    }
    l->has_srv = true;
    for (unsigned i = 0; i < ct->n_certs; i++) {
        const struct conf_cert *cc = &ct->certs[i];
        uint32_t id = 0;
        uint8_t fp[32];
        *line = cc->line;
        if (key_lookup(tc, cc->key, at_start, &id, fp, err, n)) {
            *word = cc->key;
            return -1;
        }
        const void *pem;
        size_t len;
        int r = cpio_find(tc->env.site, tc->env.site_len, cc->cert, &pem, &len);
        if (r) {
            *word = cc->cert;
            snprintf(err, n, "certificate %s: %s (site archive)", cc->cert, cpio_strerror(r));
            return -1;
        }
        const char *names[1] = { cc->sni };
        if (tls_server_add_cert(&l->srv, pem, len, id, fp, names, cc->sni[0] ? 1 : 0, cc->sni[0] == 0, e, sizeof e) !=
            TLS_OK) {
            *word = cc->cert;
            snprintf(err, n, "certificate %s: %s", cc->cert, e);
            return -1;
        }
    }
    *line = ct->line;
    if (ct->n_alpn) {
        const char *p[CONF_MAX_ALPN];
        for (unsigned i = 0; i < ct->n_alpn; i++)
            p[i] = ct->alpn[i];
        if (tls_server_set_alpn(&l->srv, p, ct->n_alpn, e, sizeof e) != TLS_OK) {
            snprintf(err, n, "alpn: %s", e);
            return -1;
        }
    }
    return 0;
}

static int listener_listen(struct tlsd_conf *tc, struct listener *l, char *err, size_t n)
{
    l->sock = sock_tcp_listen(tc->env.sc, l->ct->port, LISTEN_BACKLOG);
    if (l->sock < 0) {
        snprintf(err, n, "listen: error %d", l->sock);
        l->sock = -1;
        return -1;
    }
    return 0;
}

static void log_listening(const struct listener *l, const char *how)
{
    const struct conf_tls *ct = l->ct;
    struct conf_ip ip;
    char a[48];
    if (ct->backend_v6) {
        ip.af = CONF_AF_INET6;
        memcpy(ip.a, ct->backend_addr6, 16);
    } else {
        conf_ip_from_v4(&ip, ct->backend_addr);
    }
    (void)conf_ip_format(&ip, a, sizeof a);
    ulog("tlsd: %u: listening%s, TLS %s, %u certificate(s), backend %s%s%s:%u, max-connections %u%s, "
         "proxy-protocol %s\n",
         ct->port, how,
         ct->tls_versions == CONF_TLS_V13   ? "1.3"
         : ct->tls_versions == CONF_TLS_V12 ? "1.2"
                                            : "1.2-1.3",
         ct->n_certs, ct->backend_v6 ? "[" : "", a, ct->backend_v6 ? "]" : "", ct->backend_port, ct->max_connections,
         ct->max_connections > TLSD_MAX_CONNS ? " (tlsd holds 4092 at most over all listeners)" : "",
         ct->proxy_protocol == CONF_PROXY_V1   ? "v1"
         : ct->proxy_protocol == CONF_PROXY_V2 ? "v2"
                                               : "off");
}

/* ---------------------------------------------------------------- boot ---- */

int tlsd_conf_boot(struct tlsd_conf *tc, const char *text, size_t len, const struct conf **out)
{
    int r = conf_parse(&PARSER, text, len, &tc->confs[tc->run], &tc->res);
    if (r != CONF_OK) {
        for (unsigned i = 0; i < tc->res.n_errors; i++)
            ulog("tlsd: %s\n", tc->res.errors[i].msg);
        return r;
    }
    *out = &tc->confs[tc->run];
    return CONF_OK;
}

void tlsd_conf_start(struct tlsd_conf *tc)
{
    const struct conf *c = &tc->confs[tc->run];
    for (unsigned i = 0; i < c->n_tls; i++) {
        struct listener *l = slot_take(tc);
        char err[200];
        unsigned line;
        const char *word;
        if (listener_build(tc, l, &c->tls[i], true, err, sizeof err, &line, &word) == 0 &&
            listener_listen(tc, l, err, sizeof err) == 0) {
            l->ok = true;
            log_listening(l, "");
        } else {
            ulog("tlsd: %u: listener stopped: %s\n", c->tls[i].port, err);
            if (l->has_srv)
                tls_server_free(&l->srv);
            l->has_srv = false;
            l->ct = &c->tls[i];
        }
        tc->rl[tc->nl++] = l;
    }
    tc->nkeys_run = tc->nkeys;
}

struct listener *const *tlsd_conf_running(const struct tlsd_conf *tc, unsigned *n)
{
    *n = tc->nl;
    return tc->rl;
}

/* -------------------------------------------------------------- admins ---- */

void tlsd_conf_admin_init(struct tlsd_conf *tc, const struct keel_srvinfo *si, uint64_t va)
{
    tc->nadm = srv_map_client_regions(si, "shm:tlsadm-", TLSADM_SHM_PAGES, va, ADMIN_STRIDE, tc->adm,
                                      TLSD_CONF_ADMIN_MAX, "tlsd");
}

int64_t tlsd_conf_admit(void *ctx, const struct keel_msg *m)
{
    struct tlsd_conf *tc = ctx;
    uint32_t id = SRV_LABEL_ID((uint32_t)keel_label(m));
    tc->caller = NULL;
    if (id != TLSD_CONFIG_PREPARE && id != TLSD_CONFIG_COMMIT && id != TLSD_CONFIG_ABORT && id != TLSD_STATS_CLEAR)
        return 0; /* the statistics: anyone's */
    tc->caller = srv_client_of(tc->adm, tc->nadm, m->badge);
    return tc->caller ? 0 : TLSD_E_NOT_ADMIN;
}

/* ------------------------------------------------------------- prepare ---- */

/* Frees what a PREPARE built (running listeners are not touched). */
static void prepared_drop(struct tlsd_conf *tc)
{
    for (unsigned j = 0; j < tc->pnl; j++)
        if (tc->pl[j] && tc->plan.action[j] != TLSD_PLAN_KEEP)
            slot_drop(tc, tc->pl[j]);
    for (unsigned j = 0; j < CONF_MAX_TLS; j++)
        tc->pl[j] = NULL;
    tc->pnl = 0;
    tc->prepared = false;
    tc->nkeys = tc->nkeys_run; /* keys a dropped PREPARE opened: keyd unloads them at its abort */
}

/* The 1-based column of WORD in line LINE of the candidate's text (LEN
 * bytes, tc->text), or 1. */
static unsigned column_of(const struct tlsd_conf *tc, size_t len, unsigned line, const char *word)
{
    size_t at = 0;
    for (unsigned l = 1; l < line && at < len; at++)
        if (tc->text[at] == '\n')
            l++;
    size_t end = at;
    while (end < len && tc->text[end] != '\n')
        end++;
    size_t wl = word ? strlen(word) : 0;
    for (size_t i = at; wl && i + wl <= end; i++)
        if (memcmp(tc->text + i, word, wl) == 0 && (i == at || tc->text[i - 1] == ' ' || tc->text[i - 1] == '\t'))
            return (unsigned)(i - at + 1);
    for (size_t i = at; i < end; i++)
        if (tc->text[i] != ' ' && tc->text[i] != '\t')
            return (unsigned)(i - at + 1);
    return 1;
}

/* Writes MSG to A's answer area; the reply TLSD_E_CONFIG with LINE, COL. */
static int64_t refuse(struct srv_client_region *a, struct keel_msg *m, unsigned line, unsigned col, const char *msg)
{
    size_t n = strnlen(msg, TLSADM_OUT_MAX - 1);
    memcpy(a->base + TLSADM_OUT_OFF, msg, n);
    a->base[TLSADM_OUT_OFF + n] = '\0';
    m->mr[0] = line;
    m->mr[1] = col;
    m->mr[2] = n;
    m->mr[3] = 0;
    ulog("tlsd: admin %s: configuration refused: %s\n", a->name, msg);
    return TLSD_E_CONFIG;
}

/* Builds the fresh listener for candidate block J (not KEEP). */
static int prepare_block(struct tlsd_conf *tc, unsigned j, const struct conf_tls *ct, size_t len, char *msg, size_t n,
                         unsigned *line, unsigned *col)
{
    char err[240];
    const char *word = NULL;
    struct listener *l = slot_take(tc);
    tc->pl[j] = l;
    *line = ct->line;
    *col = 1;
    if (!l) {
        snprintf(err, sizeof err, "no free listener slot");
    } else if (listener_build(tc, l, ct, false, err, sizeof err, line, &word) == 0) {
        const struct listener *old = tc->plan.from[j] >= 0 ? tc->rl[tc->plan.from[j]] : NULL;
        if (old && old->ok && old->sock >= 0)
            return 0; /* takes the running listener's socket at COMMIT */
        if (listener_listen(tc, l, err, sizeof err) == 0)
            return 0;
        *line = ct->line;
        word = NULL;
    }
    *col = column_of(tc, len, *line, word);
    snprintf(msg, n, "appliance.conf:%u:%u: tls %u: %s", *line, *col, ct->port, err);
    return -1;
}

int64_t tlsd_conf_prepare(void *ctx, struct keel_msg *m)
{
    struct tlsd_conf *tc = ctx;
    struct srv_client_region *a = tc->caller;
    uint64_t len = m->mr[0];
    if (len > TLSADM_IN_MAX)
        return TLSD_E_INVAL;
    prepared_drop(tc); /* a PREPARE replaces an unfinished one: one prepared state at most */
    memcpy(tc->text, a->base + TLSADM_IN_OFF, len); /* our own copy: the client cannot change it under the parser */
    struct conf *next = &tc->confs[1 - tc->run];
    if (conf_parse(&PARSER, tc->text, len, next, &tc->res) != CONF_OK) {
        const struct conf_diag *d = tc->res.n_errors ? &tc->res.errors[0] : NULL;
        return refuse(a, m, d ? d->line : 0, d ? d->col : 0, d ? d->msg : "appliance.conf: does not parse");
    }
    bool ok[CONF_MAX_TLS];
    for (unsigned i = 0; i < tc->nl; i++)
        ok[i] = tc->rl[i]->ok;
    if (tlsd_plan_make(tc->confs[tc->run].tls, ok, tc->nl, next->tls, next->n_tls, &tc->plan) != 0)
        return refuse(a, m, 0, 0, "appliance.conf: too many tls blocks");
    for (unsigned j = 0; j < next->n_tls; j++) {
        tc->pnl = j + 1;
        if (tc->plan.action[j] == TLSD_PLAN_KEEP) {
            tc->pl[j] = tc->rl[tc->plan.from[j]];
            continue;
        }
        char msg[320];
        unsigned line, col;
        if (prepare_block(tc, j, &next->tls[j], len, msg, sizeof msg, &line, &col) != 0) {
            prepared_drop(tc);
            return refuse(a, m, line, col, msg);
        }
    }
    tc->prepared = true;
    m->mr[0] = next->n_tls;
    m->mr[1] = tc->plan.kept;
    m->mr[2] = tc->plan.started;
    m->mr[3] = tc->plan.stopped;
    ulog("tlsd: admin %s: configuration prepared: %u listener(s): keep %u, start %u, stop %u\n", a->name, next->n_tls,
         tc->plan.kept, tc->plan.started, tc->plan.stopped);
    return 0;
}

/* -------------------------------------------------------------- commit ---- */

/* Ends running listener I (removed, or replaced by candidate block TO >= 0):
 * its connections are released, its socket handed over or closed.
 * Returns the connections closed. */
static unsigned retire(struct tlsd_conf *tc, unsigned i, int to)
{
    struct listener *r = tc->rl[i];
    unsigned closed = tc->env.close_conns(tc->env.close_ctx, r);
    if (to >= 0) {
        struct listener *n = tc->pl[to];
        if (n->sock < 0) {
            n->sock = r->sock; /* the same port: no gap in listening */
            r->sock = -1;
        }
        n->accepted = r->accepted;
        n->refused = r->refused;
        n->backend_failed = r->backend_failed;
        n->bytes_c2b = r->bytes_c2b;
        n->bytes_b2c = r->bytes_b2c;
        n->srv.stats = r->srv.stats;
    } else {
        ulog("tlsd: %u: stopped (not in the committed configuration), %u connection(s) closed\n", r->ct->port, closed);
    }
    slot_drop(tc, r);
    return closed;
}

int64_t tlsd_conf_commit(void *ctx, struct keel_msg *m)
{
    struct tlsd_conf *tc = ctx;
    struct srv_client_region *a = tc->caller;
    if (!tc->prepared)
        return TLSD_E_NOT_PREPARED;
    /* point of no return: nothing below can fail */
    struct conf *next = &tc->confs[1 - tc->run];
    unsigned closed = 0;
    for (unsigned i = 0; i < tc->nl; i++) {
        int to = -1;
        for (unsigned j = 0; j < tc->pnl; j++)
            if (tc->plan.from[j] == (int)i && tc->plan.action[j] == TLSD_PLAN_REPLACE)
                to = (int)j;
        if (tc->plan.removed[i] || to >= 0)
            closed += retire(tc, i, to);
    }
    for (unsigned j = 0; j < tc->pnl; j++) {
        tc->pl[j]->ct = &next->tls[j]; /* a kept block is equal: only its line may differ */
        if (tc->plan.action[j] != TLSD_PLAN_KEEP) {
            tc->pl[j]->ok = true;
            log_listening(tc->pl[j], tc->plan.action[j] == TLSD_PLAN_NEW ? " (new)" : " (changed)");
        }
        tc->rl[j] = tc->pl[j];
        tc->pl[j] = NULL;
    }
    tc->nl = tc->pnl;
    tc->run = 1 - tc->run;
    tc->pnl = 0;
    tc->prepared = false;
    tc->nkeys_run = tc->nkeys; /* the keys the PREPARE opened are the running configuration's now */
    m->mr[0] = tc->nl;
    m->mr[1] = tc->plan.kept;
    m->mr[2] = tc->plan.started;
    m->mr[3] = closed;
    ulog("tlsd: admin %s: configuration committed: %u listener(s): kept %u, started %u, stopped %u, %u "
         "connection(s) closed\n",
         a->name, tc->nl, tc->plan.kept, tc->plan.started, tc->plan.stopped, closed);
    return 0;
}

int64_t tlsd_conf_abort(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct tlsd_conf *tc = ctx;
    struct srv_client_region *a = tc->caller;
    if (tc->prepared)
        ulog("tlsd: admin %s: prepared configuration aborted\n", a->name);
    prepared_drop(tc);
    return 0;
}

int64_t tlsd_conf_clear(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct tlsd_conf *tc = ctx;
    struct srv_client_region *a = tc->caller;
    unsigned nl;
    struct listener *const *rl = tlsd_conf_running(tc, &nl);
    for (unsigned i = 0; i < nl; i++) {
        struct listener *l = rl[i];
        uint64_t open = l->srv.stats.current;
        l->accepted = l->refused = l->bytes_c2b = l->bytes_b2c = l->backend_failed = 0;
        memset(&l->srv.stats, 0, sizeof l->srv.stats);
        l->srv.stats.current = open;
    }
    ulog("tlsd: admin %s: counters cleared\n", a->name);
    return 0;
}
