/*
 * consoled.c - the serial console server (program `consoled`): the line
 * editor (lineedit.c) and the command language (cmd.c) over the console
 * protocol of the UART driver (abi/keel/console.h).
 *
 * What it is given (by init, named in its server-information page):
 *   "ep:NAME"       the driver's endpoint (calls: CONSOLE_READ / WRITE)
 *   "notify:NAME"   the notification the driver raises CONSOLE_EVT_RX /
 *                   CONSOLE_EVT_TX on; consoled waits on it
 *
 * One thread, one loop: wait for bits; on RX read until the driver has
 * nothing more and feed every byte to the editor; each finished line runs
 * one command; output collects in a buffer that is written out at the end
 * of each batch (one call carries up to 31 bytes).  When the driver's
 * transmit queue is full consoled waits for CONSOLE_EVT_TX, keeping any RX
 * bit that arrives meanwhile for the next round.  Calls flow one way
 * (consoled -> uart), so the two never wait on each other.
 *
 * Configuration mode edits a candidate kept as text (conf_text_set /
 * conf_text_delete); a line typed there that starts with a statement's
 * keyword (hostname, interface, pass, tls ...) is a `set`, and a pasted
 * `tls PORT {` ... `}` block is taken a line at a time.  `commit` parses
 * the candidate and, if it is whole, makes it the running configuration
 * and keeps it for `rollback N` (0 is the running one, up to 9 back).
 *
 * STATUS: an early cut for issue 7.  It does not yet read appliance.conf
 * (init hands the site archive to no server), ask for a password, apply a
 * commit to netd or tlsd (no configuration protocol exists yet, so a
 * commit changes consoled's own copy only and says so), check firewall
 * rules beyond their first word (netd's parser will, at commit), roll back
 * a `commit confirmed`, or keep the log; those commands answer "not
 * available yet".
 *
 * Memory: everything is in one static struct consoled (configurations,
 * candidate, history and the diff workspace are ~400 KiB, too big for the
 * stack).
 */
#include <keel/console.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "cmd.h"
#include "conf.h"
#include "console_client.h"
#include "lineedit.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "unknown"
#endif

#define OUT_MAX       4096
#define HISTORY_MAX   10    /* rollback 0-9 */
#define HISTORY_BYTES 65536 /* the committed texts, back to back */

struct consoled {
    uint64_t ep;      /* "ep:" the UART driver */
    uint64_t ntfn;    /* "notify:" its events */
    uint64_t pending; /* event bits seen while waiting for something else */
    bool dead;        /* the driver refused a call: output is dropped */

    struct le le;
    enum cmd_mode mode;
    unsigned paste_port; /* inside a pasted `tls PORT {` block, or 0 */
    struct conf running, parsed;
    struct conf_result res;
    struct conf_text candidate;
    struct conf_edit_work edit;
    struct conf_diff_work diff;
    char text_a[CONF_TEXT_MAX], diff_out[32768];

    /* Committed texts, newest first: hist_off[0] is the running one. */
    unsigned hist_n;
    uint32_t hist_off[HISTORY_MAX], hist_len[HISTORY_MAX];
    char hist[HISTORY_BYTES], hist_tmp[HISTORY_BYTES];

    char out[OUT_MAX];
    size_t out_len;
};

static struct consoled C;

static void set_prompt(struct consoled *c);

/* ---------------------------------------------------------------- output -- */

static void flush(struct consoled *c)
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

static void term_write(void *ctx, const char *s, size_t n)
{
    struct consoled *c = ctx;
    while (n) {
        if (c->out_len == OUT_MAX)
            flush(c);
        size_t k = OUT_MAX - c->out_len < n ? OUT_MAX - c->out_len : n;
        memcpy(c->out + c->out_len, s, k);
        c->out_len += k;
        s += k;
        n -= k;
    }
}

static void say(struct consoled *c, const char *s) { term_write(c, s, strlen(s)); }

