/*
 * boot.S - multiboot (v1) entry: 32-bit protected mode to 64-bit long mode.
 *
 * The loader (QEMU -kernel or iPXE) jumps to _start32 in 32-bit protected mode
 * with paging off, EAX = multiboot magic, EBX = physical address of the
 * multiboot information structure.  We
 *   1. zero .bss (it holds our stack and the boot page tables),
 *   2. check that the CPU has long mode, printing a message on COM1 and
 *      halting if not (there is nothing else we could do with such a CPU),
 *   3. build boot page tables that map the first 1 GiB three times with 2 MiB
 *      pages: identity (so this code keeps running after paging is on), at
 *      KERNEL_VMA (where the C kernel is linked) and at PHYS_MAP_BASE (the
 *      direct map the C code uses to reach physical memory),
 *   4. enable PAE, long mode, NX (when present) and paging, and jump to
 *      64-bit code in the higher half, which calls kmain(magic, mbi).
 * The C kernel replaces these tables with finer ones (W^X, NX) and drops the
 * identity map; nothing here has to be permanent.
 *
 * _start64 is the second entry, for keel.efi (kernel/efi/efistub.c): the
 * stub copies this same image to its load address, leaves boot services and
 * jumps here in 64-bit mode with the firmware's identity-mapped page tables,
 * RDI = KEEL_EFI_LOADER_MAGIC and RSI = its struct keel_handoff (handoff.h).
 * It does steps 1 and 3 in 64-bit code, switches CR3 to the same boot page
 * tables, loads the same GDT and joins the 32-bit path's 64-bit code, so
 * kmain sees one machine state whichever way it was entered.  The stub
 * finds _start64 through the keel_entry64 words right after the multiboot
 * header (a multiboot loader ignores them).
 *
 * The multiboot header uses the "a.out kludge" (flag bit 16): the loader takes
 * load and entry addresses from the header, not from an ELF file, so the
 * image is a flat binary and no ELF64/ELF32 conversion is involved.  Both QEMU
 * and iPXE require the header in the first 8 KiB; it is the first thing in
 * the image.
 */

#define KERNEL_VMA     0xffffffff80000000
#define PHYS_MAP_PML4  256 /* PHYS_MAP_BASE = 0xffff800000000000 */

#define MB_MAGIC       0x1BADB002
#define MB_FLAG_ALIGN  (1 << 0)
#define MB_FLAG_MEM    (1 << 1)
#define MB_FLAG_AOUT   (1 << 16)
#define MB_FLAGS       (MB_FLAG_ALIGN | MB_FLAG_MEM | MB_FLAG_AOUT)

#define PHYS(x)        ((x) - KERNEL_VMA)
#define COM1           0x3f8

        .section .multiboot, "a"
        .align 4
multiboot_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)
        .long multiboot_header          /* header_addr (physical) */
        .long _load_start               /* load_addr */
        .long _load_end_phys            /* load_end_addr */
        .long _bss_end_phys             /* bss_end_addr */
        .long _start32                  /* entry_addr */
        /* struct keel_entry64 (handoff.h): read by keel.efi */
        .long 0x3436454b                /* KEEL_ENTRY64_MAGIC, "KE64" */
        .long _start64                  /* physical */

/* Step 3's links, the same on both entries: boot_pd under the low PDPT
 * (the first 1 GiB) and under the high one at entry 510 (KERNEL_VMA); the
 * low PDPT at PML4 entries 0 (identity) and PHYS_MAP_PML4, the high one at
 * 511.  Only 32-bit moves to physical addresses below 4 GiB, so it
 * assembles alike in .code32 and .code64.  Clobbers EAX. */
        .macro link_boot_tables
        movl $PHYS(boot_pd), %eax
        orl $3, %eax
        movl %eax, PHYS(boot_pdpt_low)
        movl %eax, PHYS(boot_pdpt_high) + 510 * 8
        movl $PHYS(boot_pdpt_low), %eax
        orl $3, %eax
        movl %eax, PHYS(boot_pml4)
        movl %eax, PHYS(boot_pml4) + PHYS_MAP_PML4 * 8
        movl $PHYS(boot_pdpt_high), %eax
        orl $3, %eax
        movl %eax, PHYS(boot_pml4) + 511 * 8
        .endm

/* EFER (MSR 0xC0000080): LME, and NXE when EBP bit 20 (CPUID's NX) is
 * set; the same instructions in .code32 and .code64.  Clobbers EAX, ECX,
 * EDX. */
        .macro set_efer
        movl $0xC0000080, %ecx          /* EFER */
        rdmsr
        orl $(1 << 8), %eax             /* LME */
        btl $20, %ebp
        jnc 2f
        orl $(1 << 11), %eax            /* NXE */
2:      wrmsr
        .endm

        .section .boot.text, "ax"
        .code32
        .globl _start32
_start32:
        cli
        cld
        movl %eax, %esi                 /* multiboot magic */
        movl %ebx, %edi                 /* multiboot info (physical) */
        movl $PHYS(boot_stack_top), %esp

        /* Zero .bss: the loader should have, but the stack lives there and a
         * stale page table would be fatal, so do not depend on it.  The info
         * pointer is parked in EBP, not on the stack this is about to zero. */
        movl %edi, %ebp
        movl $PHYS(_bss_start), %edi
        movl $PHYS(_bss_end), %ecx
        subl %edi, %ecx
        shrl $2, %ecx
        xorl %eax, %eax
        rep stosl
        movl %ebp, %edi

        /* Long mode present?  CPUID 0x80000001 EDX bit 29. */
        movl $0x80000000, %eax
        cpuid
        cmpl $0x80000001, %eax
        jb no_long_mode
        movl $0x80000001, %eax
        cpuid
        btl $29, %edx
        jnc no_long_mode
        movl %edx, %ebp                 /* keep: bit 20 = NX (EDI has the info) */

        /* Boot page tables. */
        movl $PHYS(boot_pd), %ebx
        xorl %ecx, %ecx
