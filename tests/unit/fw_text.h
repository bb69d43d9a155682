/*
 * fw_text.h - for the firewall's host tests and fuzzers: a rule set from
 * appliance.conf text, through the one parser (appliance/config) and the
 * compiler (net/firewall/fw_conf.c), as netd builds it.
 *
 * When the text has no `interface` line, one per name of IFS is appended
 * after it (interface NAME nic K dhcp), so line numbers stay those of the
 * text and rule interface indexes are those of IFS.
 */
#ifndef KEEL_TESTS_FW_TEXT_H
#define KEEL_TESTS_FW_TEXT_H

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "conf_pf.h"
#include "fw_conf.h"
#include "fw_rules.h"

/* Returns FW_OK; or FW_E_SYNTAX with the first "FILE:LINE:COL: ..." in ERR
 * (RS then invalid). */
static inline int fw_text_compile(const char *rules, const struct fw_ifaces *ifs, struct fw_ruleset *rs, char *err,
                                  size_t errlen)
{
    static char buf[1 << 17];
    static struct conf c;
    static struct conf_result res;
    static struct conf_pf_work w;
    size_t n = strlen(rules);
    if (n + 512 > sizeof buf)
        return FW_E_INVAL;
    memcpy(buf, rules, n);
    if (n && buf[n - 1] != '\n')
        buf[n++] = '\n';
    if (!strstr(rules, "interface "))
        for (unsigned k = 0; ifs && k < ifs->count && k < 8; k++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "interface %s nic %u dhcp\n", ifs->ifs[k].name, k);
    struct conf_parser p = { 0 };
    if (conf_parse(&p, buf, n, &c, &res) != CONF_OK) {
        snprintf(err, errlen, "%s", res.n_errors ? res.errors[0].msg : "?");
        rs->valid = false;
        return FW_E_SYNTAX;
    }
    int8_t map[CONF_MAX_IFACES];
    for (int i = 0; i < CONF_MAX_IFACES; i++)
        map[i] = (int8_t)i;
    struct fw_conf_options o;
    return fw_conf_compile(&c, map, rs, &o, &w, err, errlen) == FW_OK ? FW_OK : FW_E_SYNTAX;
}

#endif
