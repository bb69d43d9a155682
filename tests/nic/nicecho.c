/*
 * nicecho.c - a small NIC-protocol client for the driver tests: it answers
 * ARP and ICMP echo for its address (the server's `args`), and sends every
 * frame of the test ethertype 0x88b5 back to its sender with the MAC
 * addresses swapped.  Frames whose payload starts with a command word are
 * commands from the test host:
 *   "KEEL-STATS"  reply with one line of counters (ours and the driver's)
 *   "KEEL-CRASH"  ask the driver to fault (NIC_CRASH), to test its restart
 *   "KEEL-DMASTRAY" ask the driver to make its device read STRAY_ADDR
 *                 (NIC_DMA_STRAY): with an IOMMU the device faults and init
 *                 restarts the driver, which this client then waits for,
 *                 then runs the kernel's invariant checks (with `debug`)
 * It uses the NIC client library (lib/nic_client.c) the way netd does:
 * buffers handed over in batches, one NIC_KICK per batch, notifications for
 * "frames waiting", and a new attach whenever the driver's generation
 * changes.  An echoed frame goes out in the buffer it came in (zero copy).
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/ipv4.h>
#include <keel/nic.h>
#include <keel/nic_client.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#define SHM_VA   0x0000006000000000ull
#define ETH_TEST 0x88b5
#define ETH_ARP  0x0806
#define ETH_IP   0x0800
/* Outside the driver's memory, and where no RAM or device of the test VM
 * answers (above its RAM and PCI windows, below 2^39, the IOMMU's smallest
 * address width), so even without an IOMMU the read harms nothing. */
#define STRAY_ADDR       0x7ffffff000ull
#define STRAY_RESTART_NS 10000000000ull

struct echo {
    struct nic_client nic;
    uint8_t ip[4];
    bool crash_requested;
    bool stray_requested;
    uint64_t debug; /* the debug capability (test boots), or 0 */
    uint64_t rx, echoed, arp, icmp, reattaches;
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void attach(struct echo *e)
{
    if (nic_client_attach(&e->nic)) {
        ulog("nicecho: cannot attach to the driver\n");
        return;
    }
    const uint8_t *m = e->nic.mac;
    ulog("nicecho: attached: MAC %02x:%02x:%02x:%02x:%02x:%02x, link %s, generation %u\n", m[0], m[1], m[2], m[3], m[4],
         m[5], e->nic.link_up ? "up" : "down", e->nic.generation);
}

/* Queues the buffer for transmission; returns true: the buffer is consumed. */
static bool send_frame(struct echo *e, uint32_t off, uint16_t len)
{
    nic_client_send(&e->nic, off, len);
    return true;
}

/* ARP request for our address: answer in place (RFC 826). */
static bool handle_arp(struct echo *e, uint8_t *f, uint16_t len, uint32_t off)
{
    uint8_t *a = f + 14;
    if (len < 42 || be16(a) != 1 || be16(a + 2) != ETH_IP || a[4] != 6 || a[5] != 4 || be16(a + 6) != 1)
        return false;
    if (memcmp(a + 24, e->ip, 4) != 0)
        return false;
    memcpy(f, f + 6, 6);
    memcpy(f + 6, e->nic.mac, 6);
    put16(a + 6, 2);           /* reply */
    memcpy(a + 18, a + 8, 10); /* target = the asker */
    memcpy(a + 8, e->nic.mac, 6);
    memcpy(a + 14, e->ip, 4);
    e->arp++;
    return send_frame(e, off, 60 > len ? 60 : len);
}

static uint16_t checksum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)be16(p + i);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ICMP echo request to our address: turn it into the reply in place. */
static bool handle_icmp(struct echo *e, uint8_t *f, uint16_t len, uint32_t off)
{
    uint8_t *ip = f + 14;
    if (len < 14 + 20 + 8 || (ip[0] >> 4) != 4 || ip[9] != 1 || memcmp(ip + 16, e->ip, 4) != 0)
        return false;
    unsigned ihl = (ip[0] & 0xf) * 4u, total = be16(ip + 2);
    if (ihl < 20 || total > len - 14u || total < ihl + 8 || checksum(ip, ihl) != 0)
        return false;
    uint8_t *icmp = ip + ihl;
    if (icmp[0] != 8 || checksum(icmp, total - ihl) != 0)
        return false;
    memcpy(f, f + 6, 6);
    memcpy(f + 6, e->nic.mac, 6);
    uint8_t tmp[4];
    memcpy(tmp, ip + 12, 4);
    memcpy(ip + 12, ip + 16, 4);
    memcpy(ip + 16, tmp, 4);
    icmp[0] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 2, checksum(icmp, total - ihl));
    put16(ip + 10, 0);
    put16(ip + 10, checksum(ip, ihl));
    e->icmp++;
    return send_frame(e, off, len);
}

