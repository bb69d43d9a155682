/*
 * test_lib_cpio.c - lib/cpio.c on real archives made by GNU cpio at test
 * time (-H newc and -H crc, from a temporary directory), on archives built
 * here byte by byte, and on every truncation and on random corruption of
 * them.  Archives under test always sit in an exact-size heap buffer, so
 * ASan catches any read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <keel/cpio.h>

#include "unit.h"

/* ------------------------------------------------- archive builder ---- */

struct arch {
    uint8_t buf[8192];
    size_t len;
};

static void put_bytes(struct arch *a, const void *p, size_t n)
{
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

static void pad4(struct arch *a)
{
    while (a->len % 4)
        a->buf[a->len++] = 0;
}

/*
 * One entry.  The header's namesize and filesize are written as given, so
 * tests can lie; the bytes stored are name's and data_len bytes of data.
 */
static void put_entry_lying(struct arch *a, const char *magic, const char *name, uint32_t namesize, uint32_t mode,
                            const void *data, size_t data_len, uint32_t filesize, uint32_t check)
{
    char hdr[111];
    snprintf(hdr, sizeof hdr, "%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", magic, 7u, mode, 0u, 0u, 1u, 0u,
             filesize, 0u, 0u, 0u, 0u, namesize, check);
    put_bytes(a, hdr, 110);
    put_bytes(a, name, strlen(name) + 1);
    pad4(a);
    put_bytes(a, data, data_len);
    pad4(a);
}

static void put_entry_raw(struct arch *a, const char *magic, const char *name, uint32_t namesize, uint32_t mode,
                          const void *data, uint32_t filesize, uint32_t check)
{
    put_entry_lying(a, magic, name, namesize, mode, data, filesize, filesize, check);
}

static uint32_t sum(const void *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((const uint8_t *)p)[i];
    return s;
}

static void put_file(struct arch *a, const char *name, const char *text)
{
    put_entry_raw(a, "070701", name, (uint32_t)strlen(name) + 1, 0100644, text, (uint32_t)strlen(text), 0);
}

static void put_trailer(struct arch *a) { put_entry_raw(a, "070701", "TRAILER!!!", 11, 0, "", 0, 0); }

/* A small valid archive: two files (one empty), a directory, the trailer. */
static void build_sample(struct arch *a)
{
    a->len = 0;
    put_file(a, "init", "#!keel\n");
    put_entry_raw(a, "070701", "etc", 4, 0040755, "", 0, 0);
    put_file(a, "etc/empty", "");
    put_file(a, "etc/appliance.conf", "net.ip=10.0.2.15\n");
    put_trailer(a);
}

/* The archive in an exact-size heap copy (ASan-visible end). */
static uint8_t *exact_copy(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    return c;
}

/* Walks the whole archive; returns the final cpio_next() result, counts entries. */
static int walk(const void *buf, size_t len, int *entries)
{
    struct cpio_iter it;
    struct cpio_entry e;
    int r;
    *entries = 0;
    cpio_iter_init(&it, buf, len);
    while ((r = cpio_next(&it, &e)) > 0) {
        (*entries)++;
        CHECK((const uint8_t *)e.data >= (const uint8_t *)buf);
        CHECK((const uint8_t *)e.data + e.size <= (const uint8_t *)buf + len);
        CHECK_EQ(strlen(e.name), e.name_len);
    }
    return r;
}

/* ------------------------------------------------------ hand-built ---- */

static void test_iterates_hand_built_archive(void)
{
    static struct arch a;
    build_sample(&a);
    uint8_t *buf = exact_copy(a.buf, a.len);
    struct cpio_iter it;
    struct cpio_entry e;
    cpio_iter_init(&it, buf, a.len);

    CHECK_EQ(cpio_next(&it, &e), 1);
    CHECK_STR(e.name, "init");
    CHECK_EQ(e.size, 7);
    CHECK(memcmp(e.data, "#!keel\n", 7) == 0);
    CHECK_EQ(e.mode, 0100644);
    CHECK_EQ(e.ino, 7);
    CHECK_EQ(cpio_next(&it, &e), 1);
    CHECK_STR(e.name, "etc");
    CHECK_EQ(e.mode & CPIO_MODE_TYPE, CPIO_MODE_DIR);
    CHECK_EQ(cpio_next(&it, &e), 1);
    CHECK_STR(e.name, "etc/empty");
    CHECK_EQ(e.size, 0);
    CHECK_EQ(cpio_next(&it, &e), 1);
    CHECK_STR(e.name, "etc/appliance.conf");
    CHECK_EQ(cpio_next(&it, &e), 0);
    CHECK_EQ(cpio_next(&it, &e), 0); /* stays at the end */
    free(buf);
}

static void test_find(void)
{
    static struct arch a;
    build_sample(&a);
    uint8_t *buf = exact_copy(a.buf, a.len);
    const void *data = NULL;
    size_t size = 99;
    CHECK_EQ(cpio_find(buf, a.len, "etc/appliance.conf", &data, &size), 0);
    CHECK_EQ(size, 17);
    CHECK(memcmp(data, "net.ip=10.0.2.15\n", 17) == 0);
    CHECK_EQ(cpio_find(buf, a.len, "etc/empty", &data, &size), 0);
    CHECK_EQ(size, 0);
    CHECK_EQ(cpio_find(buf, a.len, "etc", &data, &size), CPIO_E_NOTFILE);
    CHECK_EQ(cpio_find(buf, a.len, "nope", &data, &size), CPIO_E_NOTFOUND);
    CHECK_EQ(cpio_find(buf, a.len, "etc/appliance.con", &data, &size), CPIO_E_NOTFOUND);
    CHECK_EQ(cpio_find(buf, a.len, "TRAILER!!!", &data, &size), CPIO_E_NOTFOUND);
    CHECK_EQ(cpio_find(buf, a.len, NULL, &data, &size), CPIO_E_INVAL);
    CHECK_EQ(cpio_find(NULL, a.len, "init", &data, &size), CPIO_E_INVAL);
    free(buf);
}

static void test_find_validates_whole_archive_and_rejects_duplicates(void)
{
    static struct arch a;
    a.len = 0;
    put_file(&a, "first", "1");
    put_file(&a, "second", "2");
    put_file(&a, "./first", "3"); /* the same name once "./" is dropped */
    put_trailer(&a);
    const void *data;
    size_t size;
    CHECK_EQ(cpio_find(a.buf, a.len, "first", &data, &size), CPIO_E_DUPLICATE);
    CHECK_EQ(cpio_find(a.buf, a.len, "second", &data, &size), 0);
    /* Damage after the entry we look for still fails the lookup. */
    a.len -= 124; /* drop the trailer */
    CHECK_EQ(cpio_find(a.buf, a.len, "second", &data, &size), CPIO_E_NOTRAILER);
}

static void test_crc_variant_checks_the_sum(void)
{
    static struct arch a;
    const char *text = "checksummed data";
    a.len = 0;
    put_entry_raw(&a, "070702", "f", 2, 0100600, text, (uint32_t)strlen(text), sum(text, strlen(text)));
    put_entry_raw(&a, "070702", "l", 2, 0120777, "target", 6, 0); /* a symlink: not summed */
    put_trailer(&a);
    int n;
    CHECK_EQ(walk(a.buf, a.len, &n), 0);
    CHECK_EQ(n, 2);
    a.len = 0;
    put_entry_raw(&a, "070702", "f", 2, 0100600, text, (uint32_t)strlen(text), sum(text, strlen(text)) + 1);
    put_trailer(&a);
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_CHECKSUM);
    /* newc (070701) ignores c_check. */
    a.len = 0;
    put_entry_raw(&a, "070701", "f", 2, 0100600, text, (uint32_t)strlen(text), 12345);
    put_trailer(&a);
    CHECK_EQ(walk(a.buf, a.len, &n), 0);
}

