/*
 * nic_netif.c - the lwIP netif driver over one NIC-protocol connection
 * (abi/keel/nic.h): lwIP's "low_level" half, with the NIC driver server
 * (virtio-net, e1000) on the other side of four shared rings.
 *
 * States (struct nic.state):
 *   DETACHED  no driver, or it died or restarted.  nic_poll tries to attach
 *             when retry_at_ns is due (back-off 50 ms doubling to 1 s).
 *             The netif, once added, stays registered.  A driver that was
 *             attached and went (it crashed, init restarts it) keeps its
 *             link up for RESTART_GRACE_NS: lwIP routes through it as
 *             before and linkoutput drops what it is given, so TCP
 *             retransmits across the restart as across any lost frame.
 *             Marking the link down at once made lwIP answer a forwarded
 *             SYN with ICMP net-unreachable (which ends a client's connect)
 *             and fail tlsd's backend connects, for a restart of a second
 *             (the fault campaign: 5 of 83 streams across driver restarts
 *             failed so).  After the grace the link goes down: lwIP routes
 *             nothing through it, keeps its addresses, and ARP entries age
 *             out as usual.
 *   ATTACHED  NIC_START accepted for `generation`; frames flow.
 * Attach: NIC_INFO (MAC, link, generation, MTU); NIC_STOP if that same
 * driver instance already ran with rings (netd restarted under it); every
 * buffer is ours again; rings reset; rx_free filled; NIC_START(generation).
 * The first attach adds the netif (the MAC is known only then) with the
 * configured address or DHCP.  A driver that restarts answers NIC_KICK with
 * an error (NIC_E_NOT_STARTED/NIC_E_STALE, or KE_DEAD for the old one): we
 * detach and attach again at once, like tests/nic/nicecho.c.  A restarted
 * driver waits for NIC_START and so never signals frames: to notice it on a
 * quiet link, netd kicks every NIC at least once a second (LIVENESS_NS).
 *
 * All calls to the driver are non-blocking (KEEL_NONBLOCK): a driver that
 * is absent (no such NIC) or dead (init restarting it) then costs a failed
 * call instead of stopping netd's loop, which serves the other NICs too.
 * A non-blocking call to a waiting driver still takes the kernel's IPC
 * fastpath (kernel/fastpath.c).
 * Drivers run at a higher priority than netd, so a live driver is always
 * waiting in its receive when netd runs; a kick that finds it busy anyway
 * is retried on the next iteration (1 ms timer), and after 100 ms of that we
 * treat the driver as gone.
 *
 * Buffers: the shared region's NIC_BUF_COUNT (480) buffers are netd's to
 * lend.  owner[] records where each one is: our free stack, lent to the
 * driver for RX (rx_free -> rx_used), or lent for TX (tx_send -> tx_done).
 * The driver is not trusted: a returned descriptor must name a buffer we
 * lent for that direction, or it is counted and ignored.  At most
 * RX_LEND_MAX buffers are lent for RX, so TX always has NIC_RING_SIZE.
 *
 * Copies, not zero copy (for now): a received frame is copied into one
 * pbuf (PBUF_POOL up to 1536 bytes, else PBUF_RAM from lwIP's heap, so a
 * 64 KiB segment is still one contiguous packet for the firewall) and its
 * buffers go straight back to rx_free, so lwIP may hold pbufs (ARP queue,
 * TCP out-of-order) as long as it likes without starving the driver; a
 * sent frame (a pbuf chain) is copied into one free buffer, or, when it is
 * longer than a buffer, into tx_scratch and from there into as many
 * buffers as it takes.
 *
 * Offloads (nic.h NIC_FEAT_*; software halves in nic_offload.c).  At attach
 * netd takes what the driver offers of RX_CSUM, RX_GSO, TX_CSUM, TX_TSO4:
 *   receive   a frame may span buffers (RX_GSO: up to 64 KiB, a TCP segment
 *             the host coalesced) and may say its checksum was checked
 *             (CSUM_VALID) or is left to complete (CSUM_PARTIAL: from the
 *             host, trusted as the device is).  Every other TCP/UDP frame
 *             has its checksum checked here (nof_check), right after the
 *             firewall (which is told CSUM_PARTIAL: modulate state must
 *             then leave the checksum field alone, fw_modulate.h), and a
 *             bad one is dropped and counted (rx_csum_bad):
 *             lwIP's own checks are off (lwipopts.h), because lwIP does not
 *             check what it forwards and fwd_csum.c then writes a fresh,
 *             valid checksum over whatever arrived.
 *   transmit  on a TX_CSUM NIC lwIP writes no TCP/UDP checksums (per-netif
 *             checksum control) and linkoutput writes the pseudo-header
 *             sum and marks the frame CSUM_PARTIAL, for every TCP/UDP frame
 *             (forwarded ones too: always right, whatever the field held).
 *             A frame longer than 1514 bytes is a forwarded GSO segment (every
 *             netif's MTU is NIC_MAX_GSO_FRAME - 14 so ip4_forward passes
 *             them; lwIP's own TCP still sends at most the peer's MSS):
 *             a TX_TSO4 NIC gets it whole (GSO_TCP4, gso_size from the
 *             received frame), any other is given nof_segment's MSS-sized
 *             segments.  The firewall sees the whole segment once, first.
 *
 * Batching: nic_poll/nic_flush run once per loop iteration; frames sent
 * during the iteration only go into tx_send, and nic_flush makes at most
 * one NIC_KICK: never one per frame.  A kick is made when tx_send gained
 * frames or when rx_free was refilled while the driver held fewer than half
 * of its RX buffers (otherwise the driver's own interrupt service picks the
 * new rx_free entries up).
 *
 * The firewall (netd_fw.c) sees every whole Ethernet frame with its NIC,
 * which is what pf's `on IFACE`, `in`/`out` need: a received frame in
 * nic_rx_frame() after it was copied into its pbuf (our private copy, which
 * the driver can no longer change) and before lwIP sees it; a frame lwIP
 * sends in nic_linkoutput() after it was copied into the NIC buffer and
 * before it is queued.  Forwarded packets pass both: in on one NIC, out on
 * the other.  A blocked frame is dropped and counted (rx_fw_drop,
 * tx_fw_drop); to lwIP a blocked outgoing frame looks sent and lost on the
 * wire (ERR_OK), as a packet dropped by a firewall further on would.  The
 * firewall also learns each NIC's address (antispoof, DHCP) from here.
 *
 * Context: everything here runs in netd's one thread, the only thread
 * that touches lwIP or the rings (the drivers wake it through badged
 * signals on its notification, netd.c).
 */
