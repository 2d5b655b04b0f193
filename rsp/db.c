/*
 * rsp/db.c - LMDB environment, per-thread readers, key builder and the
 * group-commit writer.  See db.h for the contract.
 *
 * Map growth: mdb_env_set_mapsize() remaps the file, which is only safe
 * while no transaction of this process is live (LMDB does not check).  Every
 * live transaction (reads, and the writer's batch) therefore holds
 * env->resize shared; a remap takes it exclusively.  The lock prefers
 * writers, so a pending remap is not starved by a stream of new readers.
 * Reset (idle) read transactions hold no pages and survive a remap: renew
 * re-reads the meta pages from the new mapping.
 */
#include "rsp/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DB_DEFAULT_MAP ((size_t)64 << 20)
#define DB_DEFAULT_MAP_MAX ((size_t)256 << 30)
#define DB_DEFAULT_READERS 256
#define DB_DEFAULT_BATCH 256
#define DB_BATCH_LIMIT 65536
#define DB_ALLOWED_FLAGS (MDB_NOSYNC | MDB_NOMETASYNC | MDB_NORDAHEAD | MDB_NOMEMINIT)
/* Written space kept past the pages LMDB uses (see db_prealloc): a step as
 * large as the data, within these bounds; a new step when a quarter is left. */
#define DB_PREALLOC_MIN ((off_t)1 << 20)
#define DB_PREALLOC_MAX ((off_t)16 << 20)

typedef struct db_job {
    struct db_job *next;
    rsp_db_apply_cb apply;
    rsp_db_done_cb done;
    void *arg;
    int result;
} db_job;

struct rsp_db_wtxn {
    MDB_txn *txn;
    int err;
    unsigned writes; /* writes that changed (or may have changed) the txn */
};

/*
 * A thread's cached read transaction for one env.  It sits on the thread's
 * list (owned and freed by the thread) and on the env's list (so close can
 * abort it).  Both env lists and the dead flag change under g_readers_lock;
 * a dead entry's env is gone and only the thread may free it.
 */
typedef struct db_reader {
    struct db_reader *tnext;
    struct db_reader *enext, **eprev;
    uint64_t env_id;
    MDB_txn *txn;
    unsigned depth;
    atomic_bool dead;
} db_reader;

struct rsp_db_env {
    MDB_env *mdb;
    uint64_t id; /* never reused, unlike the pointer: keys thread caches */
    unsigned ndbs;
    MDB_dbi *dbis;
    unsigned batch_max;
    bool prealloc;         /* durable env: extend the data file ahead */
    size_t psize;          /* LMDB page size */
    off_t prealloc_failed; /* writer only: no retry until the file reaches this */

    pthread_rwlock_t resize; /* shared by live txns, exclusive to remap */
    size_t map_size;         /* under resize */
    size_t map_max;
    int fatal; /* set under resize held exclusively: a failed remap */

    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    db_job *qhead, **qtail;
    uint64_t queued;
    bool stopping;
    pthread_t writer;

    pthread_mutex_t slock;
    rsp_db_stats stats;

    db_reader *readers; /* under g_readers_lock */
};

static pthread_mutex_t g_readers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_reader_key;
static atomic_uint_fast64_t g_env_ids;
static __thread db_reader *t_readers;
static __thread bool t_in_apply;

/* ---- key builder ---- */

static uint8_t *key_room(rsp_key *k, size_t n)
{
    if (k->err)
        return NULL;
    if (n > RSP_KEY_MAX - k->len) {
        k->err = MDB_BAD_VALSIZE;
        return NULL;
    }
    uint8_t *p = k->buf + k->len;
    k->len += n;
    return p;
}

static void key_be(rsp_key *k, uint64_t v, size_t n)
{
    uint8_t *p = key_room(k, n);
    if (!p)
        return;
    for (size_t i = n; i-- > 0; v >>= 8)
        p[i] = (uint8_t)v;
}

void rsp_key_u8(rsp_key *k, uint8_t v)
{
    key_be(k, v, 1);
}

void rsp_key_u16(rsp_key *k, uint16_t v)
{
    key_be(k, v, 2);
}

void rsp_key_u32(rsp_key *k, uint32_t v)
{
    key_be(k, v, 4);
}

