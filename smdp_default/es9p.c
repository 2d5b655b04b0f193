/*
 * smdp_default/es9p.c - ES9+ (LPA -> SM-DP+): the download session of a
 * Default SM-DP+.
 *
 * InitiateAuthentication: binding (1.1/2.1, 1.1/2.2); euiccInfo1 DER
 *   (1.1/2.1); smdpAddress equal to our FQDN ignoring case (8.8.1/3.8); SVN
 *   2.x or 3.x, the check shared with the SM-DS (rsp_auth_svn_supported,
 *   8.8.3/3.1); a trusted CI in euiccCiPKIdListForSigning(V3)
 *   (8.8.2/3.1); a CERT.DPauth under a CI the eUICC verifies (8.8.4/3.7).
 *   Stateless transaction (rsp/txn.h), ServerSigned1 signed with SK.DPauth.
 * AuthenticateClient: rsp_auth_open / rsp_auth_verify (rsp-notes section 2,
 *   serverAddress 8.8.1/3.8); then the order: matchingId absent or empty ->
 *   the oldest released order of the EID in the eUICC certificate
 *   (8.1.1/3.8 when none: the Default SM-DP+ case); a matchingId -> the order
 *   with that EventID / AC token (8.2.6/3.8; bound to another EID 8.1.1/3.8);
 *   not released 8.2/1.2; expired 8.8.5/4.10; too many sessions 8.8.5/6.4 (also
 *   for an order that limit or the confirmation-code one, 8.2.7/6.4, ended
 *   before, found by matchingId or, when the EID has nothing else, by EID); a
 *   transactionId this order already started a session with 8.10.1/3.9; a
 *   profile with PPR1 / PPR2 that EUICCInfo2 forbiddenProfilePolicyRules
 *   forbids 8.2.5/4.3 (nothing changes, no download session counted).  The
 *   session (transactionId, PK.EUICC, smdpSignature2, the CI of CERT.DPpb) is
 *   stored with the order, so any process can serve the next call, however
 *   long after the transaction's own expiry it comes.
 *   smdpSigned2 {transactionId, ccRequiredFlag = the order has a confirmation
 *   code, bppEuiccOtpk when a BPP is bound already}; smdpSignature2 with
 *   SK.DPpb over smdpSigned2 || 5F37 euiccSignature1.
 * GetBoundProfilePackage: PrepareDownloadResponse DER with downloadResponseOk
 *   (1.1/2.1); the session by transactionId, equal to the signed one
 *   (8.10.1/3.9); euiccSignature2 over euiccSigned2 || 5F37 smdpSignature2
 *   with PK.EUICC (8.1/6.1); the confirmation code when the order has one
 *   (8.2.7/2.2 missing, 8.2.7/3.8 refused, 8.2.7/6.4 retries); a bound BPP
 *   the same call again gets the same BPP; a new session with the bound
 *   otPK.EUICC gets the same binding (the one-time key kept sealed) under the
 *   new transactionId; a new session with another otPK.EUICC (the eUICC lost
 *   the bound key) gets a new binding (new smdpOtpk and session keys, the same
 *   profile protection keys), within the order's download-session limit
 *   (8.8.5/6.4, counted at AuthenticateClient).
 * HandleNotification: always 204.  ProfileInstallationResult: the session by
 *   its transactionId, euiccSignPIR over the received BF27 with the session's
 *   PK.EUICC (found through the ICCID when the LPA started another session
 *   before sending it), our OID, the ICCID; then Installed or Error.
 *   otherSignedNotification: chain and euiccNotificationSignature checked;
 *   for enable / disable / delete of one of our profiles (ICCID, the EID of the
 *   order, notificationAddress ours) the order records it (delete: Unavailable)
 *   and the owning operator gets ES2+ HandleNotification from the outbox.
 * CancelSession: a CancelSessionResponse (1.1/2.1); the session (8.10.1/3.9);
 *   an unsigned cancelSessionResponseError (the eUICC's session is gone) is
 *   answered with success and changes nothing; euiccCancelSessionSignature
 *   (8.1/6.1); smdpOid = the SAN registeredID of CERT.DPauth (8.8/3.10).  Per
 *   reason (smdp_cancel_keeps, configurable): the order goes back to Released
 *   with its SM-DS event (registered again if it was gone), or ends in Error
 *   with its event deleted; the operator is notified either way.  A kept
 *   order keeps its binding after postponed or timeout (offered again as
 *   bppEuiccOtpk); any other reason forgets it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "asn1/der.h"
#include "asn1/sgp22.h"
#include "rsp/bsp.h"
#include "rsp/codec.h"
#include "rsp/log.h"
#include "rsp/sig.h"
#include "smdp_default/call_impl.h"
#include "smdp_default/eckey.h"

#define MAX_AUTH_RESPONSE (32 * 1024)
#define MAX_PREPARE_RESPONSE 4096
#define MAX_NOTIFICATION (16 * 1024)

enum { STEP_OP = 1, STEP_DELIVER = 2 };

/* CancelSessionReason values that let the eUICC keep its one-time key. */
enum { CANCEL_POSTPONED = 1, CANCEL_TIMEOUT = 2 };

/* ---- helpers ---- */

static int fail(smdp_call *c, rsp_status st, const char *detail)
{
    return smdp_call_fail(c, st, NULL, detail);
}

static int fail_msg(smdp_call *c, rsp_status st, const char *message, const char *detail)
{
    return smdp_call_fail(c, st, message, detail);
}

static bool same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && alen > 0 && CRYPTO_memcmp(a, b, alen) == 0;
}

