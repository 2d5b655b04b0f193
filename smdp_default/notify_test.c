#include "smdp_default/notify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "rsp/http.h"
#include "tests/unit/ut.h"
#include "tools/pki/pki.h"

static char dir[256];
static char path_ci[300], path_srv[300], path_srv_key[300], path_cli[300], path_cli_key[300];
static rsp_http_server_t *srv;
static unsigned port;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char last_body[4096], last_peer[256];

static void record(h2o_req_t *req)
{
    const char *cn = rsp_http_peer(req);
    pthread_mutex_lock(&mu);
    snprintf(last_body, sizeof(last_body), "%.*s", (int)req->entity.len,
             req->entity.base ? req->entity.base : "");
    snprintf(last_peer, sizeof(last_peer), "%s", cn ? cn : "");
    pthread_mutex_unlock(&mu);
}

/* ES12: the eventId decides the answer. */
static int on_es12(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    record(req);
    const char *ok = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}}}";
    const char *fmt = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\",\"statusCodeData\":"
                      "{\"subjectCode\":\"%s\",\"reasonCode\":\"%s\"}}}}";
    char body[256];
    const char *b = ok;
    pthread_mutex_lock(&mu);
    if (strstr(last_body, "\"eventId\":\"DUP\""))
        b = (snprintf(body, sizeof(body), fmt, "8.9.5", "3.3"), body);
    else if (strstr(last_body, "\"eventId\":\"GONE\""))
        b = (snprintf(body, sizeof(body), fmt, "8.9.5", "3.9"), body);
    else if (strstr(last_body, "\"eventId\":\"BUSY\""))
        b = (snprintf(body, sizeof(body), fmt, "8.9", "5.1"), body);
    else if (strstr(last_body, "\"eventId\":\"BAD\""))
        b = (snprintf(body, sizeof(body), fmt, "1.1", "1.2"), body);
    else if (strstr(last_body, "\"eventId\":\"JUNK\""))
        b = "not json";
    pthread_mutex_unlock(&mu);
    rsp_http_send_json(req, 200, b, strlen(b), RSP_HTTP_ES);
    return 0;
}

static int on_progress(h2o_req_t *req, void *ctx)
{
    record(req);
    rsp_http_send_empty(req, ctx ? 503 : 204, RSP_HTTP_ES);
    return 0;
}

static int endpoint(void *ctx, const char *id, char url[SMDP_URL_MAX], char ca[SMDP_URL_MAX])
{
    (void)ctx;
    if (!strcmp(id, "none"))
        return -1;
    snprintf(url, SMDP_URL_MAX, "https://localhost:%u/%s", port, id);
    snprintf(ca, SMDP_URL_MAX, "%s", path_ci);
    return 0;
}

static int setup(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/notify.XXXXXX", tmp && strlen(tmp) < 200 ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    pki_cred ci = {0}, dstls = {0}, dptls = {0};
    pki_opts o;
    pki_opts_init(&o, PKI_CI);
    int rc = pki_mint(&o, NULL, &ci);
    pki_opts_init(&o, PKI_DS_TLS);
    o.loopback = true;
    rc = rc || pki_mint(&o, &ci, &dstls);
    pki_opts_init(&o, PKI_DP_TLS);
    rc = rc || pki_mint(&o, &ci, &dptls);
    rc = rc || pki_write_cred(dir, "ci", &ci) || pki_write_cred(dir, "srv", &dstls) ||
         pki_write_cred(dir, "cli", &dptls);
    pki_cred_clear(&ci);
    pki_cred_clear(&dstls);
    pki_cred_clear(&dptls);
    if (rc)
        return -1;
    snprintf(path_ci, sizeof(path_ci), "%s/ci.pem", dir);
    snprintf(path_srv, sizeof(path_srv), "%s/srv.pem", dir);
    snprintf(path_srv_key, sizeof(path_srv_key), "%s/srv.key.pem", dir);
    snprintf(path_cli, sizeof(path_cli), "%s/cli.pem", dir);
    snprintf(path_cli_key, sizeof(path_cli_key), "%s/cli.key.pem", dir);
    rsp_http_server_config_t cfg = {.workers = 1};
    srv = rsp_http_server_new(&cfg);
    const char *cas[] = {path_ci};
    rsp_http_listener_config_t lc = {.name = "s2s",
                                     .cert_file = path_srv,
                                     .key_file = path_srv_key,
                                     .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
                                     .client_ca_files = cas,
                                     .n_client_ca_files = 1};
    char err[256];
    int l = srv ? rsp_http_listener_add(srv, &lc, err, sizeof(err)) : -1;
    static int busy = 1;
    if (l < 0 || rsp_http_route(srv, l, "POST", "/gsma/rsp2/es12/registerEvent", on_es12, NULL) ||
        rsp_http_route(srv, l, "POST", "/gsma/rsp2/es12/deleteEvent", on_es12, NULL) ||
        rsp_http_route(srv, l, "POST", "/op", on_progress, NULL) ||
        rsp_http_route(srv, l, "POST", "/busy", on_progress, &busy) ||
        rsp_http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "notify_test: %s\n", err);
        return -1;
    }
    port = rsp_http_listener_port(srv, l);
    return 0;
}

