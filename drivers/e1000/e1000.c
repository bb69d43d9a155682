/*
 * e1000.c - the Intel 8254x (82540EM, QEMU `-device e1000`) NIC driver: a
 * user-space server that speaks the NIC protocol (abi/keel/nic.h) to netd.
 *
 * What it is given (by init, named in its server-information page):
 *   si->pci          the device: BAR0 as a frame capability (the 128 KiB
 *                    register window), its legacy INTx line as an IRQ
 *                    capability (the 82540EM has no MSI);
 *   "serve:NAME"     the endpoint netd calls;
 *   "shm:NAME"       the shared region (a DMA frame): struct nic_shared,
 *                    then netd's packet buffers;
 *   "signal:NAME"    the notification it raises NIC_EVT_* bits on;
 *   SRV_SLOT_MEMORY  the budget for its notification and descriptor rings.
 *
 * States: IDLE (device reset, link tracked, RX/TX off) --NIC_START-->
 * RUNNING --NIC_STOP--> IDLE.  NIC_START in RUNNING starts over (netd
 * re-initialised the rings, e.g. after its own restart).
 *
 * One thread runs everything from the server loop (lib/server.h): calls
 * from netd and, through the notification bound to this thread, the
 * device's interrupt.  The interrupt path reads ICR (which clears it and
 * drops the line), services both rings, signals netd once, and only then
 * acknowledges the IRQ, so the line stays masked while the driver works
 * and a cause raised meanwhile fires again after the acknowledgement.
 * netd's NIC_KICK runs the same service.  Neither path ever blocks: full
 * rings wait for netd to consume (see queue.h).
 *
 * Memory: the device rings are in a DMA frame of this task's own; packet
 * buffers are netd's, in the shared region, used in place (zero copy).
 * There is no IOMMU: the device is only ever given addresses inside those
 * two frames (queue.h explains the checks).
 *
 * Restarts: the generation is si->restarts + 1.  A new instance resets
 * the device before anything else, because its predecessor may have left
 * RX/TX running on rings that died with it; QEMU's CTRL.RST clears nothing
 * but the bit, so the reset also turns RX/TX off and reprograms every
 * register the driver depends on.  init clears Bus Master Enable before it
 * kills a faulted driver and sets it again only when the next instance
 * asks (INIT_PCI_DMA), right after that instance's reset: a device still
 * holding the dead instance's ring addresses can never DMA through them.
 * NIC_CRASH also stops DMA before faulting, for good measure.
 *
 * Not handled: multicast filters (netd gets broadcast and unicast to our
 * MAC only), checksum/segmentation offload, VLANs, jumbo frames, statistics
 * registers (a frame the device drops for want of descriptors is counted
 * by the device's MPC, not in nic_shared.stats).
 */
#include <keel/init.h>
#include <keel/nic.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "queue.h"
#include "regs.h"

/* Where things are mapped in this task (any free user addresses). */
#define E1000_MMIO_VA  0x0000005000000000ull
#define E1000_RINGS_VA 0x0000005100000000ull
#define E1000_SHM_VA   0x0000005200000000ull
#define E1000_PAGE     4096ull

#define E1000_RING_PAGES 2u          /* RX ring page, then TX ring page */
#define E1000_IRQ_BIT    (1ull << 0) /* the IRQ's bit in our notification */
#define E1000_MTU        1500u

/* At most ~10000 interrupts/s (ITR counts 256 ns): bounds the cost of a
 * flood to the driver's context switches, adds <= 100 us of latency. */
#define E1000_ITR_INTERVAL 390u

#define E1000_RESET_SETTLE_NS  (10ull * 1000 * 1000) /* let in-flight DMA finish before RST */
#define E1000_RESET_TIMEOUT_NS (100ull * 1000 * 1000)
#define E1000_EERD_TIMEOUT_NS  (10ull * 1000 * 1000)
#define E1000_QUIESCE_NS       (1ull * 1000 * 1000) /* after clearing RCTL/TCTL.EN */

