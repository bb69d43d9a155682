/*
 * elf.c - validating parser for static ELF64 x86-64 executables (contract
 * and layouts in keel/elf.h).
 *
 * The file is untrusted and may sit at any alignment (a cpio member is only
 * 4-byte aligned), so headers are copied byte-wise into local structs before
 * any field is read; the host and guest are both little-endian, and the file
 * is checked to be ELFDATA2LSB before anything beyond e_ident is used.
 *
 * Order: identification, then the ELF header, then each program header in
 * table order (type policy, then the PT_LOAD checks, then order/overlap
 * against the previous PT_LOAD), then the entry point.  Range checks are
 * written "does x fit in what is left" so no sum of untrusted values can
 * wrap.  Nothing is produced for the caller that has not passed every check
 * of its own; the caller must still ignore *out on error.
 */
#include <keel/elf.h>

#include <stdbool.h>

static void copy_in(void *dst, const uint8_t *src, size_t n)
{
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = src[i];
}

static uint64_t page_down(uint64_t a) { return a & ~(ELF_PAGE_SIZE - 1); }
static uint64_t page_up(uint64_t a) { return page_down(a + ELF_PAGE_SIZE - 1); } /* a < ELF_USER_TOP: no wrap */

static int check_ident(const uint8_t *ident)
{
    if (ident[ELF_EI_MAG0] != 0x7f || ident[1] != 'E' || ident[2] != 'L' || ident[3] != 'F')
        return ELF_E_MAGIC;
    if (ident[ELF_EI_CLASS] != ELF_CLASS64)
        return ELF_E_CLASS;
    if (ident[ELF_EI_DATA] != ELF_DATA2LSB)
        return ELF_E_DATA;
    if (ident[ELF_EI_VERSION] != ELF_EV_CURRENT)
        return ELF_E_VERSION;
    if (ident[ELF_EI_OSABI] != ELF_OSABI_SYSV && ident[ELF_EI_OSABI] != ELF_OSABI_GNU)
        return ELF_E_OSABI;
    return 0;
}

static int check_header(const struct elf64_ehdr *eh, size_t len)
{
    int err = check_ident(eh->e_ident);
    if (err)
        return err;
    if (eh->e_version != ELF_EV_CURRENT)
        return ELF_E_VERSION;
    if (eh->e_type != ELF_ET_EXEC)
        return ELF_E_TYPE;
    if (eh->e_machine != ELF_EM_X86_64)
        return ELF_E_MACHINE;
    if (eh->e_ehsize != sizeof(struct elf64_ehdr) || eh->e_phentsize != sizeof(struct elf64_phdr) || eh->e_phnum == 0 ||
        eh->e_phnum == ELF_PN_XNUM)
        return ELF_E_HEADER;
    if (eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(struct elf64_phdr) > len - eh->e_phoff)
        return ELF_E_PHDRS;
    return 0;
}

/* Policy on the non-PT_LOAD types; everything not named here is ignored. */
static int check_type(const struct elf64_phdr *ph)
{
    switch (ph->p_type) {
    case ELF_PT_INTERP:
    case ELF_PT_DYNAMIC: return ELF_E_DYNAMIC;
    case ELF_PT_TLS: return ELF_E_TLS;
    case ELF_PT_GNU_STACK: return (ph->p_flags & ELF_PF_X) ? ELF_E_EXECSTACK : 0;
    default: return 0;
    }
}

/* One PT_LOAD segment on its own. */
static int check_load(const struct elf64_phdr *ph, size_t len)
{
    if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
        return ELF_E_SEG_BOUNDS;
    if (ph->p_filesz > ph->p_memsz)
        return ELF_E_SEG_SIZE;
    if (ph->p_vaddr < ELF_USER_LOW || ph->p_vaddr >= ELF_USER_TOP || ph->p_memsz > ELF_USER_TOP - ph->p_vaddr)
        return ELF_E_SEG_ADDR;
    uint64_t align = ph->p_align;
    if ((align & (align - 1)) != 0 || (align > 1 && (ph->p_vaddr & (align - 1)) != (ph->p_offset & (align - 1))))
        return ELF_E_SEG_ALIGN;
    if ((ph->p_flags & ELF_PF_W) && (ph->p_flags & ELF_PF_X))
        return ELF_E_SEG_WX;
    return 0;
}

