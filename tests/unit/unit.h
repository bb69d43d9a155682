/*
 * unit.h - the host unit-test runner: no framework, one header.
 *
 * A test file defines `static void test_NAME(void)` functions using CHECK
 * and CHECK_EQ, lists them in a UNIT_TESTS table, and calls unit_main().
 * Each test prints PASS or FAIL with the first failed check; the program
 * ends with "N passed, N failed" and exits non-zero when anything failed or
 * nothing ran.  unit_xorshift64() gives the randomized tests a repeatable
 * stream from each file's own seed.
 *
 * Leaks: built with AddressSanitizer (UNIT_CFLAGS), each test is followed
 * by a LeakSanitizer pass, and a test after which memory is unreachable
 * fails (the sanitizer's report names the allocation), so a leak is pinned
 * on the test that made it rather than reported once at exit.  Memory a
 * global still points to is not a leak.
 */
#ifndef KEEL_UNIT_H
#define KEEL_UNIT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define UNIT_LEAKED() (__lsan_do_recoverable_leak_check() != 0)
#else
#define UNIT_LEAKED() 0
#endif

static int unit_failed_checks;
static char unit_first_failure[2048];

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            if (!unit_failed_checks++)                                                                                 \
                snprintf(unit_first_failure, sizeof unit_first_failure, "%s:%d: %s", __FILE__, __LINE__, #cond);       \
        }                                                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                                                 \
    do {                                                                                                               \
        long long unit_a = (long long)(a), unit_b = (long long)(b);                                                    \
        if (unit_a != unit_b) {                                                                                        \
            if (!unit_failed_checks++)                                                                                 \
                snprintf(unit_first_failure, sizeof unit_first_failure, "%s:%d: %s == %lld, expected %lld", __FILE__,  \
                         __LINE__, #a, unit_a, unit_b);                                                                \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *unit_sa = (a), *unit_sb = (b);                                                                     \
        if (strcmp(unit_sa, unit_sb) != 0) {                                                                           \
            if (!unit_failed_checks++)                                                                                 \
                snprintf(unit_first_failure, sizeof unit_first_failure, "%s:%d: %s == \"%s\", expected \"%s\"",        \
                         __FILE__, __LINE__, #a, unit_sa, unit_sb);                                                    \
        }                                                                                                              \
    } while (0)

/*
 * Marsaglia's xorshift64 (shifts 13, 7, 17): a fixed-seed pseudo-random
 * stream for the randomized tests, the same on every run and every host.
 * *state must start non-zero; it stays non-zero.
 */
static inline uint64_t unit_xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* FN, an snprintf under test, formats the rest of the arguments into the
 * array BUF, which must then read EXPECTED.  A macro, so a failure names the
 * case's own line. */
#define CHECK_FORMATS(fn, buf, expected, ...)                                                                          \
    do {                                                                                                               \
        fn(buf, sizeof buf, __VA_ARGS__);                                                                              \
        CHECK_STR(buf, expected);                                                                                      \
    } while (0)

struct unit_test {
    const char *name;
    void (*fn)(void);
};
#define UNIT_TEST(name)                                                                                                \
    {                                                                                                                  \
#name, name                                                                                                    \
    }

static int unit_main(const char *suite, const struct unit_test *tests, int n)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        unit_failed_checks = 0;
        tests[i].fn();
        if (!unit_failed_checks && UNIT_LEAKED()) {
            unit_failed_checks++;
            snprintf(unit_first_failure, sizeof unit_first_failure,
                     "memory leaked during the test (LeakSanitizer's report is above)");
        }
        if (unit_failed_checks) {
            printf("FAIL %s.%s: %s\n", suite, tests[i].name, unit_first_failure);
            failed++;
        } else {
            printf("PASS %s.%s\n", suite, tests[i].name);
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout); /* LeakSanitizer's exit-time check ends the process without flushing */
    return (failed || passed == 0) ? 1 : 0;
}

#endif
