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

#define TXN_VERSION 2 /* 1: no tag, flags byte (refused since) */

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
    case RSP_TXN_ETAG:
        return "transactionId not issued by this service";
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

#define TXN_SIGNED_LEN (RSP_TXN_ID_LEN - RSP_TXN_TAG_LEN) /* the fields the tag covers */

/* HMAC over the id's fields: challenge = bytes 0..15, tag = bytes 16..19. */
static int mac_of(const uint8_t *secret, const uint8_t tid[RSP_TXN_ID_LEN],
                  uint8_t challenge[RSP_TXN_CHALLENGE_LEN], uint8_t tag[RSP_TXN_TAG_LEN])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    pthread_once(&hmac_once, hmac_make);
    EVP_MAC_CTX *c = hmac_tmpl ? EVP_MAC_CTX_dup(hmac_tmpl) : NULL;
    int ok = c != NULL && EVP_MAC_init(c, secret, RSP_TXN_SECRET_LEN, NULL) == 1 &&
             EVP_MAC_update(c, tid, TXN_SIGNED_LEN) == 1 &&
             EVP_MAC_final(c, mac, &maclen, sizeof(mac)) == 1 &&
             maclen >= RSP_TXN_CHALLENGE_LEN + RSP_TXN_TAG_LEN;
    EVP_MAC_CTX_free(c); /* cleanses the keyed state */
    if (ok) {
        memcpy(challenge, mac, RSP_TXN_CHALLENGE_LEN);
        memcpy(tag, mac + RSP_TXN_CHALLENGE_LEN, RSP_TXN_TAG_LEN);
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok ? RSP_TXN_OK : RSP_TXN_ECRYPTO;
}

int rsp_txn_new(const rsp_txn_keyring *kr, uint8_t ci_index, uint32_t ttl, time_t now,
                uint8_t tid[RSP_TXN_ID_LEN], uint8_t challenge[RSP_TXN_CHALLENGE_LEN])
{
    if (kr->current >= RSP_TXN_MAX_KEYS || !kr->have[kr->current])
        return RSP_TXN_EKEY;
    uint32_t expiry = (uint32_t)now + ttl;
    tid[0] = (uint8_t)(TXN_VERSION << 4 | kr->current);
    tid[1] = ci_index;
    tid[2] = (uint8_t)(expiry >> 24);
    tid[3] = (uint8_t)(expiry >> 16);
    tid[4] = (uint8_t)(expiry >> 8);
    tid[5] = (uint8_t)expiry;
    if (RAND_bytes(tid + 6, TXN_SIGNED_LEN - 6) != 1)
        return RSP_TXN_ECRYPTO;
    return mac_of(kr->secret[kr->current], tid, challenge, tid + TXN_SIGNED_LEN);
}

int rsp_txn_open(const rsp_txn_keyring *kr, const uint8_t *tid, size_t tid_len, time_t now, uint32_t ttl,
                 rsp_txn_info *info, uint8_t challenge[RSP_TXN_CHALLENGE_LEN])
{
    if (tid_len != RSP_TXN_ID_LEN || tid[0] >> 4 != TXN_VERSION)
        return RSP_TXN_EFORMAT;
    uint8_t key = tid[0] & 0x0f;
    if (key >= RSP_TXN_MAX_KEYS || !kr->have[key])
        return RSP_TXN_EKEY;
    uint8_t tag[RSP_TXN_TAG_LEN];
    int rc = mac_of(kr->secret[key], tid, challenge, tag);
    if (rc == RSP_TXN_OK && CRYPTO_memcmp(tag, tid + TXN_SIGNED_LEN, RSP_TXN_TAG_LEN) != 0)
        rc = RSP_TXN_ETAG;
    if (rc != RSP_TXN_OK) {
        OPENSSL_cleanse(challenge, RSP_TXN_CHALLENGE_LEN);
        return rc;
    }
    info->key_id = key;
    info->ci_index = tid[1];
    info->expiry = rsp_txn_expiry(tid);
    if ((uint64_t)now >= info->expiry || info->expiry > (uint64_t)now + ttl + RSP_TXN_CLOCK_SKEW)
        return RSP_TXN_EEXPIRED;
    return RSP_TXN_OK;
}

uint32_t rsp_txn_expiry(const uint8_t tid[RSP_TXN_ID_LEN])
{
    return (uint32_t)tid[2] << 24 | (uint32_t)tid[3] << 16 | (uint32_t)tid[4] << 8 | tid[5];
}
