#include "rsp/replay.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "rsp/db.h"
#include "rsp/err.h"
#include "rsp/metrics.h"

/* ---- memory cache ---- */

#define WAYS 8
#define LOCKS 64 /* striped: a lock covers every LOCKS-th set */

struct way {
    uint8_t tid[RSP_TXN_ID_LEN];
    uint32_t expiry; /* 0 = free */
};

struct rsp_replay {
    struct way (*sets)[WAYS];
    size_t nsets; /* power of two */
    pthread_mutex_t locks[LOCKS];
    rsp_replay_backend durable;
    bool has_durable;
    pthread_mutex_t stats_lock;
    rsp_replay_stats stats;
};

rsp_replay *rsp_replay_new(size_t capacity, const rsp_replay_backend *durable)
{
    rsp_replay *r = calloc(1, sizeof(*r));
    size_t n = 1;
    while (n * WAYS < capacity && n < ((size_t)1 << 40))
        n *= 2;
    if (r)
        r->sets = calloc(n, sizeof(*r->sets));
    if (!r || !r->sets) {
        free(r);
        if (durable && durable->free)
            durable->free(durable->impl);
        return NULL;
    }
    r->nsets = n;
    for (size_t i = 0; i < LOCKS; i++)
        pthread_mutex_init(&r->locks[i], NULL);
    pthread_mutex_init(&r->stats_lock, NULL);
    if (durable) {
        r->durable = *durable;
        r->has_durable = true;
    }
    r->stats.capacity = (uint64_t)n * WAYS;
    return r;
}

void rsp_replay_free(rsp_replay *r)
{
    if (!r)
        return;
    if (r->has_durable && r->durable.free)
        r->durable.free(r->durable.impl);
    for (size_t i = 0; i < LOCKS; i++)
        pthread_mutex_destroy(&r->locks[i]);
    pthread_mutex_destroy(&r->stats_lock);
    free(r->sets);
    free(r);
}

bool rsp_replay_durable(const rsp_replay *r)
{
    return r->has_durable;
}

static void count(rsp_replay *r, uint64_t *field)
{
    pthread_mutex_lock(&r->stats_lock);
    (*field)++;
    pthread_mutex_unlock(&r->stats_lock);
}

/* Ids reaching the cache carry a valid tag, so their random bytes and tag are
 * the server's own uniform bits: no keyed hash needed. */
static size_t set_of(const rsp_replay *r, const uint8_t tid[RSP_TXN_ID_LEN])
{
    uint64_t h = 0;
    for (int i = RSP_TXN_ID_LEN - 8; i < RSP_TXN_ID_LEN; i++)
        h = h << 8 | tid[i];
    h ^= h >> 31;
    return (size_t)h & (r->nsets - 1);
}

int rsp_replay_check(rsp_replay *r, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, time_t now_t)
{
    uint32_t now = (uint32_t)now_t;
    size_t si = set_of(r, tid);
    struct way *set = r->sets[si];
    pthread_mutex_t *lock = &r->locks[si % LOCKS];
    int rc = RSP_REPLAY_FRESH;
    bool evicted = false;
    pthread_mutex_lock(lock);
    size_t victim = 0;
    for (size_t w = 0; w < WAYS; w++) {
        if (set[w].expiry > now && CRYPTO_memcmp(set[w].tid, tid, RSP_TXN_ID_LEN) == 0) {
            rc = RSP_REPLAY_USED;
            break;
        }
        if (set[w].expiry < set[victim].expiry)
            victim = w;
    }
    if (rc == RSP_REPLAY_FRESH) {
        evicted = set[victim].expiry > now;
        memcpy(set[victim].tid, tid, RSP_TXN_ID_LEN);
        set[victim].expiry = expiry;
    }
    pthread_mutex_unlock(lock);
    if (rc == RSP_REPLAY_USED)
        count(r, &r->stats.refused);
    else if (evicted)
        count(r, &r->stats.evicted_live);
    return rc;
}

/* The backend's answer passes through here for the counters. */
typedef struct commit_wait {
    rsp_replay *r;
    rsp_replay_done_fn done;
    void *arg;
} commit_wait;

static void committed(void *arg, int result)
{
    commit_wait w = *(commit_wait *)arg;
    free(arg);
    if (result == RSP_REPLAY_USED)
        count(w.r, &w.r->stats.refused);
    else if (result != RSP_REPLAY_FRESH)
        count(w.r, &w.r->stats.durable_errors);
    w.done(w.arg, result);
}

int rsp_replay_commit(rsp_replay *r, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, time_t now,
                      rsp_replay_done_fn done, void *arg)
{
    if (!r->has_durable)
        return RSP_REPLAY_FRESH;
    commit_wait *w = malloc(sizeof(*w));
    if (w) {
        *w = (commit_wait){r, done, arg};
        if (r->durable.consume(r->durable.impl, tid, expiry, (uint32_t)now, committed, w) == 0)
            return RSP_REPLAY_PENDING;
        free(w);
    }
    count(r, &r->stats.durable_errors);
    return RSP_REPLAY_ERROR;
}

