#include "bench/floor.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>

#include "bench/stats.h"
#include "rsp/sig.h"

int floor_measure(const floor_cfg *cfg, int (*op)(void *arg), void *arg, double *us)
{
    double secs = cfg && cfg->secs > 0 ? cfg->secs : 0.2;
    int rounds = cfg && cfg->rounds > 0 ? cfg->rounds : 3;
    if (op(arg) != 0) /* warm-up: first-use costs (method fetches) are not per-request costs */
        return -1;
    double best = -1;
    for (int r = 0; r < rounds; r++) {
        double t0 = bench_thread_cpu(), t;
        long n = 0;
        do {
            for (int k = 0; k < 4; k++)
                if (op(arg) != 0)
                    return -1;
            n += 4;
            t = bench_thread_cpu() - t0;
        } while (t < secs);
        double per = t * 1e6 / (double)n;
        if (best < 0 || per < best)
            best = per;
    }
    *us = best;
    return 0;
}

/* ---- TLS signature ---- */

struct tls_sign_arg {
    EVP_PKEY *key;
    const EVP_MD *md;
    uint8_t msg[130]; /* 64 spaces, context string, 0, transcript hash */
    uint8_t sig[1024];
};

static int op_tls_sign(void *a)
{
    struct tls_sign_arg *t = a;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t sl = sizeof(t->sig);
    int ok = c && EVP_DigestSignInit(c, &pctx, t->md, NULL, t->key) == 1;
    if (ok && EVP_PKEY_is_a(t->key, "RSA"))
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestSign(c, t->sig, &sl, t->msg, sizeof(t->msg)) == 1;
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

int floor_tls_sign(const floor_cfg *cfg, EVP_PKEY *key, const EVP_MD *md, double *us)
{
    struct tls_sign_arg *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    t->key = key;
    bool edwards = EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448");
    t->md = edwards ? NULL : (md ? md : EVP_sha256());
    memset(t->msg, ' ', 64);
    memcpy(t->msg + 64, "TLS 1.3, server CertificateVerify", 33);
    RAND_bytes(t->msg + 98, 32);
    int rc = floor_measure(cfg, op_tls_sign, t, us);
    free(t);
    return rc;
}

/* ---- key agreement ---- */

static const struct group {
    int nid;
    const char *name, *alg, *real;
} groups[] = {
    {NID_X25519, "X25519", "X25519", "x25519"},
    {NID_X448, "X448", "X448", "x448"},
    {NID_X9_62_prime256v1, "P-256", "EC", "prime256v1"},
    {NID_secp384r1, "P-384", "EC", "secp384r1"},
    {NID_secp521r1, "P-521", "EC", "secp521r1"},
    {NID_brainpoolP256r1, "brainpoolP256r1", "EC", "brainpoolP256r1"},
};

const char *floor_group_name(int nid)
{
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (groups[i].nid == nid)
            return groups[i].name;
    return NULL;
}

static const struct group *group_find(const char *name)
{
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (strcasecmp(groups[i].name, name) == 0 || strcasecmp(groups[i].real, name) == 0)
            return &groups[i];
    return NULL;
}

/* What libssl does for one group: parameters, then a key from them. */
static EVP_PKEY *group_params(const struct group *g)
{
    EVP_PKEY *p = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, g->alg, NULL);
    if (!c || EVP_PKEY_paramgen_init(c) <= 0 || EVP_PKEY_CTX_set_group_name(c, g->real) <= 0 ||
        EVP_PKEY_paramgen(c, &p) <= 0) {
        EVP_PKEY_free(p);
        p = NULL;
    }
    EVP_PKEY_CTX_free(c);
    return p;
}

static EVP_PKEY *group_keygen(EVP_PKEY *params)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
    if (!c || EVP_PKEY_keygen_init(c) <= 0 || EVP_PKEY_keygen(c, &k) <= 0) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    EVP_PKEY_CTX_free(c);
    return k;
}

struct kex_arg {
    const struct group *g;
    uint8_t *share; /* the client's key share */
    size_t share_len;
};

/* Server side of a TLS 1.3 key exchange: the client's share into a key,
 * our ephemeral key, the shared secret. */
static int op_kex(void *a)
{
    struct kex_arg *k = a;
    int ok = 0;
    EVP_PKEY *peer = group_params(k->g), *mine = NULL;
    EVP_PKEY_CTX *d = NULL;
    uint8_t secret[80];
    size_t sl = sizeof(secret);
    if (peer && EVP_PKEY_set1_encoded_public_key(peer, k->share, k->share_len) == 1 &&
        (mine = group_keygen(peer)) != NULL && (d = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL)) != NULL &&
        EVP_PKEY_derive_init(d) == 1 && EVP_PKEY_derive_set_peer(d, peer) == 1 &&
        EVP_PKEY_derive(d, secret, &sl) == 1)
        ok = 1;
    /* The server also serialises its own share for ServerHello. */
    uint8_t *enc = NULL;
    if (ok && EVP_PKEY_get1_encoded_public_key(mine, &enc) == 0)
        ok = 0;
    OPENSSL_free(enc);
    EVP_PKEY_CTX_free(d);
    EVP_PKEY_free(mine);
    EVP_PKEY_free(peer);
    OPENSSL_cleanse(secret, sizeof(secret));
    return ok ? 0 : -1;
}

