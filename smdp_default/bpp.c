#include "smdp_default/bpp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "asn1/sgp22.h"
#include "rsp/bsp.h"
#include "rsp/codec.h"
#include "rsp/keyfile.h"
#include "rsp/sig.h"
#include "smdp_default/eckey.h"
#include "smdp_default/profile.h"

#define SEAL_VERSION 0x01
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16

const char *smdp_bpp_strerror(int err)
{
    switch (err) {
    case SMDP_BPP_OK:
        return "ok";
    case SMDP_BPP_EINVAL:
        return "invalid argument";
    case SMDP_BPP_ENOMEM:
        return "out of memory";
    case SMDP_BPP_ECRYPTO:
        return "cryptographic failure";
    case SMDP_BPP_ESEAL:
        return "sealed key blob refused";
    case SMDP_BPP_EKEYFILE:
        return "master key file missing, malformed or not private";
    case SMDP_BPP_ESIGN:
        return "signing failed";
    case SMDP_BPP_EPOINT:
        return "one-time public key is not a valid point";
    default:
        return "unknown error";
    }
}

/* ---- master key ---- */

void smdp_mkey_set(smdp_mkey *mk, const uint8_t key[SMDP_MKEY_LEN])
{
    memcpy(mk->k, key, SMDP_MKEY_LEN);
}

void smdp_mkey_wipe(smdp_mkey *mk)
{
    OPENSSL_cleanse(mk->k, sizeof(mk->k));
}

static int mkey_create(const char *path)
{
    uint8_t key[SMDP_MKEY_LEN];
    char line[2 * SMDP_MKEY_LEN + 2];
    size_t n = 0;
    if (RAND_bytes(key, sizeof(key)) != 1)
        return SMDP_BPP_ECRYPTO;
    rsp_hex_encode(key, sizeof(key), line, sizeof(line), &n);
    OPENSSL_cleanse(key, sizeof(key));
    line[n++] = '\n';
    int rc = rsp_keyfile_create(path, line, n) == 0 ? SMDP_BPP_OK : SMDP_BPP_EKEYFILE;
    OPENSSL_cleanse(line, sizeof(line));
    return rc;
}

int smdp_mkey_load(smdp_mkey *mk, const char *path, int create)
{
    memset(mk, 0, sizeof(*mk));
    if (create && access(path, F_OK) != 0 && errno == ENOENT) {
        int rc = mkey_create(path);
        if (rc)
            return rc;
    }
    char buf[2 * SMDP_MKEY_LEN + 3];
    size_t n = 0;
    if (rsp_keyfile_read(path, buf, sizeof(buf), &n) != 0)
        return SMDP_BPP_EKEYFILE;
    int rc = SMDP_BPP_EKEYFILE;
    size_t got = 0;
    if ((n == 2 * SMDP_MKEY_LEN || (n == 2 * SMDP_MKEY_LEN + 1 && buf[2 * SMDP_MKEY_LEN] == '\n')) &&
        rsp_hex_decode(buf, 2 * SMDP_MKEY_LEN, mk->k, sizeof(mk->k), &got) == RSP_CODEC_OK &&
        got == SMDP_MKEY_LEN)
        rc = SMDP_BPP_OK;
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc)
        smdp_mkey_wipe(mk);
    return rc;
}

/* ---- sealing (AES-256-GCM) ---- */

static int gcm_aad(EVP_CIPHER_CTX *c, uint8_t ver, const char *purpose, const char *context)
{
    int n;
    static const uint8_t zero = 0;
    return EVP_CipherUpdate(c, NULL, &n, &ver, 1) == 1 &&
           EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)purpose, (int)strlen(purpose)) == 1 &&
           EVP_CipherUpdate(c, NULL, &n, &zero, 1) == 1 &&
           EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)context, (int)strlen(context)) == 1;
}

