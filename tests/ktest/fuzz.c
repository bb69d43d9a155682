/*
 * fuzz.c - the system-call fuzzer: hostile tasks that build resources and
 * misuse them, and the checks after each round (see fuzz.h).
 *
 * A round (fuzz_round, run by ktest):
 *   1. gives each of `tasks` hostile tasks its own budget, made from ours,
 *      from which its task, image, stack and everything it makes are
 *      charged; a done notification badged with the task's own bit; a fault
 *      endpoint badged with its number; and an endpoint and a notification
 *      shared by all of them;
 *   2. lets them run, kills one of them (the victim) at a random moment,
 *      whatever its threads are doing, and waits until every other task
 *      reports done or the time runs out;
 *   3. kills them all, drops every capability, and checks: no hostile
 *      thread faulted, every task but the victim finished, the kernel's
 *      invariant checks pass (DEBUG_CTL_CHECK), the live tasks and threads
 *      are those of before, and our budget has every byte back.
 *
 * A hostile task (fuzz_task_main, its first thread):
 *   - builds a pool of objects in slots 0..31 from its budget: endpoints,
 *     notifications, frames, a child task with a thread, a sub-budget, an
 *     unstarted thread of its own, copies of its budget and of E0;
 *   - keeps private slots 32..127 (its task capability without GRANT, so it
 *     can never be copied, hence never killed by its own threads; its
 *     budget; the done and fault capabilities; E0; each thread's timer
 *     notification, also without GRANT, and thread capability), which the
 *     workers' random slots never name;
 *   - starts a server thread on E0 (answers every call) and `workers`
 *     worker threads, then waits for the workers and signals done.
 * A worker makes `calls` system calls, each number drawn from all of them,
 * its arguments from generators that mix plausible and hostile values:
 * slots in the pool, private slots of other threads never (those would let
 * the test kill itself), slots out of range; rights and badges; user
 * pointers into its own memory, across the end of its stack into unmapped
 * memory, into the kernel half, non-canonical; lengths that cross pages;
 * page counts and budgets too large; deadlines past and far.  IPC is
 * non-blocking, except bounded blocking calls: a call to E0 (always
 * answered), and receives and waits bounded by a timer armed on the
 * thread's own bound notification.  So a worker always finishes unless the
 * kernel loses a wake-up, which the round then reports.  Threads the
 * workers start begin at addresses never mapped, so they fault at once and
 * cannot scribble on the task's memory.  At the end a worker answers any
 * call it still owes, reports, and waits to be killed.
 * Deletes while others block on the object happen on their own: workers
 * block on pool endpoints while others delete pool slots.
 */
#include "fuzz.h"

#include <stdbool.h>

#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "spawn.h"

#define PARENT_PRIO  10
#define HOSTILE_PRIO 9 /* below the round, so its timer always gets the CPU */
#define PAGE         4096ull

/* Slots in a hostile task. */
#define POOL_SLOTS     32
#define P_ENDPOINT0    0 /* 0..3 */
#define P_NTFN0        4 /* 4..7 */
#define P_FRAME0       8 /* 8..10 */
#define P_CHILD_TASK   11
#define P_CHILD_THREAD 12
#define P_SUB_BUDGET   13
#define P_OWN_THREAD   14
#define P_E0_COPY      15
#define P_BUDGET_COPY  16
#define P_SHARED_EP    30
#define P_SHARED_NTFN  31
#define PRIVATE_END    128
#define H_TASK         40 /* its own task, READ|WRITE: never copied */
#define H_MEM          41
#define H_DONE         42 /* the round's done notification, badged with the task's bit */
#define H_LOCAL        44 /* workers report to the task's first thread here */
#define H_E0           45
#define H_FAULT        46 /* the round's fault endpoint, badged with the task number + 1 */
#define H_TIMER0       48 /* + thread index: each thread's own timer notification */
#define H_THREAD0      64 /* + thread index */
#define H_TMP          80

/* Addresses in a hostile task. */
#define STACKS_VA     0x0000005000000000ull /* thread i: 4 pages at STACKS_VA + i * 1 MiB */
#define STACK_PAGES   4
#define SCRATCH_VA    0x0000006000000000ull /* random maps and unmaps of its own task go here */
#define SCRATCH_PAGES 128
#define WILD_RIP      0x0000007000000000ull /* never mapped */
#define STATS_VA      0x0000004800000000ull /* the task's counters, shared with the round */
#define ROUND_STATS   0x0000004900000000ull /* the round's view: task k's page at + k * PAGE */

/* What a task's workers saw, per system call; the round reads it to prove
 * the calls got past the first check (a fuzzer refused at every lookup
 * tests nothing). */
struct fuzz_stats {
    uint64_t ok[SYS_COUNT];
    uint64_t failed[SYS_COUNT];
    uint64_t blocked; /* bounded blocking calls made */
    uint64_t dead;    /* calls that ended KE_DEAD: the object or partner died under them */
};
_Static_assert(sizeof(struct fuzz_stats) <= PAGE, "counters fit one page");
#define SERVER_THREAD FUZZ_MAX_WORKERS /* thread index of the E0 server */