#define E1000_INT_USED (E1000_INT_RXT0 | E1000_INT_RXO | E1000_INT_RXDMT0 | E1000_INT_TXDW | E1000_INT_LSC)

/* Errors of this driver's setup (negative; KE_* pass through unchanged). */
enum e1000_error {
    E1000_E_NO_DEVICE = -200, /* no PCI device, or not an 8254x we drive */
    E1000_E_BAR = -201,       /* BAR0 missing, not MMIO, or too small */
    E1000_E_CAPS = -202,      /* a serve:/shm:/signal: capability is missing or of the wrong type */
    E1000_E_SHM = -203,       /* the shared region is too small or not a DMA frame */
    E1000_E_NO_IRQ = -204,    /* init gave no interrupt */
    E1000_E_NO_SLOT = -205,   /* no free capability slot */
    E1000_E_RESET = -206,     /* CTRL.RST never cleared */
    E1000_E_MAC = -207,       /* no valid MAC in RAL0/RAH0 or the EEPROM */
};

enum e1000_state { E1000_IDLE, E1000_RUNNING };

struct e1000 {
    /* Set up in main, then read-only. */
    volatile uint8_t *mmio; /* BAR0, E1000_BAR0_MIN_BYTES at least */
    uint64_t endpoint;      /* "serve:" */
    uint64_t signal_slot;   /* "signal:": NIC_EVT_* for netd */
    bool signal_badged;     /* signal_slot is badged: signal 0 (its bit) */
    uint64_t irq_slot;      /* the device's interrupt */
    uint64_t ntfn_slot;     /* our notification, bound to this thread */
    void *rings;            /* RX ring page, TX ring page (DMA) */
    uint64_t rings_phys;
    struct nic_shared *sh; /* netd's region: untrusted */
    uint64_t shm_phys;
    uint32_t generation; /* si->restarts + 1 */
    uint8_t mac[6];

    /* Server-loop state. */
    enum e1000_state state;
    bool link_up; /* last STATUS.LU seen */
    struct eq q;  /* the data path; valid in RUNNING */
};

/* ------------------------------------------------------------ registers -- */

/* REG is one of regs.h's offsets, all inside the 128 KiB window. */
static inline uint32_t rd32(const struct e1000 *d, uint32_t reg) { return *(const volatile uint32_t *)(d->mmio + reg); }

static inline void wr32(struct e1000 *d, uint32_t reg, uint32_t v) { *(volatile uint32_t *)(d->mmio + reg) = v; }

/* Reads STATUS so that posted register writes reach the device. */
static inline void flush(const struct e1000 *d) { (void)rd32(d, E1000_STATUS); }

/* Waits NS, letting other tasks run (no timer needed, used at setup and stop). */
static void pause_ns(uint64_t ns)
{
    uint64_t until = keel_now_ns() + ns;
    while (keel_now_ns() < until)
        keel_yield();
}

/* --------------------------------------------------------------- device -- */

/*
 * Resets the device to a quiet state: interrupts masked, RX and TX off,
 * nothing pending.  Stop DMA first and let it drain, then CTRL.RST
 * (SDM 13.4.1), which also reloads RAL0/RAH0 from the EEPROM.
 */
static int64_t __attribute__((warn_unused_result)) hw_reset(struct e1000 *d)
{
    wr32(d, E1000_IMC, E1000_INT_ALL);
    wr32(d, E1000_RCTL, 0);
    wr32(d, E1000_TCTL, E1000_TCTL_PSP);
    flush(d);
    pause_ns(E1000_RESET_SETTLE_NS);

    wr32(d, E1000_CTRL, rd32(d, E1000_CTRL) | E1000_CTRL_RST);
    /* SDM 13.4.1: no access for 1 us after setting RST; the bit self-clears. */
    pause_ns(1000 * 1000);
    uint64_t deadline = keel_now_ns() + E1000_RESET_TIMEOUT_NS;
    while (rd32(d, E1000_CTRL) & E1000_CTRL_RST) {
        if (keel_now_ns() > deadline)
            return E1000_E_RESET;
        keel_yield();
    }
    /* The reset re-enables nothing, but on QEMU it changes nothing either:
     * mask and clear again, and keep RX/TX off explicitly. */
    wr32(d, E1000_IMC, E1000_INT_ALL);
    wr32(d, E1000_RCTL, 0);
    wr32(d, E1000_TCTL, E1000_TCTL_PSP);
    (void)rd32(d, E1000_ICR);
    return KE_OK;
}

