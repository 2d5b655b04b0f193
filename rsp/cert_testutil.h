/*
 * rsp/cert_testutil.h - test-only minting of GSMA-shaped certificates.
 *
 * Builds CI, EUM, eUICC and TLS certificates with OpenSSL so tests, fuzz seeds
 * and benchmarks do not need the SGP.26 files.  Every function returns new
 * objects owned by the caller (X509_free / EVP_PKEY_free / free) or NULL.
 * Not for production: keys and serials are chosen for tests.
 */
#ifndef RSP_CERT_TESTUTIL_H
#define RSP_CERT_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* A fresh key on "P-256" or "brainpoolP256r1". */
EVP_PKEY *ct_key(const char *curve);
/* A fixed P-256 key (embedded test constant): the CI of the fuzz target and
 * of its seed files, which must agree across runs. */
EVP_PKEY *ct_fixed_ci_key(void);

typedef struct ct_opts {
    const char *cn;            /* subject CN (required) */
    const char *o;             /* subject O, NULL for none */
    const char *serial_number; /* subject serialNumber (the EID), NULL for none */
    time_t not_before, not_after;
    const char *policy;     /* certificatePolicies OID (critical), NULL for none */
    const char *ku;         /* keyUsage conf value, e.g. "critical,keyCertSign"; NULL for none */
    const char *bc;         /* basicConstraints conf value, NULL for none */
    const char *eku;        /* extendedKeyUsage conf value, NULL for none */
    const char *san;        /* subjectAltName conf value, NULL for none */
    const char *nc_prefix;  /* nameConstraints permitted O=<o>, serialNumber=<prefix> */
    const char *const *iin; /* IIN-list extension entries, NULL-terminated; NULL for none */
    bool no_ski, no_aki;
    long serial; /* certificate serial number, > 0 */
} ct_opts;

/* Issues a certificate for subject_key signed by issuer_key; issuer NULL
 * makes it self-issued (issuer name = subject, AKI = own SKI). */
X509 *ct_issue(const ct_opts *o, EVP_PKEY *subject_key, X509 *issuer, EVP_PKEY *issuer_key);

/* Default profiles; fields can be changed before ct_issue. */
ct_opts ct_ci_opts(time_t now);
ct_opts ct_eum_opts(time_t now, const char *prefix);
ct_opts ct_euicc_opts(time_t now, const char *eid);
/* A TLS client/server certificate with the given role policy and SAN. */
ct_opts ct_tls_opts(time_t now, const char *policy, const char *san);

typedef struct ct_chain {
    EVP_PKEY *ci_key, *eum_key, *euicc_key;
    X509 *ci, *eum, *euicc;
} ct_chain;

/* CI -> EUM -> eUICC on curve.  The EUM admits EIDs starting with prefix
 * through nameConstraints, or through the IIN-list extension when iin_list.
 * Validity: a year before now to ten years after.  0 / -1. */
int ct_chain_make(ct_chain *c, const char *curve, bool iin_list, const char *prefix, const char *eid,
                  time_t now);
void ct_chain_free(ct_chain *c);

/* DER of a certificate (malloc'd). */
uint8_t *ct_der(X509 *x, size_t *len);

#endif
