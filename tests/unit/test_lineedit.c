/* test_lineedit.c - consoled's line editor (appliance/console/lineedit.c) and
 * command language (appliance/console/cmd.c).
 *
 * The editor's output goes into a small terminal emulator (one row, the
 * cursor, the lines scrolled off), so the tests check what an operator
 * would see, not just the buffer: after every byte the visible row must be
 * the prompt and the visible part of the line, with the cursor in place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "lineedit.h"
#include "unit.h"

/* ----------------------------------------------------------- terminal -- */

#define TERM_MAX_W 1001
struct term {
    unsigned width;
    char row[TERM_MAX_W + 1];
    unsigned col;
    char lines[16384]; /* rows that scrolled off, each ended by '\n' */
    size_t lines_len;
    unsigned bells, bad, clears;
    int bad_byte, bad_col; /* the first bad output, for the failure message */
    bool pending_wrap;
    /* escape parsing */
    int esc; /* 0 none, 1 after ESC, 2 in CSI */
    char params[16];
    unsigned np;
};

static struct term T;

static void term_reset(unsigned width)
{
    memset(&T, 0, sizeof T);
    T.width = width;
    memset(T.row, ' ', width);
}

static void term_byte(char c)
{
    unsigned char b = (unsigned char)c;
    if (!(b >= 0x20 && b <= 0x7e) || T.esc)
        T.pending_wrap = false;
    if (T.esc == 1) {
        T.esc = b == '[' ? 2 : 0;
        T.np = 0;
        if (b != '[')
            T.bad++;
        return;
    }
    if (T.esc == 2) {
        if ((b >= '0' && b <= '9') || b == ';') {
            if (T.np < sizeof T.params - 1)
                T.params[T.np++] = (char)b;
            return;
        }
        T.params[T.np] = '\0';
        unsigned n = (unsigned)atoi(T.params);
        T.esc = 0;
        switch (b) {
        case 'K': memset(T.row + T.col, ' ', T.width - T.col); break;
        case 'C': T.col = T.col + (n ? n : 1) > T.width - 1 ? T.width - 1 : T.col + (n ? n : 1); break;
        case 'D': T.col = T.col > (n ? n : 1) ? T.col - (n ? n : 1) : 0; break;
        case 'H': T.col = 0; break;
        case 'J':
            memset(T.row, ' ', T.width);
            T.clears++;
            break;
        default: T.bad++; break;
        }
        return;
    }
    if (b == 0x1b) {
        T.esc = 1;
    } else if (b == '\r') {
        T.col = 0;
    } else if (b == '\n') {
        unsigned end = T.width;
        while (end > 0 && T.row[end - 1] == ' ')
            end--;
        if (T.lines_len + end + 1 < sizeof T.lines) {
            memcpy(T.lines + T.lines_len, T.row, end);
            T.lines_len += end;
            T.lines[T.lines_len++] = '\n';
            T.lines[T.lines_len] = '\0';
        }
        memset(T.row, ' ', T.width);
    } else if (b == '\b') {
        if (T.col)
            T.col--;
    } else if (b == '\a') {
        T.bells++;
    } else if (b >= 0x20 && b <= 0x7e) {
        /* VT100 auto-wrap: a character written in the last column leaves
         * the cursor there; the next one starts a new row.  (Help text
         * wider than the terminal wraps; the editor's own row never does,
         * which display_ok checks.) */
        if (T.pending_wrap) {
            term_byte('\n');
            T.col = 0;
        }
        T.row[T.col] = (char)b;
        if (T.col == T.width - 1)
            T.pending_wrap = true;
        else
            T.col++;
        return;
    } else {
        if (!T.bad++)
            T.bad_byte = b, T.bad_col = -1;
    }
}

static void term_write(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        term_byte(s[i]);
}

/* The editor's row as the terminal shows it is right. */
static int display_ok(const struct le *e)
{
    if (!e->active || !e->echo)
        return 1;
    size_t avail = T.width > e->prompt_len + 9 ? T.width - e->prompt_len - 1 : 8;
    if (e->scroll > e->pos || e->pos - e->scroll > avail - 1)
        return 0;
    size_t shown = e->len - e->scroll < avail ? e->len - e->scroll : avail;
    if (memcmp(T.row, e->prompt, e->prompt_len) != 0)
        return 0;
    if (memcmp(T.row + e->prompt_len, e->buf + e->scroll, shown) != 0)
        return 0;
    for (size_t i = e->prompt_len + shown; i < T.width; i++)
        if (T.row[i] != ' ')
            return 0;
    return !T.pending_wrap && T.col == e->prompt_len + e->pos - e->scroll;
}

