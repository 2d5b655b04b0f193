/*
 * rsp/pg.h - PostgreSQL plumbing shared by the services' PostgreSQL store backends: connections that
 * come back by themselves, a small pool of writer threads doing group commit, a pool of reader threads,
 * versioned schema migrations under an advisory lock, and a readiness flag for /readyz.
 *
 * Nothing here runs on an h2o worker: a handler submits a job (apply callback + done callback) and
 * defers its request (rsp_http_defer); the done callback, run on a pool thread, hands the result back
 * with rsp_http_resume, exactly as with the LMDB writer (rsp/db.h).
 *
 * Writes (group commit): each writer thread owns one connection.  It drains up to batch_max queued jobs,
 * runs their apply callbacks inside one transaction and commits it with synchronous_commit on (set on
 * every connection, whatever the server default), then calls every job's done: a job is acknowledged
 * only once its data is durable.  apply reports one of three outcomes:
 *   0     keep its writes;
 *   > 0   a refusal decided before writing anything (e.g. "EventID exists"); the value goes to done;
 *   < 0   failure (a statement failed, or it refused after writing): the writer rolls the batch back and
 *         runs it again with a savepoint around each job, so the other jobs still commit.
 * A serialization failure or deadlock reruns the batch (a bounded number of times).  apply may run more
 * than once for one job, so it must act only through the database and overwrite any output it keeps.
 *
 * Reads: reader threads run one job at a time on their own connections, outside any explicit
 * transaction (each statement sees committed data).
 *
 * Faults: when a connection fails, its jobs end with RSP_PG_UNAVAILABLE, the pool is marked not ready and
 * submissions are refused at once (submit returns -1) until a thread reconnects; threads retry every
 * second and ping an idle connection every second, so readiness follows the database without traffic.
 * A job that waited longer than timeout_ms in the queue also ends with RSP_PG_UNAVAILABLE.  A failure
 * during COMMIT leaves the outcome unknown to us; it is reported as RSP_PG_UNAVAILABLE as well (callers
 * answer "temporarily unavailable", and a retried register finds its EventID taken or absent).
 *
 * Ownership: rsp_pg_open() returns a pool released by rsp_pg_close().  PGresults from rsp_pg_exec() are
 * the caller's (PQclear).  Thread safety: every function may be called from any thread except that a
 * job's rsp_pg_tx is valid only inside its apply callback.  Errors: see each function.
 */
#ifndef RSP_PG_H
#define RSP_PG_H

#include <postgresql/libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Job results produced by the pool itself (never by apply; keep apply refusals positive). */
#define RSP_PG_UNAVAILABLE (-1000) /* the database could not be reached or the commit was not confirmed */
#define RSP_PG_FAILED (-1001)      /* the job's statements failed (a bug or a constraint); logged */

typedef struct rsp_pg rsp_pg;

/* Zero fields take the defaults in brackets. */
typedef struct rsp_pg_config {
    const char *dsn;     /* libpq connection string (required) */
    const char *name;    /* application_name and log prefix ["rsp"] */
    unsigned writers;    /* writer threads / connections [2] */
    unsigned readers;    /* reader threads / connections [2]; 0 is allowed only with no_readers */
    bool no_readers;     /* tools: no reader pool */
    unsigned batch_max;  /* jobs per transaction [256] */
    unsigned queue_max;  /* queued jobs per pool before submit refuses [65536] */
    unsigned timeout_ms; /* connect timeout, statement_timeout and the queue wait bound [5000] */
} rsp_pg_config;

/* A migration: SQL run in one transaction, taking the schema from version - 1 to version. */
typedef struct rsp_pg_migration {
    int version;
    const char *sql;
} rsp_pg_migration;

/*
 * Connects once synchronously and starts the threads.  An unreachable database or a wrong DSN at start
 * gives NULL with a message in err, so that a misconfigured node does not come up; later outages are
 * handled as above.  cfg->dsn and cfg->name are copied.
 */
rsp_pg *rsp_pg_open(const rsp_pg_config *cfg, char *err, size_t errlen);

/* Refuses new jobs, lets the threads finish the queued ones (each gets its done call), joins them and
 * closes the connections.  NULL is a no-op. */
