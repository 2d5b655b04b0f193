#include "rsp/sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "tests/unit/ut.h"

static const uint8_t msg[] = "euiccSigned1 stand-in: any bytes the peer signed";

static EVP_PKEY *gen(const char *curve)
{
    return EVP_EC_gen(curve);
}

static EVP_PKEY *pem_pub(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    return k;
}

static void sign_verify_curve(const char *curve, int want)
{
    EVP_PKEY *k = gen(curve);
    UT_CHECK(k != NULL);
    UT_EQ(rsp_sig_key_curve(k), want);
    /* the name is the one OpenSSL gives the key's group */
    char group[64];
    size_t glen;
    UT_CHECK(EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) == 1 &&
             strcmp(group, rsp_sig_curve_name(want)) == 0);
    uint8_t sig[RSP_SIG_LEN];
    UT_EQ(rsp_sig_sign(k, msg, sizeof(msg), sig), 0);
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), sig, sizeof(sig)), 0);

    /* tampered message */
    uint8_t m2[sizeof(msg)];
    memcpy(m2, msg, sizeof(msg));
    m2[3] ^= 1;
    UT_EQ(rsp_sig_verify(k, m2, sizeof(m2), sig, sizeof(sig)), -1);
    /* tampered signature, in r and in s */
    uint8_t bad[RSP_SIG_LEN];
    memcpy(bad, sig, sizeof(bad));
    bad[5] ^= 0x10;
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), bad, sizeof(bad)), -1);
    memcpy(bad, sig, sizeof(bad));
    bad[40] ^= 0x01;
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), bad, sizeof(bad)), -1);
    /* wrong lengths */
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), sig, 63), -1);
    uint8_t longer[RSP_SIG_LEN + 1] = {0};
    memcpy(longer, sig, RSP_SIG_LEN);
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), longer, sizeof(longer)), -1);
    /* a different key */
    EVP_PKEY *other = gen(curve);
    UT_EQ(rsp_sig_verify(other, msg, sizeof(msg), sig, sizeof(sig)), -1);
    EVP_PKEY_free(other);

    /* the two-part form equals the one-shot form over the concatenation */
    UT_EQ(rsp_sig_verify2(k, msg, 10, msg + 10, sizeof(msg) - 10, sig, sizeof(sig)), 0);
    UT_EQ(rsp_sig_verify2(k, msg, 10, msg + 11, sizeof(msg) - 11, sig, sizeof(sig)), -1);
    uint8_t sig2[RSP_SIG_LEN];
    UT_EQ(rsp_sig_sign2(k, msg, 7, msg + 7, sizeof(msg) - 7, sig2), 0);
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), sig2, sizeof(sig2)), 0);
    UT_EQ(rsp_sig_verify2(k, msg, sizeof(msg), NULL, 0, sig2, sizeof(sig2)), 0);
    UT_EQ(rsp_sig_verify2(k, msg, sizeof(msg), NULL, 1, sig2, sizeof(sig2)), -1);
    EVP_PKEY_free(k);
}

static void test_sign_verify_p256(void)
{
    sign_verify_curve("P-256", RSP_CURVE_P256);
}

static void test_sign_verify_brainpool(void)
{
    sign_verify_curve("brainpoolP256r1", RSP_CURVE_BP256);
}

static void test_other_curves_refused(void)
{
    EVP_PKEY *k = gen("P-384");
    UT_CHECK(k != NULL);
    UT_EQ(rsp_sig_key_curve(k), -1);
    uint8_t sig[RSP_SIG_LEN];
    UT_EQ(rsp_sig_sign(k, msg, sizeof(msg), sig), -1);
    EVP_PKEY_free(k);
    UT_EQ(rsp_sig_key_curve(NULL), -1);
    UT_CHECK(rsp_sig_curve_name(-1) == NULL && rsp_sig_curve_name(2) == NULL);
    EVP_PKEY *p = gen("P-256");
    UT_EQ(rsp_sig_sign(p, msg, sizeof(msg), sig), 0);
    /* a P-256 signature checked with a brainpool key fails */
    EVP_PKEY *b = gen("brainpoolP256r1");
    UT_EQ(rsp_sig_verify(b, msg, sizeof(msg), sig, sizeof(sig)), -1);
    EVP_PKEY_free(b);
    EVP_PKEY_free(p);
}

