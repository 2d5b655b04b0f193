/*
 * Tests of the connection limits: the client table and descriptor helpers of rsp/limits, and an
 * in-process rsp/http server (loopback, port 0) held to max_connections, max_connections_per_client
 * (behind a PROXY v2 header), max_streams, the handshake timeout and the idle timeout against PINGs.
 * Two tests run the server in a child process with a low RLIMIT_NOFILE (the descriptor budget, and
 * accept() failing with EMFILE) and check from /proc that it does not spin.  No test measures latency:
 * waits are bounded loops that only guard against hanging.
 */
#include "rsp/limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "rsp/http.h"
#include "rsp/metrics.h"
#include "rsp/proxy_testutil.h"
#include "tests/unit/ut.h"

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A loopback connection whose reads give up after `secs` (a guard against hanging, not a threshold). */
static int dial(uint16_t port, int secs)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {secs, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One HTTP/1.1 keep-alive GET on fd; the status (0 if none came) and the header block in hdr. */
static int get_on(int fd, const char *path, char *hdr, size_t cap)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    if (send_all(fd, req, (size_t)n) != 0)
        return 0;
    size_t got = 0;
    hdr[0] = '\0';
    while (got + 1 < cap && strstr(hdr, "\r\n\r\n") == NULL) {
        ssize_t r = read(fd, hdr + got, cap - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        hdr[got] = '\0';
    }
    int status = 0;
    return sscanf(hdr, "HTTP/1.1 %d", &status) == 1 ? status : 0;
}

/* GET on a new connection; the status, 0 when the server closed without answering. */
static int get_new(uint16_t port, const char *path, char *hdr, size_t cap)
{
    int fd = dial(port, 5);
    if (fd < 0)
        return 0;
    int s = get_on(fd, path, hdr, cap);
    close(fd);
    return s;
}

/* 1 when the server closes fd (EOF or reset) before the read guard runs out. */
static int closed_by_server(int fd)
{
    char b[4096];
    for (int i = 0; i < 64; i++) {
        ssize_t r = read(fd, b, sizeof(b));
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
        if (r < 0)
            return 0;
    }
    return 0;
}

/* Value of the series `name{labels}` in Prometheus text, or -1. */
static long long series(const char *text, const char *name, const char *labels)
{
    char key[256];
    snprintf(key, sizeof(key), "\n%s{%s} ", name, labels);
    const char *p = strstr(text, key);
    return p != NULL ? atoll(p + strlen(key)) : -1;
}

static long long metric(rsp_metrics *m, const char *name, const char *labels)
{
    size_t len;
    char *t = rsp_metrics_render(m, &len);
    long long v = t != NULL ? series(t, name, labels) : -1;
    free(t);
    return v;
}

/* ---------------------------------------------------------------- rsp/limits */

static void test_client_table(void)
{
    rsp_client_table_t *t = rsp_client_table_new();
    UT_CHECK(t != NULL);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "203.0.113.7", &a.sin_addr);
    struct sockaddr_in6 m = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:203.0.113.7", &m.sin6_addr);
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8::7", &v6.sin6_addr);
    rsp_client_key_t ka, km, k6, other_listener;
    UT_EQ(rsp_client_key(&ka, 0, (struct sockaddr *)&a, sizeof(a)), 0);
    UT_EQ(rsp_client_key(&km, 0, (struct sockaddr *)&m, sizeof(m)), 0);
    UT_EQ(rsp_client_key(&k6, 0, (struct sockaddr *)&v6, sizeof(v6)), 0);
    UT_EQ(rsp_client_key(&other_listener, 1, (struct sockaddr *)&a, sizeof(a)), 0);
    UT_EQ(memcmp(&ka, &km, sizeof(ka)), 0); /* IPv4-mapped is the same client */
    UT_CHECK(memcmp(&ka, &k6, sizeof(ka)) != 0);
    UT_CHECK(memcmp(&ka, &other_listener, sizeof(ka)) != 0);
    /* Bad input: a short length, an unknown family, no address. */
    UT_EQ(rsp_client_key(&ka, 0, (struct sockaddr *)&a, 4), -1);
    struct sockaddr un = {.sa_family = AF_UNIX};
    UT_EQ(rsp_client_key(&ka, 0, &un, sizeof(un)), -1);
    UT_EQ(rsp_client_key(&ka, 0, NULL, 0), -1);
    UT_EQ(rsp_client_key(&ka, 0, (struct sockaddr *)&a, sizeof(a)), 0);

    UT_EQ(rsp_client_acquire(t, &ka, 2), 0);
    UT_EQ(rsp_client_acquire(t, &km, 2), 0);
    UT_EQ(rsp_client_acquire(t, &ka, 2), -1); /* third from the same address */
    UT_EQ(rsp_client_acquire(t, &other_listener, 2), 0);
    UT_EQ(rsp_client_count(t, &ka), 2u);
    rsp_client_release(t, &ka);
    UT_EQ(rsp_client_acquire(t, &ka, 2), 0);
    /* Growth past the first buckets, and entries gone at zero. */
    for (unsigned i = 0; i < 1000; i++) {
        struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + i)};
        rsp_client_key_t k;
        rsp_client_key(&k, 0, (struct sockaddr *)&b, sizeof(b));
        UT_EQ(rsp_client_acquire(t, &k, 0), 0);
        UT_EQ(rsp_client_count(t, &k), 1u);
        if (i % 2)
            rsp_client_release(t, &k);
    }
    UT_EQ(rsp_client_count(t, &k6), 0u);
    rsp_client_release(t, &k6); /* not held: no effect */
    UT_EQ(rsp_client_count(t, &ka), 2u);
    rsp_client_table_free(t);
}