void rsp_key_u64(rsp_key *k, uint64_t v)
{
    key_be(k, v, 8);
}

void rsp_key_i64(rsp_key *k, int64_t v)
{
    key_be(k, (uint64_t)v ^ ((uint64_t)1 << 63), 8);
}

void rsp_key_bytes(rsp_key *k, const void *p, size_t n)
{
    uint8_t *d = key_room(k, n);
    if (d && n)
        memcpy(d, p, n);
}

void rsp_key_str(rsp_key *k, const char *s)
{
    rsp_key_bytes(k, s, strlen(s) + 1);
}

void rsp_key_lstr(rsp_key *k, const void *p, size_t n)
{
    /* Check the whole field first so a failed append leaves no half field. */
    if (!k->err && (n > UINT16_MAX || n + 2 > RSP_KEY_MAX - k->len)) {
        k->err = MDB_BAD_VALSIZE;
        return;
    }
    rsp_key_u16(k, (uint16_t)n);
    rsp_key_bytes(k, p, n);
}

MDB_val rsp_key_val(const rsp_key *k)
{
    MDB_val v = {k->len, (void *)k->buf};
    return v;
}

/* ---- environment ---- */

static size_t round_page(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (n > SIZE_MAX - pg)
        return SIZE_MAX / pg * pg;
    return (n + pg - 1) / pg * pg;
}

static void db_once(void);
static void *db_writer(void *arg);

