/*
 * The LMDB backend of the order store (store_impl.h): one environment in the state directory, group
 * commit by the rsp/db writer thread.  LMDB admits one write transaction at a time (across processes
 * too), so a transition always sees the state the previous one left.
 *
 * Layout (keys built with rsp_key):
 *   profile    iccid                          -> Profile (proto/order.proto)
 *   ppp, bpp   iccid                          -> the protected segments / the last delivered BPP
 *   by_eid     eid | release_seq              -> iccid   orders awaiting download
 *   by_mid     matchingId                     -> iccid
 *   by_tid     session transactionId          -> iccid
 *   pool       owner | type | state | iccid   -> ""
 *   meta       "release_seq"                  -> u64
 *   by_exp     expires_at | iccid             -> ""      orders that can still expire
 *   ended      eid | iccid                    -> iccid   orders that ended in Error
 *   answer     call key                       -> Es2Answer
 *   answer_age created_at | call key          -> ""
 *   outbox     seq                            -> OutboxItem (proto/outbox.proto)
 *   outbox_due due_at | seq                   -> ""
 *   outbox_stream stream | seq                -> ""
 *   outbox_meta "seq"                         -> u64
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "rsp/db.h"
#include "rsp/log.h"
#include "smdp_default/store_impl.h"

enum {
    DB_PROFILE,
    DB_PPP,
    DB_BPP,
    DB_BY_EID,
    DB_BY_MID,
    DB_BY_TID,
    DB_POOL,
    DB_META,
    DB_BY_EXP,
    DB_ENDED,      /* orders of an EID that ended in Error (smdp_orders_ended_status) */
    DB_ANSWER,     /* ES2+ first answers by call key (smdp_answer) */
    DB_ANSWER_AGE, /* (created_at, call key) of each, for the purge */
    DB_OB_ITEM,
    DB_OB_DUE,
    DB_OB_STREAM,
    DB_OB_META,
    DB_COUNT
};

static const rsp_db_spec DBS[DB_COUNT] = {
    {"profile", 0}, {"ppp", 0},        {"bpp", 0},           {"by_eid", 0},
    {"by_mid", 0},  {"by_tid", 0},     {"pool", 0},          {"meta", 0},
    {"by_exp", 0},  {"ended", 0},      {"answer", 0},        {"answer_age", 0},
    {"outbox", 0},  {"outbox_due", 0}, {"outbox_stream", 0}, {"outbox_meta", 0},
};

#define MAX_CLAIM 64

typedef struct lmdb_impl {
    rsp_db_env *env;
    MDB_dbi dbi[DB_COUNT];
} lmdb_impl;

/* The write transaction seen by the transition code. */
typedef struct lstx {
    smdp_stx base;
    rsp_db_wtxn *t;
    const lmdb_impl *s;
} lstx;

static lmdb_impl *impl(const smdp_orders *o)
{
    return o->impl;
}

static lstx *L(smdp_stx *t)
{
    return (lstx *)t;
}

static void key_iccid(rsp_key *k, const char *iccid)
{
    rsp_key_init(k);
    rsp_key_str(k, iccid);
}

static void key_pool(rsp_key *k, const char *owner, const char *type, int state, const char *iccid)
{
    rsp_key_init(k);
    rsp_key_str(k, owner);
    rsp_key_str(k, type);
    if (state)
        rsp_key_u8(k, (uint8_t)state);
    if (iccid)
        rsp_key_str(k, iccid);
}

static void key_eid(rsp_key *k, const char *eid, uint64_t seq)
{
    rsp_key_init(k);
    rsp_key_str(k, eid);
    rsp_key_u64(k, seq);
}

static void key_tid(rsp_key *k, const uint8_t *tid, size_t len)
{
    rsp_key_init(k);
    rsp_key_bytes(k, tid, len);
}

static void key_exp(rsp_key *k, uint64_t at, const char *iccid)
{
    rsp_key_init(k);
    rsp_key_u64(k, at);
    rsp_key_str(k, iccid);
}

static void key_ended(rsp_key *k, const char *eid, const char *iccid)
{
    rsp_key_init(k);
    rsp_key_str(k, eid);
    if (iccid)
        rsp_key_str(k, iccid);
}

static void key_answer(rsp_key *k, const uint8_t key[SMDP_CALL_KEY_LEN])
{
    rsp_key_init(k);
    rsp_key_bytes(k, key, SMDP_CALL_KEY_LEN);
}

static void key_answer_age(rsp_key *k, uint64_t at, const uint8_t key[SMDP_CALL_KEY_LEN])
{
    rsp_key_init(k);
    rsp_key_u64(k, at);
    if (key)
        rsp_key_bytes(k, key, SMDP_CALL_KEY_LEN);
}

