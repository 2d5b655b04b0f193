#include "rsp/cert.h"

#include "rsp/cert_impl.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "asn1/der.h"
#include "rsp/sig.h"

/* ---- failure reasons ---- */

static _Thread_local char last_reason[192];

void rsp_cert_why(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_reason, sizeof(last_reason), fmt, ap);
    va_end(ap);
}

void rsp_cert_why_reset(void)
{
    last_reason[0] = '\0';
}

const char *rsp_cert_last_reason(void)
{
    return last_reason;
}

/* ---- OIDs, as the content octets of their DER encoding ---- */

#define ROLE_ARC RSP_ROLE_ARC
static const uint8_t oid_role_euicc[] = {ROLE_ARC, 0x01};
static const uint8_t oid_role_euicc_v3[] = {ROLE_ARC, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t oid_role_dp_tls[] = {ROLE_ARC, 0x03};
static const uint8_t oid_role_ds_tls[] = {ROLE_ARC, 0x06};
static const uint8_t oid_iin_list[] = {0x67, 0x81, 0x12, 0x01, 0x02, 0x02, 0x00}; /* 2.23.146.1.2.2.0 */

static bool obj_is(const ASN1_OBJECT *o, const uint8_t *b, size_t n)
{
    return (size_t)OBJ_length(o) == n && memcmp(OBJ_get0_data(o), b, n) == 0;
}

/* Index of the first rule matched by a certificate policy, or -1 (also when
 * the extension is absent, repeated or malformed). */
int rsp_cert_policy_match(X509 *x, const rsp_oid_rule *rules, size_t nrules)
{
    int crit = 0, found = -1;
    CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(x, NID_certificate_policies, &crit, NULL);
    if (cp == NULL)
        return -1;
    for (int i = 0; i < sk_POLICYINFO_num(cp) && found < 0; i++) {
        const ASN1_OBJECT *o = sk_POLICYINFO_value(cp, i)->policyid;
        size_t ol = (size_t)OBJ_length(o);
        const uint8_t *ob = OBJ_get0_data(o);
        for (size_t r = 0; r < nrules && found < 0; r++) {
            /* A rule's last octet closes an arc (< 0x80), so a longer OID with
             * the same leading octets lies below it. */
            if ((ol == rules[r].n || (rules[r].under && ol > rules[r].n)) &&
                memcmp(ob, rules[r].b, rules[r].n) == 0)
                found = (int)r;
        }
    }
    CERTIFICATEPOLICIES_free(cp);
    return found;
}

/* ---- strict DER helpers ---- */

/* Reads a definite, minimal length of at most 3 octets. */
static int der_len(const uint8_t **p, const uint8_t *end, size_t *out)
{
    const uint8_t *q = *p;
    if (q >= end)
        return -1;
    if (q[0] < 0x80) {
        *out = q[0];
        *p = q + 1;
        return 0;
    }
    size_t nb = q[0] & 0x7f;
    if (nb == 0 || nb > 3 || (size_t)(end - q) < 1 + nb || q[1] == 0)
        return -1;
    size_t v = 0;
    for (size_t i = 1; i <= nb; i++)
        v = (v << 8) | q[i];
    if (v < 0x80)
        return -1;
    *out = v;
    *p = q + 1 + nb;
    return 0;
}

/* Parses one certificate that fills der[0..len) exactly. */
X509 *rsp_cert_parse_exact(const uint8_t *der, size_t len)
{
    if (der == NULL || len < 2 || len > (size_t)LONG_MAX || der[0] != 0x30)
        return NULL;
    const uint8_t *p = der + 1, *end = der + len;
    size_t body;
    if (der_len(&p, end, &body) != 0 || (size_t)(end - p) != body)
        return NULL;
    p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL && p != end) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

/* ---- per-certificate checks ---- */

static int validity_of(const ASN1_TIME *not_before, const ASN1_TIME *not_after, time_t now)
{
    time_t t = now;
    int nb = X509_cmp_time(not_before, &t);
    int na = X509_cmp_time(not_after, &t);
    if (nb == 0 || na == 0)
        return RSP_CERT_BAD_TIME;
    if (nb > 0)
        return RSP_CERT_NOT_YET;
    if (na < 0)
        return RSP_CERT_EXPIRED;
    return RSP_CERT_VALID;
}

int rsp_cert_validity(X509 *x, time_t now)
{
    return validity_of(X509_get0_notBefore(x), X509_get0_notAfter(x), now);
}

const char *rsp_cert_validity_text(int v)
{
    return v == RSP_CERT_NOT_YET   ? "not yet valid"
           : v == RSP_CERT_EXPIRED ? "expired"
                                   : "malformed validity time";
}

/* Structural problems: not v3, an extension OpenSSL could not decode, the
 * same extension twice, or a critical extension nobody here understands
 * (RFC 5280 requires rejecting those). */
const char *rsp_cert_ext_problem(X509 *x)
{
    if (X509_get_version(x) != X509_VERSION_3)
        return "not an X.509 v3 certificate";
    if (X509_get_extension_flags(x) & EXFLAG_INVALID)
        return "malformed extension";
    int n = X509_get_ext_count(x);
    for (int i = 0; i < n; i++) {
        X509_EXTENSION *e = X509_get_ext(x, i);
        const ASN1_OBJECT *o = X509_EXTENSION_get_object(e);
        for (int j = i + 1; j < n; j++)
            if (OBJ_cmp(o, X509_EXTENSION_get_object(X509_get_ext(x, j))) == 0)
                return "duplicate extension";
        if (!X509_EXTENSION_get_critical(e) || X509_supported_extension(e) ||
            obj_is(o, oid_iin_list, sizeof(oid_iin_list)))
            continue;
        return "unsupported critical extension";
    }
    return NULL;
}

bool rsp_cert_ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

bool rsp_cert_keyid(const ASN1_OCTET_STRING *s, const uint8_t **b, size_t *n)
{
    if (s == NULL || ASN1_STRING_length(s) <= 0)
        return false;
    *b = ASN1_STRING_get0_data(s);
    *n = (size_t)ASN1_STRING_length(s);
    return true;
}

bool rsp_cert_same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

/* Checks that issuer signed x: names chain, ecdsa-with-SHA256 without
 * parameters in both AlgorithmIdentifiers, an issuer key on a supported curve,
 * and the signature over the TBSCertificate bytes as received. */
const char *rsp_cert_signed_by(X509 *x, X509 *issuer)
{
    if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(issuer)) != 0)
        return "issuer name differs from the issuer's subject";
    const X509_ALGOR *alg = NULL;
    const ASN1_OBJECT *aobj = NULL;
    int ptype = 0;
    X509_get0_signature(NULL, &alg, x);
    X509_ALGOR_get0(&aobj, &ptype, NULL, alg);
    if (X509_get_signature_nid(x) != NID_ecdsa_with_SHA256 || ptype != V_ASN1_UNDEF ||
        X509_ALGOR_cmp(alg, X509_get0_tbs_sigalg(x)) != 0)
        return "signature algorithm is not ecdsa-with-SHA256";
    EVP_PKEY *k = X509_get0_pubkey(issuer);
    if (rsp_sig_key_curve(k) < 0)
        return "issuer key is not on P-256 or brainpoolP256r1";
    if (X509_verify(x, k) != 1)
        return "signature does not verify";
    return NULL;
}