int rsp_db_open(rsp_db_env **out, const char *dir, const rsp_db_spec *dbs, unsigned ndbs,
                const rsp_db_config *cfg)
{
    static const rsp_db_config defaults;
    rsp_db_env *env;
    MDB_txn *txn;
    MDB_envinfo info;
    int rc;

    if (!out)
        return EINVAL;
    *out = NULL;
    if (!cfg)
        cfg = &defaults;
    if (!dir || (ndbs && !dbs) || (cfg->env_flags & ~(unsigned)DB_ALLOWED_FLAGS) ||
        cfg->batch_max > DB_BATCH_LIMIT)
        return EINVAL;
    for (unsigned i = 0; i < ndbs; i++)
        if (!dbs[i].name)
            return EINVAL;
    pthread_once(&g_once, db_once);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return errno;

    env = calloc(1, sizeof(*env));
    if (!env || !(env->dbis = calloc(ndbs ? ndbs : 1, sizeof(MDB_dbi)))) {
        free(env);
        return ENOMEM;
    }
    env->ndbs = ndbs;
    env->batch_max = cfg->batch_max ? cfg->batch_max : DB_DEFAULT_BATCH;
    env->map_max = round_page(cfg->map_size_max ? cfg->map_size_max : DB_DEFAULT_MAP_MAX);

    if ((rc = mdb_env_create(&env->mdb)) != 0)
        goto fail_free;
    if ((rc = mdb_env_set_maxdbs(env->mdb, ndbs)) != 0 ||
        (rc = mdb_env_set_mapsize(env->mdb, round_page(cfg->map_size ? cfg->map_size : DB_DEFAULT_MAP))) !=
            0 ||
        (rc = mdb_env_set_maxreaders(env->mdb, cfg->max_readers ? cfg->max_readers : DB_DEFAULT_READERS)) !=
            0 ||
        (rc = mdb_env_open(env->mdb, dir, MDB_NOTLS | cfg->env_flags, cfg->mode ? cfg->mode : 0600)) != 0)
        goto fail_env;
    /* rsp_key promises its bound is storable. */
    if (mdb_env_get_maxkeysize(env->mdb) < RSP_KEY_MAX) {
        rc = MDB_INCOMPATIBLE;
        goto fail_env;
    }
    if ((rc = mdb_txn_begin(env->mdb, NULL, 0, &txn)) != 0)
        goto fail_env;
    for (unsigned i = 0; i < ndbs; i++) {
        if ((rc = mdb_dbi_open(txn, dbs[i].name, dbs[i].flags | MDB_CREATE, &env->dbis[i])) != 0) {
            mdb_txn_abort(txn);
            goto fail_env;
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        goto fail_env;
    mdb_env_info(env->mdb, &info);
    env->map_size = info.me_mapsize;
    if (env->map_max < env->map_size)
        env->map_max = env->map_size;
    MDB_stat ms;
    if (mdb_env_stat(env->mdb, &ms) == 0) {
        env->psize = ms.ms_psize;
        env->prealloc = !(cfg->env_flags & MDB_NOSYNC);
    }

    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&env->resize, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&env->qlock, NULL);
    pthread_cond_init(&env->qcond, NULL);
    pthread_mutex_init(&env->slock, NULL);
    env->qtail = &env->qhead;
    env->stats.map_size = env->map_size;
    env->id = atomic_fetch_add(&g_env_ids, 1) + 1;

    if ((rc = pthread_create(&env->writer, NULL, db_writer, env)) != 0) {
        pthread_rwlock_destroy(&env->resize);
        pthread_mutex_destroy(&env->qlock);
        pthread_cond_destroy(&env->qcond);
        pthread_mutex_destroy(&env->slock);
        goto fail_env;
    }
    *out = env;
    return 0;

fail_env:
    mdb_env_close(env->mdb);
fail_free:
    free(env->dbis);
    free(env);
    return rc;
}

/* Frees the calling thread's cache entries whose env has closed. */
static void reader_prune(void)
{
    db_reader **pp = &t_readers, *r;
    while ((r = *pp) != NULL) {
        if (atomic_load(&r->dead)) {
            *pp = r->tnext;
            free(r);
        } else {
            pp = &r->tnext;
        }
    }
}

void rsp_db_close(rsp_db_env *env)
{
    if (!env)
        return;
    pthread_mutex_lock(&env->qlock);
    env->stopping = true;
    pthread_cond_broadcast(&env->qcond);
    pthread_mutex_unlock(&env->qlock);
    pthread_join(env->writer, NULL);

    /* With MDB_NOTLS a reset read txn may be aborted from any thread. */
    pthread_mutex_lock(&g_readers_lock);
    for (db_reader *r = env->readers, *next; r; r = next) {
        next = r->enext;
        if (r->txn)
            mdb_txn_abort(r->txn);
        r->txn = NULL;
        r->enext = NULL;
        r->eprev = NULL;
        atomic_store(&r->dead, true);
    }
    env->readers = NULL;
    pthread_mutex_unlock(&g_readers_lock);
    reader_prune();

    mdb_env_close(env->mdb);
    pthread_rwlock_destroy(&env->resize);
    pthread_mutex_destroy(&env->qlock);
    pthread_cond_destroy(&env->qcond);
    pthread_mutex_destroy(&env->slock);
    free(env->dbis);
    free(env);
}

MDB_dbi rsp_db_dbi(const rsp_db_env *env, unsigned i)
{
    /* Out of range: a handle LMDB refuses (EINVAL), never the main DB. */
    return i < env->ndbs ? env->dbis[i] : (MDB_dbi)-1;
}

MDB_env *rsp_db_mdb(rsp_db_env *env)
{
    return env->mdb;
}

/*
 * Remaps the file: size 0 adopts the size another process recorded (after
 * MDB_MAP_RESIZED), otherwise the map doubles up to map_max.  Takes the
 * resize lock exclusively, so no transaction of this process is live.
 */
static int db_remap(rsp_db_env *env, bool grow)
{
    MDB_envinfo info;
    size_t size = 0;
    int rc;

    pthread_rwlock_wrlock(&env->resize);
    rc = env->fatal;
    if (!rc && grow) {
        if (env->map_size >= env->map_max)
            rc = MDB_MAP_FULL;
        else
            size = env->map_size > env->map_max / 2 ? env->map_max : round_page(env->map_size * 2);
    }
    if (!rc) {
        rc = mdb_env_set_mapsize(env->mdb, size);
        /* A failed mmap leaves LMDB with no map: nothing may touch it now. */
        if (rc && rc != EINVAL)
            env->fatal = rc;
        mdb_env_info(env->mdb, &info);
        if (!rc)
            env->map_size = info.me_mapsize;
    }
    size = env->map_size;
    pthread_rwlock_unlock(&env->resize);

    pthread_mutex_lock(&env->slock);
    env->stats.map_size = size;
    if (!rc && grow)
        env->stats.map_grows++;
    pthread_mutex_unlock(&env->slock);
    return rc;
}

/* ---- readers ---- */

static void reader_thread_exit(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&g_readers_lock);
    for (db_reader *r = t_readers, *next; r; r = next) {
        next = r->tnext;
        if (!atomic_load(&r->dead)) {
            /* The env is still open (close marks entries dead under this lock). */
            *r->eprev = r->enext;
            if (r->enext)
                r->enext->eprev = r->eprev;
            if (r->txn)
                mdb_txn_abort(r->txn);
        }
        free(r);
    }
    t_readers = NULL;
    pthread_mutex_unlock(&g_readers_lock);
}

