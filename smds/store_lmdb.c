#include "smds/store.h"
#include "smds/store_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/event.pb-c.h"
#include "rsp/db.h"
#include "rsp/log.h"
#include "rsp/metrics.h"

enum { DB_EVENTS, DB_IDS, DB_EXPIRY, DB_META, DB_COUNT };

static const rsp_db_spec specs[DB_COUNT] = {
    {"events", 0},
    {"ids", 0},
    {"expiry", 0},
    {"meta", 0},
};

/* Job results above this base carry an rsp_status; below are LMDB errors. */
#define ST_BASE 100000

static rsp_db_env *env_of(const smds_store *s)
{
    return s->impl;
}

static int lmdb_open(smds_store *s, const char *dir)
{
    rsp_db_config dc = {0};
    dc.map_size = s->cfg.map_size;
    dc.batch_max = s->cfg.batch_max;
    if (s->cfg.nosync)
        dc.env_flags = MDB_NOSYNC;
    rsp_db_env *env;
    int rc = rsp_db_open(&env, dir, specs, DB_COUNT, &dc);
    if (rc) {
        rsp_log(RSP_LOG_ERROR, "event store %s: %s", dir, mdb_strerror(rc));
        return -1;
    }
    s->impl = env;
    return 0;
}

static void lmdb_close(smds_store *s)
{
    rsp_db_close(env_of(s));
    s->impl = NULL;
}

static void key_event(rsp_key *k, const char *eid, uint64_t seq)
{
    rsp_key_init(k);
    rsp_key_bytes(k, eid, SMDS_EID_LEN);
    rsp_key_u64(k, seq);
}

static void key_id(rsp_key *k, const char *event_id)
{
    rsp_key_init(k);
    rsp_key_str(k, event_id);
}

static void key_expiry(rsp_key *k, uint64_t at, uint64_t seq)
{
    rsp_key_init(k);
    rsp_key_u64(k, at);
    rsp_key_u64(k, seq);
}

static int decode(const MDB_val *v, smds_event *out)
{
    Rsp__EventRecord *r = rsp__event_record__unpack(NULL, v->mv_size, v->mv_data);
    if (!r)
        return -1;
    memset(out, 0, sizeof(*out));
    smds_store_copy(out->eid, sizeof(out->eid), r->eid);
    smds_store_copy(out->event_id, sizeof(out->event_id), r->event_id);
    smds_store_copy(out->rsp_server_address, sizeof(out->rsp_server_address), r->rsp_server_address);
    smds_store_copy(out->owner, sizeof(out->owner), r->owner);
    smds_store_copy(out->root_smds, sizeof(out->root_smds), r->root_smds);
    out->seq = r->seq;
    out->created_at = r->created_at;
    out->expires_at = r->expires_at;
    out->forwarded = r->forwarded;
    out->via = r->via;
    rsp__event_record__free_unpacked(r, NULL);
    return 0;
}

/* ---- register ---- */

