#include "rsp/pg.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rsp/log.h"

/* Batch outcomes of one attempt. */
enum { B_COMMITTED, B_SAVEPOINTS, B_RERUN, B_UNAVAILABLE, B_FAILED };

#define MAX_ATTEMPTS 4
/* One lock for every component's migrations: CREATE TABLE IF NOT EXISTS races otherwise. */
#define MIGRATE_LOCK "7526357001"

struct job {
    rsp_pg_apply_cb apply;
    rsp_pg_apply_many_cb many; /* set instead of apply for jobs that run merged */
    rsp_pg_done_cb done;
    void *arg;
    struct timespec queued;
    int result;
    struct job *next;
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    size_t n;
};

struct stmt {
    const char *sql;
    char name[16];
};

struct worker {
    rsp_pg *pg;
    pthread_t th;
    bool writer, started;
    PGconn *conn;
    bool connected_once;
    struct stmt *stmts;
    size_t nstmts, cap;
    void **margs; /* batch_max arguments and results of one merged group */
    int *mres;
};

struct rsp_pg_tx {
    struct worker *w;
    bool failed;
    char sqlstate[6];
};

struct rsp_pg {
    rsp_pg_config cfg;
    char *dsn, *name;
    struct queue wq, rq;
    atomic_bool ready, closing;
    struct worker *workers;
    unsigned nworkers;
    pthread_mutex_t stats_mu;
    rsp_pg_stats stats;
    atomic_uint_fast64_t round_trips;
};

/* ---- connections ---- */

static PGconn *connect_db(rsp_pg *pg, char *err, size_t errlen)
{
    char timeout[16], settings[128];
    snprintf(timeout, sizeof(timeout), "%u", (pg->cfg.timeout_ms + 999) / 1000);
    /* Durability is ours to require, not the server default's. */
    snprintf(settings, sizeof(settings),
             "-c synchronous_commit=on -c client_min_messages=warning -c statement_timeout=%u",
             pg->cfg.timeout_ms);
    const char *keys[] = {"dbname", "application_name", "connect_timeout", "options", NULL};
    const char *vals[] = {pg->dsn, pg->name, timeout, settings, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    if (err)
        snprintf(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
    if (err) {
        size_t l = strlen(err);
        while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
            err[--l] = 0;
    }
    PQfinish(c);
    return NULL;
}

static void stat_add(rsp_pg *pg, uint64_t *field, uint64_t v)
{
    pthread_mutex_lock(&pg->stats_mu);
    *field += v;
    pthread_mutex_unlock(&pg->stats_mu);
}

static void drop_conn(struct worker *w)
{
    PQfinish(w->conn);
    w->conn = NULL;
    w->nstmts = 0;
    if (atomic_exchange(&w->pg->ready, false))
        rsp_log(RSP_LOG_WARN, "%s: database connection lost; answering \"unavailable\" until it is back",
                w->pg->name);
}

/* Makes sure w has a connection: true when it has one. */
static bool ensure_conn(struct worker *w)
{
    if (w->conn && PQstatus(w->conn) == CONNECTION_OK)
        return true;
    if (w->conn)
        drop_conn(w);
    char err[256];
    if (!(w->conn = connect_db(w->pg, err, sizeof(err)))) {
        atomic_store(&w->pg->ready, false);
        return false;
    }
    if (w->connected_once)
        stat_add(w->pg, &w->pg->stats.reconnects, 1);
    w->connected_once = true;
    if (!atomic_exchange(&w->pg->ready, true))
        rsp_log(RSP_LOG_INFO, "%s: database connection (re)established", w->pg->name);
    return true;
}

/* Idle check: reconnects a missing connection, or pings an open one. */
static void idle_check(struct worker *w)
{
    if (!w->conn) {
        ensure_conn(w);
        return;
    }
    PGresult *r = PQexec(w->conn, "SELECT 1");
    atomic_fetch_add(&w->pg->round_trips, 1);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok)
        drop_conn(w);
    else
        atomic_store(&w->pg->ready, true);
}

/* ---- statements ---- */

static const char *prepared(rsp_pg_tx *t, const char *sql, int n)
{
    struct worker *w = t->w;
    for (size_t i = 0; i < w->nstmts; i++)
        if (w->stmts[i].sql == sql)
            return w->stmts[i].name;
    if (w->nstmts == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        struct stmt *ns = realloc(w->stmts, nc * sizeof(*ns));
        if (!ns)
            return NULL;
        w->stmts = ns;
        w->cap = nc;
    }
    struct stmt *s = &w->stmts[w->nstmts];
    snprintf(s->name, sizeof(s->name), "rsp%zu", w->nstmts);
    PGresult *r = PQprepare(w->conn, s->name, sql, n, NULL);
    atomic_fetch_add(&w->pg->round_trips, 1);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", st ? st : "");
        rsp_log(RSP_LOG_ERROR, "%s: prepare failed: %s", w->pg->name, PQerrorMessage(w->conn));
    }
    PQclear(r);
    if (!ok)
        return NULL;
    s->sql = sql;
    w->nstmts++;
    return s->name;
}

