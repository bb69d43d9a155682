/*
 * plat_keel.c - the Keel side of mbedTLS's platform hooks (mbedtls_config.h)
 * and the small services tlsd, keyd and the TLS test programs share:
 * a heap from the memory budget, time, a printf that reaches the kernel
 * log, capability slots and a sleep.  Interface and rules: tls_plat.h.
 */
#include <stdarg.h>

#include <keel/fmt.h>
#include <keel/heap.h>
#include <keel/init.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "mbedtls/platform.h" /* the hook prototypes (mbedtls_config.h) */

#include "tls_mem.h"
#include "tls_plat.h"
#include "tls_thread.h"

#define PAGE            4096ull
#define FRAME_MAX_PAGES 1024ull       /* the kernel's limit per frame object */
#define HEAP_MAX_BYTES  (64ull << 20) /* 16 frames */
/* The heap starts small and grows as connections need it, so a server's
 * memory in use follows its load and a small machine's budget still
 * starts it (init/budget.h). */
#define HEAP_FIRST_BYTES (512ull << 10)
#define HEAP_GROW_BYTES  (256ull << 10)
#define PRINTF_LINE      256 /* one SYS_DEBUG_LOG line */

static struct {
    struct heap heap;
    uint64_t heap_mapped; /* bytes of frames given to the heap, from TLS_PLAT_HEAP_VA */
    uint64_t heap_limit;  /* what tls_plat_init was asked for: the heap never grows beyond */
    bool said_budget_short;
    uint64_t first_slot; /* slot allocator: the first slot after the grants */
    uint64_t next_slot;  /* slot allocator: next candidate */
    char line[PRINTF_LINE];
    size_t line_len;
} P;

__attribute__((noreturn)) static void heap_broken(const char *what, void *ptr)
{
    ulog("tls: heap: %s at %p; faulting on purpose (init restarts this server)\n", what, ptr);
    __builtin_trap();
}

static uint64_t first_free_slot(const struct keel_srvinfo *si)
{
    uint64_t s = SRV_SLOT_FIRST_GRANT;
    for (uint32_t i = 0; i < si->n_caps && i < KEEL_SRV_MAX_CAPS; i++)
        if (si->caps[i].type != CAP_NONE && si->caps[i].slot >= s) /* CAP_NONE: a note, not a slot */
            s = si->caps[i].slot + 1;
    return s;
}

/* Looks from the slot after the last one given, wrapping around once: a
 * slot given back (the heap's frames are deleted from their slot once
 * mapped) is found again, so growing the heap a hundred times does not
 * use up the table. */
uint64_t tls_plat_slot_alloc(void)
{
    uint64_t span = KEEL_CAP_SLOTS - P.first_slot;
    for (uint64_t i = 0; i < span; i++) {
        uint64_t s = P.first_slot + (P.next_slot - P.first_slot + i) % span, type = 0;
        if (keel_cap_info(s, &type, NULL, NULL) == KE_EMPTY_SLOT) {
            P.next_slot = s + 1 < KEEL_CAP_SLOTS ? s + 1 : P.first_slot;
            return s;
        }
    }
    return 0;
}

/* Creates a frame of `pages` from the budget, maps it after the heap's
 * last one and gives it to the heap. */
static int map_heap_pages(uint64_t pages)
{
    uint64_t slot = tls_plat_slot_alloc();
    if (!slot)
        return TLS_PLAT_E_SLOTS;
    int64_t err = keel_obj_create(SRV_SLOT_MEMORY, OBJ_FRAME, slot, pages);
    if (err)
        return TLS_PLAT_E_NO_MEMORY;
    uint64_t va = TLS_PLAT_HEAP_VA + P.heap_mapped;
    err = keel_map(SRV_SLOT_TASK, slot, va, RIGHT_READ | RIGHT_WRITE);
    (void)keel_cap_delete(slot); /* the mapping keeps the frame alive */
    if (err) {
        ulog("tls: heap: mapping at %#llx: error %lld\n", (unsigned long long)va, (long long)err);
        return TLS_PLAT_E_MAP;
    }
    int herr = P.heap_mapped ? heap_grow(&P.heap, (void *)va, pages * PAGE)
                             : heap_init(&P.heap, (void *)va, pages * PAGE, heap_broken);
    if (herr != HEAP_OK)
        return TLS_PLAT_E_MAP;
    P.heap_mapped += pages * PAGE;
    return TLS_PLAT_OK;
}

/* tls_mem's grow hook: at least HEAP_GROW_BYTES more, within the limit
 * tls_plat_init was given; false when the limit or the budget is reached
 * (the allocation fails; tlsd refuses that connection). */
