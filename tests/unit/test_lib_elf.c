/*
 * test_lib_elf.c - lib/elf.c on real executables built by gcc at test time
 * (static -nostdlib: accepted; glibc static: refused for TLS; PIE,
 * dynamic, exec-stack and RWX builds: refused), on an image crafted here
 * with every header field broken in turn, on every truncation, and on
 * random corruption.  Files under test sit in exact-size heap buffers so
 * ASan sees any read past the end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <keel/elf.h>

#include "unit.h"

/* ---------------------------------------------------- crafted image ---- */

#define IMG_LEN 0x3000

/*
 * A small valid executable: text R-X at 0x400000 (file 0..0x800), rodata R
 * at 0x401000 (file 0x1000..0x1100), data+bss RW at 0x402000 (file
 * 0x2000..0x2010, 0x3000 in memory), a GNU_STACK RW and a NOTE.
 */
struct image {
    struct elf64_ehdr eh;
    struct elf64_phdr ph[5];
    uint8_t rest[IMG_LEN - sizeof(struct elf64_ehdr) - 5 * sizeof(struct elf64_phdr)];
};
_Static_assert(sizeof(struct image) == IMG_LEN, "image layout");

static void craft(struct image *im)
{
    memset(im, 0, sizeof *im);
    memcpy(im->eh.e_ident,
           "\x7f"
           "ELF",
           4);
    im->eh.e_ident[ELF_EI_CLASS] = ELF_CLASS64;
    im->eh.e_ident[ELF_EI_DATA] = ELF_DATA2LSB;
    im->eh.e_ident[ELF_EI_VERSION] = ELF_EV_CURRENT;
    im->eh.e_type = ELF_ET_EXEC;
    im->eh.e_machine = ELF_EM_X86_64;
    im->eh.e_version = ELF_EV_CURRENT;
    im->eh.e_entry = 0x400100;
    im->eh.e_phoff = sizeof im->eh;
    im->eh.e_ehsize = sizeof im->eh;
    im->eh.e_phentsize = sizeof im->ph[0];
    im->eh.e_phnum = 5;
    im->ph[0] = (struct elf64_phdr){ ELF_PT_LOAD, ELF_PF_R | ELF_PF_X, 0, 0x400000, 0x400000, 0x800, 0x800, 0x1000 };
    im->ph[1] = (struct elf64_phdr){ ELF_PT_LOAD, ELF_PF_R, 0x1000, 0x401000, 0x401000, 0x100, 0x100, 0x1000 };
    im->ph[2] = (struct elf64_phdr){ ELF_PT_NOTE, ELF_PF_R, 0x200, 0x400200, 0x400200, 0x20, 0x20, 4 };
    im->ph[3] =
        (struct elf64_phdr){ ELF_PT_LOAD, ELF_PF_R | ELF_PF_W, 0x2000, 0x402000, 0x402000, 0x10, 0x3000, 0x1000 };
    im->ph[4] = (struct elf64_phdr){ ELF_PT_GNU_STACK, ELF_PF_R | ELF_PF_W, 0, 0, 0, 0, 0, 16 };
}

static uint8_t *exact_copy(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    return c;
}

static int parse_copy(const struct image *im, size_t len, struct elf_image *out)
{
    uint8_t *buf = exact_copy(im, len);
    int r = elf_parse(buf, len, out);
    free(buf);
    return r;
}

static struct image im;
static struct elf_image out;

/* The sample image (craft) with one EDIT made parses to RESULT (0 or an
 * ELF_E_*).  A macro, so a failure names the case's own line. */
#define CHECK_PARSE_AFTER(edit, result)                                                                                \
    do {                                                                                                               \
        craft(&im);                                                                                                    \
        edit;                                                                                                          \
        CHECK_EQ(parse_copy(&im, sizeof im, &out), result);                                                            \
    } while (0)

