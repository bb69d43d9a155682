/*
 * init_image.S - the root task's ELF, built from init/, inside the kernel.
 * The kernel maps it as the first user task (roottask.c); see there why
 * init is not in the servers archive.
 */
        .section .rodata
        .balign 16
        .globl init_image_start, init_image_end
init_image_start:
        .incbin INIT_ELF
init_image_end:
