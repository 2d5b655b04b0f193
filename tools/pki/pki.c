#include "tools/pki/pki.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* SGP.26 CRL distribution points (the CI and server certificates list both,
 * the EUM only CRL-B). */
#define CRL_A "URI:http://ci.test.example.com/CRL-A.crl"
#define CRL_B "URI:http://ci.test.example.com/CRL-B.crl"

#define OID_IIN_LIST "2.23.146.1.2.2.0"
#define EUICC_NOT_AFTER ((time_t)253402300799) /* 9999-12-31 23:59:59 UTC */
#define DAY ((time_t)86400)
#define YEAR ((time_t)365 * DAY)

static _Thread_local char last_error[256];

static void set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
}

const char *pki_last_error(void)
{
    return last_error;
}

/* ---- per-kind shape ---- */

typedef struct kind_info {
    const char *name;
    const char *policy;       /* role policy OID */
    const char *wrong_policy; /* a neighbouring role's, for PKI_DEFECT_WRONG_POLICY */
    const char *policy_v3;    /* the SGP.22 v3 role policy */
    const char *country, *org, *cn;
    const char *rid;  /* default SAN registeredID */
    const char *fqdn; /* default SAN dNSName */
    bool self_signed;
    bool ca;
    bool tls_server; /* gets the loopback names */
    time_t lifetime;
} kind_info;

static const kind_info kinds[PKI_KIND__COUNT] = {
    [PKI_CI] = {"ci", "2.23.146.1.2.1.0", "2.23.146.1.2.1.2", "2.23.146.1.2.1.0", "IT", "RSPTEST",
                "rsp-pki Test CI", "2.999.1", NULL, true, true, false, 35 * YEAR},
    [PKI_EUM] = {"eum", "2.23.146.1.2.1.2", "2.23.146.1.2.1.1", "2.23.146.1.2.1.0.0.0", "ES",
                 PKI_SGP26_EUM_ORG, "EUM Test", "2.999.5", NULL, false, true, false, 34 * YEAR},
    [PKI_EUICC] = {"euicc", "2.23.146.1.2.1.1", "2.23.146.1.2.1.2", "2.23.146.1.2.1.0.0.0.0.0", "ES",
                   PKI_SGP26_EUM_ORG, "Test eUICC", NULL, NULL, false, false, false, 0},
    [PKI_DS_AUTH] = {"dsauth", "2.23.146.1.2.1.7", "2.23.146.1.2.1.4", "2.23.146.1.2.1.0.0.2.1", NULL, "ACME",
                     "TEST SM-DS", PKI_DEFAULT_DS_RID, NULL, false, false, false, 10 * YEAR},
    [PKI_DS_TLS] = {"dstls", "2.23.146.1.2.1.6", "2.23.146.1.2.1.3", "2.23.146.1.2.1.0.0.2.0", NULL, "ACME",
                    NULL, PKI_DEFAULT_DS_RID, PKI_DEFAULT_DS_FQDN, false, false, true, 397 * DAY},
    [PKI_DP_AUTH] = {"dpauth", "2.23.146.1.2.1.4", "2.23.146.1.2.1.5", "2.23.146.1.2.1.0.0.1.1", NULL, "ACME",
                     "TEST SM-DP+", PKI_DEFAULT_DP_RID, NULL, false, false, false, 10 * YEAR},
    [PKI_DP_PB] = {"dppb", "2.23.146.1.2.1.5", "2.23.146.1.2.1.4", "2.23.146.1.2.1.0.0.1.2", NULL, "ACME",
                   "TEST SM-DP+", PKI_DEFAULT_DP_RID, NULL, false, false, false, 10 * YEAR},
    [PKI_DP_TLS] = {"dptls", "2.23.146.1.2.1.3", "2.23.146.1.2.1.6", "2.23.146.1.2.1.0.0.1.0", NULL, "ACME",
                    NULL, PKI_DEFAULT_DP_RID, PKI_DEFAULT_DP_FQDN, false, false, true, 397 * DAY},
    [PKI_OPERATOR_CA] = {"operator-ca", NULL, NULL, NULL, "US", "Test Operator", "Test Operator CA", NULL,
                         NULL, true, true, false, 10 * YEAR},
    [PKI_OPERATOR_CLIENT] = {"operator-client", NULL, NULL, NULL, "US", "Test Operator", NULL, NULL,
                             PKI_DEFAULT_OPERATOR_FQDN, false, false, false, 2 * YEAR},
    [PKI_CI_SUBCA] = {"ci-subca", "2.23.146.1.2.1.0.0", "2.23.146.1.2.1.0.0.0", "2.23.146.1.2.1.0.0", "ES",
                      "RSPTEST", "rsp-pki Test CI SubCA", "2.999.1", NULL, false, true, false, 30 * YEAR},
    [PKI_EUM_SUBCA] = {"eum-subca", "2.23.146.1.2.1.0.0.0.0", "2.23.146.1.2.1.0.0.0",
                       "2.23.146.1.2.1.0.0.0.0", "ES", PKI_SGP26_EUM_ORG, "EUM Test SubCA", "2.999.101", NULL,
                       false, true, false, 30 * YEAR},
    [PKI_DP_SUBCA] = {"dp-subca", "2.23.146.1.2.1.0.0.1", "2.23.146.1.2.1.0.0.2", "2.23.146.1.2.1.0.0.1",
                      "ES", "RSPTEST", "rsp-pki Test SM-DP+ SubCA", NULL, NULL, false, true, false,
                      20 * YEAR},
    [PKI_DS_SUBCA] = {"ds-subca", "2.23.146.1.2.1.0.0.2", "2.23.146.1.2.1.0.0.1", "2.23.146.1.2.1.0.0.2",
                      "ES", "RSPTEST", "rsp-pki Test SM-DS SubCA", NULL, NULL, false, true, false, 20 * YEAR},
};

