/*
 * opsd_metrics.c - the metrics page: `metrics listen ADDRESS:PORT` serves
 * the Prometheus text format (version 0.0.4) over HTTP/1.0 on a TCP
 * listener of netd's socket service.  netd's firewall decides who reaches
 * the port, as for any other; the listener takes connections on every
 * address of the appliance (the socket service binds ports, not addresses),
 * so the rules are what limits it to ADDRESS.
 *
 * A page is built for each GET, at that moment, from:
 *   netd   NETADM_SHOW_COUNTERS (interfaces, firewall decisions by reason,
 *          states and their limit) and NETADM_SHOW_FIREWALL (per rule),
 *          over region admin-opsd (abi/keel/netadm.h)
 *   tlsd   TLSD_LISTENERS / TLSD_STATS (abi/keel/tlsd.h), when it runs
 *   init   INIT_TASK_INFO, INIT_STATUS, INIT_MEMORY_INFO per server
 *   opsd   the clock, syslog and SNTP counters (abi/keel/ops.h)
 * Every family is written as one group with its HELP and TYPE lines;
 * counters end in _total.  Calls to netd and tlsd are non-blocking with
 * short naps while the server is busy (never a wait on a client).
 *
 * Connections: at most MX_CONNS at once (more are closed at accept), each
 * with its own page buffer; a request must arrive within MX_IDLE_NS and
 * fit MX_REQ_MAX bytes.  After the answer the socket is shut down and
 * closed once netd took every byte.
 */
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/netadm.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/textbuf.h>
#include <keel/tlsd.h>
#include <keel/ulog.h>

#include "opsd.h"

#define ADMIN_VA   0x0000006200000000ull
#define NAP_NS     10000000ull
#define NAP_BIT    1ull
#define MX_ROWS    256
#define MX_SERVERS 64
#define TLS_TRIES  50

static char PAGES[MX_CONNS][MX_PAGE_MAX];

static void nap(void *ctx)
{
    struct opsd *o = ctx;
    uint64_t bits;
    if (!o->nap_ntfn)
        return;
    (void)sys6(SYS_TIMER_ARM, o->nap_ntfn, keel_now_ns() + NAP_NS, NAP_BIT, 0, 0, 0);
    (void)keel_wait(o->nap_ntfn, 0, &bits);
}

void opsd_metrics_init(struct opsd *o, const struct keel_srvinfo *si)
{
    o->mx_listener = -1;
    for (unsigned i = 0; i < MX_CONNS; i++) {
        o->mx[i].s = -1;
        o->mx[i].out = PAGES[i];
    }
    /* A notification of our own for naps: slot 255 is never a grant. */
    if (keel_obj_create(SRV_SLOT_MEMORY, OBJ_NOTIFICATION, 255, 0) == KE_OK)
        o->nap_ntfn = 255;
    uint64_t ep = srv_find_cap(si, "ep:netd"), shm = srv_find_cap(si, "shm:admin-opsd"), pages = 0;
    if (ep && shm && keel_frame_info(shm, NULL, &pages) == KE_OK && pages >= NETADM_SHM_PAGES &&
        keel_map(SRV_SLOT_TASK, shm, ADMIN_VA, RIGHT_READ | RIGHT_WRITE) == KE_OK) {
        o->net.ep = ep;
        o->net.base = (uint8_t *)ADMIN_VA;
        o->net.nap = nap;
        o->net.ctx = o;
    }
    o->tlsd_ep = srv_find_cap(si, "ep:tlsd");
}

static void conn_close(struct opsd *o, struct mx_conn *c)
{
    if (c->s >= 0)
        (void)sock_close(&o->sc, c->s);
    c->s = -1;
    c->req_len = c->out_off = c->out_len = 0;
    c->answering = false;
    o->kick = true;
}

void opsd_metrics_config(struct opsd *o)
{
    if (o->cfg.metrics_port == o->mx_port && (o->mx_listener >= 0 || !o->mx_port))
        return;
    if (o->mx_listener >= 0) {
        (void)sock_close(&o->sc, o->mx_listener);
        o->mx_listener = -1;
        for (unsigned i = 0; i < MX_CONNS; i++)
            if (o->mx[i].s >= 0)
                conn_close(o, &o->mx[i]);
    }
    o->mx_port = o->cfg.metrics_port;
    if (!o->mx_port)
        return;
    int s = sock_tcp_listen(&o->sc, o->mx_port, MX_CONNS);
    if (s < 0) {
        ulog("opsd: metrics: cannot listen on port %u (error %d)", o->mx_port, s);
        return;
    }
    o->mx_listener = s;
    o->kick = true;
    ulog("opsd: metrics: listening on port %u", o->mx_port);
}

