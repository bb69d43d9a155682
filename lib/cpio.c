/*
 * cpio.c - a reader for cpio newc archives (contract in keel/cpio.h).
 *
 * Format: cpio(5), "New ASCII Format" and "New CRC Format" (libarchive's
 * cpio.5, which documents GNU cpio's -H newc / -H crc output), and the Linux
 * initramfs buffer format (Documentation/driver-api/early-userspace/
 * buffer-format.rst).  An entry is
 *
 *   header (110 bytes) | name (namesize bytes, NUL included) | pad to 4 |
 *   data (filesize bytes) | pad to 4
 *
 * with the 4-byte alignment counted from the start of the archive, and the
 * archive ends with an entry named "TRAILER!!!".
 *
 * Everything is untrusted, so entry parsing is "check everything, then
 * produce": parse_entry() decodes and bounds-checks a whole entry into
 * locals before the iterator moves or the caller's entry is written.  All
 * arithmetic on offsets is done as "does x fit in what is left" so no sum
 * can wrap.  Pure code: no globals, no allocation.
 */
#include <keel/cpio.h>

/* cpio(5) "New ASCII Format": every field is 8 ASCII hex digits, no NUL. */
struct cpio_newc_header {
    char c_magic[6]; /* "070701", or "070702" for the CRC variant */
    char c_ino[8];
    char c_mode[8];
    char c_uid[8];
    char c_gid[8];
    char c_nlink[8];
    char c_mtime[8];
    char c_filesize[8]; /* data bytes, not counting padding */
    char c_devmajor[8];
    char c_devminor[8];
    char c_rdevmajor[8];
    char c_rdevminor[8];
    char c_namesize[8]; /* name bytes including the NUL */
    char c_check[8];    /* 070702: sum of the data bytes; 070701: ignored */
};

_Static_assert(sizeof(struct cpio_newc_header) == 110, "newc header is 110 bytes");
_Static_assert(offsetof(struct cpio_newc_header, c_ino) == 6, "c_ino offset");
_Static_assert(offsetof(struct cpio_newc_header, c_filesize) == 54, "c_filesize offset");
_Static_assert(offsetof(struct cpio_newc_header, c_namesize) == 94, "c_namesize offset");
_Static_assert(offsetof(struct cpio_newc_header, c_check) == 102, "c_check offset");

#define HDR_LEN   sizeof(struct cpio_newc_header)
#define TRAILER   "TRAILER!!!"
#define ITER_MORE 0
#define ITER_DONE 1

/* The fields we use, decoded. */
struct cpio_fields {
    uint32_t ino, mode, uid, gid, nlink, mtime, filesize, namesize, check;
    bool crc;
};

static size_t align4(size_t v) { return (v + 3) & ~(size_t)3; }

static bool bytes_equal(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return false;
    return true;
}