int smdp_seal(const smdp_mkey *mk, const char *purpose, const char *context, const uint8_t *pt, size_t len,
              uint8_t *out, size_t cap, size_t *out_len)
{
    if (!mk || !purpose || !context || (!pt && len) || !out || len > INT32_MAX ||
        cap < len + SMDP_SEAL_OVERHEAD)
        return SMDP_BPP_EINVAL;
    uint8_t *nonce = out + 1, *ct = out + 1 + SEAL_NONCE_LEN, *tag = ct + len;
    out[0] = SEAL_VERSION;
    if (RAND_bytes(nonce, SEAL_NONCE_LEN) != 1)
        return SMDP_BPP_ECRYPTO;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n, ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, mk->k, nonce) == 1 &&
                gcm_aad(c, SEAL_VERSION, purpose, context) &&
                (len == 0 || EVP_EncryptUpdate(c, ct, &n, pt, (int)len) == 1) &&
                EVP_EncryptFinal_ex(c, ct + len, &n) == 1 &&
                EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        OPENSSL_cleanse(out, len + SMDP_SEAL_OVERHEAD);
        return SMDP_BPP_ECRYPTO;
    }
    *out_len = len + SMDP_SEAL_OVERHEAD;
    return SMDP_BPP_OK;
}

int smdp_unseal(const smdp_mkey *mk, const char *purpose, const char *context, const uint8_t *blob,
                size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!mk || !purpose || !context || !blob || !out)
        return SMDP_BPP_EINVAL;
    if (len < SMDP_SEAL_OVERHEAD || blob[0] != SEAL_VERSION || len - SMDP_SEAL_OVERHEAD > INT32_MAX)
        return SMDP_BPP_ESEAL;
    size_t ptlen = len - SMDP_SEAL_OVERHEAD;
    if (cap < ptlen)
        return SMDP_BPP_EINVAL;
    const uint8_t *nonce = blob + 1, *ct = blob + 1 + SEAL_NONCE_LEN, *tag = ct + ptlen;
    uint8_t tagbuf[SEAL_TAG_LEN];
    memcpy(tagbuf, tag, sizeof(tagbuf));
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return SMDP_BPP_ENOMEM;
    int n, rc = SMDP_BPP_ESEAL;
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, mk->k, nonce) == 1 &&
        gcm_aad(c, blob[0], purpose, context) &&
        (ptlen == 0 || EVP_DecryptUpdate(c, out, &n, ct, (int)ptlen) == 1) &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tagbuf) == 1 &&
        EVP_DecryptFinal_ex(c, out + ptlen, &n) == 1)
        rc = SMDP_BPP_OK;
    EVP_CIPHER_CTX_free(c);
    if (rc)
        OPENSSL_cleanse(out, ptlen);
    else
        *out_len = ptlen;
    return rc;
}

/* ---- protected profile ---- */

int smdp_ppp_protect(const smdp_mkey *mk, const char *iccid, const uint8_t *upp, size_t len, smdp_ppp *out)
{
    memset(out, 0, sizeof(*out));
    if (!mk || !smdp_iccid_valid(iccid) || !upp || len == 0)
        return SMDP_BPP_EINVAL;

    uint8_t ppk[SMDP_PPK_LEN];
    rsp_bsp_keys keys;
    rsp_bsp st;
    rsp_bsp_buf seg;
    rsp_bsp_buf_init(&seg);
    int rc = SMDP_BPP_ECRYPTO;
    if (RAND_bytes(ppk, sizeof(ppk)) != 1)
        goto out;
    memcpy(keys.s_enc, ppk, 16);
    memcpy(keys.s_mac, ppk + 16, 16);
    memcpy(keys.mcv, ppk + 32, 16);
    rsp_bsp_init(&st, &keys);
    int brc = rsp_bsp_wrap_split(&st, RSP_BSP_TAG_UPP, upp, len, &seg, &out->segments);
    rsp_bsp_clear(&st);
    if (brc) {
        rc = brc == RSP_BSP_ENOMEM ? SMDP_BPP_ENOMEM : SMDP_BPP_ECRYPTO;
        goto out;
    }
    size_t blen;
    rc = smdp_seal(mk, "ppk", iccid, ppk, sizeof(ppk), out->ppk_blob, sizeof(out->ppk_blob), &blen);
    if (rc)
        goto out;
    /* segments are ciphertext: hand the buffer over without a copy */
    out->seq86 = seg.data;
    out->seq86_len = seg.len;
    rsp_bsp_buf_init(&seg);
out:
    OPENSSL_cleanse(ppk, sizeof(ppk));
    rsp_bsp_keys_clear(&keys);
    rsp_bsp_buf_free(&seg);
    if (rc)
        smdp_ppp_free(out);
    return rc;
}

void smdp_ppp_free(smdp_ppp *p)
{
    if (!p)
        return;
    free(p->seq86);
    memset(p, 0, sizeof(*p));
}

/* ---- one-time key ---- */

#define OTSK_RAW 0x02 /* first octet of the raw form; DER (earlier versions) starts with 30 */

