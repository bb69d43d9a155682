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
 */
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
    uint32_t charge = o->charge;
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
                pmm_free(f->phys + i * PAGE_SIZE);
        kheap_free(f, sizeof *f);
        break;
    }
    case CAP_IRQ:
        irq_destroy((struct irq *)o);
        kheap_free(o, sizeof(struct irq));
        break;
    case CAP_IOPORT: kheap_free(o, sizeof(struct ioport)); break;
    case CAP_MEMORY: kheap_free(o, sizeof(struct memory)); break;
    default: kheap_free(o, sizeof(struct control)); break;
    }
    if (charged)
        memory_refund(charged, charge);
}

void kobj_unref(struct kobj *o)
{
    KASSERT(o->refs > 0, "reference count underflow");
    if (--o->refs == 0)
        kobj_destroy(o);
}

void cap_install(struct task *t, uint64_t slot, struct kobj *obj, uint8_t rights, uint64_t badge)
{
    KASSERT(slot < KEEL_CAP_SLOTS && !t->caps[slot].obj, "cap_install into a bad slot");
    kobj_ref(obj);
    t->caps[slot] = (struct cap){ .obj = obj, .rights = rights, .badge = badge };
}

void cap_clear(struct task *t, uint64_t slot)
{
    struct kobj *o = t->caps[slot].obj;
    t->caps[slot] = (struct cap){ 0 };
    if (o)
        kobj_unref(o);
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