/* KEEL-DMASTRAY: asks for the stray read, then waits (at most
 * STRAY_RESTART_NS) for a driver of another generation, and attaches. */
static void dma_stray(struct echo *e)
{
    uint32_t gen = e->nic.generation;
    struct keel_msg m = { .info = NIC_DMA_STRAY, .mr = { STRAY_ADDR } };
    int64_t err = keel_call(e->nic.ep, &m);
    ulog("nicecho: NIC_DMA_STRAY at 0x%llx returned %lld/%lld; waiting for a new driver\n",
         (unsigned long long)STRAY_ADDR, (long long)err, err ? 0ll : (long long)(int32_t)keel_label(&m));
    uint64_t until = keel_now_ns() + STRAY_RESTART_NS;
    bool restarted = false;
    while (!restarted && keel_now_ns() < until) {
        struct keel_msg q = { .info = NIC_INFO };
        restarted = keel_call(e->nic.ep, &q) == 0 && keel_label(&q) == 0 && (uint32_t)q.mr[2] != gen;
        if (!restarted)
            (void)sys6(SYS_YIELD, 0, 0, 0, 0, 0, 0);
    }
    if (!restarted)
        ulog("nicecho: the driver survived the stray DMA (no IOMMU?)\n");
    e->reattaches++;
    attach(e);
    /* The kernel's invariant checks (with an IOMMU: every page a DMA space
     * holds is its driver's DMA memory), now that the new driver mapped its. */
    uint64_t bad = ~0ull;
    if (e->debug && keel_debug_ctl(e->debug, DEBUG_CTL_CHECK, 0, 0, &bad, NULL, NULL) == KE_OK)
        ulog("nicecho: kernel invariant checks after the stray: %llu violation(s)\n", (unsigned long long)bad);
}

static bool handle_test(struct echo *e, uint8_t *f, uint16_t len, uint32_t off)
{
    const uint8_t *payload = f + 14;
    if (len >= 14 + 13 && memcmp(payload, "KEEL-DMASTRAY", 13) == 0) {
        e->stray_requested = true;
        return false;
    }
    if (len >= 14 + 10 && memcmp(payload, "KEEL-CRASH", 10) == 0) {
        e->crash_requested = true;
        return false;
    }
    if (len >= 14 + 10 && memcmp(payload, "KEEL-STATS", 10) == 0) {
        const struct nic_stats *s = &e->nic.shm->stats;
        int n = snprintf((char *)f + 14, NIC_BUF_SIZE - 14,
                         "KEEL-STATS rx=%llu echoed=%llu arp=%llu icmp=%llu bad=%llu nobuf=%llu reattach=%llu "
                         "gen=%u drv_rx=%llu drv_rx_dropped=%llu drv_rx_bad=%llu drv_tx=%llu drv_tx_dropped=%llu "
                         "drv_tx_bad=%llu drv_irqs=%llu drv_kicks=%llu ",
                         (unsigned long long)e->rx, (unsigned long long)e->echoed, (unsigned long long)e->arp,
                         (unsigned long long)e->icmp, (unsigned long long)e->nic.bad_desc,
                         (unsigned long long)e->nic.tx_ring_full, (unsigned long long)e->reattaches, e->nic.generation,
                         (unsigned long long)s->rx_frames, (unsigned long long)s->rx_dropped,
                         (unsigned long long)s->rx_bad_desc, (unsigned long long)s->tx_frames,
                         (unsigned long long)s->tx_dropped, (unsigned long long)s->tx_bad_desc,
                         (unsigned long long)s->irqs, (unsigned long long)s->kicks);
        len = (uint16_t)(14 + (n > 0 ? n : 0));
        if (len < 60)
            len = 60;
        if (len > NIC_MAX_FRAME)
            len = NIC_MAX_FRAME;
    } else {
        e->echoed++;
    }
    uint8_t src[6];
    memcpy(src, f + 6, 6);
    memcpy(f + 6, e->nic.mac, 6);
    memcpy(f, src, 6);
    return send_frame(e, off, len);
}

