/*
 * memory.c - memory budgets, and creating objects from them.
 *
 * A memory capability is a budget in bytes, not a range of addresses: the
 * kernel allocates from its own frame allocator and charges the budget for
 * everything an object costs (its kernel structure, a thread's kernel stack,
 * a task's capability table and page tables, a frame's pages).  Destroying
 * the object refunds it.  So a task can never make the kernel allocate more
 * than its budget, and init hands each server the budget it should have.
 * Every object holds a reference on the budget it was charged to.
 */
#include "memory.h"

#include "kheap.h"
#include "log.h"
#include "pmm.h"
#include "sched.h"
#include "task.h"
#include "vm.h"

#define MAX_CONTIG_PAGES 1024       /* a DMA frame: one physically contiguous run */
#define MAX_FRAME_PAGES  (1u << 17) /* any other frame: 512 MiB, a page list (object.h) */
#define LIST_PAGES(n)    (((n) + FRAME_LIST_FANOUT - 1) / FRAME_LIST_FANOUT)
_Static_assert(LIST_PAGES(MAX_FRAME_PAGES) * 8 <= KHEAP_MAX, "the list's top level is one kheap block");
#define MAX_BUDGET_BYTES (1ull << 40) /* keeps every cost sum far from overflow */
#define TASK_COST        (kheap_block_size(sizeof(struct task)) + (CAP_TABLE_PAGES + 1 + VM_MAX_PT_PAGES) * PAGE_SIZE)
#define THREAD_COST      (kheap_block_size(sizeof(struct thread)) + KSTACK_SIZE)

struct memory *memory_create_root(uint64_t bytes)
{
    struct memory *m = kheap_alloc(sizeof *m);
    if (!m)
        panic("no memory for the root memory budget");
    m->hdr.type = CAP_MEMORY;
    m->remaining = bytes;
    return m;
}

bool memory_charge(struct memory *m, uint64_t bytes)
{
    if (bytes > m->remaining)
        return false;
    m->remaining -= bytes;
    return true;
}

void memory_refund(struct memory *m, uint64_t bytes)
{
    m->remaining += bytes;
    kobj_unref(&m->hdr);
}

void memory_account(struct kobj *o, struct memory *m, uint64_t bytes)
{
    o->charged = m;
    o->charge = bytes;
    kobj_ref(&m->hdr);
}

struct frame *frame_wrap(uint64_t phys, uint64_t pages, bool device, bool owned)
{
    struct frame *f = kheap_alloc(sizeof *f);
    if (!f)
        return NULL;
    f->hdr.type = CAP_FRAME;
    f->phys = phys;
    f->pages = pages;
    f->device = device;
    f->owned = owned;
    return f;
}

void frame_free_list(struct frame *f)
{
    if (!f->list)
        return;
    for (uint64_t k = 0; k < LIST_PAGES(f->pages); k++)
        kheap_free(f->list[k], PAGE_SIZE);
    kheap_free(f->list, LIST_PAGES(f->pages) * 8);
    f->list = NULL;
}

/* The page list of F: PAGES pages taken one by one (zeroed by the pmm).
 * false (everything given back) when the machine runs out. */
static bool frame_fill_list(struct frame *f, uint64_t pages)
{
    f->pages = pages;
    f->list = kheap_alloc(LIST_PAGES(pages) * 8);
    if (!f->list)
        return false;
    uint64_t got = 0;
    for (uint64_t k = 0; k < LIST_PAGES(pages); k++) {
        f->list[k] = kheap_alloc(PAGE_SIZE);
        if (!f->list[k])
            goto fail;
    }
    for (; got < pages; got++) {
        uint64_t p = pmm_alloc();
        if (!p)
            goto fail;
        f->list[got / FRAME_LIST_FANOUT][got % FRAME_LIST_FANOUT] = p;
    }
    return true;
fail:
    for (uint64_t i = 0; i < got; i++)
        pmm_free(frame_page(f, i));
    for (uint64_t k = 0; k < LIST_PAGES(pages); k++)
        if (f->list[k])
            kheap_free(f->list[k], PAGE_SIZE);
    kheap_free(f->list, LIST_PAGES(pages) * 8);
    f->list = NULL;
    return false;
}

