#include "smdp_default/server.h"

#include <stdlib.h>
#include <string.h>

#include "smdp_default/testutil.h"
#include "tests/unit/ut.h"

static void test_routes_and_metrics(void)
{
    fx g;
    UT_EQ(fx_init(&g, NULL), 0);
    rsp_http_server_t *srv = rsp_http_server_new(NULL);
    UT_CHECK(srv != NULL);
    char err[128];
    rsp_http_listener_config_t dev = {.name = "device", .plain = 1}, s2s = {.name = "s2s", .plain = 1};
    int d = rsp_http_listener_add(srv, &dev, err, sizeof(err));
    int s = rsp_http_listener_add(srv, &s2s, err, sizeof(err));
    UT_CHECK(d >= 0 && s >= 0);
    UT_EQ(smdp_server_routes(srv, d, s, g.x, true), 0);
    /* every path is taken now */
    UT_EQ(smdp_server_routes(srv, d, s, g.x, false), -1);
    rsp_http_server_free(srv);

    /* a change and its outbox item show in the figures */
    UT_EQ(fx_download_order(&g, PKI_SGP26_EID, g.iccid[0], NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, g.iccid[0], true, ",\"smdsAddress\":\"ds.example\"", NULL), RSP_OK);
    size_t len;
    char *text = smdp_metrics_text(g.x, &len);
    UT_CHECK(text && strlen(text) == len);
    UT_CHECK(text && strstr(text, "\nsmdp_outbox_pending 1\n") &&
             strstr(text, "# TYPE smdp_db_commits_total counter") &&
             strstr(text, "smdp_eum_cache_misses_total 0"));
    free(text);
    fx_clear(&g);
}

int main(void)
{
    UT_RUN(test_routes_and_metrics);
    return ut_finish();
}
