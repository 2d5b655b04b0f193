#include "rsp/db.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/ut.h"

/* Under ASan each LMDB nested transaction (a 2.5 MB malloc, poisoned and
 * unpoisoned) costs about 7 ms instead of 1 us, so the heavy tests run a
 * fifth of their jobs there. */
#if defined(__SANITIZE_ADDRESS__)
#define JOB_SCALE 5
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JOB_SCALE 5
#endif
#endif
#ifndef JOB_SCALE
#define JOB_SCALE 1
#endif

enum { DB_MAIN, DB_DUP, DB_COUNT };

static const rsp_db_spec specs[DB_COUNT] = {
    {"main", 0},
    {"dup", MDB_DUPSORT},
};

static char *tmp_env_dir(void)
{
    const char *base = getenv("TEST_TMPDIR");
    char *dir = malloc(4096);
    snprintf(dir, 4096, "%s/dbtest.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    return dir;
}

static void rm_env_dir(char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static rsp_db_env *open_env(const char *dir, const rsp_db_config *cfg)
{
    rsp_db_env *env = NULL;
    int rc = rsp_db_open(&env, dir, specs, DB_COUNT, cfg);
    if (rc)
        fprintf(stderr, "rsp_db_open: %s\n", mdb_strerror(rc));
    return env;
}

static void key_id(rsp_key *k, uint32_t id)
{
    rsp_key_init(k);
    rsp_key_u32(k, id);
}

/* Reads DB_MAIN[id] in a fresh read txn: the stored u32, or -1 if absent. */
static long long read_id(rsp_db_env *env, uint32_t id)
{
    MDB_txn *txn;
    MDB_val v;
    rsp_key k;
    long long out = -1;
    key_id(&k, id);
    if (rsp_db_read_begin(env, &txn) != 0)
        return -2;
    if (rsp_db_get(txn, rsp_db_dbi(env, DB_MAIN), &k, &v) == 0 && v.mv_size == 4)
        out = rsp_be32(v.mv_data);
    rsp_db_read_end(env);
    return out;
}

/* ---- key builder ---- */

static int cmp_keys(const rsp_key *a, const rsp_key *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->buf, b->buf, n);
    if (c)
        return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

static void test_key_order(void)
{
    static const uint64_t u[] = {0, 1, 255, 256, 65535, 65536, 0xfffffffful, 0x100000000ull, UINT64_MAX};
    static const int64_t s[] = {INT64_MIN, -65536, -1, 0, 1, 255, INT64_MAX};
    static const char *str[] = {"", "a", "ab", "abc", "b", "ba"};
    rsp_key a, b;

    for (size_t i = 0; i + 1 < sizeof(u) / sizeof(u[0]); i++) {
        rsp_key_init(&a);
        rsp_key_init(&b);
        rsp_key_u64(&a, u[i]);
        rsp_key_u64(&b, u[i + 1]);
        UT_EQ(cmp_keys(&a, &b), -1);
        UT_EQ(rsp_be64(a.buf), u[i]);
    }
    for (size_t i = 0; i + 1 < sizeof(s) / sizeof(s[0]); i++) {
        rsp_key_init(&a);
        rsp_key_init(&b);
        rsp_key_i64(&a, s[i]);
        rsp_key_i64(&b, s[i + 1]);
        UT_EQ(cmp_keys(&a, &b), -1);
    }
    /* A NUL-terminated string keeps string order even with a field after
     * it: "a"+0xff.. must sort before "ab"+0x00.. */
    for (size_t i = 0; i + 1 < sizeof(str) / sizeof(str[0]); i++) {
        rsp_key_init(&a);
        rsp_key_init(&b);
        rsp_key_str(&a, str[i]);
        rsp_key_u32(&a, UINT32_MAX);
        rsp_key_str(&b, str[i + 1]);
        rsp_key_u32(&b, 0);
        UT_EQ(cmp_keys(&a, &b), -1);
    }
    /* Fields compose: (u16, u32) orders by the first, then the second. */
    rsp_key_init(&a);
    rsp_key_u16(&a, 1);
    rsp_key_u32(&a, 0xffffffffu);
    rsp_key_init(&b);
    rsp_key_u16(&b, 2);
    rsp_key_u32(&b, 0);
    UT_EQ(cmp_keys(&a, &b), -1);
    /* Length-prefixed: may hold NULs, shorter sorts first. */
    rsp_key_init(&a);
    rsp_key_lstr(&a, "zz", 2);
    rsp_key_init(&b);
    rsp_key_lstr(&b, "a\0b", 3);
    UT_EQ(cmp_keys(&a, &b), -1);
    UT_EQ(b.len, 5);
    UT_EQ(rsp_be16(b.buf), 3);
    UT_CHECK(memcmp(b.buf + 2, "a\0b", 3) == 0);
    /* Exact encodings. */
    rsp_key_init(&a);
    rsp_key_u8(&a, 0x12);
    rsp_key_u16(&a, 0x3456);
    rsp_key_u32(&a, 0x789abcde);
    rsp_key_i64(&a, -2);
    rsp_key_str(&a, "hi");
    rsp_key_bytes(&a, "\x01\x02", 2);
    static const uint8_t want[] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0x7f, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xfe, 'h',  'i',  0,    1,    2};
    UT_EQ(a.len, sizeof(want));
    UT_CHECK(memcmp(a.buf, want, sizeof(want)) == 0);
    UT_EQ(a.err, 0);
    MDB_val v = rsp_key_val(&a);
    UT_EQ(v.mv_size, sizeof(want));
    UT_CHECK(v.mv_data == (void *)a.buf);
}

static void test_key_overflow(void)
{
    uint8_t big[600];
    rsp_key k;
    memset(big, 0xab, sizeof(big));

    rsp_key_init(&k);
    rsp_key_bytes(&k, big, RSP_KEY_MAX);
    UT_EQ(k.err, 0);
    UT_EQ(k.len, RSP_KEY_MAX);
    rsp_key_u8(&k, 1);
    UT_EQ(k.err, MDB_BAD_VALSIZE);
    UT_EQ(k.len, RSP_KEY_MAX);

    /* The failing append leaves the key as it was; later appends, even ones
     * that would fit, are no-ops. */
    rsp_key_init(&k);
    rsp_key_bytes(&k, big, RSP_KEY_MAX - 7);
    rsp_key_u64(&k, 1);
    UT_EQ(k.err, MDB_BAD_VALSIZE);
    UT_EQ(k.len, RSP_KEY_MAX - 7);
    rsp_key_u8(&k, 1);
    UT_EQ(k.len, RSP_KEY_MAX - 7);

    rsp_key_init(&k);
    rsp_key_bytes(&k, big, RSP_KEY_MAX - 8);
    rsp_key_u64(&k, 1);
    UT_EQ(k.err, 0);
    UT_EQ(k.len, RSP_KEY_MAX);

    /* Length-prefixed: the whole field (2 + n) must fit, no half field. */
    rsp_key_init(&k);
    rsp_key_bytes(&k, big, RSP_KEY_MAX - 4);
    rsp_key_lstr(&k, big, 3);
    UT_EQ(k.err, MDB_BAD_VALSIZE);
    UT_EQ(k.len, RSP_KEY_MAX - 4);
    rsp_key_init(&k);
    rsp_key_bytes(&k, big, RSP_KEY_MAX - 4);
    rsp_key_lstr(&k, big, 2);
    UT_EQ(k.err, 0);
    UT_EQ(k.len, RSP_KEY_MAX);
    rsp_key_init(&k);
    rsp_key_lstr(&k, big, (size_t)UINT16_MAX + 1);
    UT_EQ(k.err, MDB_BAD_VALSIZE);
    UT_EQ(k.len, 0);

    rsp_key_init(&k);
    char s[RSP_KEY_MAX + 1];
    memset(s, 'x', RSP_KEY_MAX);
    s[RSP_KEY_MAX] = 0;
    rsp_key_str(&k, s); /* RSP_KEY_MAX + 1 with the NUL */
    UT_EQ(k.err, MDB_BAD_VALSIZE);
    UT_EQ(k.len, 0);
    s[RSP_KEY_MAX - 1] = 0;
    rsp_key_str(&k, s);
    UT_EQ(k.len, 0); /* still sticky */
    rsp_key_init(&k);
    rsp_key_str(&k, s);
    UT_EQ(k.err, 0);
    UT_EQ(k.len, RSP_KEY_MAX);

    /* Many small appends never run past the buffer. */
    rsp_key_init(&k);
    for (int i = 0; i < 1000; i++)
        rsp_key_u32(&k, (uint32_t)i);
    UT_EQ(k.err, MDB_BAD_VALSIZE);
    UT_EQ(k.len, RSP_KEY_MAX / 4 * 4);
}

/* ---- basic put/get/delete ---- */

typedef struct kv_job {
    uint32_t id;
    uint32_t val;
    int op; /* 0 put, 1 del */
} kv_job;

static rsp_db_env *g_env; /* env whose DB handles apply callbacks use */

static int apply_kv(rsp_db_wtxn *t, void *arg)
{
    kv_job *j = arg;
    rsp_key k;
    uint8_t v[4] = {(uint8_t)(j->val >> 24), (uint8_t)(j->val >> 16), (uint8_t)(j->val >> 8),
                    (uint8_t)j->val};
    key_id(&k, j->id);
    if (j->op == 1)
        return rsp_db_del(t, rsp_db_dbi(g_env, DB_MAIN), &k, NULL, 0);
    return rsp_db_put(t, rsp_db_dbi(g_env, DB_MAIN), &k, v, 4, 0);
}

typedef struct dup_job {
    const char *key;
    const char *vals[4];
    const char *del_val; /* delete this one duplicate */
    int del_all;
} dup_job;

static int apply_dup(rsp_db_wtxn *t, void *arg)
{
    dup_job *j = arg;
    MDB_dbi dbi = rsp_db_dbi(g_env, DB_DUP);
    rsp_key k;
    rsp_key_init(&k);
    rsp_key_str(&k, j->key);
    for (int i = 0; i < 4 && j->vals[i]; i++)
        rsp_db_put(t, dbi, &k, j->vals[i], strlen(j->vals[i]), 0);
    if (j->del_val)
        rsp_db_del(t, dbi, &k, j->del_val, strlen(j->del_val));
    if (j->del_all)
        rsp_db_del(t, dbi, &k, NULL, 0);
    return rsp_db_wtxn_err(t);
}

static int count_dups(rsp_db_env *env, const char *key)
{
    MDB_txn *txn;
    rsp_db_iter it;
    rsp_key k;
    int n = 0;
    rsp_key_init(&k);
    rsp_key_str(&k, key);
    if (rsp_db_read_begin(env, &txn))
        return -1;
    if (rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_DUP), &k) == 0) {
        while (rsp_db_iter_next(&it, NULL, NULL))
            n++;
        if (it.err)
            n = -1;
        rsp_db_iter_close(&it);
    }
    rsp_db_read_end(env);
    return n;
}

