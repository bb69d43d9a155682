/*
 * kbench.c - the kernel micro-benchmarks, run in the guest (`kbench` on the
 * kernel command line; manifest line `server kbench when kbench ...`).
 *
 *   null_syscall   SYS_NULL, the cheapest way into the kernel and back
 *   ipc_rtt_fast   call + reply_recv between two tasks (two address spaces)
 *                  through the fastpath
 *   ipc_rtt_slow   the same exchange forced through the general path
 *                  (KEEL_SLOWPATH on both sides)
 *   ipc_rtt_same_task, ipc_rtt_same_task_slow
 *                  the fastpath (and general-path) exchange between two
 *                  threads of one task:
 *                  no address-space switch (no CR3 write), so its distance
 *                  from ipc_rtt_fast is what the switch costs on this
 *                  machine (under TCG, QEMU flushes its whole software TLB
 *                  on every CR3 write and refills it page by page)
 *   notify_wakeup  signal in one task until the waiting task runs (the
 *                  waiter has the higher priority, so the signal preempts)
 *   ipc_rtt_cross_core
 *                  ipc_rtt_fast's exchange with the echo task on core 1:
 *                  the general path, a VECTOR_RESCHED IPI each way and the
 *                  kernel lock handed between the cores (only with two
 *                  cores or more; bench/run.py boots kbench again with -smp 2)
 * After each task-to-task figure an INFO line gives the FPU state loads and
 * saves the kernel made meanwhile (SYS_KSTATS KEEL_KSTATS_FPU).
 * Each figure is the median of RUNS runs of ITERS operations, in TSC
 * cycles (rdtsc, not serialising: fine at these iteration counts) and in ns
 * (from the TSC frequency the kernel measured).  Under QEMU's `-icount
 * shift=0` (bench/run.py's second kbench boot) the guest's clock counts one
 * ns per instruction, so the ns figures are instruction counts: a measure
 * TCG's software TLB cannot distort.  Printed as
 * `BENCH name=... value=... unit=cycles|ns`, plus min/max on an INFO line.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "../tests/ktest/spawn.h"

#define RUNS       31
#define ITERS      2000
#define CHILD_EP   10
#define CHILD_NTFN 12
#define SHARED_VA  0x0000004000000000ull

static uint64_t tsc_hz;

static void sort(uint64_t *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

/* Per-operation cycles of each run -> the BENCH lines. */
static uint64_t report(const char *name, uint64_t *runs, int n)
{
    sort(runs, n);
    uint64_t med = runs[n / 2];
    ulog("BENCH name=%s value=%llu unit=cycles\n", name, (unsigned long long)med);
    ulog("BENCH name=%s value=%llu unit=ns\n", name, (unsigned long long)(med * 1000000000ull / tsc_hz));
    ulog("INFO name=%s runs=%d iters=%d min_cycles=%llu max_cycles=%llu clock=rdtsc tsc_hz=%llu\n", name, n, ITERS,
         (unsigned long long)runs[0], (unsigned long long)runs[n - 1], (unsigned long long)tsc_hz);
    return med;
}

static uint64_t bench_null(void)
{
    uint64_t runs[RUNS];
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = keel_rdtsc();
        for (int i = 0; i < ITERS; i++)
            (void)keel_null();
        runs[r] = (keel_rdtsc() - t0) / ITERS;
    }
    return report("null_syscall", runs, RUNS);
}

static void echo(uint64_t flags)
{
    struct keel_msg m = { .info = flags };
    (void)keel_recv(CHILD_EP, &m);
    for (;;) {
        m.info = flags;
        (void)keel_reply_recv(CHILD_EP, &m);
    }
}

/* RUNS runs of ITERS calls on EP (message info FLAGS), reported as NAME. */
static uint64_t time_calls(const char *name, uint64_t ep, uint64_t flags)
{
    uint64_t runs[RUNS];
    struct keel_msg m = { 0 };
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = keel_rdtsc();
        for (int i = 0; i < ITERS; i++) {
            m.info = flags;
            (void)keel_call(ep, &m);
        }
        runs[r] = (keel_rdtsc() - t0) / ITERS;
    }
    return report(name, runs, RUNS);
}

/* The echo task on core CORE (KEEL_THREAD_CPU; 0 = ours). */
static uint64_t bench_ipc_on(const char *name, uint64_t flags, uint64_t core)
{
    uint64_t ep = slot_get();
    (void)keel_obj_create(spawn_memory(), OBJ_ENDPOINT, ep, 0);
    struct child c;
    struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
    if (spawn(&c, echo, flags, 10 | core, caps, 1, 0, 0)) {
        ulog("kbench: cannot spawn the echo task\n");
        return 0;
    }
    uint64_t loads0 = 0, saves0 = 0, lazy = 0, loads1 = 0, saves1 = 0;
    (void)keel_kstats_fpu(&loads0, &saves0, &lazy);
    uint64_t med = time_calls(name, ep, flags);
    (void)keel_kstats_fpu(&loads1, &saves1, &lazy);
    /* What the lazy FPU switch (kernel/fpu.c) moved: nothing, when neither
     * side uses the FPU (both built -mgeneral-regs-only). */
    ulog("INFO name=%s fpu=%s fpu_loads=%llu fpu_saves=%llu round_trips=%d\n", name, lazy ? "lazy" : "eager",
         (unsigned long long)(loads1 - loads0), (unsigned long long)(saves1 - saves0), RUNS * ITERS);
    child_kill(&c);
    slot_put(ep);
    return med;
}

static uint64_t bench_ipc(const char *name, uint64_t flags) { return bench_ipc_on(name, flags, 0); }

/* The message flags of the same-task echo (0 or KEEL_SLOWPATH): set before
 * its thread starts, read only by it. */
