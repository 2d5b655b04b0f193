/*
 * rsp/metrics.h - Prometheus text-format metrics.
 *
 * A registry holds counters, gauges and latency histograms, each identified by
 * a metric name plus one label string (already formatted, e.g.
 * `function="registerEvent",code="8.9.5/3.3"`).  Series are created on first
 * use and live until the registry is freed.  Updates are lock-free atomics
 * once a series exists; creating a series takes a mutex.  Thread safe.
 *
 * Memory: the registry owns every series; rsp_metrics_render() returns a
 * malloc'd string the caller frees.
 */
#ifndef RSP_METRICS_H
#define RSP_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct rsp_metrics rsp_metrics;
typedef struct rsp_metric rsp_metric;

enum rsp_metric_kind { RSP_METRIC_COUNTER, RSP_METRIC_GAUGE, RSP_METRIC_HISTOGRAM };

rsp_metrics *rsp_metrics_new(void);
void rsp_metrics_free(rsp_metrics *m);

/* Declares a metric family with its help text (optional but recommended). */
void rsp_metrics_describe(rsp_metrics *m, const char *name, enum rsp_metric_kind kind, const char *help);

/* Finds or creates a series; NULL only on out-of-memory.  labels may be NULL
 * or "" for none.  The returned pointer stays valid until rsp_metrics_free. */
rsp_metric *rsp_metric_get(rsp_metrics *m, const char *name, enum rsp_metric_kind kind, const char *labels);

void rsp_metric_add(rsp_metric *s, uint64_t v); /* counters */
void rsp_metric_set(rsp_metric *s, int64_t v);  /* gauges */
/* Histograms: observation in microseconds; buckets are fixed and exported in seconds. */
void rsp_metric_observe_us(rsp_metric *s, uint64_t us);

/* Convenience: find-or-create and update in one call. */
void rsp_metrics_inc(rsp_metrics *m, const char *name, const char *labels);
void rsp_metrics_observe_us(rsp_metrics *m, const char *name, const char *labels, uint64_t us);

/* Renders every series in the Prometheus text exposition format (0.0.4). */
char *rsp_metrics_render(rsp_metrics *m, size_t *len);

/* Writes one unlabelled counter or gauge sample with its HELP and TYPE lines to f, for values kept
 * outside a registry (store sizes, queue depths, cache counters). */
void rsp_metrics_write(FILE *f, enum rsp_metric_kind kind, const char *name, const char *help, uint64_t v);

#endif
