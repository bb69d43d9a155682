/*
 * lineedit.c - the console's line editor (keys, limits and display in
 * lineedit.h).
 *
 * Two layers.  le_feed() is a small state machine over the input bytes:
 * GROUND (keys), ESC (after ESC), CSI (after ESC [: parameter bytes
 * 0x30-0x3f and intermediates 0x20-0x2f until a final byte 0x40-0x7e),
 * SS3 (after ESC O: one final byte) and LITERAL (after ^V).  It turns bytes
 * into editing operations; nothing else reads input.  The operations keep
 * the invariants of struct le (printable line, pos <= len <= LE_LINE_MAX,
 * buf NUL-terminated) and then redraw through refresh(), which derives the
 * whole row from the state: prompt, the visible window of the line, erase
 * to the end of the row, cursor placed by CR and a forward move.  Because
 * the row is always drawn from the state, no sequence of input can leave
 * the display out of step with the line for longer than one key.  Typing
 * at the end of the line and backspacing there are sent as the single
 * characters a terminal expects (no redraw) when no scrolling is involved.
 */
#include "lineedit.h"

#include <keel/string.h>

static void out(struct le *e, const char *s, size_t n)
{
    if (n)
        e->ops->write(e->ops->ctx, s, n);
}

static void out_str(struct le *e, const char *s) { out(e, s, strlen(s)); }

static void bell(struct le *e) { out(e, "\a", 1); }

static bool printable(uint8_t b) { return b >= 0x20 && b <= 0x7e; }
static bool blank(char c) { return c == ' '; }

/* Columns for the line after the prompt (the last screen column stays
 * unused, so a terminal never wraps the row by itself). */
static size_t room(const struct le *e)
{
    size_t w = e->width;
    return w > e->prompt_len + 9 ? w - e->prompt_len - 1 : 8;
}

/* Keeps the cursor inside the visible window. */
static void fix_scroll(struct le *e)
{
    size_t avail = room(e);
    if (e->len < avail)
        e->scroll = 0;
    if (e->pos < e->scroll)
        e->scroll = e->pos;
    if (e->pos - e->scroll > avail - 1)
        e->scroll = e->pos - (avail - 1);
    /* Show as much of the line as fits, once scrolled. */
    if (e->scroll && e->len - e->scroll < avail - 1) {
        size_t s = e->len >= avail - 1 ? e->len - (avail - 1) : 0;
        e->scroll = s < e->scroll ? s : e->scroll;
    }
}

static void refresh(struct le *e)
{
    if (!e->echo || !e->active)
        return;
    fix_scroll(e);
    size_t avail = room(e), shown = e->len - e->scroll;
    if (shown > avail)
        shown = avail;
    out(e, "\r", 1);
    out(e, e->prompt, e->prompt_len);
    out(e, e->buf + e->scroll, shown);
    out_str(e, "\x1b[K\r");
    size_t col = e->prompt_len + e->pos - e->scroll;
    if (col) {
        char num[24];
        size_t n = sizeof num;
        num[--n] = 'C';
        do {
            num[--n] = (char)('0' + col % 10);
            col /= 10;
        } while (col);
        num[--n] = '[';
        num[--n] = '\x1b';
        out(e, num + n, sizeof num - n);
    }
}

/* ------------------------------------------------------------ editing -- */

static void set_line(struct le *e, const char *s)
{
    size_t n = strlen(s);
    if (n > LE_LINE_MAX)
        n = LE_LINE_MAX;
    memcpy(e->buf, s, n);
    e->buf[n] = '\0';
    e->len = e->pos = n;
}

/* Inserts C at the cursor; false (and one bell per line) when full. */
static bool insert_char(struct le *e, char c)
{
    if (e->len == LE_LINE_MAX) {
        if (!e->overlong)
            bell(e);
        e->overlong = true;
        return false;
    }
    memmove(e->buf + e->pos + 1, e->buf + e->pos, e->len - e->pos + 1);
    e->buf[e->pos++] = c;
    e->len++;
    return true;
}

static void type_char(struct le *e, char c)
{
    bool at_end = e->pos == e->len;
    if (!insert_char(e, c))
        return;
    if (!e->echo)
        return;
    if (at_end && e->pos - e->scroll <= room(e) - 1)
        out(e, &c, 1); /* no scrolling: the terminal moves the cursor on by itself */
    else
        refresh(e);
}

