/*
 * netd.c - the network server: lwIP 2.2 (NO_SYS) driven by one event
 * loop, one netif per NIC-protocol connection (nic_netif.c), IPv4
 * forwarding between them.
 *
 * Capabilities (from the manifest, found by name in srvinfo):
 *   ep:NAME, shm:NAME, notify:NAME   one NIC connection per NAME having all
 *                                    three (`connect NAME share NAME 256
 *                                    notify NAME`, or `connect eth% ...`
 *                                    for every NIC driver that runs); at
 *                                    most NETD_MAX_NICS.  init's note
 *                                    "nic:NAME" (not a capability) says
 *                                    which PCI NIC N the driver drives:
 *                                    appliance.conf's `interface ... nic N`
 *   ep:rng...                        optional: the entropy server (the first
 *                                    ep: capability whose name starts with
 *                                    "rng", e.g. ep:rng), which keys
 *                                    netd_rand.c (without it: a LOUD stop-gap)
 *   site                             optional: the site archive (frame
 *                                    "site", read-only), whose
 *                                    appliance.conf gives the firewall's
 *                                    rules and interface names, and the
 *                                    addresses of NICs args leaves out.
 *                                    Without it the firewall is deny-all.
 *   serve:netd                       optional: netd's own endpoint, where
 *                                    the socket service (abi/keel/socket.h,
 *                                    netd_sock.c) is served
 *   shm:sock-C, signal:sock-C        per socket client C (a "client:C"
 *                                    note): its shared region and the
 *                                    notification netd signals its events on
 *   notify:netd-ev, signal:netd-ev   required: netd's one notification
 *                                    (bound to its thread; the timer is
 *                                    armed through the signal capability);
 *                                    each NIC driver holds `signal netd-ev
 *                                    bit N` (N < 32), a capability badged
 *                                    with its own bit
 *   memory                           required: socket tables, lwIP's heap
 * args: the interim configuration (netd_config.h), e.g.
 *   `nic0=10.9.0.2/24,nic1=dhcp,stats=30`.  An args item for a NIC wins
 *   over appliance.conf's `interface NAME nic N ...` line for it.
 *
 * The firewall (netd_fw.c, the engine in net/firewall/) filters every
 * IPv4 frame in nic_netif.c, in and out; its rule set comes from
 * appliance.conf at start (deny-all when there is none or it does not
 * parse) and can be replaced at run time (netd_fw_reload: parse into the
 * spare set, swap on success, kept states stay).  Until the console exists
 * only test boots trigger a reload, by a "KEEL-RELOAD N" command frame that
 * loads appliance.conf (N = 1) or appliance-N.conf from the site archive.
 *
 * Statistics: lwIP's heap and pool use (used/avail, high-water mark,
 * failed allocations), its protocol counters and every NIC's counters are
 * logged every `stats=` seconds, and on a "KEEL-STATS" command frame in
 * test boots, followed by the firewall's (netd_fw_log_stats: verdicts and
 * drops by reason, the state table, each rule's evaluations, packets,
 * bytes and states).  Test boots (`debug=1` only) also obey
 * "KEEL-NICCRASH" (the driver of the NIC the frame came in on is asked to
 * fault: NIC_CRASH), "KEEL-NETDCRASH" (netd faults), so tests can restart
 * either side, and "KEEL-RELOAD N" (above).
 * Command frames: ethertype 0x88b5 to netd's MAC, payload = the word.
 *
 * Threads and events.  netd is one thread; lwIP and the rings are its.
 * It sleeps in one receive on serve:netd with its notification bound (or
 * waits on the notification alone), and wakes for a request, a driver's
 * signal or its timer alike: no helper threads, no polling.  The drivers
 * signal netd's notification directly through badged capabilities (init
 * copies `signal netd-ev bit N` with badge 1 << N), once per batch of
 * frames, so each raises its own bit and cannot forge another's or the
 * timer's.  Bits of the notification:
 *   BIT_TIMER   the kernel timer (SYS_TIMER_ARM), armed for the earliest of
 *               lwIP's next timeout (sys_timeouts_sleeptime), a NIC's attach
 *               retry, a kick retry, and the next statistics line
 *   NIC_BITS    some driver raised NIC_EVT_* (which NIC does not matter:
 *               every pass polls every NIC's rings and link state)
 *
 * One loop iteration: the firewall's clock (and once a second its expired
 * states), poll every NIC (attach if due, reclaim TX, up to RX_BUDGET frames
 * through the firewall into lwIP), run lwIP's due timers, send the
 * firewall's `block return` answers, flush every NIC (refill rx_free, at
 * most one NIC_KICK each), log statistics if due, then block until the
 * next event or deadline, or go round again at once when a NIC had frames
 * beyond its budget.
 *
 * Restarts: netd keeps nothing across a restart; init starts it from
 * scratch and every NIC is attached again (nic_netif.c stops a driver that
 * still runs with the old rings).
 *
 * Administration: NETADM_* requests on serve:netd (the console's commits,
 * tables and ping) go to netd_admin.c, the rest to the socket service.
 *
 * Sockets: requests on serve:netd are handled as they come (netd_sock.c,
 * lwIP raw API calls); the events they and lwIP's callbacks raise are
 * signalled once per loop iteration (netd_sock_flush), after lwIP's timers.
 *
 * Routing: connected networks first, then the static routes of
 * appliance.conf (netd_route.h, kept in netd_fw with the rule set; lwIP asks
 * through LWIP_HOOK_IP4_ROUTE and LWIP_HOOK_ETHARP_GET_GW, answered below),
 * then the default gateway; IPv6 likewise through LWIP_HOOK_IP6_ROUTE and
 * LWIP_HOOK_ND6_GET_GW (netd_ip6.c).  Not netd's: the rest of appliance.conf
 * (hostname, log, tls: other servers').
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/nic.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"
#include "netd_admin.h"
#include "netd_config.h"
#include "netd_fw.h"
#include "netd_hooks.h"
#include "netd_rand.h"
#include "netd_sock.h"
#include "netd_pcbpool.h"
#include "nic_netif.h"

#define NETD_MAX_NICS NETD_MAX_IFS
#define SHM_BASE      0x0000006000000000ull /* NIC k's region at SHM_BASE + k * SHM_STRIDE */
#define SHM_STRIDE    0x0000000000400000ull /* 4 MiB: room for the 1 MiB region and a gap */
#define SITE_VA       0x0000007000000000ull /* the site archive's frame, read-only */
#define SOCK_VA       0x0000006800000000ull /* socket clients' regions (netd_sock.c) */
#define ADMIN_VA      0x0000006a00000000ull /* admin clients' regions (netd_admin.c) */
_Static_assert(SOCK_VA + NETD_SOCK_SPAN <= ADMIN_VA, "the socket clients' span ends below the admin regions");
#define REQ_BATCH  64                    /* requests served per wake-up before a pass (bounds the NICs' wait) */
#define HEAP_VA    0x0000006c00000000ull /* lwIP's heap (MEM_SIZE), a frame of its own */
#define HEAP_PAGES ((MEM_SIZE + 65536 + 4095) / 4096) /* + lwIP's alignment and struct mem slack */
_Static_assert(HEAP_PAGES <= 1024, "lwIP's heap is one frame (the kernel's limit: 1024 pages)");

