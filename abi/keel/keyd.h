/*
 * keel/keyd.h - the key server's protocol.  keyd holds the TLS private
 * keys (read from the site archive) and signs with them on request; its
 * client, tlsd, never maps key material (relayd's design: a bug in the
 * record layer cannot read a key).
 *
 * What init sets up (boot manifest; see appliance/keyd/keyd.c):
 *   keyd: `endpoint keyd` (requests), `share keyd KEYD_SHM_PAGES` (the slots
 *         below), `site` (the site archive, read-only), optionally
 *         `signal N` (completions, on the notification N the client waits
 *         on: keyd's `args signal=N`; tlsd's is sock-tlsd, where its socket
 *         events arrive too) and `connect rng` (entropy);
 *   tlsd: `connect keyd`, `share keyd KEYD_SHM_PAGES` (and `notify N`).
 * keyd answers only its client: the badge of tlsd's `connect keyd`
 * capability (init tells keyd which badge that is); any other caller gets
 * KEYD_E_CLIENT and nothing else.
 *
 * Bulk data never rides in IPC: the shared region "shm:keyd" holds
 * KEYD_SLOTS slots (struct keyd_slot), one request in flight per slot.
 * A slot belongs to the client except between a KEYD_SIGN that keyd
 * accepted with KEYD_QUEUED and the moment keyd sets its state to
 * KEYD_SLOT_DONE or KEYD_SLOT_FAILED (writing data, len and result first,
 * then state).  keyd copies what it needs out of a slot before it replies
 * and never trusts what it reads there: lengths and indices come from the
 * message words and are checked; the client may scribble on the region at
 * any time and only hurts itself.
 *
 * Calls (client -> keyd, plain labels, arguments checked by value; the
 * reply label is 0 or a negative KEYD_E_* / KE_* code; unused message
 * words must be 0):
 *   KEYD_INFO  -> MR0 = keys loaded, MR1 = KEYD_SLOTS, MR2 = generation
 *                 (keyd's restart count + 1), MR3 = KEYD_VERSION
 *   KEYD_OPEN  MR0 = slot; slot.data = the key file's name in the site
 *              archive, NUL-terminated (at most KEYD_NAME_MAX bytes with
 *              the NUL; [A-Za-z0-9._-/], no "..", not starting with '/').
 *              Loads it if it is not loaded yet (the same name always
 *              gives the same id).
 *              -> MR0 = key id, MR1 = KEYD_KEY_RSA or KEYD_KEY_EC,
 *                 MR2 = bits, MR3 = generation; slot.data = the SHA-256 of the
 *                 key's public half (DER SubjectPublicKeyInfo), slot.len = 32,
 *                 so the client can check a certificate carries that key.
 *   KEYD_SIGN  MR0 = slot, MR1 = key id | generation << 32 (the
 *              generation the id was opened under: KEYD_E_STALE when it
 *              is not keyd's, so an id from an earlier keyd, which may name
 *              another key now, never signs; 0 checks none), MR2 = KEYD_HASH_* ORed with
 *              KEYD_SIGN_* flags, MR3 = hash length (must be the digest's
 *              length); slot.data = the hash, slot.seq = the client's
 *              request number.  Flags: KEYD_SIGN_PSS signs with RSA-PSS
 *              (salt as long as the hash; TLS 1.3) instead of PKCS#1 v1.5
 *              (TLS 1.2), RSA keys only (KEYD_E_ARGS for an EC key);
 *              KEYD_SIGN_NOW makes keyd sign before it replies (KEYD_DONE)
 *              even when it could queue: TLS 1.3's signature, which the
 *              client waits for.
 *              -> MR0 = KEYD_DONE: finished before the reply, slot.state is
 *                 DONE or FAILED now;
 *                 MR0 = KEYD_QUEUED: keyd will sign after replying, then
 *                 set the slot's state and signal KEYD_NOTIFY_BIT on the
 *                 client's notification.  (keyd queues only when it holds
 *                 that notification; without one it always answers DONE.)
 *              Result, in the slot: state DONE with the signature in data
 *              (len bytes: DER ECDSA-Sig-Value, or the RSA signature, the
 *              form mbedtls_pk_sign writes) and result 0; or state FAILED
 *              with result = a KEYD_E_* code.  seq is echoed, so a result
 *              can be matched to its request after a restart of either side.
 *
 * The console's two-phase commit (keyd joins it beside netd and tlsd, so a
 * new certificate and key run without a reboot).  The admin client C (a
 * "client:C" note of keyd's and region "keyadm-C", KEYD_ADM_PAGES; today
 * consoled) writes the key file names of a candidate configuration into
 * the region (struct keyd_adm), then:
 *   KEYD_ADM_PREPARE  MR0 = names -> 0: every key is loaded (the ones new
 *                     to keyd are pending); or a KEYD_E_* code with MR0 =
 *                     the index of the name that failed, and nothing
 *                     pending (keyd unloaded what it loaded for it).
 *   KEYD_ADM_COMMIT   -> 0: the pending keys stay.
 *   KEYD_ADM_ABORT    -> 0: the pending keys are unloaded (wiped).
 * A second PREPARE replaces an unfinished one.  Between PREPARE and
 * COMMIT/ABORT the client (tlsd) may KEYD_OPEN a pending key: the console
 * prepares tlsd after keyd and aborts tlsd before keyd, so tlsd never
 * keeps the id of a key keyd unloaded.  Any other caller of these labels
 * gets KEYD_E_CLIENT; the admin client may call nothing else.
 *
 * Generations: a restarted keyd has lost its queue and its opened keys
 * (it loads its boot keys again; the ones opened or prepared later get
 * ids in the order they are asked for again).  A client fails the
 * handshakes it had waiting (their slots never complete) and, told
 * KEYD_E_STALE, opens its keys again by name (keyd_client.c does it).
 */
