/*
 * consoled.h - consoled's state and the helpers its two files share:
 * consoled.c (the terminal, the command loop, configuration and commits,
 * the log) and consoled_ops.c (the commands that ask other servers: netd's
 * tables and ping, init's tasks, restart, reboot, halt).  Private to
 * consoled; the design comment is at the top of consoled.c.
 */
#ifndef KEEL_CONSOLED_H
#define KEEL_CONSOLED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <keel/blk_client.h>
#include <keel/console.h>
#include <keel/keyd.h>
#include <keel/netadm_client.h>
#include <keel/tlsadm_client.h>

#include "cmd.h"
#include "conf.h"
#include "lineedit.h"
#include "logring.h"
#include "logsrv.h"
#include "store.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "unknown"
#endif

#define OUT_MAX       4096
#define HISTORY_MAX   10    /* rollback 0-9 */
#define HISTORY_BYTES 65536 /* the committed texts, back to back */

#define SITE_VA           0x0000007000000000ull /* the site archive's frame, read-only */
#define ADMIN_VA          0x0000007100000000ull /* the region shared with netd (abi/keel/netadm.h) */
#define TLSADM_VA         0x0000007200000000ull /* the region shared with tlsd (abi/keel/tlsd.h) */
#define STORE_VA          0x0000007300000000ull /* the region shared with the disk driver (abi/keel/blk.h) */
#define OPS_VA            0x0000007400000000ull /* the region shared with opsd (abi/keel/ops.h) */
#define KEYADM_VA         0x0000007500000000ull /* the region shared with keyd (abi/keel/keyd.h) */
#define NAP_NS            10000000ull           /* a retry's wait for a busy netd */
#define NETD_MSG_MAX      192                   /* netd's error message about a configuration */
#define RESYNC_TRIES      20                    /* x ~3 s: how long a restarted netd may take */
#define NETD_POLL_NS      2000000000ull         /* how often consoled looks for a restarted netd */
#define PING_POLL_NS      200000000ull          /* how often a ping's progress is asked */
#define EVT_TIMER         (1ull << 16)          /* consoled's timer bit on the console notification */
#define EVT_LOG           (1ull << 17)          /* the log thread queued entries (logsrv.c) */
#define LOGIN_DELAY_MAX_S 30u                   /* the longest wait after a failed password */
#define NS_PER_S          1000000000ull
_Static_assert(((EVT_TIMER | EVT_LOG) & (CONSOLE_EVT_RX | CONSOLE_EVT_TX)) == 0,
               "consoled's bits are not the driver's");

struct consoled {
    uint64_t ep;            /* "ep:" the UART driver */
    uint64_t ntfn;          /* "notify:" its events */
    uint64_t signal;        /* "signal:" the same notification, for the timer; 0: no timer */
    uint64_t pending;       /* event bits seen while waiting for something else */
    bool dead;              /* the driver refused a call: output is dropped */
    struct netadm net;      /* netd's administration protocol; net.ep 0: no netd */
    int netd_idx;           /* netd's index in init's table (net.ep != 0) */
    uint32_t netd_restarts; /* its restarts when it last got the running configuration */
    uint64_t netd_poll_at;  /* when netd_watch next asks init (0: at once) */
    struct tlsadm tls;      /* tlsd's configuration and statistics protocol; tls.ep 0: no tlsd */
    int tlsd_idx;           /* tlsd's index in init's table (tls.ep != 0) */
    uint32_t tlsd_restarts; /* its restarts when it last got the running configuration */

    struct le le;
    enum cmd_mode mode;
    unsigned paste_port; /* inside a pasted `tls PORT {` block, or 0 */
    struct conf running, parsed;
    struct conf_result res;
    struct conf_text candidate;
    struct conf_edit_work edit;
    struct conf_diff_work diff;
    char text_a[CONF_TEXT_MAX], diff_out[32768];

    /* Committed texts, newest first: hist_off[0] is the running one. */
    unsigned hist_n;
    uint32_t hist_off[HISTORY_MAX], hist_len[HISTORY_MAX];
    char hist[HISTORY_BYTES], hist_tmp[HISTORY_BYTES];

    char out[OUT_MAX];
    size_t out_len;

