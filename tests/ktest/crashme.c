/*
 * crashme.c - a server that faults on its first start, for the restart test.
 * On a restart (srvinfo->restarts > 0) it reports ready and serves nothing.
 */
#include <keel/init.h>
#include <keel/server.h>
#include <keel/sys.h>

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    if (si->restarts == 0) {
        volatile uint64_t *null_page = (volatile uint64_t *)(uintptr_t)si->restarts; /* NULL, hidden from gcc */
        null_page[2] = 1; /* a NULL-page write: init must restart us */
    }
    srv_ready();
    /* Nothing to serve: wait for ever on a notification nobody signals. */
    uint64_t bits;
    if (keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, 8, 0) == 0)
        for (;;)
            (void)keel_wait(8, 0, &bits);
    keel_thread_exit();
}
