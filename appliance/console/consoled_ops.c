/*
 * consoled_ops.c - the console commands that ask other servers (design in
 * consoled.c's top comment):
 *
 *   netd (abi/keel/netadm.h)  show interfaces | arp | routes | connections |
 *                             firewall | states, ping, clear counters
 *   init (abi/keel/init.h)    show tasks, restart SERVER, reboot, halt
 *   consoled's own copy       show tls (the configured listeners)
 *
 * Every call goes one way (consoled -> netd, consoled -> init); neither
 * ever calls consoled.  Calls to netd are non-blocking with retries
 * (netadm_client.c) so an absent netd costs seconds, never a hang.
 * Main thread only.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/textbuf.h>

#include "conf_addr.h"
#include "consoled.h"
#include "table.h"

/* ------------------------------------------------------- netd's tables -- */

/* Waits about NS on the console notification, keeping every other bit for
 * the loop (the deadlines' timer bit too: the loop re-checks them).  Used
 * while netd is busy and while a ping runs. */
static void nap_ns(struct consoled *c, uint64_t ns)
{
    if (!c->signal)
        return;
    con_flush(c);
    (void)sys6(SYS_TIMER_ARM, c->signal, keel_now_ns() + ns, EVT_TIMER, 0, 0, 0);
    for (;;) {
        uint64_t bits = 0;
        if (keel_wait(c->ntfn, 0, &bits) != KE_OK)
            break;
        c->pending |= bits & ~EVT_TIMER;
        if (bits & EVT_TIMER)
            break;
    }
    c->pending |= EVT_TIMER; /* a deadline may have passed meanwhile */
    con_arm_timer(c);
}

void nap_cb(void *ctx) { nap_ns(ctx, NAP_NS); }

int do_netd_show(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    static const struct {
        enum cmd_id id;
        unsigned what;
    } map[] = {
        { CMD_SHOW_INTERFACES, NETADM_SHOW_INTERFACES },
        { CMD_SHOW_ARP, NETADM_SHOW_ARP },
        { CMD_SHOW_ROUTES, NETADM_SHOW_ROUTES },
        { CMD_SHOW_CONNECTIONS, NETADM_SHOW_CONNECTIONS },
        { CMD_SHOW_FIREWALL, NETADM_SHOW_FIREWALL },
        { CMD_SHOW_STATES, NETADM_SHOW_STATES },
        { CMD_SHOW_NAT, NETADM_SHOW_NAT },
    };
    unsigned what = 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].id == call->id)
            what = map[i].what;
    const char *text = NULL;
    size_t len = 0;
    int cut = 0;
    int64_t r = netadm_show(&c->net, what, &text, &len, &cut);
    if (r) {
        lib_snprintf(err, errlen, "expected netd to answer: %s", netadm_strerror(r));
        return -1;
    }
    table_print(text, len, con_write, c);
    if (cut)
        con_say(c, "(cut: more rows than fit)\r\n");
    return 0;
}

