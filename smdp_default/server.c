#include "smdp_default/server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp/crl.h"
#include "rsp/db.h"
#include "rsp/es.h"
#include "rsp/log.h"
#include "smdp_default/call.h"

#define ARENA_DEFAULT (1024 * 1024)
#define ARENA_BPP (64 * 1024 * 1024) /* the base64 BPP is written into the request's arena */
#define SENDS_MAX 64                 /* outgoing calls of ES2+ requests in flight (one thread each) */

/* A request waiting for its order change; malloc'd because it outlives the
 * handler and, if the client goes away, the request itself. */
typedef struct pending {
    smdp_t *x;
    smdp_call *call;
    rsp_es_ctx *c; /* in the request's pool: only valid while the request is */
    rsp_http_deferred_t *d;
    bool submit_failed;
    int next;          /* the call's step waiting for the durable replay record */
    int replay_result; /* its outcome */
} pending;

static void reply(rsp_es_ctx *c, smdp_call *call)
{
    rsp_status st = smdp_call_status(call);
    c->detail = smdp_call_detail(call);
    const char *peer = smdp_call_peer(call);
    if (peer)
        c->peer = rsp_arena_strndup(c->arena, peer, strlen(peer));
    const char *call_id = smdp_call_call_id(call);
    if (call_id)
        c->call_id = rsp_arena_strndup(c->arena, call_id, strlen(call_id));
    if (smdp_call_is_notification(call)) {
        rsp_http_send_empty(c->req, 204, RSP_HTTP_ES);
        rsp_es_finish(c, 204, st);
    } else if (st != RSP_OK) {
        rsp_es_reply_status_msg(c, st, smdp_call_message(call));
    } else {
        rsp_jsonw w;
        rsp_es_reply_begin(c, &w, RSP_OK);
        smdp_call_write(call, &w);
        rsp_es_reply_end(c, &w, RSP_OK);
    }
}

static int resumed(h2o_req_t *req, void *arg);

static void op_done(smdp_op *op)
{
    smdp_call *call = smdp_call_of_op(op);
    pending *p = smdp_call_user(call);
    smdp_call_op_done(call);
    rsp_http_resume(p->d, resumed, p);
}

/* Defers the request and submits the call's op; the reply comes from resumed(). */
static void submit(pending *p)
{
    smdp_op *op = smdp_call_op(p->call);
    op->done = op_done;
    p->submit_failed = false;
    if (smdp_orders_submit(p->x->store, op) != 0) {
        p->submit_failed = true;
        rsp_http_resume(p->d, resumed, p);
    }
}

static void drive(pending *p, int r);

static atomic_int sends_in_flight;

static void *send_main(void *arg)
{
    pending *p = arg;
    smdp_call_send(p->call);
    atomic_fetch_sub(&sends_in_flight, 1);
    rsp_http_resume(p->d, resumed, p);
    return NULL;
}

/* Makes the call's outgoing call on a thread of its own (it blocks for up to its deadline, the worker
 * must not); beyond SENDS_MAX, or without a thread, the call goes on as if it had failed for now. */
static void send_async(pending *p)
{
    pthread_attr_t attr;
    pthread_t t;
    bool started = false;
    if (atomic_fetch_add(&sends_in_flight, 1) < SENDS_MAX && pthread_attr_init(&attr) == 0) {
        started = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_create(&t, &attr, send_main, p) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) {
        atomic_fetch_sub(&sends_in_flight, 1);
        smdp_call_send_skip(p->call);
        rsp_http_resume(p->d, resumed, p);
    }
}

