#include "rsp/cert_testutil.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "rsp/cert.h"

#define DAY (24L * 3600)
#define YEAR (365L * DAY)

EVP_PKEY *ct_key(const char *curve)
{
    return EVP_EC_gen(curve);
}

/* Generated once with `openssl ecparam -name prime256v1 -genkey`; a test
 * constant, trusted by nothing outside this project's tests. */
static const char fixed_ci_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                                   "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQszgvKV9YGBGnBcb\n"
                                   "esWfvK3BTItAtAy0FBnrRYFwjWihRANCAAQRx7r1I5wJ/2xUc9KYNW8Y0M73DeRv\n"
                                   "AnaLQeYPae28ceiWztVqpPK04q1ZvUDfFvZQMbAP7HnHNqwogD8cy6+S\n"
                                   "-----END PRIVATE KEY-----\n";

EVP_PKEY *ct_fixed_ci_key(void)
{
    BIO *b = BIO_new_mem_buf(fixed_ci_pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

static int add_conf(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    if (value == NULL)
        return 0;
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int rc = e != NULL && X509_add_ext(x, e, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(e);
    return rc;
}

static int add_policy(X509 *x, const char *oid)
{
    CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
    POLICYINFO *pi = POLICYINFO_new();
    int rc = -1;
    if (cp == NULL || pi == NULL)
        goto out;
    ASN1_OBJECT_free(pi->policyid);
    pi->policyid = OBJ_txt2obj(oid, 1);
    if (pi->policyid == NULL || sk_POLICYINFO_push(cp, pi) <= 0)
        goto out;
    pi = NULL;
    rc = X509_add1_ext_i2d(x, NID_certificate_policies, cp, 1, X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
out:
    POLICYINFO_free(pi);
    CERTIFICATEPOLICIES_free(cp);
    return rc;
}

static int add_name_constraint(X509 *x, const char *o, const char *prefix)
{
    NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
    GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
    X509_NAME *dn = X509_NAME_new();
    int rc = -1;
    if (nc == NULL || st == NULL || dn == NULL)
        goto out;
    if (X509_NAME_add_entry_by_NID(dn, NID_organizationName, MBSTRING_UTF8, (const unsigned char *)o, -1, -1,
                                   0) != 1 ||
        X509_NAME_add_entry_by_NID(dn, NID_serialNumber, V_ASN1_PRINTABLESTRING,
                                   (const unsigned char *)prefix, -1, -1, 0) != 1)
        goto out;
    GENERAL_NAME_set0_value(st->base, GEN_DIRNAME, dn);
    dn = NULL;
    nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
    if (nc->permittedSubtrees == NULL || sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st) <= 0)
        goto out;
    st = NULL;
    rc = X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
out:
    X509_NAME_free(dn);
    GENERAL_SUBTREE_free(st);
    NAME_CONSTRAINTS_free(nc);
    return rc;
}

/* SEQUENCE OF PrintableString, encoded by hand (short lengths suffice). */
static int add_iin_list(X509 *x, const char *const *iin)
{
    uint8_t buf[256];
    size_t n = 2;
    for (size_t i = 0; iin[i] != NULL; i++) {
        size_t l = strlen(iin[i]);
        if (l > 32 || n + 2 + l > 2 + 127)
            return -1;
        buf[n++] = 0x13;
        buf[n++] = (uint8_t)l;
        memcpy(buf + n, iin[i], l);
        n += l;
    }
    buf[0] = 0x30;
    buf[1] = (uint8_t)(n - 2);
    ASN1_OBJECT *obj = OBJ_txt2obj(RSP_OID_EUM_IIN_LIST, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *e = NULL;
    int rc = -1;
    if (obj && os && ASN1_OCTET_STRING_set(os, buf, (int)n) == 1 &&
        (e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL && X509_add_ext(x, e, -1) == 1)
        rc = 0;
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return rc;
}

X509 *ct_issue(const ct_opts *o, EVP_PKEY *subject_key, X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    if (x == NULL || n == NULL || o->cn == NULL)
        goto fail;
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x), o->serial) != 1)
        goto fail;
    if (o->o && X509_NAME_add_entry_by_NID(n, NID_organizationName, MBSTRING_UTF8,
                                           (const unsigned char *)o->o, -1, -1, 0) != 1)
        goto fail;
    if (o->serial_number &&
        X509_NAME_add_entry_by_NID(n, NID_serialNumber, V_ASN1_PRINTABLESTRING,
                                   (const unsigned char *)o->serial_number, -1, -1, 0) != 1)
        goto fail;
    if (X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8, (const unsigned char *)o->cn, -1, -1,
                                   0) != 1 ||
        X509_set_subject_name(x, n) != 1 ||
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n) != 1)
        goto fail;
    if (ASN1_TIME_set(X509_getm_notBefore(x), o->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), o->not_after) == NULL || X509_set_pubkey(x, subject_key) != 1)
        goto fail;

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if (!o->no_ski && add_conf(x, &ctx, NID_subject_key_identifier, "hash") != 0)
        goto fail;
    if (!o->no_aki && add_conf(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
        goto fail;
    if (add_conf(x, &ctx, NID_key_usage, o->ku) != 0)
        goto fail;
    if (o->policy && add_policy(x, o->policy) != 0)
        goto fail;
    if (add_conf(x, &ctx, NID_basic_constraints, o->bc) != 0 ||
        add_conf(x, &ctx, NID_ext_key_usage, o->eku) != 0 ||
        add_conf(x, &ctx, NID_subject_alt_name, o->san) != 0)
        goto fail;
    if (o->nc_prefix && add_name_constraint(x, o->o ? o->o : "EUM", o->nc_prefix) != 0)
        goto fail;
    if (o->iin && add_iin_list(x, o->iin) != 0)
        goto fail;
    if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
        goto fail;
    X509_NAME_free(n);
    return x;
fail:
    X509_NAME_free(n);
    X509_free(x);
    return NULL;
}

ct_opts ct_ci_opts(time_t now)
{
    return (ct_opts){.cn = "Test CI",
                     .o = "RSPTEST",
                     .not_before = now - YEAR,
                     .not_after = now + 30 * YEAR,
                     .policy = RSP_OID_ROLE_CI,
                     .ku = "critical,keyCertSign,cRLSign",
                     .bc = "critical,CA:TRUE",
                     .san = "RID:2.999.1",
                     .serial = 1};
}

ct_opts ct_eum_opts(time_t now, const char *prefix)
{
    return (ct_opts){.cn = "EUM Test",
                     .o = "RSP Test EUM",
                     .not_before = now - YEAR,
                     .not_after = now + 10 * YEAR,
                     .policy = RSP_OID_ROLE_EUM,
                     .ku = "critical,keyCertSign",
                     .bc = "critical,CA:TRUE,pathlen:0",
                     .san = "RID:2.999.5",
                     .nc_prefix = prefix,
                     .serial = 0x12345678};
}

ct_opts ct_euicc_opts(time_t now, const char *eid)
{
    return (ct_opts){.cn = "Test eUICC",
                     .o = "RSP Test EUM",
                     .serial_number = eid,
                     .not_before = now - YEAR,
                     .not_after = now + 10 * YEAR,
                     .policy = RSP_OID_ROLE_EUICC,
                     .ku = "critical,digitalSignature",
                     .serial = 0x0200000001};
}

ct_opts ct_tls_opts(time_t now, const char *policy, const char *san)
{
    return (ct_opts){.cn = "TLS test",
                     .o = "RSP Test",
                     .not_before = now - DAY,
                     .not_after = now + YEAR,
                     .policy = policy,
                     .ku = "critical,digitalSignature",
                     .eku = "critical,serverAuth,clientAuth",
                     .san = san,
                     .serial = 77};
}

int ct_chain_make(ct_chain *c, const char *curve, bool iin_list, const char *prefix, const char *eid,
                  time_t now)
{
    memset(c, 0, sizeof(*c));
    const char *iins[] = {"89033023", prefix, NULL};
    c->ci_key = ct_key(curve);
    c->eum_key = ct_key(curve);
    c->euicc_key = ct_key(curve);
    if (!c->ci_key || !c->eum_key || !c->euicc_key)
        goto fail;
    ct_opts ci = ct_ci_opts(now), eum = ct_eum_opts(now, iin_list ? NULL : prefix),
            euicc = ct_euicc_opts(now, eid);
    if (iin_list) {
        eum.iin = iins;
        eum.policy = RSP_OID_ROLE_EUM_V3;
    }
    c->ci = ct_issue(&ci, c->ci_key, NULL, c->ci_key);
    c->eum = c->ci ? ct_issue(&eum, c->eum_key, c->ci, c->ci_key) : NULL;
    c->euicc = c->eum ? ct_issue(&euicc, c->euicc_key, c->eum, c->eum_key) : NULL;
    if (c->euicc)
        return 0;
fail:
    ct_chain_free(c);
    return -1;
}

void ct_chain_free(ct_chain *c)
{
    X509_free(c->ci);
    X509_free(c->eum);
    X509_free(c->euicc);
    EVP_PKEY_free(c->ci_key);
    EVP_PKEY_free(c->eum_key);
    EVP_PKEY_free(c->euicc_key);
    memset(c, 0, sizeof(*c));
}

uint8_t *ct_der(X509 *x, size_t *len)
{
    int n = i2d_X509(x, NULL);
    if (n <= 0)
        return NULL;
    uint8_t *b = malloc((size_t)n), *p = b;
    if (b == NULL || i2d_X509(x, &p) != n) {
        free(b);
        return NULL;
    }
    *len = (size_t)n;
    return b;
}
