/*
 * ktest.c - the in-guest kernel tests: every system call, its failure
 * paths, and the IPC, notification, interrupt, memory and fault semantics.
 *
 * Started by init when the kernel command line says `ktest` (manifest
 * line `server ktest when ktest ...`).  Each test prints one line, PASS or
 * FAIL with the first failed check, then `N passed, N failed`; the VM ends
 * through the debug capability with exit code 0 (all passed) or 1.
 * Tests are isolated: each makes its own endpoints and children and tears
 * them down, so one failure does not cascade.
 * Synchronisation with children uses only IPC and notifications, and
 * SYS_YIELD where a child at the same priority must run up to a block.
 */
#include <stdbool.h>

#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "fuzz.h"
#include "spawn.h"

#define PRIO        10
#define PAGE        4096ull
#define SHARED_VA   0x0000004000000000ull
#define CHILD_EP    10 /* slots we give children */
#define CHILD_RES   11
#define CHILD_NTFN  12
#define CHILD_NTFN2 13
#define CHILD_IRQ   14

static const struct keel_srvinfo *info;
static uint64_t debug_slot, irq_slot, ioport_slot;
static int n_passed, n_failed, test_failed;
static char first_failure[200];

static void check_failed(int line, const char *what, long long a, long long b)
{
    if (test_failed++)
        return;
    snprintf(first_failure, sizeof first_failure, "line %d: %s (got %lld, expected %lld)", line, what, a, b);
}

#define CHECK(c)                                                                                                       \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            check_failed(__LINE__, #c, 0, 1);                                                                          \
    } while (0)
#define CHECK_EQ(a, b)                                                                                                 \
    do {                                                                                                               \
        long long ce_a = (long long)(a), ce_b = (long long)(b);                                                        \
        if (ce_a != ce_b)                                                                                              \
            check_failed(__LINE__, #a " == " #b, ce_a, ce_b);                                                          \
    } while (0)

static void run(const char *name, void (*fn)(void))
{
    test_failed = 0;
    first_failure[0] = 0;
    fn();
    if (test_failed) {
        n_failed++;
        ulog("FAIL %s: %s\n", name, first_failure);
    } else {
        n_passed++;
        ulog("PASS %s\n", name);
    }
}

static uint64_t find_cap(const char *name)
{
    for (uint32_t i = 0; i < info->n_caps; i++)
        if (strcmp(info->caps[i].name, name) == 0)
            return info->caps[i].slot;
    return 0;
}

static uint64_t new_obj(uint64_t type, uint64_t arg)
{
    uint64_t s = slot_get();
    int64_t err = keel_obj_create(spawn_memory(), type, s, arg);
    if (err)
        check_failed(__LINE__, "object creation", err, 0);
    return s;
}

static void yield_n(int n)
{
    for (int i = 0; i < n; i++)
        keel_yield();
}

/* ---------------------------------------------------------------- children */

/* Echo: label+1, mr0+1, mr1 = the caller's badge, mr2 ^ 0xffff, mr3 as is.
 * With arg bit 8 set it uses the general path for its replies. */
static void echo_server(uint64_t arg)
{
    uint64_t ep = arg & 0xff;
    uint64_t flags = (arg & 0x100) ? KEEL_SLOWPATH : 0;
    struct keel_msg m = { .info = flags };
    int64_t e = keel_recv(ep, &m);
    for (;;) {
        if (e) {
            m.info = 0xdead;
            m.mr[0] = (uint64_t)e;
        } else {
            m.info = ((keel_label(&m) + 1) & KEEL_LABEL_MASK);
            m.mr[0] += 1;
            m.mr[1] = m.badge;
            m.mr[2] ^= 0xffff;
        }
        m.info |= flags;
        e = keel_reply_recv(ep, &m);
    }
}

static void send_result(uint64_t a, uint64_t b)
{
    struct keel_msg r = { .info = 1, .mr = { a, b } };
    (void)keel_send(CHILD_RES, &r);
}

static uint64_t recv_result(uint64_t res, uint64_t *b)
{
    struct keel_msg r = { 0 };
    int64_t e = keel_recv(res, &r);
    CHECK_EQ(e, 0);
    if (b)
        *b = r.mr[1];
    return r.mr[0];
}

/* Calls CHILD_EP 200 times; reports how many replies were right. */
static void echo_client(uint64_t my_badge)
{
    uint64_t good = 0;
    for (uint64_t i = 0; i < 200; i++) {
        struct keel_msg m = { .info = 5, .mr = { i, 0, 7, 9 } };
        if (keel_call(CHILD_EP, &m) == 0 && keel_label(&m) == 6 && m.mr[0] == i + 1 && m.mr[1] == my_badge &&
            m.mr[3] == 9)
            good++;
    }
    send_result(good, my_badge);
}

/* ------------------------------------------------------------------- tests */

static void t_null_syscall(void) { CHECK_EQ(keel_null(), KE_OK); }

static void t_debug_log_checks(void)
{
    CHECK_EQ(keel_debug_log((const char *)0x10, 5), KE_BAD_ADDRESS);
    CHECK_EQ(keel_debug_log((const char *)0xffffffff80100000ull, 4), KE_BAD_ADDRESS);
    CHECK_EQ(keel_debug_log((const char *)0x7fffffffffffull, 2), KE_BAD_ADDRESS);
    static char big[300];
    CHECK_EQ(keel_debug_log(big, sizeof big), KE_INVALID_ARG);
    CHECK_EQ(keel_debug_log("", 0), KE_OK);
}

static void t_capability_errors(void)
{
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0);
    uint64_t empty = slot_get();
    CHECK_EQ(keel_signal(KEEL_CAP_SLOTS, 1), KE_INVALID_SLOT);
    CHECK_EQ(keel_signal(~0ull, 1), KE_INVALID_SLOT);
    CHECK_EQ(keel_signal(empty, 1), KE_EMPTY_SLOT);
    CHECK_EQ(keel_signal(SRV_SLOT_TASK, 1), KE_WRONG_TYPE);
    uint64_t ro = slot_get();
    CHECK_EQ(keel_cap_copy(n, SRV_SLOT_TASK, ro, RIGHT_READ, 0), KE_OK);
    CHECK_EQ(keel_signal(ro, 1), KE_NO_RIGHTS);
    uint64_t type, rights, badge;
    CHECK_EQ(keel_cap_info(ro, &type, &rights, &badge), KE_OK);
    CHECK_EQ(type, CAP_NOTIFICATION);
    CHECK_EQ(rights, RIGHT_READ);
    /* Without GRANT a capability cannot be copied on. */
    CHECK_EQ(keel_cap_copy(ro, SRV_SLOT_TASK, empty, RIGHT_READ, 0), KE_NO_RIGHTS);
    /* Copying into an occupied slot, or with unknown rights bits. */
    CHECK_EQ(keel_cap_copy(n, SRV_SLOT_TASK, ro, RIGHT_READ, 0), KE_SLOT_IN_USE);
    CHECK_EQ(keel_cap_copy(n, SRV_SLOT_TASK, empty, 0x80, 0), KE_INVALID_ARG);
    /* A badge is never forged over another. */
    uint64_t b1 = slot_get(), b2 = slot_get();
    CHECK_EQ(keel_cap_copy(n, SRV_SLOT_TASK, b1, RIGHTS_ALL, 0x10), KE_OK);
    CHECK_EQ(keel_cap_copy(b1, SRV_SLOT_TASK, b2, RIGHTS_ALL, 0x20), KE_INVALID_ARG);
    CHECK_EQ(keel_cap_delete(empty), KE_EMPTY_SLOT);
    slot_put(b1);
    slot_put(b2);
    slot_put(ro);
    slot_put(empty);
    slot_put(n);
}

static void t_call_reply(void)
{
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0);
    struct child s;
    struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&s, echo_server, CHILD_EP, PRIO, caps, 1, 0, 0), KE_OK);
    struct keel_msg m = { .info = 7, .mr = { 1, 2, 3, 4 } };
    CHECK_EQ(keel_call(ep, &m), KE_OK);
    CHECK_EQ(keel_label(&m), 8);
    CHECK_EQ(m.mr[0], 2);
    CHECK_EQ(m.mr[1], 0);
    CHECK_EQ(m.mr[2], 3 ^ 0xffff);
    CHECK_EQ(m.mr[3], 4);
    CHECK_EQ(m.badge, 0); /* replies carry no badge */
    child_kill(&s);
    slot_put(ep);
}

static void t_badges(void)
{
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0);
    uint64_t a = slot_get(), b = slot_get();
    CHECK_EQ(keel_cap_copy(ep, SRV_SLOT_TASK, a, RIGHT_WRITE, 0x11), KE_OK);
    CHECK_EQ(keel_cap_copy(ep, SRV_SLOT_TASK, b, RIGHT_WRITE, 0x22), KE_OK);
    struct child s;
    struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&s, echo_server, CHILD_EP, PRIO, caps, 1, 0, 0), KE_OK);
    struct keel_msg m = { .info = 1 };
    CHECK_EQ(keel_call(a, &m), KE_OK);
    CHECK_EQ(m.mr[1], 0x11);
    m = (struct keel_msg){ .info = 1 };
    CHECK_EQ(keel_call(b, &m), KE_OK);
    CHECK_EQ(m.mr[1], 0x22);
    /* A send-only capability cannot receive. */
    m.info = 0;
    CHECK_EQ(keel_recv(a, &m), KE_NO_RIGHTS);
    child_kill(&s);
    slot_put(a);
    slot_put(b);
    slot_put(ep);
}

static void t_reply_recv_many_clients(void)
{
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), res = new_obj(OBJ_ENDPOINT, 0);
    struct child s, c[3];
    struct child_cap scaps[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&s, echo_server, CHILD_EP, PRIO, scaps, 1, 0, 0), KE_OK);
    for (int i = 0; i < 3; i++) {
        struct child_cap ccaps[] = { { ep, CHILD_EP, RIGHT_WRITE, (uint64_t)(i + 1) },
                                     { res, CHILD_RES, RIGHT_WRITE, 0 } };
        CHECK_EQ(spawn(&c[i], echo_client, (uint64_t)(i + 1), PRIO, ccaps, 2, 0, 0), KE_OK);
    }
    uint64_t seen = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t who;
        CHECK_EQ(recv_result(res, &who), 200);
        seen |= 1ull << who;
    }
    CHECK_EQ(seen, 0xe);
    for (int i = 0; i < 3; i++)
        child_kill(&c[i]);
    child_kill(&s);
    slot_put(ep);
    slot_put(res);
}

static void t_nonblocking_fails_without_partner(void)
{
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0);
    struct keel_msg m = { .info = 3 | KEEL_NONBLOCK };
    CHECK_EQ(keel_send(ep, &m), KE_WOULD_BLOCK);
    m.info = 3 | KEEL_NONBLOCK;
    CHECK_EQ(keel_call(ep, &m), KE_WOULD_BLOCK);
    m.info = KEEL_NONBLOCK;
    CHECK_EQ(keel_recv(ep, &m), KE_WOULD_BLOCK);
    /* Reserved bits in the info word are refused, not ignored. */
    CHECK_EQ(sys6(SYS_SEND, ep, 1ull << 50, 0, 0, 0, 0), KE_INVALID_ARG);
    CHECK_EQ(sys6(SYS_RECV, ep, 5, 0, 0, 0, 0), KE_INVALID_ARG); /* a label on a receive */
    CHECK_EQ(sys6(SYS_REPLY, 0, KEEL_RECV_CALL, 0, 0, 0, 0), KE_INVALID_ARG);
    slot_put(ep);
}

/* Receives one call, tells us, waits for "go", replies (reporting the
 * result), then serves as an echo server. */
static void slow_server(uint64_t unused)
{
    (void)unused;
    struct keel_msg m = { 0 };
    (void)keel_recv(CHILD_EP, &m);
    (void)keel_signal(CHILD_NTFN, 1);
    uint64_t bits;
    (void)keel_wait(CHILD_NTFN2, 0, &bits);
    int64_t r = keel_reply(&m);
    send_result((uint64_t)r, 0);
    echo_server(CHILD_EP);
}

static void blocked_caller(uint64_t unused)
{
    (void)unused;
    struct keel_msg m = { .info = 1 };
    (void)keel_call(CHILD_EP, &m);
}

/* Waits on its notification (CHILD_NTFN) first, then serves as echo_server. */
static void wait_then_echo(uint64_t arg)
{
    uint64_t bits = 0;
    (void)keel_wait(CHILD_NTFN, 0, &bits);
    echo_server(arg);
}

static void t_dead_caller_does_not_stall_server(void)
{
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), res = new_obj(OBJ_ENDPOINT, 0);
    uint64_t got = new_obj(OBJ_NOTIFICATION, 0), go = new_obj(OBJ_NOTIFICATION, 0);
    struct child s, c;
    struct child_cap scaps[] = { { ep, CHILD_EP, RIGHT_READ, 0 },
                                 { res, CHILD_RES, RIGHT_WRITE, 0 },
                                 { got, CHILD_NTFN, RIGHT_WRITE, 0 },
                                 { go, CHILD_NTFN2, RIGHT_READ, 0 } };
    struct child_cap ccaps[] = { { ep, CHILD_EP, RIGHT_WRITE, 0 } };
    CHECK_EQ(spawn(&s, slow_server, 0, PRIO, scaps, 4, 0, 0), KE_OK);
    CHECK_EQ(spawn(&c, blocked_caller, 0, PRIO, ccaps, 1, 0, 0), KE_OK);
    uint64_t bits = 0;
    CHECK_EQ(keel_wait(got, 0, &bits), KE_OK);
    child_kill(&c); /* the caller dies before it can receive its reply */
    CHECK_EQ(keel_signal(go, 1), KE_OK);
    CHECK_EQ(recv_result(res, NULL), (uint64_t)(int64_t)KE_NO_REPLY);
    struct keel_msg m = { .info = 41 };
    CHECK_EQ(keel_call(ep, &m), KE_OK); /* and the server still serves */
    CHECK_EQ(keel_label(&m), 42);
    child_kill(&s);
    slot_put(ep);
    slot_put(res);
    slot_put(got);
    slot_put(go);
}

