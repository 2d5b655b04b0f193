/*
 * rsp/es.h - the JSON binding of ES functions over rsp/http (both services).
 *
 * Every ES handler starts with rsp_es_begin(): it checks the transport rules
 * (Content-Type application/json, X-Admin-Protocol gsma/rsp/v2.x or v3.x when
 * present), answers transport failures itself with HTTP 4xx, and otherwise
 * gives the handler a per-request arena (freed with the request) and the
 * parsed JSON document.  Replies are HTTP 200 with the GSMA header (status
 * Executed-Success, or Failed with statusCodeData from rsp/status.h), or 204
 * for notifications.
 *
 * Ownership: the context lives in req->pool; its arena is released when h2o
 * disposes of the request.  Nothing here logs request bodies.
 */
#ifndef RSP_ES_H
#define RSP_ES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "rsp/arena.h"
#include "rsp/http.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"
#include "rsp/metrics.h"
#include "rsp/status.h"

/* Per-request state shared by the ES helpers. */
typedef struct rsp_es_ctx {
    h2o_req_t *req;
    rsp_arena *arena;
    rsp_json_doc *doc;
    const char *function; /* GSMA function name for metrics and logs */
    rsp_metrics *metrics; /* may be NULL */
    uint64_t start_us;
    const char *detail;  /* internal reason for the access log, never sent */
    const char *peer;    /* caller identity for the access log, may be NULL */
    const char *call_id; /* functionCallIdentifier for the access log (server-to-server), may be NULL */
    bool notification;   /* ES notification: every ES-level refusal is answered 204 */
} rsp_es_ctx;

/* Monotonic microseconds. */
uint64_t rsp_es_now_us(void);

/*
 * Starts an ES request.  Returns the context, or NULL when the request was
 * already answered (HTTP 415 for a wrong Content-Type, 400 for an
 * X-Admin-Protocol this server does not speak, 200 + Failed 1.1/2.1 for a
 * body that is not valid JSON within limits, 500 when out of memory).
 */
rsp_es_ctx *rsp_es_begin(h2o_req_t *req, const char *function, rsp_metrics *metrics, size_t arena_max);

/* Same for notification functions (handleNotification, handleDownloadProgressInfo):
 * SGP.22 answers them 204 whatever the outcome, so a body that does not parse
 * or bind gets 204 (logged with its reason) instead of a Failed header.
 * Transport failures (415, 400) stay as they are. */
rsp_es_ctx *rsp_es_begin_notification(h2o_req_t *req, const char *function, rsp_metrics *metrics,
                                      size_t arena_max);

/* Binds the body to a table; on failure answers Failed with the binding
 * error's status and message and returns false. */
bool rsp_es_bind(rsp_es_ctx *c, const rsp_json_field *fields, void *base);

/* Starts a reply body: writer opened with "{" and the GSMA header for st. */
void rsp_es_reply_begin(rsp_es_ctx *c, rsp_jsonw *w, rsp_status st);
/* Closes the body and sends it (HTTP 200). */
void rsp_es_reply_end(rsp_es_ctx *c, rsp_jsonw *w, rsp_status st);

/* Sends a header-only reply for st (Executed-Success for RSP_OK, else Failed). */
void rsp_es_reply_status(rsp_es_ctx *c, rsp_status st);
/* Same with a caller-chosen message (never internal state). */
void rsp_es_reply_status_msg(rsp_es_ctx *c, rsp_status st, const char *message);
/* Sends 204 No Content (ES notifications). */
void rsp_es_reply_204(rsp_es_ctx *c);

/* Records the request in metrics and the access log (called by the reply
 * functions; exposed for handlers that send their own responses, which call
 * it just before sending). */
void rsp_es_finish(rsp_es_ctx *c, int http_status, rsp_status st);

/*
 * Access lines of refused calls (Failed status or HTTP 4xx/5xx) are limited to per_sec a second per
 * process (log.access_refused_per_sec; 0 = no limit), so a flood of bad requests cannot fill the disk;
 * the count left out is logged as one warn line when the next second's first refused call comes.
 * Successful calls are never limited (their volume is the traffic's; log.access and log.level turn
 * them off).  Any thread.
 */
void rsp_es_set_refused_log_rate(unsigned per_sec);
/* Whether one more refused-call line may be written in second now (used by rsp_es_finish; tests). */
bool rsp_es_refused_log_allow(time_t now);

/* Metric names used by every service. */
#define RSP_ES_METRIC_REQUESTS "rsp_requests_total"
#define RSP_ES_METRIC_LATENCY "rsp_request_duration_seconds"

#endif
