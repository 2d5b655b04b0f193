/*
 * Fuzz target for rsp/json (and rsp/jsonw): each input is parsed once and
 * bound against a request table (ES11 InitiateAuthentication /
 * AuthenticateClient and ES12 RegisterEvent members) and a response table
 * (header, transactionId, eventEntries).  Checks: the only failures are
 * INVALID_FIELD / MANDATORY_MISSING with a reason (the arena is large enough,
 * so INTERNAL means a bug); bound strings are valid UTF-8 without NUL and
 * respect their bounds; and a bound result written back with the writer
 * parses again to the same values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/codec.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

struct req {
    rsp_json_req_header hdr;
    rsp_json_bin transaction_id;
    rsp_json_bin euicc_challenge;
    rsp_json_bin euicc_info1;
    rsp_json_bin asr;
    const char *smdp_address;
    const char *smds_address;
    const char *matching_id;
    const char *eid;
    const char *event_id;
    const char *rsp_server_address;
    bool forwarding;
    int64_t retries;
};

static const rsp_json_field req_fields[] = {
    RSP_JSON_OBJ("header", 0, struct req, hdr, rsp_json_req_header_fields),
    RSP_JSON_F("transactionId", RSP_JSON_HEX, 0, 1, 16, struct req, transaction_id),
    RSP_JSON_F("euiccChallenge", RSP_JSON_BASE64, 0, 16, 16, struct req, euicc_challenge),
    RSP_JSON_F("euiccInfo1", RSP_JSON_BASE64, 0, 1, 1024, struct req, euicc_info1),
    RSP_JSON_F("authenticateServerResponse", RSP_JSON_BASE64, 0, 1, 0, struct req, asr),
    RSP_JSON_F("smdpAddress", RSP_JSON_STRING, 0, 1, 255, struct req, smdp_address),
    RSP_JSON_F("smdsAddress", RSP_JSON_STRING, 0, 1, 255, struct req, smds_address),
    RSP_JSON_F("matchingId", RSP_JSON_STRING, 0, 0, 255, struct req, matching_id),
    RSP_JSON_F("eid", RSP_JSON_STRING, 0, 32, 32, struct req, eid),
    RSP_JSON_F("eventId", RSP_JSON_STRING, 0, 1, 128, struct req, event_id),
    RSP_JSON_F("rspServerAddress", RSP_JSON_STRING, 0, 1, 255, struct req, rsp_server_address),
    RSP_JSON_F("forwardingIndicator", RSP_JSON_BOOL, 0, 0, 0, struct req, forwarding),
    RSP_JSON_F("retries", RSP_JSON_INT, 0, 0, 0, struct req, retries),
    RSP_JSON_END,
};

struct entry {
    const char *event_id;
    const char *address;
};

static const rsp_json_field entry_fields[] = {
    RSP_JSON_F("eventId", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 128, struct entry, event_id),
    RSP_JSON_F("rspServerAddress", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 255, struct entry, address),
    RSP_JSON_END,
};

struct resp {
    rsp_json_resp_header hdr;
    rsp_json_bin transaction_id;
    rsp_json_array entries;
};

static const rsp_json_field resp_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, struct resp, hdr, rsp_json_resp_header_fields),
    RSP_JSON_F("transactionId", RSP_JSON_HEX, 0, 1, 16, struct resp, transaction_id),
    RSP_JSON_ARR("eventEntries", 0, 0, 0, struct resp, entries, entry_fields, struct entry),
    RSP_JSON_END,
};

static void check_failure(rsp_status st, const rsp_json_err *err)
{
    check(st == RSP_ST_INVALID_FIELD || st == RSP_ST_MANDATORY_MISSING);
    check(err->status == st && err->reason != NULL);
    check(memchr(err->field, '\0', sizeof(err->field)) != NULL);
}

static void check_str(const char *s, size_t min, size_t max)
{
    if (!s)
        return;
    size_t n = strlen(s);
    check(rsp_utf8_valid(s, n));
    check(n >= min && (max == 0 || n <= max));
}

static void check_bin(const rsp_json_bin *b, size_t min, size_t max)
{
    if (!b->data) {
        check(b->len == 0);
        return;
    }
    check(b->len >= min && (max == 0 || b->len <= max));
}

static void put_str(rsp_jsonw *w, const char *name, const char *s)
{
    if (s)
        rsp_jsonw_kstr(w, name, s);
}

static void put_bin(rsp_jsonw *w, const char *name, const rsp_json_bin *b, bool hex)
{
    if (!b->data)
        return;
    if (hex)
        rsp_jsonw_khex(w, name, b->data, b->len);
    else
        rsp_jsonw_kbase64(w, name, b->data, b->len);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool bin_eq(const rsp_json_bin *a, const rsp_json_bin *b)
{
    return (!a->data && !b->data) ||
           (a->data && b->data && a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0));
}

static void round_trip_req(rsp_arena *a, const struct req *r)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    if (r->hdr.requester)
        rsp_jsonw_req_header(&w, r->hdr.requester, r->hdr.call_id);
    put_bin(&w, "transactionId", &r->transaction_id, true);
    put_bin(&w, "euiccChallenge", &r->euicc_challenge, false);
    put_bin(&w, "euiccInfo1", &r->euicc_info1, false);
    put_bin(&w, "authenticateServerResponse", &r->asr, false);
    put_str(&w, "smdpAddress", r->smdp_address);
    put_str(&w, "smdsAddress", r->smds_address);
    put_str(&w, "matchingId", r->matching_id);
    put_str(&w, "eid", r->eid);
    put_str(&w, "eventId", r->event_id);
    put_str(&w, "rspServerAddress", r->rsp_server_address);
    rsp_jsonw_kbool(&w, "forwardingIndicator", r->forwarding);
    rsp_jsonw_kint(&w, "retries", r->retries);
    rsp_jsonw_obj_end(&w);
    const char *out;
    size_t len;
    check(rsp_jsonw_finish(&w, &out, &len) == 0);

    struct req b;
    rsp_json_err err;
    rsp_json_limits lim = {.max_bytes = 1 << 20, .max_tokens = 1 << 16};
    check(rsp_json_parse(a, out, len, &lim, req_fields, &b, &err) == RSP_OK);
    check(str_eq(r->hdr.requester, b.hdr.requester) && str_eq(r->hdr.call_id, b.hdr.call_id));
    check(bin_eq(&r->transaction_id, &b.transaction_id));
    check(bin_eq(&r->euicc_challenge, &b.euicc_challenge));
    check(bin_eq(&r->euicc_info1, &b.euicc_info1));
    check(bin_eq(&r->asr, &b.asr));
    check(str_eq(r->smdp_address, b.smdp_address) && str_eq(r->smds_address, b.smds_address));
    check(str_eq(r->matching_id, b.matching_id) && str_eq(r->eid, b.eid));
    check(str_eq(r->event_id, b.event_id) && str_eq(r->rsp_server_address, b.rsp_server_address));
    check(r->forwarding == b.forwarding && r->retries == b.retries);
}

static void round_trip_resp(rsp_arena *a, const struct resp *r)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_key(&w, "header");
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_key(&w, "functionExecutionStatus");
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "status", r->hdr.status);
    if (r->hdr.subject) {
        rsp_jsonw_key(&w, "statusCodeData");
        rsp_jsonw_obj_begin(&w);
        rsp_jsonw_kstr(&w, "subjectCode", r->hdr.subject);
        rsp_jsonw_kstr(&w, "reasonCode", r->hdr.reason);
        put_str(&w, "subjectIdentifier", r->hdr.subject_id);
        put_str(&w, "message", r->hdr.message);
        rsp_jsonw_obj_end(&w);
    }
    rsp_jsonw_obj_end(&w);
    rsp_jsonw_obj_end(&w);
    put_bin(&w, "transactionId", &r->transaction_id, true);
    if (r->entries.items) {
        rsp_jsonw_key(&w, "eventEntries");
        rsp_jsonw_arr_begin(&w);
        const struct entry *e = r->entries.items;
        for (size_t i = 0; i < r->entries.count; i++) {
            rsp_jsonw_obj_begin(&w);
            rsp_jsonw_kstr(&w, "eventId", e[i].event_id);
            rsp_jsonw_kstr(&w, "rspServerAddress", e[i].address);
            rsp_jsonw_obj_end(&w);
        }
        rsp_jsonw_arr_end(&w);
    }
    rsp_jsonw_obj_end(&w);
    const char *out;
    size_t len;
    check(rsp_jsonw_finish(&w, &out, &len) == 0);

    struct resp b;
    rsp_json_err err;
    rsp_json_limits lim = {.max_bytes = 1 << 20, .max_tokens = 1 << 16};
    check(rsp_json_parse(a, out, len, &lim, resp_fields, &b, &err) == RSP_OK);
    check(str_eq(r->hdr.status, b.hdr.status) && str_eq(r->hdr.subject, b.hdr.subject));
    check(str_eq(r->hdr.reason, b.hdr.reason) && str_eq(r->hdr.subject_id, b.hdr.subject_id));
    check(str_eq(r->hdr.message, b.hdr.message));
    check(bin_eq(&r->transaction_id, &b.transaction_id));
    check((r->entries.items == NULL) == (b.entries.items == NULL) && r->entries.count == b.entries.count);
    const struct entry *x = r->entries.items, *y = b.entries.items;
    for (size_t i = 0; i < r->entries.count; i++)
        check(str_eq(x[i].event_id, y[i].event_id) && str_eq(x[i].address, y[i].address));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rsp_arena *a;
    if (!a)
        a = rsp_arena_new(16u << 20);
    check(a != NULL);
    rsp_arena_reset(a);

    rsp_json_limits lim = {.max_bytes = 1 << 16, .max_tokens = 4096, .max_depth = 32};
    rsp_json_doc *doc;
    rsp_json_err err;
    rsp_status st = rsp_json_doc_parse(a, (const char *)data, size, &lim, &doc, &err);
    if (st != RSP_OK) {
        check(st == RSP_ST_INVALID_FIELD && err.field[0] == '\0');
        check_failure(st, &err);
        return 0;
    }

    struct req r;
    st = rsp_json_bind(doc, req_fields, &r, &err);
    if (st != RSP_OK) {
        check_failure(st, &err);
    } else {
        check_str(r.hdr.requester, 1, 256);
        check_str(r.hdr.call_id, 1, 256);
        check((r.hdr.requester == NULL) == (r.hdr.call_id == NULL));
        check_bin(&r.transaction_id, 1, 16);
        check_bin(&r.euicc_challenge, 16, 16);
        check_bin(&r.euicc_info1, 1, 1024);
        check_str(r.smdp_address, 1, 255);
        check_str(r.eid, 32, 32);
        check_str(r.matching_id, 0, 255);
        round_trip_req(a, &r);
    }

    struct resp p;
    st = rsp_json_bind(doc, resp_fields, &p, &err);
    if (st != RSP_OK) {
        check_failure(st, &err);
    } else {
        check(p.hdr.status != NULL);
        check_str(p.hdr.status, 1, 64);
        check((p.hdr.subject == NULL) == (p.hdr.reason == NULL));
        const struct entry *e = p.entries.items;
        for (size_t i = 0; i < p.entries.count; i++) {
            check(e[i].event_id && e[i].address);
            check_str(e[i].event_id, 1, 128);
        }
        round_trip_resp(a, &p);
    }
    return 0;
}