/* `table NAME add|delete A.B.C.D[/N] | show | flush` (netd's NETADM_TABLE). */
int do_table(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    const char *name = call->args[0].s;
    size_t len = call->args[0].n;
    if (len >= 2 && name[0] == '<') { /* <name> as appliance.conf writes it */
        name++;
        len -= 2;
    }
    struct conf_ip ip = { 0 };
    unsigned prefix = 32, count = 0, op;
    size_t slash;
    switch (call->id) {
    case CMD_TABLE_ADD: op = NETADM_TABLE_ADD; break;
    case CMD_TABLE_DELETE: op = NETADM_TABLE_DELETE; break;
    case CMD_TABLE_FLUSH: op = NETADM_TABLE_FLUSH; break;
    default: op = NETADM_TABLE_SHOW; break;
    }
    if ((op == NETADM_TABLE_ADD || op == NETADM_TABLE_DELETE) &&
        (call->n_args < 2 || conf_parse_prefix(call->args[1].s, call->args[1].n, &ip, &prefix, &slash) != 0 ||
         ip.af != CONF_AF_INET)) {
        lib_snprintf(err, errlen, "expected an address A.B.C.D or a prefix A.B.C.D/N");
        return -1;
    }
    const char *text = NULL;
    size_t tlen = 0;
    int cut = 0;
    int64_t r = netadm_table(&c->net, op, name, len, ip.af ? conf_ip_v4(&ip) : 0, prefix, &text, &tlen, &cut, &count);
    if (r) {
        lib_snprintf(err, errlen, "expected netd to change table <%.*s>: %s", (int)len, name, netadm_strerror(r));
        return -1;
    }
    char line[96];
    if (op == NETADM_TABLE_SHOW) {
        table_print(text, tlen, con_write, c);
        if (!tlen)
            con_say(c, "(empty)\r\n");
        if (cut)
            con_say(c, "(cut: more rows than fit)\r\n");
        return 0;
    }
    if (op == NETADM_TABLE_FLUSH)
        lib_snprintf(line, sizeof line, "table <%.*s>: %u addresses deleted", (int)len, name, count);
    else
        lib_snprintf(line, sizeof line, "table <%.*s>: 1 address %s", (int)len, name,
                     op == NETADM_TABLE_ADD ? "added" : "deleted");
    con_log(c, CONF_LOG_INFO, "%s", line);
    con_say(c, line);
    con_say(c, "\r\n");
    return 0;
}

int do_clear(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call;
    struct consoled *c = ctx;
    int64_t r = c->net.ep ? netadm_clear(&c->net) : 0;
    if (r) {
        lib_snprintf(err, errlen, "expected netd to clear its counters: %s", netadm_strerror(r));
        return -1;
    }
    r = c->tls.ep ? tlsadm_clear(&c->tls) : 0;
    if (r) {
        lib_snprintf(err, errlen, "netd's counters are zero, but tlsd did not clear its own: %s", tlsadm_strerror(r));
        return -1;
    }
    con_log(c, CONF_LOG_INFO, "counters cleared on the console");
    con_say(c, c->tls.ep ? "netd's interface and firewall counters and tlsd's TLS counters are zero\r\n"
                         : "netd's interface and firewall counters are zero\r\n");
    return 0;
}

int do_ping(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    uint32_t addr = (uint32_t)call->args[0].num;
    unsigned count = call->n_args > 1 ? (unsigned)call->args[1].num : 4;
    struct conf_ip ip;
    char text[48];
    if (!conf_parse_ip(call->args[0].s, call->args[0].n, &ip)) { /* cmd_parse checked it */
        lib_snprintf(err, errlen, "expected an address A.B.C.D or an IPv6 address");
        return -1;
    }
    (void)conf_ip_format(&ip, text, sizeof text);
    if (!c->signal) {
        lib_snprintf(err, errlen, "expected a timer for ping (the manifest must grant consoled `signal console`)");
        return -1;
    }
    int64_t r = ip.af == CONF_AF_INET6 ? netadm_ping6(&c->net, ip.a, count) : netadm_ping(&c->net, addr, count);
    if (r) {
        lib_snprintf(err, errlen, "expected netd to ping: %s", netadm_strerror(r));
        return -1;
    }
    char line[128];
    lib_snprintf(line, sizeof line, "PING %s: %u echo requests, one a second\r\n", text, count);
    con_say(c, line);
    unsigned sent = 0, received = 0, shown = 0;
    uint32_t min_us = 0, max_us = 0;
    for (int done = 0; !done;) {
        nap_ns(c, PING_POLL_NS);
        r = netadm_ping_status(&c->net, &sent, &received, &done, &min_us, &max_us);
        if (r) {
            lib_snprintf(err, errlen, "expected netd to report the ping: %s", netadm_strerror(r));
            return -1;
        }
        for (; shown < received; shown++) {
            lib_snprintf(line, sizeof line, "reply %u from %s\r\n", shown + 1, text);
            con_say(c, line);
        }
    }
    lib_snprintf(line, sizeof line, "%u sent, %u received, %u%% loss", sent, received,
                 sent ? (sent - received) * 100 / sent : 100);
    con_say(c, line);
    if (received) {
        lib_snprintf(line, sizeof line, "; round trip min %u.%03u ms, max %u.%03u ms", min_us / 1000, min_us % 1000,
                     max_us / 1000, max_us % 1000);
        con_say(c, line);
    }
    con_say(c, "\r\n");
    return 0;
}

