/*
 * uart.c - the 16550A serial driver (program `uart`): the console protocol
 * (abi/keel/console.h) on its "serve:" endpoint, for COM1 by default.
 *
 * What it is given (by init, named in its server-information page):
 *   "ioport"          the UART's eight ports (the manifest's ioport
 *                     0x3f8-0x3ff), opened in its I/O bitmap; the base is
 *                     the first port, or args "base=0x2f8" for another UART
 *   "irq"             its ISA line (irq 4 for COM1), edge-triggered
 *   "serve:NAME"      the endpoint its client calls
 *   "signal:NAME"     optional: the notification it raises CONSOLE_EVT_* on
 *   SRV_SLOT_MEMORY   a budget for its own notification (manifest `memory`)
 *
 * One thread runs everything from the server loop (lib/server.h): calls,
 * and through the notification bound to the thread, the interrupt and a
 * timer.  uart_service() moves bytes: every byte the UART has received
 * into the receive queue, and while the transmitter is empty up to 16
 * bytes of the transmit queue into its FIFO.  The THRE interrupt is
 * enabled only while the transmit queue holds bytes, so an idle console
 * takes no interrupts but the ones keys make.
 *
 * Interrupts are edge-triggered (ISA) and the kernel masks the line from
 * delivery until SYS_IRQ_ACK, so an edge while masked is lost.  Hence the
 * order: service until IIR says nothing is pending, acknowledge, then
 * write IER = 0 and IER back: if a cause arose in between, the UART drops
 * and raises its line again, an edge the unmasked line does see.  As a
 * second guard a 50 ms timer polls the UART while bytes wait to go out.
 *
 * The kernel's log: the driver sends it too.  At start it becomes the
 * drainer of the kernel log's ring (SYS_KLOG_READ, kernel/klog.c): from then
 * on the kernel queues its lines (every server's ulog lines among them)
 * instead of polling the port, and signals UART_BIT_KLOG when lines arrive;
 * the driver pulls them into its own queue (klog, '\n' sent as "\r\n"),
 * and tx_fill interleaves them with the console's output at line
 * boundaries: a kernel line, once begun, is sent whole; the console's
 * output goes on to the end of its line while it has bytes queued; a
 * console line left open (a prompt) does not hold the log back.  When lines
 * come faster than the line rate, the kernel drops whole lines and says how
 * many; the driver never waits for the UART.  Until the driver asks (and
 * while it restarts) the kernel writes the port itself, by polling: the
 * driver never writes the divisor or LCR (so 115200 8N1 stays), never
 * clears the transmit FIFO (the kernel may have bytes in it), and writes
 * the FIFO only when LSR.THRE says it is empty.  MCR gets OUT2 set, which a
 * PC needs to route the interrupt.
 *
 * Queues: 4 KiB each way (byteq.h).  A full receive queue drops bytes and
 * counts them (CONSOLE_INFO); a full transmit queue makes WRITE take fewer
 * bytes and the driver signals CONSOLE_EVT_TX when half of it is free.
 *
 * Restarts: nothing survives but the UART's own state, which the start
 * sequence sets again; the generation (restarts + 1) is in CONSOLE_INFO.
 *
 * Not handled: modem-status lines, flow control (RTS/CTS, XON/XOFF),
 * break detection beyond counting it as an error, baud rate changes.
 */
#include <keel/args.h>
#include <keel/console.h>
#include <keel/console_client.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "byteq.h"
#include "regs.h"

#define UART_BIT_IRQ   (1ull << 0) /* our notification: the UART's interrupt */
#define UART_BIT_TIMER (1ull << 1) /* the transmit poll timer */
#define UART_BIT_KLOG  (1ull << 2) /* the kernel log has lines for us */
#define KLOG_PULL      512         /* bytes taken from the kernel per SYS_KLOG_READ */
#define UART_POLL_NS   (50ull * 1000 * 1000)
#define UART_RX_BURST  256 /* bytes read per service round at most (a stuck DR cannot hang us) */
#define UART_ROUNDS    16  /* service rounds before we let the loop breathe */

