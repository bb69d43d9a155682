/*
 * multiboot.h - the Multiboot (v1) information structure, and what the
 * kernel keeps of it.
 *
 * Layouts follow the Multiboot Specification 0.6.96, section 3.3 ("Boot
 * information format").  The loader's structure lives in memory we are about
 * to reuse, so multiboot_parse() copies everything the kernel needs into a
 * struct boot_info before the frame allocator starts handing pages out.
 */
#ifndef KEEL_MULTIBOOT_H
#define KEEL_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#define MULTIBOOT_LOADER_MAGIC 0x2BADB002u

#define MBI_FLAG_MEM     (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MODS    (1u << 3)
#define MBI_FLAG_MMAP    (1u << 6)

struct mb_info {
    uint32_t flags;     /* RO: which fields below are valid */
    uint32_t mem_lower; /* KiB below 1 MiB (MBI_FLAG_MEM) */
    uint32_t mem_upper; /* KiB above 1 MiB (MBI_FLAG_MEM) */
    uint32_t boot_device;
    uint32_t cmdline;    /* physical address of a C string (MBI_FLAG_CMDLINE) */
    uint32_t mods_count; /* (MBI_FLAG_MODS) */
    uint32_t mods_addr;  /* physical address of mods_count struct mb_module */
    uint32_t syms[4];
    uint32_t mmap_length; /* bytes of memory map (MBI_FLAG_MMAP) */
    uint32_t mmap_addr;   /* physical address of the first struct mb_mmap_entry */
} __attribute__((packed));
_Static_assert(offsetof(struct mb_info, mods_count) == 20, "multiboot info layout");
_Static_assert(offsetof(struct mb_info, mmap_length) == 44, "multiboot info layout");
_Static_assert(sizeof(struct mb_info) == 52, "multiboot info layout");

struct mb_module {
    uint32_t mod_start; /* physical, first byte */
    uint32_t mod_end;   /* physical, one past the last byte */
    uint32_t string;    /* physical address of the module's command line */
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct mb_module) == 16, "multiboot module layout");

struct mb_mmap_entry {
    uint32_t size; /* bytes in this entry after this field (usually 20) */
    uint64_t base;
    uint64_t length;
    uint32_t type; /* 1 = available RAM; everything else is reserved */
} __attribute__((packed));
_Static_assert(sizeof(struct mb_mmap_entry) == 24, "multiboot mmap layout");

#define MB_MEM_AVAILABLE 1u

#define BOOT_MAX_REGIONS 64
#define BOOT_MAX_MODULES 8 /* iPXE's own limit; QEMU allows more, we do not */
#define BOOT_CMDLINE_MAX 512
#define BOOT_MODNAME_MAX 64
#define BOOT_MODARGS_MAX 256

struct boot_region {
    uint64_t base;
    uint64_t length;
    uint32_t type;
};

struct boot_module {
    uint64_t start;              /* physical */
    uint64_t end;                /* physical, exclusive; end >= start */
    char name[BOOT_MODNAME_MAX]; /* last path element of the first word */
    char args[BOOT_MODARGS_MAX]; /* the rest of the command line */
};

struct boot_info {
    uint32_t n_regions;
    struct boot_region regions[BOOT_MAX_REGIONS];
    uint32_t n_modules;
    struct boot_module modules[BOOT_MAX_MODULES];
    char cmdline[BOOT_CMDLINE_MAX];
};

enum mb_error {
    MB_OK = 0,
    MB_ERR_NO_MMAP = -1,  /* the loader gave no memory map */
    MB_ERR_BAD_MMAP = -2, /* an entry runs past the map or is too short */
    MB_ERR_TOO_MANY_MODS = -3,
    MB_ERR_BAD_MODULE = -4,  /* end < start */
    MB_ERR_UNREACHABLE = -5, /* a pointer the translator cannot reach */
};

/* Translates a physical address and length to a readable pointer, or NULL when
 * that range is not reachable (the kernel: outside the boot direct map). */
typedef const void *(*mb_phys_reader)(void *ctx, uint64_t phys, uint64_t len);

/* Copies what the kernel needs out of the loader's structure.  Regions are
 * kept as given (sorted by base); modules keep their order.  Returns MB_OK or
 * a negative enum mb_error; on error *out is partially filled. */
__attribute__((warn_unused_result)) int multiboot_parse(const struct mb_info *mbi, mb_phys_reader read, void *ctx,
                                                        struct boot_info *out);

const char *multiboot_strerror(int err);

#endif
