/*
 * faultd.c - the fault injector of test boots: takes commands from the host
 * on the second serial port (COM2, polled) and injects faults into running
 * servers through the kernel's DEBUG_CTL_INJECT (kernel/faultinj.c).
 *
 * It runs only in boots whose kernel command line has the word `faults`
 * (image/manifest: `server faultd with faults ... debug`), beside the
 * appliance's normal servers; the appliance never starts it, and it is the
 * only holder of the debug capability in such a boot.  The host
 * (tests/qemu/faults.py) decides what to hit and when, and chooses the
 * random words from a seed it prints, so it keeps the whole campaign's
 * accounting; faultd only carries commands out and answers one line each:
 *
 *   ping                  -> pong
 *   inject NAME WORD [KIND]
 *                         -> ok NAME kind=reg|code|wild|spin|stop where=0x.. value=0x..
 *                            | err NAME ERROR   (WORD: hex, the random word;
 *                            KIND: that kind only, else the word chooses)
 *   mem                   -> mem free_pages=N total_pages=N kheap_bytes=N kheap_pages=N
 *   check                 -> check violations=N tasks=N threads=N
 *   anything else         -> err ? unknown command
 *
 * The port is polled every POLL_MS on a timer (a test tool: no IRQ line of
 * its own to share).  State: the line being received, nothing else; a
 * restart of faultd loses at most a half-typed command.
 */
#include <stdbool.h>

#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#define COM2      0x2f8
#define REG_DATA  0
#define REG_IER   1
#define REG_FCR   2
#define REG_LCR   3
#define REG_MCR   4
#define REG_LSR   5
#define LSR_DR    0x01
#define LSR_THRE  0x20
#define POLL_MS   5
#define LINE_MAX  96
#define NTFN_SLOT 200 /* a slot init never fills (grants start at 8 and are few) */

struct faultd {
    uint64_t debug; /* the debug capability */
    char line[LINE_MAX];
    size_t len;
    bool overlong; /* the current line overflowed: answered with an error */
};

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

static void com2_setup(void)
{
    outb(COM2 + REG_IER, 0);
    outb(COM2 + REG_LCR, 0x80); /* divisor latch: 115200 baud */
    outb(COM2 + REG_DATA, 1);
    outb(COM2 + REG_IER, 0);
    outb(COM2 + REG_LCR, 0x03); /* 8N1 */
    outb(COM2 + REG_FCR, 0x07); /* FIFOs on and cleared */
    outb(COM2 + REG_MCR, 0x03); /* DTR, RTS; no OUT2: no interrupt */
}

static void com2_write(const char *s)
{
    for (; *s; s++) {
        for (unsigned spin = 0; !(inb(COM2 + REG_LSR) & LSR_THRE) && spin < 1000000; spin++)
            ;
        outb(COM2 + REG_DATA, (uint8_t)*s);
    }
}

static const char *kind_name(uint64_t kind)
{
    switch (kind) {
    case FAULTINJ_REG: return "reg";
    case FAULTINJ_CODE: return "code";
    case FAULTINJ_WILD: return "wild";
    case FAULTINJ_SPIN: return "spin";
    case FAULTINJ_STOP: return "stop";
    default: return "?";
    }
}

/* A kind's name back to FAULTINJ_*; 0 when it is none. */
static uint64_t kind_by_name(const char *s)
{
    for (uint64_t k = 1; k <= FAULTINJ_KINDS; k++)
        if (strcmp(s, kind_name(k)) == 0)
            return k;
    return 0;
}

/* Splits LINE at spaces into at most MAX words; returns how many. */
static unsigned split(char *line, char **w, unsigned max)
{
    unsigned n = 0;
    for (char *p = line; *p && n < max;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        w[n++] = p;
        while (*p && *p != ' ')
            p++;
        if (*p)
            *p++ = 0;
    }
    return n;
}

