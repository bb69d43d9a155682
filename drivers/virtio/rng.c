/*
 * rng.c - the virtio-rng server (program `virtio-rng`): entropy from a
 * virtio entropy device (virtio 1.2 section 5.4; PCI 1af4:1044 modern or
 * 1af4:1005 transitional) for the RNG protocol of abi/keel/rng.h on its
 * "serve:" endpoint.
 *
 * The device has one queue (requestq, 0): the driver posts device-writable
 * buffers and the device fills them with entropy.  We keep one 32-byte
 * request posted at all times, so RNG_READ usually finds it already filled
 * and answers at once; the answer (up to 32 bytes in MR0-MR3, the count as
 * the reply label) is wiped from the DMA buffer and a new request posted
 * before replying.  Every byte is handed out once.
 *
 * Waiting: when the request is not done yet, the handler arms the queue's
 * interrupt, looks once more (the device may have finished in between),
 * then waits on its IRQ notification (not bound to the thread: only this
 * handler waits on it) with a one-shot timer as a deadline, so a dead
 * device yields RNG_E_DEVICE instead of a caller stuck forever.  Blocking
 * in a handler is acceptable here only because the callers are trusted
 * local servers (keyd, tlsd) and the device answers in microseconds.
 *
 * A device that breaks the queue protocol is reset and the server faults
 * on purpose; init restarts it.
 */
#include <keel/init.h>
#include <keel/rng.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "virtio.h"

#define VRNG_QUEUE      0 /* requestq (5.4.2) */
#define VRNG_QUEUE_MAX  8 /* one request in flight needs 1 descriptor */
#define VRNG_DMA_PAGES  1
#define VRNG_CHUNK      32            /* bytes per request: exactly MR0-MR3 */
#define VRNG_TIMEOUT_NS 1000000000ull /* a device silent this long is broken */
#define VRNG_TRIES      4             /* empty answers tolerated per RNG_READ */

_Static_assert(VRNG_CHUNK == 8 * KEEL_MSG_WORDS, "one request fills one message");

struct vrng {
    struct vio_dev dev;
    struct virtq q;
    bool ok;               /* the device is up; false: RNG_E_NO_DEVICE */
    bool posted;           /* the request is with the device */
    volatile uint8_t *buf; /* VRNG_CHUNK bytes of DMA memory */
    uint64_t buf_phys;
};

__attribute__((noreturn)) static void vrng_fatal(struct vrng *v, const char *what, int err)
{
    ulog("virtio-rng: %s: %s; resetting the device and restarting", what, vio_strerror(err));
    vio_stop(&v->dev);
    __builtin_trap();
}

static void vrng_post(struct vrng *v)
{
    struct vq_seg seg = { v->buf_phys, VRNG_CHUNK };
    int head = vq_add(&v->q, &seg, 0, 1, 0);
    if (head < 0) /* only one request is ever in flight */
        vrng_fatal(v, "queue accounting", head);
    v->posted = true;
    vio_kick(&v->dev, &v->q);
}

/* Takes any pending interrupt off the notification and lets the line fire
 * again (INTx: after the ISR read that deasserts it). */
static void vrng_irq_drain(struct vrng *v)
{
    uint64_t bits = 0;
    if (keel_wait(v->dev.ntfn_slot, KEEL_NONBLOCK, &bits) == KE_OK && (bits & VIO_BIT_IRQ)) {
        (void)vio_irq_cause(&v->dev);
        vio_irq_ack(&v->dev);
    }
}

/* Waits until the posted request comes back: 1 and *LEN, 0 on timeout. */
static int vrng_wait(struct vrng *v, uint32_t *len)
{
    uint64_t deadline = 0;
    for (;;) {
        uint32_t cookie;
        int r = vq_pop(&v->q, &cookie, len);
        if (r < 0)
            vrng_fatal(v, "used ring", r);
        if (r > 0)
            break;
        if (vq_arm(&v->q))
            continue; /* it finished while we asked for the interrupt */
        if (!deadline) {
            deadline = keel_now_ns() + VRNG_TIMEOUT_NS;
            (void)sys6(SYS_TIMER_ARM, v->dev.ntfn_slot, deadline, VIO_BIT_TIMER, 0, 0, 0);
        }
        uint64_t bits = 0;
        if (keel_wait(v->dev.ntfn_slot, 0, &bits) != KE_OK)
            vrng_fatal(v, "waiting for the interrupt", VIO_E_IRQ);
        if (bits & VIO_BIT_IRQ) {
            (void)vio_irq_cause(&v->dev);
            vio_irq_ack(&v->dev);
        }
        /* A timer bit left from an earlier read is not this deadline. */
        if ((bits & VIO_BIT_TIMER) && keel_now_ns() >= deadline && !vq_has_used(&v->q)) {
            vq_disarm(&v->q);
            return 0;
        }
    }
    vq_disarm(&v->q);
    if (deadline)
        (void)sys6(SYS_TIMER_ARM, v->dev.ntfn_slot, 0, 0, 0, 0, 0); /* disarm */
    v->posted = false;
    return 1;
}

