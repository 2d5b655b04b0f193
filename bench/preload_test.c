#include "bench/preload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>

#include "smds/store.h"
#include "tests/unit/ut.h"
#include "tools/pki/pki.h"

#define NOW 1700000000
#define N 300

static char base[512];

static void tmpdir(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", base, name);
}

static void progress(uint64_t done, uint64_t total, void *arg)
{
    uint64_t *calls = arg;
    calls[0]++;
    calls[1] = done;
    calls[2] = total;
}

static preload_cfg cfg_for(const char *dir, uint32_t max_age, uint64_t stride)
{
    preload_cfg c = {
        .dir = dir,
        .n = N,
        .eid_prefix = PKI_SGP26_EID_PREFIX,
        .event_prefix = "BENCH-",
        .address = "testsmdpplus1.example.com",
        .owner = "2.999.10",
        .max_age = max_age,
        .stride = stride,
        .now = NOW,
        .batch = 7, /* many transactions */
    };
    return c;
}

/* The same records through the store itself, one RegisterEvent each. */
static void register_all(const char *dir, const preload_cfg *c)
{
    smds_store_config sc = {0};
    sc.max_age = c->max_age;
    smds_store *s = smds_store_open(dir, &sc);
    UT_CHECK(s != NULL);
    if (!s)
        return;
    for (uint64_t i = 0; i < c->n; i++) {
        smds_event ev;
        memset(&ev, 0, sizeof(ev));
        uint64_t num = i * (c->stride ? c->stride : 1);
        pki_eid_make(c->eid_prefix, num, ev.eid);
        preload_event_id(c, num, ev.event_id, sizeof(ev.event_id));
        snprintf(ev.rsp_server_address, sizeof(ev.rsp_server_address), "%s", c->address);
        snprintf(ev.owner, sizeof(ev.owner), "%s", c->owner);
        ev.via = 12;
        UT_EQ(smds_store_register_sync(s, &ev, c->now), RSP_OK);
    }
    smds_store_close(s);
}

/* Every key and value of every database, byte for byte. */
static void compare_envs(const char *a, const char *b)
{
    static const char *names[] = {"events", "ids", "expiry", "meta"};
    MDB_env *ea, *eb;
    MDB_txn *ta, *tb;
    UT_EQ(mdb_env_create(&ea), 0);
    UT_EQ(mdb_env_create(&eb), 0);
    mdb_env_set_maxdbs(ea, 8);
    mdb_env_set_maxdbs(eb, 8);
    UT_EQ(mdb_env_open(ea, a, MDB_RDONLY, 0600), 0);
    UT_EQ(mdb_env_open(eb, b, MDB_RDONLY, 0600), 0);
    UT_EQ(mdb_txn_begin(ea, NULL, MDB_RDONLY, &ta), 0);
    UT_EQ(mdb_txn_begin(eb, NULL, MDB_RDONLY, &tb), 0);
    for (size_t d = 0; d < 4; d++) {
        MDB_dbi da, db;
        UT_EQ(mdb_dbi_open(ta, names[d], 0, &da), 0);
        UT_EQ(mdb_dbi_open(tb, names[d], 0, &db), 0);
        MDB_cursor *ca, *cb;
        UT_EQ(mdb_cursor_open(ta, da, &ca), 0);
        UT_EQ(mdb_cursor_open(tb, db, &cb), 0);
        MDB_val ka, va, kb, vb;
        int ra = mdb_cursor_get(ca, &ka, &va, MDB_FIRST), rb = mdb_cursor_get(cb, &kb, &vb, MDB_FIRST);
        size_t n = 0, diff = 0;
        while (ra == 0 && rb == 0) {
            if (ka.mv_size != kb.mv_size || memcmp(ka.mv_data, kb.mv_data, ka.mv_size) != 0 ||
                va.mv_size != vb.mv_size || memcmp(va.mv_data, vb.mv_data, va.mv_size) != 0)
                diff++;
            n++;
            ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
            rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
        }
        UT_EQ(ra, MDB_NOTFOUND);
        UT_EQ(rb, MDB_NOTFOUND);
        UT_EQ(diff, 0);
        if (d < 2)
            UT_EQ(n, N);
        mdb_cursor_close(ca);
        mdb_cursor_close(cb);
    }
    mdb_txn_abort(ta);
    mdb_txn_abort(tb);
    mdb_env_close(ea);
    mdb_env_close(eb);
}