static void test_crafted_image_is_accepted(void)
{
    craft(&im);
    CHECK_EQ(parse_copy(&im, sizeof im, &out), 0);
    CHECK_EQ(out.entry, 0x400100);
    CHECK_EQ(out.nsegments, 3);
    CHECK_EQ(out.segments[0].vaddr, 0x400000);
    CHECK_EQ(out.segments[0].flags, ELF_PF_R | ELF_PF_X);
    CHECK_EQ(out.segments[1].flags, ELF_PF_R);
    CHECK_EQ(out.segments[2].vaddr, 0x402000);
    CHECK_EQ(out.segments[2].offset, 0x2000);
    CHECK_EQ(out.segments[2].filesz, 0x10);
    CHECK_EQ(out.segments[2].memsz, 0x3000);
    CHECK_EQ(out.segments[2].flags, ELF_PF_R | ELF_PF_W);
    /* Also when the file sits at an odd address (a cpio member is only 4-aligned). */
    uint8_t *odd = malloc(sizeof im + 1);
    memcpy(odd + 1, &im, sizeof im);
    CHECK_EQ(elf_parse(odd + 1, sizeof im, &out), 0);
    free(odd);
    /* GNU OS ABI is fine too; a zero-size PT_LOAD is skipped. */
    im.eh.e_ident[ELF_EI_OSABI] = ELF_OSABI_GNU;
    im.ph[2] = (struct elf64_phdr){ ELF_PT_LOAD, ELF_PF_R, 0x800, 0x401800, 0x401800, 0, 0, 0x1000 };
    CHECK_EQ(parse_copy(&im, sizeof im, &out), 0);
    CHECK_EQ(out.nsegments, 3);
}

static void test_identification_and_header(void)
{
    struct {
        size_t at;
        uint8_t value;
        int err;
    } const cases[] = {
        { 0, 0x7e, ELF_E_MAGIC },
        { 3, 'f', ELF_E_MAGIC },
        { ELF_EI_CLASS, 1, ELF_E_CLASS },
        { ELF_EI_DATA, 2, ELF_E_DATA },
        { ELF_EI_VERSION, 0, ELF_E_VERSION },
        { ELF_EI_OSABI, 9, ELF_E_OSABI },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        craft(&im);
        im.eh.e_ident[cases[i].at] = cases[i].value;
        CHECK_EQ(parse_copy(&im, sizeof im, &out), cases[i].err);
    }
    CHECK_PARSE_AFTER(im.eh.e_version = 2, ELF_E_VERSION);
    CHECK_PARSE_AFTER(im.eh.e_type = ELF_ET_DYN, ELF_E_TYPE);
    CHECK_PARSE_AFTER(im.eh.e_type = 1, ELF_E_TYPE);       /* ET_REL */
    CHECK_PARSE_AFTER(im.eh.e_machine = 3, ELF_E_MACHINE); /* EM_386 */
    CHECK_PARSE_AFTER(im.eh.e_ehsize = 52, ELF_E_HEADER);
    CHECK_PARSE_AFTER(im.eh.e_phentsize = 32, ELF_E_HEADER);
    CHECK_PARSE_AFTER(im.eh.e_phnum = 0, ELF_E_HEADER);
    CHECK_PARSE_AFTER(im.eh.e_phnum = ELF_PN_XNUM, ELF_E_HEADER);
    CHECK_PARSE_AFTER(im.eh.e_phoff = IMG_LEN - 100, ELF_E_PHDRS);  /* table runs off the end */
    CHECK_PARSE_AFTER(im.eh.e_phoff = UINT64_MAX - 8, ELF_E_PHDRS); /* would wrap */
    CHECK_PARSE_AFTER(im.eh.e_phnum = 0xfffe, ELF_E_PHDRS);
    CHECK_EQ(elf_parse(NULL, 100, &out), ELF_E_INVAL);
    CHECK_EQ(elf_parse(&im, sizeof im, NULL), ELF_E_INVAL);
}

