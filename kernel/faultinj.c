/*
 * faultinj.c - software fault injection into a running user task
 * (SYS_DEBUG_CTL DEBUG_CTL_INJECT), in the manner of MINIX 3's SWIFI
 * campaigns: the point is to show that a server hit by a random fault dies
 * or limps, init restarts it, and nothing else (the kernel, init, the other
 * servers) notices more than a delay.
 *
 * One call injects one fault into the live task with the given name; a
 * 64-bit random word (the caller's PRNG, seeded and printed by the caller)
 * chooses everything:
 *   - FAULTINJ_REG: one bit of one saved register of one of the task's
 *     threads that is not on a core right now (its saved frame is what it
 *     resumes with).  A thread that entered by `syscall` gets one of the
 *     registers the call leaves alone (rbx rbp rsp r12-r15 rip), since the
 *     message registers would be overwritten on the way out anyway; a
 *     preempted thread any of the 17.  RIP and RSP keep bits 47-63 clear,
 *     so the kernel's sysret never sees a non-canonical address (that would
 *     fault in ring 0 on Intel CPUs: a kernel bug, not the server's).
 *   - FAULTINJ_CODE: one byte of such a thread's next instruction XORed
 *     with a random non-zero byte, through the kernel's map of physical
 *     memory (the page is the task's own copy of its image: init loads each
 *     start into fresh frames, so a restart runs clean code).
 *   - FAULTINJ_WILD: one aligned 8-byte word of random value written at a
 *     random offset of a random writable region of the task that is neither
 *     device memory nor a DMA frame (shared rings are DMA frames: without an
 *     IOMMU a corrupted descriptor lets a device write anywhere, which is
 *     issue 16's DMA isolation, not this).
 *   - FAULTINJ_SPIN: such a thread's next instruction overwritten with
 *     `jmp .` (0xeb 0xfe): once the thread runs it loops there, never
 *     blocking, as a driver whose wild write left it in a loop.  The
 *     scheduler demotes it and, at the server's CPU limit, suspends it with
 *     FAULT_HOG, and init restarts the server (sched.c).  Both bytes must
 *     be mapped (an instruction that ends the page: the next kind instead).
 *   - FAULTINJ_STOP: such a thread stopped for good (thread_hang): out of
 *     every queue and suspended, with no fault message, as a thread a
 *     corrupted slot left blocked on an object nothing signals.  Work for
 *     the server then waits untaken, and init's stall-limit restarts it
 *     (SYS_TASK_STALL); a server with other threads may limp on.
 * When the chosen kind has nothing to act on (no thread off-core, RIP not
 * mapped, no private writable region) the next kind is tried, unless the
 * caller asked for one kind only (KE_NOT_MAPPED then).
 *
 * Reachable only through the debug capability, which init grants only to
 * servers of test boots (image/manifest); the appliance's servers never
 * hold it.  Runs in the system call, under the big kernel lock: no thread
 * of the target changes state meanwhile.
 */
#include "faultinj.h"

#include "kstring.h"
#include "log.h"
#include "sched.h"
#include "task.h"
#include "trap.h"
#include "vm.h"

#define SYSCALL_VECTOR 0x100 /* syscall_entry.S's mark in trap_frame.vector */
#define PAGE           4096ull
#define CANON_BITS     47 /* RIP and RSP stay below 2^47 */

_Static_assert(FAULTINJ_REG_COUNT == 17, "rax..r15 and rip");

/* splitmix64: a stream of words from the caller's one random word. */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool name_matches(const struct task *t, uint64_t word)
{
    for (int i = 0; i < 8; i++) {
        char c = (char)(word >> (8 * i));
        if (t->name[i] != c)
            return false;
        if (!c)
            return true;
    }
    return t->name[8] == 0;
}

static struct task *find_task(uint64_t word)
{
    for (struct task *t = task_list(); t; t = t->all_next)
        if (!t->dead && t->n_threads && name_matches(t, word))
            return t;
    return NULL;
}

/* A thread whose saved frame is what it resumes with: started, alive, not
 * suspended by a fault already, and not on a core. */
static bool frame_is_live(const struct thread *th)
{
    return th->state != TS_INACTIVE && th->state != TS_DEAD && th->state != TS_FAULTED && !sched_running_anywhere(th) &&
           th->uframe;
}

/* The N-th (mod count) such thread, or NULL when there is none. */
static struct thread *pick_thread(struct task *t, uint64_t n)
{
    uint32_t count = 0;
    for (struct thread *th = t->threads; th; th = th->task_next)
        count += frame_is_live(th);
    if (!count)
        return NULL;
    n %= count;
    for (struct thread *th = t->threads; th; th = th->task_next)
        if (frame_is_live(th) && n-- == 0)
            return th;
    return NULL;
}

static uint64_t *reg_slot(struct trap_frame *tf, unsigned idx)
{
    uint64_t *slots[FAULTINJ_REG_COUNT] = { &tf->rax, &tf->rbx, &tf->rcx, &tf->rdx, &tf->rsi, &tf->rdi,
                                            &tf->rbp, &tf->rsp, &tf->r8,  &tf->r9,  &tf->r10, &tf->r11,
                                            &tf->r12, &tf->r13, &tf->r14, &tf->r15, &tf->rip };
    return slots[idx];
}

