/*
 * nic_client.c - the client side of the NIC protocol (see keel/nic_client.h).
 *
 * Buffer ownership is the invariant that matters: a buffer is on the free
 * stack, in exactly one ring, or held by the caller between nic_client_rx /
 * nic_client_alloc and nic_client_send / nic_client_release.  attach resets
 * that: after a driver restart every buffer is the client's again.
 */
#include <keel/nic_client.h>
#include <keel/sys.h>
#include <keel/ulog.h>

static int64_t call(struct nic_client *c, uint32_t label, struct keel_msg *m)
{
    m->info = label;
    int64_t err = keel_call(c->ep, m);
    return err ? err : (int32_t)keel_label(m);
}

static void push_free(struct nic_client *c, uint32_t offset)
{
    if (c->n_free < NIC_BUF_COUNT)
        c->free[c->n_free++] = offset;
}

static void give_rx_buffers(struct nic_client *c)
{
    while (c->n_free && nic_ring_space(&c->shm->rx_free))
        nic_ring_push(&c->shm->rx_free, (struct nic_desc){ .offset = c->free[--c->n_free] });
}

int64_t nic_client_attach(struct nic_client *c)
{
    for (int attempt = 0;; attempt++) {
        struct keel_msg m = { 0 };
        int64_t err = call(c, NIC_INFO, &m);
        if (err) {
            ulog("nic: NIC_INFO failed: %lld%s\n", (long long)err, attempt ? "" : "; retrying");
            if (err == KE_INVALID_SLOT || err == KE_EMPTY_SLOT || err == KE_WRONG_TYPE || err == KE_NO_RIGHTS)
                return err; /* no retry can fix a wrong capability */
            continue;
        }
        for (int i = 0; i < 6; i++)
            c->mac[i] = (uint8_t)(m.mr[0] >> (8 * i));
        c->link_up = m.mr[1] != 0;
        c->generation = (uint32_t)m.mr[2];
        nic_rings_reset(c->shm);
        c->n_free = 0;
        for (uint32_t i = 0; i < NIC_BUF_COUNT; i++)
            push_free(c, NIC_BUF_AREA_OFFSET + i * NIC_BUF_SIZE);
        give_rx_buffers(c);
        struct keel_msg s = { .mr = { c->generation } };
        err = call(c, NIC_START, &s);
        if (err == 0)
            return 0;
        ulog("nic: NIC_START failed: %lld; retrying\n", (long long)err);
    }
}

void nic_client_reclaim(struct nic_client *c)
{
    struct nic_desc d;
    while (nic_ring_pop(&c->shm->tx_done, &d)) {
        if (nic_desc_ok(d, false))
            push_free(c, d.offset);
        else
            c->bad_desc++;
    }
}

bool nic_client_rx(struct nic_client *c, struct nic_desc *d)
{
    while (nic_ring_pop(&c->shm->rx_used, d)) {
        if (nic_desc_ok(*d, true))
            return true;
        if (nic_desc_ok(*d, false)) {
            if (d->len != 0)
                c->bad_desc++; /* len 0: a buffer returned by NIC_STOP, not an error */
            push_free(c, d->offset);
        } else {
            c->bad_desc++;
        }
    }
    return false;
}

uint32_t nic_client_alloc(struct nic_client *c) { return c->n_free ? c->free[--c->n_free] : 0; }

void nic_client_release(struct nic_client *c, uint32_t offset) { push_free(c, offset); }

void nic_client_send(struct nic_client *c, uint32_t offset, uint16_t len)
{
    if (!nic_ring_push(&c->shm->tx_send, (struct nic_desc){ .offset = offset, .len = len })) {
        c->tx_ring_full++;
        push_free(c, offset);
    }
}

int64_t nic_client_flush(struct nic_client *c)
{
    give_rx_buffers(c);
    struct keel_msg m = { 0 };
    int64_t err = call(c, NIC_KICK, &m);
    if (err || c->shm->generation != c->generation)
        return NIC_CLIENT_RESTARTED;
    return NIC_CLIENT_OK;
}
