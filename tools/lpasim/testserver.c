/*
 * tools/lpasim/testserver.c - server-side test double (see testserver.h).
 * Written from the SGP.22 message layouts; it shares no code with the
 * eUICC side beyond the DER writer and the BSP/signature primitives.
 */
#include "tools/lpasim/testserver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "rsp/bsp.h"
#include "rsp/sig.h"

/* ---- PKI ---- */

static int mint(pki_kind kind, pki_curve curve, const pki_cred *issuer, pki_cred *out)
{
    pki_opts o;
    pki_opts_init(&o, kind);
    o.curve = curve;
    return pki_mint(&o, issuer, out);
}

int ts_pki_init(ts_pki *p, pki_curve curve)
{
    memset(p, 0, sizeof(*p));
    if (mint(PKI_CI, curve, NULL, &p->ci) != 0 || mint(PKI_EUM, curve, &p->ci, &p->eum) != 0 ||
        mint(PKI_EUICC, curve, &p->eum, &p->euicc) != 0 ||
        mint(PKI_DP_AUTH, curve, &p->ci, &p->dpauth) != 0 || mint(PKI_DP_PB, curve, &p->ci, &p->dppb) != 0 ||
        mint(PKI_DS_AUTH, curve, &p->ci, &p->dsauth) != 0 || mint(PKI_CI, curve, NULL, &p->rogue_ci) != 0 ||
        mint(PKI_DP_AUTH, curve, &p->rogue_ci, &p->rogue_dpauth) != 0 ||
        mint(PKI_DP_PB, curve, &p->rogue_ci, &p->rogue_dppb) != 0) {
        ts_pki_clear(p);
        return -1;
    }
    return 0;
}

void ts_pki_clear(ts_pki *p)
{
    pki_cred *all[] = {&p->ci,     &p->eum,      &p->euicc,        &p->dpauth,    &p->dppb,
                       &p->dsauth, &p->rogue_ci, &p->rogue_dpauth, &p->rogue_dppb};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        pki_cred_clear(all[i]);
}

euicc *ts_make_euicc(const ts_pki *p)
{
    euicc *e = euicc_new();
    if (!e)
        return NULL;
    if (euicc_set_identity(e, p->euicc.cert, p->euicc.key, p->eum.cert, NULL) != 0 ||
        euicc_add_ci(e, p->ci.cert) != 0) {
        euicc_free(e);
        return NULL;
    }
    return e;
}

/* ---- server ---- */

void ts_server_init(ts_server *s)
{
    memset(s, 0, sizeof(*s));
    s->tid_len = 16;
    RAND_bytes(s->tid, 16);
    RAND_bytes(s->server_challenge, 16);
    snprintf(s->address, sizeof(s->address), "%s", PKI_DEFAULT_DP_FQDN);
}

void ts_server_clear(ts_server *s)
{
    EVP_PKEY_free(s->otk);
    s->otk = NULL;
}

static int cert_to(der_writer *w, X509 *c)
{
    unsigned char *der = NULL;
    int n = i2d_X509(c, &der);
    if (n <= 0)
        return -1;
    der_w_raw(w, der, (size_t)n);
    OPENSSL_free(der);
    return 0;
}

int ts_auth_request(ts_server *s, const uint8_t euicc_challenge[16], const char *matching_id, der_writer *w)
{
    uint8_t challenge[16];
    memcpy(challenge, euicc_challenge, 16);
    if (s->wrong_euicc_challenge)
        challenge[5] ^= 0x40;
    der_writer ss1;
    der_w_init(&ss1);
    der_w_begin(&ss1, 0x30);
    der_w_tlv(&ss1, 0x80, s->tid, s->tid_len);
    der_w_tlv(&ss1, 0x81, challenge, 16);
    der_w_tlv(&ss1, 0x83, s->address, strlen(s->address));
    der_w_tlv(&ss1, 0x84, s->server_challenge, 16);
    der_w_end(&ss1);
    uint8_t sig[64];
    if (der_w_finish(&ss1) != 0 || rsp_sig_sign(s->auth_key, ss1.buf, ss1.len, sig) != 0) {
        der_w_free(&ss1);
        return -1;
    }
    if (s->bad_server_signature1)
        sig[10] ^= 0x01;
    const uint8_t *ski = s->ci_ski;
    size_t ski_len = s->ci_ski_len;
    if (!ski) {
        const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(s->auth_cert);
        if (!aki) {
            der_w_free(&ss1);
            return -1;
        }
        ski = ASN1_STRING_get0_data(aki);
        ski_len = (size_t)ASN1_STRING_length(aki);
    }
    der_w_begin(w, 0xBF38);
    der_w_raw(w, ss1.buf, ss1.len);
    der_w_tlv(w, 0x5F37, sig, 64);
    der_w_tlv(w, 0x04, ski, ski_len);
    cert_to(w, s->auth_cert);
    /* ctxParams1: ctxParamsForCommonAuthentication { matchingId?, deviceInfo { tac, capabilities } } */
    static const uint8_t tac[4] = {0x35, 0x29, 0x06, 0x11};
    der_w_begin(w, 0xA0);
    if (matching_id)
        der_w_tlv(w, 0x80, matching_id, strlen(matching_id));
    der_w_begin(w, 0xA1);
    der_w_tlv(w, 0x80, tac, 4);
    der_w_begin(w, 0xA1);
    der_w_end(w);
    der_w_end(w);
    der_w_end(w);
    der_w_end(w);
    der_w_free(&ss1);
    return der_w_finish(w);
}