static void test_range_checks(void)
{
    EVP_PKEY *k = gen("P-256");
    uint8_t sig[RSP_SIG_LEN];
    UT_EQ(rsp_sig_sign(k, msg, sizeof(msg), sig), 0);
    /* r = 0 */
    uint8_t bad[RSP_SIG_LEN];
    memcpy(bad, sig, sizeof(bad));
    memset(bad, 0, 32);
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), bad, sizeof(bad)), -1);
    /* s = n (the P-256 order) and s = 0xff..ff */
    static const char *n_hex = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    size_t nl;
    uint8_t *n = ut_hex(n_hex, &nl);
    memcpy(bad, sig, sizeof(bad));
    memcpy(bad + 32, n, 32);
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), bad, sizeof(bad)), -1);
    memset(bad + 32, 0xff, 32);
    UT_EQ(rsp_sig_verify(k, msg, sizeof(msg), bad, sizeof(bad)), -1);
    free(n);
    EVP_PKEY_free(k);
}

static void test_der_round_trip(void)
{
    EVP_PKEY *k = gen("P-256");
    for (int i = 0; i < 50; i++) {
        uint8_t sig[RSP_SIG_LEN], back[RSP_SIG_LEN];
        UT_EQ(rsp_sig_sign(k, msg, sizeof(msg), sig), 0);
        uint8_t *der = NULL;
        size_t dlen = 0;
        UT_EQ(rsp_sig_raw_to_der(sig, &der, &dlen), 0);
        UT_CHECK(dlen >= 8 && dlen <= 72);
        UT_EQ(rsp_sig_der_to_raw(der, dlen, back), 0);
        UT_CHECK(memcmp(sig, back, sizeof(sig)) == 0);
        OPENSSL_free(der);
    }
    /* small values: r = 1, s = 0x80 (needs a leading zero) */
    uint8_t raw[RSP_SIG_LEN] = {0};
    raw[31] = 1;
    raw[63] = 0x80;
    uint8_t *der = NULL;
    size_t dlen = 0;
    UT_EQ(rsp_sig_raw_to_der(raw, &der, &dlen), 0);
    static const uint8_t want[] = {0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80};
    UT_EQ(dlen, sizeof(want));
    UT_CHECK(memcmp(der, want, sizeof(want)) == 0);
    OPENSSL_free(der);
    uint8_t zero[RSP_SIG_LEN] = {0};
    zero[31] = 1;
    UT_EQ(rsp_sig_raw_to_der(zero, &der, &dlen), -1); /* s = 0 */
    EVP_PKEY_free(k);
}

static void test_der_strict(void)
{
    uint8_t out[RSP_SIG_LEN];
    struct {
        const char *hex;
        int rc;
    } cases[] = {
        {"3006020101020101", 0},
        {"300602010102010100", -1},   /* trailing byte */
        {"3007020101020101", -1},     /* outer length too long */
        {"3106020101020101", -1},     /* wrong tag */
        {"308106020101020101", -1},   /* long-form length */
        {"30080201010203000101", -1}, /* s longer than the SEQUENCE */
        {"30060201010201", -1},       /* truncated s */
        {"300702010102020001", -1},   /* superfluous leading zero */
        {"3006020100020101", -1},     /* r = 0 */
        {"3006020181020101", -1},     /* negative r */
        {"30050201010200", -1},       /* empty INTEGER */
        {"3006020101030101", -1},     /* s not an INTEGER */
        {"30030201010000", -1},       /* missing s */
        {"", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n;
        uint8_t *d = ut_hex(cases[i].hex, &n);
        int rc = rsp_sig_der_to_raw(d, n, out);
        if (rc != cases[i].rc)
            fprintf(stderr, "    case %zu (%s)\n", i, cases[i].hex);
        UT_EQ(rc, cases[i].rc);
        free(d);
    }
    /* 33-byte magnitude (r over 32 bytes) */
    uint8_t big[2 + 2 + 34 + 3] = {0x30, 2 + 34 + 3, 0x02, 34, 0x00};
    memset(big + 5, 0xff, 33);
    big[2 + 2 + 34] = 0x02;
    big[2 + 2 + 34 + 1] = 0x01;
    big[2 + 2 + 34 + 2] = 0x01;
    UT_EQ(rsp_sig_der_to_raw(big, sizeof(big), out), -1);
    /* 32 bytes with the top bit set plus its leading zero is fine */
    uint8_t ok[2 + 2 + 33 + 3] = {0x30, 2 + 33 + 3, 0x02, 33, 0x00};
    memset(ok + 5, 0xff, 32);
    ok[2 + 2 + 33] = 0x02;
    ok[2 + 2 + 33 + 1] = 0x01;
    ok[2 + 2 + 33 + 2] = 0x01;
    UT_EQ(rsp_sig_der_to_raw(ok, sizeof(ok), out), 0);
    UT_EQ(out[0], 0xff);
    UT_EQ(out[63], 0x01);
}

/* Made with: openssl ecparam -genkey; openssl dgst -sha256 -sign key msg */
static const char cli_msg[] = "TR-03111 vector from the openssl CLI";
static const struct {
    const char *pub;
    const char *der_sig;
} cli[] = {
    {"-----BEGIN PUBLIC KEY-----\n"
     "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEW+PDjH9NF+voP51UhkgHk8PC0epx\n"
     "XFtJBOAArsXfZHr1kka3KLacXjuQ22L45gcpGSKMj9IAUjfGa9EG/yw05g==\n"
     "-----END PUBLIC KEY-----\n",
     "304502203c8ddde78b37fe3d77eb45bef4f95afd0dcef43a18f624ab3a8c711b297cbf56022100b9d3e99b1bb9de237bedcdd0c"
     "b"
     "31067dd092aba9c1595b407d65461194dff734"},
    {"-----BEGIN PUBLIC KEY-----\n"
     "MFowFAYHKoZIzj0CAQYJKyQDAwIIAQEHA0IABIBgFBZIgwglUFAnx6j8jlYOrdbF\n"
     "E7WfRsHxmj1+Mj0IMIYbfen2cvdJRSLWTW4jZfQWJtEQ34uS8HLCHQ/YNWk=\n"
     "-----END PUBLIC KEY-----\n",
     "304402202e7d95ec5d8d97255c012afd264b8c9503faaf622c67c7340925e40e4e01ce4102204914f7a4c28a06826479024bdd"
     "26f4b666f4590f9fdaf3c081c96468210d0676"},
};

static void test_openssl_cli_vectors(void)
{
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *pub = pem_pub(cli[i].pub);
        UT_CHECK(pub != NULL);
        UT_EQ(rsp_sig_key_curve(pub), (int)i);
        size_t dl;
        uint8_t *der = ut_hex(cli[i].der_sig, &dl);
        uint8_t raw[RSP_SIG_LEN];
        UT_EQ(rsp_sig_der_to_raw(der, dl, raw), 0);
        UT_EQ(rsp_sig_verify(pub, (const uint8_t *)cli_msg, strlen(cli_msg), raw, sizeof(raw)), 0);
        UT_EQ(rsp_sig_verify(pub, (const uint8_t *)cli_msg, strlen(cli_msg) - 1, raw, sizeof(raw)), -1);
        /* and back to the same DER */
        uint8_t *again = NULL;
        size_t al = 0;
        UT_EQ(rsp_sig_raw_to_der(raw, &again, &al), 0);
        UT_EQ(al, dl);
        UT_CHECK(al == dl && memcmp(again, der, dl) == 0);
        OPENSSL_free(again);
        free(der);
        EVP_PKEY_free(pub);
    }
}