#define DONE_TIMER_BIT (1ull << 63)

/* Copied into each hostile task with the data segment at spawn time. */
static struct fuzz_params cfg;
/* Set by each hostile task's first thread in its own copy of the data. */
static uint64_t my_task;

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545f4914f6cdd1dull;
}

static uint64_t rng_below(uint64_t *x, uint64_t n) { return n ? rng_next(x) % n : 0; }

static uint64_t stack_top(unsigned thread) { return STACKS_VA + (uint64_t)thread * (1ull << 20) + STACK_PAGES * PAGE; }

/* ------------------------------------------------------ argument makers */

static bool is_private(uint64_t s) { return s >= POOL_SLOTS && s < PRIVATE_END; }

static uint64_t pick_slot(uint64_t *x, unsigned self)
{
    uint64_t r = rng_below(x, 100);
    if (r < 85)
        return rng_below(x, POOL_SLOTS);
    if (r < 90) {
        uint64_t s = rng_below(x, KEEL_CAP_SLOTS);
        return is_private(s) ? s % POOL_SLOTS : s;
    }
    /* Never its own timer notification: a copy of a pool notification in
     * that slot (after a delete) would let other threads disarm the timer
     * that bounds this thread's blocking calls (seed 1027 found it). */
    (void)self;
    if (r < 94)
        return rng_below(x, POOL_SLOTS);
    return (r & 1) ? KEEL_CAP_SLOTS + rng_below(x, 4096) : ~0ull >> rng_below(x, 64);
}

/* Most of the time a slot the pool filled with the right kind of object
 * (so calls get past the lookup and reach the object's own checks), else
 * any slot (created objects land anywhere in the pool). */
enum kind { K_ENDPOINT, K_NTFN, K_FRAME, K_THREAD, K_BUDGET };
static const uint8_t kind_slots[][6] = {
    [K_ENDPOINT] = { P_ENDPOINT0, P_ENDPOINT0 + 1, P_ENDPOINT0 + 2, P_ENDPOINT0 + 3, P_E0_COPY, P_SHARED_EP },
    [K_NTFN] = { P_NTFN0, P_NTFN0 + 1, P_NTFN0 + 2, P_NTFN0 + 3, P_SHARED_NTFN, P_SHARED_NTFN },
    [K_FRAME] = { P_FRAME0, P_FRAME0 + 1, P_FRAME0 + 2, P_FRAME0, P_FRAME0 + 1, P_FRAME0 + 2 },
    [K_THREAD] = { P_CHILD_THREAD, P_OWN_THREAD, P_CHILD_THREAD, P_OWN_THREAD, 17, 18 },
    [K_BUDGET] = { P_SUB_BUDGET, P_BUDGET_COPY, P_SUB_BUDGET, P_BUDGET_COPY, P_BUDGET_COPY, 19 },
};

/* Slots 20..29 start empty: new objects mostly go there. */
#define SPARE_FIRST 20
#define SPARE_SLOTS 10

static uint64_t pick(uint64_t *x, unsigned self, enum kind k)
{
    uint64_t r = rng_below(x, 10);
    if (k == K_THREAD && r < 3)
        return SPARE_FIRST + rng_below(x, SPARE_SLOTS); /* threads the workers made */
    return r < 6 ? kind_slots[k][rng_below(x, 6)] : pick_slot(x, self);
}

static uint64_t pick_task(uint64_t *x, unsigned self)
{
    uint64_t r = rng_below(x, 10);
    return r < 3 ? H_TASK : r < 6 ? P_CHILD_TASK : pick_slot(x, self);
}

static uint64_t hostile_address(uint64_t *x)
{
    switch (rng_below(x, 6)) {
    case 0: return 0xffff800000000000ull + (rng_next(x) & 0xfffffffull); /* the direct map */
    case 1: return 0xffffffff80000000ull + rng_below(x, 0x200000);       /* the kernel image */
    case 2: return 0x0000800000000000ull + rng_below(x, 1ull << 40);     /* non-canonical */
    case 3: return 0x8000000000000000ull | rng_next(x);
    case 4: return rng_below(x, 0x1000); /* page 0 */
    default: return KEEL_USER_TOP - rng_below(x, 0x2000);
    }
}

/* A user pointer and a length for a read by the kernel. */
static uint64_t pick_buffer(uint64_t *x, unsigned self, uint64_t *len)
{
    uint64_t r = rng_below(x, 32);
    *len = rng_below(x, 320);
    if (r < 12)
        return hostile_address(x);
    if (r < 24) { /* starts in its stack, ends in the unmapped page above */
        uint64_t into = 1 + rng_below(x, 64);
        *len = into + 1 + rng_below(x, 200);
        return stack_top(self) - into;
    }
    if (r < 31)
        return SCRATCH_VA + rng_below(x, SCRATCH_PAGES * PAGE); /* mapped or not, by chance */
    *len = rng_below(x, 12);                                    /* rarely: a short valid read (a garbled log line) */
    return 0x400000 + rng_below(x, 0x4000);
}

