/*
 * Unit tests of rsp/http: in-process servers on port 0, raw HTTP/1.1 and HTTP/2 frames over TCP, and an
 * OpenSSL client for TLS with certificates minted in memory.
 */
#include "rsp/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "rsp/log.h"
#include "rsp/metrics.h"
#include "rsp/proxy.h"
#include "rsp/proxy_testutil.h"
#include "tests/unit/ut.h"

/* ---------------------------------------------------------------- clients */

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

struct resp {
    int status;
    char headers[4096]; /* lower-cased header block */
    char body[8192];
    size_t body_len;
};

/* Parses a complete HTTP/1.1 response (the server closed after it). */
static int parse_resp(const char *buf, size_t n, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (n < 12 || end == NULL || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1)
        return -1;
    size_t hl = (size_t)(end - buf);
    if (hl >= sizeof(r->headers))
        hl = sizeof(r->headers) - 1;
    for (size_t i = 0; i < hl; i++)
        r->headers[i] = (char)((buf[i] >= 'A' && buf[i] <= 'Z') ? buf[i] + 32 : buf[i]);
    r->body_len = n - (size_t)(end + 4 - buf);
    if (r->body_len >= sizeof(r->body))
        r->body_len = sizeof(r->body) - 1;
    memcpy(r->body, end + 4, r->body_len);
    return 0;
}

/* Sends a raw request on a new connection and reads until the server closes. */
static int http_raw(uint16_t port, const char *req, size_t len, struct resp *r)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    write_all(fd, req, len);
    static char buf[65536];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - n)) > 0)
        n += (size_t)got;
    close(fd);
    return parse_resp(buf, n, r);
}

static int http(uint16_t port, const char *method, const char *path, const char *body, struct resp *r)
{
    char req[16384];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, bl, body ? body : "");
    return http_raw(port, req, (size_t)n, r);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---------------------------------------------------------------- handlers */

static atomic_int resume_null_calls;
static atomic_int resume_calls;
static atomic_int deferrals;    /* h_defer calls */
static atomic_int resumes_sent; /* rsp_http_resume calls by delay threads */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until *v reaches want (at most 10 s); returns the last value. */
static int wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 1000 && atomic_load(v) < want; i++)
        sleep_ms(10);
    return atomic_load(v);
}

static int h_echo(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_send(req, 200, "text/plain", req->entity.base, req->entity.len, 0);
    return 0;
}

static int h_fail(h2o_req_t *req, void *ctx)
{
    (void)req, (void)ctx;
    return -1;
}

static int h_json(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_add_header(req, "X-Extra", "yes");
    rsp_http_send_json(req, 200, "{\"a\":1}", 7, RSP_HTTP_ES);
    return 0;
}

static int h_empty(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_send_empty(req, 204, RSP_HTTP_ES);
    return 0;
}

static int h_which(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    char b[32];
    int n = snprintf(b, sizeof(b), "listener %d", rsp_http_req_listener(req));
    rsp_http_send(req, 200, "text/plain", b, (size_t)n, 0);
    return 0;
}

struct delayed {
    rsp_http_deferred_t *d;
    unsigned ms;
    rsp_http_handler_fn fn;
    void *arg;
};

static void *delay_thread(void *p)
{
    struct delayed *x = p;
    struct timespec ts = {x->ms / 1000, (long)(x->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    rsp_http_resume(x->d, x->fn, x->arg);
    atomic_fetch_add(&resumes_sent, 1);
    free(x);
    return NULL;
}

static void resume_later(rsp_http_deferred_t *d, unsigned ms, rsp_http_handler_fn fn, void *arg)
{
    struct delayed *x = malloc(sizeof(*x));
    *x = (struct delayed){d, ms, fn, arg};
    pthread_t t;
    pthread_create(&t, NULL, delay_thread, x);
    pthread_detach(t);
}

static int r_done(h2o_req_t *req, void *arg)
{
    atomic_fetch_add(&resume_calls, 1);
    if (req == NULL) {
        atomic_fetch_add(&resume_null_calls, 1);
        return 0;
    }
    rsp_http_send(req, 200, "text/plain", arg, strlen(arg), 0);
    return 0;
}

static int r_fail(h2o_req_t *req, void *arg)
{
    (void)arg;
    return req == NULL ? 0 : -1;
}

static int r_again(h2o_req_t *req, void *arg)
{
    (void)arg;
    if (req == NULL)
        return 0;
    rsp_http_deferred_t *d = rsp_http_defer(req);
    resume_later(d, 20, r_done, "twice");
    return 0;
}

static unsigned defer_ms = 50;

static int h_defer(h2o_req_t *req, void *ctx)
{
    rsp_http_deferred_t *d = rsp_http_defer(req);
    if (d == NULL)
        return -1;
    atomic_fetch_add(&deferrals, 1);
    if (strcmp(ctx, "fail") == 0)
        resume_later(d, defer_ms, r_fail, NULL);
    else if (strcmp(ctx, "again") == 0)
        resume_later(d, defer_ms, r_again, NULL);
    else
        resume_later(d, defer_ms, r_done, ctx);
    return 0;
}

/* The extra readiness condition of the plain servers (rsp_http_server_set_ready_check). */
static atomic_int dependency_up = 1;

static int dependency_ready(void *ctx)
{
    (void)ctx;
    return atomic_load(&dependency_up);
}

static rsp_http_server_t *plain_server(unsigned workers, size_t limit, unsigned drain_ms, uint16_t *port,
                                       uint16_t *port2)
{
    char err[256];
    rsp_http_server_config_t cfg = {.workers = workers, .body_limit = limit, .drain_timeout_ms = drain_ms};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    rsp_http_listener_config_t lc = {.name = "plain", .plain = 1};
    int l = rsp_http_listener_add(srv, &lc, err, sizeof(err));
    UT_EQ(l, 0);
    rsp_http_listener_config_t lc2 = {
        .name = "locked", .plain = 1, .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED};
    int l2 = rsp_http_listener_add(srv, &lc2, err, sizeof(err));
    UT_EQ(l2, 1);
    UT_EQ(rsp_http_route(srv, l, "POST", "/echo", h_echo, NULL), 0);
    UT_EQ(rsp_http_route(srv, l, "PUT", "/echo", h_echo, NULL), 0);
    UT_EQ(rsp_http_route(srv, l, "POST", "/fail", h_fail, NULL), 0);
    UT_EQ(rsp_http_route(srv, l, "POST", "/json", h_json, NULL), 0);
    UT_EQ(rsp_http_route(srv, l, "POST", "/empty", h_empty, NULL), 0);
    UT_EQ(rsp_http_route(srv, l, "GET", "/which", h_which, NULL), 0);
    UT_EQ(rsp_http_route(srv, l, "POST", "/defer", h_defer, "later"), 0);
    UT_EQ(rsp_http_route(srv, l, "GET", "/defer", h_defer, "later"), 0);
    UT_EQ(rsp_http_route(srv, l, "POST", "/defer-fail", h_defer, "fail"), 0);
    UT_EQ(rsp_http_route(srv, l, "POST", "/defer-again", h_defer, "again"), 0);
    UT_EQ(rsp_http_route(srv, l2, "GET", "/which", h_which, NULL), 0);
    rsp_http_server_set_ready_check(srv, dependency_ready, NULL);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    *port = rsp_http_listener_port(srv, l);
    if (port2 != NULL)
        *port2 = rsp_http_listener_port(srv, l2);
    UT_CHECK(*port != 0);
    return srv;
}

/* ---------------------------------------------------------------- tests */

static void test_setup_errors(void)
{
    char err[256] = "";
    rsp_http_server_t *srv = rsp_http_server_new(NULL);
    UT_CHECK(srv != NULL);
    UT_CHECK(rsp_http_server_workers(srv) >= 1);
    rsp_http_listener_config_t noname = {.plain = 1};
    UT_EQ(rsp_http_listener_add(srv, &noname, err, sizeof(err)), -1);
    rsp_http_listener_config_t nocert = {.name = "x"};
    UT_EQ(rsp_http_listener_add(srv, &nocert, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "cert_file") != NULL);
    rsp_http_listener_config_t noca = {
        .name = "x", .cert_file = "a", .key_file = "b", .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED};
    UT_EQ(rsp_http_listener_add(srv, &noca, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "CA") != NULL);
    rsp_http_listener_config_t missing = {.name = "x", .cert_file = "/nonexistent/cert.pem", .key_file = "k"};
    UT_EQ(rsp_http_listener_add(srv, &missing, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "/nonexistent/cert.pem") != NULL);
    rsp_http_listener_config_t ok = {.name = "p", .plain = 1};
    UT_EQ(rsp_http_listener_add(srv, &ok, err, sizeof(err)), 0);
    UT_EQ(rsp_http_listener_add(srv, &ok, err, sizeof(err)), -1); /* duplicate name */
    UT_EQ(rsp_http_listener_find(srv, "p"), 0);
    UT_EQ(rsp_http_listener_find(srv, "q"), -1);
    UT_EQ(rsp_http_route(srv, 0, "GET", "/healthz", h_echo, NULL), -1);
    UT_EQ(rsp_http_route(srv, 0, "GET", "/readyz", h_echo, NULL), -1);
    UT_EQ(rsp_http_route(srv, 0, "GET", "relative", h_echo, NULL), -1);
    UT_EQ(rsp_http_route(srv, 1, "GET", "/x", h_echo, NULL), -1);
    UT_EQ(rsp_http_route(srv, 0, "GET", "/x", NULL, NULL), -1);
    UT_EQ(rsp_http_route(srv, 0, "GET", "/x", h_echo, NULL), 0);
    UT_EQ(rsp_http_route(srv, 0, "GET", "/x", h_echo, NULL), -1);
    UT_EQ(rsp_http_route(srv, 0, "POST", "/x", h_echo, NULL), 0);
    UT_EQ(rsp_http_server_wait(srv), -1); /* not started */
    rsp_http_server_free(srv);

    srv = rsp_http_server_new(NULL);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), -1); /* no listeners */
    rsp_http_listener_config_t bad = {.name = "b", .plain = 1, .address = "256.1.1.1"};
    UT_EQ(rsp_http_listener_add(srv, &bad, err, sizeof(err)), 0);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "256.1.1.1") != NULL);
    rsp_http_server_free(srv);

    /* A second server on a port in use fails instead of sharing it through SO_REUSEPORT. */
    uint16_t port;
    rsp_http_server_t *first = plain_server(2, 100, 1000, &port, NULL);
    srv = rsp_http_server_new(NULL);
    rsp_http_listener_config_t same = {.name = "same", .plain = 1, .port = port};
    UT_EQ(rsp_http_listener_add(srv, &same, err, sizeof(err)), 0);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "in use") != NULL);
    rsp_http_server_free(srv);
    rsp_http_server_free(first);
}

