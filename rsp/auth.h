/*
 * rsp/auth.h - the server side of SGP.22 common mutual authentication, shared
 * by the SM-DS (ES11) and the SM-DP+ (ES9+).
 *
 *   InitiateAuthentication: rsp_auth_choose() picks the CI and the server's
 *   CERT.XXauth from EUICCInfo1; rsp_auth_server_signed1() builds and signs
 *   ServerSigned1; rsp_auth_ci_pkid() writes euiccCiPKIdToBeUsed.
 *   AuthenticateClient: rsp_auth_open() checks the stateless transactionId,
 *   decodes the AuthenticateServerResponse and consumes the transaction;
 *   rsp_auth_verify() runs the certificate and signature checks of rsp-notes
 *   section 2 on the raw euiccSigned1 as received.
 *
 * The two services differ only in their status codes for the address and
 * CI checks (8.9.x for the SM-DS, 8.8.x for the SM-DP+): those come back as
 * RSP_AUTH_* outcomes or are passed in, everything else is a shared rsp_status.
 *
 * Ownership: nothing is kept between calls.  Output pointers point into the
 * caller's buffers or arena; the identity filled by rsp_auth_verify() owns
 * its key and certificate (rsp_euicc_identity_clear).  Thread safety: as
 * safe as the CI store (read-only) and EUM cache (locks).
 */
#ifndef RSP_AUTH_H
#define RSP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>

#include "asn1/sgp22.h"
#include "rsp/arena.h"
#include "rsp/cert.h"
#include "rsp/chain.h"
#include "rsp/sig.h"
#include "rsp/status.h"
#include "rsp/txn.h"

#define RSP_AUTH_SIG_TLV_LEN (3 + RSP_SIG_LEN) /* 5F37 40 r||s */

/* The issuing CI of one of the server's CERT.XXauth certificates. */
typedef struct rsp_auth_cred_ci {
    const uint8_t *ski; /* SKI of the CI (the certificate's AKI) */
    size_t len;
} rsp_auth_cred_ci;

enum {
    RSP_AUTH_CHOSEN = 0,
    RSP_AUTH_NO_SIGNING_CI = 1, /* no CI of euiccCiPKIdListForSigning(V3) is trusted: x.x.2/3.1 */
    RSP_AUTH_NO_CREDENTIAL = 2, /* no credential under a CI the eUICC verifies: x.x.4/3.7 */
};

/*
 * Picks the CI whose index goes into the transaction and the credential to
 * sign ServerSigned1 with.  Candidates are the trusted CIs of the signing
 * lists (v2 list, then v3), in the eUICC's order; a credential issued by a
 * candidate CI and listed for verification wins (one PKI end to end), else any
 * credential whose CI the eUICC verifies, with the first candidate as the CI.
 * Returns RSP_AUTH_CHOSEN with *ci_index (store index) and *cred (index into
 * creds), or RSP_AUTH_NO_SIGNING_CI / RSP_AUTH_NO_CREDENTIAL.
 */
int rsp_auth_choose(const rsp_ci_store *cis, const sgp22_euicc_info1 *info, const rsp_auth_cred_ci *creds,
                    size_t ncreds, int *ci_index, size_t *cred);

/*
 * ServerSigned1 {[0] tid, [1] euiccChallenge, [3] address, [4] serverChallenge}
 * in DER (copied into the arena: *der, *der_len) and serverSignature1 over it
 * with key as the 5F37 TLV.  0, or -1 on encoding, memory or signing failure.
 */
int rsp_auth_server_signed1(rsp_arena *a, const uint8_t *tid, size_t tid_len,
                            const uint8_t euicc_challenge[SGP22_CHALLENGE_LEN], const char *address,
                            const uint8_t server_challenge[RSP_TXN_CHALLENGE_LEN], EVP_PKEY *key,
                            const uint8_t **der, size_t *der_len, uint8_t sig_tlv[RSP_AUTH_SIG_TLV_LEN]);

/* euiccCiPKIdToBeUsed: the SubjectKeyIdentifier TLV 04 len ski of CI ci_index,
 * in the arena.  0 / -1. */
