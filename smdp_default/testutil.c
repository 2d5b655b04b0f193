#include "smdp_default/testutil.h"

#include "smdp_default/store_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>

#include "asn1/der.h"
#include "asn1/sgp22.h"
#include "rsp/codec.h"
#include "rsp/jsonw.h"

uint8_t *fx_upp(const char *iccid, size_t *len)
{
    uint8_t bcd[10];
    char digits[21];
    snprintf(digits, sizeof(digits), "%s%s", iccid, strlen(iccid) == 19 ? "F" : "");
    for (int i = 0; i < 10; i++) {
        int hi = digits[2 * i] == 'F' ? 15 : digits[2 * i] - '0';
        int lo = digits[2 * i + 1] == 'F' ? 15 : digits[2 * i + 1] - '0';
        bcd[i] = (uint8_t)(hi << 4 | lo);
    }
    der_writer w;
    der_w_init(&w);
    der_w_begin(&w, 0xA0);
    der_w_int(&w, 0x80, 2);
    der_w_int(&w, 0x81, 3);
    der_w_tlv(&w, 0x82, "SYNTHETIC", 9);
    der_w_tlv(&w, 0x83, bcd, sizeof(bcd));
    der_w_begin(&w, 0xA5);
    der_w_end(&w);
    der_w_begin(&w, 0xA6);
    der_w_end(&w);
    der_w_end(&w);
    uint8_t fill[2500];
    RAND_bytes(fill, sizeof(fill));
    der_w_begin(&w, 0xA1);
    der_w_tlv(&w, 0x81, fill, sizeof(fill));
    der_w_end(&w);
    der_w_begin(&w, 0xAA);
    der_w_end(&w);
    if (der_w_finish(&w) != 0) {
        der_w_free(&w);
        return NULL;
    }
    *len = w.len;
    return w.buf;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

/* Copies the secret file name from directory from into directory to, private. */
static int copy_secret(const char *from, const char *to, const char *name)
{
    char src[512], dst[512], cmd[1600];
    snprintf(src, sizeof(src), "%s/%s", from, name);
    snprintf(dst, sizeof(dst), "%s/%s", to, name);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 600 '%s'", src, dst, dst);
    return system(cmd) == 0 ? 0 : -1;
}

int fx_init(fx *f, const fx_opts *o)
{
    fx_opts none = {0};
    if (!o)
        o = &none;
    memset(f, 0, sizeof(*f));
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/smdp_fx.XXXXXX", tmp && strlen(tmp) < 200 ? tmp : "/tmp");
    if (!mkdtemp(f->dir) || ts_pki_init(&f->pki, PKI_CURVE_NIST) != 0)
        return -1;
    char ci[512], ac[512], ak[512], pc[512], pk[512], ops[512], store[512], mk[512], secret[512];
    snprintf(ci, sizeof(ci), "%s/ci.pem", f->dir);
    snprintf(ac, sizeof(ac), "%s/dpauth.pem", f->dir);
    snprintf(ak, sizeof(ak), "%s/dpauth.key.pem", f->dir);
    snprintf(pc, sizeof(pc), "%s/dppb.pem", f->dir);
    snprintf(pk, sizeof(pk), "%s/dppb.key.pem", f->dir);
    snprintf(ops, sizeof(ops), "%s/operators.ini", f->dir);
    snprintf(store, sizeof(store), "%s/orders", f->dir);
    snprintf(mk, sizeof(mk), "%s/master.key", f->dir);
    snprintf(secret, sizeof(secret), "%s/txn.secret", f->dir);
    if (pki_write_cert_pem(ci, f->pki.ci.cert) || pki_write_cert_pem(ac, f->pki.dpauth.cert) ||
        pki_write_key_pem(ak, f->pki.dpauth.key) || pki_write_cert_pem(pc, f->pki.dppb.cert) ||
        pki_write_key_pem(pk, f->pki.dppb.key) || (o->operators_ini && write_file(ops, o->operators_ini)))
        return -1;
    const char *cis[] = {ci}, *acs[] = {ac}, *aks[] = {ak}, *pcs[] = {pc}, *pks[] = {pk};
    smdp_config cfg = {
        .fqdn = FX_FQDN,
        .ci_files = cis,
        .n_ci_files = 1,
        .auth_certs = acs,
        .auth_keys = aks,
        .n_auth = 1,
        .pb_certs = pcs,
        .pb_keys = pks,
        .n_pb = 1,
        .operators_file = o->operators_ini ? ops : NULL,
        .store_dir = store,
        .master_key_file = mk,
        .txn_secret_file = secret,
        .create_secrets = 1,
        .orders = {.order_ttl = o->order_ttl, .db = {.env_flags = MDB_NOSYNC}},
        .smds_allowed = o->smds_allowed,
        .n_smds_allowed = o->n_smds_allowed,
        .progress_notifications = o->progress,
        .notify = {.timeout_ms = 2000, .connect_to = o->connect_to},
        .register_event_ms = o->register_event_ms,
        .outbox = {.backoff_min = 1, .backoff_max = 1},
        .cancel_session_keep = o->cancel_keep,
    };
    tu_orders_apply(&cfg.orders);
    if (!o->join)
        tu_orders_fresh();
    else if (o->same_secrets && (copy_secret(o->join->dir, f->dir, "master.key") ||
                                 copy_secret(o->join->dir, f->dir, "txn.secret")))
        return -1;
    char err[256];
    if (!(f->x = smdp_new(&cfg, err, sizeof(err)))) {
        fprintf(stderr, "fx_init: %s\n", err);
        return -1;
    }
    for (int i = 0; i < FX_PROFILES; i++) {
        if (o->join) {
            memcpy(f->iccid[i], o->join->iccid[i], sizeof(f->iccid[i]));
            continue;
        }
        snprintf(f->iccid[i], sizeof(f->iccid[i]), "89000000000000001%02u", (unsigned)i % 100u);
        if (!(f->upp[i] = fx_upp(f->iccid[i], &f->upp_len[i])))
            return -1;
        char name[32];
        snprintf(name, sizeof(name), "Profile %d", i);
        smdp_metadata md = {.service_provider_name = "Test Operator",
                            .profile_name = name,
                            .profile_class = SMDP_CLASS_ABSENT};
        char got[SMDP_ICCID_MAX + 1];
        int detail;
        if (smdp_orders_import_upp(f->x->store, &f->x->mk, f->upp[i], f->upp_len[i], i == 4 ? "T2" : "T1",
                                   i == 5 ? FX_OTHER_OPERATOR : FX_OPERATOR, &md, (uint64_t)time(NULL), got,
                                   &detail) != RSP_OK)
            return -1;
    }
    return 0;
}

void fx_clear(fx *f)
{
    smdp_free(f->x);
    ts_pki_clear(&f->pki);
    for (int i = 0; i < FX_PROFILES; i++)
        free(f->upp[i]);
    if (f->dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "fx_clear: cannot remove %s\n", f->dir);
    }
    memset(f, 0, sizeof(*f));
}