static void test_routing(void)
{
    uint16_t port, locked;
    rsp_http_server_t *srv = plain_server(2, 100, 2000, &port, &locked);
    struct resp r;
    char err[64];
    UT_EQ(rsp_http_route(srv, 0, "GET", "/late", h_echo, NULL), -1); /* after start */
    rsp_http_listener_config_t late = {.name = "late", .plain = 1};
    UT_EQ(rsp_http_listener_add(srv, &late, err, sizeof(err)), -1);

    UT_EQ(http(port, "GET", "/healthz", NULL, &r), 0);
    UT_EQ(r.status, 200);
    UT_CHECK(r.body_len == 2 && memcmp(r.body, "ok", 2) == 0);
    UT_CHECK(strstr(r.headers, "\r\nserver:") == NULL);
    UT_EQ(http(port, "GET", "/healthz?probe=1", NULL, &r), 0);
    UT_EQ(r.status, 200);
    UT_EQ(http(port, "HEAD", "/healthz", NULL, &r), 0);
    UT_EQ(r.status, 200);
    UT_EQ(r.body_len, 0);
    UT_EQ(http(port, "POST", "/healthz", "x", &r), 0);
    UT_EQ(r.status, 405);
    UT_CHECK(strstr(r.headers, "allow: get, head") != NULL);
    UT_EQ(http(port, "GET", "/readyz", NULL, &r), 0);
    UT_EQ(r.status, 503);
    rsp_http_server_set_ready(srv, 1);
    UT_EQ(http(port, "GET", "/readyz", NULL, &r), 0);
    UT_EQ(r.status, 200);
    atomic_store(&dependency_up, 0); /* e.g. the database went away */
    UT_EQ(http(port, "GET", "/readyz", NULL, &r), 0);
    UT_EQ(r.status, 503);
    atomic_store(&dependency_up, 1);
    UT_EQ(http(port, "GET", "/readyz", NULL, &r), 0);
    UT_EQ(r.status, 200);
    UT_EQ(http(locked, "GET", "/healthz", NULL, &r), 0); /* health needs no identity */
    UT_EQ(r.status, 200);

    UT_EQ(http(port, "GET", "/nope", NULL, &r), 0);
    UT_EQ(r.status, 404);
    UT_EQ(http(port, "POST", "/echo/more", "x", &r), 0);
    UT_EQ(r.status, 404);
    UT_EQ(http(port, "GET", "/echo", NULL, &r), 0);
    UT_EQ(r.status, 405);
    UT_CHECK(strstr(r.headers, "allow: post, put") != NULL);
    UT_EQ(http(port, "POST", "/echo", "hello", &r), 0);
    UT_EQ(r.status, 200);
    UT_CHECK(r.body_len == 5 && memcmp(r.body, "hello", 5) == 0);
    UT_EQ(http(port, "PUT", "/echo", "put", &r), 0);
    UT_EQ(r.status, 200);
    UT_EQ(http(port, "GET", "/which", NULL, &r), 0);
    UT_CHECK(r.body_len == 10 && memcmp(r.body, "listener 0", 10) == 0);
    UT_EQ(http(locked, "GET", "/which", NULL, &r), 0); /* REQUIRED without TLS: never an identity */
    UT_EQ(r.status, 403);

    char *at = repeat('a', 100), *over = repeat('a', 101), *far = repeat('a', 4000);
    UT_EQ(http(port, "POST", "/echo", at, &r), 0);
    UT_EQ(r.status, 200);
    UT_EQ(r.body_len, 100);
    UT_EQ(http(port, "POST", "/echo", over, &r), 0);
    UT_EQ(r.status, 413);
    UT_EQ(http(port, "POST", "/echo", far, &r), 0);
    UT_EQ(r.status, 413);
    free(at);
    free(over);
    free(far);
    /* A declared length far over the cap is refused before the body arrives. */
    static const char big[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n";
    UT_EQ(http_raw(port, big, sizeof(big) - 1, &r), 0);
    UT_EQ(r.status, 413);
    /* Chunked: counted as it streams. */
    char chunked[2048];
    char *c64 = repeat('c', 64);
    int n =
        snprintf(chunked, sizeof(chunked),
                 "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "40\r\n%s\r\n40\r\n%s\r\n0\r\n\r\n",
                 c64, c64);
    free(c64);
    UT_EQ(http_raw(port, chunked, (size_t)n, &r), 0);
    UT_EQ(r.status, 413);
    n = snprintf(chunked, sizeof(chunked),
                 "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n0\r\n\r\n");
    UT_EQ(http_raw(port, chunked, (size_t)n, &r), 0);
    UT_EQ(r.status, 200);
    UT_CHECK(r.body_len == 5 && memcmp(r.body, "hello", 5) == 0);

    UT_EQ(http(port, "POST", "/fail", "{}", &r), 0);
    UT_EQ(r.status, 500);
    UT_EQ(http(port, "POST", "/json", "{}", &r), 0);
    UT_EQ(r.status, 200);
    UT_CHECK(strstr(r.headers, "content-type: application/json;charset=utf-8") != NULL);
    UT_CHECK(strstr(r.headers, "x-admin-protocol: gsma/rsp/v2.2.2") != NULL);
    UT_CHECK(strstr(r.headers, "x-extra: yes") != NULL);
    UT_CHECK(strstr(r.headers, "content-length: 7") != NULL);
    UT_CHECK(r.body_len == 7 && memcmp(r.body, "{\"a\":1}", 7) == 0);
    UT_EQ(http(port, "POST", "/empty", "{}", &r), 0);
    UT_EQ(r.status, 204);
    UT_CHECK(strstr(r.headers, "x-admin-protocol: gsma/rsp/v2.2.2") != NULL);
    UT_CHECK(strstr(r.headers, "content-length") == NULL);
    UT_EQ(r.body_len, 0);

    /* Garbage must not hurt the server. */
    static const char junk[] = "\x16\x03\x01\x00\xff garbage \r\n\r\n";
    http_raw(port, junk, sizeof(junk) - 1, &r);
    UT_EQ(http(port, "GET", "/healthz", NULL, &r), 0);
    UT_EQ(r.status, 200);

    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    UT_EQ(rsp_http_server_wait(srv), 0); /* idempotent */
    rsp_http_server_free(srv);
}

static void test_defer(void)
{
    uint16_t port;
    rsp_http_server_t *srv = plain_server(2, 1000, 2000, &port, NULL);
    struct resp r;
    atomic_store(&resume_calls, 0);
    UT_EQ(http(port, "POST", "/defer", "{}", &r), 0);
    UT_EQ(r.status, 200);
    UT_CHECK(r.body_len == 5 && memcmp(r.body, "later", 5) == 0);
    UT_EQ(http(port, "POST", "/defer-again", "{}", &r), 0);
    UT_EQ(r.status, 200);
    UT_CHECK(r.body_len == 5 && memcmp(r.body, "twice", 5) == 0);
    UT_EQ(http(port, "POST", "/defer-fail", "{}", &r), 0);
    UT_EQ(r.status, 500);
    UT_EQ(atomic_load(&resume_calls), 2);
    /* Many at once, spread over both workers. */
    enum { N = 16 };
    int fds[N];
    static const char req[] =
        "POST /defer HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
    for (int i = 0; i < N; i++) {
        fds[i] = tcp_connect(port);
        write_all(fds[i], req, sizeof(req) - 1);
    }
    int good = 0;
    for (int i = 0; i < N; i++) {
        char buf[1024];
        size_t n = 0;
        ssize_t got;
        while (n < sizeof(buf) && (got = read(fds[i], buf + n, sizeof(buf) - n)) > 0)
            n += (size_t)got;
        close(fds[i]);
        good += parse_resp(buf, n, &r) == 0 && r.status == 200;
    }
    UT_EQ(good, N);
    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    rsp_http_server_free(srv);
}

/* HTTP/2 (h2c prior knowledge): a GET whose client vanishes while it is deferred. */
static void test_defer_client_gone(void)
{
    uint16_t port;
    defer_ms = 300;
    rsp_http_server_t *srv = plain_server(1, 1000, 3000, &port, NULL);
    atomic_store(&resume_null_calls, 0);
    atomic_store(&resume_calls, 0);
    int fd = tcp_connect(port);
    UT_CHECK(fd >= 0);
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    static const unsigned char settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    /* HPACK: :method GET, :scheme http, :path "/defer" (literal, indexed name 4), :authority "t". */
    static const unsigned char block[] = {0x82, 0x86, 0x04, 6, '/', 'd', 'e', 'f', 'e', 'r', 0x01, 1, 't'};
    unsigned char headers[9 + sizeof(block)] = {0, 0, sizeof(block), 1, 0x05, 0, 0, 0, 1};
    memcpy(headers + 9, block, sizeof(block));
    write_all(fd, preface, sizeof(preface) - 1);
    write_all(fd, settings, sizeof(settings));
    atomic_store(&deferrals, 0);
    write_all(fd, headers, sizeof(headers));
    UT_EQ(wait_for(&deferrals, 1), 1);
    close(fd); /* before the deferred response */
    UT_EQ(wait_for(&resume_calls, 1), 1);
    UT_EQ(atomic_load(&resume_null_calls), 1);
    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    rsp_http_server_free(srv);
    defer_ms = 50;
}

static void test_stop_drains(void)
{
    uint16_t port;
    defer_ms = 400;
    rsp_http_server_t *srv = plain_server(2, 1000, 5000, &port, NULL);
    static const char req[] = "POST /defer HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";
    atomic_store(&deferrals, 0);
    int fd = tcp_connect(port);
    write_all(fd, req, sizeof(req) - 1);
    int idle = tcp_connect(port); /* an idle keep-alive connection must not hold the stop up */
    UT_EQ(wait_for(&deferrals, 1), 1);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    rsp_http_server_stop(srv);
    int refused = 0;
    for (int i = 0; i < 100 && !refused; i++) {
        int c = tcp_connect(port);
        refused = c < 0;
        if (c >= 0)
            close(c);
        else
            break;
        sleep_ms(10);
    }
    UT_CHECK(refused); /* listeners closed */
    char buf[1024];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - n)) > 0)
        n += (size_t)got;
    struct resp r;
    UT_EQ(parse_resp(buf, n, &r), 0);
    UT_EQ(r.status, 200);
    UT_CHECK(strstr(r.headers, "connection: close") != NULL);
    UT_EQ(rsp_http_server_wait(srv), 0);
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    UT_CHECK(ms < 4000);
    close(fd);
    close(idle);
    rsp_http_server_free(srv);
    defer_ms = 50;
}

