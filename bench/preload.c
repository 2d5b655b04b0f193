#include "bench/preload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/event.pb-c.h"
#include "rsp/db.h"
#include "smds/store.h"
#include "tools/pki/pki.h"

/* The databases of smds/store.c, in its order. */
enum { DB_EVENTS, DB_IDS, DB_EXPIRY, DB_META, DB_COUNT };
static const rsp_db_spec specs[DB_COUNT] = {
    {"events", 0},
    {"ids", 0},
    {"expiry", 0},
    {"meta", 0},
};

#define DEFAULT_BATCH 100000

void preload_event_id(const preload_cfg *cfg, uint64_t k, char *out, size_t cap)
{
    snprintf(out, cap, "%s%012llu", cfg->event_prefix, (unsigned long long)k);
}

static uint64_t stride_of(const preload_cfg *cfg)
{
    return cfg->stride ? cfg->stride : 1;
}

struct batch {
    const preload_cfg *cfg;
    rsp_db_env *env;
    uint64_t from, to;
    char err[160];
};

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

static int apply_batch(rsp_db_wtxn *t, void *arg)
{
    struct batch *b = arg;
    const preload_cfg *c = b->cfg;
    uint64_t expires = c->max_age ? (uint64_t)c->now + c->max_age : 0;
    char eid[SMDS_EID_LEN + 1], event_id[SMDS_EVENT_ID_MAX + 1];
    rsp_key k;
    for (uint64_t i = b->from; i < b->to; i++) {
        uint64_t seq = i + 1, num = i * stride_of(c);
        if (pki_eid_make(c->eid_prefix, num, eid) != 0) {
            snprintf(b->err, sizeof(b->err), "EID number %llu does not fit after prefix %s",
                     (unsigned long long)num, c->eid_prefix);
            return EINVAL;
        }
        preload_event_id(c, num, event_id, sizeof(event_id));
        Rsp__EventRecord r = RSP__EVENT_RECORD__INIT;
        r.eid = eid;
        r.event_id = event_id;
        r.rsp_server_address = (char *)c->address;
        r.owner = (char *)c->owner;
        r.seq = seq;
        r.created_at = (uint64_t)c->now;
        r.expires_at = expires;
        r.forwarded = false;
        r.root_smds = "";
        r.via = 12;
        size_t len = rsp__event_record__get_packed_size(&r);
        rsp_key_init(&k);
        rsp_key_bytes(&k, eid, SMDS_EID_LEN);
        rsp_key_u64(&k, seq);
        /* Every put appends: MDB_KEYEXIST means a key out of order. */
        int rc = 0;
        uint8_t *dst = rsp_db_reserve(t, rsp_db_dbi(b->env, DB_EVENTS), &k, len, MDB_APPEND);
        if (dst)
            rsp__event_record__pack(&r, dst);
        else
            rc = rsp_db_wtxn_err(t) ? rsp_db_wtxn_err(t) : MDB_KEYEXIST;
        uint8_t ref[SMDS_EID_LEN + 8];
        memcpy(ref, eid, SMDS_EID_LEN);
        be64(ref + SMDS_EID_LEN, seq);
        rsp_key_init(&k);
        rsp_key_str(&k, event_id);
        if (rc == 0)
            rc = rsp_db_put(t, rsp_db_dbi(b->env, DB_IDS), &k, ref, sizeof(ref), MDB_APPEND);
        if (rc == 0 && expires) {
            rsp_key_init(&k);
            rsp_key_u64(&k, expires);
            rsp_key_u64(&k, seq);
            rc = rsp_db_put(t, rsp_db_dbi(b->env, DB_EXPIRY), &k, eid, SMDS_EID_LEN, MDB_APPEND);
        }
        if (rc) {
            snprintf(b->err, sizeof(b->err), "record %llu: %s", (unsigned long long)i,
                     rc == MDB_KEYEXIST ? "key out of order" : mdb_strerror(rc));
            return rc;
        }
    }
    if (b->to == c->n) {
        uint8_t seqbuf[8];
        be64(seqbuf, c->n);
        rsp_key_init(&k);
        rsp_key_str(&k, "seq");
        rsp_db_put(t, rsp_db_dbi(b->env, DB_META), &k, seqbuf, 8, 0);
    }
    return rsp_db_wtxn_err(t);
}

