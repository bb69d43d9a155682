/*
 * keel/syscall.h - the system call ABI between the Keel kernel and user space.
 *
 * This header (with the others in abi/keel/) is the only code the kernel and
 * user space share.  Everything here is a contract: change it and both sides
 * change together.
 *
 * Calling convention (the `syscall` instruction):
 *   rax      system call number in; error code out (0 or a negative KE_*)
 *   rdi rsi rdx r10 r8 r9   arguments 0-5
 *   rcx r11  clobbered by the instruction itself; everything else preserved
 *            unless the call returns values in it (below).
 *
 * IPC calls carry a message in registers, never through memory:
 *   rdi      in: endpoint capability slot          out: badge of the sender
 *   rsi      in: message info (label | flags)       out: message info (label)
 *   rdx r10 r8 r9   message words MR0-MR3, in and out
 * A message is therefore a 32-bit label plus KEEL_MSG_WORDS words and the
 * badge; bulk data lives in memory shared between the two tasks.
 */
#ifndef KEEL_ABI_SYSCALL_H
#define KEEL_ABI_SYSCALL_H

#include <keel/errors.h>

#include <stdint.h>

#define KEEL_MSG_WORDS 4

/* System call numbers. */
enum keel_syscall {
    SYS_NULL = 0,              /* () -> 0; the cheapest possible round trip */
    SYS_DEBUG_LOG = 1,         /* (const char *buf, size_t len) one kernel log line (<= 256 bytes; newline added) */
    SYS_CALL = 2,              /* IPC: send, then wait for the reply */
    SYS_REPLY_RECV = 3,        /* IPC: reply to the caller (if any), then receive */
    SYS_SEND = 4,              /* IPC: send; blocks unless KEEL_NONBLOCK */
    SYS_RECV = 5,              /* IPC: receive; blocks unless KEEL_NONBLOCK */
    SYS_REPLY = 6,             /* IPC: reply to the caller, never blocks */
    SYS_SIGNAL = 7,            /* (ntfn slot, bits) OR bits in; never blocks.  A badged capability sets
                                  exactly its badge (bits must be 0 or within it, else KE_NO_RIGHTS) */
    SYS_WAIT = 8,              /* (ntfn slot, flags) -> rdi = bits, cleared */
    SYS_NTFN_BIND = 9,         /* (ntfn slot) bind to the calling thread; slot -1 unbinds */
    SYS_YIELD = 10,            /* () give up the rest of the time slice */
    SYS_OBJ_CREATE = 11,       /* (memory slot, type, dest slot, arg) create an object */
    SYS_CAP_COPY = 12,         /* (src slot, task slot, dest slot, rights, badge) */
    SYS_CAP_DELETE = 13,       /* (slot) */
    SYS_MAP = 14,              /* (task slot, frame slot, vaddr, rights) map frame into task */
    SYS_UNMAP = 15,            /* (task slot, vaddr) unmap the frame mapped at vaddr */
    SYS_FRAME_INFO = 16,       /* (frame slot) -> rdi = physical address (DMA frames), rsi = pages */
    SYS_THREAD_START = 17,     /* (thread slot, rip, rsp, arg, priority | KEEL_THREAD_CPU(n), CPU limit:
                                  KEEL_CPU_LIMIT_* below) */
    SYS_THREAD_SET_FAULT = 18, /* (thread slot, endpoint slot) where faults go; badge kept */
    SYS_THREAD_RESUME = 19,    /* (thread slot, rip, rsp) restart a faulted thread */
    SYS_TASK_KILL = 20,        /* (task slot) stop every thread, release its objects */
    SYS_IRQ_ACK = 21,          /* (irq slot) unmask the line after handling */
    SYS_IRQ_BIND = 22,         /* (irq slot, ntfn slot, bit) deliver the IRQ as that bit, to the caller's core;
                                  -> rdi = that core's APIC id (an MSI's destination) */
    SYS_IOPORT_GRANT = 23,     /* (ioport slot, task slot) open the ports in task's TSS bitmap */
    SYS_CLOCK = 24,            /* () -> rdi = monotonic ns, rsi = TSC Hz */
    SYS_THREAD_EXIT = 25,      /* () the calling thread stops; its fault endpoint gets FAULT_EXIT */
    SYS_CAP_INFO = 26,         /* (slot) -> rdi = type, rsi = rights, rdx = badge */
    SYS_DEBUG_HALT = 27,       /* (code) QEMU debug exit; needs the debug capability */
    SYS_IRQ_GET = 28,          /* (irq control slot, line or KEEL_IRQ_MSI, dest slot) -> rdi = vector */
    SYS_IOPORT_GET = 29,       /* (ioport control slot, first, count, dest slot) */
    SYS_MMIO_GET = 30,         /* (mmio control slot, phys, pages, dest slot) device frame */
    SYS_TIMER_ARM = 31,        /* (ntfn slot, deadline ns on the SYS_CLOCK scale, bits); 0 disarms */
    SYS_MEMORY_INFO = 32,      /* (memory slot) -> rdi = bytes left in the budget, rsi = free pages in the
                                  machine, rdx = pages the kernel manages; needs RIGHT_READ on the budget */
    SYS_DEBUG_CTL = 33,        /* (debug slot, op, a, b) test hooks, below; needs the debug capability */
    SYS_CPU_INFO = 34,         /* () -> rdi = KEEL_CPU_* flags, rsi = cores online, rdx = the caller's core */
    SYS_KSTATS = 35,           /* (KEEL_KSTATS_BASE) -> rdi = address-space switches, rsi = IPC messages
                                  delivered, rdx = notification signals (user, IRQ, timer), since boot (what
                                  the microkernel structure costs: make bench prints them per MiB);
                                  (KEEL_KSTATS_FPU) -> rdi = FPU state loads, rsi = FPU state saves,
                                  rdx = 1 when switched lazily (#NM), 0 when eagerly */
    SYS_DMA = 36,              /* (slot, op, ...) a device's DMA space (IOMMU): enum keel_dma_op below */
    SYS_KLOG_READ = 37,        /* (buf, len, ntfn slot, bits) -> rdi = kernel log bytes copied, rsi = bytes
                                  still waiting.  Only for a task that holds COM1's ports (the UART driver):
                                  it becomes the log's drainer, the kernel queues its log lines instead of
                                  writing the port and signals BITS when lines arrive (kernel/klog.c);
                                  KE_BUSY while another task drains */
    SYS_TASK_STALL = 38,       /* (task slot, RIGHT_READ) -> rdi = how long (ns) the oldest work has waited on
                                  an endpoint or notification the task may receive from (a queued sender,
                                  a KEEL_NONBLOCK caller that found nobody receiving and no receive
                                  since, bits nobody took), rsi = that capability's slot; rdi = 0 when nothing
                                  waits, or a thread of the task runs (busy, not stuck: a spin is
                                  cpu-limit's) or sends or awaits a reply (the other server is the one
                                  stuck, if any).  init's stall-limit (init/init_supervise.c) */
    SYS_COUNT
};

