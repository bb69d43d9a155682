/*
 * tls_thread.c - threads in a program that runs mbedTLS (tls_thread.h):
 * the registry of thread stacks, each thread's sleep notification,
 * mbedTLS's mutexes (MBEDTLS_THREADING_ALT) and the slow path of
 * tls_lock.h.
 *
 * The registry is written by the thread that starts another, before the
 * kernel runs it (SYS_THREAD_START is the release point), and read by the
 * started thread only for its own entry: no lock.  A thread's sleep
 * notification is made by that thread at its first sleep.
 */
#include <keel/init.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "mbedtls/threading.h"

#include "tls_lock.h"
#include "tls_mem.h"
#include "tls_plat.h"
#include "tls_thread.h"

#define PAGE         4096ull
#define LOCK_WAIT_NS 20000ull /* the slow path's sleep (the timer rounds it up to its resolution) */
#define LOCK_YIELDS  32       /* rounds that yield before the slow path sleeps */

_Static_assert(TLS_MAX_THREADS == TLS_MEM_THREADS, "tls_mem keeps an account pointer per thread number");
_Static_assert(TLS_THREAD_STACK % PAGE == 0, "stacks are whole pages");

static struct {
    uintptr_t lo[TLS_MAX_THREADS], hi[TLS_MAX_THREADS]; /* thread k's stack: [lo, hi); 0: none (k = 0: init's stack) */
    uint64_t sleep_ntfn[TLS_MAX_THREADS];               /* 0 until thread k first sleeps */
    struct tls_lock slot_lock;                          /* tls_plat_slot_alloc */
} T;

unsigned tls_thread_self(void)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    for (unsigned k = 1; k < TLS_MAX_THREADS; k++)
        if (sp >= T.lo[k] && sp < T.hi[k])
            return k;
    return 0;
}

/* A free capability slot (tls_plat_slot_alloc, which threads share), or 0. */
static uint64_t slot_alloc(void)
{
    tls_lock_take(&T.slot_lock);
    uint64_t slot = tls_plat_slot_alloc();
    tls_lock_give(&T.slot_lock);
    return slot;
}

uint64_t tls_thread_sleep_ntfn(unsigned k)
{
    if (k >= TLS_MAX_THREADS)
        return 0;
    if (!T.sleep_ntfn[k]) {
        uint64_t slot = slot_alloc();
        if (!slot || keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, slot, 0) != KE_OK)
            return 0;
        T.sleep_ntfn[k] = slot;
    }
    return T.sleep_ntfn[k];
}

/* tls_lock.h's slow path: first yield (a holder of our priority preempted
 * on this core runs; the threads of one program share a priority), then
 * sleep (a lower-priority holder on this core runs only while we do). */
static void lock_wait(unsigned rounds)
{
    if (rounds < LOCK_YIELDS)
        (void)keel_yield();
    else
        (void)tls_plat_sleep_ns(LOCK_WAIT_NS);
}

static void mutex_init(mbedtls_threading_mutex_t *m)
{
    m->lock.held = 0;
    m->is_valid = 1;
}

static void mutex_free(mbedtls_threading_mutex_t *m) { m->is_valid = 0; }

static int mutex_lock(mbedtls_threading_mutex_t *m)
{
    if (!m || !m->is_valid)
        return MBEDTLS_ERR_THREADING_BAD_INPUT_DATA;
    tls_lock_take(&m->lock);
    return 0;
}

static int mutex_unlock(mbedtls_threading_mutex_t *m)
{
    if (!m || !m->is_valid)
        return MBEDTLS_ERR_THREADING_BAD_INPUT_DATA;
    tls_lock_give(&m->lock);
    return 0;
}

void tls_thread_init(void)
{
    memset(&T, 0, sizeof T);
    tls_mem_self_hook = tls_thread_self;
    tls_lock_wait_hook = lock_wait;
    mbedtls_threading_set_alt(mutex_init, mutex_free, mutex_lock, mutex_unlock);
}

/* Maps thread K's stack: TLS_THREAD_STACK bytes above a guard page. */
static int map_stack(unsigned k, int64_t *kerr)
{
    uint64_t va = TLS_THREAD_STACK_VA + (uint64_t)k * TLS_THREAD_SLOT + PAGE;
    uint64_t slot = slot_alloc();
    if (!slot)
        return TLS_THREAD_E_SLOTS;
    *kerr = keel_obj_create(SRV_SLOT_MEMORY, OBJ_FRAME, slot, TLS_THREAD_STACK / PAGE);
    if (!*kerr)
        *kerr = keel_map(SRV_SLOT_TASK, slot, va, RIGHT_READ | RIGHT_WRITE);
    (void)keel_cap_delete(slot); /* the mapping keeps the frame */
    if (*kerr)
        return TLS_THREAD_E_KERNEL;
    T.lo[k] = (uintptr_t)va;
    T.hi[k] = (uintptr_t)(va + TLS_THREAD_STACK);
    return TLS_THREAD_OK;
}

int tls_thread_start(unsigned k, void (*fn)(void *), void *arg, unsigned prio, unsigned cpu, int64_t *kerr)
{
    *kerr = 0;
    if (k == 0 || k >= TLS_MAX_THREADS || T.hi[k])
        return TLS_THREAD_E_INVAL;
    int r = map_stack(k, kerr);
    if (r)
        return r;
    uint64_t th = slot_alloc();
    if (!th)
        return TLS_THREAD_E_SLOTS;
    *kerr = keel_obj_create(SRV_SLOT_MEMORY, OBJ_THREAD, th, SRV_SLOT_TASK);
    if (!*kerr)
        *kerr = keel_thread_set_fault(th, SRV_SLOT_INIT);
    if (!*kerr) {
        /* The entry gets ARG in rdi; the stack's top word is a zero return
         * address (FN must never return: it ends with keel_thread_exit). */
        uint64_t top = T.hi[k] - 8; /* as after a call: rsp + 8 is 16-aligned */
        *(uint64_t *)top = 0;
        for (int p = (int)(prio & KEEL_THREAD_PRIO_MASK); p >= 0; p--) {
            *kerr = keel_thread_start(th, (uint64_t)fn, top, (uint64_t)arg, (uint64_t)p | KEEL_THREAD_CPU(cpu));
            if (*kerr != KE_NO_RIGHTS)
                break; /* KE_NO_RIGHTS: above the task's own priority */
        }
    }
    return *kerr ? TLS_THREAD_E_KERNEL : TLS_THREAD_OK;
}
