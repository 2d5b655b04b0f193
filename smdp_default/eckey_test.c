#include "smdp_default/eckey.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <openssl/x509.h>

#include "tests/unit/ut.h"

static EVP_PKEY *gen(const char *curve)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

/* Signs msg with priv and verifies it with pub: the two keys are one pair. */
static int pair(EVP_PKEY *priv, EVP_PKEY *pub)
{
    static const uint8_t msg[] = "eckey";
    uint8_t sig[160];
    size_t sl = sizeof(sig);
    EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
    int ok = s && v && EVP_DigestSignInit(s, NULL, EVP_sha256(), NULL, priv) == 1 &&
             EVP_DigestSign(s, sig, &sl, msg, sizeof(msg)) == 1 &&
             EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(v, sig, sl, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(s);
    EVP_MD_CTX_free(v);
    return ok;
}

static void test_pub_round_trip(void)
{
    static const char *const curves[] = {"prime256v1", "brainpoolP256r1", "secp384r1"};
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        EVP_PKEY *k = gen(curves[i]);
        UT_CHECK(k != NULL);
        uint8_t pt[SMDP_EC_POINT_MAX];
        size_t n = 0;
        char curve[SMDP_EC_CURVE_MAX + 1];
        UT_EQ(smdp_eckey_export_pub(k, pt, sizeof(pt), &n, curve, sizeof(curve)), 0);
        UT_CHECK(!strcmp(curve, curves[i]));
        UT_EQ(pt[0], 0x04);
        UT_EQ(n, 1 + 2 * (((size_t)EVP_PKEY_get_bits(k) + 7) / 8));
        EVP_PKEY *pub = smdp_eckey_from_pub(curve, pt, n);
        UT_CHECK(pub != NULL);
        UT_EQ(EVP_PKEY_eq(k, pub), 1);
        UT_CHECK(pair(k, pub));
        /* the same key as through SubjectPublicKeyInfo DER */
        uint8_t *der = NULL;
        int dl = i2d_PUBKEY(k, &der);
        const uint8_t *p = der;
        EVP_PKEY *viader = d2i_PUBKEY(NULL, &p, dl);
        UT_EQ(EVP_PKEY_eq(viader, pub), 1);
        EVP_PKEY_free(viader);
        OPENSSL_free(der);
        /* too small buffers */
        UT_EQ(smdp_eckey_export_pub(k, pt, n - 1, &n, curve, sizeof(curve)), -1);
        UT_EQ(smdp_eckey_export_pub(k, pt, sizeof(pt), &n, curve, strlen(curves[i])), -1);
        EVP_PKEY_free(pub);
        EVP_PKEY_free(k);
    }
}

static void test_pub_refused(void)
{
    EVP_PKEY *k = gen("prime256v1");
    uint8_t pt[SMDP_EC_POINT_MAX];
    size_t n = 0;
    char curve[SMDP_EC_CURVE_MAX + 1];
    UT_EQ(smdp_eckey_export_pub(k, pt, sizeof(pt), &n, curve, sizeof(curve)), 0);
    /* off the curve */
    pt[n - 1] ^= 1;
    UT_CHECK(smdp_eckey_from_pub(curve, pt, n) == NULL);
    pt[n - 1] ^= 1;
    /* a point of another curve, an unknown curve, bad lengths */
    UT_CHECK(smdp_eckey_from_pub("brainpoolP256r1", pt, n) == NULL);
    UT_CHECK(smdp_eckey_from_pub("no-such-curve", pt, n) == NULL);
    UT_CHECK(smdp_eckey_from_pub("", pt, n) == NULL);
    UT_CHECK(smdp_eckey_from_pub(curve, pt, n - 1) == NULL);
    UT_CHECK(smdp_eckey_from_pub(curve, pt, 0) == NULL);
    UT_CHECK(smdp_eckey_from_pub(curve, NULL, n) == NULL);
    /* not an EC key */
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    UT_EQ(smdp_eckey_export_pub(ed, pt, sizeof(pt), &n, curve, sizeof(curve)), -1);
    uint8_t d[SMDP_EC_SCALAR_MAX];
    UT_EQ(smdp_eckey_export_priv(ed, d, sizeof(d), &n), -1);
    EVP_PKEY_free(ed);
    /* a public key has no scalar */
    UT_EQ(smdp_eckey_export_pub(k, pt, sizeof(pt), &n, curve, sizeof(curve)), 0);
    EVP_PKEY *pub = smdp_eckey_from_pub(curve, pt, n);
    UT_EQ(smdp_eckey_export_priv(pub, d, sizeof(d), &n), -1);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
}

