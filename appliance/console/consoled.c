/*
 * consoled.c - the serial console server (program `consoled`): the line
 * editor (lineedit.c) and the command language (cmd.c) over the console
 * protocol of the UART driver (abi/keel/console.h).
 *
 * What it is given (by init, named in its server-information page):
 *   "ep:NAME"       the driver's endpoint (calls: CONSOLE_READ / WRITE)
 *   "notify:NAME"   the notification the driver raises CONSOLE_EVT_RX /
 *                   CONSOLE_EVT_TX on; consoled waits on it
 *   "signal:NAME"   the same notification, writable: consoled arms the
 *                   kernel timer on it (SYS_TIMER_ARM, bit EVT_TIMER), so
 *                   one wait sees keys and deadlines alike
 *   "site"          the site archive (cpio newc); appliance.conf in it is
 *                   the running configuration at boot
 *   "ep:netd", "shm:admin-consoled"   optional: netd's administration
 *                   protocol (abi/keel/netadm.h, netadm_client.c): commits,
 *                   the `show` tables from netd, ping
 *   "serve:log"     optional: the log endpoint other servers write to
 *                   (abi/keel/log.h), served by a thread of its own
 *                   (logsrv.c)
 *   manifest `admin`  init takes INIT_RESTART / INIT_REBOOT / INIT_HALT
 *                   from consoled (show tasks needs no grant)
 *
 * One thread, one loop: wait for bits; on RX read until the driver has
 * nothing more and feed every byte to the editor; each finished line runs
 * one command; output collects in a buffer that is written out at the end
 * of each batch (one call carries up to 31 bytes).  When the driver's
 * transmit queue is full consoled waits for CONSOLE_EVT_TX, keeping any RX
 * bit that arrives meanwhile for the next round.  Calls flow one way
 * (consoled -> uart, netd, init), so none waits on consoled's main thread;
 * the servers' LOG_WRITE calls go to the log thread, which calls no one.
 * Calls to netd are sent with KEEL_NONBLOCK and tried again after a 10 ms
 * nap while netd is not waiting (absent, busy, restarting), so a missing
 * netd costs the console a few seconds, never a hang.
 *
 * Configuration mode edits a candidate kept as text (conf_text_set /
 * conf_text_delete); a line typed there that starts with a statement's
 * keyword (hostname, interface, pass, tls ...) is a `set`, and a pasted
 * `tls PORT {` ... `}` block is taken a line at a time.  `commit` parses
 * the candidate, hands it to every server that takes configuration
 * (con_push_config: netd prepares it, and commits it only when all prepared;
 * a refusal leaves every server as it was and says why, with netd's line
 * and column) and then makes it the running configuration, kept for
 * `rollback N` (0 is the running one, up to 9 back; a rollback loads the
 * candidate, and the next commit pushes it).  What netd takes: the rules
 * and the interface names they use; addresses stay as at netd's start.
 * A restarted netd starts from appliance.conf: every NETD_POLL_NS
 * consoled asks init for netd's restart count (netd_watch,
 * consoled_ops.c) and gives a new netd the running configuration again.
 *
 * Boot: appliance.conf is parsed (conf_parse, rules checked by their first
 * word only: netd parses them fully and denies everything on its own
 * errors).  Its errors are printed before the first prompt and kept for
 * `show config errors`; a bad file runs the empty configuration, but a
 * well-formed `console password-hash` line in it is still honoured, so a
 * typo elsewhere never opens the console.
 *
 * Login: with a password hash set, the shell starts locked: "Password: "
 * with echo off; passwd_verify checks the line.  After the Nth failure in
 * a row it waits 2^(N-1) seconds (1, 2, 4 ... capped at LOGIN_DELAY_MAX_S)
 * before asking again, discarding what is typed meanwhile.  `exit` in
 * operational mode locks the console again.
 *
 * Deadlines (the login delay, a `commit confirmed`) share one kernel timer
 * armed for the earliest (con_arm_timer).  `commit confirmed N` keeps the
 * configuration from before it; unless a plain `commit` follows within N
 * minutes it becomes the running one again (and the candidate; netd gets
 * it back too), and the console says so.  `commit confirmed-seconds N` (hidden) does the same in
 * seconds, for tests.
 *
 * Log: a ring (logring.h: 128 entries) of consoled's own events and of
 * every server's ulog lines (logsrv.c queues them; the main thread moves
 * them into the ring on EVT_LOG, so the ring has one owner and no lock);
 * `show log` prints it as a table; `show log follow` prints new entries as
 * they come until a key is pressed; `log level L` changes the ring's level
 * at run time, and each commit sets it to the configuration's `log` level.
 *
 * Tables (consoled_ops.c, with the other commands that ask another
 * server): `show interfaces | arp | routes | connections | firewall |
 * states` ask netd (NETADM_SHOW: rows of tab-separated fields, aligned by
 * table.c); `show tasks` asks init (INIT_TASK_INFO per server); `ping`
 * starts netd's pinger and polls it every 200 ms.
 *
 * tlsd (abi/keel/tlsd.h, tlsadm_client.c) takes the `tls` blocks the same
 * way, prepared after netd and committed after it; `show tls` reads its
 * listeners and counters.  A restarted netd or tlsd runs appliance.conf
 * for up to NETD_POLL_NS (2 s), until netd_watch notices it.
 *
 * Files: consoled.c (this: output, the log ring's feed, the loop, boot),
 * consoled_cmds.c (the command table and dispatch), consoled_commit.c (the
 * candidate, commit, rollback), consoled_login.c (login, modes, prompt),
 * consoled_ops.c (commands that ask netd, tlsd or init), consoled_store.c,
 * consoled_opsd.c and consoled_keyd.c (the disk, opsd and keyd); shared
 * declarations in consoled.h.
 *
 * Memory: everything is in one static struct consoled (configurations,
 * candidate, history, the diff workspace, the configuration a commit
 * confirmed returns to and the 16 KiB log ring: ~615 KiB of bss, too big
 * for the stack; the manifest gives 1M).  The site archive is mapped
 * read-only at SITE_VA and only read at boot.
 */