static bool kind_ok(pki_kind k)
{
    return (unsigned)k < PKI_KIND__COUNT;
}

const char *pki_kind_name(pki_kind kind)
{
    return kind_ok(kind) ? kinds[kind].name : "?";
}

int pki_kind_parse(const char *s, pki_kind *kind)
{
    for (int k = 0; k < PKI_KIND__COUNT; k++) {
        if (strcmp(s, kinds[k].name) == 0) {
            *kind = (pki_kind)k;
            return 0;
        }
    }
    set_error("unknown certificate kind '%s'", s);
    return -1;
}

const char *pki_role_policy(pki_kind kind)
{
    return kind_ok(kind) ? kinds[kind].policy : NULL;
}

const char *pki_role_policy_v3(pki_kind kind)
{
    return kind_ok(kind) ? kinds[kind].policy_v3 : NULL;
}

const char *pki_wrong_policy(pki_kind kind)
{
    return kind_ok(kind) ? kinds[kind].wrong_policy : NULL;
}

time_t pki_default_lifetime(pki_kind kind)
{
    return kind_ok(kind) ? kinds[kind].lifetime : 0;
}

static const struct {
    const char *name;
    unsigned flag;
} defect_names[] = {
    {"wrong-policy", PKI_DEFECT_WRONG_POLICY},
    {"no-policy", PKI_DEFECT_NO_POLICY},
    {"no-key-usage", PKI_DEFECT_NO_KEY_USAGE},
    {"key-cert-sign", PKI_DEFECT_KEY_CERT_SIGN},
    {"no-ski", PKI_DEFECT_NO_SKI},
    {"no-aki", PKI_DEFECT_NO_AKI},
    {"not-ca", PKI_DEFECT_NOT_CA},
    {"no-name-constraints", PKI_DEFECT_NO_NAME_CONSTRAINTS},
    {"iin-list", PKI_DEFECT_IIN_LIST},
    {"no-eid", PKI_DEFECT_NO_EID},
    {"self-signed", PKI_DEFECT_SELF_SIGNED},
    {"bad-signature", PKI_DEFECT_BAD_SIGNATURE},
};

unsigned pki_defect_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(defect_names) / sizeof(defect_names[0]); i++)
        if (strcmp(name, defect_names[i].name) == 0)
            return defect_names[i].flag;
    set_error("unknown defect '%s'", name);
    return 0;
}

const char *pki_curve_name(pki_curve curve)
{
    return curve == PKI_CURVE_BRAINPOOL ? "brainpool" : "nist";
}

int pki_curve_parse(const char *s, pki_curve *curve)
{
    if (strcmp(s, "nist") == 0 || strcmp(s, "p256") == 0) {
        *curve = PKI_CURVE_NIST;
        return 0;
    }
    if (strcmp(s, "brainpool") == 0 || strcmp(s, "brp") == 0) {
        *curve = PKI_CURVE_BRAINPOOL;
        return 0;
    }
    set_error("unknown curve '%s'", s);
    return -1;
}

void pki_opts_init(pki_opts *o, pki_kind kind)
{
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->curve = PKI_CURVE_NIST;
}

/* ---- keys ---- */

EVP_PKEY *pki_keygen(pki_curve curve)
{
    const char *group = curve == PKI_CURVE_BRAINPOOL ? "brainpoolP256r1" : "P-256";
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
}

int pki_key_curve(const EVP_PKEY *key, pki_curve *curve)
{
    char group[64];
    size_t len = 0;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        !EVP_PKEY_get_group_name(key, group, sizeof(group), &len))
        return -1;
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
        *curve = PKI_CURVE_NIST;
        return 0;
    }
    if (strcmp(group, "brainpoolP256r1") == 0) {
        *curve = PKI_CURVE_BRAINPOOL;
        return 0;
    }
    return -1;
}

bool pki_key_matches(X509 *cert, EVP_PKEY *key)
{
    bool ok = cert && key && X509_check_private_key(cert, key) == 1;
    ERR_clear_error();
    return ok;
}

/* ---- EID ---- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static unsigned mod97(const char *digits, size_t n)
{
    unsigned r = 0;
    for (size_t i = 0; i < n; i++)
        r = (r * 10 + (unsigned)(digits[i] - '0')) % 97;
    return r;
}

bool pki_eid_valid(const char *eid)
{
    return eid && strlen(eid) == PKI_EID_LEN && all_digits(eid, PKI_EID_LEN) && mod97(eid, PKI_EID_LEN) == 1;
}

int pki_eid_complete(const char *in, char out[PKI_EID_LEN + 1])
{
    size_t n = in ? strlen(in) : 0;
    if ((n != PKI_EID_LEN - 2 && n != PKI_EID_LEN) || !all_digits(in, n)) {
        set_error("EID must be 30 or 32 decimal digits");
        return -1;
    }
    memcpy(out, in, PKI_EID_LEN - 2);
    /* ISO 7064 mod 97-10: append 00, take 98 - (N mod 97). */
    unsigned check = 98 - (mod97(in, PKI_EID_LEN - 2) * 100) % 97;
    out[PKI_EID_LEN - 2] = (char)('0' + check / 10);
    out[PKI_EID_LEN - 1] = (char)('0' + check % 10);
    out[PKI_EID_LEN] = '\0';
    return 0;
}

