/*
 * ipc.h - endpoints (synchronous IPC), notifications, IRQ objects, faults.
 */
#ifndef KEEL_IPC_H
#define KEEL_IPC_H

#include "acpi.h"
#include "object.h"

/* Reads the message the current thread is sending from its registers. */
void ipc_msg_from_frame(const struct trap_frame *tf, struct ipc_msg *m);
/* Writes M into T's saved user registers and sets its rax to ERR. */
void ipc_deliver(struct thread *t, const struct ipc_msg *m, uint64_t err);

/* IPC messages delivered since boot (calls and sends, either path; SYS_KSTATS). */
extern uint64_t kstat_ipc;
extern uint64_t kstat_signals; /* notification signals (user, IRQ, timer) since boot: SYS_KSTATS */

/* The general IPC path; each returns the caller's rax.  CAP is the
 * endpoint capability already checked for type. */
int64_t ep_send(struct cap *cap, struct trap_frame *tf, bool call);
int64_t ep_recv(struct cap *cap, struct trap_frame *tf, bool nonblock);
int64_t ep_reply(struct trap_frame *tf);
int64_t ep_reply_recv(struct cap *cap, struct trap_frame *tf);
/* The fastpath: returns true when it handled the call entirely. */
bool fastpath_call(struct trap_frame *tf);
bool fastpath_reply_recv(struct trap_frame *tf);

/* Removes T from whatever IPC it takes part in (T is dying), waking the
 * partners that depended on it with KE_DEAD. */
void ipc_detach(struct thread *t);
void ep_destroy(struct endpoint *ep);

int64_t ntfn_signal(struct notification *n, uint64_t bits);
int64_t ntfn_wait(struct notification *n, struct trap_frame *tf, bool nonblock);
int64_t ntfn_bind(struct thread *t, struct notification *n);
void ntfn_destroy(struct notification *n);
/* Arms N to be signalled with BITS at DEADLINE (ns, clock_ns scale); 0 disarms. */
int64_t ktimer_arm(struct notification *n, uint64_t deadline_ns, uint64_t bits);
void ktimer_disarm(struct notification *n);
/* Signals every notification whose deadline has passed (from the tick). */
void ktimer_expire(uint64_t now_ns);
/* For recv: takes pending bound bits, if any, into *bits. */
bool ntfn_take_bound(struct thread *t, uint64_t *bits);

/* A user exception or a bad system call: suspend CURRENT and report it. */
void fault_raise(struct trap_frame *tf, uint64_t kind, uint64_t addr, uint64_t code);

/* Delivers fault message M from the (already TS_FAULTED) current thread. */
void ep_send_fault(struct endpoint *ep, const struct ipc_msg *m);

void irq_destroy(struct irq *irq);
int irq_line_check(uint64_t line);
void irq_set_acpi(const struct acpi_info *a);
/* True when [phys, phys+len) touches the LAPIC or IOAPIC page. */
bool irq_owns_mmio(uint64_t phys, uint64_t len);
void irq_unbind_ntfn(struct notification *n);
struct irq *irq_create(uint32_t line);
/* Binds IRQ to N as BIT and routes an IOAPIC line to local APIC APIC_ID. */
int64_t irq_bind(struct irq *irq, struct notification *n, uint64_t bit, uint32_t apic_id);
int64_t irq_ack(struct irq *irq);

#endif