/* Reads the children of a TLV into an array; returns how many (max n). */
static size_t children(const der_tlv *t, der_tlv *out, size_t n)
{
    der_reader r;
    size_t k = 0;
    der_reader_of(&r, t);
    while (k < n && der_next(&r, &out[k]) == 0)
        k++;
    return k;
}

int ts_check_auth_response(ts_server *s, X509 *ci, const uint8_t *resp, size_t len)
{
    der_tlv top, ok, f[4], sf[5];
    if (der_parse_exact(resp, len, &top) != 0 || top.tag != 0xBF38 || children(&top, &ok, 1) != 1 ||
        ok.tag != 0xA0 || children(&ok, f, 4) != 4)
        return -1;
    /* euiccSigned1 { 80 tid, 83 address, 84 serverChallenge, BF22, A0 ctx } */
    if (children(&f[0], sf, 5) != 5 || sf[0].tag != 0x80 || sf[0].len != s->tid_len ||
        memcmp(sf[0].value, s->tid, s->tid_len) != 0 || sf[1].tag != 0x83 ||
        sf[1].len != strlen(s->address) || memcmp(sf[1].value, s->address, sf[1].len) != 0 ||
        sf[2].tag != 0x84 || sf[2].len != 16 || memcmp(sf[2].value, s->server_challenge, 16) != 0 ||
        sf[3].tag != 0xBF22 || sf[4].tag != 0xA0)
        return -1;
    if (f[1].tag != 0x5F37 || f[1].len != 64)
        return -1;
    const unsigned char *p = f[2].raw;
    X509 *euicc_cert = d2i_X509(NULL, &p, (long)f[2].raw_len);
    p = f[3].raw;
    X509 *eum = d2i_X509(NULL, &p, (long)f[3].raw_len);
    int rc = -1;
    if (euicc_cert && eum && X509_verify(eum, X509_get0_pubkey(ci)) == 1 &&
        X509_verify(euicc_cert, X509_get0_pubkey(eum)) == 1 &&
        rsp_sig_verify(X509_get0_pubkey(euicc_cert), f[0].raw, f[0].raw_len, f[1].value, 64) == 0) {
        memcpy(s->euicc_signature1, f[1].value, 64);
        rc = 0;
    }
    X509_free(euicc_cert);
    X509_free(eum);
    return rc;
}

int ts_prepare_request(ts_server *s, const uint8_t *hash_cc, der_writer *w)
{
    der_writer ss2;
    der_w_init(&ss2);
    der_w_begin(&ss2, 0x30);
    if (s->ss2_tid)
        der_w_tlv(&ss2, 0x80, s->ss2_tid, s->ss2_tid_len);
    else
        der_w_tlv(&ss2, 0x80, s->tid, s->tid_len);
    der_w_bool(&ss2, 0x01, s->cc_required);
    if (s->bpp_euicc_otpk)
        der_w_tlv(&ss2, 0x5F49, s->bpp_euicc_otpk, 65);
    der_w_end(&ss2);
    uint8_t tlv[67] = {0x5F, 0x37, 0x40}, sig[64];
    memcpy(tlv + 3, s->euicc_signature1, 64);
    if (der_w_finish(&ss2) != 0 || rsp_sig_sign2(s->pb_key, ss2.buf, ss2.len, tlv, sizeof(tlv), sig) != 0) {
        der_w_free(&ss2);
        return -1;
    }
    if (s->bad_smdp_signature2)
        sig[63] ^= 0x80;
    memcpy(s->smdp_signature2, sig, 64);
    der_w_begin(w, 0xBF21);
    der_w_raw(w, ss2.buf, ss2.len);
    der_w_tlv(w, 0x5F37, sig, 64);
    if (hash_cc)
        der_w_tlv(w, 0x04, hash_cc, 32);
    cert_to(w, s->pb_cert);
    der_w_end(w);
    der_w_free(&ss2);
    return der_w_finish(w);
}