/* SYS_KSTATS's argument: which counters. */
enum keel_kstats_set {
    KEEL_KSTATS_BASE = 0,
    KEEL_KSTATS_FPU = 1,
};

/* SYS_DEBUG_CTL operations (the debug capability: test boots only). */
enum keel_debug_ctl {
    DEBUG_CTL_CMDLINE = 1,    /* (a = buffer, b = length) copies the kernel command line, NUL-terminated
                                 and cut to fit -> rdi = its full length; KE_BAD_ADDRESS unless writable */
    DEBUG_CTL_FAIL_ALLOC = 2, /* (a = allocations to let through, b = allocations to fail after them;
                                 b = 0 disarms) every page the kernel takes (objects, tables, stacks,
                                 heap) -> rdi = allocations failed so far by this hook */
    DEBUG_CTL_CHECK = 3,      /* (a = 1: also log every thread's state) runs the kernel's invariant
                                 checks -> rdi = violations (each logged), rsi = live tasks, rdx = threads */
    DEBUG_CTL_KHEAP = 4,      /* () -> rdi = kernel-heap bytes in use, rsi = pages the heap holds,
                                 rdx = free pages in the machine */
    DEBUG_CTL_INJECT = 5,     /* (a = task name as OBJ_TASK packs it, b = random word, c = 0 or the one
                                 FAULTINJ_* kind to try) injects one fault, chosen by b, into that live
                                 task (kernel/faultinj.c) -> rdi = FAULTINJ_* kind, rsi = register index
                                 or user address, rdx = bit, byte or word; KE_RANGE when no live task has
                                 the name, KE_INVALID_ARG for another c, KE_NOT_MAPPED when the kind (or
                                 every kind) finds nothing to act on */
};

