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
 * Memory: everything is in one static struct consoled (configurations,
 * candidate, history, the diff workspace, the configuration a commit
 * confirmed returns to and the 16 KiB log ring: ~615 KiB of bss, too big
 * for the stack; the manifest gives 1M).  The site archive is mapped
 * read-only at SITE_VA and only read at boot.
 */
#include <keel/console.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/textbuf.h>
#include <keel/ulog.h>

#include <keel/cpio.h>

#include "cmd.h"
#include "conf.h"
#include "console_client.h"
#include "lineedit.h"
#include "logring.h"
#include "logsrv.h"
#include "netadm_client.h"
#include "passwd.h"
#include "consoled.h"
#include "table.h"

static struct consoled C;

static void set_prompt(struct consoled *c);

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
static void say_async(struct consoled *c, const char *s, size_t n)
{
    if (c->le.active)
        le_print_above(&c->le, s, n);
    else
        con_write(c, s, n);
}

void con_say_async(struct consoled *c, const char *s) { say_async(c, s, strlen(s)); }

/* Prints the rows not yet shown to a `show log follow`. */
static void follow_print(struct consoled *c)
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
        follow_print(c);
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
        follow_print(c);
}

/* -------------------------------------------------------------- commands -- */

static int do_help(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    (void)call, (void)err, (void)errlen;
    cmd_help("", 0, c->mode, con_write, c);
    return 0;
}

static int do_version(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    con_say(ctx, "Keel " KEEL_VERSION "\r\n");
    return 0;
}

