/*
 * rsp/txn.h - stateless RSP transactions (ES11 and ES9+ authentication).
 *
 * A transactionId is 16 bytes, the most SGP.22 allows (OCTET STRING
 * SIZE(1..16)):
 *
 *   version (4 bits) | key id (4 bits) | CI index (1) | expiry (4) | random (6) | tag (4)
 *
 * expiry is Unix seconds big-endian.  HMAC-SHA256 under secret[key id] over
 * the first 12 bytes gives 32 bytes: the first 16 are the serverChallenge,
 * bytes 16..19 are the tag.  So the server authenticates an id with one HMAC
 * before it parses anything else (a forged id costs about a microsecond, not
 * a certificate check), an expiry cannot be stretched without the secret, and
 * any process holding the same secrets can finish a transaction another
 * process started: no shared session store and no sticky load balancing.
 *
 * Trade-off of the 16-byte limit: the tag is 32 bits, so a forger gets one id
 * through per 2^32 tries on average; such an id still fails the eUICC
 * signature over the serverChallenge, which only the secret can produce, so
 * the tag only bounds CPU, never grants a transaction.  48 random bits keep
 * ids unique: the replay store is keyed by the whole id and ids of the same
 * second collide with probability n^2 / 2^49 for n ids in that second.
 *
 * Replays are refused by rsp/replay.h, after the whole AuthenticateClient
 * passed.  Thread safety: a keyring is read-only after loading.  Functions
 * return 0 on success or a negative RSP_TXN_E* code.
 */
#ifndef RSP_TXN_H
#define RSP_TXN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RSP_TXN_ID_LEN 16
#define RSP_TXN_CHALLENGE_LEN 16
#define RSP_TXN_SECRET_LEN 32
#define RSP_TXN_MAX_KEYS 8
#define RSP_TXN_TAG_LEN 4
#define RSP_TXN_CLOCK_SKEW 30 /* seconds another node's clock may run ahead */

enum {
    RSP_TXN_OK = 0,
    RSP_TXN_EFORMAT = -1,  /* wrong length or version */
    RSP_TXN_ETAG = -8,     /* the tag does not authenticate the id: forged or altered */
    RSP_TXN_EKEY = -2,     /* key id unknown to this keyring */
    RSP_TXN_EEXPIRED = -3, /* past its expiry */
    RSP_TXN_EREPLAY = -4,  /* already consumed (rsp/replay.h) */
    RSP_TXN_EIO = -5,      /* secret file could not be read or written */
    RSP_TXN_ECRYPTO = -6,  /* random or HMAC failure */
};

typedef struct rsp_txn_keyring {
    uint8_t current; /* key id used for new transactions */
    uint8_t have[RSP_TXN_MAX_KEYS];
    uint8_t secret[RSP_TXN_MAX_KEYS][RSP_TXN_SECRET_LEN];
} rsp_txn_keyring;

typedef struct rsp_txn_info {
    uint8_t key_id;
    uint8_t ci_index; /* index of the CI chosen at InitiateAuthentication */
    uint32_t expiry;  /* Unix seconds */
} rsp_txn_info;

const char *rsp_txn_strerror(int err);

/*
 * Loads the keyring from a file of lines "<key id> <64 hex chars>"; the
 * highest id is current.  When the file does not exist and create is set, a
 * new random secret with id 0 is written (mode 0600) and used.  Processes
 * behind one load balancer must share this file's content.
 */
int rsp_txn_keyring_load(rsp_txn_keyring *kr, const char *path, int create);
/* Sets key id from raw bytes (tests, tools). */
void rsp_txn_keyring_set(rsp_txn_keyring *kr, uint8_t id, const uint8_t secret[RSP_TXN_SECRET_LEN]);
void rsp_txn_keyring_wipe(rsp_txn_keyring *kr);

/* Creates a transactionId valid for ttl seconds from now, and its challenge. */
int rsp_txn_new(const rsp_txn_keyring *kr, uint8_t ci_index, uint32_t ttl, time_t now,
                uint8_t tid[RSP_TXN_ID_LEN], uint8_t challenge[RSP_TXN_CHALLENGE_LEN]);

/*
 * Checks a received transactionId: length and version (EFORMAT), key id
 * (EKEY), tag (ETAG), then expiry: past, or beyond now + ttl +
 * RSP_TXN_CLOCK_SKEW (EEXPIRED; a genuine id never is unless another node's
 * clock runs that far ahead or the ttl was lowered since).  On success fills
 * *info and recomputes the serverChallenge.  Does not consume it.
 */
int rsp_txn_open(const rsp_txn_keyring *kr, const uint8_t *tid, size_t tid_len, time_t now, uint32_t ttl,
                 rsp_txn_info *info, uint8_t challenge[RSP_TXN_CHALLENGE_LEN]);

/* The expiry field of an id of the current format (no checks). */
uint32_t rsp_txn_expiry(const uint8_t tid[RSP_TXN_ID_LEN]);

#endif