static void key_seq(rsp_key *k, uint64_t seq)
{
    rsp_key_init(k);
    rsp_key_u64(k, seq);
}

static void key_due(rsp_key *k, uint64_t due, uint64_t seq)
{
    rsp_key_init(k);
    rsp_key_u64(k, due);
    rsp_key_u64(k, seq);
}

static void key_stream(rsp_key *k, const char *stream, uint64_t seq)
{
    rsp_key_init(k);
    rsp_key_str(k, stream);
    if (seq)
        rsp_key_u64(k, seq);
}

static bool same_tid(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && alen > 0 && CRYPTO_memcmp(a, b, alen) == 0;
}

/* Packs o straight into the map. */
static int order_put(rsp_db_wtxn *t, const lmdb_impl *s, const smdp_order *o)
{
    rsp_key k;
    key_iccid(&k, o->iccid);
    size_t n = smdp_order_pack(o, NULL);
    uint8_t *dst = rsp_db_reserve(t, s->dbi[DB_PROFILE], &k, n, 0);
    if (!dst)
        return rsp_db_wtxn_err(t);
    smdp_order_pack(o, dst);
    return 0;
}

static int load(const lmdb_impl *s, MDB_txn *txn, const char *iccid, smdp_order *out)
{
    rsp_key k;
    key_iccid(&k, iccid);
    MDB_val v;
    int rc = rsp_db_get(txn, s->dbi[DB_PROFILE], &k, &v);
    return rc ? rc : smdp_order_unpack(v.mv_data, v.mv_size, out);
}

/* Brings every index from what b (NULL for a new record) implied to what a
 * implies (NULL for a record being deleted: every index entry of b goes). */
static int reindex(rsp_db_wtxn *t, const lmdb_impl *s, const smdp_order *b, const smdp_order *a)
{
    rsp_key k;
    size_t il = a ? strlen(a->iccid) + 1 : 0;

    if (!a || !b || strcmp(b->owner, a->owner) || strcmp(b->profile_type, a->profile_type) ||
        b->state != a->state) {
        if (b) {
            key_pool(&k, b->owner, b->profile_type, b->state, b->iccid);
            rsp_db_del(t, s->dbi[DB_POOL], &k, NULL, 0);
        }
        if (a) {
            key_pool(&k, a->owner, a->profile_type, a->state, a->iccid);
            rsp_db_put(t, s->dbi[DB_POOL], &k, "", 0, 0);
        }
    }

    bool mid_same = a && b && !strcmp(b->matching_id, a->matching_id);
    if (b && b->matching_id[0] && !mid_same) {
        key_iccid(&k, b->matching_id);
        rsp_db_del(t, s->dbi[DB_BY_MID], &k, NULL, 0);
    }
    if (a && a->matching_id[0] && !mid_same) {
        key_iccid(&k, a->matching_id);
        rsp_db_put(t, s->dbi[DB_BY_MID], &k, a->iccid, il, 0);
    }

    bool bq = b && smdp_order_in_eid_queue(b), aq = a && smdp_order_in_eid_queue(a);
    bool q_same = bq && aq && !strcmp(b->eid, a->eid) && b->release_seq == a->release_seq;
    if (bq && !q_same) {
        key_eid(&k, b->eid, b->release_seq);
        rsp_db_del(t, s->dbi[DB_BY_EID], &k, NULL, 0);
    }
    if (aq && !q_same) {
        key_eid(&k, a->eid, a->release_seq);
        rsp_db_put(t, s->dbi[DB_BY_EID], &k, a->iccid, il, 0);
    }

    bool t_same = a && b && same_tid(b->session_tid, b->session_tid_len, a->session_tid, a->session_tid_len);
    if (b && b->session_tid_len && !t_same) {
        key_tid(&k, b->session_tid, b->session_tid_len);
        rsp_db_del(t, s->dbi[DB_BY_TID], &k, NULL, 0);
    }
    if (a && a->session_tid_len && !t_same) {
        key_tid(&k, a->session_tid, a->session_tid_len);
        rsp_db_put(t, s->dbi[DB_BY_TID], &k, a->iccid, il, 0);
    }

    bool bn = b && smdp_order_in_ended(b), an = a && smdp_order_in_ended(a);
    bool n_same = bn && an && !strcmp(b->eid, a->eid);
    if (bn && !n_same) {
        key_ended(&k, b->eid, b->iccid);
        rsp_db_del(t, s->dbi[DB_ENDED], &k, NULL, 0);
    }
    if (an && !n_same) {
        key_ended(&k, a->eid, a->iccid);
        rsp_db_put(t, s->dbi[DB_ENDED], &k, a->iccid, il, 0);
    }

    bool be = b && smdp_order_expirable(b), ae = a && smdp_order_expirable(a);
    bool e_same = be && ae && b->expires_at == a->expires_at;
    if (be && !e_same) {
        key_exp(&k, b->expires_at, b->iccid);
        rsp_db_del(t, s->dbi[DB_BY_EXP], &k, NULL, 0);
    }
    if (ae && !e_same) {
        key_exp(&k, a->expires_at, a->iccid);
        rsp_db_put(t, s->dbi[DB_BY_EXP], &k, "", 0, 0);
    }
    return rsp_db_wtxn_err(t);
}

