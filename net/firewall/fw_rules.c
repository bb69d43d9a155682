/*
 * fw_rules.c - the compiled rule set (meaning in fw_rules.h): building it,
 * its tables, swapping it in, and printing a rule in pfctl's form.
 *
 * Tables are small arrays scanned whole (FW_TABLE_SIZE entries): a lookup
 * costs one pass over the table a rule names, only for rules that name one.
 * Enough for block lists and overload tables of a few hundred addresses.
 *
 * No allocation, no globals: the caller owns the rule set.
 */
#include "fw_rules.h"

#include "fw6.h"

#include <keel/string.h>

#include <keel/textbuf.h>

static size_t span_until(const char *s, size_t n, char ch)
{
    size_t i = 0;
    while (i < n && s[i] != ch)
        i++;
    return i;
}

static uint32_t prefix_mask(uint32_t len) { return len == 0 ? 0 : 0xffffffffu << (32 - len); }

void fw_ruleset_init(struct fw_ruleset *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->valid = true;
}

/* LABEL's offset + 1 in the set's label text, adding it (the previous
 * rule's label is reused: rules of one list share theirs); 0 if it does
 * not fit. */
static uint16_t label_ref(struct fw_ruleset *rs, const char *label)
{
    size_t n = strnlen(label, FW_LABEL_MAX - 1);
    if (rs->count && rs->rules[rs->count - 1].label) {
        const char *prev = rs->label_text + rs->rules[rs->count - 1].label - 1;
        if (strlen(prev) == n && memcmp(prev, label, n) == 0)
            return rs->rules[rs->count - 1].label;
    }
    if (rs->label_len + n + 1 > sizeof rs->label_text)
        return 0;
    memcpy(rs->label_text + rs->label_len, label, n);
    rs->label_text[rs->label_len + n] = '\0';
    uint16_t ref = (uint16_t)(rs->label_len + 1);
    rs->label_len += n + 1;
    return ref;
}

int fw_ruleset_add(struct fw_ruleset *rs, const struct fw_rule *r, const char *label)
{
    _Static_assert(FW_LABEL_TEXT < 65535, "label offsets fit 16 bits");
    if (rs->count >= FW_MAX_RULES)
        return FW_E_FULL;
    uint16_t ref = 0;
    if (label && label[0] && (ref = label_ref(rs, label)) == 0)
        return FW_E_FULL;
    rs->rules[rs->count] = *r;
    rs->rules[rs->count].label = ref;
    memset(&rs->rules[rs->count].c, 0, sizeof r->c);
    rs->rules[rs->count].nat.states = 0;
    rs->count++;
    return FW_OK;
}

const char *fw_rule_label(const struct fw_ruleset *rs, const struct fw_rule *r)
{
    return rs && r->label && r->label <= rs->label_len ? rs->label_text + r->label - 1 : "";
}

