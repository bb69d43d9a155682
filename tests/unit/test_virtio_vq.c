/*
 * test_virtio_vq.c - drivers/virtio/virtq.c: the driver side of a split
 * virtqueue, run against a simulated device.
 *
 * The simulated device reads the rings the way the spec says a device does
 * (2.7.13, 2.7.14): it takes heads from the available ring up to avail->idx,
 * walks each chain through desc[].next, and writes used elements (in any
 * order it likes) then used->idx.  "Physical" addresses are the offsets of
 * a fake address space, so chains can be checked byte for byte.  Tests end
 * with teardown(): every descriptor is back on the free list exactly once.
 */
#include <stdint.h>
#include <stdlib.h>

#include "unit.h"
#include "virtio.h"

#define PHYS 0x100000ull

struct sim {
    struct virtq q;
    void *mem;
    uint16_t dev_avail; /* next avail entry the device reads */
    uint16_t dev_used;  /* the used->idx it writes next */
};

/* One chain as the device sees it. */
struct seen {
    uint16_t head;
    unsigned n, n_out, n_in;
    uint64_t addr[VQ_MAX_SIZE];
    uint32_t len[VQ_MAX_SIZE];
    uint32_t writable;
    bool order_ok; /* readable descriptors all precede writable ones */
};

static int sim_init(struct sim *s, uint16_t size, bool event_idx)
{
    memset(s, 0, sizeof *s);
    s->mem = aligned_alloc(4096, (vq_mem_bytes(size ? size : 1) + 4095) & ~4095ul);
    memset(s->mem, 0xa5, vq_mem_bytes(size ? size : 1)); /* vq_init must clear it */
    return vq_init(&s->q, 0, size, s->mem, PHYS, event_idx);
}

static void sim_free(struct sim *s) { free(s->mem); }

/* The device takes the next available chain: false when there is none. */
static bool dev_take(struct sim *s, struct seen *c)
{
    struct virtq *q = &s->q;
    if (s->dev_avail == q->avail->idx)
        return false;
    memset(c, 0, sizeof *c);
    c->head = q->avail->ring[s->dev_avail++ % q->size];
    c->order_ok = true;
    uint16_t d = c->head;
    for (;;) {
        CHECK(d < q->size);
        volatile struct virtq_desc *vd = &q->desc[d];
        c->addr[c->n] = vd->addr;
        c->len[c->n] = vd->len;
        if (vd->flags & VIRTQ_DESC_F_WRITE) {
            c->n_in++;
            c->writable += vd->len;
        } else {
            if (c->n_in)
                c->order_ok = false;
            c->n_out++;
        }
        c->n++;
        if (!(vd->flags & VIRTQ_DESC_F_NEXT) || c->n >= q->size)
            break;
        d = vd->next;
    }
    return true;
}

/* The device returns the chain headed by HEAD, having written LEN bytes. */
static void dev_use(struct sim *s, uint32_t head, uint32_t len)
{
    struct virtq *q = &s->q;
    q->used->ring[s->dev_used % q->size].id = head;
    q->used->ring[s->dev_used % q->size].len = len;
    s->dev_used++;
    q->used->idx = s->dev_used;
}

/* Every descriptor on the free list exactly once, none in flight. */
static void teardown(struct sim *s)
{
    struct virtq *q = &s->q;
    CHECK_EQ(q->num_free, q->size);
    CHECK_EQ(vq_in_flight(q), 0);
    unsigned seen[VQ_MAX_SIZE] = { 0 }, n = 0;
    for (uint16_t d = q->free_head; d != VQ_NONE && n <= q->size; d = q->next[d], n++) {
        CHECK(d < q->size);
        if (d < q->size)
            seen[d]++;
    }
    CHECK_EQ(n, q->size);
    for (unsigned i = 0; i < q->size; i++) {
        CHECK_EQ(seen[i], 1);
        CHECK_EQ(q->chain_len[i], 0);
    }
    sim_free(s);
}

