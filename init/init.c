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
#include <keel/boot.h>
#include <keel/cpio.h>
#include <keel/elf.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "budget.h"
#include "init_config.h"
#include "manifest.h"
#include "pci.h"

#define SCRATCH_VA      0x0000002000000000ull /* where init maps a frame to fill it */
#define RESTART_BASE_MS 10
#define RESTART_MAX_MS  5000
#define STABLE_NS       60000000000ull /* a server up this long has its restart back-off reset */
#define READY_STABLE_NS 1000000000ull  /* ... and one that served this long after INIT_READY */
#define TIMER_BIT       1ull
#define DMA_FAULT_BIT   2ull   /* on the same notification: a device's DMA fault */
#define FAULT_DMA_INIT  0x100u /* init's own fault kind for on_fault: the device, not the task, faulted */
#define PAGE            4096ull

enum srv_state { SRV_STOPPED, SRV_RUNNING, SRV_READY, SRV_WAITING };

struct server {
    const struct server_spec *spec;
    char program[MANIFEST_NAME_MAX]; /* the binary: the spec's name, or the driver for its device */
    struct pci_device *pci;          /* the device of its `pci` grant, if any */
    bool absent;                     /* its `pci` device is not on this machine: never started */
    bool no_device;                  /* absent because its `pci` device is missing */
    enum srv_state state;
    uint32_t restarts;
    uint32_t faults;
    uint32_t backoff;    /* faults in a row without STABLE_NS of life in between: the delay's exponent */
    uint64_t started_at; /* ns, at the last start */
    uint64_t ready_at;   /* ns, when this life reported INIT_READY; 0 before */
    uint64_t restart_at; /* ns, when WAITING */
    uint64_t task_slot, thread_slot, memory_slot;
    uint64_t budget; /* bytes, of the running instance (memory_slot) */
    uint64_t memory; /* bytes, its `memory` this boot (budget_plan: a range shrinks on a small machine); 0: unplanned */
    uint32_t cpu;    /* the core its first thread runs on (placement, below) */
    uint64_t dma_slot;        /* its device's DMA space (0: none, or no IOMMU); kept across restarts */
    uint64_t dma_faults_seen; /* the space's fault count when init last looked */
};

struct init_state {
    const struct keel_bootinfo *bi;
    const void *archive;
    size_t archive_len;
    struct manifest manifest;
    struct server servers[MANIFEST_MAX_SERVERS];
    uint64_t endpoint_slot; /* init's service and fault endpoint */
    uint64_t timer_slot;    /* notification bound to init's thread */
    /* Objects named in the manifest (endpoints, shared regions, notifications),
     * created once at boot so they outlive any one server's restarts. */
    struct {
        enum grant_kind kind; /* GRANT_ENDPOINT, GRANT_SHARE or GRANT_NOTIFY */
        const char *name;
        uint64_t slot;
    } named[MANIFEST_MAX_SERVERS * MANIFEST_MAX_GRANTS];
    unsigned n_named;
    struct pci_device pci[PCI_MAX_DEVICES];
    unsigned n_pci;
    uint8_t slot_used[KEEL_CAP_SLOTS];
    bool special_boot; /* some server's `when` word is on the command line */
    bool no_iommu;     /* DMA_CREATE said KE_NO_IOMMU: devices are not confined */
    bool announced_ready;
};

static struct init_state S;

static uint64_t slot_alloc(void)
{
    for (uint64_t s = INIT_SLOT_FIRST_FREE; s < KEEL_CAP_SLOTS; s++) {
        if (!S.slot_used[s]) {
            S.slot_used[s] = 1;
            return s;
        }
    }
    ulog("keel: init: out of capability slots\n");
    return 0;
}

static void slot_free(uint64_t s)
{
    if (s >= INIT_SLOT_FIRST_FREE && s < KEEL_CAP_SLOTS && S.slot_used[s]) {
        (void)keel_cap_delete(s);
        S.slot_used[s] = 0;
    }
}

static bool word_in(const char *line, const char *word);
static bool selected(const struct server_spec *sp)
{
    if (sp->when[0])
        return word_in(S.bi->cmdline, sp->when);
    return !S.special_boot && (!sp->with[0] || word_in(S.bi->cmdline, sp->with));
}

static bool word_in(const char *line, const char *word)
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

static const struct keel_boot_module *find_module(const char *role)
{
    for (uint32_t i = 0; i < S.bi->n_modules; i++)
        if (word_in(S.bi->modules[i].args, role))
            return &S.bi->modules[i];
    return NULL;
}

/* Creates a frame of PAGES, fills it through a scratch mapping in init with
 * LEN bytes of SRC (the rest stays zero), and maps it into TASK at VA.
 * The frame capability is dropped afterwards: the mapping keeps it alive. */
static int64_t place_frame(uint64_t memory, uint64_t task, uint64_t va, uint64_t pages, uint64_t rights,
                           const void *src, size_t len, size_t offset)
{
    uint64_t f = slot_alloc();
    int64_t err = keel_obj_create(memory, OBJ_FRAME, f, pages);
    if (!err && len) {
        err = keel_map(INIT_SLOT_TASK, f, SCRATCH_VA, RIGHT_READ | RIGHT_WRITE);
        if (!err) {
            memcpy((uint8_t *)SCRATCH_VA + offset, src, len);
            err = keel_unmap(INIT_SLOT_TASK, SCRATCH_VA);
        }
    }
    if (!err)
        err = keel_map(task, f, va, rights);
    slot_free(f);
    return err;
}

