/*
 * Fuzz target: the eUICC's parsers of server messages.  The first input byte
 * picks what the rest is:
 *   0  AuthenticateServerRequest (BF38), after GetEUICCChallenge
 *   1  serverSigned1, signed here with CERT.DPauth's key so that the eUICC
 *      gets past the signature and parses it fully
 *   2  PrepareDownloadRequest (BF21), after a genuine AuthenticateServer
 *   3  BoundProfilePackage (BF36), after a genuine PrepareDownload
 *   4  BPP plaintexts, bound here with genuine session keys and smdpSign:
 *      u16 length + ConfigureISDP, u16 length + StoreMetadata, u8 flag
 *      (bit 0: ReplaceSessionKeys present) [+ u16 length + BF26], rest =
 *      profile package
 * Whatever the input, the eUICC must not crash, and any response it writes
 * must be well-formed DER of the right outer tag.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "asn1/der.h"
#include "rsp/sig.h"
#include "tools/lpasim/euicc.h"
#include "tools/lpasim/testserver.h"

static ts_pki pki;
static bool ready;

static void must(bool ok)
{
    if (!ok)
        abort();
}

static void check_response(int rc, const der_writer *w, uint32_t tag)
{
    der_tlv t;
    if (rc == EUICC_OK || rc == EUICC_EREFUSED) {
        must(der_validate(w->buf, w->len) == DER_OK);
        must(der_parse_exact(w->buf, w->len, &t) == DER_OK && t.tag == tag);
    } else {
        must(w->len == 0);
    }
}

static void server(ts_server *s)
{
    ts_server_init(s);
    s->auth_cert = pki.dpauth.cert;
    s->auth_key = pki.dpauth.key;
    s->pb_cert = pki.dppb.cert;
    s->pb_key = pki.dppb.key;
}

static int authenticate(euicc *e, ts_server *s)
{
    uint8_t ch[16];
    der_writer req, resp;
    euicc_error err;
    der_w_init(&req);
    der_w_init(&resp);
    int rc = -1;
    if (euicc_get_challenge(e, ch) == 0 && ts_auth_request(s, ch, NULL, &req) == 0 &&
        euicc_authenticate_server(e, req.buf, req.len, s->address, &resp, &err) == EUICC_OK &&
        ts_check_auth_response(s, pki.ci.cert, resp.buf, resp.len) == 0)
        rc = 0;
    der_w_free(&req);
    der_w_free(&resp);
    return rc;
}

/* Mode 1: wrap the fuzzed serverSigned1 into a correctly signed BF38. */
static void signed_server_signed1(euicc *e, const uint8_t *d, size_t n)
{
    uint8_t ch[16], sig[64];
    der_writer req, resp;
    euicc_error err;
    der_w_init(&req);
    der_w_init(&resp);
    must(euicc_get_challenge(e, ch) == 0);
    unsigned char *cert = NULL;
    int clen = i2d_X509(pki.dpauth.cert, &cert);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(pki.dpauth.cert);
    must(clen > 0 && aki && rsp_sig_sign(pki.dpauth.key, d, n, sig) == 0);
    der_w_begin(&req, 0xBF38);
    der_w_raw(&req, d, n);
    der_w_tlv(&req, 0x5F37, sig, 64);
    der_w_tlv(&req, 0x04, ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki));
    der_w_raw(&req, cert, (size_t)clen);
    static const uint8_t ctx[] = {0xA0, 0x08, 0xA1, 0x06, 0x80, 0x04, 0x35, 0x29, 0x06, 0x11};
    der_w_raw(&req, ctx, sizeof(ctx));
    der_w_end(&req);
    OPENSSL_free(cert);
    if (der_w_finish(&req) == 0) {
        int rc = euicc_authenticate_server(e, req.buf, req.len, PKI_DEFAULT_DP_FQDN, &resp, &err);
        check_response(rc, &resp, 0xBF38);
    }
    der_w_free(&req);
    der_w_free(&resp);
}

