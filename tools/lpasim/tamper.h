/*
 * tools/lpasim/tamper.h - turns a software eUICC's genuine answers into the
 * faulty (or other-version) answers that negative server tests need.  Test
 * tooling: lpa-sim and the servers never link it.
 *
 * Each function decodes the genuine DER with asn1/sgp22.h, changes only what
 * it is asked to, re-encodes, and signs again with the eUICC's key where the
 * change falls under the eUICC's signature, so the result differs from the
 * genuine answer in exactly the requested respect.
 *
 * Output is appended to a caller-initialised der_writer (the caller finishes
 * and frees it).  Functions return 0, or -1 when the input does not decode as
 * the genuine form or re-encoding or signing fails.
 */
#ifndef LPASIM_TAMPER_H
#define LPASIM_TAMPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "asn1/der.h"

/* Changes to EUICCInfo1 (BF20, not signed). */
typedef struct tamper_info1 {
    bool sign_list_v3;      /* the signing key ids only in euiccCiPKIdListForSigningV3 (B1), as a
                               v3 eUICC may list them; euiccCiPKIdListForSigning left empty */
    bool empty_verify_list; /* euiccCiPKIdListForVerification without any key id */
} tamper_info1;

int tamper_euicc_info1(const uint8_t *info1, size_t len, const tamper_info1 *t, der_writer *out);

/* Changes to an AuthenticateServerResponse (BF38 authenticateResponseOk). */
typedef struct tamper_auth {
    bool bad_signature;         /* flip a bit of euiccSignature1 (not signed again) */
    bool wrong_challenge;       /* euiccSigned1 names another serverChallenge */
    bool wrong_tid;             /* euiccSigned1 names another transactionId */
    const char *signed_address; /* euiccSigned1 names this serverAddress; NULL: unchanged */
} tamper_auth;

/* key: SK.EUICC.ECDSA (euicc_key()), used when euiccSigned1 changes. */
int tamper_auth_server_resp(EVP_PKEY *key, const uint8_t *bf38, size_t len, const tamper_auth *t,
                            der_writer *out);

#endif