#ifndef KEEL_ABI_KEYD_H
#define KEEL_ABI_KEYD_H

#include <keel/errors.h>

#include <stdint.h>

#define KEYD_VERSION    3 /* 2: KEYD_SIGN_PSS, KEYD_SIGN_NOW; 3: generations in KEYD_OPEN and KEYD_SIGN */
#define KEYD_SHM_PAGES  4
#define KEYD_SLOTS      16
#define KEYD_SLOT_SIZE  1024
#define KEYD_SLOTS_SIZE (KEYD_SLOTS * KEYD_SLOT_SIZE) /* bytes of the region the slots use */
#define KEYD_DATA_MAX   (KEYD_SLOT_SIZE - 16)         /* a slot's data bytes */
#define KEYD_NAME_MAX   64                            /* key file names, NUL included */
#define KEYD_HASH_MAX   64                            /* SHA-512 */
#define KEYD_SIG_MAX    512                           /* RSA-4096 */
#define KEYD_MAX_KEYS   16
#define KEYD_NOTIFY_BIT (1ull << 48) /* on the client's notification: "a slot finished" */

enum keyd_label {
    KEYD_INFO = 1,
    KEYD_OPEN = 2,
    KEYD_SIGN = 3,
    KEYD_ADM_PREPARE = 4, /* admin client only */
    KEYD_ADM_COMMIT = 5,  /* admin client only */
    KEYD_ADM_ABORT = 6,   /* admin client only */
};

#define KEYD_ADM_PAGES 1
#define KEYD_ADM_NAMES 64 /* CONF_MAX_TLS x CONF_MAX_CERTS */

/* The region "keyadm-C": the candidate's key file names, NUL-terminated. */
struct keyd_adm {
    char names[KEYD_ADM_NAMES][KEYD_NAME_MAX];
};
_Static_assert(sizeof(struct keyd_adm) <= KEYD_ADM_PAGES * 4096, "the names fit the admin region");

