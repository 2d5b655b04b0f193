#include "smds/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp/crl.h"
#include "rsp/es.h"
#include "smds/es11.h"
#include "smds/es12.h"

/* Records the handler's reason for the access log; on a refusal answers it and returns true. */
static bool refused(rsp_es_ctx *c, rsp_status st, const smds_msg *msg)
{
    c->detail = msg->detail;
    if (st == RSP_OK)
        return false;
    rsp_es_reply_status_msg(c, st, msg->message);
    return true;
}

/* ---- ES11 ---- */

/* Overload admission (rsp/admit.h) in front of an ES11 handler: refused calls get 503 before any
 * parsing or crypto; admitted ones are charged the handler's time. */
static int admitted(h2o_req_t *req, smds_t *x, rsp_admit_class cls, const char *function,
                    rsp_http_handler_fn fn)
{
    rsp_admit_ticket t;
    if (!rsp_admit_request(x->admit, req, cls, function, &t))
        return 0;
    int rc = fn(req, x);
    rsp_admit_done(x->admit, &t, rsp_es_now_us());
    return rc;
}

static int es11_initiate_run(h2o_req_t *req, void *ctx)
{
    smds_t *x = ctx;
    rsp_es_ctx *c = rsp_es_begin(req, "ES11.InitiateAuthentication", x->metrics, 0);
    if (!c)
        return 0;
    smds_msg msg = {0};
    smds_es11_init_result r;
    if (refused(c, smds_es11_initiate(x, c->arena, c->doc, time(NULL), &r, &msg), &msg))
        return 0;
    rsp_jsonw w;
    rsp_es_reply_begin(c, &w, RSP_OK);
    smds_es11_initiate_write(&w, &r);
    rsp_es_reply_end(c, &w, RSP_OK);
    smds_es11_init_result_clear(&r);
    return 0;
}

/* Answers AuthenticateClient with the events found. */
static void es11_auth_reply(rsp_es_ctx *c, smds_es11_auth_result *r)
{
    c->peer = r->eid[0] ? rsp_arena_strndup(c->arena, r->eid, strlen(r->eid)) : NULL;
    rsp_jsonw w;
    rsp_es_reply_begin(c, &w, RSP_OK);
    smds_es11_authenticate_write(&w, r);
    rsp_es_reply_end(c, &w, RSP_OK);
}

/*
 * An AuthenticateClient past its signature checks.  Two steps may wait: the store read (a database
 * backend reads on its pool) and the durable record of the consumed transaction (the answer leaves only
 * once a restart cannot let it be replayed).  The transaction is consumed only after every check passed,
 * the matchingId's included.  malloc'd; c lives in the request's pool, valid only while req is.
 */
typedef struct es11_auth {
    smds_t *x;
    rsp_es_ctx *c;
    rsp_http_deferred_t *d;
    smds_es11_auth_result r;
    time_t now;
    int rc;
    int replay;
    smds_event_list events;
} es11_auth;

static void es11_auth_free(es11_auth *p)
{
    smds_event_list_free(&p->events);
    smds_es11_auth_result_clear(&p->r);
    free(p);
}

static void es11_auth_fail(es11_auth *p, rsp_status st, const char *detail)
{
    p->c->detail = detail;
    rsp_es_reply_status(p->c, st);
    es11_auth_free(p);
}

static int es11_consumed_resumed(h2o_req_t *req, void *arg)
{
    es11_auth *p = arg;
    if (!req) {
        es11_auth_free(p);
    } else if (p->replay == RSP_REPLAY_FRESH) {
        es11_auth_reply(p->c, &p->r);
        es11_auth_free(p);
    } else if (p->replay == RSP_REPLAY_USED) {
        es11_auth_fail(p, RSP_ST_TRANSACTION_UNKNOWN, "transactionId replayed (durable store)");
    } else {
        es11_auth_fail(p, RSP_ST_INTERNAL, "replay store write");
    }
    return 0;
}

static void es11_consumed(void *arg, int result)
{
    es11_auth *p = arg;
    p->replay = result;
    rsp_http_resume(p->d, es11_consumed_resumed, p);
}

