/*
 * netd_admin.c - netd's side of the administration protocol
 * (abi/keel/netadm.h): the console commits configuration here, reads
 * netd's tables for its `show` commands, and pings through netd.
 *
 * Who may call: a client C with a "client:C" note and a region
 * "shm:admin-C" (netd_admin_init maps it); calls are matched to it by
 * badge, every other caller gets NETADM_E_NOT_ADMIN (admit, the prologue
 * the server loop runs before every handler).  The handlers run in
 * netd's main thread (wait_event in netd.c hands them every request whose
 * label is NETADM_*), so they may touch lwIP and the firewall directly;
 * each replies at once and never calls anyone (the console calls netd,
 * never the other way).
 *
 * Configuration.  PREPARE copies the text out of the shared region (the
 * client cannot change it under the parser) and parses it into the
 * firewall's spare set (netd_fw_prepare); COMMIT swaps it in
 * (netd_fw_commit: kept states stay); ABORT forgets it.  So the console
 * can prepare every server first and commit only when all accepted.  What
 * netd takes from a commit: the rules and the interface names they use.
 * The static routes change with the rules (netd_fw_commit); interface
 * addresses stay as at start (a restart of netd applies them): netd_fw_conf.c's
 * reload never changes an address.
 *
 * Tables.  NETADM_SHOW writes rows of '\t'-separated fields into the
 * region's answer area, cut at a whole row when full (the firewall's rows
 * are pfctl -sr -v's lines, without tabs).
 *
 * Ping.  One at a time: a raw ICMP PCB whose receive callback takes echo
 * replies with our identifier (and leaves every other ICMP packet to
 * lwIP); netd_admin_tick sends the next request once a second.  The
 * requests pass the firewall's out rules like any packet netd sends.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/textbuf.h>
#include <keel/ulog.h>

#include "lwip/etharp.h"
#include "lwip/inet_chksum.h"
#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/icmp.h"
#include "lwip/prot/ip4.h"
#include "lwip/raw.h"
#include "lwip/udp.h"
#include "fw6.h"
#include "netd_admin.h"
#include "netd_admin6.h"
#include "netd_hooks.h"

#define ROW_MAX       320
#define PING_BYTES    32 /* payload after the ICMP header */
#define PING_EVERY_NS 1000000000ull
#define NS_PER_US     1000ull

/* ------------------------------------------------------------- clients -- */

void netd_admin_init(struct netd_admin *a, const struct keel_srvinfo *si, uint64_t va, struct netd_fw *fw,
                     struct nic *nics, unsigned n_nics)
{
    a->fw = fw;
    a->nics = nics;
    a->n_nics = n_nics;
    a->n = srv_map_client_regions(si, "shm:admin-", NETADM_SHM_PAGES, va, NETD_ADMIN_STRIDE, a->c, NETD_ADMIN_CLIENTS,
                                  "netd");
}

/* --------------------------------------------------------------- output -- */

/* The answer area of a client's region, filled a whole row at a time. */
struct out {
    char *s;
    size_t len, cap;
    bool cut;
};

static void out_row(struct out *o, const char *row, size_t n)
{
    if (o->cut || o->len + n + 1 > o->cap) {
        o->cut = true;
        return;
    }
    memcpy(o->s + o->len, row, n);
    o->len += n;
    o->s[o->len++] = '\n';
}

/* One row: its fields joined by '\t'. */
struct row {
    char buf[ROW_MAX];
    struct textbuf tb;
    bool first;
};

static void row_start(struct row *r)
{
    tb_init(&r->tb, r->buf, sizeof r->buf);
    r->first = true;
}

static void row_field(struct row *r, const char *s)
{
    if (!r->first)
        tb_put(&r->tb, "\t");
    r->first = false;
    tb_put(&r->tb, s);
}

