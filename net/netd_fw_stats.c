/*
 * netd_fw_stats.c - the firewall's statistics and route lines in netd's
 * log: verdicts by reason, malformed drops by reason, the state tables,
 * per rule evaluations, packets, bytes and states (both families), and the
 * static routes in force after every load.
 *
 * Invariants: reads only; changes no counter and no state (the counters
 * are written by the filter path, netd_fw.c and netd_fw6.c, and by the
 * answers, netd_fw_return.c).  The malformed line names every reason of
 * fw_parse_ether (asserted against FW_PKT_NREASONS).
 *
 * Context: netd's main thread only (the `stats` command frame, the end of
 * a test boot, every load).
 */
#include <keel/fmt.h>
#include <keel/ulog.h>

#include "netd_fw.h"

static unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

static const char *quad_text(uint32_t a, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", (unsigned)(a >> 24), (unsigned)(a >> 16 & 255), (unsigned)(a >> 8 & 255),
             (unsigned)(a & 255));
    return buf;
}

static void log_route(const struct netd_fw *fw, const char *net, unsigned prefix, const char *gw, unsigned line)
{
    ulog("netd: route %s/%u via %s (%s line %u)\n", net, prefix, gw, fw->source, line);
}

void netd_fw_log_routes(const struct netd_fw *fw)
{
    if (fw->routes.n == 0 && fw->routes.n6 == 0) {
        ulog("netd: routes: connected networks and the default gateway only\n");
        return;
    }
    char net[48], gw[48];
    for (unsigned i = 0; i < fw->routes.n6; i++) {
        const struct netd_route6 *r = &fw->routes.r6[i];
        log_route(fw, fw6_ntop(r->net, net, sizeof net), r->prefix, fw6_ntop(r->gw, gw, sizeof gw), r->line);
    }
    for (unsigned i = 0; i < fw->routes.n; i++) {
        const struct netd_route *r = &fw->routes.r[i];
        log_route(fw, quad_text(r->net, net, sizeof net), r->prefix, quad_text(r->gw, gw, sizeof gw), r->line);
    }
}

/* One line of the IPv6 half's counters. */
static void log_stats6(const struct netd_fw *fw)
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
    log_stats6(fw);
}
