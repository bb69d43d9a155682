/*
 * conf_fw.h - the bridge from appliance.conf to the firewall's rule parser
 * (net/firewall/fw_rules.h): conf_parse hands every pass/block/antispoof
 * line to conf_fw_check_rule, which parses it with fw_parse_rule into a
 * rule set the caller owns.
 *
 * Use:
 *     struct fw_ruleset rs;               (big: FW_MAX_RULES rules)
 *     struct conf_fw fw;
 *     conf_fw_init(&fw, &rs, "appliance.conf");
 *     struct conf_parser p = { .check_rule = conf_fw_check_rule, .rule_ctx = &fw };
 *     if (conf_parse(&p, text, len, &conf, &res) == CONF_OK)
 *         ... rs is valid and holds the rules in file order ...
 *
 * The interface numbers in the rules (`on wan`) are indexes into
 * conf->ifaces, in file order: conf_fw_ifaces builds the matching struct
 * fw_ifaces (names only; netd fills in the addresses).  RS is only good
 * when conf_parse returned CONF_OK; after an error it is incomplete.
 *
 * Pure code; builds only where net/firewall/ is on the include path.
 */
#ifndef KEEL_APPLIANCE_CONF_FW_H
#define KEEL_APPLIANCE_CONF_FW_H

#include "conf.h"
#include "fw_rules.h"

struct conf_fw {
    struct fw_ruleset *rs; /* caller's; reset by conf_fw_init, appended to per rule */
    struct fw_ifaces ifaces;
    const char *file;
};

/* Resets RS to the empty set and remembers FILE (NULL: "appliance.conf"). */
void conf_fw_init(struct conf_fw *f, struct fw_ruleset *rs, const char *file);

/* The interfaces of C as the firewall numbers them (names only). */
void conf_fw_ifaces(const struct conf *c, struct fw_ifaces *out);

/* A conf_rule_fn (conf.h); CTX is a struct conf_fw. */
int conf_fw_check_rule(void *ctx, const struct conf *c, const char *line, size_t len, unsigned lineno, unsigned *col,
                       char *msg, size_t msgcap);

#endif
