/*
 * console_client.c - calls of the console protocol (console_client.h).
 * Each is one synchronous call; a KE_* error of the call itself (dead
 * driver, bad slot) is returned as is, the reply label otherwise.
 */
#include "console_client.h"

#include <keel/server.h>
#include <keel/sys.h>

int64_t console_write(uint64_t ep, const void *buf, size_t n)
{
    struct keel_msg m = { 0 };
    console_pack(m.mr, buf, n);
    m.info = SRV_LABEL(CONSOLE_WRITE, CONSOLE_WRITE_WORDS);
    int64_t err = keel_call(ep, &m);
    if (err)
        return err;
    return (int32_t)keel_label(&m);
}

int64_t console_read(uint64_t ep, void *buf)
{
    struct keel_msg m = { 0 };
    m.info = SRV_LABEL(CONSOLE_READ, 0);
    int64_t err = keel_call(ep, &m);
    if (err)
        return err;
    int32_t label = (int32_t)keel_label(&m);
    if (label < 0)
        return label;
    int n = console_unpack(m.mr, buf);
    return n < 0 ? CONSOLE_E_INVAL : n;
}

int64_t console_info(uint64_t ep, uint64_t info[4])
{
    struct keel_msg m = { 0 };
    m.info = SRV_LABEL(CONSOLE_INFO, 0);
    int64_t err = keel_call(ep, &m);
    if (err)
        return err;
    int32_t label = (int32_t)keel_label(&m);
    if (label < 0)
        return label;
    for (int i = 0; i < 4; i++)
        info[i] = m.mr[i];
    return 0;
}