#include <keel/fmt.h>
#include <keel/nic_ring.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "netif/ethernet.h"
#include "lwip/ethip6.h"
#include "netd_ip6.h"
#include "fwd_csum.h"
#include "nic_netif.h"
#include "nic_offload.h"

#define RX_LEND_MAX      (NIC_RING_SIZE - 32) /* 224 of 480: TX keeps NIC_RING_SIZE */
#define ETH_MIN_FRAME    60                   /* without FCS: shorter frames are padded */
#define RETRY_FIRST_NS   50000000ull          /* 50 ms */
#define RETRY_MAX_NS     1000000000ull        /* 1 s */
#define KICK_GIVE_UP_NS  100000000ull         /* 100 ms of a busy driver: treat it as gone */
#define LIVENESS_NS      1000000000ull        /* kick at least this often, to notice a restart */
#define RESTART_GRACE_NS 5000000000ull        /* a driver not back this long after it went: link down */

/* A received frame fits one pool pbuf, so the firewall reads it in one piece. */
_Static_assert(PBUF_POOL_BUFSIZE >= NIC_MAX_FRAME, "one PBUF_POOL pbuf holds a whole frame");
_Static_assert(NIC_MAX_GSO_FRAME <= 0xffff, "a pbuf's tot_len holds a whole GSO frame");

/* The offloads netd takes when the driver offers them (not TSO6: a
 * forwarded IPv6 GSO segment is cut by nof_segment). */
#define NETD_FEATURES (NIC_FEAT_RX_CSUM | NIC_FEAT_RX_GSO | NIC_FEAT_TX_CSUM | NIC_FEAT_TX_TSO4)

/* A frame longer than one NIC buffer on its way out is gathered here first
 * (main thread only, and linkoutput never nests: it is not reentrant). */
static uint8_t tx_scratch[NIC_MAX_GSO_FRAME];

/* The received GSO frame lwIP is processing now (set around netif->input):
 * if lwIP forwards it, linkoutput finds the same pbuf and its segment size. */
static struct {
    const struct pbuf *p;
    uint16_t gso_size;
} rx_gso;

/* ------------------------------------------------------------ buffers -- */

/* The buffer index of OFFSET, or -1 when it names no whole buffer. */
static int buf_index(uint32_t offset)
{
    if (offset < NIC_BUF_AREA_OFFSET || (offset - NIC_BUF_AREA_OFFSET) % NIC_BUF_SIZE != 0)
        return -1;
    uint32_t i = (offset - NIC_BUF_AREA_OFFSET) / NIC_BUF_SIZE;
    return i < NIC_BUF_COUNT ? (int)i : -1;
}

static uint32_t buf_offset(uint32_t i) { return NIC_BUF_AREA_OFFSET + i * NIC_BUF_SIZE; }
static uint8_t *buf_at(struct nic *n, uint32_t offset) { return (uint8_t *)n->shm + offset; }

static void buf_put(struct nic *n, int i)
{
    n->owner[i] = NICB_NETD;
    n->free[n->n_free++] = buf_offset((uint32_t)i);
}

/* Every buffer back on our stack (the driver is gone or restarting). */
static void buf_reclaim_all(struct nic *n)
{
    n->stats.tx_lost_on_reattach += n->tx_lent; /* RX buffers lent held no frame we knew of */
    n->n_free = 0;
    for (uint32_t i = 0; i < NIC_BUF_COUNT; i++)
        buf_put(n, (int)i);
    n->rx_lent = n->tx_lent = 0;
    n->kick_pending = false;
}