/* ------------------------------------------------------- the page ---- */

static void family(struct textbuf *b, const char *name, const char *type, const char *help)
{
    tb_put(b, "# HELP ");
    tb_put(b, name);
    tb_put(b, " ");
    tb_put(b, help);
    tb_put(b, "\n# TYPE ");
    tb_put(b, name);
    tb_put(b, " ");
    tb_put(b, type);
    tb_put(b, "\n");
}

static void sample(struct textbuf *b, const char *name, const char *labels, uint64_t v)
{
    tb_put(b, name);
    if (labels && labels[0] && strcmp(labels, "-") != 0) {
        tb_put(b, "{");
        tb_put(b, labels);
        tb_put(b, "}");
    }
    tb_put(b, " ");
    tb_u64(b, v);
    tb_put(b, "\n");
}

static void one(struct textbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    family(b, name, type, help);
    sample(b, name, NULL, v);
}

static void page_opsd(struct opsd *o, struct textbuf *b)
{
    const struct ops_shared *sh = o->sh;
    uint64_t now = keel_now_ns();
    one(b, "keel_up", "gauge", "Always 1: the appliance answers.", 1);
    one(b, "keel_uptime_seconds", "gauge", "Seconds since the kernel started.", now / 1000000000ull);
    uint64_t wall = opsd_wall_ns(o, now);
    if (wall)
        one(b, "keel_time_seconds", "gauge", "The appliance's wall clock, seconds since 1970.", wall / 1000000000ull);
    family(b, "keel_clock_source", "gauge", "Where the wall clock comes from (1 for the one in use).");
    static const char *const src[] = { "none", "rtc", "ntp" };
    for (unsigned i = 0; i < 3; i++) {
        char l[32];
        lib_snprintf(l, sizeof l, "source=\"%s\"", src[i]);
        sample(b, "keel_clock_source", l, sh->clock.source == i);
    }
    one(b, "keel_syslog_lines_sent_total", "counter", "Log lines sent to the syslog collector.", sh->syslog_sent);
    one(b, "keel_syslog_lines_unsent_total", "counter",
        "Log lines that could not be sent (no socket, no route, ring full).", sh->syslog_unsent + sh->log_full);
    one(b, "keel_log_entries_lost_total", "counter",
        "Log entries consoled could not take (its log service busy, or its queue full).",
        __atomic_load_n(&sh->log_missed, __ATOMIC_RELAXED) + __atomic_load_n(&sh->log_dropped, __ATOMIC_RELAXED));
    one(b, "keel_ntp_requests_total", "counter", "SNTP requests sent.", sh->ntp_requests);
    one(b, "keel_ntp_answers_total", "counter", "SNTP answers taken.", sh->ntp_answers);
    one(b, "keel_metrics_scrapes_total", "counter", "Metrics pages served.", sh->metrics_scrapes);
}

struct srv_row {
    char name[17];
    uint32_t state, restarts, faults;
    uint64_t budget, used;
};

/* The per-server families, in the page's order: one sample per server,
 * labelled server="NAME". */
enum srv_value { SV_UP, SV_RESTARTS, SV_FAULTS, SV_BUDGET, SV_USED };
static const struct srv_family {
    const char *name, *type, *help;
    enum srv_value value;
} srv_families[] = {
    { "keel_server_up", "gauge", "1 when the server has said it is ready.", SV_UP },
    { "keel_server_restarts_total", "counter", "Times init restarted the server.", SV_RESTARTS },
    { "keel_server_faults_total", "counter", "Faults (exceptions) of the server's threads.", SV_FAULTS },
    { "keel_server_memory_budget_bytes", "gauge", "The server's memory budget.", SV_BUDGET },
    { "keel_server_memory_used_bytes", "gauge", "Bytes of its budget the server uses.", SV_USED },
};