/* ---- the transition primitives ---- */

static int x_load(smdp_stx *t, const char *iccid, smdp_order *out)
{
    return load(L(t)->s, rsp_db_wtxn_txn(L(t)->t), iccid, out);
}

static int x_pick_available(smdp_stx *t, const char *owner, const char *type, char iccid[SMDP_ICCID_MAX + 1],
                            bool *known)
{
    const lmdb_impl *s = L(t)->s;
    MDB_txn *txn = rsp_db_wtxn_txn(L(t)->t);
    rsp_key pre;
    rsp_db_iter it;
    MDB_val k, v;
    iccid[0] = '\0';
    *known = false;
    key_pool(&pre, owner, type, SMDP_STATE_AVAILABLE, NULL);
    if (pre.err)
        return 0; /* too long to be a stored type */
    int rc = rsp_db_iter_open(&it, txn, s->dbi[DB_POOL], &pre);
    if (rc)
        return rc;
    bool got = rsp_db_iter_next(&it, &k, &v);
    rc = it.err;
    if (got) {
        size_t n = k.mv_size - pre.len;
        const char *p = (const char *)k.mv_data + pre.len;
        if (n < 2 || n > SMDP_ICCID_MAX + 1 || p[n - 1] != '\0')
            rc = MDB_CORRUPTED;
        else
            memcpy(iccid, p, n);
    }
    rsp_db_iter_close(&it);
    if (rc || got)
        return rc;
    /* none free: is the type known at all for this owner? */
    key_pool(&pre, owner, type, 0, NULL);
    if ((rc = rsp_db_iter_open(&it, txn, s->dbi[DB_POOL], &pre)))
        return rc;
    *known = rsp_db_iter_next(&it, &k, &v);
    rc = it.err;
    rsp_db_iter_close(&it);
    return rc;
}

/* The ICCID an index entry names. */
static int index_iccid(const MDB_val *v, char iccid[SMDP_ICCID_MAX + 1])
{
    if (v->mv_size < 2 || v->mv_size > SMDP_ICCID_MAX + 1 || ((const char *)v->mv_data)[v->mv_size - 1])
        return MDB_CORRUPTED;
    memcpy(iccid, v->mv_data, v->mv_size);
    return 0;
}