/* The TLS listeners as consoled's running configuration has them, when
 * no tlsd runs on this boot (none was asked for at boot). */
static void show_tls_configured(struct consoled *c)
{
    struct textbuf b;
    tb_init(&b, c->diff_out, sizeof c->diff_out);
    tb_put(&b, "PORT\tBACKEND\tCERTIFICATES\tMAX-CONNECTIONS\tIDLE-TIMEOUT\n");
    for (unsigned i = 0; i < c->running.n_tls; i++) {
        const struct conf_tls *t = &c->running.tls[i];
        tb_u64(&b, t->port);
        tb_put(&b, "\t");
        if (t->backend_v6) {
            struct conf_ip ip = { .af = CONF_AF_INET6 };
            char text[48];
            memcpy(ip.a, t->backend_addr6, 16);
            (void)conf_ip_format(&ip, text, sizeof text);
            tb_put(&b, "[");
            tb_put(&b, text);
            tb_put(&b, "]");
        } else {
            tb_ipv4(&b, t->backend_addr);
        }
        tb_put(&b, ":");
        tb_u64(&b, t->backend_port);
        tb_put(&b, "\t");
        tb_u64(&b, t->n_certs);
        tb_put(&b, "\t");
        tb_u64(&b, t->max_connections);
        tb_put(&b, "\t");
        tb_u64(&b, t->idle_timeout);
        tb_put(&b, "s\n");
    }
    table_print(c->diff_out, b.len < sizeof c->diff_out ? b.len : sizeof c->diff_out - 1, con_write, c);
    con_say(c, "(as configured: tlsd does not run on this boot; it starts when appliance.conf has a tls block at "
               "boot)\r\n");
}

/* tlsd's listeners with their statistics (TLSD_LISTENERS, TLSD_STATS), then
 * each listener's failed handshakes by reason, when there are any. */
int do_show_tls(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call;
    struct consoled *c = ctx;
    if (!c->tls.ep) {
        show_tls_configured(c);
        return 0;
    }
    struct tlsadm_listener ls[TLSD_MAX_LISTENERS];
    unsigned n = 0;
    int64_t r = tlsadm_listeners(&c->tls, ls, TLSD_MAX_LISTENERS, &n);
    if (r) {
        lib_snprintf(err, errlen, "tlsd does not answer: %s", tlsadm_strerror(r));
        return -1;
    }
    static struct tlsadm_stats st[TLSD_MAX_LISTENERS];
    struct textbuf b;
    tb_init(&b, c->diff_out, sizeof c->diff_out);
    tb_put(&b, "PORT\tSTATE\tACCEPTED\tCURRENT\tREFUSED\tHANDSHAKES\tRESUMED\tFAILED\tTLS1.3\tTLS1.2\tBYTES-IN\t"
               "BYTES-OUT\tBACKEND-FAILED\n");
    for (unsigned i = 0; i < n; i++) {
        memset(&st[i], 0, sizeof st[i]);
        if (tlsadm_stats(&c->tls, i, &st[i]))
            memset(&st[i], 0, sizeof st[i]);
        const struct tlsadm_stats *s = &st[i];
        const uint64_t v[] = { s->accepted, s->current,  s->refused,   s->handshakes_ok, s->resumed,       s->failed,
                               s->tls13_ok, s->tls12_ok, s->bytes_c2b, s->bytes_b2c,     s->backend_failed };
        tb_u64(&b, ls[i].port);
        tb_put(&b, ls[i].serving ? "\tserving" : "\tstopped");
        for (unsigned k = 0; k < sizeof v / sizeof v[0]; k++) {
            tb_put(&b, "\t");
            tb_u64(&b, v[k]);
        }
        tb_put(&b, "\n");
    }
    table_print(c->diff_out, b.len < sizeof c->diff_out ? b.len : sizeof c->diff_out - 1, con_write, c);
    for (unsigned i = 0; i < n; i++) {
        if (!st[i].failed)
            continue;
        char line[256];
        struct textbuf l;
        tb_init(&l, line, sizeof line);
        tb_put(&l, "  ");
        tb_u64(&l, ls[i].port);
        tb_put(&l, " failed handshakes:");
        for (unsigned k = 1; k < TLSD_FAIL_COUNT; k++) {
            if (!st[i].failed_by[k])
                continue;
            tb_put(&l, " ");
            tb_put(&l, tlsd_fail_name(k));
            tb_put(&l, " ");
            tb_u64(&l, st[i].failed_by[k]);
        }
        tb_put(&l, "\r\n");
        con_say(c, line);
    }
    return 0;
}

