/*
 * netd_fw.c - the stateful firewall (net/firewall/, pf's grammar and
 * meaning) in netd's packet path, and netd's reader of appliance.conf.
 *
 * Where it sits.  nic_netif.c asks netd_fw_packet() about every whole
 * Ethernet frame: a received one (FW_IN, on the NIC it came in on) after it
 * has been copied out of the shared ring into lwIP's pbuf and before lwIP
 * sees it, and one lwIP sends (FW_OUT) after it has been copied into the
 * NIC buffer and before it is queued on tx_send.  A forwarded packet is
 * thus filtered twice, in on one NIC and out on the other (pf's semantics);
 * the appliance's own packets once.  The received frame is filtered in our
 * private copy, so a driver cannot change it between the verdict and lwIP;
 * the outgoing one in the shared buffer, which only the driver could change
 * and which the driver could send anyway.  Verdicts:
 *   - IPv6 (ethertype 0x86dd): the IPv6 half, netd_fw6.c (deny-all too
 *     when no rule set is loaded, but for neighbour discovery);
 *   - not IP (ARP, command frames): passes untouched (counted);
 *   - malformed IPv4 (fw_parse_ether < 0: truncated, bad checksum, every
 *     fragment, bad TCP flags, ...): dropped, counted by reason, logged;
 *   - our own DHCP client's packets (UDP 68 -> 67 out from 0.0.0.0 or our
 *     address, UDP 67 -> 68 in to the broadcast address or to us, on a NIC
 *     that runs DHCP): pass before the rules, as dhclient's BPF socket does
 *     under pf, so that a rule set without DHCP rules (or deny-all) does not
 *     cut the appliance off its own address;
 *   - everything else: fw_filter (kept states first, then the rules; no
 *     match blocks).
 * A passed packet whose verdict carries a translation (nat-to, rdr-to,
 * binat-to: net/firewall/fw_nat.h) is rewritten in the frame filtered, as
 * scrub's MSS is: our private copy on the way in, so lwIP routes it on its
 * new destination, and the NIC buffer on the way out, before linkoutput
 * writes the offload's pseudo-header sum from the new addresses.  One that
 * cannot be rewritten is dropped (counted), never sent untranslated.  A
 * passed packet of a `modulate state` state has its TCP sequence space
 * rewritten after that, in the same frame (fw_modulate.h: the order does
 * not matter); a received frame whose checksum the device left to complete
 * (NIC_DF_CSUM_PARTIAL, the caller's csum_partial) keeps its checksum
 * field, which holds only the pseudo-header sum.
 * Blocked packets are logged through a token bucket (fw_log.h, 10 lines a
 * second, bursts of 20; suppressed lines are counted in the next one).
 *
 * `block return`.  The verdict only asks for an answer; netd_fw_packet
 * queues one (at most NETD_FW_RETURNS per loop iteration, 50 a second) and
 * netd_fw_flush sends them through lwIP after the iteration's input: a TCP
 * RST from the blocked packet's destination (tcp_rst), or an ICMP
 * destination unreachable (port for UDP, protocol otherwise) from our
 * address (icmp_dest_unreach).  Calling lwIP from inside linkoutput would
 * re-enter it, hence the queue.  The answers themselves bypass the out
 * rules (`generating`), as pf's own RSTs do; one whose next hop is not in
 * the ARP cache leaves later from lwIP's ARP queue and then meets the out
 * rules like any packet.  No answer to broadcasts, multicast, RSTs, ICMP
 * errors, packets with IP options, or our own packets.
 *
 * Rule sets.  Two struct fw_ruleset: the active one (eng.rules) and a spare.
 * A (re)load parses the whole configuration text into the spare and, only
 * if it parsed, swaps the two (fw_ruleset_replace): kept states stay, so
 * established connections survive a reload; a text that does not parse
 * changes nothing and its error is logged as "FILE:LINE:COL: ...".  At
 * start the active set is empty, which blocks every IPv4 packet (deny-all),
 * and it stays so when there is no site archive, no appliance.conf, or the
 * file does not parse: a bad file never leaves the appliance open.
 *
 * Configuration.  appliance.conf is read by the one parser
 * (appliance/config/conf.h, struct conf) and its firewall statements are
 * compiled by fw_conf.c into the spare rule set; netd has no reader of its
 * own.  The firewall's interface index k < n_nics is netd's NIC connection
 * k (discovery order), which drives PCI NIC nic_numbers[k] (init says
 * which: the "nic:NAME" note).  Its name is NAME from the line `interface
 * NAME nic N ...` with N = nic_numbers[k], or "(CONN)" (the connection's
 * name in parentheses, which no rule can write) when no line names that
 * NIC.  Lines for NICs netd does not have get the indices after, so rules
 * naming them still compile (and never match).  The same lines give the
 * NICs' addresses (netd.c takes them for NICs the args do not configure).
 * A reload re-reads the names but never changes an address.  `route`
 * lines make the static route table, which a load replaces together with
 * the rule set, `set skip on` the interfaces that are not filtered.  A
 * file with any error is refused whole (deny-all at start); its interface
 * lines that parsed still give the addresses (conf_parser.keep_on_error),
 * so the appliance comes up reachable and denying everything.
 *
 * Memory: struct netd_fw is netd's (one static instance, in its .bss): both
 * rule sets, the state table's NETD_FW_STATES slots and buckets, the source
 * nodes for max-src-conn-rate.  Nothing is allocated on the packet path.
 * The state table's SipHash key comes from netd_rand32 (keyed first).
 *
 * Context: netd's main thread only, like lwIP and the rings.
 */
