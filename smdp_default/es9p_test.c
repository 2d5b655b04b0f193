#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "asn1/sgp22.h"
#include "rsp/codec.h"
#include "rsp/sig.h"
#include "smdp_default/testutil.h"
#include "smdp_default/store_testutil.h"
#include "tests/unit/ut.h"

#define EID PKI_SGP26_EID
#define OTHER_EID "89049032123451234512345678901299"

static fx g;

/* Orders iccid for EID and confirms it with release. */
static void released(const char *iccid, const char *extra)
{
    UT_EQ(fx_download_order(&g, EID, iccid, NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, iccid, true, extra, NULL), RSP_OK);
    UT_EQ(fx_state(&g, iccid), SMDP_STATE_RELEASED);
}

static void sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
    EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL);
}

static void test_TC_SM_DP_ES9p_AuthenticateClientNIST_01_default_dp_address(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[0];
    released(ic, NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    /* no matchingId: the order is found by the EID in the eUICC certificate */
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    uint8_t want[32];
    sha256(g.upp[0], g.upp_len[0], want);
    UT_CHECK(memcmp(d.pkg_sha256, want, 32) == 0);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    const euicc_profile *p = euicc_profile_find(d.e, ic);
    UT_CHECK(p != NULL && !strcmp(p->name, "Profile 0") && !strcmp(p->spn, "Test Operator"));
    UT_CHECK(p && !strcmp(p->smdp_oid, PKI_DEFAULT_DP_RID));
    /* no SM-DS, no operator endpoint: nothing to send */
    UT_EQ(fx_outbox_count(&g, 0), 0);
    /* an empty matchingId is the same as none; nothing left for the EID now */
    fx_dev d2;
    UT_EQ(fx_dev_init(&g, &d2), 0);
    UT_EQ(fx_dev_initiate(&g, &d2, ""), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d2, NULL), RSP_ST_EID_MISMATCH);
    fx_dev_clear(&d2);
    fx_dev_clear(&d);
    fx_clear(&g);
}

static void test_TC_SM_DP_ES9p_AuthenticateClientNIST_04_smds_use_case_with_cc(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[1];
    released(
        ic,
        ",\"matchingId\":\"EV-1\",\"confirmationCode\":\"1234\",\"smdsAddress\":\"testsmds.example.com\"");
    UT_EQ(fx_outbox_count(&g, SMDP_OB_REGISTER_EVENT), 1);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    /* a wrong code, then none, then the right one */
    UT_EQ(fx_dev_initiate(&g, &d, "EV-1"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "9999"), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_REFUSED);
    UT_EQ(fx_dev_initiate(&g, &d, "EV-1"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_MISSING);
    UT_EQ(fx_dev_initiate(&g, &d, "EV-1"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "1234"), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_DOWNLOADED);
    UT_EQ(fx_dev_notify(&g, &d), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    uint8_t want[32];
    sha256(g.upp[1], g.upp_len[1], want);
    UT_CHECK(memcmp(d.pkg_sha256, want, 32) == 0);
    /* the install result ends the event */
    UT_EQ(fx_outbox_count(&g, SMDP_OB_DELETE_EVENT), 1);
    /* the same notification again changes nothing and still answers 204 */
    UT_EQ(fx_dev_notify(&g, &d), RSP_ST_TRANSACTION_UNKNOWN);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* hashCc over the code's text (SGP.22, lpac) or, for a code of an even number of digits, over its
 * hex-decoded bytes (other clients): either is accepted, a wrong code counts one attempt either way. */
static void test_TC_SM_DP_ES9p_GetBoundProfilePackage_confirmation_code_encodings(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    released(g.iccid[0], ",\"matchingId\":\"CC-1\",\"confirmationCode\":\"12345678\"");
    d.cc_hex = true;
    UT_EQ(fx_dev_initiate(&g, &d, "CC-1"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "87654321"), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_REFUSED);
    d.cc_hex = false;
    UT_EQ(fx_dev_initiate(&g, &d, "CC-1"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "87654321"), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_REFUSED);
    smdp_order o;
    UT_EQ(smdp_orders_get(g.x->store, g.iccid[0], &o), RSP_OK);
    UT_EQ(o.cc_attempts, 2);
    d.cc_hex = true;
    UT_EQ(fx_dev_initiate(&g, &d, "CC-1"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "12345678"), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_OK);
    UT_EQ(fx_dev_notify(&g, &d), RSP_OK);
    UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_INSTALLED);
    fx_dev_clear(&d);
    /* not digits, an odd number of them, or digits whose bytes read as digits again ("3132" = "12"): the
     * text only */
    static const struct {
        const char *code, *typed;
    } text_only[] = {{"AB12", "AB12"}, {"12345", "012345"}, {"3132", "12"}, {"3132", "3132"}};
    for (size_t i = 0; i < sizeof(text_only) / sizeof(text_only[0]); i++) {
        const char *ic = g.iccid[1 + i];
        char extra[128], mid[16];
        snprintf(mid, sizeof(mid), "CC-T%zu", i);
        snprintf(extra, sizeof(extra), ",\"matchingId\":\"%s\",\"confirmationCode\":\"%s\"", mid,
                 text_only[i].code);
        released(ic, extra);
        UT_EQ(fx_dev_init(&g, &d), 0);
        d.cc_hex = strcmp(text_only[i].typed, "12") != 0; /* "12" typed as text */
        UT_EQ(fx_dev_initiate(&g, &d, mid), RSP_OK);
        UT_EQ(fx_dev_authenticate(&g, &d, text_only[i].typed), RSP_OK);
        rsp_status st = fx_dev_get_bpp(&g, &d);
        if (st != RSP_ST_CC_REFUSED)
            fprintf(stderr, "case %zu: %s\n", i, rsp_status_str(st));
        UT_EQ(st, RSP_ST_CC_REFUSED);
        d.cc_hex = false;
        UT_EQ(fx_dev_initiate(&g, &d, mid), RSP_OK);
        UT_EQ(fx_dev_authenticate(&g, &d, text_only[i].code), RSP_OK);
        UT_EQ(fx_dev_get_bpp(&g, &d), RSP_OK);
        fx_dev_clear(&d);
    }
    fx_clear(&g);
}

static void test_TC_SM_DP_ES9p_GetBoundProfilePackage_RetryCases_ReuseOTPK_NIST_09_cc_retry(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[2];
    released(ic, ",\"matchingId\":\"EV-2\",\"confirmationCode\":\"1234\"");
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, "EV-2"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "0000"), RSP_OK);
    /* the same session may try again until the limit (3); the third wrong code ends the order */
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_REFUSED);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_REFUSED);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_RETRIES);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_ERROR);
    /* later attempts hear why, by matchingId and by EID alone (lpac after discovery), not "no order" */
    UT_EQ(fx_dev_initiate(&g, &d, "EV-2"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "1234"), RSP_ST_CC_RETRIES);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "1234"), RSP_ST_CC_RETRIES);
    fx_dev_clear(&d);

    /* download sessions are limited too (3 per order); the fourth ends the order */
    const char *ic2 = g.iccid[3];
    released(ic2, ",\"matchingId\":\"EV-3\"");
    UT_EQ(fx_dev_init(&g, &d), 0);
    for (int i = 0; i < 3; i++) {
        UT_EQ(fx_dev_initiate(&g, &d, "EV-3"), RSP_OK);
        UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    }
    UT_EQ(fx_dev_initiate(&g, &d, "EV-3"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_DOWNLOAD_RETRIES);
    UT_EQ(fx_state(&g, ic2), SMDP_STATE_ERROR);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_DOWNLOAD_RETRIES);
    /* a new order for the EID is served again */
    released(g.iccid[1], NULL);
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    fx_dev_clear(&d);
    fx_clear(&g);
}

static void test_TC_SM_DP_ES9p_AuthenticateClientNIST_ErrorCases_order_lookup(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    /* nothing released for the EID */
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_EID_MISMATCH);
    /* unknown matchingId */
    UT_EQ(fx_dev_initiate(&g, &d, "NOPE"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_MATCHING_ID_REFUSED);
    /* confirmed but not released */
    UT_EQ(fx_download_order(&g, EID, g.iccid[0], NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, g.iccid[0], false, ",\"matchingId\":\"EV-C\"", NULL), RSP_OK);
    UT_EQ(fx_dev_initiate(&g, &d, "EV-C"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_PROFILE_NOT_RELEASED);
    /* bound to another EID */
    UT_EQ(fx_download_order(&g, OTHER_EID, g.iccid[1], NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, g.iccid[1], true, ",\"matchingId\":\"EV-O\"", NULL), RSP_OK);
    UT_EQ(fx_dev_initiate(&g, &d, "EV-O"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_EID_MISMATCH);
    /* an expired order */
    UT_EQ(fx_download_order(&g, EID, g.iccid[2], NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, g.iccid[2], true, ",\"matchingId\":\"EV-X\"", NULL), RSP_OK);
    g.time_offset = 31L * 24 * 3600;
    UT_EQ(fx_dev_initiate(&g, &d, "EV-X"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_ORDER_EXPIRED);
    g.time_offset = 0;
    UT_EQ(fx_state(&g, g.iccid[2]), SMDP_STATE_RELEASED);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* The 65 octets after the first 5F49 41 in p (the smdpOtpk of a BPP, the euiccOtpk of a BF21). */
static int find_otpk(const uint8_t *p, size_t n, uint8_t out[SMDP_OTPK_LEN])
{
    for (size_t i = 0; i + 3 + SMDP_OTPK_LEN <= n; i++)
        if (p[i] == 0x5F && p[i + 1] == 0x49 && p[i + 2] == SMDP_OTPK_LEN) {
            memcpy(out, p + i + 3, SMDP_OTPK_LEN);
            return 0;
        }
    return -1;
}

static int bpp_smdp_otpk(const uint8_t *bpp, size_t n, uint8_t out[SMDP_OTPK_LEN])
{
    return find_otpk(bpp, n, out);
}

/* The order of the device's current session. */
static int session_of(const fx_dev *d, smdp_order *ord)
{
    uint8_t tid[SMDP_TID_MAX];
    size_t tl;
    return rsp_hex_decode(d->tid_hex, strlen(d->tid_hex), tid, sizeof(tid), &tl) == 0 &&
                   smdp_orders_find_by_tid(g.x->store, tid, tl, ord) == RSP_OK
               ? 0
               : -1;
}

/* Whether the AuthenticateClient just run offered bppEuiccOtpk: it does exactly when the order holds a
 * binding. */
static bool offered_otpk(const fx_dev *d)
{
    smdp_order ord;
    return session_of(d, &ord) == 0 && ord.binding.present;
}

/* Replaces the euiccOtpk of the device's PrepareDownloadResponse by octets that are no curve point and
 * signs euiccSigned2 again with the eUICC's key, as a faulty eUICC would. */
static int resign_bad_otpk(fx_dev *d)
{
    smdp_order ord;
    sgp22_prepare_download_resp r;
    if (session_of(d, &ord) != 0 || sgp22_prepare_download_resp_decode(d->bf21, d->bf21_len, &r) != DER_OK)
        return -1;
    uint8_t *es2 = d->bf21 + (r.ok.euicc_signed2.raw.raw - d->bf21);
    size_t es2_len = r.ok.euicc_signed2.raw.raw_len;
    uint8_t *sig = d->bf21 + (r.ok.euicc_signature2.p - d->bf21);
    for (size_t i = 0; i + 3 + SMDP_OTPK_LEN <= es2_len; i++)
        if (es2[i] == 0x5F && es2[i + 1] == 0x49 && es2[i + 2] == SMDP_OTPK_LEN) {
            memset(es2 + i + 4, 0x01, SMDP_OTPK_LEN - 1);
            uint8_t tlv[3 + SMDP_SIG_LEN] = {0x5F, 0x37, SMDP_SIG_LEN};
            memcpy(tlv + 3, ord.smdp_sig2, SMDP_SIG_LEN);
            return rsp_sig_sign2(euicc_key(d->e), es2, es2_len, tlv, sizeof(tlv), sig);
        }
    return -1;
}

/* initiateAuthentication and authenticateClient, both accepted, with no matchingId and no code. */
static void authenticated(fx_dev *d)
{
    UT_EQ(fx_dev_initiate(&g, d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, d, NULL), RSP_OK);
}

/* getBoundProfilePackage for the device's session without loading the BPP (the device drops it);
 * out gets its smdpOtpk. */
static int get_bpp_otpk(fx_dev *d, uint8_t out[SMDP_OTPK_LEN])
{
    char *body = lpa_json_get_bpp(d->tid_hex, d->bf21, d->bf21_len);
    char *reply = NULL;
    rsp_status st = fx_call(&g, SMDP_FN_GET_BPP, NULL, body, &reply);
    free(body);
    int rc = -1;
    static char b64[1 << 17];
    rsp_arena *a = rsp_arena_new(1 << 20);
    uint8_t *bpp;
    size_t n;
    if (st == RSP_OK && a) {
        fx_member(reply, "boundProfilePackage", b64, sizeof(b64));
        if (rsp_b64_decode_arena(a, b64, strlen(b64), &bpp, &n) == 0)
            rc = bpp_smdp_otpk(bpp, n, out);
    }
    rsp_arena_free(a);
    free(reply);
    return rc;
}

/* Replaces the body's member value by another string (quick JSON surgery for negative tests). */
static char *with_member(const char *body, const char *name, const char *value)
{
    char key[64];
    snprintf(key, sizeof(key), "\"%s\":\"", name);
    const char *p = strstr(body, key);
    if (!p)
        return strdup(body);
    const char *v = p + strlen(key), *end = strchr(v, '"');
    size_t n = (size_t)(v - body) + strlen(value) + strlen(end) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(v - body), body, value, end);
    return out;
}

static void test_TC_SM_DP_ES9p_InitiateAuthenticationNIST_03_to_06_errors(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    uint8_t ch[16];
    der_writer info1;
    der_w_init(&info1);
    UT_EQ(euicc_get_challenge(d.e, ch), 0);
    UT_EQ(euicc_get_info1(d.e, &info1), 0);
    char *ok = lpa_json_initiate_auth(ch, info1.buf, info1.len, FX_FQDN, false);
    char *upper = lpa_json_initiate_auth(ch, info1.buf, info1.len, "TestSMDPplus1.EXAMPLE.com", false);
    char *other = lpa_json_initiate_auth(ch, info1.buf, info1.len, "other.example.com", false);
    char *smds = lpa_json_initiate_auth(ch, info1.buf, info1.len, FX_FQDN, true);
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, ok, NULL), RSP_OK);
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, upper, NULL), RSP_OK);
    /* the default port written out is still our address */
    char *port443 = lpa_json_initiate_auth(ch, info1.buf, info1.len, FX_FQDN ":443", false);
    char *port9443 = lpa_json_initiate_auth(ch, info1.buf, info1.len, FX_FQDN ":9443", false);
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, port443, NULL), RSP_OK);
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, port9443, NULL), RSP_ST_SMDP_ADDRESS_INVALID);
    free(port443);
    free(port9443);
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, other, NULL), RSP_ST_SMDP_ADDRESS_INVALID);
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, smds, NULL), RSP_ST_MANDATORY_MISSING);
    char *short_ch = with_member(ok, "euiccChallenge", "AAAA");
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, short_ch, NULL), RSP_ST_INVALID_FIELD);
    char *bad_info = with_member(ok, "euiccInfo1", "vyAA");
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, bad_info, NULL), RSP_ST_INVALID_FIELD);
    free(ok);
    free(upper);
    free(other);
    free(smds);
    free(short_ch);
    free(bad_info);

    /* SVN: 2.x and 3.x served (the check the SM-DS shares), 1.x and 4.x not */
    static const struct {
        uint8_t major;
        rsp_status want;
    } svns[] = {{3, RSP_OK}, {1, RSP_ST_SMDP_SVN_UNSUPPORTED}, {4, RSP_ST_SMDP_SVN_UNSUPPORTED}};
    for (size_t k = 0; k < sizeof(svns) / sizeof(svns[0]); k++) {
        euicc_config_of(d.e)->svn[0] = svns[k].major;
        der_w_free(&info1);
        der_w_init(&info1);
        UT_EQ(euicc_get_info1(d.e, &info1), 0);
        char *v = lpa_json_initiate_auth_v(ch, info1.buf, info1.len, FX_FQDN, false, true);
        UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, v, NULL), svns[k].want);
        free(v);
    }
    euicc_config_of(d.e)->svn[0] = 2;

    /* only a CI we do not trust for signing, then only for verification */
    const uint8_t *rogue;
    size_t rogue_len;
    UT_EQ(rsp_cert_ski(g.pki.rogue_ci.cert, &rogue, &rogue_len), 0);
    const uint8_t *mine;
    size_t mine_len;
    UT_EQ(rsp_cert_ski(g.pki.ci.cert, &mine, &mine_len), 0);
    UT_EQ(euicc_set_ci_lists(d.e, &mine, &mine_len, 1, &rogue, &rogue_len, 1), 0);
    der_w_free(&info1);
    der_w_init(&info1);
    UT_EQ(euicc_get_info1(d.e, &info1), 0);
    char *pkid = lpa_json_initiate_auth(ch, info1.buf, info1.len, FX_FQDN, false);
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, pkid, NULL), RSP_ST_SMDP_PKID_UNSUPPORTED);
    free(pkid);
    UT_EQ(euicc_set_ci_lists(d.e, &rogue, &rogue_len, 1, &mine, &mine_len, 1), 0);
    der_w_free(&info1);
    der_w_init(&info1);
    UT_EQ(euicc_get_info1(d.e, &info1), 0);
    char *nocert = lpa_json_initiate_auth(ch, info1.buf, info1.len, FX_FQDN, false);
    UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, nocert, NULL), RSP_ST_SMDP_NO_CERT_FOR_CI);
    free(nocert);
    der_w_free(&info1);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* A v3 EUICCInfo1: lowestSvn, the CI only in euiccCiPKIdListForSigningV3, euiccRspCapability and
 * highestSvn; the caller frees it. */
static uint8_t *v3_info1(const uint8_t *ski, size_t ski_len, uint8_t lo_major, uint8_t hi_major, size_t *len)
{
    const uint8_t lo[3] = {lo_major, 0, 0}, hi[3] = {hi_major, 1, 0}, cap[2] = {0x04, 0xF0};
    der_writer w;
    der_w_init(&w);
    der_w_begin(&w, 0xBF20);
    der_w_tlv(&w, 0x82, lo, 3);
    der_w_begin(&w, 0xA9);
    der_w_tlv(&w, 0x04, ski, ski_len);
    der_w_end(&w);
    der_w_begin(&w, 0xAA);
    der_w_end(&w);
    der_w_begin(&w, 0xB1);
    der_w_tlv(&w, 0x04, ski, ski_len);
    der_w_end(&w);
    der_w_tlv(&w, 0x88, cap, sizeof(cap));
    der_w_tlv(&w, 0x93, hi, 3);
    der_w_end(&w);
    uint8_t *out = der_w_finish(&w) == DER_OK ? malloc(w.len) : NULL;
    if (out)
        memcpy(out, w.buf, w.len);
    *len = w.len;
    der_w_free(&w);
    return out;
}

static void test_v3_messages(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    released(g.iccid[0], NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    const uint8_t *ski;
    size_t ski_len, n;
    UT_EQ(rsp_cert_ski(g.pki.ci.cert, &ski, &ski_len), 0);
    uint8_t ch[16] = {1};
    /* lowestSvn..highestSvn: 3.0-3.1 and 2.0-3.1 are served; 4.0-4.1 not; highest below lowest is refused */
    static const struct {
        uint8_t lo, hi;
        rsp_status want;
    } ranges[] = {{3, 3, RSP_OK},
                  {2, 3, RSP_OK},
                  {1, 2, RSP_OK},
                  {4, 4, RSP_ST_SMDP_SVN_UNSUPPORTED},
                  {3, 2, RSP_ST_SMDP_SVN_UNSUPPORTED}};
    for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
        uint8_t *info = v3_info1(ski, ski_len, ranges[k].lo, ranges[k].hi, &n);
        UT_CHECK(info != NULL);
        char *body = lpa_json_initiate_auth_v(ch, info, n, FX_FQDN, false, true);
        UT_EQ(fx_call(&g, SMDP_FN_INITIATE_AUTH, NULL, body, NULL), ranges[k].want);
        free(body);
        free(info);
    }

    /* v3 ctxParams1 (operationType, matchingIdSource) and DeviceInfo fields: the download works */
    d.v3 = true;
    euicc_config_of(d.e)->svn[0] = 3;
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_INSTALLED);

    /* an RPM-only context is not a download: refused, the order stays Released */
    released(g.iccid[1], NULL);
    static const uint8_t rpm_ctx[] = {0xA0, 0x18, 0xA1, 0x12, 0x80, 0x04, 0x35, 0x29, 0x06,
                                      0x11, 0xA1, 0x0A, 0x80, 0x03, 0x08, 0x00, 0x00, 0x81,
                                      0x03, 0x08, 0x00, 0x00, 0x82, 0x02, 0x06, 0x40};
    d.ctx_params1 = rpm_ctx;
    d.ctx_params1_len = sizeof(rpm_ctx);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(fx_state(&g, g.iccid[1]), SMDP_STATE_RELEASED);
    /* the same with {profileDownload, rpm}: a download */
    static const uint8_t both_ctx[] = {0xA0, 0x18, 0xA1, 0x12, 0x80, 0x04, 0x35, 0x29, 0x06,
                                       0x11, 0xA1, 0x0A, 0x80, 0x03, 0x08, 0x00, 0x00, 0x81,
                                       0x03, 0x08, 0x00, 0x00, 0x82, 0x02, 0x06, 0xC0};
    d.ctx_params1 = both_ctx;
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* A device with a variant C chain under the fixture's CI: CI -> CI sub-CA -> EUM -> EUM sub-CA -> eUICC.
 * skip leaves that certificate of otherCertsInChain out (0: none; 1: EUM; 2: CI sub-CA). */
