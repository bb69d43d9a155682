/*
 * kheap.c - size-class allocator for kernel objects.
 *
 * One free list per class (32 B .. 4 KiB).  A class that runs dry takes a
 * fresh frame from the pmm and splits it.  Freed blocks go back on their
 * list; pages are not returned to the pmm (kernel objects are few and
 * bounded by budgets; fragmentation across classes is acceptable here).
 * The caller passes the size to free, as it always knows its object type:
 * no header per block.  Single CPU, interrupts off in the kernel: no lock.
 */
#include "kheap.h"

#include "kstring.h"
#include "log.h"
#include "pmm.h"
#include "vm.h"

#define MIN_SHIFT 5
#define N_CLASSES 8 /* 32 << 7 = 4096 */

struct free_block {
    struct free_block *next;
};

static struct free_block *free_lists[N_CLASSES];
static uint64_t bytes_in_use;

static int class_of(size_t size)
{
    int c = 0;
    while (((size_t)1 << (MIN_SHIFT + c)) < size)
        c++;
    return c;
}

size_t kheap_block_size(size_t size) { return (size_t)1 << (MIN_SHIFT + class_of(size)); }

static int refill(int c)
{
    uint64_t frame = pmm_alloc();
    if (!frame)
        return -1;
    size_t bs = (size_t)1 << (MIN_SHIFT + c);
    char *page = phys_to_virt(frame);
    for (size_t off = 0; off < PAGE_SIZE; off += bs) {
        struct free_block *b = (struct free_block *)(page + off);
        b->next = free_lists[c];
        free_lists[c] = b;
    }
    return 0;
}

void *kheap_alloc(size_t size)
{
    if (size == 0 || size > KHEAP_MAX)
        return NULL;
    int c = class_of(size);
    if (!free_lists[c] && refill(c) < 0)
        return NULL;
    struct free_block *b = free_lists[c];
    free_lists[c] = b->next;
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
    int c = class_of(size);
    size_t bs = (size_t)1 << (MIN_SHIFT + c);
    KASSERT(((uint64_t)p & (bs - 1)) == 0, "kheap_free of a pointer not from kheap");
    memset(p, 0xdd, bs); /* poison: a use after free shows up as 0xdddd... */
    struct free_block *b = p;
    b->next = free_lists[c];
    free_lists[c] = b;
    bytes_in_use -= bs;
}

uint64_t kheap_bytes_in_use(void) { return bytes_in_use; }
