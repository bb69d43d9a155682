/*
 * kheap.c - size-class allocator for kernel objects, returning empty pages.
 *
 * Classes of 32 B .. 1 KiB (powers of two) are carved from pages; a request
 * above 1 KiB takes a whole page straight from the pmm.  Each carved page
 * begins with its own header (struct heap_page, in the page's first block,
 * which is therefore never handed out) holding the page's free list and how
 * many of its blocks are in use.  Pages with a free block sit on their
 * class's `partial` list; full pages sit on no list.  When a page's last
 * block is freed, the page goes back to the pmm at once: after any churn the
 * heap holds only pages with live objects, and a refunded budget is real
 * memory again for every size, not only for the class it came from.
 *
 * Costs: the header takes one block per page (1/128 of a 32-byte page, 1/4
 * of a 1 KiB page); that slack is not charged to budgets (docs/ARCHITECTURE
 * §2.7).  An object freed and allocated again in an otherwise empty page
 * costs a pmm round trip (zeroing the page); objects are made per system
 * call, never per message, so this is off every hot path.
 *
 * The caller passes the size to free, as it always knows its object type:
 * no header per block.  Blocks are zeroed on allocation and poisoned (0xdd)
 * on free.  Single CPU, interrupts off in the kernel: no lock.
 */
#include "kheap.h"

#include "kstring.h"
#include "log.h"
#include "pmm.h"
#include "vm.h"

#define MIN_SHIFT   5
#define N_CLASSES   6 /* 32 << 5 = 1024; above that, whole pages */
#define CARVED_MAX  ((size_t)1 << (MIN_SHIFT + N_CLASSES - 1))
#define PAGE_MASK_K (~(uint64_t)(PAGE_SIZE - 1))

struct free_block {
    struct free_block *next;
};

struct heap_page {
    struct free_block *free;       /* this page's free blocks */
    struct heap_page *prev, *next; /* the class's partial list (pages with a free block) */
    uint16_t in_use;               /* blocks handed out; 0 = the page goes back to the pmm */
    uint8_t cls;
};
_Static_assert(sizeof(struct heap_page) <= ((size_t)1 << MIN_SHIFT), "the page header fits the smallest block");

static struct heap_page *partial[N_CLASSES];
static uint64_t bytes_in_use;
static uint64_t pages_held;

static int class_of(size_t size)
{
    int c = 0;
    while (((size_t)1 << (MIN_SHIFT + c)) < size)
        c++;
    return c;
}

size_t kheap_block_size(size_t size)
{
    return size > CARVED_MAX ? PAGE_SIZE : (size_t)1 << (MIN_SHIFT + class_of(size));
}

static void partial_push(struct heap_page *pg)
{
    pg->prev = NULL;
    pg->next = partial[pg->cls];
    if (pg->next)
        pg->next->prev = pg;
    partial[pg->cls] = pg;
}

static void partial_remove(struct heap_page *pg)
{
    if (pg->prev)
        pg->prev->next = pg->next;
    else
        partial[pg->cls] = pg->next;
    if (pg->next)
        pg->next->prev = pg->prev;
    pg->prev = pg->next = NULL;
}

/* A new page for class C, carved into blocks after its header block. */
static struct heap_page *new_page(int c)
{
    uint64_t frame = pmm_alloc();
    if (!frame)
        return NULL;
    pages_held++;
    size_t bs = (size_t)1 << (MIN_SHIFT + c);
    struct heap_page *pg = phys_to_virt(frame);
    pg->cls = (uint8_t)c;
    for (size_t off = PAGE_SIZE - bs; off >= bs; off -= bs) {
        struct free_block *b = (struct free_block *)((char *)pg + off);
        b->next = pg->free;
        pg->free = b;
    }
    partial_push(pg);
    return pg;
}

void *kheap_alloc(size_t size)
{
    if (size == 0 || size > KHEAP_MAX)
        return NULL;
    if (size > CARVED_MAX) {
        uint64_t frame = pmm_alloc(); /* zeroed */
        if (!frame)
            return NULL;
        pages_held++;
        bytes_in_use += PAGE_SIZE;
        return phys_to_virt(frame);
    }
    int c = class_of(size);
    struct heap_page *pg = partial[c];
    if (!pg && !(pg = new_page(c)))
        return NULL;
    struct free_block *b = pg->free;
    pg->free = b->next;
    pg->in_use++;
    if (!pg->free)
        partial_remove(pg); /* full: on no list until a block comes back */
    size_t bs = (size_t)1 << (MIN_SHIFT + c);
    memset(b, 0, bs);
    bytes_in_use += bs;
    return b;
}

void kheap_free(void *p, size_t size)
{
    if (!p)
        return;
    KASSERT(size > 0 && size <= KHEAP_MAX, "kheap_free size");
    if (size > CARVED_MAX) {
        KASSERT(((uint64_t)p & (PAGE_SIZE - 1)) == 0, "kheap_free of a page not from kheap");
        pages_held--;
        bytes_in_use -= PAGE_SIZE;
        pmm_free(virt_to_phys(p));
        return;
    }
    int c = class_of(size);
    size_t bs = (size_t)1 << (MIN_SHIFT + c);
    struct heap_page *pg = (struct heap_page *)((uint64_t)p & PAGE_MASK_K);
    KASSERT(((uint64_t)p & (bs - 1)) == 0 && (void *)pg != p, "kheap_free of a pointer not from kheap");
    KASSERT(pg->cls == c && pg->in_use > 0, "kheap_free with the wrong size, or twice");
    memset(p, 0xdd, bs); /* poison: a use after free shows up as 0xdddd... */
    struct free_block *b = p;
    bool was_full = !pg->free;
    b->next = pg->free;
    pg->free = b;
    pg->in_use--;
    bytes_in_use -= bs;
    if (pg->in_use == 0) {
        if (!was_full)
            partial_remove(pg);
        pages_held--;
        pmm_free(virt_to_phys(pg));
    } else if (was_full) {
        partial_push(pg);
    }
}

uint64_t kheap_bytes_in_use(void) { return bytes_in_use; }
uint64_t kheap_pages_held(void) { return pages_held; }

int kheap_check(void)
{
    int bad = 0;
    for (int c = 0; c < N_CLASSES; c++) {
        size_t bs = (size_t)1 << (MIN_SHIFT + c);
        for (struct heap_page *pg = partial[c]; pg; pg = pg->next) {
            size_t n_free = 0;
            for (struct free_block *b = pg->free; b; b = b->next)
                n_free++;
            if (pg->cls != c || !pg->free || pg->in_use == 0 || n_free + pg->in_use != PAGE_SIZE / bs - 1) {
                kprintf("keel: check: kheap page %p of class %u: %u in use, %u free\n", (void *)pg, (unsigned)bs,
                        (unsigned)pg->in_use, (unsigned)n_free);
                bad++;
            }
        }
    }
    return bad;
}
