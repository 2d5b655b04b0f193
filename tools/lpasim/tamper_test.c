/*
 * Tests for the answer rewrites: each changes exactly what it is asked to,
 * the re-signed ones still verify with the eUICC certificate, and the
 * unchanged rewrite reproduces the genuine answer byte for byte.
 */
#include "tools/lpasim/tamper.h"

#include <stdio.h>
#include <string.h>

#include "asn1/sgp22.h"
#include "rsp/sig.h"
#include "tests/unit/ut.h"
#include "tools/lpasim/euicc.h"
#include "tools/lpasim/testserver.h"

static ts_pki pki;
static euicc *card;
static ts_server srv;
static der_writer genuine; /* a genuine AuthenticateServerResponse */

static int setup(void)
{
    if (ts_pki_init(&pki, PKI_CURVE_NIST) != 0 || !(card = ts_make_euicc(&pki)))
        return -1;
    ts_server_init(&srv);
    srv.auth_cert = pki.dsauth.cert;
    srv.auth_key = pki.dsauth.key;
    uint8_t ch[16];
    der_writer req;
    der_w_init(&req);
    der_w_init(&genuine);
    euicc_error err;
    int rc = euicc_get_challenge(card, ch) == 0 && ts_auth_request(&srv, ch, NULL, &req) == 0 &&
                     euicc_authenticate_server(card, req.buf, req.len, srv.address, &genuine, &err) == 0
                 ? 0
                 : -1;
    der_w_free(&req);
    return rc;
}

/* Applies t to the genuine answer; the result decodes (into *r, pointing into out). */
static int rewrite(const tamper_auth *t, der_writer *out, sgp22_auth_server_resp *r)
{
    der_w_init(out);
    if (tamper_auth_server_resp(euicc_key(card), genuine.buf, genuine.len, t, out) != 0 ||
        der_w_finish(out) != 0)
        return -1;
    return sgp22_auth_server_resp_decode(out->buf, out->len, r) == 0 && r->is_ok ? 0 : -1;
}

static bool verifies(const sgp22_auth_server_resp *r)
{
    const der_tlv *s = &r->ok.euicc_signed1.raw;
    return rsp_sig_verify(X509_get0_pubkey(pki.euicc.cert), s->raw, s->raw_len, r->ok.euicc_signature1.p,
                          r->ok.euicc_signature1.len) == 0;
}

static void test_genuine(void)
{
    UT_EQ(ts_check_auth_response(&srv, pki.ci.cert, genuine.buf, genuine.len), 0);
    tamper_auth none = {0};
    der_writer w;
    sgp22_auth_server_resp r;
    UT_EQ(rewrite(&none, &w, &r), 0);
    UT_CHECK(w.len == genuine.len && memcmp(w.buf, genuine.buf, w.len) == 0);
    der_w_free(&w);
}

static void test_bad_signature(void)
{
    tamper_auth t = {.bad_signature = true};
    der_writer w;
    sgp22_auth_server_resp r, g;
    UT_EQ(rewrite(&t, &w, &r), 0);
    UT_EQ(sgp22_auth_server_resp_decode(genuine.buf, genuine.len, &g), 0);
    UT_CHECK(!verifies(&r));
    UT_CHECK(r.ok.euicc_signed1.raw.raw_len == g.ok.euicc_signed1.raw.raw_len &&
             memcmp(r.ok.euicc_signed1.raw.raw, g.ok.euicc_signed1.raw.raw, g.ok.euicc_signed1.raw.raw_len) ==
                 0);
    UT_CHECK(ts_check_auth_response(&srv, pki.ci.cert, w.buf, w.len) != 0);
    der_w_free(&w);
}