static uint64_t pick_rights(uint64_t *x)
{
    uint64_t r = rng_below(x, 16);
    return rng_below(x, 16) ? r : r | (1ull << (4 + rng_below(x, 60)));
}

/* Where maps and unmaps go: mostly its own task or its child. */
static uint64_t pick_map_task(uint64_t *x, unsigned self)
{
    uint64_t r = rng_below(x, 20);
    return r < 10 ? H_TASK : r < 17 ? P_CHILD_TASK : pick_task(x, self);
}

static uint64_t pick_map_rights(uint64_t *x)
{
    static const uint8_t usual[] = { RIGHT_READ, RIGHT_READ | RIGHT_WRITE, RIGHT_READ | RIGHT_EXEC };
    return rng_below(x, 4) ? usual[rng_below(x, 3)] : pick_rights(x);
}

static uint64_t pick_vaddr(uint64_t *x)
{
    uint64_t r = rng_below(x, 16);
    /* Mostly on a grid of 4-page cells, so unmaps find the regions maps made. */
    uint64_t va = SCRATCH_VA + (r < 14 ? rng_below(x, SCRATCH_PAGES / 4) * 4 : rng_below(x, SCRATCH_PAGES)) * PAGE;
    if (r < 1)
        return va + 1 + rng_below(x, PAGE - 1); /* unaligned */
    if (r < 2)
        return hostile_address(x) & ~(PAGE - 1);
    return va;
}

static uint64_t pick_rip(uint64_t *x)
{
    return rng_below(x, 4) ? WILD_RIP + rng_below(x, 0x10000) : hostile_address(x);
}

static uint64_t pick_deadline(uint64_t *x)
{
    switch (rng_below(x, 5)) {
    case 0: return 0;
    case 1: return 1 + rng_below(x, 1000000); /* long past */
    case 2: return ~0ull - rng_below(x, 1000);
    default: return keel_now_ns() + rng_below(x, 5000000);
    }
}

static uint64_t pick_create_arg(uint64_t *x, uint64_t type, unsigned self)
{
    bool wild = rng_below(x, 16) == 0;
    switch (type) {
    case OBJ_FRAME:
    case OBJ_DMA_FRAME: return wild ? rng_next(x) : 1 + rng_below(x, 8);
    case OBJ_MEMORY: return wild ? rng_next(x) >> rng_below(x, 64) : rng_below(x, 65536);
    case OBJ_THREAD: return pick_task(x, self);
    case OBJ_TASK: return wild ? rng_next(x) : keel_task_name("fz-kid");
    default: return wild ? rng_next(x) : 0;
    }
}

/* ----------------------------------------------------------- the worker */

/* Binds the thread's own timer notification and arms it a few ms ahead;
 * false when it cannot (its own random calls deleted or rebound it). */
static bool arm_own_timer(uint64_t *x, unsigned self)
{
    uint64_t n = H_TIMER0 + self;
    (void)keel_ntfn_bind(~0ull);
    if (keel_ntfn_bind(n) != KE_OK)
        return false;
    return sys6(SYS_TIMER_ARM, n, keel_now_ns() + 1000000ull + rng_below(x, 2000000), 1, 0, 0, 0) == KE_OK;
}

static void count(uint64_t nr, int64_t result)
{
    struct fuzz_stats *st = (struct fuzz_stats *)STATS_VA;
    if (result == KE_OK)
        __atomic_fetch_add(&st->ok[nr], 1, __ATOMIC_RELAXED);
    else
        __atomic_fetch_add(&st->failed[nr], 1, __ATOMIC_RELAXED);
    if (result == KE_DEAD)
        __atomic_fetch_add(&st->dead, 1, __ATOMIC_RELAXED);
}

static void bounded_block(uint64_t *x, unsigned self)
{
    struct keel_msg m = { .info = rng_below(x, 100), .mr = { rng_next(x), rng_next(x) } };
    switch (rng_below(x, 4)) {
    case 0: count(SYS_CALL, keel_call(H_E0, &m)); break; /* E0's server answers every call */
    case 1:
        if (arm_own_timer(x, self))
            count(SYS_RECV, sys6(SYS_RECV, pick(x, self, K_ENDPOINT), 0, 0, 0, 0, 0));
        break;
    case 2:
        if (arm_own_timer(x, self))
            count(SYS_REPLY_RECV,
                  sys6(SYS_REPLY_RECV, pick(x, self, K_ENDPOINT), rng_below(x, 7), rng_next(x), 0, 0, 0));
        break;
    default:
        if (arm_own_timer(x, self)) {
            uint64_t bits;
            count(SYS_WAIT, keel_wait(H_TIMER0 + self, 0, &bits));
        }
        break;
    }
}