/* Link setup, SDM 14.3: the internal PHY auto-negotiates, the MAC follows it. */
static void hw_link_setup(struct e1000 *d)
{
    uint32_t ctrl = rd32(d, E1000_CTRL);
    ctrl |= E1000_CTRL_SLU | E1000_CTRL_ASDE;
    ctrl &= ~(E1000_CTRL_ILOS | E1000_CTRL_FRCSPD | E1000_CTRL_FRCDPLX | E1000_CTRL_PHY_RST | E1000_CTRL_VME |
              E1000_CTRL_RST);
    wr32(d, E1000_CTRL, ctrl);
}

/* One EEPROM word through EERD (SDM 13.4.4); false on timeout. */
static bool eeprom_read(struct e1000 *d, uint32_t word, uint16_t *out)
{
    wr32(d, E1000_EERD, ((word << E1000_EERD_ADDR_SHIFT) & E1000_EERD_ADDR_MASK) | E1000_EERD_START);
    uint64_t deadline = keel_now_ns() + E1000_EERD_TIMEOUT_NS;
    for (;;) {
        uint32_t v = rd32(d, E1000_EERD);
        if (v & E1000_EERD_DONE) {
            *out = (uint16_t)(v >> E1000_EERD_DATA_SHIFT);
            return true;
        }
        if (keel_now_ns() > deadline)
            return false;
        keel_yield();
    }
}

/* A unicast address that is not all zeros. */
static bool mac_ok(const uint8_t m[6]) { return !(m[0] & 1) && (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) != 0; }

/*
 * The MAC: receive address 0 as the EEPROM load left it (SDM 13.5.2/3;
 * QEMU fills it from its EEPROM image), else EEPROM words 0-2.  Then
 * writes it back with AV set, so the unicast filter is on.
 */