static void row_fieldf(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row_fieldf(struct row *r, const char *fmt, ...)
{
    char f[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f, sizeof f, fmt, ap);
    va_end(ap);
    row_field(r, f);
}

static void row_end(struct out *o, struct row *r)
{
    out_row(o, r->buf, r->tb.len < sizeof r->buf ? r->tb.len : sizeof r->buf - 1);
}

static void header(struct out *o, const char *const *names, unsigned n)
{
    struct row r;
    row_start(&r);
    for (unsigned i = 0; i < n; i++)
        row_field(&r, names[i]);
    row_end(o, &r);
}

/* netd_admin6's rows (struct out as CTX). */
static void emit_row(void *ctx, const char *const *fields, unsigned n)
{
    struct row r;
    row_start(&r);
    for (unsigned i = 0; i < n; i++)
        row_field(&r, fields[i]);
    row_end(ctx, &r);
}

static void ip_str(char *buf, size_t n, uint32_t host_order)
{
    snprintf(buf, n, "%u.%u.%u.%u", (unsigned)(host_order >> 24), (unsigned)(host_order >> 16 & 0xff),
             (unsigned)(host_order >> 8 & 0xff), (unsigned)(host_order & 0xff));
}

static uint32_t ip4_host(const ip4_addr_t *a) { return lwip_ntohl(ip4_addr_get_u32(a)); }

/* The prefix length of netmask MASK (host order). */
static unsigned prefix_len(uint32_t mask)
{
    unsigned n = 0;
    while (n < 32 && (mask & (0x80000000u >> n)))
        n++;
    return n;
}

/* The firewall's name of NIC K ("(conn)" when no interface line names it). */
static const char *fw_name(const struct netd_admin *a, unsigned k)
{
    return k < a->fw->ifaces.count ? a->fw->ifaces.ifs[k].name : "?";
}

/* -------------------------------------------------------------- tables -- */

static void show_interfaces(struct netd_admin *a, struct out *o)
{
    static const char *const h[] = { "NAME", "NIC", "MAC", "ADDRESS", "LINK", "RX-PKTS", "TX-PKTS", "FW-DROPS" };
    header(o, h, sizeof h / sizeof h[0]);
    for (unsigned k = 0; k < a->n_nics; k++) {
        const struct nic *n = &a->nics[k];
        struct row r;
        char ip[20];
        row_start(&r);
        row_field(&r, fw_name(a, k));
        row_field(&r, n->name);
        row_fieldf(&r, "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4],
                   n->mac[5]);
        uint32_t addr = n->netif_added ? ip4_host(netif_ip4_addr(&n->netif)) : 0;
        if (addr) {
            ip_str(ip, sizeof ip, addr);
            uint32_t mask = ip4_host(netif_ip4_netmask(&n->netif));
            row_fieldf(&r, "%s/%u", ip, prefix_len(mask));
        } else {
            row_field(&r, "-");
        }
        bool up = n->netif_added && netif_is_link_up(&n->netif) && n->state == NICS_ATTACHED;
        row_field(&r, up ? "up" : "down");
        row_fieldf(&r, "%llu", (unsigned long long)n->stats.rx_frames);
        row_fieldf(&r, "%llu", (unsigned long long)n->stats.tx_frames);
        row_fieldf(&r, "%llu", (unsigned long long)(n->stats.rx_fw_drop + n->stats.tx_fw_drop));
        row_end(o, &r);
    }
}

static const char *netif_fw_name(const struct netd_admin *a, const struct netif *nif)
{
    for (unsigned k = 0; k < a->n_nics; k++)
        if (&a->nics[k].netif == nif)
            return fw_name(a, k);
    return "?";
}

static void show_arp(struct netd_admin *a, struct out *o)
{
    static const char *const h[] = { "ADDRESS", "MAC", "INTERFACE" };
    header(o, h, sizeof h / sizeof h[0]);
    for (size_t i = 0; i < ARP_TABLE_SIZE; i++) {
        ip4_addr_t *ip = NULL;
        struct netif *nif = NULL;
        struct eth_addr *eth = NULL;
        if (!etharp_get_entry(i, &ip, &nif, &eth))
            continue;
        struct row r;
        char s[20];
        row_start(&r);
        ip_str(s, sizeof s, ip4_host(ip));
        row_field(&r, s);
        const uint8_t *m = eth->addr;
        row_fieldf(&r, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        row_field(&r, netif_fw_name(a, nif));
        row_end(o, &r);
    }
}

static void show_routes(struct netd_admin *a, struct out *o)
{
    static const char *const h[] = { "DESTINATION", "GATEWAY", "INTERFACE", "KIND" };
    header(o, h, sizeof h / sizeof h[0]);
    struct netif *nif;
    NETIF_FOREACH(nif)
    {
        uint32_t addr = ip4_host(netif_ip4_addr(nif)), mask = ip4_host(netif_ip4_netmask(nif));
        if (!addr || !netif_is_up(nif))
            continue;
        struct row r;
        char s[20];
        row_start(&r);
        ip_str(s, sizeof s, addr & mask);
        row_fieldf(&r, "%s/%u", s, prefix_len(mask));
        row_field(&r, "-");
        row_field(&r, netif_fw_name(a, nif));
        row_field(&r, "connected");
        row_end(o, &r);
    }
    for (unsigned i = 0; i < a->fw->routes.n; i++) {
        const struct netd_route *rt = &a->fw->routes.r[i];
        struct netif *via = netif_for_gateway(rt->gw);
        struct row r;
        char s[20];
        row_start(&r);
        ip_str(s, sizeof s, rt->net);
        row_fieldf(&r, "%s/%u", s, (unsigned)rt->prefix);
        ip_str(s, sizeof s, rt->gw);
        row_field(&r, s);
        row_field(&r, via ? netif_fw_name(a, via) : "-");
        row_field(&r, via ? "static" : "static (gateway unreachable)");
        row_end(o, &r);
    }
    nif = netif_default;
    if (nif && netif_is_up(nif) && ip4_host(netif_ip4_gw(nif))) {
        struct row r;
        char s[20];
        row_start(&r);
        row_field(&r, "0.0.0.0/0");
        ip_str(s, sizeof s, ip4_host(netif_ip4_gw(nif)));
        row_field(&r, s);
        row_field(&r, netif_fw_name(a, nif));
        row_field(&r, "default");
        row_end(o, &r);
    }
}

/* ADDR:PORT, an IPv6 address in brackets ([2001:db8::1]:443); a pcb bound
 * to any address of both families shows 0.0.0.0. */
static void row_endpoint(struct row *r, const ip_addr_t *a, u16_t port)
{
    char s[48]; /* fw6_ntop: 46 bytes suffice */
    if (IP_IS_V6(a))
        row_fieldf(r, "[%s]:%u", fw6_ntop((const uint8_t *)ip_2_ip6(a)->addr, s, sizeof s), (unsigned)port);
    else
        row_fieldf(r, "%s:%u", ip4addr_ntoa_r(ip_2_ip4(a), s, sizeof s), (unsigned)port);
}

static const char *tcp_state(enum tcp_state s)
{
    static const char *const names[] = { "CLOSED",      "LISTEN",     "SYN_SENT",   "SYN_RCVD",
                                         "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
                                         "CLOSING",     "LAST_ACK",   "TIME_WAIT" };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static void tcp_rows(struct out *o, struct tcp_pcb *list)
{
    for (struct tcp_pcb *p = list; p; p = p->next) {
        struct row r;
        row_start(&r);
        row_field(&r, "tcp");
        row_endpoint(&r, &p->local_ip, p->local_port);
        if (p->state == LISTEN)
            row_field(&r, "*:*");
        else
            row_endpoint(&r, &p->remote_ip, p->remote_port);
        row_field(&r, tcp_state(p->state));
        row_end(o, &r);
    }
}

static void show_connections(struct netd_admin *a, struct out *o)
{
    (void)a;
    static const char *const h[] = { "PROTO", "LOCAL", "REMOTE", "STATE" };
    header(o, h, sizeof h / sizeof h[0]);
    tcp_rows(o, tcp_listen_pcbs.pcbs);
    tcp_rows(o, tcp_active_pcbs);
    tcp_rows(o, tcp_tw_pcbs);
    for (struct udp_pcb *u = udp_pcbs; u; u = u->next) {
        struct row r;
        row_start(&r);
        row_field(&r, "udp");
        row_endpoint(&r, &u->local_ip, u->local_port);
        row_field(&r, "*:*");
        row_field(&r, "-");
        row_end(o, &r);
    }
}

/* The rules in force as `pfctl -sr -v` prints them: "@N RULE" in pf's
 * canonical form, then its counters and where appliance.conf has it; last
 * what no rule matched (Keel blocks it).  Rows have no '\t': consoled
 * prints them as they are. */
static void show_firewall(struct netd_admin *a, struct out *o)
{
    const struct fw_ruleset *rs = a->fw->eng.rules;
    const struct fw_state_table *st = &a->fw->table;
    char text[256];
    for (unsigned i = 0; i < rs->count; i++) {
        const struct fw_rule *fr = &rs->rules[i];
        int n = snprintf(text, sizeof text, "@%u ", i);
        (void)fw_rule_format(fr, &a->fw->ifaces, rs, text + n, sizeof text - (size_t)n);
        out_row(o, text, strlen(text));
        n = snprintf(text, sizeof text, "  [ Evaluations: %-8llu  Packets: %-8llu  Bytes: %-10llu  States: %-6u ]",
                     (unsigned long long)fr->c.evaluations, (unsigned long long)fr->c.packets,
                     (unsigned long long)fr->c.bytes, (unsigned)fw_state_rule_live(st, (uint16_t)i, rs->generation));
        out_row(o, text, (size_t)n);
        n = snprintf(text, sizeof text, "  [ %s line %u  State Creations: %-6llu ]", a->fw->source, fr->line,
                     (unsigned long long)fr->c.states);
        out_row(o, text, (size_t)n);
    }
    const char *what = rs->count ? "no rule matched (blocked)" : "deny-all: no rules in force (blocked)";
    out_row(o, what, strlen(what));
    int n = snprintf(text, sizeof text, "  [ Packets: %-8llu  Bytes: %-10llu ]", (unsigned long long)rs->none.packets,
                     (unsigned long long)rs->none.bytes);
    out_row(o, text, (size_t)n);
}

static const char *proto_name(uint8_t p) { return p == 6 ? "tcp" : p == 17 ? "udp" : p == 1 ? "icmp" : "ip"; }

/* "A.B.C.D:P" (ICMP echo: the identifier as the port, as pfctl -ss). */
static void endpoint(char *buf, size_t n, uint32_t addr, uint16_t port)
{
    char s[16];
    ip_str(s, sizeof s, addr);
    snprintf(buf, n, "%s:%u", s, (unsigned)port);
}

/*
 * One state as pfctl -ss prints it: "10.1.0.9:5000 (203.0.113.1:61001) ->
 * 198.51.100.2:80" for an out state (the translated source in
 * parentheses), "10.1.0.5:8080 (203.0.113.1:80) <- 198.51.100.2:40000"
 * for an in state (the responder first, its address on the wire in
 * parentheses).
 */
static void state_text(const struct netd_fw *fw, const struct fw_state *st, char *buf, size_t n)
{
    const struct fw_nat_side *x = (st->flags & FW_SF_NAT) ? &fw->nat.sides[st - fw->slots] : NULL;
    char a[24], ax[24], b[24];
    if (st->dir == FW_OUT) {
        endpoint(a, sizeof a, st->src, st->sport);
        endpoint(b, sizeof b, st->dst, st->dport);
        if (x && (x->post.src != st->src || x->post.sport != st->sport)) {
            endpoint(ax, sizeof ax, x->post.src, x->post.sport);
            snprintf(buf, n, "%s (%s) -> %s", a, ax, b);
        } else {
            snprintf(buf, n, "%s -> %s", a, b);
        }
        return;
    }
    endpoint(b, sizeof b, st->src, st->sport);
    if (x && (x->post.dst != st->dst || x->post.dport != st->dport)) {
        endpoint(a, sizeof a, x->post.dst, x->post.dport);
        endpoint(ax, sizeof ax, st->dst, st->dport);
        snprintf(buf, n, "%s (%s) <- %s", a, ax, b);
    } else {
        endpoint(a, sizeof a, st->dst, st->dport);
        snprintf(buf, n, "%s <- %s", a, b);
    }
}

static void show_states(struct netd_admin *a, struct out *o)
{
    /* FLAGS: "modulate" for a modulated TCP state (its offsets are never shown), else "-". */
    static const char *const h[] = { "IFACE", "PROTO", "CONNECTION", "STATE", "PACKETS", "EXPIRES", "FLAGS" };
    header(o, h, sizeof h / sizeof h[0]);
    const struct netd_fw *fw = a->fw;
    for (unsigned i = 0; i < NETD_FW_STATES; i++) {
        const struct fw_state *st = &fw->slots[i];
        if (!fw_state_is_live(st, fw->now))
            continue;
        struct row r;
        char text[96];
        row_start(&r);
        row_field(&r, fw_name(a, st->iface));
        row_field(&r, proto_name(st->proto));
        state_text(fw, st, text, sizeof text);
        row_field(&r, text);
        row_field(&r, st->proto == 6 ? fw_tcp_state_name(st->tcp) : "-");
        row_fieldf(&r, "%llu:%llu", (unsigned long long)st->packets[0], (unsigned long long)st->packets[1]);
        row_fieldf(&r, "%llus", (unsigned long long)((st->expires - fw->now) / 1000000000ull));
        row_field(&r, (st->flags & FW_SF_MODULATE) ? "modulate" : "-");
        row_end(o, &r);
    }
}

/* Live translated states of rule RULE of the active set (a walk of the slots). */
static unsigned nat_active(const struct netd_fw *fw, unsigned rule, unsigned *ports)
{
    unsigned n = 0;
    for (unsigned i = 0; i < NETD_FW_STATES; i++) {
        const struct fw_state *st = &fw->slots[i];
        if (!(st->flags & FW_SF_NAT) || !fw_state_is_live(st, fw->now))
            continue;
        if (st->gen == fw->eng.rules->generation && fw->nat.sides[i].rule == rule)
            n++;
        if (ports && fw->nat.sides[i].kind == FW_NAT_SNAT)
            (*ports)++;
    }
    return n;
}

/* The translation rules of the active set with their counters, then the
 * translation table's counters (pfctl -sr for nat rules, -si's share). */
static void show_nat(struct netd_admin *a, struct out *o)
{
    static const char *const h[] = { "RULE", "LINE", "TRANSLATIONS", "ACTIVE", "TEXT" };
    header(o, h, sizeof h / sizeof h[0]);
    const struct netd_fw *fw = a->fw;
    const struct fw_ruleset *rs = fw->eng.rules;
    for (unsigned i = 0; i < rs->count; i++) {
        const struct fw_rule *fr = &rs->rules[i];
        if (!fr->nat.kind)
            continue;
        struct row r;
        char text[200];
        row_start(&r);
        row_fieldf(&r, "@%u", i);
        row_fieldf(&r, "%u", fr->line);
        row_fieldf(&r, "%llu", (unsigned long long)fr->nat.states);
        row_fieldf(&r, "%u", nat_active(fw, i, NULL));
        (void)fw_rule_format(fr, &fw->ifaces, rs, text, sizeof text);
        row_field(&r, text);
        row_end(o, &r);
    }
    const struct fw_nat_stats *s = &fw->nat.stats;
    unsigned ports = 0;
    (void)nat_active(fw, FW_MAX_RULES, &ports);
    struct row r; /* the whole table, in the same columns */
    row_start(&r);
    row_field(&r, "all");
    row_field(&r, "-");
    row_fieldf(&r, "%llu", (unsigned long long)s->translations);
    row_fieldf(&r, "%u", (unsigned)fw->nat.in_use);
    row_fieldf(&r, "nat-to ports in use %u; refused: pool exhausted %llu, no address %llu", ports,
               (unsigned long long)s->pool_exhausted, (unsigned long long)s->no_address);
    row_end(o, &r);
    row_start(&r);
    row_field(&r, "");
    row_field(&r, "");
    row_field(&r, "");
    row_field(&r, "");
    row_fieldf(&r, "packets rewritten %llu (ICMP errors %llu); states %u of %u", (unsigned long long)s->rewritten,
               (unsigned long long)s->icmp_errors, (unsigned)fw->table.count, (unsigned)NETD_FW_STATES);
    row_end(o, &r);
}

/* ----------------------------------------------------------------- ping -- */

/* Raw PCB receive: P starts at the IP header.  Takes our echo replies
 * (returns 1: eaten); anything else goes on to lwIP (0). */
static u8_t ping_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
    (void)pcb;
    struct netd_admin *a = arg;
    struct netd_ping *pg = &a->ping;
    struct icmp_echo_hdr h;
    if (!pg->count || p->tot_len < IP_HLEN + sizeof h)
        return 0;
    uint8_t vhl = 0;
    if (pbuf_copy_partial(p, &vhl, 1, 0) != 1)
        return 0;
    uint16_t hlen = (uint16_t)((vhl & 0x0f) * 4);
    if (hlen < IP_HLEN || p->tot_len < hlen + sizeof h || pbuf_copy_partial(p, &h, sizeof h, hlen) != sizeof h)
        return 0;
    if (pg->v6 || !IP_IS_V4(addr) || h.type != ICMP_ER || h.id != lwip_htons(pg->id) ||
        ip4_host(ip_2_ip4(addr)) != pg->addr)
        return 0;
    netd_ping_count_reply(pg, lwip_ntohs(h.seqno));
    pbuf_free(p);
    return 1;
}

void netd_ping_count_reply(struct netd_ping *pg, uint16_t seq)
{
    if (seq < pg->sent && pg->sent_ns[seq]) {
        uint64_t us = (keel_now_ns() - pg->sent_ns[seq]) / NS_PER_US;
        pg->sent_ns[seq] = 0; /* a duplicate reply counts once */
        pg->received++;
        if (!pg->rtt_min_us || us < pg->rtt_min_us)
            pg->rtt_min_us = us ? us : 1;
        if (us > pg->rtt_max_us)
            pg->rtt_max_us = us;
    }
}

struct pbuf *netd_ping_echo(const struct netd_ping *pg, uint8_t type)
{
    /* ICMP's and ICMPv6's echo headers are laid out alike (RFC 792, RFC 4443 4.1) */
    struct pbuf *p = pbuf_alloc(PBUF_IP, sizeof(struct icmp_echo_hdr) + PING_BYTES, PBUF_RAM);
    if (!p)
        return NULL;
    struct icmp_echo_hdr *h = p->payload;
    h->type = type;
    h->code = 0;
    h->chksum = 0;
    h->id = lwip_htons(pg->id);
    h->seqno = lwip_htons((uint16_t)pg->sent);
    uint8_t *data = (uint8_t *)(h + 1);
    for (unsigned i = 0; i < PING_BYTES; i++)
        data[i] = (uint8_t)('a' + i % 26);
    return p;
}

static void ping_send(struct netd_admin *a)
{
    struct netd_ping *pg = &a->ping;
    if (pg->v6) {
        netd_ping6_send(a);
        return;
    }
    struct pbuf *p = netd_ping_echo(pg, ICMP_ECHO);
    if (!p)
        return; /* out of memory: counted as sent, never answered */
    struct icmp_echo_hdr *h = p->payload;
    h->chksum = inet_chksum(h, (u16_t)p->len);
    ip_addr_t to;
    ip_addr_set_ip4_u32_val(to, lwip_htonl(pg->addr));
    pg->sent_ns[pg->sent] = keel_now_ns();
    (void)raw_sendto(pg->pcb, p, &to);
    pbuf_free(p);
}

static bool ping_done(const struct netd_ping *pg, uint64_t now)
{
    if (pg->received == pg->count)
        return true;
    return pg->sent == pg->count && now >= pg->next_ns - PING_EVERY_NS + NETADM_PING_WAIT_S * 1000000000ull;
}

void netd_admin_tick(struct netd_admin *a, uint64_t now)
{
    struct netd_ping *pg = &a->ping;
    if (!pg->count || pg->sent == pg->count || now < pg->next_ns)
        return;
    ping_send(a);
    pg->sent++;
    pg->next_ns = now + PING_EVERY_NS;
}

uint64_t netd_admin_next_deadline(const struct netd_admin *a)
{
    const struct netd_ping *pg = &a->ping;
    return pg->count && pg->sent < pg->count ? pg->next_ns : UINT64_MAX;
}

/* ---------------------------------------------------------------- calls -- */

/* Every call's prologue (srv_loop.admit): only an admin client may call;
 * its entry is a->caller for the handler. */
static int64_t admit(void *ctx, const struct keel_msg *m)
{
    struct netd_admin *a = ctx;
    a->caller = srv_client_of(a->c, a->n, m->badge);
    return a->caller ? 0 : NETADM_E_NOT_ADMIN;
}

/* "FILE:LINE:COL: ..." -> LINE and COL (0 when the message has none). */
static void line_col(const char *msg, uint64_t *line, uint64_t *col)
{
    *line = *col = 0;
    const char *p = strchr(msg, ':');
    if (!p)
        return;
    uint64_t v[2] = { 0, 0 };
    for (int i = 0; i < 2; i++) {
        p++;
        if (*p < '0' || *p > '9')
            return;
        while (*p >= '0' && *p <= '9')
            v[i] = v[i] * 10 + (uint64_t)(*p++ - '0');
        if (*p != ':')
            return;
    }
    *line = v[0];
    *col = v[1];
}

/* The first byte of TEXT that no configuration has (control characters
 * other than tab and line ends, bytes above 0x7e): its line and column,
 * or false.  netd's readers skip the lines that are not theirs, so binary
 * would otherwise pass as "no rules". */
static bool bad_byte(const char *text, size_t len, unsigned *line, unsigned *col, unsigned *byte)
{
    unsigned l = 1, c = 1;
    for (size_t i = 0; i < len; i++, c++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            c = 0;
        } else if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch > 0x7e) {
            *line = l;
            *col = c;
            *byte = ch;
            return true;
        }
    }
    return false;
}