static bool all_digits(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* ---- EID ranges of an EUM ---- */

static int prefix_add(rsp_prefix_set *s, const uint8_t *d, size_t n)
{
    if (n == 0 || n > RSP_EID_LEN || !all_digits(d, n))
        return -1;
    rsp_eid_prefix *v = realloc(s->v, (s->n + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    s->v = v;
    v[s->n].len = (uint8_t)n;
    memcpy(v[s->n].d, d, n);
    s->n++;
    return 0;
}

bool rsp_prefix_match(const rsp_prefix_set *s, const char *eid)
{
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(eid, s->v[i].d, s->v[i].len) == 0)
            return true;
    return false;
}

/* nameConstraints permittedSubtrees directoryName serialNumber values (variant
 * O EUMs): GSMA uses them as EID prefixes, not as RFC 5280 DN subtrees. */
static const char *nc_prefixes(X509 *x, rsp_prefix_set *out)
{
    int crit = 0;
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(x, NID_name_constraints, &crit, NULL);
    if (nc == NULL)
        return crit == -1 ? NULL : "malformed nameConstraints";
    const char *err = NULL;
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) && !err; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i)->base;
        if (gn == NULL || gn->type != GEN_DIRNAME)
            continue;
        const X509_NAME *dn = gn->d.directoryName;
        for (int j = X509_NAME_get_index_by_NID(dn, NID_serialNumber, -1); j >= 0 && !err;
             j = X509_NAME_get_index_by_NID(dn, NID_serialNumber, j)) {
            const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(dn, j));
            if (prefix_add(out, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v)) != 0)
                err = "nameConstraints serialNumber is not an EID prefix";
        }
    }
    NAME_CONSTRAINTS_free(nc);
    return err;
}

/* Extension 2.23.146.1.2.2.0: SEQUENCE OF PrintableString (IIN prefixes). */
static const char *iin_prefixes(X509 *x, rsp_prefix_set *out)
{
    X509_EXTENSION *ext = NULL;
    for (int i = 0; i < X509_get_ext_count(x); i++) {
        X509_EXTENSION *e = X509_get_ext(x, i);
        if (obj_is(X509_EXTENSION_get_object(e), oid_iin_list, sizeof(oid_iin_list)))
            ext = e;
    }
    if (ext == NULL)
        return NULL;
    const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
    const uint8_t *p = ASN1_STRING_get0_data(os), *end = p + ASN1_STRING_length(os);
    size_t len;
    if (p == end || *p++ != 0x30 || der_len(&p, end, &len) != 0 || (size_t)(end - p) != len || len == 0)
        return "malformed IIN list extension";
    while (p < end) {
        if (*p++ != 0x13 || der_len(&p, end, &len) != 0 || (size_t)(end - p) < len)
            return "malformed IIN list extension";
        if (prefix_add(out, p, len) != 0)
            return "IIN list entry is not an EID prefix";
        p += len;
    }
    return NULL;
}

const char *rsp_cert_eid_ranges(X509 *x, rsp_prefix_set *nc, rsp_prefix_set *iin)
{
    const char *err = nc_prefixes(x, nc);
    return err ? err : iin_prefixes(x, iin);
}

/* ---- the eUICC certificate, read in place ---- */

/*
 * The eUICC certificate changes on every call, so it is not handed to
 * d2i_X509 (OpenSSL 3 spends most of a chain check decoding its key through
 * the provider decoders): the DER reader walks it in place, strictly (definite
 * minimal lengths, no trailing bytes at any level, DEFAULT values absent), and
 * only the extensions this module does not read itself are given to OpenSSL's
 * decoders, as d2i_X509 and the extension cache would have.  The signature is
 * checked over the TBSCertificate bytes as received with the EUM key of the
 * cache entry.
 */

#define EXT_MAX 24