/* KEYD_SIGN's MR0 on success. */
enum keyd_sign_status {
    KEYD_DONE = 0,
    KEYD_QUEUED = 1,
};

enum keyd_key_type {
    KEYD_KEY_RSA = 1,
    KEYD_KEY_EC = 2,
};

enum keyd_hash {
    KEYD_HASH_SHA256 = 1, /* 32 bytes */
    KEYD_HASH_SHA384 = 2, /* 48 bytes */
    KEYD_HASH_SHA512 = 3, /* 64 bytes */
};

/* KEYD_SIGN's MR2: a KEYD_HASH_* in the low byte, these flags above it. */
#define KEYD_SIGN_HASH_MASK 0xffu
#define KEYD_SIGN_PSS       (1u << 8) /* RSA-PSS, not PKCS#1 v1.5 */
#define KEYD_SIGN_NOW       (1u << 9) /* sign before replying */
#define KEYD_SIGN_FLAGS     (KEYD_SIGN_PSS | KEYD_SIGN_NOW)

enum keyd_slot_state {
    KEYD_SLOT_IDLE = 0,   /* the client's */
    KEYD_SLOT_BUSY = 1,   /* keyd's: a queued KEYD_SIGN */
    KEYD_SLOT_DONE = 2,   /* the client's again: data holds the signature */
    KEYD_SLOT_FAILED = 3, /* the client's again: result says why */
};

enum keyd_error {
    KEYD_E_CLIENT = -500,     /* the caller is not keyd's client */
    KEYD_E_LABEL = -501,      /* no such request */
    KEYD_E_ARGS = -502,       /* an unused message word is not 0, or a value out of range */
    KEYD_E_SLOT = -503,       /* no such slot */
    KEYD_E_BUSY = -504,       /* the slot has a queued request */
    KEYD_E_KEY = -505,        /* no key with that id */
    KEYD_E_HASH = -506,       /* unknown hash, or a length that is not its digest's */
    KEYD_E_NAME = -507,       /* a key name that is empty, too long, unterminated or not a plain path */
    KEYD_E_NOT_FOUND = -508,  /* no such file in the site archive */
    KEYD_E_BAD_KEY = -509,    /* not an unencrypted RSA (>= 2048 bits) or EC P-256/P-384 private key */
    KEYD_E_FULL = -510,       /* KEYD_MAX_KEYS keys are loaded */
    KEYD_E_NO_SITE = -511,    /* keyd was given no site archive */
    KEYD_E_NO_ENTROPY = -512, /* keyd has no random source, so it signs nothing */
    KEYD_E_SIGN = -513,       /* the signature failed (slot result) */
    KEYD_E_STALE = -514,      /* a key id from an earlier generation: open the key again */
};
_Static_assert(KEEL_ERR_IN(KEYD, KEYD_E_CLIENT) && KEEL_ERR_IN(KEYD, KEYD_E_STALE),
               "KEYD_E_* in its range (keel/errors.h)");

/* One request slot in "shm:keyd". */
struct keyd_slot {
    uint32_t state; /* enum keyd_slot_state: see the ownership rule above */
    int32_t result; /* keyd: 0 or a KEYD_E_* code */
    uint32_t len;   /* bytes of data: the key's fingerprint, or the signature */
    uint32_t seq;   /* the client's request number, echoed by keyd */
    uint8_t data[KEYD_DATA_MAX];
};
_Static_assert(sizeof(struct keyd_slot) == KEYD_SLOT_SIZE, "keyd slot layout");
_Static_assert(KEYD_SLOTS_SIZE <= KEYD_SHM_PAGES * 4096, "the slots fit the shared region");
_Static_assert(KEYD_SIG_MAX <= KEYD_DATA_MAX && KEYD_HASH_MAX <= KEYD_DATA_MAX && KEYD_NAME_MAX <= KEYD_DATA_MAX,
               "requests and results fit a slot");

#endif
