/*
 * BSP: ECKA, X9.63 key derivation and segment protection (see rsp/bsp.h).
 */
#include "rsp/bsp.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#define BLOCK 16

/* Fetched once: explicit fetches avoid a provider lookup on every segment. */
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;
static EVP_MAC *alg_cmac;
static EVP_CIPHER *alg_cbc;
static EVP_CIPHER *alg_ecb;

static void algs_fetch(void)
{
    alg_cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    alg_cbc = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
    alg_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
}

static bool algs_ready(void)
{
    return pthread_once(&algs_once, algs_fetch) == 0 && alg_cmac && alg_cbc && alg_ecb;
}

const char *rsp_bsp_strerror(int err)
{
    switch (err) {
    case RSP_BSP_OK:
        return "ok";
    case RSP_BSP_EINVAL:
        return "invalid argument";
    case RSP_BSP_ENOMEM:
        return "out of memory";
    case RSP_BSP_ECRYPTO:
        return "crypto library failure";
    case RSP_BSP_ECURVE:
        return "unsupported curve";
    case RSP_BSP_EPOINT:
        return "invalid EC point";
    case RSP_BSP_EFORMAT:
        return "malformed segment";
    case RSP_BSP_ETAG:
        return "unexpected segment tag";
    case RSP_BSP_ESIZE:
        return "segment too large";
    case RSP_BSP_EMAC:
        return "segment MAC mismatch";
    case RSP_BSP_EPADDING:
        return "bad segment padding";
    case RSP_BSP_ECOUNTER:
        return "block counter exhausted";
    }
    return "unknown error";
}

/* ---- byte buffer ---- */

void rsp_bsp_buf_init(rsp_bsp_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Makes room for n more bytes.  Grows by copying so that no stale copy of
 * plaintext is left behind in freed memory. */
static int buf_reserve(rsp_bsp_buf *b, size_t n)
{
    if (n > SIZE_MAX - b->len)
        return RSP_BSP_ENOMEM;
    size_t need = b->len + n;
    if (need <= b->cap)
        return RSP_BSP_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = malloc(cap);
    if (!p)
        return RSP_BSP_ENOMEM;
    if (b->data) {
        memcpy(p, b->data, b->len);
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return RSP_BSP_OK;
}

int rsp_bsp_buf_append(rsp_bsp_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return RSP_BSP_OK;
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return RSP_BSP_OK;
}

void rsp_bsp_buf_free(rsp_bsp_buf *b)
{
    if (b->data) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    rsp_bsp_buf_init(b);
}

/* Drops everything appended after old_len, wiping it. */
static void buf_rollback(rsp_bsp_buf *b, size_t old_len)
{
    if (b->data && b->len > old_len)
        OPENSSL_cleanse(b->data + old_len, b->len - old_len);
    b->len = old_len;
}

/* ---- ECKA ---- */

int rsp_ecka_curve_nid(const EVP_PKEY *key)
{
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return RSP_BSP_EINVAL;
    char name[64];
    /* Keys with explicit curve parameters have no group name: refused. */
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), NULL) != 1)
        return RSP_BSP_ECURVE;
    int nid = OBJ_txt2nid(name);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    if (nid != NID_X9_62_prime256v1 && nid != NID_brainpoolP256r1)
        return RSP_BSP_ECURVE;
    return nid;
}

int rsp_ecka_generate(int nid, EVP_PKEY **out)
{
    if (!out)
        return RSP_BSP_EINVAL;
    *out = NULL;
    if (nid != NID_X9_62_prime256v1 && nid != NID_brainpoolP256r1)
        return RSP_BSP_ECURVE;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    int rc = RSP_BSP_ECRYPTO;
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_group_name(ctx, OBJ_nid2sn(nid)) == 1 &&
        EVP_PKEY_generate(ctx, out) == 1)
        rc = RSP_BSP_OK;
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int rsp_ecka_generate_like(const EVP_PKEY *like, EVP_PKEY **out)
{
    if (out)
        *out = NULL;
    int nid = rsp_ecka_curve_nid(like);
    if (nid < 0)
        return nid;
    return rsp_ecka_generate(nid, out);
}