static const uint8_t *dup_bytes(smdp_call *c, const uint8_t *p, size_t n)
{
    return rsp_arena_memdup(c->a, p, n ? n : 1);
}

/* PK.EUICC kept with the session (owned by the caller), or NULL; usually still cached from the
 * session's AuthenticateClient (smdp_default/eckey.h). */
static EVP_PKEY *session_key(const smdp_order *o)
{
    return o->euicc_point_len ? smdp_eckey_pub(o->euicc_curve, o->euicc_point, o->euicc_point_len) : NULL;
}

/* Session data kept with the order: 01 || len || SKI of the CI of the CERT.DPpb sent in
 * AuthenticateClient, which must also sign the BPP whenever getBoundProfilePackage comes. */
static size_t session_pack(uint8_t out[SMDP_SESSION_DATA_MAX], const uint8_t *ski, size_t ski_len)
{
    out[0] = 1;
    out[1] = (uint8_t)ski_len;
    memcpy(out + 2, ski, ski_len);
    return 2 + ski_len;
}

static bool session_unpack(const smdp_order *o, const uint8_t **ski, size_t *ski_len)
{
    const uint8_t *d = o->session_data;
    if (o->session_data_len < 3 || d[0] != 1 || o->session_data_len != 2 + (size_t)d[1])
        return false;
    *ski = d + 2;
    *ski_len = d[1];
    return true;
}

static void sig_tlv(uint8_t out[RSP_AUTH_SIG_TLV_LEN], const uint8_t sig[RSP_SIG_LEN])
{
    out[0] = 0x5F;
    out[1] = 0x37;
    out[2] = RSP_SIG_LEN;
    memcpy(out + 3, sig, RSP_SIG_LEN);
}

/* Takes tid as the call's transactionId and loads the order of its session. */
static rsp_status session_order(smdp_call *c, const uint8_t *tid, size_t tid_len)
{
    memcpy(c->tid, tid, tid_len);
    c->tid_len = tid_len;
    rsp_status st = smdp_orders_find_by_tid(c->x->store, c->tid, c->tid_len, &c->order);
    if (st == RSP_OK)
        snprintf(c->peer, sizeof(c->peer), "%s", c->order.eid);
    return st;
}

/* ---- InitiateAuthentication ---- */

typedef struct init_body {
    rsp_json_bin challenge;
    rsp_json_bin info1;
    const char *address;
} init_body;

static const rsp_json_field init_fields[] = {
    RSP_JSON_F("euiccChallenge", RSP_JSON_BASE64, RSP_JSON_MANDATORY, SGP22_CHALLENGE_LEN,
               SGP22_CHALLENGE_LEN, init_body, challenge),
    RSP_JSON_F("euiccInfo1", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, 4096, init_body, info1),
    RSP_JSON_F("smdpAddress", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, SMDP_FQDN_MAX, init_body, address),
    RSP_JSON_END,
};

static int initiate(smdp_call *c, const rsp_json_doc *doc)
{
    smdp_t *x = c->x;
    init_body b;
    if (!smdp_call_bind(c, doc, init_fields, &b))
        return SMDP_CALL_DONE;
    sgp22_euicc_info1 info;
    if (sgp22_euicc_info1_decode(b.info1.data, b.info1.len, &info) != DER_OK)
        return fail_msg(c, RSP_ST_INVALID_FIELD, "euiccInfo1: not a valid EUICCInfo1", sgp22_err_field());
    if (!rsp_auth_same_address(x->fqdn, (const uint8_t *)b.address, strlen(b.address)))
        return fail(c, RSP_ST_SMDP_ADDRESS_INVALID, "smdpAddress is not ours");
    if (!rsp_auth_svn_supported(&info))
        return fail(c, RSP_ST_SMDP_SVN_UNSUPPORTED, "SVN");

    smdp_trust *t = smdp_trust_get(x);
    rsp_auth_cred_ci creds[SMDP_MAX_CREDS];
    for (size_t k = 0; k < t->nauth; k++)
        creds[k] = (rsp_auth_cred_ci){t->auth[k].ci_ski, t->auth[k].ci_ski_len};
    int ci;
    size_t which;
    int pick = rsp_auth_choose(t->cis, &info, creds, t->nauth, &ci, &which);
    int r;
    uint8_t challenge[RSP_TXN_CHALLENGE_LEN];
    if (pick == RSP_AUTH_NO_SIGNING_CI) {
        r = fail(c, RSP_ST_SMDP_PKID_UNSUPPORTED, "no trusted CI in euiccCiPKIdListForSigning");
    } else if (pick != RSP_AUTH_CHOSEN) {
        r = fail(c, RSP_ST_SMDP_NO_CERT_FOR_CI, "no CERT.DPauth under a CI the eUICC verifies");
    } else if (rsp_txn_new(&x->keyring, (uint8_t)ci, x->txn_ttl, c->now, c->tid, challenge) != RSP_TXN_OK) {
        r = fail(c, RSP_ST_INTERNAL, "transaction id");
    } else if (rsp_auth_ci_pkid(c->a, t->cis, ci, &c->pkid, &c->pkid_len) != 0 ||
               rsp_auth_server_signed1(c->a, c->tid, RSP_TXN_ID_LEN, b.challenge.data, x->fqdn, challenge,
                                       t->auth[which].key, &c->signed1, &c->signed1_len, c->sig_tlv) != 0 ||
               !(c->cert = dup_bytes(c, t->auth[which].der, t->auth[which].der_len)) ||
               (t->auth[which].others &&
                !(c->cert_others = dup_bytes(c, t->auth[which].others, t->auth[which].others_len)))) {
        r = fail(c, RSP_ST_INTERNAL, "encoding or signing");
    } else {
        c->tid_len = RSP_TXN_ID_LEN;
        c->cert_len = t->auth[which].der_len;
        c->cert_others_len = t->auth[which].others_len;
        r = SMDP_CALL_DONE;
    }
    smdp_trust_put(t);
    return r;
}

