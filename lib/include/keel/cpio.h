/*
 * keel/cpio.h - a reader for cpio "newc" archives (the initramfs format the
 * boot loader hands over: servers.cpio, site.cpio).
 *
 * The archive is a buffer the caller owns; entries point into it, nothing is
 * copied or allocated, and the buffer must outlive them.  Every byte of the
 * archive is untrusted: each header field must be exactly eight hex digits,
 * names and data must lie inside the buffer (with the 4-byte padding after
 * each name, the trailer's included), names must be NUL-terminated where
 * namesize says, and the archive must end with "TRAILER!!!" before the
 * buffer does.  Bytes after the trailer (block padding) are ignored.
 *
 * Magic "070701" is newc; "070702" is the same layout with c_check holding
 * the 32-bit sum of a regular file's data bytes, which is verified (other
 * entry types carry 0 there, as GNU cpio writes them, and are not summed).
 *
 * Not handled: the old binary and odc formats, concatenated archives (the
 * first trailer ends the archive), and hard-link data sharing (an entry's
 * data is what follows its own header).
 */
#ifndef KEEL_LIB_CPIO_H
#define KEEL_LIB_CPIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Errors (negative). */
enum cpio_error {
    CPIO_E_TRUNCATED = -1,  /* a header, name or data runs past the buffer */
    CPIO_E_MAGIC = -2,      /* an entry does not start with 070701 or 070702 */
    CPIO_E_HEX = -3,        /* a header field is not eight hex digits */
    CPIO_E_NAME = -4,       /* namesize 0, or the name's NUL is not where namesize says */
    CPIO_E_NOTRAILER = -5,  /* the buffer ended without a TRAILER!!! entry */
    CPIO_E_CHECKSUM = -6,   /* 070702: the data does not sum to c_check */
    CPIO_E_FORMAT = -7,     /* other inconsistency (a trailer with data) */
    CPIO_E_NOTFOUND = -8,   /* cpio_find: no entry has that name */
    CPIO_E_NOTFILE = -9,    /* cpio_find: the entry is not a regular file */
    CPIO_E_DUPLICATE = -10, /* cpio_find: two entries have that name */
    CPIO_E_INVAL = -11,     /* a NULL argument */
};

/* File type bits of mode (from <sys/stat.h>, which newc copies verbatim). */
#define CPIO_MODE_TYPE 0170000u
#define CPIO_MODE_REG  0100000u
#define CPIO_MODE_DIR  0040000u
#define CPIO_MODE_LNK  0120000u

struct cpio_entry {
    const char *name; /* NUL-terminated, inside the archive */
    size_t name_len;  /* strlen(name) */
    const void *data; /* inside the archive; size bytes */
    size_t size;
    uint32_t mode, uid, gid, nlink, mtime, ino;
};

/* Iteration state; the caller owns it.  Fields are private to cpio.c. */
struct cpio_iter {
    const uint8_t *buf;
    size_t len;
    size_t off; /* next header, always <= len */
    int status; /* 0 while more entries may follow; else 1 (trailer seen) or an error */
};

/* Starts iterating over buf[0, len). */
void cpio_iter_init(struct cpio_iter *it, const void *buf, size_t len);

/*
 * Reads the next entry into *e.  Returns 1 (an entry), 0 (the trailer was
 * reached: the end, *e untouched), or a negative cpio_error.  After 0 or an
 * error, further calls return the same value.
 */
int cpio_next(struct cpio_iter *it, struct cpio_entry *e) __attribute__((warn_unused_result));

/*
 * Finds the regular file called name (a leading "./" on archive names is
 * ignored) and sets *data and *size.  The whole archive is validated first,
 * so a damaged archive fails even if name comes early.  Returns 0,
 * CPIO_E_NOTFOUND, CPIO_E_NOTFILE, CPIO_E_DUPLICATE or an archive error.
 */
int cpio_find(const void *buf, size_t len, const char *name, const void **data, size_t *size)
    __attribute__((warn_unused_result));

/* A short constant description of a cpio_error (or of 0/1). */
const char *cpio_strerror(int err);

#endif