static void db_once(void)
{
    pthread_key_create(&g_reader_key, reader_thread_exit);
}

static db_reader *reader_get(rsp_db_env *env, bool create)
{
    db_reader **pp = &t_readers, *r;
    while ((r = *pp) != NULL) {
        if (atomic_load(&r->dead)) {
            *pp = r->tnext;
            free(r);
            continue;
        }
        if (r->env_id == env->id)
            return r;
        pp = &r->tnext;
    }
    if (!create || !(r = calloc(1, sizeof(*r))))
        return NULL;
    r->env_id = env->id;
    r->tnext = t_readers;
    t_readers = r;
    /* Any non-NULL value makes the destructor run at thread exit. */
    pthread_setspecific(g_reader_key, r);
    pthread_mutex_lock(&g_readers_lock);
    r->enext = env->readers;
    if (r->enext)
        r->enext->eprev = &r->enext;
    r->eprev = &env->readers;
    env->readers = r;
    pthread_mutex_unlock(&g_readers_lock);
    return r;
}

int rsp_db_read_begin(rsp_db_env *env, MDB_txn **txn)
{
    db_reader *r;
    int rc;

    if (t_in_apply)
        return EDEADLK;
    if (!(r = reader_get(env, true)))
        return ENOMEM;
    if (r->depth) {
        r->depth++;
        *txn = r->txn;
        return 0;
    }
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&env->resize);
        rc = env->fatal;
        if (!rc && r->txn) {
            rc = mdb_txn_renew(r->txn);
            if (rc) {
                /* A failed renew leaves the handle finished: start afresh. */
                mdb_txn_abort(r->txn);
                r->txn = NULL;
            }
        } else if (!rc) {
            rc = mdb_txn_begin(env->mdb, NULL, MDB_RDONLY, &r->txn);
            if (rc)
                r->txn = NULL;
        }
        if (!rc)
            break;
        pthread_rwlock_unlock(&env->resize);
        /* Another process grew the map: adopt its size and retry. */
        if (rc != MDB_MAP_RESIZED || tries >= 3 || (rc = db_remap(env, false)) != 0)
            return rc;
    }
    r->depth = 1;
    *txn = r->txn;
    return 0;
}

void rsp_db_read_end(rsp_db_env *env)
{
    db_reader *r = reader_get(env, false);
    if (!r || !r->depth)
        return;
    if (--r->depth == 0) {
        mdb_txn_reset(r->txn);
        pthread_rwlock_unlock(&env->resize);
    }
}

int rsp_db_get(MDB_txn *txn, MDB_dbi dbi, const rsp_key *key, MDB_val *val)
{
    if (key->err)
        return key->err;
    MDB_val k = rsp_key_val(key);
    return mdb_get(txn, dbi, &k, val);
}

/* ---- prefix iteration ---- */

enum { IT_START, IT_RUN, IT_END };

int rsp_db_iter_open(rsp_db_iter *it, MDB_txn *txn, MDB_dbi dbi, const rsp_key *prefix)
{
    it->cur = NULL;
    it->err = 0;
    it->state = IT_START;
    it->plen = 0;
    if (prefix) {
        if (prefix->err)
            return prefix->err;
        memcpy(it->prefix, prefix->buf, prefix->len);
        it->plen = prefix->len;
    }
    return mdb_cursor_open(txn, dbi, &it->cur);
}

static bool has_prefix(const MDB_val *k, const uint8_t *p, size_t n)
{
    return n == 0 || (k->mv_size >= n && memcmp(k->mv_data, p, n) == 0);
}

