/*
 * console_client.c - calls of the console protocol (keel/console_client.h).
 * Each is one synchronous call; a KE_* error of the call itself (dead
 * driver, bad slot) is returned as is, the reply label otherwise.
 */
#include <keel/console_client.h>

#include <keel/server.h>
#include <keel/sys.h>

/* One call of LABEL with M's words (WORDS of them count): the call's own
 * KE_* error, or the reply label (negative: the driver refused). */
static int64_t console_call(uint64_t ep, uint32_t label, uint32_t words, struct keel_msg *m)
{
    m->info = SRV_LABEL(label, words);
    int64_t err = keel_call(ep, m);
    if (err)
        return err;
    return (int32_t)keel_label(m);
}

int64_t console_write(uint64_t ep, const void *buf, size_t n)
{
    struct keel_msg m = { 0 };
    console_pack(m.mr, buf, n);
    return console_call(ep, CONSOLE_WRITE, CONSOLE_WRITE_WORDS, &m);
}

int64_t console_read(uint64_t ep, void *buf)
{
    struct keel_msg m = { 0 };
    int64_t r = console_call(ep, CONSOLE_READ, 0, &m);
    if (r < 0)
        return r;
    int n = console_unpack(m.mr, buf);
    return n < 0 ? CONSOLE_E_INVAL : n;
}

int64_t console_info(uint64_t ep, uint64_t info[4])
{
    struct keel_msg m = { 0 };
    int64_t r = console_call(ep, CONSOLE_INFO, 0, &m);
    if (r < 0)
        return r;
    for (int i = 0; i < 4; i++)
        info[i] = m.mr[i];
    return 0;
}