/* The store must be empty: appending after foreign keys would fail anyway,
 * and a half-filled store would measure something else. */
static int check_empty(rsp_db_env *env)
{
    MDB_txn *txn;
    if (rsp_db_read_begin(env, &txn) != 0)
        return -1;
    int empty = 1;
    for (unsigned i = 0; i < DB_COUNT; i++) {
        MDB_stat st;
        if (mdb_stat(txn, rsp_db_dbi(env, i), &st) != 0 || st.ms_entries != 0)
            empty = 0;
    }
    rsp_db_read_end(env);
    return empty ? 0 : -1;
}

int preload_events(const preload_cfg *cfg, char *err, size_t errcap)
{
    if (!cfg->dir || !cfg->eid_prefix || !cfg->event_prefix || !cfg->address || !cfg->owner) {
        snprintf(err, errcap, "preload: missing configuration");
        return -1;
    }
    /* About 230 bytes a record with MDB_APPEND's full pages; start big
     * enough that the map never has to grow during the load. */
    rsp_db_config dc = {0};
    dc.map_size = (size_t)(64u << 20) + (size_t)cfg->n * 320u;
    dc.env_flags = MDB_NOSYNC;
    rsp_db_env *env;
    int rc = rsp_db_open(&env, cfg->dir, specs, DB_COUNT, &dc);
    if (rc) {
        snprintf(err, errcap, "preload: open %s: %s", cfg->dir, mdb_strerror(rc));
        return -1;
    }
    if (check_empty(env) != 0) {
        snprintf(err, errcap, "preload: %s already holds events", cfg->dir);
        rsp_db_close(env);
        return -1;
    }
    uint64_t step = cfg->batch ? cfg->batch : DEFAULT_BATCH;
    struct batch b = {.cfg = cfg, .env = env};
    for (uint64_t from = 0; from < cfg->n; from += step) {
        b.from = from;
        b.to = cfg->n - from < step ? cfg->n : from + step;
        b.err[0] = 0;
        rc = rsp_db_write_sync(env, apply_batch, &b);
        if (rc) {
            snprintf(err, errcap, "preload: %s", b.err[0] ? b.err : mdb_strerror(rc));
            rsp_db_close(env);
            return -1;
        }
        if (cfg->progress)
            cfg->progress(b.to, cfg->n, cfg->progress_arg);
    }
    rc = mdb_env_sync(rsp_db_mdb(env), 1);
    rsp_db_close(env);
    if (rc) {
        snprintf(err, errcap, "preload: sync: %s", mdb_strerror(rc));
        return -1;
    }
    return 0;
}

int preload_check(const preload_cfg *cfg, const uint64_t *check, size_t k, char *err, size_t errcap)
{
    smds_store *s = smds_store_open(cfg->dir, NULL);
    if (!s) {
        snprintf(err, errcap, "check: cannot open the store in %s", cfg->dir);
        return -1;
    }
    int rc = 0;
    uint64_t count = smds_store_count(s);
    if (count != cfg->n) {
        snprintf(err, errcap, "check: the store holds %llu events, expected %llu", (unsigned long long)count,
                 (unsigned long long)cfg->n);
        rc = -1;
    }
    for (size_t j = 0; j < k && rc == 0; j++) {
        char eid[SMDS_EID_LEN + 1], id[SMDS_EVENT_ID_MAX + 1];
        pki_eid_make(cfg->eid_prefix, check[j], eid);
        preload_event_id(cfg, check[j], id, sizeof(id));
        smds_event_list l;
        smds_event ev;
        if (smds_store_list(s, eid, cfg->now, &l) != 0 || l.n != 1 || strcmp(l.items[0].event_id, id) != 0 ||
            strcmp(l.items[0].rsp_server_address, cfg->address) != 0) {
            snprintf(err, errcap, "check: EID %s does not list exactly %s", eid, id);
            rc = -1;
        } else if (check[j] % stride_of(cfg) != 0 || smds_store_get(s, id, &ev) != 1 ||
                   strcmp(ev.eid, eid) != 0 || ev.seq != check[j] / stride_of(cfg) + 1) {
            snprintf(err, errcap, "check: EventID %s not found by id", id);
            rc = -1;
        }
        smds_event_list_free(&l);
    }
    smds_store_close(s);
    return rc;
}
