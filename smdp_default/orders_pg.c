/*
 * The PostgreSQL backend of the order store (store_impl.h): several hosts over one database, group commit
 * by the rsp/pg writer pool (synchronous_commit on), reads on its reader pool.
 *
 * Tables: smdp_order holds each record encoded as on LMDB (proto/order.proto) with one column per index
 * (queue_eid + release_seq for find_by_eid, matching_id, session_tid, owner + profile_type + state for the
 * Available pool, expires_at while the order can expire, ended_eid for orders that ended in Error);
 * smdp_ppp / smdp_bpp the blobs; smdp_answer the ES2+ first answers; smdp_outbox the outbox items with
 * their sequence number from a database sequence (unique across nodes).
 *
 * A transition locks its record (SELECT ... FOR UPDATE) before the shared transition code looks at it, so
 * two nodes racing on one order serialise on the row: the second sees the first one's state and gets its
 * GSMA code.  The Available pool is picked with SKIP LOCKED, so concurrent DownloadOrders take different
 * profiles.  A unique index (matchingId, transactionId, ICCID) hit by a concurrent insert fails the
 * statement; the writer reruns the job, which then sees the other node's row and refuses.  Outbox items
 * of one stream are queued while their order's row is locked, so their sequence numbers follow the
 * commit order of the stream.
 *
 * Outbox claims take due heads of their streams with FOR UPDATE SKIP LOCKED and move their due time past
 * the lease in the same transaction: a claimer on another node skips them while locked and finds them
 * not due once committed; a result is written only if the item is still as claimed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/log.h"
#include "rsp/pg.h"
#include "smdp_default/store_impl.h"

#define PAGE 1000
#define MAX_CLAIM 64

static const rsp_pg_migration migrations[] = {
    {1,
     "CREATE SEQUENCE smdp_release_seq;"
     "CREATE SEQUENCE smdp_outbox_seq;"
     "CREATE TABLE smdp_order ("
     " iccid text PRIMARY KEY,"
     " rec bytea NOT NULL,"
     " owner text NOT NULL,"
     " profile_type text NOT NULL,"
     " state smallint NOT NULL,"
     " queue_eid text,"
     " release_seq bigint NOT NULL DEFAULT 0,"
     " matching_id text UNIQUE,"
     " session_tid bytea UNIQUE,"
     " expires_at bigint,"
     " ended_eid text,"
     " updated_at bigint NOT NULL);"
     "CREATE INDEX smdp_order_by_eid ON smdp_order (queue_eid, release_seq) WHERE queue_eid IS NOT NULL;"
     "CREATE INDEX smdp_order_pool ON smdp_order (owner, profile_type, state, iccid);"
     "CREATE INDEX smdp_order_by_exp ON smdp_order (expires_at, iccid) WHERE expires_at IS NOT NULL;"
     "CREATE INDEX smdp_order_ended ON smdp_order (ended_eid) WHERE ended_eid IS NOT NULL;"
     "CREATE TABLE smdp_ppp (iccid text PRIMARY KEY, data bytea NOT NULL);"
     "CREATE TABLE smdp_bpp (iccid text PRIMARY KEY, data bytea NOT NULL);"
     "CREATE TABLE smdp_answer (call_key bytea PRIMARY KEY, rec bytea NOT NULL, created_at bigint NOT NULL);"
     "CREATE INDEX smdp_answer_age ON smdp_answer (created_at);"
     "CREATE TABLE smdp_outbox ("
     " seq bigint PRIMARY KEY,"
     " stream text NOT NULL,"
     " due_at bigint NOT NULL,"
     " attempts integer NOT NULL,"
     " created_at bigint NOT NULL,"
     " rec bytea NOT NULL);"
     "CREATE INDEX smdp_outbox_due ON smdp_outbox (due_at, seq);"
     "CREATE INDEX smdp_outbox_stream ON smdp_outbox (stream, seq)"},
};

int smdp_orders_migrate(const char *dsn, char *err, size_t errlen)
{
    return rsp_pg_migrate_dsn(dsn, "smdp", migrations, sizeof(migrations) / sizeof(migrations[0]), err,
                              errlen);
}

static rsp_pg *pg_of(const smdp_orders *o)
{
    return o->impl;
}

/* ---- parameters and values ---- */

/* bytea as the text form "\x<hex>" (malloc'd), NULL when out of memory. */
static char *hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(2 * n + 3);
    if (!s)
        return NULL;
    s[0] = '\\';
    s[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        s[2 + 2 * i] = digits[p[i] >> 4];
        s[3 + 2 * i] = digits[p[i] & 15];
    }
    s[2 + 2 * n] = '\0';
    return s;
}