static bool parse_hex(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        int d = (*s >= '0' && *s <= '9') ? *s - '0' : (*s >= 'a' && *s <= 'f') ? *s - 'a' + 10 : -1;
        if (d < 0 || v >> 60)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

static void cmd_inject(struct faultd *f, char **w, unsigned n, char *out, size_t cap)
{
    uint64_t word, only = 0;
    if ((n != 3 && n != 4) || !w[1][0] || strlen(w[1]) > 8 || !parse_hex(w[2], &word) ||
        (n == 4 && !(only = kind_by_name(w[3])))) {
        snprintf(out, cap, "err %s usage: inject NAME HEXWORD [reg|code|wild|spin|stop]\n", n > 1 ? w[1] : "?");
        return;
    }
    uint64_t kind = 0, where = 0, value = 0;
    int64_t err = keel_debug_ctl3(f->debug, DEBUG_CTL_INJECT, keel_task_name(w[1]), word, only, &kind, &where, &value);
    if (err)
        snprintf(out, cap, "err %s %lld\n", w[1], (long long)err);
    else
        snprintf(out, cap, "ok %s kind=%s where=0x%llx value=0x%llx\n", w[1], kind_name(kind),
                 (unsigned long long)where, (unsigned long long)value);
}

static void cmd_mem(struct faultd *f, char *out, size_t cap)
{
    uint64_t free_pages = 0, total = 0, heap = 0, heap_pages = 0;
    int64_t err = keel_memory_info(SRV_SLOT_MEMORY, NULL, &free_pages, &total);
    if (!err)
        err = keel_debug_ctl(f->debug, DEBUG_CTL_KHEAP, 0, 0, &heap, &heap_pages, NULL);
    if (err)
        snprintf(out, cap, "err mem %lld\n", (long long)err);
    else
        snprintf(out, cap, "mem free_pages=%llu total_pages=%llu kheap_bytes=%llu kheap_pages=%llu\n",
                 (unsigned long long)free_pages, (unsigned long long)total, (unsigned long long)heap,
                 (unsigned long long)heap_pages);
}

static void cmd_check(struct faultd *f, char *out, size_t cap)
{
    uint64_t bad = 0, tasks = 0, threads = 0;
    int64_t err = keel_debug_ctl(f->debug, DEBUG_CTL_CHECK, 0, 0, &bad, &tasks, &threads);
    if (err)
        snprintf(out, cap, "err check %lld\n", (long long)err);
    else
        snprintf(out, cap, "check violations=%llu tasks=%llu threads=%llu\n", (unsigned long long)bad,
                 (unsigned long long)tasks, (unsigned long long)threads);
}

static void handle_line(struct faultd *f)
{
    char out[160];
    char *w[4];
    unsigned n = split(f->line, w, 4);
    if (n == 0)
        return;
    if (strcmp(w[0], "ping") == 0)
        snprintf(out, sizeof out, "pong\n");
    else if (strcmp(w[0], "inject") == 0)
        cmd_inject(f, w, n, out, sizeof out);
    else if (strcmp(w[0], "mem") == 0)
        cmd_mem(f, out, sizeof out);
    else if (strcmp(w[0], "check") == 0)
        cmd_check(f, out, sizeof out);
    else
        snprintf(out, sizeof out, "err ? unknown command\n");
    com2_write(out);
}

/* Takes every byte COM2 holds; each complete line is one command. */
static void poll_port(struct faultd *f)
{
    while (inb(COM2 + REG_LSR) & LSR_DR) {
        char c = (char)inb(COM2 + REG_DATA);
        if (c == '\r')
            continue;
        if (c != '\n') {
            if (f->len + 1 < sizeof f->line)
                f->line[f->len++] = c;
            else
                f->overlong = true;
            continue;
        }
        f->line[f->len] = 0;
        if (f->overlong)
            com2_write("err ? line too long\n");
        else
            handle_line(f);
        f->len = 0;
        f->overlong = false;
    }
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    static struct faultd f;
    f.debug = srv_find_cap(si, "debug");
    if (!f.debug || !srv_find_cap(si, "ioport")) {
        ulog("faultd: the manifest must grant debug and ioport 0x2f8-0x2ff\n");
        return 1;
    }
    if (keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, NTFN_SLOT, 0) != KE_OK) {
        ulog("faultd: cannot create its timer notification (does the manifest give memory?)\n");
        return 1;
    }
    com2_setup();
    srv_ready();
    ulog("faultd: taking commands on COM2 (restart %u)\n", si->restarts);
    com2_write("faultd ready\n");
    for (;;) {
        uint64_t bits;
        (void)sys6(SYS_TIMER_ARM, NTFN_SLOT, keel_now_ns() + POLL_MS * 1000000ull, 1, 0, 0, 0);
        (void)keel_wait(NTFN_SLOT, 0, &bits);
        poll_port(&f);
    }
}
