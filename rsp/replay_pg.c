#include "rsp/replay_pg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/err.h"

#define COMPONENT_MAX 63

typedef struct pg_backend {
    rsp_pg *pg;
    char component[COMPONENT_MAX + 1];
    atomic_uint consumes;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    size_t inflight; /* consumes whose done has not run yet: free waits for them */
} pg_backend;

typedef struct consume_job {
    pg_backend *b;
    char tid[2 + 2 * RSP_TXN_ID_LEN + 1]; /* bytea hex input: \x... */
    char expiry[16];
    int outcome; /* set by apply, which may run more than once */
    rsp_replay_done_fn done;
    void *arg;
} consume_job;

typedef struct purge_job {
    char now[16];
} purge_job;

static const char SQL_PURGE[] = RSP_PG_SQL_TXN_PURGE;
static const char SQL_PROBE[] = "SELECT 1 FROM rsp_consumed_txn LIMIT 0";

/* The consumes of one batch as one INSERT over unnest(): one round trip for the group.  An id twice in
 * the group is USED the second time, whatever the first gets (FRESH, or USED from an earlier row). */
static const char SQL_CONSUME_MANY[] =
    "INSERT INTO rsp_consumed_txn (component, tid, expires_at) SELECT * FROM unnest($1::text[], $2::bytea[],"
    " $3::bigint[]) ON CONFLICT DO NOTHING RETURNING component, tid";

static bool same_id(const consume_job *a, const consume_job *b)
{
    return !strcmp(a->tid, b->tid) && !strcmp(a->b->component, b->b->component);
}

static int apply_consume_many(rsp_pg_tx *t, void *const *args, int *results, size_t n)
{
    rsp_pg_array cols[3];
    for (int c = 0; c < 3; c++)
        rsp_pg_array_init(&cols[c]);
    for (size_t i = 0; i < n; i++) {
        consume_job *j = args[i];
        j->outcome = RSP_REPLAY_USED;
        results[i] = 0;
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = same_id(args[k], j);
        if (dup)
            continue;
        rsp_pg_array_add(&cols[0], j->b->component);
        rsp_pg_array_add(&cols[1], j->tid);
        rsp_pg_array_add(&cols[2], j->expiry);
    }
    const char *p[3];
    bool oom = false;
    for (int c = 0; c < 3; c++)
        oom |= !(p[c] = rsp_pg_array_end(&cols[c]));
    PGresult *r = oom ? NULL : rsp_pg_exec(t, SQL_CONSUME_MANY, 3, p);
    for (int c = 0; c < 3; c++)
        rsp_pg_array_free(&cols[c]);
    if (!r)
        return -1;
    /* Rows come back in insertion order, the group's: a cursor finds each at once. */
    size_t cur = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *comp = PQgetvalue(r, row, 0), *tid = PQgetvalue(r, row, 1);
        for (size_t k = 0; k < n; k++, cur = (cur + 1) % n) {
            consume_job *j = args[cur];
            if (j->outcome == RSP_REPLAY_USED && !strcmp(j->tid, tid) && !strcmp(j->b->component, comp)) {
                j->outcome = RSP_REPLAY_FRESH;
                break;
            }
        }
    }
    PQclear(r);
    return 0;
}

static void inflight_add(pg_backend *b, int delta)
{
    pthread_mutex_lock(&b->mu);
    b->inflight += (size_t)delta;
    if (b->inflight == 0)
        pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->mu);
}

static void consume_done(void *arg, int result)
{
    consume_job *j = arg;
    pg_backend *b = j->b;
    rsp_replay_done_fn done = j->done;
    void *darg = j->arg;
    int outcome = result == 0 ? j->outcome : RSP_REPLAY_ERROR;
    free(j);
    done(darg, outcome);
    inflight_add(b, -1);
}

static int apply_purge(rsp_pg_tx *t, void *arg)
{
    purge_job *j = arg;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", RSP_REPLAY_PG_PURGE_MAX);
    const char *p[2] = {j->now, lim};
    return rsp_pg_run(t, SQL_PURGE, 2, p, NULL);
}

/* A failed purge is harmless: the rows stay until a later one. */
static void purge_done(void *arg, int result)
{
    (void)result;
    free(arg);
}

static void queue_purge(pg_backend *b, uint32_t now)
{
    purge_job *j = malloc(sizeof(*j));
    if (!j)
        return;
    snprintf(j->now, sizeof(j->now), "%u", now);
    if (rsp_pg_submit(b->pg, apply_purge, purge_done, j) != 0)
        free(j);
}

static int pg_consume(void *impl, const uint8_t tid[RSP_TXN_ID_LEN], uint32_t expiry, uint32_t now,
                      rsp_replay_done_fn done, void *arg)
{
    pg_backend *b = impl;
    consume_job *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    j->b = b;
    memcpy(j->tid, "\\x", 2);
    for (size_t i = 0; i < RSP_TXN_ID_LEN; i++)
        snprintf(j->tid + 2 + 2 * i, 3, "%02x", tid[i]);
    snprintf(j->expiry, sizeof(j->expiry), "%u", expiry);
    j->outcome = RSP_REPLAY_ERROR;
    j->done = done;
    j->arg = arg;
    inflight_add(b, 1);
    if (rsp_pg_submit_many(b->pg, apply_consume_many, consume_done, j) != 0) {
        free(j);
        inflight_add(b, -1);
        return -1;
    }
    if (atomic_fetch_add(&b->consumes, 1) % RSP_REPLAY_PG_PURGE_EVERY == RSP_REPLAY_PG_PURGE_EVERY - 1)
        queue_purge(b, now);
    return 0;
}

/* Every queued job ends (committed, failed or timed out in the queue), so this wait is bounded. */
static void pg_free(void *impl)
{
    pg_backend *b = impl;
    pthread_mutex_lock(&b->mu);
    while (b->inflight)
        pthread_cond_wait(&b->idle, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&b->idle);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static int apply_probe(rsp_pg_tx *t, void *arg)
{
    (void)arg;
    return rsp_pg_run(t, SQL_PROBE, 0, NULL, NULL);
}

int rsp_replay_pg_open(rsp_replay_backend *out, rsp_pg *pg, const char *component, char *err, size_t errlen)
{
    if (!pg || !component || !component[0] || strlen(component) > COMPONENT_MAX) {
        rsp_err_set(err, errlen, "replay store: a pool and a component name of 1 to %d characters",
                    COMPONENT_MAX);
        return -1;
    }
    int rc = rsp_pg_read_sync(pg, apply_probe, NULL);
    if (rc != 0) {
        rsp_err_set(err, errlen, "replay store: %s",
                    rc == RSP_PG_UNAVAILABLE ? "database unreachable"
                                             : "table rsp_consumed_txn missing (run the migrations)");
        return -1;
    }
    pg_backend *b = calloc(1, sizeof(*b));
    if (!b) {
        rsp_err_set(err, errlen, "out of memory");
        return -1;
    }
    b->pg = pg;
    snprintf(b->component, sizeof(b->component), "%s", component);
    atomic_init(&b->consumes, 0);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->idle, NULL);
    *out = (rsp_replay_backend){pg_consume, pg_free, b};
    return 0;
}
