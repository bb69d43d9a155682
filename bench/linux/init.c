/*
 * bench/linux/init.c - /init of the Linux guest of `make bench` (bench/linux.py).
 *
 * Built static (gcc -static -O2, glibc) by bench/linux/mkinitramfs.sh and run
 * by Debian's kernel as PID 1 straight from the initramfs.  It prints on the
 * serial console:
 *
 *   linux: init up            the moment our code runs (the kernel has booted)
 *   linux: ready              the NIC's driver is loaded, eth0 is up and has carrier
 *   BENCH name=... value=... unit=cycles|ns|KiB   (when asked for, see below)
 *   INFO name=... runs=... iters=... min_cycles=... max_cycles=... clock=rdtsc tsc_hz=...
 *   linux: done
 *
 * and then powers the machine off (isa-debug-exit port 0xf4 when present, so
 * QEMU exits with status 1; else reboot(RB_POWER_OFF)).
 *
 * Kernel command line (after the kernel's own words):
 *   keelbench=full   boot, then the micro-benchmarks below (the default)
 *   keelbench=boot   boot to ready and power off (boot-time runs)
 *   keelbench=shell  boot to ready, then stay (debugging: the console shows
 *                    what happened; nothing to type into)
 *   keelbench=serve  boot to ready, then the services below, and stay:
 *                    TCP echo on port 7 (bytes back until the peer's FIN, then
 *                    close) and the sink on port 9 ("sink\n" -> "sinking\n",
 *                    every later byte dropped, "sunk N\n" at the peer's FIN:
 *                    the protocol of tests/net/socktest.c's, bench/netclient.py);
 *                    with /etc/stunnel.conf in the initramfs, stunnel too
 *                    (bench/linux/tls.sh), and "linux: tls listening" once
 *                    its port 443 accepts
 *   keelbench=forward  boot to ready, then route between eth0 and eth1 (the
 *                    forwarding pair, bench/linux.py): eth1 up with keelip1=,
 *                    IPv4 forwarding on, /etc/nft-bench.conf loaded with the
 *                    nft from the initramfs (nftables, 100 rules with
 *                    connection tracking), then "linux: forwarding" and stay
 *   keelip=A.B.C.D/N eth0's address (else eth0 has none), keelgw=A.B.C.D the
 *                    default route; keelip1=A.B.C.D/N eth1's (forward)
 *
 * The micro-benchmarks are the Linux halves of Keel's kbench pairs
 * (bench/kbench.c), measured the same way: the median of RUNS runs of
 * ITERS operations each, per operation, in TSC cycles (rdtsc, not
 * serialising: fine at these iteration counts) and in ns (from a TSC
 * frequency calibrated against CLOCK_MONOTONIC here), min and max on the
 * INFO line.  The two processes of a round trip are pinned to CPU 0 (the
 * guest has one vCPU anyway), so every round trip is two context switches,
 * as Keel's call/reply_recv between two tasks is.
 *
 *   linux_pipe_rtt     1 byte through a pipe to the child and 1 byte back
 *   linux_eventfd_rtt  eventfd write to the child, eventfd write back
 *   linux_futex_rtt    FUTEX_WAKE/FUTEX_WAIT ping-pong on a word in shared memory
 *   linux_getppid      syscall(SYS_getppid): the null system call
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/io.h>
#include <arpa/inet.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS  31
#define ITERS 2000
#define WARM  200

static uint64_t tsc_hz;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    for (int off = 0; off < n;) {
        ssize_t w = write(1, buf + off, (size_t)(n - off));
        if (w <= 0)
            break;
        off += (int)w;
    }
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void power_off(int status) __attribute__((noreturn));
static void power_off(int status)
{
    sync();
    /* isa-debug-exit: QEMU exits with (value << 1) | 1. */
    if (ioperm(0xf4, 4, 1) == 0)
        outb((unsigned char)status, 0xf4);
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static void die(const char *what)
{
    say("linux: FAIL %s: %s\n", what, strerror(errno));
    power_off(0x11);
}

static void console(void)
{
    /* The kernel opens /dev/console for us only if the initramfs has the
     * node; ours has no device nodes (built without root), so mount
     * devtmpfs and open it here. */
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    if (fcntl(1, F_GETFD) < 0) {
        int fd = open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
    }
}

static void read_file(const char *path, char *buf, size_t len)
{
    buf[0] = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *nl = strchr(buf, '\n');
    if (nl && nl[1] == 0)
        *nl = 0;
}