/* ------------------------------------------------------- init's calls -- */

int do_tasks(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call;
    struct consoled *c = ctx;
    static const char *const states[] = { "stopped", "starting", "ready", "restarting", "absent" };
    struct textbuf b;
    tb_init(&b, c->diff_out, sizeof c->diff_out);
    tb_put(&b, "NAME\tSTATE\tPRIORITY\tRESTARTS\tFAULTS\tCPU\n");
    for (uint64_t i = 0; i < 64; i++) {
        struct keel_msg m = { .info = INIT_TASK_INFO, .mr = { i } };
        int64_t r = keel_call(SRV_SLOT_INIT, &m);
        if (!r && (int32_t)keel_label(&m) == KE_RANGE)
            break;
        if (r || keel_label(&m)) {
            lib_snprintf(err, errlen, "expected init to answer INIT_TASK_INFO (error %lld)",
                         (long long)(r ? r : (int32_t)keel_label(&m)));
            return -1;
        }
        unsigned state = (unsigned)(m.mr[0] & 0xff);
        if (state == INIT_TASK_OTHER)
            continue; /* a server of test boots */
        char name[17] = { 0 };
        memcpy(name, &m.mr[2], 16);
        tb_put(&b, name);
        tb_put(&b, "\t");
        tb_put(&b, state < sizeof states / sizeof states[0] ? states[state] : "?");
        tb_put(&b, "\t");
        tb_u64(&b, m.mr[1] >> 32);
        tb_put(&b, "\t");
        tb_u64(&b, m.mr[0] >> 32);
        tb_put(&b, "\t");
        tb_u64(&b, m.mr[1] & 0xffffffffu);
        tb_put(&b, "\t");
        unsigned placed = (unsigned)((m.mr[0] >> 8) & 0xff); /* core + 1; 0: not running */
        if (placed)
            tb_u64(&b, placed - 1);
        else
            tb_put(&b, "-");
        tb_put(&b, "\n");
    }
    table_print(c->diff_out, b.len < sizeof c->diff_out ? b.len : sizeof c->diff_out - 1, con_write, c);
    return 0;
}

/* Every running server's memory budget and what it uses of it
 * (INIT_MEMORY_INFO), then the machine's free and managed memory. */
