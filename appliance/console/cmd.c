/*
 * cmd.c - the console's command tree, its parser, completion and help
 * (the language is in cmd.h).
 *
 * The tree is static data: each node is a keyword or an argument (a
 * number in a range, an IPv4 address, a name, or the rest of the line),
 * visible in one mode or both, with the command it completes (CMD_NONE
 * when more words are needed) and its children.  Parsing, completion and
 * help are one walk over it (match_word), so they can never disagree
 * about what is valid.  Keywords match exactly or by a unique prefix;
 * an argument is tried only when no keyword matches.
 */
#include "cmd.h"

#include <keel/string.h>
#include <keel/textbuf.h>

#include "conf_addr.h"

enum kind { K_WORD, K_UINT, K_IPV4, K_NAME, K_REST, K_TABLE, K_PREFIX, K_IP };

#define OPER CMD_MODE_OPER
#define CONF CMD_MODE_CONF
#define BOTH CMD_MODE_BOTH

struct node {
    const char *word;  /* a keyword, or an argument's placeholder ("<count>") */
    uint8_t kind;      /* enum kind */
    uint8_t modes;     /* CMD_MODE_* it is visible in */
    uint8_t id;        /* enum cmd_id completed here, or CMD_NONE */
    uint32_t min, max; /* K_UINT */
    const char *help;
    const struct node *kids;
    uint8_t n_kids;
};

#define KIDS(a) a, (uint8_t)(sizeof a / sizeof a[0])
#define LEAF    NULL, 0
#define KW(word, modes, id, help, ...)                                                                                 \
    {                                                                                                                  \
        word, K_WORD, modes, id, 0, 0, help, __VA_ARGS__                                                               \
    }

_Static_assert(CMD_COUNT < 256, "ids fit a byte");