static euicc *variant_c_euicc(int skip, pki_cred cred[4])
{
    static const pki_kind kinds[4] = {PKI_CI_SUBCA, PKI_EUM, PKI_EUM_SUBCA, PKI_EUICC};
    const pki_cred *issuer = &g.pki.ci;
    for (int i = 0; i < 4; i++) {
        pki_opts o;
        pki_opts_init(&o, kinds[i]);
        o.v3 = true;
        if (kinds[i] == PKI_EUM)
            o.pathlen = 2;
        if (pki_mint(&o, issuer, &cred[i]) != 0)
            return NULL;
        issuer = &cred[i];
    }
    euicc *e = euicc_new();
    X509 *others[2] = {cred[1].cert, cred[0].cert}, *kept[2];
    size_t n = 0;
    for (int i = 0; i < 2; i++)
        if (skip != i + 1)
            kept[n++] = others[i];
    const uint8_t *ski;
    size_t ski_len;
    rsp_cert_ski(g.pki.ci.cert, &ski, &ski_len);
    if (!e || euicc_set_identity(e, cred[3].cert, cred[3].key, cred[2].cert, NULL) != 0 ||
        euicc_set_others(e, kept, n) != 0 || euicc_add_ci(e, g.pki.ci.cert) != 0 ||
        euicc_set_ci_lists(e, NULL, NULL, 0, &ski, &ski_len, 1) != 0) {
        euicc_free(e);
        return NULL;
    }
    return e;
}

static void test_v3_chain_download(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    released(g.iccid[0], NULL);
    pki_cred cred[4];
    for (int skip = 0; skip < 3; skip++) {
        memset(cred, 0, sizeof(cred));
        fx_dev d;
        UT_EQ(fx_dev_init(&g, &d), 0);
        euicc_free(d.e);
        d.e = variant_c_euicc(skip, cred);
        UT_CHECK(d.e != NULL);
        d.v3 = true;
        if (d.e) {
            if (skip == 0) {
                UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
                UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_INSTALLED);
            } else {
                UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
                UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_CI_PK_UNKNOWN);
            }
        }
        fx_dev_clear(&d);
        for (int i = 0; i < 4; i++)
            pki_cred_clear(&cred[i]);
    }
    fx_clear(&g);
}

