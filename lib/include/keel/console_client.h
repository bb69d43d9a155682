/*
 * keel/console_client.h - the thin client library of the console protocol
 * (abi/keel/console.h): packing bytes into message words and one call per
 * operation.  Linked by the driver's clients (consoled), never by the
 * driver's internals; the driver uses the same packing.
 */
#ifndef KEEL_LIB_CONSOLE_CLIENT_H
#define KEEL_LIB_CONSOLE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <keel/console.h>

/* Packs min(N, CONSOLE_MSG_BYTES) bytes of BUF with their count into MR
 * (4 words); returns the count packed. */
static inline size_t console_pack(uint64_t mr[4], const void *buf, size_t n)
{
    const uint8_t *p = buf;
    if (n > CONSOLE_MSG_BYTES)
        n = CONSOLE_MSG_BYTES;
    mr[0] = mr[1] = mr[2] = mr[3] = 0;
    mr[0] = n;
    for (size_t i = 0; i < n; i++)
        mr[(i + 1) / 8] |= (uint64_t)p[i] << (8 * ((i + 1) % 8));
    return n;
}

/* Unpacks MR into BUF (CONSOLE_MSG_BYTES bytes of room); returns the
 * count, or -1 if the count byte is above CONSOLE_MSG_BYTES. */
static inline int console_unpack(const uint64_t mr[4], void *buf)
{
    uint8_t *p = buf;
    unsigned n = (unsigned)(mr[0] & 0xff);
    if (n > CONSOLE_MSG_BYTES)
        return -1;
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(mr[(i + 1) / 8] >> (8 * ((i + 1) % 8)));
    return (int)n;
}

/* One CONSOLE_WRITE of up to CONSOLE_MSG_BYTES bytes of BUF on endpoint
 * EP: the bytes the driver took (0..), or a negative KE_* / CONSOLE_E_*. */
int64_t console_write(uint64_t ep, const void *buf, size_t n);

/* One CONSOLE_READ: up to CONSOLE_MSG_BYTES bytes into BUF; the count
 * (0: nothing waiting) or a negative error. */
int64_t console_read(uint64_t ep, void *buf);

/* CONSOLE_INFO into INFO[4] (see abi/keel/console.h); 0 or an error. */
int64_t console_info(uint64_t ep, uint64_t info[4]);

#endif
