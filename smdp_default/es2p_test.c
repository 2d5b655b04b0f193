#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smdp_default/testutil.h"
#include "smdp_default/store_testutil.h"
#include "tests/unit/ut.h"

#define EID PKI_SGP26_EID
#define OTHER_EID "89049032123451234512345678901299"
#define HDR "\"header\":{\"functionRequesterIdentifier\":\"op\",\"functionCallIdentifier\":\"1\"}"
#define HDR2 "\"header\":{\"functionRequesterIdentifier\":\"op\",\"functionCallIdentifier\":\"2\"}"
#define HDR_R(id) "\"header\":{\"functionRequesterIdentifier\":\"op\",\"functionCallIdentifier\":\"" id "\"}"

static fx g;

static rsp_status call(smdp_fn fn, const char *cn, const char *body, char **reply)
{
    return fx_call(&g, fn, cn, body, reply);
}

static rsp_status es2(smdp_fn fn, const char *fmt, const char *a, const char *b)
{
    char body[1024];
    snprintf(body, sizeof(body), fmt, a ? a : "", b ? b : "");
    return call(fn, FX_OPERATOR, body, NULL);
}

typedef struct item_arg {
    smdp_ob_item items[16];
    int n;
} item_arg;

static int collect(void *arg, const smdp_ob_item *it)
{
    item_arg *a = arg;
    if (a->n < 16)
        a->items[a->n++] = *it;
    return 0;
}

static item_arg *outbox(void)
{
    static item_arg a;
    a.n = 0;
    UT_EQ(smdp_outbox_list(g.x->outbox, collect, &a), 0);
    return &a;
}

/* An operator that lost an answer and retries the same call (same caller, requester and call id). */
static void test_es2_retry_gets_first_answer(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    char *r1 = NULL, *r2 = NULL;
    const char *dl = "{" HDR_R("R1") ",\"profileType\":\"T1\",\"eid\":\"" EID "\"}";
    UT_EQ(call(SMDP_FN_DOWNLOAD_ORDER, FX_OPERATOR, dl, &r1), RSP_OK);
    UT_EQ(call(SMDP_FN_DOWNLOAD_ORDER, FX_OPERATOR, dl, &r2), RSP_OK);
    char a[32], b[32];
    fx_member(r1, "iccid", a, sizeof(a));
    fx_member(r2, "iccid", b, sizeof(b));
    /* the retry did not take a second profile of the type */
    UT_CHECK(a[0] && !strcmp(a, b));
    UT_CHECK(!strcmp(r1, r2));
    free(r1);
    free(r2);
    r1 = r2 = NULL;
    char other[32];
    UT_EQ(call(SMDP_FN_DOWNLOAD_ORDER, FX_OPERATOR, "{" HDR_R("R1b") ",\"profileType\":\"T1\"}", &r1),
          RSP_OK);
    fx_member(r1, "iccid", other, sizeof(other));
    UT_CHECK(strcmp(other, a) != 0);
    free(r1);
    r1 = NULL;

    char body[512];
    snprintf(
        body, sizeof(body),
        "{" HDR_R("R2") ",\"iccid\":\"%s\",\"releaseFlag\":true,\"smdsAddress\":\"testsmds.example.com\"}",
        a);
    UT_EQ(call(SMDP_FN_CONFIRM_ORDER, FX_OPERATOR, body, &r1), RSP_OK);
    UT_EQ(fx_outbox_count(&g, SMDP_OB_REGISTER_EVENT), 1);
    UT_EQ(call(SMDP_FN_CONFIRM_ORDER, FX_OPERATOR, body, &r2), RSP_OK);
    UT_CHECK(!strcmp(r1, r2));
    char mid[64];
    fx_member(r2, "matchingId", mid, sizeof(mid));
    UT_CHECK(strlen(mid) > 10);
    /* nothing happened twice */
    UT_EQ(fx_outbox_count(&g, SMDP_OB_REGISTER_EVENT), 1);
    UT_EQ(fx_state(&g, a), SMDP_STATE_RELEASED);
    free(r1);
    free(r2);
    /* the same identifier with other members is a new call */
    snprintf(body, sizeof(body), "{" HDR_R("R2") ",\"iccid\":\"%s\",\"releaseFlag\":false}", a);
    UT_EQ(call(SMDP_FN_CONFIRM_ORDER, FX_OPERATOR, body, NULL), RSP_ST_STATE_TRANSITION);
    /* and another caller's identical header is not this caller's call */
    snprintf(body, sizeof(body),
             "{" HDR_R("R3") ",\"iccid\":\"%s\",\"eid\":\"" EID "\",\"matchingId\":\"%s\","
                             "\"finalProfileStatusIndicator\":\"Available\"}",
             a, mid);
    UT_EQ(call(SMDP_FN_CANCEL_ORDER, FX_OPERATOR, body, NULL), RSP_OK);
    UT_EQ(call(SMDP_FN_CANCEL_ORDER, FX_OTHER_OPERATOR, body, NULL), RSP_ST_ICCID_NOT_ALLOWED);
    UT_EQ(call(SMDP_FN_CANCEL_ORDER, FX_OPERATOR, body, NULL), RSP_OK);
    UT_EQ(fx_state(&g, a), SMDP_STATE_AVAILABLE);
    /* answers are kept for a day (default): after that a retry is a new call again */
    g.time_offset = 2 * 86400;
    UT_EQ(call(SMDP_FN_CANCEL_ORDER, FX_OPERATOR, body, NULL), RSP_ST_STATE_TRANSITION);
    size_t n = 0;
    UT_EQ(smdp_orders_answers_purge(g.x->store, (uint64_t)time(NULL) + 2 * 86400, 64, &n), 0);
    UT_EQ(n, 4);
    UT_EQ(smdp_orders_answers_purge(g.x->store, (uint64_t)time(NULL) + 2 * 86400, 64, &n), 0);
    UT_EQ(n, 0);
    fx_clear(&g);
}

