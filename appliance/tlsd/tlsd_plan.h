/*
 * tlsd_plan.h - what a configuration commit does to tlsd's listeners: the
 * pure comparison of the running `tls` blocks with a candidate's (no
 * system calls, host-tested by tests/unit/test_tlsd_plan.c).
 *
 * For each candidate block, by port:
 *   TLSD_PLAN_KEEP     a running listener that serves has an equal block
 *                      (every setting equal; the line may differ): it keeps
 *                      running with its connections;
 *   TLSD_PLAN_REPLACE  a running listener has the port but other settings
 *                      (or it is stopped, e.g. a bad certificate at start):
 *                      a new listener takes over its listening socket (when
 *                      it has one);
 *   TLSD_PLAN_NEW      no running listener has the port: a new socket.
 * A running listener whose port no candidate block has is removed.
 */
#ifndef KEEL_TLSD_PLAN_H
#define KEEL_TLSD_PLAN_H

#include <stdbool.h>

#include "conf.h"

enum tlsd_plan_action {
    TLSD_PLAN_NEW = 0,
    TLSD_PLAN_KEEP = 1,
    TLSD_PLAN_REPLACE = 2,
};

struct tlsd_plan {
    unsigned n_next;                 /* candidate blocks, in their order */
    uint8_t action[CONF_MAX_TLS];    /* per candidate block: enum tlsd_plan_action */
    int8_t from[CONF_MAX_TLS];       /* per candidate block: the running index (KEEP, REPLACE), or -1 */
    bool removed[CONF_MAX_TLS];      /* per running listener: its port is gone */
    unsigned kept, started, stopped; /* counts of KEEP, NEW + REPLACE, removed */
};

/* Whether A and B configure the same listener (every field but the lines). */
bool tlsd_plan_same(const struct conf_tls *a, const struct conf_tls *b);

/* Fills P for running blocks RUN[0..n_run-1] (RUN_OK[i]: listener i serves)
 * and candidate blocks NEXT[0..n_next-1].  Ports are unique within each
 * side (the parser checks); n_run, n_next <= CONF_MAX_TLS.  Returns 0, or
 * -1 when a count is out of range (P untouched). */
int tlsd_plan_make(const struct conf_tls *run, const bool *run_ok, unsigned n_run, const struct conf_tls *next,
                   unsigned n_next, struct tlsd_plan *p) __attribute__((warn_unused_result));

#endif
