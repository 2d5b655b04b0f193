#include "rsp/sig.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <openssl/ec.h>
#include <openssl/objects.h>

#define HALF (RSP_SIG_LEN / 2)

/* Group orders, big-endian: r and s must lie in [1, n-1]. */
static const uint8_t p256_n[HALF] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                     0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const uint8_t bp256_n[HALF] = {0xa9, 0xfb, 0x57, 0xdb, 0xa1, 0xee, 0xa9, 0xbc, 0x3e, 0x66, 0x0a,
                                      0x90, 0x9d, 0x83, 0x8d, 0x71, 0x8c, 0x39, 0x7a, 0xa3, 0xb5, 0x61,
                                      0xa6, 0xf7, 0x90, 0x1e, 0x0e, 0x82, 0x97, 0x48, 0x56, 0xa7};

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md; /* held for the life of the process */

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *rsp_sig_sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md != NULL ? sha256_md : EVP_sha256();
}

int rsp_sig_key_curve(EVP_PKEY *key)
{
    char name[64];
    size_t len = 0;
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return -1;
    if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1)
        return -1;
    int nid = OBJ_sn2nid(name);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    if (nid == NID_X9_62_prime256v1)
        return RSP_CURVE_P256;
    if (nid == NID_brainpoolP256r1)
        return RSP_CURVE_BP256;
    return -1;
}

const char *rsp_sig_curve_name(int curve)
{
    return curve == RSP_CURVE_P256 ? "prime256v1" : curve == RSP_CURVE_BP256 ? "brainpoolP256r1" : NULL;
}

static const uint8_t *curve_order(int curve)
{
    return curve == RSP_CURVE_P256 ? p256_n : bp256_n;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* 1 <= v <= n-1 for a 32-byte big-endian v. */
static bool in_range(const uint8_t v[HALF], const uint8_t n[HALF])
{
    return !all_zero(v, HALF) && memcmp(v, n, HALF) < 0;
}

/* Parses one DER INTEGER at *p (strictly minimal, positive, non-zero, at most
 * 32 magnitude bytes) into a left-padded 32-byte buffer. */
static int parse_int(const uint8_t **p, const uint8_t *end, uint8_t out[HALF])
{
    const uint8_t *q = *p;
    if (end - q < 2 || q[0] != 0x02 || q[1] >= 0x80)
        return -1;
    size_t n = q[1];
    q += 2;
    if (n == 0 || (size_t)(end - q) < n)
        return -1;
    if (q[0] & 0x80)
        return -1; /* negative */
    if (q[0] == 0x00 && (n == 1 || !(q[1] & 0x80)))
        return -1; /* zero, or a superfluous leading zero */
    const uint8_t *mag = q;
    size_t mlen = n;
    if (mag[0] == 0x00) {
        mag++;
        mlen--;
    }
    if (mlen > HALF)
        return -1;
    memset(out, 0, HALF - mlen);
    memcpy(out + HALF - mlen, mag, mlen);
    *p = q + n;
    return 0;
}

int rsp_sig_der_to_raw(const uint8_t *der, size_t len, uint8_t out[RSP_SIG_LEN])
{
    /* With r and s at most 33 content bytes the SEQUENCE is at most 70 bytes,
     * so only the short length form is valid DER. */
    if (der == NULL || len < 2 || der[0] != 0x30 || der[1] >= 0x80 || (size_t)der[1] + 2 != len)
        return -1;
    const uint8_t *p = der + 2, *end = der + len;
    uint8_t tmp[RSP_SIG_LEN];
    if (parse_int(&p, end, tmp) != 0 || parse_int(&p, end, tmp + HALF) != 0 || p != end)
        return -1;
    memcpy(out, tmp, RSP_SIG_LEN);
    return 0;
}

/* Writes v (32 bytes, non-zero) as a minimal DER INTEGER; returns its size. */
static size_t put_int(uint8_t *w, const uint8_t v[HALF])
{
    size_t skip = 0;
    while (skip < HALF - 1 && v[skip] == 0)
        skip++;
    size_t n = HALF - skip;
    bool pad = (v[skip] & 0x80) != 0;
    w[0] = 0x02;
    w[1] = (uint8_t)(n + pad);
    if (pad)
        w[2] = 0x00;
    memcpy(w + 2 + pad, v + skip, n);
    return 2 + pad + n;
}

int rsp_sig_raw_to_der(const uint8_t raw[RSP_SIG_LEN], uint8_t **out, size_t *outlen)
{
    if (raw == NULL || out == NULL || outlen == NULL || all_zero(raw, HALF) || all_zero(raw + HALF, HALF))
        return -1;
    uint8_t buf[2 + 2 * (3 + HALF)];
    size_t n = put_int(buf + 2, raw);
    n += put_int(buf + 2 + n, raw + HALF);
    buf[0] = 0x30;
    buf[1] = (uint8_t)n;
    uint8_t *d = OPENSSL_malloc(n + 2);
    if (d == NULL)
        return -1;
    memcpy(d, buf, n + 2);
    *out = d;
    *outlen = n + 2;
    return 0;
}

static int sign_parts(EVP_PKEY *key, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                      uint8_t out[RSP_SIG_LEN])
{
    if (rsp_sig_key_curve(key) < 0 || (a == NULL && alen) || (b == NULL && blen) || out == NULL)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dlen = sizeof(der);
    int rc = -1;
    if (ctx != NULL && EVP_DigestSignInit(ctx, NULL, rsp_sig_sha256(), NULL, key) == 1 &&
        EVP_DigestSignUpdate(ctx, a, alen) == 1 && EVP_DigestSignUpdate(ctx, b, blen) == 1 &&
        EVP_DigestSignFinal(ctx, der, &dlen) == 1)
        rc = rsp_sig_der_to_raw(der, dlen, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* two selects update/final over a then b; otherwise a one-shot verify of a. */
static int verify_parts(EVP_PKEY *pub, bool two, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                        const uint8_t *sig, size_t siglen)
{
    if (sig == NULL || siglen != RSP_SIG_LEN || (a == NULL && alen) || (b == NULL && blen))
        return -1;
    int curve = rsp_sig_key_curve(pub);
    if (curve < 0)
        return -1;
    const uint8_t *n = curve_order(curve);
    if (!in_range(sig, n) || !in_range(sig + HALF, n))
        return -1;
    uint8_t *der = NULL;
    size_t dlen = 0;
    if (rsp_sig_raw_to_der(sig, &der, &dlen) != 0)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -1;
    if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, rsp_sig_sha256(), NULL, pub) == 1) {
        if (!two) {
            if (EVP_DigestVerify(ctx, der, dlen, a, alen) == 1)
                rc = 0;
        } else if (EVP_DigestVerifyUpdate(ctx, a, alen) == 1 && EVP_DigestVerifyUpdate(ctx, b, blen) == 1 &&
                   EVP_DigestVerifyFinal(ctx, der, dlen) == 1) {
            rc = 0;
        }
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return rc;
}

int rsp_sig_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t out[RSP_SIG_LEN])
{
    return sign_parts(key, msg, len, NULL, 0, out);
}

int rsp_sig_sign2(EVP_PKEY *key, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                  uint8_t out[RSP_SIG_LEN])
{
    return sign_parts(key, a, alen, b, blen, out);
}

int rsp_sig_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t *sig, size_t siglen)
{
    return verify_parts(pub, false, msg, len, NULL, 0, sig, siglen);
}

int rsp_sig_verify2(EVP_PKEY *pub, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                    const uint8_t *sig, size_t siglen)
{
    return verify_parts(pub, true, a, alen, b, blen, sig, siglen);
}