static bool take(const uint8_t **d, size_t *n, const uint8_t **out, size_t *outlen)
{
    if (*n < 2)
        return false;
    size_t len = (size_t)(*d)[0] << 8 | (*d)[1];
    if (len > *n - 2)
        len = *n - 2;
    *out = *d + 2;
    *outlen = len;
    *d += 2 + len;
    *n -= 2 + len;
    return true;
}

static void bpp_parts(euicc *e, ts_server *s, const uint8_t *d, size_t n)
{
    const uint8_t *cfg, *meta, *rsk = NULL;
    size_t cfg_len, meta_len, rsk_len = 0;
    if (!take(&d, &n, &cfg, &cfg_len) || !take(&d, &n, &meta, &meta_len) || n < 1)
        return;
    bool has_rsk = d[0] & 1;
    d++;
    n--;
    if (has_rsk && !take(&d, &n, &rsk, &rsk_len))
        return;
    /* If the fuzzed ReplaceSessionKeys carries keys, protect the package with them. */
    rsp_bsp_keys ppk, *pp = NULL;
    der_tlv t, f[3];
    der_reader r;
    if (rsk && der_parse_exact(rsk, rsk_len, &t) == 0 && t.tag == 0xBF26) {
        der_reader_of(&r, &t);
        if (der_expect(&r, 0x80, &f[0]) == 0 && der_expect(&r, 0x81, &f[1]) == 0 &&
            der_expect(&r, 0x82, &f[2]) == 0 && f[0].len == 16 && f[1].len == 16 && f[2].len == 16) {
            memcpy(ppk.mcv, f[0].value, 16);
            memcpy(ppk.s_enc, f[1].value, 16);
            memcpy(ppk.s_mac, f[2].value, 16);
            pp = &ppk;
        }
    }
    der_writer bpp, pir;
    der_w_init(&bpp);
    der_w_init(&pir);
    euicc_error err;
    if (ts_bind_parts(s, euicc_eid(e), cfg, cfg_len, meta, meta_len, has_rsk ? rsk : NULL, rsk_len, pp, d, n,
                      &bpp, NULL) == 0) {
        int rc = euicc_load_bpp(e, bpp.buf, bpp.len, &pir, NULL, &err);
        check_response(rc, &pir, 0xBF37);
    }
    der_w_free(&bpp);
    der_w_free(&pir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        must(ts_pki_init(&pki, PKI_CURVE_NIST) == 0);
        ready = true;
    }
    if (size < 1 || size > 65536)
        return 0;
    int mode = data[0] % 5;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    euicc *e = ts_make_euicc(&pki);
    must(e != NULL);
    ts_server s;
    server(&s);
    der_writer resp;
    der_w_init(&resp);
    euicc_error err;
    uint8_t ch[16];
    int rc;
    switch (mode) {
    case 0:
        must(euicc_get_challenge(e, ch) == 0);
        rc = euicc_authenticate_server(e, d, n, PKI_DEFAULT_DP_FQDN, &resp, &err);
        check_response(rc, &resp, 0xBF38);
        break;
    case 1:
        signed_server_signed1(e, d, n);
        break;
    case 2:
        must(authenticate(e, &s) == 0);
        rc = euicc_prepare_download(e, d, n, &resp, &err);
        check_response(rc, &resp, 0xBF21);
        break;
    case 3:
        must(ts_run_to_bpp(&s, e, pki.ci.cert) == 0);
        rc = euicc_load_bpp(e, d, n, &resp, NULL, &err);
        check_response(rc, &resp, 0xBF37);
        break;
    default:
        must(ts_run_to_bpp(&s, e, pki.ci.cert) == 0);
        bpp_parts(e, &s, d, n);
        break;
    }
    der_w_free(&resp);
    ts_server_clear(&s);
    euicc_free(e);
    return 0;
}
