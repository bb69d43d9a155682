/*
 * syscall.c - system call dispatch and argument checking.
 *
 * Each handler decodes and checks every argument (slot, object type,
 * rights, address range and alignment, lengths, reserved bits) before it
 * changes anything, and returns a KE_* code that lands in the caller's rax.
 * A number outside the table is a fault of the task (FAULT_BAD_SYSCALL),
 * not an error code: it means the program is broken, not unlucky.
 * The IPC fastpath is tried first for SYS_CALL and SYS_REPLY_RECV.
 */
#include "arch.h"
#include "cmdline.h"
#include "cpuvuln.h"
#include "faultinj.h"
#include "fpu.h"
#include "kcheck.h"
#include "gdt.h"
#include "iommu.h"
#include "ipc.h"
#include "kheap.h"
#include "kstring.h"
#include "klog.h"
#include "log.h"
#include "memory.h"
#include "pmm.h"
#include "sched.h"
#include "task.h"
#include "timer.h"
#include "trap.h"
#include "vm.h"

#define CMDLINE_COPY_MAX 520 /* the command line is at most 512 bytes (multiboot.c) */
#define DEBUG_EXIT_PORT  0xf4
#define USER_RFLAGS      0x202

void syscall_dispatch(struct trap_frame *tf);
void syscall_init(void);
void syscall_entry(void);

typedef int64_t (*syscall_fn)(struct trap_frame *tf);

static struct task *cur_task(void) { return sched_current()->task; }

/* Looks up slot S of the current task; on failure returns from the handler. */
#define LOOKUP(var, slot, type, rights)                                                                                \
    struct cap *var;                                                                                                   \
    do {                                                                                                               \
        int lookup_err = cap_lookup(cur_task(), (slot), (type), (rights), &var);                                       \
        if (lookup_err)                                                                                                \
            return lookup_err;                                                                                         \
    } while (0)

static int64_t sys_null(struct trap_frame *tf)
{
    (void)tf;
    return KE_OK;
}

static int64_t sys_debug_log(struct trap_frame *tf)
{
    char buf[DEBUG_LOG_MAX + 2];
    uint64_t len = tf->rsi;
    if (len > DEBUG_LOG_MAX)
        return KE_INVALID_ARG;
    int err = copy_from_user(buf, tf->rdi, len);
    if (err)
        return err;
    buf[len] = 0;
    for (uint64_t i = 0; i < len; i++)
        if (((unsigned char)buf[i] < 0x20 && buf[i] != '\n' && buf[i] != '\t') || (unsigned char)buf[i] >= 0x7f)
            buf[i] = '?'; /* no escape sequences into the operator's terminal */
    /* One call is one line: output of two tasks never shares a line. */
    if (len && buf[len - 1] != '\n') {
        buf[len] = '\n';
        buf[len + 1] = 0;
    }
    klog_lines_from(cur_task());
    kprintf("%s", buf);
    klog_lines_from(NULL);
    klog_kick(); /* the UART driver, if it drains the log, hears of the line now */
    return KE_OK;
}

static int64_t sys_call(struct trap_frame *tf)
{
    if (tf->rsi & ~(KEEL_LABEL_MASK | KEEL_INFO_FLAGS))
        return KE_INVALID_ARG;
    LOOKUP(c, tf->rdi, CAP_ENDPOINT, RIGHT_WRITE);
    return ep_send(c, tf, true);
}

static int64_t sys_send(struct trap_frame *tf)
{
    if (tf->rsi & ~(KEEL_LABEL_MASK | KEEL_INFO_FLAGS))
        return KE_INVALID_ARG;
    LOOKUP(c, tf->rdi, CAP_ENDPOINT, RIGHT_WRITE);
    return ep_send(c, tf, false);
}

/* A thread a tick found running (a hog candidate, sched.c) that enters a
 * receive or wait that may block: true when it is to be watched. */
static bool hog_waits(const struct thread *me, uint64_t flags)
{
    return __builtin_expect(me->run_ticks != 0, 0) && !(flags & KEEL_NONBLOCK);
}

/* ... and the receive or wait gave it work (R == KE_OK) without blocking
 * (blocking zeroed run_ticks already): its loop came around, it is
 * serving, not spinning (sched_came_around).  Only here, in the three
 * handlers: the fastpath and every other call pay nothing. */