static void test_priv_round_trip(void)
{
    static const char *const curves[] = {"prime256v1", "brainpoolP256r1"};
    for (size_t i = 0; i < 2; i++) {
        /* enough keys that some scalars have leading zero octets */
        for (int j = 0; j < 300; j++) {
            EVP_PKEY *k = gen(curves[i]);
            uint8_t pt[SMDP_EC_POINT_MAX], d[SMDP_EC_SCALAR_MAX];
            size_t n = 0, dn = 0;
            char curve[SMDP_EC_CURVE_MAX + 1];
            UT_EQ(smdp_eckey_export_pub(k, pt, sizeof(pt), &n, curve, sizeof(curve)), 0);
            UT_EQ(smdp_eckey_export_priv(k, d, sizeof(d), &dn), 0);
            UT_EQ(dn, 32);
            UT_EQ(smdp_eckey_export_priv(k, d, 31, &dn), -1);
            EVP_PKEY *back = smdp_eckey_from_priv(curve, d, dn, pt, n);
            UT_CHECK(back != NULL);
            UT_EQ(EVP_PKEY_eq(k, back), 1);
            uint8_t d2[SMDP_EC_SCALAR_MAX];
            size_t dn2 = 0;
            UT_EQ(smdp_eckey_export_priv(back, d2, sizeof(d2), &dn2), 0);
            UT_CHECK(dn2 == dn && !memcmp(d, d2, dn));
            if (j == 0) {
                UT_CHECK(pair(back, k));
                UT_CHECK(smdp_eckey_from_priv("no-such-curve", d, dn, pt, n) == NULL);
                UT_CHECK(smdp_eckey_from_priv(curve, d, 0, pt, n) == NULL);
                UT_CHECK(smdp_eckey_from_priv(curve, d, dn, pt, 0) == NULL);
            }
            EVP_PKEY_free(back);
            EVP_PKEY_free(k);
        }
    }
}

