/*
 * cpurand.c - RDSEED and RDRAND for servers (keel/cpurand.h says when each
 * is used and why).
 *
 * Both instructions run in ring 3 on every CPU that has them; CPUID tells.
 * A draw can fail (CF = 0) when the hardware is drained, which is not an
 * error by itself: the caller's draw retries up to CPURAND_TRIES times,
 * with a pause in between for RDSEED.
 */
#include <cpuid.h>
#include <keel/cpurand.h>
#include <keel/string.h>

#define CPURAND_TRIES  10
#define CPURAND_CHECKS 8

static int has_rdrand(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    return (c >> 30) & 1; /* CPUID.01H:ECX.RDRAND[bit 30] */
}

static int has_rdseed(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 18) & 1; /* CPUID.(EAX=07H,ECX=0H):EBX.RDSEED[bit 18] */
}

/* One 64-bit draw; 0 when the instruction kept failing. */
static int draw(enum cpurand_source source, uint64_t *v)
{
    for (int i = 0; i < CPURAND_TRIES; i++) {
        uint8_t ok;
        if (source == CPURAND_RDSEED)
            __asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
        else
            __asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
        if (ok)
            return 1;
        __asm__ volatile("pause");
    }
    return 0;
}

/* The start-up check: every draw succeeds and no two are alike. */
static int passes_check(enum cpurand_source source)
{
    uint64_t v[CPURAND_CHECKS];
    for (int i = 0; i < CPURAND_CHECKS; i++) {
        if (!draw(source, &v[i]))
            return 0;
        for (int j = 0; j < i; j++)
            if (v[i] == v[j])
                return 0;
    }
    return 1;
}

enum cpurand_source cpurand_probe(void)
{
    if (has_rdseed() && passes_check(CPURAND_RDSEED))
        return CPURAND_RDSEED;
    if (has_rdrand() && passes_check(CPURAND_RDRAND))
        return CPURAND_RDRAND;
    return CPURAND_NONE;
}

int cpurand_fill(enum cpurand_source source, uint8_t *out, size_t len)
{
    if (source != CPURAND_RDSEED && source != CPURAND_RDRAND)
        return -1;
    uint64_t prev = 0;
    for (size_t o = 0, k = 0; o < len; o += 8, k++) {
        uint64_t v;
        if (!draw(source, &v) || (k > 0 && v == prev)) {
            memset(out, 0, len);
            return -1;
        }
        prev = v;
        size_t n = len - o < 8 ? len - o : 8;
        memcpy(out + o, &v, n);
    }
    return 0;
}

const char *cpurand_name(enum cpurand_source source)
{
    return source == CPURAND_RDSEED ? "RDSEED" : source == CPURAND_RDRAND ? "RDRAND" : "none";
}