/* Appends a checked PT_LOAD, which must start on a page after the previous one ends. */
static int add_segment(struct elf_image *img, const struct elf64_phdr *ph)
{
    if (ph->p_memsz == 0)
        return 0;
    if (img->nsegments > 0) {
        const struct elf_segment *prev = &img->segments[img->nsegments - 1];
        if (page_down(ph->p_vaddr) < page_up(prev->vaddr + prev->memsz))
            return ELF_E_SEG_OVERLAP;
    }
    if (img->nsegments == ELF_MAX_SEGMENTS)
        return ELF_E_TOO_MANY;
    img->segments[img->nsegments++] = (struct elf_segment){
        .vaddr = ph->p_vaddr,
        .memsz = ph->p_memsz,
        .offset = ph->p_offset,
        .filesz = ph->p_filesz,
        .flags = ph->p_flags & (ELF_PF_R | ELF_PF_W | ELF_PF_X),
    };
    return 0;
}

static int check_entry(const struct elf_image *img)
{
    for (size_t i = 0; i < img->nsegments; i++) {
        const struct elf_segment *s = &img->segments[i];
        if ((s->flags & ELF_PF_X) && img->entry >= s->vaddr && img->entry - s->vaddr < s->filesz)
            return 0;
    }
    return ELF_E_ENTRY;
}

int elf_parse(const void *file, size_t len, struct elf_image *out)
{
    if (!file || !out)
        return ELF_E_INVAL;
    const uint8_t *bytes = file;
    struct elf64_ehdr eh;
    if (len < sizeof eh)
        return ELF_E_SHORT;
    copy_in(&eh, bytes, sizeof eh);
    int err = check_header(&eh, len);
    if (err)
        return err;

    *out = (struct elf_image){ .entry = eh.e_entry, .nsegments = 0 };
    for (size_t i = 0; i < eh.e_phnum && !err; i++) {
        struct elf64_phdr ph;
        copy_in(&ph, bytes + eh.e_phoff + i * sizeof ph, sizeof ph);
        err = check_type(&ph);
        /* An empty PT_LOAD describes nothing (ld emits one for a PHDRS entry
         * no section landed in, at address 0): skip it. */
        if (!err && ph.p_type == ELF_PT_LOAD && ph.p_memsz != 0) {
            err = check_load(&ph, len);
            if (!err)
                err = add_segment(out, &ph);
        }
    }
    if (err)
        return err;
    if (out->nsegments == 0)
        return ELF_E_NO_LOAD;
    return check_entry(out);
}

const char *elf_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case ELF_E_INVAL: return "invalid argument";
    case ELF_E_SHORT: return "file too short for an ELF header";
    case ELF_E_MAGIC: return "not an ELF file";
    case ELF_E_CLASS: return "not ELF64";
    case ELF_E_DATA: return "not little-endian";
    case ELF_E_VERSION: return "unknown ELF version";
    case ELF_E_OSABI: return "unsupported OS ABI";
    case ELF_E_TYPE: return "not an executable (ET_EXEC)";
    case ELF_E_MACHINE: return "not x86-64";
    case ELF_E_HEADER: return "bad header or program header size/count";
    case ELF_E_PHDRS: return "program headers outside the file";
    case ELF_E_DYNAMIC: return "dynamically linked";
    case ELF_E_TLS: return "uses thread-local storage";
    case ELF_E_EXECSTACK: return "asks for an executable stack";
    case ELF_E_SEG_BOUNDS: return "segment outside the file";
    case ELF_E_SEG_SIZE: return "segment file size exceeds memory size";
    case ELF_E_SEG_ADDR: return "segment outside user space";
    case ELF_E_SEG_ALIGN: return "bad segment alignment";
    case ELF_E_SEG_OVERLAP: return "segments overlap or are out of order";
    case ELF_E_SEG_WX: return "segment both writable and executable";
    case ELF_E_TOO_MANY: return "too many loadable segments";
    case ELF_E_NO_LOAD: return "no loadable segment";
    case ELF_E_ENTRY: return "entry point outside executable code";
    default: return "unknown ELF error";
    }
}