/* Writes TEXT with every "\n" sent as "\r\n" (the terminal is raw). */
static void say_text(struct consoled *c, const char *text, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\n') {
            term_write(c, text + start, i - start);
            term_write(c, "\r\n", 2);
            start = i + 1;
        }
    term_write(c, text + start, n - start);
}

/* -------------------------------------------------------------- commands -- */

static int do_help(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    (void)call, (void)err, (void)errlen;
    cmd_help("", 0, c->mode, term_write, c);
    return 0;
}

static int do_version(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    say(ctx, "Keel " KEEL_VERSION "\r\n");
    return 0;
}

static int do_uptime(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    uint64_t s = keel_now_ns() / 1000000000ull;
    char line[64];
    lib_snprintf(line, sizeof line, "up %llu days, %02llu:%02llu:%02llu\r\n", (unsigned long long)(s / 86400),
                 (unsigned long long)(s / 3600 % 24), (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
    say(ctx, line);
    return 0;
}

static int do_running(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    size_t n = conf_write(&c->running, c->text_a, sizeof c->text_a);
    say_text(c, c->text_a, n < sizeof c->text_a ? n : sizeof c->text_a - 1);
    return 0;
}

static int do_candidate(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    say_text(c, c->candidate.buf, c->candidate.len);
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
        say(c, "(no changes)\r\n");
    else
        say_text(c, c->diff_out, n < sizeof c->diff_out ? n : sizeof c->diff_out - 1);
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
        say(c, "error: ");
        say(c, r->errors[i].msg);
        say(c, "\r\n");
    }
    if (r->more)
        say(c, "error: (and more)\r\n");
}

static const struct conf_parser candidate_parser = { "candidate", NULL, NULL, 0 };

static int do_commit(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    if (conf_parse(&candidate_parser, c->candidate.buf, c->candidate.len, &c->parsed, &c->res) != CONF_OK) {
        say_errors(c, &c->res);
        lib_snprintf(err, errlen, "expected a complete candidate: nothing was changed");
        return -1;
    }
    if (call->id == CMD_COMMIT_CHECK) {
        say(c, "configuration check succeeds\r\n");
        return 0;
    }
    if (conf_equal(&c->parsed, &c->running)) {
        say(c, "(no changes to commit)\r\n");
        return 0;
    }
    /* point of no return (for consoled; netd and tlsd take no configuration yet) */
    c->running = c->parsed;
    conf_text_from(&c->candidate, &c->running);
    history_push(c, c->candidate.buf, c->candidate.len);
    set_prompt(c);
    say(c, "commit complete (consoled's copy only: netd and tlsd do not take configuration yet)\r\n");
    return 0;
}

static int do_rollback(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    struct consoled *c = ctx;
    unsigned n = call->n_args ? (unsigned)call->args[0].num : 0;
    if (n >= c->hist_n) {
        lib_snprintf(err, errlen, "expected a rollback number from 0 to %u (there are %u commits)", c->hist_n - 1,
                     c->hist_n);
        return -1;
    }
    memcpy(c->candidate.buf, c->hist + c->hist_off[n], c->hist_len[n]);
    c->candidate.len = c->hist_len[n];
    c->candidate.buf[c->candidate.len] = '\0';
    say(c, "load complete (show | compare shows the difference; commit applies it)\r\n");
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
    say(ctx, "no configuration errors (appliance.conf is not read by this build yet)\r\n");
    return 0;
}

static void set_prompt(struct consoled *c)
{
    char p[LE_PROMPT_MAX];
    lib_snprintf(p, sizeof p, "%s%s ", c->running.hostname, c->mode == CMD_MODE_CONF ? "#" : ">");
    le_set_prompt(&c->le, p);
}

static int do_configure(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    c->mode = CMD_MODE_CONF;
    c->paste_port = 0;
    say(c, "Entering configuration mode (edit the candidate; commit applies it)\r\n");
    set_prompt(c);
    return 0;
}

static int do_exit(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call;
    struct consoled *c = ctx;
    if (c->mode == CMD_MODE_OPER) {
        lib_snprintf(err, errlen, "expected a console password to log out from (none is set)");
        return -1;
    }
    size_t n = conf_write(&c->running, c->text_a, sizeof c->text_a);
    if (n != c->candidate.len || memcmp(c->text_a, c->candidate.buf, n) != 0)
        say(c, "The candidate has uncommitted changes; they stay for the next configure (rollback 0 drops them)\r\n");
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
    [CMD_SHOW_CANDIDATE] = do_candidate,
    [CMD_SHOW_COMPARE] = do_compare,
    [CMD_CONFIGURE] = do_configure,
    [CMD_EXIT] = do_exit,
    [CMD_SET] = do_set,
    [CMD_DELETE] = do_delete,
    [CMD_COMMIT] = do_commit,
    [CMD_COMMIT_CHECK] = do_commit,
    [CMD_ROLLBACK] = do_rollback,
};

/* Configuration mode: a line that is a configuration statement (as pasted
 * from a file) is a `set`; the lines of a pasted tls block are set into
 * that block.  Returns true if LINE was taken that way. */
static bool paste_line(struct consoled *c, const char *line, char *err, size_t errlen)
{
    static const char *const words[] = { "hostname",  "log", "interface", "pass", "block",
                                         "antispoof", "tls", "console",   "}" };
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
        say(c, "error: ");
        say(c, err);
        say(c, "\r\n");
    }
    return true;
}