int ts_check_prepare_response(ts_server *s, X509 *euicc_cert, const uint8_t *resp, size_t len)
{
    der_tlv top, ok, f[2], sf[3];
    if (der_parse_exact(resp, len, &top) != 0 || top.tag != 0xBF21 || children(&top, &ok, 1) != 1 ||
        ok.tag != 0xA0 || children(&ok, f, 2) != 2 || f[1].tag != 0x5F37 || f[1].len != 64)
        return -1;
    size_t n = children(&f[0], sf, 3);
    if (n < 2 || sf[0].tag != 0x80 || sf[0].len != s->tid_len ||
        memcmp(sf[0].value, s->tid, s->tid_len) != 0 || sf[1].tag != 0x5F49 || sf[1].len != 65)
        return -1;
    /* euiccSignature2 covers euiccSigned2 || 5F37 smdpSignature2. */
    uint8_t tlv[67] = {0x5F, 0x37, 0x40};
    memcpy(tlv + 3, s->smdp_signature2, 64);
    if (rsp_sig_verify2(X509_get0_pubkey(euicc_cert), f[0].raw, f[0].raw_len, tlv, sizeof(tlv), f[1].value,
                        64) != 0)
        return -1;
    memcpy(s->euicc_otpk, sf[1].value, 65);
    return 0;
}

/* ---- BPP ---- */

static int wrap_list(rsp_bsp *st, uint8_t list_tag, uint8_t seg_tag, const uint8_t *pt, size_t len,
                     size_t max_plain, der_writer *w)
{
    rsp_bsp_buf b;
    rsp_bsp_buf_init(&b);
    size_t nseg = 0;
    if (rsp_bsp_wrap_split_at(st, seg_tag, pt, len, max_plain, &b, &nseg) != 0) {
        rsp_bsp_buf_free(&b);
        return -1;
    }
    der_w_begin(w, list_tag);
    der_w_raw(w, b.data, b.len);
    der_w_end(w);
    rsp_bsp_buf_free(&b);
    return w->err;
}

/* Locates the segments and smdpSign of a finished BPP. */
static void find_segments(const uint8_t *bpp, size_t len, ts_segments *segs)
{
    der_tlv top, part, seg;
    der_reader r, rs;
    if (der_parse(bpp, len, &top) != 0)
        return;
    der_reader_of(&r, &top);
    while (der_next(&r, &part) == 0) {
        if (part.tag == 0xBF23) {
            der_tlv f;
            der_reader_of(&rs, &part);
            if (der_find(&rs, 0x5F37, &f) == 1)
                segs->bf23_sig_off = (size_t)(f.value - bpp);
            continue;
        }
        if (part.tag < 0xA0 || part.tag > 0xA3)
            continue;
        int idx = (int)(part.tag - 0xA0);
        der_reader_of(&rs, &part);
        while (segs->n[idx] < 256 && der_next(&rs, &seg) == 0) {
            segs->off[idx][segs->n[idx]] = (size_t)(seg.raw - bpp);
            segs->len[idx][segs->n[idx]] = seg.raw_len;
            segs->n[idx]++;
        }
    }
}

