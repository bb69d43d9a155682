/* test_budget.c - init's memory plan (init/budget.c). */
#include "budget.h"
#include "unit.h"

#define M (1ull << 20)

/* Room for every maximum: everyone gets it. */
static void test_room_for_all(void)
{
    struct budget_entry e[] = { { 2 * M, 2 * M, 0 }, { 4 * M, 8 * M, 0 } };
    CHECK(budget_plan(e, 2, 10 * M));
    CHECK_EQ(e[0].grant, 2 * M);
    CHECK_EQ(e[1].grant, 8 * M);
}

/* A small machine: fixed entries whole, the range gets what is left,
 * rounded down to BUDGET_STEP, never below its minimum. */
static void test_range_shrinks(void)
{
    struct budget_entry e[] = { { 2 * M, 2 * M, 0 }, { 4 * M, 8 * M, 0 } };
    CHECK(budget_plan(e, 2, 7 * M + 100));
    CHECK_EQ(e[0].grant, 2 * M);
    CHECK_EQ(e[1].grant, 5 * M);
    CHECK(budget_plan(e, 2, 6 * M));
    CHECK_EQ(e[1].grant, 4 * M);
}

/* Two ranges share the surplus in proportion to what they asked beyond
 * their minimums; the total never passes the pool. */
static void test_two_ranges_share(void)
{
    struct budget_entry e[] = { { 1 * M, 3 * M, 0 }, { 1 * M, 5 * M, 0 }, { 1 * M, 1 * M, 0 } };
    CHECK(budget_plan(e, 3, 6 * M));
    CHECK_EQ(e[0].grant, 2 * M);
    CHECK_EQ(e[1].grant, 3 * M);
    CHECK_EQ(e[2].grant, 1 * M);
    CHECK(e[0].grant + e[1].grant + e[2].grant <= 6 * M);
    for (uint64_t pool = 3 * M; pool < 10 * M; pool += 4096 * 7) {
        CHECK(budget_plan(e, 3, pool));
        CHECK(e[0].grant + e[1].grant + e[2].grant <= pool);
        CHECK(e[0].grant >= e[0].min && e[0].grant <= e[0].max);
        CHECK(e[1].grant >= e[1].min && e[1].grant <= e[1].max);
    }
}

/* The minimums do not fit: false, and everyone is left at the minimum. */
static void test_minimums_do_not_fit(void)
{
    struct budget_entry e[] = { { 2 * M, 2 * M, 0 }, { 4 * M, 8 * M, 0 } };
    CHECK(!budget_plan(e, 2, 5 * M));
    CHECK_EQ(e[0].grant, 2 * M);
    CHECK_EQ(e[1].grant, 4 * M);
    CHECK(budget_plan(e, 0, 0));
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_room_for_all),
        UNIT_TEST(test_range_shrinks),
        UNIT_TEST(test_two_ranges_share),
        UNIT_TEST(test_minimums_do_not_fit),
    };
    return unit_main("budget", tests, sizeof tests / sizeof tests[0]);
}