struct uart {
    /* Set up in main, then read-only. */
    uint16_t base;
    uint64_t endpoint;    /* "serve:" */
    uint64_t irq_slot;    /* "irq" */
    uint64_t ntfn_slot;   /* ours, bound to this thread */
    uint64_t signal_slot; /* "signal:" or 0 */
    uint32_t generation;
    bool present; /* a UART answered at base */

    /* Server-loop state. */
    uint8_t ier;       /* what we last wrote to IER */
    bool tx_wanted;    /* a WRITE was short: signal CONSOLE_EVT_TX when there is room */
    bool timer_armed;  /* the poll timer is set */
    uint64_t rx_lost;  /* overruns and bytes a full queue refused */
    bool klog_on;      /* we drain the kernel log (SYS_KLOG_READ accepted) */
    bool klog_more;    /* the kernel holds bytes our queue had no room for */
    bool klog_midline; /* a kernel line is partly sent: its rest goes before any console byte */
    bool con_midline;  /* the console's last byte sent was not a newline */
    struct byteq tx, rx, klog;
};

/* ---------------------------------------------------------------- ports -- */

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint8_t rd(const struct uart *u, unsigned reg) { return inb((uint16_t)(u->base + reg)); }
static inline void wr(struct uart *u, unsigned reg, uint8_t v) { outb((uint16_t)(u->base + reg), v); }

/* ------------------------------------------------------------- service -- */

static void set_ier(struct uart *u, uint8_t ier)
{
    if (ier != u->ier) {
        u->ier = ier;
        wr(u, UART_IER, ier);
    }
}

/* Moves received bytes into the queue; true if any arrived. */
static bool rx_drain(struct uart *u)
{
    bool got = false;
    for (int i = 0; i < UART_RX_BURST; i++) {
        uint8_t lsr = rd(u, UART_LSR);
        if (lsr & UART_LSR_OE)
            u->rx_lost++;
        if (!(lsr & UART_LSR_DR))
            break;
        uint8_t b = rd(u, UART_RBR);
        if (!byteq_put(&u->rx, b))
            u->rx_lost++;
        got = true;
    }
    return got;
}

/* Takes what the kernel log holds, as far as the klog queue has room
 * ('\n' becomes "\r\n", so a line needs up to twice its bytes). */
static void klog_pull(struct uart *u)
{
    if (!u->klog_on)
        return;
    char buf[KLOG_PULL];
    uint64_t room = byteq_free(&u->klog) / 2, got = 0, left = 0;
    if (room > sizeof buf)
        room = sizeof buf;
    if (keel_klog_read(buf, room, u->ntfn_slot, UART_BIT_KLOG, &got, &left) != 0) {
        u->klog_on = false; /* another task drains (cannot happen: we hold the port) */
        return;
    }
    for (uint64_t i = 0; i < got; i++) {
        if (buf[i] == '\n')
            (void)byteq_put(&u->klog, '\r');
        (void)byteq_put(&u->klog, (uint8_t)buf[i]);
    }
    u->klog_more = left != 0;
}

/* Which queue the next refill takes from (see the top: line boundaries). */
static struct byteq *tx_source(struct uart *u)
{
    bool con = !byteq_empty(&u->tx), log = !byteq_empty(&u->klog);
    if (u->klog_midline && log)
        return &u->klog;
    if (con && u->con_midline)
        return &u->tx; /* finish the console's line first */
    if (log)
        return &u->klog;
    return con ? &u->tx : NULL;
}

/* Fills the transmit FIFO if it is empty.  A refill ends after a newline,
 * so that the next one may take from the other queue. */
static void tx_fill(struct uart *u)
{
    struct byteq *q = tx_source(u);
    if (!q || !(rd(u, UART_LSR) & UART_LSR_THRE))
        return;
    uint8_t b = 0;
    for (int i = 0; i < UART_TX_FIFO && byteq_get(q, &b); i++) {
        wr(u, UART_THR, b);
        if (b == '\n')
            break;
    }
    if (q == &u->klog)
        u->klog_midline = b != '\n';
    else
        u->con_midline = b != '\n';
}

static bool tx_pending(const struct uart *u) { return !byteq_empty(&u->tx) || !byteq_empty(&u->klog); }