static int64_t do_prepare(void *ctx, struct keel_msg *m)
{
    struct netd_admin *a = ctx;
    struct srv_client_region *c = a->caller;
    uint64_t len = m->mr[0];
    if (len > NETADM_IN_MAX)
        return NETADM_E_INVAL;
    memcpy(a->text, c->base + NETADM_IN_OFF, len); /* our own copy: the client cannot change it under us */
    char err[NETD_FW_ERR_MAX];
    unsigned bl = 0, bc = 0, bb = 0;
    int rc;
    if (bad_byte(a->text, len, &bl, &bc, &bb)) {
        netd_fw_abort(a->fw); /* a refused prepare leaves nothing to commit */
        snprintf(err, sizeof err, "candidate:%u:%u: expected printable text (got byte 0x%02x)", bl, bc, bb);
        ulog("netd: admin: %s: %s\n", c->name, err);
        rc = NETD_FW_E_PARSE;
    } else {
        rc = netd_fw_prepare(a->fw, "candidate", a->text, len, err, sizeof err); /* a failure leaves nothing */
    }
    if (rc != NETD_FW_OK) {
        size_t n = strlen(err);
        memcpy(c->base + NETADM_OUT_OFF, err, n + 1);
        line_col(err, &m->mr[0], &m->mr[1]);
        m->mr[2] = n;
        return NETADM_E_PARSE;
    }
    ulog("netd: admin: %s: configuration prepared (%llu bytes, %u rules)\n", c->name, (unsigned long long)len,
         a->fw->spare->count);
    return 0;
}