static int x_mid_owner(smdp_stx *t, const char *mid, char iccid[SMDP_ICCID_MAX + 1])
{
    rsp_key k;
    key_iccid(&k, mid);
    MDB_val v;
    iccid[0] = '\0';
    int rc = rsp_db_get(rsp_db_wtxn_txn(L(t)->t), L(t)->s->dbi[DB_BY_MID], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? rc : index_iccid(&v, iccid);
}

static int x_next_seq(smdp_stx *t, uint64_t *seq)
{
    rsp_key k;
    rsp_key_init(&k);
    rsp_key_str(&k, "release_seq");
    return rsp_db_next_seq(L(t)->t, L(t)->s->dbi[DB_META], &k, seq);
}

static int x_save(smdp_stx *t, const smdp_order *before, const smdp_order *after)
{
    int rc = order_put(L(t)->t, L(t)->s, after);
    return rc ? rc : reindex(L(t)->t, L(t)->s, before, after);
}

static int x_remove(smdp_stx *t, const smdp_order *b)
{
    rsp_db_wtxn *w = L(t)->t;
    const lmdb_impl *s = L(t)->s;
    int rc = reindex(w, s, b, NULL);
    if (rc)
        return rc;
    rsp_key k;
    key_iccid(&k, b->iccid);
    rsp_db_del(w, s->dbi[DB_PPP], &k, NULL, 0);
    rsp_db_del(w, s->dbi[DB_BPP], &k, NULL, 0);
    rsp_db_del(w, s->dbi[DB_PROFILE], &k, NULL, 0);
    return rsp_db_wtxn_err(w);
}

static int put_blob(smdp_stx *t, unsigned db, const char *iccid, const uint8_t *p, size_t n)
{
    rsp_key k;
    key_iccid(&k, iccid);
    return rsp_db_put(L(t)->t, L(t)->s->dbi[db], &k, p, n, 0);
}

static int x_put_ppp(smdp_stx *t, const char *iccid, const uint8_t *p, size_t n)
{
    return put_blob(t, DB_PPP, iccid, p, n);
}

static int x_put_bpp(smdp_stx *t, const char *iccid, const uint8_t *p, size_t n)
{
    return put_blob(t, DB_BPP, iccid, p, n);
}

static int x_del_bpp(smdp_stx *t, const char *iccid)
{
    rsp_key k;
    key_iccid(&k, iccid);
    rsp_db_del(L(t)->t, L(t)->s->dbi[DB_BPP], &k, NULL, 0);
    return rsp_db_wtxn_err(L(t)->t);
}

static int answer_load(const lmdb_impl *s, MDB_txn *txn, const uint8_t *key, smdp_answer *out)
{
    rsp_key k;
    key_answer(&k, key);
    MDB_val v;
    int rc = rsp_db_get(txn, s->dbi[DB_ANSWER], &k, &v);
    return rc ? rc : smdp_answer_unpack(v.mv_data, v.mv_size, out);
}

static int x_answer_load(smdp_stx *t, const uint8_t key[SMDP_CALL_KEY_LEN], smdp_answer *out)
{
    return answer_load(L(t)->s, rsp_db_wtxn_txn(L(t)->t), key, out);
}

static int x_answer_put(smdp_stx *t, const uint8_t key[SMDP_CALL_KEY_LEN], const smdp_answer *a)
{
    rsp_db_wtxn *w = L(t)->t;
    const lmdb_impl *s = L(t)->s;
    rsp_key k;
    key_answer(&k, key);
    smdp_answer old;
    int rc = answer_load(s, rsp_db_wtxn_txn(w), key, &old);
    if (rc == 0) {
        /* a reused identifier with another request: the newer answer replaces it, age index too */
        rsp_key ak;
        key_answer_age(&ak, old.created_at, key);
        rsp_db_del(w, s->dbi[DB_ANSWER_AGE], &ak, NULL, 0);
    } else if (rc != MDB_NOTFOUND && rc != MDB_CORRUPTED) {
        return rc;
    }
    size_t n = smdp_answer_pack(a, NULL);
    uint8_t *dst = rsp_db_reserve(w, s->dbi[DB_ANSWER], &k, n, 0);
    if (!dst)
        return rsp_db_wtxn_err(w);
    smdp_answer_pack(a, dst);
    rsp_key ak;
    key_answer_age(&ak, a->created_at, key);
    rsp_db_put(w, s->dbi[DB_ANSWER_AGE], &ak, "", 0, 0);
    return rsp_db_wtxn_err(w);
}

/* ---- outbox records ---- */

static int item_put(rsp_db_wtxn *t, const lmdb_impl *s, const smdp_ob_item *it)
{
    rsp_key k;
    key_seq(&k, it->seq);
    size_t n = smdp_ob_item_pack(it, NULL);
    uint8_t *dst = rsp_db_reserve(t, s->dbi[DB_OB_ITEM], &k, n, 0);
    if (!dst)
        return rsp_db_wtxn_err(t);
    smdp_ob_item_pack(it, dst);
    return 0;
}

static int item_get(MDB_txn *txn, const lmdb_impl *s, uint64_t seq, smdp_ob_item *it)
{
    rsp_key k;
    key_seq(&k, seq);
    MDB_val v;
    int rc = rsp_db_get(txn, s->dbi[DB_OB_ITEM], &k, &v);
    return rc ? rc : smdp_ob_item_unpack(v.mv_data, v.mv_size, it);
}

static int item_del(rsp_db_wtxn *t, const lmdb_impl *s, const smdp_ob_item *it)
{
    rsp_key k;
    key_seq(&k, it->seq);
    rsp_db_del(t, s->dbi[DB_OB_ITEM], &k, NULL, 0);
    key_due(&k, it->due_at, it->seq);
    rsp_db_del(t, s->dbi[DB_OB_DUE], &k, NULL, 0);
    key_stream(&k, it->stream, it->seq);
    rsp_db_del(t, s->dbi[DB_OB_STREAM], &k, NULL, 0);
    return rsp_db_wtxn_err(t);
}

/* Moves an item to a new due time (and stores its other changes). */
static int item_reschedule(rsp_db_wtxn *t, const lmdb_impl *s, uint64_t old_due, const smdp_ob_item *it)
{
    rsp_key k;
    key_due(&k, old_due, it->seq);
    rsp_db_del(t, s->dbi[DB_OB_DUE], &k, NULL, 0);
    key_due(&k, it->due_at, it->seq);
    rsp_db_put(t, s->dbi[DB_OB_DUE], &k, "", 0, 0);
    return item_put(t, s, it);
}

static int item_add(rsp_db_wtxn *t, const lmdb_impl *s, smdp_ob_item *it)
{
    rsp_key k;
    rsp_key_init(&k);
    rsp_key_str(&k, "seq");
    uint64_t seq;
    int rc = rsp_db_next_seq(t, s->dbi[DB_OB_META], &k, &seq);
    if (rc)
        return rc;
    it->seq = seq;
    key_due(&k, it->due_at, seq);
    rsp_db_put(t, s->dbi[DB_OB_DUE], &k, "", 0, 0);
    key_stream(&k, it->stream, seq);
    rsp_db_put(t, s->dbi[DB_OB_STREAM], &k, "", 0, 0);
    return item_put(t, s, it);
}

static int x_ob_add(smdp_stx *t, smdp_ob_item *it)
{
    return item_add(L(t)->t, L(t)->s, it);
}

static const smdp_stx_ops STX_OPS = {
    .load = x_load,
    .pick_available = x_pick_available,
    .mid_owner = x_mid_owner,
    .next_seq = x_next_seq,
    .save = x_save,
    .remove = x_remove,
    .put_ppp = x_put_ppp,
    .put_bpp = x_put_bpp,
    .del_bpp = x_del_bpp,
    .answer_load = x_answer_load,
    .answer_put = x_answer_put,
    .ob_add = x_ob_add,
};

/* ---- transitions ---- */

static int apply(rsp_db_wtxn *t, void *arg)
{
    smdp_op *op = arg;
    lstx x = {{&STX_OPS, op->store_}, t, impl(op->store_)};
    return smdp_store_apply(&x.base, op);
}

static int l_run(smdp_orders *o, smdp_op *op)
{
    return rsp_db_write_sync(impl(o)->env, apply, op);
}

typedef struct submit_job {
    smdp_op *op;
    void (*done)(smdp_op *op, int result);
} submit_job;

static int submit_apply(rsp_db_wtxn *t, void *arg)
{
    return apply(t, ((submit_job *)arg)->op);
}

static void submit_done(void *arg, int result)
{
    submit_job j = *(submit_job *)arg;
    free(arg);
    j.done(j.op, result);
}

static int l_submit(smdp_orders *o, smdp_op *op, void (*done)(smdp_op *op, int result))
{
    submit_job *j = malloc(sizeof(*j));
    if (!j)
        return ENOMEM;
    j->op = op;
    j->done = done;
    int rc = rsp_db_submit(impl(o)->env, submit_apply, submit_done, j);
    if (rc)
        free(j);
    return rc;
}

/* ---- open / close ---- */

static int l_open(smdp_orders *o, const char *dir)
{
    lmdb_impl *s = calloc(1, sizeof(*s));
    if (!s)
        return ENOMEM;
    int rc = rsp_db_open(&s->env, dir, DBS, DB_COUNT, &o->cfg.db);
    if (rc) {
        free(s);
        return rc;
    }
    for (unsigned i = 0; i < DB_COUNT; i++)
        s->dbi[i] = rsp_db_dbi(s->env, i);
    o->impl = s;
    return 0;
}

static void l_close(smdp_orders *o)
{
    lmdb_impl *s = impl(o);
    rsp_db_close(s->env);
    free(s);
    o->impl = NULL;
}

static bool l_ready(smdp_orders *o)
{
    (void)o;
    return true;
}

static void l_metrics(smdp_orders *o, FILE *f)
{
    rsp_db_stats st;
    rsp_db_stats_get(impl(o)->env, &st);
    rsp_db_stats_write(f, "smdp", &st);
}

/* ---- reads ---- */

typedef struct reader {
    lmdb_impl *s;
    MDB_txn *txn;
} reader;

static int read_begin(smdp_orders *o, reader *r)
{
    r->s = impl(o);
    return rsp_db_read_begin(r->s->env, &r->txn);
}

static void read_end(reader *r)
{
    rsp_db_read_end(r->s->env);
}

static int l_get(smdp_orders *o, const char *iccid, smdp_order *out)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    rc = load(r.s, r.txn, iccid, out);
    read_end(&r);
    return rc;
}