#include <keel/console.h>
#include <keel/console_client.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/netadm_client.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/textbuf.h>
#include <keel/ulog.h>

#include <keel/cpio.h>

#include "cmd.h"
#include "conf.h"
#include "lineedit.h"
#include "logring.h"
#include "logsrv.h"
#include "passwd.h"
#include "consoled.h"
#include "table.h"

static struct consoled C;

/* ---------------------------------------------------------------- output -- */

void con_flush(struct consoled *c)
{
    size_t off = 0;
    while (off < c->out_len && !c->dead) {
        int64_t n = console_write(c->ep, c->out + off, c->out_len - off);
        if (n < 0) {
            c->dead = true; /* a dead or restarting driver: drop this output */
            break;
        }
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        uint64_t bits = 0; /* queue full: wait for room */
        if (keel_wait(c->ntfn, 0, &bits) != KE_OK)
            break;
        c->pending |= bits & ~CONSOLE_EVT_TX;
    }
    c->out_len = 0;
    c->dead = false;
}

void con_write(void *ctx, const char *s, size_t n)
{
    struct consoled *c = ctx;
    while (n) {
        if (c->out_len == OUT_MAX)
            con_flush(c);
        size_t k = OUT_MAX - c->out_len < n ? OUT_MAX - c->out_len : n;
        memcpy(c->out + c->out_len, s, k);
        c->out_len += k;
        s += k;
        n -= k;
    }
}

void con_say(struct consoled *c, const char *s) { con_write(c, s, strlen(s)); }

/* Writes TEXT with every "\n" sent as "\r\n" (the terminal is raw). */
void con_say_text(struct consoled *c, const char *text, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\n') {
            con_write(c, text + start, i - start);
            con_write(c, "\r\n", 2);
            start = i + 1;
        }
    con_write(c, text + start, n - start);
}

/* ------------------------------------------------------------------- log -- */

/* Output that may come while a line is being edited (a rollback, a log row
 * while following): above the line, which is then redrawn. */
void con_say_async_n(struct consoled *c, const char *s, size_t n)
{
    if (c->le.active)
        le_print_above(&c->le, s, n);
    else
        con_write(c, s, n);
}

void con_say_async(struct consoled *c, const char *s) { con_say_async_n(c, s, strlen(s)); }

/* Prints the rows not yet shown to a `show log follow`. */
void con_follow_print(struct consoled *c)
{
    char row[LOG_LINE_MAX];
    if (c->follow_next < log_ring_first(&c->log))
        c->follow_next = log_ring_first(&c->log);
    for (; c->follow_next < log_ring_next(&c->log); c->follow_next++) {
        size_t n = log_format_entry(log_ring_get(&c->log, c->follow_next), row, sizeof row);
        con_write(c, row, n < sizeof row ? n : sizeof row - 1);
    }
}