static void arm_timer(struct uart *u, bool on)
{
    if (on == u->timer_armed)
        return;
    uint64_t deadline = on ? keel_now_ns() + UART_POLL_NS : 0;
    (void)sys6(SYS_TIMER_ARM, u->ntfn_slot, deadline, on ? UART_BIT_TIMER : 0, 0, 0, 0);
    u->timer_armed = on;
}

/* Runs until the UART has nothing pending; then signals the client and
 * sets IER for what is left to send. */
static void uart_service(struct uart *u)
{
    bool rx_new = false;
    for (int round = 0; round < UART_ROUNDS; round++) {
        uint8_t iir = rd(u, UART_IIR); /* reading it clears a THRE cause */
        rx_new |= rx_drain(u);
        if (u->klog_more && byteq_free(&u->klog) >= 2 * KLOG_PULL)
            klog_pull(u);
        tx_fill(u);
        if (iir & UART_IIR_NO_INT)
            break;
    }
    bool sending = tx_pending(u);
    set_ier(u, UART_IER_RDA | UART_IER_RLS | (sending ? UART_IER_THRE : 0));
    if (u->signal_slot) {
        uint64_t bits = 0;
        if (rx_new)
            bits |= CONSOLE_EVT_RX;
        if (u->tx_wanted && byteq_free(&u->tx) >= BYTEQ_CAP / 2) {
            bits |= CONSOLE_EVT_TX;
            u->tx_wanted = false;
        }
        if (bits)
            (void)keel_signal(u->signal_slot, bits);
    }
}

/* Forces a fresh edge for any cause pending now (see the top comment). */
static void reassert(struct uart *u)
{
    wr(u, UART_IER, 0);
    wr(u, UART_IER, u->ier);
}

static void uart_notify(void *ctx, uint64_t bits)
{
    struct uart *u = ctx;
    if (!u->present)
        return;
    if (bits & UART_BIT_TIMER)
        u->timer_armed = false;
    if (bits & UART_BIT_KLOG)
        klog_pull(u);
    uart_service(u);
    if (bits & UART_BIT_IRQ) {
        (void)keel_irq_ack(u->irq_slot);
        reassert(u);
    }
    arm_timer(u, tx_pending(u));
}

/* ------------------------------------------------------------ protocol -- */

static int64_t uart_write(void *ctx, struct keel_msg *m)
{
    struct uart *u = ctx;
    uint8_t buf[CONSOLE_MSG_BYTES];
    int n = console_unpack(m->mr, buf);
    m->mr[0] = m->mr[1] = m->mr[2] = m->mr[3] = 0;
    if (n < 0)
        return CONSOLE_E_INVAL;
    if (!u->present)
        return CONSOLE_E_NO_DEVICE;
    int taken = 0;
    while (taken < n && byteq_put(&u->tx, buf[taken]))
        taken++;
    if (taken < n)
        u->tx_wanted = true;
    uart_service(u);
    arm_timer(u, tx_pending(u));
    return taken;
}

static int64_t uart_read(void *ctx, struct keel_msg *m)
{
    struct uart *u = ctx;
    uint8_t buf[CONSOLE_MSG_BYTES];
    size_t n = 0;
    if (!u->present)
        return CONSOLE_E_NO_DEVICE;
    (void)rx_drain(u); /* bytes still below the FIFO's trigger level */
    while (n < sizeof buf && byteq_get(&u->rx, &buf[n]))
        n++;
    console_pack(m->mr, buf, n);
    return 0;
}

static int64_t uart_info(void *ctx, struct keel_msg *m)
{
    struct uart *u = ctx;
    m->mr[0] = u->generation;
    m->mr[1] = byteq_free(&u->tx);
    m->mr[2] = byteq_used(&u->rx);
    m->mr[3] = u->rx_lost;
    return 0;
}

static const struct srv_handler uart_handlers[] = {
    { CONSOLE_WRITE, CONSOLE_WRITE_WORDS, uart_write },
    { CONSOLE_READ, 0, uart_read },
    { CONSOLE_INFO, 0, uart_info },
};

/* --------------------------------------------------------------- start -- */

