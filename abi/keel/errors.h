/*
 * keel/errors.h - one range of error codes per protocol, so that a value
 * names its origin whatever path it took.
 *
 * A client's call can fail in the kernel (KE_*, keel/syscall.h) or in the
 * server it called (that protocol's *_E_*), and many clients return either
 * in one int64.  With every protocol in a range of its own, an error
 * printed as a number or turned into text never means two things (before
 * these ranges, TLSD_E_BAD_GROUP was KE_INVALID_SLOT and SOCK_E_INVALID was
 * KE_WOULD_BLOCK).
 *
 * Each protocol header includes this file and asserts that its codes lie
 * in its range (KEEL_ERR_IN); the asserts below check that the ranges do
 * not overlap.  A new protocol takes the next free hundred.
 *
 *   range            owner
 *   -1 .. -99        the kernel (KE_*, keel/syscall.h)
 *   -100 .. -199     NIC protocol (NIC_E_*, keel/nic.h)
 *   -200 .. -299     entropy (RNG_E_*, keel/rng.h)
 *   -300 .. -399     block devices (BLK_E_*, keel/blk.h)
 *   -400 .. -499     console / UART (CONSOLE_E_*, keel/console.h)
 *   -500 .. -599     keyd (KEYD_E_*, keel/keyd.h)
 *   -600 .. -699     the log service (LOG_E_*, keel/log.h)
 *   -700 .. -799     netd's admin protocol (NETADM_E_*, keel/netadm.h)
 *   -800 .. -899     tlsd (TLSD_E_*, keel/tlsd.h)
 *   -900 .. -999     the socket service (SOCK_E_*, keel/socket.h)
 *   -1000 .. -1099   the server loop itself (SRV_E_*, below; lib/server.h)
 */
#ifndef KEEL_ABI_ERRORS_H
#define KEEL_ABI_ERRORS_H

#define KEEL_ERR_KERNEL_FIRST  (-1)
#define KEEL_ERR_KERNEL_LAST   (-99)
#define KEEL_ERR_NIC_FIRST     (-100)
#define KEEL_ERR_NIC_LAST      (-199)
#define KEEL_ERR_RNG_FIRST     (-200)
#define KEEL_ERR_RNG_LAST      (-299)
#define KEEL_ERR_BLK_FIRST     (-300)
#define KEEL_ERR_BLK_LAST      (-399)
#define KEEL_ERR_CONSOLE_FIRST (-400)
#define KEEL_ERR_CONSOLE_LAST  (-499)
#define KEEL_ERR_KEYD_FIRST    (-500)
#define KEEL_ERR_KEYD_LAST     (-599)
#define KEEL_ERR_LOG_FIRST     (-600)
#define KEEL_ERR_LOG_LAST      (-699)
#define KEEL_ERR_NETADM_FIRST  (-700)
#define KEEL_ERR_NETADM_LAST   (-799)
#define KEEL_ERR_TLSD_FIRST    (-800)
#define KEEL_ERR_TLSD_LAST     (-899)
#define KEEL_ERR_SOCK_FIRST    (-900)
#define KEEL_ERR_SOCK_LAST     (-999)
#define KEEL_ERR_SRV_FIRST     (-1000)
#define KEEL_ERR_SRV_LAST      (-1099)

/* True when code lies in OWNER's range. */
#define KEEL_ERR_IN(owner, code) ((code) <= KEEL_ERR_##owner##_FIRST && (code) >= KEEL_ERR_##owner##_LAST)

/* Each range starts one below the previous one's end: no gaps that a new
 * protocol could half-fill, no overlaps. */
#define KEEL_ERR_NEXT(a, b) (KEEL_ERR_##b##_FIRST == KEEL_ERR_##a##_LAST - 1)
_Static_assert(KEEL_ERR_NEXT(KERNEL, NIC) && KEEL_ERR_NEXT(NIC, RNG) && KEEL_ERR_NEXT(RNG, BLK) &&
                   KEEL_ERR_NEXT(BLK, CONSOLE) && KEEL_ERR_NEXT(CONSOLE, KEYD) && KEEL_ERR_NEXT(KEYD, LOG) &&
                   KEEL_ERR_NEXT(LOG, NETADM) && KEEL_ERR_NEXT(NETADM, TLSD) && KEEL_ERR_NEXT(TLSD, SOCK) &&
                   KEEL_ERR_NEXT(SOCK, SRV),
               "the error ranges follow one another without overlap");

/* Reply labels lib/server.h's loop sends itself, for any protocol served
 * through it (as the uint32 of the negative code, a message label). */
enum keel_srv_error {
    KEEL_SRV_E_UNKNOWN = -1000, /* no handler for the label */
    KEEL_SRV_E_SHORT = -1001,   /* fewer words than the handler needs */
};
_Static_assert(KEEL_ERR_IN(SRV, KEEL_SRV_E_UNKNOWN) && KEEL_ERR_IN(SRV, KEEL_SRV_E_SHORT), "SRV_E_* in its range");

#endif
