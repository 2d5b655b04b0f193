#include "rsp/es.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "rsp/log.h"

uint64_t rsp_es_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void dispose_ctx(void *p)
{
    rsp_es_ctx *c = p;
    rsp_arena_free(c->arena);
}

static bool header_is(h2o_iovec_t v, const char *prefix)
{
    size_t n = strlen(prefix);
    return v.len >= n && strncasecmp(v.base, prefix, n) == 0;
}

/* application/json, optionally followed by parameters (";charset=UTF-8"). */
static bool json_content_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (!header_is(v, "application/json"))
        return false;
    return v.len == 16 || v.base[16] == ';' || v.base[16] == ' ';
}

/* Absent is accepted (some LPAs omit it); present must be gsma/rsp/v2.* or v3.*. */
static bool admin_protocol_ok(h2o_req_t *req)
{
    static const char name[] = "x-admin-protocol";
    ssize_t i = h2o_find_header_by_str(&req->headers, name, sizeof(name) - 1, -1);
    if (i < 0)
        return true;
    h2o_iovec_t v = req->headers.entries[i].value;
    return header_is(v, "gsma/rsp/v2.") || header_is(v, "gsma/rsp/v3.");
}

static pthread_mutex_t refused_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned refused_rate = 100;
static time_t refused_sec;
static unsigned refused_seen;
static uint64_t refused_dropped;

void rsp_es_set_refused_log_rate(unsigned per_sec)
{
    pthread_mutex_lock(&refused_mu);
    refused_rate = per_sec;
    pthread_mutex_unlock(&refused_mu);
}

bool rsp_es_refused_log_allow(time_t now)
{
    uint64_t dropped = 0;
    pthread_mutex_lock(&refused_mu);
    if (now != refused_sec) {
        dropped = refused_dropped;
        refused_dropped = 0;
        refused_seen = 0;
        refused_sec = now;
    }
    bool ok = refused_rate == 0 || refused_seen < refused_rate;
    if (ok)
        refused_seen++;
    else
        refused_dropped++;
    pthread_mutex_unlock(&refused_mu);
    if (dropped)
        rsp_log(RSP_LOG_WARN,
                "access log: %llu refused-call lines left out (over log.access_refused_per_sec)",
                (unsigned long long)dropped);
    return ok;
}

/* Called before the response goes out: once sent, a client (or a test) may
 * read the metrics, and h2o may dispose of the request. */
void rsp_es_finish(rsp_es_ctx *c, int http_status, rsp_status st)
{
    uint64_t us = rsp_es_now_us() - c->start_us;
    const char *code = http_status == 200 || http_status == 204 ? rsp_status_str(st) : "transport";
    if (c->metrics) {
        char labels[160];
        snprintf(labels, sizeof(labels), "function=\"%s\",code=\"%s\"", c->function, code);
        rsp_metrics_inc(c->metrics, RSP_ES_METRIC_REQUESTS, labels);
        snprintf(labels, sizeof(labels), "function=\"%s\"", c->function);
        rsp_metrics_observe_us(c->metrics, RSP_ES_METRIC_LATENCY, labels, us);
    }
    char path[256];
    snprintf(path, sizeof(path), "%.*s",
             (int)(c->req->path_normalized.len < 255 ? c->req->path_normalized.len : 255),
             c->req->path_normalized.base);
    bool refused = !((http_status == 200 || http_status == 204) && st == RSP_OK);
    if (refused && !rsp_es_refused_log_allow(time(NULL)))
        return;
    char addr[RSP_HTTP_ADDR_MAX];
    rsp_access a = {
        "POST", path,    http_status, c->function, code,
        us,     c->peer, c->detail,   c->call_id,  rsp_http_client_addr(c->req, addr, sizeof(addr))};
    rsp_log_access(&a);
}

