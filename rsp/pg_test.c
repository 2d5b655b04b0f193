/* rsp/pg against a throw-away PostgreSQL: migrations, group commit with refusals and failures inside one
 * batch, reads, fingerprints, and a database outage (fast refusal, not-ready, reconnection, nothing
 * acknowledged lost). */
#include "rsp/pg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/pg/pgtmp.h"
#include "tests/unit/ut.h"

static pgtmp srv;

static const rsp_pg_migration migs[] = {
    {1, "CREATE TABLE t (k bigint PRIMARY KEY, v text NOT NULL)"},
    {2, "ALTER TABLE t ADD COLUMN n integer NOT NULL DEFAULT 0"},
};

static rsp_pg *open_pool(void)
{
    char err[256] = "";
    rsp_pg_config cfg = {.dsn = srv.dsn, .name = "pg_test", .timeout_ms = 2000};
    rsp_pg *pg = rsp_pg_open(&cfg, err, sizeof(err));
    if (!pg)
        fprintf(stderr, "open: %s\n", err);
    return pg;
}

static long count_rows(rsp_pg *pg);

static void test_open_bad_dsn(void)
{
    char err[256] = "";
    rsp_pg_config cfg = {.dsn = "host=/nonexistent-dir user=rsp dbname=postgres", .timeout_ms = 1000};
    UT_CHECK(rsp_pg_open(&cfg, err, sizeof(err)) == NULL);
    UT_CHECK(err[0] != 0);
    rsp_pg_config none = {0};
    UT_CHECK(rsp_pg_open(&none, err, sizeof(err)) == NULL);
}

static void test_migrate(void)
{
    char err[256] = "";
    UT_EQ(rsp_pg_migrate_dsn(srv.dsn, "test", migs, 1, err, sizeof(err)), 0);
    UT_EQ(rsp_pg_migrate_dsn(srv.dsn, "test", migs, 2, err, sizeof(err)), 0);
    /* Again: nothing to do. */
    UT_EQ(rsp_pg_migrate_dsn(srv.dsn, "test", migs, 2, err, sizeof(err)), 0);
    /* An older program on a newer schema refuses. */
    UT_EQ(rsp_pg_migrate_dsn(srv.dsn, "test", migs, 1, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "newer") != NULL);
    /* A broken migration changes nothing and says which. */
    static const rsp_pg_migration bad[] = {
        {1, "CREATE TABLE t (k bigint PRIMARY KEY, v text NOT NULL)"},
        {2, "ALTER TABLE t ADD COLUMN n integer NOT NULL DEFAULT 0"},
        {3, "CREATE TABLE u (k int); SELECT no_such_function()"},
    };
    UT_EQ(rsp_pg_migrate_dsn(srv.dsn, "test", bad, 3, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "version 3") != NULL);
    UT_EQ(rsp_pg_migrate_dsn(srv.dsn, "test", migs, 2, err, sizeof(err)), 0);
}

struct ins {
    long k;
    int refuse; /* > 0: refuse before writing; < 0: write, then fail a statement */
    atomic_int *done_count;
    int result;
};

static const char SQL_INS[] = "INSERT INTO t (k, v) VALUES ($1, 'x')";

static int apply_ins(rsp_pg_tx *t, void *arg)
{
    struct ins *j = arg;
    if (j->refuse > 0)
        return j->refuse;
    char k[32];
    snprintf(k, sizeof(k), "%ld", j->k);
    const char *p[1] = {k};
    if (rsp_pg_run(t, SQL_INS, 1, p, NULL) != 0)
        return -1;
    if (j->refuse < 0 && rsp_pg_run(t, SQL_INS, 1, p, NULL) != 0) /* duplicate key */
        return -1;
    return 0;
}

static void ins_done(void *arg, int result)
{
    struct ins *j = arg;
    j->result = result;
    atomic_fetch_add(j->done_count, 1);
}

static void wait_count(atomic_int *c, int n)
{
    for (int i = 0; i < 3000 && atomic_load(c) < n; i++)
        usleep(2000);
}