/* lwIP's heap (lwipopts.h LWIP_RAM_HEAP_POINTER): mapped by map_lwip_heap
 * before lwip_init, so MEM_SIZE is not bounded by the 4 MiB a .bss segment
 * may take beside lwIP's pools and the firewall's tables. */
unsigned char *netd_lwip_heap;
#define RX_BUDGET     64            /* frames per NIC per iteration: fairness between NICs */
#define NIC_BITS      0xffffffffull /* the drivers' badges: `signal netd-ev bit N`, N < 32 */
#define BIT_TIMER     (1ull << 32)
#define KICK_RETRY_NS 1000000ull /* a busy driver: try the kick again in 1 ms */
#define RNG_TRIES     40         /* x 25 ms: how long to wait for the entropy server */
#define ETH_TEST      0x88b5     /* command frames (debug=1) */

/* netd's state (one thread). */
struct netd {
    const struct keel_srvinfo *si;
    struct netd_config cfg;
    uint64_t ntfn;     /* notify:netd-ev: waited on; bound when serve_ep */
    uint64_t ntfn_arm; /* signal:netd-ev: the same notification, for SYS_TIMER_ARM */
    uint64_t serve_ep; /* serve:netd, or 0 */
    uint64_t rng_ep;   /* ep:rng, or 0 */
    unsigned n_nics;
    struct nic nics[NETD_MAX_NICS];
    unsigned nic_numbers[NETD_MAX_NICS]; /* connection k drives PCI NIC nic_numbers[k] */
    uint64_t timer_deadline_ns;          /* armed deadline; 0 when the timer is not armed */
    uint64_t next_stats_ns;              /* UINT64_MAX: no periodic statistics */
    const void *site;                    /* the site archive (mapped at SITE_VA + offset), or NULL */
    size_t site_size;
    struct netd_if_cfg conf_cfg[NETD_MAX_NICS]; /* appliance.conf's addresses, for NICs args leaves out */
    bool conf_owned[NETD_MAX_NICS];             /* NIC k's address is appliance.conf's (a commit changes it) */
    bool args_gateway;                          /* args gives the default gateway: the file's are ignored */
    struct netd_fw fw;                          /* the firewall: rule sets, states (large) */
    struct netd_socks socks;                    /* the socket service's clients */
    struct netd_admin admin;                    /* the console: commits, tables, ping (netd_admin.c) */
};