#include <keel/cpio.h>
#include <keel/fmt.h>
#include <keel/string.h>
#include <keel/ulog.h>

#include "lwip/icmp.h"
#include "lwip/ip_addr.h"
#include "lwip/nd6.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "conf.h"
#include "fw_conf.h"
#include "netd_fw.h"
#include "netd_rand.h"

_Static_assert((NETD_FW_BUCKETS & (NETD_FW_BUCKETS - 1)) == 0, "fw_state_init wants a power of two");
_Static_assert((NETD_FW_SRCS & (NETD_FW_SRCS - 1)) == 0, "fw_state_init wants a power of two");
_Static_assert((NETD_FW_NAT_BUCKETS & (NETD_FW_NAT_BUCKETS - 1)) == 0, "fw_nat_init wants a power of two");
_Static_assert(NETD_MAX_IFS <= FW_MAX_IFACES, "every NIC has a firewall interface");

#define LOG_PER_SEC     10
#define LOG_BURST       20
#define RETURN_PER_SEC  50
#define RETURN_BURST    50
#define EXPIRE_EVERY_NS FW_NS_PER_SEC
#define DHCP_SERVER     67
#define DHCP_CLIENT     68
#define BROADCAST       0xffffffffu

enum { RET_RST = 1, RET_ICMP = 2 };

/* ------------------------------------------------------ configuration -- */

/* The parsed configuration of one load (~45 KiB: off the small stack).
 * Main thread only; used only inside one call of the functions below. */
static struct conf conf_scratch;
static struct conf_result conf_res;

static uint32_t prefix_mask(unsigned prefix) { return prefix ? ~0u << (32 - prefix) : 0; }

static int load_fail(char *err, size_t errlen, const char *file, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s: %s", file, msg);
    return NETD_FW_E_PARSE;
}

/* The firewall's interface table for C (design comment: NIC k is index k;
 * lines for absent NICs follow), and IFMAP: configuration interface i is
 * firewall interface ifmap[i].  Addresses are kept from fw->ifaces. */
static void build_ifaces(const struct netd_fw *fw, const struct conf *c, struct fw_ifaces *out,
                         int8_t ifmap[CONF_MAX_IFACES])
{
    *out = fw->ifaces;
    out->count = fw->n_nics;
    for (unsigned k = 0; k < fw->n_nics; k++) {
        struct fw_iface *fi = &out->ifs[k];
        memset(fi->name, 0, sizeof fi->name);
        snprintf(fi->name, sizeof fi->name, "(%s)", fw->nic_names[k]);
    }
    for (unsigned i = 0; i < CONF_MAX_IFACES; i++)
        ifmap[i] = -1;
    _Static_assert(CONF_MAX_IFACES <= FW_MAX_IFACES && CONF_IFNAME_MAX <= FW_IFNAMSIZ, "interfaces fit");
    for (unsigned i = 0; c && i < c->n_ifaces; i++) {
        unsigned k = 0;
        while (k < fw->n_nics && fw->nic_numbers[k] != c->ifaces[i].nic)
            k++;
        if (k >= fw->n_nics) {
            if (out->count == FW_MAX_IFACES)
                continue; /* n_nics NICs plus more lines than 8: the line names a NIC twice (conf refuses) */
            k = out->count++;
            out->ifs[k] = (struct fw_iface){ .has_addr = false };
        }
        memset(out->ifs[k].name, 0, sizeof out->ifs[k].name);
        strlcpy(out->ifs[k].name, c->ifaces[i].name, sizeof out->ifs[k].name);
        ifmap[i] = (int8_t)k;
    }
}

