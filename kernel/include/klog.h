/*
 * klog.h - the kernel log's ring, which the UART driver drains (klog.c).
 */
#ifndef KEEL_KLOG_H
#define KEEL_KLOG_H

#include <stddef.h>
#include <stdint.h>

#define DEBUG_LOG_MAX 256 /* SYS_DEBUG_LOG: bytes of one server line */

struct task;
struct trap_frame;

/* Every kernel log byte goes through here (kprintf's sink). */
void klog_putc(char c);

/* Panic and halt: the ring's bytes, then everything after, straight to the
 * port, whoever was draining. */
void klog_go_direct(void);

/* Signals the drainer if bytes wait that it was not told of; safe points
 * only (a system call's end, the boot core's tick). */
void klog_kick(void);

/* T is being torn down: if it drained the log, the kernel writes the port
 * itself again. */
void klog_task_gone(struct task *t);

/* T is init (the root task): its lines report servers dying and
 * restarting, and are never refused for a flood of other servers' lines. */
void klog_set_init(const struct task *t);

/* The lines written next come from task T (SYS_DEBUG_LOG; NULL: the
 * kernel's own again): unless T is init they may fill the ring only to
 * KLOG_ORDINARY_BYTES (klog.c). */
void klog_lines_from(const struct task *t);

/* SYS_KLOG_READ (abi/keel/syscall.h). */
int64_t sys_klog_read(struct trap_frame *tf);

#endif
