/*
 * Tests for the LPA side: request building (ctxParams1, hashCc, JSON bodies),
 * response parsing (functionExecutionStatus, mandatory members, ES11 event
 * entries), and whole flows over HTTPS on the loopback interface against a
 * small fake SM-DP+/SM-DS written here on top of the server test double:
 * download, notification, cancel, confirmation code, discovery on both ES11
 * path families, the exact request headers, TLS verification, a Failed
 * status, an eUICC refusal forwarded to the server, and malformed answers.
 */
#include "tools/lpasim/lpa.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "asn1/sgp22.h"
#include "rsp/arena.h"
#include "rsp/codec.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"
#include "rsp/sig.h"
#include "tests/unit/ut.h"
#include "tools/lpasim/testserver.h"

/* ---- pieces without a network ---- */

static void test_ctx_params1(void)
{
    lpa_opts o;
    memset(&o, 0, sizeof(o));
    static const uint8_t imei[8] = {0x53, 0x92, 0x60, 0x11, 0x11, 0x11, 0x11, 0xF1};
    o.imei = imei;
    der_writer w;
    der_w_init(&w);
    UT_EQ(lpa_build_ctx_params1(&o, "EVENT-1", &w), 0);
    sgp22_ctx_params1 c;
    UT_EQ(sgp22_ctx_params1_decode(w.buf, w.len, &c), 0);
    UT_EQ(c.choice, SGP22_CTX_COMMON_AUTH);
    UT_CHECK(c.matching_id.len == 7 && memcmp(c.matching_id.p, "EVENT-1", 7) == 0);
    UT_CHECK(c.device_info.tac.len == 4 && memcmp(c.device_info.tac.p, "\x35\x29\x06\x11", 4) == 0);
    UT_CHECK(c.device_info.imei.len == 8 && memcmp(c.device_info.imei.p, imei, 8) == 0);
    UT_CHECK(c.device_info.capabilities.release[SGP22_DEVCAP_EUTRAN_EPC].len == 3);
    der_w_free(&w);

    /* Absent and empty matchingId are different encodings. */
    der_w_init(&w);
    UT_EQ(lpa_build_ctx_params1(NULL, NULL, &w), 0);
    UT_EQ(sgp22_ctx_params1_decode(w.buf, w.len, &c), 0);
    UT_CHECK(c.matching_id.p == NULL);
    UT_CHECK(c.device_info.imei.p == NULL);
    der_w_free(&w);
    der_w_init(&w);
    UT_EQ(lpa_build_ctx_params1(NULL, "", &w), 0);
    UT_EQ(sgp22_ctx_params1_decode(w.buf, w.len, &c), 0);
    UT_CHECK(c.matching_id.p != NULL && c.matching_id.len == 0);
    der_w_free(&w);
}

static void test_hash_cc(void)
{
    /* Known answers computed independently (Python hashlib): the CC is hashed as ASCII text. */
    uint8_t tid[16], h[32];
    char hex[65];
    for (int i = 0; i < 16; i++)
        tid[i] = (uint8_t)i;
    lpa_hash_cc("12345678", tid, 16, h);
    UT_EQ(rsp_hex_encode(h, 32, hex, sizeof(hex), NULL), 0);
    UT_CHECK(strcmp(hex, "AB311C0527DB635C7BAC464EFC070D69AFECBBA55A894064B394C56165610EC0") == 0);
    lpa_hash_cc("4711", (const uint8_t *)"\x0A\x0B\x0C", 3, h);
    UT_EQ(rsp_hex_encode(h, 32, hex, sizeof(hex), NULL), 0);
    UT_CHECK(strcmp(hex, "CBA0C5B2F750D421991259AABAD0D090867024DD1D1921CFBF3F349A218A0C5C") == 0);
    /* "0012" and "12" are different codes. */
    uint8_t a[32], b[32];
    lpa_hash_cc("0012", tid, 16, a);
    lpa_hash_cc("12", tid, 16, b);
    UT_CHECK(memcmp(a, b, 32) != 0);
    /* the other reading: the hex-decoded bytes (12 34 56 78), also from Python hashlib */
    UT_EQ(lpa_hash_cc_hex("12345678", tid, 16, h), 0);
    UT_EQ(rsp_hex_encode(h, 32, hex, sizeof(hex), NULL), 0);
    UT_CHECK(strcmp(hex, "3055FA2A5378417880C77849EC0869A089874CA9D916EED30DA652D7E8B9A9B8") == 0);
    UT_EQ(lpa_hash_cc_hex("123", tid, 16, h), -1);
    UT_EQ(lpa_hash_cc_hex("12G4", tid, 16, h), -1);
}

struct j_req {
    rsp_json_bin challenge, info1, resp, notif;
    const char *smdp, *smds, *tid;
};

