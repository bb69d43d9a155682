/*
 * test_efi_handoff.c - keel.efi's pure logic (kernel/efi/efi_handoff.c): the
 * kernel image header it trusts, the EFI memory map it converts, the command
 * line it makes from load options and the paths it opens modules by.
 * Nothing is allocated; every case builds its input on the stack or in a
 * static buffer.
 */
#include <stdint.h>
#include <string.h>

#include "efi.h"
#include "efi_handoff.h"
#include "unit.h"

static uint8_t image[16384];

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* A flat image as boot.S lays it out: header at `off`, loaded at 1 MiB. */
static size_t fake_kernel(uint32_t off, uint32_t file_len, uint32_t bss_len, uint32_t entry64_off)
{
    memset(image, 0, sizeof image);
    uint32_t load = 0x100000, flags = MB_HEADER_FLAG_AOUT | 3;
    uint8_t *h = image + off;
    put32(h, MB_HEADER_MAGIC);
    put32(h + 4, flags);
    put32(h + 8, (uint32_t) - (MB_HEADER_MAGIC + flags));
    put32(h + 12, load + off);
    put32(h + 16, load);
    put32(h + 20, load + file_len);
    put32(h + 24, load + file_len + bss_len);
    put32(h + 28, load + 0x40);
    put32(h + 32, KEEL_ENTRY64_MAGIC);
    put32(h + 36, load + entry64_off);
    return file_len;
}

static void test_kernel_header_accepted(void)
{
    size_t len = fake_kernel(0, 12288, 4096, 0x80);
    struct kimage_layout k;
    CHECK_EQ(efiho_kimage_parse(image, len, &k), EFIHO_OK);
    CHECK_EQ(k.load_addr, 0x100000);
    CHECK_EQ(k.file_size, 12288);
    CHECK_EQ(k.mem_size, 16384);
    CHECK_EQ(k.entry64, 0x100080);
    len = fake_kernel(64, 12288, 0, 0x100); /* the header need not be first */
    CHECK_EQ(efiho_kimage_parse(image, len, &k), EFIHO_OK);
}

static void test_kernel_header_refused(void)
{
    struct kimage_layout k;
    memset(image, 0, sizeof image);
    CHECK_EQ(efiho_kimage_parse(image, 12288, &k), EFIHO_ERR_NO_HEADER);
    size_t len = fake_kernel(0, 12288, 0, 0x80);
    put32(image + 32, 0); /* a multiboot image, but not Keel's */
    CHECK_EQ(efiho_kimage_parse(image, len, &k), EFIHO_ERR_NOT_KEEL);
    len = fake_kernel(0, 12288, 0, 0x80);
    image[8] ^= 1; /* bad checksum: no header at all */
    CHECK_EQ(efiho_kimage_parse(image, len, &k), EFIHO_ERR_NO_HEADER);
    len = fake_kernel(0, 12288, 0, 0x80);
    CHECK_EQ(efiho_kimage_parse(image, len - 1, &k), EFIHO_ERR_BAD_LAYOUT); /* file shorter than load_end */
    len = fake_kernel(0, 12288, 0, 12288);                                  /* entry past the loaded part */
    CHECK_EQ(efiho_kimage_parse(image, len, &k), EFIHO_ERR_BAD_LAYOUT);
    len = fake_kernel(0, 12288, 0, 0x80);
    put32(image + 24, 0x40000000); /* bss ends beyond the boot map */
    CHECK_EQ(efiho_kimage_parse(image, len, &k), EFIHO_ERR_BAD_LAYOUT);
    len = fake_kernel(0, 12288, 0, 0x80);
    put32(image + 12, 0x100004); /* header_addr disagrees with its offset */
    CHECK_EQ(efiho_kimage_parse(image, len, &k), EFIHO_ERR_BAD_LAYOUT);
    CHECK_EQ(efiho_kimage_parse(image, 20, &k), EFIHO_ERR_NO_HEADER); /* shorter than a header */
}

/* OVMF's descriptors are 48 bytes: the spec's 40 plus padding. */
struct desc48 {
    struct efi_memory_descriptor d;
    uint64_t pad;
};