int pki_eid_make(const char *prefix, uint64_t n, char out[PKI_EID_LEN + 1])
{
    size_t plen = prefix ? strlen(prefix) : 0;
    if (plen < 1 || plen > PKI_EID_LEN - 3 || !all_digits(prefix, plen)) {
        set_error("EID prefix must be 1 to 29 decimal digits");
        return -1;
    }
    char body[PKI_EID_LEN - 1];
    int width = (int)(PKI_EID_LEN - 2 - plen);
    int w = snprintf(body, sizeof(body), "%s%0*llu", prefix, width, (unsigned long long)n);
    if (w != PKI_EID_LEN - 2) {
        set_error("EID serial %llu does not fit after prefix %s", (unsigned long long)n, prefix);
        return -1;
    }
    return pki_eid_complete(body, out);
}

/* ---- EUM prefixes ---- */

static int prefix_match(const unsigned char *p, int plen, const char *eid, size_t elen, int *found)
{
    if (plen <= 0)
        return 0;
    *found = 1;
    return (size_t)plen <= elen && memcmp(p, eid, (size_t)plen) == 0;
}

int pki_eum_permits_eid(X509 *eum, const char *eid)
{
    size_t elen = eid ? strlen(eid) : 0;
    int found = 0, match = 0;

    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(eum, NID_name_constraints, NULL, NULL);
    if (nc) {
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) && !match; i++) {
            GENERAL_SUBTREE *st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
            if (!st->base || st->base->type != GEN_DIRNAME)
                continue;
            X509_NAME *dn = st->base->d.directoryName;
            for (int j = -1; (j = X509_NAME_get_index_by_NID(dn, NID_serialNumber, j)) >= 0 && !match;) {
                const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(dn, j));
                match = prefix_match(ASN1_STRING_get0_data(v), ASN1_STRING_length(v), eid, elen, &found);
            }
        }
        NAME_CONSTRAINTS_free(nc);
    }

    ASN1_OBJECT *iin = OBJ_txt2obj(OID_IIN_LIST, 1);
    int idx = iin ? X509_get_ext_by_OBJ(eum, iin, -1) : -1;
    ASN1_OBJECT_free(iin);
    if (idx >= 0 && !match) {
        const ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(X509_get_ext(eum, idx));
        const unsigned char *p = ASN1_STRING_get0_data(data);
        const unsigned char *end = p + ASN1_STRING_length(data);
        ASN1_SEQUENCE_ANY *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, ASN1_STRING_length(data));
        if (seq && p == end) {
            for (int i = 0; i < sk_ASN1_TYPE_num(seq) && !match; i++) {
                ASN1_TYPE *t = sk_ASN1_TYPE_value(seq, i);
                if (t->type != V_ASN1_PRINTABLESTRING)
                    continue;
                match = prefix_match(ASN1_STRING_get0_data(t->value.printablestring),
                                     ASN1_STRING_length(t->value.printablestring), eid, elen, &found);
            }
        }
        sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    }
    ERR_clear_error();
    if (match)
        return 1;
    return found ? 0 : -1;
}

int pki_subject_text(X509 *cert, int nid, char *buf, size_t cap)
{
    X509_NAME *name = X509_get_subject_name(cert);
    int i = name ? X509_NAME_get_index_by_NID(name, nid, -1) : -1;
    if (i < 0)
        return -1;
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    int rc = -1;
    if (n >= 0 && (size_t)n < cap && !memchr(utf8, 0, (size_t)n)) {
        memcpy(buf, utf8, (size_t)n);
        buf[n] = '\0';
        rc = 0;
    }
    OPENSSL_free(utf8);
    return rc;
}

/* ---- certificate construction ---- */

static int add_conf_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, NULL, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int add_ski(X509 *x)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    /* RFC 5280 method 1: SHA-1 of the subjectPublicKey bits, like openssl's "hash". */
    int ok = os && X509_pubkey_digest(x, EVP_sha1(), md, &len) && ASN1_OCTET_STRING_set(os, md, (int)len) &&
             X509_add1_ext_i2d(x, NID_subject_key_identifier, os, 0, X509V3_ADD_DEFAULT) == 1;
    ASN1_OCTET_STRING_free(os);
    return ok ? 0 : -1;
}

static int add_aki(X509 *x, X509 *issuer)
{
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    if (!akid)
        return -1;
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    int ok;
    if (ski) {
        akid->keyid = ASN1_OCTET_STRING_dup(ski);
        ok = akid->keyid != NULL;
    } else {
        /* An issuer without SKI (a defect test): name its key the RFC 5280 way. */
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        akid->keyid = ASN1_OCTET_STRING_new();
        ok = akid->keyid && X509_pubkey_digest(issuer, EVP_sha1(), md, &len) &&
             ASN1_OCTET_STRING_set(akid->keyid, md, (int)len);
    }
    ok = ok && X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) == 1;
    AUTHORITY_KEYID_free(akid);
    return ok ? 0 : -1;
}