/* ---- AuthenticateClient ---- */

typedef struct tid_body {
    rsp_json_bin tid;
    rsp_json_bin data;
} tid_body;

static const rsp_json_field auth_fields[] = {
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, SGP22_TID_MAX, tid_body, tid),
    RSP_JSON_F("authenticateServerResponse", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, MAX_AUTH_RESPONSE,
               tid_body, data),
    RSP_JSON_END,
};

/* Finds the order the device asks for (rsp-notes 5.1, profile lookup). */
static rsp_status find_order(smdp_call *c, const sgp22_ctx_params1 *ctx, const char *eid)
{
    if (!ctx->matching_id.p || ctx->matching_id.len == 0) {
        rsp_status st = smdp_orders_find_by_eid(c->x->store, eid, &c->order);
        /* a device whose order a retry limit ended hears that, not that it has none */
        return st == RSP_ST_EID_MISMATCH ? smdp_orders_ended_status(c->x->store, eid) : st;
    }
    char *mid = rsp_arena_strndup(c->a, (const char *)ctx->matching_id.p, ctx->matching_id.len);
    if (!mid)
        return RSP_ST_INTERNAL;
    return smdp_orders_find_by_matching_id(c->x->store, mid, eid, &c->order);
}

/* Whether the eUICC accepts the profile's PPR1 / PPR2 (EUICCInfo2 forbiddenProfilePolicyRules; the
 * pprUpdateControl bit is not a rule an eUICC forbids). */
static bool ppr_allowed(const smdp_order *o, const sgp22_euicc_info2 *info2)
{
    if (!o->md.has_ppr)
        return true;
    for (unsigned n = 1; n <= 2; n++)
        if ((o->md.ppr & (1u << n)) && sgp22_bit(info2->forbidden_ppr, n))
            return false;
    return true;
}

static int auth_checked(smdp_call *c, smdp_trust *t, const sgp22_auth_server_resp *resp,
                        const rsp_txn_info *info, const rsp_euicc_identity *id)
{
    /* the certificate check gave the key as point and curve too: stored with the session, and the
     * next calls of the session check signatures with this key */
    const uint8_t *point = id->point;
    size_t point_len = sizeof(id->point);
    const char *curve = rsp_sig_curve_name(id->curve);
    if (!curve)
        return fail(c, RSP_ST_INTERNAL, "PK.EUICC curve");
    smdp_eckey_remember(id->pub, curve, point, point_len);
    const sgp22_auth_resp_ok *ok = &resp->ok;
    const sgp22_ctx_params1 *ctx = &ok->euicc_signed1.ctx_params1;
    /* This SM-DP+ downloads profiles only: a v3 RPM-only or device-change context is refused. */
    if (!sgp22_ctx_is_download(ctx))
        return fail_msg(c, RSP_ST_INVALID_FIELD, "ctxParams1: not a profile download context",
                        "ctxParams1 choice or operationType");
    rsp_status st = find_order(c, ctx, id->eid);
    if (st == RSP_ST_CC_RETRIES || st == RSP_ST_DOWNLOAD_RETRIES)
        return fail(c, st, "the EID's order was ended by a retry limit");
    if (st != RSP_OK)
        return fail(c, st,
                    ctx->matching_id.len ? "no order for this matchingId" : "no released order for the EID");
    const smdp_order *o = &c->order;
    if (o->state != SMDP_STATE_RELEASED && o->state != SMDP_STATE_DOWNLOADED)
        return fail(c, smdp_orders_end_status(c->x->store, o), "order not released");
    if (o->expires_at && (uint64_t)c->now >= o->expires_at)
        return fail(c, RSP_ST_ORDER_EXPIRED, "order expired");
    if (same(o->session_tid, o->session_tid_len, c->tid, c->tid_len))
        return fail(c, RSP_ST_TRANSACTION_UNKNOWN, "transactionId already used for this order");
    if (!ppr_allowed(o, &ok->euicc_signed1.euicc_info2))
        return fail(c, RSP_ST_NOT_ELIGIBLE, "the profile's policy rules are forbidden by the eUICC");

    const uint8_t *ci_ski;
    size_t ci_ski_len;
    const smdp_cred *pb = NULL;
    if (rsp_ci_store_get(t->cis, info->ci_index, &ci_ski, &ci_ski_len))
        pb = smdp_cred_for_ci(t->pb, t->npb, ci_ski, ci_ski_len);
    if (!pb)
        return fail(c, RSP_ST_INTERNAL, "no CERT.DPpb for the session's CI");

    sgp22_smdp_signed2 s2;
    memset(&s2, 0, sizeof(s2));
    s2.transaction_id = SGP22_BYTES(c->tid, c->tid_len);
    s2.cc_required = o->has_cc;
    if (o->binding.present)
        s2.bpp_euicc_otpk = SGP22_BYTES(o->binding.euicc_otpk, SMDP_OTPK_LEN);
    der_writer w;
    der_w_init(&w);
    sgp22_smdp_signed2_encode(&w, &s2);
    c->smdp_signed2 = der_w_finish(&w) == DER_OK ? rsp_arena_memdup(c->a, w.buf, w.len) : NULL;
    c->smdp_signed2_len = w.len;
    der_w_free(&w);
    der_w_init(&w);
    smdp_order_metadata(o, c->x->fqdn, &w);
    c->metadata = der_w_finish(&w) == DER_OK ? rsp_arena_memdup(c->a, w.buf, w.len) : NULL;
    c->metadata_len = w.len;
    der_w_free(&w);
    uint8_t sig1[RSP_AUTH_SIG_TLV_LEN], sig2[RSP_SIG_LEN];
    sig_tlv(sig1, ok->euicc_signature1.p);
    if (!c->smdp_signed2 || !c->metadata ||
        rsp_sig_sign2(pb->key, c->smdp_signed2, c->smdp_signed2_len, sig1, sizeof(sig1), sig2) != 0)
        return fail(c, RSP_ST_INTERNAL, "encoding or signing");
    sig_tlv(c->sig_tlv, sig2);
    uint8_t session[SMDP_SESSION_DATA_MAX];
    size_t session_len = session_pack(session, pb->ci_ski, pb->ci_ski_len);
    c->cert = dup_bytes(c, pb->der, pb->der_len);
    c->cert_len = pb->der_len;
    if (pb->others && !(c->cert_others = dup_bytes(c, pb->others, pb->others_len)))
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->cert_others_len = pb->others_len;

    smdp_op *op = smdp_call_prepare_op(c, SMDP_OP_DOWNLOAD_START);
    op->iccid = smdp_call_str(c, o->iccid);
    op->eid = smdp_call_str(c, id->eid);
    op->tid = dup_bytes(c, c->tid, c->tid_len);
    op->tid_len = c->tid_len;
    op->euicc_point = dup_bytes(c, point, point_len);
    op->euicc_point_len = point_len;
    op->euicc_curve = smdp_call_str(c, curve);
    op->smdp_sig2 = dup_bytes(c, sig2, sizeof(sig2));
    op->session_data = dup_bytes(c, session, session_len);
    op->session_data_len = session_len;
    if (!c->cert || !op->iccid || !op->eid || !op->tid || !op->smdp_sig2 || !op->session_data ||
        !op->euicc_point || !op->euicc_curve)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->step = STEP_OP;
    return SMDP_CALL_OP;
}

