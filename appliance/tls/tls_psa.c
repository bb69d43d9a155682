/*
 * tls_psa.c - PSA's random source, its key storage in memory, and the
 * secure-element driver that is keyd (the design is in tls_psa.h).
 *
 * Three small parts:
 *   - mbedtls_psa_external_get_random (MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG):
 *     PSA's random numbers come from the source tls_psa_init was given;
 *   - psa_its_*: a fixed table of (uid, flags, bytes) entries, each at most
 *     ITS_DATA_MAX bytes (PSA stores a key registration in ~40 bytes and
 *     its transaction record in fewer);
 *   - the SE driver: validates slot numbers at registration (keyd's key
 *     ids) and signs by calling the bound signer's sign_now, converting
 *     ECDSA's DER (what keyd answers, as mbedtls_pk_sign writes it) to the
 *     raw r || s PSA returns.  The curve size for that comes from the
 *     registration (bits[] by slot), since the driver's sign call is told
 *     only the slot number.
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS /* psa_drv_se_t's fields are named MBEDTLS_PRIVATE(...) */

#include <string.h>

#include "mbedtls/psa_util.h"
#include "psa/crypto.h"
#include "psa/crypto_se_driver.h"
#include "psa/internal_trusted_storage.h"
#include "pk_internal.h" /* mbedtls_pk_get_ec_group_id */

#include "tls_mem.h"
#include "tls_psa.h"

#define ITS_DATA_MAX 128

struct its_entry {
    bool used;
    psa_storage_uid_t uid;
    psa_storage_create_flags_t flags;
    uint32_t size; /* <= ITS_DATA_MAX */
    uint8_t data[ITS_DATA_MAX];
};

static struct {
    int (*f_rng)(void *, unsigned char *, size_t);
    void *p_rng;
    bool ready;                      /* driver registered and psa_crypto_init done */
    struct tls_signer signer;        /* sign_now NULL: none bound */
    unsigned bits[TLS_PSA_MAX_KEYS]; /* by slot (keyd key id): 0 = not registered */
    bool is_ec[TLS_PSA_MAX_KEYS];    /* by slot */
    struct its_entry its[TLS_PSA_ITS_ENTRIES];
    struct tls_psa_stats stats;
} P;

/* ------------------------------------------------------------ random ---- */

psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
                                             size_t output_size, size_t *output_length);

psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context, uint8_t *output,
                                             size_t output_size, size_t *output_length)
{
    (void)context;
    *output_length = 0;
    if (!P.f_rng || P.f_rng(P.p_rng, output, output_size) != 0)
        return PSA_ERROR_INSUFFICIENT_ENTROPY;
    *output_length = output_size;
    return PSA_SUCCESS;
}

/* ----------------------------------------------------------- storage ---- */

static struct its_entry *its_find(psa_storage_uid_t uid)
{
    for (unsigned i = 0; i < TLS_PSA_ITS_ENTRIES; i++)
        if (P.its[i].used && P.its[i].uid == uid)
            return &P.its[i];
    return NULL;
}

psa_status_t psa_its_set(psa_storage_uid_t uid, uint32_t data_length, const void *p_data,
                         psa_storage_create_flags_t create_flags)
{
    if (create_flags & ~(psa_storage_create_flags_t)PSA_STORAGE_FLAG_WRITE_ONCE)
        return PSA_ERROR_NOT_SUPPORTED;
    if (data_length && !p_data)
        return PSA_ERROR_INVALID_ARGUMENT;
    if (data_length > ITS_DATA_MAX)
        return PSA_ERROR_INSUFFICIENT_STORAGE;
    struct its_entry *e = its_find(uid);
    if (e && (e->flags & PSA_STORAGE_FLAG_WRITE_ONCE))
        return PSA_ERROR_NOT_PERMITTED;
    for (unsigned i = 0; !e && i < TLS_PSA_ITS_ENTRIES; i++)
        if (!P.its[i].used)
            e = &P.its[i];
    if (!e)
        return PSA_ERROR_INSUFFICIENT_STORAGE;
    /* point of no return */
    e->used = true;
    e->uid = uid;
    e->flags = create_flags;
    e->size = data_length;
    if (data_length)
        memcpy(e->data, p_data, data_length);
    return PSA_SUCCESS;
}