void smdp_server_quiesce(void)
{
    /* a send and the DeleteEvent that may follow it, each at most the 60 s the deadline allows */
    for (int i = 0; i < 13000 && atomic_load(&sends_in_flight) > 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
}

/* Frees p when its request went away (req NULL) and says so. */
static bool gone(h2o_req_t *req, pending *p)
{
    if (req)
        return false;
    smdp_call_free(p->call);
    free(p);
    return true;
}

static int replay_resumed(h2o_req_t *req, void *arg)
{
    pending *p = arg;
    if (gone(req, p))
        return 0;
    drive(p, smdp_call_replay_done(p->call, p->next, p->replay_result));
    return 0;
}

static void replay_recorded(void *arg, int result)
{
    pending *p = arg;
    p->replay_result = result;
    rsp_http_resume(p->d, replay_resumed, p);
}

/* Runs the call until it needs a write (then defers) or is done (then replies); a consumed
 * transaction is made durable first. */
static void drive(pending *p, int r)
{
    const uint8_t *tid;
    uint32_t expiry;
    if (smdp_call_replay_pending(p->call, &tid, &expiry)) {
        if ((p->d = rsp_http_defer(p->c->req)) == NULL) {
            r = smdp_call_replay_done(p->call, r, RSP_REPLAY_ERROR);
        } else {
            p->next = r;
            int rc = rsp_replay_commit(p->x->replay, tid, expiry, time(NULL), replay_recorded, p);
            if (rc != RSP_REPLAY_PENDING)
                replay_recorded(p, rc);
            return;
        }
    }
    if (r != SMDP_CALL_DONE && (p->d = rsp_http_defer(p->c->req)) != NULL) {
        if (r == SMDP_CALL_SEND)
            send_async(p);
        else
            submit(p);
        return;
    }
    if (r != SMDP_CALL_DONE) {
        p->c->detail = "out of memory";
        rsp_es_reply_status(p->c, RSP_ST_INTERNAL);
    } else {
        reply(p->c, p->call);
    }
    smdp_call_free(p->call);
    free(p);
}

static int resumed(h2o_req_t *req, void *arg)
{
    pending *p = arg;
    if (gone(req, p))
        return 0;
    if (p->submit_failed) {
        p->c->detail = "store queue";
        rsp_es_reply_status(p->c, RSP_ST_INTERNAL);
        smdp_call_free(p->call);
        free(p);
        return 0;
    }
    drive(p, smdp_call_resume(p->call));
    return 0;
}

static int handle_call(h2o_req_t *req, smdp_t *x, smdp_fn fn)
{
    size_t arena = fn == SMDP_FN_GET_BPP ? ARENA_BPP : ARENA_DEFAULT;
    rsp_es_ctx *c = fn == SMDP_FN_HANDLE_NOTIFICATION
                        ? rsp_es_begin_notification(req, smdp_fn_name(fn), x->metrics, arena)
                        : rsp_es_begin(req, smdp_fn_name(fn), x->metrics, arena);
    if (!c)
        return 0;
    const char *cn = smdp_fn_is_es2(fn) ? rsp_http_peer(req) : NULL;
    pending *p = calloc(1, sizeof(*p));
    smdp_call *call = p ? smdp_call_new(x, fn, cn, time(NULL)) : NULL;
    if (!call) {
        free(p);
        c->detail = "out of memory";
        rsp_es_reply_status(c, RSP_ST_INTERNAL);
        return 0;
    }
    p->x = x;
    p->call = call;
    p->c = c;
    smdp_call_set_user(call, p);
    drive(p, smdp_call_start(call, c->doc));
    return 0;
}

/* Overload admission (rsp/admit.h) in front of the ES9+ calls: a refused call gets 503 before any
 * parsing or crypto; InitiateAuthentication starts a session, the others continue one and are preferred.
 * ES2+ (operators, server-to-server) is not subject to it. */
static int handle(h2o_req_t *req, smdp_t *x, smdp_fn fn)
{
    if (smdp_fn_is_es2(fn))
        return handle_call(req, x, fn);
    rsp_admit_ticket t;
    rsp_admit_class cls = fn == SMDP_FN_INITIATE_AUTH ? RSP_ADMIT_NEW : RSP_ADMIT_ONGOING;
    if (!rsp_admit_request(x->admit, req, cls, smdp_fn_name(fn), &t))
        return 0;
    int rc = handle_call(req, x, fn);
    rsp_admit_done(x->admit, &t, rsp_es_now_us());
    return rc;
}

/* One handler per function: the route context is the service, the function is fixed. */
#define HANDLER(name, fn)                                                                                    \
    static int name(h2o_req_t *req, void *ctx)                                                               \
    {                                                                                                        \
        return handle(req, ctx, fn);                                                                         \
    }
HANDLER(h_initiate, SMDP_FN_INITIATE_AUTH)
HANDLER(h_authenticate, SMDP_FN_AUTH_CLIENT)
HANDLER(h_get_bpp, SMDP_FN_GET_BPP)
HANDLER(h_notification, SMDP_FN_HANDLE_NOTIFICATION)
HANDLER(h_cancel_session, SMDP_FN_CANCEL_SESSION)
HANDLER(h_download_order, SMDP_FN_DOWNLOAD_ORDER)
HANDLER(h_confirm_order, SMDP_FN_CONFIRM_ORDER)
HANDLER(h_cancel_order, SMDP_FN_CANCEL_ORDER)
HANDLER(h_release_profile, SMDP_FN_RELEASE_PROFILE)

/* ---- /metrics ---- */

char *smdp_metrics_text(smdp_t *x, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    if (x->metrics) {
        size_t rl;
        char *reg = rsp_metrics_render(x->metrics, &rl);
        if (reg)
            fwrite(reg, 1, rl, f);
        free(reg);
    }
    smdp_outbox_stats ob;
    if (smdp_outbox_stats_get(x->outbox, &ob) == 0) {
        rsp_metrics_write(f, RSP_METRIC_GAUGE, "smdp_outbox_pending", "outbox items waiting for delivery",
                          ob.pending);
        rsp_metrics_write(f, RSP_METRIC_GAUGE, "smdp_outbox_oldest_seconds",
                          "age of the oldest undelivered outbox item",
                          ob.oldest ? (uint64_t)time(NULL) - ob.oldest : 0);
        rsp_metrics_write(f, RSP_METRIC_COUNTER, "smdp_outbox_sent_total",
                          "outbox items delivered by this process", ob.sent);
        rsp_metrics_write(f, RSP_METRIC_COUNTER, "smdp_outbox_retries_total",
                          "outbox attempts that will be retried", ob.retries);
        rsp_metrics_write(f, RSP_METRIC_COUNTER, "smdp_outbox_dropped_total", "outbox items given up",
                          ob.dropped);
    }
    uint64_t hits = 0, misses = 0;
    rsp_eum_cache_stats(x->eum_cache, &hits, &misses);
    rsp_metrics_write(f, RSP_METRIC_COUNTER, "smdp_eum_cache_hits_total",
                      "EUM certificates found already verified", hits);
    rsp_metrics_write(f, RSP_METRIC_COUNTER, "smdp_eum_cache_misses_total",
                      "EUM certificates verified in full", misses);
    rsp_metrics_write(f, RSP_METRIC_COUNTER, "smdp_crl_untrusted_total",
                      "uses of a CRL not signed by its issuer or past its nextUpdate (crl_policy)",
                      rsp_crl_untrusted_total());
    smdp_orders_metrics(x->store, f);
    rsp_replay_stats rs;
    rsp_replay_stats_get(x->replay, &rs);
    rsp_replay_stats_write(f, "smdp", &rs);
    rsp_http_stats_write(f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int metrics(h2o_req_t *req, void *ctx)
{
    size_t len = 0;
    char *text = smdp_metrics_text(ctx, &len);
    rsp_http_send_metrics(req, text, len);
    return 0;
}

/* ---- routes ---- */

int smdp_server_routes(rsp_http_server_t *srv, int device, int s2s, smdp_t *x, bool metrics_on_device)
{
    static const rsp_http_handler_fn handlers[SMDP_FN__COUNT] = {
        [SMDP_FN_INITIATE_AUTH] = h_initiate,
        [SMDP_FN_AUTH_CLIENT] = h_authenticate,
        [SMDP_FN_GET_BPP] = h_get_bpp,
        [SMDP_FN_HANDLE_NOTIFICATION] = h_notification,
        [SMDP_FN_CANCEL_SESSION] = h_cancel_session,
        [SMDP_FN_DOWNLOAD_ORDER] = h_download_order,
        [SMDP_FN_CONFIRM_ORDER] = h_confirm_order,
        [SMDP_FN_CANCEL_ORDER] = h_cancel_order,
        [SMDP_FN_RELEASE_PROFILE] = h_release_profile,
    };
    for (int fn = 0; fn < SMDP_FN__COUNT; fn++) {
        bool es2 = smdp_fn_is_es2((smdp_fn)fn);
        char path[128];
        snprintf(path, sizeof(path), "/gsma/rsp2/%s/%s", es2 ? "es2plus" : "es9plus",
                 smdp_fn_path((smdp_fn)fn));
        if (rsp_http_route(srv, es2 ? s2s : device, "POST", path, handlers[fn], x) != 0)
            return -1;
    }
    if (rsp_http_route(srv, s2s, "GET", "/metrics", metrics, x) != 0)
        return -1;
    if (metrics_on_device && rsp_http_route(srv, device, "GET", "/metrics", metrics, x) != 0)
        return -1;
    return 0;
}
