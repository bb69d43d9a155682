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
 * `block return` (the verdict's return_): as IPv4's (netd_fw.c), the answer
 * is queued here (NETD_FW6_RETURNS per loop iteration, the IPv4 half's
 * token bucket: 50 answers a second for both families) and sent by
 * netd_fw6_flush after the iteration's input: fw6_return_build makes a TCP
 * RST from the blocked packet's destination or an ICMPv6 destination
 * unreachable from the destination when it is ours, else from the address
 * lwIP selects on the answer's netif (RFC 6724), and the netif's
 * output_ip6 (neighbour discovery, then linkoutput with `generating` set)
 * sends it.  The netif: the NIC a blocked `in` packet came in on; the
 * route to the source for an `out` one.  No answer (fw6_may_answer) to or
 * from multicast or ::, to ICMPv6 errors or RSTs, or to our own packets.
 * A bad or missing configuration leaves the empty rule set in force, which
 * blocks every IPv6 packet but those of step 4, as it blocks IPv4.
 *
 * Context: netd's main thread, like the rest of the firewall.
 */
#include "netd_fw6.h"

#include <keel/fmt.h>
#include <keel/string.h>
#include <keel/ulog.h>

#include "lwip/ip6.h"
#include "lwip/ip6_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "fw_log.h"
#include "fw_match.h"
#include "netd_fw.h"
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

/* Queues the answer V asks for to P (IP: its IPv6 header, LEN bytes). */
static void queue_return(struct netd_fw *fw, const struct fw6_packet *p, const struct fw_verdict *v, const uint8_t *ip,
                         size_t len)
{
    struct netd_fw6 *f = &fw->v6;
    if (!fw6_may_answer(p) || fw6_is_self(&f->ifaces, p->src)) {
        f->c.returns_skipped++;
        return;
    }
    if (f->n_returns == NETD_FW6_RETURNS || !fw_ratelimit_allow(&fw->return_rl, fw->now)) {
        f->c.returns_limited++;
        return;
    }
    struct netd_fw6_return *r = &f->returns[f->n_returns++];
    r->dir = p->dir;
    r->nic = p->iface;
    r->rst = v->return_rst;
    r->code = v->return_code;
    r->p = *p;
    size_t n = len < p->len ? len : p->len;
    r->len = (uint16_t)(n < sizeof r->pkt ? n : sizeof r->pkt);
    memcpy(r->pkt, ip, r->len);
}

void netd_fw6_flush(struct netd_fw *fw)
{
    struct netd_fw6 *f = &fw->v6;
    static uint8_t out[FW6_RETURN_MAX];
    for (unsigned i = 0; i < f->n_returns; i++) {
        struct netd_fw6_return *r = &f->returns[i];
        ip6_addr_t dest;
        memcpy(dest.addr, r->p.src, 16);
        ip6_addr_clear_zone(&dest);
        ip6_addr_t any; /* ip6_route reads its source: "any" lets the destination alone decide */
        ip6_addr_set_any(&any);
        struct netif *ni = r->dir == FW_IN ? netd_ip6_netif(r->nic) : ip6_route(&any, &dest);
        if (!ni) {
            f->c.returns_skipped++;
            continue;
        }
        ip6_addr_assign_zone(&dest, IP6_UNICAST, ni);
        uint8_t src[16];
        if (r->rst || fw6_is_self(&f->ifaces, r->p.dst)) {
            memcpy(src, r->p.dst, 16);
        } else {
            const ip_addr_t *a = ip6_select_source_address(ni, &dest);
            if (!a) {
                f->c.returns_skipped++;
                continue;
            }
            memcpy(src, ip_2_ip6(a)->addr, 16);
        }
        size_t n = fw6_return_build(r->pkt, r->len, &r->p, r->rst, r->code, src, out, sizeof out);
        struct pbuf *q = n ? pbuf_alloc(PBUF_LINK, (u16_t)n, PBUF_RAM) : NULL;
        if (!q) {
            f->c.returns_skipped++; /* lwIP's heap is full: best effort, as pf's */
            continue;
        }
        (void)pbuf_take(q, out, (u16_t)n);
        (void)ni->output_ip6(ni, q, &dest);
        pbuf_free(q);
        f->c.returns_sent++;
    }
    f->n_returns = 0;
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
            queue_return(fw, &pkt, &v, frame + 14, len - 14);
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

static unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

void netd_fw6_log_stats(const struct netd_fw *fw)
{
    const struct netd_fw6 *f = &fw->v6;
    const struct fw6_stats *s = &f->eng.stats;
    ulog("netd: fw6: packets %llu: passed %llu (state %llu rule %llu) blocked %llu (default %llu rule %llu "
         "state-full %llu max %llu src-rate %llu src-conn %llu); overloaded %llu flushed %llu; before the rules: "
         "nd/mld/too-big %llu set-skip %llu; dropped: no-ipv6-nic %llu "
         "malformed %llu (truncated %llu version %llu frag %llu ext %llu l4 %llu tcp-flags %llu src %llu); states "
         "%u/%u inserted %llu expired %llu full %llu; block-return sent %llu limited %llu skipped %llu; "
         "mss-clamped %llu\n",
         ull(s->packets), ull(s->passed), ull(s->state_passed), ull(s->rule_passed), ull(s->blocked),
         ull(s->default_blocked), ull(s->rule_blocked), ull(s->state_full), ull(s->state_limited), ull(s->src_limited),
         ull(s->src_conn_limited), ull(s->overloaded), ull(s->flushed), ull(f->c.nd), ull(f->c.skipped), ull(f->c.off),
         ull(f->c.malformed), ull(s->malformed[1]), ull(s->malformed[2]), ull(s->malformed[3]), ull(s->malformed[4]),
         ull(s->malformed[5]), ull(s->malformed[6]), ull(s->malformed[7]), f->table.count, (unsigned)FW6_STATES,
         ull(f->table.stats.inserted), ull(f->table.stats.expired), ull(f->table.stats.full), ull(f->c.returns_sent),
         ull(f->c.returns_limited), ull(f->c.returns_skipped), ull(f->c.mss_clamped));
}