int smdp_otsk_seal(const smdp_mkey *mk, const char *iccid, EVP_PKEY *key, uint8_t **blob, size_t *len)
{
    *blob = NULL;
    if (!mk || !iccid || !key)
        return SMDP_BPP_EINVAL;
    /* the raw values: DER would go through OpenSSL's encoder, many times slower */
    uint8_t pt[SMDP_EC_POINT_MAX + SMDP_EC_SCALAR_MAX + SMDP_EC_CURVE_MAX + 3];
    size_t n = 0, cl, dl, pl;
    char curve[SMDP_EC_CURVE_MAX + 1];
    uint8_t point[SMDP_EC_POINT_MAX];
    if (smdp_eckey_export_pub(key, point, sizeof(point), &pl, curve, sizeof(curve)) != 0)
        return SMDP_BPP_ECRYPTO;
    cl = strlen(curve);
    pt[n++] = OTSK_RAW;
    pt[n++] = (uint8_t)cl;
    memcpy(pt + n, curve, cl);
    n += cl;
    if (smdp_eckey_export_priv(key, pt + n + 1, SMDP_EC_SCALAR_MAX, &dl) != 0)
        return SMDP_BPP_ECRYPTO;
    pt[n++] = (uint8_t)dl;
    n += dl;
    memcpy(pt + n, point, pl);
    n += pl;
    size_t cap = n + SMDP_SEAL_OVERHEAD;
    uint8_t *b = malloc(cap);
    int rc = b ? smdp_seal(mk, "otsk", iccid, pt, n, b, cap, len) : SMDP_BPP_ENOMEM;
    OPENSSL_cleanse(pt, sizeof(pt));
    if (rc) {
        free(b);
        return rc;
    }
    *blob = b;
    return SMDP_BPP_OK;
}

/* 02 || len || curve || len || scalar || point -> the key pair, or NULL. */
static EVP_PKEY *otsk_raw(const uint8_t *p, size_t n)
{
    if (n < 3)
        return NULL;
    size_t cl = p[1];
    if (cl == 0 || cl > SMDP_EC_CURVE_MAX || n < 3 + cl)
        return NULL;
    char curve[SMDP_EC_CURVE_MAX + 1];
    memcpy(curve, p + 2, cl);
    curve[cl] = '\0';
    size_t dl = p[2 + cl];
    if (strlen(curve) != cl || dl == 0 || n <= 3 + cl + dl)
        return NULL;
    const uint8_t *d = p + 3 + cl;
    EVP_PKEY *key = smdp_eckey_from_priv(curve, d, dl, d + dl, n - (3 + cl + dl));
    /* the point is taken as given: it must be the scalar's (a rebind is rare, the check is cheap there) */
    EVP_PKEY_CTX *c = key ? EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL) : NULL;
    if (!c || EVP_PKEY_pairwise_check(c) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(c);
    return key;
}

int smdp_otsk_unseal(const smdp_mkey *mk, const char *iccid, const uint8_t *blob, size_t len, EVP_PKEY **key)
{
    *key = NULL;
    if (!blob || len < SMDP_SEAL_OVERHEAD)
        return SMDP_BPP_ESEAL;
    size_t cap = len - SMDP_SEAL_OVERHEAD, dlen;
    uint8_t *der = malloc(cap ? cap : 1);
    if (!der)
        return SMDP_BPP_ENOMEM;
    int rc = smdp_unseal(mk, "otsk", iccid, blob, len, der, cap, &dlen);
    if (rc == SMDP_BPP_OK && dlen > 0 && der[0] == OTSK_RAW) {
        *key = otsk_raw(der, dlen);
        if (!*key)
            rc = SMDP_BPP_ESEAL;
    } else if (rc == SMDP_BPP_OK) {
        const uint8_t *p = der;
        *key = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, (long)dlen);
        if (!*key || p != der + dlen) {
            EVP_PKEY_free(*key);
            *key = NULL;
            rc = SMDP_BPP_ESEAL;
        }
    }
    OPENSSL_clear_free(der, cap ? cap : 1);
    return rc;
}

/* ---- metadata ---- */

