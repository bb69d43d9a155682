/*
 * multiboot.c - copying the loader's boot information into struct boot_info.
 *
 * Pure logic (no hardware access): the caller passes a reader that turns a
 * physical address into a pointer, so the same code runs in the kernel and in
 * tests/unit/test_multiboot.c.  Everything from the loader is treated as
 * untrusted input: lengths are bounded, strings are copied with a limit.
 *
 * Module command lines: iPXE gives "tftp://10.0.2.2/servers.cpio servers"
 * (the full URL first), QEMU gives "path/servers.cpio servers".  The name we
 * keep is the last path element of the first word; args are the rest.
 */
#include "multiboot.h"

#include <stdbool.h>

static void copy_bounded(char *dst, size_t cap, const char *src, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1 < cap && src[i]; i++)
        dst[i] = src[i];
    dst[i] = '\0';
}

/* Reads a NUL-terminated string of at most cap-1 bytes from physical memory. */
static int read_string(mb_phys_reader read, void *ctx, uint64_t phys, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (!phys)
        return MB_OK;
    for (size_t i = 0; i + 1 < cap; i++) {
        const char *c = read(ctx, phys + i, 1);
        if (!c)
            return MB_ERR_UNREACHABLE;
        dst[i] = *c;
        dst[i + 1] = '\0';
        if (!*c)
            break;
    }
    return MB_OK;
}

static void split_module_cmdline(const char *line, struct boot_module *m)
{
    size_t word_end = 0;
    while (line[word_end] == ' ')
        word_end++;
    size_t word_start = word_end;
    while (line[word_end] && line[word_end] != ' ')
        word_end++;
    size_t base = word_start;
    for (size_t i = word_start; i < word_end; i++)
        if (line[i] == '/')
            base = i + 1;
    copy_bounded(m->name, sizeof m->name, line + base, word_end - base);
    while (line[word_end] == ' ')
        word_end++;
    copy_bounded(m->args, sizeof m->args, line + word_end, BOOT_MODARGS_MAX);
}

static void insert_region_sorted(struct boot_info *out, const struct boot_region *r)
{
    uint32_t i = out->n_regions;
    while (i > 0 && out->regions[i - 1].base > r->base) {
        out->regions[i] = out->regions[i - 1];
        i--;
    }
    out->regions[i] = *r;
    out->n_regions++;
}

static int parse_mmap(const struct mb_info *mbi, mb_phys_reader read, void *ctx, struct boot_info *out)
{
    if (!(mbi->flags & MBI_FLAG_MMAP) || mbi->mmap_length == 0)
        return MB_ERR_NO_MMAP;
    const uint8_t *map = read(ctx, mbi->mmap_addr, mbi->mmap_length);
    if (!map)
        return MB_ERR_UNREACHABLE;
    uint32_t off = 0;
    while (off < mbi->mmap_length) {
        if (mbi->mmap_length - off < sizeof(struct mb_mmap_entry))
            return MB_ERR_BAD_MMAP;
        struct mb_mmap_entry e;
        __builtin_memcpy(&e, map + off, sizeof e);
        if (e.size < 20 || e.size > mbi->mmap_length - off - 4)
            return MB_ERR_BAD_MMAP;
        off += e.size + 4;
        if (e.length == 0 || e.base + e.length < e.base)
            continue; /* empty or wrapping: ignore, it describes nothing usable */
        if (out->n_regions == BOOT_MAX_REGIONS)
            continue; /* keep the first ones; the log says how many there were */
        struct boot_region r = { e.base, e.length, e.type };
        insert_region_sorted(out, &r);
    }
    return MB_OK;
}

static int parse_modules(const struct mb_info *mbi, mb_phys_reader read, void *ctx, struct boot_info *out)
{
    if (!(mbi->flags & MBI_FLAG_MODS) || mbi->mods_count == 0)
        return MB_OK;
    if (mbi->mods_count > BOOT_MAX_MODULES)
        return MB_ERR_TOO_MANY_MODS;
    const struct mb_module *mods = read(ctx, mbi->mods_addr, (uint64_t)mbi->mods_count * sizeof *mods);
    if (!mods)
        return MB_ERR_UNREACHABLE;
    for (uint32_t i = 0; i < mbi->mods_count; i++) {
        struct mb_module m;
        __builtin_memcpy(&m, &mods[i], sizeof m);
        if (m.mod_end < m.mod_start)
            return MB_ERR_BAD_MODULE;
        struct boot_module *bm = &out->modules[i];
        bm->start = m.mod_start;
        bm->end = m.mod_end;
        char line[BOOT_MODNAME_MAX + BOOT_MODARGS_MAX];
        int err = read_string(read, ctx, m.string, line, sizeof line);
        if (err)
            return err;
        split_module_cmdline(line, bm);
        out->n_modules = i + 1;
    }
    return MB_OK;
}

int multiboot_parse(const struct mb_info *mbi, mb_phys_reader read, void *ctx, struct boot_info *out)
{
    __builtin_memset(out, 0, sizeof *out);
    int err = parse_mmap(mbi, read, ctx, out);
    if (err)
        return err;
    if (mbi->flags & MBI_FLAG_CMDLINE) {
        err = read_string(read, ctx, mbi->cmdline, out->cmdline, sizeof out->cmdline);
        if (err)
            return err;
    }
    return parse_modules(mbi, read, ctx, out);
}

const char *multiboot_strerror(int err)
{
    switch (err) {
    case MB_OK: return "ok";
    case MB_ERR_NO_MMAP: return "the boot loader passed no memory map";
    case MB_ERR_BAD_MMAP: return "the boot loader's memory map is malformed";
    case MB_ERR_TOO_MANY_MODS: return "more than 8 boot modules";
    case MB_ERR_BAD_MODULE: return "a boot module ends before it starts";
    case MB_ERR_UNREACHABLE: return "boot information lies outside the boot mapping";
    default: return "unknown multiboot error";
    }
}
