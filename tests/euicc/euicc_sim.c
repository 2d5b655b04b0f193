#include "tests/euicc/euicc_sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "asn1/der.h"
#include "asn1/sgp22.h"
#include "rsp/cert.h"
#include "rsp/sig.h"

static _Thread_local char last_error[256];

const char *euicc_sim_error(void)
{
    return last_error;
}

__attribute__((format(printf, 2, 3))) static int err(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return code;
}

static int to_der(X509 *x, uint8_t **out, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509(x, &p);
    if (n <= 0)
        return -1;
    *out = p;
    *len = (size_t)n;
    return 0;
}

int euicc_sim_load(euicc_sim *s, const char *euicc_cert, const char *euicc_key, const char *eum_cert,
                   const char *const *ci_files, size_t nci)
{
    memset(s, 0, sizeof(*s));
    if (nci > EUICC_SIM_MAX_CI)
        return err(EUICC_SIM_EFILE, "too many CIs");
    s->euicc = rsp_load_cert(euicc_cert);
    s->eum = rsp_load_cert(eum_cert);
    s->key = rsp_load_key(euicc_key);
    if (!s->euicc || !s->eum || !s->key) {
        euicc_sim_free(s);
        return err(EUICC_SIM_EFILE, "cannot read the eUICC certificate, key or EUM certificate");
    }
    for (size_t i = 0; i < nci; i++) {
        if (!(s->ci[s->nci++] = rsp_load_cert(ci_files[i]))) {
            euicc_sim_free(s);
            return err(EUICC_SIM_EFILE, "cannot read CI %s", ci_files[i]);
        }
    }
    if (to_der(s->euicc, &s->euicc_der, &s->euicc_len) || to_der(s->eum, &s->eum_der, &s->eum_len)) {
        euicc_sim_free(s);
        return err(EUICC_SIM_EFILE, "cannot encode certificates");
    }
    X509_NAME *subj = X509_get_subject_name(s->euicc);
    int i = X509_NAME_get_index_by_NID(subj, NID_serialNumber, -1);
    if (i >= 0) {
        ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
        snprintf(s->eid, sizeof(s->eid), "%.*s", ASN1_STRING_length(v),
                 (const char *)ASN1_STRING_get0_data(v));
    }
    return 0;
}

void euicc_sim_free(euicc_sim *s)
{
    X509_free(s->euicc);
    X509_free(s->eum);
    EVP_PKEY_free(s->key);
    OPENSSL_free(s->euicc_der);
    OPENSSL_free(s->eum_der);
    for (size_t i = 0; i < s->nci; i++)
        X509_free(s->ci[i]);
    memset(s, 0, sizeof(*s));
}

static void svn_of(const euicc_sim_opts *o, uint8_t svn[3])
{
    static const uint8_t def[3] = {2, 2, 2};
    memcpy(svn, o && (o->svn[0] | o->svn[1] | o->svn[2]) ? o->svn : def, 3);
}

