/*
 * tools/pki/pki.h - a test PKI shaped like GSMA SGP.26, minted with OpenSSL 3.
 *
 * Mints the certificates an RSP deployment meets: the CI (root), EUM and
 * eUICC (device chain), CERT.DSauth / CERT.DS.TLS (SM-DS), CERT.DPauth /
 * CERT.DPpb / CERT.DP.TLS (SM-DP+), and an operator CA with an ES2+ client
 * certificate.  Extensions, criticality, subject shapes and SAN forms follow
 * the SGP.26 test certificates; "defect" flags produce deliberately broken
 * variants for negative tests.  Test tooling only: the servers never link it.
 *
 * Ownership: a pki_cred owns one reference to its certificate and key; release
 * it with pki_cred_clear.  Functions taking X509 / EVP_PKEY arguments borrow
 * them.  Returned strings and objects are owned by the caller.
 * Errors: functions return 0 on success and -1 on failure (details are on the
 * OpenSSL error queue and, for argument errors, in pki_last_error()); loaders
 * return NULL on failure.  pki_last_error() is per thread.
 */
#ifndef PKI_H
#define PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define PKI_EID_LEN 32

typedef enum pki_curve {
    PKI_CURVE_NIST = 0,      /* NIST P-256 (prime256v1) */
    PKI_CURVE_BRAINPOOL = 1, /* brainpoolP256r1 */
} pki_curve;

typedef enum pki_kind {
    PKI_CI = 0,          /* self-signed CI, policy 2.23.146.1.2.1.0 */
    PKI_EUM,             /* EUM CA, policy ...1.2, nameConstraints on the EID prefix */
    PKI_EUICC,           /* eUICC, policy ...1.1, subject serialNumber = EID */
    PKI_DS_AUTH,         /* CERT.DSauth.ECDSA, policy ...1.7 */
    PKI_DS_TLS,          /* CERT.DS.TLS, policy ...1.6 */
    PKI_DP_AUTH,         /* CERT.DPauth.ECDSA, policy ...1.4 */
    PKI_DP_PB,           /* CERT.DPpb.ECDSA, policy ...1.5 */
    PKI_DP_TLS,          /* CERT.DP.TLS, policy ...1.3 */
    PKI_OPERATOR_CA,     /* self-signed operator CA (ES2+ client trust) */
    PKI_OPERATOR_CLIENT, /* operator ES2+ TLS client certificate */
    /* SGP.22 v3 sub-CAs (policies of rsp/chain.h; pathLen 0 except the CI sub-CA's, absent) */
    PKI_CI_SUBCA,  /* CI sub-CA, policy ...1.0.0, issued by the CI */
    PKI_EUM_SUBCA, /* EUM sub-CA, policy ...1.0.0.0.0, issued by the EUM, nameConstraints on the prefix */
    PKI_DP_SUBCA,  /* SM-DP+ sub-CA, policy ...1.0.0.1 */
    PKI_DS_SUBCA,  /* SM-DS sub-CA, policy ...1.0.0.2 */
    PKI_KIND__COUNT
} pki_kind;

/* Defect flags (bit mask in pki_opts.defects) for negative tests. */
enum {
    PKI_DEFECT_WRONG_POLICY = 1u << 0,        /* the policy of a neighbouring role (pki_wrong_policy) */
    PKI_DEFECT_NO_POLICY = 1u << 1,           /* no certificatePolicies extension */
    PKI_DEFECT_NO_KEY_USAGE = 1u << 2,        /* no keyUsage extension */
    PKI_DEFECT_KEY_CERT_SIGN = 1u << 3,       /* keyCertSign added to keyUsage (e.g. on an eUICC) */
    PKI_DEFECT_NO_SKI = 1u << 4,              /* no subjectKeyIdentifier */
    PKI_DEFECT_NO_AKI = 1u << 5,              /* no authorityKeyIdentifier */
    PKI_DEFECT_NOT_CA = 1u << 6,              /* CI / EUM / operator CA with basicConstraints CA:FALSE */
    PKI_DEFECT_NO_NAME_CONSTRAINTS = 1u << 7, /* EUM without any EID prefix */
    PKI_DEFECT_IIN_LIST = 1u << 8, /* EUM: IIN-list extension 2.23.146.1.2.2.0 instead of nameConstraints */
    PKI_DEFECT_NO_EID = 1u << 9,   /* eUICC subject without serialNumber */
    PKI_DEFECT_SELF_SIGNED = 1u << 10,   /* signed by its own key, issuer = subject, no AKI */
    PKI_DEFECT_BAD_SIGNATURE = 1u << 11, /* signature value altered after signing */
};

