/*
 * conf_pf_rule.c - pass, block, match and antispoof rules of appliance.conf
 * (grammar in conf_pf.h), and their expansion into single-valued rules.
 *
 * A rule is read left to right into a template (struct tmpl): the parts
 * that can be lists (interfaces, protocols, addresses, ports, ICMP types)
 * as arrays, the rest once.  The parts before the hosts follow pf's fixed
 * order, which a "phase" enforces so that an error can say what was
 * possible at that column; the options after the hosts come in any order,
 * each at most once (as pfctl).  Then the checks that span parts (a port
 * needs tcp or udp, nat-to needs an out rule, ...), then the expansion: one
 * rule per combination, in pf's nesting order, skipping combinations whose
 * source and destination are of different families (as pfctl does).  The
 * template is checked whole before the first rule is handed over, so a
 * wrong rule hands over nothing.
 */
#include "conf_pf_int.h"

#include <keel/string.h>

/* What Keel's engine does (see CONF_PF_HAVE_INET6 in conf_pf_int.h). */
#define HAVE_NAT      1 /* nat-to, rdr-to, binat-to (IPv4 only) */
#define HAVE_MAX_MSS  1 /* scrub (max-mss N) */
#define HAVE_MODULATE 1 /* modulate state (TCP sequence numbers; other protocols: keep state) */
#define HAVE_SRC_CONN 1 /* state options max, max-src-conn, overload */

#define LIST     CONF_PF_LIST_MAX
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum phase { PH_DIR, PH_LOG, PH_QUICK, PH_ON, PH_AF, PH_PROTO, PH_HOSTS, PH_OPTS };

struct tmpl {
    struct conf_pf_rule r; /* single-valued parts; the list parts' first element is copied in per rule */
    unsigned n_ifs, n_protos, n_src, n_dst, n_sport, n_dport, n_icmp;
    int8_t ifs[CONF_MAX_IFACES];
    uint8_t protos[LIST];
    struct conf_pf_addr src[LIST], dst[LIST];
    struct conf_pf_port sport[LIST], dport[LIST];
    uint16_t icmp[LIST];
    bool icmp6;                    /* icmp6-type */
    bool state_given, flags_given; /* written, not defaulted */
    unsigned port_col, flags_col, icmp_col, state_col, nat_col, af_col;
    unsigned seen; /* option bits, each at most once */
};

/* HOST after from/to: [!] ADDRS [port PORTS] | port PORTS. */
static int host(struct pf_ctx *x, struct tmpl *tp, bool src)
{
    struct conf_pf_addr *a = src ? tp->src : tp->dst;
    unsigned *na = src ? &tp->n_src : &tp->n_dst;
    if (!conf_tok_is(pf_peek(x), "port")) {
        if (pf_at_end(x))
            return pf_fail(x, pf_peek(x)->col, "expected an address or port after from/to", NULL);
        if (pf_address_list(x, a, na))
            return -1;
    }
    if (src && conf_tok_is(pf_peek(x), "os"))
        return pf_unsupported(x, pf_peek(x), "passive OS fingerprints");
    if (!conf_tok_is(pf_peek(x), "port"))
        return 0;
    const struct conf_tok *kw = pf_next(x);
    if (!tp->port_col)
        tp->port_col = kw->col;
    return pf_port_list(x, src ? tp->sport : tp->dport, src ? &tp->n_sport : &tp->n_dport);
}

/* ------------------------------------------------------ before hosts -- */

static int protocol(struct pf_ctx *x, uint8_t *out)
{
    const struct conf_tok *t = pf_next(x);
    long v = pf_protocol_value(t);
    if (v <= 0)
        return pf_fail(x, t->col, "expected a protocol: tcp, udp, icmp, icmp6, another name or a number 1-255", t);
    if (v == 58 && !CONF_PF_HAVE_INET6)
        return pf_unsupported(x, t, "ICMPv6: Keel filters IPv4 only");
    *out = (uint8_t)v;
    return 0;
}

static int proto_list(struct pf_ctx *x, struct tmpl *tp)
{
    if (!pf_accept_punct(x, "{")) {
        tp->n_protos = 1;
        return protocol(x, &tp->protos[0]);
    }
    tp->n_protos = 0;
    while (!pf_accept_punct(x, "}")) {
        if (pf_at_end(x) || tp->n_protos == LIST)
            return pf_fail(x, pf_peek(x)->col, "expected '}' to close the list of protocols", NULL);
        if (protocol(x, &tp->protos[tp->n_protos++]))
            return -1;
        (void)pf_accept_punct(x, ",");
    }
    return tp->n_protos ? 0 : pf_fail(x, pf_peek(x)->col, "expected at least one protocol in the list", NULL);
}