static struct kobj *create_frame(uint64_t pages, bool dma)
{
    /* A DMA frame is contiguous, so a device can walk it from its physical
     * address.  Any other frame is contiguous when it is small and the pmm
     * has such a run, else a list of pages from anywhere: the largest free
     * run does not bound it (the budget does). */
    uint64_t phys = (dma || pages <= MAX_CONTIG_PAGES) ? pmm_alloc_contig(pages, 1) : 0;
    if (!phys && dma)
        return NULL;
    struct frame *f = frame_wrap(phys, pages, false, true);
    if (!f) {
        for (uint64_t i = 0; phys && i < pages; i++)
            pmm_free(phys + i * PAGE_SIZE);
        return NULL;
    }
    if (!phys && !frame_fill_list(f, pages)) {
        kheap_free(f, sizeof *f);
        return NULL;
    }
    f->dma = dma;
    return &f->hdr;
}

/* What a frame of PAGES pages costs a budget: its pages, its struct and,
 * when it may need one, its page list (charged up front either way, so the
 * cost does not depend on the pmm's fragmentation). */
static uint64_t frame_cost(uint64_t pages, bool dma)
{
    uint64_t cost = pages * PAGE_SIZE + kheap_block_size(sizeof(struct frame));
    if (!dma && pages > MAX_CONTIG_PAGES)
        cost += LIST_PAGES(pages) * PAGE_SIZE + kheap_block_size(LIST_PAGES(pages) * 8);
    return cost;
}

int memory_create_object(struct memory *m, uint64_t type, uint64_t arg, struct task *owner, struct kobj **out)
{
    uint64_t cost;
    switch (type) {
    case OBJ_ENDPOINT: cost = kheap_block_size(sizeof(struct endpoint)); break;
    case OBJ_NOTIFICATION: cost = kheap_block_size(sizeof(struct notification)); break;
    case OBJ_TASK: cost = TASK_COST; break;
    case OBJ_THREAD:
        if (!owner)
            return KE_INVALID_ARG;
        cost = THREAD_COST;
        break;
    case OBJ_MEMORY:
        if (arg == 0 || arg > MAX_BUDGET_BYTES)
            return KE_INVALID_ARG;
        cost = arg + kheap_block_size(sizeof(struct memory));
        break;
    case OBJ_FRAME:
    case OBJ_DMA_FRAME:
        if (arg == 0 || arg > (type == OBJ_DMA_FRAME ? MAX_CONTIG_PAGES : MAX_FRAME_PAGES))
            return KE_INVALID_ARG;
        cost = frame_cost(arg, type == OBJ_DMA_FRAME);
        break;
    default: return KE_INVALID_ARG;
    }
    if (!memory_charge(m, cost))
        return KE_NO_MEMORY;
    /* point of no return for the budget: refunded below on failure */
    struct kobj *o = NULL;
    switch (type) {
    case OBJ_ENDPOINT:
        o = kheap_alloc(sizeof(struct endpoint));
        if (o)
            o->type = CAP_ENDPOINT;
        break;
    case OBJ_NOTIFICATION:
        o = kheap_alloc(sizeof(struct notification));
        if (o)
            o->type = CAP_NOTIFICATION;
        break;
    case OBJ_MEMORY: {
        struct memory *sub = kheap_alloc(sizeof *sub);
        if (sub) {
            sub->hdr.type = CAP_MEMORY;
            sub->remaining = arg;
        }
        o = sub ? &sub->hdr : NULL;
        break;
    }
    case OBJ_TASK: {
        char name[9] = { 0 };
        for (int i = 0; i < 8; i++) {
            char c = (char)(arg >> (8 * i));
            name[i] = (c >= 0x21 && c < 0x7f) ? c : 0;
            if (!name[i])
                break;
        }
        struct task *t = task_create(name[0] ? name : "task");
        o = t ? &t->hdr : NULL;
        break;
    }
    case OBJ_THREAD: {
        struct thread *t = thread_create(owner);
        o = t ? &t->hdr : NULL;
        break;
    }
    default: o = create_frame(arg, type == OBJ_DMA_FRAME); break;
    }
    if (!o) {
        m->remaining += cost;
        return KE_NO_MEMORY;
    }
    memory_account(o, m, cost);
    *out = o;
    return KE_OK;
}

/* The charges docs/ARCHITECTURE.md §2.6 lists (a change here is a change of
 * every budget's arithmetic: update the table). */
_Static_assert(sizeof(struct endpoint) <= 128 && sizeof(struct notification) <= 128, "object charges");
_Static_assert(sizeof(struct memory) <= 64 && sizeof(struct frame) <= 64, "object charges");
_Static_assert(sizeof(struct thread) <= 1024 && sizeof(struct task) <= 128, "object charges");
