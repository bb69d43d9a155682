/*
 * budget.c - init's memory plan for the servers of one boot.  The design
 * and the invariants are in budget.h.
 *
 * The share of a ranged entry is proportional to how much more than its
 * minimum it asked for, so two ranged servers shrink together rather than
 * the first one listed taking everything.
 */
#include "budget.h"

bool budget_plan(struct budget_entry *e, size_t n, uint64_t pool)
{
    uint64_t sum_min = 0, sum_max = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].max < e[i].min)
            e[i].max = e[i].min;
        sum_min += e[i].min;
        sum_max += e[i].max;
    }
    if (sum_max <= pool) {
        for (size_t i = 0; i < n; i++)
            e[i].grant = e[i].max;
        return true;
    }
    for (size_t i = 0; i < n; i++)
        e[i].grant = e[i].min;
    if (sum_min > pool)
        return false;
    /* In KiB, so that the product fits 64 bits for any machine below 1 TiB
     * (and no 128-bit division needs libgcc). */
    uint64_t surplus_k = (pool - sum_min) >> 10, flex_k = (sum_max - sum_min) >> 10;
    for (size_t i = 0; i < n && flex_k; i++) {
        uint64_t want_k = (e[i].max - e[i].min) >> 10;
        /* surplus < flex here, so the share is below what was asked for. */
        uint64_t share = surplus_k * want_k / flex_k << 10;
        e[i].grant += share / BUDGET_STEP * BUDGET_STEP;
    }
    return true;
}