static void handle_frame(struct echo *e, struct nic_desc d)
{
    e->rx++;
    uint8_t *f = nic_client_buf(&e->nic, d.offset);
    uint16_t type = be16(f + 12);
    bool consumed = false;
    if (type == ETH_ARP)
        consumed = handle_arp(e, f, d.len, d.offset);
    else if (type == ETH_IP)
        consumed = handle_icmp(e, f, d.len, d.offset);
    else if (type == ETH_TEST)
        consumed = handle_test(e, f, d.len, d.offset);
    if (!consumed)
        nic_client_release(&e->nic, d.offset);
}

static void drain(struct echo *e)
{
    nic_client_reclaim(&e->nic);
    struct nic_desc d;
    for (uint32_t budget = NIC_RING_SIZE; budget && nic_client_rx(&e->nic, &d); budget--)
        handle_frame(e, d);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    static struct echo e;
    uint32_t ip = 0;
    for (uint32_t i = 0; i < si->n_caps; i++) {
        const char *n = si->caps[i].name;
        if (!e.nic.ep && strncmp(n, "ep:", 3) == 0)
            e.nic.ep = si->caps[i].slot;
        else if (strncmp(n, "shm:", 4) == 0)
            (void)keel_map(SRV_SLOT_TASK, si->caps[i].slot, SHM_VA, RIGHT_READ | RIGHT_WRITE);
        else if (strncmp(n, "notify:", 7) == 0)
            e.nic.ntfn = si->caps[i].slot;
        else if (strcmp(n, "debug") == 0)
            e.debug = si->caps[i].slot;
    }
    e.nic.shm = (struct nic_shared *)SHM_VA;
    if (!e.nic.ep || !e.nic.ntfn || !ipv4_parse(si->args, strlen(si->args), &ip)) {
        ulog("nicecho: needs ep:, shm:, notify: capabilities and an IPv4 address in args\n");
        return 1;
    }
    for (int k = 0; k < 4; k++)
        e.ip[k] = (uint8_t)(ip >> (24 - 8 * k));
    attach(&e);
    srv_ready();
    ulog("nicecho: ready at %u.%u.%u.%u\n", e.ip[0], e.ip[1], e.ip[2], e.ip[3]);
    for (;;) {
        uint64_t bits = 0;
        (void)keel_wait(e.nic.ntfn, 0, &bits);
        drain(&e);
        if (nic_client_flush(&e.nic) == NIC_CLIENT_RESTARTED) {
            ulog("nicecho: driver gone or restarted; reattaching\n");
            e.reattaches++;
            attach(&e);
            continue;
        }
        if (e.stray_requested) {
            e.stray_requested = false;
            dma_stray(&e);
            continue;
        }
        if (e.crash_requested) {
            e.crash_requested = false;
            ulog("nicecho: asking the driver to crash\n");
            struct keel_msg m = { .info = NIC_CRASH };
            int64_t err = keel_call(e.nic.ep, &m);
            ulog("nicecho: NIC_CRASH returned %lld; reattaching\n", (long long)err);
            e.reattaches++;
            attach(&e);
        }
    }
}
