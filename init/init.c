/*
 * init.c - the root task: starts the servers the boot manifest names, gives
 * each exactly the capabilities listed, receives their faults and restarts
 * them with a back-off: 2^k times RESTART_BASE_MS (at most RESTART_MAX_MS)
 * after the k-th fault in a row; a server that ran STABLE_NS before it
 * faulted, or that had reported ready and served READY_STABLE_NS since,
 * starts again from k = 0: the back-off is for servers that cannot come up
 * (a crash loop before or right after INIT_READY), not for a working server
 * hit by an independent fault (a fault-injection campaign hits the same
 * server every few seconds, and each restart must stay quick).
 *
 * States of a server: STOPPED (not started, or not for this boot), RUNNING
 * (started, not yet ready), READY (called INIT_READY), WAITING (faulted;
 * a restart is due at restart_at).  init serves one endpoint: servers call
 * it (badge = index + 1) and their faults arrive on it (same badge, info
 * KEEL_RECV_FAULT); a notification bound to init's thread carries the
 * restart timer.  init owns, per server, the capabilities to its task,
 * thread and memory budget, and nothing the server was granted: killing
 * the task releases exactly those (IRQ lines, ports) for the next start.
 * When every server it started has reported ready, it logs `keel: ready`.
 *
 * DMA isolation: with an IOMMU, each driven PCI device gets a DMA space
 * (SYS_DMA) at its driver's first start, kept across restarts and attached
 * to each new instance's task before it runs, so the device reaches only
 * the DMA frames that instance maps.  A DMA outside them sets DMA_FAULT_BIT
 * on init's notification; init reads the spaces' fault counts and restarts
 * the driver whose device faulted, as if the driver itself had faulted.
 * Without an IOMMU (DMA_CREATE says KE_NO_IOMMU; the kernel said so at
 * boot) devices are not confined and everything else works as before.
 */
#include "init_priv.h"

uint64_t slot_alloc(struct init_state *st)
{
    for (uint64_t s = INIT_SLOT_FIRST_FREE; s < KEEL_CAP_SLOTS; s++) {
        if (!st->slot_used[s]) {
            st->slot_used[s] = 1;
            return s;
        }
    }
    ulog("keel: init: out of capability slots\n");
    return 0;
}

void slot_free(struct init_state *st, uint64_t s)
{
    if (s >= INIT_SLOT_FIRST_FREE && s < KEEL_CAP_SLOTS && st->slot_used[s]) {
        (void)keel_cap_delete(s);
        st->slot_used[s] = 0;
    }
}
bool selected(struct init_state *st, const struct server_spec *sp)
{
    if (sp->when[0])
        return word_in(st->bi->cmdline, sp->when);
    return !st->special_boot && (!sp->with[0] || word_in(st->bi->cmdline, sp->with));
}

bool word_in(const char *line, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = line; *p;) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - w) == n && strncmp(w, word, n) == 0)
            return true;
    }
    return false;
}

static const struct keel_boot_module *find_module(struct init_state *st, const char *role)
{
    for (uint32_t i = 0; i < st->bi->n_modules; i++)
        if (word_in(st->bi->modules[i].args, role))
            return &st->bi->modules[i];
    return NULL;
}

/* Finds the device of a server's `pci` grant and the program that drives it. */
static void assign_device(struct init_state *st, struct server *sv)
{
    const struct server_spec *sp = sv->spec;
    for (unsigned g = 0; g < sp->n_grants; g++) {
        const struct grant *gr = &sp->grants[g];
        if (gr->kind != GRANT_PCI || !selected(st, sp))
            continue;
        struct pci_device *d = pci_select(st->pci, st->n_pci, (unsigned)gr->a, (unsigned)gr->b);
        if (!d || d->claimed) {
            /* A per-NIC driver that appliance.conf may not ask for says
             * nothing here: leave_out_unrequired speaks for the NICs it
             * names. */
            if (!(sp->requires & REQUIRES_NIC))
                ulog("keel: init: %s: no %s device %llu on this machine; not started\n", sp->name,
                     gr->a == PCI_SEL_NET   ? "network"
                     : gr->a == PCI_SEL_BLK ? "block"
                                            : "entropy",
                     (unsigned long long)gr->b);
            sv->absent = sv->no_device = true;
            return;
        }
        d->claimed = true;
        sv->pci = d;
        for (unsigned k = 0; k < st->manifest.n_drivers; k++)
            if (st->manifest.drivers[k].vendor == d->vendor && st->manifest.drivers[k].device == d->device)
                strlcpy(sv->program, st->manifest.drivers[k].program, sizeof sv->program);
        ulog("keel: init: %s: PCI %02x:%02x.%x %04x:%04x, driver %s\n", sp->name, d->bus, d->dev, d->fn, d->vendor,
             d->device, sv->program);
    }
}