static void test_malformed_headers(void)
{
    static struct arch a;
    int n;
    /* Each header field in turn gets a non-hex character. */
    for (size_t field = 6; field < 110; field += 8) {
        static const char bad[] = { 'g', ' ', '+', '-', 'x', '\0' };
        for (size_t k = 0; k < sizeof bad; k++) {
            build_sample(&a);
            a.buf[field + (k % 8)] = (uint8_t)bad[k];
            CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_HEX);
        }
    }
    build_sample(&a);
    a.buf[5] = '7'; /* 070707: the old portable format */
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_MAGIC);

    a.len = 0;
    put_entry_raw(&a, "070701", "x", 0, 0100644, "", 0, 0); /* namesize 0 */
    put_trailer(&a);
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_NAME);
    a.len = 0;
    put_entry_raw(&a, "070701", "abc", 3, 0100644, "", 0, 0); /* NUL not at namesize-1 */
    put_trailer(&a);
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_NAME);
    a.len = 0;
    put_entry_raw(&a, "070701", "ab", 4, 0100644, "", 0, 0); /* NUL before namesize-1 */
    put_trailer(&a);
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_NAME);
    a.len = 0;
    put_entry_raw(&a, "070701", "ab", 0x7fffffff, 0100644, "", 0, 0); /* name runs off the end */
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_TRUNCATED);
    a.len = 0;
    put_entry_lying(&a, "070701", "ab", 3, 0100644, "", 0, 0xffffffffu, 0); /* data runs off the end */
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_TRUNCATED);
    a.len = 0;
    put_entry_raw(&a, "070701", "TRAILER!!!", 11, 0, "oops", 4, 0); /* a trailer with data */
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_FORMAT);
}