static const struct node log_kids[] = {
    KW("follow", BOTH, CMD_SHOW_LOG_FOLLOW, "the log as it grows, until a key is pressed", LEAF),
};
static const struct node config_kids[] = {
    KW("errors", BOTH, CMD_SHOW_CONFIG_ERRORS, "what was wrong with the configuration, with line and column", LEAF),
};
static const struct node configuration_kids[] = {
    KW("source", BOTH, CMD_SHOW_CONFIG_SOURCE, "which configuration runs: the saved one or the site archive's", LEAF),
};
static const struct node pipe_kids[] = {
    KW("compare", CONF, CMD_SHOW_COMPARE, "the candidate's differences from the running configuration", LEAF),
};
static const struct node show_kids[] = {
    KW("version", BOTH, CMD_SHOW_VERSION, "Keel's version and build", LEAF),
    KW("uptime", BOTH, CMD_SHOW_UPTIME, "time since boot", LEAF),
    KW("system", BOTH, CMD_SHOW_SYSTEM, "the time, its source, uptime, syslog and metrics", LEAF),
    KW("tasks", BOTH, CMD_SHOW_TASKS, "the servers: state, restarts, faults", LEAF),
    KW("memory", BOTH, CMD_SHOW_MEMORY, "memory in use and free, per server", LEAF),
    KW("interfaces", BOTH, CMD_SHOW_INTERFACES, "interfaces: addresses, link, counters", LEAF),
    KW("arp", BOTH, CMD_SHOW_ARP, "the ARP cache", LEAF),
    KW("routes", BOTH, CMD_SHOW_ROUTES, "the routing table", LEAF),
    KW("connections", BOTH, CMD_SHOW_CONNECTIONS, "open TCP connections", LEAF),
    KW("firewall", BOTH, CMD_SHOW_FIREWALL, "firewall rules with their counters", LEAF),
    KW("states", BOTH, CMD_SHOW_STATES, "the firewall's state table", LEAF),
    KW("nat", BOTH, CMD_SHOW_NAT, "translation rules and counters", LEAF),
    KW("tls", BOTH, CMD_SHOW_TLS, "TLS listeners with their statistics", LEAF),
    KW("log", BOTH, CMD_SHOW_LOG, "the log", KIDS(log_kids)),
    KW("running-config", BOTH, CMD_SHOW_RUNNING, "the configuration in force", LEAF),
    KW("config", BOTH, CMD_NONE, "about the configuration", KIDS(config_kids)),
    KW("configuration", BOTH, CMD_NONE, "where the configuration came from", KIDS(configuration_kids)),
    KW("|", CONF, CMD_NONE, "pipe the candidate through: compare", KIDS(pipe_kids)),
};
static const struct node clear_kids[] = {
    KW("counters", OPER, CMD_CLEAR_COUNTERS, "zero the interface, firewall and TLS counters", LEAF),
};
static const struct node count_arg[] = {
    { "<count>", K_UINT, OPER, CMD_PING, 1, 100, "how many echo requests (1-100)", LEAF },
};
static const struct node ping_opts[] = {
    KW("count", OPER, CMD_NONE, "how many echo requests to send (default 4)", KIDS(count_arg)),
};
static const struct node ping_arg[] = {
    { "<address>", K_IP, OPER, CMD_PING, 0, 0, "the address to ping, A.B.C.D or IPv6", KIDS(ping_opts) },
};
static const struct node restart_arg[] = {
    { "<server>", K_NAME, OPER, CMD_RESTART, 0, 0, "a server's name, as show tasks lists it", LEAF },
};
static const struct node set_arg[] = {
    { "<statement>", K_REST, CONF, CMD_SET, 0, 0, "a configuration line, e.g. hostname edge2", LEAF },
};
static const struct node delete_arg[] = {
    { "<statement>", K_REST, CONF, CMD_DELETE, 0, 0, "what to remove, e.g. interface lan", LEAF },
};
static const struct node minutes_arg[] = {
    { "<minutes>", K_UINT, CONF, CMD_COMMIT_CONFIRMED, 1, 60, "minutes to confirm in (1-60)", LEAF },
};
static const struct node seconds_arg[] = {
    { "<seconds>", K_UINT, CONF, CMD_COMMIT_CONFIRMED_SECONDS, 1, 3600, "seconds to confirm in (1-3600)", LEAF },
};
static const struct node commit_kids[] = {
    KW("check", CONF, CMD_COMMIT_CHECK, "check the candidate; change nothing", LEAF),
    KW("confirmed", CONF, CMD_NONE, "commit; roll back by itself unless confirmed by another commit",
       KIDS(minutes_arg)),
    KW("confirmed-seconds", CONF, CMD_NONE, NULL, KIDS(seconds_arg)), /* hidden: for tests */
};
static const struct node level_arg[] = {
    { "<level>", K_NAME, OPER, CMD_LOG_LEVEL, 0, 0, "debug, info, warn or error", LEAF },
};
static const struct node log_cmd_kids[] = {
    KW("level", OPER, CMD_NONE, "which entries the log keeps from now on", KIDS(level_arg)),
};
static const struct node rollback_arg[] = {
    { "<n>", K_UINT, CONF, CMD_ROLLBACK, 0, 49, "which earlier commit (0-49; 0: the running configuration)", LEAF },
};
static const struct node table_add_arg[] = {
    { "<address>", K_PREFIX, OPER, CMD_TABLE_ADD, 0, 0, "the address or prefix to add", LEAF },
};
static const struct node table_delete_arg[] = {
    { "<address>", K_PREFIX, OPER, CMD_TABLE_DELETE, 0, 0, "the address or prefix to remove", LEAF },
};
static const struct node table_ops[] = {
    KW("add", OPER, CMD_NONE, "add an address now (no commit needed)", KIDS(table_add_arg)),
    KW("delete", OPER, CMD_NONE, "remove an address now", KIDS(table_delete_arg)),
    KW("show", OPER, CMD_TABLE_SHOW, "list the table's addresses", LEAF),
    KW("flush", OPER, CMD_TABLE_FLUSH, "remove every address now", LEAF),
};
static const struct node table_arg[] = {
    { "<name>", K_TABLE, OPER, CMD_NONE, 0, 0, "a firewall table, as appliance.conf names it", KIDS(table_ops) },
};
static const struct node root_kids[] = {
    KW("help", BOTH, CMD_HELP, "list the commands", LEAF),
    KW("show", OPER, CMD_NONE, "show the appliance's state", KIDS(show_kids)),
    KW("show", CONF, CMD_SHOW_CANDIDATE, "show the candidate configuration, or a topic", KIDS(show_kids)),
    KW("clear", OPER, CMD_NONE, "reset counters", KIDS(clear_kids)),
    KW("ping", OPER, CMD_NONE, "send ICMP echo requests", KIDS(ping_arg)),
    KW("restart", OPER, CMD_NONE, "restart a server", KIDS(restart_arg)),
    KW("reboot", OPER, CMD_REBOOT, "restart the appliance", LEAF),
    KW("halt", OPER, CMD_HALT, "stop the appliance", LEAF),
    KW("log", OPER, CMD_NONE, "change the log's level at run time", KIDS(log_cmd_kids)),
    KW("table", OPER, CMD_NONE, "change or show a firewall table now", KIDS(table_arg)),
    KW("configure", OPER, CMD_CONFIGURE, "edit a candidate copy of the configuration", LEAF),
    KW("set", CONF, CMD_NONE, "add or replace a statement in the candidate", KIDS(set_arg)),
    KW("delete", CONF, CMD_NONE, "remove a statement from the candidate", KIDS(delete_arg)),
    KW("commit", CONF, CMD_COMMIT, "apply the candidate, all or nothing", KIDS(commit_kids)),
    KW("rollback", CONF, CMD_ROLLBACK, "load an earlier configuration into the candidate", KIDS(rollback_arg)),
    KW("exit", OPER, CMD_EXIT, "log out", LEAF),
    KW("exit", CONF, CMD_EXIT, "leave configuration mode", LEAF),
};
static const struct node root = KW("", BOTH, CMD_NONE, "", KIDS(root_kids));