/* Index value -> the record, which must still be what the index says. */
static int load_indexed(const lmdb_impl *s, MDB_txn *txn, const MDB_val *v, smdp_order *out)
{
    char iccid[SMDP_ICCID_MAX + 1];
    int rc = index_iccid(v, iccid);
    if (!rc)
        rc = load(s, txn, iccid, out);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* Calls fn with the record of each entry of db under prefix pre (NULL: all) until it returns non-zero:
 * the profile database holds the records, the others name them in their values. */
static int walk(smdp_orders *o, unsigned db, const rsp_key *pre, smdp_order_visit fn, void *arg)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    smdp_order *ord = malloc(sizeof(*ord));
    rsp_db_iter it;
    MDB_val k, v;
    if (!ord)
        rc = ENOMEM;
    else if ((rc = rsp_db_iter_open(&it, r.txn, r.s->dbi[db], pre)) == 0) {
        while (rsp_db_iter_next(&it, &k, &v)) {
            rc = db == DB_PROFILE ? smdp_order_unpack(v.mv_data, v.mv_size, ord)
                                  : load_indexed(r.s, r.txn, &v, ord);
            if (rc || (rc = fn(arg, ord)))
                break;
        }
        if (!rc)
            rc = it.err;
        rsp_db_iter_close(&it);
    }
    free(ord);
    read_end(&r);
    return rc;
}