/* The editor's own invariants. */
static int state_ok(const struct le *e)
{
    if (e->len > LE_LINE_MAX || e->pos > e->len || e->buf[e->len] != '\0' || strlen(e->buf) != e->len)
        return 0;
    for (size_t i = 0; i < e->len; i++)
        if (e->buf[i] < 0x20 || e->buf[i] > 0x7e)
            return 0;
    return e->state <= LE_ST_LITERAL && e->esc_len <= LE_ESC_MAX && e->hist_n <= LE_HISTORY && e->hist_pos >= -1 &&
           e->hist_pos < (int)e->hist_n;
}

/* ------------------------------------------------------------ fixture -- */

static struct le E;
static enum cmd_mode mode = CMD_MODE_OPER;

static void comp(void *ctx, const char *line, size_t cursor, struct le_completion *c)
{
    (void)ctx;
    cmd_complete(line, cursor, mode, c);
}

static void helpf(void *ctx, const char *line, size_t cursor)
{
    (void)ctx;
    cmd_help(line, cursor, mode, term_write, NULL);
}

static const struct le_ops ops = { term_write, comp, helpf, NULL };

static void setup(unsigned width)
{
    term_reset(width);
    le_init(&E, &ops);
    le_set_width(&E, width);
    mode = CMD_MODE_OPER;
}

/* Feeds S; returns the last event other than LE_NONE (or LE_NONE). */
static enum le_event feed(const char *s, size_t n)
{
    enum le_event last = LE_NONE;
    for (size_t i = 0; i < n; i++) {
        enum le_event ev = le_feed(&E, (uint8_t)s[i]);
        if (ev != LE_NONE)
            last = ev;
        CHECK(state_ok(&E));
        CHECK(display_ok(&E));
    }
    return last;
}
#define FEED(s) feed(s, sizeof(s) - 1)
/* Feeds KEYS, then the line being edited must read TEXT.  A macro, so a
 * failure names the case's own line. */
#define FEED_EXPECT(keys, text)                                                                                        \
    do {                                                                                                               \
        FEED(keys);                                                                                                    \
        CHECK_STR(E.buf, text);                                                                                        \
    } while (0)

/* ----------------------------------------------------------- editing -- */

static void test_typing_and_enter(void)
{
    setup(80);
    le_start(&E);
    CHECK_STR(T.row, "> "
                     "                                                                              ");
    CHECK_EQ(FEED("show version"), LE_NONE);
    CHECK_STR(E.buf, "show version");
    CHECK_EQ(FEED("\r"), LE_LINE);
    CHECK_STR(le_line(&E), "show version");
    CHECK_STR(T.lines, "> show version\n");
    /* CR LF is one Enter; the next line starts with a fresh prompt */
    CHECK_EQ(FEED("\nab\r\n"), LE_LINE);
    CHECK_STR(le_line(&E), "ab");
    CHECK_EQ(FEED("\n"), LE_LINE); /* a lone LF after the CR LF is another (empty) line */
    CHECK_STR(le_line(&E), "");
    CHECK_EQ(FEED("x\r\0"), LE_LINE); /* telnet's CR NUL */
    CHECK_EQ(FEED("y\n"), LE_LINE);
    CHECK_STR(le_line(&E), "y");
    CHECK_EQ(T.bad, 0);
}

static void test_editing_keys(void)
{
    setup(80);
    FEED("hello world");
    FEED_EXPECT("\x08\x7f", "hello wor");
    FEED_EXPECT("\x17", "hello "); /* ^W */
    FEED_EXPECT("\x17", "");
    FEED("one two three");
    FEED("\x01"); /* ^A */
    CHECK_EQ(E.pos, 0);
    FEED_EXPECT("X", "Xone two three");
    FEED("\x05\x02\x02"); /* ^E ^B ^B */
    CHECK_EQ(E.pos, E.len - 2);
    FEED_EXPECT("\x0b", "Xone two thr"); /* ^K */
    FEED("\x1b[D\x1b[D\x1bOD");          /* left x3 (CSI and SS3) */
    FEED("\x15");                        /* ^U: start to cursor */
    CHECK_STR(E.buf, "thr");
    CHECK_EQ(E.pos, 0);
    FEED("\x1b[C\x1bOC\x06"); /* right x3 */
    CHECK_EQ(E.pos, 3);
    FEED("\x1b[C"); /* at the end: stays */
    CHECK_EQ(E.pos, 3);
    FEED("\x1b[H");
    CHECK_EQ(E.pos, 0);
    FEED("\x1b[F");
    CHECK_EQ(E.pos, 3);
    FEED("\x1b[1~");
    CHECK_EQ(E.pos, 0);
    FEED("\x1b[4~");
    CHECK_EQ(E.pos, 3);
    FEED_EXPECT("\x1b[7~\x1b[3~", "hr"); /* home, delete */
    FEED_EXPECT("\x04", "r");            /* ^D deletes under the cursor */
    FEED_EXPECT("\x1b[8~ a b", "r a b");
    FEED("\x1b"
         "b"); /* ESC b: a word left */
    CHECK_EQ(E.pos, 4);
    FEED("\x1b[1;5D"); /* ctrl-left */
    CHECK_EQ(E.pos, 2);
    FEED("\x1b"
         "f");
    CHECK_EQ(E.pos, 3);
    FEED("\x1b[1;5C");
    CHECK_EQ(E.pos, 5);
    FEED_EXPECT("\x1b\x7f", "r a "); /* ESC DEL: word back */
    FEED("\x0c");                    /* ^L */
    CHECK_EQ(T.clears, 1);
    CHECK_EQ(FEED("\x03"), LE_INTERRUPT);
    CHECK(strstr(T.lines, "^C") != NULL);
    CHECK_EQ(FEED("\x04"), LE_EOF); /* ^D on an empty line */
    CHECK_EQ(T.bad, 0);
}

