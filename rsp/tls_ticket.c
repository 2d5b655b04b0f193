#include "rsp/tls_ticket.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define MAX_SECRETS 16
#define MAX_LEN 64

struct derived {
    unsigned char name[16], aes[32], hmac[32];
};

struct rsp_tls_tickets {
    unsigned rotate_s;
    size_t n, current, len;
    uint8_t secret[MAX_SECRETS][MAX_LEN];
    EVP_CIPHER *aes; /* fetched once, not per ticket */
    pthread_mutex_t lock;
    long epoch;                          /* of keys[]; -1 = none yet */
    struct derived keys[2][MAX_SECRETS]; /* [0] this epoch, [1] the previous one */
};

rsp_tls_tickets *rsp_tls_tickets_new(const uint8_t *const *secrets, size_t n, size_t len, size_t current,
                                     unsigned rotate_s)
{
    if (n == 0 || n > MAX_SECRETS || current >= n || len < 16 || len > MAX_LEN || rotate_s == 0)
        return NULL;
    rsp_tls_tickets *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (t->aes == NULL || pthread_mutex_init(&t->lock, NULL) != 0) {
        EVP_CIPHER_free(t->aes);
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(t->secret[i], secrets[i], len);
    t->n = n;
    t->len = len;
    t->current = current;
    t->rotate_s = rotate_s;
    t->epoch = -1;
    return t;
}

void rsp_tls_tickets_free(rsp_tls_tickets *t)
{
    if (t == NULL)
        return;
    EVP_CIPHER_free(t->aes);
    pthread_mutex_destroy(&t->lock);
    OPENSSL_cleanse(t, sizeof(*t));
    free(t);
}

long rsp_tls_tickets_lifetime(const rsp_tls_tickets *t)
{
    return 2L * (long)t->rotate_s;
}

static int derive1(const uint8_t *secret, size_t len, const char *label, long epoch, unsigned char *out,
                   size_t outlen)
{
    unsigned char msg[64], mac[32];
    size_t l = strlen("rsp tls ticket v1 ") + strlen(label);
    memcpy(msg, "rsp tls ticket v1 ", 18);
    memcpy(msg + 18, label, strlen(label));
    for (int i = 0; i < 8; i++)
        msg[l + (size_t)i] = (unsigned char)((uint64_t)epoch >> (56 - 8 * i));
    unsigned maclen = 0;
    if (HMAC(EVP_sha256(), secret, (int)len, msg, l + 8, mac, &maclen) == NULL || maclen != sizeof(mac))
        return -1;
    memcpy(out, mac, outlen);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

static int derive(const rsp_tls_tickets *t, size_t i, long epoch, struct derived *d)
{
    return derive1(t->secret[i], t->len, "name", epoch, d->name, sizeof(d->name)) |
           derive1(t->secret[i], t->len, "aes", epoch, d->aes, sizeof(d->aes)) |
           derive1(t->secret[i], t->len, "hmac", epoch, d->hmac, sizeof(d->hmac));
}

/* Brings keys[] to `epoch`; called with the lock held. */
static int refresh(rsp_tls_tickets *t, long epoch)
{
    if (t->epoch == epoch)
        return 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->epoch == epoch - 1)
            t->keys[1][i] = t->keys[0][i];
        else if (derive(t, i, epoch - 1, &t->keys[1][i]) != 0)
            return -1;
        if (derive(t, i, epoch, &t->keys[0][i]) != 0)
            return -1;
    }
    t->epoch = epoch;
    return 0;
}

static int use_key(const rsp_tls_tickets *t, const struct derived *d, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                   EVP_MAC_CTX *hctx, int enc)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)d->hmac, sizeof(d->hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    int ok = enc ? EVP_EncryptInit_ex(cctx, t->aes, NULL, d->aes, iv)
                 : EVP_DecryptInit_ex(cctx, t->aes, NULL, d->aes, iv);
    return ok == 1 ? 0 : -1;
}

int rsp_tls_tickets_cb(rsp_tls_tickets *t, long now, unsigned char key_name[16], unsigned char *iv,
                       EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    struct derived d;
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    if (refresh(t, now / (long)t->rotate_s) != 0) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    if (enc) {
        d = t->keys[0][t->current];
        rc = 1;
    } else {
        for (size_t e = 0; e < 2 && rc == 0; e++)
            for (size_t i = 0; i < t->n && rc == 0; i++)
                if (CRYPTO_memcmp(key_name, t->keys[e][i].name, 16) == 0) {
                    d = t->keys[e][i];
                    /* Renewed even when current: TLS 1.3 clients use a ticket once (RFC 8446 C.4),
                     * and OpenSSL sends a new one after a resumption only when asked. */
                    rc = 2;
                }
    }
    pthread_mutex_unlock(&t->lock);
    if (rc == 0)
        return 0;
    if (enc) {
        memcpy(key_name, d.name, 16);
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(t->aes)) != 1)
            rc = -1;
    }
    if (rc > 0 && use_key(t, &d, iv, cctx, hctx, enc) != 0)
        rc = -1;
    OPENSSL_cleanse(&d, sizeof(d));
    return rc;
}
