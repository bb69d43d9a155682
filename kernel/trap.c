/*
 * trap.c - the IDT, exception dumps and IRQ dispatch.
 *
 * A CPU exception in the kernel is a kernel bug: we print everything useful
 * (vector, error code, RIP, RSP, CR2, CR3, the general registers and a
 * frame-pointer backtrace) and halt.  User-mode faults become fault messages
 * to the task's fault endpoint once user space exists (issue 3).
 * Double fault, NMI and machine check run on IST stacks (gdt.c), so even a
 * smashed RSP produces a dump.
 * The backtrace only follows frame pointers that point into a kernel stack
 * region and are mapped, so a corrupt chain ends the walk, not the dump.
 */
#include "trap.h"

#include <stdbool.h>
#include <stddef.h>

#include "apic.h"
#include "arch.h"
#include "gdt.h"
#include "klog.h"
#include "log.h"
#include "sched.h"
#include "smp.h"
#include "vm.h"

struct idt_gate {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;       /* bits 0-2: IST index, 0 = none */
    uint8_t type_attr; /* P, DPL, type (0xe = interrupt gate) */
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate layout (SDM vol. 3A, 6.14.1)");

#define GATE_INTERRUPT_DPL0 0x8e
#define GATE_INTERRUPT_DPL3 0xee
#define BACKTRACE_MAX_DEPTH 16

extern const uint64_t trap_stubs[256];
extern char boot_stack_bottom[], boot_stack_top[], _text_start[], _text_end[];

void fault_from_exception(struct trap_frame *tf);

static struct idt_gate idt[256] __attribute__((aligned(16)));
static struct {
    irq_handler fn;
    void *ctx;
} handlers[256];

static const char *const exception_names[32] = {
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack fault",
    "#GP general protection",
    "#PF page fault",
    "reserved 15",
    "#MF x87 error",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD error",
    "#VE virtualization",
    "#CP control protection",
    "reserved 22",
    "reserved 23",
    "reserved 24",
    "reserved 25",
    "reserved 26",
    "reserved 27",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security",
    "reserved 31",
};

static void set_gate(int v, uint64_t addr, uint8_t ist, uint8_t attr)
{
    idt[v] = (struct idt_gate){
        .offset_lo = addr & 0xffff,
        .selector = KERNEL_CS,
        .ist = ist,
        .type_attr = attr,
        .offset_mid = (addr >> 16) & 0xffff,
        .offset_hi = addr >> 32,
    };
}

void trap_init(void)
{
    for (int v = 0; v < 256; v++)
        set_gate(v, trap_stubs[v], 0, GATE_INTERRUPT_DPL0);
    idt[8].ist = IST_DOUBLE_FAULT;
    idt[2].ist = IST_NMI;
    idt[18].ist = IST_MACHINE_CHECK;
    trap_load_idt();
}

void trap_load_idt(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) p = { sizeof idt - 1, (uint64_t)idt };
    __asm__ volatile("lidt %0" ::"m"(p));
}

void trap_set_handler(uint8_t vector, irq_handler h, void *ctx)
{
    handlers[vector].fn = h;
    handlers[vector].ctx = ctx;
}

/* Kernel stacks live in .bss (boot, IST) or, for threads, in the direct map. */
static bool frame_pointer_ok(uint64_t rbp)
{
    if (rbp % 8)
        return false;
    if (rbp >= (uint64_t)boot_stack_bottom && rbp + 16 <= (uint64_t)boot_stack_top)
        return true;
    if (gdt_on_ist_stack(rbp) && gdt_on_ist_stack(rbp + 15))
        return true;
    return rbp >= PHYS_MAP_BASE && rbp < KERNEL_VMA && vm_is_mapped(rbp) && vm_is_mapped(rbp + 15);
}

void trap_backtrace(uint64_t rip, uint64_t rbp)
{
    kprintf("  backtrace:\n");
    int depth = 0;
    if (rip)
        kprintf("    #%d 0x%016llx\n", depth++, (unsigned long long)rip);
    for (; depth < BACKTRACE_MAX_DEPTH && rbp && frame_pointer_ok(rbp); depth++) {
        const uint64_t *frame = (const uint64_t *)rbp;
        uint64_t ret = frame[1];
        if (ret < (uint64_t)_text_start || ret >= (uint64_t)_text_end)
            break;
        kprintf("    #%d 0x%016llx\n", depth, (unsigned long long)ret);
        if (frame[0] <= rbp)
            break; /* stacks grow down: a caller's frame is always higher */
        rbp = frame[0];
    }
}