/* A second node on the same PostgreSQL store: refused at start with secrets of its own, joins with the
 * first node's, and sees and competes for the same inventory. */
static void test_second_node(void)
{
    if (!tu_orders_pg()) {
        printf("second node: PostgreSQL only\n");
        return;
    }
    UT_EQ(fx_init(&g, NULL), 0);
    fx other;
    fx_opts own = {.join = &g};
    UT_EQ(fx_init(&other, &own), -1);
    fx_clear(&other);
    fx_opts same = {.join = &g, .same_secrets = true};
    UT_EQ(fx_init(&other, &same), 0);
    UT_EQ(fx_download_order(&g, NULL, NULL, "T2", NULL), RSP_OK);
    UT_EQ(fx_state(&other, g.iccid[4]), SMDP_STATE_ALLOCATED);
    UT_EQ(fx_download_order(&other, NULL, NULL, "T2", NULL), RSP_ST_PROFILE_TYPE_EXHAUSTED);
    fx_clear(&other);
    fx_clear(&g);
}

static void test_TC_SM_DP_ES2p_DownloadOrder_ConfirmOrder_ReleaseProfile_nominal(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    char *reply = NULL;
    /* by profile type, without an EID: Allocated */
    UT_EQ(fx_download_order(&g, NULL, NULL, "T2", &reply), RSP_OK);
    char iccid[32];
    fx_member(reply, "iccid", iccid, sizeof(iccid));
    UT_CHECK(!strcmp(iccid, g.iccid[4]));
    free(reply);
    UT_EQ(fx_state(&g, iccid), SMDP_STATE_ALLOCATED);
    UT_EQ(fx_download_order(&g, NULL, NULL, "T2", NULL), RSP_ST_PROFILE_TYPE_EXHAUSTED);
    UT_EQ(fx_download_order(&g, NULL, NULL, "T9", NULL), RSP_ST_PROFILE_TYPE_UNKNOWN);
    /* confirm without release, no matchingId given: one is generated */
    reply = NULL;
    UT_EQ(fx_confirm(&g, iccid, false, ",\"eid\":\"" EID "\"", &reply), RSP_OK);
    char mid[64], addr[64], eid[40];
    fx_member(reply, "matchingId", mid, sizeof(mid));
    fx_member(reply, "smdpAddress", addr, sizeof(addr));
    fx_member(reply, "eid", eid, sizeof(eid));
    UT_CHECK(strlen(mid) > 10 && !strcmp(addr, FX_FQDN) && !strcmp(eid, EID));
    free(reply);
    UT_EQ(fx_state(&g, iccid), SMDP_STATE_CONFIRMED);
    /* ReleaseProfile */
    UT_EQ(es2(SMDP_FN_RELEASE_PROFILE, "{" HDR ",\"iccid\":\"%s\"}", iccid, NULL), RSP_OK);
    UT_EQ(fx_state(&g, iccid), SMDP_STATE_RELEASED);
    /* the same call again is a retry (its first answer); a new call is refused */
    UT_EQ(es2(SMDP_FN_RELEASE_PROFILE, "{" HDR ",\"iccid\":\"%s\"}", iccid, NULL), RSP_OK);
    UT_EQ(es2(SMDP_FN_RELEASE_PROFILE, "{" HDR2 ",\"iccid\":\"%s\"}", iccid, NULL), RSP_ST_STATE_TRANSITION);
    /* the device finds it by its matchingId */
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_download(&g, &d, mid, NULL), RSP_OK);
    UT_EQ(fx_state(&g, iccid), SMDP_STATE_INSTALLED);
    fx_dev_clear(&d);
    /* cancelling an installed profile is refused */
    UT_EQ(es2(SMDP_FN_CANCEL_ORDER,
              "{" HDR ",\"iccid\":\"%s\",\"finalProfileStatusIndicator\":\"Available\"}", iccid, NULL),
          RSP_ST_ICCID_IN_USE);
    /* a 20-character ICCID with F padding names the same profile */
    char padded[32];
    snprintf(padded, sizeof(padded), "%sF", g.iccid[0]);
    UT_EQ(fx_download_order(&g, EID, padded, NULL, NULL), RSP_OK);
    UT_EQ(fx_state(&g, g.iccid[0]), SMDP_STATE_LINKED);
    fx_clear(&g);
}