static void test_segment_checks(void)
{
    CHECK_PARSE_AFTER(im.ph[3].p_filesz = 0x1001, ELF_E_SEG_BOUNDS);         /* 0x2000 + 0x1001 > IMG_LEN */
    CHECK_PARSE_AFTER(im.ph[3].p_offset = UINT64_MAX - 4, ELF_E_SEG_BOUNDS); /* offset + filesz would wrap */
    CHECK_PARSE_AFTER(im.ph[1].p_filesz = 0x101, ELF_E_SEG_SIZE);            /* filesz > memsz */
    CHECK_PARSE_AFTER(im.ph[3].p_vaddr = ELF_USER_TOP - 0x1000,
                      ELF_E_SEG_ADDR); /* vaddr + memsz crosses into the kernel half */
    CHECK_PARSE_AFTER(im.ph[3].p_vaddr = 0xffffffff80002000ull, ELF_E_SEG_ADDR); /* kernel address */
    craft(&im);
    im.ph[3].p_vaddr = 0x7ffffffff000ull;
    im.ph[3].p_memsz = UINT64_MAX - 0x100; /* wraps */
    im.ph[3].p_filesz = 0;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), ELF_E_SEG_ADDR);
    craft(&im);
    im.ph[0].p_vaddr = 0; /* page zero */
    im.eh.e_entry = 0x100;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), ELF_E_SEG_ADDR);
    CHECK_PARSE_AFTER(im.ph[1].p_align = 0x1800, ELF_E_SEG_ALIGN);   /* not a power of two */
    CHECK_PARSE_AFTER(im.ph[1].p_vaddr = 0x401010, ELF_E_SEG_ALIGN); /* vaddr != offset mod align */
    craft(&im);
    im.ph[1].p_vaddr = 0x401010; /* ...which is fine with a small alignment */
    im.ph[1].p_align = 16;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), 0);
    CHECK_PARSE_AFTER(im.ph[3].p_flags = ELF_PF_R | ELF_PF_W | ELF_PF_X, ELF_E_SEG_WX);
    CHECK_PARSE_AFTER(im.ph[0].p_flags = ELF_PF_W | ELF_PF_X, ELF_E_SEG_WX);
}

static void test_overlap_and_order(void)
{
    craft(&im);
    im.ph[1].p_vaddr = 0x400000 + 0x800; /* same page as the text's end */
    im.ph[1].p_offset = 0x800;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), ELF_E_SEG_OVERLAP);
    craft(&im);
    im.ph[1].p_vaddr = 0x400000; /* the same range */
    im.ph[1].p_offset = 0;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), ELF_E_SEG_OVERLAP);
    craft(&im);
    struct elf64_phdr t = im.ph[0]; /* descending order */
    im.ph[0] = im.ph[1];
    im.ph[1] = t;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), ELF_E_SEG_OVERLAP);
    craft(&im);
    im.ph[1].p_memsz = 0x1001; /* rodata's last byte lands on data's first page */
    im.ph[1].p_filesz = 0x100;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), ELF_E_SEG_OVERLAP);
    CHECK_PARSE_AFTER(im.ph[1].p_memsz = 0x1000, 0); /* exactly up to it is fine */
}

static void test_program_header_policy(void)
{
    CHECK_PARSE_AFTER(im.ph[2].p_type = ELF_PT_INTERP, ELF_E_DYNAMIC);
    CHECK_PARSE_AFTER(im.ph[2].p_type = ELF_PT_DYNAMIC, ELF_E_DYNAMIC);
    CHECK_PARSE_AFTER(im.ph[2].p_type = ELF_PT_TLS, ELF_E_TLS);
    CHECK_PARSE_AFTER(im.ph[4].p_flags |= ELF_PF_X, ELF_E_EXECSTACK);
    craft(&im);
    for (int i = 0; i < 5; i++)
        if (im.ph[i].p_type == ELF_PT_LOAD)
            im.ph[i].p_type = ELF_PT_NOTE;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), ELF_E_NO_LOAD);
}

static void test_entry_point(void)
{
    CHECK_PARSE_AFTER(im.eh.e_entry = 0x401010, ELF_E_ENTRY); /* in rodata: not executable */
    CHECK_PARSE_AFTER(im.eh.e_entry = 0x400800, ELF_E_ENTRY); /* one past the text */
    CHECK_PARSE_AFTER(im.eh.e_entry = 0x4007ff, 0);
    craft(&im);
    im.ph[0].p_memsz = 0x1000; /* entry in the zero-filled tail of the text */
    im.eh.e_entry = 0x400900;
    CHECK_EQ(parse_copy(&im, sizeof im, &out), ELF_E_ENTRY);
}

