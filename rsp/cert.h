/*
 * rsp/cert.h - SGP.22 certificate rules on OpenSSL 3 primitives.
 *
 * Stock PKIX validation rejects genuine GSMA chains (the EUM name constraint
 * is an EID prefix, certificate policies are critical), so every link is
 * checked here by hand: policy, keyUsage, basicConstraints, validity, AKI/SKI,
 * the signature, and the EID range.
 *
 * Ownership: the store and cache own what is added to them (X509 references
 * are up-ref'd).  Identities returned to the caller own their EVP_PKEY and
 * strings; release them with the matching _clear function.  The eUICC
 * certificate itself is not kept: the identity holds what callers need.
 * Thread safety: a CI store is read-only after loading and may be shared; the
 * EUM cache locks internally.
 * Errors: chain checks return an rsp_status naming the GSMA code.
 */
#ifndef RSP_CERT_H
#define RSP_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>

#include "rsp/sig.h"
#include "rsp/status.h"

#define RSP_SKI_MAX 32
#define RSP_EID_LEN 32

/* GSMA certificate policy OIDs (id-rspRole-*) */
#define RSP_OID_ROLE_CI "2.23.146.1.2.1.0"
#define RSP_OID_ROLE_EUICC "2.23.146.1.2.1.1"
#define RSP_OID_ROLE_EUM "2.23.146.1.2.1.2"
#define RSP_OID_ROLE_DP_TLS "2.23.146.1.2.1.3"
#define RSP_OID_ROLE_DP_AUTH "2.23.146.1.2.1.4"
#define RSP_OID_ROLE_DP_PB "2.23.146.1.2.1.5"
#define RSP_OID_ROLE_DS_TLS "2.23.146.1.2.1.6"
#define RSP_OID_ROLE_DS_AUTH "2.23.146.1.2.1.7"
#define RSP_OID_ROLE_EUM_V3 "2.23.146.1.2.1.0.0.0"
#define RSP_OID_EUM_IIN_LIST "2.23.146.1.2.2.0"

/* ---- CI trust store ---- */
typedef struct rsp_ci_store rsp_ci_store;

rsp_ci_store *rsp_ci_store_new(void);
void rsp_ci_store_free(rsp_ci_store *s);
/* Adds a CI certificate (up-refs it).  It must carry an SKI of at most
 * RSP_SKI_MAX bytes and a P-256 or brainpoolP256r1 key.  Adding the same
 * certificate twice is a no-op; a different certificate with an SKI already
 * present is refused.  0 / -1. */
int rsp_ci_store_add(rsp_ci_store *s, X509 *ci);
/* Loads a CI certificate from a DER or PEM file.  0 / -1. */
int rsp_ci_store_add_file(rsp_ci_store *s, const char *path);
size_t rsp_ci_store_count(const rsp_ci_store *s);
/* i-th CI certificate (borrowed), and its SKI (borrowed bytes). */
X509 *rsp_ci_store_get(const rsp_ci_store *s, size_t i, const uint8_t **ski, size_t *ski_len);
/* Finds a CI by SKI (borrowed), NULL when absent. */
X509 *rsp_ci_store_find(const rsp_ci_store *s, const uint8_t *ski, size_t ski_len);

/* ---- verified-EUM cache (bounded, keyed by SHA-256 of the EUM DER) ---- */
/*
 * Holds EUM certificates that passed every check, keyed by the SHA-256 of
 * their DER and the SKI of the CI they were verified against, with their key
 * and permitted EID ranges; on a hit only the eUICC certificate is verified.
 * Only successes are cached.  A hit still rechecks the EUM validity dates
 * against `now` and that the same CI certificate is in the store passed to the
 * call.  Least recently used entries are evicted beyond `capacity`.
 */
typedef struct rsp_eum_cache rsp_eum_cache;

/* NULL if capacity is 0 or memory runs out. */
rsp_eum_cache *rsp_eum_cache_new(size_t capacity);
void rsp_eum_cache_free(rsp_eum_cache *c);
/* Counters for metrics and benchmarks (each chain verification with a cache
 * counts one hit or one miss). */
void rsp_eum_cache_stats(rsp_eum_cache *c, uint64_t *hits, uint64_t *misses);
/* Number of EUMs held now (never above the capacity). */
size_t rsp_eum_cache_count(rsp_eum_cache *c);

/* ---- eUICC chain: CI -> EUM -> eUICC ---- */
/* An uncompressed EC point on a 256-bit curve: 04 || X || Y. */
#define RSP_EUICC_POINT_LEN 65

typedef struct rsp_euicc_identity {
    char eid[RSP_EID_LEN + 1];          /* 32 digits from the eUICC subject serialNumber */
    EVP_PKEY *pub;                      /* PK.EUICC.ECDSA, owned */
    int curve;                          /* RSP_CURVE_P256 or RSP_CURVE_BP256 (rsp/sig.h) */
    uint8_t point[RSP_EUICC_POINT_LEN]; /* PK.EUICC.ECDSA point, uncompressed: store it with
                                           the curve instead of encoding pub */
} rsp_euicc_identity;

