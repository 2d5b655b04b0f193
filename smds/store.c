/* The event store front: argument checks, backend choice, synchronous wrappers and housekeeping; the
 * backends are store_lmdb.c and store_pg.c (store_impl.h). */
#include "smds/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/log.h"
#include "smds/store_impl.h"

#define PURGE_BATCH 1000

void smds_store_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

int smds_store_list_add(smds_event_list *l, size_t *cap, const smds_event *ev)
{
    if (l->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        smds_event *ni = realloc(l->items, nc * sizeof(*ni));
        if (!ni)
            return -1;
        l->items = ni;
        *cap = nc;
    }
    l->items[l->n++] = *ev;
    return 0;
}

int smds_store_backend_parse(const char *name, smds_store_backend *out)
{
    if (strcmp(name, "lmdb") == 0)
        *out = SMDS_STORE_LMDB;
    else if (strcmp(name, "postgres") == 0)
        *out = SMDS_STORE_POSTGRES;
    else
        return -1;
    return 0;
}

bool smds_eid_valid(const char *eid)
{
    if (strlen(eid) != SMDS_EID_LEN)
        return false;
    for (size_t i = 0; i < SMDS_EID_LEN; i++)
        if (eid[i] < '0' || eid[i] > '9')
            return false;
    return true;
}

smds_store *smds_store_open(const char *dir, const smds_store_config *cfg)
{
    smds_store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (cfg)
        s->cfg = *cfg;
    if (!s->cfg.per_eid_cap)
        s->cfg.per_eid_cap = 100;
    s->ops = s->cfg.backend == SMDS_STORE_POSTGRES ? &smds_store_pg_ops : &smds_store_lmdb_ops;
    if (s->cfg.dsn && !(s->dsn = strdup(s->cfg.dsn))) {
        free(s);
        return NULL;
    }
    s->cfg.dsn = s->dsn;
    pthread_mutex_init(&s->hk_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->hk_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (s->ops->open(s, dir) != 0) {
        pthread_cond_destroy(&s->hk_cv);
        pthread_mutex_destroy(&s->hk_mu);
        free(s->dsn);
        free(s);
        return NULL;
    }
    return s;
}

void smds_store_close(smds_store *s)
{
    if (!s)
        return;
    if (s->hk_running) {
        pthread_mutex_lock(&s->hk_mu);
        s->hk_stop = true;
        pthread_cond_signal(&s->hk_cv);
        pthread_mutex_unlock(&s->hk_mu);
        pthread_join(s->hk, NULL);
    }
    s->ops->close(s);
    pthread_cond_destroy(&s->hk_cv);
    pthread_mutex_destroy(&s->hk_mu);
    free(s->dsn);
    free(s);
}

bool smds_store_ready(const smds_store *s)
{
    return s->ops->ready(s);
}

bool smds_store_reads_inline(const smds_store *s)
{
    return s->ops->reads_inline;
}

/* ---- writes ---- */

struct smds_store_reg_job *smds_store_reg_job_new(smds_store *s, smds_event *ev, time_t now,
                                                  smds_store_done_cb done, void *arg)
{
    struct smds_store_reg_job *j = malloc(sizeof(*j));
    if (j)
        *j = (struct smds_store_reg_job){{done, arg}, s, ev, now};
    return j;
}

struct smds_store_del_job *smds_store_del_job_new(smds_store *s, const char *eid, const char *event_id,
                                                  const char *owner, smds_event *out, smds_store_done_cb done,
                                                  void *arg)
{
    struct smds_store_del_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->cb = (struct smds_store_job_done){done, arg};
    j->s = s;
    smds_store_copy(j->eid, sizeof(j->eid), eid);
    smds_store_copy(j->event_id, sizeof(j->event_id), event_id);
    j->check_owner = owner != NULL;
    smds_store_copy(j->owner, sizeof(j->owner), owner);
    j->out = out;
    return j;
}

int smds_store_register(smds_store *s, smds_event *ev, time_t now, smds_store_done_cb done, void *arg)
{
    if (strlen(ev->eid) != SMDS_EID_LEN || ev->event_id[0] == 0)
        return -1;
    return s->ops->reg(s, ev, now, done, arg);
}

int smds_store_delete(smds_store *s, const char *eid, const char *event_id, const char *owner,
                      smds_event *out, smds_store_done_cb done, void *arg)
{
    if (strlen(eid) != SMDS_EID_LEN || strlen(event_id) > SMDS_EVENT_ID_MAX ||
        (owner && strlen(owner) > SMDS_OWNER_MAX))
        return -1;
    return s->ops->del(s, eid, event_id, owner, out, done, arg);
}

struct waiter {
    pthread_mutex_t m;
    pthread_cond_t c;
    int finished;
    rsp_status st;
};

static void wake(void *arg, rsp_status st)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->m);
    w->st = st;
    w->finished = 1;
    pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

