/*
 * ipcfuzz.c - a hostile client of one server protocol, and the honest
 * client that must keep being served beside it (issue #16, item 3).
 * Booted by tests/qemu/test_ipcfuzz.py in the `ipcfuzz` boot set, where
 * each program gets exactly the grants a real client of that protocol gets.
 *
 * Arguments (manifest `args`, comma-separated key=value):
 *   proto=P    sock | nic | netadm | tlsadm | keyd | log | init
 *   role=R     hostile | honest
 *   ep=NAME    the server's endpoint: the grant "ep:NAME" (init: none, the
 *              fixed slot SRV_SLOT_INIT)
 *   seed=S     hostile: the random seed (printed; any seed replays a run)
 *   batches=B  hostile: batches of calls (default 8)
 *   calls=C    hostile: calls per batch (default 400)
 *
 * Grants.  Both share a one-page region "fzp-P" (struct fz_pair): the
 * hostile client asks for an honest round after every batch (want = batch
 * number), the honest client does its well-formed calls, checks every
 * answer and publishes done = want with the verdict.  Every other "shm:"
 * grant is the protocol's own region (sock-C then socktx-C, nic, admin-C,
 * tlsadm-C, keyd), mapped one after the other from REGION_VA, so the
 * hostile client can scribble on what the server reads.
 *
 * The hostile client: per call, a label (mostly one the protocol knows,
 * sometimes with random flag bits or a random word count, sometimes any
 * 32-bit value), four arguments from a mix of edge values, region sizes
 * and random words, and, before about half the calls, random or
 * half-valid bytes written into the shared regions (ring indices and
 * descriptors, configuration text, key names).  It never sends NIC_CRASH
 * (the driver faults on purpose there).  A call whose IPC fails (the
 * server died: KE_* other than a reply) is a failure; any reply label is
 * fine, since refusing is the server's job.
 *
 * Checks printed by the hostile client (PASS/FAIL ipcfuzz.P.NAME):
 *   setup          the grants are there
 *   calls_answered every hostile call got a reply
 *   unknown_refused every call with a label the protocol does not know
 *                  (bit 7 set: no protocol's label has it) was
 *                  refused with an error
 *   honest_served  after every batch the honest client was served within
 *                  HONEST_WAIT_NS (a server that hangs fails here)
 *   honest_correct every honest answer was the right one
 * and `ipcfuzz-P: N passed, N failed`.  Both run at a priority below every
 * server's: they yield while they wait for each other, and a yield never
 * gives the CPU to a lower priority.  The test script also checks that
 * no server died.  Single-threaded; the region pages are the only shared
 * state (the pair page's words are written by one side each).
 */
#include <keel/args.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/keyd.h>
#include <keel/log.h>
#include <keel/netadm.h>
#include <keel/nic.h>
#include <keel/server.h>
#include <keel/socket.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/tlsd.h>
#include <keel/ulog.h>

#include <stdbool.h>

#define REGION_VA      0x0000007100000000ull
#define PAIR_VA        0x0000007000000000ull
#define MAX_REGIONS    4
#define HONEST_WAIT_NS (60ull * 1000 * 1000 * 1000) /* TCG on a busy host: generous */

/* The page both clients of one protocol share (region fzp-P). */
struct fz_pair {
    volatile uint32_t want; /* hostile writes: the batch it asks a round for */
    volatile uint32_t done; /* honest writes: the last round it finished */
    volatile uint32_t bad;  /* honest writes: rounds with a wrong answer */
    volatile uint32_t rounds;
    volatile int64_t last_bad; /* honest writes: the wrong answer's label */
};
_Static_assert(sizeof(struct fz_pair) == 24, "fz_pair layout");

struct region {
    uint8_t *va;
    uint64_t bytes;
};