static uint64_t same_task_flags;

/* The echo thread of ipc_rtt_same_task: ARG is the endpoint's slot. */
static void echo_same_task(uint64_t ep)
{
    struct keel_msg m = { .info = same_task_flags };
    (void)keel_recv(ep, &m);
    for (;;) {
        m.info = same_task_flags;
        (void)keel_reply_recv(ep, &m);
    }
}

static uint8_t same_task_stack[16384] __attribute__((aligned(16)));

static uint64_t bench_ipc_same_task(const char *name, uint64_t flags)
{
    same_task_flags = flags;
    uint64_t ep = slot_get(), th = slot_get();
    int64_t err = keel_obj_create(spawn_memory(), OBJ_ENDPOINT, ep, 0);
    if (!err)
        err = keel_obj_create(spawn_memory(), OBJ_THREAD, th, SRV_SLOT_TASK);
    if (!err)
        err = keel_thread_start(th, (uint64_t)echo_same_task, (uint64_t)&same_task_stack[sizeof same_task_stack] - 8,
                                ep, 10);
    if (err) {
        ulog("kbench: cannot start the echo thread (error %lld)\n", (long long)err);
        slot_put(th);
        slot_put(ep);
        return 0;
    }
    uint64_t med = time_calls(name, ep, flags);
    slot_put(th); /* deleting the last capability to the thread ends it */
    slot_put(ep);
    return med;
}

/* The signalling task: stamps the TSC into shared memory, then signals. */
static void signaller(uint64_t unused)
{
    (void)unused;
    volatile uint64_t *stamp = (volatile uint64_t *)SHARED_VA;
    for (;;) {
        *stamp = keel_rdtsc();
        (void)keel_signal(CHILD_NTFN, 1);
    }
}

static void bench_notify(void)
{
    uint64_t n = slot_get(), f = slot_get();
    (void)keel_obj_create(spawn_memory(), OBJ_NOTIFICATION, n, 0);
    (void)keel_obj_create(spawn_memory(), OBJ_FRAME, f, 1);
    (void)keel_map(SRV_SLOT_TASK, f, SHARED_VA, RIGHT_READ | RIGHT_WRITE);
    struct child c;
    struct child_cap caps[] = { { n, CHILD_NTFN, RIGHT_WRITE, 0 } };
    /* Lower priority than us: it runs only while we wait. */
    if (spawn(&c, signaller, 0, 9, caps, 1, 0, 0) || keel_map(c.task, f, SHARED_VA, RIGHT_READ | RIGHT_WRITE)) {
        ulog("kbench: cannot spawn the signalling task\n");
        return;
    }
    volatile uint64_t *stamp = (volatile uint64_t *)SHARED_VA;
    uint64_t runs[RUNS];
    static uint64_t samples[ITERS];
    uint64_t bits;
    (void)keel_wait(n, 0, &bits); /* let it start */
    for (int r = 0; r < RUNS; r++) {
        for (int i = 0; i < ITERS; i++) {
            (void)keel_wait(n, 0, &bits);
            samples[i] = keel_rdtsc() - *stamp;
        }
        sort(samples, ITERS);
        runs[r] = samples[ITERS / 2];
    }
    child_kill(&c);
    (void)keel_unmap(SRV_SLOT_TASK, SHARED_VA);
    slot_put(f);
    slot_put(n);
    report("notify_wakeup", runs, RUNS);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    uint64_t debug = 0;
    for (uint32_t i = 0; i < si->n_caps; i++)
        if (strcmp(si->caps[i].name, "debug") == 0)
            debug = si->caps[i].slot;
    (void)keel_clock(NULL, &tsc_hz); /* no failure: SYS_CLOCK takes no capability */
    spawn_init(SRV_SLOT_MEMORY);
    srv_ready();
    uint64_t null = bench_null();
    uint64_t fast = bench_ipc("ipc_rtt_fast", 0);
    uint64_t slow = bench_ipc("ipc_rtt_slow", KEEL_SLOWPATH);
    uint64_t same = bench_ipc_same_task("ipc_rtt_same_task", 0);
    (void)bench_ipc_same_task("ipc_rtt_same_task_slow", KEEL_SLOWPATH);
    bench_notify();
    uint64_t ncpus = 1;
    if (keel_cpu_count(&ncpus, NULL) == KE_OK && ncpus > 1) {
        uint64_t cross = bench_ipc_on("ipc_rtt_cross_core", 0, KEEL_THREAD_CPU(1));
        if (fast)
            ulog("BENCH name=ipc_rtt_cross_core_over_same_core value=%llu.%02llu unit=ratio\n",
                 (unsigned long long)(cross / fast), (unsigned long long)(cross * 100 / fast % 100));
    } else {
        ulog("INFO name=ipc_rtt_cross_core skipped (one core; bench/run.py measures it with -smp 2)\n");
    }
    if (null) {
        ulog("BENCH name=ipc_rtt_fast_over_2_null_syscalls value=%llu.%02llu unit=ratio\n",
             (unsigned long long)(fast / (2 * null)), (unsigned long long)(fast * 100 / (2 * null) % 100));
        if (same)
            ulog("BENCH name=ipc_rtt_same_task_over_2_null_syscalls value=%llu.%02llu unit=ratio\n",
                 (unsigned long long)(same / (2 * null)), (unsigned long long)(same * 100 / (2 * null) % 100));
        ulog("BENCH name=ipc_rtt_slow_over_fast value=%llu.%02llu unit=ratio\n",
             (unsigned long long)(fast ? slow / fast : 0), (unsigned long long)(fast ? slow * 100 / fast % 100 : 0));
    }
    ulog("kbench: done\n");
    (void)keel_debug_halt(debug, 0);
    return 0;
}