static void reply_twice_server(uint64_t unused)
{
    (void)unused;
    struct keel_msg m = { 0 };
    (void)keel_recv(CHILD_EP, &m);
    int64_t r1 = keel_reply(&m);
    int64_t r2 = keel_reply(&m);
    send_result((uint64_t)r1, (uint64_t)r2);
}

static void reply_without_caller(uint64_t unused)
{
    (void)unused;
    struct keel_msg m = { 0 };
    send_result((uint64_t)keel_reply(&m), 0);
}

static void t_reply_rights(void)
{
    struct keel_msg m = { 0 };
    CHECK_EQ(keel_reply(&m), KE_NO_REPLY);
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), res = new_obj(OBJ_ENDPOINT, 0);
    struct child s, w;
    struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 }, { res, CHILD_RES, RIGHT_WRITE, 0 } };
    CHECK_EQ(spawn(&s, reply_twice_server, 0, PRIO, caps, 2, 0, 0), KE_OK);
    m.info = 9;
    CHECK_EQ(keel_call(ep, &m), KE_OK);
    uint64_t r2;
    CHECK_EQ(recv_result(res, &r2), KE_OK);
    CHECK_EQ((int64_t)r2, KE_NO_REPLY);
    /* Another task cannot answer a call it did not receive. */
    CHECK_EQ(spawn(&w, reply_without_caller, 0, PRIO, caps, 2, 0, 0), KE_OK);
    CHECK_EQ((int64_t)recv_result(res, NULL), KE_NO_REPLY);
    child_kill(&s);
    child_kill(&w);
    slot_put(ep);
    slot_put(res);
}

static void signal_child(uint64_t bits) { (void)keel_signal(CHILD_NTFN, bits); }

static void t_notifications(void)
{
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0);
    uint64_t bits = 0;
    CHECK_EQ(keel_signal(n, 1), KE_OK);
    CHECK_EQ(keel_signal(n, 4), KE_OK);
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK);
    CHECK_EQ(bits, 5);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK); /* poll: cleared */
    CHECK_EQ(bits, 0);
    CHECK_EQ(keel_signal(n, 2), KE_OK);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK);
    CHECK_EQ(bits, 2);
    CHECK_EQ(keel_wait(n, 1ull << 40, &bits), KE_INVALID_ARG);
    /* A badged capability sets exactly its badge: 0 or bits within the
     * badge set the badge; any other bit is refused and nothing is set
     * (it once ORed the caller's bits in: a signaller could forge the bits
     * of another, or of an IRQ or timer on the same word). */
    uint64_t badged = slot_get();
    CHECK_EQ(keel_cap_copy(n, SRV_SLOT_TASK, badged, RIGHT_WRITE, 0x100), KE_OK);
    CHECK_EQ(keel_signal(badged, 0), KE_OK);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK);
    CHECK_EQ(bits, 0x100);
    CHECK_EQ(keel_signal(badged, 0x100), KE_OK);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK);
    CHECK_EQ(bits, 0x100);
    CHECK_EQ(keel_signal(badged, 0x1), KE_NO_RIGHTS);
    CHECK_EQ(keel_signal(badged, 0x101), KE_NO_RIGHTS);
    CHECK_EQ(keel_signal(badged, ~0ull), KE_NO_RIGHTS);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK);
    CHECK_EQ(bits, 0); /* nothing was set by the refused signals */
    /* A two-bit badge: its holder sets both, never a third. */
    uint64_t b2 = slot_get();
    CHECK_EQ(keel_cap_copy(n, SRV_SLOT_TASK, b2, RIGHT_WRITE, 0x6), KE_OK);
    CHECK_EQ(keel_signal(b2, 0x2), KE_OK);
    CHECK_EQ(keel_signal(b2, 0x8), KE_NO_RIGHTS);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK);
    CHECK_EQ(bits, 0x6);
    /* An unbadged capability still sets whatever bits it is asked to. */
    CHECK_EQ(keel_signal(n, 0x8001), KE_OK);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK);
    CHECK_EQ(bits, 0x8001);
    slot_put(b2);
    slot_put(badged);

    /* Bound: a receive on an endpoint also returns the bits. */
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0);
    CHECK_EQ(keel_ntfn_bind(n), KE_OK);
    uint64_t other = new_obj(OBJ_NOTIFICATION, 0);
    CHECK_EQ(keel_ntfn_bind(other), KE_BUSY); /* one binding per thread */
    struct child c;
    struct child_cap caps[] = { { n, CHILD_NTFN, RIGHT_WRITE, 0 } };
    CHECK_EQ(spawn(&c, signal_child, 0x80, PRIO, caps, 1, 0, 0), KE_OK);
    struct keel_msg m = { 0 };
    CHECK_EQ(keel_recv(ep, &m), KE_OK);
    CHECK(m.info & KEEL_RECV_NOTIFY);
    CHECK_EQ(m.badge, 0x80);
    /* Bits pending before the receive are returned at once. */
    CHECK_EQ(keel_signal(n, 0x3), KE_OK);
    m.info = 0;
    CHECK_EQ(keel_recv(ep, &m), KE_OK);
    CHECK(m.info & KEEL_RECV_NOTIFY);
    CHECK_EQ(m.badge, 0x3);
    CHECK_EQ(keel_ntfn_bind(~0ull), KE_OK);
    child_kill(&c);
    slot_put(ep);
    slot_put(other);
    slot_put(n);
}

static void waiter_child(uint64_t unused)
{
    (void)unused;
    uint64_t bits;
    (void)keel_wait(CHILD_NTFN, 0, &bits);
}

static void t_notification_single_waiter(void)
{
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0);
    struct child c;
    struct child_cap caps[] = { { n, CHILD_NTFN, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&c, waiter_child, 0, PRIO, caps, 1, 0, 0), KE_OK);
    yield_n(3); /* the child runs up to its wait */
    uint64_t bits;
    CHECK_EQ(keel_wait(n, 0, &bits), KE_BUSY);
    child_kill(&c);
    slot_put(n);
}

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void pit_start(uint16_t divisor)
{
    outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
    outb(0x40, divisor & 0xff);
    outb(0x40, divisor >> 8);
}

static void pit_stop(void)
{
    outb(0x43, 0x30); /* channel 0, mode 0: one terminal count, then quiet */
    outb(0x40, 0xff);
    outb(0x40, 0xff);
}

static void t_interrupt_reaches_user_driver(void)
{
    if (!irq_slot || !ioport_slot) {
        check_failed(__LINE__, "the manifest gives ktest irq 0 and ioport 0x40-0x43", 0, 1);
        return;
    }
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0);
    CHECK_EQ(keel_irq_bind(irq_slot, n, 0), KE_INVALID_ARG);
    CHECK_EQ(keel_irq_bind(irq_slot, n, 0x4), KE_OK);
    uint64_t t0 = keel_now_ns();
    pit_start(1193); /* ~1 kHz */
    int got = 0;
    for (int i = 0; i < 5; i++) {
        uint64_t bits = 0;
        CHECK_EQ(keel_wait(n, 0, &bits), KE_OK);
        if (bits & 0x4)
            got++;
        CHECK_EQ(keel_irq_ack(irq_slot), KE_OK);
    }
    CHECK_EQ(got, 5);
    CHECK(keel_now_ns() - t0 >= 2000000ull); /* five ticks of ~1 ms take a few ms */
    /* Unacknowledged, the line stays masked: no second interrupt arrives. */
    uint64_t bits = 0;
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK);
    uint64_t timer = new_obj(OBJ_NOTIFICATION, 0);
    CHECK_EQ(sys6(SYS_TIMER_ARM, timer, keel_now_ns() + 20000000ull, 1, 0, 0, 0), KE_OK);
    CHECK_EQ(keel_wait(timer, 0, &bits), KE_OK);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK);
    CHECK_EQ(bits, 0);
    CHECK_EQ(keel_irq_ack(irq_slot), KE_OK);
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK); /* and after the ack it comes */
    CHECK_EQ(bits, 0x4);
    pit_stop();
    CHECK_EQ(keel_irq_ack(irq_slot), KE_OK);
    CHECK_EQ(keel_irq_ack(irq_slot), KE_OK); /* acknowledging twice is harmless */
    slot_put(timer);
    slot_put(n);
}

static void shared_writer(uint64_t value)
{
    volatile uint64_t *p = (volatile uint64_t *)SHARED_VA;
    uint64_t seen = p[1];
    p[0] = value;
    send_result(seen, 0);
}

static void t_shared_memory(void)
{
    uint64_t f = new_obj(OBJ_FRAME, 1), res = new_obj(OBJ_ENDPOINT, 0);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, SHARED_VA, RIGHT_READ | RIGHT_WRITE), KE_OK);
    volatile uint64_t *p = (volatile uint64_t *)SHARED_VA;
    CHECK_EQ(p[0], 0); /* frames start zeroed */
    p[1] = 0x1234;
    struct child c;
    struct child_cap caps[] = { { res, CHILD_RES, RIGHT_WRITE, 0 } };
    /* Map it into the child before it runs: make it, map, then let it go. */
    CHECK_EQ(spawn_unstarted(&c, shared_writer, caps, 1, 0, 0), KE_OK);
    CHECK_EQ(keel_map(c.task, f, SHARED_VA, RIGHT_READ | RIGHT_WRITE), KE_OK);
    CHECK_EQ(spawn_start(&c, 0xfeedface, PRIO - 1, KEEL_CPU_LIMIT_INHERIT), KE_OK);
    CHECK_EQ(recv_result(res, NULL), 0x1234);
    CHECK_EQ(p[0], 0xfeedface);
    child_kill(&c);
    CHECK_EQ(keel_unmap(SRV_SLOT_TASK, SHARED_VA), KE_OK);
    slot_put(f);
    slot_put(res);
}

/* A frame beyond 1024 pages is a list of pages (kernel/memory.c): it maps
 * as one range, every page its own and zeroed, is shared like any other,
 * and its whole charge (pages and list) comes back when it goes. */
static void t_frame_beyond_contiguous_limit(void)
{
    const uint64_t pages = 2500;
    uint64_t left0 = 0, left1 = 0, left2 = 0, have = 0;
    CHECK_EQ(keel_memory_info(spawn_memory(), &left0, NULL, NULL), KE_OK);
    uint64_t f = new_obj(OBJ_FRAME, pages);
    CHECK_EQ(keel_memory_info(spawn_memory(), &left1, NULL, NULL), KE_OK);
    CHECK(left0 - left1 >= pages * PAGE && left0 - left1 <= (pages + 8) * PAGE);
    CHECK_EQ(keel_frame_info(f, NULL, &have), KE_OK);
    CHECK_EQ(have, pages);
    uint64_t va = SHARED_VA + 0x10000000;
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, va, RIGHT_READ | RIGHT_WRITE), KE_OK);
    volatile uint64_t *p = (volatile uint64_t *)va;
    bool zero = true;
    for (uint64_t i = 0; i < pages; i++) {
        zero &= p[i * PAGE / 8] == 0 && p[i * PAGE / 8 + PAGE / 8 - 1] == 0;
        p[i * PAGE / 8] = i * 7 + 1;
    }
    CHECK(zero);
    /* A second mapping of the same frame sees the same pages in order. */
    uint64_t va2 = va + pages * PAGE + 0x100000;
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, va2, RIGHT_READ), KE_OK);
    volatile uint64_t *q = (volatile uint64_t *)va2;
    bool same = true;
    for (uint64_t i = 0; i < pages; i++)
        same &= q[i * PAGE / 8] == i * 7 + 1;
    CHECK(same);
    CHECK_EQ(keel_unmap(SRV_SLOT_TASK, va2), KE_OK);
    CHECK_EQ(keel_unmap(SRV_SLOT_TASK, va), KE_OK);
    slot_put(f);
    CHECK_EQ(keel_memory_info(spawn_memory(), &left2, NULL, NULL), KE_OK);
    CHECK_EQ(left2, left0);
}

static void t_mapping_refused_beyond_grant(void)
{
    uint64_t f = new_obj(OBJ_FRAME, 2), ro = slot_get();
    CHECK_EQ(keel_cap_copy(f, SRV_SLOT_TASK, ro, RIGHT_READ, 0), KE_OK);
    uint64_t va = SHARED_VA + 0x100000;
    CHECK_EQ(keel_map(SRV_SLOT_TASK, ro, va, RIGHT_READ | RIGHT_WRITE), KE_NO_RIGHTS);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, va, RIGHT_READ | RIGHT_WRITE | RIGHT_EXEC), KE_INVALID_ARG);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, va, 0x40 | RIGHT_READ), KE_INVALID_ARG);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, va, RIGHT_WRITE), KE_INVALID_ARG); /* no write without read */
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, 0xffff800000000000ull, RIGHT_READ), KE_BAD_ADDRESS);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, KEEL_USER_TOP - PAGE, RIGHT_READ), KE_BAD_ADDRESS); /* 2 pages */
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, 0, RIGHT_READ), KE_BAD_ADDRESS);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, va + 0x10, RIGHT_READ), KE_ALIGNMENT);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, ro, va, RIGHT_READ), KE_OK);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, va + PAGE, RIGHT_READ), KE_ALREADY_MAPPED);
    CHECK_EQ(keel_unmap(SRV_SLOT_TASK, va + PAGE), KE_NOT_MAPPED);
    CHECK_EQ(keel_unmap(SRV_SLOT_TASK, va + 1), KE_ALIGNMENT);
    CHECK_EQ(keel_unmap(SRV_SLOT_TASK, va), KE_OK);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, debug_slot, va, RIGHT_READ), KE_WRONG_TYPE);
    /* Frame info: the physical address only of DMA memory. */
    uint64_t phys = 1, pages = 0;
    CHECK_EQ(keel_frame_info(f, &phys, &pages), KE_OK);
    CHECK_EQ(phys, 0);
    CHECK_EQ(pages, 2);
    uint64_t dma = new_obj(OBJ_DMA_FRAME, 4);
    CHECK_EQ(keel_frame_info(dma, &phys, &pages), KE_OK);
    CHECK(phys != 0 && (phys & 0xfff) == 0);
    CHECK_EQ(pages, 4);
    slot_put(dma);
    slot_put(ro);
    slot_put(f);
}

