/*
 * adm_call.c - the call loop and the refusal copy the administration
 * client libraries share (keel/adm_call.h): lib/netadm_client.c (netd)
 * and lib/tlsadm_client.c (tlsd).  No state: everything comes in the
 * arguments.
 */
#include <keel/adm_call.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>

int64_t adm_call(uint64_t ep, uint32_t label, unsigned words, struct keel_msg *m, void (*nap)(void *ctx), void *ctx,
                 unsigned tries)
{
    struct keel_msg req = *m;
    for (unsigned i = 0;; i++) {
        *m = req;
        m->info = SRV_LABEL(label, words) | KEEL_NONBLOCK;
        int64_t err = keel_call(ep, m);
        if (err == KE_WOULD_BLOCK && nap && i + 1 < tries) {
            nap(ctx); /* the server is busy, restarting or absent: try again soon */
            continue;
        }
        if (err)
            return err;
        return (int32_t)keel_label(m);
    }
}

void adm_refusal(const uint8_t *out, size_t out_max, const struct keel_msg *m, char *msg, size_t msglen, unsigned *line,
                 unsigned *col)
{
    size_t k = m->mr[2] < msglen - 1 ? (size_t)m->mr[2] : msglen - 1;
    if (k > out_max)
        k = 0;
    memcpy(msg, out, k);
    msg[k] = '\0';
    for (size_t i = 0; i < k; i++)
        if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] > 0x7e)
            msg[i] = '?';
    *line = m->mr[0] < 1000000 ? (unsigned)m->mr[0] : 0;
    *col = m->mr[1] < 1000000 ? (unsigned)m->mr[1] : 0;
}