/* First words of configuration statements: what Tab offers after set/delete. */
static const char *const conf_words[] = { "hostname",  "log", "interface", "route",  "pass", "block",
                                          "antispoof", "tls", "console",   "syslog", "ntp",  "metrics" };

/* --------------------------------------------------------------- words -- */

struct word {
    const char *s;
    size_t n;
};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Splits LINE[0, len) into words; returns the count (at most max; *more set beyond). */
static unsigned split(const char *line, size_t len, struct word *w, unsigned max, bool *more)
{
    unsigned n = 0;
    size_t i = 0;
    *more = false;
    for (;;) {
        while (i < len && is_blank(line[i]))
            i++;
        if (i >= len)
            return n;
        if (n == max) {
            *more = true;
            return n;
        }
        w[n].s = line + i;
        while (i < len && !is_blank(line[i]))
            i++;
        w[n].n = (size_t)(line + i - w[n].s);
        n++;
    }
}

static bool visible(const struct node *k, enum cmd_mode mode) { return (k->modes & mode) != 0; }

/* Hidden nodes (help NULL) are matched by their whole keyword only. */
static bool listed(const struct node *k, enum cmd_mode mode) { return visible(k, mode) && k->help != NULL; }

static bool parse_u64(const struct word *w, uint64_t *v)
{
    if (w->n == 0 || w->n > 10)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->s[i] < '0' || w->s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(w->s[i] - '0');
    }
    *v = x;
    return true;
}

/* A.B.C.D (appliance/config's one parser), host order. */
static bool parse_ipv4(const struct word *w, uint64_t *v)
{
    uint32_t a;
    if (!conf_parse_ipv4(w->s, w->n, &a))
        return false;
    *v = a;
    return true;
}

/* Either family: *V is the IPv4 address (host order), 0 for IPv6 (the
 * caller re-reads the word, cmd_arg.s). */
static bool parse_ip(const struct word *w, uint64_t *v)
{
    struct conf_ip ip;
    if (!conf_parse_ip(w->s, w->n, &ip))
        return false;
    *v = ip.af == CONF_AF_INET ? conf_ip_v4(&ip) : 0;
    return true;
}