static int do_uptime(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    uint64_t s = keel_now_ns() / 1000000000ull;
    char line[64];
    lib_snprintf(line, sizeof line, "up %llu days, %02llu:%02llu:%02llu\r\n", (unsigned long long)(s / 86400),
                 (unsigned long long)(s / 3600 % 24), (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
    con_say(ctx, line);
    return 0;
}

static int do_running(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    size_t n = conf_write(&c->running, c->text_a, sizeof c->text_a);
    con_say_text(c, c->text_a, n < sizeof c->text_a ? n : sizeof c->text_a - 1);
    return 0;
}

static int do_candidate(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    con_say_text(c, c->candidate.buf, c->candidate.len);
    return 0;
}

static int do_compare(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call;
    struct consoled *c = ctx;
    size_t a = conf_write(&c->running, c->text_a, sizeof c->text_a);
    size_t n = 0;
    if (a >= sizeof c->text_a || conf_diff(c->text_a, a, c->candidate.buf, c->candidate.len, &c->diff, c->diff_out,
                                           sizeof c->diff_out, &n) != CONF_OK) {
        lib_snprintf(err, errlen, "expected a configuration of at most %u lines to compare", CONF_DIFF_MAX_LINES);
        return -1;
    }
    if (n == 0)
        con_say(c, "(no changes)\r\n");
    else
        con_say_text(c, c->diff_out, n < sizeof c->diff_out ? n : sizeof c->diff_out - 1);
    return 0;
}

/* ------------------------------------------------- candidate and commits -- */

/* Makes TEXT the newest history entry (rollback 0), dropping the oldest
 * entries when the pool or the count is full.  The pool is rebuilt in
 * scratch space (newest first), so no text is ever overwritten in place. */
static void history_push(struct consoled *c, const char *text, size_t n)
{
    if (n > HISTORY_BYTES)
        return;
    uint32_t used = (uint32_t)n;
    unsigned keep = 0;
    while (keep < c->hist_n && keep + 1 < HISTORY_MAX && used + c->hist_len[keep] <= HISTORY_BYTES)
        used += c->hist_len[keep++];
    uint32_t off = 0;
    memcpy(c->hist_tmp, text, n);
    off += (uint32_t)n;
    uint32_t new_off[HISTORY_MAX], new_len[HISTORY_MAX];
    new_off[0] = 0;
    new_len[0] = (uint32_t)n;
    for (unsigned i = 0; i < keep; i++) {
        memcpy(c->hist_tmp + off, c->hist + c->hist_off[i], c->hist_len[i]);
        new_off[i + 1] = off;
        new_len[i + 1] = c->hist_len[i];
        off += c->hist_len[i];
    }
    memcpy(c->hist, c->hist_tmp, off);
    c->hist_n = keep + 1;
    memcpy(c->hist_off, new_off, sizeof new_off);
    memcpy(c->hist_len, new_len, sizeof new_len);
}

static void say_errors(struct consoled *c, const struct conf_result *r)
{
    for (unsigned i = 0; i < r->n_errors; i++) {
        con_say(c, "error: ");
        con_say(c, r->errors[i].msg);
        con_say(c, "\r\n");
    }
    if (r->more)
        con_say(c, "error: (and more)\r\n");
}

static const struct conf_parser candidate_parser = { "candidate", 0, false };

/*
 * Hands TEXT (a whole configuration, LEN bytes) to every server that
 * takes configuration, all or nothing: each prepares it (parses it beside
 * its running one; tlsd also builds new listeners' certificates), and only
 * when all have accepted does each commit; a refusal aborts the ones
 * prepared and leaves every server as it was.  The servers: netd (rules,
 * routes) and tlsd (listeners), each when connected on this boot.
 * Returns 0, or -1 with a one-line reason in ERR.  Neither connected: 0,
 * consoled's copy only.
 */
int con_push_config(struct consoled *c, const char *text, size_t len, char *err, size_t errlen)
{
    char msg[TLSADM_OUT_MAX < 512 ? TLSADM_OUT_MAX : 512];
    unsigned line = 0, col = 0, rules = 0;
    int64_t r = 0;
    if (c->net.ep) {
        r = netadm_prepare(&c->net, text, len, msg, sizeof msg, &line, &col);
        if (r == NETADM_E_PARSE) {
            lib_snprintf(err, errlen, "netd refused the configuration: %s", msg);
            return -1;
        }
        if (r) {
            lib_snprintf(err, errlen, "netd cannot take the configuration: %s", netadm_strerror(r));
            return -1;
        }
    }
    if (keyadm_prepare(c, text, len, err, errlen)) { /* keyd loads new keys before tlsd needs them */
        if (c->net.ep)
            (void)netadm_abort(&c->net);
        return -1;
    }
    struct tlsadm_summary ts = { 0 };
    if (c->tls.ep) {
        r = tlsadm_prepare(&c->tls, text, len, msg, sizeof msg, &line, &col, &ts);
        if (r) {
            keyadm_abort(c); /* after tlsd dropped its prepare: it keeps no id of these keys */
            if (c->net.ep)
                (void)netadm_abort(&c->net);
            if (r == TLSD_E_CONFIG)
                lib_snprintf(err, errlen, "tlsd refused the configuration: %s", msg);
            else
                lib_snprintf(err, errlen, "tlsd cannot take the configuration: %s", tlsadm_strerror(r));
            return -1;
        }
    }
    /* every server prepared it: point of no return */
    if (c->net.ep) {
        r = netadm_commit(&c->net, &rules);
        if (r) {
            if (c->tls.ep)
                (void)tlsadm_abort(&c->tls);
            keyadm_abort(c);
            lib_snprintf(err, errlen, "netd did not commit the prepared configuration: %s", netadm_strerror(r));
            return -1;
        }
        con_log(c, CONF_LOG_INFO, "netd: %u firewall rules in force", rules);
    }
    keyadm_commit(c);
    if (c->tls.ep) {
        r = tlsadm_commit(&c->tls, &ts);
        if (r) {
            /* netd took it already: say so plainly (only a tlsd restart
             * between the two calls gets here; the watcher resyncs it). */
            lib_snprintf(err, errlen, "tlsd did not commit the prepared configuration (%s); netd runs the new one",
                         tlsadm_strerror(r));
            return -1;
        }
        con_log(c, CONF_LOG_INFO, "tlsd: %u listeners: %u kept, %u started; %u connections closed", ts.listeners,
                ts.kept, ts.started, ts.other);
    }
    return 0;
}

/* Makes NEW the running configuration (and the candidate, and rollback 0);
 * its log level and password take effect. */
static void apply_config(struct consoled *c, const struct conf *new_conf)
{
    if (new_conf != &c->running)
        c->running = *new_conf;
    conf_text_from(&c->candidate, &c->running);
    history_push(c, c->candidate.buf, c->candidate.len);
    log_ring_set_level(&c->log, c->running.log_level);
    strlcpy(c->pw_hash, c->running.password_hash, sizeof c->pw_hash);
    set_prompt(c);
    ops_push_config(c); /* syslog, ntp, metrics: opsd's */
}

/* Saves the running configuration on the disk (when there is one); a
 * failure is a console line: the change runs all the same. */
static void save_or_say(struct consoled *c, enum cst_kind kind)
{
    char err[CMD_ERR_MAX];
    if (store_save(c, kind, err, sizeof err)) {
        con_say(c, "warning: ");
        con_say(c, err);
        con_say(c, "\r\n");
    }
}

static int do_commit(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    if (conf_parse(&candidate_parser, c->candidate.buf, c->candidate.len, &c->parsed, &c->res) != CONF_OK) {
        say_errors(c, &c->res);
        if (call->id != CMD_COMMIT_CHECK)
            con_log(c, CONF_LOG_ERROR, "commit refused: %u errors in the candidate", c->res.n_errors);
        lib_snprintf(err, errlen, "expected a complete candidate: nothing was changed");
        return -1;
    }
    if (call->id == CMD_COMMIT_CHECK) {
        con_say(c, "configuration check succeeds\r\n");
        return 0;
    }
    uint64_t secs = 0;
    if (call->id == CMD_COMMIT_CONFIRMED || call->id == CMD_COMMIT_CONFIRMED_SECONDS) {
        secs = call->id == CMD_COMMIT_CONFIRMED ? call->args[0].num * 60 : call->args[0].num;
        if (!c->signal) {
            lib_snprintf(err, errlen,
                         "expected a timer for commit confirmed (the manifest must grant consoled "
                         "`signal console`): nothing was changed");
            return -1;
        }
    } else if (c->confirm_deadline) {
        c->confirm_deadline = 0; /* a plain commit confirms */
        con_arm_timer(c);
        con_log(c, CONF_LOG_INFO, "commit confirmed: confirmed");
        con_say(c, "commit confirmed: confirmed, the configuration stays\r\n");
        if (conf_equal(&c->parsed, &c->running))
            save_or_say(c, CST_KIND_COMMIT); /* on the disk too: no longer pending */
    }
    if (conf_equal(&c->parsed, &c->running)) {
        con_say(c, "(no changes to commit)\r\n");
        return 0;
    }
    if (con_push_config(c, c->candidate.buf, c->candidate.len, err, errlen)) {
        con_log(c, CONF_LOG_ERROR, "commit refused: %s", err);
        size_t n = strlen(err);
        lib_snprintf(err + n, errlen - n, "; nothing was changed");
        return -1;
    }
    /* point of no return: the servers run it */
    if (secs && !c->confirm_deadline)
        c->confirm_prev = c->running; /* a second commit confirmed keeps the first one's way back */
    apply_config(c, &c->parsed);
    save_or_say(c, secs ? CST_KIND_PENDING : CST_KIND_COMMIT);
    if (secs) {
        c->confirm_deadline = keel_now_ns() + secs * NS_PER_S;
        c->confirm_secs = secs;
        con_arm_timer(c);
        con_log(c, CONF_LOG_INFO, "commit confirmed: rolls back in %llu s unless confirmed", (unsigned long long)secs);
        char line[128];
        lib_snprintf(line, sizeof line, "commit complete; it rolls back in %llu s unless `commit` confirms it\r\n",
                     (unsigned long long)secs);
        con_say(c, line);
    } else {
        con_log(c, CONF_LOG_INFO, "commit: hostname %s; interfaces %u, rules %u, tls listeners %u", c->running.hostname,
                c->running.n_ifaces, c->running.n_rules, c->running.n_tls);
    }
    if (!secs)
        con_say(c,
                c->net.ep ? "commit complete\r\n" : "commit complete (consoled's copy only: no netd is connected)\r\n");
    return 0;
}

/* The deadline of a commit confirmed passed: back to the configuration
 * from before it (also as the candidate: its edits are gone). */
static void confirm_expired(struct consoled *c)
{
    c->confirm_deadline = 0;
    char err[CMD_ERR_MAX];
    size_t n = conf_write(&c->confirm_prev, c->text_a, sizeof c->text_a);
    if (n >= sizeof c->text_a || con_push_config(c, c->text_a, n, err, sizeof err)) {
        if (n >= sizeof c->text_a)
            strlcpy(err, "the configuration to return to is too long", sizeof err);
        con_log(c, CONF_LOG_ERROR, "commit confirmed: the rollback failed: %s", err);
        char line[CMD_ERR_MAX + 64];
        lib_snprintf(line, sizeof line, "\r\ncommit confirmed: the rollback failed: %s\r\n", err);
        say_async(c, line, strlen(line));
        return;
    }
    apply_config(c, &c->confirm_prev);
    char serr[CMD_ERR_MAX], sline[CMD_ERR_MAX + 16];
    if (store_save(c, CST_KIND_RESTORED, serr, sizeof serr)) {
        lib_snprintf(sline, sizeof sline, "\r\nwarning: %s\r\n", serr);
        say_async(c, sline, strlen(sline));
    }
    con_log(c, CONF_LOG_WARN, "commit confirmed: not confirmed within %llu s, rolled back",
            (unsigned long long)c->confirm_secs);
    char line[128];
    lib_snprintf(line, sizeof line, "\r\ncommit confirmed: not confirmed within %llu s; rolled back\r\n",
                 (unsigned long long)c->confirm_secs);
    set_prompt(c);
    say_async(c, line, strlen(line));
}

static int do_rollback(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    unsigned n = call->n_args ? (unsigned)call->args[0].num : 0, max = store_rollback_max(c);
    if (n >= max) {
        lib_snprintf(err, errlen, "expected a rollback number from 0 to %u (there are %u commits%s)", max ? max - 1 : 0,
                     max, c->store_on ? " on the disk" : "");
        return -1;
    }
    if (c->store_on) {
        if (store_rollback(c, n, err, errlen))
            return -1;
    } else {
        memcpy(c->candidate.buf, c->hist + c->hist_off[n], c->hist_len[n]);
        c->candidate.len = c->hist_len[n];
        c->candidate.buf[c->candidate.len] = '\0';
    }
    con_say(c, "load complete (show | compare shows the difference; commit applies it)\r\n");
    return 0;
}

static int do_set(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    return conf_text_set(&c->candidate, &candidate_parser, call->rest, call->rest_len, &c->edit, err, errlen) ? -1 : 0;
}

static int do_delete(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    return conf_text_delete(&c->candidate, call->rest, call->rest_len, err, errlen) ? -1 : 0;
}

static int do_config_errors(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    con_say(c, c->boot_msg);
    con_say(c, "\r\n");
    say_errors(c, &c->boot_res);
    return 0;
}

static int do_show_log(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct consoled *c = ctx;
    char row[LOG_LINE_MAX];
    uint64_t first = log_ring_first(&c->log);
    if (first) {
        lib_snprintf(row, sizeof row, "(%llu older entries were overwritten)\r\n", (unsigned long long)first);
        con_say(c, row);
    }
    /* Racy reads of the log thread's counters: a count one entry late at worst. */
    uint64_t missed = __atomic_load_n(&c->logsrv.missed, __ATOMIC_RELAXED);
    uint64_t dropped = __atomic_load_n(&c->logsrv.dropped, __ATOMIC_RELAXED);
    lib_snprintf(row, sizeof row,
                 "(%llu entries lost: %llu not taken while the log service was busy, %llu to a full queue)\r\n",
                 (unsigned long long)(missed + dropped), (unsigned long long)missed, (unsigned long long)dropped);
    con_say(c, row);
    size_t n = log_format_header(row, sizeof row);
    con_write(c, row, n < sizeof row ? n : sizeof row - 1);
    c->follow_next = first;
    follow_print(c);
    if (call->id == CMD_SHOW_LOG_FOLLOW) {
        con_say(c, "(following the log: press any key to stop)\r\n");
        c->following = true; /* take_input ends it at the next key */
    }
    return 0;
}

static int do_log_level(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    int level = log_level_parse(call->args[0].s, call->args[0].n);
    if (level < 0) {
        lib_snprintf(err, errlen, "expected debug, info, warn or error after level");
        return -1;
    }
    log_ring_set_level(&c->log, (unsigned)level);
    con_log(c, CONF_LOG_ERROR < (unsigned)level ? CONF_LOG_ERROR : (unsigned)level, "log level is now %s",
            conf_log_level_name((unsigned)level));
    con_say(c, "log level is now ");
    con_say(c, conf_log_level_name((unsigned)level));
    con_say(c, " (until the next commit sets the configuration's)\r\n");
    return 0;
}

/* Locks the console: the next line is the password. */
static void lock(struct consoled *c)
{
    c->locked = true;
    c->mode = CMD_MODE_OPER;
    le_set_echo(&c->le, false);
    set_prompt(c);
}

static void set_prompt(struct consoled *c)
{
    char p[LE_PROMPT_MAX];
    if (c->locked) {
        le_set_prompt(&c->le, "Password: ");
        return;
    }
    lib_snprintf(p, sizeof p, "%s%s ", c->running.hostname, c->mode == CMD_MODE_CONF ? "#" : ">");
    le_set_prompt(&c->le, p);
}

static int do_configure(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    c->mode = CMD_MODE_CONF;
    c->paste_port = 0;
    con_say(c, "Entering configuration mode (edit the candidate; commit applies it)\r\n");
    set_prompt(c);
    return 0;
}

static int do_exit(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call;
    struct consoled *c = ctx;
    if (c->mode == CMD_MODE_OPER) {
        if (!c->pw_hash[0]) {
            lib_snprintf(err, errlen, "expected a console password to log out from (none is set)");
            return -1;
        }
        con_log(c, CONF_LOG_INFO, "logout from the console");
        lock(c);
        return 0;
    }
    size_t n = conf_write(&c->running, c->text_a, sizeof c->text_a);
    if (n != c->candidate.len || memcmp(c->text_a, c->candidate.buf, n) != 0)
        con_say(c,
                "The candidate has uncommitted changes; they stay for the next configure (rollback 0 drops them)\r\n");
    c->mode = CMD_MODE_OPER;
    set_prompt(c);
    return 0;
}

static const cmd_fn handlers[CMD_COUNT] = {
    [CMD_HELP] = do_help,
    [CMD_SHOW_VERSION] = do_version,
    [CMD_SHOW_UPTIME] = do_uptime,
    [CMD_SHOW_RUNNING] = do_running,
    [CMD_SHOW_CONFIG_ERRORS] = do_config_errors,
    [CMD_SHOW_CONFIG_SOURCE] = do_show_config_source,
    [CMD_SHOW_SYSTEM] = do_show_system,
    [CMD_SHOW_CANDIDATE] = do_candidate,
    [CMD_SHOW_COMPARE] = do_compare,
    [CMD_CONFIGURE] = do_configure,
    [CMD_EXIT] = do_exit,
    [CMD_SET] = do_set,
    [CMD_DELETE] = do_delete,
    [CMD_COMMIT] = do_commit,
    [CMD_COMMIT_CHECK] = do_commit,
    [CMD_ROLLBACK] = do_rollback,
    [CMD_SHOW_LOG] = do_show_log,
    [CMD_SHOW_LOG_FOLLOW] = do_show_log,
    [CMD_LOG_LEVEL] = do_log_level,
    [CMD_COMMIT_CONFIRMED] = do_commit,
    [CMD_COMMIT_CONFIRMED_SECONDS] = do_commit,
    [CMD_SHOW_INTERFACES] = do_netd_show,
    [CMD_SHOW_ARP] = do_netd_show,
    [CMD_SHOW_ROUTES] = do_netd_show,
    [CMD_SHOW_CONNECTIONS] = do_netd_show,
    [CMD_SHOW_FIREWALL] = do_netd_show,
    [CMD_SHOW_STATES] = do_netd_show,
    [CMD_SHOW_NAT] = do_netd_show,
    [CMD_PING] = do_ping,
    [CMD_TABLE_ADD] = do_table,
    [CMD_TABLE_DELETE] = do_table,
    [CMD_TABLE_SHOW] = do_table,
    [CMD_TABLE_FLUSH] = do_table,
    [CMD_SHOW_TASKS] = do_tasks,
    [CMD_SHOW_MEMORY] = do_memory,
    [CMD_SHOW_TLS] = do_show_tls,
    [CMD_CLEAR_COUNTERS] = do_clear,
    [CMD_RESTART] = do_restart,
    [CMD_REBOOT] = do_reboot_halt,
    [CMD_HALT] = do_reboot_halt,
};

/* Configuration mode: a line that is a configuration statement (as pasted
 * from a file) is a `set`; the lines of a pasted tls block are set into
 * that block.  Returns true if LINE was taken that way. */
static bool paste_line(struct consoled *c, const char *line, char *err, size_t errlen)
{
    static const char *const words[] = { "hostname", "log",     "interface", "route", "pass",    "block", "antispoof",
                                         "tls",      "console", "syslog",    "ntp",   "metrics", "}" };
    const char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t w = 0;
    while (p[w] && p[w] != ' ' && p[w] != '\t' && p[w] != '{')
        w++;
    bool stmt = false;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == w && memcmp(words[i], p, w) == 0)
            stmt = true;
    if (!c->paste_port && (!stmt || w == 0 || *p == '}'))
        return false;
    int r = 0;
    if (c->paste_port) {
        if (*p == '}') {
            c->paste_port = 0;
            return true;
        }
        if (!*p || *p == '#')
            return true;
        char l[CONF_LINE_MAX + 16];
        lib_snprintf(l, sizeof l, "tls %u %s", c->paste_port, p);
        r = conf_text_set(&c->candidate, &candidate_parser, l, strlen(l), &c->edit, err, errlen);
    } else if (w == 3 && memcmp(p, "tls", 3) == 0 && strchr(p, '{')) {
        unsigned port = 0;
        const char *q = p + 3;
        while (*q == ' ' || *q == '\t')
            q++;
        while (*q >= '0' && *q <= '9' && port <= 65535)
            port = port * 10 + (unsigned)(*q++ - '0');
        if (port == 0 || port > 65535) {
            lib_snprintf(err, errlen, "expected a port (1-65535) after tls");
            r = -1;
        } else {
            c->paste_port = port; /* its lines follow */
        }
    } else {
        r = conf_text_set(&c->candidate, &candidate_parser, p, strlen(p), &c->edit, err, errlen);
    }
    if (r) {
        con_say(c, "error: ");
        con_say(c, err);
        con_say(c, "\r\n");
    }
    return true;
}

static void run_line(struct consoled *c, const char *line)
{
    char err[CMD_ERR_MAX];
    if (c->mode == CMD_MODE_CONF && paste_line(c, line, err, sizeof err))
        return;
    if (cmd_dispatch(line, c->mode, handlers, c, err, sizeof err) != 0) {
        con_say(c, "error: ");
        con_say(c, err);
        con_say(c, "\r\n");
    }
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
        confirm_expired(c);
    netd_watch(c, now);
    con_arm_timer(c);
}

/* A password line, while locked. */
static void try_password(struct consoled *c, const char *line)
{
    if (!line[0]) {
        le_start(&c->le); /* an empty line costs nothing */
        return;
    }
    int r = passwd_verify(c->pw_hash, strlen(c->pw_hash), line, strlen(line));
    if (r == 1) {
        c->locked = false;
        c->failures = 0;
        le_set_echo(&c->le, true);
        set_prompt(c);
        con_log(c, CONF_LOG_INFO, "login on the console");
        con_say(c, "\r\nKeel " KEEL_VERSION " console. Type help, or ? after any word.\r\n");
        le_start(&c->le);
        return;
    }
    c->failures++;
    unsigned shift = c->failures - 1 < 5 ? c->failures - 1 : 5;
    uint64_t delay = 1ull << shift;
    if (delay > LOGIN_DELAY_MAX_S)
        delay = LOGIN_DELAY_MAX_S;
    con_log(c, CONF_LOG_WARN, "failed login on the console (%u in a row%s)", c->failures,
            r < 0 ? ", the password hash is malformed" : "");
    char msg[96];
    lib_snprintf(msg, sizeof msg, "Login incorrect; wait %llu s\r\n", (unsigned long long)delay);
    con_say(c, msg);
    c->login_until = keel_now_ns() + delay * NS_PER_S;
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
                try_password(c, le_line(&c->le));
                continue;
            }
            if (ev == LE_LINE)
                run_line(c, le_line(&c->le));
            else if (ev == LE_TOO_LONG)
                con_say(c, "error: expected a line of at most 511 characters (ignored)\r\n");
            if (!c->following)
                le_start(&c->le); /* the next prompt, now: not when the next key comes */
        }
    }
}

