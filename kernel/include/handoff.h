/*
 * handoff.h - how the EFI entry hands the machine to the kernel.
 *
 * The kernel has two entries.  A multiboot loader (QEMU -kernel, iPXE's BIOS
 * build) enters _start32 with EAX = MULTIBOOT_LOADER_MAGIC and EBX = the
 * multiboot information.  The EFI entry (kernel/efi/efistub.c, in keel.efi)
 * copies the same flat kernel image to its link address, leaves boot
 * services and enters _start64 in long mode with RDI = KEEL_EFI_LOADER_MAGIC
 * and RSI = a struct keel_handoff.  The handoff starts with an ordinary
 * multiboot information structure (memory map, modules, command line), so
 * both paths go through one parser (multiboot.c); it adds what multiboot v1
 * cannot carry: the ACPI RSDP, which UEFI gives in its configuration table
 * rather than in the BIOS areas the kernel scans.
 *
 * The kernel image announces its 64-bit entry to the stub with a
 * struct keel_entry64 placed right after the multiboot header (boot.S), so
 * the stub needs no symbol from the kernel's link: it reads the header of
 * the image it carries and checks it.
 *
 * Everything the handoff points to lies below BOOT_MAP_LIMIT (1 GiB), the
 * part of memory the kernel's boot page tables map.
 */
#ifndef KEEL_HANDOFF_H
#define KEEL_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "multiboot.h"

#define KEEL_EFI_LOADER_MAGIC 0x4b454649u /* "KEFI" */
#define KEEL_ENTRY64_MAGIC    0x3436454bu /* "KE64" */

struct keel_handoff {
    struct mb_info mbi;          /* flags: MBI_FLAG_MMAP | MBI_FLAG_CMDLINE | MBI_FLAG_MODS */
    uint32_t version;            /* KEEL_HANDOFF_VERSION */
    uint64_t rsdp_phys;          /* the ACPI RSDP from the EFI configuration table; 0 = none */
    char loader[32];             /* who built this handoff, for the log (NUL-terminated) */
    uint64_t ap_trampoline_phys; /* a page below 1 MiB reserved for the other cores' start (smp.c); 0 = none */
} __attribute__((packed));
_Static_assert(offsetof(struct keel_handoff, version) == 52, "handoff layout");
_Static_assert(offsetof(struct keel_handoff, rsdp_phys) == 56, "handoff layout");
_Static_assert(offsetof(struct keel_handoff, ap_trampoline_phys) == 96, "handoff layout");
_Static_assert(sizeof(struct keel_handoff) == 104, "handoff layout");
#define KEEL_HANDOFF_VERSION 2u

/* Multiboot Specification 0.6.96 3.1.1: the header in the image's first
 * 8 KiB (flag 16, the "a.out kludge", makes the address fields valid). */
struct mb_header {
    uint32_t magic; /* 0x1BADB002 */
    uint32_t flags;
    uint32_t checksum; /* magic + flags + checksum == 0 */
    uint32_t header_addr;
    uint32_t load_addr;
    uint32_t load_end_addr;
    uint32_t bss_end_addr;
    uint32_t entry_addr;
} __attribute__((packed));
_Static_assert(sizeof(struct mb_header) == 32, "multiboot header layout");
#define MB_HEADER_MAGIC     0x1BADB002u
#define MB_HEADER_FLAG_AOUT (1u << 16)
#define MB_HEADER_SEARCH    8192u

/* Keel's own words right after the multiboot header (boot.S). */
struct keel_entry64 {
    uint32_t magic;   /* KEEL_ENTRY64_MAGIC */
    uint32_t entry64; /* physical address of _start64 */
} __attribute__((packed));
_Static_assert(sizeof(struct keel_entry64) == 8, "keel entry64 layout");

#endif