/* DER content octets of the OIDs read here. */
static const uint8_t oid_ec_pub[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t oid_p256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_bp256[] = {0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07};
static const uint8_t oid_at_o[] = {0x55, 0x04, 0x0a};
static const uint8_t oid_at_serial[] = {0x55, 0x04, 0x05};
static const uint8_t oid_ext_ski[] = {0x55, 0x1d, 0x0e};
static const uint8_t oid_ext_ku[] = {0x55, 0x1d, 0x0f};
static const uint8_t oid_ext_bc[] = {0x55, 0x1d, 0x13};
static const uint8_t oid_ext_policies[] = {0x55, 0x1d, 0x20};
static const uint8_t oid_ext_aki[] = {0x55, 0x1d, 0x23};
static const uint8_t oid_ext_crldp[] = {0x55, 0x1d, 0x1f};
static const uint8_t oid_ext_proxy[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0e};
/* AlgorithmIdentifier ecdsa-with-SHA256, parameters absent (RFC 5758). */
static const uint8_t alg_ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

typedef struct raw_ext {
    der_tlv oid; /* the OBJECT IDENTIFIER TLV */
    bool critical;
    der_tlv val; /* the extnValue OCTET STRING TLV */
} raw_ext;

typedef struct euicc_cert {
    der_tlv tbs; /* as received: the signed bytes */
    int version; /* 0 (v1, absent), 1 or 2 */
    der_tlv tbs_alg, issuer, not_before, not_after, subject, key_alg, key, alg, sig;
    raw_ext ext[EXT_MAX];
    size_t next;
} euicc_cert;

static bool tlv_is(const der_tlv *t, const uint8_t *b, size_t n)
{
    return t->len == n && memcmp(t->value, b, n) == 0;
}

/* OBJECT IDENTIFIER content: non-empty, every sub-identifier minimal. */
static bool oid_ok(const der_tlv *t)
{
    if (t->tag != 0x06 || t->len == 0 || (t->value[t->len - 1] & 0x80))
        return false;
    for (size_t i = 0; i < t->len; i++)
        if (t->value[i] == 0x80 && (i == 0 || !(t->value[i - 1] & 0x80)))
            return false;
    return true;
}

/* INTEGER content: non-empty and minimal. */
static bool int_ok(const der_tlv *t)
{
    if (t->tag != 0x02 || t->len == 0)
        return false;
    return t->len == 1 ||
           !((t->value[0] == 0x00 && !(t->value[1] & 0x80)) || (t->value[0] == 0xff && (t->value[1] & 0x80)));
}

/* BIT STRING: unused-bit count at most 7 (0 when empty) and zero padding; a
 * named bit list also carries no trailing zero bits. */
static bool bits_ok(const der_tlv *t, bool named)
{
    if (t->tag != 0x03 || t->len == 0 || t->value[0] > 7 || (t->len == 1 && t->value[0] != 0))
        return false;
    if (t->len == 1)
        return true;
    uint8_t last = t->value[t->len - 1], unused = t->value[0];
    if (last & ((1u << unused) - 1))
        return false;
    return !named || (last >> unused) & 1;
}

/* The TLV at r must have tag; fills t. */
static bool take(der_reader *r, uint32_t tag, der_tlv *t)
{
    return der_expect(r, tag, t) == DER_OK;
}

/* AlgorithmIdentifier: SEQUENCE { OID, parameters ANY OPTIONAL }. */
static bool alg_ok(const der_tlv *t)
{
    der_reader r;
    der_tlv oid, par;
    if (t->tag != 0x30)
        return false;
    der_reader_of(&r, t);
    if (!take(&r, 0x06, &oid) || !oid_ok(&oid))
        return false;
    if (der_reader_done(&r))
        return true;
    return der_next(&r, &par) == DER_OK && der_validate(par.raw, par.raw_len) == DER_OK &&
           der_reader_done(&r);
}

/* UTF-8 as RFC 3629 allows it: shortest form, no surrogates, <= U+10FFFF. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 4;
        if (k == 4 || n - i <= k)
            return false;
        uint32_t v = k == 0 ? c : c & (0x3f >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            v = (v << 6) | (s[i + j] & 0x3f);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (v < min[k] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* A directory string value of a Name: one of the string types OpenSSL
 * canonicalises, primitive, with content valid for its type. */
static bool dir_string_ok(const der_tlv *v)
{
    switch (v->tag) {
    case 0x0c: /* UTF8String */
        return utf8_ok(v->value, v->len);
    case 0x12: /* NumericString */
    case 0x13: /* PrintableString */
    case 0x14: /* TeletexString */
    case 0x16: /* IA5String */
    case 0x1a: /* VisibleString */
        return true;
    case 0x1c: /* UniversalString */
        if (v->len % 4)
            return false;
        for (size_t i = 0; i < v->len; i += 4) {
            uint32_t c = (uint32_t)v->value[i] << 24 | (uint32_t)v->value[i + 1] << 16 |
                         (uint32_t)v->value[i + 2] << 8 | v->value[i + 3];
            if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return false;
        }
        return true;
    case 0x1e: /* BMPString */
        if (v->len % 2)
            return false;
        for (size_t i = 0; i < v->len; i += 2)
            if (v->value[i] >= 0xd8 && v->value[i] <= 0xdf)
                return false;
        return true;
    default:
        return false;
    }
}

/* Walks a Name (SEQUENCE OF non-empty SET OF SEQUENCE { OID, string }); for
 * each attribute calls fn (when not NULL), which returns false to stop. */
static bool name_walk(const der_tlv *name, bool (*fn)(void *, const der_tlv *, const der_tlv *), void *arg)
{
    der_reader rdns, atvs, atv;
    der_tlv rdn, a, type, value;
    if (name->tag != 0x30)
        return false;
    der_reader_of(&rdns, name);
    while (!der_reader_done(&rdns)) {
        if (!take(&rdns, 0x31, &rdn) || rdn.len == 0)
            return false;
        der_reader_of(&atvs, &rdn);
        while (!der_reader_done(&atvs)) {
            if (!take(&atvs, 0x30, &a))
                return false;
            der_reader_of(&atv, &a);
            if (!take(&atv, 0x06, &type) || !oid_ok(&type) || der_next(&atv, &value) != DER_OK ||
                !der_reader_done(&atv) || !dir_string_ok(&value))
                return false;
            if (fn != NULL && !fn(arg, &type, &value))
                return false;
        }
    }
    return true;
}

/* Extension ::= SEQUENCE { OID, critical BOOLEAN DEFAULT FALSE, OCTET STRING } */
static bool ext_parse(const der_tlv *t, raw_ext *e)
{
    der_reader r;
    der_tlv b;
    if (t->tag != 0x30)
        return false;
    der_reader_of(&r, t);
    if (!take(&r, 0x06, &e->oid) || !oid_ok(&e->oid))
        return false;
    e->critical = false;
    int rc = der_optional(&r, 0x01, &b);
    if (rc < 0)
        return false;
    /* DER leaves a DEFAULT value out: only an explicit TRUE may appear. */
    if (rc == 1 && (der_get_bool(&b, &e->critical) != DER_OK || !e->critical))
        return false;
    return take(&r, 0x04, &e->val) && der_reader_done(&r);
}

/* Structure of the whole certificate; NULL or what is wrong. */
static const char *euicc_parse(const uint8_t *der, size_t len, euicc_cert *c)
{
    der_tlv cert, t, v;
    der_reader r, tr, vr;
    const char *bad = "not a single DER certificate";
    memset(c, 0, sizeof(*c));
    if (der == NULL || der_parse_exact(der, len, &cert) != DER_OK || cert.tag != 0x30)
        return bad;
    der_reader_of(&r, &cert);
    if (!take(&r, 0x30, &c->tbs) || der_next(&r, &c->alg) != DER_OK || !alg_ok(&c->alg) ||
        !take(&r, 0x03, &c->sig) || !bits_ok(&c->sig, false) || !der_reader_done(&r))
        return bad;

    der_reader_of(&tr, &c->tbs);
    int rc = der_optional(&tr, 0xa0, &t);
    if (rc < 0)
        return bad;
    if (rc == 1) {
        /* v1 is the DEFAULT, so only 1 (v2) and 2 (v3) may be written. */
        int64_t ver;
        if (der_parse_exact(t.value, t.len, &v) != DER_OK || !int_ok(&v) || der_get_int(&v, &ver) != DER_OK ||
            ver < 1 || ver > 2)
            return bad;
        c->version = (int)ver;
    }
    if (!take(&tr, 0x02, &t) || !int_ok(&t))
        return bad;
    if (der_next(&tr, &c->tbs_alg) != DER_OK || !alg_ok(&c->tbs_alg))
        return bad;
    if (!take(&tr, 0x30, &c->issuer) || !name_walk(&c->issuer, NULL, NULL))
        return bad;
    if (!take(&tr, 0x30, &t))
        return bad;
    der_reader_of(&vr, &t);
    if (der_next(&vr, &c->not_before) != DER_OK || der_next(&vr, &c->not_after) != DER_OK ||
        !der_reader_done(&vr))
        return bad;
    for (int i = 0; i < 2; i++) {
        uint32_t tag = i ? c->not_after.tag : c->not_before.tag;
        if (tag != 0x17 && tag != 0x18)
            return bad;
    }
    if (!take(&tr, 0x30, &c->subject) || !name_walk(&c->subject, NULL, NULL))
        return bad;
    if (!take(&tr, 0x30, &t))
        return bad;
    der_reader_of(&vr, &t);
    if (der_next(&vr, &c->key_alg) != DER_OK || !alg_ok(&c->key_alg) || !take(&vr, 0x03, &c->key) ||
        !bits_ok(&c->key, false) || !der_reader_done(&vr))
        return bad;
    /* issuerUniqueID [1], subjectUniqueID [2]: allowed, not used */
    for (uint32_t tag = 0x81; tag <= 0x82; tag++) {
        rc = der_optional(&tr, tag, &t);
        if (rc < 0)
            return bad;
        t.tag = 0x03;
        if (rc == 1 && !bits_ok(&t, false))
            return bad;
    }
    rc = der_optional(&tr, 0xa3, &t);
    if (rc < 0)
        return bad;
    if (rc == 1) {
        der_tlv seq, e;
        if (der_parse_exact(t.value, t.len, &seq) != DER_OK || seq.tag != 0x30 || seq.len == 0)
            return bad;
        der_reader_of(&vr, &seq);
        while (!der_reader_done(&vr)) {
            if (c->next == EXT_MAX)
                return "too many extensions";
            if (der_next(&vr, &e) != DER_OK || !ext_parse(&e, &c->ext[c->next]))
                return bad;
            c->next++;
        }
    }
    if (!der_reader_done(&tr))
        return bad;
    return NULL;
}

static const raw_ext *find_ext(const euicc_cert *c, const uint8_t *oid, size_t n)
{
    for (size_t i = 0; i < c->next; i++)
        if (tlv_is(&c->ext[i].oid, oid, n))
            return &c->ext[i];
    return NULL;
}

/* The extension as OpenSSL's X509_EXTENSION (for its decoders); NULL on
 * allocation failure. */
static X509_EXTENSION *ext_to_openssl(const raw_ext *e)
{
    const uint8_t *p = e->oid.raw;
    ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &p, (long)e->oid.raw_len);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *x = NULL;
    if (o != NULL && os != NULL && ASN1_OCTET_STRING_set(os, e->val.value, (int)e->val.len) == 1)
        x = X509_EXTENSION_create_by_OBJ(NULL, o, e->critical, os);
    ASN1_OBJECT_free(o);
    ASN1_OCTET_STRING_free(os);
    return x;
}

