#include "smdp_default/es9p.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "asn1/der.h"
#include "asn1/sgp22.h"
#include "rsp/cert.h"
#include "rsp/es.h"
#include "rsp/log.h"
#include "rsp/sig.h"
#include "rsp/txn.h"

#define MAX_CERTS 8
#define MAX_CANDIDATES 16
#define MAX_BODY_B64 (64 * 1024)
#define OID_TEXT_MAX 64

typedef struct cert_key {
    X509 *cert;
    EVP_PKEY *key;
    uint8_t *der;
    size_t der_len;
    uint8_t ci_ski[RSP_SKI_MAX];
    size_t ci_ski_len;
    char oid[OID_TEXT_MAX]; /* SAN registeredID, "" if none */
} cert_key;

struct smdp_es9p {
    char *fqdn;
    uint8_t host_id[16];
    size_t host_id_len;
    rsp_ci_store *cis;
    cert_key auth[MAX_CERTS], pb[MAX_CERTS];
    size_t nauth, npb;
    uint32_t txn_ttl;
    rsp_txn_keyring keyring;
    rsp_txn_cache *replay;
    rsp_eum_cache *eum_cache;
    smdp_orders *orders;
    const smdp_mkey *mk;
    rsp_metrics *metrics;
};

/* ---- setup ---- */

static void seterr(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, arg ? arg : "");
}

static void san_rid(X509 *cert, char *out, size_t cap)
{
    out[0] = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_RID) {
            OBJ_obj2txt(out, (int)cap, g->d.registeredID, 1);
            break;
        }
    }
    GENERAL_NAMES_free(names);
}

static int load_cert_key(smdp_es9p *e, cert_key *set, size_t *n, const char *cert_path, const char *key_path,
                         const char *role, char *err, size_t errlen)
{
    cert_key *c = &set[*n];
    memset(c, 0, sizeof(*c));
    c->cert = rsp_load_cert(cert_path);
    c->key = rsp_load_key(key_path);
    if (!c->cert || !c->key) {
        seterr(err, errlen, "cannot read certificate or key: %s", c->cert ? key_path : cert_path);
        goto fail;
    }
    if (X509_check_private_key(c->cert, c->key) != 1) {
        seterr(err, errlen, "%s does not match its key", cert_path);
        goto fail;
    }
    if (rsp_verify_server_cert(e->cis, c->cert, role, time(NULL), NULL) != 0) {
        seterr(err, errlen, "%s is not a valid certificate of its role under a configured CI", cert_path);
        rsp_log(RSP_LOG_ERROR, "%s: %s", cert_path, rsp_cert_last_reason());
        goto fail;
    }
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(c->cert);
    if (!aki || aki->length <= 0 || (size_t)aki->length > RSP_SKI_MAX) {
        seterr(err, errlen, "%s: no usable AKI", cert_path);
        goto fail;
    }
    for (size_t i = 0; i < *n; i++) {
        if (set[i].ci_ski_len == (size_t)aki->length &&
            !memcmp(set[i].ci_ski, aki->data, set[i].ci_ski_len)) {
            seterr(err, errlen, "%s: a second certificate for the same CI", cert_path);
            goto fail;
        }
    }
    memcpy(c->ci_ski, aki->data, (size_t)aki->length);
    c->ci_ski_len = (size_t)aki->length;
    unsigned char *der = NULL;
    int len = i2d_X509(c->cert, &der);
    if (len <= 0) {
        seterr(err, errlen, "%s: cannot encode", cert_path);
        goto fail;
    }
    c->der = der;
    c->der_len = (size_t)len;
    san_rid(c->cert, c->oid, sizeof(c->oid));
    (*n)++;
    return 0;
fail:
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    memset(c, 0, sizeof(*c));
    return -1;
}

static void free_set(cert_key *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        X509_free(set[i].cert);
        EVP_PKEY_free(set[i].key);
        OPENSSL_free(set[i].der);
    }
}

smdp_es9p *smdp_es9p_new(const smdp_es9p_config *cfg, char *err, size_t errlen)
{
    if (!cfg->fqdn || !cfg->fqdn[0] || strlen(cfg->fqdn) > 255 || !cfg->orders || !cfg->mk ||
        !cfg->txn_secret_file) {
        seterr(err, errlen, "FQDN, order store, master key and transaction secret are required%s", NULL);
        return NULL;
    }
    if (cfg->n_auth > MAX_CERTS || cfg->n_pb > MAX_CERTS || cfg->n_auth == 0 || cfg->n_pb == 0) {
        seterr(err, errlen, "between 1 and 8 CERT.DPauth and CERT.DPpb certificates are needed%s", NULL);
        return NULL;
    }
    smdp_es9p *e = calloc(1, sizeof(*e));
    if (!e || !(e->fqdn = strdup(cfg->fqdn)) || !(e->cis = rsp_ci_store_new())) {
        seterr(err, errlen, "out of memory%s", NULL);
        smdp_es9p_free(e);
        return NULL;
    }
    const char *hid = cfg->host_id && cfg->host_id[0] ? cfg->host_id : cfg->fqdn;
    e->host_id_len = strlen(hid) > sizeof(e->host_id) ? sizeof(e->host_id) : strlen(hid);
    memcpy(e->host_id, hid, e->host_id_len);
    e->orders = cfg->orders;
    e->mk = cfg->mk;
    e->metrics = cfg->metrics;
    e->txn_ttl = cfg->txn_ttl ? cfg->txn_ttl : 600;
    for (size_t i = 0; i < cfg->n_ci; i++) {
        if (rsp_ci_store_add_file(e->cis, cfg->ci_files[i]) != 0) {
            seterr(err, errlen, "cannot load CI certificate %s", cfg->ci_files[i]);
            goto fail;
        }
    }
    for (size_t i = 0; i < cfg->n_auth; i++)
        if (load_cert_key(e, e->auth, &e->nauth, cfg->auth_certs[i], cfg->auth_keys[i], RSP_OID_ROLE_DP_AUTH,
                          err, errlen) != 0)
            goto fail;
    for (size_t i = 0; i < cfg->n_pb; i++)
        if (load_cert_key(e, e->pb, &e->npb, cfg->pb_certs[i], cfg->pb_keys[i], RSP_OID_ROLE_DP_PB, err,
                          errlen) != 0)
            goto fail;
    if (rsp_txn_keyring_load(&e->keyring, cfg->txn_secret_file, 1) != 0) {
        seterr(err, errlen, "transaction secret %s: cannot read or create", cfg->txn_secret_file);
        goto fail;
    }
    e->replay = rsp_txn_cache_new(cfg->replay_capacity ? cfg->replay_capacity : 100000);
    e->eum_cache = rsp_eum_cache_new(cfg->eum_cache_capacity ? cfg->eum_cache_capacity : 1024);
    if (!e->replay || !e->eum_cache) {
        seterr(err, errlen, "out of memory%s", NULL);
        goto fail;
    }
    return e;
fail:
    smdp_es9p_free(e);
    return NULL;
}