/* "base=0x2f8" in the manifest's args, else COM1 (also when the value is
 * not 0x and 1-4 lower-case hex digits). */
static uint16_t parse_base(const char *args)
{
    char v[8];
    if (!srv_arg(args, "base", v, sizeof v) || v[0] != '0' || v[1] != 'x' || !v[2])
        return UART_COM1_BASE;
    uint32_t x = 0;
    for (const char *p = v + 2; *p; p++) {
        int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : -1;
        if (d < 0 || x > 0xfff)
            return UART_COM1_BASE;
        x = x * 16 + (uint32_t)d;
    }
    return (uint16_t)x;
}

/* Takes the UART over without disturbing the kernel's output (see top). */
static void uart_setup(struct uart *u)
{
    wr(u, UART_IER, 0);
    u->ier = 0;
    /* A floating bus reads 0xff; a UART's scratch register keeps what we write. */
    wr(u, UART_SCR, 0x5a);
    u->present = rd(u, UART_LSR) != 0xff && rd(u, UART_SCR) == 0x5a;
    if (!u->present)
        return;
    uint8_t lcr = rd(u, UART_LCR);
    if (lcr & UART_LCR_DLAB)
        wr(u, UART_LCR, lcr & (uint8_t)~UART_LCR_DLAB);
    wr(u, UART_FCR, UART_FCR_ENABLE | UART_FCR_TRIG_8); /* no CLEAR bits: the kernel's bytes stay */
    wr(u, UART_MCR, (uint8_t)((rd(u, UART_MCR) & ~UART_MCR_LOOP) | UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2));
    (void)rd(u, UART_MSR);
    (void)rd(u, UART_IIR);
    (void)rx_drain(u); /* whatever was typed before we came: kept for the client */
}

static int uart_start(struct uart *u, const struct keel_srvinfo *si)
{
    u->generation = si->restarts + 1;
    u->endpoint = srv_find_cap_prefix(si, "serve:");
    u->signal_slot = srv_find_cap_prefix(si, "signal:");
    u->irq_slot = srv_find_cap(si, "irq");
    if (!u->endpoint) {
        ulog("uart: the manifest must grant an endpoint (serve:)");
        return -1;
    }
    u->base = parse_base(si->args);
    uart_setup(u);
    if (!u->present) {
        ulog("uart: no UART at port %#x; answering CONSOLE_E_NO_DEVICE", u->base);
        return 0;
    }
    if (!u->irq_slot) {
        ulog("uart: the manifest must grant the UART's irq");
        return -1;
    }
    u->ntfn_slot = srv_free_slot();
    int64_t err = u->ntfn_slot ? keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, u->ntfn_slot, 0) : KE_INVALID_SLOT;
    if (!err)
        err = keel_irq_bind(u->irq_slot, u->ntfn_slot, UART_BIT_IRQ);
    if (!err)
        err = keel_ntfn_bind(u->ntfn_slot);
    if (err) {
        ulog("uart: notification or IRQ setup failed: error %d (does the manifest give memory?)", (int)err);
        return -1;
    }
    /* The kernel log: ours from here on (COM1 only: the kernel logs there). */
    u->klog_on = u->base == UART_COM1_BASE;
    klog_pull(u);
    uart_service(u); /* IER: receive and line status on */
    (void)keel_irq_ack(u->irq_slot);
    reassert(u);
    ulog("uart: port %#x, irq bound, generation %u%s", u->base, u->generation,
         u->klog_on ? ", sending the kernel log" : "");
    return 0;
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    /* The queues are 8 KiB: static, not on the stack (xv6's singletons are
     * avoided elsewhere; here one task is one UART, and a restart is a new
     * task with fresh .bss). */
    static struct uart u;
    if (uart_start(&u, si) != 0)
        return 1;
    struct srv_loop loop = {
        .endpoint = u.endpoint,
        .handlers = uart_handlers,
        .n_handlers = sizeof uart_handlers / sizeof uart_handlers[0],
        .on_notify = uart_notify,
        .ctx = &u,
    };
    int64_t err = srv_ready_and_run(&loop);
    ulog("uart: receive failed: error %d", (int)err);
    return 1;
}