static const rsp_json_field req_fields[] = {
    RSP_JSON_F("euiccChallenge", RSP_JSON_BASE64, 0, 16, 16, struct j_req, challenge),
    RSP_JSON_F("euiccInfo1", RSP_JSON_BASE64, 0, 1, 0, struct j_req, info1),
    RSP_JSON_F("smdpAddress", RSP_JSON_STRING, 0, 1, 255, struct j_req, smdp),
    RSP_JSON_F("smdsAddress", RSP_JSON_STRING, 0, 1, 255, struct j_req, smds),
    RSP_JSON_F("transactionId", RSP_JSON_STRING, 0, 2, 32, struct j_req, tid),
    RSP_JSON_F("authenticateServerResponse", RSP_JSON_BASE64, 0, 1, 0, struct j_req, resp),
    RSP_JSON_F("prepareDownloadResponse", RSP_JSON_BASE64, 0, 1, 0, struct j_req, resp),
    RSP_JSON_F("cancelSessionResponse", RSP_JSON_BASE64, 0, 1, 0, struct j_req, resp),
    RSP_JSON_F("pendingNotification", RSP_JSON_BASE64, 0, 1, 0, struct j_req, notif),
    RSP_JSON_END,
};

static rsp_status parse_req(rsp_arena *a, const char *body, size_t len, struct j_req *r)
{
    rsp_json_err je;
    return rsp_json_parse(a, body, len, NULL, req_fields, r, &je);
}

static void test_request_bodies(void)
{
    rsp_arena *a = rsp_arena_new(1 << 20);
    uint8_t ch[16], info[5] = {0xBF, 0x20, 0x02, 0x82, 0x00};
    memset(ch, 7, sizeof(ch));
    char *b = lpa_json_initiate_auth(ch, info, sizeof(info), "smdp.example.com", false);
    struct j_req r;
    UT_CHECK(b != NULL);
    UT_EQ(parse_req(a, b, strlen(b), &r), RSP_OK);
    UT_CHECK(r.challenge.len == 16 && memcmp(r.challenge.data, ch, 16) == 0);
    UT_CHECK(r.info1.len == 5 && memcmp(r.info1.data, info, 5) == 0);
    UT_CHECK(r.smdp && strcmp(r.smdp, "smdp.example.com") == 0 && !r.smds);
    UT_CHECK(strstr(b, "header") == NULL); /* LPA requests carry no header */
    free(b);
    b = lpa_json_initiate_auth(ch, info, sizeof(info), "smds.example.com", true);
    UT_EQ(parse_req(a, b, strlen(b), &r), RSP_OK);
    UT_CHECK(r.smds && strcmp(r.smds, "smds.example.com") == 0 && !r.smdp);
    free(b);
    b = lpa_json_authenticate_client("00AB", info, sizeof(info));
    UT_EQ(parse_req(a, b, strlen(b), &r), RSP_OK);
    UT_CHECK(strcmp(r.tid, "00AB") == 0 && r.resp.len == 5);
    free(b);
    b = lpa_json_handle_notification(info, sizeof(info));
    UT_EQ(parse_req(a, b, strlen(b), &r), RSP_OK);
    UT_CHECK(r.notif.len == 5);
    free(b);
    rsp_arena_free(a);
}

static rsp_status parse(lpa_fn fn, const char *body, lpa_response *r, lpa_scratch **sc, char *detail)
{
    return lpa_parse_response(fn, body, strlen(body), r, sc, detail, 200);
}

static void test_parse_responses(void)
{
    lpa_response r;
    lpa_scratch *sc;
    char detail[200];
    const char *ok = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                     "\"transactionId\":\"0A0B\",\"serverSigned1\":\"MAA=\",\"serverSignature1\":\"XzcA\","
                     "\"euiccCiPKIdToBeUsed\":\"BAA=\",\"serverCertificate\":\"MAA=\",\"extra\":[1,2]}";
    UT_EQ(parse(LPA_FN_INITIATE_AUTH, ok, &r, &sc, detail), RSP_OK);
    UT_CHECK(strcmp(r.status, "Executed-Success") == 0);
    UT_CHECK(strcmp(r.transaction_id, "0A0B") == 0);
    UT_CHECK(r.server_signed1.len == 2 && r.server_signature1.len == 3);
    lpa_response_free(&r, sc);

    const char *failed =
        "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\",\"statusCodeData\":"
        "{\"subjectCode\":\"8.1.3\",\"reasonCode\":\"6.1\",\"message\":\"eUICC certificate\"}}}}";
    UT_EQ(parse(LPA_FN_AUTH_CLIENT_ES9, failed, &r, &sc, detail), RSP_OK);
    UT_CHECK(strcmp(r.status, "Failed") == 0 && strcmp(r.subject, "8.1.3") == 0 &&
             strcmp(r.reason, "6.1") == 0);
    UT_CHECK(strcmp(r.message, "eUICC certificate") == 0);
    lpa_response_free(&r, sc);

    /* A success without a mandatory member, a bad base64, a non-hex id, no header. */
    const char *missing = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                          "\"transactionId\":\"0A0B\"}";
    UT_EQ(parse(LPA_FN_GET_BPP, missing, &r, &sc, detail), RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strstr(detail, "boundProfilePackage") != NULL);
    lpa_response_free(&r, sc);
    const char *bad64 = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                        "\"transactionId\":\"0A0B\",\"boundProfilePackage\":\"!!!!\"}";
    UT_EQ(parse(LPA_FN_GET_BPP, bad64, &r, &sc, detail), RSP_ST_INVALID_FIELD);
    lpa_response_free(&r, sc);
    const char *badtid = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                         "\"transactionId\":\"XYZ1\",\"boundProfilePackage\":\"vzYA\"}";
    UT_EQ(parse(LPA_FN_GET_BPP, badtid, &r, &sc, detail), RSP_ST_INVALID_FIELD);
    lpa_response_free(&r, sc);
    UT_EQ(parse(LPA_FN_CANCEL_SESSION, "{\"transactionId\":\"0A\"}", &r, &sc, detail),
          RSP_ST_MANDATORY_MISSING);
    lpa_response_free(&r, sc);
    UT_EQ(parse(LPA_FN_CANCEL_SESSION, "not json", &r, &sc, detail), RSP_ST_INVALID_FIELD);
    lpa_response_free(&r, sc);

    /* ES11: plain JSON event entries, possibly none. */
    const char *events =
        "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
        "\"transactionId\":\"01\",\"eventEntries\":[{\"eventId\":\"E1\",\"rspServerAddress\":"
        "\"smdp.example.com\"},{\"eventId\":\"E2\",\"rspServerAddress\":\"b.example.com\"}]}";
    UT_EQ(parse(LPA_FN_AUTH_CLIENT_ES11, events, &r, &sc, detail), RSP_OK);
    UT_EQ(r.nevents, 2);
    UT_CHECK(r.nevents == 2 && strcmp(r.events[1].event_id, "E2") == 0 &&
             strcmp(r.events[0].rsp_server_address, "smdp.example.com") == 0);
    lpa_response_free(&r, sc);
    const char *none = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                       "\"eventEntries\":[]}";
    UT_EQ(parse(LPA_FN_AUTH_CLIENT_ES11, none, &r, &sc, detail), RSP_OK);
    UT_CHECK(r.has_events && r.nevents == 0);
    lpa_response_free(&r, sc);
    const char *noev = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}}}";
    UT_EQ(parse(LPA_FN_AUTH_CLIENT_ES11, noev, &r, &sc, detail), RSP_ST_MANDATORY_MISSING);
    lpa_response_free(&r, sc);
}