rsp_status fx_call(fx *f, smdp_fn fn, const char *cn, const char *body, char **reply)
{
    if (reply)
        *reply = NULL;
    rsp_arena *a = rsp_arena_new(64u << 20);
    rsp_json_doc *doc;
    rsp_json_err jerr;
    rsp_status st = rsp_json_doc_parse(a, body, strlen(body), NULL, &doc, &jerr);
    smdp_call *c = NULL;
    const char *message = NULL;
    if (st == RSP_OK) {
        c = smdp_call_new(f->x, fn, cn, time(NULL) + f->time_offset);
        st = c ? smdp_call_run(c, doc) : RSP_ST_INTERNAL;
        message = c ? smdp_call_message(c) : NULL;
    }
    if (reply) {
        if (c && smdp_call_is_notification(c)) {
            *reply = strdup("");
        } else {
            rsp_jsonw w;
            rsp_jsonw_init(&w, NULL, 0);
            rsp_jsonw_obj_begin(&w);
            rsp_jsonw_header_msg(&w, st, message);
            if (st == RSP_OK && c)
                smdp_call_write(c, &w);
            rsp_jsonw_obj_end(&w);
            const char *out;
            if (rsp_jsonw_finish(&w, &out, NULL) == 0)
                *reply = strdup(out);
            rsp_jsonw_free(&w);
        }
    }
    smdp_call_free(c);
    rsp_arena_free(a);
    return st;
}

