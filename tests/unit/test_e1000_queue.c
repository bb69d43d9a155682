/*
 * test_e1000_queue.c - drivers/e1000/queue.c, the e1000 data path, with
 * the test playing both netd (the shared rings) and the device (writing
 * back RX/TX descriptors the way SDM 3.2/3.3 says).
 *
 * What must hold: buffers are never lost or duplicated (teardown counts
 * every buffer back after eq_drain), the device is only ever given
 * addresses of whole buffers in the shared region, bad descriptors from
 * netd and bad write-backs from the device are dropped and counted, and
 * the reservations keep completions from ever overflowing rx_used/tx_done.
 */
#include <stdint.h>
#include <stdlib.h>

#include <keel/nic_ring.h>

#include "queue.h"
#include "unit.h"

#define SHM_BYTES (NIC_SHM_PAGES * 4096u)
#define SHM_PHYS  0x40000000ull

static uint8_t shm_mem[SHM_BYTES] __attribute__((aligned(4096)));
static struct e1000_rx_desc rx_ring[EQ_RING_N] __attribute__((aligned(4096)));
static struct e1000_tx_desc tx_ring[EQ_RING_N] __attribute__((aligned(4096)));
static struct eq q;
/* Where each buffer is, from the test's point of view (netd's bookkeeping). */
static uint8_t owner[NIC_BUF_COUNT];
enum { AT_NETD = 0, AT_DRIVER = 1 };

static struct nic_shared *sh(void) { return (struct nic_shared *)shm_mem; }
static uint32_t buf_off(uint32_t i) { return NIC_BUF_AREA_OFFSET + i * NIC_BUF_SIZE; }
static uint32_t buf_index(uint32_t off) { return (off - NIC_BUF_AREA_OFFSET) / NIC_BUF_SIZE; }

static void fresh(void)
{
    memset(shm_mem, 0, sizeof shm_mem);
    memset(rx_ring, 0xa5, sizeof rx_ring); /* garbage the driver must clear */
    memset(tx_ring, 0xa5, sizeof tx_ring);
    memset(owner, AT_NETD, sizeof owner);
    memset(&q, 0x5a, sizeof q);
    nic_rings_reset(sh());
    eq_init(&q, rx_ring, tx_ring, sh(), SHM_PHYS);
}

/* netd: offers buffer I on rx_free. */
static void give_rx(uint32_t i)
{
    CHECK(nic_ring_push(&sh()->rx_free, (struct nic_desc){ .offset = buf_off(i) }));
    owner[i] = AT_DRIVER;
}

/* netd: queues buffer I with LEN bytes for transmission. */
static void send_tx(uint32_t i, uint16_t len)
{
    memset(shm_mem + buf_off(i), (int)(i & 0xff), NIC_BUF_SIZE);
    CHECK(nic_ring_push(&sh()->tx_send, (struct nic_desc){ .offset = buf_off(i), .len = len }));
    owner[i] = AT_DRIVER;
}

/* netd: takes everything back from rx_used and tx_done. */
static uint32_t netd_collect(struct nic_ring *r, uint16_t *last_len)
{
    struct nic_desc d;
    uint32_t n = 0;
    while (nic_ring_pop(r, &d)) {
        CHECK(nic_desc_ok(d, false));
        uint32_t i = buf_index(d.offset);
        CHECK_EQ(owner[i], AT_DRIVER); /* never returned twice */
        owner[i] = AT_NETD;
        if (last_len)
            *last_len = d.len;
        n++;
    }
    return n;
}

/* Device: every RX address must be a whole buffer in the shared region. */
static void check_rx_addresses(void)
{
    for (uint32_t i = q.rx_clean; i != q.rx_post; i++) {
        uint64_t a = rx_ring[i % EQ_RING_N].buffer_addr;
        CHECK(a >= SHM_PHYS + NIC_BUF_AREA_OFFSET);
        CHECK(a + NIC_BUF_SIZE <= SHM_PHYS + SHM_BYTES);
        CHECK_EQ((a - SHM_PHYS - NIC_BUF_AREA_OFFSET) % NIC_BUF_SIZE, 0);
    }
}

