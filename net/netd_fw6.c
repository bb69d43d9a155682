/*
 * netd_fw6.c - IPv6 frames through the firewall (net/firewall/fw6.h), the
 * IPv6 twin of netd_fw_packet (net/netd_fw.c), which calls it for every
 * frame of ethertype 0x86dd, in and out, before lwIP sees it or the NIC
 * sends it.
 *
 * Order of the checks:
 *   1. a NIC whose interface line has no IPv6 clause: dropped (counted);
 *      lwIP there has no IPv6 address and nothing of IPv6 should cross it;
 *   2. malformed (fw6_parse < 0): dropped, counted by reason;
 *   3. `set skip on` the NIC: passed;
 *   4. neighbour discovery, MLD and packet too big (fw6_is_nd): passed, so
 *      that a rule set without them (or deny-all) does not cut the
 *      appliance off its neighbours and its SLAAC address, as the DHCP
 *      client's packets pass for IPv4;
 *   5. fw6_filter: kept states, then the rules (the one rule set), no match
 *      blocks.  Blocked packets are logged through the IPv4 half's token
 *      bucket.  A passed TCP packet of a modulated state has its sequence
 *      space rewritten (fw_modulate_tcp at the header fw6_parse found); an
 *      ICMPv6 error about one (packet too big too, in step 4) has its quote
 *      given back (fw6_modulate_error).
 *
 * `block return` (the verdict's return_): as IPv4's, the blocked packet
 * is queued (netd_fw6_queue_return) and answered after the iteration's
 * input; netd_fw_return.c has the queue and the sending for both families
 * and says which address and netif an IPv6 answer leaves from.  No answer
 * (fw6_may_answer) to or from multicast or ::, to ICMPv6 errors or RSTs,
 * or to our own packets.
 *
 * Invariants: f->eng.rules is the IPv4 engine's active set at every
 * verdict (one rule set for both families, refreshed before fw6_filter);
 * a NIC without an IPv6 clause passes no IPv6 at all.
 * A bad or missing configuration leaves the empty rule set in force, which
 * blocks every IPv6 packet but those of step 4, as it blocks IPv4.
 *
 * Context: netd's main thread, like the rest of the firewall.
 */
#include "netd_fw6.h"

#include <keel/fmt.h>
#include <keel/string.h>
#include <keel/ulog.h>

#include "fw_log.h"
#include "fw_match.h"
#include "netd_fw.h"
#include "netd_fw_int.h"
#include "netd_ip6.h"

void netd_fw6_init(struct netd_fw6 *f, uint64_t key)
{
    memset(f, 0, sizeof *f);
    fw6_state_init(&f->table, key);
    f->eng.states = &f->table;
    f->eng.ifaces = &f->ifaces;
}

static void log_block(struct netd_fw *fw, const struct fw6_packet *p, const struct fw_verdict *v)
{
    if (!fw_ratelimit_allow(&fw->log_rl, fw->now))
        return;
    char s[48], d[48];
    const char *ifn = p->iface < fw->ifaces.count ? fw->ifaces.ifs[p->iface].name : "?";
    ulog("netd: fw: block %s on %s inet6 proto %u from %s port %u to %s port %u (rule line %u)\n",
         p->dir == FW_IN ? "in" : "out", ifn, (unsigned)p->proto, fw6_ntop(p->src, s, sizeof s), (unsigned)p->sport,
         fw6_ntop(p->dst, d, sizeof d), (unsigned)p->dport, v->line);
}

bool netd_fw6_packet(struct netd_fw *fw, unsigned dir, unsigned nic, uint8_t *frame, size_t len, bool csum_partial)
{
    struct netd_fw6 *f = &fw->v6;
    if (nic >= NETD_MAX_IFS || !f->enabled[nic]) {
        f->c.off++;
        return false;
    }
    struct fw6_packet pkt;
    pkt.dir = (uint8_t)dir;
    pkt.iface = (uint8_t)nic;
    int rc = len >= 14 ? fw6_parse(frame + 14, len - 14, &pkt) : FW6_PKT_E_TRUNCATED;
    if (rc < 0) {
        fw6_count_malformed(&f->eng, rc);
        f->c.malformed++;
        return false;
    }
    if (nic < 8 && (fw->skip >> nic & 1u)) {
        f->c.skipped++;
        return true;
    }
    if (fw6_is_nd(&pkt)) {
        f->c.nd++;
        if (fw6_modulate_error(&f->table, frame + 14, len - 14, &pkt, fw->now)) /* packet too big */
            f->c.modulated++;
        return true;
    }
    netd_ip6_refresh_all();       /* the addresses self and (IFACE) match now (SLAAC's come and go) */
    f->eng.rules = fw->eng.rules; /* the active set (swapped by a reload) */
    struct fw_verdict v;
    fw6_filter(&f->eng, &pkt, fw->now, &v);
    if (v.log && v.action != FW_PASS)
        log_block(fw, &pkt, &v);
    if (v.action != FW_PASS) {
        if (v.return_)
            netd_fw6_queue_return(fw, &pkt, &v, frame + 14, len - 14); /* netd_fw_return.c */
        return false;
    }
    if (v.max_mss && fw6_clamp_mss(frame + 14, len - 14, &pkt, v.max_mss))
        f->c.mss_clamped++; /* scrub (max-mss): our copy in, the NIC buffer out, as IPv4 (netd_fw.c) */
    /* modulate state (fw_modulate.h): the TCP header, or an error's quote */
    if (pkt.proto == FW_PROTO_TCP && fw_modulate_tcp(frame + 14 + pkt.l4off, pkt.len - pkt.l4off, &v.mod, csum_partial))
        f->c.modulated++;
    else if (fw6_modulate_error(&f->table, frame + 14, len - 14, &pkt, fw->now))
        f->c.modulated++;
    return true;
}