/* A table's name, as `table` lines write it (<name>) or bare. */
static bool valid_table(const struct word *w)
{
    const char *s = w->s;
    size_t n = w->n;
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        s++;
        n -= 2;
    }
    if (n == 0 || n > 31)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* A.B.C.D or A.B.C.D/N (IPv4: netd's tables are IPv4). */
static bool valid_prefix(const struct word *w)
{
    struct conf_ip ip;
    unsigned prefix;
    size_t slash;
    return conf_parse_prefix(w->s, w->n, &ip, &prefix, &slash) == 0 && ip.af == CONF_AF_INET;
}

static bool valid_name(const struct word *w)
{
    if (w->n == 0 || w->n > 15)
        return false;
    for (size_t i = 0; i < w->n; i++) {
        char c = w->s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Does W fit argument node K?  Sets *num. */
static bool arg_ok(const struct node *k, const struct word *w, uint64_t *num)
{
    *num = 0;
    switch (k->kind) {
    case K_UINT: return parse_u64(w, num) && *num >= k->min && *num <= k->max;
    case K_IPV4: return parse_ipv4(w, num);
    case K_IP: return parse_ip(w, num);
    case K_NAME: return valid_name(w);
    case K_REST: return true;
    case K_TABLE: return valid_table(w);
    case K_PREFIX: return valid_prefix(w);
    default: return false;
    }
}

enum match { M_NONE, M_OK, M_AMBIGUOUS, M_BADARG };

/*
 * Which child of AT (visible in MODE) word W selects: an exact keyword, a
 * unique keyword prefix, else the argument child if W fits it.  M_BADARG:
 * no keyword matched and W does not fit the argument (*out = that child).
 */
static enum match match_word(const struct node *at, enum cmd_mode mode, const struct word *w, const struct node **out,
                             uint64_t *num)
{
    const struct node *prefix = NULL, *arg = NULL;
    unsigned n_prefix = 0;
    for (unsigned i = 0; i < at->n_kids; i++) {
        const struct node *k = &at->kids[i];
        if (!visible(k, mode))
            continue;
        if (k->kind != K_WORD) {
            arg = arg ? arg : k;
            continue;
        }
        size_t kn = strlen(k->word);
        if (kn == w->n && memcmp(k->word, w->s, kn) == 0) {
            *out = k;
            return M_OK;
        }
        if (w->n < kn && k->help && memcmp(k->word, w->s, w->n) == 0) {
            prefix = k;
            n_prefix++;
        }
    }
    if (n_prefix == 1) {
        *out = prefix;
        return M_OK;
    }
    if (n_prefix > 1)
        return M_AMBIGUOUS;
    if (arg) {
        *out = arg;
        return arg_ok(arg, w, num) ? M_OK : M_BADARG;
    }
    return M_NONE;
}

/* -------------------------------------------------------------- errors -- */

static void put_got(struct textbuf *m, const struct word *w)
{
    tb_put(m, " (got \"");
    for (size_t i = 0; i < w->n && i < 32; i++)
        tb_putn(m, w->s[i] == '"' ? "?" : &w->s[i], 1);
    tb_put(m, w->n > 32 ? "...\")" : "\")");
}

/* How an argument is described in "expected ...". */
static void put_arg(struct textbuf *m, const struct node *k)
{
    switch (k->kind) {
    case K_UINT:
        tb_put(m, "a number ");
        tb_u64(m, k->min);
        tb_put(m, "-");
        tb_u64(m, k->max);
        break;
    case K_IPV4: tb_put(m, "an IPv4 address A.B.C.D"); break;
    case K_IP: tb_put(m, "an address A.B.C.D or an IPv6 address"); break;
    case K_NAME: tb_put(m, "a server name"); break;
    case K_REST: tb_put(m, "a configuration statement"); break;
    case K_TABLE: tb_put(m, "a table name (<name> or name)"); break;
    case K_PREFIX: tb_put(m, "an address A.B.C.D or a prefix A.B.C.D/N"); break;
    default: tb_put(m, k->word); break;
    }
}

/* "expected A, B or C" over AT's children visible in MODE (and "the end of
 * the command" when AT completes one). */
static void put_expected(struct textbuf *m, const struct node *at, enum cmd_mode mode)
{
    const struct node *v[32];
    unsigned n = 0;
    for (unsigned i = 0; i < at->n_kids && n < 32; i++)
        if (listed(&at->kids[i], mode))
            v[n++] = &at->kids[i];
    tb_put(m, "expected ");
    for (unsigned i = 0; i < n; i++) {
        if (i)
            tb_put(m, i + 1 == n && !at->id ? " or " : ", ");
        put_arg(m, v[i]);
    }
    if (at->id != CMD_NONE)
        tb_put(m, n ? " or the end of the command" : "the end of the command");
}

/* ------------------------------------------------------------- parsing -- */

static const char *root_hint(const struct word *w, enum cmd_mode mode)
{
    static const char *const conf_only[] = { "set", "delete", "commit", "rollback" };
    static const char *const oper_only[] = { "clear", "ping", "restart", "reboot", "halt", "configure", "table" };
    const char *const *list = mode == CMD_MODE_OPER ? conf_only : oper_only;
    size_t n = mode == CMD_MODE_OPER ? sizeof conf_only / sizeof conf_only[0] : sizeof oper_only / sizeof oper_only[0];
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == w->n && memcmp(list[i], w->s, w->n) == 0)
            return mode == CMD_MODE_OPER ? " (a configuration-mode command: type configure first)"
                                         : " (an operational command: exit configuration mode first)";
    return "";
}

int cmd_parse(const char *line, enum cmd_mode mode, struct cmd_call *call, char *err, size_t errlen)
{
    struct textbuf m = { err, errlen, 0 };
    if (errlen)
        err[0] = '\0';
    memset(call, 0, sizeof *call);
    struct word w[CMD_MAX_WORDS];
    bool more;
    size_t len = strlen(line);
    unsigned n = split(line, len, w, CMD_MAX_WORDS, &more);
    if (n == 0)
        return 0;
    const struct node *at = &root, *prev = NULL;
    for (unsigned i = 0; i < n; i++) {
        const struct node *k = NULL;
        uint64_t num = 0;
        enum match r = match_word(at, mode, &w[i], &k, &num);
        if (r == M_OK && k->kind == K_REST) {
            size_t end = len;
            while (end > 0 && is_blank(line[end - 1]))
                end--;
            call->rest = w[i].s;
            call->rest_len = (size_t)(line + end - w[i].s);
            call->id = (enum cmd_id)k->id;
            return 1;
        }
        if (r != M_OK) {
            if (r == M_BADARG) {
                tb_put(&m, "expected ");
                put_arg(&m, k);
                if (prev) {
                    tb_put(&m, " after ");
                    tb_put(&m, prev->word);
                }
            } else {
                put_expected(&m, at, mode);
                if (prev) {
                    tb_put(&m, " after ");
                    tb_put(&m, prev->word);
                }
            }
            if (r == M_AMBIGUOUS) {
                tb_put(&m, " (\"");
                tb_putn(&m, w[i].s, w[i].n > 32 ? 32 : w[i].n);
                tb_put(&m, "\" is ambiguous)");
            } else {
                put_got(&m, &w[i]);
                if (at == &root)
                    tb_put(&m, root_hint(&w[i], mode));
            }
            return -1;
        }
        if (k->kind != K_WORD) {
            if (call->n_args == CMD_MAX_ARGS) {
                tb_put(&m, "expected fewer arguments");
                return -1;
            }
            call->args[call->n_args].s = w[i].s;
            call->args[call->n_args].n = w[i].n;
            call->args[call->n_args].num = num;
            call->n_args++;
        }
        prev = k;
        at = k;
    }
    if (more) {
        tb_put(&m, "expected at most 48 words");
        return -1;
    }
    if (at->id == CMD_NONE) {
        put_expected(&m, at, mode);
        tb_put(&m, " after ");
        tb_put(&m, at->word);
        return -1;
    }
    call->id = (enum cmd_id)at->id;
    return 1;
}

int cmd_dispatch(const char *line, enum cmd_mode mode, const cmd_fn *handlers, void *ctx, char *err, size_t errlen)
{
    struct cmd_call call;
    int r = cmd_parse(line, mode, &call, err, errlen);
    if (r <= 0)
        return r;
    if (!handlers || !handlers[call.id]) {
        struct textbuf m = { err, errlen, 0 };
        tb_put(&m, "expected a command this build can run (");
        tb_put(&m, cmd_name(call.id));
        tb_put(&m, " is not available yet)");
        return -1;
    }
    if (errlen)
        err[0] = '\0';
    if (handlers[call.id](ctx, &call, err, errlen) != 0) {
        if (errlen && !err[0]) {
            struct textbuf m = { err, errlen, 0 };
            tb_put(&m, cmd_name(call.id));
            tb_put(&m, " failed");
        }
        return -1;
    }
    return 0;
}

/* Walks the complete words of LINE[0, cursor); *AT is where the word at
 * the cursor (*partial) is to be matched.  False if a word does not match
 * or the walk reached the rest of a line (set/delete). */
static bool walk_to_cursor(const char *line, size_t cursor, enum cmd_mode mode, const struct node **at,
                           struct word *partial)
{
    struct word w[CMD_MAX_WORDS];
    bool more;
    *at = &root;
    partial->s = line + cursor;
    partial->n = 0;
    unsigned n = split(line, cursor, w, CMD_MAX_WORDS, &more);
    if (more)
        return false;
    bool ends_blank = cursor == 0 || is_blank(line[cursor - 1]);
    unsigned full = ends_blank ? n : n - 1;
    partial->s = ends_blank ? line + cursor : w[n - 1].s;
    partial->n = ends_blank ? 0 : w[n - 1].n;
    for (unsigned i = 0; i < full; i++) {
        const struct node *k = NULL;
        uint64_t num;
        if (match_word(*at, mode, &w[i], &k, &num) != M_OK)
            return false;
        *at = k;
        if (k->kind == K_REST)
            return false; /* inside a configuration statement: not ours to complete */
    }
    return true;
}

void cmd_complete(const char *line, size_t cursor, enum cmd_mode mode, struct le_completion *c)
{
    const struct node *at;
    struct word partial;
    c->n = 0;
    c->more = false;
    c->start = cursor;
    if (!walk_to_cursor(line, cursor, mode, &at, &partial))
        return;
    c->start = (size_t)(partial.s - line);
    if (at->kind == K_REST)
        return;
    for (unsigned i = 0; i < at->n_kids; i++) {
        const struct node *k = &at->kids[i];
        if (!listed(k, mode))
            continue;
        if (k->kind == K_REST) { /* the first word of a configuration statement */
            for (size_t j = 0; j < sizeof conf_words / sizeof conf_words[0]; j++)
                if (strncmp(conf_words[j], partial.s, partial.n) == 0 && c->n < LE_MAX_CANDIDATES)
                    c->words[c->n++] = conf_words[j];
            continue;
        }
        if (k->kind != K_WORD || strlen(k->word) < partial.n || memcmp(k->word, partial.s, partial.n) != 0)
            continue;
        if (c->n == LE_MAX_CANDIDATES) {
            c->more = true;
            break;
        }
        c->words[c->n++] = k->word;
    }
}

static void help_row(void (*write)(void *, const char *, size_t), void *ctx, const char *word, size_t width,
                     const char *text)
{
    size_t n = strlen(word);
    write(ctx, "  ", 2);
    write(ctx, word, n);
    for (size_t i = n; i < width + 2; i++)
        write(ctx, " ", 1);
    write(ctx, text, strlen(text));
    write(ctx, "\r\n", 2);
}

void cmd_help(const char *line, size_t cursor, enum cmd_mode mode, void (*write)(void *ctx, const char *s, size_t n),
              void *ctx)
{
    const struct node *at;
    struct word partial;
    if (!walk_to_cursor(line, cursor, mode, &at, &partial)) {
        if (at && at->kind == K_REST) {
            help_row(write, ctx, "<statement>", 11, "see docs/CONFIG.md; Tab offers the first word");
            return;
        }
        write(ctx, "  (no command matches this; Backspace and try ? again)\r\n",
              strlen("  (no command matches this; Backspace and try ? again)\r\n"));
        return;
    }
    size_t width = 7; /* "<Enter>" */
    for (unsigned i = 0; i < at->n_kids; i++)
        if (listed(&at->kids[i], mode) && strlen(at->kids[i].word) > width)
            width = strlen(at->kids[i].word);
    unsigned shown = 0;
    for (unsigned i = 0; i < at->n_kids; i++) {
        const struct node *k = &at->kids[i];
        if (!listed(k, mode))
            continue;
        if (partial.n &&
            (k->kind != K_WORD || strlen(k->word) < partial.n || memcmp(k->word, partial.s, partial.n) != 0))
            continue;
        help_row(write, ctx, k->word, width, k->help);
        shown++;
    }
    if (!partial.n && at->id != CMD_NONE && at != &root)
        help_row(write, ctx, "<Enter>", width, "run the command");
    else if (!shown)
        write(ctx, "  (nothing starts with that here)\r\n", strlen("  (nothing starts with that here)\r\n"));
}

const char *cmd_name(enum cmd_id id)
{
    static const char *const names[CMD_COUNT] = {
        [CMD_NONE] = "(none)",
        [CMD_HELP] = "help",
        [CMD_SHOW_VERSION] = "show version",
        [CMD_SHOW_UPTIME] = "show uptime",
        [CMD_SHOW_TASKS] = "show tasks",
        [CMD_SHOW_MEMORY] = "show memory",
        [CMD_SHOW_INTERFACES] = "show interfaces",
        [CMD_SHOW_ARP] = "show arp",
        [CMD_SHOW_ROUTES] = "show routes",
        [CMD_SHOW_CONNECTIONS] = "show connections",
        [CMD_SHOW_FIREWALL] = "show firewall",
        [CMD_SHOW_STATES] = "show states",
        [CMD_SHOW_NAT] = "show nat",
        [CMD_SHOW_TLS] = "show tls",
        [CMD_SHOW_LOG] = "show log",
        [CMD_SHOW_LOG_FOLLOW] = "show log follow",
        [CMD_SHOW_RUNNING] = "show running-config",
        [CMD_SHOW_CONFIG_ERRORS] = "show config errors",
        [CMD_SHOW_CONFIG_SOURCE] = "show configuration source",
        [CMD_SHOW_SYSTEM] = "show system",
        [CMD_SHOW_CANDIDATE] = "show",
        [CMD_SHOW_COMPARE] = "show | compare",
        [CMD_CLEAR_COUNTERS] = "clear counters",
        [CMD_PING] = "ping",
        [CMD_RESTART] = "restart",
        [CMD_REBOOT] = "reboot",
        [CMD_HALT] = "halt",
        [CMD_CONFIGURE] = "configure",
        [CMD_EXIT] = "exit",
        [CMD_SET] = "set",
        [CMD_DELETE] = "delete",
        [CMD_COMMIT] = "commit",
        [CMD_COMMIT_CHECK] = "commit check",
        [CMD_COMMIT_CONFIRMED] = "commit confirmed",
        [CMD_ROLLBACK] = "rollback",
        [CMD_LOG_LEVEL] = "log level",
        [CMD_COMMIT_CONFIRMED_SECONDS] = "commit confirmed-seconds",
        [CMD_TABLE_ADD] = "table add",
        [CMD_TABLE_DELETE] = "table delete",
        [CMD_TABLE_SHOW] = "table show",
        [CMD_TABLE_FLUSH] = "table flush",
    };
    return (unsigned)id < CMD_COUNT && names[id] ? names[id] : "?";
}