int do_memory(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call;
    struct consoled *c = ctx;
    struct textbuf b;
    tb_init(&b, c->diff_out, sizeof c->diff_out);
    tb_put(&b, "NAME\tBUDGET-KIB\tUSED-KIB\tUSED-%\n");
    uint64_t free_pages = 0, total = 0, used_all = 0;
    for (uint64_t i = 0; i < 64; i++) {
        struct keel_msg t = { .info = INIT_TASK_INFO, .mr = { i } };
        struct keel_msg m = { .info = INIT_MEMORY_INFO, .mr = { i } };
        if (keel_call(SRV_SLOT_INIT, &t) || keel_label(&t) || keel_call(SRV_SLOT_INIT, &m))
            break;
        if (keel_label(&m)) {
            lib_snprintf(err, errlen, "expected init to answer INIT_MEMORY_INFO (error %d)", (int32_t)keel_label(&m));
            return -1;
        }
        free_pages = m.mr[2];
        total = m.mr[3];
        if (!m.mr[0])
            continue; /* not running on this boot */
        char name[17] = { 0 };
        memcpy(name, &t.mr[2], 16);
        tb_put(&b, name);
        tb_put(&b, "\t");
        tb_u64(&b, m.mr[0] >> 10);
        tb_put(&b, "\t");
        tb_u64(&b, m.mr[1] >> 10);
        tb_put(&b, "\t");
        tb_u64(&b, m.mr[1] * 100 / m.mr[0]);
        tb_put(&b, "\n");
        used_all += m.mr[1];
    }
    table_print(c->diff_out, b.len < sizeof c->diff_out ? b.len : sizeof c->diff_out - 1, con_write, c);
    char line[160];
    lib_snprintf(line, sizeof line, "servers use %llu KiB; the machine has %llu KiB free of %llu KiB\r\n",
                 (unsigned long long)(used_all >> 10), (unsigned long long)(free_pages * 4),
                 (unsigned long long)(total * 4));
    con_say(c, line);
    return 0;
}

/* Asks init for LABEL (INIT_RESTART, INIT_REBOOT, INIT_HALT); 0 or -1 with ERR. */
static int init_operator(struct consoled *c, uint32_t label, const char *name, size_t n, char *err, size_t errlen)
{
    struct keel_msg m = { .info = label };
    memcpy(m.mr, name, n); /* n <= 15: NUL-padded */
    con_flush(c);          /* what was said goes out before the machine stops */
    int64_t r = keel_call(SRV_SLOT_INIT, &m);
    if (!r)
        r = (int32_t)keel_label(&m);
    if (r == KE_NO_RIGHTS)
        lib_snprintf(err, errlen, "expected the `admin` grant for consoled in the boot manifest");
    else if (r == KE_INVALID_ARG)
        lib_snprintf(err, errlen, "expected a server started on this boot, as show tasks lists it");
    else if (r)
        lib_snprintf(err, errlen, "init refused (error %lld)", (long long)r);
    return r ? -1 : 0;
}

/* netd starts from appliance.conf: after a restart the console gives it
 * the running configuration again (while netd comes up, con_push_config's
 * calls find nobody waiting and are tried again).  Says so above the line
 * being edited. */
static void resync_servers(struct consoled *c, const char *who)
{
    char err[CMD_ERR_MAX] = "the running configuration is too long", line[CMD_ERR_MAX + 64];
    size_t n = conf_write(&c->running, c->text_a, sizeof c->text_a);
    for (int i = 0; i < RESYNC_TRIES; i++)
        if (n < sizeof c->text_a && con_push_config(c, c->text_a, n, err, sizeof err) == 0) {
            con_log(c, CONF_LOG_INFO, "%s (restarted) runs the running configuration again", who);
            lib_snprintf(line, sizeof line, "\r\n%s runs the running configuration again\r\n", who);
            con_say_async(c, line);
            return;
        }
    con_log(c, CONF_LOG_ERROR, "%s did not take the running configuration after its restart: %s", who, err);
    lib_snprintf(line, sizeof line, "\r\nerror: %s did not take the running configuration after its restart: %s\r\n",
                 who, err);
    con_say_async(c, line);
}

/* One server's entry in init's table (INIT_TASK_INFO); false past the end
 * or when init does not answer. */