static void test_descriptors(void)
{
    uint64_t before = 0, after = 0;
    UT_EQ(rsp_limits_raise_nofile(&before, &after), 0);
    struct rlimit rl;
    UT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    UT_EQ(after, (uint64_t)rl.rlim_max);
    UT_CHECK(after >= before);
    long open_now = rsp_limits_open_fds();
    UT_CHECK(open_now >= 3);
    int fd = open("/dev/null", O_RDONLY);
    UT_EQ(rsp_limits_open_fds(), open_now + 1);
    close(fd);
    UT_EQ(rsp_limits_fd_budget(1000, 36, 0), 1000u - 36 - RSP_LIMITS_FD_RESERVE);
    UT_EQ(rsp_limits_fd_budget(50, 36, 8), 1u); /* never 0: the first connection still gets in */
}

/* ---------------------------------------------------------------- in-process server */

static int slow_done(h2o_req_t *req, void *arg);

static void *resume_later(void *p)
{
    nap_ms(800);
    rsp_http_resume(p, slow_done, NULL);
    return NULL;
}

static int slow_done(h2o_req_t *req, void *arg)
{
    (void)arg;
    if (req != NULL)
        rsp_http_send(req, 200, "text/plain", "slow", 4, 0);
    return 0;
}

static int h_slow(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_deferred_t *d = rsp_http_defer(req);
    if (d == NULL)
        return -1;
    pthread_t t;
    if (pthread_create(&t, NULL, resume_later, d) != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

static int h_ok(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_send(req, 200, "text/plain", "ok", 2, 0);
    return 0;
}

static rsp_metrics *metrics_reg;

static int h_metrics(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    size_t len = 0;
    char *text = rsp_metrics_render(metrics_reg, &len);
    rsp_http_send_metrics(req, text, len);
    return 0;
}

static rsp_http_server_t *start_server(rsp_http_listener_config_t *lc, rsp_metrics *m, uint16_t *port)
{
    rsp_http_server_config_t sc = {.workers = 1, .drain_timeout_ms = 2000};
    rsp_http_server_t *srv = rsp_http_server_new(&sc);
    char err[256];
    int l = srv != NULL ? rsp_http_listener_add(srv, lc, err, sizeof(err)) : -1;
    if (l < 0) {
        fprintf(stderr, "listener: %s\n", err);
        rsp_http_server_free(srv);
        return NULL;
    }
    rsp_http_route(srv, l, "GET", "/ok", h_ok, NULL);
    rsp_http_route(srv, l, "GET", "/slow", h_slow, NULL);
    rsp_http_route(srv, l, "GET", "/metrics", h_metrics, NULL);
    rsp_http_server_set_metrics(srv, m);
    if (rsp_http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "start: %s\n", err);
        rsp_http_server_free(srv);
        return NULL;
    }
    *port = rsp_http_listener_port(srv, l);
    return srv;
}

static void stop_server(rsp_http_server_t *srv)
{
    rsp_http_server_stop(srv);
    rsp_http_server_wait(srv);
    rsp_http_server_free(srv);
}

static void test_max_connections(void)
{
    rsp_metrics *m = rsp_metrics_new();
    rsp_http_listener_config_t lc = {.name = "dev", .plain = 1, .max_connections = 2};
    uint16_t port;
    rsp_http_server_t *srv = start_server(&lc, m, &port);
    UT_CHECK(srv != NULL);
    char hdr[2048];
    int held[2];
    for (int i = 0; i < 2; i++) {
        held[i] = dial(port, 5);
        UT_EQ(get_on(held[i], "/ok", hdr, sizeof(hdr)), 200);
    }
    /* A third connection is over the cap: health checks still answer, ES calls get 503 + Retry-After. */
    UT_EQ(get_new(port, "/healthz", hdr, sizeof(hdr)), 200);
    UT_EQ(get_new(port, "/ok", hdr, sizeof(hdr)), 503);
    UT_CHECK(strstr(hdr, "retry-after: 5") != NULL || strstr(hdr, "Retry-After: 5") != NULL);
    /* Beyond the overflow allowance a connection is closed before any byte is answered. */
    int shut = 0;
    for (int i = 0; i < 40; i++) {
        int fd = dial(port, 5);
        shut += get_on(fd, "/ok", hdr, sizeof(hdr)) == 0;
        close(fd);
    }
    UT_CHECK(shut > 0);
    UT_CHECK(metric(m, RSP_HTTP_METRIC_CONN_REFUSED, "listener=\"dev\",reason=\"max_connections\"") >= 3);
    /* A freed slot is served again (the overflow connections are closed by the sweep). */
    close(held[0]);
    int status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        nap_ms(100);
        status = get_new(port, "/ok", hdr, sizeof(hdr));
    }
    UT_EQ(status, 200);
    close(held[1]);
    stop_server(srv);
    rsp_metrics_free(m);
}