/* --------------------------------------------------------------- setup -- */

/* The PCI NIC number init noted for connection NAME ("nic:NAME"), or
 * FALLBACK when there is no note (a driver without a `pci net N` grant). */
static unsigned nic_number(const struct keel_srvinfo *si, const char *name, unsigned fallback)
{
    char full[32];
    snprintf(full, sizeof full, "nic:%s", name);
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++)
        if (si->caps[i].type == CAP_NONE && strncmp(si->caps[i].name, full, sizeof si->caps[i].name) == 0)
            return si->caps[i].slot;
    return fallback;
}

/* Sleeps about NS on the main notification (start-up only, before the loop). */
static void nap(struct netd *d, uint64_t ns)
{
    (void)sys6(SYS_TIMER_ARM, d->ntfn_arm, keel_now_ns() + ns, BIT_TIMER, 0, 0, 0);
    for (;;) {
        uint64_t bits = 0;
        if (keel_wait(d->ntfn, 0, &bits) != KE_OK || (bits & BIT_TIMER))
            return;
    }
}

/* Keys the random generator: the entropy server if there is one, else the
 * CPU's RDSEED/RDRAND, else the stop-gap (netd_rand.c says why that is
 * weak, and logs it). */
static void seed_random(struct netd *d)
{
    if (d->rng_ep) {
        for (int i = 0; i < RNG_TRIES; i++) {
            int err = rand_seed_from_server(d->rng_ep);
            if (err == RAND_OK)
                return;
            if (err != RAND_E_NOT_READY) {
                ulog("netd: the entropy server answered with an error\n");
                break;
            }
            nap(d, 25000000ull);
        }
        ulog("netd: no answer from the entropy server\n");
    }
    if (rand_seed_from_cpu() == RAND_OK)
        return;
    rand_seed_from_tsc();
}

/* Finds the NIC connections (ep:NAME + shm:NAME) and sets each up (map,
 * netif state); their drivers wake netd through signal:netd-ev. */
static int setup_nics(struct netd *d)
{
    const struct keel_srvinfo *si = d->si;
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++) {
        const char *cn = si->caps[i].name;
        if (strncmp(cn, "ep:", 3) != 0)
            continue;
        const char *name = cn + 3;
        uint64_t shm = srv_find_cap_of(si, "shm:", name);
        if (!shm)
            continue; /* another service (ep:rng), not a NIC */
        if (d->n_nics == NETD_MAX_NICS) {
            ulog("netd: more than %d NIC connections; %s ignored\n", NETD_MAX_NICS, name);
            continue;
        }
        unsigned k = d->n_nics;
        uint64_t va = SHM_BASE + k * SHM_STRIDE;
        int64_t err = srv_map_frame(shm, va, RIGHT_READ | RIGHT_WRITE, NIC_SHM_PAGES, NULL);
        if (err) {
            ulog("netd: %s: cannot map the shared region (error %lld)\n", name, (long long)err);
            return -1;
        }
        nic_init(&d->nics[k], name, k, si->caps[i].slot, (struct nic_shared *)va, netd_config_find(&d->cfg, name),
                 &d->fw);
        d->nic_numbers[k] = nic_number(si, name, k);
        d->n_nics++;
    }
    for (unsigned i = 0; i < d->cfg.n_ifs; i++) {
        bool found = false;
        for (unsigned k = 0; k < d->n_nics; k++)
            found |= strcmp(d->nics[k].name, d->cfg.ifs[i].name) == 0;
        if (!found)
            ulog("netd: args name %s, but the manifest connects no such NIC; ignored\n", d->cfg.ifs[i].name);
    }
    return 0;
}

