/*
 * netd_rand.c - random numbers for lwIP: LWIP_RAND() (DHCP transaction IDs,
 * the first ephemeral port, ...) and RFC 6528 TCP initial sequence numbers.
 *
 * Construction: two 128-bit SipHash-2-4 keys.  LWIP_RAND() is SipHash under
 * the first key of a 64-bit counter (a keystream: SipHash is a PRF, so the
 * outputs cannot be predicted from each other without the key).  A TCP ISN
 * is RFC 6528's M + F(4-tuple, secret): M the 4 us clock, F SipHash under
 * the second key of (local ip, local port, remote ip, remote port).
 *
 * Where the keys come from, in order:
 *   1. the entropy server (virtio-rng, abi/keel/rng.h) when the manifest
 *      connects netd to "rng": 32 bytes of device entropy.  This is the
 *      proper source.
 *   2. the CPU's RDSEED or RDRAND (lib/cpurand.c) when there is no entropy
 *      server (no virtio-rng device) or it does not answer: 32 bytes from
 *      the instruction that passes its start-up check.
 *   3. STOP-GAP, NOT ENTROPY: with neither, the keys come from mixing TSC
 *      readings taken around system calls.  The TSC at boot is roughly
 *      predictable (boot takes about the same number of cycles each time),
 *      so an attacker who can guess it to within a few million cycles can
 *      recover the key, and with it DHCP XIDs and TCP ISNs.  netd says so
 *      on the console at start.
 * Never a constant: netd_rand32() before any seeding seeds from the CPU,
 * else the TSC.
 *
 * State is file-scope on purpose (one generator per netd, lwIP calls
 * LWIP_RAND() with no context); it is rebuilt from scratch when netd
 * restarts.  Single-threaded: only netd's main thread calls in here.
 */
#include <keel/cpurand.h>
#include <keel/rng.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "lwip/ip_addr.h"
#include "netd_hooks.h"
#include "netd_rand.h"

static struct {
    uint64_t k_rand[2]; /* LWIP_RAND keystream key */
    uint64_t k_isn[2];  /* RFC 6528 secret */
    uint64_t counter;   /* keystream position */
    const char *source; /* NULL until keyed */
} R;

/* ------------------------------------------------------ SipHash-2-4 ---- */

static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static inline void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl(v[2], 32);
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

/* SipHash-2-4 (Aumasson and Bernstein, 2012) of LEN bytes at IN under K. */
static uint64_t siphash(const uint64_t k[2], const uint8_t *in, size_t len)
{
    uint64_t v[4] = { k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull, k[0] ^ 0x6c7967656e657261ull,
                      k[1] ^ 0x7465646279746573ull };
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load64(in + i);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    v[3] ^= b;
    sip_round(v);
    sip_round(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ------------------------------------------------------------ keying ---- */

static void set_keys(const uint8_t bytes[32], const char *source)
{
    R.k_rand[0] = load64(bytes);
    R.k_rand[1] = load64(bytes + 8);
    R.k_isn[0] = load64(bytes + 16);
    R.k_isn[1] = load64(bytes + 24);
    R.counter = 0;
    R.source = source;
}

int rand_seed_from_server(uint64_t ep)
{
    uint8_t bytes[32];
    size_t have = 0;
    for (int tries = 0; have < sizeof bytes && tries < 8; tries++) {
        struct keel_msg m = { .info = RNG_READ | KEEL_NONBLOCK };
        int64_t err = keel_call(ep, &m);
        if (err == KE_WOULD_BLOCK)
            return RAND_E_NOT_READY;
        int32_t n = (int32_t)keel_label(&m);
        if (err || n <= 0 || n > 32)
            return RAND_E_SERVER;
        size_t take = (size_t)n < sizeof bytes - have ? (size_t)n : sizeof bytes - have;
        memcpy(bytes + have, m.mr, take);
        have += take;
    }
    if (have < sizeof bytes)
        return RAND_E_SERVER;
    set_keys(bytes, "entropy server");
    memset(bytes, 0, sizeof bytes);
    return RAND_OK;
}

int rand_seed_from_cpu(void)
{
    enum cpurand_source src = cpurand_probe();
    uint8_t bytes[32];
    if (src == CPURAND_NONE || cpurand_fill(src, bytes, sizeof bytes) != 0)
        return RAND_E_NO_CPU;
    set_keys(bytes, src == CPURAND_RDSEED ? "CPU (RDSEED)" : "CPU (RDRAND)");
    memset(bytes, 0, sizeof bytes);
    return RAND_OK;
}

/* Keys from the best source there is without the entropy server. */
static void seed_fallback(void)
{
    if (rand_seed_from_cpu() != RAND_OK)
        rand_seed_from_tsc();
}

/* splitmix64's finaliser: spreads every input bit over the output. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rand_seed_from_tsc(void)
{
    /* STOP-GAP (see the top of this file): the only unpredictability here is
     * the TSC's value and the jitter of system calls between readings. */
    uint8_t bytes[32];
    uint64_t acc = keel_rdtsc();
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 16; j++) {
            (void)keel_now_ns(); /* a system call: a few hundred cycles of jitter */
            acc = mix64(acc ^ keel_rdtsc());
        }
        for (int b = 0; b < 8; b++)
            bytes[8 * i + b] = (uint8_t)(acc >> (8 * b));
    }
    set_keys(bytes, "TSC (stop-gap)");
    memset(bytes, 0, sizeof bytes);
    ulog("netd: WARNING: no entropy server and no RDSEED/RDRAND; random numbers (DHCP XIDs, TCP ISNs) are keyed "
         "from the TSC, which is PREDICTABLE; give the VM a virtio-rng device (or a CPU model with RDRAND)\n");
}

const char *rand_source(void) { return R.source ? R.source : "none"; }

uint32_t netd_rand32(void)
{
    if (!R.source)
        seed_fallback();
    uint64_t c = R.counter++;
    return (uint32_t)siphash(R.k_rand, (const uint8_t *)&c, sizeof c);
}

/* RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey). */
u32_t netd_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip, u16_t remote_port)
{
    if (!R.source)
        seed_fallback();
    uint8_t t[36]; /* both addresses (16 bytes each: IPv4 in the first 4), both ports */
    memset(t, 0, sizeof t);
    if (IP_IS_V6(local_ip)) {
        memcpy(t, ip_2_ip6(local_ip)->addr, 16);
        memcpy(t + 16, ip_2_ip6(remote_ip)->addr, 16);
    } else {
        uint32_t l = ip4_addr_get_u32(ip_2_ip4(local_ip)), r = ip4_addr_get_u32(ip_2_ip4(remote_ip));
        memcpy(t, &l, 4);
        memcpy(t + 16, &r, 4);
    }
    memcpy(t + 32, &local_port, 2);
    memcpy(t + 34, &remote_port, 2);
    uint32_t m = (uint32_t)(keel_now_ns() / 4000u); /* RFC 793's 4 us clock */
    return m + (uint32_t)siphash(R.k_isn, t, sizeof t);
}
