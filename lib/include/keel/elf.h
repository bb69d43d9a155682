/*
 * keel/elf.h - validating parser for the static ELF64 x86-64 executables
 * Keel loads as servers.
 *
 * elf_parse() takes a whole file in memory (typically a cpio_find() result),
 * trusts none of it, and either refuses it with one error code or returns
 * the entry point and the PT_LOAD segments a loader must map.  What is
 * accepted:
 *
 *   - ELFCLASS64, ELFDATA2LSB, EV_CURRENT, OS ABI System V or GNU, ET_EXEC,
 *     EM_X86_64, with header and program-header sizes as the spec gives;
 *   - no PT_INTERP or PT_DYNAMIC (static only), no PT_TLS (the loader sets
 *     up no thread-local storage), no PT_GNU_STACK asking for an executable
 *     stack;
 *   - 1..ELF_MAX_SEGMENTS PT_LOAD segments, each: bytes inside the file
 *     (p_offset + p_filesz), p_filesz <= p_memsz, [p_vaddr, p_vaddr+p_memsz)
 *     inside [ELF_USER_LOW, ELF_USER_TOP) without wrapping, p_align 0 or a
 *     power of two with p_vaddr == p_offset modulo p_align, and never both
 *     writable and executable (W^X);
 *   - segments in ascending p_vaddr order (as the gABI requires) and not
 *     sharing any 4 KiB page, since permissions are per page;
 *   - the entry point inside the file-backed part of an executable segment.
 *
 * PT_LOAD segments with p_memsz 0 are skipped; other program header types
 * (PT_NOTE, PT_PHDR, PT_GNU_*, ...) are ignored.  Section headers are never
 * read.  Pure code: no globals, no allocation; results are copies, not
 * pointers into the file.
 */
#ifndef KEEL_LIB_ELF_H
#define KEEL_LIB_ELF_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------
 * Layouts, from the System V ABI generic spec ("gABI", chapter 4 "ELF Header"
 * and chapter 5 "Program Header") and "ELF-64 Object File Format" v1.5
 * (figure 2, ELF-64 header; figure 6, program header entry).  All fields are
 * little-endian here (ELFDATA2LSB, checked).
 * ------------------------------------------------------------------------ */

/* e_ident[] indices and values (gABI 4, "ELF Identification"). */
#define ELF_EI_MAG0    0
#define ELF_EI_CLASS   4
#define ELF_EI_DATA    5
#define ELF_EI_VERSION 6
#define ELF_EI_OSABI   7
#define ELF_EI_NIDENT  16
#define ELF_CLASS64    2
#define ELF_DATA2LSB   1
#define ELF_EV_CURRENT 1
#define ELF_OSABI_SYSV 0
#define ELF_OSABI_GNU  3
#define ELF_ET_EXEC    2
#define ELF_ET_DYN     3
#define ELF_EM_X86_64  62 /* x86-64 psABI, section 4.1 */
#define ELF_PN_XNUM    0xffff

/* p_type values (gABI 5, "Segment Types"; GNU extensions from glibc's elf.h). */
#define ELF_PT_NULL      0
#define ELF_PT_LOAD      1
#define ELF_PT_DYNAMIC   2
#define ELF_PT_INTERP    3
#define ELF_PT_NOTE      4
#define ELF_PT_PHDR      6
#define ELF_PT_TLS       7
#define ELF_PT_GNU_STACK 0x6474e551

/* p_flags bits (gABI 5, "Segment Permissions"); also used in elf_segment.flags. */
#define ELF_PF_X 0x1
#define ELF_PF_W 0x2
#define ELF_PF_R 0x4

/* ELF-64 header: 64 bytes at file offset 0.  RO for us (we only read). */
struct elf64_ehdr {
    uint8_t e_ident[ELF_EI_NIDENT]; /* magic, class, data, version, OS ABI */
    uint16_t e_type;                /* ET_EXEC */
    uint16_t e_machine;             /* EM_X86_64 */
    uint32_t e_version;             /* EV_CURRENT */
    uint64_t e_entry;               /* virtual address of the first instruction */
    uint64_t e_phoff;               /* file offset of the program header table */
    uint64_t e_shoff;               /* section headers: not used */
    uint32_t e_flags;               /* none defined for x86-64 */
    uint16_t e_ehsize;              /* sizeof(struct elf64_ehdr) */
    uint16_t e_phentsize;           /* sizeof(struct elf64_phdr) */
    uint16_t e_phnum;               /* entries in the program header table */
    uint16_t e_shentsize;
    uint16_t e_shnum;
    uint16_t e_shstrndx;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "ELF-64 header is 64 bytes");
_Static_assert(offsetof(struct elf64_ehdr, e_entry) == 24, "e_entry offset");
_Static_assert(offsetof(struct elf64_ehdr, e_phoff) == 32, "e_phoff offset");
_Static_assert(offsetof(struct elf64_ehdr, e_ehsize) == 52, "e_ehsize offset");
_Static_assert(offsetof(struct elf64_ehdr, e_phnum) == 56, "e_phnum offset");