static int64_t __attribute__((warn_unused_result)) hw_read_mac(struct e1000 *d)
{
    uint32_t ral = rd32(d, E1000_RAL0), rah = rd32(d, E1000_RAH0);
    uint8_t m[6] = { (uint8_t)ral,         (uint8_t)(ral >> 8), (uint8_t)(ral >> 16),
                     (uint8_t)(ral >> 24), (uint8_t)rah,        (uint8_t)(rah >> 8) };
    if (!(rah & E1000_RAH_AV) || !mac_ok(m)) {
        for (uint32_t i = 0; i < 3; i++) {
            uint16_t w;
            if (!eeprom_read(d, E1000_EEPROM_MAC_WORD0 + i, &w))
                return E1000_E_MAC;
            m[2 * i] = (uint8_t)w;
            m[2 * i + 1] = (uint8_t)(w >> 8);
        }
        if (!mac_ok(m))
            return E1000_E_MAC;
    }
    memcpy(d->mac, m, sizeof d->mac);
    wr32(d, E1000_RAL0, (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24);
    wr32(d, E1000_RAH0, ((uint32_t)m[4] | (uint32_t)m[5] << 8) | E1000_RAH_AV);
    return KE_OK;
}

/* Polls STATUS.LU; returns NIC_EVT_LINK when it changed (and publishes it). */
static uint32_t link_poll(struct e1000 *d)
{
    bool up = (rd32(d, E1000_STATUS) & E1000_STATUS_LU) != 0;
    if (up == d->link_up)
        return 0;
    d->link_up = up;
    d->sh->link_up = up;
    return NIC_EVT_LINK;
}

/* Stops RX and TX DMA and waits for the device to let go of descriptors. */
static void hw_quiesce(struct e1000 *d)
{
    wr32(d, E1000_IMC, E1000_INT_ALL & ~E1000_INT_LSC); /* link changes stay visible */
    wr32(d, E1000_RCTL, 0);
    wr32(d, E1000_TCTL, E1000_TCTL_PSP);
    flush(d);
    pause_ns(E1000_QUIESCE_NS);
}

/*
 * Programs both rings and turns RX and TX on: SDM 14.4 (receive) and 14.5
 * (transmit) initialisation.  Precondition: RX/TX off, eq_init done.
 */
static void hw_start(struct e1000 *d)
{
    uint64_t rx = d->rings_phys, tx = d->rings_phys + E1000_PAGE;

    for (uint32_t i = 0; i < E1000_MTA_WORDS; i++)
        wr32(d, E1000_MTA + 4 * i, 0);

    /* Interrupt moderation: every RX/TX write-back interrupts at once,
     * throttled by ITR (stale delay values from an earlier instance are
     * cleared; QEMU's reset keeps them). */
    wr32(d, E1000_RDTR, 0);
    wr32(d, E1000_RADV, 0);
    wr32(d, E1000_TIDV, 0);
    wr32(d, E1000_TADV, 0);
    wr32(d, E1000_ITR, E1000_ITR_INTERVAL & E1000_ITR_INTERVAL_MASK);

    wr32(d, E1000_RDBAL, (uint32_t)rx);
    wr32(d, E1000_RDBAH, (uint32_t)(rx >> 32));
    wr32(d, E1000_RDLEN, EQ_RING_BYTES);
    wr32(d, E1000_RDH, 0); /* heads are written only with the unit off (SDM 13.4.28/13.4.39) */
    wr32(d, E1000_RDT, 0);

    wr32(d, E1000_TDBAL, (uint32_t)tx);
    wr32(d, E1000_TDBAH, (uint32_t)(tx >> 32));
    wr32(d, E1000_TDLEN, EQ_RING_BYTES);
    wr32(d, E1000_TDH, 0);
    wr32(d, E1000_TDT, 0);
    wr32(d, E1000_TIPG,
         E1000_TIPG_IPGT_COPPER << E1000_TIPG_IPGT_SHIFT | E1000_TIPG_IPGR1 << E1000_TIPG_IPGR1_SHIFT |
             E1000_TIPG_IPGR2 << E1000_TIPG_IPGR2_SHIFT);
    wr32(d, E1000_TCTL,
         E1000_TCTL_EN | E1000_TCTL_PSP | E1000_TCTL_CT_DEFAULT << E1000_TCTL_CT_SHIFT |
             E1000_TCTL_COLD_FD << E1000_TCTL_COLD_SHIFT);

    /* Buffers first, then the receiver: no frame can arrive to an empty ring. */
    if (eq_rx_refill(&d->q))
        wr32(d, E1000_RDT, eq_rdt(&d->q));
    wr32(d, E1000_RCTL,
         E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC | E1000_RCTL_BSIZE_2048 | E1000_RCTL_RDMTS_HALF);
    (void)rd32(d, E1000_ICR);
    wr32(d, E1000_IMS, E1000_INT_USED);
}

/*
 * Moves everything that can move: completed RX to netd, free buffers to
 * the device, completed TX to netd, new TX to the device; then the tail
 * registers, once each.  Returns the NIC_EVT_* bits netd should see.
 */
static uint32_t service(struct e1000 *d)
{
    struct eq *q = &d->q;
    uint32_t ev = 0, rx_before = q->rx_post, tx_before = q->tx_post, returned = 0;
    if (eq_rx_collect(q))
        ev |= NIC_EVT_RX;
    eq_rx_refill(q);
    if (eq_tx_reclaim(q))
        ev |= NIC_EVT_TX;
    eq_tx_fill(q, &returned);
    if (returned)
        ev |= NIC_EVT_TX;
    /* Descriptor stores above are ordered before these uncached stores (x86). */
    if (q->rx_post != rx_before)
        wr32(d, E1000_RDT, eq_rdt(q));
    if (q->tx_post != tx_before) {
        wr32(d, E1000_TDT, eq_tdt(q));
        /* QEMU sends synchronously inside the TDT write: hand the buffers
         * back now rather than one interrupt later.  Harmless on hardware. */
        if (eq_tx_reclaim(q))
            ev |= NIC_EVT_TX;
    }
    return ev;
}

static void notify_netd(struct e1000 *d, uint32_t ev)
{
    /* A badged capability (`signal netd-ev bit N`) raises exactly its bit. */
    if (ev)
        (void)keel_signal(d->signal_slot, d->signal_badged ? 0 : ev); /* never blocks; bits merge */
}

/* ------------------------------------------------------------- protocol -- */

static int64_t h_info(void *ctx, struct keel_msg *m)
{
    struct e1000 *d = ctx;
    uint64_t mac = 0;
    for (int i = 0; i < 6; i++)
        mac |= (uint64_t)d->mac[i] << (8 * i);
    m->mr[0] = mac;
    m->mr[1] = d->link_up ? 1 : 0;
    m->mr[2] = d->generation;
    m->mr[3] = E1000_MTU;
    return 0;
}

static int64_t h_start(void *ctx, struct keel_msg *m)
{
    struct e1000 *d = ctx;
    uint64_t gen = m->mr[0];
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (gen != d->generation)
        return NIC_E_STALE;
    /* point of no return */
    if (d->state == E1000_RUNNING)
        hw_quiesce(d); /* netd reset the rings: what we held is forgotten */
    uint8_t *base = d->rings;
    eq_init(&d->q, base, base + E1000_PAGE, d->sh, d->shm_phys);
    memcpy(d->sh->mac, d->mac, sizeof d->mac);
    d->sh->link_up = d->link_up;
    d->sh->generation = d->generation;
    hw_start(d);
    d->state = E1000_RUNNING;
    notify_netd(d, service(d));
    return 0;
}

static int64_t h_kick(void *ctx, struct keel_msg *m)
{
    struct e1000 *d = ctx;
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (d->state != E1000_RUNNING)
        return NIC_E_NOT_STARTED;
    d->sh->stats.kicks++;
    notify_netd(d, service(d));
    return 0;
}

static int64_t h_stop(void *ctx, struct keel_msg *m)
{
    struct e1000 *d = ctx;
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (d->state != E1000_RUNNING)
        return 0; /* already quiet */
    hw_quiesce(d);
    d->state = E1000_IDLE;
    notify_netd(d, eq_drain(&d->q));
    return 0;
}

static int64_t h_crash(void *ctx, struct keel_msg *m)
{
    struct e1000 *d = ctx;
    (void)m;
    ulog("e1000: crashing on request (NIC_CRASH)\n");
    /* DMA off first: the rings die with this task (see the top comment). */
    hw_quiesce(d);
    __builtin_trap();
}

/* NIC_DMA_STRAY (tests, abi/keel/nic.h): the device reads MR0. */
static int64_t h_dma_stray(void *ctx, struct keel_msg *m)
{
    struct e1000 *d = ctx;
    uint64_t addr = m->mr[0];
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (d->state != E1000_RUNNING)
        return NIC_E_NOT_STARTED;
    if (!eq_tx_stray(&d->q, addr, NIC_STRAY_LEN))
        return KE_BUSY;
    ulog("e1000: the device is to read 0x%llx, outside this driver's memory (NIC_DMA_STRAY)\n",
         (unsigned long long)addr);
    wr32(d, E1000_TDT, eq_tdt(&d->q)); /* descriptor stores before this uncached store (x86) */
    return 0;
}

static void on_notify(void *ctx, uint64_t bits)
{
    struct e1000 *d = ctx;
    if (!(bits & E1000_IRQ_BIT))
        return;
    uint32_t icr = rd32(d, E1000_ICR); /* reading clears it and drops the line */
    uint32_t ev = 0;
    if (icr) {
        d->sh->stats.irqs++;
        if (icr & E1000_INT_LSC)
            ev |= link_poll(d);
        if (d->state == E1000_RUNNING)
            ev |= service(d);
        notify_netd(d, ev);
    }
    /* icr == 0: a device sharing the line, or a cause already handled. */
    (void)keel_irq_ack(d->irq_slot);
}

/* Word counts are 0: nic.h does not ask clients to put the count in the
 * label (SRV_LABEL), and all four message registers always arrive.
 * NIC_START's one word is checked by value: a wrong generation is
 * NIC_E_STALE, whatever the register held. */
static const struct srv_handler handlers[] = {
    { NIC_INFO, 0, h_info }, { NIC_START, 0, h_start }, { NIC_KICK, 0, h_kick },
    { NIC_STOP, 0, h_stop }, { NIC_CRASH, 0, h_crash }, { NIC_DMA_STRAY, 0, h_dma_stray },
};

/* ---------------------------------------------------------------- setup -- */

/* The slot of the first capability whose name starts with PREFIX and whose
 * type is TYPE, or 0. */
static uint64_t find_cap_prefix(const struct keel_srvinfo *si, const char *prefix, uint32_t type)
{
    size_t n = strlen(prefix);
    uint32_t count = si->n_caps < KEEL_SRV_MAX_CAPS ? si->n_caps : KEEL_SRV_MAX_CAPS;
    for (uint32_t i = 0; i < count; i++)
        if (strncmp(si->caps[i].name, prefix, n) == 0)
            return si->caps[i].type == type ? si->caps[i].slot : 0;
    return 0;
}

static bool device_known(const struct keel_pci_info *p)
{
    return p->present && p->vendor == E1000_VENDOR_INTEL &&
           (p->device == E1000_DEV_82540EM || p->device == E1000_DEV_82544GC || p->device == E1000_DEV_82545EM);
}

/* Finds and maps what init granted.  On failure main returns; the task's
 * death releases every capability and mapping, and nothing was started. */
static int64_t __attribute__((warn_unused_result)) setup_caps(struct e1000 *d, const struct keel_srvinfo *si)
{
    const struct keel_pci_info *p = &si->pci;
    if (!device_known(p))
        return E1000_E_NO_DEVICE;
    const struct keel_pci_bar *bar = &p->bars[0];
    if (bar->kind != BAR_MMIO || bar->size < E1000_BAR0_MIN_BYTES)
        return E1000_E_BAR;
    if (p->irq_kind == PCI_IRQ_NONE || p->irq_slot == 0)
        return E1000_E_NO_IRQ;
    d->irq_slot = p->irq_slot;

    d->endpoint = find_cap_prefix(si, "serve:", CAP_ENDPOINT);
    uint64_t shm = find_cap_prefix(si, "shm:", CAP_FRAME);
    d->signal_slot = find_cap_prefix(si, "signal:", CAP_NOTIFICATION);
    if (!d->endpoint || !shm || !d->signal_slot)
        return E1000_E_CAPS;
    uint64_t badge = 0;
    d->signal_badged = keel_cap_info(d->signal_slot, NULL, NULL, &badge) == KE_OK && badge;

    int64_t err = keel_map(SRV_SLOT_TASK, bar->slot, E1000_MMIO_VA, RIGHT_READ | RIGHT_WRITE);
    if (err)
        return err;
    d->mmio = (volatile uint8_t *)E1000_MMIO_VA;

    uint64_t pages = 0;
    if ((err = keel_frame_info(shm, &d->shm_phys, &pages)))
        return err;
    if (pages < NIC_SHM_PAGES || d->shm_phys == 0) /* phys 0: not a DMA frame */
        return E1000_E_SHM;
    if ((err = keel_map(SRV_SLOT_TASK, shm, E1000_SHM_VA, RIGHT_READ | RIGHT_WRITE)))
        return err;
    d->sh = (struct nic_shared *)E1000_SHM_VA;

    uint64_t rings = srv_free_slot();
    if (!rings)
        return E1000_E_NO_SLOT;
    if ((err = keel_obj_create(SRV_SLOT_MEMORY, OBJ_DMA_FRAME, rings, E1000_RING_PAGES)))
        return err;
    if ((err = keel_frame_info(rings, &d->rings_phys, &pages)))
        return err;
    if ((err = keel_map(SRV_SLOT_TASK, rings, E1000_RINGS_VA, RIGHT_READ | RIGHT_WRITE)))
        return err;
    d->rings = (void *)E1000_RINGS_VA;

    d->ntfn_slot = srv_free_slot();
    if (!d->ntfn_slot)
        return E1000_E_NO_SLOT;
    if ((err = keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, d->ntfn_slot, 0)))
        return err;
    return KE_OK;
}

