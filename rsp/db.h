/*
 * rsp/db.h - LMDB helpers: environment, per-thread readers, key builder,
 * prefix iteration and a group-commit writer.
 *
 * One rsp_db_env wraps one LMDB environment (one per service).  Its named
 * databases are declared by the caller at open time and addressed by index
 * through rsp_db_dbi().
 *
 * Readers: rsp_db_read_begin() hands the calling thread a read transaction
 * that is cached per (thread, env) and recycled with mdb_txn_reset/renew
 * (the env is opened MDB_NOTLS).  Read transactions must be short: the map
 * can only grow while none is active.
 *
 * Writers: all writes go through one writer thread per env.  A job is an
 * apply callback run inside the writer's transaction plus a done callback run
 * after the commit has returned, i.e. after the data is durable (the env
 * fsyncs on commit unless the caller asked for MDB_NOSYNC).  The writer packs
 * up to batch_max queued jobs into one transaction.  A job whose apply fails
 * is rolled back alone: jobs run straight in the batch transaction, and one
 * that fails after a write (or records a write error) makes the writer roll
 * the batch back and run it again with a nested transaction per job.  So an
 * apply that checks first and writes only once its checks passed keeps the
 * batch on the cheap path when it refuses.
 *
 * Errors: functions return 0 or an LMDB error code (negative MDB_* values,
 * or positive errno values), printable with mdb_strerror().  MDB_NOTFOUND and
 * MDB_KEYEXIST are answers, not failures.
 *
 * Ownership: rsp_db_open() returns an env the caller releases with
 * rsp_db_close().  MDB_val results point into the map and are valid only until
 * the transaction that produced them ends.
 *
 * Thread safety: every function may be called from any thread, except that
 * a thread must end its read transaction on the thread that began it, and
 * rsp_db_close() must not race with any other use of the same env.
 */
#ifndef RSP_DB_H
#define RSP_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <lmdb.h>

/* ---- key builder ---- */

/* LMDB's compile-time limit on key size (and on DUPSORT data size). */
#define RSP_KEY_MAX 511

/*
 * A key assembled from fields in an order-preserving encoding: integers are
 * fixed-width big-endian, so numeric order is byte order.  The first append
 * that would exceed RSP_KEY_MAX sets err to MDB_BAD_VALSIZE and leaves the key
 * unchanged; every later append is a no-op.  Helpers that take an rsp_key fail
 * with its err, so callers may build a whole key and check once.
 */
typedef struct rsp_key {
    size_t len;
    int err;
    uint8_t buf[RSP_KEY_MAX];
} rsp_key;

static inline void rsp_key_init(rsp_key *k)
{
    k->len = 0;
    k->err = 0;
}

void rsp_key_u8(rsp_key *k, uint8_t v);
void rsp_key_u16(rsp_key *k, uint16_t v);
void rsp_key_u32(rsp_key *k, uint32_t v);
void rsp_key_u64(rsp_key *k, uint64_t v);
/* Signed: big-endian with the sign bit flipped, so negatives sort first. */
void rsp_key_i64(rsp_key *k, int64_t v);
/* Raw bytes (fixed-size fields, or the last field of a key). */
void rsp_key_bytes(rsp_key *k, const void *p, size_t n);
/* A C string followed by its NUL: keeps lexicographic order of the string
 * even when more fields follow ("a" < "ab" < "b"). */
void rsp_key_str(rsp_key *k, const char *s);
/* Length-prefixed bytes (16-bit big-endian length): may contain NULs, but
 * sorts by length first. */
void rsp_key_lstr(rsp_key *k, const void *p, size_t n);

/* The key as an MDB_val pointing into k (valid while k is). */
MDB_val rsp_key_val(const rsp_key *k);

/* Big-endian loads for decoding keys found by iteration. */
static inline uint16_t rsp_be16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((unsigned)b[0] << 8 | b[1]);
}
static inline uint32_t rsp_be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline uint64_t rsp_be64(const void *p)
{
    const uint8_t *b = p;
    return (uint64_t)rsp_be32(b) << 32 | rsp_be32(b + 4);
}

/* ---- environment ---- */

typedef struct rsp_db_env rsp_db_env;

/* A named database.  MDB_CREATE is implied; flags may add MDB_DUPSORT,
 * MDB_DUPFIXED, MDB_INTEGERKEY, MDB_REVERSEKEY, ... */
typedef struct rsp_db_spec {
    const char *name;
    unsigned flags;
} rsp_db_spec;