/* Device: receives a frame of LEN bytes into the next posted descriptor. */
static bool device_rx(uint32_t *rdh, uint16_t len, uint8_t status, uint8_t errors)
{
    if (*rdh == eq_rdt(&q))
        return false; /* no descriptor: the device would count a miss */
    struct e1000_rx_desc *d = &rx_ring[*rdh];
    uint64_t off = d->buffer_addr - SHM_PHYS;
    CHECK(off >= NIC_BUF_AREA_OFFSET && off + NIC_BUF_SIZE <= SHM_BYTES);
    /* The device writes at most RCTL.BSIZE bytes, whatever length it reports. */
    memset(shm_mem + off, 0xee, len < NIC_BUF_SIZE ? len : NIC_BUF_SIZE);
    d->length = len;
    d->errors = errors;
    d->status = status;
    *rdh = (*rdh + 1) % EQ_RING_N;
    return true;
}

/* Device: transmits everything up to TDT, with STATUS bits written back. */
static uint32_t device_tx(uint32_t *tdh, uint8_t status)
{
    uint32_t n = 0;
    while (*tdh != eq_tdt(&q)) {
        struct e1000_tx_desc *d = &tx_ring[*tdh];
        CHECK(d->cmd & E1000_TXD_CMD_EOP);
        CHECK(d->cmd & E1000_TXD_CMD_RS);
        CHECK(!(d->cmd & E1000_TXD_CMD_DEXT));
        CHECK(d->length >= EQ_MIN_TX_FRAME && d->length <= NIC_MAX_FRAME);
        CHECK(d->buffer_addr >= SHM_PHYS + NIC_BUF_AREA_OFFSET);
        CHECK(d->buffer_addr + d->length <= SHM_PHYS + SHM_BYTES);
        d->status = status;
        *tdh = (*tdh + 1) % EQ_RING_N;
        n++;
    }
    return n;
}

/* Stops, drains, and checks every buffer is netd's again and the ring
 * indices are consistent: the "nothing leaked" teardown. */
static void teardown(void)
{
    (void)eq_drain(&q);
    netd_collect(&sh()->rx_used, NULL);
    netd_collect(&sh()->tx_done, NULL);
    for (uint32_t i = 0; i < NIC_BUF_COUNT; i++)
        if (owner[i] != AT_NETD) {
            CHECK_EQ(i, -1); /* buffer i leaked */
            break;
        }
    CHECK_EQ(eq_rx_held(&q), 0);
    CHECK_EQ(eq_tx_held(&q), 0);
}

static void test_classify(void)
{
    const uint8_t dd = E1000_RXD_STAT_DD, eop = E1000_RXD_STAT_EOP;
    CHECK_EQ(eq_rx_classify(0, 0, 60, false), EQ_RX_PENDING);
    CHECK_EQ(eq_rx_classify(eop, 0, 60, false), EQ_RX_PENDING); /* EOP without DD: not done */
    CHECK_EQ(eq_rx_classify(dd | eop, 0, 60, false), EQ_RX_OK);
    CHECK_EQ(eq_rx_classify(dd | eop, 0, NIC_MIN_FRAME, false), EQ_RX_OK);
    CHECK_EQ(eq_rx_classify(dd | eop, 0, NIC_MAX_FRAME, false), EQ_RX_OK);
    CHECK_EQ(eq_rx_classify(dd | eop, 0, NIC_MIN_FRAME - 1, false), EQ_RX_BAD_LENGTH);
    CHECK_EQ(eq_rx_classify(dd | eop, 0, 0, false), EQ_RX_BAD_LENGTH);
    CHECK_EQ(eq_rx_classify(dd | eop, 0, NIC_MAX_FRAME + 1, false), EQ_RX_BAD_LENGTH);
    CHECK_EQ(eq_rx_classify(dd | eop, 0, 1518, false), EQ_RX_BAD_LENGTH); /* VLAN-sized */
    CHECK_EQ(eq_rx_classify(dd | eop, 0, 0xffff, false), EQ_RX_BAD_LENGTH);
    CHECK_EQ(eq_rx_classify(dd, 0, 2048, false), EQ_RX_FRAGMENT);
    CHECK_EQ(eq_rx_classify(dd | eop, 0, 100, true), EQ_RX_FRAGMENT); /* tail of a split frame */
    CHECK_EQ(eq_rx_classify(dd | eop, E1000_RXD_ERR_CE, 60, false), EQ_RX_ERROR);
    CHECK_EQ(eq_rx_classify(dd | eop, E1000_RXD_ERR_RXE, 60, false), EQ_RX_ERROR);
    /* Checksum-offload results are not frame errors (offload is off anyway). */
    CHECK_EQ(eq_rx_classify(dd | eop, E1000_RXD_ERR_TCPE | E1000_RXD_ERR_IPE, 60, false), EQ_RX_OK);
}

