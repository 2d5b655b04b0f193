#include "smds/es12.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rsp/log.h"

#define METRIC_ROOT "smds_root_requests_total"

/* ---- request checks ---- */

typedef struct reg_body {
    rsp_json_req_header hdr;
    const char *eid;
    const char *address;
    const char *event_id;
    bool forward;
} reg_body;

static const rsp_json_field reg_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, reg_body, hdr, rsp_json_req_header_fields),
    RSP_JSON_F("eid", RSP_JSON_STRING, RSP_JSON_MANDATORY, 0, 0, reg_body, eid),
    RSP_JSON_F("rspServerAddress", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, SMDS_ADDRESS_MAX, reg_body,
               address),
    RSP_JSON_F("eventId", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, SMDS_EVENT_ID_MAX, reg_body, event_id),
    RSP_JSON_F("forwardingIndicator", RSP_JSON_BOOL, RSP_JSON_OPTIONAL, 0, 0, reg_body, forward),
    RSP_JSON_END,
};

typedef struct del_body {
    rsp_json_req_header hdr;
    const char *eid;
    const char *event_id;
} del_body;

static const rsp_json_field del_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, del_body, hdr, rsp_json_req_header_fields),
    RSP_JSON_F("eid", RSP_JSON_STRING, RSP_JSON_MANDATORY, 0, 0, del_body, eid),
    RSP_JSON_F("eventId", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, SMDS_EVENT_ID_MAX, del_body, event_id),
    RSP_JSON_END,
};

/* EventIDs travel in logs, tools and the ASN.1 binding: no control characters. */
static bool event_id_ok(const char *id)
{
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return id[0] != 0;
}

static bool caller_is(const smds_caller *who, const char *name)
{
    if (strcasecmp(who->owner, name) == 0)
        return true;
    for (size_t i = 0; i < who->ndns; i++)
        if (strcasecmp(who->dns[i], name) == 0)
            return true;
    return false;
}

static rsp_status check_caller(const smds_t *x, const smds_caller *who, int iface, smds_msg *msg)
{
    if (!who || !who->owner)
        return smds_msg_fail(msg, RSP_ST_FUNCTION_CALLER_UNKNOWN, NULL, "no client certificate identity");
    if (iface == SMDS_ES15) {
        if (who->role != RSP_PEER_DS)
            return smds_msg_fail(msg, RSP_ST_FUNCTION_CALLER_UNKNOWN, NULL, "ES15 caller is not an SM-DS");
        if (x->n_es15_peers == 0)
            return RSP_OK;
        for (size_t i = 0; i < x->n_es15_peers; i++)
            if (caller_is(who, x->es15_peers[i]))
                return RSP_OK;
        return smds_msg_fail(msg, RSP_ST_FUNCTION_CALLER_UNKNOWN, NULL,
                             "ES15 caller is not a configured peer");
    }
    if (who->role != RSP_PEER_DP && who->role != RSP_PEER_DS)
        return smds_msg_fail(msg, RSP_ST_FUNCTION_CALLER_UNKNOWN, NULL, "caller role");
    return RSP_OK;
}

/* How both requests start: the binding, then the caller, then the EID (*eid, a member of body). */
static rsp_status bind_checked(const smds_t *x, const rsp_json_doc *doc, const rsp_json_field *fields,
                               void *body, const char *const *eid, const smds_caller *who, int iface,
                               smds_msg *msg)
{
    rsp_status st = smds_msg_bind(doc, fields, body, msg);
    if (st == RSP_OK)
        st = check_caller(x, who, iface, msg);
    if (st == RSP_OK && !smds_eid_valid(*eid))
        st = smds_msg_fail(msg, RSP_ST_EID_INVALID, NULL, "EID is not 32 digits");
    return st;
}

