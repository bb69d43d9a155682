/*
 * init_grant.c - the manifest's grants: the named objects (endpoints, shared
 * regions, notifications) made once at boot so they outlive restarts, each
 * server's PCI device and DMA space, and the capabilities one grant line gives.
 */
#include "init_priv.h"

static void name_cap(struct keel_srvinfo *info, uint32_t slot, uint32_t type, const char *prefix, const char *name)
{
    if (info->n_caps == KEEL_SRV_MAX_CAPS)
        return;
    struct keel_srv_cap *c = &info->caps[info->n_caps++];
    c->slot = slot;
    c->type = type;
    size_t n = 0;
    for (; prefix[n] && n + 1 < sizeof c->name; n++)
        c->name[n] = prefix[n];
    for (size_t i = 0; name && name[i] && n + 1 < sizeof c->name; i++)
        c->name[n++] = name[i];
    c->name[n] = 0;
}

/* Shares and notifications are looked up under the kind that created them. */
static enum grant_kind named_kind(enum grant_kind k)
{
    if (k == GRANT_CONNECT)
        return GRANT_ENDPOINT;
    if (k == GRANT_SIGNAL)
        return GRANT_NOTIFY;
    return k;
}

static uint64_t named_object(struct init_state *st, enum grant_kind kind, const char *name)
{
    for (unsigned i = 0; i < st->n_named; i++)
        if (st->named[i].kind == named_kind(kind) && strcmp(st->named[i].name, name) == 0)
            return st->named[i].slot;
    return 0;
}

/* How many servers that run this boot name shared region NAME (a `%`
 * grant, `share eth% 256`, names each instance's). */
static unsigned share_holders(struct init_state *st, const char *name)
{
    unsigned n = 0;
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        const struct server_spec *sp = &st->manifest.servers[i];
        if (!selected(st, sp) || st->servers[i].absent)
            continue;
        for (unsigned g = 0; g < sp->n_grants; g++)
            if (sp->grants[g].kind == GRANT_SHARE && manifest_name_matches(sp->grants[g].name, name)) {
                n++;
                break;
            }
    }
    return n;
}

/* Creates the named object for grant G unless it exists already.  A
 * per-instance grant (`connect eth%`) never creates: its object is its
 * instance's, made only when that instance runs (setup), so a server is
 * given exactly the NICs present and no absent NIC's 1 MiB ring is made. */
#define INIT_DMA_SHARE_MAX 1024 /* pages: the kernel's limit for a DMA frame (one contiguous run) */
int64_t create_named(struct init_state *st, const struct grant *g)
{
    enum grant_kind kind = named_kind(g->kind);
    if (kind != GRANT_ENDPOINT && kind != GRANT_SHARE && kind != GRANT_NOTIFY)
        return KE_OK;
    if (g->per_instance)
        return KE_OK;
    if (named_object(st, kind, g->name))
        return KE_OK;
    if (kind == GRANT_SHARE && share_holders(st, g->name) < 2)
        return KE_OK; /* nobody to share it with this boot: no memory for it (grant gives nothing) */
    uint64_t s = slot_alloc(st);
    int64_t err;
    if (kind == GRANT_ENDPOINT)
        err = keel_obj_create(INIT_SLOT_MEMORY, OBJ_ENDPOINT, s, 0);
    else if (kind == GRANT_NOTIFY)
        err = keel_obj_create(INIT_SLOT_MEMORY, OBJ_NOTIFICATION, s, 0);
    else /* a DMA frame (a driver may hand its pages to a device) up to the kernel's 1024-page
          * run; a larger share (a socket client's page pool) is a plain frame of any pages */
        err = keel_obj_create(INIT_SLOT_MEMORY, g->a <= INIT_DMA_SHARE_MAX ? OBJ_DMA_FRAME : OBJ_FRAME, s, g->a);
    if (err)
        return err;
    st->named[st->n_named].kind = kind;
    st->named[st->n_named].name = g->name;
    st->named[st->n_named++].slot = s;
    return KE_OK;
}

