/*
 * smdp_default/es2p.c - ES2+ (operator -> SM-DP+): DownloadOrder,
 * ConfirmOrder, CancelOrder, ReleaseProfile.
 *
 * Every request carries the server-to-server header (1.1/2.2 when missing).
 * The caller is the operator the TLS client certificate's CN maps to
 * (smdp_operator_of; 1.1/1.2 when it maps to none), and it may act only on
 * its own profiles (8.2.1/1.2, checked by the order store).  The state
 * machine and its codes are the order store's (orders.h, rsp-notes 5.2/5.3).
 *
 * SM-DS events: ConfirmOrder with releaseFlag and an smdsAddress, or
 * ReleaseProfile of an order confirmed with one, queues ES12.RegisterEvent
 * in the outbox in the same transaction (EventID = matchingId,
 * forwardingIndicator when rootSmdsAddress is given).  The call answers 8.9/5.1
 * and changes nothing when the smdsAddress is not a host name, is not on the
 * configured allow list, or when every call to that SM-DS has failed for
 * longer than the configured period; otherwise it answers once the order and
 * the queued event are durable, and the outbox delivers the event with
 * retries (docs/smdp.md).  With smdp.register_event_deadline_ms, the release
 * first sends the RegisterEvent itself (SMDP_CALL_SEND, off the worker): a
 * definitive failure answers 8.9/5.1 with nothing stored, a delivered event
 * is not queued again, anything else goes to the outbox as above.
 *
 * Retries: an answer that came with an order change is stored with it (orders.h,
 * smdp_answer) under the caller, functionRequesterIdentifier and
 * functionCallIdentifier; the same call with the same members within the
 * configured age (smdp.es2_answer_ttl) gets that answer again instead of a
 * state-transition refusal, changing nothing.  A reused identifier with other
 * members is a new call.  Refusals that changed nothing are not stored (the
 * retry meets the same refusal).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>

#include "rsp/log.h"
#include "rsp/str.h"
#include "smdp_default/actcode.h"
#include "smdp_default/call_impl.h"

enum { STEP_OP = 1, STEP_REGISTER, STEP_UNREGISTER };

static int fail(smdp_call *c, rsp_status st, const char *detail)
{
    return smdp_call_fail(c, st, NULL, detail);
}

/* ICCIDs may come padded to 20 characters with F (pySim); the store keys digits only. */
static const char *iccid_norm(smdp_call *c, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n == 20 && (s[19] == 'F' || s[19] == 'f'))
        return rsp_arena_strndup(c->a, s, 19);
    return smdp_call_str(c, s);
}

typedef struct hdr_only {
    rsp_json_req_header hdr;
} hdr_only;

static const rsp_json_field hdr_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, hdr_only, hdr, rsp_json_req_header_fields),
    RSP_JSON_END,
};

/* Header and caller identity; false when the call is refused. */
static bool caller(smdp_call *c, const rsp_json_doc *doc)
{
    hdr_only h;
    if (!smdp_call_bind(c, doc, hdr_fields, &h))
        return false;
    smdp_trust *t = smdp_trust_get(c->x);
    int rc = c->has_cn ? smdp_operator_of(t, c->operator_cn, c->operator_id) : -1;
    smdp_trust_put(t);
    if (rc != 0) {
        fail(c, RSP_ST_FUNCTION_CALLER_UNKNOWN, "client certificate maps to no operator");
        return false;
    }
    snprintf(c->peer, sizeof(c->peer), "%s", c->operator_id);
    c->requester = smdp_call_str(c, h.hdr.requester);
    c->call_id = smdp_call_str(c, h.hdr.call_id);
    c->has_call_key = c->requester && c->call_id &&
                      smdp_answer_key(c->operator_id, c->requester, c->call_id, c->call_key) == 0;
    return true;
}

/* ---- retries: the first answer again ---- */

/* SHA-256 over the function and the request's members (each: present flag, text, NUL), so that a
 * reused functionCallIdentifier with another request is not taken for a retry. */