/* Zero fields take the defaults in brackets. */
typedef struct rsp_db_config {
    size_t map_size;      /* initial map size in bytes [64 MiB] */
    size_t map_size_max;  /* the map doubles on MDB_MAP_FULL up to this [256 GiB] */
    unsigned max_readers; /* reader slots: one per (thread, env) in use [256] */
    unsigned batch_max;   /* jobs per group-commit transaction [256] */
    unsigned env_flags;   /* extra: MDB_NOSYNC, MDB_NOMETASYNC, MDB_NORDAHEAD,
                             MDB_NOMEMINIT only; the default is durable */
    mode_t mode;          /* data and lock file mode [0600] */
} rsp_db_config;

/*
 * Opens (creating when missing) the environment in directory dir (also
 * created, mode 0700, when missing), opens or creates the ndbs databases
 * and starts the writer thread.  cfg may be NULL.  On success *out is the
 * env; on failure *out is NULL and nothing is left open.
 */
int rsp_db_open(rsp_db_env **out, const char *dir, const rsp_db_spec *dbs, unsigned ndbs,
                const rsp_db_config *cfg);

/*
 * Stops accepting jobs from other threads, lets the writer drain the queue
 * (every queued job runs and gets its done call; jobs submitted from apply or
 * done callbacks during the drain are accepted), joins the writer, releases
 * every thread's cached read transaction and closes LMDB.  No thread may be
 * inside a read transaction or submitting to env while it closes.  NULL is a
 * no-op.
 */
void rsp_db_close(rsp_db_env *env);

/* Handle of the i-th declared database; for i >= ndbs a handle every LMDB
 * call refuses with EINVAL. */
MDB_dbi rsp_db_dbi(const rsp_db_env *env, unsigned i);

/* The LMDB env, for mdb_env_info/mdb_env_stat and the like; do not change
 * its map size or close it. */
MDB_env *rsp_db_mdb(rsp_db_env *env);

/* ---- readers ---- */

/*
 * Begins a read transaction for the calling thread and stores it in *txn.
 * The thread's cached transaction is renewed, so this is cheap after the
 * first call.  Calls nest: a second begin on the same thread returns the
 * same snapshot and needs its own end.  While a read is open the thread must
 * not wait for a write (rsp_db_write_sync), since map growth waits for every
 * read to end.  Do not call from an apply callback: use rsp_db_wtxn_txn().
 */
int rsp_db_read_begin(rsp_db_env *env, MDB_txn **txn);
/* Ends the calling thread's read transaction (outermost end resets it). */
void rsp_db_read_end(rsp_db_env *env);

/* Gets the value stored under key (first duplicate in a DUPSORT database).
 * 0, MDB_NOTFOUND, key->err, or another LMDB error.  Works in any txn. */
int rsp_db_get(MDB_txn *txn, MDB_dbi dbi, const rsp_key *key, MDB_val *val);

/*
 * Prefix iteration: visits every record whose key starts with prefix, in key
 * order (and, in a DUPSORT database, each duplicate in data order).  Works
 * in a read txn or inside an apply callback; close the iterator before the
 * transaction ends.
 *
 *   rsp_db_iter it;
 *   MDB_val k, v;
 *   if (rsp_db_iter_open(&it, txn, dbi, &prefix) == 0) {
 *       while (rsp_db_iter_next(&it, &k, &v))
 *           ...;
 *       rc = it.err;
 *       rsp_db_iter_close(&it);
 *   }
 */
typedef struct rsp_db_iter {
    MDB_cursor *cur;
    int err;   /* 0 after a clean end, else the error that stopped it */
    int state; /* internal */
    size_t plen;
    uint8_t prefix[RSP_KEY_MAX];
} rsp_db_iter;

/* prefix NULL or empty visits the whole database.  0 or an LMDB error (the
 * iterator then needs no close). */
int rsp_db_iter_open(rsp_db_iter *it, MDB_txn *txn, MDB_dbi dbi, const rsp_key *prefix);
/* Next record, or false at the end or on error (see it->err). */
bool rsp_db_iter_next(rsp_db_iter *it, MDB_val *key, MDB_val *val);
void rsp_db_iter_close(rsp_db_iter *it);

/* ---- writes (group commit) ---- */