static void dump_frame(const struct trap_frame *tf)
{
    const char *name = tf->vector < 32 ? exception_names[tf->vector] : "interrupt";
    kprintf("keel: PANIC: exception %llu (%s) err=0x%llx in %s mode\n", (unsigned long long)tf->vector, name,
            (unsigned long long)tf->error, (tf->cs & 3) ? "user" : "kernel");
    kprintf("  RIP=0x%016llx CS=0x%04llx RFLAGS=0x%016llx\n", (unsigned long long)tf->rip, (unsigned long long)tf->cs,
            (unsigned long long)tf->rflags);
    kprintf("  RSP=0x%016llx SS=0x%04llx CR2=0x%016llx CR3=0x%016llx\n", (unsigned long long)tf->rsp,
            (unsigned long long)tf->ss, (unsigned long long)read_cr2(), (unsigned long long)read_cr3());
    kprintf("  RAX=0x%016llx RBX=0x%016llx RCX=0x%016llx RDX=0x%016llx\n", (unsigned long long)tf->rax,
            (unsigned long long)tf->rbx, (unsigned long long)tf->rcx, (unsigned long long)tf->rdx);
    kprintf("  RSI=0x%016llx RDI=0x%016llx RBP=0x%016llx R8 =0x%016llx\n", (unsigned long long)tf->rsi,
            (unsigned long long)tf->rdi, (unsigned long long)tf->rbp, (unsigned long long)tf->r8);
    kprintf("  R9 =0x%016llx R10=0x%016llx R11=0x%016llx R12=0x%016llx\n", (unsigned long long)tf->r9,
            (unsigned long long)tf->r10, (unsigned long long)tf->r11, (unsigned long long)tf->r12);
    kprintf("  R13=0x%016llx R14=0x%016llx R15=0x%016llx\n", (unsigned long long)tf->r13, (unsigned long long)tf->r14,
            (unsigned long long)tf->r15);
}

static __attribute__((noreturn)) void die_on_exception(struct trap_frame *tf)
{
    irq_disable();
    klog_go_direct(); /* the dump by polling, after what waited for the UART driver */
    dump_frame(tf);
    trap_backtrace(tf->rip, tf->rbp);
    kernel_halt(DEBUG_EXIT_PANIC);
}

extern bool usercheck_active;
__attribute__((noreturn)) void usercheck_fail(void);

/* Under the BKL.  An interrupt's handler runs (and sends its EOI) before
 * anything may switch away: a core that left an interrupt in service would
 * take no interrupt of that priority class again.  A thread killed from
 * another core while it ran here, or while this core waited for the lock,
 * leaves through sched_entry_check and never raises a fault. */
static void dispatch_locked(struct trap_frame *tf, uint64_t v)
{
    bool user = tf->cs & 3;
    if (handlers[v].fn) {
        handlers[v].fn(tf, handlers[v].ctx);
    } else if (v < 32) {
        if (user)
            sched_entry_check();
        fault_from_exception(tf);
    } else if (v != VECTOR_SPURIOUS) { /* no EOI for the spurious vector (SDM vol. 3A, 11.9) */
        kprintf("keel: unexpected interrupt vector %llu\n", (unsigned long long)v);
        lapic_eoi(); /* or this priority class and every lower one stay blocked */
    }
    if (user)
        sched_entry_check();
}

void trap_dispatch(struct trap_frame *tf)
{
    uint64_t v = tf->vector;
    if (v == 2 && smp_halting())
        for (;;) /* another core halts the machine (smp_halt_others) */
            cpu_halt();
    if ((tf->cs & 3) && (read_rflags() & RFLAGS_AC_BIT))
        panic("entered from ring 3 with RFLAGS.AC set: SMAP would be off in the kernel");
    if (usercheck_active && v < 32 && (tf->cs & 3))
        usercheck_fail();                             /* the boot probe of ring 3: abandon this frame */
    bool machine_fault = v == 2 || v == 8 || v == 18; /* NMI, #DF, #MC: never the task's doing */
    if (v < 32 && (!(tf->cs & 3) || machine_fault) && !handlers[v].fn)
        die_on_exception(tf); /* without the lock: this core may hold it */
    if (v == VECTOR_TLB) {
        smp_tlb_poll(); /* needs no lock: the lock holder waits for it */
        lapic_eoi();
        return;
    }
    bkl_lock();
    dispatch_locked(tf, v);
    bkl_unlock();
}