static void test_init_checks(void)
{
    struct sim s;
    CHECK_EQ(sim_init(&s, 0, false), VIO_E_INVAL);
    sim_free(&s);
    CHECK_EQ(sim_init(&s, 3, false), VIO_E_INVAL);
    sim_free(&s);
    CHECK_EQ(sim_init(&s, 512, false), VIO_E_INVAL);
    sim_free(&s);
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    CHECK_EQ(vq_init(&s.q, 0, 8, (uint8_t *)s.mem + 8, PHYS, false), VIO_E_INVAL); /* misaligned */
    CHECK_EQ(vq_init(&s.q, 0, 8, s.mem, PHYS + 8, false), VIO_E_INVAL);
    CHECK_EQ(vq_init(&s.q, 5, 8, s.mem, PHYS, false), VIO_OK);
    CHECK_EQ(s.q.index, 5);
    teardown(&s);
}

static void test_layout(void)
{
    /* 2.7: descriptors, avail (+used_event), then used (+avail_event) 4-aligned. */
    CHECK_EQ(vq_mem_bytes(256), 4096 + 4 + 512 + 2 + 2 /* pad */ + 4 + 2048 + 2);
    CHECK_EQ(vq_mem_bytes(1), 16 + 4 + 2 + 2 + 4 + 8 + 2);
    struct sim s;
    CHECK_EQ(sim_init(&s, 256, true), VIO_OK);
    CHECK_EQ(s.q.desc_phys, PHYS);
    CHECK_EQ(s.q.avail_phys, PHYS + 4096);
    CHECK_EQ(s.q.used_phys % 4, 0);
    CHECK_EQ(s.q.used_phys, PHYS + 4616);
    CHECK((uintptr_t)s.q.used_event == (uintptr_t)s.mem + 4096 + 4 + 512);
    CHECK((uintptr_t)s.q.avail_event == (uintptr_t)s.mem + 4616 + 4 + 2048);
    CHECK_EQ(s.q.avail->idx, 0); /* cleared by vq_init */
    CHECK_EQ(s.q.used->idx, 0);
    CHECK_EQ(*s.q.avail_event, 0);
    teardown(&s);
}

static void test_chain_round_trip(void)
{
    struct sim s;
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    struct vq_seg segs[3] = { { 0x1000, 12 }, { 0x2000, 100 }, { 0x3000, 2048 } };
    int head = vq_add(&s.q, segs, 2, 1, 0xabcd);
    CHECK(head >= 0);
    CHECK_EQ(s.q.num_free, 5);
    struct seen c;
    CHECK(!dev_take(&s, &c)); /* not published yet */
    CHECK(vq_publish(&s.q));  /* the device did not say NO_NOTIFY */
    CHECK(!vq_publish(&s.q)); /* nothing new */
    CHECK(dev_take(&s, &c));
    CHECK_EQ(c.head, head);
    CHECK_EQ(c.n, 3);
    CHECK_EQ(c.n_out, 2);
    CHECK_EQ(c.n_in, 1);
    CHECK(c.order_ok);
    CHECK_EQ(c.addr[0], 0x1000);
    CHECK_EQ(c.len[1], 100);
    CHECK_EQ(c.addr[2], 0x3000);
    CHECK_EQ(c.writable, 2048);
    uint32_t cookie = 0, len = 0;
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 0);
    CHECK(!vq_has_used(&s.q));
    dev_use(&s, c.head, 1500);
    CHECK(vq_has_used(&s.q));
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 1);
    CHECK_EQ(cookie, 0xabcd);
    CHECK_EQ(len, 1500);
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 0);
    teardown(&s);
}