static void test_literal_question_mark(void)
{
    setup(80);
    FEED_EXPECT("a\x16?b", "a?b");
    FEED_EXPECT("\x16\x01", "a?b"); /* ^V then a control: nothing */
    CHECK_EQ(E.pos, 3);
}

static void test_history(void)
{
    setup(80);
    FEED("first\rsecond\rsecond\r   \rthird\r");
    CHECK_EQ(E.hist_n, 3); /* no repeats, no blank lines */
    FEED("draft");
    FEED_EXPECT("\x1b[A", "third");
    FEED_EXPECT("\x10\x10", "first"); /* ^P ^P */
    unsigned bells = T.bells;
    FEED("\x1b[A"); /* nothing older */
    CHECK_EQ(T.bells, bells + 1);
    CHECK_STR(E.buf, "first");
    FEED("X"); /* editing a recalled line does not change the history */
    FEED_EXPECT("\x1b[B\x1b[B", "third");
    FEED_EXPECT("\x0e", "draft"); /* ^N: back to the draft */
    FEED_EXPECT("\x1b[B", "draft");
    FEED("\x15\x1b[A\x1b[A\r");
    CHECK_STR(le_line(&E), "second");
    CHECK_STR(E.hist[(E.hist_head + LE_HISTORY - 1) % LE_HISTORY], "second");
    /* the oldest lines go */
    for (int i = 0; i < 40; i++) {
        char l[16];
        snprintf(l, sizeof l, "cmd%d\r", i);
        feed(l, strlen(l));
    }
    CHECK_EQ(E.hist_n, LE_HISTORY);
    for (int i = 0; i < LE_HISTORY; i++)
        FEED("\x1b[A");
    CHECK_STR(E.buf, "cmd8");
}

static void test_overlong_line(void)
{
    setup(80);
    static char big[700];
    memset(big, 'a', sizeof big);
    CHECK_EQ(feed(big, sizeof big), LE_NONE);
    CHECK_EQ(E.len, LE_LINE_MAX);
    CHECK_EQ(T.bells, 1); /* one bell, not one per byte */
    CHECK(E.overlong);
    CHECK_EQ(FEED("\r"), LE_TOO_LONG);
    /* a line that was cut is not in the history either */
    CHECK_EQ(E.hist_n, 0);
    /* deleting everything makes the line usable again */
    feed(big, sizeof big);
    FEED("\x01\x0b"); /* ^A ^K */
    CHECK(!E.overlong);
    CHECK_EQ(FEED("ok\r"), LE_LINE);
    /* exactly the limit is fine */
    feed(big, LE_LINE_MAX);
    CHECK_EQ(FEED("\r"), LE_LINE);
    CHECK_EQ(strlen(le_line(&E)), LE_LINE_MAX);
}

static void test_scrolling(void)
{
    setup(20);
    le_set_prompt(&E, "edge1> ");
    le_start(&E);
    FEED("0123456789abcdefghijklmnopqrstuvwxyz");
    CHECK(E.scroll > 0);
    FEED("\x01");
    CHECK_EQ(E.scroll, 0);
    FEED("\x05\x17\x17");
    FEED("\x1b[D\x1b[D");
    le_set_width(&E, 30);
    T.width = 30;
    memset(T.row, ' ', 30);
    FEED("\x0c");
    CHECK(display_ok(&E));
    CHECK_EQ(T.bad, 0);
}