static int64_t hog_took_work(struct thread *me, bool watched, int64_t r)
{
    if (watched && r == KE_OK && me->run_ticks != 0)
        sched_came_around(me);
    return r;
}

static int64_t sys_recv(struct trap_frame *tf)
{
    if (tf->rsi & ~KEEL_INFO_FLAGS)
        return KE_INVALID_ARG;
    LOOKUP(c, tf->rdi, CAP_ENDPOINT, RIGHT_READ);
    struct thread *me = sched_current();
    bool watched = hog_waits(me, tf->rsi);
    return hog_took_work(me, watched, ep_recv(c, tf, tf->rsi & KEEL_NONBLOCK));
}

static int64_t sys_reply(struct trap_frame *tf)
{
    if (tf->rsi & ~(KEEL_LABEL_MASK | KEEL_INFO_FLAGS))
        return KE_INVALID_ARG;
    return ep_reply(tf);
}

static int64_t sys_reply_recv(struct trap_frame *tf)
{
    if (tf->rsi & ~(KEEL_LABEL_MASK | KEEL_INFO_FLAGS))
        return KE_INVALID_ARG;
    LOOKUP(c, tf->rdi, CAP_ENDPOINT, RIGHT_READ);
    struct thread *me = sched_current();
    bool watched = hog_waits(me, tf->rsi);
    return hog_took_work(me, watched, ep_reply_recv(c, tf));
}

/* (ntfn slot, bits).  An unbadged capability sets the caller's bits (its
 * holder was given the whole word).  A badged one is a fixed signal: it
 * sets exactly its badge bits, and asking for any bit outside the badge is
 * refused (KE_NO_RIGHTS, nothing set), so a signaller can never set the
 * bits of another signaller, an IRQ or a timer on the same word. */
static int64_t sys_signal(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_NOTIFICATION, RIGHT_WRITE);
    uint64_t bits = tf->rsi;
    if (c->badge) {
        if (bits & ~c->badge)
            return KE_NO_RIGHTS;
        bits = c->badge;
    }
    return ntfn_signal((struct notification *)c->obj, bits);
}

static int64_t sys_wait(struct trap_frame *tf)
{
    if (tf->rsi & ~KEEL_NONBLOCK)
        return KE_INVALID_ARG;
    LOOKUP(c, tf->rdi, CAP_NOTIFICATION, RIGHT_READ);
    struct thread *me = sched_current();
    bool watched = hog_waits(me, tf->rsi);
    return hog_took_work(me, watched, ntfn_wait((struct notification *)c->obj, tf, tf->rsi & KEEL_NONBLOCK));
}

static int64_t sys_ntfn_bind(struct trap_frame *tf)
{
    if (tf->rdi == (uint64_t)-1)
        return ntfn_bind(sched_current(), NULL);
    LOOKUP(c, tf->rdi, CAP_NOTIFICATION, RIGHT_READ);
    return ntfn_bind(sched_current(), (struct notification *)c->obj);
}

static int64_t sys_yield(struct trap_frame *tf)
{
    (void)tf;
    sched_current()->slice = 0;
    sched_yield_to_best();
    return KE_OK;
}

static int check_free_slot(struct task *t, uint64_t slot)
{
    if (slot >= KEEL_CAP_SLOTS)
        return KE_INVALID_SLOT;
    return t->caps[slot].obj ? KE_SLOT_IN_USE : KE_OK;
}

/* (memory slot, type, dest slot, arg) */
static int64_t sys_obj_create(struct trap_frame *tf)
{
    LOOKUP(m, tf->rdi, CAP_MEMORY, RIGHT_WRITE);
    int err = check_free_slot(cur_task(), tf->rdx);
    if (err)
        return err;
    struct task *owner = NULL;
    if (tf->rsi == OBJ_THREAD) {
        LOOKUP(tc, tf->r10, CAP_TASK, RIGHT_WRITE);
        owner = (struct task *)tc->obj;
        if (owner->dead)
            return KE_DEAD;
    } else if (tf->rsi != OBJ_FRAME && tf->rsi != OBJ_DMA_FRAME && tf->rsi != OBJ_MEMORY && tf->rsi != OBJ_TASK &&
               tf->r10 != 0) {
        return KE_INVALID_ARG;
    }
    struct kobj *o;
    err = memory_create_object((struct memory *)m->obj, tf->rsi, tf->r10, owner, &o);
    if (err)
        return err;
    cap_install(cur_task(), tf->rdx, o, RIGHTS_ALL, 0);
    return KE_OK;
}

