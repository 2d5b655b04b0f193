/* Unit tests of ES12/ES15 RegisterEvent and DeleteEvent (request checks and operations, no sockets). */
#include "smds/es12.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smds/store_testutil.h"
#include "smds/testutil.h"
#include "tests/unit/ut.h"

#define EID "89049032123451234512345678901235"
#define EID2 "89049032123451234512345678901299"

static char pki[1024];
static smds_t *x;

static const char *dp1_dns[] = {"smdp1.example.com", "alt.smdp1.example.com"};
static const smds_caller dp1 = {RSP_PEER_DP, "2.999.10", dp1_dns, 2};
static const char *dp2_dns[] = {"smdp2.example.com"};
static const smds_caller dp2 = {RSP_PEER_DP, "2.999.12", dp2_dns, 1};
static const char *dp3_dns[] = {"smdp3.example.com"};
static const smds_caller dp3_no_oid = {RSP_PEER_DP, "smdp3.example.com", dp3_dns, 1};
static const char *ds_dns[] = {"alt-smds.example.com"};
static const smds_caller ds = {RSP_PEER_DS, "2.999.30", ds_dns, 1};

static char body[2048];

static const char *reg_body(const char *eid, const char *addr, const char *id, const char *extra)
{
    snprintf(body, sizeof(body),
             "{\"header\":{\"functionRequesterIdentifier\":\"req\",\"functionCallIdentifier\":\"c1\"},"
             "\"eid\":\"%s\",\"rspServerAddress\":\"%s\",\"eventId\":\"%s\"%s}",
             eid, addr, id, extra ? extra : "");
    return body;
}

static const char *del_body(const char *eid, const char *id)
{
    snprintf(body, sizeof(body),
             "{\"header\":{\"functionRequesterIdentifier\":\"req\",\"functionCallIdentifier\":\"c2\"},"
             "\"eid\":\"%s\",\"eventId\":\"%s\"}",
             eid, id);
    return body;
}

/* Parses and, when the checks pass, registers; returns the final status. */
static rsp_status do_register(const smds_caller *who, int iface, const char *json)
{
    rsp_arena *a = rsp_arena_new(1 << 16);
    rsp_json_doc *doc = tu_doc(a, json);
    rsp_status st = RSP_ST_INVALID_FIELD;
    if (doc) {
        smds_event ev;
        bool fwd;
        smds_msg msg = {0};
        st = smds_es12_parse_register(x, doc, who, iface, &ev, &fwd, &msg);
        if (st == RSP_OK) {
            UT_CHECK(strcmp(ev.owner, who->owner) == 0);
            UT_EQ(ev.via, iface);
            st = smds_event_register_wait(x, &ev, fwd, time(NULL));
        } else {
            UT_CHECK(msg.detail != NULL || msg.message != NULL);
        }
    }
    rsp_arena_free(a);
    return st;
}

static rsp_status do_delete(const smds_caller *who, int iface, const char *json)
{
    rsp_arena *a = rsp_arena_new(1 << 16);
    rsp_json_doc *doc = tu_doc(a, json);
    rsp_status st = RSP_ST_INVALID_FIELD;
    if (doc) {
        char eid[SMDS_EID_LEN + 1], id[SMDS_EVENT_ID_MAX + 1];
        smds_msg msg = {0};
        st = smds_es12_parse_delete(x, doc, who, iface, eid, id, &msg);
        if (st == RSP_OK)
            st = smds_event_delete_wait(x, eid, id, who->owner);
    }
    rsp_arena_free(a);
    return st;
}

static void test_register_delete(void)
{
    uint64_t before = smds_store_count(x->store);
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp1.example.com", "EV-1", NULL)), RSP_OK);
    /* any DNS name of the certificate, in any case */
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "ALT.smdp1.example.com", "EV-2", NULL)), RSP_OK);
    UT_EQ(smds_store_count(x->store), before + 2);
    /* duplicate EventID, from the owner or from anyone else */
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp1.example.com", "EV-1", NULL)),
          RSP_ST_EVENT_EXISTS);
    UT_EQ(do_register(&dp2, SMDS_ES12, reg_body(EID2, "smdp2.example.com", "EV-1", NULL)),
          RSP_ST_EVENT_EXISTS);
    /* another SM-DP+ can neither delete it nor learn that it exists */
    UT_EQ(do_delete(&dp2, SMDS_ES12, del_body(EID, "EV-1")), RSP_ST_EVENT_UNKNOWN);
    UT_EQ(do_delete(&dp2, SMDS_ES12, del_body(EID, "EV-404")), RSP_ST_EVENT_UNKNOWN);
    /* the owner, with the wrong EID */
    UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(EID2, "EV-1")), RSP_ST_EVENT_UNKNOWN);
    smds_event got;
    UT_EQ(smds_store_get(x->store, "EV-1", &got), 1);
    UT_CHECK(strcmp(got.owner, "2.999.10") == 0);
    UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(EID, "EV-1")), RSP_OK);
    UT_EQ(smds_store_get(x->store, "EV-1", &got), 0);
    UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(EID, "EV-1")), RSP_ST_EVENT_UNKNOWN);
    UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(EID, "EV-2")), RSP_OK);
    UT_EQ(smds_store_count(x->store), before);

    /* without an OID the owner is the first DNS name */
    UT_EQ(do_register(&dp3_no_oid, SMDS_ES12, reg_body(EID, "smdp3.example.com", "EV-3", NULL)), RSP_OK);
    UT_EQ(smds_store_get(x->store, "EV-3", &got), 1);
    UT_CHECK(strcmp(got.owner, "smdp3.example.com") == 0);
    UT_EQ(do_delete(&dp3_no_oid, SMDS_ES12, del_body(EID, "EV-3")), RSP_OK);

    /* forwardingIndicator on a Root SM-DS (no root configured): kept here, not forwarded */
    UT_EQ(do_register(&dp1, SMDS_ES12,
                      reg_body(EID, "smdp1.example.com", "EV-F", ",\"forwardingIndicator\":true")),
          RSP_OK);
    UT_EQ(smds_store_get(x->store, "EV-F", &got), 1);
    UT_CHECK(!got.forwarded);
    UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(EID, "EV-F")), RSP_OK);
}