static size_t ci_keys(const euicc_sim *s, sgp22_bytes keys[EUICC_SIM_MAX_CI])
{
    size_t n = 0;
    for (size_t i = 0; i < s->nci; i++) {
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(s->ci[i]);
        if (ski)
            keys[n++] = SGP22_BYTES(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
    }
    return n;
}

static int finish(der_writer *w, uint8_t **out, size_t *len)
{
    if (der_w_finish(w) != DER_OK) {
        der_w_free(w);
        return err(EUICC_SIM_EINPUT, "encoding failed at %s", sgp22_err_field());
    }
    *out = w->buf;
    *len = w->len;
    return 0;
}

int euicc_sim_info1(const euicc_sim *s, const euicc_sim_opts *o, uint8_t **out, size_t *len)
{
    uint8_t svn[3];
    svn_of(o, svn);
    sgp22_bytes keys[EUICC_SIM_MAX_CI];
    size_t n = ci_keys(s, keys);
    sgp22_euicc_info1 ei = {.svn = SGP22_BYTES(svn, 3), .ci_pkid_verify = {.items = keys, .count = n}};
    if (o && o->empty_verify_list)
        ei.ci_pkid_verify.count = 0;
    if (o && o->list_in_v3)
        ei.ci_pkid_sign_v3 = (sgp22_list){.items = keys, .count = n};
    else
        ei.ci_pkid_sign = (sgp22_list){.items = keys, .count = n};
    der_writer w;
    der_w_init(&w);
    sgp22_euicc_info1_encode(&w, &ei);
    return finish(&w, out, len);
}

static int check_server(const euicc_sim *s, const uint8_t challenge[16], const char *address,
                        const euicc_sim_server *srv, const sgp22_server_signed1 *ss)
{
    if (ss->euicc_challenge.len != 16 || memcmp(ss->euicc_challenge.p, challenge, 16) != 0)
        return err(EUICC_SIM_ESERVER, "ServerSigned1 carries another euiccChallenge");
    if (ss->server_address.len != strlen(address) ||
        strncasecmp((const char *)ss->server_address.p, address, ss->server_address.len) != 0)
        return err(EUICC_SIM_ESERVER, "ServerSigned1 carries another serverAddress");
    const uint8_t *p = srv->cert;
    X509 *cert = d2i_X509(NULL, &p, (long)srv->cert_len);
    if (!cert)
        return err(EUICC_SIM_EINPUT, "serverCertificate is not a certificate");
    rsp_ci_store *cis = rsp_ci_store_new();
    for (size_t i = 0; cis && i < s->nci; i++)
        rsp_ci_store_add(cis, s->ci[i]);
    EVP_PKEY *pub = NULL;
    int rc = -1;
    if (cis && (rsp_verify_server_cert(cis, cert, RSP_OID_ROLE_DS_AUTH, time(NULL), &pub) == 0 ||
                rsp_verify_server_cert(cis, cert, RSP_OID_ROLE_DP_AUTH, time(NULL), &pub) == 0))
        rc = 0;
    rsp_ci_store_free(cis);
    X509_free(cert);
    if (rc != 0)
        return err(EUICC_SIM_ESERVER, "serverCertificate does not chain to a CI of the eUICC: %s",
                   rsp_cert_last_reason());
    if (srv->signature1_len != 3 + RSP_SIG_LEN || srv->signature1[0] != 0x5F || srv->signature1[1] != 0x37 ||
        srv->signature1[2] != RSP_SIG_LEN ||
        rsp_sig_verify(pub, srv->signed1, srv->signed1_len, srv->signature1 + 3, RSP_SIG_LEN) != 0) {
        EVP_PKEY_free(pub);
        return err(EUICC_SIM_ESERVER, "serverSignature1 does not verify");
    }
    EVP_PKEY_free(pub);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(s->eum);
    if (srv->ci_pkid_len < 2 || srv->ci_pkid[0] != 0x04 || srv->ci_pkid[1] != srv->ci_pkid_len - 2 || !aki ||
        (size_t)ASN1_STRING_length(aki) != srv->ci_pkid_len - 2 ||
        memcmp(ASN1_STRING_get0_data(aki), srv->ci_pkid + 2, srv->ci_pkid_len - 2) != 0)
        return err(EUICC_SIM_ESERVER, "euiccCiPKIdToBeUsed is not the CI of the eUICC's chain");
    return 0;
}

int euicc_sim_authenticate(const euicc_sim *s, const euicc_sim_opts *o, const uint8_t euicc_challenge[16],
                           const char *address, const euicc_sim_server *srv, uint8_t **bf38, size_t *bf38_len)
{
    static const euicc_sim_opts none;
    if (!o)
        o = &none;
    sgp22_server_signed1 ss;
    if (sgp22_server_signed1_decode(srv->signed1, srv->signed1_len, &ss) != DER_OK)
        return err(EUICC_SIM_EINPUT, "serverSigned1 does not decode (%s)", sgp22_err_field());
    if (!o->skip_server_checks) {
        int rc = check_server(s, euicc_challenge, address, srv, &ss);
        if (rc)
            return rc;
    }
    uint8_t tid[16], challenge[16], svn[3];
    if (ss.transaction_id.len > sizeof(tid) || ss.server_challenge.len != sizeof(challenge))
        return err(EUICC_SIM_EINPUT, "ServerSigned1 sizes");
    memcpy(tid, ss.transaction_id.p, ss.transaction_id.len);
    memcpy(challenge, ss.server_challenge.p, sizeof(challenge));
    if (o->wrong_tid)
        tid[ss.transaction_id.len - 1] ^= 0x01;
    if (o->wrong_challenge)
        challenge[0] ^= 0x80;
    svn_of(o, svn);
    sgp22_bytes keys[EUICC_SIM_MAX_CI];
    size_t nkeys = ci_keys(s, keys);
    uint8_t caps[5];
    size_t caps_len = sgp22_bits_from_mask(0x7, caps);
    sgp22_euicc_info2 ei2 = {
        .profile_version = SGP22_BYTES("\x02\x03\x01", 3),
        .svn = SGP22_BYTES(svn, 3),
        .firmware_version = SGP22_BYTES("\x01\x00\x00", 3),
        .ext_card_resource = SGP22_BYTES("\x81\x01\x00\x82\x04\x00\x01\x00\x00", 9),
        .uicc_capability = SGP22_BYTES(caps, caps_len),
        .rsp_capability = SGP22_BYTES(caps, caps_len),
        .ci_pkid_verify = {.items = keys, .count = nkeys},
        .ci_pkid_sign = {.items = keys, .count = nkeys},
        .pp_version = SGP22_BYTES("\x01\x00\x00", 3),
        .sas_accreditation = SGP22_STR("TEST-SAS"),
    };
    sgp22_euicc_signed1 es1 = {
        .transaction_id = SGP22_BYTES(tid, ss.transaction_id.len),
        .server_address =
            o->signed_address ? SGP22_BYTES(o->signed_address, strlen(o->signed_address)) : ss.server_address,
        .server_challenge = SGP22_BYTES(challenge, sizeof(challenge)),
        .euicc_info2 = ei2,
        .ctx_params1 = {.choice = SGP22_CTX_COMMON_AUTH,
                        .device_info = {.tac = SGP22_BYTES("\x35\x29\x06\x11", 4)}},
    };
    if (o->matching_id)
        es1.ctx_params1.matching_id = SGP22_BYTES(o->matching_id, strlen(o->matching_id));
    der_writer w;
    der_w_init(&w);
    sgp22_euicc_signed1_encode(&w, &es1);
    uint8_t *signed1;
    size_t signed1_len;
    int rc = finish(&w, &signed1, &signed1_len);
    if (rc)
        return rc;
    uint8_t sig[RSP_SIG_LEN];
    if (rsp_sig_sign(s->key, signed1, signed1_len, sig) != 0) {
        free(signed1);
        return err(EUICC_SIM_ECRYPTO, "signing euiccSigned1 failed");
    }
    if (o->bad_signature)
        sig[10] ^= 0x04;
    sgp22_auth_server_resp asr = {.is_ok = true};
    asr.ok.euicc_signed1.raw = (der_tlv){.tag = 0x30, .raw = signed1, .raw_len = signed1_len};
    asr.ok.euicc_signature1 = SGP22_BYTES(sig, sizeof(sig));
    asr.ok.euicc_certificate = (der_tlv){.tag = 0x30, .raw = s->euicc_der, .raw_len = s->euicc_len};
    asr.ok.eum_certificate = (der_tlv){.tag = 0x30, .raw = s->eum_der, .raw_len = s->eum_len};
    der_w_init(&w);
    sgp22_auth_server_resp_encode(&w, &asr);
    rc = finish(&w, bf38, bf38_len);
    free(signed1);
    return rc;
}