/* CancelOrder (Available) of iccid with extra members (NULL: none). */
static rsp_status cancel_order(const char *iccid, const char *extra)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{" HDR ",\"iccid\":\"%s\",%s%s\"finalProfileStatusIndicator\":\"Available\"}", iccid,
             extra ? extra : "", extra ? "," : "");
    return call(SMDP_FN_CANCEL_ORDER, FX_OPERATOR, body, NULL);
}

/* SGP.22 5.3.3: CancelOrder must name the EID and the matchingId the order has (given at DownloadOrder or
 * ConfirmOrder, or generated); 5.3.2: rootSmdsAddress qualifies an smdsAddress.  Each refusal changes
 * nothing. */
static void test_TC_SM_DP_ES2p_CancelOrder_ConfirmOrder_conditional_fields(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *alloc = g.iccid[0], *linked = g.iccid[1], *rel = g.iccid[2], *none = g.iccid[3];
    smdp_order before, after;
    /* Allocated: neither exists, nothing is required */
    UT_EQ(fx_download_order(&g, NULL, alloc, NULL, NULL), RSP_OK);
    UT_EQ(cancel_order(alloc, NULL), RSP_OK);
    UT_EQ(fx_state(&g, alloc), SMDP_STATE_AVAILABLE);
    /* Linked: the EID */
    UT_EQ(fx_download_order(&g, EID, linked, NULL, NULL), RSP_OK);
    UT_EQ(smdp_orders_get(g.x->store, linked, &before), RSP_OK);
    UT_EQ(cancel_order(linked, NULL), RSP_ST_EID_REQUIRED);
    UT_EQ(cancel_order(linked, "\"matchingId\":\"X\""), RSP_ST_EID_REQUIRED);
    UT_EQ(smdp_orders_get(g.x->store, linked, &after), RSP_OK);
    UT_CHECK(after.state == SMDP_STATE_LINKED && after.version == before.version);
    UT_EQ(cancel_order(linked, "\"eid\":\"" EID "\""), RSP_OK);
    /* Released with a generated matchingId: both */
    char *reply = NULL, mid[64], extra[256];
    UT_EQ(fx_download_order(&g, EID, rel, NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, rel, true, NULL, &reply), RSP_OK);
    fx_member(reply, "matchingId", mid, sizeof(mid));
    free(reply);
    UT_EQ(smdp_orders_get(g.x->store, rel, &before), RSP_OK);
    UT_EQ(cancel_order(rel, "\"eid\":\"" EID "\""), RSP_ST_MATCHING_ID_REQUIRED);
    snprintf(extra, sizeof(extra), "\"matchingId\":\"%s\"", mid);
    UT_EQ(cancel_order(rel, extra), RSP_ST_EID_REQUIRED);
    UT_EQ(smdp_orders_get(g.x->store, rel, &after), RSP_OK);
    UT_CHECK(after.state == SMDP_STATE_RELEASED && after.version == before.version);
    snprintf(extra, sizeof(extra), "\"eid\":\"" EID "\",\"matchingId\":\"%s\"", mid);
    UT_EQ(cancel_order(rel, extra), RSP_OK);
    UT_EQ(outbox()->n, 0);
    /* Released with an explicitly empty matchingId (the Default SM-DP+ case): the EID only */
    UT_EQ(fx_download_order(&g, EID, none, NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, none, true, ",\"matchingId\":\"\"", NULL), RSP_OK);
    UT_EQ(cancel_order(none, "\"eid\":\"" EID "\""), RSP_OK);
    /* ConfirmOrder: rootSmdsAddress without smdsAddress */
    UT_EQ(fx_download_order(&g, EID, alloc, NULL, NULL), RSP_OK);
    UT_EQ(smdp_orders_get(g.x->store, alloc, &before), RSP_OK);
    UT_EQ(fx_confirm(&g, alloc, true, ",\"rootSmdsAddress\":\"testsmds.example.com\"", NULL),
          RSP_ST_MANDATORY_MISSING);
    UT_EQ(fx_confirm(&g, alloc, true, ",\"smdsAddress\":\"\",\"rootSmdsAddress\":\"testsmds.example.com\"",
                     NULL),
          RSP_ST_MANDATORY_MISSING);
    UT_EQ(smdp_orders_get(g.x->store, alloc, &after), RSP_OK);
    UT_CHECK(after.state == SMDP_STATE_LINKED && after.version == before.version);
    UT_EQ(outbox()->n, 0);
    fx_clear(&g);
}

