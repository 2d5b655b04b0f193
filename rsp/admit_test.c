/* Tests of rsp/admit: the budget arithmetic on simulated time, per-thread slots, and the 503 refusal
 * over HTTP (before the handler's expensive part runs). */
#include "rsp/admit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/ut.h"

#define T0 1000000000ull /* a simulated monotonic start, µs */

static rsp_admit *make(unsigned busy, unsigned burst_ms, unsigned reserve)
{
    rsp_admit_config c = {.busy_percent = busy, .burst_ms = burst_ms, .reserve_percent = reserve, .retry_after = 7};
    rsp_admit *a = rsp_admit_new(&c);
    UT_CHECK(a != NULL);
    return a;
}

static void test_off(void)
{
    rsp_admit_ticket t;
    UT_CHECK(rsp_admit_try(NULL, RSP_ADMIT_NEW, T0, &t));
    rsp_admit_done(NULL, &t, T0 + 5);
    rsp_admit *a = make(0, 1, 0);
    for (int i = 0; i < 100; i++) {
        UT_CHECK(rsp_admit_try(a, RSP_ADMIT_NEW, T0, &t));
        UT_CHECK(t.slot == NULL);
        rsp_admit_done(a, &t, T0 + 1000000);
    }
    rsp_admit_free(a);
}

/*
 * busy 50%, burst 10 ms, reserve 50%: NEW needs more than 5 ms of budget, ONGOING more than 0.  The
 * budget refills at 50% of the time since the last decision and is charged each call's duration.
 */
static void test_budget_and_reserve(void)
{
    rsp_admit *a = make(50, 10, 50);
    rsp_admit_ticket t;
    UT_CHECK(rsp_admit_try(a, RSP_ADMIT_NEW, T0, &t)); /* full: 10 ms */
    rsp_admit_done(a, &t, T0 + 8000);                   /* 2 ms */
    UT_CHECK(rsp_admit_try(a, RSP_ADMIT_NEW, T0 + 8000, &t)); /* +4 ms: 6 */
    rsp_admit_done(a, &t, T0 + 16000);                        /* -2 */
    UT_CHECK(!rsp_admit_try(a, RSP_ADMIT_NEW, T0 + 16000, &t)); /* +4: 2, within the reserve */
    UT_CHECK(rsp_admit_try(a, RSP_ADMIT_ONGOING, T0 + 16000, &t)); /* the reserve serves sessions */
    rsp_admit_done(a, &t, T0 + 20000);                             /* -2 */
    UT_CHECK(!rsp_admit_try(a, RSP_ADMIT_ONGOING, T0 + 20000, &t)); /* +2: 0, not more than 0 */
    UT_CHECK(rsp_admit_try(a, RSP_ADMIT_ONGOING, T0 + 21000, &t));  /* 0.5 */
    rsp_admit_done(a, &t, T0 + 21000);
    UT_CHECK(!rsp_admit_try(a, RSP_ADMIT_NEW, T0 + 30000, &t)); /* 5: not more than 5 */
    UT_CHECK(rsp_admit_try(a, RSP_ADMIT_NEW, T0 + 30002, &t));
    rsp_admit_done(a, &t, T0 + 30002);
    rsp_admit_stats st;
    rsp_admit_stats_get(a, &st);
    UT_EQ(st.admitted[RSP_ADMIT_NEW], 3);
    UT_EQ(st.admitted[RSP_ADMIT_ONGOING], 2);
    UT_EQ(st.refused[RSP_ADMIT_NEW], 2);
    UT_EQ(st.refused[RSP_ADMIT_ONGOING], 1);
    rsp_admit_free(a);
}

/* An hour idle refills only up to the burst (10 ms of 1 ms calls, then refusals); a call far longer
 * than the burst leaves at most one burst of debt, so it does not lock the worker out. */