/* ELF-64 program header table entry: 56 bytes. */
struct elf64_phdr {
    uint32_t p_type;   /* PT_* */
    uint32_t p_flags;  /* PF_R | PF_W | PF_X */
    uint64_t p_offset; /* file offset of the segment's first byte */
    uint64_t p_vaddr;  /* virtual address of the segment's first byte */
    uint64_t p_paddr;  /* not used */
    uint64_t p_filesz; /* bytes from the file */
    uint64_t p_memsz;  /* bytes in memory; the rest after p_filesz is zero */
    uint64_t p_align;  /* 0/1, or a power of two: p_vaddr = p_offset mod p_align */
};
_Static_assert(sizeof(struct elf64_phdr) == 56, "ELF-64 program header is 56 bytes");
_Static_assert(offsetof(struct elf64_phdr, p_offset) == 8, "p_offset offset");
_Static_assert(offsetof(struct elf64_phdr, p_filesz) == 32, "p_filesz offset");
_Static_assert(offsetof(struct elf64_phdr, p_align) == 48, "p_align offset");

/* ------------------------------------------------------------- parser -- */

#define ELF_MAX_SEGMENTS 16
#define ELF_PAGE_SIZE    4096ull
#define ELF_USER_LOW     0x1000ull             /* page 0 stays unmapped: NULL faults */
#define ELF_USER_TOP     0x0000800000000000ull /* end of the lower canonical half */

/* Errors (negative). */
enum elf_error {
    ELF_E_INVAL = -1,        /* a NULL argument */
    ELF_E_SHORT = -2,        /* smaller than an ELF header */
    ELF_E_MAGIC = -3,        /* not \x7fELF */
    ELF_E_CLASS = -4,        /* not ELFCLASS64 */
    ELF_E_DATA = -5,         /* not little-endian */
    ELF_E_VERSION = -6,      /* not EV_CURRENT */
    ELF_E_OSABI = -7,        /* OS ABI neither System V nor GNU */
    ELF_E_TYPE = -8,         /* not ET_EXEC (relocatable, shared, core, ...) */
    ELF_E_MACHINE = -9,      /* not EM_X86_64 */
    ELF_E_HEADER = -10,      /* e_ehsize or e_phentsize wrong, e_phnum 0 or PN_XNUM */
    ELF_E_PHDRS = -11,       /* the program header table is not inside the file */
    ELF_E_DYNAMIC = -12,     /* PT_INTERP or PT_DYNAMIC: not a static executable */
    ELF_E_TLS = -13,         /* PT_TLS: thread-local storage is not supported */
    ELF_E_EXECSTACK = -14,   /* PT_GNU_STACK asks for an executable stack */
    ELF_E_SEG_BOUNDS = -15,  /* a segment's file bytes lie outside the file */
    ELF_E_SEG_SIZE = -16,    /* p_filesz > p_memsz */
    ELF_E_SEG_ADDR = -17,    /* a segment wraps or leaves [ELF_USER_LOW, ELF_USER_TOP) */
    ELF_E_SEG_ALIGN = -18,   /* p_align not a power of two, or vaddr/offset incongruent */
    ELF_E_SEG_OVERLAP = -19, /* segments out of order or sharing a page */
    ELF_E_SEG_WX = -20,      /* a segment both writable and executable */
    ELF_E_TOO_MANY = -21,    /* more than ELF_MAX_SEGMENTS PT_LOAD segments */
    ELF_E_NO_LOAD = -22,     /* no PT_LOAD segment */
    ELF_E_ENTRY = -23,       /* the entry point is not in an executable segment's file bytes */
};

/* One PT_LOAD segment: map [vaddr, vaddr+memsz), copy filesz bytes from offset, zero the rest. */
struct elf_segment {
    uint64_t vaddr;
    uint64_t memsz;  /* > 0 */
    uint64_t offset; /* file offset; offset + filesz <= file length */
    uint64_t filesz; /* <= memsz */
    uint32_t flags;  /* ELF_PF_R | ELF_PF_W | ELF_PF_X, never both W and X */
};

struct elf_image {
    uint64_t entry;
    size_t nsegments; /* 1..ELF_MAX_SEGMENTS, ascending vaddr, no shared pages */
    struct elf_segment segments[ELF_MAX_SEGMENTS];
};

/*
 * Validates file[0, len) and fills *out.  Returns 0 or a negative elf_error;
 * on error *out is unspecified.  file needs no particular alignment.
 */
int elf_parse(const void *file, size_t len, struct elf_image *out) __attribute__((warn_unused_result));

/* A short constant description of an elf_error (or of 0). */
const char *elf_strerror(int err);

#endif