/* ---- a fake RSP server on the loopback interface ---- */

enum { ROLE_DP, ROLE_DS };

static ts_pki pki;
static pki_cred tls;
static char cafile[600], rogue_cafile[600], tmp_root[512];

struct fake {
    pthread_mutex_t mu;
    int listen_fd, port;
    SSL_CTX *ctx;
    pthread_t thread;
    pthread_t conn[256];
    size_t nconn;
    volatile int stop;
    /* configuration */
    int role;
    bool fail_auth_client; /* answer AuthenticateClient with Failed 8.1.3/6.1 */
    bool wrong_ctype;      /* answer with text/html */
    bool notif_200;        /* answer HandleNotification 200 instead of 204 */
    bool cc_required;
    bool meta_mismatch; /* profileMetadata differs from the BPP's StoreMetadata */
    ts_server srv;
    /* observations */
    int accepts, requests;
    char last_path[128], ua[64], xap[64], ctype[64];
    bool saw_accept, used_smds_field, auth_resp_was_error, cancel_ok, hashcc_ok;
    int notifications, cancels;
    int64_t cancel_reason;
    char init_address[256];
};

static struct fake F;

static int ssl_read_some(SSL *ssl, char *buf, size_t cap, size_t *len)
{
    int n = SSL_read(ssl, buf + *len, (int)(cap - *len));
    if (n <= 0)
        return -1;
    *len += (size_t)n;
    return 0;
}

static void respond(SSL *ssl, int status, const char *ctype, const char *body)
{
    char head[400];
    size_t blen = body ? strlen(body) : 0;
    int n =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\n%s%s%sX-Admin-Protocol: gsma/rsp/v2.1.0\r\nContent-Length: %zu\r\n\r\n",
                 status, status == 204 ? "No Content" : "OK", ctype ? "Content-Type: " : "",
                 ctype ? ctype : "", ctype ? "\r\n" : "", blen);
    SSL_write(ssl, head, n);
    if (blen)
        SSL_write(ssl, body, (int)blen);
}

static char *json_ok_begin(rsp_jsonw *w)
{
    rsp_jsonw_init(w, NULL, 0);
    rsp_jsonw_obj_begin(w);
    rsp_jsonw_header(w, RSP_OK);
    return NULL;
}

static char *json_end(rsp_jsonw *w)
{
    rsp_jsonw_obj_end(w);
    const char *t;
    size_t n;
    char *out = NULL;
    if (rsp_jsonw_finish(w, &t, &n) == 0 && (out = malloc(n + 1)))
        memcpy(out, t, n + 1);
    rsp_jsonw_free(w);
    return out;
}

static char *json_failed(rsp_status st)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_header(&w, st);
    return json_end(&w);
}

/* Children of the TLV at buf: raw pointers and lengths. */
static size_t kids(const uint8_t *buf, size_t len, der_tlv *out, size_t n)
{
    der_tlv t;
    der_reader r;
    size_t k = 0;
    if (der_parse(buf, len, &t) != 0)
        return 0;
    der_reader_of(&r, &t);
    while (k < n && der_next(&r, &out[k]) == 0)
        k++;
    return k;
}