int fw_table_find(const struct fw_ruleset *rs, const char *name, size_t len)
{
    for (unsigned i = 0; i < rs->n_tables; i++)
        if (strnlen(rs->tables[i].name, FW_TABLE_NAME) == len && memcmp(rs->tables[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

int fw_table_new(struct fw_ruleset *rs, const char *name, bool persist, bool konst)
{
    size_t len = strlen(name);
    if (len == 0 || len >= FW_TABLE_NAME)
        return FW_E_INVAL;
    if (fw_table_find(rs, name, len) >= 0)
        return FW_E_EXISTS;
    if (rs->n_tables == FW_MAX_TABLES)
        return FW_E_FULL;
    struct fw_table *t = &rs->tables[rs->n_tables];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len);
    t->persist = persist;
    t->konst = konst;
    return (int)rs->n_tables++;
}

static int entry_index(const struct fw_table *t, uint32_t addr, unsigned prefix)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->e[i].addr == addr && t->e[i].prefix == prefix)
            return (int)i;
    return -1;
}

int fw_table_add(struct fw_ruleset *rs, unsigned ti, uint32_t addr, unsigned prefix, bool neg)
{
    if (ti >= rs->n_tables || prefix > 32)
        return FW_E_INVAL;
    struct fw_table *t = &rs->tables[ti];
    addr &= prefix_mask(prefix);
    if (entry_index(t, addr, prefix) >= 0)
        return FW_E_EXISTS;
    if (t->n == FW_TABLE_SIZE)
        return FW_E_FULL;
    t->e[t->n++] = (struct fw_table_entry){ addr, (uint8_t)prefix, neg };
    return FW_OK;
}

int fw_table_delete(struct fw_ruleset *rs, unsigned ti, uint32_t addr, unsigned prefix)
{
    if (ti >= rs->n_tables || prefix > 32)
        return FW_E_INVAL;
    struct fw_table *t = &rs->tables[ti];
    int i = entry_index(t, addr & prefix_mask(prefix), prefix);
    if (i < 0)
        return FW_E_NOT_FOUND;
    t->e[i] = t->e[--t->n]; /* order does not matter: the longest prefix decides */
    return FW_OK;
}

void fw_table_flush(struct fw_ruleset *rs, unsigned ti)
{
    if (ti < rs->n_tables) {
        rs->tables[ti].n = 0;
        rs->tables[ti].n6 = 0;
    }
}

bool fw_table_match(const struct fw_ruleset *rs, unsigned ti, uint32_t addr)
{
    if (ti >= rs->n_tables)
        return false;
    const struct fw_table *t = &rs->tables[ti];
    int best = -1;
    bool neg = false;
    for (unsigned i = 0; i < t->n; i++) {
        const struct fw_table_entry *e = &t->e[i];
        if ((addr & prefix_mask(e->prefix)) == e->addr && (int)e->prefix > best) {
            best = e->prefix;
            neg = e->neg;
        }
    }
    return best >= 0 && !neg;
}

int fw_ruleset_replace(struct fw_ruleset **active, struct fw_ruleset **candidate)
{
    if (!active || !candidate || !*active || !*candidate || *active == *candidate)
        return FW_E_INVAL;
    struct fw_ruleset *next = *candidate;
    if (!next->valid)
        return FW_E_NOT_VALID;
    next->generation = (*active)->generation + 1;
    /* point of no return: one pointer store makes the new set active */
    *candidate = *active;
    *active = next;
    return FW_OK;
}

/* ----------------------------------------------------------- printing --- */

static void put_iface(struct textbuf *b, const struct fw_ifaces *ifs, int idx)
{
    if (ifs && idx >= 0 && (unsigned)idx < ifs->count && idx < FW_MAX_IFACES) {
        tb_putn(b, ifs->ifs[idx].name, span_until(ifs->ifs[idx].name, FW_IFNAMSIZ, '\0'));
        return;
    }
    tb_put(b, "if");
    tb_u64(b, (uint64_t)idx);
}

static void put_addr(struct textbuf *b, const struct fw_addr *a, const struct fw_ifaces *ifs,
                     const struct fw_ruleset *rs)
{
    tb_put(b, a->neg ? " ! " : " ");
    switch (a->kind) {
    case FW_ADDR_TABLE:
        tb_put(b, "<");
        if (rs && a->index < rs->n_tables)
            tb_putn(b, rs->tables[a->index].name, strnlen(rs->tables[a->index].name, FW_TABLE_NAME));
        else
            tb_u64(b, a->index);
        tb_put(b, ">");
        return;
    case FW_ADDR_IFADDR:
        tb_put(b, "(");
        put_iface(b, ifs, a->index);
        tb_put(b, ")");
        return;
    case FW_ADDR_IFNET:
        put_iface(b, ifs, a->index);
        tb_put(b, ":network");
        return;
    case FW_ADDR_SELF: tb_put(b, "self"); return;
    default: break;
    }
    if (a->mask == 0) {
        tb_put(b, "any");
        return;
    }
    tb_ipv4(b, a->addr);
    if (a->mask != 0xffffffffu) {
        unsigned len = 0;
        for (uint32_t m = a->mask; m & 0x80000000u; m <<= 1)
            len++;
        tb_put(b, "/");
        tb_u64(b, len);
    }
}

/* pfctl's port form: "port = 80", "port 1000:2000", "port 1 >< 9". */
static void put_port(struct textbuf *b, const struct fw_port *pt)
{
    static const char *const ops[] = { [FW_PORT_EQ] = "= ",  [FW_PORT_NE] = "!= ", [FW_PORT_LT] = "< ",
                                       [FW_PORT_LE] = "<= ", [FW_PORT_GT] = "> ",  [FW_PORT_GE] = ">= " };
    tb_put(b, " port ");
    if (pt->op >= FW_PORT_EQ && pt->op <= FW_PORT_GE)
        tb_put(b, ops[pt->op]);
    tb_u64(b, pt->lo);
    if (pt->op >= FW_PORT_RANGE) {
        tb_put(b, pt->op == FW_PORT_RANGE ? ":" : pt->op == FW_PORT_INSIDE ? " >< " : " <> ");
        tb_u64(b, pt->hi);
    }
}

static bool host_is_any(const struct fw_addr *a, const struct fw_port *pt)
{
    return a->kind == FW_ADDR_NET && a->mask == 0 && !a->neg && pt->op == FW_PORT_ANY;
}

static void put_flags(struct textbuf *b, uint8_t v)
{
    static const char letters[] = "FSRPAUEW";
    for (int i = 0; i < 8; i++)
        if (v & (1u << i))
            tb_putn(b, &letters[i], 1);
}

static void put_proto(struct textbuf *b, uint8_t proto)
{
    static const struct {
        uint8_t n;
        const char *name;
    } names[] = { { 1, "icmp" }, { 6, "tcp" }, { 17, "udp" },      { 47, "gre" },
                  { 50, "esp" }, { 51, "ah" }, { 58, "ipv6-icmp" } };
    tb_put(b, " proto ");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].n == proto) {
            tb_put(b, names[i].name);
            return;
        }
    tb_u64(b, proto);
}