/* Confines SV's device to the DMA frames of SV's new task: creates its DMA
 * space the first time, then attaches it.  KE_OK also when there is no
 * IOMMU (nothing to confine with). */
static int64_t grant_dma_space(struct init_state *st, struct server *sv)
{
    const struct pci_device *d = sv->pci;
    if (st->no_iommu)
        return KE_OK;
    if (!sv->dma_slot) {
        uint64_t s = slot_alloc(st);
        uint64_t bdf = (uint64_t)d->bus << 8 | (uint64_t)d->dev << 3 | d->fn;
        int64_t err = keel_dma_create(INIT_SLOT_MMIO_CONTROL, bdf, s, INIT_SLOT_MEMORY);
        if (err == KE_NO_IOMMU) {
            slot_free(st, s);
            st->no_iommu = true;
            return KE_OK;
        }
        if (!err)
            err = keel_dma_bind(s, st->timer_slot, DMA_FAULT_BIT);
        if (err) {
            slot_free(st, s);
            return err;
        }
        sv->dma_slot = s;
        ulog("keel: init: %s: device %02x:%02x.%x confined to its driver's DMA memory (IOMMU)\n", sv->spec->name,
             d->bus, d->dev, d->fn);
    }
    int64_t err = keel_dma_attach(sv->dma_slot, sv->task_slot);
    if (!err)
        err = keel_dma_info(sv->dma_slot, &sv->dma_faults_seen, NULL, NULL);
    return err;
}

/* Hands the server its PCI device: BARs, interrupt, description. */
static int64_t grant_pci(struct init_state *st, struct server *sv, uint64_t *next, struct keel_srvinfo *info)
{
    const struct pci_device *d = sv->pci;
    uint64_t task = sv->task_slot, tmp = slot_alloc(st);
    uint64_t vector = 0;
    bool msi = pci_has_msi(d);
    int64_t err = grant_dma_space(st, sv);
    if (err) {
        slot_free(st, tmp);
        return err;
    }
    if (msi) {
        err = keel_irq_get(INIT_SLOT_IRQ_CONTROL, KEEL_IRQ_MSI, tmp, &vector);
    } else {
        int64_t line = pci_intx_line(d);
        err = line < 0 ? KE_INVALID_ARG : keel_irq_get(INIT_SLOT_IRQ_CONTROL, (uint64_t)line, tmp, &vector);
    }
    if (!err)
        err = keel_cap_copy(tmp, task, *next, RIGHTS_ALL, 0);
    slot_free(st, tmp);
    if (err)
        return err;
    struct keel_pci_info *pi = &info->pci;
    pi->irq_slot = (uint32_t)*next;
    pi->irq_vector = (uint32_t)vector;
    name_cap(info, (uint32_t)(*next)++, CAP_IRQ, msi ? "msi" : "irq", NULL);
    for (unsigned i = 0; i < 6; i++) {
        if (d->bars[i].kind == BAR_NONE || d->bars[i].size == 0)
            continue;
        tmp = slot_alloc(st);
        if (d->bars[i].kind == BAR_MMIO) {
            uint64_t first = d->bars[i].base & ~(PAGE - 1);
            uint64_t pages = (d->bars[i].base + d->bars[i].size - first + PAGE - 1) / PAGE;
            err = keel_mmio_get(INIT_SLOT_MMIO_CONTROL, first, pages, tmp);
            if (!err)
                err = keel_cap_copy(tmp, task, *next, RIGHT_READ | RIGHT_WRITE, 0);
        } else {
            err = keel_ioport_get(INIT_SLOT_IOPORT_CONTROL, d->bars[i].base, d->bars[i].size, tmp);
            if (!err)
                err = keel_ioport_grant(tmp, task);
            if (!err)
                err = keel_cap_copy(tmp, task, *next, RIGHTS_ALL, 0);
        }
        slot_free(st, tmp);
        if (err)
            return err;
        pi->bars[i] = (struct keel_pci_bar){
            .kind = d->bars[i].kind, .slot = (uint32_t)*next, .base = d->bars[i].base, .size = d->bars[i].size
        };
        char bar[5] = { 'b', 'a', 'r', (char)('0' + i), 0 };
        name_cap(info, (uint32_t)(*next)++, d->bars[i].kind == BAR_MMIO ? CAP_FRAME : CAP_IOPORT, bar, NULL);
    }
    pi->irq_kind = pci_enable(d, msi, (uint32_t)vector);
    pi->present = 1;
    pi->bus = d->bus;
    pi->dev = d->dev;
    pi->fn = d->fn;
    pi->vendor = d->vendor;
    pi->device = d->device;
    pci_read_config(d, pi->config);
    pi->class_code = pi->config[0x0b];
    pi->subclass = pi->config[0x0a];
    pi->prog_if = pi->config[0x09];
    pi->revision = pi->config[0x08];
    return KE_OK;
}