static char *handle(const char *path, const char *body, size_t len, int *status)
{
    rsp_arena *a = rsp_arena_new(1 << 22);
    struct j_req r;
    char *out = NULL;
    rsp_jsonw w;
    char tid_hex[33];
    *status = 200;
    rsp_hex_encode(F.srv.tid, F.srv.tid_len, tid_hex, sizeof(tid_hex), NULL);
    if (parse_req(a, body, len, &r) != RSP_OK) {
        out = json_failed(RSP_ST_INVALID_FIELD);
        goto done;
    }
    const char *fn = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strcmp(fn, "initiateAuthentication") == 0) {
        F.used_smds_field = r.smds != NULL;
        snprintf(F.init_address, sizeof(F.init_address), "%s", r.smds ? r.smds : r.smdp ? r.smdp : "");
        der_writer bf38;
        der_tlv k[4];
        der_w_init(&bf38);
        if (ts_auth_request(&F.srv, r.challenge.data, NULL, &bf38) != 0 ||
            kids(bf38.buf, bf38.len, k, 4) != 4) {
            der_w_free(&bf38);
            out = json_failed(RSP_ST_INTERNAL);
            goto done;
        }
        json_ok_begin(&w);
        rsp_jsonw_kstr(&w, "transactionId", tid_hex);
        rsp_jsonw_kbase64(&w, "serverSigned1", k[0].raw, k[0].raw_len);
        rsp_jsonw_kbase64(&w, "serverSignature1", k[1].raw, k[1].raw_len);
        rsp_jsonw_kbase64(&w, "euiccCiPKIdToBeUsed", k[2].raw, k[2].raw_len);
        rsp_jsonw_kbase64(&w, "serverCertificate", k[3].raw, k[3].raw_len);
        out = json_end(&w);
        der_w_free(&bf38);
    } else if (strcmp(fn, "authenticateClient") == 0) {
        sgp22_auth_server_resp ar;
        F.auth_resp_was_error = sgp22_auth_server_resp_decode(r.resp.data, r.resp.len, &ar) == 0 && !ar.is_ok;
        if (F.auth_resp_was_error) {
            out = json_failed(RSP_ST_EUICC_SIG_INVALID);
            goto done;
        }
        if (F.fail_auth_client || ts_check_auth_response(&F.srv, pki.ci.cert, r.resp.data, r.resp.len) != 0) {
            out = json_failed(RSP_ST_EUICC_CERT_INVALID);
            goto done;
        }
        json_ok_begin(&w);
        rsp_jsonw_kstr(&w, "transactionId", tid_hex);
        if (F.role == ROLE_DS) {
            rsp_jsonw_key(&w, "eventEntries");
            rsp_jsonw_arr_begin(&w);
            rsp_jsonw_obj_begin(&w);
            rsp_jsonw_kstr(&w, "eventId", "EVT-0001");
            rsp_jsonw_kstr(&w, "rspServerAddress", PKI_DEFAULT_DP_FQDN);
            rsp_jsonw_obj_end(&w);
            rsp_jsonw_arr_end(&w);
        } else {
            der_writer meta, bf21;
            der_tlv k[4];
            der_w_init(&meta);
            der_w_init(&bf21);
            uint8_t iccid[10];
            euicc_iccid_from_str("8988211000000000017", iccid);
            if (F.meta_mismatch) {
                der_w_begin(&meta, 0xBF25);
                der_w_tlv(&meta, 0x5A, iccid, 10);
                der_w_tlv(&meta, 0x91, "LPASIM Operator", 15);
                der_w_tlv(&meta, 0x92, "Another Profile", 15);
                der_w_end(&meta);
            } else {
                ts_metadata(&F.srv, iccid, &meta);
            }
            F.srv.cc_required = F.cc_required;
            der_w_finish(&meta);
            size_t nk = ts_prepare_request(&F.srv, NULL, &bf21) == 0 ? kids(bf21.buf, bf21.len, k, 4) : 0;
            if (nk != 3) {
                der_w_free(&meta);
                der_w_free(&bf21);
                rsp_jsonw_free(&w);
                out = json_failed(RSP_ST_INTERNAL);
                goto done;
            }
            rsp_jsonw_kbase64(&w, "profileMetadata", meta.buf, meta.len);
            rsp_jsonw_kbase64(&w, "smdpSigned2", k[0].raw, k[0].raw_len);
            rsp_jsonw_kbase64(&w, "smdpSignature2", k[1].raw, k[1].raw_len);
            rsp_jsonw_kbase64(&w, "smdpCertificate", k[2].raw, k[2].raw_len);
            der_w_free(&meta);
            der_w_free(&bf21);
        }
        out = json_end(&w);
    } else if (strcmp(fn, "getBoundProfilePackage") == 0) {
        if (ts_check_prepare_response(&F.srv, pki.euicc.cert, r.resp.data, r.resp.len) != 0) {
            out = json_failed(RSP_ST_EUICC_SIG_INVALID);
            goto done;
        }
        sgp22_prepare_download_resp pr;
        if (F.cc_required) {
            uint8_t want[32];
            lpa_hash_cc("4711", F.srv.tid, F.srv.tid_len, want);
            F.hashcc_ok = sgp22_prepare_download_resp_decode(r.resp.data, r.resp.len, &pr) == 0 &&
                          pr.ok.euicc_signed2.hash_cc.len == 32 &&
                          memcmp(pr.ok.euicc_signed2.hash_cc.p, want, 32) == 0;
        }
        der_writer pkg, bpp;
        der_w_init(&pkg);
        der_w_init(&bpp);
        F.srv.use_ppk = true;
        if (ts_synthetic_package("8988211000000000017", 2, 600, &pkg) != 0 ||
            ts_bind(&F.srv, PKI_SGP26_EID, pkg.buf, pkg.len, &bpp, NULL) != 0) {
            out = json_failed(RSP_ST_INTERNAL);
        } else {
            json_ok_begin(&w);
            rsp_jsonw_kstr(&w, "transactionId", tid_hex);
            rsp_jsonw_kbase64(&w, "boundProfilePackage", bpp.buf, bpp.len);
            out = json_end(&w);
        }
        der_w_free(&pkg);
        der_w_free(&bpp);
    } else if (strcmp(fn, "handleNotification") == 0) {
        F.notifications++;
        if (F.notif_200) {
            out = json_failed(RSP_OK);
        } else {
            *status = 204;
        }
    } else if (strcmp(fn, "cancelSession") == 0) {
        sgp22_cancel_session_resp cr;
        F.cancels++;
        F.cancel_ok =
            sgp22_cancel_session_resp_decode(r.resp.data, r.resp.len, &cr) == 0 && cr.is_ok &&
            rsp_sig_verify(X509_get0_pubkey(pki.euicc.cert), cr.ok.euicc_cancel_session_signed.raw.raw,
                           cr.ok.euicc_cancel_session_signed.raw.raw_len,
                           cr.ok.euicc_cancel_session_signature.p,
                           cr.ok.euicc_cancel_session_signature.len) == 0;
        F.cancel_reason = cr.is_ok ? cr.ok.euicc_cancel_session_signed.reason : -1;
        json_ok_begin(&w);
        out = json_end(&w);
    } else {
        *status = 404;
    }