static int on_iface(struct pf_ctx *x, struct tmpl *tp)
{
    if (pf_accept(x, "any"))
        return 0;
    if (conf_tok_punct(pf_peek(x), "!"))
        return pf_unsupported(x, pf_peek(x), "on ! interface");
    if (conf_tok_is(pf_peek(x), "rdomain"))
        return pf_unsupported(x, pf_peek(x), NULL);
    bool list = pf_accept_punct(x, "{");
    do {
        const struct conf_tok *t = pf_next(x);
        if (list && conf_tok_punct(t, "}"))
            break;
        int k = pf_iface(x, t);
        if (k < 0)
            return pf_fail(x, t->col,
                           t->kind == CONF_T_END ? "expected an interface name"
                                                 : "expected the name of an interface defined by an interface line",
                           t);
        if (tp->n_ifs == CONF_MAX_IFACES)
            return pf_fail(x, t->col, "expected each interface once in the list", t);
        tp->ifs[tp->n_ifs++] = (int8_t)k;
        if (list)
            (void)pf_accept_punct(x, ",");
    } while (list);
    return tp->n_ifs ? 0 : pf_fail(x, pf_peek(x)->col, "expected at least one interface in the list", NULL);
}

/* block's modifiers: drop | return | return-rst | return-icmp [(CODE [, CODE6])] | return-icmp6 [(CODE6)] */
static int block_mode(struct pf_ctx *x, struct conf_pf_rule *r)
{
    r->return_code = 3;  /* port unreachable, as pf */
    r->return_code6 = 4; /* ICMPv6's port unreachable */
    if (pf_accept(x, "drop"))
        r->block_mode = CONF_PF_DROP;
    else if (pf_accept(x, "return"))
        r->block_mode = CONF_PF_RETURN;
    else if (pf_accept(x, "return-rst"))
        r->block_mode = CONF_PF_RETURN_RST;
    else if (pf_accept(x, "return-icmp6"))
        r->block_mode = CONF_PF_RETURN_ICMP6;
    else if (pf_accept(x, "return-icmp"))
        r->block_mode = CONF_PF_RETURN_ICMP;
    else
        return 0;
    if (!conf_tok_punct(pf_peek(x), "("))
        return 0;
    const struct conf_tok *open = pf_next(x);
    if (r->block_mode != CONF_PF_RETURN_ICMP && r->block_mode != CONF_PF_RETURN_ICMP6)
        return pf_unsupported(x, open, "options of return-rst (ttl)");
    bool six = r->block_mode == CONF_PF_RETURN_ICMP6;
    const struct conf_tok *t = pf_next(x);
    long v = six ? pf_unreach6_value(t) : pf_unreach_value(t);
    if (v < 0)
        return pf_fail(x, t->col,
                       six ? "expected an ICMPv6 unreachable code (as port-unr, admin-unr) or a number 0-255"
                           : "expected an unreachable code (as port-unr, host-unr) or a number 0-255",
                       t);
    if (six)
        r->return_code6 = (uint8_t)v;
    else
        r->return_code = (uint8_t)v;
    if (!six && pf_accept_punct(x, ",")) { /* pf's (CODE, CODE6) */
        t = pf_next(x);
        v = pf_unreach6_value(t);
        if (v < 0)
            return pf_fail(x, t->col, "expected an ICMPv6 unreachable code (as port-unr, admin-unr) or a number 0-255",
                           t);
        r->return_code6 = (uint8_t)v;
    }
    if (!pf_accept_punct(x, ")"))
        return pf_fail(x, pf_peek(x)->col, "expected ')' after the code", pf_peek(x));
    return 0;
}

/* "expected <the words allowed from phase PH on> or end of line". */
static int fail_phase(struct pf_ctx *x, unsigned ph, const struct conf_tok *got)
{
    static const char options_words[] = "flags, icmp-type, label, keep state, no state, nat-to, rdr-to, allow-opts";
    static const char *const words[] = { "in, out", "log",   "quick",         "on",
                                         "inet",    "proto", "from, to, all", options_words };
    char msg[220] = "expected ";
    size_t n = strlen(msg);
    for (unsigned i = ph; i <= PH_OPTS; i++) {
        size_t k = strlen(words[i]);
        if (n + k + 24 < sizeof msg) {
            memcpy(msg + n, words[i], k);
            n += k;
            memcpy(msg + n, ", ", 2);
            n += 2;
        }
    }
    memcpy(msg + n - 2, " or end of line", sizeof " or end of line");
    return pf_fail(x, got->col, msg, got);
}