/* C's routes as netd's table (conf_parse checked what netd_route_add does). */
static int build_routes(const struct conf *c, struct netd_routes *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < c->n_routes; i++) {
        const struct conf_route *r = &c->routes[i];
        int rc = r->v6 ? netd_route6_add(out, r->net6, r->prefix, r->gw6, r->line)
                       : netd_route_add(out, r->net, r->prefix, r->gw, r->line);
        if (rc)
            return rc;
    }
    return NETD_ROUTE_OK;
}

/* C's interface lines as netd's address configurations (for netd.c), into
 * CFGS and NICS (NETD_MAX_IFS each; mode NONE: unused). */
static void build_addresses(const struct conf *c, struct netd_if_cfg *cfgs, unsigned *nics)
{
    memset(cfgs, 0, sizeof(struct netd_if_cfg) * NETD_MAX_IFS);
    for (unsigned i = 0; i < c->n_ifaces && i < NETD_MAX_IFS; i++) {
        const struct conf_iface *f = &c->ifaces[i];
        struct netd_if_cfg *cfg = &cfgs[i];
        strlcpy(cfg->name, f->name, sizeof cfg->name);
        nics[i] = f->nic;
        _Static_assert((int)CONF_IF6_STATIC == (int)NETD_IF6_STATIC && (int)CONF_IF6_AUTOCONF == (int)NETD_IF6_AUTOCONF,
                       "the same IPv6 modes");
        cfg->mode6 = f->mode6;
        cfg->prefix6 = f->prefix6;
        memcpy(cfg->addr6, f->addr6, 16);
        cfg->has_gateway6 = f->has_gateway6;
        memcpy(cfg->gateway6, f->gateway6, 16);
        if (f->mode == CONF_IF_DHCP) {
            cfg->mode = NETD_IF_DHCP;
            continue;
        }
        if (f->mode == CONF_IF_NONE) {
            cfg->mode = NETD_IF_NONE; /* IPv6 only */
            continue;
        }
        cfg->mode = NETD_IF_STATIC;
        cfg->prefix = f->prefix;
        for (int b = 0; b < 4; b++) {
            cfg->addr[b] = (uint8_t)(f->addr >> (24 - 8 * b));
            cfg->gateway[b] = (uint8_t)(f->gateway >> (24 - 8 * b));
        }
        cfg->has_gateway = f->has_gateway;
    }
}

/* ------------------------------------------------------------ loading -- */

/* Parses TEXT into the spare set; returns its interface table in IFS,
 * its routes in ROUTES and its unfiltered interfaces in *SKIP. */
static int parse_into_spare(struct netd_fw *fw, const char *file, const char *text, size_t len, struct fw_ifaces *ifs,
                            struct netd_routes *routes, uint8_t *skip, char *err, size_t errlen)
{
    static struct conf_pf_work work; /* off the small stack; main thread only */
    struct conf_parser p = { .file = file };
    struct conf *conf = &conf_scratch;
    fw->spare->valid = false;
    if (conf_parse(&p, text, len, conf, &conf_res) != CONF_OK) {
        if (errlen)
            strlcpy(err, conf_res.n_errors ? conf_res.errors[0].msg : "does not parse", errlen);
        return NETD_FW_E_PARSE;
    }
    int8_t ifmap[CONF_MAX_IFACES];
    build_ifaces(fw, conf, ifs, ifmap);
    if (build_routes(conf, routes))
        return load_fail(err, errlen, file, "a route netd refuses");
    struct fw_conf_options opt;
    char msg[NETD_FW_ERR_MAX];
    if (fw_conf_compile(conf, ifmap, fw->spare, &opt, &work, msg, sizeof msg) != FW_OK)
        return load_fail(err, errlen, file, msg);
    *skip = opt.skip;
    build_addresses(conf, fw->prep_if, fw->prep_nic); /* in force at the commit (netd applies them) */
    return NETD_FW_OK;
}

int netd_fw_prepare(struct netd_fw *fw, const char *file, const char *text, size_t len, char *err, size_t errlen)
{
    if (errlen)
        err[0] = 0;
    fw->prepared = false; /* the spare is overwritten: an earlier prepare is gone */
    int rc = parse_into_spare(fw, file, text, len, &fw->prep_ifs, &fw->prep_routes, &fw->prep_skip, err, errlen);
    if (rc) {
        fw->c.load_failures++;
        ulog("netd: firewall: %s; %s stays in force\n", err,
             fw->source[0] ? fw->source : "deny-all (every IPv4 packet blocked)");
        return rc;
    }
    strlcpy(fw->prep_source, file, sizeof fw->prep_source);
    fw->prepared = true;
    return NETD_FW_OK;
}