/* DEBUG_CTL_INJECT's kinds of fault (MINIX 3's software fault injection, in
 * small): a flipped bit in a saved register of a thread that is not running,
 * a flipped byte at such a thread's next instruction, a wild 8-byte write
 * into a page of the task's own writable memory (never DMA or device memory:
 * without an IOMMU a corrupted descriptor would let the device write
 * anywhere), an endless loop at such a thread's next instruction (the
 * server spins once the thread runs: the CPU limit's case), or such a thread
 * stopped for good (stuck: the stall limit's case). */
enum keel_faultinj_kind {
    FAULTINJ_REG = 1,  /* rsi = FAULTINJ_REG_* index, rdx = the bit flipped */
    FAULTINJ_CODE = 2, /* rsi = the instruction's address, rdx = the byte XORed into it */
    FAULTINJ_WILD = 3, /* rsi = the address written, rdx = the word written */
    FAULTINJ_SPIN = 4, /* rsi = the instruction's address, rdx = the two bytes it held before a
                          `jmp .` (0xeb 0xfe) replaced them: the thread loops there once it runs */
    FAULTINJ_STOP = 5, /* rsi = the thread's rip, rdx = 0: the thread stops for good, out of every
                          queue, with no fault (a server stuck where nothing wakes it: stall-limit's case) */
};
#define FAULTINJ_KINDS 5
/* Register indices of FAULTINJ_REG: rax rbx rcx rdx rsi rdi rbp rsp r8-r15 rip. */
#define FAULTINJ_REG_RSP   7
#define FAULTINJ_REG_RIP   16
#define FAULTINJ_REG_COUNT 17

/* SYS_DMA operations.  A DMA space confines one PCI device to the DMA
 * memory of the task it is attached to: exactly the pages of the DMA frames
 * (OBJ_DMA_FRAME) mapped into that task, at their physical addresses (so
 * drivers program devices with the addresses SYS_FRAME_INFO gives), and
 * writable only where the task's mapping is.  Everything else the device
 * reaches is refused and reported: the space counts the fault and signals
 * its bound notification bit.  Without an IOMMU, DMA_CREATE is KE_NO_IOMMU
 * (and devices reach all RAM, as the kernel says at boot). */
enum keel_dma_op {
    DMA_CREATE = 1, /* (mmio control slot, op, bdf = bus << 8 | dev << 3 | fn, dest slot, memory slot):
                       a space for that device, paid from the budget (object + 32 table pages); the
                       device can DMA nowhere until a task is attached.  KE_BUSY: the device has one */
    DMA_ATTACH = 2, /* (dma slot, op, task slot): the task's DMA frames, now and as it maps more,
                       enter the space; its death empties it.  KE_BUSY: attached to a live task */
    DMA_BIND = 3,   /* (dma slot, op, ntfn slot, bits): each fault signals BITS there */
    DMA_INFO = 4,   /* (dma slot, op) -> rdi = faults so far, rsi = page of the last, rdx = its VT-d
                       reason | 1 << 8 if a read */
};

/* SYS_THREAD_START's fifth argument: the priority in bits 0-7 and the core
 * in bits 8-15, as core + 1 (0: the caller's own core).  A core that is not
 * online is KE_RANGE. */
#define KEEL_THREAD_PRIO_MASK 0xffull
#define KEEL_THREAD_CPU_SHIFT 8
#define KEEL_THREAD_CPU_MASK  (0xffull << KEEL_THREAD_CPU_SHIFT)
#define KEEL_THREAD_CPU(n)    ((((uint64_t)(n) + 1) << KEEL_THREAD_CPU_SHIFT) & KEEL_THREAD_CPU_MASK)

