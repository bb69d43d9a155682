/*
 * netd_pcbpool.c - lwIP's TCP PCB pool grown with use; the design is in
 * netd_pcbpool.h.
 *
 * Frames map at PCB_VA upward, one per chunk, from netd's budget (the
 * manifest's `memory`).  This reaches into lwIP's pool descriptor
 * (lwip/priv/memp_priv.h: the free list `tab`, the element size, the
 * statistics) the way memp_init_pool fills it, with the same guard bytes
 * (MEMP_OVERFLOW_CHECK 1: mem_overflow_init_raw), so memp_free checks an
 * added element like a static one.
 */
#include <keel/init.h>
#include <keel/server.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "lwip/memp.h"
#include "lwip/priv/mem_priv.h"
#include "lwip/priv/memp_priv.h"
#include "lwip/stats.h"

#include "netd_pcbpool.h"

#define PCB_VA   0x0000006e00000000ull /* added chunks, one frame each, upward */
#define PAGE     4096u
#define RETRY_NS 1000000000ull /* a refused frame: ask again a second later */

_Static_assert(NETD_PCB_MAX > MEMP_NUM_TCP_PCB, "the pool grows beyond the static part");
_Static_assert(NETD_PCB_LOW < NETD_PCB_MAX - MEMP_NUM_TCP_PCB, "room to keep some free");

static struct {
    uint32_t added;    /* elements added (the pool holds MEMP_NUM_TCP_PCB + added) */
    uint64_t mapped;   /* bytes of frames mapped from PCB_VA */
    bool said_short;   /* the budget ran out (logged once) */
    uint64_t retry_ns; /* after a refused frame: not before this (sockets closing give budget back) */
} P;

/* Bytes one element takes, as memp_init_pool strides them. */
static uint32_t stride(const struct memp_desc *desc)
{
    uint32_t s = MEMP_SIZE + desc->size;
#if MEMP_OVERFLOW_CHECK
    s += MEM_SANITY_REGION_AFTER_ALIGNED;
#endif
    return s;
}

/* Free elements now: what the pool holds minus what is in use. */
static uint32_t pool_free(const struct memp_desc *desc) { return MEMP_NUM_TCP_PCB + P.added - desc->stats->used; }

/* Maps one more chunk and puts its elements on the free list.  Returns
 * false when the budget has no frame for it. */
static bool add_chunk(const struct memp_desc *desc)
{
    uint32_t n = NETD_PCB_CHUNK;
    if (MEMP_NUM_TCP_PCB + P.added + n > NETD_PCB_MAX)
        n = NETD_PCB_MAX - MEMP_NUM_TCP_PCB - P.added;
    uint64_t pages = ((uint64_t)n * stride(desc) + PAGE - 1) / PAGE;
    uint64_t slot = srv_free_slot();
    int64_t err = slot ? keel_obj_create(SRV_SLOT_MEMORY, OBJ_FRAME, slot, pages) : KE_NO_MEMORY;
    uint64_t va = PCB_VA + P.mapped;
    if (err == KE_OK) {
        err = keel_map(SRV_SLOT_TASK, slot, va, RIGHT_READ | RIGHT_WRITE);
        (void)keel_cap_delete(slot); /* the mapping keeps the frame */
    }
    if (err != KE_OK) {
        if (!P.said_short)
            ulog("netd: the TCP pool stays at %u PCBs: no frame of %llu pages for more (error %lld; the manifest's "
                 "memory for netd?)\n",
                 (unsigned)(MEMP_NUM_TCP_PCB + P.added), (unsigned long long)pages, (long long)err);
        P.said_short = true;
        P.retry_ns = keel_now_ns() + RETRY_NS;
        return false;
    }
    /* point of no return */
    uint8_t *at = (uint8_t *)va;
    for (uint32_t i = 0; i < n; i++, at += stride(desc)) {
        struct memp *m = (struct memp *)(void *)at;
#if MEMP_OVERFLOW_CHECK
        mem_overflow_init_raw(at + MEMP_SIZE, desc->size);
#endif
        m->next = *desc->tab;
        *desc->tab = m;
    }
    P.added += n;
    P.mapped += pages * PAGE;
    desc->stats->avail += n;
    return true;
}

bool netd_pcbpool_topup(void)
{
    const struct memp_desc *desc = memp_pools[MEMP_TCP_PCB];
    bool any = false;
    if (pool_free(desc) >= NETD_PCB_LOW || MEMP_NUM_TCP_PCB + P.added >= NETD_PCB_MAX)
        return false;
    if (P.retry_ns && keel_now_ns() < P.retry_ns)
        return false;
    P.retry_ns = 0;
    while (pool_free(desc) < NETD_PCB_LOW && MEMP_NUM_TCP_PCB + P.added < NETD_PCB_MAX && add_chunk(desc))
        any = true;
    return any;
}

void netd_pcbpool_size(uint32_t *elements, uint64_t *bytes)
{
    *elements = MEMP_NUM_TCP_PCB + P.added;
    *bytes = P.mapped;
}

uint32_t netd_pcbpool_stride(void) { return stride(memp_pools[MEMP_TCP_PCB]); }