/*
 * The transaction seen by one job's apply callback.  Write through the
 * helpers below: the first failure is recorded (sticky) and every later
 * write is a no-op returning it, so apply can do all its writes and return
 * rsp_db_wtxn_err() once.  If apply returns 0 while an error is recorded,
 * the job fails with that error.  MDB_KEYEXIST (MDB_NOOVERWRITE,
 * MDB_NODUPDATA) and MDB_NOTFOUND (deleting a missing key) are returned but
 * not recorded.
 */
typedef struct rsp_db_wtxn rsp_db_wtxn;

/*
 * Runs in the writer thread inside the batch transaction (or the job's
 * nested transaction, see above), after the writes of earlier jobs of the
 * same batch.  Returns 0 to keep its writes,
 * anything else to roll them back and report that value to done.  The
 * writer may run apply more than once for one job (it retries a batch after
 * growing the map), so apply must act only through the transaction and
 * overwrite, not accumulate, any output it keeps in arg.  It must not
 * begin read transactions or wait for other writes.
 */
typedef int (*rsp_db_apply_cb)(rsp_db_wtxn *t, void *arg);

/*
 * Runs in the writer thread once per job, after the batch's commit returned:
 * result is the commit error if the commit failed, else the job's own result
 * (0 = durable).  It should be quick (hand off to the requester's loop); it
 * may call rsp_db_submit() but must not wait for a write.
 */
typedef void (*rsp_db_done_cb)(void *arg, int result);

/* Queues a job.  0, ENOMEM, EINVAL, or ESHUTDOWN once close has begun (then
 * done is never called). */
int rsp_db_submit(rsp_db_env *env, rsp_db_apply_cb apply, rsp_db_done_cb done, void *arg);

/* Submits a job and waits for it: returns the result done would get, or the
 * submit error.  EDEADLK when called on the writer thread. */
int rsp_db_write_sync(rsp_db_env *env, rsp_db_apply_cb apply, void *arg);

/* Raw transaction, for reads and cursors inside apply; write only through
 * the helpers, or a failure LMDB records in the txn fails the whole batch. */
MDB_txn *rsp_db_wtxn_txn(rsp_db_wtxn *t);
/* The recorded (sticky) error, 0 if none. */
int rsp_db_wtxn_err(const rsp_db_wtxn *t);

/* mdb_put with flags (MDB_NOOVERWRITE, MDB_NODUPDATA, MDB_APPEND, ...). */
int rsp_db_put(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *key, const void *data, size_t len, unsigned flags);
/* Reserves len bytes for key and returns where to write them (MDB_RESERVE;
 * not for DUPSORT databases), or NULL with the error recorded. */
void *rsp_db_reserve(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *key, size_t len, unsigned flags);
/* Deletes key; in a DUPSORT database data selects one duplicate, data NULL
 * deletes them all. */
int rsp_db_del(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *key, const void *data, size_t len);
/* Increments the 64-bit big-endian counter stored under key (absent: 0) and gives the new value in *out
 * (sequence numbers that survive restarts).  0, or an LMDB code; a value of another size is MDB_CORRUPTED. */
int rsp_db_next_seq(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *key, uint64_t *out);
/* Deletes every key starting with prefix (all duplicates); *n (may be NULL)
 * gets the number of keys deleted. */
int rsp_db_del_prefix(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *prefix, size_t *n);

/* ---- statistics (for /metrics) ---- */

/* Batch-size histogram: bucket i counts batches of 2^i .. 2^(i+1)-1 jobs,
 * the last bucket everything larger. */
#define RSP_DB_HIST_BUCKETS 12

typedef struct rsp_db_stats {
    uint64_t commits;         /* batches committed */
    uint64_t commit_failures; /* batches whose begin or commit failed */
    uint64_t jobs;            /* jobs completed (done called) */
    uint64_t jobs_failed;     /* ... with a nonzero result */
    uint64_t batch_max_seen;  /* largest batch */
    uint64_t batch_hist[RSP_DB_HIST_BUCKETS];
    uint64_t commit_usec; /* total time in mdb_txn_commit (the fsyncs) */
    uint64_t retries;     /* batches re-run after growing the map */
    uint64_t map_grows;
    uint64_t map_size; /* current map size in bytes */
    uint64_t queued;   /* jobs waiting now */
} rsp_db_stats;

void rsp_db_stats_get(rsp_db_env *env, rsp_db_stats *out);

/* Writes s in the Prometheus text format as <prefix>_db_* metrics (commits, failures, jobs, commit time,
 * queue, map size and the batch-size histogram). */
void rsp_db_stats_write(FILE *f, const char *prefix, const rsp_db_stats *s);

#endif