static void test_ring_index_arithmetic(void)
{
    static struct nic_ring r;
    memset(&r, 0, sizeof r);
    uint32_t head = 0xfffffff0u, tail = 0xfffffff0u; /* wrap the 32-bit indices */
    r.head = r.tail = head;
    CHECK_EQ(eq_ring_space(&r, head), NIC_RING_SIZE);
    CHECK_EQ(eq_ring_ready(&r, tail), 0);
    for (uint32_t i = 0; i < NIC_RING_SIZE; i++)
        CHECK(eq_ring_push(&r, &head, (struct nic_desc){ .offset = i }));
    CHECK(!eq_ring_push(&r, &head, (struct nic_desc){ 0 }));
    CHECK_EQ(head, 0xfffffff0u + NIC_RING_SIZE);
    CHECK_EQ(r.head, head);
    CHECK_EQ(eq_ring_ready(&r, tail), NIC_RING_SIZE);
    struct nic_desc d;
    for (uint32_t i = 0; i < NIC_RING_SIZE; i++) {
        CHECK(eq_ring_pop(&r, &tail, &d));
        CHECK_EQ(d.offset, i);
    }
    CHECK(!eq_ring_pop(&r, &tail, &d));
    CHECK_EQ(r.tail, tail);
    /* A producer index more than a ring ahead reads as empty. */
    r.head = tail + NIC_RING_SIZE + 1;
    CHECK_EQ(eq_ring_ready(&r, tail), 0);
    CHECK(!eq_ring_pop(&r, &tail, &d));
    /* A consumer index ahead of the producer leaves no space. */
    r.tail = head + 5;
    CHECK_EQ(eq_ring_space(&r, head), 0);
    /* Device ring arithmetic: tails wrap at EQ_RING_N. */
    fresh();
    q.rx_post = EQ_RING_N * 3 + 7;
    q.rx_clean = EQ_RING_N * 3;
    CHECK_EQ(eq_rdt(&q), 7);
    CHECK_EQ(eq_rx_held(&q), 7);
    q.rx_post = 3;
    q.rx_clean = 0xfffffffeu; /* wrapped */
    CHECK_EQ(eq_rx_held(&q), 5);
    CHECK_EQ(eq_rdt(&q), 3);
}

static void test_rx_roundtrip(void)
{
    fresh();
    uint32_t rdh = 0;
    for (uint32_t i = 0; i < 8; i++)
        give_rx(i);
    CHECK_EQ(eq_rx_refill(&q), 8);
    CHECK_EQ(eq_rdt(&q), 8);
    check_rx_addresses();
    CHECK_EQ(eq_rx_collect(&q), 0); /* nothing received yet */
    CHECK(device_rx(&rdh, 60, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP, 0));
    CHECK(device_rx(&rdh, 1514, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP, 0));
    CHECK_EQ(eq_rx_collect(&q), 2);
    struct nic_desc d;
    CHECK(nic_ring_pop(&sh()->rx_used, &d));
    CHECK_EQ(d.offset, buf_off(0));
    CHECK_EQ(d.len, 60);
    owner[0] = AT_NETD;
    CHECK(nic_ring_pop(&sh()->rx_used, &d));
    CHECK_EQ(d.len, 1514);
    owner[1] = AT_NETD;
    CHECK_EQ(sh()->stats.rx_frames, 2);
    CHECK_EQ(sh()->stats.rx_bytes, 60 + 1514);
    teardown();
}