/* For extensions read by OpenSSL's extension cache but not by this module
 * (extendedKeyUsage, subjectAltName, nameConstraints, ...): true when its
 * decoder accepts the value, or when OpenSSL has no decoder for it. */
static bool openssl_decodes(const raw_ext *e, bool *supported_critical)
{
    X509_EXTENSION *x = ext_to_openssl(e);
    if (x == NULL)
        return false;
    *supported_critical = X509_supported_extension(x) == 1;
    bool ok = true;
    const X509V3_EXT_METHOD *m = X509V3_EXT_get(x);
    if (m != NULL) {
        void *v = X509V3_EXT_d2i(x);
        ok = v != NULL;
        if (ok && tlv_is(&e->oid, oid_ext_crldp, sizeof(oid_ext_crldp))) {
            /* as OpenSSL's setup_crldp: a point names a location or an issuer */
            CRL_DIST_POINTS *dps = v;
            for (int i = 0; i < sk_DIST_POINT_num(dps) && ok; i++) {
                DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
                ok = dp->distpoint != NULL || sk_GENERAL_NAME_num(dp->CRLissuer) > 0;
            }
        }
        if (v != NULL) {
            if (m->it != NULL)
                ASN1_item_free(v, ASN1_ITEM_ptr(m->it));
            else if (m->ext_free != NULL)
                m->ext_free(v);
        }
    }
    X509_EXTENSION_free(x);
    return ok;
}

/* What the eUICC checks need from the extensions. */
typedef struct euicc_exts {
    bool has_ku, ca;
    uint8_t ku;  /* first octet of keyUsage: digitalSignature 0x80, keyCertSign 0x04 */
    der_tlv aki; /* keyIdentifier content, len 0 when absent */
} euicc_exts;

