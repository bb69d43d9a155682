/*
 * efi_handoff.c - the EFI entry's pure logic (see efi_handoff.h).
 *
 * Runs in the EFI application (before and after ExitBootServices: no
 * allocation, no firmware call, no global state) and on the host in
 * tests/unit/test_efi_handoff.c.  Inputs are the kernel image the stub
 * carries and what the firmware hands over; each is bounded before use.
 */
#include "efi_handoff.h"

#include <stdbool.h>

#include "efi.h"

#define BOOT_LIMIT (1ull << 30) /* the kernel's boot map: BOOT_MAP_LIMIT */

static uint32_t read32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool header_at(const uint8_t *p, struct mb_header *h)
{
    h->magic = read32(p);
    h->flags = read32(p + 4);
    h->checksum = read32(p + 8);
    h->header_addr = read32(p + 12);
    h->load_addr = read32(p + 16);
    h->load_end_addr = read32(p + 20);
    h->bss_end_addr = read32(p + 24);
    h->entry_addr = read32(p + 28);
    return h->magic == MB_HEADER_MAGIC && (uint32_t)(h->magic + h->flags + h->checksum) == 0;
}

/* The header's fields must place this file below the boot map's limit, the
 * header inside it at its own offset, and the 64-bit entry in the loaded
 * part (multiboot spec 3.1.3). */
static int check_layout(const struct mb_header *h, uint32_t off, uint32_t entry64, size_t len,
                        struct kimage_layout *out)
{
    if (!(h->flags & MB_HEADER_FLAG_AOUT))
        return EFIHO_ERR_BAD_LAYOUT;
    uint64_t load = h->load_addr, end = h->load_end_addr, bss = h->bss_end_addr;
    if (load < 0x100000 || h->header_addr < load || h->header_addr - load != off)
        return EFIHO_ERR_BAD_LAYOUT;
    if (end <= load || end - load > len || bss < end || bss >= BOOT_LIMIT)
        return EFIHO_ERR_BAD_LAYOUT;
    if (entry64 < load || entry64 >= end)
        return EFIHO_ERR_BAD_LAYOUT;
    out->load_addr = load;
    out->file_size = end - load;
    out->mem_size = bss - load;
    out->entry64 = entry64;
    return EFIHO_OK;
}

int efiho_kimage_parse(const uint8_t *img, size_t len, struct kimage_layout *out)
{
    size_t limit = len < MB_HEADER_SEARCH ? len : MB_HEADER_SEARCH;
    for (size_t off = 0; off + sizeof(struct mb_header) <= limit; off += 4) {
        struct mb_header h;
        if (!header_at(img + off, &h))
            continue;
        size_t ext = off + sizeof h;
        if (ext + sizeof(struct keel_entry64) > len || read32(img + ext) != KEEL_ENTRY64_MAGIC)
            return EFIHO_ERR_NOT_KEEL;
        return check_layout(&h, (uint32_t)off, read32(img + ext + 4), len, out);
    }
    return EFIHO_ERR_NO_HEADER;
}

uint32_t efiho_mem_type(uint32_t efi_type)
{
    switch (efi_type) {
    case EFI_LOADER_CODE:
    case EFI_LOADER_DATA:
    case EFI_BOOT_SERVICES_CODE:
    case EFI_BOOT_SERVICES_DATA:
    case EFI_CONVENTIONAL: return MB_MEM_AVAILABLE;
    case EFI_ACPI_RECLAIM: return 3;
    case EFI_ACPI_NVS: return 4;
    default: return 2;
    }
}

int efiho_mmap_convert(const void *map, uint64_t map_size, uint64_t desc_size, struct mb_mmap_entry *out, uint32_t max,
                       uint32_t *n)
{
    *n = 0;
    if (desc_size < sizeof(struct efi_memory_descriptor) || map_size % desc_size)
        return EFIHO_ERR_BAD_MAP;
    const uint8_t *p = map;
    for (uint64_t off = 0; off < map_size; off += desc_size) {
        struct efi_memory_descriptor d;
        __builtin_memcpy(&d, p + off, sizeof d);
        if (d.number_of_pages == 0 || d.number_of_pages > (UINT64_MAX - d.physical_start) >> 12)
            continue; /* empty, or wraps: describes nothing usable */
        uint64_t len = d.number_of_pages << 12;
        uint32_t type = efiho_mem_type(d.type);
        struct mb_mmap_entry *last = *n ? &out[*n - 1] : 0;
        if (last && last->type == type && last->base + last->length == d.physical_start) {
            last->length += len;
            continue;
        }
        if (*n == max)
            continue;
        out[*n] = (struct mb_mmap_entry){ .size = 20, .base = d.physical_start, .length = len, .type = type };
        (*n)++;
    }
    return EFIHO_OK;
}