static int64_t do_commit(void *ctx, struct keel_msg *m)
{
    struct netd_admin *a = ctx;
    if (netd_fw_commit(a->fw) != NETD_FW_OK)
        return NETADM_E_NOT_PREPARED;
    if (a->on_commit)
        a->on_commit(a->on_commit_ctx); /* addresses and gateways */
    m->mr[0] = a->fw->eng.rules->count;
    m->mr[1] = a->fw->eng.rules->generation;
    return 0;
}

static int64_t do_abort(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct netd_admin *a = ctx;
    netd_fw_abort(a->fw);
    return 0;
}

/* One row of the counters table (NETADM_SHOW_COUNTERS). */
static void counter(struct out *o, const char *metric, const char *labels, uint64_t v)
{
    struct row r;
    row_start(&r);
    row_field(&r, metric);
    row_field(&r, labels);
    row_fieldf(&r, "%llu", (unsigned long long)v);
    row_end(o, &r);
}

/* Every NIC's packets, bytes and errors each way; the firewall's decisions
 * by reason; its states in use and their limit. */
static void show_counters(struct netd_admin *a, struct out *o)
{
    static const char *const h[] = { "METRIC", "LABELS", "VALUE" };
    header(o, h, sizeof h / sizeof h[0]);
    char l[64];
    for (unsigned k = 0; k < a->n_nics; k++) {
        const struct nic_counters *s = &a->nics[k].stats;
        snprintf(l, sizeof l, "interface=\"%s\"", fw_name(a, k));
        counter(o, "keel_interface_rx_packets_total", l, s->rx_frames);
        counter(o, "keel_interface_rx_bytes_total", l, s->rx_bytes);
        counter(o, "keel_interface_rx_errors_total", l, s->rx_bad_desc + s->rx_no_pbuf + s->rx_input_err);
        counter(o, "keel_interface_rx_firewall_drops_total", l, s->rx_fw_drop);
        counter(o, "keel_interface_tx_packets_total", l, s->tx_frames);
        counter(o, "keel_interface_tx_bytes_total", l, s->tx_bytes);
        counter(o, "keel_interface_tx_errors_total", l,
                s->tx_bad_desc + s->tx_no_buf + s->tx_ring_full + s->tx_too_long + s->tx_detached);
        counter(o, "keel_interface_tx_firewall_drops_total", l, s->tx_fw_drop);
    }
    static const char *const reason[FW_R_IP_OPTIONS + 1] = {
        [FW_R_STATE] = "state",           [FW_R_RELATED] = "related",   [FW_R_RULE] = "rule",
        [FW_R_BLOCK_RULE] = "rule",       [FW_R_DEFAULT] = "default",   [FW_R_INVALID] = "invalid",
        [FW_R_STATE_FULL] = "state-full", [FW_R_SRC_RATE] = "src-rate", [FW_R_IP_OPTIONS] = "ip-options",
    };
    const struct netd_fw_counters *c = &a->fw->c;
    for (unsigned i = FW_R_STATE; i <= FW_R_RULE; i++) {
        snprintf(l, sizeof l, "reason=\"%s\"", reason[i]);
        counter(o, "keel_firewall_passed_total", l, c->passed[i]);
    }
    for (unsigned i = FW_R_BLOCK_RULE; i <= FW_R_IP_OPTIONS; i++) {
        snprintf(l, sizeof l, "reason=\"%s\"", reason[i]);
        counter(o, "keel_firewall_dropped_total", l, c->blocked[i]);
    }
    uint64_t malformed = 0;
    for (unsigned i = 0; i < FW_PKT_NREASONS; i++)
        malformed += a->fw->eng.stats.malformed[i];
    counter(o, "keel_firewall_dropped_total", "reason=\"malformed\"", malformed);
    counter(o, "keel_firewall_packets_total", "-", a->fw->eng.stats.packets);
    counter(o, "keel_firewall_states", "-", a->fw->table.count);
    counter(o, "keel_firewall_states_limit", "-", NETD_FW_STATES);
    unsigned ports = 0;
    (void)nat_active(a->fw, FW_MAX_RULES, &ports);
    counter(o, "keel_nat_states", "-", a->fw->nat.in_use);
    counter(o, "keel_nat_ports_in_use", "-", ports);
    counter(o, "keel_nat_states_total", "-", a->fw->nat.stats.translations);
    counter(o, "keel_nat_refused_total", "reason=\"pool-exhausted\"", a->fw->nat.stats.pool_exhausted);
    counter(o, "keel_nat_refused_total", "reason=\"no-address\"", a->fw->nat.stats.no_address);
    counter(o, "keel_nat_rewritten_packets_total", "-", a->fw->nat.stats.rewritten);
    counter(o, "keel_firewall_modulated_packets_total", "-", a->fw->c.modulated + a->fw->v6.c.modulated);
    /* Per rule, by its line in the configuration (pf's rule numbers change
     * with every load; the line is what the operator wrote). */
    const struct fw_ruleset *rs = a->fw->eng.rules;
    for (unsigned i = 0; i < rs->count; i++) {
        const struct fw_rule *fr = &rs->rules[i];
        snprintf(l, sizeof l, "line=\"%u\"", fr->line);
        counter(o, "keel_firewall_rule_evaluations_total", l, fr->c.evaluations);
        counter(o, "keel_firewall_rule_packets_total", l, fr->c.packets);
        counter(o, "keel_firewall_rule_bytes_total", l, fr->c.bytes);
    }
}

