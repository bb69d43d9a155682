/*
 * tlsadm.c - a guest admin client of tlsd's configuration protocol
 * (abi/keel/tlsd.h TLSD_CONFIG_*), through consoled's client library
 * (lib/tlsadm_client.c), for tests/qemu/test_tlsd.py.
 *
 * It waits until tlsd's listener on TRIGGER_PORT has accepted a connection
 * (the host's signal that its slow download is under way), then runs its
 * cases, one line each ("tlsadm: NAME: PASS" or "tlsadm: NAME: FAIL: why"):
 * a commit with nothing prepared; configurations with a syntax error, a
 * missing certificate and a key that is not in the site archive (keyd
 * cannot open it), each refused with its
 * line and column and tlsd unchanged; a length beyond the region; prepare
 * then abort; then the new configuration prepared twice (the second
 * replaces the first) and committed, the listeners it leaves logged
 * ("tlsadm: listeners: PORT[*] ..."; * = serving), and a second commit
 * refused.  Last: "tlsadm: committed" and "tlsadm: N passed, N failed".
 *
 * The configurations are files of the site archive that the host test
 * writes: cfg-syntax.conf (error on line 7), cfg-nocert.conf and
 * cfg-newkey.conf (line 9: `    certificate FILE key FILE`), cfg-new.conf.
 *
 * Manifest: `site connect tlsd share tlsadm-tlsadm 17 memory` (memory:
 * the notification its naps wait on).
 */
#include <keel/cpio.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/tlsd.h>
#include <keel/ulog.h>

#include <keel/tlsadm_client.h>

#define ADM_VA       0x0000006400000000ull
#define SITE_VA      0x0000006200000000ull
#define TRIGGER_PORT 7000
#define NEW_PORT     6443

static uint64_t NTFN;
static const uint8_t *SITE;
static size_t SITE_LEN;
static struct tlsadm T;
static unsigned PASSED, FAILED;

static void sleep_ns(uint64_t ns)
{
    uint64_t bits;
    (void)sys6(SYS_TIMER_ARM, NTFN, keel_now_ns() + ns, 1, 0, 0, 0);
    (void)keel_wait(NTFN, 0, &bits);
}

static void nap(void *ctx)
{
    (void)ctx;
    sleep_ns(10000000ull);
}

static void result(const char *name, bool ok, const char *why)
{
    if (ok) {
        PASSED++;
        ulog("tlsadm: %s: PASS\n", name);
    } else {
        FAILED++;
        ulog("tlsadm: %s: FAIL: %s\n", name, why);
    }
}

/* Whether WORD occurs in S. */
static bool contains(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (; *s; s++)
        if (strncmp(s, word, n) == 0)
            return true;
    return false;
}

static bool file(const char *name, const char **text, size_t *len)
{
    const void *d;
    if (cpio_find(SITE, SITE_LEN, name, &d, len) != 0)
        return false;
    *text = d;
    return true;
}

/* The listeners as one comparable line: "PORT[*] ...". */
static void listeners_line(char *out, size_t n)
{
    struct tlsadm_listener l[TLSD_MAX_LISTENERS];
    unsigned k = 0;
    int64_t r = tlsadm_listeners(&T, l, TLSD_MAX_LISTENERS, &k);
    size_t at = 0;
    out[0] = '\0';
    if (r) {
        snprintf(out, n, "error %lld", (long long)r);
        return;
    }
    for (unsigned i = 0; i < k && at < n; i++) {
        int w = snprintf(out + at, n - at, "%s%u%s", i ? " " : "", l[i].port, l[i].serving ? "*" : "");
        if (w > 0)
            at += (size_t)w;
    }
}

/* Prepares FILE and expects TLSD_E_CONFIG at LINE (and COL when non-zero)
 * with every word of WANT in the message; then tlsd unchanged. */
static void refused(const char *name, const char *fname, unsigned line, unsigned col, const char *want1,
                    const char *want2)
{
    char before[120], after[120], msg[400], why[600];
    const char *text;
    size_t len;
    listeners_line(before, sizeof before);
    if (!file(fname, &text, &len)) {
        snprintf(why, sizeof why, "%s is not in the site archive", fname);
        result(name, false, why);
        return;
    }
    unsigned l = 0, c = 0;
    int64_t r = tlsadm_prepare(&T, text, len, msg, sizeof msg, &l, &c, NULL);
    char prefix[40];
    snprintf(prefix, sizeof prefix, "appliance.conf:%u:", line);
    listeners_line(after, sizeof after);
    int64_t rc = tlsadm_commit(&T, NULL);
    bool ok = r == TLSD_E_CONFIG && l == line && (!col || c == col) && strncmp(msg, prefix, strlen(prefix)) == 0 &&
              (!want1 || contains(msg, want1)) && (!want2 || contains(msg, want2)) && strcmp(before, after) == 0 &&
              rc == TLSD_E_NOT_PREPARED;
    snprintf(why, sizeof why, "reply %lld at %u:%u (want %u:%u), message '%s', listeners '%s' then '%s', commit %lld",
             (long long)r, l, c, line, col, msg, before, after, (long long)rc);
    result(name, ok, why);
    if (ok)
        ulog("tlsadm: %s: tlsd said: %s\n", name, msg);
}

static void run_cases(void)
{
    char why[400], before[120], after[120], msg[400];
    unsigned l, c;
    struct tlsadm_summary s;

    int64_t r = tlsadm_commit(&T, NULL);
    snprintf(why, sizeof why, "reply %lld", (long long)r);
    result("commit_without_prepare_refused", r == TLSD_E_NOT_PREPARED, why);

    refused("syntax_error_refused", "cfg-syntax.conf", 7, 0, NULL, NULL);
    refused("missing_certificate_refused", "cfg-nocert.conf", 9, 17, "missing.crt", "site archive");
    refused("key_not_in_site_archive_refused", "cfg-newkey.conf", 9, 28, "nosuch.key", "site archive");

    /* tlsd's own length check (the library checks it first). */
    struct keel_msg m = { .info = SRV_LABEL(TLSD_CONFIG_PREPARE, 1), .mr = { 1ull << 40 } };
    int64_t e = keel_call(T.ep, &m);
    r = e ? e : (int32_t)keel_label(&m);
    snprintf(why, sizeof why, "reply %lld", (long long)r);
    result("length_beyond_region_refused", r == TLSD_E_INVAL, why);

    const char *text;
    size_t len;
    if (!file("cfg-new.conf", &text, &len)) {
        result("new_config_present", false, "cfg-new.conf is not in the site archive");
        return;
    }
    listeners_line(before, sizeof before);
    r = tlsadm_prepare(&T, text, len, msg, sizeof msg, &l, &c, &s);
    int64_t ra = tlsadm_abort(&T);
    int64_t rc = tlsadm_commit(&T, NULL);
    listeners_line(after, sizeof after);
    snprintf(why, sizeof why, "prepare %lld (%s), abort %lld, commit %lld, listeners '%s' then '%s'", (long long)r, msg,
             (long long)ra, (long long)rc, before, after);
    result("prepare_then_abort_changes_nothing",
           r == 0 && ra == 0 && rc == TLSD_E_NOT_PREPARED && strcmp(before, after) == 0, why);

    r = tlsadm_prepare(&T, text, len, msg, sizeof msg, &l, &c, &s);
    int64_t r2 = tlsadm_prepare(&T, text, len, msg, sizeof msg, &l, &c, &s); /* replaces the first */
    snprintf(why, sizeof why, "prepare %lld then %lld (%s); %u listeners, keep %u, start %u, stop %u", (long long)r,
             (long long)r2, msg, s.listeners, s.kept, s.started, s.other);
    result("prepare_twice", r == 0 && r2 == 0, why);
    ulog("tlsadm: plan: %u listeners, keep %u, start %u, stop %u\n", s.listeners, s.kept, s.started, s.other);
    struct tlsadm_summary cs;
    rc = tlsadm_commit(&T, &cs);
    listeners_line(after, sizeof after);
    char want[16];
    snprintf(want, sizeof want, "%u*", NEW_PORT);
    snprintf(why, sizeof why, "commit %lld, listeners '%s'", (long long)rc, after);
    result("commit", rc == 0 && contains(after, want) && cs.listeners == s.listeners, why);
    ulog("tlsadm: listeners: %s\n", after);
    ulog("tlsadm: commit: %u listeners, kept %u, started %u, %u connection(s) closed\n", cs.listeners, cs.kept,
         cs.started, cs.other);
    rc = tlsadm_commit(&T, NULL);
    snprintf(why, sizeof why, "reply %lld", (long long)rc);
    result("second_commit_refused", rc == TLSD_E_NOT_PREPARED, why);
}

/* Whether the listener on PORT has accepted a connection. */
static bool triggered(void)
{
    struct tlsadm_listener l[TLSD_MAX_LISTENERS];
    unsigned k = 0;
    if (tlsadm_listeners(&T, l, TLSD_MAX_LISTENERS, &k))
        return false;
    for (unsigned i = 0; i < k; i++) {
        struct tlsadm_stats s;
        if (l[i].port == TRIGGER_PORT && tlsadm_stats(&T, i, &s) == 0 && s.accepted > 0)
            return true;
    }
    return false;
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    uint64_t ep = srv_find_cap(si, "ep:tlsd"), shm = srv_find_cap(si, "shm:tlsadm-tlsadm");
    uint64_t site = srv_find_cap(si, "site");
    NTFN = SRV_SLOT_FIRST_GRANT; /* the first slot past every named capability */
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++)
        if (si->caps[i].type != CAP_NONE && si->caps[i].slot >= NTFN)
            NTFN = si->caps[i].slot + 1;
    if (!ep || !shm || !site || !si->site_size || keel_map(SRV_SLOT_TASK, shm, ADM_VA, RIGHT_READ | RIGHT_WRITE) ||
        keel_map(SRV_SLOT_TASK, site, SITE_VA, RIGHT_READ) ||
        keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, NTFN, 0) != KE_OK) {
        ulog("tlsadm: FAIL: needs `site connect tlsd share tlsadm-tlsadm %u` and `memory`\n",
             (unsigned)TLSADM_SHM_PAGES);
        return 1;
    }
    SITE = (const uint8_t *)SITE_VA + si->site_offset;
    SITE_LEN = si->site_size;
    T = (struct tlsadm){ .ep = ep, .base = (uint8_t *)ADM_VA, .nap = nap };
    srv_ready();
    ulog("tlsadm: waiting for a connection on port %u\n", TRIGGER_PORT);
    while (!triggered())
        sleep_ns(500000000ull);
    run_cases();
    ulog("tlsadm: committed\n");
    ulog("tlsadm: %u passed, %u failed\n", PASSED, FAILED);
    for (;;)
        sleep_ns(3600ull * 1000000000ull);
}