static int add_policy(X509 *x, const char *oid, int critical)
{
    CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
    POLICYINFO *pi = POLICYINFO_new();
    int ok = cp && pi;
    if (ok) {
        ASN1_OBJECT_free(pi->policyid);
        pi->policyid = OBJ_txt2obj(oid, 1);
        ok = pi->policyid != NULL;
    }
    if (ok && sk_POLICYINFO_push(cp, pi))
        pi = NULL;
    else
        ok = 0;
    ok = ok && X509_add1_ext_i2d(x, NID_certificate_policies, cp, critical, X509V3_ADD_DEFAULT) == 1;
    POLICYINFO_free(pi);
    sk_POLICYINFO_pop_free(cp, POLICYINFO_free);
    if (!ok)
        set_error("bad policy OID '%s'", oid);
    return ok ? 0 : -1;
}

static int push_gen(GENERAL_NAMES *gens, int type, void *value)
{
    GENERAL_NAME *g = value ? GENERAL_NAME_new() : NULL;
    if (!g)
        goto fail;
    GENERAL_NAME_set0_value(g, type, value);
    if (!sk_GENERAL_NAME_push(gens, g)) {
        GENERAL_NAME_free(g);
        return -1;
    }
    return 0;
fail:
    if (type == GEN_RID)
        ASN1_OBJECT_free(value);
    else
        ASN1_STRING_free(value);
    return -1;
}

static int push_dns(GENERAL_NAMES *gens, const char *name)
{
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (s && !ASN1_STRING_set(s, name, (int)strlen(name))) {
        ASN1_IA5STRING_free(s);
        s = NULL;
    }
    return push_gen(gens, GEN_DNS, s);
}

static int push_ip(GENERAL_NAMES *gens, const char *ip)
{
    return push_gen(gens, GEN_IPADD, a2i_IPADDRESS(ip));
}

static int push_rid(GENERAL_NAMES *gens, const char *rid)
{
    return push_gen(gens, GEN_RID, OBJ_txt2obj(rid, 1));
}

static int add_san(X509 *x, const char *fqdn, const char *rid, bool loopback)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    int ok = gens != NULL;
    if (ok && fqdn)
        ok = push_dns(gens, fqdn) == 0;
    if (ok && rid)
        ok = push_rid(gens, rid) == 0;
    if (ok && loopback)
        ok = push_dns(gens, "localhost") == 0 && push_ip(gens, "127.0.0.1") == 0 && push_ip(gens, "::1") == 0;
    if (ok && sk_GENERAL_NAME_num(gens) > 0)
        ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
    return ok ? 0 : -1;
}

/* nameConstraints permitting DirName "O=<org>, serialNumber=<prefix>", the
 * SGP.26 way of stating an EUM's EID range. */
static int add_name_constraints(X509 *x, const char *org, const char *prefix)
{
    NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
    GENERAL_SUBTREE *st = GENERAL_SUBTREE_new();
    X509_NAME *dn = X509_NAME_new();
    int ok = nc && st && dn &&
             X509_NAME_add_entry_by_NID(dn, NID_organizationName, MBSTRING_UTF8, (const unsigned char *)org,
                                        -1, -1, 0) &&
             X509_NAME_add_entry_by_NID(dn, NID_serialNumber, MBSTRING_ASC, (const unsigned char *)prefix, -1,
                                        -1, 0);
    if (ok && st->base) {
        GENERAL_NAME_set0_value(st->base, GEN_DIRNAME, dn);
        dn = NULL;
        nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
        ok = nc->permittedSubtrees && sk_GENERAL_SUBTREE_push(nc->permittedSubtrees, st);
        if (ok)
            st = NULL;
    } else {
        ok = 0;
    }
    ok = ok && X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, X509V3_ADD_DEFAULT) == 1;
    X509_NAME_free(dn);
    GENERAL_SUBTREE_free(st);
    NAME_CONSTRAINTS_free(nc);
    return ok ? 0 : -1;
}

/* Extension 2.23.146.1.2.2.0: SEQUENCE OF PrintableString (IIN prefixes). */
static int add_iin_list(X509 *x, const char *prefix)
{
    size_t plen = strlen(prefix);
    if (plen > 100)
        return -1;
    unsigned char der[128];
    der[0] = 0x30;
    der[1] = (unsigned char)(plen + 2);
    der[2] = 0x13;
    der[3] = (unsigned char)plen;
    memcpy(der + 4, prefix, plen);
    ASN1_OBJECT *obj = OBJ_txt2obj(OID_IIN_LIST, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = obj && os && ASN1_OCTET_STRING_set(os, der, (int)(plen + 4)) &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return ok ? 0 : -1;
}

static int set_serial(X509 *x, const char *hex)
{
    BIGNUM *bn = NULL;
    if (hex) {
        if (strncmp(hex, "0x", 2) == 0 || strncmp(hex, "0X", 2) == 0)
            hex += 2;
        if (!*hex || strspn(hex, "0123456789abcdefABCDEF") != strlen(hex) || strlen(hex) > 40 ||
            !BN_hex2bn(&bn, hex)) {
            set_error("bad serial '%s' (hex, at most 20 bytes)", hex);
            BN_free(bn);
            return -1;
        }
    } else {
        unsigned char r[8];
        if (RAND_bytes(r, sizeof(r)) != 1)
            return -1;
        r[0] = (unsigned char)((r[0] & 0x7f) | 0x01); /* positive and 8 bytes long */
        bn = BN_bin2bn(r, sizeof(r), NULL);
    }
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = ai && X509_set_serialNumber(x, ai);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok ? 0 : -1;
}

static int name_add(X509_NAME *n, int nid, const char *value)
{
    if (!value || !*value)
        return 0;
    /* MBSTRING_UTF8 gives UTF8String; C and serialNumber keep their
     * PrintableString types from OpenSSL's string table, as in SGP.26. */
    return X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8, (const unsigned char *)value, -1, -1, 0) ? 0
                                                                                                      : -1;
}