/* (src slot, task slot, dest slot, rights, badge): a copy with rights
 * narrowed to RIGHTS and, when BADGE is non-zero, a new badge (only an
 * unbadged capability can be badged: a badge is never forged over). */
static int64_t sys_cap_copy(struct trap_frame *tf)
{
    if (tf->r10 & ~(uint64_t)RIGHTS_ALL)
        return KE_INVALID_ARG;
    LOOKUP(src, tf->rdi, CAP_NONE, RIGHT_GRANT);
    LOOKUP(tc, tf->rsi, CAP_TASK, RIGHT_WRITE);
    struct task *dest = (struct task *)tc->obj;
    if (dest->dead)
        return KE_DEAD;
    int err = check_free_slot(dest, tf->rdx);
    if (err)
        return err;
    if (tf->r8 && src->badge)
        return KE_INVALID_ARG;
    uint8_t type = src->obj->type;
    if (tf->r8 && type != CAP_ENDPOINT && type != CAP_NOTIFICATION)
        return KE_INVALID_ARG;
    cap_install(dest, tf->rdx, src->obj, src->rights & (uint8_t)tf->r10, tf->r8 ? tf->r8 : src->badge);
    return KE_OK;
}

static int64_t sys_cap_delete(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_NONE, 0);
    (void)c;
    cap_clear(cur_task(), tf->rdi);
    return KE_OK;
}

static int64_t sys_cap_info(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_NONE, 0);
    tf->rdi = c->obj->type;
    tf->rsi = c->rights;
    tf->rdx = c->badge;
    return KE_OK;
}

/* (task slot, frame slot, vaddr, rights) */
static int64_t sys_map(struct trap_frame *tf)
{
    uint64_t rights = tf->r10;
    if (rights & ~(uint64_t)(RIGHT_READ | RIGHT_WRITE | RIGHT_EXEC))
        return KE_INVALID_ARG;
    if ((rights & RIGHT_WRITE) && (rights & RIGHT_EXEC))
        return KE_INVALID_ARG; /* W^X */
    LOOKUP(tc, tf->rdi, CAP_TASK, RIGHT_WRITE);
    LOOKUP(fc, tf->rsi, CAP_FRAME, (uint8_t)rights);
    struct task *t = (struct task *)tc->obj;
    if (t->dead)
        return KE_DEAD;
    return task_map(t, (struct frame *)fc->obj, tf->rdx, (uint8_t)rights);
}

/* (task slot, vaddr) */
static int64_t sys_unmap(struct trap_frame *tf)
{
    LOOKUP(tc, tf->rdi, CAP_TASK, RIGHT_WRITE);
    if (tf->rsi % PAGE_SIZE)
        return KE_ALIGNMENT;
    return task_unmap((struct task *)tc->obj, tf->rsi);
}

static int64_t sys_frame_info(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_FRAME, 0);
    struct frame *f = (struct frame *)c->obj;
    tf->rdi = (f->dma || f->device) ? f->phys : 0;
    tf->rsi = f->pages;
    return KE_OK;
}

/* (memory slot): what is left of a budget, and the machine's free pages,
 * so init can say what each server uses (its budget minus what is left). */
static int64_t sys_memory_info(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_MEMORY, RIGHT_READ);
    tf->rdi = ((struct memory *)c->obj)->remaining;
    tf->rsi = pmm_free_frames();
    tf->rdx = pmm_total_frames();
    return KE_OK;
}

static bool user_address_ok(uint64_t a) { return a >= KEEL_USER_BASE && a < KEEL_USER_TOP; }

/* The age of the oldest work waiting on object O (0: none), if it is one a
 * holder of a RIGHT_READ capability receives from: a queued sender, a
 * non-blocking caller that found nobody receiving (and nobody came to
 * receive since), bits nobody took. */
static uint64_t work_waiting_since(const struct kobj *o)
{
    if (o->type == CAP_ENDPOINT) {
        const struct endpoint *ep = (const struct endpoint *)o;
        uint64_t queued = ep->senders.head ? ep->senders.head->send_since : 0; /* FIFO: the head waited longest */
        if (!ep->missed_since || (queued && queued < ep->missed_since))
            return queued;
        return ep->missed_since; /* a non-blocking caller found nobody, and nobody came since */
    }
    if (o->type == CAP_NOTIFICATION) {
        const struct notification *n = (const struct notification *)o;
        return n->bits ? n->bits_since : 0;
    }
    return 0;
}

/* (task slot): how long the oldest work has waited on what the task
 * receives from, while every thread of it is blocked in a receive or a
 * wait, or suspended: a server stuck where nothing wakes it.  A thread
 * that runs makes it busy, not stuck (a spin is cpu-limit's); one that
 * sends or awaits a reply waits on another server, which is the one to
 * blame if it never answers (its own queue shows the work). */
static int64_t sys_task_stall(struct trap_frame *tf)
{
    LOOKUP(tc, tf->rdi, CAP_TASK, RIGHT_READ);
    const struct task *t = (const struct task *)tc->obj;
    tf->rdi = 0;
    tf->rsi = KEEL_CAP_SLOTS;
    if (t->dead)
        return KE_OK;
    for (const struct thread *th = t->threads; th; th = th->task_next)
        if (th->state == TS_RUNNABLE || th->state == TS_BLOCKED_SEND || th->state == TS_BLOCKED_REPLY)
            return KE_OK;
    uint64_t now = clock_ns(), oldest = 0;
    for (uint32_t i = 0; i < KEEL_CAP_SLOTS; i++) {
        const struct cap *c = &t->caps[i];
        if (!c->obj || !(c->rights & RIGHT_READ))
            continue;
        uint64_t since = work_waiting_since(c->obj);
        if (since && since <= now && now - since > oldest) {
            oldest = now - since;
            tf->rsi = i;
        }
    }
    tf->rdi = oldest;
    return KE_OK;
}

/* (thread slot, rip, rsp, arg, priority | core, CPU limit) */
static int64_t sys_thread_start(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_THREAD, RIGHT_WRITE);
    struct thread *t = (struct thread *)c->obj;
    if (!user_address_ok(tf->rsi) || !user_address_ok(tf->rdx))
        return KE_BAD_ADDRESS;
    uint64_t prio = tf->r8 & KEEL_THREAD_PRIO_MASK;
    uint64_t cpu_field = (tf->r8 & KEEL_THREAD_CPU_MASK) >> KEEL_THREAD_CPU_SHIFT;
    if (prio >= SCHED_PRIOS || (tf->r8 & ~(KEEL_THREAD_PRIO_MASK | KEEL_THREAD_CPU_MASK)))
        return KE_INVALID_ARG;
    /* 0: the caller's core; N: core N-1, which must be online. */
    uint32_t cpu = cpu_field ? (uint32_t)(cpu_field - 1) : sched_current()->cpu;
    if (cpu >= smp_ncpus)
        return KE_RANGE;
    /* The starter's own priority as started: a hog that was demoted
     * (sched.c) still starts threads where it could before. */
    if (prio > sched_current()->base_prio)
        return KE_NO_RIGHTS; /* nobody creates a thread above its own priority */
    uint32_t limit;
    if (tf->r9 == KEEL_CPU_LIMIT_INHERIT)
        limit = sched_current()->cpu_limit;
    else if (tf->r9 == KEEL_CPU_LIMIT_NONE)
        limit = 0;
    else if (tf->r9 <= KEEL_CPU_LIMIT_MAX_MS)
        limit = (uint32_t)((tf->r9 * TIMER_HZ + 999) / 1000); /* ticks; at least one */
    else
        return KE_INVALID_ARG;
    if (t->task->dead)
        return KE_DEAD;
    if (t->state != TS_INACTIVE)
        return KE_BUSY;
    thread_start(t, tf->rsi, tf->rdx, tf->r10, (uint8_t)prio, cpu, limit);
    if (t->prio > sched_current()->prio)
        sched_yield_to_best();
    return KE_OK;
}

/* (thread slot, endpoint slot): faults of the thread go there, with the
 * badge of that capability. */