/* Value of an extension: exactly one TLV with tag. */
static bool ext_value(const raw_ext *e, uint32_t tag, der_tlv *out)
{
    return der_parse_exact(e->val.value, e->val.len, out) == DER_OK && out->tag == tag;
}

static bool read_ku(const raw_ext *e, euicc_exts *x)
{
    der_tlv b;
    if (!ext_value(e, 0x03, &b) || !bits_ok(&b, true) || b.len < 2)
        return false; /* an empty keyUsage is invalid (RFC 5280 4.2.1.3) */
    x->has_ku = true;
    x->ku = b.value[1];
    return true;
}

static bool read_bc(const raw_ext *e, euicc_exts *x)
{
    der_tlv s, t;
    der_reader r;
    if (!ext_value(e, 0x30, &s))
        return false;
    der_reader_of(&r, &s);
    int rc = der_optional(&r, 0x01, &t);
    if (rc < 0 || (rc == 1 && (der_get_bool(&t, &x->ca) != DER_OK || !x->ca)))
        return false; /* cA FALSE is the DEFAULT: absent in DER */
    rc = der_optional(&r, 0x02, &t);
    if (rc < 0 || (rc == 1 && (!int_ok(&t) || (t.value[0] & 0x80))))
        return false; /* pathLenConstraint is non-negative */
    return der_reader_done(&r);
}

static bool read_ski(const raw_ext *e)
{
    der_tlv s;
    return ext_value(e, 0x04, &s);
}

/* AKI: the keyIdentifier is read here; authorityCertIssuer and serial, when
 * present, are left to OpenSSL's decoder to check. */
static bool read_aki(const raw_ext *e, euicc_exts *x)
{
    der_tlv s, t;
    der_reader r;
    if (!ext_value(e, 0x30, &s))
        return false;
    der_reader_of(&r, &s);
    int rc = der_optional(&r, 0x80, &t);
    if (rc < 0)
        return false;
    if (rc == 1)
        x->aki = t;
    if (der_reader_done(&r))
        return true;
    const uint8_t *p = e->val.value;
    AUTHORITY_KEYID *a = d2i_AUTHORITY_KEYID(NULL, &p, (long)e->val.len);
    bool ok = a != NULL && p == e->val.value + e->val.len;
    AUTHORITY_KEYID_free(a);
    return ok;
}

static bool is_critical_known(const raw_ext *e)
{
    static const struct {
        const uint8_t *b;
        size_t n;
    } known[] = {{oid_ext_ku, sizeof(oid_ext_ku)},
                 {oid_ext_bc, sizeof(oid_ext_bc)},
                 {oid_ext_policies, sizeof(oid_ext_policies)},
                 {oid_iin_list, sizeof(oid_iin_list)}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (tlv_is(&e->oid, known[i].b, known[i].n))
            return true;
    return false;
}

/* The same rules as rsp_cert_ext_problem() for an X509. */
static const char *euicc_ext_problem(const euicc_cert *c, euicc_exts *x)
{
    memset(x, 0, sizeof(*x));
    if (c->version != 2)
        return "not an X.509 v3 certificate";
    for (size_t i = 0; i < c->next; i++)
        for (size_t j = i + 1; j < c->next; j++)
            if (c->ext[i].oid.len == c->ext[j].oid.len &&
                memcmp(c->ext[i].oid.value, c->ext[j].oid.value, c->ext[i].oid.len) == 0)
                return "duplicate extension";
    for (size_t i = 0; i < c->next; i++) {
        const raw_ext *e = &c->ext[i];
        bool ok, supported = is_critical_known(e);
        if (tlv_is(&e->oid, oid_ext_ku, sizeof(oid_ext_ku)))
            ok = read_ku(e, x);
        else if (tlv_is(&e->oid, oid_ext_bc, sizeof(oid_ext_bc)))
            ok = read_bc(e, x);
        else if (tlv_is(&e->oid, oid_ext_ski, sizeof(oid_ext_ski)))
            ok = read_ski(e);
        else if (tlv_is(&e->oid, oid_ext_aki, sizeof(oid_ext_aki)))
            ok = read_aki(e, x);
        else if (tlv_is(&e->oid, oid_ext_policies, sizeof(oid_ext_policies)) ||
                 tlv_is(&e->oid, oid_iin_list, sizeof(oid_iin_list)))
            ok = true; /* read by the policy check / not used on an eUICC */
        else if (tlv_is(&e->oid, oid_ext_proxy, sizeof(oid_ext_proxy)))
            ok = false; /* a proxy certificate is no eUICC certificate */
        else
            ok = openssl_decodes(e, &supported);
        if (!ok)
            return "malformed extension";
        if (e->critical && !supported)
            return "unsupported critical extension";
    }
    return NULL;
}

/* certificatePolicies: index of the first rule matched, or -1 (also when
 * absent or malformed).  Policy qualifiers, if any, are left to OpenSSL's
 * decoder to check. */
static int euicc_policy_match(const euicc_cert *c, const rsp_oid_rule *rules, size_t nrules)
{
    const raw_ext *e = find_ext(c, oid_ext_policies, sizeof(oid_ext_policies));
    der_tlv s, pi, oid, q;
    der_reader r, pr;
    bool qualifiers = false;
    int found = -1;
    if (e == NULL || !ext_value(e, 0x30, &s) || s.len == 0)
        return -1;
    der_reader_of(&r, &s);
    while (!der_reader_done(&r)) {
        if (!take(&r, 0x30, &pi))
            return -1;
        der_reader_of(&pr, &pi);
        if (!take(&pr, 0x06, &oid) || !oid_ok(&oid))
            return -1;
        if (!der_reader_done(&pr)) {
            if (!take(&pr, 0x30, &q) || q.len == 0 || !der_reader_done(&pr))
                return -1;
            qualifiers = true;
        }
        for (size_t i = 0; i < nrules && found < 0; i++)
            if ((oid.len == rules[i].n || (rules[i].under && oid.len > rules[i].n)) &&
                memcmp(oid.value, rules[i].b, rules[i].n) == 0)
                found = (int)i;
    }
    if (qualifiers && found >= 0) {
        const uint8_t *p = e->val.value;
        CERTIFICATEPOLICIES *cp = d2i_CERTIFICATEPOLICIES(NULL, &p, (long)e->val.len);
        if (cp == NULL || p != e->val.value + e->val.len)
            found = -1;
        CERTIFICATEPOLICIES_free(cp);
    }
    return found;
}

typedef struct subject_scan {
    int orgs, serials;
    der_tlv serial;
} subject_scan;

static bool scan_attr(void *arg, const der_tlv *type, const der_tlv *value)
{
    subject_scan *s = arg;
    if (tlv_is(type, oid_at_o, sizeof(oid_at_o)))
        s->orgs++;
    if (tlv_is(type, oid_at_serial, sizeof(oid_at_serial)) && s->serials++ == 0)
        s->serial = *value;
    return true;
}

/* As subject_eid() for an X509. */
static const char *euicc_subject_eid(const euicc_cert *c, char eid[RSP_EID_LEN + 1])
{
    subject_scan s = {0};
    if (!name_walk(&c->subject, scan_attr, &s))
        return "malformed subject";
    if (s.orgs == 0)
        return "subject has no organizationName";
    if (s.serials == 0)
        return "subject has no serialNumber (EID)";
    if (s.serials > 1)
        return "subject has several serialNumbers";
    if (s.serial.tag != 0x13 || s.serial.len != RSP_EID_LEN || !all_digits(s.serial.value, RSP_EID_LEN))
        return "subject serialNumber is not a 32-digit EID";
    memcpy(eid, s.serial.value, RSP_EID_LEN);
    eid[RSP_EID_LEN] = '\0';
    return NULL;
}

/* Per-curve key with a fixed public point: a new eUICC key is a copy of it
 * with the point replaced, several times cheaper than building the group
 * again (EVP_PKEY_fromdata) or decoding a SubjectPublicKeyInfo. */
static const uint8_t p256_g[RSP_EUICC_POINT_LEN] = {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f,
    0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce,
    0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};
static const uint8_t bp256_g[RSP_EUICC_POINT_LEN] = {
    0x04, 0x8b, 0xd2, 0xae, 0xb9, 0xcb, 0x7e, 0x57, 0xcb, 0x2c, 0x4b, 0x48, 0x2f, 0xfc, 0x81, 0xb7, 0xaf,
    0xb9, 0xde, 0x27, 0xe1, 0xe3, 0xbd, 0x23, 0xc2, 0x3a, 0x44, 0x53, 0xbd, 0x9a, 0xce, 0x32, 0x62, 0x54,
    0x7e, 0xf8, 0x35, 0xc3, 0xda, 0xc4, 0xfd, 0x97, 0xf8, 0x46, 0x1a, 0x14, 0x61, 0x1d, 0xc9, 0xc2, 0x77,
    0x45, 0x13, 0x2d, 0xed, 0x8e, 0x54, 0x5c, 0x1d, 0x54, 0xc7, 0x2f, 0x04, 0x69, 0x97};

static pthread_once_t key_tmpl_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *key_tmpl[2]; /* held for the life of the process */

static EVP_PKEY *key_fromdata(int curve, const uint8_t point[RSP_EUICC_POINT_LEN])
{
    OSSL_PARAM ps[3];
    ps[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)rsp_sig_curve_name(curve), 0);
    ps[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, RSP_EUICC_POINT_LEN);
    ps[2] = OSSL_PARAM_construct_end();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *k = NULL;
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, ps) != 1)
        k = NULL;
    EVP_PKEY_CTX_free(ctx);
    return k;
}

