/*
 * usercheck.c - can this machine run user space?  One SYSCALL round trip.
 *
 * Before init starts, the kernel maps a two-instruction program (`syscall;
 * ud2`) in a scratch address space, enters it in ring 3 with LSTAR pointing
 * at usercheck_syscall, and expects to arrive there in ring 0.  If the
 * hypervisor runs SYSCALL without the privilege change, the user-mode fetch
 * of LSTAR's page faults instead, trap_dispatch sees usercheck_active and
 * unwinds through usercheck_fail.  The kernel then says so plainly and
 * stops: nothing in user space could work, and a silent fault in init would
 * only hide why.  (Measured here: the nested KVM of these machines fails
 * this; TCG passes.)
 */
#include "arch.h"
#include "gdt.h"
#include "kstring.h"
#include "log.h"
#include "pmm.h"
#include "trap.h"
#include "vm.h"

#define MSR_LSTAR      0xC0000082u
#define PROBE_CODE_VA  0x10000ull
#define PROBE_STACK_VA 0x11000ull

uint64_t usercheck_enter(uint64_t rip, uint64_t rsp);
void usercheck_syscall(void);
__attribute__((noreturn)) void usercheck_fail(void);
bool usercheck_run(void);

bool usercheck_active;
static uint8_t fault_stack[4096] __attribute__((aligned(16)));

bool usercheck_run(void)
{
    uint64_t pml4 = vm_user_create(), code = pmm_alloc(), stack = pmm_alloc();
    uint32_t pt_pages = 0;
    if (!pml4 || !code || !stack)
        panic("usercheck: out of memory");
    static const uint8_t program[] = { 0x0f, 0x05, 0x0f, 0x0b }; /* syscall; ud2 */
    memcpy(phys_to_virt(code), program, sizeof program);
    if (vm_user_map(pml4, PROBE_CODE_VA, code, VM_USER_EXEC, &pt_pages) ||
        vm_user_map(pml4, PROBE_STACK_VA, stack, VM_USER_WRITE, &pt_pages))
        panic("usercheck: cannot map the probe");

    uint64_t old_cr3 = read_cr3(), old_lstar = rdmsr(MSR_LSTAR);
    wrmsr(MSR_LSTAR, (uint64_t)usercheck_syscall);
    tss_set_kernel_stack((uint64_t)&fault_stack[sizeof fault_stack]);
    write_cr3(pml4);
    usercheck_active = true;
    bool ok = usercheck_enter(PROBE_CODE_VA, PROBE_STACK_VA + 4096) == 1;
    usercheck_active = false;
    write_cr3(old_cr3);
    wrmsr(MSR_LSTAR, old_lstar);

    vm_user_unmap(pml4, PROBE_CODE_VA);
    vm_user_unmap(pml4, PROBE_STACK_VA);
    vm_user_destroy(pml4);
    pmm_free(code);
    pmm_free(stack);
    return ok;
}
