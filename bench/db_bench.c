/*
 * db_bench: durable LMDB write throughput, one write per commit versus group
 * commit (rsp/db.h) with C concurrent submitters, all in one run.
 *
 *   bazel run -c opt //bench:db_bench [-- seconds_per_phase [dir]]
 *
 * The last phase turns fsync off to show the writer's CPU ceiling; it is
 * not a durable figure.
 *
 * Every commit is durable (fsync).  Each write puts one 100-byte value under
 * a fresh 12-byte key; each submitter waits for its write before the next,
 * as a request handler would.  The data lives in a temporary directory under
 * dir (default $TMPDIR or /tmp) that is removed at the end.
 */
#include "rsp/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define VAL_LEN 100
#define MAX_SUBMITTERS 64

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_env(const char *dir)
{
    char p[4400];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

static int make_dir(const char *base, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", base, name);
    rm_env(out);
    return 0;
}

typedef struct result {
    double secs;
    uint64_t writes;
    uint64_t commits;
    uint64_t max_batch;
} result;

/* One put per durable transaction, straight on LMDB: the baseline. */
static int run_raw(const char *dir, double secs, result *r)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    uint8_t val[VAL_LEN];
    int rc;

    memset(val, 0x5a, sizeof(val));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return errno;
    if ((rc = mdb_env_create(&env)) != 0)
        return rc;
    mdb_env_set_mapsize(env, (size_t)1 << 30);
    mdb_env_set_maxdbs(env, 1);
    if ((rc = mdb_env_open(env, dir, 0, 0600)) != 0 || (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
        mdb_env_close(env);
        return rc;
    }
    if ((rc = mdb_dbi_open(txn, "bench", MDB_CREATE, &dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        mdb_env_close(env);
        return rc;
    }
    double t0 = now_sec(), t1 = t0;
    uint64_t n = 0;
    while (t1 - t0 < secs) {
        rsp_key k;
        rsp_key_init(&k);
        rsp_key_u32(&k, 0);
        rsp_key_u64(&k, n);
        MDB_val kv = rsp_key_val(&k), vv = {VAL_LEN, val};
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
            break;
        if ((rc = mdb_put(txn, dbi, &kv, &vv, 0)) != 0) {
            mdb_txn_abort(txn);
            break;
        }
        if ((rc = mdb_txn_commit(txn)) != 0)
            break;
        n++;
        t1 = now_sec();
    }
    mdb_env_close(env);
    r->secs = t1 - t0;
    r->writes = r->commits = n;
    r->max_batch = 1;
    return rc;
}

typedef struct submitter {
    rsp_db_env *env;
    MDB_dbi dbi;
    uint32_t id;
    double until;
    uint64_t writes;
    int err;
} submitter;

typedef struct put_arg {
    MDB_dbi dbi;
    uint32_t who;
    uint64_t n;
} put_arg;

static int apply_put(rsp_db_wtxn *t, void *arg)
{
    static const uint8_t val[VAL_LEN];
    put_arg *a = arg;
    rsp_key k;
    rsp_key_init(&k);
    rsp_key_u32(&k, a->who);
    rsp_key_u64(&k, a->n);
    return rsp_db_put(t, a->dbi, &k, val, sizeof(val), 0);
}

static void *submit_loop(void *arg)
{
    submitter *s = arg;
    put_arg a = {s->dbi, s->id, 0};
    while (now_sec() < s->until) {
        int rc = rsp_db_write_sync(s->env, apply_put, &a);
        if (rc) {
            s->err = rc;
            break;
        }
        a.n++;
        s->writes++;
    }
    return NULL;
}

static int run_group(const char *dir, unsigned c, unsigned batch_max, unsigned flags, double secs, result *r)
{
    static const rsp_db_spec spec = {"bench", 0};
    rsp_db_config cfg = {.map_size = (size_t)1 << 30, .batch_max = batch_max, .env_flags = flags};
    submitter s[MAX_SUBMITTERS];
    pthread_t tid[MAX_SUBMITTERS];
    rsp_db_env *env;
    rsp_db_stats st;
    int rc;

    if ((rc = rsp_db_open(&env, dir, &spec, 1, &cfg)) != 0)
        return rc;
    double t0 = now_sec();
    for (unsigned i = 0; i < c; i++) {
        s[i] = (submitter){env, rsp_db_dbi(env, 0), i + 1, t0 + secs, 0, 0};
        pthread_create(&tid[i], NULL, submit_loop, &s[i]);
    }
    r->writes = 0;
    for (unsigned i = 0; i < c; i++) {
        pthread_join(tid[i], NULL);
        r->writes += s[i].writes;
        if (s[i].err)
            rc = s[i].err;
    }
    r->secs = now_sec() - t0;
    rsp_db_stats_get(env, &st);
    r->commits = st.commits;
    r->max_batch = st.batch_max_seen;
    rsp_db_close(env);
    return rc;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    const char *tmp = argc > 2 ? argv[2] : getenv("TMPDIR");
    char base[4096], dir[4300];
    result raw = {0}, res = {0};
    int rc;

    if (secs <= 0)
        secs = 3.0;
    snprintf(base, sizeof(base), "%s/db_bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    printf("durable LMDB writes, %.1f s per phase, %d-byte values, data in %s\n", secs, VAL_LEN, base);
    printf("%-38s %10s %10s %9s %9s %8s\n", "phase", "writes/s", "commits/s", "mean bat", "max bat", "x raw");

    make_dir(base, "raw", dir, sizeof(dir));
    if ((rc = run_raw(dir, secs, &raw)) != 0) {
        fprintf(stderr, "raw: %s\n", mdb_strerror(rc));
        return 1;
    }
    rm_env(dir);
    double raw_rate = (double)raw.writes / raw.secs;
    printf("%-38s %10.0f %10.0f %9.1f %9llu %8.2f\n", "raw LMDB, 1 put per commit", raw_rate, raw_rate, 1.0,
           1ull, 1.0);

    static const struct {
        const char *name;
        unsigned c, batch_max, flags;
    } phases[] = {
        {"rsp_db batch_max=1, C=64", 64, 1, 0},
        {"rsp_db group commit, C=1", 1, 256, 0},
        {"rsp_db group commit, C=8", 8, 256, 0},
        {"rsp_db group commit, C=64", 64, 256, 0},
        /* Not durable: shows the writer's CPU ceiling (nested txn per job). */
        {"rsp_db C=64, MDB_NOSYNC (not durable)", 64, 256, MDB_NOSYNC},
    };
    double rates[sizeof(phases) / sizeof(phases[0])];
    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
        make_dir(base, "g", dir, sizeof(dir));
        rc = run_group(dir, phases[i].c, phases[i].batch_max, phases[i].flags, secs, &res);
        rm_env(dir);
        if (rc) {
            fprintf(stderr, "%s: %s\n", phases[i].name, mdb_strerror(rc));
            rmdir(base);
            return 1;
        }
        rates[i] = (double)res.writes / res.secs;
        printf("%-38s %10.0f %10.0f %9.1f %9llu %8.2f\n", phases[i].name, rates[i],
               (double)res.commits / res.secs, res.commits ? (double)res.writes / (double)res.commits : 0.0,
               (unsigned long long)res.max_batch, rates[i] / raw_rate);
    }
    printf("group commit C=64 vs one job per commit (batch_max=1, C=64): %.1fx\n", rates[3] / rates[0]);
    printf("group commit C=8 vs C=1: %.1fx, C=64 vs C=1: %.1fx\n", rates[2] / rates[1], rates[3] / rates[1]);
    rmdir(base);
    return 0;
}