static bool request_hash(smdp_call *c, const char *const *members, size_t n, bool flag)
{
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    uint8_t head[2] = {(uint8_t)c->fn, flag};
    bool ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(h, head, 2) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        uint8_t present = members[i] != NULL;
        ok = EVP_DigestUpdate(h, &present, 1) == 1 &&
             (!present || EVP_DigestUpdate(h, members[i], strlen(members[i]) + 1) == 1);
    }
    ok = ok && EVP_DigestFinal_ex(h, c->answer.request_hash, NULL) == 1;
    EVP_MD_CTX_free(h);
    c->answer.fn = (uint32_t)c->fn;
    return ok;
}

/* True when this call was answered before (a retry after a lost answer): the answer is set. */
static bool replayed(smdp_call *c, const char *const *members, size_t n, bool flag)
{
    if (!c->has_call_key || !request_hash(c, members, n, flag)) {
        c->has_call_key = false;
        return false;
    }
    smdp_answer a;
    if (smdp_orders_answer_get(c->x->store, c->call_key, (uint64_t)c->now, &a) != RSP_OK ||
        a.fn != c->answer.fn || memcmp(a.request_hash, c->answer.request_hash, sizeof(a.request_hash)))
        return false;
    snprintf(c->op.after.iccid, sizeof(c->op.after.iccid), "%s", a.iccid);
    snprintf(c->op.after.eid, sizeof(c->op.after.eid), "%s", a.eid);
    snprintf(c->op.after.matching_id, sizeof(c->op.after.matching_id), "%s", a.matching_id);
    c->replayed = true;
    smdp_call_fail(c, a.status, NULL, "a retry: the first answer again");
    return true;
}

/* The op of an ES2+ call: it stores its answer, or replays one stored meanwhile. */
static smdp_op *es2_op(smdp_call *c, smdp_op_kind kind)
{
    smdp_op *op = smdp_call_prepare_op(c, kind);
    if (c->has_call_key) {
        op->call_key = c->call_key;
        op->call = &c->answer;
    }
    return op;
}

/* ---- the synchronous RegisterEvent ---- */

/* Releasing ord (the order as it will be) registers its event: try it now, before the change is stored,
 * when configured.  Returns SMDP_CALL_SEND, or SMDP_CALL_OP to go straight to the store. */
static int register_first(smdp_call *c, const smdp_order *ord)
{
    if (!c->x->register_event_ms || !c->x->notify || !ord->eid[0] || !ord->matching_id[0])
        return SMDP_CALL_OP;
    smdp_es12_item(&c->event, SMDP_OB_REGISTER_EVENT, ord, (uint64_t)c->now);
    c->step = STEP_REGISTER;
    return SMDP_CALL_SEND;
}

/* After the RegisterEvent attempt: a definitive failure ends the call with nothing changed. */
static int registered(smdp_call *c)
{
    if (c->event_outcome == SMDP_OB_DROP) {
        snprintf(c->detailbuf, sizeof(c->detailbuf), "RegisterEvent refused: %s", c->event_err);
        return fail(c, RSP_ST_SMDS_UNAVAILABLE, c->detailbuf);
    }
    if (c->event_outcome == SMDP_OB_RETRY)
        rsp_log(RSP_LOG_INFO, "%s: RegisterEvent of %s to %s left to the outbox: %s", smdp_fn_name(c->fn),
                c->event.event_id, c->event.target, c->event_err);
    c->hook.event_sent = c->event_outcome == SMDP_OB_SENT;
    c->step = STEP_OP;
    return SMDP_CALL_OP;
}

/* The event went out but no stored order holds it (the change was refused meanwhile or not stored, or a
 * retry was answered with the first call's matchingId): delete it again.  A concurrent call that won with
 * the same event (the same matchingId given twice) keeps it. */
static bool unregister_due(const smdp_call *c)
{
    const smdp_op *op = &c->op;
    if (c->step != STEP_OP || !c->hook.event_sent || (op->status == RSP_OK && !op->replayed))
        return false;
    const smdp_order *o = op->replayed ? &op->after : &op->before;
    bool held = (op->replayed ||
                 (op->found && o->event_registered && !strcasecmp(o->smds_address, c->event.target))) &&
                !strcmp(o->matching_id, c->event.event_id);
    return !held;
}