static bool valid_fqdn(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '*')
            return false;
    return true;
}

static bool valid_oid(const char *s)
{
    if (!*s || strspn(s, "0123456789.") != strlen(s))
        return false;
    ASN1_OBJECT *o = OBJ_txt2obj(s, 1);
    ASN1_OBJECT_free(o);
    return o != NULL;
}

typedef struct mint_args {
    const kind_info *ki;
    const char *country, *org, *cn, *fqdn, *rid, *eid, *prefix, *policy;
} mint_args;

static int check_args(const pki_opts *o, const pki_cred *issuer, mint_args *a)
{
    if (!kind_ok(o->kind)) {
        set_error("bad certificate kind");
        return -1;
    }
    const kind_info *ki = &kinds[o->kind];
    a->ki = ki;
    bool self = ki->self_signed || (o->defects & PKI_DEFECT_SELF_SIGNED);
    if (!self && (!issuer || !issuer->cert || !issuer->key)) {
        set_error("%s needs an issuer certificate and key", ki->name);
        return -1;
    }
    if (ki->self_signed && issuer) {
        set_error("%s is self-signed and takes no issuer", ki->name);
        return -1;
    }
    a->country = o->country ? o->country : ki->country;
    a->org = o->org ? o->org : ki->org;
    a->fqdn = o->fqdn ? o->fqdn : ki->fqdn;
    a->cn = o->cn ? o->cn : ki->cn ? ki->cn : a->fqdn;
    a->rid = o->rid ? (*o->rid ? o->rid : NULL) : ki->rid;
    a->eid = o->eid ? o->eid : PKI_SGP26_EID;
    a->prefix = o->eid_prefix ? o->eid_prefix : PKI_SGP26_EID_PREFIX;
    a->policy = o->policy                                ? o->policy
                : (o->defects & PKI_DEFECT_WRONG_POLICY) ? ki->wrong_policy
                : o->v3                                  ? ki->policy_v3
                                                         : ki->policy;
    if (a->fqdn && !valid_fqdn(a->fqdn)) {
        set_error("bad DNS name '%s'", a->fqdn);
        return -1;
    }
    if (a->rid && !valid_oid(a->rid)) {
        set_error("bad registeredID '%s'", a->rid);
        return -1;
    }
    if (a->policy && !valid_oid(a->policy)) {
        set_error("bad policy OID '%s'", a->policy);
        return -1;
    }
    if (o->kind == PKI_EUICC && (strlen(a->eid) != PKI_EID_LEN || !all_digits(a->eid, PKI_EID_LEN))) {
        set_error("EID must be 32 decimal digits");
        return -1;
    }
    size_t plen = strlen(a->prefix);
    if ((o->kind == PKI_EUM || o->kind == PKI_EUM_SUBCA) &&
        (plen < 1 || plen > PKI_EID_LEN || !all_digits(a->prefix, plen))) {
        set_error("EID prefix must be 1 to 32 decimal digits");
        return -1;
    }
    if (!a->org || !*a->org) {
        set_error("%s needs an organisation name", ki->name);
        return -1;
    }
    return 0;
}