/* ----------------------------------------------------- appliance.conf -- */

/* A bad file runs the empty configuration, but its `console password-hash`
 * line, if that line alone is well-formed, still locks the console. */
static void recover_password(struct consoled *c, const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != '\n')
            end++;
        const char *p = text + i, *e = text + end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(e - p) > 23 && memcmp(p, "console", 7) == 0 && (p[7] == ' ' || p[7] == '\t')) {
            p += 7;
            while (p < e && (*p == ' ' || *p == '\t'))
                p++;
            if ((size_t)(e - p) > 14 && memcmp(p, "password-hash", 13) == 0 && (p[13] == ' ' || p[13] == '\t')) {
                p += 13;
                while (p < e && (*p == ' ' || *p == '\t'))
                    p++;
                const char *h = p;
                while (p < e && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#')
                    p++;
                struct passwd_hash ph;
                if ((size_t)(p - h) < sizeof c->pw_hash && passwd_parse(h, (size_t)(p - h), &ph) == PASSWD_OK) {
                    memcpy(c->pw_hash, h, (size_t)(p - h));
                    c->pw_hash[p - h] = '\0';
                }
            }
        }
        i = end + 1;
    }
}

/* Reads appliance.conf from the site archive into the running
 * configuration; notes what happened in boot_msg / boot_res. */