typedef struct seq_job {
    const char *name;
    uint64_t got;
    bool corrupt; /* store a 3-byte value first */
} seq_job;

static int apply_seq(rsp_db_wtxn *t, void *arg)
{
    seq_job *j = arg;
    rsp_key k;
    rsp_key_init(&k);
    rsp_key_str(&k, j->name);
    if (j->corrupt) {
        int rc = rsp_db_put(t, rsp_db_dbi(g_env, DB_MAIN), &k, "abc", 3, 0);
        if (rc)
            return rc;
    }
    return rsp_db_next_seq(t, rsp_db_dbi(g_env, DB_MAIN), &k, &j->got);
}

static void test_next_seq(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    seq_job a = {"seq-a", 0, false}, b = {"seq-b", 0, false};
    for (uint64_t want = 1; want <= 300; want++) {
        UT_EQ(rsp_db_write_sync(env, apply_seq, &a), 0);
        UT_EQ(a.got, want);
    }
    UT_EQ(rsp_db_write_sync(env, apply_seq, &b), 0);
    UT_EQ(b.got, 1); /* counters are independent */
    rsp_db_close(env);
    /* it survives a reopen */
    env = open_env(dir, NULL);
    g_env = env;
    UT_EQ(rsp_db_write_sync(env, apply_seq, &a), 0);
    UT_EQ(a.got, 301);
    seq_job c = {"seq-c", 0, true};
    UT_EQ(rsp_db_write_sync(env, apply_seq, &c), MDB_CORRUPTED);
    rsp_db_close(env);
    rm_env_dir(dir);
}