bool rsp_db_iter_next(rsp_db_iter *it, MDB_val *key, MDB_val *val)
{
    MDB_val k = {it->plen, it->prefix}, v;
    int rc;

    if (it->state == IT_END)
        return false;
    if (it->state == IT_START)
        rc = mdb_cursor_get(it->cur, &k, &v, it->plen ? MDB_SET_RANGE : MDB_FIRST);
    else
        rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
    it->state = IT_RUN;
    if (rc || !has_prefix(&k, it->prefix, it->plen)) {
        it->state = IT_END;
        it->err = rc == MDB_NOTFOUND ? 0 : rc;
        return false;
    }
    if (key)
        *key = k;
    if (val)
        *val = v;
    return true;
}

void rsp_db_iter_close(rsp_db_iter *it)
{
    if (it->cur)
        mdb_cursor_close(it->cur);
    it->cur = NULL;
    it->state = IT_END;
}

/* ---- write helpers (sticky error) ---- */

static int wtxn_record(rsp_db_wtxn *t, int rc)
{
    if (rc == 0)
        t->writes++;
    else if (rc != MDB_KEYEXIST && rc != MDB_NOTFOUND && !t->err)
        t->err = rc;
    return rc;
}

MDB_txn *rsp_db_wtxn_txn(rsp_db_wtxn *t)
{
    return t->txn;
}

int rsp_db_wtxn_err(const rsp_db_wtxn *t)
{
    return t->err;
}

int rsp_db_put(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *key, const void *data, size_t len, unsigned flags)
{
    if (t->err)
        return t->err;
    if (key->err)
        return wtxn_record(t, key->err);
    if (flags & MDB_RESERVE)
        return wtxn_record(t, EINVAL);
    MDB_val k = rsp_key_val(key), v = {len, (void *)data};
    return wtxn_record(t, mdb_put(t->txn, dbi, &k, &v, flags));
}

void *rsp_db_reserve(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *key, size_t len, unsigned flags)
{
    if (t->err)
        return NULL;
    if (key->err) {
        wtxn_record(t, key->err);
        return NULL;
    }
    MDB_val k = rsp_key_val(key), v = {len, NULL};
    if (wtxn_record(t, mdb_put(t->txn, dbi, &k, &v, flags | MDB_RESERVE)) != 0)
        return NULL;
    return v.mv_data;
}

int rsp_db_del(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *key, const void *data, size_t len)
{
    if (t->err)
        return t->err;
    if (key->err)
        return wtxn_record(t, key->err);
    MDB_val k = rsp_key_val(key), v = {len, (void *)data};
    return wtxn_record(t, mdb_del(t->txn, dbi, &k, data ? &v : NULL));
}

int rsp_db_del_prefix(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *prefix, size_t *n)
{
    MDB_cursor *c;
    size_t count = 0;
    size_t plen = prefix ? prefix->len : 0;
    int rc;

    if (n)
        *n = 0;
    if (t->err)
        return t->err;
    if (prefix && prefix->err)
        return wtxn_record(t, prefix->err);
    if ((rc = mdb_cursor_open(t->txn, dbi, &c)) != 0)
        return wtxn_record(t, rc);
    for (;;) {
        /* Re-seek after each delete rather than rely on cursor position. */
        MDB_val k = {plen, plen ? (void *)prefix->buf : NULL}, v;
        rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
        if (rc == MDB_NOTFOUND || (!rc && !has_prefix(&k, plen ? prefix->buf : NULL, plen))) {
            rc = 0;
            break;
        }
        if (rc || (rc = mdb_cursor_del(c, MDB_NODUPDATA)) != 0)
            break;
        count++;
    }
    mdb_cursor_close(c);
    if (n)
        *n = count;
    return wtxn_record(t, rc);
}

/* ---- group commit ---- */

static uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static unsigned hist_bucket(uint64_t n)
{
    unsigned b = 0;
    while (n > 1 && b < RSP_DB_HIST_BUCKETS - 1) {
        n >>= 1;
        b++;
    }
    return b;
}

/*
 * Keeps written zeros past the last page LMDB uses.  A commit that writes past the end of the file grows
 * it and allocates blocks: its fdatasync then also writes the inode and the
 * allocation metadata, each a synchronous I/O of its own.  Writing the
 * space ahead, a step at a time, leaves commits with their data and meta
 * pages (and the inode's times) only.  Called by the writer right after it began a write
 * transaction: the LMDB write lock keeps other processes from committing,
 * and pages past the last used one hold nothing yet.  Failures (a full disk)
 * only cost the optimisation.
 */