static void test_too_many_segments(void)
{
    static uint8_t file[sizeof(struct elf64_ehdr) + 20 * sizeof(struct elf64_phdr)];
    craft(&im);
    struct elf64_ehdr eh = im.eh;
    eh.e_phnum = ELF_MAX_SEGMENTS + 1;
    memcpy(file, &eh, sizeof eh);
    for (int i = 0; i < ELF_MAX_SEGMENTS + 1; i++) {
        struct elf64_phdr ph = { ELF_PT_LOAD, ELF_PF_R | ELF_PF_X, 0, 0x400000 + (uint64_t)i * 0x1000, 0, 0x10, 0x10,
                                 0x1000 };
        memcpy(file + sizeof eh + (size_t)i * sizeof ph, &ph, sizeof ph);
    }
    eh.e_entry = 0x400000;
    memcpy(file, &eh, sizeof eh);
    CHECK_EQ(elf_parse(file, sizeof file, &out), ELF_E_TOO_MANY);
    eh.e_phnum = ELF_MAX_SEGMENTS;
    memcpy(file, &eh, sizeof eh);
    CHECK_EQ(elf_parse(file, sizeof file, &out), 0);
    CHECK_EQ(out.nsegments, ELF_MAX_SEGMENTS);
}

static void test_truncations(void)
{
    craft(&im);
    for (size_t len = 0; len < sizeof im; len++) {
        int r = parse_copy(&im, len, &out);
        if (len < sizeof im.eh)
            CHECK_EQ(r, ELF_E_SHORT);
        else if (len < sizeof im.eh + sizeof im.ph)
            CHECK_EQ(r, ELF_E_PHDRS);
        else if (len < 0x2010) /* the data segment's file bytes end at 0x2010 */
            CHECK_EQ(r, ELF_E_SEG_BOUNDS);
        else
            CHECK_EQ(r, 0);
    }
}

static uint64_t rng_state = 0xbb67ae8584caa73bull;

static uint64_t rng(void) { return unit_xorshift64(&rng_state); }

static void test_random_corruption(void)
{
    int accepted = 0, refused = 0;
    for (int i = 0; i < 50000; i++) {
        craft(&im);
        uint8_t *raw = (uint8_t *)&im;
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++) /* aim at the headers, where the meaning is */
            raw[rng() % (sizeof im.eh + sizeof im.ph)] = (uint8_t)rng();
        int r = parse_copy(&im, sizeof im, &out);
        if (r < 0) {
            refused++;
            continue;
        }
        accepted++;
        /* Whatever is accepted must satisfy the contract. */
        CHECK(out.nsegments >= 1 && out.nsegments <= ELF_MAX_SEGMENTS);
        for (size_t s = 0; s < out.nsegments; s++) {
            const struct elf_segment *g = &out.segments[s];
            CHECK(g->offset + g->filesz <= sizeof im);
            CHECK(g->filesz <= g->memsz);
            CHECK(g->vaddr >= ELF_USER_LOW && g->vaddr + g->memsz <= ELF_USER_TOP);
            CHECK(!((g->flags & ELF_PF_W) && (g->flags & ELF_PF_X)));
            if (s)
                CHECK(g->vaddr >= out.segments[s - 1].vaddr + out.segments[s - 1].memsz);
        }
    }
    CHECK(accepted > 0);
    CHECK(refused > 0);
}

static void test_strerror(void)
{
    const char *unknown = elf_strerror(-1000);
    for (int e = 0; e >= ELF_E_ENTRY; e--) {
        CHECK(elf_strerror(e) != NULL);
        CHECK(strcmp(elf_strerror(e), unknown) != 0);
    }
}

/* --------------------------------------------- real gcc executables ---- */