/* Takes back what the driver transmitted. */
static void tx_reclaim(struct nic *n)
{
    struct nic_desc d;
    while (nic_ring_pop(&n->shm->tx_done, &d)) {
        int i = buf_index(d.offset);
        if (i < 0 || n->owner[i] != NICB_TX) {
            n->stats.tx_bad_desc++;
            continue;
        }
        n->tx_lent--;
        buf_put(n, i);
    }
}

/* Lends free buffers for RX up to RX_LEND_MAX; true if any were lent. */
static bool rx_refill(struct nic *n)
{
    bool lent = false;
    while (n->n_free && n->rx_lent < RX_LEND_MAX && nic_ring_space(&n->shm->rx_free)) {
        uint32_t off = n->free[--n->n_free];
        nic_ring_push(&n->shm->rx_free, (struct nic_desc){ .offset = off });
        n->owner[buf_index(off)] = NICB_RX;
        n->rx_lent++;
        lent = true;
    }
    return lent;
}

/* ---------------------------------------------------------- lwIP side -- */

static void log_addr(const char *what, const ip4_addr_t *a, char *buf, size_t len)
{
    uint32_t v = ip4_addr_get_u32(a); /* network order in memory */
    const uint8_t *b = (const uint8_t *)&v;
    snprintf(buf, len, "%s %u.%u.%u.%u", what, b[0], b[1], b[2], b[3]);
}

/* Tells the firewall N's address (0: none) and whether it runs DHCP. */
static void fw_learn_address(const struct nic *n)
{
    uint32_t a = lwip_ntohl(ip4_addr_get_u32(netif_ip4_addr(&n->netif)));
    uint32_t m = lwip_ntohl(ip4_addr_get_u32(netif_ip4_netmask(&n->netif)));
    unsigned prefix = 0;
    while (prefix < 32 && (m & (0x80000000u >> prefix)))
        prefix++;
    netd_fw_iface_update(n->fw, n->index, a, prefix, n->cfg && n->cfg->mode == NETD_IF_DHCP);
}

static void nic_status_cb(struct netif *netif)
{
    const struct nic *n = netif->state;
    fw_learn_address(n);
    char a[32], m[32], g[32];
    log_addr("address", netif_ip4_addr(netif), a, sizeof a);
    log_addr("netmask", netif_ip4_netmask(netif), m, sizeof m);
    log_addr("gateway", netif_ip4_gw(netif), g, sizeof g);
    ulog("netd: %s: %s, %s %s, %s%s%s\n", n->name, netif_is_up(netif) ? "up" : "down", a, m, g,
         n->cfg && n->cfg->mode == NETD_IF_DHCP ? " (dhcp)" : "", netif_default == netif ? ", default route" : "");
}

static void nic_link_cb(struct netif *netif)
{
    const struct nic *n = netif->state;
    ulog("netd: %s: link %s\n", n->name, netif_is_link_up(netif) ? "up" : "down");
}

/* Takes K free buffers for TX frame pieces D[0..K) (offsets and lengths
 * set by the caller) and queues them as one frame on tx_send. */
static void tx_queue(struct nic *n, struct nic_desc *d, unsigned k)
{
    for (unsigned i = 0; i + 1 < k; i++)
        d[i].flags |= NIC_DF_MORE;
    (void)nic_ring_push_frame(&n->shm->tx_send, d, k); /* the caller checked the space */
    for (unsigned i = 0; i < k; i++) {
        n->owner[buf_index(d[i].offset)] = NICB_TX;
        n->stats.tx_bytes += d[i].len;
    }
    n->tx_lent += k;
    n->kick_pending = true;
    n->stats.tx_frames++;
    LINK_STATS_INC(link.xmit);
}

/* Room for K more buffers out: free ones and tx_send entries.  Counts
 * and says why not. */
static err_t tx_room(struct nic *n, unsigned k)
{
    if (n->n_free < k)
        tx_reclaim(n);
    if (n->n_free < k) {
        n->stats.tx_no_buf++;
        LINK_STATS_INC(link.memerr);
        return ERR_MEM;
    }
    if (nic_ring_space(&n->shm->tx_send) < k) {
        n->stats.tx_ring_full++;
        LINK_STATS_INC(link.drop);
        return ERR_MEM;
    }
    return ERR_OK;
}

/* A plain frame (at most NIC_MAX_FRAME bytes) copied into one buffer. */
static err_t tx_plain(struct nic *n, struct pbuf *p)
{
    err_t e = tx_room(n, 1);
    if (e != ERR_OK)
        return e;
    uint32_t off = n->free[n->n_free - 1];
    uint8_t *buf = buf_at(n, off);
    uint16_t len = pbuf_copy_partial(p, buf, p->tot_len, 0);
    if (!netd_fw_packet(n->fw, FW_OUT, n->index, buf, len, false)) { /* a full checksum, or one set below */
        n->stats.tx_fw_drop++;                                       /* the buffer stays on our free stack */
        return ERR_OK;
    }
    /* point of no return: the frame goes out */
    n->n_free--;
    if (len < ETH_MIN_FRAME) {
        memset(buf + len, 0, ETH_MIN_FRAME - len);
        len = ETH_MIN_FRAME;
    }
    struct nic_desc d = { .offset = off, .len = len };
    struct nof_l4 l4;
    if ((n->features & NIC_FEAT_TX_CSUM) && nof_parse(buf, len, &l4) == NOF_OK) {
        nof_set_pseudo(buf, &l4); /* lwIP wrote none (set_checksum_ctrl); the device completes it */
        d.flags = NIC_DF_CSUM_PARTIAL;
        d.csum_start = l4.l4_off;
        d.csum_offset = l4.csum_off;
    }
    tx_queue(n, &d, 1);
    return ERR_OK;
}

