/*
 * netd_fw_conf.c - the firewall's configuration: appliance.conf from the
 * site archive or from the console (NETADM_PREPARE) made into a rule set,
 * a route table, the unfiltered interfaces and the interfaces' addresses,
 * and the two-phase swap that puts them in force.  The filter path is
 * netd_fw.c; its design comment says what the verdicts are.
 *
 * Invariants.
 *   - Two struct fw_ruleset: the active one (fw->eng.rules) and the spare.
 *     A (re)load or a PREPARE parses the whole text into the spare; only a
 *     COMMIT of a text that parsed swaps the two (fw_ruleset_replace), so
 *     the active set is always one that parsed whole, or the empty one.
 *     Kept states stay across a swap: established connections survive a
 *     reload.  A text that does not parse changes nothing; its error is
 *     logged as "FILE:LINE:COL: ...".
 *   - fw->prepared: the spare holds a parsed set with its routes, skip
 *     mask and addresses in prep_*; any new prepare clears it first, so a
 *     commit never swaps in half of one and half of another.
 *   - At start the active set is empty, which blocks every IPv4 packet
 *     (deny-all), and it stays so when there is no site archive, no
 *     appliance.conf, or the file does not parse: a bad file never leaves
 *     the appliance open.
 *   - Interfaces.  appliance.conf is read by the one parser
 *     (appliance/config/conf.h, struct conf) and its firewall statements
 *     are compiled by fw_conf.c into the spare rule set; netd has no
 *     reader of its own.  The firewall's interface index k < n_nics is
 *     netd's NIC connection k (discovery order), which drives PCI NIC
 *     nic_numbers[k] (init says which: the "nic:NAME" note).  Its name is
 *     NAME from the line `interface NAME nic N ...` with N =
 *     nic_numbers[k], or "(CONN)" (the connection's name in parentheses,
 *     which no rule can write) when no line names that NIC.  Lines for
 *     NICs netd does not have get the indices after, so rules naming them
 *     still compile (and never match).
 *   - Addresses.  The same lines give the NICs' addresses (netd.c takes
 *     them for NICs the args do not configure).  A commit keeps the
 *     addresses the NICs have now and never changes one: a restart of netd
 *     applies new ones.  A file with any error is refused whole (deny-all
 *     at start); its interface lines that parsed still give the addresses
 *     (conf_parser.keep_on_error), so the appliance comes up reachable and
 *     denying everything.
 *   - `route` lines make the static route table, which a commit replaces
 *     together with the rule set; `set skip on` the interfaces that are
 *     not filtered.
 *
 * Memory: the parsed configuration of one load (conf_scratch, ~45 KiB)
 * and the compiler's work area are static (netd's .bss, off the small
 * stack), used only inside one call.  Context: netd's main thread only.
 */
#include <keel/cpio.h>
#include <keel/fmt.h>
#include <keel/string.h>
#include <keel/ulog.h>

#include "lwip/nd6.h"
#include "conf.h"
#include "fw_conf.h"
#include "netd_fw.h"
#include "netd_fw_int.h"

/* The parsed configuration of one load (~45 KiB: off the small stack).
 * Main thread only; used only inside one call of the functions below. */
static struct conf conf_scratch;
static struct conf_result conf_res;

static int load_fail(char *err, size_t errlen, const char *file, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s: %s", file, msg);
    return NETD_FW_E_PARSE;
}

/* The firewall's interface table for C (design comment: NIC k is index k;
 * lines for absent NICs follow), and IFMAP: configuration interface i is
 * firewall interface ifmap[i].  Addresses are kept from fw->ifaces. */
static void build_ifaces(const struct netd_fw *fw, const struct conf *c, struct fw_ifaces *out,
                         int8_t ifmap[CONF_MAX_IFACES])
{
    *out = fw->ifaces;
    out->count = fw->n_nics;
    for (unsigned k = 0; k < fw->n_nics; k++) {
        struct fw_iface *fi = &out->ifs[k];
        memset(fi->name, 0, sizeof fi->name);
        snprintf(fi->name, sizeof fi->name, "(%s)", fw->nic_names[k]);
    }
    for (unsigned i = 0; i < CONF_MAX_IFACES; i++)
        ifmap[i] = -1;
    _Static_assert(CONF_MAX_IFACES <= FW_MAX_IFACES && CONF_IFNAME_MAX <= FW_IFNAMSIZ, "interfaces fit");
    for (unsigned i = 0; c && i < c->n_ifaces; i++) {
        unsigned k = 0;
        while (k < fw->n_nics && fw->nic_numbers[k] != c->ifaces[i].nic)
            k++;
        if (k >= fw->n_nics) {
            if (out->count == FW_MAX_IFACES)
                continue; /* n_nics NICs plus more lines than 8: the line names a NIC twice (conf refuses) */
            k = out->count++;
            out->ifs[k] = (struct fw_iface){ .has_addr = false };
        }
        memset(out->ifs[k].name, 0, sizeof out->ifs[k].name);
        strlcpy(out->ifs[k].name, c->ifaces[i].name, sizeof out->ifs[k].name);
        ifmap[i] = (int8_t)k;
    }
}

/* C's routes as netd's table (conf_parse checked what netd_route_add does). */
static int build_routes(const struct conf *c, struct netd_routes *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < c->n_routes; i++) {
        const struct conf_route *r = &c->routes[i];
        int rc = r->v6 ? netd_route6_add(out, r->net6, r->prefix, r->gw6, r->line)
                       : netd_route_add(out, r->net, r->prefix, r->gw, r->line);
        if (rc)
            return rc;
    }
    return NETD_ROUTE_OK;
}

/* C's interface lines as netd's address configurations (for netd.c), into
 * CFGS and NICS (NETD_MAX_IFS each; mode NONE: unused). */