/* Maps the site archive read-only, if the manifest grants it (`site`). */
static void map_site(struct netd *d)
{
    const struct keel_srvinfo *si = d->si;
    int64_t err = srv_map_site(si, SITE_VA, &d->site, &d->site_size);
    if (err && err != KE_EMPTY_SLOT) /* none: netd_fw_init says what that means */
        ulog("netd: the site archive cannot be mapped (error %lld, offset %llu, size %llu)\n", (long long)err,
             (unsigned long long)si->site_offset, (unsigned long long)si->site_size);
}

/* The firewall, from appliance.conf; then that file's addresses for the
 * NICs args leaves unconfigured (args keeps its default gateway). */
static void setup_firewall(struct netd *d)
{
    char names[NETD_MAX_NICS][NETD_IF_NAME_MAX];
    for (unsigned k = 0; k < d->n_nics; k++)
        strlcpy(names[k], d->nics[k].name, sizeof names[k]);
    map_site(d);
    if (netd_fw_init(&d->fw, names, d->nic_numbers, d->n_nics, d->site, d->site_size, keel_now_ns()) != NETD_FW_OK)
        ulog("netd: firewall: deny-all: every IPv4 packet is blocked until a rule set loads\n");
    bool args_gateway = false;
    for (unsigned i = 0; i < d->cfg.n_ifs; i++)
        args_gateway |= d->cfg.ifs[i].has_gateway;
    d->args_gateway = args_gateway;
    for (unsigned k = 0; k < d->n_nics; k++) {
        const struct netd_if_cfg *c = netd_fw_conf_if(&d->fw, d->nic_numbers[k]);
        if (d->nics[k].cfg)
            continue;
        d->conf_owned[k] = true;
        if (!c)
            continue;
        d->conf_cfg[k] = *c;
        if (c->has_gateway && args_gateway) {
            ulog("netd: %s: appliance.conf's gateway ignored: args gives the default gateway\n", d->nics[k].name);
            d->conf_cfg[k].has_gateway = false;
        }
        d->nics[k].cfg = &d->conf_cfg[k];
        ulog("netd: %s: address from appliance.conf (interface %s)\n", d->nics[k].name, c->name);
    }
}

static bool same_cfg(const struct netd_if_cfg *a, const struct netd_if_cfg *b)
{
    if (a->mode != b->mode || a->mode6 != b->mode6)
        return false;
    if (a->mode6 == NETD_IF6_STATIC &&
        (a->prefix6 != b->prefix6 || memcmp(a->addr6, b->addr6, 16) != 0 || a->has_gateway6 != b->has_gateway6 ||
         memcmp(a->gateway6, b->gateway6, 16) != 0))
        return false;
    if (a->mode != NETD_IF_STATIC)
        return true;
    return memcmp(a->addr, b->addr, 4) == 0 && a->prefix == b->prefix && a->has_gateway == b->has_gateway &&
           (!a->has_gateway || memcmp(a->gateway, b->gateway, 4) == 0);
}

/* After a commit (netd_admin's hook): every NIC whose address is
 * appliance.conf's takes the committed interface line's address, netmask,
 * gateway or DHCP at once (nic_reconfigure); NICs args configures keep
 * theirs. */
