#include "tools/pki/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "tests/unit/ut.h"

#define SGP26_EID PKI_SGP26_EID

/* ---- helpers ---- */

/* The single policy OID of x (dotted) and the extension's criticality;
 * returns the number of policies, -1 without the extension. */
static int policy_of(X509 *x, char *oid, size_t cap, int *critical)
{
    int crit = -1;
    CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
    if (!cp)
        return -1;
    int n = sk_POLICYINFO_num(cp);
    if (n > 0)
        OBJ_obj2txt(oid, (int)cap, sk_POLICYINFO_value(cp, 0)->policyid, 1);
    *critical = crit;
    sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
    return n;
}

static int ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static bool has_rid(X509 *x, const char *rid)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char buf[64];
        if (g->type == GEN_RID && OBJ_obj2txt(buf, sizeof(buf), g->d.registeredID, 1) > 0 &&
            strcmp(buf, rid) == 0)
            found = true;
    }
    GENERAL_NAMES_free(gens);
    return found;
}

static bool signed_by(X509 *x, X509 *issuer)
{
    bool ok = X509_verify(x, X509_get0_pubkey(issuer)) == 1;
    ERR_clear_error();
    return ok;
}

static bool aki_is_ski_of(X509 *x, X509 *issuer)
{
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    return aki && ski && ASN1_OCTET_STRING_cmp(aki, ski) == 0;
}

static int year_of(const ASN1_TIME *t)
{
    struct tm tm;
    return ASN1_TIME_to_tm(t, &tm) ? tm.tm_year + 1900 : -1;
}

static int mint(pki_kind kind, pki_curve curve, const pki_cred *issuer, unsigned defects, pki_cred *out)
{
    pki_opts o;
    pki_opts_init(&o, kind);
    o.curve = curve;
    o.loopback = true;
    o.defects = defects;
    int rc = pki_mint(&o, issuer, out);
    if (rc != 0)
        fprintf(stderr, "    mint %s: %s\n", pki_kind_name(kind), pki_last_error());
    return rc;
}

/* ---- EID ---- */

static void test_eid(void)
{
    char out[PKI_EID_LEN + 1];
    UT_CHECK(pki_eid_valid(SGP26_EID));
    UT_CHECK(!pki_eid_valid("89049032123451234512345678901234"));
    UT_CHECK(!pki_eid_valid("8904903212345123451234567890123"));
    UT_CHECK(!pki_eid_valid("8904903212345123451234567890123A"));
    UT_CHECK(!pki_eid_valid(NULL));

    UT_EQ(pki_eid_complete("890490321234512345123456789012", out), 0);
    UT_CHECK(strcmp(out, SGP26_EID) == 0);
    UT_EQ(pki_eid_complete("89049032123451234512345678901299", out), 0);
    UT_CHECK(strcmp(out, SGP26_EID) == 0);
    UT_EQ(pki_eid_complete("1234", out), -1);

    /* The sgp26-invalid "UNMATCHED" EID ...901299 has wrong check digits. */
    UT_CHECK(!pki_eid_valid("89049032123451234512345678901299"));

    for (uint64_t n = 0; n < 2000; n += 37) {
        UT_EQ(pki_eid_make("89049032", n, out), 0);
        UT_CHECK(pki_eid_valid(out));
        UT_CHECK(strncmp(out, "89049032", 8) == 0);
    }
    UT_EQ(pki_eid_make("8904", 42, out), 0);
    UT_CHECK(strncmp(out, "89040000000000000000000000004", 29) == 0);
    UT_EQ(pki_eid_make("89049032", UINT64_MAX, out), 0); /* 20 digits fit in 22 */
    UT_CHECK(pki_eid_valid(out));
    UT_EQ(pki_eid_make("8904903212345123451234", 1000000000, out), -1);
    UT_EQ(pki_eid_make("", 1, out), -1);
    UT_EQ(pki_eid_make("89x4", 1, out), -1);
}

/* ---- every kind on both curves ---- */