static void test_bad_chains_refused(void)
{
    struct sim s;
    CHECK_EQ(sim_init(&s, 4, false), VIO_OK);
    struct vq_seg segs[5] = { { 1, 1 }, { 2, 1 }, { 3, 1 }, { 4, 1 }, { 5, 1 } };
    CHECK_EQ(vq_add(&s.q, segs, 0, 0, 0), VIO_E_INVAL);
    CHECK_EQ(vq_add(&s.q, segs, 3, 2, 0), VIO_E_INVAL); /* longer than the queue */
    struct vq_seg zero[2] = { { 1, 1 }, { 2, 0 } };
    CHECK_EQ(vq_add(&s.q, zero, 1, 1, 0), VIO_E_INVAL);
    CHECK_EQ(s.q.num_free, 4);
    CHECK(vq_add(&s.q, segs, 1, 2, 1) >= 0);
    CHECK_EQ(vq_add(&s.q, segs, 2, 0, 2), VIO_E_FULL); /* 1 left */
    CHECK(vq_add(&s.q, segs, 1, 0, 3) >= 0);
    CHECK_EQ(vq_add(&s.q, segs, 1, 0, 4), VIO_E_FULL);
    CHECK_EQ(s.q.num_free, 0);
    (void)vq_publish(&s.q);
    struct seen c1, c2;
    CHECK(dev_take(&s, &c1) && dev_take(&s, &c2));
    dev_use(&s, c2.head, 0); /* out of order is allowed */
    dev_use(&s, c1.head, 2);
    uint32_t cookie, len;
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 1);
    CHECK_EQ(cookie, 3);
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 1);
    CHECK_EQ(cookie, 1);
    teardown(&s);
}

static void test_device_errors_detected(void)
{
    struct sim s;
    struct vq_seg in = { 0x1000, 64 }, out = { 0x2000, 64 };
    uint32_t cookie, len;
    struct seen c;

    /* An id beyond the table. */
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    CHECK(vq_add(&s.q, &in, 0, 1, 7) >= 0);
    (void)vq_publish(&s.q);
    CHECK(dev_take(&s, &c));
    dev_use(&s, 8, 0);
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), VIO_E_DEVICE);
    sim_free(&s);

    /* An id that is not the head of a chain the device holds. */
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    CHECK(vq_add(&s.q, &in, 0, 1, 7) >= 0);
    (void)vq_publish(&s.q);
    CHECK(dev_take(&s, &c));
    dev_use(&s, (uint32_t)c.head + 1, 0);
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), VIO_E_DEVICE);
    sim_free(&s);

    /* The same chain returned twice. */
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    CHECK(vq_add(&s.q, &in, 0, 1, 7) >= 0);
    CHECK(vq_add(&s.q, &in, 0, 1, 8) >= 0);
    (void)vq_publish(&s.q);
    CHECK(dev_take(&s, &c));
    dev_use(&s, c.head, 64);
    dev_use(&s, c.head, 64);
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 1);
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), VIO_E_DEVICE);
    sim_free(&s);

    /* More bytes written than the chain lets it; device-readable chains take none. */
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    CHECK(vq_add(&s.q, &in, 0, 1, 7) >= 0);
    CHECK(vq_add(&s.q, &out, 1, 0, 8) >= 0);
    (void)vq_publish(&s.q);
    struct seen c2;
    CHECK(dev_take(&s, &c) && dev_take(&s, &c2));
    dev_use(&s, c.head, 64);
    dev_use(&s, c2.head, 1);
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 1);
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), VIO_E_DEVICE);
    sim_free(&s);

    /* used->idx further ahead than anything published. */
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    CHECK(vq_add(&s.q, &in, 0, 1, 7) >= 0);
    (void)vq_publish(&s.q);
    s.q.used->idx = 2;
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), VIO_E_DEVICE);
    s.q.used->idx = 0x8000;
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), VIO_E_DEVICE);
    sim_free(&s);
}

static void test_need_event(void)
{
    /* 2.7.10: notify iff event lies in [old, new). */
    CHECK(vq_need_event(5, 6, 5));
    CHECK(!vq_need_event(6, 6, 5));
    CHECK(vq_need_event(5, 10, 0));
    CHECK(!vq_need_event(10, 10, 0));
    CHECK(!vq_need_event(4, 10, 5));         /* already passed before old */
    CHECK(vq_need_event(0xffff, 2, 0xfffe)); /* across the wrap */
    CHECK(vq_need_event(0, 2, 0xfffe));
    CHECK(!vq_need_event(2, 2, 0xfffe));
    CHECK(!vq_need_event(7, 7, 7)); /* nothing moved */
}