/* Children that fault in each way. */
static void fault_child(uint64_t kind)
{
    switch (kind) {
    case FAULT_PAGE: *(volatile uint64_t *)0xdead000 = 1; break;
    case FAULT_UD: __asm__ volatile("ud2"); break;
    case FAULT_DE: {
        uint64_t zero = 0;
        __asm__ volatile("xorl %%edx, %%edx\n\tmovl $1, %%eax\n\tdivq %0" ::"r"(zero) : "rax", "rdx");
        break;
    }
    case FAULT_GP: (void)inb(0x70); break; /* a port we were not given */
    case FAULT_BAD_SYSCALL: (void)sys6(999, 0, 0, 0, 0, 0, 0); break;
    case 1000:
        (void)inb(0x42);
        (void)inb(0x44);
        break; /* 0x40-0x43 granted, 0x44 not */
    case 2000: /* after a resume: prove we run again */
        send_result(0x600d, 0);
        for (;;)
            keel_yield();
    }
}

static void resumed_here(void) { fault_child(2000); }

static void t_faults_are_messages(void)
{
    uint64_t fep = new_obj(OBJ_ENDPOINT, 0), res = new_obj(OBJ_ENDPOINT, 0);
    static const uint64_t kinds[] = { FAULT_PAGE, FAULT_UD, FAULT_DE, FAULT_GP, FAULT_BAD_SYSCALL, 1000 };
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        struct child c;
        struct child_cap caps[] = { { res, CHILD_RES, RIGHT_WRITE, 0 } };
        CHECK_EQ(spawn(&c, fault_child, kinds[i], PRIO, caps, 1, fep, 0x70 + i), KE_OK);
        if (kinds[i] == 1000)
            CHECK_EQ(keel_ioport_grant(ioport_slot, c.task), KE_OK);
        struct keel_msg m = { 0 };
        CHECK_EQ(keel_recv(fep, &m), KE_OK);
        CHECK(m.info & KEEL_RECV_FAULT);
        CHECK_EQ(keel_label(&m), FAULT_LABEL);
        CHECK_EQ(m.badge, 0x70 + i);
        CHECK_EQ(m.mr[0], kinds[i] == 1000 ? FAULT_GP : kinds[i]);
        CHECK(m.mr[2] >= 0x400000 && m.mr[2] < 0x500000); /* RIP inside the program */
        if (kinds[i] == FAULT_PAGE)
            CHECK_EQ(m.mr[1], 0xdead000);
        if (kinds[i] == FAULT_BAD_SYSCALL)
            CHECK_EQ(m.mr[1], 999);
        if (kinds[i] == FAULT_PAGE) {
            /* Resume it elsewhere, on a fresh stack: it runs again. */
            CHECK_EQ(keel_thread_resume(c.thread, 0xffff800000000000ull, CHILD_STACK_TOP - 8), KE_BAD_ADDRESS);
            CHECK_EQ(keel_thread_resume(c.thread, (uint64_t)resumed_here, CHILD_STACK_TOP - 8), KE_OK);
            CHECK_EQ(recv_result(res, NULL), 0x600d);
            CHECK_EQ(keel_thread_resume(c.thread, (uint64_t)resumed_here, CHILD_STACK_TOP - 8), KE_BUSY);
        }
        child_kill(&c);
    }
    slot_put(fep);
    slot_put(res);
}

static void t_fastpath_matches_general_path(void)
{
    uint64_t ep_fast = new_obj(OBJ_ENDPOINT, 0), ep_slow = new_obj(OBJ_ENDPOINT, 0);
    uint64_t bf = slot_get(), bs = slot_get();
    CHECK_EQ(keel_cap_copy(ep_fast, SRV_SLOT_TASK, bf, RIGHT_WRITE, 0x5a), KE_OK);
    CHECK_EQ(keel_cap_copy(ep_slow, SRV_SLOT_TASK, bs, RIGHT_WRITE, 0x5a), KE_OK);
    struct child f, s;
    struct child_cap fc[] = { { ep_fast, CHILD_EP, RIGHT_READ, 0 } };
    struct child_cap sc[] = { { ep_slow, CHILD_EP, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&f, echo_server, CHILD_EP, PRIO, fc, 1, 0, 0), KE_OK);
    CHECK_EQ(spawn(&s, echo_server, CHILD_EP | 0x100, PRIO, sc, 1, 0, 0), KE_OK);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int mismatches = 0;
    for (int i = 0; i < 500; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        struct keel_msg a = { .info = x & 0xffffffff, .mr = { x, ~x, x >> 3, x * 3 } };
        if (i & 1)
            a.info |= KEEL_NONBLOCK; /* the fastpath takes NONBLOCK calls too: the same results */
        struct keel_msg b = a;
        b.info |= KEEL_SLOWPATH;
        int64_t ra = keel_call(bf, &a), rb = keel_call(bs, &b);
        if (ra != rb || a.info != b.info || a.badge != b.badge || memcmp(a.mr, b.mr, sizeof a.mr) != 0)
            mismatches++;
    }
    CHECK_EQ(mismatches, 0);
    child_kill(&f);
    child_kill(&s);
    slot_put(bf);
    slot_put(bs);
    slot_put(ep_fast);
    slot_put(ep_slow);
}

/* SYS_KSTATS: calls into another task count as IPC messages and
 * address-space switches (there and back). */
static void t_kstats_count_ipc_and_switches(void)
{
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), b = slot_get();
    CHECK_EQ(keel_cap_copy(ep, SRV_SLOT_TASK, b, RIGHT_WRITE, 0x5a), KE_OK);
    struct child f;
    struct child_cap fc[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&f, echo_server, CHILD_EP, PRIO, fc, 1, 0, 0), KE_OK);
    uint64_t as0 = 0, ipc0 = 0, as1 = 0, ipc1 = 0;
    CHECK_EQ(keel_kstats(&as0, &ipc0), KE_OK);
    for (int i = 0; i < 10; i++) {
        struct keel_msg m = { .info = 1, .mr = { (uint64_t)i } };
        CHECK_EQ(keel_call(b, &m), KE_OK);
    }
    CHECK_EQ(keel_kstats(&as1, &ipc1), KE_OK);
    CHECK(ipc1 - ipc0 >= 10);
    CHECK(as1 - as0 >= 20);
    child_kill(&f);
    slot_put(b);
    slot_put(ep);
}

static void t_memory_budget(void)
{
    uint64_t sub = slot_get();
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_MEMORY, sub, 64 * 1024), KE_OK);
    uint64_t frames[32];
    int n = 0;
    while (n < 32) {
        frames[n] = slot_get();
        int64_t e = keel_obj_create(sub, OBJ_FRAME, frames[n], 1);
        if (e) {
            CHECK_EQ(e, KE_NO_MEMORY);
            slot_put(frames[n]);
            break;
        }
        n++;
    }
    CHECK(n >= 10 && n < 16); /* 64 KiB buys 15 pages with their bookkeeping */
    for (int i = 0; i < n; i++)
        slot_put(frames[i]);
    int again = 0;
    for (; again < n; again++) {
        frames[again] = slot_get();
        if (keel_obj_create(sub, OBJ_FRAME, frames[again], 1))
            break;
    }
    CHECK_EQ(again, n); /* everything was refunded */
    for (int i = 0; i < again; i++)
        slot_put(frames[i]);
    /* SYS_MEMORY_INFO: what is left, charged and refunded page by page. */
    uint64_t left = 0, left2 = 0, free_pages = 0, total = 0, f = slot_get();
    CHECK_EQ(keel_memory_info(sub, &left, &free_pages, &total), KE_OK);
    CHECK_EQ(left, 64 * 1024);
    CHECK(free_pages > 0 && free_pages < total);
    CHECK_EQ(keel_obj_create(sub, OBJ_FRAME, f, 4), KE_OK);
    CHECK_EQ(keel_memory_info(sub, &left2, NULL, NULL), KE_OK);
    CHECK(left - left2 >= 4 * PAGE && left - left2 < 5 * PAGE); /* the pages and their bookkeeping */
    slot_put(f);
    CHECK_EQ(keel_memory_info(sub, &left2, NULL, NULL), KE_OK);
    CHECK_EQ(left2, left);
    uint64_t ro = slot_get();
    CHECK_EQ(keel_cap_copy(sub, SRV_SLOT_TASK, ro, RIGHT_WRITE, 0), KE_OK);
    CHECK_EQ(keel_memory_info(ro, &left2, NULL, NULL), KE_NO_RIGHTS);
    slot_put(ro);
    CHECK_EQ(keel_memory_info(debug_slot, &left2, NULL, NULL), KE_WRONG_TYPE);
    CHECK_EQ(keel_memory_info(1ull << 40, &left2, NULL, NULL), KE_INVALID_SLOT);
    uint64_t x = slot_get();
    CHECK_EQ(keel_obj_create(sub, 99, x, 0), KE_INVALID_ARG);
    CHECK_EQ(keel_obj_create(sub, OBJ_FRAME, x, 0), KE_INVALID_ARG);
    CHECK_EQ(keel_obj_create(sub, OBJ_FRAME, x, (1ull << 17) + 1), KE_INVALID_ARG); /* beyond 512 MiB */
    CHECK_EQ(keel_obj_create(sub, OBJ_DMA_FRAME, x, 1025), KE_INVALID_ARG);         /* DMA: one run, 1024 at most */
    CHECK_EQ(keel_obj_create(sub, OBJ_FRAME, x, 5000), KE_NO_MEMORY);               /* a page list, beyond the budget */
    CHECK_EQ(keel_obj_create(sub, OBJ_ENDPOINT, sub, 0), KE_SLOT_IN_USE);
    CHECK_EQ(keel_obj_create(sub, OBJ_ENDPOINT, x, 7), KE_INVALID_ARG);
    CHECK_EQ(keel_obj_create(sub, OBJ_THREAD, x, debug_slot), KE_WRONG_TYPE);
    CHECK_EQ(keel_obj_create(debug_slot, OBJ_ENDPOINT, x, 0), KE_WRONG_TYPE);
    slot_put(x);
    slot_put(sub);
}

static void t_thread_and_task_errors(void)
{
    uint64_t task = slot_get(), th = slot_get();
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_TASK, task, keel_task_name("t")), KE_OK);
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_THREAD, th, task), KE_OK);
    CHECK_EQ(keel_thread_start(th, 0xffff800000001000ull, 0x10000, 0, PRIO), KE_BAD_ADDRESS);
    CHECK_EQ(keel_thread_start(th, 0x400000, 0x10000, 0, 40), KE_INVALID_ARG);
    CHECK_EQ(keel_thread_start(th, 0x400000, 0x10000, 0, PRIO + 1), KE_NO_RIGHTS);
    CHECK_EQ(keel_thread_resume(th, 0x400000, 0x10000), KE_BUSY); /* never faulted */
    CHECK_EQ(keel_thread_set_fault(th, debug_slot), KE_WRONG_TYPE);
    CHECK_EQ(keel_task_kill(task), KE_OK);
    uint64_t x = slot_get();
    CHECK_EQ(keel_cap_copy(debug_slot, task, 5, RIGHT_READ, 0), KE_DEAD);
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_THREAD, x, task), KE_DEAD);
    CHECK_EQ(keel_thread_start(th, 0x400000, 0x10000, 0, PRIO), KE_DEAD);
    slot_put(x);
    slot_put(th);
    slot_put(task);
}

static void t_control_capabilities_required(void)
{
    uint64_t x = slot_get(), vec;
    CHECK_EQ(keel_irq_get(debug_slot, 3, x, &vec), KE_WRONG_TYPE);
    CHECK_EQ(keel_ioport_get(debug_slot, 0x60, 1, x), KE_WRONG_TYPE);
    CHECK_EQ(keel_mmio_get(debug_slot, 0xfee00000, 1, x), KE_WRONG_TYPE);
    CHECK_EQ(keel_debug_halt(SRV_SLOT_TASK, 1), KE_WRONG_TYPE);
    CHECK_EQ(keel_irq_ack(debug_slot), KE_WRONG_TYPE);
    CHECK_EQ(sys6(SYS_TIMER_ARM, debug_slot, 1, 1, 0, 0, 0), KE_WRONG_TYPE);
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0);
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, keel_now_ns() + 1000, 0, 0, 0, 0), KE_INVALID_ARG);
    /* SYS_DMA: a DMA space needs the MMIO control capability, and every
     * other operation a DMA-space capability; an unknown op is refused. */
    uint64_t bdf = 0x0008; /* 00:01.0 */
    CHECK_EQ(keel_dma_create(debug_slot, bdf, x, spawn_memory()), KE_WRONG_TYPE);
    CHECK_EQ(keel_dma_attach(n, SRV_SLOT_TASK), KE_WRONG_TYPE);
    CHECK_EQ(keel_dma_bind(n, n, 1), KE_WRONG_TYPE);
    CHECK_EQ(keel_dma_info(n, NULL, NULL, NULL), KE_WRONG_TYPE);
    CHECK_EQ(sys6(SYS_DMA, n, 0, 0, 0, 0, 0), KE_INVALID_ARG);
    CHECK_EQ(sys6(SYS_DMA, n, 99, 0, 0, 0, 0), KE_INVALID_ARG);
    slot_put(n);
    slot_put(x);
}

