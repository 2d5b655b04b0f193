/*
 * smdp_default/eckey.h - EC keys kept as raw values: a public key as its
 * uncompressed point plus its curve, a private key as its scalar, point and
 * curve.  OpenSSL 3 rebuilds such a key with EVP_PKEY_fromdata about five
 * times faster than it decodes the same key from SubjectPublicKeyInfo or
 * ECPrivateKey DER (and writing DER goes through its encoder machinery).
 *
 * The ES9+ session keeps PK.EUICC.ECDSA this way (orders.h) and checks two or
 * three signatures with it, in calls that follow within seconds or minutes:
 * a process-wide cache (smdp_eckey_pub; SMDP_ECKEY_CACHE_SLOTS keys,
 * direct-mapped by a hash of the point, so a newer session's key takes the
 * slot of an older one; one lock per slot) hands back the key of a (curve,
 * point) seen recently instead of building it again.  Keys are only read
 * once made, so threads may use one key at the same time.
 *
 * Curves are OpenSSL group names ("prime256v1", "brainpoolP256r1", ...).
 * Errors: functions return 0 or -1 (nothing is written to the outputs on
 * failure), or NULL.  Keys returned are new references owned by the caller
 * (EVP_PKEY_free).  Secrets held temporarily are wiped.  Thread-safe.
 */
#ifndef SMDP_ECKEY_H
#define SMDP_ECKEY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define SMDP_EC_POINT_MAX 133 /* uncompressed point of a 521-bit curve */
#define SMDP_EC_SCALAR_MAX 66
#define SMDP_EC_CURVE_MAX 63 /* longest group name accepted */
#define SMDP_ECKEY_CACHE_SLOTS 1024

/* The public point of key (uncompressed 04 || X || Y) and its curve name. */
int smdp_eckey_export_pub(const EVP_PKEY *key, uint8_t *point, size_t cap, size_t *len, char *curve,
                          size_t curve_cap);

/* The public key of point (uncompressed, on the curve) on curve, or NULL. */
EVP_PKEY *smdp_eckey_from_pub(const char *curve, const uint8_t *point, size_t len);

/* The private scalar of key, big-endian, padded to the curve's byte length
 * (written to *len); the caller wipes it. */
int smdp_eckey_export_priv(const EVP_PKEY *key, uint8_t *scalar, size_t cap, size_t *len);

/* The key pair (scalar, point) on curve, or NULL.  The point is taken as
 * given: pass the one exported with the scalar. */
EVP_PKEY *smdp_eckey_from_priv(const char *curve, const uint8_t *scalar, size_t scalar_len,
                               const uint8_t *point, size_t point_len);

/* Like smdp_eckey_from_pub, but first looks in the cache: keys passed to
 * smdp_eckey_remember or built here.  A key built is cached. */
EVP_PKEY *smdp_eckey_pub(const char *curve, const uint8_t *point, size_t len);

/* Caches key (whose curve and point these are); the cache takes a new
 * reference.  Inputs that do not fit are ignored. */
void smdp_eckey_remember(EVP_PKEY *key, const char *curve, const uint8_t *point, size_t len);

/* Empties the cache (e.g. when the service stops, before checking for
 * leaks).  Keys handed out stay valid. */
void smdp_eckey_forget(void);

#endif
