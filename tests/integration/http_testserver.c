/*
 * http_testserver - a small server on rsp/http for tests/integration/http_smoke_test.sh.
 *
 * Listeners: "device" (TLS), "s2s" (mutual TLS required, identity = client certificate CN) and
 * "plain" (plain HTTP), all on port 0; the bound ports go to --port-file as "<name> <port>" lines.
 * Routes on every listener:
 *   POST /echo    body must be a JSON object (checked with jsmn) -> 200 with the same body, ES headers;
 *                 anything else -> 400
 *   POST /notify  -> 204 with X-Admin-Protocol
 *   POST /slow    deferred: a helper thread waits --slow-ms, then the response completes via
 *                 rsp_http_resume -> 200 {"slow":"done"}
 *   POST /whoami  -> 200 {"peer":"<CN>"} or {"peer":null}
 * Flags: --port-file=F --cert=F --key=F --ca=F [--workers=N] [--body-limit=N] [--slow-ms=N]
 *        [--drain-ms=N]
 */
#define JSMN_STATIC
#include <jsmn.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rsp/http.h"

static unsigned slow_ms = 1500;

static int json_object_ok(const char *s, size_t len)
{
    jsmntok_t tok[128];
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, s, len, tok, sizeof(tok) / sizeof(tok[0]));
    return n >= 1 && tok[0].type == JSMN_OBJECT && tok[0].end == (int)len;
}

static int on_echo(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    if (req->entity.base == NULL || !json_object_ok(req->entity.base, req->entity.len)) {
        rsp_http_send_error(req, 400);
        return 0;
    }
    rsp_http_send_json(req, 200, req->entity.base, req->entity.len, RSP_HTTP_ES);
    return 0;
}

static int on_notify(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_send_empty(req, 204, RSP_HTTP_ES);
    return 0;
}

static int slow_done(h2o_req_t *req, void *arg)
{
    (void)arg;
    if (req == NULL)
        return 0; /* client went away */
    static const char body[] = "{\"slow\":\"done\"}";
    rsp_http_send_json(req, 200, body, sizeof(body) - 1, RSP_HTTP_ES);
    return 0;
}

static void *slow_thread(void *arg)
{
    struct timespec ts = {slow_ms / 1000, (long)(slow_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    rsp_http_resume(arg, slow_done, NULL);
    return NULL;
}

static int on_slow(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    rsp_http_deferred_t *d = rsp_http_defer(req);
    pthread_t t;
    if (d == NULL)
        return -1;
    fprintf(stderr, "slow request deferred\n"); /* the test waits for this before stopping the server */
    if (pthread_create(&t, NULL, slow_thread, d) != 0) {
        rsp_http_resume(d, slow_done, NULL); /* answer at once rather than never */
        return 0;
    }
    pthread_detach(t);
    return 0;
}

static int on_whoami(h2o_req_t *req, void *ctx)
{
    (void)ctx;
    const char *cn = rsp_http_peer(req);
    char body[512];
    int n;
    if (cn != NULL && strpbrk(cn, "\"\\") == NULL)
        n = snprintf(body, sizeof(body), "{\"peer\":\"%s\"}", cn);
    else
        n = snprintf(body, sizeof(body), "{\"peer\":null}");
    if (n < 0 || (size_t)n >= sizeof(body))
        return -1;
    rsp_http_send_json(req, 200, body, (size_t)n, 0);
    return 0;
}

static int reload(void *ctx)
{
    char err[256];
    if (rsp_http_server_reload_tls(ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "reload: %s\n", err);
        return -1;
    }
    return 0;
}

static const char *flag(int argc, char **argv, const char *name, const char *def)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return def;
}

int main(int argc, char **argv)
{
    const char *port_file = flag(argc, argv, "--port-file", NULL);
    const char *cert = flag(argc, argv, "--cert", NULL), *key = flag(argc, argv, "--key", NULL);
    const char *ca = flag(argc, argv, "--ca", NULL);
    if (port_file == NULL || cert == NULL || key == NULL || ca == NULL) {
        fprintf(stderr,
                "usage: %s --port-file=F --cert=F --key=F --ca=F [--workers=N] [--body-limit=N] "
                "[--slow-ms=N] [--drain-ms=N]\n",
                argv[0]);
        return 2;
    }
    slow_ms = (unsigned)atoi(flag(argc, argv, "--slow-ms", "1500"));
    rsp_http_server_config_t cfg = {
        .workers = (unsigned)atoi(flag(argc, argv, "--workers", "2")),
        .body_limit = (size_t)atol(flag(argc, argv, "--body-limit", "1024")),
        .drain_timeout_ms = (unsigned)atoi(flag(argc, argv, "--drain-ms", "5000")),
    };
    char err[512];
    rsp_http_server_t *srv = rsp_http_server_new(&cfg);
    if (srv == NULL)
        return 1;
    const char *cas[] = {ca};
    rsp_http_listener_config_t lc[] = {
        {.name = "device", .cert_file = cert, .key_file = key},
        {.name = "s2s",
         .cert_file = cert,
         .key_file = key,
         .client_auth = RSP_HTTP_CLIENT_CERT_REQUIRED,
         .client_ca_files = cas,
         .n_client_ca_files = 1},
        {.name = "plain", .plain = 1},
    };
    int status = 1;
    for (size_t i = 0; i < sizeof(lc) / sizeof(lc[0]); i++) {
        int l = rsp_http_listener_add(srv, &lc[i], err, sizeof(err));
        if (l < 0 || rsp_http_route(srv, l, "POST", "/echo", on_echo, NULL) != 0 ||
            rsp_http_route(srv, l, "POST", "/notify", on_notify, NULL) != 0 ||
            rsp_http_route(srv, l, "POST", "/slow", on_slow, NULL) != 0 ||
            rsp_http_route(srv, l, "POST", "/whoami", on_whoami, NULL) != 0) {
            fprintf(stderr, "setup: %s\n", l < 0 ? err : "route");
            goto out;
        }
    }
    if (rsp_http_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "start: %s\n", err);
        goto out;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        rsp_http_server_stop(srv);
        rsp_http_server_wait(srv);
        goto out;
    }
    for (size_t i = 0; i < sizeof(lc) / sizeof(lc[0]); i++)
        fprintf(f, "%s %u\n", lc[i].name, (unsigned)rsp_http_listener_port(srv, (int)i));
    fclose(f);
    rename(tmp, port_file);
    rsp_http_server_set_ready(srv, 1);
    int cut = rsp_http_server_run(srv, reload, srv);
    fprintf(stderr, "http_testserver: stopped (%d cut)\n", cut);
    status = 0;
out:
    rsp_http_server_free(srv);
    return status;
}