static void key_tmpl_make(void)
{
    key_tmpl[RSP_CURVE_P256] = key_fromdata(RSP_CURVE_P256, p256_g);
    key_tmpl[RSP_CURVE_BP256] = key_fromdata(RSP_CURVE_BP256, bp256_g);
}

/* An EVP_PKEY for point on curve; NULL if the point is not on the curve. */
static EVP_PKEY *key_of_point(int curve, const uint8_t point[RSP_EUICC_POINT_LEN])
{
    pthread_once(&key_tmpl_once, key_tmpl_make);
    if (key_tmpl[curve] == NULL)
        return key_fromdata(curve, point);
    EVP_PKEY *k = EVP_PKEY_dup(key_tmpl[curve]);
    if (k != NULL && EVP_PKEY_set1_encoded_public_key(k, point, RSP_EUICC_POINT_LEN) != 1) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

/* SubjectPublicKeyInfo: id-ecPublicKey on a named supported curve, an
 * uncompressed point on that curve. */
static EVP_PKEY *euicc_key(const euicc_cert *c, int *curve, uint8_t point[RSP_EUICC_POINT_LEN])
{
    der_reader r;
    der_tlv oid, par;
    der_reader_of(&r, &c->key_alg);
    if (!take(&r, 0x06, &oid) || !tlv_is(&oid, oid_ec_pub, sizeof(oid_ec_pub)) || !take(&r, 0x06, &par) ||
        !der_reader_done(&r))
        return NULL;
    if (tlv_is(&par, oid_p256, sizeof(oid_p256)))
        *curve = RSP_CURVE_P256;
    else if (tlv_is(&par, oid_bp256, sizeof(oid_bp256)))
        *curve = RSP_CURVE_BP256;
    else
        return NULL;
    if (c->key.len != 1 + RSP_EUICC_POINT_LEN || c->key.value[0] != 0 || c->key.value[1] != 0x04)
        return NULL;
    memcpy(point, c->key.value + 1, RSP_EUICC_POINT_LEN);
    return key_of_point(*curve, point);
}

/* As rsp_cert_signed_by(), with the issuer from a verified chain. */
static const char *euicc_signed_by(const euicc_cert *c, const rsp_cert_issuer *e)
{
    if (!rsp_cert_same_bytes(c->issuer.raw, c->issuer.raw_len, e->subject, e->subject_len)) {
        /* not byte-identical: compare as X509_NAME_cmp() does */
        const uint8_t *p = c->issuer.raw;
        X509_NAME *n = d2i_X509_NAME(NULL, &p, (long)c->issuer.raw_len);
        bool same = n != NULL && X509_NAME_cmp(n, X509_get_subject_name(e->cert)) == 0;
        X509_NAME_free(n);
        if (!same)
            return "issuer name differs from the issuer's subject";
    }
    if (!rsp_cert_same_bytes(c->alg.raw, c->alg.raw_len, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256)) ||
        !rsp_cert_same_bytes(c->tbs_alg.raw, c->tbs_alg.raw_len, alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256)))
        return "signature algorithm is not ecdsa-with-SHA256";
    EVP_PKEY *k = X509_get0_pubkey(e->cert);
    if (rsp_sig_key_curve(k) < 0)
        return "issuer key is not on P-256 or brainpoolP256r1";
    if (c->sig.value[0] != 0)
        return "signature does not verify";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, rsp_sig_sha256(), NULL, k) == 1 &&
              EVP_DigestVerify(ctx, c->sig.value + 1, c->sig.len - 1, c->tbs.raw, c->tbs.raw_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? NULL : "signature does not verify";
}