done:
    rsp_arena_free(a);
    return out;
}

static void header_value(const char *head, const char *name, char *out, size_t cap, bool *present)
{
    const char *p = head;
    size_t n = strlen(name);
    *present = false;
    out[0] = '\0';
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t l = e ? (size_t)(e - v) : strlen(v);
            snprintf(out, cap, "%.*s", (int)(l < cap ? l : cap - 1), v);
            *present = true;
            return;
        }
    }
}

static void serve_conn(SSL *ssl)
{
    enum { CAP = 1 << 20 };
    char *buf = malloc(CAP);
    size_t len = 0;
    if (!buf)
        return;
    for (;;) {
        char *end;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len >= CAP - 1 || ssl_read_some(ssl, buf, CAP - 1, &len) != 0)
                goto out;
        }
        *end = '\0';
        size_t hlen = (size_t)(end - buf) + 4;
        char cl[32];
        bool has;
        header_value(buf, "Content-Length", cl, sizeof(cl), &has);
        size_t blen = has ? strtoul(cl, NULL, 10) : 0;
        if (blen > CAP - hlen - 1)
            goto out;
        while (len < hlen + blen)
            if (ssl_read_some(ssl, buf, CAP - 1, &len) != 0)
                goto out;
        char path[128] = "";
        sscanf(buf, "POST %127s HTTP/1.1", path);
        pthread_mutex_lock(&F.mu);
        F.requests++;
        snprintf(F.last_path, sizeof(F.last_path), "%s", path);
        bool p1, p2, p3;
        header_value(buf, "User-Agent", F.ua, sizeof(F.ua), &p1);
        header_value(buf, "X-Admin-Protocol", F.xap, sizeof(F.xap), &p2);
        header_value(buf, "Content-Type", F.ctype, sizeof(F.ctype), &p3);
        char acc[64];
        bool pa;
        header_value(buf, "Accept", acc, sizeof(acc), &pa);
        F.saw_accept |= pa;
        int status;
        char *out = handle(path, buf + hlen, blen, &status);
        const char *ct = F.wrong_ctype ? "text/html" : "application/json;charset=UTF-8";
        pthread_mutex_unlock(&F.mu);
        respond(ssl, status, status == 204 ? NULL : ct, status == 204 ? NULL : out);
        free(out);
        memmove(buf, buf + hlen + blen, len - hlen - blen);
        len -= hlen + blen;
    }
out:
    free(buf);
}

static void *serve_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    SSL *ssl = SSL_new(F.ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1)
        serve_conn(ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    return NULL;
}