static void test_rx_bad_frames_recycled(void)
{
    fresh();
    uint32_t rdh = 0;
    for (uint32_t i = 0; i < 4; i++)
        give_rx(i);
    CHECK_EQ(eq_rx_refill(&q), 4);
    const uint8_t ok = E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP;
    CHECK(device_rx(&rdh, 60, ok, E1000_RXD_ERR_CE));   /* CRC error */
    CHECK(device_rx(&rdh, 2048, E1000_RXD_STAT_DD, 0)); /* first half of a split frame */
    CHECK(device_rx(&rdh, 100, ok, 0));                 /* its tail */
    CHECK(device_rx(&rdh, 0xffff, ok, 0));              /* absurd length */
    CHECK_EQ(eq_rx_collect(&q), 0);
    CHECK_EQ(sh()->stats.rx_dropped, 4);
    CHECK_EQ(sh()->stats.rx_frames, 0);
    /* All four went back to the device, which can fill them again. */
    CHECK_EQ(eq_rx_held(&q), 4);
    check_rx_addresses();
    CHECK_EQ(nic_ring_ready(&sh()->rx_used), 0);
    CHECK(device_rx(&rdh, 64, ok, 0));
    CHECK_EQ(eq_rx_collect(&q), 1);
    CHECK(!q.rx_in_fragment);
    teardown();
}

static void test_rx_bad_descriptors_from_netd(void)
{
    fresh();
    struct nic_ring *r = &sh()->rx_free;
    /* Outside the buffer area, misaligned, past the end, and one good one. */
    CHECK(nic_ring_push(r, (struct nic_desc){ .offset = 0 }));
    CHECK(nic_ring_push(r, (struct nic_desc){ .offset = NIC_BUF_AREA_OFFSET + 1 }));
    CHECK(nic_ring_push(r, (struct nic_desc){ .offset = NIC_BUF_AREA_OFFSET + NIC_BUF_COUNT * NIC_BUF_SIZE }));
    CHECK(nic_ring_push(r, (struct nic_desc){ .offset = 0xfffff800u }));
    CHECK(nic_ring_push(r, (struct nic_desc){ .offset = buf_off(3), .len = NIC_BUF_SIZE + 1 }));
    give_rx(7);
    CHECK_EQ(eq_rx_refill(&q), 1);
    CHECK_EQ(sh()->stats.rx_bad_desc, 5);
    CHECK_EQ(q.rx_off[0], buf_off(7));
    check_rx_addresses();
    /* netd scribbling over the driver's own indices changes nothing the
     * driver relies on: it keeps its private copies. */
    sh()->rx_free.tail = 12345;
    sh()->rx_used.head = 999;
    CHECK_EQ(eq_rx_refill(&q), 0);
    CHECK_EQ(q.rx_free_tail, 6);
    sh()->rx_used.head = 0;
    teardown();
}

static void test_rx_reservation_paces_driver(void)
{
    fresh();
    uint32_t rdh = 0;
    /* netd leaves 250 frames unconsumed in rx_used... */
    for (uint32_t i = 0; i < 250; i++)
        CHECK(nic_ring_push(&sh()->rx_used, (struct nic_desc){ .offset = buf_off(400) }));
    q.rx_used_head = 250;
    for (uint32_t i = 0; i < 20; i++)
        give_rx(i);
    /* ...so the driver takes only 6 buffers: each has a place to return to. */
    CHECK_EQ(eq_rx_refill(&q), 6);
    CHECK_EQ(nic_ring_ready(&sh()->rx_free), 14);
    for (uint32_t i = 0; i < 6; i++)
        CHECK(device_rx(&rdh, 60, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP, 0));
    CHECK_EQ(eq_rx_collect(&q), 6);
    CHECK_EQ(nic_ring_space(&sh()->rx_used), 0);
    CHECK_EQ(eq_rx_refill(&q), 0); /* full: wait for netd */
    /* netd consumes: the driver continues. */
    struct nic_desc d;
    for (uint32_t i = 0; i < 250; i++)
        CHECK(nic_ring_pop(&sh()->rx_used, &d));
    CHECK_EQ(netd_collect(&sh()->rx_used, NULL), 6);
    CHECK_EQ(eq_rx_refill(&q), 14);
    teardown();
}

