/*
 * net.c - the virtio-net server (program `virtio-net`): drives one virtio
 * network device (virtio 1.2 section 5.1) for netd, speaking the NIC
 * protocol of abi/keel/nic.h on its "serve:" endpoint.
 *
 * Capabilities (found by prefix, so the manifest may name them freely):
 *   serve:*   the endpoint netd calls (NIC_INFO/START/KICK/STOP/CRASH)
 *   shm:*     the NIC region shared with netd: struct nic_shared, then
 *             NIC_BUF_COUNT buffers of NIC_BUF_SIZE bytes; a DMA frame
 *   signal:*  the notification on which we raise NIC_EVT_* for netd
 *   + the PCI device (BARs, IRQ, configuration snapshot) in si->pci.
 *
 * Zero copy: the device DMAs frames straight into and out of netd's
 * buffers.  Offloads (nic.h's NIC_FEAT_*) are negotiated with the device
 * only when netd takes them at NIC_START, so the receive side has two
 * shapes:
 *   plain      (netd took no RX feature) each frame is a 2-descriptor
 *              chain, the 12-byte virtio_net_hdr (5.1.6, VERSION_1 layout)
 *              in a 16-byte slot of our own DMA arena, then the whole
 *              shared buffer: netd's buffers hold pure Ethernet frames.
 *   mergeable  (RX_CSUM + RX_GSO: GUEST_CSUM, GUEST_TSO4/6, MRG_RXBUF,
 *              5.1.6.3.1) each chain is one whole shared buffer; the device
 *              writes the header and the frame from its first byte on, and
 *              a frame of up to 64 KiB spans num_buffers chains.  We read
 *              the header in place and hand netd the frame as pieces
 *              (start 12 in the first buffer), with the header's checksum
 *              and GSO facts as NIC_DF_* flags.
 * Transmit: each frame is one header (a 16-byte slot per shared buffer,
 * indexed by the frame's first buffer, in our arena) followed by the frame's
 * pieces; the header asks for a checksum (CSUM, 5.1.6.2) and segmentation
 * (HOST_TSO4/6) when netd's first descriptor does.
 *
 * Queues: receiveq1 = 0, transmitq1 = 1 (5.1.2); no control queue, no
 * multiqueue.  Cookies: RX = buffer index; TX = the frame's first buffer
 * index; tx_next[]/tx_len[] chain its other buffers, so tx_done gives netd
 * every buffer back with the length it sent.
 *
 * States (struct vnet.state):
 *   NODEV    no usable device: every call answers NIC_E_NO_DEVICE
 *   DOWN     device reset; buffers it held may still be owed to netd
 *            (returned as space allows on NIC_STOP/NIC_KICK)
 *   READY    device live (DRIVER_OK), queues empty, netd's rings untouched
 *   RUNNING  after NIC_START: rx_free/tx_send consumed, rx_used/tx_done fed
 * Start-up resets the device (a restarted instance recovers from whatever
 * its predecessor left) and brings it to READY; NIC_START from any state
 * but READY brings it up again first (netd restarted: its old buffers are
 * forgotten with its old rings); NIC_STOP resets it to DOWN.
 *
 * One thread, the server loop: requests and the device interrupt (bound
 * notification, on_notify) are handled in turn, so nothing here is shared
 * between contexts.  A batch (one kick or one interrupt) ends with at most
 * one keel_signal to netd carrying every event of the batch.
 *
 * Trust: netd's descriptors are checked with nic_desc_ok before use (bad
 * ones are counted in nic_shared.stats and dropped); its ring indices are
 * bounded by nic_ring.h.  The device's used entries are checked by virtq.c;
 * a device that breaks the protocol is reset and the server faults on
 * purpose, so init restarts it with a new generation.
 *
 * Not handled (deliberately, for now): UDP segmentation (GUEST_UFO/
 * HOST_UFO, USO), ECN with GSO, big (non-mergeable) GSO receive buffers,
 * the control queue (promiscuous mode, MAC filters), VIRTIO_NET_F_MTU (the
 * MTU is 1500), multiqueue.
 */
#include <keel/init.h>
#include <keel/nic.h>
#include <keel/nic_ring.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "virtio.h"

/* Feature bits of the network device (spec 5.1.3). */
#define VIRTIO_NET_F_CSUM       (1ull << 0) /* the device completes tx checksums */
#define VIRTIO_NET_F_GUEST_CSUM (1ull << 1) /* rx frames may carry partial/valid checksums */
#define VIRTIO_NET_F_MAC        (1ull << 5)
#define VIRTIO_NET_F_GUEST_TSO4 (1ull << 7)  /* rx: coalesced TCP/IPv4 */
#define VIRTIO_NET_F_GUEST_TSO6 (1ull << 8)  /* rx: coalesced TCP/IPv6 */
#define VIRTIO_NET_F_HOST_TSO4  (1ull << 11) /* tx: the device segments TCP/IPv4 */
#define VIRTIO_NET_F_HOST_TSO6  (1ull << 12) /* tx: the device segments TCP/IPv6 */
#define VIRTIO_NET_F_MRG_RXBUF  (1ull << 15) /* rx: a frame spans num_buffers chains */
#define VIRTIO_NET_F_STATUS     (1ull << 16)
#define VNET_F_BASE             (VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_F_RING_EVENT_IDX)

