/*
 * arch/sys_arch.h - lwIP's OS port for netd.  NO_SYS=1: lwIP runs in one
 * thread (netd's event loop) and needs no semaphores, mailboxes, threads or
 * critical sections from us; only sys_now() (lwip/sys.h), which
 * net/lwip/sys_arch.c defines from the kernel clock.
 */
#ifndef NETD_ARCH_SYS_ARCH_H
#define NETD_ARCH_SYS_ARCH_H

#endif
