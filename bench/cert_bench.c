/*
 * cert_bench: eUICC chain verifications per second, with and without the EUM
 * cache, next to single ECDSA-SHA256 verifications through EVP in the same
 * run, for NIST P-256 and brainpoolP256r1.
 *
 *   bazel run -c opt //bench:cert_bench [-- seconds_per_cell [rounds]]
 *
 * Chains are minted in-process; with RSP_SHARED_DIR set the SGP.26 CI, EUM
 * and eUICC certificates are used instead.  Single thread.  Rates are per
 * second of this thread's CPU time, so that other load on the machine does
 * not skew them; each cell is measured in several interleaved rounds and the
 * best round is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "rsp/cert.h"
#include "rsp/cert_testutil.h"
#include "rsp/sig.h"

typedef struct bench_chain {
    rsp_ci_store *store;
    uint8_t *eum, *euicc;
    size_t eum_len, euicc_len;
} bench_chain;

static double seconds_per_cell = 0.5;
static int rounds = 5;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *b = malloc(1 << 16);
    size_t n = b ? fread(b, 1, 1 << 16, f) : 0;
    fclose(f);
    if (n == 0) {
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

static int load_sgp26(bench_chain *c, const char *dir, const char *curve)
{
    char p[1024];
    c->store = rsp_ci_store_new();
    snprintf(p, sizeof(p), "%s/pki/sgp26/CertificateIssuer/CERT_CI_ECDSA_%s.der", dir, curve);
    if (!c->store || rsp_ci_store_add_file(c->store, p) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/pki/sgp26/EUM/CERT_EUM_ECDSA_%s.der", dir, curve);
    c->eum = read_all(p, &c->eum_len);
    snprintf(p, sizeof(p), "%s/pki/sgp26/eUICC/CERT_EUICC_ECDSA_%s.der", dir, curve);
    c->euicc = read_all(p, &c->euicc_len);
    return c->eum && c->euicc ? 0 : -1;
}

static int mint(bench_chain *c, const char *curve)
{
    ct_chain m;
    if (ct_chain_make(&m, curve, false, "89049032", "89049032123451234512345678901235", time(NULL)) != 0)
        return -1;
    c->store = rsp_ci_store_new();
    int rc = -1;
    if (c->store && rsp_ci_store_add(c->store, m.ci) == 0) {
        c->eum = ct_der(m.eum, &c->eum_len);
        c->euicc = ct_der(m.euicc, &c->euicc_len);
        rc = c->eum && c->euicc ? 0 : -1;
    }
    ct_chain_free(&m);
    return rc;
}

static void chain_free(bench_chain *c)
{
    rsp_ci_store_free(c->store);
    free(c->eum);
    free(c->euicc);
}

/* Runs fn for seconds_per_cell of CPU time; returns calls per CPU second. */
static double rate(int (*fn)(void *), void *arg)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 16; i++) {
            if (fn(arg) != 0) {
                fprintf(stderr, "benchmark step failed\n");
                exit(1);
            }
        }
        n += 16;
        t = now_s();
    } while (t - t0 < seconds_per_cell);
    return (double)n / (t - t0);
}

static void best(double *acc, double v)
{
    if (v > *acc)
        *acc = v;
}

typedef struct raw_arg {
    EVP_PKEY *pub;
    const uint8_t *msg;
    size_t len;
    uint8_t *der;
    size_t der_len;
    uint8_t raw[RSP_SIG_LEN];
} raw_arg;