/* ---- DownloadOrder ---- */

typedef struct dl_body {
    const char *eid, *iccid, *type;
} dl_body;

static const rsp_json_field dl_fields[] = {
    RSP_JSON_F("eid", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 64, dl_body, eid),
    RSP_JSON_F("iccid", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 32, dl_body, iccid),
    RSP_JSON_F("profileType", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, SMDP_TYPE_MAX, dl_body, type),
    RSP_JSON_END,
};

static int download_order(smdp_call *c, const rsp_json_doc *doc)
{
    dl_body b;
    if (!smdp_call_bind(c, doc, dl_fields, &b))
        return SMDP_CALL_DONE;
    const char *members[] = {b.eid, b.iccid, b.type};
    if (replayed(c, members, 3, false))
        return SMDP_CALL_DONE;
    smdp_op *op = es2_op(c, SMDP_OP_DOWNLOAD_ORDER);
    op->owner = c->operator_id;
    op->eid = smdp_call_str(c, b.eid);
    op->iccid = iccid_norm(c, b.iccid);
    op->profile_type = smdp_call_str(c, b.type);
    if ((b.eid && !op->eid) || (b.iccid && !op->iccid) || (b.type && !op->profile_type))
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->step = STEP_OP;
    return SMDP_CALL_OP;
}

/* ---- ConfirmOrder ---- */

typedef struct confirm_body {
    const char *iccid, *eid, *mid, *cc, *smds, *root;
    bool release;
} confirm_body;

static const rsp_json_field confirm_fields[] = {
    RSP_JSON_F("iccid", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 32, confirm_body, iccid),
    RSP_JSON_F("releaseFlag", RSP_JSON_BOOL, RSP_JSON_MANDATORY, 0, 0, confirm_body, release),
    RSP_JSON_F("eid", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 64, confirm_body, eid),
    RSP_JSON_F("matchingId", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, SMDP_MID_MAX, confirm_body, mid),
    RSP_JSON_F("confirmationCode", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 256, confirm_body, cc),
    RSP_JSON_F("smdsAddress", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, SMDP_ADDR_MAX, confirm_body, smds),
    RSP_JSON_F("rootSmdsAddress", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, SMDP_ADDR_MAX, confirm_body, root),
    RSP_JSON_END,
};

/* ConfirmOrder releasing with an SM-DS: the order as the store would make it, when it would (anything
 * the store will refuse goes to it without an event, for its code).  Without a matchingId one is made
 * here, so that the event and the order carry the same. */
static int confirm_register(smdp_call *c, smdp_op *op)
{
    smdp_order *o = &c->order, other;
    if (smdp_orders_get(c->x->store, op->iccid, o) != RSP_OK || strcmp(o->owner, op->owner) ||
        (o->state != SMDP_STATE_ALLOCATED && o->state != SMDP_STATE_LINKED) ||
        (op->eid && o->eid[0] && strcmp(op->eid, o->eid)))
        return SMDP_CALL_OP;
    if (op->eid)
        rsp_str_copy(o->eid, sizeof(o->eid), op->eid);
    if (!op->matching_id) {
        char *mid = rsp_arena_alloc(c->a, SMDP_MID_MAX + 1);
        if (!mid || smdp_matching_id_new(mid) != 0)
            return SMDP_CALL_OP;
        op->matching_id = mid;
    } else if (!smdp_ac_token_valid(op->matching_id) ||
               (smdp_orders_find_by_matching_id(c->x->store, op->matching_id, NULL, &other) == RSP_OK &&
                strcmp(other.iccid, o->iccid))) {
        return SMDP_CALL_OP;
    }
    rsp_str_copy(o->matching_id, sizeof(o->matching_id), op->matching_id);
    rsp_str_copy(o->smds_address, sizeof(o->smds_address), op->smds_address);
    rsp_str_copy(o->root_smds_address, sizeof(o->root_smds_address), op->root_smds_address);
    return register_first(c, o);
}