static int apply_register(rsp_db_wtxn *t, void *arg)
{
    struct smds_store_reg_job *j = arg;
    smds_store *s = j->s;
    smds_event *ev = j->ev;
    MDB_txn *txn = rsp_db_wtxn_txn(t);
    rsp_key k;
    MDB_val v;

    key_id(&k, ev->event_id);
    int rc = rsp_db_get(txn, rsp_db_dbi(env_of(s), DB_IDS), &k, &v);
    if (rc == 0)
        return ST_BASE + RSP_ST_EVENT_EXISTS;
    if (rc != MDB_NOTFOUND)
        return rc;

    /* Per-EID cap: a bound on what one party can make a device download. */
    rsp_key prefix;
    rsp_key_init(&prefix);
    rsp_key_bytes(&prefix, ev->eid, SMDS_EID_LEN);
    rsp_db_iter it;
    size_t count = 0;
    if ((rc = rsp_db_iter_open(&it, txn, rsp_db_dbi(env_of(s), DB_EVENTS), &prefix)) != 0)
        return rc;
    MDB_val ik, iv;
    while (count < s->cfg.per_eid_cap && rsp_db_iter_next(&it, &ik, &iv))
        count++;
    rc = it.err;
    rsp_db_iter_close(&it);
    if (rc)
        return rc;
    if (count >= s->cfg.per_eid_cap) {
        rsp_log(RSP_LOG_WARN, "EID %.8s...: per-EID event cap %zu reached", ev->eid, s->cfg.per_eid_cap);
        return ST_BASE + RSP_ST_INTERNAL;
    }

    uint64_t seq = 0;
    rsp_key mk;
    rsp_key_init(&mk);
    rsp_key_str(&mk, "seq");
    rc = rsp_db_get(txn, rsp_db_dbi(env_of(s), DB_META), &mk, &v);
    if (rc == 0 && v.mv_size == 8)
        seq = rsp_be64(v.mv_data);
    else if (rc != MDB_NOTFOUND)
        return rc ? rc : MDB_CORRUPTED;
    seq++;
    uint8_t seqbuf[8];
    for (int i = 0; i < 8; i++)
        seqbuf[i] = (uint8_t)(seq >> (56 - 8 * i));

    ev->seq = seq;
    ev->created_at = (uint64_t)j->now;
    ev->expires_at = s->cfg.max_age ? (uint64_t)j->now + s->cfg.max_age : 0;

    Rsp__EventRecord r = RSP__EVENT_RECORD__INIT;
    r.eid = ev->eid;
    r.event_id = ev->event_id;
    r.rsp_server_address = ev->rsp_server_address;
    r.owner = ev->owner;
    r.seq = ev->seq;
    r.created_at = ev->created_at;
    r.expires_at = ev->expires_at;
    r.forwarded = ev->forwarded;
    r.root_smds = ev->root_smds;
    r.via = ev->via;
    size_t len = rsp__event_record__get_packed_size(&r);
    key_event(&k, ev->eid, seq);
    uint8_t *dst = rsp_db_reserve(t, rsp_db_dbi(env_of(s), DB_EVENTS), &k, len, 0);
    if (dst)
        rsp__event_record__pack(&r, dst);

    uint8_t ref[SMDS_EID_LEN + 8];
    memcpy(ref, ev->eid, SMDS_EID_LEN);
    memcpy(ref + SMDS_EID_LEN, seqbuf, 8);
    key_id(&k, ev->event_id);
    rsp_db_put(t, rsp_db_dbi(env_of(s), DB_IDS), &k, ref, sizeof(ref), MDB_NOOVERWRITE);
    if (ev->expires_at) {
        key_expiry(&k, ev->expires_at, seq);
        rsp_db_put(t, rsp_db_dbi(env_of(s), DB_EXPIRY), &k, ev->eid, SMDS_EID_LEN, 0);
    }
    rsp_db_put(t, rsp_db_dbi(env_of(s), DB_META), &mk, seqbuf, 8, 0);
    return rsp_db_wtxn_err(t);
}

static rsp_status result_status(int result)
{
    if (result == 0)
        return RSP_OK;
    if (result > ST_BASE)
        return (rsp_status)(result - ST_BASE);
    rsp_log(RSP_LOG_ERROR, "event store write failed: %s", mdb_strerror(result));
    return RSP_ST_INTERNAL;
}

/* rsp_db completion of a register or delete job: frees the job, then tells the caller. */
static void job_finished(void *job, int result)
{
    struct smds_store_job_done cb = *(struct smds_store_job_done *)job;
    free(job);
    cb.done(cb.arg, result_status(result));
}

static int lmdb_register(smds_store *s, smds_event *ev, time_t now, smds_store_done_cb done, void *arg)
{
    struct smds_store_reg_job *j = smds_store_reg_job_new(s, ev, now, done, arg);
    if (!j)
        return -1;
    if (rsp_db_submit(env_of(s), apply_register, job_finished, j) != 0) {
        free(j);
        return -1;
    }
    return 0;
}

/* ---- delete ---- */

static int apply_delete(rsp_db_wtxn *t, void *arg)
{
    struct smds_store_del_job *j = arg;
    smds_store *s = j->s;
    MDB_txn *txn = rsp_db_wtxn_txn(t);
    rsp_key k, ek;
    MDB_val v;
    key_id(&k, j->event_id);
    int rc = rsp_db_get(txn, rsp_db_dbi(env_of(s), DB_IDS), &k, &v);
    if (rc == MDB_NOTFOUND)
        return ST_BASE + RSP_ST_EVENT_UNKNOWN;
    if (rc)
        return rc;
    if (v.mv_size != SMDS_EID_LEN + 8)
        return MDB_CORRUPTED;
    if (memcmp(v.mv_data, j->eid, SMDS_EID_LEN) != 0)
        return ST_BASE + RSP_ST_EVENT_UNKNOWN;
    uint64_t seq = rsp_be64((const uint8_t *)v.mv_data + SMDS_EID_LEN);
    key_event(&ek, j->eid, seq);
    MDB_val ev;
    rc = rsp_db_get(txn, rsp_db_dbi(env_of(s), DB_EVENTS), &ek, &ev);
    if (rc)
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    smds_event rec;
    if (decode(&ev, &rec) != 0)
        return MDB_CORRUPTED;
    if (j->check_owner && strcmp(rec.owner, j->owner) != 0)
        return ST_BASE + RSP_ST_EVENT_UNKNOWN;
    rsp_db_del(t, rsp_db_dbi(env_of(s), DB_EVENTS), &ek, NULL, 0);
    rsp_db_del(t, rsp_db_dbi(env_of(s), DB_IDS), &k, NULL, 0);
    if (rec.expires_at) {
        key_expiry(&k, rec.expires_at, seq);
        rsp_db_del(t, rsp_db_dbi(env_of(s), DB_EXPIRY), &k, NULL, 0);
    }
    if (j->out)
        *j->out = rec;
    return rsp_db_wtxn_err(t);
}