static int64_t sys_thread_set_fault(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_THREAD, RIGHT_WRITE);
    LOOKUP(e, tf->rsi, CAP_ENDPOINT, RIGHT_WRITE);
    struct thread *t = (struct thread *)c->obj;
    if (t->fault_ep)
        kobj_unref(&t->fault_ep->hdr);
    t->fault_ep = (struct endpoint *)e->obj;
    kobj_ref(&t->fault_ep->hdr);
    t->fault_badge = e->badge;
    return KE_OK;
}

/* (thread slot, rip, rsp): continue a faulted thread somewhere else. */
static int64_t sys_thread_resume(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_THREAD, RIGHT_WRITE);
    struct thread *t = (struct thread *)c->obj;
    if (!user_address_ok(tf->rsi) || !user_address_ok(tf->rdx))
        return KE_BAD_ADDRESS;
    if (t->state != TS_FAULTED)
        return KE_BUSY;
    if (t->blocked_ep) {
        /* Its fault message was never received: withdraw it.  Everything
         * else (bound notification, a reply it owes) stays as it was. */
        tq_remove(&t->blocked_ep->senders, t);
        t->blocked_ep = NULL;
    }
    t->uframe->rip = tf->rsi;
    t->uframe->rsp = tf->rdx;
    t->uframe->rflags = USER_RFLAGS;
    t->uframe->cs = USER_CS;
    t->uframe->ss = USER_DS;
    sched_wake(t);
    return KE_OK;
}

static int64_t sys_task_kill(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_TASK, RIGHT_WRITE);
    task_kill((struct task *)c->obj);
    return KE_OK;
}

static int64_t sys_thread_exit(struct trap_frame *tf)
{
    fault_raise(tf, FAULT_EXIT, 0, 0);
    return KE_OK;
}

static int64_t sys_irq_get(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_IRQ_CONTROL, 0);
    (void)c;
    int err = check_free_slot(cur_task(), tf->rdx);
    if (err)
        return err;
    err = irq_line_check(tf->rsi);
    if (err)
        return err;
    struct irq *irq = irq_create((uint32_t)tf->rsi);
    if (!irq)
        return KE_NO_MEMORY;
    cap_install(cur_task(), tf->rdx, &irq->hdr, RIGHTS_ALL, 0);
    tf->rdi = irq->vector;
    return KE_OK;
}

static int64_t sys_irq_bind(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_IRQ, RIGHT_WRITE);
    LOOKUP(n, tf->rsi, CAP_NOTIFICATION, RIGHT_WRITE);
    /* The interrupt goes to the core of the thread that binds it (the
     * driver's own): its wake-up is then a same-core one. */
    uint32_t apic = cpus[sched_current()->cpu].apic_id;
    int64_t err = irq_bind((struct irq *)c->obj, (struct notification *)n->obj, tf->rdx, apic);
    if (!err)
        tf->rdi = apic;
    return err;
}

static int64_t sys_irq_ack(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_IRQ, RIGHT_WRITE);
    return irq_ack((struct irq *)c->obj);
}

static int64_t sys_ioport_get(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_IOPORT_CONTROL, 0);
    (void)c;
    if (tf->rdx == 0 || tf->rsi > 0xffff || tf->rdx > 0x10000 - tf->rsi)
        return KE_INVALID_ARG;
    int err = check_free_slot(cur_task(), tf->r10);
    if (err)
        return err;
    struct ioport *p = kheap_alloc(sizeof *p);
    if (!p)
        return KE_NO_MEMORY;
    p->hdr.type = CAP_IOPORT;
    p->first = (uint16_t)tf->rsi;
    p->count = (uint32_t)tf->rdx;
    cap_install(cur_task(), tf->r10, &p->hdr, RIGHTS_ALL, 0);
    return KE_OK;
}

static int64_t sys_ioport_grant(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_IOPORT, RIGHT_WRITE);
    LOOKUP(tc, tf->rsi, CAP_TASK, RIGHT_WRITE);
    struct ioport *p = (struct ioport *)c->obj;
    return task_grant_ports((struct task *)tc->obj, p->first, p->count);
}

