/*
 * task.h - tasks: an address space, a capability table, threads.
 */
#ifndef KEEL_TASK_H
#define KEEL_TASK_H

#include "object.h"

struct task *task_create(const char *name);
/* Loads the task's address space (CR3, with its PCID when the CPU has
 * PCID) and its I/O permission bitmap into the TSS. */
void task_activate(struct task *t);

/* Address-space switches (CR3 loads) since boot (SYS_KSTATS). */
extern uint64_t kstat_as_switches;
/* Maps frame F at VA in T with RIGHTS; records the region (a reference on
 * F).  Returns KE_OK or an error; on error nothing is mapped. */
int task_map(struct task *t, struct frame *f, uint64_t va, uint8_t rights);
/* Unmaps the region that starts at VA. */
int task_unmap(struct task *t, uint64_t va);
/* Stops every thread of T, drops its capabilities and mappings; the task
 * object itself lives on while references to it remain. */
void task_kill(struct task *t);
void task_destroy(struct task *t);
/* Kills every live task charged to budget M or to a budget made from it
 * (M's last capability went; see cap.c). */
void task_kill_charged_to(struct memory *m);
/* The first task not yet freed; the rest follow through all_next. */
struct task *task_list(void);
/* Opens ports [first, first+count) for T. */
int task_grant_ports(struct task *t, uint16_t first, uint32_t count);
/* Copies LEN bytes from user VA in the current task; KE_BAD_ADDRESS when any
 * byte is not mapped user-readable. */
int copy_from_user(void *dst, uint64_t va, uint64_t len);
/* Copies LEN bytes to user VA in the current task; KE_BAD_ADDRESS when any
 * byte is not mapped user-writable. */
int copy_to_user(uint64_t va, const void *src, uint64_t len);
void pcid_init(void);
/* Turns PCIDs off (before a second core starts; see task.c). */
void pcid_disable(void);

#endif
