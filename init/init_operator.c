/*
 * init_operator.c - the operator's calls to init (consoled and opsd hold the
 * grants): task and memory information, restarting a named server, machine
 * reset and halt.
 */
#include "init_priv.h"

/* ------------------------------------------------ the operator's calls -- */

static bool has_grant(const struct server_spec *sp, enum grant_kind kind)
{
    for (unsigned g = 0; g < sp->n_grants; g++)
        if (sp->grants[g].kind == kind)
            return true;
    return false;
}

/* The server MR0 numbers (its manifest index), or NULL with the reply
 * KE_RANGE already in M when there is no such server. */
static const struct server *asked_server(const struct init_state *st, struct keel_msg *m)
{
    uint64_t q = m->mr[0];
    if (q >= st->manifest.n_servers) {
        m->info = (uint64_t)(uint32_t)KE_RANGE;
        return NULL;
    }
    return &st->servers[q];
}

/* INIT_TASK_INFO: one server's state, for `show tasks`. */
void task_info(struct init_state *st, struct keel_msg *m)
{
    const struct server *sv = asked_server(st, m);
    if (!sv)
        return;
    /* An instance whose device this machine lacks (eth5 on a two-NIC VM) is
     * not part of this boot at all, like a test set's server: listing eight
     * NIC drivers as absent would only hide the ones that matter. */
    bool not_here = !selected(st, sv->spec) || (sv->no_device && sv->spec->instance >= 0);
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
void memory_info(struct init_state *st, struct keel_msg *m)
{
    const struct server *sv = asked_server(st, m);
    if (!sv)
        return;
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
static int64_t restart_named(struct init_state *st, const struct keel_msg *m)
{
    char name[17] = { 0 };
    memcpy(name, &m->mr[0], 16);
    for (unsigned i = 0; i < st->manifest.n_servers; i++) {
        struct server *sv = &st->servers[i];
        if (strcmp(sv->spec->name, name) != 0 || !selected(st, sv->spec))
            continue; /* names are unique within this boot's set only */
        if (sv->state == SRV_STOPPED)
            return KE_INVALID_ARG;
        ulog("keel: init: restarting %s (the operator asked)\n", sv->spec->name);
        if (sv->pci)
            pci_disable_dma(sv->pci); /* before its DMA memory goes back to the pool */
        release_server(st, sv);
        sv->state = SRV_WAITING;
        sv->restart_at = keel_now_ns();
        arm_restart_timer(st);
        return KE_OK;
    }
    return KE_INVALID_ARG;
}

static inline void port_out8(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

/* Opens PORT in init's own I/O bitmap (it may be open already: PCI). */
static void open_port(struct init_state *st, uint16_t port)
{
    uint64_t s = slot_alloc(st);
    if (s && keel_ioport_get(INIT_SLOT_IOPORT_CONTROL, port, 1, s) == KE_OK)
        (void)keel_ioport_grant(s, INIT_SLOT_TASK);
}

static void stop_servers(struct init_state *st);

/* INIT_REBOOT: every server stops first (as for a halt: none is left
 * mid-write, and once the UART driver is gone the kernel writes what its
 * log still held, this line among them, before the reset); then the
 * chipset's reset control register (0xcf9: PIIX and ICH, QEMU's pc and
 * q35), then the keyboard controller's reset line.  When neither resets
 * the machine it halts (the servers are gone already). */
static int64_t machine_reset(struct init_state *st)
{
    ulog("keel: init: rebooting (the operator asked)\n");
    stop_servers(st);
    open_port(st, 0xcf9);
    port_out8(0xcf9, 0x02);
    port_out8(0xcf9, 0x06); /* system reset, CPU reset */
    open_port(st, 0x64);
    for (int i = 0; i < 16; i++)
        port_out8(0x64, 0xfe); /* pulse the reset line */
    ulog("keel: init: the machine did not reset: halting\n");
    return sys6(SYS_DEBUG_HALT, INIT_SLOT_DEBUG, 0, 0, 0, 0, 0);
}

/* Stops every server (its device's DMA first). */
static void stop_servers(struct init_state *st)
{
    for (unsigned i = 0; i < st->manifest.n_servers; i++)
        if (st->servers[i].task_slot) {
            if (st->servers[i].pci)
                pci_disable_dma(st->servers[i].pci);
            release_server(st, &st->servers[i]);
        }
}

/* INIT_HALT: every server stops first, so none is left mid-write. */
static int64_t machine_halt(struct init_state *st)
{
    ulog("keel: init: halting (the operator asked)\n");
    stop_servers(st);
    return sys6(SYS_DEBUG_HALT, INIT_SLOT_DEBUG, 0, 0, 0, 0, 0);
}

/* The calls only an `admin` server may make; fills the reply. */
void operator_call(struct init_state *st, const struct server *sv, struct keel_msg *m)
{
    int64_t r;
    if (!has_grant(sv->spec, GRANT_ADMIN))
        r = KE_NO_RIGHTS;
    else if (keel_label(m) == INIT_RESTART)
        r = restart_named(st, m);
    else if (keel_label(m) == INIT_REBOOT)
        r = machine_reset(st);
    else
        r = machine_halt(st);
    m->info = (uint64_t)(uint32_t)r;
}