static int lmdb_delete(smds_store *s, const char *eid, const char *event_id, const char *owner,
                       smds_event *out, smds_store_done_cb done, void *arg)
{
    struct smds_store_del_job *j = smds_store_del_job_new(s, eid, event_id, owner, out, done, arg);
    if (!j)
        return -1;
    if (rsp_db_submit(env_of(s), apply_delete, job_finished, j) != 0) {
        free(j);
        return -1;
    }
    return 0;
}

/* ---- reads ---- */

/* Calls fn on every event (of one EID when eid is set) in key order, in one read transaction, until fn
 * returns non-zero.  0, or -1 on a storage or decoding error or when fn returned a negative value. */
static int scan(smds_store *s, const char *eid, int (*fn)(const smds_event *ev, void *arg), void *arg)
{
    MDB_txn *txn;
    if (rsp_db_read_begin(env_of(s), &txn) != 0)
        return -1;
    rsp_key prefix;
    rsp_key_init(&prefix);
    if (eid)
        rsp_key_bytes(&prefix, eid, SMDS_EID_LEN);
    rsp_db_iter it;
    int rc = rsp_db_iter_open(&it, txn, rsp_db_dbi(env_of(s), DB_EVENTS), eid ? &prefix : NULL);
    if (rc == 0) {
        MDB_val k, v;
        while (rsp_db_iter_next(&it, &k, &v)) {
            smds_event ev;
            int r = decode(&v, &ev) != 0 ? -1 : fn(&ev, arg);
            if (r < 0)
                rc = -1;
            if (r != 0)
                break;
        }
        if (it.err)
            rc = -1;
        rsp_db_iter_close(&it);
    }
    rsp_db_read_end(env_of(s));
    return rc ? -1 : 0;
}

struct collect {
    smds_event_list *out;
    size_t cap;
    time_t now;
};

/* scan() callback of smds_store_list: keeps the unexpired events. */
static int collect(const smds_event *ev, void *arg)
{
    struct collect *c = arg;
    if (ev->expires_at && ev->expires_at <= (uint64_t)c->now)
        return 0;
    return smds_store_list_add(c->out, &c->cap, ev);
}

static int lmdb_list(smds_store *s, const char *eid, time_t now, smds_event_list *out)
{
    struct collect c = {out, 0, now};
    if (scan(s, eid, collect, &c) != 0) {
        smds_event_list_free(out);
        return -1;
    }
    return 0;
}

static int lmdb_get(smds_store *s, const char *event_id, smds_event *out)
{
    MDB_txn *txn;
    if (rsp_db_read_begin(env_of(s), &txn) != 0)
        return -1;
    rsp_key k;
    MDB_val v;
    key_id(&k, event_id);
    int found = 0;
    int rc = rsp_db_get(txn, rsp_db_dbi(env_of(s), DB_IDS), &k, &v);
    if (rc == 0 && v.mv_size == SMDS_EID_LEN + 8) {
        rsp_key ek;
        char eid[SMDS_EID_LEN];
        memcpy(eid, v.mv_data, SMDS_EID_LEN);
        key_event(&ek, eid, rsp_be64((const uint8_t *)v.mv_data + SMDS_EID_LEN));
        MDB_val ev;
        if (rsp_db_get(txn, rsp_db_dbi(env_of(s), DB_EVENTS), &ek, &ev) == 0 && decode(&ev, out) == 0)
            found = 1;
        else
            found = -1;
    } else if (rc != MDB_NOTFOUND) {
        found = -1;
    }
    rsp_db_read_end(env_of(s));
    return found;
}

static uint64_t lmdb_count(smds_store *s)
{
    MDB_txn *txn;
    if (rsp_db_read_begin(env_of(s), &txn) != 0)
        return 0;
    MDB_stat st;
    uint64_t n = 0;
    if (mdb_stat(txn, rsp_db_dbi(env_of(s), DB_IDS), &st) == 0)
        n = st.ms_entries;
    rsp_db_read_end(env_of(s));
    return n;
}

struct visit {
    int (*fn)(const smds_event *ev, void *arg);
    void *arg;
};

