/*
 * keel/sys.h - system call stubs: thin inline wrappers around `syscall`.
 *
 * The register convention is in abi/keel/syscall.h.  Every stub returns the
 * kernel's error code (0 or a negative KE_*); results come back through
 * pointers.  IPC stubs take and fill a struct keel_msg.
 *
 * Every stub that returns an error code is KEEL_MUST_CHECK: a caller checks
 * it, or says with a (void) cast that it ignores it on purpose.
 */
#ifndef KEEL_LIB_SYS_H
#define KEEL_LIB_SYS_H

#include <stddef.h>
#include <stdint.h>

#include <keel/boot.h>
#include <keel/syscall.h>

#if defined(__STDC_VERSION__) && __STDC_VERSION__ > 201710L
#define KEEL_MUST_CHECK [[nodiscard]]
#else
#define KEEL_MUST_CHECK /* C11 has no attribute that a (void) cast silences */
#endif

struct keel_msg {
    uint64_t info;  /* label (low 32 bits) and, on receive, KEEL_RECV_* flags */
    uint64_t badge; /* on receive: the sender's badge, or notification bits */
    uint64_t mr[KEEL_MSG_WORDS];
};

static inline uint64_t keel_label(const struct keel_msg *m) { return m->info & KEEL_LABEL_MASK; }

/* A system call whose results come back in rdi/rsi/rdx. */
static inline int64_t sys6_out(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                               uint64_t a5, uint64_t *o0, uint64_t *o1, uint64_t *o2)
{
    register uint64_t r10 __asm__("r10") = a3;
    register uint64_t r8 __asm__("r8") = a4;
    register uint64_t r9 __asm__("r9") = a5;
    uint64_t rax = nr;
    __asm__ volatile("syscall"
                     : "+a"(rax), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8), "+r"(r9)
                     :
                     : "rcx", "r11", "memory");
    if (o0)
        *o0 = a0;
    if (o1)
        *o1 = a1;
    if (o2)
        *o2 = a2;
    return (int64_t)rax;
}

/* A system call whose one result comes back in rax. */
static inline int64_t sys6(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    return sys6_out(nr, a0, a1, a2, a3, a4, a5, NULL, NULL, NULL);
}

/* IPC: sends M (info/mr) on SLOT and, for calls and receives, overwrites M
 * with what came back.  The KEEL_RECV_* bits a receive left in m->info are
 * dropped on the way out, so a server can answer with the message it got;
 * the kernel refuses any other bit outside the label and the flags. */
KEEL_MUST_CHECK static inline int64_t keel_ipc(uint64_t nr, uint64_t slot, struct keel_msg *m)
{
    register uint64_t r10 __asm__("r10") = m->mr[1];
    register uint64_t r8 __asm__("r8") = m->mr[2];
    register uint64_t r9 __asm__("r9") = m->mr[3];
    uint64_t rax = nr, rdi = slot, rsi = m->info & ~(KEEL_RECV_NOTIFY | KEEL_RECV_FAULT | KEEL_RECV_CALL),
             rdx = m->mr[0];
    __asm__ volatile("syscall"
                     : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+r"(r10), "+r"(r8), "+r"(r9)
                     :
                     : "rcx", "r11", "memory");
    if (rax == 0 && nr != SYS_SEND && nr != SYS_REPLY) {
        m->badge = rdi;
        m->info = rsi;
        m->mr[0] = rdx;
        m->mr[1] = r10;
        m->mr[2] = r8;
        m->mr[3] = r9;
    }
    return (int64_t)rax;
}

KEEL_MUST_CHECK static inline int64_t keel_call(uint64_t ep, struct keel_msg *m) { return keel_ipc(SYS_CALL, ep, m); }
KEEL_MUST_CHECK static inline int64_t keel_send(uint64_t ep, struct keel_msg *m) { return keel_ipc(SYS_SEND, ep, m); }
/* A receive sends no label: only the flags (KEEL_NONBLOCK) of m->info go out. */
KEEL_MUST_CHECK static inline int64_t keel_recv(uint64_t ep, struct keel_msg *m)
{
    m->info &= KEEL_INFO_FLAGS;
    return keel_ipc(SYS_RECV, ep, m);
}
KEEL_MUST_CHECK static inline int64_t keel_reply(struct keel_msg *m) { return keel_ipc(SYS_REPLY, 0, m); }
KEEL_MUST_CHECK static inline int64_t keel_reply_recv(uint64_t ep, struct keel_msg *m)
{
    return keel_ipc(SYS_REPLY_RECV, ep, m);
}