static int raw_evp(void *p)
{
    raw_arg *a = p;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, a->pub) == 1 &&
             EVP_DigestVerify(ctx, a->der, a->der_len, a->msg, a->len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int tr03111(void *p)
{
    raw_arg *a = p;
    return rsp_sig_verify(a->pub, a->msg, a->len, a->raw, sizeof(a->raw));
}

/* d2i_X509 of the eUICC certificate alone: OpenSSL 3.0 decodes the public
 * key through its provider decoders here, a fixed cost of every chain check. */
static int parse(void *p)
{
    bench_chain *c = p;
    const uint8_t *q = c->euicc;
    X509 *x = d2i_X509(NULL, &q, (long)c->euicc_len);
    X509_free(x);
    return x ? 0 : -1;
}

typedef struct chain_arg {
    bench_chain *c;
    rsp_eum_cache *cache;
} chain_arg;

static int chain(void *p)
{
    chain_arg *a = p;
    rsp_euicc_identity id;
    rsp_status st = rsp_verify_euicc_chain(a->c->store, a->cache, NULL, 0, a->c->eum, a->c->eum_len,
                                           a->c->euicc, a->c->euicc_len, time(NULL), &id);
    rsp_euicc_identity_clear(&id);
    if (st != RSP_OK)
        fprintf(stderr, "chain: %s %s\n", rsp_status_str(st), rsp_cert_last_reason());
    return st == RSP_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        seconds_per_cell = atof(argv[1]);
    if (argc > 2)
        rounds = atoi(argv[2]);
    if (seconds_per_cell <= 0)
        seconds_per_cell = 0.5;
    if (rounds <= 0)
        rounds = 5;
    const char *dir = getenv("RSP_SHARED_DIR");
    const struct {
        const char *name, *ossl, *sgp26;
    } curves[] = {{"P-256", "P-256", "NIST"}, {"brainpoolP256r1", "brainpoolP256r1", "BRP"}};

    printf("%s, %s; one thread; calls per CPU second, best of %d rounds of %.2f s\n\n",
           OpenSSL_version(OPENSSL_VERSION), dir && *dir ? "SGP.26 chains" : "minted chains", rounds,
           seconds_per_cell);
    printf("%-16s %10s %10s %10s %10s %10s %9s %9s %9s\n", "curve", "ECDSA/s", "r||s/s", "d2i/s", "chain+c/s",
           "chain/s", "c/ECDSA", "nc/ECDSA", "c/nc");
    for (size_t i = 0; i < 2; i++) {
        bench_chain c = {0};
        int rc = dir && *dir ? load_sgp26(&c, dir, curves[i].sgp26) : mint(&c, curves[i].ossl);
        if (rc != 0) {
            fprintf(stderr, "%s: cannot set up the chain\n", curves[i].name);
            chain_free(&c);
            return 1;
        }
        /* One signature by a fresh key on the same curve stands for
         * euiccSignature1: the cost depends only on the curve. */
        EVP_PKEY *sk = ct_key(curves[i].ossl);
        static const uint8_t msg[120] = "euiccSigned1 stand-in";
        raw_arg ra = {.pub = sk, .msg = msg, .len = sizeof(msg)};
        if (!sk || rsp_sig_sign(sk, msg, sizeof(msg), ra.raw) != 0 ||
            rsp_sig_raw_to_der(ra.raw, &ra.der, &ra.der_len) != 0) {
            fprintf(stderr, "cannot sign\n");
            return 1;
        }
        chain_arg nc = {&c, NULL}, wc = {&c, rsp_eum_cache_new(64)};
        double r_raw = 0, r_tr = 0, r_parse = 0, r_cached = 0, r_nocache = 0;
        for (int r = 0; r < rounds; r++) {
            best(&r_raw, rate(raw_evp, &ra));
            best(&r_tr, rate(tr03111, &ra));
            best(&r_parse, rate(parse, &c));
            best(&r_cached, rate(chain, &wc));
            best(&r_nocache, rate(chain, &nc));
        }
        uint64_t hits, misses;
        rsp_eum_cache_stats(wc.cache, &hits, &misses);
        printf("%-16s %10.0f %10.0f %10.0f %10.0f %10.0f %9.2f %9.2f %9.2f\n", curves[i].name, r_raw, r_tr,
               r_parse, r_cached, r_nocache, r_cached / r_raw, r_nocache / r_raw, r_cached / r_nocache);
        if (misses != 1)
            fprintf(stderr, "unexpected cache behaviour: %llu hits, %llu misses\n", (unsigned long long)hits,
                    (unsigned long long)misses);
        rsp_eum_cache_free(wc.cache);
        OPENSSL_free(ra.der);
        EVP_PKEY_free(sk);
        chain_free(&c);
    }
    printf(
        "\nECDSA/s: EVP_DigestVerifyInit+EVP_DigestVerify (SHA-256) of one DER signature\n"
        "r||s/s: rsp_sig_verify of the same signature in TR-03111 form\n"
        "d2i/s: d2i_X509 of the eUICC certificate (part of every chain check)\n"
        "chain+c/s: rsp_verify_euicc_chain with a warm EUM cache (verifies the eUICC only)\n"
        "chain/s: rsp_verify_euicc_chain without cache (EUM and eUICC)\n"
        "c/ECDSA, nc/ECDSA: chain rates with and without cache over the ECDSA rate; c/nc: cache speed-up\n");
    return 0;
}
