/*
 * rsp/status.h - the one table of GSMA subjectCode/reasonCode pairs.
 *
 * Every ES-interface failure in the project is named by an rsp_status value;
 * rsp_status_get() gives its subjectCode, reasonCode and a short message for
 * statusCodeData.  RSP_OK (0) means success.  Sources for each pair are in
 * rsp-notes sections 1.4, 2, 3 and 5 (SGP.22 §5 and SGP.23 expectations).
 */
#ifndef RSP_STATUS_H
#define RSP_STATUS_H

typedef enum rsp_status {
    RSP_OK = 0,
    /* Generic message / binding errors */
    RSP_ST_BAD_CONTENT_TYPE,        /* 1.2.1 / 2.1 */
    RSP_ST_BAD_ADMIN_PROTOCOL,      /* 1.2.2 / 2.1 */
    RSP_ST_MANDATORY_MISSING,       /* 1.1 / 2.2  mandatory element missing */
    RSP_ST_INVALID_FIELD,           /* 1.1 / 2.1  invalid element (format or type) */
    RSP_ST_FUNCTION_CALLER_UNKNOWN, /* 1.1 / 1.2  not allowed (authorisation) */
    RSP_ST_INTERNAL,                /* 1.1 / 5.1  execution error / unavailable */
    /* Authentication (ES9+/ES11 AuthenticateClient) */
    RSP_ST_EUICC_SIG_INVALID,   /* 8.1 / 6.1 eUICC signature invalid or serverChallenge mismatch */
    RSP_ST_EUM_CERT_INVALID,    /* 8.1.2 / 6.1 */
    RSP_ST_EUM_CERT_EXPIRED,    /* 8.1.2 / 6.3 */
    RSP_ST_EUICC_CERT_INVALID,  /* 8.1.3 / 6.1 */
    RSP_ST_EUICC_CERT_EXPIRED,  /* 8.1.3 / 6.3 */
    RSP_ST_CI_PK_UNKNOWN,       /* 8.11.1 / 3.9 */
    RSP_ST_TRANSACTION_UNKNOWN, /* 8.10.1 / 3.9 */
    /* SM-DS (ES11/ES12/ES15) */
    RSP_ST_SMDS_ADDRESS_INVALID,  /* 8.9.1 / 3.8 */
    RSP_ST_SMDS_PKID_UNSUPPORTED, /* 8.9.2 / 3.1 */
    RSP_ST_SMDS_SVN_UNSUPPORTED,  /* 8.9.3 / 3.1 */
    RSP_ST_SMDS_NO_CERT_FOR_CI,   /* 8.9.4 / 3.7 */
    RSP_ST_EVENT_EXISTS,          /* 8.9.5 / 3.3 */
    RSP_ST_EVENT_UNKNOWN,         /* 8.9.5 / 3.9 */
    RSP_ST_ROOT_SMDS_ERROR,       /* 8.9 / 4.2 */
    RSP_ST_SMDS_UNAVAILABLE,      /* 8.9 / 5.1 */
    RSP_ST_EID_INVALID,           /* 8.1.1 / 2.1 (EID malformed) */
    /* SM-DP+ (ES9+) */
    RSP_ST_SMDP_ADDRESS_INVALID,  /* 8.8.1 / 3.8 */
    RSP_ST_SMDP_PKID_UNSUPPORTED, /* 8.8.2 / 3.1 */
    RSP_ST_SMDP_SVN_UNSUPPORTED,  /* 8.8.3 / 3.1 */
    RSP_ST_SMDP_NO_CERT_FOR_CI,   /* 8.8.4 / 3.7 */
    RSP_ST_EID_MISMATCH,          /* 8.1.1 / 3.8 EID doesn't match the expected value */
    RSP_ST_MATCHING_ID_REFUSED,   /* 8.2.6 / 3.8 */
    RSP_ST_PROFILE_NOT_RELEASED,  /* 8.2 / 1.2 */
    RSP_ST_ORDER_EXPIRED,         /* 8.8.5 / 4.10 */
    RSP_ST_DOWNLOAD_RETRIES,      /* 8.8.5 / 6.4 */
    RSP_ST_NOT_ELIGIBLE,          /* 8.2.5 / 4.3 */
    RSP_ST_CC_MISSING,            /* 8.2.7 / 2.2 */
    RSP_ST_CC_REFUSED,            /* 8.2.7 / 3.8 */
    RSP_ST_CC_RETRIES,            /* 8.2.7 / 6.4 */
    RSP_ST_BPP_UNAVAILABLE,       /* 8.2 / 3.7 */
    RSP_ST_SMDP_OID_INVALID,      /* 8.8 / 3.10 */
    /* ES2+ */
    RSP_ST_EID_REQUIRED,           /* 8.1.1 / 2.2 */
    RSP_ST_EID_OTHER_ASSOCIATED,   /* 8.1.1 / 3.10 */
    RSP_ST_ICCID_UNKNOWN,          /* 8.2.1 / 3.9 */
    RSP_ST_ICCID_IN_USE,           /* 8.2.1 / 3.3 */
    RSP_ST_ICCID_NOT_ALLOWED,      /* 8.2.1 / 1.2 */
    RSP_ST_STATE_TRANSITION,       /* 8.2.1 / 3.5 */
    RSP_ST_PROFILE_TYPE_EXHAUSTED, /* 8.2.5 / 3.7 */
    RSP_ST_PROFILE_TYPE_UNKNOWN,   /* 8.2.5 / 3.9 */
    RSP_ST_MATCHING_ID_IN_USE,     /* 8.2.6 / 3.3 */
    RSP_ST_MATCHING_ID_OTHER,      /* 8.2.6 / 3.10 */
    RSP_ST_MATCHING_ID_REQUIRED,   /* 8.2.6 / 2.2 (CancelOrder of an order that has one) */
    RSP_ST__COUNT
} rsp_status;

typedef struct rsp_status_info {
    const char *subject; /* subjectCode, e.g. "8.1.2" */
    const char *reason;  /* reasonCode, e.g. "6.1" */
    const char *code;    /* "subject/reason", or "OK" */
    const char *message; /* short human text; never contains internal state */
} rsp_status_info;

/* Returns the table row for st (RSP_OK and out-of-range values give a row
 * with NULL subject). Never NULL. */
const rsp_status_info *rsp_status_get(rsp_status st);

/* "subject/reason" for logs and tools, e.g. "8.1.2/6.1" ("OK" for RSP_OK). */
const char *rsp_status_str(rsp_status st);

#endif