static bool grow_heap(size_t bytes)
{
    uint64_t want = bytes + PAGE; /* the new region's own bookkeeping */
    /* A quarter of what it has, at least HEAP_GROW_BYTES: a heap grown to
     * tens of MiB (thousands of connections) stays a few dozen regions,
     * each a frame of its own (heap.c checks a pointer against every
     * region). */
    uint64_t step =
        P.heap_mapped / 4 > HEAP_GROW_BYTES ? (P.heap_mapped / 4 + PAGE - 1) / PAGE * PAGE : HEAP_GROW_BYTES;
    if (want < step)
        want = step;
    uint64_t room = P.heap_limit - P.heap_mapped;
    if (want > room)
        want = room;
    uint64_t pages = want / PAGE;
    if (pages > FRAME_MAX_PAGES)
        pages = FRAME_MAX_PAGES;
    if (pages * PAGE < bytes + PAGE)
        return false;
    int err = map_heap_pages(pages);
    if (err && !P.said_budget_short) {
        P.said_budget_short = true;
        ulog("tls: heap: %s at %llu KiB of heap; allocations beyond it fail\n",
             err == TLS_PLAT_E_NO_MEMORY ? "the memory budget is spent"
             : err == TLS_PLAT_E_SLOTS   ? "no capability slot for another frame"
                                         : "a frame could not be mapped",
             (unsigned long long)(P.heap_mapped >> 10));
    }
    return err == TLS_PLAT_OK;
}

int tls_plat_init(const struct keel_srvinfo *si, size_t heap_bytes)
{
    memset(&P, 0, sizeof P);
    tls_thread_init();
    P.first_slot = P.next_slot = first_free_slot(si);
    uint64_t type = 0;
    if (keel_cap_info(SRV_SLOT_MEMORY, &type, NULL, NULL) != KE_OK || type != CAP_MEMORY) {
        ulog("tls: no memory capability: the manifest must give this server `memory`\n");
        return TLS_PLAT_E_NO_MEMORY;
    }
    if (heap_bytes > HEAP_MAX_BYTES)
        heap_bytes = HEAP_MAX_BYTES;
    P.heap_limit = (heap_bytes + PAGE - 1) / PAGE * PAGE;
    uint64_t first = P.heap_limit < HEAP_FIRST_BYTES ? P.heap_limit : HEAP_FIRST_BYTES;
    int err = map_heap_pages(first / PAGE);
    if (err == TLS_PLAT_E_NO_MEMORY)
        ulog("tls: heap: a frame of %llu pages: the memory budget is short\n", (unsigned long long)(first / PAGE));
    if (err)
        return err;
    tls_mem_init(&P.heap);
    tls_mem_set_grow(grow_heap);
    return TLS_PLAT_OK;
}

void tls_plat_heap_usage(size_t *used, size_t *total)
{
    struct heap_stats st;
    tls_mem_heap_stats(&st);
    *used = st.bytes_used;
    *total = st.bytes_total;
}

int64_t tls_plat_sleep_ns(uint64_t ns)
{
    uint64_t ntfn = tls_thread_sleep_ntfn(tls_thread_self()); /* one per thread: a notification has one waiter */
    if (!ntfn)
        return KE_INVALID_SLOT;
    int64_t err = sys6(SYS_TIMER_ARM, ntfn, keel_now_ns() + ns, 1, 0, 0, 0);
    if (err)
        return err;
    uint64_t bits = 0;
    return keel_wait(ntfn, 0, &bits);
}

/* ------------------------------------------------- mbedTLS's hooks ---- */

long long tls_plat_time(long long *t)
{
    long long s = (long long)(keel_now_ns() / 1000000000ull);
    if (t)
        *t = s;
    return s;
}

/* MBEDTLS_PLATFORM_MS_TIME_ALT: the same clock in milliseconds (TLS 1.3
 * ticket ages). */
mbedtls_ms_time_t mbedtls_ms_time(void) { return (mbedtls_ms_time_t)(keel_now_ns() / 1000000ull); }

static void printf_sink(void *ctx, const char *s, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' || P.line_len == sizeof P.line - 1) {
            if (P.line_len)
                (void)keel_debug_log(P.line, P.line_len);
            P.line_len = 0;
            if (s[i] == '\n')
                continue;
        }
        P.line[P.line_len++] = s[i];
    }
}

/* mbedtls_printf (self-tests): output is collected into lines, each sent
 * to the kernel log when its newline arrives. */
int tls_plat_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = fmt_format(printf_sink, NULL, fmt, ap);
    va_end(ap);
    return (int)n;
}
