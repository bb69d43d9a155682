/*
 * netd_pcbpool.h - lwIP's TCP PCB pool, grown with use.
 *
 * lwIP's pools are static arrays (lwipopts.h: MEMP_MEM_MALLOC 0); the TCP
 * PCB pool starts at MEMP_NUM_TCP_PCB there, a size every guest can pay
 * for, and this module adds elements to it, a chunk of NETD_PCB_CHUNK at
 * a time from netd's memory budget, up to NETD_PCB_MAX in all: enough for
 * tlsd's 4,092 proxied connections (two sockets each) beside the other
 * clients' sockets and the TIME_WAIT ones.  Added elements are laid out
 * and guarded exactly as memp_init_pool lays out the static ones, and go
 * on the pool's free list, so lwIP cannot tell them apart; they are never
 * given back (a PCB freed goes back on the list, as any other).
 *
 * When: netd_pcbpool_topup, at the top of every pass of netd's loop, keeps
 * at least NETD_PCB_LOW elements free, more than one pass can take (each
 * pass takes at most RX_BUDGET frames per NIC and REQ_BATCH requests, each
 * allocating at most one PCB).  An empty pool is the thing to avoid: lwIP's
 * tcp_alloc then kills the longest-idle connection of the same priority
 * to make room, and an idle TLS connection held open is exactly that.
 *
 * State: file-scope (one lwIP per program).  Single-threaded (netd's loop).
 */
#ifndef NETD_PCBPOOL_H
#define NETD_PCBPOOL_H

#include <stdbool.h>
#include <stdint.h>

#define NETD_PCB_MAX   8448u /* 2 x 4,092 for tlsd, the rest for opsd, listeners and TIME_WAIT */
#define NETD_PCB_CHUNK 256u  /* elements added at a time (one frame) */
#define NETD_PCB_LOW   384u  /* free elements kept at the top of a pass */

/* Adds chunks until NETD_PCB_LOW elements are free, NETD_PCB_MAX exist, or
 * the budget is spent (logged once).  Returns true when it added any. */
bool netd_pcbpool_topup(void);

/* Elements in the pool (static and added) and bytes mapped for the added. */
void netd_pcbpool_size(uint32_t *elements, uint64_t *bytes);

/* Bytes one PCB takes in the pool (lwIP's struct tcp_pcb and its guards). */
uint32_t netd_pcbpool_stride(void);

#endif