/* The events are known: check the matchingId, then consume the transaction and answer. */
static void es11_auth_events(h2o_req_t *req, es11_auth *p)
{
    smds_msg msg = {0};
    rsp_status st = smds_es11_authenticate_events(&p->r, p->rc, &p->events, &msg);
    if (refused(p->c, st, &msg)) {
        es11_auth_free(p);
        return;
    }
    if (!rsp_replay_durable(p->x->replay)) {
        es11_auth_reply(p->c, &p->r);
        es11_auth_free(p);
        return;
    }
    if (!(p->d = rsp_http_defer(req))) {
        es11_auth_fail(p, RSP_ST_INTERNAL, "out of memory");
        return;
    }
    if (rsp_replay_commit(p->x->replay, p->r.tid, p->r.expiry, p->now, es11_consumed, p) !=
        RSP_REPLAY_PENDING) {
        p->replay = RSP_REPLAY_ERROR;
        rsp_http_resume(p->d, es11_consumed_resumed, p);
    }
}

static int es11_listed_resumed(h2o_req_t *req, void *arg)
{
    es11_auth *p = arg;
    if (req)
        es11_auth_events(req, p);
    else
        es11_auth_free(p);
    return 0;
}

static void es11_listed(void *arg, int rc, smds_event_list *l)
{
    es11_auth *p = arg;
    p->rc = rc;
    p->events = *l;
    rsp_http_resume(p->d, es11_listed_resumed, p);
}

static int es11_authenticate_run(h2o_req_t *req, void *ctx)
{
    smds_t *x = ctx;
    rsp_es_ctx *c = rsp_es_begin(req, "ES11.AuthenticateClient", x->metrics, 0);
    if (!c)
        return 0;
    smds_msg msg = {0};
    smds_es11_auth_result r;
    time_t now = time(NULL);
    if (refused(c, smds_es11_authenticate_verify(x, c->arena, c->doc, now, &r, &msg), &msg)) {
        smds_es11_auth_result_clear(&r);
        return 0;
    }
    es11_auth *p = calloc(1, sizeof(*p));
    if (!p) {
        smds_es11_auth_result_clear(&r);
        c->detail = "out of memory";
        rsp_es_reply_status(c, RSP_ST_INTERNAL);
        return 0;
    }
    *p = (es11_auth){.x = x, .c = c, .r = r, .now = now};
    if (smds_store_reads_inline(x->store)) {
        p->rc = smds_store_list(x->store, p->r.eid, now, &p->events);
        es11_auth_events(req, p);
        return 0;
    }
    /* The database read runs on the store's reader pool; this worker serves others meanwhile. */
    if (!(p->d = rsp_http_defer(req))) {
        es11_auth_fail(p, RSP_ST_INTERNAL, "out of memory");
        return 0;
    }
    if (smds_store_list_async(x->store, p->r.eid, now, es11_listed, p) != 0) {
        p->rc = -1; /* database down or overloaded: a quick retryable answer */
        rsp_http_resume(p->d, es11_listed_resumed, p);
    }
    return 0;
}

static int es11_initiate(h2o_req_t *req, void *ctx)
{
    return admitted(req, ctx, RSP_ADMIT_NEW, "ES11.InitiateAuthentication", es11_initiate_run);
}

static int es11_authenticate(h2o_req_t *req, void *ctx)
{
    return admitted(req, ctx, RSP_ADMIT_ONGOING, "ES11.AuthenticateClient", es11_authenticate_run);
}

/* ---- ES12 / ES15 ---- */

/* A request waiting for its write; malloc'd because it outlives the handler
 * and, if the client goes away, the request itself. */
typedef struct pending {
    rsp_es_ctx *c; /* in the request's pool: only valid while req is */
    rsp_http_deferred_t *d;
    rsp_status st;
    const char *detail;
} pending;

static int resumed(h2o_req_t *req, void *arg)
{
    pending *p = arg;
    if (req) {
        p->c->detail = p->detail;
        rsp_es_reply_status(p->c, p->st);
    }
    free(p);
    return 0;
}

static void write_done(void *arg, rsp_status st, const char *detail)
{
    pending *p = arg;
    p->st = st;
    p->detail = detail;
    rsp_http_resume(p->d, resumed, p);
}

static rsp_es_ctx *s2s_begin(h2o_req_t *req, smds_t *x, const char *function, smds_caller *who, bool *have)
{
    rsp_es_ctx *c = rsp_es_begin(req, function, x->metrics, 0);
    if (!c)
        return NULL;
    *have = smds_caller_from_peer(rsp_http_peer(req), c->arena, who) == 0;
    c->peer = *have ? who->owner : NULL;
    return c;
}

