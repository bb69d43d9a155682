/*
 * test_config_store.c - the saved configuration's records (appliance/
 * console/store.c) on a RAM disk: append and scan, wrap-around past
 * CST_SLOTS, a write cut short at every byte (a power cut), every byte of
 * the newest record flipped, a disk truncated inside the newest record, the
 * boot decision (site file changed, commit confirmed never confirmed), and
 * a failing disk.  Every disk is freed at the end of its test.
 */
#include <stdint.h>
#include <stdlib.h>

#include "store.h"
#include "unit.h"

struct ramdisk {
    uint8_t *bytes;
    uint64_t sectors;
    long cut; /* >= 0: the next write lands only its first CUT bytes */
    bool fail_write;
    unsigned writes;
};

static int64_t rd_read(void *ctx, uint64_t sector, uint64_t n, void *buf)
{
    struct ramdisk *d = ctx;
    if (sector + n > d->sectors)
        return -1;
    memcpy(buf, d->bytes + sector * CST_SECTOR, n * CST_SECTOR);
    return 0;
}

static int64_t rd_write(void *ctx, uint64_t sector, uint64_t n, const void *buf)
{
    struct ramdisk *d = ctx;
    if (d->fail_write || sector + n > d->sectors)
        return -1;
    size_t len = n * CST_SECTOR;
    if (d->cut >= 0 && (size_t)d->cut < len)
        len = (size_t)d->cut;
    memcpy(d->bytes + sector * CST_SECTOR, buf, len);
    d->writes++;
    return 0;
}

static int64_t rd_flush(void *ctx)
{
    (void)ctx;
    return 0;
}

static struct ramdisk *rd_new(uint64_t sectors)
{
    struct ramdisk *d = calloc(1, sizeof *d);
    d->bytes = calloc(sectors, CST_SECTOR);
    d->sectors = sectors;
    d->cut = -1;
    return d;
}

static void rd_free(struct ramdisk *d)
{
    free(d->bytes);
    free(d);
}

static struct cst_io rd_io(struct ramdisk *d) { return (struct cst_io){ d, rd_read, rd_write, rd_flush, d->sectors }; }

static struct cst *st_new(void) { return calloc(1, sizeof(struct cst)); }

static void text_for(uint64_t gen, char *buf, size_t *len)
{
    /* Lengths vary (some span sectors) so texts differ in size too. */
    size_t n = (size_t)snprintf(buf, 128, "hostname gen%llu\n", (unsigned long long)gen);
    size_t extra = (gen * 37) % 900;
    for (size_t i = 0; i < extra; i++)
        buf[n++] = (char)('a' + (gen + i) % 26);
    buf[n++] = '\n';
    buf[n] = 0;
    *len = n;
}

/* Appends generations 1..N through a fresh scan each time (as a reboot). */
static void fill(struct ramdisk *d, struct cst *st, uint64_t n)
{
    struct cst_io io = rd_io(d);
    CHECK_EQ(cst_scan(st, &io), CST_OK);
    char text[2048];
    size_t len;
    for (uint64_t g = st->next_gen; g <= n; g++) {
        text_for(g, text, &len);
        CHECK_EQ(cst_append(st, text, len, 42, 1000 + g, CST_KIND_COMMIT), CST_OK);
    }
}

/* The newest intact record is generation GEN with its text. */
static void check_newest(struct cst *st, uint64_t gen)
{
    static char out[CST_TEXT_MAX + 1];
    char want[2048];
    size_t len = 0, wlen;
    CHECK(st->n > 0);
    if (!st->n)
        return;
    CHECK_EQ(st->e[0].generation, gen);
    CHECK_EQ(cst_load(st, 0, out, sizeof out, &len), CST_OK);
    text_for(gen, want, &wlen);
    CHECK_EQ(len, wlen);
    CHECK(memcmp(out, want, wlen) == 0);
}

static void test_empty_disk(void)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    struct cst_io io = rd_io(d);
    CHECK_EQ(cst_scan(st, &io), CST_OK);
    CHECK_EQ(st->n, 0);
    CHECK_EQ(st->n_damaged, 0);
    CHECK_EQ(st->missing, 0);
    CHECK_EQ(st->next_gen, 1);
    bool p;
    CHECK_EQ(cst_newest_for(st, 42, &p), -1);
    free(st);
    rd_free(d);
}