/* One random system call with made-up arguments. */
/* Each worker's last mapping that succeeded (task handle, address; 0: none):
 * half its unmaps aim there, so SYS_UNMAP succeeds in every round however
 * few of the random maps did (a round asks each call to succeed once). */
static uint64_t last_map_task[FUZZ_MAX_WORKERS], last_map_va[FUZZ_MAX_WORKERS];

static void random_call(uint64_t *x, unsigned self)
{
    uint64_t nr = rng_below(x, SYS_COUNT);
    uint64_t a[6];
    for (int i = 0; i < 6; i++)
        a[i] = rng_below(x, 4) ? rng_below(x, 64) : rng_next(x);
    uint64_t label = rng_below(x, 8) ? rng_below(x, 1000) : rng_next(x) & KEEL_LABEL_MASK;
    uint64_t reserved = rng_below(x, 16) ? 0 : 1ull << (34 + rng_below(x, 30));
    switch (nr) {
    case SYS_THREAD_EXIT: return; /* ending itself only ends the experiment early */
    case SYS_DEBUG_LOG: a[0] = pick_buffer(x, self, &a[1]); break;
    case SYS_CALL:
    case SYS_SEND:
        a[0] = pick(x, self, K_ENDPOINT);
        a[1] = label | KEEL_NONBLOCK | reserved;
        break;
    case SYS_RECV:
    case SYS_REPLY_RECV:
    case SYS_WAIT:
        a[0] = pick(x, self, nr == SYS_WAIT ? K_NTFN : K_ENDPOINT);
        a[1] = KEEL_NONBLOCK | reserved | (rng_below(x, 16) ? 0 : label);
        break;
    case SYS_REPLY: a[1] = label | (reserved & ~KEEL_NONBLOCK); break;
    case SYS_SIGNAL:
    case SYS_NTFN_BIND:
    case SYS_CAP_DELETE:
    case SYS_CAP_INFO:
    case SYS_FRAME_INFO:
    case SYS_MEMORY_INFO:
    case SYS_IRQ_ACK:
        a[0] = rng_below(x, 32) ? pick(x, self,
                                       nr == SYS_FRAME_INFO    ? K_FRAME
                                       : nr == SYS_MEMORY_INFO ? K_BUDGET
                                                               : K_NTFN)
                                : ~0ull;
        if (nr == SYS_SIGNAL && rng_below(x, 8) == 0)
            a[0] = H_TIMER0 + self; /* its own notification, as SYS_TIMER_ARM below says */
        a[1] = rng_below(x, 4) ? 1ull << rng_below(x, 64) : rng_next(x);
        break;
    case SYS_OBJ_CREATE: {
        uint64_t r = rng_below(x, 4);
        a[0] = r < 3 ? pick(x, self, K_BUDGET) : pick_slot(x, self);
        a[1] = rng_below(x, 4) == 0 ? OBJ_THREAD : rng_below(x, 8) ? 1 + rng_below(x, 7) : rng_next(x);
        a[2] = rng_below(x, 2) ? SPARE_FIRST + rng_below(x, SPARE_SLOTS) : pick_slot(x, self);
        a[3] = pick_create_arg(x, a[1], self);
        break;
    }
    case SYS_CAP_COPY:
        a[0] = pick_slot(x, self);
        a[1] = pick_task(x, self);
        a[2] = pick_slot(x, self);
        a[3] = pick_rights(x);
        a[4] = rng_below(x, 2) ? 0 : rng_next(x) >> rng_below(x, 64);
        break;
    case SYS_MAP:
        a[0] = pick_map_task(x, self);
        a[1] = pick(x, self, K_FRAME);
        a[2] = pick_vaddr(x);
        a[3] = pick_map_rights(x);
        break;
    case SYS_UNMAP:
        a[0] = pick_map_task(x, self);
        a[1] = pick_vaddr(x);
        if (a[0] == H_TASK && (a[1] < SCRATCH_VA || a[1] >= SCRATCH_VA + SCRATCH_PAGES * PAGE))
            a[1] = SCRATCH_VA; /* never its own code, data or stacks */
        if (last_map_va[self] && rng_below(x, 2)) {
            a[0] = last_map_task[self];
            a[1] = last_map_va[self];
            last_map_va[self] = 0;
        }
        break;
    case SYS_THREAD_START:
        a[0] = pick(x, self, K_THREAD);
        a[1] = pick_rip(x);
        a[2] = rng_below(x, 4) ? SCRATCH_VA + PAGE * 8 : hostile_address(x);
        a[3] = rng_next(x);
        a[4] = rng_below(x, 4) ? rng_below(x, HOSTILE_PRIO + 1) : rng_below(x, 40);
        /* The CPU limit: mostly inherited (none), else a few ms (the
         * thread may spin into FAULT_HOG), none, or anything. */
        a[5] = rng_below(x, 2)   ? KEEL_CPU_LIMIT_INHERIT
               : rng_below(x, 2) ? 1 + rng_below(x, 30)
               : rng_below(x, 2) ? KEEL_CPU_LIMIT_NONE
                                 : rng_next(x);
        break;
    case SYS_THREAD_RESUME:
        a[0] = pick(x, self, K_THREAD);
        a[1] = pick_rip(x);
        a[2] = rng_below(x, 2) ? SCRATCH_VA + PAGE * 8 : hostile_address(x);
        break;
    case SYS_THREAD_SET_FAULT:
        a[0] = pick(x, self, K_THREAD);
        a[1] = pick(x, self, K_ENDPOINT);
        break;
    case SYS_TASK_KILL:
        a[0] = pick_task(x, self);
        if (a[0] == H_TASK)
            a[0] = P_CHILD_TASK;
        break;
    case SYS_IOPORT_GRANT: a[1] = pick_task(x, self); /* fall through */
    case SYS_IRQ_BIND:
    case SYS_IRQ_GET:
    case SYS_IOPORT_GET:
    case SYS_MMIO_GET:
    case SYS_DEBUG_HALT:
    case SYS_DEBUG_CTL: a[0] = pick_slot(x, self); break;
    case SYS_TIMER_ARM:
        /* A quarter on its own timer notification, which no other thread
         * can delete: the pool's notifications are often all deleted early
         * in a round of many workers, and then no arm got past the lookup
         * (seed 685476696: 0 of 36,000 calls).  Safe: bounded_block arms
         * it afresh before every wait it bounds. */
        a[0] = rng_below(x, 4) ? pick(x, self, K_NTFN) : H_TIMER0 + self;
        a[1] = pick_deadline(x);
        a[2] = rng_below(x, 8) ? 1ull << rng_below(x, 64) : 0;
        break;
    default: break; /* NULL, YIELD, CLOCK, CPU_INFO: nothing to choose */
    }
    int64_t result = sys6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (nr == SYS_MAP && result == KE_OK && (a[0] == H_TASK || a[0] == P_CHILD_TASK)) {
        last_map_task[self] = a[0];
        last_map_va[self] = a[2];
    }
    count(nr, result);
}

