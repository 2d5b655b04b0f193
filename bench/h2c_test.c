#include "bench/h2c.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/http.h"
#include "tests/unit/ut.h"
#include "tools/pki/pki.h"

/* ---- a mutual-TLS HTTP/2 server (rsp/http) with minted certificates ---- */

static char ca_pem[600], srv_pem[600], srv_key[600], cli_pem[600], cli_key[600], rogue_ca[600];

static void path(char *out, const char *name)
{
    const char *t = getenv("TEST_TMPDIR");
    snprintf(out, 600, "%s/%s", t ? t : "/tmp", name);
}

static void mint(void)
{
    pki_opts o;
    pki_cred ci = {0}, srv = {0}, cli = {0}, rogue = {0};
    pki_opts_init(&o, PKI_CI);
    UT_EQ(pki_mint(&o, NULL, &ci), 0);
    UT_EQ(pki_mint(&o, NULL, &rogue), 0);
    pki_opts_init(&o, PKI_DS_TLS);
    o.loopback = true;
    UT_EQ(pki_mint(&o, &ci, &srv), 0);
    pki_opts_init(&o, PKI_DP_TLS);
    UT_EQ(pki_mint(&o, &ci, &cli), 0);
    path(ca_pem, "ci.pem");
    path(rogue_ca, "rogue.pem");
    path(srv_pem, "srv.pem");
    path(srv_key, "srv.key.pem");
    path(cli_pem, "cli.pem");
    path(cli_key, "cli.key.pem");
    UT_EQ(pki_write_cert_pem(ca_pem, ci.cert), 0);
    UT_EQ(pki_write_cert_pem(rogue_ca, rogue.cert), 0);
    UT_EQ(pki_write_cert_pem(srv_pem, srv.cert), 0);
    UT_EQ(pki_write_key_pem(srv_key, srv.key), 0);
    UT_EQ(pki_write_cert_pem(cli_pem, cli.cert), 0);
    UT_EQ(pki_write_key_pem(cli_key, cli.key), 0);
    pki_cred_clear(&ci);
    pki_cred_clear(&rogue);
    pki_cred_clear(&srv);
    pki_cred_clear(&cli);
}

static int h_echo(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_send(req, 200, "text/plain", req->entity.base, req->entity.len, 0);
    return 0;
}

static rsp_http_server_t *start(uint16_t *port)
{
    char err[256];
    rsp_http_server_config_t cfg = {.workers = 1};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    const char *cas[] = {ca_pem};
    rsp_http_listener_config_t lc = {.name = "s2s",
                                     .cert_file = srv_pem,
                                     .key_file = srv_key,
                                     .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
                                     .client_ca_files = cas,
                                     .n_client_ca_files = 1};
    int l = rsp_http_listener_add(srv, &lc, err, sizeof(err));
    UT_EQ(l, 0);
    UT_EQ(rsp_http_route(srv, l, "POST", "/echo", h_echo, NULL), 0);
    if (rsp_http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "start: %s\n", err);
        UT_CHECK(0);
    }
    *port = rsp_http_listener_port(srv, l);
    return srv;
}

/* ---- requests ---- */

typedef struct req {
    h2c *c;
    char body[64];
    int status;
    bool done, echoed;
    const char *err;
    int *left; /* requests still to post */
    int *completed;
} req;

static void post(req *q);

static void on_done(void *arg, int status, const char *body, size_t len, const char *err)
{
    req *q = arg;
    q->status = status;
    q->err = err;
    q->done = true;
    q->echoed = len == strlen(q->body) && memcmp(body, q->body, len) == 0;
    if (q->echoed)
        (*q->completed)++;
    if (!err && *q->left > 0)
        post(q); /* posting from a done function */
}

static void post(req *q)
{
    static const char *const hdrs[] = {"content-type", "text/plain", NULL};
    snprintf(q->body, sizeof(q->body), "request %d", (*q->left)--);
    q->done = false;
    UT_EQ(h2c_post(q->c, "/echo", hdrs, q->body, strlen(q->body), on_done, q), 0);
}

static void test_many_streams(const char *base)
{
    char err[256] = "";
    h2c_cfg cfg = {.base = base, .cafile = ca_pem, .cert = cli_pem, .key = cli_key};
    h2c *c = h2c_connect(&cfg, err, sizeof(err));
    if (!c)
        fprintf(stderr, "connect: %s\n", err);
    UT_CHECK(c != NULL);
    if (!c)
        return;
    UT_CHECK(SSL_version(h2c_ssl(c)) >= TLS1_2_VERSION);
    UT_EQ(h2c_error(c)[0], 0);
    enum { STREAMS = 32, TOTAL = 500 };
    req q[STREAMS];
    int left = TOTAL, completed = 0;
    for (int i = 0; i < STREAMS; i++) {
        q[i] = (req){.c = c, .left = &left, .completed = &completed};
        post(&q[i]);
    }
    UT_EQ((int)h2c_in_flight(c), STREAMS);
    for (int i = 0; i < 2000 && h2c_in_flight(c) > 0; i++)
        UT_EQ(h2c_run(c, 100), 0);
    UT_EQ((int)h2c_in_flight(c), 0);
    UT_EQ(completed, TOTAL);
    for (int i = 0; i < STREAMS; i++) {
        UT_EQ(q[i].status, 200);
        UT_CHECK(q[i].err == NULL);
    }

    /* An unknown path: the status comes through. */
    int none = 0, count = 0;
    req nf = {.c = c, .left = &none, .completed = &count};
    snprintf(nf.body, sizeof(nf.body), "x");
    UT_EQ(h2c_post(c, "/missing", NULL, nf.body, 1, on_done, &nf), 0);
    for (int i = 0; i < 100 && !nf.done; i++)
        UT_EQ(h2c_run(c, 100), 0);
    UT_CHECK(nf.done);
    UT_EQ(nf.status, 404);
    h2c_close(c);
}