int netd_fw_commit(struct netd_fw *fw)
{
    if (!fw->prepared || fw_ruleset_replace(&fw->eng.rules, &fw->spare) != FW_OK)
        return NETD_FW_E_NOT_PREPARED;
    /* point of no return: the new set is active (fw_ruleset_replace) */
    fw->prepared = false;
    for (unsigned k = 0; k < fw->n_nics; k++) { /* addresses as they are now, not as at the prepare */
        fw->prep_ifs.ifs[k].addr = fw->ifaces.ifs[k].addr;
        fw->prep_ifs.ifs[k].prefix = fw->ifaces.ifs[k].prefix;
        fw->prep_ifs.ifs[k].has_addr = fw->ifaces.ifs[k].has_addr;
    }
    fw->ifaces = fw->prep_ifs; /* eng.ifaces points here */
    fw->routes = fw->prep_routes;
    nd6_clear_destination_cache(); /* IPv6 next hops chosen under the old routes are forgotten */
    fw->skip = fw->prep_skip;
    memcpy(fw->boot_if, fw->prep_if, sizeof fw->boot_if); /* the interfaces' addresses (netd_fw_conf_if) */
    memcpy(fw->boot_nic, fw->prep_nic, sizeof fw->boot_nic);
    strlcpy(fw->source, fw->prep_source, sizeof fw->source);
    fw->c.loads++;
    ulog("netd: firewall: %s: %u rules in force (generation %u); %u states kept\n", fw->source, fw->eng.rules->count,
         (unsigned)fw->eng.rules->generation, (unsigned)fw->table.count);
    netd_fw_log_routes(fw);
    return NETD_FW_OK;
}

void netd_fw_abort(struct netd_fw *fw)
{
    fw->prepared = false;
    fw->spare->valid = false;
}

int netd_fw_reload(struct netd_fw *fw, const char *file, const char *text, size_t len, char *err, size_t errlen)
{
    int rc = netd_fw_prepare(fw, file, text, len, err, errlen);
    if (rc)
        return rc;
    return netd_fw_commit(fw) == NETD_FW_OK ? NETD_FW_OK : NETD_FW_E_PARSE; /* cannot fail: just prepared */
}

/* FILE's text from the site archive; logs why not. */
static int site_file(const struct netd_fw *fw, const char *file, const char **text, size_t *len)
{
    if (!fw->site) {
        ulog("netd: firewall: no site archive (the manifest gives netd no `site`, or it is empty)\n");
        return NETD_FW_E_NO_SITE;
    }
    const void *data = NULL;
    int err = cpio_find(fw->site, fw->site_size, file, &data, len);
    if (err) {
        ulog("netd: firewall: the site archive has no usable %s (%s)\n", file, cpio_strerror(err));
        return err == CPIO_E_NOTFOUND ? NETD_FW_E_NO_FILE : NETD_FW_E_NO_SITE;
    }
    *text = data;
    return NETD_FW_OK;
}

int netd_fw_reload_site(struct netd_fw *fw, const char *file)
{
    const char *text = NULL;
    size_t len = 0;
    int rc = site_file(fw, file, &text, &len);
    if (rc) {
        fw->c.load_failures++;
        ulog("netd: firewall: %s stays in force\n", fw->source[0] ? fw->source : "deny-all");
        return rc;
    }
    char err[NETD_FW_ERR_MAX];
    return netd_fw_reload(fw, file, text, len, err, sizeof err);
}

