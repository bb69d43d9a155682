/*
 * table.h - prints a table of '\t'-separated fields, one row per line, as
 * aligned columns (two blanks between them, lines ending "\r\n").  Pure
 * code; consoled prints the tables netd answers `show` with this way.
 * At most TABLE_MAX_COLS columns (more are joined into the last) and
 * TABLE_MAX_WIDTH characters a column is padded to; bytes outside
 * printable ASCII print as '?', so a table cannot drive the terminal.
 */
#ifndef KEEL_CONSOLE_TABLE_H
#define KEEL_CONSOLE_TABLE_H

#include <stddef.h>

#define TABLE_MAX_COLS  12
#define TABLE_MAX_WIDTH 80

void table_print(const char *text, size_t len, void (*write)(void *ctx, const char *s, size_t n), void *ctx);

#endif
