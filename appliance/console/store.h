/*
 * store.h - the saved configuration: committed configurations on a disk,
 * written so that a power cut at any byte leaves every earlier one intact.
 * Pure code over three callbacks (read, write, flush sectors), so the host
 * test (tests/unit/test_config_store.c) runs it on a RAM disk and cuts
 * writes short at every byte; consoled runs it over the block protocol
 * (abi/keel/blk.h, lib/blk_client.c).
 *
 * Layout (512-byte sectors, nothing else on the disk):
 *
 *   slot s (0 <= s < CST_SLOTS) = sectors [s * CST_SLOT_SECTORS, +CST_SLOT_SECTORS)
 *     sector 0 of the slot: struct cst_header
 *     sectors 1..: the configuration text, text_len bytes (zero-padded to
 *                  a whole sector)
 *
 * Generation g (1, 2, 3 ...) lives in slot g % CST_SLOTS.  A commit writes
 * the next generation's header and text in one request, then flushes; it
 * overwrites only the slot of generation g - CST_SLOTS, older than the
 * CST_KEEP (50) that rollback reaches, so an interrupted write can cost
 * nothing but the record being written.  A record counts only when its
 * magic, version, header checksum, slot (g % CST_SLOTS), length and text
 * checksum (CRC-32) all agree; anything else in a slot that is not all
 * zeros is "damaged" and reported.  A disk shorter than the layout (a
 * truncated image) simply has fewer slots: those beyond the capacity are
 * missing, and a commit into one is refused.
 *
 * Which configuration runs at boot (cst_newest_for): each record carries
 * the FNV-1a hash of the site archive's appliance.conf that was in force
 * when it was committed.  The newest record wins when that hash equals the
 * current site file's (the operator has not changed the boot server's file
 * since); otherwise the site file is newer and runs.  A `commit confirmed`
 * that was never confirmed (kind CST_KIND_PENDING as the newest record) is
 * passed over at boot, as its timer would have rolled it back.
 *
 * Memory: struct cst holds the index (CST_SLOTS entries) and one slot of
 * scratch (CST_SLOT_BYTES); the caller owns it (consoled: static).
 */
#ifndef KEEL_APPLIANCE_STORE_H
#define KEEL_APPLIANCE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CST_SECTOR       512u
#define CST_SLOTS        64u
#define CST_KEEP         50u /* commits rollback reaches (Junos keeps 50) */
#define CST_TEXT_MAX     65536u
#define CST_SLOT_SECTORS (1u + CST_TEXT_MAX / CST_SECTOR)
#define CST_SLOT_BYTES   (CST_SLOT_SECTORS * CST_SECTOR)
#define CST_DISK_SECTORS ((uint64_t)CST_SLOTS * CST_SLOT_SECTORS) /* the whole layout: 4.1 MiB */
#define CST_MAGIC        "KEELCONF"
#define CST_VERSION      1u

_Static_assert(CST_KEEP < CST_SLOTS, "a write in progress never touches a record rollback reaches");

/* Why a record was written. */
enum cst_kind {
    CST_KIND_COMMIT = 1,   /* a commit at the console */
    CST_KIND_SITE = 2,     /* the site archive's appliance.conf, new since the last record */
    CST_KIND_PENDING = 3,  /* a commit confirmed not confirmed yet */
    CST_KIND_RESTORED = 4, /* a commit confirmed rolled back by its timer */
};

/* Sector 0 of a slot; little-endian (x86-64 native). */
struct cst_header {
    char magic[8];       /* CST_MAGIC, no NUL */
    uint32_t version;    /* CST_VERSION */
    uint32_t hdr_crc;    /* CRC-32 of the 512 bytes with this field 0 */
    uint64_t generation; /* >= 1; lives in slot generation % CST_SLOTS */
    uint64_t site_hash;  /* FNV-1a 64 of the site's appliance.conf when written */
    uint64_t wall_time;  /* seconds since 1970 when written; 0: not known */
    uint32_t text_len;   /* bytes of text, <= CST_TEXT_MAX */
    uint32_t text_crc;   /* CRC-32 of the text */
    uint32_t kind;       /* enum cst_kind */
    uint32_t reserved;   /* 0 */
    uint8_t pad[CST_SECTOR - 56];
};
_Static_assert(sizeof(struct cst_header) == CST_SECTOR, "the header is one sector");
_Static_assert(__builtin_offsetof(struct cst_header, generation) == 16, "layout: generation at 16");
_Static_assert(__builtin_offsetof(struct cst_header, text_len) == 40, "layout: text_len at 40");

