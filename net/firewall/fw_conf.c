/*
 * fw_conf.c - appliance.conf's firewall statements into the engine's rule
 * set (contract in fw_conf.h).
 *
 * The walk (conf_pf_walk) hands over tables first-mentioned-first, so a
 * table's index in the configuration is its index in the rule set; the
 * options come last and turn `block` rules without a mode into `block
 * return` when `set block-policy return` was written (pf applies the
 * policy to the whole rule set, wherever the set line stands).
 */
#include "fw_conf.h"

#include "fw6.h"

#include <keel/string.h>

#include "fw_nat.h"

#include <keel/textbuf.h>

struct compile {
    struct fw_ruleset *rs;
    const int8_t *ifmap;
    struct fw_conf_options *opt;
    uint64_t policy[FW_MAX_RULES / 64]; /* bit i: rule i is a block without a mode (block-policy decides) */
};

static uint32_t mask_of(unsigned prefix) { return prefix ? 0xffffffffu << (32 - prefix) : 0; }

static int8_t map_iface(const struct compile *k, int i) { return i >= 0 && i < CONF_MAX_IFACES ? k->ifmap[i] : -1; }

static void addr(const struct compile *k, const struct conf_pf_addr *in, struct fw_addr *out, struct fw_net6 *net6)
{
    memset(out, 0, sizeof *out);
    memset(net6, 0, sizeof *net6);
    out->neg = in->neg;
    switch (in->kind) {
    case CONF_PFA_NET:
        if (in->ip.af == CONF_AF_INET6) { /* the rule is inet6 (conf_pf: one family per rule) */
            memcpy(net6->a, in->ip.a, 16);
            net6->prefix = in->prefix;
            break;
        }
        out->mask = mask_of(in->prefix);
        out->addr = conf_ip_v4(&in->ip) & out->mask;
        break;
    case CONF_PFA_TABLE:
        out->kind = FW_ADDR_TABLE;
        out->index = in->index;
        break;
    case CONF_PFA_IFADDR:
    case CONF_PFA_IFNET:
        out->kind = in->kind == CONF_PFA_IFADDR ? FW_ADDR_IFADDR : FW_ADDR_IFNET;
        out->index = (uint8_t)map_iface(k, in->index);
        break;
    case CONF_PFA_SELF: out->kind = FW_ADDR_SELF; break;
    default: break; /* any */
    }
}

static void port(const struct conf_pf_port *in, struct fw_port *out)
{
    _Static_assert((int)CONF_PORT_OUTSIDE == (int)FW_PORT_OUTSIDE && (int)CONF_PORT_EQ == (int)FW_PORT_EQ,
                   "the same port operators");
    out->op = in->op;
    out->lo = in->lo;
    out->hi = in->hi;
}

static uint16_t block_flags(uint8_t mode)
{
    switch (mode) {
    case CONF_PF_DROP: return FW_RF_DROP;
    case CONF_PF_RETURN: return FW_RF_RETURN;
    case CONF_PF_RETURN_RST: return FW_RF_RETURN_RST;
    case CONF_PF_RETURN_ICMP: return FW_RF_RETURN_ICMP;
    case CONF_PF_RETURN_ICMP6: return FW_RF_RETURN_ICMP | FW_RF_RETURN_ICMP6;
    default: return 0;
    }
}

/* IN's translation (conf_pf checked: a host address or (IFACE), IPv4,
 * ports only for nat-to and rdr-to) into R. */
static void nat(const struct compile *k, const struct conf_pf_rule *in, struct fw_rule *r)
{
    static const uint8_t kinds[] = {
        [CONF_PF_NAT_TO] = FW_NAT_SNAT, [CONF_PF_RDR_TO] = FW_NAT_RDR, [CONF_PF_BINAT_TO] = FW_NAT_BINAT
    };
    if (!in->nat || in->nat >= sizeof kinds)
        return;
    struct fw_rule_nat *n = &r->nat;
    n->kind = kinds[in->nat];
    if (in->nat_addr.kind == CONF_PFA_IFADDR) {
        n->addr_kind = FW_ADDR_IFADDR;
        n->index = (uint8_t)map_iface(k, in->nat_addr.index);
    } else {
        n->addr_kind = FW_ADDR_NET;
        n->addr = conf_ip_v4(&in->nat_addr.ip);
    }
    if (in->nat_port.op == CONF_PORT_EQ || in->nat_port.op == CONF_PORT_RANGE) {
        n->lo = in->nat_port.lo;
        n->hi = in->nat_port.op == CONF_PORT_RANGE ? in->nat_port.hi : in->nat_port.lo;
    }
}

/*
 * binat-to's in half (pf expands `pass out on IF from A to B binat-to X`
 * into that nat-to and `pass in on IF from B to X rdr-to A`): the rule R
 * mirrored, translating back to its source host.
 */
static int binat_in_half(struct compile *k, const struct conf_pf_rule *in, const struct fw_rule *out)
{
    struct fw_rule r = *out;
    r.dir = FW_IN;
    r.src = out->dst;
    r.sport = out->dport;
    r.dport = out->sport;
    memset(&r.dst, 0, sizeof r.dst);
    if (out->nat.addr_kind == FW_ADDR_IFADDR) {
        r.dst.kind = FW_ADDR_IFADDR;
        r.dst.index = out->nat.index;
    } else {
        r.dst.addr = out->nat.addr;
        r.dst.mask = 0xffffffffu;
    }
    r.nat = (struct fw_rule_nat){ .kind = FW_NAT_RDR, .addr_kind = FW_ADDR_NET, .addr = out->src.addr };
    return fw_ruleset_add(k->rs, &r, in->label) == FW_OK ? 0 : 1;
}