static void test_empty_missing_trailer_and_null(void)
{
    static struct arch a;
    int n;
    CHECK_EQ(walk(a.buf, 0, &n), CPIO_E_NOTRAILER);
    a.len = 0;
    put_file(&a, "x", "y");
    CHECK_EQ(walk(a.buf, a.len, &n), CPIO_E_NOTRAILER);
    CHECK_EQ(n, 1);
    /* The error sticks. */
    struct cpio_iter it;
    struct cpio_entry e;
    cpio_iter_init(&it, a.buf, 10);
    CHECK_EQ(cpio_next(&it, &e), CPIO_E_TRUNCATED);
    CHECK_EQ(cpio_next(&it, &e), CPIO_E_TRUNCATED);
    cpio_iter_init(&it, NULL, 100);
    CHECK_EQ(cpio_next(&it, &e), CPIO_E_INVAL);
}

static void test_every_truncation_fails_cleanly(void)
{
    static struct arch a;
    build_sample(&a);
    /* Every proper prefix fails (the trailer's name padding is required
     * too), without reading past it; the whole archive succeeds. */
    for (size_t cut = 0; cut <= a.len; cut++) {
        uint8_t *buf = exact_copy(a.buf, cut);
        int n;
        int r = walk(buf, cut, &n);
        if (cut < a.len)
            CHECK(r == CPIO_E_TRUNCATED || r == CPIO_E_NOTRAILER);
        else
            CHECK_EQ(r, 0);
        free(buf);
    }
}

static uint64_t rng_state = 0x6a09e667f3bcc909ull;

static uint64_t rng(void) { return unit_xorshift64(&rng_state); }

static void test_random_corruption_never_escapes_the_buffer(void)
{
    static struct arch a;
    static const char alphabet[] = "0123456789abcdefABCDEFgG\0\xff!TRAILER";
    int ok = 0, failed = 0;
    for (int i = 0; i < 20000; i++) {
        build_sample(&a);
        int flips = 1 + (int)(rng() % 3);
        for (int k = 0; k < flips; k++)
            a.buf[rng() % a.len] = (uint8_t)alphabet[rng() % (sizeof alphabet - 1)];
        size_t len = (rng() % 4 == 0) ? (size_t)(rng() % a.len) : a.len;
        uint8_t *buf = exact_copy(a.buf, len);
        int n;
        int r = walk(buf, len, &n);
        CHECK(r <= 0);
        if (r == 0)
            ok++;
        else
            failed++;
        const void *data;
        size_t size;
        int f = cpio_find(buf, len, "etc/appliance.conf", &data, &size);
        if (f == 0)
            CHECK((const uint8_t *)data + size <= buf + len);
        free(buf);
    }
    CHECK(ok > 0);
    CHECK(failed > 0);
}

static void test_strerror(void)
{
    static const int codes[] = { 1,
                                 0,
                                 CPIO_E_TRUNCATED,
                                 CPIO_E_MAGIC,
                                 CPIO_E_HEX,
                                 CPIO_E_NAME,
                                 CPIO_E_NOTRAILER,
                                 CPIO_E_CHECKSUM,
                                 CPIO_E_FORMAT,
                                 CPIO_E_NOTFOUND,
                                 CPIO_E_NOTFILE,
                                 CPIO_E_DUPLICATE,
                                 CPIO_E_INVAL };
    size_t n = sizeof codes / sizeof codes[0];
    const char *unknown = cpio_strerror(-1000);
    CHECK(unknown != NULL);
    for (size_t i = 0; i < n; i++) {
        CHECK(cpio_strerror(codes[i]) != NULL);
        CHECK(strcmp(cpio_strerror(codes[i]), unknown) != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(cpio_strerror(codes[i]), cpio_strerror(codes[j])) != 0);
    }
}

/* ---------------------------------------------- real GNU cpio output ---- */

static char tmpdir[64];