typedef struct num {
    char s[24];
} num;

/* Clamped to bigint: "never" (UINT64_MAX) compares the same. */
static num u64s(uint64_t v)
{
    num n;
    if (v > (uint64_t)INT64_MAX)
        v = (uint64_t)INT64_MAX;
    snprintf(n.s, sizeof(n.s), "%llu", (unsigned long long)v);
    return n;
}

/* The bytea value of a result cell (PQfreemem it); NULL on a bad value. */
static uint8_t *cell_bytes(const PGresult *r, int row, int col, size_t *len)
{
    return PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), len);
}

static int order_cell(const PGresult *r, int row, int col, smdp_order *o)
{
    size_t n;
    uint8_t *b = cell_bytes(r, row, col, &n);
    int rc = b ? smdp_order_unpack(b, n, o) : SMDP_CORRUPTED;
    PQfreemem(b);
    return rc;
}

static int item_cell(const PGresult *r, int row, int col, smdp_ob_item *it)
{
    size_t n;
    uint8_t *b = cell_bytes(r, row, col, &n);
    int rc = b ? smdp_ob_item_unpack(b, n, it) : SMDP_CORRUPTED;
    PQfreemem(b);
    return rc;
}

static int answer_cell(const PGresult *r, int row, int col, smdp_answer *a)
{
    size_t n;
    uint8_t *b = cell_bytes(r, row, col, &n);
    int rc = b ? smdp_answer_unpack(b, n, a) : SMDP_CORRUPTED;
    PQfreemem(b);
    return rc;
}

/* ---- the transition primitives ---- */

typedef struct pstx {
    smdp_stx base;
    rsp_pg_tx *t;
} pstx;

static rsp_pg_tx *T(smdp_stx *t)
{
    return ((pstx *)t)->t;
}

/* Runs sql and takes the first column of the first row as text into out (cap octets; "" when no row). */
static int first_text(rsp_pg_tx *t, const char *sql, int n, const char *const *p, char *out, size_t cap)
{
    PGresult *r = rsp_pg_exec(t, sql, n, p);
    if (!r)
        return SMDP_STORE_EFAILED;
    out[0] = '\0';
    int rc = 0;
    if (PQntuples(r) > 0 && snprintf(out, cap, "%s", PQgetvalue(r, 0, 0)) >= (int)cap)
        rc = SMDP_CORRUPTED;
    PQclear(r);
    return rc;
}

static const char SQL_LOAD[] = "SELECT rec FROM smdp_order WHERE iccid = $1 FOR UPDATE";

static int x_load(smdp_stx *t, const char *iccid, smdp_order *out)
{
    const char *p[1] = {iccid};
    PGresult *r = rsp_pg_exec(T(t), SQL_LOAD, 1, p);
    if (!r)
        return SMDP_STORE_EFAILED;
    int rc = PQntuples(r) == 1 ? order_cell(r, 0, 0, out) : SMDP_NOTFOUND;
    PQclear(r);
    return rc;
}

static const char SQL_PICK[] = "SELECT iccid FROM smdp_order WHERE owner = $1 AND profile_type = $2"
                               " AND state = 1 ORDER BY iccid LIMIT 1 FOR UPDATE SKIP LOCKED";
static const char SQL_TYPE_KNOWN[] =
    "SELECT 1 FROM smdp_order WHERE owner = $1 AND profile_type = $2 LIMIT 1";

static int x_pick_available(smdp_stx *t, const char *owner, const char *type, char iccid[SMDP_ICCID_MAX + 1],
                            bool *known)
{
    const char *p[2] = {owner, type};
    *known = false;
    int rc = first_text(T(t), SQL_PICK, 2, p, iccid, SMDP_ICCID_MAX + 1);
    if (rc || iccid[0])
        return rc;
    long rows = 0;
    if (rsp_pg_run(T(t), SQL_TYPE_KNOWN, 2, p, &rows) != 0)
        return SMDP_STORE_EFAILED;
    *known = rows > 0;
    return 0;
}

static const char SQL_MID_OWNER[] = "SELECT iccid FROM smdp_order WHERE matching_id = $1";

static int x_mid_owner(smdp_stx *t, const char *mid, char iccid[SMDP_ICCID_MAX + 1])
{
    const char *p[1] = {mid};
    return first_text(T(t), SQL_MID_OWNER, 1, p, iccid, SMDP_ICCID_MAX + 1);
}

static const char SQL_NEXT_RELEASE[] = "SELECT nextval('smdp_release_seq')";
static const char SQL_NEXT_OUTBOX[] = "SELECT nextval('smdp_outbox_seq')";

