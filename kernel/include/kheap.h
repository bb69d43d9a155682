/*
 * kheap.h - memory for kernel objects: power-of-two size classes up to a
 * page, carved from frames.  Zeroed on allocation.  Callers charge a task's
 * memory budget (memory.c) before allocating, so user space can never make
 * the kernel run out on its behalf beyond what it was given.
 */
#ifndef KEEL_KHEAP_H
#define KEEL_KHEAP_H

#include <stddef.h>
#include <stdint.h>

#define KHEAP_MAX 4096

/* A zeroed block of at least SIZE bytes (<= KHEAP_MAX), or NULL. */
void *kheap_alloc(size_t size);
void kheap_free(void *p, size_t size);
/* The bytes a request of SIZE really uses (what budgets are charged). */
size_t kheap_block_size(size_t size);
uint64_t kheap_bytes_in_use(void);

#endif