/* The modules the initramfs carries, in load order (/modules/order). */
static void load_modules(void)
{
    FILE *f = fopen("/modules/order", "r");
    if (!f)
        return;
    char name[256];
    while (fgets(name, sizeof name, f)) {
        name[strcspn(name, "\n")] = 0;
        if (!name[0])
            continue;
        char path[300];
        snprintf(path, sizeof path, "/modules/%s", name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0)
            say("linux: module %s: %s\n", name, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    fclose(f);
}

/* eth0 up (no address: what is measured is the driver being ready). */
static int link_up(const char *ifname)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return rc;
}

static void pin_cpu0(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        die("sched_setaffinity");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t report(const char *name, uint64_t *runs, int n, int iters)
{
    qsort(runs, (size_t)n, sizeof runs[0], cmp_u64);
    uint64_t med = runs[n / 2];
    say("BENCH name=%s value=%llu unit=cycles\n", name, (unsigned long long)med);
    say("BENCH name=%s value=%llu unit=ns\n", name, (unsigned long long)(med * 1000000000ull / tsc_hz));
    say("INFO name=%s runs=%d iters=%d min_cycles=%llu max_cycles=%llu clock=rdtsc tsc_hz=%llu\n", name, n, iters,
        (unsigned long long)runs[0], (unsigned long long)runs[n - 1], (unsigned long long)tsc_hz);
    return med;
}

/* TSC frequency against CLOCK_MONOTONIC over ~250 ms. */
static void calibrate(void)
{
    uint64_t n0 = mono_ns(), t0 = rdtsc(), n1, t1;
    do {
        n1 = mono_ns();
    } while (n1 - n0 < 250000000ull);
    t1 = rdtsc();
    tsc_hz = (t1 - t0) * 1000000000ull / (n1 - n0);
}

static void bench_getppid(void)
{
    uint64_t runs[RUNS];
    for (int i = 0; i < WARM; i++)
        (void)syscall(SYS_getppid);
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < ITERS; i++)
            (void)syscall(SYS_getppid);
        runs[r] = (rdtsc() - t0) / ITERS;
    }
    report("linux_getppid", runs, RUNS, ITERS);
}

/*
 * A round trip between this process and a forked child: ping() hands the
 * turn to the child and returns when it has handed it back.  The child runs
 * pong() forever (until killed).
 */
struct rtt_ops {
    const char *name;
    void (*ping)(void);
    void (*pong)(void);
};

static int p2c[2], c2p[2]; /* pipes */
static int efd_to_child, efd_to_parent;
static volatile uint32_t *futex_word; /* 0: the parent's turn, 1: the child's */

static void xread(int fd, void *b, size_t n)
{
    if (read(fd, b, n) != (ssize_t)n)
        die("read");
}
static void xwrite(int fd, const void *b, size_t n)
{
    if (write(fd, b, n) != (ssize_t)n)
        die("write");
}

static void pipe_ping(void)
{
    char c = 1;
    xwrite(p2c[1], &c, 1);
    xread(c2p[0], &c, 1);
}
static void pipe_pong(void)
{
    char c;
    xread(p2c[0], &c, 1);
    xwrite(c2p[1], &c, 1);
}

static void efd_ping(void)
{
    uint64_t v = 1;
    xwrite(efd_to_child, &v, 8);
    xread(efd_to_parent, &v, 8);
}
static void efd_pong(void)
{
    uint64_t v;
    xread(efd_to_child, &v, 8);
    xwrite(efd_to_parent, &v, 8);
}

static long futex(volatile uint32_t *w, int op, uint32_t val)
{
    /* Not FUTEX_PRIVATE_FLAG: the word is shared between two processes. */
    return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}
static void futex_ping(void)
{
    __atomic_store_n(futex_word, 1, __ATOMIC_SEQ_CST); /* the child's turn */
    futex(futex_word, FUTEX_WAKE, 1);
    while (__atomic_load_n(futex_word, __ATOMIC_SEQ_CST) != 0)
        futex(futex_word, FUTEX_WAIT, 1);
}
static void futex_pong(void)
{
    while (__atomic_load_n(futex_word, __ATOMIC_SEQ_CST) != 1)
        futex(futex_word, FUTEX_WAIT, 0);
    __atomic_store_n(futex_word, 0, __ATOMIC_SEQ_CST); /* the parent's turn */
    futex(futex_word, FUTEX_WAKE, 1);
}

static void bench_rtt(const struct rtt_ops *op)
{
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        pin_cpu0();
        for (;;)
            op->pong();
    }
    uint64_t runs[RUNS];
    for (int i = 0; i < WARM; i++)
        op->ping();
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = rdtsc();
        for (int i = 0; i < ITERS; i++)
            op->ping();
        runs[r] = (rdtsc() - t0) / ITERS;
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    report(op->name, runs, RUNS, ITERS);
}

