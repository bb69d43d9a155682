/* test_multiboot.c - copying the loader's information (kernel/multiboot.c). */
#include <stdint.h>
#include <string.h>

#include "multiboot.h"
#include "unit.h"

/* A fake physical memory: phys address A is arena[A]. */
static uint8_t arena[65536];

static const void *arena_reader(void *ctx, uint64_t phys, uint64_t len)
{
    (void)ctx;
    if (phys >= sizeof arena || len > sizeof arena - phys)
        return NULL;
    return arena + phys;
}

static struct mb_info *fresh_info(void)
{
    memset(arena, 0, sizeof arena);
    return (struct mb_info *)(arena + 0x100);
}

static void put_mmap(struct mb_info *mbi, const struct mb_mmap_entry *e, int n)
{
    memcpy(arena + 0x1000, e, sizeof *e * n);
    mbi->flags |= MBI_FLAG_MMAP;
    mbi->mmap_addr = 0x1000;
    mbi->mmap_length = sizeof *e * n;
}

static const struct mb_mmap_entry qemu_map[] = {
    { 20, 0x0, 0x9fc00, 1 },
    { 20, 0x9fc00, 0x400, 2 },
    { 20, 0x100000, 0xfee0000, 1 },
    { 20, 0xf0000, 0x10000, 2 }, /* out of order on purpose */
};

static void test_memory_map_sorted(void)
{
    struct mb_info *mbi = fresh_info();
    put_mmap(mbi, qemu_map, 4);
    static struct boot_info bi;
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_OK);
    CHECK_EQ(bi.n_regions, 4);
    CHECK_EQ(bi.regions[0].base, 0);
    CHECK_EQ(bi.regions[2].base, 0xf0000);
    CHECK_EQ(bi.regions[3].base, 0x100000);
    CHECK_EQ(bi.regions[3].length, 0xfee0000);
    CHECK_EQ(bi.regions[3].type, MB_MEM_AVAILABLE);
}

static void test_no_map_is_an_error(void)
{
    struct mb_info *mbi = fresh_info();
    static struct boot_info bi;
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_ERR_NO_MMAP);
}

static void test_malformed_map(void)
{
    struct mb_info *mbi = fresh_info();
    put_mmap(mbi, qemu_map, 2);
    mbi->mmap_length -= 3; /* the last entry runs past the map */
    static struct boot_info bi;
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_ERR_BAD_MMAP);
    mbi = fresh_info();
    struct mb_mmap_entry bad = { 4, 0, 0x1000, 1 }; /* size too small */
    put_mmap(mbi, &bad, 1);
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_ERR_BAD_MMAP);
    mbi = fresh_info();
    put_mmap(mbi, qemu_map, 1);
    mbi->mmap_addr = 0xfff0; /* beyond the reachable memory */
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_ERR_UNREACHABLE);
}

static void test_modules_ipxe_and_qemu_names(void)
{
    struct mb_info *mbi = fresh_info();
    put_mmap(mbi, qemu_map, 1);
    struct mb_module mods[2] = {
        { 0x200000, 0x200400, 0x2000, 0 }, { 0x201000, 0x201000, 0x2100, 0 }, /* an empty module is allowed */
    };
    memcpy(arena + 0x3000, mods, sizeof mods);
    strcpy((char *)arena + 0x2000, "tftp://10.0.2.2/boot/servers.cpio servers extra");
    strcpy((char *)arena + 0x2100, "build/image/tftp/site.cpio site");
    strcpy((char *)arena + 0x2200, "keel debug-exit fault=ud");
    mbi->flags |= MBI_FLAG_MODS | MBI_FLAG_CMDLINE;
    mbi->mods_count = 2;
    mbi->mods_addr = 0x3000;
    mbi->cmdline = 0x2200;
    static struct boot_info bi;
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_OK);
    CHECK_EQ(bi.n_modules, 2);
    CHECK_STR(bi.modules[0].name, "servers.cpio");
    CHECK_STR(bi.modules[0].args, "servers extra");
    CHECK_EQ(bi.modules[0].end - bi.modules[0].start, 0x400);
    CHECK_STR(bi.modules[1].name, "site.cpio");
    CHECK_STR(bi.modules[1].args, "site");
    CHECK_STR(bi.cmdline, "keel debug-exit fault=ud");
}

static void test_module_limits(void)
{
    struct mb_info *mbi = fresh_info();
    put_mmap(mbi, qemu_map, 1);
    mbi->flags |= MBI_FLAG_MODS;
    mbi->mods_count = 9;
    mbi->mods_addr = 0x3000;
    static struct boot_info bi;
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_ERR_TOO_MANY_MODS);
    struct mb_module backwards = { 0x5000, 0x4000, 0, 0 };
    memcpy(arena + 0x3000, &backwards, sizeof backwards);
    mbi->mods_count = 1;
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_ERR_BAD_MODULE);
}

static void test_overlong_strings_are_cut(void)
{
    struct mb_info *mbi = fresh_info();
    put_mmap(mbi, qemu_map, 1);
    memset(arena + 0x4000, 'a', 2000);
    arena[0x4000 + 2000] = 0;
    mbi->flags |= MBI_FLAG_CMDLINE;
    mbi->cmdline = 0x4000;
    static struct boot_info bi;
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_OK);
    CHECK_EQ(strlen(bi.cmdline), BOOT_CMDLINE_MAX - 1);
    /* A string that runs off the end of memory without a NUL. */
    memset(arena + sizeof arena - 10, 'b', 10);
    mbi->cmdline = sizeof arena - 10;
    CHECK_EQ(multiboot_parse(mbi, arena_reader, NULL, &bi), MB_ERR_UNREACHABLE);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_memory_map_sorted), UNIT_TEST(test_no_map_is_an_error),
        UNIT_TEST(test_malformed_map),     UNIT_TEST(test_modules_ipxe_and_qemu_names),
        UNIT_TEST(test_module_limits),     UNIT_TEST(test_overlong_strings_are_cut),
    };
    return unit_main("multiboot", tests, sizeof tests / sizeof tests[0]);
}
