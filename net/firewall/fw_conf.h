/*
 * fw_conf.h - compiles the firewall statements of a parsed appliance.conf
 * (appliance/config/conf_pf.h: rules with macros and lists expanded,
 * tables, options) into the engine's rule set (fw_rules.h).
 *
 * Interfaces: the configuration numbers them in the order of its
 * `interface` lines; the engine numbers them as its caller does (netd: NIC
 * connection k first).  IFMAP[i] is the engine's index of configuration
 * interface i.
 *
 * What the grammar accepts, the engine implements (conf_pf refuses the
 * rest as unsupported), so a compile fails only on capacity, which the
 * grammar's limits match: it is a broken contract, reported as FW_E_INVAL
 * with a message.  Pure C; no allocation.
 */
#ifndef KEEL_FW_CONF_H
#define KEEL_FW_CONF_H

#include "conf.h"
#include "conf_pf.h"
#include "fw_rules.h"

/* What the `set` lines say, for the caller (netd). */
struct fw_conf_options {
    uint8_t skip; /* bit k: the engine's interface k is not filtered (set skip on) */
};

/*
 * Resets RS and fills it from C's firewall statements: rules in order,
 * tables with their addresses.  W is scratch (the walk's workspace).
 * Returns FW_OK (RS valid), or an error with "LINE:COL: ..." in ERR and RS
 * marked invalid.
 */
FW_MUST_CHECK int fw_conf_compile(const struct conf *c, const int8_t ifmap[CONF_MAX_IFACES], struct fw_ruleset *rs,
                                  struct fw_conf_options *opt, struct conf_pf_work *w, char *err, size_t errlen);

#endif
