#include "bench/floor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/obj_mac.h>

#include "tests/unit/ut.h"
#include "tools/pki/pki.h"

static const floor_cfg quick = {0.01, 1};

static int count_calls(void *arg)
{
    (*(long *)arg)++;
    return 0;
}

static int fail_third(void *arg)
{
    return ++*(long *)arg >= 3 ? -1 : 0;
}

static void test_measure(void)
{
    long n = 0;
    double us = -1;
    UT_EQ(floor_measure(&quick, count_calls, &n, &us), 0);
    UT_CHECK(n > 4);
    UT_CHECK(us > 0 && us < 1000);
    n = 0;
    UT_EQ(floor_measure(&quick, fail_third, &n, &us), -1);
}

static void test_groups(void)
{
    UT_CHECK(strcmp(floor_group_name(NID_X25519), "X25519") == 0);
    UT_CHECK(strcmp(floor_group_name(NID_X9_62_prime256v1), "P-256") == 0);
    UT_CHECK(floor_group_name(NID_sha256) == NULL);
    double us = 0;
    UT_EQ(floor_key_agreement(&quick, "X25519", &us), 0);
    UT_CHECK(us > 1);
    UT_EQ(floor_key_agreement(&quick, "P-256", &us), 0);
    UT_CHECK(us > 1);
    UT_EQ(floor_key_agreement(&quick, "prime256v1", &us), 0);
    UT_EQ(floor_key_agreement(&quick, "no-such-group", &us), -1);
    UT_EQ(floor_key_agreement(&quick, NULL, &us), -1);
}

static void test_handshake(void)
{
    pki_opts o;
    pki_cred ci = {0}, tls = {0};
    pki_opts_init(&o, PKI_CI);
    UT_EQ(pki_mint(&o, NULL, &ci), 0);
    pki_opts_init(&o, PKI_DS_TLS);
    UT_EQ(pki_mint(&o, &ci, &tls), 0);
    const char *t = getenv("TEST_TMPDIR");
    char cert[600], key[600];
    snprintf(cert, sizeof(cert), "%s/tls.pem", t ? t : "/tmp");
    snprintf(key, sizeof(key), "%s/tls.key.pem", t ? t : "/tmp");
    UT_EQ(pki_write_cert_pem(cert, tls.cert), 0);
    UT_EQ(pki_write_key_pem(key, tls.key), 0);
    double us = 0;
    UT_EQ(floor_tls_handshake(&quick, cert, key, &us), 0);
    UT_CHECK(us > 10);
    printf("    TLS 1.3 server handshake alone: %.1f us\n", us);
    /* The key of another certificate: no handshake. */
    pki_cred other = {0};
    UT_EQ(pki_mint(&o, &ci, &other), 0);
    UT_EQ(pki_write_key_pem(key, other.key), 0);
    UT_EQ(floor_tls_handshake(&quick, cert, key, &us), -1);
    pki_cred_clear(&other);
    pki_cred_clear(&ci);
    pki_cred_clear(&tls);
}