static int authenticate(smdp_call *c, const rsp_json_doc *doc)
{
    smdp_t *x = c->x;
    tid_body b;
    if (!smdp_call_bind(c, doc, auth_fields, &b))
        return SMDP_CALL_DONE;
    memcpy(c->tid, b.tid.data, b.tid.len);
    c->tid_len = b.tid.len;
    rsp_txn_info info;
    uint8_t challenge[RSP_TXN_CHALLENGE_LEN];
    sgp22_auth_server_resp resp;
    const char *detail;
    rsp_status st = rsp_auth_open(&x->keyring, x->txn_ttl, b.tid.data, b.tid.len, b.data.data, b.data.len,
                                  c->now, &info, challenge, &resp, &detail);
    if (st == RSP_ST_INVALID_FIELD)
        return fail_msg(c, st,
                        strcmp(detail, "authenticateResponseError")
                            ? "authenticateServerResponse: not a valid AuthenticateServerResponse"
                            : "authenticateServerResponse: the eUICC reported an error",
                        detail);
    if (st != RSP_OK)
        return fail(c, st, detail);
    smdp_trust *t = smdp_trust_get(x);
    rsp_euicc_identity id;
    st = rsp_auth_verify(t->cis, x->eum_cache, &info, challenge, b.tid.data, b.tid.len, &resp.ok, x->fqdn,
                         RSP_ST_SMDP_ADDRESS_INVALID, c->now, &id, c->detailbuf, sizeof(c->detailbuf),
                         &detail);
    int r;
    if (st != RSP_OK) {
        r = fail(c, st, detail);
    } else if (rsp_replay_check(x->replay, b.tid.data, info.expiry, c->now) == RSP_REPLAY_USED) {
        /* checked only now that the eUICC proved itself: a forged transaction never takes a place */
        r = fail(c, RSP_ST_TRANSACTION_UNKNOWN, "transactionId replayed");
    } else {
        c->replay_pending = rsp_replay_durable(x->replay);
        c->replay_expiry = info.expiry;
        snprintf(c->peer, sizeof(c->peer), "%s", id.eid);
        r = auth_checked(c, t, &resp, &info, &id);
    }
    rsp_euicc_identity_clear(&id);
    smdp_trust_put(t);
    return r;
}

/* ---- GetBoundProfilePackage ---- */

static const rsp_json_field bpp_fields[] = {
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, SGP22_TID_MAX, tid_body, tid),
    RSP_JSON_F("prepareDownloadResponse", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, MAX_PREPARE_RESPONSE,
               tid_body, data),
    RSP_JSON_END,
};

static int sign_pb(void *arg, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                   uint8_t sig[SMDP_SIG_LEN])
{
    return rsp_sig_sign2(arg, a, alen, b, blen, sig);
}