typedef struct pki_opts {
    pki_kind kind;
    pki_curve curve;        /* curve of a generated key (ignored when key is set) */
    EVP_PKEY *key;          /* certify this key instead of generating one (borrowed), or NULL */
    time_t not_before;      /* 0: now - 1 hour */
    time_t not_after;       /* 0: per-kind default (pki_default_lifetime) */
    const char *serial;     /* hex serial number, or NULL for 64 random bits */
    const char *country;    /* subject C, NULL: per-kind default */
    const char *org;        /* subject O, NULL: per-kind default */
    const char *cn;         /* subject CN, NULL: per-kind default (TLS: the fqdn) */
    const char *fqdn;       /* SAN dNSName (TLS kinds and operator client), NULL: per-kind default */
    const char *rid;        /* SAN registeredID (dotted), NULL: per-kind default, "" for none */
    const char *eid;        /* eUICC: 32-digit EID, NULL: PKI_SGP26_EID */
    const char *eid_prefix; /* EUM: permitted EID prefix (digits), NULL: PKI_SGP26_EID_PREFIX */
    const char *policy;     /* dotted policy OID overriding the role's, or NULL */
    bool loopback;          /* server TLS kinds: also SAN DNS:localhost, IP:127.0.0.1 and ::1 */
    bool v3;                /* the SGP.22 v3 role policy (EUM, eUICC, DS/DP kinds) */
    int pathlen;            /* CA kinds: 0 = the kind's default, n > 0 = pathLenConstraint n - 1,
                               -1 = no pathLenConstraint */
    unsigned defects;       /* PKI_DEFECT_* */
} pki_opts;

typedef struct pki_cred {
    X509 *cert;
    EVP_PKEY *key;
} pki_cred;

/* SGP.26 test values, used as defaults. */
#define PKI_SGP26_EID "89049032123451234512345678901235"
#define PKI_SGP26_EID_PREFIX "89049032"
#define PKI_SGP26_EUM_ORG "RSP Test EUM"
#define PKI_DEFAULT_DP_FQDN "testsmdpplus1.example.com"
#define PKI_DEFAULT_DP_RID "2.999.10"
#define PKI_DEFAULT_DS_FQDN "testsmds.example.com"
#define PKI_DEFAULT_DS_RID "2.999.20"
#define PKI_DEFAULT_OPERATOR_FQDN "test.operator.com"

/* Fills o with the defaults for kind (NIST curve, default names and validity). */
void pki_opts_init(pki_opts *o, pki_kind kind);

/*
 * Mints one certificate.  issuer is the signing CA (its certificate and
 * private key); it must be NULL for the self-signed kinds (PKI_CI,
 * PKI_OPERATOR_CA) and is required otherwise.  On success out holds the new
 * certificate and its key (generated, or an extra reference to o->key).
 */
int pki_mint(const pki_opts *o, const pki_cred *issuer, pki_cred *out);
void pki_cred_clear(pki_cred *c);

/* Generates an EC key on the curve (named-curve encoding).  NULL on error. */
EVP_PKEY *pki_keygen(pki_curve curve);
/* Curve of an EC key: 0 and *curve set, or -1 for any other key. */
int pki_key_curve(const EVP_PKEY *key, pki_curve *curve);
/* "nist" / "brainpool"; parse accepts those and "p256" / "brp". */
const char *pki_curve_name(pki_curve curve);
int pki_curve_parse(const char *s, pki_curve *curve);
/* Short kind names used by the CLI: "ci", "eum", "euicc", "dsauth", "dstls", "dpauth",
 * "dppb", "dptls", "operator-ca", "operator-client", "ci-subca", "eum-subca", "dp-subca",
 * "ds-subca". */
