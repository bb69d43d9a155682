/*
 * keel/rng.h - the entropy protocol: the virtio-rng server (and, later, a
 * RDRAND/RDSEED fallback) answers on its endpoint "serve:rng".
 *
 *   RNG_READ   -> up to 32 bytes of device entropy in MR0-MR3; the reply
 *                 label is the number of bytes (0 < n <= 32), or a negative
 *                 RNG_E_* / KE_* code.  Never blocks the caller beyond the
 *                 device's own latency; a caller wanting more calls again.
 */
#ifndef KEEL_ABI_RNG_H
#define KEEL_ABI_RNG_H

#include <keel/errors.h>

enum rng_label {
    RNG_READ = 1,
};

enum rng_error {
    RNG_E_NO_DEVICE = -200, /* no entropy device: callers must refuse to run */
    RNG_E_DEVICE = -201,    /* the device returned nothing or misbehaved */
};
_Static_assert(KEEL_ERR_IN(RNG, RNG_E_NO_DEVICE) && KEEL_ERR_IN(RNG, RNG_E_DEVICE),
               "RNG_E_* in its range (keel/errors.h)");

#endif