static smdp_notify *client(void)
{
    smdp_notify_config c = {.fqdn = "testsmdpplus1.example.com",
                            .cert = path_cli,
                            .key = path_cli_key,
                            .ca = path_ci,
                            .timeout_ms = 5000,
                            .operator_endpoint = endpoint};
    char err[128];
    smdp_notify *n = smdp_notify_new(&c, err, sizeof(err));
    UT_CHECK(n != NULL);
    return n;
}

static smdp_ob_item es12(smdp_ob_kind kind, const char *event, const char *target)
{
    smdp_ob_item it;
    memset(&it, 0, sizeof(it));
    it.seq = 42;
    it.kind = kind;
    snprintf(it.target, sizeof(it.target), "%s", target);
    snprintf(it.eid, sizeof(it.eid), "89049032123451234512345678901235");
    snprintf(it.event_id, sizeof(it.event_id), "%s", event);
    return it;
}

static void test_es12_outcomes(void)
{
    smdp_notify *n = client();
    char target[64], err[160];
    snprintf(target, sizeof(target), "localhost:%u", port);
    smdp_ob_item it = es12(SMDP_OB_REGISTER_EVENT, "EV-1", target);
    it.forward = true;
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_SENT);
    pthread_mutex_lock(&mu);
    /* our CERT.DP.TLS, the server-to-server header, the event */
    UT_CHECK(!strcmp(last_peer, "testsmdpplus1.example.com"));
    UT_CHECK(strstr(last_body, "\"functionRequesterIdentifier\":\"testsmdpplus1.example.com\"") &&
             strstr(last_body, "\"functionCallIdentifier\":\"testsmdpplus1.example.com/outbox/42\"") &&
             strstr(last_body, "\"rspServerAddress\":\"testsmdpplus1.example.com\"") &&
             strstr(last_body, "\"eventId\":\"EV-1\"") && strstr(last_body, "\"forwardingIndicator\":true"));
    pthread_mutex_unlock(&mu);
    it = es12(SMDP_OB_REGISTER_EVENT, "DUP", target);
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_SENT);
    it = es12(SMDP_OB_DELETE_EVENT, "GONE", target);
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_SENT);
    pthread_mutex_lock(&mu);
    UT_CHECK(!strstr(last_body, "rspServerAddress"));
    pthread_mutex_unlock(&mu);
    it = es12(SMDP_OB_REGISTER_EVENT, "GONE", target);
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_DROP);
    it = es12(SMDP_OB_REGISTER_EVENT, "BUSY", target);
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_RETRY);
    it = es12(SMDP_OB_REGISTER_EVENT, "BAD", target);
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_DROP);
    UT_CHECK(strstr(err, "1.1/1.2") != NULL);
    it = es12(SMDP_OB_REGISTER_EVENT, "JUNK", target);
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_RETRY);
    /* nobody listening; not a host name */
    it = es12(SMDP_OB_REGISTER_EVENT, "EV-1", "localhost:1");
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_RETRY);
    it = es12(SMDP_OB_REGISTER_EVENT, "EV-1", "user@host/x");
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_DROP);
    smdp_notify_free(n);
}