/* The words before the hosts, in pf's order, and then the hosts. */
static int head(struct pf_ctx *x, struct tmpl *tp)
{
    unsigned ph = PH_DIR;
    while (!pf_at_end(x)) {
        const struct conf_tok *t = pf_peek(x);
        int rc = 0;
        if (ph <= PH_DIR && (conf_tok_is(t, "in") || conf_tok_is(t, "out"))) {
            tp->r.dir = conf_tok_is(t, "in") ? 1 : 2;
            ph = PH_LOG;
        } else if (ph <= PH_LOG && conf_tok_is(t, "log")) {
            tp->r.log = true;
            ph = PH_QUICK;
            pf_next(x);
            if (conf_tok_punct(pf_peek(x), "("))
                return pf_unsupported(x, pf_peek(x), "log options");
            continue;
        } else if (ph <= PH_QUICK && conf_tok_is(t, "quick")) {
            tp->r.quick = true;
            ph = PH_ON;
        } else if (ph <= PH_ON && conf_tok_is(t, "on")) {
            pf_next(x);
            rc = on_iface(x, tp);
            ph = PH_AF;
            if (rc)
                return rc;
            continue;
        } else if (ph <= PH_AF && (conf_tok_is(t, "inet") || conf_tok_is(t, "inet6"))) {
            if (conf_tok_is(t, "inet6") && !CONF_PF_HAVE_INET6)
                return pf_unsupported(x, t, "IPv6: Keel filters IPv4 only");
            tp->r.af = conf_tok_is(t, "inet6") ? CONF_AF_INET6 : CONF_AF_INET;
            tp->af_col = t->col;
            ph = PH_PROTO;
        } else if (ph <= PH_PROTO && conf_tok_is(t, "proto")) {
            pf_next(x);
            if (proto_list(x, tp))
                return -1;
            ph = PH_HOSTS;
            continue;
        } else if (ph <= PH_HOSTS && conf_tok_is(t, "all")) {
            ph = PH_OPTS;
        } else if (ph <= PH_HOSTS && (conf_tok_is(t, "from") || conf_tok_is(t, "to"))) {
            bool from = conf_tok_is(t, "from");
            pf_next(x);
            if (host(x, tp, from))
                return -1;
            if (from && conf_tok_is(pf_peek(x), "to")) {
                pf_next(x);
                if (host(x, tp, false))
                    return -1;
            }
            ph = PH_OPTS;
            continue;
        } else {
            return ph;
        }
        pf_next(x);
    }
    return ph;
}

/* ------------------------------------------------------------ options -- */

enum opt_bit {
    OPT_FLAGS = 1,
    OPT_ICMP = 2,
    OPT_LABEL = 4,
    OPT_STATE = 8,
    OPT_OPTS = 16,
    OPT_NAT = 32,
    OPT_SCRUB = 64,
};

static int once(struct pf_ctx *x, struct tmpl *tp, unsigned bit, const struct conf_tok *t)
{
    if (tp->seen & bit)
        return pf_fail(x, t->col, "expected this option once per rule", t);
    tp->seen |= bit;
    return 0;
}

static int flag_letters(const char *s, size_t n, uint8_t *out)
{
    static const char letters[] = "FSRPAUEW"; /* bit order: FIN first */
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(letters, s[i]) : NULL;
        if (!p)
            return -1;
        v |= 1u << (p - letters);
    }
    *out = (uint8_t)v;
    return 0;
}

static int opt_flags(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    static const char what[] = "expected flags any, X/Y or X (letters FSRPAUEW)";
    const struct conf_tok *t = pf_next(x);
    tp->flags_given = true;
    tp->flags_col = kw->col;
    if (conf_tok_is(t, "any"))
        return tp->r.tcp_mask = tp->r.tcp_set = 0, 0;
    if (t->kind != CONF_T_WORD)
        return pf_fail(x, t->col, what, t);
    size_t slash = 0;
    while (slash < t->n && t->s[slash] != '/')
        slash++;
    uint8_t set, mask = 0xff;
    if (flag_letters(t->s, slash, &set) || (slash < t->n && flag_letters(t->s + slash + 1, t->n - slash - 1, &mask)) ||
        mask == 0)
        return pf_fail(x, t->col, what, t);
    if (set & ~mask)
        return pf_fail(x, t->col, "expected flags X/Y with X a subset of Y", t);
    tp->r.tcp_set = set;
    tp->r.tcp_mask = mask;
    return 0;
}

static int icmp_type(struct pf_ctx *x, bool v6, uint16_t *out)
{
    const struct conf_tok *t = pf_next(x);
    long v = pf_icmp_value(t, v6);
    if (v < 0)
        return pf_fail(x, t->col,
                       v6 ? "expected an ICMPv6 type (as echoreq, neighbrsol) or a number 0-255"
                          : "expected an ICMP type (as echoreq, unreach, timex) or a number 0-255",
                       t);
    *out = (uint16_t)v;
    return 0;
}