typedef struct eid_find {
    const char *eid;
    smdp_order *out;
} eid_find;

static int eid_one(void *arg, const smdp_order *ord)
{
    eid_find *f = arg;
    if (!smdp_order_in_eid_queue(ord) || strcmp(ord->eid, f->eid))
        return 0;
    *f->out = *ord;
    return 1;
}

static int l_find_by_eid(smdp_orders *o, const char *eid, smdp_order *out)
{
    rsp_key pre;
    rsp_key_init(&pre);
    rsp_key_str(&pre, eid);
    eid_find f = {eid, out};
    int rc = walk(o, DB_BY_EID, &pre, eid_one, &f);
    return rc == 1 ? 0 : rc ? rc : MDB_NOTFOUND;
}

static int l_ended(smdp_orders *o, const char *eid, smdp_order_visit fn, void *arg)
{
    rsp_key pre;
    key_ended(&pre, eid, NULL);
    return walk(o, DB_ENDED, &pre, fn, arg);
}

static int by_index(smdp_orders *o, unsigned db, const rsp_key *k, smdp_order *out)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    MDB_val v;
    rc = rsp_db_get(r.txn, r.s->dbi[db], k, &v);
    if (rc == 0)
        rc = load_indexed(r.s, r.txn, &v, out);
    read_end(&r);
    return rc;
}

static int l_by_mid(smdp_orders *o, const char *matching_id, smdp_order *out)
{
    rsp_key k;
    key_iccid(&k, matching_id);
    return by_index(o, DB_BY_MID, &k, out);
}

static int l_by_tid(smdp_orders *o, const uint8_t *tid, size_t len, smdp_order *out)
{
    rsp_key k;
    key_tid(&k, tid, len);
    return by_index(o, DB_BY_TID, &k, out);
}

static int l_get_blob(smdp_orders *o, bool bpp, const char *iccid, uint8_t **out, size_t *len)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    rsp_key k;
    key_iccid(&k, iccid);
    MDB_val v;
    rc = rsp_db_get(r.txn, r.s->dbi[bpp ? DB_BPP : DB_PPP], &k, &v);
    if (rc == 0) {
        *out = malloc(v.mv_size ? v.mv_size : 1);
        if (*out) {
            memcpy(*out, v.mv_data, v.mv_size);
            *len = v.mv_size;
        } else {
            rc = ENOMEM;
        }
    }
    read_end(&r);
    return rc;
}

static int l_list(smdp_orders *o, smdp_order_visit fn, void *arg)
{
    return walk(o, DB_PROFILE, NULL, fn, arg);
}

static int l_expired(smdp_orders *o, uint64_t now, char (*iccids)[SMDP_ICCID_MAX + 1], size_t max, size_t *n)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    rsp_db_iter it;
    MDB_val k, v;
    if ((rc = rsp_db_iter_open(&it, r.txn, r.s->dbi[DB_BY_EXP], NULL)) == 0) {
        while (*n < max && rsp_db_iter_next(&it, &k, &v)) {
            const char *p = (const char *)k.mv_data + 8;
            size_t len = k.mv_size - 8;
            if (k.mv_size < 8 + 2 || len > SMDP_ICCID_MAX + 1 || p[len - 1] != '\0') {
                rc = MDB_CORRUPTED;
                break;
            }
            if (rsp_be64(k.mv_data) > now)
                break;
            memcpy(iccids[(*n)++], p, len);
        }
        if (!rc)
            rc = it.err;
        rsp_db_iter_close(&it);
    }
    read_end(&r);
    return rc;
}

static int l_answer_get(smdp_orders *o, const uint8_t key[SMDP_CALL_KEY_LEN], smdp_answer *out)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    rc = answer_load(r.s, r.txn, key, out);
    read_end(&r);
    return rc;
}

typedef struct purge_job {
    const smdp_orders *o;
    uint64_t now;
    size_t max, n;
} purge_job;

