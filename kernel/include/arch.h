/*
 * arch.h - x86-64 instructions the kernel needs, as small inline functions.
 *
 * All port I/O, MSR and control-register access goes through these so that a
 * reader can grep for every place the kernel touches hardware state.
 */
#ifndef KEEL_ARCH_H
#define KEEL_ARCH_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

struct cpuid_regs {
    uint32_t eax, ebx, ecx, edx;
};
static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t sub)
{
    struct cpuid_regs r;
    __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(sub));
    return r;
}

#define DEFINE_CR(n)                                                                                                   \
    static inline uint64_t read_cr##n(void)                                                                            \
    {                                                                                                                  \
        uint64_t v;                                                                                                    \
        __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                                                              \
        return v;                                                                                                      \
    }                                                                                                                  \
    static inline void write_cr##n(uint64_t v) { __asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline void cpu_halt(void) { __asm__ volatile("hlt"); }
static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause"); }
static inline void invlpg(uint64_t va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline uint64_t read_rflags(void)
{
    uint64_t v;
    __asm__ volatile("pushfq; popq %0" : "=r"(v));
    return v;
}

#define MSR_EFER      0xC0000080u
#define EFER_SCE      (1u << 0)
#define EFER_LME      (1u << 8)
#define EFER_NXE      (1u << 11)
#define MSR_APIC_BASE 0x1Bu
#define MSR_FS_BASE   0xC0000100u
#define MSR_GS_BASE   0xC0000101u
#define MSR_KERNEL_GS 0xC0000102u

#define RFLAGS_AC_BIT (1ull << 18) /* alignment check; with SMAP: user access allowed */

#define CR0_WP         (1ull << 16)
#define CR4_PGE        (1ull << 7)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_PCIDE      (1ull << 17)
#define CR4_SMEP       (1ull << 20)
#define CR4_SMAP       (1ull << 21)

#endif