static void db_prealloc(rsp_db_env *env)
{
    static const char zeros[1 << 16];
    MDB_envinfo info;
    struct stat st;
    int fd;

    if (!env->prealloc || mdb_env_get_fd(env->mdb, &fd) != 0 || fstat(fd, &st) != 0)
        return;
    mdb_env_info(env->mdb, &info);
    off_t used = (off_t)(info.me_last_pgno + 1) * (off_t)env->psize;
    off_t step = used < DB_PREALLOC_MIN ? DB_PREALLOC_MIN : used > DB_PREALLOC_MAX ? DB_PREALLOC_MAX : used;
    step -= step % (off_t)env->psize;
    off_t end = used + step;
    if (end > (off_t)env->map_size)
        end = (off_t)env->map_size;
    if (st.st_size - used >= step / 4 || st.st_size >= end || st.st_size < env->prealloc_failed)
        return;
    for (off_t off = st.st_size; off < end;) {
        size_t n = end - off < (off_t)sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
        ssize_t w = pwrite(fd, zeros, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            env->prealloc_failed = end;
            return;
        }
        off += w;
    }
    env->prealloc_failed = 0;
}

/* Records the batch and calls every done; rc is the begin/commit result. */
static void db_complete(rsp_db_env *env, db_job *jobs, int rc, uint64_t usec)
{
    uint64_t n = 0, failed = 0;
    for (db_job *j = jobs; j; j = j->next) {
        n++;
        if (rc || j->result)
            failed++;
    }
    pthread_mutex_lock(&env->slock);
    if (rc)
        env->stats.commit_failures++;
    else
        env->stats.commits++;
    env->stats.jobs += n;
    env->stats.jobs_failed += failed;
    env->stats.batch_hist[hist_bucket(n)]++;
    if (n > env->stats.batch_max_seen)
        env->stats.batch_max_seen = n;
    env->stats.commit_usec += usec;
    pthread_mutex_unlock(&env->slock);

    for (db_job *j = jobs, *next; j; j = next) {
        next = j->next;
        j->done(j->arg, rc ? rc : j->result);
        free(j);
    }
}

/*
 * Applies one job straight in the batch transaction.  Returns false when
 * the job cannot be kept apart from the others that way: it recorded a
 * write error (LMDB may have marked the whole transaction failed), or it
 * failed after writing.  A job that fails before its first write leaves
 * nothing behind, so its failure is its own.
 */
static bool db_apply_flat(MDB_txn *txn, db_job *j)
{
    rsp_db_wtxn wt = {txn, 0, 0};
    t_in_apply = true;
    int r = j->apply(&wt, j->arg);
    t_in_apply = false;
    if (wt.err || (r && wt.writes))
        return false;
    j->result = r;
    return true;
}

/* Applies one job in a nested transaction of parent. */
static int db_apply(rsp_db_env *env, MDB_txn *parent, db_job *j, int *sticky)
{
    rsp_db_wtxn wt = {NULL, 0, 0};
    int r = mdb_txn_begin(env->mdb, parent, 0, &wt.txn);
    if (r == 0) {
        t_in_apply = true;
        r = j->apply(&wt, j->arg);
        t_in_apply = false;
        if (!r)
            r = wt.err;
        if (!r)
            r = mdb_txn_commit(wt.txn);
        else
            mdb_txn_abort(wt.txn);
    }
    *sticky = wt.err;
    return r;
}

/*
 * Runs jobs in one transaction, commits once and completes them.
 *
 * The jobs first run flat, straight in the batch transaction (a nested
 * transaction per job costs LMDB a dirty-page list and a merge into the
 * parent).  When a job cannot be isolated that way (db_apply_flat), or the
 * commit finds the transaction failed (MDB_BAD_TXN), the batch is rolled
 * back and run again with one nested transaction per job, so a job whose
 * apply fails is rolled back alone.  On MDB_MAP_FULL (in a job or the
 * commit) the batch is rolled back, the map grown and the batch run again;
 * once the map is at its ceiling, MAP_FULL is an ordinary job (or commit)
 * failure.  A job hitting MDB_TXN_FULL after others ends the batch before
 * it: those jobs are returned for the next transaction.
 */
