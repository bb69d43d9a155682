/*
 * reloc.S - an empty PE base-relocation block for keel.efi (see efi.ld):
 * page RVA 0, block size 10, one padding entry (type 0, "absolute", which
 * the loader skips).  keel.efi needs no relocation; this only tells the
 * firmware the image may be loaded at any address.
 */
        .section .reloc, "a"
        .long 0
        .long 10
        .word 0
        .section .note.GNU-stack, "", @progbits