const char *pki_kind_name(pki_kind kind);
int pki_kind_parse(const char *s, pki_kind *kind);
/* Defect flag names ("wrong-policy", "no-policy", ...): one name to its flag, 0 if unknown. */
unsigned pki_defect_parse(const char *name);
/* Role policy OID of a kind (NULL for the operator kinds), and the one
 * PKI_DEFECT_WRONG_POLICY uses instead.  The _v3 form gives the v3 OID. */
const char *pki_role_policy(pki_kind kind);
const char *pki_role_policy_v3(pki_kind kind);
const char *pki_wrong_policy(pki_kind kind);
/* Default validity in seconds from notBefore (the eUICC default instead ends
 * at 9999-12-31 23:59:59 UTC, as SGP.26's eUICC certificates run to year 7496). */
time_t pki_default_lifetime(pki_kind kind);

/* ---- EID (SGP.29: 32 digits, ISO 7064 mod 97-10 check digits) ---- */
/* True if eid is 32 decimal digits and the number mod 97 == 1. */
bool pki_eid_valid(const char *eid);
/* From the first 30 digits of in (30 or 32 digits), writes the full EID
 * with its check digits to out.  0 / -1. */
int pki_eid_complete(const char *in, char out[PKI_EID_LEN + 1]);
/* EID = prefix, then n zero-padded to fill 30 digits, then check digits.
 * -1 if prefix is not 1..29 digits or n does not fit. */
int pki_eid_make(const char *prefix, uint64_t n, char out[PKI_EID_LEN + 1]);

/*
 * Whether an EUM certificate admits eid: 1 if eid starts with one of the
 * EUM's prefixes (nameConstraints permitted directoryName serialNumber, or
 * the IIN-list extension), 0 if not, -1 if the EUM names no prefix at all.
 */
int pki_eum_permits_eid(X509 *eum, const char *eid);
/* Copies the first value of a subject attribute (e.g. NID_organizationName)
 * as UTF-8 into buf.  0 / -1 (absent or too long). */
int pki_subject_text(X509 *cert, int nid, char *buf, size_t cap);

/* ---- CRLs ---- */
/* Writes a CRL (PEM, or DER when path ends in .der) issued by issuer, listing
 * the serials of the n certificates, with thisUpdate and nextUpdate (0: absent).
 * 0 / -1. */
int pki_write_crl(const char *path, const pki_cred *issuer, X509 *const *revoked, size_t n,
                  time_t this_update, time_t next_update);

/* ---- files ---- */
/* Certificate as DER / PEM; key as unencrypted PKCS#8 PEM, file mode 0600. */
int pki_write_cert_der(const char *path, X509 *cert);
int pki_write_cert_pem(const char *path, X509 *cert);
int pki_write_key_pem(const char *path, EVP_PKEY *key);
/* Several certificates, in order, into one PEM file (a chain file). */
int pki_write_certs_pem(const char *path, X509 *const *certs, size_t n);
/* Writes DIR/NAME.der, DIR/NAME.pem and (when c->key) DIR/NAME.key.pem. */
int pki_write_cred(const char *dir, const char *name, const pki_cred *c);
/* Parses a certificate / private key from DER or PEM bytes (PEM keys may be
 * PKCS#8 or traditional, with an EC PARAMETERS block before them).  DER input
 * must hold exactly one object.  NULL on error. */
X509 *pki_parse_cert(const uint8_t *buf, size_t len);
EVP_PKEY *pki_parse_key(const uint8_t *buf, size_t len);
/* The same from a file. */
X509 *pki_load_cert(const char *path);
EVP_PKEY *pki_load_key(const char *path);
/* True if the private key matches the certificate's public key. */
bool pki_key_matches(X509 *cert, EVP_PKEY *key);

/* Parses a time: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[Z]", "YYYYMMDDHHMMSSZ",
 * "@<unix seconds>", or "+N" / "-N" with a unit d, h or s relative to now.
 * 0 / -1. */
int pki_parse_time(const char *s, time_t now, time_t *out);

/* Message for the last argument error on this thread ("" if none). */
const char *pki_last_error(void);

#endif