static void test_bad_input_is_harmless(void)
{
    setup(80);
    /* bytes >= 0x80 and stray controls are dropped */
    FEED_EXPECT("a\x80\xff\xc3\xa9\x00\x07\x1c\x1d\x1e\x1f"
                "b",
                "ab");
    /* an unknown CSI sequence is swallowed whole */
    FEED_EXPECT("\x1b[?1049h\x1b[38;5;196m\x1b[200~c", "abc");
    /* a sequence too long is abandoned: the rest is ordinary input */
    FEED_EXPECT("\x1b[11111111111111111111Z", "abc1111Z");
    /* a control breaks a sequence and counts */
    FEED_EXPECT("\x1b[1\x15", "");
    FEED("\x1b\x03");
    CHECK_EQ(E.active, false);
    /* ESC + letter, SS3 + junk */
    FEED_EXPECT("x\x1bzy\x1bOqw", "xyw");
    CHECK_EQ(T.bad, 0);
}

static void test_password_mode(void)
{
    setup(80);
    le_set_prompt(&E, "Password: ");
    le_set_echo(&E, false);
    le_start(&E);
    size_t before = T.lines_len;
    FEED_EXPECT("s3cr?t\x08t\tX", "s3cr?tX");
    CHECK(strstr(T.row, "s3cr") == NULL); /* nothing shown */
    CHECK_EQ(FEED("\r"), LE_LINE);
    CHECK_STR(le_line(&E), "s3cr?tX");
    CHECK_EQ(E.hist_n, 0);
    CHECK_STR(T.lines + before, "Password:\n");
}

static void test_print_above(void)
{
    setup(80);
    FEED("show ver");
    le_print_above(&E, "log: something happened\r\n", 25);
    CHECK(strstr(T.lines, "log: something happened\n") != NULL);
    CHECK(display_ok(&E));
    CHECK_STR(E.buf, "show ver");
}

/* ------------------------------------------------- completion and help -- */

static void test_tab_completion(void)
{
    setup(80);
    FEED_EXPECT("sh\t", "show ");
    FEED_EXPECT("ver\t", "show version ");
    FEED_EXPECT("\x15sh r\t", "sh r"); /* routes, running-config: listed */
    CHECK(strstr(T.lines, "routes") && strstr(T.lines, "running-config"));
    FEED_EXPECT("u\t", "sh running-config ");
    FEED_EXPECT("\x15show con\t", "show con"); /* config, connections: common prefix "con" already typed */
    FEED_EXPECT("\x15show lo\t", "show log ");
    FEED_EXPECT("\t", "show log follow "); /* one candidate: follow */
    FEED("\x15xyz\t");                     /* nothing: bell */
    unsigned bells = T.bells;
    FEED("\t");
    CHECK_EQ(T.bells, bells + 1);
    /* completion in the middle of the line */
    FEED_EXPECT("\x15"
                "sh version\x01\x1b[C\x1b[C\t",
                "show version");
    mode = CMD_MODE_CONF;
    FEED_EXPECT("\x05\x15set ho\t", "set hostname ");
    FEED_EXPECT("ed\t", "set hostname ed"); /* inside a statement: nothing */
    FEED_EXPECT("\x15"
                "com\t",
                "commit ");
    FEED_EXPECT("conf\t", "commit confirmed ");
    FEED_EXPECT("\x15show |\t", "show | ");
    FEED_EXPECT("\t", "show | compare ");
    CHECK_EQ(T.bad, 0);
}

static void test_help_key(void)
{
    setup(100);
    FEED("?");
    CHECK(strstr(T.lines, "  help ") != NULL);
    CHECK(strstr(T.lines, "  configure ") != NULL);
    CHECK(strstr(T.lines, "  commit") == NULL); /* not in this mode */
    CHECK_STR(E.buf, "");
    CHECK(display_ok(&E));
    T.lines_len = 0;
    FEED_EXPECT("show ?", "show ");
    CHECK(strstr(T.lines, "  version         Keel's version and build\n") != NULL);
    CHECK(strstr(T.lines, "  running-config  the configuration in force\n") != NULL);
    T.lines_len = 0;
    FEED("lo?");
    CHECK(strstr(T.lines, "  log ") != NULL);
    CHECK(strstr(T.lines, "version") == NULL);
    T.lines_len = 0;
    FEED("\x15ping ?");
    CHECK(strstr(T.lines, "<address>") != NULL);
    T.lines_len = 0;
    FEED("1.2.3.4 ?");
    CHECK(strstr(T.lines, "count") != NULL);
    CHECK(strstr(T.lines, "<Enter>") != NULL);
    T.lines_len = 0;
    FEED("\x15reboot now ?");
    CHECK(strstr(T.lines, "no command matches") != NULL);
    T.lines_len = 0;
    FEED("\x15zz?");
    CHECK(strstr(T.lines, "nothing starts with that") != NULL);
    mode = CMD_MODE_CONF;
    T.lines_len = 0;
    FEED("\x15set interface ?");
    CHECK(strstr(T.lines, "<statement>") != NULL);
    CHECK_EQ(T.bad, 0);
}

