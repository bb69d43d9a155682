/*
 * keel/blk_client.h - the thin client library of the block protocol
 * (abi/keel/blk.h).  One struct blk_client per disk; single-threaded.
 *
 * The client copies between its own buffers and the region it shares
 * with the driver, and splits long transfers into requests the region
 * holds, so callers see plain sector reads and writes.  Every function
 * returns 0 (or a count) on success or a negative BLK_E_* / KE_* code.
 */
#ifndef KEEL_LIB_BLK_CLIENT_H
#define KEEL_LIB_BLK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <keel/blk.h>

struct blk_client {
    uint64_t ep;          /* the driver's endpoint */
    uint8_t *base;        /* the shared region, mapped */
    uint64_t max_sectors; /* sectors one request moves (the region's size) */
    uint64_t capacity;    /* sectors, from BLK_INFO */
    uint32_t flags;       /* BLK_F_* */
    uint32_t generation;  /* the driver's, at blk_open */
};

/* Maps region SHM (a frame capability) at VA and asks the driver on EP
 * for the disk's size: 0, or an error (the region unmappable: KE_*; no
 * device: BLK_E_NO_DEVICE). */
int64_t blk_open(struct blk_client *c, uint64_t ep, uint64_t shm, uint64_t va) __attribute__((warn_unused_result));

/* N sectors from SECTOR into BUF (N * BLK_SECTOR bytes). */
int64_t blk_read(struct blk_client *c, uint64_t sector, uint64_t n, void *buf) __attribute__((warn_unused_result));
/* N sectors from BUF to SECTOR; durable only after blk_flush. */
int64_t blk_write(struct blk_client *c, uint64_t sector, uint64_t n, const void *buf)
    __attribute__((warn_unused_result));
/* Everything written so far onto stable storage. */
int64_t blk_flush(struct blk_client *c) __attribute__((warn_unused_result));

/* A name for an error code, for messages. */
const char *blk_strerror(int64_t err);

#endif
