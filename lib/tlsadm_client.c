/*
 * tlsadm_client.c - calls of tlsd's protocol (abi/keel/tlsd.h) for
 * consoled.  Every length tlsd returns is checked against the region before
 * it is used, and every byte of a message copied out is made printable: a
 * confused tlsd cannot make consoled read outside the region or write
 * escape sequences to the operator's terminal.
 */
#include <keel/adm_call.h>
#include <keel/string.h>
#include <keel/sys.h>

#include <keel/tlsadm_client.h>

/* One call of tlsd's protocol (adm_call); no endpoint: KE_EMPTY_SLOT. */
static int64_t call(const struct tlsadm *t, uint32_t label, unsigned words, struct keel_msg *m)
{
    if (!t->ep)
        return KE_EMPTY_SLOT;
    return adm_call(t->ep, label, words, m, t->nap, t->ctx, TLSADM_TRIES);
}

static void summary(const struct keel_msg *m, struct tlsadm_summary *s)
{
    if (!s)
        return;
    s->listeners = m->mr[0] <= TLSD_MAX_LISTENERS ? (unsigned)m->mr[0] : 0;
    s->kept = m->mr[1] <= TLSD_MAX_LISTENERS ? (unsigned)m->mr[1] : 0;
    s->started = m->mr[2] <= TLSD_MAX_LISTENERS ? (unsigned)m->mr[2] : 0;
    s->other = m->mr[3] < 1000000 ? (unsigned)m->mr[3] : 0;
}

int64_t tlsadm_prepare(const struct tlsadm *t, const char *text, size_t len, char *msg, size_t msglen, unsigned *line,
                       unsigned *col, struct tlsadm_summary *s)
{
    *line = *col = 0;
    if (msglen)
        msg[0] = '\0';
    if (s)
        *s = (struct tlsadm_summary){ 0 };
    if (!t->base)
        return TLSD_E_NOT_ADMIN;
    if (len > TLSADM_IN_MAX)
        return TLSD_E_INVAL;
    memcpy(t->base + TLSADM_IN_OFF, text, len);
    struct keel_msg m = { .mr = { len } };
    int64_t r = call(t, TLSD_CONFIG_PREPARE, 1, &m);
    if (r == 0)
        summary(&m, s);
    if (r == TLSD_E_CONFIG && msglen)
        adm_refusal(t->base + TLSADM_OUT_OFF, TLSADM_OUT_MAX, &m, msg, msglen, line, col);
    return r;
}

int64_t tlsadm_commit(const struct tlsadm *t, struct tlsadm_summary *s)
{
    struct keel_msg m = { 0 };
    int64_t r = call(t, TLSD_CONFIG_COMMIT, 0, &m);
    if (s)
        *s = (struct tlsadm_summary){ 0 };
    if (r == 0)
        summary(&m, s);
    return r;
}

int64_t tlsadm_abort(const struct tlsadm *t)
{
    struct keel_msg m = { 0 };
    return call(t, TLSD_CONFIG_ABORT, 0, &m);
}

int64_t tlsadm_clear(const struct tlsadm *t)
{
    struct keel_msg m = { 0 };
    return call(t, TLSD_STATS_CLEAR, 0, &m);
}

int64_t tlsadm_listeners(const struct tlsadm *t, struct tlsadm_listener *out, unsigned max, unsigned *n)
{
    struct keel_msg m = { 0 };
    *n = 0;
    int64_t r = call(t, TLSD_LISTENERS, 0, &m);
    if (r)
        return r;
    uint64_t k = m.mr[0] < TLSD_MAX_LISTENERS ? m.mr[0] : TLSD_MAX_LISTENERS;
    for (unsigned i = 0; i < k && i < max; i++) {
        out[i].port = (uint16_t)(m.mr[2 + i / 4] >> (16 * (i % 4)));
        out[i].serving = (m.mr[1] >> i) & 1;
        *n = i + 1;
    }
    return 0;
}

int64_t tlsadm_stats(const struct tlsadm *t, unsigned index, struct tlsadm_stats *s)
{
    uint64_t g[TLSD_G_COUNT][4];
    for (unsigned k = 0; k < TLSD_G_COUNT; k++) {
        struct keel_msg m = { .mr = { index, k } };
        int64_t r = call(t, TLSD_STATS, 2, &m);
        if (r)
            return r;
        memcpy(g[k], m.mr, sizeof g[k]);
    }
    *s = (struct tlsadm_stats){
        .accepted = g[TLSD_G_CONNS][0],
        .current = g[TLSD_G_CONNS][1],
        .refused = g[TLSD_G_CONNS][2],
        .backend_failed = g[TLSD_G_CONNS][3],
        .handshakes_ok = g[TLSD_G_HANDSHAKES][0],
        .resumed = g[TLSD_G_HANDSHAKES][1],
        .failed = g[TLSD_G_HANDSHAKES][2],
        .truncated = g[TLSD_G_HANDSHAKES][3],
        .bytes_c2b = g[TLSD_G_BYTES][0],
        .bytes_b2c = g[TLSD_G_BYTES][1],
        .sni_named = g[TLSD_G_BYTES][2],
        .sni_default = g[TLSD_G_BYTES][3],
        .tls13_ok = g[TLSD_G_VERSIONS][0],
        .tls13_resumed = g[TLSD_G_VERSIONS][1],
        .tls12_ok = g[TLSD_G_VERSIONS][2],
        .tls12_resumed = g[TLSD_G_VERSIONS][3],
    };
    for (unsigned r = 1; r < TLSD_FAIL_COUNT; r++)
        s->failed_by[r] = g[TLSD_G_FAILED + r / 4][r % 4];
    return 0;
}

const char *tlsadm_strerror(int64_t err)
{
    switch (err) {
    case TLSD_E_BAD_LISTENER: return "tlsd has no such listener";
    case TLSD_E_BAD_GROUP: return "tlsd has no such counter group";
    case TLSD_E_NOT_ADMIN: return "tlsd does not take this console's configuration (no tlsadm region)";
    case TLSD_E_INVAL: return "the configuration is too long for tlsd";
    case TLSD_E_CONFIG: return "tlsd refused the configuration";
    case TLSD_E_NOT_PREPARED: return "tlsd had no prepared configuration";
    case TLSD_E_IDLE: return "tlsd refuses to serve (`show log` says why)";
    case KE_EMPTY_SLOT: return "no tlsd is connected to this console";
    case KE_WOULD_BLOCK: return "tlsd did not answer (not started, or busy restarting)";
    default: return "tlsd did not answer (absent or restarting)";
    }
}
