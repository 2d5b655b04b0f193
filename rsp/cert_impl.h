/*
 * rsp/cert_impl.h - what rsp/cert.c (single certificates, the eUICC
 * certificate read in place, server and TLS certificates) shares with
 * rsp/chain.c (certificate paths, trust anchors, the verified-chain cache).
 * Private to the rsp:cert library.
 */
#ifndef RSP_CERT_IMPL_H
#define RSP_CERT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>

#include "rsp/cert.h"

/* Sets this thread's failure reason (rsp_cert_last_reason); reset clears it. */
__attribute__((format(printf, 1, 2))) void rsp_cert_why(const char *fmt, ...);
void rsp_cert_why_reset(void);

/* 2.23.146.1.2.1 (id-rspRole) as DER content octets. */
#define RSP_ROLE_ARC 0x67, 0x81, 0x12, 0x01, 0x02, 0x01

/* A policy rule: the exact OID (DER content octets), or (under) any OID below it. */
typedef struct rsp_oid_rule {
    const uint8_t *b;
    size_t n;
    bool under;
} rsp_oid_rule;

#define RSP_RULE(a, u)                                                                                       \
    {                                                                                                        \
        a, sizeof(a), u                                                                                      \
    }

/* Index of the first rule matched by a certificate policy, or -1 (also when
 * the extension is absent, repeated or malformed). */
int rsp_cert_policy_match(X509 *x, const rsp_oid_rule *rules, size_t nrules);

/* One certificate filling der[0..len) exactly, or NULL. */
X509 *rsp_cert_parse_exact(const uint8_t *der, size_t len);

enum { RSP_CERT_VALID = 0, RSP_CERT_NOT_YET = -1, RSP_CERT_EXPIRED = 1, RSP_CERT_BAD_TIME = 2 };
int rsp_cert_validity(X509 *x, time_t now);
const char *rsp_cert_validity_text(int v);

/* Not v3, malformed or duplicate extension, unknown critical extension; NULL if none. */
const char *rsp_cert_ext_problem(X509 *x);
bool rsp_cert_ext_critical(X509 *x, int nid);
bool rsp_cert_keyid(const ASN1_OCTET_STRING *s, const uint8_t **b, size_t *n);
bool rsp_cert_same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* issuer signed x (names, ecdsa-with-SHA256, curve, signature); NULL or why not. */
const char *rsp_cert_signed_by(X509 *x, X509 *issuer);

/* The CI in the store that issued x: by AKI when x has one, else by name. */
X509 *rsp_cert_issuing_ci(const rsp_ci_store *cis, X509 *x);
/* Validity, extensions, keyUsage digitalSignature, not a CA, curve of an end-entity server certificate. */
const char *rsp_cert_leaf_problem(X509 *x, time_t now);

/* The path of a server certificate above leaf (rsp/chain.c): through at most
 * a role sub-CA (DP or DS family, RSP_PEER_DP / RSP_PEER_DS) and a CI sub-CA
 * found in inter, to a CI of the store; each CA and every signature checked.
 * NULL, or why not (and *unknown_ci when no CI of the store is reached). */
const char *rsp_server_path_problem(const rsp_ci_store *cis, X509 *leaf, X509 *const *inter, size_t n,
                                    int family, time_t now, bool *unknown_ci);

/* EID prefixes a CA certificate permits. */
typedef struct rsp_eid_prefix {
    uint8_t len;
    char d[RSP_EID_LEN];
} rsp_eid_prefix;

typedef struct rsp_prefix_set {
    rsp_eid_prefix *v; /* malloc'd */
    size_t n;
} rsp_prefix_set;

/* nameConstraints directoryName serialNumber values and the IIN-list
 * extension, appended to nc and iin; NULL or what is malformed. */
const char *rsp_cert_eid_ranges(X509 *x, rsp_prefix_set *nc, rsp_prefix_set *iin);
bool rsp_prefix_match(const rsp_prefix_set *s, const char *eid);

/* The certificate that issued an eUICC certificate (fields point into cert). */
typedef struct rsp_cert_issuer {
    X509 *cert;
    const uint8_t *ski;
    size_t ski_len;
    const unsigned char *subject; /* subject DER */
    size_t subject_len;
} rsp_cert_issuer;

/*
 * Checks the eUICC certificate (read in place; see rsp_verify_euicc_chain)
 * against its issuer: everything but the EID range.  On RSP_OK fills id
 * (eid, pub, curve, point).  8.1.3/6.1 or 8.1.3/6.3.
 */
rsp_status rsp_cert_euicc_verify(const rsp_cert_issuer *iss, const uint8_t *der, size_t len, time_t now,
                                 rsp_euicc_identity *id);

#endif
