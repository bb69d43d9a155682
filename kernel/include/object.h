/*
 * object.h - the kernel objects and capabilities.
 *
 * Every object starts with struct kobj: its type and a reference count.  A
 * reference is held by each capability naming the object, by each mapping
 * of a frame, and by the kernel where it says so (a thread holds its task;
 * a thread blocked on an endpoint does not hold it: destroying the endpoint
 * wakes its waiters with KE_DEAD).  When the count reaches zero the object
 * is destroyed and its memory returned to the budget it was charged to;
 * destruction is queued and drained in a loop, never recursive (cap.c).
 *
 * Concurrency: the kernel runs with interrupts disabled and under the big
 * kernel lock (smp.h), so one core at a time touches these objects and no
 * finer locks exist; every system call runs to completion or blocks at a
 * known point.
 */
#ifndef KEEL_OBJECT_H
#define KEEL_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <keel/syscall.h>
#include "trap.h"

struct task;
struct thread;
struct memory;

struct kobj {
    uint8_t type;             /* enum keel_cap_type */
    uint32_t refs;            /* capabilities + mappings + kernel references */
    struct memory *charged;   /* budget this object's memory came from (or NULL) */
    uint64_t charge;          /* bytes charged (64-bit all the way to the refund) */
    struct kobj *doomed_next; /* cap.c's destruction list; only while refs == 0 */
};
_Static_assert(sizeof(((struct kobj *)0)->charge) == 8, "a charge is never truncated");

struct cap {
    struct kobj *obj; /* NULL = empty slot */
    uint64_t badge;   /* endpoints/notifications: given to the receiver */
    uint8_t rights;   /* RIGHT_* */
};

/* A budget of memory, in bytes, to create objects and frames from.
 * Invariant: caps <= hdr.refs; the rest of refs are objects charged to it
 * (and sub-budgets).  When caps drops to 0 every task charged to the budget,
 * directly or through a sub-budget, is killed (memory_release, cap.c), so
 * objects that only keep each other alive (a task holding its own
 * capability, a cycle of tasks) are reclaimed when the budget's holder lets
 * go of it. */
struct memory {
    struct kobj hdr;
    uint64_t remaining;
    uint32_t caps;       /* capabilities naming this budget */
    bool release_queued; /* on cap.c's release list (which holds a reference) */
    struct memory *release_next;
    uint32_t check_caps; /* kcheck.c's count of the capabilities it found */
};

/* A frame's pages are either contiguous from phys (list == NULL: DMA and
 * device frames, wrapped boot modules, and any frame of at most
 * FRAME_CONTIG_MAX pages the pmm had room for in one run) or named one by
 * one in a two-level list (list[k] is a kheap page of FRAME_LIST_FANOUT
 * physical addresses): a frame that no device reads needs no physical
 * contiguity, so it may be larger than the largest free run. */
#define FRAME_LIST_FANOUT 512u /* addresses per list page (4096 / 8) */
struct frame {
    struct kobj hdr;
    uint64_t phys;   /* first byte when list == NULL (the pages are contiguous) */
    uint64_t **list; /* else the pages' physical addresses (kheap memory) */
    uint64_t pages;
    bool device; /* MMIO: never freed to the pmm, mapped uncached */
    bool dma;    /* its physical address may be disclosed (SYS_FRAME_INFO) */
    bool owned;  /* return the pages to the pmm on destroy */
};

/* The physical address of page I of F (I < F->pages). */
static inline uint64_t frame_page(const struct frame *f, uint64_t i)
{
    return f->list ? f->list[i / FRAME_LIST_FANOUT][i % FRAME_LIST_FANOUT] : f->phys + i * 4096ull;
}

/* A thread queue: FIFO, linked through struct thread.q_next. */
struct thread_queue {
    struct thread *head, *tail;
};

struct endpoint {
    struct kobj hdr;
    struct thread_queue senders;   /* BLOCKED_SEND, with their message */
    struct thread_queue receivers; /* BLOCKED_RECV */
    /* clock_ns of the first KEEL_NONBLOCK send or call that found no
     * receiver since a thread last came to receive here (0: none), so
     * SYS_TASK_STALL sees work that tried and went away (netd's calls to
     * its drivers), not only work that queues. */
    uint64_t missed_since;
};

struct notification {
    struct kobj hdr;
    uint64_t bits;         /* pending, ORed by signal */
    uint64_t bits_since;   /* clock_ns when bits last became non-zero with nobody to take them */
    struct thread *waiter; /* BLOCKED_NTFN on this object, at most one */
    struct thread *bound;  /* thread whose recv also returns these bits */
    /* One-shot timer (SYS_TIMER_ARM); owned by ktimer.c. */
    uint64_t deadline_ns; /* 0 = not armed */
    uint64_t timer_bits;
    struct notification *timer_next;
};

struct irq {
    struct kobj hdr;
    uint32_t gsi;
    uint8_t vector;
    bool level, active_low;
    bool pending_ack; /* masked, waiting for SYS_IRQ_ACK */
    struct notification *ntfn;
    uint64_t bit;
    uint64_t count;
};

struct ioport {
    struct kobj hdr;
    uint16_t first;
    uint32_t count;
};

/* Control capabilities (IRQ, I/O port, MMIO, debug) have no state. */
struct control {
    struct kobj hdr;
};