static void put_action(struct textbuf *b, const struct fw_rule *r)
{
    if (r->action == FW_PASS) {
        tb_put(b, "pass");
    } else if (r->action == FW_MATCH) {
        tb_put(b, "match");
    } else if (r->flags & FW_RF_RETURN_RST) {
        tb_put(b, "block return-rst");
    } else if (r->flags & FW_RF_RETURN_ICMP6) {
        tb_put(b, "block return-icmp6");
        if (r->return_code6 != 4) {
            tb_put(b, " (");
            tb_u64(b, r->return_code6);
            tb_put(b, ")");
        }
    } else if (r->flags & FW_RF_RETURN_ICMP) {
        tb_put(b, "block return-icmp");
        if (r->return_code != 3 || (r->return_code6 != 4 && r->af != 4)) {
            tb_put(b, " (");
            tb_u64(b, r->return_code);
            if (r->return_code6 != 4 && r->af != 4) {
                tb_put(b, ", ");
                tb_u64(b, r->return_code6);
            }
            tb_put(b, ")");
        }
    } else {
        tb_put(b, (r->flags & FW_RF_RETURN) ? "block return" : "block drop");
    }
}

/* " keep state (max N, max-src-conn N, max-src-conn-rate N/S, overload <t> flush global)";
 * " modulate state [(...)]" for a modulating rule (keep state alone is the default: not written). */
static void put_state_options(struct textbuf *b, const struct fw_rule *r, const struct fw_ruleset *rs)
{
    bool mod = (r->flags & FW_RF_MODULATE) != 0;
    if (mod)
        tb_put(b, " modulate state");
    if (!r->max_states && !r->max_src_conn && !r->rate_conns)
        return;
    const char *sep = mod ? " (" : " keep state (";
    if (r->max_states) {
        tb_put(b, sep);
        tb_put(b, "max ");
        tb_u64(b, r->max_states);
        sep = ", ";
    }
    if (r->max_src_conn) {
        tb_put(b, sep);
        tb_put(b, "max-src-conn ");
        tb_u64(b, r->max_src_conn);
        sep = ", ";
    }
    if (r->rate_conns) {
        tb_put(b, sep);
        tb_put(b, "max-src-conn-rate ");
        tb_u64(b, r->rate_conns);
        tb_put(b, "/");
        tb_u64(b, r->rate_secs);
        sep = ", ";
    }
    if (r->overload >= 0) {
        struct fw_addr t = { .kind = FW_ADDR_TABLE, .index = (uint8_t)r->overload };
        tb_put(b, sep);
        tb_put(b, "overload");
        put_addr(b, &t, NULL, rs);
        tb_put(b, r->flush == 2 ? " flush global" : r->flush ? " flush" : "");
    }
    tb_put(b, ")");
}

/* " nat-to (wan) port 50001:65535", " rdr-to 10.1.0.5 port 8080", " binat-to 203.0.113.5" */
static void put_nat(struct textbuf *b, const struct fw_rule_nat *n, const struct fw_ifaces *ifs)
{
    static const char *const kinds[] = { "", " nat-to", " rdr-to", " binat-to" };
    tb_put(b, n->kind < 4 ? kinds[n->kind] : " ?");
    struct fw_addr a = { .kind = n->addr_kind, .index = n->index, .addr = n->addr, .mask = 0xffffffffu };
    put_addr(b, &a, ifs, NULL);
    if (n->lo) {
        tb_put(b, " port ");
        tb_u64(b, n->lo);
        if (n->hi != n->lo) {
            tb_put(b, ":");
            tb_u64(b, n->hi);
        }
    }
}