static void load_config(struct consoled *c, const struct keel_srvinfo *si)
{
    conf_init(&c->running);
    c->site_hash = cst_fnv64("", 0); /* no file: the hash of nothing */
    c->site_ok = true;
    uint64_t slot = srv_find_cap(si, "site"), pages = 0;
    if (!slot || !si->site_size) {
        strlcpy(c->boot_msg, "no site archive was booted: the empty configuration runs (no appliance.conf)",
                sizeof c->boot_msg);
        return;
    }
    int64_t err = keel_frame_info(slot, NULL, &pages);
    if (!err && (si->site_offset > pages * 4096 || si->site_size > pages * 4096 - si->site_offset))
        err = KE_RANGE;
    if (!err)
        err = keel_map(SRV_SLOT_TASK, slot, SITE_VA, RIGHT_READ);
    if (err) {
        lib_snprintf(c->boot_msg, sizeof c->boot_msg, "the site archive cannot be mapped (error %lld)", (long long)err);
        return;
    }
    const void *data = NULL;
    size_t len = 0;
    int r = cpio_find((const void *)(SITE_VA + si->site_offset), si->site_size, "appliance.conf", &data, &len);
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
        recover_password(c, data, len);
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
    apply_config(c, &c->running);
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
    struct keel_msg ready = { .info = INIT_READY };
    (void)keel_call(SRV_SLOT_INIT, &ready);

    con_say(c, "\r\n");
    con_say(c, c->boot_msg);
    con_say(c, "\r\n");
    say_errors(c, &c->boot_res);
    con_say(c, c->source_msg);
    con_say(c, "\r\n");
    if (c->pw_hash[0])
        lock(c);
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
