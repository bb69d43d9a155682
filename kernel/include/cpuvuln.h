/*
 * cpuvuln.h - CPU vulnerabilities the kernel checks at boot (cpuvuln.c).
 */
#ifndef KEEL_CPUVULN_H
#define KEEL_CPUVULN_H

#include <stdbool.h>
#include <stdint.h>

#include <keel/syscall.h>

/* Detects Meltdown and logs one line; SMEP/SMAP as enabled by main.c. */
void cpuvuln_init(bool smep, bool smap);
/* KEEL_CPU_* flags for SYS_CPU_INFO. */
uint64_t cpuvuln_flags(void);

#endif