static void test_TC_SM_DP_ES2p_DownloadOrder_ConfirmOrder_CancelOrder_error_cases(void)
{
    UT_EQ(fx_init(&g, NULL), 0);
    const char *ic = g.iccid[0], *mine = g.iccid[1], *theirs = g.iccid[5];
    /* another operator's profile */
    UT_EQ(fx_download_order(&g, NULL, theirs, NULL, NULL), RSP_ST_ICCID_NOT_ALLOWED);
    UT_EQ(fx_download_order(&g, NULL, "8900000000000099999", NULL, NULL), RSP_ST_ICCID_UNKNOWN);
    UT_EQ(fx_download_order(&g, "123", ic, NULL, NULL), RSP_ST_EID_INVALID);
    UT_EQ(fx_download_order(&g, NULL, NULL, NULL, NULL), RSP_ST_MANDATORY_MISSING);
    UT_EQ(fx_download_order(&g, EID, ic, NULL, NULL), RSP_OK);
    UT_EQ(fx_download_order(&g, EID, ic, NULL, NULL), RSP_ST_ICCID_IN_USE);
    /* ConfirmOrder rules */
    UT_EQ(fx_confirm(&g, ic, true, ",\"eid\":\"" OTHER_EID "\"", NULL), RSP_ST_EID_OTHER_ASSOCIATED);
    UT_EQ(fx_download_order(&g, NULL, mine, NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, mine, true, ",\"smdsAddress\":\"testsmds.example.com\"", NULL), RSP_ST_EID_REQUIRED);
    UT_EQ(fx_confirm(&g, mine, true, ",\"matchingId\":\"\"", NULL), RSP_ST_EID_REQUIRED);
    UT_EQ(fx_confirm(&g, ic, true, ",\"matchingId\":\"DUP-1\"", NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, mine, true, ",\"matchingId\":\"DUP-1\"", NULL), RSP_ST_MATCHING_ID_IN_USE);
    UT_EQ(fx_confirm(&g, ic, true, NULL, NULL), RSP_ST_STATE_TRANSITION);
    UT_EQ(fx_confirm(&g, mine, true, ",\"matchingId\":\"with space\"", NULL), RSP_ST_INVALID_FIELD);
    /* Activation Code token rules: 0-9, A-Z and '-' only */
    UT_EQ(fx_confirm(&g, mine, true, ",\"matchingId\":\"lower-case\"", NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(fx_confirm(&g, mine, true, ",\"matchingId\":\"A$B\"", NULL), RSP_ST_INVALID_FIELD);
    UT_EQ(fx_confirm(&g, mine, true, ",\"matchingId\":\"UNDER_SCORE\"", NULL), RSP_ST_INVALID_FIELD);
    /* CancelOrder rules */
    UT_EQ(es2(SMDP_FN_CANCEL_ORDER, "{" HDR ",\"iccid\":\"%s\",\"finalProfileStatusIndicator\":\"Gone\"}", ic,
              NULL),
          RSP_ST_INVALID_FIELD);
    UT_EQ(cancel_order(ic, NULL), RSP_ST_EID_REQUIRED);
    UT_EQ(cancel_order(ic, "\"eid\":\"" EID "\""), RSP_ST_MATCHING_ID_REQUIRED);
    UT_EQ(cancel_order(ic, "\"eid\":\"" EID "\",\"matchingId\":\"OTHER\""), RSP_ST_MATCHING_ID_OTHER);
    UT_EQ(cancel_order(ic, "\"eid\":\"" OTHER_EID "\",\"matchingId\":\"DUP-1\""), RSP_ST_EID_MISMATCH);
    UT_EQ(cancel_order(g.iccid[3], NULL), RSP_ST_STATE_TRANSITION);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_RELEASED);
    UT_EQ(es2(SMDP_FN_CANCEL_ORDER,
              "{" HDR ",\"iccid\":\"%s\",\"eid\":\"" EID
              "\",\"matchingId\":\"DUP-1\",\"finalProfileStatusIndicator\":\"Unavailable\"}",
              ic, NULL),
          RSP_OK);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_UNAVAILABLE);
    fx_clear(&g);
}