static void test_resigned(void)
{
    tamper_auth chal = {.wrong_challenge = true}, tid = {.wrong_tid = true},
                addr = {.signed_address = "other.example.com"};
    der_writer w;
    sgp22_auth_server_resp r;

    UT_EQ(rewrite(&chal, &w, &r), 0);
    UT_CHECK(verifies(&r));
    UT_CHECK(memcmp(r.ok.euicc_signed1.server_challenge.p, srv.server_challenge, 16) != 0);
    UT_CHECK(memcmp(r.ok.euicc_signed1.transaction_id.p, srv.tid, srv.tid_len) == 0);
    UT_CHECK(ts_check_auth_response(&srv, pki.ci.cert, w.buf, w.len) != 0);
    der_w_free(&w);

    UT_EQ(rewrite(&tid, &w, &r), 0);
    UT_CHECK(verifies(&r));
    UT_EQ(r.ok.euicc_signed1.transaction_id.len, srv.tid_len);
    UT_CHECK(memcmp(r.ok.euicc_signed1.transaction_id.p, srv.tid, srv.tid_len) != 0);
    UT_CHECK(memcmp(r.ok.euicc_signed1.server_challenge.p, srv.server_challenge, 16) == 0);
    UT_CHECK(ts_check_auth_response(&srv, pki.ci.cert, w.buf, w.len) != 0);
    der_w_free(&w);

    UT_EQ(rewrite(&addr, &w, &r), 0);
    UT_CHECK(verifies(&r));
    UT_CHECK(r.ok.euicc_signed1.server_address.len == 17 &&
             memcmp(r.ok.euicc_signed1.server_address.p, "other.example.com", 17) == 0);
    UT_CHECK(r.ok.euicc_signed1.euicc_info2.raw.raw != NULL);
    UT_CHECK(ts_check_auth_response(&srv, pki.ci.cert, w.buf, w.len) != 0);
    der_w_free(&w);
}

static void test_refused_input(void)
{
    tamper_auth t = {.bad_signature = true};
    der_writer w;
    der_w_init(&w);
    UT_EQ(tamper_auth_server_resp(euicc_key(card), genuine.buf, genuine.len - 1, &t, &w), -1);
    /* an authenticateResponseError has nothing to tamper with */
    sgp22_auth_server_resp err = {.is_ok = false,
                                  .error = {.transaction_id = SGP22_BYTES(srv.tid, 16), .code = 2}};
    der_writer e;
    der_w_init(&e);
    UT_EQ(sgp22_auth_server_resp_encode(&e, &err), 0);
    UT_EQ(der_w_finish(&e), 0);
    UT_EQ(tamper_auth_server_resp(euicc_key(card), e.buf, e.len, &t, &w), -1);
    der_w_free(&e);
    der_w_free(&w);
}

static void test_info1(void)
{
    der_writer g;
    der_w_init(&g);
    UT_EQ(euicc_get_info1(card, &g), 0);
    UT_EQ(der_w_finish(&g), 0);
    sgp22_euicc_info1 orig, r;
    UT_EQ(sgp22_euicc_info1_decode(g.buf, g.len, &orig), 0);
    UT_CHECK(orig.ci_pkid_sign.count == 1 && orig.ci_pkid_verify.count == 1);
    der_tlv id;
    UT_EQ(sgp22_list_at(&orig.ci_pkid_sign, 0, &id), 0);

    tamper_info1 v3 = {.sign_list_v3 = true}, noverify = {.empty_verify_list = true};
    der_writer w;
    der_w_init(&w);
    UT_EQ(tamper_euicc_info1(g.buf, g.len, &v3, &w), 0);
    UT_EQ(der_w_finish(&w), 0);
    UT_EQ(sgp22_euicc_info1_decode(w.buf, w.len, &r), 0);
    UT_EQ(r.ci_pkid_sign.count, 0);
    UT_EQ(r.ci_pkid_sign_v3.count, 1);
    UT_CHECK(sgp22_list_has(&r.ci_pkid_sign_v3, id.value, id.len));
    UT_CHECK(sgp22_list_has(&r.ci_pkid_verify, id.value, id.len));
    der_w_free(&w);

    der_w_init(&w);
    UT_EQ(tamper_euicc_info1(g.buf, g.len, &noverify, &w), 0);
    UT_EQ(der_w_finish(&w), 0);
    UT_EQ(sgp22_euicc_info1_decode(w.buf, w.len, &r), 0);
    UT_EQ(r.ci_pkid_verify.count, 0);
    UT_CHECK(sgp22_list_has(&r.ci_pkid_sign, id.value, id.len));
    UT_CHECK(r.svn.len == 3 && memcmp(r.svn.p, orig.svn.p, 3) == 0);
    der_w_free(&w);

    der_w_init(&w);
    UT_EQ(tamper_euicc_info1(g.buf, g.len - 2, &v3, &w), -1);
    der_w_free(&w);
    der_w_free(&g);
}

int main(void)
{
    if (setup() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    UT_RUN(test_genuine);
    UT_RUN(test_bad_signature);
    UT_RUN(test_resigned);
    UT_RUN(test_refused_input);
    UT_RUN(test_info1);
    der_w_free(&genuine);
    ts_server_clear(&srv);
    euicc_free(card);
    ts_pki_clear(&pki);
    return ut_finish();
}
