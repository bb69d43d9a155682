/*
 * consoled_cmds.c - the command table (cmd.c's words to their handlers here and in
 * consoled_commit.c, consoled_login.c, consoled_ops.c), a typed line's
 * dispatch, and the commands that only print: help, version, uptime, the log.
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
    con_follow_print(c);
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

void con_run_line(struct consoled *c, const char *line)
{
    char err[CMD_ERR_MAX];
    if (c->mode == CMD_MODE_CONF && con_paste_line(c, line, err, sizeof err))
        return;
    if (cmd_dispatch(line, c->mode, handlers, c, err, sizeof err) != 0) {
        con_say(c, "error: ");
        con_say(c, err);
        con_say(c, "\r\n");
    }
}