rsp_status smds_es12_parse_register(smds_t *x, const rsp_json_doc *doc, const smds_caller *who, int iface,
                                    smds_event *ev, bool *forward, smds_msg *msg)
{
    memset(ev, 0, sizeof(*ev));
    *forward = false;
    reg_body b;
    memset(&b, 0, sizeof(b));
    rsp_status st = bind_checked(x, doc, reg_fields, &b, &b.eid, who, iface, msg);
    if (st != RSP_OK)
        return st;
    if (!event_id_ok(b.event_id))
        return smds_msg_fail(msg, RSP_ST_INVALID_FIELD, "eventId: control characters", "eventId characters");
    bool own = false;
    for (size_t i = 0; i < who->ndns && !own; i++)
        own = strcasecmp(who->dns[i], b.address) == 0;
    if (!own)
        return smds_msg_fail(msg, RSP_ST_FUNCTION_CALLER_UNKNOWN,
                             "rspServerAddress is not an address of the caller",
                             "rspServerAddress not in the client certificate");
    memcpy(ev->eid, b.eid, SMDS_EID_LEN + 1);
    snprintf(ev->event_id, sizeof(ev->event_id), "%s", b.event_id);
    snprintf(ev->rsp_server_address, sizeof(ev->rsp_server_address), "%s", b.address);
    snprintf(ev->owner, sizeof(ev->owner), "%s", who->owner);
    ev->via = (uint32_t)iface;
    *forward = iface == SMDS_ES12 && b.forward;
    return RSP_OK;
}

rsp_status smds_es12_parse_delete(smds_t *x, const rsp_json_doc *doc, const smds_caller *who, int iface,
                                  char eid[SMDS_EID_LEN + 1], char event_id[SMDS_EVENT_ID_MAX + 1],
                                  smds_msg *msg)
{
    eid[0] = event_id[0] = 0;
    del_body b;
    memset(&b, 0, sizeof(b));
    rsp_status st = bind_checked(x, doc, del_fields, &b, &b.eid, who, iface, msg);
    if (st != RSP_OK)
        return st;
    memcpy(eid, b.eid, SMDS_EID_LEN + 1);
    snprintf(event_id, SMDS_EVENT_ID_MAX + 1, "%s", b.event_id);
    return RSP_OK;
}

/* ---- operations ---- */

typedef struct op {
    smds_t *x;
    smds_event ev;
    bool forwarding;
    rsp_status st;
    const char *detail;
    smds_event_done_cb done;
    void *arg;
} op;

static void finish(op *o, rsp_status st, const char *detail)
{
    smds_event_done_cb done = o->done;
    void *arg = o->arg;
    free(o);
    done(arg, st, detail);
}

static void count_root(smds_t *x, const char *fn, rsp_status st)
{
    if (!x->metrics)
        return;
    char labels[96];
    snprintf(labels, sizeof(labels), "function=\"%s\",code=\"%s\"", fn, rsp_status_str(st));
    rsp_metrics_inc(x->metrics, METRIC_ROOT, labels);
}

static void reg_rolled_back(void *arg, rsp_status st)
{
    op *o = arg;
    if (st != RSP_OK)
        rsp_log(RSP_LOG_ERROR, "event %s: cascade failed and the local record could not be removed (%s)",
                o->ev.event_id, rsp_status_str(st));
    finish(o, o->st, o->detail);
}

static void reg_forwarded(void *arg, rsp_status st, const char *detail)
{
    op *o = arg;
    count_root(o->x, "registerEvent", st);
    if (st == RSP_OK) {
        finish(o, RSP_OK, NULL);
        return;
    }
    o->st = st;
    o->detail = detail;
    if (smds_store_delete(o->x->store, o->ev.eid, o->ev.event_id, o->ev.owner, NULL, reg_rolled_back, o) != 0)
        reg_rolled_back(o, RSP_ST_INTERNAL);
}

static void reg_stored(void *arg, rsp_status st)
{
    op *o = arg;
    if (st != RSP_OK) {
        finish(o, st, st == RSP_ST_EVENT_EXISTS ? "EventID taken" : "store write");
        return;
    }
    if (!o->forwarding) {
        finish(o, RSP_OK, NULL);
        return;
    }
    if (smds_root_register(o->x->root, o->ev.eid, o->ev.event_id, reg_forwarded, o) != 0)
        reg_forwarded(o, RSP_ST_SMDS_UNAVAILABLE, "root client stopped");
}

static op *op_new(smds_t *x, smds_event_done_cb done, void *arg)
{
    op *o = calloc(1, sizeof(*o));
    if (o) {
        o->x = x;
        o->done = done;
        o->arg = arg;
    }
    return o;
}

