/*
 * store.c - the saved configuration's records on disk (store.h has the
 * layout and the rules; this file is pure: no system calls, no globals).
 *
 * cst_scan reads the CST_SLOTS headers one sector each, then the text of
 * each header that checks, and sorts what is intact newest first.  The
 * index is the only state; cst_append keeps it true after a successful
 * write and leaves it untouched after a failed one (the slot written may
 * then hold a damaged record, which the next scan reports and the next
 * append of that generation overwrites).
 */
#include <keel/string.h>

#include "store.h"

/* ------------------------------------------------------------ checksums -- */

uint32_t cst_crc32(const void *p, size_t n)
{
    /* CRC-32 (IEEE 802.3, reflected, polynomial 0xedb88320), bitwise: a
     * configuration is at most 64 KiB and is checked once per boot. */
    const uint8_t *b = p;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

uint64_t cst_fnv64(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint32_t header_crc(const struct cst_header *h)
{
    struct cst_header tmp;
    memcpy(&tmp, h, sizeof tmp);
    tmp.hdr_crc = 0;
    return cst_crc32(&tmp, sizeof tmp);
}

/* ------------------------------------------------------------- the disk -- */

static uint64_t slot_sector(unsigned slot) { return (uint64_t)slot * CST_SLOT_SECTORS; }

static uint64_t text_sectors(uint32_t len) { return (len + CST_SECTOR - 1) / CST_SECTOR; }

static int io_read(struct cst *st, uint64_t sector, uint64_t n, void *buf)
{
    int64_t r = st->io.read(st->io.ctx, sector, n, buf);
    st->last_io = r;
    return r ? CST_E_IO : CST_OK;
}

/* Whether a header is well-formed for SLOT (everything but the text). */
static bool header_ok(const struct cst_header *h, unsigned slot)
{
    return memcmp(h->magic, CST_MAGIC, 8) == 0 && h->version == CST_VERSION && h->hdr_crc == header_crc(h) &&
           h->generation != 0 && h->generation % CST_SLOTS == slot && h->text_len <= CST_TEXT_MAX && h->reserved == 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void note_damage(struct cst *st, unsigned slot, enum cst_damage d)
{
    st->damaged_slot[st->n_damaged] = slot;
    st->damage[st->n_damaged++] = (uint8_t)d;
}

#define SLOT_EMPTY (-1) /* read_record: nothing was ever written there */

/* Reads the header at SLOT and its text into st->buf; CST_OK and *H when
 * the record is intact, SLOT_EMPTY for an all-zero header sector, else the
 * enum cst_damage. */
static int read_record(struct cst *st, unsigned slot, struct cst_header *h)
{
    uint64_t base = slot_sector(slot);
    if (io_read(st, base, 1, st->buf))
        return CST_DMG_READ;
    memcpy(h, st->buf, sizeof *h);
    if (all_zero(st->buf, CST_SECTOR))
        return SLOT_EMPTY;
    if (!header_ok(h, slot))
        return CST_DMG_HEADER;
    uint64_t n = text_sectors(h->text_len);
    if (n && base + 1 + n > st->io.capacity)
        return CST_DMG_SHORT;
    if (n && io_read(st, base + 1, n, st->buf + CST_SECTOR))
        return CST_DMG_READ;
    if (cst_crc32(st->buf + CST_SECTOR, h->text_len) != h->text_crc)
        return CST_DMG_TEXT;
    return CST_OK;
}

/* Inserts E keeping e[] newest first. */
static void index_insert(struct cst *st, const struct cst_entry *e)
{
    unsigned i = st->n;
    while (i > 0 && st->e[i - 1].generation < e->generation) {
        st->e[i] = st->e[i - 1];
        i--;
    }
    st->e[i] = *e;
    st->n++;
}

int cst_scan(struct cst *st, const struct cst_io *io)
{
    memset(st, 0, sizeof *st);
    st->io = *io;
    st->next_gen = 1;
    unsigned read_ok = 0;
    for (unsigned slot = 0; slot < CST_SLOTS; slot++) {
        if (slot_sector(slot) + 1 > io->capacity) {
            st->missing++;
            continue;
        }
        struct cst_header h;
        int r = read_record(st, slot, &h);
        if (r != CST_DMG_READ)
            read_ok++;
        if (r == SLOT_EMPTY)
            continue;
        if (r != CST_OK) {
            note_damage(st, slot, (enum cst_damage)r);
            continue;
        }
        struct cst_entry e = { h.generation, h.site_hash, h.wall_time, h.text_len, h.kind };
        index_insert(st, &e);
    }
    if (st->n)
        st->next_gen = st->e[0].generation + 1;
    return read_ok || st->missing == CST_SLOTS ? CST_OK : CST_E_IO;
}

int cst_append(struct cst *st, const char *text, size_t len, uint64_t site_hash, uint64_t wall_time, enum cst_kind kind)
{
    if (len > CST_TEXT_MAX)
        return CST_E_TOO_LONG;
    uint64_t gen = st->next_gen;
    unsigned slot = (unsigned)(gen % CST_SLOTS);
    uint64_t n = 1 + text_sectors((uint32_t)len);
    if (slot_sector(slot) + n > st->io.capacity)
        return CST_E_SPACE;
    struct cst_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CST_MAGIC, 8);
    h.version = CST_VERSION;
    h.generation = gen;
    h.site_hash = site_hash;
    h.wall_time = wall_time;
    h.text_len = (uint32_t)len;
    h.text_crc = cst_crc32(text, len);
    h.kind = (uint32_t)kind;
    h.hdr_crc = header_crc(&h);
    memset(st->buf, 0, n * CST_SECTOR);
    memcpy(st->buf, &h, sizeof h);
    memcpy(st->buf + CST_SECTOR, text, len);
    st->last_io = st->io.write(st->io.ctx, slot_sector(slot), n, st->buf);
    if (!st->last_io)
        st->last_io = st->io.flush(st->io.ctx);
    if (st->last_io)
        return CST_E_IO;
    /* point of no return: the record is on the disk */
    unsigned w = 0;
    for (unsigned i = 0; i < st->n; i++)
        if (st->e[i].generation % CST_SLOTS != slot)
            st->e[w++] = st->e[i];
    st->n = w;
    struct cst_entry e = { gen, site_hash, wall_time, (uint32_t)len, (uint32_t)kind };
    index_insert(st, &e);
    st->next_gen = gen + 1;
    return CST_OK;
}

int cst_load(struct cst *st, unsigned idx, char *out, size_t cap, size_t *len)
{
    if (idx >= st->n)
        return CST_E_RANGE;
    unsigned slot = (unsigned)(st->e[idx].generation % CST_SLOTS);
    struct cst_header h;
    int r = read_record(st, slot, &h);
    if (r == CST_DMG_READ)
        return CST_E_IO;
    if (r != CST_OK || h.generation != st->e[idx].generation)
        return CST_E_DAMAGED;
    if ((size_t)h.text_len + 1 > cap)
        return CST_E_TOO_LONG;
    memcpy(out, st->buf + CST_SECTOR, h.text_len);
    out[h.text_len] = '\0';
    *len = h.text_len;
    return CST_OK;
}

int cst_newest_for(const struct cst *st, uint64_t site_hash, bool *skipped_pending)
{
    *skipped_pending = false;
    if (st->n == 0 || st->e[0].site_hash != site_hash)
        return -1;
    unsigned i = 0;
    if (st->e[0].kind == CST_KIND_PENDING) {
        *skipped_pending = true;
        i = 1;
    }
    return i < st->n ? (int)i : -1;
}

const char *cst_strerror(int err)
{
    switch (err) {
    case CST_OK: return "ok";
    case CST_E_IO: return "the disk refused the transfer";
    case CST_E_SPACE: return "the disk is too small for the next record";
    case CST_E_TOO_LONG: return "the configuration is longer than a record holds";
    case CST_E_RANGE: return "no such saved configuration";
    case CST_E_DAMAGED: return "the saved configuration no longer checks";
    default: return "unknown error";
    }
}

const char *cst_damage_name(enum cst_damage d)
{
    switch (d) {
    case CST_DMG_HEADER: return "header checksum or fields";
    case CST_DMG_TEXT: return "text checksum";
    case CST_DMG_SHORT: return "cut short by the end of the disk";
    case CST_DMG_READ: return "unreadable";
    default: return "?";
    }
}

const char *cst_kind_name(uint32_t kind)
{
    switch (kind) {
    case CST_KIND_COMMIT: return "commit";
    case CST_KIND_SITE: return "site archive";
    case CST_KIND_PENDING: return "commit confirmed (unconfirmed)";
    case CST_KIND_RESTORED: return "commit confirmed rolled back";
    default: return "?";
    }
}