PGresult *rsp_pg_exec(rsp_pg_tx *t, const char *sql, int n, const char *const *params)
{
    if (t->failed)
        return NULL;
    const char *name = prepared(t, sql, n);
    if (!name) {
        t->failed = true;
        return NULL;
    }
    PGresult *r = PQexecPrepared(t->w->conn, name, n, params, NULL, NULL, 0);
    atomic_fetch_add(&t->w->pg->round_trips, 1);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", code ? code : "");
    /* Connection trouble is logged once by drop_conn; a statement error is worth a line. */
    if (PQstatus(t->w->conn) == CONNECTION_OK && code && strncmp(code, "40", 2) != 0)
        rsp_log(RSP_LOG_ERROR, "%s: statement failed (%s): %s", t->w->pg->name, code,
                PQresultErrorMessage(r));
    PQclear(r);
    t->failed = true;
    return NULL;
}

int rsp_pg_run(rsp_pg_tx *t, const char *sql, int n, const char *const *params, long *rows)
{
    PGresult *r = rsp_pg_exec(t, sql, n, params);
    if (!r)
        return -1;
    if (rows)
        *rows = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : atol(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

/* ---- array parameters ---- */

void rsp_pg_array_init(rsp_pg_array *a)
{
    *a = (rsp_pg_array){NULL, 0, 0, false};
}

static void array_put(rsp_pg_array *a, const char *v, size_t n)
{
    if (a->failed)
        return;
    if (a->len + n + 2 > a->cap) {
        size_t nc = a->cap ? a->cap : 256;
        while (a->len + n + 2 > nc)
            nc *= 2;
        char *nb = realloc(a->buf, nc);
        if (!nb) {
            a->failed = true;
            return;
        }
        a->buf = nb;
        a->cap = nc;
    }
    memcpy(a->buf + a->len, v, n);
    a->len += n;
}

void rsp_pg_array_add(rsp_pg_array *a, const char *v)
{
    array_put(a, a->len ? "," : "{", 1);
    if (!v) {
        array_put(a, "NULL", 4);
        return;
    }
    array_put(a, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            array_put(a, "\\", 1);
        array_put(a, p, 1);
    }
    array_put(a, "\"", 1);
}

const char *rsp_pg_array_end(rsp_pg_array *a)
{
    if (!a->len)
        array_put(a, "{", 1);
    array_put(a, "}", 1);
    if (a->failed)
        return NULL;
    a->buf[a->len] = 0;
    return a->buf;
}

void rsp_pg_array_free(rsp_pg_array *a)
{
    free(a->buf);
    rsp_pg_array_init(a);
}

/* Runs a fixed command of the batch protocol (BEGIN, SAVEPOINT, COMMIT ...); true when it worked. */
static bool command(struct worker *w, const char *sql, char sqlstate[6])
{
    PGresult *r = PQexec(w->conn, sql);
    atomic_fetch_add(&w->pg->round_trips, 1);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok && sqlstate) {
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(sqlstate, 6, "%s", code ? code : "");
    }
    PQclear(r);
    return ok;
}

/* Serialization failure or deadlock: the same batch may succeed when run again. */
static bool rerunnable(const char *sqlstate)
{
    return !strcmp(sqlstate, "40001") || !strcmp(sqlstate, "40P01");
}

/* Connection exceptions, insufficient resources, operator intervention (shutdown, statement timeout). */
static bool transient(struct worker *w, const char *sqlstate)
{
    return PQstatus(w->conn) != CONNECTION_OK || !strncmp(sqlstate, "08", 2) || !strncmp(sqlstate, "53", 2) ||
           !strncmp(sqlstate, "57", 2);
}

static int end_attempt(struct worker *w, int outcome)
{
    if (PQstatus(w->conn) == CONNECTION_OK && PQtransactionStatus(w->conn) != PQTRANS_IDLE)
        command(w, "ROLLBACK", NULL);
    return outcome;
}

static int64_t usec_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (int64_t)(b.tv_sec - a->tv_sec) * 1000000 + (b.tv_nsec - a->tv_nsec) / 1000;
}