/* Builds (or finds) the BPP for the session and stores the binding. */
static int bind_profile(smdp_call *c)
{
    smdp_t *x = c->x;
    const smdp_order *o = &c->order;
    /* the bound otPK.EUICC again: the same smdpOtpk; another one (the eUICC no longer has the bound
     * key): a new binding, new one-time keys and session keys over the same protected profile */
    bool reuse =
        o->binding.present && CRYPTO_memcmp(o->binding.euicc_otpk, c->euicc_otpk, SMDP_OTPK_LEN) == 0;
    if (reuse) {
        if (same(o->binding.transaction_id, o->binding.transaction_id_len, c->tid, c->tid_len)) {
            /* the same call again: the same bytes */
            rsp_status st = smdp_orders_get_bpp(x->store, o->iccid, &c->bpp, &c->bpp_len);
            return st == RSP_OK
                       ? SMDP_CALL_DONE
                       : fail(c, st == RSP_ST_ICCID_UNKNOWN ? RSP_ST_BPP_UNAVAILABLE : st, "stored BPP");
        }
    }
    smdp_trust *t = smdp_trust_get(x);
    const smdp_cred *pb = smdp_cred_for_ci(t->pb, t->npb, c->pb_ski, c->pb_ski_len);
    EVP_PKEY *ot = NULL;
    uint8_t *seq86 = NULL;
    size_t seq86_len = 0;
    uint8_t eid[RSP_BSP_EID_LEN];
    size_t eid_len = 0;
    der_writer md;
    der_w_init(&md);
    int r = SMDP_CALL_DONE;
    if (!pb) {
        r = fail(c, RSP_ST_INTERNAL, "CERT.DPpb of the session no longer configured");
        goto out;
    }
    if (reuse) {
        if (smdp_otsk_unseal(&x->mk, o->iccid, o->binding.otsk_blob, o->binding.otsk_blob_len, &ot) != 0 ||
            !(c->otsk_blob = malloc(o->binding.otsk_blob_len))) {
            r = fail(c, RSP_ST_INTERNAL, "kept one-time key");
            goto out;
        }
        memcpy(c->otsk_blob, o->binding.otsk_blob, o->binding.otsk_blob_len);
        c->otsk_blob_len = o->binding.otsk_blob_len;
    } else {
        EVP_PKEY *pub = X509_get0_pubkey(pb->cert);
        if (!pub || rsp_ecka_generate_like(pub, &ot) != 0 ||
            smdp_otsk_seal(&x->mk, o->iccid, ot, &c->otsk_blob, &c->otsk_blob_len) != 0) {
            r = fail(c, RSP_ST_INTERNAL, "one-time key");
            goto out;
        }
    }
    if (c->otsk_blob_len > SMDP_OTSK_BLOB_MAX ||
        rsp_hex_decode(o->eid, strlen(o->eid), eid, sizeof(eid), &eid_len) || eid_len != sizeof(eid) ||
        smdp_order_metadata(o, x->fqdn, &md) != 0 || der_w_finish(&md) != DER_OK) {
        r = fail(c, RSP_ST_INTERNAL, "session data");
        goto out;
    }
    rsp_status st = smdp_orders_get_ppp(x->store, o->iccid, &seq86, &seq86_len);
    if (st != RSP_OK) {
        r = fail(c, RSP_ST_INTERNAL, "protected profile missing");
        goto out;
    }
    smdp_bpp_input in = {
        .transaction_id = c->tid,
        .transaction_id_len = c->tid_len,
        .eid = eid,
        .host_id = (const uint8_t *)x->host_id,
        .host_id_len = strlen(x->host_id),
        .euicc_otpk = c->euicc_otpk,
        .euicc_otpk_len = SMDP_OTPK_LEN,
        .smdp_ot = ot,
        .sign = sign_pb,
        .sign_arg = pb->key,
        .metadata = md.buf,
        .metadata_len = md.len,
        .dp_oid = t->oid_der_len ? t->oid_der : NULL,
        .dp_oid_len = t->oid_der_len,
        .mk = &x->mk,
        .iccid = o->iccid,
        .ppk_blob = o->ppk_blob,
        .ppk_blob_len = sizeof(o->ppk_blob),
        .seq86 = seq86,
        .seq86_len = seq86_len,
    };
    int brc = smdp_bpp_build(&in, &c->bpp, &c->bpp_len);
    if (brc == SMDP_BPP_EPOINT) {
        r = fail(c, RSP_ST_INVALID_FIELD, "euiccOtpk is not a point on the CERT.DPpb curve");
        goto out;
    }
    if (brc != 0) {
        snprintf(c->detailbuf, sizeof(c->detailbuf), "BPP: %s", smdp_bpp_strerror(brc));
        r = fail(c, RSP_ST_INTERNAL, c->detailbuf);
        goto out;
    }
    smdp_op *op = smdp_call_prepare_op(c, SMDP_OP_BPP_DELIVERED);
    op->iccid = smdp_call_str(c, o->iccid);
    op->tid = c->tid;
    op->tid_len = c->tid_len;
    op->euicc_otpk = c->euicc_otpk;
    op->otsk_blob = c->otsk_blob;
    op->otsk_blob_len = c->otsk_blob_len;
    op->bpp = c->bpp;
    op->bpp_len = c->bpp_len;
    if (!op->iccid) {
        r = fail(c, RSP_ST_INTERNAL, "out of memory");
        goto out;
    }
    c->step = STEP_DELIVER;
    r = SMDP_CALL_OP;
out:
    EVP_PKEY_free(ot);
    free(seq86);
    der_w_free(&md);
    smdp_trust_put(t);
    return r;
}

