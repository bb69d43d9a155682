/*
 * conf_fw.c - appliance.conf's firewall rules, parsed by the firewall's own
 * parser (see conf_fw.h).
 *
 * The firewall writes "FILE:LINE:COL: expected ..." into its buffer; the
 * configuration parser wants the column and the message alone (it adds the
 * prefix itself, so every error has one format), so the prefix, whose
 * length is known from the file name, line and column, is cut off here.
 */
#include "conf_fw.h"

#include <keel/string.h>

void conf_fw_init(struct conf_fw *f, struct fw_ruleset *rs, const char *file)
{
    memset(f, 0, sizeof *f);
    f->rs = rs;
    f->file = file ? file : "appliance.conf";
    fw_ruleset_init(rs);
}

void conf_fw_ifaces(const struct conf *c, struct fw_ifaces *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < c->n_ifaces && i < FW_MAX_IFACES; i++) {
        _Static_assert(CONF_IFNAME_MAX <= FW_IFNAMSIZ, "interface names fit the firewall's");
        memcpy(out->ifs[i].name, c->ifaces[i].name, CONF_IFNAME_MAX);
        out->count = i + 1;
    }
}

static size_t digits(unsigned v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

int conf_fw_check_rule(void *ctx, const struct conf *c, const char *line, size_t len, unsigned lineno, unsigned *col,
                       char *msg, size_t msgcap)
{
    struct conf_fw *f = ctx;
    char err[CONF_MSG_MAX + 64];
    conf_fw_ifaces(c, &f->ifaces); /* cheap; C is complete by now (conf.h) */
    struct fw_parser p = { &f->ifaces, f->file, err, sizeof err, 0, 0 };
    int rc = fw_parse_rule(&p, f->rs, line, len, lineno);
    if (rc == FW_OK)
        return 0;
    *col = p.err_col ? p.err_col : 1;
    size_t skip = strlen(f->file) + 1 + digits(p.err_line) + 1 + digits(p.err_col) + 2;
    size_t n = strlen(err);
    const char *m = n > skip ? err + skip : "expected a firewall rule";
    n = strlen(m);
    if (msgcap) {
        if (n >= msgcap)
            n = msgcap - 1;
        memcpy(msg, m, n);
        msg[n] = '\0';
    }
    return -1;
}