/* struct virtio_net_config (spec 5.1.4), in the device configuration
 * structure; all RO.  Read field by field with vio_cfg_read*. */
struct virtio_net_config {
    uint8_t mac[6];               /* with VIRTIO_NET_F_MAC */
    uint16_t status;              /* with VIRTIO_NET_F_STATUS: VIRTIO_NET_S_* */
    uint16_t max_virtqueue_pairs; /* with VIRTIO_NET_F_MQ */
    uint16_t mtu;                 /* with VIRTIO_NET_F_MTU */
};
_Static_assert(__builtin_offsetof(struct virtio_net_config, status) == 6, "spec 5.1.4: status at 6");
_Static_assert(__builtin_offsetof(struct virtio_net_config, mtu) == 10, "spec 5.1.4: mtu at 10");
#define VIRTIO_NET_S_LINK_UP 0x1u

/* struct virtio_net_hdr (spec 5.1.6): in front of every frame.  With
 * VIRTIO_F_VERSION_1 num_buffers is always there: 12 bytes. */
struct virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type; /* VIRTIO_NET_HDR_GSO_NONE = 0 */
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "spec 5.1.6: the VERSION_1 header is 12 bytes");
_Static_assert(__builtin_offsetof(struct virtio_net_hdr, csum_start) == 6, "spec 5.1.6: csum_start at 6");
_Static_assert(__builtin_offsetof(struct virtio_net_hdr, num_buffers) == 10, "spec 5.1.6: num_buffers at 10");
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1u
#define VIRTIO_NET_HDR_F_DATA_VALID 2u
#define VIRTIO_NET_HDR_GSO_NONE     0u
#define VIRTIO_NET_HDR_GSO_TCPV4    1u
#define VIRTIO_NET_HDR_GSO_TCPV6    4u
#define VIRTIO_NET_HDR_GSO_ECN      0x80u
#define VNET_HDR_LEN                ((uint32_t)sizeof(struct virtio_net_hdr))
#define VNET_HDR_SLOT               16u /* bytes per RX header slot (keeps them 16-byte aligned) */

#define VNET_RXQ       0
#define VNET_TXQ       1
#define VNET_QUEUE_MAX 256 /* descriptors per queue: 128 frames in flight each way */
#define VNET_DMA_PAGES 10  /* 2 queues (2 pages each) + RX headers (2) + TX headers (2) + slack */
#define VNET_NO_BUF    0xffffu
#define VNET_MTU       1500
#define VNET_PASSES    4 /* rounds per batch: bounds the time requests wait behind a flood */
#define VNET_VA_SHM    VIO_VA_FREE

enum vnet_state { VNET_NODEV, VNET_DOWN, VNET_READY, VNET_RUNNING };

struct vnet {
    struct vio_dev dev;
    struct virtq rxq, txq; /* valid from READY on; chains may be owed back in DOWN */
    enum vnet_state state;
    uint32_t generation; /* si->restarts + 1, fixed */
    uint64_t signal_slot;
    bool signal_badged;     /* signal_slot is badged: signal 0 (its bit), not NIC_EVT_* */
    struct nic_shared *shm; /* netd's region: only the rings we consume/produce and stats */
    uint64_t shm_phys;
    uint64_t rx_hdr_phys;          /* plain RX: NIC_BUF_COUNT slots of VNET_HDR_SLOT bytes */
    uint64_t tx_hdr_phys;          /* NIC_BUF_COUNT slots, by a TX frame's first buffer */
    struct virtio_net_hdr *tx_hdr; /* the same, our mapping */
    uint32_t offered;              /* NIC_FEAT_* the device has (found at the first bring-up) */
    uint32_t taken;                /* NIC_FEAT_* negotiated now: what netd took at NIC_START */
    bool mrg;                      /* mergeable RX buffers (taken & NIC_FEAT_RX_GSO) */
    /* TX frames in flight, by buffer index: the next buffer of the same
     * frame (VNET_NO_BUF: the last) and the bytes sent from it. */
    uint16_t tx_next[NIC_BUF_COUNT];
    uint16_t tx_len[NIC_BUF_COUNT];
    uint8_t mac[6];
    bool link_up;
    uint32_t evt; /* NIC_EVT_* gathered during the current batch */
};

static uint32_t buf_index(uint32_t offset) { return (offset - NIC_BUF_AREA_OFFSET) / NIC_BUF_SIZE; }
static uint32_t buf_offset(uint32_t index) { return NIC_BUF_AREA_OFFSET + index * NIC_BUF_SIZE; }

/* The device broke its contract: stop its DMA and fault, so init restarts
 * us and netd sees a new generation. */
__attribute__((noreturn)) static void vnet_fatal(struct vnet *v, const char *what, int err)
{
    ulog("virtio-net: %s: %s; resetting the device and restarting", what, vio_strerror(err));
    vio_stop(&v->dev);
    __builtin_trap();
}

static void vnet_signal(struct vnet *v)
{
    /* A badged capability (`signal netd-ev bit N`: netd's own notification)
     * raises exactly its bit: the kernel wants no other bits with it. */
    if (v->evt)
        (void)keel_signal(v->signal_slot, v->signal_badged ? 0 : v->evt); /* never blocks */
    v->evt = 0;
}