enum cst_error {
    CST_OK = 0,
    CST_E_IO = -1,       /* the disk refused a read, write or flush */
    CST_E_SPACE = -2,    /* the slot of the next generation lies beyond the disk */
    CST_E_TOO_LONG = -3, /* a text longer than CST_TEXT_MAX */
    CST_E_RANGE = -4,    /* no such record */
    CST_E_DAMAGED = -5,  /* the record no longer checks (the disk changed under us) */
};

/* The disk: sector I/O returning 0 or a negative code (kept in last_io). */
struct cst_io {
    void *ctx;
    int64_t (*read)(void *ctx, uint64_t sector, uint64_t n, void *buf);
    int64_t (*write)(void *ctx, uint64_t sector, uint64_t n, const void *buf);
    int64_t (*flush)(void *ctx);
    uint64_t capacity; /* sectors */
};

/* One intact record. */
struct cst_entry {
    uint64_t generation, site_hash, wall_time;
    uint32_t text_len, kind;
};

/* Why a slot is damaged. */
enum cst_damage {
    CST_DMG_HEADER = 1, /* bad magic, version, checksum or fields */
    CST_DMG_TEXT,       /* the text's checksum does not match */
    CST_DMG_SHORT,      /* the record runs past the end of the disk */
    CST_DMG_READ,       /* the disk refused to read it */
};

struct cst {
    struct cst_io io;
    int64_t last_io; /* the last error the callbacks returned */
    unsigned n;      /* intact records in e[], newest first */
    struct cst_entry e[CST_SLOTS];
    unsigned n_damaged;               /* slots holding something that does not check */
    unsigned damaged_slot[CST_SLOTS]; /* which, in slot order */
    uint8_t damage[CST_SLOTS];        /* enum cst_damage per damaged_slot[] */
    unsigned missing;                 /* slots beyond the disk's capacity */
    uint64_t next_gen;                /* what the next record will be */
    uint8_t buf[CST_SLOT_BYTES];      /* one slot's worth of scratch */
};

uint32_t cst_crc32(const void *p, size_t n);
uint64_t cst_fnv64(const void *p, size_t n);

/* Reads every slot's header (and the text of those whose header checks)
 * and builds the index.  CST_OK even when every slot is empty or damaged;
 * CST_E_IO only if nothing at all could be read. */
int cst_scan(struct cst *st, const struct cst_io *io) __attribute__((warn_unused_result));

/* Writes TEXT (LEN bytes) as the next generation and flushes; on success
 * it is e[0].  CST_E_TOO_LONG, CST_E_SPACE, CST_E_IO (then the index is
 * unchanged, and the slot may hold a damaged record). */
int cst_append(struct cst *st, const char *text, size_t len, uint64_t site_hash, uint64_t wall_time, enum cst_kind kind)
    __attribute__((warn_unused_result));

/* Reads record IDX (0 = newest) into OUT (CAP bytes; a NUL is added) and
 * checks it again: CST_OK and *LEN, CST_E_RANGE, CST_E_IO, CST_E_DAMAGED,
 * CST_E_TOO_LONG (the text and its NUL do not fit CAP). */
int cst_load(struct cst *st, unsigned idx, char *out, size_t cap, size_t *len) __attribute__((warn_unused_result));

/* At boot: the index of the record to run for a site file of hash
 * SITE_HASH, or -1 when the site file runs (no record, or the newest was
 * written for another site file).  Skips a newest record that is a commit
 * confirmed never confirmed (*SKIPPED_PENDING true). */
int cst_newest_for(const struct cst *st, uint64_t site_hash, bool *skipped_pending);

/* Texts for messages. */
const char *cst_strerror(int err);
const char *cst_damage_name(enum cst_damage d);
const char *cst_kind_name(uint32_t kind);

#endif