/* ConfirmOrder's attempt: its own functionCallIdentifier; transport failures that retrying will not cure
 * are DROP there (and RETRY in the outbox: es2p_test and es2_es12_test.sh try them end to end). */
static void test_es12_try(void)
{
    smdp_notify *n = client();
    char target[64], err[160];
    snprintf(target, sizeof(target), "localhost:%u", port);
    smdp_ob_item it = es12(SMDP_OB_REGISTER_EVENT, "EV-7", target);
    it.seq = 0;
    UT_EQ(smdp_notify_try(n, &it, 2000, err, sizeof(err)), SMDP_OB_SENT);
    pthread_mutex_lock(&mu);
    UT_CHECK(strstr(last_body, "\"functionCallIdentifier\":\"testsmdpplus1.example.com/confirm/EV-7\"") !=
             NULL);
    pthread_mutex_unlock(&mu);
    it = es12(SMDP_OB_REGISTER_EVENT, "BUSY", target);
    UT_EQ(smdp_notify_try(n, &it, 2000, err, sizeof(err)), SMDP_OB_RETRY);
    it = es12(SMDP_OB_REGISTER_EVENT, "BAD", target);
    UT_EQ(smdp_notify_try(n, &it, 2000, err, sizeof(err)), SMDP_OB_DROP);
    it = es12(SMDP_OB_REGISTER_EVENT, "EV-7", "localhost:1");
    UT_EQ(smdp_notify_try(n, &it, 2000, err, sizeof(err)), SMDP_OB_RETRY);
    smdp_notify_free(n);
    UT_EQ(smdp_notify_transport_outcome(CURLE_COULDNT_RESOLVE_HOST), SMDP_OB_DROP);
    UT_EQ(smdp_notify_transport_outcome(CURLE_SSL_CONNECT_ERROR), SMDP_OB_DROP);
    UT_EQ(smdp_notify_transport_outcome(CURLE_PEER_FAILED_VERIFICATION), SMDP_OB_DROP);
    UT_EQ(smdp_notify_transport_outcome(CURLE_COULDNT_CONNECT), SMDP_OB_RETRY);
    UT_EQ(smdp_notify_transport_outcome(CURLE_OPERATION_TIMEDOUT), SMDP_OB_RETRY);
    UT_EQ(smdp_notify_transport_outcome(CURLE_RECV_ERROR), SMDP_OB_RETRY);
}

static void test_progress_outcomes(void)
{
    smdp_notify *n = client();
    char err[160];
    smdp_ob_item it;
    memset(&it, 0, sizeof(it));
    it.seq = 7;
    it.kind = SMDP_OB_PROGRESS;
    snprintf(it.target, sizeof(it.target), "op");
    snprintf(it.iccid, sizeof(it.iccid), "8900000000000000001");
    snprintf(it.profile_type, sizeof(it.profile_type), "T1");
    it.np_id = 3;
    it.success = true;
    it.timestamp = 0;
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_SENT);
    pthread_mutex_lock(&mu);
    UT_CHECK(strstr(last_body, "\"timestamp\":\"1970-01-01T00:00:00Z\"") && !strstr(last_body, "\"eid\"") &&
             strstr(last_body, "\"notificationPointStatus\":{\"status\":\"Executed-Success\"}"));
    pthread_mutex_unlock(&mu);
    snprintf(it.target, sizeof(it.target), "busy");
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_RETRY);
    snprintf(it.target, sizeof(it.target), "missing");
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_DROP); /* 404 */
    snprintf(it.target, sizeof(it.target), "none");
    UT_EQ(smdp_notify_send(n, &it, err, sizeof(err)), SMDP_OB_DROP);
    smdp_notify_free(n);
    char ts[21];
    smdp_w3c_time(1700000000, ts);
    UT_CHECK(!strcmp(ts, "2023-11-14T22:13:20Z"));
}

int main(void)
{
    if (setup() != 0)
        return 1;
    UT_RUN(test_es12_outcomes);
    UT_RUN(test_es12_try);
    UT_RUN(test_progress_outcomes);
    rsp_http_server_stop(srv);
    rsp_http_server_wait(srv);
    rsp_http_server_free(srv);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return ut_finish();
}
