/*
 * tools/lpasim/euicc.c - software eUICC: identity, EUICCInfo, the ES10b RSP
 * session (AuthenticateServer, PrepareDownload, LoadBoundProfilePackage,
 * CancelSession), notifications and ES10c profile state.  See euicc.h.
 */
#include "tools/lpasim/euicc_impl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "asn1/sgp22.h"
#include "rsp/bsp.h"
#include "rsp/chain.h"
#include "rsp/sig.h"

#define TAG_SIG 0x5F37u
#define TAG_OTPK 0x5F49u

/* ---- small helpers ---- */

void euicc_impl_err(euicc_error *err, int code, int bpp_command, const char *name, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    err->bpp_command = bpp_command;
    err->name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
}

static void err_clear(euicc_error *err)
{
    if (err) {
        err->code = 0;
        err->bpp_command = -1;
        err->name = "ok";
        err->detail[0] = '\0';
    }
}

static char *xstrndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

const char *euicc_strerror(int rc)
{
    switch (rc) {
    case EUICC_OK:
        return "ok";
    case EUICC_EREFUSED:
        return "refused";
    case EUICC_EFORMAT:
        return "malformed request";
    case EUICC_ESTATE:
        return "out of sequence";
    case EUICC_ESYS:
        return "system error";
    case EUICC_ENOTFOUND:
        return "not found";
    }
    return "unknown";
}

static time_t now_of(const euicc *e)
{
    return e->now ? e->now : time(NULL);
}

/* SAN registeredID of a certificate as OID content octets; 0 when present. */
static int cert_rid(X509 *cert, uint8_t *out, size_t cap, size_t *len)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int rc = -1;
    *len = 0;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_RID)
            continue;
        const unsigned char *d = OBJ_get0_data(g->d.registeredID);
        size_t n = OBJ_length(g->d.registeredID);
        if (d && n > 0 && n <= cap) {
            memcpy(out, d, n);
            *len = n;
            rc = 0;
        }
        break;
    }
    GENERAL_NAMES_free(names);
    return rc;
}

static void oid_text(const uint8_t *oid, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    if (len && sgp22_oid_format(oid, len, out, cap) != 0)
        out[0] = '\0';
}

static X509 *parse_cert_exact(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    if (len > LONG_MAX)
        return NULL;
    X509 *c = d2i_X509(NULL, &p, (long)len);
    if (c && (size_t)(p - der) != len) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static int cert_der(X509 *c, uint8_t **out, size_t *len)
{
    unsigned char *buf = NULL;
    int n = i2d_X509(c, &buf);
    if (n <= 0)
        return -1;
    *out = malloc((size_t)n);
    if (!*out) {
        OPENSSL_free(buf);
        return -1;
    }
    memcpy(*out, buf, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(buf);
    return 0;
}

static bool ski_in(const uint8_t list[][RSP_SKI_MAX], const size_t *lens, size_t n, const uint8_t *id,
                   size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (lens[i] == len && memcmp(list[i], id, len) == 0)
            return true;
    return false;
}

/* Moves a finished local writer's bytes to the caller's writer. */
static int emit(der_writer *out, der_writer *tmp)
{
    int rc = der_w_finish(tmp);
    if (rc == 0) {
        der_w_raw(out, tmp->buf, tmp->len);
        rc = out->err;
    }
    der_w_free(tmp);
    return rc == 0 ? EUICC_OK : EUICC_ESYS;
}

static void session_clear(struct euicc_session *s)
{
    free(s->server_address);
    EVP_PKEY_free(s->dppb);
    EVP_PKEY_free(s->otk);
    OPENSSL_cleanse(s, sizeof(*s));
    memset(s, 0, sizeof(*s));
}

/* ---- lifetime ---- */

euicc *euicc_new(void)
{
    euicc *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->cis = rsp_ci_store_new();
    if (!e->cis) {
        free(e);
        return NULL;
    }
    euicc_config *c = &e->cfg;
    c->svn[0] = 2, c->svn[1] = 2, c->svn[2] = 2;
    c->profile_version[0] = 2, c->profile_version[1] = 3, c->profile_version[2] = 1;
    c->firmware_version[0] = 1, c->firmware_version[1] = 0, c->firmware_version[2] = 0;
    c->pp_version[0] = 0, c->pp_version[1] = 0, c->pp_version[2] = 1;
    snprintf(c->sas_accreditation, sizeof(c->sas_accreditation), "LPASIM-TEST-SAS");
    /* usim, isim, milenage, tuak128, javacard, multipleUsim */
    c->uicc_capability = 1u << 1 | 1u << 2 | 1u << 4 | 1u << 6 | 1u << 14 | 1u << 16;
    /* additionalProfile, testProfileSupport */
    c->rsp_capability = 1u << 0 | 1u << 3;
    c->free_nvm = 1024 * 1024;
    snprintf(c->root_smds, sizeof(c->root_smds), "lpa.ds.gsma.com");
    e->next_seq = 1;
    return e;
}

void euicc_impl_profile_clear(euicc_profile *p)
{
    free(p->name);
    free(p->spn);
    free(p->smdp_address);
    free(p->smdp_oid);
    for (int i = 0; i < 4; i++)
        free(p->notify_address[i]);
    memset(p, 0, sizeof(*p));
}

void euicc_impl_notification_clear(euicc_notification *n)
{
    free(n->address);
    free(n->der);
    memset(n, 0, sizeof(*n));
}

void euicc_free(euicc *e)
{
    if (!e)
        return;
    session_clear(&e->sess);
    X509_free(e->cert);
    X509_free(e->eum);
    EVP_PKEY_free(e->key);
    EVP_PKEY_free(e->kept_otk);
    free(e->cert_der);
    free(e->eum_der);
    euicc_set_others(e, NULL, 0);
    rsp_ci_store_free(e->cis);
    for (size_t i = 0; i < e->nprofiles; i++)
        euicc_impl_profile_clear(&e->profiles[i]);
    free(e->profiles);
    for (size_t i = 0; i < e->nnotifs; i++)
        euicc_impl_notification_clear(&e->notifs[i]);
    free(e->notifs);
    free(e);
}

int euicc_impl_add_profile(euicc *e, const euicc_profile *p)
{
    euicc_profile *np = realloc(e->profiles, (e->nprofiles + 1) * sizeof(*np));
    if (!np)
        return -1;
    e->profiles = np;
    e->profiles[e->nprofiles++] = *p;
    return 0;
}

int euicc_impl_add_notification(euicc *e, const euicc_notification *n)
{
    euicc_notification *nn = realloc(e->notifs, (e->nnotifs + 1) * sizeof(*nn));
    if (!nn)
        return -1;
    e->notifs = nn;
    e->notifs[e->nnotifs++] = *n;
    return 0;
}

/* EID from the subject serialNumber: 32 decimal digits. */
static int eid_of(X509 *cert, char out[33])
{
    X509_NAME *name = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1);
    if (idx < 0)
        return -1;
    ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    if (!v || ASN1_STRING_length(v) != 32)
        return -1;
    const unsigned char *d = ASN1_STRING_get0_data(v);
    for (int i = 0; i < 32; i++)
        if (!isdigit(d[i]))
            return -1;
    memcpy(out, d, 32);
    out[32] = '\0';
    return 0;
}

int euicc_set_identity(euicc *e, X509 *euicc_cert, EVP_PKEY *key, X509 *eum, euicc_error *err)
{
    err_clear(err);
    char eid[33];
    if (eid_of(euicc_cert, eid) != 0) {
        euicc_impl_err(err, 0, -1, "system", "eUICC certificate has no 32-digit serialNumber (EID)");
        return EUICC_ESYS;
    }
    if (X509_check_private_key(euicc_cert, key) != 1) {
        euicc_impl_err(err, 0, -1, "system", "private key does not match the eUICC certificate");
        return EUICC_ESYS;
    }
    if (rsp_ecka_curve_nid(key) < 0) {
        euicc_impl_err(err, 0, -1, "system", "eUICC key is not on P-256 or brainpoolP256r1");
        return EUICC_ESYS;
    }
    uint8_t *cd = NULL, *ed = NULL;
    size_t cl = 0, el = 0;
    if (cert_der(euicc_cert, &cd, &cl) != 0 || cert_der(eum, &ed, &el) != 0) {
        free(cd);
        euicc_impl_err(err, 0, -1, "system", "cannot encode certificates");
        return EUICC_ESYS;
    }
    X509_up_ref(euicc_cert);
    X509_up_ref(eum);
    EVP_PKEY_up_ref(key);
    X509_free(e->cert);
    X509_free(e->eum);
    EVP_PKEY_free(e->key);
    free(e->cert_der);
    free(e->eum_der);
    e->cert = euicc_cert;
    e->eum = eum;
    e->key = key;
    e->cert_der = cd;
    e->cert_len = cl;
    e->eum_der = ed;
    e->eum_len = el;
    memcpy(e->eid, eid, sizeof(eid));
    for (int i = 0; i < 16; i++)
        e->eid_bin[i] = (uint8_t)((eid[2 * i] - '0') << 4 | (eid[2 * i + 1] - '0'));
    return EUICC_OK;
}

int euicc_set_others(euicc *e, X509 *const *others, size_t n)
{
    if (n > EUICC_OTHERS_MAX)
        return EUICC_ESYS;
    der_writer w;
    der_w_init(&w);
    der_w_begin(&w, 0xA0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *d = NULL;
        size_t l = 0;
        if (cert_der(others[i], &d, &l) != 0) {
            der_w_free(&w);
            return EUICC_ESYS;
        }
        der_w_raw(&w, d, l);
        free(d);
    }
    der_w_end(&w);
    uint8_t *der = n && der_w_finish(&w) == 0 ? malloc(w.len) : NULL;
    if (n && !der) {
        der_w_free(&w);
        return EUICC_ESYS;
    }
    if (der)
        memcpy(der, w.buf, w.len);
    for (size_t i = 0; i < e->nothers; i++)
        X509_free(e->others[i]);
    free(e->others_der);
    for (size_t i = 0; i < n; i++) {
        X509_up_ref(others[i]);
        e->others[i] = others[i];
    }
    e->nothers = n;
    e->others_der = der;
    e->others_len = der ? w.len : 0;
    der_w_free(&w);
    return EUICC_OK;
}

size_t euicc_others(const euicc *e, X509 *const **others)
{
    *others = e->others;
    return e->nothers;
}

int euicc_add_ci(euicc *e, X509 *ci)
{
    const uint8_t *ski;
    size_t ski_len;
    if (rsp_cert_ski(ci, &ski, &ski_len) != 0 || ski_len > RSP_SKI_MAX)
        return EUICC_ESYS;
    if (!rsp_ci_store_find(e->cis, ski, ski_len) && rsp_ci_store_add(e->cis, ci) != 0)
        return EUICC_ESYS;
    if (!ski_in(e->ski_verify, e->ski_verify_len, e->nverify, ski, ski_len) && e->nverify < EUICC_SKI_MAX) {
        memcpy(e->ski_verify[e->nverify], ski, ski_len);
        e->ski_verify_len[e->nverify++] = ski_len;
    }
    /* Signing: only the CI our chain ends at can vouch for our signatures. */
    X509 *top = e->nothers ? e->others[e->nothers - 1] : e->eum;
    const ASN1_OCTET_STRING *aki = top ? X509_get0_authority_key_id(top) : NULL;
    if (aki && (size_t)ASN1_STRING_length(aki) == ski_len &&
        memcmp(ASN1_STRING_get0_data(aki), ski, ski_len) == 0 &&
        !ski_in(e->ski_sign, e->ski_sign_len, e->nsign, ski, ski_len) && e->nsign < EUICC_SKI_MAX) {
        memcpy(e->ski_sign[e->nsign], ski, ski_len);
        e->ski_sign_len[e->nsign++] = ski_len;
    }
    return EUICC_OK;
}

static int set_list(uint8_t list[][RSP_SKI_MAX], size_t *lens, size_t *n, const uint8_t *const *ids,
                    const size_t *id_lens, size_t count)
{
    if (count > EUICC_SKI_MAX)
        return EUICC_ESYS;
    for (size_t i = 0; i < count; i++)
        if (id_lens[i] == 0 || id_lens[i] > RSP_SKI_MAX)
            return EUICC_ESYS;
    for (size_t i = 0; i < count; i++) {
        memcpy(list[i], ids[i], id_lens[i]);
        lens[i] = id_lens[i];
    }
    *n = count;
    return EUICC_OK;
}

int euicc_set_ci_lists(euicc *e, const uint8_t *const *verify, const size_t *verify_len, size_t nverify,
                       const uint8_t *const *sign, const size_t *sign_len, size_t nsign)
{
    if (verify && set_list(e->ski_verify, e->ski_verify_len, &e->nverify, verify, verify_len, nverify) != 0)
        return EUICC_ESYS;
    if (sign && set_list(e->ski_sign, e->ski_sign_len, &e->nsign, sign, sign_len, nsign) != 0)
        return EUICC_ESYS;
    return EUICC_OK;
}

euicc_config *euicc_config_of(euicc *e)
{
    return &e->cfg;
}

const char *euicc_eid(const euicc *e)
{
    return e->eid;
}

const rsp_ci_store *euicc_cis(const euicc *e)
{
    return e->cis;
}

X509 *euicc_certificate(const euicc *e)
{
    return e->cert;
}

X509 *euicc_eum_certificate(const euicc *e)
{
    return e->eum;
}

EVP_PKEY *euicc_key(const euicc *e)
{
    return e->key;
}

void euicc_set_time(euicc *e, time_t now)
{
    e->now = now;
}

const uint8_t *euicc_session_tid(const euicc *e, size_t *len)
{
    if (e->sess.stage < SESS_AUTHENTICATED) {
        *len = 0;
        return NULL;
    }
    *len = e->sess.tid_len;
    return e->sess.tid;
}

/* ---- EUICCInfo ---- */

static void w_bits(der_writer *w, uint32_t tag, uint32_t mask)
{
    uint8_t v[5];
    size_t n = sgp22_bits_from_mask(mask, v);
    der_w_tlv(w, tag, v, n);
}

static void w_ski_list(der_writer *w, uint32_t tag, const uint8_t list[][RSP_SKI_MAX], const size_t *lens,
                       size_t n)
{
    der_w_begin(w, tag);
    for (size_t i = 0; i < n; i++)
        der_w_tlv(w, 0x04, list[i], lens[i]);
    der_w_end(w);
}

int euicc_get_info1(euicc *e, der_writer *w)
{
    der_writer t;
    der_w_init(&t);
    der_w_begin(&t, 0xBF20);
    der_w_tlv(&t, 0x82, e->cfg.svn, 3);
    w_ski_list(&t, 0xA9, e->ski_verify, e->ski_verify_len, e->nverify);
    w_ski_list(&t, 0xAA, e->ski_sign, e->ski_sign_len, e->nsign);
    der_w_end(&t);
    return emit(w, &t);
}

static void w_info2(euicc *e, der_writer *t)
{
    const euicc_config *c = &e->cfg;
    der_w_begin(t, 0xBF22);
    der_w_tlv(t, 0x81, c->profile_version, 3);
    der_w_tlv(t, 0x82, c->svn, 3);
    der_w_tlv(t, 0x83, c->firmware_version, 3);
    /* extCardResource (ETSI TS 102 226): installed applications, free NVM, free RAM */
    size_t installed = e->nprofiles;
    uint8_t ecr[] = {0x81,
                     0x01,
                     (uint8_t)(installed > 255 ? 255 : installed),
                     0x82,
                     0x04,
                     (uint8_t)(c->free_nvm >> 24),
                     (uint8_t)(c->free_nvm >> 16),
                     (uint8_t)(c->free_nvm >> 8),
                     (uint8_t)c->free_nvm,
                     0x83,
                     0x02,
                     0x40,
                     0x00};
    der_w_tlv(t, 0x84, ecr, sizeof(ecr));
    w_bits(t, 0x85, c->uicc_capability);
    static const uint8_t gp[3] = {2, 3, 0};
    der_w_tlv(t, 0x87, gp, 3);
    w_bits(t, 0x88, c->rsp_capability);
    w_ski_list(t, 0xA9, e->ski_verify, e->ski_verify_len, e->nverify);
    w_ski_list(t, 0xAA, e->ski_sign, e->ski_sign_len, e->nsign);
    if (c->forbidden_ppr)
        w_bits(t, 0x99, c->forbidden_ppr);
    der_w_tlv(t, 0x04, c->pp_version, 3);
    der_w_tlv(t, 0x0C, c->sas_accreditation, strlen(c->sas_accreditation));
    der_w_end(t);
}

int euicc_get_info2(euicc *e, der_writer *w)
{
    der_writer t;
    der_w_init(&t);
    w_info2(e, &t);
    return emit(w, &t);
}

/* ---- session ---- */

int euicc_get_challenge(euicc *e, uint8_t out[16])
{
    session_clear(&e->sess);
    if (RAND_bytes(e->sess.challenge, 16) != 1)
        return EUICC_ESYS;
    memcpy(out, e->sess.challenge, 16);
    e->sess.stage = SESS_CHALLENGE;
    return EUICC_OK;
}

/* A 5F37 TLV holding a 64-byte signature. */
static int get_sig(const der_tlv *t, const uint8_t **sig)
{
    if (t->tag != TAG_SIG || t->len != RSP_SIG_LEN)
        return -1;
    *sig = t->value;
    return 0;
}

/* Certificate checks shared by AuthenticateServer and PrepareDownload.
 * Returns 0, or the ASN.1 error code (1 invalidCertificate, 3 unsupportedCurve)
 * with detail. */
static int check_server_cert(euicc *e, X509 *cert, const der_tlv *others, const char *role,
                             const uint8_t *ci_ski, size_t ci_ski_len, EVP_PKEY **pub, euicc_error *err)
{
    EVP_PKEY *k = X509_get0_pubkey(cert);
    if (!k || rsp_ecka_curve_nid(k) < 0) {
        euicc_impl_err(err, 3, -1, "unsupportedCurve", "server key is not on P-256 or brainpoolP256r1");
        return 3;
    }
    /* v3 otherCertsInChain: the intermediates above the server certificate, upward */
    X509 *inter[2];
    size_t n = 0;
    int code = 0;
    der_reader r;
    der_tlv c;
    if (others) {
        der_reader_of(&r, others);
        while (!der_reader_done(&r) && code == 0) {
            if (n == 2 || der_expect(&r, 0x30, &c) != 0 || !(inter[n] = parse_cert_exact(c.raw, c.raw_len))) {
                euicc_impl_err(err, 1, -1, "invalidCertificate", "otherCertsInChain malformed or too long");
                code = 1;
            } else {
                n++;
            }
        }
    }
    X509 *top = n ? inter[n - 1] : cert;
    const ASN1_OCTET_STRING *aki = code ? NULL : X509_get0_authority_key_id(top);
    if (!code && !aki) {
        euicc_impl_err(err, 1, -1, "invalidCertificate",
                       "server certificate chain has no authorityKeyIdentifier");
        code = 1;
    }
    if (!code) {
        const uint8_t *a = ASN1_STRING_get0_data(aki);
        size_t alen = (size_t)ASN1_STRING_length(aki);
        if (ci_ski ? (alen != ci_ski_len || memcmp(a, ci_ski, alen) != 0)
                   : !ski_in(e->ski_verify, e->ski_verify_len, e->nverify, a, alen)) {
            euicc_impl_err(err, 1, -1, "invalidCertificate", "server certificate is not issued by %s",
                           ci_ski ? "euiccCiPKIdToBeUsed" : "a CI in the verification list");
            code = 1;
        } else if (rsp_verify_server_chain(e->cis, cert, inter, n, role, now_of(e), pub) != 0) {
            euicc_impl_err(err, 1, -1, "invalidCertificate", "server certificate refused: %s",
                           rsp_cert_last_reason());
            code = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        X509_free(inter[i]);
    return code;
}

int euicc_authenticate_server(euicc *e, const uint8_t *req, size_t len, const char *address, der_writer *w,
                              euicc_error *err)
{
    err_clear(err);
    der_tlv top, ss1_t, sig_t, pkid_t, cert_t, ctx_t;
    der_reader r;
    if (der_parse_exact(req, len, &top) != 0 || top.tag != 0xBF38) {
        euicc_impl_err(err, 0, -1, "malformed", "not an AuthenticateServerRequest (BF38)");
        return EUICC_EFORMAT;
    }
    der_reader_of(&r, &top);
    if (der_expect(&r, 0x30, &ss1_t) != 0 || der_expect(&r, TAG_SIG, &sig_t) != 0 ||
        der_expect(&r, 0x04, &pkid_t) != 0 || der_expect(&r, 0x30, &cert_t) != 0 ||
        der_next(&r, &ctx_t) != 0) {
        euicc_impl_err(err, 0, -1, "malformed", "AuthenticateServerRequest fields missing or out of order");
        return EUICC_EFORMAT;
    }
    /* v3 adds context-tagged fields after ctxParams1: otherCertsInChain [1] is used, the others
     * (crlList) are well formed and skipped */
    der_tlv others_t;
    const der_tlv *others = NULL;
    for (der_tlv extra; !der_reader_done(&r);) {
        uint32_t first = 0;
        if (der_next(&r, &extra) == 0)
            for (first = extra.tag; first > 0xFF; first >>= 8)
                ;
        if ((first & 0xC0) != 0x80) {
            euicc_impl_err(err, 0, -1, "malformed",
                           "AuthenticateServerRequest: unexpected field after ctxParams1");
            return EUICC_EFORMAT;
        }
        if (extra.tag == 0xA1 && !others) {
            others_t = extra;
            others = &others_t;
        }
    }
    sgp22_server_signed1 ss1;
    if (sgp22_server_signed1_decode(ss1_t.raw, ss1_t.raw_len, &ss1) != 0) {
        euicc_impl_err(err, 0, -1, "malformed", "serverSigned1: %s", sgp22_err_field());
        return EUICC_EFORMAT;
    }
    sgp22_ctx_params1 ctx;
    if (sgp22_ctx_params1_decode(ctx_t.raw, ctx_t.raw_len, &ctx) != 0 ||
        ctx.choice != SGP22_CTX_COMMON_AUTH) {
        euicc_impl_err(err, 0, -1, "malformed", "ctxParams1: %s", sgp22_err_field());
        return EUICC_EFORMAT;
    }

    int code = 0;
    const uint8_t *sig = NULL;
    X509 *cert = NULL;
    EVP_PKEY *pub = NULL;
    enum sess_role role = ROLE_NONE;

    if (e->sess.stage != SESS_CHALLENGE) {
        code = EUICC_AUTH_NO_SESSION_CONTEXT;
        euicc_impl_err(err, code, -1, "noSessionContext", "no GetEUICCChallenge before AuthenticateServer");
        goto refuse;
    }
    if (get_sig(&sig_t, &sig) != 0) {
        code = EUICC_AUTH_INVALID_SIGNATURE;
        euicc_impl_err(err, code, -1, "invalidSignature", "serverSignature1 is not 64 bytes");
        goto refuse;
    }
    if (!ski_in(e->ski_verify, e->ski_verify_len, e->nverify, pkid_t.value, pkid_t.len) ||
        !rsp_ci_store_find(e->cis, pkid_t.value, pkid_t.len)) {
        code = EUICC_AUTH_CI_PK_UNKNOWN;
        euicc_impl_err(err, code, -1, "ciPKUnknown", "euiccCiPKIdToBeUsed is not in the verification list");
        goto refuse;
    }
    cert = parse_cert_exact(cert_t.raw, cert_t.raw_len);
    if (!cert) {
        code = EUICC_AUTH_INVALID_CERTIFICATE;
        euicc_impl_err(err, code, -1, "invalidCertificate", "serverCertificate does not parse");
        goto refuse;
    }
    {
        euicc_error e1, e2;
        int c1 =
            check_server_cert(e, cert, others, RSP_OID_ROLE_DP_AUTH, pkid_t.value, pkid_t.len, &pub, &e1);
        if (c1 == 0) {
            role = ROLE_DP_AUTH;
        } else if (c1 == 1 && check_server_cert(e, cert, others, RSP_OID_ROLE_DS_AUTH, pkid_t.value,
                                                pkid_t.len, &pub, &e2) == 0) {
            role = ROLE_DS_AUTH;
        } else {
            code = c1;
            if (err)
                *err = e1;
            goto refuse;
        }
    }
    if (rsp_sig_verify(pub, ss1_t.raw, ss1_t.raw_len, sig, RSP_SIG_LEN) != 0) {
        code = EUICC_AUTH_INVALID_SIGNATURE;
        euicc_impl_err(err, code, -1, "invalidSignature", "serverSignature1 does not verify");
        goto refuse;
    }
    if (CRYPTO_memcmp(ss1.euicc_challenge.p, e->sess.challenge, 16) != 0) {
        code = EUICC_AUTH_CHALLENGE_MISMATCH;
        euicc_impl_err(err, code, -1, "euiccChallengeMismatch",
                       "serverSigned1 echoes another euiccChallenge");
        goto refuse;
    }
    if (!address || strlen(address) != ss1.server_address.len ||
        strncasecmp(address, (const char *)ss1.server_address.p, ss1.server_address.len) != 0) {
        code = EUICC_AUTH_UNDEFINED;
        euicc_impl_err(err, code, -1, "undefinedError",
                       "serverAddress \"%.*s\" is not the address contacted (%s)",
                       (int)(ss1.server_address.len > 100 ? 100 : ss1.server_address.len),
                       (const char *)ss1.server_address.p, address ? address : "none");
        goto refuse;
    }

    /* Accepted: sign euiccSigned1 and keep the session. */
    {
        struct euicc_session *s = &e->sess;
        memcpy(s->tid, ss1.transaction_id.p, ss1.transaction_id.len);
        s->tid_len = ss1.transaction_id.len;
        s->server_address = xstrndup(ss1.server_address.p, ss1.server_address.len);
        s->role = role;
        if (cert_rid(cert, s->auth_oid, sizeof(s->auth_oid), &s->auth_oid_len) != 0)
            s->auth_oid_len = 0;
        der_writer t;
        der_w_init(&t);
        der_w_begin(&t, 0x30);
        der_w_tlv(&t, 0x80, ss1.transaction_id.p, ss1.transaction_id.len);
        der_w_tlv(&t, 0x83, ss1.server_address.p, ss1.server_address.len);
        der_w_tlv(&t, 0x84, ss1.server_challenge.p, ss1.server_challenge.len);
        w_info2(e, &t);
        der_w_raw(&t, ctx_t.raw, ctx_t.raw_len);
        der_w_end(&t);
        if (!s->server_address || der_w_finish(&t) != 0 || rsp_sig_sign(e->key, t.buf, t.len, s->sig1) != 0) {
            der_w_free(&t);
            X509_free(cert);
            EVP_PKEY_free(pub);
            session_clear(s);
            euicc_impl_err(err, 0, -1, "system", "cannot build or sign euiccSigned1");
            return EUICC_ESYS;
        }
        der_writer o;
        der_w_init(&o);
        der_w_begin(&o, 0xBF38);
        der_w_begin(&o, 0xA0);
        der_w_raw(&o, t.buf, t.len);
        der_w_tlv(&o, TAG_SIG, s->sig1, RSP_SIG_LEN);
        der_w_raw(&o, e->cert_der, e->cert_len);
        der_w_raw(&o, e->eum_der, e->eum_len);
        if (e->others_der)
            der_w_raw(&o, e->others_der, e->others_len);
        der_w_end(&o);
        der_w_end(&o);
        der_w_free(&t);
        X509_free(cert);
        EVP_PKEY_free(pub);
        int rc = emit(w, &o);
        if (rc != EUICC_OK) {
            session_clear(s);
            return rc;
        }
        s->stage = SESS_AUTHENTICATED;
        return EUICC_OK;
    }

refuse:
    X509_free(cert);
    EVP_PKEY_free(pub);
    session_clear(&e->sess);
    {
        der_writer o;
        der_w_init(&o);
        der_w_begin(&o, 0xBF38);
        der_w_begin(&o, 0xA1);
        der_w_tlv(&o, 0x80, ss1.transaction_id.p, ss1.transaction_id.len);
        der_w_int(&o, 0x02, code);
        der_w_end(&o);
        der_w_end(&o);
        int rc = emit(w, &o);
        return rc == EUICC_OK ? EUICC_EREFUSED : rc;
    }
}

/* ---- PrepareDownload ---- */

static int dl_refuse(euicc *e, der_writer *w, const uint8_t *tid, size_t tid_len, int code)
{
    session_clear(&e->sess);
    der_writer o;
    der_w_init(&o);
    der_w_begin(&o, 0xBF21);
    der_w_begin(&o, 0xA1);
    der_w_tlv(&o, 0x80, tid, tid_len);
    der_w_int(&o, 0x02, code);
    der_w_end(&o);
    der_w_end(&o);
    int rc = emit(w, &o);
    return rc == EUICC_OK ? EUICC_EREFUSED : rc;
}

int euicc_prepare_download(euicc *e, const uint8_t *req, size_t len, der_writer *w, euicc_error *err)
{
    err_clear(err);
    der_tlv top, ss2_t, sig_t, hcc_t, cert_t;
    der_reader r;
    if (der_parse_exact(req, len, &top) != 0 || top.tag != 0xBF21) {
        euicc_impl_err(err, 0, -1, "malformed", "not a PrepareDownloadRequest (BF21)");
        return EUICC_EFORMAT;
    }
    der_reader_of(&r, &top);
    int has_hcc = 0, has_others = 0;
    der_tlv others_t;
    if (der_expect(&r, 0x30, &ss2_t) != 0 || der_expect(&r, TAG_SIG, &sig_t) != 0 ||
        (has_hcc = der_optional(&r, 0x04, &hcc_t)) < 0 || der_expect(&r, 0x30, &cert_t) != 0 ||
        (has_others = der_optional(&r, 0xA1, &others_t)) < 0 || !der_reader_done(&r) ||
        (has_hcc && hcc_t.len != 32)) {
        euicc_impl_err(err, 0, -1, "malformed",
                       "PrepareDownloadRequest fields missing, out of order or sized wrong");
        return EUICC_EFORMAT;
    }
    sgp22_smdp_signed2 ss2;
    if (sgp22_smdp_signed2_decode(ss2_t.raw, ss2_t.raw_len, &ss2) != 0) {
        euicc_impl_err(err, 0, -1, "malformed", "smdpSigned2: %s", sgp22_err_field());
        return EUICC_EFORMAT;
    }
    const uint8_t *tid = ss2.transaction_id.p;
    size_t tid_len = ss2.transaction_id.len;
    struct euicc_session *s = &e->sess;
    if (s->stage != SESS_AUTHENTICATED || s->role != ROLE_DP_AUTH) {
        euicc_impl_err(err, EUICC_DL_NO_SESSION_CONTEXT, -1, "noSessionContext",
                       "no SM-DP+ authenticated by AuthenticateServer in this session");
        return dl_refuse(e, w, tid, tid_len, EUICC_DL_NO_SESSION_CONTEXT);
    }
    const uint8_t *sig;
    if (get_sig(&sig_t, &sig) != 0) {
        euicc_impl_err(err, EUICC_DL_INVALID_SIGNATURE, -1, "invalidSignature",
                       "smdpSignature2 is not 64 bytes");
        return dl_refuse(e, w, tid, tid_len, EUICC_DL_INVALID_SIGNATURE);
    }
    X509 *cert = parse_cert_exact(cert_t.raw, cert_t.raw_len);
    if (!cert) {
        euicc_impl_err(err, EUICC_DL_INVALID_CERTIFICATE, -1, "invalidCertificate",
                       "smdpCertificate does not parse");
        return dl_refuse(e, w, tid, tid_len, EUICC_DL_INVALID_CERTIFICATE);
    }
    EVP_PKEY *pub = NULL;
    int code =
        check_server_cert(e, cert, has_others ? &others_t : NULL, RSP_OID_ROLE_DP_PB, NULL, 0, &pub, err);
    uint8_t pb_oid[OID_MAX];
    size_t pb_oid_len = 0;
    if (code == 0 && cert_rid(cert, pb_oid, sizeof(pb_oid), &pb_oid_len) != 0)
        pb_oid_len = 0;
    X509_free(cert);
    if (code)
        return dl_refuse(e, w, tid, tid_len, code);
    if (s->auth_oid_len && (pb_oid_len != s->auth_oid_len || memcmp(pb_oid, s->auth_oid, pb_oid_len) != 0)) {
        EVP_PKEY_free(pub);
        euicc_impl_err(err, EUICC_DL_INVALID_CERTIFICATE, -1, "invalidCertificate",
                       "CERT.DPpb names another SM-DP+ OID than CERT.DPauth");
        return dl_refuse(e, w, tid, tid_len, EUICC_DL_INVALID_CERTIFICATE);
    }
    uint8_t sig1_tlv[3 + RSP_SIG_LEN] = {0x5F, 0x37, 0x40};
    memcpy(sig1_tlv + 3, s->sig1, RSP_SIG_LEN);
    if (rsp_sig_verify2(pub, ss2_t.raw, ss2_t.raw_len, sig1_tlv, sizeof(sig1_tlv), sig, RSP_SIG_LEN) != 0) {
        EVP_PKEY_free(pub);
        euicc_impl_err(err, EUICC_DL_INVALID_SIGNATURE, -1, "invalidSignature",
                       "smdpSignature2 does not verify over smdpSigned2 || euiccSignature1");
        return dl_refuse(e, w, tid, tid_len, EUICC_DL_INVALID_SIGNATURE);
    }
    if (tid_len != s->tid_len || memcmp(tid, s->tid, tid_len) != 0) {
        EVP_PKEY_free(pub);
        euicc_impl_err(err, EUICC_DL_INVALID_TRANSACTION_ID, -1, "invalidTransactionId",
                       "smdpSigned2 transactionId differs from the session's");
        return dl_refuse(e, w, tid, tid_len, EUICC_DL_INVALID_TRANSACTION_ID);
    }

    /* One-time key: reuse the kept one if the SM-DP+ re-sends a bound BPP for it. */
    EVP_PKEY *otk = NULL;
    uint8_t otpk[RSP_BSP_POINT_LEN];
    if (ss2.bpp_euicc_otpk.p && e->kept_otk && rsp_ecka_public(e->kept_otk, otpk) == 0 &&
        ss2.bpp_euicc_otpk.len == sizeof(otpk) && memcmp(otpk, ss2.bpp_euicc_otpk.p, sizeof(otpk)) == 0 &&
        rsp_ecka_curve_nid(e->kept_otk) == rsp_ecka_curve_nid(pub)) {
        otk = e->kept_otk;
        e->kept_otk = NULL;
    } else if (rsp_ecka_generate_like(pub, &otk) != 0 || rsp_ecka_public(otk, otpk) != 0) {
        EVP_PKEY_free(otk);
        EVP_PKEY_free(pub);
        euicc_impl_err(err, 0, -1, "system", "cannot generate the one-time key");
        session_clear(s);
        return EUICC_ESYS;
    }

    der_writer t;
    der_w_init(&t);
    der_w_begin(&t, 0x30);
    der_w_tlv(&t, 0x80, tid, tid_len);
    der_w_tlv(&t, TAG_OTPK, otpk, sizeof(otpk));
    if (has_hcc)
        der_w_tlv(&t, 0x04, hcc_t.value, hcc_t.len);
    der_w_end(&t);
    uint8_t sig2[RSP_SIG_LEN];
    if (der_w_finish(&t) != 0 || rsp_sig_sign2(e->key, t.buf, t.len, sig_t.raw, sig_t.raw_len, sig2) != 0) {
        der_w_free(&t);
        EVP_PKEY_free(otk);
        EVP_PKEY_free(pub);
        session_clear(s);
        euicc_impl_err(err, 0, -1, "system", "cannot sign euiccSigned2");
        return EUICC_ESYS;
    }
    der_writer o;
    der_w_init(&o);
    der_w_begin(&o, 0xBF21);
    der_w_begin(&o, 0xA0);
    der_w_raw(&o, t.buf, t.len);
    der_w_tlv(&o, TAG_SIG, sig2, sizeof(sig2));
    der_w_end(&o);
    der_w_end(&o);
    der_w_free(&t);
    int rc = emit(w, &o);
    if (rc != EUICC_OK) {
        EVP_PKEY_free(otk);
        EVP_PKEY_free(pub);
        session_clear(s);
        return rc;
    }
    EVP_PKEY_free(s->dppb);
    EVP_PKEY_free(s->otk);
    s->dppb = pub;
    s->otk = otk;
    memcpy(s->otpk, otpk, sizeof(otpk));
    memcpy(s->pb_oid, pb_oid, pb_oid_len);
    s->pb_oid_len = pb_oid_len;
    s->stage = SESS_PREPARED;
    return EUICC_OK;
}

/* ---- notifications ---- */

static void w_event_bits(der_writer *w, uint32_t tag, int event)
{
    w_bits(w, tag, 1u << event);
}

/* NotificationMetadata BF2F. */
static void w_notif_meta(der_writer *w, int64_t seq, int event, const char *address, const uint8_t *iccid)
{
    der_w_begin(w, 0xBF2F);
    der_w_int(w, 0x80, seq);
    w_event_bits(w, 0x81, event);
    der_w_tlv(w, 0x0C, address, strlen(address));
    if (iccid)
        der_w_tlv(w, 0x5A, iccid, EUICC_ICCID_LEN);
    der_w_end(w);
}

static int queue_notification(euicc *e, int64_t seq, int event, const char *address, const char *iccid_str,
                              const uint8_t *der, size_t len)
{
    euicc_notification n = {0};
    n.seq = seq;
    n.event = event;
    n.address = strdup(address);
    n.der = malloc(len);
    if (iccid_str)
        snprintf(n.iccid_str, sizeof(n.iccid_str), "%s", iccid_str);
    if (!n.address || !n.der || euicc_impl_add_notification(e, &n) != 0) {
        euicc_impl_notification_clear(&n);
        return -1;
    }
    memcpy(e->notifs[e->nnotifs - 1].der, der, len);
    e->notifs[e->nnotifs - 1].len = len;
    return 0;
}

size_t euicc_notification_count(const euicc *e)
{
    return e->nnotifs;
}

const euicc_notification *euicc_notification_at(const euicc *e, size_t i)
{
    return i < e->nnotifs ? &e->notifs[i] : NULL;
}

int euicc_notification_remove(euicc *e, int64_t seq)
{
    for (size_t i = 0; i < e->nnotifs; i++) {
        if (e->notifs[i].seq != seq)
            continue;
        euicc_impl_notification_clear(&e->notifs[i]);
        memmove(&e->notifs[i], &e->notifs[i + 1], (e->nnotifs - i - 1) * sizeof(e->notifs[0]));
        e->nnotifs--;
        return EUICC_OK;
    }
    return EUICC_ENOTFOUND;
}

/* ---- ICCIDs and the profile package ---- */

void euicc_iccid_to_str(const uint8_t iccid[EUICC_ICCID_LEN], char out[2 * EUICC_ICCID_LEN + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (int i = 0; i < EUICC_ICCID_LEN; i++) {
        uint8_t lo = iccid[i] & 0x0F, hi = iccid[i] >> 4;
        if (lo == 0xF)
            break;
        out[n++] = hex[lo];
        if (hi == 0xF)
            break;
        out[n++] = hex[hi];
    }
    out[n] = '\0';
}

int euicc_iccid_from_str(const char *s, uint8_t out[EUICC_ICCID_LEN])
{
    size_t n = strlen(s);
    if (n < 18 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return -1;
    for (int i = 0; i < EUICC_ICCID_LEN; i++) {
        size_t a = 2 * (size_t)i, b = a + 1;
        uint8_t lo = a < n ? (uint8_t)(s[a] - '0') : 0xF;
        uint8_t hi = b < n ? (uint8_t)(s[b] - '0') : 0xF;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int euicc_package_iccid(const uint8_t *pkg, size_t len, uint8_t iccid[EUICC_ICCID_LEN])
{
    der_tlv hdr, f;
    der_reader r;
    if (der_parse(pkg, len, &hdr) != 0 || hdr.tag != 0xA0)
        return -1;
    der_reader_of(&r, &hdr);
    if (der_find(&r, 0x83, &f) != 1 || f.len != EUICC_ICCID_LEN)
        return -1;
    /* The header holds the ICCID as printed (BCD, F padded); tag 5A swaps nibbles. */
    for (int i = 0; i < EUICC_ICCID_LEN; i++)
        iccid[i] = (uint8_t)(f.value[i] << 4 | f.value[i] >> 4);
    return 0;
}

/* ---- LoadBoundProfilePackage ---- */

struct bpp_ctx {
    euicc *e;
    rsp_bsp st;
    int cmd, reason;
    char detail[160];
};

static int bpp_fail(struct bpp_ctx *c, int cmd, int reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bpp_fail(struct bpp_ctx *c, int cmd, int reason, const char *fmt, ...)
{
    c->cmd = cmd;
    c->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
    return -1;
}

#define EUICC_MAX_SEGMENT86 2048

/* Unwraps every segment of a SEQUENCE OF [tag] into out. */
static int unwrap_list(struct bpp_ctx *c, const der_tlv *list, uint8_t tag, int cmd, rsp_bsp_buf *out)
{
    der_reader r;
    der_tlv seg;
    size_t n = 0;
    der_reader_of(&r, list);
    while (!der_reader_done(&r)) {
        if (der_next(&r, &seg) != 0)
            return bpp_fail(c, cmd, EUICC_PIR_SCP03T_STRUCTURE, "segment %zu of %02X list malformed", n, tag);
        /* Profile element segments over 1020 bytes come from deployed SM-DP+ (1036-byte 86 TLVs) and
         * real eUICCs install them; MACs and padding stay checked. */
        unsigned flags = tag == 0x86 && seg.raw_len <= EUICC_MAX_SEGMENT86 ? RSP_BSP_ALLOW_OVERSIZE : 0;
        int rc = rsp_bsp_unwrap(&c->st, tag, seg.raw, seg.raw_len, flags, out);
        if (rc == RSP_BSP_EMAC || rc == RSP_BSP_EPADDING)
            return bpp_fail(c, cmd, EUICC_PIR_SCP03T_SECURITY, "segment %zu (tag %02X): %s", n, tag,
                            rsp_bsp_strerror(rc));
        if (rc == RSP_BSP_ENOMEM || rc == RSP_BSP_ECRYPTO)
            return bpp_fail(c, cmd, EUICC_PIR_UNKNOWN, "segment %zu: %s", n, rsp_bsp_strerror(rc));
        if (rc != 0)
            return bpp_fail(c, cmd, EUICC_PIR_SCP03T_STRUCTURE, "segment %zu (tag %02X): %s", n, tag,
                            rsp_bsp_strerror(rc));
        n++;
    }
    if (n == 0)
        return bpp_fail(c, cmd, EUICC_PIR_SCP03T_STRUCTURE, "empty %02X list", tag);
    return 0;
}

static char *bytes_str(sgp22_bytes b)
{
    return b.p ? xstrndup(b.p, b.len) : strdup("");
}

/* Lowest free ISD-P AID A0000005591010FFFFFFFF89000 0 1n 00. */
static void next_aid(euicc *e, uint8_t aid[16])
{
    static const uint8_t base[16] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00};
    for (unsigned k = 0; k < 0xEF; k++) {
        memcpy(aid, base, 16);
        aid[14] = (uint8_t)(0x10 + k);
        bool used = false;
        for (size_t i = 0; i < e->nprofiles; i++)
            if (e->profiles[i].aid_len == 16 && memcmp(e->profiles[i].aid, aid, 16) == 0)
                used = true;
        if (!used)
            return;
    }
}

/* Walks the top-level profile elements; 0 if they all parse. */
static int package_walk(const uint8_t *p, size_t len, size_t *count)
{
    der_tlv t;
    size_t n = 0;
    while (len) {
        if (der_parse(p, len, &t) != 0)
            return -1;
        p += t.raw_len;
        len -= t.raw_len;
        n++;
    }
    *count = n;
    return n ? 0 : -1;
}

static int build_pir(euicc *e, der_writer *out, int64_t seq, const uint8_t *iccid, const uint8_t *aid,
                     size_t aid_len, int cmd, int reason)
{
    struct euicc_session *s = &e->sess;
    der_writer d;
    der_w_init(&d);
    der_w_begin(&d, 0xBF27);
    der_w_tlv(&d, 0x80, s->tid, s->tid_len);
    w_notif_meta(&d, seq, EUICC_EVT_INSTALL, s->server_address ? s->server_address : "", iccid);
    if (s->pb_oid_len)
        der_w_tlv(&d, 0x06, s->pb_oid, s->pb_oid_len);
    der_w_begin(&d, 0xA2);
    if (aid) {
        /* EUICCResponse { peStatus { PEStatus { status ok } } } */
        static const uint8_t sima[] = {0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x00};
        der_w_begin(&d, 0xA0);
        der_w_tlv(&d, 0x4F, aid, aid_len);
        der_w_tlv(&d, 0x04, sima, sizeof(sima));
        der_w_end(&d);
    } else {
        der_w_begin(&d, 0xA1);
        der_w_int(&d, 0x80, cmd);
        der_w_int(&d, 0x81, reason);
        der_w_end(&d);
    }
    der_w_end(&d);
    der_w_end(&d);
    uint8_t sig[RSP_SIG_LEN];
    if (der_w_finish(&d) != 0 || rsp_sig_sign(e->key, d.buf, d.len, sig) != 0) {
        der_w_free(&d);
        return -1;
    }
    der_w_begin(out, 0xBF37);
    der_w_raw(out, d.buf, d.len);
    der_w_tlv(out, TAG_SIG, sig, sizeof(sig));
    der_w_end(out);
    der_w_free(&d);
    return der_w_finish(out);
}

/* The eUICC reports BPP errors in a signed ProfileInstallationResult, queued
 * like a success; it keeps the one-time key so that the SM-DP+ may re-send
 * the BPP (bppEuiccOtpk).  Ends the session. */
static int bpp_refuse(euicc *e, const struct bpp_ctx *c, const uint8_t *iccid, der_writer *w,
                      euicc_error *err)
{
    static const char *const names[] = {
        [EUICC_PIR_INCORRECT_INPUT] = "incorrectInputValues",
        [EUICC_PIR_INVALID_SIGNATURE] = "invalidSignature",
        [EUICC_PIR_INVALID_TRANSACTION_ID] = "invalidTransactionId",
        [EUICC_PIR_UNSUPPORTED_CRT] = "unsupportedCrtValues",
        [EUICC_PIR_UNSUPPORTED_REMOTE_OP] = "unsupportedRemoteOperationType",
        [EUICC_PIR_UNSUPPORTED_PROFILE_CLASS] = "unsupportedProfileClass",
        [EUICC_PIR_SCP03T_STRUCTURE] = "scp03tStructureError",
        [EUICC_PIR_SCP03T_SECURITY] = "scp03tSecurityError",
        [EUICC_PIR_ICCID_EXISTS] = "installFailedDueToIccidAlreadyExistsOnEuicc",
        [EUICC_PIR_INSUFFICIENT_MEMORY] = "installFailedDueToInsufficientMemoryForProfile",
        [EUICC_PIR_INTERRUPTION] = "installFailedDueToInterruption",
        [EUICC_PIR_PE_PROCESSING] = "installFailedDueToPEProcessingError",
        [EUICC_PIR_ICCID_MISMATCH] = "installFailedDueToIccidMismatch",
    };
    struct euicc_session *s = &e->sess;
    const char *nm = c->reason > 0 && c->reason < (int)(sizeof(names) / sizeof(names[0])) && names[c->reason]
                         ? names[c->reason]
                         : "installFailedDueToUnknownError";
    euicc_impl_err(err, c->reason, c->cmd, nm, "%s", c->detail);
    der_writer o;
    der_w_init(&o);
    int64_t seq = e->next_seq;
    char iccid_str[2 * EUICC_ICCID_LEN + 1] = "";
    if (iccid)
        euicc_iccid_to_str(iccid, iccid_str);
    if (build_pir(e, &o, seq, iccid, NULL, 0, c->cmd, c->reason) != 0 ||
        queue_notification(e, seq, EUICC_EVT_INSTALL, s->server_address ? s->server_address : "",
                           iccid ? iccid_str : NULL, o.buf, o.len) != 0) {
        der_w_free(&o);
        session_clear(s);
        return EUICC_ESYS;
    }
    e->next_seq++;
    EVP_PKEY_free(e->kept_otk);
    e->kept_otk = s->otk;
    s->otk = NULL;
    session_clear(s);
    int rc = emit(w, &o);
    return rc == EUICC_OK ? EUICC_EREFUSED : rc;
}

int euicc_load_bpp(euicc *e, const uint8_t *bpp, size_t len, der_writer *w, uint8_t pkg_sha256[32],
                   euicc_error *err)
{
    err_clear(err);
    struct euicc_session *s = &e->sess;
    if (s->stage != SESS_PREPARED) {
        euicc_impl_err(err, 0, -1, "sequence", "no PrepareDownload before LoadBoundProfilePackage");
        return EUICC_ESTATE;
    }
    struct bpp_ctx c = {.e = e, .cmd = -1};
    rsp_bsp_buf a0 = {0}, a1 = {0}, a2 = {0}, pkg = {0};
    sgp22_store_metadata meta;
    uint8_t iccid[EUICC_ICCID_LEN], pkg_iccid[EUICC_ICCID_LEN];
    bool have_meta = false;
    der_tlv top, t;
    der_reader r;

    if (der_parse_exact(bpp, len, &top) != 0 || top.tag != 0xBF36) {
        bpp_fail(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_SCP03T_STRUCTURE,
                 "not a BoundProfilePackage (BF36)");
        goto fail;
    }
    der_reader_of(&r, &top);

    /* InitialiseSecureChannel */
    sgp22_init_secure_channel isc;
    if (der_expect(&r, 0xBF23, &t) != 0 || sgp22_init_secure_channel_decode(t.raw, t.raw_len, &isc) != 0) {
        bpp_fail(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_INCORRECT_INPUT, "InitialiseSecureChannel: %s",
                 sgp22_err_field());
        goto fail;
    }
    if (isc.remote_op_id != 1) {
        bpp_fail(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_UNSUPPORTED_REMOTE_OP, "remoteOpId %lld",
                 (long long)isc.remote_op_id);
        goto fail;
    }
    if (isc.control_ref_template.key_type.p[0] != RSP_BSP_KEY_TYPE_AES ||
        isc.control_ref_template.key_len.p[0] != RSP_BSP_KEY_LEN_CODE) {
        bpp_fail(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_UNSUPPORTED_CRT, "keyType/keyLen not AES-128");
        goto fail;
    }
    {
        /* smdpSign covers the received fields before it, then 5F49 otPK.EUICC. */
        size_t tbs_len = (size_t)(isc.smdp_sign.p - 3 - t.value);
        uint8_t otpk_tlv[3 + RSP_BSP_POINT_LEN] = {0x5F, 0x49, RSP_BSP_POINT_LEN};
        memcpy(otpk_tlv + 3, s->otpk, RSP_BSP_POINT_LEN);
        if (isc.smdp_sign.p < t.value + 3 ||
            rsp_sig_verify2(s->dppb, t.value, tbs_len, otpk_tlv, sizeof(otpk_tlv), isc.smdp_sign.p,
                            isc.smdp_sign.len) != 0) {
            bpp_fail(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_INVALID_SIGNATURE,
                     "smdpSign does not verify");
            goto fail;
        }
    }
    if (isc.transaction_id.len != s->tid_len || memcmp(isc.transaction_id.p, s->tid, s->tid_len) != 0) {
        bpp_fail(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_INVALID_TRANSACTION_ID,
                 "InitialiseSecureChannel transactionId differs from the session's");
        goto fail;
    }
    {
        uint8_t z[RSP_BSP_SECRET_LEN];
        rsp_bsp_keys keys;
        int rc = rsp_ecka_shared(s->otk, isc.smdp_otpk.p, isc.smdp_otpk.len, z);
        if (rc == 0)
            rc = rsp_bsp_kdf(z, sizeof(z), isc.control_ref_template.host_id.p,
                             isc.control_ref_template.host_id.len, e->eid_bin, &keys);
        OPENSSL_cleanse(z, sizeof(z));
        if (rc != 0) {
            bpp_fail(&c, EUICC_BPP_INIT_SECURE_CHANNEL, EUICC_PIR_INCORRECT_INPUT, "key agreement: %s",
                     rsp_bsp_strerror(rc));
            goto fail;
        }
        rsp_bsp_init(&c.st, &keys);
        rsp_bsp_keys_clear(&keys);
    }

    /* ConfigureISDP */
    sgp22_configure_isdp cfg;
    if (der_expect(&r, 0xA0, &t) != 0) {
        bpp_fail(&c, EUICC_BPP_CONFIGURE_ISDP, EUICC_PIR_SCP03T_STRUCTURE, "firstSequenceOf87 missing");
        goto fail;
    }
    if (unwrap_list(&c, &t, RSP_BSP_TAG_ENC, EUICC_BPP_CONFIGURE_ISDP, &a0) != 0)
        goto fail;
    if (sgp22_configure_isdp_decode(a0.data, a0.len, &cfg) != 0) {
        bpp_fail(&c, EUICC_BPP_CONFIGURE_ISDP, EUICC_PIR_INCORRECT_INPUT, "ConfigureISDP: %s",
                 sgp22_err_field());
        goto fail;
    }

    /* StoreMetadata */
    if (der_expect(&r, 0xA1, &t) != 0) {
        bpp_fail(&c, EUICC_BPP_STORE_METADATA, EUICC_PIR_SCP03T_STRUCTURE, "sequenceOf88 missing");
        goto fail;
    }
    if (unwrap_list(&c, &t, RSP_BSP_TAG_MAC, EUICC_BPP_STORE_METADATA, &a1) != 0)
        goto fail;
    if (sgp22_store_metadata_decode(a1.data, a1.len, &meta) != 0) {
        bpp_fail(&c, EUICC_BPP_STORE_METADATA, EUICC_PIR_INCORRECT_INPUT, "StoreMetadata: %s",
                 sgp22_err_field());
        goto fail;
    }
    have_meta = true;
    memcpy(iccid, meta.iccid.p, EUICC_ICCID_LEN);
    for (size_t i = 0; i < e->nprofiles; i++) {
        if (memcmp(e->profiles[i].iccid, iccid, EUICC_ICCID_LEN) == 0) {
            bpp_fail(&c, EUICC_BPP_STORE_METADATA, EUICC_PIR_ICCID_EXISTS, "ICCID %s already installed",
                     e->profiles[i].iccid_str);
            goto fail;
        }
    }
    if (meta.profile_class.present && meta.profile_class.v == 0 && !(e->cfg.rsp_capability & (1u << 3))) {
        bpp_fail(&c, EUICC_BPP_STORE_METADATA, EUICC_PIR_UNSUPPORTED_PROFILE_CLASS,
                 "test profiles not supported");
        goto fail;
    }
    if (meta.profile_class.present && (meta.profile_class.v < 0 || meta.profile_class.v > 2)) {
        bpp_fail(&c, EUICC_BPP_STORE_METADATA, EUICC_PIR_UNSUPPORTED_PROFILE_CLASS, "profileClass %lld",
                 (long long)meta.profile_class.v);
        goto fail;
    }

    /* ReplaceSessionKeys (optional): then the PPKs protect the profile elements. */
    int opt = der_optional(&r, 0xA2, &t);
    if (opt < 0) {
        bpp_fail(&c, EUICC_BPP_REPLACE_SESSION_KEYS, EUICC_PIR_SCP03T_STRUCTURE,
                 "secondSequenceOf87 malformed");
        goto fail;
    }
    if (opt == 1) {
        sgp22_replace_session_keys rsk;
        if (unwrap_list(&c, &t, RSP_BSP_TAG_ENC, EUICC_BPP_REPLACE_SESSION_KEYS, &a2) != 0)
            goto fail;
        if (sgp22_replace_session_keys_decode(a2.data, a2.len, &rsk) != 0) {
            bpp_fail(&c, EUICC_BPP_REPLACE_SESSION_KEYS, EUICC_PIR_INCORRECT_INPUT, "ReplaceSessionKeys: %s",
                     sgp22_err_field());
            goto fail;
        }
        rsp_bsp_keys ppk;
        memcpy(ppk.s_enc, rsk.ppk_enc.p, RSP_BSP_KEY_LEN);
        memcpy(ppk.s_mac, rsk.ppk_cmac.p, RSP_BSP_KEY_LEN);
        memcpy(ppk.mcv, rsk.initial_mcv.p, RSP_BSP_KEY_LEN);
        rsp_bsp_clear(&c.st);
        rsp_bsp_init(&c.st, &ppk);
        rsp_bsp_keys_clear(&ppk);
    }

    /* Profile elements */
    if (der_expect(&r, 0xA3, &t) != 0) {
        bpp_fail(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_SCP03T_STRUCTURE, "sequenceOf86 missing");
        goto fail;
    }
    if (unwrap_list(&c, &t, RSP_BSP_TAG_UPP, EUICC_BPP_LOAD_PROFILE_ELEMENTS, &pkg) != 0)
        goto fail;
    if (!der_reader_done(&r)) {
        bpp_fail(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_SCP03T_STRUCTURE, "data after sequenceOf86");
        goto fail;
    }
    size_t npe;
    if (euicc_package_iccid(pkg.data, pkg.len, pkg_iccid) != 0 ||
        package_walk(pkg.data, pkg.len, &npe) != 0) {
        bpp_fail(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_PE_PROCESSING,
                 "profile package has no ProfileHeader with an ICCID, or elements do not parse");
        goto fail;
    }
    if (memcmp(pkg_iccid, iccid, EUICC_ICCID_LEN) != 0) {
        bpp_fail(&c, EUICC_BPP_LOAD_PROFILE_ELEMENTS, EUICC_PIR_ICCID_MISMATCH,
                 "ProfileHeader ICCID differs from StoreMetadata ICCID");
        goto fail;
    }

    /* Install. */
    {
        euicc_profile p = {0};
        memcpy(p.iccid, iccid, EUICC_ICCID_LEN);
        euicc_iccid_to_str(iccid, p.iccid_str);
        p.name = bytes_str(meta.profile_name);
        p.spn = bytes_str(meta.service_provider_name);
        p.profile_class = meta.profile_class.present ? (int)meta.profile_class.v : 2;
        next_aid(e, p.aid);
        p.aid_len = 16;
        SHA256(pkg.data, pkg.len, p.package_sha256);
        p.smdp_address = strdup(s->server_address ? s->server_address : "");
        char oid[80];
        oid_text(s->pb_oid, s->pb_oid_len, oid, sizeof(oid));
        p.smdp_oid = strdup(oid);
        for (size_t i = 0; i < meta.notification_config.count; i++) {
            der_tlv el;
            sgp22_notif_config nc;
            if (sgp22_list_at(&meta.notification_config, i, &el) != 0 ||
                sgp22_notif_config_decode(&el, &nc) != 0)
                continue;
            for (int b = EUICC_EVT_ENABLE; b <= EUICC_EVT_DELETE; b++) {
                if (sgp22_bit(nc.pmo, (unsigned)b) && !p.notify_address[b])
                    p.notify_address[b] = bytes_str(nc.address);
            }
        }
        der_writer o;
        der_w_init(&o);
        int64_t seq = e->next_seq;
        if (!p.name || !p.spn || !p.smdp_address || !p.smdp_oid ||
            build_pir(e, &o, seq, iccid, p.aid, p.aid_len, 0, 0) != 0 ||
            queue_notification(e, seq, EUICC_EVT_INSTALL, s->server_address ? s->server_address : "",
                               p.iccid_str, o.buf, o.len) != 0) {
            der_w_free(&o);
            euicc_impl_profile_clear(&p);
            euicc_impl_err(err, 0, -1, "system", "cannot record the profile or its result");
            goto sysfail;
        }
        if (euicc_impl_add_profile(e, &p) != 0) {
            euicc_notification_remove(e, seq);
            der_w_free(&o);
            euicc_impl_profile_clear(&p);
            euicc_impl_err(err, 0, -1, "system", "cannot record the profile");
            goto sysfail;
        }
        e->next_seq++;
        if (pkg_sha256)
            memcpy(pkg_sha256, p.package_sha256, 32);
        int rc = emit(w, &o);
        rsp_bsp_clear(&c.st);
        rsp_bsp_buf_free(&a0);
        rsp_bsp_buf_free(&a1);
        rsp_bsp_buf_free(&a2);
        rsp_bsp_buf_free(&pkg);
        EVP_PKEY_free(e->kept_otk);
        e->kept_otk = NULL;
        session_clear(s);
        return rc;
    }

fail:
    rsp_bsp_clear(&c.st);
    rsp_bsp_buf_free(&a0);
    rsp_bsp_buf_free(&a1);
    rsp_bsp_buf_free(&a2);
    rsp_bsp_buf_free(&pkg);
    return bpp_refuse(e, &c, have_meta ? iccid : NULL, w, err);

sysfail:
    rsp_bsp_clear(&c.st);
    rsp_bsp_buf_free(&a0);
    rsp_bsp_buf_free(&a1);
    rsp_bsp_buf_free(&a2);
    rsp_bsp_buf_free(&pkg);
    session_clear(s);
    return EUICC_ESYS;
}

/* ---- CancelSession ---- */

int euicc_cancel_session(euicc *e, const uint8_t *req, size_t len, der_writer *w, euicc_error *err)
{
    err_clear(err);
    der_tlv top, tid_t, reason_t;
    der_reader r;
    int64_t reason;
    if (der_parse_exact(req, len, &top) != 0 || top.tag != 0xBF41) {
        euicc_impl_err(err, 0, -1, "malformed", "not a CancelSessionRequest (BF41)");
        return EUICC_EFORMAT;
    }
    der_reader_of(&r, &top);
    if (der_expect(&r, 0x80, &tid_t) != 0 || der_expect(&r, 0x81, &reason_t) != 0 || !der_reader_done(&r) ||
        tid_t.len < 1 || tid_t.len > 16 || der_get_int(&reason_t, &reason) != 0 || reason < 0 ||
        reason > 127) {
        euicc_impl_err(err, 0, -1, "malformed", "CancelSessionRequest fields missing or invalid");
        return EUICC_EFORMAT;
    }
    struct euicc_session *s = &e->sess;
    der_writer o;
    der_w_init(&o);
    if (s->stage < SESS_AUTHENTICATED || s->role != ROLE_DP_AUTH || tid_t.len != s->tid_len ||
        memcmp(tid_t.value, s->tid, s->tid_len) != 0 || s->auth_oid_len == 0) {
        bool tid_ok = s->stage >= SESS_AUTHENTICATED && tid_t.len == s->tid_len &&
                      memcmp(tid_t.value, s->tid, s->tid_len) == 0;
        int code = tid_ok ? EUICC_CANCEL_UNDEFINED : EUICC_CANCEL_INVALID_TRANSACTION_ID;
        euicc_impl_err(err, code, -1, tid_ok ? "undefinedError" : "invalidTransactionId",
                       tid_ok ? "session has no SM-DP+ OID" : "no session with this transactionId");
        der_w_begin(&o, 0xBF41);
        der_w_int(&o, 0x81, code);
        der_w_end(&o);
        int rc = emit(w, &o);
        return rc == EUICC_OK ? EUICC_EREFUSED : rc;
    }
    der_writer t;
    der_w_init(&t);
    der_w_begin(&t, 0x30);
    der_w_tlv(&t, 0x80, s->tid, s->tid_len);
    der_w_tlv(&t, 0x81, s->auth_oid, s->auth_oid_len);
    der_w_int(&t, 0x82, reason);
    der_w_end(&t);
    uint8_t sig[RSP_SIG_LEN];
    if (der_w_finish(&t) != 0 || rsp_sig_sign(e->key, t.buf, t.len, sig) != 0) {
        der_w_free(&t);
        der_w_free(&o);
        euicc_impl_err(err, 0, -1, "system", "cannot sign euiccCancelSessionSigned");
        return EUICC_ESYS;
    }
    der_w_begin(&o, 0xBF41);
    der_w_begin(&o, 0xA0);
    der_w_raw(&o, t.buf, t.len);
    der_w_tlv(&o, TAG_SIG, sig, sizeof(sig));
    der_w_end(&o);
    der_w_end(&o);
    der_w_free(&t);
    /* postponed or timeout after PrepareDownload: the one-time key stays for a retry (bppEuiccOtpk) */
    if (s->otk && (reason == EUICC_CANCEL_POSTPONED || reason == EUICC_CANCEL_TIMEOUT)) {
        EVP_PKEY_free(e->kept_otk);
        e->kept_otk = s->otk;
        s->otk = NULL;
    }
    session_clear(s);
    return emit(w, &o);
}

/* ---- ES10c ---- */

size_t euicc_profile_count(const euicc *e)
{
    return e->nprofiles;
}

const euicc_profile *euicc_profile_at(const euicc *e, size_t i)
{
    return i < e->nprofiles ? &e->profiles[i] : NULL;
}

static euicc_profile *find_profile(const euicc *e, const char *iccid)
{
    for (size_t i = 0; i < e->nprofiles; i++)
        if (strcasecmp(e->profiles[i].iccid_str, iccid) == 0)
            return &e->profiles[i];
    return NULL;
}

const euicc_profile *euicc_profile_find(const euicc *e, const char *iccid)
{
    return find_profile(e, iccid);
}

/* OtherSignedNotification for an enable/disable/delete, if the profile asked for it. */
static int other_notification(euicc *e, const euicc_profile *p, int event)
{
    const char *addr = p->notify_address[event];
    if (!addr)
        return 0;
    int64_t seq = e->next_seq;
    der_writer tbs, o;
    der_w_init(&tbs);
    der_w_init(&o);
    w_notif_meta(&tbs, seq, event, addr, p->iccid);
    uint8_t sig[RSP_SIG_LEN];
    int rc = -1;
    if (der_w_finish(&tbs) == 0 && rsp_sig_sign(e->key, tbs.buf, tbs.len, sig) == 0) {
        der_w_begin(&o, 0x30);
        der_w_raw(&o, tbs.buf, tbs.len);
        der_w_tlv(&o, TAG_SIG, sig, sizeof(sig));
        der_w_raw(&o, e->cert_der, e->cert_len);
        der_w_raw(&o, e->eum_der, e->eum_len);
        if (e->others_der)
            der_w_raw(&o, e->others_der, e->others_len);
        der_w_end(&o);
        if (der_w_finish(&o) == 0 &&
            queue_notification(e, seq, event, addr, p->iccid_str, o.buf, o.len) == 0) {
            e->next_seq++;
            rc = 0;
        }
    }
    der_w_free(&tbs);
    der_w_free(&o);
    return rc;
}

/* The profile iccid when its state is the one wanted; else NULL, with err and *rc set as ES10c answers
 * (iccidOrAidNotFound, or profileNot{Enabled,Disabled}State). */
static euicc_profile *profile_in_state(euicc *e, const char *iccid, bool enabled, euicc_error *err, int *rc)
{
    err_clear(err);
    euicc_profile *p = find_profile(e, iccid);
    if (!p) {
        euicc_impl_err(err, 1, -1, "iccidOrAidNotFound", "no profile %s", iccid);
        *rc = EUICC_ENOTFOUND;
        return NULL;
    }
    if (p->enabled != enabled) {
        if (enabled)
            euicc_impl_err(err, 2, -1, "profileNotInEnabledState", "profile %s is disabled", iccid);
        else
            euicc_impl_err(err, 2, -1, "profileNotInDisabledState", "profile %s is enabled", iccid);
        *rc = EUICC_ESTATE;
        return NULL;
    }
    return p;
}

int euicc_disable_profile(euicc *e, const char *iccid, euicc_error *err)
{
    int rc;
    euicc_profile *p = profile_in_state(e, iccid, true, err, &rc);
    if (!p)
        return rc;
    p->enabled = false;
    return other_notification(e, p, EUICC_EVT_DISABLE) == 0 ? EUICC_OK : EUICC_ESYS;
}

int euicc_enable_profile(euicc *e, const char *iccid, euicc_error *err)
{
    int rc;
    euicc_profile *p = profile_in_state(e, iccid, false, err, &rc);
    if (!p)
        return rc;
    for (size_t i = 0; i < e->nprofiles; i++) {
        if (e->profiles[i].enabled) {
            e->profiles[i].enabled = false;
            if (other_notification(e, &e->profiles[i], EUICC_EVT_DISABLE) != 0)
                return EUICC_ESYS;
        }
    }
    p->enabled = true;
    return other_notification(e, p, EUICC_EVT_ENABLE) == 0 ? EUICC_OK : EUICC_ESYS;
}

int euicc_delete_profile(euicc *e, const char *iccid, euicc_error *err)
{
    int rc;
    euicc_profile *p = profile_in_state(e, iccid, false, err, &rc);
    if (!p)
        return rc;
    if (other_notification(e, p, EUICC_EVT_DELETE) != 0)
        return EUICC_ESYS;
    size_t i = (size_t)(p - e->profiles);
    euicc_impl_profile_clear(p);
    memmove(&e->profiles[i], &e->profiles[i + 1], (e->nprofiles - i - 1) * sizeof(e->profiles[0]));
    e->nprofiles--;
    return EUICC_OK;
}