static int64_t vrng_read(void *ctx, struct keel_msg *m)
{
    struct vrng *v = ctx;
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (!v->ok)
        return RNG_E_NO_DEVICE;
    vrng_irq_drain(v);
    for (int tries = 0; tries < VRNG_TRIES; tries++) {
        if (!v->posted)
            vrng_post(v);
        uint32_t len = 0;
        if (!vrng_wait(v, &len))
            return RNG_E_DEVICE; /* still posted: a later call may find it done */
        /* vq_pop bounded len by the buffer's VRNG_CHUNK bytes. */
        uint8_t out[VRNG_CHUNK];
        for (uint32_t i = 0; i < VRNG_CHUNK; i++) {
            out[i] = i < len ? v->buf[i] : 0;
            v->buf[i] = 0; /* hand each byte out once */
        }
        vrng_post(v); /* the next answer is being made while we reply */
        if (len == 0)
            continue;
        memcpy(m->mr, out, sizeof out);
        memset(out, 0, sizeof out);
        return (int64_t)len;
    }
    return RNG_E_DEVICE;
}

/* The loop's receive took bits off the bound notification between reads:
 * an interrupt raised as a request finished while vrng_wait armed it (it
 * had seen the request done and gone on), or a timer bit.  The interrupt
 * is acknowledged so the line can fire again.  Leaving such bits untaken
 * made init's stall check (bits nobody takes are work waiting) restart an
 * idle entropy server 5 s after a read. */
static void vrng_on_notify(void *ctx, uint64_t bits)
{
    struct vrng *v = ctx;
    if (v->ok && (bits & VIO_BIT_IRQ)) {
        (void)vio_irq_cause(&v->dev);
        vio_irq_ack(&v->dev);
    }
}

static const struct srv_handler vrng_handlers[] = {
    { RNG_READ, 0, vrng_read },
};

static int vrng_open(struct vrng *v, const struct keel_srvinfo *si)
{
    /* Bound: a bit left on the notification between reads reaches the
     * loop's receive (vrng_on_notify), instead of lying untaken. */
    int err = vio_open_device(&v->dev, si, VIRTIO_ID_RNG, VIRTIO_TRANS_RNG, VRNG_DMA_PAGES, true);
    if (err)
        return err;
    if ((err = vio_reset(&v->dev)))
        return err;
    if ((err = vio_negotiate(&v->dev, VIRTIO_F_RING_EVENT_IDX, 0)))
        return err;
    if ((err = vio_queue_setup(&v->dev, &v->q, VRNG_QUEUE, VRNG_QUEUE_MAX)))
        return err;
    void *va;
    if ((err = vio_dma_alloc(&v->dev, VRNG_CHUNK, VRNG_CHUNK, &va, &v->buf_phys)))
        return err;
    v->buf = va;
    if ((err = vio_driver_ok(&v->dev)))
        return err;
    vq_disarm(&v->q); /* interrupts only while a reader waits */
    v->ok = true;
    vrng_post(v);
    return VIO_OK;
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    struct vrng v = { 0 };
    uint64_t ep = srv_find_cap_prefix(si, "serve:");
    if (!ep) {
        ulog("virtio-rng: the manifest must grant a serve: endpoint");
        return 1;
    }
    int err = vrng_open(&v, si);
    if (err) {
        ulog("virtio-rng: no usable device (%04x:%04x): %s", si->pci.vendor, si->pci.device, vio_strerror(err));
        vio_stop(&v.dev);
        v.ok = false;
    } else {
        ulog("virtio-rng: device %04x:%04x up, generation %u", si->pci.vendor, si->pci.device, si->restarts + 1);
    }
    struct srv_loop loop = {
        .endpoint = ep,
        .handlers = vrng_handlers,
        .n_handlers = sizeof vrng_handlers / sizeof vrng_handlers[0],
        .on_notify = vrng_on_notify,
        .ctx = &v,
    };
    int64_t e = srv_ready_and_run(&loop);
    ulog("virtio-rng: receive failed (%ld)", (long)e);
    return 1;
}
