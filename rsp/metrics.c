#include "rsp/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Histogram bucket upper bounds in microseconds (exported in seconds). */
static const uint64_t bucket_us[] = {100,   250,    500,    1000,   2500,    5000,    10000,  25000,
                                     50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct rsp_metric {
    struct rsp_metric *next;
    char *name;
    char *labels;
    enum rsp_metric_kind kind;
    _Atomic uint64_t value; /* counter, or gauge bits */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
    _Atomic uint64_t buckets[NBUCKETS];
};

struct family {
    struct family *next;
    char *name;
    char *help;
    enum rsp_metric_kind kind;
};

struct rsp_metrics {
    pthread_mutex_t lock;
    _Atomic(struct rsp_metric *) head;
    struct family *families;
};

rsp_metrics *rsp_metrics_new(void)
{
    rsp_metrics *m = calloc(1, sizeof(*m));
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void rsp_metrics_free(rsp_metrics *m)
{
    if (!m)
        return;
    struct rsp_metric *s = atomic_load(&m->head);
    while (s) {
        struct rsp_metric *n = s->next;
        free(s->name);
        free(s->labels);
        free(s);
        s = n;
    }
    struct family *f = m->families;
    while (f) {
        struct family *n = f->next;
        free(f->name);
        free(f->help);
        free(f);
        f = n;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void rsp_metrics_describe(rsp_metrics *m, const char *name, enum rsp_metric_kind kind, const char *help)
{
    pthread_mutex_lock(&m->lock);
    struct family *f;
    for (f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (!f && (f = calloc(1, sizeof(*f))) != NULL) {
        f->name = strdup(name);
        f->next = m->families;
        m->families = f;
    }
    if (f) {
        free(f->help);
        f->help = help ? strdup(help) : NULL;
        f->kind = kind;
    }
    pthread_mutex_unlock(&m->lock);
}

static struct rsp_metric *find(struct rsp_metric *s, const char *name, const char *labels)
{
    for (; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    return NULL;
}

rsp_metric *rsp_metric_get(rsp_metrics *m, const char *name, enum rsp_metric_kind kind, const char *labels)
{
    if (!labels)
        labels = "";
    /* The list only grows at its head, so a lock-free read is safe. */
    struct rsp_metric *s = find(atomic_load(&m->head), name, labels);
    if (s)
        return s;
    pthread_mutex_lock(&m->lock);
    s = find(atomic_load(&m->head), name, labels);
    if (!s && (s = calloc(1, sizeof(*s))) != NULL) {
        s->name = strdup(name);
        s->labels = strdup(labels);
        s->kind = kind;
        if (!s->name || !s->labels) {
            free(s->name);
            free(s->labels);
            free(s);
            s = NULL;
        } else {
            s->next = atomic_load(&m->head);
            atomic_store(&m->head, s);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

void rsp_metric_add(rsp_metric *s, uint64_t v)
{
    if (s)
        atomic_fetch_add_explicit(&s->value, v, memory_order_relaxed);
}

void rsp_metric_set(rsp_metric *s, int64_t v)
{
    if (s)
        atomic_store_explicit(&s->value, (uint64_t)v, memory_order_relaxed);
}

void rsp_metric_observe_us(rsp_metric *s, uint64_t us)
{
    if (!s)
        return;
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, us, memory_order_relaxed);
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (us <= bucket_us[i]) {
            atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
}

void rsp_metrics_inc(rsp_metrics *m, const char *name, const char *labels)
{
    rsp_metric_add(rsp_metric_get(m, name, RSP_METRIC_COUNTER, labels), 1);
}

void rsp_metrics_observe_us(rsp_metrics *m, const char *name, const char *labels, uint64_t us)
{
    rsp_metric_observe_us(rsp_metric_get(m, name, RSP_METRIC_HISTOGRAM, labels), us);
}

struct sbuf {
    char *p;
    size_t len, cap;
    int err;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->err)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->err = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->err = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static const char *kind_name(enum rsp_metric_kind k)
{
    return k == RSP_METRIC_COUNTER ? "counter" : k == RSP_METRIC_GAUGE ? "gauge" : "histogram";
}

/* Joins a series' labels with an extra label for histogram buckets. */
static void labels_with(struct sbuf *b, const char *labels, const char *extra)
{
    if (!labels[0] && !extra)
        return;
    sb_printf(b, "{%s%s%s}", labels, (labels[0] && extra) ? "," : "", extra ? extra : "");
}

char *rsp_metrics_render(rsp_metrics *m, size_t *len)
{
    struct sbuf b = {malloc(4096), 0, 4096, 0};
    if (!b.p)
        return NULL;
    b.p[0] = 0;
    pthread_mutex_lock(&m->lock);
    /* Group series by family name in first-seen order. */
    struct rsp_metric *head = atomic_load(&m->head);
    for (struct rsp_metric *s = head; s; s = s->next) {
        struct rsp_metric *first = s;
        for (struct rsp_metric *t = head; t != s; t = t->next)
            if (strcmp(t->name, s->name) == 0) {
                first = NULL;
                break;
            }
        if (!first)
            continue;
        for (struct family *f = m->families; f; f = f->next)
            if (strcmp(f->name, s->name) == 0 && f->help)
                sb_printf(&b, "# HELP %s %s\n", f->name, f->help);
        sb_printf(&b, "# TYPE %s %s\n", s->name, kind_name(s->kind));
        for (struct rsp_metric *t = s; t; t = t->next) {
            if (strcmp(t->name, s->name) != 0)
                continue;
            if (t->kind == RSP_METRIC_HISTOGRAM) {
                uint64_t cum = 0;
                for (size_t i = 0; i < NBUCKETS; i++) {
                    char le[48];
                    cum += atomic_load(&t->buckets[i]);
                    snprintf(le, sizeof(le), "le=\"%g\"", (double)bucket_us[i] / 1e6);
                    sb_printf(&b, "%s_bucket", t->name);
                    labels_with(&b, t->labels, le);
                    sb_printf(&b, " %llu\n", (unsigned long long)cum);
                }
                sb_printf(&b, "%s_bucket", t->name);
                labels_with(&b, t->labels, "le=\"+Inf\"");
                sb_printf(&b, " %llu\n", (unsigned long long)atomic_load(&t->count));
                sb_printf(&b, "%s_sum", t->name);
                labels_with(&b, t->labels, NULL);
                sb_printf(&b, " %.6f\n", (double)atomic_load(&t->sum_us) / 1e6);
                sb_printf(&b, "%s_count", t->name);
                labels_with(&b, t->labels, NULL);
                sb_printf(&b, " %llu\n", (unsigned long long)atomic_load(&t->count));
            } else {
                sb_printf(&b, "%s", t->name);
                labels_with(&b, t->labels, NULL);
                if (t->kind == RSP_METRIC_GAUGE)
                    sb_printf(&b, " %lld\n", (long long)(int64_t)atomic_load(&t->value));
                else
                    sb_printf(&b, " %llu\n", (unsigned long long)atomic_load(&t->value));
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (b.err) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

void rsp_metrics_write(FILE *f, enum rsp_metric_kind kind, const char *name, const char *help, uint64_t v)
{
    const char *type = kind == RSP_METRIC_COUNTER ? "counter" : "gauge";
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, (unsigned long long)v);
}