static int on_rule(void *ctx, const struct conf_pf_rule *in)
{
    struct compile *k = ctx;
    struct fw_rule r;
    memset(&r, 0, sizeof r);
    r.action = in->action == CONF_PF_PASS ? FW_PASS : in->action == CONF_PF_MATCH ? FW_MATCH : FW_BLOCK;
    r.dir = in->dir == 1 ? FW_IN : in->dir == 2 ? FW_OUT : FW_BOTH;
    r.proto = in->proto;
    r.iface = map_iface(k, in->iface);
    r.flags =
        (uint16_t)((in->quick ? FW_RF_QUICK : 0) | (in->log ? FW_RF_LOG : 0) | (in->allow_opts ? FW_RF_ALLOW_OPTS : 0) |
                   (in->action == CONF_PF_PASS && in->state != CONF_PF_NO_STATE ? FW_RF_KEEP_STATE : 0) |
                   (in->action == CONF_PF_PASS && in->state == CONF_PF_MODULATE_STATE ? FW_RF_MODULATE : 0));
    if (in->action == CONF_PF_ANTISPOOF) {
        r.flags |= FW_RF_ANTISPOOF;
        r.dir = FW_IN;
    }
    if (in->action == CONF_PF_BLOCK)
        r.flags |= block_flags(in->block_mode);
    r.return_code = in->return_code;
    r.return_code6 = in->return_code6;
    r.tcp_set = in->tcp_set;
    r.tcp_mask = in->tcp_mask;
    addr(k, &in->src, &r.src, &r.src6);
    addr(k, &in->dst, &r.dst, &r.dst6);
    r.af = in->af == CONF_AF_INET6 ? 6 : in->af == CONF_AF_INET ? 4 : 0;
    port(&in->sport, &r.sport);
    port(&in->dport, &r.dport);
    r.icmp_type = in->icmp_type == CONF_PF_ICMP_ANY ? FW_ICMP_ANY : in->icmp_type;
    r.icmp_code = in->icmp_code == CONF_PF_ICMP_ANY ? FW_ICMP_ANY : in->icmp_code;
    r.rate_conns = in->rate_conns;
    r.rate_secs = in->rate_secs;
    r.max_states = in->max_states;
    r.max_src_conn = in->max_src_conn;
    r.overload = in->overload;
    r.flush = in->overload_flush ? (in->overload_flush_global ? 2 : 1) : 0;
    r.max_mss = in->max_mss;
    _Static_assert(FW_LABEL_MAX == CONF_PF_LABEL_MAX, "labels fit");
    r.line = in->line;
    nat(k, in, &r);
    if (in->action == CONF_PF_BLOCK && in->block_mode == CONF_PF_BLOCK_POLICY && k->rs->count < FW_MAX_RULES)
        k->policy[k->rs->count / 64] |= 1ull << (k->rs->count % 64);
    if (fw_ruleset_add(k->rs, &r, in->label) != FW_OK)
        return 1;
    return r.nat.kind == FW_NAT_BINAT ? binat_in_half(k, in, &r) : 0;
}

static int on_table(void *ctx, const struct conf_pf_table *t, const struct conf_pf_table_entry *e, unsigned n)
{
    struct compile *k = ctx;
    int ti = fw_table_new(k->rs, t->name, t->persist, t->konst);
    if (ti != t->index)
        return 2;
    for (unsigned i = 0; i < n; i++) {
        int rc = e[i].ip.af == CONF_AF_INET6
                     ? fw_table_add6(k->rs, (unsigned)ti, e[i].ip.a, e[i].prefix, e[i].neg)
                     : fw_table_add(k->rs, (unsigned)ti, conf_ip_v4(&e[i].ip), e[i].prefix, e[i].neg);
        if (rc == FW_E_FULL)
            return 2;
    }
    return 0;
}

static int on_options(void *ctx, const struct conf_pf_options *o)
{
    struct compile *k = ctx;
    for (unsigned i = 0; i < k->rs->count; i++)
        if ((k->policy[i / 64] >> (i % 64) & 1) && o->block_policy == CONF_PF_RETURN)
            k->rs->rules[i].flags |= FW_RF_RETURN;
    k->opt->skip = 0;
    for (int i = 0; i < CONF_MAX_IFACES; i++)
        if ((o->skip >> i) & 1u && k->ifmap[i] >= 0)
            k->opt->skip |= (uint8_t)(1u << k->ifmap[i]);
    return 0;
}

int fw_conf_compile(const struct conf *c, const int8_t ifmap[CONF_MAX_IFACES], struct fw_ruleset *rs,
                    struct fw_conf_options *opt, struct conf_pf_work *w, char *err, size_t errlen)
{
    struct compile k;
    memset(&k, 0, sizeof k);
    k.rs = rs;
    k.ifmap = ifmap;
    k.opt = opt;
    fw_ruleset_init(rs);
    struct conf_pf_sink sink = { &k, on_rule, on_table, on_options, NULL };
    struct conf_pf_error e;
    int rc = conf_pf_walk(c, &sink, w, &e);
    if (rc == 0)
        return FW_OK;
    rs->valid = false;
    struct textbuf b;
    tb_init(&b, err, errlen);
    if (rc < 0) {
        tb_u64(&b, e.line);
        tb_put(&b, ":");
        tb_u64(&b, e.col);
        tb_put(&b, ": ");
        tb_put(&b, e.msg);
    } else {
        tb_put(&b, rc == 1 ? "more rules than the firewall holds" : "more tables or addresses than it holds");
    }
    return FW_E_INVAL;
}