static bool is_space(unsigned c) { return c == ' ' || c == '\t'; }

/* Decodes UCS-2 options into out; false when they are not printable text. */
static bool decode_options(const uint8_t *p, uint32_t size, char *out, size_t cap)
{
    size_t o = 0;
    for (uint32_t i = 0; i + 1 < size; i += 2) {
        unsigned c = p[i] | p[i + 1] << 8;
        if (c == 0)
            break;
        if (c == '\r' || c == '\n')
            c = ' ';
        if (c < 0x20 || c > 0x7e)
            return false;
        if (o + 1 < cap)
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

static bool first_word_is_efi(const char *s)
{
    size_t start = 0;
    while (is_space((unsigned char)s[start]))
        start++;
    size_t end = start;
    while (s[end] && !is_space((unsigned char)s[end]))
        end++;
    if (end - start < 4)
        return false;
    const char *x = s + end - 4;
    return x[0] == '.' && (x[1] | 0x20) == 'e' && (x[2] | 0x20) == 'f' && (x[3] | 0x20) == 'i';
}

void efiho_cmdline(const void *options, uint32_t size, const char *image_name, char *out, size_t cap)
{
    char opts[BOOT_CMDLINE_MAX];
    if (!options || !decode_options(options, size, opts, sizeof opts))
        opts[0] = '\0';
    size_t o = 0;
    if (!first_word_is_efi(opts)) {
        for (size_t i = 0; image_name[i] && o + 1 < cap; i++)
            out[o++] = image_name[i];
        if (opts[0] && o + 1 < cap)
            out[o++] = ' ';
    }
    for (size_t i = 0; opts[i] && o + 1 < cap; i++)
        out[o++] = opts[i];
    out[o] = '\0';
}

int efiho_path_beside(const efi_char16 *image_path, const char *name, efi_char16 *out, size_t cap)
{
    size_t dir = 0, len = 0;
    for (; image_path && image_path[len]; len++)
        if (image_path[len] == '\\' || image_path[len] == '/')
            dir = len + 1;
    size_t o = 0;
    for (size_t i = 0; i < dir; i++) {
        if (o + 1 >= cap)
            return EFIHO_ERR_TOO_LONG;
        out[o++] = image_path[i] == '/' ? '\\' : image_path[i];
    }
    for (size_t i = 0; name[i]; i++) {
        if (o + 1 >= cap)
            return EFIHO_ERR_TOO_LONG;
        out[o++] = (unsigned char)name[i];
    }
    out[o] = 0;
    return EFIHO_OK;
}

void efiho_basename(const efi_char16 *path, char *out, size_t cap)
{
    size_t base = 0, len = 0;
    for (; path && path[len]; len++)
        if (path[len] == '\\' || path[len] == '/')
            base = len + 1;
    size_t o = 0;
    for (size_t i = base; i < len && o + 1 < cap; i++)
        out[o++] = path[i] >= 0x20 && path[i] <= 0x7e ? (char)path[i] : '?';
    out[o] = '\0';
}

const char *efiho_strerror(int err)
{
    switch (err) {
    case EFIHO_OK: return "ok";
    case EFIHO_ERR_NO_HEADER: return "no multiboot header in its first 8 KiB";
    case EFIHO_ERR_NOT_KEEL: return "a multiboot image without Keel's 64-bit entry";
    case EFIHO_ERR_BAD_LAYOUT: return "its load addresses do not fit the file or lie above 1 GiB";
    case EFIHO_ERR_BAD_MAP: return "the firmware's memory map is malformed";
    case EFIHO_ERR_TOO_LONG: return "a path is too long";
    default: return "unknown error";
    }
}