/* Consecutive jobs of one merged kind from jobs[i]: how many (1 for a plain job, or when alone). */
static size_t group_len(struct job **jobs, size_t i, size_t n, bool alone)
{
    size_t k = i + 1;
    while (!alone && jobs[i]->many && k < n && jobs[k]->many == jobs[i]->many)
        k++;
    return k - i;
}

/* Runs jobs[0..g) (g > 1 only for a merged kind): apply's return value for the group; the results of a
 * merged group go to each job's result when it is >= 0. */
static int apply_group(struct worker *w, rsp_pg_tx *t, struct job **jobs, size_t g)
{
    if (!jobs[0]->many)
        return jobs[0]->apply(t, jobs[0]->arg);
    for (size_t i = 0; i < g; i++) {
        w->margs[i] = jobs[i]->arg;
        w->mres[i] = 0;
    }
    int r = jobs[0]->many(t, w->margs, w->mres, g);
    if (r >= 0 && !t->failed)
        for (size_t i = 0; i < g; i++)
            jobs[i]->result = w->mres[i];
    return r < 0 ? r : g == 1 ? w->mres[0] : 0;
}

/* One attempt at a batch of writes: sets every job's result when it returns B_COMMITTED.  Consecutive
 * jobs of one merged kind run as one call, except in savepoint mode, where each job is alone. */
static int try_batch(struct worker *w, struct job **jobs, size_t n, bool savepoints)
{
    char sqlstate[6] = "";
    if (!command(w, "BEGIN", sqlstate))
        return end_attempt(w, transient(w, sqlstate) ? B_UNAVAILABLE : B_FAILED);
    for (size_t i = 0, g; i < n; i += g) {
        g = group_len(jobs, i, n, savepoints);
        if (savepoints && !command(w, "SAVEPOINT j", sqlstate))
            return end_attempt(w, transient(w, sqlstate) ? B_UNAVAILABLE : B_FAILED);
        rsp_pg_tx t = {w, false, ""};
        int r = apply_group(w, &t, jobs + i, g);
        if (g > 1) {
            if (rerunnable(t.sqlstate))
                return end_attempt(w, B_RERUN);
            if (t.failed && transient(w, t.sqlstate))
                return end_attempt(w, B_UNAVAILABLE);
            if (r < 0 || t.failed)
                return end_attempt(w, B_SAVEPOINTS);
            continue;
        }
        if (rerunnable(t.sqlstate))
            return end_attempt(w, B_RERUN);
        if (t.failed && transient(w, t.sqlstate))
            return end_attempt(w, B_UNAVAILABLE);
        if (r < 0 || t.failed) {
            if (!savepoints)
                return end_attempt(w, B_SAVEPOINTS);
            if (!command(w, "ROLLBACK TO SAVEPOINT j", sqlstate))
                return end_attempt(w, transient(w, sqlstate) ? B_UNAVAILABLE : B_FAILED);
            jobs[i]->result = RSP_PG_FAILED;
        } else {
            jobs[i]->result = r;
            if (savepoints &&
                !command(w, r > 0 ? "ROLLBACK TO SAVEPOINT j" : "RELEASE SAVEPOINT j", sqlstate))
                return end_attempt(w, transient(w, sqlstate) ? B_UNAVAILABLE : B_FAILED);
        }
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool ok = command(w, "COMMIT", sqlstate);
    stat_add(w->pg, &w->pg->stats.commit_usec, (uint64_t)usec_since(&t0));
    if (ok)
        return B_COMMITTED;
    if (rerunnable(sqlstate))
        return end_attempt(w, B_RERUN);
    /* The commit may or may not have happened: retryable for the caller, never "done". */
    return end_attempt(w, transient(w, sqlstate) ? B_UNAVAILABLE : B_FAILED);
}

static void finish(struct job **jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct job *j = jobs[i];
        j->done(j->arg, j->result);
        free(j);
    }
}

static void set_all(struct job **jobs, size_t n, int result)
{
    for (size_t i = 0; i < n; i++)
        jobs[i]->result = result;
}

static void run_writes(struct worker *w, struct job **jobs, size_t n)
{
    rsp_pg *pg = w->pg;
    int outcome = B_UNAVAILABLE;
    bool savepoints = false;
    for (int attempt = 0; attempt < MAX_ATTEMPTS && ensure_conn(w); attempt++) {
        outcome = try_batch(w, jobs, n, savepoints);
        if (outcome == B_SAVEPOINTS)
            savepoints = true;
        else if (outcome != B_RERUN)
            break;
        stat_add(pg, &pg->stats.reruns, 1);
    }
    if (outcome == B_UNAVAILABLE && w->conn && PQstatus(w->conn) != CONNECTION_OK)
        drop_conn(w);
    if (outcome != B_COMMITTED)
        set_all(jobs, n, outcome == B_UNAVAILABLE ? RSP_PG_UNAVAILABLE : RSP_PG_FAILED);
    pthread_mutex_lock(&pg->stats_mu);
    if (outcome == B_COMMITTED)
        pg->stats.commits++;
    else
        pg->stats.commit_failures++;
    pg->stats.jobs += n;
    for (size_t i = 0; i < n; i++)
        if (jobs[i]->result != 0)
            pg->stats.jobs_failed++;
    if (n > pg->stats.batch_max_seen)
        pg->stats.batch_max_seen = n;
    pthread_mutex_unlock(&pg->stats_mu);
    finish(jobs, n);
}

/* One read job, or a group of merged ones (each gets its own result, or all the group's failure). */
static void run_read(struct worker *w, struct job **jobs, size_t n)
{
    set_all(jobs, n, RSP_PG_UNAVAILABLE);
    if (ensure_conn(w)) {
        rsp_pg_tx t = {w, false, ""};
        int r = apply_group(w, &t, jobs, n);
        if (t.failed && transient(w, t.sqlstate)) {
            if (PQstatus(w->conn) != CONNECTION_OK)
                drop_conn(w);
        } else if (r < 0 || t.failed) {
            set_all(jobs, n, RSP_PG_FAILED);
        } else if (n == 1) {
            jobs[0]->result = r;
        }
    }
    stat_add(w->pg, &w->pg->stats.reads, n);
    finish(jobs, n);
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    rsp_pg *pg = w->pg;
    struct queue *q = w->writer ? &pg->wq : &pg->rq;
    size_t max = pg->cfg.batch_max;
    struct job **batch = calloc(max, sizeof(*batch));
    w->margs = calloc(max, sizeof(*w->margs));
    w->mres = calloc(max, sizeof(*w->mres));
    if (!batch || !w->margs || !w->mres) {
        free(batch);
        return NULL;
    }
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (!q->head) {
            if (atomic_load(&pg->closing))
                break;
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += 1;
            if (pthread_cond_timedwait(&q->cv, &q->mu, &until) == ETIMEDOUT && !q->head) {
                pthread_mutex_unlock(&q->mu);
                idle_check(w);
                pthread_mutex_lock(&q->mu);
            }
            continue;
        }
        /* A reader takes one job, or a run of merged jobs of one kind. */
        size_t n = 0;
        while (q->head && n < max &&
               (w->writer || n == 0 || (q->head->many && q->head->many == batch[0]->many))) {
            batch[n++] = q->head;
            q->head = q->head->next;
            q->n--;
        }
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);

        /* Jobs that waited past the bound: their callers are better served by a quick "unavailable". */
        size_t keep = 0;
        for (size_t i = 0; i < n; i++) {
            if (usec_since(&batch[i]->queued) > (int64_t)pg->cfg.timeout_ms * 1000) {
                batch[i]->result = RSP_PG_UNAVAILABLE;
                finish(&batch[i], 1);
            } else {
                batch[keep++] = batch[i];
            }
        }
        if (keep && w->writer)
            run_writes(w, batch, keep);
        else if (keep)
            run_read(w, batch, keep);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    free(batch);
    return NULL;
}

