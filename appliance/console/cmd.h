/*
 * cmd.h - the console's command language: the command tree, argument
 * checking, completion, help and dispatch to callbacks.  Pure code (no
 * system calls, no allocation, no globals); the data the commands show
 * comes from the callbacks (consoled and the servers it asks).
 *
 * Two modes, as on Junos and VyOS.  Operational (prompt "host> "):
 *
 *   help                              the commands of this mode
 *   show version | uptime | system | tasks | memory | interfaces | arp | routes
 *        | connections | firewall | states | tls | log [follow]
 *        | running-config | config errors | configuration source
 *   clear counters
 *   ping A.B.C.D [count N]            N 1-100
 *   restart SERVER                    a server name from the boot manifest
 *   reboot | halt
 *   log level debug|info|warn|error   which entries the log keeps from now on
 *   table NAME add|delete ADDR[/N]    change a firewall table now (no commit; pfctl -T)
 *   table NAME show | flush           list or empty it
 *   configure                         enter configuration mode
 *   exit                              log out (when a console password is set)
 *
 * Configuration (prompt "host# "), on a candidate copy of the config:
 *
 *   show                              the candidate configuration
 *   show | compare                    candidate against running
 *   show TOPIC                        the operational show topics above
 *   set LINE...                       add or replace a configuration statement
 *   delete LINE...                    remove one
 *   commit [check | confirmed N]      apply (N minutes to confirm, 1-60)
 *   commit confirmed-seconds N        the same in seconds (1-3600); hidden: for tests
 *   rollback [N]                      load the Nth previous commit (0-49; 0: undo
 *                                     the candidate's changes; without a disk
 *                                     only 0-9 exist)
 *   exit                              leave configuration mode
 *   help
 *
 * A node whose help is NULL is hidden: help, completion and "expected"
 * lists leave it out and only its whole keyword selects it.
 *
 * Words: separated by blanks; keywords may be abbreviated to any unique
 * prefix ("sh ver").  Errors are one line that says what was expected
 * there, e.g. `expected a number 1-100 after count (got "0")`.
 */
#ifndef KEEL_APPLIANCE_CMD_H
#define KEEL_APPLIANCE_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lineedit.h"

#define CMD_MAX_WORDS 48  /* words in a command (set/delete lines count as one argument) */
#define CMD_MAX_ARGS  4   /* argument values one command carries */
#define CMD_ERR_MAX   256 /* a useful size for error messages */

enum cmd_mode {
    CMD_MODE_OPER = 1,
    CMD_MODE_CONF = 2,
    CMD_MODE_BOTH = 3,
};

/* Every command the tree can produce. */
enum cmd_id {
    CMD_NONE = 0,
    CMD_HELP,
    CMD_SHOW_VERSION,
    CMD_SHOW_UPTIME,
    CMD_SHOW_TASKS,
    CMD_SHOW_MEMORY,
    CMD_SHOW_INTERFACES,
    CMD_SHOW_ARP,
    CMD_SHOW_ROUTES,
    CMD_SHOW_CONNECTIONS,
    CMD_SHOW_FIREWALL,
    CMD_SHOW_STATES,
    CMD_SHOW_NAT,
    CMD_SHOW_TLS,
    CMD_SHOW_LOG, /* args: none, or "follow" as a keyword (CMD_SHOW_LOG_FOLLOW) */
    CMD_SHOW_LOG_FOLLOW,
    CMD_SHOW_RUNNING,
    CMD_SHOW_CONFIG_ERRORS,
    CMD_SHOW_CONFIG_SOURCE,
    CMD_SHOW_SYSTEM,
    CMD_SHOW_CANDIDATE, /* configuration mode: `show` */
    CMD_SHOW_COMPARE,   /* configuration mode: `show | compare` */
    CMD_CLEAR_COUNTERS,
    CMD_PING,    /* args[0] = address (num: host-order IPv4), args[1] = count if given */
    CMD_RESTART, /* args[0] = server name */
    CMD_REBOOT,
    CMD_HALT,
    CMD_CONFIGURE,
    CMD_EXIT,
    CMD_SET,    /* rest = the configuration statement */
    CMD_DELETE, /* rest = the statement, or enough of it to name one */
    CMD_COMMIT,
    CMD_COMMIT_CHECK,
    CMD_COMMIT_CONFIRMED,         /* args[0] = minutes */
    CMD_ROLLBACK,                 /* args[0] = N if given (else n_args 0) */
    CMD_LOG_LEVEL,                /* args[0] = the level's word (the handler checks it) */
    CMD_COMMIT_CONFIRMED_SECONDS, /* hidden, for tests: args[0] = seconds */
    CMD_TABLE_ADD,                /* args[0] = table name (with or without <>), args[1] = A.B.C.D[/N] */
    CMD_TABLE_DELETE,             /* the same */
    CMD_TABLE_SHOW,               /* args[0] = table name */
    CMD_TABLE_FLUSH,              /* args[0] = table name */
    CMD_COUNT
};

struct cmd_arg {
    const char *s; /* inside the line given to cmd_parse */
    size_t n;
    uint64_t num; /* numbers and addresses */
};

struct cmd_call {
    enum cmd_id id;
    unsigned n_args;
    struct cmd_arg args[CMD_MAX_ARGS];
    const char *rest; /* CMD_SET / CMD_DELETE: the rest of the line, blanks trimmed; else NULL */
    size_t rest_len;
};

/*
 * Parses LINE (NUL-terminated) in MODE.  Returns 1 and fills *CALL; 0 for
 * a blank line (nothing to do); or -1 with a one-line message in ERR
 * ("expected ...", ERRLEN bytes, always NUL-terminated when ERRLEN > 0).
 */
int cmd_parse(const char *line, enum cmd_mode mode, struct cmd_call *call, char *err, size_t errlen);

/* A command's handler: writes its own output; returns 0, or non-zero with
 * a one-line message in ERR. */
typedef int (*cmd_fn)(void *ctx, const struct cmd_call *call, char *err, size_t errlen);

/*
 * Parses LINE and calls HANDLERS[id] (an array of CMD_COUNT; a NULL entry
 * answers "expected a command this build can run (not available yet)").
 * Returns 0 (done or blank line) or -1 with the message in ERR.
 */
int cmd_dispatch(const char *line, enum cmd_mode mode, const cmd_fn *handlers, void *ctx, char *err, size_t errlen);

/* Completion for the line editor: the keywords that can follow
 * LINE[0, cursor) and start with the word at the cursor. */
void cmd_complete(const char *line, size_t cursor, enum cmd_mode mode, struct le_completion *c);

/* Help for '?' after LINE[0, cursor) (and for `help`: LINE ""): one row per
 * word that may come next, with what it does, aligned; "<Enter>" when the
 * command is complete; lines end "\r\n".  Writes through WRITE. */
void cmd_help(const char *line, size_t cursor, enum cmd_mode mode, void (*write)(void *ctx, const char *s, size_t n),
              void *ctx);

/* The name of a command ("show version"), for messages and logs. */
const char *cmd_name(enum cmd_id id);

#endif
