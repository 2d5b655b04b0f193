/* Tests of the ES JSON binding glue over a real (plain HTTP) rsp/http server, with libcurl as client. */
#include "rsp/es.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "rsp/http.h"
#include "tests/unit/ut.h"

static rsp_metrics *metrics;
static uint16_t port;

typedef struct body_t {
    const char *name;
    int64_t n;
} body_t;

static const rsp_json_field fields[] = {
    RSP_JSON_F("name", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 16, body_t, name),
    RSP_JSON_F("n", RSP_JSON_INT, RSP_JSON_OPTIONAL, 0, 0, body_t, n),
    RSP_JSON_END,
};

/* Binds {name, n}; n == 7 answers Failed 8.9.5/3.9; otherwise echoes name. */
static int h_fn(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_es_ctx *c = rsp_es_begin(req, "Test.Function", metrics, 0);
    if (!c)
        return 0;
    body_t b;
    if (!rsp_es_bind(c, fields, &b))
        return 0;
    if (b.n == 7) {
        c->detail = "seven";
        rsp_es_reply_status(c, RSP_ST_EVENT_UNKNOWN);
        return 0;
    }
    rsp_jsonw w;
    rsp_es_reply_begin(c, &w, RSP_OK);
    rsp_jsonw_kstr(&w, "echo", b.name);
    rsp_es_reply_end(c, &w, RSP_OK);
    return 0;
}

static int h_notify(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_es_ctx *c = rsp_es_begin(req, "Test.Notify", metrics, 0);
    if (c)
        rsp_es_reply_204(c);
    return 0;
}

typedef struct resp {
    long status;
    char body[4096];
    size_t len;
    char headers[4096];
    size_t hlen;
} resp;

static size_t on_body(char *d, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    size_t add = sz * n;
    if (r->len + add >= sizeof(r->body))
        return 0;
    memcpy(r->body + r->len, d, add);
    r->len += add;
    r->body[r->len] = 0;
    return add;
}

static size_t on_header(char *d, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    size_t add = sz * n;
    if (r->hlen + add < sizeof(r->headers)) {
        memcpy(r->headers + r->hlen, d, add);
        r->hlen += add;
        r->headers[r->hlen] = 0;
    }
    return add;
}