static void queue_init(struct queue *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void rsp_pg_close(rsp_pg *pg)
{
    if (!pg)
        return;
    atomic_store(&pg->closing, true);
    struct queue *qs[2] = {&pg->wq, &pg->rq};
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&qs[i]->mu);
        pthread_cond_broadcast(&qs[i]->cv);
        pthread_mutex_unlock(&qs[i]->mu);
    }
    for (unsigned i = 0; i < pg->nworkers; i++) {
        struct worker *w = &pg->workers[i];
        if (w->started)
            pthread_join(w->th, NULL);
        PQfinish(w->conn);
        free(w->stmts);
        free(w->margs);
        free(w->mres);
    }
    for (int i = 0; i < 2; i++) {
        pthread_cond_destroy(&qs[i]->cv);
        pthread_mutex_destroy(&qs[i]->mu);
    }
    pthread_mutex_destroy(&pg->stats_mu);
    free(pg->workers);
    free(pg->dsn);
    free(pg->name);
    free(pg);
}

rsp_pg *rsp_pg_open(const rsp_pg_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->dsn || !cfg->dsn[0]) {
        snprintf(err, errlen, "no database connection string (store.dsn)");
        return NULL;
    }
    rsp_pg *pg = calloc(1, sizeof(*pg));
    if (!pg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pg->cfg = *cfg;
    if (!pg->cfg.writers)
        pg->cfg.writers = 2;
    if (!pg->cfg.readers && !pg->cfg.no_readers)
        pg->cfg.readers = 2;
    if (pg->cfg.no_readers)
        pg->cfg.readers = 0;
    if (!pg->cfg.batch_max)
        pg->cfg.batch_max = 256;
    if (!pg->cfg.queue_max)
        pg->cfg.queue_max = 65536;
    if (!pg->cfg.timeout_ms)
        pg->cfg.timeout_ms = 5000;
    pg->dsn = strdup(cfg->dsn);
    pg->name = strdup(cfg->name && cfg->name[0] ? cfg->name : "rsp");
    pthread_mutex_init(&pg->stats_mu, NULL);
    queue_init(&pg->wq);
    queue_init(&pg->rq);
    pg->nworkers = pg->cfg.writers + pg->cfg.readers;
    pg->workers = calloc(pg->nworkers, sizeof(*pg->workers));
    if (!pg->dsn || !pg->name || !pg->workers) {
        snprintf(err, errlen, "out of memory");
        rsp_pg_close(pg);
        return NULL;
    }
    for (unsigned i = 0; i < pg->nworkers; i++) {
        struct worker *w = &pg->workers[i];
        w->pg = pg;
        w->writer = i < pg->cfg.writers;
        if (!(w->conn = connect_db(pg, err, errlen))) {
            rsp_pg_close(pg);
            return NULL;
        }
        w->connected_once = true;
    }
    atomic_store(&pg->ready, true);
    for (unsigned i = 0; i < pg->nworkers; i++) {
        if (pthread_create(&pg->workers[i].th, NULL, worker_main, &pg->workers[i]) != 0) {
            snprintf(err, errlen, "cannot start database threads");
            rsp_pg_close(pg);
            return NULL;
        }
        pg->workers[i].started = true;
    }
    return pg;
}