static rsp_es_ctx *begin(h2o_req_t *req, const char *function, rsp_metrics *metrics, size_t arena_max,
                         bool notification)
{
    rsp_es_ctx *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), dispose_ctx);
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->function = function;
    c->metrics = metrics;
    c->start_us = rsp_es_now_us();
    c->notification = notification;
    if (!json_content_type(req)) {
        c->detail = "content type";
        rsp_es_finish(c, 415, RSP_ST_BAD_CONTENT_TYPE);
        rsp_http_send_error(req, 415);
        return NULL;
    }
    if (!admin_protocol_ok(req)) {
        c->detail = "x-admin-protocol";
        rsp_es_finish(c, 400, RSP_ST_BAD_ADMIN_PROTOCOL);
        rsp_http_send_error(req, 400);
        return NULL;
    }
    /* Room for the tokens and decoded copies of a body up to the limit. */
    c->arena = rsp_arena_new(arena_max ? arena_max : 1024 * 1024);
    if (!c->arena) {
        rsp_es_finish(c, 500, RSP_ST_INTERNAL);
        rsp_http_send_error(req, 500);
        return NULL;
    }
    rsp_json_err err;
    rsp_status st = rsp_json_doc_parse(c->arena, req->entity.base, req->entity.len, NULL, &c->doc, &err);
    if (st != RSP_OK) {
        char msg[160];
        c->detail = err.reason;
        rsp_es_reply_status_msg(c, st, rsp_json_err_message(&err, msg, sizeof(msg)));
        return NULL;
    }
    return c;
}

rsp_es_ctx *rsp_es_begin(h2o_req_t *req, const char *function, rsp_metrics *metrics, size_t arena_max)
{
    return begin(req, function, metrics, arena_max, false);
}

rsp_es_ctx *rsp_es_begin_notification(h2o_req_t *req, const char *function, rsp_metrics *metrics,
                                      size_t arena_max)
{
    return begin(req, function, metrics, arena_max, true);
}

bool rsp_es_bind(rsp_es_ctx *c, const rsp_json_field *fields, void *base)
{
    rsp_json_err err;
    rsp_status st = rsp_json_bind(c->doc, fields, base, &err);
    if (st == RSP_OK)
        return true;
    char msg[160];
    c->detail = err.reason;
    rsp_es_reply_status_msg(c, st, rsp_json_err_message(&err, msg, sizeof(msg)));
    return false;
}

void rsp_es_reply_begin(rsp_es_ctx *c, rsp_jsonw *w, rsp_status st)
{
    rsp_jsonw_init(w, c->arena, 0);
    rsp_jsonw_obj_begin(w);
    rsp_jsonw_header(w, st);
}

void rsp_es_reply_end(rsp_es_ctx *c, rsp_jsonw *w, rsp_status st)
{
    const char *out;
    size_t len;
    rsp_jsonw_obj_end(w);
    if (rsp_jsonw_finish(w, &out, &len) != 0) {
        rsp_jsonw_free(w);
        c->detail = "response encoding";
        rsp_es_finish(c, 500, RSP_ST_INTERNAL);
        rsp_http_send_error(c->req, 500);
        return;
    }
    rsp_es_finish(c, 200, st);
    rsp_http_send_json(c->req, 200, out, len, RSP_HTTP_ES);
    rsp_jsonw_free(w);
}

static void reply_header(rsp_es_ctx *c, rsp_status st, const char *message)
{
    if (c->notification && st != RSP_OK) {
        rsp_es_finish(c, 204, st);
        rsp_http_send_empty(c->req, 204, RSP_HTTP_ES);
        return;
    }
    rsp_jsonw w;
    rsp_jsonw_init(&w, c->arena, 0);
    rsp_jsonw_obj_begin(&w);
    if (message)
        rsp_jsonw_header_msg(&w, st, message);
    else
        rsp_jsonw_header(&w, st);
    rsp_es_reply_end(c, &w, st);
}

void rsp_es_reply_status(rsp_es_ctx *c, rsp_status st)
{
    reply_header(c, st, NULL);
}

void rsp_es_reply_status_msg(rsp_es_ctx *c, rsp_status st, const char *message)
{
    reply_header(c, st, message);
}

void rsp_es_reply_204(rsp_es_ctx *c)
{
    rsp_es_finish(c, 204, RSP_OK);
    rsp_http_send_empty(c->req, 204, RSP_HTTP_ES);
}
