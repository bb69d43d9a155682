/*
 * serial.h - the kernel's early log path on COM1 (16550, 115200 8N1).
 *
 * Polled output only; the UART driver server takes the port over later for
 * input and the console, and the kernel keeps this path for its own log.
 */
#ifndef KEEL_SERIAL_H
#define KEEL_SERIAL_H

void serial_init(void);
void serial_putc(char c);

#endif