void smdp_es9p_free(smdp_es9p *e)
{
    if (!e)
        return;
    free_set(e->auth, e->nauth);
    free_set(e->pb, e->npb);
    rsp_ci_store_free(e->cis);
    rsp_txn_cache_free(e->replay);
    rsp_eum_cache_free(e->eum_cache);
    rsp_txn_keyring_wipe(&e->keyring);
    free(e->fqdn);
    free(e);
}

static bool own_address(const smdp_es9p *e, const uint8_t *addr, size_t len)
{
    return len == strlen(e->fqdn) && strncasecmp((const char *)addr, e->fqdn, len) == 0;
}

static const cert_key *cert_for_ci(const cert_key *set, size_t n, const uint8_t *ski, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (set[i].ci_ski_len == len && memcmp(set[i].ci_ski, ski, len) == 0)
            return &set[i];
    return NULL;
}

/* ---- deferred completion ---- */

typedef struct pending pending;
typedef void (*finish_fn)(pending *p);

/* One request waiting for the order store; malloc'd because it outlives the
 * handler (and, if the client goes away, the request). */
struct pending {
    smdp_es9p *e;
    rsp_es_ctx *c; /* in the request's pool: valid only while req is */
    rsp_http_deferred_t *d;
    finish_fn finish; /* runs on the worker with the op done */
    smdp_op op;
    char iccid[SMDP_ICCID_MAX + 1];
    char eid[SMDP_EID_DIGITS + 1];
    uint8_t tid[SMDP_TID_MAX];
    size_t tid_len;
    uint8_t pub[SMDP_PUB_MAX];
    size_t pub_len;
    uint8_t sig2[SMDP_SIG_LEN];
    uint8_t signed2[160];
    size_t signed2_len;
    const cert_key *pb;
    /* getBoundProfilePackage */
    uint8_t otpk[SMDP_OTPK_LEN];
    uint8_t hash_cc[32];
    bool has_hash_cc;
    uint8_t *bpp;
    size_t bpp_len;
    uint8_t *otsk_blob;
    size_t otsk_len;
    smdp_order order; /* as found before the op */
};

static void pending_free(pending *p)
{
    if (!p)
        return;
    free(p->bpp);
    free(p->otsk_blob);
    OPENSSL_cleanse(p, sizeof(*p));
    free(p);
}

static int resumed(h2o_req_t *req, void *arg)
{
    pending *p = arg;
    if (req)
        p->finish(p);
    else
        pending_free(p);
    return 0;
}

static void op_done(smdp_op *op)
{
    pending *p = op->user;
    rsp_http_resume(p->d, resumed, p);
}

static pending *pending_new(smdp_es9p *e, rsp_es_ctx *c)
{
    pending *p = calloc(1, sizeof(*p));
    if (!p) {
        c->detail = "out of memory";
        rsp_es_reply_status(c, RSP_ST_INTERNAL);
        return NULL;
    }
    p->e = e;
    p->c = c;
    return p;
}

/* Defers the request and queues p->op; on failure answers and frees p. */
static void submit(pending *p, finish_fn finish)
{
    p->finish = finish;
    p->op.done = op_done;
    p->op.user = p;
    p->op.now = (uint64_t)time(NULL);
    if (!(p->d = rsp_http_defer(p->c->req))) {
        p->c->detail = "out of memory";
        rsp_es_reply_status(p->c, RSP_ST_INTERNAL);
        pending_free(p);
        return;
    }
    if (smdp_orders_submit(p->e->orders, &p->op) != 0) {
        /* done will never run: resume ourselves so the deferral ends */
        p->op.status = RSP_ST_INTERNAL;
        p->c->detail = "order store unavailable";
        rsp_http_resume(p->d, resumed, p);
    }
}

static bool refused(pending *p)
{
    if (p->op.status == RSP_OK)
        return false;
    if (!p->c->detail)
        p->c->detail = "order store refused";
    rsp_es_reply_status(p->c, p->op.status);
    pending_free(p);
    return true;
}

static void fail_msg(rsp_es_ctx *c, rsp_status st, const char *message, const char *detail)
{
    c->detail = detail;
    rsp_es_reply_status_msg(c, st, message);
}

static void sig_tlv(uint8_t out[3 + SMDP_SIG_LEN], const uint8_t sig[SMDP_SIG_LEN])
{
    out[0] = 0x5F;
    out[1] = 0x37;
    out[2] = SMDP_SIG_LEN;
    memcpy(out + 3, sig, SMDP_SIG_LEN);
}

static EVP_PKEY *stored_pub(const smdp_order *o)
{
    if (!o->euicc_pub_len)
        return NULL;
    const unsigned char *q = o->euicc_pub;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &q, (long)o->euicc_pub_len);
    if (k && rsp_sig_key_curve(k) < 0) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