static void test_group_commit(void)
{
    rsp_pg *pg = open_pool();
    UT_CHECK(pg != NULL);
    if (!pg)
        return;
    enum { N = 2000 };
    static struct ins jobs[N];
    atomic_int done = 0;
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct ins){.k = i, .done_count = &done, .result = 99};
        if (i % 97 == 5)
            jobs[i].refuse = 7;
        if (i % 101 == 3)
            jobs[i].refuse = -1;
        UT_EQ(rsp_pg_submit(pg, apply_ins, ins_done, &jobs[i]), 0);
    }
    wait_count(&done, N);
    UT_EQ(atomic_load(&done), N);
    long expect = 0;
    for (int i = 0; i < N; i++) {
        int want = jobs[i].refuse > 0 ? 7 : jobs[i].refuse < 0 ? RSP_PG_FAILED : 0;
        UT_EQ(jobs[i].result, want);
        expect += want == 0;
    }
    UT_EQ(count_rows(pg), expect);
    rsp_pg_stats st;
    rsp_pg_stats_get(pg, &st);
    UT_EQ(st.jobs, N);
    UT_CHECK(st.commits < N / 4); /* batched */
    UT_CHECK(st.reruns > 0);
    UT_CHECK(st.ready == 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rsp_pg_stats_write(f, "test", &st);
    fclose(f);
    UT_CHECK(strstr(buf, "test_pg_commits_total") != NULL);
    free(buf);
    rsp_pg_close(pg);
}

struct cnt {
    long n;
};

static const char SQL_COUNT[] = "SELECT count(*) FROM t";

static int apply_count(rsp_pg_tx *t, void *arg)
{
    struct cnt *c = arg;
    PGresult *r = rsp_pg_exec(t, SQL_COUNT, 0, NULL);
    if (!r)
        return -1;
    c->n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static long count_rows(rsp_pg *pg)
{
    struct cnt c = {-1};
    return rsp_pg_read_sync(pg, apply_count, &c) == 0 ? c.n : -1;
}

static const char SQL_BAD[] = "SELECT * FROM no_such_table";

static int apply_bad(rsp_pg_tx *t, void *arg)
{
    (void)arg;
    return rsp_pg_run(t, SQL_BAD, 0, NULL, NULL);
}

static void test_read_failure(void)
{
    rsp_pg *pg = open_pool();
    if (!pg)
        return;
    UT_EQ(rsp_pg_read_sync(pg, apply_bad, NULL), RSP_PG_FAILED);
    UT_CHECK(count_rows(pg) > 0); /* the connection is still usable */
    rsp_pg_close(pg);
}

static void test_fingerprint(void)
{
    char err[256];
    const uint8_t a[32] = {1, 2, 3}, b[32] = {1, 2, 4};
    UT_EQ(rsp_pg_fingerprint_check(srv.dsn, "test.secret", a, sizeof(a), err, sizeof(err)), 0);
    UT_EQ(rsp_pg_fingerprint_check(srv.dsn, "test.secret", a, sizeof(a), err, sizeof(err)), 0);
    UT_EQ(rsp_pg_fingerprint_check(srv.dsn, "test.secret", b, sizeof(b), err, sizeof(err)), 1);
    UT_CHECK(strstr(err, "test.secret") != NULL);
    UT_EQ(rsp_pg_fingerprint_check(srv.dsn, "test.secret", b, 16, err, sizeof(err)), 1);
    UT_EQ(rsp_pg_fingerprint_check(srv.dsn, "other", b, sizeof(b), err, sizeof(err)), 0);
    /* Secrets: the same secret passes on every node, another one is refused. */
    UT_EQ(rsp_pg_secret_check(srv.dsn, "test.key", a, sizeof(a), err, sizeof(err)), 0);
    UT_EQ(rsp_pg_secret_check(srv.dsn, "test.key", a, sizeof(a), err, sizeof(err)), 0);
    UT_EQ(rsp_pg_secret_check(srv.dsn, "test.key", b, sizeof(b), err, sizeof(err)), 1);
}

/* Merged jobs: a run of queued jobs of one kind is one call (one statement); a bad job in the run fails
 * alone; array parameters carry any text, NULL included. */
struct mjob {
    long k;
    const char *v; /* NULL: violates NOT NULL */
    atomic_int *done_count;
    int result;
    char got[64];
};

static const char SQL_INS_MANY[] = "INSERT INTO t (k, v) SELECT * FROM unnest($1::bigint[], $2::text[])";
static const char SQL_GET_MANY[] = "SELECT k, v FROM t WHERE k = ANY($1::bigint[])";
static atomic_int merged_calls, merged_max;

static void note_group(size_t n)
{
    atomic_fetch_add(&merged_calls, 1);
    int m = atomic_load(&merged_max);
    while ((int)n > m && !atomic_compare_exchange_weak(&merged_max, &m, (int)n))
        ;
}

static int apply_ins_many(rsp_pg_tx *t, void *const *args, int *results, size_t n)
{
    note_group(n);
    rsp_pg_array ks, vs;
    rsp_pg_array_init(&ks);
    rsp_pg_array_init(&vs);
    for (size_t i = 0; i < n; i++) {
        const struct mjob *j = args[i];
        char k[32];
        snprintf(k, sizeof(k), "%ld", j->k);
        /* refused before writing, as the contract asks: its row is never sent */
        results[i] = j->k % 10 == 9 ? 9 : 0;
        if (results[i])
            continue;
        rsp_pg_array_add(&ks, k);
        rsp_pg_array_add(&vs, j->v);
    }
    const char *p[2] = {rsp_pg_array_end(&ks), rsp_pg_array_end(&vs)};
    int rc = rsp_pg_run(t, SQL_INS_MANY, 2, p, NULL);
    rsp_pg_array_free(&ks);
    rsp_pg_array_free(&vs);
    return rc;
}

static int apply_get_many(rsp_pg_tx *t, void *const *args, int *results, size_t n)
{
    note_group(n);
    rsp_pg_array ks;
    rsp_pg_array_init(&ks);
    for (size_t i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof(k), "%ld", ((const struct mjob *)args[i])->k);
        rsp_pg_array_add(&ks, k);
        results[i] = 1; /* not found */
    }
    const char *p[1] = {rsp_pg_array_end(&ks)};
    PGresult *r = rsp_pg_exec(t, SQL_GET_MANY, 1, p);
    rsp_pg_array_free(&ks);
    if (!r)
        return -1;
    for (int row = 0; row < PQntuples(r); row++)
        for (size_t i = 0; i < n; i++) {
            struct mjob *j = args[i];
            if (j->k == atol(PQgetvalue(r, row, 0))) {
                snprintf(j->got, sizeof(j->got), "%s", PQgetvalue(r, row, 1));
                results[i] = 0;
            }
        }
    PQclear(r);
    return 0;
}