/* ASN1_TIME view of a Time TLV, for X509_cmp_time (which only reads it). */
static ASN1_TIME time_view(const der_tlv *t)
{
    ASN1_TIME v;
    memset(&v, 0, sizeof(v));
    v.length = (int)t->len;
    v.type = t->tag == 0x17 ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME;
    v.data = (unsigned char *)t->value;
    return v;
}

#define EUICC_BAD(...)                                                                                       \
    do {                                                                                                     \
        rsp_cert_why("eUICC: " __VA_ARGS__);                                                                 \
        st = RSP_ST_EUICC_CERT_INVALID;                                                                      \
        goto out;                                                                                            \
    } while (0)

rsp_status rsp_cert_euicc_verify(const rsp_cert_issuer *e, const uint8_t *der, size_t len, time_t now,
                                 rsp_euicc_identity *id)
{
    rsp_status st = RSP_OK;
    const char *err;
    char eid[RSP_EID_LEN + 1];
    euicc_cert c;
    euicc_exts x;
    EVP_PKEY *pub = NULL;
    int curve = -1;
    uint8_t point[RSP_EUICC_POINT_LEN];
    if ((err = euicc_parse(der, len, &c)) != NULL)
        EUICC_BAD("%s", err);
    ASN1_TIME nb = time_view(&c.not_before), na = time_view(&c.not_after);
    int v = validity_of(&nb, &na, now);
    if (v == RSP_CERT_NOT_YET || v == RSP_CERT_EXPIRED) {
        rsp_cert_why("eUICC: %s", rsp_cert_validity_text(v));
        st = RSP_ST_EUICC_CERT_EXPIRED;
        goto out;
    }
    if (v != RSP_CERT_VALID)
        EUICC_BAD("%s", rsp_cert_validity_text(v));
    if ((err = euicc_ext_problem(&c, &x)) != NULL)
        EUICC_BAD("%s", err);
    static const rsp_oid_rule euicc_role[] = {RSP_RULE(oid_role_euicc, false),
                                              RSP_RULE(oid_role_euicc_v3, false)};
    if (euicc_policy_match(&c, euicc_role, 2) < 0)
        EUICC_BAD("no id-rspRole-euicc certificate policy");
    if (!x.has_ku || !(x.ku & KU_DIGITAL_SIGNATURE) || (x.ku & KU_KEY_CERT_SIGN))
        EUICC_BAD("keyUsage is not digitalSignature without keyCertSign");
    if (x.ca)
        EUICC_BAD("basicConstraints says CA");
    if ((err = euicc_subject_eid(&c, eid)) != NULL)
        EUICC_BAD("%s", err);
    if (x.aki.len == 0 || !rsp_cert_same_bytes(x.aki.value, x.aki.len, e->ski, e->ski_len))
        EUICC_BAD("authorityKeyIdentifier does not name the EUM");
    if ((pub = euicc_key(&c, &curve, point)) == NULL)
        EUICC_BAD("key is not on P-256 or brainpoolP256r1");
    if ((err = euicc_signed_by(&c, e)) != NULL)
        EUICC_BAD("%s", err);
    memcpy(id->eid, eid, sizeof(eid));
    id->pub = pub;
    id->curve = curve;
    memcpy(id->point, point, sizeof(point));
    pub = NULL;
out:
    EVP_PKEY_free(pub);
    return st;
}

/* ---- server certificates ---- */

/* The CI in the store that issued x: by AKI when x has one, else by name. */
X509 *rsp_cert_issuing_ci(const rsp_ci_store *cis, X509 *x)
{
    const uint8_t *aki;
    size_t n;
    if (rsp_cert_keyid(X509_get0_authority_key_id(x), &aki, &n))
        return rsp_ci_store_find(cis, aki, n);
    for (size_t i = 0; i < rsp_ci_store_count(cis); i++) {
        X509 *ci = rsp_ci_store_get(cis, i, NULL, NULL);
        if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ci)) == 0)
            return ci;
    }
    return NULL;
}

/* Checks shared by end-entity server certificates. */
const char *rsp_cert_leaf_problem(X509 *x, time_t now)
{
    int v = rsp_cert_validity(x, now);
    if (v != RSP_CERT_VALID)
        return rsp_cert_validity_text(v);
    const char *err = rsp_cert_ext_problem(x);
    if (err != NULL)
        return err;
    uint32_t ku = X509_get_key_usage(x);
    if (ku == UINT32_MAX || !(ku & KU_DIGITAL_SIGNATURE))
        return "keyUsage lacks digitalSignature";
    if (X509_get_extension_flags(x) & EXFLAG_CA)
        return "basicConstraints says CA";
    if (rsp_sig_key_curve(X509_get0_pubkey(x)) < 0)
        return "key is not on P-256 or brainpoolP256r1";
    return NULL;
}

/* ---- TLS client certificates ---- */

