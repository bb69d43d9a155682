/*
 * netadmtest.c - hostile and well-formed calls of netd's administration
 * protocol (abi/keel/netadm.h), in the `admintest` boot
 * (tests/qemu/test_netadm.py).  Two instances run:
 *
 *   args admin     it shares region admin-nat with netd: every bad
 *                  argument must be refused with its precise error, and a
 *                  refused or aborted prepare must leave nothing to commit
 *   args intruder  it only has `connect netd`: every call must be refused
 *                  with NETADM_E_NOT_ADMIN
 *
 * Prints `PASS name` / `FAIL name: why` per check and `N passed, N failed`.
 * netd comes up after us: calls are retried while netd is not waiting.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/netadm.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include <stdbool.h>

#define REGION_VA 0x0000007100000000ull

static unsigned passed, failed;
static const char *who = "netadmtest";

static void result(const char *name, int ok, const char *fmt, long long got)
{
    if (ok) {
        passed++;
        ulog("PASS %s.%s\n", who, name);
    } else {
        failed++;
        char why[96];
        snprintf(why, sizeof why, fmt, got);
        ulog("FAIL %s.%s: %s\n", who, name, why);
    }
}

/* One call of LABEL with WORDS words of MR; returns the reply label (or a KE_*). */
static int64_t call(uint64_t ep, uint32_t label, unsigned words, uint64_t mr[4])
{
    for (int i = 0; i < 2000; i++) {
        struct keel_msg m = { .info = SRV_LABEL(label, words) | KEEL_NONBLOCK };
        memcpy(m.mr, mr, sizeof m.mr);
        int64_t err = keel_call(ep, &m);
        if (err == KE_WOULD_BLOCK) {
            keel_yield();
            continue;
        }
        if (err)
            return err;
        memcpy(mr, m.mr, sizeof m.mr);
        return (int32_t)keel_label(&m);
    }
    return KE_WOULD_BLOCK;
}

static void expect(uint64_t ep, const char *name, uint32_t label, unsigned words, uint64_t a, uint64_t b, int64_t want)
{
    uint64_t mr[4] = { a, b, 0, 0 };
    int64_t r = call(ep, label, words, mr);
    result(name, r == want, "reply %lld", (long long)r);
}

static int contains(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (; *s; s++)
        if (strncmp(s, word, n) == 0)
            return 1;
    return 0;
}

static void intruder(uint64_t ep)
{
    expect(ep, "prepare_refused", NETADM_PREPARE, 1, 10, 0, NETADM_E_NOT_ADMIN);
    expect(ep, "commit_refused", NETADM_COMMIT, 0, 0, 0, NETADM_E_NOT_ADMIN);
    expect(ep, "show_refused", NETADM_SHOW, 1, NETADM_SHOW_FIREWALL, 0, NETADM_E_NOT_ADMIN);
    expect(ep, "ping_refused", NETADM_PING, 2, 0x0a000202, 1, NETADM_E_NOT_ADMIN);
    expect(ep, "clear_refused", NETADM_CLEAR, 0, 0, 0, NETADM_E_NOT_ADMIN);
}

