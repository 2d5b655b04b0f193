/*
 * smdp_default/call.h - one ES9+ or ES2+ function call of the Default SM-DP+,
 * as a small state machine that needs no socket.
 *
 *   c = smdp_call_new(x, SMDP_FN_..., operator_cn, now);
 *   r = smdp_call_start(c, doc);               -- binds the parsed body, checks, prepares
 *   while (r == SMDP_CALL_OP) {                -- an order change must be made durable
 *       run smdp_call_op(c): smdp_orders_run() in tests and the fuzz target, or
 *       smdp_orders_submit() with a done callback in the server (rsp_http_defer /
 *       rsp_http_resume around it), then
 *       r = smdp_call_resume(c);
 *   }
 *   reply with smdp_call_status(c): smdp_call_write() adds the members after the
 *   header; smdp_call_is_notification(c) asks for 204 instead.
 *   smdp_call_free(c);
 *
 * Both ES2+ functions that release an order with an SM-DS (ConfirmOrder,
 * ReleaseProfile) may first return SMDP_CALL_SEND (see below).
 *
 * smdp_call_run() is that loop with smdp_orders_run() and smdp_call_send().  The op of a call
 * carries the order hook (smdp.h), so each change queues its outbox items in
 * its own transaction; after a change the caller kicks the outbox
 * (smdp_call_op_done).
 *
 * The document passed to start is used only during that call: everything the
 * later steps need is copied into the call's own memory, so a call may outlive
 * the request (a client that went away while its change was committed).
 *
 * Functions, with the checks and GSMA codes of rsp-notes sections 2 and 5:
 * see es9p.c and es2p.c, and docs/smdp.md.
 */
#ifndef SMDP_CALL_H
#define SMDP_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "rsp/json.h"
#include "rsp/jsonw.h"
#include "rsp/status.h"
#include "smdp_default/orders.h"
#include "smdp_default/smdp.h"

typedef enum smdp_fn {
    SMDP_FN_INITIATE_AUTH = 0,   /* ES9+ initiateAuthentication */
    SMDP_FN_AUTH_CLIENT,         /* ES9+ authenticateClient */
    SMDP_FN_GET_BPP,             /* ES9+ getBoundProfilePackage */
    SMDP_FN_HANDLE_NOTIFICATION, /* ES9+ handleNotification */
    SMDP_FN_CANCEL_SESSION,      /* ES9+ cancelSession */
    SMDP_FN_DOWNLOAD_ORDER,      /* ES2+ downloadOrder */
    SMDP_FN_CONFIRM_ORDER,       /* ES2+ confirmOrder */
    SMDP_FN_CANCEL_ORDER,        /* ES2+ cancelOrder */
    SMDP_FN_RELEASE_PROFILE,     /* ES2+ releaseProfile */
    SMDP_FN__COUNT
} smdp_fn;

/* "ES9+.InitiateAuthentication", ... (metrics and logs). */
const char *smdp_fn_name(smdp_fn fn);
/* "initiateAuthentication", ... (the last path element). */
const char *smdp_fn_path(smdp_fn fn);
/* True for the ES2+ functions (server-to-server listener). */
bool smdp_fn_is_es2(smdp_fn fn);

/* SMDP_CALL_SEND: an outgoing call (ES12 RegisterEvent or DeleteEvent, at most
 * smdp_config.register_event_ms) must be made before the call goes on: run
 * smdp_call_send(c) off the event loop (it blocks), or smdp_call_send_skip(c),
 * then smdp_call_resume(c). */
enum { SMDP_CALL_DONE = 0, SMDP_CALL_OP = 1, SMDP_CALL_SEND = 2 };

typedef struct smdp_call smdp_call;

/* operator_cn: the ES2+ caller's client certificate CN (NULL for ES9+ or when
 * there is none).  NULL on allocation failure. */
smdp_call *smdp_call_new(smdp_t *x, smdp_fn fn, const char *operator_cn, time_t now);
void smdp_call_free(smdp_call *c);

int smdp_call_start(smdp_call *c, const rsp_json_doc *doc);
int smdp_call_resume(smdp_call *c);
/* The op to run when start/resume returned SMDP_CALL_OP; its user pointer and
 * hook are set, the caller may set done (op->user must stay). */
smdp_op *smdp_call_op(smdp_call *c);
/* Makes the outgoing call of SMDP_CALL_SEND and keeps its outcome (blocking, any thread). */
void smdp_call_send(smdp_call *c);
/* Or does not make it (no thread for it): counts as a failure for now, so the outbox keeps trying. */
void smdp_call_send_skip(smdp_call *c);
/* After the op ran: kicks the outbox when the op wrote.  Any thread. */
void smdp_call_op_done(smdp_call *c);
/* The call of an op (from a done callback). */
smdp_call *smdp_call_of_op(smdp_op *op);
/* A pointer for the driver's own use (e.g. its pending request). */
void smdp_call_set_user(smdp_call *c, void *user);
void *smdp_call_user(const smdp_call *c);

/*
 * AuthenticateClient consumes its transaction in the service's replay store
 * (rsp/replay.h) once every check passed: the memory step inside start, the
 * durable step by the driver, before the call's op runs or its answer leaves.
 * True when that durable step is due, with the id (RSP_TXN_ID_LEN bytes, in
 * the call) and its expiry.
 */
bool smdp_call_replay_pending(const smdp_call *c, const uint8_t **tid, uint32_t *expiry);
/* The durable step's result (rsp_replay_done_fn): RSP_REPLAY_FRESH returns r
 * unchanged; USED ends the call with 8.10.1/3.9, ERROR with 1.1/5.1 (no op
 * runs): SMDP_CALL_DONE. */
int smdp_call_replay_done(smdp_call *c, int r, int result);

/* start, then every op through smdp_orders_run(); the replay store's memory
 * step only. */
rsp_status smdp_call_run(smdp_call *c, const rsp_json_doc *doc);

rsp_status smdp_call_status(const smdp_call *c);
/* statusCodeData message (NULL = the status table's), never internal state. */
const char *smdp_call_message(const smdp_call *c);
/* Internal reason for the access log, never sent. */
const char *smdp_call_detail(const smdp_call *c);
/* Who called: the operator id (ES2+) or the EID once known (ES9+); NULL if none. */
const char *smdp_call_peer(const smdp_call *c);
/* ES2+: the request's functionCallIdentifier once the header was read, else NULL. */
const char *smdp_call_call_id(const smdp_call *c);
/* ES2+: the answer is the stored first answer of this call (a retry). */
bool smdp_call_replayed(const smdp_call *c);
/* handleNotification: the reply is 204 whatever the status (the status is
 * only logged). */
bool smdp_call_is_notification(const smdp_call *c);
/* Writes the response members after the header (only when the status is RSP_OK). */
int smdp_call_write(const smdp_call *c, rsp_jsonw *w);
/* Bytes of response body the call needs room for (the BPP), for arena sizing. */
size_t smdp_call_reply_size(const smdp_call *c);

#endif
