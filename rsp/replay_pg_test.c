/* rsp/replay_pg against a throw-away PostgreSQL: first use and replay, a restart of the node and of the
 * database, two nodes (pools) on one database, a race for one id, components kept apart, purge of
 * expired ids, and a database outage (ERROR, never a false FRESH). */
#include "rsp/replay_pg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rsp/replay_testutil.h"
#include "tests/pg/pgtmp.h"
#include "tests/unit/ut.h"

static pgtmp srv;

static const rsp_pg_migration migs[] = {{1, "SELECT 1"}};

static rsp_pg *open_pool(unsigned writers)
{
    char err[256] = "";
    rsp_pg_config cfg = {.dsn = srv.dsn, .name = "replay_pg_test", .writers = writers, .timeout_ms = 1000};
    rsp_pg *pg = rsp_pg_open(&cfg, err, sizeof(err));
    if (!pg)
        fprintf(stderr, "open: %s\n", err);
    return pg;
}

static rsp_replay *open_replay(rsp_pg *pg, const char *component)
{
    rsp_replay_backend b;
    char err[256] = "";
    if (rsp_replay_pg_open(&b, pg, component, err, sizeof(err)) != 0) {
        fprintf(stderr, "replay: %s\n", err);
        return NULL;
    }
    return rsp_replay_new(64, &b);
}

/* A node: a pool and an "smds" replay store on it; NULL (and nothing open) on failure. */
static rsp_replay *open_node(unsigned writers, rsp_pg **pg)
{
    *pg = open_pool(writers);
    rsp_replay *r = *pg ? open_replay(*pg, "smds") : NULL;
    UT_CHECK(r != NULL);
    if (!r) {
        rsp_pg_close(*pg);
        *pg = NULL;
    }
    return r;
}

struct rows {
    const char *sql;
    long n;
};