static uint64_t srv_value(const struct srv_row *r, enum srv_value v)
{
    switch (v) {
    case SV_UP: return r->state == INIT_TASK_READY;
    case SV_RESTARTS: return r->restarts;
    case SV_FAULTS: return r->faults;
    case SV_BUDGET: return r->budget;
    case SV_USED: return r->used;
    }
    return 0;
}

static void page_servers(struct textbuf *b)
{
    static struct srv_row rows[MX_SERVERS];
    unsigned n = 0;
    uint64_t free_pages = 0, total_pages = 0;
    for (uint64_t i = 0; i < MX_SERVERS; i++) {
        struct keel_msg m = { .info = INIT_TASK_INFO, .mr = { i } };
        if (keel_call(SRV_SLOT_INIT, &m) != KE_OK || keel_label(&m) != 0)
            break;
        uint32_t state = (uint32_t)(m.mr[0] & 0xff);
        if (state == INIT_TASK_OTHER || state == INIT_TASK_ABSENT)
            continue;
        struct srv_row *r = &rows[n];
        memset(r, 0, sizeof *r);
        memcpy(r->name, &m.mr[2], 16);
        r->state = state;
        r->restarts = (uint32_t)(m.mr[0] >> 32);
        struct keel_msg s = { .info = INIT_STATUS, .mr = { i } };
        if (keel_call(SRV_SLOT_INIT, &s) == KE_OK && keel_label(&s) == 0)
            r->faults = (uint32_t)s.mr[2];
        struct keel_msg mi = { .info = INIT_MEMORY_INFO, .mr = { i } };
        if (keel_call(SRV_SLOT_INIT, &mi) == KE_OK && keel_label(&mi) == 0) {
            r->budget = mi.mr[0];
            r->used = mi.mr[1];
            free_pages = mi.mr[2];
            total_pages = mi.mr[3];
        }
        n++;
    }
    char l[48];
    for (size_t f = 0; f < sizeof srv_families / sizeof srv_families[0]; f++) {
        const struct srv_family *fam = &srv_families[f];
        family(b, fam->name, fam->type, fam->help);
        for (unsigned i = 0; i < n; i++) {
            lib_snprintf(l, sizeof l, "server=\"%s\"", rows[i].name);
            sample(b, fam->name, l, srv_value(&rows[i], fam->value));
        }
    }
    one(b, "keel_memory_free_bytes", "gauge", "Free memory in the machine.", free_pages * 4096);
    one(b, "keel_memory_total_bytes", "gauge", "Memory the kernel manages.", total_pages * 4096);
    /* What the microkernel structure costs (SYS_KSTATS): the kernel counts
     * address-space switches, IPC messages and notification signals. */
    uint64_t switches = 0, ipc = 0, signals = 0;
    if (keel_kstats(&switches, &ipc) == KE_OK && keel_kstats_signals(&signals) == KE_OK) {
        one(b, "keel_kernel_address_space_switches_total", "counter", "Address-space switches (CR3 loads) since boot.",
            switches);
        one(b, "keel_kernel_ipc_messages_total", "counter", "IPC messages the kernel delivered (calls and sends).",
            ipc);
        one(b, "keel_kernel_notifications_total", "counter",
            "Notification signals the kernel delivered (servers' signals, interrupts, timers).", signals);
    }
}

/* Field K (tab-separated) of row ROW (LEN bytes) into OUT. */
static bool field(const char *row, size_t len, unsigned k, char *out, size_t cap)
{
    size_t i = 0;
    for (unsigned f = 0; f < k; f++) {
        while (i < len && row[i] != '\t')
            i++;
        if (i == len)
            return false;
        i++;
    }
    size_t j = i;
    while (j < len && row[j] != '\t')
        j++;
    if (j - i + 1 > cap)
        return false;
    memcpy(out, row + i, j - i);
    out[j - i] = '\0';
    return true;
}

static uint64_t num(const char *s)
{
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return v;
}

struct row_ref {
    const char *s;
    size_t n;
};

/* Splits TEXT into rows, skipping the header: the count. */
static unsigned rows_of(const char *text, size_t len, struct row_ref *rows, unsigned max)
{
    unsigned n = 0;
    size_t i = 0;
    bool header = true;
    while (i < len && n < max) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        if (!header && j > i)
            rows[n++] = (struct row_ref){ text + i, j - i };
        header = false;
        i = j + 1;
    }
    return n;
}

