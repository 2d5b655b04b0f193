#include "bench/fleet.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "asn1/sgp22.h"
#include "rsp/sig.h"

static uint8_t *der_of(X509 *x, size_t *len)
{
    uint8_t *out = NULL;
    int n = i2d_X509(x, &out);
    if (n <= 0)
        return NULL;
    *len = (size_t)n;
    return out;
}

static uint8_t *take(der_writer *w, size_t *len)
{
    uint8_t *p = NULL;
    if (der_w_finish(w) == 0 && (p = malloc(w->len ? w->len : 1)) != NULL) {
        memcpy(p, w->buf, w->len);
        *len = w->len;
    }
    der_w_free(w);
    return p;
}

struct mint_job {
    fleet *f;
    const pki_cred *eum;
    X509 *const *cis;
    size_t ncis;
    const char *prefix;
    const uint64_t *numbers;
    atomic_size_t next;
    atomic_int failed;
    char err[256];
    pthread_mutex_t mu;
};

static void job_fail(struct mint_job *j, const char *fmt, const char *arg)
{
    pthread_mutex_lock(&j->mu);
    if (!atomic_exchange(&j->failed, 1))
        snprintf(j->err, sizeof(j->err), fmt, arg);
    pthread_mutex_unlock(&j->mu);
}

static int mint_one(struct mint_job *j, size_t i)
{
    fleet_dev *d = &j->f->dev[i];
    d->eum_der = j->f->eum_der;
    d->eum_len = j->f->eum_len;
    if (pki_eid_make(j->prefix, j->numbers[i], d->eid) != 0) {
        job_fail(j, "EID from prefix %s: does not fit", j->prefix);
        return -1;
    }
    pki_opts o;
    pki_opts_init(&o, PKI_EUICC);
    o.curve = j->f->curve;
    o.eid = d->eid;
    pki_cred c = {0};
    if (pki_mint(&o, j->eum, &c) != 0) {
        job_fail(j, "minting eUICC %s failed", d->eid);
        return -1;
    }
    euicc_error e;
    int rc = -1;
    d->e = euicc_new();
    if (d->e && euicc_set_identity(d->e, c.cert, c.key, j->eum->cert, &e) == 0) {
        rc = 0;
        for (size_t k = 0; k < j->ncis && rc == 0; k++)
            rc = euicc_add_ci(d->e, j->cis[k]);
    }
    der_writer w1, w2;
    der_w_init(&w1);
    der_w_init(&w2);
    if (rc == 0 && (euicc_get_info1(d->e, &w1) != 0 || euicc_get_info2(d->e, &w2) != 0))
        rc = -1;
    d->info1 = take(&w1, &d->info1_len);
    d->info2 = take(&w2, &d->info2_len);
    d->cert_der = der_of(c.cert, &d->cert_len);
    pki_cred_clear(&c);
    if (rc != 0 || !d->info1 || !d->info2 || !d->cert_der) {
        job_fail(j, "setting up eUICC %s failed", d->eid);
        return -1;
    }
    return 0;
}

static void *mint_thread(void *arg)
{
    struct mint_job *j = arg;
    size_t i;
    while (!atomic_load(&j->failed) && (i = atomic_fetch_add(&j->next, 1)) < j->f->n)
        if (mint_one(j, i) != 0)
            break;
    return NULL;
}

int fleet_mint(fleet *f, const pki_cred *eum, X509 *const *cis, size_t ncis, const char *eid_prefix,
               const uint64_t *eid_numbers, size_t n, unsigned threads, char *err, size_t errcap)
{
    memset(f, 0, sizeof(*f));
    if (pki_key_curve(eum->key, &f->curve) != 0) {
        snprintf(err, errcap, "EUM key is not on a supported curve");
        return -1;
    }
    f->dev = calloc(n ? n : 1, sizeof(*f->dev));
    f->eum_der = der_of(eum->cert, &f->eum_len);
    if (!f->dev || !f->eum_der) {
        snprintf(err, errcap, "out of memory");
        fleet_free(f);
        return -1;
    }
    f->n = n;
    struct mint_job j = {
        .f = f, .eum = eum, .cis = cis, .ncis = ncis, .prefix = eid_prefix, .numbers = eid_numbers};
    pthread_mutex_init(&j.mu, NULL);
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    pthread_t tid[64];
    unsigned started = 0;
    for (unsigned t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, mint_thread, &j) == 0)
            started++;
    mint_thread(&j);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&j.mu);
    if (atomic_load(&j.failed)) {
        snprintf(err, errcap, "%s", j.err);
        fleet_free(f);
        return -1;
    }
    return 0;
}

void fleet_free(fleet *f)
{
    for (size_t i = 0; f->dev && i < f->n; i++) {
        euicc_free(f->dev[i].e);
        free(f->dev[i].info1);
        free(f->dev[i].info2);
        OPENSSL_free(f->dev[i].cert_der);
    }
    free(f->dev);
    OPENSSL_free(f->eum_der);
    memset(f, 0, sizeof(*f));
}

int fleet_auth_response(const fleet_dev *d, const uint8_t challenge[16], const uint8_t *server_signed1,
                        size_t len, const uint8_t *ctx_params1, size_t ctx_len, der_writer *out)
{
    sgp22_server_signed1 ss;
    if (sgp22_server_signed1_decode(server_signed1, len, &ss) != 0 || ss.euicc_challenge.len != 16 ||
        CRYPTO_memcmp(ss.euicc_challenge.p, challenge, 16) != 0)
        return -1;
    der_writer t;
    der_w_init(&t);
    der_w_begin(&t, 0x30);
    der_w_tlv(&t, 0x80, ss.transaction_id.p, ss.transaction_id.len);
    der_w_tlv(&t, 0x83, ss.server_address.p, ss.server_address.len);
    der_w_tlv(&t, 0x84, ss.server_challenge.p, ss.server_challenge.len);
    der_w_raw(&t, d->info2, d->info2_len);
    der_w_raw(&t, ctx_params1, ctx_len);
    der_w_end(&t);
    uint8_t sig[RSP_SIG_LEN];
    if (der_w_finish(&t) != 0 || rsp_sig_sign(euicc_key(d->e), t.buf, t.len, sig) != 0) {
        der_w_free(&t);
        return -1;
    }
    der_w_begin(out, 0xBF38);
    der_w_begin(out, 0xA0);
    der_w_raw(out, t.buf, t.len);
    der_w_tlv(out, 0x5F37, sig, sizeof(sig));
    der_w_raw(out, d->cert_der, d->cert_len);
    der_w_raw(out, d->eum_der, d->eum_len);
    der_w_end(out);
    der_w_end(out);
    der_w_free(&t);
    return der_w_finish(out) == 0 ? 0 : -1;
}
