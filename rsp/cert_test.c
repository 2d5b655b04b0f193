#include "rsp/cert.h"
#include "rsp/chain.h"
#include "rsp/crl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "asn1/der.h"
#include "rsp/cert_testutil.h"
#include "rsp/sig.h"
#include "tests/unit/ut.h"
#include "tools/pki/pki.h"

#define DAY (24L * 3600)
#define YEAR (365L * DAY)

static const char *const EID = "89049032123451234512345678901235";
static const char *const PREFIX = "89049032";

/* A minted world: chain c, a store holding its CI, the DER of EUM and eUICC. */
typedef struct world {
    ct_chain c;
    rsp_ci_store *store;
    uint8_t *eum, *euicc;
    size_t eum_len, euicc_len;
    const uint8_t *ci_ski;
    size_t ci_ski_len;
} world;

static time_t now;

static int world_make(world *w, const char *curve, bool iin)
{
    memset(w, 0, sizeof(*w));
    if (ct_chain_make(&w->c, curve, iin, PREFIX, EID, now) != 0)
        return -1;
    w->store = rsp_ci_store_new();
    if (!w->store || rsp_ci_store_add(w->store, w->c.ci) != 0)
        return -1;
    w->eum = ct_der(w->c.eum, &w->eum_len);
    w->euicc = ct_der(w->c.euicc, &w->euicc_len);
    return rsp_cert_ski(w->c.ci, &w->ci_ski, &w->ci_ski_len);
}

static void world_free(world *w)
{
    ct_chain_free(&w->c);
    rsp_ci_store_free(w->store);
    free(w->eum);
    free(w->euicc);
}

static rsp_status verify_der(world *w, rsp_eum_cache *cache, const uint8_t *eum, size_t eum_len,
                             const uint8_t *euicc, size_t euicc_len, time_t t)
{
    rsp_euicc_identity id;
    rsp_status st = rsp_verify_euicc_chain(w->store, cache, w->ci_ski, w->ci_ski_len, eum, eum_len, euicc,
                                           euicc_len, t, &id);
    if (st != RSP_OK)
        UT_CHECK(rsp_cert_last_reason()[0] != '\0');
    rsp_euicc_identity_clear(&id);
    return st;
}

/* Verifies w with its EUM replaced by eum_x and/or eUICC by euicc_x (NULL:
 * keep), with the chosen CI and without. */
static rsp_status verify_x(world *w, X509 *eum_x, X509 *euicc_x, time_t t)
{
    size_t el = w->eum_len, ul = w->euicc_len;
    uint8_t *e = eum_x ? ct_der(eum_x, &el) : w->eum;
    uint8_t *u = euicc_x ? ct_der(euicc_x, &ul) : w->euicc;
    rsp_status st = verify_der(w, NULL, e, el, u, ul, t);
    rsp_euicc_identity id;
    rsp_status st2 = rsp_verify_euicc_chain(w->store, NULL, NULL, 0, e, el, u, ul, t, &id);
    UT_EQ(st2, st);
    rsp_euicc_identity_clear(&id);
    if (eum_x)
        free(e);
    if (euicc_x)
        free(u);
    return st;
}

static X509 *reissue_eum(world *w, const ct_opts *o)
{
    return ct_issue(o, w->c.eum_key, w->c.ci, w->c.ci_key);
}

static X509 *reissue_euicc(world *w, const ct_opts *o)
{
    return ct_issue(o, w->c.euicc_key, w->c.eum, w->c.eum_key);
}

/* ---- minted chains ---- */

static void check_accept(const char *curve, bool iin)
{
    world w;
    UT_EQ(world_make(&w, curve, iin), 0);
    rsp_euicc_identity id;
    UT_EQ(rsp_verify_euicc_chain(w.store, NULL, w.ci_ski, w.ci_ski_len, w.eum, w.eum_len, w.euicc,
                                 w.euicc_len, now, &id),
          RSP_OK);
    UT_CHECK(strcmp(id.eid, EID) == 0);
    UT_CHECK(id.pub != NULL && EVP_PKEY_eq(id.pub, w.c.euicc_key) == 1);
    /* the raw point and curve describe the same key */
    uint8_t pt[RSP_EUICC_POINT_LEN];
    size_t ptl = 0;
    UT_EQ(EVP_PKEY_get_octet_string_param(w.c.euicc_key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptl), 1);
    UT_EQ(ptl, sizeof(pt));
    UT_CHECK(memcmp(id.point, pt, sizeof(pt)) == 0);
    UT_EQ(id.curve, strcmp(curve, "P-256") == 0 ? RSP_CURVE_P256 : RSP_CURVE_BP256);
    /* the returned key is the eUICC's: it checks an eUICC signature */
    static const uint8_t m[] = "euiccSigned1";
    uint8_t sig[RSP_SIG_LEN];
    UT_EQ(rsp_sig_sign(w.c.euicc_key, m, sizeof(m), sig), 0);
    UT_EQ(rsp_sig_verify(id.pub, m, sizeof(m), sig, sizeof(sig)), 0);
    rsp_euicc_identity_clear(&id);
    UT_CHECK(id.pub == NULL && id.curve == 0);
    UT_EQ(rsp_verify_euicc_chain(w.store, NULL, NULL, 0, w.eum, w.eum_len, w.euicc, w.euicc_len, now, &id),
          RSP_OK);
    rsp_euicc_identity_clear(&id);
    world_free(&w);
}

static void test_minted_accepted(void)
{
    check_accept("P-256", false);
    check_accept("brainpoolP256r1", false);
    check_accept("P-256", true);
    check_accept("brainpoolP256r1", true);
}

static void test_tampered_signatures(void)
{
    world w;
    UT_EQ(world_make(&w, "P-256", false), 0);
    /* the last bytes of the DER are the signature's s */
    uint8_t *u = malloc(w.euicc_len);
    memcpy(u, w.euicc, w.euicc_len);
    u[w.euicc_len - 3] ^= 0x01;
    UT_EQ(verify_der(&w, NULL, w.eum, w.eum_len, u, w.euicc_len, now), RSP_ST_EUICC_CERT_INVALID);
    UT_CHECK(strstr(rsp_cert_last_reason(), "signature") != NULL);
    uint8_t *e = malloc(w.eum_len);
    memcpy(e, w.eum, w.eum_len);
    e[w.eum_len - 3] ^= 0x01;
    UT_EQ(verify_der(&w, NULL, e, w.eum_len, w.euicc, w.euicc_len, now), RSP_ST_EUM_CERT_INVALID);
    /* a byte of the TBS (in the EUM's subject CN) */
    char *cn = memmem(e, w.eum_len, "EUM Test", 8);
    UT_CHECK(cn != NULL);
    e[w.eum_len - 3] ^= 0x01;
    if (cn)
        cn[0] = 'F';
    UT_EQ(verify_der(&w, NULL, e, w.eum_len, w.euicc, w.euicc_len, now), RSP_ST_EUM_CERT_INVALID);
    free(u);
    free(e);
    world_free(&w);
}

static void test_foreign_ci(void)
{
    world w, other;
    UT_EQ(world_make(&w, "P-256", false), 0);
    UT_EQ(world_make(&other, "P-256", false), 0);
    /* an EUM from a CI not in the store */
    UT_EQ(verify_der(&w, NULL, other.eum, other.eum_len, other.euicc, other.euicc_len, now),
          RSP_ST_CI_PK_UNKNOWN);
    rsp_euicc_identity id;
    UT_EQ(rsp_verify_euicc_chain(w.store, NULL, NULL, 0, other.eum, other.eum_len, other.euicc,
                                 other.euicc_len, now, &id),
          RSP_ST_CI_PK_UNKNOWN);
    /* both CIs trusted, but the session chose the other one */
    UT_EQ(rsp_ci_store_add(w.store, other.c.ci), 0);
    UT_EQ(rsp_verify_euicc_chain(w.store, NULL, w.ci_ski, w.ci_ski_len, other.eum, other.eum_len, other.euicc,
                                 other.euicc_len, now, &id),
          RSP_ST_CI_PK_UNKNOWN);
    UT_EQ(rsp_verify_euicc_chain(w.store, NULL, other.ci_ski, other.ci_ski_len, other.eum, other.eum_len,
                                 other.euicc, other.euicc_len, now, &id),
          RSP_OK);
    rsp_euicc_identity_clear(&id);
    /* a chosen CI that is not in the store at all */
    static const uint8_t nobody[20] = {1, 2, 3};
    UT_EQ(rsp_verify_euicc_chain(w.store, NULL, nobody, sizeof(nobody), w.eum, w.eum_len, w.euicc,
                                 w.euicc_len, now, &id),
          RSP_ST_CI_PK_UNKNOWN);
    world_free(&other);

    /* an impostor CI with the trusted CI's name: the EUM's AKI names the
     * trusted CI, but the signature is the impostor's */
    EVP_PKEY *fake_key = ct_key("P-256");
    ct_opts co = ct_ci_opts(now);
    X509 *fake_ci = ct_issue(&co, fake_key, NULL, fake_key);
    ct_opts eo = ct_eum_opts(now, PREFIX);
    eo.no_aki = true;
    X509 *eum = ct_issue(&eo, w.c.eum_key, fake_ci, fake_key);
    /* graft the trusted CI's key id as AKI */
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    akid->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(akid->keyid, w.ci_ski, (int)w.ci_ski_len);
    X509_add1_ext_i2d(eum, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT);
    AUTHORITY_KEYID_free(akid);
    X509_sign(eum, fake_key, EVP_sha256());
    UT_EQ(verify_x(&w, eum, NULL, now), RSP_ST_EUM_CERT_INVALID);
    UT_CHECK(strstr(rsp_cert_last_reason(), "signature") != NULL);
    X509_free(eum);
    X509_free(fake_ci);
    EVP_PKEY_free(fake_key);
    world_free(&w);
}

static void test_eid_range(void)
{
    for (int iin = 0; iin < 2; iin++) {
        world w;
        UT_EQ(world_make(&w, "P-256", iin), 0);
        ct_opts o = ct_euicc_opts(now, "89049033123451234512345678901234");
        X509 *x = reissue_euicc(&w, &o);
        UT_EQ(verify_x(&w, NULL, x, now), RSP_ST_EUICC_CERT_INVALID);
        UT_CHECK(strstr(rsp_cert_last_reason(), "range") != NULL);
        X509_free(x);
        /* a different EID inside the range, bad check digits included */
        o = ct_euicc_opts(now, "89049032123451234512345678901299");
        x = reissue_euicc(&w, &o);
        UT_EQ(verify_x(&w, NULL, x, now), RSP_OK);
        X509_free(x);
        if (iin) {
            /* the second IIN of the list */
            o = ct_euicc_opts(now, "89033023000000000000000000000000");
            x = reissue_euicc(&w, &o);
            UT_EQ(verify_x(&w, NULL, x, now), RSP_OK);
            X509_free(x);
        }
        /* EID not 32 digits */
        const char *bad[] = {"8904903212345123451234567890123", "890490321234512345123456789012355",
                             "8904903212345123451234567890123A"};
        for (int i = 0; i < 3; i++) {
            o = ct_euicc_opts(now, bad[i]);
            x = reissue_euicc(&w, &o);
            UT_EQ(verify_x(&w, NULL, x, now), RSP_ST_EUICC_CERT_INVALID);
            X509_free(x);
        }
        o = ct_euicc_opts(now, NULL);
        x = reissue_euicc(&w, &o);
        UT_EQ(verify_x(&w, NULL, x, now), RSP_ST_EUICC_CERT_INVALID);
        X509_free(x);
        world_free(&w);
    }
}

