/*
 * conf_lex.c - appliance.conf's tokenizer (modes and tokens in conf_lex.h).
 *
 * One byte of lookahead decides a token's kind; a token never spans lines
 * (the caller hands one line at a time).
 */
#include "conf_lex.h"

#include <keel/string.h>

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f'; }
static bool is_op(char ch) { return ch == '!' || ch == '=' || ch == '<' || ch == '>'; }
static bool is_punct(char ch, bool pf)
{
    return ch == '{' || ch == '}' || (pf && (ch == '(' || ch == ')' || ch == ','));
}
static bool is_name(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

static bool ends_word(const struct conf_lex *l, char ch)
{
    return is_blank(ch) || ch == '#' || is_punct(ch, l->pf) || (l->pf && (is_op(ch) || ch == '"'));
}

void conf_lex_init(struct conf_lex *l, const char *line, size_t len, bool pf)
{
    l->s = line;
    l->len = len;
    l->pos = 0;
    l->pf = pf;
}

/* A <name> table reference at S[i]: the index past '>', or 0. */
static size_t table_end(const struct conf_lex *l, size_t i)
{
    size_t k = i + 1;
    while (k < l->len && is_name(l->s[k]))
        k++;
    return k > i + 1 && k < l->len && l->s[k] == '>' ? k + 1 : 0;
}

static void lex_pf_special(struct conf_lex *l, struct conf_tok *t)
{
    size_t start = l->pos;
    char ch = l->s[start];
    size_t end;
    if (ch == '"') {
        end = start + 1;
        while (end < l->len && l->s[end] != '"')
            end++;
        t->s = l->s + start + 1;
        if (end >= l->len) {
            t->kind = CONF_T_BAD;
            t->n = l->len - start - 1;
            l->pos = l->len;
            return;
        }
        t->kind = CONF_T_STRING;
        t->n = end - start - 1;
        l->pos = end + 1;
    } else if (ch == '$') {
        end = start + 1;
        while (end < l->len && is_name(l->s[end]))
            end++;
        t->kind = CONF_T_MACRO;
        t->s = l->s + start + 1;
        t->n = end - start - 1;
        l->pos = end;
    } else if (ch == '<' && (end = table_end(l, start)) != 0) {
        t->kind = CONF_T_TABLE;
        t->s = l->s + start + 1;
        t->n = end - start - 2;
        l->pos = end;
    } else { /* an operator run */
        end = start;
        while (end < l->len && is_op(l->s[end]))
            end++;
        t->kind = CONF_T_OP;
        t->n = end - start;
        l->pos = end;
    }
}

bool conf_lex_next(struct conf_lex *l, struct conf_tok *t)
{
    while (l->pos < l->len && is_blank(l->s[l->pos]))
        l->pos++;
    size_t start = l->pos;
    t->s = l->s + start;
    t->n = 0;
    t->col = (unsigned)start + 1;
    t->kind = CONF_T_END;
    if (start >= l->len || l->s[start] == '#')
        return false;
    char ch = l->s[start];
    if (is_punct(ch, l->pf)) {
        t->kind = CONF_T_PUNCT;
        t->n = 1;
        l->pos++;
        return true;
    }
    if (l->pf && (ch == '"' || ch == '$' || is_op(ch))) {
        lex_pf_special(l, t);
        return true;
    }
    while (l->pos < l->len && !ends_word(l, l->s[l->pos]))
        l->pos++;
    t->kind = CONF_T_WORD;
    t->n = l->pos - start;
    return true;
}

bool conf_tok_is(const struct conf_tok *t, const char *w)
{
    size_t n = strlen(w);
    return t->kind == CONF_T_WORD && t->n == n && memcmp(t->s, w, n) == 0;
}

bool conf_tok_punct(const struct conf_tok *t, const char *w)
{
    size_t n = strlen(w);
    return (t->kind == CONF_T_PUNCT || t->kind == CONF_T_OP) && t->n == n && memcmp(t->s, w, n) == 0;
}
