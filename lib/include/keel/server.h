/*
 * keel/server.h - the one shape every server has: receive, check, dispatch
 * through a table, reply, repeat.
 *
 * A server describes its protocol as a table of handlers keyed by label,
 * each with the number of message words it needs; the loop refuses other
 * labels and short messages itself (reply label SRV_E_UNKNOWN / SRV_E_SHORT)
 * so handlers only ever see well-formed requests; an optional `admit` step
 * then checks the caller once for every handler.  Notification bits (a
 * bound notification: interrupts, "frames waiting", timers) go to
 * on_notify.  Replies use SYS_REPLY_RECV, which never blocks: a client that
 * stops listening cannot stall the server.
 */
#ifndef KEEL_LIB_SERVER_H
#define KEEL_LIB_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <keel/errors.h>
#include <keel/sys.h>

/* Reply labels the loop itself uses (as uint32 of a negative number; the
 * codes and their range are in keel/errors.h). */
#define SRV_E_UNKNOWN ((uint32_t)KEEL_SRV_E_UNKNOWN) /* no handler for the label */
#define SRV_E_SHORT   ((uint32_t)KEEL_SRV_E_SHORT)   /* fewer words than the handler needs */
/* A handler returns this to answer later (or never) instead of now. */
#define SRV_NO_REPLY INT64_MIN

/* Handles one request.  M holds the request (badge = which client); the
 * handler overwrites m->mr with the reply words and returns the reply label
 * (0 for success, a negative error code otherwise) or SRV_NO_REPLY. */
typedef int64_t (*srv_fn)(void *ctx, struct keel_msg *m);

struct srv_handler {
    uint32_t label;
    uint8_t words; /* message words the request must carry (mr[0..words-1]) */
    srv_fn fn;
};

struct srv_loop {
    uint64_t endpoint;                  /* slot the server receives on */
    const struct srv_handler *handlers; /* sorted or not; looked up linearly */
    size_t n_handlers;
    void (*on_notify)(void *ctx, uint64_t bits);           /* may be NULL */
    void (*on_fault)(void *ctx, const struct keel_msg *m); /* fault messages; NULL: ignored */
    /* The handlers' common prologue, or NULL: runs for every request that
     * passed the label and length checks, before its handler; checks what
     * every request of the protocol needs (which client sent it).  0 lets
     * the handler run; anything else is the reply label (the request's
     * words go back as they came), and the handler does not run. */
    int64_t (*admit)(void *ctx, const struct keel_msg *m);
    void *ctx;
};

/* Words in a request: callers put the count in bits 24-31 of the label. */
#define SRV_LABEL(label, words) ((uint32_t)(label) | ((uint32_t)(words) << 24))
#define SRV_LABEL_ID(info)      ((uint32_t)(info)&0x00ffffffu)
#define SRV_LABEL_WORDS(info)   (((uint32_t)(info) >> 24) & 0xffu)

struct keel_srvinfo;
/* The slot of the capability init granted under NAME ("irq", "shm:nic0",
 * "bar0", ...), or 0 when there is none. */
uint64_t srv_find_cap(const struct keel_srvinfo *si, const char *name);
/* The first capability whose name starts with PREFIX ("serve:", "shm:"),
 * its slot, or 0. */
uint64_t srv_find_cap_prefix(const struct keel_srvinfo *si, const char *prefix);
/* The slot of the capability named PREFIX + NAME ("shm:admin-" + "consoled"),
 * or 0 when there is none (compared as srv_find_cap does). */
uint64_t srv_find_cap_of(const struct keel_srvinfo *si, const char *prefix, const char *name);
/* The clients init noted for this server: a "client:C" note for each
 * server C that connects to it, whose slot field is C's badge.  Iterates
 * from *I (start at 0): returns the next client's name C with *BADGE set
 * and *I advanced, or NULL after the last. */
const char *srv_next_client(const struct keel_srvinfo *si, uint32_t *i, uint64_t *badge);
/* A client with a region of its own (the configuring clients of netd's
 * and tlsd's admin protocols): "client:C" plus a frame PREFIX-C. */
struct srv_client_region {
    char name[24];  /* C */
    uint64_t badge; /* what its calls carry */
    uint8_t *base;  /* its region, mapped read-write; the client writes it too: read with care */
};
/* Maps the region PREFIX + C ("shm:admin-" + C) of each client C that has
 * one, of at least MIN_PAGES pages, read-write at VA + k * STRIDE, into
 * OUT[k], k < MAX; a client without the frame is skipped (it may call,
 * but not for what needs the region), one over MAX or whose frame is too
 * small or cannot be mapped is skipped and logged, as is each one mapped
 * ("WHO: admin: client C (badge B)").  Returns how many it mapped. */
unsigned srv_map_client_regions(const struct keel_srvinfo *si, const char *prefix, uint64_t min_pages, uint64_t va,
                                uint64_t stride, struct srv_client_region *out, unsigned max, const char *who);
/* The entry of OUT[0..N) whose badge is BADGE, or NULL. */
struct srv_client_region *srv_client_of(struct srv_client_region *regions, unsigned n, uint64_t badge);
/* The highest empty capability slot (for objects a server creates itself:
 * init grants from the bottom), or 0 when the table is full. */
uint64_t srv_free_slot(void);

/* Tells init this server is ready (INIT_READY: init logs it and starts
 * what waits for it).  Returns 0, or the call's IPC error.  Every server
 * ignores it, on purpose: init answers at once and without conditions, so
 * only the kernel can fail the call, and a server that could not say it is
 * ready serves all the same. */
int64_t srv_ready(void);

/* Maps frame SLOT (a `share` region) at VA with RIGHTS when it holds at
 * least MIN_PAGES pages.  Returns 0, with *PAGES = its size when PAGES is
 * not NULL; KE_RANGE when it is smaller (nothing mapped); or the kernel's
 * error of SYS_FRAME_INFO / SYS_MAP. */
int64_t srv_map_frame(uint64_t slot, uint64_t va, uint64_t rights, uint64_t min_pages, uint64_t *pages)
    __attribute__((warn_unused_result));

/* Maps the site archive read-only at VA (page-aligned, a free stretch of
 * the address space as large as the frame): init's grant "site" is the
 * frame of the boot module, which starts si->site_offset bytes into it
 * and is si->site_size bytes long (keel/init.h).  Returns 0 with *DATA and
 * *LEN set; KE_EMPTY_SLOT when no archive was granted (no `site` grant, or
 * no site module booted: init then grants nothing and says so);
 * KE_RANGE when the offset and size do not lie in the frame; or the
 * kernel's error of SYS_FRAME_INFO / SYS_MAP.  *DATA and *LEN are left
 * alone on an error. */
int64_t srv_map_site(const struct keel_srvinfo *si, uint64_t va, const void **data, size_t *len)
    __attribute__((warn_unused_result));

/* Serves for ever; returns only when a receive fails (the error). */
int64_t srv_run(const struct srv_loop *l);
/* srv_ready, then srv_run. */
int64_t srv_ready_and_run(const struct srv_loop *l);
/* One step, for servers with their own loop: dispatches M (just received)
 * and fills it with the reply; returns false when no reply is due. */
int srv_dispatch(const struct srv_loop *l, struct keel_msg *m);

#endif