/* Moves the entries the log thread queued into the ring (main thread). */
static void take_log(struct consoled *c)
{
    struct logsrv_entry e;
    bool added = false;
    while (logsrv_take(&c->logsrv, &e))
        if (log_ring_add(&c->log, e.time_ns, e.level, e.server, e.msg)) {
            added = true;
            ops_log(c, e.time_ns, e.level, e.server, e.msg); /* to the syslog collector (opsd) */
        }
    if (added && c->following)
        con_follow_print(c);
    ops_log_lost(c);
}

/* Logs one of consoled's own events (printf-style; cut at LOG_MSG_MAX - 1). */
void con_log(struct consoled *c, unsigned level, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    lib_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    take_log(c); /* entries the log thread queued earlier go first */
    uint64_t now = keel_now_ns();
    if (!log_ring_add(&c->log, now, level, "consoled", msg))
        return;
    ops_log(c, now, level, "consoled", msg);
    if (c->following)
        con_follow_print(c);
}

/* ------------------------------------------------------------- the loop -- */

static void le_complete_cb(void *ctx, const char *line, size_t cursor, struct le_completion *comp)
{
    struct consoled *c = ctx;
    cmd_complete(line, cursor, c->mode, comp);
}

static void le_help_cb(void *ctx, const char *line, size_t cursor)
{
    struct consoled *c = ctx;
    cmd_help(line, cursor, c->mode, con_write, c);
}

static const struct le_ops le_ops = { con_write, le_complete_cb, le_help_cb, &C };

/* Arms the kernel timer for the earliest deadline (or disarms it). */
void con_arm_timer(struct consoled *c)
{
    uint64_t when = c->login_until;
    if (c->confirm_deadline && (!when || c->confirm_deadline < when))
        when = c->confirm_deadline;
    if (c->net.ep && (!when || c->netd_poll_at < when))
        when = c->netd_poll_at ? c->netd_poll_at : 1; /* 1: due now */
    if (c->signal)
        (void)sys6(SYS_TIMER_ARM, c->signal, when, when ? EVT_TIMER : 0, 0, 0, 0);
}

/* Deadlines that have passed (the timer fired, or input came late). */
static void check_deadlines(struct consoled *c)
{
    uint64_t now = keel_now_ns();
    if (c->login_until && now >= c->login_until) {
        c->login_until = 0;
        le_start(&c->le); /* "Password: " again */
    }
    if (c->confirm_deadline && now >= c->confirm_deadline)
        con_confirm_expired(c);
    netd_watch(c, now);
    con_arm_timer(c);
}

static void take_input(struct consoled *c)
{
    uint8_t buf[CONSOLE_MSG_BYTES];
    for (;;) {
        int64_t n = console_read(c->ep, buf);
        if (n <= 0)
            return;
        if (c->login_until) {
            check_deadlines(c); /* without a timer, the wait ends at a key */
            if (c->login_until)
                continue; /* typed during the wait after a failure: dropped */
        }
        for (int64_t i = 0; i < n; i++) {
            if (c->following) { /* any key ends `show log follow` */
                c->following = false;
                con_say(c, "\r\n");
                le_start(&c->le);
                continue;
            }
            if (c->login_until)
                break;
            enum le_event ev = le_feed(&c->le, buf[i]);
            if (ev == LE_NONE)
                continue;
            if (ev == LE_LINE && c->locked) {
                con_try_password(c, le_line(&c->le));
                continue;
            }
            if (ev == LE_LINE)
                con_run_line(c, le_line(&c->le));
            else if (ev == LE_TOO_LONG)
                con_say(c, "error: expected a line of at most 511 characters (ignored)\r\n");
            if (!c->following)
                le_start(&c->le); /* the next prompt, now: not when the next key comes */
        }
    }
}

/* ----------------------------------------------------- appliance.conf -- */

/* Reads appliance.conf from the site archive into the running
 * configuration; notes what happened in boot_msg / boot_res. */