/* ----------------------------------------------------- configuration --- */

/* Reads MAC and link status as one consistent snapshot (spec 2.5.1). */
static int vnet_read_config(struct vnet *v, uint8_t mac[6], bool *link_up)
{
    for (int tries = 0; tries < 100; tries++) {
        uint8_t gen = vio_config_generation(&v->dev);
        uint16_t status = VIRTIO_NET_S_LINK_UP; /* without STATUS the link is up (5.1.4) */
        int err = VIO_OK;
        if (v->dev.features & VIRTIO_NET_F_MAC)
            for (uint32_t i = 0; i < 6 && !err; i++)
                err = vio_cfg_read8(&v->dev, (uint32_t) __builtin_offsetof(struct virtio_net_config, mac) + i, &mac[i]);
        if (!err && (v->dev.features & VIRTIO_NET_F_STATUS))
            err = vio_cfg_read16(&v->dev, __builtin_offsetof(struct virtio_net_config, status), &status);
        if (err)
            return err;
        if (vio_config_generation(&v->dev) == gen) {
            *link_up = (status & VIRTIO_NET_S_LINK_UP) != 0;
            return VIO_OK;
        }
    }
    return VIO_E_DEVICE; /* the configuration never held still */
}

/* After a configuration interrupt: publish a link change to netd. */
static void vnet_link_check(struct vnet *v)
{
    uint8_t mac[6];
    memcpy(mac, v->mac, sizeof mac);
    bool up;
    int err = vnet_read_config(v, mac, &up);
    if (err)
        vnet_fatal(v, "reading the device configuration", err);
    if (up == v->link_up)
        return;
    v->link_up = up;
    v->shm->link_up = up;
    v->evt |= NIC_EVT_LINK;
    ulog("virtio-net: link %s", up ? "up" : "down");
}

/* ------------------------------------------------------------ bring-up -- */

/* The virtio features that give NIC_FEAT_* TAKEN (each with what the
 * spec makes it depend on: 5.1.3.1). */
static uint64_t vnet_virtio_features(uint32_t taken)
{
    uint64_t f = VNET_F_BASE;
    if (taken & NIC_FEAT_RX_CSUM)
        f |= VIRTIO_NET_F_GUEST_CSUM;
    if ((taken & (NIC_FEAT_RX_CSUM | NIC_FEAT_RX_GSO)) == (NIC_FEAT_RX_CSUM | NIC_FEAT_RX_GSO))
        f |= VIRTIO_NET_F_GUEST_TSO4 | VIRTIO_NET_F_GUEST_TSO6 | VIRTIO_NET_F_MRG_RXBUF;
    if (taken & (NIC_FEAT_TX_CSUM | NIC_FEAT_TX_TSO4 | NIC_FEAT_TX_TSO6))
        f |= VIRTIO_NET_F_CSUM;
    if (taken & NIC_FEAT_TX_TSO4)
        f |= VIRTIO_NET_F_HOST_TSO4;
    if (taken & NIC_FEAT_TX_TSO6)
        f |= VIRTIO_NET_F_HOST_TSO6;
    return f;
}

/* The NIC_FEAT_* that negotiated virtio features F give. */
static uint32_t vnet_nic_features(uint64_t f)
{
    uint32_t n = 0;
    if (f & VIRTIO_NET_F_GUEST_CSUM)
        n |= NIC_FEAT_RX_CSUM;
    if ((f & VIRTIO_NET_F_GUEST_CSUM) && (f & VIRTIO_NET_F_MRG_RXBUF) && (f & VIRTIO_NET_F_GUEST_TSO4))
        n |= NIC_FEAT_RX_GSO;
    if (f & VIRTIO_NET_F_CSUM) {
        n |= NIC_FEAT_TX_CSUM;
        if (f & VIRTIO_NET_F_HOST_TSO4)
            n |= NIC_FEAT_TX_TSO4;
        if (f & VIRTIO_NET_F_HOST_TSO6)
            n |= NIC_FEAT_TX_TSO6;
    }
    return n;
}

/* Reset, handshake, queues, DRIVER_OK: DOWN/READY/RUNNING -> READY, with
 * the offloads of v->taken (as far as the device has them).  Any
 * chain the device held is forgotten (the caller has returned or dropped
 * them).  Returns VIO_OK or the first error (the device is then FAILED or
 * reset, and the state DOWN). */
