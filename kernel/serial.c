/*
 * serial.c - polled COM1 output for the kernel log.
 *
 * Initialised first thing in kmain so every later line reaches the console.
 * '\n' is sent as "\r\n" so a raw terminal shows lines.  Writing polls the
 * line-status register with a bounded spin: a missing or stuck UART must not
 * hang the kernel, it only loses the log.
 *
 * Stalls.  A transmitter that stays busy (a hypervisor's serial backend that
 * nobody reads applies back-pressure: QEMU keeps THRE clear until its socket
 * drains) must not cost the spin for every character, or one log line would
 * hold the CPU for seconds with the calling server stuck in its system call.
 * So the first character that times out marks the line stalled; while it is,
 * characters are dropped after one look at the status register, and the
 * first character that finds the transmitter empty again is preceded by a
 * note of how many were lost.
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

#define SPIN_PER_CHAR 20000 /* a character takes 87 us at 115200 baud: this is far beyond it */

static bool serial_present;
static bool serial_stalled;          /* the last character timed out (see the top) */
static unsigned long serial_dropped; /* characters lost since the line stalled */

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

static bool thr_empty(void) { return inb(COM1_BASE + UART_LSR) & LSR_THR_EMPTY; }

/* Waits a bounded time for the transmitter; false when it stayed busy. */
static bool wait_thr_empty(void)
{
    for (int spin = 0; spin < SPIN_PER_CHAR; spin++) {
        if (thr_empty())
            return true;
        cpu_pause();
    }
    return false;
}

static void put_now(char c) { outb(COM1_BASE + UART_THR, (uint8_t)c); }

/* "\r\n[kernel log: N characters lost: the serial line was stalled]\r\n" */
static void note_dropped(void)
{
    static const char head[] = "\r\n[kernel log: ", tail[] = " characters lost: the serial line was stalled]\r\n";
    char digits[24];
    int n = 0;
    unsigned long v = serial_dropped;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < (int)sizeof digits);
    serial_dropped = 0;
    for (const char *p = head; *p; p++)
        if (wait_thr_empty())
            put_now(*p);
    while (n)
        if (wait_thr_empty())
            put_now(digits[--n]);
    for (const char *p = tail; *p; p++)
        if (wait_thr_empty())
            put_now(*p);
}

static void serial_put_raw(char c)
{
    if (!serial_present)
        return;
    if (serial_stalled) {
        if (!thr_empty()) {
            serial_dropped++;
            return; /* one look per character while stalled */
        }
        serial_stalled = false;
        note_dropped();
    }
    if (!wait_thr_empty()) {
        serial_stalled = true;
        serial_dropped++;
        return;
    }
    put_now(c);
}

void serial_putc(char c)
{
    if (c == '\n')
        serial_put_raw('\r');
    serial_put_raw(c);
}
