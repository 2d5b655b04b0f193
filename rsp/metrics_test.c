#include "rsp/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/ut.h"

static void test_counters_and_render(void)
{
    rsp_metrics *m = rsp_metrics_new();
    rsp_metrics_describe(m, "rsp_requests_total", RSP_METRIC_COUNTER, "Requests by function and result");
    rsp_metrics_inc(m, "rsp_requests_total", "function=\"registerEvent\",code=\"OK\"");
    rsp_metrics_inc(m, "rsp_requests_total", "function=\"registerEvent\",code=\"OK\"");
    rsp_metrics_inc(m, "rsp_requests_total", "function=\"deleteEvent\",code=\"8.9.5/3.9\"");
    rsp_metric_set(rsp_metric_get(m, "rsp_events_stored", RSP_METRIC_GAUGE, NULL), -3);
    size_t len;
    char *out = rsp_metrics_render(m, &len);
    UT_CHECK(out != NULL);
    UT_EQ(strlen(out), len);
    UT_CHECK(strstr(out, "# HELP rsp_requests_total Requests by function and result\n") != NULL);
    UT_CHECK(strstr(out, "# TYPE rsp_requests_total counter\n") != NULL);
    UT_CHECK(strstr(out, "rsp_requests_total{function=\"registerEvent\",code=\"OK\"} 2\n") != NULL);
    UT_CHECK(strstr(out, "rsp_requests_total{function=\"deleteEvent\",code=\"8.9.5/3.9\"} 1\n") != NULL);
    UT_CHECK(strstr(out, "rsp_events_stored -3\n") != NULL);
    /* one TYPE line per family */
    char *first = strstr(out, "# TYPE rsp_requests_total");
    UT_CHECK(first && strstr(first + 1, "# TYPE rsp_requests_total") == NULL);
    free(out);
    rsp_metrics_free(m);
}

static void test_histogram(void)
{
    rsp_metrics *m = rsp_metrics_new();
    rsp_metrics_observe_us(m, "rsp_latency_seconds", "function=\"x\"", 50);
    rsp_metrics_observe_us(m, "rsp_latency_seconds", "function=\"x\"", 300);
    rsp_metrics_observe_us(m, "rsp_latency_seconds", "function=\"x\"", 99999999);
    char *out = rsp_metrics_render(m, NULL);
    UT_CHECK(strstr(out, "rsp_latency_seconds_bucket{function=\"x\",le=\"0.0001\"} 1\n") != NULL);
    UT_CHECK(strstr(out, "rsp_latency_seconds_bucket{function=\"x\",le=\"0.0005\"} 2\n") != NULL);
    UT_CHECK(strstr(out, "rsp_latency_seconds_bucket{function=\"x\",le=\"+Inf\"} 3\n") != NULL);
    UT_CHECK(strstr(out, "rsp_latency_seconds_count{function=\"x\"} 3\n") != NULL);
    UT_CHECK(strstr(out, "# TYPE rsp_latency_seconds histogram\n") != NULL);
    free(out);
    rsp_metrics_free(m);
}

static rsp_metrics *shared;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        char l[32];
        snprintf(l, sizeof(l), "k=\"%d\"", i % 7);
        rsp_metrics_inc(shared, "c_total", l);
    }
    return NULL;
}

static void test_threads(void)
{
    shared = rsp_metrics_new();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    uint64_t total = 0;
    char *out = rsp_metrics_render(shared, NULL);
    for (char *p = strstr(out, "c_total{"); p; p = strstr(p + 1, "c_total{"))
        total += strtoull(strchr(p, ' ') + 1, NULL, 10);
    UT_EQ(total, 40000);
    free(out);
    rsp_metrics_free(shared);
}

int main(void)
{
    UT_RUN(test_counters_and_render);
    UT_RUN(test_histogram);
    UT_RUN(test_threads);
    return ut_finish();
}