static void reconfigure_nics(void *ctx)
{
    struct netd *d = ctx;
    for (unsigned k = 0; k < d->n_nics; k++) {
        if (!d->conf_owned[k])
            continue;
        const struct netd_if_cfg *c = netd_fw_conf_if(&d->fw, d->nic_numbers[k]);
        struct netd_if_cfg nc = { .mode = NETD_IF_NONE };
        if (c)
            nc = *c;
        if (d->args_gateway)
            nc.has_gateway = false;
        struct netd_if_cfg old = d->nics[k].cfg ? *d->nics[k].cfg : (struct netd_if_cfg){ .mode = NETD_IF_NONE };
        if (same_cfg(&nc, &old))
            continue;
        d->conf_cfg[k] = nc;
        ulog("netd: %s: the committed configuration changes its address\n", d->nics[k].name);
        bool none = nc.mode == NETD_IF_NONE && nc.mode6 == NETD_IF6_NONE;
        nic_reconfigure(&d->nics[k], none ? NULL : &d->conf_cfg[k], old.mode == NETD_IF_DHCP);
    }
}

/* Creates and maps lwIP's heap frame at HEAP_VA; 0 or -1 (logged). */
static int map_lwip_heap(void)
{
    uint64_t slot = srv_free_slot();
    int64_t err = slot ? keel_obj_create(SRV_SLOT_MEMORY, OBJ_FRAME, slot, HEAP_PAGES) : KE_NO_MEMORY;
    if (err == KE_OK) {
        err = keel_map(SRV_SLOT_TASK, slot, HEAP_VA, RIGHT_READ | RIGHT_WRITE);
        (void)keel_cap_delete(slot); /* the mapping keeps the frame */
    }
    if (err != KE_OK) {
        ulog("netd: cannot map lwIP's heap (%u KiB): error %lld (the manifest's memory for netd too small?)\n",
             (unsigned)(HEAP_PAGES * 4), (long long)err);
        return -1;
    }
    netd_lwip_heap = (unsigned char *)HEAP_VA;
    return 0;
}

static int setup(struct netd *d)
{
    const struct keel_srvinfo *si = d->si;
    char err[96];
    if (netd_config_parse(si->args, &d->cfg, err, sizeof err) != NETD_CONFIG_OK)
        ulog("netd: %s (in \"%s\"); no interface gets an address\n", err, si->args);
    uint64_t type = 0;
    if (keel_cap_info(SRV_SLOT_MEMORY, &type, NULL, NULL) != KE_OK || type != CAP_MEMORY) {
        ulog("netd: the manifest must give netd `memory` (for its socket tables and lwIP's heap)\n");
        return -1;
    }
    d->ntfn = srv_find_cap(si, "notify:netd-ev");
    d->ntfn_arm = srv_find_cap(si, "signal:netd-ev");
    if (!d->ntfn || !d->ntfn_arm) {
        ulog("netd: the manifest must give netd `notify netd-ev signal netd-ev`, and each NIC driver "
             "`signal netd-ev bit N` (N < 32)\n");
        return -1;
    }
    d->serve_ep = srv_find_cap(si, "serve:netd");
    if (d->serve_ep && keel_ntfn_bind(d->ntfn) != KE_OK) {
        ulog("netd: cannot bind its notification\n");
        return -1;
    }
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS && !d->rng_ep; i++)
        if (strncmp(si->caps[i].name, "ep:rng", 6) == 0)
            d->rng_ep = si->caps[i].slot;
    d->next_stats_ns = UINT64_MAX;
    if (setup_nics(d))
        return -1;
    if (!d->n_nics)
        ulog("netd: the manifest connects no NIC (ep:NAME + shm:NAME + notify:NAME)\n");
    seed_random(d);
    setup_firewall(d);
    if (map_lwip_heap())
        return -1;
    lwip_init();
    if (d->serve_ep) {
        netd_sock_init(&d->socks, si, SOCK_VA);
        netd_admin_init(&d->admin, si, ADMIN_VA, &d->fw, d->nics, d->n_nics);
        d->admin.on_commit = reconfigure_nics;
        d->admin.on_commit_ctx = d;
    }
    if (d->cfg.stats_seconds)
        d->next_stats_ns = keel_now_ns() + d->cfg.stats_seconds * 1000000000ull;
    ulog("netd: lwIP %s, %u NIC%s, random numbers from the %s, restart %u\n", LWIP_VERSION_STRING, d->n_nics,
         d->n_nics == 1 ? "" : "s", rand_source(), si->restarts);
    return 0;
}

