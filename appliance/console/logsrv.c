/*
 * logsrv.c - consoled's log service: the thread that receives LOG_WRITE
 * (abi/keel/log.h) from every server on serve:log.
 *
 * Why a thread of its own.  consoled's main thread calls other servers
 * (uart, netd, init); a server that logs while the main thread waits for
 * its reply would deadlock on a single-threaded consoled.  The log thread
 * never calls anyone (it only receives, replies with reply_recv, which
 * never blocks, and signals the main thread's notification, which never
 * blocks either), so a LOG_WRITE is always answered at once and the call
 * graph keeps no cycle.  Clients send with KEEL_NONBLOCK besides (ulog.c),
 * so even a dead consoled costs them nothing.
 *
 * What it keeps.  Per client (by badge) the entry being joined from
 * LOG_MORE parts, up to LOG_MSG_MAX - 1 bytes (the rest is cut); a call
 * without LOG_CONT starts afresh.  A finished entry goes into a bounded
 * single-producer/single-consumer queue to the main thread, which alone
 * owns the log ring (logring.c: no lock anywhere); when the queue is full
 * the entry is dropped and counted (dropped).  Entries a client could not
 * hand over at all (this thread busy: its KEEL_NONBLOCK call failed) are
 * counted by the client and reported on its next call (LOG_MISSED_*),
 * added up in missed; `show log` shows both.  The server's name comes from the
 * "client:NAME" note of the caller's badge, never from the message, and a
 * leading "NAME: " in the text (the habit of ulog lines) is left out.
 *
 * Memory ordering: the log thread fills q[head % N] and then publishes
 * head with a release store; the main thread loads head with acquire
 * before reading the entry and publishes tail with release after copying
 * it out, which the log thread loads with acquire before reusing a slot.
 */
#include <keel/log.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>

#include "logsrv.h"

_Static_assert((LOGSRV_QUEUE & (LOGSRV_QUEUE - 1)) == 0, "the queue's size is a power of two");

static struct logsrv_part *part_of(struct logsrv *ls, uint64_t badge)
{
    for (unsigned i = 0; i < ls->n_clients; i++)
        if (ls->parts[i].badge == badge)
            return &ls->parts[i];
    return NULL;
}

/* Publishes P's entry to the main thread (or drops it: queue full). */
static void finish(struct logsrv *ls, struct logsrv_part *p, unsigned level)
{
    uint32_t head = ls->head, tail = __atomic_load_n(&ls->tail, __ATOMIC_ACQUIRE);
    p->open = false;
    if (head - tail == LOGSRV_QUEUE) {
        ls->dropped++;
        return;
    }
    struct logsrv_entry *e = &ls->q[head % LOGSRV_QUEUE];
    e->time_ns = keel_now_ns();
    e->level = (uint8_t)level;
    strlcpy(e->server, p->name, sizeof e->server);
    const char *m = p->msg;
    size_t n = strlen(p->name);
    if (n && strncmp(m, p->name, n) == 0 && m[n] == ':' && m[n + 1] == ' ')
        m += n + 2; /* "netd: ..." from netd: the name is in its own column */
    strlcpy(e->msg, m, sizeof e->msg);
    __atomic_store_n(&ls->head, head + 1, __ATOMIC_RELEASE);
    if (ls->signal)
        (void)keel_signal(ls->signal, ls->bit);
}

