/*
 * tools/lpasim/euicc.h - a software eUICC (ISD-R) that behaves like a strict
 * real device, for tests, demos and load generation.
 *
 * The ES10b/ES10c operations are C functions that take the request exactly as
 * an LPA would send it in STORE DATA (DER, no APDU framing) and write the
 * eUICC's DER response.  Everything a server signs is verified over the raw
 * bytes received; everything the eUICC signs uses TR-03111 r||s in 5F37.
 *
 * Outcomes of an operation (return value):
 *   EUICC_OK        the response is the success form.
 *   EUICC_EREFUSED  the eUICC refused and the response is the error form an
 *                   eUICC returns (AuthenticateResponseError, PrepareDownload-
 *                   ResponseError, ProfileInstallationResult with errorResult,
 *                   cancelSessionResponseError); *err names the code.
 *   EUICC_EFORMAT   the request is malformed and there is no response (a card
 *                   answers a status word such as 6A80).
 *   EUICC_ESTATE    the call is out of sequence and there is no response.
 *   EUICC_ESYS      memory, OpenSSL or file failure.
 * A refusal ends the RSP session (the one-time key of a failed BPP is kept
 * for a retry with bppEuiccOtpk, as SGP.22 allows).
 *
 * Ownership: an euicc owns its certificates, keys, CI store, profiles and
 * notifications; euicc_free releases all.  Functions that take X509 /
 * EVP_PKEY arguments up-ref them.  Responses go to a caller-owned der_writer
 * (initialised by the caller, freed with der_w_free).  Profiles and
 * notifications returned by accessors are borrowed until the next call that
 * changes the eUICC.
 * Not thread safe: one euicc per thread.
 */
#ifndef LPASIM_EUICC_H
#define LPASIM_EUICC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "asn1/der.h"
#include "rsp/cert.h"

enum {
    EUICC_OK = 0,
    EUICC_EREFUSED = -1,
    EUICC_EFORMAT = -2,
    EUICC_ESTATE = -3,
    EUICC_ESYS = -4,
    EUICC_ENOTFOUND = -5, /* ES10c: no profile with that ICCID */
};

/* AuthenticateErrorCode (SGP.22 ES10b.AuthenticateServer). */
enum {
    EUICC_AUTH_INVALID_CERTIFICATE = 1,
    EUICC_AUTH_INVALID_SIGNATURE = 2,
    EUICC_AUTH_UNSUPPORTED_CURVE = 3,
    EUICC_AUTH_NO_SESSION_CONTEXT = 4,
    EUICC_AUTH_INVALID_OID = 5,
    EUICC_AUTH_CHALLENGE_MISMATCH = 6,
    EUICC_AUTH_CI_PK_UNKNOWN = 7,
    EUICC_AUTH_UNDEFINED = 127,
};

/* DownloadErrorCode (ES10b.PrepareDownload). */
enum {
    EUICC_DL_INVALID_CERTIFICATE = 1,
    EUICC_DL_INVALID_SIGNATURE = 2,
    EUICC_DL_UNSUPPORTED_CURVE = 3,
    EUICC_DL_NO_SESSION_CONTEXT = 4,
    EUICC_DL_INVALID_TRANSACTION_ID = 5,
    EUICC_DL_UNDEFINED = 127,
};

/* BppCommandId and ErrorReason (ProfileInstallationResult errorResult). */
enum {
    EUICC_BPP_INIT_SECURE_CHANNEL = 0,
    EUICC_BPP_CONFIGURE_ISDP = 1,
    EUICC_BPP_STORE_METADATA = 2,
    EUICC_BPP_STORE_METADATA2 = 3,
    EUICC_BPP_REPLACE_SESSION_KEYS = 4,
    EUICC_BPP_LOAD_PROFILE_ELEMENTS = 5,
};
enum {
    EUICC_PIR_INCORRECT_INPUT = 1,
    EUICC_PIR_INVALID_SIGNATURE = 2,
    EUICC_PIR_INVALID_TRANSACTION_ID = 3,
    EUICC_PIR_UNSUPPORTED_CRT = 4,
    EUICC_PIR_UNSUPPORTED_REMOTE_OP = 5,
    EUICC_PIR_UNSUPPORTED_PROFILE_CLASS = 6,
    EUICC_PIR_SCP03T_STRUCTURE = 7,
    EUICC_PIR_SCP03T_SECURITY = 8,
    EUICC_PIR_ICCID_EXISTS = 9,
    EUICC_PIR_INSUFFICIENT_MEMORY = 10,
    EUICC_PIR_INTERRUPTION = 11,
    EUICC_PIR_PE_PROCESSING = 12,
    EUICC_PIR_ICCID_MISMATCH = 13,
    EUICC_PIR_UNKNOWN = 127,
};

/* cancelSessionResponseError. */
enum { EUICC_CANCEL_INVALID_TRANSACTION_ID = 5, EUICC_CANCEL_UNDEFINED = 127 };

/* CancelSessionReason. */
enum {
    EUICC_CANCEL_END_USER_REJECTION = 0,
    EUICC_CANCEL_POSTPONED = 1,
    EUICC_CANCEL_TIMEOUT = 2,
    EUICC_CANCEL_PPR_NOT_ALLOWED = 3,
};

/* NotificationEvent bit numbers. */
enum { EUICC_EVT_INSTALL = 0, EUICC_EVT_ENABLE = 1, EUICC_EVT_DISABLE = 2, EUICC_EVT_DELETE = 3 };

/* Why an operation did not succeed. */
typedef struct euicc_error {
    int code;         /* the ASN.1 error value put in the response; 0 when there is none */
    int bpp_command;  /* BppCommandId for LoadBoundProfilePackage errors, else -1 */
    const char *name; /* ASN.1 name of code ("invalidSignature"), or a short word for
                         EFORMAT/ESTATE/ESYS ("malformed", "sequence", "system") */
    char detail[192]; /* what exactly failed, for logs and tools */
} euicc_error;

#define EUICC_ICCID_LEN 10
#define EUICC_AID_MAX 16
#define EUICC_SKI_MAX 8 /* CI key ids per list */

typedef struct euicc_profile {
    uint8_t iccid[EUICC_ICCID_LEN];          /* as coded in EF.ICCID / tag 5A (nibble-swapped BCD) */
    char iccid_str[2 * EUICC_ICCID_LEN + 1]; /* digits, padding F removed */
    char *name;                              /* profileName */
    char *spn;                               /* serviceProviderName */
    int profile_class;                       /* 0 test, 1 provisioning, 2 operational */
    bool enabled;
    uint8_t aid[EUICC_AID_MAX]; /* ISD-P AID */
    size_t aid_len;
    uint8_t package_sha256[32]; /* SHA-256 of the decrypted profile package */
    char *smdp_address;         /* SM-DP+ that installed it */
    char *smdp_oid;             /* its OID (dotted), "" when unknown */
    /* notificationConfigurationInfo: address per NotificationEvent bit, NULL if none */
    char *notify_address[4];
} euicc_profile;

typedef struct euicc_notification {
    int64_t seq;
    int event;     /* EUICC_EVT_* */
    char *address; /* notificationAddress (FQDN) */
    char iccid_str[2 * EUICC_ICCID_LEN + 1];
    uint8_t *der; /* PendingNotification: BF37 or OtherSignedNotification (30) */
    size_t len;
} euicc_notification;

/* Device-visible configuration (EUICCInfo1/2 and ES10a addresses). */
typedef struct euicc_config {
    uint8_t svn[3];             /* SGP.22 version, e.g. 2.2.2 */
    uint8_t profile_version[3]; /* SAIP version */
    uint8_t firmware_version[3];
    uint8_t pp_version[3];
    char sas_accreditation[65];
    uint32_t uicc_capability; /* UICCCapability bits (mask of 1 << n) */
    uint32_t rsp_capability;  /* RspCapability bits */
    uint32_t free_nvm;        /* extCardResource free non-volatile memory */
    uint32_t forbidden_ppr; /* forbiddenProfilePolicyRules PprIds bits (1 << 1 ppr1, 1 << 2 ppr2); 0 = none */
    char default_smdp[256]; /* "" when none */
    char root_smds[256];
} euicc_config;

typedef struct euicc euicc;

/* ---- lifetime and identity ---- */

/* A blank eUICC with default configuration (SVN 2.2.2, root SM-DS
 * lpa.ds.gsma.com).  NULL on allocation failure. */
euicc *euicc_new(void);
void euicc_free(euicc *e);

/* Sets CERT.EUICC.ECDSA, SK.EUICC.ECDSA and CERT.EUM.ECDSA.  The EID is taken
 * from the eUICC certificate subject serialNumber (32 digits) and the key must
 * match the certificate.  0 / EUICC_ESYS (detail in err, may be NULL). */
int euicc_set_identity(euicc *e, X509 *euicc_cert, EVP_PKEY *key, X509 *eum, euicc_error *err);

/* Sets the v3 otherCertsInChain: the certificates above the EUM certificate
 * given to euicc_set_identity (nextCertInChain), up to the one a CI issued,
 * in that order (at most EUICC_OTHERS_MAX; n == 0 clears them).  They are
 * sent after it in AuthenticateServerResponse and otherSignedNotification, and
 * the CI that issued the last one is the CI of the signing list.  Call before
 * euicc_add_ci.  0 / EUICC_ESYS. */
