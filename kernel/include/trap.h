/*
 * trap.h - the IDT, the trap frame, exception dumps and IRQ handlers.
 *
 * Vectors: 0-31 CPU exceptions; 0x20-0x2f the (masked) 8259 PICs, so a
 * spurious PIC interrupt never looks like an exception; 0x30-0xef device
 * IRQs routed through the IOAPIC (IRQ_VECTOR_BASE + GSI); 0xf0 the LAPIC
 * timer; 0xff the LAPIC spurious vector.
 */
#ifndef KEEL_TRAP_H
#define KEEL_TRAP_H

#include <stdint.h>

#define IRQ_VECTOR_BASE    0x30
#define VECTOR_LAPIC_TIMER 0xf0
#define VECTOR_SPURIOUS    0xff

#define DEBUG_EXIT_PASS         0x00 /* QEMU exit status 1 */
#define DEBUG_EXIT_FAIL         0x01 /* QEMU exit status 3 */
#define DEBUG_EXIT_PANIC        0x11 /* QEMU exit status 35 */
#define DEBUG_EXIT_NO_USER_MODE 0x12 /* QEMU exit status 37: ring 3 unusable here */

/* Pushed by trap_entry.S; the order matches the pushes there. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;
    uint64_t error;                    /* the CPU's error code, or 0 */
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "trap frame layout (trap_entry.S)");

typedef void (*irq_handler)(struct trap_frame *tf, void *ctx);

void trap_init(void);
/* Loads the (shared) IDT on this core. */
void trap_load_idt(void);
void trap_set_handler(uint8_t vector, irq_handler h, void *ctx);
/* Prints RIP (when non-zero), then the return addresses found by following
 * saved frame pointers from RBP. */
void trap_backtrace(uint64_t rip, uint64_t rbp);
void trap_dispatch(struct trap_frame *tf);

#endif
