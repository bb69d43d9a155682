/*
 * keel/log.h - the log protocol: servers hand log entries to consoled, which
 * keeps them in its ring (appliance/console/logring.h: time, level, server,
 * message) for `show log`.  Served by consoled's log thread
 * (appliance/console/logsrv.c); lib/ulog.c sends every line of a server
 * that has "ep:log" here as well as to the kernel log.
 *
 * Endpoint "serve:log" (consoled, manifest `endpoint log`); clients get
 * "ep:log" (`connect log`), badged per client by init, and consoled names
 * the entry's server from its "client:NAME" caps (init.h), never from the
 * message: a server cannot log under another's name.
 *
 *   LOG_WRITE  label = SRV_LABEL(LOG_WRITE | level << LOG_LEVEL_SHIFT
 *                                [| LOG_MORE], LOG_WRITE_WORDS)
 *              MR0-MR3 = up to LOG_MSG_BYTES bytes of text, byte i in bits
 *              8*(i%8).. of MR[i/8] (little-endian, as in memory), the rest
 *              NUL; a NUL ends the text early.
 *              LOG_MORE: the text continues in the next LOG_WRITE from the
 *              same client (consoled joins up to 95 bytes, then cuts);
 *              that next call carries LOG_CONT.  A call without LOG_CONT
 *              starts a new entry: a part left over from an interrupted
 *              entry is dropped, never joined to another one.
 *              -> reply label 0, or a negative LOG_E_* code.  The reply
 *              comes at once: the ring overwrites its oldest entry when
 *              full, so a call never waits for room.
 *
 * Levels are appliance.conf's (debug 0, info 1, warn 2, error 3); an entry
 * below the running `log` level is dropped (and still answered 0).  The
 * time is consoled's clock when the last part arrives.  Bytes outside
 * printable ASCII are stored as '?'.
 *
 * Clients call with KEEL_NONBLOCK (lib/ulog.c): when consoled's log thread
 * is not waiting (consoled absent, restarting, or busy with another
 * client) the entry is left to the kernel log, and no server ever waits
 * for the console.  The log thread never calls anyone, so a server may log
 * while consoled's main thread is calling it.
 */
#ifndef KEEL_ABI_LOG_H
#define KEEL_ABI_LOG_H

#include <keel/errors.h>

#include <stdint.h>

enum log_label {
    LOG_WRITE = 1,
};

#define LOG_LEVEL_SHIFT 8
#define LOG_LEVEL_MASK  (0xffu << LOG_LEVEL_SHIFT)
#define LOG_MORE        (1u << 16) /* the text continues in the next call */
#define LOG_CONT        (1u << 17) /* this call continues the previous one */
/* Entries the client could not hand over since its last call that went
 * through (consoled's log thread busy: the KEEL_NONBLOCK call failed, the
 * entry went to the kernel log only), saturated at 63; the client sends
 * the count on its next entry's first call and consoled adds it up
 * (`show log`).  A client can only report its own losses. */
#define LOG_MISSED_SHIFT 18
#define LOG_MISSED_MASK  (0x3fu << LOG_MISSED_SHIFT)
#define LOG_MSG_BYTES    32 /* text bytes per call: MR0-MR3 */
#define LOG_WRITE_WORDS  4

enum log_level_abi {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
};

enum log_error {
    LOG_E_INVAL = -600, /* a level above LOG_ERROR, or fewer than LOG_WRITE_WORDS words */
    LOG_E_LABEL = -601, /* not a LOG_* label */
};
_Static_assert(KEEL_ERR_IN(LOG, LOG_E_INVAL) && KEEL_ERR_IN(LOG, LOG_E_LABEL), "LOG_E_* in its range (keel/errors.h)");

_Static_assert(LOG_MSG_BYTES == 4 * sizeof(uint64_t), "the text fills MR0-MR3 exactly");
_Static_assert((LOG_LEVEL_MASK & (LOG_MORE | LOG_CONT)) == 0, "level and the flags do not overlap");
_Static_assert(((LOG_MORE | LOG_CONT | LOG_MISSED_MASK) & 0xff000000u) == 0, "the flags stay clear of the word count");
_Static_assert((LOG_MISSED_MASK & (LOG_MORE | LOG_CONT | LOG_LEVEL_MASK)) == 0, "the missed count has bits of its own");

/* Packs up to LOG_MSG_BYTES bytes of S (N bytes) into MR (NUL-padded);
 * returns the bytes packed.  The caller loops with LOG_MORE for longer text. */
static inline unsigned log_pack(const char *s, unsigned long n, uint64_t mr[4])
{
    unsigned k = n < LOG_MSG_BYTES ? (unsigned)n : LOG_MSG_BYTES;
    for (unsigned i = 0; i < 4; i++)
        mr[i] = 0;
    for (unsigned i = 0; i < k; i++)
        mr[i / 8] |= (uint64_t)(uint8_t)s[i] << (8 * (i % 8));
    return k;
}

#endif