static void worker(unsigned self)
{
    uint64_t x = cfg.seed ^ (0x9e3779b97f4a7c15ull * (self + 1)) ^ (0xd1b54a32d192ed03ull * (my_task + 1));
    x = x ? x : 1;
    for (unsigned i = 0; i < cfg.calls; i++) {
        if (rng_below(&x, 10) == 0) {
            __atomic_fetch_add(&((struct fuzz_stats *)STATS_VA)->blocked, 1, __ATOMIC_RELAXED);
            bounded_block(&x, self);
        } else
            random_call(&x, self);
    }
    struct keel_msg m = { 0 };
    (void)keel_reply(&m); /* a call it took and still owes an answer must not wait for ever */
    (void)keel_ntfn_bind(~0ull);
    (void)keel_signal(H_LOCAL, 1ull << self);
    for (;;) {
        uint64_t bits;
        if (keel_wait(H_TIMER0 + self, 0, &bits) != KE_OK) /* until the round kills the task */
            (void)keel_yield();
        (void)sys6(SYS_TIMER_ARM, H_TIMER0 + self, 0, 0, 0, 0, 0);
    }
}

/* E0's server: answers every call, for ever. */
static void e0_server(void)
{
    struct keel_msg m = { 0 };
    int64_t e = keel_recv(H_E0, &m);
    for (;;) {
        m.info = e ? 1 : (keel_label(&m) + 1) & KEEL_LABEL_MASK;
        e = keel_reply_recv(H_E0, &m);
    }
}

/* Threads the first thread starts: arg = thread index. */
static void thread_entry(uint64_t arg)
{
    if (arg == SERVER_THREAD)
        e0_server();
    worker((unsigned)arg);
    keel_thread_exit();
}

/* ------------------------------------------------- the first thread */

static int64_t make(uint64_t type, uint64_t slot, uint64_t arg) { return keel_obj_create(H_MEM, type, slot, arg); }

static int64_t build_pool(void)
{
    int64_t e = 0;
    for (unsigned i = 0; i < 4 && !e; i++)
        e = make(OBJ_ENDPOINT, P_ENDPOINT0 + i, 0);
    for (unsigned i = 0; i < 4 && !e; i++)
        e = make(OBJ_NOTIFICATION, P_NTFN0 + i, 0);
    for (unsigned i = 0; i < 3 && !e; i++)
        e = make(i == 2 ? OBJ_DMA_FRAME : OBJ_FRAME, P_FRAME0 + i, 1ull << i);
    if (!e)
        e = make(OBJ_TASK, P_CHILD_TASK, keel_task_name("fz-kid"));
    if (!e)
        e = make(OBJ_THREAD, P_CHILD_THREAD, P_CHILD_TASK);
    if (!e)
        e = make(OBJ_MEMORY, P_SUB_BUDGET, 256 * 1024);
    if (!e)
        e = make(OBJ_THREAD, P_OWN_THREAD, H_TASK);
    if (!e)
        e = keel_cap_copy(H_E0, H_TASK, P_E0_COPY, RIGHTS_ALL, 0);
    if (!e)
        e = keel_cap_copy(H_MEM, H_TASK, P_BUDGET_COPY, RIGHTS_ALL, 0);
    if (!e)
        e = make(OBJ_THREAD, 17, H_TASK);
    if (!e)
        e = make(OBJ_THREAD, 18, P_CHILD_TASK);
    if (!e)
        e = keel_cap_copy(P_SUB_BUDGET, H_TASK, 19, RIGHT_READ | RIGHT_WRITE, 0);
    return e;
}

