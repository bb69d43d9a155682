/*
 * keyd.c - the key server (program `keyd`): holds the TLS private keys and
 * signs with them for its one client, tlsd, which never maps key material.
 * The protocol is abi/keel/keyd.h; the checks on every request are in
 * keyd_req.c (pure, host-tested).
 *
 * Capabilities (by srvinfo name; the manifest line is in appliance/tls.mk):
 *   serve:keyd     requests (required)
 *   shm:keyd       the request slots, KEYD_SHM_PAGES pages (required)
 *   site           the site archive (cpio; init's `site` grant, with
 *                  site_offset/site_size in the server information),
 *                  read-only: where key files are.  Without it keyd
 *                  serves, but KEYD_OPEN says KEYD_E_NO_SITE.
 *   signal:NAME    the client's notification (NAME: `args signal=NAME`,
 *                  default the client's name; tlsd's is sock-tlsd, where
 *                  its socket events arrive too): with it, KEYD_SIGN is queued
 *                  and answered at once, the signature follows (so tlsd,
 *                  at a higher priority, keeps moving data while keyd
 *                  signs); without it keyd signs before replying, as it
 *                  always does for KEYD_SIGN_NOW (TLS 1.3)
 *   ep:rng         the entropy server (optional, `args rng=NAME` for another
 *                  endpoint name; RDRAND/RDSEED otherwise):
 *                  RSA blinding and ECDSA need random numbers, and with no
 *                  source at all keyd refuses to sign (KEYD_E_NO_ENTROPY)
 *   client:CLIENT  not a capability: init's note of the badge CLIENT's
 *                  `connect keyd` carries (slot field = badge); until init
 *                  writes it, `args badge=N` gives it.  With neither, keyd
 *                  answers nobody and says so.
 * Arguments: keyd_parse_args (keyd_req.h), e.g. `client=tlsd,key=edge1.key`.
 *
 * The loop: receive; check the caller's badge, the label and the words;
 * do it; reply (SYS_REPLY, never blocks).  Queued signatures are worked
 * off one at a time between receives (a non-blocking receive first, so a
 * request is never kept waiting behind more than one signature); each one
 * writes its slot (data, len, result, seq, then state) and signals the
 * client.
 *
 * Memory: keys and mbedTLS's work space come from a 512 KiB heap
 * (tls_plat); key file contents are copied, parsed and wiped.  The queue
 * is a fixed array of KEYD_SLOTS jobs (a slot holds at most one).
 *
 * Restarts: nothing survives; a client's KEYD_SIGN with the old
 * generation gets KEYD_E_STALE, and it opens its keys again by name
 * (keel/keyd.h, keyd_client.c).
 */
#include <keel/cpio.h>
#include <keel/init.h>
#include <keel/keyd.h>
#include <keel/server.h>
#include <keel/string.h>
#include <keel/sys.h>
#include <keel/ulog.h>

#include "mbedtls/ecdsa.h"
#include "mbedtls/error.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/rsa.h"
#include "rsa_internal.h" /* mbedtls_rsa_rsassa_pss_sign_no_mode_check (pk_wrap.c uses it too) */

#include "entropy.h"
#include "keyd_req.h"
#include "tls_pk.h"
#include "tls_lock.h"
#include "tls_plat.h"
#include "tls_thread.h"

#define KEYD_SHM_VA     0x0000005000000000ull
#define KEYD_SITE_VA    0x0000005100000000ull
#define KEYD_ADM_VA     0x0000005200000000ull
#define KEYD_HEAP_BYTES (512u << 10)
#define RNG_WAIT_NS     3000000000ull

struct keyd_key {
    char name[KEYD_NAME_MAX];
    mbedtls_pk_context pk;
    unsigned kind, bits; /* KEYD_KEY_*, size */
    uint8_t fp[TLS_PK_FP_LEN];
    bool table_made; /* EC: its group holds the generator's comb table (sign_with) */
};