static int next_of(rsp_pg_tx *t, const char *sql, uint64_t *seq)
{
    char v[24];
    int rc = first_text(t, sql, 0, NULL, v, sizeof(v));
    if (rc)
        return rc;
    *seq = strtoull(v, NULL, 10);
    return *seq ? 0 : SMDP_CORRUPTED;
}

static int x_next_seq(smdp_stx *t, uint64_t *seq)
{
    return next_of(T(t), SQL_NEXT_RELEASE, seq);
}

static const char SQL_SAVE[] =
    "INSERT INTO smdp_order (iccid, rec, owner, profile_type, state, queue_eid, release_seq, matching_id,"
    " session_tid, expires_at, ended_eid, updated_at) VALUES ($1, $2::bytea, $3, $4, $5::smallint, $6,"
    " $7::bigint, $8, $9::bytea, $10::bigint, $11, $12::bigint)"
    " ON CONFLICT (iccid) DO UPDATE SET rec = EXCLUDED.rec, owner = EXCLUDED.owner,"
    " profile_type = EXCLUDED.profile_type, state = EXCLUDED.state, queue_eid = EXCLUDED.queue_eid,"
    " release_seq = EXCLUDED.release_seq, matching_id = EXCLUDED.matching_id,"
    " session_tid = EXCLUDED.session_tid, expires_at = EXCLUDED.expires_at,"
    " ended_eid = EXCLUDED.ended_eid, updated_at = EXCLUDED.updated_at";

static int x_save(smdp_stx *t, const smdp_order *before, const smdp_order *a)
{
    (void)before; /* the index columns are rewritten with the record */
    size_t n = smdp_order_pack(a, NULL);
    uint8_t *buf = malloc(n ? n : 1);
    char *rec = NULL, *tid = NULL;
    if (buf) {
        smdp_order_pack(a, buf);
        rec = hex(buf, n);
    }
    if (a->session_tid_len)
        tid = hex(a->session_tid, a->session_tid_len);
    num state = u64s((uint64_t)a->state), seq = u64s(a->release_seq), exp = u64s(a->expires_at),
        upd = u64s(a->updated_at);
    const char *p[12] = {a->iccid,
                         rec,
                         a->owner,
                         a->profile_type,
                         state.s,
                         smdp_order_in_eid_queue(a) ? a->eid : NULL,
                         seq.s,
                         a->matching_id[0] ? a->matching_id : NULL,
                         tid,
                         smdp_order_expirable(a) ? exp.s : NULL,
                         smdp_order_in_ended(a) ? a->eid : NULL,
                         upd.s};
    int rc = !rec || (a->session_tid_len && !tid)      ? ENOMEM
             : rsp_pg_run(T(t), SQL_SAVE, 12, p, NULL) ? SMDP_STORE_EFAILED
                                                       : 0;
    free(buf);
    free(rec);
    free(tid);
    return rc;
}

static const char SQL_DEL_ORDER[] = "DELETE FROM smdp_order WHERE iccid = $1";
static const char SQL_DEL_PPP[] = "DELETE FROM smdp_ppp WHERE iccid = $1";
static const char SQL_DEL_BPP[] = "DELETE FROM smdp_bpp WHERE iccid = $1";

static int x_remove(smdp_stx *t, const smdp_order *b)
{
    const char *p[1] = {b->iccid};
    return rsp_pg_run(T(t), SQL_DEL_PPP, 1, p, NULL) || rsp_pg_run(T(t), SQL_DEL_BPP, 1, p, NULL) ||
                   rsp_pg_run(T(t), SQL_DEL_ORDER, 1, p, NULL)
               ? SMDP_STORE_EFAILED
               : 0;
}

static const char SQL_PUT_PPP[] = "INSERT INTO smdp_ppp (iccid, data) VALUES ($1, $2::bytea)"
                                  " ON CONFLICT (iccid) DO UPDATE SET data = EXCLUDED.data";
static const char SQL_PUT_BPP[] = "INSERT INTO smdp_bpp (iccid, data) VALUES ($1, $2::bytea)"
                                  " ON CONFLICT (iccid) DO UPDATE SET data = EXCLUDED.data";

static int put_blob(smdp_stx *t, const char *sql, const char *iccid, const uint8_t *b, size_t n)
{
    char *h = hex(b, n);
    if (!h)
        return ENOMEM;
    const char *p[2] = {iccid, h};
    int rc = rsp_pg_run(T(t), sql, 2, p, NULL) ? SMDP_STORE_EFAILED : 0;
    free(h);
    return rc;
}

static int x_put_ppp(smdp_stx *t, const char *iccid, const uint8_t *b, size_t n)
{
    return put_blob(t, SQL_PUT_PPP, iccid, b, n);
}