static void t_timer_notification(void)
{
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0);
    uint64_t t0 = keel_now_ns(), bits = 0;
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, t0 + 20000000ull, 0x10, 0, 0, 0), KE_OK);
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK);
    CHECK_EQ(bits, 0x10);
    CHECK(keel_now_ns() - t0 >= 20000000ull);
    /* Disarmed, it never fires. */
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, keel_now_ns() + 1000000ull, 0x10, 0, 0, 0), KE_OK);
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, 0, 0, 0, 0, 0), KE_OK);
    uint64_t guard = new_obj(OBJ_NOTIFICATION, 0);
    CHECK_EQ(sys6(SYS_TIMER_ARM, guard, keel_now_ns() + 5000000ull, 1, 0, 0, 0), KE_OK);
    CHECK_EQ(keel_wait(guard, 0, &bits), KE_OK);
    CHECK_EQ(keel_wait(n, KEEL_NONBLOCK, &bits), KE_OK);
    CHECK_EQ(bits, 0);
    slot_put(guard);
    slot_put(n);
}

/* The system-call fuzzer (fuzz.c): `fuzz_rounds` rounds, seeds fuzz_seed,
 * fuzz_seed + 1, ...; the seed comes from the kernel command line
 * (`fuzz-seed=N`, with `fuzz-rounds=`, `fuzz-calls=`, `fuzz-tasks=`,
 * `fuzz-workers=`), else from the clock, and is printed either way. */
static uint64_t fuzz_seed;
static unsigned fuzz_rounds = 3, fuzz_calls = 3000, fuzz_tasks = 3, fuzz_workers = 4;

static bool cmdline_number(const char *line, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *p = line; *p; p++) {
        if ((p == line || p[-1] == ' ') && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            uint64_t v = 0;
            const char *d = p + kl + 1;
            if (*d < '0' || *d > '9')
                return false;
            for (; *d >= '0' && *d <= '9'; d++)
                v = v * 10 + (uint64_t)(*d - '0');
            *out = v;
            return true;
        }
    }
    return false;
}

static void fuzz_configure(void)
{
    static char line[520];
    uint64_t len = 0, v;
    if (keel_debug_ctl(debug_slot, DEBUG_CTL_CMDLINE, (uint64_t)line, sizeof line, &len, NULL, NULL) != KE_OK)
        line[0] = 0;
    if (cmdline_number(line, "fuzz-seed", &v))
        fuzz_seed = v;
    else
        fuzz_seed = keel_rdtsc() % 1000000007ull;
    if (cmdline_number(line, "fuzz-rounds", &v) && v > 0 && v < 100000)
        fuzz_rounds = (unsigned)v;
    if (cmdline_number(line, "fuzz-calls", &v) && v > 0 && v < 100000000)
        fuzz_calls = (unsigned)v;
    if (cmdline_number(line, "fuzz-tasks", &v) && v > 0 && v <= FUZZ_MAX_TASKS)
        fuzz_tasks = (unsigned)v;
    if (cmdline_number(line, "fuzz-workers", &v) && v > 0 && v <= FUZZ_MAX_WORKERS)
        fuzz_workers = (unsigned)v;
}

static void t_syscall_fuzzer(void)
{
    ulog("ktest: fuzz: seed %llu, %u rounds, %u tasks x %u workers x %u calls (replay: make ktest SEED=%llu)\n",
         (unsigned long long)fuzz_seed, fuzz_rounds, fuzz_tasks, fuzz_workers, fuzz_calls,
         (unsigned long long)fuzz_seed);
    for (unsigned i = 0; i < fuzz_rounds && !test_failed; i++) {
        struct fuzz_params p = {
            .seed = fuzz_seed + i,
            .tasks = fuzz_tasks,
            .workers = fuzz_workers,
            .calls = fuzz_calls,
            .budget = 8ull << 20,
            .debug_slot = debug_slot,
            .timeout_ms = 120000,
        };
        struct fuzz_outcome o;
        char why[160];
        if (fuzz_round(&p, &o, why, sizeof why)) {
            if (!test_failed++)
                snprintf(first_failure, sizeof first_failure, "%s (replay: make ktest SEED=%llu)", why,
                         (unsigned long long)p.seed);
            break;
        }
        uint64_t ok = 0;
        for (unsigned nr = 0; nr < SYS_COUNT; nr++)
            ok += o.ok[nr];
        ulog("ktest: fuzz: seed %llu: %u finished, %u killed mid-run, %llu calls (%llu succeeded: create %llu, "
             "copy %llu, delete %llu, map %llu, start %llu, kill %llu), %llu bounded blocks, %llu KE_DEAD, "
             "%llu ms\n",
             (unsigned long long)p.seed, o.finished, o.killed, (unsigned long long)o.calls, (unsigned long long)ok,
             (unsigned long long)o.ok[SYS_OBJ_CREATE], (unsigned long long)o.ok[SYS_CAP_COPY],
             (unsigned long long)o.ok[SYS_CAP_DELETE], (unsigned long long)o.ok[SYS_MAP],
             (unsigned long long)o.ok[SYS_THREAD_START], (unsigned long long)o.ok[SYS_TASK_KILL],
             (unsigned long long)o.blocked, (unsigned long long)o.dead, (unsigned long long)o.elapsed_ms);
    }
}

/* A server built on lib/server.c: ADD (2 words) and a notification hook. */
static int64_t h_add(void *ctx, struct keel_msg *m)
{
    (void)ctx;
    m->mr[0] = m->mr[0] + m->mr[1];
    return 0;
}
static int64_t h_fail(void *ctx, struct keel_msg *m)
{
    (void)ctx;
    (void)m;
    return KE_RANGE;
}
static void h_notify(void *ctx, uint64_t bits)
{
    (void)ctx;
    send_result(0xb175, bits);
}
static void loop_server(uint64_t unused)
{
    (void)unused;
    static const struct srv_handler handlers[] = { { 1, 2, h_add }, { 2, 0, h_fail } };
    struct srv_loop l = { .endpoint = CHILD_EP, .handlers = handlers, .n_handlers = 2, .on_notify = h_notify };
    (void)keel_ntfn_bind(CHILD_NTFN);
    send_result((uint64_t)srv_run(&l), 0);
}

static void t_server_loop_helper(void)
{
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), res = new_obj(OBJ_ENDPOINT, 0), n = new_obj(OBJ_NOTIFICATION, 0);
    struct child c;
    struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 },
                                { res, CHILD_RES, RIGHT_WRITE, 0 },
                                { n, CHILD_NTFN, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&c, loop_server, 0, PRIO, caps, 3, 0, 0), KE_OK);
    struct keel_msg m = { .info = SRV_LABEL(1, 2), .mr = { 40, 2 } };
    CHECK_EQ(keel_call(ep, &m), KE_OK);
    CHECK_EQ(keel_label(&m), 0);
    CHECK_EQ(m.mr[0], 42);
    m = (struct keel_msg){ .info = SRV_LABEL(1, 1), .mr = { 40, 2 } }; /* too short */
    CHECK_EQ(keel_call(ep, &m), KE_OK);
    CHECK_EQ(keel_label(&m), SRV_E_SHORT);
    CHECK_EQ(m.mr[0], 0);
    m = (struct keel_msg){ .info = SRV_LABEL(7, 0) };
    CHECK_EQ(keel_call(ep, &m), KE_OK);
    CHECK_EQ(keel_label(&m), SRV_E_UNKNOWN);
    m = (struct keel_msg){ .info = SRV_LABEL(2, 0) };
    CHECK_EQ(keel_call(ep, &m), KE_OK);
    CHECK_EQ(keel_label(&m), (uint32_t)KE_RANGE);
    CHECK_EQ(keel_signal(n, 0x30), KE_OK);
    uint64_t bits;
    CHECK_EQ(recv_result(res, &bits), 0xb175);
    CHECK_EQ(bits, 0x30);
    child_kill(&c);
    slot_put(ep);
    slot_put(res);
    slot_put(n);
}

/* Each child fills xmm0-xmm7 with its own pattern and checks them across
 * many switches and preemptions: the kernel must keep every thread's SSE
 * state apart. */
static void sse_child(uint64_t pattern)
{
    uint64_t bad = 0;
    for (int round = 0; round < 200; round++) {
        uint64_t in[2] = { pattern + (uint64_t)round, ~pattern }, out[2];
        __asm__ volatile("movdqu %0, %%xmm0\n\tmovdqa %%xmm0, %%xmm7" ::"m"(in) : "xmm0", "xmm7");
        keel_yield();
        for (volatile int spin = 0; spin < 2000; spin++)
            ;
        __asm__ volatile("movdqu %%xmm7, %0" : "=m"(out)::"xmm7");
        if (out[0] != in[0] || out[1] != in[1])
            bad++;
    }
    send_result(bad, pattern);
}

static void t_sse_state_per_thread(void)
{
    uint64_t res = new_obj(OBJ_ENDPOINT, 0);
    struct child c[3];
    struct child_cap caps[] = { { res, CHILD_RES, RIGHT_WRITE, 0 } };
    for (int i = 0; i < 3; i++)
        CHECK_EQ(spawn(&c[i], sse_child, 0x1111111111111111ull * (uint64_t)(i + 1), PRIO, caps, 1, 0, 0), KE_OK);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(recv_result(res, NULL), 0);
    for (int i = 0; i < 3; i++)
        child_kill(&c[i]);
    slot_put(res);
}

static void spinner(uint64_t unused)
{
    (void)unused;
    for (;;)
        ;
}

static void t_preemption_and_priorities(void)
{
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0), bits;
    struct child same, lower;
    /* A thread at our priority that never blocks: only the time slice
     * brings us back after our timer fires. */
    CHECK_EQ(spawn(&same, spinner, 0, PRIO, NULL, 0, 0, 0), KE_OK);
    uint64_t t0 = keel_now_ns();
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, t0 + 5000000ull, 1, 0, 0, 0), KE_OK);
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK);
    uint64_t late = keel_now_ns() - t0;
    CHECK(late >= 5000000ull && late < 500000000ull);
    child_kill(&same);
    /* A lower-priority spinner never delays us past the tick. */
    CHECK_EQ(spawn(&lower, spinner, 0, PRIO - 1, NULL, 0, 0, 0), KE_OK);
    t0 = keel_now_ns();
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, t0 + 5000000ull, 1, 0, 0, 0), KE_OK);
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK);
    late = keel_now_ns() - t0;
    CHECK(late >= 5000000ull && late < 100000000ull);
    child_kill(&lower);
    slot_put(n);
}

static void t_msi_vector(void)
{
    uint64_t msi = find_cap("msi");
    if (!msi) {
        check_failed(__LINE__, "the manifest gives ktest irq msi", 0, 1);
        return;
    }
    uint64_t type, rights, badge;
    CHECK_EQ(keel_cap_info(msi, &type, &rights, &badge), KE_OK);
    CHECK_EQ(type, CAP_IRQ);
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0);
    CHECK_EQ(keel_irq_bind(msi, n, 1), KE_OK);
    CHECK_EQ(keel_irq_ack(msi), KE_OK); /* nothing pending: harmless */
    slot_put(n);
}

/* Regressions found in review: each once panicked, leaked or misbehaved. */
static void nonblock_replier(uint64_t unused)
{
    (void)unused;
    struct keel_msg m = { 0 };
    (void)keel_recv(CHILD_EP, &m);
    m.info = KEEL_NONBLOCK | 3;
    int64_t r = keel_reply_recv(CHILD_EP, &m); /* answers, then must not block */
    send_result((uint64_t)r, 0);
}

static void t_review_regressions(void)
{
    /* A task dropped without being killed first. */
    uint64_t t = slot_get();
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_TASK, t, 0), KE_OK);
    slot_put(t);
    CHECK_EQ(keel_null(), KE_OK); /* still alive */
    /* A budget too large to account for. */
    uint64_t m = slot_get();
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_MEMORY, m, ~0ull - 16), KE_INVALID_ARG);
    slot_put(m);
    /* A refused timer call changes nothing. */
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0), bits;
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, keel_now_ns() + 2000000ull, 1, 0, 0, 0), KE_OK);
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, keel_now_ns() + 9000000000ull, 0, 0, 0, 0), KE_INVALID_ARG);
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK); /* the first timer still fires */
    CHECK_EQ(bits, 1);
    slot_put(n);
    /* reply_recv with NONBLOCK answers and returns at once. */
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), res = new_obj(OBJ_ENDPOINT, 0);
    struct child c;
    struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 }, { res, CHILD_RES, RIGHT_WRITE, 0 } };
    CHECK_EQ(spawn(&c, nonblock_replier, 0, PRIO, caps, 2, 0, 0), KE_OK);
    struct keel_msg q = { .info = 1 };
    CHECK_EQ(keel_call(ep, &q), KE_OK);
    CHECK_EQ(keel_label(&q), 3);
    CHECK_EQ((int64_t)recv_result(res, NULL), KE_WOULD_BLOCK);
    child_kill(&c);
    slot_put(ep);
    slot_put(res);
}

/* ---------------------------------------------- issue 16: kernel defects */

/* The kernel's invariant checks (DEBUG_CTL_CHECK): violations, and the live
 * tasks and threads. */
static uint64_t kernel_check(uint64_t *tasks, uint64_t *threads)
{
    uint64_t bad = ~0ull, t = 0, th = 0;
    CHECK_EQ(keel_debug_ctl(debug_slot, DEBUG_CTL_CHECK, 0, 0, &bad, &t, &th), KE_OK);
    if (tasks)
        *tasks = t;
    if (threads)
        *threads = th;
    return bad;
}