/* A GSO TCP segment of LEN bytes in tx_scratch (layers L4) to a TSO NIC:
 * whole, over as many buffers as it takes. */
static err_t tx_tso(struct nic *n, uint32_t len, const struct nof_l4 *l4, uint16_t mss)
{
    unsigned k = (len + NIC_BUF_SIZE - 1) / NIC_BUF_SIZE;
    err_t e = tx_room(n, k);
    if (e != ERR_OK)
        return e;
    nof_set_pseudo(tx_scratch, l4);
    struct nic_desc d[NIC_FRAME_MAX_BUFS];
    for (unsigned i = 0; i < k; i++) {
        uint32_t off = n->free[--n->n_free], at = i * NIC_BUF_SIZE;
        uint16_t piece = (uint16_t)(len - at < NIC_BUF_SIZE ? len - at : NIC_BUF_SIZE);
        memcpy(buf_at(n, off), tx_scratch + at, piece);
        d[i] = (struct nic_desc){ .offset = off, .len = piece };
    }
    d[0].flags = NIC_DF_GSO_TCP4 | NIC_DF_CSUM_PARTIAL;
    d[0].gso_size = mss;
    d[0].csum_start = l4->l4_off;
    d[0].csum_offset = l4->csum_off;
    tx_queue(n, d, k);
    n->stats.tx_gso_frames++;
    return ERR_OK;
}

/* A GSO TCP segment in tx_scratch to a NIC without TSO: cut here into
 * MSS-sized frames, each with its checksums.  As many as fit go out;
 * TCP retransmits the rest. */
static err_t tx_segment(struct nic *n, const struct nof_l4 *l4, uint16_t mss)
{
    for (unsigned k = 0;; k++) {
        err_t e = tx_room(n, 1);
        if (e != ERR_OK)
            return e;
        uint32_t off = n->free[n->n_free - 1];
        int len = nof_segment(tx_scratch, l4, mss, k, buf_at(n, off));
        if (len <= 0)
            return ERR_OK; /* past the end (nof_segment's MSS is checked by the caller) */
        n->n_free--;
        struct nic_desc d = { .offset = off, .len = (uint16_t)len };
        tx_queue(n, &d, 1);
        n->stats.tx_sw_segments++;
    }
}

/* A frame longer than NIC_MAX_FRAME: a forwarded GSO TCP segment (our
 * netifs' MTU lets ip4_forward pass them), gathered into tx_scratch. */
static err_t tx_large(struct nic *n, struct pbuf *p)
{
    uint16_t len = pbuf_copy_partial(p, tx_scratch, p->tot_len, 0);
    struct nof_l4 l4;
    if (nof_parse(tx_scratch, len, &l4) != NOF_OK || l4.proto != 6 || l4.hdr_len >= NIC_MAX_FRAME) {
        n->stats.tx_too_long++; /* only TCP segments can be cut (lwIP fragments nothing) */
        LINK_STATS_INC(link.lenerr);
        return ERR_BUF;
    }
    if (!netd_fw_packet(n->fw, FW_OUT, n->index, tx_scratch, len, false)) {
        n->stats.tx_fw_drop++; /* one packet to the firewall, all its bytes */
        return ERR_OK;
    }
    uint16_t mss = (uint16_t)(NIC_MAX_FRAME - l4.hdr_len);
    if (rx_gso.p == p && rx_gso.gso_size && rx_gso.gso_size < mss)
        mss = rx_gso.gso_size; /* the sender's segment size, as it arrived */
    _Static_assert(NIC_FRAME_MAX_BUFS * NIC_BUF_SIZE >= NIC_MAX_GSO_FRAME, "a GSO frame fits its buffers");
    if ((n->features & NIC_FEAT_TX_TSO4) && !l4.v6) /* IPv6 segments are cut here (netd takes no TSO6) */
        return tx_tso(n, len, &l4, mss);
    return tx_segment(n, &l4, mss);
}

/*
 * netif->linkoutput: copies the frame P (a pbuf chain, Ethernet header
 * included; lwIP keeps ownership of P) into free buffers and, if the
 * firewall passes it, queues it on tx_send (offloads: the design comment).
 * The kick is left to nic_flush.  Returns ERR_OK (also for a frame the
 * firewall blocked: dropped, counted), or an error with the frame dropped
 * and counted: ERR_IF (no driver), ERR_BUF (too long and not TCP), ERR_MEM
 * (no buffer or tx_send full; TCP retransmits).
 */
static err_t nic_linkoutput(struct netif *netif, struct pbuf *p)
{
    struct nic *n = netif->state;
    if (n->state != NICS_ATTACHED) {
        n->stats.tx_detached++;
        LINK_STATS_INC(link.drop);
        return ERR_IF;
    }
    return p->tot_len <= NIC_MAX_FRAME ? tx_plain(n, p) : tx_large(n, p);
}