static void test_caller_and_header(void)
{
    static const char ops[] = "[acme]\ncn = client.acme.example, other.acme.example\n"
                              "notify_url = https://es2.acme.example/hdpi\n[op2]\ncn = op2.example\n";
    fx_opts o = {.operators_ini = ops};
    UT_EQ(fx_init(&g, &o), 0);
    /* with an operators file, a CN maps to its operator; an unlisted CN is refused */
    char body[512];
    snprintf(body, sizeof(body), "{" HDR ",\"iccid\":\"%s\"}", g.iccid[5]);
    UT_EQ(call(SMDP_FN_DOWNLOAD_ORDER, "unknown.example", body, NULL), RSP_ST_FUNCTION_CALLER_UNKNOWN);
    UT_EQ(call(SMDP_FN_DOWNLOAD_ORDER, NULL, body, NULL), RSP_ST_FUNCTION_CALLER_UNKNOWN);
    UT_EQ(call(SMDP_FN_DOWNLOAD_ORDER, "client.acme.example", body, NULL), RSP_ST_ICCID_NOT_ALLOWED);
    UT_EQ(call(SMDP_FN_DOWNLOAD_ORDER, "op2.example", body, NULL), RSP_OK);
    UT_EQ(fx_state(&g, g.iccid[5]), SMDP_STATE_ALLOCATED);
    /* the header is mandatory, with both members */
    snprintf(body, sizeof(body), "{\"iccid\":\"%s\"}", g.iccid[5]);
    UT_EQ(call(SMDP_FN_RELEASE_PROFILE, "op2.example", body, NULL), RSP_ST_MANDATORY_MISSING);
    snprintf(body, sizeof(body), "{\"header\":{\"functionRequesterIdentifier\":\"x\"},\"iccid\":\"%s\"}",
             g.iccid[5]);
    UT_EQ(call(SMDP_FN_RELEASE_PROFILE, "op2.example", body, NULL), RSP_ST_MANDATORY_MISSING);
    static const struct {
        smdp_fn fn;
        const char *body;
        rsp_status want;
    } cases[] = {
        {SMDP_FN_DOWNLOAD_ORDER, "{" HDR ",\"eid\":5}", RSP_ST_INVALID_FIELD},
        {SMDP_FN_CONFIRM_ORDER, "{" HDR ",\"iccid\":\"8900000000000000100\"}", RSP_ST_MANDATORY_MISSING},
        {SMDP_FN_CONFIRM_ORDER, "{" HDR ",\"iccid\":\"8900000000000000100\",\"releaseFlag\":\"yes\"}",
         RSP_ST_INVALID_FIELD},
        {SMDP_FN_CANCEL_ORDER, "{" HDR ",\"iccid\":\"8900000000000000100\"}", RSP_ST_MANDATORY_MISSING},
        {SMDP_FN_RELEASE_PROFILE, "{" HDR "}", RSP_ST_MANDATORY_MISSING},
        {SMDP_FN_RELEASE_PROFILE, "{" HDR ",\"iccid\":\"8900000000000000100\"}", RSP_ST_ICCID_NOT_ALLOWED},
        {SMDP_FN_RELEASE_PROFILE, "{" HDR ",\"iccid\":\"x\"}", RSP_ST_ICCID_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rsp_status st = call(cases[i].fn, "other.acme.example", cases[i].body, NULL);
        if (st != cases[i].want)
            fprintf(stderr, "case %zu: %s\n", i, rsp_status_str(st));
        UT_EQ(st, cases[i].want);
    }
    fx_clear(&g);
}

static void test_events_queued(void)
{
    static const char *const allowed[] = {"testsmds.example.com", "alt.example.com"};
    fx_opts o = {.smds_allowed = allowed, .n_smds_allowed = 2};
    UT_EQ(fx_init(&g, &o), 0);
    const char *ic = g.iccid[0], *ic2 = g.iccid[1];
    UT_EQ(fx_download_order(&g, EID, ic, NULL, NULL), RSP_OK);
    /* not on the allow list, or not a host name: 8.9/5.1 and nothing changes */
    UT_EQ(fx_confirm(&g, ic, true, ",\"smdsAddress\":\"rogue.example.com\"", NULL), RSP_ST_SMDS_UNAVAILABLE);
    UT_EQ(fx_confirm(&g, ic, true, ",\"smdsAddress\":\"https://x/\"", NULL), RSP_ST_SMDS_UNAVAILABLE);
    UT_EQ(fx_state(&g, ic), SMDP_STATE_LINKED);
    UT_EQ(outbox()->n, 0);
    /* released with an smdsAddress: RegisterEvent queued in the same transaction */
    UT_EQ(fx_confirm(&g, ic, true,
                     ",\"matchingId\":\"EV-9\",\"smdsAddress\":\"alt.example.com\","
                     "\"rootSmdsAddress\":\"testsmds.example.com\"",
                     NULL),
          RSP_OK);
    item_arg *a = outbox();
    UT_EQ(a->n, 1);
    UT_EQ(a->items[0].kind, SMDP_OB_REGISTER_EVENT);
    UT_CHECK(!strcmp(a->items[0].target, "alt.example.com") && !strcmp(a->items[0].eid, EID) &&
             !strcmp(a->items[0].event_id, "EV-9") && a->items[0].forward);
    /* confirmed without release: the event waits for ReleaseProfile */
    UT_EQ(fx_download_order(&g, EID, ic2, NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, ic2, false, ",\"matchingId\":\"EV-10\",\"smdsAddress\":\"testsmds.example.com\"",
                     NULL),
          RSP_OK);
    UT_EQ(outbox()->n, 1);
    UT_EQ(es2(SMDP_FN_RELEASE_PROFILE, "{" HDR ",\"iccid\":\"%s\"}", ic2, NULL), RSP_OK);
    a = outbox();
    UT_EQ(a->n, 2);
    UT_CHECK(a->items[1].kind == SMDP_OB_REGISTER_EVENT && !a->items[1].forward &&
             !strcmp(a->items[1].event_id, "EV-10"));
    /* CancelOrder deletes the event */
    UT_EQ(cancel_order(ic, "\"eid\":\"" EID "\",\"matchingId\":\"EV-9\""), RSP_OK);
    a = outbox();
    UT_EQ(a->n, 3);
    UT_CHECK(a->items[2].kind == SMDP_OB_DELETE_EVENT && !strcmp(a->items[2].event_id, "EV-9") &&
             !strcmp(a->items[2].target, "alt.example.com") &&
             !strcmp(a->items[2].stream, a->items[0].stream));
    /* and expiry deletes the other one */
    UT_EQ(smdp_expire_orders(g.x, (uint64_t)time(NULL) + 31u * 24 * 3600), 1);
    a = outbox();
    UT_EQ(a->n, 4);
    UT_CHECK(a->items[3].kind == SMDP_OB_DELETE_EVENT && !strcmp(a->items[3].event_id, "EV-10"));
    fx_clear(&g);
}

/* A loopback listener: with answer set, a thread accepts each connection and answers bytes that are no
 * TLS; without, connections wait in the backlog unanswered. */
typedef struct listener {
    int fd, port;
    bool answer;
    pthread_t t;
} listener;

static void *listener_main(void *arg)
{
    listener *l = arg;
    for (int i = 0; i < 16; i++) {
        int c = accept(l->fd, NULL, NULL);
        if (c < 0)
            break;
        static const char junk[] = "SSH-2.0-not-tls\r\n";
        (void)!write(c, junk, sizeof(junk) - 1);
        close(c);
    }
    return NULL;
}

static void listener_start(listener *l, bool answer)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    UT_CHECK(l->fd >= 0 && bind(l->fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l->fd, 8) == 0 &&
             getsockname(l->fd, (struct sockaddr *)&a, &n) == 0);
    l->port = ntohs(a.sin_port);
    l->answer = answer;
    if (answer)
        UT_EQ(pthread_create(&l->t, NULL, listener_main, l), 0);
}