static uint64_t budget_left(uint64_t mem)
{
    uint64_t left = 0;
    CHECK_EQ(keel_memory_info(mem, &left, NULL, NULL), KE_OK);
    return left;
}

static void fail_allocations(uint64_t skip, uint64_t fail)
{
    uint64_t n;
    CHECK_EQ(keel_debug_ctl(debug_slot, DEBUG_CTL_FAIL_ALLOC, skip, fail, &n, NULL, NULL), KE_OK);
}

static uint64_t failed_allocations(void)
{
    uint64_t n = 0;
    CHECK_EQ(keel_debug_ctl(debug_slot, DEBUG_CTL_FAIL_ALLOC, 0, 0, &n, NULL, NULL), KE_OK);
    return n;
}

#define CHAIN_TASKS   150 /* 80 once ran the kernel stack into its guard page */
#define CHAIN_BUDGETS 400

/* Destruction is iterative: a chain of tasks, each holding the next one's
 * capability, and a chain of budgets, each made from the one before, go
 * when their first link goes, without recursion, refunding every byte. */
static void t_chains_destroyed_iteratively(void)
{
    uint64_t before = budget_left(spawn_memory()), tasks0;
    CHECK_EQ(kernel_check(&tasks0, NULL), 0);
    uint64_t first = slot_get(), prev = first;
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_TASK, first, keel_task_name("chain")), KE_OK);
    for (int i = 1; i < CHAIN_TASKS && !test_failed; i++) {
        uint64_t s = slot_get();
        CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_TASK, s, keel_task_name("chain")), KE_OK);
        CHECK_EQ(keel_cap_copy(s, prev, 7, RIGHTS_ALL, 0), KE_OK);
        if (prev != first)
            slot_put(prev);
        prev = s;
    }
    if (prev != first)
        slot_put(prev);
    uint64_t tasks;
    CHECK_EQ(kernel_check(&tasks, NULL), 0);
    CHECK_EQ(tasks, tasks0 + CHAIN_TASKS);
    slot_put(first); /* the whole chain goes */
    CHECK_EQ(kernel_check(&tasks, NULL), 0);
    CHECK_EQ(tasks, tasks0);
    CHECK_EQ(budget_left(spawn_memory()), before);

    /* Budgets: B1 from ours, B2 from B1, ...; each capability but the
     * last is dropped as soon as the next budget holds its parent. */
    uint64_t b = slot_get(), size = 1ull << 20;
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_MEMORY, b, size), KE_OK);
    for (int i = 1; i < CHAIN_BUDGETS && !test_failed; i++) {
        uint64_t next = slot_get();
        size -= 128;
        CHECK_EQ(keel_obj_create(b, OBJ_MEMORY, next, size), KE_OK);
        slot_put(b);
        b = next;
    }
    CHECK(budget_left(spawn_memory()) < before);
    slot_put(b);
    CHECK_EQ(budget_left(spawn_memory()), before);
    CHECK_EQ(kernel_check(NULL, NULL), 0);
}

/* A task holding its own capability, and two tasks holding each other,
 * keep each other alive once nobody else names them; they are reclaimed
 * when the last capability to the budget they were made from goes. */
static void t_self_and_cyclic_task_references_reclaimed(void)
{
    uint64_t before = budget_left(spawn_memory()), tasks0;
    CHECK_EQ(kernel_check(&tasks0, NULL), 0);
    uint64_t sub = slot_get();
    const uint64_t size = 4ull << 20;
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_MEMORY, sub, size), KE_OK);
    uint64_t self = slot_get(), a = slot_get(), b = slot_get(), n = slot_get();
    CHECK_EQ(keel_obj_create(sub, OBJ_TASK, self, keel_task_name("self")), KE_OK);
    CHECK_EQ(keel_cap_copy(self, self, 0, RIGHTS_ALL, 0), KE_OK);
    CHECK_EQ(keel_obj_create(sub, OBJ_TASK, a, keel_task_name("cyc-a")), KE_OK);
    CHECK_EQ(keel_obj_create(sub, OBJ_TASK, b, keel_task_name("cyc-b")), KE_OK);
    CHECK_EQ(keel_cap_copy(a, b, 0, RIGHTS_ALL, 0), KE_OK);
    CHECK_EQ(keel_cap_copy(b, a, 0, RIGHTS_ALL, 0), KE_OK);
    /* Objects in the cycle: a notification, and a thread that never ran. */
    CHECK_EQ(keel_obj_create(sub, OBJ_NOTIFICATION, n, 0), KE_OK);
    CHECK_EQ(keel_cap_copy(n, a, 1, RIGHTS_ALL, 0), KE_OK);
    uint64_t th = slot_get();
    CHECK_EQ(keel_obj_create(sub, OBJ_THREAD, th, b), KE_OK);
    CHECK_EQ(keel_cap_copy(th, b, 1, RIGHTS_ALL, 0), KE_OK);
    slot_put(th);
    slot_put(n);
    slot_put(self);
    slot_put(a);
    slot_put(b);
    uint64_t tasks;
    CHECK_EQ(kernel_check(&tasks, NULL), 0);
    CHECK_EQ(tasks, tasks0 + 3); /* unreachable, but alive: the budget is still held */
    CHECK(budget_left(sub) < size);
    slot_put(sub); /* the budget's last capability: its tasks are killed, the cycles break */
    CHECK_EQ(kernel_check(&tasks, NULL), 0);
    CHECK_EQ(tasks, tasks0);
    CHECK_EQ(budget_left(spawn_memory()), before);
}

#define PT_TEST_THREADS 150 /* past 128 kernel stacks: a new kernel-stack page table */

/* Thread creation when any page it needs cannot be had, a kernel-stack page
 * table above all: the call fails with KE_NO_MEMORY and changes nothing (it
 * once panicked on the page table).  Each thread is made by failing its
 * first allocation, then its second, and so on until it succeeds, so every
 * allocation point of every creation fails once, including the page table
 * the creation of the 129th kernel stack needs (no earlier test holds more
 * than a few dozen threads at once). */
static void t_thread_creation_survives_page_table_failure(void)
{
    uint64_t before = budget_left(spawn_memory()), injected0 = failed_allocations(), threads0;
    CHECK_EQ(kernel_check(NULL, &threads0), 0);
    uint64_t holder = slot_get();
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_TASK, holder, keel_task_name("threads")), KE_OK);
    uint64_t refused = 0;
    for (uint64_t i = 0; i < PT_TEST_THREADS && !test_failed; i++) {
        uint64_t s = slot_get();
        int64_t e = KE_NO_MEMORY;
        for (uint64_t k = 0; k < 8 && e == KE_NO_MEMORY; k++) {
            fail_allocations(k, 1);
            e = keel_obj_create(spawn_memory(), OBJ_THREAD, s, holder);
            fail_allocations(0, 0);
            if (e == KE_NO_MEMORY)
                refused++;
        }
        CHECK_EQ(e, KE_OK);
        CHECK_EQ(keel_cap_copy(s, holder, i, RIGHTS_ALL, 0), KE_OK);
        slot_put(s);
    }
    uint64_t threads;
    CHECK_EQ(kernel_check(NULL, &threads), 0);
    CHECK_EQ(threads, threads0 + PT_TEST_THREADS);
    CHECK(threads > 128);
    CHECK(refused >= PT_TEST_THREADS); /* at least the stack of each failed once */
    CHECK_EQ(failed_allocations(), injected0 + refused);
    CHECK_EQ(keel_task_kill(holder), KE_OK);
    slot_put(holder);
    CHECK_EQ(budget_left(spawn_memory()), before);
    CHECK_EQ(kernel_check(NULL, &threads), 0);
    CHECK_EQ(threads, threads0);
}

/* A user may set RFLAGS.AC; the kernel must never run with it (with SMAP,
 * AC=1 lets the kernel touch user pages).  The child spins with AC=1 across
 * timer interrupts and makes system calls; the kernel panics if it ever
 * finds AC set on entry from ring 3, and the child's AC must survive. */
static void ac_child(uint64_t unused)
{
    (void)unused;
    uint64_t flags;
    __asm__ volatile("pushfq\n\torq $0x40000, (%%rsp)\n\tpopfq" ::: "memory", "cc");
    uint64_t t0 = keel_now_ns();
    while (keel_now_ns() - t0 < 30000000ull)
        for (volatile int spin = 0; spin < 20000; spin++)
            ;
    (void)keel_null();
    __asm__ volatile("pushfq\n\tpopq %0" : "=r"(flags));
    __asm__ volatile("pushfq\n\tandq $~0x40000, (%%rsp)\n\tpopfq" ::: "memory", "cc");
    send_result(flags & 0x40000, 0);
}

static void t_user_ac_flag_never_reaches_kernel(void)
{
    uint64_t res = new_obj(OBJ_ENDPOINT, 0);
    struct child c;
    struct child_cap caps[] = { { res, CHILD_RES, RIGHT_WRITE, 0 } };
    CHECK_EQ(spawn(&c, ac_child, 0, PRIO, caps, 1, 0, 0), KE_OK);
    CHECK_EQ(recv_result(res, NULL), 0x40000); /* and the kernel is still here to say so */
    child_kill(&c);
    slot_put(res);
}

/* Meltdown: the kernel's verdict (SYS_CPU_INFO) agrees with the CPU's
 * vendor, which user space can read itself; an AMD CPU is not affected. */
static void t_cpu_info_meltdown_verdict(void)
{
    uint64_t flags = ~0ull;
    CHECK_EQ(keel_cpu_info(&flags), KE_OK);
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    ulog("ktest: cpu %s, kernel flags 0x%llx\n", vendor, (unsigned long long)flags);
    if (strcmp(vendor, "AuthenticAMD") == 0)
        CHECK_EQ(flags & KEEL_CPU_MELTDOWN, 0);
    CHECK_EQ(flags & ~(KEEL_CPU_MELTDOWN | KEEL_CPU_SMEP | KEEL_CPU_SMAP), 0);
    CHECK_EQ(sys6(SYS_DEBUG_CTL, SRV_SLOT_TASK, DEBUG_CTL_CHECK, 0, 0, 0, 0), KE_WRONG_TYPE);
    CHECK_EQ(sys6(SYS_DEBUG_CTL, debug_slot, 99, 0, 0, 0, 0), KE_INVALID_ARG);
}

/* The kernel heap gives pages back: many objects of one size class made and
 * dropped leave the heap holding no more pages than before. */
static void t_kernel_heap_returns_pages(void)
{
    uint64_t bytes0, pages0, free0, bytes1, pages1, free1, bytes2, pages2, free2;
    CHECK_EQ(keel_debug_ctl(debug_slot, DEBUG_CTL_KHEAP, 0, 0, &bytes0, &pages0, &free0), KE_OK);
    static uint64_t held[160];
    for (int i = 0; i < 160; i++)
        held[i] = new_obj(i % 2 ? OBJ_ENDPOINT : OBJ_NOTIFICATION, 0);
    CHECK_EQ(keel_debug_ctl(debug_slot, DEBUG_CTL_KHEAP, 0, 0, &bytes1, &pages1, &free1), KE_OK);
    /* 160 x 128 B (an endpoint, 72 B, and a notification, 72 B, are both
     * in the 128-byte class): more than the free blocks of the partial
     * page can hold (at most 31 if it was all but empty). */
    CHECK(pages1 > pages0);
    CHECK_EQ(bytes1, bytes0 + 160 * 128);
    for (int i = 0; i < 160; i++)
        slot_put(held[i]);
    CHECK_EQ(keel_debug_ctl(debug_slot, DEBUG_CTL_KHEAP, 0, 0, &bytes2, &pages2, &free2), KE_OK);
    CHECK_EQ(bytes2, bytes0);
    CHECK(pages2 <= pages0);
    CHECK(free2 >= free0);
    CHECK_EQ(kernel_check(NULL, NULL), 0);
}

/* DEBUG_CTL_INJECT (kernel/faultinj.c, the fault-injection campaign's
 * hook): an empty name, an unknown one and an unknown kind are refused;
 * each injection into an echo child blocked in its receive reports one of
 * the five kinds (the one asked for, when one is);
 * woken by a message, the child faults (a fault message) or carries on;
 * killed, it leaves the kernel consistent and every byte of the budget
 * back.  The kernel's choice depends only on the word and the child's
 * layout, so the twelve words below always give the same faults. */
static void t_fault_injection(void)
{
    uint64_t kind = 0, where = 0, value = 0;
    CHECK_EQ(keel_debug_ctl(debug_slot, DEBUG_CTL_INJECT, 0, 1, &kind, &where, &value), KE_INVALID_ARG);
    CHECK_EQ(keel_debug_ctl(debug_slot, DEBUG_CTL_INJECT, keel_task_name("nosuch"), 1, &kind, &where, &value),
             KE_RANGE);
    CHECK_EQ(keel_debug_ctl3(debug_slot, DEBUG_CTL_INJECT, keel_task_name("ktest"), 1, FAULTINJ_KINDS + 1, &kind,
                             &where, &value),
             KE_INVALID_ARG);
    uint64_t left0 = budget_left(spawn_memory());
    unsigned faulted = 0, kinds = 0;
    for (uint64_t word = 1; word <= 12; word++) {
        uint64_t ep = new_obj(OBJ_ENDPOINT, 0), fep = new_obj(OBJ_ENDPOINT, 0);
        struct child c;
        struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
        CHECK_EQ(spawn(&c, echo_server, CHILD_EP, PRIO, caps, 1, fep, 0x50), KE_OK);
        struct keel_msg m = { .info = 7 };
        CHECK_EQ(keel_call(ep, &m), KE_OK); /* it serves: now it waits in its receive */
        CHECK_EQ(keel_label(&m), 8);
        /* Odd words: the word chooses the kind; even ones: each kind in turn. */
        uint64_t only = word & 1 ? 0 : (word / 2 - 1) % FAULTINJ_KINDS + 1;
        CHECK_EQ(keel_debug_ctl3(debug_slot, DEBUG_CTL_INJECT, keel_task_name("child"), word * 0x9e3779b97f4a7c15ull,
                                 only, &kind, &where, &value),
                 KE_OK);
        CHECK(kind >= FAULTINJ_REG && kind <= FAULTINJ_STOP);
        CHECK(!only || kind == only);
        kinds |= 1u << kind;
        m = (struct keel_msg){ .info = 9 | KEEL_NONBLOCK };
        /* A send: nobody waits on a child that may be broken; a stopped one
         * is out of its receive, so nobody takes it. */
        CHECK_EQ(keel_send(ep, &m), kind == FAULTINJ_STOP ? KE_WOULD_BLOCK : KE_OK);
        uint64_t until = keel_now_ns() + 200000000ull;
        while (keel_now_ns() < until) {
            struct keel_msg f = { .info = KEEL_NONBLOCK };
            if (keel_recv(fep, &f) == KE_OK && (f.info & KEEL_RECV_FAULT) && f.badge == 0x50) {
                faulted++;
                break;
            }
            (void)keel_yield();
        }
        child_kill(&c);
        slot_put(ep);
        slot_put(fep);
    }
    CHECK(faulted > 0);            /* some of the twelve faults kill */
    CHECK_EQ(kinds & 0x3e, 0x3eu); /* and all five kinds occurred */
    CHECK_EQ(kernel_check(NULL, NULL), 0);
    CHECK_EQ(budget_left(spawn_memory()), left0);
}