static err_t nic_netif_init(struct netif *netif)
{
    struct nic *n = netif->state;
    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->hostname = "keel";
    netif->output = netd_fwd_output; /* etharp_output, after lwIP 2.2's forwarding (net/lwip/fwd_csum.c) */
    netif->linkoutput = nic_linkoutput;
    netif->mtu = NIC_MAX_GSO_FRAME - SIZEOF_ETH_HDR; /* forwarded GSO segments pass; see the top */
    netif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(netif->hwaddr, n->mac, ETH_HWADDR_LEN);
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_MLD6;
    netif->output_ip6 = ethip6_output; /* IPv6: netd_ip6.c; filtered in linkoutput like IPv4 */
    return ERR_OK;
}

/* lwIP leaves TCP/UDP checksums to a NIC that completes them (the
 * driver's features can change with a restart); it checks none (above). */
static void set_checksum_ctrl(struct nic *n)
{
    if (!n->netif_added)
        return;
    u16_t f = NETIF_CHECKSUM_GEN_IP | NETIF_CHECKSUM_GEN_ICMP | NETIF_CHECKSUM_CHECK_IP | NETIF_CHECKSUM_CHECK_ICMP |
              NETIF_CHECKSUM_GEN_ICMP6 | NETIF_CHECKSUM_CHECK_ICMP6;
    if (!(n->features & NIC_FEAT_TX_CSUM))
        f |= NETIF_CHECKSUM_GEN_TCP | NETIF_CHECKSUM_GEN_UDP;
    NETIF_SET_CHECKSUM_CTRL(&n->netif, f);
}

/* Registers the netif with its configuration (first attach only). */
static void add_netif(struct nic *n, uint32_t mtu)
{
    ip4_addr_t ip, mask, gw;
    ip4_addr_set_zero(&ip);
    ip4_addr_set_zero(&mask);
    ip4_addr_set_zero(&gw);
    const struct netd_if_cfg *c = n->cfg;
    if (c && c->mode == NETD_IF_STATIC) {
        IP4_ADDR(&ip, c->addr[0], c->addr[1], c->addr[2], c->addr[3]);
        ip4_addr_set_u32(&mask, lwip_htonl(c->prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> c->prefix)));
        if (c->has_gateway)
            IP4_ADDR(&gw, c->gateway[0], c->gateway[1], c->gateway[2], c->gateway[3]);
    }
    if (!netif_add(&n->netif, &ip, &mask, &gw, n, nic_netif_init, ethernet_input)) {
        ulog("netd: %s: lwIP refused the interface\n", n->name);
        return;
    }
    (void)mtu; /* the wire's MTU (1500 from both drivers) bounds what linkoutput sends */
    n->netif_added = true;
    netif_set_status_callback(&n->netif, nic_status_cb);
    netif_set_link_callback(&n->netif, nic_link_cb);
    /* The default route: the interface with a gateway; failing that, the
     * first DHCP interface (its server's router option sets the gateway). */
    if (c && (c->has_gateway || (c->mode == NETD_IF_DHCP && !netif_default)))
        netif_set_default(&n->netif);
    netd_ip6_apply(n);
    if (!c || (c->mode == NETD_IF_NONE && c->mode6 == NETD_IF6_NONE))
        ulog("netd: %s: no address configured (neither args %s=... nor an interface line in appliance.conf)\n", n->name,
             n->name);
    fw_learn_address(n);
    netif_set_up(&n->netif);
    if (c && c->mode == NETD_IF_DHCP) {
        err_t e = dhcp_start(&n->netif);
        if (e != ERR_OK)
            ulog("netd: %s: DHCP did not start: lwIP error %d\n", n->name, (int)e);
    }
}

/* A new configuration for N's netif (after the first attach): the static
 * address, netmask and gateway, or DHCP, or none.  The caller has checked
 * that it differs from the one in force; WAS_DHCP: the old one ran DHCP. */
void nic_reconfigure(struct nic *n, const struct netd_if_cfg *cfg, bool was_dhcp)
{
    n->cfg = cfg;
    if (!n->netif_added)
        return; /* add_netif takes it at the first attach */
    if (was_dhcp)
        dhcp_release_and_stop(&n->netif);
    ip4_addr_t ip, mask, gw;
    ip4_addr_set_zero(&ip);
    ip4_addr_set_zero(&mask);
    ip4_addr_set_zero(&gw);
    if (cfg && cfg->mode == NETD_IF_STATIC) {
        IP4_ADDR(&ip, cfg->addr[0], cfg->addr[1], cfg->addr[2], cfg->addr[3]);
        ip4_addr_set_u32(&mask, lwip_htonl(cfg->prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> cfg->prefix)));
        if (cfg->has_gateway)
            IP4_ADDR(&gw, cfg->gateway[0], cfg->gateway[1], cfg->gateway[2], cfg->gateway[3]);
    }
    netif_set_addr(&n->netif, &ip, &mask, &gw);
    if (cfg && (cfg->has_gateway || (cfg->mode == NETD_IF_DHCP && !netif_default)))
        netif_set_default(&n->netif);
    else if (netif_default == &n->netif)
        netif_set_default(NULL); /* its gateway is gone */
    fw_learn_address(n);
    netd_ip6_apply(n);
    if (cfg && cfg->mode == NETD_IF_DHCP) {
        err_t e = dhcp_start(&n->netif);
        if (e != ERR_OK)
            ulog("netd: %s: DHCP did not start: lwIP error %d\n", n->name, (int)e);
    }
    nic_status_cb(&n->netif);
}