static void mjob_done(void *arg, int result)
{
    struct mjob *j = arg;
    j->result = result;
    atomic_fetch_add(j->done_count, 1);
}

/* Holds the only pool thread until the test has queued its whole run, whatever the machine's speed. */
static atomic_int gate_open, gate_entered;

static int apply_gate(rsp_pg_tx *t, void *arg)
{
    (void)t;
    (void)arg;
    atomic_store(&gate_entered, 1);
    for (int i = 0; i < 10000 && !atomic_load(&gate_open); i++)
        usleep(1000);
    return 0;
}

static void test_merged(void)
{
    char err[256] = "";
    rsp_pg_config cfg = {.dsn = srv.dsn, .name = "pg_test", .writers = 1, .readers = 1, .timeout_ms = 5000};
    rsp_pg *pg = rsp_pg_open(&cfg, err, sizeof(err));
    UT_CHECK(pg != NULL);
    if (!pg)
        return;
    static const char *const vals[] = {"plain", "a \"quoted\" one", "back\\slash", "{braces,comma}", "",
                                       "NULL"};
    enum { N = 60 };
    static struct mjob jobs[N];
    atomic_int done = 0;
    /* Named, not a literal inside UT_EQ: its callback runs after that macro's block has ended. */
    struct mjob sleeper = {.done_count = &done};
    /* The only writer waits at the gate, so the whole run is queued when it takes the next batch. */
    atomic_store(&gate_open, 0);
    atomic_store(&gate_entered, 0);
    UT_EQ(rsp_pg_submit(pg, apply_gate, mjob_done, &sleeper), 0);
    /* A writer takes whatever is queued: the run must not join the gate's batch. */
    wait_count(&gate_entered, 1);
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct mjob){.k = 500000 + i, .v = i == 17 ? NULL : vals[i % 6], .done_count = &done};
        UT_EQ(rsp_pg_submit_many(pg, apply_ins_many, mjob_done, &jobs[i]), 0);
    }
    atomic_store(&gate_open, 1);
    wait_count(&done, N + 1);
    UT_EQ(atomic_load(&done), N + 1);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += jobs[i].result == (i == 17 ? RSP_PG_FAILED : jobs[i].k % 10 == 9 ? 9 : 0);
    UT_EQ(ok, N);
    /* one merged call, then each job alone on the savepoint path, where refusals keep nothing */
    UT_EQ(atomic_load(&merged_max), N);
    UT_EQ(atomic_load(&merged_calls), 1 + N);

    /* Reads: the only reader waits at the gate, then one call serves every queued read. */
    atomic_store(&merged_calls, 0);
    atomic_store(&done, 0);
    atomic_store(&gate_open, 0);
    atomic_store(&gate_entered, 0);
    UT_EQ(rsp_pg_submit_read(pg, apply_gate, mjob_done, &sleeper), 0);
    wait_count(&gate_entered, 1);
    for (int i = 0; i < N; i++) {
        jobs[i].got[0] = 0;
        UT_EQ(rsp_pg_submit_read_many(pg, apply_get_many, mjob_done, &jobs[i]), 0);
    }
    atomic_store(&gate_open, 1);
    wait_count(&done, N + 1);
    UT_EQ(atomic_load(&merged_calls), 1);
    ok = 0;
    for (int i = 0; i < N; i++)
        ok += i == 17 || jobs[i].k % 10 == 9 ? jobs[i].result == 1
                                             : jobs[i].result == 0 && !strcmp(jobs[i].got, jobs[i].v);
    UT_EQ(ok, N);
    rsp_pg_stats st;
    rsp_pg_stats_get(pg, &st);
    UT_CHECK(st.round_trips > 0);
    rsp_pg_close(pg);
}