static void check_chain(pki_curve curve)
{
    pki_cred ci = {0}, eum = {0}, euicc = {0}, ds_auth = {0}, ds_tls = {0}, dp_auth = {0}, dp_pb = {0},
             dp_tls = {0}, op_ca = {0}, op_client = {0};
    UT_EQ(mint(PKI_CI, curve, NULL, 0, &ci), 0);
    UT_EQ(mint(PKI_EUM, curve, &ci, 0, &eum), 0);
    UT_EQ(mint(PKI_EUICC, curve, &eum, 0, &euicc), 0);
    UT_EQ(mint(PKI_DS_AUTH, curve, &ci, 0, &ds_auth), 0);
    UT_EQ(mint(PKI_DS_TLS, curve, &ci, 0, &ds_tls), 0);
    UT_EQ(mint(PKI_DP_AUTH, curve, &ci, 0, &dp_auth), 0);
    UT_EQ(mint(PKI_DP_PB, curve, &ci, 0, &dp_pb), 0);
    UT_EQ(mint(PKI_DP_TLS, curve, &ci, 0, &dp_tls), 0);
    UT_EQ(mint(PKI_OPERATOR_CA, curve, NULL, 0, &op_ca), 0);
    UT_EQ(mint(PKI_OPERATOR_CLIENT, curve, &op_ca, 0, &op_client), 0);
    if (!op_client.cert)
        goto out;

    struct {
        pki_cred *c;
        pki_cred *issuer;
        pki_kind kind;
    } all[] = {
        {&ci, &ci, PKI_CI},
        {&eum, &ci, PKI_EUM},
        {&euicc, &eum, PKI_EUICC},
        {&ds_auth, &ci, PKI_DS_AUTH},
        {&ds_tls, &ci, PKI_DS_TLS},
        {&dp_auth, &ci, PKI_DP_AUTH},
        {&dp_pb, &ci, PKI_DP_PB},
        {&dp_tls, &ci, PKI_DP_TLS},
        {&op_ca, &op_ca, PKI_OPERATOR_CA},
        {&op_client, &op_ca, PKI_OPERATOR_CLIENT},
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        X509 *x = all[i].c->cert;
        pki_curve kc;
        UT_CHECK(signed_by(x, all[i].issuer->cert));
        UT_CHECK(!signed_by(x, dp_pb.cert)); /* any other key fails */
        UT_CHECK(pki_key_matches(x, all[i].c->key));
        UT_CHECK(pki_key_curve(all[i].c->key, &kc) == 0 && kc == curve);
        UT_EQ(X509_get_version(x), X509_VERSION_3);
        UT_CHECK(X509_get0_subject_key_id(x) != NULL);
        UT_CHECK(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
        UT_CHECK(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
        UT_EQ(ext_critical(x, NID_key_usage), 1);
        if (all[i].c != all[i].issuer)
            UT_CHECK(aki_is_ski_of(x, all[i].issuer->cert));
        else
            UT_EQ(ext_critical(x, NID_authority_key_identifier), -1);

        const char *want = pki_role_policy(all[i].kind);
        char oid[64] = "";
        int crit = -1;
        if (want) {
            UT_EQ(policy_of(x, oid, sizeof(oid), &crit), 1);
            UT_CHECK(strcmp(oid, want) == 0);
            /* critical except on TLS certificates, as in SGP.26 */
            UT_EQ(crit, all[i].kind == PKI_DS_TLS || all[i].kind == PKI_DP_TLS ? 0 : 1);
        } else {
            UT_EQ(policy_of(x, oid, sizeof(oid), &crit), -1);
        }
    }

    /* roles */
    UT_EQ(X509_check_ca(ci.cert), 1);
    UT_EQ(X509_get_key_usage(ci.cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    UT_EQ(ext_critical(ci.cert, NID_basic_constraints), 1);
    UT_CHECK(has_rid(ci.cert, "2.999.1"));
    UT_CHECK(X509_get_ext_by_NID(ci.cert, NID_crl_distribution_points, -1) >= 0);
    UT_EQ(X509_NAME_cmp(X509_get_subject_name(ci.cert), X509_get_issuer_name(ci.cert)), 0);

    UT_EQ(X509_check_ca(eum.cert), 1);
    UT_EQ(X509_get_key_usage(eum.cert), KU_KEY_CERT_SIGN);
    UT_EQ(X509_get_pathlen(eum.cert), 0);
    UT_EQ(ext_critical(eum.cert, NID_name_constraints), 1);
    UT_EQ(pki_eum_permits_eid(eum.cert, SGP26_EID), 1);
    UT_EQ(pki_eum_permits_eid(eum.cert, "89049033123451234512345678901235"), 0);
    UT_CHECK(has_rid(eum.cert, "2.999.5"));

    UT_EQ(X509_check_ca(euicc.cert), 0);
    UT_EQ(X509_get_key_usage(euicc.cert), KU_DIGITAL_SIGNATURE);
    UT_EQ(X509_get_ext_by_NID(euicc.cert, NID_basic_constraints, -1), -1);
    char text[64];
    UT_EQ(pki_subject_text(euicc.cert, NID_serialNumber, text, sizeof(text)), 0);
    UT_CHECK(strcmp(text, SGP26_EID) == 0);
    UT_EQ(pki_subject_text(euicc.cert, NID_organizationName, text, sizeof(text)), 0);
    UT_CHECK(strcmp(text, PKI_SGP26_EUM_ORG) == 0);
    UT_EQ(year_of(X509_get0_notAfter(euicc.cert)), 9999);

    UT_CHECK(has_rid(ds_auth.cert, PKI_DEFAULT_DS_RID));
    UT_CHECK(has_rid(dp_auth.cert, PKI_DEFAULT_DP_RID));
    UT_CHECK(has_rid(dp_pb.cert, PKI_DEFAULT_DP_RID));
    UT_EQ(X509_get_key_usage(dp_pb.cert), KU_DIGITAL_SIGNATURE);
    UT_EQ(X509_check_host(ds_auth.cert, "localhost", 0, 0, NULL), 0);

    X509 *tls[2] = {ds_tls.cert, dp_tls.cert};
    const char *fqdn[2] = {PKI_DEFAULT_DS_FQDN, PKI_DEFAULT_DP_FQDN};
    const char *rid[2] = {PKI_DEFAULT_DS_RID, PKI_DEFAULT_DP_RID};
    for (int i = 0; i < 2; i++) {
        UT_EQ(X509_check_host(tls[i], fqdn[i], 0, 0, NULL), 1);
        UT_EQ(X509_check_host(tls[i], "localhost", 0, 0, NULL), 1);
        UT_EQ(X509_check_host(tls[i], "other.example.com", 0, 0, NULL), 0);
        UT_EQ(X509_check_ip_asc(tls[i], "127.0.0.1", 0), 1);
        UT_EQ(X509_check_ip_asc(tls[i], "::1", 0), 1);
        UT_CHECK(has_rid(tls[i], rid[i]));
        UT_EQ(X509_get_extended_key_usage(tls[i]), XKU_SSL_SERVER | XKU_SSL_CLIENT);
        UT_EQ(ext_critical(tls[i], NID_ext_key_usage), 1);
        UT_EQ(X509_check_purpose(tls[i], X509_PURPOSE_SSL_SERVER, 0), 1);
    }
    UT_EQ(X509_get_extended_key_usage(op_client.cert), XKU_SSL_CLIENT);
    UT_EQ(X509_check_host(op_client.cert, PKI_DEFAULT_OPERATOR_FQDN, 0, 0, NULL), 1);
    UT_EQ(X509_check_ca(op_ca.cert), 1);
out:
    pki_cred_clear(&ci);
    pki_cred_clear(&eum);
    pki_cred_clear(&euicc);
    pki_cred_clear(&ds_auth);
    pki_cred_clear(&ds_tls);
    pki_cred_clear(&dp_auth);
    pki_cred_clear(&dp_pb);
    pki_cred_clear(&dp_tls);
    pki_cred_clear(&op_ca);
    pki_cred_clear(&op_client);
}

static void test_nist(void)
{
    check_chain(PKI_CURVE_NIST);
}

static void test_brainpool(void)
{
    check_chain(PKI_CURVE_BRAINPOOL);
}

/* ---- options ---- */

static void test_validity_and_options(void)
{
    pki_cred ci = {0}, eum = {0}, c = {0};
    UT_EQ(mint(PKI_CI, PKI_CURVE_NIST, NULL, 0, &ci), 0);
    UT_EQ(mint(PKI_EUM, PKI_CURVE_NIST, &ci, 0, &eum), 0);

    pki_opts o;
    pki_opts_init(&o, PKI_EUICC);
    time_t t0, t1;
    UT_EQ(pki_parse_time("2010-01-01", 0, &t0), 0);
    UT_EQ(pki_parse_time("20150101000000Z", 0, &t1), 0);
    o.not_before = t0;
    o.not_after = t1;
    o.serial = "0x020000000000000001";
    o.eid = "89049032000000000000000000000149";
    o.cn = "Expired eUICC";
    UT_EQ(pki_mint(&o, &eum, &c), 0);
    if (c.cert) {
        UT_CHECK(X509_cmp_current_time(X509_get0_notAfter(c.cert)) < 0);
        UT_EQ(year_of(X509_get0_notBefore(c.cert)), 2010);
        UT_EQ(year_of(X509_get0_notAfter(c.cert)), 2015);
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c.cert), NULL);
        char *hex = BN_bn2hex(bn);
        UT_CHECK(hex && strcmp(hex, "020000000000000001") == 0);
        OPENSSL_free(hex);
        BN_free(bn);
        char text[64];
        UT_EQ(pki_subject_text(c.cert, NID_commonName, text, sizeof(text)), 0);
        UT_CHECK(strcmp(text, "Expired eUICC") == 0);
        UT_EQ(pki_subject_text(c.cert, NID_serialNumber, text, sizeof(text)), 0);
        UT_CHECK(strcmp(text, o.eid) == 0);
    }
    pki_cred_clear(&c);

    /* not yet valid */
    pki_opts_init(&o, PKI_DP_AUTH);
    o.not_before = time(NULL) + 86400;
    UT_EQ(pki_mint(&o, &ci, &c), 0);
    if (c.cert) {
        UT_CHECK(X509_cmp_current_time(X509_get0_notBefore(c.cert)) > 0);
        UT_CHECK(X509_cmp_current_time(X509_get0_notAfter(c.cert)) > 0);
    }
    pki_cred_clear(&c);

    /* fqdn, rid, existing key */
    EVP_PKEY *key = pki_keygen(PKI_CURVE_BRAINPOOL);
    pki_opts_init(&o, PKI_DS_TLS);
    o.fqdn = "smds.example.test";
    o.rid = "2.999.77";
    o.key = key;
    UT_EQ(pki_mint(&o, &ci, &c), 0);
    if (c.cert) {
        UT_CHECK(c.key == key);
        UT_EQ(EVP_PKEY_eq(X509_get0_pubkey(c.cert), key), 1);
        UT_EQ(X509_check_host(c.cert, "smds.example.test", 0, 0, NULL), 1);
        UT_EQ(X509_check_host(c.cert, "localhost", 0, 0, NULL), 0); /* loopback not asked for */
        UT_CHECK(has_rid(c.cert, "2.999.77"));
        char text[64];
        UT_EQ(pki_subject_text(c.cert, NID_commonName, text, sizeof(text)), 0);
        UT_CHECK(strcmp(text, "smds.example.test") == 0);
    }
    pki_cred_clear(&c);
    EVP_PKEY_free(key);

    /* bad arguments */
    pki_opts_init(&o, PKI_EUM);
    UT_EQ(pki_mint(&o, NULL, &c), -1); /* needs an issuer */
    UT_CHECK(strstr(pki_last_error(), "issuer") != NULL);
    o.eid_prefix = "89x";
    UT_EQ(pki_mint(&o, &ci, &c), -1);
    pki_opts_init(&o, PKI_CI);
    UT_EQ(pki_mint(&o, &ci, &c), -1); /* self-signed takes no issuer */
    pki_opts_init(&o, PKI_DP_TLS);
    o.fqdn = "bad name,DNS:evil";
    UT_EQ(pki_mint(&o, &ci, &c), -1);
    pki_opts_init(&o, PKI_DP_TLS);
    o.rid = "not.an.oid";
    UT_EQ(pki_mint(&o, &ci, &c), -1);
    pki_opts_init(&o, PKI_EUICC);
    o.eid = "1234";
    UT_EQ(pki_mint(&o, &eum, &c), -1);
    pki_opts_init(&o, PKI_EUICC);
    o.serial = "xyz";
    UT_EQ(pki_mint(&o, &eum, &c), -1);
    UT_CHECK(c.cert == NULL && c.key == NULL);

    pki_cred_clear(&ci);
    pki_cred_clear(&eum);
}

/* ---- defects ---- */

static void test_defects(void)
{
    pki_cred ci = {0}, eum = {0}, c = {0};
    UT_EQ(mint(PKI_CI, PKI_CURVE_NIST, NULL, 0, &ci), 0);
    UT_EQ(mint(PKI_EUM, PKI_CURVE_NIST, &ci, 0, &eum), 0);
    char oid[64];
    int crit;

    UT_EQ(mint(PKI_EUICC, PKI_CURVE_NIST, &eum, PKI_DEFECT_WRONG_POLICY, &c), 0);
    UT_EQ(policy_of(c.cert, oid, sizeof(oid), &crit), 1);
    UT_CHECK(strcmp(oid, "2.23.146.1.2.1.2") == 0);
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_DP_AUTH, PKI_CURVE_NIST, &ci, PKI_DEFECT_WRONG_POLICY, &c), 0);
    UT_EQ(policy_of(c.cert, oid, sizeof(oid), &crit), 1);
    UT_CHECK(strcmp(oid, "2.23.146.1.2.1.5") == 0);
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_DS_AUTH, PKI_CURVE_NIST, &ci, PKI_DEFECT_NO_POLICY, &c), 0);
    UT_EQ(policy_of(c.cert, oid, sizeof(oid), &crit), -1);
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_EUICC, PKI_CURVE_NIST, &eum, PKI_DEFECT_NO_KEY_USAGE, &c), 0);
    UT_EQ(X509_get_ext_by_NID(c.cert, NID_key_usage, -1), -1);
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_EUICC, PKI_CURVE_NIST, &eum, PKI_DEFECT_KEY_CERT_SIGN, &c), 0);
    UT_EQ(X509_get_key_usage(c.cert), KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN);
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_EUICC, PKI_CURVE_NIST, &eum, PKI_DEFECT_NO_SKI | PKI_DEFECT_NO_AKI, &c), 0);
    UT_CHECK(X509_get0_subject_key_id(c.cert) == NULL);
    UT_CHECK(X509_get0_authority_key_id(c.cert) == NULL);
    UT_CHECK(signed_by(c.cert, eum.cert));
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_EUM, PKI_CURVE_NIST, &ci, PKI_DEFECT_NOT_CA, &c), 0);
    UT_EQ(X509_check_ca(c.cert), 0);
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_EUM, PKI_CURVE_NIST, &ci, PKI_DEFECT_NO_NAME_CONSTRAINTS, &c), 0);
    UT_EQ(X509_get_ext_by_NID(c.cert, NID_name_constraints, -1), -1);
    UT_EQ(pki_eum_permits_eid(c.cert, SGP26_EID), -1);
    pki_cred_clear(&c);

    /* IIN list: SEQUENCE OF PrintableString "89049032", no nameConstraints */
    UT_EQ(mint(PKI_EUM, PKI_CURVE_NIST, &ci, PKI_DEFECT_IIN_LIST, &c), 0);
    UT_EQ(X509_get_ext_by_NID(c.cert, NID_name_constraints, -1), -1);
    ASN1_OBJECT *iin = OBJ_txt2obj("2.23.146.1.2.2.0", 1);
    int idx = X509_get_ext_by_OBJ(c.cert, iin, -1);
    ASN1_OBJECT_free(iin);
    UT_CHECK(idx >= 0);
    if (idx >= 0) {
        const ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(X509_get_ext(c.cert, idx));
        static const unsigned char want[] = {0x30, 0x0a, 0x13, 0x08, '8', '9', '0', '4', '9', '0', '3', '2'};
        UT_EQ(ASN1_STRING_length(d), sizeof(want));
        UT_CHECK(memcmp(ASN1_STRING_get0_data(d), want, sizeof(want)) == 0);
    }
    UT_EQ(pki_eum_permits_eid(c.cert, SGP26_EID), 1);
    UT_EQ(pki_eum_permits_eid(c.cert, "89049033123451234512345678901235"), 0);
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_EUICC, PKI_CURVE_NIST, &eum, PKI_DEFECT_NO_EID, &c), 0);
    char text[64];
    UT_EQ(pki_subject_text(c.cert, NID_serialNumber, text, sizeof(text)), -1);
    pki_cred_clear(&c);

    /* self-signed: no issuer needed, issuer = subject, verifies with its own key */
    pki_opts o;
    pki_opts_init(&o, PKI_EUICC);
    o.defects = PKI_DEFECT_SELF_SIGNED;
    UT_EQ(pki_mint(&o, NULL, &c), 0);
    if (c.cert) {
        UT_CHECK(signed_by(c.cert, c.cert));
        UT_CHECK(!signed_by(c.cert, eum.cert));
        UT_CHECK(X509_get0_authority_key_id(c.cert) == NULL);
        UT_EQ(X509_NAME_cmp(X509_get_subject_name(c.cert), X509_get_issuer_name(c.cert)), 0);
    }
    pki_cred_clear(&c);

    UT_EQ(mint(PKI_DP_TLS, PKI_CURVE_NIST, &ci, PKI_DEFECT_BAD_SIGNATURE, &c), 0);
    UT_CHECK(c.cert && !signed_by(c.cert, ci.cert));
    pki_cred_clear(&c);

    pki_opts_init(&o, PKI_DP_PB);
    o.policy = "2.23.146.1.2.1.99";
    UT_EQ(pki_mint(&o, &ci, &c), 0);
    UT_EQ(policy_of(c.cert, oid, sizeof(oid), &crit), 1);
    UT_CHECK(strcmp(oid, "2.23.146.1.2.1.99") == 0);
    pki_cred_clear(&c);

    UT_EQ(pki_defect_parse("key-cert-sign"), PKI_DEFECT_KEY_CERT_SIGN);
    UT_EQ(pki_defect_parse("iin-list"), PKI_DEFECT_IIN_LIST);
    UT_EQ(pki_defect_parse("nonsense"), 0);

    pki_cred_clear(&ci);
    pki_cred_clear(&eum);
}