psa_status_t psa_its_get(psa_storage_uid_t uid, uint32_t data_offset, uint32_t data_length, void *p_data,
                         size_t *p_data_length)
{
    const struct its_entry *e = its_find(uid);
    if (!e)
        return PSA_ERROR_DOES_NOT_EXIST;
    if (data_offset > e->size || (data_length && !p_data))
        return PSA_ERROR_INVALID_ARGUMENT;
    uint32_t n = e->size - data_offset;
    if (n > data_length)
        n = data_length;
    if (n)
        memcpy(p_data, e->data + data_offset, n);
    *p_data_length = n;
    return PSA_SUCCESS;
}

psa_status_t psa_its_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info)
{
    const struct its_entry *e = its_find(uid);
    if (!e)
        return PSA_ERROR_DOES_NOT_EXIST;
    p_info->size = e->size;
    p_info->flags = e->flags;
    return PSA_SUCCESS;
}

psa_status_t psa_its_remove(psa_storage_uid_t uid)
{
    struct its_entry *e = its_find(uid);
    if (!e)
        return PSA_ERROR_DOES_NOT_EXIST;
    if (e->flags & PSA_STORAGE_FLAG_WRITE_ONCE)
        return PSA_ERROR_NOT_PERMITTED;
    memset(e, 0, sizeof *e);
    return PSA_SUCCESS;
}

/* ---------------------------------------------------- secure element ---- */

/* Registration (PSA_KEY_CREATION_REGISTER) of an existing keyd key only:
 * the element cannot create, import or generate keys. */
static psa_status_t se_validate_slot(psa_drv_se_context_t *drv, void *persistent, const psa_key_attributes_t *attr,
                                     psa_key_creation_method_t method, psa_key_slot_number_t slot)
{
    (void)drv;
    (void)persistent;
    (void)attr;
    if (method != PSA_KEY_CREATION_REGISTER)
        return PSA_ERROR_NOT_SUPPORTED;
    return slot < TLS_PSA_MAX_KEYS ? PSA_SUCCESS : PSA_ERROR_INVALID_ARGUMENT;
}

static psa_status_t se_destroy(psa_drv_se_context_t *drv, void *persistent, psa_key_slot_number_t slot)
{
    (void)drv;
    (void)persistent;
    (void)slot;
    return PSA_SUCCESS; /* forgetting a registration leaves keyd's key alone */
}

static mbedtls_md_type_t md_of_psa(psa_algorithm_t hash)
{
    switch (hash) {
    case PSA_ALG_SHA_256: return MBEDTLS_MD_SHA256;
    case PSA_ALG_SHA_384: return MBEDTLS_MD_SHA384;
    case PSA_ALG_SHA_512: return MBEDTLS_MD_SHA512;
    }
    return MBEDTLS_MD_NONE;
}

