/*
 * faultinj.h - fault injection into a running user task (faultinj.c), for
 * SYS_DEBUG_CTL's DEBUG_CTL_INJECT: test boots only (the debug capability).
 */
#ifndef KEEL_FAULTINJ_H
#define KEEL_FAULTINJ_H

#include <stdint.h>

/* What one injection did (the DEBUG_CTL_INJECT reply: kind, what, value). */
struct faultinj_result {
    uint64_t kind;  /* FAULTINJ_REG, _CODE, _WILD or _SPIN (abi/keel/syscall.h) */
    uint64_t where; /* REG: the register's index (FAULTINJ_REG_*); CODE, WILD, SPIN: the user address */
    uint64_t value; /* REG: the bit flipped; CODE: the byte XORed in; WILD: the word written;
                       SPIN: the two bytes the loop replaced */
};

/* Injects one fault, chosen by RANDOM, into the live task named NAME_WORD
 * (OBJ_TASK's packed name); ONLY_KIND 0 lets RANDOM choose the kind too,
 * a FAULTINJ_* kind tries that one only.  Returns KE_OK and fills *out,
 * KE_RANGE when no live task has that name (or it has no thread yet),
 * KE_INVALID_ARG for an empty name or an unknown kind, KE_NOT_MAPPED when
 * nothing applies.  Runs in a system call under the big kernel lock. */
int faultinj_inject(uint64_t name_word, uint64_t random, uint64_t only_kind, struct faultinj_result *out)
    __attribute__((warn_unused_result));

#endif