static void listener_stop(listener *l)
{
    shutdown(l->fd, SHUT_RDWR);
    if (l->answer)
        pthread_join(l->t, NULL);
    close(l->fd);
}

/* ConfirmOrder / ReleaseProfile try RegisterEvent at once: an SM-DS that refuses TLS answers 8.9/5.1 with
 * nothing changed and nothing queued; one that does not answer within the deadline is left to the outbox. */
static void test_TC_SM_DP_ES2p_ConfirmOrder_smds_register_event_at_once(void)
{
    listener refuse, silent;
    listener_start(&refuse, true);
    listener_start(&silent, false);
    char connect_to[160];
    snprintf(connect_to, sizeof(connect_to), "notls.example:443:127.0.0.1:%d,slow.example:443:127.0.0.1:%d",
             refuse.port, silent.port);
    /* long enough for the refusal to arrive on a loaded machine under ASan; the silent SM-DS costs it once */
    fx_opts o = {.register_event_ms = 3000, .connect_to = connect_to};
    UT_EQ(fx_init(&g, &o), 0);
    const char *ic = g.iccid[0], *ic2 = g.iccid[1];
    UT_EQ(fx_download_order(&g, EID, ic, NULL, NULL), RSP_OK);
    smdp_order before, after;
    UT_EQ(smdp_orders_get(g.x->store, ic, &before), RSP_OK);
    /* definitive: TLS refused, with or without a matchingId of the caller's */
    UT_EQ(fx_confirm(&g, ic, true, ",\"smdsAddress\":\"notls.example\"", NULL), RSP_ST_SMDS_UNAVAILABLE);
    UT_EQ(fx_confirm(&g, ic, true, ",\"matchingId\":\"EV-1\",\"smdsAddress\":\"notls.example\"", NULL),
          RSP_ST_SMDS_UNAVAILABLE);
    UT_EQ(smdp_orders_get(g.x->store, ic, &after), RSP_OK);
    UT_CHECK(after.state == SMDP_STATE_LINKED && after.version == before.version && !after.matching_id[0]);
    UT_EQ(outbox()->n, 0);
    /* a store refusal comes first: nothing is tried for an order that cannot be confirmed */
    UT_EQ(fx_confirm(&g, g.iccid[5], true, ",\"smdsAddress\":\"notls.example\"", NULL),
          RSP_ST_ICCID_NOT_ALLOWED);
    /* transient: no answer within the deadline, accepted and queued */
    char *reply = NULL;
    UT_EQ(fx_confirm(&g, ic, true, ",\"smdsAddress\":\"slow.example\"", &reply), RSP_OK);
    char mid[64];
    fx_member(reply, "matchingId", mid, sizeof(mid));
    free(reply);
    item_arg *a = outbox();
    UT_EQ(a->n, 1);
    UT_CHECK(a->items[0].kind == SMDP_OB_REGISTER_EVENT && !strcmp(a->items[0].event_id, mid) &&
             !strcmp(a->items[0].target, "slow.example"));
    UT_EQ(fx_state(&g, ic), SMDP_STATE_RELEASED);
    /* ReleaseProfile of an order confirmed with an SM-DS that refuses TLS */
    UT_EQ(fx_download_order(&g, EID, ic2, NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, ic2, false, ",\"matchingId\":\"EV-2\",\"smdsAddress\":\"notls.example\"", NULL),
          RSP_OK);
    UT_EQ(es2(SMDP_FN_RELEASE_PROFILE, "{" HDR ",\"iccid\":\"%s\"}", ic2, NULL), RSP_ST_SMDS_UNAVAILABLE);
    UT_EQ(fx_state(&g, ic2), SMDP_STATE_CONFIRMED);
    UT_EQ(outbox()->n, 1);
    fx_clear(&g);
    listener_stop(&refuse);
    listener_stop(&silent);
}