static void test_TC_SM_DP_ES9p_AuthenticateClientNIST_ErrorCases_certificates(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    released(g.iccid[0], NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    char *body = lpa_json_authenticate_client(d.tid_hex, d.bf38, d.bf38_len);
    /* a transactionId we never issued */
    char *bad_tid = with_member(body, "transactionId", "00112233445566778899AABBCCDDEEFF");
    UT_EQ(fx_call(&g, SMDP_FN_AUTH_CLIENT, NULL, bad_tid, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    /* a damaged euiccSignature1: flip a bit near the end of euiccSigned1's signature */
    uint8_t bf38[8192];
    memcpy(bf38, d.bf38, d.bf38_len);
    size_t i;
    for (i = 0; i + 3 < d.bf38_len && !(bf38[i] == 0x5F && bf38[i + 1] == 0x37 && bf38[i + 2] == 0x40); i++)
        ;
    bf38[i + 10] ^= 1;
    char *bad_sig = lpa_json_authenticate_client(d.tid_hex, bf38, d.bf38_len);
    UT_EQ(fx_call(&g, SMDP_FN_AUTH_CLIENT, NULL, bad_sig, NULL), RSP_ST_EUICC_SIG_INVALID);
    char *garbage = with_member(body, "authenticateServerResponse", "AAAA");
    UT_EQ(fx_call(&g, SMDP_FN_AUTH_CLIENT, NULL, garbage, NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_RELEASED);
    /* refused attempts consumed nothing: the genuine one passes, once */
    UT_EQ(fx_call(&g, SMDP_FN_AUTH_CLIENT, NULL, body, NULL), RSP_OK);
    UT_EQ(fx_call(&g, SMDP_FN_AUTH_CLIENT, NULL, body, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    free(body);
    free(bad_tid);
    free(bad_sig);
    free(garbage);

    /* a fresh transaction, garbage response: refused before consuming it */
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    body = lpa_json_authenticate_client(d.tid_hex, d.bf38, d.bf38_len);
    garbage = with_member(body, "authenticateServerResponse", "AAAA");
    UT_EQ(fx_call(&g, SMDP_FN_AUTH_CLIENT, NULL, garbage, NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(fx_call(&g, SMDP_FN_AUTH_CLIENT, NULL, body, NULL), RSP_OK);
    free(body);
    free(garbage);
    fx_dev_clear(&d);
    fx_clear(&g);
}

static void test_TC_SM_DP_ES9p_GetBoundProfilePackage_RetryCases_ReuseOTPK_and_DifferentOTPK_NIST(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[0];
    released(ic, NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    char *body = lpa_json_get_bpp(d.tid_hex, d.bf21, d.bf21_len);
    char *r1 = NULL, *r2 = NULL;
    UT_EQ(fx_call(&g, SMDP_FN_GET_BPP, NULL, body, &r1), RSP_OK);
    UT_EQ(fx_call(&g, SMDP_FN_GET_BPP, NULL, body, &r2), RSP_OK);
    /* the same call again: the same bytes */
    UT_CHECK(r1 && r2 && !strcmp(r1, r2));
    UT_EQ(fx_state(&g, ic), SMDP_STATE_DOWNLOADED);
    /* a damaged BPP makes the eUICC keep its one-time key for a retry */
    char b64[1 << 17];
    fx_member(r1, "boundProfilePackage", b64, sizeof(b64));
    uint8_t *bpp;
    size_t bpp_len;
    rsp_arena *a = rsp_arena_new(1 << 20);
    UT_EQ(rsp_b64_decode_arena(a, b64, strlen(b64), &bpp, &bpp_len), 0);
    bpp[bpp_len - 1] ^= 1;
    der_writer w;
    der_w_init(&w);
    euicc_error err;
    UT_EQ(euicc_load_bpp(d.e, bpp, bpp_len, &w, NULL, &err), EUICC_EREFUSED);
    der_w_free(&w);
    rsp_arena_free(a);
    /* a new session: bppEuiccOtpk, the same binding under the new transaction, installed */
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    free(body);
    free(r1);
    free(r2);
    fx_dev_clear(&d);

    /* a BPP delivered, never loaded, no result, no cancel; the next session's eUICC lost the key: a new
     * binding (new smdpOtpk) over the same protected profile, which installs */
    const char *ic1 = g.iccid[1];
    released(ic1, NULL);
    UT_EQ(fx_dev_init(&g, &d), 0);
    authenticated(&d);
    uint8_t ot1[SMDP_OTPK_LEN], ot2[SMDP_OTPK_LEN];
    UT_EQ(get_bpp_otpk(&d, ot1), 0);
    fx_dev_clear(&d);
    UT_EQ(fx_dev_init(&g, &d), 0);
    authenticated(&d);
    UT_CHECK(offered_otpk(&d)); /* the old binding is offered; this eUICC cannot use it */
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_OK);
    UT_EQ(bpp_smdp_otpk(d.bpp, d.bpp_len, ot2), 0);
    UT_CHECK(memcmp(ot1, ot2, sizeof(ot1)) != 0);
    UT_EQ(fx_dev_notify(&g, &d), RSP_OK);
    UT_EQ(fx_state(&g, ic1), SMDP_STATE_INSTALLED);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* A new binding is still a download session: the order's session limit bounds re-bindings. */
static void test_rebinding_counts_download_sessions(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[0];
    released(ic, NULL);
    fx_dev d;
    uint8_t ot[SMDP_OTPK_LEN];
    for (int i = 0; i < 3; i++) {
        UT_EQ(fx_dev_init(&g, &d), 0);
        authenticated(&d);
        UT_EQ(get_bpp_otpk(&d, ot), 0);
        fx_dev_clear(&d);
    }
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_DOWNLOAD_RETRIES);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_ERROR);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* CancelSession after GetBoundProfilePackage: postponed and timeout keep the binding, offered again as
 * bppEuiccOtpk and reused (the same smdpOtpk); endUserRejection (kept order) forgets it. */
static void test_TC_SM_DP_ES9p_CancelSession_After_GetBoundProfilePackageNIST_kept_binding(void)
{
    fx_opts o = {.cancel_keep = "endUserRejection,postponed,timeout"};
    UT_EQ(fx_init(&g, &o), 0);
    const char *ic = g.iccid[0];
    released(ic, NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    uint8_t ot1[SMDP_OTPK_LEN], ot2[SMDP_OTPK_LEN];
    const int reasons[] = {EUICC_CANCEL_POSTPONED, EUICC_CANCEL_TIMEOUT};
    for (size_t i = 0; i < 2; i++) {
        authenticated(&d);
        UT_CHECK(offered_otpk(&d) == (i > 0));
        UT_EQ(get_bpp_otpk(&d, i ? ot2 : ot1), 0);
        UT_EQ(fx_dev_cancel(&g, &d, reasons[i]), RSP_OK);
        UT_EQ(fx_state(&g, ic), SMDP_STATE_RELEASED);
        smdp_order ord;
        UT_EQ(smdp_orders_get(g.x->store, ic, &ord), RSP_OK);
        UT_CHECK(ord.binding.present && ord.session_tid_len == 0);
    }
    UT_CHECK(memcmp(ot1, ot2, sizeof(ot1)) == 0);
    /* the third session reuses the binding and installs */
    authenticated(&d);
    UT_CHECK(offered_otpk(&d));
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_OK);
    UT_EQ(bpp_smdp_otpk(d.bpp, d.bpp_len, ot2), 0);
    UT_CHECK(memcmp(ot1, ot2, sizeof(ot1)) == 0);
    UT_EQ(fx_dev_notify(&g, &d), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);

    /* endUserRejection keeps this order (policy) but not its binding */
    const char *ic1 = g.iccid[1];
    released(ic1, NULL);
    authenticated(&d);
    UT_EQ(get_bpp_otpk(&d, ot1), 0);
    UT_EQ(fx_dev_cancel(&g, &d, EUICC_CANCEL_END_USER_REJECTION), RSP_OK);
    UT_EQ(fx_state(&g, ic1), SMDP_STATE_RELEASED);
    authenticated(&d);
    UT_CHECK(!offered_otpk(&d));
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    UT_EQ(fx_state(&g, ic1), SMDP_STATE_INSTALLED);
    fx_dev_clear(&d);
    fx_clear(&g);

    /* by default endUserRejection ends the order and its binding */
    UT_EQ(fx_init(&g, NULL), 0);
    released(g.iccid[0], NULL);
    UT_EQ(fx_dev_init(&g, &d), 0);
    authenticated(&d);
    UT_EQ(get_bpp_otpk(&d, ot1), 0);
    UT_EQ(fx_dev_cancel(&g, &d, EUICC_CANCEL_END_USER_REJECTION), RSP_OK);
    UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_ERROR);
    smdp_order ord;
    UT_EQ(smdp_orders_get(g.x->store, g.iccid[0], &ord), RSP_OK);
    UT_CHECK(!ord.binding.present);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* A bad otPK.EUICC (not a point) under a kept binding is refused and leaves the binding alone. */
static void test_rebinding_bad_otpk(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[0];
    released(ic, NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    authenticated(&d);
    uint8_t ot[SMDP_OTPK_LEN];
    UT_EQ(get_bpp_otpk(&d, ot), 0);
    smdp_order before, after;
    UT_EQ(smdp_orders_get(g.x->store, ic, &before), RSP_OK);
    /* the eUICC signs a PrepareDownloadResponse whose euiccOtpk is no point of the curve */
    authenticated(&d);
    UT_EQ(resign_bad_otpk(&d), 0);
    char *body = lpa_json_get_bpp(d.tid_hex, d.bf21, d.bf21_len);
    UT_EQ(fx_call(&g, SMDP_FN_GET_BPP, NULL, body, NULL), RSP_ST_INVALID_FIELD);
    free(body);
    UT_EQ(smdp_orders_get(g.x->store, ic, &after), RSP_OK);
    UT_CHECK(after.binding.present && !memcmp(&after.binding, &before.binding, sizeof(after.binding)));
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* PPR1 / PPR2 against EUICCInfo2 forbiddenProfilePolicyRules. */
static void test_TC_SM_DP_ES9p_AuthenticateClientNIST_ErrorCases_ppr_not_allowed(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    size_t upp_len;
    uint8_t *upp = fx_upp("8999000000000000777", &upp_len);
    smdp_md_extra x;
    memset(&x, 0, sizeof(x));
    x.has_ppr = true;
    x.ppr = SMDP_PPR1;
    smdp_metadata md = {.service_provider_name = "Op", .profile_name = "PPR1", .extra = &x};
    char ic[SMDP_ICCID_MAX + 1];
    UT_EQ(smdp_orders_import_upp(g.x->store, &g.x->mk, upp, upp_len, "TP", FX_OPERATOR, &md,
                                 (uint64_t)time(NULL), ic, NULL),
          RSP_OK);
    free(upp);
    released(ic, NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    euicc_config_of(d.e)->forbidden_ppr = 1u << 1;
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_ST_NOT_ELIGIBLE);
    smdp_order ord;
    UT_EQ(smdp_orders_get(g.x->store, ic, &ord), RSP_OK);
    UT_CHECK(ord.state == SMDP_STATE_RELEASED && ord.download_attempts == 0 && ord.session_tid_len == 0);
    /* PPR2 forbidden only: PPR1 passes; and with no forbidden rules at all */
    euicc_config_of(d.e)->forbidden_ppr = 1u << 2;
    authenticated(&d);
    euicc_config_of(d.e)->forbidden_ppr = 0;
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    /* a profile without PPRs is offered whatever the eUICC forbids */
    released(g.iccid[0], NULL);
    euicc_config_of(d.e)->forbidden_ppr = (1u << 1) | (1u << 2);
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    fx_dev_clear(&d);
    fx_clear(&g);
}

static void test_TC_SM_DP_ES9p_GetBoundProfilePackage_ErrorCasesNIST(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    released(g.iccid[0], NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    char *body = lpa_json_get_bpp(d.tid_hex, d.bf21, d.bf21_len);
    char *bad_tid = with_member(body, "transactionId", "00112233445566778899AABBCCDDEEFF");
    UT_EQ(fx_call(&g, SMDP_FN_GET_BPP, NULL, bad_tid, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    uint8_t bf21[4096];
    memcpy(bf21, d.bf21, d.bf21_len);
    bf21[d.bf21_len - 5] ^= 1; /* inside euiccSignature2 */
    char *bad_sig = lpa_json_get_bpp(d.tid_hex, bf21, d.bf21_len);
    UT_EQ(fx_call(&g, SMDP_FN_GET_BPP, NULL, bad_sig, NULL), RSP_ST_EUICC_SIG_INVALID);
    char *garbage = with_member(body, "prepareDownloadResponse", "vyEA");
    UT_EQ(fx_call(&g, SMDP_FN_GET_BPP, NULL, garbage, NULL), RSP_ST_INVALID_FIELD);
    /* a downloadResponseError */
    uint8_t tid[16];
    size_t tl;
    rsp_hex_decode(d.tid_hex, strlen(d.tid_hex), tid, sizeof(tid), &tl);
    der_writer w;
    der_w_init(&w);
    der_w_begin(&w, 0xBF21);
    der_w_begin(&w, 0xA1);
    der_w_tlv(&w, 0x80, tid, tl);
    der_w_int(&w, 0x02, 127);
    der_w_end(&w);
    der_w_end(&w);
    UT_EQ(der_w_finish(&w), 0);
    char *err_body = lpa_json_get_bpp(d.tid_hex, w.buf, w.len);
    UT_EQ(fx_call(&g, SMDP_FN_GET_BPP, NULL, err_body, NULL), RSP_ST_INVALID_FIELD);
    der_w_free(&w);
    UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_RELEASED);
    /* the genuine one still works */
    UT_EQ(fx_call(&g, SMDP_FN_GET_BPP, NULL, body, NULL), RSP_OK);
    free(body);
    free(bad_tid);
    free(bad_sig);
    free(garbage);
    free(err_body);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* An operator whose devices run lpac (endUserRejection after any local failure) keeps such orders. */
static void test_cancel_session_keep_policy(void)
{
    fx_opts o = {.cancel_keep = "endUserRejection,postponed"};
    UT_EQ(fx_init(&g, &o), 0);
    const char *ic = g.iccid[0];
    released(
        ic,
        ",\"matchingId\":\"EV-K\",\"confirmationCode\":\"1234\",\"smdsAddress\":\"testsmds.example.com\"");
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    /* a mistyped code, then the LPA cancels: the order and its event stay */
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "9999"), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_REFUSED);
    UT_EQ(fx_dev_cancel(&g, &d, EUICC_CANCEL_END_USER_REJECTION), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_RELEASED);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_DELETE_EVENT), 0);
    /* timeout is not on this list: it ends the order */
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "1234"), RSP_OK);
    UT_EQ(fx_dev_cancel(&g, &d, EUICC_CANCEL_TIMEOUT), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_ERROR);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_DELETE_EVENT), 1);
    fx_dev_clear(&d);
    fx_clear(&g);
    /* an unknown reason name is a configuration error */
    o.cancel_keep = "endUserRejection,later";
    UT_CHECK(fx_init(&g, &o) != 0);
    fx_clear(&g);
    uint32_t mask;
    UT_EQ(smdp_cancel_reasons_parse("", &mask), 0);
    UT_EQ(mask, 0);
    UT_EQ(smdp_cancel_reasons_parse("undefinedReason, timeout", &mask), 0);
    UT_CHECK(mask == ((1u << 31) | (1u << 2)));
}

static void test_TC_SM_DP_ES9p_CancelSession_After_AuthenticateClientNIST(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[0];
    released(ic, ",\"matchingId\":\"EV-S\",\"smdsAddress\":\"testsmds.example.com\"");
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    /* postponed: back to Released, the event stays */
    UT_EQ(fx_dev_initiate(&g, &d, "EV-S"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_cancel(&g, &d, EUICC_CANCEL_POSTPONED), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_RELEASED);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_DELETE_EVENT), 0);
    /* the session is over */
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_TRANSACTION_UNKNOWN);
    /* a damaged signature changes nothing */
    UT_EQ(fx_dev_initiate(&g, &d, "EV-S"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    uint8_t tid[16];
    size_t tl;
    rsp_hex_decode(d.tid_hex, strlen(d.tid_hex), tid, sizeof(tid), &tl);
    der_writer req, resp;
    der_w_init(&req);
    der_w_init(&resp);
    der_w_begin(&req, 0xBF41);
    der_w_tlv(&req, 0x80, tid, tl);
    der_w_int(&req, 0x81, 0);
    der_w_end(&req);
    UT_EQ(der_w_finish(&req), 0);
    euicc_error err;
    UT_EQ(euicc_cancel_session(d.e, req.buf, req.len, &resp, &err), EUICC_OK);
    uint8_t bad[512];
    memcpy(bad, resp.buf, resp.len);
    bad[resp.len - 1] ^= 1;
    char *body = lpa_json_cancel_session(d.tid_hex, bad, resp.len);
    UT_EQ(fx_call(&g, SMDP_FN_CANCEL_SESSION, NULL, body, NULL), RSP_ST_EUICC_SIG_INVALID);
    free(body);
    body = lpa_json_cancel_session("00112233445566778899AABBCCDDEEFF", resp.buf, resp.len);
    UT_EQ(fx_call(&g, SMDP_FN_CANCEL_SESSION, NULL, body, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    free(body);
    /* the eUICC's unsigned error (its session is gone): not a failure, and nothing changes */
    static const uint8_t cancel_err[] = {0xBF, 0x41, 0x03, 0x81, 0x01, 0x7F};
    body = lpa_json_cancel_session(d.tid_hex, cancel_err, sizeof(cancel_err));
    UT_EQ(fx_call(&g, SMDP_FN_CANCEL_SESSION, NULL, body, NULL), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_RELEASED);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_DELETE_EVENT), 0);
    free(body);
    /* garbage is refused */
    body = lpa_json_cancel_session(d.tid_hex, cancel_err, 3);
    UT_EQ(fx_call(&g, SMDP_FN_CANCEL_SESSION, NULL, body, NULL), RSP_ST_INVALID_FIELD);
    free(body);
    /* endUserRejection (default policy): the order ends with its event, event and order agree */
    body = lpa_json_cancel_session(d.tid_hex, resp.buf, resp.len);
    UT_EQ(fx_call(&g, SMDP_FN_CANCEL_SESSION, NULL, body, NULL), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_ERROR);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_DELETE_EVENT), 1);
    UT_EQ(fx_call(&g, SMDP_FN_CANCEL_SESSION, NULL, body, NULL), RSP_ST_TRANSACTION_UNKNOWN);
    free(body);
    der_w_free(&req);
    der_w_free(&resp);
    fx_dev_clear(&d);
    fx_clear(&g);
}

static void test_TC_SM_DP_ES9p_HandleNotificationNIST_install_result(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[0];
    released(ic, NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_OK);
    /* a damaged euiccSignPIR: 204, nothing changes */
    uint8_t pir[4096];
    size_t pir_len = d.pir_len;
    memcpy(pir, d.pir, pir_len);
    pir[pir_len - 1] ^= 1;
    char *body = lpa_json_handle_notification(pir, pir_len);
    char *reply = NULL;
    UT_EQ(fx_call(&g, SMDP_FN_HANDLE_NOTIFICATION, NULL, body, &reply), RSP_ST_EUICC_SIG_INVALID);
    UT_CHECK(reply && reply[0] == '\0');
    free(reply);
    free(body);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_DOWNLOADED);
    static const char *const junk[] = {
        "{}",
        "{\"pendingNotification\":\"AAAA\"}",
        "{\"pendingNotification\":\"vzcA\"}",
        "{\"pendingNotification\":12}",
        "{\"pendingNotification\":\"MAA=\"}",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        reply = NULL;
        UT_CHECK(fx_call(&g, SMDP_FN_HANDLE_NOTIFICATION, NULL, junk[i], &reply) != RSP_OK);
        UT_CHECK(reply && reply[0] == '\0');
        free(reply);
    }
    UT_EQ(fx_state(&g, ic), SMDP_STATE_DOWNLOADED);
    UT_EQ(fx_dev_notify(&g, &d), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    /* an enable notification (otherSignedNotification) is verified and logged */
    UT_EQ(euicc_enable_profile(d.e, ic, NULL), 0);
    size_t n = euicc_notification_count(d.e);
    const euicc_notification *en = NULL;
    for (size_t i = 0; i < n; i++)
        if (euicc_notification_at(d.e, i)->event == EUICC_EVT_ENABLE)
            en = euicc_notification_at(d.e, i);
    if (en) {
        body = lpa_json_handle_notification(en->der, en->len);
        UT_EQ(fx_call(&g, SMDP_FN_HANDLE_NOTIFICATION, NULL, body, NULL), RSP_OK);
        free(body);
    }
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* What the operator set at import reaches the device (StoreMetadata), and the device's enable and delete
 * notifications come back verified, are forwarded to the operator, and a delete ends the order. */
static int collect_notification(void *arg, const smdp_ob_item *it)
{
    smdp_ob_item *out = arg;
    if (it->kind == SMDP_OB_NOTIFICATION)
        *out = *it;
    return 0;
}

static const euicc_notification *pending_of(fx_dev *d, int event)
{
    for (size_t i = 0; i < euicc_notification_count(d->e); i++)
        if (euicc_notification_at(d->e, i)->event == event)
            return euicc_notification_at(d->e, i);
    return NULL;
}

static void test_TC_SM_DP_ES9p_HandleNotificationNIST_other_notifications_and_metadata(void)
{
    static const char ops[] = "[op1]\ncn = op1\nnotify_url = https://es2.op1.example/gsma/rsp2/es2plus/"
                              "handleDownloadProgressInfo\n";
    fx_opts o = {.operators_ini = ops, .progress = true};
    UT_EQ(fx_init(&g, &o), 0);
    const char *ic = "8900000000000000990";
    size_t upp_len;
    uint8_t *upp = fx_upp(ic, &upp_len);
    smdp_md_extra x;
    memset(&x, 0, sizeof(x));
    x.notify_events = SMDP_NOTIFY_ENABLE | SMDP_NOTIFY_DISABLE | SMDP_NOTIFY_DELETE;
    x.has_icon = true;
    x.icon_type = SMDP_ICON_PNG;
    static const uint8_t icon[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 1, 2, 3};
    memcpy(x.icon, icon, sizeof(icon));
    x.icon_len = sizeof(icon);
    x.has_owner = true;
    UT_EQ(smdp_mccmnc_encode("310410", x.owner_mccmnc), 0);
    x.owner_gid1[0] = 0x42;
    x.owner_gid1_len = 1;
    x.has_ppr = true;
    x.ppr = SMDP_PPR_UPDATE_CONTROL;
    smdp_metadata md = {.service_provider_name = "Op",
                        .profile_name = "Notified",
                        .profile_class = SMDP_CLASS_OPERATIONAL,
                        .extra = &x};
    char got[SMDP_ICCID_MAX + 1];
    UT_EQ(smdp_orders_import_upp(g.x->store, &g.x->mk, upp, upp_len, "TN", FX_OPERATOR, &md,
                                 (uint64_t)time(NULL), got, NULL),
          RSP_OK);
    free(upp);
    /* what AuthenticateClient sends as profileMetadata */
    smdp_order ord;
    UT_EQ(smdp_orders_get(g.x->store, ic, &ord), RSP_OK);
    der_writer w;
    der_w_init(&w);
    UT_EQ(smdp_order_metadata(&ord, FX_FQDN, &w), 0);
    UT_EQ(der_w_finish(&w), DER_OK);
    sgp22_store_metadata sm;
    UT_EQ(sgp22_store_metadata_decode(w.buf, w.len, &sm), DER_OK);
    UT_CHECK(sm.icon.len == sizeof(icon) && sm.icon_type.present && sm.icon_type.v == SMDP_ICON_PNG);
    UT_CHECK(sm.has_profile_owner && sm.profile_owner.mcc_mnc.len == 3 &&
             sm.profile_owner.mcc_mnc.p[0] == 0x13 && sm.profile_owner.mcc_mnc.p[1] == 0x00 &&
             sm.profile_owner.mcc_mnc.p[2] == 0x14);
    UT_CHECK(sm.profile_owner.gid1.len == 1 && sm.profile_owner.gid1.p[0] == 0x42);
    UT_CHECK(sm.ppr.p && sgp22_bit(sm.ppr, 0) && !sgp22_bit(sm.ppr, 1));
    der_reader r;
    der_tlv e;
    sgp22_list_reader(&sm.notification_config, &r);
    UT_EQ(der_next(&r, &e), DER_OK);
    sgp22_notif_config nc;
    UT_EQ(sgp22_notif_config_decode(&e, &nc), DER_OK);
    UT_CHECK(!sgp22_bit(nc.pmo, 0) && sgp22_bit(nc.pmo, 1) && sgp22_bit(nc.pmo, 2) && sgp22_bit(nc.pmo, 3));
    UT_CHECK(nc.address.len == strlen(FX_FQDN) && !memcmp(nc.address.p, FX_FQDN, nc.address.len));
    der_w_free(&w);

    released(ic, NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    const euicc_profile *p = euicc_profile_find(d.e, ic);
    UT_CHECK(p && p->notify_address[EUICC_EVT_DELETE] &&
             !strcmp(p->notify_address[EUICC_EVT_DELETE], FX_FQDN));
    UT_CHECK(p && !p->notify_address[EUICC_EVT_INSTALL]);

    /* enable: verified, recorded, forwarded */
    UT_EQ(euicc_enable_profile(d.e, ic, NULL), 0);
    const euicc_notification *en = pending_of(&d, EUICC_EVT_ENABLE);
    UT_CHECK(en != NULL);
    char *body = en ? lpa_json_handle_notification(en->der, en->len) : NULL;
    UT_EQ(fx_call(&g, SMDP_FN_HANDLE_NOTIFICATION, NULL, body, NULL), RSP_OK);
    free(body);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_NOTIFICATION), 1);
    /* a damaged signature: refused, nothing forwarded */
    uint8_t bad[4096];
    size_t bad_len = en ? en->len : 0;
    if (en)
        memcpy(bad, en->der, bad_len);
    bad[bad_len / 2] ^= 1;
    body = lpa_json_handle_notification(bad, bad_len);
    UT_CHECK(fx_call(&g, SMDP_FN_HANDLE_NOTIFICATION, NULL, body, NULL) != RSP_OK);
    free(body);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_NOTIFICATION), 1);

    /* delete: the order reaches its final state */
    UT_EQ(euicc_disable_profile(d.e, ic, NULL), 0);
    UT_EQ(euicc_delete_profile(d.e, ic, NULL), 0);
    const euicc_notification *del = pending_of(&d, EUICC_EVT_DELETE);
    UT_CHECK(del != NULL);
    body = del ? lpa_json_handle_notification(del->der, del->len) : NULL;
    UT_EQ(fx_call(&g, SMDP_FN_HANDLE_NOTIFICATION, NULL, body, NULL), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_UNAVAILABLE);
    /* the same notification again changes nothing */
    UT_EQ(fx_call(&g, SMDP_FN_HANDLE_NOTIFICATION, NULL, body, NULL), RSP_ST_STATE_TRANSITION);
    free(body);
    smdp_ob_item it;
    memset(&it, 0, sizeof(it));
    UT_EQ(smdp_outbox_list(g.x->outbox, collect_notification, &it), 0);
    UT_EQ(it.np_id, EUICC_EVT_DELETE);
    size_t blen;
    char *json = smdp_notify_body(g.x->notify, &it, &blen);
    UT_CHECK(json && strstr(json, "\"profileManagementOperation\":\"delete\"") &&
             strstr(json, "\"iccid\":\"8900000000000000990\"") && strstr(json, "\"eid\":\"" EID "\""));
    free(json);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* The LPA started a new session before sending the result of the BPP it loaded. */
static void test_TC_SM_DP_ES9p_HandleNotificationNIST_late_result(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[0];
    released(ic, NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, NULL), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_OK);
    fx_dev other;
    UT_EQ(fx_dev_init(&g, &other), 0);
    UT_EQ(fx_dev_initiate(&g, &other, NULL), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &other, NULL), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_DOWNLOADED);
    UT_EQ(fx_dev_notify(&g, &d), RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_INSTALLED);
    fx_dev_clear(&other);
    fx_dev_clear(&d);
    fx_clear(&g);
}

