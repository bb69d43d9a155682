/*
 * keel/blk.h - the block protocol: a disk driver (virtio-blk, program
 * `virtio-blk`) serves it on its endpoint "serve:NAME" to the one client
 * that shares its data region with it (the manifest's `share NAME PAGES`;
 * consoled's configuration store is the only client today).
 *
 * Bulk data never rides in the IPC: it sits in the shared region, and a
 * request names a byte offset in it.  The driver hands the region's
 * physical pages straight to the device (no copy), so the offset and the
 * length are checked against the region before anything is posted.
 *
 *   BLK_INFO   -> MR0 capacity in 512-byte sectors, MR1 BLK_F_* flags,
 *                 MR2 the most sectors one request may move (the region's
 *                 size), MR3 the driver's generation (init's restart count
 *                 + 1: a restarted driver is never taken for its earlier
 *                 self).
 *   BLK_READ   MR0 first sector, MR1 sectors, MR2 byte offset in the region
 *              -> 0: the sectors are in the region at that offset.
 *   BLK_WRITE  MR0 first sector, MR1 sectors, MR2 byte offset in the region
 *              -> 0: the device took them (not yet durable: BLK_FLUSH).
 *   BLK_FLUSH  -> 0: everything written before is on stable storage (a
 *                 device without a write cache answers at once).
 *
 * Every reply label is 0 or a negative BLK_E_* / KE_* code.  The driver
 * answers each request after the device has (or a deadline of
 * BLK_TIMEOUT_MS has passed), so a call takes at most that long.
 */
#ifndef KEEL_ABI_BLK_H
#define KEEL_ABI_BLK_H

#include <keel/errors.h>

#define BLK_SECTOR     512u  /* bytes in a sector (the protocol's unit) */
#define BLK_TIMEOUT_MS 5000u /* a device silent this long is broken */

enum blk_label {
    BLK_INFO = 1,
    BLK_READ = 2,
    BLK_WRITE = 3,
    BLK_FLUSH = 4,
};

/* BLK_INFO MR1 flags. */
#define BLK_F_READONLY 0x1u /* writes are refused (BLK_E_READONLY) */
#define BLK_F_FLUSH    0x2u /* the device has a write cache that BLK_FLUSH empties */

enum blk_error {
    BLK_E_NO_DEVICE = -300,   /* the driver has no working device */
    BLK_E_RANGE = -301,       /* sectors beyond the capacity, zero sectors, or past the region */
    BLK_E_IO = -302,          /* the device reported an I/O error */
    BLK_E_READONLY = -303,    /* BLK_WRITE on a read-only disk */
    BLK_E_TIMEOUT = -304,     /* the device did not answer within BLK_TIMEOUT_MS */
    BLK_E_UNSUPPORTED = -305, /* the device refused the request type */
    BLK_E_CLIENT = -306,      /* the caller is not the client that shares the region */
};
_Static_assert(KEEL_ERR_IN(BLK, BLK_E_NO_DEVICE) && KEEL_ERR_IN(BLK, BLK_E_CLIENT),
               "BLK_E_* in its range (keel/errors.h)");

#endif
