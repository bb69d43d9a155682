/*
 * kheap.h - memory for kernel objects: power-of-two size classes up to
 * 1 KiB carved from pages (returned to the pmm when empty), whole pages
 * above that.  Zeroed on allocation.  Callers charge a task's
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
/* Pages the heap holds now (carved pages with a live block, and whole-page
 * blocks); empty pages go back to the pmm at once. */
uint64_t kheap_pages_held(void);
/* Walks every partial page; logs and counts inconsistencies. */
int kheap_check(void);

#endif
