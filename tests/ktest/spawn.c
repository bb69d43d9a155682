/*
 * spawn.c - new tasks that run a copy of this program (see spawn.h).
 *
 * The image is copied page by page through a scratch mapping in our own
 * address space.  The function to run travels in a global that is set just
 * before the data segment is copied, so the child finds it in its own copy.
 */
#include "spawn.h"

#include <keel/init.h>
#include <keel/string.h>

#define PAGE       4096ull
#define SCRATCH_VA 0x0000003000000000ull
#define FIRST_SLOT 64

extern char __text_start[], __rodata_start[], __data_start[], __image_end[];

static uint8_t slots_used[KEEL_CAP_SLOTS];
static uint64_t memory_slot;
static uint64_t graveyard;
static void (*volatile child_fn)(uint64_t);

uint64_t slot_get(void)
{
    for (uint64_t s = FIRST_SLOT; s < KEEL_CAP_SLOTS; s++) {
        if (!slots_used[s]) {
            slots_used[s] = 1;
            return s;
        }
    }
    return 0;
}

void slot_put(uint64_t s)
{
    if (s >= FIRST_SLOT && s < KEEL_CAP_SLOTS && slots_used[s]) {
        (void)keel_cap_delete(s);
        slots_used[s] = 0;
    }
}

void spawn_init(uint64_t mem)
{
    memory_slot = mem;
    graveyard = slot_get();
    (void)keel_obj_create(memory_slot, OBJ_ENDPOINT, graveyard, 0);
}

uint64_t spawn_memory(void) { return memory_slot; }

uint64_t spawn_use_memory(uint64_t mem)
{
    uint64_t old = memory_slot;
    memory_slot = mem;
    return old;
}

static void child_trampoline(uint64_t arg)
{
    child_fn(arg);
    keel_thread_exit();
}

/* Copies [start, end) of our image into a new frame mapped in the child. */
static int64_t copy_segment(uint64_t task, const char *start, const char *end, uint64_t rights)
{
    uint64_t pages = ((uint64_t)(end - start) + PAGE - 1) / PAGE;
    if (!pages)
        return KE_OK;
    uint64_t f = slot_get();
    int64_t err = keel_obj_create(memory_slot, OBJ_FRAME, f, pages);
    if (!err)
        err = keel_map(SRV_SLOT_TASK, f, SCRATCH_VA, RIGHT_READ | RIGHT_WRITE);
    if (!err) {
        memcpy((void *)SCRATCH_VA, start, (size_t)(end - start));
        err = keel_unmap(SRV_SLOT_TASK, SCRATCH_VA);
    }
    if (!err)
        err = keel_map(task, f, (uint64_t)start, rights);
    slot_put(f);
    return err;
}

int64_t spawn_thread(struct child *c, uint64_t *thread_slot, void (*fn)(uint64_t), uint64_t arg, uint64_t prio,
                     uint64_t stack_top)
{
    uint64_t th = slot_get();
    int64_t err = keel_obj_create(memory_slot, OBJ_THREAD, th, c->task);
    if (!err)
        err = keel_thread_set_fault(th, graveyard);
    if (err) {
        slot_put(th);
        return err;
    }
    /* This child's copy of child_fn was fixed at spawn time: a second
     * thread must run the same function, or use the arg to choose. */
    (void)fn;
    err = keel_thread_start(th, (uint64_t)child_trampoline, stack_top - 8, arg, prio);
    *thread_slot = th;
    return err;
}

int64_t spawn(struct child *c, void (*fn)(uint64_t), uint64_t arg, uint64_t prio, const struct child_cap *caps,
              int ncaps, uint64_t fault_ep, uint64_t badge)
{
    return spawn_limit(c, fn, arg, prio, caps, ncaps, fault_ep, badge, KEEL_CPU_LIMIT_INHERIT);
}

int64_t spawn_limit(struct child *c, void (*fn)(uint64_t), uint64_t arg, uint64_t prio, const struct child_cap *caps,
                    int ncaps, uint64_t fault_ep, uint64_t badge, uint64_t cpu_limit)
{
    int64_t err = spawn_unstarted(c, fn, caps, ncaps, fault_ep, badge);
    return err ? err : spawn_start(c, arg, prio, cpu_limit);
}

int64_t spawn_start(struct child *c, uint64_t arg, uint64_t prio, uint64_t cpu_limit)
{
    /* The upper half of the stack is for the first thread, the lower half
     * for a second (spawn_thread with CHILD_STACK_TOP - CHILD_STACK_PAGES pages). */
    int64_t err =
        keel_thread_start_limit(c->thread, (uint64_t)child_trampoline, CHILD_STACK_TOP - 8, arg, prio, cpu_limit);
    if (err)
        child_kill(c);
    return err;
}

int64_t spawn_unstarted(struct child *c, void (*fn)(uint64_t), const struct child_cap *caps, int ncaps,
                        uint64_t fault_ep, uint64_t badge)
{
    c->task = slot_get();
    c->thread = slot_get();
    int64_t err = keel_obj_create(memory_slot, OBJ_TASK, c->task, keel_task_name("child"));
    if (err)
        return err;
    child_fn = fn;
    err = copy_segment(c->task, __text_start, __rodata_start, RIGHT_READ | RIGHT_EXEC);
    if (!err)
        err = copy_segment(c->task, __rodata_start, __data_start, RIGHT_READ);
    if (!err)
        err = copy_segment(c->task, __data_start, __image_end, RIGHT_READ | RIGHT_WRITE);
    uint64_t stack = slot_get();
    if (!err)
        err = keel_obj_create(memory_slot, OBJ_FRAME, stack, CHILD_STACK_PAGES * 2);
    if (!err)
        err = keel_map(c->task, stack, CHILD_STACK_TOP - CHILD_STACK_PAGES * 2 * PAGE, RIGHT_READ | RIGHT_WRITE);
    slot_put(stack);
    for (int i = 0; !err && i < ncaps; i++)
        err = keel_cap_copy(caps[i].src, c->task, caps[i].dest, caps[i].rights, caps[i].badge);
    if (!err)
        err = keel_obj_create(memory_slot, OBJ_THREAD, c->thread, c->task);
    uint64_t fep = fault_ep ? fault_ep : graveyard;
    uint64_t badged = 0;
    if (!err && badge) {
        badged = slot_get();
        err = keel_cap_copy(fep, SRV_SLOT_TASK, badged, RIGHT_WRITE | RIGHT_GRANT, badge);
        fep = badged;
    }
    if (!err)
        err = keel_thread_set_fault(c->thread, fep);
    if (badged)
        slot_put(badged);
    if (err)
        child_kill(c);
    return err;
}

void child_kill(struct child *c)
{
    if (c->task)
        (void)keel_task_kill(c->task);
    slot_put(c->thread);
    slot_put(c->task);
    c->task = c->thread = 0;
}
