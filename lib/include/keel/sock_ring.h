/*
 * keel/sock_ring.h - the socket rings' page lists and page pools
 * (abi/keel/socket.h: "The shared region"), used by both ends: the client
 * library (tx producer, rx consumer) and netd (rx producer, tx consumer).
 *
 * A ring is a 64 KiB window of free-running stream positions; position P
 * lives in pool page list[(P / 4096) % SOCK_RING_PAGES] - 1 at offset
 * P % 4096.  A pool is the set of pages one producer hands out: a free
 * list linked through an array the owner provides (one uint16_t per page,
 * never in memory the other side may write), plus a "fresh" mark below
 * which pages were never used, so setting up a pool touches no page.
 *
 * Pure logic over memory the caller passes: no atomics here (the caller
 * loads and publishes head and tail), no allocation, no system calls; the
 * unit test tests/unit/test_sock_ring.c runs it on the host.
 */
#ifndef KEEL_LIB_SOCK_RING_H
#define KEEL_LIB_SOCK_RING_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/socket.h>

/* A pool of pages [first, pages) of a region; entries name page i as i + 1. */
struct sock_pool {
    uint16_t *link; /* link[i]: the next free page's entry after page i, 0 = end (owner's memory) */
    uint32_t first; /* pages below first are not handed out (the client keeps its links there) */
    uint32_t pages; /* the region's pages (<= SOCK_POOL_MAX) */
    uint32_t fresh; /* pages [fresh, pages) were never handed out */
    uint32_t head;  /* the first free page's entry, 0 = none (besides the fresh ones) */
    uint32_t nfree; /* free pages, fresh ones included */
};

/* Sets P up over pages [FIRST, PAGES), all free; LINK holds PAGES entries. */
void sock_pool_init(struct sock_pool *p, uint16_t *link, uint32_t first, uint32_t pages);
/* A free page's entry (index + 1), or 0 when the pool is empty. */
uint32_t sock_pool_take(struct sock_pool *p);
/* Gives page entry E (from sock_pool_take) back. */
void sock_pool_give(struct sock_pool *p, uint32_t e);

/* Room a producer has in a ring at HEAD with the consumer at TAIL (0 when
 * TAIL is not within the window behind HEAD, a lying consumer). */
uint32_t sock_ring_room(uint32_t head, uint32_t tail);
/* Pages needed to write N bytes at HEAD that LIST does not have yet. */
uint32_t sock_ring_pages_wanted(const uint16_t *list, uint32_t head, uint32_t n);

/* Copies N bytes (<= the room) from SRC into the ring at HEAD, taking pages
 * from POOL for slots that have none; BASE is the address of the pool's
 * page 0.  LIST is the producer's authoritative page list; each entry it
 * sets is also stored in MIRROR when not NULL (the shared copy netd keeps
 * for the client).  Returns the bytes written: fewer than N when the pool
 * ran out of pages. */
uint32_t sock_ring_write(uint16_t *list, uint16_t *mirror, struct sock_pool *pool, uint8_t *base, uint32_t head,
                         const void *src, uint32_t n);
/* The bytes at POS up to the end of their page and at most N, and their
 * address in *OUT; *OUT = NULL when the page entry (read once from LIST) is
 * 0 or beyond POOL_PAGES (a lying producer: the caller skips the bytes). */
uint32_t sock_ring_span(const uint16_t *list, uint32_t pool_pages, const uint8_t *base, uint32_t pos, uint32_t n,
                        const uint8_t **out);
/* Copies N bytes at TAIL out of the ring into DST (bytes of a bad entry
 * read as zeros). */
void sock_ring_read(const uint16_t *list, uint32_t pool_pages, const uint8_t *base, uint32_t tail, void *dst,
                    uint32_t n);
/* Gives POOL back every page of LIST that holds no byte of [TAIL, HEAD)
 * (every page when TAIL == HEAD), clearing its entry (and MIRROR's);
 * returns how many.  The producer calls it with the tail it loaded. */
uint32_t sock_ring_reclaim(uint16_t *list, uint16_t *mirror, struct sock_pool *pool, uint32_t head, uint32_t tail);
/* Pages LIST holds. */
uint32_t sock_ring_held(const uint16_t *list);

/* A datagram record's bytes in a ring (socket.h): the header, the IPv6
 * address when V6, LEN payload bytes, padded to 8. */
static inline uint32_t sock_dgram_rec(uint32_t len, bool v6)
{
    return (uint32_t)sizeof(struct sock_dgram) + (v6 ? SOCK_DGRAM_ADDR6 : 0) + ((len + 7u) & ~7u);
}

/*
 * Checks datagram header H, read from a ring where AVAIL bytes are in
 * flight from its start; ALLOW6: the socket is dual stack (SOCK_ST_UDP6).
 * Returns
 *   0                 a good record: *REC = its bytes (sock_dgram_rec)
 *   SOCK_E_INVALID    a bad family: an IPv6 record when !ALLOW6 (*REC =
 *                     its bytes: the consumer skips just this record);
 *                     or a bad length (beyond SOCK_DGRAM_MAX, or a bit
 *                     besides SOCK_DGRAM_IP6 and the length: *REC = 0)
 *   SOCK_E_TRUNCATED  AVAIL does not hold the header, or the record is
 *                     longer than AVAIL (*REC = 0)
 * *REC = 0: nothing after this point can be trusted (skip to head).
 */
int sock_dgram_check(const struct sock_dgram *h, uint32_t avail, bool allow6, uint32_t *rec)
    __attribute__((warn_unused_result));

#endif
