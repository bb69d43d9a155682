/*
 * cap.c - capability slots, object references, and object destruction.
 *
 * A capability is (object, rights, badge) in a task's slot.  cap_lookup is
 * the single place a system call turns a user-supplied slot number into an
 * object: it checks the range, emptiness, type and rights, in that order,
 * and names the first failure with its own error code.
 * Destruction runs when the last reference goes; it never fails, and it
 * wakes anything blocked on the object with KE_DEAD rather than leave it
 * waiting for something that no longer exists.
 *
 * Destruction is iterative, never recursive: destroying a task drops its
 * capabilities, which may drop the last reference of another task, and so
 * on; a chain of 80 tasks each holding the next once ran the kernel stack
 * into its guard page.  So kobj_unref only puts a dead object on the
 * `doomed` list, and the outermost caller drains the list (drain_work)
 * before it returns: by the time any system call returns, every object
 * whose count reached zero is gone and its charge refunded.
 *
 * Budget release: a memory budget counts its capabilities apart from the
 * references its objects hold on it.  When the last capability goes, every
 * task charged to it (or to a sub-budget of it) is killed; killing clears
 * their tables, which breaks every cycle of references among them (a task
 * holding its own capability, two tasks holding each other), and the
 * ordinary counts then free them and refund the budget.  The release waits
 * on the `released` list, drained by the same loop, for the same reason.
 */
#include "iommu.h"
#include "kheap.h"
#include "ipc.h"
#include "log.h"
#include "memory.h"
#include "pmm.h"
#include "sched.h"
#include "task.h"

int cap_lookup(struct task *t, uint64_t slot, uint8_t type, uint8_t rights, struct cap **out)
{
    if (slot >= KEEL_CAP_SLOTS)
        return KE_INVALID_SLOT;
    struct cap *c = &t->caps[slot];
    if (!c->obj)
        return KE_EMPTY_SLOT;
    if (type != CAP_NONE && c->obj->type != type)
        return KE_WRONG_TYPE;
    if ((c->rights & rights) != rights)
        return KE_NO_RIGHTS;
    *out = c;
    return KE_OK;
}

void kobj_ref(struct kobj *o)
{
    KASSERT(o->refs < 0xffffffffu, "reference count overflow");
    o->refs++;
}

static void kobj_destroy(struct kobj *o)
{
    struct memory *charged = o->charged;
    uint64_t charge = o->charge;
    switch (o->type) {
    case CAP_ENDPOINT:
        ep_destroy((struct endpoint *)o);
        kheap_free(o, sizeof(struct endpoint));
        break;
    case CAP_NOTIFICATION:
        ntfn_destroy((struct notification *)o);
        kheap_free(o, sizeof(struct notification));
        break;
    case CAP_TASK: task_destroy((struct task *)o); break;
    case CAP_THREAD: thread_destroy((struct thread *)o); break;
    case CAP_FRAME: {
        struct frame *f = (struct frame *)o;
        if (f->owned)
            for (uint64_t i = 0; i < f->pages; i++)
                pmm_free(frame_page(f, i));
        frame_free_list(f);
        kheap_free(f, sizeof *f);
        break;
    }
    case CAP_IRQ:
        irq_destroy((struct irq *)o);
        kheap_free(o, sizeof(struct irq));
        break;
    case CAP_IOPORT: kheap_free(o, sizeof(struct ioport)); break;
    case CAP_DMA_SPACE: dmaspace_destroy((struct dma_space *)o); break;
    case CAP_MEMORY:
        KASSERT(((struct memory *)o)->caps == 0, "budget destroyed while capabilities name it");
        kheap_free(o, sizeof(struct memory));
        break;
    default: kheap_free(o, sizeof(struct control)); break;
    }
    if (charged)
        memory_refund(charged, charge);
}

/* Work that must not recurse: objects whose count reached zero, and budgets
 * whose last capability went.  Single CPU, interrupts off: no lock. */
static struct kobj *doomed;
static struct memory *released;
static bool draining;
bool kobj_work_pending(void) { return doomed || released || draining; }

/* Runs the queued work until none is left.  Re-entered calls (from inside a
 * destruction) return at once: the outermost loop picks their work up. */
static void drain_work(void)
{
    if (draining)
        return;
    draining = true;
    for (;;) {
        if (doomed) {
            struct kobj *o = doomed;
            doomed = o->doomed_next;
            o->doomed_next = NULL;
            kobj_destroy(o);
        } else if (released) {
            struct memory *m = released;
            released = m->release_next;
            m->release_next = NULL;
            m->release_queued = false;
            if (m->caps == 0)
                task_kill_charged_to(m); /* unless a capability came back meanwhile */
            kobj_unref(&m->hdr);         /* the list's reference: queues, never recurses */
        } else {
            break;
        }
    }
    draining = false;
}

void kobj_unref(struct kobj *o)
{
    KASSERT(o->refs > 0, "reference count underflow");
    if (--o->refs)
        return;
    o->doomed_next = doomed;
    doomed = o;
    drain_work();
}

void cap_install(struct task *t, uint64_t slot, struct kobj *obj, uint8_t rights, uint64_t badge)
{
    KASSERT(slot < KEEL_CAP_SLOTS && !t->caps[slot].obj, "cap_install into a bad slot");
    kobj_ref(obj);
    if (obj->type == CAP_MEMORY)
        ((struct memory *)obj)->caps++;
    t->caps[slot] = (struct cap){ .obj = obj, .rights = rights, .badge = badge };
}

/* The last capability to budget M went: queue the killing of its tasks. */
static void memory_release(struct memory *m)
{
    if (m->release_queued)
        return;
    m->release_queued = true;
    kobj_ref(&m->hdr);
    m->release_next = released;
    released = m;
}

void cap_clear(struct task *t, uint64_t slot)
{
    struct kobj *o = t->caps[slot].obj;
    t->caps[slot] = (struct cap){ 0 };
    if (!o)
        return;
    if (o->type == CAP_MEMORY) {
        struct memory *m = (struct memory *)o;
        KASSERT(m->caps > 0, "budget capability count underflow");
        if (--m->caps == 0 && m->hdr.refs > 1)
            memory_release(m); /* objects remain charged to it */
    }
    kobj_unref(o);
    drain_work();
}

void tq_push(struct thread_queue *q, struct thread *t)
{
    t->q_next = NULL;
    if (q->tail)
        q->tail->q_next = t;
    else
        q->head = t;
    q->tail = t;
}

struct thread *tq_pop(struct thread_queue *q)
{
    struct thread *t = q->head;
    if (t) {
        q->head = t->q_next;
        if (!q->head)
            q->tail = NULL;
        t->q_next = NULL;
    }
    return t;
}

bool tq_remove(struct thread_queue *q, struct thread *t)
{
    struct thread *prev = NULL;
    for (struct thread *c = q->head; c; prev = c, c = c->q_next) {
        if (c != t)
            continue;
        if (prev)
            prev->q_next = c->q_next;
        else
            q->head = c->q_next;
        if (q->tail == c)
            q->tail = prev;
        c->q_next = NULL;
        return true;
    }
    return false;
}