/* (mmio control slot, phys, pages, dest slot): device memory, never RAM. */
static int64_t sys_mmio_get(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_MMIO_CONTROL, 0);
    (void)c;
    uint64_t phys = tf->rsi, pages = tf->rdx;
    if (phys % PAGE_SIZE)
        return KE_ALIGNMENT;
    if (pages == 0 || pages > 65536 || phys >= (1ull << 52) || pages > ((1ull << 52) - phys) / PAGE_SIZE)
        return KE_INVALID_ARG;
    if (pmm_overlaps_ram(phys, pages * PAGE_SIZE) || irq_owns_mmio(phys, pages * PAGE_SIZE) ||
        iommu_owns_mmio(phys, pages * PAGE_SIZE))
        return KE_RANGE; /* RAM, or the interrupt controllers and IOMMUs the kernel drives */
    int err = check_free_slot(cur_task(), tf->r10);
    if (err)
        return err;
    struct frame *f = frame_wrap(phys, pages, true, false);
    if (!f)
        return KE_NO_MEMORY;
    cap_install(cur_task(), tf->r10, &f->hdr, RIGHT_READ | RIGHT_WRITE | RIGHT_GRANT, 0);
    return KE_OK;
}

static int64_t sys_clock(struct trap_frame *tf)
{
    tf->rdi = clock_ns();
    tf->rsi = tsc_hz();
    return KE_OK;
}

static int64_t sys_timer_arm(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_NOTIFICATION, RIGHT_WRITE);
    return ktimer_arm((struct notification *)c->obj, tf->rsi, tf->rdx);
}

static int64_t sys_debug_halt(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_DEBUG, 0);
    (void)c;
    kernel_halt((int)(tf->rsi & 0xff));
}

/* (debug slot, op, a, b): test hooks (enum keel_debug_ctl). */
static int64_t sys_debug_ctl(struct trap_frame *tf)
{
    LOOKUP(c, tf->rdi, CAP_DEBUG, 0);
    (void)c;
    switch (tf->rsi) {
    case DEBUG_CTL_CMDLINE: {
        const char *line = cmdline_get();
        uint64_t len = strlen(line), n = len + 1;
        if (tf->r10 == 0)
            return KE_INVALID_ARG;
        if (n > tf->r10)
            n = tf->r10;
        char buf[CMDLINE_COPY_MAX];
        if (n > sizeof buf)
            n = sizeof buf;
        memcpy(buf, line, n - 1);
        buf[n - 1] = 0;
        int err = copy_to_user(tf->rdx, buf, n);
        if (err)
            return err;
        tf->rdi = len;
        return KE_OK;
    }
    case DEBUG_CTL_FAIL_ALLOC:
        pmm_inject_failures(tf->rdx, tf->r10);
        tf->rdi = pmm_injected_failures();
        return KE_OK;
    case DEBUG_CTL_CHECK: {
        uint64_t tasks, threads;
        tf->rdi = (uint64_t)kcheck_run(&tasks, &threads, tf->rdx & 1);
        tf->rsi = tasks;
        tf->rdx = threads;
        return KE_OK;
    }
    case DEBUG_CTL_KHEAP:
        tf->rdi = kheap_bytes_in_use();
        tf->rsi = kheap_pages_held();
        tf->rdx = pmm_free_frames();
        return KE_OK;
    case DEBUG_CTL_INJECT: {
        struct faultinj_result r;
        int err = faultinj_inject(tf->rdx, tf->r10, tf->r8, &r);
        if (err)
            return err;
        tf->rdi = r.kind;
        tf->rsi = r.where;
        tf->rdx = r.value;
        return KE_OK;
    }
    default: return KE_INVALID_ARG;
    }
}

static int64_t sys_cpu_info(struct trap_frame *tf)
{
    tf->rdi = cpuvuln_flags();
    tf->rsi = smp_ncpus;
    tf->rdx = sched_current()->cpu;
    return KE_OK;
}

/* (KEEL_KSTATS_BASE) -> rdi = address-space switches, rsi = IPC messages,
 * rdx = notification signals; (KEEL_KSTATS_FPU) -> rdi = FPU state loads,
 * rsi = saves, rdx = 1 when lazy.  Counters anyone may read: they say how
 * busy the machine is, nothing more.  Any other set: KE_INVALID_ARG. */
static int64_t sys_kstats(struct trap_frame *tf)
{
    switch (tf->rdi) {
    case KEEL_KSTATS_BASE:
        tf->rdi = kstat_as_switches;
        tf->rsi = kstat_ipc;
        tf->rdx = kstat_signals;
        return KE_OK;
    case KEEL_KSTATS_FPU:
        tf->rdi = kstat_fpu_loads;
        tf->rsi = kstat_fpu_saves;
        tf->rdx = fpu_is_lazy() ? 1 : 0;
        return KE_OK;
    default: return KE_INVALID_ARG;
    }
}