static void test_put_get_del(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;

    /* Durable by default: no NOSYNC/NOMETASYNC, readers not tied to threads. */
    unsigned fl = 0;
    mdb_env_get_flags(rsp_db_mdb(env), &fl);
    UT_EQ(fl & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP), 0);
    UT_CHECK(fl & MDB_NOTLS);

    kv_job put = {7, 0xdeadbeef, 0}, del = {7, 0, 1};
    UT_EQ(read_id(env, 7), -1);
    UT_EQ(rsp_db_write_sync(env, apply_kv, &put), 0);
    UT_EQ(read_id(env, 7), 0xdeadbeef);
    put.val = 5;
    UT_EQ(rsp_db_write_sync(env, apply_kv, &put), 0);
    UT_EQ(read_id(env, 7), 5);
    UT_EQ(rsp_db_write_sync(env, apply_kv, &del), 0);
    UT_EQ(read_id(env, 7), -1);
    /* Deleting a missing key is an answer the job returns, not a sticky error. */
    UT_EQ(rsp_db_write_sync(env, apply_kv, &del), MDB_NOTFOUND);

    dup_job d1 = {"eid1", {"e3", "e1", "e2", NULL}, NULL, 0};
    UT_EQ(rsp_db_write_sync(env, apply_dup, &d1), 0);
    UT_EQ(count_dups(env, "eid1"), 3);
    dup_job d2 = {"eid1", {NULL}, "e2", 0};
    UT_EQ(rsp_db_write_sync(env, apply_dup, &d2), 0);
    UT_EQ(count_dups(env, "eid1"), 2);
    dup_job d3 = {"eid1", {NULL}, NULL, 1};
    UT_EQ(rsp_db_write_sync(env, apply_dup, &d3), 0);
    UT_EQ(count_dups(env, "eid1"), 0);

    /* Nested reads share one snapshot and need matching ends. */
    MDB_txn *t1, *t2;
    UT_EQ(rsp_db_read_begin(env, &t1), 0);
    UT_EQ(rsp_db_read_begin(env, &t2), 0);
    UT_CHECK(t1 == t2);
    rsp_db_read_end(env);
    MDB_val v;
    rsp_key k;
    key_id(&k, 7);
    UT_EQ(rsp_db_get(t1, rsp_db_dbi(env, DB_MAIN), &k, &v), MDB_NOTFOUND);
    rsp_db_read_end(env);
    rsp_db_read_end(env); /* unbalanced end is ignored */

    /* Reopen keeps data. */
    put.val = 99;
    UT_EQ(rsp_db_write_sync(env, apply_kv, &put), 0);
    rsp_db_close(env);
    env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (env) {
        UT_EQ(read_id(env, 7), 99);
        rsp_db_close(env);
    }
    rm_env_dir(dir);
}

/* ---- sticky errors ---- */

typedef struct sticky_job {
    int second_rc;
    int keyexist_rc;
} sticky_job;

static int apply_sticky(rsp_db_wtxn *t, void *arg)
{
    sticky_job *j = arg;
    MDB_dbi dbi = rsp_db_dbi(g_env, DB_MAIN);
    rsp_key ok, bad;
    uint8_t big[RSP_KEY_MAX];
    memset(big, 1, sizeof(big));

    key_id(&ok, 1000);
    /* KEYEXIST is an answer and leaves the txn usable. */
    rsp_db_put(t, dbi, &ok, "x", 1, 0);
    j->keyexist_rc = rsp_db_put(t, dbi, &ok, "y", 1, MDB_NOOVERWRITE);
    if (rsp_db_wtxn_err(t))
        return -1;
    rsp_key_init(&bad);
    rsp_key_bytes(&bad, big, sizeof(big));
    rsp_key_u8(&bad, 0);
    rsp_db_put(t, dbi, &bad, "v", 1, 0);
    key_id(&ok, 1001);
    j->second_rc = rsp_db_put(t, dbi, &ok, "v", 1, 0);
    UT_CHECK(rsp_db_reserve(t, dbi, &ok, 4, 0) == NULL);
    /* Returns 0 although an error is recorded: the job must still fail. */
    return 0;
}

static void test_sticky(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    sticky_job j = {0, 0};
    UT_EQ(rsp_db_write_sync(env, apply_sticky, &j), MDB_BAD_VALSIZE);
    UT_EQ(j.keyexist_rc, MDB_KEYEXIST);
    UT_EQ(j.second_rc, MDB_BAD_VALSIZE);
    UT_EQ(read_id(env, 1000), -1);
    UT_EQ(read_id(env, 1001), -1);
    rsp_db_close(env);
    rm_env_dir(dir);
}

/* ---- prefix iteration ---- */

typedef struct grp_job {
    uint32_t groups, per;
    uint32_t del_group; /* 0 = none */
    size_t deleted;
} grp_job;

static int apply_groups(rsp_db_wtxn *t, void *arg)
{
    grp_job *j = arg;
    MDB_dbi dbi = rsp_db_dbi(g_env, DB_MAIN);
    rsp_key k;
    if (j->del_group) {
        rsp_key_init(&k);
        rsp_key_u32(&k, j->del_group);
        return rsp_db_del_prefix(t, dbi, &k, &j->deleted);
    }
    /* Insert in reverse so order comes from the keys, not insertion. */
    for (uint32_t g = j->groups; g >= 1; g--) {
        for (uint32_t i = j->per; i-- > 0;) {
            rsp_key_init(&k);
            rsp_key_u32(&k, g);
            rsp_key_u64(&k, (uint64_t)i * 1000);
            rsp_db_put(t, dbi, &k, &i, sizeof(i), 0);
        }
    }
    return rsp_db_wtxn_err(t);
}