static int confirm_order(smdp_call *c, const rsp_json_doc *doc)
{
    confirm_body b;
    if (!smdp_call_bind(c, doc, confirm_fields, &b))
        return SMDP_CALL_DONE;
    const char *members[] = {b.iccid, b.eid, b.mid, b.cc, b.smds, b.root};
    if (replayed(c, members, 6, b.release))
        return SMDP_CALL_DONE;
    /* rootSmdsAddress qualifies an smdsAddress (an Alternative SM-DS's root): alone it names nothing */
    if (b.root && *b.root && !(b.smds && *b.smds))
        return smdp_call_fail(c, RSP_ST_MANDATORY_MISSING, "smdsAddress: required with rootSmdsAddress",
                              "rootSmdsAddress without smdsAddress");
    if (b.smds && *b.smds) {
        /* checked now even without release: an address that can never work is refused at once */
        if (!smdp_smds_usable(c->x, b.smds, b.release ? (uint64_t)c->now : 0))
            return fail(c, RSP_ST_SMDS_UNAVAILABLE, "smdsAddress not usable");
    }
    smdp_op *op = es2_op(c, SMDP_OP_CONFIRM_ORDER);
    op->owner = c->operator_id;
    op->iccid = iccid_norm(c, b.iccid);
    op->release = b.release;
    op->eid = smdp_call_str(c, b.eid);
    op->matching_id = smdp_call_str(c, b.mid);
    op->confirmation_code = smdp_call_str(c, b.cc);
    op->smds_address = smdp_call_str(c, b.smds);
    op->root_smds_address = smdp_call_str(c, b.root);
    if (!op->iccid || (b.eid && !op->eid) || (b.mid && !op->matching_id) ||
        (b.cc && !op->confirmation_code) || (b.smds && !op->smds_address) ||
        (b.root && !op->root_smds_address))
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->step = STEP_OP;
    if (!b.release || !b.smds || !*b.smds)
        return SMDP_CALL_OP;
    return confirm_register(c, op);
}

/* ---- CancelOrder ---- */

typedef struct cancel_body {
    const char *iccid, *final, *eid, *mid;
} cancel_body;

static const rsp_json_field cancel_fields[] = {
    RSP_JSON_F("iccid", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 32, cancel_body, iccid),
    RSP_JSON_F("finalProfileStatusIndicator", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 32, cancel_body, final),
    RSP_JSON_F("eid", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, 64, cancel_body, eid),
    RSP_JSON_F("matchingId", RSP_JSON_STRING, RSP_JSON_OPTIONAL, 0, SMDP_MID_MAX, cancel_body, mid),
    RSP_JSON_END,
};

static int cancel_order(smdp_call *c, const rsp_json_doc *doc)
{
    cancel_body b;
    if (!smdp_call_bind(c, doc, cancel_fields, &b))
        return SMDP_CALL_DONE;
    const char *members[] = {b.iccid, b.final, b.eid, b.mid};
    if (replayed(c, members, 4, false))
        return SMDP_CALL_DONE;
    smdp_state final;
    if (!strcmp(b.final, "Available"))
        final = SMDP_STATE_AVAILABLE;
    else if (!strcmp(b.final, "Unavailable"))
        final = SMDP_STATE_UNAVAILABLE;
    else
        return smdp_call_fail(c, RSP_ST_INVALID_FIELD,
                              "finalProfileStatusIndicator: Available or Unavailable",
                              "finalProfileStatusIndicator");
    smdp_op *op = es2_op(c, SMDP_OP_CANCEL_ORDER);
    op->owner = c->operator_id;
    op->iccid = iccid_norm(c, b.iccid);
    op->final_state = final;
    op->name_associated = true; /* SGP.22 5.3.3: eid and matchingId are conditional on the order's */
    op->eid = smdp_call_str(c, b.eid);
    op->matching_id = smdp_call_str(c, b.mid);
    if (!op->iccid || (b.eid && !op->eid) || (b.mid && !op->matching_id))
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    c->step = STEP_OP;
    return SMDP_CALL_OP;
}

/* ---- ReleaseProfile ---- */

typedef struct release_body {
    const char *iccid;
} release_body;