static pending *defer(rsp_es_ctx *c)
{
    pending *p = calloc(1, sizeof(*p));
    if (p && !(p->d = rsp_http_defer(c->req))) {
        free(p);
        p = NULL;
    }
    if (!p) {
        c->detail = "out of memory";
        rsp_es_reply_status(c, RSP_ST_INTERNAL);
        return NULL;
    }
    p->c = c;
    return p;
}

/* RegisterEvent (del false) or DeleteEvent over ES12 or ES15: parse, then write to the store and answer
 * when the write is committed. */
static int event_call(h2o_req_t *req, smds_t *x, int iface, bool del)
{
    static const char *const names[2][2] = {{"ES12.RegisterEvent", "ES12.DeleteEvent"},
                                            {"ES15.RegisterEvent", "ES15.DeleteEvent"}};
    smds_caller who;
    bool have;
    rsp_es_ctx *c = s2s_begin(req, x, names[iface == SMDS_ES15][del], &who, &have);
    if (!c)
        return 0;
    const smds_caller *caller = have ? &who : NULL;
    smds_msg msg = {0};
    smds_event ev;
    bool forward = false;
    rsp_status st = del ? smds_es12_parse_delete(x, c->doc, caller, iface, ev.eid, ev.event_id, &msg)
                        : smds_es12_parse_register(x, c->doc, caller, iface, &ev, &forward, &msg);
    if (refused(c, st, &msg))
        return 0;
    pending *p = defer(c);
    if (p && del)
        smds_event_delete(x, ev.eid, ev.event_id, who.owner, write_done, p);
    else if (p)
        smds_event_register(x, &ev, forward, time(NULL), write_done, p);
    return 0;
}

static int es12_register(h2o_req_t *req, void *ctx)
{
    return event_call(req, ctx, SMDS_ES12, false);
}

static int es12_delete(h2o_req_t *req, void *ctx)
{
    return event_call(req, ctx, SMDS_ES12, true);
}

static int es15_register(h2o_req_t *req, void *ctx)
{
    return event_call(req, ctx, SMDS_ES15, false);
}

static int es15_delete(h2o_req_t *req, void *ctx)
{
    return event_call(req, ctx, SMDS_ES15, true);
}

/* ---- /metrics ---- */

char *smds_metrics_text(smds_t *x, size_t *len)
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
    smds_store_metrics(x->store, f);
    uint64_t hits = 0, misses = 0;
    rsp_eum_cache_stats(x->eum_cache, &hits, &misses);
    rsp_metrics_write(f, RSP_METRIC_COUNTER, "smds_eum_cache_hits_total",
                      "EUM certificates found already verified", hits);
    rsp_metrics_write(f, RSP_METRIC_COUNTER, "smds_eum_cache_misses_total",
                      "EUM certificates verified in full", misses);
    rsp_metrics_write(f, RSP_METRIC_COUNTER, "smds_crl_untrusted_total",
                      "uses of a CRL not signed by its issuer or past its nextUpdate (crl_policy)",
                      rsp_crl_untrusted_total());

    rsp_replay_stats rs;
    rsp_replay_stats_get(x->replay, &rs);
    rsp_replay_stats_write(f, "smds", &rs);
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
    char *text = smds_metrics_text(ctx, &len);
    rsp_http_send_metrics(req, text, len);
    return 0;
}

/* ---- routes ---- */

int smds_server_routes(rsp_http_server_t *srv, int device, int s2s, smds_t *x, bool metrics_on_device)
{
    static const struct {
        int on_s2s;
        const char *path;
        rsp_http_handler_fn fn;
    } routes[] = {
        {0, "/gsma/rsp2/es11/initiateAuthentication", es11_initiate},
        {0, "/gsma/rsp2/es11/authenticateClient", es11_authenticate},
        {0, "/gsma/rsp2/es9plus/initiateAuthentication", es11_initiate},
        {0, "/gsma/rsp2/es9plus/authenticateClient", es11_authenticate},
        {1, "/gsma/rsp2/es12/registerEvent", es12_register},
        {1, "/gsma/rsp2/es12/deleteEvent", es12_delete},
        {1, "/gsma/rsp2/es15/registerEvent", es15_register},
        {1, "/gsma/rsp2/es15/deleteEvent", es15_delete},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (rsp_http_route(srv, routes[i].on_s2s ? s2s : device, "POST", routes[i].path, routes[i].fn, x) !=
            0)
            return -1;
    if (rsp_http_route(srv, s2s, "GET", "/metrics", metrics, x) != 0)
        return -1;
    if (metrics_on_device && rsp_http_route(srv, device, "GET", "/metrics", metrics, x) != 0)
        return -1;
    return 0;
}