static const syscall_fn syscall_table[SYS_COUNT] = {
    [SYS_NULL] = sys_null,
    [SYS_DEBUG_LOG] = sys_debug_log,
    [SYS_CALL] = sys_call,
    [SYS_REPLY_RECV] = sys_reply_recv,
    [SYS_SEND] = sys_send,
    [SYS_RECV] = sys_recv,
    [SYS_REPLY] = sys_reply,
    [SYS_SIGNAL] = sys_signal,
    [SYS_WAIT] = sys_wait,
    [SYS_NTFN_BIND] = sys_ntfn_bind,
    [SYS_YIELD] = sys_yield,
    [SYS_OBJ_CREATE] = sys_obj_create,
    [SYS_CAP_COPY] = sys_cap_copy,
    [SYS_CAP_DELETE] = sys_cap_delete,
    [SYS_MAP] = sys_map,
    [SYS_UNMAP] = sys_unmap,
    [SYS_FRAME_INFO] = sys_frame_info,
    [SYS_THREAD_START] = sys_thread_start,
    [SYS_THREAD_SET_FAULT] = sys_thread_set_fault,
    [SYS_THREAD_RESUME] = sys_thread_resume,
    [SYS_TASK_KILL] = sys_task_kill,
    [SYS_IRQ_ACK] = sys_irq_ack,
    [SYS_IRQ_BIND] = sys_irq_bind,
    [SYS_IOPORT_GRANT] = sys_ioport_grant,
    [SYS_CLOCK] = sys_clock,
    [SYS_THREAD_EXIT] = sys_thread_exit,
    [SYS_CAP_INFO] = sys_cap_info,
    [SYS_DEBUG_HALT] = sys_debug_halt,
    [SYS_IRQ_GET] = sys_irq_get,
    [SYS_IOPORT_GET] = sys_ioport_get,
    [SYS_MMIO_GET] = sys_mmio_get,
    [SYS_TIMER_ARM] = sys_timer_arm,
    [SYS_MEMORY_INFO] = sys_memory_info,
    [SYS_DEBUG_CTL] = sys_debug_ctl,
    [SYS_CPU_INFO] = sys_cpu_info,
    [SYS_KSTATS] = sys_kstats,
    [SYS_KLOG_READ] = sys_klog_read,
    [SYS_TASK_STALL] = sys_task_stall,
    [SYS_DMA] = dmaspace_syscall,
};

static void dispatch_locked(struct trap_frame *tf)
{
    uint64_t nr = tf->rax;
    KASSERT(!(read_rflags() & RFLAGS_AC_BIT), "FMASK clears AC on syscall entry (SMAP stays on)");
    if (nr == SYS_CALL && fastpath_call(tf))
        return;
    if (nr == SYS_REPLY_RECV && fastpath_reply_recv(tf))
        return;
    if (nr >= SYS_COUNT || !syscall_table[nr]) {
        fault_raise(tf, FAULT_BAD_SYSCALL, nr, 0);
        tf->rax = (uint64_t)KE_INVALID_SYSCALL; /* if resumed here */
        return;
    }
    int64_t r = syscall_table[nr](tf);
    tf->rax = (uint64_t)r;
    if (sched_current()->state == TS_DEAD)
        sched_yield_to_best(); /* the thread killed its own task: never returns */
}

/* The entry from syscall_entry.S: the whole call under the BKL (smp.h). */
void syscall_dispatch(struct trap_frame *tf)
{
    bkl_lock();
    sched_entry_check();
    dispatch_locked(tf);
    bkl_unlock();
}

#define MSR_STAR  0xC0000081u
#define MSR_LSTAR 0xC0000082u
#define MSR_FMASK 0xC0000084u
#define RFLAGS_IF (1u << 9)
#define RFLAGS_TF (1u << 8)
#define RFLAGS_DF (1u << 10)
#define RFLAGS_AC (1u << 18)
#define RFLAGS_NT (1u << 14)

void syscall_init(void)
{
    wrmsr(MSR_STAR, ((uint64_t)0x10 << 48) | ((uint64_t)KERNEL_CS << 32));
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    wrmsr(MSR_FMASK, RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}
