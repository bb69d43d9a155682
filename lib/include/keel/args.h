/*
 * keel/args.h - a server's arguments: the manifest's `args` word, which
 * init hands over in keel_srvinfo.args (at most 127 bytes).
 *
 * Form: items KEY=VALUE, separated by ',' (a space separates too); a key
 * appears once, the first wins.  What a value means, and whether an
 * unknown key is an error, is each server's business: these only find a
 * key's value.  (keyd, which refuses every unknown or malformed item,
 * keeps its own strict reader, keyd_parse_args.)
 *
 * Pure and libc-free: no system calls, no state; the host unit test
 * (tests/unit/test_lib_args.c) runs the same code.
 */
#ifndef KEEL_LIB_ARGS_H
#define KEEL_LIB_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* Copies KEY's value in ARGS into OUT (N > 0 bytes, NUL-terminated; a
 * longer value is cut to N - 1 bytes) and returns OUT; NULL, and OUT left
 * alone, when ARGS has no item KEY=... . */
const char *srv_arg(const char *args, const char *key, char *out, size_t n);

/* KEY's value as a decimal number: the digits it starts with (0 when it
 * starts with none; saturating at UINT64_MAX), or DFLT when ARGS has no
 * item KEY=... or its value is empty. */
uint64_t srv_arg_u64(const char *args, const char *key, uint64_t dflt);

#endif
