/*
 * smdp_default/call_impl.h - private: the call state shared by call.c, es9p.c
 * and es2p.c.  Each function is a start step (with the parsed body) and a
 * resume step (after its order change ran), selected by c->step.
 */
#ifndef SMDP_CALL_IMPL_H
#define SMDP_CALL_IMPL_H

#include "asn1/sgp22.h"
#include "rsp/arena.h"
#include "rsp/auth.h"
#include "smdp_default/call.h"

struct smdp_call {
    smdp_t *x;
    smdp_fn fn;
    time_t now;
    int step; /* function-specific, 0 at start */
    rsp_arena *a;
    smdp_hook hook;
    smdp_op op;
    smdp_order order; /* the order as read before the change */
    void *user;       /* the driver's */

    rsp_status status;
    const char *message, *detail;
    char msgbuf[160], detailbuf[192];
    bool notification; /* reply 204 */

    char operator_cn[SMDP_OWNER_MAX + 1];
    bool has_cn;
    char operator_id[SMDP_OWNER_MAX + 1];
    char peer[SMDP_OWNER_MAX + 1];

    /* ES2+ */
    const char *requester, *call_id; /* functionRequesterIdentifier, functionCallIdentifier */
    uint8_t call_key[SMDP_CALL_KEY_LEN];
    bool has_call_key;
    smdp_answer answer; /* fn and request_hash of this call */
    bool replayed;      /* answered with the stored first answer */
    smdp_ob_item event; /* SMDP_CALL_SEND: the ES12 call to make */
    smdp_ob_outcome event_outcome;
    char event_err[SMDP_OB_ERROR_MAX + 1];

    /* ES9+ */
    uint8_t tid[SGP22_TID_MAX];
    size_t tid_len;
    bool replay_pending;    /* authenticateClient: the durable replay record is still to be made */
    uint32_t replay_expiry; /* of the transaction */
    const uint8_t *signed1, *pkid, *cert; /* initiate: serverSigned1, euiccCiPKIdToBeUsed, CERT.DPauth */
    size_t signed1_len, pkid_len, cert_len;
    const uint8_t *cert_others; /* v3 otherCertsInChain of cert (SEQUENCE OF Certificate), or NULL */
    size_t cert_others_len;
    uint8_t sig_tlv[RSP_AUTH_SIG_TLV_LEN];  /* serverSignature1 or smdpSignature2 */
    const uint8_t *metadata, *smdp_signed2; /* authenticateClient */
    size_t metadata_len, smdp_signed2_len;
    uint8_t *bpp; /* getBoundProfilePackage (malloc'd) */
    size_t bpp_len;
    uint8_t *otsk_blob; /* malloc'd */
    size_t otsk_blob_len;
    uint8_t euicc_otpk[SGP22_POINT_LEN];
    uint8_t hash_cc[32];
    bool has_hash_cc;
    const uint8_t *pb_ski; /* CERT.DPpb chosen for the session (its CI) */
    size_t pb_ski_len;
};

/* Sets the outcome; returns SMDP_CALL_DONE. */
int smdp_call_fail(smdp_call *c, rsp_status st, const char *message, const char *detail);
/* Copies a string into the call's arena (NULL stays NULL; NULL on exhaustion sets no error). */
const char *smdp_call_str(smdp_call *c, const char *s);
/* Prepares c->op for an order change of kind (hook, user, now). */
smdp_op *smdp_call_prepare_op(smdp_call *c, smdp_op_kind kind);
/* Binds the body; on failure sets the status and message. */
bool smdp_call_bind(smdp_call *c, const rsp_json_doc *doc, const rsp_json_field *fields, void *base);

int smdp_es9p_start(smdp_call *c, const rsp_json_doc *doc);
int smdp_es9p_resume(smdp_call *c);
int smdp_es9p_write(const smdp_call *c, rsp_jsonw *w);

int smdp_es2p_start(smdp_call *c, const rsp_json_doc *doc);
int smdp_es2p_resume(smdp_call *c);
int smdp_es2p_write(const smdp_call *c, rsp_jsonw *w);

#endif