static int vnet_bring_up(struct vnet *v)
{
    v->state = VNET_DOWN;
    int err = vio_reset(&v->dev);
    if (err)
        return err;
    vio_dma_reset(&v->dev); /* the device owns nothing after the reset */
    err = vio_negotiate(&v->dev, vnet_virtio_features(v->taken), 0);
    if (err)
        return err;
    v->taken = vnet_nic_features(v->dev.features);
    v->mrg = (v->taken & NIC_FEAT_RX_GSO) != 0;
    if ((err = vnet_read_config(v, v->mac, &v->link_up)))
        return err;
    if (!(v->dev.features & VIRTIO_NET_F_MAC)) {
        /* Spec 5.1.5: without a MAC the driver picks one.  Locally
         * administered, derived from the PCI address so it is stable. */
        const struct keel_pci_info *p = v->dev.pci;
        uint8_t fake[6] = { 0x02, 0x00, 0x00, p->bus, p->dev, p->fn };
        memcpy(v->mac, fake, sizeof fake);
    }
    if ((err = vio_queue_setup(&v->dev, &v->rxq, VNET_RXQ, VNET_QUEUE_MAX)))
        return err;
    if ((err = vio_queue_setup(&v->dev, &v->txq, VNET_TXQ, VNET_QUEUE_MAX)))
        return err;
    if (v->rxq.size < 2 || v->txq.size < 2)
        return VIO_E_QUEUE; /* a frame needs a 2-descriptor chain */
    /* A 64 KiB frame takes NIC_FRAME_MAX_BUFS buffers (+ a header on TX):
     * with smaller queues, do without the offload that needs them (the
     * features are fixed before the queues' sizes are known: start again). */
    uint32_t fit = v->taken;
    if (v->rxq.size < NIC_FRAME_MAX_BUFS)
        fit &= ~NIC_FEAT_RX_GSO;
    if (v->txq.size < 1 + NIC_FRAME_MAX_BUFS)
        fit &= ~(NIC_FEAT_TX_TSO4 | NIC_FEAT_TX_TSO6);
    if (fit != v->taken) {
        v->taken = fit;
        return vnet_bring_up(v);
    }
    void *va;
    if ((err = vio_dma_alloc(&v->dev, NIC_BUF_COUNT * VNET_HDR_SLOT, VNET_HDR_SLOT, &va, &v->rx_hdr_phys)))
        return err;
    if ((err = vio_dma_alloc(&v->dev, NIC_BUF_COUNT * VNET_HDR_SLOT, VNET_HDR_SLOT, &va, &v->tx_hdr_phys)))
        return err;
    v->tx_hdr = va;
    if ((err = vio_driver_ok(&v->dev)))
        return err;
    memcpy(v->shm->mac, v->mac, sizeof v->mac);
    v->shm->link_up = v->link_up;
    v->state = VNET_READY;
    return VIO_OK;
}

/* ------------------------------------------------------------ receive -- */

/* Gives the device buffer INDEX (a whole shared buffer) to receive into:
 * with its header slot in front (plain), or alone (mergeable). */
static void vnet_rx_post(struct vnet *v, uint32_t index)
{
    struct vq_seg segs[2] = {
        { v->rx_hdr_phys + index * VNET_HDR_SLOT, VNET_HDR_LEN },
        { v->shm_phys + buf_offset(index), NIC_BUF_SIZE },
    };
    int head = v->mrg ? vq_add(&v->rxq, &segs[1], 0, 1, index) : vq_add(&v->rxq, segs, 0, 2, index);
    if (head < 0) /* callers check for two free descriptors first */
        vnet_fatal(v, "rx queue accounting", head);
}

/* rx_free -> the device, while both have room. */
static void vnet_rx_fill(struct vnet *v)
{
    struct nic_desc d;
    while (v->rxq.num_free >= 2 && nic_ring_pop(&v->shm->rx_free, &d)) {
        if (!nic_desc_ok(d, false)) {
            v->shm->stats.rx_bad_desc++;
            continue;
        }
        vnet_rx_post(v, buf_index(d.offset));
    }
    vio_kick(&v->dev, &v->rxq);
}

/* Plain RX: one chain, one frame of LEN bytes (header included). */
static void vnet_rx_plain(struct vnet *v, uint32_t index, uint32_t len)
{
    /* len counts the header too; vq_pop bounded it by the chain. */
    if (len < VNET_HDR_LEN + NIC_MIN_FRAME || len - VNET_HDR_LEN > NIC_MAX_FRAME) {
        v->shm->stats.rx_dropped++;
        vnet_rx_post(v, index); /* the chain just freed two descriptors */
        return;
    }
    uint16_t flen = (uint16_t)(len - VNET_HDR_LEN);
    (void)nic_ring_push(&v->shm->rx_used, (struct nic_desc){ .offset = buf_offset(index), .len = flen });
    v->shm->stats.rx_frames++;
    v->shm->stats.rx_bytes += flen;
    v->evt |= NIC_EVT_RX;
}

/* The NIC_DF_* offload word of a received header (0 and *bad = true for
 * what nic.h cannot say: UDP segmentation, ECN, unknown types). */
static uint16_t vnet_rx_flags(const struct virtio_net_hdr *h, bool *bad)
{
    uint16_t f = 0;
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
        f |= NIC_DF_CSUM_PARTIAL;
    else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
        f |= NIC_DF_CSUM_VALID;
    switch (h->gso_type) {
    case VIRTIO_NET_HDR_GSO_NONE: break;
    case VIRTIO_NET_HDR_GSO_TCPV4: f |= NIC_DF_GSO_TCP4; break;
    case VIRTIO_NET_HDR_GSO_TCPV6: f |= NIC_DF_GSO_TCP6; break;
    default: *bad = true; break;
    }
    if ((f & NIC_DF_GSO) && (h->gso_size == 0 || !(f & (NIC_DF_CSUM_PARTIAL | NIC_DF_CSUM_VALID))))
        *bad = true;
    return f;
}