static int opt_icmp(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    bool v6 = conf_tok_is(kw, "icmp6-type");
    if (v6 && !CONF_PF_HAVE_INET6)
        return pf_unsupported(x, kw, "ICMPv6: Keel filters IPv4 only");
    tp->icmp6 = v6;
    tp->icmp_col = kw->col;
    if (pf_accept_punct(x, "{")) {
        while (!pf_accept_punct(x, "}")) {
            if (pf_at_end(x) || tp->n_icmp == LIST)
                return pf_fail(x, pf_peek(x)->col, "expected '}' to close the list of ICMP types", NULL);
            if (icmp_type(x, v6, &tp->icmp[tp->n_icmp++]))
                return -1;
            (void)pf_accept_punct(x, ",");
        }
        return tp->n_icmp ? 0 : pf_fail(x, pf_peek(x)->col, "expected at least one ICMP type in the list", NULL);
    }
    tp->n_icmp = 1;
    if (icmp_type(x, v6, &tp->icmp[0]))
        return -1;
    if (!pf_accept(x, "code"))
        return 0;
    const struct conf_tok *t = pf_next(x);
    long v = pf_unreach_value(t);
    if (v < 0)
        return pf_fail(x, t->col, "expected an ICMP code (a number 0-255 or a name as port-unr)", t);
    tp->r.icmp_code = (uint16_t)v;
    return 0;
}

static int opt_label(struct pf_ctx *x, struct tmpl *tp)
{
    const struct conf_tok *t = pf_next(x);
    if (t->kind != CONF_T_STRING && t->kind != CONF_T_WORD)
        return pf_fail(x, t->col, "expected a label \"text\" after label", t);
    if (t->n >= CONF_PF_LABEL_MAX)
        return pf_fail(x, t->col, "expected a label of at most 63 bytes", t);
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i] == '$')
            return pf_unsupported(x, t, "label macros ($if, $srcaddr, ...)");
    memcpy(tp->r.label, t->s, t->n);
    tp->r.label[t->n] = '\0';
    return 0;
}

static int state_count(struct pf_ctx *x, uint32_t *out)
{
    const struct conf_tok *t = pf_next(x);
    uint64_t v;
    if (!conf_parse_uint(t->s, t->kind == CONF_T_WORD ? t->n : 0, 1, 1000000, &v))
        return pf_fail(x, t->col, "expected a number 1-1000000", t);
    *out = (uint32_t)v;
    return 0;
}

static int state_rate(struct pf_ctx *x, struct conf_pf_rule *r)
{
    static const char what[] = "expected max-src-conn-rate N/S (N 1-1000000 connections, S 1-86400 seconds)";
    const struct conf_tok *t = pf_next(x);
    size_t slash = 0;
    uint64_t n, s;
    while (slash < t->n && t->s[slash] != '/')
        slash++;
    if (t->kind != CONF_T_WORD || slash == t->n || !conf_parse_uint(t->s, slash, 1, 1000000, &n) ||
        !conf_parse_uint(t->s + slash + 1, t->n - slash - 1, 1, 86400, &s))
        return pf_fail(x, t->col, what, t);
    r->rate_conns = (uint32_t)n;
    r->rate_secs = (uint32_t)s;
    return 0;
}

static int state_overload(struct pf_ctx *x, struct conf_pf_rule *r)
{
    const struct conf_tok *t = pf_next(x);
    if (t->kind != CONF_T_TABLE)
        return pf_fail(x, t->col, "expected a table <NAME> after overload", t);
    int k = pf_table_ref(x, t);
    if (k < 0)
        return -1;
    r->overload = (int8_t)k;
    if (!pf_accept(x, "flush"))
        return 0;
    r->overload_flush = true;
    r->overload_flush_global = pf_accept(x, "global");
    return 0;
}

static bool has_dot(const struct conf_tok *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i] == '.')
            return true;
    return false;
}