static void test_stop_bound(void)
{
    uint16_t port;
    defer_ms = 2500;
    rsp_http_server_t *srv = plain_server(1, 1000, 300, &port, NULL);
    static const char req[] = "POST /defer HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";
    atomic_store(&deferrals, 0);
    atomic_store(&resumes_sent, 0);
    int fd = tcp_connect(port);
    write_all(fd, req, sizeof(req) - 1);
    UT_EQ(wait_for(&deferrals, 1), 1);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    rsp_http_server_stop(srv);
    int cut = rsp_http_server_wait(srv);
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    UT_CHECK(cut >= 1);
    UT_CHECK(ms >= 250 && ms < 2200);
    close(fd);
    /* The abandoned worker stays allocated, so the late resume lands in a queue nobody reads. */
    rsp_http_server_free(srv);
    UT_EQ(wait_for(&resumes_sent, 1), 1);
    defer_ms = 50;
}

/* ---------------------------------------------------------------- TLS */

static char tmpdir[512];

static EVP_PKEY *gen_key(void)
{
    return EVP_EC_gen("P-256");
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int kind)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509 *iss = issuer ? issuer : x;
    if (kind == 0) {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else if (kind == 1) {
        add_ext(x, iss, NID_subject_alt_name, "IP:127.0.0.1");
        add_ext(x, iss, NID_ext_key_usage, "serverAuth");
    } else {
        add_ext(x, iss, NID_ext_key_usage, "clientAuth");
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

static void write_pem(const char *file, X509 *cert, EVP_PKEY *key)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
    FILE *f = fopen(path, "w");
    if (cert)
        PEM_write_X509(f, cert);
    if (key)
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

static const char *tpath(const char *file)
{
    static char paths[8][600];
    static int i;
    char *p = paths[i++ % 8];
    snprintf(p, 600, "%s/%s", tmpdir, file);
    return p;
}

struct pki {
    EVP_PKEY *ca_key, *srv_key, *a_key, *b_key, *rogue_key;
    X509 *ca, *srv, *a, *b, *rogue;
};

static void pki_make(struct pki *p)
{
    const char *base = getenv("TEST_TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/rsp_http_test_XXXXXX", base ? base : "/tmp");
    UT_CHECK(mkdtemp(tmpdir) != NULL);
    p->ca_key = gen_key();
    p->srv_key = gen_key();
    p->a_key = gen_key();
    p->b_key = gen_key();
    p->rogue_key = gen_key();
    p->ca = make_cert(p->ca_key, "Unit CA", NULL, NULL, 0);
    p->srv = make_cert(p->srv_key, "localhost", p->ca, p->ca_key, 1);
    p->a = make_cert(p->a_key, "alpha", p->ca, p->ca_key, 2);
    p->b = make_cert(p->b_key, "beta", p->ca, p->ca_key, 2);
    p->rogue = make_cert(p->rogue_key, "rogue", NULL, NULL, 2);
    write_pem("ca.pem", p->ca, NULL);
    write_pem("srv.pem", p->srv, NULL);
    write_pem("srv.key", NULL, p->srv_key);
}

static void pki_free(struct pki *p)
{
    X509 *c[] = {p->ca, p->srv, p->a, p->b, p->rogue};
    EVP_PKEY *k[] = {p->ca_key, p->srv_key, p->a_key, p->b_key, p->rogue_key};
    for (int i = 0; i < 5; i++) {
        X509_free(c[i]);
        EVP_PKEY_free(k[i]);
    }
    const char *files[] = {"ca.pem", "srv.pem", "srv.key"};
    for (int i = 0; i < 3; i++)
        unlink(tpath(files[i]));
    rmdir(tmpdir);
}

static atomic_int tickets_seen;  /* sessions (TLS 1.3 tickets) the server sent to tls_get */
static const void *tls_preamble; /* sent by tls_get before the handshake when set (a PROXY header) */
static size_t tls_preamble_len;

static int count_ticket(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    atomic_fetch_add(&tickets_seen, 1);
    return 0; /* not kept */
}

/* One HTTP/1.1 request over TLS.  Returns the status, or -1 if the handshake or the exchange failed. */
static int tls_get(uint16_t port, X509 *ca, X509 *cert, EVP_PKEY *key, int max_version, const char *path,
                   char *body, size_t bodylen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (max_version)
        SSL_CTX_set_max_proto_version(ctx, max_version);
    if (cert) {
        SSL_CTX_use_certificate(ctx, cert);
        SSL_CTX_use_PrivateKey(ctx, key);
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, count_ticket);
    int status = -1;
    int fd = tcp_connect(port);
    if (fd >= 0 && tls_preamble_len != 0)
        write_all(fd, tls_preamble, tls_preamble_len);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "127.0.0.1");
    if (fd >= 0 && SSL_connect(ssl) == 1) {
        char req[256];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
        static char buf[8192];
        size_t got = 0;
        if (SSL_write(ssl, req, n) == n) {
            int r;
            while (got < sizeof(buf) && (r = SSL_read(ssl, buf + got, (int)(sizeof(buf) - got))) > 0)
                got += (size_t)r;
        }
        struct resp rs;
        if (parse_resp(buf, got, &rs) == 0) {
            status = rs.status;
            if (body != NULL) {
                size_t m = rs.body_len < bodylen - 1 ? rs.body_len : bodylen - 1;
                memcpy(body, rs.body, m);
                body[m] = '\0';
            }
        }
    }
    ERR_clear_error();
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    return status;
}

static atomic_int identities_live;

static void ident_free(void *p)
{
    atomic_fetch_sub(&identities_live, 1);
    free(p);
}

/* Accepts only "alpha" and "beta"; refuses "beta" when ctx says so. */
static int ident_check(void *ctx, X509 *leaf, STACK_OF(X509) * chain, void **out)
{
    UT_CHECK(chain != NULL && sk_X509_num(chain) == 2);
    void *cn = NULL;
    if (rsp_http_peer_cn_check(NULL, leaf, chain, &cn) != 0)
        return -1;
    if (ctx != NULL && strcmp(cn, ctx) == 0) {
        free(cn);
        return -1;
    }
    atomic_fetch_add(&identities_live, 1);
    *out = cn;
    return 0;
}

static int h_whoami(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    const char *id = rsp_http_peer(req);
    rsp_http_send(req, 200, "text/plain", id ? id : "-", strlen(id ? id : "-"), 0);
    return 0;
}

static void test_tls(void)
{
    struct pki p;
    pki_make(&p);
    char err[512];
    rsp_http_server_config_t cfg = {.workers = 2};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    const char *cas[] = {tpath("ca.pem")};
    rsp_http_listener_config_t dev = {
        .name = "device", .cert_file = tpath("srv.pem"), .key_file = tpath("srv.key")};
    rsp_http_listener_config_t s2s = {.name = "s2s",
                                      .cert_file = tpath("srv.pem"),
                                      .key_file = tpath("srv.key"),
                                      .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
                                      .client_ca_files = cas,
                                      .n_client_ca_files = 1,
                                      .peer_check = ident_check,
                                      .peer_free = ident_free,
                                      .peer_ctx = "beta"};
    rsp_http_listener_config_t opt = s2s;
    opt.name = "optional";
    opt.client_auth = RSP_HTTP_CLIENT_CERT_OPTIONAL;
    opt.peer_ctx = NULL;
    int ld = rsp_http_listener_add(srv, &dev, err, sizeof(err));
    int ls = rsp_http_listener_add(srv, &s2s, err, sizeof(err));
    int lo = rsp_http_listener_add(srv, &opt, err, sizeof(err));
    UT_CHECK(ld == 0 && ls == 1 && lo == 2);
    for (int l = 0; l < 3; l++)
        UT_EQ(rsp_http_route(srv, l, "GET", "/whoami", h_whoami, NULL), 0);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    uint16_t pd = rsp_http_listener_port(srv, ld), ps = rsp_http_listener_port(srv, ls),
             po = rsp_http_listener_port(srv, lo);
    char body[256];

    atomic_store(&tickets_seen, 0);
    UT_EQ(tls_get(pd, p.ca, NULL, NULL, 0, "/healthz", body, sizeof(body)), 200);
    /* No session tickets on a device listener (TLS 1.3, the whole response read). */
    UT_EQ(atomic_load(&tickets_seen), 0);
    UT_EQ(tls_get(pd, p.ca, NULL, NULL, 0, "/whoami", body, sizeof(body)), 200);
    UT_CHECK(strcmp(body, "-") == 0);
    /* A server-only listener does not ask for (or record) client certificates. */
    UT_EQ(tls_get(pd, p.ca, p.a, p.a_key, 0, "/whoami", body, sizeof(body)), 200);
    UT_CHECK(strcmp(body, "-") == 0);

    for (int version = 0; version <= 1; version++) {
        int maxv = version ? TLS1_2_VERSION : 0;
        UT_EQ(tls_get(ps, p.ca, p.a, p.a_key, maxv, "/whoami", body, sizeof(body)), 200);
        UT_CHECK(strcmp(body, "alpha") == 0);
        UT_EQ(tls_get(ps, p.ca, NULL, NULL, maxv, "/healthz", NULL, 0), -1);           /* no certificate */
        UT_EQ(tls_get(ps, p.ca, p.rogue, p.rogue_key, maxv, "/healthz", NULL, 0), -1); /* untrusted */
        /* Chains, but the peer check refuses it: connection up, routes 403, health fine. */
        UT_EQ(tls_get(ps, p.ca, p.b, p.b_key, maxv, "/whoami", NULL, 0), 403);
        UT_EQ(tls_get(ps, p.ca, p.b, p.b_key, maxv, "/healthz", NULL, 0), 200);
    }
    /* Alternating clients: socket addresses get reused; identities must follow the connection. */
    int wrong = 0;
    for (int i = 0; i < 20; i++) {
        int use_b = i & 1;
        tls_get(po, p.ca, use_b ? p.b : p.a, use_b ? p.b_key : p.a_key, i % 3 == 0 ? TLS1_2_VERSION : 0,
                "/whoami", body, sizeof(body));
        wrong += strcmp(body, use_b ? "beta" : "alpha") != 0;
    }
    UT_EQ(wrong, 0);
    UT_EQ(tls_get(po, p.ca, NULL, NULL, 0, "/whoami", body, sizeof(body)), 200); /* optional: none given */
    UT_CHECK(strcmp(body, "-") == 0);
    UT_EQ(tls_get(po, p.ca, p.rogue, p.rogue_key, 0, "/whoami", NULL, 0), -1);

    /* SIGHUP path: new contexts from the same files; serving continues. */
    UT_EQ(rsp_http_server_reload_tls(srv, err, sizeof(err)), 0);
    UT_EQ(tls_get(ps, p.ca, p.a, p.a_key, 0, "/whoami", body, sizeof(body)), 200);
    UT_CHECK(strcmp(body, "alpha") == 0);
    UT_EQ(tls_get(pd, p.ca, NULL, NULL, 0, "/healthz", NULL, 0), 200);

    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    UT_EQ(rsp_http_server_reload_tls(srv, err, sizeof(err)), -1); /* not running */
    rsp_http_server_free(srv);
    UT_EQ(atomic_load(&identities_live), 0); /* every identity released with its connection */
    pki_free(&p);
}

static int alert_received = -1; /* the last fatal alert tls_refusal's client read; -1 = none */

static void on_client_info(const SSL *ssl, int where, int ret)
{
    (void)ssl;
    if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT && (ret >> 8) == SSL3_AL_FATAL)
        alert_received = ret & 0xff;
}

