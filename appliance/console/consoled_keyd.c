/*
 * consoled_keyd.c - keyd's part of consoled's two-phase commit
 * (abi/keel/keyd.h, KEYD_ADM_*): before tlsd prepares a candidate, keyd
 * loads every private key the candidate's tls blocks name, so a commit
 * that brings a new certificate and key serves it at once, without a
 * reboot; a refusal anywhere unloads them again.
 *
 * Order (con_push_config): prepare netd, keyd, tlsd; commit netd, keyd,
 * tlsd; on a refusal abort tlsd before keyd (so tlsd never keeps the id of
 * a key keyd unloaded).  Given: "ep:keyd" and "shm:keyadm-consoled"; keyd
 * started on this boot (a `tls` block in the site's appliance.conf).
 * Without them the keys a commit names must already be loaded, as before.
 *
 * The key names come from parsing the text again here (the text is the
 * one every server gets; the parse is consoled's own, already checked).
 * Calls are non-blocking with naps while keyd is busy signing.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/keyd.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>

#include "consoled.h"

#define KEYADM_TRIES 300 /* x NAP_NS: keyd signs one signature at a time */

static struct conf SCRATCH; /* the candidate, parsed for its key names (main thread only) */
static struct conf_result SCRATCH_RES;

void keyadm_setup(struct consoled *c, const struct keel_srvinfo *si)
{
    if (region_connect(c, si, "keyd", "ep:keyd", "shm:keyadm-consoled", KEYD_ADM_PAGES, KEYADM_VA,
                       "new keys need a reboot", &c->keyadm_ep))
        c->keyadm = (struct keyd_adm *)KEYADM_VA;
}

static int64_t keyadm_call(struct consoled *c, uint32_t label, uint64_t arg, uint64_t *out)
{
    for (unsigned i = 0; i < KEYADM_TRIES; i++) {
        struct keel_msg m = { .info = label | KEEL_NONBLOCK, .mr = { arg } };
        int64_t e = keel_call(c->keyadm_ep, &m);
        if (e == KE_WOULD_BLOCK) {
            nap_cb(c);
            continue;
        }
        if (out)
            *out = m.mr[0];
        return e ? e : (int32_t)keel_label(&m);
    }
    return KE_WOULD_BLOCK;
}

int keyadm_prepare(struct consoled *c, const char *text, size_t len, char *err, size_t errlen)
{
    if (!c->keyadm_ep)
        return 0;
    static const struct conf_parser parser = { "candidate", 0, false };
    if (conf_parse(&parser, text, len, &SCRATCH, &SCRATCH_RES) != CONF_OK)
        return 0; /* the servers refuse it with line and column */
    unsigned n = 0;
    for (unsigned t = 0; t < SCRATCH.n_tls; t++)
        for (unsigned k = 0; k < SCRATCH.tls[t].n_certs && n < KEYD_ADM_NAMES; k++) {
            const char *key = SCRATCH.tls[t].certs[k].key;
            bool dup = false;
            for (unsigned j = 0; j < n && !dup; j++)
                dup = strcmp(c->keyadm->names[j], key) == 0;
            if (!dup)
                strlcpy(c->keyadm->names[n++], key, KEYD_NAME_MAX);
        }
    uint64_t at = 0;
    int64_t r = keyadm_call(c, KEYD_ADM_PREPARE, n, &at);
    if (r == 0)
        return 0;
    const char *name = at < n ? c->keyadm->names[at] : "?";
    const char *why = r == KEYD_E_NOT_FOUND ? "not in the site archive"
                      : r == KEYD_E_BAD_KEY ? "not a usable private key"
                      : r == KEYD_E_FULL    ? "keyd holds as many keys as it can"
                      : r == KEYD_E_NAME    ? "not a plain file name"
                                            : "keyd did not answer";
    lib_snprintf(err, errlen, "keyd refused the configuration: key %s: %s (error %lld)", name, why, (long long)r);
    return -1;
}

void keyadm_commit(struct consoled *c)
{
    if (c->keyadm_ep)
        (void)keyadm_call(c, KEYD_ADM_COMMIT, 0, NULL);
}

void keyadm_abort(struct consoled *c)
{
    if (c->keyadm_ep)
        (void)keyadm_call(c, KEYD_ADM_ABORT, 0, NULL);
}