/*
 * Verifies eum_der and euicc_der (raw DER as received).  ci_ski, when not
 * NULL, is the CI chosen in InitiateAuthentication: the EUM's AKI must equal
 * it (RSP_ST_CI_PK_UNKNOWN otherwise); when NULL any CI in the store may be
 * the issuer.  now is the time used for validity checks.  cache may be NULL.
 * On RSP_OK fills out (release with rsp_euicc_identity_clear); on failure
 * out is zeroed, so clearing it is always safe.
 * Codes: EUM 8.1.2/6.1 (invalid), 8.1.2/6.3 (expired or not yet valid:
 * dates are checked first); eUICC 8.1.3/6.1, 8.1.3/6.3; unknown CI 8.11.1/3.9;
 * EID outside the EUM's permitted ranges 8.1.3/6.1.
 *
 * Order of the EUM checks: strict DER (one certificate, no trailing bytes);
 * validity (6.3); AKI present (else 6.1), equal to ci_ski and naming a CI in
 * the store (else 8.11.1/3.9); extensions well formed, no unknown critical
 * one; policy id-rspRole-eum or ...1.2.1.0.0.0; keyUsage critical with
 * keyCertSign; basicConstraints CA:TRUE, pathLen 0 if present; SKI present;
 * key on P-256/brainpoolP256r1; EID ranges; ecdsa-with-SHA256 signature by
 * the CI (all 6.1).  EID ranges come from nameConstraints permittedSubtrees
 * directoryName serialNumber values and/or the IIN-list extension
 * 2.23.146.1.2.2.0 (SEQUENCE OF PrintableString), all treated as EID prefixes;
 * an EUM with neither is refused (8.1.2/6.1), and when it carries both, the
 * EID must match a prefix of each.
 * Then the eUICC, read in place with the DER reader (not d2i_X509): strict
 * DER at every level (definite minimal lengths, minimal INTEGERs, no trailing
 * bytes, DEFAULT values such as critical FALSE absent, BIT STRING padding
 * zero); validity (6.3); extensions: v3, well formed, no duplicate, no unknown
 * critical one; policy id-rspRole-euicc (or below it); keyUsage
 * digitalSignature without keyCertSign, not a CA; subject with O and one
 * serialNumber that is a PrintableString of 32 digits (check digits are not
 * verified); AKI = EUM SKI; key id-ecPublicKey on the named curve P-256 or
 * brainpoolP256r1 with an uncompressed point on it (compressed points and
 * explicit curve parameters are refused); ecdsa-with-SHA256 signature by the
 * EUM over the TBSCertificate as received; EID in range (all 6.1).
 * On success out->pub, out->curve and out->point give PK.EUICC.ECDSA.
 */
rsp_status rsp_verify_euicc_chain(const rsp_ci_store *cis, rsp_eum_cache *cache, const uint8_t *ci_ski,
                                  size_t ci_ski_len, const uint8_t *eum_der, size_t eum_len,
                                  const uint8_t *euicc_der, size_t euicc_len, time_t now,
                                  rsp_euicc_identity *out);
void rsp_euicc_identity_clear(rsp_euicc_identity *id);

/* Human-readable reason for the last failure on this thread (for logs and
 * tools; never sent to clients).  Each verification call resets it to "". */
const char *rsp_cert_last_reason(void);

/* ---- server certificates (device side: CERT.DSauth / CERT.DPauth / DPpb) ---- */
/* Checks a server certificate issued directly by a CI in the store with the
 * given role policy OID (v2, or its v3 counterpart; see rsp/chain.h for
 * certificates under sub-CAs); returns 0 and (optionally) its public key
 * (owned by the caller) or -1.  Also required: validity at now, keyUsage with
 * digitalSignature, not a CA, a P-256/brainpoolP256r1 key, ecdsa-with-SHA256.
 * The CI is found by the certificate's AKI (by issuer name if it has none). */
int rsp_verify_server_cert(const rsp_ci_store *cis, X509 *cert, const char *role_oid, time_t now,
                           EVP_PKEY **pub_out);

/* ---- server-to-server TLS client certificates (CERT.DP.TLS, CERT.DS.TLS) ---- */
enum { RSP_PEER_DP = 1, RSP_PEER_DS = 2 };

typedef struct rsp_peer_identity {
    int role;     /* RSP_PEER_DP or RSP_PEER_DS */
    char oid[64]; /* SAN registeredID, dotted; "" if none */
    char **dns;   /* SAN dNSNames, owned */
    size_t ndns;
} rsp_peer_identity;

/*
 * Checks a TLS client certificate: chain to a CI in the store (the leaf is
 * issued by the CI, or through the intermediates in `chain`: an SM-DP+ /
 * SM-DS sub-CA and/or a CI sub-CA, as rsp_verify_server_chain), role policy
 * DP TLS or DS TLS, v2 or v3 (as allowed by the roles bit mask), EKU
 * clientAuth, validity.  Returns 0 and fills out, or -1.
 * Also required of the leaf: keyUsage digitalSignature, not a CA, a supported
 * curve, ecdsa-with-SHA256.
 * dns holds the SAN dNSNames in order; oid the first SAN registeredID.
 */
int rsp_verify_tls_peer(const rsp_ci_store *cis, X509 *leaf, STACK_OF(X509) * chain, unsigned roles,
                        time_t now, rsp_peer_identity *out);
void rsp_peer_identity_clear(rsp_peer_identity *id);
/* True if the identity names host (case-insensitive, exact: no wildcards) in
 * its SAN dNSNames. */
bool rsp_peer_has_dns(const rsp_peer_identity *id, const char *host);

/* ---- helpers ---- */
/* Reads a certificate (DER or PEM) / private key (PEM or DER) from a file. */
X509 *rsp_load_cert(const char *path);
EVP_PKEY *rsp_load_key(const char *path);
/* Subject key identifier of a certificate (borrowed bytes), 0 / -1. */
int rsp_cert_ski(X509 *cert, const uint8_t **ski, size_t *len);

#endif
