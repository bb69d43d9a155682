/*
 * efistub.c - keel.efi: the kernel's UEFI entry (a PE32+ EFI application).
 *
 * keel.efi carries the same flat kernel image as the multiboot file `keel`
 * (kernel_image.S includes it).  Started by firmware, a UEFI shell or iPXE's
 * UEFI build, efi_main
 *   1. checks the kernel image's header (efiho_kimage_parse) and reserves
 *      its physical home (load address .. end of bss, below 1 GiB);
 *   2. reads the two boot modules, servers.cpio and site.cpio, through the
 *      simple file system of the device it was loaded from: iPXE's UEFI
 *      build installs one that holds every image the script fetched, by
 *      name; a disk's is the ESP, and the modules are looked for beside
 *      keel.efi.  A module that cannot be read is one console line, and the
 *      kernel boots without it (init then says what is missing, as on the
 *      BIOS path);
 *   3. builds a struct keel_handoff (handoff.h) below 1 GiB: the command
 *      line from the load options, the modules, and the ACPI RSDP from the
 *      configuration table;
 *   4. takes the memory map, leaves boot services, converts the map into
 *      the handoff and jumps to the kernel's _start64 (boot.S).
 *
 * Context: firmware boot services until step 4, then nothing: after
 * ExitBootServices no firmware call is made and interrupts stay off; a
 * failure there is reported on COM1 directly.  All console text goes
 * through ConOut before that (OVMF and real servers mirror it to serial).
 *
 * Built freestanding, position-independent and with no run-time relocation
 * (the Makefile checks that the linked ELF has none), then turned into
 * PE32+ by objcopy.  Memory it allocates is EfiLoaderData (the kernel's own
 * pages EfiLoaderCode), which the handoff's map reports as available: the
 * kernel copies the handoff before its frame allocator starts and keeps its
 * image's and the modules' pages out of it.
 */
#include <stdarg.h>
#include <stdbool.h>

#include "efi.h"
#include "efi_handoff.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "unknown"
#endif

#define MAX_PATH        256
#define MODULE_MAX_SIZE (512ull << 20)
#define HANDOFF_PAGES   4
#define MMAP_MAX        200 /* converted entries the handoff page holds */
#define CR4_LA57        (1ull << 12)

extern const uint8_t kernel_image_start[] __attribute__((visibility("hidden")));
extern const uint8_t kernel_image_end[] __attribute__((visibility("hidden")));

/* The modules keel.efi looks for, in the order the kernel lists them, and
 * the role each one's command line gives it (as boot.ipxe's `module` lines
 * do on the BIOS path). */
static const struct {
    char file[16];
    char role[8];
} modules[] = { { "servers.cpio", "servers" }, { "site.cpio", "site" } };
#define N_MODULES (sizeof modules / sizeof modules[0])

/* Laid out in the handoff pages (below 1 GiB, identity-mapped). */
struct handoff_pages {
    struct keel_handoff h;
    struct mb_module mods[N_MODULES];
    char mod_lines[N_MODULES][32];
    char cmdline[BOOT_CMDLINE_MAX];
    struct mb_mmap_entry mmap[MMAP_MAX];
};
_Static_assert(sizeof(struct handoff_pages) <= HANDOFF_PAGES * 4096, "handoff fits its pages");

static struct efi_system_table *ST;
static struct efi_boot_services *BS;

static const struct efi_guid loaded_image_guid = {
    0x5b1b31a1, 0x9562, 0x11d2, { 0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b }
};
static const struct efi_guid simple_fs_guid = {
    0x964e5b22, 0x6459, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b }
};
static const struct efi_guid file_info_guid = {
    0x09576e92, 0x6d3f, 0x11d2, { 0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b }
};
static const struct efi_guid acpi20_guid = {
    0x8868e871, 0xe4f1, 0x11d3, { 0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81 }
};
static const struct efi_guid acpi10_guid = {
    0xeb9d2d30, 0x2d88, 0x11d3, { 0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d }
};

/* The compiler may call these for struct copies and zeroing. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}
void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}

static bool guid_eq(const struct efi_guid *a, const struct efi_guid *b)
{
    const uint8_t *x = (const void *)a, *y = (const void *)b;
    for (size_t i = 0; i < sizeof *a; i++)
        if (x[i] != y[i])
            return false;
    return true;
}

/* ------------------------------------------------------------ console ---- */

