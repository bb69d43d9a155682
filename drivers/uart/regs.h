/*
 * regs.h - the 16550A UART's register block (National Semiconductor
 * PC16550D data sheet, table 2 "Register Summary"; QEMU's `serial`
 * device, hw/char/serial.c, models the same).  Eight byte-wide I/O ports
 * from the base (COM1: 0x3f8); DLAB (LCR bit 7) switches ports 0 and 1 to
 * the divisor latch.  The driver keeps DLAB clear and never touches the
 * divisor (the kernel set 115200 baud, see kernel/serial.c).
 */
#ifndef KEEL_UART_REGS_H
#define KEEL_UART_REGS_H

#define UART_COM1_BASE 0x3f8
#define UART_PORTS     8

/* Offsets from the base (DLAB = 0). */
#define UART_RBR 0 /* RO: receiver buffer */
#define UART_THR 0 /* WO: transmitter holding */
#define UART_IER 1 /* RW: interrupt enable */
#define UART_IIR 2 /* RO: interrupt identification (reading it clears a THRE interrupt) */
#define UART_FCR 2 /* WO: FIFO control */
#define UART_LCR 3 /* RW: line control */
#define UART_MCR 4 /* RW: modem control */
#define UART_LSR 5 /* RO: line status (reading it clears a line-status interrupt) */
#define UART_MSR 6 /* RO: modem status (reading it clears a modem-status interrupt) */
#define UART_SCR 7 /* RW: scratch */

/* IER */
#define UART_IER_RDA  0x01 /* received data available (and the FIFO's character timeout) */
#define UART_IER_THRE 0x02 /* transmitter holding register empty */
#define UART_IER_RLS  0x04 /* receiver line status: overrun, parity, framing, break */
#define UART_IER_MS   0x08 /* modem status (not used) */

/* IIR */
#define UART_IIR_NO_INT  0x01 /* no interrupt pending */
#define UART_IIR_ID_MASK 0x0e
#define UART_IIR_RLS     0x06
#define UART_IIR_RDA     0x04
#define UART_IIR_CTI     0x0c /* character timeout (FIFO mode) */
#define UART_IIR_THRE    0x02
#define UART_IIR_MS      0x00
#define UART_IIR_FIFO    0xc0 /* both set: FIFOs enabled (a 16550A) */

/* FCR */
#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_FCR_TRIG_1   0x00 /* receive interrupt after 1 byte ... */
#define UART_FCR_TRIG_4   0x40
#define UART_FCR_TRIG_8   0x80
#define UART_FCR_TRIG_14  0xc0

/* LCR */
#define UART_LCR_DLAB 0x80

/* MCR */
#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT2 0x08 /* on a PC, gates the UART's interrupt onto the ISA line */
#define UART_MCR_LOOP 0x10

/* LSR */
#define UART_LSR_DR   0x01 /* data ready */
#define UART_LSR_OE   0x02 /* overrun: a byte was lost */
#define UART_LSR_PE   0x04
#define UART_LSR_FE   0x08
#define UART_LSR_BI   0x10 /* break */
#define UART_LSR_THRE 0x20 /* THR (FIFO mode: the whole transmit FIFO) empty */
#define UART_LSR_TEMT 0x40
#define UART_LSR_ERR  0x80 /* an error somewhere in the receive FIFO */

#define UART_TX_FIFO 16 /* bytes the transmit FIFO takes when THRE is set */

#endif