static void sleep_ms_here(uint64_t ms)
{
    uint64_t until = keel_now_ns() + ms * 1000000ull;
    while (keel_now_ns() < until)
        (void)keel_yield();
}

/* 30 ms on, TASK reports work that has waited that long on its slot SLOT. */
static void check_work_waited(uint64_t task, uint64_t slot)
{
    uint64_t age = 0, at = 0;
    sleep_ms_here(30);
    CHECK_EQ(keel_task_stall(task, &age, &at), KE_OK);
    CHECK(age >= 20000000ull && age < 10000000000ull);
    CHECK_EQ(at, slot);
}

/* A non-blocking call on EP that finds nobody receiving. */
static void miss_a_call(uint64_t ep)
{
    struct keel_msg m = { .info = 7 | KEEL_NONBLOCK };
    CHECK_EQ(keel_call(ep, &m), KE_WOULD_BLOCK);
}

/* SYS_TASK_STALL (init's stall-limit): nothing waiting is 0; bits nobody
 * takes on a notification the task may wait on, and a caller queued on its
 * endpoint once its one thread is stopped (FAULTINJ_STOP), each report
 * their age and slot, and so does a non-blocking call that found nobody
 * receiving (until a thread comes to receive); a task that only sends to
 * the endpoint reports nothing (its capability cannot receive); the task
 * capability needs RIGHT_READ; the children are killed and every byte
 * comes back. */
static void t_task_stall(void)
{
    uint64_t left0 = budget_left(spawn_memory());
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), n = new_obj(OBJ_NOTIFICATION, 0);
    struct child s, c;
    struct child_cap scaps[] = { { ep, CHILD_EP, RIGHT_READ, 0 }, { n, CHILD_NTFN, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&s, echo_server, CHILD_EP, PRIO, scaps, 2, 0, 0), KE_OK);
    struct keel_msg m = { .info = 7 };
    CHECK_EQ(keel_call(ep, &m), KE_OK); /* it serves: now it waits in its receive */
    uint64_t age = 1, slot = 0;
    CHECK_EQ(keel_task_stall(s.task, &age, &slot), KE_OK);
    CHECK_EQ(age, 0u);
    CHECK_EQ(slot, (uint64_t)KEEL_CAP_SLOTS);
    /* Bits it never waits for: work waiting while it is blocked elsewhere. */
    CHECK_EQ(keel_signal(n, 1), KE_OK);
    check_work_waited(s.task, CHILD_NTFN);
    child_kill(&s);
    /* A server stopped for good, a caller queued behind it. */
    struct child_cap s2caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&s, echo_server, CHILD_EP, PRIO, s2caps, 1, 0, 0), KE_OK);
    m = (struct keel_msg){ .info = 7 };
    CHECK_EQ(keel_call(ep, &m), KE_OK);
    uint64_t kind = 0, where = 0, value = 0;
    CHECK_EQ(
        keel_debug_ctl3(debug_slot, DEBUG_CTL_INJECT, keel_task_name("child"), 1, FAULTINJ_STOP, &kind, &where, &value),
        KE_OK);
    CHECK_EQ(kind, (uint64_t)FAULTINJ_STOP);
    CHECK_EQ(keel_task_stall(s.task, &age, &slot), KE_OK);
    CHECK_EQ(age, 0u); /* stopped, but nothing waits for it yet */
    struct child_cap ccaps[] = { { ep, CHILD_EP, RIGHT_WRITE, 0 } };
    CHECK_EQ(spawn(&c, blocked_caller, 0, PRIO, ccaps, 1, 0, 0), KE_OK);
    check_work_waited(s.task, CHILD_EP);
    CHECK_EQ(keel_task_stall(c.task, &age, &slot), KE_OK);
    CHECK_EQ(age, 0u); /* the caller only sends: nothing waits on it */
    /* Rights and types. */
    uint64_t weak = slot_get();
    CHECK_EQ(keel_cap_copy(s.task, SRV_SLOT_TASK, weak, RIGHT_WRITE, 0), KE_OK);
    CHECK_EQ(keel_task_stall(weak, &age, &slot), KE_NO_RIGHTS);
    CHECK_EQ(keel_task_stall(ep, &age, &slot), KE_WRONG_TYPE);
    CHECK_EQ(keel_task_stall(KEEL_CAP_SLOTS, &age, &slot), KE_INVALID_SLOT);
    slot_put(weak);
    child_kill(&c);
    child_kill(&s);
    /* A server that misses a non-blocking call while it waits elsewhere:
     * work that tried and went away counts as work that waits (netd calls
     * its drivers so); once it comes to its receive, the miss is
     * forgotten. */
    uint64_t go = new_obj(OBJ_NOTIFICATION, 0); /* n still holds the bit nobody took */
    struct child_cap wcaps[] = { { ep, CHILD_EP, RIGHT_READ, 0 }, { go, CHILD_NTFN, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&s, wait_then_echo, CHILD_EP, PRIO, wcaps, 2, 0, 0), KE_OK);
    miss_a_call(ep);
    check_work_waited(s.task, CHILD_EP);
    CHECK_EQ(keel_signal(go, 1), KE_OK);
    m = (struct keel_msg){ .info = 7 };
    CHECK_EQ(keel_call(ep, &m), KE_OK); /* it serves now */
    CHECK_EQ(keel_label(&m), 8);
    CHECK_EQ(keel_task_stall(s.task, &age, &slot), KE_OK);
    CHECK_EQ(age, 0u);
    child_kill(&s);
    slot_put(go);
    slot_put(ep);
    slot_put(n);
    CHECK_EQ(kernel_check(NULL, NULL), 0);
    CHECK_EQ(budget_left(spawn_memory()), left0);
}

/* ------------------------------------------------------------------ hogs */

/* The hog tests' children (all on our core): their notification slots. */
#define HOG_OWN  CHILD_NTFN  /* its own (READ) */
#define HOG_MAIN CHILD_NTFN2 /* the test's (WRITE) */
#define HOG_PEER 15          /* the other child's (WRITE) */
/* The test's bits; the spinner's; the observer's. */
#define HOG_OBSERVED 1
#define HOG_FIRST    2
#define HOG_LATE     4
#define HOG_TIMER    8
#define HOG_STOP     1
#define HOG_GO       2
#define HOG_PHASE2   1
#define HOG_S_RAN    2

/* At the test's priority: runs without blocking (its polls are system
 * calls, never blocks) until told to stop, then blocks; each HOG_GO after
 * that is answered with HOG_S_RAN to the observer, at once. */
static void hog_spinner(uint64_t unused)
{
    (void)unused;
    uint64_t bits = 0;
    while (!(bits & HOG_STOP))
        (void)keel_wait(HOG_OWN, KEEL_NONBLOCK, &bits);
    while (keel_wait(HOG_OWN, 0, &bits) == KE_OK)
        if (bits & HOG_GO)
            (void)keel_signal(HOG_PEER, HOG_S_RAN);
}

/* One below: says it ran; then, on HOG_PHASE2, wakes the blocked spinner
 * and tells the test whether the spinner ran before it could go on (only
 * if it has its priority back, above ours). */
static void hog_observer(uint64_t unused)
{
    (void)unused;
    uint64_t bits = 0;
    (void)keel_signal(HOG_MAIN, HOG_OBSERVED);
    while (keel_wait(HOG_OWN, 0, &bits) == KE_OK) {
        if (!(bits & HOG_PHASE2))
            continue;
        (void)keel_signal(HOG_PEER, HOG_GO);
        bits = 0;
        (void)keel_wait(HOG_OWN, KEEL_NONBLOCK, &bits);
        (void)keel_signal(HOG_MAIN, (bits & HOG_S_RAN) ? HOG_FIRST : HOG_LATE);
    }
}

/* Waits on N for any of WANT, or the timer armed on N (HOG_TIMER) at
 * DEADLINE; returns the bits that ended the wait. */
static uint64_t hog_wait(uint64_t n, uint64_t want, uint64_t deadline)
{
    uint64_t got = 0, bits = 0;
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, deadline, HOG_TIMER, 0, 0, 0), KE_OK);
    while (!(got & (want | HOG_TIMER)) && keel_wait(n, 0, &bits) == KE_OK)
        got |= bits;
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, 0, 0, 0, 0, 0), KE_OK);
    return got;
}

/* A thread at our priority that never blocks must not starve one below it
 * on the same core (the scheduler demotes it, sched.c); once it blocks it
 * has its priority back: woken by the lower thread, it runs before that
 * one goes on.  On a kernel without demotion the observer never runs and
 * the 3 s timer ends the first wait. */
static void t_spinning_thread_demoted_then_restored(void)
{
    uint64_t core = 0;
    CHECK_EQ(sys6_out(SYS_CPU_INFO, 0, 0, 0, 0, 0, 0, NULL, NULL, &core), KE_OK);
    uint64_t nmain = new_obj(OBJ_NOTIFICATION, 0), ns = new_obj(OBJ_NOTIFICATION, 0), no = new_obj(OBJ_NOTIFICATION, 0);
    struct child spin, obs;
    struct child_cap scaps[] = { { ns, HOG_OWN, RIGHT_READ, 0 },
                                 { nmain, HOG_MAIN, RIGHT_WRITE, 0 },
                                 { no, HOG_PEER, RIGHT_WRITE, 0 } };
    struct child_cap ocaps[] = { { no, HOG_OWN, RIGHT_READ, 0 },
                                 { nmain, HOG_MAIN, RIGHT_WRITE, 0 },
                                 { ns, HOG_PEER, RIGHT_WRITE, 0 } };
    uint64_t t0 = keel_now_ns();
    CHECK_EQ(spawn(&spin, hog_spinner, 0, PRIO | KEEL_THREAD_CPU(core), scaps, 3, 0, 0), KE_OK);
    CHECK_EQ(spawn(&obs, hog_observer, 0, (PRIO - 1) | KEEL_THREAD_CPU(core), ocaps, 3, 0, 0), KE_OK);
    uint64_t got = hog_wait(nmain, HOG_OBSERVED, t0 + 3000000000ull);
    CHECK_EQ(got & (HOG_OBSERVED | HOG_TIMER), HOG_OBSERVED); /* the lower thread ran while the spinner spun */
    /* Let the spinner stop and block (the observer waits meanwhile). */
    CHECK_EQ(keel_signal(ns, HOG_STOP), KE_OK);
    (void)hog_wait(nmain, 0, keel_now_ns() + 200000000ull);
    CHECK_EQ(keel_signal(no, HOG_PHASE2), KE_OK);
    got = hog_wait(nmain, HOG_FIRST | HOG_LATE, keel_now_ns() + 3000000000ull);
    CHECK_EQ(got & (HOG_FIRST | HOG_LATE | HOG_TIMER), HOG_FIRST); /* its priority back: it ran first */
    CHECK_EQ(kernel_check(NULL, NULL), 0);
    child_kill(&spin);
    child_kill(&obs);
    slot_put(nmain);
    slot_put(ns);
    slot_put(no);
}

static void hog_forever(uint64_t unused)
{
    (void)unused;
    for (;;)
        __asm__ volatile("" ::: "memory");
}

/* A thread stopped for good (FAULTINJ_STOP) while it was preempted, not
 * blocked: one below us on our core spins, a tick finds it running (its
 * count of ticks run without blocking grows), our timer preempts it, and
 * the stop then leaves it suspended with its count zeroed and its own
 * priority, as any thread that stops running (the 200-fault campaign of
 * test_faults found a stopped eth0 thread still counting ticks). */
static void t_stopped_while_preempted(void)
{
    uint64_t core = 0, bits;
    CHECK_EQ(sys6_out(SYS_CPU_INFO, 0, 0, 0, 0, 0, 0, NULL, NULL, &core), KE_OK);
    uint64_t n = new_obj(OBJ_NOTIFICATION, 0);
    uint64_t left0 = budget_left(spawn_memory());
    struct child c;
    CHECK_EQ(spawn(&c, hog_forever, 0, (PRIO - 1) | KEEL_THREAD_CPU(core), NULL, 0, 0, 0), KE_OK);
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, keel_now_ns() + 50000000ull, 1, 0, 0, 0), KE_OK);
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK); /* it spins meanwhile; then we preempt it */
    uint64_t kind = 0, where = 0, value = 0;
    CHECK_EQ(
        keel_debug_ctl3(debug_slot, DEBUG_CTL_INJECT, keel_task_name("child"), 1, FAULTINJ_STOP, &kind, &where, &value),
        KE_OK);
    CHECK_EQ(kind, (uint64_t)FAULTINJ_STOP);
    CHECK_EQ(kernel_check(NULL, NULL), 0);
    child_kill(&c);
    CHECK_EQ(kernel_check(NULL, NULL), 0);
    CHECK_EQ(budget_left(spawn_memory()), left0);
    slot_put(n);
}