/* Deletes [from, to) and puts the cursor at FROM. */
static void delete_range(struct le *e, size_t from, size_t to)
{
    if (from >= to)
        return;
    memmove(e->buf + from, e->buf + to, e->len - to + 1);
    e->len -= to - from;
    e->pos = from;
    if (e->len == 0)
        e->overlong = false;
}

static void backspace(struct le *e)
{
    if (e->pos == 0)
        return;
    bool at_end = e->pos == e->len;
    delete_range(e, e->pos - 1, e->pos);
    if (!e->echo)
        return;
    if (at_end && e->scroll == 0)
        out(e, "\b \b", 3);
    else
        refresh(e);
}

static size_t word_left(const struct le *e)
{
    size_t p = e->pos;
    while (p > 0 && blank(e->buf[p - 1]))
        p--;
    while (p > 0 && !blank(e->buf[p - 1]))
        p--;
    return p;
}

static size_t word_right(const struct le *e)
{
    size_t p = e->pos;
    while (p < e->len && blank(e->buf[p]))
        p++;
    while (p < e->len && !blank(e->buf[p]))
        p++;
    return p;
}

static void move_to(struct le *e, size_t p)
{
    if (p > e->len)
        p = e->len;
    if (p != e->pos) {
        e->pos = p;
        refresh(e);
    }
}

/* ------------------------------------------------------------ history -- */

void le_history_add(struct le *e, const char *line)
{
    size_t n = strlen(line), i = 0;
    while (i < n && blank(line[i]))
        i++;
    if (i == n || n > LE_LINE_MAX)
        return;
    if (e->hist_n && strcmp(e->hist[(e->hist_head + LE_HISTORY - 1) % LE_HISTORY], line) == 0)
        return;
    memcpy(e->hist[e->hist_head], line, n + 1);
    e->hist_head = (e->hist_head + 1) % LE_HISTORY;
    if (e->hist_n < LE_HISTORY)
        e->hist_n++;
}

static void history_step(struct le *e, int dir)
{
    int next = e->hist_pos + dir;
    if (!e->echo || next < -1 || next >= (int)e->hist_n) {
        bell(e);
        return;
    }
    if (e->hist_pos == -1)
        memcpy(e->saved, e->buf, e->len + 1);
    e->hist_pos = next;
    if (next == -1)
        set_line(e, e->saved);
    else
        set_line(e, e->hist[(e->hist_head + LE_HISTORY - 1 - (unsigned)next) % LE_HISTORY]);
    e->overlong = false;
    refresh(e);
}

/* --------------------------------------------------- completion, help -- */

static void list_words(struct le *e, const struct le_completion *c)
{
    size_t wmax = 1;
    for (unsigned i = 0; i < c->n; i++) {
        size_t n = strlen(c->words[i]);
        wmax = n > wmax ? n : wmax;
    }
    size_t colw = wmax + 2, per_row = e->width > colw ? (e->width - 1) / colw : 1;
    out(e, "\r\n", 2);
    for (unsigned i = 0; i < c->n; i++) {
        size_t n = strlen(c->words[i]);
        out(e, c->words[i], n);
        bool eol = (i + 1) % per_row == 0 || i + 1 == c->n;
        if (eol) {
            out(e, "\r\n", 2);
        } else {
            for (size_t k = n; k < colw; k++)
                out(e, " ", 1);
        }
    }
    if (c->more)
        out_str(e, "...\r\n");
    refresh(e);
}

static void complete(struct le *e)
{
    if (!e->ops->complete || !e->echo) {
        bell(e);
        return;
    }
    struct le_completion c;
    memset(&c, 0, sizeof c);
    c.start = e->pos;
    char saved = e->buf[e->pos];
    e->buf[e->pos] = '\0'; /* the callback sees the line up to the cursor */
    e->ops->complete(e->ops->ctx, e->buf, e->pos, &c);
    e->buf[e->pos] = saved;
    if (c.n > LE_MAX_CANDIDATES)
        c.n = LE_MAX_CANDIDATES;
    if (c.start > e->pos || c.n == 0) {
        bell(e);
        return;
    }
    size_t typed = e->pos - c.start;
    /* The longest prefix all candidates share, if they all extend what was typed. */
    size_t lcp = strlen(c.words[0]);
    bool match = true;
    for (unsigned i = 0; i < c.n && match; i++) {
        const char *w = c.words[i];
        size_t k = 0;
        while (k < lcp && w[k] && w[k] == c.words[0][k])
            k++;
        lcp = k;
        match = strlen(w) >= typed && memcmp(w, e->buf + c.start, typed) == 0;
    }
    if (match && lcp > typed) {
        for (size_t k = typed; k < lcp; k++)
            if (!printable((uint8_t)c.words[0][k]) || !insert_char(e, c.words[0][k]))
                break;
        if (c.n == 1 && (e->pos == e->len || !blank(e->buf[e->pos])))
            (void)insert_char(e, ' ');
        refresh(e);
    } else if (match && c.n == 1) {
        if (e->pos == e->len || !blank(e->buf[e->pos]))
            (void)insert_char(e, ' ');
        refresh(e);
    } else {
        list_words(e, &c);
    }
}

