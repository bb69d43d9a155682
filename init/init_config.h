/*
 * init_config.h - what the site's appliance.conf asks init to start
 * (manifest `requires tls | nic`, init/manifest.h).
 */
#ifndef KEEL_INIT_CONFIG_H
#define KEEL_INIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INIT_CONFIG_NICS 8 /* `nic 0` .. `nic 7` (CONF_MAX_NIC + 1) */

struct init_config_needs {
    bool decided;                      /* appliance.conf was read and parsed: the fields below hold */
    bool tls;                          /* it has a `tls` block */
    bool ops;                          /* it has a syslog, ntp or metrics line */
    uint32_t nics;                     /* bit N: an `interface ... nic N` line names NIC N */
    char ifname[INIT_CONFIG_NICS][16]; /* bit N of nics: the interface's name */
};

/*
 * Reads appliance.conf from the site archive SITE (LEN bytes, cpio newc;
 * NULL: none) into *OUT.  decided stays false (start everything, as
 * without `requires`) when there is no archive, no appliance.conf, or the
 * file does not parse: netd then runs deny-all and consoled shows the
 * errors, and the operator can still commit a fixed configuration.
 * Returns a one-line description for init's log in MSG (MSGLEN bytes).
 */
void init_config_read(const void *site, size_t len, struct init_config_needs *out, char *msg, size_t msglen);

#endif