struct fz {
    const struct keel_srvinfo *si;
    const char *proto;
    uint64_t ep;
    struct fz_pair *pair;
    struct region r[MAX_REGIONS];
    unsigned n_regions;
    uint64_t rng;
    uint32_t nic_generation; /* nic: the last generation NIC_INFO gave */
    unsigned passed, failed;
};

/* ------------------------------------------------------------ helpers ---- */

static uint64_t rnd(struct fz *f)
{
    /* xorshift64*: small, and a seed replays the whole run */
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return f->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t below(struct fz *f, uint64_t n) { return n ? rnd(f) % n : 0; }

static void result(struct fz *f, const char *name, bool ok, const char *why)
{
    if (ok) {
        f->passed++;
        ulog("PASS ipcfuzz.%s.%s\n", f->proto, name);
    } else {
        f->failed++;
        ulog("FAIL ipcfuzz.%s.%s: %s\n", f->proto, name, why);
    }
}

/* The value of KEY in ARGS ("a=1,b=x"), copied into OUT; false if absent. */
/* One call; returns the reply label (sign-extended) or a negative KE_* of
 * the IPC itself in *ipc. */
static int64_t call(uint64_t ep, uint32_t label, uint64_t mr[4], int64_t *ipc)
{
    struct keel_msg m = { .info = label };
    memcpy(m.mr, mr, sizeof m.mr);
    *ipc = keel_call(ep, &m);
    if (*ipc)
        return *ipc;
    memcpy(mr, m.mr, sizeof m.mr);
    return (int32_t)keel_label(&m);
}

/* ------------------------------------------------------ the protocols ---- */

struct proto {
    const char *name;
    bool srv_words;         /* labels carry SRV_LABEL's word count */
    const uint32_t *labels; /* the labels the server knows */
    unsigned n_labels;
    bool (*honest)(struct fz *f, uint32_t round, int64_t *got);    /* one well-formed round */
    void (*prepare)(struct fz *f, uint32_t label, uint64_t mr[4]); /* half-valid content; may be NULL */
};

static const uint32_t sock_labels[] = { SOCK_HELLO, SOCK_TCP_LISTEN, SOCK_ACCEPT, SOCK_TCP_CONNECT, SOCK_UDP_BIND,
                                        SOCK_KICK,  SOCK_SHUTDOWN,   SOCK_CLOSE,  SOCK_SETOPT };
static const uint32_t nic_labels[] = { NIC_INFO, NIC_START, NIC_KICK, NIC_STOP }; /* never NIC_CRASH */
static const uint32_t netadm_labels[] = { NETADM_PREPARE, NETADM_COMMIT,      NETADM_ABORT, NETADM_SHOW,
                                          NETADM_PING,    NETADM_PING_STATUS, NETADM_CLEAR, NETADM_TABLE };
static const uint32_t tlsadm_labels[] = { TLSD_LISTENERS,     TLSD_STATS,        TLSD_CONFIG_PREPARE,
                                          TLSD_CONFIG_COMMIT, TLSD_CONFIG_ABORT, TLSD_STATS_CLEAR };
static const uint32_t keyd_labels[] = { KEYD_INFO,        KEYD_OPEN,       KEYD_SIGN,
                                        KEYD_ADM_PREPARE, KEYD_ADM_COMMIT, KEYD_ADM_ABORT };
static const uint32_t log_labels[] = { LOG_WRITE };
static const uint32_t init_labels[] = { INIT_READY,   INIT_STATUS, INIT_PCI_DMA, INIT_TASK_INFO,
                                        INIT_RESTART, INIT_REBOOT, INIT_HALT,    INIT_MEMORY_INFO };

/* Honest rounds: each returns true when every answer was the right one
 * (*got: the first wrong reply). */
static bool honest_sock(struct fz *f, uint32_t round, int64_t *got)
{
    int64_t ipc;
    uint64_t mr[4] = { 0 };
    if (round == 1 && (*got = call(f->ep, SRV_LABEL(SOCK_HELLO, 0), mr, &ipc)) != 0)
        return false;
    for (unsigned i = 0; i < 4; i++) { /* a port the hostile client may hold: try the next */
        uint64_t b[4] = { 50000 + (round * 4 + i) % 1000, 0, 0, 0 };
        int64_t idx = call(f->ep, SRV_LABEL(SOCK_UDP_BIND, 1), b, &ipc);
        if (idx == SOCK_E_ADDR_IN_USE)
            continue;
        *got = idx;
        if (idx < 0 || idx >= SOCK_MAX)
            return false;
        uint64_t c[4] = { (uint64_t)idx, 0, 0, 0 };
        return (*got = call(f->ep, SRV_LABEL(SOCK_CLOSE, 1), c, &ipc)) == 0;
    }
    return false;
}

static bool honest_nic(struct fz *f, uint32_t round, int64_t *got)
{
    (void)round;
    int64_t ipc;
    uint64_t mr[4] = { 0 };
    *got = call(f->ep, NIC_INFO, mr, &ipc);
    if (*got == 0 && (mr[0] & 0xffffffffffffull) == 0)
        *got = 1; /* no MAC: a wrong answer */
    return *got == 0;
}

static bool honest_netadm(struct fz *f, uint32_t round, int64_t *got)
{
    (void)round;
    int64_t ipc;
    uint64_t mr[4] = { NETADM_SHOW_INTERFACES, 0, 0, 0 };
    *got = call(f->ep, SRV_LABEL(NETADM_SHOW, 1), mr, &ipc);
    return *got == 0 && mr[0] > 0 && mr[0] < NETADM_OUT_MAX;
}

static bool honest_tlsadm(struct fz *f, uint32_t round, int64_t *got)
{
    (void)round;
    int64_t ipc;
    uint64_t mr[4] = { 0 };
    *got = call(f->ep, SRV_LABEL(TLSD_LISTENERS, 0), mr, &ipc);
    return *got == 0 && mr[0] <= TLSD_MAX_LISTENERS;
}

/* keyd answers its one client and its admin client: the honest one is the
 * admin (the hostile one is keyd's signing client). */
static bool honest_keyd(struct fz *f, uint32_t round, int64_t *got)
{
    (void)round;
    int64_t ipc;
    uint64_t mr[4] = { 0 };
    *got = call(f->ep, KEYD_ADM_ABORT, mr, &ipc);
    return *got == 0;
}

static bool honest_log(struct fz *f, uint32_t round, int64_t *got)
{
    char text[LOG_MSG_BYTES + 1];
    int n = snprintf(text, sizeof text, "ipcfuzz honest round %u", (unsigned)round);
    uint64_t mr[4];
    log_pack(text, (unsigned long)n, mr);
    int64_t ipc;
    *got = call(f->ep, SRV_LABEL(LOG_WRITE | LOG_INFO << LOG_LEVEL_SHIFT, LOG_WRITE_WORDS), mr, &ipc);
    return *got == 0;
}

static bool honest_init(struct fz *f, uint32_t round, int64_t *got)
{
    (void)round;
    int64_t ipc;
    uint64_t mr[4] = { f->si->index, 0, 0, 0 };
    *got = call(f->ep, INIT_TASK_INFO, mr, &ipc);
    if (*got != 0)
        return false;
    char name[17] = { 0 };
    memcpy(name, &mr[2], 16);
    if (strcmp(name, f->si->name) != 0 || (mr[0] & 0xff) != INIT_TASK_READY) {
        *got = 1;
        return false;
    }
    return true;
}

/* Half-valid content: what the server parses when the label is right. */
static void text_mutant(struct fz *f, uint8_t *dst, uint64_t room, uint64_t mr[4])
{
    static const char *const texts[] = {
        "interface wan nic 0 address 10.77.0.2/24\npass out keep state\npass in on wan proto icmp\n",
        "tls 443 {\n certificate edge1.crt key edge1.key\n backend 10.77.0.1:8080\n}\n",
        "table <t> persist { 10.66.0.0/16 }\nblock in quick on wan from <t>\nhostname fz\n",
        "lan = \"10.77.0.0/24\"\npass in on wan proto tcp from $lan to port { 22, 443 } keep state\n",
    };
    const char *t = texts[below(f, sizeof texts / sizeof texts[0])];
    uint64_t n = strlen(t);
    if (n > room)
        n = room;
    memcpy(dst, t, n);
    for (uint64_t k = below(f, 4); k > 0 && n; k--) /* a few flipped or random bytes */
        dst[below(f, n)] = (uint8_t)rnd(f);
    mr[0] = below(f, 8) ? n : rnd(f) % (room + 2);
}

static void prepare_admin(struct fz *f, uint32_t label, uint64_t mr[4])
{
    if (f->n_regions && (label == NETADM_PREPARE || label == TLSD_CONFIG_PREPARE))
        text_mutant(f, f->r[0].va, 65536, mr);
}

static void prepare_keyd(struct fz *f, uint32_t label, uint64_t mr[4])
{
    static const char *const names[] = { "edge1.key", "edge1.crt", "../edge1.key", "", "/x", "a/b/c.key" };
    if (!f->n_regions || f->r[0].bytes < KEYD_SLOTS_SIZE)
        return;
    uint64_t slot = below(f, KEYD_SLOTS);
    uint8_t *s = f->r[0].va + slot * KEYD_SLOT_SIZE;
    if (below(f, 2)) /* keyd refuses a non-zero unused word: mostly well-formed words */
        mr[0] = mr[1] = mr[2] = mr[3] = 0;
    if (label == KEYD_OPEN) {
        const char *n = names[below(f, sizeof names / sizeof names[0])];
        memcpy(s + 16, n, strlen(n) + 1);
        mr[0] = slot;
    } else if (label == KEYD_SIGN) {
        for (unsigned i = 0; i < 64; i++)
            s[16 + i] = (uint8_t)rnd(f);
        mr[0] = slot;
        mr[1] = below(f, 4);
        mr[2] = below(f, 8) | (below(f, 2) ? KEYD_SIGN_NOW : 0);
        mr[3] = below(f, 3) ? 32 : below(f, 80);
    }
}

static void prepare_nic(struct fz *f, uint32_t label, uint64_t mr[4])
{
    if (!f->n_regions || f->r[0].bytes < NIC_BUF_AREA_OFFSET)
        return;
    struct nic_shared *sh = (struct nic_shared *)f->r[0].va;
    if (label == NIC_START) {
        mr[0] = below(f, 4) ? f->nic_generation : mr[0];
        mr[1] = below(f, 2) ? 0 : below(f, 64);
        if (below(f, 2)) /* a client re-initialises the rings before a start */
            memset(&sh->rx_free, 0, 4 * sizeof(struct nic_ring));
    } else if (label == NIC_KICK) {
        struct nic_ring *r = below(f, 2) ? &sh->tx_send : &sh->rx_free;
        for (unsigned k = below(f, 16); k > 0; k--) {
            struct nic_desc *d = &r->ring[r->head % NIC_RING_SIZE];
            d->offset =
                below(f, 4) ? NIC_BUF_AREA_OFFSET + (uint32_t)below(f, NIC_BUF_COUNT) * NIC_BUF_SIZE : (uint32_t)rnd(f);
            d->len = below(f, 4) ? (uint16_t)(60 + below(f, 1500)) : (uint16_t)rnd(f);
            d->flags = below(f, 3) ? 0 : (uint16_t)rnd(f);
            d->start = below(f, 4) ? 0 : (uint16_t)rnd(f);
            d->gso_size = (uint16_t)rnd(f);
            d->csum_start = (uint16_t)below(f, 100);
            d->csum_offset = (uint16_t)below(f, 40);
            uint8_t *frame = f->r[0].va + (d->offset < f->r[0].bytes - 64 ? d->offset : NIC_BUF_AREA_OFFSET);
            memset(frame, 0xff, 6);             /* broadcast: it stays on the test's own tap */
            frame[12] = 0x88, frame[13] = 0xb5; /* the local experimental EtherType */
            r->head++;
        }
        if (!below(f, 8))
            r->head += (uint32_t)rnd(f); /* a head far beyond the tail */
    }
}

static void prepare_log(struct fz *f, uint32_t label, uint64_t mr[4])
{
    (void)label;
    for (unsigned i = 0; i < 4; i++)
        if (below(f, 2)) { /* printable text, sometimes unterminated */
            uint64_t w = 0;
            for (unsigned b = 0; b < 8; b++)
                w |= (uint64_t)(0x20 + below(f, 95)) << (8 * b);
            mr[i] = w;
        }
}

static const struct proto protos[] = {
    { "sock", true, sock_labels, sizeof sock_labels / 4, honest_sock, NULL },
    { "nic", false, nic_labels, sizeof nic_labels / 4, honest_nic, prepare_nic },
    { "netadm", true, netadm_labels, sizeof netadm_labels / 4, honest_netadm, prepare_admin },
    { "tlsadm", true, tlsadm_labels, sizeof tlsadm_labels / 4, honest_tlsadm, prepare_admin },
    { "keyd", false, keyd_labels, sizeof keyd_labels / 4, honest_keyd, prepare_keyd },
    { "log", true, log_labels, 1, honest_log, prepare_log },
    { "init", false, init_labels, sizeof init_labels / 4, honest_init, NULL },
};

/* ----------------------------------------------------------- hostile ---- */

static uint64_t edge_value(struct fz *f)
{
    static const uint64_t edges[] = { 0,     1,         2,          3,          7,          8,
                                      15,    16,        255,        256,        4095,       4096,
                                      65535, 65536,     0x7fffffff, 0x80000000, 0xffffffff, 1ull << 32,
                                      ~0ull, ~0ull - 1, 1ull << 63, 0x0a4d0001, 0x7f000001, 0xa0000 };
    switch (below(f, 5)) {
    case 0: return edges[below(f, sizeof edges / sizeof edges[0])];
    case 1: return below(f, 300);
    case 2: return rnd(f);
    case 3: return f->n_regions ? below(f, f->r[below(f, f->n_regions)].bytes + 64) : below(f, 1u << 20);
    default: return below(f, 20);
    }
}

/* A label for the next call; *unknown: one no server of P knows. */
static uint32_t hostile_label(struct fz *f, const struct proto *p, bool *unknown)
{
    uint32_t id;
    unsigned pick = (unsigned)below(f, 16);
    *unknown = false;
    if (pick == 0) {
        id = (uint32_t)rnd(f) | 0x80u; /* anything at all, never a known id (none has bit 7) */
        *unknown = true;
        return id;
    }
    id = p->labels[below(f, p->n_labels)];
    if (pick == 1)
        id |= (uint32_t)below(f, 0x10000) << 8; /* random flag bits (log: level, MORE, CONT) */
    else if (p->honest == honest_log && pick < 8)
        id |= (uint32_t)below(f, 5) << LOG_LEVEL_SHIFT | (below(f, 3) ? 0 : LOG_MORE) | (below(f, 3) ? 0 : LOG_CONT);
    if (p->srv_words)
        id = SRV_LABEL(id & 0x00ffffffu, below(f, 6) ? 4 : below(f, 256));
    return id;
}

static void scribble(struct fz *f)
{
    struct region *r = &f->r[below(f, f->n_regions)];
    /* Mostly the first pages (headers, rings, slots), sometimes anywhere. */
    uint64_t span = below(f, 4) ? (r->bytes < 65536 ? r->bytes : 65536) : r->bytes;
    uint64_t len = 1 + below(f, 256), off = below(f, span);
    if (off + len > r->bytes)
        len = r->bytes - off;
    for (uint64_t i = 0; i < len; i++)
        r->va[off + i] = below(f, 3) ? (uint8_t)rnd(f) : (uint8_t)(below(f, 2) ? 0 : 0xff);
}

/* Asks the honest client for round ROUND; false if it is not served in time. */
static bool honest_round(struct fz *f, uint32_t round)
{
    f->pair->want = round;
    uint64_t until = keel_now_ns() + HONEST_WAIT_NS;
    while (f->pair->done != round) {
        if (keel_now_ns() > until)
            return false;
        keel_yield();
    }
    return true;
}

static void hostile(struct fz *f, const struct proto *p, uint64_t seed, unsigned batches, unsigned calls)
{
    unsigned answered = 0, refused = 0, unserved_batch = 0, unknown_taken = 0;
    uint32_t unknown_label = 0;
    int64_t ipc_fail = 0;
    for (unsigned b = 1; b <= batches && !ipc_fail; b++) {
        for (unsigned c = 0; c < calls; c++) {
            uint64_t mr[4];
            for (unsigned i = 0; i < 4; i++)
                mr[i] = edge_value(f);
            bool unknown;
            uint32_t label = hostile_label(f, p, &unknown);
            if (p->prepare)
                p->prepare(f, SRV_LABEL_ID(label) & (p->honest == honest_log ? 0xffu : 0xffffffu), mr);
            if (f->n_regions && below(f, 2))
                scribble(f);
            if (strcmp(p->name, "nic") == 0 && SRV_LABEL_ID(label) == NIC_CRASH)
                label = NIC_INFO; /* the one call that faults on purpose */
            int64_t ipc;
            int64_t r = call(f->ep, label, mr, &ipc);
            if (ipc) {
                ipc_fail = ipc;
                ulog("ipcfuzz %s: call %u of batch %u (label %#x) failed: IPC error %lld\n", p->name, c, b,
                     (unsigned)label, (long long)ipc);
                break;
            }
            answered++;
            refused += r < 0;
            if (unknown && r >= 0) {
                unknown_taken++;
                unknown_label = label;
            }
            if (p->honest == honest_nic && label == NIC_INFO && r == 0)
                f->nic_generation = (uint32_t)mr[2];
        }
        if (!ipc_fail && !honest_round(f, b)) {
            unserved_batch = b;
            break;
        }
    }
    ulog("ipcfuzz %s: seed %llu, %u calls answered (%u refused), honest rounds %u (%u wrong)\n", p->name,
         (unsigned long long)seed, answered, refused, (unsigned)f->pair->done, (unsigned)f->pair->bad);
    char why[96];
    snprintf(why, sizeof why, "IPC error %lld (seed %llu)", (long long)ipc_fail, (unsigned long long)seed);
    result(f, "calls_answered", ipc_fail == 0, why);
    snprintf(why, sizeof why, "%u unknown labels answered with success, the last %#x (seed %llu)", unknown_taken,
             (unsigned)unknown_label, (unsigned long long)seed);
    result(f, "unknown_refused", unknown_taken == 0, why);
    snprintf(why, sizeof why, "not served within %llu s after batch %u (seed %llu)",
             (unsigned long long)(HONEST_WAIT_NS / 1000000000ull), unserved_batch, (unsigned long long)seed);
    result(f, "honest_served", unserved_batch == 0 && ipc_fail == 0, why);
    snprintf(why, sizeof why, "%u wrong answers, last reply %lld (seed %llu)", (unsigned)f->pair->bad,
             (long long)f->pair->last_bad, (unsigned long long)seed);
    result(f, "honest_correct", f->pair->bad == 0 && f->pair->done > 0, why);
}

/* ------------------------------------------------------------ honest ---- */

static __attribute__((noreturn)) void honest(struct fz *f, const struct proto *p)
{
    for (;;) {
        uint32_t want = f->pair->want;
        if (want == f->pair->done) {
            keel_yield();
            continue;
        }
        int64_t got = 0;
        if (!p->honest(f, want, &got)) {
            f->pair->last_bad = got;
            f->pair->bad++;
            ulog("ipcfuzz %s: honest round %u: wrong answer %lld\n", p->name, (unsigned)want, (long long)got);
        }
        f->pair->rounds++;
        f->pair->done = want;
    }
}

/* ------------------------------------------------------------- start ---- */

/* Maps the pair page and every other shared region; false when a grant is missing. */
static bool map_regions(struct fz *f)
{
    char pair[32];
    snprintf(pair, sizeof pair, "shm:fzp-%s", f->proto);
    uint64_t slot = srv_find_cap(f->si, pair);
    if (!slot || keel_map(SRV_SLOT_TASK, slot, PAIR_VA, RIGHT_READ | RIGHT_WRITE) != KE_OK)
        return false;
    f->pair = (struct fz_pair *)PAIR_VA;
    uint64_t va = REGION_VA;
    for (uint32_t i = 0; i < f->si->n_caps && i < KEEL_SRV_MAX_CAPS && f->n_regions < MAX_REGIONS; i++) {
        const struct keel_srv_cap *c = &f->si->caps[i];
        uint64_t pages = 0;
        if (strncmp(c->name, "shm:", 4) != 0 || strncmp(c->name, "shm:fzp-", 8) == 0)
            continue;
        if (keel_frame_info(c->slot, NULL, &pages) != KE_OK ||
            keel_map(SRV_SLOT_TASK, c->slot, va, RIGHT_READ | RIGHT_WRITE) != KE_OK)
            return false;
        f->r[f->n_regions++] = (struct region){ (uint8_t *)va, pages * 4096 };
        va += pages * 4096;
    }
    return true;
}

static struct fz F;

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    struct fz *f = &F;
    static char proto[16], role[16], ep[24];
    f->si = si;
    f->proto = "?";
    if (srv_arg(si->args, "proto", proto, sizeof proto))
        f->proto = proto;
    (void)srv_arg(si->args, "role", role, sizeof role);
    const struct proto *p = NULL;
    for (unsigned i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (strcmp(protos[i].name, proto) == 0)
            p = &protos[i];
    bool is_hostile = strcmp(role, "hostile") == 0;
    if (strcmp(proto, "init") == 0) {
        f->ep = SRV_SLOT_INIT;
    } else if (srv_arg(si->args, "ep", ep, sizeof ep)) {
        char name[32];
        snprintf(name, sizeof name, "ep:%s", ep);
        f->ep = srv_find_cap(si, name);
    }
    bool ok = p && f->ep && (is_hostile || strcmp(role, "honest") == 0) && map_regions(f);
    if (is_hostile || !ok)
        result(f, "setup", ok,
               "needs args proto=,role=,ep= and the grants of that protocol's client plus share fzp-P 1");
    srv_ready();
    if (ok && !is_hostile)
        honest(f, p);
    if (ok) {
        uint64_t seed = srv_arg_u64(si->args, "seed", 1);
        f->rng = seed * 0x9e3779b97f4a7c15ull + (uint64_t)p->name[0] * 131 + strlen(p->name);
        if (!f->rng)
            f->rng = 1;
        unsigned batches = (unsigned)srv_arg_u64(si->args, "batches", 10),
                 calls = (unsigned)srv_arg_u64(si->args, "calls", 400);
        ulog("ipcfuzz %s: seed %llu, %u batches of %u calls\n", p->name, (unsigned long long)seed, batches, calls);
        hostile(f, p, seed, batches, calls);
    }
    ulog("ipcfuzz-%s: %u passed, %u failed\n", f->proto, f->passed, f->failed);
    /* Stay: a return ends the thread, which init takes for a fault. */
    uint64_t n = 64, bits = 0;
    if (keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, n, 0) == KE_OK)
        for (;;)
            (void)keel_wait(n, 0, &bits);
    for (;;)
        keel_yield();
}