/* SYS_THREAD_START's sixth argument: how long the thread may run without
 * blocking (in ms of CPU time since it last blocked in a receive, a wait or
 * a call's reply-wait) before the kernel suspends it and sends its fault
 * endpoint FAULT_HOG.  KEEL_CPU_LIMIT_INHERIT (0) gives it the starting
 * thread's own limit (so a server's worker threads share the limit init
 * gave the server), KEEL_CPU_LIMIT_NONE none, 1..KEEL_CPU_LIMIT_MAX_MS that
 * many ms; anything else is KE_INVALID_ARG.  Whatever the limit, a thread
 * that runs without blocking loses priority step by step (kernel/sched.c)
 * and gets it back when it blocks. */
#define KEEL_CPU_LIMIT_INHERIT 0ull
#define KEEL_CPU_LIMIT_NONE    (~0ull)
#define KEEL_CPU_LIMIT_MAX_MS  86400000ull /* a day */

/* SYS_CPU_INFO flags. */
/* KEEL_CPU_MELTDOWN: user tasks can read kernel memory (rogue data cache
 * load) and the kernel does not isolate its page tables: hold no secrets. */
#define KEEL_CPU_MELTDOWN (1ull << 0)
#define KEEL_CPU_SMEP     (1ull << 1)
#define KEEL_CPU_SMAP     (1ull << 2)

/* SYS_IRQ_GET lines: 0-15 are ISA IRQs (routed through the ACPI overrides,
 * e.g. the PIT's IRQ 0 is GSI 2), 16-23 PCI GSIs (level, active low);
 * KEEL_IRQ_MSI allocates a vector for a device's MSI/MSI-X, which the
 * driver programs with address 0xfee00000 | (APIC id << 12), the id
 * SYS_IRQ_BIND returned (its own core), and the vector as data. */
#define KEEL_IRQ_MSI 0x10000u
/* Or'ed into a line 0-23: the line is a GSI as it is (no ISA override),
 * level-triggered and active high: PCI INTx on an i440FX/PIIX board, whose
 * PIRQ router drives the ISA interrupt lines that way. */
#define KEEL_IRQ_GSI_LEVEL_HIGH 0x20000u

/* Flags in the message info word (rsi) and in SYS_WAIT's flags. */
#define KEEL_NONBLOCK   (1ull << 32) /* fail with KE_WOULD_BLOCK instead of waiting */
#define KEEL_SLOWPATH   (1ull << 33) /* never take the IPC fastpath (tests, bench) */
#define KEEL_INFO_FLAGS (KEEL_NONBLOCK | KEEL_SLOWPATH)
#define KEEL_LABEL_MASK 0xffffffffull
/* On return from a receive, the kind of event in the info word. */
#define KEEL_RECV_NOTIFY (1ull << 40) /* rdi holds notification bits, not a badge */
#define KEEL_RECV_FAULT  (1ull << 41) /* the message is a fault message (below) */
#define KEEL_RECV_CALL   (1ull << 42) /* the sender waits for a reply */

/* Error codes: every system call returns one of these in rax. */
enum keel_error {
    KE_OK = 0,
    KE_INVALID_SYSCALL = -1, /* unknown system call number */
    KE_INVALID_SLOT = -2,    /* slot number out of range */
    KE_EMPTY_SLOT = -3,      /* nothing in that slot */
    KE_WRONG_TYPE = -4,      /* the capability is not of the type the call needs */
    KE_NO_RIGHTS = -5,       /* the capability lacks a right the call needs */
    KE_INVALID_ARG = -6,     /* a value out of its range, or reserved bits set */
    KE_BAD_ADDRESS = -7,     /* a user pointer or range outside user space */
    KE_WOULD_BLOCK = -8,     /* KEEL_NONBLOCK and the partner is not ready */
    KE_NO_REPLY = -9,        /* reply without a caller waiting (or reply twice) */
    KE_NO_MEMORY = -10,      /* the memory capability's budget is spent */
    KE_SLOT_IN_USE = -11,    /* the destination slot is occupied */
    KE_ALREADY_MAPPED = -12, /* a page is mapped there already */
    KE_NOT_MAPPED = -13,     /* nothing mapped there */
    KE_BUSY = -14,           /* the object is bound or in use elsewhere */
    KE_DEAD = -15,           /* the partner or object was destroyed while waiting */
    KE_ALIGNMENT = -16,      /* an address or length not page-aligned */
    KE_RANGE = -17,          /* beyond what the capability grants */
    KE_NO_IOMMU = -18,       /* no DMA-remapping unit covers the device (SYS_DMA) */
};
_Static_assert(KEEL_ERR_IN(KERNEL, KE_INVALID_SYSCALL) && KEEL_ERR_IN(KERNEL, KE_NO_IOMMU),
               "KE_* in the kernel's range (keel/errors.h)");

