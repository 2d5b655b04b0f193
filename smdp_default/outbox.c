#include "smdp_default/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp/str.h"
#include "outbox.pb-c.h"
#include "rsp/log.h"

enum { DB_ITEM, DB_DUE, DB_STREAM, DB_META };

const rsp_db_spec smdp_outbox_dbs[SMDP_OUTBOX_NDBS] = {
    {"outbox", 0},
    {"outbox_due", 0},
    {"outbox_stream", 0},
    {"outbox_meta", 0},
};

#define MAX_THREADS 64
#define MAX_TARGETS 256
#define MAX_CLAIM 64

typedef struct qnode {
    struct qnode *next;
    smdp_ob_item it;
} qnode;

typedef struct target_health {
    char name[SMDP_OB_TARGET_MAX + 1];
    uint64_t failing_since; /* 0: the last attempt succeeded */
    uint64_t last_use;
} target_health;

struct smdp_outbox {
    smdp_orders *store;
    rsp_db_env *env;
    MDB_dbi dbi[SMDP_OUTBOX_NDBS];
    smdp_outbox_config cfg;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* dispatcher */
    pthread_cond_t work; /* senders */
    pthread_cond_t idle; /* stop: results written */
    bool kicked, stop, started;
    qnode *head, *tail;
    unsigned queued, busy, results_pending;
    pthread_t dispatcher;
    pthread_t senders[MAX_THREADS];
    unsigned nsenders;

    uint64_t sent, retries, dropped;
    target_health targets[MAX_TARGETS];
};

const char *smdp_ob_kind_name(smdp_ob_kind k)
{
    switch (k) {
    case SMDP_OB_REGISTER_EVENT:
        return "RegisterEvent";
    case SMDP_OB_DELETE_EVENT:
        return "DeleteEvent";
    case SMDP_OB_PROGRESS:
        return "HandleDownloadProgressInfo";
    case SMDP_OB_NOTIFICATION:
        return "HandleNotification";
    }
    return "?";
}

uint32_t smdp_outbox_backoff(const smdp_outbox_config *cfg, uint32_t attempts)
{
    uint64_t d = cfg->backoff_min ? cfg->backoff_min : 1;
    for (uint32_t i = 1; i < attempts && d < cfg->backoff_max; i++)
        d *= 2;
    return (uint32_t)(d > cfg->backoff_max ? cfg->backoff_max : d);
}

/* ---- records ---- */