void smds_event_register(smds_t *x, const smds_event *ev, bool forward, time_t now, smds_event_done_cb done,
                         void *arg)
{
    op *o = op_new(x, done, arg);
    if (!o) {
        done(arg, RSP_ST_INTERNAL, "out of memory");
        return;
    }
    o->ev = *ev;
    o->forwarding = forward && x->root != NULL;
    if (o->forwarding) {
        o->ev.forwarded = true;
        snprintf(o->ev.root_smds, sizeof(o->ev.root_smds), "%s", smds_root_address(x->root));
    }
    if (smds_store_register(x->store, &o->ev, now, reg_stored, o) != 0)
        finish(o, RSP_ST_INTERNAL, "store queue");
}

static void del_stored(void *arg, rsp_status st)
{
    op *o = arg;
    finish(o, st, st == RSP_OK ? NULL : "store delete");
}

static void del_local(op *o)
{
    if (smds_store_delete(o->x->store, o->ev.eid, o->ev.event_id, o->ev.owner, NULL, del_stored, o) != 0)
        finish(o, RSP_ST_INTERNAL, "store queue");
}

static void del_cascaded(void *arg, rsp_status st, const char *detail)
{
    op *o = arg;
    count_root(o->x, "deleteEvent", st);
    if (st != RSP_OK) {
        finish(o, st, detail);
        return;
    }
    del_local(o);
}

/* A DeleteEvent waiting for its record to be read (cascaded ones go to the root first). */
typedef struct del_lookup {
    smds_t *x;
    char eid[SMDS_EID_LEN + 1];
    char owner[SMDS_OWNER_MAX + 1];
    smds_event_done_cb done;
    void *arg;
} del_lookup;

static void del_found(void *arg, int found, const smds_event *cur)
{
    del_lookup *l = arg;
    smds_t *x = l->x;
    smds_event_done_cb done = l->done;
    void *darg = l->arg;
    /* Someone else's event reads as unknown: nothing is revealed about it. */
    bool mine = found == 1 && strcmp(cur->eid, l->eid) == 0 && strcmp(cur->owner, l->owner) == 0;
    free(l);
    if (found < 0) {
        done(darg, RSP_ST_INTERNAL, "store read");
        return;
    }
    if (!mine) {
        done(darg, RSP_ST_EVENT_UNKNOWN, found ? "not the owner or another EID" : "no such EventID");
        return;
    }
    op *o = op_new(x, done, darg);
    if (!o) {
        done(darg, RSP_ST_INTERNAL, "out of memory");
        return;
    }
    o->ev = *cur;
    if (cur->forwarded && x->root) {
        if (smds_root_delete(x->root, cur->eid, cur->event_id, del_cascaded, o) != 0)
            finish(o, RSP_ST_SMDS_UNAVAILABLE, "root client stopped");
        return;
    }
    del_local(o);
}

void smds_event_delete(smds_t *x, const char *eid, const char *event_id, const char *owner,
                       smds_event_done_cb done, void *arg)
{
    /* Longer than any stored owner or EID: it cannot own anything (and must not match once cut). */
    if (strlen(owner) > SMDS_OWNER_MAX || strlen(eid) > SMDS_EID_LEN) {
        done(arg, RSP_ST_EVENT_UNKNOWN, "not the owner or another EID");
        return;
    }
    del_lookup *l = calloc(1, sizeof(*l));
    if (!l) {
        done(arg, RSP_ST_INTERNAL, "out of memory");
        return;
    }
    l->x = x;
    snprintf(l->eid, sizeof(l->eid), "%s", eid);
    snprintf(l->owner, sizeof(l->owner), "%s", owner);
    l->done = done;
    l->arg = arg;
    if (smds_store_get_async(x->store, event_id, del_found, l) != 0) {
        free(l);
        done(arg, RSP_ST_INTERNAL, "store unavailable");
    }
}

/* ---- waiting forms ---- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
    rsp_status st;
} waiter;

static void wake(void *arg, rsp_status st, const char *detail)
{
    (void)detail;
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->st = st;
    w->finished = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static rsp_status wait_for(waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->finished)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return w->st;
}

rsp_status smds_event_register_wait(smds_t *x, const smds_event *ev, bool forward, time_t now)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, RSP_OK};
    smds_event_register(x, ev, forward, now, wake, &w);
    return wait_for(&w);
}

rsp_status smds_event_delete_wait(smds_t *x, const char *eid, const char *event_id, const char *owner)
{
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, RSP_OK};
    smds_event_delete(x, eid, event_id, owner, wake, &w);
    return wait_for(&w);
}
