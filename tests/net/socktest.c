/*
 * socktest.c - a guest client of netd's socket service, for
 * tests/qemu/test_netd.py: a TCP echo service on port 7 (bytes back until
 * the peer's FIN, then close), a UDP echo service on port 7 (each
 * datagram back to its sender), and a control port 9 where a line
 * "crash" makes this task fault on purpose (init restarts it: its first
 * call, SOCK_HELLO, closes every socket the dead run held) and a line
 * "connect PORT" makes it connect to 10.9.0.1:PORT (the wan host) and echo
 * on that connection too (SOCK_TCP_CONNECT).  At start it checks that bad
 * calls get their precise errors ("socktest: errors: PASS").  "hold" and
 * "release" stop and resume reading the echo connections, so a test can
 * see the TCP window close (flow control).  "sink" turns that control
 * connection into a discard service for the benchmarks (bench/tcp.py): it
 * answers "sinking\n", drops every later byte, and at the peer's FIN answers
 * "sunk N\n" (the bytes dropped) and closes.  "kstats" answers "kstats AS IPC\n",
 * the kernel's address-space switches and IPC messages since boot
 * (SYS_KSTATS), which bench/tcp.py reads around its forwarding runs.
 * With args `hello-delay=MS`
 * a restarted run waits MS milliseconds before its SOCK_HELLO, so a test
 * sees netd drop the dead run's sockets on its own (socket.h: a dead
 * client), not at the HELLO.
 *
 * One loop, no threads: accept what waits, move bytes rx -> tx for each
 * connection as far as tx has room (so nothing is ever buffered here
 * beyond one copy buffer), echo datagrams, one SOCK_KICK when anything
 * moved, and sleep on the notification when nothing did.
 */
#include <stdbool.h>

#include <keel/args.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/sock_client.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#define REGION_VA 0x0000006000000000ull
#define ECHO_PORT 7
#define CTL_PORT  9

static struct sock_client sc;
static uint8_t buf[SOCK_RING_BYTES];
static bool is_conn[SOCK_MAX], is_ctl[SOCK_MAX];
static bool hold; /* "hold": stop reading echo connections (flow control) */
/* "sink" connections: bytes dropped so far; answered at EOF, closed once sent. */
static bool is_sink[SOCK_MAX], sink_eof[SOCK_MAX];
static uint64_t sunk[SOCK_MAX];
static uint64_t sink_as0[SOCK_MAX], sink_ipc0[SOCK_MAX]; /* the kernel's counters when the sink began */
static bool is_many[SOCK_MAX];                           /* "many N PORT": connections held open, idle */
static int top;                                          /* every socket in use is below top */

static void note_top(int s)
{
    if (s >= top)
        top = s + 1;
}

/* "many N PORT": N connections to 10.9.0.1:PORT, held idle until "unmany". */
static void many(const char *arg)
{
    unsigned n = 0, port = 0, opened = 0;
    const char *p = arg;
    for (; *p >= '0' && *p <= '9'; p++)
        n = n * 10 + (unsigned)(*p - '0');
    for (p += *p == ' '; *p >= '0' && *p <= '9'; p++)
        port = port * 10 + (unsigned)(*p - '0');
    int err = 0;
    for (unsigned i = 0; i < n; i++) {
        int c = sock_tcp_connect(&sc, 0x0a090001u, (uint16_t)port);
        if (c < 0) {
            err = c;
            break;
        }
        is_many[c] = true;
        note_top(c);
        opened++;
    }
    ulog("socktest: many: %u connecting to port %u (error %d)\n", opened, port, err);
}

static void unmany(void)
{
    unsigned closed = 0;
    for (int s = 0; s < top; s++)
        if (is_many[s]) {
            is_many[s] = false;
            closed += sock_close(&sc, s) == 0;
        }
    ulog("socktest: many: closed %u\n", closed);
}

