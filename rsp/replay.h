/*
 * rsp/replay.h - the store of consumed transactionIds, which refuses a second
 * ES11 or ES9+ AuthenticateClient with the same transaction.
 *
 * Two layers:
 *   - a per-process memory cache in front: set-associative (8 ids per set), so
 *     a check is O(1) and memory is fixed at creation.  Only ids whose
 *     AuthenticateClient passed every check enter it, so its size follows the
 *     rate of genuine authentications: size it at least peak rate x txn_ttl.
 *     When a set is full the id with the oldest expiry leaves (counted in
 *     evicted_live when still unexpired); it never refuses because it is full.
 *   - an optional durable backend behind (rsp_replay_backend): an LMDB one
 *     here (rsp_replay_lmdb_open), a database shared by a cluster later.  The
 *     backend is what refuses a replay after a restart, on another node, or
 *     of an id the memory cache evicted.
 *
 * Use, after every check of AuthenticateClient passed:
 *   r = rsp_replay_check(rp, tid, expiry, now);       -- memory, synchronous
 *   if (r == RSP_REPLAY_USED) refuse (8.10.1/3.9);
 *   r = rsp_replay_commit(rp, tid, expiry, now, done, arg);
 *   RSP_REPLAY_FRESH: no backend, go on; RSP_REPLAY_PENDING: rsp_http_defer()
 *   and answer from done (FRESH: go on, USED: refuse, ERROR: retryable
 *   failure); RSP_REPLAY_ERROR: retryable failure now.
 * An id checked in memory stays there even if the durable step then fails, so
 * its transaction is over either way (the device starts a new one).
 *
 * Thread safety: every function may be called from any thread; the cache
 * locks per group of sets.  Ownership: rsp_replay_new() takes the backend
 * (its free runs in rsp_replay_free()).
 */
#ifndef RSP_REPLAY_H
#define RSP_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "rsp/txn.h"

enum {
    RSP_REPLAY_FRESH = 0,   /* not consumed before; now it is (durably, when a backend is set) */
    RSP_REPLAY_USED = 1,    /* consumed before: refuse the call */
    RSP_REPLAY_PENDING = 2, /* the backend will call done */
    RSP_REPLAY_ERROR = -1,  /* the backend failed or could not queue: answer a retryable error */
};

/* result is RSP_REPLAY_FRESH, RSP_REPLAY_USED or RSP_REPLAY_ERROR. */
typedef void (*rsp_replay_done_fn)(void *arg, int result);

/*
 * A durable store of consumed ids.  consume records tid as consumed until
 * expiry unless it already is, and calls done(arg, FRESH | USED | ERROR)
 * exactly once, from any thread, after the record is durable (FRESH) or the
 * earlier record was found (USED).  It returns 0, or -1 when it cannot queue
 * (done is then never called).  It may drop records whose expiry <= now.
 * free releases impl (NULL: nothing to release).
 */
typedef struct rsp_replay_backend {
    int (*consume)(void *impl, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, uint32_t now,
                   rsp_replay_done_fn done, void *arg);
    void (*free)(void *impl);
    void *impl;
} rsp_replay_backend;

typedef struct rsp_replay rsp_replay;

/* capacity: ids the memory cache holds (rounded up to whole sets); durable
 * may be NULL (memory only: replays after a restart pass).  NULL on
 * allocation failure (the backend is then freed). */
rsp_replay *rsp_replay_new(size_t capacity, const rsp_replay_backend *durable);
void rsp_replay_free(rsp_replay *r);
bool rsp_replay_durable(const rsp_replay *r);

/* Memory step: RSP_REPLAY_USED if tid is cached unexpired, else records it
 * and returns RSP_REPLAY_FRESH. */
int rsp_replay_check(rsp_replay *r, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, time_t now);
/* Durable step (see the top of this file): FRESH without a backend, PENDING
 * when done will be called, ERROR when the backend cannot queue. */
int rsp_replay_commit(rsp_replay *r, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, time_t now,
                      rsp_replay_done_fn done, void *arg);

typedef struct rsp_replay_stats {
    uint64_t capacity;     /* ids the memory cache can hold */
    uint64_t refused;      /* replays refused (memory and durable) */
    uint64_t evicted_live; /* unexpired ids pushed out of memory: raise the capacity */
    uint64_t durable_errors;
} rsp_replay_stats;

void rsp_replay_stats_get(rsp_replay *r, rsp_replay_stats *out);
/* Writes the stats as <prefix>_replay_* Prometheus metrics. */
void rsp_replay_stats_write(FILE *f, const char *prefix, const rsp_replay_stats *s);

/*
 * The LMDB backend: an environment of its own in dir (created, 0700), one
 * database keyed by expiry (big-endian) then id, written through the
 * group-commit writer of rsp/db.h (one fsync for a batch of ids) and pruned
 * of expired ids a few at a time by each write.  0, or -1 with a message in
 * err.
 */
int rsp_replay_lmdb_open(rsp_replay_backend *out, const char *dir, char *err, size_t errlen);

#endif
