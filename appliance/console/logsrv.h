/*
 * logsrv.h - consoled's log service (abi/keel/log.h): a second thread of
 * consoled that receives LOG_WRITE on serve:log and hands finished entries
 * to the main thread through a bounded single-producer/single-consumer
 * queue.  logsrv.c says why it is shaped so.
 */
#ifndef KEEL_CONSOLE_LOGSRV_H
#define KEEL_CONSOLE_LOGSRV_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/init.h>

#include "logring.h"

#define LOGSRV_QUEUE   64 /* entries between the two threads; a power of two */
#define LOGSRV_CLIENTS 32 /* clients whose LOG_MORE parts are joined */
#define LOGSRV_STACK   8192

/* One entry on its way to the ring. */
struct logsrv_entry {
    uint64_t time_ns;
    uint8_t level;
    char server[LOG_SERVER_MAX];
    char msg[LOG_MSG_MAX];
};

/* A client's entry being joined from LOG_MORE parts (log thread only). */
struct logsrv_part {
    uint64_t badge;
    char name[LOG_SERVER_MAX];
    char msg[LOG_MSG_MAX];
    unsigned len;
    bool open; /* a LOG_MORE came: the next LOG_CONT call continues msg */
};

struct logsrv {
    /* Set by logsrv_start before the thread runs; read-only after. */
    uint64_t ep;     /* serve:log */
    uint64_t signal; /* the main thread's notification (WRITE), or 0 */
    uint64_t bit;    /* the bit raised on it when an entry is queued */
    unsigned n_clients;

    /* The log thread's alone. */
    struct logsrv_part parts[LOGSRV_CLIENTS];

    /* The queue: head written by the log thread only, tail by the main
     * thread only (each with release, read by the other with acquire). */
    uint32_t head, tail;
    uint64_t dropped; /* entries lost to a full queue (log thread; read racily for a message) */
    uint64_t missed;  /* entries clients could not hand over, as they report (log thread; read racily) */
    struct logsrv_entry q[LOGSRV_QUEUE];
    uint8_t stack[LOGSRV_STACK] __attribute__((aligned(16)));
};

/* Names the clients from SI's "client:NAME" notes (consoled's only
 * endpoint is log, so every such note is a log client) and starts the log
 * thread on EP at PRIO, or at the highest priority below it the kernel
 * allows (our own).  Returns 0 or a negative KE_* error. */
int64_t logsrv_start(struct logsrv *ls, const struct keel_srvinfo *si, uint64_t ep, uint64_t signal, uint64_t bit,
                     uint64_t prio) __attribute__((warn_unused_result));

/* Main thread: the oldest queued entry into *OUT; false when none. */
bool logsrv_take(struct logsrv *ls, struct logsrv_entry *out);

#endif