/* Output after ExitBootServices: COM1, polled (bounded wait per byte). */
static void com1_putc(char c)
{
    for (int i = 0; i < 100000; i++) {
        uint8_t lsr;
        __asm__ volatile("inb %1, %0" : "=a"(lsr) : "Nd"((uint16_t)0x3fd));
        if (lsr & 0x20)
            break;
    }
    __asm__ volatile("outb %0, %1" : : "a"(c), "Nd"((uint16_t)0x3f8));
}

static bool boot_services_gone;

static void put_text(const char *s)
{
    if (boot_services_gone) {
        for (; *s; s++) {
            if (*s == '\n')
                com1_putc('\r');
            com1_putc(*s);
        }
        return;
    }
    char16 buf[128];
    size_t n = 0;
    for (; *s; s++) {
        if (n + 3 >= sizeof buf / sizeof buf[0]) {
            buf[n] = 0;
            ST->con_out->output_string(ST->con_out, buf);
            n = 0;
        }
        if (*s == '\n')
            buf[n++] = '\r';
        buf[n++] = (unsigned char)*s;
    }
    buf[n] = 0;
    ST->con_out->output_string(ST->con_out, buf);
}

static void put_num(char *out, uint64_t v, unsigned base)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    int o = 0;
    while (n)
        out[o++] = tmp[--n];
    out[o] = '\0';
}

/* say("..."): %s (ASCII string), %u (uint64_t, decimal), %x (uint64_t,
 * hex).  Always 64-bit numbers, so every caller casts. */
static void say(const char *fmt, ...)
{
    char line[256];
    size_t o = 0;
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f && o + 1 < sizeof line; f++) {
        char num[24];
        const char *piece = num;
        if (*f != '%' || !f[1]) {
            line[o++] = *f;
            continue;
        }
        f++;
        if (*f == 's')
            piece = va_arg(ap, const char *);
        else if (*f == 'u' || *f == 'x')
            put_num(num, va_arg(ap, uint64_t), *f == 'u' ? 10 : 16);
        else
            piece = "%?";
        while (*piece && o + 1 < sizeof line)
            line[o++] = *piece++;
    }
    va_end(ap);
    line[o] = '\0';
    put_text(line);
}

static const char *status_name(efi_status s)
{
    switch (s) {
    case EFI_SUCCESS: return "success";
    case EFI_LOAD_ERROR: return "EFI_LOAD_ERROR";
    case EFI_INVALID_PARAMETER: return "EFI_INVALID_PARAMETER";
    case EFI_UNSUPPORTED: return "EFI_UNSUPPORTED";
    case EFI_BUFFER_TOO_SMALL: return "EFI_BUFFER_TOO_SMALL";
    case EFI_OUT_OF_RESOURCES: return "EFI_OUT_OF_RESOURCES";
    case EFI_NOT_FOUND: return "EFI_NOT_FOUND";
    default: return "EFI error";
    }
}

/* ------------------------------------------------------- image and files ---- */

/* The image's own file path: the media file path nodes of the loaded
 * image's FilePath, concatenated (a disk gives "\EFI\BOOT\BOOTX64.EFI",
 * iPXE the image's name).  Empty when there is none. */
static void image_path(const struct efi_loaded_image *li, char16 *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    const uint8_t *p = (const void *)li->file_path;
    for (int guard = 0; p && guard < 64; guard++) {
        const struct efi_device_path *dp = (const void *)p;
        size_t len = dp->length[0] | dp->length[1] << 8;
        if (dp->type == EFI_DP_TYPE_END || len < sizeof *dp)
            break;
        if (dp->type == EFI_DP_TYPE_MEDIA && dp->subtype == EFI_DP_SUBTYPE_FILE) {
            const uint8_t *name = p + sizeof *dp;
            if (o && out[o - 1] != '\\' && len > sizeof *dp + 1 && name[0] != '\\' && o + 1 < cap)
                out[o++] = '\\';
            for (size_t i = 0; i + 1 < len - sizeof *dp && o + 1 < cap; i += 2) {
                char16 c = (char16)(name[i] | name[i + 1] << 8);
                if (!c)
                    break;
                out[o++] = c;
            }
            out[o] = 0;
        }
        p += len;
    }
}

/* Opens the root directory of the file system keel.efi came from. */
static efi_status open_root(const struct efi_loaded_image *li, struct efi_file **root)
{
    struct efi_simple_file_system *fs;
    efi_status st = BS->handle_protocol(li->device_handle, &simple_fs_guid, (void **)&fs);
    if (st != EFI_SUCCESS)
        return st;
    return fs->open_volume(fs, root);
}