static int get_bpp(smdp_call *c, const rsp_json_doc *doc)
{
    tid_body b;
    if (!smdp_call_bind(c, doc, bpp_fields, &b))
        return SMDP_CALL_DONE;
    /* the transactionId first, as for every function of a session */
    rsp_status st = session_order(c, b.tid.data, b.tid.len);
    if (st != RSP_OK)
        return fail(c, st, "no session with this transactionId");
    sgp22_prepare_download_resp resp;
    if (sgp22_prepare_download_resp_decode(b.data.data, b.data.len, &resp) != DER_OK)
        return fail_msg(c, RSP_ST_INVALID_FIELD,
                        "prepareDownloadResponse: not a valid PrepareDownloadResponse", sgp22_err_field());
    if (!resp.is_ok)
        return fail_msg(c, RSP_ST_INVALID_FIELD, "prepareDownloadResponse: the eUICC reported an error",
                        "downloadResponseError");
    const sgp22_euicc_signed2 *es2 = &resp.ok.euicc_signed2;
    if (!same(es2->transaction_id.p, es2->transaction_id.len, c->tid, c->tid_len))
        return fail(c, RSP_ST_TRANSACTION_UNKNOWN, "transactionId in euiccSigned2");
    const uint8_t *ski;
    size_t ski_len;
    if (!c->order.has_smdp_sig2 || !session_unpack(&c->order, &ski, &ski_len))
        return fail(c, RSP_ST_TRANSACTION_UNKNOWN, "session state missing");
    uint8_t tlv[RSP_AUTH_SIG_TLV_LEN];
    sig_tlv(tlv, c->order.smdp_sig2);
    EVP_PKEY *pub = session_key(&c->order);
    int v = pub ? rsp_sig_verify2(pub, es2->raw.raw, es2->raw.raw_len, tlv, sizeof(tlv),
                                  resp.ok.euicc_signature2.p, resp.ok.euicc_signature2.len)
                : -1;
    EVP_PKEY_free(pub);
    if (v != 0)
        return fail(c, RSP_ST_EUICC_SIG_INVALID, "euiccSignature2");
    memcpy(c->euicc_otpk, es2->euicc_otpk.p, SMDP_OTPK_LEN);
    c->pb_ski = dup_bytes(c, ski, ski_len);
    c->pb_ski_len = ski_len;
    if (!c->pb_ski)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    if (es2->hash_cc.p) {
        memcpy(c->hash_cc, es2->hash_cc.p, sizeof(c->hash_cc));
        c->has_hash_cc = true;
    }
    if (!c->order.has_cc)
        return bind_profile(c);
    smdp_op *op = smdp_call_prepare_op(c, SMDP_OP_CHECK_CC);
    op->iccid = smdp_call_str(c, c->order.iccid);
    op->tid = c->tid;
    op->tid_len = c->tid_len;
    op->hash_cc = c->has_hash_cc ? c->hash_cc : NULL;
    if (!op->iccid)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->step = STEP_OP;
    return SMDP_CALL_OP;
}

/* ---- HandleNotification ---- */

typedef struct notif_body {
    rsp_json_bin data;
} notif_body;

static const rsp_json_field notif_fields[] = {
    RSP_JSON_F("pendingNotification", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, MAX_NOTIFICATION, notif_body,
               data),
    RSP_JSON_END,
};

static int install_result(smdp_call *c, const uint8_t *der, size_t len)
{
    sgp22_pir pir;
    if (sgp22_pir_decode(der, len, &pir) != DER_OK)
        return fail(c, RSP_ST_INVALID_FIELD, "ProfileInstallationResult");
    const sgp22_pir_data *d = &pir.data;
    rsp_status st = session_order(c, d->transaction_id.p, d->transaction_id.len);
    if (st == RSP_ST_TRANSACTION_UNKNOWN && d->notification_metadata.iccid.p &&
        d->notification_metadata.iccid.len == SMDP_ICCID_BCD_LEN) {
        /* a late result for a BPP bound in an earlier session of the same eUICC (the LPA started over
         * before sending it): the order of the ICCID, if that BPP is the one it holds */
        char iccid[SMDP_ICCID_MAX + 1];
        if (smdp_iccid_from_ef(d->notification_metadata.iccid.p, iccid) == 0 &&
            smdp_orders_get(c->x->store, iccid, &c->order) == RSP_OK && c->order.binding.present &&
            same(c->order.binding.transaction_id, c->order.binding.transaction_id_len, c->tid, c->tid_len))
            st = RSP_OK;
    }
    if (st != RSP_OK)
        return fail(c, st, "no session with this transactionId");
    EVP_PKEY *pub = session_key(&c->order);
    int v =
        pub ? rsp_sig_verify(pub, d->raw.raw, d->raw.raw_len, pir.euicc_sign_pir.p, pir.euicc_sign_pir.len)
            : -1;
    EVP_PKEY_free(pub);
    if (v != 0)
        return fail(c, RSP_ST_EUICC_SIG_INVALID, "euiccSignPIR");
    smdp_trust *t = smdp_trust_get(c->x);
    bool oid_ok = !d->smdp_oid.p || same(d->smdp_oid.p, d->smdp_oid.len, t->oid_der, t->oid_der_len);
    smdp_trust_put(t);
    if (!oid_ok)
        return fail(c, RSP_ST_SMDP_OID_INVALID, "smdpOid in ProfileInstallationResult");
    uint8_t iccid[SMDP_ICCID_BCD_LEN];
    const sgp22_bytes *ni = &d->notification_metadata.iccid;
    if (ni->p &&
        (smdp_iccid_to_ef(c->order.iccid, iccid) != 0 || !same(ni->p, ni->len, iccid, sizeof(iccid))))
        return fail(c, RSP_ST_INVALID_FIELD, "ICCID in the notification is not the session's");
    c->hook.result = dup_bytes(c, der, len);
    c->hook.result_len = len;
    smdp_op *op = smdp_call_prepare_op(c, SMDP_OP_INSTALL_RESULT);
    op->iccid = smdp_call_str(c, c->order.iccid);
    op->tid = c->tid;
    op->tid_len = c->tid_len;
    op->ok = d->final_result.success;
    if (!op->iccid || !c->hook.result)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->step = STEP_OP;
    return SMDP_CALL_OP;
}

