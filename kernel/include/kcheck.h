/*
 * kcheck.h - the kernel's invariant checks (kcheck.c), for DEBUG_CTL_CHECK.
 */
#ifndef KEEL_KCHECK_H
#define KEEL_KCHECK_H

#include <stdbool.h>
#include <stdint.h>

/* Checks every invariant kcheck.c lists; logs each violation; returns how
 * many, with the live tasks and threads counted in *n_tasks, *n_threads.
 * VERBOSE also logs every thread's state (a test that timed out). */
int kcheck_run(uint64_t *n_tasks, uint64_t *n_threads, bool verbose);

#endif