/* ( SOPT, ... ) after keep/modulate state. */
static int state_options(struct pf_ctx *x, struct conf_pf_rule *r)
{
    static const char *const unsupported[] = { "no-sync",       "sloppy",         "pflow",    "source-track",
                                               "max-src-nodes", "max-src-states", "if-bound", "max-pkt-rate" };
    for (;;) {
        const struct conf_tok *t = pf_next(x);
        int rc;
        if (!HAVE_SRC_CONN && (conf_tok_is(t, "max") || conf_tok_is(t, "max-src-conn") || conf_tok_is(t, "overload")))
            return pf_unsupported(x, t, "not enforced yet; max-src-conn-rate is");
        if (conf_tok_is(t, "max") && !r->max_states)
            rc = state_count(x, &r->max_states);
        else if (conf_tok_is(t, "max-src-conn") && !r->max_src_conn)
            rc = state_count(x, &r->max_src_conn);
        else if (conf_tok_is(t, "max-src-conn-rate") && !r->rate_conns)
            rc = state_rate(x, r);
        else if (conf_tok_is(t, "overload") && r->overload < 0)
            rc = state_overload(x, r);
        else if (conf_tok_is(t, "floating"))
            rc = 0; /* Keel's states are floating */
        else {
            for (size_t i = 0; i < COUNT(unsupported); i++)
                if (conf_tok_is(t, unsupported[i]))
                    return pf_unsupported(x, t, NULL);
            if (t->kind == CONF_T_WORD && has_dot(t))
                return pf_unsupported(x, t, "per-rule state timeouts");
            return pf_fail(x, t->col, "expected max, max-src-conn, max-src-conn-rate, overload or floating (each once)",
                           t);
        }
        if (rc)
            return rc;
        t = pf_next(x);
        if (conf_tok_punct(t, ")"))
            return 0;
        if (!conf_tok_punct(t, ","))
            return pf_fail(x, t->col, "expected , or ) after a state option", t);
    }
}

static int opt_state(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    const struct conf_tok *t = pf_next(x);
    if (!conf_tok_is(t, "state"))
        return pf_fail(x, t->col, "expected state after keep, modulate or no", t);
    tp->state_given = true;
    tp->state_col = kw->col;
    if (conf_tok_is(kw, "no")) {
        tp->r.state = CONF_PF_NO_STATE;
        return 0;
    }
    if (conf_tok_is(kw, "modulate") && !HAVE_MODULATE)
        return pf_unsupported(x, kw, "modulate state, yet: write keep state");
    tp->r.state = conf_tok_is(kw, "modulate") ? CONF_PF_MODULATE_STATE : CONF_PF_KEEP_STATE;
    if (pf_accept_punct(x, "("))
        return state_options(x, &tp->r);
    return 0;
}

/* scrub (max-mss N) */
static int opt_scrub(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    if (!pf_accept_punct(x, "("))
        return pf_fail(x, pf_peek(x)->col, "expected ( max-mss N ) after scrub", pf_peek(x));
    const struct conf_tok *t = pf_next(x);
    if (!conf_tok_is(t, "max-mss"))
        return t->kind == CONF_T_WORD ? pf_unsupported(x, t, "scrub options other than max-mss")
                                      : pf_fail(x, t->col, "expected max-mss N", t);
    if (!HAVE_MAX_MSS)
        return pf_unsupported(x, kw, "scrub (max-mss), yet");
    t = pf_next(x);
    uint64_t v;
    if (!conf_parse_uint(t->s, t->kind == CONF_T_WORD ? t->n : 0, 64, 65535, &v))
        return pf_fail(x, t->col, "expected an MSS 64-65535", t);
    tp->r.max_mss = (uint16_t)v;
    if (!pf_accept_punct(x, ")"))
        return pf_fail(x, pf_peek(x)->col, "expected ')' after the MSS", pf_peek(x));
    return 0;
}

/* nat-to / rdr-to / binat-to ADDR [port N[:M]] */
static int opt_nat(struct pf_ctx *x, struct tmpl *tp, const struct conf_tok *kw)
{
    if (!HAVE_NAT)
        return pf_unsupported(x, kw, "translation, yet");
    tp->nat_col = kw->col;
    tp->r.nat = conf_tok_is(kw, "nat-to")   ? CONF_PF_NAT_TO
                : conf_tok_is(kw, "rdr-to") ? CONF_PF_RDR_TO
                                            : CONF_PF_BINAT_TO;
    const struct conf_tok *t = pf_peek(x);
    if (conf_tok_punct(t, "{") || t->kind == CONF_T_TABLE)
        return pf_unsupported(x, t, "address pools");
    if (pf_address(x, &tp->r.nat_addr))
        return -1;
    struct conf_pf_addr *a = &tp->r.nat_addr;
    if (a->kind == CONF_PFA_NET && a->ip.af == CONF_AF_INET6)
        return pf_unsupported(x, t, "IPv6 translation: NAT is IPv4 only");
    bool host = a->kind == CONF_PFA_IFADDR || (a->kind == CONF_PFA_NET && a->prefix == 32);
    if (!host)
        return pf_fail(x, t->col, "expected one address or (interface) to translate to", t);
    if (tp->r.nat != CONF_PF_BINAT_TO && pf_accept(x, "port")) {
        if (pf_port(x, &tp->r.nat_port))
            return -1;
        if (tp->r.nat_port.op != CONF_PORT_EQ && tp->r.nat_port.op != CONF_PORT_RANGE)
            return pf_fail(x, t->col, "expected port N or N:M after the address", NULL);
    }
    static const char *const pool[] = { "static-port", "round-robin", "random",
                                        "source-hash", "bitmask",     "sticky-address" };
    for (size_t i = 0; i < COUNT(pool); i++)
        if (conf_tok_is(pf_peek(x), pool[i]))
            return pf_unsupported(x, pf_peek(x), "pool options");
    return 0;
}