/* OtherSignedNotification ::= SEQUENCE { tbsOtherNotification NotificationMetadata (BF2F),
 * euiccNotificationSignature [APPLICATION 55], euiccCertificate, eumCertificate (v3:
 * nextCertInChain), otherCertsInChain [0] SEQUENCE OF Certificate OPTIONAL (v3) } */
static int other_notification(smdp_call *c, const uint8_t *der, size_t len)
{
    der_tlv outer, tbs, sig, euicc, eum, others;
    der_reader r, ro;
    if (der_parse_exact(der, len, &outer) != DER_OK || outer.tag != 0x30)
        return fail(c, RSP_ST_INVALID_FIELD, "pendingNotification");
    der_reader_of(&r, &outer);
    if (der_expect(&r, SGP22_TAG_NOTIFICATION_METADATA, &tbs) != DER_OK ||
        der_expect(&r, SGP22_TAG_SIGNATURE, &sig) != DER_OK || der_expect(&r, 0x30, &euicc) != DER_OK ||
        der_expect(&r, 0x30, &eum) != DER_OK || sig.len != RSP_SIG_LEN)
        return fail(c, RSP_ST_INVALID_FIELD, "otherSignedNotification");
    rsp_der chain[RSP_CHAIN_MAX_SENT] = {{eum.raw, eum.raw_len}};
    size_t n = 1;
    int opt = der_optional(&r, 0xA0, &others);
    if (opt == 1) {
        der_reader_of(&ro, &others);
        for (der_tlv e; !der_reader_done(&ro); chain[n++] = (rsp_der){e.raw, e.raw_len})
            if (n == RSP_CHAIN_MAX_SENT || der_expect(&ro, 0x30, &e) != DER_OK)
                return fail(c, RSP_ST_INVALID_FIELD, "otherSignedNotification otherCertsInChain");
    }
    if (opt < 0)
        return fail(c, RSP_ST_INVALID_FIELD, "otherSignedNotification");
    smdp_trust *t = smdp_trust_get(c->x);
    rsp_euicc_identity id;
    rsp_status st = rsp_verify_euicc_path(t->cis, c->x->eum_cache, NULL, 0, chain, n, euicc.raw,
                                          euicc.raw_len, c->now, &id);
    smdp_trust_put(t);
    if (st != RSP_OK)
        return fail(c, st, "otherSignedNotification certificates");
    snprintf(c->peer, sizeof(c->peer), "%s", id.eid);
    int v = rsp_sig_verify(id.pub, tbs.raw, tbs.raw_len, sig.value, sig.len);
    rsp_euicc_identity_clear(&id);
    if (v != 0)
        return fail(c, RSP_ST_EUICC_SIG_INVALID, "euiccNotificationSignature");
    sgp22_notification_metadata md;
    if (sgp22_notification_metadata_decode(tbs.raw, tbs.raw_len, &md) != DER_OK)
        return fail(c, RSP_ST_INVALID_FIELD, "tbsOtherNotification");
    int event = sgp22_bit(md.pmo, 3) ? 3 : sgp22_bit(md.pmo, 2) ? 2 : sgp22_bit(md.pmo, 1) ? 1 : 0;
    char iccid[SMDP_ICCID_MAX + 1];
    if (!event || !md.iccid.p || smdp_iccid_from_ef(md.iccid.p, iccid) != 0)
        return smdp_call_fail(c, RSP_OK, NULL,
                              "otherSignedNotification without a profile operation to record");
    if (!rsp_auth_same_address(c->x->fqdn, md.notification_address.p, md.notification_address.len))
        return fail(c, RSP_ST_INVALID_FIELD, "notificationAddress is not ours");
    /* a verified profile state change on the device: the order records it and its operator hears of it */
    c->hook.result = dup_bytes(c, der, len);
    c->hook.result_len = len;
    c->hook.notif_seq = md.seq_number;
    c->hook.notif_address = smdp_call_str(c, c->x->fqdn);
    smdp_op *op = smdp_call_prepare_op(c, SMDP_OP_NOTIFICATION);
    op->iccid = smdp_call_str(c, iccid);
    op->eid = smdp_call_str(c, c->peer);
    op->notif_event = event;
    if (!op->iccid || !op->eid || !c->hook.result || !c->hook.notif_address)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->step = STEP_OP;
    return SMDP_CALL_OP;
}

static int handle_notification(smdp_call *c, const rsp_json_doc *doc)
{
    notif_body b;
    if (!smdp_call_bind(c, doc, notif_fields, &b))
        return SMDP_CALL_DONE;
    if (b.data.len >= 2 && b.data.data[0] == 0xBF && b.data.data[1] == 0x37)
        return install_result(c, b.data.data, b.data.len);
    return other_notification(c, b.data.data, b.data.len);
}

/* ---- CancelSession ---- */

static const rsp_json_field cancel_fields[] = {
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, SGP22_TID_MAX, tid_body, tid),
    RSP_JSON_F("cancelSessionResponse", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, 4096, tid_body, data),
    RSP_JSON_END,
};