/* ---- initiateAuthentication ---- */

typedef struct init_body {
    rsp_json_bin challenge;
    rsp_json_bin info1;
    const char *smdp_address;
} init_body;

static const rsp_json_field init_fields[] = {
    RSP_JSON_F("euiccChallenge", RSP_JSON_BASE64, RSP_JSON_MANDATORY, SGP22_CHALLENGE_LEN,
               SGP22_CHALLENGE_LEN, init_body, challenge),
    RSP_JSON_F("euiccInfo1", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, 4096, init_body, info1),
    RSP_JSON_F("smdpAddress", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 255, init_body, smdp_address),
    RSP_JSON_END,
};

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

static void trusted_cis(const rsp_ci_store *cis, const sgp22_list *list, int idx[], size_t *n)
{
    der_reader r;
    der_tlv t;
    sgp22_list_reader(list, &r);
    while (*n < MAX_CANDIDATES && der_next(&r, &t) == DER_OK) {
        int i = ci_index(cis, t.value, t.len);
        bool seen = false;
        for (size_t k = 0; k < *n && !seen; k++)
            seen = idx[k] == i;
        if (i >= 0 && !seen)
            idx[(*n)++] = i;
    }
}

static int h_initiate(h2o_req_t *req, void *ctx)
{
    smdp_es9p *e = ctx;
    rsp_es_ctx *c = rsp_es_begin(req, "ES9+.InitiateAuthentication", e->metrics, 0);
    if (!c)
        return 0;
    init_body b;
    if (!rsp_es_bind(c, init_fields, &b))
        return 0;
    sgp22_euicc_info1 info;
    if (sgp22_euicc_info1_decode(b.info1.data, b.info1.len, &info) != DER_OK) {
        fail_msg(c, RSP_ST_INVALID_FIELD, "euiccInfo1: not a valid EUICCInfo1", sgp22_err_field());
        return 0;
    }
    if (!own_address(e, (const uint8_t *)b.smdp_address, strlen(b.smdp_address))) {
        fail_msg(c, RSP_ST_SMDP_ADDRESS_INVALID, NULL, "smdpAddress is not ours");
        return 0;
    }
    if (info.svn.len != 3 || (info.svn.p[0] != 2 && info.svn.p[0] != 3)) {
        fail_msg(c, RSP_ST_SMDP_SVN_UNSUPPORTED, NULL, "SVN");
        return 0;
    }
    int sign[MAX_CANDIDATES];
    size_t nsign = 0;
    trusted_cis(e->cis, &info.ci_pkid_sign, sign, &nsign);
    trusted_cis(e->cis, &info.ci_pkid_sign_v3, sign, &nsign);
    if (nsign == 0) {
        fail_msg(c, RSP_ST_SMDP_PKID_UNSUPPORTED, NULL, "no trusted CI in euiccCiPKIdListForSigning");
        return 0;
    }
    const cert_key *auth = NULL;
    int chosen = sign[0];
    /* Prefer the CERT.DPauth of the CI the eUICC signs with: one PKI end to end. */
    for (size_t s = 0; s < nsign && !auth; s++) {
        const uint8_t *ski;
        size_t ski_len;
        rsp_ci_store_get(e->cis, (size_t)sign[s], &ski, &ski_len);
        const cert_key *a = cert_for_ci(e->auth, e->nauth, ski, ski_len);
        if (a && sgp22_list_has(&info.ci_pkid_verify, a->ci_ski, a->ci_ski_len)) {
            auth = a;
            chosen = sign[s];
        }
    }
    for (size_t k = 0; k < e->nauth && !auth; k++)
        if (sgp22_list_has(&info.ci_pkid_verify, e->auth[k].ci_ski, e->auth[k].ci_ski_len))
            auth = &e->auth[k];
    if (!auth) {
        fail_msg(c, RSP_ST_SMDP_NO_CERT_FOR_CI, NULL, "no CERT.DPauth under a CI the eUICC verifies");
        return 0;
    }
    uint8_t tid[RSP_TXN_ID_LEN], challenge[RSP_TXN_CHALLENGE_LEN];
    if (rsp_txn_new(&e->keyring, (uint8_t)chosen, 0, e->txn_ttl, time(NULL), tid, challenge) != RSP_TXN_OK) {
        fail_msg(c, RSP_ST_INTERNAL, NULL, "transaction id");
        return 0;
    }
    sgp22_server_signed1 ss;
    memset(&ss, 0, sizeof(ss));
    ss.transaction_id = SGP22_BYTES(tid, sizeof(tid));
    ss.euicc_challenge = SGP22_BYTES(b.challenge.data, b.challenge.len);
    ss.server_address = SGP22_BYTES(e->fqdn, strlen(e->fqdn));
    ss.server_challenge = SGP22_BYTES(challenge, sizeof(challenge));
    der_writer w;
    der_w_init(&w);
    sgp22_server_signed1_encode(&w, &ss);
    uint8_t sig[3 + RSP_SIG_LEN];
    const uint8_t *ski;
    size_t ski_len;
    rsp_ci_store_get(e->cis, (size_t)chosen, &ski, &ski_len);
    uint8_t pkid[2 + RSP_SKI_MAX];
    if (der_w_finish(&w) != DER_OK || ski_len > RSP_SKI_MAX ||
        rsp_sig_sign(auth->key, w.buf, w.len, sig + 3) != 0) {
        der_w_free(&w);
        fail_msg(c, RSP_ST_INTERNAL, NULL, "encoding or signing");
        return 0;
    }
    sig[0] = 0x5F;
    sig[1] = 0x37;
    sig[2] = RSP_SIG_LEN;
    pkid[0] = 0x04;
    pkid[1] = (uint8_t)ski_len;
    memcpy(pkid + 2, ski, ski_len);
    rsp_jsonw jw;
    rsp_es_reply_begin(c, &jw, RSP_OK);
    rsp_jsonw_khex(&jw, "transactionId", tid, sizeof(tid));
    rsp_jsonw_kbase64(&jw, "serverSigned1", w.buf, w.len);
    rsp_jsonw_kbase64(&jw, "serverSignature1", sig, sizeof(sig));
    rsp_jsonw_kbase64(&jw, "euiccCiPKIdToBeUsed", pkid, 2 + ski_len);
    rsp_jsonw_kbase64(&jw, "serverCertificate", auth->der, auth->der_len);
    rsp_es_reply_end(c, &jw, RSP_OK);
    der_w_free(&w);
    return 0;
}