/* A PROXY v2 header for TCP over IPv4 from 203.0.113.<last>. */
static size_t proxy_from(uint8_t *b, uint8_t last)
{
    const uint8_t payload[12] = {203, 0, 113, last, 127, 0, 0, 1, 0x30, 0x39, 0x20, 0xfb};
    return rsp_proxy_test_header(b, 0x21, 0x11, payload, sizeof(payload));
}

static void test_per_client_behind_proxy(void)
{
    rsp_metrics *m = rsp_metrics_new();
    rsp_http_listener_config_t lc = {
        .name = "lb", .plain = 1, .proxy_protocol = 1, .max_connections_per_client = 2};
    uint16_t port;
    rsp_http_server_t *srv = start_server(&lc, m, &port);
    UT_CHECK(srv != NULL);
    uint8_t head[64];
    char hdr[2048];
    int held[2];
    /* Every connection comes from 127.0.0.1 (the "balancer"); the header names the client. */
    for (int i = 0; i < 2; i++) {
        held[i] = dial(port, 5);
        send_all(held[i], head, proxy_from(head, 7));
        UT_EQ(get_on(held[i], "/ok", hdr, sizeof(hdr)), 200);
    }
    int third = dial(port, 5);
    send_all(third, head, proxy_from(head, 7));
    UT_CHECK(closed_by_server(third));
    close(third);
    int other = dial(port, 5);
    send_all(other, head, proxy_from(head, 8));
    UT_EQ(get_on(other, "/ok", hdr, sizeof(hdr)), 200);
    close(other);
    UT_EQ(metric(m, RSP_HTTP_METRIC_CONN_REFUSED, "listener=\"lb\",reason=\"max_connections_per_client\""),
          1);
    /* Closing one gives the client its slot back. */
    close(held[0]);
    int status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        nap_ms(50);
        int fd = dial(port, 5);
        send_all(fd, head, proxy_from(head, 7));
        status = get_on(fd, "/ok", hdr, sizeof(hdr));
        close(fd);
    }
    UT_EQ(status, 200);
    close(held[1]);
    stop_server(srv);
    rsp_metrics_free(m);
}

