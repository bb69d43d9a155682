/*
 * virtq.c - the driver side of a split virtqueue (virtio 1.2 section 2.7).
 *
 * Memory: one DMA area per queue, laid out by vq_init as
 *   descriptor table  16 * size bytes             (2.7.5, 16-byte aligned)
 *   available ring    4 + 2 * size + 2 (used_event) (2.7.6, 2-byte aligned)
 *   used ring         4 + 8 * size + 2 (avail_event) (2.7.8, 4-byte aligned)
 * The driver writes the first two, the device the third.  Everything else
 * in struct virtq is private to the driver, and the driver never decides
 * anything from memory the device can write except used->idx, the used
 * elements and avail_event, each of which is checked.
 *
 * Lifecycle of a chain: vq_add takes descriptors off the free list, fills
 * them and writes the head into the next available-ring slot (invisible to
 * the device until vq_publish stores avail->idx); the device processes it
 * and writes a used element; vq_pop checks that element and puts the chain
 * back on the free list.  After a device reset, vq_reclaim takes back the
 * chains the device never returned.
 *
 * Memory ordering (x86-64, cache-coherent DMA, so only ordering matters,
 * never cache flushes).  Three kinds of barrier, each named where used:
 *   vq_wmb   store -> store: x86 never reorders stores with stores (TSO),
 *            so this only stops the compiler moving the ring-entry stores
 *            after the index store that publishes them.
 *   vq_rmb   load -> load: x86 never reorders loads with loads; stops the
 *            compiler reading a used element before used->idx says it is
 *            there.
 *   vq_mb    store -> load: the one reordering x86 does (a load may pass an
 *            earlier store still in the store buffer).  Needed where the
 *            driver publishes something and then reads what the device
 *            decided, e.g. stores avail->idx and then reads whether the
 *            device wants a notification: without the fence the driver
 *            could read a stale "no notify" while the device reads the stale
 *            idx, and both would sleep.  An mfence.
 *
 * Interrupt suppression: without VIRTIO_F_RING_EVENT_IDX, vq_disarm sets
 * VIRTQ_AVAIL_F_NO_INTERRUPT and vq_arm clears it (a hint the device may
 * ignore).  With it, vq_arm writes used_event = last_used ("interrupt when
 * you pass the entry I will read next"); the device then interrupts once,
 * and not again until the driver re-arms, so vq_disarm has nothing to do
 * (after 65536 more used entries without a re-arm the index wraps past
 * used_event and one spurious interrupt may arrive, which is harmless).
 * Notification suppression the other way is in vq_publish.
 *
 * Pure code: no system calls; host-tested by tests/unit/test_virtio_vq.c.
 */
#include "virtio.h"

#define vq_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define vq_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define vq_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)

static size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

static size_t avail_offset(uint16_t size) { return 16u * size; }
static size_t used_offset(uint16_t size) { return align_up(avail_offset(size) + 4 + 2u * size + 2, 4); }

size_t vq_mem_bytes(uint16_t size) { return used_offset(size) + 4 + 8u * size + 2; }

int vq_init(struct virtq *q, uint16_t index, uint16_t size, void *mem, uint64_t phys, bool event_idx)
{
    if (size == 0 || size > VQ_MAX_SIZE || (size & (size - 1)) != 0)
        return VIO_E_INVAL;
    if (((uintptr_t)mem | phys) % 16 != 0)
        return VIO_E_INVAL;
    uint8_t *base = mem;
    volatile uint8_t *vbase = base;
    for (size_t i = 0; i < vq_mem_bytes(size); i++)
        vbase[i] = 0; /* volatile: device memory is never "dead stores" */
    *q = (struct virtq){
        .size = size,
        .index = index,
        .event_idx = event_idx,
        .desc = (volatile struct virtq_desc *)base,
        .avail = (volatile struct virtq_avail *)(base + avail_offset(size)),
        .used = (volatile struct virtq_used *)(base + used_offset(size)),
        .desc_phys = phys,
        .avail_phys = phys + avail_offset(size),
        .used_phys = phys + used_offset(size),
        .free_head = 0,
        .num_free = size,
    };
    q->used_event = &q->avail->ring[size];
    q->avail_event = (volatile uint16_t *)&q->used->ring[size];
    for (uint16_t i = 0; i < size; i++)
        q->next[i] = (uint16_t)(i + 1 < size ? (unsigned)i + 1 : VQ_NONE);
    return VIO_OK;
}