static void run_line(struct consoled *c, const char *line)
{
    char err[CMD_ERR_MAX];
    if (c->mode == CMD_MODE_CONF && paste_line(c, line, err, sizeof err))
        return;
    if (cmd_dispatch(line, c->mode, handlers, c, err, sizeof err) != 0) {
        say(c, "error: ");
        say(c, err);
        say(c, "\r\n");
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
    cmd_help(line, cursor, c->mode, term_write, c);
}

static const struct le_ops le_ops = { term_write, le_complete_cb, le_help_cb, &C };

static void take_input(struct consoled *c)
{
    uint8_t buf[CONSOLE_MSG_BYTES];
    for (;;) {
        int64_t n = console_read(c->ep, buf);
        if (n <= 0)
            return;
        for (int64_t i = 0; i < n; i++) {
            enum le_event ev = le_feed(&c->le, buf[i]);
            if (ev == LE_NONE)
                continue;
            if (ev == LE_LINE)
                run_line(c, le_line(&c->le));
            else if (ev == LE_TOO_LONG)
                say(c, "error: expected a line of at most 511 characters (ignored)\r\n");
            le_start(&c->le); /* the next prompt, now: not when the next key comes */
        }
    }
}

static uint64_t find_prefix(const struct keel_srvinfo *si, const char *prefix)
{
    size_t n = strlen(prefix);
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++)
        if (strncmp(si->caps[i].name, prefix, n) == 0)
            return si->caps[i].slot;
    return 0;
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    struct consoled *c = &C;
    c->ep = find_prefix(si, "ep:");
    c->ntfn = find_prefix(si, "notify:");
    if (!c->ep || !c->ntfn) {
        ulog("consoled: the manifest must grant connect and notify for the console driver");
        return 1;
    }
    conf_init(&c->running);
    conf_text_from(&c->candidate, &c->running);
    history_push(c, c->candidate.buf, c->candidate.len);
    c->mode = CMD_MODE_OPER;
    le_init(&c->le, &le_ops);
    set_prompt(c);
    struct keel_msg ready = { .info = INIT_READY };
    (void)keel_call(SRV_SLOT_INIT, &ready);

    say(c, "\r\nKeel " KEEL_VERSION " console. Type help, or ? after any word.\r\n");
    le_start(&c->le);
    take_input(c); /* bytes typed before we started */
    flush(c);
    for (;;) {
        uint64_t bits = c->pending;
        c->pending = 0;
        if (!bits && keel_wait(c->ntfn, 0, &bits) != KE_OK) {
            ulog("consoled: waiting for the console failed");
            return 1;
        }
        if (bits & CONSOLE_EVT_RX)
            take_input(c);
        flush(c);
    }
}
