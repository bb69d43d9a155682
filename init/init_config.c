/*
 * init_config.c - reads the site's appliance.conf with the appliance's own
 * parser (appliance/config/conf.c) to learn which servers the
 * configuration needs: a `tls` block needs tlsd and keyd, an `interface
 * ... nic N` line needs NIC N's driver.  Rules are checked by their first
 * word only here (netd parses them fully); init only asks what to start.
 *
 * Memory: the parsed configuration is large (rule text, listeners), so it
 * lives in this file's bss, used once at boot.
 */
#include <keel/cpio.h>
#include <keel/fmt.h>
#include <keel/string.h>

#include "conf.h"
#include "init_config.h"

static struct conf parsed;
static struct conf_result result;

void init_config_read(const void *site, size_t len, struct init_config_needs *out, char *msg, size_t msglen)
{
    *out = (struct init_config_needs){ .decided = false };
    if (!site || !len) {
        snprintf(msg, msglen, "no site archive: every server starts");
        return;
    }
    const void *text = NULL;
    size_t n = 0;
    int err = cpio_find(site, len, "appliance.conf", &text, &n);
    if (err) {
        snprintf(msg, msglen, "no usable appliance.conf (%s): every server starts", cpio_strerror(err));
        return;
    }
    static const struct conf_parser p = { "appliance.conf", 1, false };
    if (conf_parse(&p, text, n, &parsed, &result) != CONF_OK) {
        snprintf(msg, msglen, "appliance.conf has errors: every server starts (netd denies all)");
        return;
    }
    out->decided = true;
    out->tls = parsed.n_tls > 0;
    out->ops = conf_ops_syslog_on(&parsed.ops) || conf_ops_ntp_on(&parsed.ops) || parsed.ops.metrics_port;
    _Static_assert(INIT_CONFIG_NICS == CONF_MAX_NIC + 1 && sizeof out->ifname[0] == CONF_IFNAME_MAX,
                   "init_config_needs holds every interface line");
    for (unsigned i = 0; i < parsed.n_ifaces; i++) {
        out->nics |= 1u << parsed.ifaces[i].nic;
        strlcpy(out->ifname[parsed.ifaces[i].nic], parsed.ifaces[i].name, sizeof out->ifname[0]);
    }
    snprintf(msg, msglen, "appliance.conf: %u interface%s, %s", parsed.n_ifaces, parsed.n_ifaces == 1 ? "" : "s",
             out->tls ? "TLS listeners" : "no TLS listener");
}