int floor_key_agreement(const floor_cfg *cfg, const char *group, double *us)
{
    struct kex_arg k = {group ? group_find(group) : NULL, NULL, 0};
    if (!k.g)
        return -1;
    EVP_PKEY *params = group_params(k.g), *client = params ? group_keygen(params) : NULL;
    size_t n = client ? EVP_PKEY_get1_encoded_public_key(client, &k.share) : 0;
    EVP_PKEY_free(client);
    EVP_PKEY_free(params);
    if (n == 0)
        return -1;
    k.share_len = n;
    int rc = floor_measure(cfg, op_kex, &k, us);
    OPENSSL_free(k.share);
    return rc;
}

/* ---- application signatures and certificates ---- */

struct sig_arg {
    EVP_PKEY *key;
    uint8_t *msg;
    size_t len;
    uint8_t sig[RSP_SIG_LEN];
};

static int op_app_sign(void *a)
{
    struct sig_arg *s = a;
    return rsp_sig_sign(s->key, s->msg, s->len, s->sig);
}

static int op_app_verify(void *a)
{
    struct sig_arg *s = a;
    return rsp_sig_verify(s->key, s->msg, s->len, s->sig, RSP_SIG_LEN);
}

static int sig_setup(struct sig_arg *s, EVP_PKEY *key, size_t len)
{
    s->key = key;
    s->len = len ? len : 1;
    s->msg = malloc(s->len);
    if (!s->msg)
        return -1;
    RAND_bytes(s->msg, (int)s->len);
    return 0;
}

int floor_app_sign(const floor_cfg *cfg, EVP_PKEY *key, size_t len, double *us)
{
    struct sig_arg s;
    if (sig_setup(&s, key, len) != 0)
        return -1;
    int rc = floor_measure(cfg, op_app_sign, &s, us);
    free(s.msg);
    return rc;
}

int floor_app_verify(const floor_cfg *cfg, EVP_PKEY *signer, EVP_PKEY *pub, size_t len, double *us)
{
    struct sig_arg s;
    if (sig_setup(&s, signer, len) != 0)
        return -1;
    int rc = rsp_sig_sign(signer, s.msg, s.len, s.sig);
    s.key = pub;
    if (rc == 0)
        rc = floor_measure(cfg, op_app_verify, &s, us);
    free(s.msg);
    return rc;
}

struct cert_arg {
    X509 *cert;
    EVP_PKEY *pub;
};

static int op_cert_verify(void *a)
{
    struct cert_arg *c = a;
    return X509_verify(c->cert, c->pub) == 1 ? 0 : -1;
}

int floor_cert_verify(const floor_cfg *cfg, X509 *cert, EVP_PKEY *issuer_pub, double *us)
{
    struct cert_arg c = {cert, issuer_pub};
    return floor_measure(cfg, op_cert_verify, &c, us);
}

struct parse_arg {
    const uint8_t *der;
    size_t len;
};

static int op_cert_parse(void *a)
{
    struct parse_arg *p = a;
    const uint8_t *q = p->der;
    X509 *x = d2i_X509(NULL, &q, (long)p->len);
    int ok = x && X509_get0_pubkey(x) != NULL;
    X509_free(x);
    return ok ? 0 : -1;
}

int floor_cert_parse(const floor_cfg *cfg, const uint8_t *der, size_t len, double *us)
{
    struct parse_arg p = {der, len};
    return floor_measure(cfg, op_cert_parse, &p, us);
}

struct hs_arg {
    SSL_CTX *server, *client;
    double server_cpu; /* accumulated by op_handshake */
};

/* Moves what one side wrote to the other side's input. */
static void pump(BIO *from, BIO *to)
{
    char buf[8192];
    int n;
    while ((n = BIO_read(from, buf, sizeof(buf))) > 0)
        BIO_write(to, buf, n);
}