static void build_addresses(const struct conf *c, struct netd_if_cfg *cfgs, unsigned *nics)
{
    memset(cfgs, 0, sizeof(struct netd_if_cfg) * NETD_MAX_IFS);
    for (unsigned i = 0; i < c->n_ifaces && i < NETD_MAX_IFS; i++) {
        const struct conf_iface *f = &c->ifaces[i];
        struct netd_if_cfg *cfg = &cfgs[i];
        strlcpy(cfg->name, f->name, sizeof cfg->name);
        nics[i] = f->nic;
        _Static_assert((int)CONF_IF6_STATIC == (int)NETD_IF6_STATIC && (int)CONF_IF6_AUTOCONF == (int)NETD_IF6_AUTOCONF,
                       "the same IPv6 modes");
        cfg->mode6 = f->mode6;
        cfg->prefix6 = f->prefix6;
        memcpy(cfg->addr6, f->addr6, 16);
        cfg->has_gateway6 = f->has_gateway6;
        memcpy(cfg->gateway6, f->gateway6, 16);
        if (f->mode == CONF_IF_DHCP) {
            cfg->mode = NETD_IF_DHCP;
            continue;
        }
        if (f->mode == CONF_IF_NONE) {
            cfg->mode = NETD_IF_NONE; /* IPv6 only */
            continue;
        }
        cfg->mode = NETD_IF_STATIC;
        cfg->prefix = f->prefix;
        for (int b = 0; b < 4; b++) {
            cfg->addr[b] = (uint8_t)(f->addr >> (24 - 8 * b));
            cfg->gateway[b] = (uint8_t)(f->gateway >> (24 - 8 * b));
        }
        cfg->has_gateway = f->has_gateway;
    }
}

/* ------------------------------------------------------------ loading -- */

/* Parses TEXT into the spare set; returns its interface table in IFS,
 * its routes in ROUTES and its unfiltered interfaces in *SKIP. */
static int parse_into_spare(struct netd_fw *fw, const char *file, const char *text, size_t len, struct fw_ifaces *ifs,
                            struct netd_routes *routes, uint8_t *skip, char *err, size_t errlen)
{
    static struct conf_pf_work work; /* off the small stack; main thread only */
    struct conf_parser p = { .file = file };
    struct conf *conf = &conf_scratch;
    fw->spare->valid = false;
    if (conf_parse(&p, text, len, conf, &conf_res) != CONF_OK) {
        if (errlen)
            strlcpy(err, conf_res.n_errors ? conf_res.errors[0].msg : "does not parse", errlen);
        return NETD_FW_E_PARSE;
    }
    int8_t ifmap[CONF_MAX_IFACES];
    build_ifaces(fw, conf, ifs, ifmap);
    if (build_routes(conf, routes))
        return load_fail(err, errlen, file, "a route netd refuses");
    struct fw_conf_options opt;
    char msg[NETD_FW_ERR_MAX];
    if (fw_conf_compile(conf, ifmap, fw->spare, &opt, &work, msg, sizeof msg) != FW_OK)
        return load_fail(err, errlen, file, msg);
    *skip = opt.skip;
    build_addresses(conf, fw->prep_if, fw->prep_nic); /* in force at the commit (netd applies them) */
    return NETD_FW_OK;
}

int netd_fw_prepare(struct netd_fw *fw, const char *file, const char *text, size_t len, char *err, size_t errlen)
{
    if (errlen)
        err[0] = 0;
    fw->prepared = false; /* the spare is overwritten: an earlier prepare is gone */
    int rc = parse_into_spare(fw, file, text, len, &fw->prep_ifs, &fw->prep_routes, &fw->prep_skip, err, errlen);
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
    nd6_clear_destination_cache(); /* IPv6 next hops chosen under the old routes are forgotten */
    fw->skip = fw->prep_skip;
    memcpy(fw->boot_if, fw->prep_if, sizeof fw->boot_if); /* the interfaces' addresses (netd_fw_conf_if) */
    memcpy(fw->boot_nic, fw->prep_nic, sizeof fw->boot_nic);
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

/* The boot's load (netd_fw_init's last step): the interface table without
 * a configuration, then appliance.conf from the site archive, its
 * addresses (also from a file with errors, from the lines that parsed: the
 * rules of such a file are never used, deny-all stays) and its rule set. */
int netd_fw_conf_boot(struct netd_fw *fw)
{
    int8_t ifmap[CONF_MAX_IFACES];
    char err[NETD_FW_ERR_MAX];
    build_ifaces(fw, NULL, &fw->ifaces, ifmap);
    const char *text = NULL;
    size_t len = 0;
    int rc = site_file(fw, NETD_FW_FILE, &text, &len);
    if (rc)
        return rc;
    struct conf_parser p = { .file = NETD_FW_FILE, .keep_on_error = true };
    if (conf_parse(&p, text, len, &conf_scratch, &conf_res) != CONF_OK) /* netd_fw_reload logs the errors */
        ulog("netd: firewall: %s has errors: addresses from the interface lines that parse\n", NETD_FW_FILE);
    build_addresses(&conf_scratch, fw->boot_if, fw->boot_nic);
    return netd_fw_reload(fw, NETD_FW_FILE, text, len, err, sizeof err);
}

const struct netd_if_cfg *netd_fw_conf_if(const struct netd_fw *fw, unsigned nic)
{
    for (unsigned i = 0; i < NETD_MAX_IFS; i++)
        if ((fw->boot_if[i].mode != NETD_IF_NONE || fw->boot_if[i].mode6 != NETD_IF6_NONE) && fw->boot_nic[i] == nic)
            return &fw->boot_if[i];
    return NULL;
}
