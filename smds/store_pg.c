/*
 * The PostgreSQL backend of the event store (store.h): one table, rows keyed by EventID, a database
 * sequence for arrival order, group commit through rsp/pg.  Every write is one statement that checks
 * and writes at once, so a refusal (EventID taken, per-EID cap, not the owner) writes nothing and keeps
 * its batch on the cheap path.
 *
 * The per-EID cap is checked inside the INSERT, after the batch has taken a transaction lock on each of
 * its EIDs: writers on other nodes (or this node's other writer) wait, and then count what they committed,
 * so the cap holds exactly across the cluster.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/log.h"
#include "rsp/metrics.h"
#include "rsp/pg.h"
#include "smds/store.h"
#include "smds/store_impl.h"

/* Job results above this base carry an rsp_status. */
#define ST_BASE 100000
#define PAGE 1000

static const rsp_pg_migration migrations[] = {
    {1, "CREATE SEQUENCE smds_event_seq;"
        "CREATE TABLE smds_event ("
        " event_id text PRIMARY KEY,"
        " eid text NOT NULL,"
        " seq bigint NOT NULL DEFAULT nextval('smds_event_seq') UNIQUE,"
        " rsp_server_address text NOT NULL,"
        " owner text NOT NULL,"
        " root_smds text NOT NULL DEFAULT '',"
        " forwarded boolean NOT NULL DEFAULT false,"
        " via integer NOT NULL,"
        " created_at bigint NOT NULL,"
        " expires_at bigint NOT NULL DEFAULT 0);"
        "CREATE INDEX smds_event_by_eid ON smds_event (eid, seq);"
        "CREATE INDEX smds_event_by_expiry ON smds_event (expires_at, seq) WHERE expires_at > 0"},
};

#define COLS                                                                                                 \
    "event_id, eid, seq, rsp_server_address, owner, root_smds, forwarded, via, created_at, expires_at"

static rsp_pg *pg_of(const smds_store *s)
{
    return s->impl;
}

int smds_store_migrate(const char *dsn, char *err, size_t errlen)
{
    return rsp_pg_migrate_dsn(dsn, "smds", migrations, sizeof(migrations) / sizeof(migrations[0]), err,
                              errlen);
}

static int pg_open(smds_store *s, const char *dir)
{
    (void)dir;
    char err[512];
    if (!s->cfg.dsn || !s->cfg.dsn[0]) {
        rsp_log(RSP_LOG_ERROR, "event store: store.backend postgres needs store.dsn");
        return -1;
    }
    if (smds_store_migrate(s->cfg.dsn, err, sizeof(err)) != 0) {
        rsp_log(RSP_LOG_ERROR, "event store: %s", err);
        return -1;
    }
    rsp_pg_config pc = {.dsn = s->cfg.dsn, .name = "smds", .batch_max = s->cfg.batch_max};
    if (!(s->impl = rsp_pg_open(&pc, err, sizeof(err)))) {
        rsp_log(RSP_LOG_ERROR, "event store: %s", err);
        return -1;
    }
    return 0;
}

static void pg_close(smds_store *s)
{
    rsp_pg_close(pg_of(s));
    s->impl = NULL;
}

struct rsp_pg *smds_store_pg(smds_store *s)
{
    return s && s->ops == &smds_store_pg_ops ? pg_of(s) : NULL;
}

static bool pg_ready(const smds_store *s)
{
    return rsp_pg_ready(pg_of(s));
}

/* A row of COLS into ev. */
static void decode(const PGresult *r, int row, smds_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    smds_store_copy(ev->event_id, sizeof(ev->event_id), PQgetvalue(r, row, 0));
    smds_store_copy(ev->eid, sizeof(ev->eid), PQgetvalue(r, row, 1));
    ev->seq = strtoull(PQgetvalue(r, row, 2), NULL, 10);
    smds_store_copy(ev->rsp_server_address, sizeof(ev->rsp_server_address), PQgetvalue(r, row, 3));
    smds_store_copy(ev->owner, sizeof(ev->owner), PQgetvalue(r, row, 4));
    smds_store_copy(ev->root_smds, sizeof(ev->root_smds), PQgetvalue(r, row, 5));
    ev->forwarded = PQgetvalue(r, row, 6)[0] == 't';
    ev->via = (uint32_t)strtoul(PQgetvalue(r, row, 7), NULL, 10);
    ev->created_at = strtoull(PQgetvalue(r, row, 8), NULL, 10);
    ev->expires_at = strtoull(PQgetvalue(r, row, 9), NULL, 10);
}