int netd_fw_init(struct netd_fw *fw, const char (*nic_names)[NETD_IF_NAME_MAX], const unsigned *nic_numbers,
                 unsigned n_nics, const void *site, size_t site_size, uint64_t now)
{
    memset(fw, 0, sizeof *fw);
    fw_ruleset_init(&fw->sets[0]);
    fw_ruleset_init(&fw->sets[1]);
    fw->eng.rules = &fw->sets[0]; /* empty: deny-all */
    fw->spare = &fw->sets[1];
    fw->eng.states = &fw->table;
    fw->eng.ifaces = &fw->ifaces;
    fw->n_nics = n_nics < NETD_MAX_IFS ? n_nics : NETD_MAX_IFS;
    for (unsigned k = 0; k < fw->n_nics; k++) {
        strlcpy(fw->nic_names[k], nic_names[k], sizeof fw->nic_names[k]);
        fw->nic_numbers[k] = nic_numbers[k];
    }
    int8_t ifmap[CONF_MAX_IFACES];
    char err[NETD_FW_ERR_MAX];
    build_ifaces(fw, NULL, &fw->ifaces, ifmap);
    struct fw_state_storage mem = {
        .slots = fw->slots,
        .nslots = NETD_FW_STATES,
        .buckets = fw->buckets,
        .nbuckets = NETD_FW_BUCKETS,
        .srcs = fw->srcs,
        .nsrcs = NETD_FW_SRCS,
    };
    mem.seed[0] = (uint64_t)netd_rand32() << 32 | netd_rand32();
    mem.seed[1] = (uint64_t)netd_rand32() << 32 | netd_rand32();
    mem.mod_key[0] = (uint64_t)netd_rand32() << 32 | netd_rand32(); /* modulate state's offsets: secret */
    mem.mod_key[1] = (uint64_t)netd_rand32() << 32 | netd_rand32();
    if (fw_state_init(&fw->table, &mem) != FW_OK ||
        fw_nat_init(&fw->nat, fw->nat_sides, NETD_FW_STATES, fw->nat_buckets, NETD_FW_NAT_BUCKETS, netd_rand32()) !=
            FW_OK)
        __builtin_trap(); /* cannot fail: the sizes are checked above */
    fw->table.nat = &fw->nat;
    netd_fw6_init(&fw->v6, (uint64_t)netd_rand32() << 32 | netd_rand32());
    fw->v6.table.mod_key[0] = (uint64_t)netd_rand32() << 32 | netd_rand32(); /* modulate state: secret */
    fw->v6.table.mod_key[1] = (uint64_t)netd_rand32() << 32 | netd_rand32();
    fw_ratelimit_init(&fw->log_rl, LOG_PER_SEC, LOG_BURST, now);
    fw_ratelimit_init(&fw->return_rl, RETURN_PER_SEC, RETURN_BURST, now);
    fw->now = now;
    fw->next_expire_ns = now + EXPIRE_EVERY_NS;
    fw->site = site;
    fw->site_size = site ? site_size : 0;

    const char *text = NULL;
    size_t len = 0;
    int rc = site_file(fw, NETD_FW_FILE, &text, &len);
    if (rc)
        return rc;
    /* The addresses: also from a file with errors, from the lines that
     * parsed (the rules of such a file are never used: deny-all stays). */
    struct conf_parser p = { .file = NETD_FW_FILE, .keep_on_error = true };
    if (conf_parse(&p, text, len, &conf_scratch, &conf_res) != CONF_OK) /* netd_fw_reload logs the errors */
        ulog("netd: firewall: %s has errors: addresses from the interface lines that parse\n", NETD_FW_FILE);
    build_addresses(&conf_scratch, fw->boot_if, fw->boot_nic);
    return netd_fw_reload(fw, NETD_FW_FILE, text, len, err, sizeof err);
}

const struct netd_if_cfg *netd_fw_conf_if(const struct netd_fw *fw, unsigned nic)
{
    for (unsigned i = 0; i < NETD_MAX_IFS; i++)
        if ((fw->boot_if[i].mode != NETD_IF_NONE || fw->boot_if[i].mode6 != NETD_IF6_NONE) && fw->boot_nic[i] == nic)
            return &fw->boot_if[i];
    return NULL;
}

void netd_fw_iface_update(struct netd_fw *fw, unsigned nic, uint32_t addr, unsigned prefix, bool dhcp)
{
    if (nic >= fw->n_nics)
        return;
    struct fw_iface *fi = &fw->ifaces.ifs[nic];
    fi->addr = addr;
    fi->prefix = (uint8_t)(prefix <= 32 ? prefix : 32);
    fi->has_addr = addr != 0;
    fw->nic_dhcp[nic] = dhcp;
}

/* --------------------------------------------------------- the path ---- */

/* Our own DHCP client's packets on a NIC that runs it (design comment). */
static bool dhcp_client_packet(const struct netd_fw *fw, const struct fw_packet *p, unsigned nic)
{
    if (p->proto != FW_PROTO_UDP || nic >= fw->n_nics || !fw->nic_dhcp[nic])
        return false;
    const struct fw_iface *fi = &fw->ifaces.ifs[nic];
    uint32_t own = fi->has_addr ? fi->addr : 0;
    if (p->dir == FW_IN)
        return p->sport == DHCP_SERVER && p->dport == DHCP_CLIENT && (p->dst == BROADCAST || own == 0 || p->dst == own);
    return p->sport == DHCP_CLIENT && p->dport == DHCP_SERVER && (p->src == 0 || p->src == own);
}

