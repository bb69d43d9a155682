/*
 * keel/console.h - the console protocol: a byte stream between the serial
 * driver (program `uart`, drivers/uart/) and its client (consoled), on the
 * driver's endpoint "serve:NAME" (normally NAME = console).
 *
 * Calls flow toward the hardware (client -> driver); events flow back as
 * notification bits on "signal:NAME" (driver) / "notify:NAME" (client).
 * Bytes ride in the message words: MR0-MR3 are read as 32 bytes, byte i
 * being bits 8*(i%8).. of MR[i/8] (little-endian, like the words in
 * memory); byte 0 holds a count n (0..CONSOLE_MSG_BYTES) and bytes 1..n the
 * data.  The stream is raw: no newline translation, no echo, all 256 byte
 * values; the client (consoled's line editor) does the terminal work.
 *
 *   CONSOLE_WRITE  (4 words: count + bytes) -> reply label = bytes taken
 *                  (0..n; fewer than n when the transmit queue is full: the
 *                  driver then signals CONSOLE_EVT_TX once there is room
 *                  again), or a negative CONSOLE_E_* code.
 *   CONSOLE_READ   (no words) -> reply label 0 and count + bytes in
 *                  MR0-MR3 (count 0: nothing waiting), or an error.  The
 *                  driver signals CONSOLE_EVT_RX when bytes arrive.
 *   CONSOLE_INFO   (no words) -> MR0 = generation (restarts + 1), MR1 =
 *                  free bytes in the transmit queue, MR2 = received bytes
 *                  waiting, MR3 = received bytes lost (UART overrun or a
 *                  full receive queue) since the driver started.
 *
 * Callers put the number of words they send in bits 24-31 of the label
 * (SRV_LABEL in lib/include/keel/server.h); the driver refuses a WRITE
 * with fewer than 4.  Several clients may write (their bytes interleave at
 * call granularity); reading is meant for one client.
 *
 * Sharing the port with the kernel: the kernel keeps writing its own log to
 * the same UART by polling (kernel/serial.c), at 115200 8N1.  The driver
 * never changes the line settings or the divisor, and never clears the
 * transmit FIFO, so both outputs reach the terminal; they interleave at the
 * granularity of the driver's FIFO refills (at most 16 bytes).
 */
#ifndef KEEL_ABI_CONSOLE_H
#define KEEL_ABI_CONSOLE_H

#include <keel/errors.h>

#include <stdint.h>

enum console_label {
    CONSOLE_WRITE = 1,
    CONSOLE_READ = 2,
    CONSOLE_INFO = 3,
};

#define CONSOLE_MSG_BYTES   31 /* data bytes per message: 32 bytes of MR0-MR3, less the count */
#define CONSOLE_WRITE_WORDS 4

/* Notification bits the driver raises on "signal:NAME". */
#define CONSOLE_EVT_RX (1ull << 0) /* received bytes are waiting: CONSOLE_READ until count 0 */
#define CONSOLE_EVT_TX (1ull << 1) /* the transmit queue has room again after a short WRITE */

enum console_error {
    CONSOLE_E_INVAL = -400,     /* a count above CONSOLE_MSG_BYTES */
    CONSOLE_E_NO_DEVICE = -401, /* no UART answers at the port */
};
_Static_assert(KEEL_ERR_IN(CONSOLE, CONSOLE_E_INVAL) && KEEL_ERR_IN(CONSOLE, CONSOLE_E_NO_DEVICE),
               "CONSOLE_E_* in its range (keel/errors.h)");

_Static_assert(CONSOLE_MSG_BYTES + 1 == 4 * sizeof(uint64_t), "count + data fill MR0-MR3 exactly");

#endif