/* -------------------------------------------------------- random bytes -- */

static unsigned rs = 2463534242u;
static unsigned xr(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 17;
    rs ^= rs << 5;
    return rs;
}

static void test_random_bytes(void)
{
    static const char interesting[] = "\x1b[O0123456789;~ABCDHF?\t\r\n\x7f\x08\x15\x17\x01\x05\x0b\x03\x04\x10\x0e"
                                      "\x16\x0c hsowcnfigpretu|-";
    for (int run = 0; run < 8; run++) {
        setup(20 + (unsigned)run * 17);
        mode = run % 2 ? CMD_MODE_CONF : CMD_MODE_OPER;
        if (run == 3) {
            le_set_prompt(&E, "a-much-longer-prompt-than-usual# ");
        }
        if (run == 5)
            le_set_echo(&E, false);
        for (int i = 0; i < 40000; i++) {
            unsigned r = xr();
            uint8_t b = (r & 3) == 0 ? (uint8_t)(r >> 8) : (uint8_t)interesting[(r >> 8) % (sizeof interesting - 1)];
            enum le_event ev = le_feed(&E, b);
            (void)ev;
            if (!state_ok(&E) || !display_ok(&E) || T.bad) {
                fprintf(stderr,
                        "run %d byte %d (0x%02x): bad byte 0x%02x at col %d, width %u, prompt %zu, len %zu pos %zu "
                        "scroll %zu\n",
                        run, i, b, T.bad_byte, T.bad_col, T.width, E.prompt_len, E.len, E.pos, E.scroll);
                CHECK(state_ok(&E));
                CHECK(display_ok(&E));
                CHECK_EQ(T.bad, 0);
                return;
            }
            if ((r >> 24) == 7)
                T.lines_len = 0; /* keep the scroll-back small */
        }
    }
    /* and after all that, a command still works */
    setup(80);
    CHECK_EQ(FEED("\x03show version\r"), LE_LINE);
    CHECK_STR(le_line(&E), "show version");
}

/* --------------------------------------------------------- the commands -- */

static struct cmd_call call;
static char err[CMD_ERR_MAX];

static int parse(const char *l, enum cmd_mode m) { return cmd_parse(l, m, &call, err, sizeof err); }

/* LINE, in MODE, is refused with exactly the error MESSAGE.  A macro, so a
 * failure names the case's own line. */
#define CHECK_REFUSED(line, mode, message)                                                                             \
    do {                                                                                                               \
        CHECK_EQ(parse(line, mode), -1);                                                                               \
        CHECK_STR(err, message);                                                                                       \
    } while (0)

