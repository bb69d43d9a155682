/*
 * keel/nic_client.h - the client side of the NIC protocol (abi/keel/nic.h),
 * for netd and the test clients: attach, buffers, batches, restarts.
 *
 * The client owns every buffer that is not in a ring; it keeps them on a
 * free stack.  A typical loop:
 *
 *   nic_client_attach(&c);                       once, and after a restart
 *   for (;;) {
 *       keel_wait(c.ntfn, 0, &bits);             "frames waiting" / "sent"
 *       nic_client_reclaim(&c);                  tx_done -> free stack
 *       while (nic_client_rx(&c, &d)) {          a received frame
 *           ... handle buf(d); then either nic_client_send(&c, d.offset, len)
 *           (reuse the buffer for a reply) or nic_client_release(&c, d.offset) ...
 *       }
 *       if (nic_client_flush(&c) == NIC_CLIENT_RESTARTED)   one NIC_KICK per batch
 *           nic_client_attach(&c);
 *   }
 * Everything the driver put in a ring is checked (nic_desc_ok) before use.
 */
#ifndef KEEL_LIB_NIC_CLIENT_H
#define KEEL_LIB_NIC_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/nic.h>
#include <keel/nic_ring.h>

struct nic_client {
    uint64_t ep;            /* send capability to the driver ("ep:NAME") */
    uint64_t ntfn;          /* the driver's events ("notify:NAME") */
    struct nic_shared *shm; /* the shared region, mapped by the caller */
    uint8_t mac[6];
    bool link_up;
    uint32_t generation; /* the driver instance we attached to */
    uint32_t n_free;
    uint32_t free[NIC_BUF_COUNT];
    uint64_t bad_desc;     /* descriptors from the driver we refused */
    uint64_t tx_ring_full; /* frames dropped because tx_send was full */
};

enum nic_client_result {
    NIC_CLIENT_OK = 0,
    NIC_CLIENT_RESTARTED = 1, /* the driver is a new instance: attach again */
};

/* NIC_INFO, reset the rings, fill rx_free, NIC_START; retries until a
 * driver instance accepts.  Every buffer becomes the client's again. */
int64_t nic_client_attach(struct nic_client *c);
/* A pointer to the buffer at OFFSET (an offset nic_desc_ok accepted). */
static inline uint8_t *nic_client_buf(struct nic_client *c, uint32_t offset) { return (uint8_t *)c->shm + offset; }
/* Takes buffers back from tx_done. */
void nic_client_reclaim(struct nic_client *c);
/* The next received frame (checked), or false. */
bool nic_client_rx(struct nic_client *c, struct nic_desc *d);
/* A free buffer for a new frame (0 when none is free). */
uint32_t nic_client_alloc(struct nic_client *c);
/* Gives a buffer back unused. */
void nic_client_release(struct nic_client *c, uint32_t offset);
/* Queues buffer OFFSET holding LEN bytes for transmission (the buffer is
 * the driver's until tx_done returns it; dropped and counted when the ring
 * is full). */
void nic_client_send(struct nic_client *c, uint32_t offset, uint16_t len);
/* Refills rx_free and tells the driver about the batch (one NIC_KICK). */
int64_t nic_client_flush(struct nic_client *c);

#endif