/* Reads a whole file into pages below 1 GiB.  Returns NULL with *phys,
 * *size set, or why it could not (nothing is left allocated then). */
static const char *read_file(struct efi_file *root, const char16 *path, uint64_t *phys, uint64_t *size)
{
    struct efi_file *f;
    efi_status st = root->open(root, &f, path, EFI_FILE_MODE_READ, 0);
    if (st != EFI_SUCCESS)
        return st == EFI_NOT_FOUND ? "not found (EFI_NOT_FOUND)" : status_name(st);
    uint64_t info_buf[64];
    uint64_t info_size = sizeof info_buf;
    const struct efi_file_info *info = (const void *)info_buf;
    const char *why = 0;
    st = f->get_info(f, &file_info_guid, &info_size, info_buf);
    if (st != EFI_SUCCESS)
        why = "its size is unknown (GetInfo failed)";
    else if (info->attribute & EFI_FILE_DIRECTORY)
        why = "it is a directory";
    else if (info->file_size == 0)
        why = "it is empty";
    else if (info->file_size > MODULE_MAX_SIZE)
        why = "it is larger than 512 MiB";
    uint64_t pages = why ? 0 : (info->file_size + 4095) / 4096;
    uint64_t addr = (1ull << 30) - 1;
    if (!why && BS->allocate_pages(EFI_ALLOCATE_MAX_ADDRESS, EFI_LOADER_DATA, pages, &addr) != EFI_SUCCESS) {
        why = "no memory below 1 GiB for it";
        pages = 0;
    }
    for (uint64_t done = 0; !why && done < info->file_size;) {
        uint64_t n = info->file_size - done;
        st = f->read(f, &n, (void *)(uintptr_t)(addr + done));
        if (st != EFI_SUCCESS || n == 0)
            why = st != EFI_SUCCESS ? "reading it failed" : "it is shorter than its size says";
        done += n;
    }
    if (why && pages)
        BS->free_pages(addr, pages);
    f->close(f);
    if (!why) {
        *phys = addr;
        *size = info->file_size;
    }
    return why;
}

/* Loads the modules into the handoff; a missing one is a line, not a stop. */
static void load_modules(const struct efi_loaded_image *li, const char16 *self, const char *self_name,
                         struct handoff_pages *hp)
{
    struct efi_file *root = 0;
    efi_status st = open_root(li, &root);
    if (st != EFI_SUCCESS) {
        say("keel: efi: no file system on the device %s came from (%s); booting without modules\n", self_name,
            status_name(st));
        return;
    }
    uint32_t n = 0;
    for (size_t i = 0; i < N_MODULES; i++) {
        char16 path[MAX_PATH];
        uint64_t phys = 0, size = 0;
        if (efiho_path_beside(self, modules[i].file, path, MAX_PATH) != EFIHO_OK) {
            say("keel: efi: %s: the path beside %s is too long; booting without it\n", modules[i].file, self_name);
            continue;
        }
        const char *why = read_file(root, path, &phys, &size);
        if (why) {
            say("keel: efi: module %s beside %s: %s; booting without it\n", modules[i].file, self_name, why);
            continue;
        }
        say("keel: efi: module %s: %u bytes at 0x%x\n", modules[i].file, size, phys);
        char *line = hp->mod_lines[n];
        size_t o = 0;
        for (const char *s = modules[i].file; *s; s++)
            line[o++] = *s;
        line[o++] = ' ';
        for (const char *s = modules[i].role; *s; s++)
            line[o++] = *s;
        line[o] = '\0';
        hp->mods[n] = (struct mb_module){ .mod_start = (uint32_t)phys,
                                          .mod_end = (uint32_t)(phys + size),
                                          .string = (uint32_t)(uintptr_t)line };
        n++;
    }
    root->close(root);
    hp->h.mbi.mods_count = n;
    hp->h.mbi.mods_addr = (uint32_t)(uintptr_t)hp->mods;
    hp->h.mbi.flags |= MBI_FLAG_MODS;
}

static uint64_t find_rsdp(void)
{
    uint64_t v1 = 0;
    for (uint64_t i = 0; i < ST->number_of_table_entries; i++) {
        const struct efi_configuration_table *t = &ST->configuration_table[i];
        if (guid_eq(&t->vendor_guid, &acpi20_guid))
            return (uint64_t)(uintptr_t)t->vendor_table;
        if (guid_eq(&t->vendor_guid, &acpi10_guid))
            v1 = (uint64_t)(uintptr_t)t->vendor_table;
    }
    return v1;
}

