/*
 * smp.c - the other cores: start-up, the big kernel lock, IPIs, shootdowns.
 *
 * Start-up (Intel SDM vol. 3A, 8.4.4 "MP Initialization Example"): the boot
 * core copies the real-mode trampoline (arch/trampoline.S) to a page below
 * 1 MiB that nothing else uses (0x8000 after a multiboot loader; the page
 * keel.efi reserved, named in the handoff), patches in the page tables,
 * stack and entry for one core, and sends that core INIT, then two
 * STARTUP IPIs whose vector is the page number.  The core goes from real
 * mode straight to long mode on boot.S's page tables (which identity-map
 * the trampoline and map the kernel's higher half), jumps to the higher
 * half, loads the kernel's page tables and calls smp_ap_main on its idle
 * stack.  Cores start one at a time; a core that does not answer within
 * AP_START_TIMEOUT_NS is left out and the log says so.
 *
 * The BKL is a ticket lock (FIFO, so no core starves).  It is taken only
 * once more than one core is online (smp_active).  The holder may wait for
 * shootdown acknowledgements; every other core either runs in ring 3 or
 * hlt (takes the IPI), or waits for the lock (polls its mailbox), so the
 * wait always ends.
 *
 * Shootdowns: the lock holder fills one request (there is only one holder,
 * so one request at a time), marks each core concerned pending, sends
 * VECTOR_TLB and waits until each has cleared its mark.  Concerned: for a
 * user mapping, the cores whose loaded address space is the task's (with
 * more than one core the kernel runs without PCIDs, so a core that switched
 * away from a task holds none of its translations); for a kernel mapping,
 * every core.
 */
#include "smp.h"

#include "acpi.h"
#include "apic.h"
#include "arch.h"
#include "fpu.h"
#include "gdt.h"
#include "kstring.h"
#include "log.h"
#include "object.h"
#include "pmm.h"
#include "sched.h"
#include "task.h"
#include "timer.h"
#include "trap.h"
#include "vm.h"

#define AP_START_TIMEOUT_NS  500000000ull /* 0.5 s per core */
#define TLB_FULL_FLUSH_PAGES 64           /* more pages than this: reload CR3 instead */

struct percpu cpus[MAX_CPUS];
uint32_t smp_ncpus = 1;
bool smp_active;

/* The ticket lock, and which core holds it (for the watchdog's message). */
static volatile uint32_t bkl_next, bkl_owner;
static volatile uint32_t bkl_holder;
#define SPIN_LIMIT_S 10 /* a wait this long is a kernel bug: say who, and stop */

/* The one shootdown request (written by the lock holder only). */
static struct {
    enum tlb_req_kind kind;
    struct task *task;
    uint64_t va, pages;
} tlb_req;

/* Start-up hand-shake with the core being started. */
static volatile uint32_t ap_alive;
static uint8_t ap_stacks[MAX_CPUS][KSTACK_SIZE] __attribute__((aligned(4096)));
static struct thread ap_idle[MAX_CPUS];
static uint64_t bsp_cr4;

/* trampoline.S: the image copied below 1 MiB and its patched fields. */
extern const char ap_trampoline_start[], ap_trampoline_end[];
extern const char tr_gdtr_base[], tr_gdt[], tr_far64[], tr_long[], tr_cr3[], tr_efer[], tr_kcr3[], tr_stack[],
    tr_entry[], tr_arg[];
extern char boot_pml4[];
void ap_entry64(void);
void smp_ap_main(struct percpu *c);
void syscall_init(void);

void bkl_lock(void)
{
    if (!smp_active)
        return;
    uint32_t ticket = __atomic_fetch_add(&bkl_next, 1, __ATOMIC_RELAXED);
    uint64_t t0 = rdtsc();
    while (__atomic_load_n(&bkl_owner, __ATOMIC_ACQUIRE) != ticket) {
        cpu_pause();
        smp_tlb_poll(); /* the holder may be waiting for us */
        if (rdtsc() - t0 > SPIN_LIMIT_S * tsc_hz())
            panic("smp: cpu %u waited %u s for the kernel lock held by cpu %u", this_cpu()->id, SPIN_LIMIT_S,
                  bkl_holder);
    }
    bkl_holder = this_cpu()->id;
}

void bkl_unlock(void)
{
    if (!smp_active)
        return;
    __atomic_store_n(&bkl_owner, bkl_owner + 1, __ATOMIC_RELEASE);
}

static volatile bool halting;