/* ---- names ---- */

static void test_names(void)
{
    pki_kind k;
    pki_curve c;
    for (int i = 0; i < PKI_KIND__COUNT; i++) {
        UT_EQ(pki_kind_parse(pki_kind_name((pki_kind)i), &k), 0);
        UT_EQ(k, i);
    }
    UT_EQ(pki_kind_parse("nope", &k), -1);
    UT_EQ(pki_curve_parse("brainpool", &c), 0);
    UT_EQ(c, PKI_CURVE_BRAINPOOL);
    UT_EQ(pki_curve_parse("nist", &c), 0);
    UT_EQ(c, PKI_CURVE_NIST);
    UT_EQ(pki_curve_parse("p384", &c), -1);
    UT_CHECK(strcmp(pki_role_policy(PKI_DS_AUTH), "2.23.146.1.2.1.7") == 0);
    UT_CHECK(strcmp(pki_role_policy(PKI_DS_TLS), "2.23.146.1.2.1.6") == 0);
    UT_CHECK(pki_role_policy(PKI_OPERATOR_CLIENT) == NULL);
}

static void test_parse_time(void)
{
    time_t t;
    UT_EQ(pki_parse_time("1970-01-02", 0, &t), 0);
    UT_EQ(t, 86400);
    UT_EQ(pki_parse_time("2000-03-01T12:34:56Z", 0, &t), 0);
    UT_EQ(t, 951914096);
    UT_EQ(pki_parse_time("2000-03-01T12:34:56", 0, &t), 0);
    UT_EQ(t, 951914096);
    UT_EQ(pki_parse_time("20000301123456Z", 0, &t), 0);
    UT_EQ(t, 951914096);
    UT_EQ(pki_parse_time("@1234", 0, &t), 0);
    UT_EQ(t, 1234);
    UT_EQ(pki_parse_time("+2d", 1000, &t), 0);
    UT_EQ(t, 1000 + 2 * 86400);
    UT_EQ(pki_parse_time("-3h", 100000, &t), 0);
    UT_EQ(t, 100000 - 3 * 3600);
    UT_EQ(pki_parse_time("9999-12-31T23:59:59Z", 0, &t), 0);
    UT_EQ(t, 253402300799LL);
    UT_EQ(pki_parse_time("+2y", 0, &t), -1);
    UT_EQ(pki_parse_time("2000-13-01", 0, &t), -1);
    UT_EQ(pki_parse_time("2000-01-01T00:00:00+01", 0, &t), -1);
    UT_EQ(pki_parse_time("", 0, &t), -1);
    UT_EQ(pki_parse_time("@12x", 0, &t), -1);
}