static void test_notify_suppression(void)
{
    struct sim s;
    struct vq_seg in = { 0x1000, 64 };
    /* Flags: the device says NO_NOTIFY while it is polling. */
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    s.q.used->flags = VIRTQ_USED_F_NO_NOTIFY;
    CHECK(vq_add(&s.q, &in, 0, 1, 0) >= 0);
    CHECK(!vq_publish(&s.q));
    CHECK_EQ(s.q.avail->idx, 1); /* published all the same */
    s.q.used->flags = 0;
    CHECK(vq_add(&s.q, &in, 0, 1, 0) >= 0);
    CHECK(vq_publish(&s.q));
    struct seen c;
    uint32_t cookie, len;
    while (dev_take(&s, &c))
        dev_use(&s, c.head, 0);
    while (vq_pop(&s.q, &cookie, &len) == 1) {
    }
    teardown(&s);

    /* Event index: the device asks to hear when avail passes avail_event. */
    CHECK_EQ(sim_init(&s, 8, true), VIO_OK);
    *s.q.avail_event = 0;
    CHECK(vq_add(&s.q, &in, 0, 1, 0) >= 0);
    CHECK(vq_publish(&s.q)); /* 0 -> 1 passes 0 */
    CHECK(vq_add(&s.q, &in, 0, 1, 0) >= 0);
    CHECK(!vq_publish(&s.q)); /* 1 -> 2 does not: the device has not caught up */
    *s.q.avail_event = 2;
    CHECK(vq_add(&s.q, &in, 0, 1, 0) >= 0);
    CHECK(vq_add(&s.q, &in, 0, 1, 0) >= 0);
    CHECK(vq_publish(&s.q)); /* 2 -> 4 passes 2: one notification for the batch */
    while (dev_take(&s, &c))
        dev_use(&s, c.head, 0);
    while (vq_pop(&s.q, &cookie, &len) == 1) {
    }
    teardown(&s);
}

static void test_interrupt_suppression(void)
{
    struct sim s;
    struct vq_seg in = { 0x1000, 64 };
    struct seen c;
    uint32_t cookie, len;
    /* Flags. */
    CHECK_EQ(sim_init(&s, 8, false), VIO_OK);
    vq_disarm(&s.q);
    CHECK_EQ(s.q.avail->flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
    CHECK(!vq_arm(&s.q));
    CHECK_EQ(s.q.avail->flags, 0);
    CHECK(vq_add(&s.q, &in, 0, 1, 0) >= 0);
    (void)vq_publish(&s.q);
    CHECK(dev_take(&s, &c));
    dev_use(&s, c.head, 4);
    CHECK(vq_arm(&s.q)); /* a used buffer is waiting: the caller must drain */
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 1);
    CHECK(!vq_arm(&s.q));
    teardown(&s);
    /* Event index: used_event names the next entry the driver will read. */
    CHECK_EQ(sim_init(&s, 8, true), VIO_OK);
    for (int i = 0; i < 3; i++) {
        CHECK(vq_add(&s.q, &in, 0, 1, 0) >= 0);
        (void)vq_publish(&s.q);
        CHECK(dev_take(&s, &c));
        dev_use(&s, c.head, 4);
        CHECK_EQ(vq_pop(&s.q, &cookie, &len), 1);
    }
    vq_disarm(&s.q);
    CHECK_EQ(s.q.avail->flags, 0); /* flags stay 0 with event index (2.7.7.2) */
    CHECK(!vq_arm(&s.q));
    CHECK_EQ(*s.q.used_event, 3);
    /* The device would interrupt exactly when used->idx passes 3. */
    CHECK(vq_need_event(*s.q.used_event, 4, 3));
    CHECK(!vq_need_event(*s.q.used_event, 5, 4));
    teardown(&s);
}