static void load_config(struct consoled *c, const struct keel_srvinfo *si)
{
    conf_init(&c->running);
    c->site_hash = cst_fnv64("", 0); /* no file: the hash of nothing */
    c->site_ok = true;
    const void *site = NULL;
    size_t site_len = 0;
    int64_t err = srv_map_site(si, SITE_VA, &site, &site_len);
    if (err == KE_EMPTY_SLOT) {
        strlcpy(c->boot_msg, "no site archive was booted: the empty configuration runs (no appliance.conf)",
                sizeof c->boot_msg);
        return;
    }
    if (err) {
        lib_snprintf(c->boot_msg, sizeof c->boot_msg, "the site archive cannot be mapped (error %lld)", (long long)err);
        return;
    }
    const void *data = NULL;
    size_t len = 0;
    int r = cpio_find(site, site_len, "appliance.conf", &data, &len);
    if (r) {
        lib_snprintf(c->boot_msg, sizeof c->boot_msg,
                     "appliance.conf cannot be read from the site archive (%s): the empty configuration runs",
                     cpio_strerror(r));
        return;
    }
    c->site_hash = cst_fnv64(data, len);
    static const struct conf_parser boot_parser = { "appliance.conf", 0, false };
    if (conf_parse(&boot_parser, data, len, &c->parsed, &c->boot_res) != CONF_OK) {
        lib_snprintf(c->boot_msg, sizeof c->boot_msg,
                     "appliance.conf has errors: the empty configuration runs (the firewall blocks everything)");
        c->site_ok = false;
        con_recover_password(c, data, len);
        return;
    }
    c->running = c->parsed;
    strlcpy(c->pw_hash, c->running.password_hash, sizeof c->pw_hash);
    lib_snprintf(c->boot_msg, sizeof c->boot_msg, "no configuration errors (appliance.conf, %zu bytes)", len);
}

static uint64_t find_prefix(const struct keel_srvinfo *si, const char *prefix)
{
    size_t n = strlen(prefix);
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++)
        if (strncmp(si->caps[i].name, prefix, n) == 0)
            return si->caps[i].slot;
    return 0;
}

/* The log service (`endpoint log`), in its own thread at consoled's
 * priority, which we learn by asking for the highest one the kernel allows
 * (it refuses any above ours). */
static void start_log(struct consoled *c, const struct keel_srvinfo *si)
{
    uint64_t ep = srv_find_cap(si, "serve:log");
    if (!ep)
        return;
    int64_t err = logsrv_start(&c->logsrv, si, ep, c->signal, EVT_LOG, 31);
    if (err)
        con_log(c, CONF_LOG_ERROR, "the log service cannot start (error %lld): servers log to the kernel only",
                (long long)err);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    struct consoled *c = &C;
    c->ep = find_prefix(si, "ep:");
    c->ntfn = find_prefix(si, "notify:");
    c->signal = find_prefix(si, "signal:");
    if (!c->ep || !c->ntfn) {
        ulog("consoled: the manifest must grant connect and notify for the console driver");
        return 1;
    }
    log_ring_init(&c->log, CONF_LOG_INFO);
    setup_netd(c, si);
    setup_tlsd(c, si);
    store_setup(c, si);
    ops_setup(c, si);
    clock_setup(c, si);
    keyadm_setup(c, si);
    c->mode = CMD_MODE_OPER;
    le_init(&c->le, &le_ops);
    load_config(c, si);
    store_boot(c); /* a saved configuration newer than the site's replaces it */
    char hash[CONF_HASH_MAX];
    strlcpy(hash, c->pw_hash, sizeof hash); /* a recovered one survives apply_config */
    con_apply_config(c, &c->running);
    if (hash[0])
        strlcpy(c->pw_hash, hash, sizeof c->pw_hash);
    store_note_site(c);
    con_log(c, CONF_LOG_INFO, "%s", c->source_msg);
    con_log(c, c->boot_res.n_errors ? CONF_LOG_ERROR : CONF_LOG_INFO, "%s", c->boot_msg);
    for (unsigned i = 0; i < c->boot_res.n_errors; i++)
        con_log(c, CONF_LOG_ERROR, "%s", c->boot_res.errors[i].msg);
    if (!c->signal)
        con_log(c, CONF_LOG_WARN, "no `signal console` grant: no timer (commit confirmed refused)");
    start_log(c, si);
    srv_ready();

    con_say(c, "\r\n");
    con_say(c, c->boot_msg);
    con_say(c, "\r\n");
    con_say_errors(c, &c->boot_res);
    con_say(c, c->source_msg);
    con_say(c, "\r\n");
    if (c->pw_hash[0])
        con_lock(c);
    else
        con_say(c, "Keel " KEEL_VERSION " console. Type help, or ? after any word.\r\n");
    le_start(&c->le);
    con_arm_timer(c); /* netd_watch's first round (a saved configuration waits for it) */
    take_input(c);    /* bytes typed before we started */
    con_flush(c);
    for (;;) {
        uint64_t bits = c->pending;
        c->pending = 0;
        if (!bits && keel_wait(c->ntfn, 0, &bits) != KE_OK) {
            ulog("consoled: waiting for the console failed");
            return 1;
        }
        if (bits & EVT_TIMER)
            check_deadlines(c);
        if (bits & EVT_LOG)
            take_log(c);
        if (bits & CONSOLE_EVT_RX)
            take_input(c);
        con_flush(c);
    }
}