/* Echo on connection S: moves what fits; true when anything moved. */
static bool echo(int s)
{
    uint32_t room = sock_tx_room(&sc, s);
    long n = room ? sock_recv(&sc, s, buf, room) : SOCK_E_AGAIN;
    if (n > 0) {
        long k = sock_send(&sc, s, buf, (size_t)n);
        if (k != n)
            ulog("socktest: FAIL: tx took %ld of %ld bytes\n", k, n);
        return true;
    }
    if ((n == 0 && sock_unsent(&sc, s) == 0) || n == SOCK_E_BAD_SOCKET) {
        (void)sock_close(&sc, s); /* EOF and all taken, or reset */
        is_conn[s] = false;
        return true;
    }
    return false;
}

/* Sink on control connection S: drops what came; true when anything moved. */
static bool sink(int s)
{
    if (sink_eof[s]) {
        if (sock_unsent(&sc, s) != 0 && !(sock_status(&sc, s) & SOCK_ST_RESET))
            return false; /* the "sunk" line still going out */
        (void)sock_close(&sc, s);
        is_ctl[s] = is_sink[s] = sink_eof[s] = false;
        return true;
    }
    long n = sock_recv(&sc, s, buf, sizeof buf);
    if (n > 0) {
        sunk[s] += (uint64_t)n;
        return true;
    }
    if (n == 0) {
        char line[40];
        int k = snprintf(line, sizeof line, "sunk %llu\n", (unsigned long long)sunk[s]);
        uint64_t as = 0, ipc = 0;
        if (keel_kstats(&as, &ipc) == KE_OK) /* what the whole machine did meanwhile (make bench: per MiB) */
            ulog("socktest: sink: %llu bytes, kernel: %llu address-space switches, %llu IPC messages\n",
                 (unsigned long long)sunk[s], (unsigned long long)(as - sink_as0[s]),
                 (unsigned long long)(ipc - sink_ipc0[s]));
        sink_eof[s] = true;
        if (k <= 0 || sock_send(&sc, s, line, (size_t)k) != k)
            ulog("socktest: sink: the count did not fit in tx\n");
        (void)sock_shutdown(&sc, s);
        return true;
    }
    if (n == SOCK_E_BAD_SOCKET) {
        (void)sock_close(&sc, s);
        is_ctl[s] = is_sink[s] = false;
        return true;
    }
    return false;
}

static bool control(int s)
{
    char line[64];
    if (is_sink[s])
        return sink(s);
    long n = sock_recv(&sc, s, line, sizeof line - 1);
    if (n > 0) {
        line[n] = 0;
        if (strncmp(line, "sink", 4) == 0) {
            is_sink[s] = true;
            sunk[s] = 0;
            (void)keel_kstats(&sink_as0[s], &sink_ipc0[s]);
            if (sock_send(&sc, s, "sinking\n", 8) != 8)
                ulog("socktest: sink: no room for the answer\n");
        } else if (strncmp(line, "connect ", 8) == 0) {
            unsigned port = 0;
            for (const char *p = line + 8; *p >= '0' && *p <= '9'; p++)
                port = port * 10 + (unsigned)(*p - '0');
            int c = sock_tcp_connect(&sc, 0x0a090001u, (uint16_t)port);
            ulog("socktest: connect 10.9.0.1:%u: socket %d\n", port, c);
            if (c >= 0) {
                is_conn[c] = true;
                note_top(c);
            }
        } else if (strncmp(line, "kstats", 6) == 0) {
            uint64_t as = 0, ipc = 0;
            char out[64];
            int k = keel_kstats(&as, &ipc) == KE_OK ? snprintf(out, sizeof out, "kstats %llu %llu\n",
                                                               (unsigned long long)as, (unsigned long long)ipc)
                                                    : snprintf(out, sizeof out, "kstats unavailable\n");
            if (k <= 0 || sock_send(&sc, s, out, (size_t)k) != k)
                ulog("socktest: kstats: no room for the answer\n");
        } else if (strncmp(line, "many ", 5) == 0) {
            many(line + 5);
        } else if (strncmp(line, "unmany", 6) == 0) {
            unmany();
        } else if (strncmp(line, "pool", 4) == 0) {
            ulog("socktest: pool: tx %u pages free of %u\n", sc.tx.nfree, sc.tx.pages - sc.tx.first);
        } else if (strncmp(line, "hold", 4) == 0 || strncmp(line, "release", 7) == 0) {
            hold = line[0] == 'h';
            ulog("socktest: %s reading echo connections\n", hold ? "stops" : "resumes");
        } else if (strncmp(line, "crash", 5) == 0) {
            ulog("socktest: crashing on request, sockets open\n");
            __builtin_trap();
        }
        return true;
    }
    if (n == 0 || n == SOCK_E_BAD_SOCKET) {
        (void)sock_close(&sc, s);
        is_ctl[s] = false;
        return true;
    }
    return false;
}