static char tmpdir[64];

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (fread(buf, 1, *len, f) != *len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Builds tmpdir/prog.c with extra gcc flags and parses the result; returns elf_parse's value. */
static int build_and_parse(const char *flags, struct elf_image *img, bool *built)
{
    char cmd[512], path[128];
    snprintf(cmd, sizeof cmd, "cd %s && rm -f prog && gcc -O2 %s -o prog prog.c 2>/dev/null", tmpdir, flags);
    *built = system(cmd) == 0;
    snprintf(path, sizeof path, "%s/prog", tmpdir);
    size_t len = 0;
    uint8_t *buf = *built ? read_file(path, &len) : NULL;
    if (!buf) {
        *built = false;
        return 1;
    }
    int r = elf_parse(buf, len, img);
    free(buf);
    return r;
}

static const char freestanding_prog[] = "static int counter = 5;\n"
                                        "static const char msg[] = \"keel\";\n"
                                        "int bss_words[1000];\n"
                                        "void _start(void)\n"
                                        "{\n"
                                        "    counter += msg[0] + bss_words[3];\n"
                                        "    for (;;)\n"
                                        "        __asm__ volatile(\"hlt\");\n"
                                        "}\n";

static const char hosted_prog[] = "int main(void) { return 0; }\n";

static void write_prog(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/prog.c", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_real_gcc_executables(void)
{
    struct elf_image img;
    bool built;
    strcpy(tmpdir, "/tmp/keel-elf-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);

    /* What a Keel server looks like: static, no libc, not PIE. */
    write_prog(freestanding_prog);
    int r = build_and_parse("-static -nostdlib -fno-pie -no-pie", &img, &built);
    CHECK(built);
    CHECK_EQ(r, 0);
    if (r == 0) {
        CHECK(img.nsegments >= 2);
        bool text = false, data = false;
        for (size_t i = 0; i < img.nsegments; i++) {
            text |= (img.segments[i].flags & ELF_PF_X) && img.entry >= img.segments[i].vaddr &&
                    img.entry < img.segments[i].vaddr + img.segments[i].filesz;
            data |= (img.segments[i].flags & ELF_PF_W) && img.segments[i].memsz >= 4000; /* .bss */
        }
        CHECK(text);
        CHECK(data);
    }
    CHECK_EQ(build_and_parse("-static -nostdlib -fno-pie -no-pie -z max-page-size=0x200000", &img, &built), 0);
    CHECK(built);
    CHECK_EQ(build_and_parse("-static -nostdlib -fno-pie -no-pie -z execstack", &img, &built), ELF_E_EXECSTACK);
    CHECK_EQ(build_and_parse("-static -nostdlib -fno-pie -no-pie -Wl,--omagic", &img, &built), ELF_E_SEG_WX);
    CHECK_EQ(build_and_parse("-nostdlib -fpie -pie", &img, &built), ELF_E_TYPE);
    CHECK_EQ(build_and_parse("-c", &img, &built), ELF_E_TYPE); /* a relocatable object */

    /* Hosted builds: dynamic ones ask for an interpreter; static glibc uses TLS. */
    write_prog(hosted_prog);
    CHECK_EQ(build_and_parse("-fno-pie -no-pie", &img, &built), ELF_E_DYNAMIC);
    r = build_and_parse("-static -fno-pie -no-pie", &img, &built);
    if (built) /* needs libc.a; skip quietly without it */
        CHECK_EQ(r, ELF_E_TLS);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_crafted_image_is_accepted),
        UNIT_TEST(test_identification_and_header),
        UNIT_TEST(test_segment_checks),
        UNIT_TEST(test_overlap_and_order),
        UNIT_TEST(test_program_header_policy),
        UNIT_TEST(test_entry_point),
        UNIT_TEST(test_too_many_segments),
        UNIT_TEST(test_truncations),
        UNIT_TEST(test_random_corruption),
        UNIT_TEST(test_strerror),
        UNIT_TEST(test_real_gcc_executables),
    };
    return unit_main("lib_elf", tests, (int)(sizeof tests / sizeof tests[0]));
}
