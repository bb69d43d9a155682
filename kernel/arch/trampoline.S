/*
 * trampoline.S - where an application processor starts (smp.c).
 *
 * A STARTUP IPI starts the core in real mode at CS = page >> 4, IP = 0, so
 * everything up to the far jump is addressed relative to CS (DS = CS) and
 * position-independent.  smp.c copies ap_trampoline_start..end to the page
 * and patches the tr_* fields: the linear address of the small GDT below,
 * of tr_long (the far jump's target), boot.S's page tables (which map this
 * page 1:1 and the kernel's higher half), EFER (LME, and NXE as on the boot
 * core, so NX entries in the kernel's tables are legal), the kernel's own
 * page tables, the idle stack, the entry and its argument.
 *
 * Real mode goes straight to long mode (SDM vol. 3A, 9.8.5: PAE, CR3,
 * EFER.LME, then CR0.PG with PE in one write, then a far jump to a 64-bit
 * code segment).  The 64-bit code still runs at the low address; it jumps
 * to ap_entry64 in the kernel's text, which loads the kernel's page tables
 * (the low page is not mapped there) and the stack, and calls smp_ap_main.
 */
#define CR0_PE_PG_WP 0x80010001
#define CR4_PAE      0x20
#define MSR_EFER     0xc0000080

        .section .rodata
        .balign 16
        .globl ap_trampoline_start, ap_trampoline_end
        .globl tr_gdtr_base, tr_gdt, tr_far64, tr_long, tr_cr3, tr_efer, tr_kcr3, tr_stack, tr_entry, tr_arg
        .code16
ap_trampoline_start:
        cli
        cld
        movw %cs, %ax
        movw %ax, %ds
        lgdtl (tr_gdtr - ap_trampoline_start)
        movl $CR4_PAE, %eax
        movl %eax, %cr4
        movl (tr_cr3 - ap_trampoline_start), %eax
        movl %eax, %cr3
        movl $MSR_EFER, %ecx
        movl (tr_efer - ap_trampoline_start), %eax
        xorl %edx, %edx
        wrmsr
        movl $CR0_PE_PG_WP, %eax
        movl %eax, %cr0
        ljmpl *(tr_far64 - ap_trampoline_start)

        .code64
tr_long:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movq tr_arg(%rip), %rdi
        movq tr_stack(%rip), %rsi
        movq tr_kcr3(%rip), %rdx
        movq tr_entry(%rip), %rax
        jmp *%rax

        .balign 8
tr_gdt:
        .quad 0
        .quad 0x00af9a000000ffff        /* 0x08: 64-bit kernel code */
        .quad 0x00cf92000000ffff        /* 0x10: kernel data */
tr_gdtr:
        .word 3 * 8 - 1
tr_gdtr_base:
        .long 0                         /* patched: linear address of tr_gdt */
        .balign 4
tr_far64:
        .long 0                         /* patched: linear address of tr_long */
        .word 0x08
        .balign 8
tr_cr3:   .long 0, 0                    /* patched: boot.S's PML4 (below 4 GiB) */
tr_efer:  .long 0, 0                    /* patched */
tr_kcr3:  .quad 0                       /* patched: the kernel's PML4 */
tr_stack: .quad 0                       /* patched: top of the idle stack */
tr_entry: .quad 0                       /* patched: ap_entry64 */
tr_arg:   .quad 0                       /* patched: struct percpu * */
ap_trampoline_end:

        .text
        .code64
        .globl ap_entry64
ap_entry64:
        /* rdi = struct percpu *, rsi = stack top, rdx = the kernel's PML4.
         * The higher half is mapped in both boot.S's tables and these. */
        movq %rdx, %cr3
        movq %rsi, %rsp
        xorq %rbp, %rbp
        call smp_ap_main
1:      cli
        hlt
        jmp 1b
