/*
 * Tests for the software eUICC: the genuine AuthenticateServer /
 * PrepareDownload / LoadBoundProfilePackage flow against a server test
 * double, and the refusals a real eUICC gives for tampered or misdirected
 * server messages.  With RSP_SHARED_DIR: the SGP.26 eUICC signs an
 * AuthenticateServerResponse that verifies with its certificate, and a TS.48
 * profile package is read and installed.
 */
#include "tools/lpasim/euicc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "asn1/sgp22.h"
#include "rsp/cert.h"
#include "rsp/sig.h"
#include "tests/unit/ut.h"
#include "tools/lpasim/lpa.h"
#include "tools/lpasim/testserver.h"

static ts_pki pki_nist, pki_brp;

/* A server double wired to p's SM-DP+ credentials. */
static void dp_server(ts_server *s, const ts_pki *p)
{
    ts_server_init(s);
    s->auth_cert = p->dpauth.cert;
    s->auth_key = p->dpauth.key;
    s->pb_cert = p->dppb.cert;
    s->pb_key = p->dppb.key;
}

static bool verify_with_cert(X509 *cert, const der_tlv *signed_part, sgp22_bytes sig)
{
    return rsp_sig_verify(X509_get0_pubkey(cert), signed_part->raw, signed_part->raw_len, sig.p, sig.len) ==
           0;
}

/* Runs AuthenticateServer; returns the eUICC outcome and leaves the response in resp. */
static int auth(euicc *e, ts_server *s, const char *contacted, der_writer *resp, euicc_error *err)
{
    uint8_t ch[16];
    der_writer req;
    der_w_init(&req);
    der_w_init(resp);
    if (euicc_get_challenge(e, ch) != 0 || ts_auth_request(s, ch, "MATCHING-1", &req) != 0) {
        der_w_free(&req);
        return -100;
    }
    int rc = euicc_authenticate_server(e, req.buf, req.len, contacted, resp, err);
    der_w_free(&req);
    return rc;
}

static int auth_error_code(const der_writer *resp, const ts_server *s)
{
    sgp22_auth_server_resp r;
    if (sgp22_auth_server_resp_decode(resp->buf, resp->len, &r) != 0 || r.is_ok)
        return -1;
    if (r.error.transaction_id.len != s->tid_len || memcmp(r.error.transaction_id.p, s->tid, s->tid_len) != 0)
        return -2;
    return (int)r.error.code;
}

/* ---- EUICCInfo ---- */

static void test_info(void)
{
    euicc *e = ts_make_euicc(&pki_nist);
    UT_CHECK(e != NULL);
    der_writer w1, w2;
    der_w_init(&w1);
    der_w_init(&w2);
    UT_EQ(euicc_get_info1(e, &w1), 0);
    UT_EQ(euicc_get_info2(e, &w2), 0);
    sgp22_euicc_info1 i1;
    sgp22_euicc_info2 i2;
    UT_EQ(sgp22_euicc_info1_decode(w1.buf, w1.len, &i1), 0);
    UT_EQ(sgp22_euicc_info2_decode(w2.buf, w2.len, &i2), 0);
    UT_EQ(i1.svn.len, 3);
    UT_CHECK(memcmp(i1.svn.p, "\x02\x02\x02", 3) == 0);
    const uint8_t *ski;
    size_t ski_len;
    UT_EQ(rsp_cert_ski(pki_nist.ci.cert, &ski, &ski_len), 0);
    UT_CHECK(sgp22_list_has(&i1.ci_pkid_verify, ski, ski_len));
    UT_CHECK(sgp22_list_has(&i1.ci_pkid_sign, ski, ski_len));
    UT_CHECK(sgp22_list_has(&i2.ci_pkid_verify, ski, ski_len));
    UT_CHECK(sgp22_bit(i2.rsp_capability, 0)); /* additionalProfile */
    UT_EQ(strlen(euicc_eid(e)), 32);
    UT_CHECK(strcmp(euicc_eid(e), PKI_SGP26_EID) == 0);
    UT_CHECK(!i2.forbidden_ppr.p);
    /* forbiddenProfilePolicyRules when configured, in its place before ppVersion */
    euicc_config_of(e)->forbidden_ppr = 1u << 2;
    der_w_free(&w2);
    der_w_init(&w2);
    UT_EQ(euicc_get_info2(e, &w2), 0);
    UT_EQ(sgp22_euicc_info2_decode(w2.buf, w2.len, &i2), 0);
    UT_CHECK(i2.forbidden_ppr.p && !sgp22_bit(i2.forbidden_ppr, 1) && sgp22_bit(i2.forbidden_ppr, 2));
    der_w_free(&w1);
    der_w_free(&w2);
    euicc_free(e);
}

/* ---- the genuine flow ---- */