static void test_append_and_rescan(void)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    fill(d, st, 7);
    CHECK_EQ(st->n, 7);
    struct cst_io io = rd_io(d);
    CHECK_EQ(cst_scan(st, &io), CST_OK);
    CHECK_EQ(st->n, 7);
    CHECK_EQ(st->n_damaged, 0);
    CHECK_EQ(st->next_gen, 8);
    for (unsigned i = 0; i < 7; i++)
        CHECK_EQ(st->e[i].generation, 7 - i);
    CHECK_EQ(st->e[0].wall_time, 1007);
    check_newest(st, 7);
    static char out[CST_TEXT_MAX + 1];
    size_t len;
    CHECK_EQ(cst_load(st, 3, out, sizeof out, &len), CST_OK);
    CHECK(strncmp(out, "hostname gen4\n", 14) == 0);
    CHECK_EQ(cst_load(st, 7, out, sizeof out, &len), CST_E_RANGE);
    free(st);
    rd_free(d);
}

static void test_wraps_keeping_the_newest(void)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    fill(d, st, 150);
    CHECK_EQ(st->n, CST_SLOTS);
    struct cst_io io = rd_io(d);
    CHECK_EQ(cst_scan(st, &io), CST_OK);
    CHECK_EQ(st->n, CST_SLOTS);
    CHECK_EQ(st->e[CST_SLOTS - 1].generation, 150 - CST_SLOTS + 1);
    check_newest(st, 150);
    free(st);
    rd_free(d);
}

static void test_longest_text(void)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    struct cst_io io = rd_io(d);
    CHECK_EQ(cst_scan(st, &io), CST_OK);
    static char big[CST_TEXT_MAX + 2], out[CST_TEXT_MAX + 1];
    memset(big, 'x', sizeof big);
    CHECK_EQ(cst_append(st, big, CST_TEXT_MAX + 1, 1, 0, CST_KIND_COMMIT), CST_E_TOO_LONG);
    CHECK_EQ(cst_append(st, big, CST_TEXT_MAX, 1, 0, CST_KIND_COMMIT), CST_OK);
    size_t len;
    CHECK_EQ(cst_load(st, 0, out, sizeof out, &len), CST_OK);
    CHECK_EQ(len, CST_TEXT_MAX);
    CHECK_EQ(cst_load(st, 0, out, CST_TEXT_MAX, &len), CST_E_TOO_LONG);
    free(st);
    rd_free(d);
}

/* A power cut during the write of generation GEN, after CUT bytes: the
 * previous generation is the newest intact record. */
static void cut_case(uint64_t before, long cut, unsigned *damaged_seen)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    fill(d, st, before);
    char text[2048];
    size_t len;
    text_for(before + 1, text, &len);
    d->cut = cut;
    CHECK_EQ(cst_append(st, text, len, 42, 0, CST_KIND_COMMIT), CST_OK);
    d->cut = -1;
    struct cst_io io = rd_io(d);
    CHECK_EQ(cst_scan(st, &io), CST_OK);
    if ((uint64_t)cut >= CST_SECTOR + len) { /* the rest is zero padding, as before */
        check_newest(st, before + 1);
    } else {
        check_newest(st, before);
        if (st->n_damaged)
            (*damaged_seen)++;
        /* the next commit takes the interrupted generation's number again */
        CHECK_EQ(st->next_gen, before + 1);
    }
    free(st);
    rd_free(d);
}

static void test_power_cut_at_every_byte(void)
{
    char text[2048];
    size_t len;
    text_for(6, text, &len);
    long whole = (long)((1 + (len + CST_SECTOR - 1) / CST_SECTOR) * CST_SECTOR);
    unsigned damaged = 0;
    for (long cut = 0; cut <= whole; cut++)
        cut_case(5, cut, &damaged);
    CHECK(damaged > 0); /* a cut after the first byte leaves something to report */
    /* Over a slot that held an older record (generation 1 of 64 + 1). */
    text_for(CST_SLOTS + 1, text, &len);
    whole = (long)((1 + (len + CST_SECTOR - 1) / CST_SECTOR) * CST_SECTOR);
    for (long cut = 0; cut <= whole; cut += 7)
        cut_case(CST_SLOTS, cut, &damaged);
}

