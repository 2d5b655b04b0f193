#include "smdp_default/eckey.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

int smdp_eckey_export_pub(const EVP_PKEY *key, uint8_t *point, size_t cap, size_t *len, char *curve,
                          size_t curve_cap)
{
    size_t n = 0, cn = 0;
    uint8_t buf[SMDP_EC_POINT_MAX];
    char name[SMDP_EC_CURVE_MAX + 1];
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, sizeof(buf), &n) != 1 ||
        n == 0 || n > cap || EVP_PKEY_get_group_name(key, name, sizeof(name), &cn) != 1 || cn == 0 ||
        cn >= curve_cap)
        return -1;
    memcpy(point, buf, n);
    *len = n;
    memcpy(curve, name, cn);
    curve[cn] = '\0';
    return 0;
}

static EVP_PKEY *from_params(int selection, OSSL_PARAM *params)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, selection, params) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static bool curve_ok(const char *curve)
{
    return curve && *curve && strlen(curve) <= SMDP_EC_CURVE_MAX;
}

EVP_PKEY *smdp_eckey_from_pub(const char *curve, const uint8_t *point, size_t len)
{
    if (!curve_ok(curve) || !point || len == 0 || len > SMDP_EC_POINT_MAX)
        return NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, len),
        OSSL_PARAM_construct_end(),
    };
    return from_params(EVP_PKEY_PUBLIC_KEY, params);
}

int smdp_eckey_export_priv(const EVP_PKEY *key, uint8_t *scalar, size_t cap, size_t *len)
{
    BIGNUM *d = NULL;
    int bits = key && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? EVP_PKEY_get_bits(key) : 0;
    size_t n = bits > 0 ? ((size_t)bits + 7) / 8 : 0;
    if (n == 0 || n > cap || n > SMDP_EC_SCALAR_MAX ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
        return -1;
    int ok = BN_bn2binpad(d, scalar, (int)n) == (int)n;
    BN_clear_free(d);
    if (!ok) {
        OPENSSL_cleanse(scalar, n);
        return -1;
    }
    *len = n;
    return 0;
}

EVP_PKEY *smdp_eckey_from_priv(const char *curve, const uint8_t *scalar, size_t scalar_len,
                               const uint8_t *point, size_t point_len)
{
    if (!curve_ok(curve) || !scalar || scalar_len == 0 || scalar_len > SMDP_EC_SCALAR_MAX || !point ||
        point_len == 0 || point_len > SMDP_EC_POINT_MAX)
        return NULL;
    /* an OSSL_PARAM integer is in native byte order */
    uint8_t native[SMDP_EC_SCALAR_MAX];
    for (size_t i = 0; i < scalar_len; i++)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        native[i] = scalar[scalar_len - 1 - i];
#else
        native[i] = scalar[i];
#endif
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve, 0),
        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, native, scalar_len),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, point_len),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *key = from_params(EVP_PKEY_KEYPAIR, params);
    OPENSSL_cleanse(native, sizeof(native));
    return key;
}

/* ---- the cache ---- */

typedef struct entry {
    pthread_mutex_t mu;
    EVP_PKEY *key;
    size_t len;
    uint8_t point[SMDP_EC_POINT_MAX];
    char curve[SMDP_EC_CURVE_MAX + 1];
} entry;

static entry cache[SMDP_ECKEY_CACHE_SLOTS];
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_init(void)
{
    for (size_t i = 0; i < SMDP_ECKEY_CACHE_SLOTS; i++)
        pthread_mutex_init(&cache[i].mu, NULL);
}

/* The slot of a point, locked (FNV-1a; the coordinates are as good as random, but cheap to mix anyway). */
static entry *slot_lock(const uint8_t *point, size_t len)
{
    pthread_once(&cache_once, cache_init);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ point[i]) * 16777619u;
    entry *e = &cache[h % SMDP_ECKEY_CACHE_SLOTS];
    pthread_mutex_lock(&e->mu);
    return e;
}

static bool entry_is(const entry *e, const char *curve, const uint8_t *point, size_t len)
{
    return e->key && e->len == len && memcmp(e->point, point, len) == 0 && !strcmp(e->curve, curve);
}

static bool args_ok(const char *curve, const uint8_t *point, size_t len)
{
    return curve_ok(curve) && point && len != 0 && len <= SMDP_EC_POINT_MAX;
}

void smdp_eckey_remember(EVP_PKEY *key, const char *curve, const uint8_t *point, size_t len)
{
    if (!key || !args_ok(curve, point, len))
        return;
    EVP_PKEY *old = NULL;
    entry *e = slot_lock(point, len);
    if (!entry_is(e, curve, point, len) && EVP_PKEY_up_ref(key) == 1) {
        old = e->key;
        e->key = key;
        e->len = len;
        memcpy(e->point, point, len);
        memcpy(e->curve, curve, strlen(curve) + 1);
    }
    pthread_mutex_unlock(&e->mu);
    EVP_PKEY_free(old);
}

EVP_PKEY *smdp_eckey_pub(const char *curve, const uint8_t *point, size_t len)
{
    if (!args_ok(curve, point, len))
        return NULL;
    EVP_PKEY *key = NULL;
    entry *e = slot_lock(point, len);
    if (entry_is(e, curve, point, len) && EVP_PKEY_up_ref(e->key) == 1)
        key = e->key;
    pthread_mutex_unlock(&e->mu);
    if (key)
        return key;
    /* built outside the lock: two threads missing the same key at once both build it */
    key = smdp_eckey_from_pub(curve, point, len);
    if (key)
        smdp_eckey_remember(key, curve, point, len);
    return key;
}

void smdp_eckey_forget(void)
{
    pthread_once(&cache_once, cache_init);
    for (size_t i = 0; i < SMDP_ECKEY_CACHE_SLOTS; i++) {
        entry *e = &cache[i];
        pthread_mutex_lock(&e->mu);
        EVP_PKEY *old = e->key;
        e->key = NULL;
        e->len = 0;
        pthread_mutex_unlock(&e->mu);
        EVP_PKEY_free(old);
    }
}