static void test_eum_constraints_forms(void)
{
    world w;
    UT_EQ(world_make(&w, "P-256", false), 0);
    /* neither nameConstraints nor IIN list: refused */
    ct_opts o = ct_eum_opts(now, NULL);
    X509 *x = reissue_eum(&w, &o);
    UT_EQ(verify_x(&w, x, NULL, now), RSP_ST_EUM_CERT_INVALID);
    UT_CHECK(strstr(rsp_cert_last_reason(), "range") != NULL);
    X509_free(x);
    /* both: the EID must fit each */
    const char *iin_ok[] = {"8904", NULL}, *iin_other[] = {"8903", NULL};
    o = ct_eum_opts(now, PREFIX);
    o.iin = iin_ok;
    x = reissue_eum(&w, &o);
    UT_EQ(verify_x(&w, x, NULL, now), RSP_OK);
    X509_free(x);
    o.iin = iin_other;
    x = reissue_eum(&w, &o);
    UT_EQ(verify_x(&w, x, NULL, now), RSP_ST_EUICC_CERT_INVALID);
    X509_free(x);
    /* an IIN entry that is not digits */
    const char *iin_bad[] = {"89O4", NULL};
    o = ct_eum_opts(now, NULL);
    o.iin = iin_bad;
    x = reissue_eum(&w, &o);
    UT_EQ(verify_x(&w, x, NULL, now), RSP_ST_EUM_CERT_INVALID);
    X509_free(x);
    world_free(&w);
}

static void test_eum_profile(void)
{
    world w;
    UT_EQ(world_make(&w, "P-256", false), 0);
    ct_opts base = ct_eum_opts(now, PREFIX), o;
    X509 *x;
#define EUM_CASE(stmt, want)                                                                                 \
    do {                                                                                                     \
        o = base;                                                                                            \
        stmt;                                                                                                \
        x = reissue_eum(&w, &o);                                                                             \
        UT_CHECK(x != NULL);                                                                                 \
        UT_EQ(verify_x(&w, x, NULL, now), want);                                                             \
        X509_free(x);                                                                                        \
    } while (0)
    EUM_CASE((void)0, RSP_OK);
    EUM_CASE(o.policy = RSP_OID_ROLE_DP_AUTH, RSP_ST_EUM_CERT_INVALID);
    EUM_CASE(o.policy = NULL, RSP_ST_EUM_CERT_INVALID);
    EUM_CASE(o.policy = RSP_OID_ROLE_EUM_V3, RSP_OK);
    EUM_CASE(o.ku = NULL, RSP_ST_EUM_CERT_INVALID);
    EUM_CASE(o.ku = "keyCertSign", RSP_ST_EUM_CERT_INVALID);
    EUM_CASE(o.ku = "critical,digitalSignature", RSP_ST_EUM_CERT_INVALID);
    EUM_CASE(o.ku = "critical,keyCertSign,digitalSignature", RSP_OK);
    EUM_CASE(o.bc = NULL, RSP_ST_EUM_CERT_INVALID);
    EUM_CASE(o.bc = "critical,CA:FALSE", RSP_ST_EUM_CERT_INVALID);
    EUM_CASE(o.bc = "critical,CA:TRUE,pathlen:1", RSP_OK); /* admits more CAs than it has below */
    EUM_CASE(o.bc = "critical,CA:TRUE", RSP_OK);
    EUM_CASE(o.no_ski = true, RSP_ST_EUM_CERT_INVALID);
    EUM_CASE(o.no_aki = true, RSP_ST_EUM_CERT_INVALID);
    /* dates come first: an expired EUM with a wrong policy is "expired" */
    EUM_CASE((o.not_before = now - 10 * YEAR, o.not_after = now - YEAR), RSP_ST_EUM_CERT_EXPIRED);
    EUM_CASE((o.not_before = now - 10 * YEAR, o.not_after = now - YEAR, o.policy = RSP_OID_ROLE_DP_AUTH),
             RSP_ST_EUM_CERT_EXPIRED);
    EUM_CASE((o.not_before = now + DAY, o.not_after = now + YEAR), RSP_ST_EUM_CERT_EXPIRED);
#undef EUM_CASE
    /* an EUM on a curve SGP.22 does not use */
    EVP_PKEY *k384 = ct_key("P-384");
    x = ct_issue(&base, k384, w.c.ci, w.c.ci_key);
    UT_EQ(verify_x(&w, x, NULL, now), RSP_ST_EUM_CERT_INVALID);
    X509_free(x);
    EVP_PKEY_free(k384);
    world_free(&w);
}