/* ---------------------------------------------------------- statistics -- */

static const char *const pool_names[MEMP_MAX] = {
#define LWIP_MEMPOOL(name, num, size, desc) #name,
#include "lwip/priv/memp_std.h"
};

/* A log line built from items; when the next item would not fit, the line
 * is logged and a continuation line starts with "netd:  ". */
struct line {
    char buf[240];
    size_t len;
};

static void line_flush(struct line *l)
{
    if (l->len)
        ulog("%s\n", l->buf);
    l->len = 0;
    l->buf[0] = 0;
}

static void line_add(struct line *l, const char *text)
{
    static const char cont[] = "netd:  ";
    size_t n = strlen(text);
    if (l->len + n + 1 >= sizeof l->buf) {
        line_flush(l);
        memcpy(l->buf, cont, sizeof cont);
        l->len = sizeof cont - 1;
    }
    if (l->len + n + 1 >= sizeof l->buf)
        n = sizeof l->buf - l->len - 1; /* one item longer than a line: cut */
    memcpy(l->buf + l->len, text, n);
    l->len += n;
    l->buf[l->len] = 0;
}

/* Logs lwIP's heap and pool use (used/available, high-water mark, failed
 * allocations), its protocol counters and every NIC's counters.  Called
 * every `stats=` seconds; the console's `show` commands will call it too. */
static void netd_stats_log(const struct netd *d)
{
    struct line l = { .len = 0 };
    char item[96];
    snprintf(item, sizeof item,
             "netd: lwIP heap %u/%u max %u err %u; pools (used/avail max err):", (unsigned)lwip_stats.mem.used,
             (unsigned)lwip_stats.mem.avail, (unsigned)lwip_stats.mem.max, (unsigned)lwip_stats.mem.err);
    line_add(&l, item);
    for (int i = 0; i < MEMP_MAX; i++) {
        const struct stats_mem *s = lwip_stats.memp[i];
        snprintf(item, sizeof item, " %s %u/%u %u %u", pool_names[i], (unsigned)s->used, (unsigned)s->avail,
                 (unsigned)s->max, (unsigned)s->err);
        line_add(&l, item);
    }
    line_flush(&l);
    uint32_t pcbs;
    uint64_t added;
    netd_pcbpool_size(&pcbs, &added);
    ulog("netd: memory: TCP PCBs %u in use of %u (%u bytes each), %llu KiB mapped for them beyond the static %u\n",
         (unsigned)lwip_stats.memp[MEMP_TCP_PCB]->used, (unsigned)pcbs, (unsigned)netd_pcbpool_stride(),
         (unsigned long long)(added >> 10), (unsigned)MEMP_NUM_TCP_PCB);
    const struct stats_proto *ps[] = { &lwip_stats.link, &lwip_stats.etharp, &lwip_stats.ip,
                                       &lwip_stats.icmp, &lwip_stats.udp,    &lwip_stats.tcp };
    const char *pn[] = { "link", "arp", "ip", "icmp", "udp", "tcp" };
    line_add(&l, "netd: proto (recv xmit fw drop chk len mem rt proto opt err):");
    for (unsigned i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        const struct stats_proto *p = ps[i];
        snprintf(item, sizeof item, " %s %u %u %u %u %u %u %u %u %u %u %u", pn[i], (unsigned)p->recv, (unsigned)p->xmit,
                 (unsigned)p->fw, (unsigned)p->drop, (unsigned)p->chkerr, (unsigned)p->lenerr, (unsigned)p->memerr,
                 (unsigned)p->rterr, (unsigned)p->proterr, (unsigned)p->opterr, (unsigned)p->err);
        line_add(&l, item);
    }
    line_flush(&l);
    for (unsigned k = 0; k < d->n_nics; k++)
        nic_log_stats(&d->nics[k]);
    netd_fw_log_stats(&d->fw);
    netd_sock_log_stats(&d->socks);
}

/* ------------------------------------------------------- test commands -- */

/* lwIP's hooks take no context: the one netd of this task, for the hook. */
static struct netd *hook_netd;

/* "KEEL-RELOAD N": the firewall's rules from appliance.conf (N = 1) or
 * appliance-N.conf (N = 2..99) of the site archive. */
