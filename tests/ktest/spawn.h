/*
 * spawn.h - test helpers: run a function of this program in a new task.
 *
 * The child is a new address space holding a copy of this program's image
 * (text RX, rodata R, data+bss RW as they are at the moment of the spawn)
 * and its own stack; it starts in FN(ARG) and exits when FN returns.  This
 * gives the tests real separate tasks without a loader.
 */
#ifndef KEEL_KTEST_SPAWN_H
#define KEEL_KTEST_SPAWN_H

#include <stdint.h>

#include <keel/sys.h>

struct child {
    uint64_t task;   /* slot of the child's task in our table */
    uint64_t thread; /* slot of its first thread */
};

struct child_cap {
    uint64_t src;  /* our slot */
    uint64_t dest; /* slot in the child */
    uint64_t rights;
    uint64_t badge;
};

/* Slots: a simple allocator over our capability table (from 64 up). */
uint64_t slot_get(void);
void slot_put(uint64_t slot); /* deletes the capability, if any */

/* Starts FN(ARG) at PRIO (| KEEL_THREAD_CPU(n) to place it) in a new task with the capabilities CAPS; its faults
 * go to FAULT_EP (our slot; 0 = the shared graveyard endpoint) with BADGE. */
int64_t spawn(struct child *c, void (*fn)(uint64_t), uint64_t arg, uint64_t prio, const struct child_cap *caps,
              int ncaps, uint64_t fault_ep, uint64_t badge);
/* The same with the thread's CPU limit (KEEL_CPU_LIMIT_* or ms; spawn inherits ours). */
int64_t spawn_limit(struct child *c, void (*fn)(uint64_t), uint64_t arg, uint64_t prio, const struct child_cap *caps,
                    int ncaps, uint64_t fault_ep, uint64_t badge, uint64_t cpu_limit);
/* spawn in two steps, for a parent that gives the child more (a mapping,
 * its own task capability) before it runs: priorities alone do not promise
 * that, since a parent that computes for long is demoted below its child
 * (kernel/sched.c).  spawn_unstarted makes everything but starts nothing
 * (on error the child is gone); spawn_start starts it (on error it kills it). */
int64_t spawn_unstarted(struct child *c, void (*fn)(uint64_t), const struct child_cap *caps, int ncaps,
                        uint64_t fault_ep, uint64_t badge);
int64_t spawn_start(struct child *c, uint64_t arg, uint64_t prio, uint64_t cpu_limit);
/* A second thread in an existing child. */
int64_t spawn_thread(struct child *c, uint64_t *thread_slot, void (*fn)(uint64_t), uint64_t arg, uint64_t prio,
                     uint64_t stack_top);
void child_kill(struct child *c);

/* The budget children are made from, and a default fault endpoint. */
void spawn_init(uint64_t memory_slot);
uint64_t spawn_memory(void);
/* Makes later spawns charge budget MEM (our slot); returns the one before. */
uint64_t spawn_use_memory(uint64_t mem);

#define CHILD_STACK_TOP   0x00007ffe00000000ull
#define CHILD_STACK_PAGES 4

#endif