static void test_euicc_profile(void)
{
    world w;
    UT_EQ(world_make(&w, "brainpoolP256r1", false), 0);
    ct_opts base = ct_euicc_opts(now, EID), o;
    X509 *x;
#define EUICC_CASE(stmt, want)                                                                               \
    do {                                                                                                     \
        o = base;                                                                                            \
        stmt;                                                                                                \
        x = reissue_euicc(&w, &o);                                                                           \
        UT_CHECK(x != NULL);                                                                                 \
        UT_EQ(verify_x(&w, NULL, x, now), want);                                                             \
        X509_free(x);                                                                                        \
    } while (0)
    EUICC_CASE((void)0, RSP_OK);
    EUICC_CASE(o.policy = RSP_OID_ROLE_EUM, RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE(o.policy = "2.23.146.1.2.1.1.7", RSP_ST_EUICC_CERT_INVALID); /* roles match exactly */
    EUICC_CASE(o.policy = RSP_OID_ROLE_EUICC_V3, RSP_OK);
    EUICC_CASE(o.policy = "2.23.146.1.2.1.10", RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE(o.policy = NULL, RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE(o.ku = NULL, RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE(o.ku = "critical,keyAgreement", RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE(o.ku = "critical,digitalSignature,keyCertSign", RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE(o.bc = "critical,CA:TRUE", RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE(o.no_aki = true, RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE(o.o = NULL, RSP_ST_EUICC_CERT_INVALID);
    EUICC_CASE((o.not_before = now - 10 * YEAR, o.not_after = now - DAY), RSP_ST_EUICC_CERT_EXPIRED);
    EUICC_CASE((o.not_before = now + 60, o.not_after = now + YEAR), RSP_ST_EUICC_CERT_EXPIRED);
    EUICC_CASE((o.not_before = now - 10 * YEAR, o.not_after = now - DAY, o.policy = NULL),
               RSP_ST_EUICC_CERT_EXPIRED);
#undef EUICC_CASE
    /* self-issued eUICC */
    x = ct_issue(&base, w.c.euicc_key, NULL, w.c.euicc_key);
    UT_EQ(verify_x(&w, NULL, x, now), RSP_ST_EUICC_CERT_INVALID);
    X509_free(x);
    /* issued by the EUM's name but signed with the eUICC key */
    x = ct_issue(&base, w.c.euicc_key, w.c.eum, w.c.euicc_key);
    UT_EQ(verify_x(&w, NULL, x, now), RSP_ST_EUICC_CERT_INVALID);
    X509_free(x);
    /* and the whole chain against time: after the EUM expires, the EUM
     * reports first */
    UT_EQ(verify_x(&w, NULL, NULL, now + 11 * YEAR), RSP_ST_EUM_CERT_EXPIRED);
    world_free(&w);
}

static void test_der_framing(void)
{
    world w;
    UT_EQ(world_make(&w, "P-256", false), 0);
    uint8_t *e = malloc(w.eum_len + 1), *u = malloc(w.euicc_len + 1);
    memcpy(e, w.eum, w.eum_len);
    memcpy(u, w.euicc, w.euicc_len);
    e[w.eum_len] = 0;
    u[w.euicc_len] = 0;
    UT_EQ(verify_der(&w, NULL, e, w.eum_len + 1, w.euicc, w.euicc_len, now), RSP_ST_EUM_CERT_INVALID);
    UT_EQ(verify_der(&w, NULL, w.eum, w.eum_len, u, w.euicc_len + 1, now), RSP_ST_EUICC_CERT_INVALID);
    UT_EQ(verify_der(&w, NULL, e, w.eum_len - 1, w.euicc, w.euicc_len, now), RSP_ST_EUM_CERT_INVALID);
    UT_EQ(verify_der(&w, NULL, w.eum, w.eum_len, u, w.euicc_len - 1, now), RSP_ST_EUICC_CERT_INVALID);
    UT_EQ(verify_der(&w, NULL, w.eum, w.eum_len, u, 10, now), RSP_ST_EUICC_CERT_INVALID);
    UT_EQ(verify_der(&w, NULL, NULL, 0, w.euicc, w.euicc_len, now), RSP_ST_EUM_CERT_INVALID);
    UT_EQ(verify_der(&w, NULL, w.eum, w.eum_len, NULL, 0, now), RSP_ST_EUICC_CERT_INVALID);
    /* a non-minimal outer length (0x82 00 xx) is not DER */
    size_t body = w.euicc_len - 4;
    UT_CHECK(u[1] == 0x82);
    uint8_t *nm = malloc(w.euicc_len + 1);
    nm[0] = 0x30;
    nm[1] = 0x83;
    nm[2] = 0;
    nm[3] = (uint8_t)(body >> 8);
    nm[4] = (uint8_t)body;
    memcpy(nm + 5, w.euicc + 4, body);
    UT_EQ(verify_der(&w, NULL, w.eum, w.eum_len, nm, w.euicc_len + 1, now), RSP_ST_EUICC_CERT_INVALID);
    /* an EUM/eUICC swap */
    UT_EQ(verify_der(&w, NULL, w.euicc, w.euicc_len, w.eum, w.eum_len, now), RSP_ST_CI_PK_UNKNOWN);
    UT_EQ(verify_der(&w, NULL, w.eum, w.eum_len, w.eum, w.eum_len, now), RSP_ST_EUICC_CERT_INVALID);
    free(nm);
    free(e);
    free(u);
    world_free(&w);
}

/* ---- the eUICC parser: re-signed TBSCertificate variants ---- */

/* The TBSCertificate of a minted eUICC, cut into its fields (raw TLVs). */
enum { F_VERSION, F_SERIAL, F_ALG, F_ISSUER, F_VALIDITY, F_SUBJECT, F_SPKI, F_EXTS, F_N };

typedef struct tbs_parts {
    der_tlv f[F_N];
    der_tlv ext[16]; /* the Extension SEQUENCEs inside F_EXTS */
    size_t next;
} tbs_parts;

static int tbs_split(const uint8_t *cert, size_t len, tbs_parts *p)
{
    der_tlv c, tbs, seq;
    der_reader r;
    memset(p, 0, sizeof(*p));
    if (der_parse_exact(cert, len, &c) != DER_OK || der_parse(c.value, c.len, &tbs) != DER_OK)
        return -1;
    der_reader_of(&r, &tbs);
    for (int i = 0; i < F_N; i++)
        if (der_next(&r, &p->f[i]) != DER_OK)
            return -1;
    if (!der_reader_done(&r) || p->f[F_VERSION].tag != 0xa0 || p->f[F_EXTS].tag != 0xa3 ||
        der_parse_exact(p->f[F_EXTS].value, p->f[F_EXTS].len, &seq) != DER_OK)
        return -1;
    der_reader_of(&r, &seq);
    while (!der_reader_done(&r) && p->next < 16)
        if (der_next(&r, &p->ext[p->next++]) != DER_OK)
            return -1;
    return der_reader_done(&r) ? 0 : -1;
}

/* Field replacements: NULL data keeps the field, len 0 with data drops it. */
typedef struct tbs_edit {
    const uint8_t *f[F_N];
    size_t flen[F_N];
    const uint8_t *extra_ext; /* appended to the extensions */
    size_t extra_ext_len;
    int drop_ext;        /* index of an extension to leave out, -1 none */
    const uint8_t *tail; /* appended inside the TBS */
    size_t tail_len;
    const uint8_t *alg; /* outer signatureAlgorithm, NULL: ecdsa-with-SHA256 */
    size_t alg_len;
    uint8_t sig_unused; /* unused-bits octet of the signature */
} tbs_edit;

static const uint8_t ECDSA_SHA256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                       0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

static void edit_init(tbs_edit *e)
{
    memset(e, 0, sizeof(*e));
    e->drop_ext = -1;
}

/* Rebuilds the certificate from p with e applied and signs it with key. */
static uint8_t *tbs_build(const tbs_parts *p, const tbs_edit *e, EVP_PKEY *key, size_t *out_len)
{
    der_writer t, c;
    der_w_init(&t);
    der_w_begin(&t, 0x30);
    for (int i = 0; i < F_N; i++) {
        if (e->f[i] != NULL) {
            der_w_raw(&t, e->f[i], e->flen[i]);
        } else if (i == F_EXTS) {
            der_w_begin(&t, 0xa3);
            der_w_begin(&t, 0x30);
            for (size_t k = 0; k < p->next; k++)
                if ((int)k != e->drop_ext)
                    der_w_raw(&t, p->ext[k].raw, p->ext[k].raw_len);
            der_w_raw(&t, e->extra_ext, e->extra_ext_len);
            der_w_end(&t);
            der_w_end(&t);
        } else {
            der_w_raw(&t, p->f[i].raw, p->f[i].raw_len);
        }
    }
    der_w_raw(&t, e->tail, e->tail_len);
    der_w_end(&t);
    if (der_w_finish(&t) != DER_OK)
        return NULL;
    uint8_t sig[80];
    size_t slen = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(md, sig, &slen, t.buf, t.len) == 1;
    EVP_MD_CTX_free(md);
    der_w_init(&c);
    der_w_begin(&c, 0x30);
    der_w_raw(&c, t.buf, t.len);
    if (e->alg)
        der_w_raw(&c, e->alg, e->alg_len);
    else
        der_w_raw(&c, ECDSA_SHA256, sizeof(ECDSA_SHA256));
    uint8_t bits[81];
    bits[0] = e->sig_unused;
    memcpy(bits + 1, sig, slen);
    der_w_tlv(&c, 0x03, bits, slen + 1);
    der_w_end(&c);
    der_w_free(&t);
    if (!ok || der_w_finish(&c) != DER_OK) {
        der_w_free(&c);
        return NULL;
    }
    *out_len = c.len;
    return c.buf;
}

/* Verifies the eUICC of w rebuilt with e (and signed by the EUM). */
static rsp_status verify_edit(world *w, const tbs_parts *p, const tbs_edit *e)
{
    size_t n = 0;
    uint8_t *u = tbs_build(p, e, w->c.eum_key, &n);
    UT_CHECK(u != NULL);
    if (u == NULL)
        return RSP_ST_INTERNAL;
    rsp_status st = verify_der(w, NULL, w->eum, w->eum_len, u, n, now);
    free(u);
    return st;
}

/* An Extension SEQUENCE { oid, [critical], OCTET STRING value } written out. */
static size_t mk_ext(uint8_t *out, const uint8_t *oid, size_t oid_len, int crit, const uint8_t *val,
                     size_t val_len)
{
    der_writer w;
    der_w_init(&w);
    der_w_begin(&w, 0x30);
    der_w_tlv(&w, 0x06, oid, oid_len);
    if (crit >= 0)
        der_w_tlv(&w, 0x01, (const uint8_t[]){crit ? 0xff : 0x00}, 1);
    der_w_tlv(&w, 0x04, val, val_len);
    der_w_end(&w);
    size_t n = 0;
    if (der_w_finish(&w) == DER_OK) {
        memcpy(out, w.buf, w.len);
        n = w.len;
    }
    der_w_free(&w);
    return n;
}

static const uint8_t OID_KU[] = {0x55, 0x1d, 0x0f}, OID_SAN[] = {0x55, 0x1d, 0x11},
                     OID_AKI[] = {0x55, 0x1d, 0x23}, OID_POL[] = {0x55, 0x1d, 0x20},
                     OID_PRIVATE[] = {0x2a, 0x03, 0x04}; /* 1.2.3.4 */

/* Index of the extension with oid in p, -1 if none. */
static int ext_index(const tbs_parts *p, const uint8_t *oid, size_t n)
{
    for (size_t i = 0; i < p->next; i++) {
        der_reader r;
        der_tlv o;
        der_reader_of(&r, &p->ext[i]);
        if (der_next(&r, &o) == DER_OK && o.len == n && memcmp(o.value, oid, n) == 0)
            return (int)i;
    }
    return -1;
}

static void test_euicc_parser(void)
{
    world w;
    UT_EQ(world_make(&w, "P-256", false), 0);
    tbs_parts p;
    UT_EQ(tbs_split(w.euicc, w.euicc_len, &p), 0);
    tbs_edit e;
    uint8_t buf[256], ext[128];
    size_t n;

    /* the rebuilt certificate verifies: every refusal below is the edit's */
    edit_init(&e);
    UT_EQ(verify_edit(&w, &p, &e), RSP_OK);

    /* trailing bytes inside the TBSCertificate */
    static const uint8_t null_tlv[] = {0x05, 0x00};
    edit_init(&e);
    e.tail = null_tlv;
    e.tail_len = sizeof(null_tlv);
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* trailing bytes inside [3] after the Extensions SEQUENCE */
    edit_init(&e);
    n = 0;
    buf[n++] = 0xa3;
    buf[n++] = (uint8_t)(p.f[F_EXTS].len + 2);
    memcpy(buf + n, p.f[F_EXTS].value, p.f[F_EXTS].len);
    n += p.f[F_EXTS].len;
    buf[n++] = 0x05;
    buf[n++] = 0x00;
    UT_CHECK(p.f[F_EXTS].len + 2 < 0x80);
    e.f[F_EXTS] = buf;
    e.flen[F_EXTS] = n;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* a non-minimal length (81 xx with xx < 0x80) for the subject */
    UT_CHECK(p.f[F_SUBJECT].len < 0x80);
    edit_init(&e);
    buf[0] = 0x30;
    buf[1] = 0x81;
    buf[2] = (uint8_t)p.f[F_SUBJECT].len;
    memcpy(buf + 3, p.f[F_SUBJECT].value, p.f[F_SUBJECT].len);
    e.f[F_SUBJECT] = buf;
    e.flen[F_SUBJECT] = 3 + p.f[F_SUBJECT].len;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* an inner length running past its parent */
    edit_init(&e);
    memcpy(buf, p.f[F_SUBJECT].raw, p.f[F_SUBJECT].raw_len);
    buf[1] = (uint8_t)(buf[1] + 1);
    e.f[F_SUBJECT] = buf;
    e.flen[F_SUBJECT] = p.f[F_SUBJECT].raw_len;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* wrong tags: serialNumber as a BIT STRING, issuer as a SET */
    edit_init(&e);
    memcpy(buf, p.f[F_SERIAL].raw, p.f[F_SERIAL].raw_len);
    buf[0] = 0x03;
    e.f[F_SERIAL] = buf;
    e.flen[F_SERIAL] = p.f[F_SERIAL].raw_len;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    edit_init(&e);
    memcpy(buf, p.f[F_ISSUER].raw, p.f[F_ISSUER].raw_len);
    buf[0] = 0x31;
    e.f[F_ISSUER] = buf;
    e.flen[F_ISSUER] = p.f[F_ISSUER].raw_len;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* a serial number with a superfluous leading zero */
    static const uint8_t serial_nm[] = {0x02, 0x02, 0x00, 0x01};
    edit_init(&e);
    e.f[F_SERIAL] = serial_nm;
    e.flen[F_SERIAL] = sizeof(serial_nm);
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* versions: v1 written out (the DEFAULT), 4, absent (v1) */
    static const uint8_t v1[] = {0xa0, 0x03, 0x02, 0x01, 0x00}, v4[] = {0xa0, 0x03, 0x02, 0x01, 0x03};
    edit_init(&e);
    e.f[F_VERSION] = v1;
    e.flen[F_VERSION] = sizeof(v1);
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    e.f[F_VERSION] = v4;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    e.f[F_VERSION] = buf;
    e.flen[F_VERSION] = 0;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    UT_CHECK(strstr(rsp_cert_last_reason(), "v3") != NULL);

    /* extensions: duplicate, critical FALSE written out, unknown critical */
    int ku = ext_index(&p, OID_KU, sizeof(OID_KU));
    UT_CHECK(ku >= 0);
    edit_init(&e);
    e.extra_ext = p.ext[ku].raw;
    e.extra_ext_len = p.ext[ku].raw_len;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    UT_CHECK(strstr(rsp_cert_last_reason(), "duplicate") != NULL);
    static const uint8_t ku_ds[] = {0x03, 0x02, 0x07, 0x80};
    edit_init(&e);
    e.drop_ext = ku;
    e.extra_ext = ext;
    e.extra_ext_len = mk_ext(ext, OID_KU, sizeof(OID_KU), 1, ku_ds, sizeof(ku_ds));
    UT_EQ(verify_edit(&w, &p, &e), RSP_OK);
    e.extra_ext_len = mk_ext(ext, OID_KU, sizeof(OID_KU), -1, ku_ds, sizeof(ku_ds));
    UT_EQ(verify_edit(&w, &p, &e), RSP_OK);
    e.extra_ext_len = mk_ext(ext, OID_KU, sizeof(OID_KU), 0, ku_ds, sizeof(ku_ds));
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* keyUsage BIT STRINGs that are not DER: padding bits set, a trailing
     * zero octet, unused bits over 7, trailing bytes in the extension value */
    static const uint8_t ku_pad[] = {0x03, 0x02, 0x07, 0x81}, ku_trail[] = {0x03, 0x03, 0x00, 0x80, 0x00},
                         ku_over[] = {0x03, 0x02, 0x08, 0x80},
                         ku_extra[] = {0x03, 0x02, 0x07, 0x80, 0x05, 0x00};
    const uint8_t *bad_ku[] = {ku_pad, ku_trail, ku_over, ku_extra};
    size_t bad_ku_len[] = {sizeof(ku_pad), sizeof(ku_trail), sizeof(ku_over), sizeof(ku_extra)};
    for (int i = 0; i < 4; i++) {
        e.extra_ext_len = mk_ext(ext, OID_KU, sizeof(OID_KU), 1, bad_ku[i], bad_ku_len[i]);
        UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    }
    static const uint8_t empty_seq[] = {0x30, 0x00};
    edit_init(&e);
    e.extra_ext = ext;
    e.extra_ext_len = mk_ext(ext, OID_PRIVATE, sizeof(OID_PRIVATE), -1, empty_seq, sizeof(empty_seq));
    UT_EQ(verify_edit(&w, &p, &e), RSP_OK);
    e.extra_ext_len = mk_ext(ext, OID_PRIVATE, sizeof(OID_PRIVATE), 1, empty_seq, sizeof(empty_seq));
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    UT_CHECK(strstr(rsp_cert_last_reason(), "critical") != NULL);
    /* an extension OpenSSL decodes: subjectAltName well formed, then not */
    static const uint8_t san_ok[] = {0x30, 0x06, 0x88, 0x04, 0x2a, 0x03, 0x04, 0x05}; /* RID 1.2.3.4.5 */
    static const uint8_t san_bad[] = {0x30, 0x03, 0x88, 0x01, 0x80};                  /* RID not an OID */
    e.extra_ext_len = mk_ext(ext, OID_SAN, sizeof(OID_SAN), -1, san_ok, sizeof(san_ok));
    UT_EQ(verify_edit(&w, &p, &e), RSP_OK);
    e.extra_ext_len = mk_ext(ext, OID_SAN, sizeof(OID_SAN), -1, san_bad, sizeof(san_bad));
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* AKI with an authorityCertSerialNumber: OpenSSL's decoder checks it */
    int aki = ext_index(&p, OID_AKI, sizeof(OID_AKI));
    UT_CHECK(aki >= 0);
    const uint8_t *ski = NULL;
    size_t ski_len = 0;
    UT_EQ(rsp_cert_ski(w.c.eum, &ski, &ski_len), 0);
    uint8_t akv[64];
    akv[0] = 0x30;
    akv[1] = (uint8_t)(2 + ski_len + 3);
    akv[2] = 0x80;
    akv[3] = (uint8_t)ski_len;
    memcpy(akv + 4, ski, ski_len);
    memcpy(akv + 4 + ski_len, (const uint8_t[]){0x82, 0x01, 0x07}, 3);
    edit_init(&e);
    e.drop_ext = aki;
    e.extra_ext = ext;
    e.extra_ext_len = mk_ext(ext, OID_AKI, sizeof(OID_AKI), -1, akv, 7 + ski_len);
    UT_EQ(verify_edit(&w, &p, &e), RSP_OK);
    akv[4 + ski_len + 2] = 0x00; /* serial 00: not a minimal INTEGER */
    akv[4 + ski_len + 1] = 0x02;
    akv[1]++;
    uint8_t akv2[64];
    memcpy(akv2, akv, 4 + ski_len + 2);
    akv2[4 + ski_len + 2] = 0x00;
    akv2[4 + ski_len + 3] = 0x07;
    e.extra_ext_len = mk_ext(ext, OID_AKI, sizeof(OID_AKI), -1, akv2, 8 + ski_len);
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    /* policy qualifiers: a CPS URI is fine, a CPS that is not an IA5String is not */
    int pol = ext_index(&p, OID_POL, sizeof(OID_POL));
    UT_CHECK(pol >= 0);
    static const uint8_t pol_cps[] = {0x30, 0x1f, 0x30, 0x1d, 0x06, 0x07, 0x67, 0x81, 0x12, 0x01, 0x02,
                                      0x01, 0x01, 0x30, 0x12, 0x30, 0x10, 0x06, 0x08, 0x2b, 0x06, 0x01,
                                      0x05, 0x05, 0x07, 0x02, 0x01, 0x16, 0x04, 0x68, 0x74, 0x74, 0x70};
    uint8_t pol_bad[sizeof(pol_cps)];
    memcpy(pol_bad, pol_cps, sizeof(pol_cps));
    pol_bad[sizeof(pol_cps) - 6] = 0x02; /* the qualifier as an INTEGER */
    edit_init(&e);
    e.drop_ext = pol;
    e.extra_ext = ext;
    e.extra_ext_len = mk_ext(ext, OID_POL, sizeof(OID_POL), 1, pol_cps, sizeof(pol_cps));
    UT_EQ(verify_edit(&w, &p, &e), RSP_OK);
    e.extra_ext_len = mk_ext(ext, OID_POL, sizeof(OID_POL), 1, pol_bad, sizeof(pol_bad));
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);

    /* the key: a point off the curve, a compressed point */
    edit_init(&e);
    memcpy(buf, p.f[F_SPKI].raw, p.f[F_SPKI].raw_len);
    buf[p.f[F_SPKI].raw_len - 1] ^= 0x01;
    e.f[F_SPKI] = buf;
    e.flen[F_SPKI] = p.f[F_SPKI].raw_len;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    UT_CHECK(strstr(rsp_cert_last_reason(), "key") != NULL);
    size_t spl = p.f[F_SPKI].raw_len;
    UT_CHECK(spl == 91); /* 30 59 30 13 (alg) 03 42 00 04 X Y */
    memcpy(buf, p.f[F_SPKI].raw, spl);
    buf[1] = (uint8_t)(buf[1] - 32);
    buf[24] = (uint8_t)(buf[24] - 32);
    buf[26] = (uint8_t)(0x02 | (p.f[F_SPKI].raw[spl - 1] & 1));
    e.flen[F_SPKI] = spl - 32;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);

    /* a subject UTF8String that is not UTF-8 (an overlong NUL) */
    const uint8_t *cn = memmem(p.f[F_SUBJECT].raw, p.f[F_SUBJECT].raw_len, "Test eUICC", 10);
    UT_CHECK(cn != NULL);
    if (cn != NULL) {
        edit_init(&e);
        memcpy(buf, p.f[F_SUBJECT].raw, p.f[F_SUBJECT].raw_len);
        size_t off = (size_t)(cn - p.f[F_SUBJECT].raw);
        buf[off - 2] = 0x0c;
        buf[off] = 0xc0;
        buf[off + 1] = 0x80;
        e.f[F_SUBJECT] = buf;
        e.flen[F_SUBJECT] = p.f[F_SUBJECT].raw_len;
        UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    }
    /* the issuer written differently but equal as X509_NAME_cmp compares
     * (case), then a different issuer */
    cn = memmem(p.f[F_ISSUER].raw, p.f[F_ISSUER].raw_len, "EUM Test", 8);
    UT_CHECK(cn != NULL);
    if (cn != NULL) {
        edit_init(&e);
        memcpy(buf, p.f[F_ISSUER].raw, p.f[F_ISSUER].raw_len);
        size_t off = (size_t)(cn - p.f[F_ISSUER].raw);
        memcpy(buf + off, "eum test", 8);
        e.f[F_ISSUER] = buf;
        e.flen[F_ISSUER] = p.f[F_ISSUER].raw_len;
        UT_EQ(verify_edit(&w, &p, &e), RSP_OK);
        memcpy(buf + off, "EUM Tesx", 8);
        UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
        UT_CHECK(strstr(rsp_cert_last_reason(), "issuer name") != NULL);
    }
    /* signature: unused bits in the BIT STRING; parameters on one algorithm */
    edit_init(&e);
    e.sig_unused = 1;
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    static const uint8_t alg_null[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                       0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00};
    edit_init(&e);
    e.alg = alg_null;
    e.alg_len = sizeof(alg_null);
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);
    edit_init(&e);
    e.f[F_ALG] = alg_null;
    e.flen[F_ALG] = sizeof(alg_null);
    UT_EQ(verify_edit(&w, &p, &e), RSP_ST_EUICC_CERT_INVALID);

    /* order: a malformed certificate is invalid even when also expired; a
     * well-formed v1 certificate that expired is reported expired */
    ct_opts o = ct_euicc_opts(now, EID);
    o.not_before = now - 10 * YEAR;
    o.not_after = now - DAY;
    X509 *old = reissue_euicc(&w, &o);
    size_t ol = 0;
    uint8_t *od = ct_der(old, &ol);
    tbs_parts q;
    UT_EQ(tbs_split(od, ol, &q), 0);
    edit_init(&e);
    UT_EQ(verify_edit(&w, &q, &e), RSP_ST_EUICC_CERT_EXPIRED);
    e.tail = null_tlv;
    e.tail_len = sizeof(null_tlv);
    UT_EQ(verify_edit(&w, &q, &e), RSP_ST_EUICC_CERT_INVALID);
    edit_init(&e);
    e.f[F_VERSION] = buf;
    e.flen[F_VERSION] = 0;
    UT_EQ(verify_edit(&w, &q, &e), RSP_ST_EUICC_CERT_EXPIRED);
    free(od);
    X509_free(old);
    world_free(&w);
}

static void test_cache(void)
{
    world a, b, c;
    UT_EQ(world_make(&a, "P-256", false), 0);
    UT_EQ(world_make(&b, "P-256", true), 0);
    UT_EQ(world_make(&c, "brainpoolP256r1", false), 0);
    /* one store for all three */
    UT_EQ(rsp_ci_store_add(a.store, b.c.ci), 0);
    UT_EQ(rsp_ci_store_add(a.store, c.c.ci), 0);
    UT_EQ(rsp_ci_store_count(a.store), 3);
    UT_CHECK(rsp_eum_cache_new(0) == NULL);
    rsp_eum_cache *cache = rsp_eum_cache_new(2);
    uint64_t hits, misses;
    rsp_euicc_identity id;
#define V(w, t)                                                                                              \
    rsp_verify_euicc_chain(a.store, cache, w.ci_ski, w.ci_ski_len, w.eum, w.eum_len, w.euicc, w.euicc_len,   \
                           t, &id)
    UT_EQ(V(a, now), RSP_OK);
    rsp_euicc_identity_clear(&id);
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 0);
    UT_EQ(misses, 1);
    UT_EQ(V(a, now), RSP_OK);
    UT_CHECK(strcmp(id.eid, EID) == 0);
    rsp_euicc_identity_clear(&id);
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 1);
    UT_EQ(misses, 1);
    UT_EQ(rsp_eum_cache_count(cache), 1);
    /* a hit still verifies the eUICC */
    uint8_t *u = malloc(a.euicc_len);
    memcpy(u, a.euicc, a.euicc_len);
    u[a.euicc_len - 2] ^= 0x40;
    UT_EQ(rsp_verify_euicc_chain(a.store, cache, a.ci_ski, a.ci_ski_len, a.eum, a.eum_len, u, a.euicc_len,
                                 now, &id),
          RSP_ST_EUICC_CERT_INVALID);
    free(u);
    UT_EQ(rsp_verify_euicc_chain(a.store, cache, NULL, 0, a.eum, a.eum_len, b.euicc, b.euicc_len, now, &id),
          RSP_ST_EUICC_CERT_INVALID);
    /* a hit rechecks the EUM's dates */
    UT_EQ(V(a, now + 20 * YEAR), RSP_ST_EUM_CERT_EXPIRED);
    UT_EQ(V(a, now - 2 * YEAR), RSP_ST_EUM_CERT_EXPIRED);
    /* a hit for another chosen CI is not a hit */
    UT_EQ(rsp_verify_euicc_chain(a.store, cache, b.ci_ski, b.ci_ski_len, a.eum, a.eum_len, a.euicc,
                                 a.euicc_len, now, &id),
          RSP_ST_CI_PK_UNKNOWN);
    /* nor in a store without the CI */
    UT_EQ(rsp_verify_euicc_chain(b.store, cache, NULL, 0, a.eum, a.eum_len, a.euicc, a.euicc_len, now, &id),
          RSP_ST_CI_PK_UNKNOWN);
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 5);
    UT_EQ(misses, 3);
    /* failures are not cached */
    uint8_t *e = malloc(b.eum_len);
    memcpy(e, b.eum, b.eum_len);
    e[b.eum_len - 2] ^= 0x40;
    UT_EQ(rsp_verify_euicc_chain(a.store, cache, NULL, 0, e, b.eum_len, b.euicc, b.euicc_len, now, &id),
          RSP_ST_EUM_CERT_INVALID);
    UT_EQ(rsp_verify_euicc_chain(a.store, cache, NULL, 0, e, b.eum_len, b.euicc, b.euicc_len, now, &id),
          RSP_ST_EUM_CERT_INVALID);
    free(e);
    UT_EQ(rsp_eum_cache_count(cache), 1);
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 5);
    UT_EQ(misses, 5);
    /* a different EUM is a miss; the capacity (2) holds */
    UT_EQ(V(b, now), RSP_OK);
    rsp_euicc_identity_clear(&id);
    UT_EQ(V(a, now), RSP_OK); /* a becomes the most recent */
    rsp_euicc_identity_clear(&id);
    UT_EQ(V(c, now), RSP_OK); /* evicts b */
    rsp_euicc_identity_clear(&id);
    UT_EQ(rsp_eum_cache_count(cache), 2);
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 6);
    UT_EQ(misses, 7);
    UT_EQ(V(a, now), RSP_OK);
    rsp_euicc_identity_clear(&id);
    UT_EQ(V(c, now), RSP_OK);
    rsp_euicc_identity_clear(&id);
    UT_EQ(V(b, now), RSP_OK);
    rsp_euicc_identity_clear(&id);
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 8);
    UT_EQ(misses, 8);
    UT_EQ(rsp_eum_cache_count(cache), 2);
    UT_EQ(V(a, now), RSP_OK); /* a again (a miss: b evicted it) */
    rsp_euicc_identity_clear(&id);
