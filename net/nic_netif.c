/*
 * nic_netif.c - the lwIP netif driver over one NIC-protocol connection
 * (abi/keel/nic.h): lwIP's "low_level" half, with the NIC driver server
 * (virtio-net, e1000) on the other side of four shared rings.
 *
 * States (struct nic.state):
 *   DETACHED  no driver, or it died or restarted.  nic_poll tries to attach
 *             when retry_at_ns is due (back-off 50 ms doubling to 1 s).
 *             The netif, once added, stays registered with its link down, so
 *             lwIP routes nothing through it and keeps its addresses, ARP
 *             entries age out as usual.
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
 * Copies, not zero copy (for now): a received frame is copied into a
 * PBUF_POOL pbuf and its buffer goes straight back to rx_free, so lwIP may
 * hold pbufs (ARP queue, reassembly, TCP out-of-order) as long as it likes
 * without starving the driver; a sent frame (a pbuf chain) is copied into
 * one free buffer.  Zero copy (custom pbufs over the shared buffers) is an
 * optimisation for the throughput issue, with a cap on buffers lwIP holds.
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
 * Context: everything here runs in netd's main thread, the only thread
 * that touches lwIP or the rings.  The per-NIC waker threads (netd.c) touch
 * nothing here.
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
#include "fwd_csum.h"
#include "nic_netif.h"

#define RX_LEND_MAX     (NIC_RING_SIZE - 32) /* 224 of 480: TX keeps NIC_RING_SIZE */
#define ETH_MIN_FRAME   60                   /* without FCS: shorter frames are padded */
#define RETRY_FIRST_NS  50000000ull          /* 50 ms */
#define RETRY_MAX_NS    1000000000ull        /* 1 s */
#define KICK_GIVE_UP_NS 100000000ull         /* 100 ms of a busy driver: treat it as gone */
#define LIVENESS_NS     1000000000ull        /* kick at least this often, to notice a restart */

/* A received frame fits one pool pbuf, so the firewall reads it in one piece. */
_Static_assert(PBUF_POOL_BUFSIZE >= NIC_MAX_FRAME, "one PBUF_POOL pbuf holds a whole frame");

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

/*
 * netif->linkoutput: copies the frame P (a pbuf chain, Ethernet header
 * included; lwIP keeps ownership of P) into a free buffer and, if the
 * firewall passes it, queues it on tx_send.  The kick is left to nic_flush.
 * Returns ERR_OK (also for a frame the firewall blocked: dropped, counted),
 * or an error with the frame dropped and counted: ERR_IF (no driver),
 * ERR_BUF (too long), ERR_MEM (no buffer or tx_send full; TCP retransmits).
 */
static err_t nic_linkoutput(struct netif *netif, struct pbuf *p)
{
    struct nic *n = netif->state;
    if (n->state != NICS_ATTACHED) {
        n->stats.tx_detached++;
        LINK_STATS_INC(link.drop);
        return ERR_IF;
    }
    if (p->tot_len > NIC_MAX_FRAME) {
        n->stats.tx_too_long++;
        LINK_STATS_INC(link.lenerr);
        return ERR_BUF;
    }
    if (!n->n_free)
        tx_reclaim(n);
    if (!n->n_free) {
        n->stats.tx_no_buf++;
        LINK_STATS_INC(link.memerr);
        return ERR_MEM;
    }
    if (!nic_ring_space(&n->shm->tx_send)) {
        n->stats.tx_ring_full++;
        LINK_STATS_INC(link.drop);
        return ERR_MEM;
    }
    uint32_t off = n->free[n->n_free - 1];
    uint8_t *buf = buf_at(n, off);
    uint16_t len = pbuf_copy_partial(p, buf, p->tot_len, 0);
    if (!netd_fw_packet(n->fw, FW_OUT, n->index, buf, len)) {
        n->stats.tx_fw_drop++; /* the buffer stays on our free stack */
        return ERR_OK;
    }
    /* point of no return: the frame goes out */
    n->n_free--;
    if (len < ETH_MIN_FRAME) {
        memset(buf + len, 0, ETH_MIN_FRAME - len);
        len = ETH_MIN_FRAME;
    }
    nic_ring_push(&n->shm->tx_send, (struct nic_desc){ .offset = off, .len = len });
    n->owner[buf_index(off)] = NICB_TX;
    n->tx_lent++;
    n->kick_pending = true;
    n->stats.tx_frames++;
    n->stats.tx_bytes += len;
    LINK_STATS_INC(link.xmit);
    return ERR_OK;
}