/* The server stops: requests in flight complete with an error, later posts fail. */
static void test_server_gone(rsp_http_server_t *srv, const char *base)
{
    char err[256];
    h2c_cfg cfg = {.base = base, .cafile = ca_pem, .cert = cli_pem, .key = cli_key};
    h2c *c = h2c_connect(&cfg, err, sizeof(err));
    UT_CHECK(c != NULL);
    if (!c)
        return;
    rsp_http_server_stop(srv);
    rsp_http_server_wait(srv);
    int none = 0, count = 0;
    req q = {.c = c, .left = &none, .completed = &count};
    snprintf(q.body, sizeof(q.body), "late");
    if (h2c_post(c, "/echo", NULL, q.body, 4, on_done, &q) == 0) {
        int rc = 0;
        for (int i = 0; i < 100 && !q.done && rc == 0; i++)
            rc = h2c_run(c, 100);
        UT_CHECK(q.done);
        UT_EQ(q.status, 0);
        UT_CHECK(q.err != NULL);
        UT_EQ(rc, -1);
        UT_CHECK(h2c_error(c)[0] != 0);
    }
    UT_EQ(h2c_post(c, "/echo", NULL, q.body, 4, on_done, &q), -1);
    h2c_close(c);
}

static void test_refusals(const char *base)
{
    char err[256] = "";
    /* A server the CA file does not vouch for. */
    h2c_cfg wrong_ca = {.base = base, .cafile = rogue_ca, .cert = cli_pem, .key = cli_key};
    UT_CHECK(h2c_connect(&wrong_ca, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "TLS handshake") != NULL);
    /* Not a URL this client speaks. */
    h2c_cfg bad = {.base = "ftp://127.0.0.1:1", .cafile = ca_pem};
    UT_CHECK(h2c_connect(&bad, err, sizeof(err)) == NULL);
    UT_CHECK(strstr(err, "https://") != NULL);
    /* Plain HTTP/2 to a TLS listener: the server sees no TLS ClientHello and closes. */
    char plain[300];
    snprintf(plain, sizeof(plain), "http://%s", base + strlen("https://"));
    h2c_cfg cleartext = {.base = plain};
    h2c *pc = h2c_connect(&cleartext, err, sizeof(err));
    UT_CHECK(pc != NULL);
    if (pc) {
        UT_CHECK(h2c_ssl(pc) == NULL);
        int left = 0, completed = 0;
        req q = {.c = pc, .body = "{}", .left = &left, .completed = &completed};
        UT_EQ(h2c_post(pc, "/x", NULL, "{}", 2, on_done, &q), 0);
        int rc = 0;
        for (int i = 0; i < 500 && rc == 0; i++)
            rc = h2c_run(pc, 10);
        UT_EQ(rc, -1);
        UT_CHECK(q.done && q.status == 0 && q.err != NULL);
        UT_CHECK(h2c_error(pc)[0] != '\0');
        h2c_close(pc);
    }
    /* No client certificate: the mutual-TLS server refuses, whether at the
     * handshake or on the first read (TLS 1.3 reports it after). */
    h2c_cfg anon = {.base = base, .cafile = ca_pem};
    h2c *c = h2c_connect(&anon, err, sizeof(err));
    if (c) {
        int none = 0, count = 0;
        req q = {.c = c, .left = &none, .completed = &count};
        snprintf(q.body, sizeof(q.body), "anon");
        if (h2c_post(c, "/echo", NULL, q.body, 4, on_done, &q) == 0)
            for (int i = 0; i < 100 && !q.done; i++)
                if (h2c_run(c, 100) != 0)
                    break;
        UT_CHECK(q.done);
        UT_CHECK(q.status != 200);
        h2c_close(c);
    }
    h2c_close(NULL);
}

static rsp_http_server_t *g_srv;
static char g_base[64];

static void test_many(void)
{
    test_many_streams(g_base);
}

static void test_refused(void)
{
    test_refusals(g_base);
}

static void test_gone(void)
{
    test_server_gone(g_srv, g_base);
}

int main(void)
{
    mint();
    uint16_t port = 0;
    g_srv = start(&port);
    snprintf(g_base, sizeof(g_base), "https://127.0.0.1:%u", port);
    UT_RUN(test_many);
    UT_RUN(test_refused);
    UT_RUN(test_gone);
    rsp_http_server_free(g_srv);
    return ut_finish();
}
