/*
 * fpu.c - user threads' FPU/SSE state: lazy switching with one owner per core.
 *
 * The kernel never uses the FPU (it is built with -mgeneral-regs-only), so
 * the registers always belong to user threads.  State per core (struct
 * percpu, under the kernel lock like the rest of it):
 *
 *   fpu_owner  the thread whose state the registers hold, or NULL.  Its
 *              struct thread's fpu[] is stale while it owns them.
 *   fpu_ts     CR0.TS as this core last wrote it (so a switch reads no CR0).
 *
 * Invariants:
 *  - fpu_ts is clear only while the running thread is the owner, or the
 *    idle thread runs after it (the kernel never touches the FPU, so the
 *    idle loop leaves the registers alone).
 *  - An owner is a thread of that core: threads never change core
 *    (sched.c), so a thread's live state is only ever on its own core and
 *    #NM on that core is the only place that saves it.  There is no
 *    cross-core FPU traffic and no IPI for it.
 *  - A thread that is freed is first dropped as owner (fpu_thread_gone,
 *    from the reaper, when it runs nowhere): its registers' contents are
 *    discarded, never saved into freed memory.  A thread killed while its
 *    state is live on its core is the same case: the reaper waits until
 *    that core has switched away.
 *
 * Switch (fpu_switch): to the idle thread, leave TS; to the owner while it
 * has preload credits (fpu_credits), clear TS and spend one; to anyone else
 * set TS.  No state moves, and CR0 is written only when TS changes, so a
 * ping-pong of IPC between threads that do not use the FPU writes no CR0 at
 * all (TS stays set), and one between an FPU user and an integer server
 * toggles TS but takes no trap.
 * #NM from ring 3 (fpu_trap): clear TS and refill the thread's credits; if
 * it is not the owner, save the owner's state, load the thread's and make
 * it the owner.  An owner whose credits ran out and that uses the FPU again
 * traps once and moves nothing.  #NM in ring 0 is a kernel bug (panic).
 *
 * Eager mode (the `fpu=eager` switch, and CPUs taken as affected by LazyFP,
 * CVE-2018-3665: a lazily switched FPU leaks the previous owner's registers
 * to speculative execution on the CPUs that Meltdown affects, cpuvuln.c)
 * keeps the old scheme: fxsave on every switch away from a user thread,
 * fxrstor on every switch to one, TS never set.
 *
 * Only the legacy 512-byte area (x87, MMX, SSE: fxsave64) is managed: the
 * kernel does not enable XSAVE, so AVX state cannot exist.
 */
#include "fpu.h"

#include "arch.h"
#include "cmdline.h"
#include "cpuvuln.h"
#include "kstring.h"
#include "log.h"
#include "sched.h"
#include "smp.h"
#include "trap.h"

#define CR0_MP            (1ull << 1)
#define CR0_EM            (1ull << 2)
#define CR0_TS            (1ull << 3)
#define VECTOR_NM         7
#define FXSAVE_BYTES      512
#define FXSAVE_REGS_FIRST 32  /* ST0/MM0 */
#define FXSAVE_REGS_END   416 /* after XMM15 */

_Static_assert(sizeof(((struct thread *)0)->fpu) == FXSAVE_BYTES, "fxsave64 area (SDM vol. 1, 10.5.1)");
_Static_assert(__builtin_offsetof(struct thread, fpu) % 16 == 0, "fxsave64 needs a 16-byte aligned area");

uint64_t kstat_fpu_loads, kstat_fpu_saves;

static uint8_t fpu_template[FXSAVE_BYTES] __attribute__((aligned(16)));
bool fpu_lazy; /* fixed at boot, before any thread runs (fpu_switch reads it) */

static inline void fx_save(struct thread *t) { __asm__ volatile("fxsave64 %0" : "=m"(t->fpu)); }
static inline void fx_load(const struct thread *t) { __asm__ volatile("fxrstor64 %0" : : "m"(t->fpu)); }
static inline void ts_clear(void) { __asm__ volatile("clts" ::: "memory"); }
static inline void ts_set(void) { write_cr0(read_cr0() | CR0_TS); }

/* EM off (no emulation), MP on (WAIT honours TS), TS off; FXSR and the
 * SIMD exception on.  The same on every core. */
static void cpu_setup(void)
{
    write_cr0((read_cr0() & ~(CR0_EM | CR0_TS)) | CR0_MP);
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    __asm__ volatile("fninit");
}

static void fpu_trap(struct trap_frame *tf, void *ctx);

void fpu_init(void)
{
    cpu_setup();
    __asm__ volatile("fxsave64 %0" : "=m"(fpu_template)); /* fninit's x87 control, MXCSR 0x1f80 */
    /* ST0-7/MM0-7 and XMM0-15 start at zero, not with whatever the boot
     * loader or firmware left in them (SDM vol. 1, table 10-2). */
    memset(fpu_template + FXSAVE_REGS_FIRST, 0, FXSAVE_REGS_END - FXSAVE_REGS_FIRST);
    bool affected = cpuvuln_flags() & KEEL_CPU_MELTDOWN;
    fpu_lazy = !affected && !cmdline_has("fpu=eager");
    trap_set_handler(VECTOR_NM, fpu_trap, NULL);
    kprintf("keel: cpu: FPU/SSE state switched %s\n", fpu_lazy ? "lazily (#NM on first use after a switch)"
                                                      : affected
                                                          ? "eagerly (LazyFP: this CPU is taken as Meltdown-affected)"
                                                          : "eagerly (fpu=eager)");
}

void fpu_init_ap(void) { cpu_setup(); }

bool fpu_is_lazy(void) { return fpu_lazy; }

void fpu_thread_init(struct thread *t) { memcpy(t->fpu, fpu_template, sizeof t->fpu); }

void fpu_switch_eager(struct thread *prev, struct thread *next)
{
    if (prev->task) {
        fx_save(prev);
        kstat_fpu_saves++;
    }
    if (next->task) {
        fx_load(next);
        kstat_fpu_loads++;
    }
}

void fpu_set_ts(struct percpu *c, bool set)
{
    if (set)
        ts_set();
    else
        ts_clear();
    c->fpu_ts = set;
}

/* #NM: the running thread used the FPU while TS was set (lazy mode only;
 * under the kernel lock). */
static void fpu_trap(struct trap_frame *tf, void *ctx)
{
    (void)ctx;
    if (!(tf->cs & 3) || !fpu_lazy)
        panic("#NM in %s mode (%s FPU switching): the kernel never uses the FPU and never sets TS",
              (tf->cs & 3) ? "user" : "kernel", fpu_lazy ? "lazy" : "eager");
    struct percpu *c = this_cpu();
    struct thread *cur = c->current;
    ts_clear();
    c->fpu_ts = false;
    cur->fpu_credits = FPU_PRELOAD_CREDITS;
    if (c->fpu_owner == cur)
        return; /* its state is still in the registers: it had just run out of credits */
    if (c->fpu_owner) {
        KASSERT(c->fpu_owner->cpu == c->id, "a thread's FPU state lives only on its own core");
        fx_save(c->fpu_owner);
        kstat_fpu_saves++;
    }
    fx_load(cur);
    kstat_fpu_loads++;
    c->fpu_owner = cur;
}

void fpu_thread_gone(struct thread *t)
{
    for (uint32_t i = 0; i < smp_ncpus; i++) {
        if (cpus[i].fpu_owner != t)
            continue;
        KASSERT(cpus[i].current != t, "a thread is freed only when it runs nowhere");
        cpus[i].fpu_owner = NULL; /* its registers' contents are garbage from now on */
    }
}