/* Mergeable RX: the frame whose first chain (buffer INDEX, LEN bytes with
 * the header) was just popped; takes its other num_buffers - 1 chains
 * from the used ring (the device publishes a frame's chains together) and
 * hands netd the pieces.  The caller made room for NIC_FRAME_MAX_BUFS
 * entries in rx_used. */
static void vnet_rx_merged(struct vnet *v, uint32_t index, uint32_t len)
{
    const struct virtio_net_hdr *h = (const struct virtio_net_hdr *)((uint8_t *)v->shm + buf_offset(index));
    struct nic_desc d[NIC_FRAME_MAX_BUFS];
    uint32_t nbuf = len >= VNET_HDR_LEN ? h->num_buffers : 0;
    bool bad = nbuf == 0 || nbuf > NIC_FRAME_MAX_BUFS;
    uint16_t flags = bad ? 0 : vnet_rx_flags(h, &bad);
    uint32_t total = 0, n = 0;
    if (nbuf == 0)
        nbuf = 1;
    d[0] = (struct nic_desc){ .offset = buf_offset(index), .start = VNET_HDR_LEN, .len = 0 };
    if (len >= VNET_HDR_LEN)
        d[0].len = (uint16_t)(len - VNET_HDR_LEN);
    d[0].flags = flags;
    d[0].gso_size = h->gso_size;
    d[0].csum_start = h->csum_start;
    d[0].csum_offset = h->csum_offset;
    total = d[0].len;
    for (n = 1; n < nbuf; n++) {
        uint32_t i, l;
        int r = vq_pop(&v->rxq, &i, &l);
        if (r <= 0)
            vnet_fatal(v, "rx used ring: a mergeable frame's buffers are missing", r < 0 ? r : VIO_E_DEVICE);
        if (n < NIC_FRAME_MAX_BUFS)
            d[n] = (struct nic_desc){ .offset = buf_offset(i), .len = (uint16_t)l };
        else
            vnet_rx_post(v, i); /* more than nic.h allows: the frame is dropped */
        if (l == 0)
            bad = true;
        total += l;
    }
    if (nbuf > NIC_FRAME_MAX_BUFS)
        n = NIC_FRAME_MAX_BUFS;
    if (!bad && (d[0].len == 0 || !nic_frame_len_ok(total, flags)))
        bad = true;
    if ((flags & NIC_DF_CSUM_PARTIAL) && (uint32_t)d[0].csum_start + d[0].csum_offset + 2 > total)
        bad = true;
    if (bad) {
        v->shm->stats.rx_dropped++;
        for (uint32_t k = 0; k < n; k++)
            vnet_rx_post(v, buf_index(d[k].offset));
        return;
    }
    for (uint32_t k = 0; k + 1 < n; k++)
        d[k].flags |= NIC_DF_MORE;
    (void)nic_ring_push_frame(&v->shm->rx_used, d, n); /* room was made by the caller */
    v->shm->stats.rx_frames++;
    v->shm->stats.rx_bytes += total;
    v->evt |= NIC_EVT_RX;
}

/* Device -> rx_used, while rx_used has room for a whole frame (otherwise
 * the frames wait in the used ring: back-pressure until netd kicks).
 * Returns frames taken. */
static unsigned vnet_rx_collect(struct vnet *v)
{
    unsigned n = 0;
    while (nic_ring_space(&v->shm->rx_used) >= (v->mrg ? NIC_FRAME_MAX_BUFS : 1)) {
        uint32_t index, len;
        int r = vq_pop(&v->rxq, &index, &len);
        if (r < 0)
            vnet_fatal(v, "rx used ring", r);
        if (r == 0)
            break;
        n++;
        if (v->mrg)
            vnet_rx_merged(v, index, len);
        else
            vnet_rx_plain(v, index, len);
    }
    return n;
}

/* ----------------------------------------------------------- transmit -- */

/* Checks netd's frame D[0..N) against nic.h and what it took; fills the
 * virtio header H.  False: the frame is bad (counted by the caller). */
static bool vnet_tx_header(struct vnet *v, const struct nic_desc *d, uint32_t n, struct virtio_net_hdr *h)
{
    uint32_t total = 0;
    for (uint32_t k = 0; k < n; k++) {
        if (!nic_piece_ok(d[k]) || d[k].start != 0 || (k > 0 && (d[k].flags & NIC_DF_OFFLOAD)))
            return false;
        total += d[k].len;
    }
    uint16_t f = d[0].flags & NIC_DF_OFFLOAD;
    if (!nic_frame_len_ok(total, f) || (f & NIC_DF_CSUM_VALID))
        return false;
    if (n > 1 && !(f & NIC_DF_GSO))
        return false; /* only a GSO frame needs more than one buffer */
    *h = (struct virtio_net_hdr){ 0 };
    if (f & NIC_DF_CSUM_PARTIAL) {
        if (!(v->taken & NIC_FEAT_TX_CSUM) || (uint32_t)d[0].csum_start + d[0].csum_offset + 2 > total)
            return false;
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h->csum_start = d[0].csum_start;
        h->csum_offset = d[0].csum_offset;
    }
    if (f & NIC_DF_GSO) {
        bool v4 = (f & NIC_DF_GSO) == NIC_DF_GSO_TCP4, v6 = (f & NIC_DF_GSO) == NIC_DF_GSO_TCP6;
        if (!(f & NIC_DF_CSUM_PARTIAL) || d[0].gso_size == 0 || (v4 && !(v->taken & NIC_FEAT_TX_TSO4)) ||
            (v6 && !(v->taken & NIC_FEAT_TX_TSO6)) || !(v4 || v6))
            return false;
        /* hdr_len: up to the end of the TCP header (a hint the device may use, 5.1.6.2) */
        uint32_t doff_at = (uint32_t)d[0].csum_start + 12;
        if (doff_at >= d[0].len)
            return false;
        const uint8_t *b = (const uint8_t *)v->shm + d[0].offset;
        h->hdr_len = (uint16_t)(d[0].csum_start + (b[doff_at] >> 4) * 4u);
        h->gso_type = v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
        h->gso_size = d[0].gso_size;
    }
    return true;
}