/* Malformed bodies for every ES9+ function: a GSMA error, nothing changes. */
static void test_bad_bodies(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    released(g.iccid[0], NULL);
    static const struct {
        smdp_fn fn;
        const char *body;
        rsp_status want;
    } cases[] = {
        {SMDP_FN_INITIATE_AUTH, "{}", RSP_ST_MANDATORY_MISSING},
        {SMDP_FN_INITIATE_AUTH, "{\"euiccChallenge\":1,\"euiccInfo1\":\"\",\"smdpAddress\":\"x\"}",
         RSP_ST_INVALID_FIELD},
        {SMDP_FN_INITIATE_AUTH, "{\"euiccChallenge\":\"%%%\",\"euiccInfo1\":\"vyA=\",\"smdpAddress\":\"x\"}",
         RSP_ST_INVALID_FIELD},
        {SMDP_FN_AUTH_CLIENT, "{}", RSP_ST_MANDATORY_MISSING},
        {SMDP_FN_AUTH_CLIENT, "{\"transactionId\":\"XYZ\",\"authenticateServerResponse\":\"vzgA\"}",
         RSP_ST_INVALID_FIELD},
        {SMDP_FN_AUTH_CLIENT, "{\"transactionId\":\"\",\"authenticateServerResponse\":\"vzgA\"}",
         RSP_ST_INVALID_FIELD},
        {SMDP_FN_GET_BPP, "{\"transactionId\":\"0102\"}", RSP_ST_MANDATORY_MISSING},
        {SMDP_FN_GET_BPP, "{\"transactionId\":\"0102\",\"prepareDownloadResponse\":\"vyEA\"}",
         RSP_ST_TRANSACTION_UNKNOWN},
        {SMDP_FN_CANCEL_SESSION, "{\"transactionId\":\"0102\",\"cancelSessionResponse\":\"v0EA\"}",
         RSP_ST_TRANSACTION_UNKNOWN},
        {SMDP_FN_CANCEL_SESSION, "{\"transactionId\":\"0102\",\"cancelSessionResponse\":\"v0EDgQF/\"}",
         RSP_ST_TRANSACTION_UNKNOWN},
        {SMDP_FN_CANCEL_SESSION, "{\"cancelSessionResponse\":\"v0EA\"}", RSP_ST_MANDATORY_MISSING},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rsp_status st = fx_call(&g, cases[i].fn, NULL, cases[i].body, NULL);
        if (st != cases[i].want)
            fprintf(stderr, "case %zu: got %s\n", i, rsp_status_str(st));
        UT_EQ(st, cases[i].want);
    }
    UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_RELEASED);
    fx_clear(&g);
}