/* A client the server should refuse: it offers what is given (NULL = OpenSSL's default), sends a
 * request when its side of the handshake completes (TLS 1.3 servers check the certificate after that)
 * and reads until the server ends the connection.  Returns the fatal alert it received, -1 for a close
 * without one, -2 if the server answered. */
static int tls_refusal(uint16_t port, X509 *ca, X509 *cert, EVP_PKEY *key, int max_v, const char *cipher12,
                       const char *groups)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (max_v)
        SSL_CTX_set_max_proto_version(ctx, max_v);
    UT_CHECK(!cipher12 || SSL_CTX_set_cipher_list(ctx, cipher12) == 1);
    UT_CHECK(!groups || SSL_CTX_set1_groups_list(ctx, groups) == 1);
    if (cert) {
        SSL_CTX_use_certificate(ctx, cert);
        SSL_CTX_use_PrivateKey(ctx, key);
    }
    SSL_CTX_set_info_callback(ctx, on_client_info);
    alert_received = -1;
    int rc = -1, fd = tcp_connect(port);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (fd >= 0 && SSL_connect(ssl) == 1) {
        static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        char buf[512];
        if (SSL_write(ssl, req, (int)sizeof(req) - 1) > 0 && SSL_read(ssl, buf, sizeof(buf)) > 0)
            rc = -2;
    }
    if (rc == -1)
        rc = alert_received;
    ERR_clear_error();
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    return rc;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

