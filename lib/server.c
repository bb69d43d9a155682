/*
 * server.c - the server loop (see keel/server.h).
 *
 * The label's low 24 bits name the operation and bits 24-31 carry how many
 * message words the client sent, so the loop can refuse a request that is
 * too short before any handler reads garbage registers.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/ulog.h>

static const struct srv_handler *find_handler(const struct srv_loop *l, uint32_t id)
{
    for (size_t i = 0; i < l->n_handlers; i++)
        if (l->handlers[i].label == id)
            return &l->handlers[i];
    return NULL;
}

int srv_dispatch(const struct srv_loop *l, struct keel_msg *m)
{
    if (m->info & KEEL_RECV_NOTIFY) {
        if (l->on_notify)
            l->on_notify(l->ctx, m->badge);
        return 0;
    }
    if (m->info & KEEL_RECV_FAULT) {
        if (l->on_fault)
            l->on_fault(l->ctx, m);
        return 0;
    }
    int wants_reply = (m->info & KEEL_RECV_CALL) != 0;
    uint32_t label = (uint32_t)keel_label(m);
    const struct srv_handler *h = find_handler(l, SRV_LABEL_ID(label));
    int64_t r;
    if (!h)
        r = (int32_t)SRV_E_UNKNOWN;
    else if (SRV_LABEL_WORDS(label) < h->words)
        r = (int32_t)SRV_E_SHORT;
    else if (!l->admit || (r = l->admit(l->ctx, m)) == 0)
        r = h->fn(l->ctx, m);
    if (r == SRV_NO_REPLY || !wants_reply)
        return 0;
    if (!h || SRV_LABEL_WORDS(label) < h->words)
        m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    m->info = (uint32_t)r;
    m->badge = 0;
    return 1;
}

int64_t srv_run(const struct srv_loop *l)
{
    struct keel_msg m = { 0 };
    int reply = 0;
    for (;;) {
        int64_t err = reply ? keel_reply_recv(l->endpoint, &m) : keel_recv(l->endpoint, &m);
        if (err)
            return err;
        reply = srv_dispatch(l, &m);
        if (!reply)
            m.info = 0;
    }
}

int64_t srv_ready(void)
{
    struct keel_msg ready = { .info = INIT_READY };
    return keel_call(SRV_SLOT_INIT, &ready);
}

int64_t srv_ready_and_run(const struct srv_loop *l)
{
    (void)srv_ready();
    return srv_run(l);
}

int64_t srv_map_frame(uint64_t slot, uint64_t va, uint64_t rights, uint64_t min_pages, uint64_t *pages)
{
    uint64_t n = 0;
    int64_t err = keel_frame_info(slot, NULL, &n);
    if (!err && n < min_pages)
        err = KE_RANGE;
    if (!err)
        err = keel_map(SRV_SLOT_TASK, slot, va, rights);
    if (!err && pages)
        *pages = n;
    return err;
}

int64_t srv_map_site(const struct keel_srvinfo *si, uint64_t va, const void **data, size_t *len)
{
    uint64_t slot = srv_find_cap(si, "site"), pages = 0;
    if (!slot || si->site_size == 0)
        return KE_EMPTY_SLOT;
    int64_t err = keel_frame_info(slot, NULL, &pages);
    if (err)
        return err;
    if (si->site_offset > pages * 4096 || si->site_size > pages * 4096 - si->site_offset)
        return KE_RANGE;
    err = keel_map(SRV_SLOT_TASK, slot, va, RIGHT_READ);
    if (err)
        return err;
    *data = (const void *)(va + si->site_offset);
    *len = si->site_size;
    return 0;
}

uint64_t srv_find_cap(const struct keel_srvinfo *si, const char *name)
{
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++)
        if (strncmp(si->caps[i].name, name, sizeof si->caps[i].name) == 0)
            return si->caps[i].slot;
    return 0;
}

uint64_t srv_find_cap_prefix(const struct keel_srvinfo *si, const char *prefix)
{
    size_t plen = strlen(prefix);
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++) {
        const char *name = si->caps[i].name;
        /* The name is a fixed 24-byte field and need not end in a NUL. */
        if (strnlen(name, sizeof si->caps[i].name) >= plen && strncmp(name, prefix, plen) == 0)
            return si->caps[i].slot;
    }
    return 0;
}

uint64_t srv_find_cap_of(const struct keel_srvinfo *si, const char *prefix, const char *name)
{
    char full[64]; /* srv_find_cap compares the field's 24 bytes at most */
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return srv_find_cap(si, full);
}

const char *srv_next_client(const struct keel_srvinfo *si, uint32_t *i, uint64_t *badge)
{
    while (*i < si->n_caps && *i < KEEL_SRV_MAX_CAPS) {
        const struct keel_srv_cap *cap = &si->caps[(*i)++];
        if (cap->type == CAP_NONE && strncmp(cap->name, "client:", 7) == 0) {
            *badge = cap->slot;
            return cap->name + 7;
        }
    }
    return NULL;
}

unsigned srv_map_client_regions(const struct keel_srvinfo *si, const char *prefix, uint64_t min_pages, uint64_t va,
                                uint64_t stride, struct srv_client_region *out, unsigned max, const char *who)
{
    unsigned n = 0;
    const char *name;
    uint64_t badge;
    for (uint32_t i = 0; (name = srv_next_client(si, &i, &badge)) != NULL;) {
        uint64_t shm = srv_find_cap_of(si, prefix, name);
        if (!shm)
            continue;
        if (n == max) {
            ulog("%s: admin: more than %u clients; %s ignored\n", who, max, name);
            continue;
        }
        uint64_t at = va + n * stride;
        int64_t err = srv_map_frame(shm, at, RIGHT_READ | RIGHT_WRITE, min_pages, NULL);
        if (err) {
            ulog("%s: admin: %s: cannot map its region (error %lld; it needs %u pages)\n", who, name, (long long)err,
                 (unsigned)min_pages);
            continue;
        }
        struct srv_client_region *c = &out[n++];
        strlcpy(c->name, name, sizeof c->name);
        c->badge = badge;
        c->base = (uint8_t *)at;
        ulog("%s: admin: client %s (badge %llu)\n", who, name, (unsigned long long)badge);
    }
    return n;
}

struct srv_client_region *srv_client_of(struct srv_client_region *regions, unsigned n, uint64_t badge)
{
    for (unsigned i = 0; i < n; i++)
        if (regions[i].badge == badge)
            return &regions[i];
    return NULL;
}

uint64_t srv_free_slot(void)
{
    uint64_t type, rights, badge;
    for (uint64_t s = KEEL_CAP_SLOTS - 1; s >= SRV_SLOT_FIRST_GRANT; s--)
        if (keel_cap_info(s, &type, &rights, &badge) == KE_EMPTY_SLOT)
            return s;
    return 0;
}
