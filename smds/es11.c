#include "smds/es11.h"

#include <stdlib.h>
#include <string.h>

#include "asn1/der.h"
#include "asn1/sgp22.h"
#include "rsp/auth.h"

#define MAX_AUTH_RESPONSE (32 * 1024) /* BF38: two certificates and a few hundred bytes */

/* ---- InitiateAuthentication ---- */

typedef struct init_body {
    rsp_json_bin challenge;
    rsp_json_bin info1;
    const char *smds_address;
    const char *smdp_address;
} init_body;

static const rsp_json_field init_fields[] = {
    RSP_JSON_F("euiccChallenge", RSP_JSON_BASE64, RSP_JSON_MANDATORY, SGP22_CHALLENGE_LEN,
               SGP22_CHALLENGE_LEN, init_body, challenge),
    RSP_JSON_F("euiccInfo1", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, 4096, init_body, info1),
    RSP_JSON_F("smdsAddress", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 0, init_body, smds_address),
    RSP_JSON_F("smdpAddress", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 0, init_body, smdp_address),
    RSP_JSON_END,
};

rsp_status smds_es11_initiate(smds_t *x, rsp_arena *a, const rsp_json_doc *doc, time_t now,
                              smds_es11_init_result *out, smds_msg *msg)
{
    memset(out, 0, sizeof(*out));
    init_body b;
    rsp_status st = smds_msg_bind(doc, init_fields, &b, msg);
    if (st != RSP_OK)
        return st;
    const char *addr = b.smds_address ? b.smds_address : b.smdp_address;
    if (!addr)
        return smds_msg_fail(msg, RSP_ST_MANDATORY_MISSING, "smdsAddress: missing", "no server address");
    sgp22_euicc_info1 info;
    if (sgp22_euicc_info1_decode(b.info1.data, b.info1.len, &info) != DER_OK)
        return smds_msg_fail(msg, RSP_ST_INVALID_FIELD, "euiccInfo1: not a valid EUICCInfo1",
                             sgp22_err_field());
    if (!smds_is_own_address(x, addr, strlen(addr)))
        return smds_msg_fail(msg, RSP_ST_SMDS_ADDRESS_INVALID, NULL, "server address is not ours");
    if (info.svn.len != 3 || (info.svn.p[0] != 2 && info.svn.p[0] != 3))
        return smds_msg_fail(msg, RSP_ST_SMDS_SVN_UNSUPPORTED, NULL, "SVN");

    smds_trust *t = smds_trust_get(x);
    rsp_auth_cred_ci creds[SMDS_MAX_AUTH];
    for (size_t k = 0; k < t->nauth; k++)
        creds[k] = (rsp_auth_cred_ci){t->auth[k].ci_ski, t->auth[k].ci_ski_len};
    int chosen;
    size_t cred;
    int pick = rsp_auth_choose(t->cis, &info, creds, t->nauth, &chosen, &cred);
    if (pick != RSP_AUTH_CHOSEN) {
        smds_trust_put(t);
        if (pick == RSP_AUTH_NO_SIGNING_CI)
            return smds_msg_fail(msg, RSP_ST_SMDS_PKID_UNSUPPORTED, NULL,
                                 "no trusted CI in euiccCiPKIdListForSigning");
        return smds_msg_fail(msg, RSP_ST_SMDS_NO_CERT_FOR_CI, NULL,
                             "no CERT.DSauth under a CI the eUICC verifies");
    }
    out->trust = t;
    out->auth = &t->auth[cred];

    uint8_t challenge[RSP_TXN_CHALLENGE_LEN];
    if (rsp_txn_new(&x->keyring, (uint8_t)chosen, 0, x->txn_ttl, now, out->tid, challenge) != RSP_TXN_OK) {
        smds_es11_init_result_clear(out);
        return smds_msg_fail(msg, RSP_ST_INTERNAL, NULL, "transaction id");
    }
    if (rsp_auth_ci_pkid(a, t->cis, chosen, &out->ci_pkid, &out->ci_pkid_len) != 0 ||
        rsp_auth_server_signed1(a, out->tid, sizeof(out->tid), b.challenge.data, x->fqdn, challenge,
                                out->auth->key, &out->server_signed1, &out->server_signed1_len,
                                out->signature) != 0) {
        smds_es11_init_result_clear(out);
        return smds_msg_fail(msg, RSP_ST_INTERNAL, NULL, "encoding or signing");
    }
    return RSP_OK;
}

int smds_es11_initiate_write(rsp_jsonw *w, const smds_es11_init_result *r)
{
    rsp_jsonw_khex(w, "transactionId", r->tid, sizeof(r->tid));
    rsp_jsonw_kbase64(w, "serverSigned1", r->server_signed1, r->server_signed1_len);
    rsp_jsonw_kbase64(w, "serverSignature1", r->signature, sizeof(r->signature));
    rsp_jsonw_kbase64(w, "euiccCiPKIdToBeUsed", r->ci_pkid, r->ci_pkid_len);
    return rsp_jsonw_kbase64(w, "serverCertificate", r->auth->der, r->auth->der_len);
}

void smds_es11_init_result_clear(smds_es11_init_result *r)
{
    smds_trust_put(r->trust);
    memset(r, 0, sizeof(*r));
}

/* ---- AuthenticateClient ---- */

typedef struct auth_body {
    rsp_json_bin tid;
    rsp_json_bin response;
} auth_body;