/* Refused handshakes end with the alert that names the reason, a log line and a counted refusal. */
static void test_tls_alerts(void)
{
    struct pki p;
    pki_make(&p);
    char err[512];
    /* a client certificate not valid yet (bad_certificate) and one from an unknown CA (unknown_ca) */
    EVP_PKEY *early_key = gen_key(), *other_ca_key = gen_key(), *stranger_key = gen_key();
    X509 *early = make_cert(early_key, "early", p.ca, p.ca_key, 2);
    X509_gmtime_adj(X509_getm_notBefore(early), 3600);
    X509_sign(early, p.ca_key, EVP_sha256());
    X509 *other_ca = make_cert(other_ca_key, "Other CA", NULL, NULL, 0);
    X509 *stranger = make_cert(stranger_key, "stranger", other_ca, other_ca_key, 2);

    const char *logfile = tpath("alerts.log");
    UT_EQ(rsp_log_open(logfile), 0);
    rsp_metrics *m = rsp_metrics_new();
    rsp_http_server_config_t cfg = {.workers = 1};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    rsp_http_server_set_metrics(srv, m);
    const char *cas[] = {tpath("ca.pem")};
    rsp_http_listener_config_t s2s = {.name = "s2s",
                                      .cert_file = tpath("srv.pem"),
                                      .key_file = tpath("srv.key"),
                                      .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
                                      .client_ca_files = cas,
                                      .n_client_ca_files = 1};
    rsp_http_listener_config_t bp = {.name = "brainpool",
                                     .cert_file = tpath("srv.pem"),
                                     .key_file = tpath("srv.key"),
                                     .groups = "brainpoolP256r1"};
    int ls = rsp_http_listener_add(srv, &s2s, err, sizeof(err));
    int lb = rsp_http_listener_add(srv, &bp, err, sizeof(err));
    UT_CHECK(ls >= 0 && lb >= 0);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    uint16_t ps = rsp_http_listener_port(srv, ls), pb = rsp_http_listener_port(srv, lb);

    UT_EQ(tls_refusal(ps, p.ca, p.a, p.a_key, 0, NULL, NULL), -2); /* the server answers a good client */
    UT_EQ(tls_refusal(ps, p.ca, NULL, NULL, 0, NULL, NULL), TLS13_AD_CERTIFICATE_REQUIRED);
    UT_EQ(tls_refusal(ps, p.ca, NULL, NULL, TLS1_2_VERSION, NULL, NULL), SSL3_AD_HANDSHAKE_FAILURE);
    UT_EQ(tls_refusal(ps, p.ca, stranger, stranger_key, 0, NULL, NULL), TLS1_AD_UNKNOWN_CA);
    UT_EQ(tls_refusal(ps, p.ca, stranger, stranger_key, TLS1_2_VERSION, NULL, NULL), TLS1_AD_UNKNOWN_CA);
    UT_EQ(tls_refusal(ps, p.ca, early, early_key, 0, NULL, NULL), SSL3_AD_BAD_CERTIFICATE);
    /* no common cipher (a CBC-SHA1 suite), no common group (OpenSSL 3.0 has no brainpool in TLS 1.3) */
    UT_EQ(tls_refusal(ps, p.ca, p.a, p.a_key, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", NULL),
          SSL3_AD_HANDSHAKE_FAILURE);
    UT_EQ(tls_refusal(pb, p.ca, NULL, NULL, 0, NULL, "X25519:P-256"), SSL3_AD_HANDSHAKE_FAILURE);
    UT_EQ(tls_refusal(pb, p.ca, NULL, NULL, TLS1_2_VERSION, NULL, "X25519:P-256"), SSL3_AD_HANDSHAKE_FAILURE);
    /* the refusals did not hurt the listener */
    UT_EQ(tls_refusal(pb, p.ca, NULL, NULL, TLS1_2_VERSION, NULL, "brainpoolP256r1:P-256"), -2);

    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    rsp_http_server_free(srv);
    rsp_log_open(NULL);

    char *log = read_text(logfile);
    static const char *const lines[] = {
        "TLS refused: listener s2s, peer 127.0.0.1:",
        "reason certificate_required",
        "reason unknown_ca: client certificate: unable to get local issuer certificate",
        "reason bad_certificate: client certificate: certificate is not yet valid",
        "reason handshake_failure: no shared cipher",
        "reason handshake_failure: peer did not return a certificate",
        "TLS refused: listener brainpool, peer 127.0.0.1:",
        "reason handshake_failure: no suitable key share",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (strstr(log, lines[i]) == NULL)
            fprintf(stderr, "log lacks \"%s\":\n%s\n", lines[i], log);
        UT_CHECK(strstr(log, lines[i]) != NULL);
    }
    free(log);
    size_t len = 0;
    char *text = rsp_metrics_render(m, &len);
    static const char *const counts[] = {
        "rsp_tls_refusals_total{listener=\"s2s\",reason=\"certificate_required\"} 1",
        "rsp_tls_refusals_total{listener=\"s2s\",reason=\"unknown_ca\"} 2",
        "rsp_tls_refusals_total{listener=\"s2s\",reason=\"bad_certificate\"} 1",
        "rsp_tls_refusals_total{listener=\"s2s\",reason=\"handshake_failure\"} 2",
        "rsp_tls_refusals_total{listener=\"brainpool\",reason=\"handshake_failure\"} 2",
    };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        if (strstr(text, counts[i]) == NULL)
            fprintf(stderr, "metrics lack \"%s\":\n%s\n", counts[i], text);
        UT_CHECK(strstr(text, counts[i]) != NULL);
    }
    free(text);
    rsp_metrics_free(m);
    unlink(logfile);
    X509 *c[] = {early, other_ca, stranger};
    EVP_PKEY *k[] = {early_key, other_ca_key, stranger_key};
    for (int i = 0; i < 3; i++) {
        X509_free(c[i]);
        EVP_PKEY_free(k[i]);
    }
    pki_free(&p);
}

static SSL_SESSION *kept_session; /* the last session (ticket) the server gave tls_resume's client */

static int keep_ticket(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    SSL_SESSION_free(kept_session);
    kept_session = sess;
    return 1; /* kept */
}

/* GET path over TLS 1.3 (or max_v), offering `resume` when given and keeping the new ticket in
 * kept_session.  Returns the status (-1 on failure); *reused says whether the session was resumed. */