static bool task_info(uint64_t index, char name[17], unsigned *state, uint32_t *restarts)
{
    struct keel_msg m = { .info = INIT_TASK_INFO, .mr = { index } };
    if (keel_call(SRV_SLOT_INIT, &m) != KE_OK || keel_label(&m) != 0)
        return false;
    memset(name, 0, 17);
    memcpy(name, &m.mr[2], 16);
    *state = (unsigned)(m.mr[0] & 0xff);
    *restarts = (uint32_t)(m.mr[0] >> 32);
    return true;
}

/* Whether server IDX was restarted since *SEEN and serves again; updates
 * *SEEN when so. */
static bool restarted(int idx, uint32_t *seen)
{
    char name[17];
    unsigned state = 0;
    uint32_t restarts = 0;
    if (idx < 0 || !task_info((uint64_t)idx, name, &state, &restarts) || restarts == *seen || state != INIT_TASK_READY)
        return false; /* the same one, or a new one not serving yet: look again later */
    *seen = restarts;
    return true;
}

void netd_watch(struct consoled *c, uint64_t now)
{
    if ((!c->net.ep && !c->tls.ep) || now < c->netd_poll_at)
        return;
    c->netd_poll_at = now + NETD_POLL_NS;
    bool net = c->net.ep && restarted(c->netd_idx, &c->netd_restarts);
    bool tls = c->tls.ep && restarted(c->tlsd_idx, &c->tlsd_restarts);
    /* Both get it either way: a server that runs it already keeps what is
     * unchanged.  (A netd restart restarts tlsd too: its sockets died.) */
    if (net)
        resync_servers(c, "netd");
    else if (tls)
        resync_servers(c, "tlsd");
}

int do_restart(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    const struct cmd_arg *a = &call->args[0];
    if (a->n == 0 || a->n > 15) {
        lib_snprintf(err, errlen, "expected a server name of 1-15 characters");
        return -1;
    }
    if (init_operator(c, INIT_RESTART, a->s, a->n, err, errlen))
        return -1;
    con_log(c, CONF_LOG_WARN, "restart of %.*s asked on the console", (int)a->n, a->s);
    con_say(c, "restarting\r\n");
    c->netd_poll_at = 0; /* netd_watch looks at once, then every NETD_POLL_NS */
    con_arm_timer(c);
    return 0;
}

int do_reboot_halt(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    bool reboot = call->id == CMD_REBOOT;
    con_log(c, CONF_LOG_WARN, "%s asked on the console", reboot ? "reboot" : "halt");
    con_say(c, reboot ? "rebooting\r\n" : "halting\r\n");
    return init_operator(c, reboot ? INIT_REBOOT : INIT_HALT, "", 0, err, errlen);
}

/* Server NAME's index in init's table, its state and restarts; -1 when
 * init lists no such server. */
int task_find(const char *name, unsigned *state, uint32_t *restarts)
{
    char n[17];
    /* Names are unique within this boot's set only (init/manifest.h): a test
     * set's server of the same name is INIT_TASK_OTHER. */
    for (uint64_t i = 0; i < 64 && task_info(i, n, state, restarts); i++)
        if (strcmp(n, name) == 0 && *state != INIT_TASK_OTHER)
            return (int)i;
    return -1;
}

int task_running(const char *name, uint32_t *restarts)
{
    unsigned state = 0;
    int idx = task_find(name, &state, restarts);
    return idx < 0 || state == INIT_TASK_ABSENT || state == INIT_TASK_OTHER ? -1 : idx;
}

int64_t map_region(uint64_t shm, uint64_t pages_min, uint64_t va)
{
    uint64_t pages = 0;
    int64_t err = keel_frame_info(shm, NULL, &pages);
    if (!err && pages < pages_min)
        err = KE_RANGE;
    if (!err)
        err = keel_map(SRV_SLOT_TASK, shm, va, RIGHT_READ | RIGHT_WRITE);
    return err;
}