    /* appliance.conf at boot: what `show config errors` repeats. */
    struct conf_result boot_res; /* its errors (n_errors 0 when it parsed or was absent) */
    char boot_msg[160];          /* one line about the file: read, absent, damaged */

    /* Login (see the top).  pw_hash empty: no password. */
    char pw_hash[CONF_HASH_MAX];
    bool locked;          /* the next line is a password */
    unsigned failures;    /* failed passwords in a row */
    uint64_t login_until; /* non-zero: waiting after a failure until then (ns) */

    /* commit confirmed: non-zero deadline while one awaits its confirmation. */
    uint64_t confirm_deadline;
    uint64_t confirm_secs;    /* as asked, for messages */
    struct conf confirm_prev; /* the configuration to go back to */

    /* The log; following: `show log follow` runs, next row to print is follow_next. */
    struct log_ring log;
    struct logsrv logsrv; /* the other servers' entries (its own thread, logsrv.c); ep 0: not served */
    bool following;
    uint64_t follow_next;

    /* The saved configuration (consoled_store.c).  store_on false: no disk. */
    bool store_on;
    bool saved_runs;       /* the configuration at boot came from the disk */
    bool site_ok;          /* the site's appliance.conf parsed (load_config) */
    uint64_t site_hash;    /* cst_fnv64 of it (of nothing when absent) */
    struct blk_client blk; /* the disk driver, store_on */
    char source_msg[256];  /* `show configuration source`: what runs and where from */
    char source_note[160]; /* why the disk is not used, when it is there but fails */
    struct cst store;      /* the records' index and a slot of scratch (68 KiB) */

    /* keyd's part of commits (consoled_keyd.c): keyadm_ep 0 when it does not run. */
    uint64_t keyadm_ep;
    struct keyd_adm *keyadm;

    /* opsd (consoled_opsd.c): ops NULL when it does not run. */
    struct ops_shared *ops;
    uint64_t ops_signal;   /* signal:sock-opsd */
    bool rtc_ok;           /* the RTC was read at start */
    int64_t rtc_offset_ns; /* wall = keel_now_ns() + this, from the RTC */
};