/* ---- files ---- */

static bool same_der(X509 *a, X509 *b)
{
    unsigned char *da = NULL, *db = NULL;
    int la = i2d_X509(a, &da), lb = i2d_X509(b, &db);
    bool same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
    OPENSSL_free(da);
    OPENSSL_free(db);
    return same;
}

static void test_files(void)
{
    const char *base = getenv("TEST_TMPDIR");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/pki_test.XXXXXX", base && *base ? base : "/tmp");
    UT_CHECK(mkdtemp(dir) != NULL);

    pki_cred ci = {0};
    UT_EQ(mint(PKI_CI, PKI_CURVE_BRAINPOOL, NULL, 0, &ci), 0);
    UT_EQ(pki_write_cred(dir, "ci", &ci), 0);

    char path[600];
    const char *ext[2] = {"der", "pem"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/ci.%s", dir, ext[i]);
        X509 *x = pki_load_cert(path);
        UT_CHECK(x && same_der(x, ci.cert));
        X509_free(x);
    }
    snprintf(path, sizeof(path), "%s/ci.key.pem", dir);
    EVP_PKEY *k = pki_load_key(path);
    UT_CHECK(k && pki_key_matches(ci.cert, k));
    EVP_PKEY_free(k);
    size_t len = 0;
    uint8_t *pem = ut_read_file(path, &len);
    UT_CHECK(pem && len > 27 && memcmp(pem, "-----BEGIN PRIVATE KEY-----", 27) == 0);
    free(pem);
    UT_EQ(access(path, R_OK), 0);

    /* DER key input, and garbage */
    unsigned char *der = NULL;
    int dlen = i2d_PrivateKey(ci.key, &der);
    k = pki_parse_key(der, (size_t)dlen);
    UT_CHECK(k && pki_key_matches(ci.cert, k));
    EVP_PKEY_free(k);
    OPENSSL_free(der);
    UT_CHECK(pki_parse_cert((const uint8_t *)"hello", 5) == NULL);
    UT_CHECK(pki_parse_key((const uint8_t *)"-----BEGIN nothing", 18) == NULL);
    snprintf(path, sizeof(path), "%s/missing.pem", dir);
    UT_CHECK(pki_load_cert(path) == NULL);
    UT_CHECK(strstr(pki_last_error(), "missing.pem") != NULL);

    /* DER with trailing bytes is refused */
    snprintf(path, sizeof(path), "%s/ci.der", dir);
    uint8_t *buf = ut_read_file(path, &len);
    UT_CHECK(buf != NULL);
    if (buf) {
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, buf, len);
        longer[len] = 0;
        X509 *x = pki_parse_cert(longer, len + 1);
        UT_CHECK(x == NULL);
        x = pki_parse_cert(longer, len);
        UT_CHECK(x != NULL);
        X509_free(x);
        free(longer);
    }
    free(buf);
    pki_cred_clear(&ci);
}