/* The server of SV's boot set that creates endpoint NAME, or NULL. */
static const struct server_spec *endpoint_owner(struct init_state *st, const struct server *sv, const char *name)
{
    for (unsigned j = 0; j < st->manifest.n_servers; j++) {
        const struct server_spec *o = &st->manifest.servers[j];
        if (strcmp(o->when, sv->spec->when) != 0)
            continue;
        for (unsigned k = 0; k < o->n_grants; k++)
            if (o->grants[k].kind == GRANT_ENDPOINT && strcmp(o->grants[k].name, name) == 0)
                return o;
    }
    return NULL;
}

/* For a `connect NAME` to a NIC driver (a server with `pci net N`), a note
 * "nic:NAME" whose slot field is N: netd matches the connection to
 * appliance.conf's `interface ... nic N` by it, whatever other NICs are
 * missing.  Not a capability: type CAP_NONE. */
static void note_nic_number(struct init_state *st, const struct server *sv, const char *name, struct keel_srvinfo *info)
{
    const struct server_spec *o = endpoint_owner(st, sv, name);
    for (unsigned k = 0; o && k < o->n_grants; k++)
        if (o->grants[k].kind == GRANT_PCI && o->grants[k].a == PCI_SEL_NET)
            name_cap(info, (uint32_t)o->grants[k].b, CAP_NONE, "nic:", name);
}