/* An inet6 rule's address: its IPv6 prefix (fw6.h) when NET, else put_addr. */
static void put_host(struct textbuf *b, const struct fw_rule *r, const struct fw_addr *a, const struct fw_net6 *n6,
                     const struct fw_ifaces *ifs, const struct fw_ruleset *rs)
{
    if (r->af != 6 || a->kind != FW_ADDR_NET || n6->prefix == 0) {
        put_addr(b, a, ifs, rs);
        return;
    }
    char text[48];
    tb_put(b, a->neg ? " ! " : " ");
    tb_put(b, fw6_ntop(n6->a, text, sizeof text));
    if (n6->prefix != 128) {
        tb_put(b, "/");
        tb_u64(b, n6->prefix);
    }
}

/* The part after the interface: af, proto, hosts, options. */
static void put_filter_tail(struct textbuf *b, const struct fw_rule *r, const struct fw_ifaces *ifs,
                            const struct fw_ruleset *rs)
{
    if (r->af == 6) /* inet is left out, as the listings always did (an IPv4 address implies it) */
        tb_put(b, " inet6");
    if (r->proto != FW_PROTO_ANY)
        put_proto(b, r->proto);
    bool any6 = r->af != 6 || (r->src6.prefix == 0 && r->dst6.prefix == 0);
    if (any6 && host_is_any(&r->src, &r->sport) && host_is_any(&r->dst, &r->dport)) {
        tb_put(b, " all");
    } else {
        tb_put(b, " from");
        put_host(b, r, &r->src, &r->src6, ifs, rs);
        if (r->sport.op != FW_PORT_ANY)
            put_port(b, &r->sport);
        tb_put(b, " to");
        put_host(b, r, &r->dst, &r->dst6, ifs, rs);
        if (r->dport.op != FW_PORT_ANY)
            put_port(b, &r->dport);
    }
    if (r->tcp_mask) {
        tb_put(b, " flags ");
        put_flags(b, r->tcp_set);
        tb_put(b, "/");
        put_flags(b, r->tcp_mask);
    }
    if (r->icmp_type != FW_ICMP_ANY) {
        tb_put(b, r->proto == 58 ? " icmp6-type " : " icmp-type ");
        tb_u64(b, r->icmp_type);
        if (r->icmp_code != FW_ICMP_ANY) {
            tb_put(b, " code ");
            tb_u64(b, r->icmp_code);
        }
    }
    if (r->action == FW_PASS && !(r->flags & FW_RF_KEEP_STATE))
        tb_put(b, " no state");
    if ((r->flags & FW_RF_KEEP_STATE) &&
        ((r->flags & FW_RF_MODULATE) || r->rate_conns || r->max_states || r->max_src_conn))
        put_state_options(b, r, rs);
    if (r->flags & FW_RF_ALLOW_OPTS)
        tb_put(b, " allow-opts");
    if (r->max_mss) {
        tb_put(b, " scrub (max-mss ");
        tb_u64(b, r->max_mss);
        tb_put(b, ")");
    }
    if (r->nat.kind)
        put_nat(b, &r->nat, ifs);
    const char *label = fw_rule_label(rs, r);
    if (label[0]) {
        tb_put(b, " label \"");
        tb_put(b, label);
        tb_put(b, "\"");
    }
}

size_t fw_rule_format(const struct fw_rule *r, const struct fw_ifaces *ifs, const struct fw_ruleset *rs, char *buf,
                      size_t cap)
{
    struct textbuf b;
    tb_init(&b, buf, cap);
    if (r->flags & FW_RF_ANTISPOOF) {
        tb_put(&b, "antispoof");
        tb_put(&b, (r->flags & FW_RF_LOG) ? " log" : "");
        tb_put(&b, (r->flags & FW_RF_QUICK) ? " quick" : "");
        tb_put(&b, " for ");
        put_iface(&b, ifs, r->iface);
        tb_put(&b, r->af == 4 ? " inet" : r->af == 6 ? " inet6" : "");
        return b.len;
    }
    put_action(&b, r);
    tb_put(&b, r->dir == FW_IN ? " in" : r->dir == FW_OUT ? " out" : "");
    tb_put(&b, (r->flags & FW_RF_LOG) ? " log" : "");
    tb_put(&b, (r->flags & FW_RF_QUICK) ? " quick" : "");
    if (r->iface >= 0) {
        tb_put(&b, " on ");
        put_iface(&b, ifs, r->iface);
    }
    put_filter_tail(&b, r, ifs, rs);
    return b.len;
}