static err_t nic_netif_init(struct netif *netif)
{
    struct nic *n = netif->state;
    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->hostname = "keel";
    netif->output = netd_fwd_output; /* etharp_output, after lwIP 2.2's forwarding (net/lwip/fwd_csum.c) */
    netif->linkoutput = nic_linkoutput;
    netif->mtu = 1500;
    netif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(netif->hwaddr, n->mac, ETH_HWADDR_LEN);
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    return ERR_OK;
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
    if (mtu >= 576 && mtu < n->netif.mtu)
        n->netif.mtu = (u16_t)mtu;
    n->netif_added = true;
    netif_set_status_callback(&n->netif, nic_status_cb);
    netif_set_link_callback(&n->netif, nic_link_cb);
    /* The default route: the interface with a gateway; failing that, the
     * first DHCP interface (its server's router option sets the gateway). */
    if (c && (c->has_gateway || (c->mode == NETD_IF_DHCP && !netif_default)))
        netif_set_default(&n->netif);
    if (!c || c->mode == NETD_IF_NONE)
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

static int64_t nic_call(struct nic *n, uint32_t label, uint64_t mr0, struct keel_msg *m)
{
    *m = (struct keel_msg){ .info = label | KEEL_NONBLOCK, .mr = { mr0 } };
    return keel_call(n->ep, m);
}

/* The attach sequence (design comment above); one attempt, no blocking. */
static void attach(struct nic *n, uint64_t now_ns)
{
    struct keel_msg m;
    int64_t err = nic_call(n, NIC_INFO, 0, &m);
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
    if (n->shm->generation == gen) {
        /* This driver instance ran with rings before (netd restarted): quiesce it first. */
        struct keel_msg s;
        (void)nic_call(n, NIC_STOP, 0, &s);
    }
    buf_reclaim_all(n);
    nic_rings_reset(n->shm);
    (void)rx_refill(n);
    err = nic_call(n, NIC_START, gen, &m);
    if (err || keel_label(&m) != 0) {
        attach_failed(n, now_ns, "NIC_START failed", err, (int32_t)keel_label(&m));
        return;
    }
    /* point of no return: attached to generation gen */
    n->state = NICS_ATTACHED;
    n->generation = gen;
    n->attach_failures = 0;
    n->kick_blocked_since_ns = 0;
    n->last_kick_ns = now_ns;
    n->stats.attaches++;
    memcpy(n->mac, mac, 6);
    ulog("netd: %s: attached: MAC %02x:%02x:%02x:%02x:%02x:%02x, link %s, generation %u, MTU %u\n", n->name, mac[0],
         mac[1], mac[2], mac[3], mac[4], mac[5], link ? "up" : "down", gen, mtu);
    if (!n->netif_added)
        add_netif(n, mtu);
    else
        memcpy(n->netif.hwaddr, mac, 6);
    set_link(n, link);
}

static void detach(struct nic *n, uint64_t now_ns, const char *why, int64_t err, int32_t label)
{
    ulog("netd: %s: driver gone or restarted (%s: error %lld, reply %d); reattaching\n", n->name, why, (long long)err,
         (int)label);
    n->state = NICS_DETACHED;
    n->attach_failures = 0;
    n->retry_at_ns = now_ns; /* at once: a restarted driver is usually back */
    set_link(n, false);
}

/* Hands one received frame (descriptor D from rx_used) to lwIP. */
static void nic_rx_frame(struct nic *n, struct nic_desc d)
{
    int i = buf_index(d.offset);
    if (i < 0 || n->owner[i] != NICB_RX) {
        n->stats.rx_bad_desc++;
        return;
    }
    n->rx_lent--;
    if (d.len == 0) { /* handed back unused (NIC_STOP) */
        buf_put(n, i);
        return;
    }
    if (!nic_desc_ok(d, true)) {
        n->stats.rx_bad_desc++;
        LINK_STATS_INC(link.lenerr);
        buf_put(n, i);
        return;
    }
    n->stats.rx_frames++;
    n->stats.rx_bytes += d.len;
    LINK_STATS_INC(link.recv);
    if (!n->netif_added) { /* lwIP refused the interface (add_netif logged it) */
        n->stats.rx_input_err++;
        buf_put(n, i);
        return;
    }
    struct pbuf *p = pbuf_alloc(PBUF_RAW, d.len, PBUF_POOL);
    if (!p) {
        n->stats.rx_no_pbuf++;
        LINK_STATS_INC(link.memerr);
        buf_put(n, i);
        return;
    }
    (void)pbuf_take(p, buf_at(n, d.offset), d.len); /* cannot fail: p holds d.len bytes */
    buf_put(n, i);
    if (!netd_fw_packet(n->fw, FW_IN, n->index, p->payload, d.len)) { /* one pbuf: the assertion above */
        n->stats.rx_fw_drop++;
        pbuf_free(p);
        return;
    }
    if (n->netif.input(p, &n->netif) != ERR_OK) {
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
        if (now_ns < n->retry_at_ns)
            return false;
        attach(n, now_ns);
        if (n->state != NICS_ATTACHED)
            return false;
    }
    set_link(n, n->shm->link_up != 0);
    tx_reclaim(n);
    struct nic_desc d;
    while (budget && nic_ring_pop(&n->shm->rx_used, &d)) {
        budget--;
        nic_rx_frame(n, d);
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
    int64_t err = nic_call(n, NIC_KICK, 0, &m);
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
    ulog("netd: %s: %s gen %u, attaches %llu, tx lost %llu; rx %llu (%llu B) bad %llu nopbuf %llu inerr %llu "
         "fwdrop %llu; lent rx %u tx %u free %u\n",
         n->name, n->state == NICS_ATTACHED ? "attached" : "detached", n->generation, (unsigned long long)s->attaches,
         (unsigned long long)s->tx_lost_on_reattach, (unsigned long long)s->rx_frames, (unsigned long long)s->rx_bytes,
         (unsigned long long)s->rx_bad_desc, (unsigned long long)s->rx_no_pbuf, (unsigned long long)s->rx_input_err,
         (unsigned long long)s->rx_fw_drop, n->rx_lent, n->tx_lent, n->n_free);
    ulog("netd: %s: tx %llu (%llu B) bad %llu nobuf %llu ringfull %llu toolong %llu detached %llu fwdrop %llu; "
         "kicks %llu retries %llu\n",
         n->name, (unsigned long long)s->tx_frames, (unsigned long long)s->tx_bytes, (unsigned long long)s->tx_bad_desc,
         (unsigned long long)s->tx_no_buf, (unsigned long long)s->tx_ring_full, (unsigned long long)s->tx_too_long,
         (unsigned long long)s->tx_detached, (unsigned long long)s->tx_fw_drop, (unsigned long long)s->kicks,
         (unsigned long long)s->kick_retries);
    const struct nic_stats *d = &n->shm->stats;
    ulog("netd: %s: driver: rx %llu dropped %llu bad %llu; tx %llu dropped %llu bad %llu; irqs %llu kicks %llu\n",
         n->name, (unsigned long long)d->rx_frames, (unsigned long long)d->rx_dropped,
         (unsigned long long)d->rx_bad_desc, (unsigned long long)d->tx_frames, (unsigned long long)d->tx_dropped,
         (unsigned long long)d->tx_bad_desc, (unsigned long long)d->irqs, (unsigned long long)d->kicks);
}