static int64_t load_image(struct server *sv, const void *elf, size_t len, uint64_t *entry)
{
    struct elf_image img;
    int err = elf_parse(elf, len, &img);
    if (err) {
        ulog("keel: init: %s.elf: %s\n", sv->spec->name, elf_strerror(err));
        return KE_INVALID_ARG;
    }
    for (unsigned i = 0; i < img.nsegments; i++) {
        const struct elf_segment *sg = &img.segments[i];
        uint64_t start = sg->vaddr & ~(PAGE - 1);
        uint64_t end = (sg->vaddr + sg->memsz + PAGE - 1) & ~(PAGE - 1);
        uint64_t rights =
            RIGHT_READ | ((sg->flags & ELF_PF_W) ? RIGHT_WRITE : 0) | ((sg->flags & ELF_PF_X) ? RIGHT_EXEC : 0);
        int64_t e = place_frame(sv->memory_slot, sv->task_slot, start, (end - start) / PAGE, rights,
                                (const uint8_t *)elf + sg->offset, sg->filesz, sg->vaddr - start);
        if (e)
            return e;
    }
    *entry = img.entry;
    return KE_OK;
}

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

static uint64_t named_object(enum grant_kind kind, const char *name)
{
    for (unsigned i = 0; i < S.n_named; i++)
        if (S.named[i].kind == named_kind(kind) && strcmp(S.named[i].name, name) == 0)
            return S.named[i].slot;
    return 0;
}

/* How many servers that run this boot name shared region NAME (a `%`
 * grant, `share eth% 256`, names each instance's). */