static const char *help_for(const char *metric)
{
    static const struct {
        const char *name, *help;
    } h[] = {
        { "keel_interface_rx_packets_total", "Frames received on the interface." },
        { "keel_interface_rx_bytes_total", "Bytes received on the interface." },
        { "keel_interface_rx_errors_total", "Received frames dropped by errors (bad descriptor, no buffer, refused)." },
        { "keel_interface_rx_firewall_drops_total", "Received frames the firewall dropped." },
        { "keel_interface_tx_packets_total", "Frames sent on the interface." },
        { "keel_interface_tx_bytes_total", "Bytes sent on the interface." },
        { "keel_interface_tx_errors_total", "Frames not sent by errors (no buffer, ring full, too long, no driver)." },
        { "keel_interface_tx_firewall_drops_total", "Frames to send that the firewall dropped." },
        { "keel_firewall_passed_total", "Packets the firewall passed, by reason." },
        { "keel_firewall_dropped_total", "Packets the firewall dropped, by reason." },
        { "keel_firewall_packets_total", "Packets the firewall classified." },
        { "keel_firewall_states", "Firewall states in use." },
        { "keel_firewall_states_limit", "Firewall states the table holds." },
        { "keel_nat_states", "Translated firewall states in use (nat-to, rdr-to, binat-to)." },
        { "keel_nat_ports_in_use", "nat-to pool ports held by live states." },
        { "keel_nat_states_total", "Translated states made." },
        { "keel_nat_refused_total", "New flows refused by a translation, by reason." },
        { "keel_nat_rewritten_packets_total", "Packets the firewall rewrote for a translation." },
        { "keel_firewall_modulated_packets_total", "Packets whose TCP sequence numbers modulate state rewrote." },
        { "keel_firewall_rule_evaluations_total", "Times the rule was evaluated." },
        { "keel_firewall_rule_packets_total", "Packets the rule decided." },
        { "keel_firewall_rule_bytes_total", "Bytes of the packets the rule decided." },
    };
    for (unsigned i = 0; i < sizeof h / sizeof h[0]; i++)
        if (strcmp(h[i].name, metric) == 0)
            return h[i].help;
    return "A counter of netd's.";
}

static void page_netd(struct opsd *o, struct textbuf *b)
{
    static struct row_ref rows[MX_ROWS];
    static char names[MX_ROWS][64];
    const char *text;
    size_t len;
    int cut;
    if (!o->net.ep || netadm_show(&o->net, NETADM_SHOW_COUNTERS, &text, &len, &cut) != 0)
        return;
    unsigned n = rows_of(text, len, rows, MX_ROWS);
    for (unsigned i = 0; i < n; i++)
        if (!field(rows[i].s, rows[i].n, 0, names[i], sizeof names[i]))
            names[i][0] = '\0';
    /* One group per metric, in the order of first appearance. */
    for (unsigned i = 0; i < n; i++) {
        bool seen = !names[i][0];
        for (unsigned j = 0; j < i && !seen; j++)
            seen = strcmp(names[j], names[i]) == 0;
        if (seen)
            continue;
        size_t nl = strlen(names[i]);
        bool counter = nl > 6 && strcmp(names[i] + nl - 6, "_total") == 0;
        family(b, names[i], counter ? "counter" : "gauge", help_for(names[i]));
        for (unsigned j = i; j < n; j++) {
            char labels[128], value[24];
            if (strcmp(names[j], names[i]) == 0 && field(rows[j].s, rows[j].n, 1, labels, sizeof labels) &&
                field(rows[j].s, rows[j].n, 2, value, sizeof value))
                sample(b, names[i], labels, num(value));
        }
    }
    /* Per rule: netd's counters table has them too (label line=\"N\", the
     * rule's line in the configuration). */
}

/* One non-blocking call to tlsd, tried while it is busy: 0 or an error. */
static int64_t tlsd_call(struct opsd *o, uint32_t label, unsigned words, struct keel_msg *m)
{
    struct keel_msg req = *m;
    for (int i = 0; i < TLS_TRIES; i++) {
        *m = req;
        m->info = SRV_LABEL(label, words) | KEEL_NONBLOCK;
        int64_t e = keel_call(o->tlsd_ep, m);
        if (e == KE_WOULD_BLOCK) {
            nap(o);
            continue;
        }
        return e ? e : (int32_t)keel_label(m);
    }
    return KE_WOULD_BLOCK;
}