#undef V
    /* the CI re-issued with the same key (same SKI, another certificate): the
     * cached entry no longer counts, and is replaced by the new verification */
    ct_opts co = ct_ci_opts(now);
    co.serial = 1234;
    X509 *ci2 = ct_issue(&co, a.c.ci_key, NULL, a.c.ci_key);
    rsp_ci_store *s2 = rsp_ci_store_new();
    UT_EQ(rsp_ci_store_add(s2, ci2), 0);
    for (int i = 0; i < 2; i++) {
        UT_EQ(rsp_verify_euicc_chain(s2, cache, NULL, 0, a.eum, a.eum_len, a.euicc, a.euicc_len, now, &id),
              RSP_OK);
        rsp_euicc_identity_clear(&id);
    }
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 9);
    UT_EQ(misses, 10);
    UT_EQ(rsp_eum_cache_count(cache), 2);
    rsp_ci_store_free(s2);
    X509_free(ci2);
    rsp_eum_cache_free(cache);
    world_free(&a);
    world_free(&b);
    world_free(&c);
}

struct thread_arg {
    world *w;
    rsp_eum_cache *cache;
    int bad;
};

static void *hammer(void *p)
{
    struct thread_arg *t = p;
    for (int i = 0; i < 40; i++) {
        world *w = &t->w[i % 3];
        rsp_euicc_identity id;
        rsp_status st = rsp_verify_euicc_chain(t->w[0].store, t->cache, NULL, 0, w->eum, w->eum_len, w->euicc,
                                               w->euicc_len, now, &id);
        if (st != RSP_OK || strcmp(id.eid, EID) != 0)
            t->bad++;
        rsp_euicc_identity_clear(&id);
    }
    return NULL;
}