/* Resets the device, reads its MAC and link, then routes its interrupt to
 * this thread.  Interrupts stay masked on the device except LSC. */
static int64_t __attribute__((warn_unused_result)) setup_device(struct e1000 *d)
{
    int64_t err = hw_reset(d);
    if (err)
        return err;
    /* The device is quiet and forgot every ring address: now it may DMA. */
    struct keel_msg dma = { .info = INIT_PCI_DMA };
    if ((err = keel_call(SRV_SLOT_INIT, &dma)) || (err = (int32_t)keel_label(&dma)))
        return err;
    if ((err = hw_read_mac(d)))
        return err;
    hw_link_setup(d);
    d->link_up = (rd32(d, E1000_STATUS) & E1000_STATUS_LU) != 0;
    d->sh->link_up = d->link_up;

    if ((err = keel_irq_bind(d->irq_slot, d->ntfn_slot, E1000_IRQ_BIT)))
        return err;
    if ((err = keel_ntfn_bind(d->ntfn_slot)))
        return err;
    wr32(d, E1000_IMS, E1000_INT_LSC);
    /* A level-triggered line left pending by a predecessor: unmask it now. */
    (void)keel_irq_ack(d->irq_slot);
    return KE_OK;
}

int main(const struct keel_srvinfo *si);