int vq_add(struct virtq *q, const struct vq_seg *segs, unsigned n_out, unsigned n_in, uint32_t cookie)
{
    unsigned n = n_out + n_in;
    if (n == 0 || n > q->size)
        return VIO_E_INVAL;
    for (unsigned i = 0; i < n; i++)
        if (segs[i].len == 0)
            return VIO_E_INVAL; /* the device may treat a 0-length buffer as an error */
    if (n > q->num_free)
        return VIO_E_FULL;
    /* point of no return: n descriptors are free, the chain will be added */
    uint16_t head = q->free_head, d = head;
    uint64_t writable = 0;
    for (unsigned i = 0; i < n; i++) {
        volatile struct virtq_desc *vd = &q->desc[d];
        uint16_t flags = i >= n_out ? VIRTQ_DESC_F_WRITE : 0;
        if (i >= n_out)
            writable += segs[i].len;
        vd->addr = segs[i].phys;
        vd->len = segs[i].len;
        if (i + 1 < n) {
            flags |= VIRTQ_DESC_F_NEXT;
            vd->next = q->next[d];
        } else {
            vd->next = 0;
        }
        vd->flags = flags;
        if (i + 1 < n)
            d = q->next[d];
    }
    /* d is the chain's last descriptor; the free list continues after it. */
    q->free_head = q->next[d];
    q->num_free = (uint16_t)(q->num_free - n);
    q->chain_len[head] = (uint16_t)n;
    q->writable[head] = writable > UINT32_MAX ? UINT32_MAX : (uint32_t)writable;
    q->cookie[head] = cookie;
    /* The slot is invisible to the device until avail->idx moves past it. */
    q->avail->ring[q->avail_idx & (q->size - 1)] = head;
    q->avail_idx++;
    return head;
}

bool vq_publish(struct virtq *q)
{
    uint16_t old = q->published, now = q->avail_idx;
    if (old == now)
        return false;
    /* vq_wmb: the descriptors and ring slots written by vq_add must be
     * visible before the index that hands them to the device. */
    vq_wmb();
    q->avail->idx = now;
    q->published = now;
    /* vq_mb: our idx store must be globally visible before we read the
     * device's suppression state; see the file comment. */
    vq_mb();
    if (q->event_idx)
        return vq_need_event(*q->avail_event, now, old);
    return !(q->used->flags & VIRTQ_USED_F_NO_NOTIFY);
}

bool vq_has_used(const struct virtq *q) { return q->used->idx != q->last_used; }

/* Puts the chain headed by HEAD (which the driver owns again) on the free list. */
static void free_chain(struct virtq *q, uint16_t head)
{
    uint16_t tail = head;
    for (uint16_t i = 1; i < q->chain_len[head]; i++)
        tail = q->next[tail];
    q->next[tail] = q->free_head;
    q->free_head = head;
    q->num_free = (uint16_t)(q->num_free + q->chain_len[head]);
    q->chain_len[head] = 0;
}

int vq_pop(struct virtq *q, uint32_t *cookie, uint32_t *len)
{
    uint16_t used_idx = q->used->idx;
    if (used_idx == q->last_used)
        return 0;
    /* The device cannot have used more chains than it was given. */
    if ((uint16_t)(used_idx - q->last_used) > (uint16_t)(q->published - q->last_used))
        return VIO_E_DEVICE;
    /* vq_rmb: read the element only after the idx that covers it. */
    vq_rmb();
    volatile struct virtq_used_elem *e = &q->used->ring[q->last_used & (q->size - 1)];
    uint32_t id = e->id, n = e->len;
    /* The id must name the head of a chain the device holds; len must not
     * claim more bytes than the chain lets the device write. */
    if (id >= q->size || q->chain_len[id] == 0 || n > q->writable[id])
        return VIO_E_DEVICE;
    *cookie = q->cookie[id];
    *len = n;
    free_chain(q, (uint16_t)id);
    q->last_used++;
    return 1;
}

void vq_disarm(struct virtq *q)
{
    if (!q->event_idx)
        q->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
}

bool vq_arm(struct virtq *q)
{
    if (q->event_idx)
        *q->used_event = q->last_used;
    else
        q->avail->flags = 0;
    /* vq_mb: the request must be visible before we look at used->idx
     * again; otherwise an entry used in between could go unnoticed by us
     * while the device saw interrupts still off. */
    vq_mb();
    return vq_has_used(q);
}

int vq_reclaim(struct virtq *q, uint32_t *cookie)
{
    while (q->reclaim < q->size) {
        uint16_t h = q->reclaim++;
        if (q->chain_len[h]) {
            *cookie = q->cookie[h];
            free_chain(q, h);
            return 1;
        }
    }
    return 0;
}