static int purge_apply(rsp_db_wtxn *t, void *arg)
{
    purge_job *j = arg;
    const lmdb_impl *s = impl(j->o);
    uint64_t ttl = j->o->cfg.answer_ttl;
    j->n = 0;
    rsp_db_iter it;
    MDB_val k, v;
    uint8_t keys[64][SMDP_CALL_KEY_LEN];
    uint64_t ats[64];
    size_t n = 0;
    int rc = rsp_db_iter_open(&it, rsp_db_wtxn_txn(t), s->dbi[DB_ANSWER_AGE], NULL);
    if (rc)
        return rc;
    while (n < j->max && rsp_db_iter_next(&it, &k, &v)) {
        if (k.mv_size != 8 + SMDP_CALL_KEY_LEN) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint64_t at = rsp_be64(k.mv_data);
        if (j->now < at + ttl)
            break;
        ats[n] = at;
        memcpy(keys[n++], (const uint8_t *)k.mv_data + 8, SMDP_CALL_KEY_LEN);
    }
    if (!rc)
        rc = it.err;
    rsp_db_iter_close(&it);
    for (size_t i = 0; !rc && i < n; i++) {
        rsp_key ak, bk;
        key_answer_age(&ak, ats[i], keys[i]);
        key_answer(&bk, keys[i]);
        rsp_db_del(t, s->dbi[DB_ANSWER_AGE], &ak, NULL, 0);
        rsp_db_del(t, s->dbi[DB_ANSWER], &bk, NULL, 0);
    }
    j->n = rc ? 0 : n;
    return rc ? rc : rsp_db_wtxn_err(t);
}

static int l_answers_purge(smdp_orders *o, uint64_t now, size_t max, size_t *n)
{
    purge_job j = {.o = o, .now = now, .max = max};
    int rc = rsp_db_write_sync(impl(o)->env, purge_apply, &j);
    *n = j.n;
    return rc;
}

/* ---- outbox ---- */

/* True if seq is the oldest item of its stream. */
static int is_head(MDB_txn *txn, const lmdb_impl *s, const char *stream, uint64_t seq, bool *head)
{
    rsp_key pre;
    key_stream(&pre, stream, 0);
    rsp_db_iter it;
    MDB_val k, v;
    int rc = rsp_db_iter_open(&it, txn, s->dbi[DB_OB_STREAM], &pre);
    if (rc)
        return rc;
    *head = false;
    if (rsp_db_iter_next(&it, &k, &v))
        *head = k.mv_size == pre.len + 8 && rsp_be64((const uint8_t *)k.mv_data + pre.len) == seq;
    rc = it.err;
    rsp_db_iter_close(&it);
    return rc;
}

/* Finds due heads of their streams (up to max) and the next due time after now (0 = none). */
static int scan(smdp_orders *o, uint64_t now, unsigned scan_max, size_t max, uint64_t *seqs, size_t *n,
                uint64_t *next_due)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    rsp_db_iter it;
    MDB_val k, v;
    unsigned seen = 0;
    if ((rc = rsp_db_iter_open(&it, r.txn, r.s->dbi[DB_OB_DUE], NULL)) == 0) {
        while (*n < max && seen < scan_max && rsp_db_iter_next(&it, &k, &v)) {
            if (k.mv_size != 16) {
                rc = MDB_CORRUPTED;
                break;
            }
            uint64_t due = rsp_be64(k.mv_data), seq = rsp_be64((const uint8_t *)k.mv_data + 8);
            if (due > now) {
                *next_due = due;
                break;
            }
            seen++;
            smdp_ob_item item;
            bool head;
            if ((rc = item_get(r.txn, r.s, seq, &item)) ||
                (rc = is_head(r.txn, r.s, item.stream, seq, &head)))
                break;
            if (head)
                seqs[(*n)++] = seq;
        }
        if (!rc)
            rc = it.err;
        rsp_db_iter_close(&it);
    }
    read_end(&r);
    return rc;
}

typedef struct claim_job {
    const lmdb_impl *s;
    uint64_t now;
    uint32_t lease;
    const uint64_t *seq;
    size_t n;
    smdp_ob_item *out;
    size_t nout;
} claim_job;

static int claim_apply(rsp_db_wtxn *t, void *arg)
{
    claim_job *c = arg;
    c->nout = 0;
    for (size_t i = 0; i < c->n; i++) {
        smdp_ob_item *it = &c->out[c->nout];
        int rc = item_get(rsp_db_wtxn_txn(t), c->s, c->seq[i], it);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc)
            return rc;
        if (it->due_at > c->now)
            continue; /* claimed by another process meanwhile */
        uint64_t old = it->due_at;
        it->due_at = c->now + c->lease;
        it->attempts++;
        if ((rc = item_reschedule(t, c->s, old, it)))
            return rc;
        c->nout++;
    }
    return 0;
}