static db_job *db_run_batch(rsp_db_env *env, db_job *jobs)
{
    db_job *rest = NULL;
    uint64_t usec = 0;
    int rc, resized = 0;
    bool nested = false;

    for (;;) {
        MDB_txn *txn;
        db_job *j, *prev = NULL;
        bool grow = false, redo = false;

        pthread_rwlock_rdlock(&env->resize);
        rc = env->fatal;
        if (!rc)
            rc = mdb_txn_begin(env->mdb, NULL, 0, &txn);
        if (rc) {
            pthread_rwlock_unlock(&env->resize);
            if (rc == MDB_MAP_RESIZED && resized++ < 3 && db_remap(env, false) == 0)
                continue;
            break;
        }
        bool can_grow = env->map_size < env->map_max;
        db_prealloc(env);
        for (j = nested ? NULL : jobs; j; j = j->next)
            if (!db_apply_flat(txn, j)) {
                redo = true;
                break;
            }
        for (j = nested ? jobs : NULL; j; prev = j, j = j->next) {
            int sticky, r = db_apply(env, txn, j, &sticky);
            if (can_grow && (r == MDB_MAP_FULL || sticky == MDB_MAP_FULL)) {
                grow = true;
                break;
            }
            if (prev && (r == MDB_TXN_FULL || sticky == MDB_TXN_FULL)) {
                /* Split: j and the jobs after it go to the next transaction. */
                db_job *last = j;
                while (last->next)
                    last = last->next;
                last->next = rest;
                rest = j;
                prev->next = NULL;
                break;
            }
            j->result = r;
        }
        if (grow || redo) {
            mdb_txn_abort(txn);
        } else {
            uint64_t t0 = now_usec();
            rc = mdb_txn_commit(txn);
            usec = now_usec() - t0;
            grow = rc == MDB_MAP_FULL && can_grow;
            redo = rc == MDB_BAD_TXN && !nested;
        }
        pthread_rwlock_unlock(&env->resize);
        if (redo) {
            nested = true;
            continue;
        }
        if (!grow)
            break;
        if ((rc = db_remap(env, true)) != 0)
            break;
        pthread_mutex_lock(&env->slock);
        env->stats.retries++;
        pthread_mutex_unlock(&env->slock);
    }
    db_complete(env, jobs, rc, usec);
    return rest;
}

static void *db_writer(void *arg)
{
    rsp_db_env *env = arg;
    for (;;) {
        pthread_mutex_lock(&env->qlock);
        while (!env->qhead && !env->stopping)
            pthread_cond_wait(&env->qcond, &env->qlock);
        db_job *batch = env->qhead, *last = batch;
        if (!batch) {
            pthread_mutex_unlock(&env->qlock);
            break;
        }
        unsigned n = 1;
        while (n < env->batch_max && last->next) {
            last = last->next;
            n++;
        }
        env->qhead = last->next;
        if (!env->qhead)
            env->qtail = &env->qhead;
        env->queued -= n;
        pthread_mutex_unlock(&env->qlock);
        last->next = NULL;

        while (batch)
            batch = db_run_batch(env, batch);
    }
    return NULL;
}

int rsp_db_submit(rsp_db_env *env, rsp_db_apply_cb apply, rsp_db_done_cb done, void *arg)
{
    db_job *j;

    if (!env || !apply || !done)
        return EINVAL;
    if (!(j = malloc(sizeof(*j))))
        return ENOMEM;
    j->next = NULL;
    j->apply = apply;
    j->done = done;
    j->arg = arg;
    j->result = 0;
    pthread_mutex_lock(&env->qlock);
    if (env->stopping && !pthread_equal(pthread_self(), env->writer)) {
        pthread_mutex_unlock(&env->qlock);
        free(j);
        return ESHUTDOWN;
    }
    *env->qtail = j;
    env->qtail = &j->next;
    env->queued++;
    pthread_cond_signal(&env->qcond);
    pthread_mutex_unlock(&env->qlock);
    return 0;
}