/* ---- against the published SGP.26 material ---- */

static X509 *shared_cert(const char *dir, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/pki/%s", dir, rel);
    X509 *x = pki_load_cert(path);
    if (!x)
        fprintf(stderr, "    %s\n", pki_last_error());
    return x;
}

static EVP_PKEY *shared_key(const char *dir, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/pki/%s", dir, rel);
    return pki_load_key(path);
}

static bool same_ext(X509 *a, X509 *b, int nid)
{
    int ia = X509_get_ext_by_NID(a, nid, -1), ib = X509_get_ext_by_NID(b, nid, -1);
    if (ia < 0 || ib < 0)
        return false;
    X509_EXTENSION *ea = X509_get_ext(a, ia), *eb = X509_get_ext(b, ib);
    return X509_EXTENSION_get_critical(ea) == X509_EXTENSION_get_critical(eb) &&
           ASN1_OCTET_STRING_cmp(X509_EXTENSION_get_data(ea), X509_EXTENSION_get_data(eb)) == 0;
}

static void sgp26_curve(const char *dir, const char *tag)
{
    char p[256];
    snprintf(p, sizeof(p), "sgp26/CertificateIssuer/CERT_CI_ECDSA_%s.pem", tag);
    pki_cred ci = {shared_cert(dir, p), NULL};
    snprintf(p, sizeof(p), "sgp26/CertificateIssuer/SK_CI_ECDSA_%s.pem", tag);
    ci.key = shared_key(dir, p);
    snprintf(p, sizeof(p), "sgp26/EUM/CERT_EUM_ECDSA_%s.der", tag);
    X509 *eum26 = shared_cert(dir, p);
    snprintf(p, sizeof(p), "sgp26/EUM/SK_EUM_ECDSA_%s.pem", tag);
    EVP_PKEY *eum_key = shared_key(dir, p);
    snprintf(p, sizeof(p), "sgp26/eUICC/CERT_EUICC_ECDSA_%s.der", tag);
    X509 *euicc26 = shared_cert(dir, p);
    snprintf(p, sizeof(p), "sgp26/eUICC/SK_EUICC_ECDSA_%s.pem", tag);
    EVP_PKEY *euicc_key = shared_key(dir, p);
    snprintf(p, sizeof(p), "sgp26/DPauth/CERT_S_SM_DPauth_ECDSA_%s.der", tag);
    X509 *dpauth26 = shared_cert(dir, p);
    UT_CHECK(ci.cert && ci.key && eum26 && eum_key && euicc26 && euicc_key && dpauth26);
    if (!(ci.cert && ci.key && eum26 && eum_key && euicc26 && euicc_key && dpauth26))
        goto out;
    UT_CHECK(pki_key_matches(ci.cert, ci.key)); /* PEM with an EC PARAMETERS block first */
    UT_EQ(pki_eum_permits_eid(eum26, SGP26_EID), 1);
    UT_EQ(pki_eum_permits_eid(eum26, "89049033123451234512345678901235"), 0);

    /* Our EUM with SGP.26's key under SGP.26's CI: same subject, SKI, AKI, nameConstraints
     * and policy bytes as the published one. */
    pki_opts o;
    pki_opts_init(&o, PKI_EUM);
    o.key = eum_key;
    pki_cred eum = {0}, euicc = {0}, dpauth = {0};
    UT_EQ(pki_mint(&o, &ci, &eum), 0);
    if (!eum.cert)
        goto out;
    UT_EQ(X509_NAME_cmp(X509_get_subject_name(eum.cert), X509_get_subject_name(eum26)), 0);
    UT_EQ(X509_NAME_cmp(X509_get_issuer_name(eum.cert), X509_get_issuer_name(eum26)), 0);
    UT_CHECK(same_ext(eum.cert, eum26, NID_name_constraints));
    UT_CHECK(same_ext(eum.cert, eum26, NID_certificate_policies));
    UT_CHECK(same_ext(eum.cert, eum26, NID_subject_key_identifier));
    UT_CHECK(same_ext(eum.cert, eum26, NID_authority_key_identifier));
    UT_CHECK(same_ext(eum.cert, eum26, NID_key_usage));
    UT_CHECK(same_ext(eum.cert, eum26, NID_basic_constraints));
    UT_CHECK(same_ext(eum.cert, eum26, NID_subject_alt_name));
    UT_CHECK(same_ext(eum.cert, eum26, NID_crl_distribution_points));
    UT_CHECK(signed_by(eum.cert, ci.cert));

    pki_opts_init(&o, PKI_EUICC);
    o.key = euicc_key;
    pki_cred eum_pub = {eum26, eum_key};
    UT_EQ(pki_mint(&o, &eum_pub, &euicc), 0);
    if (euicc.cert) {
        UT_EQ(X509_NAME_cmp(X509_get_subject_name(euicc.cert), X509_get_subject_name(euicc26)), 0);
        UT_CHECK(same_ext(euicc.cert, euicc26, NID_subject_key_identifier));
        UT_CHECK(same_ext(euicc.cert, euicc26, NID_authority_key_identifier));
        UT_CHECK(same_ext(euicc.cert, euicc26, NID_key_usage));
        UT_CHECK(same_ext(euicc.cert, euicc26, NID_certificate_policies));
        UT_CHECK(signed_by(euicc.cert, eum26));
    }

    /* DPauth: same extension bytes as SGP.26 apart from the key identifiers */
    pki_opts_init(&o, PKI_DP_AUTH);
    UT_EQ(pki_mint(&o, &ci, &dpauth), 0);
    if (dpauth.cert) {
        UT_EQ(X509_NAME_cmp(X509_get_subject_name(dpauth.cert), X509_get_subject_name(dpauth26)), 0);
        UT_CHECK(same_ext(dpauth.cert, dpauth26, NID_subject_alt_name));
        UT_CHECK(same_ext(dpauth.cert, dpauth26, NID_key_usage));
        UT_CHECK(same_ext(dpauth.cert, dpauth26, NID_certificate_policies));
        UT_CHECK(same_ext(dpauth.cert, dpauth26, NID_crl_distribution_points));
        UT_CHECK(same_ext(dpauth.cert, dpauth26, NID_authority_key_identifier));
    }
    pki_cred_clear(&eum);
    pki_cred_clear(&euicc);
    pki_cred_clear(&dpauth);
out:
    pki_cred_clear(&ci);
    X509_free(eum26);
    X509_free(euicc26);
    X509_free(dpauth26);
    EVP_PKEY_free(eum_key);
    EVP_PKEY_free(euicc_key);
}