KEEL_MUST_CHECK static inline int64_t keel_null(void) { return sys6(SYS_NULL, 0, 0, 0, 0, 0, 0); }
KEEL_MUST_CHECK static inline int64_t keel_debug_log(const char *s, size_t n)
{
    return sys6(SYS_DEBUG_LOG, (uint64_t)s, n, 0, 0, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_signal(uint64_t ntfn, uint64_t bits)
{
    return sys6(SYS_SIGNAL, ntfn, bits, 0, 0, 0, 0);
}
/* Waits for bits (or, with KEEL_NONBLOCK, polls: *bits may be 0). */
KEEL_MUST_CHECK static inline int64_t keel_wait(uint64_t ntfn, uint64_t flags, uint64_t *bits)
{
    return sys6_out(SYS_WAIT, ntfn, flags, 0, 0, 0, 0, bits, NULL, NULL);
}
KEEL_MUST_CHECK static inline int64_t keel_ntfn_bind(uint64_t ntfn) { return sys6(SYS_NTFN_BIND, ntfn, 0, 0, 0, 0, 0); }
static inline int64_t keel_yield(void) /* always KE_OK */ { return sys6(SYS_YIELD, 0, 0, 0, 0, 0, 0); }
KEEL_MUST_CHECK static inline int64_t keel_obj_create(uint64_t mem, uint64_t type, uint64_t dest, uint64_t arg)
{
    return sys6(SYS_OBJ_CREATE, mem, type, dest, arg, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_cap_copy(uint64_t src, uint64_t task, uint64_t dest, uint64_t rights,
                                                    uint64_t badge)
{
    return sys6(SYS_CAP_COPY, src, task, dest, rights, badge, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_cap_delete(uint64_t slot)
{
    return sys6(SYS_CAP_DELETE, slot, 0, 0, 0, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_cap_info(uint64_t slot, uint64_t *type, uint64_t *rights, uint64_t *badge)
{
    return sys6_out(SYS_CAP_INFO, slot, 0, 0, 0, 0, 0, type, rights, badge);
}
KEEL_MUST_CHECK static inline int64_t keel_map(uint64_t task, uint64_t frame, uint64_t vaddr, uint64_t rights)
{
    return sys6(SYS_MAP, task, frame, vaddr, rights, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_unmap(uint64_t task, uint64_t vaddr)
{
    return sys6(SYS_UNMAP, task, vaddr, 0, 0, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_frame_info(uint64_t frame, uint64_t *phys, uint64_t *pages)
{
    return sys6_out(SYS_FRAME_INFO, frame, 0, 0, 0, 0, 0, phys, pages, NULL);
}
/* What is left of budget MEMORY (bytes), the machine's free pages and the
 * pages the kernel manages; any pointer may be NULL. */
KEEL_MUST_CHECK static inline int64_t keel_memory_info(uint64_t memory, uint64_t *left, uint64_t *free_pages,
                                                       uint64_t *total_pages)
{
    return sys6_out(SYS_MEMORY_INFO, memory, 0, 0, 0, 0, 0, left, free_pages, total_pages);
}
/* Starts THREAD with the caller's own CPU limit (KEEL_CPU_LIMIT_INHERIT). */
KEEL_MUST_CHECK static inline int64_t keel_thread_start(uint64_t thread, uint64_t rip, uint64_t rsp, uint64_t arg,
                                                        uint64_t prio)
{
    return sys6(SYS_THREAD_START, thread, rip, rsp, arg, prio, KEEL_CPU_LIMIT_INHERIT);
}
/* The same with a CPU limit: KEEL_CPU_LIMIT_* or ms (abi/keel/syscall.h). */
KEEL_MUST_CHECK static inline int64_t keel_thread_start_limit(uint64_t thread, uint64_t rip, uint64_t rsp, uint64_t arg,
                                                              uint64_t prio, uint64_t cpu_limit)
{
    return sys6(SYS_THREAD_START, thread, rip, rsp, arg, prio, cpu_limit);
}
KEEL_MUST_CHECK static inline int64_t keel_thread_set_fault(uint64_t thread, uint64_t ep)
{
    return sys6(SYS_THREAD_SET_FAULT, thread, ep, 0, 0, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_thread_resume(uint64_t thread, uint64_t rip, uint64_t rsp)
{
    return sys6(SYS_THREAD_RESUME, thread, rip, rsp, 0, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_task_kill(uint64_t task) { return sys6(SYS_TASK_KILL, task, 0, 0, 0, 0, 0); }
KEEL_MUST_CHECK static inline int64_t keel_irq_get(uint64_t ctl, uint64_t line, uint64_t dest, uint64_t *vector)
{
    return sys6_out(SYS_IRQ_GET, ctl, line, dest, 0, 0, 0, vector, NULL, NULL);
}
KEEL_MUST_CHECK static inline int64_t keel_irq_bind(uint64_t irq, uint64_t ntfn, uint64_t bit)
{
    return sys6(SYS_IRQ_BIND, irq, ntfn, bit, 0, 0, 0);
}
/* The same; *apic_id: the local APIC the interrupt goes to (the caller's
 * core), for an MSI's address. */
KEEL_MUST_CHECK static inline int64_t keel_irq_bind_to(uint64_t irq, uint64_t ntfn, uint64_t bit, uint64_t *apic_id)
{
    return sys6_out(SYS_IRQ_BIND, irq, ntfn, bit, 0, 0, 0, apic_id, NULL, NULL);
}
KEEL_MUST_CHECK static inline int64_t keel_irq_ack(uint64_t irq) { return sys6(SYS_IRQ_ACK, irq, 0, 0, 0, 0, 0); }
KEEL_MUST_CHECK static inline int64_t keel_ioport_get(uint64_t ctl, uint64_t first, uint64_t count, uint64_t dest)
{
    return sys6(SYS_IOPORT_GET, ctl, first, count, dest, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_ioport_grant(uint64_t ioport, uint64_t task)
{
    return sys6(SYS_IOPORT_GRANT, ioport, task, 0, 0, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_mmio_get(uint64_t ctl, uint64_t phys, uint64_t pages, uint64_t dest)
{
    return sys6(SYS_MMIO_GET, ctl, phys, pages, dest, 0, 0);
}
/* SYS_DMA (abi/keel/syscall.h enum keel_dma_op): a device's DMA space. */
KEEL_MUST_CHECK static inline int64_t keel_dma_create(uint64_t mmio_ctl, uint64_t bdf, uint64_t dest, uint64_t memory)
{
    return sys6(SYS_DMA, mmio_ctl, DMA_CREATE, bdf, dest, memory, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_dma_attach(uint64_t dma, uint64_t task)
{
    return sys6(SYS_DMA, dma, DMA_ATTACH, task, 0, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_dma_bind(uint64_t dma, uint64_t ntfn, uint64_t bits)
{
    return sys6(SYS_DMA, dma, DMA_BIND, ntfn, bits, 0, 0);
}
KEEL_MUST_CHECK static inline int64_t keel_dma_info(uint64_t dma, uint64_t *faults, uint64_t *last_addr,
                                                    uint64_t *last_info)
{
    return sys6_out(SYS_DMA, dma, DMA_INFO, 0, 0, 0, 0, faults, last_addr, last_info);
}
KEEL_MUST_CHECK static inline int64_t keel_clock(uint64_t *ns, uint64_t *tsc_hz)
{
    return sys6_out(SYS_CLOCK, 0, 0, 0, 0, 0, 0, ns, tsc_hz, NULL);
}
static inline uint64_t keel_now_ns(void)
{
    uint64_t ns = 0;
    (void)keel_clock(&ns, NULL); /* SYS_CLOCK has no failure: it takes no capability */
    return ns;
}
/* Test hooks behind the debug capability (enum keel_debug_ctl). */
KEEL_MUST_CHECK static inline int64_t keel_debug_ctl(uint64_t debug, uint64_t op, uint64_t a, uint64_t b, uint64_t *r0,
                                                     uint64_t *r1, uint64_t *r2)
{
    return sys6_out(SYS_DEBUG_CTL, debug, op, a, b, 0, 0, r0, r1, r2);
}
/* The kernel log's bytes into BUF (at most LEN; *GOT of them, *LEFT still
 * waiting), making the caller the log's drainer: NTFN gets BITS when lines
 * arrive.  Only for the task that holds COM1's ports (kernel/klog.c). */
KEEL_MUST_CHECK static inline int64_t keel_klog_read(void *buf, uint64_t len, uint64_t ntfn, uint64_t bits,
                                                     uint64_t *got, uint64_t *left)
{
    return sys6_out(SYS_KLOG_READ, (uint64_t)buf, len, ntfn, bits, 0, 0, got, left, NULL);
}
/* SYS_TASK_STALL: how long (ns) the oldest work has waited on what task
 * TASK receives from while all its threads sit in receives or waits, or
 * are suspended (0: none, or not so), and the slot it waits on. */
KEEL_MUST_CHECK static inline int64_t keel_task_stall(uint64_t task, uint64_t *age_ns, uint64_t *slot)
{
    return sys6_out(SYS_TASK_STALL, task, 0, 0, 0, 0, 0, age_ns, slot, NULL);
}
/* The same with a third argument C (DEBUG_CTL_INJECT's forced kind). */
KEEL_MUST_CHECK static inline int64_t keel_debug_ctl3(uint64_t debug, uint64_t op, uint64_t a, uint64_t b, uint64_t c,
                                                      uint64_t *r0, uint64_t *r1, uint64_t *r2)
{
    return sys6_out(SYS_DEBUG_CTL, debug, op, a, b, c, 0, r0, r1, r2);
}
/* KEEL_CPU_* flags: what the kernel found about the CPU. */
KEEL_MUST_CHECK static inline int64_t keel_cpu_info(uint64_t *flags)
{
    return sys6_out(SYS_CPU_INFO, 0, 0, 0, 0, 0, 0, flags, NULL, NULL);
}
/* The cores online and the one the calling thread runs on; either may be NULL. */
KEEL_MUST_CHECK static inline int64_t keel_cpu_count(uint64_t *ncpus, uint64_t *self)
{
    return sys6_out(SYS_CPU_INFO, 0, 0, 0, 0, 0, 0, NULL, ncpus, self);
}

/* The kernel's counters since boot: address-space switches and IPC
 * messages delivered (calls and sends, fastpath or not). */
KEEL_MUST_CHECK static inline int64_t keel_kstats(uint64_t *as_switches, uint64_t *ipc)
{
    return sys6_out(SYS_KSTATS, KEEL_KSTATS_BASE, 0, 0, 0, 0, 0, as_switches, ipc, NULL);
}

/* Notification signals since boot (user signals, interrupts, timers). */
KEEL_MUST_CHECK static inline int64_t keel_kstats_signals(uint64_t *signals)
{
    return sys6_out(SYS_KSTATS, KEEL_KSTATS_BASE, 0, 0, 0, 0, 0, NULL, NULL, signals);
}

/* FPU state loads and saves since boot, and whether the kernel switches the
 * state lazily (1) or at every switch (0). */
static inline int64_t keel_kstats_fpu(uint64_t *loads, uint64_t *saves, uint64_t *lazy)
{
    return sys6_out(SYS_KSTATS, KEEL_KSTATS_FPU, 0, 0, 0, 0, 0, loads, saves, lazy);
}
KEEL_MUST_CHECK static inline int64_t keel_debug_halt(uint64_t debug, uint64_t code)
{
    return sys6(SYS_DEBUG_HALT, debug, code, 0, 0, 0, 0);
}
__attribute__((noreturn)) static inline void keel_thread_exit(void)
{
    sys6(SYS_THREAD_EXIT, 0, 0, 0, 0, 0, 0);
    for (;;)
        sys6(SYS_YIELD, 0, 0, 0, 0, 0, 0);
}
static inline uint64_t keel_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Packs up to 8 characters of NAME for OBJ_TASK's argument. */
static inline uint64_t keel_task_name(const char *name)
{
    uint64_t v = 0;
    for (int i = 0; i < 8 && name[i]; i++)
        v |= (uint64_t)(uint8_t)name[i] << (8 * i);
    return v;
}

#endif