static void test_bounds(void)
{
    rsp_admit *a = make(1, 10, 0);
    rsp_admit_ticket t;
    uint64_t now = T0 + 3600000000ull;
    int admitted = 0;
    for (int i = 0; i < 100; i++) {
        if (rsp_admit_try(a, RSP_ADMIT_NEW, now, &t)) {
            admitted++;
            rsp_admit_done(a, &t, now + 1000);
        }
    }
    UT_EQ(admitted, 10);
    now += 1000000; /* 1 s at 1%: 10 ms back, the whole burst */
    UT_CHECK(rsp_admit_try(a, RSP_ADMIT_NEW, now, &t));
    rsp_admit_done(a, &t, now + 60000000); /* a minute: -10 ms, not -60 s */
    /* +600 ms at 1% covers the debt: no lock-out (without the bound it would last about 100 minutes) */
    UT_CHECK(rsp_admit_try(a, RSP_ADMIT_NEW, now + 60000000, &t));
    rsp_admit_done(a, &t, now + 60000000);
    rsp_admit_free(a);
}

/*
 * A worker offered three times what it can do (a call costs 2 ms, a refusal 10 µs, a new call is
 * always waiting): the time its admitted calls take stays at busy_percent of the elapsed time, and
 * the rest is left for the refusals.
 */
static void test_share_under_overload(void)
{
    unsigned shares[] = {50, 90};
    for (size_t k = 0; k < 2; k++) {
        rsp_admit *a = make(shares[k], 50, 50);
        uint64_t now = T0, busy = 0;
        for (int i = 0; i < 200000; i++) {
            rsp_admit_ticket t;
            rsp_admit_class cls = i % 2 ? RSP_ADMIT_ONGOING : RSP_ADMIT_NEW;
            if (rsp_admit_try(a, cls, now, &t)) {
                now += 2000;
                busy += 2000;
                rsp_admit_done(a, &t, now);
            } else {
                now += 10;
            }
        }
        double share = (double)busy / (double)(now - T0);
        UT_CHECK(share > shares[k] / 100.0 - 0.02 && share < shares[k] / 100.0 + 0.02);
        rsp_admit_stats st;
        rsp_admit_stats_get(a, &st);
        /* sessions under way are preferred over new ones */
        UT_CHECK(st.admitted[RSP_ADMIT_ONGOING] > st.admitted[RSP_ADMIT_NEW]);
        rsp_admit_free(a);
    }
}

/* Each thread has its own budget: one worker's overload does not refuse another's calls. */
static atomic_int other_ok;
static rsp_admit *shared;

static void *other(void *arg)
{
    (void)arg;
    rsp_admit_ticket t;
    atomic_store(&other_ok, rsp_admit_try(shared, RSP_ADMIT_NEW, T0 + 1, &t));
    rsp_admit_done(shared, &t, T0 + 1);
    return NULL;
}

static void test_per_thread(void)
{
    shared = make(1, 5, 0);
    rsp_admit_ticket t;
    UT_CHECK(rsp_admit_try(shared, RSP_ADMIT_NEW, T0, &t));
    rsp_admit_done(shared, &t, T0 + 100000);
    UT_CHECK(!rsp_admit_try(shared, RSP_ADMIT_NEW, T0 + 100000, &t));
    pthread_t th;
    UT_EQ(pthread_create(&th, NULL, other, NULL), 0);
    pthread_join(th, NULL);
    UT_EQ(atomic_load(&other_ok), 1);
    rsp_admit_free(shared);
}

static void test_config_keys(void)
{
    rsp_config_t *cfg = rsp_config_new();
    char err[256];
    UT_EQ(rsp_config_declare(cfg, rsp_admit_keys, rsp_admit_nkeys, err, sizeof(err)), 0);
    UT_EQ(rsp_config_set(cfg, "admission.busy_percent", "101", "test", err, sizeof(err)), -1);
    UT_EQ(rsp_config_set(cfg, "admission.busy_percent", "0", "test", err, sizeof(err)), 0);
    rsp_admit *a = rsp_admit_from_config(cfg);
    UT_CHECK(a != NULL);
    rsp_admit_ticket t;
    UT_CHECK(rsp_admit_try(a, RSP_ADMIT_NEW, T0, &t) && t.slot == NULL);
    rsp_admit_free(a);
    rsp_config_free(cfg);
}

