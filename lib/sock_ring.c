/*
 * sock_ring.c - page lists and page pools of the socket rings; the
 * contract is in keel/sock_ring.h, the shared layout in abi/keel/socket.h.
 *
 * Invariants (for a producer that follows the room rule): the bytes in
 * flight [tail, head) span at most SOCK_RING_PAGES pages counted from
 * tail's page, so each of those pages has a slot of its own; a slot holds
 * a page exactly while one of those bytes, or the byte at head about to
 * be written, lies in it.  sock_ring_reclaim restores the second half
 * after the consumer moved.
 */
#include <keel/sock_ring.h>
#include <keel/string.h>

#define PAGE      4096u
#define PAGE_MASK (PAGE - 1)
#define SLOT(pos) (((pos) / PAGE) % SOCK_RING_PAGES)

void sock_pool_init(struct sock_pool *p, uint16_t *link, uint32_t first, uint32_t pages)
{
    p->link = link;
    p->first = first;
    p->pages = pages;
    p->fresh = first;
    p->head = 0;
    p->nfree = pages > first ? pages - first : 0;
}

uint32_t sock_pool_take(struct sock_pool *p)
{
    uint32_t e = 0;
    if (p->head) {
        e = p->head;
        p->head = p->link[e - 1];
    } else if (p->fresh < p->pages) {
        e = ++p->fresh; /* page fresh (before the increment), as an entry */
    }
    if (e)
        p->nfree--;
    return e;
}

void sock_pool_give(struct sock_pool *p, uint32_t e)
{
    p->link[e - 1] = (uint16_t)p->head;
    p->head = e;
    p->nfree++;
}

uint32_t sock_ring_room(uint32_t head, uint32_t tail)
{
    if (head - tail > SOCK_RING_BYTES)
        return 0; /* a tail beyond head */
    uint32_t used = head - (tail & ~PAGE_MASK);
    return used > SOCK_RING_BYTES ? 0 : SOCK_RING_BYTES - used;
}

uint32_t sock_ring_pages_wanted(const uint16_t *list, uint32_t head, uint32_t n)
{
    uint32_t want = 0;
    for (uint32_t pos = head; n;) {
        uint32_t k = PAGE - (pos & PAGE_MASK);
        if (k > n)
            k = n;
        if (!list[SLOT(pos)])
            want++;
        pos += k;
        n -= k;
    }
    return want;
}

uint32_t sock_ring_write(uint16_t *list, uint16_t *mirror, struct sock_pool *pool, uint8_t *base, uint32_t head,
                         const void *src, uint32_t n)
{
    uint32_t done = 0;
    while (done < n) {
        uint32_t pos = head + done, slot = SLOT(pos), k = PAGE - (pos & PAGE_MASK);
        if (k > n - done)
            k = n - done;
        if (!list[slot]) {
            uint32_t e = sock_pool_take(pool);
            if (!e)
                break;
            list[slot] = (uint16_t)e;
            if (mirror)
                mirror[slot] = (uint16_t)e;
        }
        memcpy(base + (uint64_t)(list[slot] - 1) * PAGE + (pos & PAGE_MASK), (const uint8_t *)src + done, k);
        done += k;
    }
    return done;
}

uint32_t sock_ring_span(const uint16_t *list, uint32_t pool_pages, const uint8_t *base, uint32_t pos, uint32_t n,
                        const uint8_t **out)
{
    uint32_t k = PAGE - (pos & PAGE_MASK);
    if (k > n)
        k = n;
    /* Read once: the other side may change the entry under us. */
    uint32_t e = __atomic_load_n(&list[SLOT(pos)], __ATOMIC_RELAXED);
    *out = (e && e <= pool_pages) ? base + (uint64_t)(e - 1) * PAGE + (pos & PAGE_MASK) : NULL;
    return k;
}

void sock_ring_read(const uint16_t *list, uint32_t pool_pages, const uint8_t *base, uint32_t tail, void *dst,
                    uint32_t n)
{
    for (uint32_t done = 0; done < n;) {
        const uint8_t *p;
        uint32_t k = sock_ring_span(list, pool_pages, base, tail + done, n - done, &p);
        if (p)
            memcpy((uint8_t *)dst + done, p, k);
        else
            memset((uint8_t *)dst + done, 0, k);
        done += k;
    }
}

uint32_t sock_ring_reclaim(uint16_t *list, uint16_t *mirror, struct sock_pool *pool, uint32_t head, uint32_t tail)
{
    /* Slots of the pages [tail's page, head's page] hold bytes in flight;
     * none when the ring is empty.  A tail beyond head or too far behind
     * it (a lying consumer) keeps every page: nothing is freed early. */
    uint32_t keep = 0, first = tail & ~PAGE_MASK;
    if (head != tail) {
        if (head - tail > SOCK_RING_BYTES)
            return 0;
        keep = (head - 1 - first) / PAGE + 1;
    }
    uint32_t freed = 0;
    for (uint32_t i = keep; i < SOCK_RING_PAGES; i++) {
        uint32_t slot = SLOT(first + i * PAGE);
        if (!list[slot])
            continue;
        sock_pool_give(pool, list[slot]);
        list[slot] = 0;
        if (mirror)
            mirror[slot] = 0;
        freed++;
    }
    return freed;
}

uint32_t sock_ring_held(const uint16_t *list)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < SOCK_RING_PAGES; i++)
        n += list[i] != 0;
    return n;
}

int sock_dgram_check(const struct sock_dgram *h, uint32_t avail, bool allow6, uint32_t *rec)
{
    *rec = 0;
    if (avail < sizeof *h)
        return SOCK_E_TRUNCATED;
    uint32_t len = h->len & SOCK_DGRAM_LEN_MASK;
    bool v6 = (h->len & SOCK_DGRAM_IP6) != 0;
    if ((h->len & ~(SOCK_DGRAM_LEN_MASK | SOCK_DGRAM_IP6)) || len > SOCK_DGRAM_MAX)
        return SOCK_E_INVALID;
    uint32_t n = sock_dgram_rec(len, v6);
    if (n > avail)
        return SOCK_E_TRUNCATED;
    *rec = n;
    return (v6 && !allow6) ? SOCK_E_INVALID : 0;
}
