#include "rsp/txn.h"

#include "rsp/codec.h"
#include "rsp/keyfile.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define TXN_VERSION 1

const char *rsp_txn_strerror(int err)
{
    switch (err) {
    case RSP_TXN_OK:
        return "success";
    case RSP_TXN_EFORMAT:
        return "malformed transactionId";
    case RSP_TXN_EKEY:
        return "unknown transaction key";
    case RSP_TXN_EEXPIRED:
        return "transaction expired";
    case RSP_TXN_EREPLAY:
        return "transaction already used";
    case RSP_TXN_EIO:
        return "transaction secret file error";
    case RSP_TXN_ECRYPTO:
        return "crypto failure";
    case RSP_TXN_EFULL:
        return "replay cache full";
    default:
        return "unknown error";
    }
}

void rsp_txn_keyring_set(rsp_txn_keyring *kr, uint8_t id, const uint8_t secret[RSP_TXN_SECRET_LEN])
{
    if (id >= RSP_TXN_MAX_KEYS)
        return;
    memcpy(kr->secret[id], secret, RSP_TXN_SECRET_LEN);
    kr->have[id] = 1;
    if (id >= kr->current || !kr->have[kr->current])
        kr->current = id;
}

void rsp_txn_keyring_wipe(rsp_txn_keyring *kr)
{
    OPENSSL_cleanse(kr, sizeof(*kr));
}

static int create_secret_file(const char *path)
{
    uint8_t secret[RSP_TXN_SECRET_LEN];
    if (RAND_bytes(secret, sizeof(secret)) != 1)
        return RSP_TXN_ECRYPTO;
    char line[2 + 2 * RSP_TXN_SECRET_LEN + 2];
    size_t hexlen = 0;
    line[0] = '0';
    line[1] = ' ';
    rsp_hex_encode(secret, sizeof(secret), line + 2, sizeof(line) - 2, &hexlen);
    OPENSSL_cleanse(secret, sizeof(secret));
    line[2 + hexlen] = '\n';
    int rc = rsp_keyfile_create(path, line, 3 + hexlen) == 0 ? RSP_TXN_OK : RSP_TXN_EIO;
    OPENSSL_cleanse(line, sizeof(line));
    return rc;
}

int rsp_txn_keyring_load(rsp_txn_keyring *kr, const char *path, int create)
{
    memset(kr, 0, sizeof(*kr));
    if (create && access(path, F_OK) != 0) {
        int rc = create_secret_file(path);
        if (rc)
            return rc;
    }
    char file[RSP_TXN_MAX_KEYS * 80 + 1024];
    size_t flen;
    if (rsp_keyfile_read(path, file, sizeof(file), &flen) != 0)
        return RSP_TXN_EIO;
    int rc = RSP_TXN_OK, any = 0;
    char *save = NULL;
    for (char *line = strtok_r(file, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == 0)
            continue;
        unsigned id;
        char hex[2 * RSP_TXN_SECRET_LEN + 2];
        if (sscanf(line, "%u %65s", &id, hex) != 2 || id >= RSP_TXN_MAX_KEYS ||
            strlen(hex) != 2 * RSP_TXN_SECRET_LEN) {
            rc = RSP_TXN_EIO;
            break;
        }
        uint8_t secret[RSP_TXN_SECRET_LEN];
        size_t got = 0;
        if (rsp_hex_decode(hex, strlen(hex), secret, sizeof(secret), &got) != RSP_CODEC_OK ||
            got != RSP_TXN_SECRET_LEN)
            rc = RSP_TXN_EIO;
        OPENSSL_cleanse(hex, sizeof(hex));
        if (rc == RSP_TXN_OK)
            rsp_txn_keyring_set(kr, (uint8_t)id, secret);
        OPENSSL_cleanse(secret, sizeof(secret));
        if (rc)
            break;
        any = 1;
    }
    OPENSSL_cleanse(file, sizeof(file));
    if (rc == RSP_TXN_OK && !any)
        rc = RSP_TXN_EIO;
    if (rc)
        rsp_txn_keyring_wipe(kr);
    return rc;
}

/* HMAC-SHA256 with the MAC and digest fetched once: the one-shot HMAC()
 * fetches both on every call (EVP_Q_mac), under OpenSSL's global locks.  Each
 * call works on a copy of a keyless template, so threads share nothing
 * mutable. */
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static EVP_MAC_CTX *hmac_tmpl; /* held for the life of the process */

static void hmac_make(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM ps[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                       OSSL_PARAM_construct_end()};
    if (c != NULL && EVP_MAC_CTX_set_params(c, ps) != 1) {
        EVP_MAC_CTX_free(c);
        c = NULL;
    }
    EVP_MAC_free(mac); /* the context holds its own reference */
    hmac_tmpl = c;
}

static int challenge_of(const uint8_t *secret, const uint8_t tid[RSP_TXN_ID_LEN],
                        uint8_t challenge[RSP_TXN_CHALLENGE_LEN])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    pthread_once(&hmac_once, hmac_make);
    EVP_MAC_CTX *c = hmac_tmpl ? EVP_MAC_CTX_dup(hmac_tmpl) : NULL;
    int ok = c != NULL && EVP_MAC_init(c, secret, RSP_TXN_SECRET_LEN, NULL) == 1 &&
             EVP_MAC_update(c, tid, RSP_TXN_ID_LEN) == 1 &&
             EVP_MAC_final(c, mac, &maclen, sizeof(mac)) == 1 && maclen >= RSP_TXN_CHALLENGE_LEN;
    EVP_MAC_CTX_free(c); /* cleanses the keyed state */
    if (ok)
        memcpy(challenge, mac, RSP_TXN_CHALLENGE_LEN);
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok ? RSP_TXN_OK : RSP_TXN_ECRYPTO;
}

