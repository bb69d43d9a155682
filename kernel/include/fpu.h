/*
 * fpu.h - the user threads' FPU/SSE state, switched lazily (fpu.c).
 *
 * Each core's registers hold at most one thread's state, its owner
 * (struct percpu.fpu_owner).  A switch to any other thread sets CR0.TS, so
 * that thread's first FPU/SSE instruction raises #NM; the handler saves the
 * owner's state into its struct thread and loads the new thread's.  A thread
 * that never touches the FPU therefore costs no save and no load, and an
 * IPC between two such threads moves no FPU state at all.
 */
#ifndef KEEL_FPU_H
#define KEEL_FPU_H

#include <stdbool.h>
#include <stdint.h>

#include "object.h"
#include "smp.h"

/* FPU state loads by #NM (thread's state into the registers) and saves
 * (an owner's state out of them), since boot; under the kernel lock.  In
 * eager mode they count every switch's fxrstor and fxsave. */
extern uint64_t kstat_fpu_loads, kstat_fpu_saves;

/* The boot core: CR0/CR4 bits, the template state every thread starts
 * from, lazy or eager (the `fpu=eager` switch, or a CPU taken as affected
 * by LazyFP, CVE-2018-3665, which is Meltdown's set), the #NM handler. */
void fpu_init(void);
/* An application processor: the same CR0/CR4 bits, TS clear, no owner. */
void fpu_init_ap(void);
/* True when the state is switched lazily (SYS_KSTATS reports it). */
bool fpu_is_lazy(void);
/* Gives T the template state; T must own no core's registers (a new thread). */
void fpu_thread_init(struct thread *t);
/* Eager mode's switch (fxsave PREV, fxrstor NEXT). */
void fpu_switch_eager(struct thread *prev, struct thread *next);
/* CR0.TS := SET on this core (lazy mode's switch, when it changes). */
void fpu_set_ts(struct percpu *c, bool set);

/* Switches to the owner that run with TS clear (no #NM) after the owner
 * last trapped: a thread that keeps using the FPU takes one #NM per this
 * many switches to it; one that stopped using it runs with TS set again
 * after them, so its switches write no CR0 either. */
#define FPU_PRELOAD_CREDITS 16

/* The switch on core C from PREV to NEXT (switch_to, kernel lock held):
 * inline, since every IPC's direct switch runs it.  Lazy: to the idle
 * thread nothing; to the owner with credits left, TS clear (one credit
 * spent); to anyone else TS set.  CR0 is written only when TS changes. */
static inline void fpu_switch(struct percpu *c, struct thread *prev, struct thread *next)
{
    extern bool fpu_lazy;
    if (__builtin_expect(!fpu_lazy, 0)) {
        fpu_switch_eager(prev, next);
        return;
    }
    if (!next->task)
        return; /* the idle thread: the registers and TS stay as they are */
    bool want_ts = true;
    if (next == c->fpu_owner && next->fpu_credits) {
        next->fpu_credits--;
        want_ts = false;
    }
    if (want_ts != c->fpu_ts)
        fpu_set_ts(c, want_ts);
}
/* T is about to be freed: no core may keep it as its owner (kernel lock
 * held, T runs nowhere). */
void fpu_thread_gone(struct thread *t);

#endif