static int64_t do_show(void *ctx, struct keel_msg *m)
{
    struct netd_admin *a = ctx;
    struct srv_client_region *c = a->caller;
    struct out o = { (char *)c->base + NETADM_OUT_OFF, 0, NETADM_OUT_MAX, false };
    switch (m->mr[0]) {
    case NETADM_SHOW_INTERFACES:
        show_interfaces(a, &o);
        netd_admin6_interfaces(a, emit_row, &o); /* IPv6 rows after the IPv4 ones */
        break;
    case NETADM_SHOW_ARP:
        show_arp(a, &o);
        netd_admin6_neighbours(a, emit_row, &o);
        break;
    case NETADM_SHOW_ROUTES:
        show_routes(a, &o);
        netd_admin6_routes(a, emit_row, &o);
        break;
    case NETADM_SHOW_CONNECTIONS: show_connections(a, &o); break;
    case NETADM_SHOW_FIREWALL: show_firewall(a, &o); break;
    case NETADM_SHOW_STATES:
        show_states(a, &o);
        netd_admin6_states(a, emit_row, &o);
        break;
    case NETADM_SHOW_NAT: show_nat(a, &o); break;
    case NETADM_SHOW_COUNTERS: show_counters(a, &o); break;
    default: return NETADM_E_INVAL;
    }
    m->mr[0] = o.len;
    m->mr[1] = o.cut;
    return 0;
}