/* Gives netd back the buffers of a frame it sent (or that we refused). */
static void vnet_tx_return(struct vnet *v, const struct nic_desc *d, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        if (nic_desc_buffer_ok(d[k]))
            (void)nic_ring_push(&v->shm->tx_done, (struct nic_desc){ .offset = d[k].offset, .len = d[k].len });
    v->evt |= NIC_EVT_TX;
}

/* tx_send -> the device, while both have room for a whole frame (and
 * tx_done for a refused one). */
static void vnet_tx_send(struct vnet *v)
{
    struct nic_desc d[NIC_FRAME_MAX_BUFS];
    unsigned need = (v->taken & (NIC_FEAT_TX_TSO4 | NIC_FEAT_TX_TSO6)) ? 1 + NIC_FRAME_MAX_BUFS : 2;
    while (v->txq.num_free >= need && nic_ring_space(&v->shm->tx_done) >= NIC_FRAME_MAX_BUFS) {
        int r = nic_ring_pop_frame(&v->shm->tx_send, d, NIC_FRAME_MAX_BUFS);
        if (r == 0)
            break;
        uint32_t n = r < 0 ? (uint32_t)-r : (uint32_t)r;
        uint32_t first = buf_index(d[0].offset);
        if (r < 0 || !nic_desc_buffer_ok(d[0]) ||
            !vnet_tx_header(v, d, n, (struct virtio_net_hdr *)((uint8_t *)v->tx_hdr + first * VNET_HDR_SLOT))) {
            v->shm->stats.tx_bad_desc++;
            vnet_tx_return(v, d, n);
            continue;
        }
        struct vq_seg segs[1 + NIC_FRAME_MAX_BUFS];
        segs[0] = (struct vq_seg){ v->tx_hdr_phys + first * VNET_HDR_SLOT, VNET_HDR_LEN };
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = buf_index(d[k].offset);
            segs[1 + k] = (struct vq_seg){ v->shm_phys + d[k].offset, d[k].len };
            v->tx_len[i] = d[k].len;
            v->tx_next[i] = k + 1 < n ? (uint16_t)buf_index(d[k + 1].offset) : VNET_NO_BUF;
        }
        int head = vq_add(&v->txq, segs, 1 + n, 0, first);
        if (head < 0)
            vnet_fatal(v, "tx queue accounting", head);
    }
    vio_kick(&v->dev, &v->txq);
}

/* The buffers of the TX frame whose first buffer is FIRST -> tx_done
 * (the caller made room for NIC_FRAME_MAX_BUFS).  Returns its bytes. */
static uint32_t vnet_tx_done(struct vnet *v, uint32_t first)
{
    uint32_t bytes = 0;
    for (uint32_t i = first, k = 0; i < NIC_BUF_COUNT && k < NIC_FRAME_MAX_BUFS; i = v->tx_next[i], k++) {
        (void)nic_ring_push(&v->shm->tx_done, (struct nic_desc){ .offset = buf_offset(i), .len = v->tx_len[i] });
        bytes += v->tx_len[i];
    }
    v->evt |= NIC_EVT_TX;
    return bytes;
}

/* Device -> tx_done, while tx_done has room.  Returns chains taken. */
static unsigned vnet_tx_collect(struct vnet *v)
{
    unsigned n = 0;
    while (nic_ring_space(&v->shm->tx_done) >= NIC_FRAME_MAX_BUFS) {
        uint32_t cookie, len;
        int r = vq_pop(&v->txq, &cookie, &len);
        if (r < 0)
            vnet_fatal(v, "tx used ring", r);
        if (r == 0)
            break;
        n++;
        v->shm->stats.tx_frames++;
        v->shm->stats.tx_bytes += vnet_tx_done(v, cookie);
    }
    return n;
}

/* One batch in RUNNING: move everything that can move, then re-arm the
 * queue interrupts.  If the device used more buffers meanwhile, go round
 * again, at most VNET_PASSES times, and not when the last round moved
 * nothing.  Used buffers left behind (netd's rx_used or tx_done full, or
 * the pass limit) raise no further interrupt (with EVENT_IDX the device
 * has already passed used_event), so leaving them relies on netd kicking:
 * it has unread entries we signalled, and it kicks after every batch it
 * consumes (nic.h), which brings us back here. */