static void test_commands_parse(void)
{
    static const struct {
        const char *line;
        enum cmd_mode mode;
        enum cmd_id id;
    } ok[] = {
        { "help", CMD_MODE_OPER, CMD_HELP },
        { "show version", CMD_MODE_OPER, CMD_SHOW_VERSION },
        { "  sh   ver  ", CMD_MODE_OPER, CMD_SHOW_VERSION },
        { "show uptime", CMD_MODE_OPER, CMD_SHOW_UPTIME },
        { "show tasks", CMD_MODE_OPER, CMD_SHOW_TASKS },
        { "show mem", CMD_MODE_OPER, CMD_SHOW_MEMORY },
        { "show int", CMD_MODE_OPER, CMD_SHOW_INTERFACES },
        { "show arp", CMD_MODE_OPER, CMD_SHOW_ARP },
        { "show rou", CMD_MODE_OPER, CMD_SHOW_ROUTES },
        { "show connections", CMD_MODE_OPER, CMD_SHOW_CONNECTIONS },
        { "show firewall", CMD_MODE_OPER, CMD_SHOW_FIREWALL },
        { "show states", CMD_MODE_OPER, CMD_SHOW_STATES },
        { "show nat", CMD_MODE_OPER, CMD_SHOW_NAT },
        { "show tls", CMD_MODE_OPER, CMD_SHOW_TLS },
        { "show log", CMD_MODE_OPER, CMD_SHOW_LOG },
        { "show log follow", CMD_MODE_OPER, CMD_SHOW_LOG_FOLLOW },
        { "show running-config", CMD_MODE_OPER, CMD_SHOW_RUNNING },
        { "show config errors", CMD_MODE_OPER, CMD_SHOW_CONFIG_ERRORS },
        { "clear counters", CMD_MODE_OPER, CMD_CLEAR_COUNTERS },
        { "reboot", CMD_MODE_OPER, CMD_REBOOT },
        { "halt", CMD_MODE_OPER, CMD_HALT },
        { "configure", CMD_MODE_OPER, CMD_CONFIGURE },
        { "exit", CMD_MODE_OPER, CMD_EXIT },
        { "show", CMD_MODE_CONF, CMD_SHOW_CANDIDATE },
        { "show | compare", CMD_MODE_CONF, CMD_SHOW_COMPARE },
        { "show | comp", CMD_MODE_CONF, CMD_SHOW_COMPARE },
        { "show version", CMD_MODE_CONF, CMD_SHOW_VERSION },
        { "commit", CMD_MODE_CONF, CMD_COMMIT },
        { "commit check", CMD_MODE_CONF, CMD_COMMIT_CHECK },
        { "rollback", CMD_MODE_CONF, CMD_ROLLBACK },
        { "exit", CMD_MODE_CONF, CMD_EXIT },
        { "help", CMD_MODE_CONF, CMD_HELP },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK_EQ(parse(ok[i].line, ok[i].mode), 1);
        CHECK_EQ(call.id, ok[i].id);
        CHECK_EQ(call.n_args, 0);
        CHECK_STR(err, "");
    }
    CHECK_EQ(parse("", CMD_MODE_OPER), 0);
    CHECK_EQ(parse("   ", CMD_MODE_CONF), 0);
    CHECK_EQ(parse("ping 10.0.2.2", CMD_MODE_OPER), 1);
    CHECK_EQ(call.id, CMD_PING);
    CHECK_EQ(call.n_args, 1);
    CHECK_EQ(call.args[0].num, 0x0a000202u);
    CHECK_EQ(parse("ping 10.0.2.2 count 100", CMD_MODE_OPER), 1);
    CHECK_EQ(call.n_args, 2);
    CHECK_EQ(call.args[1].num, 100);
    CHECK_EQ(parse("restart netd", CMD_MODE_OPER), 1);
    CHECK_EQ(call.id, CMD_RESTART);
    CHECK_EQ(call.args[0].n, 4);
    CHECK(memcmp(call.args[0].s, "netd", 4) == 0);
    CHECK_EQ(parse("commit confirmed 5", CMD_MODE_CONF), 1);
    CHECK_EQ(call.id, CMD_COMMIT_CONFIRMED);
    CHECK_EQ(call.args[0].num, 5);
    CHECK_EQ(parse("rollback 3", CMD_MODE_CONF), 1);
    CHECK_EQ(call.id, CMD_ROLLBACK);
    CHECK_EQ(call.n_args, 1);
    CHECK_EQ(call.args[0].num, 3);
    CHECK_EQ(parse("rollback 0", CMD_MODE_CONF), 1);
    CHECK_EQ(parse("set   pass in on wan proto tcp to port 22   ", CMD_MODE_CONF), 1);
    CHECK_EQ(call.id, CMD_SET);
    CHECK_EQ(call.rest_len, strlen("pass in on wan proto tcp to port 22"));
    CHECK(memcmp(call.rest, "pass in on wan proto tcp to port 22", call.rest_len) == 0);
    CHECK_EQ(parse("del interface lan", CMD_MODE_CONF), 1);
    CHECK_EQ(call.id, CMD_DELETE);
    CHECK_EQ(call.rest_len, strlen("interface lan"));
}

