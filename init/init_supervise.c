/*
 * init_supervise.c - supervision: a server's fault (or its device's DMA fault)
 * schedules its restart with the back-off init.c describes; the restart timer;
 * `keel: ready` once every server of this boot reported ready; a stuck
 * server (its stall-limit, manifest.h) restarted like a faulted one; init's
 * loop.
 */
#include "init_priv.h"

/* One line at `keel: ready`: what the servers use of their budgets and
 * what the machine has left (the benchmarks read it). */
static void log_memory_in_use(struct init_state *st)
{
    uint64_t used = 0, budgets = 0, left = 0, free_pages = 0, total = 0;
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        const struct server *sv = &st->servers[i];
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

void check_all_ready(struct init_state *st)
{
    if (st->announced_ready)
        return;
    for (unsigned i = 0; i < st->manifest.n_servers; i++)
        if (selected(st, st->servers[i].spec) && !st->servers[i].absent && st->servers[i].state != SRV_READY)
            return;
    st->announced_ready = true;
    ulog("keel: ready\n");
    log_memory_in_use(st);
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
    case FAULT_HOG: return "ran without blocking beyond its cpu-limit";
    case FAULT_DMA_INIT: return "DMA fault (its device reached memory outside its DMA space)";
    case FAULT_STALL_INIT: return "stalled (work waited beyond its stall-limit)";
    case FAULT_START_INIT: return "stuck in its start (not ready in time)";
    default: return "exception";
    }
}

void arm_restart_timer(struct init_state *st)
{
    uint64_t next = 0;
    for (unsigned i = 0; i < st->manifest.n_servers; i++)
        if (st->servers[i].state == SRV_WAITING && (!next || st->servers[i].restart_at < next))
            next = st->servers[i].restart_at;
    if (st->next_stall_check && (!next || st->next_stall_check < next))
        next = st->next_stall_check;
    (void)sys6(SYS_TIMER_ARM, st->timer_slot, next, TIMER_BIT, 0, 0, 0);
}

static void on_fault(struct init_state *st, unsigned idx, const struct keel_msg *m)
{
    struct server *sv = &st->servers[idx];
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
    if (m->mr[0] == FAULT_HOG)
        ulog("keel: init: %s: spun for %llu ms without blocking (at rip 0x%llx): restarted (restart %u in %llu ms)\n",
             sv->spec->name, (unsigned long long)m->mr[1], (unsigned long long)m->mr[2], sv->restarts + 1,
             (unsigned long long)delay_ms);
    if (m->mr[0] == FAULT_START_INIT)
        ulog("keel: init: %s: not ready %llu ms after its start: restarted (restart %u in %llu ms)\n", sv->spec->name,
             (unsigned long long)m->mr[1], sv->restarts + 1, (unsigned long long)delay_ms);
    if (m->mr[0] == FAULT_STALL_INIT)
        ulog("keel: init: %s: stalled: work waited %llu ms on its slot %llu while it was blocked: restarted "
             "(restart %u in %llu ms)\n",
             sv->spec->name, (unsigned long long)m->mr[1], (unsigned long long)m->mr[3], sv->restarts + 1,
             (unsigned long long)delay_ms);
    ulog("keel: init: server %s died: %s at rip 0x%llx addr 0x%llx; restart %u in %llu ms\n", sv->spec->name,
         fault_kind_name(m->mr[0]), (unsigned long long)m->mr[2], (unsigned long long)m->mr[1], sv->restarts + 1,
         (unsigned long long)delay_ms);
    if (sv->pci)
        pci_disable_dma(sv->pci); /* before its DMA memory goes back to the pool */
    release_server(st, sv);
    sv->state = SRV_WAITING;
    sv->restart_at = keel_now_ns() + delay_ms * 1000000ull;
    arm_restart_timer(st);
}

/* DMA_FAULT_BIT: restarts every running driver whose device faulted since
 * init last looked (a device of a driver already waiting for its restart
 * is blocked anyway: its space emptied when the task died). */
static void dma_faults_check(struct init_state *st)
{
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        struct server *sv = &st->servers[i];
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
        on_fault(st, i, &m);
    }
}

