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
 *   - not IPv4 (ARP, IPv6, command frames): passes untouched (counted);
 *   - malformed IPv4 (fw_parse_ether < 0: truncated, bad checksum, every
 *     fragment, bad TCP flags, ...): dropped, counted by reason, logged;
 *   - our own DHCP client's packets (UDP 68 -> 67 out from 0.0.0.0 or our
 *     address, UDP 67 -> 68 in to the broadcast address or to us, on a NIC
 *     that runs DHCP): pass before the rules, as dhclient's BPF socket does
 *     under pf, so that a rule set without DHCP rules (or deny-all) does not
 *     cut the appliance off its own address;
 *   - everything else: fw_filter (kept states first, then the rules; no
 *     match blocks).
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
 * Interfaces.  The firewall's interface index k < n_nics is netd's NIC
 * connection k (discovery order), which drives PCI NIC nic_numbers[k] (init
 * says which: the "nic:NAME" note).  Its name is NAME from the line
 * `interface NAME nic N ...` with N = nic_numbers[k], or "(CONN)" (the
 * connection's name in parentheses, which no rule can write) when no line
 * names that NIC.  Lines
 * for NICs netd does not have get the indices after, so rules naming them
 * still parse (and never match).  The same lines give the NICs' addresses
 * (`dhcp`, `address A.B.C.D/P [gateway G]`): netd.c takes them for NICs the
 * args do not configure.  A reload re-reads the names but never changes an
 * address.  `route A.B.C.D/P via G` lines (netd_route.h) make the static
 * route table, which a load replaces together with the rule set (and a
 * refused text leaves in force, like the rules).  A top-level line that
 * starts with no statement word of appliance.conf (a misspelt `block`, say)
 * makes the whole text refused (conf_read, strict): netd never runs a rule
 * set with a line silently left out; the interface lines of such a file
 * still give the addresses, so the appliance comes up reachable and
 * denying everything.  This reader of `interface` lines is interim: when the config
 * issue's parser (appliance/config/conf.h) lands, netd should take struct
 * conf from it instead.
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
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "netd_fw.h"
#include "netd_rand.h"

_Static_assert((NETD_FW_BUCKETS & (NETD_FW_BUCKETS - 1)) == 0, "fw_state_init wants a power of two");
_Static_assert((NETD_FW_SRCS & (NETD_FW_SRCS - 1)) == 0, "fw_state_init wants a power of two");
_Static_assert(NETD_MAX_IFS <= FW_MAX_IFACES, "every NIC has a firewall interface");

#define LOG_PER_SEC     10
#define LOG_BURST       20
#define RETURN_PER_SEC  50
#define RETURN_BURST    50
#define EXPIRE_EVERY_NS FW_NS_PER_SEC
#define CONF_MAX_WORDS  8
#define CONF_MAX_NIC    7 /* `nic 0` .. `nic 7`, as appliance/config/conf.h */
#define DHCP_SERVER     67
#define DHCP_CLIENT     68
#define BROADCAST       0xffffffffu

enum { RET_RST = 1, RET_ICMP = 2 };

/* ------------------------------------------------- interface lines ---- */

struct word {
    const char *s;
    unsigned n, col; /* length; column of its first byte, from 1 */
};

struct cctx {
    const char *file;
    unsigned line;
    char *err;
    size_t errlen;
};

static int conf_fail(const struct cctx *c, unsigned col, const char *what)
{
    if (c->errlen)
        snprintf(c->err, c->errlen, "%s:%u:%u: %s", c->file, c->line, col, what);
    return NETD_FW_E_PARSE;
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

/* Splits LINE (LEN bytes, no newline) into words; '#' ends it.  Returns the
 * number of words, CONF_MAX_WORDS + 1 when there are more. */
static unsigned split_words(const char *line, size_t len, struct word *w)
{
    unsigned n = 0;
    size_t i = 0;
    while (i < len && line[i] != '#') {
        if (is_space(line[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && !is_space(line[i]) && line[i] != '#')
            i++;
        if (n == CONF_MAX_WORDS)
            return CONF_MAX_WORDS + 1;
        w[n++] = (struct word){ line + start, (unsigned)(i - start), (unsigned)start + 1 };
    }
    return n;
}

static bool word_is(const struct word *w, const char *s) { return strlen(s) == w->n && memcmp(w->s, s, w->n) == 0; }

/* A decimal number of the whole word, at most MAX; -1 otherwise. */
static long word_uint(const struct word *w, long max)
{
    if (w->n == 0 || w->n > 10)
        return -1;
    long v = 0;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->s[i] < '0' || w->s[i] > '9')
            return -1;
        v = v * 10 + (w->s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* A.B.C.D at S (N bytes); *used gets its length.  False if there is none. */
static bool parse_quad(const char *s, unsigned n, unsigned *used, uint8_t out[4])
{
    unsigned i = 0;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0, digits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 4)
            v = v * 10 + (unsigned)(s[i++] - '0'), digits++;
        if (digits == 0 || digits > 3 || v > 255)
            return false;
        out[part] = (uint8_t)v;
        if (part < 3 && (i >= n || s[i++] != '.'))
            return false;
    }
    *used = i;
    return true;
}

static uint32_t quad_u32(const uint8_t a[4])
{
    return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static uint32_t prefix_mask(unsigned prefix) { return prefix ? ~0u << (32 - prefix) : 0; }

static bool valid_if_name(const struct word *w)
{
    if (w->n == 0 || w->n >= FW_IFNAMSIZ || w->s[0] < 'a' || w->s[0] > 'z')
        return false;
    for (unsigned i = 1; i < w->n; i++) {
        char ch = w->s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* `address A.B.C.D/P [gateway G]` from w[0] (the word after `address`; NW >= 1). */
static int conf_address(const struct cctx *c, const struct word *w, unsigned nw, struct netd_if_cfg *cfg)
{
    unsigned used = 0;
    if (!parse_quad(w[0].s, w[0].n, &used, cfg->addr) || used >= w[0].n || w[0].s[used] != '/')
        return conf_fail(c, w[0].col, "expected an address A.B.C.D/PREFIX");
    struct word pw = { w[0].s + used + 1, w[0].n - used - 1, w[0].col + used + 1 };
    long prefix = word_uint(&pw, 32);
    if (prefix < 1)
        return conf_fail(c, pw.col, "expected a prefix length 1-32");
    if (quad_u32(cfg->addr) == 0)
        return conf_fail(c, w[0].col, "0.0.0.0 is not an interface address");
    cfg->mode = NETD_IF_STATIC;
    cfg->prefix = (uint8_t)prefix;
    if (nw == 1)
        return NETD_FW_OK;
    if (!word_is(&w[1], "gateway"))
        return conf_fail(c, w[1].col, "expected `gateway A.B.C.D` or the end of the line");
    if (nw < 3 || !parse_quad(w[2].s, w[2].n, &used, cfg->gateway) || used != w[2].n)
        return conf_fail(c, nw < 3 ? w[1].col + w[1].n : w[2].col, "expected a gateway address A.B.C.D");
    uint32_t mask = prefix_mask(cfg->prefix), gw = quad_u32(cfg->gateway), a = quad_u32(cfg->addr);
    if ((gw & mask) != (a & mask) || gw == a)
        return conf_fail(c, w[2].col, "expected a gateway inside the interface's prefix (not its own address)");
    if (nw > 3)
        return conf_fail(c, w[3].col, "expected the end of the line");
    cfg->has_gateway = true;
    return NETD_FW_OK;
}

/* One `interface` line, words W[0..NW) (w[0] is `interface`). */
static int conf_interface(const struct cctx *c, const struct word *w, unsigned nw, struct netd_fw_conf *conf)
{
    if (nw < 2 || !valid_if_name(&w[1]))
        return conf_fail(c, nw < 2 ? w[0].col + w[0].n : w[1].col,
                         "expected an interface name ([a-z][a-z0-9_-]*, at most 15 characters)");
    if (nw < 4 || !word_is(&w[2], "nic"))
        return conf_fail(c, nw < 3 ? w[1].col + w[1].n : w[2].col, "expected `nic N` after the interface name");
    long nic = word_uint(&w[3], CONF_MAX_NIC);
    if (nic < 0)
        return conf_fail(c, w[3].col, "expected a NIC number 0-7");
    for (unsigned i = 0; i < conf->n; i++) {
        if (strlen(conf->ifs[i].name) == w[1].n && memcmp(conf->ifs[i].name, w[1].s, w[1].n) == 0)
            return conf_fail(c, w[1].col, "this interface name is already defined");
        if (conf->ifs[i].nic == (unsigned)nic)
            return conf_fail(c, w[3].col, "this NIC already has an interface line");
    }
    if (conf->n == FW_MAX_IFACES)
        return conf_fail(c, w[0].col, "expected at most 8 interface lines");
    struct netd_fw_conf_if ci;
    memset(&ci, 0, sizeof ci);
    memcpy(ci.name, w[1].s, w[1].n);
    memcpy(ci.cfg.name, w[1].s, w[1].n);
    ci.nic = (unsigned)nic;
    ci.line = c->line;
    if (nw < 5)
        return conf_fail(c, w[3].col + w[3].n, "expected dhcp or address A.B.C.D/PREFIX");
    if (word_is(&w[4], "dhcp")) {
        ci.cfg.mode = NETD_IF_DHCP;
        if (nw > 5)
            return conf_fail(c, w[5].col, "expected the end of the line");
    } else if (word_is(&w[4], "address")) {
        if (nw == 5)
            return conf_fail(c, w[4].col + w[4].n, "expected an address A.B.C.D/PREFIX");
        int rc = conf_address(c, w + 5, nw - 5, &ci.cfg);
        if (rc)
            return rc;
        for (unsigned i = 0; i < conf->n && ci.cfg.has_gateway; i++)
            if (conf->ifs[i].cfg.has_gateway)
                return conf_fail(c, w[nw - 1].col, "a second gateway (only one interface may have one)");
    } else {
        return conf_fail(c, w[4].col, "expected dhcp or address A.B.C.D/PREFIX");
    }
    conf->ifs[conf->n++] = ci; /* point of no return */
    return NETD_FW_OK;
}

/* A.B.C.D/P in W (the whole word); false if it is not one. */
static bool word_prefix(const struct word *w, uint32_t *net, unsigned *prefix)
{
    uint8_t q[4];
    unsigned used = 0;
    if (!parse_quad(w->s, w->n, &used, q) || used + 2 > w->n || w->s[used] != '/')
        return false;
    struct word p = { w->s + used + 1, w->n - used - 1, w->col + used + 1 };
    long v = word_uint(&p, 32);
    if (v < 0)
        return false;
    *net = quad_u32(q);
    *prefix = (unsigned)v;
    return true;
}

/* One `route A.B.C.D/P via G` line, words W[0..NW) (w[0] is `route`). */
static int conf_route(const struct cctx *c, const struct word *w, unsigned nw, struct netd_fw_conf *conf)
{
    uint32_t net = 0, gw = 0;
    unsigned prefix = 0, used = 0;
    uint8_t q[4];
    if (nw < 2 || !word_prefix(&w[1], &net, &prefix))
        return conf_fail(c, nw < 2 ? w[0].col + w[0].n : w[1].col, "expected a network A.B.C.D/PREFIX after route");
    if (nw < 3 || !word_is(&w[2], "via"))
        return conf_fail(c, nw < 3 ? w[1].col + w[1].n : w[2].col, "expected `via GATEWAY` after the network");
    if (nw < 4 || !parse_quad(w[3].s, w[3].n, &used, q) || used != w[3].n)
        return conf_fail(c, nw < 4 ? w[2].col + w[2].n : w[3].col, "expected a gateway address A.B.C.D");
    if (nw > 4)
        return conf_fail(c, w[4].col, "expected the end of the line");
    gw = quad_u32(q);
    int rc = netd_route_add(&conf->routes, net, prefix, gw, c->line);
    if (rc)
        return conf_fail(c,
                         rc == NETD_ROUTE_E_GATEWAY ? w[3].col
                         : rc == NETD_ROUTE_E_FULL  ? w[0].col
                                                    : w[1].col,
                         netd_route_strerror(rc));
    return NETD_FW_OK;
}

/* The first words of appliance.conf's statements (appliance/config/conf.h).
 * netd reads only some of them, but a line that starts with none of them is
 * an error for netd too: a misspelt `block` must never leave its rule out
 * silently while the rest of the file is in force. */
static bool statement_word(const struct word *w)
{
    static const char *const words[] = { "hostname",  "log", "interface", "route",  "pass", "block",
                                         "antispoof", "tls", "console",   "syslog", "ntp",  "metrics" };
    for (unsigned i = 0; i < sizeof words / sizeof words[0]; i++)
        if (word_is(w, words[i]))
            return true;
    return false;
}

/* Net change of `{ }` nesting on one line, its comment ignored. */
static int brace_delta(const char *s, size_t n)
{
    int d = 0;
    for (size_t i = 0; i < n && s[i] != '#'; i++)
        d += (s[i] == '{') - (s[i] == '}');
    return d;
}

/* Reads every `interface` and `route` line (outside `{ }` blocks) of TEXT
 * into CONF.  STRICT: also every other top-level line must start with a
 * statement's word (or be `}`), so a rule set with a misspelt keyword is
 * refused as a whole; not at start, where only the addresses are wanted. */
static int conf_read(const char *file, const char *text, size_t len, struct netd_fw_conf *conf, bool strict, char *err,
                     size_t errlen)
{
    struct cctx c = { file, 0, err, errlen };
    memset(conf, 0, sizeof *conf);
    long depth = 0;
    for (size_t pos = 0; pos < len;) {
        size_t n = 0;
        while (pos + n < len && text[pos + n] != '\n')
            n++;
        c.line++;
        struct word w[CONF_MAX_WORDS];
        unsigned nw = split_words(text + pos, n, w);
        if (depth == 0 && nw >= 1 && word_is(&w[0], "interface")) {
            if (nw > CONF_MAX_WORDS)
                return conf_fail(&c, w[0].col, "too many words for an interface line");
            int rc = conf_interface(&c, w, nw, conf);
            if (rc)
                return rc;
        } else if (depth == 0 && nw >= 1 && word_is(&w[0], "route")) {
            if (nw > CONF_MAX_WORDS)
                return conf_fail(&c, w[0].col, "too many words for a route line");
            int rc = conf_route(&c, w, nw, conf);
            if (rc)
                return rc;
        } else if (strict && depth == 0 && nw >= 1 && !statement_word(&w[0]) && !(w[0].n == 1 && w[0].s[0] == '}')) {
            return conf_fail(&c, w[0].col,
                             "expected hostname, log, interface, route, pass, block, antispoof, tls, console, syslog, "
                             "ntp or metrics");
        }
        depth += brace_delta(text + pos, n);
        if (depth < 0)
            depth = 0;
        pos += n + 1;
    }
    return NETD_FW_OK;
}

/* The firewall's interface table for CONF (design comment: NIC k is index
 * k; lines for absent NICs follow).  Addresses are kept from fw->ifaces. */
static int build_ifaces(const struct netd_fw *fw, const struct netd_fw_conf *conf, const char *file,
                        struct fw_ifaces *out, char *err, size_t errlen)
{
    *out = fw->ifaces;
    out->count = fw->n_nics;
    for (unsigned k = 0; k < fw->n_nics; k++) {
        struct fw_iface *fi = &out->ifs[k];
        memset(fi->name, 0, sizeof fi->name);
        snprintf(fi->name, sizeof fi->name, "(%s)", fw->nic_names[k]);
    }
    for (unsigned i = 0; i < conf->n; i++) {
        const struct netd_fw_conf_if *ci = &conf->ifs[i];
        unsigned k = 0;
        while (k < fw->n_nics && fw->nic_numbers[k] != ci->nic)
            k++;
        if (k >= fw->n_nics) {
            if (out->count == FW_MAX_IFACES) {
                struct cctx c = { file, ci->line, err, errlen };
                return conf_fail(&c, 1, "too many interfaces for the firewall (at most 8 with the NICs)");
            }
            k = out->count++;
            out->ifs[k] = (struct fw_iface){ .has_addr = false };
        }
        memset(out->ifs[k].name, 0, sizeof out->ifs[k].name);
        strlcpy(out->ifs[k].name, ci->name, sizeof out->ifs[k].name);
    }
    return NETD_FW_OK;
}

/* ------------------------------------------------------------ loading -- */

/* Parses TEXT into the spare set; returns its interface table in IFS and
 * its routes in ROUTES. */
static int parse_into_spare(struct netd_fw *fw, const char *file, const char *text, size_t len, struct fw_ifaces *ifs,
                            struct netd_routes *routes, char *err, size_t errlen)
{
    struct netd_fw_conf *conf = &fw->prep_conf; /* ~1 KiB per interface line: never on the small stack */
    int rc = conf_read(file, text, len, conf, true, err, errlen);
    if (!rc)
        *routes = conf->routes;
    if (!rc)
        rc = build_ifaces(fw, conf, file, ifs, err, errlen);
    if (rc) {
        fw->spare->valid = false;
        return rc;
    }
    struct fw_parser p = { .ifaces = ifs, .file = file, .err = err, .errlen = errlen };
    return fw_parse_ruleset(&p, fw->spare, text, len) == FW_OK ? NETD_FW_OK : NETD_FW_E_PARSE;
}

int netd_fw_prepare(struct netd_fw *fw, const char *file, const char *text, size_t len, char *err, size_t errlen)
{
    if (errlen)
        err[0] = 0;
    fw->prepared = false; /* the spare is overwritten: an earlier prepare is gone */
    int rc = parse_into_spare(fw, file, text, len, &fw->prep_ifs, &fw->prep_routes, err, errlen);
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
    fw->conf = fw->prep_conf; /* the interfaces' addresses (netd_fw_conf_if); netd applies them */
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
    struct netd_fw_conf none = { 0 };
    char err[NETD_FW_ERR_MAX];
    if (build_ifaces(fw, &none, NETD_FW_FILE, &fw->ifaces, err, sizeof err))
        __builtin_trap(); /* cannot fail: n_nics <= FW_MAX_IFACES */
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
    if (fw_state_init(&fw->table, &mem) != FW_OK)
        __builtin_trap(); /* cannot fail: the sizes are checked above */
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
    if (conf_read(NETD_FW_FILE, text, len, &fw->conf, false, err, sizeof err))
        memset(&fw->conf, 0, sizeof fw->conf); /* netd_fw_reload logs the error */
    return netd_fw_reload(fw, NETD_FW_FILE, text, len, err, sizeof err);
}

const struct netd_if_cfg *netd_fw_conf_if(const struct netd_fw *fw, unsigned nic)
{
    for (unsigned i = 0; i < fw->conf.n; i++)
        if (fw->conf.ifs[i].nic == nic && fw->conf.ifs[i].cfg.mode != NETD_IF_NONE)
            return &fw->conf.ifs[i].cfg;
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
static void queue_return(struct netd_fw *fw, const struct fw_packet *p, const uint8_t *ip, size_t len)
{
    bool icmp_ok = p->proto != FW_PROTO_ICMP || p->icmp_type == FW_ICMP_ECHO_REQUEST;
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
    if (p->proto == FW_PROTO_TCP) {
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
        r->code = p->proto == FW_PROTO_UDP ? ICMP_DUR_PORT : ICMP_DUR_PROTO;
        r->quote_len = (uint8_t)sizeof r->quote; /* 20-byte header (no options) + 8 */
        memcpy(r->quote, ip, sizeof r->quote);
    }
    fw->n_returns++;
}

bool netd_fw_packet(struct netd_fw *fw, unsigned dir, unsigned nic, const uint8_t *frame, size_t len)
{
    if (dir == FW_OUT && fw->generating) {
        fw->c.generated++;
        return true;
    }
    struct fw_packet pkt;
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
    if (dhcp_client_packet(fw, &pkt, nic)) {
        fw->c.dhcp++;
        return true;
    }
    struct fw_verdict v;
    fw_filter(&fw->eng, &pkt, fw->now, &v);
    unsigned reason = v.reason <= FW_R_IP_OPTIONS ? v.reason : 0;
    if (v.action == FW_PASS)
        fw->c.passed[reason]++;
    else
        fw->c.blocked[reason]++;
    if (v.log)
        log_line(fw, &pkt, &v, 0, dir, nic);
    if (v.action == FW_PASS)
        return true;
    if (v.return_)
        queue_return(fw, &pkt, frame + 14, len - 14);
    return false;
}

/* ------------------------------------------------------------- loop ---- */

void netd_fw_tick(struct netd_fw *fw, uint64_t now)
{
    fw->now = now;
    if (now >= fw->next_expire_ns) {
        (void)fw_state_expire(&fw->table, now);
        fw->next_expire_ns = now + EXPIRE_EVERY_NS;
    }
}

uint64_t netd_fw_next_deadline(const struct netd_fw *fw) { return fw->next_expire_ns; }

static void ip_host(ip_addr_t *a, uint32_t host_order) { ip_addr_set_ip4_u32(a, lwip_htonl(host_order)); }

void netd_fw_flush(struct netd_fw *fw)
{
    if (!fw->n_returns)
        return;
    fw->generating = true; /* linkoutput passes what lwIP sends now: these answers alone */
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
    if (fw->routes.n == 0) {
        ulog("netd: routes: connected networks and the default gateway only\n");
        return;
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
    ulog("netd: fw: unfiltered: not-ipv4 %llu dhcp %llu answers %llu; block-return sent %llu limited %llu skipped "
         "%llu; orphan state packets %llu (%llu B)\n",
         ull(c->not_ipv4), ull(c->dhcp), ull(c->generated), ull(c->returns_sent), ull(c->returns_limited),
         ull(c->returns_skipped), ull(s->orphan_packets), ull(s->orphan_bytes));
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
        (void)fw_rule_format(r, &fw->ifaces, text, sizeof text);
        ulog("netd: fw: @%u line %u evals %llu pkts %llu bytes %llu states %llu: %s\n", i, r->line,
             ull(r->c.evaluations), ull(r->c.packets), ull(r->c.bytes), ull(r->c.states), text);
    }
    ulog("netd: fw: no rule matched: pkts %llu bytes %llu\n", ull(rs->none.packets), ull(rs->none.bytes));
}