static unsigned share_holders(const char *name)
{
    unsigned n = 0;
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        const struct server_spec *sp = &S.manifest.servers[i];
        if (!selected(sp) || S.servers[i].absent)
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
static int64_t create_named(const struct grant *g)
{
    enum grant_kind kind = named_kind(g->kind);
    if (kind != GRANT_ENDPOINT && kind != GRANT_SHARE && kind != GRANT_NOTIFY)
        return KE_OK;
    if (g->per_instance)
        return KE_OK;
    if (named_object(kind, g->name))
        return KE_OK;
    if (kind == GRANT_SHARE && share_holders(g->name) < 2)
        return KE_OK; /* nobody to share it with this boot: no memory for it (grant gives nothing) */
    uint64_t s = slot_alloc();
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
    S.named[S.n_named].kind = kind;
    S.named[S.n_named].name = g->name;
    S.named[S.n_named++].slot = s;
    return KE_OK;
}

/* Confines SV's device to the DMA frames of SV's new task: creates its DMA
 * space the first time, then attaches it.  KE_OK also when there is no
 * IOMMU (nothing to confine with). */
static int64_t grant_dma_space(struct server *sv)
{
    const struct pci_device *d = sv->pci;
    if (S.no_iommu)
        return KE_OK;
    if (!sv->dma_slot) {
        uint64_t s = slot_alloc();
        uint64_t bdf = (uint64_t)d->bus << 8 | (uint64_t)d->dev << 3 | d->fn;
        int64_t err = keel_dma_create(INIT_SLOT_MMIO_CONTROL, bdf, s, INIT_SLOT_MEMORY);
        if (err == KE_NO_IOMMU) {
            slot_free(s);
            S.no_iommu = true;
            return KE_OK;
        }
        if (!err)
            err = keel_dma_bind(s, S.timer_slot, DMA_FAULT_BIT);
        if (err) {
            slot_free(s);
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
static int64_t grant_pci(struct server *sv, uint64_t *next, struct keel_srvinfo *info)
{
    const struct pci_device *d = sv->pci;
    uint64_t task = sv->task_slot, tmp = slot_alloc();
    uint64_t vector = 0;
    bool msi = pci_has_msi(d);
    int64_t err = grant_dma_space(sv);
    if (err) {
        slot_free(tmp);
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
    slot_free(tmp);
    if (err)
        return err;
    struct keel_pci_info *pi = &info->pci;
    pi->irq_slot = (uint32_t)*next;
    pi->irq_vector = (uint32_t)vector;
    name_cap(info, (uint32_t)(*next)++, CAP_IRQ, msi ? "msi" : "irq", NULL);
    for (unsigned i = 0; i < 6; i++) {
        if (d->bars[i].kind == BAR_NONE || d->bars[i].size == 0)
            continue;
        tmp = slot_alloc();
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
        slot_free(tmp);
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
static const struct server_spec *endpoint_owner(const struct server *sv, const char *name)
{
    for (unsigned j = 0; j < S.manifest.n_servers; j++) {
        const struct server_spec *o = &S.manifest.servers[j];
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
static void note_nic_number(const struct server *sv, const char *name, struct keel_srvinfo *info)
{
    const struct server_spec *o = endpoint_owner(sv, name);
    for (unsigned k = 0; o && k < o->n_grants; k++)
        if (o->grants[k].kind == GRANT_PCI && o->grants[k].a == PCI_SEL_NET)
            name_cap(info, (uint32_t)o->grants[k].b, CAP_NONE, "nic:", name);
}

/* Gives the server one grant (creating what it names), at *next onwards. */
static int64_t grant(struct server *sv, unsigned idx, const struct grant *g, uint64_t *next, struct keel_srvinfo *info)
{
    uint64_t task = sv->task_slot, tmp, dest = *next;
    int64_t err = KE_OK;
    if ((g->per_instance || g->kind == GRANT_SHARE) && !named_object(g->kind, g->name))
        return KE_OK; /* its instance (or the region's other holder) does not run this boot: nothing to give */
    switch (g->kind) {
    case GRANT_DEBUG:
        err = keel_cap_copy(INIT_SLOT_DEBUG, task, dest, RIGHTS_ALL, 0);
        name_cap(info, (uint32_t)dest, CAP_DEBUG, "debug", NULL);
        break;
    case GRANT_IRQ:
        tmp = slot_alloc();
        err = keel_irq_get(INIT_SLOT_IRQ_CONTROL, g->a, tmp, NULL);
        if (!err)
            err = keel_cap_copy(tmp, task, dest, RIGHTS_ALL, 0);
        slot_free(tmp);
        name_cap(info, (uint32_t)dest, CAP_IRQ, g->a == GRANT_IRQ_MSI ? "msi" : "irq", NULL);
        break;
    case GRANT_IOPORT:
        tmp = slot_alloc();
        err = keel_ioport_get(INIT_SLOT_IOPORT_CONTROL, g->a, g->b - g->a + 1, tmp);
        if (!err)
            err = keel_ioport_grant(tmp, task);
        if (!err)
            err = keel_cap_copy(tmp, task, dest, RIGHTS_ALL, 0);
        slot_free(tmp);
        name_cap(info, (uint32_t)dest, CAP_IOPORT, "ioport", NULL);
        break;
    case GRANT_MMIO:
        tmp = slot_alloc();
        err = keel_mmio_get(INIT_SLOT_MMIO_CONTROL, g->a, g->b, tmp);
        if (!err)
            err = keel_cap_copy(tmp, task, dest, RIGHT_READ | RIGHT_WRITE, 0);
        slot_free(tmp);
        name_cap(info, (uint32_t)dest, CAP_FRAME, "mmio", NULL);
        break;
    case GRANT_ENDPOINT:
        err =
            keel_cap_copy(named_object(GRANT_ENDPOINT, g->name), task, dest, RIGHT_READ | RIGHT_WRITE | RIGHT_GRANT, 0);
        name_cap(info, (uint32_t)dest, CAP_ENDPOINT, "serve:", g->name);
        /* Who may call: for each server that connects to this endpoint, a
         * note "client:NAME" whose slot field is the badge its calls carry
         * (its index + 1), so a server can answer only the clients it
         * should (keyd answers only tlsd).  Not a capability: type CAP_NONE. */
        for (unsigned j = 0; j < S.manifest.n_servers; j++) {
            const struct server_spec *cs = &S.manifest.servers[j];
            if (strcmp(cs->when, sv->spec->when) != 0)
                continue; /* another boot set's server: never a client of this one */
            for (unsigned k = 0; k < cs->n_grants; k++)
                if (cs->grants[k].kind == GRANT_CONNECT && strcmp(cs->grants[k].name, g->name) == 0)
                    name_cap(info, j + 1, CAP_NONE, "client:", cs->name);
        }
        break;
    case GRANT_CONNECT:
        err = keel_cap_copy(named_object(GRANT_ENDPOINT, g->name), task, dest, RIGHT_WRITE, idx + 1);
        name_cap(info, (uint32_t)dest, CAP_ENDPOINT, "ep:", g->name);
        note_nic_number(sv, g->name, info);
        break;
    case GRANT_SHARE:
        err = keel_cap_copy(named_object(GRANT_SHARE, g->name), task, dest, RIGHT_READ | RIGHT_WRITE, 0);
        name_cap(info, (uint32_t)dest, CAP_FRAME, "shm:", g->name);
        break;
    case GRANT_SIGNAL: /* `bit N`: badged, so the holder can raise bit N and no other */
        err =
            keel_cap_copy(named_object(GRANT_NOTIFY, g->name), task, dest, RIGHT_WRITE, g->b ? 1ull << (g->b - 1) : 0);
        name_cap(info, (uint32_t)dest, CAP_NOTIFICATION, "signal:", g->name);
        break;
    case GRANT_NOTIFY:
        err = keel_cap_copy(named_object(GRANT_NOTIFY, g->name), task, dest, RIGHT_READ, 0);
        name_cap(info, (uint32_t)dest, CAP_NOTIFICATION, "notify:", g->name);
        break;
    case GRANT_PCI: return grant_pci(sv, next, info);
    case GRANT_ADMIN: return KE_OK; /* a right init checks on each call (operator_call), no capability */
    case GRANT_SITE: {
        /* The site archive travels as a boot module whose command line
         * says "site"; init holds it read-only in INIT_SLOT_MODULE0 + i.
         * Without one the server starts anyway, with site_size 0, and says
         * what that means for it (netd: deny-all). */
        for (uint32_t i = 0; i < S.bi->n_modules; i++) {
            if (!word_in(S.bi->modules[i].args, "site") || !S.bi->modules[i].size)
                continue;
            err = keel_cap_copy(INIT_SLOT_MODULE0 + i, task, dest, RIGHT_READ, 0);
            if (!err) {
                info->site_offset = S.bi->modules[i].vaddr & (PAGE - 1);
                info->site_size = S.bi->modules[i].size;
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

/* Runs one setup step; on failure, says which step and with what error. */
#define STEP(what, expr)                                                                                               \
    do {                                                                                                               \
        int64_t step_err = (expr);                                                                                     \
        if (step_err) {                                                                                                \
            ulog("keel: init: %s: %s failed: error %lld\n", sv->spec->name, what, (long long)step_err);                \
            return step_err;                                                                                           \
        }                                                                                                              \
    } while (0)

#define DEFAULT_MEMORY (1ull << 20) /* a server without a `memory` line */

/* The image, stack and tables come out of the server's own budget. */
static uint64_t budget_overhead(size_t elf_len) { return elf_len + (KEEL_SRV_STACK_PAGES + 4) * PAGE + (256ull << 10); }

/* Init's own objects after the plan (restart timers, badged capabilities,
 * its capability table growing) must never find the pool empty. */
#define INIT_RESERVE (512ull << 10)

/*
 * Decides every starting server's `memory` for this boot (init/budget.h)
 * from what init's pool holds once the named objects exist.  Quiet when
 * every server gets its maximum; one line per server that gets less.
 */
static void plan_budgets(void)
{
    static struct budget_entry e[MANIFEST_MAX_SERVERS];
    static uint64_t ovh[MANIFEST_MAX_SERVERS];
    size_t n = 0;
    unsigned who[MANIFEST_MAX_SERVERS];
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        const struct server_spec *sp = &S.manifest.servers[i];
        if (!selected(sp) || S.servers[i].absent)
            continue;
        char file[MANIFEST_NAME_MAX + 8];
        snprintf(file, sizeof file, "%s.elf", S.servers[i].program);
        const void *elf;
        size_t elf_len = 0;
        if (cpio_find(S.archive, S.archive_len, file, &elf, &elf_len))
            continue; /* build_server says so when it starts */
        uint64_t max = sp->memory ? sp->memory : DEFAULT_MEMORY, min = sp->memory ? sp->memory_min : max;
        ovh[n] = budget_overhead(elf_len);
        e[n] = (struct budget_entry){ .min = min + ovh[n], .max = max + ovh[n] };
        who[n++] = i;
    }
    uint64_t left = 0;
    if (keel_memory_info(INIT_SLOT_MEMORY, &left, NULL, NULL) != KE_OK)
        return;
    uint64_t pool = left > INIT_RESERVE ? left - INIT_RESERVE : 0;
    bool fits = budget_plan(e, n, pool);
    uint64_t sum_min = 0;
    for (size_t k = 0; k < n; k++) {
        const struct server_spec *sp = &S.manifest.servers[who[k]];
        S.servers[who[k]].memory = e[k].grant - ovh[k];
        sum_min += e[k].min;
        if (e[k].grant < e[k].max)
            ulog("keel: init: %s: memory %llu KiB of its %llu-%llu KiB: this machine has %llu KiB for the servers\n",
                 sp->name, (unsigned long long)((e[k].grant - ovh[k]) >> 10),
                 (unsigned long long)(sp->memory_min >> 10), (unsigned long long)(sp->memory >> 10),
                 (unsigned long long)(pool >> 10));
    }
    if (!fits)
        ulog("keel: init: memory: the servers need at least %llu KiB and this machine has %llu KiB for them; the "
             "servers started last will not start\n",
             (unsigned long long)(sum_min >> 10), (unsigned long long)(pool >> 10));
}

static int64_t build_server(struct server *sv, unsigned idx, uint64_t *entry)
{
    const struct server_spec *sp = sv->spec;
    char file[MANIFEST_NAME_MAX + 8];
    snprintf(file, sizeof file, "%s.elf", sv->program);
    const void *elf;
    size_t elf_len;
    int cerr = cpio_find(S.archive, S.archive_len, file, &elf, &elf_len);
    if (cerr) {
        ulog("keel: init: %s: %s in the servers archive\n", file, cpio_strerror(cerr));
        return KE_INVALID_ARG;
    }
    uint64_t memory = sv->memory ? sv->memory : sp->memory ? sp->memory : DEFAULT_MEMORY;
    uint64_t budget = memory + budget_overhead(elf_len);
    sv->budget = budget;
    sv->memory_slot = slot_alloc();
    sv->task_slot = slot_alloc();
    sv->thread_slot = slot_alloc();
    STEP("memory budget", keel_obj_create(INIT_SLOT_MEMORY, OBJ_MEMORY, sv->memory_slot, budget));
    STEP("task", keel_obj_create(sv->memory_slot, OBJ_TASK, sv->task_slot, keel_task_name(sp->name)));
    STEP("thread", keel_obj_create(sv->memory_slot, OBJ_THREAD, sv->thread_slot, sv->task_slot));
    STEP("image", load_image(sv, elf, elf_len, entry));
    STEP("stack", place_frame(sv->memory_slot, sv->task_slot, KEEL_SRV_STACK_TOP - KEEL_SRV_STACK_PAGES * PAGE,
                              KEEL_SRV_STACK_PAGES, RIGHT_READ | RIGHT_WRITE, NULL, 0, 0));

    static struct keel_srvinfo info;
    memset(&info, 0, sizeof info);
    info.magic = KEEL_SRVINFO_MAGIC;
    strlcpy(info.name, sp->name, sizeof info.name);
    strlcpy(info.args, sp->args, sizeof info.args);
    info.memory_bytes = memory;
    info.restarts = sv->restarts;
    info.index = idx;

    uint64_t t = sv->task_slot;
    uint64_t badged = slot_alloc();
    int64_t err = keel_cap_copy(S.endpoint_slot, INIT_SLOT_TASK, badged, RIGHT_WRITE | RIGHT_GRANT, idx + 1);
    if (!err)
        err = keel_thread_set_fault(sv->thread_slot, badged);
    if (!err)
        err = keel_cap_copy(badged, t, SRV_SLOT_INIT, RIGHT_WRITE, 0);
    slot_free(badged);
    STEP("fault endpoint", err);
    STEP("task capability", keel_cap_copy(t, t, SRV_SLOT_TASK, RIGHTS_ALL, 0));
    STEP("thread capability", keel_cap_copy(sv->thread_slot, t, SRV_SLOT_THREAD, RIGHTS_ALL, 0));
    if (sp->memory)
        STEP("memory capability", keel_cap_copy(sv->memory_slot, t, SRV_SLOT_MEMORY, RIGHTS_ALL, 0));
    uint64_t next = SRV_SLOT_FIRST_GRANT;
    for (unsigned g = 0; g < sp->n_grants; g++)
        STEP("grant", grant(sv, idx, &sp->grants[g], &next, &info));
    STEP("server information",
         place_frame(sv->memory_slot, t, KEEL_SRVINFO_ADDR, 1, RIGHT_READ, &info, sizeof info, 0));
    return KE_OK;
}

static void release_server(struct server *sv)
{
    if (sv->task_slot)
        (void)keel_task_kill(sv->task_slot);
    slot_free(sv->thread_slot);
    slot_free(sv->task_slot);
    slot_free(sv->memory_slot);
    sv->thread_slot = sv->task_slot = sv->memory_slot = 0;
}

/* Placement: the manifest's `cpu N` (N mod the cores online), else init's
 * own core 0.  image/manifest puts the data path (NIC drivers, netd) on
 * core 0 and tlsd and keyd on core 1, so with two cores or more the TLS work
 * never shares a core with the packets it waits for. */
static uint32_t placement(const struct server_spec *spec)
{
    uint64_t n = 1;
    if (keel_cpu_count(&n, NULL) != KE_OK || n == 0)
        n = 1;
    return spec->cpu < 0 ? 0 : (uint32_t)((uint64_t)spec->cpu % n);
}

static void start_server(unsigned idx)
{
    struct server *sv = &S.servers[idx];
    uint64_t entry = 0;
    int64_t err = build_server(sv, idx, &entry);
    sv->cpu = placement(sv->spec);
    if (!err)
        err = keel_thread_start(sv->thread_slot, entry, KEEL_SRV_STACK_TOP, KEEL_SRVINFO_ADDR,
                                sv->spec->priority | KEEL_THREAD_CPU(sv->cpu));
    if (err) {
        ulog("keel: init: cannot start %s: error %lld\n", sv->spec->name, (long long)err);
        release_server(sv);
        sv->state = SRV_STOPPED;
        return;
    }
    sv->state = SRV_RUNNING;
    sv->started_at = keel_now_ns();
    sv->ready_at = 0;
    ulog("keel: init: started %s (priority %u%s) on cpu %u\n", sv->spec->name, sv->spec->priority,
         sv->restarts ? ", restarted" : "", sv->cpu);
}

/* One line at `keel: ready`: what the servers use of their budgets and
 * what the machine has left (the benchmarks read it). */
static void log_memory_in_use(void)
{
    uint64_t used = 0, budgets = 0, left = 0, free_pages = 0, total = 0;
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        const struct server *sv = &S.servers[i];
        if (sv->memory_slot && keel_memory_info(sv->memory_slot, &left, NULL, NULL) == KE_OK && left <= sv->budget) {
            used += sv->budget - left;
            budgets += sv->budget;
        }
    }
    (void)keel_memory_info(INIT_SLOT_MEMORY, NULL, &free_pages, &total);
    ulog("keel: init: memory at ready: servers use %llu KiB of budgets of %llu KiB; the machine has %llu KiB free of "
         "%llu KiB\n",
         (unsigned long long)(used >> 10), (unsigned long long)(budgets >> 10), (unsigned long long)(free_pages * 4),
         (unsigned long long)(total * 4));
}

static void check_all_ready(void)
{
    if (S.announced_ready)
        return;
    for (unsigned i = 0; i < S.manifest.n_servers; i++)
        if (selected(S.servers[i].spec) && !S.servers[i].absent && S.servers[i].state != SRV_READY)
            return;
    S.announced_ready = true;
    ulog("keel: ready\n");
    log_memory_in_use();
}

static const char *fault_kind_name(uint64_t kind)
{
    switch (kind) {
    case FAULT_PAGE: return "page fault";
    case FAULT_GP: return "general protection fault";
    case FAULT_UD: return "invalid opcode";
    case FAULT_DE: return "divide error";
    case FAULT_BR: return "bound range";
    case FAULT_BAD_SYSCALL: return "invalid system call";
    case FAULT_EXIT: return "exit";
    case FAULT_DMA_INIT: return "DMA fault (its device reached memory outside its DMA space)";
    default: return "exception";
    }
}

static void arm_restart_timer(void)
{
    uint64_t next = 0;
    for (unsigned i = 0; i < S.manifest.n_servers; i++)
        if (S.servers[i].state == SRV_WAITING && (!next || S.servers[i].restart_at < next))
            next = S.servers[i].restart_at;
    (void)sys6(SYS_TIMER_ARM, S.timer_slot, next, TIMER_BIT, 0, 0, 0);
}

static void on_fault(unsigned idx, const struct keel_msg *m)
{
    struct server *sv = &S.servers[idx];
    sv->faults++;
    /* A server that served for a while before this fault starts from the
     * shortest delay again: the back-off is for crash loops, not for the
     * odd fault days apart. */
    uint64_t now = keel_now_ns();
    if (now - sv->started_at >= STABLE_NS || (sv->ready_at && now - sv->ready_at >= READY_STABLE_NS))
        sv->backoff = 0;
    uint32_t shift = sv->backoff < 9 ? sv->backoff : 9;
    sv->backoff++;
    uint64_t delay_ms = (uint64_t)RESTART_BASE_MS << shift;
    if (delay_ms > RESTART_MAX_MS)
        delay_ms = RESTART_MAX_MS;
    ulog("keel: init: server %s died: %s at rip 0x%llx addr 0x%llx; restart %u in %llu ms\n", sv->spec->name,
         fault_kind_name(m->mr[0]), (unsigned long long)m->mr[2], (unsigned long long)m->mr[1], sv->restarts + 1,
         (unsigned long long)delay_ms);
    if (sv->pci)
        pci_disable_dma(sv->pci); /* before its DMA memory goes back to the pool */
    release_server(sv);
    sv->state = SRV_WAITING;
    sv->restart_at = keel_now_ns() + delay_ms * 1000000ull;
    arm_restart_timer();
}

/* DMA_FAULT_BIT: restarts every running driver whose device faulted since
 * init last looked (a device of a driver already waiting for its restart
 * is blocked anyway: its space emptied when the task died). */
static void dma_faults_check(void)
{
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        struct server *sv = &S.servers[i];
        uint64_t faults = 0, addr = 0, info = 0;
        if (!sv->dma_slot || keel_dma_info(sv->dma_slot, &faults, &addr, &info) != KE_OK)
            continue;
        if (faults == sv->dma_faults_seen)
            continue;
        uint64_t new_faults = faults - sv->dma_faults_seen;
        sv->dma_faults_seen = faults;
        if (sv->state != SRV_RUNNING && sv->state != SRV_READY)
            continue;
        ulog("keel: init: %s: its device %02x:%02x.%x made %llu DMA fault(s), the last a %s of 0x%llx "
             "(VT-d reason 0x%llx)\n",
             sv->spec->name, sv->pci->bus, sv->pci->dev, sv->pci->fn, (unsigned long long)new_faults,
             (info & 0x100) ? "read" : "write", (unsigned long long)addr, (unsigned long long)(info & 0xff));
        struct keel_msg m = { .mr = { FAULT_DMA_INIT, addr, 0, info } };
        on_fault(i, &m);
    }
}

static void restart_due(void)
{
    uint64_t now = keel_now_ns();
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        struct server *sv = &S.servers[i];
        if (sv->state == SRV_WAITING && sv->restart_at <= now) {
            sv->restarts++;
            start_server(i);
        }
    }
    arm_restart_timer();
}

/* ------------------------------------------------ the operator's calls -- */

static bool has_grant(const struct server_spec *sp, enum grant_kind kind)
{
    for (unsigned g = 0; g < sp->n_grants; g++)
        if (sp->grants[g].kind == kind)
            return true;
    return false;
}

/* INIT_TASK_INFO: one server's state, for `show tasks`. */
static void task_info(struct keel_msg *m)
{
    uint64_t q = m->mr[0];
    if (q >= S.manifest.n_servers) {
        m->info = (uint64_t)(uint32_t)KE_RANGE;
        return;
    }
    const struct server *sv = &S.servers[q];
    /* An instance whose device this machine lacks (eth5 on a two-NIC VM) is
     * not part of this boot at all, like a test set's server: listing eight
     * NIC drivers as absent would only hide the ones that matter. */
    bool not_here = !selected(sv->spec) || (sv->no_device && sv->spec->instance >= 0);
    uint64_t state = not_here ? INIT_TASK_OTHER : sv->absent ? INIT_TASK_ABSENT : (uint64_t)sv->state;
    _Static_assert((int)SRV_STOPPED == (int)INIT_TASK_STOPPED && (int)SRV_RUNNING == (int)INIT_TASK_RUNNING &&
                       (int)SRV_READY == (int)INIT_TASK_READY && (int)SRV_WAITING == (int)INIT_TASK_WAITING,
                   "init's states are the protocol's");
    char name[16] = { 0 };
    strlcpy(name, sv->spec->name, sizeof name);
    m->info = 0;
    bool runs = !not_here && (sv->state == SRV_RUNNING || sv->state == SRV_READY);
    uint64_t placed = runs ? (uint64_t)sv->cpu + 1 : 0;
    m->mr[0] = state | placed << 8 | (uint64_t)sv->restarts << 32;
    m->mr[1] = sv->faults | (uint64_t)sv->spec->priority << 32;
    memcpy(&m->mr[2], name, sizeof name);
}

/* INIT_MEMORY_INFO: server MR0's budget and what it uses of it. */
static void memory_info(struct keel_msg *m)
{
    uint64_t q = m->mr[0];
    if (q >= S.manifest.n_servers) {
        m->info = (uint64_t)(uint32_t)KE_RANGE;
        return;
    }
    const struct server *sv = &S.servers[q];
    uint64_t left = 0, free_pages = 0, total = 0;
    bool live = sv->memory_slot && keel_memory_info(sv->memory_slot, &left, &free_pages, &total) == KE_OK;
    if (!live)
        (void)keel_memory_info(INIT_SLOT_MEMORY, NULL, &free_pages, &total);
    m->info = 0;
    m->mr[0] = live ? sv->budget : 0;
    m->mr[1] = live && left <= sv->budget ? sv->budget - left : 0;
    m->mr[2] = free_pages;
    m->mr[3] = total;
}

/* INIT_RESTART: the server named in MR0-MR1 stops and starts again now. */
static int64_t restart_named(const struct keel_msg *m)
{
    char name[17] = { 0 };
    memcpy(name, &m->mr[0], 16);
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        struct server *sv = &S.servers[i];
        if (strcmp(sv->spec->name, name) != 0 || !selected(sv->spec))
            continue; /* names are unique within this boot's set only */
        if (sv->state == SRV_STOPPED)
            return KE_INVALID_ARG;
        ulog("keel: init: restarting %s (the operator asked)\n", sv->spec->name);
        if (sv->pci)
            pci_disable_dma(sv->pci); /* before its DMA memory goes back to the pool */
        release_server(sv);
        sv->state = SRV_WAITING;
        sv->restart_at = keel_now_ns();
        arm_restart_timer();
        return KE_OK;
    }
    return KE_INVALID_ARG;
}

static inline void port_out8(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

/* Opens PORT in init's own I/O bitmap (it may be open already: PCI). */
static void open_port(uint16_t port)
{
    uint64_t s = slot_alloc();
    if (s && keel_ioport_get(INIT_SLOT_IOPORT_CONTROL, port, 1, s) == KE_OK)
        (void)keel_ioport_grant(s, INIT_SLOT_TASK);
}

/* INIT_REBOOT: the chipset's reset control register (0xcf9: PIIX and ICH,
 * QEMU's pc and q35), then the keyboard controller's reset line.  Returns
 * only when neither reset the machine. */
static int64_t machine_reset(void)
{
    ulog("keel: init: rebooting (the operator asked)\n");
    open_port(0xcf9);
    port_out8(0xcf9, 0x02);
    port_out8(0xcf9, 0x06); /* system reset, CPU reset */
    open_port(0x64);
    for (int i = 0; i < 16; i++)
        port_out8(0x64, 0xfe); /* pulse the reset line */
    ulog("keel: init: the machine did not reset\n");
    return KE_BUSY;
}

/* INIT_HALT: every server stops first, so none is left mid-write. */
static int64_t machine_halt(void)
{
    ulog("keel: init: halting (the operator asked)\n");
    for (unsigned i = 0; i < S.manifest.n_servers; i++)
        if (S.servers[i].task_slot) {
            if (S.servers[i].pci)
                pci_disable_dma(S.servers[i].pci);
            release_server(&S.servers[i]);
        }
    return sys6(SYS_DEBUG_HALT, INIT_SLOT_DEBUG, 0, 0, 0, 0, 0);
}

/* The calls only an `admin` server may make; fills the reply. */
static void operator_call(const struct server *sv, struct keel_msg *m)
{
    int64_t r;
    if (!has_grant(sv->spec, GRANT_ADMIN))
        r = KE_NO_RIGHTS;
    else if (keel_label(m) == INIT_RESTART)
        r = restart_named(m);
    else if (keel_label(m) == INIT_REBOOT)
        r = machine_reset();
    else
        r = machine_halt();
    m->info = (uint64_t)(uint32_t)r;
}

/* Handles one request; fills *m with the reply. */
static void serve(unsigned idx, struct keel_msg *m)
{
    struct server *sv = &S.servers[idx];
    switch (keel_label(m)) {
    case INIT_READY:
        if (sv->state == SRV_RUNNING) {
            sv->state = SRV_READY;
            sv->ready_at = keel_now_ns();
            ulog("keel: init: server %s ready\n", sv->spec->name);
            check_all_ready();
        }
        m->info = 0;
        break;
    case INIT_PCI_DMA:
        m->info = 0;
        if (sv->pci && sv->state != SRV_WAITING)
            pci_enable_dma(sv->pci);
        else
            m->info = (uint64_t)(uint32_t)KE_INVALID_ARG;
        break;
    case INIT_STATUS: {
        uint64_t q = m->mr[0];
        m->info = 0;
        if (q < S.manifest.n_servers) {
            m->mr[0] = S.servers[q].restarts;
            m->mr[1] = S.servers[q].state;
            m->mr[2] = S.servers[q].faults;
        } else {
            m->info = (uint64_t)(uint32_t)KE_INVALID_ARG;
        }
        break;
    }
    case INIT_TASK_INFO: task_info(m); break;
    case INIT_MEMORY_INFO: memory_info(m); break;
    case INIT_RESTART:
    case INIT_REBOOT:
    case INIT_HALT: operator_call(sv, m); break;
    default: m->info = (uint64_t)(uint32_t)KE_INVALID_ARG; break;
    }
}

static __attribute__((noreturn)) void serve_forever(void)
{
    struct keel_msg m = { 0 };
    bool have_reply = false;
    for (;;) {
        int64_t err = have_reply ? keel_reply_recv(S.endpoint_slot, &m) : keel_recv(S.endpoint_slot, &m);
        have_reply = false;
        if (err) {
            /* Cannot happen with a valid endpoint; never spin on it. */
            ulog("keel: init: receive failed: %lld; init stops serving\n", (long long)err);
            for (;;)
                keel_thread_exit();
        }
        if (m.info & KEEL_RECV_NOTIFY) {
            if (m.badge & DMA_FAULT_BIT)
                dma_faults_check();
            restart_due();
            continue;
        }
        uint64_t idx = m.badge - 1;
        if (m.badge == 0 || idx >= S.manifest.n_servers)
            continue; /* not from a server init started */
        if (m.info & KEEL_RECV_FAULT) {
            on_fault((unsigned)idx, &m);
            continue;
        }
        serve((unsigned)idx, &m);
        have_reply = true; /* a send expects none: the reply then fails harmlessly */
    }
}

/* Finds the device of a server's `pci` grant and the program that drives it. */
static void assign_device(struct server *sv)
{
    const struct server_spec *sp = sv->spec;
    for (unsigned g = 0; g < sp->n_grants; g++) {
        const struct grant *gr = &sp->grants[g];
        if (gr->kind != GRANT_PCI || !selected(sp))
            continue;
        struct pci_device *d = pci_select(S.pci, S.n_pci, (unsigned)gr->a, (unsigned)gr->b);
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
        for (unsigned k = 0; k < S.manifest.n_drivers; k++)
            if (S.manifest.drivers[k].vendor == d->vendor && S.manifest.drivers[k].device == d->device)
                strlcpy(sv->program, S.manifest.drivers[k].program, sizeof sv->program);
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
static void leave_out_unrequired(void)
{
    const struct keel_boot_module *site = find_module("site");
    struct init_config_needs need;
    char msg[128];
    init_config_read(site ? (const void *)site->vaddr : NULL, site ? site->size : 0, &need, msg, sizeof msg);
    ulog("keel: init: %s\n", msg);
    if (!need.decided)
        return;
    unsigned n_nics = 0;
    while (pci_select(S.pci, S.n_pci, PCI_SEL_NET, n_nics))
        n_nics++;
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        struct server *sv = &S.servers[i];
        const struct server_spec *sp = sv->spec;
        int nic = net_index(sp);
        if (sv->no_device && selected(sp) && (sp->requires & REQUIRES_NIC) && nic >= 0 && nic < INIT_CONFIG_NICS &&
            (need.nics & 1u << nic))
            ulog("keel: init: interface %s: appliance.conf puts it on nic %d, but this machine has %u NIC%s; it "
                 "stays down, the other interfaces work\n",
                 need.ifname[nic], nic, n_nics, n_nics == 1 ? "" : "s");
        if (sv->absent || !selected(sp) || !sp->requires)
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
static bool need_met(const struct server *sv)
{
    for (unsigned j = 0; j < S.manifest.n_servers; j++) {
        const struct server *o = &S.servers[j];
        if (strcmp(o->spec->when, sv->spec->when) == 0 && !o->absent &&
            manifest_name_matches(sv->spec->needs, o->spec->name))
            return true;
    }
    return false;
}

/* A server that needs an absent one (`needs NAME`) cannot work either. */
static void propagate_absence(void)
{
    for (bool changed = true; changed;) {
        changed = false;
        for (unsigned i = 0; i < S.manifest.n_servers; i++) {
            struct server *sv = &S.servers[i];
            if (sv->absent || !selected(sv->spec) || !sv->spec->needs[0] || need_met(sv))
                continue;
            ulog("keel: init: %s: needs %s, which is not started; not started\n", sv->spec->name, sv->spec->needs);
            sv->absent = changed = true;
        }
    }
}

static int setup(void)
{
    const struct keel_boot_module *mod = find_module("servers");
    if (!mod) {
        ulog("keel: init: no boot module named 'servers'; nothing to start\n");
        return -1;
    }
    S.archive = (const void *)mod->vaddr;
    S.archive_len = mod->size;
    const void *text;
    size_t text_len;
    int err = cpio_find(S.archive, S.archive_len, "manifest", &text, &text_len);
    if (err) {
        ulog("keel: init: servers archive: manifest: %s\n", cpio_strerror(err));
        return -1;
    }
    char msg[160];
    if (manifest_parse(text, text_len, &S.manifest, msg, sizeof msg)) {
        ulog("keel: init: %s\n", msg);
        return -1;
    }
    S.endpoint_slot = slot_alloc();
    S.timer_slot = slot_alloc();
    if (keel_obj_create(INIT_SLOT_MEMORY, OBJ_ENDPOINT, S.endpoint_slot, 0) ||
        keel_obj_create(INIT_SLOT_MEMORY, OBJ_NOTIFICATION, S.timer_slot, 0) || keel_ntfn_bind(S.timer_slot)) {
        ulog("keel: init: cannot create its endpoint\n");
        return -1;
    }
    for (unsigned i = 0; i < S.manifest.n_servers; i++)
        if (S.manifest.servers[i].when[0] && word_in(S.bi->cmdline, S.manifest.servers[i].when))
            S.special_boot = true;
    bool want_pci = false;
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        const struct server_spec *sp = &S.manifest.servers[i];
        S.servers[i].spec = sp;
        strlcpy(S.servers[i].program, sp->program[0] ? sp->program : sp->name, sizeof S.servers[i].program);
        for (unsigned g = 0; g < sp->n_grants && selected(sp); g++)
            want_pci |= sp->grants[g].kind == GRANT_PCI;
    }
    if (want_pci)
        S.n_pci = pci_scan(S.pci, PCI_MAX_DEVICES, slot_alloc(), S.bi, slot_alloc());
    for (unsigned i = 0; i < S.manifest.n_servers; i++)
        assign_device(&S.servers[i]);
    leave_out_unrequired();
    propagate_absence();
    /* Only the servers that run this boot get objects: a test boot set's
     * shared regions, or an absent NIC's (a NIC ring is 1 MiB), must not eat
     * a normal boot's memory.  Objects outlive their servers' restarts. */
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        const struct server_spec *sp = &S.manifest.servers[i];
        if (!selected(sp) || S.servers[i].absent)
            continue;
        for (unsigned g = 0; g < sp->n_grants; g++) {
            if (create_named(&sp->grants[g])) {
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
    S.bi = bi;
    if (bi->magic != KEEL_BOOTINFO_MAGIC) {
        ulog("keel: init: bad boot information\n");
        return 1;
    }
    ulog("keel: init: %u boot modules, %llu KiB to hand out\n", bi->n_modules,
         (unsigned long long)(bi->memory_bytes >> 10));
    if (setup() == 0) {
        plan_budgets();
        for (unsigned i = 0; i < S.manifest.n_servers; i++)
            if (selected(&S.manifest.servers[i]) && !S.servers[i].absent)
                start_server(i);
        check_all_ready();
        serve_forever();
    }
    /* Nothing was started and nothing can be: stay, quietly, so the kernel
     * and the console log (which said why) remain. */
    ulog("keel: init: not ready: the boot manifest could not be used\n");
    uint64_t n = slot_alloc(), bits;
    if (n && keel_obj_create(INIT_SLOT_MEMORY, OBJ_NOTIFICATION, n, 0) == 0)
        for (;;)
            (void)keel_wait(n, 0, &bits);
    for (;;)
        keel_yield();
}