typedef struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    rsp_db_apply_cb apply;
    void *arg;
    bool done;
    int result;
} sync_wait;

static int sync_apply(rsp_db_wtxn *t, void *arg)
{
    sync_wait *w = arg;
    return w->apply(t, w->arg);
}

static void sync_done(void *arg, int result)
{
    sync_wait *w = arg;
    pthread_mutex_lock(&w->lock);
    w->result = result;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int rsp_db_write_sync(rsp_db_env *env, rsp_db_apply_cb apply, void *arg)
{
    sync_wait w = {.apply = apply, .arg = arg};
    int rc;

    if (!env || !apply)
        return EINVAL;
    if (pthread_equal(pthread_self(), env->writer))
        return EDEADLK;
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    rc = rsp_db_submit(env, sync_apply, sync_done, &w);
    if (rc == 0) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        rc = w.result;
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    return rc;
}

void rsp_db_stats_get(rsp_db_env *env, rsp_db_stats *out)
{
    pthread_mutex_lock(&env->slock);
    *out = env->stats;
    pthread_mutex_unlock(&env->slock);
    pthread_mutex_lock(&env->qlock);
    out->queued = env->queued;
    pthread_mutex_unlock(&env->qlock);
}

static void stat_line(FILE *f, const char *prefix, const char *name, const char *type, const char *help,
                      uint64_t v)
{
    fprintf(f, "# HELP %s_db_%s %s\n# TYPE %s_db_%s %s\n%s_db_%s %llu\n", prefix, name, help, prefix, name,
            type, prefix, name, (unsigned long long)v);
}

void rsp_db_stats_write(FILE *f, const char *prefix, const rsp_db_stats *s)
{
    stat_line(f, prefix, "commits_total", "counter", "group-commit transactions committed", s->commits);
    stat_line(f, prefix, "commit_failures_total", "counter", "group-commit transactions that failed",
              s->commit_failures);
    stat_line(f, prefix, "jobs_total", "counter", "writes completed", s->jobs);
    stat_line(f, prefix, "jobs_failed_total", "counter", "writes completed with an error", s->jobs_failed);
    fprintf(f,
            "# HELP %s_db_commit_seconds_total time spent committing (fsync)\n"
            "# TYPE %s_db_commit_seconds_total counter\n%s_db_commit_seconds_total %.6f\n",
            prefix, prefix, prefix, (double)s->commit_usec / 1e6);
    stat_line(f, prefix, "queued", "gauge", "writes waiting for the writer", s->queued);
    stat_line(f, prefix, "map_size_bytes", "gauge", "LMDB map size", s->map_size);
    fprintf(
        f, "# HELP %s_db_batch_size writes per group-commit transaction\n# TYPE %s_db_batch_size histogram\n",
        prefix, prefix);
    uint64_t cum = 0;
    for (int i = 0; i < RSP_DB_HIST_BUCKETS - 1; i++) {
        cum += s->batch_hist[i];
        fprintf(f, "%s_db_batch_size_bucket{le=\"%llu\"} %llu\n", prefix, (1ull << (i + 1)) - 1,
                (unsigned long long)cum);
    }
    cum += s->batch_hist[RSP_DB_HIST_BUCKETS - 1];
    fprintf(f, "%s_db_batch_size_bucket{le=\"+Inf\"} %llu\n", prefix, (unsigned long long)cum);
    fprintf(f, "%s_db_batch_size_sum %llu\n%s_db_batch_size_count %llu\n", prefix,
            (unsigned long long)s->jobs, prefix, (unsigned long long)cum);
}

int rsp_db_next_seq(rsp_db_wtxn *t, MDB_dbi dbi, const rsp_key *key, uint64_t *out)
{
    MDB_val v;
    uint64_t cur = 0;
    int rc = rsp_db_get(rsp_db_wtxn_txn(t), dbi, key, &v);
    if (rc == 0 && v.mv_size == 8)
        cur = rsp_be64(v.mv_data);
    else if (rc == 0)
        return MDB_CORRUPTED;
    else if (rc != MDB_NOTFOUND)
        return rc;
    cur++;
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(cur >> (56 - 8 * i));
    if ((rc = rsp_db_put(t, dbi, key, be, sizeof(be), 0)))
        return rc;
    *out = cur;
    return 0;
}