#define KEEL_CAP_SLOTS 256 /* capability slots per task */

/* Capability types (SYS_CAP_INFO). */
enum keel_cap_type {
    CAP_NONE = 0,
    CAP_ENDPOINT = 1,
    CAP_NOTIFICATION = 2,
    CAP_TASK = 3,
    CAP_THREAD = 4,
    CAP_FRAME = 5,           /* pages of RAM (or device memory), mappable */
    CAP_MEMORY = 6,          /* a budget of kernel and user memory to create objects from */
    CAP_IRQ = 7,             /* one interrupt line */
    CAP_IOPORT = 8,          /* a range of I/O ports */
    CAP_IRQ_CONTROL = 9,     /* may hand out any IRQ (init only) */
    CAP_IOPORT_CONTROL = 10, /* may hand out any port range (init only) */
    CAP_MMIO_CONTROL = 11,   /* may hand out device memory outside RAM (init only) */
    CAP_DEBUG = 12,          /* may end the VM (tests) */
    CAP_DMA_SPACE = 13,      /* one device's DMA address space (SYS_DMA) */
};

/* Rights, per capability. */
#define RIGHT_READ  (1u << 0) /* frames: map readable; endpoints: receive */
#define RIGHT_WRITE (1u << 1) /* frames: map writable; endpoints: send */
#define RIGHT_EXEC  (1u << 2) /* frames: map executable (never with WRITE in one mapping) */
#define RIGHT_GRANT (1u << 3) /* may be copied to another task */
#define RIGHTS_ALL  (RIGHT_READ | RIGHT_WRITE | RIGHT_EXEC | RIGHT_GRANT)

/* SYS_OBJ_CREATE types; arg is the page count for frames. */
enum keel_obj_type {
    OBJ_ENDPOINT = 1,
    OBJ_NOTIFICATION = 2,
    OBJ_TASK = 3,      /* arg: the task's name for logs, up to 8 bytes packed little-endian */
    OBJ_THREAD = 4,    /* arg: task slot the thread belongs to */
    OBJ_FRAME = 5,     /* arg: pages (1..1024), zeroed */
    OBJ_DMA_FRAME = 6, /* arg: pages, physically contiguous; SYS_FRAME_INFO gives the address */
    OBJ_MEMORY = 7,    /* arg: bytes moved from the parent budget into a new one */
};

/* Fault messages (label FAULT_LABEL, info has KEEL_RECV_FAULT; badge = the
 * badge of the fault endpoint capability the thread was given):
 *   MR0 = kind, MR1 = faulting address (CR2, or 0), MR2 = RIP, MR3 = error code. */
#define FAULT_LABEL 0xfa017u
enum keel_fault_kind {
    FAULT_PAGE = 14,
    FAULT_GP = 13,
    FAULT_UD = 6,
    FAULT_DE = 0,
    FAULT_BR = 5,
    FAULT_OTHER_EXCEPTION = 32, /* MR3 holds the vector */
    FAULT_BAD_SYSCALL = 64,     /* an unknown system call number */
    FAULT_EXIT = 65,            /* the last thread called SYS_THREAD_EXIT */
    FAULT_HOG = 66,             /* ran its CPU limit without blocking (KEEL_CPU_LIMIT_*): MR1 = the ms
                                   it ran, MR2 = where it was (RIP) */
};

/* User address space: [USER_BASE, USER_TOP); everything above is the kernel. */
#define KEEL_USER_BASE 0x0000000000001000ull
#define KEEL_USER_TOP  0x00007ffffffff000ull

#endif