bool rsp_pg_ready(const rsp_pg *pg)
{
    return pg && atomic_load(&pg->ready);
}

static int submit(rsp_pg *pg, struct queue *q, rsp_pg_apply_cb apply, rsp_pg_apply_many_cb many,
                  rsp_pg_done_cb done, void *arg)
{
    if (!atomic_load(&pg->ready) || atomic_load(&pg->closing)) {
        stat_add(pg, &pg->stats.refused, 1);
        return -1;
    }
    struct job *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    *j = (struct job){apply, many, done, arg, {0, 0}, 0, NULL};
    clock_gettime(CLOCK_MONOTONIC, &j->queued);
    pthread_mutex_lock(&q->mu);
    if (q->n >= pg->cfg.queue_max || atomic_load(&pg->closing)) {
        pthread_mutex_unlock(&q->mu);
        free(j);
        stat_add(pg, &pg->stats.refused, 1);
        return -1;
    }
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->n++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int rsp_pg_submit(rsp_pg *pg, rsp_pg_apply_cb apply, rsp_pg_done_cb done, void *arg)
{
    return submit(pg, &pg->wq, apply, NULL, done, arg);
}

int rsp_pg_submit_read(rsp_pg *pg, rsp_pg_apply_cb apply, rsp_pg_done_cb done, void *arg)
{
    return submit(pg, pg->cfg.readers ? &pg->rq : &pg->wq, apply, NULL, done, arg);
}

int rsp_pg_submit_many(rsp_pg *pg, rsp_pg_apply_many_cb apply, rsp_pg_done_cb done, void *arg)
{
    return submit(pg, &pg->wq, NULL, apply, done, arg);
}

int rsp_pg_submit_read_many(rsp_pg *pg, rsp_pg_apply_many_cb apply, rsp_pg_done_cb done, void *arg)
{
    return submit(pg, pg->cfg.readers ? &pg->rq : &pg->wq, NULL, apply, done, arg);
}

/* A job whose submitter waits for it. */
struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
    int result;
    rsp_pg_apply_cb apply;
    void *arg;
};

static int apply_waited(rsp_pg_tx *t, void *arg)
{
    struct waiter *w = arg;
    return w->apply(t, w->arg);
}

static void wake(void *arg, int result)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->result = result;
    w->finished = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int run_sync(rsp_pg *pg, struct queue *q, rsp_pg_apply_cb apply, void *arg)
{
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, apply, arg};
    if (submit(pg, q, apply_waited, NULL, wake, &w) != 0)
        return RSP_PG_UNAVAILABLE;
    pthread_mutex_lock(&w.mu);
    while (!w.finished)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return w.result;
}

int rsp_pg_write_sync(rsp_pg *pg, rsp_pg_apply_cb apply, void *arg)
{
    return run_sync(pg, &pg->wq, apply, arg);
}

int rsp_pg_read_sync(rsp_pg *pg, rsp_pg_apply_cb apply, void *arg)
{
    return run_sync(pg, pg->cfg.readers ? &pg->rq : &pg->wq, apply, arg);
}

/* ---- migrations ---- */