static void help(struct le *e)
{
    out(e, "?\r\n", 3);
    char saved = e->buf[e->pos];
    e->buf[e->pos] = '\0';
    e->ops->help(e->ops->ctx, e->buf, e->pos);
    e->buf[e->pos] = saved;
    refresh(e);
}

/* ----------------------------------------------------------------- keys -- */

static enum le_event finish(struct le *e, enum le_event ev)
{
    e->active = false;
    e->state = LE_ST_GROUND;
    if (ev != LE_LINE)
        return ev;
    if (e->overlong)
        return LE_TOO_LONG;
    memcpy(e->line, e->buf, e->len + 1);
    if (e->echo)
        le_history_add(e, e->line);
    return LE_LINE;
}

static void csi_final(struct le *e, uint8_t final)
{
    unsigned p[2] = { 0, 0 }, np = 0;
    for (unsigned i = 0; i < e->esc_len; i++) {
        uint8_t b = e->esc[i];
        if (b >= '0' && b <= '9') {
            if (np < 2 && p[np] < 10000)
                p[np] = p[np] * 10 + (unsigned)(b - '0');
        } else if (b == ';') {
            np++;
        }
    }
    bool word = np >= 1 && (p[1] == 3 || p[1] == 5); /* alt- or ctrl-arrow */
    switch (final) {
    case 'A': history_step(e, +1); break;
    case 'B': history_step(e, -1); break;
    case 'C': move_to(e, word ? word_right(e) : e->pos + 1); break;
    case 'D': move_to(e, word ? word_left(e) : (e->pos ? e->pos - 1 : 0)); break;
    case 'H': move_to(e, 0); break;
    case 'F': move_to(e, e->len); break;
    case '~':
        if (p[0] == 1 || p[0] == 7)
            move_to(e, 0);
        else if (p[0] == 4 || p[0] == 8)
            move_to(e, e->len);
        else if (p[0] == 3 && e->pos < e->len) {
            delete_range(e, e->pos, e->pos + 1);
            refresh(e);
        }
        break;
    default: break; /* a sequence we do not use: dropped */
    }
}

static enum le_event ground(struct le *e, uint8_t b)
{
    if (printable(b)) {
        if (b == '?' && e->echo && e->ops->help)
            help(e);
        else
            type_char(e, (char)b);
        return LE_NONE;
    }
    switch (b) {
    case '\r':
        e->last_cr = true;
        /* fall through */
    case '\n': out(e, "\r\n", 2); return finish(e, LE_LINE);
    case 0x03:
        /* "^C" at the cursor, unless it would reach the row's last column */
        out_str(e, e->echo && e->prompt_len + e->pos - e->scroll + 2 < e->width ? "^C\r\n" : "\r\n");
        return finish(e, LE_INTERRUPT);
    case 0x04:
        if (e->len == 0) {
            out(e, "\r\n", 2);
            return finish(e, LE_EOF);
        }
        if (e->pos < e->len) {
            delete_range(e, e->pos, e->pos + 1);
            refresh(e);
        }
        return LE_NONE;
    case 0x08:
    case 0x7f: backspace(e); return LE_NONE;
    case 0x15:
        delete_range(e, 0, e->pos);
        refresh(e);
        return LE_NONE;
    case 0x0b:
        delete_range(e, e->pos, e->len);
        refresh(e);
        return LE_NONE;
    case 0x17:
        delete_range(e, word_left(e), e->pos);
        refresh(e);
        return LE_NONE;
    case 0x01: move_to(e, 0); return LE_NONE;
    case 0x05: move_to(e, e->len); return LE_NONE;
    case 0x02: move_to(e, e->pos ? e->pos - 1 : 0); return LE_NONE;
    case 0x06: move_to(e, e->pos + 1); return LE_NONE;
    case 0x10: history_step(e, +1); return LE_NONE;
    case 0x0e: history_step(e, -1); return LE_NONE;
    case 0x09: complete(e); return LE_NONE;
    case 0x0c:
        if (e->echo)
            out_str(e, "\x1b[H\x1b[2J");
        refresh(e);
        return LE_NONE;
    case 0x16: e->state = LE_ST_LITERAL; return LE_NONE;
    case 0x1b:
        e->state = LE_ST_ESC;
        e->esc_len = 0;
        return LE_NONE;
    default: return LE_NONE; /* other controls and bytes >= 0x80: ignored */
    }
}

