/*
 * keel/init.h - what init gives every server it starts, and init's protocol.
 *
 * A server starts with rdi = KEEL_SRVINFO_ADDR, a read-only page holding
 * struct keel_srvinfo: its name, its arguments from the boot manifest, how
 * often it has been restarted, and the capabilities init granted it, each
 * with the name the manifest gave it, so a server looks its capabilities up
 * by name (srv_find_cap, <keel/server.h>) instead of hard-coding slot numbers.
 * Fixed slots: the server's own task and thread, its memory budget, and a
 * send capability to init (badged with the server's index).
 */
#ifndef KEEL_ABI_INIT_H
#define KEEL_ABI_INIT_H

#include <stdint.h>

#include <keel/pci.h>

enum keel_srv_slot {
    SRV_SLOT_TASK = 1,
    SRV_SLOT_THREAD = 2,
    SRV_SLOT_MEMORY = 3, /* empty when the manifest gives no memory */
    SRV_SLOT_INIT = 4,   /* call init: INIT_READY, INIT_STATUS */
    SRV_SLOT_FIRST_GRANT = 8,
};

#define KEEL_SRVINFO_ADDR    0x0000000000300000ull
#define KEEL_SRV_STACK_TOP   0x00007fff00000000ull
#define KEEL_SRV_STACK_PAGES 16
#define KEEL_SRVINFO_MAGIC   0x53525621u /* "!VRS" */
#define KEEL_SRV_MAX_CAPS    64

struct keel_srv_cap {
    uint32_t slot;
    uint32_t type; /* enum keel_cap_type */
    char name[24]; /* e.g. "irq", "ioport", "ep:netd", "serve:netd" */
};
/* Besides capabilities, caps[] holds notes of type CAP_NONE: for a server
 * with `endpoint NAME`, one "client:CLIENT" per server that has `connect
 * NAME`, whose slot field is the badge CLIENT's calls carry. */
_Static_assert(sizeof(struct keel_srv_cap) == 32, "srv cap layout");

struct keel_srvinfo {
    uint32_t magic;
    uint32_t n_caps;
    char name[16];
    char args[128];
    uint64_t memory_bytes;
    uint32_t restarts; /* 0 on the first start */
    uint32_t index;    /* the server's index in the manifest (its badge at init) */
    struct keel_srv_cap caps[KEEL_SRV_MAX_CAPS];
    struct keel_pci_info pci; /* pci.present when the manifest gave a device */
    uint64_t site_offset;     /* `site` grant: where the archive starts in the "site" frame */
    uint64_t site_size;       /* and its length in bytes (0: no site archive) */
};
_Static_assert(sizeof(struct keel_srvinfo) <= 4096, "srvinfo fits one page");

/* Calls to init (SRV_SLOT_INIT). */
enum keel_init_label {
    INIT_READY = 1,  /* () the server is serving; init logs it */
    INIT_STATUS = 2, /* (MR0 = manifest index) -> MR0 = restarts, MR1 = state, MR2 = faults */
    /* () a driver has reset its device: init turns bus mastering on.  Until
     * then it is off, so a device still holding its dead predecessor's ring
     * addresses cannot DMA into freed memory. */
    INIT_PCI_DMA = 3,
    /* (MR0 = manifest index) -> MR0 = enum init_task_state | (core + 1) << 8
     * | restarts << 32 (core: where it runs; 0 when it does not run),
     * MR1 = faults | priority << 32, MR2-MR3 = the server's name (16 bytes,
     * NUL-padded, little-endian as in memory); KE_RANGE past the last. */
    INIT_TASK_INFO = 4,
    /* The operator's calls: only from a server with the manifest grant
     * `admin` (else KE_NO_RIGHTS).
     * INIT_RESTART (MR0-MR1 = a server's name, NUL-padded): stop it and
     * start it again at once -> 0, or KE_INVALID_ARG (no such server, or it
     * was never started on this boot).
     * INIT_REBOOT: reset the machine (no reply when it works; KE_BUSY when
     * no reset mechanism answered).  INIT_HALT: stop the CPU for good (the
     * kernel prints "keel: halted"; a QEMU booted with `debug-exit` ends). */
    INIT_RESTART = 5,
    INIT_REBOOT = 6,
    INIT_HALT = 7,
    /* (MR0 = manifest index) -> MR0 = the server's memory budget in bytes
     * (0 when it is not running), MR1 = bytes of it in use (image, stack,
     * page tables, kernel objects, frames it made: SYS_MEMORY_INFO),
     * MR2 = free pages in the machine, MR3 = pages the kernel manages;
     * KE_RANGE past the last.  Open to every server, like INIT_TASK_INFO. */
    INIT_MEMORY_INFO = 8,
};

/* INIT_TASK_INFO's state. */
enum init_task_state {
    INIT_TASK_STOPPED = 0, /* not started (or could not be) */
    INIT_TASK_RUNNING = 1, /* started, not yet ready */
    INIT_TASK_READY = 2,   /* serving */
    INIT_TASK_WAITING = 3, /* died; a restart is due */
    INIT_TASK_ABSENT = 4,  /* its device (or a server it needs) is missing */
    INIT_TASK_OTHER = 5,   /* not part of this boot (`when` another word, or an instance whose device is missing) */
};

#endif