int rsp_ecka_public(const EVP_PKEY *key, uint8_t out[RSP_BSP_POINT_LEN])
{
    int nid = rsp_ecka_curve_nid(key);
    if (nid < 0)
        return nid;
    BIGNUM *x = NULL, *y = NULL;
    int rc = RSP_BSP_ECRYPTO;
    /* Coordinates rather than the encoded point: independent of the key's
     * point conversion form. */
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 && BN_bn2binpad(x, out + 1, 32) == 32 &&
        BN_bn2binpad(y, out + 33, 32) == 32) {
        out[0] = 0x04;
        rc = RSP_BSP_OK;
    }
    BN_free(x);
    BN_free(y);
    return rc;
}

int rsp_ecka_peer(int nid, const uint8_t *point, size_t len, EVP_PKEY **out)
{
    if (!out)
        return RSP_BSP_EINVAL;
    *out = NULL;
    if (nid != NID_X9_62_prime256v1 && nid != NID_brainpoolP256r1)
        return RSP_BSP_ECURVE;
    if (!point || len != RSP_BSP_POINT_LEN || point[0] != 0x04)
        return RSP_BSP_EPOINT;

    int rc = RSP_BSP_ECRYPTO;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
    EVP_PKEY *pk = NULL;
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, len) != 1 ||
        !(params = OSSL_PARAM_BLD_to_param(bld)))
        goto done;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1)
        goto done;
    /* Decoding already rejects off-curve points; the explicit check below
     * keeps that guarantee independent of the provider. */
    rc = RSP_BSP_EPOINT;
    if (EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto done;
    chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (!chk || EVP_PKEY_public_check_quick(chk) != 1)
        goto done;
    *out = pk;
    pk = NULL;
    rc = RSP_BSP_OK;
done:
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

int rsp_ecka_shared(EVP_PKEY *priv, const uint8_t *peer, size_t peer_len, uint8_t z[RSP_BSP_SECRET_LEN])
{
    int nid = rsp_ecka_curve_nid(priv);
    if (nid < 0)
        return nid;
    EVP_PKEY *pub = NULL;
    int rc = rsp_ecka_peer(nid, peer, peer_len, &pub);
    if (rc)
        return rc;
    rc = RSP_BSP_ECRYPTO;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    size_t zlen = RSP_BSP_SECRET_LEN;
    if (ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer_ex(ctx, pub, 1) == 1 &&
        EVP_PKEY_derive(ctx, z, &zlen) == 1 && zlen == RSP_BSP_SECRET_LEN)
        rc = RSP_BSP_OK;
    else
        OPENSSL_cleanse(z, RSP_BSP_SECRET_LEN);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pub);
    return rc;
}

/* ---- KDF ---- */

int rsp_bsp_kdf(const uint8_t *z, size_t z_len, const uint8_t *host_id, size_t host_id_len,
                const uint8_t eid[RSP_BSP_EID_LEN], rsp_bsp_keys *out)
{
    if (!z || z_len == 0 || !host_id || host_id_len == 0 || host_id_len > RSP_BSP_HOST_ID_MAX || !eid || !out)
        return RSP_BSP_EINVAL;

    uint8_t info[3 + RSP_BSP_HOST_ID_MAX + 1 + RSP_BSP_EID_LEN];
    size_t n = 0;
    info[n++] = RSP_BSP_KEY_TYPE_AES;
    info[n++] = RSP_BSP_KEY_LEN_CODE;
    info[n++] = (uint8_t)host_id_len;
    memcpy(info + n, host_id, host_id_len);
    n += host_id_len;
    info[n++] = RSP_BSP_EID_LEN;
    memcpy(info + n, eid, RSP_BSP_EID_LEN);
    n += RSP_BSP_EID_LEN;

    uint8_t k[3 * RSP_BSP_KEY_LEN];
    int rc = RSP_BSP_ECRYPTO;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
        OSSL_PARAM_construct_end(),
    };
    if (kctx && EVP_KDF_derive(kctx, k, sizeof(k), params) == 1) {
        memcpy(out->mcv, k, RSP_BSP_KEY_LEN);
        memcpy(out->s_enc, k + RSP_BSP_KEY_LEN, RSP_BSP_KEY_LEN);
        memcpy(out->s_mac, k + 2 * RSP_BSP_KEY_LEN, RSP_BSP_KEY_LEN);
        rc = RSP_BSP_OK;
    }
    OPENSSL_cleanse(k, sizeof(k));
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