static const rsp_json_field release_fields[] = {
    RSP_JSON_F("iccid", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 32, release_body, iccid),
    RSP_JSON_END,
};

static int release_profile(smdp_call *c, const rsp_json_doc *doc)
{
    release_body b;
    if (!smdp_call_bind(c, doc, release_fields, &b))
        return SMDP_CALL_DONE;
    const char *members[] = {b.iccid};
    if (replayed(c, members, 1, false))
        return SMDP_CALL_DONE;
    const char *iccid = iccid_norm(c, b.iccid);
    if (!iccid)
        return fail(c, RSP_ST_INTERNAL, "out of memory");
    /* the SM-DS named at ConfirmOrder must be reachable; the store decides everything else */
    if (smdp_orders_get(c->x->store, iccid, &c->order) == RSP_OK && !strcmp(c->order.owner, c->operator_id) &&
        c->order.state == SMDP_STATE_CONFIRMED && c->order.smds_address[0] &&
        !smdp_smds_usable(c->x, c->order.smds_address, (uint64_t)c->now))
        return fail(c, RSP_ST_SMDS_UNAVAILABLE, "smdsAddress not usable");
    smdp_op *op = es2_op(c, SMDP_OP_RELEASE_PROFILE);
    op->owner = c->operator_id;
    op->iccid = iccid;
    c->step = STEP_OP;
    if (c->order.iccid[0] && !strcmp(c->order.owner, c->operator_id) &&
        c->order.state == SMDP_STATE_CONFIRMED && c->order.smds_address[0])
        return register_first(c, &c->order);
    return SMDP_CALL_OP;
}

/* ---- dispatch ---- */

int smdp_es2p_start(smdp_call *c, const rsp_json_doc *doc)
{
    if (!caller(c, doc))
        return SMDP_CALL_DONE;
    switch (c->fn) {
    case SMDP_FN_DOWNLOAD_ORDER:
        return download_order(c, doc);
    case SMDP_FN_CONFIRM_ORDER:
        return confirm_order(c, doc);
    case SMDP_FN_CANCEL_ORDER:
        return cancel_order(c, doc);
    case SMDP_FN_RELEASE_PROFILE:
        return release_profile(c, doc);
    default:
        return fail(c, RSP_ST_INTERNAL, "not an ES2+ function");
    }
}

int smdp_es2p_resume(smdp_call *c)
{
    if (c->step == STEP_REGISTER)
        return registered(c);
    if (unregister_due(c)) {
        c->event.kind = SMDP_OB_DELETE_EVENT;
        c->event.forward = false;
        c->step = STEP_UNREGISTER;
        return SMDP_CALL_SEND;
    }
    if (c->step == STEP_UNREGISTER && c->event_outcome != SMDP_OB_SENT)
        rsp_log(RSP_LOG_WARN, "%s: DeleteEvent of %s at %s (its order change was not stored): %s",
                smdp_fn_name(c->fn), c->event.event_id, c->event.target, c->event_err);
    rsp_status st = c->op.status;
    if (c->op.replayed) {
        c->replayed = true;
        return smdp_call_fail(c, st, NULL, "a retry: the first answer again");
    }
    if (st == RSP_ST_INTERNAL)
        rsp_log(RSP_LOG_ERROR, "%s: store: %s", smdp_fn_name(c->fn), mdb_strerror(c->op.db_err));
    return smdp_call_fail(c, st, NULL, st == RSP_OK ? NULL : "refused by the order store");
}

int smdp_es2p_write(const smdp_call *c, rsp_jsonw *w)
{
    const smdp_order *a = &c->op.after;
    switch (c->fn) {
    case SMDP_FN_DOWNLOAD_ORDER:
        return rsp_jsonw_kstr(w, "iccid", a->iccid);
    case SMDP_FN_CONFIRM_ORDER:
        if (a->eid[0])
            rsp_jsonw_kstr(w, "eid", a->eid);
        rsp_jsonw_kstr(w, "matchingId", a->matching_id);
        return rsp_jsonw_kstr(w, "smdpAddress", c->x->fqdn);
    default:
        return 0;
    }
}
