/*
 * kernel_image.S - the flat kernel image (the multiboot file `keel`) inside
 * keel.efi; efistub.c copies it to its load address.  Plain data: the stub
 * reads it, nothing here is executed in place.
 */
        .section .rodata
        .balign 4096
        .globl kernel_image_start, kernel_image_end
kernel_image_start:
        .incbin KERNEL_BIN
kernel_image_end:
        .section .note.GNU-stack, "", @progbits
