/*
 * table.c - aligned columns from '\t'-separated rows (table.h).  Two
 * passes over the text: the widths, then the rows.  No allocation; the
 * text is never changed.
 */
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

void table_print(const char *text, size_t len, void (*write)(void *ctx, const char *s, size_t n), void *ctx)
{
    size_t width[TABLE_MAX_COLS] = { 0 };
    for (size_t i = 0; i < len;) {
        size_t e = line_end(text, len, i), start = i;
        unsigned col = 0;
        for (size_t j = i; j <= e; j++)
            if (j == e || (text[j] == '\t' && col + 1 < TABLE_MAX_COLS)) {
                size_t w = j - start;
                if (w > width[col])
                    width[col] = w < TABLE_MAX_WIDTH ? w : TABLE_MAX_WIDTH;
                col++;
                start = j + 1;
            }
        i = e + 1;
    }
    for (size_t i = 0; i < len;) {
        size_t e = line_end(text, len, i), start = i;
        unsigned col = 0;
        for (size_t j = i; j <= e; j++)
            if (j == e || (text[j] == '\t' && col + 1 < TABLE_MAX_COLS)) {
                size_t w = j - start;
                put_clean(text + start, w, write, ctx);
                if (j != e)
                    pad((w < width[col] ? width[col] - w : 0) + 2, write, ctx);
                col++;
                start = j + 1;
            }
        write(ctx, "\r\n", 2);
        i = e + 1;
    }
}