/* One thread per connection: curl keeps connections open between calls. */
static void *serve(void *arg)
{
    (void)arg;
    while (!F.stop) {
        int fd = accept(F.listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        if (F.stop || F.nconn == sizeof(F.conn) / sizeof(F.conn[0])) {
            close(fd);
            continue;
        }
        pthread_mutex_lock(&F.mu);
        F.accepts++;
        pthread_mutex_unlock(&F.mu);
        if (pthread_create(&F.conn[F.nconn], NULL, serve_one, (void *)(intptr_t)fd) == 0)
            F.nconn++;
        else
            close(fd);
    }
    return NULL;
}

static int fake_start(void)
{
    pthread_mutex_init(&F.mu, NULL);
    F.ctx = SSL_CTX_new(TLS_server_method());
    if (!F.ctx || SSL_CTX_use_certificate(F.ctx, tls.cert) != 1 ||
        SSL_CTX_use_PrivateKey(F.ctx, tls.key) != 1)
        return -1;
    F.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (F.listen_fd < 0 || bind(F.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(F.listen_fd, 16) != 0 || getsockname(F.listen_fd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    F.port = ntohs(sa.sin_port);
    return pthread_create(&F.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static void fake_stop(void)
{
    F.stop = 1;
    /* Wake the accept() with one last connection. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)F.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    pthread_join(F.thread, NULL);
    for (size_t i = 0; i < F.nconn; i++)
        pthread_join(F.conn[i], NULL);
    close(F.listen_fd);
    SSL_CTX_free(F.ctx);
    ts_server_clear(&F.srv);
    pthread_mutex_destroy(&F.mu);
}

/* Resets the fake for a new flow with the given role. */
static void fake_reset(int role)
{
    pthread_mutex_lock(&F.mu);
    ts_server_clear(&F.srv);
    ts_server_init(&F.srv);
    F.role = role;
    const pki_cred *auth = role == ROLE_DS ? &pki.dsauth : &pki.dpauth;
    F.srv.auth_cert = auth->cert;
    F.srv.auth_key = auth->key;
    F.srv.pb_cert = pki.dppb.cert;
    F.srv.pb_key = pki.dppb.key;
    snprintf(F.srv.address, sizeof(F.srv.address), "%s",
             role == ROLE_DS ? PKI_DEFAULT_DS_FQDN : PKI_DEFAULT_DP_FQDN);
    F.fail_auth_client = F.wrong_ctype = F.notif_200 = F.cc_required = F.meta_mismatch = false;
    F.accepts = F.requests = F.notifications = F.cancels = 0;
    F.saw_accept = F.used_smds_field = F.auth_resp_was_error = F.cancel_ok = F.hashcc_ok = false;
    F.cancel_reason = -1;
    F.last_path[0] = F.init_address[0] = '\0';
    pthread_mutex_unlock(&F.mu);
}

static lpa *new_lpa(euicc *e, const char *ca, bool es11, bool connect_to)
{
    lpa_opts o;
    memset(&o, 0, sizeof(o));
    o.cafile = ca;
    o.es11_paths = es11;
    o.timeout_ms = 20000;
    char ct[64];
    snprintf(ct, sizeof(ct), "127.0.0.1:%d", F.port);
    o.connect_to = connect_to ? ct : NULL;
    return lpa_new(e, &o);
}

static const char *loopback(char *buf, size_t cap)
{
    snprintf(buf, cap, "127.0.0.1:%d", F.port);
    return buf;
}

static void test_download_flow(void)
{
    fake_reset(ROLE_DP);
    euicc *e = ts_make_euicc(&pki);
    lpa *l = new_lpa(e, cafile, false, false);
    char srv[64];
    lpa_download_info info;
    lpa_result res;
    int rc = lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, NULL, false, &info, &res);
    UT_EQ(rc, 0);
    if (rc)
        fprintf(stderr, "    stage %s: %s %s/%s\n", res.stage, res.detail, res.subject, res.reason);
    UT_CHECK(res.ok);
    UT_CHECK(strcmp(info.iccid, "8988211000000000017") == 0);
    UT_CHECK(strcmp(info.profile_name, "LPASIM Test Profile") == 0);
    UT_CHECK(!info.enabled && !info.notified && info.notification_seq == 1);
    UT_CHECK(info.tid_len == F.srv.tid_len && memcmp(info.tid, F.srv.tid, info.tid_len) == 0);
    UT_EQ(F.requests, 3);
    UT_EQ(F.accepts, 1); /* one connection for the whole session */
    UT_CHECK(strcmp(F.ua, "gsma-rsp-lpad") == 0);
    UT_CHECK(strcmp(F.xap, "gsma/rsp/v2.2.2") == 0);
    UT_CHECK(strcmp(F.ctype, "application/json") == 0);
    UT_CHECK(!F.saw_accept);
    UT_CHECK(!F.used_smds_field && strcmp(F.init_address, PKI_DEFAULT_DP_FQDN) == 0);
    const euicc_profile *p = euicc_profile_find(e, "8988211000000000017");
    UT_CHECK(p && memcmp(p->package_sha256, info.package_sha256, 32) == 0);

    /* Notification: to https://testsmdpplus1.example.com/ through --connect-to. */
    lpa_free(l);
    l = new_lpa(e, cafile, false, true);
    size_t sent, failed;
    UT_EQ(lpa_notify(l, &sent, &failed, &res), 0);
    UT_EQ(sent, 1);
    UT_EQ(failed, 0);
    UT_EQ(F.notifications, 1);
    UT_EQ(euicc_notification_count(e), 0);
    UT_CHECK(strcmp(F.last_path, "/gsma/rsp2/es9plus/handleNotification") == 0);
    lpa_free(l);
    euicc_free(e);
}

static void test_download_connect_to_and_notify(void)
{
    fake_reset(ROLE_DP);
    euicc *e = ts_make_euicc(&pki);
    lpa *l = new_lpa(e, cafile, false, true);
    char srv[128];
    snprintf(srv, sizeof(srv), "%s:%d", PKI_DEFAULT_DP_FQDN, F.port);
    lpa_download_info info;
    lpa_result res;
    /* The address defaults to the host part; the TLS name is the FQDN. */
    UT_EQ(lpa_download(l, srv, NULL, "MATCH-1", NULL, true, &info, &res), 0);
    if (!res.ok)
        fprintf(stderr, "    stage %s: %s\n", res.stage, res.detail);
    UT_CHECK(info.notified);
    UT_EQ(F.notifications, 1);
    UT_EQ(euicc_notification_count(e), 0);
    /* A second download of the same ICCID fails on the eUICC; its result is still sent. */
    fake_reset(ROLE_DP);
    UT_EQ(lpa_download(l, srv, NULL, NULL, NULL, true, &info, &res), -1);
    UT_CHECK(strcmp(res.stage, "loadBoundProfilePackage") == 0);
    if (strcmp(res.stage, "loadBoundProfilePackage") != 0)
        fprintf(stderr, "    stage %s: %s %s/%s\n", res.stage, res.detail, res.subject, res.reason);
    UT_EQ(res.euicc.code, EUICC_PIR_ICCID_EXISTS);
    UT_EQ(res.euicc.bpp_command, EUICC_BPP_STORE_METADATA);
    UT_EQ(F.notifications, 1);
    UT_EQ(euicc_notification_count(e), 0);
    lpa_free(l);
    euicc_free(e);
}

static void test_failures(void)
{
    char srv[64];
    lpa_download_info info;
    lpa_result res;

    /* The server refuses: its subject/reason come back. */
    fake_reset(ROLE_DP);
    F.fail_auth_client = true;
    euicc *e = ts_make_euicc(&pki);
    lpa *l = new_lpa(e, cafile, false, false);
    UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, NULL, false, &info, &res),
          -1);
    UT_CHECK(strcmp(res.stage, "authenticateClient") == 0);
    UT_CHECK(strcmp(res.status, "Failed") == 0);
    UT_CHECK(strcmp(res.subject, "8.1.3") == 0 && strcmp(res.reason, "6.1") == 0);
    lpa_free(l);

    /* Wrong server address: the eUICC refuses and the LPA forwards its error response. */
    fake_reset(ROLE_DP);
    l = new_lpa(e, cafile, false, false);
    UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), "other.example.com", NULL, NULL, false, &info, &res),
          -1);
    UT_CHECK(strcmp(res.stage, "authenticateServer") == 0);
    UT_CHECK(res.euicc_refused && res.euicc.code == EUICC_AUTH_UNDEFINED);
    UT_CHECK(F.auth_resp_was_error);
    UT_CHECK(strcmp(res.subject, "8.1") == 0 && strcmp(res.reason, "6.1") == 0);
    lpa_free(l);

    /* TLS: a server certificate from a CA we do not trust. */
    fake_reset(ROLE_DP);
    l = new_lpa(e, rogue_cafile, false, false);
    UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, NULL, false, &info, &res),
          -1);
    UT_CHECK(strcmp(res.stage, "initiateAuthentication") == 0);
    UT_EQ(res.http_status, 0);
    UT_EQ(F.requests, 0);
    lpa_free(l);

    /* TLS: the host name does not match the certificate. */
    fake_reset(ROLE_DP);
    l = new_lpa(e, cafile, false, true);
    char other[96];
    snprintf(other, sizeof(other), "wrong.example.com:%d", F.port);
    UT_EQ(lpa_download(l, other, PKI_DEFAULT_DP_FQDN, NULL, NULL, false, &info, &res), -1);
    UT_EQ(F.requests, 0);
    lpa_free(l);

    /* A response that is not JSON by content type. */
    fake_reset(ROLE_DP);
    F.wrong_ctype = true;
    l = new_lpa(e, cafile, false, false);
    UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, NULL, false, &info, &res),
          -1);
    UT_CHECK(strstr(res.detail, "Content-Type") != NULL);
    lpa_free(l);

    /* The BPP's StoreMetadata must be the profileMetadata the user agreed to. */
    fake_reset(ROLE_DP);
    F.meta_mismatch = true;
    l = new_lpa(e, cafile, false, false);
    UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, NULL, false, &info, &res),
          -1);
    UT_CHECK(strcmp(res.stage, "getBoundProfilePackage") == 0);
    UT_CHECK(strstr(res.detail, "metadata") != NULL);
    UT_EQ(euicc_profile_count(e), 0);
    lpa_free(l);

    /* HandleNotification must be answered with 204; the notification stays pending. */
    fake_reset(ROLE_DP);
    l = new_lpa(e, cafile, false, true);
    UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, NULL, false, &info, &res),
          0);
    F.notif_200 = true;
    size_t sent, failed;
    UT_EQ(lpa_notify(l, &sent, &failed, &res), -1);
    UT_EQ(sent, 0);
    UT_EQ(failed, 1);
    UT_EQ(res.http_status, 200);
    UT_EQ(euicc_notification_count(e), 1);
    lpa_free(l);
    euicc_free(e);
}