static bool unsupported_option(const struct conf_tok *t)
{
    static const char *const words[] = { "user",         "group",         "tos",          "fragment", "once",
                                         "tag",          "tagged",        "queue",        "rtable",   "probability",
                                         "prio",         "set",           "route-to",     "reply-to", "dup-to",
                                         "divert-to",    "divert-packet", "divert-reply", "af-to",    "received-on",
                                         "max-pkt-rate", "synproxy" };
    for (size_t i = 0; i < COUNT(words); i++)
        if (conf_tok_is(t, words[i]))
            return true;
    return false;
}

static int options(struct pf_ctx *x, struct tmpl *tp)
{
    while (!pf_at_end(x)) {
        const struct conf_tok *t = pf_next(x);
        int rc;
        if (conf_tok_is(t, "flags"))
            rc = once(x, tp, OPT_FLAGS, t) || opt_flags(x, tp, t);
        else if (conf_tok_is(t, "icmp-type") || conf_tok_is(t, "icmp6-type"))
            rc = once(x, tp, OPT_ICMP, t) || opt_icmp(x, tp, t);
        else if (conf_tok_is(t, "label"))
            rc = once(x, tp, OPT_LABEL, t) || opt_label(x, tp);
        else if (conf_tok_is(t, "keep") || conf_tok_is(t, "no") || conf_tok_is(t, "modulate"))
            rc = once(x, tp, OPT_STATE, t) || opt_state(x, tp, t);
        else if (conf_tok_is(t, "allow-opts"))
            rc = once(x, tp, OPT_OPTS, t) || (tp->r.allow_opts = true, 0);
        else if (conf_tok_is(t, "scrub"))
            rc = once(x, tp, OPT_SCRUB, t) || opt_scrub(x, tp, t);
        else if (conf_tok_is(t, "nat-to") || conf_tok_is(t, "rdr-to") || conf_tok_is(t, "binat-to"))
            rc = once(x, tp, OPT_NAT, t) || opt_nat(x, tp, t);
        else if (unsupported_option(t))
            return pf_unsupported(x, t, NULL);
        else
            return fail_phase(x, PH_OPTS, t);
        if (rc)
            return -1;
    }
    return 0;
}

/* --------------------------------------------------------- checking -- */

static bool is_tcp_udp(uint8_t p) { return p == 6 || p == 17; }

/* Checks across the parts; fills the defaults pf gives. */
static int check(struct pf_ctx *x, struct tmpl *tp)
{
    struct conf_pf_rule *r = &tp->r;
    bool ports = tp->n_sport || tp->n_dport;
    for (unsigned i = 0; i < tp->n_protos; i++) {
        if (ports && !is_tcp_udp(tp->protos[i]))
            return pf_fail(x, tp->port_col, "expected proto tcp or proto udp before port", NULL);
        if (tp->flags_given && (tp->r.tcp_mask || tp->r.tcp_set) && tp->protos[i] != 6)
            return pf_fail(x, tp->flags_col, "expected proto tcp (or no proto) before flags", NULL);
        if (tp->n_icmp && tp->protos[i] != (tp->icmp6 ? 58 : 1))
            return pf_fail(
                x, tp->icmp_col,
                tp->icmp6 ? "expected proto icmp6 before icmp6-type" : "expected proto icmp before icmp-type", NULL);
    }
    if (ports && !tp->n_protos)
        return pf_fail(x, tp->port_col, "expected proto tcp or proto udp before port", NULL);
    if (tp->n_icmp && !tp->n_protos)
        return pf_fail(x, tp->icmp_col, "expected proto icmp before icmp-type", NULL);
    if (r->action != CONF_PF_PASS && tp->state_given && r->state != CONF_PF_NO_STATE)
        return pf_fail(x, tp->state_col, "expected pass: only pass rules keep state", NULL);
    if (r->action == CONF_PF_PASS && !tp->state_given)
        r->state = CONF_PF_KEEP_STATE; /* pf's default since OpenBSD 4.1 */
    if (r->overload >= 0 && !r->max_src_conn && !r->rate_conns)
        return pf_fail(x, tp->state_col, "expected max-src-conn or max-src-conn-rate with overload", NULL);
    if (r->nat && r->action == CONF_PF_BLOCK)
        return pf_fail(x, tp->nat_col, "expected pass or match: a block rule translates nothing", NULL);
    if ((r->nat == CONF_PF_NAT_TO || r->nat == CONF_PF_BINAT_TO) && r->dir != 2)
        return pf_fail(x, tp->nat_col, "expected an out rule for nat-to and binat-to", NULL);
    if (r->nat == CONF_PF_RDR_TO && r->dir != 1)
        return pf_fail(x, tp->nat_col, "expected an in rule for rdr-to", NULL);
    if (r->nat && r->action == CONF_PF_PASS && r->state == CONF_PF_NO_STATE)
        return pf_fail(x, tp->nat_col, "expected keep state: Keel translates through states (no state)", NULL);
    if (r->state != CONF_PF_NO_STATE && r->action == CONF_PF_PASS && !tp->flags_given) {
        r->tcp_set = 0x02;         /* S */
        r->tcp_mask = 0x02 | 0x10; /* SA */
    }
    if (r->state == CONF_PF_NO_STATE && !tp->flags_given) {
        r->tcp_set = 0;
        r->tcp_mask = 0;
    }
    return 0;
}

