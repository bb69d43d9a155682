/*
 * keel/adm_call.h - what the administration client libraries share
 * (keel/netadm_client.h for netd, keel/tlsadm_client.h for tlsd): the call
 * loop that never hangs on an absent or restarting server, and the copy of
 * a refused configuration's message out of the shared region.
 *
 * Both protocols carry bulk text in a region the client and the server
 * share: the client writes a configuration at the region's input part,
 * the server answers a refusal with a message at its output part and the
 * message's line, column and length in the reply's words (MR0, MR1, MR2).
 * Nothing here trusts a length or a byte the server wrote.
 */
#ifndef KEEL_LIB_ADM_CALL_H
#define KEEL_LIB_ADM_CALL_H

#include <stddef.h>
#include <stdint.h>

#include <keel/sys.h>

/*
 * Calls EP with LABEL and WORDS words of *M, sent with KEEL_NONBLOCK: while
 * the server is not waiting (KE_WOULD_BLOCK), NAP(CTX) waits a little and
 * the call is tried again, up to TRIES tries in all (NAP NULL: one try).
 * Each try sends the request as *M held it on entry.  Returns the call's
 * negative KE_* error, or else the reply's label as a signed 32-bit value
 * (0, or the protocol's negative error); *M holds the reply.
 */
int64_t adm_call(uint64_t ep, uint32_t label, unsigned words, struct keel_msg *m, void (*nap)(void *ctx), void *ctx,
                 unsigned tries);

/*
 * A refusal's message: copies min(M->mr[2], MSGLEN - 1) bytes from OUT (the
 * region's output part, OUT_MAX bytes; a length above OUT_MAX copies
 * nothing) into MSG, terminated, every byte outside printable ASCII made
 * '?' (a confused server cannot write escape sequences to a terminal);
 * *LINE and *COL from M->mr[0] and M->mr[1] (0 when implausible, at or
 * above 1,000,000).  MSGLEN > 0.
 */
void adm_refusal(const uint8_t *out, size_t out_max, const struct keel_msg *m, char *msg, size_t msglen, unsigned *line,
                 unsigned *col);

#endif