/* Spreads the hostile threads over every core (I % the cores online), so
 * the random calls of several cores meet in the kernel at once. */
static uint64_t fuzz_core(uint64_t i)
{
    uint64_t n = 1;
    if (keel_cpu_count(&n, NULL) || n == 0)
        n = 1;
    return KEEL_THREAD_CPU(i % n);
}

/* Thread INDEX of this task: its timer notification, stack and thread. */
static int64_t start_thread(unsigned index)
{
    /* The timer notification without GRANT: no copy of it can reach the
     * pool, so no other thread can disarm the timer that bounds this
     * thread's blocking calls. */
    int64_t e = make(OBJ_NOTIFICATION, H_TMP, 0);
    if (!e)
        e = keel_cap_copy(H_TMP, H_TASK, H_TIMER0 + index, RIGHT_READ | RIGHT_WRITE, 0);
    (void)keel_cap_delete(H_TMP);
    if (!e)
        e = make(OBJ_FRAME, H_TMP, STACK_PAGES);
    if (!e)
        e = keel_map(H_TASK, H_TMP, stack_top(index) - STACK_PAGES * PAGE, RIGHT_READ | RIGHT_WRITE);
    (void)keel_cap_delete(H_TMP); /* the mapping keeps the frame */
    if (!e)
        e = make(OBJ_THREAD, H_THREAD0 + index, H_TASK);
    if (!e)
        e = keel_thread_set_fault(H_THREAD0 + index, H_FAULT);
    if (!e)
        e = keel_thread_start(H_THREAD0 + index, (uint64_t)thread_entry, stack_top(index) - 8, index,
                              HOSTILE_PRIO | fuzz_core(index + 1));
    return e;
}

static void fuzz_task_main(uint64_t task_index)
{
    my_task = task_index;
    int64_t e = make(OBJ_ENDPOINT, H_E0, 0);
    if (!e)
        e = make(OBJ_NOTIFICATION, H_LOCAL, 0);
    if (!e)
        e = build_pool();
    if (!e)
        e = start_thread(SERVER_THREAD);
    for (unsigned i = 0; i < cfg.workers && !e; i++)
        e = start_thread(i);
    if (e) {
        ulog("ktest: fuzz: task %llu could not build its resources: error %lld\n", (unsigned long long)task_index,
             (long long)e);
        return; /* no done signal: the round reports it */
    }
    uint64_t want = (1ull << cfg.workers) - 1, got = 0;
    while ((got & want) != want) {
        uint64_t bits = 0;
        if (keel_wait(H_LOCAL, 0, &bits) != KE_OK)
            return;
        got |= bits;
    }
    (void)keel_signal(H_DONE, 0); /* the badge says which task */
    for (;;) {
        uint64_t bits;
        (void)keel_wait(H_LOCAL, 0, &bits);
    }
}

/* -------------------------------------------------------------- the round */

struct round {
    const struct fuzz_params *p;
    struct child child[FUZZ_MAX_TASKS];
    uint64_t budget[FUZZ_MAX_TASKS];
    uint64_t stats[FUZZ_MAX_TASKS]; /* frames of struct fuzz_stats, mapped at ROUND_STATS */
    uint64_t done, fault_ep, shared_ep, shared_ntfn;
    uint64_t finished_mask;
    unsigned victim; /* FUZZ_MAX_TASKS: none */
    uint64_t kill_at_ns;
    struct fuzz_outcome *out;
};

static int fail(char *why, size_t cap, const char *msg, uint64_t v)
{
    snprintf(why, cap, "seed %llu: %s (%llu)", (unsigned long long)cfg.seed, msg, (unsigned long long)v);
    return -1;
}

static uint64_t check_kernel(uint64_t debug, uint64_t *tasks, uint64_t *threads)
{
    uint64_t bad = ~0ull;
    if (keel_debug_ctl(debug, DEBUG_CTL_CHECK, 0, 0, &bad, tasks, threads) != KE_OK)
        return ~0ull;
    return bad;
}

static uint64_t left_in(uint64_t mem)
{
    uint64_t left = 0;
    (void)keel_memory_info(mem, &left, NULL, NULL);
    return left;
}