static void command_reload(struct netd *d, const struct nic *n, const uint8_t *arg, size_t len)
{
    unsigned v = 0, digits = 0;
    while (digits < len && digits < 3 && arg[digits] >= '0' && arg[digits] <= '9')
        v = v * 10 + (unsigned)(arg[digits++] - '0');
    if (digits == 0 || digits > 2 || v == 0) {
        ulog("netd: %s: command frame: KEEL-RELOAD wants a number 1-99\n", n->name);
        return;
    }
    char file[32];
    if (v == 1)
        strlcpy(file, NETD_FW_FILE, sizeof file);
    else
        snprintf(file, sizeof file, "appliance-%u.conf", v);
    ulog("netd: %s: command frame: reloading the firewall from %s\n", n->name, file);
    if (netd_fw_reload_site(&d->fw, file) != NETD_FW_OK)
        ulog("netd: %s: command frame: KEEL-RELOAD %u refused (the firewall said why)\n", n->name, v);
}

static bool is_command(const uint8_t *payload, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(payload, word, n) == 0;
}

/* LWIP_HOOK_UNKNOWN_ETH_PROTOCOL: P is a whole frame (Ethernet header
 * included) of a type lwIP does not know, received on NETIF. */
err_t netd_unknown_eth(struct pbuf *p, struct netif *netif)
{
    struct netd *d = hook_netd;
    if (!d || !d->cfg.debug || p->len < 14)
        return ERR_ARG;
    const uint8_t *f = p->payload;
    if ((f[12] << 8 | f[13]) != ETH_TEST)
        return ERR_ARG;
    const struct nic *n = netif->state;
    const uint8_t *cmd = f + 14;
    size_t len = p->len - 14u;
    if (is_command(cmd, len, "KEEL-STATS")) {
        ulog("netd: %s: command frame: statistics\n", n->name);
        netd_stats_log(d);
    } else if (is_command(cmd, len, "KEEL-NICCRASH")) {
        ulog("netd: %s: command frame: asking the driver to crash (NIC_CRASH)\n", n->name);
        struct keel_msg m = { .info = NIC_CRASH | KEEL_NONBLOCK };
        int64_t err = keel_call(n->ep, &m);
        ulog("netd: %s: NIC_CRASH returned %lld\n", n->name, (long long)err);
    } else if (is_command(cmd, len, "KEEL-RELOAD ")) {
        command_reload(d, n, cmd + 12, len - 12);
    } else if (is_command(cmd, len, "KEEL-NETDCRASH")) {
        ulog("netd: %s: command frame: crashing netd on purpose\n", n->name);
        __builtin_trap();
    } else {
        return ERR_ARG;
    }
    pbuf_free(p);
    return ERR_OK;
}

/* -------------------------------------------------------------- routes -- */

struct netif *netif_for_gateway(uint32_t gw)
{
    ip4_addr_t a;
    ip4_addr_set_u32(&a, lwip_htonl(gw));
    struct netif *netif;
    NETIF_FOREACH(netif)
    {
        if (netif_is_up(netif) && netif_is_link_up(netif) && !ip4_addr_isany_val(*netif_ip4_addr(netif)) &&
            ip4_addr_netcmp(&a, netif_ip4_addr(netif), netif_ip4_netmask(netif)))
            return netif;
    }
    return NULL;
}

static bool gateway_usable(void *ctx, uint32_t gw)
{
    (void)ctx;
    return netif_for_gateway(gw) != NULL;
}

static const struct netd_route *route_for(const ip4_addr_t *dest)
{
    struct netd *d = hook_netd;
    if (!d || !dest)
        return NULL;
    return netd_route_lookup(&d->fw.routes, lwip_ntohl(ip4_addr_get_u32(dest)), gateway_usable, NULL);
}

struct netif *netd_route_netif(const ip4_addr_t *dest)
{
    const struct netd_route *r = route_for(dest);
    return r ? netif_for_gateway(r->gw) : NULL;
}

const ip4_addr_t *netd_route_gateway(struct netif *netif, const ip4_addr_t *dest)
{
    static ip4_addr_t gw; /* lwIP reads it at once (etharp_output); main thread only */
    const struct netd_route *r = route_for(dest);
    if (!r || netif_for_gateway(r->gw) != netif)
        return NULL;
    ip4_addr_set_u32(&gw, lwip_htonl(r->gw));
    return &gw;
}

