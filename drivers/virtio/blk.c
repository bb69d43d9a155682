/*
 * blk.c - the virtio-blk server (program `virtio-blk`): one virtio block
 * device (virtio 1.2 section 5.2; PCI 1af4:1042 modern or 1af4:1001
 * transitional) for the block protocol of abi/keel/blk.h on its "serve:"
 * endpoint.
 *
 * Capabilities (found by prefix):
 *   serve:*    the endpoint its client calls
 *   shm:*      the data region shared with that client (a DMA frame: the
 *              device reads and writes its pages directly, no copy)
 *   client:*   init's notes of the badges that may call (everyone who
 *              `connect`s to our endpoint); other badges get BLK_E_CLIENT
 *   + the PCI device (BARs, IRQ, configuration snapshot) in si->pci.
 *
 * One request at a time, synchronously: a request is one chain on the
 * requestq (queue 0) - the 16-byte request header (5.2.6) from our DMA
 * arena, the data in the shared region, the status byte in our arena - and
 * the handler waits for the device (interrupt, with a BLK_TIMEOUT_MS
 * deadline on a one-shot timer) before replying.  Blocking in a handler is
 * acceptable here because the one client is a trusted local server
 * (consoled) that moves a few sectors per commit; the driver never waits
 * on its client.  A timed-out request is left posted; the device is reset
 * and the server faults on purpose (init restarts it with a new
 * generation) so nothing stale can complete into a later request's data.
 *
 * Checks, before anything is posted (validate, then commit): the sectors
 * lie inside the capacity, the byte range inside the region, the count is
 * not zero; writes on a read-only device are refused.  What the device
 * writes back (used id and length) is checked by virtq.c; the status byte
 * is mapped to BLK_E_IO / BLK_E_UNSUPPORTED.
 *
 * Not handled (deliberately): discard, write zeroes, multiqueue, more than
 * one request in flight (the configuration store needs none of them).
 */
#include <keel/blk.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "virtio.h"

/* Feature bits of the block device (spec 5.2.3). */
#define VIRTIO_BLK_F_RO    (1ull << 5)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

/* struct virtio_blk_config (spec 5.2.4): only capacity is read (RO). */
#define VBLK_CFG_CAPACITY 0 /* le64, 512-byte sectors; read as two 32-bit halves */

/* Request types and status values (spec 5.2.6). */
#define VIRTIO_BLK_T_IN     0u
#define VIRTIO_BLK_T_OUT    1u
#define VIRTIO_BLK_T_FLUSH  4u
#define VIRTIO_BLK_S_OK     0u
#define VIRTIO_BLK_S_IOERR  1u
#define VIRTIO_BLK_S_UNSUPP 2u

/* The device-readable header of every request (spec 5.2.6). */
struct virtio_blk_req_hdr {
    uint32_t type; /* VIRTIO_BLK_T_* */
    uint32_t reserved;
    uint64_t sector; /* in 512-byte units, whatever blk_size says */
};
_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "spec 5.2.6: the request header is 16 bytes");
_Static_assert(__builtin_offsetof(struct virtio_blk_req_hdr, sector) == 8, "spec 5.2.6: sector at 8");

#define VBLK_QUEUE      0 /* requestq (5.2.2) */
#define VBLK_QUEUE_MAX  8 /* one request in flight needs 3 descriptors */
#define VBLK_DMA_PAGES  1
#define VBLK_VA_SHM     VIO_VA_FREE
#define VBLK_MAX_CLIENT 8
#define NS_PER_MS       1000000ull

struct vblk {
    struct vio_dev dev;
    struct virtq q;
    bool ok;              /* the device is up; false: BLK_E_NO_DEVICE */
    uint32_t generation;  /* init's restarts + 1 */
    uint64_t capacity;    /* sectors */
    bool readonly, flush; /* negotiated VIRTIO_BLK_F_RO / _FLUSH */
    /* Our arena: the header and the status byte of the one request. */
    volatile struct virtio_blk_req_hdr *hdr;
    volatile uint8_t *status;
    uint64_t hdr_phys, status_phys;
    /* The client's region: mapped at VBLK_VA_SHM, physically contiguous. */
    uint64_t shm_phys, shm_bytes;
    uint64_t clients[VBLK_MAX_CLIENT]; /* badges allowed to call */
    unsigned n_clients;
};

