/*
 * consoled_store.c - consoled's saved configuration: the records of
 * store.c on the disk that the virtio-blk server drives (abi/keel/blk.h,
 * lib/blk_client.c), and the commands that use them.
 *
 * What it is given: "ep:disk" and "shm:disk-consoled" (the manifest's
 * `connect disk share disk-consoled N`).  Without them, or when init left
 * the disk's driver out (no virtio-blk device on this VM), store_on stays
 * false and consoled works as it does without a disk: commits live until
 * the reboot, rollback reaches the last HISTORY_MAX in memory.
 *
 * Boot (store_boot, after load_config has parsed the site's
 * appliance.conf): the disk is scanned; every damaged slot is one console
 * line (the newest commit damaged by a power cut or a changed image says
 * which generation runs instead).  The newest intact record runs when it
 * was written for the site file booted now (same FNV-1a hash) and it
 * parses; else the site file runs and, when it is valid and new to the
 * disk, becomes a record of its own (so rollback 0 is always what runs).
 * A saved configuration running means netd and tlsd, which started from
 * the site file, must be given it: consoled marks both as needing the
 * running configuration and netd_watch pushes it on its first round.
 *
 * Every later change of the running configuration (commit, commit
 * confirmed, its automatic rollback) is appended by store_save after the
 * servers took it; a failed write is a console line and the change still
 * runs.  Runs in consoled's one main thread; the disk call blocks for the
 * device's latency only (the driver answers within BLK_TIMEOUT_MS).
 */
#include <keel/blk_client.h>
#include <keel/clock.h>
#include <keel/fmt.h>
#include <keel/init.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>

#include "consoled.h"

static int64_t sd_read(void *ctx, uint64_t sector, uint64_t n, void *buf) { return blk_read(ctx, sector, n, buf); }

static int64_t sd_write(void *ctx, uint64_t sector, uint64_t n, const void *buf)
{
    return blk_write(ctx, sector, n, buf);
}

static int64_t sd_flush(void *ctx) { return blk_flush(ctx); }

/* "generation 7 (commit, 2026-12-07 01:02:03 UTC)" */
static void describe(const struct cst_entry *e, char *out, size_t cap)
{
    char when[40] = "time unknown";
    if (e->wall_time)
        clock_format_utc(e->wall_time, when, sizeof when);
    lib_snprintf(out, cap, "generation %llu (%s, %s)", (unsigned long long)e->generation, cst_kind_name(e->kind), when);
}

void store_setup(struct consoled *c, const struct keel_srvinfo *si)
{
    uint64_t ep = srv_find_cap(si, "ep:disk"), shm = srv_find_cap(si, "shm:disk-consoled");
    if (!ep || !shm)
        return;
    unsigned state = 0;
    uint32_t restarts = 0;
    if (task_find("disk", &state, &restarts) < 0 || state == INIT_TASK_ABSENT || state == INIT_TASK_OTHER)
        return; /* no disk on this VM: as before */
    int64_t err = blk_open(&c->blk, ep, shm, STORE_VA);
    if (err) {
        lib_snprintf(c->source_note, sizeof c->source_note, "the disk cannot be used (%s): commits are not saved",
                     blk_strerror(err));
        con_log(c, CONF_LOG_ERROR, "%s", c->source_note);
        return;
    }
    if (c->blk.flags & BLK_F_READONLY)
        con_log(c, CONF_LOG_WARN, "the disk is read-only: saved configurations are read, commits are not saved");
    struct cst_io io = { &c->blk, sd_read, sd_write, sd_flush, c->blk.capacity };
    if (cst_scan(&c->store, &io) != CST_OK) {
        lib_snprintf(c->source_note, sizeof c->source_note, "the disk cannot be read (%s): commits are not saved",
                     blk_strerror(c->store.last_io));
        con_log(c, CONF_LOG_ERROR, "%s", c->source_note);
        return;
    }
    c->store_on = true;
    if (c->store.missing)
        con_log(c, CONF_LOG_WARN,
                "the disk holds %llu sectors, the saved configuration's layout %llu: %u of %u slots are missing",
                (unsigned long long)c->blk.capacity, (unsigned long long)CST_DISK_SECTORS, c->store.missing, CST_SLOTS);
}

/* One console line (and log entry) per damaged slot. */
static void report_damage(struct consoled *c)
{
    const struct cst *st = &c->store;
    for (unsigned i = 0; i < st->n_damaged; i++) {
        unsigned slot = st->damaged_slot[i];
        char line[200];
        if (st->n && slot == (st->e[0].generation + 1) % CST_SLOTS)
            lib_snprintf(line, sizeof line,
                         "saved configuration: the newest record (slot %u, generation %llu) is damaged (%s): "
                         "the previous configuration, generation %llu, is the newest intact one",
                         slot, (unsigned long long)st->e[0].generation + 1, cst_damage_name(st->damage[i]),
                         (unsigned long long)st->e[0].generation);
        else
            lib_snprintf(line, sizeof line, "saved configuration: slot %u is damaged (%s) and was skipped", slot,
                         cst_damage_name(st->damage[i]));
        con_log(c, CONF_LOG_ERROR, "%s", line);
        con_say(c, line);
        con_say(c, "\r\n");
    }
}

