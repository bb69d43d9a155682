/*
 * efi_handoff.h - the EFI entry's pure logic: reading the kernel image's
 * header, converting the EFI memory map, the load options and file paths.
 *
 * No firmware calls here: efistub.c does those and hands the results to
 * these functions, which tests/unit/test_efi_handoff.c runs on the host.
 * Every input is firmware or file content and is checked, never trusted.
 */
#ifndef KEEL_EFI_HANDOFF_H
#define KEEL_EFI_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "handoff.h"

typedef uint16_t efi_char16;

enum efiho_error {
    EFIHO_OK = 0,
    EFIHO_ERR_NO_HEADER = -1,  /* no valid multiboot header in the first 8 KiB */
    EFIHO_ERR_NOT_KEEL = -2,   /* a multiboot image without Keel's 64-bit entry */
    EFIHO_ERR_BAD_LAYOUT = -3, /* load/bss/entry addresses inconsistent with the file */
    EFIHO_ERR_BAD_MAP = -4,    /* descriptor size or map size malformed */
    EFIHO_ERR_TOO_LONG = -5,   /* a path does not fit the caller's buffer */
};

/* Where and how the flat kernel image wants to be loaded. */
struct kimage_layout {
    uint64_t load_addr; /* physical; file byte 0 goes here */
    uint64_t file_size; /* bytes copied from the file (load_end - load) */
    uint64_t mem_size;  /* bytes of memory it occupies, bss included */
    uint64_t entry64;   /* physical address of _start64 */
};

/* Finds the multiboot header and the keel_entry64 words after it in the
 * first 8 KiB of `img`, and checks that the addresses describe `len` bytes
 * loaded below 1 GiB with the entry inside the loaded part.  Returns
 * EFIHO_OK and fills *out, or a negative enum efiho_error. */
__attribute__((warn_unused_result)) int efiho_kimage_parse(const uint8_t *img, size_t len, struct kimage_layout *out);

/* The multiboot memory type (1 available, 3 ACPI reclaimable, 4 ACPI NVS,
 * 2 reserved) of an EFI memory type.  Loader and boot-services memory is
 * available: after ExitBootServices nothing of the firmware's lives there
 * except what the handoff points to, which the kernel copies first. */
uint32_t efiho_mem_type(uint32_t efi_type);

/* Converts `map_size` bytes of EFI memory descriptors (stride `desc_size`)
 * to multiboot entries in out[0..max), merging neighbours of the same
 * multiboot type.  Sets *n to the entries written; entries beyond `max` are
 * dropped (the kernel keeps 64 anyway).  EFIHO_ERR_BAD_MAP when desc_size is
 * below the spec's 40 bytes or map_size is not a multiple of it. */
__attribute__((warn_unused_result)) int efiho_mmap_convert(const void *map, uint64_t map_size, uint64_t desc_size,
                                                           struct mb_mmap_entry *out, uint32_t max, uint32_t *n);

/* The kernel command line from the image's load options (UCS-2 text, not
 * necessarily NUL-terminated; `size` in bytes).  iPXE and the UEFI shell put
 * the image's name first, as a multiboot loader does; options whose first
 * word does not end in ".efi" (a firmware boot entry's arguments) get
 * `image_name` put in front; options that are not printable text (a boot
 * entry's binary data) are ignored.  The result is ASCII, NUL-terminated,
 * cut to cap - 1 bytes. */
void efiho_cmdline(const void *options, uint32_t size, const char *image_name, char *out, size_t cap);

/* The directory part of a file path ("\EFI\keel\keel.efi" -> "\EFI\keel\";
 * "keel.efi" -> "") joined with `name`, into out[cap] (UCS-2, terminated).
 * '/' counts as a separator too.  EFIHO_ERR_TOO_LONG if it does not fit. */
__attribute__((warn_unused_result)) int efiho_path_beside(const efi_char16 *image_path, const char *name,
                                                          efi_char16 *out, size_t cap);

/* The last element of a UCS-2 path as ASCII ("\EFI\BOOT\BOOTX64.EFI" ->
 * "BOOTX64.EFI"), non-ASCII characters as '?'. */
void efiho_basename(const efi_char16 *path, char *out, size_t cap);

const char *efiho_strerror(int err);

#endif