/* --------------------------------------------------------- expanding -- */

static uint8_t addr_af(const struct conf_pf_addr *a) { return a->kind == CONF_PFA_NET ? a->ip.af : 0; }

static int emit(struct pf_ctx *x, const struct conf_pf_rule *r)
{
    /* What the IPv6 half of the engine (net/firewall/fw6.h) does not do:
     * refused for a rule that is IPv6 alone, rather than ignored. */
    if (r->af == CONF_AF_INET6 && r->nat)
        return pf_fail(x, 1, "unsupported: translation is not supported by Keel for inet6 rules", NULL);
    if (x->w->rules == CONF_PF_MAX_RULES)
        return pf_fail(x, 1, "expected at most 512 rules in all, after lists are expanded", NULL);
    x->w->rules++;
    if (x->sink && x->sink->rule)
        return pf_sink_rc(x, x->sink->rule(x->sink->ctx, r));
    return 0;
}

/* What the engine's translation needs of one expanded rule. */
static int nat_check(struct pf_ctx *x, const struct tmpl *tp, const struct conf_pf_rule *r)
{
    if (r->af == CONF_AF_INET6)
        return pf_fail(x, tp->nat_col,
                       "unsupported: IPv6 translation is not supported by Keel (NAT is IPv4 only: write inet)", NULL);
    if (r->nat == CONF_PF_BINAT_TO && !(r->src.kind == CONF_PFA_NET && !r->src.neg && r->src.prefix == 32))
        return pf_fail(x, tp->nat_col, "expected one source address (from A.B.C.D) for binat-to", NULL);
    return 0;
}

/* One rule per combination (pf's nesting order). */
static int expand_rules(struct pf_ctx *x, const struct tmpl *tp)
{
    struct conf_pf_rule r = tp->r;
    unsigned made = 0;
    for (unsigned a = 0; a < (tp->n_ifs ? tp->n_ifs : 1); a++)
        for (unsigned b = 0; b < (tp->n_protos ? tp->n_protos : 1); b++)
            for (unsigned c = 0; c < (tp->n_src ? tp->n_src : 1); c++)
                for (unsigned d = 0; d < (tp->n_sport ? tp->n_sport : 1); d++)
                    for (unsigned e = 0; e < (tp->n_dst ? tp->n_dst : 1); e++)
                        for (unsigned f = 0; f < (tp->n_dport ? tp->n_dport : 1); f++)
                            for (unsigned g = 0; g < (tp->n_icmp ? tp->n_icmp : 1); g++) {
                                r.iface = tp->n_ifs ? tp->ifs[a] : -1;
                                r.proto = tp->n_protos ? tp->protos[b] : 0;
                                memset(&r.src, 0, sizeof r.src);
                                memset(&r.dst, 0, sizeof r.dst);
                                memset(&r.sport, 0, sizeof r.sport);
                                memset(&r.dport, 0, sizeof r.dport);
                                if (tp->n_src)
                                    r.src = tp->src[c];
                                if (tp->n_sport)
                                    r.sport = tp->sport[d];
                                if (tp->n_dst)
                                    r.dst = tp->dst[e];
                                if (tp->n_dport)
                                    r.dport = tp->dport[f];
                                r.icmp_type = tp->n_icmp ? tp->icmp[g] : CONF_PF_ICMP_ANY;
                                if (r.proto && r.proto != 6 && !tp->flags_given)
                                    r.tcp_set = r.tcp_mask = 0; /* pf's default flags S/SA is TCP's alone */
                                uint8_t s = addr_af(&r.src), t = addr_af(&r.dst);
                                if (s && t && s != t)
                                    continue; /* pfctl skips mixed families */
                                if ((s || t) && tp->r.af && (s ? s : t) != tp->r.af)
                                    continue;
                                r.af = tp->r.af ? tp->r.af : (s ? s : t);
                                if (r.nat && nat_check(x, tp, &r))
                                    return -1;
                                if (emit(x, &r))
                                    return -1;
                                made++;
                            }
    if (!made)
        return pf_fail(x, tp->af_col ? tp->af_col : 1,
                       "expected addresses of one family (inet or inet6): no combination is left", NULL);
    return 0;
}