static void test_reclaim_after_reset(void)
{
    struct sim s;
    CHECK_EQ(sim_init(&s, 16, false), VIO_OK);
    struct vq_seg segs[2] = { { 0x1000, 12 }, { 0x2000, 2048 } };
    for (uint32_t i = 0; i < 8; i++)
        CHECK(vq_add(&s.q, segs, 0, 2, 100 + i) >= 0);
    (void)vq_publish(&s.q);
    struct seen c;
    CHECK(dev_take(&s, &c));
    dev_use(&s, c.head, 60);
    uint32_t cookie, len;
    CHECK_EQ(vq_pop(&s.q, &cookie, &len), 1);
    CHECK_EQ(cookie, 100);
    /* The device is reset: the other seven come back, each once. */
    unsigned got = 0, mask = 0;
    while (vq_reclaim(&s.q, &cookie) == 1) {
        got++;
        CHECK(cookie >= 101 && cookie < 108);
        mask |= 1u << (cookie - 100);
    }
    CHECK_EQ(got, 7);
    CHECK_EQ(mask, 0xfe);
    CHECK_EQ(vq_reclaim(&s.q, &cookie), 0);
    teardown(&s);
}

/* A long random run against a model: random chain shapes, the device
 * completing a random subset in random order, 16-bit indices wrapping many
 * times.  Cookies are unique; each must come back exactly once with the
 * length the device wrote. */
static void test_random_run_against_model(void)
{
    struct sim s;
    CHECK_EQ(sim_init(&s, 32, true), VIO_OK);
    srand(12345);
    enum { COOKIES = 200000 };
    static uint8_t state[COOKIES]; /* 0 unused, 1 in flight, 2 done */
    static uint32_t want_len[COOKIES];
    struct seen pending[32];
    unsigned n_pending = 0;
    uint32_t next_cookie = 0, done = 0;
    while (next_cookie < COOKIES || done < next_cookie) {
        /* Driver: add a few chains. */
        for (int k = rand() % 4; k > 0 && next_cookie < COOKIES; k--) {
            struct vq_seg segs[4];
            unsigned n_out = (unsigned)rand() % 3, n_in = (unsigned)rand() % 3;
            if (n_out + n_in == 0)
                n_in = 1;
            for (unsigned i = 0; i < n_out + n_in; i++)
                segs[i] = (struct vq_seg){ 0x10000ull * next_cookie + i, 1 + (uint32_t)(rand() % 100) };
            int r = vq_add(&s.q, segs, n_out, n_in, next_cookie);
            if (r == VIO_E_FULL)
                break;
            CHECK(r >= 0);
            state[next_cookie++] = 1;
        }
        (void)vq_publish(&s.q);
        /* Device: take what is available, complete some in random order. */
        struct seen c;
        while (n_pending < 32 && dev_take(&s, &c)) {
            CHECK(c.order_ok);
            pending[n_pending++] = c;
        }
        for (int k = rand() % 4; k > 0 && n_pending; k--) {
            unsigned pick = (unsigned)rand() % n_pending;
            struct seen *p = &pending[pick];
            uint32_t cookie = (uint32_t)(p->addr[0] >> 16);
            uint32_t len = p->writable ? (uint32_t)rand() % (p->writable + 1) : 0;
            want_len[cookie] = len;
            dev_use(&s, p->head, len);
            pending[pick] = pending[--n_pending];
        }
        /* Driver: take everything back. */
        uint32_t cookie, len;
        int r;
        while ((r = vq_pop(&s.q, &cookie, &len)) == 1) {
            CHECK(cookie < COOKIES && state[cookie] == 1);
            if (cookie < COOKIES) {
                state[cookie] = 2;
                CHECK_EQ(len, want_len[cookie]);
            }
            done++;
        }
        CHECK_EQ(r, 0);
        if (unit_failed_checks)
            break;
    }
    CHECK_EQ(done, COOKIES);
    CHECK((uint32_t)s.q.avail_idx == (uint32_t)(COOKIES & 0xffff)); /* wrapped several times */
    teardown(&s);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_init_checks),
        UNIT_TEST(test_layout),
        UNIT_TEST(test_chain_round_trip),
        UNIT_TEST(test_bad_chains_refused),
        UNIT_TEST(test_device_errors_detected),
        UNIT_TEST(test_need_event),
        UNIT_TEST(test_notify_suppression),
        UNIT_TEST(test_interrupt_suppression),
        UNIT_TEST(test_reclaim_after_reset),
        UNIT_TEST(test_random_run_against_model),
    };
    return unit_main("virtio_vq", tests, (int)(sizeof tests / sizeof tests[0]));
}