static void vnet_process(struct vnet *v)
{
    for (int pass = 0; pass < VNET_PASSES; pass++) {
        vq_disarm(&v->rxq);
        vq_disarm(&v->txq);
        unsigned moved = vnet_tx_collect(v); /* first: frees descriptors for tx_send */
        vnet_tx_send(v);
        moved += vnet_rx_collect(v);
        vnet_rx_fill(v);
        bool more_rx = vq_arm(&v->rxq), more_tx = vq_arm(&v->txq); /* both armed, always */
        if (!(more_rx || more_tx) || moved == 0)
            return;
    }
}

/* DOWN: hand back chains the reset device still held (RX buffers as empty
 * frames of length 0, TX frames' buffers as done), as far as netd's rings
 * allow. */
static void vnet_return_held(struct vnet *v)
{
    uint32_t cookie;
    while (nic_ring_space(&v->shm->tx_done) >= NIC_FRAME_MAX_BUFS && vq_reclaim(&v->txq, &cookie)) {
        (void)vnet_tx_done(v, cookie);
        v->shm->stats.tx_dropped++;
    }
    while (nic_ring_space(&v->shm->rx_used) && vq_reclaim(&v->rxq, &cookie)) {
        (void)nic_ring_push(&v->shm->rx_used, (struct nic_desc){ .offset = buf_offset(cookie), .len = 0 });
        v->evt |= NIC_EVT_RX;
    }
}

/* ------------------------------------------------------------ requests -- */

static uint64_t vnet_mac_word(const struct vnet *v)
{
    uint64_t w = 0;
    for (int i = 0; i < 6; i++)
        w |= (uint64_t)v->mac[i] << (8 * i);
    return w;
}

static int64_t vnet_info(void *ctx, struct keel_msg *m)
{
    struct vnet *v = ctx;
    if (v->state == VNET_NODEV)
        return NIC_E_NO_DEVICE;
    m->mr[0] = vnet_mac_word(v);
    m->mr[1] = v->link_up;
    m->mr[2] = v->generation;
    m->mr[3] = VNET_MTU | (uint64_t)v->offered << 32;
    return 0;
}

static int64_t vnet_start(void *ctx, struct keel_msg *m)
{
    struct vnet *v = ctx;
    if (v->state == VNET_NODEV)
        return NIC_E_NO_DEVICE;
    if (m->mr[0] != v->generation)
        return NIC_E_STALE;
    uint32_t want = (uint32_t)m->mr[1] & v->offered;
    if (v->state != VNET_READY || want != v->taken) {
        v->taken = want; /* vnet_bring_up negotiates these (and keeps what the device agreed) */
        int err = vnet_bring_up(v);
        if (err) {
            ulog("virtio-net: restarting the device failed: %s", vio_strerror(err));
            return NIC_E_NO_DEVICE;
        }
    }
    /* point of no return: netd's rings are ours to consume from here on */
    v->shm->generation = v->generation;
    v->state = VNET_RUNNING;
    vnet_process(v);
    vnet_signal(v);
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    return 0;
}

static int64_t vnet_kick(void *ctx, struct keel_msg *m)
{
    struct vnet *v = ctx;
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (v->state == VNET_NODEV)
        return NIC_E_NO_DEVICE;
    if (v->state != VNET_RUNNING) {
        vnet_return_held(v);
        vnet_signal(v);
        return NIC_E_NOT_STARTED;
    }
    v->shm->stats.kicks++;
    vnet_process(v);
    vnet_signal(v);
    return 0;
}

static int64_t vnet_stop(void *ctx, struct keel_msg *m)
{
    struct vnet *v = ctx;
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (v->state == VNET_NODEV)
        return NIC_E_NO_DEVICE;
    if (v->state == VNET_RUNNING || v->state == VNET_READY) {
        int err = vio_reset(&v->dev); /* after this the device touches no buffer */
        if (err)
            vnet_fatal(v, "stopping the device", err);
        v->state = VNET_DOWN;
        /* Frames the device finished but we had not collected are handed
         * back as returned buffers too: a reset ends all of it. */
    }
    vnet_return_held(v);
    vnet_signal(v);
    return 0;
}

/* NIC_DMA_STRAY (tests, abi/keel/nic.h): one TX chain of a single buffer
 * at MR0, outside our memory.  Its cookie names no buffer (NIC_BUF_COUNT),
 * so if the device ever completes it, vnet_tx_done hands nothing back.
 * Without an IOMMU QEMU cannot map an address where nothing answers and
 * marks the device broken ("bogus descriptor"): a test-only hazard. */
static int64_t vnet_dma_stray(void *ctx, struct keel_msg *m)
{
    struct vnet *v = ctx;
    uint64_t addr = m->mr[0];
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (v->state != VNET_RUNNING)
        return NIC_E_NOT_STARTED;
    struct vq_seg seg = { addr, NIC_STRAY_LEN };
    if (v->txq.num_free < 1 || vq_add(&v->txq, &seg, 1, 0, NIC_BUF_COUNT) < 0)
        return KE_BUSY;
    ulog("virtio-net: the device is to read 0x%llx, outside this driver's memory (NIC_DMA_STRAY)\n",
         (unsigned long long)addr);
    vio_kick(&v->dev, &v->txq);
    return 0;
}