static bool tlsd_runs(void)
{
    for (uint64_t i = 0; i < MX_SERVERS; i++) {
        struct keel_msg m = { .info = INIT_TASK_INFO, .mr = { i } };
        if (keel_call(SRV_SLOT_INIT, &m) != KE_OK || keel_label(&m) != 0)
            return false;
        char name[17] = { 0 };
        memcpy(name, &m.mr[2], 16);
        if (strcmp(name, "tlsd") == 0 && (m.mr[0] & 0xff) == INIT_TASK_READY)
            return true;
    }
    return false;
}

struct tls_row {
    unsigned port;
    uint64_t g[TLSD_G_COUNT][4];
};

static void page_tls(struct opsd *o, struct textbuf *b)
{
    static struct tls_row t[8];
    if (!o->tlsd_ep || !tlsd_runs())
        return;
    struct keel_msg m = { 0 };
    if (tlsd_call(o, TLSD_LISTENERS, 0, &m) != 0)
        return;
    unsigned n = m.mr[0] < 8 ? (unsigned)m.mr[0] : 8;
    uint64_t ports[2] = { m.mr[2], m.mr[3] };
    for (unsigned i = 0; i < n; i++) {
        t[i].port = (unsigned)(ports[i / 4] >> (16 * (i % 4)) & 0xffff);
        for (unsigned g = 0; g < TLSD_G_COUNT; g++) {
            struct keel_msg s = { .mr = { i, g } };
            if (tlsd_call(o, TLSD_STATS, 2, &s) == 0)
                memcpy(t[i].g[g], s.mr, sizeof t[i].g[g]);
            else
                memset(t[i].g[g], 0, sizeof t[i].g[g]);
        }
    }
    static const struct {
        const char *name, *type, *help, *extra;
        unsigned g, k;
    } f[] = {
        { "keel_tls_connections_accepted_total", "counter", "TLS connections accepted.", NULL, TLSD_G_CONNS, 0 },
        { "keel_tls_connections_open", "gauge", "TLS connections open now.", NULL, TLSD_G_CONNS, 1 },
        { "keel_tls_connections_refused_total", "counter", "TLS connections refused (over a limit).", NULL,
          TLSD_G_CONNS, 2 },
        { "keel_tls_backend_failures_total", "counter", "Backends that refused, reset or did not answer.", NULL,
          TLSD_G_CONNS, 3 },
        { "keel_tls_handshakes_total", "counter", "TLS handshakes completed, full or resumed.", "kind=\"full\"",
          TLSD_G_HANDSHAKES, 0 },
        { "keel_tls_handshakes_total", NULL, NULL, "kind=\"resumed\"", TLSD_G_HANDSHAKES, 1 },
        { "keel_tls_bytes_total", "counter", "Plaintext bytes proxied, by direction.", "direction=\"in\"", TLSD_G_BYTES,
          0 },
        { "keel_tls_bytes_total", NULL, NULL, "direction=\"out\"", TLSD_G_BYTES, 1 },
    };
    char l[96];
    for (unsigned k = 0; k < sizeof f / sizeof f[0]; k++) {
        if (f[k].type)
            family(b, f[k].name, f[k].type, f[k].help);
        for (unsigned i = 0; i < n; i++) {
            lib_snprintf(l, sizeof l, "port=\"%u\"%s%s", t[i].port, f[k].extra ? "," : "",
                         f[k].extra ? f[k].extra : "");
            /* "ok" counts resumed ones too: full = ok - resumed */
            uint64_t v = t[i].g[f[k].g][f[k].k];
            if (f[k].g == TLSD_G_HANDSHAKES && f[k].k == 0)
                v = v >= t[i].g[TLSD_G_HANDSHAKES][1] ? v - t[i].g[TLSD_G_HANDSHAKES][1] : 0;
            sample(b, f[k].name, l, v);
        }
    }
    family(b, "keel_tls_handshakes_failed_total", "counter", "TLS handshakes that failed, by reason.");
    for (unsigned i = 0; i < n; i++)
        for (unsigned r = 1; r < TLSD_FAIL_COUNT; r++) {
            lib_snprintf(l, sizeof l, "port=\"%u\",reason=\"%s\"", t[i].port, tlsd_fail_name(r));
            sample(b, "keel_tls_handshakes_failed_total", l, t[i].g[TLSD_G_FAILED + r / 4][r % 4]);
        }
}