static int l_ob_claim(smdp_orders *o, uint64_t now, uint32_t lease, unsigned scan_max, size_t max,
                      smdp_ob_item *out, size_t *n, uint64_t *next_due)
{
    uint64_t seqs[MAX_CLAIM];
    size_t found = 0;
    if (max > MAX_CLAIM)
        max = MAX_CLAIM;
    int rc = scan(o, now, scan_max, max, seqs, &found, next_due);
    if (rc || found == 0)
        return rc;
    claim_job c = {impl(o), now, lease, seqs, found, out, 0};
    rc = rsp_db_write_sync(impl(o)->env, claim_apply, &c);
    *n = rc ? 0 : c.nout;
    return rc;
}

typedef struct finish_job {
    const lmdb_impl *s;
    smdp_ob_item claimed;
    smdp_ob_item next;
    bool remove;
    void (*done)(void *arg, int rc);
    void *arg;
} finish_job;

static int finish_apply(rsp_db_wtxn *t, void *arg)
{
    finish_job *f = arg;
    smdp_ob_item cur;
    int rc = item_get(rsp_db_wtxn_txn(t), f->s, f->claimed.seq, &cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    /* someone else claimed it after our lease ran out: their result counts */
    if (cur.due_at != f->claimed.due_at || cur.attempts != f->claimed.attempts)
        return 0;
    return f->remove ? item_del(t, f->s, &cur) : item_reschedule(t, f->s, cur.due_at, &f->next);
}

static void finish_done(void *arg, int result)
{
    finish_job *f = arg;
    f->done(f->arg, result);
    free(f);
}

static int l_ob_finish(smdp_orders *o, const smdp_ob_item *claimed, const smdp_ob_item *next,
                       void (*done)(void *arg, int rc), void *arg)
{
    finish_job *f = malloc(sizeof(*f));
    if (!f)
        return ENOMEM;
    f->s = impl(o);
    f->claimed = *claimed;
    f->remove = next == NULL;
    if (next)
        f->next = *next;
    f->done = done;
    f->arg = arg;
    int rc = rsp_db_submit(impl(o)->env, finish_apply, finish_done, f);
    if (rc)
        free(f);
    return rc;
}

typedef struct add_job {
    const lmdb_impl *s;
    smdp_ob_item *items;
    size_t n;
} add_job;

static int add_apply(rsp_db_wtxn *t, void *arg)
{
    add_job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        int rc = item_add(t, j->s, &j->items[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int l_ob_add(smdp_orders *o, smdp_ob_item *items, size_t n)
{
    add_job j = {impl(o), items, n};
    return rsp_db_write_sync(impl(o)->env, add_apply, &j);
}

static int l_ob_list(smdp_orders *o, int (*fn)(void *arg, const smdp_ob_item *it), void *arg)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    smdp_ob_item *item = malloc(sizeof(*item));
    rsp_db_iter it;
    MDB_val k, v;
    if (!item)
        rc = ENOMEM;
    else if ((rc = rsp_db_iter_open(&it, r.txn, r.s->dbi[DB_OB_ITEM], NULL)) == 0) {
        while (rsp_db_iter_next(&it, &k, &v))
            if ((rc = smdp_ob_item_unpack(v.mv_data, v.mv_size, item)) || (rc = fn(arg, item)))
                break;
        if (!rc)
            rc = it.err;
        rsp_db_iter_close(&it);
    }
    free(item);
    read_end(&r);
    return rc;
}

static int l_ob_pending(smdp_orders *o, uint64_t *count, uint64_t *oldest)
{
    reader r;
    int rc = read_begin(o, &r);
    if (rc)
        return rc;
    MDB_stat st;
    if ((rc = mdb_stat(r.txn, r.s->dbi[DB_OB_ITEM], &st)) == 0) {
        *count = st.ms_entries;
        rsp_db_iter it;
        MDB_val k, v;
        smdp_ob_item item;
        if ((rc = rsp_db_iter_open(&it, r.txn, r.s->dbi[DB_OB_ITEM], NULL)) == 0) {
            if (rsp_db_iter_next(&it, &k, &v) && smdp_ob_item_unpack(v.mv_data, v.mv_size, &item) == 0)
                *oldest = item.created_at;
            rc = it.err;
            rsp_db_iter_close(&it);
        }
    }
    read_end(&r);
    return rc;
}

const smdp_store_ops smdp_store_lmdb_ops = {
    .open = l_open,
    .close = l_close,
    .run = l_run,
    .submit = l_submit,
    .get = l_get,
    .find_by_eid = l_find_by_eid,
    .ended = l_ended,
    .by_mid = l_by_mid,
    .by_tid = l_by_tid,
    .get_blob = l_get_blob,
    .list = l_list,
    .expired = l_expired,
    .answer_get = l_answer_get,
    .answers_purge = l_answers_purge,
    .ob_claim = l_ob_claim,
    .ob_finish = l_ob_finish,
    .ob_add = l_ob_add,
    .ob_list = l_ob_list,
    .ob_pending = l_ob_pending,
    .ready = l_ready,
    .metrics = l_metrics,
};