/* ---- segments ---- */

void rsp_bsp_init(rsp_bsp *st, const rsp_bsp_keys *keys)
{
    st->k = *keys;
    st->counter = 1;
}

void rsp_bsp_clear(rsp_bsp *st)
{
    OPENSSL_cleanse(st, sizeof(*st));
}

void rsp_bsp_keys_clear(rsp_bsp_keys *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

static bool tag_encrypted(uint8_t tag)
{
    return tag == RSP_BSP_TAG_UPP || tag == RSP_BSP_TAG_ENC;
}

static bool tag_known(uint8_t tag)
{
    return tag_encrypted(tag) || tag == RSP_BSP_TAG_MAC;
}

size_t rsp_bsp_max_plain(uint8_t tag)
{
    if (tag_encrypted(tag))
        return RSP_BSP_MAX_PLAIN_ENC;
    if (tag == RSP_BSP_TAG_MAC)
        return RSP_BSP_MAX_PLAIN_MAC;
    return 0;
}

/* Writes tag || BER length of vlen; returns the header size. */
static size_t put_header(uint8_t *h, uint8_t tag, size_t vlen)
{
    h[0] = tag;
    if (vlen < 0x80) {
        h[1] = (uint8_t)vlen;
        return 2;
    }
    if (vlen < 0x100) {
        h[1] = 0x81;
        h[2] = (uint8_t)vlen;
        return 3;
    }
    h[1] = 0x82;
    h[2] = (uint8_t)(vlen >> 8);
    h[3] = (uint8_t)vlen;
    return 4;
}

/* CMAC(S-MAC, MCV || data), full 16 bytes. */
static int cmac(const rsp_bsp *st, const uint8_t *data, size_t len, uint8_t out[BLOCK])
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(alg_cmac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, "AES-128-CBC", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t outl = 0;
    int ok = ctx && EVP_MAC_init(ctx, st->k.s_mac, RSP_BSP_KEY_LEN, params) == 1 &&
             EVP_MAC_update(ctx, st->k.mcv, BLOCK) == 1 && EVP_MAC_update(ctx, data, len) == 1 &&
             EVP_MAC_final(ctx, out, &outl, BLOCK) == 1 && outl == BLOCK;
    EVP_MAC_CTX_free(ctx);
    return ok ? RSP_BSP_OK : RSP_BSP_ECRYPTO;
}

/* AES-128-CBC over len bytes (a multiple of 16) in place, no padding, with
 * IV = AES-ECB(S-ENC, counter as a 16-byte big-endian integer). */
static int cbc(const rsp_bsp *st, int enc, uint8_t *buf, size_t len)
{
    uint8_t ctr[BLOCK] = {0}, iv[BLOCK];
    uint64_t c = st->counter;
    for (int i = 0; i < 8; i++)
        ctr[BLOCK - 1 - i] = (uint8_t)(c >> (8 * i));

    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, fin = 0;
    int ok = ctx && len <= INT_MAX && EVP_EncryptInit_ex2(ctx, alg_ecb, st->k.s_enc, NULL, NULL) == 1 &&
             EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_EncryptUpdate(ctx, iv, &outl, ctr, BLOCK) == 1 &&
             outl == BLOCK && EVP_CipherInit_ex2(ctx, alg_cbc, st->k.s_enc, iv, enc, NULL) == 1 &&
             EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
             EVP_CipherUpdate(ctx, buf, &outl, buf, (int)len) == 1 &&
             EVP_CipherFinal_ex(ctx, buf + outl, &fin) == 1 && (size_t)outl + (size_t)fin == len;
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(iv, sizeof(iv));
    return ok ? RSP_BSP_OK : RSP_BSP_ECRYPTO;
}

/* One segment of at most max plaintext bytes (max within what a 82 xx xx length carries). */
static int wrap_one(rsp_bsp *st, uint8_t tag, const uint8_t *pt, size_t len, size_t max, rsp_bsp_buf *out)
{
    if (!st || !out || !tag_known(tag) || (!pt && len))
        return RSP_BSP_EINVAL;
    if (len > max)
        return RSP_BSP_ESIZE;
    if (st->counter == UINT64_MAX)
        return RSP_BSP_ECOUNTER;
    if (!algs_ready())
        return RSP_BSP_ECRYPTO;

    bool enc = tag_encrypted(tag);
    size_t plen = enc ? (len / BLOCK + 1) * BLOCK : len;
    uint8_t hdr[4];
    size_t hlen = put_header(hdr, tag, plen + RSP_BSP_MAC_LEN);
    size_t start = out->len;
    int rc = buf_reserve(out, hlen + plen + RSP_BSP_MAC_LEN);
    if (rc)
        return rc;

    uint8_t *seg = out->data + start;
    memcpy(seg, hdr, hlen);
    uint8_t *payload = seg + hlen;
    if (len)
        memcpy(payload, pt, len);
    out->len = start + hlen + plen;
    if (enc) {
        payload[len] = 0x80;
        memset(payload + len + 1, 0, plen - len - 1);
        rc = cbc(st, 1, payload, plen);
    }
    uint8_t mac[BLOCK];
    if (!rc)
        rc = cmac(st, seg, hlen + plen, mac);
    if (rc) {
        buf_rollback(out, start);
        return rc;
    }
    memcpy(payload + plen, mac, RSP_BSP_MAC_LEN);
    out->len += RSP_BSP_MAC_LEN;
    memcpy(st->k.mcv, mac, BLOCK);
    st->counter++;
    return RSP_BSP_OK;
}

int rsp_bsp_wrap(rsp_bsp *st, uint8_t tag, const uint8_t *pt, size_t len, rsp_bsp_buf *out)
{
    return wrap_one(st, tag, pt, len, rsp_bsp_max_plain(tag), out);
}

int rsp_bsp_wrap_split(rsp_bsp *st, uint8_t tag, const uint8_t *pt, size_t len, rsp_bsp_buf *out,
                       size_t *nseg)
{
    return rsp_bsp_wrap_split_at(st, tag, pt, len, 0, out, nseg);
}

int rsp_bsp_wrap_split_at(rsp_bsp *st, uint8_t tag, const uint8_t *pt, size_t len, size_t max_plain,
                          rsp_bsp_buf *out, size_t *nseg)
{
    if (!st || !out || !tag_known(tag) || (!pt && len) || max_plain > RSP_BSP_MAX_PLAIN_LONG)
        return RSP_BSP_EINVAL;
    size_t max = max_plain ? max_plain : rsp_bsp_max_plain(tag);
    rsp_bsp saved = *st;
    size_t start = out->len, n = 0, off = 0;
    int rc;
    do {
        size_t chunk = len - off < max ? len - off : max;
        rc = wrap_one(st, tag, pt + off, chunk, max, out);
        if (rc)
            break;
        off += chunk;
        n++;
    } while (off < len);
    if (rc) {
        *st = saved;
        buf_rollback(out, start);
    } else if (nseg) {
        *nseg = n;
    }
    rsp_bsp_clear(&saved);
    return rc;
}

/* Parses tag and minimal BER length (at most 82 xx xx); *hlen and *vlen get
 * the header and value sizes. */
static int parse_header(const uint8_t *buf, size_t len, size_t *hlen, size_t *vlen)
{
    if (len < 2)
        return RSP_BSP_EFORMAT;
    if ((buf[0] & 0x1F) == 0x1F) /* multi-byte tags are never segments */
        return RSP_BSP_EFORMAT;
    uint8_t b = buf[1];
    if (b < 0x80) {
        *hlen = 2;
        *vlen = b;
    } else if (b == 0x81) {
        if (len < 3 || buf[2] < 0x80)
            return RSP_BSP_EFORMAT;
        *hlen = 3;
        *vlen = buf[2];
    } else if (b == 0x82) {
        if (len < 4 || buf[2] == 0)
            return RSP_BSP_EFORMAT;
        *hlen = 4;
        *vlen = ((size_t)buf[2] << 8) | buf[3];
    } else {
        return RSP_BSP_EFORMAT;
    }
    if (*vlen > len - *hlen)
        return RSP_BSP_EFORMAT;
    return RSP_BSP_OK;
}

int rsp_bsp_segment_len(const uint8_t *buf, size_t len, size_t *seg_len)
{
    size_t hlen, vlen;
    if (!buf || !seg_len)
        return RSP_BSP_EINVAL;
    int rc = parse_header(buf, len, &hlen, &vlen);
    if (rc)
        return rc;
    *seg_len = hlen + vlen;
    return RSP_BSP_OK;
}

/* Length of the plaintext in a decrypted payload: it must end in 80 followed
 * by at most 15 zero bytes.  Runs only on MAC-verified data, so the early
 * exits leak nothing an attacker could not compute. */
static int unpad(const uint8_t *p, size_t len, size_t *plain_len)
{
    size_t i = len;
    while (i > 0 && len - i < BLOCK && p[i - 1] == 0x00)
        i--;
    if (i == 0 || p[i - 1] != 0x80 || len - (i - 1) > BLOCK)
        return RSP_BSP_EPADDING;
    *plain_len = i - 1;
    return RSP_BSP_OK;
}

int rsp_bsp_unwrap(rsp_bsp *st, uint8_t tag, const uint8_t *seg, size_t len, unsigned flags, rsp_bsp_buf *out)
{
    if (!st || !out || !tag_known(tag) || (!seg && len))
        return RSP_BSP_EINVAL;
    size_t hlen, vlen;
    int rc = parse_header(seg, len, &hlen, &vlen);
    if (rc)
        return rc;
    if (hlen + vlen != len)
        return RSP_BSP_EFORMAT;
    if (seg[0] != tag)
        return RSP_BSP_ETAG;
    if (len > RSP_BSP_MAX_SEGMENT && !(flags & RSP_BSP_ALLOW_OVERSIZE))
        return RSP_BSP_ESIZE;
    if (vlen < RSP_BSP_MAC_LEN)
        return RSP_BSP_EFORMAT;
    size_t plen = vlen - RSP_BSP_MAC_LEN;
    bool enc = tag_encrypted(tag);
    if (enc && (plen == 0 || plen % BLOCK != 0))
        return RSP_BSP_EFORMAT;
    if (st->counter == UINT64_MAX)
        return RSP_BSP_ECOUNTER;
    if (!algs_ready())
        return RSP_BSP_ECRYPTO;

    uint8_t mac[BLOCK];
    rc = cmac(st, seg, len - RSP_BSP_MAC_LEN, mac);
    if (rc)
        return rc;
    if (CRYPTO_memcmp(mac, seg + len - RSP_BSP_MAC_LEN, RSP_BSP_MAC_LEN) != 0)
        return RSP_BSP_EMAC;

    size_t start = out->len;
    rc = buf_reserve(out, plen);
    if (rc)
        return rc;
    if (plen)
        memcpy(out->data + start, seg + hlen, plen);
    out->len = start + plen;
    if (enc) {
        size_t ptlen = 0;
        rc = cbc(st, 0, out->data + start, plen);
        if (!rc)
            rc = unpad(out->data + start, plen, &ptlen);
        if (rc) {
            buf_rollback(out, start);
            return rc;
        }
        buf_rollback(out, start + ptlen);
    }
    memcpy(st->k.mcv, mac, BLOCK);
    st->counter++;
    return RSP_BSP_OK;
}