static int64_t vnet_crash(void *ctx, struct keel_msg *m)
{
    struct vnet *v = ctx;
    (void)m;
    ulog("virtio-net: crashing on request (NIC_CRASH)");
    /* Stop the device's DMA first: our DMA arena is freed with this task,
     * and the device must not write into pages the kernel hands out again. */
    vio_stop(&v->dev);
    __builtin_trap();
}

static void vnet_on_notify(void *ctx, uint64_t bits)
{
    struct vnet *v = ctx;
    if (!(bits & VIO_BIT_IRQ) || v->state == VNET_NODEV)
        return;
    v->shm->stats.irqs++;
    /* INTx: reading the ISR deasserts the line; it must precede the ack. */
    uint8_t cause = vio_irq_cause(&v->dev);
    if (v->state != VNET_DOWN && (cause & VIRTIO_ISR_CONFIG)) {
        if (vio_needs_reset(&v->dev))
            vnet_fatal(v, "device", VIO_E_DEVICE);
        vnet_link_check(v);
    }
    if (v->state == VNET_RUNNING)
        vnet_process(v);
    vio_irq_ack(&v->dev);
    vnet_signal(v);
}

/* Word counts are 0: nic.h does not ask clients to put the count in the
 * label (SRV_LABEL), and all four message registers always arrive, so
 * NIC_START's generation is checked by value (a wrong one, whatever the
 * register held, is NIC_E_STALE). */
static const struct srv_handler vnet_handlers[] = {
    { NIC_INFO, 0, vnet_info }, { NIC_START, 0, vnet_start }, { NIC_KICK, 0, vnet_kick },
    { NIC_STOP, 0, vnet_stop }, { NIC_CRASH, 0, vnet_crash }, { NIC_DMA_STRAY, 0, vnet_dma_stray },
};

/* ------------------------------------------------------------ start-up -- */

/* Maps netd's region and learns its physical address (it must be a DMA
 * frame: the device is given addresses inside it). */
static int vnet_map_shm(struct vnet *v, uint64_t slot)
{
    uint64_t phys = 0, pages = 0;
    if (keel_frame_info(slot, &phys, &pages) != KE_OK || phys == 0 || pages < NIC_SHM_PAGES)
        return VIO_E_MAP;
    if (keel_map(SRV_SLOT_TASK, slot, VNET_VA_SHM, RIGHT_READ | RIGHT_WRITE) != KE_OK)
        return VIO_E_MAP;
    v->shm = (struct nic_shared *)VNET_VA_SHM;
    v->shm_phys = phys;
    return VIO_OK;
}

/* Everything up to READY; VIO_OK or why the device is unusable. */
static int vnet_open(struct vnet *v, const struct keel_srvinfo *si)
{
    int err = vio_open_device(&v->dev, si, VIRTIO_ID_NET, VIRTIO_TRANS_NET, VNET_DMA_PAGES, true);
    if (err)
        return err;
    v->taken = NIC_FEAT_ALL; /* learn what the device offers; NIC_START narrows it */
    err = vnet_bring_up(v);
    v->offered = v->taken;
    return err;
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    struct vnet v = { .state = VNET_NODEV, .generation = si->restarts + 1 };
    uint64_t ep = srv_find_cap_prefix(si, "serve:");
    uint64_t shm = srv_find_cap_prefix(si, "shm:");
    v.signal_slot = srv_find_cap_prefix(si, "signal:");
    if (!ep || !shm || !v.signal_slot) {
        ulog("virtio-net: the manifest must grant serve:, shm: and signal: capabilities");
        return 1;
    }
    uint64_t badge = 0;
    v.signal_badged = keel_cap_info(v.signal_slot, NULL, NULL, &badge) == KE_OK && badge;
    int err = vnet_map_shm(&v, shm);
    if (err) {
        ulog("virtio-net: the shm: region is not a mappable DMA frame of %d pages", NIC_SHM_PAGES);
        return 1;
    }
    err = vnet_open(&v, si);
    if (err) {
        /* Serve anyway, so netd gets a clear NIC_E_NO_DEVICE, not silence. */
        ulog("virtio-net: no usable device (%04x:%04x): %s", si->pci.vendor, si->pci.device, vio_strerror(err));
        vio_stop(&v.dev);
        v.state = VNET_NODEV;
    } else {
        ulog("virtio-net: MAC %02x:%02x:%02x:%02x:%02x:%02x, link %s, generation %u", v.mac[0], v.mac[1], v.mac[2],
             v.mac[3], v.mac[4], v.mac[5], v.link_up ? "up" : "down", v.generation);
    }
    struct srv_loop loop = {
        .endpoint = ep,
        .handlers = vnet_handlers,
        .n_handlers = sizeof vnet_handlers / sizeof vnet_handlers[0],
        .on_notify = vnet_on_notify,
        .ctx = &v,
    };
    int64_t e = srv_ready_and_run(&loop);
    ulog("virtio-net: receive failed (%ld)", (long)e);
    return 1;
}