/* Reserves the kernel's physical home and copies the image there. */
static efi_status place_kernel(const struct kimage_layout *k)
{
    uint64_t addr = k->load_addr, pages = (k->mem_size + 4095) / 4096;
    /* EfiLoaderCode: firmware that maps data pages no-execute (edk2's NX
     * memory protection) still lets _start64 run from these. */
    efi_status st = BS->allocate_pages(EFI_ALLOCATE_ADDRESS, EFI_LOADER_CODE, pages, &addr);
    if (st != EFI_SUCCESS) {
        say("keel: efi: memory 0x%x-0x%x, where the kernel runs, is not free (%s)\n", k->load_addr,
            k->load_addr + k->mem_size - 1, status_name(st));
        return st;
    }
    memcpy((void *)(uintptr_t)addr, kernel_image_start, k->file_size);
    memset((void *)(uintptr_t)(addr + k->file_size), 0, k->mem_size - k->file_size);
    return EFI_SUCCESS;
}

/* --------------------------------------------------------- leaving ---- */

static uint64_t read_cr4(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}

/* Gets the final memory map into `map` (room for `cap` bytes) and leaves
 * boot services.  A map that changed between the two calls is fetched
 * again (no allocation is allowed in between, hence the preallocated
 * buffer).  Returns EFI_SUCCESS with boot services gone, or the status. */
static efi_status leave_boot_services(efi_handle image, void *map, uint64_t cap, uint64_t *map_size,
                                      uint64_t *desc_size)
{
    efi_status st = EFI_LOAD_ERROR;
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t key;
        uint32_t version;
        *map_size = cap;
        st = BS->get_memory_map(map_size, map, &key, desc_size, &version);
        if (st != EFI_SUCCESS)
            return st;
        st = BS->exit_boot_services(image, key);
        if (st == EFI_SUCCESS)
            return st;
    }
    return st;
}

/* Allocates the buffer for the final memory map: the current size plus room
 * for the descriptors that allocating it (and later calls) may add. */
static efi_status alloc_map_buffer(void **map, uint64_t *cap)
{
    uint64_t size = 0, key, desc_size = sizeof(struct efi_memory_descriptor);
    uint32_t version;
    efi_status st = BS->get_memory_map(&size, 0, &key, &desc_size, &version);
    if (st != EFI_BUFFER_TOO_SMALL && st != EFI_SUCCESS)
        return st;
    *cap = size + 32 * desc_size;
    return BS->allocate_pool(EFI_LOADER_DATA, *cap, map);
}

static __attribute__((noreturn)) void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* Gives back what build_handoff and load_modules allocated (an error path:
 * keel.efi returns to its loader). */
static void free_handoff(struct handoff_pages *hp)
{
    for (uint32_t i = 0; i < hp->h.mbi.mods_count; i++)
        BS->free_pages(hp->mods[i].mod_start, (hp->mods[i].mod_end - hp->mods[i].mod_start + 4095) / 4096);
    BS->free_pages((uint64_t)(uintptr_t)hp, HANDOFF_PAGES);
}

/* The handoff pages with everything but the memory map: the command line,
 * the RSDP and the modules.  Returns EFI_SUCCESS and *out, or the status of
 * the call that failed (its line printed, nothing left allocated). */
static efi_status build_handoff(efi_handle image, struct handoff_pages **out)
{
    struct efi_loaded_image *li;
    efi_status s = BS->handle_protocol(image, &loaded_image_guid, (void **)&li);
    if (s != EFI_SUCCESS) {
        say("keel: efi: no loaded-image protocol (%s)\n", status_name(s));
        return s;
    }
    char16 self[MAX_PATH];
    char self_name[64];
    image_path(li, self, MAX_PATH);
    efiho_basename(self, self_name, sizeof self_name);
    if (!self_name[0])
        memcpy(self_name, "keel.efi", 9);

    uint64_t hp_phys = (1ull << 30) - 1;
    s = BS->allocate_pages(EFI_ALLOCATE_MAX_ADDRESS, EFI_LOADER_DATA, HANDOFF_PAGES, &hp_phys);
    if (s != EFI_SUCCESS) {
        say("keel: efi: no memory below 1 GiB for the boot information (%s)\n", status_name(s));
        return s;
    }
    struct handoff_pages *hp = (void *)(uintptr_t)hp_phys;
    memset(hp, 0, sizeof *hp);
    hp->h.version = KEEL_HANDOFF_VERSION;
    memcpy(hp->h.loader, "keel.efi (UEFI)", 16);
    efiho_cmdline(li->load_options, li->load_options_size, self_name, hp->cmdline, sizeof hp->cmdline);
    hp->h.mbi.flags = MBI_FLAG_CMDLINE;
    hp->h.mbi.cmdline = (uint32_t)(uintptr_t)hp->cmdline;
    hp->h.rsdp_phys = find_rsdp();
    say("keel: efi: command line \"%s\", ACPI RSDP at 0x%x\n", hp->cmdline, hp->h.rsdp_phys);
    /* The other cores start in real mode: their trampoline needs a page
     * below 1 MiB that no module or firmware data lies on (kernel smp.c). */
    uint64_t tramp = 0x9ffff;
    if (BS->allocate_pages(EFI_ALLOCATE_MAX_ADDRESS, EFI_LOADER_DATA, 1, &tramp) == EFI_SUCCESS && tramp >= 0x1000)
        hp->h.ap_trampoline_phys = tramp;
    else
        say("keel: efi: no free page below 1 MiB; the kernel will use one core\n");
    load_modules(li, self, self_name, hp);
    *out = hp;
    return EFI_SUCCESS;
}

