#include "smds/es11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "asn1/der.h"
#include "asn1/sgp22.h"

#define MAX_SIGNING_CANDIDATES 16
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

/* Index of the CI with this SKI in the store, or -1. */
static int ci_index(const rsp_ci_store *cis, const uint8_t *ski, size_t len)
{
    size_t n = rsp_ci_store_count(cis);
    for (size_t i = 0; i < n && i < 256; i++) {
        const uint8_t *s;
        size_t sl;
        if (rsp_ci_store_get(cis, i, &s, &sl) && sl == len && memcmp(s, ski, len) == 0)
            return (int)i;
    }
    return -1;
}

/* Appends to idx[] the store index of every CI of list that we trust, in the
 * eUICC's order, without repeats. */
static void trusted_cis(const rsp_ci_store *cis, const sgp22_list *list, int idx[], size_t *n)
{
    der_reader r;
    der_tlv e;
    sgp22_list_reader(list, &r);
    while (*n < MAX_SIGNING_CANDIDATES && der_next(&r, &e) == DER_OK) {
        int i = ci_index(cis, e.value, e.len);
        bool seen = false;
        for (size_t k = 0; k < *n && !seen; k++)
            seen = idx[k] == i;
        if (i >= 0 && !seen)
            idx[(*n)++] = i;
    }
}

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
    int sign[MAX_SIGNING_CANDIDATES];
    size_t nsign = 0;
    trusted_cis(t->cis, &info.ci_pkid_sign, sign, &nsign);
    trusted_cis(t->cis, &info.ci_pkid_sign_v3, sign, &nsign);
    if (nsign == 0) {
        smds_trust_put(t);
        return smds_msg_fail(msg, RSP_ST_SMDS_PKID_UNSUPPORTED, NULL,
                             "no trusted CI in euiccCiPKIdListForSigning");
    }
    const smds_auth *auth = NULL;
    int chosen = sign[0];
    /* Prefer a CERT.DSauth of the CI the eUICC signs with: one PKI end to end. */
    for (size_t s = 0; s < nsign && !auth; s++) {
        const uint8_t *ski;
        size_t ski_len;
        rsp_ci_store_get(t->cis, (size_t)sign[s], &ski, &ski_len);
        for (size_t k = 0; k < t->nauth && !auth; k++) {
            const smds_auth *c = &t->auth[k];
            if (c->ci_ski_len == ski_len && memcmp(c->ci_ski, ski, ski_len) == 0 &&
                sgp22_list_has(&info.ci_pkid_verify, c->ci_ski, c->ci_ski_len)) {
                auth = c;
                chosen = sign[s];
            }
        }
    }
    for (size_t k = 0; k < t->nauth && !auth; k++)
        if (sgp22_list_has(&info.ci_pkid_verify, t->auth[k].ci_ski, t->auth[k].ci_ski_len))
            auth = &t->auth[k];
    if (!auth) {
        smds_trust_put(t);
        return smds_msg_fail(msg, RSP_ST_SMDS_NO_CERT_FOR_CI, NULL,
                             "no CERT.DSauth under a CI the eUICC verifies");
    }
    out->trust = t;
    out->auth = auth;

    uint8_t challenge[RSP_TXN_CHALLENGE_LEN];
    if (rsp_txn_new(&x->keyring, (uint8_t)chosen, 0, x->txn_ttl, now, out->tid, challenge) != RSP_TXN_OK) {
        smds_es11_init_result_clear(out);
        return smds_msg_fail(msg, RSP_ST_INTERNAL, NULL, "transaction id");
    }
    sgp22_server_signed1 ss;
    memset(&ss, 0, sizeof(ss));
    ss.transaction_id = SGP22_BYTES(out->tid, RSP_TXN_ID_LEN);
    ss.euicc_challenge = SGP22_BYTES(b.challenge.data, b.challenge.len);
    ss.server_address = SGP22_BYTES(x->fqdn, strlen(x->fqdn));
    ss.server_challenge = SGP22_BYTES(challenge, sizeof(challenge));
    der_writer w;
    der_w_init(&w);
    sgp22_server_signed1_encode(&w, &ss);
    uint8_t *signed1 = NULL;
    if (der_w_finish(&w) == DER_OK)
        signed1 = rsp_arena_memdup(a, w.buf, w.len);
    size_t signed1_len = w.len;
    der_w_free(&w);
    const uint8_t *ski;
    size_t ski_len;
    rsp_ci_store_get(t->cis, (size_t)chosen, &ski, &ski_len);
    uint8_t *pkid = rsp_arena_alloc(a, 2 + ski_len);
    if (!signed1 || !pkid || ski_len > 127) {
        smds_es11_init_result_clear(out);
        return smds_msg_fail(msg, RSP_ST_INTERNAL, NULL, "encoding");
    }
    pkid[0] = 0x04;
    pkid[1] = (uint8_t)ski_len;
    memcpy(pkid + 2, ski, ski_len);
    out->ci_pkid = pkid;
    out->ci_pkid_len = 2 + ski_len;
    out->server_signed1 = signed1;
    out->server_signed1_len = signed1_len;
    out->signature[0] = 0x5F;
    out->signature[1] = 0x37;
    out->signature[2] = RSP_SIG_LEN;
    if (rsp_sig_sign(auth->key, signed1, signed1_len, out->signature + 3) != 0) {
        smds_es11_init_result_clear(out);
        return smds_msg_fail(msg, RSP_ST_INTERNAL, NULL, "signing");
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
static bool select_event(smds_event_list *l, const uint8_t *id, size_t len)
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

static rsp_status verify(smds_t *x, smds_trust *t, const auth_body *b, const sgp22_auth_resp_ok *ok,
                         const rsp_txn_info *info, const uint8_t challenge[RSP_TXN_CHALLENGE_LEN], time_t now,
                         smds_es11_auth_result *out, smds_msg *msg)
{
    const uint8_t *ci_ski;
    size_t ci_ski_len;
    if (info->ci_index >= rsp_ci_store_count(t->cis) ||
        !rsp_ci_store_get(t->cis, info->ci_index, &ci_ski, &ci_ski_len))
        return smds_msg_fail(msg, RSP_ST_CI_PK_UNKNOWN, NULL, "chosen CI no longer configured");
    rsp_euicc_identity id;
    rsp_status st = rsp_verify_euicc_chain(t->cis, x->eum_cache, ci_ski, ci_ski_len, ok->eum_certificate.raw,
                                           ok->eum_certificate.raw_len, ok->euicc_certificate.raw,
                                           ok->euicc_certificate.raw_len, now, &id);
    if (st != RSP_OK) {
        snprintf(msg->buf, sizeof(msg->buf), "%s", rsp_cert_last_reason());
        return smds_msg_fail(msg, st, NULL, msg->buf);
    }
    const sgp22_euicc_signed1 *es1 = &ok->euicc_signed1;
    int sig = rsp_sig_verify(id.pub, es1->raw.raw, es1->raw.raw_len, ok->euicc_signature1.p,
                             ok->euicc_signature1.len);
    memcpy(out->eid, id.eid, sizeof(out->eid));
    rsp_euicc_identity_clear(&id);
    if (sig != 0)
        return smds_msg_fail(msg, RSP_ST_EUICC_SIG_INVALID, NULL, "euiccSignature1");
    /* Before the challenge: transactionIds are stateless, so one this server never issued is only
     * recognised by not being the one the eUICC signed. */
    if (es1->transaction_id.len != b->tid.len || memcmp(es1->transaction_id.p, b->tid.data, b->tid.len) != 0)
        return smds_msg_fail(msg, RSP_ST_TRANSACTION_UNKNOWN, NULL, "transactionId in euiccSigned1");
    if (es1->server_challenge.len != RSP_TXN_CHALLENGE_LEN ||
        CRYPTO_memcmp(es1->server_challenge.p, challenge, RSP_TXN_CHALLENGE_LEN) != 0)
        return smds_msg_fail(msg, RSP_ST_EUICC_SIG_INVALID, NULL, "serverChallenge");
    if (!smds_is_own_address(x, (const char *)es1->server_address.p, es1->server_address.len))
        return smds_msg_fail(msg, RSP_ST_SMDS_ADDRESS_INVALID, NULL, "serverAddress in euiccSigned1");
    return RSP_OK;
}

rsp_status smds_es11_authenticate(smds_t *x, rsp_arena *a, const rsp_json_doc *doc, time_t now,
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
    int rc = rsp_txn_open(&x->keyring, b.tid.data, b.tid.len, now, &info, challenge);
    if (rc != RSP_TXN_OK)
        return smds_msg_fail(msg, RSP_ST_TRANSACTION_UNKNOWN, NULL, rsp_txn_strerror(rc));
    sgp22_auth_server_resp resp;
    if (sgp22_auth_server_resp_decode(b.response.data, b.response.len, &resp) != DER_OK)
        return smds_msg_fail(msg, RSP_ST_INVALID_FIELD,
                             "authenticateServerResponse: not a valid AuthenticateServerResponse",
                             sgp22_err_field());
    /* Consumed from here on: whatever follows, this transaction is over. */
    rc = rsp_txn_consume(x->replay, b.tid.data, info.expiry, now);
    if (rc == RSP_TXN_EREPLAY)
        return smds_msg_fail(msg, RSP_ST_TRANSACTION_UNKNOWN, NULL, "transactionId replayed");
    if (rc != RSP_TXN_OK)
        return smds_msg_fail(msg, RSP_ST_INTERNAL, NULL, rsp_txn_strerror(rc));
    if (!resp.is_ok)
        return smds_msg_fail(msg, RSP_ST_INVALID_FIELD,
                             "authenticateServerResponse: the eUICC reported an error",
                             "authenticateResponseError");

    smds_trust *t = smds_trust_get(x);
    st = verify(x, t, &b, &resp.ok, &info, challenge, now, out, msg);
    smds_trust_put(t);
    if (st != RSP_OK)
        return st;

    if (smds_store_list(x->store, out->eid, now, &out->events) != 0)
        return smds_msg_fail(msg, RSP_ST_INTERNAL, NULL, "store read");
    const sgp22_ctx_params1 *ctx = &resp.ok.euicc_signed1.ctx_params1;
    bool common = ctx->choice == 0 || ctx->choice == SGP22_CTX_COMMON_AUTH;
    if (common && ctx->matching_id.p && ctx->matching_id.len > 0 &&
        !select_event(&out->events, ctx->matching_id.p, ctx->matching_id.len)) {
        smds_es11_auth_result_clear(out);
        return smds_msg_fail(msg, RSP_ST_EVENT_UNKNOWN, NULL, "matchingId names no event of this EID");
    }
    return RSP_OK;
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