/* Exactly eight hex digits, either case; nothing else accepted. */
static int parse_hex8(const char *f, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = f[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return CPIO_E_HEX;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static int parse_header(const struct cpio_newc_header *h, struct cpio_fields *f)
{
    if (bytes_equal(h->c_magic, "070701", 6))
        f->crc = false;
    else if (bytes_equal(h->c_magic, "070702", 6))
        f->crc = true;
    else
        return CPIO_E_MAGIC;
    uint32_t ignored;
    int err = 0;
    err = err ? err : parse_hex8(h->c_ino, &f->ino);
    err = err ? err : parse_hex8(h->c_mode, &f->mode);
    err = err ? err : parse_hex8(h->c_uid, &f->uid);
    err = err ? err : parse_hex8(h->c_gid, &f->gid);
    err = err ? err : parse_hex8(h->c_nlink, &f->nlink);
    err = err ? err : parse_hex8(h->c_mtime, &f->mtime);
    err = err ? err : parse_hex8(h->c_filesize, &f->filesize);
    err = err ? err : parse_hex8(h->c_devmajor, &ignored);
    err = err ? err : parse_hex8(h->c_devminor, &ignored);
    err = err ? err : parse_hex8(h->c_rdevmajor, &ignored);
    err = err ? err : parse_hex8(h->c_rdevminor, &ignored);
    err = err ? err : parse_hex8(h->c_namesize, &f->namesize);
    err = err ? err : parse_hex8(h->c_check, &f->check);
    return err;
}

static uint32_t data_sum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += p[i];
    return sum;
}

/*
 * Decodes and checks the entry at off.  On success fills *e, sets *next to
 * the following header's offset (<= len) and *is_trailer.  Writes nothing
 * on failure.
 */
static int parse_entry(const uint8_t *buf, size_t len, size_t off, struct cpio_entry *e, size_t *next, bool *is_trailer)
{
    struct cpio_fields f;
    if (off == len)
        return CPIO_E_NOTRAILER;
    if (len - off < HDR_LEN)
        return CPIO_E_TRUNCATED;
    int err = parse_header((const struct cpio_newc_header *)(buf + off), &f);
    if (err)
        return err;

    size_t name_off = off + HDR_LEN;
    if (f.namesize > len - name_off)
        return CPIO_E_TRUNCATED;
    const char *name = (const char *)buf + name_off;
    size_t name_len = 0;
    while (name_len < f.namesize && name[name_len])
        name_len++;
    if (f.namesize == 0 || name_len != f.namesize - 1)
        return CPIO_E_NAME;

    size_t data_off = align4(name_off + f.namesize);
    if (data_off > len || f.filesize > len - data_off)
        return CPIO_E_TRUNCATED;
    bool trailer = name_len == sizeof TRAILER - 1 && bytes_equal(name, TRAILER, name_len);
    if (trailer && f.filesize != 0)
        return CPIO_E_FORMAT;
    /* GNU cpio sums regular files only; a symlink's target carries c_check 0. */
    bool regular = (f.mode & CPIO_MODE_TYPE) == CPIO_MODE_REG;
    if (f.crc && regular && data_sum(buf + data_off, f.filesize) != f.check)
        return CPIO_E_CHECKSUM;

    /* Checked: produce. */
    *e = (struct cpio_entry){ .name = name,
                              .name_len = name_len,
                              .data = buf + data_off,
                              .size = f.filesize,
                              .mode = f.mode,
                              .uid = f.uid,
                              .gid = f.gid,
                              .nlink = f.nlink,
                              .mtime = f.mtime,
                              .ino = f.ino };
    size_t end = data_off + f.filesize;
    *next = (len - end < align4(end) - end) ? len : align4(end);
    *is_trailer = trailer;
    return 0;
}

void cpio_iter_init(struct cpio_iter *it, const void *buf, size_t len)
{
    *it = (struct cpio_iter){ .buf = buf, .len = buf ? len : 0, .off = 0, .status = buf ? ITER_MORE : CPIO_E_INVAL };
}

int cpio_next(struct cpio_iter *it, struct cpio_entry *e)
{
    if (it->status != ITER_MORE)
        return it->status == ITER_DONE ? 0 : it->status;
    struct cpio_entry tmp;
    size_t next;
    bool trailer;
    int err = parse_entry(it->buf, it->len, it->off, &tmp, &next, &trailer);
    if (err) {
        it->status = err;
        return err;
    }
    it->off = next;
    if (trailer) {
        it->status = ITER_DONE;
        return 0;
    }
    *e = tmp;
    return 1;
}

/* Compares an archive name, minus a leading "./", with name. */
static bool name_matches(const struct cpio_entry *e, const char *name, size_t name_len)
{
    const char *n = e->name;
    size_t len = e->name_len;
    if (len >= 2 && n[0] == '.' && n[1] == '/') {
        n += 2;
        len -= 2;
    }
    return len == name_len && bytes_equal(n, name, len);
}

int cpio_find(const void *buf, size_t len, const char *name, const void **data, size_t *size)
{
    if (!buf || !name || !data || !size)
        return CPIO_E_INVAL;
    size_t name_len = 0;
    while (name[name_len])
        name_len++;

    struct cpio_iter it;
    struct cpio_entry e, found;
    int hits = 0, r;
    cpio_iter_init(&it, buf, len);
    while ((r = cpio_next(&it, &e)) > 0) {
        if (name_matches(&e, name, name_len) && hits++ == 0)
            found = e;
    }
    if (r < 0)
        return r;
    if (hits == 0)
        return CPIO_E_NOTFOUND;
    if (hits > 1)
        return CPIO_E_DUPLICATE;
    if ((found.mode & CPIO_MODE_TYPE) != CPIO_MODE_REG)
        return CPIO_E_NOTFILE;
    *data = found.data;
    *size = found.size;
    return 0;
}

const char *cpio_strerror(int err)
{
    switch (err) {
    case 1: return "entry";
    case 0: return "end of archive";
    case CPIO_E_TRUNCATED: return "archive truncated";
    case CPIO_E_MAGIC: return "bad entry magic (not newc)";
    case CPIO_E_HEX: return "bad hex digit in header";
    case CPIO_E_NAME: return "bad entry name";
    case CPIO_E_NOTRAILER: return "archive has no TRAILER!!!";
    case CPIO_E_CHECKSUM: return "data checksum mismatch";
    case CPIO_E_FORMAT: return "malformed archive";
    case CPIO_E_NOTFOUND: return "no such file in archive";
    case CPIO_E_NOTFILE: return "not a regular file";
    case CPIO_E_DUPLICATE: return "name appears twice in archive";
    case CPIO_E_INVAL: return "invalid argument";
    default: return "unknown cpio error";
    }
}