/* Made-up transactionIds with far expiries and an error answer, many of them, then a genuine download:
 * refused for one HMAC each, nothing consumed, the device served. */
static void test_forged_flood(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    released(g.iccid[0], NULL);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, NULL), RSP_OK);
    int refused = 0;
    for (unsigned i = 0; i < 5000; i++) {
        char tid[33];
        snprintf(tid, sizeof(tid), "%.4sFFFFFFFF%08X%012X", d.tid_hex, i, 0u); /* version, key, CI kept */
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"transactionId\":\"%s\",\"authenticateServerResponse\":\"vzgGoQSAAQAC\"}", tid);
        refused += fx_call(&g, SMDP_FN_AUTH_CLIENT, NULL, body, NULL) == RSP_ST_TRANSACTION_UNKNOWN;
    }
    UT_EQ(refused, 5000);
    rsp_replay_stats s;
    rsp_replay_stats_get(g.x->replay, &s);
    UT_EQ(s.refused, 0);
    UT_EQ(fx_dev_download(&g, &d, NULL, NULL), RSP_OK);
    UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_INSTALLED);
    fx_dev_clear(&d);
    fx_clear(&g);
}

int main(void)
{
    if (tu_orders_start(TU_ORDERS_PG, "es9p_test") != 0)
        return 0;
    UT_RUN(test_TC_SM_DP_ES9p_AuthenticateClientNIST_01_default_dp_address);
    UT_RUN(test_TC_SM_DP_ES9p_AuthenticateClientNIST_04_smds_use_case_with_cc);
    UT_RUN(test_TC_SM_DP_ES9p_GetBoundProfilePackage_RetryCases_ReuseOTPK_NIST_09_cc_retry);
    UT_RUN(test_TC_SM_DP_ES9p_GetBoundProfilePackage_confirmation_code_encodings);
    UT_RUN(test_TC_SM_DP_ES9p_AuthenticateClientNIST_ErrorCases_order_lookup);
    UT_RUN(test_TC_SM_DP_ES9p_InitiateAuthenticationNIST_03_to_06_errors);
    UT_RUN(test_v3_messages);
    UT_RUN(test_v3_chain_download);
    UT_RUN(test_TC_SM_DP_ES9p_AuthenticateClientNIST_ErrorCases_certificates);
    UT_RUN(test_TC_SM_DP_ES9p_GetBoundProfilePackage_RetryCases_ReuseOTPK_and_DifferentOTPK_NIST);
    UT_RUN(test_TC_SM_DP_ES9p_GetBoundProfilePackage_ErrorCasesNIST);
    UT_RUN(test_rebinding_counts_download_sessions);
    UT_RUN(test_TC_SM_DP_ES9p_CancelSession_After_GetBoundProfilePackageNIST_kept_binding);
    UT_RUN(test_rebinding_bad_otpk);
    UT_RUN(test_TC_SM_DP_ES9p_AuthenticateClientNIST_ErrorCases_ppr_not_allowed);
    UT_RUN(test_TC_SM_DP_ES9p_CancelSession_After_AuthenticateClientNIST);
    UT_RUN(test_cancel_session_keep_policy);
    UT_RUN(test_TC_SM_DP_ES9p_HandleNotificationNIST_install_result);
    UT_RUN(test_TC_SM_DP_ES9p_HandleNotificationNIST_other_notifications_and_metadata);
    UT_RUN(test_TC_SM_DP_ES9p_HandleNotificationNIST_late_result);
    UT_RUN(test_bad_bodies);
    UT_RUN(test_forged_flood);
    tu_orders_stop();
    return ut_finish();
}