/* The SGP.26 eUICC key pairs: sign with SK.EUICC, verify with the key in the
 * certificate. */
static void test_sgp26_keys(void)
{
    const char *dir = ut_shared_dir("sgp26 eUICC keys");
    if (!dir)
        return;
    const char *curves[] = {"NIST", "BRP"};
    for (int i = 0; i < 2; i++) {
        char p[1024];
        snprintf(p, sizeof(p), "%s/pki/sgp26/eUICC/SK_EUICC_ECDSA_%s.pem", dir, curves[i]);
        FILE *f = fopen(p, "r");
        UT_CHECK(f != NULL);
        if (!f)
            continue;
        EVP_PKEY *sk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        snprintf(p, sizeof(p), "%s/pki/sgp26/eUICC/CERT_EUICC_ECDSA_%s.der", dir, curves[i]);
        size_t n;
        uint8_t *der = ut_read_file(p, &n);
        UT_CHECK(der != NULL);
        const uint8_t *q = der;
        X509 *x = d2i_X509(NULL, &q, (long)n);
        UT_CHECK(sk != NULL && x != NULL);
        if (sk && x) {
            EVP_PKEY *pub = X509_get0_pubkey(x);
            UT_EQ(rsp_sig_key_curve(pub), i);
            uint8_t sig[RSP_SIG_LEN];
            UT_EQ(rsp_sig_sign(sk, msg, sizeof(msg), sig), 0);
            UT_EQ(rsp_sig_verify(pub, msg, sizeof(msg), sig, sizeof(sig)), 0);
            sig[0] ^= 0x80;
            UT_EQ(rsp_sig_verify(pub, msg, sizeof(msg), sig, sizeof(sig)), -1);
        }
        X509_free(x);
        free(der);
        EVP_PKEY_free(sk);
    }
}

int main(void)
{
    UT_RUN(test_sign_verify_p256);
    UT_RUN(test_sign_verify_brainpool);
    UT_RUN(test_other_curves_refused);
    UT_RUN(test_range_checks);
    UT_RUN(test_der_round_trip);
    UT_RUN(test_der_strict);
    UT_RUN(test_openssl_cli_vectors);
    UT_RUN(test_sgp26_keys);
    return ut_finish();
}