int rsp_auth_ci_pkid(rsp_arena *a, const rsp_ci_store *cis, int ci_index, const uint8_t **out, size_t *len);

/*
 * First half of AuthenticateClient: checks the transactionId (format, key,
 * tag, expiry within now .. now + ttl: RSP_ST_TRANSACTION_UNKNOWN) before
 * anything else, then decodes the AuthenticateServerResponse into *resp
 * (pointing into response; RSP_ST_INVALID_FIELD); an authenticateResponseError
 * from the eUICC is RSP_ST_INVALID_FIELD.  Consumes nothing: the caller marks
 * the transaction used (rsp/replay.h) once every check passed.  On RSP_OK,
 * *info and challenge hold what the transaction carries.  *detail (never NULL
 * after the call) says why for logs.
 */
rsp_status rsp_auth_open(const rsp_txn_keyring *kr, uint32_t ttl, const uint8_t *tid, size_t tid_len,
                         const uint8_t *response, size_t response_len, time_t now, rsp_txn_info *info,
                         uint8_t challenge[RSP_TXN_CHALLENGE_LEN], sgp22_auth_server_resp *resp,
                         const char **detail);

/*
 * Second half, on the authenticateResponseOk of rsp_auth_open():
 *   the CI chosen at InitiateAuthentication (info->ci_index) still in the
 *   store, the path from the eUICC up through eumCertificate (nextCertInChain)
 *   and otherCertsInChain ending at it (8.11.1/3.9), with validity, roles,
 *   path lengths and EID ranges (8.1.2/x, 8.1.3/x: rsp_verify_euicc_path);
 *   euiccSignature1 over the received euiccSigned1 bytes (8.1/6.1); euiccSigned1.transactionId equal to tid
 * (8.10.1/3.9: an id this server never issued fails here); serverChallenge (8.1/6.1); serverAddress equal to
 * address ignoring case (address_status). On RSP_OK fills *id (release with rsp_euicc_identity_clear); on
 * failure *id is zeroed.  detail_buf (cap bytes) receives the reason for logs; *detail points to it or to
 * static text.
 */
rsp_status rsp_auth_verify(const rsp_ci_store *cis, rsp_eum_cache *cache, const rsp_txn_info *info,
                           const uint8_t challenge[RSP_TXN_CHALLENGE_LEN], const uint8_t *tid, size_t tid_len,
                           const sgp22_auth_resp_ok *ok, const char *address, rsp_status address_status,
                           time_t now, rsp_euicc_identity *id, char *detail_buf, size_t cap,
                           const char **detail);

/*
 * The SVN check of InitiateAuthentication, one rule for both services: the
 * eUICC's range of SGP.22 versions [svn (v3: lowestSvn), highestSvn (v3, when
 * present; else svn)] must meet the versions served here, 2.x and 3.x.  A
 * range whose highest version is below its lowest is refused.  The caller
 * answers 8.9.3/3.1 (SM-DS) or 8.8.3/3.1 (SM-DP+) when this is false.
 */
#define RSP_AUTH_SVN_MIN_MAJOR 2
#define RSP_AUTH_SVN_MAX_MAJOR 3
bool rsp_auth_svn_supported(const sgp22_euicc_info1 *info);

/* The intermediates an eUICC sent (nextCertInChain / eumCertificate, then the
 * elements of a decoded otherCertsInChain list) as rsp_verify_euicc_path()
 * takes them; returns their number, 0 when next is NULL or they are more than
 * RSP_CHAIN_MAX_SENT (refuse with 8.1.2/6.1). */
size_t rsp_auth_chain_of(const uint8_t *next, size_t next_len, const sgp22_list *others,
                         rsp_der out[RSP_CHAIN_MAX_SENT]);

/* True if len bytes at addr equal the NUL-terminated name, ignoring ASCII case,
 * alone or followed by the default HTTPS port (":443"): the same server. */
bool rsp_auth_same_address(const char *name, const uint8_t *addr, size_t len);

#endif