/* HTTP/2 over plain TCP (prior knowledge): preface and empty SETTINGS. */
static int h2_open(uint16_t port)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    int fd = dial(port, 5);
    send_all(fd, preface, sizeof(preface) - 1);
    send_all(fd, settings, sizeof(settings));
    return fd;
}

/* HEADERS (END_STREAM | END_HEADERS) for GET path on stream id. */
static void h2_get(int fd, uint32_t id, const char *path)
{
    uint8_t f[96];
    size_t pl = strlen(path), n = 0;
    /* HPACK: :method GET, :scheme http, :path literal (indexed name 4), :authority "t". */
    uint8_t block[64] = {0x82, 0x86, 0x04, (uint8_t)pl};
    memcpy(block + 4, path, pl);
    n = 4 + pl;
    block[n++] = 0x01;
    block[n++] = 1;
    block[n++] = 't';
    uint8_t h[9] = {
        0, 0, (uint8_t)n, 1, 0x05, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    memcpy(f, h, 9);
    memcpy(f + 9, block, n);
    send_all(fd, f, 9 + n);
}

/* Reads frames until a frame of `type` (on `stream`, or any with stream -1): 1 if found, 0 when the read
 * guard ran out, -1 when the server closed the connection. */
static int h2_wait_frame(int fd, int type, long stream)
{
    for (int frames = 0; frames < 200; frames++) {
        uint8_t h[9];
        size_t got = 0;
        while (got < 9) {
            ssize_t r = read(fd, h + got, 9 - got);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && got == 0)
                return 0;
            if (r <= 0)
                return -1;
            got += (size_t)r;
        }
        size_t len = ((size_t)h[0] << 16) | ((size_t)h[1] << 8) | h[2];
        uint32_t id = ((uint32_t)(h[5] & 0x7f) << 24) | ((uint32_t)h[6] << 16) | ((uint32_t)h[7] << 8) | h[8];
        uint8_t skip[16384];
        while (len > 0) {
            ssize_t r = read(fd, skip, len < sizeof(skip) ? len : sizeof(skip));
            if (r <= 0)
                return -1;
            len -= (size_t)r;
        }
        if (h[3] == type && (stream < 0 || id == (uint32_t)stream))
            return 1;
    }
    return 0;
}

static void test_idle_timeout_ignores_pings(void)
{
    rsp_metrics *m = rsp_metrics_new();
    rsp_http_listener_config_t lc = {.name = "dev", .plain = 1, .idle_timeout_ms = 1000};
    uint16_t port;
    rsp_http_server_t *srv = start_server(&lc, m, &port);
    UT_CHECK(srv != NULL);
    int fd = h2_open(port);
    h2_get(fd, 1, "/ok");
    UT_EQ(h2_wait_frame(fd, 1, 1), 1); /* the response HEADERS */
    /* PINGs every 200 ms keep h2o's own idle timer alive; the limit counts requests only. */
    static const uint8_t ping[17] = {0, 0, 8, 6, 0, 0, 0, 0, 0, 'k', 'e', 'e', 'p', 'a', 'l', 'i', 'v'};
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int goaway = 0;
    for (int i = 0; i < 50 && goaway == 0; i++) { /* bounded: 10 s */
        if (send_all(fd, ping, sizeof(ping)) != 0)
            break;
        goaway = h2_wait_frame(fd, 7, 0);
    }
    UT_EQ(goaway, 1); /* GOAWAY, not just a closed socket */
    close(fd);
    UT_EQ(metric(m, RSP_HTTP_METRIC_CONN_CLOSED, "listener=\"dev\",reason=\"idle_timeout\""), 1);
    stop_server(srv);
    rsp_metrics_free(m);
}