/* ---------------------------------------------------------------- loop -- */

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Arms the timer for DEADLINE (UINT64_MAX: none) unless it already is. */
static void arm_timer(struct netd *d, uint64_t deadline)
{
    uint64_t want = deadline == UINT64_MAX ? 0 : deadline;
    if (want == d->timer_deadline_ns)
        return;
    if (sys6(SYS_TIMER_ARM, d->ntfn_arm, want, want ? BIT_TIMER : 0, 0, 0, 0) == KE_OK)
        d->timer_deadline_ns = want;
}

/*
 * Blocks until an event (or only polls, when POLL), then serves every
 * request already waiting, up to REQ_BATCH, before the loop makes its one
 * pass (NICs, timers, one signal per socket client, one NIC_KICK per NIC):
 * a client's burst of calls costs one pass, not one each.  Returns the
 * notification bits gathered.
 */
static uint64_t wait_event(struct netd *d, bool poll)
{
    uint64_t bits = 0;
    if (!d->serve_ep) {
        (void)keel_wait(d->ntfn, poll ? KEEL_NONBLOCK : 0, &bits);
        return bits;
    }
    for (unsigned n = 0; n < REQ_BATCH; n++) {
        struct keel_msg m = { .info = poll || n ? KEEL_NONBLOCK : 0 };
        if (keel_recv(d->serve_ep, &m) != KE_OK)
            break; /* KE_WOULD_BLOCK: nothing more waits */
        if (m.info & KEEL_RECV_NOTIFY) {
            bits |= m.badge;
            continue;
        }
        /* A request: the socket service's (anything else: SRV_E_UNKNOWN). */
        if (netd_admin_owns(&m) ? netd_admin_dispatch(&d->admin, &m) : netd_sock_dispatch(&d->socks, &m))
            (void)keel_reply(&m);
    }
    return bits;
}

__attribute__((noreturn)) static void netd_loop(struct netd *d)
{
    for (;;) {
        uint64_t now = keel_now_ns();
        bool more = false, retry_kick = false;
        (void)netd_pcbpool_topup(); /* before anything this pass may allocate a PCB */
        netd_fw_tick(&d->fw, now);
        for (unsigned k = 0; k < d->n_nics; k++)
            more |= nic_poll(&d->nics[k], now, RX_BUDGET);
        netd_admin_tick(&d->admin, now);
        sys_check_timeouts();
        netd_sock_flush(&d->socks);
        netd_fw_flush(&d->fw);
        for (unsigned k = 0; k < d->n_nics; k++)
            retry_kick |= nic_flush(&d->nics[k], now);
        if (now >= d->next_stats_ns) {
            netd_stats_log(d);
            d->next_stats_ns = now + d->cfg.stats_seconds * 1000000000ull;
        }

        uint64_t deadline = min64(d->next_stats_ns, netd_fw_next_deadline(&d->fw));
        deadline = min64(deadline, netd_admin_next_deadline(&d->admin));
        u32_t sleep_ms = sys_timeouts_sleeptime();
        if (sleep_ms != SYS_TIMEOUTS_SLEEPTIME_INFINITE)
            deadline = min64(deadline, now + (uint64_t)(sleep_ms ? sleep_ms : 1) * 1000000ull);
        for (unsigned k = 0; k < d->n_nics; k++)
            deadline = min64(deadline, nic_next_deadline(&d->nics[k]));
        if (retry_kick)
            deadline = min64(deadline, now + KICK_RETRY_NS);
        /* With frames still waiting, only collect events; never sleep. */
        if (!more)
            arm_timer(d, deadline);
        uint64_t bits = wait_event(d, more);
        if (bits & BIT_TIMER)
            d->timer_deadline_ns = 0; /* it fired: one-shot, re-armed next time round */
    }
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    static struct netd d;
    if (si->magic != KEEL_SRVINFO_MAGIC)
        return 1;
    d.si = si;
    hook_netd = &d;
    if (setup(&d)) {
        ulog("netd: not started\n");
        return 1;
    }
    srv_ready();
    netd_loop(&d);
}
