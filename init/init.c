/*
 * init.c - the root task: starts the servers the boot manifest names, gives
 * each exactly the capabilities listed, receives their faults and restarts
 * them with a back-off.
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
 */
#include <keel/boot.h>
#include <keel/cpio.h>
#include <keel/elf.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "manifest.h"

#define SCRATCH_VA      0x0000002000000000ull /* where init maps a frame to fill it */
#define RESTART_BASE_MS 10
#define RESTART_MAX_MS  5000
#define TIMER_BIT       1ull
#define PAGE            4096ull

enum srv_state { SRV_STOPPED, SRV_RUNNING, SRV_READY, SRV_WAITING };

struct server {
    const struct server_spec *spec;
    enum srv_state state;
    uint32_t restarts;
    uint32_t faults;
    uint64_t restart_at; /* ns, when WAITING */
    uint64_t task_slot, thread_slot, memory_slot;
};

struct init_state {
    const struct keel_bootinfo *bi;
    const void *archive;
    size_t archive_len;
    struct manifest manifest;
    struct server servers[MANIFEST_MAX_SERVERS];
    uint64_t endpoint_slot;                                        /* init's service and fault endpoint */
    uint64_t timer_slot;                                           /* notification bound to init's thread */
    uint64_t named_ep[MANIFEST_MAX_SERVERS * MANIFEST_MAX_GRANTS]; /* slots of `endpoint NAME`s */
    const char *named_ep_name[MANIFEST_MAX_SERVERS * MANIFEST_MAX_GRANTS];
    unsigned n_named;
    uint8_t slot_used[KEEL_CAP_SLOTS];
    bool special_boot; /* some server's `when` word is on the command line */
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
    return sp->when[0] ? word_in(S.bi->cmdline, sp->when) : !S.special_boot;
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

static uint64_t named_endpoint(const char *name)
{
    for (unsigned i = 0; i < S.n_named; i++)
        if (strcmp(S.named_ep_name[i], name) == 0)
            return S.named_ep[i];
    return 0;
}

/* Gives the server one grant: creates what it names and copies it over. */
static int64_t grant(struct server *sv, unsigned idx, const struct grant *g, uint64_t dest, struct keel_srvinfo *info)
{
    uint64_t task = sv->task_slot, tmp;
    int64_t err = KE_OK;
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
        err = keel_cap_copy(named_endpoint(g->name), task, dest, RIGHT_READ | RIGHT_WRITE | RIGHT_GRANT, 0);
        name_cap(info, (uint32_t)dest, CAP_ENDPOINT, "serve:", g->name);
        break;
    case GRANT_CONNECT:
        err = keel_cap_copy(named_endpoint(g->name), task, dest, RIGHT_WRITE, idx + 1);
        name_cap(info, (uint32_t)dest, CAP_ENDPOINT, "ep:", g->name);
        break;
    }
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

static int64_t build_server(struct server *sv, unsigned idx, uint64_t *entry)
{
    const struct server_spec *sp = sv->spec;
    char file[MANIFEST_NAME_MAX + 8];
    snprintf(file, sizeof file, "%s.elf", sp->name);
    const void *elf;
    size_t elf_len;
    int cerr = cpio_find(S.archive, S.archive_len, file, &elf, &elf_len);
    if (cerr) {
        ulog("keel: init: %s: %s in the servers archive\n", file, cpio_strerror(cerr));
        return KE_INVALID_ARG;
    }
    uint64_t memory = sp->memory ? sp->memory : (1ull << 20);
    /* The image, stack and tables come out of the server's own budget. */
    uint64_t budget = memory + elf_len + (KEEL_SRV_STACK_PAGES + 4) * PAGE + (512ull << 10);
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
    for (unsigned g = 0; g < sp->n_grants; g++)
        STEP("grant", grant(sv, idx, &sp->grants[g], SRV_SLOT_FIRST_GRANT + g, &info));
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

static void start_server(unsigned idx)
{
    struct server *sv = &S.servers[idx];
    uint64_t entry = 0;
    int64_t err = build_server(sv, idx, &entry);
    if (!err)
        err = keel_thread_start(sv->thread_slot, entry, KEEL_SRV_STACK_TOP, KEEL_SRVINFO_ADDR, sv->spec->priority);
    if (err) {
        ulog("keel: init: cannot start %s: error %lld\n", sv->spec->name, (long long)err);
        release_server(sv);
        sv->state = SRV_STOPPED;
        return;
    }
    sv->state = SRV_RUNNING;
    ulog("keel: init: started %s (priority %u%s)\n", sv->spec->name, sv->spec->priority,
         sv->restarts ? ", restarted" : "");
}

static void check_all_ready(void)
{
    if (S.announced_ready)
        return;
    for (unsigned i = 0; i < S.manifest.n_servers; i++)
        if (selected(S.servers[i].spec) && S.servers[i].state != SRV_READY)
            return;
    S.announced_ready = true;
    ulog("keel: ready\n");
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
    uint32_t shift = sv->restarts < 9 ? sv->restarts : 9;
    uint64_t delay_ms = (uint64_t)RESTART_BASE_MS << shift;
    if (delay_ms > RESTART_MAX_MS)
        delay_ms = RESTART_MAX_MS;
    ulog("keel: init: server %s died: %s at rip 0x%llx addr 0x%llx; restart %u in %llu ms\n", sv->spec->name,
         fault_kind_name(m->mr[0]), (unsigned long long)m->mr[2], (unsigned long long)m->mr[1], sv->restarts + 1,
         (unsigned long long)delay_ms);
    release_server(sv);
    sv->state = SRV_WAITING;
    sv->restart_at = keel_now_ns() + delay_ms * 1000000ull;
    arm_restart_timer();
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

/* Handles one request; fills *m with the reply. */
static void serve(unsigned idx, struct keel_msg *m)
{
    struct server *sv = &S.servers[idx];
    switch (keel_label(m)) {
    case INIT_READY:
        if (sv->state == SRV_RUNNING) {
            sv->state = SRV_READY;
            ulog("keel: init: server %s ready\n", sv->spec->name);
            check_all_ready();
        }
        m->info = 0;
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
    for (unsigned i = 0; i < S.manifest.n_servers; i++) {
        const struct server_spec *sp = &S.manifest.servers[i];
        S.servers[i].spec = sp;
        for (unsigned g = 0; g < sp->n_grants; g++) {
            if (sp->grants[g].kind != GRANT_ENDPOINT)
                continue;
            uint64_t s = slot_alloc();
            if (keel_obj_create(INIT_SLOT_MEMORY, OBJ_ENDPOINT, s, 0))
                return -1;
            S.named_ep[S.n_named] = s;
            S.named_ep_name[S.n_named++] = sp->grants[g].name;
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
        for (unsigned i = 0; i < S.manifest.n_servers; i++)
            if (selected(&S.manifest.servers[i]))
                start_server(i);
        check_all_ready();
    } else {
        ulog("keel: init: not ready: the boot manifest could not be used\n");
    }
    serve_forever();
}
