/*
 * consoled_login.c - the console's login and modes: the locked shell, the
 * password check with its growing delay, the prompt, configure and exit, and
 * the password hash a bad appliance.conf still carries.
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

/* Locks the console: the next line is the password. */
void con_lock(struct consoled *c)
{
    c->locked = true;
    c->mode = CMD_MODE_OPER;
    le_set_echo(&c->le, false);
    con_set_prompt(c);
}

void con_set_prompt(struct consoled *c)
{
    char p[LE_PROMPT_MAX];
    if (c->locked) {
        le_set_prompt(&c->le, "Password: ");
        return;
    }
    lib_snprintf(p, sizeof p, "%s%s ", c->running.hostname, c->mode == CMD_MODE_CONF ? "#" : ">");
    le_set_prompt(&c->le, p);
}

int do_configure(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    c->mode = CMD_MODE_CONF;
    c->paste_port = 0;
    con_say(c, "Entering configuration mode (edit the candidate; commit applies it)\r\n");
    con_set_prompt(c);
    return 0;
}

int do_exit(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call;
    struct consoled *c = ctx;
    if (c->mode == CMD_MODE_OPER) {
        if (!c->pw_hash[0]) {
            lib_snprintf(err, errlen, "expected a console password to log out from (none is set)");
            return -1;
        }
        con_log(c, CONF_LOG_INFO, "logout from the console");
        con_lock(c);
        return 0;
    }
    size_t n = conf_write(&c->running, c->text_a, sizeof c->text_a);
    if (n != c->candidate.len || memcmp(c->text_a, c->candidate.buf, n) != 0)
        con_say(c,
                "The candidate has uncommitted changes; they stay for the next configure (rollback 0 drops them)\r\n");
    c->mode = CMD_MODE_OPER;
    con_set_prompt(c);
    return 0;
}

/* A password line, while locked. */
void con_try_password(struct consoled *c, const char *line)
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
        con_set_prompt(c);
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

/* A bad file runs the empty configuration, but its `console password-hash`
 * line, if that line alone is well-formed, still locks the console. */
void con_recover_password(struct consoled *c, const char *text, size_t len)
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