static void log_line(struct netd_fw *fw, const struct fw_packet *p, const struct fw_verdict *v, int malformed,
                     unsigned dir, unsigned nic)
{
    if (!fw_ratelimit_allow(&fw->log_rl, fw->now))
        return;
    char buf[224];
    uint64_t suppressed = fw_ratelimit_take_suppressed(&fw->log_rl);
    if (p)
        (void)fw_log_format(buf, sizeof buf, p, v, &fw->ifaces, suppressed);
    else
        (void)fw_log_format_malformed(buf, sizeof buf, dir, nic, malformed, &fw->ifaces, suppressed);
    ulog("netd: %s\n", buf);
}

/* A (host order) is no address to answer: unspecified, broadcast (also a
 * directed one of our networks), multicast, or our own. */
static bool is_ours_or_broadcast(const struct netd_fw *fw, uint32_t a)
{
    if (a == 0 || a == BROADCAST || (a >> 28) == 0xe)
        return true;
    for (unsigned k = 0; k < fw->n_nics; k++) {
        const struct fw_iface *fi = &fw->ifaces.ifs[k];
        uint32_t host = ~prefix_mask(fi->prefix);
        if (fi->has_addr &&
            (a == fi->addr || (fi->prefix < 31 && (a & ~host) == (fi->addr & ~host) && (a & host) == host)))
            return true;
    }
    return false;
}

static uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Queues the answer `block return` asks for; IP is the packet's IPv4
 * header (already validated by fw_parse_ether), LEN bytes of buffer. */
static void queue_return(struct netd_fw *fw, const struct fw_packet *p, const struct fw_verdict *v, const uint8_t *ip,
                         size_t len)
{
    bool icmp_ok = p->proto != FW_PROTO_ICMP || p->icmp_type == FW_ICMP_ECHO_REQUEST || p->icmp_type == 13 ||
                   p->icmp_type == 15 || p->icmp_type == 17; /* queries only, never an error about an error */
    bool rst_ok = p->proto != FW_PROTO_TCP || !(p->tcp_flags & FW_TH_RST);
    if (!icmp_ok || !rst_ok || p->ip_options || is_ours_or_broadcast(fw, p->src) ||
        (p->dst == BROADCAST || (p->dst >> 28) == 0xe) || len < 28) {
        fw->c.returns_skipped++;
        return;
    }
    if (fw->n_returns == NETD_FW_RETURNS || !fw_ratelimit_allow(&fw->return_rl, fw->now)) {
        fw->c.returns_limited++;
        return;
    }
    struct netd_fw_return *r = &fw->returns[fw->n_returns];
    *r = (struct netd_fw_return){ .src = p->src, .dst = p->dst, .sport = p->sport, .dport = p->dport };
    if (v->return_rst) {
        unsigned ihl = (ip[0] & 0xfu) * 4u;
        const uint8_t *th = ip + ihl; /* fw_parse_ether checked the TCP header lies inside the packet */
        uint32_t seq = rd32(th + 4), ack = rd32(th + 8);
        uint32_t seglen = (uint32_t)p->len - ihl - (th[12] >> 4) * 4u;
        seglen += (p->tcp_flags & FW_TH_SYN) ? 1 : 0;
        seglen += (p->tcp_flags & FW_TH_FIN) ? 1 : 0;
        r->kind = RET_RST;
        r->seq = (p->tcp_flags & FW_TH_ACK) ? ack : 0; /* RFC 9293 3.10.7.1 */
        r->ack = seq + seglen;
    } else {
        r->kind = RET_ICMP;
        r->code = v->return_code;                /* pf's: port unreachable unless return-icmp (CODE) */
        r->quote_len = (uint8_t)sizeof r->quote; /* 20-byte header (no options) + 8 */
        memcpy(r->quote, ip, sizeof r->quote);
    }
    fw->n_returns++;
}