struct consume {
    const char *tid, *expiry;
    long rows;
};

static const char SQL_CONSUME[] = RSP_PG_SQL_TXN_CONSUME;
static const char SQL_TXN_PURGE[] = RSP_PG_SQL_TXN_PURGE;

static int apply_consume(rsp_pg_tx *t, void *arg)
{
    struct consume *c = arg;
    const char *p[3] = {"test", c->tid, c->expiry};
    return rsp_pg_run(t, SQL_CONSUME, 3, p, &c->rows);
}

static int apply_txn_purge(rsp_pg_tx *t, void *arg)
{
    struct consume *c = arg;
    const char *p[2] = {c->expiry, "1000"};
    return rsp_pg_run(t, SQL_TXN_PURGE, 2, p, &c->rows);
}

/* The replay table: an id is consumed once, on whichever node; expired ids go. */
static void test_consumed_txn(void)
{
    rsp_pg *a = open_pool(), *b = open_pool();
    if (!a || !b)
        return;
    struct consume c = {"\\x0102", "1000", 0};
    UT_EQ(rsp_pg_write_sync(a, apply_consume, &c), 0);
    UT_EQ(c.rows, 1);
    UT_EQ(rsp_pg_write_sync(b, apply_consume, &c), 0);
    UT_EQ(c.rows, 0); /* a replay on the other node */
    c.expiry = "1001";
    UT_EQ(rsp_pg_write_sync(a, apply_txn_purge, &c), 0);
    UT_EQ(c.rows, 1);
    UT_EQ(rsp_pg_write_sync(b, apply_consume, &c), 0);
    UT_EQ(c.rows, 1);
    rsp_pg_close(a);
    rsp_pg_close(b);
}

static bool wait_ready(rsp_pg *pg, bool want)
{
    for (int i = 0; i < 200 && rsp_pg_ready(pg) != want; i++)
        usleep(50000);
    return rsp_pg_ready(pg) == want;
}

static void test_outage(void)
{
    rsp_pg *pg = open_pool();
    if (!pg)
        return;
    long before = count_rows(pg);
    atomic_int done = 0;
    struct ins j = {.k = 100000, .done_count = &done};
    UT_EQ(rsp_pg_write_sync(pg, apply_ins, &j), 0);
    UT_EQ(pgtmp_halt(&srv), 0);
    UT_CHECK(wait_ready(pg, false));
    /* Refused at once, not queued. */
    j.k = 100001;
    UT_EQ(rsp_pg_submit(pg, apply_ins, ins_done, &j), -1);
    UT_EQ(rsp_pg_write_sync(pg, apply_ins, &j), RSP_PG_UNAVAILABLE);
    UT_EQ(rsp_pg_read_sync(pg, apply_count, &(struct cnt){0}), RSP_PG_UNAVAILABLE);
    UT_EQ(pgtmp_resume(&srv), 0);
    UT_CHECK(wait_ready(pg, true));
    /* The acknowledged write survived the restart; the refused one is absent; writes work again. */
    UT_EQ(count_rows(pg), before + 1);
    UT_EQ(rsp_pg_write_sync(pg, apply_ins, &j), 0);
    UT_EQ(count_rows(pg), before + 2);
    rsp_pg_stats st;
    rsp_pg_stats_get(pg, &st);
    UT_CHECK(st.reconnects > 0);
    UT_CHECK(st.refused > 0);
    rsp_pg_close(pg);
}

int main(void)
{
    if (pgtmp_start_for_test(&srv, "pg_test") == PGTMP_ABSENT)
        return 0;
    UT_RUN(test_open_bad_dsn);
    UT_RUN(test_migrate);
    UT_RUN(test_group_commit);
    UT_RUN(test_read_failure);
    UT_RUN(test_fingerprint);
    UT_RUN(test_consumed_txn);
    UT_RUN(test_merged);
    UT_RUN(test_outage);
    pgtmp_stop(&srv);
    return ut_finish();
}