static void test_cache_threads(void)
{
    world w[3];
    UT_EQ(world_make(&w[0], "P-256", false), 0);
    UT_EQ(world_make(&w[1], "P-256", true), 0);
    UT_EQ(world_make(&w[2], "brainpoolP256r1", true), 0);
    UT_EQ(rsp_ci_store_add(w[0].store, w[1].c.ci), 0);
    UT_EQ(rsp_ci_store_add(w[0].store, w[2].c.ci), 0);
    rsp_eum_cache *cache = rsp_eum_cache_new(2);
    enum { N = 4 };
    pthread_t th[N];
    struct thread_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (struct thread_arg){w, cache, 0};
        UT_EQ(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        UT_EQ(args[i].bad, 0);
    }
    uint64_t hits, misses;
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits + misses, N * 40);
    UT_CHECK(rsp_eum_cache_count(cache) <= 2);
    rsp_eum_cache_free(cache);
    for (int i = 0; i < 3; i++)
        world_free(&w[i]);
}

static void test_ci_store(void)
{
    world w;
    UT_EQ(world_make(&w, "P-256", false), 0);
    UT_EQ(rsp_ci_store_count(w.store), 1);
    UT_EQ(rsp_ci_store_add(w.store, w.c.ci), 0); /* same certificate: no-op */
    UT_EQ(rsp_ci_store_count(w.store), 1);
    const uint8_t *ski;
    size_t n;
    UT_CHECK(rsp_ci_store_get(w.store, 0, &ski, &n) == w.c.ci);
    UT_CHECK(n == w.ci_ski_len && memcmp(ski, w.ci_ski, n) == 0);
    UT_CHECK(rsp_ci_store_get(w.store, 1, &ski, &n) == NULL);
    UT_CHECK(rsp_ci_store_find(w.store, w.ci_ski, w.ci_ski_len) == w.c.ci);
    UT_CHECK(rsp_ci_store_find(w.store, w.ci_ski, w.ci_ski_len - 1) == NULL);
    /* a CI without SKI is refused; so is another certificate with the same SKI */
    ct_opts o = ct_ci_opts(now);
    o.no_ski = true;
    o.no_aki = true;
    X509 *x = ct_issue(&o, w.c.ci_key, NULL, w.c.ci_key);
    UT_EQ(rsp_ci_store_add(w.store, x), -1);
    X509_free(x);
    o = ct_ci_opts(now);
    o.serial = 99;
    x = ct_issue(&o, w.c.ci_key, NULL, w.c.ci_key);
    UT_EQ(rsp_ci_store_add(w.store, x), -1);
    X509_free(x);
    UT_EQ(rsp_ci_store_count(w.store), 1);
    UT_EQ(rsp_ci_store_add_file(w.store, "/nonexistent/ci.der"), -1);

    /* files: DER, DER with a trailing byte, PEM */
    const char *tmp = getenv("TEST_TMPDIR");
    char p[1024];
    snprintf(p, sizeof(p), "%s/ci.der", tmp ? tmp : "/tmp");
    FILE *f = fopen(p, "wb");
    UT_CHECK(f != NULL);
    if (f) {
        fwrite(w.eum, 1, w.eum_len, f);
        fclose(f);
        x = rsp_load_cert(p);
        UT_CHECK(x != NULL && X509_cmp(x, w.c.eum) == 0);
        X509_free(x);
        f = fopen(p, "ab");
        fputc(0, f);
        fclose(f);
        UT_CHECK(rsp_load_cert(p) == NULL);
        f = fopen(p, "wb");
        PEM_write_X509(f, w.c.ci);
        fclose(f);
        rsp_ci_store *s = rsp_ci_store_new();
        UT_EQ(rsp_ci_store_add_file(s, p), 0);
        UT_EQ(rsp_ci_store_count(s), 1);
        rsp_ci_store_free(s);
        f = fopen(p, "wb");
        PEM_write_PrivateKey(f, w.c.ci_key, NULL, NULL, 0, NULL, NULL);
        fclose(f);
        EVP_PKEY *k = rsp_load_key(p);
        UT_CHECK(k != NULL && EVP_PKEY_eq(k, w.c.ci_key) == 1);
        EVP_PKEY_free(k);
        remove(p);
    }
    world_free(&w);
}

/* ---- server and TLS certificates ---- */

static void test_server_cert(void)
{
    world w, other;
    UT_EQ(world_make(&w, "P-256", false), 0);
    UT_EQ(world_make(&other, "P-256", false), 0);
    EVP_PKEY *k = ct_key("P-256");
    ct_opts o = ct_tls_opts(now, RSP_OID_ROLE_DS_AUTH, "RID:2.999.20");
    o.eku = NULL;
    X509 *ds = ct_issue(&o, k, w.c.ci, w.c.ci_key);
    EVP_PKEY *pub = NULL;
    UT_EQ(rsp_verify_server_cert(w.store, ds, RSP_OID_ROLE_DS_AUTH, now, &pub), 0);
    UT_CHECK(pub != NULL && EVP_PKEY_eq(pub, k) == 1);
    EVP_PKEY_free(pub);
    UT_EQ(rsp_verify_server_cert(w.store, ds, RSP_OID_ROLE_DS_AUTH, now, NULL), 0);
    UT_EQ(rsp_verify_server_cert(w.store, ds, RSP_OID_ROLE_DP_AUTH, now, &pub), -1);
    UT_CHECK(pub == NULL);
    UT_EQ(rsp_verify_server_cert(w.store, ds, RSP_OID_ROLE_DS_AUTH, now + 2 * YEAR, NULL), -1);
    UT_EQ(rsp_verify_server_cert(other.store, ds, RSP_OID_ROLE_DS_AUTH, now, NULL), -1);
    UT_EQ(rsp_verify_server_cert(w.store, ds, "not an oid", now, NULL), -1);
    X509_free(ds);
    /* not issued by the CI directly */
    ds = ct_issue(&o, k, w.c.eum, w.c.eum_key);
    UT_EQ(rsp_verify_server_cert(w.store, ds, RSP_OID_ROLE_DS_AUTH, now, NULL), -1);
    X509_free(ds);
    EVP_PKEY_free(k);
    world_free(&w);
    world_free(&other);
}

static void test_tls_peer(void)
{
    world w, other;
    UT_EQ(world_make(&w, "P-256", false), 0);
    UT_EQ(world_make(&other, "P-256", false), 0);
    EVP_PKEY *k = ct_key("P-256");
    rsp_peer_identity id;
    ct_opts o =
        ct_tls_opts(now, RSP_OID_ROLE_DP_TLS, "DNS:smdp.example.com,DNS:alt.example.com,RID:2.999.10");
    X509 *dp = ct_issue(&o, k, w.c.ci, w.c.ci_key);
    UT_EQ(rsp_verify_tls_peer(w.store, dp, NULL, RSP_PEER_DP | RSP_PEER_DS, now, &id), 0);
    UT_EQ(id.role, RSP_PEER_DP);
    UT_CHECK(strcmp(id.oid, "2.999.10") == 0);
    UT_EQ(id.ndns, 2);
    UT_CHECK(id.ndns == 2 && strcmp(id.dns[0], "smdp.example.com") == 0 &&
             strcmp(id.dns[1], "alt.example.com") == 0);
    UT_CHECK(rsp_peer_has_dns(&id, "SMDP.example.com"));
    UT_CHECK(!rsp_peer_has_dns(&id, "example.com"));
    rsp_peer_identity_clear(&id);
    UT_EQ(id.ndns, 0);
    /* DP certificate where only SM-DS peers are allowed */
    UT_EQ(rsp_verify_tls_peer(w.store, dp, NULL, RSP_PEER_DS, now, &id), -1);
    UT_EQ(id.ndns, 0);
    UT_EQ(rsp_verify_tls_peer(w.store, dp, NULL, RSP_PEER_DP, now + 2 * YEAR, &id), -1);
    UT_EQ(rsp_verify_tls_peer(w.store, dp, NULL, RSP_PEER_DP, now - 2 * DAY, &id), -1);
    UT_EQ(rsp_verify_tls_peer(other.store, dp, NULL, RSP_PEER_DP, now, &id), -1); /* foreign CI */
    UT_EQ(rsp_verify_tls_peer(w.store, dp, NULL, 0, now, &id), -1);
    X509_free(dp);

    /* DS TLS */
    o.policy = RSP_OID_ROLE_DS_TLS;
    o.san = "DNS:smds.example.com";
    X509 *ds = ct_issue(&o, k, w.c.ci, w.c.ci_key);
    UT_EQ(rsp_verify_tls_peer(w.store, ds, NULL, RSP_PEER_DP | RSP_PEER_DS, now, &id), 0);
    UT_EQ(id.role, RSP_PEER_DS);
    UT_CHECK(id.oid[0] == '\0');
    rsp_peer_identity_clear(&id);
    UT_EQ(rsp_verify_tls_peer(w.store, ds, NULL, RSP_PEER_DP, now, &id), -1);
    X509_free(ds);

    /* wrong policy, missing clientAuth, CA leaf */
    ct_opts bad = ct_tls_opts(now, RSP_OID_ROLE_DP_AUTH, "DNS:x.example.com");
    X509 *x = ct_issue(&bad, k, w.c.ci, w.c.ci_key);
    UT_EQ(rsp_verify_tls_peer(w.store, x, NULL, RSP_PEER_DP | RSP_PEER_DS, now, &id), -1);
    X509_free(x);
    bad = ct_tls_opts(now, RSP_OID_ROLE_DP_TLS, "DNS:x.example.com");
    bad.eku = "critical,serverAuth";
    x = ct_issue(&bad, k, w.c.ci, w.c.ci_key);
    UT_EQ(rsp_verify_tls_peer(w.store, x, NULL, RSP_PEER_DP, now, &id), -1);
    UT_CHECK(strstr(rsp_cert_last_reason(), "clientAuth") != NULL);
    X509_free(x);
    bad.eku = NULL;
    x = ct_issue(&bad, k, w.c.ci, w.c.ci_key);
    UT_EQ(rsp_verify_tls_peer(w.store, x, NULL, RSP_PEER_DP, now, &id), -1);
    X509_free(x);
    bad = ct_tls_opts(now, RSP_OID_ROLE_DP_TLS, "DNS:x.example.com");
    bad.bc = "critical,CA:TRUE";
    x = ct_issue(&bad, k, w.c.ci, w.c.ci_key);
    UT_EQ(rsp_verify_tls_peer(w.store, x, NULL, RSP_PEER_DP, now, &id), -1);
    X509_free(x);

    /* an intermediate without a sub-CA policy is not one of the SGP.22 shapes */
    EVP_PKEY *ik = ct_key("P-256");
    ct_opts io = ct_ci_opts(now);
    io.cn = "TLS SubCA";
    io.policy = NULL;
    io.bc = "critical,CA:TRUE,pathlen:0";
    X509 *ica = ct_issue(&io, ik, w.c.ci, w.c.ci_key);
    o = ct_tls_opts(now, RSP_OID_ROLE_DP_TLS, "DNS:sub.example.com,RID:2.999.12");
    x = ct_issue(&o, k, ica, ik);
    STACK_OF(X509) *nopol = sk_X509_new_null();
    sk_X509_push(nopol, ica);
    UT_EQ(rsp_verify_tls_peer(w.store, x, nopol, RSP_PEER_DP, now, &id), -1);
    sk_X509_free(nopol);
    X509_free(x);
    X509_free(ica);
    /* through an SM-DP+ sub-CA issued by the CI */
    io.policy = RSP_OID_ROLE_DP_SUBCA;
    ica = ct_issue(&io, ik, w.c.ci, w.c.ci_key);
    o = ct_tls_opts(now, RSP_OID_ROLE_DP_TLS, "DNS:sub.example.com,RID:2.999.12");
    x = ct_issue(&o, k, ica, ik);
    STACK_OF(X509) *chain = sk_X509_new_null();
    UT_EQ(rsp_verify_tls_peer(w.store, x, chain, RSP_PEER_DP, now, &id), -1); /* intermediate missing */
    sk_X509_push(chain, w.c.eum); /* an unrelated certificate first */
    sk_X509_push(chain, ica);
    UT_EQ(rsp_verify_tls_peer(w.store, x, chain, RSP_PEER_DP, now, &id), 0);
    UT_CHECK(strcmp(id.oid, "2.999.12") == 0 && id.ndns == 1 && rsp_peer_has_dns(&id, "sub.example.com"));
    rsp_peer_identity_clear(&id);
    UT_EQ(rsp_verify_tls_peer(other.store, x, chain, RSP_PEER_DP, now, &id), -1);
    /* an SM-DP+ sub-CA does not issue SM-DS TLS certificates */
    ct_opts dso = ct_tls_opts(now, RSP_OID_ROLE_DS_TLS, "DNS:ds.example.com");
    X509 *dsx = ct_issue(&dso, k, ica, ik);
    UT_EQ(rsp_verify_tls_peer(w.store, dsx, chain, RSP_PEER_DS, now, &id), -1);
    X509_free(dsx);
    sk_X509_free(chain);
    X509_free(x);
    X509_free(ica);
    /* v3: CI -> CI sub-CA -> SM-DP+ sub-CA -> CERT.DP.TLS with the v3 policy */
    EVP_PKEY *ck = ct_key("P-256");
    ct_opts co = ct_ci_opts(now);
    co.cn = "CI SubCA";
    co.policy = RSP_OID_ROLE_CI_SUBCA;
    X509 *cisub = ct_issue(&co, ck, w.c.ci, w.c.ci_key);
    io.policy = RSP_OID_ROLE_DP_SUBCA;
    ica = ct_issue(&io, ik, cisub, ck);
    o = ct_tls_opts(now, RSP_OID_ROLE_DP_TLS_V3, "DNS:v3.example.com");
    x = ct_issue(&o, k, ica, ik);
    chain = sk_X509_new_null();
    sk_X509_push(chain, cisub);
    UT_EQ(rsp_verify_tls_peer(w.store, x, chain, RSP_PEER_DP, now, &id), -1); /* the DP sub-CA missing */
    sk_X509_push(chain, ica);
    UT_EQ(rsp_verify_tls_peer(w.store, x, chain, RSP_PEER_DP, now, &id), 0);
    rsp_peer_identity_clear(&id);
    /* CERT.DPauth v3 under the same two sub-CAs */
    ct_opts ao = ct_tls_opts(now, RSP_OID_ROLE_DP_AUTH_V3, "RID:2.999.10");
    ao.eku = NULL;
    X509 *auth = ct_issue(&ao, k, ica, ik);
    X509 *inter[2] = {ica, cisub};
    UT_EQ(rsp_verify_server_chain(w.store, auth, inter, 2, RSP_OID_ROLE_DP_AUTH, now, NULL), 0);
    UT_EQ(rsp_verify_server_chain(w.store, auth, inter, 1, RSP_OID_ROLE_DP_AUTH, now, NULL), -1);
    UT_EQ(rsp_verify_server_chain(w.store, auth, inter, 2, RSP_OID_ROLE_DS_AUTH, now, NULL), -1);
    UT_EQ(rsp_verify_server_cert(w.store, auth, RSP_OID_ROLE_DP_AUTH, now, NULL), -1);
    X509_free(auth);
    sk_X509_free(chain);
    X509_free(x);
    X509_free(ica);
    X509_free(cisub);
    EVP_PKEY_free(ck);
    /* an "intermediate" that is not a CA */
    io.bc = NULL;
    io.ku = "critical,digitalSignature";
    ica = ct_issue(&io, ik, w.c.ci, w.c.ci_key);
    x = ct_issue(&o, k, ica, ik);
    chain = sk_X509_new_null();
    sk_X509_push(chain, ica);
    UT_EQ(rsp_verify_tls_peer(w.store, x, chain, RSP_PEER_DP, now, &id), -1);
    sk_X509_free(chain);
    X509_free(x);
    X509_free(ica);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(k);
    world_free(&w);
    world_free(&other);
}