static int simple(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static PGresult *params(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

static int migrate_locked(PGconn *c, const char *component, const rsp_pg_migration *migs, size_t n, char *err,
                          size_t errlen)
{
    if (simple(c,
               "CREATE TABLE IF NOT EXISTS rsp_schema (component text PRIMARY KEY, version integer NOT NULL,"
               " updated_at timestamptz NOT NULL DEFAULT now());"
               "CREATE TABLE IF NOT EXISTS rsp_fingerprint (name text PRIMARY KEY, fp bytea NOT NULL,"
               " created_at timestamptz NOT NULL DEFAULT now());"
               "CREATE TABLE IF NOT EXISTS rsp_consumed_txn (component text NOT NULL, tid bytea NOT NULL,"
               " expires_at bigint NOT NULL, PRIMARY KEY (component, tid));"
               "CREATE INDEX IF NOT EXISTS rsp_consumed_txn_by_expiry ON rsp_consumed_txn (expires_at)",
               err, errlen) != 0)
        return -1;
    const char *p[2] = {component, NULL};
    PGresult *r = params(c, "SELECT version FROM rsp_schema WHERE component = $1", 1, p, err, errlen);
    if (!r)
        return -1;
    int cur = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    int last = n ? migs[n - 1].version : 0;
    if (cur > last) {
        snprintf(err, errlen, "schema %s is at version %d, newer than this program's %d", component, cur,
                 last);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (migs[i].version <= cur)
            continue;
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", migs[i].version);
        p[1] = ver;
        if (simple(c, "BEGIN", err, errlen) != 0)
            return -1;
        if (simple(c, migs[i].sql, err, errlen) != 0 ||
            !(r = params(c,
                         "INSERT INTO rsp_schema (component, version) VALUES ($1, $2) ON CONFLICT (component)"
                         " DO UPDATE SET version = EXCLUDED.version, updated_at = now()",
                         2, p, err, errlen))) {
            char keep[256];
            snprintf(keep, sizeof(keep), "%s", err);
            simple(c, "ROLLBACK", err, errlen);
            snprintf(err, errlen, "schema %s version %d: %s", component, migs[i].version, keep);
            return -1;
        }
        PQclear(r);
        if (simple(c, "COMMIT", err, errlen) != 0)
            return -1;
        rsp_log(RSP_LOG_INFO, "schema %s: migrated to version %d", component, migs[i].version);
    }
    return 0;
}

int rsp_pg_migrate(PGconn *c, const char *component, const rsp_pg_migration *migs, size_t n, char *err,
                   size_t errlen)
{
    if (simple(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err, errlen) != 0)
        return -1;
    int rc = migrate_locked(c, component, migs, n, err, errlen);
    char ignored[64];
    simple(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", ignored, sizeof(ignored));
    return rc;
}

static PGconn *tool_conn(const char *dsn, char *err, size_t errlen)
{
    rsp_pg tmp = {.dsn = (char *)dsn, .name = "rsp-migrate", .cfg = {.timeout_ms = 10000}};
    return connect_db(&tmp, err, errlen);
}

int rsp_pg_migrate_dsn(const char *dsn, const char *component, const rsp_pg_migration *migs, size_t n,
                       char *err, size_t errlen)
{
    PGconn *c = tool_conn(dsn, err, errlen);
    if (!c)
        return -1;
    int rc = rsp_pg_migrate(c, component, migs, n, err, errlen);
    PQfinish(c);
    return rc;
}

int rsp_pg_fingerprint_check(const char *dsn, const char *name, const uint8_t *fp, size_t len, char *err,
                             size_t errlen)
{
    if (len == 0 || len > 64) {
        snprintf(err, errlen, "fingerprint length %zu", len);
        return -1;
    }
    char hex[2 + 2 * 64 + 1] = "\\x";
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02x", fp[i]);
    PGconn *c = tool_conn(dsn, err, errlen);
    if (!c)
        return -1;
    const char *p[2] = {name, hex};
    int rc = -1;
    PGresult *r =
        params(c, "INSERT INTO rsp_fingerprint (name, fp) VALUES ($1, $2::bytea) ON CONFLICT DO NOTHING", 2,
               p, err, errlen);
    if (r) {
        PQclear(r);
        r = params(c, "SELECT encode(fp, 'hex') FROM rsp_fingerprint WHERE name = $1", 1, p, err, errlen);
    }
    if (r && PQntuples(r) == 1) {
        const char *got = PQgetvalue(r, 0, 0);
        size_t gl = strlen(got);
        unsigned diff = gl != 2 * len;
        for (size_t i = 0; !diff && i < gl; i++)
            diff |= (unsigned)(got[i] ^ hex[2 + i]);
        rc = diff ? 1 : 0;
        if (rc)
            snprintf(err, errlen,
                     "%s differs from the one this database was set up with: every node must use the same",
                     name);
    } else if (r) {
        snprintf(err, errlen, "fingerprint %s: not stored", name);
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int rsp_pg_secret_check(const char *dsn, const char *name, const uint8_t *secret, size_t len, char *err,
                        size_t errlen)
{
    char label[256];
    int ll = snprintf(label, sizeof(label), "rsp-store-fingerprint:%s", name);
    uint8_t fp[32];
    unsigned fl = 0;
    if (ll < 0 || (size_t)ll >= sizeof(label) ||
        !HMAC(EVP_sha256(), secret, (int)len, (const uint8_t *)label, (size_t)ll, fp, &fl)) {
        snprintf(err, errlen, "cannot compute the fingerprint of %s", name);
        return -1;
    }
    return rsp_pg_fingerprint_check(dsn, name, fp, fl, err, errlen);
}

/* ---- statistics ---- */

void rsp_pg_stats_get(rsp_pg *pg, rsp_pg_stats *out)
{
    pthread_mutex_lock(&pg->stats_mu);
    *out = pg->stats;
    pthread_mutex_unlock(&pg->stats_mu);
    struct queue *qs[2] = {&pg->wq, &pg->rq};
    out->queued = 0;
    for (int i = 0; i < 2; i++) {
        pthread_mutex_lock(&qs[i]->mu);
        out->queued += qs[i]->n;
        pthread_mutex_unlock(&qs[i]->mu);
    }
    out->ready = atomic_load(&pg->ready);
    out->round_trips = atomic_load(&pg->round_trips);
}

void rsp_pg_stats_write(FILE *f, const char *prefix, const rsp_pg_stats *s)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } m[] = {
        {"commits_total", "counter", "write transactions committed", offsetof(rsp_pg_stats, commits)},
        {"commit_failures_total", "counter", "write batches that did not commit",
         offsetof(rsp_pg_stats, commit_failures)},
        {"jobs_total", "counter", "write jobs completed", offsetof(rsp_pg_stats, jobs)},
        {"jobs_failed_total", "counter", "write jobs completed with an error",
         offsetof(rsp_pg_stats, jobs_failed)},
        {"reads_total", "counter", "read jobs completed", offsetof(rsp_pg_stats, reads)},
        {"batch_max", "gauge", "largest write batch", offsetof(rsp_pg_stats, batch_max_seen)},
        {"commit_seconds_total", "counter", "time spent in COMMIT", offsetof(rsp_pg_stats, commit_usec)},
        {"reruns_total", "counter", "batches run again", offsetof(rsp_pg_stats, reruns)},
        {"reconnects_total", "counter", "database reconnections", offsetof(rsp_pg_stats, reconnects)},
        {"refused_total", "counter", "jobs refused at once (database down, queue full)",
         offsetof(rsp_pg_stats, refused)},
        {"queued", "gauge", "jobs waiting", offsetof(rsp_pg_stats, queued)},
        {"ready", "gauge", "1 when the database is reachable", offsetof(rsp_pg_stats, ready)},
        {"round_trips_total", "counter", "statements and commands sent to the database, each one round trip",
         offsetof(rsp_pg_stats, round_trips)},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        uint64_t v;
        memcpy(&v, (const char *)s + m[i].off, sizeof(v));
        fprintf(f, "# HELP %s_pg_%s %s\n# TYPE %s_pg_%s %s\n", prefix, m[i].name, m[i].help, prefix,
                m[i].name, m[i].type);
        if (m[i].off == offsetof(rsp_pg_stats, commit_usec))
            fprintf(f, "%s_pg_%s %.6f\n", prefix, m[i].name, (double)v / 1e6);
        else
            fprintf(f, "%s_pg_%s %llu\n", prefix, m[i].name, (unsigned long long)v);
    }
}
