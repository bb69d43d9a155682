/*
 * conf_lex.h - the one tokenizer of appliance.conf.
 *
 * It splits one line (no newline) into tokens.  Two modes share it:
 *
 *  - plain (interface, route, tls, console, ...): a word is a run of bytes
 *    other than blanks, '#', '{' and '}'; '{' and '}' are tokens of their
 *    own wherever they appear.
 *  - pf (the firewall's statements: macros, tables, set, pass, block,
 *    match, antispoof), pf.conf(5)'s lexical rules besides: the operators
 *    ! = < > in runs ("!=", "<>", "><", "<=") are OP tokens, so "port=80"
 *    is three tokens; '(' ')' ',' '{' '}' are PUNCT; "text" is a STRING (the
 *    quotes are not part of it; blanks and '#' inside are kept); $name is a
 *    MACRO (the name without '$'); <name> is a TABLE (the name without the
 *    brackets) when '<' is followed by a name and '>'.
 *
 * '#' outside a string starts a comment that ends the line.  A token has
 * the byte column (from 1) of its first byte; at the end of the line
 * conf_lex_next returns false and the token's column says where a missing
 * word belongs.  A string with no closing quote is a BAD token.
 *
 * Pure C, no allocation; the caller owns the line.
 */
#ifndef KEEL_APPLIANCE_CONF_LEX_H
#define KEEL_APPLIANCE_CONF_LEX_H

#include <stdbool.h>
#include <stddef.h>

enum conf_tok_kind {
    CONF_T_END = 0, /* no token: end of line or comment */
    CONF_T_WORD,
    CONF_T_PUNCT,  /* one of { } ( ) , */
    CONF_T_OP,     /* pf mode: a run of ! = < > */
    CONF_T_STRING, /* pf mode: "..." (s, n without the quotes) */
    CONF_T_MACRO,  /* pf mode: $name (s, n: the name) */
    CONF_T_TABLE,  /* pf mode: <name> (s, n: the name) */
    CONF_T_BAD,    /* pf mode: a string without its closing quote */
};

struct conf_tok {
    const char *s;
    size_t n;
    unsigned col; /* 1-based byte column of the token (of its '"', '$' or '<') */
    unsigned char kind;
};

struct conf_lex {
    const char *s; /* the line */
    size_t len, pos;
    bool pf; /* pf mode */
};

/* Starts reading LINE (LEN bytes) in mode PF. */
void conf_lex_init(struct conf_lex *l, const char *line, size_t len, bool pf);

/* The next token into *T; false (T->kind CONF_T_END) at the end. */
bool conf_lex_next(struct conf_lex *l, struct conf_tok *t);

/* True iff T is the word W. */
bool conf_tok_is(const struct conf_tok *t, const char *w);

/* True iff T is PUNCT or OP made of exactly the characters of W. */
bool conf_tok_punct(const struct conf_tok *t, const char *w);

#endif
