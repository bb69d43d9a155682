/*
 * fw_log.c - rate limiting and formatting of the firewall's log lines
 * (contract in fw_log.h).
 *
 * The token bucket keeps its credit in nanoseconds: time adds credit one to
 * one, a line costs 1e9 / per_sec of it, and the credit is capped at
 * `burst` lines.  A clock that steps backwards adds nothing.
 */
#include "fw_log.h"

#include <keel/textbuf.h>

void fw_ratelimit_init(struct fw_ratelimit *rl, uint32_t per_sec, uint32_t burst, uint64_t now)
{
    rl->cost = per_sec ? FW_NS_PER_SEC / per_sec : 0;
    rl->cap = rl->cost * (burst ? burst : 1);
    rl->credit = rl->cap;
    rl->last = now;
    rl->suppressed = 0;
}

bool fw_ratelimit_allow(struct fw_ratelimit *rl, uint64_t now)
{
    if (now > rl->last) {
        uint64_t add = now - rl->last;
        rl->credit = add >= rl->cap - rl->credit ? rl->cap : rl->credit + add;
        rl->last = now;
    }
    if (rl->cost == 0 || rl->credit < rl->cost) {
        rl->suppressed++;
        return false;
    }
    rl->credit -= rl->cost;
    return true;
}

uint64_t fw_ratelimit_take_suppressed(struct fw_ratelimit *rl)
{
    uint64_t n = rl->suppressed;
    rl->suppressed = 0;
    return n;
}

static void put_iface(struct textbuf *b, const struct fw_ifaces *ifs, unsigned idx)
{
    if (ifs && idx < ifs->count && idx < FW_MAX_IFACES) {
        const char *name = ifs->ifs[idx].name;
        size_t n = 0;
        while (n < FW_IFNAMSIZ && name[n])
            n++;
        tb_putn(b, name, n);
        return;
    }
    tb_put(b, "if");
    tb_u64(b, idx);
}

static void put_dir_iface(struct textbuf *b, unsigned dir, const struct fw_ifaces *ifs, unsigned iface)
{
    tb_put(b, dir == FW_IN ? " in on " : dir == FW_OUT ? " out on " : " ? on ");
    put_iface(b, ifs, iface);
}

static void put_proto(struct textbuf *b, unsigned proto)
{
    if (proto == FW_PROTO_TCP)
        tb_put(b, "tcp");
    else if (proto == FW_PROTO_UDP)
        tb_put(b, "udp");
    else if (proto == FW_PROTO_ICMP)
        tb_put(b, "icmp");
    else {
        tb_put(b, "proto ");
        tb_u64(b, proto);
    }
}

/* "A:P -> B:Q" for TCP/UDP, "A -> B" otherwise. */
static void put_ends(struct textbuf *b, unsigned proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    bool ports = proto == FW_PROTO_TCP || proto == FW_PROTO_UDP;
    tb_put(b, " ");
    tb_ipv4(b, src);
    if (ports) {
        tb_put(b, ":");
        tb_u64(b, sport);
    }
    tb_put(b, " -> ");
    tb_ipv4(b, dst);
    if (ports) {
        tb_put(b, ":");
        tb_u64(b, dport);
    }
}

static void put_tcp_flags(struct textbuf *b, uint8_t f)
{
    static const char letters[] = "FSRPAUEW";
    tb_put(b, " [");
    for (int i = 0; i < 8; i++)
        if (f & (1u << i))
            tb_putn(b, &letters[i], 1);
    tb_put(b, "]");
}

static void put_suppressed(struct textbuf *b, uint64_t suppressed)
{
    if (!suppressed)
        return;
    tb_put(b, " (");
    tb_u64(b, suppressed);
    tb_put(b, " suppressed)");
}

size_t fw_log_format(char *buf, size_t cap, const struct fw_packet *p, const struct fw_verdict *v,
                     const struct fw_ifaces *ifs, uint64_t suppressed)
{
    struct textbuf b;
    tb_init(&b, buf, cap);
    tb_put(&b, v->action == FW_PASS ? "fw: pass" : "fw: block");
    put_dir_iface(&b, p->dir, ifs, p->iface);
    tb_put(&b, " ");
    put_proto(&b, p->proto);
    put_ends(&b, p->proto, p->src, p->sport, p->dst, p->dport);
    if (p->proto == FW_PROTO_TCP)
        put_tcp_flags(&b, p->tcp_flags);
    if (p->proto == FW_PROTO_ICMP) {
        tb_put(&b, " type ");
        tb_u64(&b, p->icmp_type);
        tb_put(&b, " code ");
        tb_u64(&b, p->icmp_code);
    }
    tb_put(&b, " len ");
    tb_u64(&b, p->len);
    tb_put(&b, ": ");
    tb_put(&b, fw_reason_name(v->reason));
    if (v->rule >= 0) {
        tb_put(&b, " @");
        tb_u64(&b, (uint64_t)v->rule);
        tb_put(&b, " (line ");
        tb_u64(&b, v->line);
        tb_put(&b, ")");
    }
    put_suppressed(&b, suppressed);
    return b.len;
}

size_t fw_log_format_malformed(char *buf, size_t cap, unsigned dir, unsigned iface, int err,
                               const struct fw_ifaces *ifs, uint64_t suppressed)
{
    struct textbuf b;
    tb_init(&b, buf, cap);
    tb_put(&b, "fw: drop");
    put_dir_iface(&b, dir, ifs, iface);
    tb_put(&b, ": ");
    tb_put(&b, fw_pkt_reason_name(err));
    put_suppressed(&b, suppressed);
    return b.len;
}

size_t fw_state_format(const struct fw_state *s, const struct fw_ifaces *ifs, uint64_t now, char *buf, size_t cap)
{
    struct textbuf b;
    tb_init(&b, buf, cap);
    put_proto(&b, s->proto);
    put_ends(&b, s->proto, s->src, s->sport, s->dst, s->dport);
    if (s->proto == FW_PROTO_ICMP) {
        tb_put(&b, " id ");
        tb_u64(&b, s->sport);
    }
    put_dir_iface(&b, s->dir, ifs, s->iface);
    if (s->proto == FW_PROTO_TCP) {
        tb_put(&b, " ");
        tb_put(&b, fw_tcp_state_name(s->tcp));
    } else {
        tb_put(&b, (s->flags & FW_SF_REPLIED) ? " replied" : " single");
    }
    for (int i = 0; i < 2; i++) {
        tb_put(&b, " ");
        tb_u64(&b, s->packets[i]);
        tb_put(&b, ":");
        tb_u64(&b, s->bytes[i]);
    }
    tb_put(&b, " expires ");
    tb_u64(&b, s->expires > now ? (s->expires - now) / FW_NS_PER_SEC : 0);
    tb_put(&b, "s");
    return b.len;
}
