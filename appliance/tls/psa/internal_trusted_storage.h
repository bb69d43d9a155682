/*
 * psa/internal_trusted_storage.h - the PSA Internal Trusted Storage API
 * (PSA Certified Storage API 1.0, section 5.2: psa_its_*), as Mbed TLS's
 * PSA storage (psa_crypto_storage.c) calls it when the platform provides
 * the storage.  Keel's is tls_its.c: a small table in memory.
 *
 * What it holds in Keel: for each key that lives in keyd (the secure
 * element of tls_keyd_se.c), PSA's record of its registration (type,
 * bits, policy, and keyd's key id as the SE slot number), and PSA's
 * transaction record while a registration is under way.  Never key
 * material: keyd's keys never leave keyd.  Nothing needs to outlive the
 * process: keys are registered again at every start.
 */
#ifndef KEEL_PSA_INTERNAL_TRUSTED_STORAGE_H
#define KEEL_PSA_INTERNAL_TRUSTED_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "psa/error.h"

typedef uint64_t psa_storage_uid_t;
typedef uint32_t psa_storage_create_flags_t;

#define PSA_STORAGE_FLAG_NONE       0u
#define PSA_STORAGE_FLAG_WRITE_ONCE (1u << 0) /* the entry cannot change or go */

struct psa_storage_info_t {
    uint32_t size;                    /* bytes stored under the uid */
    psa_storage_create_flags_t flags; /* as given to psa_its_set */
};

/* Stores DATA_LENGTH bytes under UID, replacing what was there.
 * PSA_SUCCESS, PSA_ERROR_NOT_PERMITTED (a WRITE_ONCE entry),
 * PSA_ERROR_NOT_SUPPORTED (unknown flags), PSA_ERROR_INSUFFICIENT_STORAGE,
 * PSA_ERROR_INVALID_ARGUMENT (NULL data with a length). */
psa_status_t psa_its_set(psa_storage_uid_t uid, uint32_t data_length, const void *p_data,
                         psa_storage_create_flags_t create_flags);

/* Copies up to DATA_LENGTH bytes from DATA_OFFSET of UID's entry:
 * PSA_SUCCESS (*P_DATA_LENGTH set), PSA_ERROR_DOES_NOT_EXIST,
 * PSA_ERROR_INVALID_ARGUMENT (offset beyond the entry). */
psa_status_t psa_its_get(psa_storage_uid_t uid, uint32_t data_offset, uint32_t data_length, void *p_data,
                         size_t *p_data_length);

/* PSA_SUCCESS with the entry's size and flags, or PSA_ERROR_DOES_NOT_EXIST. */
psa_status_t psa_its_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info);

/* PSA_SUCCESS, PSA_ERROR_DOES_NOT_EXIST or PSA_ERROR_NOT_PERMITTED (WRITE_ONCE). */
psa_status_t psa_its_remove(psa_storage_uid_t uid);

#endif