/* ---- SGP.26 files ---- */

static uint8_t *sgp26(const char *dir, const char *rel, size_t *len)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/pki/%s", dir, rel);
    uint8_t *b = ut_read_file(p, len);
    if (b == NULL)
        fprintf(stderr, "    cannot read %s\n", p);
    UT_CHECK(b != NULL);
    return b;
}

static rsp_ci_store *sgp26_store(const char *dir)
{
    rsp_ci_store *s = rsp_ci_store_new();
    char p[1024];
    snprintf(p, sizeof(p), "%s/pki/sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der", dir);
    UT_EQ(rsp_ci_store_add_file(s, p), 0);
    snprintf(p, sizeof(p), "%s/pki/sgp26/CertificateIssuer/CERT_CI_ECDSA_BRP.pem", dir);
    UT_EQ(rsp_ci_store_add_file(s, p), 0);
    UT_EQ(rsp_ci_store_count(s), 2);
    return s;
}

static void test_sgp26_valid(void)
{
    const char *dir = ut_shared_dir("SGP.26 chains");
    if (!dir)
        return;
    rsp_ci_store *s = sgp26_store(dir);
    rsp_eum_cache *cache = rsp_eum_cache_new(8);
    const char *curves[] = {"NIST", "BRP"};
    for (int i = 0; i < 2; i++) {
        char rel[256];
        size_t el, ul;
        snprintf(rel, sizeof(rel), "sgp26/EUM/CERT_EUM_ECDSA_%s.der", curves[i]);
        uint8_t *eum = sgp26(dir, rel, &el);
        snprintf(rel, sizeof(rel), "sgp26/eUICC/CERT_EUICC_ECDSA_%s.der", curves[i]);
        uint8_t *euicc = sgp26(dir, rel, &ul);
        snprintf(rel, sizeof(rel), "%s/pki/sgp26/CertificateIssuer/CERT_CI_ECDSA_%s.der", dir, curves[i]);
        X509 *ci = rsp_load_cert(rel);
        const uint8_t *ski = NULL;
        size_t skl = 0;
        UT_CHECK(ci != NULL && rsp_cert_ski(ci, &ski, &skl) == 0);
        for (int mode = 0; mode < 3 && eum && euicc && ski; mode++) {
            rsp_euicc_identity id;
            rsp_status st = rsp_verify_euicc_chain(s, mode == 2 ? cache : NULL, mode == 1 ? NULL : ski, skl,
                                                   eum, el, euicc, ul, now, &id);
            if (st != RSP_OK)
                fprintf(stderr, "    %s mode %d: %s %s\n", curves[i], mode, rsp_status_str(st),
                        rsp_cert_last_reason());
            UT_EQ(st, RSP_OK);
            UT_CHECK(strcmp(id.eid, EID) == 0);
            rsp_euicc_identity_clear(&id);
        }
        /* the other curve's CI chosen */
        const uint8_t *oski;
        size_t oskl;
        rsp_ci_store_get(s, (size_t)(1 - i), &oski, &oskl);
        rsp_euicc_identity id;
        UT_EQ(rsp_verify_euicc_chain(s, NULL, oski, oskl, eum, el, euicc, ul, now, &id),
              RSP_ST_CI_PK_UNKNOWN);
        /* the SGP.26 eUICC key signs, the returned key verifies */
        snprintf(rel, sizeof(rel), "%s/pki/sgp26/eUICC/SK_EUICC_ECDSA_%s.pem", dir, curves[i]);
        EVP_PKEY *sk = rsp_load_key(rel);
        UT_CHECK(sk != NULL);
        UT_EQ(rsp_verify_euicc_chain(s, NULL, NULL, 0, eum, el, euicc, ul, now, &id), RSP_OK);
        uint8_t sig[RSP_SIG_LEN];
        UT_EQ(rsp_sig_sign(sk, (const uint8_t *)"x", 1, sig), 0);
        UT_EQ(rsp_sig_verify(id.pub, (const uint8_t *)"x", 1, sig, sizeof(sig)), 0);
        rsp_euicc_identity_clear(&id);
        EVP_PKEY_free(sk);
        X509_free(ci);
        free(eum);
        free(euicc);
    }
    uint64_t hits, misses;
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(misses, 2);
    rsp_eum_cache_free(cache);
    rsp_ci_store_free(s);
}

static void test_sgp26_invalid(void)
{
    const char *dir = ut_shared_dir("SGP.26 invalid certificates");
    if (!dir)
        return;
    rsp_ci_store *s = sgp26_store(dir);
    size_t el, ul;
    uint8_t *eum = sgp26(dir, "sgp26/EUM/CERT_EUM_ECDSA_NIST.der", &el);
    uint8_t *euicc = sgp26(dir, "sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der", &ul);
    const uint8_t *ski;
    size_t skl;
    rsp_ci_store_get(s, 0, &ski, &skl);
    struct {
        const char *file;
        bool is_eum;
        rsp_status want;
        const char *eid;
    } cases[] = {
        {"CERT_EUM_ECDSA_NIST_INVALID", true, RSP_ST_EUM_CERT_INVALID, NULL},
        {"CERT_EUM_ECDSA_NIST_EXPIRED", true, RSP_ST_EUM_CERT_EXPIRED, NULL},
        {"CERT_EUM_ECDSA_NIST_UNKNOWN_CI", true, RSP_ST_CI_PK_UNKNOWN, NULL},
        {"CERT_EUICC_ECDSA_NIST_INVALID", false, RSP_ST_EUICC_CERT_INVALID, NULL},
        {"CERT_EUICC_ECDSA_NIST_EXPIRED", false, RSP_ST_EUICC_CERT_EXPIRED, NULL},
        {"CERT_EUICC_ECDSA_NIST_INVALID_EID", false, RSP_ST_EUICC_CERT_INVALID, NULL},
        {"CERT_EUICC_ECDSA_NIST_UNMATCHED_EID", false, RSP_OK, "89049032123451234512345678901299"},
    };
    rsp_eum_cache *cache = rsp_eum_cache_new(4);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && eum && euicc; i++) {
        char rel[256];
        size_t bl;
        snprintf(rel, sizeof(rel), "sgp26-invalid/%s.der", cases[i].file);
        uint8_t *bad = sgp26(dir, rel, &bl);
        if (!bad)
            continue;
        for (int mode = 0; mode < 3; mode++) {
            rsp_euicc_identity id;
            rsp_status st =
                rsp_verify_euicc_chain(s, mode == 2 ? cache : NULL, mode == 1 ? NULL : ski, skl,
                                       cases[i].is_eum ? bad : eum, cases[i].is_eum ? bl : el,
                                       cases[i].is_eum ? euicc : bad, cases[i].is_eum ? ul : bl, now, &id);
            if (st != cases[i].want)
                fprintf(stderr, "    %s mode %d: got %s (%s), want %s\n", cases[i].file, mode,
                        rsp_status_str(st), rsp_cert_last_reason(), rsp_status_str(cases[i].want));
            UT_EQ(st, cases[i].want);
            if (cases[i].eid)
                UT_CHECK(strcmp(id.eid, cases[i].eid) == 0);
            rsp_euicc_identity_clear(&id);
        }
        free(bad);
    }
    /* the codes as the table spells them */
    UT_CHECK(strcmp(rsp_status_str(RSP_ST_EUM_CERT_INVALID), "8.1.2/6.1") == 0);
    UT_CHECK(strcmp(rsp_status_str(RSP_ST_EUM_CERT_EXPIRED), "8.1.2/6.3") == 0);
    UT_CHECK(strcmp(rsp_status_str(RSP_ST_CI_PK_UNKNOWN), "8.11.1/3.9") == 0);
    UT_CHECK(strcmp(rsp_status_str(RSP_ST_EUICC_CERT_INVALID), "8.1.3/6.1") == 0);
    UT_CHECK(strcmp(rsp_status_str(RSP_ST_EUICC_CERT_EXPIRED), "8.1.3/6.3") == 0);
    rsp_eum_cache_free(cache);
    free(eum);
    free(euicc);
    rsp_ci_store_free(s);
}

