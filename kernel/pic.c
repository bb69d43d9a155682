/*
 * pic.c - the legacy 8259 pair: remapped away from the exception vectors and
 * then masked.  All device interrupts go through the IOAPIC instead; the
 * remap matters only for a spurious interrupt raised before the mask lands.
 */
#include "apic.h"
#include "arch.h"

#define PIC1_CMD       0x20
#define PIC1_DATA      0x21
#define PIC2_CMD       0xa0
#define PIC2_DATA      0xa1
#define ICW1_INIT_ICW4 0x11
#define ICW4_8086      0x01

void pic_disable(void)
{
    outb(PIC1_CMD, ICW1_INIT_ICW4);
    outb(PIC2_CMD, ICW1_INIT_ICW4);
    outb(PIC1_DATA, 0x20); /* vectors 0x20-0x27 */
    outb(PIC2_DATA, 0x28); /* vectors 0x28-0x2f */
    outb(PIC1_DATA, 4);    /* slave on IRQ2 */
    outb(PIC2_DATA, 2);
    outb(PIC1_DATA, ICW4_8086);
    outb(PIC2_DATA, ICW4_8086);
    outb(PIC1_DATA, 0xff);
    outb(PIC2_DATA, 0xff);
}
