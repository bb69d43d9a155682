/*
 * main.c - kmain: bring the machine up in dependency order.
 *
 * Order matters: the log first (so every later failure is visible), then the
 * boot information is copied out of loader memory before the frame
 * allocator may reuse it, then traps (so a fault during memory setup gets a
 * dump), memory, interrupt controllers and the clock.  `keel: kernel up` is
 * printed only when all of that works; tests and tools wait for that text.
 */
#include <stdbool.h>

#include "acpi.h"
#include "apic.h"
#include "arch.h"
#include "cpuvuln.h"
#include "iommu.h"
#include "cmdline.h"
#include "fpu.h"
#include "gdt.h"
#include "ipc.h"
#include "sched.h"
#include "smp.h"
#include "task.h"
#include "kstring.h"
#include "handoff.h"
#include "log.h"
#include "multiboot.h"
#include "pmm.h"
#include "serial.h"
#include "timer.h"
#include "trap.h"
#include "vm.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "unknown"
#endif

void kmain(uint32_t magic, uint32_t mbi_phys);
void selftest_fault(const char *kind);
void syscall_init(void);
void roottask_start(const struct boot_info *boot, const struct acpi_info *acpi);
bool usercheck_run(void);

static struct boot_info boot_info;
static uint64_t boot_info_rsdp; /* from keel.efi; 0: search the BIOS areas */
/* The page below 1 MiB the other cores start in: keel.efi names the one it
 * reserved; after a multiboot loader the conventional-memory default. */
static uint64_t boot_info_trampoline = AP_TRAMPOLINE_DEFAULT;

/* Loader memory is reachable only through the boot map's first GiB. */
static const void *boot_phys_reader(void *ctx, uint64_t phys, uint64_t len)
{
    (void)ctx;
    if (phys >= BOOT_MAP_LIMIT || len > BOOT_MAP_LIMIT - phys)
        return 0;
    return phys_to_virt(phys);
}

static void log_memory_map(const struct boot_info *bi)
{
    for (uint32_t i = 0; i < bi->n_regions; i++) {
        const struct boot_region *r = &bi->regions[i];
        kprintf("keel: mem 0x%012llx-0x%012llx %s\n", (unsigned long long)r->base,
                (unsigned long long)(r->base + r->length - 1), r->type == MB_MEM_AVAILABLE ? "available" : "reserved");
    }
}

static void log_modules(const struct boot_info *bi)
{
    if (bi->n_modules == 0)
        kprintf("keel: no boot modules\n");
    for (uint32_t i = 0; i < bi->n_modules; i++) {
        const struct boot_module *m = &bi->modules[i];
        kprintf("keel: module %u: name=%s size=%llu cmdline=\"%s\" at 0x%llx\n", i, m->name,
                (unsigned long long)(m->end - m->start), m->args, (unsigned long long)m->start);
    }
}

static void enable_cpu_protections(void)
{
    struct cpuid_regs leaf7 = cpuid(0, 0).eax >= 7 ? cpuid(7, 0) : (struct cpuid_regs){ 0 };
    uint64_t cr4 = read_cr4();
    if (leaf7.ebx & (1u << 7))
        cr4 |= CR4_SMEP;
    if (leaf7.ebx & (1u << 20)) {
        cr4 |= CR4_SMAP;
        cpu_has_smap = true;
    }
    write_cr4(cr4);
    write_cr0(read_cr0() | CR0_WP);
    kprintf("keel: cpu: NX %s, SMEP %s, SMAP %s\n", (rdmsr(MSR_EFER) & EFER_NXE) ? "on" : "absent",
            (cr4 & CR4_SMEP) ? "on" : "absent", (cr4 & CR4_SMAP) ? "on" : "absent");
    cpuvuln_init(cr4 & CR4_SMEP, cr4 & CR4_SMAP);
}

/* Waits (interrupts on) until the tick runs, so "kernel up" means it does. */
static void check_timer_ticks(void)
{
    uint64_t deadline = clock_ns() + 500000000ull;
    while (timer_ticks() < 3) {
        if (clock_ns() > deadline)
            panic("timer: no LAPIC timer interrupt within 500 ms");
        cpu_halt();
    }
}

/* The boot information from either entry (handoff.h): a multiboot loader's
 * structure, or keel.efi's handoff, which wraps one and adds the RSDP. */
static void read_boot_info(uint32_t magic, uint32_t info_phys)
{
    const struct mb_info *mbi;
    if (magic == MULTIBOOT_LOADER_MAGIC) {
        mbi = boot_phys_reader(0, info_phys, sizeof *mbi);
    } else if (magic == KEEL_EFI_LOADER_MAGIC) {
        const struct keel_handoff *h = boot_phys_reader(0, info_phys, sizeof *h);
        if (!h || h->version != KEEL_HANDOFF_VERSION)
            panic("keel.efi's boot information at 0x%x is %s", info_phys, h ? "of another version" : "out of reach");
        mbi = &h->mbi;
        boot_info_rsdp = h->rsdp_phys;
        boot_info_trampoline = h->ap_trampoline_phys;
        kprintf("keel: entered from %s\n", h->loader[sizeof h->loader - 1] ? "keel.efi" : h->loader);
    } else {
        panic("not started by a multiboot loader or keel.efi (magic 0x%x)", magic);
    }
    if (!mbi)
        panic("boot information at 0x%x is out of reach", info_phys);
    int err = multiboot_parse(mbi, boot_phys_reader, 0, &boot_info);
    if (err)
        panic("boot information: %s", multiboot_strerror(err));
}

/* The trampoline page, unless a boot module lies on it (0: none usable). */
static uint64_t trampoline_page(void)
{
    uint64_t p = boot_info_trampoline;
    for (uint32_t i = 0; i < boot_info.n_modules; i++)
        if (boot_info.modules[i].start < p + PAGE_SIZE && boot_info.modules[i].end > p)
            return 0;
    return p;
}

void kmain(uint32_t magic, uint32_t mbi_phys)
{
    serial_init();
    kprintf("\nkeel: Keel %s booting\n", KEEL_VERSION);
    read_boot_info(magic, mbi_phys);
    cmdline_set(boot_info.cmdline);
    kprintf("keel: command line \"%s\"\n", cmdline_get());

    gdt_init();
    trap_init();
    log_memory_map(&boot_info);
    pmm_init(&boot_info);
    vm_init(&boot_info);
    enable_cpu_protections();
    kprintf("keel: memory: %llu KiB free of %llu KiB managed\n", (unsigned long long)(pmm_free_frames() * 4),
            (unsigned long long)(pmm_total_frames() * 4));

    struct acpi_info acpi;
    acpi_init(&acpi, boot_info_rsdp);
    pic_disable();
    lapic_init(acpi.lapic_phys);
    ioapic_init(&acpi);
    kprintf("keel: acpi: %s, %u cpu(s), lapic 0x%llx, ioapic 0x%llx (%u GSIs), ecam 0x%llx\n",
            acpi.found ? "tables found" : "absent", acpi.n_cpus, (unsigned long long)acpi.lapic_phys,
            (unsigned long long)acpi.ioapic_phys, ioapic_gsi_count(), (unsigned long long)acpi.ecam_phys);
    irq_set_acpi(&acpi);
    iommu_init(&acpi);
    timer_init();
    irq_enable();
    check_timer_ticks();
    irq_disable(); /* from here on, only the idle loop runs with interrupts on */
    fpu_init();
    pcid_init();
    syscall_init();
    sched_init();
    timer_set_tick_hook(sched_tick);

    log_modules(&boot_info);
    kprintf("keel: kernel up\n");

    char fault[16];
    if (cmdline_value("fault", fault, sizeof fault))
        selftest_fault(fault);
    if (cmdline_has("exit-when-up"))
        kernel_halt(DEBUG_EXIT_PASS);

    if (!usercheck_run()) {
        kprintf("keel: cpu: SYSCALL from ring 3 did not enter ring 0: this hypervisor does not "
                "implement it (seen with the nested KVM here); user space cannot run; boot with TCG\n");
        kernel_halt(DEBUG_EXIT_NO_USER_MODE);
    }
    kprintf("keel: cpu: ring 3 and SYSCALL work\n");
    if (cmdline_has("probe-user"))
        kernel_halt(DEBUG_EXIT_PASS);
    smp_start(&acpi, trampoline_page());
    roottask_start(&boot_info, &acpi);
    sched_idle_loop();
}