/* One LOG_WRITE: returns the reply label. */
static int64_t on_write(struct logsrv *ls, const struct keel_msg *m)
{
    uint32_t label = (uint32_t)keel_label(m);
    uint32_t id = SRV_LABEL_ID(label);
    unsigned level = (id & LOG_LEVEL_MASK) >> LOG_LEVEL_SHIFT;
    if ((id & 0xffu) != LOG_WRITE || (id & ~(0xffu | LOG_LEVEL_MASK | LOG_MORE | LOG_CONT | LOG_MISSED_MASK)) != 0)
        return LOG_E_LABEL;
    if (level > LOG_ERROR || SRV_LABEL_WORDS(label) < LOG_WRITE_WORDS)
        return LOG_E_INVAL;
    struct logsrv_part *p = part_of(ls, m->badge);
    if (!p)
        return LOG_E_INVAL; /* not a client init named (cannot happen: every caller has a note) */
    /* point of no return */
    ls->missed += (id & LOG_MISSED_MASK) >> LOG_MISSED_SHIFT;
    if (!(id & LOG_CONT) || !p->open) {
        p->len = 0; /* a new entry; a part left over from an interrupted one is dropped */
        p->msg[0] = '\0';
    }
    for (unsigned i = 0; i < LOG_MSG_BYTES; i++) {
        char ch = (char)(m->mr[i / 8] >> (8 * (i % 8)));
        if (!ch)
            break;
        if (ch == '\n' || ch == '\r')
            continue;
        if (p->len + 1 < sizeof p->msg)
            p->msg[p->len++] = (unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7f ? ch : '?';
    }
    p->msg[p->len] = '\0';
    p->open = true;
    if (!(id & LOG_MORE))
        finish(ls, p, level);
    return 0;
}

__attribute__((noreturn)) static void logsrv_main(uint64_t arg)
{
    struct logsrv *ls = (struct logsrv *)arg;
    struct keel_msg m = { 0 };
    bool reply = false;
    for (;;) {
        int64_t err = reply ? keel_reply_recv(ls->ep, &m) : keel_recv(ls->ep, &m);
        reply = false;
        if (err)
            keel_thread_exit(); /* the endpoint is gone: init sees the exit as consoled's fault */
        if (m.info & (KEEL_RECV_NOTIFY | KEEL_RECV_FAULT))
            continue;
        int64_t r = on_write(ls, &m);
        if (m.info & KEEL_RECV_CALL) {
            m.info = (uint32_t)r;
            m.badge = 0;
            m.mr[0] = m.mr[1] = m.mr[2] = m.mr[3] = 0;
            reply = true;
        }
    }
}

int64_t logsrv_start(struct logsrv *ls, const struct keel_srvinfo *si, uint64_t ep, uint64_t signal, uint64_t bit,
                     uint64_t prio)
{
    ls->ep = ep;
    ls->signal = signal;
    ls->bit = bit;
    const char *name;
    uint64_t badge;
    for (uint32_t i = 0; ls->n_clients < LOGSRV_CLIENTS && (name = srv_next_client(si, &i, &badge)) != NULL;) {
        struct logsrv_part *p = &ls->parts[ls->n_clients++];
        p->badge = badge;
        strlcpy(p->name, name, sizeof p->name);
    }
    uint64_t th = srv_free_slot();
    if (!th)
        return KE_SLOT_IN_USE;
    int64_t err = keel_obj_create(SRV_SLOT_MEMORY, OBJ_THREAD, th, SRV_SLOT_TASK);
    if (!err)
        err = keel_thread_set_fault(th, SRV_SLOT_INIT);
    if (err)
        return err;
    uint64_t top = (uint64_t)&ls->stack[LOGSRV_STACK] - 8;
    for (;;) { /* the kernel refuses priorities above ours: step down to it */
        err = keel_thread_start(th, (uint64_t)logsrv_main, top, (uint64_t)ls, prio);
        if (err != KE_NO_RIGHTS || prio == 0)
            return err;
        prio--;
    }
}

bool logsrv_take(struct logsrv *ls, struct logsrv_entry *out)
{
    uint32_t tail = ls->tail, head = __atomic_load_n(&ls->head, __ATOMIC_ACQUIRE);
    if (tail == head)
        return false;
    *out = ls->q[tail % LOGSRV_QUEUE];
    __atomic_store_n(&ls->tail, tail + 1, __ATOMIC_RELEASE);
    return true;
}
