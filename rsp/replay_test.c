#include "rsp/replay.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rsp/db.h"
#include "rsp/replay_testutil.h"
#include "tests/unit/ut.h"

static void test_memory(void)
{
    rsp_replay *r = rsp_replay_new(4, NULL);
    UT_CHECK(r != NULL);
    UT_CHECK(!rsp_replay_durable(r));
    uint8_t t[RSP_TXN_ID_LEN];
    rsp_replay_test_tid(t, 1);
    UT_EQ(rsp_replay_check(r, t, 200, 100), RSP_REPLAY_FRESH);
    UT_EQ(rsp_replay_check(r, t, 200, 150), RSP_REPLAY_USED);
    /* past its expiry the id is gone (and rsp_txn_open refuses it anyway) */
    UT_EQ(rsp_replay_check(r, t, 200, 200), RSP_REPLAY_FRESH);
    /* no backend: the durable step is a no-op */
    UT_EQ(rsp_replay_commit(r, t, 200, 100, NULL, NULL), RSP_REPLAY_FRESH);
    rsp_replay_stats s;
    rsp_replay_stats_get(r, &s);
    UT_EQ(s.capacity, 8);
    UT_EQ(s.refused, 1);
    rsp_replay_free(r);
}

/* Full of live ids, the cache evicts the oldest expiry and keeps serving: never "full". */
static void test_full_never_refuses(void)
{
    rsp_replay *r = rsp_replay_new(8, NULL); /* one set of 8 */
    uint8_t t[RSP_TXN_ID_LEN];
    for (uint32_t i = 0; i < 8; i++) {
        rsp_replay_test_tid(t, i);
        UT_EQ(rsp_replay_check(r, t, 1000 + i, 100), RSP_REPLAY_FRESH);
    }
    int fresh = 0;
    for (uint32_t i = 100; i < 10100; i++) {
        rsp_replay_test_tid(t, i);
        fresh += rsp_replay_check(r, t, 2000 + i, 100) == RSP_REPLAY_FRESH;
    }
    UT_EQ(fresh, 10000);
    /* the newest ids are still known, the first (oldest expiry) were pushed out */
    rsp_replay_test_tid(t, 10099);
    UT_EQ(rsp_replay_check(r, t, 2000 + 10099, 100), RSP_REPLAY_USED);
    rsp_replay_test_tid(t, 0);
    UT_EQ(rsp_replay_check(r, t, 1000, 100), RSP_REPLAY_FRESH);
    rsp_replay_stats s;
    rsp_replay_stats_get(r, &s);
    UT_CHECK(s.evicted_live >= 10000);
    rsp_replay_free(r);

    /* sized for the traffic, staggered expiries never give a false replay and every id stays known */
    r = rsp_replay_new(4096, NULL);
    int bad = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        rsp_replay_test_tid(t, i);
        bad += rsp_replay_check(r, t, i / 10 + 50, i / 10) != RSP_REPLAY_FRESH;
    }
    UT_EQ(bad, 0);
    int known = 0;
    for (uint32_t i = 19900; i < 20000; i++) {
        rsp_replay_test_tid(t, i);
        known += rsp_replay_check(r, t, i / 10 + 50, 1999) == RSP_REPLAY_USED;
    }
    UT_EQ(known, 100);
    rsp_replay_free(r);
}

/* ---- durable ---- */

static rsp_replay *open_durable(const char *dir)
{
    rsp_replay_backend b;
    char err[256];
    if (rsp_replay_lmdb_open(&b, dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    return rsp_replay_new(64, &b);
}

static size_t stored(const char *dir)
{
    static const rsp_db_spec dbs[] = {{"consumed", 0}};
    rsp_db_env *env = NULL;
    if (rsp_db_open(&env, dir, dbs, 1, NULL) != 0)
        return (size_t)-1;
    MDB_txn *txn;
    MDB_stat st = {0};
    if (rsp_db_read_begin(env, &txn) == 0) {
        mdb_stat(txn, rsp_db_dbi(env, 0), &st);
        rsp_db_read_end(env);
    }
    rsp_db_close(env);
    return st.ms_entries;
}

static void test_durable_restart(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    char base[] = "/tmp/replayXXXXXX", dir[512];
    if (!tmp) {
        UT_CHECK(mkdtemp(base) != NULL);
        tmp = base;
    }
    snprintf(dir, sizeof(dir), "%s/replay", tmp);

    rsp_replay *r = open_durable(dir);
    UT_CHECK(r != NULL);
    if (!r)
        return;
    UT_CHECK(rsp_replay_durable(r));
    UT_EQ(rsp_replay_test_consume(r, 1, 1300, 1000), RSP_REPLAY_FRESH);
    UT_EQ(rsp_replay_test_consume(r, 1, 1300, 1001), RSP_REPLAY_USED); /* memory */
    UT_EQ(rsp_replay_test_consume(r, 2, 1300, 1001), RSP_REPLAY_FRESH);
    rsp_replay_free(r);

    /* a restart: memory is empty, the durable store still refuses */
    r = open_durable(dir);
    UT_EQ(rsp_replay_test_consume(r, 1, 1300, 1100), RSP_REPLAY_USED);
    UT_EQ(rsp_replay_test_consume(r, 2, 1300, 1100), RSP_REPLAY_USED);
    UT_EQ(rsp_replay_test_consume(r, 3, 1300, 1100), RSP_REPLAY_FRESH);
    rsp_replay_stats s;
    rsp_replay_stats_get(r, &s);
    UT_EQ(s.refused, 2);
    /* after their expiry, later writes prune them a few at a time */
    for (uint32_t i = 10; i < 20; i++)
        UT_EQ(rsp_replay_test_consume(r, i, 2000, 1500), RSP_REPLAY_FRESH);
    rsp_replay_free(r);
    UT_EQ(stored(dir), 10);
}

int main(void)
{
    UT_RUN(test_memory);
    UT_RUN(test_full_never_refuses);
    UT_RUN(test_durable_restart);
    return ut_finish();
}