static void test_sgp26(void)
{
    const char *dir = ut_shared_dir("pki_test SGP.26 comparison");
    if (!dir)
        return;
    sgp26_curve(dir, "NIST");
    sgp26_curve(dir, "BRP");

    /* The CI shape: our CI with SGP.26's names matches its extensions. */
    X509 *ci26 = shared_cert(dir, "sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    EVP_PKEY *ci_key = shared_key(dir, "sgp26/CertificateIssuer/SK_CI_ECDSA_NIST.pem");
    pki_opts o;
    pki_opts_init(&o, PKI_CI);
    o.key = ci_key;
    o.cn = "Test CI";
    pki_cred ci = {0};
    UT_CHECK(ci26 && ci_key);
    if (ci26 && ci_key && pki_mint(&o, NULL, &ci) == 0) {
        UT_EQ(X509_NAME_cmp(X509_get_subject_name(ci.cert), X509_get_subject_name(ci26)), 0);
        int nids[] = {NID_subject_key_identifier, NID_basic_constraints,
                      NID_certificate_policies,   NID_key_usage,
                      NID_subject_alt_name,       NID_crl_distribution_points};
        for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++)
            UT_CHECK(same_ext(ci.cert, ci26, nids[i]));
        UT_EQ(X509_get_ext_count(ci.cert), X509_get_ext_count(ci26));
    }
    pki_cred_clear(&ci);
    X509_free(ci26);
    EVP_PKEY_free(ci_key);

    /* The invalid-EID sample is outside the SGP.26 EUM's prefix. */
    X509 *eum26 = shared_cert(dir, "sgp26/EUM/CERT_EUM_ECDSA_NIST.der");
    X509 *bad = shared_cert(dir, "sgp26-invalid/CERT_EUICC_ECDSA_NIST_INVALID_EID.der");
    char eid[64];
    UT_CHECK(eum26 && bad);
    if (eum26 && bad) {
        UT_EQ(pki_subject_text(bad, NID_serialNumber, eid, sizeof(eid)), 0);
        UT_EQ(pki_eum_permits_eid(eum26, eid), 0);
    }
    X509_free(eum26);
    X509_free(bad);
}

int main(void)
{
    UT_RUN(test_eid);
    UT_RUN(test_nist);
    UT_RUN(test_brainpool);
    UT_RUN(test_validity_and_options);
    UT_RUN(test_defects);
    UT_RUN(test_names);
    UT_RUN(test_parse_time);
    UT_RUN(test_files);
    UT_RUN(test_sgp26);
    return ut_finish();
}