static int op_handshake(void *a)
{
    struct hs_arg *h = a;
    SSL *s = SSL_new(h->server), *c = SSL_new(h->client);
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
    BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    int ok = 0;
    double spent = 0;
    if (s && c && s_in && s_out && c_in && c_out) {
        SSL_set_bio(s, s_in, s_out);
        SSL_set_bio(c, c_in, c_out);
        s_in = s_out = c_in = c_out = NULL;
        SSL_set_accept_state(s);
        SSL_set_connect_state(c);
        char byte;
        for (int round = 0; round < 8 && !ok; round++) {
            SSL_do_handshake(c);
            pump(SSL_get_wbio(c), SSL_get_rbio(s));
            double t0 = bench_thread_cpu();
            SSL_do_handshake(s);
            /* The session tickets go out with the first write after the handshake. */
            if (SSL_is_init_finished(s))
                SSL_write(s, "x", 1);
            spent += bench_thread_cpu() - t0;
            pump(SSL_get_wbio(s), SSL_get_rbio(c));
            ok = SSL_is_init_finished(s) && SSL_is_init_finished(c) && SSL_read(c, &byte, 1) == 1;
        }
    }
    double t0 = bench_thread_cpu();
    SSL_free(s);
    spent += bench_thread_cpu() - t0;
    SSL_free(c);
    BIO_free(s_in);
    BIO_free(s_out);
    BIO_free(c_in);
    BIO_free(c_out);
    h->server_cpu += spent;
    return ok ? 0 : -1;
}

int floor_tls_handshake(const floor_cfg *cfg, const char *cert_chain_file, const char *key_file, double *us)
{
    struct hs_arg h = {SSL_CTX_new(TLS_server_method()), SSL_CTX_new(TLS_client_method()), 0};
    double secs = cfg && cfg->secs > 0 ? cfg->secs : 0.2;
    int rounds = cfg && cfg->rounds > 0 ? cfg->rounds : 3, rc = -1;
    if (h.server && h.client && SSL_CTX_use_certificate_chain_file(h.server, cert_chain_file) == 1 &&
        SSL_CTX_use_PrivateKey_file(h.server, key_file, SSL_FILETYPE_PEM) == 1 && op_handshake(&h) == 0) {
        SSL_CTX_set_session_cache_mode(h.client, SSL_SESS_CACHE_OFF);
        double best = -1;
        rc = 0;
        /* Both sides run here; only the server's share of each round counts. */
        for (int r = 0; r < rounds && rc == 0; r++) {
            h.server_cpu = 0;
            long n = 0;
            double t0 = bench_thread_cpu();
            while (rc == 0 && bench_thread_cpu() - t0 < secs) {
                rc = op_handshake(&h);
                n++;
            }
            double per = h.server_cpu * 1e6 / (double)n;
            if (best < 0 || per < best)
                best = per;
        }
        if (rc == 0)
            *us = best;
    }
    SSL_CTX_free(h.server);
    SSL_CTX_free(h.client);
    return rc;
}

int floor_es11_measure(const floor_cfg *cfg, const floor_es11_in *in, floor_es11 *out)
{
    memset(out, 0, sizeof(*out));
    EVP_PKEY *euicc_pub = X509_get0_pubkey(in->euicc_cert);
    if (!euicc_pub)
        return -1;
    if (floor_tls_sign(cfg, in->tls_key, in->tls_md, &out->tls_sign_us) != 0 ||
        floor_key_agreement(cfg, in->group, &out->key_agreement_us) != 0 ||
        floor_app_sign(cfg, in->auth_key, in->signed1_len, &out->sign1_us) != 0 ||
        floor_cert_verify(cfg, in->euicc_cert, in->eum_pub, &out->verify_cert_us) != 0 ||
        floor_app_verify(cfg, in->euicc_key, euicc_pub, in->euicc_signed1_len, &out->verify_sig_us) != 0)
        return -1;
    out->handshake_us = out->tls_sign_us + out->key_agreement_us;
    out->app_us = out->sign1_us + out->verify_cert_us + out->verify_sig_us;
    out->fresh_us = out->handshake_us + out->app_us;
    return 0;
}

int floor_es9_measure(const floor_cfg *cfg, const floor_es9_in *in, floor_es9 *out)
{
    memset(out, 0, sizeof(*out));
    EVP_PKEY *euicc_pub = X509_get0_pubkey(in->euicc_cert);
    if (!euicc_pub)
        return -1;
    /* Signed and verified messages are a few hundred bytes at most. */
    if (floor_tls_sign(cfg, in->tls_key, in->tls_md, &out->tls_sign_us) != 0 ||
        floor_key_agreement(cfg, in->group, &out->key_agreement_us) != 0 ||
        floor_app_sign(cfg, in->auth_key, 100, &out->auth_sign_us) != 0 ||
        floor_app_sign(cfg, in->pb_key, 200, &out->pb_sign_us) != 0 ||
        floor_cert_verify(cfg, in->euicc_cert, in->eum_pub, &out->verify_cert_us) != 0 ||
        floor_app_verify(cfg, in->euicc_key, euicc_pub, 200, &out->verify_sig_us) != 0 ||
        floor_key_agreement(cfg, in->ecka, &out->ecka_us) != 0)
        return -1;
    out->total_us = out->tls_sign_us + out->key_agreement_us + out->auth_sign_us + 2 * out->pb_sign_us +
                    out->verify_cert_us + 3 * out->verify_sig_us + out->ecka_us;
    return 0;
}