static void genuine_flow(const ts_pki *p, bool ppk, size_t nfill, size_t fill_len)
{
    euicc *e = ts_make_euicc(p);
    ts_server s;
    dp_server(&s, p);
    s.use_ppk = ppk;
    UT_EQ(ts_run_to_bpp(&s, e, p->ci.cert), 0);

    der_writer pkg, bpp, pir;
    der_w_init(&pkg);
    der_w_init(&bpp);
    der_w_init(&pir);
    UT_EQ(ts_synthetic_package("8988211000000000017", nfill, fill_len, &pkg), 0);
    ts_segments segs;
    UT_EQ(ts_bind(&s, euicc_eid(e), pkg.buf, pkg.len, &bpp, &segs), 0);
    UT_EQ(segs.n[0], 1);
    UT_CHECK(segs.n[1] >= 1);
    UT_EQ(segs.n[2], ppk ? 1 : 0);
    UT_CHECK(segs.n[3] >= 1);

    uint8_t sha[32], want[32];
    euicc_error err;
    int rc = euicc_load_bpp(e, bpp.buf, bpp.len, &pir, sha, &err);
    UT_EQ(rc, EUICC_OK);
    if (rc != EUICC_OK)
        fprintf(stderr, "    %s: %s\n", err.name, err.detail);
    SHA256(pkg.buf, pkg.len, want);
    UT_CHECK(memcmp(sha, want, 32) == 0);

    /* The result is a signed BF37 with successResult, also queued. */
    sgp22_pir r;
    UT_EQ(sgp22_pir_decode(pir.buf, pir.len, &r), 0);
    UT_CHECK(r.data.final_result.success);
    UT_EQ(r.data.final_result.ok.aid.len, 16);
    UT_CHECK(verify_with_cert(p->euicc.cert, &r.data.raw, r.euicc_sign_pir));
    UT_EQ(r.data.transaction_id.len, s.tid_len);
    UT_CHECK(memcmp(r.data.transaction_id.p, s.tid, s.tid_len) == 0);
    UT_EQ(r.data.notification_metadata.seq_number, 1);
    UT_CHECK(sgp22_bit(r.data.notification_metadata.pmo, 0));
    UT_CHECK(r.data.notification_metadata.notification_address.len == strlen(PKI_DEFAULT_DP_FQDN));
    char oid[32];
    UT_EQ(sgp22_oid_format(r.data.smdp_oid.p, r.data.smdp_oid.len, oid, sizeof(oid)), 0);
    UT_CHECK(strcmp(oid, PKI_DEFAULT_DP_RID) == 0);

    UT_EQ(euicc_notification_count(e), 1);
    const euicc_notification *n = euicc_notification_at(e, 0);
    UT_CHECK(n && n->len == pir.len && memcmp(n->der, pir.buf, pir.len) == 0);
    UT_CHECK(n && strcmp(n->iccid_str, "8988211000000000017") == 0);

    const euicc_profile *prof = euicc_profile_find(e, "8988211000000000017");
    UT_CHECK(prof != NULL);
    if (prof) {
        UT_CHECK(!prof->enabled);
        UT_CHECK(strcmp(prof->name, "LPASIM Test Profile") == 0);
        UT_CHECK(strcmp(prof->spn, "LPASIM Operator") == 0);
        UT_CHECK(memcmp(prof->package_sha256, want, 32) == 0);
        UT_CHECK(strcmp(prof->smdp_oid, PKI_DEFAULT_DP_RID) == 0);
        UT_CHECK(prof->notify_address[EUICC_EVT_DELETE] != NULL);
    }
    /* The session is over: the same BPP again is out of sequence. */
    der_writer again;
    der_w_init(&again);
    UT_EQ(euicc_load_bpp(e, bpp.buf, bpp.len, &again, NULL, &err), EUICC_ESTATE);
    UT_EQ(again.len, 0);
    der_w_free(&again);

    der_w_free(&pkg);
    der_w_free(&bpp);
    der_w_free(&pir);
    ts_server_clear(&s);
    euicc_free(e);
}

static void test_genuine_nist(void)
{
    genuine_flow(&pki_nist, false, 3, 700);
    genuine_flow(&pki_nist, true, 0, 0);
    genuine_flow(&pki_nist, true, 4, 1500); /* profile elements split over several 86 segments */
}

static void test_genuine_brainpool(void)
{
    genuine_flow(&pki_brp, true, 2, 300);
}

static void test_auth_ok_details(void)
{
    euicc *e = ts_make_euicc(&pki_nist);
    ts_server s;
    dp_server(&s, &pki_nist);
    der_writer resp;
    euicc_error err;
    /* The address compare ignores case. */
    UT_EQ(auth(e, &s, "TestSMDPplus1.Example.COM", &resp, &err), EUICC_OK);
    UT_EQ(ts_check_auth_response(&s, pki_nist.ci.cert, resp.buf, resp.len), 0);
    sgp22_auth_server_resp r;
    UT_EQ(sgp22_auth_server_resp_decode(resp.buf, resp.len, &r), 0);
    UT_CHECK(r.is_ok);
    UT_CHECK(r.ok.euicc_signed1.ctx_params1.matching_id.len == 10);
    UT_CHECK(verify_with_cert(pki_nist.euicc.cert, &r.ok.euicc_signed1.raw, r.ok.euicc_signature1));
    size_t tl;
    const uint8_t *tid = euicc_session_tid(e, &tl);
    UT_CHECK(tid && tl == s.tid_len && memcmp(tid, s.tid, tl) == 0);
    der_w_free(&resp);

    /* An SM-DS (CERT.DSauth) is accepted too, but cannot lead to a download. */
    ts_server ds;
    dp_server(&ds, &pki_nist);
    ds.auth_cert = pki_nist.dsauth.cert;
    ds.auth_key = pki_nist.dsauth.key;
    snprintf(ds.address, sizeof(ds.address), "%s", PKI_DEFAULT_DS_FQDN);
    UT_EQ(auth(e, &ds, PKI_DEFAULT_DS_FQDN, &resp, &err), EUICC_OK);
    UT_EQ(ts_check_auth_response(&ds, pki_nist.ci.cert, resp.buf, resp.len), 0);
    der_w_free(&resp);
    der_writer req;
    der_w_init(&req);
    der_w_init(&resp);
    UT_EQ(ts_prepare_request(&ds, NULL, &req), 0);
    UT_EQ(euicc_prepare_download(e, req.buf, req.len, &resp, &err), EUICC_EREFUSED);
    UT_EQ(err.code, EUICC_DL_NO_SESSION_CONTEXT);
    der_w_free(&req);
    der_w_free(&resp);
    euicc_free(e);
}

/* ---- AuthenticateServer refusals ---- */

static void expect_auth_refusal(ts_server *s, const char *contacted, int code)
{
    euicc *e = ts_make_euicc(&pki_nist);
    der_writer resp;
    euicc_error err;
    UT_EQ(auth(e, s, contacted, &resp, &err), EUICC_EREFUSED);
    UT_EQ(err.code, code);
    UT_EQ(auth_error_code(&resp, s), code);
    size_t tl;
    UT_CHECK(euicc_session_tid(e, &tl) == NULL);
    der_w_free(&resp);
    euicc_free(e);
}

