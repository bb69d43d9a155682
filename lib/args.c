/*
 * args.c - a server's arguments, KEY=VALUE items (see keel/args.h).
 *
 * One scan from the start: at each item, compare the key; otherwise skip
 * to the next separator.  Never reads past the NUL.
 */
#include <keel/args.h>

static int is_sep(char ch) { return ch == ',' || ch == ' '; }

/* The value of KEY's first item in ARGS (up to a separator or the end), or
 * NULL. */
static const char *find_value(const char *args, const char *key)
{
    const char *p = args;
    while (*p) {
        size_t k = 0;
        while (key[k] && p[k] == key[k])
            k++;
        if (!key[k] && p[k] == '=')
            return p + k + 1;
        while (*p && !is_sep(*p))
            p++;
        while (is_sep(*p))
            p++;
    }
    return NULL;
}

const char *srv_arg(const char *args, const char *key, char *out, size_t n)
{
    const char *v = find_value(args, key);
    if (!v)
        return NULL;
    size_t i = 0;
    while (v[i] && !is_sep(v[i]) && i + 1 < n) {
        out[i] = v[i];
        i++;
    }
    out[i] = '\0';
    return out;
}

uint64_t srv_arg_u64(const char *args, const char *key, uint64_t dflt)
{
    const char *v = find_value(args, key);
    if (!v || !*v || is_sep(*v))
        return dflt;
    uint64_t x = 0;
    for (; *v >= '0' && *v <= '9'; v++) {
        uint64_t d = (uint64_t)(*v - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    return x;
}
