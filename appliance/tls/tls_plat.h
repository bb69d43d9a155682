/*
 * tls_plat.h - what mbedTLS, tlsd and keyd need of the Keel platform
 * (plat_keel.c, guest only): the heap mbedTLS allocates from, time, a
 * printf for the self-tests, capability slots and a sleep.
 *
 * tls_plat_init() is the first thing a program using mbedTLS does: it
 * creates a frame from the program's memory budget (SRV_SLOT_MEMORY, so the
 * manifest must give `memory`), maps it at TLS_PLAT_HEAP_VA, hands it to a
 * struct heap and that heap to tls_mem (tls_mem.h).  The heap grows by
 * further frames, mapped after the first, when an allocation does not fit,
 * up to the size tls_plat_init was given; memory in use follows the load.  A heap
 * corruption report faults the task (init restarts it): a broken heap
 * means a memory-safety bug, and nothing it holds can be trusted.
 *
 * State: file-scope (one platform per program), rebuilt at every start.
 * Single-threaded.
 */
#ifndef KEEL_TLS_PLAT_H
#define KEEL_TLS_PLAT_H

#include <stddef.h>
#include <stdint.h>

struct keel_srvinfo;

#define TLS_PLAT_HEAP_VA 0x0000004000000000ull /* the heap's frames, one after another */

enum tls_plat_error {
    TLS_PLAT_OK = 0,
    TLS_PLAT_E_NO_MEMORY = -1, /* no memory capability, or the budget is short */
    TLS_PLAT_E_MAP = -2,       /* a frame could not be mapped */
    TLS_PLAT_E_SLOTS = -3,     /* no free capability slot */
};

/* Sets up the heap (growing to heap_bytes, rounded up to pages; at most 64 MiB) and
 * the slot allocator (slots after the ones init granted, per SI).  Returns
 * TLS_PLAT_OK or an error above; log lines say which step failed. */
int tls_plat_init(const struct keel_srvinfo *si, size_t heap_bytes) __attribute__((warn_unused_result));

/* A free capability slot of this task (never reused), or 0 when none. */
uint64_t tls_plat_slot_alloc(void);

/* Sleeps about ns nanoseconds (a notification and a timer; 1 ms
 * resolution).  Returns 0, or a KE_* error when no timer can be made
 * (then it has not slept). */
int64_t tls_plat_sleep_ns(uint64_t ns);

/* Bytes of the heap in use / in all (for stats lines). */
void tls_plat_heap_usage(size_t *used, size_t *total);

#endif
