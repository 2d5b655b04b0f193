/* Unit tests of rsp/service: exit statuses, and one full in-process run over plain HTTP with signals. */
#include "rsp/service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/ut.h"

static char dir[512];
static atomic_int reloads, teardowns, setups;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int get_status(uint16_t port, const char *method, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    char req[256], buf[1024];
    int n =
        snprintf(req, sizeof(req),
                 "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", method, path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    int status = -1;
    if (got > 0) {
        buf[got] = '\0';
        sscanf(buf, "HTTP/1.1 %d", &status);
    }
    return status;
}

static int on_ping(h2o_req_t *req, void *ctx)
{
    rsp_http_send_json(req, 200, "{}", 2, RSP_HTTP_ES);
    UT_CHECK(strcmp(ctx, "svc-ctx") == 0);
    return 0;
}

static int setup(rsp_service_t *svc)
{
    atomic_fetch_add(&setups, 1);
    if (rsp_service_open_log(svc) != 0)
        return -1;
    UT_CHECK(rsp_service_device(svc) == 0 && rsp_service_s2s(svc) == 1);
    UT_CHECK(strstr(rsp_service_state_dir(svc), "/state/svc") != NULL);
    UT_CHECK(strcmp(rsp_config_str(rsp_service_config(svc), "svc.greeting"), "hi") == 0);
    rsp_http_server_t *http = rsp_service_http(svc);
    if (rsp_http_route(http, rsp_service_device(svc), "POST", "/ping", on_ping, rsp_service_ctx(svc)) != 0 ||
        rsp_http_route(http, rsp_service_s2s(svc), "POST", "/ping", on_ping, rsp_service_ctx(svc)) != 0)
        return -1;
    return 0;
}

static void teardown(rsp_service_t *svc)
{
    (void)svc;
    atomic_fetch_add(&teardowns, 1);
}

static int reload(rsp_service_t *svc)
{
    (void)svc;
    atomic_fetch_add(&reloads, 1);
    return 0;
}

static atomic_int healthy = 1;

static int ready(rsp_service_t *svc, char *why, size_t len)
{
    (void)svc;
    if (!atomic_load(&healthy))
        snprintf(why, len, "the test says so");
    return atomic_load(&healthy);
}

static const rsp_config_key_t extra[] = {{"svc", "greeting", RSP_CFG_STR, "hi", 0, 0, "a service key"}};

static const rsp_service_def_t def = {
    .name = "svc",
    .description = "test service",
    .device_port = "0",
    .s2s_port = "0",
    .keys = extra,
    .nkeys = 1,
    .setup = setup,
    .teardown = teardown,
    .reload = reload,
    .ready = ready,
    .ctx = "svc-ctx",
};

static int run(int argc, char **argv)
{
    return rsp_service_main(&def, argc, argv);
}

static void test_exit_statuses(void)
{
    char *help[] = {"svc", "--help", NULL};
    UT_EQ(run(2, help), 0);
    char *bad[] = {"svc", "--nope=1", NULL};
    UT_EQ(run(2, bad), 2);
    char *range[] = {"svc", "--server.workers=-3", NULL};
    UT_EQ(run(2, range), 2);

    char file[600], state[700];
    snprintf(file, sizeof(file), "%s/plainfile", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(state, sizeof(state), "--server.state_dir=%s/sub", file);
    char *nodir[] = {"svc", state, NULL};
    UT_EQ(run(2, nodir), 1);

    snprintf(state, sizeof(state), "--server.state_dir=%s/state/x", dir);
    char *nocert[] = {"svc", state, "--tls.cert=/nonexistent.crt", NULL};
    int before = atomic_load(&setups);
    UT_EQ(run(3, nocert), 1);
    UT_EQ(atomic_load(&setups), before); /* listeners fail before setup */

    /* the common log keys: a level that is none of the four fails setup */
    snprintf(state, sizeof(state), "--server.state_dir=%s/state/svc-log", dir);
    char *badlevel[] = {"svc", state, "--log.level=loud", "--device.plain_http", "--s2s.plain_http", NULL};
    before = atomic_load(&setups);
    UT_EQ(run(5, badlevel), 1);
    UT_EQ(atomic_load(&setups), before + 1);
}

static void *service_thread(void *arg)
{
    char **argv = arg;
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return (void *)(intptr_t)run(argc, argv);
}

static int read_ports(const char *path, uint16_t *dev, uint16_t *s2s)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    unsigned a = 0, b = 0;
    int n = fscanf(f, "device %u\ns2s %u\n", &a, &b);
    fclose(f);
    *dev = (uint16_t)a;
    *s2s = (uint16_t)b;
    return n == 2 ? 0 : -1;
}

static void test_full_run(void)
{
    char state[700], ports[700], portflag[720];
    snprintf(state, sizeof(state), "--server.state_dir=%s/state/svc", dir);
    snprintf(ports, sizeof(ports), "%s/ports", dir);
    snprintf(portflag, sizeof(portflag), "--server.port_file=%s", ports);
    char *argv[] = {"svc",
                    state,
                    portflag,
                    "--device.plain_http",
                    "--s2s.plain_http=yes",
                    "--server.workers=2",
                    "--drain_timeout_ms=3000",
                    NULL};
    pthread_t t;
    UT_EQ(pthread_create(&t, NULL, service_thread, argv), 0);
    uint16_t dev = 0, s2s = 0;
    for (int i = 0; i < 100 && read_ports(ports, &dev, &s2s) != 0; i++)
        sleep_ms(50);
    UT_CHECK(dev != 0 && s2s != 0 && dev != s2s);
    struct stat st;
    char sd[700];
    snprintf(sd, sizeof(sd), "%s/state/svc", dir);
    UT_CHECK(stat(sd, &st) == 0 && S_ISDIR(st.st_mode));
    UT_EQ(get_status(dev, "GET", "/healthz"), 200);
    UT_EQ(get_status(dev, "GET", "/readyz"), 200);
    UT_EQ(get_status(s2s, "GET", "/healthz"), 200);
    UT_EQ(get_status(dev, "POST", "/ping"), 200);
    UT_EQ(get_status(dev, "GET", "/ping"), 405);
    UT_EQ(get_status(dev, "POST", "/none"), 404);
    UT_EQ(get_status(s2s, "POST", "/ping"), 403); /* no client identity without TLS */

    kill(getpid(), SIGHUP);
    for (int i = 0; i < 100 && atomic_load(&reloads) == 0; i++)
        sleep_ms(20);
    UT_EQ(atomic_load(&reloads), 1);
    UT_EQ(get_status(dev, "GET", "/healthz"), 200);

    /* /readyz follows the ready hook (asked once a second); /healthz stays 200. */
    atomic_store(&healthy, 0);
    int status = 0;
    for (int i = 0; i < 60 && (status = get_status(dev, "GET", "/readyz")) != 503; i++)
        sleep_ms(50);
    UT_EQ(status, 503);
    UT_EQ(get_status(dev, "GET", "/healthz"), 200);
    atomic_store(&healthy, 1);
    for (int i = 0; i < 60 && (status = get_status(dev, "GET", "/readyz")) != 200; i++)
        sleep_ms(50);
    UT_EQ(status, 200);

    kill(getpid(), SIGTERM);
    void *rc;
    pthread_join(t, &rc);
    UT_EQ((intptr_t)rc, 0);
    UT_EQ(atomic_load(&teardowns), 1);
    UT_EQ(get_status(dev, "GET", "/healthz"), -1);
    unlink(ports);
}

int main(void)
{
    /* The service thread waits for these signals; no other thread may take them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    const char *base = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/rsp_service_test_XXXXXX", base ? base : "/tmp");
    if (mkdtemp(dir) == NULL)
        return 1;
    UT_RUN(test_exit_statuses);
    UT_RUN(test_full_run);
    return ut_finish();
}