static void benchmarks(void)
{
    pin_cpu0();
    calibrate();
    char buf[256];
    read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource", buf, sizeof buf);
    say("INFO name=linux_clock tsc_hz=%llu calibrated_against=CLOCK_MONOTONIC clocksource=%s cpus=%d\n",
        (unsigned long long)tsc_hz, buf[0] ? buf : "?", get_nprocs());

    bench_getppid();

    if (pipe2(p2c, O_CLOEXEC) || pipe2(c2p, O_CLOEXEC))
        die("pipe2");
    efd_to_child = eventfd(0, EFD_CLOEXEC);
    efd_to_parent = eventfd(0, EFD_CLOEXEC);
    if (efd_to_child < 0 || efd_to_parent < 0)
        die("eventfd");
    futex_word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (futex_word == MAP_FAILED)
        die("mmap");
    *futex_word = 0;

    static const struct rtt_ops ops[] = {
        { "linux_pipe_rtt", pipe_ping, pipe_pong },
        { "linux_eventfd_rtt", efd_ping, efd_pong },
        { "linux_futex_rtt", futex_ping, futex_pong },
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        bench_rtt(&ops[i]);
}

/* Memory in use once ready: MemTotal - MemAvailable (KiB), as `free` counts it. */
static void memory(const char *name)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return;
    char line[256];
    unsigned long long total = 0, avail = 0, v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &v) == 1)
            total = v;
        else if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
            avail = v;
    }
    fclose(f);
    if (total && avail <= total) {
        say("BENCH name=%s value=%llu unit=KiB\n", name, total - avail);
        say("INFO name=%s mem_total_kib=%llu mem_available_kib=%llu "
            "(MemTotal - MemAvailable from /proc/meminfo)\n",
            name, total, avail);
    }
}

/* ---- keelbench=serve ---------------------------------------------------- */

static int if_ioctl(unsigned long req, const char *ifname, const char *ip)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    int rc = inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? ioctl(s, req, &ifr) : -1;
    close(s);
    return rc;
}

/* KEY (e.g. "keelip=") A.B.C.D/N from the command line -> IFNAME's address
 * and netmask; false when the command line has no such word. */
static bool configure_if(const char *cmdline, const char *key, const char *ifname, char ip[32], unsigned *bits)
{
    char mask[32];
    *bits = 24;
    const char *p = strstr(cmdline, key);
    if (!p || sscanf(p + strlen(key), "%31[0-9.]/%u", ip, bits) < 1 || *bits > 32)
        return false;
    uint32_t m = *bits ? htonl(0xffffffffu << (32 - *bits)) : 0;
    inet_ntop(AF_INET, &m, mask, sizeof mask);
    if (if_ioctl(SIOCSIFADDR, ifname, ip) || if_ioctl(SIOCSIFNETMASK, ifname, mask))
        die("interface address");
    return true;
}

/* keelip=A.B.C.D/N and keelgw=A.B.C.D from the command line; lo up too. */
static void configure_ip(const char *cmdline)
{
    char ip[32] = "", gw[32] = "";
    unsigned bits = 24;
    if (!configure_if(cmdline, "keelip=", "eth0", ip, &bits))
        return;
    if (link_up("lo"))
        die("lo up");
    const char *p = strstr(cmdline, "keelgw=");
    if (p && sscanf(p + 7, "%31[0-9.]", gw) == 1) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct rtentry rt;
        memset(&rt, 0, sizeof rt);
        struct sockaddr_in *g = (struct sockaddr_in *)&rt.rt_gateway, *d = (struct sockaddr_in *)&rt.rt_dst,
                           *k = (struct sockaddr_in *)&rt.rt_genmask;
        g->sin_family = d->sin_family = k->sin_family = AF_INET;
        inet_pton(AF_INET, gw, &g->sin_addr);
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        if (s < 0 || ioctl(s, SIOCADDRT, &rt) != 0)
            die("default route");
        close(s);
    }
    say("linux: eth0 %s/%u gateway %s\n", ip, bits, gw[0] ? gw : "none");
}

static int listen_on(uint16_t port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64))
        die("listen");
    return s;
}

static int write_all(int fd, const void *b, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, (const char *)b + off, n - off);
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

/* One connection of port 7 (echo until FIN) or port 9 (the sink protocol). */
static void serve_conn(int c, int sink)
{
    static char buf[1 << 18];
    unsigned long long sunk = 0;
    ssize_t n;
    if (sink) {
        char line[8];
        size_t got = 0;
        while (got < 5 && (n = read(c, line + got, 5 - got)) > 0)
            got += (size_t)n;
        if (got != 5 || memcmp(line, "sink\n", 5) != 0 || write_all(c, "sinking\n", 8))
            return;
    }
    while ((n = read(c, buf, sizeof buf)) > 0) {
        if (sink)
            sunk += (unsigned long long)n;
        else if (write_all(c, buf, (size_t)n))
            return;
    }
    if (sink) {
        int k = snprintf(buf, 64, "sunk %llu\n", sunk);
        (void)write_all(c, buf, (size_t)k);
    }
}