static int x_put_bpp(smdp_stx *t, const char *iccid, const uint8_t *b, size_t n)
{
    return put_blob(t, SQL_PUT_BPP, iccid, b, n);
}

static int x_del_bpp(smdp_stx *t, const char *iccid)
{
    const char *p[1] = {iccid};
    return rsp_pg_run(T(t), SQL_DEL_BPP, 1, p, NULL) ? SMDP_STORE_EFAILED : 0;
}

static const char SQL_ANSWER[] = "SELECT rec FROM smdp_answer WHERE call_key = $1::bytea";

/* rsp_pg_tx of a write or a read job. */
static int answer_load(rsp_pg_tx *t, const uint8_t *key, smdp_answer *out)
{
    char *k = hex(key, SMDP_CALL_KEY_LEN);
    if (!k)
        return ENOMEM;
    const char *p[1] = {k};
    PGresult *r = rsp_pg_exec(t, SQL_ANSWER, 1, p);
    free(k);
    if (!r)
        return SMDP_STORE_EFAILED;
    int rc = PQntuples(r) == 1 ? answer_cell(r, 0, 0, out) : SMDP_NOTFOUND;
    PQclear(r);
    return rc;
}

static int x_answer_load(smdp_stx *t, const uint8_t key[SMDP_CALL_KEY_LEN], smdp_answer *out)
{
    return answer_load(T(t), key, out);
}

static const char SQL_PUT_ANSWER[] =
    "INSERT INTO smdp_answer (call_key, rec, created_at) VALUES ($1::bytea, $2::bytea, $3::bigint)"
    " ON CONFLICT (call_key) DO UPDATE SET rec = EXCLUDED.rec, created_at = EXCLUDED.created_at";

static int x_answer_put(smdp_stx *t, const uint8_t key[SMDP_CALL_KEY_LEN], const smdp_answer *a)
{
    uint8_t buf[512];
    size_t n = smdp_answer_pack(a, NULL);
    if (n > sizeof(buf))
        return SMDP_CORRUPTED;
    smdp_answer_pack(a, buf);
    char *k = hex(key, SMDP_CALL_KEY_LEN), *rec = hex(buf, n);
    num at = u64s(a->created_at);
    const char *p[3] = {k, rec, at.s};
    int rc = !k || !rec ? ENOMEM : rsp_pg_run(T(t), SQL_PUT_ANSWER, 3, p, NULL) ? SMDP_STORE_EFAILED : 0;
    free(k);
    free(rec);
    return rc;
}

static const char SQL_OB_INSERT[] =
    "INSERT INTO smdp_outbox (seq, stream, due_at, attempts, created_at, rec)"
    " VALUES ($1::bigint, $2, $3::bigint, $4::integer, $5::bigint, $6::bytea)";
static const char SQL_OB_UPDATE[] = "UPDATE smdp_outbox SET due_at = $4::bigint, attempts = $5::integer,"
                                    " rec = $6::bytea WHERE seq = $1::bigint AND due_at = $2::bigint"
                                    " AND attempts = $3::integer";
static const char SQL_OB_DELETE[] = "DELETE FROM smdp_outbox WHERE seq = $1::bigint AND due_at = $2::bigint"
                                    " AND attempts = $3::integer";

/* The encoded item as bytea text (malloc'd), NULL when out of memory. */
static char *item_hex(const smdp_ob_item *it)
{
    size_t n = smdp_ob_item_pack(it, NULL);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return NULL;
    smdp_ob_item_pack(it, buf);
    char *h = hex(buf, n);
    free(buf);
    return h;
}

static int item_add(rsp_pg_tx *t, smdp_ob_item *it)
{
    int rc = next_of(t, SQL_NEXT_OUTBOX, &it->seq);
    if (rc)
        return rc;
    char *rec = item_hex(it);
    if (!rec)
        return ENOMEM;
    num seq = u64s(it->seq), due = u64s(it->due_at), att = u64s(it->attempts), at = u64s(it->created_at);
    const char *p[6] = {seq.s, it->stream, due.s, att.s, at.s, rec};
    rc = rsp_pg_run(t, SQL_OB_INSERT, 6, p, NULL) ? SMDP_STORE_EFAILED : 0;
    free(rec);
    return rc;
}