/* ---- authenticateClient ---- */

typedef struct auth_body {
    rsp_json_bin tid;
    rsp_json_bin response;
} auth_body;

static const rsp_json_field auth_fields[] = {
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, SGP22_TID_MAX, auth_body, tid),
    RSP_JSON_F("authenticateServerResponse", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, MAX_BODY_B64, auth_body,
               response),
    RSP_JSON_END,
};

static void auth_finish(pending *p)
{
    if (refused(p))
        return;
    rsp_es_ctx *c = p->c;
    der_writer md;
    der_w_init(&md);
    if (smdp_order_metadata(&p->op.after, &md) != 0 || der_w_finish(&md) != DER_OK) {
        der_w_free(&md);
        fail_msg(c, RSP_ST_INTERNAL, NULL, "profile metadata");
        pending_free(p);
        return;
    }
    uint8_t sig[3 + SMDP_SIG_LEN];
    sig_tlv(sig, p->sig2);
    rsp_jsonw w;
    rsp_es_reply_begin(c, &w, RSP_OK);
    rsp_jsonw_khex(&w, "transactionId", p->tid, p->tid_len);
    rsp_jsonw_kbase64(&w, "profileMetadata", md.buf, md.len);
    rsp_jsonw_kbase64(&w, "smdpSigned2", p->signed2, p->signed2_len);
    rsp_jsonw_kbase64(&w, "smdpSignature2", sig, sizeof(sig));
    rsp_jsonw_kbase64(&w, "smdpCertificate", p->pb->der, p->pb->der_len);
    rsp_es_reply_end(c, &w, RSP_OK);
    der_w_free(&md);
    pending_free(p);
}

/* The section 2 checks after the transaction is open; fills id. */
static rsp_status verify_client(smdp_es9p *e, const auth_body *b, const sgp22_auth_resp_ok *ok,
                                const rsp_txn_info *info, const uint8_t challenge[RSP_TXN_CHALLENGE_LEN],
                                time_t now, rsp_euicc_identity *id, const char **detail)
{
    const uint8_t *ci_ski;
    size_t ci_ski_len;
    if (info->ci_index >= rsp_ci_store_count(e->cis) ||
        !rsp_ci_store_get(e->cis, info->ci_index, &ci_ski, &ci_ski_len)) {
        *detail = "chosen CI no longer configured";
        return RSP_ST_CI_PK_UNKNOWN;
    }
    rsp_status st = rsp_verify_euicc_chain(e->cis, e->eum_cache, ci_ski, ci_ski_len, ok->eum_certificate.raw,
                                           ok->eum_certificate.raw_len, ok->euicc_certificate.raw,
                                           ok->euicc_certificate.raw_len, now, id);
    if (st != RSP_OK) {
        *detail = "eUICC chain";
        return st;
    }
    const sgp22_euicc_signed1 *es1 = &ok->euicc_signed1;
    if (rsp_sig_verify(id->pub, es1->raw.raw, es1->raw.raw_len, ok->euicc_signature1.p,
                       ok->euicc_signature1.len) != 0) {
        *detail = "euiccSignature1";
        return RSP_ST_EUICC_SIG_INVALID;
    }
    if (es1->transaction_id.len != b->tid.len ||
        memcmp(es1->transaction_id.p, b->tid.data, b->tid.len) != 0) {
        *detail = "transactionId in euiccSigned1";
        return RSP_ST_TRANSACTION_UNKNOWN;
    }
    if (es1->server_challenge.len != RSP_TXN_CHALLENGE_LEN ||
        CRYPTO_memcmp(es1->server_challenge.p, challenge, RSP_TXN_CHALLENGE_LEN) != 0) {
        *detail = "serverChallenge";
        return RSP_ST_EUICC_SIG_INVALID;
    }
    if (!own_address(e, es1->server_address.p, es1->server_address.len)) {
        *detail = "serverAddress in euiccSigned1";
        return RSP_ST_SMDP_ADDRESS_INVALID;
    }
    return RSP_OK;
}