static X509_NAME *make_subject(const pki_opts *o, const mint_args *a)
{
    X509_NAME *n = X509_NAME_new();
    if (!n)
        return NULL;
    int rc = 0;
    if (o->kind == PKI_CI) { /* SGP.26 CI order: CN, OU, O, C */
        rc |= name_add(n, NID_commonName, a->cn);
        rc |= name_add(n, NID_organizationalUnitName, "TESTCERT");
        rc |= name_add(n, NID_organizationName, a->org);
        rc |= name_add(n, NID_countryName, a->country);
    } else {
        rc |= name_add(n, NID_countryName, a->country);
        rc |= name_add(n, NID_organizationName, a->org);
        if (o->kind == PKI_EUICC && !(o->defects & PKI_DEFECT_NO_EID))
            rc |= name_add(n, NID_serialNumber, a->eid);
        rc |= name_add(n, NID_commonName, a->cn);
    }
    if (rc != 0) {
        set_error("bad subject attribute");
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

static int add_key_usage(X509 *x, const pki_opts *o, const char *usage)
{
    if (o->defects & PKI_DEFECT_NO_KEY_USAGE)
        return 0;
    char v[96];
    bool extra = (o->defects & PKI_DEFECT_KEY_CERT_SIGN) && !strstr(usage, "keyCertSign");
    snprintf(v, sizeof(v), "critical,%s%s", usage, extra ? ",keyCertSign" : "");
    return add_conf_ext(x, NID_key_usage, v);
}

/* basicConstraints CA:TRUE with the kind's pathLen (def_pathlen, -1 for none) unless o->pathlen says. */
static int add_basic_ca(X509 *x, const pki_opts *o, int def_pathlen)
{
    if (o->defects & PKI_DEFECT_NOT_CA)
        return add_conf_ext(x, NID_basic_constraints, "critical,CA:FALSE");
    int pl = o->pathlen > 0 ? o->pathlen - 1 : o->pathlen < 0 ? -1 : def_pathlen;
    char v[64];
    if (pl >= 0)
        snprintf(v, sizeof(v), "critical,CA:TRUE,pathlen:%d", pl);
    else
        snprintf(v, sizeof(v), "critical,CA:TRUE");
    return add_conf_ext(x, NID_basic_constraints, v);
}

static int maybe_policy(X509 *x, const pki_opts *o, const mint_args *a, int critical)
{
    if ((o->defects & PKI_DEFECT_NO_POLICY) || !a->policy)
        return 0;
    return add_policy(x, a->policy, critical);
}

static int maybe_ski(X509 *x, const pki_opts *o)
{
    return (o->defects & PKI_DEFECT_NO_SKI) ? 0 : add_ski(x);
}

static int maybe_aki(X509 *x, const pki_opts *o, X509 *issuer)
{
    return (o->defects & (PKI_DEFECT_NO_AKI | PKI_DEFECT_SELF_SIGNED)) || !issuer ? 0 : add_aki(x, issuer);
}

/* Extensions in the order and with the criticality of the SGP.26 samples.
 * Statements, not one expression: the order of the calls is the order of
 * the extensions in the certificate. */
static int add_extensions(X509 *x, const pki_opts *o, const mint_args *a, X509 *issuer)
{
    bool loop = o->loopback && a->ki->tls_server;
    int rc = 0;
    switch (o->kind) {
    case PKI_CI:
        rc |= maybe_ski(x, o);
        rc |= add_basic_ca(x, o, -1);
        rc |= maybe_policy(x, o, a, 1);
        rc |= add_key_usage(x, o, "keyCertSign,cRLSign");
        rc |= add_san(x, NULL, a->rid, false);
        rc |= add_conf_ext(x, NID_crl_distribution_points, CRL_A "," CRL_B);
        break;
    case PKI_EUM:
        rc |= maybe_aki(x, o, issuer);
        rc |= maybe_ski(x, o);
        rc |= add_key_usage(x, o, "keyCertSign");
        rc |= maybe_policy(x, o, a, 1);
        rc |= add_san(x, NULL, a->rid, false);
        rc |= add_basic_ca(x, o, 0);
        rc |= add_conf_ext(x, NID_crl_distribution_points, CRL_B);
        if (o->defects & PKI_DEFECT_IIN_LIST)
            rc |= add_iin_list(x, a->prefix);
        else if (!(o->defects & PKI_DEFECT_NO_NAME_CONSTRAINTS))
            rc |= add_name_constraints(x, a->org, a->prefix);
        break;
    case PKI_CI_SUBCA:
    case PKI_DP_SUBCA:
    case PKI_DS_SUBCA:
        rc |= maybe_aki(x, o, issuer);
        rc |= maybe_ski(x, o);
        rc |= add_key_usage(x, o, "keyCertSign,cRLSign");
        rc |= maybe_policy(x, o, a, 1);
        rc |= add_basic_ca(x, o, o->kind == PKI_CI_SUBCA ? -1 : 0);
        rc |= add_conf_ext(x, NID_crl_distribution_points, CRL_A "," CRL_B);
        break;
    case PKI_EUM_SUBCA:
        rc |= maybe_aki(x, o, issuer);
        rc |= maybe_ski(x, o);
        rc |= add_key_usage(x, o, "keyCertSign,cRLSign");
        rc |= maybe_policy(x, o, a, 1);
        rc |= add_basic_ca(x, o, 0);
        if (o->defects & PKI_DEFECT_IIN_LIST)
            rc |= add_iin_list(x, a->prefix);
        else if (!(o->defects & PKI_DEFECT_NO_NAME_CONSTRAINTS))
            rc |= add_name_constraints(x, a->org, a->prefix);
        break;
    case PKI_EUICC:
        rc |= maybe_aki(x, o, issuer);
        rc |= maybe_ski(x, o);
        rc |= add_key_usage(x, o, "digitalSignature");
        rc |= maybe_policy(x, o, a, 1);
        break;
    case PKI_DS_AUTH:
    case PKI_DP_AUTH:
    case PKI_DP_PB:
        rc |= maybe_aki(x, o, issuer);
        rc |= maybe_ski(x, o);
        rc |= add_san(x, NULL, a->rid, false);
        rc |= add_key_usage(x, o, "digitalSignature");
        rc |= maybe_policy(x, o, a, 1);
        rc |= add_conf_ext(x, NID_crl_distribution_points, CRL_A "," CRL_B);
        break;
    case PKI_DS_TLS:
    case PKI_DP_TLS:
        rc |= add_key_usage(x, o, "digitalSignature");
        rc |= add_conf_ext(x, NID_ext_key_usage, "critical,serverAuth,clientAuth");
        rc |= maybe_policy(x, o, a, 0); /* not critical in SGP.26 DP TLS certificates */
        rc |= maybe_ski(x, o);
        rc |= maybe_aki(x, o, issuer);
        rc |= add_san(x, a->fqdn, a->rid, loop);
        rc |= add_conf_ext(x, NID_crl_distribution_points, CRL_A "," CRL_B);
        break;
    case PKI_OPERATOR_CA:
        rc |= maybe_ski(x, o);
        rc |= add_basic_ca(x, o, -1);
        rc |= add_key_usage(x, o, "keyCertSign,cRLSign");
        rc |= maybe_policy(x, o, a, 0);
        break;
    case PKI_OPERATOR_CLIENT:
        rc |= add_key_usage(x, o, "digitalSignature");
        rc |= add_conf_ext(x, NID_ext_key_usage, "clientAuth");
        rc |= maybe_ski(x, o);
        rc |= maybe_aki(x, o, issuer);
        rc |= add_san(x, a->fqdn, a->rid, false);
        rc |= maybe_policy(x, o, a, 0);
        break;
    default:
        rc = -1;
    }
    return rc;
}

/* Re-parses the certificate with the last byte of its signature flipped. */
static X509 *corrupt_signature(X509 *x)
{
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    X509 *bad = NULL;
    if (len > 0) {
        der[len - 1] ^= 0x01;
        const unsigned char *p = der;
        bad = d2i_X509(NULL, &p, len);
    }
    OPENSSL_free(der);
    return bad;
}

int pki_mint(const pki_opts *o, const pki_cred *issuer, pki_cred *out)
{
    mint_args a;
    memset(out, 0, sizeof(*out));
    last_error[0] = '\0';
    if (check_args(o, issuer, &a) != 0)
        return -1;
    bool self = a.ki->self_signed || (o->defects & PKI_DEFECT_SELF_SIGNED);

    EVP_PKEY *key = o->key;
    if (key) {
        if (!EVP_PKEY_up_ref(key))
            return -1;
    } else if (!(key = pki_keygen(o->curve))) {
        set_error("key generation failed");
        return -1;
    }

    X509 *x = X509_new();
    X509_NAME *subject = make_subject(o, &a);
    time_t nb = o->not_before ? o->not_before : time(NULL) - 3600;
    time_t na = o->not_after ? o->not_after : o->kind == PKI_EUICC ? EUICC_NOT_AFTER : nb + a.ki->lifetime;
    int ok = x && subject && X509_set_version(x, X509_VERSION_3) && set_serial(x, o->serial) == 0 &&
             X509_set_subject_name(x, subject) &&
             X509_set_issuer_name(x, self ? subject : X509_get_subject_name(issuer->cert)) &&
             ASN1_TIME_set(X509_getm_notBefore(x), nb) && ASN1_TIME_set(X509_getm_notAfter(x), na) &&
             X509_set_pubkey(x, key) && add_extensions(x, o, &a, self ? NULL : issuer->cert) == 0 &&
             X509_sign(x, self ? key : issuer->key, EVP_sha256()) > 0;
    if (ok && (o->defects & PKI_DEFECT_BAD_SIGNATURE)) {
        X509 *bad = corrupt_signature(x);
        X509_free(x);
        x = bad;
        ok = x != NULL;
    }
    X509_NAME_free(subject);
    if (!ok) {
        if (!last_error[0])
            set_error("could not build the %s certificate", a.ki->name);
        X509_free(x);
        EVP_PKEY_free(key);
        return -1;
    }
    out->cert = x;
    out->key = key;
    return 0;
}

void pki_cred_clear(pki_cred *c)
{
    if (!c)
        return;
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    c->cert = NULL;
    c->key = NULL;
}

/* ---- files ---- */

static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (fchmod(fd, mode) != 0)
        rc = -1;
    const unsigned char *p = data;
    while (rc == 0 && len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -1;
            break;
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0)
        rc = -1;
    if (rc != 0)
        set_error("%s: write failed: %s", path, strerror(errno));
    return rc;
}

static int write_bio(const char *path, BIO *bio, mode_t mode)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    return len >= 0 ? write_file(path, data, (size_t)len, mode) : -1;
}