static rsp_status result_status(int result)
{
    if (result == 0)
        return RSP_OK;
    if (result > ST_BASE)
        return (rsp_status)(result - ST_BASE);
    if (result == RSP_PG_UNAVAILABLE)
        rsp_log(RSP_LOG_WARN, "event store: database unavailable, write not done");
    return RSP_ST_INTERNAL;
}

/* Completion of a register (delta 1) or delete (-1): keeps this node's view of the count current between
 * housekeeping rounds, which also take in other nodes' writes. */
static void job_finished(void *job, int result, smds_store *s, int delta)
{
    struct smds_store_job_done cb = *(struct smds_store_job_done *)job;
    free(job);
    if (result == 0)
        atomic_fetch_add(&s->count_seen, (uint_fast64_t)(int_fast64_t)delta);
    cb.done(cb.arg, result_status(result));
}

/* ---- register ---- */

static const char SQL_REGISTER[] =
    "INSERT INTO smds_event (event_id, eid, rsp_server_address, owner, root_smds, forwarded, via, created_at,"
    " expires_at) SELECT $1, $2, $3, $4, $5, $6::boolean, $7::integer, $8::bigint, $9::bigint"
    " WHERE (SELECT count(*) FROM (SELECT 1 FROM smds_event WHERE eid = $2 LIMIT $10::bigint) c) < "
    "$10::bigint"
    " ON CONFLICT (event_id) DO NOTHING RETURNING seq";
static const char SQL_EXISTS[] = "SELECT 1 FROM smds_event WHERE event_id = $1";

static int apply_register(rsp_pg_tx *t, void *arg)
{
    struct smds_store_reg_job *j = arg;
    smds_event *ev = j->ev;
    ev->created_at = (uint64_t)j->now;
    ev->expires_at = j->s->cfg.max_age ? (uint64_t)j->now + j->s->cfg.max_age : 0;
    char via[16], created[24], expires[24], cap[24];
    snprintf(via, sizeof(via), "%u", ev->via);
    snprintf(created, sizeof(created), "%llu", (unsigned long long)ev->created_at);
    snprintf(expires, sizeof(expires), "%llu", (unsigned long long)ev->expires_at);
    snprintf(cap, sizeof(cap), "%zu", j->s->cfg.per_eid_cap);
    const char *p[10] = {ev->event_id, ev->eid,       ev->rsp_server_address,
                         ev->owner,    ev->root_smds, ev->forwarded ? "t" : "f",
                         via,          created,       expires,
                         cap};
    PGresult *r = rsp_pg_exec(t, SQL_REGISTER, 10, p);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (rows == 1)
        ev->seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (rows == 1)
        return 0;
    long taken = 0;
    if (rsp_pg_run(t, SQL_EXISTS, 1, p, &taken) != 0)
        return -1;
    if (taken)
        return ST_BASE + RSP_ST_EVENT_EXISTS;
    rsp_log(RSP_LOG_WARN, "EID %.8s...: per-EID event cap %zu reached", ev->eid, j->s->cfg.per_eid_cap);
    return ST_BASE + RSP_ST_INTERNAL;
}

/* Registrations of one batch as one INSERT over unnest(): one round trip for the group.  A job whose
 * EventID or EID an earlier job of the group also has runs alone after it (the cap and the uniqueness
 * check must see the earlier row), as does every job the merged INSERT did not take (to tell "exists"
 * from "cap reached"). */
static const char SQL_REGISTER_MANY[] =
    "INSERT INTO smds_event (event_id, eid, rsp_server_address, owner, root_smds, forwarded, via, created_at,"
    " expires_at) SELECT i.event_id, i.eid, i.addr, i.owner, i.root, i.fwd, i.via, i.created, i.expires"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::integer[],"
    " $8::bigint[], $9::bigint[]) WITH ORDINALITY AS i(event_id, eid, addr, owner, root, fwd, via, created,"
    " expires, ord)"
    " WHERE (SELECT count(*) FROM (SELECT 1 FROM smds_event e WHERE e.eid = i.eid LIMIT $10::bigint) c) < "
    "$10::bigint"
    " ORDER BY i.ord ON CONFLICT (event_id) DO NOTHING RETURNING event_id, seq";

