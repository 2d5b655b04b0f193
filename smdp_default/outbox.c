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

/* What the result of an attempt makes of the item as claimed: NULL (delete it; *dropped when given up)
 * or the rescheduled item in *next. */
static const smdp_ob_item *decide(const smdp_outbox *ob, result_job *r, smdp_ob_item *next)
{
    const smdp_ob_item *cur = &r->it;
    r->dropped = false;
    if (r->outcome == SMDP_OB_SENT)
        return NULL;
    bool give_up = r->outcome == SMDP_OB_DROP ||
                   (ob->cfg.max_attempts && cur->attempts >= ob->cfg.max_attempts) ||
                   r->now >= cur->created_at + ob->cfg.max_age;
    if (give_up) {
        r->dropped = true;
        return NULL;
    }
    *next = *cur;
    next->due_at = r->now + smdp_outbox_backoff(&ob->cfg, cur->attempts);
    rsp_str_copy(next->last_error, sizeof(next->last_error), r->err);
    return next;
}

static void result_done(void *arg, int result)
{
    result_job *r = arg;
    smdp_outbox *ob = r->ob;
    const smdp_ob_item *it = &r->it;
    if (result)
        rsp_log(RSP_LOG_ERROR, "outbox: cannot record the result of item %llu: %s",
                (unsigned long long)it->seq, smdp_orders_strerror(result));
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
            smdp_ob_item next;
            const smdp_ob_item *nx = decide(ob, r, &next);
            if (smdp_orders_ob_finish(ob->store, &r->it, nx, result_done, r) != 0) {
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

static void *dispatcher_main(void *arg)
{
    smdp_outbox *ob = arg;
    smdp_ob_item *claimed = calloc(MAX_CLAIM, sizeof(*claimed));
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
        if (stop || !claimed)
            break;
        if (room == 0)
            continue;
        now = (uint64_t)time(NULL);
        size_t max = room < MAX_CLAIM ? room : MAX_CLAIM, got = 0;
        int rc = smdp_orders_ob_claim(ob->store, now, ob->cfg.lease, ob->cfg.scan_max, max, claimed, &got,
                                      &next_due);
        if (rc) {
            rsp_log(RSP_LOG_ERROR, "outbox: claim: %s", smdp_orders_strerror(rc));
            /* the database may be down: do not spin */
            next_due = now + 1;
            continue;
        }
        if (got == 0)
            continue;
        pthread_mutex_lock(&ob->mu);
        /* stopping: the claimed items' leases run out and they are tried again later */
        for (size_t i = 0; i < got && !ob->stop; i++) {
            qnode *n = malloc(sizeof(*n));
            if (!n)
                break; /* the lease runs out and it is tried again */
            n->next = NULL;
            n->it = claimed[i];
            if (ob->tail)
                ob->tail->next = n;
            else
                ob->head = n;
            ob->tail = n;
            ob->queued++;
        }
        pthread_cond_broadcast(&ob->work);
        /* more may be due right away (this round was bounded) */
        if (got == max)
            ob->kicked = true;
        pthread_mutex_unlock(&ob->mu);
    }
    free(claimed);
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
    return smdp_orders_ob_list(ob->store, fn, arg);
}

int smdp_outbox_stats_get(smdp_outbox *ob, smdp_outbox_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&ob->mu);
    out->sent = ob->sent;
    out->retries = ob->retries;
    out->dropped = ob->dropped;
    pthread_mutex_unlock(&ob->mu);
    return smdp_orders_ob_pending(ob->store, &out->pending, &out->oldest);
}