void smp_halt_others(void)
{
    if (!smp_active || halting)
        return;
    halting = true;
    lapic_send_nmi_others();
}

bool smp_halting(void) { return halting; }

void smp_resched(uint32_t cpu)
{
    if (smp_active && cpu < smp_ncpus && cpu != this_cpu()->id)
        lapic_send_ipi(cpus[cpu].apic_id, VECTOR_RESCHED);
}

static void tlb_flush_range(uint64_t va, uint64_t pages)
{
    if (pages > TLB_FULL_FLUSH_PAGES) {
        write_cr3(read_cr3()); /* non-global entries; kernel ranges are small */
        return;
    }
    for (uint64_t i = 0; i < pages; i++)
        invlpg(va + i * PAGE_SIZE);
}

void smp_tlb_poll(void)
{
    struct percpu *c = this_cpu();
    if (!__atomic_load_n(&c->tlb_pending, __ATOMIC_ACQUIRE))
        return;
    switch (tlb_req.kind) {
    case TLB_REQ_USER:
        if (c->loaded_task == tlb_req.task)
            tlb_flush_range(tlb_req.va, tlb_req.pages);
        break;
    case TLB_REQ_KERNEL:
        for (uint64_t i = 0; i < tlb_req.pages; i++)
            invlpg(tlb_req.va + i * PAGE_SIZE);
        break;
    case TLB_REQ_LEAVE:
        /* Ring 3 code of the dead task that still runs here faults at its
         * next instruction and the fault path switches away. */
        if (c->loaded_task == tlb_req.task) {
            write_cr3(vm_kernel_pml4());
            c->loaded_task = NULL;
        }
        break;
    case TLB_REQ_PORTS:
        if (c->loaded_task == tlb_req.task)
            tss_set_iobitmap(tlb_req.task->iobitmap, tlb_req.task->io_lo, tlb_req.task->io_hi);
        break;
    default: break;
    }
    c->shootdowns++;
    __atomic_store_n(&c->tlb_pending, 0, __ATOMIC_RELEASE);
}

static void on_resched_ipi(struct trap_frame *tf, void *ctx)
{
    (void)tf;
    (void)ctx;
    this_cpu()->ipis_received++;
    lapic_eoi();
    sched_yield_to_best();
}

/* Sends the request to every concerned core and waits for all of them. */
static void shoot(enum tlb_req_kind kind, struct task *t, uint64_t va, uint64_t pages)
{
    if (!smp_active)
        return;
    struct percpu *self = this_cpu();
    tlb_req.kind = kind;
    tlb_req.task = t;
    tlb_req.va = va;
    tlb_req.pages = pages;
    bool sent[MAX_CPUS] = { false };
    for (uint32_t i = 0; i < smp_ncpus; i++) {
        struct percpu *c = &cpus[i];
        if (c == self || (kind != TLB_REQ_KERNEL && c->loaded_task != t))
            continue;
        __atomic_store_n(&c->tlb_pending, 1, __ATOMIC_RELEASE);
        lapic_send_ipi(c->apic_id, VECTOR_TLB);
        sent[i] = true;
    }
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < smp_ncpus; i++)
        while (sent[i] && __atomic_load_n(&cpus[i].tlb_pending, __ATOMIC_ACQUIRE)) {
            cpu_pause();
            if (rdtsc() - t0 > SPIN_LIMIT_S * tsc_hz())
                panic("smp: cpu %u never acknowledged a shootdown (kind %u)", i, kind);
        }
    tlb_req.kind = TLB_REQ_NONE;
}

void smp_tlb_user(struct task *t, uint64_t va, uint64_t pages) { shoot(TLB_REQ_USER, t, va, pages); }
void smp_tlb_kernel(uint64_t va, uint64_t pages) { shoot(TLB_REQ_KERNEL, NULL, va, pages); }
void smp_tlb_leave(struct task *t) { shoot(TLB_REQ_LEAVE, t, 0, 0); }
void smp_ports_changed(struct task *t) { shoot(TLB_REQ_PORTS, t, 0, 0); }

/* Runs on the new core, on its idle stack, with the kernel's page tables. */
void smp_ap_main(struct percpu *c)
{
    gdt_init_cpu(c->id);
    trap_load_idt();
    write_cr4(bsp_cr4);
    write_cr0(read_cr0() | CR0_WP);
    fpu_init_ap();
    syscall_init();
    lapic_init_ap();
    sched_init_ap(c, &ap_idle[c->id]);
    __atomic_store_n(&ap_alive, 1, __ATOMIC_RELEASE);
    bkl_lock();
    sched_idle_loop(); /* the tick starts when a thread first runs here (sched.c) */
}