static void test_refusals(void)
{
    uint64_t before = smds_store_count(x->store);
    /* the address must be one of the caller's */
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp2.example.com", "EV-X", NULL)),
          RSP_ST_FUNCTION_CALLER_UNKNOWN);
    /* no identity */
    UT_EQ(do_register(NULL, SMDS_ES12, reg_body(EID, "smdp1.example.com", "EV-X", NULL)),
          RSP_ST_FUNCTION_CALLER_UNKNOWN);
    UT_EQ(do_delete(NULL, SMDS_ES12, del_body(EID, "EV-X")), RSP_ST_FUNCTION_CALLER_UNKNOWN);
    /* ES15 is for SM-DS only */
    UT_EQ(do_register(&dp1, SMDS_ES15, reg_body(EID, "smdp1.example.com", "EV-X", NULL)),
          RSP_ST_FUNCTION_CALLER_UNKNOWN);
    UT_EQ(do_delete(&dp1, SMDS_ES15, del_body(EID, "EV-X")), RSP_ST_FUNCTION_CALLER_UNKNOWN);
    /* EIDs */
    static const char *bad_eids[] = {"8904903212345123451234567890123", "890490321234512345123456789012351",
                                     "8904903212345123451234567890123A", "",
                                     "89049032 123451234512345678901235"};
    for (size_t i = 0; i < sizeof(bad_eids) / sizeof(bad_eids[0]); i++) {
        UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(bad_eids[i], "smdp1.example.com", "EV-X", NULL)),
              RSP_ST_EID_INVALID);
        UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(bad_eids[i], "EV-X")), RSP_ST_EID_INVALID);
    }
    /* malformed bodies: a GSMA error and no state change */
    static const struct {
        const char *json;
        rsp_status want;
    } cases[] = {
        {"{\"eid\":\"" EID "\",\"rspServerAddress\":\"smdp1.example.com\",\"eventId\":\"E\"}",
         RSP_ST_MANDATORY_MISSING},
        {"{\"header\":{\"functionRequesterIdentifier\":\"r\"},\"eid\":\"" EID
         "\",\"rspServerAddress\":\"smdp1.example.com\",\"eventId\":\"E\"}",
         RSP_ST_MANDATORY_MISSING},
        {"{\"header\":{\"functionRequesterIdentifier\":\"r\",\"functionCallIdentifier\":\"c\"},\"eid\":8904,"
         "\"rspServerAddress\":\"smdp1.example.com\",\"eventId\":\"E\"}",
         RSP_ST_INVALID_FIELD},
        {"{\"header\":{\"functionRequesterIdentifier\":\"r\",\"functionCallIdentifier\":\"c\"},\"eid\":\"" EID
         "\",\"rspServerAddress\":\"smdp1.example.com\",\"eventId\":\"\"}",
         RSP_ST_INVALID_FIELD},
        {"{\"header\":{\"functionRequesterIdentifier\":\"r\",\"functionCallIdentifier\":\"c\"},\"eid\":\"" EID
         "\",\"rspServerAddress\":\"smdp1.example.com\",\"eventId\":\"a\\u0001b\"}",
         RSP_ST_INVALID_FIELD},
        {"{\"header\":{\"functionRequesterIdentifier\":\"r\",\"functionCallIdentifier\":\"c\"},\"eid\":\"" EID
         "\",\"rspServerAddress\":\"smdp1.example.com\",\"eventId\":\"E\",\"forwardingIndicator\":\"yes\"}",
         RSP_ST_INVALID_FIELD},
        {"{\"header\":[],\"eid\":\"" EID "\",\"rspServerAddress\":\"smdp1.example.com\",\"eventId\":\"E\"}",
         RSP_ST_INVALID_FIELD},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        UT_EQ(do_register(&dp1, SMDS_ES12, cases[i].json), cases[i].want);
    /* an EventID of 129 bytes */
    char long_id[200];
    memset(long_id, 'x', 129);
    long_id[129] = 0;
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp1.example.com", long_id, NULL)),
          RSP_ST_INVALID_FIELD);
    long_id[128] = 0;
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp1.example.com", long_id, NULL)), RSP_OK);
    UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(EID, long_id)), RSP_OK);
    UT_EQ(smds_store_count(x->store), before);
}