static int x_ob_add(smdp_stx *t, smdp_ob_item *it)
{
    return item_add(T(t), it);
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

typedef struct op_job {
    smdp_op *op;
    int err; /* what rolled the last run back */
    void (*done)(smdp_op *op, int result);
} op_job;

static int apply_op(rsp_pg_tx *t, void *arg)
{
    op_job *j = arg;
    pstx x = {{&STX_OPS, j->op->store_}, t};
    j->err = smdp_store_apply(&x.base, j->op);
    /* a refusal writes nothing or keeps what it wrote (a counted attempt): both commit */
    return j->err ? -1 : 0;
}

/* The store error for a pool result. */
static int job_result(int result, int err)
{
    if (result == 0)
        return 0;
    if (result == RSP_PG_UNAVAILABLE)
        return SMDP_STORE_EUNAVAILABLE;
    return err ? err : SMDP_STORE_EFAILED;
}

static int p_run(smdp_orders *o, smdp_op *op)
{
    op_job j = {op, 0, NULL};
    int result = rsp_pg_write_sync(pg_of(o), apply_op, &j);
    return job_result(result, j.err);
}

static void op_done(void *arg, int result)
{
    op_job j = *(op_job *)arg;
    free(arg);
    j.done(j.op, job_result(result, j.err));
}

static int p_submit(smdp_orders *o, smdp_op *op, void (*done)(smdp_op *op, int result))
{
    op_job *j = malloc(sizeof(*j));
    if (!j)
        return ENOMEM;
    *j = (op_job){op, 0, done};
    if (rsp_pg_submit(pg_of(o), apply_op, op_done, j) != 0) {
        free(j);
        return SMDP_STORE_EUNAVAILABLE;
    }
    return 0;
}

/* ---- open / close ---- */

static int p_open(smdp_orders *o, const char *dir)
{
    (void)dir;
    char err[512];
    if (!o->cfg.dsn || !o->cfg.dsn[0]) {
        rsp_log(RSP_LOG_ERROR, "order store: store.backend postgres needs store.dsn");
        return EINVAL;
    }
    if (smdp_orders_migrate(o->cfg.dsn, err, sizeof(err)) != 0) {
        rsp_log(RSP_LOG_ERROR, "order store: %s", err);
        return SMDP_STORE_EUNAVAILABLE;
    }
    rsp_pg_config pc = {.dsn = o->cfg.dsn, .name = "smdp", .batch_max = o->cfg.batch_max};
    if (!(o->impl = rsp_pg_open(&pc, err, sizeof(err)))) {
        rsp_log(RSP_LOG_ERROR, "order store: %s", err);
        return SMDP_STORE_EUNAVAILABLE;
    }
    return 0;
}

static void p_close(smdp_orders *o)
{
    rsp_pg_close(pg_of(o));
    o->impl = NULL;
}

static bool p_ready(smdp_orders *o)
{
    return rsp_pg_ready(pg_of(o));
}

static void p_metrics(smdp_orders *o, FILE *f)
{
    rsp_pg_stats st;
    rsp_pg_stats_get(pg_of(o), &st);
    rsp_pg_stats_write(f, "smdp", &st);
}

/* ---- reads ---- */

/* One statement on a reader; the result stays for the caller. */
typedef struct query_job {
    const char *sql;
    int n;
    const char *const *p;
    PGresult *r;
} query_job;

static int apply_query(rsp_pg_tx *t, void *arg)
{
    query_job *q = arg;
    PQclear(q->r);
    q->r = rsp_pg_exec(t, q->sql, q->n, q->p);
    return q->r ? 0 : -1;
}

/* The result of sql (PQclear it), or NULL with *err set. */
static PGresult *query(smdp_orders *o, const char *sql, int n, const char *const *p, int *err)
{
    query_job q = {sql, n, p, NULL};
    int rc = rsp_pg_read_sync(pg_of(o), apply_query, &q);
    if (rc) {
        PQclear(q.r);
        *err = job_result(rc, 0);
        return NULL;
    }
    return q.r;
}

/* The first row's record of sql, SMDP_NOTFOUND when none. */
static int one_order(smdp_orders *o, const char *sql, int n, const char *const *p, smdp_order *out)
{
    int rc = 0;
    PGresult *r = query(o, sql, n, p, &rc);
    if (!r)
        return rc;
    rc = PQntuples(r) > 0 ? order_cell(r, 0, 0, out) : SMDP_NOTFOUND;
    PQclear(r);
    return rc;
}

static const char SQL_GET[] = "SELECT rec FROM smdp_order WHERE iccid = $1";

static int p_get(smdp_orders *o, const char *iccid, smdp_order *out)
{
    const char *p[1] = {iccid};
    return one_order(o, SQL_GET, 1, p, out);
}

static const char SQL_BY_EID[] =
    "SELECT rec FROM smdp_order WHERE queue_eid = $1 ORDER BY release_seq, iccid LIMIT 1";

static int p_find_by_eid(smdp_orders *o, const char *eid, smdp_order *out)
{
    const char *p[1] = {eid};
    return one_order(o, SQL_BY_EID, 1, p, out);
}

static const char SQL_BY_MID[] = "SELECT rec FROM smdp_order WHERE matching_id = $1";

static int p_by_mid(smdp_orders *o, const char *matching_id, smdp_order *out)
{
    const char *p[1] = {matching_id};
    return one_order(o, SQL_BY_MID, 1, p, out);
}

static const char SQL_BY_TID[] = "SELECT rec FROM smdp_order WHERE session_tid = $1::bytea";

static int p_by_tid(smdp_orders *o, const uint8_t *tid, size_t len, smdp_order *out)
{
    char *h = hex(tid, len);
    if (!h)
        return ENOMEM;
    const char *p[1] = {h};
    int rc = one_order(o, SQL_BY_TID, 1, p, out);
    free(h);
    return rc;
}

/* fn on the record in column 0 of each row, until it returns non-zero. */
static int visit_rows(PGresult *r, smdp_order_visit fn, void *arg, smdp_order *ord, int *rows)
{
    int n = PQntuples(r), rc = 0;
    for (int i = 0; i < n && !rc; i++)
        if (!(rc = order_cell(r, i, 0, ord)))
            rc = fn(arg, ord);
    *rows = n;
    return rc;
}

static const char SQL_ENDED[] = "SELECT rec FROM smdp_order WHERE ended_eid = $1 ORDER BY iccid";

static int p_ended(smdp_orders *o, const char *eid, smdp_order_visit fn, void *arg)
{
    const char *p[1] = {eid};
    int rc = 0, rows;
    PGresult *r = query(o, SQL_ENDED, 1, p, &rc);
    smdp_order *ord = malloc(sizeof(*ord));
    if (r && ord)
        rc = visit_rows(r, fn, arg, ord, &rows);
    else if (r)
        rc = ENOMEM;
    free(ord);
    PQclear(r);
    return rc;
}

static const char SQL_LIST[] = "SELECT rec, iccid FROM smdp_order WHERE iccid > $1 ORDER BY iccid LIMIT 1000";

static int p_list(smdp_orders *o, smdp_order_visit fn, void *arg)
{
    char last[SMDP_ICCID_MAX + 1] = "";
    smdp_order *ord = malloc(sizeof(*ord));
    int rc = ord ? 0 : ENOMEM, rows = PAGE;
    while (!rc && rows == PAGE) {
        const char *p[1] = {last};
        PGresult *r = query(o, SQL_LIST, 1, p, &rc);
        if (!r)
            break;
        rc = visit_rows(r, fn, arg, ord, &rows);
        if (rows > 0)
            snprintf(last, sizeof(last), "%s", PQgetvalue(r, rows - 1, 1));
        PQclear(r);
    }
    free(ord);
    return rc;
}

static const char SQL_EXPIRED[] = "SELECT iccid FROM smdp_order WHERE expires_at <= $1::bigint"
                                  " ORDER BY expires_at, iccid LIMIT $2::bigint";

static int p_expired(smdp_orders *o, uint64_t now, char (*iccids)[SMDP_ICCID_MAX + 1], size_t max, size_t *n)
{
    num at = u64s(now), lim = u64s(max);
    const char *p[2] = {at.s, lim.s};
    int rc = 0;
    PGresult *r = query(o, SQL_EXPIRED, 2, p, &rc);
    if (!r)
        return rc;
    for (int i = 0; i < PQntuples(r) && *n < max; i++)
        snprintf(iccids[(*n)++], SMDP_ICCID_MAX + 1, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

static const char SQL_GET_PPP[] = "SELECT data FROM smdp_ppp WHERE iccid = $1";
static const char SQL_GET_BPP[] = "SELECT data FROM smdp_bpp WHERE iccid = $1";

static int p_get_blob(smdp_orders *o, bool bpp, const char *iccid, uint8_t **out, size_t *len)
{
    const char *p[1] = {iccid};
    int rc = 0;
    PGresult *r = query(o, bpp ? SQL_GET_BPP : SQL_GET_PPP, 1, p, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return SMDP_NOTFOUND;
    }
    size_t n;
    uint8_t *b = cell_bytes(r, 0, 0, &n);
    PQclear(r);
    if (!b)
        return SMDP_CORRUPTED;
    *out = malloc(n ? n : 1);
    if (*out) {
        memcpy(*out, b, n);
        *len = n;
    }
    PQfreemem(b);
    return *out ? 0 : ENOMEM;
}

/* Read jobs run outside an explicit transaction: the answer as committed. */
typedef struct answer_job {
    const uint8_t *key;
    smdp_answer *out;
    int rc;
} answer_job;

static int apply_answer(rsp_pg_tx *t, void *arg)
{
    answer_job *j = arg;
    j->rc = answer_load(t, j->key, j->out);
    return j->rc == SMDP_STORE_EFAILED ? -1 : 0;
}

static int p_answer_get(smdp_orders *o, const uint8_t key[SMDP_CALL_KEY_LEN], smdp_answer *out)
{
    answer_job j = {key, out, 0};
    int rc = rsp_pg_read_sync(pg_of(o), apply_answer, &j);
    return rc ? job_result(rc, 0) : j.rc;
}

/* ---- writes of their own ---- */

typedef struct count_job {
    const char *sql;
    int n;
    const char *const *p;
    long rows;
} count_job;

static int apply_count(rsp_pg_tx *t, void *arg)
{
    count_job *c = arg;
    return rsp_pg_run(t, c->sql, c->n, c->p, &c->rows);
}

/* SKIP LOCKED: nodes purging at once take different rows instead of waiting for each other. */
static const char SQL_PURGE_ANSWERS[] = "DELETE FROM smdp_answer WHERE call_key IN (SELECT call_key FROM "
                                        "smdp_answer WHERE created_at <= $1::bigint"
                                        " ORDER BY created_at LIMIT $2::bigint FOR UPDATE SKIP LOCKED)";

static int p_answers_purge(smdp_orders *o, uint64_t now, size_t max, size_t *n)
{
    if (now < o->cfg.answer_ttl)
        return 0;
    num cut = u64s(now - o->cfg.answer_ttl), lim = u64s(max);
    const char *p[2] = {cut.s, lim.s};
    count_job c = {SQL_PURGE_ANSWERS, 2, p, 0};
    int rc = job_result(rsp_pg_write_sync(pg_of(o), apply_count, &c), 0);
    *n = rc ? 0 : (size_t)c.rows;
    return rc;
}

/* ---- outbox ---- */

static const char SQL_OB_PICK[] =
    "SELECT rec FROM smdp_outbox o WHERE due_at <= $1::bigint AND NOT EXISTS (SELECT 1 FROM smdp_outbox h"
    " WHERE h.stream = o.stream AND h.seq < o.seq) ORDER BY due_at, seq LIMIT $2::bigint"
    " FOR UPDATE SKIP LOCKED";
static const char SQL_OB_NEXT_DUE[] =
    "SELECT coalesce(min(due_at), 0) FROM smdp_outbox WHERE due_at > $1::bigint";

typedef struct claim_job {
    uint64_t now;
    uint32_t lease;
    size_t max;
    smdp_ob_item *out;
    size_t n;
    uint64_t next_due;
} claim_job;

/* Moves a claimed item's lease and attempt count (it: as it was stored; claimed: the new state). */
static int item_move(rsp_pg_tx *t, const smdp_ob_item *it, const smdp_ob_item *next)
{
    char *rec = item_hex(next);
    if (!rec)
        return -1;
    num seq = u64s(it->seq), due = u64s(it->due_at), att = u64s(it->attempts), ndue = u64s(next->due_at),
        natt = u64s(next->attempts);
    const char *p[6] = {seq.s, due.s, att.s, ndue.s, natt.s, rec};
    long rows = 0;
    int rc = rsp_pg_run(t, SQL_OB_UPDATE, 6, p, &rows);
    free(rec);
    return rc ? -1 : rows == 1 ? 0 : 1;
}

static int apply_claim(rsp_pg_tx *t, void *arg)
{
    claim_job *c = arg;
    c->n = 0;
    num now = u64s(c->now), lim = u64s(c->max);
    const char *p[2] = {now.s, lim.s};
    PGresult *r = rsp_pg_exec(t, SQL_OB_PICK, 2, p);
    if (!r)
        return -1;
    int rows = PQntuples(r), rc = 0;
    for (int i = 0; i < rows && c->n < c->max && rc == 0; i++) {
        smdp_ob_item *it = &c->out[c->n], cur;
        if (item_cell(r, i, 0, &cur) != 0) {
            rsp_log(RSP_LOG_ERROR, "outbox: a stored item does not decode");
            continue;
        }
        *it = cur;
        it->due_at = c->now + c->lease;
        it->attempts++;
        int moved = item_move(t, &cur, it);
        if (moved < 0)
            rc = -1;
        else if (moved == 0)
            c->n++;
    }
    PQclear(r);
    if (rc < 0)
        return -1;
    char next[24];
    if (first_text(t, SQL_OB_NEXT_DUE, 1, p, next, sizeof(next)))
        return -1;
    c->next_due = strtoull(next, NULL, 10);
    return 0;
}

static int p_ob_claim(smdp_orders *o, uint64_t now, uint32_t lease, unsigned scan_max, size_t max,
                      smdp_ob_item *out, size_t *n, uint64_t *next_due)
{
    (void)scan_max; /* the index finds due heads without walking the items behind them */
    claim_job c = {now, lease, max < MAX_CLAIM ? max : MAX_CLAIM, out, 0, 0};
    int rc = job_result(rsp_pg_write_sync(pg_of(o), apply_claim, &c), 0);
    if (rc)
        return rc;
    *n = c.n;
    *next_due = c.next_due;
    return 0;
}

typedef struct finish_job {
    smdp_ob_item claimed, next;
    bool remove;
    void (*done)(void *arg, int rc);
    void *arg;
} finish_job;

static int apply_finish(rsp_pg_tx *t, void *arg)
{
    finish_job *f = arg;
    if (!f->remove)
        return item_move(t, &f->claimed, &f->next) < 0 ? -1 : 0;
    num seq = u64s(f->claimed.seq), due = u64s(f->claimed.due_at), att = u64s(f->claimed.attempts);
    const char *p[3] = {seq.s, due.s, att.s};
    /* no row: deleted, or claimed again after the lease ran out (that result counts) */
    return rsp_pg_run(t, SQL_OB_DELETE, 3, p, NULL);
}

static void finish_done(void *arg, int result)
{
    finish_job *f = arg;
    f->done(f->arg, job_result(result, 0));
    free(f);
}

static int p_ob_finish(smdp_orders *o, const smdp_ob_item *claimed, const smdp_ob_item *next,
                       void (*done)(void *arg, int rc), void *arg)
{
    finish_job *f = malloc(sizeof(*f));
    if (!f)
        return ENOMEM;
    f->claimed = *claimed;
    f->remove = next == NULL;
    if (next)
        f->next = *next;
    f->done = done;
    f->arg = arg;
    if (rsp_pg_submit(pg_of(o), apply_finish, finish_done, f) != 0) {
        free(f);
        return SMDP_STORE_EUNAVAILABLE;
    }
    return 0;
}

typedef struct add_job {
    smdp_ob_item *items;
    size_t n;
} add_job;

static int apply_add(rsp_pg_tx *t, void *arg)
{
    add_job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        if (item_add(t, &j->items[i]) != 0)
            return -1;
    return 0;
}

static int p_ob_add(smdp_orders *o, smdp_ob_item *items, size_t n)
{
    add_job j = {items, n};
    return job_result(rsp_pg_write_sync(pg_of(o), apply_add, &j), 0);
}

static const char SQL_OB_LIST[] =
    "SELECT rec, seq FROM smdp_outbox WHERE seq > $1::bigint ORDER BY seq LIMIT 1000";

static int p_ob_list(smdp_orders *o, int (*fn)(void *arg, const smdp_ob_item *it), void *arg)
{
    uint64_t last = 0;
    smdp_ob_item *it = malloc(sizeof(*it));
    int rc = it ? 0 : ENOMEM, rows = PAGE;
    while (!rc && rows == PAGE) {
        num after = u64s(last);
        const char *p[1] = {after.s};
        PGresult *r = query(o, SQL_OB_LIST, 1, p, &rc);
        if (!r)
            break;
        rows = PQntuples(r);
        for (int i = 0; i < rows && !rc; i++)
            if (!(rc = item_cell(r, i, 0, it)))
                rc = fn(arg, it);
        if (rows > 0)
            last = strtoull(PQgetvalue(r, rows - 1, 1), NULL, 10);
        PQclear(r);
    }
    free(it);
    return rc;
}

static const char SQL_OB_PENDING[] = "SELECT count(*), coalesce(min(created_at), 0) FROM smdp_outbox";

static int p_ob_pending(smdp_orders *o, uint64_t *count, uint64_t *oldest)
{
    int rc = 0;
    PGresult *r = query(o, SQL_OB_PENDING, 0, NULL, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1) {
        *count = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        *oldest = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
    return 0;
}

const smdp_store_ops smdp_store_pg_ops = {
    .open = p_open,
    .close = p_close,
    .run = p_run,
    .submit = p_submit,
    .get = p_get,
    .find_by_eid = p_find_by_eid,
    .ended = p_ended,
    .by_mid = p_by_mid,
    .by_tid = p_by_tid,
    .get_blob = p_get_blob,
    .list = p_list,
    .expired = p_expired,
    .answer_get = p_answer_get,
    .answers_purge = p_answers_purge,
    .ob_claim = p_ob_claim,
    .ob_finish = p_ob_finish,
    .ob_add = p_ob_add,
    .ob_list = p_ob_list,
    .ob_pending = p_ob_pending,
    .ready = p_ready,
    .metrics = p_metrics,
};