int pf_rule(struct pf_ctx *x)
{
    static struct tmpl zero; /* the template is 6 KiB: built in place below, never shared */
    struct tmpl tp = zero;
    const struct conf_tok *kw = pf_next(x);
    tp.r.action = conf_tok_is(kw, "pass") ? CONF_PF_PASS : conf_tok_is(kw, "block") ? CONF_PF_BLOCK : CONF_PF_MATCH;
    tp.r.iface = -1;
    tp.r.overload = -1;
    tp.r.icmp_code = CONF_PF_ICMP_ANY;
    tp.r.line = x->line;
    if (tp.r.action == CONF_PF_BLOCK && block_mode(x, &tp.r))
        return -1;
    int ph = head(x, &tp);
    if (ph < 0)
        return -1;
    if (!pf_at_end(x) && ph < PH_OPTS) {
        const struct conf_tok *t = pf_peek(x);
        bool opt = conf_tok_is(t, "flags") || conf_tok_is(t, "icmp-type") || conf_tok_is(t, "label") ||
                   conf_tok_is(t, "keep") || conf_tok_is(t, "no") || conf_tok_is(t, "allow-opts") ||
                   conf_tok_is(t, "modulate") || conf_tok_is(t, "nat-to") || conf_tok_is(t, "rdr-to") ||
                   conf_tok_is(t, "binat-to") || conf_tok_is(t, "scrub") || conf_tok_is(t, "icmp6-type") ||
                   unsupported_option(t);
        if (!opt)
            return fail_phase(x, (unsigned)ph, t);
    }
    if (options(x, &tp) || check(x, &tp))
        return -1;
    return expand_rules(x, &tp);
}

/* antispoof [log] [quick] for IFACE|{ ... } [inet|inet6] [label "text"] */
int pf_antispoof(struct pf_ctx *x)
{
    struct conf_pf_rule r;
    uint8_t ifs[CONF_MAX_IFACES];
    unsigned n = 0;
    memset(&r, 0, sizeof r);
    pf_next(x);
    r.action = CONF_PF_ANTISPOOF;
    r.dir = 1;
    r.overload = -1;
    r.icmp_type = r.icmp_code = CONF_PF_ICMP_ANY;
    r.line = x->line;
    r.log = pf_accept(x, "log");
    r.quick = pf_accept(x, "quick");
    if (!pf_accept(x, "for"))
        return pf_fail(x, pf_peek(x)->col, "expected log, quick or for", pf_peek(x));
    bool list = pf_accept_punct(x, "{");
    do {
        const struct conf_tok *t = pf_next(x);
        if (list && conf_tok_punct(t, "}"))
            break;
        int k = pf_iface(x, t);
        if (k < 0)
            return pf_fail(x, t->col,
                           t->kind == CONF_T_END ? "expected an interface name"
                                                 : "expected the name of an interface defined by an interface line",
                           t);
        if (n == CONF_MAX_IFACES)
            return pf_fail(x, t->col, "expected each interface once", t);
        ifs[n++] = (uint8_t)k;
        if (list)
            (void)pf_accept_punct(x, ",");
    } while (list);
    if (pf_accept(x, "inet6"))
        r.af = CONF_AF_INET6;
    else if (pf_accept(x, "inet"))
        r.af = CONF_AF_INET;
    if (pf_accept(x, "label")) {
        const struct conf_tok *t = pf_next(x);
        if ((t->kind != CONF_T_STRING && t->kind != CONF_T_WORD) || t->n >= CONF_PF_LABEL_MAX)
            return pf_fail(x, t->col, "expected a label \"text\" of at most 63 bytes after label", t);
        memcpy(r.label, t->s, t->n);
    }
    if (!pf_at_end(x))
        return pf_fail(x, pf_peek(x)->col, "expected inet, inet6, label or end of line", pf_peek(x));
    for (unsigned i = 0; i < n; i++) {
        r.iface = (int8_t)ifs[i];
        if (emit(x, &r))
            return -1;
    }
    return 0;
}
