/*
 * rsp/txn.h - stateless RSP transactions (ES11 and ES9+ authentication).
 *
 * A transactionId is 16 bytes: version (1) | key id (1) | CI index (1) |
 * flags (1) | expiry, Unix seconds big-endian (4) | random (8).  The
 * serverChallenge is HMAC-SHA256(secret[key id], transactionId) truncated to
 * 16 bytes, so any process holding the same secrets can finish a transaction
 * another process started: no shared session store and no sticky load
 * balancing.  A forged transactionId is useless because the eUICC signs the
 * serverChallenge it received inside the server-signed ServerSigned1, which
 * only a holder of the secret could have produced for that id.
 *
 * Replays: each process keeps a bounded cache of consumed transactionIds until
 * their expiry (rsp_txn_consume).  A transaction finished twice on two
 * different processes is not detected; the ES11 answer is read-only, and the
 * SM-DP+ guards its own state transitions in its store.
 *
 * Thread safety: a keyring is read-only after loading; the replay cache locks
 * internally.  Functions return 0 on success or a negative RSP_TXN_E* code.
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

enum {
    RSP_TXN_OK = 0,
    RSP_TXN_EFORMAT = -1,  /* wrong length or version */
    RSP_TXN_EKEY = -2,     /* key id unknown to this keyring */
    RSP_TXN_EEXPIRED = -3, /* past its expiry */
    RSP_TXN_EREPLAY = -4,  /* already consumed on this process */
    RSP_TXN_EIO = -5,      /* secret file could not be read or written */
    RSP_TXN_ECRYPTO = -6,  /* random or HMAC failure */
    RSP_TXN_EFULL = -7,    /* replay cache full of unexpired entries */
};

typedef struct rsp_txn_keyring {
    uint8_t current; /* key id used for new transactions */
    uint8_t have[RSP_TXN_MAX_KEYS];
    uint8_t secret[RSP_TXN_MAX_KEYS][RSP_TXN_SECRET_LEN];
} rsp_txn_keyring;

typedef struct rsp_txn_info {
    uint8_t key_id;
    uint8_t ci_index; /* index of the CI chosen at InitiateAuthentication */
    uint8_t flags;    /* service-defined */
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
int rsp_txn_new(const rsp_txn_keyring *kr, uint8_t ci_index, uint8_t flags, uint32_t ttl, time_t now,
                uint8_t tid[RSP_TXN_ID_LEN], uint8_t challenge[RSP_TXN_CHALLENGE_LEN]);

/*
 * Checks a received transactionId (format, key, expiry) and recomputes its
 * serverChallenge.  Does not consume it.
 */
int rsp_txn_open(const rsp_txn_keyring *kr, const uint8_t *tid, size_t tid_len, time_t now,
                 rsp_txn_info *info, uint8_t challenge[RSP_TXN_CHALLENGE_LEN]);

/* ---- per-process replay cache ---- */
typedef struct rsp_txn_cache rsp_txn_cache;

rsp_txn_cache *rsp_txn_cache_new(size_t capacity);
void rsp_txn_cache_free(rsp_txn_cache *c);
/* Marks tid consumed until expiry: RSP_TXN_EREPLAY if it already was,
 * RSP_TXN_EFULL if the cache holds `capacity` unexpired ids. */
int rsp_txn_consume(rsp_txn_cache *c, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, time_t now);

#endif