/* Accepts what waits on listener L: a call only while its status says a
 * connection waits (SOCK_ST_ACCEPT), so an idle listener costs no IPC. */
static bool accept_all(int l, bool *table)
{
    bool moved = false;
    while (sock_status(&sc, l) & SOCK_ST_ACCEPT) {
        int s = sock_accept(&sc, l);
        if (s < 0)
            return moved;
        table[s] = true;
        note_top(s);
        moved = true;
        int e = sock_setopt(&sc, s, SOCK_OPT_NODELAY, 1);
        if (e)
            ulog("socktest: FAIL: nodelay on socket %d: %d\n", s, e);
    }
    return moved;
}

static bool udp_echo(int u)
{
    static uint8_t d[SOCK_DGRAM_MAX];
    uint32_t ip = 0;
    uint16_t port = 0;
    long n = sock_recvfrom(&sc, u, d, sizeof d, &ip, &port);
    if (n < 0)
        return false;
    if (sock_sendto(&sc, u, ip, port, d, (size_t)n) != 0)
        ulog("socktest: udp: reply dropped (tx full)\n");
    return true;
}

/* Hostile datagram records on the IPv4 udp socket U (socket.h): one that
 * claims to be IPv6 (a bad family on an IPv4-only socket: netd skips it
 * alone) and one with an unknown bit in its length (netd skips the rest of
 * the ring).  Each is a real record patched in the ring before the kick;
 * netd must answer the kick with 0 and consume it, sending nothing, and the
 * socket echoes on after (test_netd's udp checks).  Returns the failures. */
static int hostile_records(int u)
{
    static const uint8_t d[24];
    struct sock_state *ss = &sc.sh->s[u];
    int bad = 0;
    for (int k = 0; k < 2; k++) {
        uint32_t head = ss->tx_head;
        const uint8_t *p = NULL;
        if (sock_sendto(&sc, u, 0x7f000001u, 9, d, sizeof d) != 0 ||
            sock_ring_span(ss->tx_pages, sc.tx.pages, sc.tx_base, head, 8, &p) < 8 || !p) {
            ulog("socktest: errors: hostile record %d: could not write it\n", k);
            return bad + 1;
        }
        /* 8 | IP6: 8 + 16 + 8 bytes, the record's own 32; 24 | 0x4000: a bit besides the length. */
        uint16_t len = k == 0 ? (uint16_t)(8 | SOCK_DGRAM_IP6) : (uint16_t)(sizeof d | 0x4000u);
        memcpy((uint8_t *)(uintptr_t)p + 6, &len, sizeof len);
        int kick = sock_kick(&sc);
        uint32_t tail = __atomic_load_n(&ss->tx_tail, __ATOMIC_ACQUIRE);
        if (kick != 0 || tail != ss->tx_head) {
            ulog("socktest: errors: hostile record %d: kick %d, tx_tail %u, tx_head %u\n", k, kick, tail, ss->tx_head);
            bad++;
        }
        (void)sock_tx_room(&sc, u); /* gives the record's page back: the pool is whole again when idle */
    }
    return bad;
}