static void test_memory_map_converted_and_merged(void)
{
    struct desc48 map[] = {
        { { EFI_CONVENTIONAL, 0, 0x0, 0, 0xa0, 0 }, 0 },
        { { EFI_LOADER_DATA, 0, 0x100000, 0, 0x100, 0 }, 0 },
        { { EFI_BOOT_SERVICES_CODE, 0, 0x200000, 0, 0x10, 0 }, 0 },
        { { EFI_CONVENTIONAL, 0, 0x210000, 0, 0x100, 0 }, 0 },
        { { EFI_ACPI_NVS, 0, 0x310000, 0, 0x8, 0 }, 0 },
        { { EFI_ACPI_RECLAIM, 0, 0x318000, 0, 0x2, 0 }, 0 },
        { { EFI_RUNTIME_SERVICES_DATA, 0, 0x31a000, 0, 0x1, 0 }, 0 },
        { { EFI_MMIO, 0, 0xb0000000, 0, 0x10000, 0 }, 0 },
        { { EFI_CONVENTIONAL, 0, 0x400000, 0, 0, 0 }, 0 },                 /* empty: dropped */
        { { EFI_CONVENTIONAL, 0, 0xfffffffffffff000ull, 0, 0x10, 0 }, 0 }, /* wraps: dropped */
    };
    struct mb_mmap_entry out[16];
    uint32_t n;
    CHECK_EQ(efiho_mmap_convert(map, sizeof map, sizeof map[0], out, 16, &n), EFIHO_OK);
    CHECK_EQ(n, 6);
    CHECK_EQ(out[0].base, 0);
    CHECK_EQ(out[0].length, 0xa0000);
    CHECK_EQ(out[1].base, 0x100000); /* loader data + boot code + conventional, one region */
    CHECK_EQ(out[1].length, 0x210000);
    CHECK_EQ(out[1].type, MB_MEM_AVAILABLE);
    CHECK_EQ(out[1].size, 20);
    CHECK_EQ(out[2].type, 4);
    CHECK_EQ(out[3].type, 3);
    CHECK_EQ(out[4].type, 2);
    CHECK_EQ(out[5].base, 0xb0000000);
    CHECK_EQ(out[5].type, 2);
    /* Full: the first entries are kept. */
    CHECK_EQ(efiho_mmap_convert(map, sizeof map, sizeof map[0], out, 2, &n), EFIHO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(out[1].length, 0x210000); /* merging still grows the last kept one */
}

static void test_memory_map_malformed(void)
{
    struct desc48 map[2] = { 0 };
    struct mb_mmap_entry out[4];
    uint32_t n;
    CHECK_EQ(efiho_mmap_convert(map, sizeof map, 24, out, 4, &n), EFIHO_ERR_BAD_MAP);
    CHECK_EQ(efiho_mmap_convert(map, sizeof map - 8, sizeof map[0], out, 4, &n), EFIHO_ERR_BAD_MAP);
    CHECK_EQ(n, 0);
}

/* UCS-2 of an ASCII string, as load options carry it. */
static uint32_t ucs2(const char *s, uint16_t *out)
{
    uint32_t i = 0;
    for (; s[i]; i++)
        out[i] = (uint8_t)s[i];
    out[i] = 0;
    return (i + 1) * 2;
}

static void test_command_line(void)
{
    uint16_t w[128];
    char out[64];
    uint32_t size = ucs2("keel.efi debug-exit ktest", w);
    efiho_cmdline(w, size, "keel.efi", out, sizeof out); /* iPXE: the name comes first */
    CHECK_STR(out, "keel.efi debug-exit ktest");
    size = ucs2("FS0:\\EFI\\KEEL\\KEEL.EFI ktest", w); /* the UEFI shell */
    efiho_cmdline(w, size, "KEEL.EFI", out, sizeof out);
    CHECK_STR(out, "FS0:\\EFI\\KEEL\\KEEL.EFI ktest");
    size = ucs2("ktest", w); /* a boot entry's arguments: the name is put first */
    efiho_cmdline(w, size, "BOOTX64.EFI", out, sizeof out);
    CHECK_STR(out, "BOOTX64.EFI ktest");
    efiho_cmdline(NULL, 0, "BOOTX64.EFI", out, sizeof out);
    CHECK_STR(out, "BOOTX64.EFI");
    uint8_t binary[6] = { 1, 0, 0xff, 0xfe, 3, 0 }; /* a boot entry's binary data */
    efiho_cmdline(binary, sizeof binary, "BOOTX64.EFI", out, sizeof out);
    CHECK_STR(out, "BOOTX64.EFI");
    size = ucs2("keel.efi a\r\nb", w); /* no terminator needed within size; line breaks are spaces */
    efiho_cmdline(w, size - 2, "keel.efi", out, sizeof out);
    CHECK_STR(out, "keel.efi a  b");
    size = ucs2("keel.efi 0123456789012345678901234567890123456789012345678901234567890123456789", w);
    efiho_cmdline(w, size, "keel.efi", out, 16); /* cut, terminated */
    CHECK_STR(out, "keel.efi 012345");
    efiho_cmdline(w, 3, "keel.efi", out, sizeof out); /* an odd byte count: the last half is ignored */
    CHECK_STR(out, "keel.efi k");
}

static void test_paths(void)
{
    uint16_t path[64], out[64];
    char name[32];
    ucs2("\\EFI\\keel\\keel.efi", path);
    CHECK_EQ(efiho_path_beside(path, "servers.cpio", out, 64), EFIHO_OK);
    ucs2("\\EFI\\keel\\servers.cpio", path);
    CHECK(memcmp(out, path, 22 * 2) == 0);
    ucs2("keel.efi", path); /* iPXE: the image's name alone */
    CHECK_EQ(efiho_path_beside(path, "site.cpio", out, 64), EFIHO_OK);
    ucs2("site.cpio", path);
    CHECK(memcmp(out, path, 10 * 2) == 0);
    CHECK_EQ(efiho_path_beside(NULL, "site.cpio", out, 64), EFIHO_OK);
    CHECK(memcmp(out, path, 10 * 2) == 0);
    ucs2("a/b/keel.efi", path); /* forward slashes become backslashes */
    CHECK_EQ(efiho_path_beside(path, "x", out, 64), EFIHO_OK);
    CHECK(out[1] == '\\' && out[3] == '\\' && out[4] == 'x' && out[5] == 0);
    CHECK_EQ(efiho_path_beside(path, "servers.cpio", out, 8), EFIHO_ERR_TOO_LONG);
    ucs2("\\EFI\\BOOT\\BOOTX64.EFI", path);
    efiho_basename(path, name, sizeof name);
    CHECK_STR(name, "BOOTX64.EFI");
    path[10] = 0x263a; /* not ASCII */
    efiho_basename(path, name, sizeof name);
    CHECK_STR(name, "?OOTX64.EFI");
    efiho_basename(NULL, name, sizeof name);
    CHECK_STR(name, "");
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_kernel_header_accepted),
        UNIT_TEST(test_kernel_header_refused),
        UNIT_TEST(test_memory_map_converted_and_merged),
        UNIT_TEST(test_memory_map_malformed),
        UNIT_TEST(test_command_line),
        UNIT_TEST(test_paths),
    };
    return unit_main("efi_handoff", tests, sizeof tests / sizeof tests[0]);
}