static void test_auth_refusals(void)
{
    ts_server s;
    const uint8_t *rogue_ski, *ski;
    size_t rogue_len, ski_len;
    UT_EQ(rsp_cert_ski(pki_nist.rogue_ci.cert, &rogue_ski, &rogue_len), 0);
    UT_EQ(rsp_cert_ski(pki_nist.ci.cert, &ski, &ski_len), 0);

    dp_server(&s, &pki_nist);
    expect_auth_refusal(&s, "smdp.other.example", EUICC_AUTH_UNDEFINED); /* wrong server address */

    dp_server(&s, &pki_nist);
    snprintf(s.address, sizeof(s.address), "evil.example.com");
    expect_auth_refusal(&s, PKI_DEFAULT_DP_FQDN, EUICC_AUTH_UNDEFINED);

    dp_server(&s, &pki_nist);
    s.bad_server_signature1 = true;
    expect_auth_refusal(&s, PKI_DEFAULT_DP_FQDN, EUICC_AUTH_INVALID_SIGNATURE);

    dp_server(&s, &pki_nist);
    s.wrong_euicc_challenge = true;
    expect_auth_refusal(&s, PKI_DEFAULT_DP_FQDN, EUICC_AUTH_CHALLENGE_MISMATCH);

    /* Unknown CI: its key id is not in the verification list ... */
    dp_server(&s, &pki_nist);
    s.auth_cert = pki_nist.rogue_dpauth.cert;
    s.auth_key = pki_nist.rogue_dpauth.key;
    expect_auth_refusal(&s, PKI_DEFAULT_DP_FQDN, EUICC_AUTH_CI_PK_UNKNOWN);
    /* ... or it names our CI but the certificate is not issued by it. */
    s.ci_ski = ski;
    s.ci_ski_len = ski_len;
    expect_auth_refusal(&s, PKI_DEFAULT_DP_FQDN, EUICC_AUTH_INVALID_CERTIFICATE);

    /* Wrong role: CERT.DPpb used as authentication certificate. */
    dp_server(&s, &pki_nist);
    s.auth_cert = pki_nist.dppb.cert;
    s.auth_key = pki_nist.dppb.key;
    expect_auth_refusal(&s, PKI_DEFAULT_DP_FQDN, EUICC_AUTH_INVALID_CERTIFICATE);

    /* A server signature with the brainpool set's key but our certificate. */
    dp_server(&s, &pki_nist);
    s.auth_key = pki_brp.dpauth.key;
    expect_auth_refusal(&s, PKI_DEFAULT_DP_FQDN, EUICC_AUTH_INVALID_SIGNATURE);

    /* No GetEUICCChallenge: noSessionContext. */
    euicc *e = ts_make_euicc(&pki_nist);
    dp_server(&s, &pki_nist);
    uint8_t ch[16] = {0};
    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    euicc_error err;
    UT_EQ(ts_auth_request(&s, ch, NULL, &req), 0);
    UT_EQ(euicc_authenticate_server(e, req.buf, req.len, PKI_DEFAULT_DP_FQDN, &resp, &err), EUICC_EREFUSED);
    UT_EQ(err.code, EUICC_AUTH_NO_SESSION_CONTEXT);
    der_w_free(&resp);
    der_w_init(&resp);
    /* Malformed requests get no response at all. */
    UT_EQ(euicc_authenticate_server(e, req.buf, req.len - 1, PKI_DEFAULT_DP_FQDN, &resp, &err),
          EUICC_EFORMAT);
    static const uint8_t junk[] = {0xBF, 0x38, 0x02, 0x30, 0x00};
    UT_EQ(euicc_authenticate_server(e, junk, sizeof(junk), PKI_DEFAULT_DP_FQDN, &resp, &err), EUICC_EFORMAT);
    UT_EQ(resp.len, 0);
    der_w_free(&req);
    der_w_free(&resp);
    euicc_free(e);
}

/* ---- PrepareDownload refusals ---- */

static int prepare_after_auth(ts_server *s, euicc *e, const uint8_t *hash_cc, der_writer *resp,
                              euicc_error *err)
{
    der_writer a, req;
    if (auth(e, s, s->address, &a, err) != EUICC_OK ||
        ts_check_auth_response(s, pki_nist.ci.cert, a.buf, a.len)) {
        der_w_free(&a);
        return -100;
    }
    der_w_free(&a);
    der_w_init(&req);
    der_w_init(resp);
    ts_prepare_request(s, hash_cc, &req);
    int rc = euicc_prepare_download(e, req.buf, req.len, resp, err);
    der_w_free(&req);
    return rc;
}

static void expect_prepare_refusal(ts_server *s, int code)
{
    euicc *e = ts_make_euicc(&pki_nist);
    der_writer resp;
    euicc_error err;
    UT_EQ(prepare_after_auth(s, e, NULL, &resp, &err), EUICC_EREFUSED);
    UT_EQ(err.code, code);
    sgp22_prepare_download_resp r;
    UT_EQ(sgp22_prepare_download_resp_decode(resp.buf, resp.len, &r), 0);
    UT_CHECK(!r.is_ok);
    UT_EQ(r.error.code, code);
    der_w_free(&resp);
    euicc_free(e);
}

static void test_prepare(void)
{
    ts_server s;
    /* hashCc is passed through into the signed euiccSigned2. */
    euicc *e = ts_make_euicc(&pki_nist);
    dp_server(&s, &pki_nist);
    s.cc_required = true;
    uint8_t hcc[32];
    memset(hcc, 0x5A, sizeof(hcc));
    der_writer resp;
    euicc_error err;
    UT_EQ(prepare_after_auth(&s, e, hcc, &resp, &err), EUICC_OK);
    UT_EQ(ts_check_prepare_response(&s, pki_nist.euicc.cert, resp.buf, resp.len), 0);
    sgp22_prepare_download_resp r;
    UT_EQ(sgp22_prepare_download_resp_decode(resp.buf, resp.len, &r), 0);
    UT_CHECK(r.is_ok);
    UT_CHECK(r.ok.euicc_signed2.hash_cc.len == 32 && memcmp(r.ok.euicc_signed2.hash_cc.p, hcc, 32) == 0);
    der_w_free(&resp);
    euicc_free(e);

    dp_server(&s, &pki_nist);
    s.bad_smdp_signature2 = true;
    expect_prepare_refusal(&s, EUICC_DL_INVALID_SIGNATURE);

    dp_server(&s, &pki_nist);
    uint8_t other[16];
    memset(other, 0xEE, sizeof(other));
    s.ss2_tid = other;
    s.ss2_tid_len = 16;
    expect_prepare_refusal(&s, EUICC_DL_INVALID_TRANSACTION_ID);

    dp_server(&s, &pki_nist);
    s.pb_cert = pki_nist.rogue_dppb.cert;
    s.pb_key = pki_nist.rogue_dppb.key;
    expect_prepare_refusal(&s, EUICC_DL_INVALID_CERTIFICATE);

    dp_server(&s, &pki_nist);
    s.pb_cert = pki_nist.dpauth.cert; /* wrong role */
    s.pb_key = pki_nist.dpauth.key;
    expect_prepare_refusal(&s, EUICC_DL_INVALID_CERTIFICATE);

    /* Without AuthenticateServer there is no session. */
    e = ts_make_euicc(&pki_nist);
    dp_server(&s, &pki_nist);
    der_writer req;
    der_w_init(&req);
    der_w_init(&resp);
    UT_EQ(ts_prepare_request(&s, NULL, &req), 0);
    UT_EQ(euicc_prepare_download(e, req.buf, req.len, &resp, &err), EUICC_EREFUSED);
    UT_EQ(err.code, EUICC_DL_NO_SESSION_CONTEXT);
    der_w_free(&req);
    der_w_free(&resp);
    euicc_free(e);
}

/* ---- LoadBoundProfilePackage refusals ---- */

struct bpp_case {
    euicc *e;
    ts_server s;
    der_writer pkg, bpp;
    ts_segments segs;
};

/* upp_plain: plaintext per 86 segment (0: SGP.22's 1020-byte segments) */
static int bpp_setup(struct bpp_case *c, bool ppk, size_t upp_plain)
{
    c->e = ts_make_euicc(&pki_nist);
    dp_server(&c->s, &pki_nist);
    c->s.use_ppk = ppk;
    c->s.upp_plain = upp_plain;
    der_w_init(&c->pkg);
    der_w_init(&c->bpp);
    if (ts_run_to_bpp(&c->s, c->e, pki_nist.ci.cert) != 0 ||
        ts_synthetic_package("8988211000000000025", 3, 900, &c->pkg) != 0)
        return -1;
    return ts_bind(&c->s, euicc_eid(c->e), c->pkg.buf, c->pkg.len, &c->bpp, &c->segs);
}

static void bpp_teardown(struct bpp_case *c)
{
    der_w_free(&c->pkg);
    der_w_free(&c->bpp);
    ts_server_clear(&c->s);
    euicc_free(c->e);
}

/* Loads the (tampered) BPP and checks the signed errorResult. */
static void expect_pir_error(struct bpp_case *c, int cmd, int reason)
{
    der_writer pir;
    der_w_init(&pir);
    euicc_error err;
    size_t before = euicc_profile_count(c->e);
    UT_EQ(euicc_load_bpp(c->e, c->bpp.buf, c->bpp.len, &pir, NULL, &err), EUICC_EREFUSED);
    UT_EQ(err.bpp_command, cmd);
    UT_EQ(err.code, reason);
    sgp22_pir r;
    UT_EQ(sgp22_pir_decode(pir.buf, pir.len, &r), 0);
    UT_CHECK(!r.data.final_result.success);
    UT_EQ(r.data.final_result.error.bpp_command_id, cmd);
    UT_EQ(r.data.final_result.error.error_reason, reason);
    UT_CHECK(verify_with_cert(pki_nist.euicc.cert, &r.data.raw, r.euicc_sign_pir));
    UT_EQ(euicc_profile_count(c->e), before);
    UT_CHECK(euicc_notification_count(c->e) >= 1);
    der_w_free(&pir);
}

static void test_bpp_bit_flips(void)
{
    static const int cmds[4] = {EUICC_BPP_CONFIGURE_ISDP, EUICC_BPP_STORE_METADATA,
                                EUICC_BPP_REPLACE_SESSION_KEYS, EUICC_BPP_LOAD_PROFILE_ELEMENTS};
    int cases = 0;
    for (int list = 0; list < 4; list++) {
        for (size_t k = 0;; k++) {
            struct bpp_case c;
            UT_EQ(bpp_setup(&c, true, 0), 0);
            if (k >= c.segs.n[list]) {
                bpp_teardown(&c);
                break;
            }
            /* A bit in the middle of the segment's payload (after the 4-byte header at most). */
            size_t off = c.segs.off[list][k], len = c.segs.len[list][k];
            c.bpp.buf[off + 4 + (len - 12) / 2] ^= 0x10;
            expect_pir_error(&c, cmds[list], EUICC_PIR_SCP03T_SECURITY);
            bpp_teardown(&c);
            /* The same segment with a wrong MAC (last byte). */
            UT_EQ(bpp_setup(&c, true, 0), 0);
            off = c.segs.off[list][k];
            len = c.segs.len[list][k];
            c.bpp.buf[off + len - 1] ^= 0x01;
            expect_pir_error(&c, cmds[list], EUICC_PIR_SCP03T_SECURITY);
            bpp_teardown(&c);
            cases += 2;
        }
    }
    UT_CHECK(cases >= 10);
}

/* 86 segments over 1020 bytes, as another SM-DP+ sends (1036 bytes), install; their MACs, the
 * ciphertext and smdpSign stay checked, and segments past 2048 bytes are refused. */
static void test_bpp_long_segments(void)
{
    static const size_t plains[] = {0, 1023, 1500}, seg_len[] = {RSP_BSP_MAX_SEGMENT, 1036, 1516};
    for (size_t i = 0; i < 3; i++) {
        struct bpp_case c;
        UT_EQ(bpp_setup(&c, i == 1, plains[i]), 0);
        UT_CHECK(c.segs.n[3] >= 2);
        UT_EQ(c.segs.len[3][0], seg_len[i]);
        der_writer pir;
        der_w_init(&pir);
        uint8_t sha[32], want[32];
        euicc_error err;
        UT_EQ(euicc_load_bpp(c.e, c.bpp.buf, c.bpp.len, &pir, sha, &err), EUICC_OK);
        SHA256(c.pkg.buf, c.pkg.len, want);
        UT_CHECK(memcmp(sha, want, 32) == 0);
        UT_EQ(euicc_profile_count(c.e), 1);
        der_w_free(&pir);
        bpp_teardown(&c);
    }
    struct bpp_case c;
    /* a wrong MAC, a flipped ciphertext bit, in a 1036-byte segment */
    for (int k = 0; k < 2; k++) {
        UT_EQ(bpp_setup(&c, false, 1023), 0);
        size_t off = c.segs.off[3][1], len = c.segs.len[3][1];
        UT_EQ(len, 1036);
        c.bpp.buf[k ? off + 4 + 500 : off + len - 1] ^= 0x01;
        expect_pir_error(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_SCP03T_SECURITY);
        bpp_teardown(&c);
    }
    UT_EQ(bpp_setup(&c, false, 1023), 0);
    c.bpp.buf[c.segs.bf23_sig_off + 20] ^= 0x04;
    expect_pir_error(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_INVALID_SIGNATURE);
    bpp_teardown(&c);
    /* past what any eUICC would take */
    UT_EQ(bpp_setup(&c, false, 2100), 0);
    expect_pir_error(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_SCP03T_STRUCTURE);
    bpp_teardown(&c);
}