/* The NIC index of a server's `pci net N` grant, or -1. */
static int net_index(const struct server_spec *sp)
{
    for (unsigned g = 0; g < sp->n_grants; g++)
        if (sp->grants[g].kind == GRANT_PCI && sp->grants[g].a == PCI_SEL_NET)
            return (int)sp->grants[g].b;
    return -1;
}

/* Servers with `requires` that the site's appliance.conf does not ask for
 * are left out, like a server whose device is absent (init_config.h). */
static void leave_out_unrequired(struct init_state *st)
{
    const struct keel_boot_module *site = find_module(st, "site");
    struct init_config_needs need;
    char msg[128];
    init_config_read(site ? (const void *)site->vaddr : NULL, site ? site->size : 0, &need, msg, sizeof msg);
    ulog("keel: init: %s\n", msg);
    if (!need.decided)
        return;
    unsigned n_nics = 0;
    while (pci_select(st->pci, st->n_pci, PCI_SEL_NET, n_nics))
        n_nics++;
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        struct server *sv = &st->servers[i];
        const struct server_spec *sp = sv->spec;
        int nic = net_index(sp);
        if (sv->no_device && selected(st, sp) && (sp->requires & REQUIRES_NIC) && nic >= 0 && nic < INIT_CONFIG_NICS &&
            (need.nics & 1u << nic))
            ulog("keel: init: interface %s: appliance.conf puts it on nic %d, but this machine has %u NIC%s; it "
                 "stays down, the other interfaces work\n",
                 need.ifname[nic], nic, n_nics, n_nics == 1 ? "" : "s");
        if (sv->absent || !selected(st, sp) || !sp->requires)
            continue;
        bool want = true;
        if ((sp->requires & REQUIRES_TLS) && !need.tls)
            want = false;
        if ((sp->requires & REQUIRES_NIC) && (nic < 0 || nic > 31 || !(need.nics & 1u << nic)))
            want = false;
        if ((sp->requires & REQUIRES_OPS) && !need.ops)
            want = false;
        if (!want) {
            ulog("keel: init: %s: appliance.conf does not ask for it (%s); not started\n", sp->name,
                 sp->requires & REQUIRES_TLS   ? "no tls block"
                 : sp->requires & REQUIRES_OPS ? "no syslog, ntp or metrics line"
                                               : "no interface on its NIC");
            sv->absent = true; /* its device (if any) stays claimed and untouched */
        }
    }
}

/* Does a server of SV's boot set that `needs` names (a pattern with `%`:
 * any instance) run this boot? */
static bool need_met(struct init_state *st, const struct server *sv)
{
    for (unsigned j = 0; j < st->manifest.n_servers; j++) {
        const struct server *o = &st->servers[j];
        if (strcmp(o->spec->when, sv->spec->when) == 0 && !o->absent &&
            manifest_name_matches(sv->spec->needs, o->spec->name))
            return true;
    }
    return false;
}

/* A server that needs an absent one (`needs NAME`) cannot work either. */
static void propagate_absence(struct init_state *st)
{
    for (bool changed = true; changed;) {
        changed = false;
        for (unsigned i = 0; i < st->manifest.n_servers; i++) {
            struct server *sv = &st->servers[i];
            if (sv->absent || !selected(st, sv->spec) || !sv->spec->needs[0] || need_met(st, sv))
                continue;
            ulog("keel: init: %s: needs %s, which is not started; not started\n", sv->spec->name, sv->spec->needs);
            sv->absent = changed = true;
        }
    }
}

