/*
 * smp.h - the cores: per-core data, the big kernel lock, IPIs, TLB shootdown.
 *
 * Every core ACPI's MADT lists runs the kernel (smp.c starts the others with
 * INIT-SIPI-SIPI).  Each has a struct percpu, reached through its GS base
 * while in the kernel (syscall_entry.S and trap_entry.S swapgs on entry from
 * ring 3), holding its running thread, its ready queues, its idle thread and
 * its mailbox for TLB shootdowns.
 *
 * Locking model: one big kernel lock (BKL).  A core takes it on every entry
 * into the kernel's C code (syscall_dispatch, trap_dispatch, the idle loop's
 * return from hlt) and gives it back on the way to ring 3 or to hlt, so the
 * whole kernel keeps its single-core invariants: every object, queue and
 * list is touched by one core at a time, and a system call runs to
 * completion or blocks at a known point.  The lock is held by the *core*,
 * not the thread: a context switch happens with it held and the thread that
 * resumes gives it back on its own way out.  docs/ARCHITECTURE.md 5.8 says
 * why this model and not fine-grained locks.
 *
 * With one core (smp_active false) the lock is never taken and no IPI is
 * ever sent: a -smp 1 boot runs exactly the single-core kernel.
 *
 * Only two things run on a core without the lock: the TLB-shootdown handler
 * (smp_tlb_poll: it touches only its own TLB, CR3 and mailbox), and the
 * wait for the lock itself, which polls that mailbox so a core spinning
 * with interrupts off never holds up a shootdown (which the lock holder
 * waits for).
 */
#ifndef KEEL_SMP_H
#define KEEL_SMP_H

#include <stdbool.h>
#include <stdint.h>

#include "gdt.h"

#define MAX_CPUS              8
#define SCHED_PRIOS           32
#define VECTOR_RESCHED        0xf1      /* IPI: look at your ready queues */
#define VECTOR_TLB            0xf2      /* IPI: your mailbox holds a shootdown */
#define AP_TRAMPOLINE_DEFAULT 0x8000ull /* below 1 MiB, page-aligned; pmm never hands it out */

struct thread;
struct task;
struct acpi_info;

struct run_queue {
    struct thread *head, *tail;
};

/* What a shootdown asks of a core (smp_tlb_*): set by the lock holder. */
enum tlb_req_kind {
    TLB_REQ_NONE = 0,
    TLB_REQ_USER,   /* invlpg [va, va+pages) if `task` is loaded here */
    TLB_REQ_KERNEL, /* invlpg [va, va+pages) (global kernel pages) */
    TLB_REQ_LEAVE,  /* `task` is being freed: load the kernel's CR3 if it is loaded here */
    TLB_REQ_PORTS,  /* `task`'s I/O bitmap changed: reload this core's TSS copy if it is loaded here */
};

struct percpu {
    /* Read by assembly (syscall_entry.S): offsets fixed. */
    uint64_t kernel_stack_top; /* %gs:0 - this core's running thread's stack top */
    uint64_t user_rsp;         /* %gs:8 - scratch for syscall_entry */
    struct thread *current;    /* %gs:16 - the running thread; never on a ready queue */
    struct percpu *self;       /* %gs:24 - this structure's address */
    /* Fixed once the core is up. */
    uint32_t id;      /* index in cpus[]: 0 is the boot core */
    uint32_t apic_id; /* from the MADT */
    struct thread *idle;
    tss_u64 *tss_rsp0; /* this core's TSS.RSP0 (gdt.c): the switch writes the next thread's stack top there */
    /* Scheduling: under the BKL (sched.c). */
    struct run_queue ready[SCHED_PRIOS];
    uint32_t rq_bitmap; /* bit p: ready[p] non-empty */
    /* Address space: under the BKL, except TLB_REQ_LEAVE's handler, which
     * runs while the holder waits for it (task.c). */
    struct task *loaded_task;
    /* Shootdown mailbox: set by the lock holder, cleared by this core. */
    volatile uint32_t tlb_pending;
    uint64_t ipis_received, shootdowns; /* counters (show, tests) */
    /* FPU: under the BKL (fpu.c). */
    struct thread *fpu_owner; /* whose state the registers hold (a thread of this core), or NULL */
    bool fpu_ts;              /* CR0.TS as last written here: clear only for the owner (or idle after it) */
};
_Static_assert(__builtin_offsetof(struct percpu, user_rsp) == 8, "syscall_entry.S offsets");
_Static_assert(__builtin_offsetof(struct percpu, current) == 16, "sched_current offset");
_Static_assert(__builtin_offsetof(struct percpu, self) == 24, "this_cpu offset");

extern struct percpu cpus[MAX_CPUS];
extern uint32_t smp_ncpus; /* cores online */
extern bool smp_active;    /* more than one core online: the BKL and IPIs are live */

static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__ volatile("movq %%gs:24, %0" : "=r"(p));
    return p;
}

/* Finds the cores and starts every application processor (after sched_init
 * on the boot core).  Takes the BKL for the boot core first. */
void smp_start(const struct acpi_info *acpi, uint64_t trampoline_phys);

/* The big kernel lock; no-ops unless smp_active. */
void bkl_lock(void);
void bkl_unlock(void);

/* Asks core CPU to look at its ready queues (VECTOR_RESCHED). */
void smp_resched(uint32_t cpu);
/* Shootdowns: return once every core concerned has done it. */
void smp_tlb_user(struct task *t, uint64_t va, uint64_t pages);
void smp_tlb_kernel(uint64_t va, uint64_t pages);
void smp_tlb_leave(struct task *t);
/* T's ports changed (granted, or closed at its death): the other cores
 * that have T loaded copy its bitmap into their TSS again. */
void smp_ports_changed(struct task *t);
/* A halt or panic: stops every other core (an NMI; smp_halting tells the
 * NMI path to halt quietly).  Safe to call more than once. */
void smp_halt_others(void);
bool smp_halting(void);
/* Does this core's pending shootdown, if any (no lock needed). */
void smp_tlb_poll(void);

#endif