static void patch64(uint8_t *page, const char *field, uint64_t v)
{
    memcpy(page + (field - ap_trampoline_start), &v, sizeof v);
}
static void patch32(uint8_t *page, const char *field, uint32_t v)
{
    memcpy(page + (field - ap_trampoline_start), &v, sizeof v);
}

static void spin_ns(uint64_t ns)
{
    uint64_t end = clock_ns() + ns;
    while (clock_ns() < end)
        cpu_pause();
}

/* Starts core C through the trampoline at TRAMP; true when it came up. */
static bool start_ap(struct percpu *c, uint64_t tramp)
{
    uint8_t *page = phys_to_virt(tramp);
    uint64_t size = (uint64_t)(ap_trampoline_end - ap_trampoline_start);
    memcpy(page, ap_trampoline_start, size);
    patch32(page, tr_gdtr_base, (uint32_t)(tramp + (uint64_t)(tr_gdt - ap_trampoline_start)));
    patch32(page, tr_far64, (uint32_t)(tramp + (uint64_t)(tr_long - ap_trampoline_start)));
    patch32(page, tr_cr3, (uint32_t)virt_to_phys(boot_pml4));
    patch32(page, tr_efer, (uint32_t)(rdmsr(MSR_EFER) & (EFER_NXE | EFER_SCE)) | EFER_LME);
    patch64(page, tr_kcr3, vm_kernel_pml4());
    patch64(page, tr_stack, (uint64_t)&ap_stacks[c->id][KSTACK_SIZE]);
    patch64(page, tr_entry, (uint64_t)ap_entry64);
    patch64(page, tr_arg, (uint64_t)c);
    ap_idle[c->id].kstack_base = (uint64_t)&ap_stacks[c->id][0];
    __atomic_store_n(&ap_alive, 0, __ATOMIC_RELEASE);

    lapic_send_init(c->apic_id);
    spin_ns(10000000ull); /* 10 ms (SDM 8.4.4.1) */
    for (int i = 0; i < 2 && !__atomic_load_n(&ap_alive, __ATOMIC_ACQUIRE); i++) {
        lapic_send_startup(c->apic_id, (uint8_t)(tramp >> 12));
        spin_ns(200000ull); /* 200 us */
    }
    uint64_t deadline = clock_ns() + AP_START_TIMEOUT_NS;
    while (!__atomic_load_n(&ap_alive, __ATOMIC_ACQUIRE))
        if (clock_ns() > deadline)
            return false;
    return true;
}

void smp_start(const struct acpi_info *acpi, uint64_t tramp)
{
    uint32_t self_apic = lapic_id();
    cpus[0].apic_id = self_apic;
    trap_set_handler(VECTOR_RESCHED, on_resched_ipi, 0);
    if (acpi->n_cpus <= 1)
        return; /* -smp 1: the single-core kernel, no lock, no IPI */
    if (tramp % PAGE_SIZE || tramp + PAGE_SIZE > 0x100000 || tramp < 0x1000) {
        kprintf("keel: smp: no usable trampoline page (0x%llx); running on one core\n", (unsigned long long)tramp);
        return;
    }
    KASSERT((uint64_t)(ap_trampoline_end - ap_trampoline_start) <= PAGE_SIZE, "the trampoline fits a page");
    pcid_disable(); /* see the shootdown comment above */
    bsp_cr4 = read_cr4();
    smp_active = true;
    bkl_lock(); /* the boot core holds it until it first leaves for ring 3 or hlt */
    for (uint32_t i = 0; i < acpi->n_cpus && smp_ncpus < MAX_CPUS; i++) {
        if (acpi->cpu_apic_ids[i] == self_apic)
            continue;
        struct percpu *c = &cpus[smp_ncpus];
        c->id = smp_ncpus;
        c->apic_id = acpi->cpu_apic_ids[i];
        if (!start_ap(c, tramp)) {
            kprintf("keel: smp: cpu with APIC id %u did not start\n", c->apic_id);
            continue;
        }
        smp_ncpus++;
    }
    if (acpi->n_cpus > MAX_CPUS)
        kprintf("keel: smp: %u cpus listed, %u used (MAX_CPUS)\n", acpi->n_cpus, MAX_CPUS);
    kprintf("keel: smp: %u cpus online, big kernel lock\n", smp_ncpus);
}