1:      movl %ecx, %eax
        shll $21, %eax
        orl $0x83, %eax                 /* present, writable, 2 MiB page */
        movl %eax, (%ebx, %ecx, 8)
        movl $0, 4(%ebx, %ecx, 8)
        incl %ecx
        cmpl $512, %ecx
        jb 1b

        link_boot_tables

        movl %cr4, %eax
        orl $(1 << 5), %eax             /* PAE */
        movl %eax, %cr4
        movl $PHYS(boot_pml4), %eax
        movl %eax, %cr3

        set_efer

        movl %cr0, %eax
        orl $((1 << 31) | (1 << 16) | 1), %eax /* PG, WP, PE */
        movl %eax, %cr0

        lgdt boot_gdt_ptr
        ljmp $0x08, $long_mode_low

no_long_mode:
        movl $msg_no_lm, %ebx
3:      movb (%ebx), %al
        testb %al, %al
        jz 5f
        movw $COM1 + 5, %dx
4:      inb %dx, %al                    /* wait for THR empty */
        testb $0x20, %al
        jz 4b
        movb (%ebx), %al
        movw $COM1, %dx
        outb %al, %dx
        incl %ebx
        jmp 3b
5:      hlt
        jmp 5b

        .code64
long_mode_low:
        movabsq $long_mode_high, %rax
        jmp *%rax

/* The EFI entry: long mode, paging on with an identity map of at least the
 * first GiB (UEFI 2.3.4: all memory identity-mapped), interrupts off.
 * RDI = magic, RSI = handoff (physical, below 1 GiB).  The firmware's
 * stack, GDT and page tables are left behind before anything is written
 * that they might share memory with: this image's memory was reserved by
 * the stub, so .bss holds nothing of the firmware's. */
        .globl _start64
_start64:
        cli
        cld
        movl %edi, %r8d                 /* magic */
        movl %esi, %r9d                 /* handoff */
        movl $PHYS(boot_stack_top), %esp

        movl $PHYS(_bss_start), %edi
        movl $PHYS(_bss_end), %ecx
        subl %edi, %ecx
        shrl $3, %ecx
        xorl %eax, %eax
        rep stosq

        movl $PHYS(boot_pd), %ebx
        xorl %ecx, %ecx
1:      movq %rcx, %rax
        shlq $21, %rax
        orq $0x83, %rax                 /* present, writable, 2 MiB page */
        movq %rax, (%rbx, %rcx, 8)
        incl %ecx
        cmpl $512, %ecx
        jb 1b
        link_boot_tables

        /* CR4 as the 32-bit path leaves it: PAE alone.  Clearing PGE
         * drops the firmware's global translations with the CR3 load. */
        movl $(1 << 5), %eax
        movq %rax, %cr4
        movl $PHYS(boot_pml4), %eax
        movq %rax, %cr3

        movl $0x80000001, %eax          /* NX present?  (long mode is) */
        cpuid
        movl %edx, %ebp
        set_efer                        /* LME is already on */
        movq %cr0, %rax
        orl $((1 << 31) | (1 << 16) | 1), %eax /* PG, WP, PE */
        movq %rax, %cr0

        lgdt boot_gdt_ptr64
        pushq $0x08
        movl $3f, %eax
        pushq %rax
        lretq
3:      movl %r8d, %esi                 /* as _start32 leaves them */
        movl %r9d, %edi
        movabsq $long_mode_high, %rax
        jmp *%rax

        .section .boot.data, "aw"
        .align 16
boot_gdt:
        .quad 0
        .quad 0x00af9a000000ffff        /* 0x08: 64-bit code, ring 0 */
        .quad 0x00cf92000000ffff        /* 0x10: data, ring 0 */
boot_gdt_end:
boot_gdt_ptr:
        .word boot_gdt_end - boot_gdt - 1
        .long boot_gdt
        .align 8
boot_gdt_ptr64:                         /* lgdt in 64-bit mode reads 10 bytes */
        .word boot_gdt_end - boot_gdt - 1
        .quad boot_gdt
msg_no_lm:
        .asciz "keel: this CPU has no long mode (x86-64); cannot boot\r\n"

        .text
        .code64
long_mode_high:
        movq $boot_stack_top, %rsp
        xorl %eax, %eax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movw %ax, %fs
        movw %ax, %gs
        xorq %rbp, %rbp                 /* ends the backtrace chain */
        /* kmain(magic, mbi_phys): the 32-bit code left magic in ESI and the
         * info address in EDI; the SysV ABI wants them in EDI and ESI. */
        movl %esi, %eax
        movl %edi, %esi
        movl %eax, %edi
        call kmain
6:      cli
        hlt
        jmp 6b

        .section .bss
        .align 4096
        .globl boot_pml4
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096
        .globl boot_stack_bottom, boot_stack_top
boot_stack_bottom:
        .skip 16384
boot_stack_top:
