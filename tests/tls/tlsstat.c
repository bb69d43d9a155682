/*
 * tlsstat.c - a guest reader of tlsd's statistics protocol
 * (abi/keel/tlsd.h), for tests/qemu/test_tlsd.py: at start it checks that
 * bad calls get their precise errors ("tlsstat: errors: PASS"; the
 * configuration labels answer TLSD_E_NOT_ADMIN, as tlsstat has no
 * "tlsadm-tlsstat" region), then every
 * 2 s it logs one line per listener from TLSD_LISTENERS and TLSD_STATS:
 *   tlsstat: PORT: accepted A current C refused R backend-failures B
 *            handshakes-ok H resumed S failed F truncated T bytes-c2b X
 *            bytes-b2c Y sni-named N sni-default D fail: NAME n ...
 * Manifest: `connect tlsd` and `memory` (its timer's notification).
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/tlsd.h>
#include <keel/ulog.h>

static uint64_t EP;

/* One call: the reply label (as a signed number); the words in M. */
static int64_t call(uint32_t label, unsigned words, uint64_t a, uint64_t b, struct keel_msg *m)
{
    *m = (struct keel_msg){ .info = SRV_LABEL(label, words), .mr = { a, b, 0, 0 } };
    if (keel_call(EP, m) != KE_OK)
        return INT64_MIN;
    return (int32_t)keel_label(m);
}

static void check_errors(void)
{
    struct keel_msg m;
    struct {
        const char *what;
        int64_t got, want;
    } t[] = {
        { "listener 99", call(TLSD_STATS, 2, 99, 0, &m), TLSD_E_BAD_LISTENER },
        { "group 8", call(TLSD_STATS, 2, 0, TLSD_G_COUNT, &m), TLSD_E_BAD_GROUP },
        { "group 2^63", call(TLSD_STATS, 2, 0, 1ull << 63, &m), TLSD_E_BAD_GROUP },
        { "one word", call(TLSD_STATS, 1, 0, 0, &m), (int32_t)SRV_E_SHORT },
        { "label 77", call(77, 0, 0, 0, &m), (int32_t)SRV_E_UNKNOWN },
        /* a reader without a tlsadm region may not configure */
        { "config prepare", call(TLSD_CONFIG_PREPARE, 1, 10, 0, &m), TLSD_E_NOT_ADMIN },
        { "config commit", call(TLSD_CONFIG_COMMIT, 0, 0, 0, &m), TLSD_E_NOT_ADMIN },
        { "config abort", call(TLSD_CONFIG_ABORT, 0, 0, 0, &m), TLSD_E_NOT_ADMIN },
        { "stats clear", call(TLSD_STATS_CLEAR, 0, 0, 0, &m), TLSD_E_NOT_ADMIN },
    };
    int bad = 0;
    for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].got != t[i].want) {
            ulog("tlsstat: errors: %s: got %lld, want %lld\n", t[i].what, (long long)t[i].got, (long long)t[i].want);
            bad++;
        }
    ulog("tlsstat: errors: %s\n", bad ? "FAIL" : "PASS");
}

static void log_listener(unsigned i, unsigned port)
{
    uint64_t g[TLSD_G_COUNT][4];
    for (unsigned k = 0; k < TLSD_G_COUNT; k++) {
        struct keel_msg m;
        int64_t e = call(TLSD_STATS, 2, i, k, &m);
        if (e) {
            ulog("tlsstat: %u: TLSD_STATS group %u: error %lld\n", port, k, (long long)e);
            return;
        }
        memcpy(g[k], m.mr, sizeof g[k]);
    }
    char fails[200] = "";
    size_t at = 0;
    for (unsigned r = 1; r < TLSD_FAIL_COUNT; r++) {
        uint64_t n = g[TLSD_G_FAILED + r / 4][r % 4];
        if (n && at < sizeof fails) {
            int w = snprintf(fails + at, sizeof fails - at, " %s %llu", tlsd_fail_name(r), (unsigned long long)n);
            if (w > 0)
                at += (size_t)w;
        }
    }
    ulog("tlsstat: %u: accepted %llu current %llu refused %llu backend-failures %llu handshakes-ok %llu resumed "
         "%llu failed %llu truncated %llu bytes-c2b %llu bytes-b2c %llu sni-named %llu sni-default %llu fail:%s\n",
         port, (unsigned long long)g[0][0], (unsigned long long)g[0][1], (unsigned long long)g[0][2],
         (unsigned long long)g[0][3], (unsigned long long)g[1][0], (unsigned long long)g[1][1],
         (unsigned long long)g[1][2], (unsigned long long)g[1][3], (unsigned long long)g[2][0],
         (unsigned long long)g[2][1], (unsigned long long)g[2][2], (unsigned long long)g[2][3], at ? fails : " none");
    /* A line of its own: a log line holds 256 bytes. */
    ulog("tlsstat: %u: by version: tls13-ok %llu tls13-resumed %llu tls12-ok %llu tls12-resumed %llu\n", port,
         (unsigned long long)g[TLSD_G_VERSIONS][0], (unsigned long long)g[TLSD_G_VERSIONS][1],
         (unsigned long long)g[TLSD_G_VERSIONS][2], (unsigned long long)g[TLSD_G_VERSIONS][3]);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    EP = srv_find_cap(si, "ep:tlsd");
    uint64_t ntfn = SRV_SLOT_FIRST_GRANT; /* the first slot past every named capability */
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++)
        if (si->caps[i].type != CAP_NONE && si->caps[i].slot >= ntfn)
            ntfn = si->caps[i].slot + 1;
    if (!EP || keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, ntfn, 0) != KE_OK) {
        ulog("tlsstat: FAIL: needs `connect tlsd` and `memory`\n");
        return 1;
    }
    check_errors();
    srv_ready();
    for (;;) {
        struct keel_msg m;
        int64_t e = call(TLSD_LISTENERS, 0, 0, 0, &m);
        if (e) {
            ulog("tlsstat: TLSD_LISTENERS: error %lld\n", (long long)e);
        } else {
            uint64_t n = m.mr[0], ok = m.mr[1], ports[2] = { m.mr[2], m.mr[3] };
            for (unsigned i = 0; i < n && i < TLSD_MAX_LISTENERS; i++)
                if (ok & (1ull << i))
                    log_listener(i, (unsigned)(ports[i / 4] >> (16 * (i % 4))) & 0xffffu);
        }
        uint64_t bits;
        (void)sys6(SYS_TIMER_ARM, ntfn, keel_now_ns() + 2000000000ull, 1, 0, 0, 0);
        (void)keel_wait(ntfn, 0, &bits);
    }
}
