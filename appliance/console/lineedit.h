/*
 * lineedit.h - consoled's line editor: bytes from the serial line in,
 * terminal output and finished lines out.  Pure code (no system calls, no
 * allocation, no globals): the caller feeds bytes and supplies callbacks
 * for output, completion and help; host-tested by tests/unit/test_lineedit.c.
 *
 * Keys (ASCII control characters, and the ANSI/VT100 sequences terminals
 * send: CSI "ESC [" and SS3 "ESC O"):
 *   printable      inserted at the cursor ('?' asks for help instead; ^V
 *                  then '?' inserts it)
 *   Enter          CR, LF or CR LF (one line, however the terminal ends it)
 *   ^H, DEL        delete the character before the cursor
 *   ^D             delete the character under the cursor; on an empty line: LE_EOF
 *   ^U             delete from the start of the line to the cursor
 *   ^K             delete from the cursor to the end of the line
 *   ^W, ESC DEL    delete the word before the cursor (blank-separated)
 *   ^A/Home, ^E/End, ^B/Left, ^F/Right, ESC b / ESC f, ctrl-Left/Right
 *                  move the cursor (by characters, words, to either end)
 *   ^P/Up, ^N/Down walk the history (LE_HISTORY lines; the line being typed
 *                  is kept while you look)
 *   Tab            complete the word at the cursor: the callback names the
 *                  candidates; one is inserted with a blank after it, several
 *                  are completed to their common prefix and, when that adds
 *                  nothing, listed
 *   ^C             abandon the line: LE_INTERRUPT
 *   ^L             clear the screen and redraw
 * Everything else is ignored: other control characters, bytes >= 0x80
 * (the line holds printable ASCII only, so nothing typed can put the
 * terminal into another mode), and escape sequences we do not know, which
 * are parsed to their final byte and dropped.  A sequence longer than
 * LE_ESC_MAX bytes, or broken by a control character, is abandoned and its
 * remaining bytes read as ordinary input; either way the editor's state is
 * always a valid line.
 *
 * Limit: a line holds LE_LINE_MAX characters.  Beyond that, input is
 * dropped with one bell, the line is marked overlong, and Enter discards it
 * (LE_TOO_LONG): a line cut short is never run (a cut firewall rule could
 * mean something else).
 *
 * Display: one terminal row, WIDTH columns (80 unless set).  A line longer
 * than the room after the prompt scrolls sideways so the cursor stays
 * visible.  Output uses only CR, LF, BS, BEL and the sequences ESC [ K,
 * ESC [ n C, ESC [ H, ESC [ 2 J, which every ANSI terminal knows.
 *
 * Echo off (passwords): nothing typed is shown, no history, no completion,
 * no help; ^U and backspace still edit.
 */
#ifndef KEEL_APPLIANCE_LINEEDIT_H
#define KEEL_APPLIANCE_LINEEDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LE_LINE_MAX       511 /* characters in a line */
#define LE_HISTORY        32  /* lines remembered */
#define LE_PROMPT_MAX     64  /* prompt bytes, with the NUL */
#define LE_MAX_CANDIDATES 64  /* completion candidates shown */
#define LE_ESC_MAX        16  /* bytes of one escape sequence after ESC */
#define LE_WIDTH_DEFAULT  80
#define LE_WIDTH_MIN      20
#define LE_WIDTH_MAX      1000

/* What le_feed reports. */
enum le_event {
    LE_NONE = 0,      /* keep feeding */
    LE_LINE = 1,      /* a line is ready: le_line() */
    LE_INTERRUPT = 2, /* ^C: the line was abandoned */
    LE_EOF = 3,       /* ^D on an empty line */
    LE_TOO_LONG = 4,  /* Enter on an overlong line: it was discarded */
};

/* Filled by the completion callback: the candidates for the word that
 * starts at START and ends at the cursor. */
struct le_completion {
    size_t start;
    unsigned n;                           /* <= LE_MAX_CANDIDATES */
    bool more;                            /* there were more candidates than fit */
    const char *words[LE_MAX_CANDIDATES]; /* NUL-terminated; must stay valid until le_feed returns */
};

struct le_ops {
    /* Terminal output (required). */
    void (*write)(void *ctx, const char *s, size_t n);
    /* Candidates for LINE[0, cursor) (may be NULL: Tab rings the bell). */
    void (*complete)(void *ctx, const char *line, size_t cursor, struct le_completion *c);
    /* '?' was typed after LINE[0, cursor): write the help, whole lines
     * ending "\r\n" (may be NULL: '?' is inserted). */
    void (*help)(void *ctx, const char *line, size_t cursor);
    void *ctx;
};

enum le_state { LE_ST_GROUND, LE_ST_ESC, LE_ST_CSI, LE_ST_SS3, LE_ST_LITERAL };

struct le {
    /* Configuration (le_init, le_set_*). */
    const struct le_ops *ops;
    char prompt[LE_PROMPT_MAX];
    size_t prompt_len;
    unsigned width; /* LE_WIDTH_MIN..LE_WIDTH_MAX */
    bool echo;

    /* The line: buf[0, len) printable ASCII, buf[len] = 0, pos <= len <= LE_LINE_MAX. */
    char buf[LE_LINE_MAX + 1];
    size_t len, pos;
    size_t scroll; /* first character shown; scroll <= pos */
    bool overlong; /* input was dropped: Enter discards the line */
    bool active;   /* the prompt is shown and a line is being edited */
    bool last_cr;  /* the previous byte was CR (an LF after it is the same Enter) */

    /* Escape sequence being parsed. */
    uint8_t state; /* enum le_state */
    uint8_t esc_len;
    uint8_t esc[LE_ESC_MAX];

    /* History: hist[(head - 1 - k) % LE_HISTORY] is the k-th latest line. */
    char hist[LE_HISTORY][LE_LINE_MAX + 1];
    unsigned hist_n, hist_head;
    int hist_pos;                /* -1: the line being typed; else the k shown */
    char saved[LE_LINE_MAX + 1]; /* the line being typed, while the history is shown */

    char line[LE_LINE_MAX + 1]; /* the last finished line (LE_LINE) */
};

/* Sets up E (no output yet); prompt "> ", echo on, width 80. */
void le_init(struct le *e, const struct le_ops *ops);
/* Prompt for the next le_start (cut to LE_PROMPT_MAX - 1 bytes; printable ASCII only). */
void le_set_prompt(struct le *e, const char *prompt);
void le_set_echo(struct le *e, bool echo);
void le_set_width(struct le *e, unsigned cols);
/* Shows the prompt and starts an empty line.  le_feed calls it by itself
 * when no line is active (after an event). */
void le_start(struct le *e);

/*
 * Takes one byte from the terminal.  Returns an le_event; after anything
 * but LE_NONE no line is active until le_start (or the next le_feed).
 */
enum le_event le_feed(struct le *e, uint8_t byte);

/* The finished line (after LE_LINE): NUL-terminated, as typed. */
const char *le_line(const struct le *e);

/* Writes S (N bytes, whole lines ending "\r\n") above the line being
 * edited, then redraws the prompt and the line (asynchronous output). */
void le_print_above(struct le *e, const char *s, size_t n);

/* Adds LINE to the history (le_feed does so for each LE_LINE). */
void le_history_add(struct le *e, const char *line);

#endif