static void test_every_flipped_byte(void)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    fill(d, st, 9);
    char text[2048];
    size_t len;
    text_for(9, text, &len);
    uint64_t base = 9ull * CST_SLOT_SECTORS * CST_SECTOR, used = CST_SECTOR + len;
    struct cst_io io = rd_io(d);
    for (uint64_t i = 0; i < used; i++) {
        d->bytes[base + i] ^= 0x5a;
        CHECK_EQ(cst_scan(st, &io), CST_OK);
        check_newest(st, 8);
        CHECK_EQ(st->n_damaged, 1);
        CHECK_EQ(st->damaged_slot[0], 9);
        d->bytes[base + i] ^= 0x5a;
    }
    CHECK_EQ(cst_scan(st, &io), CST_OK);
    check_newest(st, 9);
    free(st);
    rd_free(d);
}

static void test_truncated_disk(void)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    fill(d, st, 12);
    char text[2048];
    size_t len;
    text_for(12, text, &len);
    uint64_t start = 12ull * CST_SLOT_SECTORS, end = start + 1 + (len + CST_SECTOR - 1) / CST_SECTOR;
    for (uint64_t cut = start; cut < end; cut++) {
        d->sectors = cut; /* the image ends inside the newest record */
        struct cst_io io = rd_io(d);
        CHECK_EQ(cst_scan(st, &io), CST_OK);
        check_newest(st, 11);
        CHECK_EQ(st->missing, CST_SLOTS - 12 - (cut > start ? 1 : 0));
        CHECK_EQ(st->n_damaged, cut > start ? 1 : 0);
        if (cut > start) {
            CHECK_EQ(st->damage[0], CST_DMG_SHORT);
        }
        /* generation 12 goes to slot 12 again: beyond the disk */
        CHECK_EQ(cst_append(st, text, len, 42, 0, CST_KIND_COMMIT), CST_E_SPACE);
    }
    free(st);
    rd_free(d);
}

static void test_boot_decision(void)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    fill(d, st, 3); /* site hash 42 */
    bool pending;
    CHECK_EQ(cst_newest_for(st, 42, &pending), 0);
    CHECK(!pending);
    CHECK_EQ(cst_newest_for(st, 43, &pending), -1); /* the site file changed: it is newer */
    CHECK_EQ(cst_append(st, "hostname p\n", 11, 42, 0, CST_KIND_PENDING), CST_OK);
    CHECK_EQ(cst_newest_for(st, 42, &pending), 1);
    CHECK(pending);
    CHECK_EQ(st->e[1].generation, 3);
    CHECK(strcmp(cst_kind_name(CST_KIND_PENDING), "?") != 0);
    free(st);
    rd_free(d);
}

static void test_failing_disk(void)
{
    struct ramdisk *d = rd_new(CST_DISK_SECTORS);
    struct cst *st = st_new();
    fill(d, st, 2);
    d->fail_write = true;
    CHECK_EQ(cst_append(st, "hostname x\n", 11, 42, 0, CST_KIND_COMMIT), CST_E_IO);
    CHECK_EQ(st->n, 2);
    CHECK_EQ(st->next_gen, 3);
    CHECK(st->last_io != 0);
    d->sectors = 0;
    struct cst_io io = rd_io(d);
    CHECK_EQ(cst_scan(st, &io), CST_OK); /* no slot at all: nothing, quietly */
    CHECK_EQ(st->missing, CST_SLOTS);
    free(st);
    rd_free(d);
}

static void test_checksums(void)
{
    CHECK_EQ(cst_crc32("123456789", 9), 0xcbf43926u); /* the standard check value */
    CHECK(cst_fnv64("a", 1) == 0xaf63dc4c8601ec8cull);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_checksums),          UNIT_TEST(test_empty_disk),
        UNIT_TEST(test_append_and_rescan),  UNIT_TEST(test_wraps_keeping_the_newest),
        UNIT_TEST(test_longest_text),       UNIT_TEST(test_power_cut_at_every_byte),
        UNIT_TEST(test_every_flipped_byte), UNIT_TEST(test_truncated_disk),
        UNIT_TEST(test_boot_decision),      UNIT_TEST(test_failing_disk),
    };
    return unit_main("config_store", tests, sizeof tests / sizeof tests[0]);
}