bool netd_fw_packet(struct netd_fw *fw, unsigned dir, unsigned nic, uint8_t *frame, size_t len, bool csum_partial)
{
    if (dir == FW_OUT && fw->generating) {
        fw->c.generated++;
        return true;
    }
    struct fw_packet pkt;
    if (len >= 14 && frame[12] == 0x86 && frame[13] == 0xdd)
        return netd_fw6_packet(fw, dir, nic, frame, len, csum_partial);
    int rc = fw_parse_ether(frame, len, &pkt);
    if (rc == FW_PKT_NOT_IPV4) {
        fw->c.not_ipv4++;
        return true;
    }
    if (rc < 0) {
        fw_count_malformed(&fw->eng, rc);
        log_line(fw, NULL, NULL, rc, dir, nic);
        return false;
    }
    pkt.dir = (uint8_t)dir;
    pkt.iface = (uint8_t)nic;
    if (nic < 8 && (fw->skip >> nic & 1u)) { /* set skip on: not filtered at all */
        fw->c.skipped++;
        return true;
    }
    if (dhcp_client_packet(fw, &pkt, nic)) {
        fw->c.dhcp++;
        return true;
    }
    struct fw_verdict v;
    fw_filter(&fw->eng, &pkt, fw->now, &v);
    unsigned reason = v.reason <= FW_R_LAST ? v.reason : 0;
    if (v.action == FW_PASS)
        fw->c.passed[reason]++;
    else
        fw->c.blocked[reason]++;
    if (v.log)
        log_line(fw, &pkt, &v, 0, dir, nic);
    if (v.action == FW_PASS && v.xl.kind) { /* translation: our copy in, the NIC buffer out (as scrub) */
        if (!fw_nat_rewrite(frame + 14, len - 14, &pkt, &v.xl)) {
            fw->c.nat_rewrite_failed++; /* never sent untranslated */
            return false;
        }
        fw->nat.stats.rewritten++;
        if (v.xl.kind == FW_XL_ICMP_ERROR)
            fw->nat.stats.icmp_errors++;
    }
    if (v.action == FW_PASS && fw_modulate_ipv4(frame + 14, len - 14, &pkt, &v.mod, csum_partial))
        fw->c.modulated++; /* after or before the translation: the same packet (fw_modulate.h) */
    if (v.action == FW_PASS && v.max_mss && pkt.proto == FW_PROTO_TCP && (pkt.tcp_flags & FW_TH_SYN) &&
        fw_clamp_mss(frame + 14, len - 14, v.max_mss)) /* scrub (max-mss): our copy in, the NIC buffer out */
        fw->c.mss_clamped++;
    if (v.action == FW_PASS)
        return true;
    if (v.return_)
        queue_return(fw, &pkt, &v, frame + 14, len - 14);
    return false;
}

/* ------------------------------------------------------------- loop ---- */

void netd_fw_tick(struct netd_fw *fw, uint64_t now)
{
    fw->now = now;
    if (now >= fw->next_expire_ns) {
        (void)fw_state_expire(&fw->table, now);
        (void)fw6_state_expire(&fw->v6.table, now);
        fw->next_expire_ns = now + EXPIRE_EVERY_NS;
    }
}

uint64_t netd_fw_next_deadline(const struct netd_fw *fw) { return fw->next_expire_ns; }

static void ip_host(ip_addr_t *a, uint32_t host_order) { ip_addr_set_ip4_u32_val(*a, lwip_htonl(host_order)); }

void netd_fw_flush(struct netd_fw *fw)
{
    if (!fw->n_returns && !fw->v6.n_returns)
        return;
    fw->generating = true; /* linkoutput passes what lwIP sends now: these answers alone */
    netd_fw6_flush(fw);
    for (unsigned i = 0; i < fw->n_returns; i++) {
        const struct netd_fw_return *r = &fw->returns[i];
        if (r->kind == RET_RST) {
            ip_addr_t local, remote;
            ip_host(&local, r->dst);
            ip_host(&remote, r->src);
            tcp_rst(NULL, r->seq, r->ack, &local, &remote, r->dport, r->sport);
        } else {
            struct pbuf *p = pbuf_alloc(PBUF_RAW, r->quote_len, PBUF_RAM);
            if (!p)
                continue; /* lwIP's heap is full: no answer (pf's answers are best effort too) */
            (void)pbuf_take(p, r->quote, r->quote_len);
            icmp_dest_unreach(p, (enum icmp_dur_type)r->code);
            pbuf_free(p);
        }
        fw->c.returns_sent++;
    }
    fw->generating = false;
    fw->n_returns = 0;
}

/* ------------------------------------------------------- statistics ---- */

static unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

static void quad_text(uint32_t a, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", (unsigned)(a >> 24), (unsigned)(a >> 16 & 255), (unsigned)(a >> 8 & 255),
             (unsigned)(a & 255));
}

