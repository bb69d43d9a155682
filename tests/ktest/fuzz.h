/*
 * fuzz.h - the system-call fuzzer of the in-guest tests (fuzz.c).
 *
 * One round: several hostile tasks, each with its own budget, several
 * threads and a full set of capabilities, build resources and then misuse
 * them with random system calls; the round checks that the kernel's
 * invariants hold, that every hostile task finished or was killed by the
 * round on purpose, and that every byte of their budgets came back.
 */
#ifndef KEEL_KTEST_FUZZ_H
#define KEEL_KTEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <keel/syscall.h>

struct fuzz_params {
    uint64_t seed;       /* everything random in the round derives from it */
    unsigned tasks;      /* hostile tasks (1..FUZZ_MAX_TASKS) */
    unsigned workers;    /* random-call threads per task (1..FUZZ_MAX_WORKERS) */
    unsigned calls;      /* random calls per worker */
    uint64_t budget;     /* bytes of budget per hostile task */
    uint64_t debug_slot; /* our debug capability (invariant checks) */
    uint64_t timeout_ms; /* how long the round waits for the tasks to finish */
};

#define FUZZ_MAX_TASKS   6
#define FUZZ_MAX_WORKERS 6

struct fuzz_outcome {
    unsigned finished, killed; /* tasks that reported done; tasks killed mid-run on purpose */
    uint64_t faults;           /* fault messages from hostile threads (a worker must never fault) */
    uint64_t elapsed_ms;
    uint64_t calls, blocked; /* random calls made, bounded blocking calls made */
    uint64_t dead;           /* calls that returned KE_DEAD (the object or partner went under them) */
    uint64_t ok[SYS_COUNT];  /* random calls that returned KE_OK, per system call */
};

/* Runs one round.  Returns 0, or -1 with a one-line reason in WHY. */
int fuzz_round(const struct fuzz_params *p, struct fuzz_outcome *out, char *why, size_t cap);

#endif
