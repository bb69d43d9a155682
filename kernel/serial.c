/*
 * serial.c - polled COM1 output for the kernel log.
 *
 * Initialised first thing in kmain so every later line reaches the console.
 * '\n' is sent as "\r\n" so a raw terminal shows lines.  Writing polls the
 * line-status register with a bounded spin: a missing or stuck UART must not
 * hang the kernel, it only loses the log.
 */
#include "serial.h"

#include <stdbool.h>

#include "arch.h"

#define COM1_BASE     0x3f8
#define UART_THR      0 /* WO: transmit holding (DLAB=0) */
#define UART_DLL      0 /* RW: divisor low (DLAB=1) */
#define UART_IER      1 /* RW: interrupt enable (DLAB=0) */
#define UART_DLH      1 /* RW: divisor high (DLAB=1) */
#define UART_FCR      2 /* WO: FIFO control */
#define UART_LCR      3 /* RW: line control */
#define UART_MCR      4 /* RW: modem control */
#define UART_LSR      5 /* RO: line status */
#define LCR_8N1       0x03
#define LCR_DLAB      0x80
#define FCR_ENABLE    0x07 /* enable and clear both FIFOs */
#define MCR_DTR_RTS   0x03
#define LSR_THR_EMPTY 0x20
#define BAUD_DIVISOR  1 /* 115200 = 115200 / 1 */

static bool serial_present;

void serial_init(void)
{
    outb(COM1_BASE + UART_IER, 0);
    outb(COM1_BASE + UART_LCR, LCR_DLAB);
    outb(COM1_BASE + UART_DLL, BAUD_DIVISOR & 0xff);
    outb(COM1_BASE + UART_DLH, BAUD_DIVISOR >> 8);
    outb(COM1_BASE + UART_LCR, LCR_8N1);
    outb(COM1_BASE + UART_FCR, FCR_ENABLE);
    outb(COM1_BASE + UART_MCR, MCR_DTR_RTS);
    /* A floating bus reads 0xff: no UART there. */
    serial_present = inb(COM1_BASE + UART_LSR) != 0xff;
}

static void serial_put_raw(char c)
{
    if (!serial_present)
        return;
    for (int spin = 0; spin < 100000; spin++) {
        if (inb(COM1_BASE + UART_LSR) & LSR_THR_EMPTY)
            break;
        cpu_pause();
    }
    outb(COM1_BASE + UART_THR, (uint8_t)c);
}

void serial_putc(char c)
{
    if (c == '\n')
        serial_put_raw('\r');
    serial_put_raw(c);
}
