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
 * queues one and netd_fw_flush sends it after the iteration's input
 * (netd_fw_return.c, both families).
 *
 * The file's neighbours, one seam each:
 *   netd_fw_conf.c    appliance.conf into a rule set, routes and addresses;
 *                     the two-phase swap (prepare, commit, abort, reload)
 *   netd_fw_return.c  the `block return` queues and their answers
 *   netd_fw_stats.c   statistics and route lines in the log
 *   netd_fw6.c        the IPv6 half of the filter path
 * They share netd_fw_int.h (internal) and struct netd_fw (netd_fw.h).
 *
 * Invariants of the path.
 *   - Every IPv4 frame the NICs receive or send gets exactly one verdict
 *     here before lwIP or the NIC sees it; at start, and whenever no rule
 *     set parsed, the active set is empty: deny-all (netd_fw_conf.c).
 *   - fw->now is the clock of the current loop iteration (netd_fw_tick);
 *     expired states are reclaimed at most once per EXPIRE_EVERY_NS.
 *   - A passed packet with a translation is rewritten or dropped, never
 *     sent untranslated; rewrites happen only in our private copy (in) or
 *     the NIC buffer (out), never in lwIP's memory.
 *
 * Memory: struct netd_fw is netd's (one static instance, in its .bss): both
 * rule sets, the state table's NETD_FW_STATES slots and buckets, the source
 * nodes for max-src-conn-rate.  Nothing is allocated on the packet path.
 * The state table's SipHash key comes from netd_rand32 (keyed first).
 *
 * Context: netd's main thread only, like lwIP and the rings.
 */
#include <keel/fmt.h>
#include <keel/string.h>
#include <keel/ulog.h>

#include "netd_fw.h"
#include "netd_fw_int.h"
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
    return netd_fw_conf_boot(fw); /* netd_fw_conf.c */
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
        return p->sport == DHCP_SERVER && p->dport == DHCP_CLIENT &&
               (p->dst == NETD_FW_BROADCAST || own == 0 || p->dst == own);
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
        netd_fw_queue_return(fw, &pkt, &v, frame + 14, len - 14); /* netd_fw_return.c */
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