static psa_status_t se_sign(psa_drv_se_context_t *drv, psa_key_slot_number_t slot, psa_algorithm_t alg,
                            const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t sig_size, size_t *sig_len)
{
    (void)drv;
    *sig_len = 0;
    if (slot >= TLS_PSA_MAX_KEYS || !P.bits[slot])
        return PSA_ERROR_INVALID_HANDLE;
    bool pss = PSA_ALG_IS_RSA_PSS(alg);
    bool ecdsa = PSA_ALG_IS_ECDSA(alg);
    if (ecdsa != P.is_ec[slot] || (!ecdsa && !pss && !PSA_ALG_IS_RSA_PKCS1V15_SIGN(alg)))
        return PSA_ERROR_NOT_SUPPORTED;
    mbedtls_md_type_t md = md_of_psa(PSA_ALG_SIGN_GET_HASH(alg));
    if (md == MBEDTLS_MD_NONE)
        return PSA_ERROR_NOT_SUPPORTED;
    if (!P.signer.sign_now)
        return PSA_ERROR_BAD_STATE;
    uint8_t out[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t n = 0;
    /* The signer's own memory is not the connection's (its account is
     * current: this runs inside mbedtls_ssl_handshake). */
    struct tls_mem_account *prev = tls_mem_enter(NULL);
    int r = P.signer.sign_now(P.signer.ctx, (uint32_t)slot, pss, md, hash, hash_len, out, &n, sizeof out);
    tls_mem_leave(prev);
    if (r != TLS_OK || n == 0 || n > sizeof out) {
        P.stats.sign_failed++;
        return PSA_ERROR_HARDWARE_FAILURE;
    }
    if (ecdsa) {
        /* keyd answers DER (ECDSA-Sig-Value); PSA's form is r || s. */
        if (mbedtls_ecdsa_der_to_raw(P.bits[slot], out, n, sig, sig_size, sig_len) != 0) {
            P.stats.sign_failed++;
            return PSA_ERROR_CORRUPTION_DETECTED;
        }
    } else {
        if (n > sig_size) {
            P.stats.sign_failed++;
            return PSA_ERROR_BUFFER_TOO_SMALL;
        }
        memcpy(sig, out, n);
        *sig_len = n;
    }
    P.stats.signed_ok++;
    return PSA_SUCCESS;
}

static const psa_drv_se_key_management_t SE_KEYS = {
    .p_validate_slot_number = se_validate_slot,
    .p_destroy = se_destroy,
};

static const psa_drv_se_asymmetric_t SE_ASYM = {
    .p_sign = se_sign,
};

static const psa_drv_se_t SE_DRIVER = {
    .hal_version = PSA_DRV_SE_HAL_VERSION,
    .persistent_data_size = 0,
    .key_management = &SE_KEYS,
    .asymmetric = &SE_ASYM,
};

/* --------------------------------------------------------------- API ---- */

int tls_psa_init(int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    P.f_rng = f_rng;
    P.p_rng = p_rng;
    if (P.ready)
        return TLS_PSA_OK;
    psa_status_t st = psa_register_se_driver(TLS_PSA_SE_LOCATION, &SE_DRIVER);
    if (st != PSA_SUCCESS && st != PSA_ERROR_ALREADY_EXISTS)
        return TLS_PSA_E_INIT;
    if (psa_crypto_init() != PSA_SUCCESS)
        return TLS_PSA_E_INIT;
    P.ready = true;
    return TLS_PSA_OK;
}

void tls_psa_bind_signer(const struct tls_signer *s) { P.signer = *s; }

struct tls_psa_stats tls_psa_stats(void) { return P.stats; }

/* The PSA key id under which keyd's key KEY_ID is registered. */
static mbedtls_svc_key_id_t psa_id_of(uint32_t key_id)
{
    return mbedtls_svc_key_id_make(0, PSA_KEY_ID_USER_MIN + key_id);
}

int tls_psa_opaque_key(uint32_t key_id, const mbedtls_pk_context *pub, mbedtls_pk_context *out)
{
    if (!P.ready || key_id >= TLS_PSA_MAX_KEYS)
        return TLS_PSA_E_KEY;
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    unsigned bits = (unsigned)mbedtls_pk_get_bitlen(pub);
    bool ec;
    switch (mbedtls_pk_get_type(pub)) {
    case MBEDTLS_PK_RSA:
        ec = false;
        psa_set_key_type(&a, PSA_KEY_TYPE_RSA_KEY_PAIR);
        psa_set_key_algorithm(&a, PSA_ALG_RSA_PSS(PSA_ALG_ANY_HASH));
        psa_set_key_enrollment_algorithm(&a, PSA_ALG_RSA_PKCS1V15_SIGN(PSA_ALG_ANY_HASH));
        break;
    case MBEDTLS_PK_ECKEY:
    case MBEDTLS_PK_ECDSA: {
        mbedtls_ecp_group_id g = mbedtls_pk_get_ec_group_id(pub);
        if (g != MBEDTLS_ECP_DP_SECP256R1 && g != MBEDTLS_ECP_DP_SECP384R1)
            return TLS_PSA_E_KEY;
        ec = true;
        psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
        psa_set_key_algorithm(&a, PSA_ALG_ECDSA(PSA_ALG_ANY_HASH));
        break;
    }
    default: return TLS_PSA_E_KEY;
    }
    if (P.bits[key_id] && (P.bits[key_id] != bits || P.is_ec[key_id] != ec))
        return TLS_PSA_E_KEY; /* one keyd key, two different public keys: a caller's bug */
    mbedtls_svc_key_id_t id = psa_id_of(key_id);
    if (!P.bits[key_id]) {
        psa_set_key_bits(&a, bits);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_HASH);
        psa_set_key_id(&a, id); /* also makes the key persistent (registration needs that) */
        psa_set_key_lifetime(
            &a, PSA_KEY_LIFETIME_FROM_PERSISTENCE_AND_LOCATION(PSA_KEY_PERSISTENCE_DEFAULT, TLS_PSA_SE_LOCATION));
        psa_set_key_slot_number(&a, key_id);
        psa_status_t st = mbedtls_psa_register_se_key(&a);
        psa_reset_key_attributes(&a);
        if (st != PSA_SUCCESS && st != PSA_ERROR_ALREADY_EXISTS)
            return TLS_PSA_E_PSA;
        P.bits[key_id] = bits;
        P.is_ec[key_id] = ec;
    }
    return mbedtls_pk_setup_opaque(out, id) == 0 ? TLS_PSA_OK : TLS_PSA_E_PSA;
}