static int h_authenticate(h2o_req_t *req, void *ctx)
{
    smdp_es9p *e = ctx;
    rsp_es_ctx *c = rsp_es_begin(req, "ES9+.AuthenticateClient", e->metrics, 0);
    if (!c)
        return 0;
    auth_body b;
    if (!rsp_es_bind(c, auth_fields, &b))
        return 0;
    time_t now = time(NULL);
    rsp_txn_info info;
    uint8_t challenge[RSP_TXN_CHALLENGE_LEN];
    int rc = rsp_txn_open(&e->keyring, b.tid.data, b.tid.len, now, &info, challenge);
    if (rc != RSP_TXN_OK) {
        fail_msg(c, RSP_ST_TRANSACTION_UNKNOWN, NULL, rsp_txn_strerror(rc));
        return 0;
    }
    sgp22_auth_server_resp resp;
    if (sgp22_auth_server_resp_decode(b.response.data, b.response.len, &resp) != DER_OK) {
        fail_msg(c, RSP_ST_INVALID_FIELD,
                 "authenticateServerResponse: not a valid AuthenticateServerResponse", sgp22_err_field());
        return 0;
    }
    /* Consumed from here on: whatever follows, this authentication is over. */
    rc = rsp_txn_consume(e->replay, b.tid.data, info.expiry, now);
    if (rc != RSP_TXN_OK) {
        fail_msg(c, rc == RSP_TXN_EREPLAY ? RSP_ST_TRANSACTION_UNKNOWN : RSP_ST_INTERNAL, NULL,
                 rsp_txn_strerror(rc));
        return 0;
    }
    if (!resp.is_ok) {
        fail_msg(c, RSP_ST_INVALID_FIELD, "authenticateServerResponse: the eUICC reported an error",
                 "authenticateResponseError");
        return 0;
    }
    rsp_euicc_identity id;
    memset(&id, 0, sizeof(id));
    const char *detail = NULL;
    rsp_status st = verify_client(e, &b, &resp.ok, &info, challenge, now, &id, &detail);
    if (st != RSP_OK) {
        rsp_euicc_identity_clear(&id);
        fail_msg(c, st, NULL, detail);
        return 0;
    }
    pending *p = pending_new(e, c);
    if (!p) {
        rsp_euicc_identity_clear(&id);
        return 0;
    }
    memcpy(p->eid, id.eid, sizeof(p->eid));
    c->peer = rsp_arena_strndup(c->arena, id.eid, strlen(id.eid));
    unsigned char *q = p->pub;
    int publen = i2d_PUBKEY(id.pub, NULL);
    if (publen > 0 && (size_t)publen <= sizeof(p->pub))
        publen = i2d_PUBKEY(id.pub, &q);
    rsp_euicc_identity_clear(&id);
    if (publen <= 0 || (size_t)publen > sizeof(p->pub)) {
        fail_msg(c, RSP_ST_INTERNAL, NULL, "eUICC public key");
        pending_free(p);
        return 0;
    }
    p->pub_len = (size_t)publen;

    const sgp22_ctx_params1 *cp = &resp.ok.euicc_signed1.ctx_params1;
    bool common = cp->choice == 0 || cp->choice == SGP22_CTX_COMMON_AUTH;
    if (common && cp->matching_id.p && cp->matching_id.len > 0) {
        char mid[SMDP_MID_MAX + 1];
        if (cp->matching_id.len > SMDP_MID_MAX || memchr(cp->matching_id.p, 0, cp->matching_id.len)) {
            st = RSP_ST_MATCHING_ID_REFUSED;
        } else {
            memcpy(mid, cp->matching_id.p, cp->matching_id.len);
            mid[cp->matching_id.len] = 0;
            st = smdp_orders_find_by_matching_id(e->orders, mid, p->eid, &p->order);
        }
    } else {
        st = smdp_orders_find_by_eid(e->orders, p->eid, &p->order);
    }
    if (st != RSP_OK) {
        fail_msg(c, st, NULL, "order lookup");
        pending_free(p);
        return 0;
    }

    /* CERT.DPpb of the CI chosen at InitiateAuthentication, else any. */
    const uint8_t *ci_ski;
    size_t ci_ski_len;
    rsp_ci_store_get(e->cis, info.ci_index, &ci_ski, &ci_ski_len);
    p->pb = cert_for_ci(e->pb, e->npb, ci_ski, ci_ski_len);
    if (!p->pb)
        p->pb = &e->pb[0];

    memcpy(p->tid, b.tid.data, b.tid.len);
    p->tid_len = b.tid.len;
    sgp22_smdp_signed2 s2;
    memset(&s2, 0, sizeof(s2));
    s2.transaction_id = SGP22_BYTES(p->tid, p->tid_len);
    s2.cc_required = p->order.has_cc;
    if (p->order.binding.present)
        s2.bpp_euicc_otpk = SGP22_BYTES(p->order.binding.euicc_otpk, SMDP_OTPK_LEN);
    der_writer w;
    der_w_init(&w);
    sgp22_smdp_signed2_encode(&w, &s2);
    uint8_t es1[3 + SMDP_SIG_LEN];
    sig_tlv(es1, resp.ok.euicc_signature1.p);
    bool good = der_w_finish(&w) == DER_OK && w.len <= sizeof(p->signed2) &&
                rsp_sig_sign2(p->pb->key, w.buf, w.len, es1, sizeof(es1), p->sig2) == 0;
    if (good) {
        memcpy(p->signed2, w.buf, w.len);
        p->signed2_len = w.len;
    }
    der_w_free(&w);
    if (!good) {
        fail_msg(c, RSP_ST_INTERNAL, NULL, "smdpSigned2");
        pending_free(p);
        return 0;
    }
    memcpy(p->iccid, p->order.iccid, sizeof(p->iccid));
    p->op.kind = SMDP_OP_DOWNLOAD_START;
    p->op.iccid = p->iccid;
    p->op.eid = p->eid;
    p->op.tid = p->tid;
    p->op.tid_len = p->tid_len;
    p->op.euicc_pub = p->pub;
    p->op.euicc_pub_len = p->pub_len;
    p->op.smdp_sig2 = p->sig2;
    submit(p, auth_finish);
    return 0;
}

/* ---- getBoundProfilePackage ---- */

typedef struct gbpp_body {
    rsp_json_bin tid;
    rsp_json_bin response;
} gbpp_body;

static const rsp_json_field gbpp_fields[] = {
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, SGP22_TID_MAX, gbpp_body, tid),
    RSP_JSON_F("prepareDownloadResponse", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, MAX_BODY_B64, gbpp_body,
               response),
    RSP_JSON_END,
};

static void reply_bpp(rsp_es_ctx *c, const uint8_t *tid, size_t tid_len, const uint8_t *bpp, size_t len)
{
    rsp_jsonw w;
    rsp_es_reply_begin(c, &w, RSP_OK);
    rsp_jsonw_khex(&w, "transactionId", tid, tid_len);
    rsp_jsonw_kbase64(&w, "boundProfilePackage", bpp, len);
    rsp_es_reply_end(c, &w, RSP_OK);
}

