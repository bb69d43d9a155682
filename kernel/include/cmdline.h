/*
 * cmdline.h - the kernel command line: words and key=value switches.
 *
 * The first word is the loader's image name (both QEMU and iPXE put it
 * there); the rest are switches such as `debug-exit` or `fault=ud`.
 */
#ifndef KEEL_CMDLINE_H
#define KEEL_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

void cmdline_set(const char *line);
const char *cmdline_get(void);
/* True when WORD appears as a whole word, or as the key of WORD=value. */
bool cmdline_has(const char *word);
/* Copies the value of KEY=value into buf (NUL-terminated, cut to cap-1);
 * returns false when KEY= is absent. */
bool cmdline_value(const char *key, char *buf, size_t cap);

/* The pure helpers behind the above, on any line (host-tested). */
bool cmdline_line_has(const char *line, const char *word);
bool cmdline_line_value(const char *line, const char *key, char *buf, size_t cap);

#endif
