/* Tests of the SM-DS routes and /metrics body (the handlers themselves run in the integration test). */
#include "smds/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp/es.h"
#include "smds/es12.h"
#include "smds/store_testutil.h"
#include "smds/testutil.h"
#include "tests/unit/ut.h"

static char pki[1024];

static void test_metrics_text(void)
{
    rsp_metrics *m = rsp_metrics_new();
    char state[1024];
    snprintf(state, sizeof(state), "%s", tu_dir("server_state"));
    smds_config *cfg = tu_config(pki, state, true);
    cfg->metrics = m;
    smds_t *x = tu_new(cfg, "server_state");
    UT_CHECK(x != NULL);
    if (!x) {
        rsp_metrics_free(m);
        return;
    }
    rsp_metrics_inc(m, RSP_ES_METRIC_REQUESTS, "function=\"ES11.AuthenticateClient\",code=\"OK\"");
    for (int i = 0; i < 3; i++) {
        smds_event ev = {.eid = "89049032123451234512345678901235",
                         .rsp_server_address = "smdp.example.com",
                         .owner = "2.999.10",
                         .via = 12};
        snprintf(ev.event_id, sizeof(ev.event_id), "M%d", i);
        UT_EQ(smds_event_register_wait(x, &ev, false, time(NULL)), RSP_OK);
    }
    size_t len;
    char *text = smds_metrics_text(x, &len);
    UT_CHECK(text != NULL);
    if (text) {
        UT_EQ(strlen(text), len);
        UT_CHECK(strstr(text, "rsp_requests_total{function=\"ES11.AuthenticateClient\",code=\"OK\"} 1") !=
                 NULL);
        UT_CHECK(strstr(text, "# TYPE smds_events_stored gauge\nsmds_events_stored 3\n") != NULL);
        if (tu_store_pg()) {
            UT_CHECK(strstr(text, "smds_pg_jobs_total 3\n") != NULL);
            UT_CHECK(strstr(text, "smds_pg_ready 1\n") != NULL);
        } else {
            UT_CHECK(strstr(text, "smds_db_jobs_total 3\n") != NULL);
            UT_CHECK(strstr(text, "# TYPE smds_db_batch_size histogram\n") != NULL);
            UT_CHECK(strstr(text, "smds_db_batch_size_bucket{le=\"+Inf\"} ") != NULL);
            UT_CHECK(strstr(text, "smds_db_batch_size_sum 3\n") != NULL);
        }
        UT_CHECK(strstr(text, "smds_eum_cache_misses_total 0\n") != NULL);
        /* every line is a comment or "name[{labels}] value" */
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
            UT_CHECK(line[0] == '#' || strchr(line, ' ') != NULL);
        free(text);
    }
    /* routes register once per server */
    char err[256];
    rsp_http_server_t *srv = rsp_http_server_new(NULL);
    rsp_http_listener_config_t dev = {.name = "device", .plain = 1}, s2s = {.name = "s2s", .plain = 1};
    int d = rsp_http_listener_add(srv, &dev, err, sizeof(err));
    int s = rsp_http_listener_add(srv, &s2s, err, sizeof(err));
    UT_EQ(smds_server_routes(srv, d, s, x, true), 0);
    UT_EQ(smds_server_routes(srv, d, s, x, true), -1);
    rsp_http_server_free(srv);
    smds_free(x);
    rsp_metrics_free(m);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: server_test <rsp-pki>\n");
        return 2;
    }
    if (tu_store_start(TEST_STORE, "server_test") != 0)
        return 0;
    snprintf(pki, sizeof(pki), "%s", tu_dir("server_pki"));
    if (tu_pki(argv[1], pki))
        return 1;
    UT_RUN(test_metrics_text);
    tu_store_stop();
    return ut_finish();
}
