/*
 * faultinj.h - fault injection into a running user task (faultinj.c), for
 * SYS_DEBUG_CTL's DEBUG_CTL_INJECT: test boots only (the debug capability).
 */
#ifndef KEEL_FAULTINJ_H
#define KEEL_FAULTINJ_H

#include <stdint.h>

/* What one injection did (the DEBUG_CTL_INJECT reply: kind, what, value). */
struct faultinj_result {
    uint64_t kind;  /* FAULTINJ_REG, FAULTINJ_CODE or FAULTINJ_WILD (abi/keel/syscall.h) */
    uint64_t where; /* REG: the register's index (FAULTINJ_REG_*); CODE, WILD: the user address */
    uint64_t value; /* REG: the bit flipped; CODE: the byte XORed in; WILD: the word written */
};

/* Injects one fault, chosen by RANDOM, into the live task named NAME_WORD
 * (OBJ_TASK's packed name).  Returns KE_OK and fills *out, KE_RANGE when no
 * live task has that name (or it has no thread yet), KE_INVALID_ARG for an
 * empty name.  Runs in a system call under the big kernel lock. */
int faultinj_inject(uint64_t name_word, uint64_t random, struct faultinj_result *out)
    __attribute__((warn_unused_result));

#endif
