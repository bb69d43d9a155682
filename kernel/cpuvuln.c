/*
 * cpuvuln.c - what the CPU leaks, and what the kernel does about it.
 *
 * Meltdown (rogue data cache load, CVE-2017-5754): on an affected CPU a user
 * task can read any byte the current page tables map, even supervisor-only.
 * Keel maps all RAM in the kernel half of every address space (vm.c), so on
 * such a CPU every task could read every other task's memory, keyd's
 * private keys included.  The kernel does not isolate its page tables
 * (no KPTI); it detects the CPUs that need it and says so instead:
 *
 *   - AMD and Hygon CPUs are not affected (their loads check the privilege
 *     before they forward data);
 *   - an Intel (or other) CPU that sets RDCL_NO (bit 0) in
 *     IA32_ARCH_CAPABILITIES (MSR 0x10a, present when CPUID.7.0:EDX[29])
 *     says it is not affected;
 *   - every other CPU is taken as affected.
 *
 * Affected: one boot line says so, and SYS_CPU_INFO reports
 * KEEL_CPU_MELTDOWN, on which keyd refuses to load keys (so TLS listeners
 * with keys do not serve).  A hypervisor may hide the MSR; then the CPU is
 * taken as affected, which errs on the side of the keys.  Under QEMU the
 * vendor is the guest CPU model's (-cpu EPYC: AMD, not affected; -cpu
 * Skylake-Server without arch-capabilities: affected).
 * Runs once at boot, before any task.
 */
#include "arch.h"
#include "cpuvuln.h"
#include "kstring.h"
#include "log.h"

#define MSR_ARCH_CAPABILITIES 0x10au
#define ARCH_CAP_RDCL_NO      (1ull << 0)
#define CPUID7_EDX_ARCH_CAP   (1u << 29)

static uint64_t flags;

static void cpu_vendor(char out[13])
{
    struct cpuid_regs r = cpuid(0, 0);
    memcpy(out, &r.ebx, 4);
    memcpy(out + 4, &r.edx, 4);
    memcpy(out + 8, &r.ecx, 4);
    out[12] = 0;
}

void cpuvuln_init(bool smep, bool smap)
{
    char vendor[13];
    cpu_vendor(vendor);
    bool amd = memcmp(vendor, "AuthenticAMD", 12) == 0 || memcmp(vendor, "HygonGenuine", 12) == 0;
    bool has_arch_cap = cpuid(0, 0).eax >= 7 && (cpuid(7, 0).edx & CPUID7_EDX_ARCH_CAP);
    bool rdcl_no = has_arch_cap && (rdmsr(MSR_ARCH_CAPABILITIES) & ARCH_CAP_RDCL_NO);
    if (smep)
        flags |= KEEL_CPU_SMEP;
    if (smap)
        flags |= KEEL_CPU_SMAP;
    if (amd)
        kprintf("keel: cpu: Meltdown: not affected (%s)\n", vendor);
    else if (rdcl_no)
        kprintf("keel: cpu: Meltdown: not affected (%s, RDCL_NO)\n", vendor);
    else {
        flags |= KEEL_CPU_MELTDOWN;
        kprintf("keel: cpu: Meltdown: AFFECTED (%s, %s): tasks can read kernel memory and the kernel does not "
                "isolate its page tables; keys will not be held\n",
                vendor, has_arch_cap ? "no RDCL_NO" : "no IA32_ARCH_CAPABILITIES");
    }
}

uint64_t cpuvuln_flags(void) { return flags; }