/* Well-formed UTF-8, no NUL, at most max characters. */
static bool utf8_chars_le(const char *s, size_t max)
{
    size_t n = strlen(s), chars = 0;
    for (size_t i = 0; i < n; chars++) {
        size_t l = rsp_utf8_char((const uint8_t *)s + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return chars <= max;
}

int smdp_mccmnc_encode(const char *d, uint8_t out[3])
{
    size_t n = d ? strlen(d) : 0;
    if (n != 5 && n != 6)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (d[i] < '0' || d[i] > '9')
            return -1;
    uint8_t mnc3 = n == 6 ? (uint8_t)(d[5] - '0') : 0xF;
    out[0] = (uint8_t)((d[1] - '0') << 4 | (d[0] - '0'));
    out[1] = (uint8_t)(mnc3 << 4 | (d[2] - '0'));
    out[2] = (uint8_t)((d[4] - '0') << 4 | (d[3] - '0'));
    return 0;
}

/* A named BIT STRING of the bits of mask (bit n = 1 << n). */
static void w_named_bits(der_writer *w, unsigned tag, uint8_t mask)
{
    uint8_t v[5];
    der_w_tlv(w, tag, v, sgp22_bits_from_mask(mask, v));
}

static bool extra_ok(const smdp_md_extra *x, const char *address)
{
    return (!x->has_icon || ((x->icon_type == SMDP_ICON_JPG || x->icon_type == SMDP_ICON_PNG) &&
                             x->icon_len > 0 && x->icon_len <= SMDP_ICON_MAX)) &&
           (x->notify_events & ~0x0Fu) == 0 && (!x->notify_events || (address && *address)) &&
           (!address || strlen(address) <= SMDP_MD_ADDR_MAX) && x->owner_gid1_len <= SMDP_GID_MAX &&
           x->owner_gid2_len <= SMDP_GID_MAX && (x->ppr & ~0x07u) == 0;
}

static void w_extra(der_writer *w, const smdp_md_extra *x, const char *address, int profile_class)
{
    if (x && x->has_icon) {
        der_w_int(w, 0x93, x->icon_type);
        der_w_tlv(w, 0x94, x->icon, x->icon_len);
    }
    if (profile_class == SMDP_CLASS_TEST || profile_class == SMDP_CLASS_PROVISIONING)
        der_w_int(w, 0x95, profile_class);
    if (!x)
        return;
    if (x->notify_events) {
        der_w_begin(w, 0xB6);
        der_w_begin(w, 0x30);
        w_named_bits(w, 0x80, x->notify_events);
        der_w_tlv(w, 0x81, address, strlen(address));
        der_w_end(w);
        der_w_end(w);
    }
    if (x->has_owner) {
        der_w_begin(w, 0xB7);
        der_w_tlv(w, 0x80, x->owner_mccmnc, 3);
        if (x->owner_gid1_len)
            der_w_tlv(w, 0x81, x->owner_gid1, x->owner_gid1_len);
        if (x->owner_gid2_len)
            der_w_tlv(w, 0x82, x->owner_gid2, x->owner_gid2_len);
        der_w_end(w);
    }
    if (x->has_ppr)
        w_named_bits(w, 0x99, x->ppr);
}

int smdp_metadata_encode(der_writer *w, const smdp_metadata *m)
{
    uint8_t ef[SMDP_ICCID_BCD_LEN];
    if (!w || !m || smdp_iccid_to_ef(m->iccid, ef))
        return SMDP_BPP_EINVAL;
    const char *spn = m->service_provider_name ? m->service_provider_name : "";
    const char *name = m->profile_name ? m->profile_name : "";
    if (!utf8_chars_le(spn, 32) || !utf8_chars_le(name, 64))
        return SMDP_BPP_EINVAL;
    if (m->profile_class < SMDP_CLASS_ABSENT || m->profile_class > SMDP_CLASS_OPERATIONAL)
        return SMDP_BPP_EINVAL;
    const smdp_md_extra *x = m->extra;
    const char *address = x && x->notify_address[0] ? x->notify_address : m->own_address;
    if (x && !extra_ok(x, address))
        return SMDP_BPP_EINVAL;
    der_w_begin(w, 0xBF25);
    der_w_tlv(w, 0x5A, ef, sizeof(ef));
    der_w_tlv(w, 0x91, spn, strlen(spn));
    der_w_tlv(w, 0x92, name, strlen(name));
    w_extra(w, x, address, m->profile_class);
    der_w_end(w);
    return w->err ? (w->err == DER_ENOMEM ? SMDP_BPP_ENOMEM : SMDP_BPP_EINVAL) : SMDP_BPP_OK;
}

/* ---- BPP ---- */

static int bsp_err(int rc)
{
    switch (rc) {
    case RSP_BSP_OK:
        return SMDP_BPP_OK;
    case RSP_BSP_ENOMEM:
        return SMDP_BPP_ENOMEM;
    case RSP_BSP_EPOINT:
        return SMDP_BPP_EPOINT;
    case RSP_BSP_ECURVE:
    case RSP_BSP_EINVAL:
        return SMDP_BPP_EINVAL;
    default:
        return SMDP_BPP_ECRYPTO;
    }
}

static int writer_err(const der_writer *w)
{
    return w->err == DER_ENOMEM ? SMDP_BPP_ENOMEM : SMDP_BPP_EINVAL;
}

/* The stored A3 value must be 86 segments of at most 1020 octets. */
static bool seq86_ok(const uint8_t *p, size_t len)
{
    if (!p || len == 0)
        return false;
    while (len) {
        size_t n;
        if (p[0] != RSP_BSP_TAG_UPP || rsp_bsp_segment_len(p, len, &n) || n > RSP_BSP_MAX_SEGMENT)
            return false;
        p += n;
        len -= n;
    }
    return true;
}

int smdp_sign_with_key(void *arg, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                       uint8_t sig[SMDP_SIG_LEN])
{
    return arg && rsp_sig_sign2(arg, a, alen, b, blen, sig) == 0 ? 0 : -1;
}

/* BF23: the signed fields, then 5F37 smdpSign over them || 5F49 euiccOtpk. */
static int put_init_secure_channel(der_writer *w, const smdp_bpp_input *in)
{
    uint8_t otpk[RSP_BSP_POINT_LEN];
    int rc = bsp_err(rsp_ecka_public(in->smdp_ot, otpk));
    if (rc)
        return rc;
    der_writer tbs;
    der_w_init(&tbs);
    der_w_int(&tbs, 0x82, 1); /* remoteOpId: installBoundProfilePackage */
    der_w_tlv(&tbs, 0x80, in->transaction_id, in->transaction_id_len);
    der_w_begin(&tbs, 0xA6);
    static const uint8_t key_type = RSP_BSP_KEY_TYPE_AES, key_len = RSP_BSP_KEY_LEN_CODE;
    der_w_tlv(&tbs, 0x80, &key_type, 1);
    der_w_tlv(&tbs, 0x81, &key_len, 1);
    der_w_tlv(&tbs, 0x84, in->host_id, in->host_id_len);
    der_w_end(&tbs);
    der_w_tlv(&tbs, 0x5F49, otpk, sizeof(otpk));
    if (der_w_finish(&tbs)) {
        rc = writer_err(&tbs);
        der_w_free(&tbs);
        return rc;
    }
    uint8_t euicc[3 + RSP_BSP_POINT_LEN] = {0x5F, 0x49, RSP_BSP_POINT_LEN};
    memcpy(euicc + 3, in->euicc_otpk, RSP_BSP_POINT_LEN);
    uint8_t sig[SMDP_SIG_LEN];
    if (in->sign(in->sign_arg, tbs.buf, tbs.len, euicc, sizeof(euicc), sig) != 0) {
        der_w_free(&tbs);
        return SMDP_BPP_ESIGN;
    }
    der_w_begin(w, 0xBF23);
    der_w_raw(w, tbs.buf, tbs.len);
    der_w_tlv(w, 0x5F37, sig, sizeof(sig));
    der_w_end(w);
    der_w_free(&tbs);
    return w->err ? writer_err(w) : SMDP_BPP_OK;
}

/* Wraps pt with tag under st and appends it as the value of list tag. */
static int put_segments(der_writer *w, uint32_t list_tag, rsp_bsp *st, uint8_t tag, const uint8_t *pt,
                        size_t len)
{
    rsp_bsp_buf b;
    rsp_bsp_buf_init(&b);
    int rc = bsp_err(rsp_bsp_wrap_split(st, tag, pt, len, &b, NULL));
    if (rc == SMDP_BPP_OK) {
        der_w_tlv(w, list_tag, b.data, b.len);
        if (w->err)
            rc = writer_err(w);
    }
    rsp_bsp_buf_free(&b);
    return rc;
}

/* A2 { 87 ReplaceSessionKeysRequest }: the only place the PPKs are clear. */
static int put_replace_session_keys(der_writer *w, rsp_bsp *st, const smdp_bpp_input *in)
{
    uint8_t ppk[SMDP_PPK_LEN];
    size_t n;
    int rc = smdp_unseal(in->mk, "ppk", in->iccid, in->ppk_blob, in->ppk_blob_len, ppk, sizeof(ppk), &n);
    if (rc)
        return rc;
    if (n != SMDP_PPK_LEN) {
        OPENSSL_cleanse(ppk, sizeof(ppk));
        return SMDP_BPP_ESEAL;
    }
    /* 26 + 3 * 18 octets, written by hand into a stack buffer that is wiped */
    uint8_t rsk[3 + 3 * (2 + 16)];
    uint8_t *p = rsk;
    *p++ = 0xBF;
    *p++ = 0x26;
    *p++ = 3 * (2 + 16);
    static const uint8_t tags[3] = {0x80, 0x81, 0x82}; /* initialMCV, ppkEnc, ppkCmac */
    static const size_t offs[3] = {32, 0, 16};
    for (int i = 0; i < 3; i++) {
        *p++ = tags[i];
        *p++ = 16;
        memcpy(p, ppk + offs[i], 16);
        p += 16;
    }
    rc = put_segments(w, 0xA2, st, RSP_BSP_TAG_ENC, rsk, sizeof(rsk));
    OPENSSL_cleanse(rsk, sizeof(rsk));
    OPENSSL_cleanse(ppk, sizeof(ppk));
    return rc;
}

static bool input_ok(const smdp_bpp_input *in)
{
    der_tlv md;
    return in && in->transaction_id && in->transaction_id_len >= 1 && in->transaction_id_len <= 16 &&
           in->eid && in->host_id && in->host_id_len >= 1 && in->host_id_len <= RSP_BSP_HOST_ID_MAX &&
           in->euicc_otpk && in->euicc_otpk_len == RSP_BSP_POINT_LEN && in->smdp_ot && in->sign &&
           in->metadata && der_parse_exact(in->metadata, in->metadata_len, &md) == DER_OK &&
           md.tag == 0xBF25 && (in->dp_oid || in->dp_oid_len == 0) && in->mk && in->iccid && in->ppk_blob &&
           seq86_ok(in->seq86, in->seq86_len);
}

int smdp_bpp_build(const smdp_bpp_input *in, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!input_ok(in))
        return SMDP_BPP_EINVAL;

    uint8_t z[RSP_BSP_SECRET_LEN];
    rsp_bsp_keys keys;
    rsp_bsp st;
    memset(&st, 0, sizeof(st));
    memset(&keys, 0, sizeof(keys));
    der_writer w;
    der_w_init(&w);

    int rc = bsp_err(rsp_ecka_shared(in->smdp_ot, in->euicc_otpk, in->euicc_otpk_len, z));
    if (rc == SMDP_BPP_OK)
        rc = bsp_err(rsp_bsp_kdf(z, sizeof(z), in->host_id, in->host_id_len, in->eid, &keys));
    OPENSSL_cleanse(z, sizeof(z));
    if (rc)
        goto out;
    rsp_bsp_init(&st, &keys);

    der_w_begin(&w, 0xBF36);
    if ((rc = put_init_secure_channel(&w, in)))
        goto out;

    /* A0 { 87 ConfigureISDPRequest } */
    der_writer cfg;
    der_w_init(&cfg);
    der_w_begin(&cfg, 0xBF24);
    if (in->dp_oid) {
        der_w_begin(&cfg, 0xB8);
        der_w_tlv(&cfg, 0x80, in->dp_oid, in->dp_oid_len);
        der_w_end(&cfg);
    }
    der_w_end(&cfg);
    if (der_w_finish(&cfg))
        rc = writer_err(&cfg);
    else
        rc = put_segments(&w, 0xA0, &st, RSP_BSP_TAG_ENC, cfg.buf, cfg.len);
    der_w_free(&cfg);
    if (rc)
        goto out;

    /* A1 { 88 StoreMetadataRequest ... } */
    if ((rc = put_segments(&w, 0xA1, &st, RSP_BSP_TAG_MAC, in->metadata, in->metadata_len)))
        goto out;
    if ((rc = put_replace_session_keys(&w, &st, in)))
        goto out;
    der_w_tlv(&w, 0xA3, in->seq86, in->seq86_len);
    der_w_end(&w);
    if (der_w_finish(&w)) {
        rc = writer_err(&w);
        goto out;
    }
    *out = w.buf;
    *out_len = w.len;
    w.buf = NULL;
out:
    rsp_bsp_clear(&st);
    rsp_bsp_keys_clear(&keys);
    der_w_free(&w);
    return rc;
}
