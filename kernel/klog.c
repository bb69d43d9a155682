/*
 * klog.c - the kernel log's ring: once the UART driver asks for it, kernel
 * log lines wait here and the driver sends them.
 *
 * Why.  kernel/serial.c writes COM1 by polling: a character takes 87 us at
 * 115200 baud, and the writer holds the big kernel lock throughout.  Every
 * server line (SYS_DEBUG_LOG) is a kernel log line, so on a real UART a
 * 130-character line (tlsd logs one per handshake) would stop every core
 * for 11 ms, and the log's speed would cap the appliance's.  The UART
 * driver (drivers/uart/uart.c) sends with the UART's FIFO and interrupt and
 * never spins; when lines come faster than the line rate, whole lines are
 * dropped here and counted, and the data path does not slow down.  One
 * writer also means the console and the log interleave at line boundaries
 * only (the driver's choice), and two writers can no longer overrun the
 * FIFO.
 *
 * Who drains: a task whose I/O bitmap opens COM1's data port (the manifest's
 * `ioport 0x3f8-0x3ff`, the UART driver) calls SYS_KLOG_READ with one of its
 * notifications; from then on it is the drainer, until it dies
 * (klog_task_gone).  Without a drainer (boot, test boots without the
 * driver, the driver restarting, panic) the kernel writes the port itself,
 * after whatever the ring still holds, so nothing is reordered.
 *
 * Invariants (every caller holds the big kernel lock, or is the panicking
 * core with the others halted):
 *   - the ring's own (klog_ring.h): whole lines, lost ones counted and
 *     noted before the next;
 *   - the bytes of a line enter the ring together: kprintf's characters
 *     collect in `line` up to the newline (or LINE_MAX of them);
 *   - drainer != NULL iff ntfn holds a reference taken at SYS_KLOG_READ;
 *   - `told`: the drainer's notification was signalled since its last
 *     read (so a burst of lines costs one signal).
 *
 * Which lines are dropped.  A server's line (SYS_DEBUG_LOG) enters only
 * while the ring holds at most KLOG_ORDINARY_BYTES after it; the kernel's
 * own lines and init's may use the rest.  tlsd logs a line per handshake,
 * far more than a 115200-baud line carries on a busy appliance, and
 * without the reserve init's "server ... died" and restart lines, the one
 * record of a fault (init has no other log), would be the lines lost.
 */
#include "klog.h"

#include <stdbool.h>

#include "ipc.h"
#include "klog_ring.h"
#include "object.h"
#include "sched.h"
#include "serial.h"
#include "task.h"
#include "trap.h"

#include <keel/syscall.h>

#define LINE_MAX            320u                      /* a server line is at most DEBUG_LOG_MAX + newline */
#define COM1_DATA           0x3f8                     /* serial.c's COM1_BASE: the port the kernel logs on */
#define DRAIN_ON_DEATH      2048u                     /* ~0.2 s of a 115200-baud line with the kernel lock held */
#define KLOG_ORDINARY_BYTES (KLOG_RING_BYTES * 3 / 4) /* 4 KiB kept for the kernel's and init's lines */
_Static_assert(LINE_MAX > DEBUG_LOG_MAX + 1, "a server line is one line here");

static struct klog_ring ring;
static char line[LINE_MAX];
static unsigned line_len;
static struct task *drainer;
static struct notification *ntfn;
static uint64_t ntfn_bits;
static bool told;
static const struct task *init_task;
static bool line_ordinary; /* the lines being written are a server's, not init's */

static void direct_out(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        serial_putc(s[i]);
}

static void flush_line(void)
{
    if (!line_len)
        return;
    if (drainer)
        (void)klog_ring_put_line_within(&ring, line, line_len,
                                        line_ordinary ? KLOG_ORDINARY_BYTES
                                                      : KLOG_RING_BYTES); /* refused: counted, noted later */
    else
        direct_out(line, line_len);
    line_len = 0;
}

void klog_set_init(const struct task *t) { init_task = t; }

void klog_lines_from(const struct task *t)
{
    flush_line(); /* a line left open belongs to whoever wrote before */
    line_ordinary = t && t != init_task;
}

/* Whole lines dropped from the oldest until at most KEEP bytes wait;
 * returns how many. */