static int64_t spawn_hostile(struct round *r, unsigned k)
{
    const struct fuzz_params *p = r->p;
    r->budget[k] = slot_get();
    int64_t e = keel_obj_create(spawn_memory(), OBJ_MEMORY, r->budget[k], p->budget);
    if (e)
        return e;
    struct child_cap caps[] = {
        { r->budget[k], H_MEM, RIGHTS_ALL, 0 },           { r->done, H_DONE, RIGHT_WRITE, 1ull << k },
        { r->fault_ep, H_FAULT, RIGHT_WRITE, k + 1 },     { r->shared_ep, P_SHARED_EP, RIGHTS_ALL, 0 },
        { r->shared_ntfn, P_SHARED_NTFN, RIGHTS_ALL, 0 },
    };
    uint64_t old = spawn_use_memory(r->budget[k]); /* the task and its image come out of its own budget */
    e = spawn_unstarted(&r->child[k], fuzz_task_main, caps, 5, r->fault_ep, k + 1);
    spawn_use_memory(old);
    if (!e) /* before it runs: its own task, without GRANT */
        e = keel_cap_copy(r->child[k].task, r->child[k].task, H_TASK, RIGHT_READ | RIGHT_WRITE, 0);
    r->stats[k] = slot_get();
    if (!e)
        e = keel_obj_create(spawn_memory(), OBJ_FRAME, r->stats[k], 1);
    if (!e)
        e = keel_map(r->child[k].task, r->stats[k], STATS_VA, RIGHT_READ | RIGHT_WRITE);
    if (!e)
        e = keel_map(SRV_SLOT_TASK, r->stats[k], ROUND_STATS + k * PAGE, RIGHT_READ);
    if (!e)
        e = spawn_start(&r->child[k], k, HOSTILE_PRIO | fuzz_core(k), KEEL_CPU_LIMIT_INHERIT);
    return e;
}

/* Receives every queued fault message; logs and counts them. */
static void drain_faults(struct round *r)
{
    for (;;) {
        struct keel_msg m = { .info = KEEL_NONBLOCK };
        if (keel_recv(r->fault_ep, &m) != KE_OK)
            return;
        r->out->faults++;
        ulog("ktest: fuzz: task %llu faulted: kind %llu addr 0x%llx rip 0x%llx\n", (unsigned long long)(m.badge - 1),
             (unsigned long long)m.mr[0], (unsigned long long)m.mr[1], (unsigned long long)m.mr[2]);
    }
}

/* Waits for the done bits of every task but the victim, killing the victim
 * on the way; false when the time ran out. */
static bool wait_for_tasks(struct round *r, uint64_t deadline_ns)
{
    const struct fuzz_params *p = r->p;
    uint64_t all = (1ull << p->tasks) - 1;
    if (r->victim < FUZZ_MAX_TASKS)
        all &= ~(1ull << r->victim);
    while ((r->finished_mask & all) != all) {
        uint64_t now = keel_now_ns();
        if (r->victim < FUZZ_MAX_TASKS && r->kill_at_ns && now >= r->kill_at_ns) {
            (void)keel_task_kill(r->child[r->victim].task); /* mid-call, whatever it is doing */
            r->out->killed++;
            r->kill_at_ns = 0;
        }
        if (now >= deadline_ns)
            return false;
        uint64_t next = deadline_ns;
        if (r->kill_at_ns && r->kill_at_ns < next)
            next = r->kill_at_ns;
        if (next > now + 50000000ull)
            next = now + 50000000ull; /* look at the fault endpoint now and then */
        uint64_t bits = 0;
        (void)sys6(SYS_TIMER_ARM, r->done, next, DONE_TIMER_BIT, 0, 0, 0);
        (void)keel_wait(r->done, 0, &bits);
        r->finished_mask |= bits & ~DONE_TIMER_BIT;
        drain_faults(r);
    }
    (void)sys6(SYS_TIMER_ARM, r->done, 0, 0, 0, 0, 0);
    return true;
}

static void release(struct round *r)
{
    for (unsigned k = 0; k < r->p->tasks; k++) {
        if (r->child[k].task)
            child_kill(&r->child[k]);
        if (r->stats[k]) {
            (void)keel_unmap(SRV_SLOT_TASK, ROUND_STATS + k * PAGE);
            slot_put(r->stats[k]);
            r->stats[k] = 0;
        }
        slot_put(r->budget[k]); /* its last capability: anything left of the task goes */
        r->budget[k] = 0;
    }
    slot_put(r->done);
    slot_put(r->fault_ep);
    slot_put(r->shared_ep);
    slot_put(r->shared_ntfn);
}

/* Adds up every task's counters into the outcome. */
static void sum_stats(struct round *r)
{
    for (unsigned k = 0; k < r->p->tasks; k++) {
        if (!r->stats[k])
            continue;
        const struct fuzz_stats *st = (const struct fuzz_stats *)(ROUND_STATS + k * PAGE);
        for (unsigned nr = 0; nr < SYS_COUNT; nr++) {
            r->out->ok[nr] += st->ok[nr];
            r->out->calls += st->ok[nr] + st->failed[nr];
        }
        r->out->blocked += st->blocked;
        r->out->dead += st->dead;
    }
}