static void delivered_finish(pending *p)
{
    if (refused(p))
        return;
    reply_bpp(p->c, p->tid, p->tid_len, p->bpp, p->bpp_len);
    pending_free(p);
}

/* Builds the BPP (after the confirmation code passed) and records it. */
static void build_and_deliver(pending *p)
{
    smdp_es9p *e = p->e;
    rsp_es_ctx *c = p->c;
    const smdp_order *o = &p->order;
    EVP_PKEY *ot = NULL;
    int rc = 0;
    if (o->binding.present) {
        rc = smdp_otsk_unseal(e->mk, o->iccid, o->binding.otsk_blob, o->binding.otsk_blob_len, &ot);
    } else {
        EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new(p->pb->key, NULL);
        if (!kc || EVP_PKEY_keygen_init(kc) != 1 || EVP_PKEY_keygen(kc, &ot) != 1)
            rc = SMDP_BPP_ECRYPTO;
        EVP_PKEY_CTX_free(kc);
    }
    uint8_t eid[16];
    size_t eid_len = 0;
    for (size_t i = 0; rc == 0 && i < 16; i++) {
        unsigned hi, lo;
        if (sscanf(o->eid + 2 * i, "%1x%1x", &hi, &lo) != 2)
            rc = SMDP_BPP_EINVAL;
        else
            eid[eid_len++] = (uint8_t)(hi << 4 | lo);
    }
    uint8_t *ppp = NULL;
    size_t ppp_len = 0;
    der_writer md;
    der_w_init(&md);
    uint8_t oid[32];
    size_t oid_len = 0;
    const cert_key *auth = &e->auth[0];
    if (rc == 0 && (smdp_orders_get_ppp(e->orders, o->iccid, &ppp, &ppp_len) != RSP_OK ||
                    smdp_order_metadata(o, &md) != 0 || der_w_finish(&md) != DER_OK))
        rc = SMDP_BPP_EINVAL;
    if (rc == 0 && auth->oid[0] && sgp22_oid_encode(auth->oid, oid, sizeof(oid), &oid_len) != 0)
        oid_len = 0;
    if (rc == 0) {
        smdp_bpp_input in = {
            .transaction_id = p->tid,
            .transaction_id_len = p->tid_len,
            .eid = eid,
            .host_id = e->host_id,
            .host_id_len = e->host_id_len,
            .euicc_otpk = p->otpk,
            .euicc_otpk_len = SMDP_OTPK_LEN,
            .smdp_ot = ot,
            .sign = smdp_sign_with_key,
            .sign_arg = p->pb->key,
            .metadata = md.buf,
            .metadata_len = md.len,
            .dp_oid = oid_len ? oid : NULL,
            .dp_oid_len = oid_len,
            .mk = e->mk,
            .iccid = o->iccid,
            .ppk_blob = o->ppk_blob,
            .ppk_blob_len = sizeof(o->ppk_blob),
            .seq86 = ppp,
            .seq86_len = ppp_len,
        };
        rc = smdp_bpp_build(&in, &p->bpp, &p->bpp_len);
    }
    if (rc == 0)
        rc = smdp_otsk_seal(e->mk, o->iccid, ot, &p->otsk_blob, &p->otsk_len);
    EVP_PKEY_free(ot);
    free(ppp);
    der_w_free(&md);
    if (rc != 0) {
        fail_msg(c, rc == SMDP_BPP_EPOINT ? RSP_ST_INVALID_FIELD : RSP_ST_INTERNAL,
                 rc == SMDP_BPP_EPOINT ? "euiccOtpk: not a point on the SM-DP+ curve" : NULL,
                 smdp_bpp_strerror(rc));
        pending_free(p);
        return;
    }
    memset(&p->op, 0, sizeof(p->op));
    p->op.kind = SMDP_OP_BPP_DELIVERED;
    p->op.iccid = p->iccid;
    p->op.tid = p->tid;
    p->op.tid_len = p->tid_len;
    p->op.euicc_otpk = p->otpk;
    p->op.otsk_blob = p->otsk_blob;
    p->op.otsk_blob_len = p->otsk_len;
    p->op.bpp = p->bpp;
    p->op.bpp_len = p->bpp_len;
    submit(p, delivered_finish);
}

static void cc_finish(pending *p)
{
    if (!refused(p))
        build_and_deliver(p);
}

