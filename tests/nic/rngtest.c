/*
 * rngtest.c - reads the entropy server twice and says what it got, for
 * tests/qemu/test_nic.py: `rngtest: read N bytes: HEX` per read, then
 * `rngtest: PASS` when both reads are non-empty, not all one byte value,
 * and differ from each other, else `rngtest: FAIL why`.
 */
#include <stdbool.h>

#include <keel/init.h>
#include <keel/rng.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

static int read_rng(uint64_t ep, uint8_t out[32])
{
    struct keel_msg m = { .info = RNG_READ };
    int64_t err = keel_call(ep, &m);
    int32_t n = (int32_t)keel_label(&m);
    if (err || n <= 0 || n > 32) {
        ulog("rngtest: RNG_READ failed: error %lld, label %d\n", (long long)err, n);
        return -1;
    }
    memcpy(out, m.mr, 32);
    char hex[65];
    for (int i = 0; i < n; i++) {
        hex[2 * i] = "0123456789abcdef"[out[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[out[i] & 15];
    }
    hex[2 * n] = 0;
    ulog("rngtest: read %d bytes: %s\n", n, hex);
    return n;
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    uint64_t ep = srv_find_cap(si, "ep:rng");
    srv_ready();
    uint8_t a[32] = { 0 }, b[32] = { 0 };
    int na = read_rng(ep, a), nb = read_rng(ep, b);
    bool all_equal = true;
    for (int i = 1; i < na; i++)
        if (a[i] != a[0])
            all_equal = false;
    if (na <= 0 || nb <= 0)
        ulog("rngtest: FAIL no bytes from the entropy server\n");
    else if (all_equal)
        ulog("rngtest: FAIL every byte of the first read is the same\n");
    else if (na == nb && memcmp(a, b, (size_t)na) == 0)
        ulog("rngtest: FAIL two reads returned the same bytes\n");
    else
        ulog("rngtest: PASS\n");
    return 0;
}