static char *es2_body(const char *const *kv, size_t n)
{
    static unsigned call_no;
    char call_id[32];
    snprintf(call_id, sizeof(call_id), "call-%u", ++call_no);
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_req_header(&w, "test-operator", call_id);
    for (size_t i = 0; i + 1 < n; i += 2)
        if (kv[i + 1])
            rsp_jsonw_kstr(&w, kv[i], kv[i + 1]);
    rsp_jsonw_obj_end(&w);
    const char *out;
    char *s = rsp_jsonw_finish(&w, &out, NULL) == 0 ? strdup(out) : NULL;
    rsp_jsonw_free(&w);
    return s;
}

rsp_status fx_download_order(fx *f, const char *eid, const char *iccid, const char *type, char **reply)
{
    const char *kv[] = {"eid", eid, "iccid", iccid, "profileType", type};
    char *body = es2_body(kv, 6);
    rsp_status st = body ? fx_call(f, SMDP_FN_DOWNLOAD_ORDER, FX_OPERATOR, body, reply) : RSP_ST_INTERNAL;
    free(body);
    return st;
}

rsp_status fx_confirm(fx *f, const char *iccid, bool release, const char *extra_json, char **reply)
{
    char body[2048];
    snprintf(
        body, sizeof(body),
        "{\"header\":{\"functionRequesterIdentifier\":\"test-operator\",\"functionCallIdentifier\":\"c\"},"
        "\"iccid\":\"%s\",\"releaseFlag\":%s%s}",
        iccid, release ? "true" : "false", extra_json ? extra_json : "");
    return fx_call(f, SMDP_FN_CONFIRM_ORDER, FX_OPERATOR, body, reply);
}

void fx_member(const char *json, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    char key[128];
    snprintf(key, sizeof(key), "\"%s\":\"", name);
    const char *p = json ? strstr(json, key) : NULL;
    if (!p)
        return;
    p += strlen(key);
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < cap) {
        out[n] = p[n];
        n++;
    }
    out[n] = '\0';
}

/* ---- device ---- */

int fx_dev_init(fx *f, fx_dev *d)
{
    memset(d, 0, sizeof(*d));
    d->e = ts_make_euicc(&f->pki);
    return d->e ? 0 : -1;
}

void fx_dev_clear(fx_dev *d)
{
    euicc_free(d->e);
    free(d->bpp);
    memset(d, 0, sizeof(*d));
}

static void copy_out(uint8_t *dst, size_t cap, size_t *len, const der_writer *w)
{
    *len = w->len <= cap ? w->len : 0;
    if (*len)
        memcpy(dst, w->buf, w->len);
}

