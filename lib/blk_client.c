/*
 * blk_client.c - the block protocol's client side (keel/blk_client.h):
 * copies through the region shared with the driver, one request per
 * region-full, offset 0 every time (one request is in flight at a time,
 * so the region needs no allocator).  Holds no state beyond struct
 * blk_client; a restarted driver answers the next call (its generation
 * is in BLK_INFO, should a caller care).
 */
#include <keel/blk_client.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>

static int64_t blk_call(struct blk_client *c, uint32_t label, unsigned words, struct keel_msg *m)
{
    m->info = SRV_LABEL(label, words);
    int64_t err = keel_call(c->ep, m);
    if (err)
        return err;
    return (int64_t)(int32_t)keel_label(m);
}

int64_t blk_open(struct blk_client *c, uint64_t ep, uint64_t shm, uint64_t va)
{
    uint64_t pages = 0;
    int64_t err = keel_frame_info(shm, NULL, &pages);
    if (!err && pages == 0)
        err = KE_RANGE;
    if (!err)
        err = keel_map(SRV_SLOT_TASK, shm, va, RIGHT_READ | RIGHT_WRITE);
    if (err)
        return err;
    c->ep = ep;
    c->base = (uint8_t *)va;
    struct keel_msg m = { 0 };
    err = blk_call(c, BLK_INFO, 0, &m);
    if (err)
        return err;
    c->capacity = m.mr[0];
    c->flags = (uint32_t)m.mr[1];
    c->max_sectors = m.mr[2] < pages * 4096 / BLK_SECTOR ? m.mr[2] : pages * 4096 / BLK_SECTOR;
    c->generation = (uint32_t)m.mr[3];
    return c->max_sectors ? 0 : BLK_E_RANGE;
}

/* One request of at most max_sectors at region offset 0. */
static int64_t blk_rw(struct blk_client *c, uint32_t label, uint64_t sector, uint64_t n)
{
    struct keel_msg m = { 0 };
    m.mr[0] = sector;
    m.mr[1] = n;
    m.mr[2] = 0;
    return blk_call(c, label, 3, &m);
}

int64_t blk_read(struct blk_client *c, uint64_t sector, uint64_t n, void *buf)
{
    uint8_t *p = buf;
    while (n) {
        uint64_t k = n < c->max_sectors ? n : c->max_sectors;
        int64_t r = blk_rw(c, BLK_READ, sector, k);
        if (r)
            return r;
        memcpy(p, c->base, k * BLK_SECTOR);
        p += k * BLK_SECTOR;
        sector += k;
        n -= k;
    }
    return 0;
}

int64_t blk_write(struct blk_client *c, uint64_t sector, uint64_t n, const void *buf)
{
    const uint8_t *p = buf;
    while (n) {
        uint64_t k = n < c->max_sectors ? n : c->max_sectors;
        memcpy(c->base, p, k * BLK_SECTOR);
        int64_t r = blk_rw(c, BLK_WRITE, sector, k);
        if (r)
            return r;
        p += k * BLK_SECTOR;
        sector += k;
        n -= k;
    }
    return 0;
}

int64_t blk_flush(struct blk_client *c)
{
    struct keel_msg m = { 0 };
    return blk_call(c, BLK_FLUSH, 0, &m);
}

const char *blk_strerror(int64_t err)
{
    switch (err) {
    case 0: return "ok";
    case BLK_E_NO_DEVICE: return "no working disk";
    case BLK_E_RANGE: return "beyond the disk or the region";
    case BLK_E_IO: return "I/O error";
    case BLK_E_READONLY: return "the disk is read-only";
    case BLK_E_TIMEOUT: return "the disk did not answer";
    case BLK_E_UNSUPPORTED: return "the disk refused the request";
    case BLK_E_CLIENT: return "not this driver's client";
    case KE_DEAD: return "the disk driver died";
    default: return "error";
    }
}
