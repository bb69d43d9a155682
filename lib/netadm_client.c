/*
 * netadm_client.c - calls of netd's administration protocol
 * (abi/keel/netadm.h).  Every length netd returns is checked against the
 * region before it is used: a confused netd cannot make consoled read
 * outside it.
 */
#include <keel/adm_call.h>
#include <keel/string.h>
#include <keel/sys.h>

#include <keel/netadm_client.h>

/* One call of netd's protocol (adm_call); no endpoint or no region: KE_EMPTY_SLOT. */
static int64_t call(const struct netadm *n, uint32_t label, unsigned words, struct keel_msg *m)
{
    if (!n->ep || !n->base)
        return KE_EMPTY_SLOT;
    return adm_call(n->ep, label, words, m, n->nap, n->ctx, NETADM_TRIES);
}

int64_t netadm_prepare(const struct netadm *n, const char *text, size_t len, char *msg, size_t msglen, unsigned *line,
                       unsigned *col)
{
    *line = *col = 0;
    if (msglen)
        msg[0] = '\0';
    if (len > NETADM_IN_MAX)
        return NETADM_E_INVAL;
    if (n->base)
        memcpy(n->base + NETADM_IN_OFF, text, len);
    struct keel_msg m = { .mr = { len } };
    int64_t r = call(n, NETADM_PREPARE, 1, &m);
    if (r == NETADM_E_PARSE && msglen)
        adm_refusal(n->base + NETADM_OUT_OFF, NETADM_OUT_MAX, &m, msg, msglen, line, col);
    return r;
}

int64_t netadm_commit(const struct netadm *n, unsigned *rules)
{
    struct keel_msg m = { 0 };
    int64_t r = call(n, NETADM_COMMIT, 0, &m);
    *rules = r == 0 ? (unsigned)m.mr[0] : 0;
    return r;
}

int64_t netadm_abort(const struct netadm *n)
{
    struct keel_msg m = { 0 };
    return call(n, NETADM_ABORT, 0, &m);
}

int64_t netadm_show(const struct netadm *n, unsigned what, const char **text, size_t *len, int *cut)
{
    struct keel_msg m = { .mr = { what } };
    *text = NULL;
    *len = 0;
    *cut = 0;
    int64_t r = call(n, NETADM_SHOW, 1, &m);
    if (r)
        return r;
    if (m.mr[0] > NETADM_OUT_MAX)
        return NETADM_E_INVAL;
    *text = (const char *)n->base + NETADM_OUT_OFF;
    *len = (size_t)m.mr[0];
    *cut = m.mr[1] != 0;
    return 0;
}

int64_t netadm_table(const struct netadm *n, unsigned op, const char *name, size_t len, uint32_t addr, unsigned prefix,
                     const char **text, size_t *textlen, int *cut, unsigned *count)
{
    if (!n->base || len == 0 || len > 31)
        return NETADM_E_INVAL;
    memcpy(n->base + NETADM_IN_OFF, name, len); /* netd copies it before it looks */
    struct keel_msg m = { .mr = { op, len, addr, prefix } };
    int64_t r = call(n, NETADM_TABLE, 4, &m);
    if (r)
        return r;
    if (count)
        *count = (unsigned)m.mr[0];
    if (op == NETADM_TABLE_SHOW && text && textlen) {
        if (m.mr[0] > NETADM_OUT_MAX)
            return NETADM_E_INVAL;
        *text = (const char *)n->base + NETADM_OUT_OFF;
        *textlen = (size_t)m.mr[0];
        if (cut)
            *cut = m.mr[1] != 0;
    }
    return 0;
}

int64_t netadm_clear(const struct netadm *n)
{
    struct keel_msg m = { 0 };
    return call(n, NETADM_CLEAR, 0, &m);
}

int64_t netadm_ping(const struct netadm *n, uint32_t addr, unsigned count)
{
    struct keel_msg m = { .mr = { addr, count } };
    return call(n, NETADM_PING, 2, &m);
}

int64_t netadm_ping6(const struct netadm *n, const uint8_t addr[16], unsigned count)
{
    memcpy((uint8_t *)n->base + NETADM_IN_OFF, addr, 16);
    struct keel_msg m = { .mr = { 0, count, 6 } };
    return call(n, NETADM_PING, 3, &m);
}

int64_t netadm_ping_status(const struct netadm *n, unsigned *sent, unsigned *received, int *done, uint32_t *min_us,
                           uint32_t *max_us)
{
    struct keel_msg m = { 0 };
    int64_t r = call(n, NETADM_PING_STATUS, 0, &m);
    if (r)
        return r;
    *sent = (unsigned)(m.mr[0] & 0xffff);
    *received = (unsigned)(m.mr[1] & 0xffff);
    *done = m.mr[2] != 0;
    *min_us = (uint32_t)(m.mr[3] >> 32);
    *max_us = (uint32_t)m.mr[3];
    return 0;
}

const char *netadm_strerror(int64_t err)
{
    switch (err) {
    case NETADM_E_NOT_ADMIN: return "netd does not take this console's configuration (no admin region)";
    case NETADM_E_INVAL: return "netd refused an argument";
    case NETADM_E_PARSE: return "netd could not parse the configuration";
    case NETADM_E_NOT_PREPARED: return "netd had no prepared configuration";
    case NETADM_E_NO_TABLE: return "the running rule set has no table of that name";
    case NETADM_E_EXISTS: return "the address is in the table already";
    case NETADM_E_NOT_FOUND: return "the address is not in the table";
    case NETADM_E_FULL: return "the table is full (128 addresses)";
    case NETADM_E_CONST: return "the table is const: only the configuration changes it";
    case KE_EMPTY_SLOT: return "no netd is connected to this console";
    case KE_WOULD_BLOCK: return "netd did not answer (not started, or busy restarting)";
    default: return "netd did not answer (absent or restarting)";
    }
}