static const rsp_json_field auth_fields[] = {
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, SGP22_TID_MAX, auth_body, tid),
    RSP_JSON_F("authenticateServerResponse", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, MAX_AUTH_RESPONSE,
               auth_body, response),
    RSP_JSON_END,
};

/* Keeps only the event named id; false when the list has none. */
static bool select_event(smds_event_list *l, const char *id, size_t len)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strlen(l->items[i].event_id) == len && memcmp(l->items[i].event_id, id, len) == 0) {
            if (i)
                l->items[0] = l->items[i];
            l->n = 1;
            return true;
        }
    }
    l->n = 0;
    return false;
}

rsp_status smds_es11_authenticate_verify(smds_t *x, rsp_arena *a, const rsp_json_doc *doc, time_t now,
                                         smds_es11_auth_result *out, smds_msg *msg)
{
    (void)a;
    memset(out, 0, sizeof(*out));
    auth_body b;
    rsp_status st = smds_msg_bind(doc, auth_fields, &b, msg);
    if (st != RSP_OK)
        return st;
    out->tid = b.tid.data;
    out->tid_len = b.tid.len;

    rsp_txn_info info;
    uint8_t challenge[RSP_TXN_CHALLENGE_LEN];
    sgp22_auth_server_resp resp;
    const char *detail;
    st = rsp_auth_open(&x->keyring, x->replay, b.tid.data, b.tid.len, b.response.data, b.response.len, now,
                       &info, challenge, &resp, &detail);
    if (st == RSP_ST_INVALID_FIELD)
        return smds_msg_fail(msg, st,
                             strcmp(detail, "authenticateResponseError")
                                 ? "authenticateServerResponse: not a valid AuthenticateServerResponse"
                                 : "authenticateServerResponse: the eUICC reported an error",
                             detail);
    if (st != RSP_OK)
        return smds_msg_fail(msg, st, NULL, detail);

    smds_trust *t = smds_trust_get(x);
    rsp_euicc_identity id;
    st = rsp_auth_verify(t->cis, x->eum_cache, &info, challenge, b.tid.data, b.tid.len, &resp.ok, x->fqdn,
                         RSP_ST_SMDS_ADDRESS_INVALID, now, &id, msg->buf, sizeof(msg->buf), &detail);
    smds_trust_put(t);
    if (st != RSP_OK)
        return smds_msg_fail(msg, st, NULL, detail);
    memcpy(out->eid, id.eid, sizeof(out->eid));
    rsp_euicc_identity_clear(&id);

    /* Kept by value: the events may arrive after the request body is gone (asynchronous store read). */
    const sgp22_ctx_params1 *ctx = &resp.ok.euicc_signed1.ctx_params1;
    bool common = ctx->choice == 0 || ctx->choice == SGP22_CTX_COMMON_AUTH;
    if (common && ctx->matching_id.p && ctx->matching_id.len > 0) {
        out->matching_id_len = ctx->matching_id.len;
        memcpy(out->matching_id, ctx->matching_id.p,
               ctx->matching_id.len < sizeof(out->matching_id) ? ctx->matching_id.len
                                                               : sizeof(out->matching_id));
    }
    return RSP_OK;
}

rsp_status smds_es11_authenticate_events(smds_es11_auth_result *out, int rc, smds_event_list *events,
                                         smds_msg *msg)
{
    out->events = *events;
    *events = (smds_event_list){0};
    if (rc != 0) {
        smds_es11_auth_result_clear(out);
        return smds_msg_fail(msg, RSP_ST_INTERNAL, NULL, "store read");
    }
    /* Longer than any EventID: it names nothing (and was only partly kept). */
    if (out->matching_id_len && (out->matching_id_len > sizeof(out->matching_id) ||
                                 !select_event(&out->events, out->matching_id, out->matching_id_len))) {
        smds_es11_auth_result_clear(out);
        return smds_msg_fail(msg, RSP_ST_EVENT_UNKNOWN, NULL, "matchingId names no event of this EID");
    }
    return RSP_OK;
}

rsp_status smds_es11_authenticate(smds_t *x, rsp_arena *a, const rsp_json_doc *doc, time_t now,
                                  smds_es11_auth_result *out, smds_msg *msg)
{
    rsp_status st = smds_es11_authenticate_verify(x, a, doc, now, out, msg);
    if (st != RSP_OK)
        return st;
    smds_event_list l;
    int rc = smds_store_list(x->store, out->eid, now, &l);
    return smds_es11_authenticate_events(out, rc, &l, msg);
}

int smds_es11_authenticate_write(rsp_jsonw *w, const smds_es11_auth_result *r)
{
    rsp_jsonw_khex(w, "transactionId", r->tid, r->tid_len);
    rsp_jsonw_key(w, "eventEntries");
    rsp_jsonw_arr_begin(w);
    for (size_t i = 0; i < r->events.n; i++) {
        rsp_jsonw_obj_begin(w);
        rsp_jsonw_kstr(w, "eventId", r->events.items[i].event_id);
        rsp_jsonw_kstr(w, "rspServerAddress", r->events.items[i].rsp_server_address);
        rsp_jsonw_obj_end(w);
    }
    return rsp_jsonw_arr_end(w);
}

void smds_es11_auth_result_clear(smds_es11_auth_result *r)
{
    smds_event_list_free(&r->events);
    memset(r, 0, sizeof(*r));
}