static void write_file(const char *rel, const void *data, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(fwrite(data, 1, n, f), n);
        fclose(f);
    }
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*len ? *len : 1);
    CHECK_EQ(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

/* Runs GNU cpio in tmpdir over `list` (a shell command printing names); returns the archive. */
static uint8_t *run_cpio(const char *format, const char *list, size_t *len)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd %s/tree && %s | cpio --quiet -o -H %s -R 0:0 > %s/out.cpio", tmpdir, list, format,
             tmpdir);
    CHECK_EQ(system(cmd), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/out.cpio", tmpdir);
    return read_file(path, len);
}

static uint8_t big[3001];

static void make_tree(void)
{
    char cmd[256];
    strcpy(tmpdir, "/tmp/keel-cpio-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/tree/sub/deeper && ln -s ../one %s/tree/sub/link", tmpdir, tmpdir);
    CHECK_EQ(system(cmd), 0);
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    write_file("tree/empty", "", 0);
    write_file("tree/one", "1", 1);
    write_file("tree/two", "22", 2);
    write_file("tree/three", "333", 3);
    write_file("tree/four", "4444", 4);
    write_file("tree/sub/five", "55555", 5);
    write_file("tree/sub/deeper/big", big, sizeof big);
}

static void check_real_archive(const uint8_t *buf, size_t len)
{
    static const struct {
        const char *name;
        const char *text;
        size_t size;
    } files[] = { { "empty", "", 0 },    { "one", "1", 1 },     { "two", "22", 2 },
                  { "three", "333", 3 }, { "four", "4444", 4 }, { "sub/five", "55555", 5 } };
    const void *data;
    size_t size;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        int r = cpio_find(buf, len, files[i].name, &data, &size);
        CHECK_EQ(r, 0);
        if (r == 0) {
            CHECK_EQ(size, files[i].size);
            CHECK(memcmp(data, files[i].text, size) == 0);
        }
    }
    int r = cpio_find(buf, len, "sub/deeper/big", &data, &size);
    CHECK_EQ(r, 0);
    if (r == 0) {
        CHECK_EQ(size, sizeof big);
        CHECK(memcmp(data, big, sizeof big) == 0);
    }
    CHECK_EQ(cpio_find(buf, len, "sub", &data, &size), CPIO_E_NOTFILE);
    CHECK_EQ(cpio_find(buf, len, "sub/link", &data, &size), CPIO_E_NOTFILE);
    CHECK_EQ(cpio_find(buf, len, "missing", &data, &size), CPIO_E_NOTFOUND);
    int n;
    CHECK_EQ(walk(buf, len, &n), 0);
    CHECK(n >= 10); /* 7 files, 2 directories, 1 link (and "." with find) */
}

static void test_real_gnu_cpio_archives(void)
{
    static const char *const lists[] = {
        "find . -mindepth 1 | sed 's|^\\./||' | LC_ALL=C sort", /* bare names, as tools/mkcpio.sh makes */
        "find . | LC_ALL=C sort",                               /* "./name" and "." */
    };
    make_tree();
    for (size_t l = 0; l < 2; l++) {
        for (int crc = 0; crc < 2; crc++) {
            size_t len = 0;
            uint8_t *buf = run_cpio(crc ? "crc" : "newc", lists[l], &len);
            if (!buf)
                continue;
            CHECK(len > 0 && len % 512 == 0);
            CHECK(memcmp(buf, crc ? "070702" : "070701", 6) == 0);
            check_real_archive(buf, len);
            if (crc) { /* flip one byte of the big file: only the CRC format notices */
                const void *data;
                size_t size;
                if (cpio_find(buf, len, "sub/deeper/big", &data, &size) == 0) {
                    buf[(const uint8_t *)data - buf + 100] ^= 1;
                    CHECK_EQ(cpio_find(buf, len, "one", &data, &size), CPIO_E_CHECKSUM);
                } else {
                    CHECK(!"big not found");
                }
            }
            free(buf);
        }
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK_EQ(system(cmd), 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_iterates_hand_built_archive),
        UNIT_TEST(test_find),
        UNIT_TEST(test_find_validates_whole_archive_and_rejects_duplicates),
        UNIT_TEST(test_crc_variant_checks_the_sum),
        UNIT_TEST(test_malformed_headers),
        UNIT_TEST(test_empty_missing_trailer_and_null),
        UNIT_TEST(test_every_truncation_fails_cleanly),
        UNIT_TEST(test_random_corruption_never_escapes_the_buffer),
        UNIT_TEST(test_strerror),
        UNIT_TEST(test_real_gnu_cpio_archives),
    };
    return unit_main("lib_cpio", tests, (int)(sizeof tests / sizeof tests[0]));
}