/* A thread with a CPU limit that spins is suspended with FAULT_HOG to its
 * fault endpoint (MR1: the ms it ran, at least its limit), as a crash is;
 * one below us, so our polling never waits on it.  A limit beyond
 * KEEL_CPU_LIMIT_MAX_MS is refused. */
static void t_cpu_limit_raises_fault(void)
{
    uint64_t th = slot_get();
    CHECK_EQ(keel_obj_create(spawn_memory(), OBJ_THREAD, th, SRV_SLOT_TASK), KE_OK);
    CHECK_EQ(keel_thread_start_limit(th, 0x400000, 0x500000, 0, PRIO, KEEL_CPU_LIMIT_MAX_MS + 1), KE_INVALID_ARG);
    slot_put(th);
    uint64_t fep = new_obj(OBJ_ENDPOINT, 0), n = new_obj(OBJ_NOTIFICATION, 0), bits;
    uint64_t left0 = budget_left(spawn_memory());
    struct child c;
    uint64_t t0 = keel_now_ns();
    CHECK_EQ(spawn_limit(&c, hog_forever, 0, PRIO - 1, NULL, 0, fep, 0x51, 50), KE_OK);
    struct keel_msg f = { 0 };
    bool got = false;
    while (!got && keel_now_ns() - t0 < 5000000000ull) {
        CHECK_EQ(sys6(SYS_TIMER_ARM, n, keel_now_ns() + 20000000ull, 1, 0, 0, 0), KE_OK);
        CHECK_EQ(keel_wait(n, 0, &bits), KE_OK);
        f = (struct keel_msg){ .info = KEEL_NONBLOCK };
        got = keel_recv(fep, &f) == KE_OK;
    }
    CHECK(got);
    CHECK(f.info & KEEL_RECV_FAULT);
    CHECK_EQ(f.badge, 0x51);
    CHECK_EQ(f.mr[0], FAULT_HOG);
    CHECK(f.mr[1] >= 50 && f.mr[1] < 5000);
    CHECK(f.mr[2] >= 0x400000 && f.mr[2] < KEEL_USER_TOP); /* where it spun */
    child_kill(&c);
    CHECK_EQ(kernel_check(NULL, NULL), 0);
    CHECK_EQ(budget_left(spawn_memory()), left0);
    slot_put(fep);
    slot_put(n);
}

static void t_restart_reported_by_init(void)
{
    /* crashme faults on its first start; init must have restarted it. */
    struct keel_msg m = { .info = INIT_STATUS };
    uint64_t restarts = 0;
    for (int tries = 0; tries < 100; tries++) {
        m = (struct keel_msg){ .info = INIT_STATUS, .mr = { 1 } }; /* manifest index of crashme */
        CHECK_EQ(keel_call(SRV_SLOT_INIT, &m), KE_OK);
        restarts = m.mr[0];
        if (restarts >= 1 && m.mr[1] == 2 /* READY */)
            break;
        uint64_t t = new_obj(OBJ_NOTIFICATION, 0), bits;
        (void)sys6(SYS_TIMER_ARM, t, keel_now_ns() + 20000000ull, 1, 0, 0, 0);
        (void)keel_wait(t, 0, &bits);
        slot_put(t);
    }
    CHECK(restarts >= 1);
    CHECK(m.mr[2] >= 1); /* and it counted the fault */
}

/* ------------------------------------------------------- several cores */
/* Each test places its children on other cores when there are any (core
 * i % n), so on one core the same exchanges run on one core. */

static uint64_t ncpus(void)
{
    uint64_t n = 0, self = ~0ull;
    CHECK_EQ(keel_cpu_count(&n, &self), KE_OK);
    CHECK_EQ(self, 0); /* init starts ktest on the boot core */
    return n ? n : 1;
}

static uint64_t on_core(uint64_t i) { return KEEL_THREAD_CPU(i % ncpus()); }

static void t_cpu_count_and_placement(void)
{
    uint64_t n = ncpus(), th = slot_get();
    CHECK(n >= 1 && n <= 8);
    CHECK_EQ(keel_obj_create(SRV_SLOT_MEMORY, OBJ_THREAD, th, SRV_SLOT_TASK), KE_OK);
    /* A core that is not online, and bits above the core field, are refused. */
    CHECK_EQ(keel_thread_start(th, 0x400000, 0x500000, 0, PRIO | KEEL_THREAD_CPU(n)), KE_RANGE);
    CHECK_EQ(keel_thread_start(th, 0x400000, 0x500000, 0, PRIO | (1ull << 16)), KE_INVALID_ARG);
    slot_put(th);
}

/* Where a child runs, as SYS_CPU_INFO tells it. */
static void core_reporter(uint64_t unused)
{
    (void)unused;
    uint64_t n = 0, self = ~0ull;
    (void)keel_cpu_count(&n, &self);
    send_result(self, n);
}

static void t_children_run_on_their_cores(void)
{
    uint64_t res = new_obj(OBJ_ENDPOINT, 0), n = ncpus();
    for (uint64_t i = 0; i < n; i++) {
        struct child c;
        struct child_cap caps[] = { { res, CHILD_RES, RIGHT_WRITE, 0 } };
        CHECK_EQ(spawn(&c, core_reporter, 0, PRIO | KEEL_THREAD_CPU(i), caps, 1, 0, 0), KE_OK);
        uint64_t seen_n = 0;
        CHECK_EQ(recv_result(res, &seen_n), i);
        CHECK_EQ(seen_n, n);
        child_kill(&c);
    }
    slot_put(res);
}

/* Echo server on core 1, clients on every core, all at once: 200 calls
 * each, every reply right (echo_client counts them). */
static void t_ipc_storm_across_cores(void)
{
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), res = new_obj(OBJ_ENDPOINT, 0);
    struct child s, c[4];
    struct child_cap scaps[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&s, echo_server, CHILD_EP, PRIO | on_core(1), scaps, 1, 0, 0), KE_OK);
    for (int i = 0; i < 4; i++) {
        struct child_cap ccaps[] = { { ep, CHILD_EP, RIGHT_WRITE, (uint64_t)(i + 1) },
                                     { res, CHILD_RES, RIGHT_WRITE, 0 } };
        CHECK_EQ(spawn(&c[i], echo_client, (uint64_t)(i + 1), PRIO | on_core((uint64_t)i), ccaps, 2, 0, 0), KE_OK);
    }
    uint64_t seen = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t who;
        CHECK_EQ(recv_result(res, &who), 200);
        seen |= 1ull << who;
    }
    CHECK_EQ(seen, 0x1e);
    for (int i = 0; i < 4; i++)
        child_kill(&c[i]);
    child_kill(&s);
    slot_put(ep);
    slot_put(res);
}

/* Ping-pong of notifications with a child on another core: each round
 * needs the other side's wake-up, so one lost wake-up stops the storm,
 * and the watchdog timer (bit 0x100 on our notification) says so. */
static void ntfn_ponger(uint64_t unused)
{
    (void)unused;
    uint64_t bits;
    for (;;) {
        if (keel_wait(CHILD_NTFN, 0, &bits))
            return;
        (void)keel_signal(CHILD_NTFN2, 1);
    }
}

static void t_notification_storm_across_cores(void)
{
    enum { ROUNDS = 3000 };
    uint64_t ping = new_obj(OBJ_NOTIFICATION, 0), pong = new_obj(OBJ_NOTIFICATION, 0), bits = 0;
    struct child c;
    struct child_cap caps[] = { { ping, CHILD_NTFN, RIGHT_READ, 0 }, { pong, CHILD_NTFN2, RIGHT_WRITE, 0 } };
    CHECK_EQ(spawn(&c, ntfn_ponger, 0, PRIO | on_core(1), caps, 2, 0, 0), KE_OK);
    CHECK_EQ(sys6(SYS_TIMER_ARM, pong, keel_now_ns() + 60000000000ull, 0x100, 0, 0, 0), KE_OK);
    int done = 0;
    for (; done < ROUNDS; done++) {
        CHECK_EQ(keel_signal(ping, 1), KE_OK);
        CHECK_EQ(keel_wait(pong, 0, &bits), KE_OK);
        if (bits & 0x100)
            break; /* the watchdog: a wake-up was lost */
    }
    CHECK_EQ(done, ROUNDS);
    CHECK_EQ(sys6(SYS_TIMER_ARM, pong, 0, 0, 0, 0, 0), KE_OK);
    child_kill(&c);
    slot_put(ping);
    slot_put(pong);
}

/* Waits for the go (CHILD_NTFN: the page is mapped by then), then writes
 * a counter into the shared page as fast as it can, for ever. */
static void shared_counter(uint64_t unused)
{
    (void)unused;
    uint64_t bits;
    if (keel_wait(CHILD_NTFN, 0, &bits))
        return;
    volatile uint64_t *p = (volatile uint64_t *)SHARED_VA;
    for (;;)
        p[1]++;
}

/* Waits (yielding, so a child on our core runs too) until p[1] moves. */
static bool counter_moves(volatile uint64_t *p)
{
    uint64_t before = p[1], t0 = keel_now_ns();
    while (p[1] == before && keel_now_ns() - t0 < 5000000000ull)
        keel_yield();
    return p[1] != before;
}

/* Sleeps MS milliseconds on notification N. */
static void sleep_ms(uint64_t n, uint64_t ms)
{
    uint64_t bits;
    CHECK_EQ(sys6(SYS_TIMER_ARM, n, keel_now_ns() + ms * 1000000ull, 1, 0, 0, 0), KE_OK);
    CHECK_EQ(keel_wait(n, 0, &bits), KE_OK);
}

/* A page unmapped from a task running on another core is gone there when
 * unmap returns: the writer's next store faults (its fault comes to us at
 * that page) and the counter, still visible to us, never moves again. */
static void t_unmap_faults_at_once_on_other_core(void)
{
    uint64_t f = new_obj(OBJ_FRAME, 1), fep = new_obj(OBJ_ENDPOINT, 0), n = new_obj(OBJ_NOTIFICATION, 0);
    uint64_t go = new_obj(OBJ_NOTIFICATION, 0);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, SHARED_VA, RIGHT_READ | RIGHT_WRITE), KE_OK);
    volatile uint64_t *p = (volatile uint64_t *)SHARED_VA;
    struct child c;
    struct child_cap caps[] = { { go, CHILD_NTFN, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&c, shared_counter, 0, PRIO | on_core(1), caps, 1, fep, 0x5d), KE_OK);
    CHECK_EQ(keel_map(c.task, f, SHARED_VA, RIGHT_READ | RIGHT_WRITE), KE_OK);
    CHECK_EQ(keel_signal(go, 1), KE_OK);
    CHECK(counter_moves(p));
    CHECK_EQ(keel_unmap(c.task, SHARED_VA), KE_OK);
    uint64_t after = p[1];
    sleep_ms(n, 30);
    CHECK_EQ(p[1], after);
    struct keel_msg m = { 0 };
    CHECK_EQ(keel_recv(fep, &m), KE_OK);
    CHECK_EQ(m.badge, 0x5d);
    CHECK_EQ(m.mr[0], FAULT_PAGE);
    CHECK_EQ(m.mr[1], SHARED_VA + 8);
    child_kill(&c);
    CHECK_EQ(keel_unmap(SRV_SLOT_TASK, SHARED_VA), KE_OK);
    slot_put(f);
    slot_put(fep);
    slot_put(n);
    slot_put(go);
}

/* A task killed while its thread runs on another core stops at once: the
 * counter it wrote into a page we still see never moves after the kill,
 * and the kernel's invariants hold (no thread, stack or task left over). */
static void t_kill_thread_running_on_other_core(void)
{
    uint64_t f = new_obj(OBJ_FRAME, 1), n = new_obj(OBJ_NOTIFICATION, 0), tasks0, threads0;
    CHECK_EQ(kernel_check(&tasks0, &threads0), 0);
    CHECK_EQ(keel_map(SRV_SLOT_TASK, f, SHARED_VA, RIGHT_READ | RIGHT_WRITE), KE_OK);
    volatile uint64_t *p = (volatile uint64_t *)SHARED_VA;
    for (int round = 0; round < 20; round++) {
        struct child c;
        uint64_t go = new_obj(OBJ_NOTIFICATION, 0);
        struct child_cap caps[] = { { go, CHILD_NTFN, RIGHT_READ, 0 } };
        CHECK_EQ(spawn(&c, shared_counter, 0, PRIO | on_core((uint64_t)round + 1), caps, 1, 0, 0), KE_OK);
        CHECK_EQ(keel_map(c.task, f, SHARED_VA, RIGHT_READ | RIGHT_WRITE), KE_OK);
        CHECK_EQ(keel_signal(go, 1), KE_OK);
        CHECK(counter_moves(p));
        slot_put(go);
        child_kill(&c);
        uint64_t after = p[1];
        sleep_ms(n, 5);
        CHECK_EQ(p[1], after);
    }
    uint64_t tasks1, threads1;
    CHECK_EQ(kernel_check(&tasks1, &threads1), 0);
    CHECK_EQ(tasks1, tasks0);
    CHECK_EQ(threads1, threads0);
    CHECK_EQ(keel_unmap(SRV_SLOT_TASK, SHARED_VA), KE_OK);
    slot_put(f);
    slot_put(n);
}

/* ------------------------------------------------- lazy FPU state (fpu.c) */