/* --------------------------------------------------------- driver side -- */

static void set_link(struct nic *n, bool up)
{
    if (!n->netif_added || up == (netif_is_link_up(&n->netif) != 0))
        return;
    if (up)
        netif_set_link_up(&n->netif);
    else
        netif_set_link_down(&n->netif);
}

static void attach_failed(struct nic *n, uint64_t now_ns, const char *why, int64_t err, int32_t label)
{
    n->state = NICS_DETACHED;
    if (n->attach_failures == 0 || n->attach_failures == 20)
        ulog("netd: %s: cannot attach to the driver: %s (error %lld, reply %d); %s\n", n->name, why, (long long)err,
             (int)label, n->attach_failures ? "still retrying, quietly" : "retrying");
    n->attach_failures++;
    uint64_t delay = RETRY_FIRST_NS << (n->attach_failures < 5 ? n->attach_failures : 5);
    n->retry_at_ns = now_ns + (delay < RETRY_MAX_NS ? delay : RETRY_MAX_NS);
}

static int64_t nic_call(struct nic *n, uint32_t label, uint64_t mr0, uint64_t mr1, struct keel_msg *m)
{
    *m = (struct keel_msg){ .info = label | KEEL_NONBLOCK, .mr = { mr0, mr1 } };
    return keel_call(n->ep, m);
}

/* The attach sequence (design comment above); one attempt, no blocking. */
static void attach(struct nic *n, uint64_t now_ns)
{
    struct keel_msg m;
    int64_t err = nic_call(n, NIC_INFO, 0, 0, &m);
    if (err == KE_WOULD_BLOCK) {
        attach_failed(n, now_ns, "no driver is serving this NIC (yet)", err, 0);
        return;
    }
    if (err || keel_label(&m) != 0) {
        attach_failed(n, now_ns, "NIC_INFO failed", err, (int32_t)keel_label(&m));
        return;
    }
    uint8_t mac[6];
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)(m.mr[0] >> (8 * i));
    bool link = m.mr[1] != 0;
    uint32_t gen = (uint32_t)m.mr[2], mtu = (uint32_t)m.mr[3];
    uint32_t features = (uint32_t)(m.mr[3] >> 32) & NETD_FEATURES;
    if (n->shm->generation == gen) {
        /* This driver instance ran with rings before (netd restarted): quiesce it first. */
        struct keel_msg s;
        (void)nic_call(n, NIC_STOP, 0, 0, &s);
    }
    buf_reclaim_all(n);
    nic_rings_reset(n->shm);
    (void)rx_refill(n);
    err = nic_call(n, NIC_START, gen, features, &m);
    if (err || keel_label(&m) != 0) {
        attach_failed(n, now_ns, "NIC_START failed", err, (int32_t)keel_label(&m));
        return;
    }
    /* point of no return: attached to generation gen */
    n->state = NICS_ATTACHED;
    n->generation = gen;
    n->attach_failures = 0;
    n->detached_at_ns = 0;
    n->kick_blocked_since_ns = 0;
    n->last_kick_ns = now_ns;
    n->stats.attaches++;
    n->features = features;
    memcpy(n->mac, mac, 6);
    ulog("netd: %s: attached: MAC %02x:%02x:%02x:%02x:%02x:%02x, link %s, generation %u, MTU %u, offloads%s%s%s%s%s\n",
         n->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], link ? "up" : "down", gen, mtu,
         features ? "" : " none", features & NIC_FEAT_RX_CSUM ? " rx-csum" : "",
         features & NIC_FEAT_RX_GSO ? " rx-gso" : "", features & NIC_FEAT_TX_CSUM ? " tx-csum" : "",
         features & NIC_FEAT_TX_TSO4 ? " tso4" : "");
    if (!n->netif_added)
        add_netif(n, mtu);
    else
        memcpy(n->netif.hwaddr, mac, 6);
    set_checksum_ctrl(n);
    set_link(n, link);
}

static void detach(struct nic *n, uint64_t now_ns, const char *why, int64_t err, int32_t label)
{
    ulog("netd: %s: driver gone or restarted (%s: error %lld, reply %d); reattaching\n", n->name, why, (long long)err,
         (int)label);
    n->state = NICS_DETACHED;
    n->attach_failures = 0;
    n->retry_at_ns = now_ns;    /* at once: a restarted driver is usually back */
    n->detached_at_ns = now_ns; /* the link stays as it was for the restart grace (top) */
}

/* Gives back the buffers of a received frame's K pieces that were lent
 * for RX (the others are counted: the driver named buffers it never had). */