static void test_rx_ring_full_keeps_one_slot(void)
{
    fresh();
    for (uint32_t i = 0; i < NIC_RING_SIZE; i++)
        give_rx(i);
    CHECK_EQ(eq_rx_refill(&q), EQ_RING_N - 1);
    CHECK_EQ(eq_rx_held(&q), EQ_RING_N - 1);
    CHECK_EQ(eq_rdt(&q), EQ_RING_N - 1); /* RDT != RDH (0): the device sees 255 */
    check_rx_addresses();
    /* The last one stays on rx_free for later. */
    CHECK_EQ(nic_ring_ready(&sh()->rx_free), 1);
    struct nic_desc d;
    CHECK(nic_ring_pop(&sh()->rx_free, &d));
    CHECK_EQ(d.offset, buf_off(NIC_RING_SIZE - 1));
    owner[NIC_RING_SIZE - 1] = AT_NETD;
    teardown();
}

static void test_tx_roundtrip_and_padding(void)
{
    fresh();
    uint32_t tdh = 0;
    send_tx(3, 42); /* ARP reply size: padded to 60 with zeros */
    send_tx(1, 1514);
    send_tx(2, 14);
    uint32_t back = 99;
    CHECK_EQ(eq_tx_fill(&q, &back), 3);
    CHECK_EQ(back, 0);
    CHECK_EQ(eq_tdt(&q), 3);
    CHECK_EQ(tx_ring[0].length, 60);
    CHECK_EQ(tx_ring[1].length, 1514);
    CHECK_EQ(tx_ring[2].length, 60);
    CHECK_EQ(tx_ring[0].buffer_addr, SHM_PHYS + buf_off(3));
    const uint8_t *b3 = shm_mem + buf_off(3);
    CHECK_EQ(b3[41], 3); /* the frame itself untouched */
    CHECK_EQ(b3[42], 0); /* padding zeroed */
    CHECK_EQ(b3[59], 0);
    CHECK_EQ(b3[60], 3); /* nothing past the padding is written */
    const uint8_t *b2 = shm_mem + buf_off(2);
    CHECK_EQ(b2[13], 2);
    CHECK_EQ(b2[14], 0);
    CHECK_EQ(b2[59], 0);
    CHECK_EQ(b2[60], 2);            /* nothing past the padding is written */
    CHECK_EQ(eq_tx_reclaim(&q), 0); /* not sent yet */
    CHECK_EQ(device_tx(&tdh, E1000_TXD_STAT_DD), 3);
    CHECK_EQ(eq_tx_reclaim(&q), 3);
    uint16_t len = 0;
    CHECK_EQ(netd_collect(&sh()->tx_done, &len), 3);
    CHECK_EQ(len, 14); /* netd gets its descriptor back as it gave it */
    CHECK_EQ(sh()->stats.tx_frames, 3);
    CHECK_EQ(sh()->stats.tx_bytes, 42 + 1514 + 14);
    teardown();
}

static void test_tx_bad_descriptors(void)
{
    fresh();
    uint32_t tdh = 0;
    struct nic_ring *r = &sh()->tx_send;
    CHECK(nic_ring_push(r, (struct nic_desc){ .offset = 12, .len = 60 }));          /* in the header */
    CHECK(nic_ring_push(r, (struct nic_desc){ .offset = 0xffffffffu, .len = 60 })); /* nowhere */
    send_tx(5, NIC_MAX_FRAME + 1);                                                  /* too long */
    send_tx(6, NIC_MIN_FRAME - 1);                                                  /* too short */
    send_tx(7, 100);
    uint32_t back = 0;
    CHECK_EQ(eq_tx_fill(&q, &back), 1);
    CHECK_EQ(back, 2); /* buffers 5 and 6 returned unsent */
    CHECK_EQ(sh()->stats.tx_bad_desc, 4);
    CHECK_EQ(device_tx(&tdh, E1000_TXD_STAT_DD), 1);
    CHECK_EQ(eq_tx_reclaim(&q), 1);
    teardown();
}