rsp_status fx_dev_initiate(fx *f, fx_dev *d, const char *matching_id)
{
    uint8_t ch[16];
    der_writer info1;
    der_w_init(&info1);
    if (euicc_get_challenge(d->e, ch) != 0 || euicc_get_info1(d->e, &info1) != 0) {
        der_w_free(&info1);
        return RSP_ST_INTERNAL;
    }
    char *body = lpa_json_initiate_auth_v(ch, info1.buf, info1.len, FX_FQDN, false, d->v3);
    der_w_free(&info1);
    char *reply = NULL;
    rsp_status st = fx_call(f, SMDP_FN_INITIATE_AUTH, NULL, body, &reply);
    free(body);
    if (st != RSP_OK) {
        free(reply);
        return st;
    }
    lpa_response r;
    lpa_scratch *sc;
    char detail[128];
    if (lpa_parse_response(LPA_FN_INITIATE_AUTH, reply, strlen(reply), &r, &sc, detail, sizeof(detail)) !=
        RSP_OK) {
        free(reply);
        return RSP_ST__COUNT;
    }
    free(reply);
    snprintf(d->tid_hex, sizeof(d->tid_hex), "%s", r.transaction_id);
    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    der_w_begin(&req, 0xBF38);
    der_w_raw(&req, r.server_signed1.data, r.server_signed1.len);
    der_w_raw(&req, r.server_signature1.data, r.server_signature1.len);
    der_w_raw(&req, r.ci_pkid.data, r.ci_pkid.len);
    der_w_raw(&req, r.server_certificate.data, r.server_certificate.len);
    lpa_opts lo;
    memset(&lo, 0, sizeof(lo));
    lo.v3 = d->v3;
    if (d->ctx_params1)
        der_w_raw(&req, d->ctx_params1, d->ctx_params1_len);
    else
        lpa_build_ctx_params1(&lo, matching_id, &req);
    lpa_put_other_certs(&req, r.other_certs.data, r.other_certs.len);
    der_w_end(&req);
    lpa_response_free(&r, sc);
    euicc_error err;
    int erc = der_w_finish(&req) == 0
                  ? euicc_authenticate_server(d->e, req.buf, req.len, FX_FQDN, &resp, &err)
                  : EUICC_ESYS;
    copy_out(d->bf38, sizeof(d->bf38), &d->bf38_len, &resp);
    der_w_free(&req);
    der_w_free(&resp);
    return erc == EUICC_OK ? RSP_OK : RSP_ST__COUNT;
}

static void tid_bytes(const fx_dev *d, uint8_t tid[16], size_t *len)
{
    *len = 0;
    rsp_hex_decode(d->tid_hex, strlen(d->tid_hex), tid, 16, len);
}

rsp_status fx_dev_authenticate(fx *f, fx_dev *d, const char *cc)
{
    char *body = lpa_json_authenticate_client(d->tid_hex, d->bf38, d->bf38_len);
    char *reply = NULL;
    rsp_status st = fx_call(f, SMDP_FN_AUTH_CLIENT, NULL, body, &reply);
    free(body);
    if (st != RSP_OK) {
        free(reply);
        return st;
    }
    lpa_response r;
    lpa_scratch *sc;
    char detail[128];
    if (lpa_parse_response(LPA_FN_AUTH_CLIENT_ES9, reply, strlen(reply), &r, &sc, detail, sizeof(detail)) !=
        RSP_OK) {
        free(reply);
        return RSP_ST__COUNT;
    }
    free(reply);
    sgp22_smdp_signed2 ss2;
    if (sgp22_smdp_signed2_decode(r.smdp_signed2.data, r.smdp_signed2.len, &ss2) != 0) {
        lpa_response_free(&r, sc);
        return RSP_ST__COUNT;
    }
    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    der_w_begin(&req, 0xBF21);
    der_w_raw(&req, r.smdp_signed2.data, r.smdp_signed2.len);
    der_w_raw(&req, r.smdp_signature2.data, r.smdp_signature2.len);
    if (ss2.cc_required && cc) {
        uint8_t tid[16], hcc[32];
        size_t tl;
        tid_bytes(d, tid, &tl);
        if (d->cc_hex ? lpa_hash_cc_hex(cc, tid, tl, hcc) != 0 : (lpa_hash_cc(cc, tid, tl, hcc), false))
            memset(hcc, 0, sizeof(hcc));
        der_w_tlv(&req, 0x04, hcc, sizeof(hcc));
    }
    der_w_raw(&req, r.smdp_certificate.data, r.smdp_certificate.len);
    lpa_put_other_certs(&req, r.other_certs.data, r.other_certs.len);
    der_w_end(&req);
    lpa_response_free(&r, sc);
    euicc_error err;
    int erc =
        der_w_finish(&req) == 0 ? euicc_prepare_download(d->e, req.buf, req.len, &resp, &err) : EUICC_ESYS;
    copy_out(d->bf21, sizeof(d->bf21), &d->bf21_len, &resp);
    der_w_free(&req);
    der_w_free(&resp);
    return erc == EUICC_OK ? RSP_OK : RSP_ST__COUNT;
}