static void admin(uint64_t ep, char *region)
{
    static const char good[] = "interface wan nic 0 dhcp\npass out keep state\npass in on wan proto icmp\n";
    static const char bad[] = "interface wan nic 0 dhcp\npass in on wan proto tcp to port 70000\n";
    uint64_t mr[4] = { 0 };

    expect(ep, "prepare_too_long", NETADM_PREPARE, 1, NETADM_IN_MAX + 1, 0, NETADM_E_INVAL);
    expect(ep, "prepare_huge_length", NETADM_PREPARE, 1, ~0ull, 0, NETADM_E_INVAL);
    expect(ep, "prepare_short_message", NETADM_PREPARE, 0, 0, 0, (int32_t)SRV_E_SHORT);
    expect(ep, "commit_nothing_prepared", NETADM_COMMIT, 0, 0, 0, NETADM_E_NOT_PREPARED);
    expect(ep, "show_unknown_table", NETADM_SHOW, 1, 99, 0, NETADM_E_INVAL);
    expect(ep, "show_zero", NETADM_SHOW, 1, 0, 0, NETADM_E_INVAL);
    expect(ep, "ping_no_address", NETADM_PING, 2, 0, 1, NETADM_E_INVAL);
    expect(ep, "ping_count_zero", NETADM_PING, 2, 0x0a000202, 0, NETADM_E_INVAL);
    expect(ep, "ping_count_too_big", NETADM_PING, 2, 0x0a000202, NETADM_PING_MAX + 1, NETADM_E_INVAL);
    expect(ep, "ping_address_too_big", NETADM_PING, 2, 1ull << 32, 1, NETADM_E_INVAL);
    expect(ep, "unknown_label", NETADM_LABEL_BASE + 50, 0, 0, 0, (int32_t)SRV_E_UNKNOWN);

    /* A rule netd refuses: line, column and message; nothing left to commit. */
    memcpy(region + NETADM_IN_OFF, bad, sizeof bad - 1);
    mr[0] = sizeof bad - 1;
    int64_t r = call(ep, NETADM_PREPARE, 1, mr);
    result("prepare_bad_rule_refused", r == NETADM_E_PARSE, "reply %lld", (long long)r);
    result("prepare_bad_rule_line", mr[0] == 2, "line %lld", (long long)mr[0]);
    result("prepare_bad_rule_column", mr[1] == 34, "column %lld", (long long)mr[1]);
    int msg_ok = mr[2] > 0 && mr[2] < NETADM_OUT_MAX && strncmp(region + NETADM_OUT_OFF, "candidate:2:34:", 15) == 0;
    result("prepare_bad_rule_message", msg_ok, "message length %lld", (long long)mr[2]);
    expect(ep, "commit_after_refusal", NETADM_COMMIT, 0, 0, 0, NETADM_E_NOT_PREPARED);

    /* Random bytes as a configuration: refused, never a crash. */
    uint32_t x = 12345;
    for (unsigned i = 0; i < 4096; i++) {
        x = x * 1103515245u + 12345u;
        region[NETADM_IN_OFF + i] = (char)(x >> 16);
    }
    mr[0] = 4096;
    r = call(ep, NETADM_PREPARE, 1, mr);
    result("prepare_random_bytes_refused", r == NETADM_E_PARSE && mr[0] == 1, "reply %lld", (long long)r);
    expect(ep, "commit_after_random_bytes", NETADM_COMMIT, 0, 0, 0, NETADM_E_NOT_PREPARED);

    /* Prepared, aborted: nothing to commit. */
    memcpy(region + NETADM_IN_OFF, good, sizeof good - 1);
    expect(ep, "prepare_good", NETADM_PREPARE, 1, sizeof good - 1, 0, 0);
    expect(ep, "abort", NETADM_ABORT, 0, 0, 0, 0);
    expect(ep, "commit_after_abort", NETADM_COMMIT, 0, 0, 0, NETADM_E_NOT_PREPARED);

    /* Prepared, committed: two rules in force, listed by show firewall. */
    expect(ep, "prepare_good_again", NETADM_PREPARE, 1, sizeof good - 1, 0, 0);
    mr[0] = 0;
    r = call(ep, NETADM_COMMIT, 0, mr);
    result("commit_good", r == 0 && mr[0] == 2, "reply %lld", r ? (long long)r : (long long)mr[0]);
    expect(ep, "commit_twice", NETADM_COMMIT, 0, 0, 0, NETADM_E_NOT_PREPARED);
    mr[0] = NETADM_SHOW_FIREWALL;
    r = call(ep, NETADM_SHOW, 1, mr);
    int listed = r == 0 && mr[0] < NETADM_OUT_MAX;
    if (listed) {
        region[NETADM_OUT_OFF + mr[0]] = 0; /* our copy of netd's answer ends here */
        listed = contains(region + NETADM_OUT_OFF, "pass in on wan proto icmp");
    }
    result("show_firewall_lists_commit", listed, "reply %lld", (long long)r);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    bool is_admin = strcmp(si->args, "admin") == 0;
    who = is_admin ? "netadm" : "netadm-intruder";
    uint64_t ep = srv_find_cap(si, "ep:netd"), shm = srv_find_cap(si, "shm:admin-nat");
    if (!ep || (is_admin && (!shm || keel_map(SRV_SLOT_TASK, shm, REGION_VA, RIGHT_READ | RIGHT_WRITE)))) {
        ulog("FAIL %s.setup: the manifest must grant connect netd (and share admin-nat 33)\n", who);
        ulog("0 passed, 1 failed\n");
        return 1;
    }
    srv_ready();
    if (is_admin)
        admin(ep, (char *)REGION_VA);
    else
        intruder(ep);
    ulog("%s: %u passed, %u failed\n", who, passed, failed);
    /* Stay: a return ends the thread, which init takes for a fault and
     * restarts us.  Wait for good on a notification of our own. */
    uint64_t n = 64, bits = 0;
    if (keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, n, 0) == KE_OK)
        for (;;)
            (void)keel_wait(n, 0, &bits);
    for (;;)
        keel_yield();
}
