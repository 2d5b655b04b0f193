/*
 * rsp/chain.h - certificate paths of SGP.22 v2 and v3: trust anchors and the
 * eUICC chain with its intermediates.
 *
 * Shapes accepted (SGP.26 v3 variants; CI = a trust anchor of the store):
 *   O, Ov3:  CI -> EUM -> eUICC
 *   A:       CI -> EUM -> EUM sub-CA -> eUICC
 *   B:       CI -> CI sub-CA -> EUM -> eUICC
 *   C:       CI -> CI sub-CA -> EUM -> EUM sub-CA -> eUICC
 * Policies are matched exactly per role, v2 or v3 OID:
 *   CI 2.23.146.1.2.1.0; CI sub-CA ...1.0.0 (v3 only); EUM ...1.2 (v2) or
 *   ...1.0.0.0 (v3); EUM sub-CA ...1.0.0.0.0 (v3 only); eUICC ...1.1 (v2) or
 *   ...1.0.0.0.0.0 (v3).
 * The v3 OIDs follow the id-rspRole tree as published in third-party copies
 * of SGP.22 v3 / SGP.26 v3 (not checked against the GSMA text; see
 * docs/pki.md).
 *
 * Thread safety and ownership as rsp/cert.h.
 */
#ifndef RSP_CHAIN_H
#define RSP_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>

#include "rsp/cert.h"

/* v3 role policies besides those in rsp/cert.h */
#define RSP_OID_ROLE_CI_SUBCA "2.23.146.1.2.1.0.0"
#define RSP_OID_ROLE_EUM_SUBCA "2.23.146.1.2.1.0.0.0.0"
#define RSP_OID_ROLE_EUICC_V3 "2.23.146.1.2.1.0.0.0.0.0"
#define RSP_OID_ROLE_DP_SUBCA "2.23.146.1.2.1.0.0.1"
#define RSP_OID_ROLE_DP_TLS_V3 "2.23.146.1.2.1.0.0.1.0"
#define RSP_OID_ROLE_DP_AUTH_V3 "2.23.146.1.2.1.0.0.1.1"
#define RSP_OID_ROLE_DP_PB_V3 "2.23.146.1.2.1.0.0.1.2"
#define RSP_OID_ROLE_DS_SUBCA "2.23.146.1.2.1.0.0.2"
#define RSP_OID_ROLE_DS_TLS_V3 "2.23.146.1.2.1.0.0.2.0"
#define RSP_OID_ROLE_DS_AUTH_V3 "2.23.146.1.2.1.0.0.2.1"

/* Intermediates an eUICC may send: nextCertInChain plus otherCertsInChain. */
#define RSP_CHAIN_MAX_SENT 8
/* CA certificates between the CI and the eUICC (CI sub-CA, EUM, EUM sub-CA). */
#define RSP_CHAIN_MAX_DEPTH 3

/* A DER certificate as received (borrowed). */
typedef struct rsp_der {
    const uint8_t *p;
    size_t len;
} rsp_der;

/*
 * Why a certificate cannot be a trust anchor at time now, or NULL: it must be
 * self-signed (issuer = subject, AKI absent or equal to its SKI, an
 * ecdsa-with-SHA256 signature by its own key), X.509 v3 with no unknown
 * critical extension, basicConstraints CA:TRUE, keyUsage keyCertSign, the
 * id-rspRole-ci policy, an SKI of at most RSP_SKI_MAX bytes, a P-256 or
 * brainpoolP256r1 key, and valid at now.  A sub-CA is never an anchor.
 * rsp_ci_store_add() applies this check at the current time.
 */
const char *rsp_ci_anchor_problem(X509 *ci, time_t now);

/*
 * Verifies an eUICC certificate with the intermediates it was sent with:
 * chain[0] is the certificate that issued the eUICC's (v2 eumCertificate, v3
 * nextCertInChain), chain[1..n) the otherCertsInChain in any order (extra
 * certificates that are not on the path are ignored; at most
 * RSP_CHAIN_MAX_SENT).  The path runs from chain[0] up by AKI = SKI to a CI
 * of the store, which must be the CI chosen in InitiateAuthentication when
 * ci_ski is given.  Codes:
 *   8.11.1/3.9  the path ends at no CI of the store, or at another CI than
 *               the chosen one, or the CI has expired since it was loaded;
 *   8.1.2/6.3   an intermediate (EUM, EUM sub-CA, CI sub-CA) expired or not yet valid;
 *   8.1.2/6.1   an intermediate that is malformed, in the wrong place (see the
 *               shapes above), with the wrong policy, keyUsage without
 *               keyCertSign, not a CA, a pathLen below the CAs under it, no
 *               SKI/AKI, another curve, a bad signature, a path too deep; an
 *               EUM without any EID range;
 *   8.1.3/6.3, 8.1.3/6.1  the eUICC certificate (rsp_verify_euicc_chain), or
 *               an EID outside the range of any level that carries one
 *               (nameConstraints serialNumber or the IIN list).
 * cache (may be NULL) holds verified paths keyed by the SHA-256 of every
 * sent intermediate in order with the chosen CI; a hit rechecks each
 * certificate's dates and that the same CI is still in the store.
 * On RSP_OK fills out (rsp_euicc_identity_clear); on failure it is zeroed.
 */
rsp_status rsp_verify_euicc_path(const rsp_ci_store *cis, rsp_eum_cache *cache, const uint8_t *ci_ski,
                                 size_t ci_ski_len, const rsp_der *chain, size_t nchain,
                                 const uint8_t *euicc_der, size_t euicc_len, time_t now,
                                 rsp_euicc_identity *out);

/*
 * A server certificate (role_oid: one of the v2 RSP_OID_ROLE_D[PS]_* of
 * rsp/cert.h; its v3 OID is accepted too) with the intermediates its holder
 * sends (inter may be NULL when n is 0): above it at most an SM-DP+ / SM-DS
 * sub-CA of its family (...1.0.0.1 / ...1.0.0.2), then at most a CI sub-CA
 * (...1.0.0), then a CI of the store; every CA valid, a CA with keyCertSign
 * and a pathLen admitting what is below, every signature checked.  The leaf as
 * rsp_verify_server_cert.  0 and (optionally) its key (the caller's), or -1.
 */
int rsp_verify_server_chain(const rsp_ci_store *cis, X509 *cert, X509 *const *inter, size_t n,
                            const char *role_oid, time_t now, EVP_PKEY **pub_out);

/*
 * The rest of a server credential file: after the certificate cert (read from
 * cert_path by rsp_load_cert), PEM files may hold its intermediates, upward.
 * Verifies cert with them for role_oid (rsp_verify_server_chain) and gives the
 * intermediates as the DER of a SEQUENCE OF Certificate, to send as
 * otherCertsInChain (*others NULL when there are none; free()), and the SKI of
 * the CI the chain ends at (borrowed from the store).  0 / -1
 * (rsp_cert_last_reason says why).
 */
int rsp_server_cred_chain(const rsp_ci_store *cis, const char *cert_path, X509 *cert, const char *role_oid,
                          time_t now, uint8_t **others, size_t *others_len, const uint8_t **ci_ski,
                          size_t *ci_ski_len);

#endif