/* Bad calls, each with the error socket.h promises. */
static void check_errors(int l, int u)
{
    static const uint8_t six[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    struct {
        const char *what;
        int got, want;
    } t[] = {
        { "accept on a udp socket", sock_accept(&sc, u), SOCK_E_WRONG_TYPE },
        { "accept with nothing waiting", sock_accept(&sc, l), SOCK_E_AGAIN },
        { "close of index SOCK_MAX", sock_close(&sc, SOCK_MAX), SOCK_E_BAD_SOCKET },
        { "close of index -1", sock_close(&sc, -1), SOCK_E_BAD_SOCKET },
        { "listen with a backlog over SOCK_MAX", sock_tcp_listen(&sc, 4000, SOCK_MAX + 1), SOCK_E_INVALID },
        { "close of a free index", sock_close(&sc, SOCK_MAX - 1), SOCK_E_BAD_SOCKET },
        { "listen on a taken port", sock_tcp_listen(&sc, ECHO_PORT, 1), SOCK_E_ADDR_IN_USE },
        { "listen on port 0", sock_tcp_listen(&sc, 0, 1), SOCK_E_INVALID },
        { "shutdown of a listener", sock_shutdown(&sc, l), SOCK_E_WRONG_TYPE },
        { "unknown option", sock_setopt(&sc, l, (enum sock_opt)7, 1), SOCK_E_WRONG_TYPE },
        { "sendto6 on an IPv4 udp socket", sock_sendto6(&sc, u, six, 9, six, 1), SOCK_E_WRONG_TYPE },
    };
    /* A lying client: every kick bit set (free sockets too) and the udp
     * socket's tx_head far beyond its ring: netd must clamp it, send
     * nothing and answer 0; the head put back, the ring is as before. */
    uint32_t head = sc.sh->s[u].tx_head;
    sc.sh->s[u].tx_head = head + 0x7fffffffu;
    for (unsigned w = 0; w < SOCK_EVENT_WORDS; w++)
        sc.sh->kicks[w] = ~0ull;
    int kick = sock_kick(&sc);
    sc.sh->s[u].tx_head = head;
    int bad = hostile_records(u);
    if (kick != 0) {
        ulog("socktest: errors: kick with every bit set: got %d, want 0\n", kick);
        bad++;
    }
    for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].got != t[i].want) {
            ulog("socktest: errors: %s: got %d, want %d\n", t[i].what, t[i].got, t[i].want);
            bad++;
        }
    ulog("socktest: errors: %s\n", bad ? "FAIL" : "PASS");
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    unsigned delay_ms = (unsigned)srv_arg_u64(si->args, "hello-delay", 0);
    if (si->restarts && delay_ms) {
        ulog("socktest: restarted; SOCK_HELLO in %u ms\n", delay_ms);
        /* A yield loop, not a timer: the manifest gives socktest no
         * notification it may arm.  netd runs at a higher priority. */
        for (uint64_t end = keel_now_ns() + delay_ms * 1000000ull; keel_now_ns() < end;)
            keel_yield();
    }
    int err = sock_open(&sc, si, REGION_VA);
    if (err) {
        ulog("socktest: FAIL: sock_open: %d\n", err);
        return 1;
    }
    int l = sock_tcp_listen(&sc, ECHO_PORT, 4), ctl = sock_tcp_listen(&sc, CTL_PORT, 2);
    int u = sock_udp_bind(&sc, ECHO_PORT);
    if (l < 0 || ctl < 0 || u < 0) {
        ulog("socktest: FAIL: listen %d, listen %d, udp bind %d\n", l, ctl, u);
        return 1;
    }
    note_top(l);
    note_top(ctl);
    note_top(u);
    check_errors(l, u);
    ulog("socktest: ready: tcp echo %d, udp echo %d, control %d (restart %u)\n", ECHO_PORT, ECHO_PORT, CTL_PORT,
         si->restarts);
    srv_ready();
    for (;;) {
        if (sock_session_lost(&sc)) {
            /* netd restarted: every socket is gone.  Exiting is the whole
             * recovery: init starts us again, and sock_open begins anew. */
            ulog("socktest: netd's session is gone (netd restarted): starting again\n");
            return 1;
        }
        bool moved = accept_all(l, is_conn) | accept_all(ctl, is_ctl);
        for (int s = 0; s < top; s++) {
            if (is_conn[s] && !hold)
                while (is_conn[s] && echo(s))
                    moved = true;
            if (is_ctl[s])
                moved |= control(s);
        }
        while (udp_echo(u))
            moved = true;
        if (moved)
            (void)sock_kick(&sc);
        else
            (void)sock_wait(&sc);
    }
}