struct keyd {
    /* Taken by every thread around what it reads or changes here, except
     * the signing itself (run_job's sign_with runs unlocked, so
     * signatures on several threads overlap; only an EC key's first
     * signature, which stores its comb table, holds it). */
    struct tls_lock lock;
    unsigned threads;        /* signing threads, each receiving on ep */
    uint64_t ep;             /* serve:keyd */
    uint64_t ntfn;           /* signal:CLIENT, 0: sign before replying */
    struct keyd_slot *slots; /* the shared region (the client's too) */
    const uint8_t *site;     /* the site archive, NULL: none */
    size_t site_len;
    uint32_t generation;
    struct keyd_req_state st;
    struct keyd_key keys[KEYD_MAX_KEYS];
    struct keyd_job queue[KEYD_SLOTS]; /* FIFO */
    unsigned q_head, q_len;
    bool have_entropy;
    struct tls_entropy ent;
    uint64_t signed_ok, signed_failed, refused;
    /* The console's two-phase commit (keel/keyd.h): admin 0: none. */
    uint64_t admin;             /* the admin client's badge */
    const struct keyd_adm *adm; /* its region, read-only for us */
    bool prepared;              /* keys [prep_first, n_keys) are pending */
    unsigned prep_first;
};

static struct keyd K;

/* ------------------------------------------------------------ keys ---- */