int main(const struct keel_srvinfo *si)
{
    struct e1000 dev = { 0 };
    struct e1000 *d = &dev;
    if (si->magic != KEEL_SRVINFO_MAGIC) {
        ulog("e1000: bad server information page\n");
        return 1;
    }
    d->generation = si->restarts + 1;
    d->state = E1000_IDLE;

    int64_t err = setup_caps(d, si);
    if (!err)
        err = setup_device(d);
    if (err) {
        ulog("e1000: setup failed: error %lld (device %04x:%04x)\n", (long long)err, si->pci.vendor, si->pci.device);
        if (d->mmio && hw_reset(d) != KE_OK) /* leave it quiet for the next start */
            ulog("e1000: the device did not reset\n");
        return 1;
    }

    ulog("e1000: MAC %02x:%02x:%02x:%02x:%02x:%02x, link %s, generation %u\n", d->mac[0], d->mac[1], d->mac[2],
         d->mac[3], d->mac[4], d->mac[5], d->link_up ? "up" : "down", d->generation);

    struct srv_loop loop = {
        .endpoint = d->endpoint,
        .handlers = handlers,
        .n_handlers = sizeof handlers / sizeof handlers[0],
        .on_notify = on_notify,
        .ctx = d,
    };
    err = srv_ready_and_run(&loop);
    ulog("e1000: server loop ended: error %lld\n", (long long)err);
    hw_quiesce(d);
    return 1;
}