static int64_t do_ping(void *ctx, struct keel_msg *m)
{
    struct netd_admin *a = ctx;
    struct srv_client_region *c = a->caller;
    uint64_t addr = m->mr[0], count = m->mr[1];
    bool v6 = m->mr[2] == 6; /* the IPv6 address: 16 bytes at NETADM_IN_OFF */
    uint8_t addr6[16] = { 0 };
    if (v6) {
        memcpy(addr6, c->base + NETADM_IN_OFF, 16);
        bool unspecified = true;
        for (int i = 0; i < 16; i++)
            unspecified = unspecified && addr6[i] == 0;
        if (unspecified || addr6[0] == 0xff || count == 0 || count > NETADM_PING_MAX)
            return NETADM_E_INVAL;
    } else if (m->mr[2] != 0 || addr == 0 || addr > 0xffffffffull || count == 0 || count > NETADM_PING_MAX) {
        return NETADM_E_INVAL;
    }
    struct netd_ping *pg = &a->ping;
    if (!v6 && !pg->pcb) {
        pg->pcb = raw_new(IP_PROTO_ICMP);
        if (!pg->pcb)
            return NETADM_E_INVAL; /* no raw PCB left */
        raw_recv(pg->pcb, ping_recv, a);
    }
    if (v6 && netd_ping6_open(a) != 0)
        return NETADM_E_INVAL; /* no raw PCB left */
    /* point of no return: a ping in progress ends here */
    struct raw_pcb *pcb = pg->pcb, *pcb6 = pg->pcb6;
    uint16_t id = (uint16_t)(pg->id + 1);
    memset(pg, 0, sizeof *pg);
    pg->pcb = pcb;
    pg->pcb6 = pcb6;
    pg->id = id ? id : 1;
    pg->v6 = v6;
    memcpy(pg->addr6, addr6, 16);
    pg->addr = (uint32_t)addr;
    pg->count = (unsigned)count;
    pg->next_ns = keel_now_ns();
    return 0;
}