static void test_prefix_iter(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    grp_job g = {5, 50, 0, 0};
    UT_EQ(rsp_db_write_sync(env, apply_groups, &g), 0);

    MDB_txn *txn;
    rsp_db_iter it;
    MDB_val k, v;
    rsp_key p;
    UT_EQ(rsp_db_read_begin(env, &txn), 0);

    rsp_key_init(&p);
    rsp_key_u32(&p, 3);
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), &p), 0);
    uint32_t n = 0;
    uint64_t last = 0;
    while (rsp_db_iter_next(&it, &k, &v)) {
        UT_EQ(k.mv_size, 12);
        UT_EQ(rsp_be32(k.mv_data), 3);
        uint64_t x = rsp_be64((uint8_t *)k.mv_data + 4);
        UT_EQ(x, (uint64_t)n * 1000);
        UT_CHECK(n == 0 || x > last);
        last = x;
        uint32_t val;
        memcpy(&val, v.mv_data, 4);
        UT_EQ(val, n);
        n++;
    }
    UT_EQ(it.err, 0);
    UT_EQ(n, 50);
    UT_CHECK(!rsp_db_iter_next(&it, &k, &v)); /* stays at end */
    rsp_db_iter_close(&it);

    /* Whole database, in order. */
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), NULL), 0);
    n = 0;
    uint32_t lastg = 0;
    while (rsp_db_iter_next(&it, &k, NULL)) {
        UT_CHECK(rsp_be32(k.mv_data) >= lastg);
        lastg = rsp_be32(k.mv_data);
        n++;
    }
    UT_EQ(n, 250);
    rsp_db_iter_close(&it);

    /* Absent prefix, past the end, and a longer prefix. */
    rsp_key_init(&p);
    rsp_key_u32(&p, 9);
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), &p), 0);
    UT_CHECK(!rsp_db_iter_next(&it, &k, &v));
    UT_EQ(it.err, 0);
    rsp_db_iter_close(&it);
    rsp_key_init(&p);
    rsp_key_u32(&p, 2);
    rsp_key_u64(&p, 7000);
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), &p), 0);
    n = 0;
    while (rsp_db_iter_next(&it, &k, &v))
        n++;
    UT_EQ(n, 1);
    rsp_db_iter_close(&it);
    /* A key with a sticky error refuses to iterate. */
    p.err = MDB_BAD_VALSIZE;
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), &p), MDB_BAD_VALSIZE);
    rsp_db_read_end(env);

    grp_job d = {0, 0, 3, 0};
    UT_EQ(rsp_db_write_sync(env, apply_groups, &d), 0);
    UT_EQ(d.deleted, 50);
    UT_EQ(rsp_db_read_begin(env, &txn), 0);
    rsp_key_init(&p);
    rsp_key_u32(&p, 3);
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), &p), 0);
    UT_CHECK(!rsp_db_iter_next(&it, &k, &v));
    rsp_db_iter_close(&it);
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), NULL), 0);
    n = 0;
    while (rsp_db_iter_next(&it, &k, &v))
        n++;
    UT_EQ(n, 200);
    rsp_db_iter_close(&it);
    rsp_db_read_end(env);

    /* Duplicates come out in data order, grouped under their key. */
    dup_job a = {"k1", {"c", "a", "b", NULL}, NULL, 0}, b = {"k2", {"z", NULL}, NULL, 0};
    UT_EQ(rsp_db_write_sync(env, apply_dup, &a), 0);
    UT_EQ(rsp_db_write_sync(env, apply_dup, &b), 0);
    UT_EQ(rsp_db_read_begin(env, &txn), 0);
    rsp_key_init(&p);
    rsp_key_bytes(&p, "k", 1);
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_DUP), &p), 0);
    char seen[16] = {0};
    n = 0;
    while (rsp_db_iter_next(&it, &k, &v) && n < 15)
        seen[n++] = *(char *)v.mv_data;
    rsp_db_iter_close(&it);
    rsp_db_read_end(env);
    UT_CHECK(strcmp(seen, "abcz") == 0);

    rsp_db_close(env);
    rm_env_dir(dir);
}

/* ---- group commit from many threads ---- */

typedef struct counter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned done, failed;
} counter;

typedef struct id_job {
    uint32_t id;
    int fail_with; /* apply writes, then returns this */
    int result;    /* as reported to done */
    int done_calls;
    counter *c;
    int refuse;  /* apply returns this before writing anything */
    int applies; /* apply runs */
} id_job;

static int apply_id(rsp_db_wtxn *t, void *arg)
{
    id_job *j = arg;
    j->applies++;
    if (j->refuse)
        return j->refuse;
    rsp_key k;
    uint8_t v[4] = {(uint8_t)(j->id >> 24), (uint8_t)(j->id >> 16), (uint8_t)(j->id >> 8), (uint8_t)j->id};
    key_id(&k, j->id);
    int rc = rsp_db_put(t, rsp_db_dbi(g_env, DB_MAIN), &k, v, 4, 0);
    return rc ? rc : j->fail_with;
}

static void done_id(void *arg, int result)
{
    id_job *j = arg;
    j->result = result;
    j->done_calls++;
    pthread_mutex_lock(&j->c->lock);
    j->c->done++;
    if (result)
        j->c->failed++;
    pthread_cond_broadcast(&j->c->cond);
    pthread_mutex_unlock(&j->c->lock);
}

static void counter_wait(counter *c, unsigned n)
{
    pthread_mutex_lock(&c->lock);
    while (c->done < n)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

#define GC_THREADS 8
#define GC_JOBS (500 / JOB_SCALE)

typedef struct gc_thread {
    rsp_db_env *env;
    unsigned t;
    id_job jobs[GC_JOBS];
    counter c;
    int submit_errors;
} gc_thread;

static void *gc_main(void *arg)
{
    gc_thread *g = arg;
    for (unsigned i = 0; i < GC_JOBS; i++) {
        g->jobs[i].id = g->t * 100000 + i;
        g->jobs[i].c = &g->c;
        if (rsp_db_submit(g->env, apply_id, done_id, &g->jobs[i]) != 0)
            g->submit_errors++;
        /* Mix in some synchronous writers too. */
        if (i % 100 == 99) {
            id_job s = {g->t * 100000 + 90000 + i, 0, 0, 0, &g->c, 0, 0};
            if (rsp_db_write_sync(g->env, apply_id, &s) != 0)
                g->submit_errors++;
        }
    }
    counter_wait(&g->c, GC_JOBS); /* write_sync jobs do not count here */
    return NULL;
}

static void test_group_commit_threads(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    static gc_thread th[GC_THREADS];
    pthread_t tid[GC_THREADS];
    memset(th, 0, sizeof(th));
    for (unsigned t = 0; t < GC_THREADS; t++) {
        th[t].env = env;
        th[t].t = t + 1;
        pthread_mutex_init(&th[t].c.lock, NULL);
        pthread_cond_init(&th[t].c.cond, NULL);
        pthread_create(&tid[t], NULL, gc_main, &th[t]);
    }
    for (unsigned t = 0; t < GC_THREADS; t++)
        pthread_join(tid[t], NULL);

    unsigned ok = 0, calls = 0;
    for (unsigned t = 0; t < GC_THREADS; t++) {
        UT_EQ(th[t].submit_errors, 0);
        UT_EQ(th[t].c.failed, 0);
        for (unsigned i = 0; i < GC_JOBS; i++) {
            ok += th[t].jobs[i].result == 0;
            calls += th[t].jobs[i].done_calls;
        }
    }
    UT_EQ(ok, GC_THREADS * GC_JOBS);
    UT_EQ(calls, GC_THREADS * GC_JOBS);

    rsp_db_stats st;
    rsp_db_stats_get(env, &st);
    uint64_t total = GC_THREADS * (GC_JOBS + GC_JOBS / 100);
    UT_EQ(st.jobs, total);
    UT_EQ(st.jobs_failed, 0);
    uint64_t hist_sum = 0, multi = 0;
    for (int i = 0; i < RSP_DB_HIST_BUCKETS; i++) {
        hist_sum += st.batch_hist[i];
        if (i > 0)
            multi += st.batch_hist[i];
    }
    UT_EQ(hist_sum, st.commits + st.commit_failures);
    /* Concurrency must have produced real batches: far fewer commits than jobs. */
    UT_CHECK(multi > 0);
    UT_CHECK(st.batch_max_seen > 1);
    UT_CHECK(st.batch_max_seen <= 256);
    UT_CHECK(st.commits < total);
    UT_EQ(st.queued, 0);
    printf("  %llu jobs in %llu commits, largest batch %llu\n", (unsigned long long)st.jobs,
           (unsigned long long)st.commits, (unsigned long long)st.batch_max_seen);
    rsp_db_close(env);

    env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (env) {
        unsigned present = 0;
        for (unsigned t = 1; t <= GC_THREADS; t++) {
            for (unsigned i = 0; i < GC_JOBS; i++)
                present += read_id(env, t * 100000 + i) == (long long)(t * 100000 + i);
            for (unsigned i = 99; i < GC_JOBS; i += 100)
                present += read_id(env, t * 100000 + 90000 + i) == (long long)(t * 100000 + 90000 + i);
        }
        UT_EQ(present, total);
        rsp_db_close(env);
    }
    for (unsigned t = 0; t < GC_THREADS; t++) {
        pthread_mutex_destroy(&th[t].c.lock);
        pthread_cond_destroy(&th[t].c.cond);
    }
    rm_env_dir(dir);
}

/* ---- deterministic batches: a gate job holds the writer while others queue ---- */

typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, open;
} gate;