static void test_sgp26_server_certs(void)
{
    const char *dir = ut_shared_dir("SGP.26 server certificates");
    if (!dir)
        return;
    rsp_ci_store *s = sgp26_store(dir);
    /* 2026-09-01: DPauth/DPpb are valid until 2030, DP VARO TLS until 2027-02 */
    time_t t = 1788220800;
    const char *curves[] = {"NIST", "BRP"};
    for (int i = 0; i < 2; i++) {
        char p[1024];
        snprintf(p, sizeof(p), "%s/pki/sgp26/DPauth/CERT_S_SM_DPauth_ECDSA_%s.der", dir, curves[i]);
        X509 *auth = rsp_load_cert(p);
        snprintf(p, sizeof(p), "%s/pki/sgp26/DPpb/CERT_S_SM_DPpb_ECDSA_%s.der", dir, curves[i]);
        X509 *pb = rsp_load_cert(p);
        snprintf(p, sizeof(p), "%s/pki/sgp26/DPauth/SK_S_SM_DPauth_ECDSA_%s.pem", dir, curves[i]);
        EVP_PKEY *sk = rsp_load_key(p);
        UT_CHECK(auth && pb && sk);
        EVP_PKEY *pub = NULL;
        UT_EQ(rsp_verify_server_cert(s, auth, RSP_OID_ROLE_DP_AUTH, t, &pub), 0);
        UT_CHECK(pub != NULL && EVP_PKEY_eq(pub, sk) == 1);
        EVP_PKEY_free(pub);
        UT_EQ(rsp_verify_server_cert(s, auth, RSP_OID_ROLE_DP_PB, t, NULL), -1);
        UT_EQ(rsp_verify_server_cert(s, pb, RSP_OID_ROLE_DP_PB, t, NULL), 0);
        UT_EQ(rsp_verify_server_cert(s, auth, RSP_OID_ROLE_DP_AUTH, t + 5 * YEAR, NULL), -1);
        snprintf(p, sizeof(p), "%s/pki/sgp26/DPtls/CERT_S_SM_DP_VARO_TLS_%s.der", dir, curves[i]);
        X509 *tls = rsp_load_cert(p);
        rsp_peer_identity id;
        UT_CHECK(tls != NULL);
        UT_EQ(rsp_verify_tls_peer(s, tls, NULL, RSP_PEER_DP, t, &id), 0);
        UT_CHECK(strcmp(id.oid, "2.999.10") == 0 && rsp_peer_has_dns(&id, "testsmdpplus1.example.com"));
        rsp_peer_identity_clear(&id);
        X509_free(tls);
        X509_free(auth);
        X509_free(pb);
        EVP_PKEY_free(sk);
    }
    rsp_ci_store_free(s);
}

/* ---- v3 variants: sub-CAs and otherCertsInChain ---- */

/* Defects of a variant chain. */
enum {
    VD_EUM_PATHLEN0 = 1 << 0,   /* EUM pathLen 0 above an EUM sub-CA */
    VD_SUB_EUM_POLICY = 1 << 1, /* EUM sub-CA with the EUM policy */
    VD_SUB_EXPIRED = 1 << 2,    /* the sub-CA (EUM sub-CA, else CI sub-CA) expired */
    VD_SUB_BAD_SIG = 1 << 3,    /* the sub-CA signed by a key its issuer does not hold */
    VD_SUB_RANGE = 1 << 4,      /* EUM sub-CA permits 89049033 only */
    VD_CISUB_POLICY = 1 << 5,   /* CI sub-CA with the EUM policy */
    VD_CISUB_NOT_CA = 1 << 6,   /* CI sub-CA with CA:FALSE */
    VD_V2_EUICC = 1 << 7,       /* eUICC with the v2 policy (still accepted) */
};

typedef struct vchain {
    EVP_PKEY *ci_key, *cisub_key, *eum_key, *sub_key, *euicc_key, *other_key;
    X509 *ci, *cisub, *eum, *sub, *euicc;
    rsp_ci_store *store;
    uint8_t *der[4]; /* sent intermediates: the eUICC's issuer first */
    size_t len[4], n;
    uint8_t *euicc_der;
    size_t euicc_len;
} vchain;

/* variant: 'O' (v2 OIDs), 'o' (Ov3), 'A', 'B', 'C'. */
static int vchain_make(vchain *v, const char *curve, char variant, unsigned defects)
{
    memset(v, 0, sizeof(*v));
    bool v3 = variant != 'O', eum_sub = variant == 'A' || variant == 'C',
         ci_sub = variant == 'B' || variant == 'C';
    v->ci_key = ct_key(curve);
    v->cisub_key = ct_key(curve);
    v->eum_key = ct_key(curve);
    v->sub_key = ct_key(curve);
    v->euicc_key = ct_key(curve);
    v->other_key = ct_key(curve);
    ct_opts o = ct_ci_opts(now);
    v->ci = ct_issue(&o, v->ci_key, NULL, v->ci_key);
    X509 *top = v->ci;
    EVP_PKEY *top_key = v->ci_key;
    if (ci_sub) {
        o = ct_ci_opts(now);
        o.cn = "Test CI SubCA";
        o.policy = defects & VD_CISUB_POLICY ? RSP_OID_ROLE_EUM_V3 : RSP_OID_ROLE_CI_SUBCA;
        if (defects & VD_CISUB_NOT_CA)
            o.bc = "critical,CA:FALSE";
        if ((defects & VD_SUB_EXPIRED) && !eum_sub)
            o.not_before = now - 3 * YEAR, o.not_after = now - YEAR;
        v->cisub =
            ct_issue(&o, v->cisub_key, top, (defects & VD_SUB_BAD_SIG) && !eum_sub ? v->other_key : top_key);
        top = v->cisub;
        top_key = v->cisub_key;
    }
    o = ct_eum_opts(now, PREFIX);
    o.policy = v3 ? RSP_OID_ROLE_EUM_V3 : RSP_OID_ROLE_EUM;
    if (eum_sub)
        o.bc = defects & VD_EUM_PATHLEN0 ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE,pathlen:1";
    v->eum = ct_issue(&o, v->eum_key, top, top_key);
    X509 *issuer = v->eum;
    EVP_PKEY *issuer_key = v->eum_key;
    if (eum_sub) {
        o = ct_eum_opts(now, defects & VD_SUB_RANGE ? "89049033" : NULL);
        o.cn = "Test EUM SubCA";
        o.policy = defects & VD_SUB_EUM_POLICY ? RSP_OID_ROLE_EUM_V3 : RSP_OID_ROLE_EUM_SUBCA;
        if (defects & VD_SUB_EXPIRED)
            o.not_before = now - 3 * YEAR, o.not_after = now - YEAR;
        v->sub = ct_issue(&o, v->sub_key, v->eum, defects & VD_SUB_BAD_SIG ? v->other_key : v->eum_key);
        issuer = v->sub;
        issuer_key = v->sub_key;
    }
    o = ct_euicc_opts(now, EID);
    o.policy = v3 && !(defects & VD_V2_EUICC) ? RSP_OID_ROLE_EUICC_V3 : RSP_OID_ROLE_EUICC;
    v->euicc = ct_issue(&o, v->euicc_key, issuer, issuer_key);
    if (!v->euicc || !(v->store = rsp_ci_store_new()) || rsp_ci_store_add(v->store, v->ci) != 0)
        return -1;
    v->euicc_der = ct_der(v->euicc, &v->euicc_len);
    X509 *sent[3] = {issuer, eum_sub ? v->eum : v->cisub, eum_sub ? v->cisub : NULL};
    for (size_t i = 0; i < 3 && sent[i]; i++, v->n++)
        v->der[i] = ct_der(sent[i], &v->len[i]);
    return 0;
}

static void vchain_free(vchain *v)
{
    EVP_PKEY *k[] = {v->ci_key, v->cisub_key, v->eum_key, v->sub_key, v->euicc_key, v->other_key};
    X509 *x[] = {v->ci, v->cisub, v->eum, v->sub, v->euicc};
    for (size_t i = 0; i < 6; i++)
        EVP_PKEY_free(k[i]);
    for (size_t i = 0; i < 5; i++)
        X509_free(x[i]);
    for (size_t i = 0; i < 4; i++)
        free(v->der[i]);
    free(v->euicc_der);
    rsp_ci_store_free(v->store);
}

/* Verifies with the sent intermediates in the order given by idx (n of them). */
static rsp_status vchain_verify(const vchain *v, rsp_eum_cache *cache, const size_t *idx, size_t n)
{
    rsp_der chain[4];
    for (size_t i = 0; i < n; i++)
        chain[i] = (rsp_der){v->der[idx[i]], v->len[idx[i]]};
    const uint8_t *ski;
    size_t ski_len;
    rsp_cert_ski(v->ci, &ski, &ski_len);
    rsp_euicc_identity id;
    rsp_status st =
        rsp_verify_euicc_path(v->store, cache, ski, ski_len, chain, n, v->euicc_der, v->euicc_len, now, &id);
    if (st == RSP_OK)
        UT_CHECK(strcmp(id.eid, EID) == 0);
    else
        UT_CHECK(rsp_cert_last_reason()[0] != '\0');
    rsp_euicc_identity_clear(&id);
    rsp_status st2 =
        rsp_verify_euicc_path(v->store, NULL, NULL, 0, chain, n, v->euicc_der, v->euicc_len, now, &id);
    UT_EQ(st2, st);
    rsp_euicc_identity_clear(&id);
    return st;
}

static rsp_status vcase(const char *curve, char variant, unsigned defects)
{
    vchain v;
    UT_EQ(vchain_make(&v, curve, variant, defects), 0);
    static const size_t in_order[] = {0, 1, 2};
    rsp_status st = vchain_verify(&v, NULL, in_order, v.n);
    vchain_free(&v);
    return st;
}

static void test_v3_variants(void)
{
    static const char *const curves[] = {"P-256", "brainpoolP256r1"};
    static const char variants[] = "OoABC";
    for (size_t c = 0; c < 2; c++) {
        for (const char *p = variants; *p; p++)
            UT_EQ(vcase(curves[c], *p, 0), RSP_OK);
        static const struct {
            char variant;
            unsigned defects;
            rsp_status want;
        } cases[] = {
            {'B', VD_V2_EUICC, RSP_OK},
            {'A', VD_EUM_PATHLEN0, RSP_ST_EUM_CERT_INVALID},
            {'C', VD_EUM_PATHLEN0, RSP_ST_EUM_CERT_INVALID},
            {'A', VD_SUB_EUM_POLICY, RSP_ST_EUM_CERT_INVALID},
            {'A', VD_SUB_EXPIRED, RSP_ST_EUM_CERT_EXPIRED},
            {'B', VD_SUB_EXPIRED, RSP_ST_EUM_CERT_EXPIRED},
            {'C', VD_SUB_EXPIRED, RSP_ST_EUM_CERT_EXPIRED},
            {'A', VD_SUB_BAD_SIG, RSP_ST_EUM_CERT_INVALID},
            {'B', VD_SUB_BAD_SIG, RSP_ST_EUM_CERT_INVALID},
            {'A', VD_SUB_RANGE, RSP_ST_EUICC_CERT_INVALID},
            {'B', VD_CISUB_POLICY, RSP_ST_EUM_CERT_INVALID},
            {'C', VD_CISUB_NOT_CA, RSP_ST_EUM_CERT_INVALID},
        };
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
            UT_EQ(vcase(curves[c], cases[k].variant, cases[k].defects), cases[k].want);
    }

    vchain v;
    UT_EQ(vchain_make(&v, "P-256", 'C', 0), 0);
    /* otherCertsInChain in any order; a missing link leaves no path to the CI */
    static const size_t shuffled[] = {0, 2, 1}, no_eum[] = {0, 2}, only_next[] = {0}, not_first[] = {1, 0, 2};
    UT_EQ(vchain_verify(&v, NULL, shuffled, 3), RSP_OK);
    UT_EQ(vchain_verify(&v, NULL, no_eum, 2), RSP_ST_CI_PK_UNKNOWN);
    UT_EQ(vchain_verify(&v, NULL, only_next, 1), RSP_ST_CI_PK_UNKNOWN);
    /* nextCertInChain must be the eUICC's issuer: the eUICC certificate does not name it */
    UT_EQ(vchain_verify(&v, NULL, not_first, 3), RSP_ST_EUICC_CERT_INVALID);
    /* an extra certificate off the path is ignored; the same one twice is not a path */
    static const size_t twice[] = {0, 1, 1, 2};
    UT_EQ(vchain_verify(&v, NULL, twice, 4), RSP_OK);
    /* a sub-CA is never a trust anchor */
    UT_EQ(rsp_ci_store_add(v.store, v.cisub), -1);
    UT_CHECK(strstr(rsp_cert_last_reason(), "sub-CA") != NULL);
    UT_CHECK(rsp_ci_anchor_problem(v.eum, now) != NULL);
    UT_CHECK(rsp_ci_anchor_problem(v.ci, now) == NULL);
    /* the cache is keyed by the whole chain: a hit for one is not a hit for another
     * with the same nextCertInChain */
    rsp_eum_cache *cache = rsp_eum_cache_new(8);
    static const size_t in_order[] = {0, 1, 2};
    UT_EQ(vchain_verify(&v, cache, in_order, 3), RSP_OK);
    UT_EQ(vchain_verify(&v, cache, in_order, 3), RSP_OK);
    uint64_t hits, misses;
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 1);
    UT_EQ(misses, 1);
    UT_EQ(vchain_verify(&v, cache, no_eum, 2), RSP_ST_CI_PK_UNKNOWN);
    rsp_eum_cache_stats(cache, &hits, &misses);
    UT_EQ(hits, 1);
    /* a cached path rechecks every date: the sub-CAs expire before the CI */
    const uint8_t *ski;
    size_t ski_len;
    rsp_cert_ski(v.ci, &ski, &ski_len);
    rsp_der chain[3] = {{v.der[0], v.len[0]}, {v.der[1], v.len[1]}, {v.der[2], v.len[2]}};
    rsp_euicc_identity id;
    UT_EQ(rsp_verify_euicc_path(v.store, cache, ski, ski_len, chain, 3, v.euicc_der, v.euicc_len,
                                now + 20 * YEAR, &id),
          RSP_ST_EUM_CERT_EXPIRED);
    /* too many intermediates */
    rsp_der many[RSP_CHAIN_MAX_SENT + 1];
    for (size_t i = 0; i < RSP_CHAIN_MAX_SENT + 1; i++)
        many[i] = chain[i % 3];
    UT_EQ(rsp_verify_euicc_path(v.store, NULL, ski, ski_len, many, RSP_CHAIN_MAX_SENT + 1, v.euicc_der,
                                v.euicc_len, now, &id),
          RSP_ST_EUM_CERT_INVALID);
    rsp_eum_cache_free(cache);
    vchain_free(&v);
}

