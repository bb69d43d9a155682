/*
 * fault.c - user faults become messages; the kernel never dies of them.
 *
 * A CPU exception in ring 3, or a system call number that does not exist,
 * suspends the thread (TS_FAULTED) and sends a fault message to the thread's
 * fault endpoint: label FAULT_LABEL, KEEL_RECV_FAULT in the info, the badge
 * of the endpoint capability the thread was given (so the handler knows
 * which server it was), and MR0-MR3 = kind, address, RIP, error code.
 * sched_tick raises FAULT_HOG (MR1 = the ms it ran) for a thread that ran
 * its CPU limit without blocking, from the tick that interrupted it in
 * ring 3.
 * The thread stays suspended until SYS_THREAD_RESUME or its task dies.
 * A thread without a fault endpoint is logged and stays suspended.
 */
#include "arch.h"
#include "ipc.h"
#include "log.h"
#include "sched.h"

static const char *kind_name(uint64_t kind)
{
    switch (kind) {
    case FAULT_PAGE: return "page fault";
    case FAULT_GP: return "general protection";
    case FAULT_UD: return "invalid opcode";
    case FAULT_DE: return "divide error";
    case FAULT_BR: return "bound range";
    case FAULT_BAD_SYSCALL: return "invalid system call";
    case FAULT_EXIT: return "exit";
    case FAULT_HOG: return "ran without blocking beyond its CPU limit";
    default: return "exception";
    }
}

void fault_raise(struct trap_frame *tf, uint64_t kind, uint64_t addr, uint64_t code)
{
    struct thread *cur = sched_current();
    KASSERT(cur->task, "fault_raise for a kernel thread");
    cur->state = TS_FAULTED;
    if (kind == FAULT_HOG)
        kprintf("keel: fault: task %s: spun for %llu ms without blocking (kind %llu) at rip 0x%llx\n", cur->task->name,
                (unsigned long long)addr, (unsigned long long)kind, (unsigned long long)tf->rip);
    else if (kind != FAULT_EXIT)
        kprintf("keel: fault: task %s: %s (kind %llu) at rip 0x%llx addr 0x%llx code 0x%llx\n", cur->task->name,
                kind_name(kind), (unsigned long long)kind, (unsigned long long)tf->rip, (unsigned long long)addr,
                (unsigned long long)code);
    if (!cur->fault_ep) {
        kprintf("keel: fault: task %s has no fault handler; thread suspended\n", cur->task->name);
    } else {
        struct ipc_msg m = {
            .info = FAULT_LABEL | KEEL_RECV_FAULT,
            .badge = cur->fault_badge,
            .mr = { kind, addr, tf->rip, code },
        };
        ep_send_fault(cur->fault_ep, &m);
    }
    sched_yield_to_best();
}

/* Called by trap_dispatch for exceptions from ring 3. */
void fault_from_exception(struct trap_frame *tf);
void fault_from_exception(struct trap_frame *tf)
{
    uint64_t v = tf->vector;
    uint64_t kind = FAULT_OTHER_EXCEPTION;
    uint64_t addr = 0;
    switch (v) {
    case 0: kind = FAULT_DE; break;
    case 5: kind = FAULT_BR; break;
    case 6: kind = FAULT_UD; break;
    case 13: kind = FAULT_GP; break;
    case 14:
        kind = FAULT_PAGE;
        addr = read_cr2();
        break;
    default: break;
    }
    fault_raise(tf, kind, addr, kind == FAULT_OTHER_EXCEPTION ? v : tf->error);
}
