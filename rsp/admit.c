#include "rsp/admit.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    {"admission", "busy_percent", RSP_CFG_INT, "0", 0, 100,
     "share of each worker's time the expensive ES11/ES9+ calls may take; calls past it get HTTP 503 "
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

/* Per thread: its slot in the state it last used, and its schedstat reading. */
typedef struct thread_state {
    uint64_t owner; /* rsp_admit.id */
    unsigned index;
    int fd;            /* /proc/thread-self/schedstat; -1 unreadable, -2 not opened yet */
    int64_t last_busy; /* ns running or runnable at the last decision, -1 none yet */
} thread_state;

static _Thread_local thread_state me = {0, 0, -2, -1};
static pthread_key_t closer;
static pthread_once_t closer_once = PTHREAD_ONCE_INIT;

static void close_fd(void *p)
{
    close((int)(intptr_t)p - 1);
}

static void closer_init(void)
{
    pthread_key_create(&closer, close_fd);
}

/* The calling thread's slot: claimed on its first call (per admission state). */
static slot *my_slot(rsp_admit *a)
{
    if (me.owner != a->id) {
        me.index = atomic_fetch_add(&a->next_slot, 1) % RSP_ADMIT_SLOTS;
        me.owner = a->id;
        me.last_busy = -1;
    }
    return &a->slots[me.index];
}

/* ns the calling thread has spent running or waiting for a CPU (all its work: TLS, HTTP/2, handlers,
 * refusals; not the time it slept in the event loop), or -1 when schedstat cannot be read. */
static int64_t thread_busy_ns(void)
{
    if (me.fd == -2) {
        me.fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        pthread_once(&closer_once, closer_init);
        if (me.fd >= 0)
            pthread_setspecific(closer, (void *)(intptr_t)(me.fd + 1)); /* closed when the thread ends */
    }
    char b[96];
    ssize_t n = me.fd >= 0 ? pread(me.fd, b, sizeof(b) - 1, 0) : -1;
    if (n <= 0)
        return -1;
    b[n] = '\0';
    char *end;
    long long run = strtoll(b, &end, 10), wait = strtoll(end, NULL, 10);
    return run >= 0 && wait >= 0 ? (int64_t)(run + wait) : -1;
}

/* Refills s for the time since its last decision, takes charge (µs x 100) off it, then decides. */
static bool decide(rsp_admit *a, slot *s, rsp_admit_class cls, uint64_t now_us, int64_t charge)
{
    pthread_mutex_lock(&s->lock);
    s->budget = s->budget - charge < -a->full ? -a->full : s->budget - charge;
    if (now_us > s->last_us) {
        s->budget += (int64_t)(now_us - s->last_us) * a->cfg.busy_percent;
        if (s->budget > a->full)
            s->budget = a->full;
    }
    s->last_us = now_us;
    bool ok = s->budget > (cls == RSP_ADMIT_NEW ? a->need_new : 0);
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(ok ? &a->admitted[cls] : &a->refused[cls], 1);
    return ok;
}

bool rsp_admit_try(rsp_admit *a, rsp_admit_class cls, uint64_t now_us, rsp_admit_ticket *t)
{
    t->slot = NULL;
    t->start_us = now_us;
    if (!a || a->cfg.busy_percent == 0)
        return true;
    slot *s = my_slot(a);
    bool ok = decide(a, s, cls, now_us, 0);
    if (ok)
        t->slot = s;
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

/* With schedstat, the charge is the thread's busy time since its last decision, so the work around the
 * handlers (TLS, HTTP/2, refusals) counts too; without it, the handlers' own time (rsp_admit_try). */
static bool admit_thread(rsp_admit *a, rsp_admit_class cls, rsp_admit_ticket *t)
{
    if (!a || a->cfg.busy_percent == 0)
        return rsp_admit_try(a, cls, now_us(), t);
    slot *s = my_slot(a);
    int64_t busy = thread_busy_ns();
    if (busy < 0)
        return rsp_admit_try(a, cls, now_us(), t);
    int64_t charge = me.last_busy >= 0 && busy > me.last_busy ? (busy - me.last_busy) / 10 : 0;
    me.last_busy = busy;
    t->slot = NULL; /* charged at the next decision */
    t->start_us = now_us();
    return decide(a, s, cls, t->start_us, charge);
}

bool rsp_admit_request(rsp_admit *a, h2o_req_t *req, rsp_admit_class cls, const char *function,
                       rsp_admit_ticket *t)
{
    if (admit_thread(a, cls, t))
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
