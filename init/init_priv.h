/*
 * init_priv.h - what init's files share: a server's record, init's state
 * (one struct init_state, made in main and handed to every function that
 * reads or changes it; no file keeps state of its own) and the functions
 * one file calls in another.  The files, by seam:
 *   init.c           - main, the boot's setup, which servers run this boot;
 *   init_load.c      - memory budgets, loading an image, starting a server;
 *   init_grant.c     - the manifest's grants: named objects, PCI, DMA spaces;
 *   init_supervise.c - faults, restarts with back-off, `keel: ready`, the loop;
 *   init_operator.c  - the operator's calls (task and memory info, restart,
 *                      reset, halt).
 * What init does and its invariants: the comment at the top of init.c.
 */
#ifndef KEEL_INIT_PRIV_H
#define KEEL_INIT_PRIV_H

#include <keel/boot.h>
#include <keel/cpio.h>
#include <keel/elf.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>
#include "budget.h"
#include "init_config.h"
#include "manifest.h"
#include "pci.h"

#define SCRATCH_VA       0x0000002000000000ull /* where init maps a frame to fill it */
#define RESTART_BASE_MS  10
#define RESTART_MAX_MS   5000
#define STABLE_NS        60000000000ull /* a server up this long has its restart back-off reset */
#define READY_STABLE_NS  1000000000ull  /* ... and one that served this long after INIT_READY */
#define TIMER_BIT        1ull
#define DMA_FAULT_BIT    2ull          /* on the same notification: a device's DMA fault */
#define FAULT_DMA_INIT   0x100u        /* init's own fault kind for on_fault: the device, not the task, faulted */
#define FAULT_STALL_INIT 0x101u        /* ... and another: work waited on it beyond its stall-limit */
#define STALL_CHECK_NS   1000000000ull /* how often init asks SYS_TASK_STALL of servers with a stall-limit */
#define FAULT_START_INIT 0x102u        /* ... and another: not ready START_LIMIT_NS after its start */
/* A server with a stall-limit that has not said ready this long after its
 * start is stuck in its start (every server says ready once set up, in
 * well under a second; tlsd waits for keyd at most 10 s). */
#define START_LIMIT_NS 30000000000ull
#define PAGE           4096ull

enum srv_state { SRV_STOPPED, SRV_RUNNING, SRV_READY, SRV_WAITING };

struct server {
    const struct server_spec *spec;
    char program[MANIFEST_NAME_MAX]; /* the binary: the spec's name, or the driver for its device */
    struct pci_device *pci;          /* the device of its `pci` grant, if any */
    bool absent;                     /* its `pci` device is not on this machine: never started */
    bool no_device;                  /* absent because its `pci` device is missing */
    enum srv_state state;
    uint32_t restarts;
    uint32_t faults;
    uint32_t backoff;    /* faults in a row without STABLE_NS of life in between: the delay's exponent */
    uint64_t started_at; /* ns, at the last start */
    uint64_t ready_at;   /* ns, when this life reported INIT_READY; 0 before */
    uint64_t restart_at; /* ns, when WAITING */
    uint64_t task_slot, thread_slot, memory_slot;
    uint64_t budget; /* bytes, of the running instance (memory_slot) */
    uint64_t memory; /* bytes, its `memory` this boot (budget_plan: a range shrinks on a small machine); 0: unplanned */
    uint32_t cpu;    /* the core its first thread runs on (placement, below) */
    uint64_t dma_slot;        /* its device's DMA space (0: none, or no IOMMU); kept across restarts */
    uint64_t dma_faults_seen; /* the space's fault count when init last looked */
};

struct init_state {
    const struct keel_bootinfo *bi;
    const void *archive;
    size_t archive_len;
    struct manifest manifest;
    struct server servers[MANIFEST_MAX_SERVERS];
    uint64_t endpoint_slot; /* init's service and fault endpoint */
    uint64_t timer_slot;    /* notification bound to init's thread */
    /* Objects named in the manifest (endpoints, shared regions, notifications),
     * created once at boot so they outlive any one server's restarts. */
    struct {
        enum grant_kind kind; /* GRANT_ENDPOINT, GRANT_SHARE or GRANT_NOTIFY */
        const char *name;
        uint64_t slot;
    } named[MANIFEST_MAX_SERVERS * MANIFEST_MAX_GRANTS];
    unsigned n_named;
    struct pci_device pci[PCI_MAX_DEVICES];
    unsigned n_pci;
    uint8_t slot_used[KEEL_CAP_SLOTS];
    bool special_boot; /* some server's `when` word is on the command line */
    bool no_iommu;     /* DMA_CREATE said KE_NO_IOMMU: devices are not confined */
    bool announced_ready;
    uint64_t next_stall_check; /* ns; 0: no server has a stall-limit */
};

/* init.c */
uint64_t slot_alloc(struct init_state *st);
void slot_free(struct init_state *st, uint64_t s);
bool selected(struct init_state *st, const struct server_spec *sp);
bool word_in(const char *line, const char *word);

/* init_grant.c */
int64_t create_named(struct init_state *st, const struct grant *g);
int64_t grant(struct init_state *st, struct server *sv, unsigned idx, const struct grant *g, uint64_t *next,
              struct keel_srvinfo *info);

/* init_load.c */
void plan_budgets(struct init_state *st);
void release_server(struct init_state *st, struct server *sv);
void start_server(struct init_state *st, unsigned idx);

/* init_supervise.c */
void check_all_ready(struct init_state *st);
void arm_restart_timer(struct init_state *st);
__attribute__((noreturn)) void serve_forever(struct init_state *st);

/* init_operator.c */
void task_info(struct init_state *st, struct keel_msg *m);
void memory_info(struct init_state *st, struct keel_msg *m);
void operator_call(struct init_state *st, const struct server *sv, struct keel_msg *m);

#endif