/* A process per listener, connections one after another (the generators
 * are sequential, as for Keel's socktest). */
static void service(uint16_t port, int sink)
{
    int l = listen_on(port);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid > 0) {
        close(l);
        return;
    }
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        serve_conn(c, sink);
        close(c);
    }
}

/* stunnel from the initramfs, when bench/linux/tls.sh put it there. */
static void tls_terminator(void)
{
    if (access("/etc/stunnel.conf", R_OK) != 0)
        return;
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        char *argv[] = { "/usr/bin/stunnel4", "/etc/stunnel.conf", NULL };
        char *envp[] = { NULL };
        execve(argv[0], argv, envp);
        say("linux: FAIL exec stunnel4: %s\n", strerror(errno));
        _exit(1);
    }
    for (int i = 0; i < 3000; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(443) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        if (s >= 0)
            close(s);
        if (ok) {
            say("linux: tls listening\n");
            return;
        }
        usleep(10000);
    }
    say("linux: FAIL stunnel4 is not listening on 443 after 30 s\n");
}

static void serve(const char *cmdline)
{
    configure_ip(cmdline);
    signal(SIGPIPE, SIG_IGN);
    service(7, 0);
    service(9, 1);
    say("linux: serving: tcp echo 7, sink 9\n");
    tls_terminator();
    memory("linux_mem_in_use_serving");
    for (;;)
        if (waitpid(-1, NULL, 0) < 0)
            pause();
}

/* ---- keelbench=forward ------------------------------------------------- */

#define NFT_BIN   "/usr/sbin/nft"
#define NFT_RULES "/etc/nft-bench.conf"

/* eth0 (keelip=) and eth1 (keelip1=) addressed and up, IPv4 forwarding on,
 * the ruleset loaded by nft; then stay (the kernel does the work). */
static void forward(const char *cmdline)
{
    char ip1[32] = "";
    unsigned bits1;
    configure_ip(cmdline);
    if (link_up("eth1") || !configure_if(cmdline, "keelip1=", "eth1", ip1, &bits1))
        die("eth1 (keelip1=)");
    int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1\n", 2) != 2)
        die("ip_forward");
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = { NFT_BIN, "-f", NFT_RULES, NULL };
        char *envp[] = { "PATH=/usr/sbin:/usr/bin", NULL };
        execve(argv[0], argv, envp);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("nft -f " NFT_RULES);
    say("linux: eth1 %s/%u; forwarding with the rules of " NFT_RULES "\n", ip1, bits1);
    say("linux: forwarding\n");
    for (;;)
        pause();
}

int main(void)
{
    console();
    say("linux: init up\n");
    mkdir("/proc", 0555);
    mkdir("/sys", 0555);
    if (mount("proc", "/proc", "proc", 0, NULL) || mount("sysfs", "/sys", "sysfs", 0, NULL))
        die("mount /proc, /sys");

    char cmdline[1024], mode[32] = "full";
    read_file("/proc/cmdline", cmdline, sizeof cmdline);
    const char *m = strstr(cmdline, "keelbench=");
    if (m)
        sscanf(m + 10, "%31[a-z]", mode);

    load_modules();
    int up = link_up("eth0");
    if (up != 0)
        say("linux: eth0: %s\n", strerror(errno));
    /* Ready = the driver has seen the link (as Keel's virtio-net says
     * "link up" before its server reports ready); at most 5 s. */
    char carrier[16] = "";
    for (int i = 0; up == 0 && i < 500; i++) {
        read_file("/sys/class/net/eth0/carrier", carrier, sizeof carrier);
        if (strcmp(carrier, "1") == 0)
            break;
        usleep(10000);
    }
    say("linux: ready%s\n", up != 0 ? " (without eth0)" : strcmp(carrier, "1") ? " (eth0 has no carrier)" : "");

    char rel[128], mit[256];
    read_file("/proc/sys/kernel/osrelease", rel, sizeof rel);
    read_file("/sys/devices/system/cpu/vulnerabilities/spectre_v2", mit, sizeof mit);
    say("INFO name=linux_kernel release=%s spectre_v2=\"%s\"\n", rel, mit);
    read_file("/sys/devices/system/cpu/vulnerabilities/meltdown", mit, sizeof mit);
    say("INFO name=linux_kernel meltdown=\"%s\"\n", mit);
    memory("linux_mem_in_use_at_ready");

    if (strcmp(mode, "full") == 0)
        benchmarks();
    if (strcmp(mode, "serve") == 0)
        serve(cmdline);
    if (strcmp(mode, "forward") == 0)
        forward(cmdline);
    if (strcmp(mode, "shell") == 0) {
        say("linux: staying up (keelbench=shell)\n");
        for (;;)
            pause();
    }
    say("linux: done\n");
    power_off(0);
}