static void test_es15(void)
{
    /* any certified SM-DS may call ES15 when no peers are configured */
    UT_EQ(do_register(&ds, SMDS_ES15, reg_body(EID, "alt-smds.example.com", "EV-15", NULL)), RSP_OK);
    smds_event got;
    UT_EQ(smds_store_get(x->store, "EV-15", &got), 1);
    UT_EQ(got.via, 15);
    /* forwardingIndicator over ES15 is not acted upon */
    UT_CHECK(!got.forwarded);
    UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(EID, "EV-15")), RSP_ST_EVENT_UNKNOWN);
    UT_EQ(do_delete(&ds, SMDS_ES15, del_body(EID, "EV-15")), RSP_OK);
}

static void test_es15_peers(void)
{
    char state[1024];
    snprintf(state, sizeof(state), "%s", tu_dir("es12_peers"));
    smds_t *first = x;
    const char *peers[] = {"2.999.31", "alt-smds.example.com"};
    smds_config *cfg = tu_config(pki, state, true);
    cfg->es15_peers = peers;
    cfg->n_es15_peers = 2;
    x = tu_new(cfg, "es12_peers");
    UT_CHECK(x != NULL);
    if (!x) {
        x = first;
        return;
    }
    static const char *other_dns[] = {"rogue-smds.example.com"};
    static const smds_caller rogue = {RSP_PEER_DS, "2.999.66", other_dns, 1};
    UT_EQ(do_register(&rogue, SMDS_ES15, reg_body(EID, "rogue-smds.example.com", "EV-R", NULL)),
          RSP_ST_FUNCTION_CALLER_UNKNOWN);
    /* listed by DNS name */
    UT_EQ(do_register(&ds, SMDS_ES15, reg_body(EID, "alt-smds.example.com", "EV-P", NULL)), RSP_OK);
    smds_free(x);
    x = first;
}

static void test_cascade_unreachable(void)
{
    char state[1024];
    snprintf(state, sizeof(state), "%s", tu_dir("es12_alt"));
    smds_root_config root = {.address = "127.0.0.1:1",
                             .cert = "/nonexistent",
                             .key = "/nonexistent",
                             .ca = "/nonexistent",
                             .requester = TU_FQDN,
                             .timeout_ms = 2000};
    smds_t *first = x;
    x = tu_smds(pki, state, NULL, &root, NULL);
    UT_CHECK(x != NULL);
    if (!x) {
        x = first;
        return;
    }
    UT_EQ(do_register(&dp1, SMDS_ES12,
                      reg_body(EID, "smdp1.example.com", "EV-C", ",\"forwardingIndicator\":true")),
          RSP_ST_SMDS_UNAVAILABLE);
    smds_event got;
    UT_EQ(smds_store_get(x->store, "EV-C", &got), 0); /* not kept */
    UT_EQ(smds_store_count(x->store), 0);
    /* without forwarding the root is not involved */
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp1.example.com", "EV-L", NULL)), RSP_OK);
    UT_EQ(do_delete(&dp1, SMDS_ES12, del_body(EID, "EV-L")), RSP_OK);
    smds_free(x);
    x = first;
}

static void test_store_cap(void)
{
    char state[1024];
    snprintf(state, sizeof(state), "%s", tu_dir("es12_cap"));
    smds_store_config sc = {.per_eid_cap = 2};
    smds_t *first = x;
    x = tu_smds(pki, state, NULL, NULL, &sc);
    UT_CHECK(x != NULL);
    if (!x) {
        x = first;
        return;
    }
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp1.example.com", "C1", NULL)), RSP_OK);
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp1.example.com", "C2", NULL)), RSP_OK);
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID, "smdp1.example.com", "C3", NULL)), RSP_ST_INTERNAL);
    UT_EQ(do_register(&dp1, SMDS_ES12, reg_body(EID2, "smdp1.example.com", "C3", NULL)), RSP_OK);
    smds_free(x);
    x = first;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: es12_test <rsp-pki>\n");
        return 2;
    }
    if (tu_store_start(TEST_STORE, "es12_test") != 0)
        return 0;
    snprintf(pki, sizeof(pki), "%s", tu_dir("es12_pki"));
    if (tu_pki(argv[1], pki))
        return 1;
    x = tu_smds(pki, tu_dir("es12_state"), NULL, NULL, NULL);
    if (!x)
        return 1;
    UT_RUN(test_register_delete);
    UT_RUN(test_refusals);
    UT_RUN(test_es15);
    UT_RUN(test_es15_peers);
    UT_RUN(test_cascade_unreachable);
    UT_RUN(test_store_cap);
    smds_free(x);
    tu_store_stop();
    return ut_finish();
}