static int item_decode(const MDB_val *v, smdp_ob_item *it)
{
    Smdp__OutboxItem *p = smdp__outbox_item__unpack(NULL, v->mv_size, v->mv_data);
    if (!p)
        return MDB_CORRUPTED;
    memset(it, 0, sizeof(*it));
    it->seq = p->seq;
    it->kind = (smdp_ob_kind)p->kind;
    it->created_at = p->created_at;
    it->due_at = p->due_at;
    it->attempts = p->attempts;
    it->forward = p->forwarding_indicator;
    it->np_id = p->notification_point_id;
    it->success = p->success;
    it->timestamp = p->timestamp;
    it->notif_seq = p->sequence_number;
    int bad = rsp_str_copy(it->stream, sizeof(it->stream), p->stream) ||
              rsp_str_copy(it->target, sizeof(it->target), p->target) ||
              rsp_str_copy(it->last_error, sizeof(it->last_error), p->last_error) ||
              rsp_str_copy(it->eid, sizeof(it->eid), p->eid) ||
              rsp_str_copy(it->event_id, sizeof(it->event_id), p->event_id) ||
              rsp_str_copy(it->iccid, sizeof(it->iccid), p->iccid) ||
              rsp_str_copy(it->profile_type, sizeof(it->profile_type), p->profile_type) ||
              rsp_str_copy(it->subject, sizeof(it->subject), p->subject_code) ||
              rsp_str_copy(it->reason, sizeof(it->reason), p->reason_code) ||
              rsp_str_copy(it->notif_address, sizeof(it->notif_address), p->notification_address) ||
              p->result_data.len > sizeof(it->result) || it->kind < SMDP_OB_REGISTER_EVENT ||
              it->kind > SMDP_OB_NOTIFICATION;
    if (!bad && p->result_data.len) {
        memcpy(it->result, p->result_data.data, p->result_data.len);
        it->result_len = p->result_data.len;
    }
    smdp__outbox_item__free_unpacked(p, NULL);
    return bad ? MDB_CORRUPTED : 0;
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

static int item_put(rsp_db_wtxn *t, const smdp_outbox *ob, const smdp_ob_item *it)
{
    Smdp__OutboxItem p = SMDP__OUTBOX_ITEM__INIT;
    p.seq = it->seq;
    p.kind = (Smdp__OutboxKind)it->kind;
    p.stream = (char *)it->stream;
    p.target = (char *)it->target;
    p.created_at = it->created_at;
    p.due_at = it->due_at;
    p.attempts = it->attempts;
    p.last_error = (char *)it->last_error;
    p.eid = (char *)it->eid;
    p.event_id = (char *)it->event_id;
    p.forwarding_indicator = it->forward;
    p.iccid = (char *)it->iccid;
    p.profile_type = (char *)it->profile_type;
    p.notification_point_id = it->np_id;
    p.success = it->success;
    p.subject_code = (char *)it->subject;
    p.reason_code = (char *)it->reason;
    p.result_data.data = (uint8_t *)it->result;
    p.result_data.len = it->result_len;
    p.timestamp = it->timestamp;
    p.sequence_number = it->notif_seq;
    p.notification_address = (char *)it->notif_address;
    rsp_key k;
    key_seq(&k, it->seq);
    size_t n = smdp__outbox_item__get_packed_size(&p);
    uint8_t *dst = rsp_db_reserve(t, ob->dbi[DB_ITEM], &k, n, 0);
    if (!dst)
        return rsp_db_wtxn_err(t);
    smdp__outbox_item__pack(&p, dst);
    return 0;
}

static int item_get(MDB_txn *txn, const smdp_outbox *ob, uint64_t seq, smdp_ob_item *it)
{
    rsp_key k;
    key_seq(&k, seq);
    MDB_val v;
    int rc = rsp_db_get(txn, ob->dbi[DB_ITEM], &k, &v);
    return rc ? rc : item_decode(&v, it);
}

static int item_del(rsp_db_wtxn *t, const smdp_outbox *ob, const smdp_ob_item *it)
{
    rsp_key k;
    key_seq(&k, it->seq);
    rsp_db_del(t, ob->dbi[DB_ITEM], &k, NULL, 0);
    key_due(&k, it->due_at, it->seq);
    rsp_db_del(t, ob->dbi[DB_DUE], &k, NULL, 0);
    key_stream(&k, it->stream, it->seq);
    rsp_db_del(t, ob->dbi[DB_STREAM], &k, NULL, 0);
    return rsp_db_wtxn_err(t);
}

/* Moves an item to a new due time (and stores its other changes). */
static int item_reschedule(rsp_db_wtxn *t, const smdp_outbox *ob, uint64_t old_due, const smdp_ob_item *it)
{
    rsp_key k;
    key_due(&k, old_due, it->seq);
    rsp_db_del(t, ob->dbi[DB_DUE], &k, NULL, 0);
    key_due(&k, it->due_at, it->seq);
    rsp_db_put(t, ob->dbi[DB_DUE], &k, "", 0, 0);
    return item_put(t, ob, it);
}

int smdp_outbox_add(smdp_outbox *ob, rsp_db_wtxn *t, smdp_ob_item *it)
{
    if (!it->stream[0] || it->kind < SMDP_OB_REGISTER_EVENT || it->kind > SMDP_OB_NOTIFICATION)
        return EINVAL;
    rsp_key k;
    rsp_key_init(&k);
    rsp_key_str(&k, "seq");
    uint64_t seq;
    int rc = rsp_db_next_seq(t, ob->dbi[DB_META], &k, &seq);
    if (rc)
        return rc;
    it->seq = seq;
    it->due_at = it->created_at;
    it->attempts = 0;
    key_due(&k, it->due_at, seq);
    rsp_db_put(t, ob->dbi[DB_DUE], &k, "", 0, 0);
    key_stream(&k, it->stream, seq);
    rsp_db_put(t, ob->dbi[DB_STREAM], &k, "", 0, 0);
    return item_put(t, ob, it);
}

/* ---- target health ---- */

static target_health *target_slot(smdp_outbox *ob, const char *name, bool create, uint64_t now)
{
    target_health *oldest = &ob->targets[0];
    for (size_t i = 0; i < MAX_TARGETS; i++) {
        target_health *h = &ob->targets[i];
        if (h->name[0] && !strcmp(h->name, name)) {
            h->last_use = now;
            return h;
        }
        if (!h->name[0] || h->last_use < oldest->last_use)
            oldest = h;
    }
    if (!create)
        return NULL;
    memset(oldest, 0, sizeof(*oldest));
    rsp_str_copy(oldest->name, sizeof(oldest->name), name);
    oldest->last_use = now;
    return oldest;
}

bool smdp_outbox_target_down(smdp_outbox *ob, const char *target, uint64_t now)
{
    pthread_mutex_lock(&ob->mu);
    target_health *h = target_slot(ob, target, false, now);
    bool down = h && h->failing_since && now >= h->failing_since + ob->cfg.unavailable_after;
    pthread_mutex_unlock(&ob->mu);
    return down;
}

/* ---- results ---- */

typedef struct result_job {
    smdp_outbox *ob;
    smdp_ob_item it; /* as claimed (due_at = the lease end) */
    smdp_ob_outcome outcome;
    char err[SMDP_OB_ERROR_MAX + 1];
    uint64_t now;
    bool dropped; /* out */
} result_job;

static int result_apply(rsp_db_wtxn *t, void *arg)
{
    result_job *r = arg;
    const smdp_outbox *ob = r->ob;
    smdp_ob_item cur;
    r->dropped = false;
    int rc = item_get(rsp_db_wtxn_txn(t), ob, r->it.seq, &cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    /* someone else claimed it after our lease ran out: their result counts */
    if (cur.due_at != r->it.due_at || cur.attempts != r->it.attempts)
        return 0;
    if (r->outcome == SMDP_OB_SENT)
        return item_del(t, ob, &cur);
    bool give_up = r->outcome == SMDP_OB_DROP ||
                   (ob->cfg.max_attempts && cur.attempts >= ob->cfg.max_attempts) ||
                   r->now >= cur.created_at + ob->cfg.max_age;
    if (give_up) {
        r->dropped = true;
        return item_del(t, ob, &cur);
    }
    uint64_t old = cur.due_at;
    cur.due_at = r->now + smdp_outbox_backoff(&ob->cfg, cur.attempts);
    rsp_str_copy(cur.last_error, sizeof(cur.last_error), r->err);
    return item_reschedule(t, ob, old, &cur);
}

static void result_done(void *arg, int result)
{
    result_job *r = arg;
    smdp_outbox *ob = r->ob;
    const smdp_ob_item *it = &r->it;
    if (result)
        rsp_log(RSP_LOG_ERROR, "outbox: cannot record the result of item %llu: %s",
                (unsigned long long)it->seq, mdb_strerror(result));
    else if (r->dropped)
        rsp_log(RSP_LOG_ERROR, "outbox: gave up %s to %s for %s after %u attempt(s): %s",
                smdp_ob_kind_name(it->kind), it->target, it->stream, it->attempts, r->err);
    else if (r->outcome != SMDP_OB_SENT)
        rsp_log(RSP_LOG_WARN, "outbox: %s to %s failed (attempt %u), will retry: %s",
                smdp_ob_kind_name(it->kind), it->target, it->attempts, r->err);
    if (ob->cfg.metrics) {
        char labels[96];
        const char *what = result                       ? "error"
                           : r->dropped                 ? "dropped"
                           : r->outcome == SMDP_OB_SENT ? "sent"
                                                        : "retry";
        snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", smdp_ob_kind_name(it->kind), what);
        rsp_metrics_inc(ob->cfg.metrics, "smdp_outbox_attempts_total", labels);
    }
    pthread_mutex_lock(&ob->mu);
    if (!result) {
        if (r->outcome == SMDP_OB_SENT)
            ob->sent++;
        else if (r->dropped)
            ob->dropped++;
        else
            ob->retries++;
    }
    ob->results_pending--;
    ob->kicked = true;
    pthread_cond_signal(&ob->wake);
    pthread_cond_broadcast(&ob->idle);
    pthread_mutex_unlock(&ob->mu);
    free(r);
}

/* ---- senders ---- */

static void *sender_main(void *arg)
{
    smdp_outbox *ob = arg;
    pthread_mutex_lock(&ob->mu);
    for (;;) {
        while (!ob->stop && !ob->head)
            pthread_cond_wait(&ob->work, &ob->mu);
        if (!ob->head)
            break; /* stopping with nothing left to send */
        qnode *n = ob->head;
        ob->head = n->next;
        if (!ob->head)
            ob->tail = NULL;
        ob->queued--;
        ob->busy++;
        pthread_mutex_unlock(&ob->mu);

        result_job *r = calloc(1, sizeof(*r));
        char err[SMDP_OB_ERROR_MAX + 1] = "";
        smdp_ob_outcome out = ob->cfg.send(ob->cfg.send_ctx, &n->it, err, sizeof(err));
        uint64_t now = (uint64_t)time(NULL);

        pthread_mutex_lock(&ob->mu);
        target_health *h = target_slot(ob, n->it.target, true, now);
        if (out == SMDP_OB_RETRY) {
            if (!h->failing_since)
                h->failing_since = now;
        } else {
            h->failing_since = 0;
        }
        ob->busy--;
        if (r)
            ob->results_pending++;
        pthread_mutex_unlock(&ob->mu);

        if (r) {
            r->ob = ob;
            r->it = n->it;
            r->outcome = out;
            r->now = now;
            rsp_str_copy(r->err, sizeof(r->err), err);
            if (rsp_db_submit(ob->env, result_apply, result_done, r) != 0) {
                /* the lease runs out and the item is tried again */
                pthread_mutex_lock(&ob->mu);
                ob->results_pending--;
                pthread_cond_broadcast(&ob->idle);
                pthread_mutex_unlock(&ob->mu);
                free(r);
            }
        }
        free(n);
        pthread_mutex_lock(&ob->mu);
    }
    pthread_mutex_unlock(&ob->mu);
    return NULL;
}

/* ---- dispatcher ---- */

typedef struct claim_job {
    smdp_outbox *ob;
    uint64_t now;
    uint64_t seq[MAX_CLAIM];
    size_t n;
    smdp_ob_item out[MAX_CLAIM]; /* claimed */
    size_t nout;
} claim_job;

static int claim_apply(rsp_db_wtxn *t, void *arg)
{
    claim_job *c = arg;
    const smdp_outbox *ob = c->ob;
    c->nout = 0;
    for (size_t i = 0; i < c->n; i++) {
        smdp_ob_item *it = &c->out[c->nout];
        int rc = item_get(rsp_db_wtxn_txn(t), ob, c->seq[i], it);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc)
            return rc;
        if (it->due_at > c->now)
            continue; /* claimed by another process meanwhile */
        uint64_t old = it->due_at;
        it->due_at = c->now + ob->cfg.lease;
        it->attempts++;
        if ((rc = item_reschedule(t, ob, old, it)))
            return rc;
        c->nout++;
    }
    return 0;
}

/* True if seq is the oldest item of its stream. */
static int is_head(MDB_txn *txn, const smdp_outbox *ob, const char *stream, uint64_t seq, bool *head)
{
    rsp_key pre;
    key_stream(&pre, stream, 0);
    rsp_db_iter it;
    MDB_val k, v;
    int rc = rsp_db_iter_open(&it, txn, ob->dbi[DB_STREAM], &pre);
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
static int scan(smdp_outbox *ob, uint64_t now, claim_job *c, size_t max, uint64_t *next_due)
{
    MDB_txn *txn;
    int rc = rsp_db_read_begin(ob->env, &txn);
    if (rc)
        return rc;
    c->n = 0;
    *next_due = 0;
    rsp_db_iter it;
    MDB_val k, v;
    unsigned seen = 0;
    if ((rc = rsp_db_iter_open(&it, txn, ob->dbi[DB_DUE], NULL)) == 0) {
        while (c->n < max && seen < ob->cfg.scan_max && rsp_db_iter_next(&it, &k, &v)) {
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
            if ((rc = item_get(txn, ob, seq, &item)) || (rc = is_head(txn, ob, item.stream, seq, &head)))
                break;
            if (head)
                c->seq[c->n++] = seq;
        }
        if (!rc)
            rc = it.err;
        rsp_db_iter_close(&it);
    }
    rsp_db_read_end(ob->env);
    return rc;
}

static void *dispatcher_main(void *arg)
{
    smdp_outbox *ob = arg;
    claim_job *c = calloc(1, sizeof(*c));
    uint64_t next_due = 0;
    for (;;) {
        pthread_mutex_lock(&ob->mu);
        uint64_t now = (uint64_t)time(NULL);
        if (!ob->kicked && !ob->stop) {
            /* sleep until the next due item, a kick, or at most a few seconds (another process may add) */
            uint64_t until = now + 5;
            if (next_due && next_due < until)
                until = next_due;
            struct timespec ts = {.tv_sec = (time_t)until, .tv_nsec = 0};
            if (until > now)
                pthread_cond_timedwait(&ob->wake, &ob->mu, &ts);
        }
        ob->kicked = false;
        bool stop = ob->stop;
        unsigned room =
            ob->nsenders * 2 > ob->queued + ob->busy ? ob->nsenders * 2 - ob->queued - ob->busy : 0;
        pthread_mutex_unlock(&ob->mu);
        if (stop || !c)
            break;
        if (room == 0)
            continue;
        now = (uint64_t)time(NULL);
        int rc = scan(ob, now, c, room < MAX_CLAIM ? room : MAX_CLAIM, &next_due);
        if (rc) {
            rsp_log(RSP_LOG_ERROR, "outbox: scan: %s", mdb_strerror(rc));
            continue;
        }
        if (c->n == 0)
            continue;
        c->ob = ob;
        c->now = now;
        if ((rc = rsp_db_write_sync(ob->env, claim_apply, c))) {
            rsp_log(RSP_LOG_ERROR, "outbox: claim: %s", mdb_strerror(rc));
            continue;
        }
        pthread_mutex_lock(&ob->mu);
        /* stopping: the claimed items' leases run out and they are tried again later */
        for (size_t i = 0; i < c->nout && !ob->stop; i++) {
            qnode *n = malloc(sizeof(*n));
            if (!n)
                break; /* the lease runs out and it is tried again */
            n->next = NULL;
            n->it = c->out[i];
            if (ob->tail)
                ob->tail->next = n;
            else
                ob->head = n;
            ob->tail = n;
            ob->queued++;
        }
        pthread_cond_broadcast(&ob->work);
        /* more may be due right away (this round was bounded) */
        if (c->n == (room < MAX_CLAIM ? room : MAX_CLAIM))
            ob->kicked = true;
        pthread_mutex_unlock(&ob->mu);
    }
    free(c);
    return NULL;
}

/* ---- lifetime ---- */

smdp_outbox *smdp_outbox_new(smdp_orders *store, const smdp_outbox_config *cfg)
{
    if (!cfg->send)
        return NULL;
    smdp_outbox *ob = calloc(1, sizeof(*ob));
    if (!ob)
        return NULL;
    ob->store = store;
    ob->env = smdp_orders_env(store);
    ob->cfg = *cfg;
    if (!ob->cfg.threads)
        ob->cfg.threads = 4;
    if (ob->cfg.threads > MAX_THREADS)
        ob->cfg.threads = MAX_THREADS;
    if (!ob->cfg.backoff_min)
        ob->cfg.backoff_min = 2;
    if (!ob->cfg.backoff_max)
        ob->cfg.backoff_max = 300;
    if (ob->cfg.backoff_max < ob->cfg.backoff_min)
        ob->cfg.backoff_max = ob->cfg.backoff_min;
    if (!ob->cfg.max_age)
        ob->cfg.max_age = 7 * 24 * 3600;
    if (!ob->cfg.lease)
        ob->cfg.lease = 120;
    if (!ob->cfg.unavailable_after)
        ob->cfg.unavailable_after = 300;
    if (!ob->cfg.scan_max)
        ob->cfg.scan_max = 1024;
    for (unsigned i = 0; i < SMDP_OUTBOX_NDBS; i++)
        ob->dbi[i] = smdp_orders_extra_dbi(store, ob->cfg.base + i);
    pthread_mutex_init(&ob->mu, NULL);
    pthread_cond_init(&ob->wake, NULL);
    pthread_cond_init(&ob->work, NULL);
    pthread_cond_init(&ob->idle, NULL);
    return ob;
}

int smdp_outbox_start(smdp_outbox *ob)
{
    if (ob->started)
        return 0;
    for (unsigned i = 0; i < ob->cfg.threads; i++) {
        int rc = pthread_create(&ob->senders[i], NULL, sender_main, ob);
        if (rc) {
            pthread_mutex_lock(&ob->mu);
            ob->stop = true;
            pthread_cond_broadcast(&ob->work);
            pthread_mutex_unlock(&ob->mu);
            for (unsigned j = 0; j < i; j++)
                pthread_join(ob->senders[j], NULL);
            ob->stop = false;
            return rc;
        }
        ob->nsenders++;
    }
    int rc = pthread_create(&ob->dispatcher, NULL, dispatcher_main, ob);
    if (rc) {
        pthread_mutex_lock(&ob->mu);
        ob->stop = true;
        pthread_cond_broadcast(&ob->work);
        pthread_mutex_unlock(&ob->mu);
        for (unsigned j = 0; j < ob->nsenders; j++)
            pthread_join(ob->senders[j], NULL);
        ob->nsenders = 0;
        ob->stop = false;
        return rc;
    }
    ob->started = true;
    return 0;
}

void smdp_outbox_free(smdp_outbox *ob)
{
    if (!ob)
        return;
    if (ob->started) {
        pthread_mutex_lock(&ob->mu);
        ob->stop = true;
        /* queued but not started: their leases run out and they are tried again later */
        while (ob->head) {
            qnode *n = ob->head;
            ob->head = n->next;
            free(n);
        }
        ob->tail = NULL;
        ob->queued = 0;
        pthread_cond_broadcast(&ob->wake);
        pthread_cond_broadcast(&ob->work);
        pthread_mutex_unlock(&ob->mu);
        pthread_join(ob->dispatcher, NULL);
        for (unsigned i = 0; i < ob->nsenders; i++)
            pthread_join(ob->senders[i], NULL);
        pthread_mutex_lock(&ob->mu);
        while (ob->head) {
            qnode *n = ob->head;
            ob->head = n->next;
            free(n);
        }
        ob->tail = NULL;
        while (ob->results_pending)
            pthread_cond_wait(&ob->idle, &ob->mu);
        pthread_mutex_unlock(&ob->mu);
    }
    pthread_mutex_destroy(&ob->mu);
    pthread_cond_destroy(&ob->wake);
    pthread_cond_destroy(&ob->work);
    pthread_cond_destroy(&ob->idle);
    free(ob);
}

void smdp_outbox_kick(smdp_outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    ob->kicked = true;
    pthread_cond_signal(&ob->wake);
    pthread_mutex_unlock(&ob->mu);
}

/* ---- inspection ---- */

int smdp_outbox_list(smdp_outbox *ob, int (*fn)(void *arg, const smdp_ob_item *it), void *arg)
{
    MDB_txn *txn;
    int rc = rsp_db_read_begin(ob->env, &txn);
    if (rc)
        return rc;
    smdp_ob_item *item = malloc(sizeof(*item));
    rsp_db_iter it;
    MDB_val k, v;
    if (!item)
        rc = ENOMEM;
    else if ((rc = rsp_db_iter_open(&it, txn, ob->dbi[DB_ITEM], NULL)) == 0) {
        while (rsp_db_iter_next(&it, &k, &v))
            if ((rc = item_decode(&v, item)) || (rc = fn(arg, item)))
                break;
        if (!rc)
            rc = it.err;
        rsp_db_iter_close(&it);
    }
    free(item);
    rsp_db_read_end(ob->env);
    return rc;
}

int smdp_outbox_stats_get(smdp_outbox *ob, smdp_outbox_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&ob->mu);
    out->sent = ob->sent;
    out->retries = ob->retries;
    out->dropped = ob->dropped;
    pthread_mutex_unlock(&ob->mu);
    MDB_txn *txn;
    int rc = rsp_db_read_begin(ob->env, &txn);
    if (rc)
        return rc;
    MDB_stat st;
    if ((rc = mdb_stat(txn, ob->dbi[DB_ITEM], &st)) == 0) {
        out->pending = st.ms_entries;
        rsp_db_iter it;
        MDB_val k, v;
        smdp_ob_item item;
        if ((rc = rsp_db_iter_open(&it, txn, ob->dbi[DB_ITEM], NULL)) == 0) {
            if (rsp_db_iter_next(&it, &k, &v) && item_decode(&v, &item) == 0)
                out->oldest = item.created_at;
            rc = it.err;
            rsp_db_iter_close(&it);
        }
    }
    rsp_db_read_end(ob->env);
    return rc;
}
