/*
 * budget.h - how much memory init gives each server this boot.
 *
 * A budget is a reservation: init carves it out of its own pool when the
 * server starts, and it comes back only when the server stops.  Keel never
 * overcommits, so a running server can always use its whole budget, and a
 * restart always finds its budget again.
 *
 * Most servers ask for one size (`memory 2M`).  A server whose work grows
 * with memory (tlsd: connections) may ask for a range (`memory 4M-8M`): it
 * gets its maximum on a machine that has room for every server's maximum,
 * and otherwise at least its minimum plus a share of what is left, so that
 * one image serves TLS on a 32 MiB machine and holds more connections on a
 * larger one.  The plan is made once, before the first server starts, over
 * the servers that run this boot, so that a server started late (opsd) is
 * not starved by one started early.
 *
 * Invariants of budget_plan()'s result, for every entry e:
 *   e.min <= e.grant <= e.max, and e.grant - e.min is a multiple of
 *   BUDGET_STEP unless it is e.max (a fixed entry gets exactly its size);
 *   the grants add up to at most `pool` whenever the minimums do;
 *   with room for every maximum, every entry gets its maximum.
 */
#ifndef KEEL_INIT_BUDGET_H
#define KEEL_INIT_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUDGET_STEP (64ull << 10) /* a ranged grant's share above its minimum is rounded down to this */

struct budget_entry {
    uint64_t min, max; /* bytes, the whole budget (memory line plus image, stack, tables); min == max: fixed */
    uint64_t grant;    /* out: the bytes to reserve */
};

/*
 * Fills in every entry's grant from `pool` bytes.  Returns true when the
 * minimums fit (every server can start), false when they do not: then every
 * entry gets its minimum and the servers started last will fail to start,
 * each with its own line.
 */
bool budget_plan(struct budget_entry *e, size_t n, uint64_t pool);

#endif