static int apply_gate(rsp_db_wtxn *t, void *arg)
{
    (void)t;
    gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->entered = 1;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return 0;
}

static void done_gate(void *arg, int result)
{
    (void)arg;
    UT_EQ(result, 0);
}

static void gate_hold(rsp_db_env *env, gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->entered = g->open = 0;
    UT_EQ(rsp_db_submit(env, apply_gate, done_gate, g), 0);
    pthread_mutex_lock(&g->lock);
    while (!g->entered)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void gate_release(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void gate_destroy(gate *g)
{
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

static void test_failing_job_isolated(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    id_job jobs[10];
    gate g;
    rsp_db_stats before, after;

    gate_hold(env, &g);
    rsp_db_stats_get(env, &before);
    for (uint32_t i = 0; i < 10; i++) {
        jobs[i] = (id_job){500 + i, 0, -99, 0, &c, 0, 0};
        if (i == 3)
            jobs[i].fail_with = 4242; /* an application code */
        if (i == 6)
            jobs[i].fail_with = MDB_KEYEXIST;
        UT_EQ(rsp_db_submit(env, apply_id, done_id, &jobs[i]), 0);
    }
    rsp_db_stats_get(env, &after);
    UT_EQ(after.queued, 10);
    gate_release(&g);
    counter_wait(&c, 10);
    rsp_db_stats_get(env, &after);

    for (uint32_t i = 0; i < 10; i++) {
        UT_EQ(jobs[i].done_calls, 1);
        int want = i == 3 ? 4242 : i == 6 ? MDB_KEYEXIST : 0;
        UT_EQ(jobs[i].result, want);
        UT_EQ(read_id(env, 500 + i), want ? -1 : (long long)(500 + i));
    }
    /* The gate's batch and then all ten in one transaction. */
    UT_EQ(after.commits - before.commits, 2);
    UT_EQ(after.jobs - before.jobs, 11);
    UT_EQ(after.jobs_failed - before.jobs_failed, 2);
    UT_EQ(after.batch_hist[3] - before.batch_hist[3], 1); /* 8..15 */
    UT_EQ(after.batch_max_seen, 10);
    gate_destroy(&g);
    rsp_db_close(env);
    rm_env_dir(dir);
}

/* Jobs that refuse before writing fail alone without the batch being redone. */
static void test_refusing_job_flat(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    id_job jobs[10];
    gate g;
    rsp_db_stats before, after;

    gate_hold(env, &g);
    rsp_db_stats_get(env, &before);
    for (uint32_t i = 0; i < 10; i++) {
        jobs[i] = (id_job){700 + i, 0, -99, 0, &c, 0, 0};
        if (i == 2 || i == 7)
            jobs[i].refuse = 5000 + (int)i;
        UT_EQ(rsp_db_submit(env, apply_id, done_id, &jobs[i]), 0);
    }
    gate_release(&g);
    counter_wait(&c, 10);
    rsp_db_stats_get(env, &after);
    for (uint32_t i = 0; i < 10; i++) {
        int want = i == 2 || i == 7 ? 5000 + (int)i : 0;
        UT_EQ(jobs[i].done_calls, 1);
        UT_EQ(jobs[i].result, want);
        UT_EQ(jobs[i].applies, 1); /* no redo */
        UT_EQ(read_id(env, 700 + i), want ? -1 : (long long)(700 + i));
    }
    UT_EQ(after.commits - before.commits, 2);
    UT_EQ(after.jobs_failed - before.jobs_failed, 2);

    /* One job failing after its write: the batch is redone job by job and
     * only that job's write is lost. */
    counter c2 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    gate_hold(env, &g);
    for (uint32_t i = 0; i < 10; i++) {
        jobs[i] = (id_job){800 + i, i == 4 ? 77 : 0, -99, 0, &c2, i == 8 ? 78 : 0, 0};
        UT_EQ(rsp_db_submit(env, apply_id, done_id, &jobs[i]), 0);
    }
    gate_release(&g);
    counter_wait(&c2, 10);
    for (uint32_t i = 0; i < 10; i++) {
        int want = i == 4 ? 77 : i == 8 ? 78 : 0;
        UT_EQ(jobs[i].result, want);
        UT_CHECK(jobs[i].applies >= 1 && jobs[i].applies <= 2);
        UT_EQ(read_id(env, 800 + i), want ? -1 : (long long)(800 + i));
    }
    UT_EQ(jobs[0].applies, 2); /* ran flat, then again nested */
    gate_destroy(&g);
    rsp_db_close(env);
    rm_env_dir(dir);
}

/* Bytes of data.mdb past the pages LMDB uses, after one write. */
static long long slack_after_write(const rsp_db_config *cfg)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, cfg);
    long long slack = -1;
    if (env) {
        g_env = env;
        id_job j = {1, 0, 0, 0, NULL, 0, 0};
        UT_EQ(rsp_db_write_sync(env, apply_id, &j), 0);
        MDB_envinfo info;
        MDB_stat ms;
        struct stat st;
        char path[600];
        snprintf(path, sizeof(path), "%s/data.mdb", dir);
        mdb_env_info(rsp_db_mdb(env), &info);
        mdb_env_stat(rsp_db_mdb(env), &ms);
        if (stat(path, &st) == 0)
            slack = (long long)st.st_size - (long long)(info.me_last_pgno + 1) * ms.ms_psize;
        UT_EQ(read_id(env, 1), 1);
        rsp_db_close(env);
    }
    rm_env_dir(dir);
    return slack;
}

/* A durable env writes space ahead of its data (commits then need no block
 * allocation); a MDB_NOSYNC one does not bother. */
static void test_prealloc(void)
{
    UT_CHECK(slack_after_write(NULL) >= (1 << 19));
    rsp_db_config nosync = {.env_flags = MDB_NOSYNC};
    UT_EQ(slack_after_write(&nosync), 0);
}

static void test_batch_limit(void)
{
    char *dir = tmp_env_dir();
    rsp_db_config cfg = {.batch_max = 16};
    rsp_db_env *env = open_env(dir, &cfg);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    static id_job jobs[100];
    gate g;

    gate_hold(env, &g);
    for (uint32_t i = 0; i < 100; i++) {
        jobs[i] = (id_job){i, 0, -99, 0, &c, 0, 0};
        UT_EQ(rsp_db_submit(env, apply_id, done_id, &jobs[i]), 0);
    }
    gate_release(&g);
    counter_wait(&c, 100);
    rsp_db_stats st;
    rsp_db_stats_get(env, &st);
    /* 1 (gate) + 6 x 16 + 4 */
    UT_EQ(st.commits, 8);
    UT_EQ(st.batch_hist[0], 1);
    UT_EQ(st.batch_hist[2], 1);
    UT_EQ(st.batch_hist[4], 6);
    UT_EQ(st.batch_max_seen, 16);
    UT_EQ(c.failed, 0);
    gate_destroy(&g);
    rsp_db_close(env);
    rm_env_dir(dir);
}

/* ---- map growth ---- */

#define BIG_VAL 4000
#define GROW_JOBS (3000 / JOB_SCALE)

typedef struct big_job {
    uint32_t id;
    size_t len;
} big_job;

static void fill(uint8_t *p, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(id * 31 + i);
}

static int apply_big(rsp_db_wtxn *t, void *arg)
{
    big_job *j = arg;
    rsp_key k;
    key_id(&k, j->id);
    uint8_t *p = rsp_db_reserve(t, rsp_db_dbi(g_env, DB_MAIN), &k, j->len, 0);
    if (p)
        fill(p, j->len, j->id);
    return rsp_db_wtxn_err(t);
}

static bool check_big(const MDB_val *k, const MDB_val *v)
{
    uint8_t want[BIG_VAL];
    if (k->mv_size != 4 || v->mv_size != BIG_VAL)
        return false;
    fill(want, BIG_VAL, rsp_be32(k->mv_data));
    return memcmp(want, v->mv_data, BIG_VAL) == 0;
}

static atomic_int g_reader_stop;

/* Reads everything continually while the writer grows the map. */
static void *grow_reader(void *arg)
{
    rsp_db_env *env = arg;
    long bad = 0, rounds = 0;
    while (!atomic_load(&g_reader_stop)) {
        MDB_txn *txn;
        rsp_db_iter it;
        MDB_val k, v;
        if (rsp_db_read_begin(env, &txn) != 0) {
            bad++;
            break;
        }
        if (rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), NULL) == 0) {
            int n = 0;
            while (n++ < 200 && rsp_db_iter_next(&it, &k, &v))
                bad += !check_big(&k, &v);
            bad += it.err != 0;
            rsp_db_iter_close(&it);
        }
        rsp_db_read_end(env);
        rounds++;
    }
    UT_EQ(bad, 0);
    UT_CHECK(rounds > 0);
    return NULL;
}