int ts_bind_parts(ts_server *s, const char *eid, const uint8_t *cfg, size_t cfg_len, const uint8_t *meta,
                  size_t meta_len, const uint8_t *rsk, size_t rsk_len, const rsp_bsp_keys *ppk,
                  const uint8_t *pkg, size_t pkg_len, der_writer *w, ts_segments *segs)
{
    if (segs)
        memset(segs, 0, sizeof(*segs));
    uint8_t eid_bin[16];
    for (int i = 0; i < 16; i++)
        eid_bin[i] = (uint8_t)((eid[2 * i] - '0') << 4 | (eid[2 * i + 1] - '0'));
    EVP_PKEY_free(s->otk);
    s->otk = NULL;
    uint8_t otpk[65], z[32];
    rsp_bsp_keys keys;
    static const uint8_t host_id[] = "LPASIM-TEST-HOST";
    if (rsp_ecka_generate_like(X509_get0_pubkey(s->pb_cert), &s->otk) != 0 ||
        rsp_ecka_public(s->otk, otpk) != 0 || rsp_ecka_shared(s->otk, s->euicc_otpk, 65, z) != 0 ||
        rsp_bsp_kdf(z, sizeof(z), host_id, 16, eid_bin, &keys) != 0)
        return -1;

    /* InitialiseSecureChannel: signed fields, then smdpSign over them || 5F49 otPK.EUICC. */
    der_writer f;
    der_w_init(&f);
    der_w_int(&f, 0x82, 1);
    if (s->bf23_tid)
        der_w_tlv(&f, 0x80, s->bf23_tid, s->bf23_tid_len);
    else
        der_w_tlv(&f, 0x80, s->tid, s->tid_len);
    der_w_begin(&f, 0xA6);
    der_w_tlv(&f, 0x80, (const uint8_t[]){RSP_BSP_KEY_TYPE_AES}, 1);
    der_w_tlv(&f, 0x81, (const uint8_t[]){RSP_BSP_KEY_LEN_CODE}, 1);
    der_w_tlv(&f, 0x84, host_id, 16);
    der_w_end(&f);
    der_w_tlv(&f, 0x5F49, otpk, 65);
    uint8_t otpk_tlv[68] = {0x5F, 0x49, 0x41}, sig[64];
    memcpy(otpk_tlv + 3, s->euicc_otpk, 65);
    rsp_bsp st;
    rsp_bsp_init(&st, &keys);
    int rc = -1;
    if (der_w_finish(&f) != 0 || rsp_sig_sign2(s->pb_key, f.buf, f.len, otpk_tlv, sizeof(otpk_tlv), sig) != 0)
        goto out;
    if (s->bad_smdp_sign)
        sig[0] ^= 0x02;
    der_w_begin(w, 0xBF36);
    der_w_begin(w, 0xBF23);
    der_w_raw(w, f.buf, f.len);
    der_w_tlv(w, 0x5F37, sig, 64);
    der_w_end(w);
    if (wrap_list(&st, 0xA0, RSP_BSP_TAG_ENC, cfg, cfg_len, 0, w) != 0 ||
        wrap_list(&st, 0xA1, RSP_BSP_TAG_MAC, meta, meta_len, 0, w) != 0)
        goto out;
    if (rsk) {
        if (wrap_list(&st, 0xA2, RSP_BSP_TAG_ENC, rsk, rsk_len, 0, w) != 0)
            goto out;
        if (ppk)
            rsp_bsp_init(&st, ppk);
    }
    if (wrap_list(&st, 0xA3, RSP_BSP_TAG_UPP, pkg, pkg_len, s->upp_plain, w) != 0)
        goto out;
    der_w_end(w);
    rc = der_w_finish(w);
    if (rc == 0 && segs)
        find_segments(w->buf, w->len, segs);
out:
    rsp_bsp_clear(&st);
    rsp_bsp_keys_clear(&keys);
    der_w_free(&f);
    return rc;
}

int ts_metadata(const ts_server *s, const uint8_t iccid[10], der_writer *w)
{
    der_w_begin(w, 0xBF25);
    der_w_tlv(w, 0x5A, iccid, 10);
    der_w_tlv(w, 0x91, "LPASIM Operator", 15);
    der_w_tlv(w, 0x92, "LPASIM Test Profile", 19);
    der_w_int(w, 0x95, 2);
    der_w_begin(w, 0xB6);
    der_w_begin(w, 0x30);
    der_w_tlv(w, 0x80, (const uint8_t[]){0x04, 0x70}, 2); /* enable, disable, delete */
    der_w_tlv(w, 0x81, s->address, strlen(s->address));
    der_w_end(w);
    der_w_end(w);
    der_w_end(w);
    return w->err;
}