/* Once a second: a ready server with a stall-limit that has had work
 * waiting on it that long while all its threads sat in receives or waits is stuck
 * (SYS_TASK_STALL): restarted as after a fault; a busy one is cpu-limit's
 * business.  One not yet ready may be slow to set up, and nothing may
 * wait on it yet: it is stuck once it is not ready START_LIMIT_NS after
 * its start (a fault campaign stopped tlsd and keyd in their starts, and
 * consoled's calls then waited on keyd for good). */
static void stall_check(struct init_state *st)
{
    uint64_t now = keel_now_ns();
    if (!st->next_stall_check || now < st->next_stall_check)
        return;
    st->next_stall_check = now + STALL_CHECK_NS;
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        struct server *sv = &st->servers[i];
        uint64_t age = 0, slot = 0;
        if (sv->state == SRV_RUNNING && sv->spec->stall_limit_ms && now - sv->started_at >= START_LIMIT_NS) {
            struct keel_msg m = { .mr = { FAULT_START_INIT, (now - sv->started_at) / 1000000u, 0, 0 } };
            on_fault(st, i, &m);
            continue;
        }
        if (sv->state != SRV_READY || !sv->spec->stall_limit_ms || !sv->task_slot ||
            keel_task_stall(sv->task_slot, &age, &slot) != KE_OK)
            continue;
        if (age / 1000000u < sv->spec->stall_limit_ms)
            continue;
        struct keel_msg m = { .mr = { FAULT_STALL_INIT, age / 1000000u, 0, slot } };
        on_fault(st, i, &m);
    }
}

static void restart_due(struct init_state *st)
{
    uint64_t now = keel_now_ns();
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        struct server *sv = &st->servers[i];
        if (sv->state == SRV_WAITING && sv->restart_at <= now) {
            sv->restarts++;
            start_server(st, i);
        }
    }
    arm_restart_timer(st);
}

/* Handles one request; fills *m with the reply. */
static void serve(struct init_state *st, unsigned idx, struct keel_msg *m)
{
    struct server *sv = &st->servers[idx];
    switch (keel_label(m)) {
    case INIT_READY:
        if (sv->state == SRV_RUNNING) {
            sv->state = SRV_READY;
            sv->ready_at = keel_now_ns();
            ulog("keel: init: server %s ready\n", sv->spec->name);
            check_all_ready(st);
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
        if (q < st->manifest.n_servers) {
            m->mr[0] = st->servers[q].restarts;
            m->mr[1] = st->servers[q].state;
            m->mr[2] = st->servers[q].faults;
        } else {
            m->info = (uint64_t)(uint32_t)KE_INVALID_ARG;
        }
        break;
    }
    case INIT_TASK_INFO: task_info(st, m); break;
    case INIT_MEMORY_INFO: memory_info(st, m); break;
    case INIT_RESTART:
    case INIT_REBOOT:
    case INIT_HALT: operator_call(st, sv, m); break;
    default: m->info = (uint64_t)(uint32_t)KE_INVALID_ARG; break;
    }
}

__attribute__((noreturn)) void serve_forever(struct init_state *st)
{
    struct keel_msg m = { 0 };
    bool have_reply = false;
    for (;;) {
        int64_t err = have_reply ? keel_reply_recv(st->endpoint_slot, &m) : keel_recv(st->endpoint_slot, &m);
        have_reply = false;
        if (err) {
            /* Cannot happen with a valid endpoint; never spin on it. */
            ulog("keel: init: receive failed: %lld; init stops serving\n", (long long)err);
            for (;;)
                keel_thread_exit();
        }
        if (m.info & KEEL_RECV_NOTIFY) {
            if (m.badge & DMA_FAULT_BIT)
                dma_faults_check(st);
            stall_check(st);
            restart_due(st);
            continue;
        }
        uint64_t idx = m.badge - 1;
        if (m.badge == 0 || idx >= st->manifest.n_servers)
            continue; /* not from a server init started */
        if (m.info & KEEL_RECV_FAULT) {
            on_fault(st, (unsigned)idx, &m);
            continue;
        }
        serve(st, (unsigned)idx, &m);
        have_reply = true; /* a send expects none: the reply then fails harmlessly */
    }
}
