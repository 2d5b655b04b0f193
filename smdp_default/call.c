#include "smdp_default/call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smdp_default/call_impl.h"

#define CALL_ARENA_MAX (256 * 1024)

static const struct {
    const char *name, *path;
    bool es2;
} FNS[SMDP_FN__COUNT] = {
    [SMDP_FN_INITIATE_AUTH] = {"ES9+.InitiateAuthentication", "initiateAuthentication", false},
    [SMDP_FN_AUTH_CLIENT] = {"ES9+.AuthenticateClient", "authenticateClient", false},
    [SMDP_FN_GET_BPP] = {"ES9+.GetBoundProfilePackage", "getBoundProfilePackage", false},
    [SMDP_FN_HANDLE_NOTIFICATION] = {"ES9+.HandleNotification", "handleNotification", false},
    [SMDP_FN_CANCEL_SESSION] = {"ES9+.CancelSession", "cancelSession", false},
    [SMDP_FN_DOWNLOAD_ORDER] = {"ES2+.DownloadOrder", "downloadOrder", true},
    [SMDP_FN_CONFIRM_ORDER] = {"ES2+.ConfirmOrder", "confirmOrder", true},
    [SMDP_FN_CANCEL_ORDER] = {"ES2+.CancelOrder", "cancelOrder", true},
    [SMDP_FN_RELEASE_PROFILE] = {"ES2+.ReleaseProfile", "releaseProfile", true},
};

const char *smdp_fn_name(smdp_fn fn)
{
    return (unsigned)fn < SMDP_FN__COUNT ? FNS[fn].name : "?";
}

const char *smdp_fn_path(smdp_fn fn)
{
    return (unsigned)fn < SMDP_FN__COUNT ? FNS[fn].path : "?";
}

bool smdp_fn_is_es2(smdp_fn fn)
{
    return (unsigned)fn < SMDP_FN__COUNT && FNS[fn].es2;
}

smdp_call *smdp_call_new(smdp_t *x, smdp_fn fn, const char *operator_cn, time_t now)
{
    if ((unsigned)fn >= SMDP_FN__COUNT)
        return NULL;
    smdp_call *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->a = rsp_arena_new(CALL_ARENA_MAX);
    if (!c->a) {
        free(c);
        return NULL;
    }
    c->x = x;
    c->fn = fn;
    c->now = now;
    c->hook.x = x;
    c->hook.owner = c;
    c->notification = fn == SMDP_FN_HANDLE_NOTIFICATION;
    if (operator_cn && strlen(operator_cn) < sizeof(c->operator_cn)) {
        memcpy(c->operator_cn, operator_cn, strlen(operator_cn) + 1);
        c->has_cn = true;
    }
    return c;
}

void smdp_call_free(smdp_call *c)
{
    if (!c)
        return;
    rsp_arena_free(c->a);
    free(c->bpp);
    free(c->otsk_blob);
    free(c);
}

int smdp_call_fail(smdp_call *c, rsp_status st, const char *message, const char *detail)
{
    c->status = st;
    c->message = message;
    c->detail = detail;
    return SMDP_CALL_DONE;
}

const char *smdp_call_str(smdp_call *c, const char *s)
{
    return s ? rsp_arena_strndup(c->a, s, strlen(s)) : NULL;
}

smdp_op *smdp_call_prepare_op(smdp_call *c, smdp_op_kind kind)
{
    memset(&c->op, 0, sizeof(c->op));
    c->op.kind = kind;
    c->op.now = (uint64_t)c->now;
    c->op.user = &c->hook;
    c->op.also = smdp_order_hook;
    return &c->op;
}

bool smdp_call_bind(smdp_call *c, const rsp_json_doc *doc, const rsp_json_field *fields, void *base)
{
    rsp_json_err err;
    rsp_status st = rsp_json_bind(doc, fields, base, &err);
    if (st == RSP_OK)
        return true;
    smdp_call_fail(c, st, rsp_json_err_message(&err, c->msgbuf, sizeof(c->msgbuf)), err.reason);
    return false;
}