/* consoled.c */
void con_flush(struct consoled *c);                                /* writes the output buffer to the driver */
void con_write(void *ctx, const char *s, size_t n);                /* appends to the output (ctx: consoled) */
void con_say(struct consoled *c, const char *s);                   /* the same for a string */
void con_say_text(struct consoled *c, const char *text, size_t n); /* "\n" as "\r\n" */
void con_log(struct consoled *c, unsigned level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void con_arm_timer(struct consoled *c);                /* the kernel timer for the earliest deadline */
void con_say_async(struct consoled *c, const char *s); /* above the line being edited */
/* Hands a whole configuration to every server that takes one, all or
 * nothing (see consoled.c); 0, or -1 with a one-line reason in ERR. */
int con_push_config(struct consoled *c, const char *text, size_t len, char *err, size_t errlen);

/* consoled_ops.c: command handlers (cmd.h's cmd_fn) and setup. */
int do_netd_show(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_ping(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_table(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_clear(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_show_tls(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_memory(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_tasks(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_restart(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_reboot_halt(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
/* Every NETD_POLL_NS: when init restarted netd (after a fault or a
 * `restart netd`), gives it the running configuration again. */
void netd_watch(struct consoled *c, uint64_t now);
/* Connects to netd's administration protocol when the manifest grants it
 * and init started netd. */
void setup_netd(struct consoled *c, const struct keel_srvinfo *si);
/* tlsd's protocol (abi/keel/tlsd.h): `connect tlsd share tlsadm-consoled`,
 * and tlsd started on this boot; else tls.ep stays 0. */
void setup_tlsd(struct consoled *c, const struct keel_srvinfo *si);
/* Server NAME's index in init's table, its state and restarts; -1 when
 * init lists no such server. */
int task_find(const char *name, unsigned *state, uint32_t *restarts);
/* Server NAME's index when it runs on this boot (init lists it, not absent,
 * not another set's server of the same name), its restarts in *RESTARTS;
 * -1 otherwise. */
int task_running(const char *name, uint32_t *restarts);
/* Maps the region SHM, which must have at least PAGES_MIN pages, at VA
 * (read-write): 0, KE_RANGE when it is smaller, or the call's KE_*. */
int64_t map_region(uint64_t shm, uint64_t pages_min, uint64_t va);
/* With capabilities CAP and SHM_CAP, and SERVER running on this boot, maps
 * SHM_CAP's region (at least PAGES pages) at VA: true with *CAP_OUT = CAP's
 * slot.  False otherwise, silent but for a region that cannot be mapped
 * ("... cannot be mapped: LOST", LOST what consoled goes without). */
bool region_connect(struct consoled *c, const struct keel_srvinfo *si, const char *server, const char *cap,
                    const char *shm_cap, uint64_t pages, uint64_t va, const char *lost, uint64_t *cap_out);

/* consoled_store.c: the saved configuration (see the top of that file). */
void store_setup(struct consoled *c, const struct keel_srvinfo *si); /* opens and scans the disk */
void store_boot(struct consoled *c);      /* after load_config: maybe the saved configuration runs */
void store_note_site(struct consoled *c); /* after apply_config: a new site file becomes a record */
/* Appends the running configuration (the candidate after apply_config) as
 * KIND; 0, or -1 with a line in ERR (the configuration still runs). */
int store_save(struct consoled *c, enum cst_kind kind, char *err, size_t errlen);
unsigned store_rollback_max(const struct consoled *c); /* commits rollback N reaches */
/* Loads saved configuration N (0: newest) into the candidate; 0 or -1 and ERR. */
int store_rollback(struct consoled *c, unsigned n, char *err, size_t errlen);
int do_show_config_source(void *ctx, const struct cmd_call *call, char *err, size_t errlen);

/* A short nap (NAP_NS) while another server is busy; CTX is the consoled. */
void nap_cb(void *ctx);

/* consoled_keyd.c: keyd's part of a commit (the candidate's private keys). */
void keyadm_setup(struct consoled *c, const struct keel_srvinfo *si);
/* Has keyd load every key TEXT's tls blocks name: 0, or -1 with ERR. */
int keyadm_prepare(struct consoled *c, const char *text, size_t len, char *err, size_t errlen);
void keyadm_commit(struct consoled *c);
void keyadm_abort(struct consoled *c);

/* consoled_opsd.c: the region shared with opsd (see the top of that file). */
struct ops_shared;
void ops_setup(struct consoled *c, const struct keel_srvinfo *si);
void clock_setup(struct consoled *c, const struct keel_srvinfo *si); /* the RTC, once, after ops_setup */
void ops_push_config(struct consoled *c); /* the running configuration's syslog, ntp, metrics */
void ops_log(struct consoled *c, uint64_t time_ns, unsigned level, const char *server, const char *msg);
/* Copies the log service's lost-entry counters into the ops region (the metrics page). */
void ops_log_lost(struct consoled *c);
uint64_t ops_wall_ns(const struct consoled *c, uint64_t mono_ns); /* 0: the time is not known */
int do_show_system(void *ctx, const struct cmd_call *call, char *err, size_t errlen);

/* Between consoled.c and its parts (consoled_cmds.c, consoled_commit.c, consoled_login.c). */
/* consoled.c */
void con_say_async_n(struct consoled *c, const char *s, size_t n);
void con_follow_print(struct consoled *c);
/* consoled_cmds.c */
void con_run_line(struct consoled *c, const char *line);
/* consoled_commit.c */
int do_running(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_candidate(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_compare(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
void con_say_errors(struct consoled *c, const struct conf_result *r);
void con_apply_config(struct consoled *c, const struct conf *new_conf);
int do_commit(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
void con_confirm_expired(struct consoled *c);
int do_rollback(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_set(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_delete(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_config_errors(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
bool con_paste_line(struct consoled *c, const char *line, char *err, size_t errlen);
/* consoled_login.c */
void con_lock(struct consoled *c);
void con_set_prompt(struct consoled *c);
int do_configure(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
int do_exit(void *ctx, const struct cmd_call *call, char *err, size_t errlen);
void con_try_password(struct consoled *c, const char *line);
void con_recover_password(struct consoled *c, const char *text, size_t len);

#endif