static int cancel_session(smdp_call *c, const rsp_json_doc *doc)
{
    tid_body b;
    if (!smdp_call_bind(c, doc, cancel_fields, &b))
        return SMDP_CALL_DONE;
    rsp_status st = session_order(c, b.tid.data, b.tid.len);
    if (st != RSP_OK)
        return fail(c, st, "no session with this transactionId");
    sgp22_cancel_session_resp resp;
    if (sgp22_cancel_session_resp_decode(b.data.data, b.data.len, &resp) != DER_OK)
        return fail_msg(c, RSP_ST_INVALID_FIELD, "cancelSessionResponse: not a valid CancelSessionResponse",
                        sgp22_err_field());
    /* an eUICC that no longer has the session answers with an unsigned error: the LPA reports what it
     * got, which is not a failure of this call, and nothing unsigned may change the order */
    if (!resp.is_ok)
        return smdp_call_fail(c, RSP_OK, NULL, "cancelSessionResponseError: order unchanged");
    const sgp22_cancel_session_signed *s = &resp.ok.euicc_cancel_session_signed;
    if (!same(s->transaction_id.p, s->transaction_id.len, c->tid, c->tid_len))
        return fail(c, RSP_ST_TRANSACTION_UNKNOWN, "transactionId in euiccCancelSessionSigned");
    EVP_PKEY *pub = session_key(&c->order);
    int v = pub ? rsp_sig_verify(pub, s->raw.raw, s->raw.raw_len, resp.ok.euicc_cancel_session_signature.p,
                                 resp.ok.euicc_cancel_session_signature.len)
                : -1;
    EVP_PKEY_free(pub);
    if (v != 0)
        return fail(c, RSP_ST_EUICC_SIG_INVALID, "euiccCancelSessionSignature");
    smdp_trust *t = smdp_trust_get(c->x);
    bool oid_ok = same(s->smdp_oid.p, s->smdp_oid.len, t->oid_der, t->oid_der_len);
    smdp_trust_put(t);
    if (!oid_ok)
        return fail(c, RSP_ST_SMDP_OID_INVALID, "smdpOid");
    c->hook.result = dup_bytes(c, b.data.data, b.data.len);
    c->hook.result_len = b.data.len;
    smdp_op *op = smdp_call_prepare_op(c, SMDP_OP_CANCEL_SESSION);
    op->iccid = smdp_call_str(c, c->order.iccid);
    op->tid = c->tid;
    op->tid_len = c->tid_len;
    op->final = !smdp_cancel_keeps(c->x, s->reason);
    /* SGP.22: after postponed or timeout the eUICC may keep its one-time key for a retry, so the
     * binding stays and the next AuthenticateClient offers it (bppEuiccOtpk); any other reason ends it */
    op->keep_binding = s->reason == CANCEL_POSTPONED || s->reason == CANCEL_TIMEOUT;
    if (!op->iccid || !c->hook.result)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->step = STEP_OP;
    return SMDP_CALL_OP;
}

/* ---- dispatch ---- */

int smdp_es9p_start(smdp_call *c, const rsp_json_doc *doc)
{
    switch (c->fn) {
    case SMDP_FN_INITIATE_AUTH:
        return initiate(c, doc);
    case SMDP_FN_AUTH_CLIENT:
        return authenticate(c, doc);
    case SMDP_FN_GET_BPP:
        return get_bpp(c, doc);
    case SMDP_FN_HANDLE_NOTIFICATION:
        return handle_notification(c, doc);
    case SMDP_FN_CANCEL_SESSION:
        return cancel_session(c, doc);
    default:
        return fail(c, RSP_ST_INTERNAL, "not an ES9+ function");
    }
}

int smdp_es9p_resume(smdp_call *c)
{
    rsp_status st = c->op.status;
    if (st != RSP_OK) {
        if (st == RSP_ST_INTERNAL)
            rsp_log(RSP_LOG_ERROR, "%s: store: %s", smdp_fn_name(c->fn), mdb_strerror(c->op.db_err));
        return fail(c, st, "refused by the order store");
    }
    if (c->fn == SMDP_FN_GET_BPP && c->step == STEP_OP)
        return bind_profile(c);
    c->status = RSP_OK;
    return SMDP_CALL_DONE;
}

int smdp_es9p_write(const smdp_call *c, rsp_jsonw *w)
{
    switch (c->fn) {
    case SMDP_FN_INITIATE_AUTH:
        rsp_jsonw_khex(w, "transactionId", c->tid, c->tid_len);
        rsp_jsonw_kbase64(w, "serverSigned1", c->signed1, c->signed1_len);
        rsp_jsonw_kbase64(w, "serverSignature1", c->sig_tlv, sizeof(c->sig_tlv));
        rsp_jsonw_kbase64(w, "euiccCiPKIdToBeUsed", c->pkid, c->pkid_len);
        if (c->cert_others)
            rsp_jsonw_kbase64(w, "otherCertsInChain", c->cert_others, c->cert_others_len);
        return rsp_jsonw_kbase64(w, "serverCertificate", c->cert, c->cert_len);
    case SMDP_FN_AUTH_CLIENT:
        rsp_jsonw_khex(w, "transactionId", c->tid, c->tid_len);
        rsp_jsonw_kbase64(w, "profileMetadata", c->metadata, c->metadata_len);
        rsp_jsonw_kbase64(w, "smdpSigned2", c->smdp_signed2, c->smdp_signed2_len);
        rsp_jsonw_kbase64(w, "smdpSignature2", c->sig_tlv, sizeof(c->sig_tlv));
        if (c->cert_others)
            rsp_jsonw_kbase64(w, "otherCertsInChain", c->cert_others, c->cert_others_len);
        return rsp_jsonw_kbase64(w, "smdpCertificate", c->cert, c->cert_len);
    case SMDP_FN_GET_BPP:
        rsp_jsonw_khex(w, "transactionId", c->tid, c->tid_len);
        return rsp_jsonw_kbase64(w, "boundProfilePackage", c->bpp, c->bpp_len);
    default:
        return 0;
    }
}
