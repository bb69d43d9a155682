/*
 * init_load.c - memory budgets (plan_budgets: each server's `memory` line, ranges
 * shrunk on a small machine), loading a server's ELF image into its own budget,
 * building its task, thread and capabilities, and starting it on its core.
 */
#include "init_priv.h"

/* Creates a frame of PAGES, fills it through a scratch mapping in init with
 * LEN bytes of SRC (the rest stays zero), and maps it into TASK at VA.
 * The frame capability is dropped afterwards: the mapping keeps it alive. */
static int64_t place_frame(struct init_state *st, uint64_t memory, uint64_t task, uint64_t va, uint64_t pages,
                           uint64_t rights, const void *src, size_t len, size_t offset)
{
    uint64_t f = slot_alloc(st);
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
    slot_free(st, f);
    return err;
}

static int64_t load_image(struct init_state *st, struct server *sv, const void *elf, size_t len, uint64_t *entry)
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
        int64_t e = place_frame(st, sv->memory_slot, sv->task_slot, start, (end - start) / PAGE, rights,
                                (const uint8_t *)elf + sg->offset, sg->filesz, sg->vaddr - start);
        if (e)
            return e;
    }
    *entry = img.entry;
    return KE_OK;
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
void plan_budgets(struct init_state *st)
{
    static struct budget_entry e[MANIFEST_MAX_SERVERS];
    static uint64_t ovh[MANIFEST_MAX_SERVERS];
    size_t n = 0;
    unsigned who[MANIFEST_MAX_SERVERS];
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        const struct server_spec *sp = &st->manifest.servers[i];
        if (!selected(st, sp) || st->servers[i].absent)
            continue;
        char file[MANIFEST_NAME_MAX + 8];
        snprintf(file, sizeof file, "%s.elf", st->servers[i].program);
        const void *elf;
        size_t elf_len = 0;
        if (cpio_find(st->archive, st->archive_len, file, &elf, &elf_len))
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
        const struct server_spec *sp = &st->manifest.servers[who[k]];
        st->servers[who[k]].memory = e[k].grant - ovh[k];
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

static int64_t build_server(struct init_state *st, struct server *sv, unsigned idx, uint64_t *entry)
{
    const struct server_spec *sp = sv->spec;
    char file[MANIFEST_NAME_MAX + 8];
    snprintf(file, sizeof file, "%s.elf", sv->program);
    const void *elf;
    size_t elf_len;
    int cerr = cpio_find(st->archive, st->archive_len, file, &elf, &elf_len);
    if (cerr) {
        ulog("keel: init: %s: %s in the servers archive\n", file, cpio_strerror(cerr));
        return KE_INVALID_ARG;
    }
    uint64_t memory = sv->memory ? sv->memory : sp->memory ? sp->memory : DEFAULT_MEMORY;
    uint64_t budget = memory + budget_overhead(elf_len);
    sv->budget = budget;
    sv->memory_slot = slot_alloc(st);
    sv->task_slot = slot_alloc(st);
    sv->thread_slot = slot_alloc(st);
    STEP("memory budget", keel_obj_create(INIT_SLOT_MEMORY, OBJ_MEMORY, sv->memory_slot, budget));
    STEP("task", keel_obj_create(sv->memory_slot, OBJ_TASK, sv->task_slot, keel_task_name(sp->name)));
    STEP("thread", keel_obj_create(sv->memory_slot, OBJ_THREAD, sv->thread_slot, sv->task_slot));
    STEP("image", load_image(st, sv, elf, elf_len, entry));
    STEP("stack", place_frame(st, sv->memory_slot, sv->task_slot, KEEL_SRV_STACK_TOP - KEEL_SRV_STACK_PAGES * PAGE,
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
    uint64_t badged = slot_alloc(st);
    int64_t err = keel_cap_copy(st->endpoint_slot, INIT_SLOT_TASK, badged, RIGHT_WRITE | RIGHT_GRANT, idx + 1);
    if (!err)
        err = keel_thread_set_fault(sv->thread_slot, badged);
    if (!err)
        err = keel_cap_copy(badged, t, SRV_SLOT_INIT, RIGHT_WRITE, 0);
    slot_free(st, badged);
    STEP("fault endpoint", err);
    STEP("task capability", keel_cap_copy(t, t, SRV_SLOT_TASK, RIGHTS_ALL, 0));
    STEP("thread capability", keel_cap_copy(sv->thread_slot, t, SRV_SLOT_THREAD, RIGHTS_ALL, 0));
    if (sp->memory)
        STEP("memory capability", keel_cap_copy(sv->memory_slot, t, SRV_SLOT_MEMORY, RIGHTS_ALL, 0));
    uint64_t next = SRV_SLOT_FIRST_GRANT;
    for (unsigned g = 0; g < sp->n_grants; g++)
        STEP("grant", grant(st, sv, idx, &sp->grants[g], &next, &info));
    STEP("server information",
         place_frame(st, sv->memory_slot, t, KEEL_SRVINFO_ADDR, 1, RIGHT_READ, &info, sizeof info, 0));
    return KE_OK;
}

void release_server(struct init_state *st, struct server *sv)
{
    if (sv->task_slot)
        (void)keel_task_kill(sv->task_slot);
    slot_free(st, sv->thread_slot);
    slot_free(st, sv->task_slot);
    slot_free(st, sv->memory_slot);
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

void start_server(struct init_state *st, unsigned idx)
{
    struct server *sv = &st->servers[idx];
    uint64_t entry = 0;
    int64_t err = build_server(st, sv, idx, &entry);
    sv->cpu = placement(sv->spec);
    if (!err)
        err = keel_thread_start_limit(sv->thread_slot, entry, KEEL_SRV_STACK_TOP, KEEL_SRVINFO_ADDR,
                                      sv->spec->priority | KEEL_THREAD_CPU(sv->cpu),
                                      sv->spec->cpu_limit_ms ? sv->spec->cpu_limit_ms : KEEL_CPU_LIMIT_NONE);
    if (err) {
        ulog("keel: init: cannot start %s: error %lld\n", sv->spec->name, (long long)err);
        release_server(st, sv);
        sv->state = SRV_STOPPED;
        return;
    }
    sv->state = SRV_RUNNING;
    sv->started_at = keel_now_ns();
    sv->ready_at = 0;
    ulog("keel: init: started %s (priority %u%s) on cpu %u\n", sv->spec->name, sv->spec->priority,
         sv->restarts ? ", restarted" : "", sv->cpu);
}