static int64_t do_ping_status(void *ctx, struct keel_msg *m)
{
    struct netd_admin *a = ctx;
    const struct netd_ping *pg = &a->ping;
    m->mr[0] = pg->sent;
    m->mr[1] = pg->received;
    m->mr[2] = !pg->count || ping_done(pg, keel_now_ns());
    m->mr[3] = pg->rtt_min_us << 32 | (pg->rtt_max_us & 0xffffffffull);
    return 0;
}

static int64_t do_clear(void *ctx, struct keel_msg *m)
{
    (void)m;
    struct netd_admin *a = ctx;
    struct srv_client_region *c = a->caller;
    for (unsigned k = 0; k < a->n_nics; k++)
        memset(&a->nics[k].stats, 0, sizeof a->nics[k].stats);
    struct fw_ruleset *rs = a->fw->eng.rules;
    for (unsigned i = 0; i < rs->count; i++)
        memset(&rs->rules[i].c, 0, sizeof rs->rules[i].c);
    memset(&rs->none, 0, sizeof rs->none);
    memset(&a->fw->c, 0, sizeof a->fw->c);
    ulog("netd: admin: %s: counters cleared\n", c->name);
    return 0;
}

/* The table named at the client's NETADM_IN_OFF (MR1 bytes), or an error. */
static int64_t table_of(struct netd_admin *a, const struct srv_client_region *c, uint64_t len, int *ti)
{
    char name[FW_TABLE_NAME];
    if (len == 0 || len >= sizeof name)
        return NETADM_E_INVAL;
    memcpy(name, c->base + NETADM_IN_OFF, (size_t)len); /* our own copy: the client may change its region */
    *ti = fw_table_find(a->fw->eng.rules, name, (size_t)len);
    return *ti < 0 ? NETADM_E_NO_TABLE : 0;
}