/* Tries record IDX as the running configuration: true when it parsed. */
static bool try_saved(struct consoled *c, unsigned idx)
{
    static const struct conf_parser saved_parser = { "saved configuration", 0, false };
    size_t len = 0;
    char what[96];
    describe(&c->store.e[idx], what, sizeof what);
    int r = cst_load(&c->store, idx, c->text_a, sizeof c->text_a, &len);
    if (r == CST_OK && conf_parse(&saved_parser, c->text_a, len, &c->parsed, &c->res) == CONF_OK) {
        c->running = c->parsed;
        strlcpy(c->pw_hash, c->running.password_hash, sizeof c->pw_hash);
        lib_snprintf(c->source_msg, sizeof c->source_msg,
                     "saved configuration: %s, from the disk (the site archive's appliance.conf is unchanged since)",
                     what);
        return true;
    }
    con_log(c, CONF_LOG_ERROR, "saved configuration %s cannot run: %s", what,
            r != CST_OK       ? cst_strerror(r)
            : c->res.n_errors ? c->res.errors[0].msg
                              : "it does not parse");
    return false;
}

void store_boot(struct consoled *c)
{
    if (!c->store_on) {
        lib_snprintf(c->source_msg, sizeof c->source_msg, "site archive: appliance.conf (%s)",
                     c->source_note[0] ? c->source_note : "no disk: commits last until the reboot");
        return;
    }
    report_damage(c);
    bool pending = false;
    int idx = cst_newest_for(&c->store, c->site_hash, &pending);
    if (pending) {
        con_log(c, CONF_LOG_WARN, "saved configuration: the newest commit confirmed was never confirmed: skipped");
        con_say(c, "saved configuration: the newest commit confirmed was never confirmed; the one before it runs\r\n");
    }
    for (unsigned i = idx < 0 ? c->store.n : (unsigned)idx; i < c->store.n; i++) {
        if (c->store.e[i].site_hash != c->site_hash)
            break; /* older than the site file booted now */
        if (try_saved(c, i)) {
            c->saved_runs = true;
            c->netd_restarts = ~c->netd_restarts; /* netd_watch gives them the running configuration */
            c->tlsd_restarts = ~c->tlsd_restarts;
            c->netd_poll_at = 0;
            return;
        }
    }
    const char *why = c->store.n == 0 ? "the disk holds no saved configuration"
                                      : "newer than the saved configuration: the site file changed since";
    lib_snprintf(c->source_msg, sizeof c->source_msg, "site archive: appliance.conf (%s)", why);
}

/* The wall-clock time for a record, 0 while unknown. */
static uint64_t record_time(const struct consoled *c) { return ops_wall_ns(c, keel_now_ns()) / 1000000000ull; }

int store_save(struct consoled *c, enum cst_kind kind, char *err, size_t errlen)
{
    if (!c->store_on) {
        if (kind != CST_KIND_SITE)
            lib_snprintf(c->source_msg, sizeof c->source_msg,
                         "%s at the console, not saved (no disk): the site archive's appliance.conf runs again at "
                         "the next boot",
                         cst_kind_name(kind));
        return 0;
    }
    int r = cst_append(&c->store, c->candidate.buf, c->candidate.len, c->site_hash, record_time(c), kind);
    if (r != CST_OK) {
        lib_snprintf(err, errlen, "the configuration runs but was not saved: %s%s%s", cst_strerror(r),
                     r == CST_E_IO ? ": " : "", r == CST_E_IO ? blk_strerror(c->store.last_io) : "");
        con_log(c, CONF_LOG_ERROR, "%s", err);
        return -1;
    }
    char what[96];
    describe(&c->store.e[0], what, sizeof what);
    lib_snprintf(c->source_msg, sizeof c->source_msg, "saved configuration: %s, from the disk", what);
    return 0;
}

/* At boot, when the site file runs: it becomes a record when it is valid
 * and the disk has not seen it (so rollback 0 is what runs). */
void store_note_site(struct consoled *c)
{
    if (!c->store_on || c->saved_runs || !c->site_ok)
        return;
    if (c->store.n && c->store.e[0].site_hash == c->site_hash)
        return;
    char err[CMD_ERR_MAX];
    if (store_save(c, CST_KIND_SITE, err, sizeof err) == 0) {
        size_t n = strlen(c->source_msg);
        lib_snprintf(c->source_msg + n, sizeof c->source_msg - n, "; it came from the site archive's appliance.conf");
    }
}

unsigned store_rollback_max(const struct consoled *c)
{
    if (!c->store_on)
        return c->hist_n;
    return c->store.n < CST_KEEP ? c->store.n : CST_KEEP;
}

int store_rollback(struct consoled *c, unsigned n, char *err, size_t errlen)
{
    size_t len = 0;
    int r = cst_load(&c->store, n, c->candidate.buf, sizeof c->candidate.buf, &len);
    if (r != CST_OK) {
        lib_snprintf(err, errlen, "expected an intact saved configuration %u: %s", n, cst_strerror(r));
        return -1;
    }
    c->candidate.len = len;
    return 0;
}

int do_show_config_source(void *ctx, const struct cmd_call *call, char *err, size_t errlen)
{
    (void)call, (void)err, (void)errlen;
    struct consoled *c = ctx;
    con_say(c, c->source_msg);
    con_say(c, "\r\n");
    if (!c->store_on)
        return 0;
    char line[200];
    lib_snprintf(line, sizeof line,
                 "disk: %llu sectors; %u saved configurations (rollback 0-%u); %u damaged, %u missing slots\r\n",
                 (unsigned long long)c->blk.capacity, c->store.n, store_rollback_max(c) ? store_rollback_max(c) - 1 : 0,
                 c->store.n_damaged, c->store.missing);
    con_say(c, line);
    return 0;
}