int pki_write_cert_der(const char *path, X509 *cert)
{
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    int rc = len > 0 ? write_file(path, der, (size_t)len, 0644) : -1;
    OPENSSL_free(der);
    return rc;
}

int pki_write_cert_pem(const char *path, X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = bio && PEM_write_bio_X509(bio, cert) ? write_bio(path, bio, 0644) : -1;
    BIO_free(bio);
    return rc;
}

int pki_write_certs_pem(const char *path, X509 *const *certs, size_t n)
{
    BIO *bio = BIO_new(BIO_s_mem());
    bool ok = bio != NULL;
    for (size_t i = 0; i < n && ok; i++)
        ok = PEM_write_bio_X509(bio, certs[i]) == 1;
    int rc = ok ? write_bio(path, bio, 0644) : -1;
    BIO_free(bio);
    return rc;
}

int pki_write_key_pem(const char *path, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) ? write_bio(path, bio, 0600)
                                                                                  : -1;
    BIO_free(bio);
    return rc;
}

int pki_write_cred(const char *dir, const char *name, const pki_cred *c)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s.der", dir, name);
    if (n < 0 || (size_t)n + 8 >= sizeof(path)) {
        set_error("path too long");
        return -1;
    }
    if (pki_write_cert_der(path, c->cert) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    if (pki_write_cert_pem(path, c->cert) != 0)
        return -1;
    if (c->key) {
        snprintf(path, sizeof(path), "%s/%s.key.pem", dir, name);
        if (pki_write_key_pem(path, c->key) != 0)
            return -1;
    }
    return 0;
}

static bool looks_pem(const uint8_t *buf, size_t len)
{
    size_t i = 0;
    while (i < len && isspace(buf[i]))
        i++;
    return len - i >= 10 && memcmp(buf + i, "-----BEGIN", 10) == 0;
}

