/*
 * rsp/sig.h - SGP.22 application signatures (BSI TR-03111 plain r||s).
 *
 * Application signatures (serverSignature1, euiccSignature1, smdpSignature2,
 * ...) are 64 bytes r||s for 256-bit curves, carried in tag 5F37.  Keys are
 * OpenSSL EVP_PKEYs on NIST P-256 or brainpoolP256r1.  Verification always runs
 * over the exact bytes the caller received; nothing is re-encoded here.
 *
 * Functions return 0 on success and -1 on failure (bad key, bad signature,
 * wrong length, OpenSSL error).  They allocate nothing the caller must free
 * unless stated.
 */
#ifndef RSP_SIG_H
#define RSP_SIG_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define RSP_SIG_LEN 64

/* Supported curves, as returned by rsp_sig_key_curve(). */
enum { RSP_CURVE_P256 = 0, RSP_CURVE_BP256 = 1 };

/* RSP_CURVE_P256 or RSP_CURVE_BP256 for an EC key on NIST P-256 or
 * brainpoolP256r1, -1 for any other key.  Signing and verification refuse
 * other keys; verification also refuses r or s outside [1, n-1]. */
int rsp_sig_key_curve(EVP_PKEY *key);

/* OpenSSL's group name of a supported curve ("prime256v1", "brainpoolP256r1"), as
 * EVP_PKEY_get_group_name gives it; NULL for another value. */
const char *rsp_sig_curve_name(int curve);

/* SHA-256, fetched from the default provider once per process (an implicit
 * fetch per use through EVP_sha256() takes OpenSSL's global locks).  Never
 * NULL: falls back to EVP_sha256() if the fetch failed.  Not to be freed. */
const EVP_MD *rsp_sig_sha256(void);

/* ECDSA-SHA256 over msg with key; writes r||s (each left-padded to 32). */
int rsp_sig_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t out[RSP_SIG_LEN]);

/* Verifies r||s (siglen must be 64) over msg with the public key. */
int rsp_sig_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t *sig, size_t siglen);

/* Same, over the concatenation of two buffers (chained signatures such as
 * smdpSignature2 over smdpSigned2 || 5F37 euiccSignature1). */
int rsp_sig_verify2(EVP_PKEY *pub, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                    const uint8_t *sig, size_t siglen);
int rsp_sig_sign2(EVP_PKEY *key, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                  uint8_t out[RSP_SIG_LEN]);

/* Converts DER ECDSA-Sig-Value to r||s.  -1 if malformed or r/s over 32 bytes.
 * Strict DER: definite short lengths, minimal positive non-zero INTEGERs, no
 * trailing bytes. */
int rsp_sig_der_to_raw(const uint8_t *der, size_t len, uint8_t out[RSP_SIG_LEN]);
/* Converts r||s to DER; *out is OPENSSL_malloc'd (free with OPENSSL_free).
 * -1 if r or s is zero. */
int rsp_sig_raw_to_der(const uint8_t raw[RSP_SIG_LEN], uint8_t **out, size_t *outlen);

#endif