static void test_anchors(void)
{
    EVP_PKEY *k = ct_key("P-256");
    ct_opts o = ct_ci_opts(now);
    X509 *good = ct_issue(&o, k, NULL, k);
    UT_CHECK(rsp_ci_anchor_problem(good, now) == NULL);
    /* expired (or not yet valid) at load */
    UT_CHECK(rsp_ci_anchor_problem(good, now + 40 * YEAR) != NULL);
    UT_CHECK(rsp_ci_anchor_problem(good, now - 2 * YEAR) != NULL);
    rsp_ci_store *s = rsp_ci_store_new();
    o.not_before = now - 10 * YEAR;
    o.not_after = now - YEAR;
    X509 *expired = ct_issue(&o, k, NULL, k);
    UT_EQ(rsp_ci_store_add(s, expired), -1);
    UT_CHECK(strstr(rsp_cert_last_reason(), "expired") != NULL);
#define ANCHOR_CASE(stmt)                                                                                    \
    do {                                                                                                     \
        o = ct_ci_opts(now);                                                                                 \
        stmt;                                                                                                \
        X509 *x = ct_issue(&o, k, NULL, k);                                                                  \
        UT_CHECK(x != NULL && rsp_ci_anchor_problem(x, now) != NULL);                                        \
        UT_EQ(rsp_ci_store_add(s, x), -1);                                                                   \
        X509_free(x);                                                                                        \
    } while (0)
    ANCHOR_CASE(o.bc = "critical,CA:FALSE");
    ANCHOR_CASE(o.bc = NULL);
    ANCHOR_CASE(o.ku = "critical,digitalSignature");
    ANCHOR_CASE(o.policy = RSP_OID_ROLE_CI_SUBCA);
    ANCHOR_CASE(o.policy = NULL);
    ANCHOR_CASE((o.no_ski = true, o.no_aki = true));
#undef ANCHOR_CASE
    /* badly signed: its own signature does not verify */
    o = ct_ci_opts(now);
    EVP_PKEY *k2 = ct_key("P-256");
    X509 *bad = ct_issue(&o, k, NULL, k2);
    UT_CHECK(rsp_ci_anchor_problem(bad, now) != NULL);
    UT_EQ(rsp_ci_store_add(s, bad), -1);
    UT_EQ(rsp_ci_store_add(s, good), 0);
    UT_EQ(rsp_ci_store_count(s), 1);
    X509_free(bad);
    X509_free(good);
    X509_free(expired);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    rsp_ci_store_free(s);
}

/* A CRL of issuer signed with key (test PKI minting of tools/pki). */
static int ct_crl_file(const char *path, X509 *issuer, EVP_PKEY *key, X509 *const *revoked, size_t n,
                       time_t this_update, time_t next_update)
{
    pki_cred c = {issuer, key};
    return pki_write_crl(path, &c, revoked, n, this_update, next_update);
}

static rsp_status crl_verify(vchain *v)
{
    static const size_t in_order[] = {0, 1, 2};
    return vchain_verify(v, NULL, in_order, v->n);
}

/* Attaches the CRL files to v's store with the policy; the store's CI is kept. */
static int crl_attach(vchain *v, rsp_crl_policy p, const char *const *files, size_t n)
{
    rsp_crl_set *s = rsp_crl_set_new(p);
    for (size_t i = 0; i < n; i++)
        if (rsp_crl_set_add_file(s, v->store, files[i]) != 0) {
            rsp_crl_set_free(s);
            return -1;
        }
    rsp_ci_store_set_crls(v->store, s);
    return 0;
}

static void test_crl(void)
{
    char dir[] = "/tmp/cert_test_crlXXXXXX";
    UT_CHECK(mkdtemp(dir) != NULL);
    char f[6][256];
    for (int i = 0; i < 6; i++)
        snprintf(f[i], sizeof(f[i]), "%s/crl%d.pem", dir, i);
    vchain v;
    UT_EQ(vchain_make(&v, "P-256", 'C', 0), 0);
    EVP_PKEY *rogue = ct_key("P-256");
    /* 0: CI revokes nothing; 1: CI revokes the CI sub-CA; 2: EUM revokes the EUM sub-CA;
     * 3: EUM sub-CA revokes the eUICC; 4: stale CI CRL; 5: "CI" CRL signed by another key */
    UT_EQ(ct_crl_file(f[0], v.ci, v.ci_key, NULL, 0, now - DAY, now + 7 * DAY), 0);
    UT_EQ(ct_crl_file(f[1], v.ci, v.ci_key, &v.cisub, 1, now - DAY, now + 7 * DAY), 0);
    UT_EQ(ct_crl_file(f[2], v.eum, v.eum_key, &v.sub, 1, now - DAY, now + 7 * DAY), 0);
    UT_EQ(ct_crl_file(f[3], v.sub, v.sub_key, &v.euicc, 1, now - DAY, now + 7 * DAY), 0);
    UT_EQ(ct_crl_file(f[4], v.ci, v.ci_key, NULL, 0, now - 30 * DAY, now - DAY), 0);
    UT_EQ(ct_crl_file(f[5], v.ci, rogue, NULL, 0, now - DAY, now + 7 * DAY), 0);

    const char *good[] = {f[0]};
    UT_EQ(crl_attach(&v, RSP_CRL_REFUSE, good, 1), 0);
    UT_EQ(crl_verify(&v), RSP_OK);
    const char *ci_revokes[] = {f[0], f[1]};
    UT_EQ(crl_attach(&v, RSP_CRL_REFUSE, ci_revokes, 2), 0);
    UT_EQ(crl_verify(&v), RSP_ST_EUM_CERT_EXPIRED);
    UT_CHECK(strstr(rsp_cert_last_reason(), "revoked") != NULL);
    const char *eum_revokes[] = {f[2]};
    UT_EQ(crl_attach(&v, RSP_CRL_REFUSE, eum_revokes, 1), 0);
    UT_EQ(crl_verify(&v), RSP_ST_EUM_CERT_EXPIRED);
    const char *euicc_revoked[] = {f[3]};
    UT_EQ(crl_attach(&v, RSP_CRL_REFUSE, euicc_revoked, 1), 0);
    UT_EQ(crl_verify(&v), RSP_ST_EUICC_CERT_EXPIRED);
    /* a revocation shows on a cached path too */
    rsp_eum_cache *cache = rsp_eum_cache_new(4);
    static const size_t in_order[] = {0, 1, 2};
    rsp_ci_store_set_crls(v.store, NULL);
    UT_EQ(vchain_verify(&v, cache, in_order, 3), RSP_OK);
    UT_EQ(crl_attach(&v, RSP_CRL_REFUSE, ci_revokes, 2), 0);
    UT_EQ(vchain_verify(&v, cache, in_order, 3), RSP_ST_EUM_CERT_EXPIRED);
    rsp_eum_cache_free(cache);

    /* stale: refused under refuse, counted and ignored under warn */
    const char *stale[] = {f[4]};
    UT_EQ(crl_attach(&v, RSP_CRL_REFUSE, stale, 1), 0);
    uint64_t before = rsp_crl_untrusted_total();
    UT_EQ(crl_verify(&v), RSP_ST_EUM_CERT_INVALID);
    UT_CHECK(strstr(rsp_cert_last_reason(), "stale") != NULL);
    UT_EQ(crl_attach(&v, RSP_CRL_WARN, stale, 1), 0);
    UT_EQ(crl_verify(&v), RSP_OK);
    UT_CHECK(rsp_crl_untrusted_total() > before);
    /* signed by another key than the CI it names: refused at load, or untrusted under warn */
    const char *forged[] = {f[5]};
    UT_EQ(crl_attach(&v, RSP_CRL_REFUSE, forged, 1), -1);
    UT_EQ(crl_attach(&v, RSP_CRL_WARN, forged, 1), 0);
    before = rsp_crl_untrusted_total();
    UT_EQ(crl_verify(&v), RSP_OK);
    UT_CHECK(rsp_crl_untrusted_total() > before);
    /* an EUM CRL that does not verify under refuse: the status of what it issued is unknown */
    UT_EQ(ct_crl_file(f[2], v.eum, rogue, NULL, 0, now - DAY, now + 7 * DAY), 0);
    UT_EQ(crl_attach(&v, RSP_CRL_REFUSE, eum_revokes, 1), 0);
    UT_EQ(crl_verify(&v), RSP_ST_EUM_CERT_INVALID);
    /* not a CRL */
    rsp_crl_set *s = rsp_crl_set_new(RSP_CRL_REFUSE);
    UT_EQ(rsp_crl_set_add_file(s, v.store, "/nonexistent.crl"), -1);
    FILE *junk = fopen(f[0], "w");
    fputs("not a CRL\n", junk);
    fclose(junk);
    UT_EQ(rsp_crl_set_add_file(s, v.store, f[0]), -1);
    rsp_crl_set_free(s);
    rsp_crl_policy p;
    UT_EQ(rsp_crl_policy_parse("warn", &p), 0);
    UT_EQ(p, RSP_CRL_WARN);
    UT_EQ(rsp_crl_policy_parse("maybe", &p), -1);
    for (int i = 0; i < 6; i++)
        unlink(f[i]);
    rmdir(dir);
    EVP_PKEY_free(rogue);
    vchain_free(&v);
}

int main(void)
{
    now = time(NULL);
    UT_RUN(test_minted_accepted);
    UT_RUN(test_tampered_signatures);
    UT_RUN(test_foreign_ci);
    UT_RUN(test_eid_range);
    UT_RUN(test_eum_constraints_forms);
    UT_RUN(test_eum_profile);
    UT_RUN(test_euicc_profile);
    UT_RUN(test_der_framing);
    UT_RUN(test_euicc_parser);
    UT_RUN(test_cache);
    UT_RUN(test_cache_threads);
    UT_RUN(test_ci_store);
    UT_RUN(test_v3_variants);
    UT_RUN(test_anchors);
    UT_RUN(test_crl);
    UT_RUN(test_server_cert);
    UT_RUN(test_tls_peer);
    UT_RUN(test_sgp26_valid);
    UT_RUN(test_sgp26_invalid);
    UT_RUN(test_sgp26_server_certs);
    return ut_finish();
}