static uint64_t drop_oldest(size_t keep)
{
    uint64_t dropped = 0;
    while (klog_ring_used(&ring) > keep) {
        const char *p1, *p2;
        size_t n1, n2, k = 0;
        klog_ring_peek(&ring, KLOG_RING_BYTES, &p1, &n1, &p2, &n2);
        while (k < n1 + n2 && (k < n1 ? p1[k] : p2[k - n1]) != '\n')
            k++;
        klog_ring_consume(&ring, k < n1 + n2 ? k + 1 : n1 + n2);
        dropped++;
    }
    return dropped;
}

/* The ring's bytes (and any note still owed) straight to the port. */
static void drain_direct(void)
{
    const char *p1, *p2;
    size_t n1, n2;
    klog_ring_peek(&ring, KLOG_RING_BYTES, &p1, &n1, &p2, &n2);
    direct_out(p1, n1);
    direct_out(p2, n2);
    klog_ring_consume(&ring, n1 + n2);
    if (ring.lost) {
        char note[KLOG_NOTE_MAX];
        direct_out(note, klog_ring_note(ring.lost, note));
        ring.lost = 0;
    }
}

/* The newest KEEP bytes of the ring to the port, after a note of the
 * older lines dropped. */
static void drain_newest(size_t keep)
{
    uint64_t dropped = drop_oldest(keep);
    if (dropped) {
        char note[KLOG_NOTE_MAX];
        direct_out(note, klog_ring_note(dropped, note));
    }
    drain_direct();
}

void klog_putc(char c)
{
    line[line_len++] = c;
    if (c == '\n' || line_len == LINE_MAX)
        flush_line();
}

void klog_go_direct(void)
{
    drainer = NULL; /* no unref: panic and halt never return to free it */
    ntfn = NULL;
    drain_direct();
    flush_line();
}

void klog_kick(void)
{
    if (!drainer || told || !klog_ring_used(&ring))
        return;
    told = true;
    (void)ntfn_signal(ntfn, ntfn_bits);
}

void klog_task_gone(struct task *t)
{
    if (drainer != t)
        return;
    struct notification *n = ntfn;
    drainer = NULL;
    ntfn = NULL;
    kobj_unref(&n->hdr);
    /* What it had not sent, before anything newer; by polling under the big
     * kernel lock, so at most DRAIN_ON_DEATH bytes of it (the newest), the
     * rest counted as lost lines. */
    drain_newest(DRAIN_ON_DEATH);
}

/* COM1's data port is open in T's I/O bitmap (bit clear = allowed). */
static bool owns_console_port(const struct task *t)
{
    return t->iobitmap && !(t->iobitmap[COM1_DATA / 8] & (1u << (COM1_DATA % 8)));
}

/* (buf, len, ntfn slot, bits) -> rdi = bytes copied into BUF (at most LEN),
 * rsi = bytes still waiting.  Makes the caller the drainer (NTFN gets BITS
 * when lines arrive) or, if it already is, takes its bytes. */
int64_t sys_klog_read(struct trap_frame *tf)
{
    struct task *me = sched_current()->task;
    if (!owns_console_port(me))
        return KE_NO_RIGHTS;
    if (tf->rsi > KLOG_RING_BYTES || tf->r10 == 0)
        return KE_INVALID_ARG;
    if (drainer && drainer != me)
        return KE_BUSY;
    struct cap *c;
    int err = cap_lookup(me, tf->rdx, CAP_NOTIFICATION, RIGHT_WRITE, &c);
    if (err)
        return err;
    if (c->badge && (tf->r10 & ~c->badge))
        return KE_NO_RIGHTS;
    struct notification *n = (struct notification *)c->obj;
    if (n != ntfn) {
        kobj_ref(&n->hdr);
        if (ntfn)
            kobj_unref(&ntfn->hdr);
        ntfn = n;
    }
    drainer = me;
    ntfn_bits = c->badge ? c->badge : tf->r10;
    const char *p1, *p2;
    size_t n1, n2;
    klog_ring_peek(&ring, tf->rsi, &p1, &n1, &p2, &n2);
    err = copy_to_user(tf->rdi, p1, n1);
    if (!err && n2)
        err = copy_to_user(tf->rdi + n1, p2, n2);
    if (err)
        return err;
    klog_ring_consume(&ring, n1 + n2);
    told = false;
    tf->rdi = n1 + n2;
    tf->rsi = klog_ring_used(&ring);
    return KE_OK;
}