static void test_confirmation_code(void)
{
    char srv[64];
    lpa_download_info info;
    lpa_result res;
    fake_reset(ROLE_DP);
    F.cc_required = true;
    euicc *e = ts_make_euicc(&pki);
    lpa *l = new_lpa(e, cafile, false, false);
    /* Without a code the LPA cancels the session (endUserRejection). */
    UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, NULL, false, &info, &res),
          -1);
    UT_CHECK(strcmp(res.stage, "prepareDownload") == 0);
    UT_EQ(F.cancels, 1);
    UT_CHECK(F.cancel_ok);
    UT_EQ(F.cancel_reason, EUICC_CANCEL_END_USER_REJECTION);
    /* With it, hashCc = SHA256(SHA256(cc) || transactionId) reaches the server. */
    fake_reset(ROLE_DP);
    F.cc_required = true;
    UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, "4711", false, &info, &res),
          0);
    UT_CHECK(F.hashcc_ok);
    lpa_free(l);
    euicc_free(e);
}

static void test_cancel(void)
{
    char srv[64];
    lpa_result res;
    fake_reset(ROLE_DP);
    euicc *e = ts_make_euicc(&pki);
    lpa *l = new_lpa(e, cafile, false, false);
    UT_EQ(lpa_cancel(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, EUICC_CANCEL_TIMEOUT, &res),
          0);
    UT_EQ(F.cancels, 1);
    UT_CHECK(F.cancel_ok);
    UT_EQ(F.cancel_reason, EUICC_CANCEL_TIMEOUT);
    UT_CHECK(strcmp(F.last_path, "/gsma/rsp2/es9plus/cancelSession") == 0);
    lpa_free(l);
    euicc_free(e);
}