static void test_tx_failed_status_counted(void)
{
    fresh();
    uint32_t tdh = 0;
    send_tx(0, 100);
    send_tx(1, 100);
    CHECK_EQ(eq_tx_fill(&q, NULL), 2);
    CHECK_EQ(device_tx(&tdh, E1000_TXD_STAT_DD | E1000_TXD_STAT_EC), 2);
    CHECK_EQ(eq_tx_reclaim(&q), 2);
    CHECK_EQ(sh()->stats.tx_dropped, 2);
    CHECK_EQ(sh()->stats.tx_frames, 0);
    teardown();
}

static void test_tx_reservation_and_ring_limit(void)
{
    fresh();
    uint32_t tdh = 0;
    /* netd does not consume tx_done: the driver may hold at most what fits. */
    for (uint32_t i = 0; i < NIC_RING_SIZE; i++)
        send_tx(i, 60);
    CHECK_EQ(eq_tx_fill(&q, NULL), EQ_RING_N - 1); /* the device ring keeps one slot */
    CHECK_EQ(device_tx(&tdh, E1000_TXD_STAT_DD), EQ_RING_N - 1);
    CHECK_EQ(eq_tx_reclaim(&q), EQ_RING_N - 1);
    CHECK_EQ(eq_tx_fill(&q, NULL), 1); /* one tx_done place left */
    CHECK_EQ(eq_tx_fill(&q, NULL), 0);
    CHECK_EQ(device_tx(&tdh, E1000_TXD_STAT_DD), 1);
    CHECK_EQ(eq_tx_reclaim(&q), 1);
    CHECK_EQ(nic_ring_space(&sh()->tx_done), 0);
    teardown();
}

static void test_drain_returns_everything(void)
{
    fresh();
    uint32_t rdh = 0;
    for (uint32_t i = 0; i < 10; i++)
        give_rx(i);
    CHECK_EQ(eq_rx_refill(&q), 10);
    CHECK(device_rx(&rdh, 80, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP, 0));
    for (uint32_t i = 10; i < 15; i++)
        send_tx(i, 100);
    CHECK_EQ(eq_tx_fill(&q, NULL), 5);
    /* The device sent two of five before it was stopped. */
    tx_ring[0].status = E1000_TXD_STAT_DD;
    tx_ring[1].status = E1000_TXD_STAT_DD;
    uint32_t ev = eq_drain(&q);
    CHECK_EQ(ev, NIC_EVT_RX | NIC_EVT_TX);
    /* One frame, then nine empty buffers (len 0). */
    struct nic_desc d;
    CHECK(nic_ring_pop(&sh()->rx_used, &d));
    CHECK_EQ(d.len, 80);
    owner[buf_index(d.offset)] = AT_NETD;
    uint32_t empties = 0;
    while (nic_ring_pop(&sh()->rx_used, &d)) {
        CHECK_EQ(d.len, 0);
        owner[buf_index(d.offset)] = AT_NETD;
        empties++;
    }
    CHECK_EQ(empties, 9);
    CHECK_EQ(netd_collect(&sh()->tx_done, NULL), 5);
    CHECK_EQ(sh()->stats.tx_frames, 2);
    CHECK_EQ(sh()->stats.tx_dropped, 3);
    teardown();
}

/* A long random run: netd and the device do random amounts of work in
 * random order, with random bad descriptors and write-backs; at the end
 * every buffer is back and the counters add up. */
