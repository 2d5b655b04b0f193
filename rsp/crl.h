/*
 * rsp/crl.h - certificate revocation lists for the eUICC chain.
 *
 * A CRL set belongs to a CI store (rsp_ci_store_set_crls) and is read-only
 * once attached, so a store snapshot carries its CRLs and a reload (SIGHUP)
 * replaces both.  A CRL is trusted only if
 *   - its issuer is a CI of the store and it verifies with that CI's key
 *     (checked when loaded), or its issuer is a CA certificate on a verified
 *     path (EUM, EUM sub-CA, CI sub-CA; checked when used, with that key), and
 *   - now lies within [thisUpdate, nextUpdate).
 * A CRL that names a CA of a path but is not trusted (bad signature, signed by
 * another CI, stale) leaves the revocation status of the certificates that CA
 * issued unknown; the policy decides: RSP_CRL_REFUSE refuses the chain
 * (8.1.2/6.1), RSP_CRL_WARN ignores that CRL, logs one warning per CRL and
 * counts every such use (rsp_crl_untrusted_total).  A certificate listed by a
 * trusted CRL is revoked: 8.1.2/6.3 for an EUM or sub-CA, 8.1.3/6.3 for the
 * eUICC (the codes osmo-smdpp's stricter branch uses; not checked against the
 * SGP.22 text).
 * Ownership: the set owns its CRLs; a store given a set owns it.
 */
#ifndef RSP_CRL_H
#define RSP_CRL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>

#include "rsp/cert.h"

typedef enum rsp_crl_policy { RSP_CRL_REFUSE = 0, RSP_CRL_WARN = 1 } rsp_crl_policy;

/* "refuse" / "warn".  0 / -1. */
int rsp_crl_policy_parse(const char *s, rsp_crl_policy *p);

typedef struct rsp_crl_set rsp_crl_set;

rsp_crl_set *rsp_crl_set_new(rsp_crl_policy policy);
void rsp_crl_set_free(rsp_crl_set *s);
/*
 * Loads every CRL of a file (DER, or PEM with one or more X509 CRL blocks).
 * A CRL whose issuer is a CI of cis must verify with its key: if it does not,
 * the file is refused under RSP_CRL_REFUSE (-1), and kept as untrusted under
 * RSP_CRL_WARN.  A CRL of another issuer is kept for the path CAs.
 * 0 / -1 (rsp_cert_last_reason says why).
 */
int rsp_crl_set_add_file(rsp_crl_set *s, const rsp_ci_store *cis, const char *path);
size_t rsp_crl_set_count(const rsp_crl_set *s);
/* Attaches s to the store (which then owns it; NULL detaches and frees). */
void rsp_ci_store_set_crls(rsp_ci_store *cis, rsp_crl_set *s);

/* Loads the files into a new set with policy and attaches it to cis; with no
 * files nothing is attached.  0 / -1 (rsp_cert_last_reason says why; cis
 * keeps no CRL then). */
int rsp_ci_store_load_crls(rsp_ci_store *cis, const char *const *files, size_t n, rsp_crl_policy policy);

/* Uses of an untrusted or stale CRL since the process started (warn and refuse alike). */
uint64_t rsp_crl_untrusted_total(void);

/* Status of the certificate with this serial issued by issuer:
 * RSP_CRL_GOOD, RSP_CRL_REVOKED, or RSP_CRL_UNKNOWN (an untrusted CRL under
 * RSP_CRL_REFUSE).  For rsp/chain.c. */
enum { RSP_CRL_GOOD = 0, RSP_CRL_REVOKED = 1, RSP_CRL_UNKNOWN = 2 };
int rsp_crl_status(const rsp_crl_set *s, X509 *issuer, const ASN1_INTEGER *serial, time_t now);
/* True if some CRL of the set names issuer's subject as its issuer. */
bool rsp_crl_covers(const rsp_crl_set *s, X509 *issuer);

#endif