void rsp_replay_stats_get(rsp_replay *r, rsp_replay_stats *out)
{
    pthread_mutex_lock(&r->stats_lock);
    *out = r->stats;
    pthread_mutex_unlock(&r->stats_lock);
}

void rsp_replay_stats_write(FILE *f, const char *prefix, const rsp_replay_stats *s)
{
    static const struct {
        enum rsp_metric_kind kind;
        const char *name, *help;
        size_t off;
    } m[] = {
        {RSP_METRIC_GAUGE, "replay_capacity", "consumed transactionIds the memory cache holds",
         offsetof(rsp_replay_stats, capacity)},
        {RSP_METRIC_COUNTER, "replay_refused_total", "AuthenticateClient replays refused",
         offsetof(rsp_replay_stats, refused)},
        {RSP_METRIC_COUNTER, "replay_evicted_live_total",
         "unexpired transactionIds pushed out of the memory cache (raise replay_cache)",
         offsetof(rsp_replay_stats, evicted_live)},
        {RSP_METRIC_COUNTER, "replay_durable_errors_total",
         "consumed transactionIds the durable store failed", offsetof(rsp_replay_stats, durable_errors)},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s_%s", prefix, m[i].name);
        uint64_t v;
        memcpy(&v, (const char *)s + m[i].off, sizeof(v));
        rsp_metrics_write(f, m[i].kind, name, m[i].help, v);
    }
}

/* ---- LMDB backend ---- */

#define PRUNE_PER_JOB 8 /* expired ids removed by each write: more than one id arrives per id to remove */

typedef struct lmdb_job {
    rsp_db_env *env;
    rsp_key key; /* expiry | tid */
    uint32_t now;
    int outcome; /* RSP_REPLAY_FRESH or RSP_REPLAY_USED, set by apply */
    rsp_replay_done_fn done;
    void *arg;
} lmdb_job;

static int prune(rsp_db_wtxn *t, MDB_dbi dbi, uint32_t now)
{
    rsp_key old[PRUNE_PER_JOB];
    size_t n = 0;
    rsp_db_iter it;
    MDB_val k, v;
    int rc = rsp_db_iter_open(&it, rsp_db_wtxn_txn(t), dbi, NULL);
    if (rc)
        return rc;
    while (n < PRUNE_PER_JOB && rsp_db_iter_next(&it, &k, &v) && k.mv_size == 4 + RSP_TXN_ID_LEN &&
           rsp_be32(k.mv_data) <= now) {
        rsp_key_init(&old[n]);
        rsp_key_bytes(&old[n], k.mv_data, k.mv_size);
        n++;
    }
    rc = it.err;
    rsp_db_iter_close(&it);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = rsp_db_del(t, dbi, &old[i], NULL, 0);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    return rc;
}

/* Checks first and writes only a fresh id, so a replay keeps the batch on the cheap path. */
static int lmdb_apply(rsp_db_wtxn *t, void *arg)
{
    lmdb_job *j = arg;
    MDB_dbi dbi = rsp_db_dbi(j->env, 0);
    MDB_val v;
    int rc = rsp_db_get(rsp_db_wtxn_txn(t), dbi, &j->key, &v);
    if (rc == 0) {
        j->outcome = RSP_REPLAY_USED;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    j->outcome = RSP_REPLAY_FRESH;
    if ((rc = rsp_db_put(t, dbi, &j->key, "", 0, MDB_NOOVERWRITE)) != 0)
        return rc;
    return prune(t, dbi, j->now);
}

static void lmdb_done(void *arg, int result)
{
    lmdb_job *j = arg;
    rsp_replay_done_fn done = j->done;
    void *darg = j->arg;
    int outcome = result == 0 ? j->outcome : RSP_REPLAY_ERROR;
    free(j);
    done(darg, outcome);
}

static int lmdb_consume(void *impl, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, uint32_t now,
                        rsp_replay_done_fn done, void *arg)
{
    lmdb_job *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    j->env = impl;
    rsp_key_init(&j->key);
    rsp_key_u32(&j->key, expiry);
    rsp_key_bytes(&j->key, tid, RSP_TXN_ID_LEN);
    j->now = now;
    j->outcome = RSP_REPLAY_ERROR;
    j->done = done;
    j->arg = arg;
    if (rsp_db_submit(impl, lmdb_apply, lmdb_done, j) != 0) {
        free(j);
        return -1;
    }
    return 0;
}

static void lmdb_free(void *impl)
{
    rsp_db_close(impl);
}

int rsp_replay_lmdb_open(rsp_replay_backend *out, const char *dir, char *err, size_t errlen)
{
    static const rsp_db_spec dbs[] = {{"consumed", 0}};
    /* 20-byte keys: a million live ids take a few tens of MiB */
    rsp_db_config cfg = {.map_size = 16u << 20};
    rsp_db_env *env = NULL;
    int rc = rsp_db_open(&env, dir, dbs, 1, &cfg);
    if (rc != 0) {
        rsp_err_set(err, errlen, "replay store %s: %s", dir, mdb_strerror(rc));
        return -1;
    }
    *out = (rsp_replay_backend){lmdb_consume, lmdb_free, env};
    return 0;
}