__attribute__((noreturn)) static void vblk_fatal(struct vblk *v, const char *what, int err)
{
    ulog("virtio-blk: %s: %s; resetting the device and restarting", what, vio_strerror(err));
    vio_stop(&v->dev);
    __builtin_trap();
}

static bool vblk_client_ok(const struct vblk *v, uint64_t badge)
{
    for (unsigned i = 0; i < v->n_clients; i++)
        if (v->clients[i] == badge)
            return true;
    return false;
}

/* Waits for the one posted chain: VIO_OK, or BLK_E_TIMEOUT after the
 * deadline (then the caller gives up on the device). */
static int vblk_wait(struct vblk *v)
{
    uint64_t deadline = keel_now_ns() + BLK_TIMEOUT_MS * NS_PER_MS;
    bool armed_timer = false;
    for (;;) {
        uint32_t cookie, len;
        int r = vq_pop(&v->q, &cookie, &len);
        if (r < 0)
            vblk_fatal(v, "used ring", r);
        if (r > 0)
            break;
        if (vq_arm(&v->q))
            continue; /* it finished while we asked for the interrupt */
        if (!armed_timer) {
            (void)sys6(SYS_TIMER_ARM, v->dev.ntfn_slot, deadline, VIO_BIT_TIMER, 0, 0, 0);
            armed_timer = true;
        }
        uint64_t bits = 0;
        if (keel_wait(v->dev.ntfn_slot, 0, &bits) != KE_OK)
            vblk_fatal(v, "waiting for the interrupt", VIO_E_IRQ);
        if (bits & VIO_BIT_IRQ) {
            (void)vio_irq_cause(&v->dev);
            vio_irq_ack(&v->dev);
        }
        if ((bits & VIO_BIT_TIMER) && keel_now_ns() >= deadline && !vq_has_used(&v->q))
            return BLK_E_TIMEOUT;
    }
    vq_disarm(&v->q);
    if (armed_timer)
        (void)sys6(SYS_TIMER_ARM, v->dev.ntfn_slot, 0, 0, 0, 0, 0); /* disarm */
    return VIO_OK;
}

/* Posts one request (TYPE at SECTOR, N sectors at byte OFF of the region;
 * N 0 for a flush) and waits for it: 0 or a BLK_E_* code. */