/* Gives the server one grant (creating what it names), at *next onwards. */
int64_t grant(struct init_state *st, struct server *sv, unsigned idx, const struct grant *g, uint64_t *next,
              struct keel_srvinfo *info)
{
    uint64_t task = sv->task_slot, tmp, dest = *next;
    int64_t err = KE_OK;
    if ((g->per_instance || g->kind == GRANT_SHARE) && !named_object(st, g->kind, g->name))
        return KE_OK; /* its instance (or the region's other holder) does not run this boot: nothing to give */
    switch (g->kind) {
    case GRANT_DEBUG:
        err = keel_cap_copy(INIT_SLOT_DEBUG, task, dest, RIGHTS_ALL, 0);
        name_cap(info, (uint32_t)dest, CAP_DEBUG, "debug", NULL);
        break;
    case GRANT_IRQ:
        tmp = slot_alloc(st);
        err = keel_irq_get(INIT_SLOT_IRQ_CONTROL, g->a, tmp, NULL);
        if (!err)
            err = keel_cap_copy(tmp, task, dest, RIGHTS_ALL, 0);
        slot_free(st, tmp);
        name_cap(info, (uint32_t)dest, CAP_IRQ, g->a == GRANT_IRQ_MSI ? "msi" : "irq", NULL);
        break;
    case GRANT_IOPORT:
        tmp = slot_alloc(st);
        err = keel_ioport_get(INIT_SLOT_IOPORT_CONTROL, g->a, g->b - g->a + 1, tmp);
        if (!err)
            err = keel_ioport_grant(tmp, task);
        if (!err)
            err = keel_cap_copy(tmp, task, dest, RIGHTS_ALL, 0);
        slot_free(st, tmp);
        name_cap(info, (uint32_t)dest, CAP_IOPORT, "ioport", NULL);
        break;
    case GRANT_MMIO:
        tmp = slot_alloc(st);
        err = keel_mmio_get(INIT_SLOT_MMIO_CONTROL, g->a, g->b, tmp);
        if (!err)
            err = keel_cap_copy(tmp, task, dest, RIGHT_READ | RIGHT_WRITE, 0);
        slot_free(st, tmp);
        name_cap(info, (uint32_t)dest, CAP_FRAME, "mmio", NULL);
        break;
    case GRANT_ENDPOINT:
        err = keel_cap_copy(named_object(st, GRANT_ENDPOINT, g->name), task, dest,
                            RIGHT_READ | RIGHT_WRITE | RIGHT_GRANT, 0);
        name_cap(info, (uint32_t)dest, CAP_ENDPOINT, "serve:", g->name);
        /* Who may call: for each server that connects to this endpoint, a
         * note "client:NAME" whose slot field is the badge its calls carry
         * (its index + 1), so a server can answer only the clients it
         * should (keyd answers only tlsd).  Not a capability: type CAP_NONE. */
        for (unsigned j = 0; j < st->manifest.n_servers; j++) {
            const struct server_spec *cs = &st->manifest.servers[j];
            if (strcmp(cs->when, sv->spec->when) != 0)
                continue; /* another boot set's server: never a client of this one */
            for (unsigned k = 0; k < cs->n_grants; k++)
                if (cs->grants[k].kind == GRANT_CONNECT && strcmp(cs->grants[k].name, g->name) == 0)
                    name_cap(info, j + 1, CAP_NONE, "client:", cs->name);
        }
        break;
    case GRANT_CONNECT:
        err = keel_cap_copy(named_object(st, GRANT_ENDPOINT, g->name), task, dest, RIGHT_WRITE, idx + 1);
        name_cap(info, (uint32_t)dest, CAP_ENDPOINT, "ep:", g->name);
        note_nic_number(st, sv, g->name, info);
        break;
    case GRANT_SHARE:
        err = keel_cap_copy(named_object(st, GRANT_SHARE, g->name), task, dest, RIGHT_READ | RIGHT_WRITE, 0);
        name_cap(info, (uint32_t)dest, CAP_FRAME, "shm:", g->name);
        break;
    case GRANT_SIGNAL: /* `bit N`: badged, so the holder can raise bit N and no other */
        err = keel_cap_copy(named_object(st, GRANT_NOTIFY, g->name), task, dest, RIGHT_WRITE,
                            g->b ? 1ull << (g->b - 1) : 0);
        name_cap(info, (uint32_t)dest, CAP_NOTIFICATION, "signal:", g->name);
        break;
    case GRANT_NOTIFY:
        err = keel_cap_copy(named_object(st, GRANT_NOTIFY, g->name), task, dest, RIGHT_READ, 0);
        name_cap(info, (uint32_t)dest, CAP_NOTIFICATION, "notify:", g->name);
        break;
    case GRANT_PCI: return grant_pci(st, sv, next, info);
    case GRANT_ADMIN: return KE_OK; /* a right init checks on each call (operator_call), no capability */
    case GRANT_SITE: {
        /* The site archive travels as a boot module whose command line
         * says "site"; init holds it read-only in INIT_SLOT_MODULE0 + i.
         * Without one the server starts anyway, with site_size 0, and says
         * what that means for it (netd: deny-all). */
        for (uint32_t i = 0; i < st->bi->n_modules; i++) {
            if (!word_in(st->bi->modules[i].args, "site") || !st->bi->modules[i].size)
                continue;
            err = keel_cap_copy(INIT_SLOT_MODULE0 + i, task, dest, RIGHT_READ, 0);
            if (!err) {
                info->site_offset = st->bi->modules[i].vaddr & (PAGE - 1);
                info->site_size = st->bi->modules[i].size;
                name_cap(info, (uint32_t)dest, CAP_FRAME, "site", NULL);
            }
            break;
        }
        if (!info->site_size)
            ulog("keel: init: %s: no site archive was booted\n", sv->spec->name);
        break;
    }
    }
    (*next)++;
    return err;
}