static void same_as_store(uint32_t max_age, uint64_t stride)
{
    char a[600], b[600];
    snprintf(a, sizeof(a), "%s/pre-%u-%llu", base, max_age, (unsigned long long)stride);
    snprintf(b, sizeof(b), "%s/reg-%u-%llu", base, max_age, (unsigned long long)stride);
    preload_cfg c = cfg_for(a, max_age, stride);
    uint64_t calls[3] = {0};
    c.progress = progress;
    c.progress_arg = calls;
    char err[256];
    UT_EQ(preload_events(&c, err, sizeof(err)), 0);
    UT_EQ(calls[0], (N + 6) / 7);
    UT_EQ(calls[1], N);
    UT_EQ(calls[2], N);
    register_all(b, &c);
    compare_envs(a, b);

    uint64_t check[3] = {0, 150 * stride, (N - 1) * stride};
    UT_EQ(preload_check(&c, check, 3, err, sizeof(err)), 0);
    c.n = N + 1;
    UT_EQ(preload_check(&c, check, 3, err, sizeof(err)), -1);
    c.n = N;
    uint64_t outside[1] = {(N + 5) * stride};
    UT_EQ(preload_check(&c, outside, 1, err, sizeof(err)), -1);
    if (stride > 1) {
        uint64_t between[1] = {stride + 1};
        UT_EQ(preload_check(&c, between, 1, err, sizeof(err)), -1);
    }

    /* The server carries on after a preload: the next event gets seq n + 1. */
    smds_store_config sc = {0};
    sc.max_age = max_age;
    smds_store *s = smds_store_open(a, &sc);
    UT_CHECK(s != NULL);
    smds_event ev;
    memset(&ev, 0, sizeof(ev));
    pki_eid_make(c.eid_prefix, 5, ev.eid);
    snprintf(ev.event_id, sizeof(ev.event_id), "AFTER");
    snprintf(ev.owner, sizeof(ev.owner), "2.999.10");
    UT_EQ(smds_store_register_sync(s, &ev, NOW + 1), RSP_OK);
    UT_EQ(ev.seq, N + 1);
    preload_event_id(&c, 17 * stride, ev.event_id, sizeof(ev.event_id));
    UT_EQ(smds_store_register_sync(s, &ev, NOW + 1), RSP_ST_EVENT_EXISTS);
    if (max_age)
        UT_EQ(smds_store_purge(s, NOW + max_age, 1000), N);
    smds_store_close(s);

    /* A store that holds events is not preloaded again. */
    UT_EQ(preload_events(&c, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "already holds") != NULL);
}

static void test_no_expiry(void)
{
    same_as_store(0, 1);
}

static void test_expiry(void)
{
    same_as_store(3600, 1);
}

static void test_stride(void)
{
    same_as_store(0, 10007);
}

static void test_bad_config(void)
{
    char d[600], err[256];
    tmpdir("bad", d, sizeof(d));
    preload_cfg c = cfg_for(d, 0, 1);
    c.eid_prefix = "12345678901234567890123456789"; /* no room for numbers >= 10 */
    c.n = 20;
    UT_EQ(preload_events(&c, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "does not fit") != NULL);
    c.address = NULL;
    UT_EQ(preload_events(&c, err, sizeof(err)), -1);
}

int main(void)
{
    const char *t = getenv("TEST_TMPDIR");
    snprintf(base, sizeof(base), "%s/preload_test", t ? t : "/tmp");
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", base, base);
    if (system(cmd) != 0)
        return 1;
    UT_RUN(test_no_expiry);
    UT_RUN(test_expiry);
    UT_RUN(test_stride);
    UT_RUN(test_bad_config);
    return ut_finish();
}
