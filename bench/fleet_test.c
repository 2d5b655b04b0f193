#include "bench/fleet.h"

#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "asn1/sgp22.h"
#include "rsp/sig.h"
#include "tests/unit/ut.h"
#include "tools/lpasim/lpa.h"

#define ADDRESS "testsmds.example.com"

typedef struct pki_set {
    pki_cred ci, eum, auth;
} pki_set;

static void set_make(pki_set *s, pki_curve curve)
{
    pki_opts o;
    memset(s, 0, sizeof(*s));
    pki_opts_init(&o, PKI_CI);
    o.curve = curve;
    UT_EQ(pki_mint(&o, NULL, &s->ci), 0);
    pki_opts_init(&o, PKI_EUM);
    o.curve = curve;
    UT_EQ(pki_mint(&o, &s->ci, &s->eum), 0);
    pki_opts_init(&o, PKI_DS_AUTH);
    o.curve = curve;
    o.fqdn = ADDRESS;
    UT_EQ(pki_mint(&o, &s->ci, &s->auth), 0);
}

static void set_clear(pki_set *s)
{
    pki_cred_clear(&s->ci);
    pki_cred_clear(&s->eum);
    pki_cred_clear(&s->auth);
}

/* serverSigned1 + AuthenticateServerRequest as an SM-DS would send them. */
static void server_side(const pki_set *s, const uint8_t challenge[16], der_writer *signed1, der_writer *req,
                        const uint8_t *ctx, size_t ctx_len)
{
    uint8_t tid[16], sch[16];
    RAND_bytes(tid, sizeof(tid));
    RAND_bytes(sch, sizeof(sch));
    sgp22_server_signed1 ss;
    memset(&ss, 0, sizeof(ss));
    ss.transaction_id = SGP22_BYTES(tid, sizeof(tid));
    ss.euicc_challenge = SGP22_BYTES(challenge, 16);
    ss.server_address = SGP22_BYTES(ADDRESS, strlen(ADDRESS));
    ss.server_challenge = SGP22_BYTES(sch, sizeof(sch));
    UT_EQ(sgp22_server_signed1_encode(signed1, &ss), 0);
    UT_EQ(der_w_finish(signed1), 0);
    uint8_t sig[RSP_SIG_LEN];
    UT_EQ(rsp_sig_sign(s->auth.key, signed1->buf, signed1->len, sig), 0);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(s->ci.cert);
    uint8_t *cert = NULL;
    int cert_len = i2d_X509(s->auth.cert, &cert);
    der_w_begin(req, 0xBF38);
    der_w_raw(req, signed1->buf, signed1->len);
    der_w_tlv(req, 0x5F37, sig, sizeof(sig));
    der_w_tlv(req, 0x04, ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
    der_w_raw(req, cert, (size_t)cert_len);
    der_w_raw(req, ctx, ctx_len);
    der_w_end(req);
    UT_EQ(der_w_finish(req), 0);
    OPENSSL_free(cert);
}

static void fleet_for(pki_curve curve)
{
    pki_set nist, bp;
    set_make(&nist, PKI_CURVE_NIST);
    set_make(&bp, PKI_CURVE_BRAINPOOL);
    const pki_set *mine = curve == PKI_CURVE_NIST ? &nist : &bp;
    X509 *cis[2] = {nist.ci.cert, bp.ci.cert};
    uint64_t numbers[5] = {0, 7, 1000, 123456789, 42};
    fleet f;
    char err[256];
    UT_EQ(fleet_mint(&f, &mine->eum, cis, 2, PKI_SGP26_EID_PREFIX, numbers, 5, 2, err, sizeof(err)), 0);
    UT_EQ(f.n, 5);
    UT_EQ(f.curve, curve);
    for (size_t i = 0; i < f.n; i++) {
        char want[PKI_EID_LEN + 1];
        UT_EQ(pki_eid_make(PKI_SGP26_EID_PREFIX, numbers[i], want), 0);
        UT_CHECK(strcmp(f.dev[i].eid, want) == 0);
        UT_CHECK(strcmp(euicc_eid(f.dev[i].e), want) == 0);
        UT_CHECK(pki_eid_valid(f.dev[i].eid));
        UT_CHECK(f.dev[i].info1_len > 0 && f.dev[i].info1[0] == 0xBF && f.dev[i].info1[1] == 0x20);
        UT_CHECK(f.dev[i].info2_len > 0 && f.dev[i].info2[0] == 0xBF && f.dev[i].info2[1] == 0x22);
    }

    lpa_opts lo;
    memset(&lo, 0, sizeof(lo));
    der_writer ctx;
    der_w_init(&ctx);
    UT_EQ(lpa_build_ctx_params1(&lo, NULL, &ctx), 0);
    UT_EQ(der_w_finish(&ctx), 0);

    /* The full eUICC check and the fast path sign the same euiccSigned1. */
    fleet_dev *d = &f.dev[3];
    uint8_t ch[16];
    UT_EQ(euicc_get_challenge(d->e, ch), 0);
    der_writer signed1, req, full, fast;
    der_w_init(&signed1);
    der_w_init(&req);
    der_w_init(&full);
    der_w_init(&fast);
    server_side(mine, ch, &signed1, &req, ctx.buf, ctx.len);
    euicc_error e;
    UT_EQ(euicc_authenticate_server(d->e, req.buf, req.len, ADDRESS, &full, &e), EUICC_OK);
    UT_EQ(fleet_auth_response(d, ch, signed1.buf, signed1.len, ctx.buf, ctx.len, &fast), 0);
    sgp22_auth_server_resp a, b;
    UT_EQ(sgp22_auth_server_resp_decode(full.buf, full.len, &a), 0);
    UT_EQ(sgp22_auth_server_resp_decode(fast.buf, fast.len, &b), 0);
    UT_CHECK(a.is_ok && b.is_ok);
    UT_EQ(a.ok.euicc_signed1.raw.raw_len, b.ok.euicc_signed1.raw.raw_len);
    UT_CHECK(memcmp(a.ok.euicc_signed1.raw.raw, b.ok.euicc_signed1.raw.raw, a.ok.euicc_signed1.raw.raw_len) ==
             0);
    UT_EQ(a.ok.euicc_certificate.raw_len, b.ok.euicc_certificate.raw_len);
    UT_CHECK(memcmp(a.ok.euicc_certificate.raw, b.ok.euicc_certificate.raw, a.ok.euicc_certificate.raw_len) ==
             0);
    UT_EQ(a.ok.eum_certificate.raw_len, b.ok.eum_certificate.raw_len);
    UT_CHECK(memcmp(a.ok.eum_certificate.raw, b.ok.eum_certificate.raw, a.ok.eum_certificate.raw_len) == 0);
    UT_EQ(full.len, fast.len);
    UT_EQ(rsp_sig_verify(X509_get0_pubkey(euicc_certificate(d->e)), b.ok.euicc_signed1.raw.raw,
                         b.ok.euicc_signed1.raw.raw_len, b.ok.euicc_signature1.p, b.ok.euicc_signature1.len),
          0);

    /* serverSigned1 echoing another challenge, or not parsing, is refused. */
    der_writer bad;
    der_w_init(&bad);
    ch[0] ^= 1;
    UT_EQ(fleet_auth_response(d, ch, signed1.buf, signed1.len, ctx.buf, ctx.len, &bad), -1);
    ch[0] ^= 1;
    UT_EQ(fleet_auth_response(d, ch, signed1.buf, signed1.len - 1, ctx.buf, ctx.len, &bad), -1);
    der_w_free(&bad);

    der_w_free(&signed1);
    der_w_free(&req);
    der_w_free(&full);
    der_w_free(&fast);
    der_w_free(&ctx);
    fleet_free(&f);
    UT_CHECK(f.dev == NULL && f.n == 0);
    set_clear(&nist);
    set_clear(&bp);
}

static void test_nist(void)
{
    fleet_for(PKI_CURVE_NIST);
}

static void test_brainpool(void)
{
    fleet_for(PKI_CURVE_BRAINPOOL);
}

static void test_bad_prefix(void)
{
    pki_set s;
    set_make(&s, PKI_CURVE_NIST);
    X509 *cis[1] = {s.ci.cert};
    uint64_t numbers[2] = {10, 11};
    fleet f;
    char err[256] = "";
    /* 29 digits leave no room for the number. */
    UT_EQ(fleet_mint(&f, &s.eum, cis, 1, "12345678901234567890123456789", numbers, 2, 1, err, sizeof(err)),
          -1);
    UT_CHECK(err[0] != 0);
    UT_CHECK(f.dev == NULL);
    set_clear(&s);
}

int main(void)
{
    UT_RUN(test_nist);
    UT_RUN(test_brainpool);
    UT_RUN(test_bad_prefix);
    return ut_finish();
}