static void rx_give_back(struct nic *n, const struct nic_desc *d, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        int b = buf_index(d[i].offset);
        if (b < 0 || n->owner[b] != NICB_RX) {
            n->stats.rx_bad_desc++;
            continue;
        }
        n->rx_lent--;
        buf_put(n, b);
    }
}

/* Whether the K pieces D (a whole frame, WHOLE false if the driver broke
 * it) are a frame we may take: pieces in their buffers, lent for RX, the
 * length right for the flags, and only offloads we took.  Sets *TOTAL. */
static bool rx_frame_ok(const struct nic *n, const struct nic_desc *d, unsigned k, bool whole, uint32_t *total)
{
    uint32_t t = 0;
    for (unsigned i = 0; i < k; i++) {
        int b = buf_index(d[i].offset);
        if (!nic_piece_ok(d[i]) || b < 0 || n->owner[b] != NICB_RX || (i > 0 && (d[i].flags & NIC_DF_OFFLOAD)))
            return false;
        t += d[i].len;
    }
    uint16_t f = d[0].flags & NIC_DF_OFFLOAD;
    if (!whole || !nic_frame_len_ok(t, f))
        return false;
    if ((f & (NIC_DF_CSUM_VALID | NIC_DF_CSUM_PARTIAL)) && !(n->features & NIC_FEAT_RX_CSUM))
        return false;
    if (((f & NIC_DF_GSO) || k > 1 || d[0].start) && !(n->features & NIC_FEAT_RX_GSO))
        return false;
    *total = t;
    return true;
}

/* The checksum of a frame the device did not check: false when it is a
 * TCP/UDP/IPv4 frame whose checksum is wrong.  Frames nof_parse cannot
 * read are left to the firewall, which drops what is malformed. */
static bool rx_checksum_ok(const uint8_t *frame, uint32_t len)
{
    struct nof_l4 l4;
    return nof_parse(frame, len, &l4) != NOF_OK || nof_check(frame, &l4);
}

/* Hands one received frame (K pieces D from rx_used; WHOLE false when the
 * driver left it unfinished) to the firewall and lwIP. */
static void nic_rx_frame(struct nic *n, const struct nic_desc *d, unsigned k, bool whole)
{
    if (k == 1 && d[0].len == 0 && d[0].flags == 0) { /* handed back unused (NIC_STOP) */
        rx_give_back(n, d, 1);
        return;
    }
    uint32_t total = 0;
    if (!rx_frame_ok(n, d, k, whole, &total)) {
        n->stats.rx_bad_desc++;
        LINK_STATS_INC(link.lenerr);
        rx_give_back(n, d, k);
        return;
    }
    n->stats.rx_frames++;
    n->stats.rx_bytes += total;
    if (k > 1 || total > NIC_MAX_FRAME)
        n->stats.rx_gso_frames++;
    LINK_STATS_INC(link.recv);
    struct pbuf *p = NULL;
    if (n->netif_added) /* else lwIP refused the interface (add_netif logged it) */
        p = pbuf_alloc(PBUF_RAW, (u16_t)total, total <= PBUF_POOL_BUFSIZE ? PBUF_POOL : PBUF_RAM);
    if (p) {
        for (unsigned i = 0, at = 0; i < k; at += d[i].len, i++)
            (void)pbuf_take_at(p, buf_at(n, d[i].offset) + d[i].start, d[i].len, (u16_t)at); /* p holds total */
    }
    rx_give_back(n, d, k);
    if (!p) {
        n->stats.rx_no_pbuf++;
        LINK_STATS_INC(link.memerr);
        return;
    }
    /* p is one pbuf (pool pbufs hold a whole plain frame; PBUF_RAM is one
     * piece).  The firewall first, so its malformed-packet counters see
     * every bad header; then the checksum, before lwIP or forwarding. */
    if (!netd_fw_packet(n->fw, FW_IN, n->index, p->payload, total, (d[0].flags & NIC_DF_CSUM_PARTIAL) != 0)) {
        n->stats.rx_fw_drop++;
        pbuf_free(p);
        return;
    }
    if (!(d[0].flags & (NIC_DF_CSUM_VALID | NIC_DF_CSUM_PARTIAL)) && !rx_checksum_ok(p->payload, total)) {
        n->stats.rx_csum_bad++;
        LINK_STATS_INC(link.chkerr);
        pbuf_free(p);
        return;
    }
    rx_gso.p = (d[0].flags & NIC_DF_GSO) ? p : NULL;
    rx_gso.gso_size = d[0].gso_size;
    err_t e = n->netif.input(p, &n->netif);
    rx_gso.p = NULL;
    if (e != ERR_OK) {
        n->stats.rx_input_err++;
        LINK_STATS_INC(link.drop);
        pbuf_free(p);
    }
}

/* ---------------------------------------------------------------- API -- */

void nic_init(struct nic *n, const char *name, unsigned index, uint64_t ep, struct nic_shared *shm,
              const struct netd_if_cfg *cfg, struct netd_fw *fw)
{
    memset(n, 0, sizeof *n);
    strlcpy(n->name, name, sizeof n->name);
    n->index = index;
    n->ep = ep;
    n->shm = shm;
    n->cfg = cfg;
    n->fw = fw;
    n->state = NICS_DETACHED;
    n->retry_at_ns = 0; /* attach on the first poll */
    for (uint32_t i = 0; i < NIC_BUF_COUNT; i++)
        buf_put(n, (int)i);
}