void rsp_pg_close(rsp_pg *pg);

/* Whether the database was reachable at the last attempt (for /readyz).  NULL: false. */
bool rsp_pg_ready(const rsp_pg *pg);

/* ---- jobs ---- */

/* The connection and statement helpers seen by one apply callback. */
typedef struct rsp_pg_tx rsp_pg_tx;

/* See the header comment for the meaning of the return value. */
typedef int (*rsp_pg_apply_cb)(rsp_pg_tx *t, void *arg);
/* Runs on the pool thread after the commit (writes) or the job (reads): result is 0, apply's refusal,
 * RSP_PG_UNAVAILABLE or RSP_PG_FAILED.  It should be quick and must not wait for another job. */
typedef void (*rsp_pg_done_cb)(void *arg, int result);

/* Queues a write / a read.  0, or -1 when the pool is not ready, full or closing (done is then never
 * called: answer "temporarily unavailable" at once). */
int rsp_pg_submit(rsp_pg *pg, rsp_pg_apply_cb apply, rsp_pg_done_cb done, void *arg);
int rsp_pg_submit_read(rsp_pg *pg, rsp_pg_apply_cb apply, rsp_pg_done_cb done, void *arg);

/*
 * Merged jobs: consecutive queued jobs submitted with the same apply_many run as one call, so that one
 * statement (e.g. a multi-row INSERT over unnest() of array parameters, or a SELECT ... WHERE k =
 * ANY($1)) serves them all: one round trip instead of n.  apply_many gets the n >= 1 arguments in queue
 * order and sets results[i] for each (0 or a refusal > 0, as apply returns); its own return value is
 * 0, or < 0 when the group failed.  A failed write group sends the batch to the savepoint path, where
 * every job runs alone (n = 1), so a bad job fails only itself; a failed read group fails all its jobs.
 * Writers merge up to batch_max jobs, readers up to batch_max of one kind.  The rules of apply hold
 * (it may run more than once; write any output it keeps again each time).
 */
typedef int (*rsp_pg_apply_many_cb)(rsp_pg_tx *t, void *const *args, int *results, size_t n);
int rsp_pg_submit_many(rsp_pg *pg, rsp_pg_apply_many_cb apply, rsp_pg_done_cb done, void *arg);
int rsp_pg_submit_read_many(rsp_pg *pg, rsp_pg_apply_many_cb apply, rsp_pg_done_cb done, void *arg);

/*
 * A PostgreSQL array literal ("{...}") built element by element for a merged statement's parameter
 * (e.g. $1::text[], $2::bytea[] with elements "\x..").  Elements are quoted and escaped; NULL is an SQL
 * NULL element.  rsp_pg_array_end returns the literal (owned by a, valid until rsp_pg_array_free), or
 * NULL when memory ran out during the build.
 */
typedef struct rsp_pg_array {
    char *buf;
    size_t len, cap;
    bool failed;
} rsp_pg_array;

void rsp_pg_array_init(rsp_pg_array *a);
void rsp_pg_array_add(rsp_pg_array *a, const char *v);
const char *rsp_pg_array_end(rsp_pg_array *a);
void rsp_pg_array_free(rsp_pg_array *a);

/* Submits and waits (tools, tests, housekeeping threads; never an h2o worker): the result done would
 * get, or RSP_PG_UNAVAILABLE when it could not be queued. */
int rsp_pg_write_sync(rsp_pg *pg, rsp_pg_apply_cb apply, void *arg);
int rsp_pg_read_sync(rsp_pg *pg, rsp_pg_apply_cb apply, void *arg);

/*
 * Runs sql (one statement, $1..$n text parameters, NULL = SQL NULL) as a prepared statement cached on the
 * connection by the address of sql, so pass string literals or other static text.  Returns the result
 * (PGRES_TUPLES_OK or PGRES_COMMAND_OK) for the caller to PQclear, or NULL after recording the error
 * (apply should then return -1 at once).
 */
PGresult *rsp_pg_exec(rsp_pg_tx *t, const char *sql, int n, const char *const *params);
/* Same, for statements whose result is not needed: 0 or -1; *rows (may be NULL) gets the affected or
 * returned row count. */
int rsp_pg_run(rsp_pg_tx *t, const char *sql, int n, const char *const *params, long *rows);

/*
 * Consumed transactionIds (cluster-wide replay refusal of ES11 / ES9+ AuthenticateClient): rsp_pg_migrate
 * creates the table rsp_consumed_txn (component text, tid bytea, expires_at bigint Unix seconds,
 * primary key (component, tid)).  A replay store backend consumes an id with RSP_PG_SQL_TXN_CONSUME
 * ($1 component, $2 tid as bytea hex text "\x..", $3 expiry): one row back = first use, none = replay; and
 * forgets expired ids with RSP_PG_SQL_TXN_PURGE ($1 now, $2 batch bound).
 */
#define RSP_PG_SQL_TXN_CONSUME                                                                               \
    "INSERT INTO rsp_consumed_txn (component, tid, expires_at) VALUES ($1, $2::bytea, $3::bigint)"           \
    " ON CONFLICT DO NOTHING RETURNING 1"
#define RSP_PG_SQL_TXN_PURGE                                                                                 \
    "DELETE FROM rsp_consumed_txn WHERE ctid IN (SELECT ctid FROM rsp_consumed_txn"                          \
    " WHERE expires_at <= $1::bigint LIMIT $2::bigint FOR UPDATE SKIP LOCKED)"

/* ---- migrations ---- */

/*
 * Brings the schema of component (e.g. "smds") to the last version of migs (ascending versions) on conn:
 * takes a session advisory lock (concurrent starts wait for each other), creates the rsp_schema table when
 * missing, runs each migration above the stored version in its own transaction with the version update,
 * and unlocks.  A stored version above the last known one is an error (an older binary on a newer
 * schema).  0, or -1 with a message in err.
 */
int rsp_pg_migrate(PGconn *conn, const char *component, const rsp_pg_migration *migs, size_t n, char *err,
                   size_t errlen);

/* The same on a connection of its own, opened and closed here. */
int rsp_pg_migrate_dsn(const char *dsn, const char *component, const rsp_pg_migration *migs, size_t n,
                       char *err, size_t errlen);

/*
 * Compares a secret's fingerprint with the one stored under name in the rsp_fingerprint table (created by
 * rsp_pg_migrate), storing it when none is: nodes sharing a database must share their secrets, and one
 * that would mint its own refuses to start instead.  fp is binary (e.g. an HMAC of a fixed label).
 * 0 = stored or equal, 1 = different (err says so), -1 = database error.
 */
int rsp_pg_fingerprint_check(const char *dsn, const char *name, const uint8_t *fp, size_t len, char *err,
                             size_t errlen);

/* rsp_pg_fingerprint_check of HMAC-SHA256(secret, "rsp-store-fingerprint:" name): the database learns
 * nothing it could use to recover the secret, and one fingerprint cannot be replayed under another name. */
int rsp_pg_secret_check(const char *dsn, const char *name, const uint8_t *secret, size_t len, char *err,
                        size_t errlen);

/* ---- statistics (for /metrics) ---- */

typedef struct rsp_pg_stats {
    uint64_t commits;         /* write transactions committed */
    uint64_t commit_failures; /* batches that did not commit */
    uint64_t jobs;            /* write jobs completed */
    uint64_t jobs_failed;     /* ... with a nonzero result */
    uint64_t reads;           /* read jobs completed */
    uint64_t batch_max_seen;
    uint64_t commit_usec; /* total time in COMMIT */
    uint64_t reruns;      /* batches run again (savepoints, serialization failures) */
    uint64_t reconnects;  /* successful connections after the first */
    uint64_t refused;     /* submissions refused (not ready, full, closing) */
    uint64_t queued;      /* jobs waiting now (writes + reads) */
    uint64_t ready;       /* 1 or 0 */
    uint64_t round_trips; /* statements and commands sent (each waits for its answer) */
} rsp_pg_stats;

void rsp_pg_stats_get(rsp_pg *pg, rsp_pg_stats *out);
/* Writes s as Prometheus <prefix>_pg_* metrics. */
void rsp_pg_stats_write(FILE *f, const char *prefix, const rsp_pg_stats *s);

#endif