static void test_command_errors(void)
{
    CHECK_REFUSED(
        "frobnicate", CMD_MODE_OPER,
        "expected help, show, clear, ping, restart, reboot, halt, log, table, configure or exit (got \"frobnicate\")");
    CHECK_REFUSED(
        "show", CMD_MODE_OPER,
        "expected version, uptime, system, tasks, memory, interfaces, arp, routes, connections, firewall, states, "
        "nat, tls, log, running-config, config or configuration after show");
    CHECK_EQ(parse("show foo", CMD_MODE_OPER), -1);
    CHECK(strncmp(err, "expected version, uptime,", 25) == 0);
    CHECK(strstr(err, "after show (got \"foo\")") != NULL);
    CHECK_EQ(parse("show r", CMD_MODE_OPER), -1);
    CHECK(strstr(err, "(\"r\" is ambiguous)") != NULL);
    CHECK_EQ(parse("c", CMD_MODE_OPER), -1);
    CHECK(strstr(err, "(\"c\" is ambiguous)") != NULL);
    CHECK_REFUSED("show config", CMD_MODE_OPER, "expected errors after config");
    CHECK_REFUSED("show log follow now", CMD_MODE_OPER, "expected the end of the command after follow (got \"now\")");
    CHECK_REFUSED("reboot now", CMD_MODE_OPER, "expected the end of the command after reboot (got \"now\")");
    CHECK_REFUSED("show log x", CMD_MODE_OPER, "expected follow or the end of the command after log (got \"x\")");
    CHECK_REFUSED("ping", CMD_MODE_OPER, "expected an address A.B.C.D or an IPv6 address after ping");
    CHECK_REFUSED("ping example.com", CMD_MODE_OPER,
                  "expected an address A.B.C.D or an IPv6 address after ping (got \"example.com\")");
    static const char *const bad_ips[] = { "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.4x", "1..2.3" };
    for (size_t i = 0; i < sizeof bad_ips / sizeof bad_ips[0]; i++) {
        char l[64];
        snprintf(l, sizeof l, "ping %s", bad_ips[i]);
        CHECK_EQ(parse(l, CMD_MODE_OPER), -1);
    }
    CHECK_EQ(parse("ping 2001:db8::1", CMD_MODE_OPER), 1); /* IPv6 too */
    CHECK_EQ(parse("ping 2001:db8::1 count 2", CMD_MODE_OPER), 1);
    CHECK_EQ(parse("ping 2001:db8:::1", CMD_MODE_OPER), -1);
    CHECK_REFUSED("ping 1.2.3.4 count", CMD_MODE_OPER, "expected a number 1-100 after count");
    CHECK_REFUSED("ping 1.2.3.4 count 0", CMD_MODE_OPER, "expected a number 1-100 after count (got \"0\")");
    CHECK_EQ(parse("ping 1.2.3.4 count 101", CMD_MODE_OPER), -1);
    CHECK_EQ(parse("ping 1.2.3.4 count 99999999999", CMD_MODE_OPER), -1);
    CHECK_EQ(parse("ping 1.2.3.4 count -1", CMD_MODE_OPER), -1);
    CHECK_REFUSED("ping 1.2.3.4 size 5", CMD_MODE_OPER,
                  "expected count or the end of the command after <address> (got \"size\")");
    CHECK_REFUSED("restart", CMD_MODE_OPER, "expected a server name after restart");
    CHECK_REFUSED("restart NETD", CMD_MODE_OPER, "expected a server name after restart (got \"NETD\")");
    CHECK_EQ(parse("restart a-very-long-server-name", CMD_MODE_OPER), -1);
    CHECK_REFUSED("clear", CMD_MODE_OPER, "expected counters after clear");
    CHECK_EQ(parse("set hostname x", CMD_MODE_OPER), -1);
    CHECK(strstr(err, "(got \"set\") (a configuration-mode command: type configure first)") != NULL);
    CHECK_EQ(parse("configure", CMD_MODE_CONF), -1);
    CHECK(strstr(err, "(an operational command: exit configuration mode first)") != NULL);
    CHECK_EQ(parse("s", CMD_MODE_CONF), -1);
    CHECK(strstr(err, "is ambiguous") != NULL);
    CHECK_REFUSED("set", CMD_MODE_CONF, "expected a configuration statement after set");
    CHECK_EQ(parse("delete", CMD_MODE_CONF), -1);
    CHECK_REFUSED("commit confirmed", CMD_MODE_CONF, "expected a number 1-60 after confirmed");
    CHECK_EQ(parse("commit confirmed 61", CMD_MODE_CONF), -1);
    CHECK_REFUSED("commit later", CMD_MODE_CONF,
                  "expected check, confirmed or the end of the command after commit (got \"later\")");
    CHECK_EQ(parse("rollback 49", CMD_MODE_CONF), 1);
    CHECK_REFUSED("rollback 50", CMD_MODE_CONF, "expected a number 0-49 after rollback (got \"50\")");
    CHECK_REFUSED("show |", CMD_MODE_CONF, "expected compare after |");
    CHECK_EQ(parse("show | compare", CMD_MODE_OPER), -1);
    CHECK_REFUSED("show | grep x", CMD_MODE_CONF, "expected compare after | (got \"grep\")");
    /* too many words */
    char l[400] = "show";
    for (int i = 0; i < CMD_MAX_WORDS; i++)
        strcat(l, " x");
    CHECK_EQ(parse(l, CMD_MODE_OPER), -1);
    /* long words are cut in messages; the message always fits */
    static char lw[1000];
    memset(lw, 'q', sizeof lw - 1);
    CHECK_EQ(parse(lw, CMD_MODE_OPER), -1);
    CHECK(strlen(err) < sizeof err);
    char small[16];
    CHECK_EQ(cmd_parse("frobnicate", CMD_MODE_OPER, &call, small, sizeof small), -1);
    CHECK_STR(small, "expected help, ");
}

