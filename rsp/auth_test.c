#include "rsp/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asn1/der.h"
#include "asn1/sgp22.h"
#include "tests/unit/ut.h"
#include "tools/lpasim/euicc.h"
#include "tools/lpasim/lpa.h"
#include "tools/pki/pki.h"

#define ADDRESS "testsmdpplus1.example.com"

static pki_cred ci, eum, euicc_cred, auth, other_ci, other_auth;
static rsp_ci_store *cis;
static rsp_txn_keyring kr;

static int mint(pki_kind kind, const pki_cred *issuer, pki_cred *out)
{
    pki_opts o;
    pki_opts_init(&o, kind);
    return pki_mint(&o, issuer, out);
}

static euicc *new_euicc(void)
{
    euicc *e = euicc_new();
    if (!e || euicc_set_identity(e, euicc_cred.cert, euicc_cred.key, eum.cert, NULL) != 0 ||
        euicc_add_ci(e, ci.cert) != 0) {
        euicc_free(e);
        return NULL;
    }
    return e;
}

/* One InitiateAuthentication on the server side plus AuthenticateServer on the eUICC. */
typedef struct session {
    uint8_t tid[RSP_TXN_ID_LEN];
    uint8_t challenge[RSP_TXN_CHALLENGE_LEN];
    der_writer bf38;
} session;

static int run_session(euicc *e, rsp_arena *a, const char *address, const char *matching_id, session *s)
{
    uint8_t ec[16];
    der_writer info1, req;
    der_w_init(&info1);
    der_w_init(&req);
    der_w_init(&s->bf38);
    int rc = -1;
    sgp22_euicc_info1 info;
    if (euicc_get_challenge(e, ec) != 0 || euicc_get_info1(e, &info1) != 0 ||
        sgp22_euicc_info1_decode(info1.buf, info1.len, &info) != 0)
        goto out;
    rsp_auth_cred_ci cred;
    const uint8_t *ci_ski;
    size_t ci_ski_len;
    rsp_ci_store_get(cis, 0, &ci_ski, &ci_ski_len);
    cred.ski = ci_ski;
    cred.len = ci_ski_len;
    int ci_index;
    size_t which;
    if (rsp_auth_choose(cis, &info, &cred, 1, &ci_index, &which) != RSP_AUTH_CHOSEN)
        goto out;
    const uint8_t *ss1, *pkid;
    size_t ss1_len, pkid_len;
    uint8_t sig[RSP_AUTH_SIG_TLV_LEN];
    if (rsp_txn_new(&kr, (uint8_t)ci_index, 300, time(NULL), s->tid, s->challenge) != 0 ||
        rsp_auth_server_signed1(a, s->tid, sizeof(s->tid), ec, ADDRESS, s->challenge, auth.key, &ss1,
                                &ss1_len, sig) != 0 ||
        rsp_auth_ci_pkid(a, cis, ci_index, &pkid, &pkid_len) != 0)
        goto out;
    size_t cert_len;
    uint8_t *cert = NULL;
    int n = i2d_X509(auth.cert, &cert);
    if (n <= 0)
        goto out;
    cert_len = (size_t)n;
    der_w_begin(&req, 0xBF38);
    der_w_raw(&req, ss1, ss1_len);
    der_w_raw(&req, sig, sizeof(sig));
    der_w_raw(&req, pkid, pkid_len);
    der_w_raw(&req, cert, cert_len);
    OPENSSL_free(cert);
    lpa_opts lo;
    memset(&lo, 0, sizeof(lo));
    lpa_build_ctx_params1(&lo, matching_id, &req);
    der_w_end(&req);
    if (der_w_finish(&req) != 0)
        goto out;
    euicc_error err;
    rc = euicc_authenticate_server(e, req.buf, req.len, address, &s->bf38, &err) == EUICC_OK ? 0 : -1;
out:
    der_w_free(&info1);
    der_w_free(&req);
    return rc;
}

