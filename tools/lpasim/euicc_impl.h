/*
 * tools/lpasim/euicc_impl.h - private: the eUICC structure shared by euicc.c
 * and store.c.  Not part of the lpasim API; use euicc.h.
 */
#ifndef LPASIM_EUICC_IMPL_H
#define LPASIM_EUICC_IMPL_H

#include "tools/lpasim/euicc.h"

enum sess_stage { SESS_NONE = 0, SESS_CHALLENGE, SESS_AUTHENTICATED, SESS_PREPARED };
enum sess_role { ROLE_NONE = 0, ROLE_DP_AUTH, ROLE_DS_AUTH };

#define OID_MAX 64

struct euicc_session {
    enum sess_stage stage;
    uint8_t challenge[16];
    uint8_t tid[16];
    size_t tid_len;
    char *server_address;      /* serverAddress from serverSigned1 */
    enum sess_role role;       /* role of the authenticated server certificate */
    uint8_t auth_oid[OID_MAX]; /* SAN registeredID of CERT.DPauth/DSauth (OID content) */
    size_t auth_oid_len;
    uint8_t sig1[64];        /* our euiccSignature1 */
    EVP_PKEY *dppb;          /* PK.DPpb.ECDSA after PrepareDownload */
    uint8_t pb_oid[OID_MAX]; /* SAN registeredID of CERT.DPpb */
    size_t pb_oid_len;
    EVP_PKEY *otk;    /* otSK.EUICC.ECKA */
    uint8_t otpk[65]; /* otPK.EUICC.ECKA */
};

struct euicc {
    euicc_config cfg;
    char eid[33];
    uint8_t eid_bin[16];
    X509 *cert, *eum;
    EVP_PKEY *key;
    uint8_t *cert_der, *eum_der;
    size_t cert_len, eum_len;
    X509 *others[EUICC_OTHERS_MAX]; /* otherCertsInChain above eum (v3), the top one last */
    size_t nothers;
    uint8_t *others_der; /* A0 { the certificates }: sent after eum_der; NULL when none */
    size_t others_len;
    rsp_ci_store *cis;
    uint8_t ski_verify[EUICC_SKI_MAX][RSP_SKI_MAX];
    size_t ski_verify_len[EUICC_SKI_MAX], nverify;
    uint8_t ski_sign[EUICC_SKI_MAX][RSP_SKI_MAX];
    size_t ski_sign_len[EUICC_SKI_MAX], nsign;
    time_t now;
    euicc_profile *profiles;
    size_t nprofiles;
    euicc_notification *notifs;
    size_t nnotifs;
    int64_t next_seq;
    EVP_PKEY *kept_otk; /* one-time key kept after a failed BPP, for bppEuiccOtpk */
    struct euicc_session sess;
};

/* Appends a profile / notification (fields are moved in; on failure the
 * caller still owns them). 0 / -1. */
int euicc_impl_add_profile(euicc *e, const euicc_profile *p);
int euicc_impl_add_notification(euicc *e, const euicc_notification *n);
void euicc_impl_profile_clear(euicc_profile *p);
void euicc_impl_notification_clear(euicc_notification *n);

/* Sets *err (may be NULL). */
void euicc_impl_err(euicc_error *err, int code, int bpp_command, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
