/* rsp/client against an in-process rsp/http TLS server with a self-signed certificate made here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "rsp/client.h"
#include "rsp/http.h"
#include "tests/unit/ut.h"

static char dir[] = "/tmp/rsp_client_test.XXXXXX";
static char cert_path[600], key_path[600];
static uint16_t port;

static const char ok_body[] = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}}}";
static const char failed_body[] =
    "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\",\"statusCodeData\":{\"subjectCode\":"
    "\"8.9.5\",\"reasonCode\":\"3.3\",\"message\":\"x\"}}}}";

static int header_is(h2o_req_t *req, const char *name, const char *want)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    return v.len == strlen(want) && memcmp(v.base, want, v.len) == 0;
}

/* Answers ok only when the request carries the GSMA headers and the body sent. */
static int h_ok(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    if (!header_is(req, "content-type", "application/json") ||
        !header_is(req, "x-admin-protocol", "gsma/rsp/v2.2.2") || req->entity.len != 2 ||
        memcmp(req->entity.base, "{}", 2) != 0) {
        rsp_http_send_error(req, 400);
        return 0;
    }
    rsp_http_send_json(req, 200, ok_body, sizeof(ok_body) - 1, 0);
    return 0;
}

static int h_body(h2o_req_t *req, void *ctx)
{
    rsp_http_send_json(req, 200, ctx, strlen(ctx), 0);
    return 0;
}

static int h_busy(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_send_error(req, 503);
    return 0;
}

static int make_cert(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int ok = key && x;
    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
        X509_set_issuer_name(x, n);
        X509_set_pubkey(x, key);
        X509V3_CTX v3;
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
        ok = e && X509_add_ext(x, e, -1) && X509_sign(x, key, EVP_sha256()) > 0;
        X509_EXTENSION_free(e);
    }
    FILE *f = ok ? fopen(cert_path, "w") : NULL, *g = ok ? fopen(key_path, "w") : NULL;
    ok = f && g && PEM_write_X509(f, x) && PEM_write_PrivateKey(g, key, NULL, NULL, 0, NULL, NULL);
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static rsp_http_server_t *start(char *big)
{
    char err[256];
    rsp_http_server_config_t cfg = {.workers = 1};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    rsp_http_listener_config_t lc = {.name = "s2s", .cert_file = cert_path, .key_file = key_path};
    int l = srv ? rsp_http_listener_add(srv, &lc, err, sizeof(err)) : -1;
    UT_CHECK(l >= 0);
    if (l < 0)
        return srv;
    rsp_http_route(srv, l, "POST", "/ok", h_ok, NULL);
    rsp_http_route(srv, l, "POST", "/failed", h_body, (void *)failed_body);
    rsp_http_route(srv, l, "POST", "/garbage", h_body, "not json");
    rsp_http_route(srv, l, "POST", "/big", h_body, big);
    rsp_http_route(srv, l, "POST", "/busy", h_busy, NULL);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    port = rsp_http_listener_port(srv, l);
    return srv;
}

static int post(CURL *h, const char *path, rsp_client_result *r)
{
    char url[128];
    snprintf(url, sizeof(url), "https://localhost:%u%s", port, path);
    return rsp_client_post_json(h, url, "{}", 2, r);
}

static void test_calls(void)
{
    size_t big_len = RSP_CLIENT_MAX_BODY + 100;
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    memcpy(big, ok_body, sizeof(ok_body) - 1);
    big[big_len] = 0;
    rsp_http_server_t *srv = start(big);

    rsp_client_init();
    CURL *h = curl_easy_init();
    rsp_client_tls tls = {.ca = cert_path, .timeout_ms = 5000, .user_agent = "client-test"};
    rsp_client_setup(h, &tls);
    rsp_client_result r;
    char text[160];

    UT_EQ(post(h, "/ok", &r), 0);
    UT_EQ(r.curl, CURLE_OK);
    UT_EQ(r.http, 200);
    UT_CHECK(r.has_header && r.ok && !strcmp(r.status, "Executed-Success") && r.subject[0] == 0);

    UT_EQ(post(h, "/failed", &r), 0);
    UT_CHECK(r.has_header && !r.ok);
    UT_CHECK(!strcmp(r.status, "Failed") && !strcmp(r.subject, "8.9.5") && !strcmp(r.reason, "3.3"));
    rsp_client_describe(&r, "SM-DS", text, sizeof(text));
    UT_CHECK(!strcmp(text, "SM-DS answered Failed 8.9.5/3.3"));

    UT_EQ(post(h, "/garbage", &r), 0);
    UT_CHECK(r.curl == CURLE_OK && r.http == 200 && !r.has_header && !r.ok);
    rsp_client_describe(&r, "SM-DS", text, sizeof(text));
    UT_CHECK(!strcmp(text, "SM-DS response unreadable"));

    UT_EQ(post(h, "/busy", &r), 0);
    UT_CHECK(r.curl == CURLE_OK && r.http == 503 && !r.has_header);
    rsp_client_describe(&r, "SM-DS", text, sizeof(text));
    UT_CHECK(!strcmp(text, "HTTP 503"));

    UT_EQ(post(h, "/big", &r), 0);
    UT_CHECK(r.curl == CURLE_OK && r.overflow && !r.has_header && !r.ok);

    /* a server certificate the trust anchors do not cover */
    rsp_client_tls other = {.ca = "/dev/null", .timeout_ms = 5000};
    rsp_client_setup(h, &other);
    UT_EQ(post(h, "/ok", &r), 0);
    UT_CHECK(r.curl != CURLE_OK && !r.ok);

    /* the handle is reset by each setup: back to the right anchors */
    rsp_client_setup(h, &tls);
    UT_EQ(post(h, "/ok", &r), 0);
    UT_CHECK(r.ok);

    /* nobody listening, and plain HTTP refused by the client */
    rsp_http_server_stop(srv);
    rsp_http_server_wait(srv);
    rsp_http_server_free(srv);
    UT_EQ(post(h, "/ok", &r), 0);
    UT_CHECK(r.curl != CURLE_OK && r.http == 0 && !r.ok);
    rsp_client_describe(&r, "SM-DS", text, sizeof(text));
    UT_CHECK(text[0] != 0);
    UT_EQ(rsp_client_post_json(h, "http://localhost:1/ok", "{}", 2, &r), 0);
    UT_CHECK(r.curl == CURLE_UNSUPPORTED_PROTOCOL);

    curl_easy_cleanup(h);
    free(big);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
    UT_EQ(make_cert(), 0);
    UT_RUN(test_calls);
    unlink(cert_path);
    unlink(key_path);
    rmdir(dir);
    return ut_finish();
}