/* XMM7 is the register these tests keep a value in across system calls:
 * the system-call stubs are inline asm, not calls, so nothing between a set
 * and a get may legally change it except the kernel. */
static inline void xmm7_set(uint64_t lo, uint64_t hi)
{
    uint64_t v[2] = { lo, hi };
    __asm__ volatile("movdqu %0, %%xmm7" ::"m"(v) : "xmm7");
}

static inline void xmm7_get(uint64_t out[2]) { __asm__ volatile("movdqu %%xmm7, %0" : "=m"(*(uint64_t(*)[2])out)); }

/* Serves CHILD_EP: holds a value derived from PATTERN and the request in
 * XMM7 across each reply_recv and checks it when the next request comes.
 * Replies mr0 + 1 and, in mr1, the mismatches seen so far. */
static void sse_server(uint64_t pattern)
{
    struct keel_msg m = { 0 };
    uint64_t bad = 0, want[2] = { 0, 0 };
    bool armed = false;
    (void)keel_recv(CHILD_EP, &m);
    for (;;) {
        uint64_t got[2];
        xmm7_get(got);
        if (armed && (got[0] != want[0] || got[1] != want[1]))
            bad++;
        want[0] = pattern ^ m.mr[0];
        want[1] = ~pattern + m.mr[0];
        xmm7_set(want[0], want[1]);
        armed = true;
        m.info = 1;
        m.mr[0] += 1;
        m.mr[1] = bad;
        (void)keel_reply_recv(CHILD_EP, &m);
    }
}

/* Calls CHILD_EP 300 times with its own value in XMM7 across each call;
 * reports its mismatches plus the server's (and wrong replies). */
static void sse_client(uint64_t pattern)
{
    uint64_t bad = 0, server_bad = 0;
    for (uint64_t i = 0; i < 300; i++) {
        struct keel_msg m = { .info = 1, .mr = { i } };
        uint64_t got[2];
        xmm7_set(pattern + i, pattern ^ (i << 32));
        int64_t e = keel_call(CHILD_EP, &m);
        xmm7_get(got);
        if (got[0] != pattern + i || got[1] != (pattern ^ (i << 32)))
            bad++;
        if (e != KE_OK || m.mr[0] != i + 1)
            bad++;
        else
            server_bad = m.mr[1];
    }
    send_result(bad + server_bad, pattern);
}

/* Two client/server pairs that all keep values in XMM7 across IPC, run at
 * once at one priority: one pair on core 0 (the fastpath's direct switch,
 * so the lazy switch hands the registers back and forth on one core), one
 * with its server on another core when there is one (the general path and
 * a second core's owner).  No value may leak or get lost. */
static void t_sse_state_across_ipc(void)
{
    uint64_t res = new_obj(OBJ_ENDPOINT, 0), ep[2] = { new_obj(OBJ_ENDPOINT, 0), new_obj(OBJ_ENDPOINT, 0) };
    const uint64_t pat[4] = { 0x1111000011110000ull, 0x2222000022220000ull, 0x3333000033330000ull,
                              0x4444000044440000ull };
    struct child s[2], c[2];
    for (int i = 0; i < 2; i++) {
        struct child_cap scaps[] = { { ep[i], CHILD_EP, RIGHT_READ, 0 } };
        struct child_cap ccaps[] = { { ep[i], CHILD_EP, RIGHT_WRITE, 0 }, { res, CHILD_RES, RIGHT_WRITE, 0 } };
        CHECK_EQ(spawn(&s[i], sse_server, pat[2 * i], PRIO | on_core((uint64_t)i), scaps, 1, 0, 0), KE_OK);
        CHECK_EQ(spawn(&c[i], sse_client, pat[2 * i + 1], PRIO, ccaps, 2, 0, 0), KE_OK);
    }
    uint64_t seen = 0;
    for (int i = 0; i < 2; i++) {
        uint64_t who = 0;
        CHECK_EQ(recv_result(res, &who), 0);
        seen |= who;
    }
    CHECK_EQ(seen, pat[1] | pat[3]);
    for (int i = 0; i < 2; i++) {
        child_kill(&c[i]);
        child_kill(&s[i]);
        slot_put(ep[i]);
    }
    slot_put(res);
}

#define FPU_SECRET 0x5ec2e75ec2e75ec2ull

/* Fills XMM0-XMM7 with FPU_SECRET, says so, then blocks for ever. */
static void sse_secret_holder(uint64_t unused)
{
    (void)unused;
    uint64_t v[2] = { FPU_SECRET, FPU_SECRET };
    __asm__ volatile("movdqu %0, %%xmm0\n\tmovdqa %%xmm0, %%xmm1\n\tmovdqa %%xmm0, %%xmm2\n\t"
                     "movdqa %%xmm0, %%xmm3\n\tmovdqa %%xmm0, %%xmm4\n\tmovdqa %%xmm0, %%xmm5\n\t"
                     "movdqa %%xmm0, %%xmm6\n\tmovdqa %%xmm0, %%xmm7" ::"m"(v)
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
    send_result(1, 0);
    struct keel_msg m = { 0 };
    for (;;)
        (void)keel_recv(CHILD_EP, &m); /* nobody sends */
}

/* Reports how many 64-bit lanes of XMM0-XMM7 hold FPU_SECRET. */
static void sse_secret_reader(uint64_t unused)
{
    (void)unused;
    uint64_t v[16];
    __asm__ volatile("movdqu %%xmm0, 0(%0)\n\tmovdqu %%xmm1, 16(%0)\n\tmovdqu %%xmm2, 32(%0)\n\t"
                     "movdqu %%xmm3, 48(%0)\n\tmovdqu %%xmm4, 64(%0)\n\tmovdqu %%xmm5, 80(%0)\n\t"
                     "movdqu %%xmm6, 96(%0)\n\tmovdqu %%xmm7, 112(%0)" ::"r"(v)
                     : "memory");
    uint64_t seen = 0;
    for (int i = 0; i < 16; i++)
        seen += v[i] == FPU_SECRET;
    send_result(seen, 0);
}

/* A thread never sees another thread's registers: a reader started on the
 * core where a holder's secret is live (the holder blocked, then killed)
 * finds none of it, on every core. */
static void t_fpu_state_never_leaks(void)
{
    uint64_t res = new_obj(OBJ_ENDPOINT, 0), ep = new_obj(OBJ_ENDPOINT, 0);
    for (uint64_t core = 0; core < ncpus(); core++) {
        for (int kill_first = 0; kill_first < 2; kill_first++) {
            struct child h, r;
            struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 }, { res, CHILD_RES, RIGHT_WRITE, 0 } };
            CHECK_EQ(spawn(&h, sse_secret_holder, 0, PRIO | KEEL_THREAD_CPU(core), caps, 2, 0, 0), KE_OK);
            CHECK_EQ(recv_result(res, NULL), 1);
            if (kill_first)
                child_kill(&h);
            CHECK_EQ(spawn(&r, sse_secret_reader, 0, PRIO | KEEL_THREAD_CPU(core), caps, 2, 0, 0), KE_OK);
            CHECK_EQ(recv_result(res, NULL), 0);
            child_kill(&r);
            if (!kill_first)
                child_kill(&h);
        }
    }
    slot_put(ep);
    slot_put(res);
}

/* An echo whose loop uses no FPU or SSE register (the compiler may not
 * either: general-regs-only). */
__attribute__((target("general-regs-only"))) static void int_echo(uint64_t unused)
{
    (void)unused;
    struct keel_msg m;
    m.info = 0;
    (void)keel_recv(CHILD_EP, &m);
    for (;;) {
        m.info = 1;
        m.mr[0] += 1;
        (void)keel_reply_recv(CHILD_EP, &m);
    }
}

__attribute__((target("general-regs-only"))) static uint64_t int_calls(uint64_t ep, uint64_t n)
{
    uint64_t good = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct keel_msg m;
        m.info = 1;
        m.mr[0] = i;
        if (keel_call(ep, &m) == KE_OK && m.mr[0] == i + 1)
            good++;
    }
    return good;
}

/* IPC between two threads that use no FPU moves no FPU state when the
 * kernel switches it lazily (SYS_KSTATS KEEL_KSTATS_FPU); switched eagerly
 * (fpu=eager, or a CPU taken as LazyFP-affected) every switch loads it. */
static void t_fpu_untouched_by_integer_ipc(void)
{
    enum { CALLS = 300 };
    uint64_t ep = new_obj(OBJ_ENDPOINT, 0), loads0 = 0, saves0 = 0, lazy = 2, loads1 = 0, saves1 = 0, l2 = 0;
    struct child c;
    struct child_cap caps[] = { { ep, CHILD_EP, RIGHT_READ, 0 } };
    CHECK_EQ(spawn(&c, int_echo, 0, PRIO, caps, 1, 0, 0), KE_OK);
    CHECK_EQ(int_calls(ep, 1), 1); /* the child has run its start-up code */
    CHECK_EQ(keel_kstats_fpu(&loads0, &saves0, &lazy), KE_OK);
    CHECK_EQ(int_calls(ep, CALLS), CALLS);
    CHECK_EQ(keel_kstats_fpu(&loads1, &saves1, &l2), KE_OK);
    CHECK(lazy == 0 || lazy == 1);
    if (lazy)
        CHECK(loads1 - loads0 < 8 && saves1 - saves0 < 8); /* 0 unless something else ran meanwhile */
    else
        CHECK(loads1 - loads0 >= 2 * CALLS && saves1 - saves0 >= 2 * CALLS);
    CHECK_EQ(keel_kstats_fpu(NULL, NULL, NULL), KE_OK);
    CHECK_EQ(sys6(SYS_KSTATS, 7, 0, 0, 0, 0, 0), KE_INVALID_ARG);
    child_kill(&c);
    slot_put(ep);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    info = si;
    debug_slot = find_cap("debug");
    irq_slot = find_cap("irq");
    ioport_slot = find_cap("ioport");
    spawn_init(SRV_SLOT_MEMORY);
    srv_ready();
    fuzz_configure();
    ulog("ktest: starting\n");

    run("null_syscall", t_null_syscall);
    run("debug_log_checks_pointer_and_length", t_debug_log_checks);
    run("capability_lookup_errors", t_capability_errors);
    run("call_reply", t_call_reply);
    run("badges", t_badges);
    run("reply_recv_serves_several_clients", t_reply_recv_many_clients);
    run("nonblocking_send_recv_fail_without_partner", t_nonblocking_fails_without_partner);
    run("dead_caller_does_not_stall_server", t_dead_caller_does_not_stall_server);
    run("reply_rights_once_and_only_by_receiver", t_reply_rights);
    run("notifications_or_wait_poll_bind", t_notifications);
    run("notification_single_waiter", t_notification_single_waiter);
    run("interrupt_reaches_user_driver", t_interrupt_reaches_user_driver);
    run("shared_memory_between_tasks", t_shared_memory);
    run("mapping_refused_beyond_grant", t_mapping_refused_beyond_grant);
    run("frame_beyond_contiguous_limit", t_frame_beyond_contiguous_limit);
    run("faults_are_messages_and_resume", t_faults_are_messages);
    run("fastpath_matches_general_path", t_fastpath_matches_general_path);
    run("kstats_count_ipc_and_switches", t_kstats_count_ipc_and_switches);
    run("memory_budget_and_refund", t_memory_budget);
    run("thread_and_task_errors", t_thread_and_task_errors);
    run("control_capabilities_required", t_control_capabilities_required);
    run("timer_notification", t_timer_notification);
    run("server_loop_helper_checks_and_dispatches", t_server_loop_helper);
    run("sse_state_kept_per_thread", t_sse_state_per_thread);
    run("sse_state_kept_across_ipc", t_sse_state_across_ipc);
    run("fpu_state_never_leaks_to_a_new_thread", t_fpu_state_never_leaks);
    run("fpu_untouched_by_integer_ipc", t_fpu_untouched_by_integer_ipc);
    run("preemption_and_priorities", t_preemption_and_priorities);
    run("msi_vector_handed_out", t_msi_vector);
    run("review_regressions", t_review_regressions);
    run("chains_of_tasks_and_budgets_destroyed_iteratively", t_chains_destroyed_iteratively);
    run("self_and_cyclic_task_references_reclaimed_with_budget", t_self_and_cyclic_task_references_reclaimed);
    run("thread_creation_survives_page_table_failure", t_thread_creation_survives_page_table_failure);
    run("user_ac_flag_never_reaches_kernel", t_user_ac_flag_never_reaches_kernel);
    run("cpu_info_meltdown_verdict", t_cpu_info_meltdown_verdict);
    run("kernel_heap_returns_pages", t_kernel_heap_returns_pages);
    run("fault_injection_lands_and_is_reclaimed", t_fault_injection);
    run("task_stall_reports_work_left_waiting", t_task_stall);
    run("stopped_while_preempted_keeps_kernel_consistent", t_stopped_while_preempted);
    run("spinning_thread_demoted_then_restored", t_spinning_thread_demoted_then_restored);
    run("cpu_limit_raises_fault", t_cpu_limit_raises_fault);
    run("cpu_count_and_placement", t_cpu_count_and_placement);
    run("children_run_on_their_cores", t_children_run_on_their_cores);
    run("ipc_storm_across_cores", t_ipc_storm_across_cores);
    run("notification_storm_across_cores", t_notification_storm_across_cores);
    run("unmap_faults_at_once_on_other_core", t_unmap_faults_at_once_on_other_core);
    run("kill_thread_running_on_other_core", t_kill_thread_running_on_other_core);
    run("syscall_fuzzer", t_syscall_fuzzer);
    run("faulting_server_restarted_by_init", t_restart_reported_by_init);

    ulog("%d passed, %d failed\n", n_passed, n_failed);
    (void)keel_debug_halt(debug_slot, n_failed ? 1 : 0);
    return 0;
}