static int apply_rows(rsp_pg_tx *t, void *arg)
{
    struct rows *q = arg;
    PGresult *r = rsp_pg_exec(t, q->sql, 0, NULL);
    if (!r)
        return -1;
    q->n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static const char SQL_LIVE[] = "SELECT count(*) FROM rsp_consumed_txn WHERE component = 'smds'";
static const char SQL_OLD[] = "SELECT count(*) FROM rsp_consumed_txn WHERE expires_at <= 2000";

static long count_of(rsp_pg *pg, const char *sql)
{
    struct rows q = {sql, -1};
    return rsp_pg_write_sync(pg, apply_rows, &q) == 0 ? q.n : -1;
}

static void test_open_errors(void)
{
    rsp_pg *pg = open_pool(1);
    if (!pg)
        return;
    rsp_replay_backend b;
    char err[256] = "";
    UT_EQ(rsp_replay_pg_open(&b, pg, "", err, sizeof(err)), -1);
    UT_CHECK(err[0] != 0);
    char longname[100];
    memset(longname, 'c', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    UT_EQ(rsp_replay_pg_open(&b, pg, longname, err, sizeof(err)), -1);
    UT_EQ(rsp_replay_pg_open(&b, NULL, "smds", err, sizeof(err)), -1);
    /* Before any migration the table is missing: said at start, not at the first device. */
    err[0] = 0;
    UT_EQ(rsp_replay_pg_open(&b, pg, "smds", err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "rsp_consumed_txn") != NULL);
    rsp_pg_close(pg);
    UT_EQ(rsp_pg_migrate_dsn(srv.dsn, "replay_test", migs, 1, err, sizeof(err)), 0);
}

static void test_fresh_used_restart(void)
{
    rsp_pg *pg;
    rsp_replay *r = open_node(2, &pg);
    if (!r)
        return;
    UT_CHECK(rsp_replay_durable(r));
    UT_EQ(rsp_replay_test_consume(r, 1, 1300, 1000), RSP_REPLAY_FRESH);
    UT_EQ(rsp_replay_test_consume(r, 1, 1300, 1001), RSP_REPLAY_USED); /* memory */
    UT_EQ(rsp_replay_test_commit(r, 1, 1300, 1001), RSP_REPLAY_USED);  /* database */
    UT_EQ(rsp_replay_test_consume(r, 2, 1300, 1001), RSP_REPLAY_FRESH);
    rsp_replay_free(r);
    rsp_pg_close(pg);

    /* The node restarts: its memory is empty, the database refuses. */
    pg = open_pool(2);
    r = open_replay(pg, "smds");
    UT_EQ(rsp_replay_test_consume(r, 1, 1300, 1100), RSP_REPLAY_USED);
    UT_EQ(rsp_replay_test_consume(r, 2, 1300, 1100), RSP_REPLAY_USED);
    UT_EQ(rsp_replay_test_consume(r, 3, 1300, 1100), RSP_REPLAY_FRESH);
    rsp_replay_stats s;
    rsp_replay_stats_get(r, &s);
    UT_EQ(s.refused, 2);
    UT_EQ(s.durable_errors, 0);

    /* Another component's ids are its own. */
    rsp_replay *other = open_replay(pg, "smdp");
    UT_EQ(rsp_replay_test_consume(other, 1, 1300, 1100), RSP_REPLAY_FRESH);
    UT_EQ(rsp_replay_test_consume(other, 1, 1300, 1100), RSP_REPLAY_USED);
    rsp_replay_free(other);
    rsp_replay_free(r);

    /* The database restarts: acknowledged ids survive it. */
    UT_EQ(pgtmp_halt(&srv), 0);
    UT_EQ(pgtmp_resume(&srv), 0);
    /* The first jobs after the restart may meet the dead connections: retried. */
    r = NULL;
    for (int i = 0; i < 50 && !(r = open_replay(pg, "smds")); i++)
        usleep(100000);
    int rc = RSP_REPLAY_ERROR;
    for (int i = 0; i < 50 && r && (rc = rsp_replay_test_commit(r, 3, 1300, 1100)) == RSP_REPLAY_ERROR; i++)
        usleep(100000);
    UT_EQ(rc, RSP_REPLAY_USED);
    rsp_replay_free(r);
    rsp_pg_close(pg);
}

/* Two nodes: an id consumed on one is refused on the other, and a race for one id has one winner. */
struct racer {
    rsp_replay *r;
    uint32_t base;
    atomic_int *fresh, *used, *errors;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    for (uint32_t i = 0; i < 200; i++) {
        int rc = rsp_replay_test_consume(x->r, x->base + i, 5000, 1000);
        atomic_fetch_add(rc == RSP_REPLAY_FRESH ? x->fresh : rc == RSP_REPLAY_USED ? x->used : x->errors, 1);
    }
    return NULL;
}

static void test_two_nodes(void)
{
    rsp_pg *pa = open_pool(2), *pb = open_pool(2);
    rsp_replay *a = pa ? open_replay(pa, "smds") : NULL, *b = pb ? open_replay(pb, "smds") : NULL;
    UT_CHECK(a && b);
    if (a && b) {
        UT_EQ(rsp_replay_test_consume(a, 10, 1300, 1000), RSP_REPLAY_FRESH);
        UT_EQ(rsp_replay_test_consume(b, 10, 1300, 1000), RSP_REPLAY_USED);
        UT_EQ(rsp_replay_test_consume(b, 11, 1300, 1000), RSP_REPLAY_FRESH);
        UT_EQ(rsp_replay_test_consume(a, 11, 1300, 1000), RSP_REPLAY_USED);

        /* Four threads per node over the same 200 ids: each id is FRESH exactly once. */
        atomic_int fresh = 0, used = 0, errors = 0;
        struct racer rs[8];
        pthread_t th[8];
        for (int i = 0; i < 8; i++) {
            rs[i] = (struct racer){i % 2 ? b : a, 100000, &fresh, &used, &errors};
            pthread_create(&th[i], NULL, race, &rs[i]);
        }
        for (int i = 0; i < 8; i++)
            pthread_join(th[i], NULL);
        UT_EQ(atomic_load(&fresh), 200);
        UT_EQ(atomic_load(&used), 1400);
        UT_EQ(atomic_load(&errors), 0);
    }
    rsp_replay_free(a);
    rsp_replay_free(b);
    rsp_pg_close(pa);
    rsp_pg_close(pb);
}

/* Expired ids leave through the purge jobs that later consumes queue. */
static void test_purge(void)
{
    rsp_pg *pg;
    rsp_replay *r = open_node(1, &pg); /* one writer: a later write runs after the queued purges */
    if (!r)
        return;
    for (uint32_t i = 0; i < 300; i++)
        UT_EQ(rsp_replay_test_commit(r, 200000 + i, 1500, 1000), RSP_REPLAY_FRESH);
    UT_CHECK(count_of(pg, SQL_OLD) >= 300);
    for (uint32_t i = 0; i < 2 * RSP_REPLAY_PG_PURGE_EVERY; i++)
        UT_EQ(rsp_replay_test_commit(r, 300000 + i, 9000, 2000), RSP_REPLAY_FRESH);
    UT_EQ(count_of(pg, SQL_OLD), 0);
    UT_CHECK(count_of(pg, SQL_LIVE) >= 2 * RSP_REPLAY_PG_PURGE_EVERY);
    rsp_replay_free(r);
    rsp_pg_close(pg);
}

static void unexpected_done(void *arg, int result)
{
    (void)arg;
    UT_EQ(result, -999); /* the refusal is immediate: done must not run */
}

static int64_t ms_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (int64_t)(b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

/* With the database down a consume is an ERROR within the pool's bounds, never FRESH; once it is back,
 * consumes work again without a restart of the node. */
static void test_outage(void)
{
    rsp_pg *pg;
    rsp_replay *r = open_node(2, &pg);
    if (!r)
        return;
    UT_EQ(rsp_replay_test_consume(r, 400000, 5000, 1000), RSP_REPLAY_FRESH);
    UT_EQ(pgtmp_halt(&srv), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The pool may not know yet: the job fails on its dead connection. */
    UT_EQ(rsp_replay_test_consume(r, 400001, 5000, 1000), RSP_REPLAY_ERROR);
    for (int i = 0; i < 100 && rsp_pg_ready(pg); i++)
        usleep(50000);
    UT_CHECK(!rsp_pg_ready(pg));
    /* Known down: refused at once, without queueing. */
    uint8_t t[RSP_TXN_ID_LEN];
    rsp_replay_test_tid(t, 400002);
    UT_EQ(rsp_replay_commit(r, t, 5000, 1000, unexpected_done, NULL), RSP_REPLAY_ERROR);
    /* Bounded by the pool's timeout (1 s here) and its 1 s reconnection tick, with room for a slow host. */
    UT_CHECK(ms_since(&t0) < 15000);
    rsp_replay_stats s;
    rsp_replay_stats_get(r, &s);
    UT_EQ(s.durable_errors, 2);
    UT_EQ(pgtmp_resume(&srv), 0);
    for (int i = 0; i < 200 && !rsp_pg_ready(pg); i++)
        usleep(50000);
    UT_CHECK(rsp_pg_ready(pg));
    int rc = RSP_REPLAY_ERROR;
    for (int i = 0; i < 50 && (rc = rsp_replay_test_commit(r, 400003, 5000, 1000)) == RSP_REPLAY_ERROR; i++)
        usleep(100000);
    UT_EQ(rc, RSP_REPLAY_FRESH);
    UT_EQ(rsp_replay_test_commit(r, 400000, 5000, 1000), RSP_REPLAY_USED);
    rsp_replay_free(r);
    rsp_pg_close(pg);
}

int main(void)
{
    if (pgtmp_start_for_test(&srv, "replay_pg_test") == PGTMP_ABSENT)
        return 0;
    UT_RUN(test_open_errors);
    UT_RUN(test_fresh_used_restart);
    UT_RUN(test_two_nodes);
    UT_RUN(test_purge);
    UT_RUN(test_outage);
    pgtmp_stop(&srv);
    return ut_finish();
}