/* Declining to prompt keeps an encrypted key from blocking on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

X509 *pki_parse_cert(const uint8_t *buf, size_t len)
{
    X509 *x = NULL;
    if (!buf || len == 0 || len > INT_MAX)
        return NULL;
    if (looks_pem(buf, len)) {
        BIO *bio = BIO_new_mem_buf(buf, (int)len);
        x = bio ? PEM_read_bio_X509(bio, NULL, no_password, NULL) : NULL;
        BIO_free(bio);
    } else {
        const unsigned char *p = buf;
        x = d2i_X509(NULL, &p, (long)len);
        if (x && p != buf + len) {
            X509_free(x);
            x = NULL;
        }
    }
    ERR_clear_error();
    return x;
}

EVP_PKEY *pki_parse_key(const uint8_t *buf, size_t len)
{
    EVP_PKEY *k = NULL;
    if (!buf || len == 0 || len > INT_MAX)
        return NULL;
    if (looks_pem(buf, len)) {
        BIO *bio = BIO_new_mem_buf(buf, (int)len);
        k = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
        BIO_free(bio);
    } else {
        const unsigned char *p = buf;
        k = d2i_AutoPrivateKey(NULL, &p, (long)len);
        if (k && p != buf + len) {
            EVP_PKEY_free(k);
            k = NULL;
        }
    }
    ERR_clear_error();
    return k;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            if (cap >= (1u << 24)) { /* certificates and keys are small */
                free(buf);
                buf = NULL;
                break;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        set_error("%s: read failed", path);
        return NULL;
    }
    *len = n;
    return buf;
}

X509 *pki_load_cert(const char *path)
{
    size_t len = 0;
    uint8_t *buf = read_file(path, &len);
    X509 *x = buf ? pki_parse_cert(buf, len) : NULL;
    if (buf && !x)
        set_error("%s: not a DER or PEM certificate", path);
    free(buf);
    return x;
}

EVP_PKEY *pki_load_key(const char *path)
{
    size_t len = 0;
    uint8_t *buf = read_file(path, &len);
    EVP_PKEY *k = buf ? pki_parse_key(buf, len) : NULL;
    if (buf && !k)
        set_error("%s: not a DER or PEM private key", path);
    if (buf)
        OPENSSL_cleanse(buf, len);
    free(buf);
    return k;
}

/* ---- time ---- */

int pki_parse_time(const char *s, time_t now, time_t *out)
{
    struct tm tm;
    char tail[8] = "";
    int n = 0;
    memset(&tm, 0, sizeof(tm));
    if (!s || !*s)
        goto bad;
    if (s[0] == '@' || s[0] == '+' || s[0] == '-') {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s + 1, &end, 10);
        if (errno || end == s + 1 || v < 0 || v > (long long)1e12)
            goto bad;
        if (s[0] == '@') {
            if (*end)
                goto bad;
            *out = (time_t)v;
            return 0;
        }
        long long unit = strcmp(end, "d") == 0   ? 86400
                         : strcmp(end, "h") == 0 ? 3600
                         : strcmp(end, "s") == 0 ? 1
                                                 : 0;
        if (!unit || v > (long long)1e12 / unit)
            goto bad;
        *out = s[0] == '+' ? now + (time_t)(v * unit) : now - (time_t)(v * unit);
        return 0;
    }
    size_t len = strlen(s);
    if (len == 15 && s[14] == 'Z' && all_digits(s, 14)) {
        if (sscanf(s, "%4d%2d%2d%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec) != 6)
            goto bad;
    } else if (len == 10) {
        if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3 || n != 10)
            goto bad;
    } else if (len == 19 || len == 20) {
        if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec, &n) != 6 ||
            n != 19)
            goto bad;
        snprintf(tail, sizeof(tail), "%s", s + 19);
        if (tail[0] && strcmp(tail, "Z") != 0)
            goto bad;
    } else {
        goto bad;
    }
    if (tm.tm_year < 1950 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59 || tm.tm_hour < 0 ||
        tm.tm_min < 0 || tm.tm_sec < 0)
        goto bad;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm);
    return 0;
bad:
    set_error("bad time '%s' (YYYY-MM-DD[THH:MM:SS[Z]], YYYYMMDDHHMMSSZ, @SECONDS, +N/-N with d|h|s)",
              s ? s : "");
    return -1;
}

int pki_write_crl(const char *path, const pki_cred *issuer, X509 *const *revoked, size_t n,
                  time_t this_update, time_t next_update)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *tu = ASN1_TIME_set(NULL, this_update),
              *nu = next_update ? ASN1_TIME_set(NULL, next_update) : NULL;
    bool ok = crl && tu && (!next_update || nu) && X509_CRL_set_version(crl, 1) &&
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer->cert)) &&
              X509_CRL_set1_lastUpdate(crl, tu) && (!nu || X509_CRL_set1_nextUpdate(crl, nu));
    for (size_t i = 0; ok && i < n; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ok = r && X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked[i])) &&
             X509_REVOKED_set_revocationDate(r, tu) && X509_CRL_add0_revoked(crl, r);
        if (!ok)
            X509_REVOKED_free(r);
    }
    ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, issuer->key, EVP_sha256()) > 0;
    BIO *bio = ok ? BIO_new(BIO_s_mem()) : NULL;
    size_t pl = strlen(path);
    bool der = pl > 4 && strcmp(path + pl - 4, ".der") == 0;
    int rc = -1;
    if (bio && (der ? i2d_X509_CRL_bio(bio, crl) : PEM_write_bio_X509_CRL(bio, crl)))
        rc = write_bio(path, bio, 0644);
    if (rc != 0)
        set_error("%s: cannot write the CRL", path);
    BIO_free(bio);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    X509_CRL_free(crl);
    return rc;
}