int rsp_txn_new(const rsp_txn_keyring *kr, uint8_t ci_index, uint8_t flags, uint32_t ttl, time_t now,
                uint8_t tid[RSP_TXN_ID_LEN], uint8_t challenge[RSP_TXN_CHALLENGE_LEN])
{
    if (kr->current >= RSP_TXN_MAX_KEYS || !kr->have[kr->current])
        return RSP_TXN_EKEY;
    uint32_t expiry = (uint32_t)now + ttl;
    tid[0] = TXN_VERSION;
    tid[1] = kr->current;
    tid[2] = ci_index;
    tid[3] = flags;
    tid[4] = (uint8_t)(expiry >> 24);
    tid[5] = (uint8_t)(expiry >> 16);
    tid[6] = (uint8_t)(expiry >> 8);
    tid[7] = (uint8_t)expiry;
    if (RAND_bytes(tid + 8, RSP_TXN_ID_LEN - 8) != 1)
        return RSP_TXN_ECRYPTO;
    return challenge_of(kr->secret[kr->current], tid, challenge);
}

int rsp_txn_open(const rsp_txn_keyring *kr, const uint8_t *tid, size_t tid_len, time_t now,
                 rsp_txn_info *info, uint8_t challenge[RSP_TXN_CHALLENGE_LEN])
{
    if (tid_len != RSP_TXN_ID_LEN || tid[0] != TXN_VERSION)
        return RSP_TXN_EFORMAT;
    if (tid[1] >= RSP_TXN_MAX_KEYS || !kr->have[tid[1]])
        return RSP_TXN_EKEY;
    info->key_id = tid[1];
    info->ci_index = tid[2];
    info->flags = tid[3];
    info->expiry = (uint32_t)tid[4] << 24 | (uint32_t)tid[5] << 16 | (uint32_t)tid[6] << 8 | tid[7];
    if ((uint32_t)now >= info->expiry)
        return RSP_TXN_EEXPIRED;
    return challenge_of(kr->secret[tid[1]], tid, challenge);
}

/* ---- replay cache: open addressing; expired entries are reusable, and the
 * table is rebuilt without them when it gets crowded. ---- */

struct slot {
    uint8_t tid[RSP_TXN_ID_LEN];
    uint32_t expiry; /* 0 = never used */
};

struct rsp_txn_cache {
    pthread_mutex_t lock;
    struct slot *slots;
    size_t nslots; /* power of two, >= 2 * capacity, so probes stay short */
    size_t used;   /* slots filled (live or expired) since the last rebuild; <= capacity */
    size_t capacity;
};

rsp_txn_cache *rsp_txn_cache_new(size_t capacity)
{
    if (capacity == 0)
        capacity = 1;
    rsp_txn_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    size_t n = 16;
    while (n < capacity * 2)
        n *= 2;
    c->slots = calloc(n, sizeof(struct slot));
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->nslots = n;
    c->capacity = capacity;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void rsp_txn_cache_free(rsp_txn_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

static size_t slot_hash(const uint8_t tid[RSP_TXN_ID_LEN])
{
    /* The last 8 bytes are random. */
    uint64_t h = 0;
    for (int i = 8; i < RSP_TXN_ID_LEN; i++)
        h = h << 8 | tid[i];
    return (size_t)(h ^ (h >> 29));
}

static void rebuild(rsp_txn_cache *c, uint32_t now)
{
    struct slot *old = c->slots;
    size_t n = c->nslots;
    struct slot *fresh = calloc(n, sizeof(struct slot));
    if (!fresh)
        return; /* keep the old table; inserts may report EFULL */
    c->slots = fresh;
    c->used = 0;
    for (size_t i = 0; i < n; i++) {
        if (old[i].expiry > now) {
            size_t j = slot_hash(old[i].tid) & (n - 1);
            while (fresh[j].expiry)
                j = (j + 1) & (n - 1);
            fresh[j] = old[i];
            c->used++;
        }
    }
    free(old);
}

int rsp_txn_consume(rsp_txn_cache *c, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, time_t now_t)
{
    uint32_t now = (uint32_t)now_t;
    int rc = RSP_TXN_OK;
    pthread_mutex_lock(&c->lock);
    size_t mask = c->nslots - 1, j = slot_hash(tid) & mask, reuse = SIZE_MAX;
    for (size_t probes = 0; probes < c->nslots; probes++, j = (j + 1) & mask) {
        struct slot *s = &c->slots[j];
        if (s->expiry == 0)
            break;
        if (s->expiry > now) {
            if (CRYPTO_memcmp(s->tid, tid, RSP_TXN_ID_LEN) == 0) {
                rc = RSP_TXN_EREPLAY;
                goto out;
            }
        } else if (reuse == SIZE_MAX) {
            reuse = j;
        }
    }
    if (reuse == SIZE_MAX) {
        if (c->used >= c->capacity) {
            /* Drop expired entries; then the probe must be redone. */
            rebuild(c, now);
            if (c->used >= c->capacity) {
                rc = RSP_TXN_EFULL;
                goto out;
            }
            for (j = slot_hash(tid) & mask; c->slots[j].expiry; j = (j + 1) & mask)
                ;
        }
        reuse = j;
        c->used++;
    }
    memcpy(c->slots[reuse].tid, tid, RSP_TXN_ID_LEN);
    c->slots[reuse].expiry = expiry;
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}