static int64_t vblk_do(struct vblk *v, uint32_t type, uint64_t sector, uint64_t n, uint64_t off)
{
    struct vq_seg segs[3];
    unsigned n_out = 0, n_in = 0;
    v->hdr->type = type;
    v->hdr->reserved = 0;
    v->hdr->sector = sector;
    *v->status = 0xff; /* a device that writes nothing is not taken for OK */
    segs[n_out++] = (struct vq_seg){ v->hdr_phys, sizeof(struct virtio_blk_req_hdr) };
    struct vq_seg data = { v->shm_phys + off, (uint32_t)(n * BLK_SECTOR) };
    if (n && type == VIRTIO_BLK_T_OUT)
        segs[n_out++] = data;
    if (n && type == VIRTIO_BLK_T_IN)
        segs[n_out + n_in++] = data;
    segs[n_out + n_in++] = (struct vq_seg){ v->status_phys, 1 };
    int head = vq_add(&v->q, segs, n_out, n_in, 0);
    if (head < 0) /* only one request is ever in flight */
        vblk_fatal(v, "queue accounting", head);
    /* The device reads the header and data only after the doorbell, which
     * vio_kick rings after publishing (vq_publish orders the stores). */
    vio_kick(&v->dev, &v->q);
    int r = vblk_wait(v);
    if (r == BLK_E_TIMEOUT) {
        ulog("virtio-blk: the device did not answer within %u ms", BLK_TIMEOUT_MS);
        vblk_fatal(v, "request timed out", VIO_E_DEVICE);
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the status byte after the used entry */
    switch (*v->status) {
    case VIRTIO_BLK_S_OK: return 0;
    case VIRTIO_BLK_S_UNSUPP: return BLK_E_UNSUPPORTED;
    default: return BLK_E_IO;
    }
}

/* Common checks of BLK_READ / BLK_WRITE: sectors, region, client. */
static int64_t vblk_check(struct vblk *v, const struct keel_msg *m)
{
    if (!vblk_client_ok(v, m->badge))
        return BLK_E_CLIENT;
    if (!v->ok)
        return BLK_E_NO_DEVICE;
    uint64_t sector = m->mr[0], n = m->mr[1], off = m->mr[2];
    if (n == 0 || n > v->shm_bytes / BLK_SECTOR || sector >= v->capacity || n > v->capacity - sector)
        return BLK_E_RANGE;
    if (off % BLK_SECTOR || off > v->shm_bytes || n * BLK_SECTOR > v->shm_bytes - off)
        return BLK_E_RANGE;
    return 0;
}

static int64_t vblk_info(void *ctx, struct keel_msg *m)
{
    struct vblk *v = ctx;
    if (!vblk_client_ok(v, m->badge))
        return BLK_E_CLIENT;
    m->mr[0] = v->ok ? v->capacity : 0;
    m->mr[1] = (v->readonly ? BLK_F_READONLY : 0) | (v->flush ? BLK_F_FLUSH : 0);
    m->mr[2] = v->shm_bytes / BLK_SECTOR;
    m->mr[3] = v->generation;
    return v->ok ? 0 : BLK_E_NO_DEVICE;
}

static int64_t vblk_read(void *ctx, struct keel_msg *m)
{
    struct vblk *v = ctx;
    int64_t r = vblk_check(v, m);
    if (r)
        return r;
    return vblk_do(v, VIRTIO_BLK_T_IN, m->mr[0], m->mr[1], m->mr[2]);
}

static int64_t vblk_write(void *ctx, struct keel_msg *m)
{
    struct vblk *v = ctx;
    int64_t r = vblk_check(v, m);
    if (r)
        return r;
    if (v->readonly)
        return BLK_E_READONLY;
    return vblk_do(v, VIRTIO_BLK_T_OUT, m->mr[0], m->mr[1], m->mr[2]);
}

static int64_t vblk_flush(void *ctx, struct keel_msg *m)
{
    struct vblk *v = ctx;
    if (!vblk_client_ok(v, m->badge))
        return BLK_E_CLIENT;
    if (!v->ok)
        return BLK_E_NO_DEVICE;
    if (!v->flush)
        return 0; /* no write cache: a completed write is durable */
    return vblk_do(v, VIRTIO_BLK_T_FLUSH, 0, 0, 0);
}

/* The loop's receive took bits off the bound notification between
 * requests: an interrupt raised as a request finished while vblk_wait
 * armed it (it had seen the request done and gone on), or a timer bit.
 * The interrupt is acknowledged so the line can fire again; untaken, such
 * bits would look to init's stall check like work the disk server left
 * waiting. */
static void vblk_on_notify(void *ctx, uint64_t bits)
{
    struct vblk *v = ctx;
    if (v->ok && (bits & VIO_BIT_IRQ)) {
        (void)vio_irq_cause(&v->dev);
        vio_irq_ack(&v->dev);
    }
}

static const struct srv_handler vblk_handlers[] = {
    { BLK_INFO, 0, vblk_info },
    { BLK_READ, 3, vblk_read },
    { BLK_WRITE, 3, vblk_write },
    { BLK_FLUSH, 0, vblk_flush },
};

/* Reads the capacity (spec 5.2.4), repeating while the configuration
 * generation moves (spec 2.5.1: a 64-bit field is read in two halves). */
static int vblk_capacity(struct vblk *v)
{
    for (int tries = 0; tries < 8; tries++) {
        uint8_t gen = vio_config_generation(&v->dev);
        uint32_t lo, hi;
        int err = vio_cfg_read32(&v->dev, VBLK_CFG_CAPACITY, &lo);
        if (!err)
            err = vio_cfg_read32(&v->dev, VBLK_CFG_CAPACITY + 4, &hi);
        if (err)
            return err;
        if (gen == vio_config_generation(&v->dev)) {
            v->capacity = (uint64_t)hi << 32 | lo;
            return VIO_OK;
        }
    }
    return VIO_E_DEVICE;
}

static int vblk_open(struct vblk *v, const struct keel_srvinfo *si)
{
    /* Bound: a bit left on the notification between requests reaches the
     * loop's receive (vblk_on_notify), instead of lying untaken. */
    int err = vio_open_device(&v->dev, si, VIRTIO_ID_BLK, VIRTIO_TRANS_BLK, VBLK_DMA_PAGES, true);
    if (err)
        return err;
    if ((err = vio_reset(&v->dev)))
        return err;
    if ((err = vio_negotiate(&v->dev, VIRTIO_F_RING_EVENT_IDX | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_FLUSH, 0)))
        return err;
    v->readonly = (v->dev.features & VIRTIO_BLK_F_RO) != 0;
    v->flush = (v->dev.features & VIRTIO_BLK_F_FLUSH) != 0;
    if ((err = vblk_capacity(v)))
        return err;
    if ((err = vio_queue_setup(&v->dev, &v->q, VBLK_QUEUE, VBLK_QUEUE_MAX)))
        return err;
    void *va;
    if ((err = vio_dma_alloc(&v->dev, sizeof(struct virtio_blk_req_hdr), 16, &va, &v->hdr_phys)))
        return err;
    v->hdr = va;
    if ((err = vio_dma_alloc(&v->dev, 16, 16, &va, &v->status_phys)))
        return err;
    v->status = va;
    if ((err = vio_driver_ok(&v->dev)))
        return err;
    vq_disarm(&v->q); /* interrupts only while a request waits */
    v->ok = true;
    return VIO_OK;
}

/* Maps the client's region and learns where it is (a DMA frame). */
static int vblk_map_shm(struct vblk *v, uint64_t slot)
{
    uint64_t phys = 0, pages = 0;
    if (keel_frame_info(slot, &phys, &pages) != KE_OK || phys == 0 || pages == 0)
        return VIO_E_MAP;
    if (keel_map(SRV_SLOT_TASK, slot, VBLK_VA_SHM, RIGHT_READ | RIGHT_WRITE) != KE_OK)
        return VIO_E_MAP;
    v->shm_phys = phys;
    v->shm_bytes = pages * 4096;
    return VIO_OK;
}

static void vblk_find_clients(struct vblk *v, const struct keel_srvinfo *si)
{
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS && v->n_clients < VBLK_MAX_CLIENT; i++)
        if (strncmp(si->caps[i].name, "client:", 7) == 0)
            v->clients[v->n_clients++] = si->caps[i].slot;
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    static struct vblk v;
    v.generation = si->restarts + 1;
    uint64_t ep = srv_find_cap_prefix(si, "serve:"), shm = srv_find_cap_prefix(si, "shm:");
    if (!ep || !shm) {
        ulog("virtio-blk: the manifest must grant serve: and shm: capabilities");
        return 1;
    }
    if (vblk_map_shm(&v, shm)) {
        ulog("virtio-blk: the shm: region is not a mappable DMA frame");
        return 1;
    }
    vblk_find_clients(&v, si);
    int err = vblk_open(&v, si);
    if (err) {
        ulog("virtio-blk: no usable device (%04x:%04x): %s", si->pci.vendor, si->pci.device, vio_strerror(err));
        vio_stop(&v.dev);
        v.ok = false;
    } else {
        ulog("virtio-blk: device %04x:%04x up, %llu sectors%s%s, generation %u", si->pci.vendor, si->pci.device,
             (unsigned long long)v.capacity, v.readonly ? ", read-only" : "", v.flush ? ", write cache" : "",
             v.generation);
    }
    struct srv_loop loop = {
        .endpoint = ep,
        .handlers = vblk_handlers,
        .n_handlers = sizeof vblk_handlers / sizeof vblk_handlers[0],
        .on_notify = vblk_on_notify,
        .ctx = &v,
    };
    int64_t e = srv_ready_and_run(&loop);
    ulog("virtio-blk: receive failed (%ld)", (long)e);
    return 1;
}