static int inject_reg(struct thread *th, uint64_t *s, struct faultinj_result *out)
{
    static const uint8_t after_syscall[] = { 1, 6, 7, 12, 13, 14, 15, FAULTINJ_REG_RIP };
    struct trap_frame *tf = th->uframe;
    unsigned idx = tf->vector == SYSCALL_VECTOR ? after_syscall[mix(s) % sizeof after_syscall]
                                                : (unsigned)(mix(s) % FAULTINJ_REG_COUNT);
    bool addr = idx == FAULTINJ_REG_RIP || idx == FAULTINJ_REG_RSP;
    unsigned bit = (unsigned)(mix(s) % (addr ? CANON_BITS : 64));
    *reg_slot(tf, idx) ^= 1ull << bit;
    out->kind = FAULTINJ_REG;
    out->where = idx;
    out->value = bit;
    return KE_OK;
}

/* The kernel's pointer to user address VA of T, when it is mapped. */
static uint8_t *user_byte(const struct task *t, uint64_t va)
{
    uint64_t pte = vm_user_pte(t->pml4_phys, va & ~(PAGE - 1));
    if (!(pte & 1) || !(pte & VM_PTE_USER))
        return NULL;
    return (uint8_t *)phys_to_virt((pte & VM_PTE_ADDR) + (va & (PAGE - 1)));
}

static int inject_code(struct task *t, struct thread *th, uint64_t *s, struct faultinj_result *out)
{
    uint64_t rip = th->uframe->rip;
    uint8_t *p = user_byte(t, rip);
    if (!p)
        return KE_NOT_MAPPED;
    uint8_t x = (uint8_t)(mix(s) % 255 + 1);
    *p ^= x;
    out->kind = FAULTINJ_CODE;
    out->where = rip;
    out->value = x;
    return KE_OK;
}

static int inject_spin(struct task *t, struct thread *th, struct faultinj_result *out)
{
    uint64_t rip = th->uframe->rip;
    uint8_t *p0 = user_byte(t, rip), *p1 = user_byte(t, rip + 1);
    if (!p0 || !p1)
        return KE_NOT_MAPPED;
    out->kind = FAULTINJ_SPIN;
    out->where = rip;
    out->value = (uint64_t)*p0 | (uint64_t)*p1 << 8;
    *p0 = 0xeb; /* jmp rel8 */
    *p1 = 0xfe; /* -2: to itself */
    return KE_OK;
}

static int inject_stop(struct thread *th, struct faultinj_result *out)
{
    out->kind = FAULTINJ_STOP;
    out->where = th->uframe->rip;
    out->value = 0;
    thread_hang(th);
    return KE_OK;
}

static bool private_writable(const struct region *r)
{
    return (r->rights & RIGHT_WRITE) && !r->frame->device && !r->frame->dma;
}

static int inject_wild(struct task *t, uint64_t *s, struct faultinj_result *out)
{
    uint64_t pages = 0;
    for (const struct region *r = t->regions; r; r = r->next)
        if (private_writable(r))
            pages += r->frame->pages;
    if (!pages)
        return KE_NOT_MAPPED;
    /* A page chosen uniformly over all private writable pages, then a word. */
    uint64_t n = mix(s) % pages;
    for (const struct region *r = t->regions; r; r = r->next) {
        if (!private_writable(r))
            continue;
        if (n >= r->frame->pages) {
            n -= r->frame->pages;
            continue;
        }
        uint64_t va = r->vaddr + n * PAGE + (mix(s) % (PAGE / 8)) * 8;
        uint64_t v = mix(s);
        uint8_t *p = user_byte(t, va);
        KASSERT(p, "a region's pages are mapped");
        memcpy(p, &v, sizeof v);
        out->kind = FAULTINJ_WILD;
        out->where = va;
        out->value = v;
        return KE_OK;
    }
    return KE_NOT_MAPPED;
}

int faultinj_inject(uint64_t name_word, uint64_t random, uint64_t only_kind, struct faultinj_result *out)
{
    if ((name_word & 0xff) == 0 || only_kind > FAULTINJ_KINDS)
        return KE_INVALID_ARG;
    struct task *t = find_task(name_word);
    if (!t)
        return KE_RANGE;
    uint64_t s = random;
    unsigned first = (unsigned)(mix(&s) % FAULTINJ_KINDS);
    struct thread *th = pick_thread(t, mix(&s));
    unsigned tries = FAULTINJ_KINDS;
    if (only_kind) {
        first = (unsigned)only_kind - 1;
        tries = 1;
    }
    /* point of no return: from here one fault is injected, if any applies */
    for (unsigned i = 0; i < tries; i++) {
        int err = KE_NOT_MAPPED;
        switch ((first + i) % FAULTINJ_KINDS + 1) {
        case FAULTINJ_REG: err = th ? inject_reg(th, &s, out) : KE_NOT_MAPPED; break;
        case FAULTINJ_CODE: err = th ? inject_code(t, th, &s, out) : KE_NOT_MAPPED; break;
        case FAULTINJ_WILD: err = inject_wild(t, &s, out); break;
        case FAULTINJ_SPIN: err = th ? inject_spin(t, th, out) : KE_NOT_MAPPED; break;
        default: err = th ? inject_stop(th, out) : KE_NOT_MAPPED; break;
        }
        if (err == KE_OK) {
            kprintf("keel: faultinj: %s: kind %llu at 0x%llx value 0x%llx\n", t->name, (unsigned long long)out->kind,
                    (unsigned long long)out->where, (unsigned long long)out->value);
            return KE_OK;
        }
    }
    return KE_NOT_MAPPED;
}