void netd_fw_log_routes(const struct netd_fw *fw)
{
    if (fw->routes.n == 0 && fw->routes.n6 == 0) {
        ulog("netd: routes: connected networks and the default gateway only\n");
        return;
    }
    for (unsigned i = 0; i < fw->routes.n6; i++) {
        const struct netd_route6 *r = &fw->routes.r6[i];
        char net[48], gw[48];
        fw6_ntop(r->net, net, sizeof net);
        fw6_ntop(r->gw, gw, sizeof gw);
        ulog("netd: route %s/%u via %s (%s line %u)\n", net, (unsigned)r->prefix, gw, fw->source, r->line);
    }
    for (unsigned i = 0; i < fw->routes.n; i++) {
        const struct netd_route *r = &fw->routes.r[i];
        char net[16], gw[16];
        quad_text(r->net, net, sizeof net);
        quad_text(r->gw, gw, sizeof gw);
        ulog("netd: route %s/%u via %s (%s line %u)\n", net, (unsigned)r->prefix, gw, fw->source, r->line);
    }
}

void netd_fw_log_stats(const struct netd_fw *fw)
{
    const struct fw_stats *s = &fw->eng.stats;
    const struct netd_fw_counters *c = &fw->c;
    const struct fw_ruleset *rs = fw->eng.rules;
    ulog("netd: fw: rules from %s, generation %u, %u rules; loads %llu, refused %llu\n",
         fw->source[0] ? fw->source : "nowhere (deny-all)", (unsigned)rs->generation, rs->count, ull(c->loads),
         ull(c->load_failures));
    ulog("netd: fw: packets %llu: passed %llu (state %llu related %llu rule %llu) blocked %llu (default %llu rule %llu "
         "invalid %llu state-full %llu src-rate %llu ip-options %llu)\n",
         ull(s->packets), ull(s->passed), ull(c->passed[FW_R_STATE]), ull(c->passed[FW_R_RELATED]),
         ull(c->passed[FW_R_RULE]), ull(s->blocked), ull(c->blocked[FW_R_DEFAULT]), ull(c->blocked[FW_R_BLOCK_RULE]),
         ull(c->blocked[FW_R_INVALID]), ull(c->blocked[FW_R_STATE_FULL]), ull(c->blocked[FW_R_SRC_RATE]),
         ull(c->blocked[FW_R_IP_OPTIONS]));
    ulog(
        "netd: fw: unfiltered: not-ipv4 %llu dhcp %llu answers %llu set-skip %llu; block-return sent %llu limited %llu "
        "skipped "
        "%llu; orphan state packets %llu (%llu B)\n",
        ull(c->not_ipv4), ull(c->dhcp), ull(c->generated), ull(c->skipped), ull(c->returns_sent),
        ull(c->returns_limited), ull(c->returns_skipped), ull(s->orphan_packets), ull(s->orphan_bytes));
    const struct fw_state_stats *ss = &fw->table.stats;
    ulog("netd: fw: states %u/%u: inserted %llu expired %llu removed %llu; refused: full %llu src-rate %llu "
         "src-full %llu\n",
         (unsigned)fw->table.count, (unsigned)NETD_FW_STATES, ull(ss->inserted), ull(ss->expired), ull(ss->removed),
         ull(ss->full), ull(ss->src_limited), ull(ss->src_full));
    const uint64_t *m = s->malformed;
    ulog("netd: fw: malformed: truncated %llu version %llu hdrlen %llu checksum %llu ipflags %llu frag %llu "
         "frag-bad %llu frag-overlap %llu l4-truncated %llu tcp-hdrlen %llu tcp-flags %llu udp-len %llu src %llu\n",
         ull(m[1]), ull(m[2]), ull(m[3]), ull(m[4]), ull(m[5]), ull(m[6]), ull(m[7]), ull(m[8]), ull(m[9]), ull(m[10]),
         ull(m[11]), ull(m[12]), ull(m[13]));
    _Static_assert(FW_PKT_NREASONS == 14, "one malformed counter per reason above");
    for (unsigned i = 0; i < rs->count; i++) {
        const struct fw_rule *r = &rs->rules[i];
        char text[160];
        (void)fw_rule_format(r, &fw->ifaces, rs, text, sizeof text);
        ulog("netd: fw: @%u line %u evals %llu pkts %llu bytes %llu states %llu: %s\n", i, r->line,
             ull(r->c.evaluations), ull(r->c.packets), ull(r->c.bytes), ull(r->c.states), text);
    }
    ulog("netd: fw: no rule matched: pkts %llu bytes %llu\n", ull(rs->none.packets), ull(rs->none.bytes));
    netd_fw6_log_stats(fw);
}