/* ---- over HTTP ---- */

static atomic_int expensive_runs;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int handler(h2o_req_t *req, void *ctx)
{
    rsp_admit *a = ctx;
    rsp_admit_ticket t;
    if (!rsp_admit_request(a, req, RSP_ADMIT_NEW, "ES11.InitiateAuthentication", &t))
        return 0;
    atomic_fetch_add(&expensive_runs, 1);
    /* the crypto: 5 ms of CPU (busy time is what the budget is charged) */
    for (uint64_t end = mono_us() + 5000; mono_us() < end;)
        ;
    rsp_http_send_json(req, 200, "{}", 2, RSP_HTTP_ES);
    rsp_admit_done(a, &t, mono_us());
    return 0;
}

/* One HTTP/1.1 POST on a fresh connection; the whole answer into buf. */
static void post(uint16_t port, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    buf[0] = '\0';
    UT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    static const char rq[] = "POST /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    UT_EQ(write(fd, rq, sizeof(rq) - 1), (ssize_t)(sizeof(rq) - 1));
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
}

static void test_http_refusal(void)
{
    rsp_admit *a = make(1, 1, 0); /* 1 ms of work, refilled at 1%: the second call is refused */
    rsp_metrics *m = rsp_metrics_new();
    rsp_admit_set_metrics(a, m);
    rsp_http_server_config_t sc = {.workers = 1};
    rsp_http_server_t *srv = rsp_http_server_new(&sc);
    char err[256];
    rsp_http_listener_config_t lc = {.name = "device", .plain = 1};
    int l = rsp_http_listener_add(srv, &lc, err, sizeof(err));
    UT_CHECK(l >= 0);
    UT_EQ(rsp_http_route(srv, l, "POST", "/x", handler, a), 0);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    uint16_t port = rsp_http_listener_port(srv, l);
    char buf[4096];
    post(port, buf, sizeof(buf));
    UT_CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    post(port, buf, sizeof(buf));
    UT_CHECK(strncmp(buf, "HTTP/1.1 503", 12) == 0);
    UT_CHECK(strcasestr(buf, "\r\nretry-after: 7\r\n") != NULL);
    UT_CHECK(strcasestr(buf, "\r\nx-admin-protocol: gsma/rsp/v2") != NULL);
    UT_CHECK(strcasestr(buf, "\r\ncontent-length: 0\r\n") != NULL);
    UT_EQ(atomic_load(&expensive_runs), 1); /* refused before the expensive part */
    rsp_admit_stats st;
    rsp_admit_stats_get(a, &st);
    UT_EQ(st.admitted[RSP_ADMIT_NEW], 1);
    UT_EQ(st.refused[RSP_ADMIT_NEW], 1);
    rsp_http_server_stop(srv);
    rsp_http_server_wait(srv);
    rsp_http_server_free(srv);
    size_t len;
    char *text = rsp_metrics_render(m, &len);
    UT_CHECK(text && strstr(text, RSP_ADMIT_METRIC_REFUSED
                            "{function=\"ES11.InitiateAuthentication\",class=\"new\"} 1") != NULL);
    free(text);
    rsp_admit_free(a);
    rsp_metrics_free(m);
}

int main(void)
{
    UT_RUN(test_off);
    UT_RUN(test_budget_and_reserve);
    UT_RUN(test_bounds);
    UT_RUN(test_share_under_overload);
    UT_RUN(test_per_thread);
    UT_RUN(test_config_keys);
    UT_RUN(test_http_refusal);
    return ut_finish();
}