/* scan() callback of smds_store_foreach: the caller's function stops the walk, never fails it. */
static int visit(const smds_event *ev, void *arg)
{
    struct visit *v = arg;
    return v->fn(ev, v->arg) != 0 ? 1 : 0;
}

static int lmdb_foreach(smds_store *s, int (*fn)(const smds_event *ev, void *arg), void *arg)
{
    struct visit v = {fn, arg};
    return scan(s, NULL, visit, &v);
}

/* ---- purge ---- */

struct purge_job {
    smds_store *s;
    time_t now;
    size_t limit;
    long purged;
};

static int apply_purge(rsp_db_wtxn *t, void *arg)
{
    struct purge_job *j = arg;
    smds_store *s = j->s;
    MDB_txn *txn = rsp_db_wtxn_txn(t);
    j->purged = 0;
    /* Collect first, delete after: no writes under an open cursor. */
    struct victim {
        uint64_t at, seq;
        char eid[SMDS_EID_LEN];
    } *v = calloc(j->limit ? j->limit : 1, sizeof(*v));
    if (!v)
        return ENOMEM;
    size_t n = 0;
    rsp_db_iter it;
    int rc = rsp_db_iter_open(&it, txn, rsp_db_dbi(env_of(s), DB_EXPIRY), NULL);
    if (rc == 0) {
        MDB_val k, d;
        while (n < j->limit && rsp_db_iter_next(&it, &k, &d)) {
            if (k.mv_size != 16 || d.mv_size != SMDS_EID_LEN)
                continue;
            uint64_t at = rsp_be64(k.mv_data);
            if (at > (uint64_t)j->now)
                break;
            v[n].at = at;
            v[n].seq = rsp_be64((const uint8_t *)k.mv_data + 8);
            memcpy(v[n].eid, d.mv_data, SMDS_EID_LEN);
            n++;
        }
        rc = it.err;
        rsp_db_iter_close(&it);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rsp_key ek, xk;
        key_event(&ek, v[i].eid, v[i].seq);
        MDB_val ev;
        smds_event rec;
        if (rsp_db_get(txn, rsp_db_dbi(env_of(s), DB_EVENTS), &ek, &ev) == 0 && decode(&ev, &rec) == 0) {
            rsp_key ik;
            key_id(&ik, rec.event_id);
            rsp_db_del(t, rsp_db_dbi(env_of(s), DB_IDS), &ik, NULL, 0);
            rsp_db_del(t, rsp_db_dbi(env_of(s), DB_EVENTS), &ek, NULL, 0);
        }
        key_expiry(&xk, v[i].at, v[i].seq);
        rsp_db_del(t, rsp_db_dbi(env_of(s), DB_EXPIRY), &xk, NULL, 0);
        j->purged++;
    }
    free(v);
    return rc ? rc : rsp_db_wtxn_err(t);
}

static long lmdb_purge(smds_store *s, time_t now, size_t limit)
{
    struct purge_job j = {s, now, limit, 0};
    int rc = rsp_db_write_sync(env_of(s), apply_purge, &j);
    return rc ? -1 : j.purged;
}

/* ---- asynchronous reads: inline, LMDB reads do not wait ---- */

static int lmdb_list_async(smds_store *s, const char *eid, time_t now, smds_store_list_cb cb, void *arg)
{
    smds_event_list l = {0};
    int rc = lmdb_list(s, eid, now, &l);
    cb(arg, rc, &l);
    return 0;
}

static int lmdb_get_async(smds_store *s, const char *event_id, smds_store_get_cb cb, void *arg)
{
    smds_event ev;
    int found = lmdb_get(s, event_id, &ev);
    cb(arg, found, found == 1 ? &ev : NULL);
    return 0;
}

static bool lmdb_ready(const smds_store *s)
{
    (void)s;
    return true;
}

static void lmdb_metrics(smds_store *s, FILE *f)
{
    rsp_metrics_write(f, RSP_METRIC_GAUGE, "smds_events_stored",
                      "Event Records held (expired ones awaiting purge included)", lmdb_count(s));
    rsp_db_stats st;
    rsp_db_stats_get(env_of(s), &st);
    rsp_db_stats_write(f, "smds", &st);
}

const smds_store_ops smds_store_lmdb_ops = {
    .open = lmdb_open,
    .close = lmdb_close,
    .reg = lmdb_register,
    .del = lmdb_delete,
    .list = lmdb_list,
    .list_async = lmdb_list_async,
    .get = lmdb_get,
    .get_async = lmdb_get_async,
    .purge = lmdb_purge,
    .count = lmdb_count,
    .foreach = lmdb_foreach,
    .ready = lmdb_ready,
    .metrics = lmdb_metrics,
    .reads_inline = true,
};