/* after_bpp: the BPP is dropped, or the session cancelled, instead of loaded. */
static void test_download_after_bpp(void)
{
    char srv[64];
    lpa_download_info info;
    lpa_result res;
    for (int mode = LPA_BPP_DROP; mode <= LPA_BPP_CANCEL; mode++) {
        fake_reset(ROLE_DP);
        euicc *e = ts_make_euicc(&pki);
        lpa_opts o;
        memset(&o, 0, sizeof(o));
        o.cafile = cafile;
        o.timeout_ms = 20000;
        o.after_bpp = mode;
        o.after_bpp_reason = EUICC_CANCEL_POSTPONED;
        lpa *l = lpa_new(e, &o);
        UT_EQ(lpa_download(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DP_FQDN, NULL, NULL, true, &info, &res),
              0);
        UT_CHECK(res.ok && strcmp(info.iccid, "8988211000000000017") == 0);
        UT_EQ(euicc_profile_count(e), 0);
        UT_EQ(euicc_notification_count(e), 0);
        UT_EQ(F.notifications, 0);
        UT_EQ(F.cancels, mode == LPA_BPP_CANCEL ? 1 : 0);
        if (mode == LPA_BPP_CANCEL)
            UT_EQ(F.cancel_reason, EUICC_CANCEL_POSTPONED);
        lpa_free(l);
        euicc_free(e);
    }
}

static void test_discover(void)
{
    char srv[64];
    lpa_result res;
    lpa_event *ev;
    size_t n;
    euicc *e = ts_make_euicc(&pki);
    for (int es11 = 0; es11 < 2; es11++) {
        fake_reset(ROLE_DS);
        lpa *l = new_lpa(e, cafile, es11, false);
        int rc = lpa_discover(l, loopback(srv, sizeof(srv)), PKI_DEFAULT_DS_FQDN, NULL, &ev, &n, &res);
        UT_EQ(rc, 0);
        if (rc)
            fprintf(stderr, "    stage %s: %s\n", res.stage, res.detail);
        UT_EQ(n, 1);
        UT_CHECK(n == 1 && strcmp(ev[0].event_id, "EVT-0001") == 0 &&
                 strcmp(ev[0].rsp_server_address, PKI_DEFAULT_DP_FQDN) == 0);
        UT_EQ(F.used_smds_field, es11);
        UT_CHECK(strcmp(F.last_path, es11 ? "/gsma/rsp2/es11/authenticateClient"
                                          : "/gsma/rsp2/es9plus/authenticateClient") == 0);
        lpa_events_free(ev, n);
        lpa_free(l);
    }
    euicc_free(e);
}

static int write_pem(const char *path, X509 *c)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = PEM_write_X509(f, c);
    return fclose(f) == 0 && ok ? 0 : -1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the fake server may write to a connection the client dropped */
    UT_RUN(test_ctx_params1);
    UT_RUN(test_hash_cc);
    UT_RUN(test_request_bodies);
    UT_RUN(test_parse_responses);

    const char *base = getenv("TEST_TMPDIR");
    snprintf(tmp_root, sizeof(tmp_root), "%s/lpasim-lpa-XXXXXX", base && *base ? base : "/tmp");
    pki_opts o;
    pki_opts_init(&o, PKI_DP_TLS);
    o.loopback = true;
    if (!mkdtemp(tmp_root) || ts_pki_init(&pki, PKI_CURVE_NIST) != 0 || pki_mint(&o, &pki.ci, &tls) != 0) {
        fprintf(stderr, "setup failed: %s\n", pki_last_error());
        return 1;
    }
    /* The DS role uses the same TLS certificate; its name is not checked when connecting by address. */
    snprintf(cafile, sizeof(cafile), "%s/ci.pem", tmp_root);
    snprintf(rogue_cafile, sizeof(rogue_cafile), "%s/rogue.pem", tmp_root);
    if (write_pem(cafile, pki.ci.cert) != 0 || write_pem(rogue_cafile, pki.rogue_ci.cert) != 0 ||
        fake_start() != 0) {
        fprintf(stderr, "cannot start the fake server\n");
        return 1;
    }
    UT_RUN(test_download_flow);
    UT_RUN(test_download_connect_to_and_notify);
    UT_RUN(test_failures);
    UT_RUN(test_confirmation_code);
    UT_RUN(test_cancel);
    UT_RUN(test_download_after_bpp);
    UT_RUN(test_discover);
    fake_stop();
    pki_cred_clear(&tls);
    ts_pki_clear(&pki);
    unlink(cafile);
    unlink(rogue_cafile);
    rmdir(tmp_root);
    return ut_finish();
}
