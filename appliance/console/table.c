/*
 * table.c - aligned columns from '\t'-separated rows (table.h).  Two
 * passes over the text: the widths, then the rows.  No allocation; the
 * text is never changed.
 */
#include <stdbool.h>

#include "table.h"

static void put_clean(const char *s, size_t n, void (*write)(void *, const char *, size_t), void *ctx)
{
    char buf[64];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
        if (k == sizeof buf) {
            write(ctx, buf, k);
            k = 0;
        }
    }
    if (k)
        write(ctx, buf, k);
}

static void pad(size_t n, void (*write)(void *, const char *, size_t), void *ctx)
{
    static const char blanks[] = "                                ";
    while (n) {
        size_t k = n < sizeof blanks - 1 ? n : sizeof blanks - 1;
        write(ctx, blanks, k);
        n -= k;
    }
}

/* The end of the line that starts at I: its '\n', or LEN. */
static size_t line_end(const char *text, size_t len, size_t i)
{
    while (i < len && text[i] != '\n')
        i++;
    return i;
}

/* What the passes share: the widths, where to write. */
struct walk {
    const char *text;
    size_t width[TABLE_MAX_COLS];
    void (*write)(void *ctx, const char *s, size_t n);
    void *ctx;
};

/* Calls VISIT for each field of each line of TEXT (LEN bytes) in order:
 * its column, where it starts, its length, and whether it ends its line.
 * Fields are split at '\t' but for the last column, which takes the rest
 * of the line, tabs too. */
static void each_field(size_t len, struct walk *wk,
                       void (*visit)(struct walk *wk, unsigned col, size_t start, size_t n, bool last))
{
    for (size_t i = 0, e; i < len; i = e + 1) {
        e = line_end(wk->text, len, i);
        size_t start = i;
        for (unsigned col = 0;; col++) {
            size_t j = start;
            while (j < e && !(wk->text[j] == '\t' && col + 1 < TABLE_MAX_COLS))
                j++;
            visit(wk, col, start, j - start, j == e);
            if (j == e)
                break;
            start = j + 1;
        }
    }
}

static void measure(struct walk *wk, unsigned col, size_t start, size_t n, bool last)
{
    (void)start;
    (void)last;
    if (n > wk->width[col])
        wk->width[col] = n < TABLE_MAX_WIDTH ? n : TABLE_MAX_WIDTH;
}

static void print(struct walk *wk, unsigned col, size_t start, size_t n, bool last)
{
    put_clean(wk->text + start, n, wk->write, wk->ctx);
    if (!last)
        pad((n < wk->width[col] ? wk->width[col] - n : 0) + 2, wk->write, wk->ctx);
    else
        wk->write(wk->ctx, "\r\n", 2);
}

void table_print(const char *text, size_t len, void (*write)(void *ctx, const char *s, size_t n), void *ctx)
{
    struct walk wk = { .text = text, .write = write, .ctx = ctx };
    each_field(len, &wk, measure);
    each_field(len, &wk, print);
}
