#include "tests/fuzz/reqserver.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/h2c.h"
#include "rsp/arena.h"
#include "rsp/json.h"
#include "rsp/log.h"

struct fz_server {
    rsp_http_server_t *srv;
    h2c *client;
};

typedef struct answer {
    bool done;
    int status;
    bool body_ok;
    char why[160];
} answer;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "reqserver: %s: %s\n", what, why);
    abort();
}

fz_server *fz_server_start(fz_routes_fn routes, void *ctx)
{
    /* a line per request would drown libFuzzer's own output; RSP_FUZZ_LOG=1 keeps them */
    if (!getenv("RSP_FUZZ_LOG")) {
        rsp_log_set_access(false);
        rsp_log_set_level(RSP_LOG_ERROR);
    }
    fz_server *s = calloc(1, sizeof(*s));
    rsp_http_server_config_t cfg = {.workers = 1, .drain_timeout_ms = 2000};
    if (!s || !(s->srv = rsp_http_server_new(&cfg)))
        die("server", "out of memory");
    char err[256];
    rsp_http_listener_config_t dev = {.name = "device", .plain = 1}, s2s = {.name = "s2s", .plain = 1};
    int d = rsp_http_listener_add(s->srv, &dev, err, sizeof(err));
    int p = d < 0 ? -1 : rsp_http_listener_add(s->srv, &s2s, err, sizeof(err));
    if (p < 0)
        die("listener", err);
    if (routes(s->srv, d, p, ctx) != 0)
        die("routes", "refused");
    if (rsp_http_server_start(s->srv, err, sizeof(err)) != 0)
        die("start", err);
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", rsp_http_listener_port(s->srv, d));
    h2c_cfg cc = {.base = base};
    if (!(s->client = h2c_connect(&cc, err, sizeof(err))))
        die("connect", err);
    return s;
}

void fz_server_stop(fz_server *s)
{
    if (!s)
        return;
    h2c_close(s->client);
    rsp_http_server_stop(s->srv);
    rsp_http_server_wait(s->srv);
    rsp_http_server_free(s->srv);
    free(s);
}

/* A 200 body must be a GSMA response: a JSON object whose header carries functionExecutionStatus. */
static bool gsma_body(const char *body, size_t len)
{
    rsp_arena *a = rsp_arena_new(1 << 20);
    if (!a)
        abort();
    rsp_json_doc *doc;
    rsp_json_err jerr;
    bool ok = rsp_json_doc_parse(a, body, len, NULL, &doc, &jerr) == RSP_OK && len > 0 && body[0] == '{' &&
              memmem(body, len, "\"functionExecutionStatus\"", 25) != NULL;
    rsp_arena_free(a);
    return ok;
}

static void on_done(void *arg, int status, const char *body, size_t len, const char *err)
{
    answer *an = arg;
    an->done = true;
    an->status = status;
    an->body_ok = status != 200 || gsma_body(body, len);
    snprintf(an->why, sizeof(an->why), "%s", err ? err : "");
}

int fz_server_post(fz_server *s, const char *path, const void *body, size_t len)
{
    static const char *const headers[] = {"content-type", "application/json", "x-admin-protocol",
                                          "gsma/rsp/v2.2.0", NULL};
    answer an = {0};
    if (h2c_post(s->client, path, headers, body, len, on_done, &an) != 0)
        die("post", h2c_error(s->client));
    for (int i = 0; i < 3000 && !an.done; i++)
        if (h2c_run(s->client, 10) != 0 && !an.done)
            die("connection", h2c_error(s->client));
    if (!an.done)
        die(path, "no answer within 30 s");
    if (an.status == 0)
        die(path, an.why);
    static const int allowed[] = {200, 204, 400, 403, 404, 413, 415};
    bool known = false;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        known |= an.status == allowed[i];
    if (!known) {
        char why[32];
        snprintf(why, sizeof(why), "HTTP %d", an.status);
        die(path, why);
    }
    if (!an.body_ok)
        die(path, "a 200 that is not a GSMA response");
    return an.status;
}