static int tls_resume(uint16_t port, X509 *ca, X509 *cert, EVP_PKEY *key, int max_v, SSL_SESSION *resume,
                      int *reused, char *body, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (max_v)
        SSL_CTX_set_max_proto_version(ctx, max_v);
    if (cert) {
        SSL_CTX_use_certificate(ctx, cert);
        SSL_CTX_use_PrivateKey(ctx, key);
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, keep_ticket);
    int status = -1, fd = tcp_connect(port);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (resume)
        SSL_set_session(ssl, resume);
    *reused = 0;
    if (fd >= 0 && SSL_connect(ssl) == 1) {
        *reused = SSL_session_reused(ssl);
        static const char req[] = "GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        char buf[4096];
        size_t got = 0;
        int r;
        if (SSL_write(ssl, req, (int)sizeof(req) - 1) > 0)
            while (got < sizeof(buf) && (r = SSL_read(ssl, buf + got, (int)(sizeof(buf) - got))) > 0)
                got += (size_t)r;
        struct resp rs;
        if (parse_resp(buf, got, &rs) == 0) {
            status = rs.status;
            snprintf(body, cap, "%.*s", (int)rs.body_len, rs.body);
        }
        SSL_shutdown(ssl); /* OpenSSL forgets the sessions of connections dropped without it */
        /* TLS 1.2: a renewed ticket replaces the session in place (no new-session callback) */
        if (kept_session == NULL && *reused)
            kept_session = SSL_get1_session(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    return status;
}

/* A server with a device and an s2s listener, session tickets from `secret` (NULL = none). */
static rsp_http_server_t *ticket_server(const uint8_t *secret, uint16_t *dev_port, uint16_t *s2s_port,
                                        rsp_metrics *m)
{
    char err[512];
    rsp_http_server_config_t cfg = {.workers = 1};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    static const char *cas[1];
    cas[0] = tpath("ca.pem");
    rsp_http_listener_config_t dev = {
        .name = "device", .cert_file = tpath("srv.pem"), .key_file = tpath("srv.key")};
    rsp_http_listener_config_t s2s = {.name = "s2s",
                                      .cert_file = tpath("srv.pem"),
                                      .key_file = tpath("srv.key"),
                                      .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
                                      .client_ca_files = cas,
                                      .n_client_ca_files = 1,
                                      .peer_check = ident_check,
                                      .peer_free = ident_free};
    int ld = rsp_http_listener_add(srv, &dev, err, sizeof(err));
    int ls = rsp_http_listener_add(srv, &s2s, err, sizeof(err));
    UT_CHECK(ld >= 0 && ls >= 0);
    UT_EQ(rsp_http_route(srv, ld, "GET", "/whoami", h_whoami, NULL), 0);
    UT_EQ(rsp_http_route(srv, ls, "GET", "/whoami", h_whoami, NULL), 0);
    if (m != NULL)
        rsp_http_server_set_metrics(srv, m);
    if (secret != NULL) {
        const uint8_t *secrets[] = {secret};
        UT_EQ(rsp_http_server_set_ticket_secrets(srv, secrets, 1, 32, 0, 3600), 0);
    }
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    *dev_port = rsp_http_listener_port(srv, ld);
    *s2s_port = rsp_http_listener_port(srv, ls);
    return srv;
}

static void ticket_server_end(rsp_http_server_t *srv)
{
    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    rsp_http_server_free(srv);
}

/* Session resumption: device listeners only, tickets shared by the secret, nothing attributed. */
static void test_tls_resumption(void)
{
    struct pki p;
    pki_make(&p);
    uint8_t s1[32], s2[32];
    memset(s1, 0x11, sizeof(s1));
    memset(s2, 0x22, sizeof(s2));
    rsp_metrics *m = rsp_metrics_new();
    uint16_t ad, as, bd, bs, cd, cs, nd, ns;
    rsp_http_server_t *a = ticket_server(s1, &ad, &as, m), *b = ticket_server(s1, &bd, &bs, NULL),
                      *c = ticket_server(s2, &cd, &cs, NULL), *none = ticket_server(NULL, &nd, &ns, NULL);
    char body[256];
    int reused = -1;
    /* Each step offers the ticket the previous one received (OpenSSL's client uses a TLS 1.3 session once).
     */
    static const struct step {
        int server; /* 0 a, 1 b (same secret), 2 c (another secret), 3 none (no shared keys) */
        int cert, reused;
    } steps[] = {
        {0, 0, 0}, {0, 0, 1}, /* the same process */
        {1, 0, 1},            /* a ticket from a resumes on b */
        {1, 1, 1}, /* a client certificate does not make a resumed device connection carry an identity */
        {0, 0, 1}, /* and b's ticket on a */
        {2, 0, 0}, /* a different secret: a full handshake, which still serves */
        {3, 0, 0}, /* no shared keys: a full handshake */
    };
    const uint16_t ports[] = {ad, bd, cd, nd};
    for (int version = 0; version <= 1; version++) {
        SSL_SESSION_free(kept_session);
        kept_session = NULL;
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
            SSL_SESSION *offer = kept_session;
            kept_session = NULL;
            UT_EQ(tls_resume(ports[steps[i].server], p.ca, steps[i].cert ? p.a : NULL, p.a_key,
                             version ? TLS1_2_VERSION : 0, offer, &reused, body, sizeof(body)),
                  200);
            if (reused != steps[i].reused || strcmp(body, "-") != 0)
                fprintf(stderr, "TLS %s step %zu: reused %d, identity %s\n", version ? "1.2" : "1.3", i,
                        reused, body);
            UT_CHECK(reused == steps[i].reused && strcmp(body, "-") == 0);
            UT_CHECK(steps[i].server == 3 || kept_session != NULL);
            SSL_SESSION_free(offer);
        }
    }
    /* no tickets without shared keys, and none on the s2s listener */
    SSL_SESSION_free(kept_session);
    kept_session = NULL;
    UT_EQ(tls_resume(nd, p.ca, NULL, NULL, 0, NULL, &reused, body, sizeof(body)), 200);
    UT_CHECK(kept_session == NULL);
    UT_EQ(tls_resume(as, p.ca, p.a, p.a_key, 0, NULL, &reused, body, sizeof(body)), 200);
    UT_CHECK(kept_session == NULL && strcmp(body, "alpha") == 0);
    UT_EQ(tls_resume(as, p.ca, p.a, p.a_key, TLS1_2_VERSION, NULL, &reused, body, sizeof(body)), 200);
    UT_CHECK(kept_session == NULL);

    ticket_server_end(a);
    ticket_server_end(b);
    ticket_server_end(c);
    ticket_server_end(none);
    size_t len = 0;
    char *text = rsp_metrics_render(m, &len);
    /* two resumptions on a per TLS version, counted once each */
    UT_CHECK(strstr(text, "rsp_tls_resumed_total{listener=\"device\"} 4\n") != NULL);
    UT_CHECK(strstr(text, "listener=\"s2s\"} ") == NULL ||
             strstr(text, "rsp_tls_resumed_total{listener=\"s2s\"") == NULL);
    free(text);
    rsp_metrics_free(m);
    pki_free(&p);
}

/* A TLS handshake with the client offering only what is given (NULL = OpenSSL's default); the
 * negotiated version and cipher go to out.  0 when the handshake succeeded. */
static int tls_offer(uint16_t port, X509 *ca, int min_v, int max_v, const char *cipher12,
                     const char *suites13, const char *groups, char *out, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (min_v)
        SSL_CTX_set_min_proto_version(ctx, min_v);
    if (max_v)
        SSL_CTX_set_max_proto_version(ctx, max_v);
    int ok = (!cipher12 || SSL_CTX_set_cipher_list(ctx, cipher12) == 1) &&
             (!suites13 || SSL_CTX_set_ciphersuites(ctx, suites13) == 1) &&
             (!groups || SSL_CTX_set1_groups_list(ctx, groups) == 1);
    UT_CHECK(ok);
    int fd = tcp_connect(port), rc = -1;
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (ok && fd >= 0 && SSL_connect(ssl) == 1) {
        EVP_PKEY *tmp = NULL;
        char group[64] = "-";
        if (SSL_get_peer_tmp_key(ssl, &tmp) == 1)
            EVP_PKEY_get_group_name(tmp, group, sizeof(group), NULL);
        EVP_PKEY_free(tmp);
        snprintf(out, cap, "%s %s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl), group);
        rc = 0;
    }
    ERR_clear_error();
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    return rc;
}

/* SGP.22 TLS: the TLS 1.2 suites it names, TLS 1.3 beside them, and the per-listener settings. */
static void test_TC_SM_DP_ES9p_Server_Authentication_for_HTTPS_Establishment_suites(void)
{
    struct pki p;
    pki_make(&p);
    char err[512], got[128];
    rsp_http_server_config_t cfg = {.workers = 1};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    rsp_http_listener_config_t dflt = {
        .name = "default", .cert_file = tpath("srv.pem"), .key_file = tpath("srv.key")};
    rsp_http_listener_config_t strict = dflt;
    strict.name = "strict";
    strict.min_version = RSP_HTTP_TLS_1_3;
    strict.ciphersuites = "TLS_AES_256_GCM_SHA384";
    strict.groups = "brainpoolP256r1:P-256";
    rsp_http_listener_config_t bp = dflt;
    bp.name = "brainpool";
    bp.groups = "brainpoolP256r1:P-256";
    int ld = rsp_http_listener_add(srv, &dflt, err, sizeof(err));
    int ls = rsp_http_listener_add(srv, &strict, err, sizeof(err));
    int lb = rsp_http_listener_add(srv, &bp, err, sizeof(err));
    UT_CHECK(ld >= 0 && ls >= 0 && lb >= 0);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    uint16_t pd = rsp_http_listener_port(srv, ld), ps = rsp_http_listener_port(srv, ls),
             pb = rsp_http_listener_port(srv, lb);

    /* TLS 1.2 with each SGP.22 suite, the CBC-SHA256 one included */
    static const char *const sgp22[] = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256",
                                        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-SHA384"};
    for (size_t i = 0; i < sizeof(sgp22) / sizeof(sgp22[0]); i++) {
        UT_EQ(tls_offer(pd, p.ca, 0, TLS1_2_VERSION, sgp22[i], NULL, NULL, got, sizeof(got)), 0);
        char want[96];
        snprintf(want, sizeof(want), "TLSv1.2 %s ", sgp22[i]);
        UT_CHECK(strncmp(got, want, strlen(want)) == 0);
    }
    /* by default over P-256; brainpoolP256r1 where the groups say so (the certificate is P-256) */
    UT_EQ(tls_offer(pd, p.ca, 0, TLS1_2_VERSION, NULL, NULL, NULL, got, sizeof(got)), 0);
    UT_CHECK(strstr(got, " prime256v1") != NULL);
    UT_EQ(tls_offer(pb, p.ca, 0, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256", NULL, "brainpoolP256r1:P-256",
                    got, sizeof(got)),
          0);
    UT_CHECK(strcmp(got, "TLSv1.2 ECDHE-ECDSA-AES128-SHA256 brainpoolP256r1") == 0);
    /* no CBC-SHA1 suite, no TLS 1.1 */
    UT_EQ(tls_offer(pd, p.ca, 0, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", NULL, NULL, got, sizeof(got)), -1);
    UT_EQ(tls_offer(pd, p.ca, 0, TLS1_1_VERSION, NULL, NULL, NULL, got, sizeof(got)), -1);
    /* TLS 1.3 beside them */
    UT_EQ(tls_offer(pd, p.ca, 0, 0, NULL, NULL, NULL, got, sizeof(got)), 0);
    UT_CHECK(strncmp(got, "TLSv1.3 ", 8) == 0);

    /* the configured listener: TLS 1.3 only, its one suite, its groups */
    UT_EQ(
        tls_offer(ps, p.ca, 0, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", NULL, NULL, got, sizeof(got)),
        -1);
    UT_EQ(tls_offer(ps, p.ca, 0, 0, NULL, "TLS_AES_128_GCM_SHA256", NULL, got, sizeof(got)), -1);
    UT_EQ(tls_offer(ps, p.ca, 0, 0, NULL, NULL, "X25519", got, sizeof(got)), -1);
    UT_EQ(tls_offer(ps, p.ca, 0, 0, NULL, NULL, NULL, got, sizeof(got)), 0);
    UT_CHECK(strncmp(got, "TLSv1.3 TLS_AES_256_GCM_SHA384 ", 31) == 0);

    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    rsp_http_server_free(srv);

    /* bad settings are reported when the listener is added */
    srv = rsp_http_server_new(&cfg);
    rsp_http_listener_config_t bad = dflt;
    bad.ciphersuites = "TLS_NOT_A_SUITE";
    UT_EQ(rsp_http_listener_add(srv, &bad, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "TLS 1.3 cipher suites") != NULL);
    bad = dflt;
    bad.groups = "not-a-curve";
    UT_EQ(rsp_http_listener_add(srv, &bad, err, sizeof(err)), -1);
    UT_CHECK(strstr(err, "TLS groups") != NULL);
    rsp_http_server_free(srv);
    pki_free(&p);
}

static void test_cn_check(void)
{
    EVP_PKEY *k = gen_key();
    X509 *c = make_cert(k, "dp.example.com", NULL, NULL, 2);
    void *id = NULL;
    UT_EQ(rsp_http_peer_cn_check(NULL, c, NULL, &id), 0);
    UT_CHECK(id != NULL && strcmp(id, "dp.example.com") == 0);
    free(id);
    X509 *two = make_cert(k, "a", NULL, NULL, 2);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(two), "CN", MBSTRING_UTF8, (const unsigned char *)"b",
                               -1, -1, 0);
    id = NULL;
    UT_EQ(rsp_http_peer_cn_check(NULL, two, NULL, &id), -1);
    UT_CHECK(id == NULL);
    X509 *none = X509_new();
    UT_EQ(rsp_http_peer_cn_check(NULL, none, NULL, &id), -1);
    X509_free(c);
    X509_free(two);
    X509_free(none);
    EVP_PKEY_free(k);
}

/* ---------------------------------------------------------------- PROXY protocol and readiness */

static const uint8_t PP_V4[12] = {203, 0, 113, 7, 127, 0, 0, 1, 0x30, 0x39, 0x20, 0xfb};

static int h_client_addr(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    char a[RSP_HTTP_ADDR_MAX];
    UT_CHECK(rsp_http_client_addr(req, a, 4) == NULL); /* too small for any address */
    const char *s = rsp_http_client_addr(req, a, sizeof(a));
    rsp_http_send(req, 200, "text/plain", s ? s : "-", strlen(s ? s : "-"), 0);
    return 0;
}

/* Sends head (possibly in pieces of `step` bytes) then an HTTP request; returns what came back. */
static size_t pp_exchange(uint16_t port, const uint8_t *head, size_t hlen, size_t step, const char *path,
                          char *out, size_t cap)
{
    int fd = tcp_connect(port);
    UT_CHECK(fd >= 0);
    for (size_t off = 0; off < hlen; off += step) {
        write_all(fd, head + off, hlen - off < step ? hlen - off : step);
        if (step < hlen)
            sleep_ms(2); /* separate reads on the server */
    }
    char req[128];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    write_all(fd, req, (size_t)n);
    size_t got = 0;
    ssize_t r;
    while (got < cap - 1 && (r = read(fd, out + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    close(fd);
    return got;
}

static void expect_body(uint16_t port, const uint8_t *head, size_t hlen, size_t step, const char *want)
{
    static char buf[8192];
    size_t n = pp_exchange(port, head, hlen, step, "/addr", buf, sizeof(buf));
    struct resp r;
    UT_EQ(parse_resp(buf, n, &r), 0);
    UT_EQ(r.status, 200);
    UT_CHECK(strcmp(r.body, want) == 0);
    if (strcmp(r.body, want) != 0)
        fprintf(stderr, "    body '%s', expected '%s'\n", r.body, want);
}

/* The connection is closed without a single byte of answer. */
static void expect_refused(rsp_http_server_t *srv, uint16_t port, const uint8_t *head, size_t hlen)
{
    unsigned long before = rsp_http_listener_proxy_refused(srv, 0);
    char buf[256];
    UT_EQ(pp_exchange(port, head, hlen, hlen ? hlen : 1, "/addr", buf, sizeof(buf)), 0);
    UT_EQ(rsp_http_listener_proxy_refused(srv, 0), before + 1);
}

static void test_proxy_protocol(void)
{
    char err[256];
    rsp_http_server_config_t cfg = {.workers = 2, .proxy_timeout_ms = 300};
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    rsp_http_listener_config_t lc = {.name = "lb", .plain = 1, .proxy_protocol = 1};
    UT_EQ(rsp_http_listener_add(srv, &lc, err, sizeof(err)), 0);
    rsp_http_listener_config_t direct = {.name = "direct", .plain = 1};
    UT_EQ(rsp_http_listener_add(srv, &direct, err, sizeof(err)), 1);
    UT_EQ(rsp_http_route(srv, 0, "GET", "/addr", h_client_addr, NULL), 0);
    UT_EQ(rsp_http_route(srv, 1, "GET", "/addr", h_client_addr, NULL), 0);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    rsp_http_server_set_ready(srv, 1);
    uint16_t port = rsp_http_listener_port(srv, 0), dport = rsp_http_listener_port(srv, 1);

    uint8_t h[RSP_PROXY_MAX_HEADER + 64];
    /* The client's address comes from the header, whether it arrives at once or byte by byte. */
    size_t n = rsp_proxy_test_header(h, 0x21, 0x11, PP_V4, sizeof(PP_V4));
    expect_body(port, h, n, n, "203.0.113.7");
    expect_body(port, h, n, 1, "203.0.113.7");
    uint8_t v6[36] = {0x20, 0x01, 0x0d, 0xb8, [15] = 5, [16] = 0x20, [17] = 0x01, [18] = 0x0d, [19] = 0xb8};
    n = rsp_proxy_test_header(h, 0x21, 0x21, v6, sizeof(v6));
    expect_body(port, h, n, n, "2001:db8::5");
    /* LOCAL (health checks) and PROXY UNSPEC keep the socket's address. */
    n = rsp_proxy_test_header(h, 0x20, 0x00, NULL, 0);
    expect_body(port, h, n, n, "127.0.0.1");
    n = rsp_proxy_test_header(h, 0x21, 0x00, NULL, 0);
    expect_body(port, h, n, n, "127.0.0.1");
    /* A listener without the option serves the same bytes as HTTP (and refuses them as such). */
    expect_body(dport, (const uint8_t *)"", 0, 1, "127.0.0.1");

    /* Refused: no header at all, a version 1 text header, a wrong signature, version, command or
     * family, a short address block, an oversized header, and a truncated one (client gives up). */
    expect_refused(srv, port, (const uint8_t *)"", 0);
    const char *v1 = "PROXY TCP4 203.0.113.7 127.0.0.1 12345 8443\r\n";
    expect_refused(srv, port, (const uint8_t *)v1, strlen(v1));
    n = rsp_proxy_test_header(h, 0x21, 0x11, PP_V4, sizeof(PP_V4));
    h[3] = 'X';
    expect_refused(srv, port, h, n);
    n = rsp_proxy_test_header(h, 0x11, 0x11, PP_V4, sizeof(PP_V4));
    expect_refused(srv, port, h, n);
    n = rsp_proxy_test_header(h, 0x22, 0x11, PP_V4, sizeof(PP_V4));
    expect_refused(srv, port, h, n);
    n = rsp_proxy_test_header(h, 0x21, 0x31, NULL, 216);
    expect_refused(srv, port, h, n);
    n = rsp_proxy_test_header(h, 0x21, 0x12, PP_V4, sizeof(PP_V4));
    expect_refused(srv, port, h, n);
    n = rsp_proxy_test_header(h, 0x21, 0x11, PP_V4, 8);
    expect_refused(srv, port, h, n);
    n = rsp_proxy_test_header(h, 0x21, 0x11, NULL, RSP_PROXY_MAX_HEADER);
    expect_refused(srv, port, h, n);

    /* Truncated, or nothing at all: the wait is bounded by proxy_timeout_ms. */
    unsigned long before = rsp_http_listener_proxy_refused(srv, 0);
    int fds[2] = {tcp_connect(port), tcp_connect(port)};
    n = rsp_proxy_test_header(h, 0x21, 0x11, PP_V4, sizeof(PP_V4));
    write_all(fds[0], h, n - 3);
    for (int i = 0; i < 2; i++) {
        char c;
        UT_EQ(read(fds[i], &c, 1), 0); /* closed by the server, well before tcp_connect's 5 s */
        close(fds[i]);
    }
    UT_EQ(rsp_http_listener_proxy_refused(srv, 0), before + 2);

    /* The balancer's health check: a LOCAL header, then GET /readyz. */
    static char buf[8192];
    struct resp r;
    n = rsp_proxy_test_header(h, 0x20, 0x00, NULL, 0);
    UT_EQ(parse_resp(buf, pp_exchange(port, h, n, n, "/readyz", buf, sizeof(buf)), &r), 0);
    UT_EQ(r.status, 200);
    rsp_http_server_set_ready(srv, 0);
    UT_EQ(parse_resp(buf, pp_exchange(port, h, n, n, "/readyz", buf, sizeof(buf)), &r), 0);
    UT_EQ(r.status, 503);

    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    rsp_http_server_free(srv);
}

/* Behind a TCP balancer TLS (and mutual TLS) still ends here: the header comes before the handshake. */
static void test_proxy_tls(void)
{
    struct pki p;
    pki_make(&p);
    char err[512];
    rsp_http_server_t *srv = rsp_http_server_new(&(rsp_http_server_config_t){.workers = 1});
    const char *cas[] = {tpath("ca.pem")};
    rsp_http_listener_config_t lc = {.name = "s2s",
                                     .cert_file = tpath("srv.pem"),
                                     .key_file = tpath("srv.key"),
                                     .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
                                     .client_ca_files = cas,
                                     .n_client_ca_files = 1,
                                     .proxy_protocol = 1};
    UT_EQ(rsp_http_listener_add(srv, &lc, err, sizeof(err)), 0);
    UT_EQ(rsp_http_route(srv, 0, "GET", "/whoami", h_whoami, NULL), 0);
    UT_EQ(rsp_http_route(srv, 0, "GET", "/addr", h_client_addr, NULL), 0);
    UT_EQ(rsp_http_server_start(srv, err, sizeof(err)), 0);
    uint16_t port = rsp_http_listener_port(srv, 0);
    uint8_t h[64];
    tls_preamble = h;
    tls_preamble_len = rsp_proxy_test_header(h, 0x21, 0x11, PP_V4, sizeof(PP_V4));
    char body[256];
    UT_EQ(tls_get(port, p.ca, p.a, p.a_key, 0, "/whoami", body, sizeof(body)), 200);
    UT_CHECK(strcmp(body, "alpha") == 0);
    UT_EQ(tls_get(port, p.ca, p.a, p.a_key, TLS1_2_VERSION, "/addr", body, sizeof(body)), 200);
    UT_CHECK(strcmp(body, "203.0.113.7") == 0);
    UT_EQ(tls_get(port, p.ca, NULL, NULL, 0, "/whoami", body, sizeof(body)), -1); /* still mutual TLS */
    tls_preamble_len = 0;
    UT_EQ(tls_get(port, p.ca, p.a, p.a_key, 0, "/whoami", body, sizeof(body)), -1); /* no header */
    UT_EQ(rsp_http_listener_proxy_refused(srv, 0), 1);
    tls_preamble = NULL;
    rsp_http_server_stop(srv);
    UT_EQ(rsp_http_server_wait(srv), 0);
    rsp_http_server_free(srv);
    pki_free(&p);
}

int main(void)
{
    UT_RUN(test_setup_errors);
    UT_RUN(test_routing);
    UT_RUN(test_defer);
    UT_RUN(test_defer_client_gone);
    UT_RUN(test_stop_drains);
    UT_RUN(test_stop_bound);
    UT_RUN(test_cn_check);
    UT_RUN(test_tls);
    UT_RUN(test_tls_alerts);
    UT_RUN(test_tls_resumption);
    UT_RUN(test_TC_SM_DP_ES9p_Server_Authentication_for_HTTPS_Establishment_suites);
    UT_RUN(test_proxy_protocol);
    UT_RUN(test_proxy_tls);
    return ut_finish();
}