static int peer_names(X509 *x, rsp_peer_identity *out)
{
    int crit = 0;
    GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    if (san == NULL)
        return crit == -1 ? 0 : -1;
    int rc = 0, n = sk_GENERAL_NAME_num(san);
    out->dns = calloc(n > 0 ? (size_t)n : 1, sizeof(char *));
    if (out->dns == NULL)
        rc = -1;
    for (int i = 0; i < n && rc == 0; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, i);
        if (gn->type == GEN_DNS) {
            const ASN1_IA5STRING *s = gn->d.dNSName;
            size_t len = (size_t)ASN1_STRING_length(s);
            const uint8_t *d = ASN1_STRING_get0_data(s);
            if (len == 0 || memchr(d, 0, len) != NULL) {
                rc = -1;
                break;
            }
            char *copy = strndup((const char *)d, len);
            if (copy == NULL) {
                rc = -1;
                break;
            }
            out->dns[out->ndns++] = copy;
        } else if (gn->type == GEN_RID && out->oid[0] == '\0') {
            int w = OBJ_obj2txt(out->oid, sizeof(out->oid), gn->d.registeredID, 1);
            if (w <= 0 || (size_t)w >= sizeof(out->oid))
                rc = -1;
        }
    }
    GENERAL_NAMES_free(san);
    return rc;
}

int rsp_verify_tls_peer(const rsp_ci_store *cis, X509 *leaf, STACK_OF(X509) * chain, unsigned roles,
                        time_t now, rsp_peer_identity *out)
{
    rsp_cert_why_reset();
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (cis == NULL || leaf == NULL || out == NULL || !(roles & (RSP_PEER_DP | RSP_PEER_DS))) {
        rsp_cert_why("bad arguments");
        return -1;
    }
    const char *err = rsp_cert_leaf_problem(leaf, now);
    if (err != NULL) {
        rsp_cert_why("TLS peer: %s", err);
        goto fail;
    }
    /* the TLS role policies, SGP.22 v2 or v3 */
    static const uint8_t dp_v3[] = {ROLE_ARC, 0x00, 0x00, 0x01, 0x00},
                         ds_v3[] = {ROLE_ARC, 0x00, 0x00, 0x02, 0x00};
    rsp_oid_rule rules[4];
    int role_of[4];
    size_t nr = 0;
    if (roles & RSP_PEER_DP) {
        rules[nr] = (rsp_oid_rule)RSP_RULE(oid_role_dp_tls, false);
        role_of[nr++] = RSP_PEER_DP;
        rules[nr] = (rsp_oid_rule)RSP_RULE(dp_v3, false);
        role_of[nr++] = RSP_PEER_DP;
    }
    if (roles & RSP_PEER_DS) {
        rules[nr] = (rsp_oid_rule)RSP_RULE(oid_role_ds_tls, false);
        role_of[nr++] = RSP_PEER_DS;
        rules[nr] = (rsp_oid_rule)RSP_RULE(ds_v3, false);
        role_of[nr++] = RSP_PEER_DS;
    }
    int m = rsp_cert_policy_match(leaf, rules, nr);
    if (m < 0) {
        rsp_cert_why("TLS peer: no accepted TLS role policy");
        goto fail;
    }
    uint32_t xku = X509_get_extended_key_usage(leaf);
    if (xku == UINT32_MAX || !(xku & XKU_SSL_CLIENT)) {
        rsp_cert_why("TLS peer: extendedKeyUsage lacks clientAuth");
        goto fail;
    }
    X509 *inter[8];
    size_t ni = 0;
    for (int i = 0; i < sk_X509_num(chain) && ni < 8; i++) {
        X509 *c = sk_X509_value(chain, i);
        if (c != NULL && X509_cmp(c, leaf) != 0)
            inter[ni++] = c;
    }
    bool unknown;
    if ((err = rsp_server_path_problem(cis, leaf, inter, ni, role_of[m], now, &unknown)) != NULL) {
        rsp_cert_why("TLS peer: %s", err);
        goto fail;
    }
    if (peer_names(leaf, out) != 0) {
        rsp_cert_why("TLS peer: malformed subjectAltName");
        goto fail;
    }
    out->role = role_of[m];
    return 0;
fail:
    rsp_peer_identity_clear(out);
    ERR_clear_error();
    return -1;
}

void rsp_peer_identity_clear(rsp_peer_identity *id)
{
    if (id == NULL)
        return;
    for (size_t i = 0; i < id->ndns; i++)
        free(id->dns[i]);
    free(id->dns);
    memset(id, 0, sizeof(*id));
}

bool rsp_peer_has_dns(const rsp_peer_identity *id, const char *host)
{
    if (id == NULL || host == NULL)
        return false;
    for (size_t i = 0; i < id->ndns; i++)
        if (strcasecmp(id->dns[i], host) == 0)
            return true;
    return false;
}

/* ---- files ---- */

#define FILE_MAX (1 << 20)

static uint8_t *slurp(const char *path, size_t *len)
{
    if (path == NULL)
        return NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = malloc(FILE_MAX);
    size_t n = buf ? fread(buf, 1, FILE_MAX, f) : 0;
    bool too_big = buf && n == FILE_MAX;
    fclose(f);
    if (buf == NULL || n == 0 || too_big) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static bool is_pem(const uint8_t *b, size_t n)
{
    return memmem(b, n, "-----BEGIN ", 11) != NULL;
}

X509 *rsp_load_cert(const char *path)
{
    size_t n = 0;
    uint8_t *b = slurp(path, &n);
    if (b == NULL)
        return NULL;
    X509 *x = NULL;
    if (is_pem(b, n)) {
        BIO *bio = BIO_new_mem_buf(b, (int)n);
        if (bio != NULL)
            x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        x = rsp_cert_parse_exact(b, n);
    }
    free(b);
    ERR_clear_error();
    return x;
}

EVP_PKEY *rsp_load_key(const char *path)
{
    size_t n = 0;
    uint8_t *b = slurp(path, &n);
    if (b == NULL)
        return NULL;
    EVP_PKEY *k = NULL;
    if (is_pem(b, n)) {
        BIO *bio = BIO_new_mem_buf(b, (int)n);
        if (bio != NULL)
            k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        const uint8_t *p = b;
        k = d2i_AutoPrivateKey(NULL, &p, (long)n);
        if (k != NULL && p != b + n) {
            EVP_PKEY_free(k);
            k = NULL;
        }
    }
    OPENSSL_cleanse(b, n);
    free(b);
    ERR_clear_error();
    return k;
}