static rsp_status wait_for(struct waiter *w, int queued)
{
    if (queued != 0)
        return RSP_ST_INTERNAL;
    pthread_mutex_lock(&w->m);
    while (!w->finished)
        pthread_cond_wait(&w->c, &w->m);
    pthread_mutex_unlock(&w->m);
    return w->st;
}

rsp_status smds_store_register_sync(smds_store *s, smds_event *ev, time_t now)
{
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, RSP_OK};
    return wait_for(&w, smds_store_register(s, ev, now, wake, &w));
}

rsp_status smds_store_delete_sync(smds_store *s, const char *eid, const char *event_id, const char *owner,
                                  smds_event *out)
{
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, RSP_OK};
    return wait_for(&w, smds_store_delete(s, eid, event_id, owner, out, wake, &w));
}

/* ---- reads ---- */

int smds_store_list(smds_store *s, const char *eid, time_t now, smds_event_list *out)
{
    out->items = NULL;
    out->n = 0;
    if (strlen(eid) != SMDS_EID_LEN)
        return 0;
    return s->ops->list(s, eid, now, out);
}

int smds_store_list_async(smds_store *s, const char *eid, time_t now, smds_store_list_cb cb, void *arg)
{
    if (strlen(eid) != SMDS_EID_LEN) {
        smds_event_list none = {0};
        cb(arg, 0, &none);
        return 0;
    }
    return s->ops->list_async(s, eid, now, cb, arg);
}

int smds_store_get(smds_store *s, const char *event_id, smds_event *out)
{
    if (strlen(event_id) > SMDS_EVENT_ID_MAX)
        return 0;
    return s->ops->get(s, event_id, out);
}

int smds_store_get_async(smds_store *s, const char *event_id, smds_store_get_cb cb, void *arg)
{
    if (strlen(event_id) > SMDS_EVENT_ID_MAX) {
        cb(arg, 0, NULL);
        return 0;
    }
    return s->ops->get_async(s, event_id, cb, arg);
}

void smds_event_list_free(smds_event_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

uint64_t smds_store_count(smds_store *s)
{
    return s->ops->count(s);
}

int smds_store_foreach(smds_store *s, int (*fn)(const smds_event *ev, void *arg), void *arg)
{
    return s->ops->foreach (s, fn, arg);
}

void smds_store_metrics(smds_store *s, FILE *f)
{
    s->ops->metrics(s, f);
}

/* ---- purge and housekeeping ---- */

long smds_store_purge(smds_store *s, time_t now, size_t limit)
{
    if (limit == 0)
        return 0;
    return s->ops->purge(s, now, limit);
}

static void housekeeping_round(smds_store *s)
{
    if (s->cfg.max_age) {
        long total = 0, n;
        /* Small batches: other writers interleave between them. */
        while ((n = smds_store_purge(s, time(NULL), PURGE_BATCH)) > 0) {
            total += n;
            if (n < PURGE_BATCH)
                break;
        }
        if (n < 0)
            rsp_log(RSP_LOG_ERROR, "housekeeping: purge failed");
        else if (total > 0)
            rsp_log(RSP_LOG_INFO, "housekeeping: purged %ld expired events", total);
    }
    if (!s->ops->reads_inline)
        atomic_store(&s->count_seen, s->ops->count(s));
}

static void *housekeeping(void *arg)
{
    smds_store *s = arg;
    pthread_mutex_lock(&s->hk_mu);
    while (!s->hk_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += s->hk_interval;
        while (!s->hk_stop && pthread_cond_timedwait(&s->hk_cv, &s->hk_mu, &until) != ETIMEDOUT)
            ;
        if (s->hk_stop)
            break;
        pthread_mutex_unlock(&s->hk_mu);
        housekeeping_round(s);
        pthread_mutex_lock(&s->hk_mu);
    }
    pthread_mutex_unlock(&s->hk_mu);
    return NULL;
}

int smds_store_housekeeping_start(smds_store *s, unsigned interval)
{
    /* On postgres the thread also refreshes the event count /metrics shows. */
    if ((s->cfg.max_age == 0 && s->ops->reads_inline) || s->hk_running)
        return 0;
    s->hk_interval = interval ? interval : 60;
    if (!s->ops->reads_inline)
        atomic_store(&s->count_seen, s->ops->count(s));
    if (pthread_create(&s->hk, NULL, housekeeping, s) != 0)
        return -1;
    s->hk_running = true;
    return 0;
}