static int ran_id, ran_args;
static int h_ok(void *ctx, const struct cmd_call *c, char *e, size_t n)
{
    (void)ctx, (void)e, (void)n;
    ran_id = c->id;
    ran_args = (int)c->n_args;
    return 0;
}
static int h_fail(void *ctx, const struct cmd_call *c, char *e, size_t n)
{
    (void)ctx, (void)c;
    snprintf(e, n, "expected a reachable host");
    return 1;
}
static int h_fail_quiet(void *ctx, const struct cmd_call *c, char *e, size_t n)
{
    (void)ctx, (void)c, (void)e, (void)n;
    return 1;
}

static void test_dispatch(void)
{
    cmd_fn handlers[CMD_COUNT] = { 0 };
    handlers[CMD_SHOW_VERSION] = h_ok;
    handlers[CMD_PING] = h_fail;
    handlers[CMD_HALT] = h_fail_quiet;
    CHECK_EQ(cmd_dispatch("sh ver", CMD_MODE_OPER, handlers, NULL, err, sizeof err), 0);
    CHECK_EQ(ran_id, CMD_SHOW_VERSION);
    CHECK_EQ(cmd_dispatch("", CMD_MODE_OPER, handlers, NULL, err, sizeof err), 0);
    CHECK_EQ(cmd_dispatch("show arp", CMD_MODE_OPER, handlers, NULL, err, sizeof err), -1);
    CHECK_STR(err, "expected a command this build can run (show arp is not available yet)");
    CHECK_EQ(cmd_dispatch("ping 1.1.1.1", CMD_MODE_OPER, handlers, NULL, err, sizeof err), -1);
    CHECK_STR(err, "expected a reachable host");
    CHECK_EQ(cmd_dispatch("halt", CMD_MODE_OPER, handlers, NULL, err, sizeof err), -1);
    CHECK_STR(err, "halt failed");
    CHECK_EQ(cmd_dispatch("bogus", CMD_MODE_OPER, handlers, NULL, err, sizeof err), -1);
    CHECK(strncmp(err, "expected ", 9) == 0);
    CHECK_EQ(cmd_dispatch("show version", CMD_MODE_OPER, NULL, NULL, err, sizeof err), -1);
    for (int id = 0; id < CMD_COUNT; id++)
        CHECK(strcmp(cmd_name((enum cmd_id)id), "?") != 0);
    CHECK_STR(cmd_name(CMD_COUNT), "?");
}

/* Random lines of words from the tree never crash the parser, and every
 * error is one line starting "expected". */
static void test_random_commands(void)
{
    static const char *const words[] = { "show",
                                         "sh",
                                         "version",
                                         "log",
                                         "follow",
                                         "ping",
                                         "1.2.3.4",
                                         "count",
                                         "5",
                                         "0",
                                         "set",
                                         "x",
                                         "|",
                                         "compare",
                                         "commit",
                                         "confirmed",
                                         "rollback",
                                         "9",
                                         "restart",
                                         "netd",
                                         "config",
                                         "errors",
                                         "exit",
                                         "",
                                         "?",
                                         "s",
                                         "c",
                                         "delete",
                                         "999999999999999999" };
    for (int i = 0; i < 20000; i++) {
        char l[256] = "";
        unsigned n = xr() % 7;
        for (unsigned k = 0; k < n; k++) {
            strcat(l, words[xr() % (sizeof words / sizeof words[0])]);
            strcat(l, xr() % 5 ? " " : "  ");
        }
        enum cmd_mode m = xr() % 2 ? CMD_MODE_OPER : CMD_MODE_CONF;
        int r = parse(l, m);
        CHECK(r >= -1 && r <= 1);
        if (r < 0) {
            CHECK(strncmp(err, "expected ", 9) == 0);
            CHECK(strchr(err, '\n') == NULL);
        }
        struct le_completion c;
        cmd_complete(l, strlen(l), m, &c);
        CHECK(c.n <= LE_MAX_CANDIDATES && c.start <= strlen(l));
        term_reset(80);
        cmd_help(l, strlen(l), m, term_write, NULL);
        CHECK_EQ(T.bad, 0);
    }
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_typing_and_enter),
        UNIT_TEST(test_editing_keys),
        UNIT_TEST(test_literal_question_mark),
        UNIT_TEST(test_history),
        UNIT_TEST(test_overlong_line),
        UNIT_TEST(test_scrolling),
        UNIT_TEST(test_bad_input_is_harmless),
        UNIT_TEST(test_password_mode),
        UNIT_TEST(test_print_above),
        UNIT_TEST(test_tab_completion),
        UNIT_TEST(test_help_key),
        UNIT_TEST(test_random_bytes),
        UNIT_TEST(test_commands_parse),
        UNIT_TEST(test_command_errors),
        UNIT_TEST(test_dispatch),
        UNIT_TEST(test_random_commands),
    };
    return unit_main("lineedit", tests, (int)(sizeof tests / sizeof tests[0]));
}