static void es11_for(pki_curve curve)
{
    pki_opts o;
    pki_cred ci = {0}, eum = {0}, euicc = {0}, auth = {0}, tls = {0};
    pki_opts_init(&o, PKI_CI);
    o.curve = curve;
    UT_EQ(pki_mint(&o, NULL, &ci), 0);
    pki_opts_init(&o, PKI_EUM);
    o.curve = curve;
    UT_EQ(pki_mint(&o, &ci, &eum), 0);
    pki_opts_init(&o, PKI_EUICC);
    o.curve = curve;
    UT_EQ(pki_mint(&o, &eum, &euicc), 0);
    pki_opts_init(&o, PKI_DS_AUTH);
    o.curve = curve;
    UT_EQ(pki_mint(&o, &ci, &auth), 0);
    pki_opts_init(&o, PKI_DS_TLS);
    UT_EQ(pki_mint(&o, &ci, &tls), 0);

    floor_es11_in in = {
        .tls_key = tls.key,
        .group = "X25519",
        .auth_key = auth.key,
        .euicc_cert = euicc.cert,
        .eum_pub = X509_get0_pubkey(eum.cert),
        .euicc_key = euicc.key,
        .signed1_len = 90,
        .euicc_signed1_len = 160,
    };
    floor_es11 f;
    UT_EQ(floor_es11_measure(&quick, &in, &f), 0);
    UT_CHECK(f.tls_sign_us > 0 && f.key_agreement_us > 0 && f.sign1_us > 0);
    UT_CHECK(f.verify_cert_us > 0 && f.verify_sig_us > 0);
    UT_CHECK(f.handshake_us == f.tls_sign_us + f.key_agreement_us);
    UT_CHECK(f.app_us == f.sign1_us + f.verify_cert_us + f.verify_sig_us);
    UT_CHECK(f.fresh_us == f.handshake_us + f.app_us);
    printf("    %s: tls sign %.1f, kex %.1f, sign1 %.1f, cert %.1f, sig %.1f us\n", pki_curve_name(curve),
           f.tls_sign_us, f.key_agreement_us, f.sign1_us, f.verify_cert_us, f.verify_sig_us);

    double us;
    uint8_t *der = NULL;
    int dl = i2d_X509(euicc.cert, &der);
    UT_EQ(floor_cert_parse(&quick, der, (size_t)dl, &us), 0);
    UT_CHECK(us > 0);
    UT_EQ(floor_cert_parse(&quick, der, (size_t)dl - 1, &us), -1);
    OPENSSL_free(der);
    /* A certificate checked against the wrong key fails the measurement. */
    UT_EQ(floor_cert_verify(&quick, euicc.cert, X509_get0_pubkey(ci.cert), &us), -1);
    /* A verification against another key fails too. */
    UT_EQ(floor_app_verify(&quick, euicc.key, X509_get0_pubkey(auth.cert), 32, &us), -1);
    in.group = "bogus";
    UT_EQ(floor_es11_measure(&quick, &in, &f), -1);

    floor_es9_in in9 = {
        .tls_key = tls.key,
        .group = "X25519",
        .auth_key = auth.key,
        .pb_key = auth.key,
        .ecka = curve == PKI_CURVE_NIST ? "P-256" : "brainpoolP256r1",
        .euicc_cert = euicc.cert,
        .eum_pub = X509_get0_pubkey(eum.cert),
        .euicc_key = euicc.key,
    };
    floor_es9 f9;
    UT_EQ(floor_es9_measure(&quick, &in9, &f9), 0);
    UT_CHECK(f9.ecka_us > 0 && f9.pb_sign_us > 0 && f9.verify_sig_us > 0);
    double sum = f9.tls_sign_us + f9.key_agreement_us + f9.auth_sign_us + 2 * f9.pb_sign_us +
                 f9.verify_cert_us + 3 * f9.verify_sig_us + f9.ecka_us;
    UT_CHECK(f9.total_us > sum - 0.001 && f9.total_us < sum + 0.001);
    in9.ecka = "P-999";
    UT_EQ(floor_es9_measure(&quick, &in9, &f9), -1);

    pki_cred_clear(&ci);
    pki_cred_clear(&eum);
    pki_cred_clear(&euicc);
    pki_cred_clear(&auth);
    pki_cred_clear(&tls);
}

static void test_es11_nist(void)
{
    es11_for(PKI_CURVE_NIST);
}

static void test_es11_brainpool(void)
{
    es11_for(PKI_CURVE_BRAINPOOL);
}

int main(void)
{
    UT_RUN(test_measure);
    UT_RUN(test_groups);
    UT_RUN(test_handshake);
    UT_RUN(test_es11_nist);
    UT_RUN(test_es11_brainpool);
    return ut_finish();
}