static void table_rows(const struct fw_table *t, struct out *o)
{
    for (unsigned i = 0; i < t->n; i++) {
        char row[32], ip[20];
        ip_str(ip, sizeof ip, t->e[i].addr);
        int n = snprintf(row, sizeof row, "%s%s/%u", t->e[i].neg ? "!" : "", ip, (unsigned)t->e[i].prefix);
        out_row(o, row, (size_t)n);
    }
}

static int64_t do_table(void *ctx, struct keel_msg *m)
{
    struct netd_admin *a = ctx;
    int ti;
    int64_t e = table_of(a, a->caller, m->mr[1], &ti);
    if (e)
        return e;
    struct srv_client_region *c = a->caller;
    uint64_t op = m->mr[0], addr = m->mr[2], prefix = m->mr[3];
    struct fw_ruleset *rs = a->fw->eng.rules;
    struct fw_table *t = &rs->tables[ti];
    if (op == NETADM_TABLE_SHOW) {
        struct out o = { (char *)c->base + NETADM_OUT_OFF, 0, NETADM_OUT_MAX, false };
        table_rows(t, &o);
        m->mr[0] = o.len;
        m->mr[1] = o.cut;
        return 0;
    }
    if (op < NETADM_TABLE_ADD || op > NETADM_TABLE_FLUSH || addr > 0xffffffffull || prefix > 32)
        return NETADM_E_INVAL;
    if (t->konst)
        return NETADM_E_CONST;
    int rc = FW_OK;
    unsigned before = t->n;
    if (op == NETADM_TABLE_ADD)
        rc = fw_table_add(rs, (unsigned)ti, (uint32_t)addr, (unsigned)prefix, false);
    else if (op == NETADM_TABLE_DELETE)
        rc = fw_table_delete(rs, (unsigned)ti, (uint32_t)addr, (unsigned)prefix);
    else
        fw_table_flush(rs, (unsigned)ti);
    if (rc == FW_E_EXISTS)
        return NETADM_E_EXISTS;
    if (rc == FW_E_NOT_FOUND)
        return NETADM_E_NOT_FOUND;
    if (rc == FW_E_FULL)
        return NETADM_E_FULL;
    if (rc)
        return NETADM_E_INVAL;
    char ip[20];
    ip_str(ip, sizeof ip, (uint32_t)addr);
    if (op == NETADM_TABLE_FLUSH)
        ulog("netd: admin: %s: table <%s> flushed (%u addresses)\n", c->name, t->name, before);
    else
        ulog("netd: admin: %s: table <%s> %s %s/%u\n", c->name, t->name, op == NETADM_TABLE_ADD ? "add" : "delete", ip,
             (unsigned)prefix);
    m->mr[0] = op == NETADM_TABLE_FLUSH ? before : 0;
    return 0;
}

static const struct srv_handler handlers[] = {
    { NETADM_PREPARE, 1, do_prepare }, { NETADM_COMMIT, 0, do_commit }, { NETADM_ABORT, 0, do_abort },
    { NETADM_SHOW, 1, do_show },       { NETADM_PING, 2, do_ping },     { NETADM_PING_STATUS, 0, do_ping_status },
    { NETADM_CLEAR, 0, do_clear },     { NETADM_TABLE, 4, do_table },
};

bool netd_admin_owns(const struct keel_msg *m)
{
    uint32_t id = SRV_LABEL_ID((uint32_t)keel_label(m));
    return id > NETADM_LABEL_BASE && id <= NETADM_TABLE;
}

int netd_admin_dispatch(struct netd_admin *a, struct keel_msg *m)
{
    const struct srv_loop l = {
        .handlers = handlers, .n_handlers = sizeof handlers / sizeof handlers[0], .admit = admit, .ctx = a
    };
    return srv_dispatch(&l, m);
}