/* Calls that must have succeeded at least once in a round: creating,
 * copying, deleting, mapping, signalling, IPC, starting threads, killing. */
static const unsigned must_succeed[] = { SYS_OBJ_CREATE, SYS_CAP_COPY, SYS_CAP_DELETE,   SYS_MAP,      SYS_UNMAP,
                                         SYS_SIGNAL,     SYS_WAIT,     SYS_SEND,         SYS_RECV,     SYS_TIMER_ARM,
                                         SYS_NTFN_BIND,  SYS_CAP_INFO, SYS_THREAD_START, SYS_TASK_KILL };

int fuzz_round(const struct fuzz_params *p, struct fuzz_outcome *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (p->tasks < 1 || p->tasks > FUZZ_MAX_TASKS || p->workers < 1 || p->workers > FUZZ_MAX_WORKERS)
        return fail(why, cap, "bad round parameters", p->tasks);
    cfg = *p; /* each task gets its copy at spawn */
    uint64_t tasks0, threads0, tasks1, threads1;
    uint64_t bad = check_kernel(p->debug_slot, &tasks0, &threads0);
    if (bad)
        return fail(why, cap, "kernel invariant checks failed before the round", bad);
    uint64_t before = left_in(spawn_memory()), t0 = keel_now_ns();

    static struct round r;
    memset(&r, 0, sizeof r);
    r.p = p;
    r.out = out;
    uint64_t x = p->seed ? p->seed : 1;
    r.victim = p->tasks > 1 ? (unsigned)rng_below(&x, p->tasks) : FUZZ_MAX_TASKS;
    r.done = slot_get();
    r.fault_ep = slot_get();
    r.shared_ep = slot_get();
    r.shared_ntfn = slot_get();
    int64_t e = keel_obj_create(spawn_memory(), OBJ_NOTIFICATION, r.done, 0);
    if (!e)
        e = keel_obj_create(spawn_memory(), OBJ_ENDPOINT, r.fault_ep, 0);
    if (!e)
        e = keel_obj_create(spawn_memory(), OBJ_ENDPOINT, r.shared_ep, 0);
    if (!e)
        e = keel_obj_create(spawn_memory(), OBJ_NOTIFICATION, r.shared_ntfn, 0);
    for (unsigned k = 0; k < p->tasks && !e; k++)
        e = spawn_hostile(&r, k);
    if (e) {
        release(&r);
        return fail(why, cap, "could not start the hostile tasks: error", (uint64_t)-e);
    }
    if (r.victim < FUZZ_MAX_TASKS)
        r.kill_at_ns = keel_now_ns() + 1000000ull + rng_below(&x, 40000000ull);
    bool in_time = wait_for_tasks(&r, t0 + p->timeout_ms * 1000000ull);
    if (!in_time) { /* say what every thread waits on, before the kill */
        uint64_t ignored;
        (void)keel_debug_ctl(p->debug_slot, DEBUG_CTL_CHECK, 1, 0, &ignored, NULL, NULL);
    }
    drain_faults(&r);
    for (unsigned k = 0; k < p->tasks; k++)
        if (r.finished_mask & (1ull << k))
            out->finished++;
    sum_stats(&r);
    uint64_t late = ((1ull << p->tasks) - 1) & ~r.finished_mask;
    if (r.victim < FUZZ_MAX_TASKS && !r.kill_at_ns)
        late &= ~(1ull << r.victim);
    release(&r);
    out->elapsed_ms = (keel_now_ns() - t0) / 1000000ull;

    bad = check_kernel(p->debug_slot, &tasks1, &threads1);
    if (out->faults)
        return fail(why, cap, "hostile threads faulted", out->faults);
    if (!in_time || late)
        return fail(why, cap, "hostile tasks neither finished nor were killed on purpose (bit mask)", late);
    if (bad)
        return fail(why, cap, "kernel invariant checks failed after the round", bad);
    if (tasks1 != tasks0 || threads1 != threads0)
        return fail(why, cap, "tasks or threads outlived the round (tasks now)", tasks1);
    char line[SYS_COUNT * 8], *w = line;
    for (unsigned nr = 0; nr < SYS_COUNT; nr++)
        w += snprintf(w, (size_t)(line + sizeof line - w), " %u:%llu", nr, (unsigned long long)out->ok[nr]);
    ulog("ktest: fuzz: seed %llu: succeeded per call number:%s\n", (unsigned long long)p->seed, line);
    for (unsigned i = 0; i < sizeof must_succeed / sizeof must_succeed[0]; i++)
        if (!out->ok[must_succeed[i]])
            return fail(why, cap, "the fuzzer never got this system call past its checks", must_succeed[i]);
    uint64_t after = left_in(spawn_memory());
    if (after != before)
        return fail(why, cap, "bytes of the hostile budgets did not come back", before - after);
    return 0;
}