static void test_bpp_refusals(void)
{
    struct bpp_case c;

    /* Wrong smdpSign. */
    UT_EQ(bpp_setup(&c, false, 0), 0);
    c.bpp.buf[c.segs.bf23_sig_off + 20] ^= 0x04;
    expect_pir_error(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_INVALID_SIGNATURE);
    bpp_teardown(&c);

    /* smdpSign made with another key. */
    c.e = ts_make_euicc(&pki_nist);
    dp_server(&c.s, &pki_nist);
    der_w_init(&c.pkg);
    der_w_init(&c.bpp);
    UT_EQ(ts_run_to_bpp(&c.s, c.e, pki_nist.ci.cert), 0);
    c.s.bad_smdp_sign = true;
    UT_EQ(ts_synthetic_package("8988211000000000033", 1, 10, &c.pkg), 0);
    UT_EQ(ts_bind(&c.s, euicc_eid(c.e), c.pkg.buf, c.pkg.len, &c.bpp, &c.segs), 0);
    expect_pir_error(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_INVALID_SIGNATURE);
    bpp_teardown(&c);

    /* InitialiseSecureChannel with another transactionId (correctly signed). */
    c.e = ts_make_euicc(&pki_nist);
    dp_server(&c.s, &pki_nist);
    der_w_init(&c.pkg);
    der_w_init(&c.bpp);
    UT_EQ(ts_run_to_bpp(&c.s, c.e, pki_nist.ci.cert), 0);
    uint8_t other[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    c.s.bf23_tid = other;
    c.s.bf23_tid_len = sizeof(other);
    UT_EQ(ts_synthetic_package("8988211000000000033", 1, 10, &c.pkg), 0);
    UT_EQ(ts_bind(&c.s, euicc_eid(c.e), c.pkg.buf, c.pkg.len, &c.bpp, &c.segs), 0);
    expect_pir_error(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_INVALID_TRANSACTION_ID);
    bpp_teardown(&c);

    /* StoreMetadata ICCID differs from the package header's. */
    c.e = ts_make_euicc(&pki_nist);
    dp_server(&c.s, &pki_nist);
    der_w_init(&c.pkg);
    der_w_init(&c.bpp);
    UT_EQ(ts_run_to_bpp(&c.s, c.e, pki_nist.ci.cert), 0);
    uint8_t meta_iccid[10];
    UT_EQ(euicc_iccid_from_str("8988211000000000041", meta_iccid), 0);
    c.s.meta_iccid = meta_iccid;
    UT_EQ(ts_synthetic_package("8988211000000000033", 1, 10, &c.pkg), 0);
    UT_EQ(ts_bind(&c.s, euicc_eid(c.e), c.pkg.buf, c.pkg.len, &c.bpp, &c.segs), 0);
    expect_pir_error(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_ICCID_MISMATCH);
    bpp_teardown(&c);

    /* A profile with an ICCID already on the eUICC. */
    UT_EQ(bpp_setup(&c, true, 0), 0);
    der_writer pir;
    der_w_init(&pir);
    euicc_error err;
    UT_EQ(euicc_load_bpp(c.e, c.bpp.buf, c.bpp.len, &pir, NULL, &err), EUICC_OK);
    der_w_free(&pir);
    der_w_free(&c.bpp);
    der_w_init(&c.bpp);
    ts_server_clear(&c.s);
    dp_server(&c.s, &pki_nist);
    UT_EQ(ts_run_to_bpp(&c.s, c.e, pki_nist.ci.cert), 0);
    UT_EQ(ts_bind(&c.s, euicc_eid(c.e), c.pkg.buf, c.pkg.len, &c.bpp, &c.segs), 0);
    expect_pir_error(&c, EUICC_BPP_STORE_METADATA, EUICC_PIR_ICCID_EXISTS);
    UT_EQ(euicc_profile_count(c.e), 1);
    bpp_teardown(&c);

    /* A segment with the wrong tag (87 among the 86): structure error in the profile elements. */
    UT_EQ(bpp_setup(&c, false, 0), 0);
    c.bpp.buf[c.segs.off[3][0]] = 0x87;
    expect_pir_error(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_SCP03T_STRUCTURE);
    bpp_teardown(&c);

    /* Not a BPP at all. */
    UT_EQ(bpp_setup(&c, false, 0), 0);
    c.bpp.buf[1] = 0x35;
    expect_pir_error(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_SCP03T_STRUCTURE);
    bpp_teardown(&c);
}

/* After a failed BPP the eUICC keeps its one-time key for a retry with bppEuiccOtpk. */
static void test_bpp_retry_same_otpk(void)
{
    struct bpp_case c;
    UT_EQ(bpp_setup(&c, true, 0), 0);
    c.bpp.buf[c.segs.off[3][0] + 10] ^= 0x01;
    expect_pir_error(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_SCP03T_SECURITY);
    uint8_t first_otpk[65];
    memcpy(first_otpk, c.s.euicc_otpk, 65);

    ts_server s2;
    dp_server(&s2, &pki_nist);
    s2.bpp_euicc_otpk = first_otpk;
    UT_EQ(ts_run_to_bpp(&s2, c.e, pki_nist.ci.cert), 0);
    UT_CHECK(memcmp(s2.euicc_otpk, first_otpk, 65) == 0);

    /* A new session without bppEuiccOtpk gets a fresh key. */
    ts_server s3;
    dp_server(&s3, &pki_nist);
    UT_EQ(ts_run_to_bpp(&s3, c.e, pki_nist.ci.cert), 0);
    UT_CHECK(memcmp(s3.euicc_otpk, first_otpk, 65) != 0);
    ts_server_clear(&s2);
    ts_server_clear(&s3);
    bpp_teardown(&c);
}

/* ---- CancelSession ---- */

static int cancel(euicc *e, const ts_server *s, int reason)
{
    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    lpa_build_cancel_request(s->tid, s->tid_len, reason, &req);
    euicc_error err;
    int rc = der_w_finish(&req) == 0 ? euicc_cancel_session(e, req.buf, req.len, &resp, &err) : -1;
    der_w_free(&req);
    der_w_free(&resp);
    return rc;
}

/* CancelSession after PrepareDownload: postponed and timeout keep the one-time key for a retry with
 * bppEuiccOtpk; endUserRejection and pprNotAllowed drop it. */
static void test_cancel_keeps_otk(void)
{
    euicc *e = ts_make_euicc(&pki_nist);
    static const struct {
        int reason;
        bool kept;
    } cases[] = {{EUICC_CANCEL_POSTPONED, true},
                 {EUICC_CANCEL_TIMEOUT, true},
                 {EUICC_CANCEL_END_USER_REJECTION, false},
                 {EUICC_CANCEL_PPR_NOT_ALLOWED, false}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ts_server s1, s2;
        dp_server(&s1, &pki_nist);
        UT_EQ(ts_run_to_bpp(&s1, e, pki_nist.ci.cert), 0);
        UT_EQ(cancel(e, &s1, cases[i].reason), EUICC_OK);
        dp_server(&s2, &pki_nist);
        s2.bpp_euicc_otpk = s1.euicc_otpk;
        UT_EQ(ts_run_to_bpp(&s2, e, pki_nist.ci.cert), 0);
        UT_EQ(memcmp(s2.euicc_otpk, s1.euicc_otpk, 65) == 0, cases[i].kept);
        UT_EQ(cancel(e, &s2, EUICC_CANCEL_END_USER_REJECTION), EUICC_OK);
        ts_server_clear(&s1);
        ts_server_clear(&s2);
    }
    euicc_free(e);
}

static void test_cancel_session(void)
{
    euicc *e = ts_make_euicc(&pki_nist);
    ts_server s;
    dp_server(&s, &pki_nist);
    der_writer resp, req;
    euicc_error err;
    UT_EQ(auth(e, &s, PKI_DEFAULT_DP_FQDN, &resp, &err), EUICC_OK);
    der_w_free(&resp);

    /* Wrong transactionId: cancelSessionResponseError invalidTransactionId. */
    der_w_init(&req);
    der_w_init(&resp);
    der_w_begin(&req, 0xBF41);
    der_w_tlv(&req, 0x80, "\x01\x02", 2);
    der_w_int(&req, 0x81, 1);
    der_w_end(&req);
    UT_EQ(der_w_finish(&req), 0);
    UT_EQ(euicc_cancel_session(e, req.buf, req.len, &resp, &err), EUICC_EREFUSED);
    sgp22_cancel_session_resp cr;
    UT_EQ(sgp22_cancel_session_resp_decode(resp.buf, resp.len, &cr), 0);
    UT_CHECK(!cr.is_ok);
    UT_EQ(cr.error, EUICC_CANCEL_INVALID_TRANSACTION_ID);
    der_w_free(&req);
    der_w_free(&resp);

    /* Wrong transactionId ended the session (a refusal always does): authenticate again. */
    UT_EQ(auth(e, &s, PKI_DEFAULT_DP_FQDN, &resp, &err), EUICC_OK);
    der_w_free(&resp);
    der_w_init(&req);
    der_w_init(&resp);
    der_w_begin(&req, 0xBF41);
    der_w_tlv(&req, 0x80, s.tid, s.tid_len);
    der_w_int(&req, 0x81, EUICC_CANCEL_POSTPONED);
    der_w_end(&req);
    UT_EQ(der_w_finish(&req), 0);
    UT_EQ(euicc_cancel_session(e, req.buf, req.len, &resp, &err), EUICC_OK);
    UT_EQ(sgp22_cancel_session_resp_decode(resp.buf, resp.len, &cr), 0);
    UT_CHECK(cr.is_ok);
    const sgp22_cancel_session_signed *cs = &cr.ok.euicc_cancel_session_signed;
    UT_EQ(cs->reason, EUICC_CANCEL_POSTPONED);
    UT_CHECK(cs->transaction_id.len == s.tid_len && memcmp(cs->transaction_id.p, s.tid, s.tid_len) == 0);
    char oid[32];
    UT_EQ(sgp22_oid_format(cs->smdp_oid.p, cs->smdp_oid.len, oid, sizeof(oid)), 0);
    UT_CHECK(strcmp(oid, PKI_DEFAULT_DP_RID) == 0);
    UT_CHECK(verify_with_cert(pki_nist.euicc.cert, &cs->raw, cr.ok.euicc_cancel_session_signature));
    der_w_free(&req);
    der_w_free(&resp);

    /* The session is gone. */
    der_w_init(&req);
    der_w_init(&resp);
    UT_EQ(ts_prepare_request(&s, NULL, &req), 0);
    UT_EQ(euicc_prepare_download(e, req.buf, req.len, &resp, &err), EUICC_EREFUSED);
    UT_EQ(err.code, EUICC_DL_NO_SESSION_CONTEXT);
    der_w_free(&req);
    der_w_free(&resp);
    euicc_free(e);
}

/* ---- ES10c and notifications ---- */

static void test_profile_state(void)
{
    struct bpp_case c;
    UT_EQ(bpp_setup(&c, false, 0), 0);
    der_writer pir;
    der_w_init(&pir);
    euicc_error err;
    UT_EQ(euicc_load_bpp(c.e, c.bpp.buf, c.bpp.len, &pir, NULL, &err), EUICC_OK);
    der_w_free(&pir);
    const char *iccid = "8988211000000000025";
    UT_EQ(euicc_notification_count(c.e), 1);
    UT_EQ(euicc_delete_profile(c.e, "8988211000000000099", &err), EUICC_ENOTFOUND);
    UT_EQ(euicc_disable_profile(c.e, iccid, &err), EUICC_ESTATE);
    UT_EQ(euicc_enable_profile(c.e, iccid, &err), EUICC_OK);
    UT_CHECK(euicc_profile_find(c.e, iccid)->enabled);
    UT_EQ(euicc_delete_profile(c.e, iccid, &err), EUICC_ESTATE);
    UT_EQ(euicc_disable_profile(c.e, iccid, &err), EUICC_OK);
    UT_EQ(euicc_delete_profile(c.e, iccid, &err), EUICC_OK);
    UT_EQ(euicc_profile_count(c.e), 0);
    /* install + enable + disable + delete, sequence numbers 1..4 */
    UT_EQ(euicc_notification_count(c.e), 4);
    for (size_t i = 1; i < 4; i++) {
        const euicc_notification *n = euicc_notification_at(c.e, i);
        UT_EQ(n->seq, (int64_t)i + 1);
        UT_EQ(n->event, (int)i);
        /* OtherSignedNotification { tbsOtherNotification, signature, eUICC cert, EUM cert } */
        der_tlv top, f[4];
        der_reader r;
        UT_EQ(der_parse_exact(n->der, n->len, &top), 0);
        der_reader_of(&r, &top);
        for (int k = 0; k < 4; k++)
            UT_EQ(der_next(&r, &f[k]), 0);
        UT_EQ(f[0].tag, 0xBF2F);
        UT_CHECK(rsp_sig_verify(X509_get0_pubkey(pki_nist.euicc.cert), f[0].raw, f[0].raw_len, f[1].value,
                                f[1].len) == 0);
    }
    UT_EQ(euicc_notification_remove(c.e, 2), EUICC_OK);
    UT_EQ(euicc_notification_remove(c.e, 2), EUICC_ENOTFOUND);
    UT_EQ(euicc_notification_count(c.e), 3);
    bpp_teardown(&c);
}

static void test_iccid(void)
{
    uint8_t b[10];
    char s[21];
    UT_EQ(euicc_iccid_from_str("8949449999999990049", b), 0);
    UT_CHECK(memcmp(b, "\x98\x94\x44\x99\x99\x99\x99\x09\x40\xF9", 10) == 0);
    euicc_iccid_to_str(b, s);
    UT_CHECK(strcmp(s, "8949449999999990049") == 0);
    UT_EQ(euicc_iccid_from_str("89494499999999900491", b), 0);
    euicc_iccid_to_str(b, s);
    UT_CHECK(strcmp(s, "89494499999999900491") == 0);
    UT_EQ(euicc_iccid_from_str("8949", b), -1);
    UT_EQ(euicc_iccid_from_str("89494499999999900x9", b), -1);
}

/* ---- shared material ---- */

static void sgp26_case(const char *dir, const char *suf)
{
    char p[4][600];
    snprintf(p[0], sizeof(p[0]), "%s/pki/sgp26/eUICC/CERT_EUICC_ECDSA_%s.der", dir, suf);
    snprintf(p[1], sizeof(p[1]), "%s/pki/sgp26/eUICC/SK_EUICC_ECDSA_%s.pem", dir, suf);
    snprintf(p[2], sizeof(p[2]), "%s/pki/sgp26/EUM/CERT_EUM_ECDSA_%s.der", dir, suf);
    snprintf(p[3], sizeof(p[3]), "%s/pki/sgp26/CertificateIssuer/CERT_CI_ECDSA_%s.der", dir, suf);
    char dpc[600], dpk[600];
    snprintf(dpc, sizeof(dpc), "%s/pki/sgp26/DPauth/CERT_S_SM_DPauth_ECDSA_%s.der", dir, suf);
    snprintf(dpk, sizeof(dpk), "%s/pki/sgp26/DPauth/SK_S_SM_DPauth_ECDSA_%s.pem", dir, suf);
    X509 *cert = rsp_load_cert(p[0]), *eum = rsp_load_cert(p[2]), *ci = rsp_load_cert(p[3]),
         *dp = rsp_load_cert(dpc);
    EVP_PKEY *key = rsp_load_key(p[1]), *dpkey = rsp_load_key(dpk);
    UT_CHECK(cert && eum && ci && key && dp && dpkey);
    if (!(cert && eum && ci && key && dp && dpkey))
        goto out;
    euicc *e = euicc_new();
    UT_EQ(euicc_set_identity(e, cert, key, eum, NULL), 0);
    UT_EQ(euicc_add_ci(e, ci), 0);
    UT_CHECK(strcmp(euicc_eid(e), "89049032123451234512345678901235") == 0);
    euicc_set_time(e, 1780000000); /* 2026-05-28, inside the SGP.26 DPauth validity */

    ts_server s;
    ts_server_init(&s);
    s.auth_cert = dp;
    s.auth_key = dpkey;
    snprintf(s.address, sizeof(s.address), "testsmdpplus1.example.com");
    der_writer resp;
    euicc_error err;
    int rc = auth(e, &s, "testsmdpplus1.example.com", &resp, &err);
    UT_EQ(rc, EUICC_OK);
    if (rc != EUICC_OK)
        fprintf(stderr, "    %s: %s\n", err.name, err.detail);
    UT_EQ(ts_check_auth_response(&s, ci, resp.buf, resp.len), 0);

    /* What a server does: the chain with the server rules, then euiccSignature1 over the raw bytes. */
    sgp22_auth_server_resp r;
    UT_EQ(sgp22_auth_server_resp_decode(resp.buf, resp.len, &r), 0);
    rsp_ci_store *cis = rsp_ci_store_new();
    UT_EQ(rsp_ci_store_add(cis, ci), 0);
    const uint8_t *ski;
    size_t ski_len;
    UT_EQ(rsp_cert_ski(ci, &ski, &ski_len), 0);
    rsp_euicc_identity id;
    memset(&id, 0, sizeof(id));
    rsp_status st = rsp_verify_euicc_chain(cis, NULL, ski, ski_len, r.ok.eum_certificate.raw,
                                           r.ok.eum_certificate.raw_len, r.ok.euicc_certificate.raw,
                                           r.ok.euicc_certificate.raw_len, 1780000000, &id);
    UT_EQ(st, RSP_OK);
    if (st == RSP_OK) {
        UT_CHECK(strcmp(id.eid, "89049032123451234512345678901235") == 0);
        UT_EQ(rsp_sig_verify(id.pub, r.ok.euicc_signed1.raw.raw, r.ok.euicc_signed1.raw.raw_len,
                             r.ok.euicc_signature1.p, r.ok.euicc_signature1.len),
              0);
        rsp_euicc_identity_clear(&id);
    }
    rsp_ci_store_free(cis);
    der_w_free(&resp);
    ts_server_clear(&s);
    euicc_free(e);
out:
    X509_free(cert);
    X509_free(eum);
    X509_free(ci);
    X509_free(dp);
    EVP_PKEY_free(key);
    EVP_PKEY_free(dpkey);
}

static void test_sgp26(void)
{
    const char *dir = ut_shared_dir("SGP.26 eUICC AuthenticateServer");
    if (!dir)
        return;
    sgp26_case(dir, "NIST");
    sgp26_case(dir, "BRP");
}

static void test_ts48(void)
{
    const char *dir = ut_shared_dir("TS.48 profile header");
    if (!dir)
        return;
    char path[600];
    snprintf(path, sizeof(path), "%s/profiles/ts48/TS48V2-SAIP2-1-BERTLV-UNIQUE.der", dir);
    size_t len;
    uint8_t *pkg = ut_read_file(path, &len);
    if (!pkg) {
        printf("SKIP TS.48: %s not found\n", path);
        return;
    }
    uint8_t iccid[10];
    char s[21];
    UT_EQ(euicc_package_iccid(pkg, len, iccid), 0);
    euicc_iccid_to_str(iccid, s);
    UT_CHECK(strcmp(s, "8949449999999990049") == 0);

    /* Install the real package through a BPP (PPK path, many 86 segments). */
    euicc *e = ts_make_euicc(&pki_nist);
    ts_server srv;
    dp_server(&srv, &pki_nist);
    srv.use_ppk = true;
    UT_EQ(ts_run_to_bpp(&srv, e, pki_nist.ci.cert), 0);
    der_writer bpp, pir;
    der_w_init(&bpp);
    der_w_init(&pir);
    ts_segments segs;
    UT_EQ(ts_bind(&srv, euicc_eid(e), pkg, len, &bpp, &segs), 0);
    UT_CHECK(segs.n[3] >= 12);
    uint8_t sha[32], want[32];
    euicc_error err;
    UT_EQ(euicc_load_bpp(e, bpp.buf, bpp.len, &pir, sha, &err), EUICC_OK);
    SHA256(pkg, len, want);
    UT_CHECK(memcmp(sha, want, 32) == 0);
    UT_CHECK(euicc_profile_find(e, "8949449999999990049") != NULL);
    der_w_free(&bpp);
    der_w_free(&pir);
    ts_server_clear(&srv);
    euicc_free(e);
    free(pkg);
}

int main(void)
{
    if (ts_pki_init(&pki_nist, PKI_CURVE_NIST) != 0 || ts_pki_init(&pki_brp, PKI_CURVE_BRAINPOOL) != 0) {
        fprintf(stderr, "cannot mint the test PKI: %s\n", pki_last_error());
        return 1;
    }
    UT_RUN(test_info);
    UT_RUN(test_iccid);
    UT_RUN(test_genuine_nist);
    UT_RUN(test_genuine_brainpool);
    UT_RUN(test_auth_ok_details);
    UT_RUN(test_auth_refusals);
    UT_RUN(test_prepare);
    UT_RUN(test_bpp_bit_flips);
    UT_RUN(test_bpp_long_segments);
    UT_RUN(test_bpp_refusals);
    UT_RUN(test_bpp_retry_same_otpk);
    UT_RUN(test_cancel_session);
    UT_RUN(test_cancel_keeps_otk);
    UT_RUN(test_profile_state);
    UT_RUN(test_sgp26);
    UT_RUN(test_ts48);
    ts_pki_clear(&pki_nist);
    ts_pki_clear(&pki_brp);
    return ut_finish();
}
