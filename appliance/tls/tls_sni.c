/*
 * tls_sni.c - SNI name matching and certificate selection (rules in
 * tls_sni.h).
 */
#include "tls_sni.h"

static bool dns_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

/* Checks NAME[0, len) as a plain DNS name: returns TLS_SNI_OK or an error,
 * and the number of labels. */
static int check_name(const uint8_t *name, size_t len, unsigned *labels)
{
    *labels = 0;
    if (len == 0)
        return TLS_SNI_E_EMPTY;
    if (len > TLS_SNI_NAME_MAX)
        return TLS_SNI_E_LONG;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (label == 0)
                return TLS_SNI_E_EMPTY;
            (*labels)++;
            label = 0;
            continue;
        }
        if (name[i] == '*')
            return TLS_SNI_E_WILDCARD;
        if (!dns_char(name[i]))
            return TLS_SNI_E_CHAR;
        if (++label > TLS_SNI_LABEL_MAX)
            return TLS_SNI_E_LONG;
    }
    if (label == 0)
        return TLS_SNI_E_EMPTY;
    (*labels)++;
    return TLS_SNI_OK;
}

static size_t cstrlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int tls_sni_pattern_check(const char *pattern)
{
    if (!pattern)
        return TLS_SNI_E_EMPTY;
    const uint8_t *p = (const uint8_t *)pattern;
    size_t len = cstrlen(pattern);
    unsigned labels;
    if (len >= 2 && p[0] == '*' && p[1] == '.') {
        int err = check_name(p + 2, len - 2, &labels);
        if (err == TLS_SNI_OK && labels < 2)
            return TLS_SNI_E_TOO_WIDE;
        return err;
    }
    return check_name(p, len, &labels);
}

const char *tls_sni_strerror(int err)
{
    switch (err) {
    case TLS_SNI_OK: return "ok";
    case TLS_SNI_E_EMPTY: return "empty name or empty label";
    case TLS_SNI_E_LONG: return "name longer than 253 bytes or a label longer than 63";
    case TLS_SNI_E_CHAR: return "a character other than letters, digits, '-' and '.'";
    case TLS_SNI_E_WILDCARD: return "'*' only as a whole first label (\"*.example.com\")";
    case TLS_SNI_E_TOO_WIDE: return "a wildcard needs at least two labels after \"*.\"";
    }
    return "unknown error";
}

static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

bool tls_sni_match(const char *pattern, const uint8_t *name, size_t len)
{
    unsigned labels;
    if (len > 0 && name[len - 1] == '.')
        len--; /* the root label: "a.example.com." is "a.example.com" */
    if (check_name(name, len, &labels) != TLS_SNI_OK)
        return false;
    const uint8_t *p = (const uint8_t *)pattern;
    size_t plen = cstrlen(pattern);
    if (plen >= 2 && p[0] == '*' && p[1] == '.') {
        /* "*.rest" matches "label.rest" with one label (no dot) in front. */
        size_t rest = plen - 1; /* ".rest" */
        if (len <= rest)
            return false;
        size_t front = len - rest;
        for (size_t i = 0; i < front; i++)
            if (name[i] == '.')
                return false;
        return same(name + front, p + 1, rest);
    }
    return plen == len && same(name, p, len);
}

enum tls_sni_kind tls_sni_select(const struct tls_sni_entry *entries, size_t n, const uint8_t *name, size_t len,
                                 uint32_t *mask)
{
    uint32_t exact = 0, wild = 0;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].cert >= 32 || !tls_sni_match(entries[i].pattern, name, len))
            continue;
        if (entries[i].pattern[0] == '*')
            wild |= 1u << entries[i].cert;
        else
            exact |= 1u << entries[i].cert;
    }
    *mask = exact ? exact : wild;
    return exact ? TLS_SNI_EXACT : wild ? TLS_SNI_WILDCARD : TLS_SNI_NONE;
}