static void post(const char *path, const char *ctype, const char *admin, const char *body, resp *r)
{
    memset(r, 0, sizeof(*r));
    char url[128], ct[128], ap[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    if (ctype) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        hdr = curl_slist_append(hdr, ct);
    }
    if (admin) {
        snprintf(ap, sizeof(ap), "X-Admin-Protocol: %s", admin);
        hdr = curl_slist_append(hdr, ap);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    UT_EQ(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
}

static void test_success(void)
{
    resp r;
    post("/fn", "application/json", "gsma/rsp/v2.2.0", "{\"name\":\"abc\",\"extra\":[1]}", &r);
    UT_EQ(r.status, 200);
    UT_CHECK(strcmp(r.body, "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                            "\"echo\":\"abc\"}") == 0);
    UT_CHECK(strstr(r.headers, "x-admin-protocol: gsma/rsp/v2.2.2") != NULL);
    UT_CHECK(strstr(r.headers, "content-type: application/json;charset=UTF-8") != NULL);
    /* no X-Admin-Protocol, parameters after the media type, v3 */
    post("/fn", "application/json; charset=utf-8", NULL, "{\"name\":\"x\"}", &r);
    UT_EQ(r.status, 200);
    post("/fn", "application/json;charset=UTF-8", "gsma/rsp/v3.1.0", "{\"name\":\"x\"}", &r);
    UT_EQ(r.status, 200);
}

static void test_failures(void)
{
    resp r;
    post("/fn", "application/json", NULL, "{\"name\":\"abc\",\"n\":7}", &r);
    UT_EQ(r.status, 200);
    UT_CHECK(strstr(r.body, "\"status\":\"Failed\"") && strstr(r.body, "\"subjectCode\":\"8.9.5\"") &&
             strstr(r.body, "\"reasonCode\":\"3.9\""));
    UT_CHECK(strstr(r.body, "seven") == NULL); /* the internal detail stays in the log */
    post("/fn", "application/json", NULL, "{\"n\":1}", &r);
    UT_EQ(r.status, 200);
    UT_CHECK(strstr(r.body, "\"subjectCode\":\"1.1\"") && strstr(r.body, "\"reasonCode\":\"2.2\"") &&
             strstr(r.body, "name"));
    post("/fn", "application/json", NULL, "{\"name\":", &r);
    UT_EQ(r.status, 200);
    UT_CHECK(strstr(r.body, "\"reasonCode\":\"2.1\"") != NULL);
    post("/fn", "application/json", NULL, "{\"name\":5}", &r);
    UT_CHECK(strstr(r.body, "\"reasonCode\":\"2.1\"") != NULL);
    post("/fn", "text/plain", NULL, "{\"name\":\"abc\"}", &r);
    UT_EQ(r.status, 415);
    post("/fn", "application/jsonx", NULL, "{\"name\":\"abc\"}", &r);
    UT_EQ(r.status, 415);
    post("/fn", NULL, NULL, "{\"name\":\"abc\"}", &r); /* curl sends form-urlencoded */
    UT_EQ(r.status, 415);
    post("/fn", "application/json", "gsma/rsp/v1.0", "{\"name\":\"abc\"}", &r);
    UT_EQ(r.status, 400);
    post("/notify", "application/json", NULL, "{}", &r);
    UT_EQ(r.status, 204);
    UT_EQ(r.len, 0);
}

static void test_metrics(void)
{
    size_t len;
    char *text = rsp_metrics_render(metrics, &len);
    UT_CHECK(text != NULL);
    if (!text)
        return;
    UT_CHECK(strstr(text, "rsp_requests_total{function=\"Test.Function\",code=\"OK\"} 3") != NULL);
    UT_CHECK(strstr(text, "rsp_requests_total{function=\"Test.Function\",code=\"8.9.5/3.9\"} 1") != NULL);
    UT_CHECK(strstr(text, "rsp_requests_total{function=\"Test.Function\",code=\"transport\"} 4") != NULL);
    UT_CHECK(strstr(text, "rsp_request_duration_seconds_count{function=\"Test.Notify\"} 1") != NULL);
    free(text);
}

/* Refused-call access lines: at most the rate a second, then again the next second. */
static void test_refused_log_rate(void)
{
    rsp_es_set_refused_log_rate(3);
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += rsp_es_refused_log_allow(1000);
    UT_EQ(ok, 3);
    UT_CHECK(rsp_es_refused_log_allow(1001));
    rsp_es_set_refused_log_rate(0);
    ok = 0;
    for (int i = 0; i < 1000; i++)
        ok += rsp_es_refused_log_allow(1001);
    UT_EQ(ok, 1000);
    rsp_es_set_refused_log_rate(100);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    metrics = rsp_metrics_new();
    rsp_http_server_config_t hc = {.workers = 1, .drain_timeout_ms = 2000};
    rsp_http_server_t *srv = rsp_http_server_new(&hc);
    rsp_http_listener_config_t lc = {.name = "plain", .port = 0, .plain = 1};
    char err[256];
    int l = rsp_http_listener_add(srv, &lc, err, sizeof(err));
    if (l < 0 || rsp_http_route(srv, l, "POST", "/fn", h_fn, NULL) != 0 ||
        rsp_http_route(srv, l, "POST", "/notify", h_notify, NULL) != 0 ||
        rsp_http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    port = rsp_http_listener_port(srv, l);
    UT_RUN(test_success);
    UT_RUN(test_failures);
    UT_RUN(test_metrics);
    UT_RUN(test_refused_log_rate);
    rsp_http_server_stop(srv);
    rsp_http_server_wait(srv);
    rsp_http_server_free(srv);
    rsp_metrics_free(metrics);
    curl_global_cleanup();
    return ut_finish();
}