static int setup(struct init_state *st)
{
    const struct keel_boot_module *mod = find_module(st, "servers");
    if (!mod) {
        ulog("keel: init: no boot module named 'servers'; nothing to start\n");
        return -1;
    }
    st->archive = (const void *)mod->vaddr;
    st->archive_len = mod->size;
    const void *text;
    size_t text_len;
    int err = cpio_find(st->archive, st->archive_len, "manifest", &text, &text_len);
    if (err) {
        ulog("keel: init: servers archive: manifest: %s\n", cpio_strerror(err));
        return -1;
    }
    char msg[160];
    if (manifest_parse(text, text_len, &st->manifest, msg, sizeof msg)) {
        ulog("keel: init: %s\n", msg);
        return -1;
    }
    st->endpoint_slot = slot_alloc(st);
    st->timer_slot = slot_alloc(st);
    if (keel_obj_create(INIT_SLOT_MEMORY, OBJ_ENDPOINT, st->endpoint_slot, 0) ||
        keel_obj_create(INIT_SLOT_MEMORY, OBJ_NOTIFICATION, st->timer_slot, 0) || keel_ntfn_bind(st->timer_slot)) {
        ulog("keel: init: cannot create its endpoint\n");
        return -1;
    }
    for (unsigned i = 0; i < st->manifest.n_servers; i++)
        if (st->manifest.servers[i].when[0] && word_in(st->bi->cmdline, st->manifest.servers[i].when))
            st->special_boot = true;
    bool want_pci = false;
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        const struct server_spec *sp = &st->manifest.servers[i];
        st->servers[i].spec = sp;
        strlcpy(st->servers[i].program, sp->program[0] ? sp->program : sp->name, sizeof st->servers[i].program);
        for (unsigned g = 0; g < sp->n_grants && selected(st, sp); g++)
            want_pci |= sp->grants[g].kind == GRANT_PCI;
    }
    if (want_pci)
        st->n_pci = pci_scan(st->pci, PCI_MAX_DEVICES, slot_alloc(st), st->bi, slot_alloc(st));
    for (unsigned i = 0; i < st->manifest.n_servers; i++)
        assign_device(st, &st->servers[i]);
    leave_out_unrequired(st);
    propagate_absence(st);
    /* Only the servers that run this boot get objects: a test boot set's
     * shared regions, or an absent NIC's (a NIC ring is 1 MiB), must not eat
     * a normal boot's memory.  Objects outlive their servers' restarts. */
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        const struct server_spec *sp = &st->manifest.servers[i];
        if (!selected(st, sp) || st->servers[i].absent)
            continue;
        for (unsigned g = 0; g < sp->n_grants; g++) {
            if (create_named(st, &sp->grants[g])) {
                ulog("keel: init: cannot create the objects the manifest names\n");
                return -1;
            }
        }
    }
    return 0;
}

int main(const struct keel_bootinfo *bi);
int main(const struct keel_bootinfo *bi)
{
    /* init's one state, static for its size (the manifest and the named
     * objects do not fit init's stack), handed to every function. */
    static struct init_state state;
    struct init_state *st = &state;
    st->bi = bi;
    if (bi->magic != KEEL_BOOTINFO_MAGIC) {
        ulog("keel: init: bad boot information\n");
        return 1;
    }
    ulog("keel: init: %u boot modules, %llu KiB to hand out\n", bi->n_modules,
         (unsigned long long)(bi->memory_bytes >> 10));
    if (setup(st) == 0) {
        plan_budgets(st);
        for (unsigned i = 0; i < st->manifest.n_servers; i++) {
            if (selected(st, &st->manifest.servers[i]) && !st->servers[i].absent) {
                start_server(st, i);
                if (st->manifest.servers[i].stall_limit_ms)
                    st->next_stall_check = keel_now_ns() + STALL_CHECK_NS; /* init_supervise.c's stall_check */
            }
        }
        arm_restart_timer(st);
        check_all_ready(st);
        serve_forever(st);
    }
    /* Nothing was started and nothing can be: stay, quietly, so the kernel
     * and the console log (which said why) remain. */
    ulog("keel: init: not ready: the boot manifest could not be used\n");
    uint64_t n = slot_alloc(st), bits;
    if (n && keel_obj_create(INIT_SLOT_MEMORY, OBJ_NOTIFICATION, n, 0) == 0)
        for (;;)
            (void)keel_wait(n, 0, &bits);
    for (;;)
        keel_yield();
}