static void test_cache(void)
{
    EVP_PKEY *a = gen("prime256v1"), *b = gen("brainpoolP256r1");
    uint8_t pa[SMDP_EC_POINT_MAX], pb[SMDP_EC_POINT_MAX];
    size_t na, nb;
    char ca[SMDP_EC_CURVE_MAX + 1], cb[SMDP_EC_CURVE_MAX + 1];
    UT_EQ(smdp_eckey_export_pub(a, pa, sizeof(pa), &na, ca, sizeof(ca)), 0);
    UT_EQ(smdp_eckey_export_pub(b, pb, sizeof(pb), &nb, cb, sizeof(cb)), 0);

    /* remembered: the same object comes back */
    smdp_eckey_remember(a, ca, pa, na);
    EVP_PKEY *k = smdp_eckey_pub(ca, pa, na);
    UT_CHECK(k == a);
    EVP_PKEY_free(k);
    /* another point: built, and then cached */
    k = smdp_eckey_pub(cb, pb, nb);
    UT_CHECK(k != NULL && k != b && EVP_PKEY_eq(k, b) == 1);
    EVP_PKEY *k2 = smdp_eckey_pub(cb, pb, nb);
    UT_CHECK(k2 == k);
    EVP_PKEY_free(k2);
    /* the same point on another curve name is another key (and refused here) */
    UT_CHECK(smdp_eckey_pub(ca, pb, nb) == NULL);
    /* the cache keeps its own reference */
    EVP_PKEY_free(k);
    k = smdp_eckey_pub(cb, pb, nb);
    UT_CHECK(k != NULL && EVP_PKEY_eq(k, b) == 1);
    EVP_PKEY_free(k);
    /* a bad point is never cached */
    pa[na - 1] ^= 1;
    UT_CHECK(smdp_eckey_pub(ca, pa, na) == NULL);
    pa[na - 1] ^= 1;
    smdp_eckey_forget();
    smdp_eckey_forget();
    k = smdp_eckey_pub(ca, pa, na);
    UT_CHECK(k != NULL && k != a && EVP_PKEY_eq(k, a) == 1);
    EVP_PKEY_free(k);
    smdp_eckey_forget();
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

/* More keys than slots: every answer is the right key, the newest is always there, and the cache holds
 * at most SMDP_ECKEY_CACHE_SLOTS of them. */
static void test_cache_capacity(void)
{
    enum { N = SMDP_ECKEY_CACHE_SLOTS * 3 / 2 };
    static EVP_PKEY *keys[N];
    static uint8_t pts[N][SMDP_EC_POINT_MAX];
    size_t n[N];
    char curve[SMDP_EC_CURVE_MAX + 1];
    for (int i = 0; i < N; i++) {
        keys[i] = gen("prime256v1");
        UT_EQ(smdp_eckey_export_pub(keys[i], pts[i], sizeof(pts[i]), &n[i], curve, sizeof(curve)), 0);
        smdp_eckey_remember(keys[i], curve, pts[i], n[i]);
        EVP_PKEY *k = smdp_eckey_pub(curve, pts[i], n[i]);
        UT_CHECK(k == keys[i]);
        EVP_PKEY_free(k);
    }
    int hits = 0;
    for (int i = N - 1; i >= 0; i--) {
        EVP_PKEY *k = smdp_eckey_pub(curve, pts[i], n[i]);
        UT_CHECK(k != NULL && EVP_PKEY_eq(k, keys[i]) == 1);
        hits += k == keys[i];
        EVP_PKEY_free(k);
    }
    UT_CHECK(hits >= 1 && hits <= SMDP_ECKEY_CACHE_SLOTS);
    smdp_eckey_forget();
    for (int i = 0; i < N; i++)
        EVP_PKEY_free(keys[i]);
}

/* The cache is shared: a key remembered by one thread comes back to another, also while many threads
 * look keys up and replace them at once. */
enum { RACE_KEYS = 64, RACE_THREADS = 4, RACE_ROUNDS = 2000 };
static EVP_PKEY *race_keys[RACE_KEYS];
static uint8_t race_pts[RACE_KEYS][SMDP_EC_POINT_MAX];
static size_t race_n[RACE_KEYS];

static void *other_thread(void *arg)
{
    EVP_PKEY *a = arg;
    uint8_t pt[SMDP_EC_POINT_MAX];
    size_t n;
    char curve[SMDP_EC_CURVE_MAX + 1];
    smdp_eckey_export_pub(a, pt, sizeof(pt), &n, curve, sizeof(curve));
    EVP_PKEY *k = smdp_eckey_pub(curve, pt, n);
    void *r = (void *)(uintptr_t)(k == a);
    EVP_PKEY_free(k);
    return r;
}

static void *race_thread(void *arg)
{
    uintptr_t bad = 0, seed = (uintptr_t)arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t j = (seed >> 8) % RACE_KEYS;
        if (i % 7 == 0)
            smdp_eckey_forget();
        EVP_PKEY *k = smdp_eckey_pub("prime256v1", race_pts[j], race_n[j]);
        bad += !k || EVP_PKEY_eq(k, race_keys[j]) != 1;
        EVP_PKEY_free(k);
    }
    return (void *)bad;
}

static void test_cache_threads(void)
{
    EVP_PKEY *a = gen("prime256v1");
    uint8_t pt[SMDP_EC_POINT_MAX];
    size_t n;
    char curve[SMDP_EC_CURVE_MAX + 1];
    UT_EQ(smdp_eckey_export_pub(a, pt, sizeof(pt), &n, curve, sizeof(curve)), 0);
    smdp_eckey_remember(a, curve, pt, n);
    pthread_t t;
    void *r = NULL;
    UT_EQ(pthread_create(&t, NULL, other_thread, a), 0);
    pthread_join(t, &r);
    UT_CHECK(r != NULL);
    smdp_eckey_forget();
    EVP_PKEY_free(a);

    for (int i = 0; i < RACE_KEYS; i++) {
        race_keys[i] = gen("prime256v1");
        UT_EQ(smdp_eckey_export_pub(race_keys[i], race_pts[i], sizeof(race_pts[i]), &race_n[i], curve,
                                    sizeof(curve)),
              0);
    }
    pthread_t ts[RACE_THREADS];
    for (uintptr_t i = 0; i < RACE_THREADS; i++)
        UT_EQ(pthread_create(&ts[i], NULL, race_thread, (void *)(i + 1)), 0);
    for (int i = 0; i < RACE_THREADS; i++) {
        r = (void *)1;
        pthread_join(ts[i], &r);
        UT_CHECK(r == NULL);
    }
    smdp_eckey_forget();
    for (int i = 0; i < RACE_KEYS; i++)
        EVP_PKEY_free(race_keys[i]);
}

int main(void)
{
    UT_RUN(test_pub_round_trip);
    UT_RUN(test_pub_refused);
    UT_RUN(test_priv_round_trip);
    UT_RUN(test_cache);
    UT_RUN(test_cache_capacity);
    UT_RUN(test_cache_threads);
    return ut_finish();
}