enum le_event le_feed(struct le *e, uint8_t b)
{
    if (e->last_cr) {
        e->last_cr = false;
        if (b == '\n' || b == 0)
            return LE_NONE; /* the rest of CR LF (or telnet's CR NUL) */
    }
    if (!e->active)
        le_start(e);
    switch (e->state) {
    case LE_ST_LITERAL:
        e->state = LE_ST_GROUND;
        if (printable(b))
            type_char(e, (char)b);
        return LE_NONE;
    case LE_ST_ESC:
        e->state = LE_ST_GROUND;
        if (b == '[' || b == 'O') {
            e->state = b == '[' ? LE_ST_CSI : LE_ST_SS3;
            e->esc_len = 0;
            return LE_NONE;
        }
        if (b == 'b' || b == 'f') {
            move_to(e, b == 'b' ? word_left(e) : word_right(e));
            return LE_NONE;
        }
        if (b == 0x7f || b == 0x08) {
            delete_range(e, word_left(e), e->pos);
            refresh(e);
            return LE_NONE;
        }
        if (b == 0x1b) {
            e->state = LE_ST_ESC;
            return LE_NONE;
        }
        if (b >= 0x20)
            return LE_NONE; /* ESC + an unknown character: dropped */
        break;              /* ESC + a control: the control counts */
    case LE_ST_CSI:
        if (b >= 0x40 && b <= 0x7e) {
            e->state = LE_ST_GROUND;
            csi_final(e, b);
            return LE_NONE;
        }
        if (b >= 0x20 && b <= 0x3f && e->esc_len < LE_ESC_MAX) {
            e->esc[e->esc_len++] = b;
            return LE_NONE;
        }
        /* Too long, a control character or a byte >= 0x80: abandon the
         * sequence; this byte is ordinary input. */
        e->state = LE_ST_GROUND;
        break;
    case LE_ST_SS3:
        e->state = LE_ST_GROUND;
        if (b >= 0x40 && b <= 0x7e) {
            if (b == 'A' || b == 'B' || b == 'C' || b == 'D' || b == 'H' || b == 'F')
                csi_final(e, b);
            return LE_NONE;
        }
        break;
    default: break;
    }
    return ground(e, b);
}

/* ------------------------------------------------------------ set up -- */

void le_init(struct le *e, const struct le_ops *ops)
{
    memset(e, 0, sizeof *e);
    e->ops = ops;
    e->width = LE_WIDTH_DEFAULT;
    e->echo = true;
    e->hist_pos = -1;
    le_set_prompt(e, "> ");
}

void le_set_prompt(struct le *e, const char *prompt)
{
    size_t n = 0;
    for (size_t i = 0; prompt[i] && n < LE_PROMPT_MAX - 1; i++)
        if (printable((uint8_t)prompt[i]))
            e->prompt[n++] = prompt[i];
    e->prompt[n] = '\0';
    e->prompt_len = n;
}

void le_set_echo(struct le *e, bool echo) { e->echo = echo; }

void le_set_width(struct le *e, unsigned cols)
{
    e->width = cols < LE_WIDTH_MIN ? LE_WIDTH_MIN : cols > LE_WIDTH_MAX ? LE_WIDTH_MAX : cols;
    refresh(e);
}

void le_start(struct le *e)
{
    e->buf[0] = '\0';
    e->len = e->pos = e->scroll = 0;
    e->overlong = false;
    e->hist_pos = -1;
    e->state = LE_ST_GROUND;
    e->active = true;
    out(e, e->prompt, e->prompt_len);
}

const char *le_line(const struct le *e) { return e->line; }

void le_print_above(struct le *e, const char *s, size_t n)
{
    if (!e->active) {
        out(e, s, n);
        return;
    }
    out_str(e, "\r\x1b[K");
    out(e, s, n);
    if (e->echo)
        refresh(e);
    else
        out(e, e->prompt, e->prompt_len);
}