int smdp_call_start(smdp_call *c, const rsp_json_doc *doc)
{
    c->step = 0;
    c->status = RSP_OK;
    return smdp_fn_is_es2(c->fn) ? smdp_es2p_start(c, doc) : smdp_es9p_start(c, doc);
}

int smdp_call_resume(smdp_call *c)
{
    return smdp_fn_is_es2(c->fn) ? smdp_es2p_resume(c) : smdp_es9p_resume(c);
}

smdp_op *smdp_call_op(smdp_call *c)
{
    return &c->op;
}

smdp_call *smdp_call_of_op(smdp_op *op)
{
    const smdp_hook *h = op->user;
    return h ? h->owner : NULL;
}

void smdp_call_set_user(smdp_call *c, void *user)
{
    c->user = user;
}

void *smdp_call_user(const smdp_call *c)
{
    return c->user;
}

void smdp_call_op_done(smdp_call *c)
{
    if (c->op.written)
        smdp_outbox_kick(c->x->outbox);
}

void smdp_call_send(smdp_call *c)
{
    c->event_outcome =
        smdp_notify_try(c->x->notify, &c->event, c->x->register_event_ms, c->event_err, sizeof(c->event_err));
}

void smdp_call_send_skip(smdp_call *c)
{
    c->event_outcome = SMDP_OB_RETRY;
    snprintf(c->event_err, sizeof(c->event_err), "not tried: no thread for it");
}

bool smdp_call_replay_pending(const smdp_call *c, const uint8_t **tid, uint32_t *expiry)
{
    if (!c->replay_pending || c->tid_len != RSP_TXN_ID_LEN)
        return false;
    *tid = c->tid;
    *expiry = c->replay_expiry;
    return true;
}

int smdp_call_replay_done(smdp_call *c, int r, int result)
{
    c->replay_pending = false;
    if (result == RSP_REPLAY_FRESH)
        return r;
    memset(&c->op, 0, sizeof(c->op));
    if (result == RSP_REPLAY_USED)
        return smdp_call_fail(c, RSP_ST_TRANSACTION_UNKNOWN, NULL, "transactionId replayed (durable store)");
    return smdp_call_fail(c, RSP_ST_INTERNAL, NULL, "replay store write");
}

rsp_status smdp_call_run(smdp_call *c, const rsp_json_doc *doc)
{
    int r = smdp_call_start(c, doc);
    while (r != SMDP_CALL_DONE) {
        if (r == SMDP_CALL_SEND) {
            smdp_call_send(c);
        } else {
            smdp_orders_run(c->x->store, &c->op);
            smdp_call_op_done(c);
        }
        r = smdp_call_resume(c);
    }
    return c->status;
}

rsp_status smdp_call_status(const smdp_call *c)
{
    return c->status;
}

const char *smdp_call_message(const smdp_call *c)
{
    return c->message;
}

const char *smdp_call_detail(const smdp_call *c)
{
    return c->detail;
}

const char *smdp_call_peer(const smdp_call *c)
{
    return c->peer[0] ? c->peer : NULL;
}

const char *smdp_call_call_id(const smdp_call *c)
{
    return c->call_id;
}

bool smdp_call_replayed(const smdp_call *c)
{
    return c->replayed;
}

bool smdp_call_is_notification(const smdp_call *c)
{
    return c->notification;
}

int smdp_call_write(const smdp_call *c, rsp_jsonw *w)
{
    return smdp_fn_is_es2(c->fn) ? smdp_es2p_write(c, w) : smdp_es9p_write(c, w);
}

size_t smdp_call_reply_size(const smdp_call *c)
{
    /* base64 plus the other members */
    return c->bpp_len / 3 * 4 + 16 * 1024;
}