rsp_status fx_dev_get_bpp(fx *f, fx_dev *d)
{
    char *body = lpa_json_get_bpp(d->tid_hex, d->bf21, d->bf21_len);
    char *reply = NULL;
    rsp_status st = fx_call(f, SMDP_FN_GET_BPP, NULL, body, &reply);
    free(body);
    if (st != RSP_OK) {
        free(reply);
        return st;
    }
    lpa_response r;
    lpa_scratch *sc;
    char detail[128];
    rsp_status pst =
        lpa_parse_response(LPA_FN_GET_BPP, reply, strlen(reply), &r, &sc, detail, sizeof(detail));
    free(reply);
    if (pst != RSP_OK)
        return RSP_ST__COUNT;
    free(d->bpp);
    d->bpp = malloc(r.bpp.len);
    d->bpp_len = r.bpp.len;
    if (d->bpp)
        memcpy(d->bpp, r.bpp.data, r.bpp.len);
    lpa_response_free(&r, sc);
    if (!d->bpp)
        return RSP_ST__COUNT;
    der_writer resp;
    der_w_init(&resp);
    euicc_error err;
    int erc = euicc_load_bpp(d->e, d->bpp, d->bpp_len, &resp, d->pkg_sha256, &err);
    copy_out(d->pir, sizeof(d->pir), &d->pir_len, &resp);
    der_w_free(&resp);
    if (erc != EUICC_OK)
        fprintf(stderr, "fx_dev_get_bpp: eUICC: %s %s\n", err.name ? err.name : "", err.detail);
    return erc == EUICC_OK ? RSP_OK : RSP_ST__COUNT;
}

rsp_status fx_dev_notify(fx *f, fx_dev *d)
{
    char *body = lpa_json_handle_notification(d->pir, d->pir_len);
    char *reply = NULL;
    rsp_status st = fx_call(f, SMDP_FN_HANDLE_NOTIFICATION, NULL, body, &reply);
    free(body);
    if (!reply || reply[0])
        st = RSP_ST__COUNT; /* must be 204 */
    free(reply);
    return st;
}

rsp_status fx_dev_cancel(fx *f, fx_dev *d, int reason)
{
    uint8_t tid[16];
    size_t tl;
    tid_bytes(d, tid, &tl);
    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    der_w_begin(&req, 0xBF41);
    der_w_tlv(&req, 0x80, tid, tl);
    der_w_int(&req, 0x81, reason);
    der_w_end(&req);
    euicc_error err;
    int erc =
        der_w_finish(&req) == 0 ? euicc_cancel_session(d->e, req.buf, req.len, &resp, &err) : EUICC_ESYS;
    rsp_status st = RSP_ST__COUNT;
    if (erc == EUICC_OK) {
        char *body = lpa_json_cancel_session(d->tid_hex, resp.buf, resp.len);
        st = fx_call(f, SMDP_FN_CANCEL_SESSION, NULL, body, NULL);
        free(body);
    }
    der_w_free(&req);
    der_w_free(&resp);
    return st;
}

rsp_status fx_dev_download(fx *f, fx_dev *d, const char *matching_id, const char *cc)
{
    rsp_status st;
    if ((st = fx_dev_initiate(f, d, matching_id)) || (st = fx_dev_authenticate(f, d, cc)) ||
        (st = fx_dev_get_bpp(f, d)) || (st = fx_dev_notify(f, d)))
        return st;
    return RSP_OK;
}

smdp_state fx_state(fx *f, const char *iccid)
{
    smdp_order o;
    return smdp_orders_get(f->x->store, iccid, &o) == RSP_OK ? o.state : (smdp_state)0;
}

typedef struct count_arg {
    smdp_ob_kind kind;
    int n;
} count_arg;

static int count_kind(void *arg, const smdp_ob_item *it)
{
    count_arg *a = arg;
    if (!a->kind || it->kind == a->kind)
        a->n++;
    return 0;
}

int fx_outbox_count(fx *f, smdp_ob_kind kind)
{
    count_arg a = {kind, 0};
    return smdp_outbox_list(f->x->outbox, count_kind, &a) == 0 ? a.n : -1;
}
