#include "rsp/admit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Budgets are kept in µs x 100 so that refilling at busy_percent stays in integers. */
typedef struct slot {
    pthread_mutex_t lock; /* uncontended unless more threads than slots */
    int64_t budget;       /* µs x 100; starts full, may go negative after a long call */
    uint64_t last_us;     /* time of the last refill */
} slot;

struct rsp_admit {
    rsp_admit_config cfg;
    int64_t full, need_new; /* µs x 100 */
    slot slots[RSP_ADMIT_SLOTS];
    atomic_uint next_slot;
    uint64_t id; /* unique per process: a freed state's address may come back */
    _Atomic(rsp_metrics *) metrics;
    atomic_uint_fast64_t admitted[2], refused[2];
};

const rsp_config_key_t rsp_admit_keys[] = {
    {"admission", "busy_percent", RSP_CFG_INT, "90", 0, 100,
     "share of each worker's time the expensive ES11/ES9+ calls may take; past it new ones get 503 "
     "(0 = no admission control)"},
    {"admission", "burst_ms", RSP_CFG_INT, "50", 1, 10000,
     "how far a worker may run ahead of that share (ms of work)"},
    {"admission", "reserve_percent", RSP_CFG_INT, "50", 0, 100,
     "part of the burst kept for transactions under way (InitiateAuthentication cannot use it)"},
    {"admission", "retry_after", RSP_CFG_INT, "10", 1, 3600, "seconds in the Retry-After of a refusal"},
};
const size_t rsp_admit_nkeys = sizeof(rsp_admit_keys) / sizeof(rsp_admit_keys[0]);

rsp_admit *rsp_admit_new(const rsp_admit_config *cfg)
{
    rsp_admit *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    static atomic_uint_fast64_t ids;
    a->id = atomic_fetch_add(&ids, 1) + 1;
    a->cfg = *cfg;
    if (a->cfg.busy_percent > 100)
        a->cfg.busy_percent = 100;
    if (a->cfg.reserve_percent > 100)
        a->cfg.reserve_percent = 100;
    a->full = (int64_t)a->cfg.burst_ms * 1000 * 100;
    a->need_new = a->full * a->cfg.reserve_percent / 100;
    for (size_t i = 0; i < RSP_ADMIT_SLOTS; i++) {
        pthread_mutex_init(&a->slots[i].lock, NULL);
        a->slots[i].budget = a->full;
    }
    return a;
}

rsp_admit *rsp_admit_from_config(const rsp_config_t *cfg)
{
    rsp_admit_config c = {
        .busy_percent = (unsigned)rsp_config_int(cfg, "admission.busy_percent"),
        .burst_ms = (unsigned)rsp_config_int(cfg, "admission.burst_ms"),
        .reserve_percent = (unsigned)rsp_config_int(cfg, "admission.reserve_percent"),
        .retry_after = (unsigned)rsp_config_int(cfg, "admission.retry_after"),
    };
    return rsp_admit_new(&c);
}

void rsp_admit_free(rsp_admit *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < RSP_ADMIT_SLOTS; i++)
        pthread_mutex_destroy(&a->slots[i].lock);
    free(a);
}

void rsp_admit_set_metrics(rsp_admit *a, rsp_metrics *m)
{
    if (!a)
        return;
    if (m)
        rsp_metrics_describe(m, RSP_ADMIT_METRIC_REFUSED, RSP_METRIC_COUNTER,
                             "calls refused with 503 by overload admission, by function and class");
    atomic_store(&a->metrics, m);
}

/* The calling thread's slot: claimed on its first call (per admission state). */
static slot *my_slot(rsp_admit *a)
{
    static _Thread_local uint64_t owner;
    static _Thread_local unsigned index;
    if (owner != a->id) {
        index = atomic_fetch_add(&a->next_slot, 1) % RSP_ADMIT_SLOTS;
        owner = a->id;
    }
    return &a->slots[index];
}

bool rsp_admit_try(rsp_admit *a, rsp_admit_class cls, uint64_t now_us, rsp_admit_ticket *t)
{
    t->slot = NULL;
    t->start_us = now_us;
    if (!a || a->cfg.busy_percent == 0)
        return true;
    slot *s = my_slot(a);
    pthread_mutex_lock(&s->lock);
    if (now_us > s->last_us) {
        s->budget += (int64_t)(now_us - s->last_us) * a->cfg.busy_percent;
        if (s->budget > a->full)
            s->budget = a->full;
    }
    s->last_us = now_us;
    bool ok = s->budget > (cls == RSP_ADMIT_NEW ? a->need_new : 0);
    pthread_mutex_unlock(&s->lock);
    if (ok) {
        t->slot = s;
        atomic_fetch_add(&a->admitted[cls], 1);
    } else {
        atomic_fetch_add(&a->refused[cls], 1);
    }
    return ok;
}

void rsp_admit_done(rsp_admit *a, rsp_admit_ticket *t, uint64_t now_us)
{
    slot *s = t->slot;
    if (!a || !s)
        return;
    t->slot = NULL;
    int64_t cost = now_us > t->start_us ? (int64_t)(now_us - t->start_us) * 100 : 0;
    pthread_mutex_lock(&s->lock);
    /* one very long call must not lock the worker out for longer than a burst */
    s->budget = s->budget - cost < -a->full ? -a->full : s->budget - cost;
    pthread_mutex_unlock(&s->lock);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool rsp_admit_request(rsp_admit *a, h2o_req_t *req, rsp_admit_class cls, const char *function,
                       rsp_admit_ticket *t)
{
    if (rsp_admit_try(a, cls, now_us(), t))
        return true;
    char v[16];
    snprintf(v, sizeof(v), "%u", a->cfg.retry_after);
    rsp_http_add_header(req, "retry-after", v);
    rsp_http_send_empty(req, 503, RSP_HTTP_ES);
    rsp_metrics *m = atomic_load(&a->metrics);
    if (m) {
        char labels[160];
        snprintf(labels, sizeof(labels), "function=\"%s\",class=\"%s\"", function,
                 cls == RSP_ADMIT_NEW ? "new" : "ongoing");
        rsp_metrics_inc(m, RSP_ADMIT_METRIC_REFUSED, labels);
    }
    return false;
}

void rsp_admit_stats_get(const rsp_admit *a, rsp_admit_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!a)
        return;
    for (int c = 0; c < 2; c++) {
        out->admitted[c] = atomic_load(&a->admitted[c]);
        out->refused[c] = atomic_load(&a->refused[c]);
    }
}
