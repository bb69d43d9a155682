/*
 * memory.h - memory budgets and object creation (SYS_OBJ_CREATE).
 */
#ifndef KEEL_MEMORY_H
#define KEEL_MEMORY_H

#include "object.h"

struct memory *memory_create_root(uint64_t bytes);
/* Takes BYTES from M; false when the budget would go negative. */
bool memory_charge(struct memory *m, uint64_t bytes);
void memory_refund(struct memory *m, uint64_t bytes);
/* Records on O that BYTES were charged to M (refunded when O dies). */
void memory_account(struct kobj *o, struct memory *m, uint64_t bytes);
/* Creates an object of TYPE; the caller installs the capability.
 * Returns KE_OK with *out, or KE_NO_MEMORY / KE_INVALID_ARG. */
int memory_create_object(struct memory *m, uint64_t type, uint64_t arg, struct task *for_thread, struct kobj **out);
struct frame *frame_wrap(uint64_t phys, uint64_t pages, bool device, bool owned);
/* Frees F's page list, if it has one (not its pages: the caller does). */
void frame_free_list(struct frame *f);

#endif