/* Whether the request's head is complete (an empty line ends it). */
static bool request_done(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '\n' && (s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n')))
            return true;
    return false;
}

/* The answer to one request into C->out. */
static void answer(struct opsd *o, struct mx_conn *c)
{
    bool get = c->req_len >= 4 && memcmp(c->req, "GET ", 4) == 0;
    const char *path = c->req + 4;
    bool metrics = get && (strncmp(path, "/metrics ", 9) == 0 || strncmp(path, "/ ", 2) == 0 ||
                           strncmp(path, "/metrics?", 9) == 0);
    static char body[MX_PAGE_MAX - 256];
    struct textbuf b;
    tb_init(&b, body, sizeof body);
    const char *status = "200 OK";
    if (!get) {
        status = "405 Method Not Allowed";
        tb_put(&b, "only GET\n");
    } else if (!metrics) {
        status = "404 Not Found";
        tb_put(&b, "the metrics are at /metrics\n");
    } else {
        o->sh->metrics_scrapes++;
        page_opsd(o, &b);
        page_servers(&b);
        page_netd(o, &b);
        page_tls(o, &b);
    }
    size_t blen = b.len < sizeof body ? b.len : sizeof body - 1;
    int h = lib_snprintf(c->out, MX_PAGE_MAX,
                         "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         status, blen);
    memcpy(c->out + h, body, blen);
    c->out_len = (size_t)h + blen;
    c->out_off = 0;
    c->answering = true;
}

static void conn_step(struct opsd *o, struct mx_conn *c)
{
    if (!c->answering) {
        long n = sock_recv(&o->sc, c->s, c->req + c->req_len, sizeof c->req - 1 - c->req_len);
        if (n == SOCK_E_AGAIN)
            return;
        if (n <= 0) {
            conn_close(o, c);
            return;
        }
        o->kick = true;
        c->req_len += (size_t)n;
        c->req[c->req_len] = '\0';
        if (!request_done(c->req, c->req_len)) {
            if (c->req_len + 1 >= sizeof c->req)
                conn_close(o, c);
            return;
        }
        answer(o, c);
    }
    while (c->out_off < c->out_len) {
        long n = sock_send(&o->sc, c->s, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            conn_close(o, c);
            return;
        }
        if (n == 0)
            return; /* the ring is full: on the next event */
        c->out_off += (size_t)n;
        o->kick = true;
    }
    if (sock_unsent(&o->sc, c->s) == 0) {
        (void)sock_shutdown(&o->sc, c->s);
        conn_close(o, c);
    }
}

void opsd_metrics_serve(struct opsd *o)
{
    if (o->mx_listener < 0)
        return;
    for (;;) {
        int s = sock_accept(&o->sc, o->mx_listener);
        if (s < 0)
            break;
        o->kick = true;
        struct mx_conn *c = NULL;
        for (unsigned i = 0; i < MX_CONNS && !c; i++)
            if (o->mx[i].s < 0)
                c = &o->mx[i];
        if (!c) {
            (void)sock_close(&o->sc, s);
            continue;
        }
        c->s = s;
        c->since = keel_now_ns();
        c->req_len = c->out_off = c->out_len = 0;
        c->answering = false;
    }
    uint64_t now = keel_now_ns();
    for (unsigned i = 0; i < MX_CONNS; i++) {
        struct mx_conn *c = &o->mx[i];
        if (c->s < 0)
            continue;
        if (now - c->since > MX_IDLE_NS) {
            conn_close(o, c);
            continue;
        }
        conn_step(o, c);
    }
}

uint64_t opsd_metrics_deadline(const struct opsd *o)
{
    uint64_t d = 0;
    for (unsigned i = 0; i < MX_CONNS; i++)
        if (o->mx[i].s >= 0 && (!d || o->mx[i].since + MX_IDLE_NS < d))
            d = o->mx[i].since + MX_IDLE_NS;
    return d;
}