#define EUICC_OTHERS_MAX 4
int euicc_set_others(euicc *e, X509 *const *others, size_t n);
size_t euicc_others(const euicc *e, X509 *const **others);

/* Adds a trusted CI certificate; its SKI joins euiccCiPKIdListForVerification
 * and, if the top certificate of the eUICC's chain (the EUM, or the last of
 * otherCertsInChain) names it as issuer (AKI), the signing list.
 * Call after euicc_set_identity for the signing list to be right. */
int euicc_add_ci(euicc *e, X509 *ci);

/* Restricts the key-id lists (each up to EUICC_SKI_MAX ids of up to
 * RSP_SKI_MAX bytes); a NULL list leaves that one as it is. */
int euicc_set_ci_lists(euicc *e, const uint8_t *const *verify, const size_t *verify_len, size_t nverify,
                       const uint8_t *const *sign, const size_t *sign_len, size_t nsign);

euicc_config *euicc_config_of(euicc *e);
const char *euicc_eid(const euicc *e);         /* 32 digits, "" before an identity is set */
const rsp_ci_store *euicc_cis(const euicc *e); /* trusted CIs */
X509 *euicc_certificate(const euicc *e);       /* borrowed */
X509 *euicc_eum_certificate(const euicc *e);   /* borrowed */
EVP_PKEY *euicc_key(const euicc *e);           /* borrowed */

/* Time used for certificate validity checks; 0 (default) means the clock.
 * (Real eUICCs have no trusted clock; the simulator checks anyway.) */
void euicc_set_time(euicc *e, time_t now);

/* ---- ES10b: RSP session ---- */

/* GetEUICCChallenge: 16 random bytes; starts a new session (any previous
 * one is dropped). */
int euicc_get_challenge(euicc *e, uint8_t out[16]);

/* GetEUICCInfo1 (BF20) / GetEUICCInfo2 (BF22), appended to w. */
int euicc_get_info1(euicc *e, der_writer *w);
int euicc_get_info2(euicc *e, der_writer *w);

/*
 * AuthenticateServer.  req is AuthenticateServerRequest (BF38: serverSigned1,
 * serverSignature1, euiccCiPKIdToBeUsed, serverCertificate, ctxParams1);
 * address is the RSP server address the LPA contacted.  Checks, in order:
 * a session from GetEUICCChallenge (noSessionContext); the CI key id in the
 * verification list and trusted (ciPKUnknown); the server certificate: curve
 * (unsupportedCurve), issued by that CI, role CERT.DPauth or CERT.DSauth,
 * validity (invalidCertificate); serverSignature1 over the received
 * serverSigned1 (invalidSignature); the echoed euiccChallenge
 * (euiccChallengeMismatch); serverAddress equal to address, ignoring case
 * (undefinedError: SGP.22 v2 has no dedicated code).  Writes BF38.
 */
int euicc_authenticate_server(euicc *e, const uint8_t *req, size_t len, const char *address, der_writer *w,
                              euicc_error *err);

/*
 * PrepareDownload.  req is PrepareDownloadRequest (BF21: smdpSigned2,
 * smdpSignature2, hashCc optional, smdpCertificate).  Checks: an
 * authenticated SM-DP+ session (noSessionContext); CERT.DPpb curve, chain to a
 * trusted CI, role, validity and the same SM-DP+ OID as CERT.DPauth
 * (invalidCertificate); smdpSignature2 over smdpSigned2 || 5F37 of
 * euiccSignature1 (invalidSignature); the transactionId (invalidTransaction-
 * Id).  Generates the one-time key pair on the CERT.DPpb curve (or reuses the
 * kept one if bppEuiccOtpk names it) and writes BF21 with euiccSigned2 signed
 * over euiccSigned2 || 5F37 smdpSignature2.
 */
int euicc_prepare_download(euicc *e, const uint8_t *req, size_t len, der_writer *w, euicc_error *err);

/*
 * LoadBoundProfilePackage on a whole BF36.  Verifies BF23 (remoteOpId,
 * transactionId, CRT, smdpSign over its fields || 5F49 otPK.EUICC), derives
 * the session keys, unwraps and MAC-checks every segment of A0, A1, A2 (then
 * switches to the PPKs) and A3, checks StoreMetadata and that the profile
 * header ICCID matches it, installs the profile (disabled) and writes the
 * ProfileInstallationResult (BF37), which is also queued as a pending
 * notification.  On a BPP error the BF37 carries errorResult and the function
 * returns EUICC_EREFUSED.  pkg_sha256 (may be NULL) gets the SHA-256 of the
 * decrypted profile package on success.
 */
