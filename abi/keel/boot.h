/*
 * keel/boot.h - what the kernel hands the root task (init) at start.
 *
 * init's first thread starts with rdi = KEEL_BOOTINFO_ADDR, a read-only page
 * holding struct keel_bootinfo, and with the capabilities below in its slots.
 * init passes on to each server exactly what the boot manifest names.
 */
#ifndef KEEL_ABI_BOOT_H
#define KEEL_ABI_BOOT_H

#include <stdint.h>

/* init's capability slots at start. */
enum keel_init_slot {
    INIT_SLOT_TASK = 1,   /* init's own task */
    INIT_SLOT_THREAD = 2, /* init's first thread */
    INIT_SLOT_MEMORY = 3, /* every free frame, as a budget */
    INIT_SLOT_IRQ_CONTROL = 4,
    INIT_SLOT_IOPORT_CONTROL = 5,
    INIT_SLOT_MMIO_CONTROL = 6,
    INIT_SLOT_DEBUG = 7,
    INIT_SLOT_MODULE0 = 8, /* boot module i is a read-only frame in slot 8 + i */
    INIT_SLOT_FIRST_FREE = 16,
};

#define KEEL_BOOTINFO_ADDR    0x0000000000200000ull /* one page, read-only */
#define KEEL_MODULES_BASE     0x0000001000000000ull /* modules mapped read-only from here */
#define KEEL_INIT_STACK_TOP   0x00007fff00000000ull
#define KEEL_INIT_STACK_PAGES 16

#define KEEL_BOOT_MAX_MODULES 8

struct keel_boot_module {
    uint64_t vaddr; /* where init finds it mapped (read-only) */
    uint64_t size;  /* bytes */
    char name[64];  /* file name the loader gave, path stripped */
    char args[64];  /* the rest of its command line, e.g. "servers" */
};
_Static_assert(sizeof(struct keel_boot_module) == 144, "boot module layout");

struct keel_bootinfo {
    uint32_t magic; /* KEEL_BOOTINFO_MAGIC */
    uint32_t n_modules;
    uint64_t memory_bytes; /* budget in INIT_SLOT_MEMORY */
    uint64_t tsc_hz;
    char cmdline[512]; /* the kernel command line */
    struct keel_boot_module modules[KEEL_BOOT_MAX_MODULES];
    uint64_t ecam_phys; /* PCI ECAM from ACPI MCFG (0: none; use ports 0xcf8/0xcfc) */
    uint32_t ecam_bus_start, ecam_bus_end;
};
_Static_assert(sizeof(struct keel_bootinfo) <= 4096, "bootinfo fits one page");

#define KEEL_BOOTINFO_MAGIC 0x4b45454cu /* "KEEL" */

#endif