static void done_count(void *arg, int result)
{
    counter *c = arg;
    pthread_mutex_lock(&c->lock);
    c->done++;
    if (result)
        c->failed++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

typedef struct big_async {
    big_job job;
    counter *c;
} big_async;

static int apply_big_async(rsp_db_wtxn *t, void *arg)
{
    return apply_big(t, &((big_async *)arg)->job);
}

static void done_big_async(void *arg, int result)
{
    done_count(((big_async *)arg)->c, result);
}

static void test_map_growth(void)
{
    char *dir = tmp_env_dir();
    rsp_db_config cfg = {.map_size = 256 << 10, .map_size_max = 1 << 30};
    rsp_db_env *env = open_env(dir, &cfg);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    static big_async jobs[GROW_JOBS];
    counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t rd;
    rsp_db_stats st;

    rsp_db_stats_get(env, &st);
    UT_EQ(st.map_size, 256 << 10);
    atomic_store(&g_reader_stop, 0);
    pthread_create(&rd, NULL, grow_reader, env);
    for (uint32_t i = 0; i < GROW_JOBS; i++)
        jobs[i] = (big_async){{i, BIG_VAL}, &c};
    /* Some one job per commit, the rest in batches. */
    for (uint32_t i = 0; i < 200 / JOB_SCALE; i++)
        UT_EQ(rsp_db_write_sync(env, apply_big, &jobs[i].job), 0);
    for (uint32_t i = 200 / JOB_SCALE; i < GROW_JOBS; i++)
        UT_EQ(rsp_db_submit(env, apply_big_async, done_big_async, &jobs[i]), 0);
    counter_wait(&c, GROW_JOBS - 200 / JOB_SCALE);
    atomic_store(&g_reader_stop, 1);
    pthread_join(rd, NULL);
    UT_EQ(c.failed, 0);
    rsp_db_stats_get(env, &st);
    UT_CHECK(st.map_grows >= 3);
    UT_CHECK(st.retries >= 1);
    UT_CHECK(st.map_size > (uint64_t)GROW_JOBS * BIG_VAL);
    UT_CHECK(st.map_size <= 1 << 30);
    printf("  map grew %llu times to %llu bytes, %llu batch retries\n", (unsigned long long)st.map_grows,
           (unsigned long long)st.map_size, (unsigned long long)st.retries);
    rsp_db_close(env);

    /* Reopen with the small initial size: LMDB keeps at least what is used. */
    env = open_env(dir, &cfg);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    MDB_txn *txn;
    rsp_db_iter it;
    MDB_val k, v;
    unsigned n = 0, good = 0;
    UT_EQ(rsp_db_read_begin(env, &txn), 0);
    UT_EQ(rsp_db_iter_open(&it, txn, rsp_db_dbi(env, DB_MAIN), NULL), 0);
    while (rsp_db_iter_next(&it, &k, &v)) {
        n++;
        good += check_big(&k, &v);
    }
    rsp_db_iter_close(&it);
    rsp_db_read_end(env);
    UT_EQ(n, GROW_JOBS);
    UT_EQ(good, GROW_JOBS);
    /* And it still grows from there. */
    big_job more = {GROW_JOBS, BIG_VAL};
    for (uint32_t i = 0; i < 300 / JOB_SCALE; i++, more.id++)
        UT_EQ(rsp_db_write_sync(env, apply_big, &more), 0);
    rsp_db_close(env);
    rm_env_dir(dir);
}

/* At the ceiling MAP_FULL fails only the job that needs the room. */
static void test_map_ceiling(void)
{
    char *dir = tmp_env_dir();
    rsp_db_config cfg = {.map_size = 128 << 10, .map_size_max = 512 << 10};
    rsp_db_env *env = open_env(dir, &cfg);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    big_async huge = {{1, 1 << 20}, &c}, small1 = {{2, 100}, &c}, small2 = {{3, 100}, &c};
    int r1 = -99, r2 = -99, r3 = -99;
    gate g;

    gate_hold(env, &g);
    UT_EQ(rsp_db_submit(env, apply_big_async, done_big_async, &small1), 0);
    UT_EQ(rsp_db_submit(env, apply_big_async, done_big_async, &huge), 0);
    UT_EQ(rsp_db_submit(env, apply_big_async, done_big_async, &small2), 0);
    gate_release(&g);
    counter_wait(&c, 3);
    UT_EQ(c.failed, 1);
    MDB_txn *txn;
    MDB_val v;
    rsp_key k;
    UT_EQ(rsp_db_read_begin(env, &txn), 0);
    key_id(&k, 1);
    r1 = rsp_db_get(txn, rsp_db_dbi(env, DB_MAIN), &k, &v);
    key_id(&k, 2);
    r2 = rsp_db_get(txn, rsp_db_dbi(env, DB_MAIN), &k, &v);
    key_id(&k, 3);
    r3 = rsp_db_get(txn, rsp_db_dbi(env, DB_MAIN), &k, &v);
    rsp_db_read_end(env);
    UT_EQ(r1, MDB_NOTFOUND);
    UT_EQ(r2, 0);
    UT_EQ(r3, 0);
    UT_EQ(rsp_db_write_sync(env, apply_big, &huge.job), MDB_MAP_FULL);
    rsp_db_stats st;
    rsp_db_stats_get(env, &st);
    UT_EQ(st.map_size, 512 << 10);
    UT_EQ(st.map_grows, 2);
    gate_destroy(&g);
    rsp_db_close(env);
    rm_env_dir(dir);
}

/* ---- readers: slots are recycled when threads exit ---- */

static void *short_reader(void *arg)
{
    rsp_db_env *env = arg;
    MDB_txn *txn;
    int rc = rsp_db_read_begin(env, &txn);
    UT_EQ(rc, 0);
    if (rc == 0)
        rsp_db_read_end(env);
    return NULL;
}

static void test_reader_slots(void)
{
    char *dir = tmp_env_dir();
    rsp_db_config cfg = {.max_readers = 4};
    rsp_db_env *env = open_env(dir, &cfg);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    /* Far more threads than slots: each exiting thread must give its back. */
    for (int i = 0; i < 40; i++) {
        pthread_t t;
        pthread_create(&t, NULL, short_reader, env);
        pthread_join(t, NULL);
    }
    MDB_envinfo info;
    mdb_env_info(rsp_db_mdb(env), &info);
    UT_CHECK(info.me_numreaders <= 4);
    short_reader(env);
    /* A second env in the same thread gets its own cached txn. */
    char *dir2 = tmp_env_dir();
    rsp_db_env *env2 = open_env(dir2, NULL);
    UT_CHECK(env2 != NULL);
    if (env2) {
        MDB_txn *a, *b;
        UT_EQ(rsp_db_read_begin(env, &a), 0);
        UT_EQ(rsp_db_read_begin(env2, &b), 0);
        UT_CHECK(a != b);
        rsp_db_read_end(env2);
        rsp_db_read_end(env);
        rsp_db_close(env2);
    }
    rm_env_dir(dir2);
    rsp_db_close(env);
    rm_env_dir(dir);
}

/* ---- misuse is refused, not deadlocked ---- */

static int g_inner_rc;

static int apply_reads(rsp_db_wtxn *t, void *arg)
{
    MDB_txn *txn;
    (void)t;
    g_inner_rc = rsp_db_read_begin(arg, &txn);
    return 0;
}

static int apply_noop(rsp_db_wtxn *t, void *arg)
{
    (void)t;
    (void)arg;
    return 0;
}

static void done_sync_inside(void *arg, int result)
{
    counter *c = arg;
    kv_job put = {1, 1, 0};
    (void)result;
    g_inner_rc = rsp_db_write_sync(g_env, apply_kv, &put);
    done_count(c, 0);
}

static void test_misuse(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    kv_job put = {1, 1, 0};
    g_inner_rc = -1;
    UT_EQ(rsp_db_write_sync(env, apply_reads, env), 0);
    UT_EQ(g_inner_rc, EDEADLK);
    g_inner_rc = -1;
    UT_EQ(rsp_db_submit(env, apply_noop, done_sync_inside, &c), 0);
    counter_wait(&c, 1);
    UT_EQ(g_inner_rc, EDEADLK);
    UT_EQ(rsp_db_submit(env, NULL, done_count, &c), EINVAL);
    /* An undeclared database index is refused, not mapped to the main DB. */
    MDB_txn *txn;
    MDB_val v;
    rsp_key k;
    key_id(&k, 1);
    UT_EQ(rsp_db_read_begin(env, &txn), 0);
    UT_EQ(rsp_db_get(txn, rsp_db_dbi(env, DB_COUNT), &k, &v), EINVAL);
    rsp_db_read_end(env);
    UT_EQ(rsp_db_submit(env, apply_kv, NULL, &put), EINVAL);
    rsp_db_close(env);

    rsp_db_env *e = (rsp_db_env *)1;
    rsp_db_config bad = {.env_flags = MDB_WRITEMAP};
    UT_EQ(rsp_db_open(&e, dir, specs, DB_COUNT, &bad), EINVAL);
    UT_CHECK(e == NULL);
    rm_env_dir(dir);
}

/* ---- close drains the queue, including follow-ups submitted by done ---- */

typedef struct chain_job {
    kv_job kv;
    struct chain_job *then;
    int result;
} chain_job;

static int apply_chain(rsp_db_wtxn *t, void *arg)
{
    return apply_kv(t, &((chain_job *)arg)->kv);
}

static void done_chain(void *arg, int result)
{
    chain_job *j = arg;
    j->result = result;
    if (j->then)
        j->then->result = rsp_db_submit(g_env, apply_chain, done_chain, j->then);
}

static void test_close_drains(void)
{
    char *dir = tmp_env_dir();
    rsp_db_env *env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (!env)
        return;
    g_env = env;
    static chain_job jobs[300];
    for (uint32_t i = 0; i < 300; i++) {
        jobs[i] = (chain_job){{i, i + 1, 0}, NULL, -99};
        if (i < 100)
            jobs[i].then = &jobs[200 + i];
        if (i < 200)
            UT_EQ(rsp_db_submit(env, apply_chain, done_chain, &jobs[i]), 0);
    }
    rsp_db_close(env);
    unsigned ok = 0;
    for (uint32_t i = 0; i < 300; i++)
        ok += jobs[i].result == 0;
    UT_EQ(ok, 300);
    env = open_env(dir, NULL);
    UT_CHECK(env != NULL);
    if (env) {
        unsigned present = 0;
        for (uint32_t i = 0; i < 300; i++)
            present += read_id(env, i) == i + 1;
        UT_EQ(present, 300);
        rsp_db_close(env);
    }
    rm_env_dir(dir);
}

/* ---- durability: acknowledged writes survive SIGKILL ---- */

#define CRASH_THREADS 4

static int g_ack_fd;
static sem_t g_inflight;

typedef struct crash_job {
    uint32_t id;
} crash_job;

static int apply_crash(rsp_db_wtxn *t, void *arg)
{
    crash_job *j = arg;
    rsp_key k;
    key_id(&k, j->id);
    return rsp_db_put(t, rsp_db_dbi(g_env, DB_MAIN), &k, &j->id, sizeof(j->id), 0);
}

static void done_crash(void *arg, int result)
{
    crash_job *j = arg;
    if (result == 0 && write(g_ack_fd, &j->id, sizeof(j->id)) != sizeof(j->id))
        _exit(3);
    free(j);
    sem_post(&g_inflight);
}

static void *crash_submitter(void *arg)
{
    uint32_t base = (uint32_t)(uintptr_t)arg;
    for (uint32_t i = 0;; i++) {
        crash_job *j = malloc(sizeof(*j));
        if (!j)
            _exit(4);
        j->id = base + i;
        sem_wait(&g_inflight);
        if (rsp_db_submit(g_env, apply_crash, done_crash, j) != 0)
            _exit(5);
    }
    return NULL;
}

static void crash_child(const char *dir, int fd, uint32_t round)
{
    g_ack_fd = fd;
    sem_init(&g_inflight, 0, 256);
    if (!(g_env = open_env(dir, NULL)))
        _exit(6);
    for (uintptr_t t = 0; t < CRASH_THREADS; t++) {
        pthread_t tid;
        pthread_create(&tid, NULL, crash_submitter, (void *)(uintptr_t)(round * 10000000u + t * 1000000u));
    }
    for (;;)
        pause();
}

static void test_crash_durability(void)
{
    char *dir = tmp_env_dir();
    static const unsigned kill_after[] = {50, 700 / JOB_SCALE, 3000 / JOB_SCALE};
    uint32_t *acked = NULL;
    size_t nacked = 0, cap = 0;

    for (uint32_t round = 0; round < 3; round++) {
        int fds[2];
        if (pipe(fds) != 0) {
            UT_CHECK(0);
            break;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            crash_child(dir, fds[1], round + 1);
        }
        close(fds[1]);
        UT_CHECK(pid > 0);
        size_t got = 0;
        uint32_t id;
        bool killed = false;
        /* Read acks; kill mid-stream, then drain what was already sent. */
        while (read(fds[0], &id, sizeof(id)) == sizeof(id)) {
            if (nacked == cap) {
                cap = cap ? cap * 2 : 1024;
                acked = realloc(acked, cap * sizeof(*acked));
            }
            acked[nacked++] = id;
            if (++got == kill_after[round] && !killed) {
                kill(pid, SIGKILL);
                killed = true;
            }
        }
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        UT_CHECK(killed);
        UT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        UT_CHECK(got >= kill_after[round]);

        rsp_db_env *env = open_env(dir, NULL);
        UT_CHECK(env != NULL);
        if (!env)
            break;
        size_t present = 0;
        for (size_t i = 0; i < nacked; i++)
            present += read_id(env, acked[i]) != -1;
        UT_EQ(present, nacked);
        printf("  round %u: %zu acked before and after SIGKILL, all present\n", round + 1, got);
        rsp_db_close(env);
    }
    free(acked);
    rm_env_dir(dir);
}

int main(void)
{
    UT_RUN(test_key_order);
    UT_RUN(test_key_overflow);
    UT_RUN(test_put_get_del);
    UT_RUN(test_next_seq);
    UT_RUN(test_sticky);
    UT_RUN(test_prefix_iter);
    UT_RUN(test_group_commit_threads);
    UT_RUN(test_failing_job_isolated);
    UT_RUN(test_refusing_job_flat);
    UT_RUN(test_prealloc);
    UT_RUN(test_batch_limit);
    UT_RUN(test_map_growth);
    UT_RUN(test_map_ceiling);
    UT_RUN(test_reader_slots);
    UT_RUN(test_misuse);
    UT_RUN(test_close_drains);
    UT_RUN(test_crash_durability);
    return ut_finish();
}