bool nic_poll(struct nic *n, uint64_t now_ns, unsigned budget)
{
    if (n->state == NICS_DETACHED) {
        if (n->detached_at_ns && now_ns - n->detached_at_ns >= RESTART_GRACE_NS)
            set_link(n, false); /* not a restart after all (retries come at least once a second) */
        if (now_ns < n->retry_at_ns)
            return false;
        attach(n, now_ns);
        if (n->state != NICS_ATTACHED)
            return false;
    }
    set_link(n, n->shm->link_up != 0);
    tx_reclaim(n);
    struct nic_desc d[NIC_FRAME_MAX_BUFS];
    int r;
    while (budget && (r = nic_ring_pop_frame(&n->shm->rx_used, d, NIC_FRAME_MAX_BUFS)) != 0) {
        budget--;
        nic_rx_frame(n, d, r < 0 ? (unsigned)-r : (unsigned)r, r > 0);
        if (n->state != NICS_ATTACHED) /* lwIP's replies cannot detach us, but be sure */
            return false;
    }
    return nic_ring_ready(&n->shm->rx_used) != 0;
}

bool nic_flush(struct nic *n, uint64_t now_ns)
{
    if (n->state != NICS_ATTACHED)
        return false;
    bool rx_low = n->rx_lent < RX_LEND_MAX / 2;
    if (rx_refill(n) && rx_low)
        n->kick_pending = true;
    if (now_ns - n->last_kick_ns >= LIVENESS_NS)
        n->kick_pending = true;
    if (!n->kick_pending)
        return false;
    struct keel_msg m;
    int64_t err = nic_call(n, NIC_KICK, 0, 0, &m);
    if (err == KE_WOULD_BLOCK) {
        n->stats.kick_retries++;
        if (!n->kick_blocked_since_ns)
            n->kick_blocked_since_ns = now_ns;
        else if (now_ns - n->kick_blocked_since_ns > KICK_GIVE_UP_NS)
            detach(n, now_ns, "NIC_KICK found no driver for 100 ms", err, 0);
        return n->state == NICS_ATTACHED;
    }
    n->kick_blocked_since_ns = 0;
    if (err || keel_label(&m) != 0) {
        detach(n, now_ns, "NIC_KICK failed", err, (int32_t)keel_label(&m));
        return false;
    }
    n->kick_pending = false;
    n->last_kick_ns = now_ns;
    n->stats.kicks++;
    return false;
}

uint64_t nic_next_deadline(const struct nic *n)
{
    return n->state == NICS_DETACHED ? n->retry_at_ns : n->last_kick_ns + LIVENESS_NS;
}

void nic_log_stats(const struct nic *n)
{
    const struct nic_counters *s = &n->stats;
    ulog("netd: %s: %s gen %u, attaches %llu, tx lost %llu; rx %llu (%llu B) gso %llu bad %llu nopbuf %llu inerr %llu "
         "csumbad %llu fwdrop %llu; lent rx %u tx %u free %u\n",
         n->name, n->state == NICS_ATTACHED ? "attached" : "detached", n->generation, (unsigned long long)s->attaches,
         (unsigned long long)s->tx_lost_on_reattach, (unsigned long long)s->rx_frames, (unsigned long long)s->rx_bytes,
         (unsigned long long)s->rx_gso_frames, (unsigned long long)s->rx_bad_desc, (unsigned long long)s->rx_no_pbuf,
         (unsigned long long)s->rx_input_err, (unsigned long long)s->rx_csum_bad, (unsigned long long)s->rx_fw_drop,
         n->rx_lent, n->tx_lent, n->n_free);
    ulog("netd: %s: tx %llu (%llu B) tso %llu swseg %llu bad %llu nobuf %llu ringfull %llu toolong %llu detached %llu "
         "fwdrop %llu; kicks %llu retries %llu\n",
         n->name, (unsigned long long)s->tx_frames, (unsigned long long)s->tx_bytes,
         (unsigned long long)s->tx_gso_frames, (unsigned long long)s->tx_sw_segments,
         (unsigned long long)s->tx_bad_desc, (unsigned long long)s->tx_no_buf, (unsigned long long)s->tx_ring_full,
         (unsigned long long)s->tx_too_long, (unsigned long long)s->tx_detached, (unsigned long long)s->tx_fw_drop,
         (unsigned long long)s->kicks, (unsigned long long)s->kick_retries);
    const struct nic_stats *d = &n->shm->stats;
    ulog("netd: %s: driver: rx %llu dropped %llu bad %llu; tx %llu dropped %llu bad %llu; irqs %llu kicks %llu\n",
         n->name, (unsigned long long)d->rx_frames, (unsigned long long)d->rx_dropped,
         (unsigned long long)d->rx_bad_desc, (unsigned long long)d->tx_frames, (unsigned long long)d->tx_dropped,
         (unsigned long long)d->tx_bad_desc, (unsigned long long)d->irqs, (unsigned long long)d->kicks);
}