static void test_progress_notifications(void)
{
    static const char ops[] = "[op1]\ncn = op1\nnotify_url = https://es2.op1.example/hdpi\n";
    fx_opts o = {.operators_ini = ops, .progress = true};
    UT_EQ(fx_init(&g, &o), 0);
    const char *ic = g.iccid[0];
    UT_EQ(fx_download_order(&g, EID, ic, NULL, NULL), RSP_OK);
    UT_EQ(fx_confirm(&g, ic, true, ",\"matchingId\":\"EV-P\",\"confirmationCode\":\"42\"", NULL), RSP_OK);
    fx_dev d;
    UT_EQ(fx_dev_init(&g, &d), 0);
    UT_EQ(fx_dev_initiate(&g, &d, "EV-P"), RSP_OK);
    UT_EQ(fx_dev_authenticate(&g, &d, "41"), RSP_OK);
    UT_EQ(fx_dev_get_bpp(&g, &d), RSP_ST_CC_REFUSED);
    UT_EQ(fx_dev_download(&g, &d, "EV-P", "42"), RSP_OK);
    item_arg *a = outbox();
    /* eligibility (twice: two sessions), confirmation failure, BPP download, installation */
    uint32_t want[] = {SMDP_NP_ELIGIBILITY, SMDP_NP_CC_FAILURE, SMDP_NP_ELIGIBILITY, SMDP_NP_BPP_DOWNLOAD,
                       SMDP_NP_BPP_INSTALL};
    UT_EQ(a->n, 5);
    for (int i = 0; i < a->n && i < 5; i++) {
        UT_EQ(a->items[i].kind, SMDP_OB_PROGRESS);
        UT_EQ(a->items[i].np_id, want[i]);
        UT_CHECK(!strcmp(a->items[i].target, "op1") && !strcmp(a->items[i].iccid, ic) &&
                 !strcmp(a->items[i].eid, EID) && !strcmp(a->items[i].profile_type, "T1"));
    }
    UT_CHECK(!a->items[1].success && !strcmp(a->items[1].subject, "8.2.7") &&
             !strcmp(a->items[1].reason, "3.8"));
    UT_CHECK(a->items[4].success && a->items[4].result_len == d.pir_len &&
             !memcmp(a->items[4].result, d.pir, d.pir_len));
    /* the request body an operator receives */
    smdp_notify_config nc = {.fqdn = FX_FQDN};
    smdp_notify *n = smdp_notify_new(&nc, NULL, 0);
    size_t len;
    char *json = smdp_notify_body(n, &a->items[1], &len);
    UT_CHECK(json && strstr(json, "\"notificationPointId\":2") &&
             strstr(json, "\"notificationPointStatus\":{\"status\":\"Failed\",\"statusCodeData\":"
                          "{\"subjectCode\":\"8.2.7\",\"reasonCode\":\"3.8\"}}") &&
             strstr(json, "\"functionRequesterIdentifier\":\"" FX_FQDN "\"") &&
             strstr(json, "\"profileType\":\"T1\""));
    free(json);
    json = smdp_notify_body(n, &a->items[4], &len);
    UT_CHECK(json && strstr(json, "\"resultData\":\"vz") && strstr(json, "\"status\":\"Executed-Success\""));
    free(json);
    smdp_notify_free(n);
    fx_dev_clear(&d);
    fx_clear(&g);
}

int main(void)
{
    if (tu_orders_start(TU_ORDERS_PG, "es2p_test") != 0)
        return 0;
    UT_RUN(test_TC_SM_DP_ES2p_DownloadOrder_ConfirmOrder_ReleaseProfile_nominal);
    UT_RUN(test_es2_retry_gets_first_answer);
    UT_RUN(test_TC_SM_DP_ES2p_DownloadOrder_ConfirmOrder_CancelOrder_error_cases);
    UT_RUN(test_TC_SM_DP_ES2p_CancelOrder_ConfirmOrder_conditional_fields);
    UT_RUN(test_caller_and_header);
    UT_RUN(test_events_queued);
    UT_RUN(test_TC_SM_DP_ES2p_ConfirmOrder_smds_register_event_at_once);
    UT_RUN(test_progress_notifications);
    UT_RUN(test_second_node);
    tu_orders_stop();
    return ut_finish();
}