/* After ExitBootServices: the memory map into the handoff, then the kernel.
 * No firmware call from here on; a failure is a COM1 line and a halt. */
static __attribute__((noreturn)) void enter_kernel(struct handoff_pages *hp, const void *map, uint64_t map_size,
                                                   uint64_t desc_size, uint64_t entry64)
{
    __asm__ volatile("cli");
    boot_services_gone = true;
    uint32_t n = 0;
    int err = efiho_mmap_convert(map, map_size, desc_size, hp->mmap, MMAP_MAX, &n);
    if (err || n == 0) {
        say("keel: efi: %s; halting\n", err ? efiho_strerror(err) : "the memory map is empty");
        halt_forever();
    }
    hp->h.mbi.flags |= MBI_FLAG_MMAP;
    hp->h.mbi.mmap_addr = (uint32_t)(uintptr_t)hp->mmap;
    hp->h.mbi.mmap_length = n * (uint32_t)sizeof(struct mb_mmap_entry);
    void (*entry)(uint64_t magic, uint64_t info) = (void (*)(uint64_t, uint64_t))(uintptr_t)entry64;
    entry(KEEL_EFI_LOADER_MAGIC, (uint64_t)(uintptr_t)hp);
    halt_forever();
}

efi_status EFIAPI efi_main(efi_handle image, struct efi_system_table *st);
efi_status EFIAPI efi_main(efi_handle image, struct efi_system_table *st)
{
    ST = st;
    BS = st->boot_services;
    say("keel: efi: Keel %s EFI entry\n", KEEL_VERSION);
    BS->set_watchdog_timer(0, 0, 0, 0);

    struct kimage_layout k;
    int err = efiho_kimage_parse(kernel_image_start, (size_t)(kernel_image_end - kernel_image_start), &k);
    if (err) {
        say("keel: efi: the kernel inside keel.efi is unusable: %s\n", efiho_strerror(err));
        return EFI_LOAD_ERROR;
    }
    if (read_cr4() & CR4_LA57) {
        say("keel: efi: the firmware runs 5-level paging; Keel's entry needs 4-level\n");
        return EFI_UNSUPPORTED;
    }
    struct handoff_pages *hp;
    efi_status s = build_handoff(image, &hp);
    if (s != EFI_SUCCESS)
        return s;
    s = place_kernel(&k);
    if (s != EFI_SUCCESS)
        goto err_handoff;
    void *map;
    uint64_t cap, map_size, desc_size;
    s = alloc_map_buffer(&map, &cap);
    if (s != EFI_SUCCESS) {
        say("keel: efi: cannot read the memory map (%s)\n", status_name(s));
        goto err_kernel;
    }
    say("keel: efi: leaving boot services; entering the kernel at 0x%x\n", k.entry64);
    s = leave_boot_services(image, map, cap, &map_size, &desc_size);
    if (s != EFI_SUCCESS) {
        /* Only GetMemoryMap and ExitBootServices may follow a failed exit:
         * nothing can be freed, and the console may be gone. */
        say("keel: efi: ExitBootServices failed (%s)\n", status_name(s));
        return s;
    }
    /* point of no return: the firmware's services are gone */
    enter_kernel(hp, map, map_size, desc_size, k.entry64);

err_kernel:
    BS->free_pages(k.load_addr, (k.mem_size + 4095) / 4096);
err_handoff:
    free_handoff(hp);
    return s;
}