int euicc_load_bpp(euicc *e, const uint8_t *bpp, size_t len, der_writer *w, uint8_t pkg_sha256[32],
                   euicc_error *err);

/* CancelSession.  req is CancelSessionRequest (BF41: transactionId, reason).
 * Writes BF41 with euiccCancelSessionSigned {transactionId, smdpOid of
 * CERT.DPauth, reason} signed, or cancelSessionResponseError
 * invalidTransactionId.  After PrepareDownload, reasons postponed and timeout
 * keep the session's one-time key for a retry (bppEuiccOtpk), as SGP.22 allows. */
int euicc_cancel_session(euicc *e, const uint8_t *req, size_t len, der_writer *w, euicc_error *err);

/* Transaction id of the current session (after AuthenticateServer), or NULL. */
const uint8_t *euicc_session_tid(const euicc *e, size_t *len);

/* ---- notifications ---- */

size_t euicc_notification_count(const euicc *e);
const euicc_notification *euicc_notification_at(const euicc *e, size_t i);
/* NotificationSent: removes the notification with that sequence number;
 * EUICC_ENOTFOUND if none. */
int euicc_notification_remove(euicc *e, int64_t seq);

/* ---- ES10c: profiles ---- */

size_t euicc_profile_count(const euicc *e);
const euicc_profile *euicc_profile_at(const euicc *e, size_t i);
/* iccid: digits as printed (19 or 20); NULL if absent. */
const euicc_profile *euicc_profile_find(const euicc *e, const char *iccid);

/* Enable (disabling the enabled one), disable or delete a profile; queues an
 * OtherSignedNotification when the profile's metadata asked for one.
 * EUICC_ENOTFOUND, EUICC_ESTATE (wrong state), or 0. */
int euicc_enable_profile(euicc *e, const char *iccid, euicc_error *err);
int euicc_disable_profile(euicc *e, const char *iccid, euicc_error *err);
int euicc_delete_profile(euicc *e, const char *iccid, euicc_error *err);

/* ---- helpers ---- */

/* Digits of an EF.ICCID coded ICCID (nibble-swapped, F padding dropped). */
void euicc_iccid_to_str(const uint8_t iccid[EUICC_ICCID_LEN], char out[2 * EUICC_ICCID_LEN + 1]);
/* The reverse; 0 or -1 if s is not 18..20 digits. */
int euicc_iccid_from_str(const char *s, uint8_t out[EUICC_ICCID_LEN]);

/* Reads the ICCID from a profile package's ProfileHeader (first element, A0,
 * field 83, stored as printed) and codes it like tag 5A.  0 / -1. */
int euicc_package_iccid(const uint8_t *pkg, size_t len, uint8_t iccid[EUICC_ICCID_LEN]);

/* Name of an operation outcome ("ok", "refused", ...). */
const char *euicc_strerror(int rc);

/* ---- persistence (store.c) ---- */

/*
 * An eUICC directory holds euicc.der (or .pem), euicc.key.pem, eum.der (or
 * .pem), ci/ with one or more CI certificates (*.der / *.pem), state.json
 * (configuration, profiles, notifications, sequence number) and, while a
 * failed download may be retried, otk.pem (the kept one-time key).
 */

/* A fresh eUICC from certificate and key files: the eUICC certificate, its
 * key (PEM) and the EUM certificate (DER or PEM) become its identity
 * (euicc_set_identity), and each CI certificate is added (euicc_add_ci).  No
 * state is read.  NULL on failure with a message in err. */
euicc *euicc_load_files(const char *cert_path, const char *key_path, const char *eum_path,
                        const char *const *ci_paths, size_t nci, euicc_error *err);

/* Loads an eUICC from dir.  NULL on failure with a message in err. */
euicc *euicc_load_dir(const char *dir, euicc_error *err);

/* Writes state.json (atomically) and otk.pem into dir. 0 / EUICC_ESYS. */
int euicc_save_dir(const euicc *e, const char *dir, euicc_error *err);

/*
 * Creates dir as an eUICC directory from test PKI material: the rsp-pki layout
 * (pkidir/{nist,brainpool}/{ci/ci,eum/eum,euicc/<EID>/euicc}.*, or one curve
 * set directly) or the SGP.26 layout (CertificateIssuer/CERT_CI_ECDSA_*.der,
 * EUM/CERT_EUM_ECDSA_*.der, eUICC/CERT_EUICC_ECDSA_* + SK_EUICC_ECDSA_*.pem;
 * curve "nist" by default).  eid (may be NULL) picks the eUICC among several
 * in an rsp-pki set.  Every CI found (both curves) is trusted.  dir must not
 * already hold an eUICC.
 */
int euicc_init_dir(const char *dir, const char *pkidir, const char *eid, const char *curve, euicc_error *err);

#endif