static void test_max_streams(void)
{
    rsp_metrics *m = rsp_metrics_new();
    rsp_http_listener_config_t lc = {.name = "dev", .plain = 1, .max_streams = 1};
    uint16_t port;
    rsp_http_server_t *srv = start_server(&lc, m, &port);
    UT_CHECK(srv != NULL);
    int fd = h2_open(port);
    h2_get(fd, 1, "/slow");
    h2_get(fd, 3, "/slow");
    /* Stream 3 is answered (503) while stream 1 is still deferred. */
    UT_EQ(h2_wait_frame(fd, 1, 3), 1);
    UT_EQ(metric(m, RSP_HTTP_METRIC_CONN_REFUSED, "listener=\"dev\",reason=\"max_streams\""), 1);
    UT_EQ(h2_wait_frame(fd, 1, 1), 1);
    close(fd);
    stop_server(srv);
    rsp_metrics_free(m);
}

static char tmpdir[256];

static int write_self_signed(char *cert, char *key, size_t cap)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (k == NULL || x == NULL)
        return -1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"t", -1,
                               -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    snprintf(cert, cap, "%s/cert.pem", tmpdir);
    snprintf(key, cap, "%s/key.pem", tmpdir);
    FILE *fc = fopen(cert, "w"), *fk = fopen(key, "w");
    int ok = fc != NULL && fk != NULL && PEM_write_X509(fc, x) == 1 &&
             PEM_write_PrivateKey(fk, k, NULL, NULL, 0, NULL, NULL) == 1;
    if (fc != NULL)
        fclose(fc);
    if (fk != NULL)
        fclose(fk);
    X509_free(x);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

static void test_handshake_limits(void)
{
    char cert[512], key[512];
    UT_EQ(write_self_signed(cert, key, sizeof(cert)), 0);
    rsp_metrics *m = rsp_metrics_new();
    rsp_http_listener_config_t lc = {
        .name = "tls", .cert_file = cert, .key_file = key, .handshake_timeout_ms = 1000, .max_handshakes = 1};
    uint16_t port;
    rsp_http_server_t *srv = start_server(&lc, m, &port);
    UT_CHECK(srv != NULL);
    /* A client that never sends its ClientHello holds the one handshake slot ... */
    int mute = dial(port, 10);
    nap_ms(100);
    /* ... so the next connection is closed at once, before any TLS byte ... */
    int next = dial(port, 10);
    UT_CHECK(closed_by_server(next));
    close(next);
    UT_CHECK(metric(m, RSP_HTTP_METRIC_CONN_REFUSED, "listener=\"tls\",reason=\"max_handshakes\"") >= 1);
    /* ... and the mute one at its handshake timeout. */
    UT_CHECK(closed_by_server(mute));
    close(mute);
    UT_EQ(metric(m, RSP_HTTP_METRIC_CONN_CLOSED, "listener=\"tls\",reason=\"handshake_timeout\""), 1);
    stop_server(srv);
    rsp_metrics_free(m);
    unlink(cert);
    unlink(key);
}

/* ---------------------------------------------------------------- child server at its descriptor limit */

/* CPU seconds (user + system) the process has used, from /proc/<pid>/stat; -1 on error. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    /* After the name: state, then fields 4..13, then utime (14) and stime (15). */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * Forks a server whose soft and hard RLIMIT_NOFILE leave `room` descriptors above what it has open; with
 * fill set it then takes every free descriptor itself for 3 s (as a store or log could), so accept()
 * fails with EMFILE.  Returns the child's pid and its port.
 */
static pid_t fork_server(long room, int fill, uint16_t *port)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0) {
        close(p[1]);
        ssize_t r = pid > 0 ? read(p[0], port, sizeof(*port)) : -1;
        close(p[0]);
        return r == (ssize_t)sizeof(*port) ? pid : -1;
    }
    close(p[0]);
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)(rsp_limits_open_fds() + room);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(2);
    metrics_reg = rsp_metrics_new();
    rsp_http_listener_config_t lc = {.name = "dev", .plain = 1};
    uint16_t bound = 0;
    rsp_http_server_t *srv = start_server(&lc, metrics_reg, &bound);
    if (srv == NULL)
        _exit(3);
    int fillers[4096], nf = 0;
    while (fill && nf < 4096 && (fillers[nf] = open("/dev/null", O_RDONLY)) >= 0)
        nf++;
    if (write(p[1], &bound, sizeof(bound)) != (ssize_t)sizeof(bound))
        _exit(4);
    close(p[1]);
    nap_ms(3000);
    while (nf > 0)
        close(fillers[--nf]);
    for (int i = 0; i < 600; i++) /* the parent kills it long before */
        nap_ms(100);
    _exit(0);
}