static int find_key(const struct keyd *k, const char *name)
{
    for (unsigned i = 0; i < k->st.n_keys; i++)
        if (strcmp(k->keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Loads NAME from the site archive as key id n_keys.  Returns the id or a
 * KEYD_E_* code (logged with the file's name and the reason). */
static int load_key(struct keyd *k, const char *name)
{
    int id = find_key(k, name);
    if (id >= 0)
        return id;
    if (!k->site)
        return KEYD_E_NO_SITE;
    if (k->st.n_keys >= KEYD_MAX_KEYS)
        return KEYD_E_FULL;
    const void *data;
    size_t size;
    int err = cpio_find(k->site, k->site_len, name, &data, &size);
    if (err) {
        ulog("keyd: %s: %s (site archive)\n", name, cpio_strerror(err));
        return KEYD_E_NOT_FOUND;
    }
    /* mbedTLS wants PEM with its NUL; a DER file takes the same path. */
    unsigned char *copy = tls_mem_calloc(1, size + 1);
    if (!copy)
        return KEYD_E_FULL;
    memcpy(copy, data, size);
    struct keyd_key *key = &k->keys[k->st.n_keys];
    mbedtls_pk_init(&key->pk);
    int r = mbedtls_pk_parse_key(&key->pk, copy, size + 1, NULL, 0, tls_entropy_random, &k->ent);
    mbedtls_platform_zeroize(copy, size + 1);
    tls_mem_free(copy);
    char why[96];
    if (r != 0) {
        mbedtls_strerror(r, why, sizeof why);
        ulog("keyd: %s: not a usable private key (%s)\n", name, why);
        mbedtls_pk_free(&key->pk);
        return KEYD_E_BAD_KEY;
    }
    enum tls_pk_kind kind = tls_pk_check(&key->pk, &key->bits, why, sizeof why);
    if (kind == TLS_PK_BAD || tls_pk_fingerprint(&key->pk, key->fp) != 0) {
        ulog("keyd: %s: %s\n", name, kind == TLS_PK_BAD ? why : "no public key");
        mbedtls_pk_free(&key->pk);
        return KEYD_E_BAD_KEY;
    }
    /* point of no return */
    key->kind = kind == TLS_PK_RSA ? KEYD_KEY_RSA : KEYD_KEY_EC;
    strlcpy(key->name, name, sizeof key->name);
    ulog("keyd: key %u: %s, %s %u bits\n", k->st.n_keys, name, key->kind == KEYD_KEY_RSA ? "RSA" : "EC", key->bits);
    return (int)k->st.n_keys++;
}

/* Unloads keys FIRST.. (the pending ones of an aborted prepare), wiping them. */
static void unload_from(struct keyd *k, unsigned first)
{
    while (k->st.n_keys > first) {
        struct keyd_key *key = &k->keys[--k->st.n_keys];
        ulog("keyd: key %u: %s unloaded (the commit that needed it was aborted)\n", k->st.n_keys, key->name);
        mbedtls_pk_free(&key->pk);
        mbedtls_platform_zeroize(key, sizeof *key);
    }
}

/* ------------------------------------------------------ the console ---- */

static int64_t adm_prepare(struct keyd *k, struct keel_msg *m)
{
    uint64_t n = m->mr[0];
    if (n > KEYD_ADM_NAMES || m->mr[1] | m->mr[2] | m->mr[3])
        return KEYD_E_ARGS;
    if (k->prepared)
        unload_from(k, k->prep_first); /* a PREPARE replaces an unfinished one */
    k->prepared = false;
    k->prep_first = k->st.n_keys;
    for (unsigned i = 0; i < n; i++) {
        char name[KEYD_NAME_MAX];
        memcpy(name, k->adm->names[i], sizeof name); /* our copy: the region may change under us */
        name[sizeof name - 1] = '\0';
        int r = keyd_check_name(name);
        if (r == 0) {
            int id = load_key(k, name);
            r = id < 0 ? id : 0;
        }
        if (r) {
            unload_from(k, k->prep_first);
            m->mr[0] = i;
            return r;
        }
    }
    /* point of no return: every key is loaded */
    k->prepared = true;
    if (k->st.n_keys > k->prep_first)
        ulog("keyd: prepared: %u new key(s) pending the commit\n", k->st.n_keys - k->prep_first);
    m->mr[0] = k->st.n_keys - k->prep_first;
    return 0;
}

static int64_t adm_handle(struct keyd *k, struct keel_msg *m)
{
    switch (keel_label(m)) {
    case KEYD_ADM_PREPARE: return adm_prepare(k, m);
    case KEYD_ADM_COMMIT:
        if (k->prepared && k->st.n_keys > k->prep_first)
            ulog("keyd: committed: %u key(s) loaded\n", k->st.n_keys);
        k->prepared = false;
        return 0;
    case KEYD_ADM_ABORT:
        if (k->prepared)
            unload_from(k, k->prep_first);
        k->prepared = false;
        return 0;
    default: return KEYD_E_LABEL;
    }
}

/* ----------------------------------------------------------- signing ---- */

static mbedtls_md_type_t md_of(unsigned hash)
{
    switch (hash) {
    case KEYD_HASH_SHA256: return MBEDTLS_MD_SHA256;
    case KEYD_HASH_SHA384: return MBEDTLS_MD_SHA384;
    case KEYD_HASH_SHA512: return MBEDTLS_MD_SHA512;
    }
    return MBEDTLS_MD_NONE;
}

/* Signs HASH with KEY into SIG (DER for ECDSA, the modulus' length for
 * RSA), as mbedtls_pk_sign would, but on the key's own parsed context:
 * with MBEDTLS_USE_PSA_CRYPTO, mbedtls_pk_sign copies the private key into
 * a new PSA key for every signature, so each ECDSA signature computed the
 * generator's comb table afresh (about two thirds of its cost) and each
 * RSA signature made new blinding values with a 2048-bit modular inverse
 * (about a third).  On the kept context the table is computed once
 * and the blinding values are refreshed by squaring.
 *   ECDSA: deterministic (RFC 6979, MBEDTLS_ECDSA_DETERMINISTIC), the rng
 *   only blinds.  A key's first signature stores the table in the key's
 *   group; it runs under the lock so that two threads never race to store
 *   it, later ones only read the group and run unlocked.
 *   RSA: PKCS#1 v1.5, or PSS with the salt as long as the hash and MGF1
 *   with the message's hash (what TLS 1.3 requires, and what PSA's PSS
 *   did); neither changes the context's padding, so threads can sign with
 *   one key at once (rsa.c takes the context's mutex around the private
 *   operation and its blinding values). */
static int sign_with(struct keyd *k, struct keyd_key *key, mbedtls_md_type_t md, bool pss, const uint8_t *hash,
                     size_t hash_len, uint8_t *sig, size_t sig_size, size_t *len)
{
    if (key->kind == KEYD_KEY_EC) {
        if (pss)
            return MBEDTLS_ERR_PK_TYPE_MISMATCH;
        bool first = !__atomic_load_n(&key->table_made, __ATOMIC_ACQUIRE);
        if (first)
            tls_lock_take(&k->lock);
        int r = mbedtls_ecdsa_write_signature(mbedtls_pk_ec(key->pk), md, hash, hash_len, sig, sig_size, len,
                                              tls_entropy_random, &k->ent);
        if (first) {
            if (r == 0)
                __atomic_store_n(&key->table_made, true, __ATOMIC_RELEASE);
            tls_lock_give(&k->lock);
        }
        return r;
    }
    mbedtls_rsa_context *rsa = mbedtls_pk_rsa(key->pk);
    size_t n = mbedtls_rsa_get_len(rsa);
    if (n > sig_size || hash_len > UINT32_MAX)
        return MBEDTLS_ERR_PK_BUFFER_TOO_SMALL;
    int r =
        pss ? mbedtls_rsa_rsassa_pss_sign_no_mode_check(rsa, tls_entropy_random, &k->ent, md, (unsigned)hash_len, hash,
                                                        sig)
            : mbedtls_rsa_rsassa_pkcs1_v15_sign(rsa, tls_entropy_random, &k->ent, md, (unsigned)hash_len, hash, sig);
    *len = r == 0 ? n : 0;
    return r;
}

/* Signs JOB and publishes the result in its slot: data, len, result and
 * seq first, then state (the client acts on state).  Called without the
 * lock: the key is not unloaded while the client may use its id (a
 * commit's abort unloads only keys the client never opened), and the
 * slot is the job's alone while it is busy. */
static void run_job(struct keyd *k, const struct keyd_job *job)
{
    uint8_t sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len = 0;
    int r =
        sign_with(k, &k->keys[job->key], md_of(job->hash), job->pss, job->digest, job->hash_len, sig, sizeof sig, &len);
    struct keyd_slot *s = &k->slots[job->slot];
    bool ok = r == 0 && len > 0 && len <= KEYD_SIG_MAX;
    if (ok) {
        memcpy(s->data, sig, len);
        s->len = (uint32_t)len;
        s->result = 0;
    } else {
        char why[80];
        mbedtls_strerror(r, why, sizeof why);
        ulog("keyd: signing with key %u failed: %s\n", job->key, why);
        s->len = 0;
        s->result = KEYD_E_SIGN;
    }
    s->seq = job->seq;
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the result before the state that hands it over */
    tls_lock_take(&k->lock);
    s->state = ok ? KEYD_SLOT_DONE : KEYD_SLOT_FAILED;
    k->st.busy &= ~(1u << job->slot);
    if (ok)
        k->signed_ok++;
    else
        k->signed_failed++;
    tls_lock_give(&k->lock);
    mbedtls_platform_zeroize(sig, sizeof sig);
}

/* Takes the oldest queued job, if any, and signs it.  Returns false when
 * the queue was empty. */
static bool run_queued(struct keyd *k)
{
    struct keyd_job job;
    tls_lock_take(&k->lock);
    bool have = k->q_len > 0;
    if (have) {
        job = k->queue[k->q_head];
        mbedtls_platform_zeroize(&k->queue[k->q_head], sizeof job);
        k->q_head = (k->q_head + 1) % KEYD_SLOTS;
        k->q_len--;
    }
    tls_lock_give(&k->lock);
    if (!have)
        return false;
    run_job(k, &job);
    mbedtls_platform_zeroize(&job, sizeof job);
    if (k->ntfn)
        (void)keel_signal(k->ntfn, KEYD_NOTIFY_BIT);
    return true;
}

/* --------------------------------------------------------- requests ---- */

static int64_t do_info(struct keyd *k, struct keel_msg *m)
{
    int err = keyd_check_info(m->mr);
    if (err)
        return err;
    m->mr[0] = k->st.n_keys;
    m->mr[1] = KEYD_SLOTS;
    m->mr[2] = k->generation;
    m->mr[3] = KEYD_VERSION;
    return 0;
}

static int64_t do_open(struct keyd *k, struct keel_msg *m)
{
    uint32_t slot;
    char name[KEYD_NAME_MAX];
    int err = keyd_check_open(&k->st, m->mr, k->slots, &slot, name);
    if (err)
        return err;
    int id = load_key(k, name);
    if (id < 0)
        return id;
    const struct keyd_key *key = &k->keys[id];
    struct keyd_slot *s = &k->slots[slot];
    memcpy(s->data, key->fp, sizeof key->fp);
    s->len = sizeof key->fp;
    s->result = 0;
    m->mr[0] = (uint64_t)id;
    m->mr[1] = key->kind;
    m->mr[2] = key->bits;
    m->mr[3] = k->generation;
    return 0;
}

/* KEYD_SIGN, checked and queued, or (KEYD_SIGN_NOW, or no notification)
 * handed back in *NOW for the caller to sign before it replies. */
static int64_t do_sign(struct keyd *k, struct keel_msg *m, struct keyd_job *now, bool *sign_now)
{
    struct keyd_job job;
    int err = keyd_check_sign(&k->st, m->mr, k->slots, &job);
    if (err)
        return err;
    if (!k->have_entropy)
        return KEYD_E_NO_ENTROPY;
    if (job.pss && k->keys[job.key].kind != KEYD_KEY_RSA)
        return KEYD_E_ARGS;
    /* point of no return */
    memset(m->mr, 0, sizeof m->mr);
    k->st.busy |= 1u << job.slot;
    if (!k->ntfn || job.now) {
        *now = job;
        *sign_now = true;
        m->mr[0] = KEYD_DONE;
    } else {
        k->slots[job.slot].state = KEYD_SLOT_BUSY;
        k->queue[(k->q_head + k->q_len) % KEYD_SLOTS] = job;
        k->q_len++; /* at most one job per slot: never more than KEYD_SLOTS */
        m->mr[0] = KEYD_QUEUED;
    }
    mbedtls_platform_zeroize(&job, sizeof job);
    return 0;
}

/* Called with the lock held. */
static int64_t handle(struct keyd *k, struct keel_msg *m, struct keyd_job *now, bool *sign_now)
{
    if (k->admin && m->badge == k->admin) {
        int64_t r = adm_handle(k, m);
        if (r != 0 && keel_label(m) != KEYD_ADM_PREPARE)
            memset(m->mr, 0, sizeof m->mr);
        return r;
    }
    if (keyd_check_client(&k->st, m->badge) != 0) {
        k->refused++;
        memset(m->mr, 0, sizeof m->mr);
        return KEYD_E_CLIENT;
    }
    int64_t r;
    switch (keel_label(m)) {
    case KEYD_INFO: r = do_info(k, m); break;
    case KEYD_OPEN: r = do_open(k, m); break;
    case KEYD_SIGN: r = do_sign(k, m, now, sign_now); break;
    default: r = KEYD_E_LABEL; break;
    }
    if (r != 0)
        memset(m->mr, 0, sizeof m->mr);
    return r;
}

/* ---------------------------------------------------------- start-up ---- */

/* Maps the site archive: init's `site` grant, the frame "site" holding the
 * boot module, which starts site_offset bytes into it and is site_size
 * bytes long (keel/init.h). */
static void map_site(struct keyd *k, const struct keel_srvinfo *si)
{
    const void *site;
    size_t len;
    int64_t err = srv_map_site(si, KEYD_SITE_VA, &site, &len);
    if (err == KE_EMPTY_SLOT) {
        ulog("keyd: no site archive (manifest grant `site`, boot module `site`): keys cannot be loaded\n");
        return;
    }
    if (err) {
        ulog("keyd: the site archive could not be mapped\n");
        return;
    }
    k->site = site;
    k->site_len = len;
}

static uint64_t client_badge(const struct keel_srvinfo *si, const struct keyd_args *a)
{
    uint64_t b = srv_find_cap_of(si, "client:", a->client); /* init's note: the slot field is the badge */
    return b ? b : a->badge;
}

/* The console's side of the commit: a "client:C" note with region
 * "shm:keyadm-C" (the first such C), mapped read-only. */
static void setup_admin(struct keyd *k, const struct keel_srvinfo *si)
{
    const char *name;
    uint64_t badge;
    for (uint32_t i = 0; (name = srv_next_client(si, &i, &badge)) != NULL;) {
        uint64_t shm = srv_find_cap_of(si, "shm:keyadm-", name);
        if (!shm || srv_map_frame(shm, KEYD_ADM_VA, RIGHT_READ, KEYD_ADM_PAGES, NULL) != KE_OK)
            continue;
        k->admin = badge;
        k->adm = (const struct keyd_adm *)KEYD_ADM_VA;
        ulog("keyd: %s takes part in commits (badge %llu)\n", name, (unsigned long long)k->admin);
        return;
    }
}

/* One signing thread's loop (every thread runs it, on the one endpoint):
 * receive; check the caller's badge, the label and the words; do it
 * (signing, when it must be done before the reply, outside the lock);
 * reply (SYS_REPLY, never blocks).  Queued signatures are worked off one
 * at a time between receives (a non-blocking receive first, so a request
 * is never kept waiting behind more than one signature per thread). */
__attribute__((noreturn)) static void serve(struct keyd *k)
{
    for (;;) {
        struct keel_msg m = { .info = __atomic_load_n(&k->q_len, __ATOMIC_RELAXED) ? KEEL_NONBLOCK : 0 };
        int64_t err = keel_recv(k->ep, &m);
        if (err == KE_WOULD_BLOCK) {
            (void)run_queued(k);
            continue;
        }
        if (err) {
            ulog("keyd: receive failed: error %lld\n", (long long)err);
            keel_thread_exit(); /* init restarts keyd when its last thread ends */
        }
        if (!(m.info & KEEL_RECV_CALL) || (m.info & (KEEL_RECV_NOTIFY | KEEL_RECV_FAULT)))
            continue; /* a send expects no answer */
        struct keyd_job job;
        bool sign_now = false;
        tls_lock_take(&k->lock);
        int64_t r = handle(k, &m, &job, &sign_now);
        tls_lock_give(&k->lock);
        if (sign_now) {
            run_job(k, &job);
            mbedtls_platform_zeroize(&job, sizeof job);
        }
        m.info = (uint32_t)r;
        (void)keel_reply(&m);
    }
}

static void signer_main(void *arg) { serve(arg); }

/* Threads 1..N-1, thread k on the k-th core after thread 0's (fewer when
 * the kernel refuses one: logged, keyd signs with the ones it has). */
static void start_threads(struct keyd *k, unsigned n)
{
    uint64_t cores = 1, me = 0;
    if (keel_cpu_count(&cores, &me) != KE_OK || cores < 1)
        cores = 1;
    k->threads = 1;
    for (unsigned t = 1; t < n; t++) {
        int64_t kerr = 0;
        int r = tls_thread_start(t, signer_main, k, 31, (unsigned)((me + t) % cores), &kerr);
        if (r) {
            ulog("keyd: signing thread %u could not start (error %d, kernel %lld)\n", t, r, (long long)kerr);
            return;
        }
        k->threads++;
    }
    if (k->threads > 1)
        ulog("keyd: %u signing threads\n", k->threads);
}

int main(const struct keel_srvinfo *si);
int main(const struct keel_srvinfo *si)
{
    struct keyd *k = &K;
    memset(k, 0, sizeof *k);
    k->generation = si->restarts + 1;
    k->st.generation = k->generation;
    struct keyd_args args;
    size_t bad_at = 0;
    if (keyd_parse_args(si->args, &args, &bad_at) != 0) {
        ulog("keyd: bad argument at \"%s\"; refusing to start\n", si->args + bad_at);
        return 1;
    }
    k->ep = srv_find_cap(si, "serve:keyd");
    uint64_t shm = srv_find_cap(si, "shm:keyd");
    if (!k->ep || !shm || srv_map_frame(shm, KEYD_SHM_VA, RIGHT_READ | RIGHT_WRITE, KEYD_SHM_PAGES, NULL) != KE_OK) {
        ulog("keyd: needs `endpoint keyd` and `share keyd %u`; refusing to start\n", KEYD_SHM_PAGES);
        return 1;
    }
    k->slots = (struct keyd_slot *)KEYD_SHM_VA;
    if (tls_plat_init(si, KEYD_HEAP_BYTES) != TLS_PLAT_OK)
        return 1;
    char name[32];
    snprintf(name, sizeof name, "signal:%s", args.signal);
    k->ntfn = srv_find_cap(si, name);
    k->st.client = client_badge(si, &args);
    if (!k->st.client)
        ulog("keyd: do not know %s's badge (init's client:%s, or args badge=N): answering nobody\n", args.client,
             args.client);

    snprintf(name, sizeof name, "ep:%s", args.rng);
    struct tls_entropy_opts eo = { .rng_ep = srv_find_cap(si, name), .rng_wait_ns = RNG_WAIT_NS, .who = "keyd" };
    int e = tls_entropy_init(&k->ent, &eo);
    char desc[48];
    tls_entropy_describe(&k->ent, desc, sizeof desc);
    k->have_entropy = e == TLS_ENT_OK;
    if (!k->have_entropy)
        ulog("keyd: no entropy source (no entropy server answered, and the CPU has neither RDRAND nor RDSEED): "
             "refusing to sign\n");

    /* On a CPU affected by Meltdown whose kernel does not isolate its page
     * tables (SYS_CPU_INFO, kernel/cpuvuln.c), every task can read all RAM:
     * a key held here would be readable by all, so hold none.  The site
     * archive is not even mapped, so every later load_key, whoever asks,
     * fails with KEYD_E_NO_SITE. */
    uint64_t cpu = 0;
    if (keel_cpu_info(&cpu) == KE_OK && (cpu & KEEL_CPU_MELTDOWN)) {
        ulog("keyd: this CPU is affected by Meltdown and the kernel does not isolate its page tables: "
             "refusing to load keys\n");
    } else {
        map_site(k, si);
        setup_admin(k, si);
        for (unsigned i = 0; i < args.n_keys; i++)
            (void)load_key(k, args.keys[i]); /* logged; the listener that needs it will say so */
    }

    ulog("keyd: serving %s (badge %llu), %u keys, entropy %s, %s\n", args.client, (unsigned long long)k->st.client,
         k->st.n_keys, desc, k->ntfn ? "signatures queued" : "signatures before the reply");
    srv_ready();

    start_threads(k, args.threads);
    serve(k);
}