static int h_gbpp(h2o_req_t *req, void *ctx)
{
    smdp_es9p *e = ctx;
    rsp_es_ctx *c = rsp_es_begin(req, "ES9+.GetBoundProfilePackage", e->metrics, 0);
    if (!c)
        return 0;
    gbpp_body b;
    if (!rsp_es_bind(c, gbpp_fields, &b))
        return 0;
    pending *p = pending_new(e, c);
    if (!p)
        return 0;
    rsp_status st = smdp_orders_find_by_tid(e->orders, b.tid.data, b.tid.len, &p->order);
    if (st != RSP_OK) {
        fail_msg(c, st, NULL, "no session with this transactionId");
        pending_free(p);
        return 0;
    }
    c->peer = rsp_arena_strndup(c->arena, p->order.eid, strlen(p->order.eid));
    sgp22_prepare_download_resp pd;
    if (sgp22_prepare_download_resp_decode(b.response.data, b.response.len, &pd) != DER_OK) {
        fail_msg(c, RSP_ST_INVALID_FIELD, "prepareDownloadResponse: not a valid PrepareDownloadResponse",
                 sgp22_err_field());
        pending_free(p);
        return 0;
    }
    if (!pd.is_ok) {
        fail_msg(c, RSP_ST_INVALID_FIELD, "prepareDownloadResponse: the eUICC reported an error",
                 "downloadResponseError");
        pending_free(p);
        return 0;
    }
    const sgp22_euicc_signed2 *es2 = &pd.ok.euicc_signed2;
    EVP_PKEY *pub = stored_pub(&p->order);
    uint8_t s2[3 + SMDP_SIG_LEN];
    sig_tlv(s2, p->order.smdp_sig2);
    bool sig_ok = pub && p->order.has_smdp_sig2 &&
                  rsp_sig_verify2(pub, es2->raw.raw, es2->raw.raw_len, s2, sizeof(s2),
                                  pd.ok.euicc_signature2.p, pd.ok.euicc_signature2.len) == 0;
    EVP_PKEY_free(pub);
    if (!sig_ok) {
        fail_msg(c, RSP_ST_EUICC_SIG_INVALID, NULL, "euiccSignature2");
        pending_free(p);
        return 0;
    }
    if (es2->transaction_id.len != b.tid.len || memcmp(es2->transaction_id.p, b.tid.data, b.tid.len) != 0) {
        fail_msg(c, RSP_ST_TRANSACTION_UNKNOWN, NULL, "transactionId in euiccSigned2");
        pending_free(p);
        return 0;
    }
    if (es2->euicc_otpk.len != SMDP_OTPK_LEN) {
        fail_msg(c, RSP_ST_INVALID_FIELD, "euiccOtpk: not an uncompressed 256-bit point", "euiccOtpk");
        pending_free(p);
        return 0;
    }
    memcpy(p->tid, b.tid.data, b.tid.len);
    p->tid_len = b.tid.len;
    memcpy(p->otpk, es2->euicc_otpk.p, SMDP_OTPK_LEN);
    memcpy(p->iccid, p->order.iccid, sizeof(p->iccid));
    const smdp_binding *bd = &p->order.binding;
    if (bd->present && CRYPTO_memcmp(bd->euicc_otpk, p->otpk, SMDP_OTPK_LEN) != 0) {
        fail_msg(c, RSP_ST_BPP_UNAVAILABLE, NULL, "otPK.EUICC differs from the bound one");
        pending_free(p);
        return 0;
    }
    if (bd->present && bd->transaction_id_len == p->tid_len &&
        CRYPTO_memcmp(bd->transaction_id, p->tid, p->tid_len) == 0) {
        /* retry in the same session: the very same bytes */
        uint8_t *bpp;
        size_t len;
        st = smdp_orders_get_bpp(e->orders, p->iccid, &bpp, &len);
        if (st != RSP_OK)
            fail_msg(c, RSP_ST_BPP_UNAVAILABLE, NULL, "stored BPP missing");
        else
            reply_bpp(c, p->tid, p->tid_len, bpp, len);
        if (st == RSP_OK)
            free(bpp);
        pending_free(p);
        return 0;
    }
    /* The CI chosen at InitiateAuthentication picks CERT.DPpb, as in authenticateClient. */
    rsp_txn_info info;
    uint8_t challenge[RSP_TXN_CHALLENGE_LEN];
    int rc = rsp_txn_open(&e->keyring, p->tid, p->tid_len, time(NULL), &info, challenge);
    if (rc != RSP_TXN_OK) {
        fail_msg(c, RSP_ST_TRANSACTION_UNKNOWN, NULL, rsp_txn_strerror(rc));
        pending_free(p);
        return 0;
    }
    const uint8_t *ci_ski;
    size_t ci_ski_len;
    p->pb = NULL;
    if (rsp_ci_store_get(e->cis, info.ci_index, &ci_ski, &ci_ski_len))
        p->pb = cert_for_ci(e->pb, e->npb, ci_ski, ci_ski_len);
    if (!p->pb)
        p->pb = &e->pb[0];
    if (!p->order.has_cc) {
        build_and_deliver(p);
        return 0;
    }
    if (es2->hash_cc.p && es2->hash_cc.len == sizeof(p->hash_cc)) {
        memcpy(p->hash_cc, es2->hash_cc.p, sizeof(p->hash_cc));
        p->has_hash_cc = true;
    }
    p->op.kind = SMDP_OP_CHECK_CC;
    p->op.iccid = p->iccid;
    p->op.tid = p->tid;
    p->op.tid_len = p->tid_len;
    p->op.hash_cc = p->has_hash_cc ? p->hash_cc : NULL;
    submit(p, cc_finish);
    return 0;
}

/* ---- handleNotification ---- */

typedef struct notif_body {
    rsp_json_bin notification;
} notif_body;

static const rsp_json_field notif_fields[] = {
    RSP_JSON_F("pendingNotification", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, MAX_BODY_B64, notif_body,
               notification),
    RSP_JSON_END,
};

static void notif_finish(pending *p)
{
    if (p->op.status != RSP_OK)
        p->c->detail = rsp_status_str(p->op.status);
    rsp_es_reply_204(p->c);
    pending_free(p);
}