#define NCOLS 9
#define SEEN_SLOTS 1024 /* > 2 x batch_max: open addressing stays short */

/* Whether key was added to the table before (and adds it).  slots hold indexes + 1 into keys. */
static bool seen(uint16_t *slots, const char *const *keys, size_t idx)
{
    uint32_t h = 2166136261u;
    for (const char *p = keys[idx]; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (size_t k = h % SEEN_SLOTS;; k = (k + 1) % SEEN_SLOTS) {
        if (!slots[k]) {
            slots[k] = (uint16_t)(idx + 1);
            return false;
        }
        if (!strcmp(keys[slots[k] - 1], keys[idx]))
            return true;
    }
}

/* Locks are taken in one order (by key) so that two batches cannot wait for each other; an EID's lock
 * class keeps it apart from the migration lock. */
static const char SQL_LOCK_EIDS[] = "SELECT pg_advisory_xact_lock(75263, k) FROM (SELECT DISTINCT hashtext(e)"
                                    " AS k FROM unnest($1::text[]) e ORDER BY 1) x";

static int lock_eids(rsp_pg_tx *t, void *const *args, size_t n)
{
    rsp_pg_array eids;
    rsp_pg_array_init(&eids);
    for (size_t i = 0; i < n; i++)
        rsp_pg_array_add(&eids, ((struct smds_store_reg_job *)args[i])->ev->eid);
    const char *p[1] = {rsp_pg_array_end(&eids)};
    PGresult *r = p[0] ? rsp_pg_exec(t, SQL_LOCK_EIDS, 1, p) : NULL;
    rsp_pg_array_free(&eids);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int apply_register_many(rsp_pg_tx *t, void *const *args, int *results, size_t n)
{
    if (lock_eids(t, args, n) != 0)
        return -1;
    if (n == 1 || n > SEEN_SLOTS / 2)
        goto alone;
    const char *ids[SEEN_SLOTS / 2], *eids[SEEN_SLOTS / 2];
    uint16_t id_slots[SEEN_SLOTS] = {0}, eid_slots[SEEN_SLOTS] = {0};
    bool solo[SEEN_SLOTS / 2], done[SEEN_SLOTS / 2];
    for (size_t i = 0; i < n; i++) {
        const smds_event *ev = ((struct smds_store_reg_job *)args[i])->ev;
        ids[i] = ev->event_id;
        eids[i] = ev->eid;
        /* both tables take every key, so the later of two equal ones is found either way */
        bool a = seen(id_slots, ids, i), b = seen(eid_slots, eids, i);
        solo[i] = a || b;
        done[i] = false;
    }
    rsp_pg_array cols[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        rsp_pg_array_init(&cols[c]);
    for (size_t i = 0; i < n; i++) {
        if (solo[i])
            continue;
        struct smds_store_reg_job *j = args[i];
        smds_event *ev = j->ev;
        ev->created_at = (uint64_t)j->now;
        ev->expires_at = j->s->cfg.max_age ? (uint64_t)j->now + j->s->cfg.max_age : 0;
        char via[16], created[24], expires[24];
        snprintf(via, sizeof(via), "%u", ev->via);
        snprintf(created, sizeof(created), "%llu", (unsigned long long)ev->created_at);
        snprintf(expires, sizeof(expires), "%llu", (unsigned long long)ev->expires_at);
        const char *v[NCOLS] = {ev->event_id, ev->eid,       ev->rsp_server_address,
                                ev->owner,    ev->root_smds, ev->forwarded ? "t" : "f",
                                via,          created,       expires};
        for (int c = 0; c < NCOLS; c++)
            rsp_pg_array_add(&cols[c], v[c]);
    }
    char cap[24];
    snprintf(cap, sizeof(cap), "%zu", ((struct smds_store_reg_job *)args[0])->s->cfg.per_eid_cap);
    const char *p[NCOLS + 1];
    bool oom = false;
    for (int c = 0; c < NCOLS; c++)
        oom |= !(p[c] = rsp_pg_array_end(&cols[c]));
    p[NCOLS] = cap;
    PGresult *r = oom ? NULL : rsp_pg_exec(t, SQL_REGISTER_MANY, NCOLS + 1, p);
    for (int c = 0; c < NCOLS; c++)
        rsp_pg_array_free(&cols[c]);
    if (!r)
        return -1;
    /* Rows come back in insertion order, which follows the group's: a cursor finds each at once. */
    size_t cur = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *id = PQgetvalue(r, row, 0);
        for (size_t k = 0; k < n; k++, cur = (cur + 1) % n) {
            if (!solo[cur] && !done[cur] && !strcmp(ids[cur], id)) {
                ((struct smds_store_reg_job *)args[cur])->ev->seq = strtoull(PQgetvalue(r, row, 1), NULL, 10);
                done[cur] = true;
                results[cur] = 0;
                break;
            }
        }
    }
    PQclear(r);
    for (size_t i = 0; i < n; i++)
        if (!done[i] && (results[i] = apply_register(t, args[i])) < 0)
            return -1;
    return 0;
alone:
    for (size_t i = 0; i < n; i++)
        if ((results[i] = apply_register(t, args[i])) < 0)
            return -1;
    return 0;
}

static void reg_finished(void *job, int result)
{
    job_finished(job, result, ((struct smds_store_reg_job *)job)->s, 1);
}

static int pg_register(smds_store *s, smds_event *ev, time_t now, smds_store_done_cb done, void *arg)
{
    struct smds_store_reg_job *j = smds_store_reg_job_new(s, ev, now, done, arg);
    if (!j)
        return -1;
    if (rsp_pg_submit_many(pg_of(s), apply_register_many, reg_finished, j) != 0) {
        free(j);
        return -1;
    }
    return 0;
}

/* ---- delete ---- */

static const char SQL_DELETE[] = "DELETE FROM smds_event WHERE event_id = $1 AND eid = $2"
                                 " AND ($3::text IS NULL OR owner = $3) RETURNING " COLS;

static int apply_delete(rsp_pg_tx *t, void *arg)
{
    struct smds_store_del_job *j = arg;
    const char *p[3] = {j->event_id, j->eid, j->check_owner ? j->owner : NULL};
    PGresult *r = rsp_pg_exec(t, SQL_DELETE, 3, p);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    if (rows == 1 && j->out)
        decode(r, 0, j->out);
    PQclear(r);
    return rows == 1 ? 0 : ST_BASE + RSP_ST_EVENT_UNKNOWN;
}

static void del_finished(void *job, int result)
{
    job_finished(job, result, ((struct smds_store_del_job *)job)->s, -1);
}

static int pg_delete(smds_store *s, const char *eid, const char *event_id, const char *owner, smds_event *out,
                     smds_store_done_cb done, void *arg)
{
    struct smds_store_del_job *j = smds_store_del_job_new(s, eid, event_id, owner, out, done, arg);
    if (!j)
        return -1;
    if (rsp_pg_submit(pg_of(s), apply_delete, del_finished, j) != 0) {
        free(j);
        return -1;
    }
    return 0;
}

/* ---- reads ---- */

struct list_job {
    char eid[SMDS_EID_LEN + 1];
    char now[24];
    smds_event_list list;
    smds_store_list_cb cb;
    void *arg;
};

static const char SQL_LIST[] = "SELECT " COLS " FROM smds_event WHERE eid = $1"
                               " AND (expires_at = 0 OR expires_at > $2::bigint) ORDER BY seq";

static int apply_list(rsp_pg_tx *t, void *arg)
{
    struct list_job *j = arg;
    smds_event_list_free(&j->list);
    const char *p[2] = {j->eid, j->now};
    PGresult *r = rsp_pg_exec(t, SQL_LIST, 2, p);
    if (!r)
        return -1;
    int n = PQntuples(r), rc = 0;
    size_t cap = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        smds_event ev;
        decode(r, i, &ev);
        rc = smds_store_list_add(&j->list, &cap, &ev);
    }
    PQclear(r);
    return rc;
}

/* The lists of a run of queued ES11 polls as one SELECT over their EIDs, each row given to every job of
 * its EID (filtered by that job's own now). */
static const char SQL_LIST_MANY[] = "SELECT " COLS " FROM smds_event WHERE eid = ANY($1::text[])"
                                    " AND (expires_at = 0 OR expires_at > $2::bigint) ORDER BY eid, seq";

static int apply_list_many(rsp_pg_tx *t, void *const *args, int *results, size_t n)
{
    if (n == 1 || n > SEEN_SLOTS / 2)
        goto alone;
    const char *eids[SEEN_SLOTS / 2];
    uint16_t slots[SEEN_SLOTS] = {0};
    size_t cap[SEEN_SLOTS / 2];
    long long oldest = 0;
    rsp_pg_array a;
    rsp_pg_array_init(&a);
    for (size_t i = 0; i < n; i++) {
        struct list_job *j = args[i];
        smds_event_list_free(&j->list);
        cap[i] = 0;
        eids[i] = j->eid;
        if (!seen(slots, eids, i))
            rsp_pg_array_add(&a, j->eid);
        long long now = atoll(j->now);
        if (i == 0 || now < oldest)
            oldest = now;
    }
    char at[24];
    snprintf(at, sizeof(at), "%lld", oldest);
    const char *arr = rsp_pg_array_end(&a);
    const char *p[2] = {arr, at};
    PGresult *r = arr ? rsp_pg_exec(t, SQL_LIST_MANY, 2, p) : NULL;
    rsp_pg_array_free(&a);
    if (!r)
        return -1;
    int rows = PQntuples(r), rc = 0;
    for (int row = 0; row < rows && rc == 0; row++) {
        smds_event ev;
        decode(r, row, &ev);
        for (size_t i = 0; i < n && rc == 0; i++) {
            struct list_job *j = args[i];
            if (!strcmp(j->eid, ev.eid) && (ev.expires_at == 0 || ev.expires_at > (uint64_t)atoll(j->now)))
                rc = smds_store_list_add(&j->list, &cap[i], &ev);
        }
    }
    PQclear(r);
    for (size_t i = 0; i < n; i++)
        results[i] = 0;
    return rc;
alone:
    for (size_t i = 0; i < n; i++)
        if ((results[i] = apply_list(t, args[i])) < 0)
            return -1;
    return 0;
}

static void list_job_init(struct list_job *j, const char *eid, time_t now)
{
    memset(j, 0, sizeof(*j));
    smds_store_copy(j->eid, sizeof(j->eid), eid);
    snprintf(j->now, sizeof(j->now), "%lld", (long long)now);
}

static int pg_list(smds_store *s, const char *eid, time_t now, smds_event_list *out)
{
    struct list_job j;
    list_job_init(&j, eid, now);
    if (rsp_pg_read_sync(pg_of(s), apply_list, &j) != 0) {
        smds_event_list_free(&j.list);
        return -1;
    }
    *out = j.list;
    return 0;
}

static void list_done(void *arg, int result)
{
    struct list_job *j = arg;
    if (result != 0)
        smds_event_list_free(&j->list);
    j->cb(j->arg, result == 0 ? 0 : -1, &j->list);
    free(j);
}

static int pg_list_async(smds_store *s, const char *eid, time_t now, smds_store_list_cb cb, void *arg)
{
    struct list_job *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    list_job_init(j, eid, now);
    j->cb = cb;
    j->arg = arg;
    if (rsp_pg_submit_read_many(pg_of(s), apply_list_many, list_done, j) != 0) {
        free(j);
        return -1;
    }
    return 0;
}

struct get_job {
    char event_id[SMDS_EVENT_ID_MAX + 1];
    int found;
    smds_event ev;
    smds_store_get_cb cb;
    void *arg;
};

static const char SQL_GET[] = "SELECT " COLS " FROM smds_event WHERE event_id = $1";

static int apply_get(rsp_pg_tx *t, void *arg)
{
    struct get_job *j = arg;
    const char *p[1] = {j->event_id};
    PGresult *r = rsp_pg_exec(t, SQL_GET, 1, p);
    if (!r)
        return -1;
    j->found = PQntuples(r) == 1;
    if (j->found)
        decode(r, 0, &j->ev);
    PQclear(r);
    return 0;
}

static int pg_get(smds_store *s, const char *event_id, smds_event *out)
{
    struct get_job j = {0};
    smds_store_copy(j.event_id, sizeof(j.event_id), event_id);
    if (rsp_pg_read_sync(pg_of(s), apply_get, &j) != 0)
        return -1;
    if (j.found)
        *out = j.ev;
    return j.found;
}

static void get_done(void *arg, int result)
{
    struct get_job *j = arg;
    int found = result == 0 ? j->found : -1;
    j->cb(j->arg, found, found == 1 ? &j->ev : NULL);
    free(j);
}

static int pg_get_async(smds_store *s, const char *event_id, smds_store_get_cb cb, void *arg)
{
    struct get_job *j = calloc(1, sizeof(*j));
    if (!j)
        return -1;
    smds_store_copy(j->event_id, sizeof(j->event_id), event_id);
    j->cb = cb;
    j->arg = arg;
    if (rsp_pg_submit_read(pg_of(s), apply_get, get_done, j) != 0) {
        free(j);
        return -1;
    }
    return 0;
}

struct scalar_job {
    const char *sql;
    int n;
    const char *p[2];
    long long v;
};

static int apply_scalar(rsp_pg_tx *t, void *arg)
{
    struct scalar_job *j = arg;
    PGresult *r = rsp_pg_exec(t, j->sql, j->n, j->p);
    if (!r)
        return -1;
    j->v = PQresultStatus(r) == PGRES_TUPLES_OK ? (PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0)
                                                : atoll(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

static const char SQL_COUNT[] = "SELECT count(*) FROM smds_event";

static uint64_t pg_count(smds_store *s)
{
    struct scalar_job j = {SQL_COUNT, 0, {NULL, NULL}, 0};
    return rsp_pg_read_sync(pg_of(s), apply_scalar, &j) == 0 ? (uint64_t)j.v : 0;
}

/* One page of the walk in (eid, seq) order after the last row seen. */
struct page_job {
    char eid[SMDS_EID_LEN + 1];
    char seq[24];
    PGresult *r;
};

static const char SQL_PAGE[] = "SELECT " COLS " FROM smds_event WHERE (eid, seq) > ($1, $2::bigint)"
                               " ORDER BY eid, seq LIMIT 1000";

static int apply_page(rsp_pg_tx *t, void *arg)
{
    struct page_job *j = arg;
    PQclear(j->r);
    const char *p[2] = {j->eid, j->seq};
    j->r = rsp_pg_exec(t, SQL_PAGE, 2, p);
    return j->r ? 0 : -1;
}

static int pg_foreach(smds_store *s, int (*fn)(const smds_event *ev, void *arg), void *arg)
{
    struct page_job j = {"", "0", NULL};
    for (;;) {
        if (rsp_pg_read_sync(pg_of(s), apply_page, &j) != 0) {
            PQclear(j.r);
            return -1;
        }
        int n = PQntuples(j.r);
        smds_event ev;
        for (int i = 0; i < n; i++) {
            decode(j.r, i, &ev);
            if (fn(&ev, arg) != 0) {
                PQclear(j.r);
                return 0;
            }
        }
        PQclear(j.r);
        j.r = NULL;
        if (n < PAGE)
            return 0;
        smds_store_copy(j.eid, sizeof(j.eid), ev.eid);
        snprintf(j.seq, sizeof(j.seq), "%llu", (unsigned long long)ev.seq);
    }
}

/* ---- purge ---- */

/* SKIP LOCKED: nodes purging at the same time take different rows instead of waiting on each other. */
static const char SQL_PURGE[] =
    "DELETE FROM smds_event WHERE event_id IN (SELECT event_id FROM smds_event WHERE expires_at > 0"
    " AND expires_at <= $1::bigint ORDER BY expires_at, seq LIMIT $2::bigint FOR UPDATE SKIP LOCKED)";

static long pg_purge(smds_store *s, time_t now, size_t limit)
{
    char at[24], lim[24];
    snprintf(at, sizeof(at), "%lld", (long long)now);
    snprintf(lim, sizeof(lim), "%zu", limit);
    struct scalar_job j = {SQL_PURGE, 2, {at, lim}, 0};
    if (rsp_pg_write_sync(pg_of(s), apply_scalar, &j) != 0)
        return -1;
    atomic_fetch_sub(&s->count_seen, (uint_fast64_t)j.v);
    return (long)j.v;
}

static void pg_metrics(smds_store *s, FILE *f)
{
    rsp_metrics_write(
        f, RSP_METRIC_GAUGE, "smds_events_stored",
        "Event Records held (expired ones awaiting purge included), at the last housekeeping round",
        (uint64_t)atomic_load(&s->count_seen));
    rsp_pg_stats st;
    rsp_pg_stats_get(pg_of(s), &st);
    rsp_pg_stats_write(f, "smds", &st);
}

const smds_store_ops smds_store_pg_ops = {
    .open = pg_open,
    .close = pg_close,
    .reg = pg_register,
    .del = pg_delete,
    .list = pg_list,
    .list_async = pg_list_async,
    .get = pg_get,
    .get_async = pg_get_async,
    .purge = pg_purge,
    .count = pg_count,
    .foreach = pg_foreach,
    .ready = pg_ready,
    .metrics = pg_metrics,
    .reads_inline = false,
};