bool region_connect(struct consoled *c, const struct keel_srvinfo *si, const char *server, const char *cap,
                    const char *shm_cap, uint64_t pages, uint64_t va, const char *lost, uint64_t *cap_out)
{
    uint64_t k = srv_find_cap(si, cap), shm = srv_find_cap(si, shm_cap);
    uint32_t restarts = 0;
    if (!k || !shm || task_running(server, &restarts) < 0)
        return false;
    if (map_region(shm, pages, va) != KE_OK) {
        con_log(c, CONF_LOG_ERROR, "the region shared with %s cannot be mapped: %s", server, lost);
        return false;
    }
    *cap_out = k;
    return true;
}

/* What setup_netd and setup_tlsd share: with the capabilities "ep:SERVER"
 * and SHM_CAP, and SERVER started on this boot, maps the region (at least
 * PAGES pages) at VA and returns true with *EP, *IDX (SERVER's task index)
 * and *RESTARTS set: SERVER's restarts, or their complement when consoled
 * itself was restarted, so that the next check finds them changed and
 * gives SERVER the running configuration again.  False otherwise (logged,
 * but for missing capabilities; WITHOUT says what commits do then),
 * nothing set. */
static bool admin_connect(struct consoled *c, const struct keel_srvinfo *si, const char *server, const char *shm_cap,
                          uint64_t pages, uint64_t va, const char *without, uint64_t *ep, int *idx, uint32_t *restarts)
{
    char ep_cap[24];
    snprintf(ep_cap, sizeof ep_cap, "ep:%s", server);
    uint64_t e = srv_find_cap(si, ep_cap), shm = srv_find_cap(si, shm_cap);
    if (!e || !shm)
        return false;
    uint32_t n = 0;
    int k = task_running(server, &n);
    if (k < 0) {
        con_log(c, CONF_LOG_INFO, "%s is not started on this boot: %s", server, without);
        return false;
    }
    int64_t err = map_region(shm, pages, va);
    if (err) {
        con_log(c, CONF_LOG_ERROR, "the region shared with %s cannot be mapped (error %lld)", server, (long long)err);
        return false;
    }
    *ep = e;
    *idx = k;
    *restarts = si->restarts ? ~n : n;
    return true;
}

/* netd's administration protocol: `connect netd` and `share admin-consoled`
 * (abi/keel/netadm.h).  Without both, or when init left netd out (no NIC
 * named in appliance.conf: init decided that before starting anyone),
 * commits change consoled's copy only.  A netd that restarts after this
 * gets the running configuration; so does the netd of now when consoled
 * itself was restarted (consoled runs appliance.conf again, netd may run a
 * later commit). */
void setup_netd(struct consoled *c, const struct keel_srvinfo *si)
{
    uint64_t ep = 0;
    if (admin_connect(c, si, "netd", "shm:admin-consoled", NETADM_SHM_PAGES, ADMIN_VA,
                      "commits change consoled's copy only", &ep, &c->netd_idx, &c->netd_restarts))
        c->net = (struct netadm){ .ep = ep, .base = (uint8_t *)ADMIN_VA, .nap = nap_cb, .ctx = c };
}

/* tlsd's protocol, the same way (`connect tlsd`, `share tlsadm-consoled`). */
void setup_tlsd(struct consoled *c, const struct keel_srvinfo *si)
{
    uint64_t ep = 0;
    c->tlsd_idx = -1;
    if (admin_connect(c, si, "tlsd", "shm:tlsadm-consoled", TLSADM_SHM_PAGES, TLSADM_VA,
                      "tls blocks change consoled's copy only", &ep, &c->tlsd_idx, &c->tlsd_restarts))
        c->tls = (struct tlsadm){ .ep = ep, .base = (uint8_t *)TLSADM_VA, .nap = nap_cb, .ctx = c };
}