static int h_notification(h2o_req_t *req, void *ctx)
{
    smdp_es9p *e = ctx;
    rsp_es_ctx *c = rsp_es_begin_notification(req, "ES9+.HandleNotification", e->metrics, 0);
    if (!c)
        return 0;
    notif_body b;
    rsp_json_err err;
    /* Always 204 (SGP.22 6.3): problems only reach the access log. */
    if (rsp_json_bind(c->doc, notif_fields, &b, &err) != RSP_OK) {
        c->detail = "body";
        rsp_es_reply_204(c);
        return 0;
    }
    sgp22_pir pir;
    if (sgp22_pir_decode(b.notification.data, b.notification.len, &pir) != DER_OK) {
        c->detail = "not a ProfileInstallationResult";
        rsp_es_reply_204(c);
        return 0;
    }
    pending *p = pending_new(e, c);
    if (!p)
        return 0;
    const sgp22_pir_data *d = &pir.data;
    if (smdp_orders_find_by_tid(e->orders, d->transaction_id.p, d->transaction_id.len, &p->order) != RSP_OK) {
        c->detail = "unknown transactionId";
        rsp_es_reply_204(c);
        pending_free(p);
        return 0;
    }
    EVP_PKEY *pub = stored_pub(&p->order);
    bool ok = pub && rsp_sig_verify(pub, d->raw.raw, d->raw.raw_len, pir.euicc_sign_pir.p,
                                    pir.euicc_sign_pir.len) == 0;
    EVP_PKEY_free(pub);
    if (!ok) {
        c->detail = "euiccSignPIR";
        rsp_es_reply_204(c);
        pending_free(p);
        return 0;
    }
    c->peer = rsp_arena_strndup(c->arena, p->order.eid, strlen(p->order.eid));
    memcpy(p->iccid, p->order.iccid, sizeof(p->iccid));
    memcpy(p->tid, d->transaction_id.p, d->transaction_id.len);
    p->tid_len = d->transaction_id.len;
    p->op.kind = SMDP_OP_INSTALL_RESULT;
    p->op.iccid = p->iccid;
    p->op.tid = p->tid;
    p->op.tid_len = p->tid_len;
    p->op.ok = d->final_result.success;
    submit(p, notif_finish);
    return 0;
}

/* ---- cancelSession ---- */

typedef struct cancel_body {
    rsp_json_bin tid;
    rsp_json_bin response;
} cancel_body;

static const rsp_json_field cancel_fields[] = {
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, SGP22_TID_MAX, cancel_body, tid),
    RSP_JSON_F("cancelSessionResponse", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, MAX_BODY_B64, cancel_body,
               response),
    RSP_JSON_END,
};

static void cancel_finish(pending *p)
{
    if (!refused(p)) {
        rsp_es_reply_status(p->c, RSP_OK);
        pending_free(p);
    }
}

static int h_cancel(h2o_req_t *req, void *ctx)
{
    smdp_es9p *e = ctx;
    rsp_es_ctx *c = rsp_es_begin(req, "ES9+.CancelSession", e->metrics, 0);
    if (!c)
        return 0;
    cancel_body b;
    if (!rsp_es_bind(c, cancel_fields, &b))
        return 0;
    pending *p = pending_new(e, c);
    if (!p)
        return 0;
    rsp_status st = smdp_orders_find_by_tid(e->orders, b.tid.data, b.tid.len, &p->order);
    if (st != RSP_OK) {
        fail_msg(c, st, NULL, "no session with this transactionId");
        pending_free(p);
        return 0;
    }
    c->peer = rsp_arena_strndup(c->arena, p->order.eid, strlen(p->order.eid));
    sgp22_cancel_session_resp cs;
    if (sgp22_cancel_session_resp_decode(b.response.data, b.response.len, &cs) != DER_OK || !cs.is_ok) {
        fail_msg(c, RSP_ST_INVALID_FIELD, "cancelSessionResponse: not a valid CancelSessionResponseOk",
                 cs.is_ok ? sgp22_err_field() : "cancelSessionResponseError");
        pending_free(p);
        return 0;
    }
    const sgp22_cancel_session_signed *sg = &cs.ok.euicc_cancel_session_signed;
    EVP_PKEY *pub = stored_pub(&p->order);
    bool ok = pub && rsp_sig_verify(pub, sg->raw.raw, sg->raw.raw_len, cs.ok.euicc_cancel_session_signature.p,
                                    cs.ok.euicc_cancel_session_signature.len) == 0;
    EVP_PKEY_free(pub);
    if (!ok) {
        fail_msg(c, RSP_ST_EUICC_SIG_INVALID, NULL, "euiccCancelSessionSignature");
        pending_free(p);
        return 0;
    }
    if (sg->transaction_id.len != b.tid.len || memcmp(sg->transaction_id.p, b.tid.data, b.tid.len) != 0) {
        fail_msg(c, RSP_ST_TRANSACTION_UNKNOWN, NULL, "transactionId in euiccCancelSessionSigned");
        pending_free(p);
        return 0;
    }
    char oid[OID_TEXT_MAX];
    bool oid_ok = false;
    if (sgp22_oid_format(sg->smdp_oid.p, sg->smdp_oid.len, oid, sizeof(oid)) == 0)
        for (size_t i = 0; i < e->nauth && !oid_ok; i++)
            oid_ok = e->auth[i].oid[0] && strcmp(e->auth[i].oid, oid) == 0;
    if (!oid_ok) {
        fail_msg(c, RSP_ST_SMDP_OID_INVALID, NULL, "smdpOid");
        pending_free(p);
        return 0;
    }
    memcpy(p->iccid, p->order.iccid, sizeof(p->iccid));
    memcpy(p->tid, b.tid.data, b.tid.len);
    p->tid_len = b.tid.len;
    p->op.kind = SMDP_OP_CANCEL_SESSION;
    p->op.iccid = p->iccid;
    p->op.tid = p->tid;
    p->op.tid_len = p->tid_len;
    submit(p, cancel_finish);
    return 0;
}

int smdp_es9p_routes(smdp_es9p *e, rsp_http_server_t *srv, int listener)
{
    static const struct {
        const char *path;
        rsp_http_handler_fn fn;
    } routes[] = {
        {"/gsma/rsp2/es9plus/initiateAuthentication", h_initiate},
        {"/gsma/rsp2/es9plus/authenticateClient", h_authenticate},
        {"/gsma/rsp2/es9plus/getBoundProfilePackage", h_gbpp},
        {"/gsma/rsp2/es9plus/handleNotification", h_notification},
        {"/gsma/rsp2/es9plus/cancelSession", h_cancel},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (rsp_http_route(srv, listener, "POST", routes[i].path, routes[i].fn, e) != 0)
            return -1;
    return 0;
}
