/*
 * cmdline.c - looking up switches on the kernel command line.
 *
 * The line is copied once at boot (the loader's copy is in memory the frame
 * allocator will reuse) and never changes after, so lookups need no lock.
 */
#include "cmdline.h"

#include "multiboot.h"

static char kernel_cmdline[BOOT_CMDLINE_MAX];

void cmdline_set(const char *line)
{
    size_t i = 0;
    for (; line[i] && i + 1 < sizeof kernel_cmdline; i++)
        kernel_cmdline[i] = line[i];
    kernel_cmdline[i] = '\0';
}

const char *cmdline_get(void) { return kernel_cmdline; }

/* Finds KEY as a whole word (ending at ' ', '=' or NUL); returns a pointer to
 * the character after the key, or NULL. */
static const char *find_word(const char *line, const char *key)
{
    const char *p = line;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *k = key;
        const char *q = p;
        while (*k && *q == *k) {
            q++;
            k++;
        }
        if (!*k && (*q == ' ' || *q == '=' || *q == '\0') && q != p)
            return q;
        while (*p && *p != ' ')
            p++;
    }
    return NULL;
}

bool cmdline_line_has(const char *line, const char *word) { return find_word(line, word) != NULL; }

bool cmdline_line_value(const char *line, const char *key, char *buf, size_t cap)
{
    const char *p = find_word(line, key);
    while (p && *p != '=') {
        /* KEY present as a bare word: look for a later KEY=value. */
        p = find_word(p, key);
    }
    if (!p || cap == 0)
        return false;
    p++;
    size_t i = 0;
    for (; p[i] && p[i] != ' ' && i + 1 < cap; i++)
        buf[i] = p[i];
    buf[i] = '\0';
    return true;
}

bool cmdline_has(const char *word) { return cmdline_line_has(kernel_cmdline, word); }

bool cmdline_value(const char *key, char *buf, size_t cap) { return cmdline_line_value(kernel_cmdline, key, buf, cap); }