static void test_random_run(void)
{
    fresh();
    srand(4242);
    uint32_t rdh = 0, tdh = 0;
    uint32_t free_list[NIC_BUF_COUNT], n_free = 0;
    for (uint32_t i = 0; i < NIC_BUF_COUNT; i++)
        free_list[n_free++] = i;
    uint64_t sent_ok = 0, rx_delivered = 0, device_rx_ok = 0, device_rx_bad = 0, bad_given = 0;
    for (int step = 0; step < 200000 && !unit_failed_checks; step++) {
        switch (rand() % 7) {
        case 0: /* netd gives RX buffers */
            for (int k = rand() % 8; k > 0 && n_free && nic_ring_space(&sh()->rx_free); k--)
                give_rx(free_list[--n_free]);
            break;
        case 1: /* netd sends frames (sometimes with a bad length) */
            for (int k = rand() % 8; k > 0 && n_free && nic_ring_space(&sh()->tx_send); k--) {
                uint16_t len = (uint16_t)(14 + rand() % 1501);
                if (rand() % 50 == 0) {
                    len = NIC_MAX_FRAME + 1;
                    bad_given++;
                }
                send_tx(free_list[--n_free], len);
            }
            if (rand() % 40 == 0) /* a garbage descriptor */
                nic_ring_push(&sh()->tx_send, (struct nic_desc){ .offset = (uint32_t)rand() | 1u, .len = 60 });
            break;
        case 2: /* the device receives */
            for (int k = rand() % 8; k > 0; k--) {
                bool bad = rand() % 30 == 0;
                uint16_t len = bad ? (uint16_t)(1515 + rand() % 500) : (uint16_t)(60 + rand() % 1455);
                if (!device_rx(&rdh, len, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP, 0))
                    break;
                if (bad)
                    device_rx_bad++;
                else
                    device_rx_ok++;
            }
            break;
        case 3: /* the device transmits */ device_tx(&tdh, E1000_TXD_STAT_DD); break;
        case 4: /* interrupt or kick: the driver services both rings */
            rx_delivered += eq_rx_collect(&q);
            eq_rx_refill(&q);
            eq_tx_reclaim(&q);
            eq_tx_fill(&q, NULL);
            check_rx_addresses();
            break;
        case 5:   /* netd consumes rx_used */
        case 6: { /* netd consumes tx_done */
            struct nic_ring *r = rand() % 2 ? &sh()->rx_used : &sh()->tx_done;
            struct nic_desc d;
            for (int k = rand() % 16; k > 0 && nic_ring_pop(r, &d);) {
                CHECK(nic_desc_ok(d, false));
                uint32_t i = buf_index(d.offset);
                CHECK_EQ(owner[i], AT_DRIVER);
                owner[i] = AT_NETD;
                free_list[n_free++] = i;
                k--;
            }
            break;
        }
        }
    }
    /* Stop: the device finishes what it has, then the driver drains. */
    device_tx(&tdh, E1000_TXD_STAT_DD);
    rx_delivered += eq_rx_collect(&q);
    struct nic_desc d;
    while (nic_ring_pop(&sh()->rx_free, &d)) /* never taken by the driver */
        owner[buf_index(d.offset)] = AT_NETD;
    while (nic_ring_pop(&sh()->tx_send, &d))
        if (nic_desc_ok(d, false))
            owner[buf_index(d.offset)] = AT_NETD;
    CHECK_EQ(rx_delivered, device_rx_ok);
    CHECK_EQ(sh()->stats.rx_frames, device_rx_ok);
    CHECK_EQ(sh()->stats.rx_dropped, device_rx_bad);
    sent_ok = sh()->stats.tx_frames;
    CHECK(sent_ok > 1000);
    CHECK(device_rx_ok > 1000);
    teardown();
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_classify),
        UNIT_TEST(test_ring_index_arithmetic),
        UNIT_TEST(test_rx_roundtrip),
        UNIT_TEST(test_rx_bad_frames_recycled),
        UNIT_TEST(test_rx_bad_descriptors_from_netd),
        UNIT_TEST(test_rx_reservation_paces_driver),
        UNIT_TEST(test_rx_ring_full_keeps_one_slot),
        UNIT_TEST(test_tx_roundtrip_and_padding),
        UNIT_TEST(test_tx_bad_descriptors),
        UNIT_TEST(test_tx_failed_status_counted),
        UNIT_TEST(test_tx_reservation_and_ring_limit),
        UNIT_TEST(test_drain_returns_everything),
        UNIT_TEST(test_random_run),
    };
    return unit_main("e1000_queue", tests, (int)(sizeof tests / sizeof tests[0]));
}