static void end_child(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int offer(uint16_t port, int *fds, int n)
{
    int opened = 0;
    for (int i = 0; i < n; i++)
        if ((fds[i] = dial(port, 5)) >= 0)
            opened++;
    return opened;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* /healthz, retried for a bounded while (overflow connections of the offer are closed after ~2 s). */
static int healthz_answers(uint16_t port)
{
    char hdr[2048];
    for (int i = 0; i < 40; i++) {
        if (get_new(port, "/healthz", hdr, sizeof(hdr)) == 200)
            return 1;
        nap_ms(250);
    }
    return 0;
}

static long long child_metric(uint16_t port, const char *name, const char *labels)
{
    int fd = dial(port, 5);
    if (fd < 0)
        return -1;
    static char buf[65536];
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    send_all(fd, req, sizeof(req) - 1);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    return series(buf, name, labels);
}

#define OFFERED 120

static void test_fd_budget_no_spin(void)
{
    uint16_t port = 0;
    /* Room for the reserve, the worker's loop and about 20 connections. */
    pid_t pid = fork_server(RSP_LIMITS_FD_RESERVE + 4 + 20, 0, &port);
    UT_CHECK(pid > 0);
    if (pid <= 0)
        return;
    int fds[OFFERED];
    UT_EQ(offer(port, fds, OFFERED), OFFERED);
    nap_ms(300);
    double c0 = cpu_seconds(pid);
    nap_ms(2000);
    double c1 = cpu_seconds(pid);
    /* A spinning accept loop burns the whole 2 s; refusing costs next to nothing. */
    UT_CHECK(c0 >= 0 && c1 - c0 < 0.5);
    UT_CHECK(healthz_answers(port));
    UT_CHECK(child_metric(port, RSP_HTTP_METRIC_CONN_REFUSED, "listener=\"dev\",reason=\"fd_limit\"") > 0);
    close_all(fds, OFFERED);
    end_child(pid);
}

static void test_emfile_no_spin(void)
{
    uint16_t port = 0;
    pid_t pid = fork_server(RSP_LIMITS_FD_RESERVE + 40, 1, &port);
    UT_CHECK(pid > 0);
    if (pid <= 0)
        return;
    int fds[20];
    UT_EQ(offer(port, fds, 20), 20); /* the kernel's backlog takes them: accept() fails with EMFILE */
    nap_ms(200);
    double c0 = cpu_seconds(pid);
    nap_ms(2000);
    double c1 = cpu_seconds(pid);
    UT_CHECK(c0 >= 0 && c1 - c0 < 0.5);
    /* The child lets its descriptors go after 3 s: accepting resumes, pending connections are served. */
    char hdr[2048];
    UT_EQ(get_on(fds[0], "/ok", hdr, sizeof(hdr)), 200);
    UT_CHECK(healthz_answers(port));
    UT_CHECK(child_metric(port, RSP_HTTP_METRIC_CONN_REFUSED, "listener=\"dev\",reason=\"accept_error\"") >
             0);
    close_all(fds, 20);
    end_child(pid);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *t = getenv("TEST_TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s", t ? t : "/tmp");
    UT_RUN(test_client_table);
    UT_RUN(test_descriptors);
    /* The forking tests first, while this process runs no server threads. */
    UT_RUN(test_fd_budget_no_spin);
    UT_RUN(test_emfile_no_spin);
    UT_RUN(test_max_connections);
    UT_RUN(test_per_client_behind_proxy);
    UT_RUN(test_idle_timeout_ignores_pings);
    UT_RUN(test_max_streams);
    UT_RUN(test_handshake_limits);
    return ut_finish();
}