static void test_svn(void)
{
    static const struct {
        const char *lo, *hi; /* hex VersionType, NULL hi: absent */
        bool want;
    } cases[] = {
        {"020000", NULL, true},     {"020302", NULL, true},      {"030100", NULL, true},
        {"01FFFF", NULL, false},    {"040000", NULL, false},     {"010000", "020000", true},
        {"030000", "040100", true}, {"040000", "050000", false}, {"030000", "020000", false},
        {"0200", NULL, false},      {"020000", "0300", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t lo[4], hi[4];
        size_t lo_len = strlen(cases[i].lo) / 2, hi_len = cases[i].hi ? strlen(cases[i].hi) / 2 : 0;
        for (size_t k = 0; k < lo_len; k++)
            sscanf(cases[i].lo + 2 * k, "%2hhx", &lo[k]);
        for (size_t k = 0; k < hi_len; k++)
            sscanf(cases[i].hi + 2 * k, "%2hhx", &hi[k]);
        sgp22_euicc_info1 info;
        memset(&info, 0, sizeof(info));
        info.svn = SGP22_BYTES(lo, lo_len);
        if (cases[i].hi)
            info.highest_svn = SGP22_BYTES(hi, hi_len);
        UT_EQ(rsp_auth_svn_supported(&info), cases[i].want);
    }
}

static void test_choose(void)
{
    euicc *e = new_euicc();
    UT_CHECK(e != NULL);
    der_writer w;
    der_w_init(&w);
    UT_EQ(euicc_get_info1(e, &w), 0);
    sgp22_euicc_info1 info;
    UT_EQ(sgp22_euicc_info1_decode(w.buf, w.len, &info), 0);
    const uint8_t *ci_ski, *other_ski;
    size_t ci_len, other_len;
    UT_CHECK(rsp_ci_store_get(cis, 0, &ci_ski, &ci_len) != NULL);
    UT_CHECK(rsp_ci_store_get(cis, 1, &other_ski, &other_len) != NULL);
    int ci_index = -1;
    size_t which = 99;
    /* the credential under the eUICC's CI is picked even when listed second */
    rsp_auth_cred_ci creds[2] = {{other_ski, other_len}, {ci_ski, ci_len}};
    UT_EQ(rsp_auth_choose(cis, &info, creds, 2, &ci_index, &which), RSP_AUTH_CHOSEN);
    UT_EQ(ci_index, 0);
    UT_EQ(which, 1);
    /* only a credential under a CI the eUICC does not verify */
    UT_EQ(rsp_auth_choose(cis, &info, creds, 1, &ci_index, &which), RSP_AUTH_NO_CREDENTIAL);
    /* a store without the eUICC's CI */
    rsp_ci_store *only_other = rsp_ci_store_new();
    UT_EQ(rsp_ci_store_add(only_other, other_ci.cert), 0);
    UT_EQ(rsp_auth_choose(only_other, &info, creds, 2, &ci_index, &which), RSP_AUTH_NO_SIGNING_CI);
    rsp_ci_store_free(only_other);
    der_w_free(&w);
    euicc_free(e);
}

static void test_verify_ok_and_replay(void)
{
    euicc *e = new_euicc();
    rsp_arena *a = rsp_arena_new(1 << 20);
    rsp_eum_cache *eums = rsp_eum_cache_new(4);
    session s;
    UT_EQ(run_session(e, a, ADDRESS, "MID-1", &s), 0);

    rsp_txn_info info;
    uint8_t ch[RSP_TXN_CHALLENGE_LEN];
    sgp22_auth_server_resp resp;
    const char *detail = NULL;
    time_t now = time(NULL);
    UT_EQ(
        rsp_auth_open(&kr, 300, s.tid, sizeof(s.tid), s.bf38.buf, s.bf38.len, now, &info, ch, &resp, &detail),
        RSP_OK);
    UT_CHECK(memcmp(ch, s.challenge, sizeof(ch)) == 0);
    rsp_euicc_identity id;
    char buf[160];
    UT_EQ(rsp_auth_verify(cis, eums, &info, ch, s.tid, sizeof(s.tid), &resp.ok, "TestSMDPplus1.Example.COM",
                          RSP_ST_SMDP_ADDRESS_INVALID, now, &id, buf, sizeof(buf), &detail),
          RSP_OK);
    UT_CHECK(strcmp(id.eid, PKI_SGP26_EID) == 0);
    UT_CHECK(id.pub != NULL);
    const sgp22_ctx_params1 *cp = &resp.ok.euicc_signed1.ctx_params1;
    UT_CHECK(cp->matching_id.p && cp->matching_id.len == 5 && memcmp(cp->matching_id.p, "MID-1", 5) == 0);
    rsp_euicc_identity_clear(&id);

    /* the address check uses the status the service passes */
    UT_EQ(rsp_auth_verify(cis, eums, &info, ch, s.tid, sizeof(s.tid), &resp.ok, "other.example.com",
                          RSP_ST_SMDP_ADDRESS_INVALID, now, &id, buf, sizeof(buf), &detail),
          RSP_ST_SMDP_ADDRESS_INVALID);
    UT_CHECK(id.pub == NULL);
    /* the outer transactionId must be the one the eUICC signed */
    uint8_t other_tid[RSP_TXN_ID_LEN];
    memcpy(other_tid, s.tid, sizeof(other_tid));
    other_tid[15] ^= 1;
    UT_EQ(rsp_auth_verify(cis, eums, &info, ch, other_tid, sizeof(other_tid), &resp.ok, ADDRESS,
                          RSP_ST_SMDP_ADDRESS_INVALID, now, &id, buf, sizeof(buf), &detail),
          RSP_ST_TRANSACTION_UNKNOWN);
    /* a challenge other than the one derived from the transaction */
    uint8_t wrong[RSP_TXN_CHALLENGE_LEN];
    memcpy(wrong, ch, sizeof(wrong));
    wrong[0] ^= 0x80;
    UT_EQ(rsp_auth_verify(cis, eums, &info, wrong, s.tid, sizeof(s.tid), &resp.ok, ADDRESS,
                          RSP_ST_SMDP_ADDRESS_INVALID, now, &id, buf, sizeof(buf), &detail),
          RSP_ST_EUICC_SIG_INVALID);
    /* a CI index the store no longer has */
    rsp_txn_info gone = info;
    gone.ci_index = 7;
    UT_EQ(rsp_auth_verify(cis, eums, &gone, ch, s.tid, sizeof(s.tid), &resp.ok, ADDRESS,
                          RSP_ST_SMDP_ADDRESS_INVALID, now, &id, buf, sizeof(buf), &detail),
          RSP_ST_CI_PK_UNKNOWN);
    /* the other CI chosen: the EUM's AKI does not name it */
    gone.ci_index = 1;
    UT_EQ(rsp_auth_verify(cis, eums, &gone, ch, s.tid, sizeof(s.tid), &resp.ok, ADDRESS,
                          RSP_ST_SMDP_ADDRESS_INVALID, now, &id, buf, sizeof(buf), &detail),
          RSP_ST_CI_PK_UNKNOWN);

    /* opening consumes nothing: the caller does once every check passed */
    UT_EQ(
        rsp_auth_open(&kr, 300, s.tid, sizeof(s.tid), s.bf38.buf, s.bf38.len, now, &info, ch, &resp, &detail),
        RSP_OK);

    der_w_free(&s.bf38);
    rsp_eum_cache_free(eums);
    rsp_arena_free(a);
    euicc_free(e);
}

/* Finds the 5F37 40 of euiccSignature1 (right after euiccSigned1 inside A0). */
static uint8_t *signature1(uint8_t *bf38, size_t len)
{
    der_tlv t, a0, s1;
    if (der_parse_exact(bf38, len, &t) != 0)
        return NULL;
    der_reader r;
    der_reader_of(&r, &t);
    if (der_next(&r, &a0) != 0)
        return NULL;
    der_reader_of(&r, &a0);
    if (der_next(&r, &s1) != 0)
        return NULL;
    uint8_t *p = (uint8_t *)s1.raw + s1.raw_len;
    return p[0] == 0x5F && p[1] == 0x37 && p[2] == 0x40 ? p + 3 : NULL;
}

static void test_bad_inputs(void)
{
    euicc *e = new_euicc();
    rsp_arena *a = rsp_arena_new(1 << 20);
    session s;
    UT_EQ(run_session(e, a, ADDRESS, NULL, &s), 0);
    rsp_txn_info info;
    uint8_t ch[RSP_TXN_CHALLENGE_LEN];
    sgp22_auth_server_resp resp;
    const char *detail;
    time_t now = time(NULL);

    /* an expired transaction */
    UT_EQ(rsp_auth_open(&kr, 300, s.tid, sizeof(s.tid), s.bf38.buf, s.bf38.len, now + 301, &info, ch, &resp,
                        &detail),
          RSP_ST_TRANSACTION_UNKNOWN);
    /* a forged or altered transactionId fails its tag before the response is even decoded */
    uint8_t forged[RSP_TXN_ID_LEN];
    memcpy(forged, s.tid, sizeof(forged));
    forged[5] ^= 0x40; /* a later expiry */
    UT_EQ(rsp_auth_open(&kr, 300, forged, sizeof(forged), (const uint8_t *)"", 0, now, &info, ch, &resp,
                        &detail),
          RSP_ST_TRANSACTION_UNKNOWN);
    UT_CHECK(strcmp(detail, rsp_txn_strerror(RSP_TXN_ETAG)) == 0);
    /* a genuine id under a lower ttl than it was issued with: its expiry is too far */
    UT_EQ(
        rsp_auth_open(&kr, 60, s.tid, sizeof(s.tid), s.bf38.buf, s.bf38.len, now, &info, ch, &resp, &detail),
        RSP_ST_TRANSACTION_UNKNOWN);
    /* a transactionId of another format */
    UT_EQ(rsp_auth_open(&kr, 300, s.tid, 8, s.bf38.buf, s.bf38.len, now, &info, ch, &resp, &detail),
          RSP_ST_TRANSACTION_UNKNOWN);
    /* a truncated response; the transaction stays usable */
    UT_EQ(rsp_auth_open(&kr, 300, s.tid, sizeof(s.tid), s.bf38.buf, s.bf38.len - 1, now, &info, ch, &resp,
                        &detail),
          RSP_ST_INVALID_FIELD);
    /* a damaged euiccSignature1 */
    uint8_t *sig = signature1(s.bf38.buf, s.bf38.len);
    UT_CHECK(sig != NULL);
    if (sig) {
        sig[10] ^= 0x01;
        UT_EQ(rsp_auth_open(&kr, 300, s.tid, sizeof(s.tid), s.bf38.buf, s.bf38.len, now, &info, ch, &resp,
                            &detail),
              RSP_OK);
        rsp_euicc_identity id;
        char buf[160];
        UT_EQ(rsp_auth_verify(cis, NULL, &info, ch, s.tid, sizeof(s.tid), &resp.ok, ADDRESS,
                              RSP_ST_SMDP_ADDRESS_INVALID, now, &id, buf, sizeof(buf), &detail),
              RSP_ST_EUICC_SIG_INVALID);
    }
    /* an authenticateResponseError */
    der_writer w;
    der_w_init(&w);
    der_w_begin(&w, 0xBF38);
    der_w_begin(&w, 0xA1);
    der_w_tlv(&w, 0x80, s.tid, sizeof(s.tid));
    der_w_int(&w, 0x02, 2);
    der_w_end(&w);
    der_w_end(&w);
    UT_EQ(der_w_finish(&w), 0);
    uint8_t tid2[RSP_TXN_ID_LEN], ch2[RSP_TXN_CHALLENGE_LEN];
    UT_EQ(rsp_txn_new(&kr, 0, 300, now, tid2, ch2), 0);
    UT_EQ(rsp_auth_open(&kr, 300, tid2, sizeof(tid2), w.buf, w.len, now, &info, ch, &resp, &detail),
          RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(detail, "authenticateResponseError") == 0);
    der_w_free(&w);
    UT_CHECK(rsp_auth_same_address("a.example", (const uint8_t *)"A.EXAMPLE", 9));
    UT_CHECK(!rsp_auth_same_address("a.example", (const uint8_t *)"a.example.", 10));
    UT_CHECK(!rsp_auth_same_address(NULL, (const uint8_t *)"", 0));
    /* the default HTTPS port names the same server; another port or a bare colon does not */
    UT_CHECK(rsp_auth_same_address("a.example", (const uint8_t *)"A.example:443", 13));
    UT_CHECK(!rsp_auth_same_address("a.example", (const uint8_t *)"a.example:8443", 14));
    UT_CHECK(!rsp_auth_same_address("a.example", (const uint8_t *)"a.example:", 10));
    UT_CHECK(!rsp_auth_same_address("a.example", (const uint8_t *)"b.example:443", 13));

    der_w_free(&s.bf38);
    rsp_arena_free(a);
    euicc_free(e);
}

int main(void)
{
    if (mint(PKI_CI, NULL, &ci) || mint(PKI_EUM, &ci, &eum) || mint(PKI_EUICC, &eum, &euicc_cred) ||
        mint(PKI_DP_AUTH, &ci, &auth) || mint(PKI_CI, NULL, &other_ci) ||
        mint(PKI_DP_AUTH, &other_ci, &other_auth)) {
        fprintf(stderr, "cannot mint the test PKI: %s\n", pki_last_error());
        return 1;
    }
    cis = rsp_ci_store_new();
    if (!cis || rsp_ci_store_add(cis, ci.cert) || rsp_ci_store_add(cis, other_ci.cert))
        return 1;
    uint8_t secret[RSP_TXN_SECRET_LEN] = {1, 2, 3};
    memset(&kr, 0, sizeof(kr));
    rsp_txn_keyring_set(&kr, 0, secret);

    UT_RUN(test_svn);
    UT_RUN(test_choose);
    UT_RUN(test_verify_ok_and_replay);
    UT_RUN(test_bad_inputs);

    rsp_ci_store_free(cis);
    pki_cred_clear(&ci);
    pki_cred_clear(&eum);
    pki_cred_clear(&euicc_cred);
    pki_cred_clear(&auth);
    pki_cred_clear(&other_ci);
    pki_cred_clear(&other_auth);
    return ut_finish();
}