/* A mapping of one frame object into a task. */
struct region {
    struct region *next;
    uint64_t vaddr;
    struct frame *frame;
    uint8_t rights;
};

#define CAP_TABLE_PAGES 2
_Static_assert(KEEL_CAP_SLOTS * sizeof(struct cap) <= CAP_TABLE_PAGES * 4096, "cap table size");

struct task {
    struct kobj hdr;
    uint64_t pml4_phys;
    uint16_t pcid;
    bool dead;
    char name[9];     /* up to 8 bytes (OBJ_TASK packs them in a word) and a NUL */
    struct cap *caps; /* KEEL_CAP_SLOTS entries, CAP_TABLE_PAGES pages */
    struct region *regions;
    uint32_t pt_pages; /* page-table pages in use (bounded) */
    uint32_t n_threads;
    struct thread *threads; /* every live thread of the task, via task_next */
    uint32_t n_regions;
    bool tlb_stale;                   /* its PCID may hold stale entries: flush on next load */
    uint8_t *iobitmap;                /* NULL = no ports; else 8 KiB, bit set = denied */
    uint16_t io_lo, io_hi;            /* the range of ports this task may use */
    struct task *all_prev, *all_next; /* every task not yet freed (task.c) */
};

enum thread_state {
    TS_INACTIVE = 0,  /* created, not started */
    TS_RUNNABLE,      /* running or ready */
    TS_BLOCKED_SEND,  /* on ep->senders */
    TS_BLOCKED_RECV,  /* on ep->receivers */
    TS_BLOCKED_REPLY, /* called; waiting for its reply */
    TS_BLOCKED_NTFN,  /* waiting on a notification */
    TS_FAULTED,       /* suspended after a fault, until resumed or killed */
    TS_DEAD,
};

struct ipc_msg {
    uint64_t info; /* label and KEEL_RECV_* flags */
    uint64_t badge;
    uint64_t mr[KEEL_MSG_WORDS];
};

struct thread {
    struct kobj hdr;
    /* Scheduling; owned by sched.c. */
    uint64_t kernel_rsp;      /* saved by switch_context when not running */
    uint64_t kstack_base;     /* lowest byte of the kernel stack (KSTACK_SIZE), in KSTACK_AREA */
    uint64_t kstack_phys;     /* its frames (contiguous) */
    struct thread *rq_next;   /* ready queue link */
    bool queued;              /* on a ready queue */
    uint8_t prio;             /* 0 (lowest) .. SCHED_PRIOS-1: base_prio, or lower while it hogs */
    uint8_t base_prio;        /* as started (SYS_THREAD_START); prio returns to it when it blocks */
    uint8_t state;            /* enum thread_state */
    uint8_t cpu;              /* the core it runs and queues on (fixed at thread_start) */
    uint32_t slice;           /* ticks left in the time slice */
    uint32_t run_ticks;       /* ticks it was running at since it last blocked (sched_tick) */
    uint32_t cpu_limit;       /* run_ticks at which it faults with FAULT_HOG; 0 = no limit */
    struct task *task;        /* NULL for the idle thread; holds a reference */
    struct thread *task_next; /* the task's thread list */
    uint64_t send_since;      /* BLOCKED_SEND: clock_ns when it joined the senders (SYS_TASK_STALL) */
    /* IPC; owned by endpoint.c / notification.c. */
    struct endpoint *blocked_ep; /* queue it is on, in BLOCKED_SEND/RECV */
    struct thread *q_next;       /* endpoint queue link */
    struct ipc_msg msg;          /* outgoing while BLOCKED_SEND; incoming on wake */
    bool msg_is_call;            /* BLOCKED_SEND: wants a reply */
    struct thread *caller;       /* the one reply right: who we owe an answer */
    struct thread *replier;      /* BLOCKED_REPLY: whom we wait for */
    struct notification *waiting_ntfn;
    struct notification *bound_ntfn;
    struct endpoint *fault_ep; /* holds a reference */
    uint64_t fault_badge;
    uint64_t wake_error; /* rax for the woken thread */
    uint64_t ipc_count;
    /* The user context lives at the top of the kernel stack. */
    struct trap_frame *uframe;
    /* FPU; owned by fpu.c, under the kernel lock. */
    uint8_t fpu_credits; /* switches left that preload TS-clear for this thread as its core's owner */
    uint8_t fpu[512] __attribute__((aligned(16))); /* stale while it owns its core's registers */
};

/* Capability lookup: the slot in CURRENT task, checked for type and rights. */
int cap_lookup(struct task *t, uint64_t slot, uint8_t type, uint8_t rights, struct cap **out)
    __attribute__((warn_unused_result));
void kobj_ref(struct kobj *o);
void kobj_unref(struct kobj *o);
/* Installs OBJ (taking a new reference) into an empty slot. */
void cap_install(struct task *t, uint64_t slot, struct kobj *obj, uint8_t rights, uint64_t badge);
void cap_clear(struct task *t, uint64_t slot);
/* True while destruction or budget-release work is queued (never true
 * between system calls). */
bool kobj_work_pending(void);

/* Queues. */
void tq_push(struct thread_queue *q, struct thread *t);
struct thread *tq_pop(struct thread_queue *q);
bool tq_remove(struct thread_queue *q, struct thread *t);

#endif
