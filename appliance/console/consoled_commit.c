/*
 * consoled_commit.c - the candidate and commits: show running / candidate /
 * compare, set and delete, pasted statements, commit (check, confirmed) with
 * its push to every server that takes configuration, rollback, the history of
 * running configurations.  consoled.c's top comment says how a commit goes.
 */
#include <keel/console.h>
#include <keel/console_client.h>
#include <keel/cpio.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/netadm_client.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/textbuf.h>
#include <keel/ulog.h>
#include "cmd.h"
#include "conf.h"
#include "lineedit.h"
#include "logring.h"
#include "logsrv.h"
#include "passwd.h"
#include "consoled.h"
#include "table.h"

int do_running(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    size_t n = conf_write(&c->running, c->text_a, sizeof c->text_a);
    con_say_text(c, c->text_a, n < sizeof c->text_a ? n : sizeof c->text_a - 1);
    return 0;
}

int do_candidate(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    con_say_text(c, c->candidate.buf, c->candidate.len);
    return 0;
}

int do_compare(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
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

void con_say_errors(struct consoled *c, const struct conf_result *r)
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
void con_apply_config(struct consoled *c, const struct conf *new_conf)
{
    if (new_conf != &c->running)
        c->running = *new_conf;
    conf_text_from(&c->candidate, &c->running);
    history_push(c, c->candidate.buf, c->candidate.len);
    log_ring_set_level(&c->log, c->running.log_level);
    strlcpy(c->pw_hash, c->running.password_hash, sizeof c->pw_hash);
    con_set_prompt(c);
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

int do_commit(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    if (conf_parse(&candidate_parser, c->candidate.buf, c->candidate.len, &c->parsed, &c->res) != CONF_OK) {
        con_say_errors(c, &c->res);
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
    con_apply_config(c, &c->parsed);
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
void con_confirm_expired(struct consoled *c)
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
        con_say_async_n(c, line, strlen(line));
        return;
    }
    con_apply_config(c, &c->confirm_prev);
    char serr[CMD_ERR_MAX], sline[CMD_ERR_MAX + 16];
    if (store_save(c, CST_KIND_RESTORED, serr, sizeof serr)) {
        lib_snprintf(sline, sizeof sline, "\r\nwarning: %s\r\n", serr);
        con_say_async_n(c, sline, strlen(sline));
    }
    con_log(c, CONF_LOG_WARN, "commit confirmed: not confirmed within %llu s, rolled back",
            (unsigned long long)c->confirm_secs);
    char line[128];
    lib_snprintf(line, sizeof line, "\r\ncommit confirmed: not confirmed within %llu s; rolled back\r\n",
                 (unsigned long long)c->confirm_secs);
    con_set_prompt(c);
    con_say_async_n(c, line, strlen(line));
}

int do_rollback(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
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

int do_set(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    return conf_text_set(&c->candidate, &candidate_parser, call->rest, call->rest_len, &c->edit, err, errlen) ? -1 : 0;
}

int do_delete(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    return conf_text_delete(&c->candidate, call->rest, call->rest_len, err, errlen) ? -1 : 0;
}

int do_config_errors(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    con_say(c, c->boot_msg);
    con_say(c, "\r\n");
    con_say_errors(c, &c->boot_res);
    return 0;
}

/* Configuration mode: a line that is a configuration statement (as pasted
 * from a file) is a `set`; the lines of a pasted tls block are set into
 * that block.  Returns true if LINE was taken that way. */
bool con_paste_line(struct consoled *c, const char *line, char *err, size_t errlen)
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