int ts_bind(ts_server *s, const char *eid, const uint8_t *pkg, size_t pkg_len, der_writer *w,
            ts_segments *segs)
{
    uint8_t iccid[10];
    if (s->meta_iccid)
        memcpy(iccid, s->meta_iccid, 10);
    else if (euicc_package_iccid(pkg, pkg_len, iccid) != 0)
        return -1;
    der_writer cfg, meta, rsk;
    der_w_init(&cfg);
    der_w_init(&meta);
    der_w_init(&rsk);
    der_w_begin(&cfg, 0xBF24);
    der_w_begin(&cfg, 0xB8);
    static const uint8_t dp_oid[] = {0x87, 0x67, 0x0A}; /* 2.999.10 */
    der_w_tlv(&cfg, 0x80, dp_oid, sizeof(dp_oid));
    der_w_end(&cfg);
    der_w_end(&cfg);
    ts_metadata(s, iccid, &meta);
    rsp_bsp_keys ppk;
    RAND_bytes(ppk.s_enc, 16);
    RAND_bytes(ppk.s_mac, 16);
    RAND_bytes(ppk.mcv, 16);
    der_w_begin(&rsk, 0xBF26);
    der_w_tlv(&rsk, 0x80, ppk.mcv, 16);
    der_w_tlv(&rsk, 0x81, ppk.s_enc, 16);
    der_w_tlv(&rsk, 0x82, ppk.s_mac, 16);
    der_w_end(&rsk);
    int rc = -1;
    if (der_w_finish(&cfg) == 0 && der_w_finish(&meta) == 0 && der_w_finish(&rsk) == 0)
        rc = ts_bind_parts(s, eid, cfg.buf, cfg.len, meta.buf, meta.len, s->use_ppk ? rsk.buf : NULL, rsk.len,
                           &ppk, pkg, pkg_len, w, segs);
    rsp_bsp_keys_clear(&ppk);
    der_w_free(&cfg);
    der_w_free(&meta);
    der_w_free(&rsk);
    return rc;
}

int ts_synthetic_package(const char *iccid, size_t n_filler, size_t filler_len, der_writer *w)
{
    /* ProfileHeader [0] { major 80, minor 81, profileType 82, iccid 83 (as printed, F padded) } */
    uint8_t bcd[10];
    size_t n = strlen(iccid);
    if (n > 20)
        return -1;
    for (size_t i = 0; i < 20; i++) {
        uint8_t d = i < n ? (uint8_t)(iccid[i] - '0') : 0xF;
        if (i % 2 == 0)
            bcd[i / 2] = (uint8_t)(d << 4);
        else
            bcd[i / 2] |= d;
    }
    der_w_begin(w, 0xA0);
    der_w_tlv(w, 0x80, (const uint8_t[]){2}, 1);
    der_w_tlv(w, 0x81, (const uint8_t[]){3}, 1);
    der_w_tlv(w, 0x82, "lpasim synthetic", 16);
    der_w_tlv(w, 0x83, bcd, 10);
    der_w_end(w);
    uint8_t *fill = malloc(filler_len ? filler_len : 1);
    if (!fill)
        return -1;
    for (size_t k = 0; k < n_filler; k++) {
        for (size_t i = 0; i < filler_len; i++)
            fill[i] = (uint8_t)(i * 7 + k);
        /* genericFileManagement-like element: [PRIVATE 0] constructed holding an octet string */
        der_w_begin(w, 0xA8);
        der_w_tlv(w, 0x04, fill, filler_len);
        der_w_end(w);
    }
    free(fill);
    return der_w_finish(w);
}

int ts_run_to_bpp(ts_server *s, euicc *e, X509 *ci)
{
    uint8_t ch[16];
    der_writer req, resp;
    euicc_error err;
    int rc = -1;
    der_w_init(&req);
    der_w_init(&resp);
    if (euicc_get_challenge(e, ch) != 0 || ts_auth_request(s, ch, NULL, &req) != 0 ||
        euicc_authenticate_server(e, req.buf, req.len, s->address, &resp, &err) != 0 ||
        ts_check_auth_response(s, ci, resp.buf, resp.len) != 0)
        goto out;
    der_w_free(&req);
    der_w_free(&resp);
    der_w_init(&req);
    der_w_init(&resp);
    if (ts_prepare_request(s, NULL, &req) != 0 ||
        euicc_prepare_download(e, req.buf, req.len, &resp, &err) != 0 ||
        ts_check_prepare_response(s, euicc_certificate(e), resp.buf, resp.len) != 0)
        goto out;
    rc = 0;
out:
    der_w_free(&req);
    der_w_free(&resp);
    return rc;
}
