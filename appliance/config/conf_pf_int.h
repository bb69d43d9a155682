/*
 * conf_pf_int.h - what the two halves of the firewall grammar share
 * (conf_pf.c: tokens, macros, tables, set, the walk; conf_pf_rule.c: the
 * rules and their expansion).  Internal to appliance/config.
 */
#ifndef KEEL_APPLIANCE_CONF_PF_INT_H
#define KEEL_APPLIANCE_CONF_PF_INT_H

#include "conf.h"
#include "conf_lex.h"
#include "conf_pf.h"

/* What Keel's netd implements today; a construct beyond it is refused as
 * unsupported (conf_pf.h). */
#define CONF_PF_HAVE_INET6 1 /* inet6 rules, IPv6 addresses (net/firewall/fw6.h) */

/* One statement's tokens, macros expanded. */
struct pf_toks {
    struct conf_tok t[CONF_PF_MAX_TOKENS];
    unsigned n, i;
    unsigned end_col; /* where a missing word at the end belongs */
};

struct pf_ctx {
    const struct conf *c;
    struct conf_pf_work *w;
    const struct conf_pf_sink *sink;
    struct conf_pf_error *err;
    unsigned line;
    struct pf_toks *tk;
    int stop; /* a sink's nonzero (positive) answer: the walk stops with it */
};

/* Calls a sink callback's result through: 0 goes on; else x->stop, -1. */
int pf_sink_rc(struct pf_ctx *x, int rc);

/* Errors: record "MSG[ (got "WORD")]" at COL; return -1. */
int pf_fail(struct pf_ctx *x, unsigned col, const char *msg, const struct conf_tok *got);
/* "\"WORD\" is not supported by Keel" (+ WHY when not NULL). */
int pf_unsupported(struct pf_ctx *x, const struct conf_tok *t, const char *why);

/* The token at the cursor (an END token with end_col at the end). */
const struct conf_tok *pf_peek(struct pf_ctx *x);
/* The same, and the cursor moves on (not past the end). */
const struct conf_tok *pf_next(struct pf_ctx *x);
bool pf_at_end(struct pf_ctx *x);
/* Takes the word W if it is next. */
bool pf_accept(struct pf_ctx *x, const char *w);
/* Takes the punctuation or operator P if it is next. */
bool pf_accept_punct(struct pf_ctx *x, const char *p);

/* The interface named by T (conf->ifaces index), or -1. */
int pf_iface(struct pf_ctx *x, const struct conf_tok *t);
/* The table named by T, created (empty, handed to the sink) if need be;
 * -1 (error recorded) when there is no room. */
int pf_table_ref(struct pf_ctx *x, const struct conf_tok *t);

/* conf_pf_host.c: values by name or number (-1: neither) ... */
long pf_protocol_value(const struct conf_tok *t);
long pf_icmp_value(const struct conf_tok *t, bool v6);
long pf_unreach_value(const struct conf_tok *t);
long pf_unreach6_value(const struct conf_tok *t); /* ICMPv6's: noroute-unr .. port-unr, or 0-255 */
/* ... and one address, one port, or { lists } of them at the cursor (0 or -1). */
int pf_address(struct pf_ctx *x, struct conf_pf_addr *a);
int pf_address_list(struct pf_ctx *x, struct conf_pf_addr *out, unsigned *n);
int pf_port(struct pf_ctx *x, struct conf_pf_port *pt);
int pf_port_list(struct pf_ctx *x, struct conf_pf_port *out, unsigned *n);

/* A pass, block or match rule from the cursor (the action word is next). */
int pf_rule(struct pf_ctx *x);
/* antispoof ... */
int pf_antispoof(struct pf_ctx *x);

#endif
