#include "rsp/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Other code reaches jsmn through the declarations only; json.c holds the
 * implementation.  This checks that such a user links. */
#define JSMN_HEADER
#include <jsmn.h>

#include "rsp/jsonw.h"
#include "tests/unit/ut.h"

static rsp_arena *arena;

/* ---- Tables modelled on real requests and responses ---- */

struct ia_req { /* ES11/ES9+ InitiateAuthentication */
    rsp_json_bin euicc_challenge;
    rsp_json_bin euicc_info1;
    const char *smds_address;
    const char *smdp_address;
    rsp_json_bin lpa_rsp_capability;
};

static const rsp_json_field ia_fields[] = {
    RSP_JSON_F("euiccChallenge", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 16, 16, struct ia_req, euicc_challenge),
    RSP_JSON_F("euiccInfo1", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, 1024, struct ia_req, euicc_info1),
    RSP_JSON_F("smdsAddress", RSP_JSON_STRING, 0, 1, 255, struct ia_req, smds_address),
    RSP_JSON_F("smdpAddress", RSP_JSON_STRING, 0, 1, 255, struct ia_req, smdp_address),
    RSP_JSON_F("lpaRspCapability", RSP_JSON_BASE64, 0, 0, 64, struct ia_req, lpa_rsp_capability),
    RSP_JSON_END,
};

struct ac_req { /* ES11/ES9+ AuthenticateClient */
    rsp_json_bin transaction_id;
    rsp_json_bin asr;
};

static const rsp_json_field ac_fields[] = {
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, 16, struct ac_req, transaction_id),
    RSP_JSON_F("authenticateServerResponse", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 1, 0, struct ac_req, asr),
    RSP_JSON_END,
};

struct reg_event { /* ES12 RegisterEvent */
    rsp_json_req_header hdr;
    const char *eid;
    const char *rsp_server_address;
    const char *event_id;
    bool forwarding;
};

static const rsp_json_field reg_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, struct reg_event, hdr, rsp_json_req_header_fields),
    RSP_JSON_F("eid", RSP_JSON_STRING, RSP_JSON_MANDATORY, 32, 32, struct reg_event, eid),
    RSP_JSON_F("rspServerAddress", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 255, struct reg_event,
               rsp_server_address),
    RSP_JSON_F("eventId", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 128, struct reg_event, event_id),
    RSP_JSON_F("forwardingIndicator", RSP_JSON_BOOL, 0, 0, 0, struct reg_event, forwarding),
    RSP_JSON_END,
};

struct event_entry {
    const char *event_id;
    const char *address;
};

static const rsp_json_field entry_fields[] = {
    RSP_JSON_F("eventId", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 128, struct event_entry, event_id),
    RSP_JSON_F("rspServerAddress", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 255, struct event_entry, address),
    RSP_JSON_END,
};

struct ac_resp { /* ES11 AuthenticateClient response */
    rsp_json_resp_header hdr;
    rsp_json_bin transaction_id;
    rsp_json_array entries;
};

static const rsp_json_field ac_resp_header_only[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, struct ac_resp, hdr, rsp_json_resp_header_fields),
    RSP_JSON_END,
};

static const rsp_json_field ac_resp_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, struct ac_resp, hdr, rsp_json_resp_header_fields),
    RSP_JSON_F("transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, 16, struct ac_resp, transaction_id),
    RSP_JSON_ARR("eventEntries", RSP_JSON_MANDATORY, 0, 100, struct ac_resp, entries, entry_fields,
                 struct event_entry),
    RSP_JSON_END,
};

/* One field of every kind, for type checks. */
struct kinds {
    const char *s;
    rsp_json_bin h, b;
    bool flag;
    int64_t n;
    struct {
        const char *inner;
    } obj;
    rsp_json_array arr;
};

static const rsp_json_field obj_fields[] = {
    RSP_JSON_F("inner", RSP_JSON_STRING, 0, 0, 0, struct kinds, obj.inner),
    RSP_JSON_END,
};

static const rsp_json_field kinds_fields[] = {
    RSP_JSON_F("s", RSP_JSON_STRING, 0, 0, 0, struct kinds, s),
    RSP_JSON_F("h", RSP_JSON_HEX, 0, 0, 0, struct kinds, h),
    RSP_JSON_F("b", RSP_JSON_BASE64, 0, 0, 0, struct kinds, b),
    RSP_JSON_F("flag", RSP_JSON_BOOL, 0, 0, 0, struct kinds, flag),
    RSP_JSON_F("n", RSP_JSON_INT, 0, 0, 0, struct kinds, n),
    {"obj", RSP_JSON_OBJECT, 0, 0, 0, 0, obj_fields, 0},
    RSP_JSON_ARR("arr", 0, 0, 0, struct kinds, arr, entry_fields, struct event_entry),
    RSP_JSON_END,
};

static rsp_status parse(const char *body, const rsp_json_field *f, void *out, rsp_json_err *err)
{
    rsp_arena_reset(arena);
    return rsp_json_parse(arena, body, strlen(body), NULL, f, out, err);
}

static rsp_status parse_lim(const char *body, size_t len, const rsp_json_limits *lim, rsp_json_err *err)
{
    struct kinds k;
    rsp_arena_reset(arena);
    return rsp_json_parse(arena, body, len, lim, kinds_fields, &k, err);
}

/* ---- Realistic bodies ---- */

#define INFO1_B64 "vyA1ggMCAgCpFgQU9UFyvfmKldZcvriKOKHBHYAKhcOqFgQUwLxwujaSnUO0Z/9XVwUw5Xq4/Ng="

static void test_es11_initiate_authentication(void)
{
    /* As lpac sends it (smdpAddress, base64 fields), plus a v3 capability and
     * an unknown nested member that must be ignored. */
    const char *body =
        "{\n"
        "  \"smdpAddress\": \"smds.example.com\",\n"
        "  \"euiccChallenge\": \"EBESExQVFhcYGRobHB0eHw==\",\n"
        "  \"euiccInfo1\": \"" INFO1_B64 "\",\n"
        "  \"lpaRspCapability\": \"AwIAgA==\",\n"
        "  \"vendorExtension\": {\"a\": [1, 2.5e3, null, {\"b\": \"\\u00e9\"}], \"c\": false}\n"
        "}\n";
    struct ia_req r;
    rsp_json_err err;
    UT_EQ(parse(body, ia_fields, &r, &err), RSP_OK);
    UT_EQ(r.euicc_challenge.len, 16);
    UT_EQ(r.euicc_challenge.data[0], 0x10);
    UT_EQ(r.euicc_challenge.data[15], 0x1F);
    UT_EQ(r.euicc_info1.len, 56);
    UT_CHECK(memcmp(r.euicc_info1.data, "\xBF\x20\x35\x82\x03\x02\x02\x00\xA9\x16\x04\x14\xF5\x41", 14) == 0);
    UT_CHECK(r.smdp_address && strcmp(r.smdp_address, "smds.example.com") == 0);
    UT_CHECK(r.smds_address == NULL);
    UT_EQ(r.lpa_rsp_capability.len, 4);

    /* The Eastcompeace spelling, with the '/' of the base64 escaped as some
     * JSON encoders do. */
    const char *escaped =
        "{\"smdsAddress\":\"smds.example.com\",\"euiccChallenge\":\"EBESExQVFhcYGRobHB0eHw==\","
        "\"euiccInfo1\":\"vyA1ggMCAgCpFgQU9UFyvfmKldZcvriKOKHBHYAKhcOqFgQUwLxwujaSnUO0Z\\/"
        "9XVwUw5Xq4\\/Ng=\"}";
    UT_EQ(parse(escaped, ia_fields, &r, &err), RSP_OK);
    UT_EQ(r.euicc_info1.len, 56);
    UT_CHECK(r.smds_address && strcmp(r.smds_address, "smds.example.com") == 0);
    UT_CHECK(r.smdp_address == NULL);
    UT_CHECK(r.lpa_rsp_capability.data == NULL);

    /* Line-wrapped base64, the line breaks escaped in the JSON string. */
    const char *wrapped =
        "{\"euiccChallenge\":\"EBESExQVFhcY\\r\\nGRobHB0eHw==\\n\",\"euiccInfo1\":\"" INFO1_B64 "\"}";
    UT_EQ(parse(wrapped, ia_fields, &r, &err), RSP_OK);
    UT_EQ(r.euicc_challenge.len, 16);

    /* A 15-byte challenge is refused by length. */
    const char *short_ch = "{\"euiccChallenge\":\"EBESExQVFhcYGRobHB0e\",\"euiccInfo1\":\"" INFO1_B64 "\"}";
    UT_EQ(parse(short_ch, ia_fields, &r, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "euiccChallenge") == 0);
    UT_CHECK(strcmp(err.reason, "too short") == 0);

    /* Bad base64 is named. */
    const char *bad = "{\"euiccChallenge\":\"EBESExQVFhcYGRobHB0eHw=\",\"euiccInfo1\":\"" INFO1_B64 "\"}";
    UT_EQ(parse(bad, ia_fields, &r, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "euiccChallenge") == 0);
    UT_CHECK(strcmp(err.reason, "not valid base64") == 0);

    /* Missing mandatory member. */
    UT_EQ(parse("{\"euiccChallenge\":\"EBESExQVFhcYGRobHB0eHw==\"}", ia_fields, &r, &err),
          RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(err.field, "euiccInfo1") == 0);
    UT_EQ(err.status, RSP_ST_MANDATORY_MISSING);
}

static void test_es11_authenticate_client_request(void)
{
    const char *body =
        "{\"transactionId\":\"0123456789abcdefFEDCBA9876543210\","
        "\"authenticateServerResponse\":\"vziBgAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQ"
        "lJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj9AQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa"
        "2xtbm9wcXJzdHV2d3h5ent8fX5/\"}";
    struct ac_req r;
    rsp_json_err err;
    UT_EQ(parse(body, ac_fields, &r, &err), RSP_OK);
    UT_EQ(r.transaction_id.len, 16);
    UT_EQ(r.transaction_id.data[0], 0x01);
    UT_EQ(r.transaction_id.data[7], 0xEF);
    UT_EQ(r.transaction_id.data[8], 0xFE);
    UT_EQ(r.asr.len, 132);
    UT_CHECK(memcmp(r.asr.data, "\xBF\x38\x81\x80", 4) == 0);
    UT_EQ(r.asr.data[131], 127);

    /* transactionId: odd length, non-hex, too long, empty. */
    UT_EQ(parse("{\"transactionId\":\"ABC\",\"authenticateServerResponse\":\"AA==\"}", ac_fields, &r, &err),
          RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "not valid hex") == 0 && strcmp(err.field, "transactionId") == 0);
    UT_EQ(parse("{\"transactionId\":\"0G\",\"authenticateServerResponse\":\"AA==\"}", ac_fields, &r, &err),
          RSP_ST_INVALID_FIELD);
    UT_EQ(parse("{\"transactionId\":\"00112233445566778899AABBCCDDEEFF00\",\"authenticateServerResponse\":"
                "\"AA==\"}",
                ac_fields, &r, &err),
          RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "too long") == 0);
    UT_EQ(parse("{\"transactionId\":\"\",\"authenticateServerResponse\":\"AA==\"}", ac_fields, &r, &err),
          RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "too short") == 0);
    /* A hex value written with escapes is still hex. */
    UT_EQ(parse("{\"transactionId\":\"\\u0030\\u0041\",\"authenticateServerResponse\":\"AA==\"}", ac_fields,
                &r, &err),
          RSP_OK);
    UT_EQ(r.transaction_id.len, 1);
    UT_EQ(r.transaction_id.data[0], 0x0A);
    /* Whitespace is not allowed in hex. */
    UT_EQ(parse("{\"transactionId\":\"0A 0B\",\"authenticateServerResponse\":\"AA==\"}", ac_fields, &r, &err),
          RSP_ST_INVALID_FIELD);
}

static void test_es12_register_event(void)
{
    const char *body = "{\"header\":{\"functionRequesterIdentifier\":\"2.999.10\","
                       "\"functionCallIdentifier\":\"TX-0001\"},"
                       "\"eid\":\"89049032123451234512345678901235\","
                       "\"rspServerAddress\":\"smdp.example.com\","
                       "\"eventId\":\"EVT-7f3a9c\","
                       "\"forwardingIndicator\":true}";
    struct reg_event r;
    rsp_json_err err;
    UT_EQ(parse(body, reg_fields, &r, &err), RSP_OK);
    UT_CHECK(strcmp(r.hdr.requester, "2.999.10") == 0);
    UT_CHECK(strcmp(r.hdr.call_id, "TX-0001") == 0);
    UT_CHECK(strcmp(r.eid, "89049032123451234512345678901235") == 0);
    UT_CHECK(strcmp(r.rsp_server_address, "smdp.example.com") == 0);
    UT_CHECK(strcmp(r.event_id, "EVT-7f3a9c") == 0);
    UT_CHECK(r.forwarding);

    /* Optional forwardingIndicator absent reads false. */
    const char *no_fwd =
        "{\"header\":{\"functionRequesterIdentifier\":\"a\",\"functionCallIdentifier\":\"b\"},"
        "\"eid\":\"89049032123451234512345678901235\",\"rspServerAddress\":\"x\",\"eventId\":\"e\"}";
    UT_EQ(parse(no_fwd, reg_fields, &r, &err), RSP_OK);
    UT_CHECK(!r.forwarding);

    /* Missing header member: the path names it. */
    const char *no_call =
        "{\"header\":{\"functionRequesterIdentifier\":\"a\"},"
        "\"eid\":\"89049032123451234512345678901235\",\"rspServerAddress\":\"x\",\"eventId\":\"e\"}";
    UT_EQ(parse(no_call, reg_fields, &r, &err), RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(err.field, "header.functionCallIdentifier") == 0);

    /* Missing header entirely. */
    const char *no_hdr =
        "{\"eid\":\"89049032123451234512345678901235\",\"rspServerAddress\":\"x\",\"eventId\":\"e\"}";
    UT_EQ(parse(no_hdr, reg_fields, &r, &err), RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(err.field, "header") == 0);

    /* EID of the wrong length; forwardingIndicator as a string. */
    const char *short_eid =
        "{\"header\":{\"functionRequesterIdentifier\":\"a\",\"functionCallIdentifier\":\"b\"},"
        "\"eid\":\"8904903212345123451234567890123\",\"rspServerAddress\":\"x\",\"eventId\":\"e\"}";
    UT_EQ(parse(short_eid, reg_fields, &r, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "eid") == 0);
    const char *str_fwd =
        "{\"header\":{\"functionRequesterIdentifier\":\"a\",\"functionCallIdentifier\":\"b\"},"
        "\"eid\":\"89049032123451234512345678901235\",\"rspServerAddress\":\"x\",\"eventId\":\"e\","
        "\"forwardingIndicator\":\"true\"}";
    UT_EQ(parse(str_fwd, reg_fields, &r, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "forwardingIndicator") == 0);
    UT_CHECK(strcmp(err.reason, "wrong type") == 0);

    /* header must be an object. */
    const char *hdr_str = "{\"header\":\"x\",\"eid\":\"89049032123451234512345678901235\","
                          "\"rspServerAddress\":\"x\",\"eventId\":\"e\"}";
    UT_EQ(parse(hdr_str, reg_fields, &r, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "header") == 0);
}

static void test_es11_authenticate_client_response(void)
{
    const char *body = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                       "\"transactionId\":\"A1B2C3D4E5F60718293A4B5C6D7E8F90\","
                       "\"eventEntries\":["
                       "{\"eventId\":\"EVT-1\",\"rspServerAddress\":\"smdp1.example.com\"},"
                       "{\"rspServerAddress\":\"smdp2.example.com\",\"eventId\":\"EVT-2\",\"extra\":[1]},"
                       "{\"eventId\":\"EVT-3\",\"rspServerAddress\":\"alt-smds.example.net\"}]}";
    struct ac_resp r;
    rsp_json_err err;
    UT_EQ(parse(body, ac_resp_fields, &r, &err), RSP_OK);
    UT_CHECK(rsp_json_resp_ok(&r.hdr));
    UT_CHECK(r.hdr.subject == NULL && r.hdr.reason == NULL);
    UT_EQ(r.transaction_id.len, 16);
    UT_EQ(r.entries.count, 3);
    const struct event_entry *e = r.entries.items;
    UT_CHECK(strcmp(e[0].event_id, "EVT-1") == 0 && strcmp(e[0].address, "smdp1.example.com") == 0);
    UT_CHECK(strcmp(e[1].event_id, "EVT-2") == 0 && strcmp(e[1].address, "smdp2.example.com") == 0);
    UT_CHECK(strcmp(e[2].event_id, "EVT-3") == 0 && strcmp(e[2].address, "alt-smds.example.net") == 0);

    /* No events is a success with an empty array. */
    const char *none = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                       "\"transactionId\":\"01\",\"eventEntries\":[]}";
    UT_EQ(parse(none, ac_resp_fields, &r, &err), RSP_OK);
    UT_EQ(r.entries.count, 0);
    UT_CHECK(r.entries.items != NULL);

    /* An entry missing a member: the index is in the path. */
    const char *missing =
        "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
        "\"transactionId\":\"01\",\"eventEntries\":[{\"eventId\":\"a\",\"rspServerAddress\":\"b\"},"
        "{\"eventId\":\"c\"}]}";
    UT_EQ(parse(missing, ac_resp_fields, &r, &err), RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(err.field, "eventEntries[1].rspServerAddress") == 0);

    /* Entries must be objects. */
    const char *scalar =
        "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
        "\"transactionId\":\"01\",\"eventEntries\":[{\"eventId\":\"a\",\"rspServerAddress\":\"b\"},7]}";
    UT_EQ(parse(scalar, ac_resp_fields, &r, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "eventEntries[1]") == 0);

    /* A failed response: read the header first, the body fields are absent. */
    const char *failed = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\","
                         "\"statusCodeData\":{\"subjectCode\":\"8.9.5\",\"reasonCode\":\"3.9\","
                         "\"subjectIdentifier\":\"EVT-9\",\"message\":\"Event record unknown\"}}}}";
    rsp_json_doc *doc;
    rsp_arena_reset(arena);
    UT_EQ(rsp_json_doc_parse(arena, failed, strlen(failed), NULL, &doc, &err), RSP_OK);
    UT_EQ(rsp_json_bind(doc, ac_resp_header_only, &r, &err), RSP_OK);
    UT_CHECK(!rsp_json_resp_ok(&r.hdr));
    UT_CHECK(strcmp(r.hdr.status, "Failed") == 0);
    UT_CHECK(strcmp(r.hdr.subject, "8.9.5") == 0);
    UT_CHECK(strcmp(r.hdr.reason, "3.9") == 0);
    UT_CHECK(strcmp(r.hdr.subject_id, "EVT-9") == 0);
    UT_CHECK(strcmp(r.hdr.message, "Event record unknown") == 0);
    UT_EQ(rsp_json_bind(doc, ac_resp_fields, &r, &err), RSP_ST_MANDATORY_MISSING);

    /* WithWarning counts as success; statusCodeData needs its codes. */
    const char *warn = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-WithWarning\"}}}";
    UT_EQ(parse(warn, ac_resp_header_only, &r, &err), RSP_OK);
    UT_CHECK(rsp_json_resp_ok(&r.hdr));
    const char *no_reason = "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\","
                            "\"statusCodeData\":{\"subjectCode\":\"8.9.5\"}}}}";
    UT_EQ(parse(no_reason, ac_resp_header_only, &r, &err), RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(err.field, "header.functionExecutionStatus.statusCodeData.reasonCode") == 0);
    UT_EQ(parse("{\"header\":{}}", ac_resp_header_only, &r, &err), RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(err.field, "header.functionExecutionStatus") == 0);

    /* Array length limits. */
    static const rsp_json_field two_max[] = {
        RSP_JSON_ARR("eventEntries", 0, 1, 2, struct ac_resp, entries, entry_fields, struct event_entry),
        RSP_JSON_END,
    };
    UT_EQ(parse("{\"eventEntries\":[]}", two_max, &r, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "too few elements") == 0);
    UT_EQ(
        parse(
            "{\"eventEntries\":[{\"eventId\":\"a\",\"rspServerAddress\":\"b\"},"
            "{\"eventId\":\"a\",\"rspServerAddress\":\"b\"},{\"eventId\":\"a\",\"rspServerAddress\":\"b\"}]}",
            two_max, &r, &err),
        RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "too many elements") == 0);
}

/* ---- Syntax ---- */

static void test_malformed(void)
{
    static const char *const bad[] = {
        "",
        "   ",
        "{",
        "}",
        "{\"a\":}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\":1,,\"b\":2}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":1e+}",
        "{\"a\":+1}",
        "{\"a\":0x10}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":'x'}",
        "{'a':1}",
        "{a:1}",
        "{\"a\":\"x}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"\\\"}",
        "{\"a\":\"\t\"}",
        "{\"a\":\"\n\"}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\x1f\"}",
        "{\"a\":1}{}",
        "{\"a\":1} x",
        "{} []",
        "\xEF\xBB\xBF{}",
        "{\"a\":[1 2]}",
        "{\"a\":[1,,2]}",
        "{\"a\":[,1]}",
        "{\"a\":[1,]}",
        "{\"a\":{\"b\"}}",
        "{\"a\":{\"b\":1]}",
        "{\"a\":[}",
        "{\"a\":]",
        "{\"a\":true false}",
        "{\"a\":\"x\" \"y\"}",
        "{\"a\"::1}",
        "{\"a\":1:2}",
        "{/*c*/}",
        "{\"a\":1 // c\n}",
        "{\"a\":\"\xC0\x80\"}",
        "{\"a\":\"\xED\xA0\x80\"}",
        "{\"a\":\"\xF5\x80\x80\x80\"}",
        "{\"a\":\"\xC3\"}",
        "{\"a\":\"\\uD800\"}",
        "{\"a\":\"\\uDC00\"}",
        "{\"a\":\"\\uD800\\u0041\"}",
        "{\"a\":\"\\uD800x\"}",
        "{\"a\":\"\\uDBFF\\uDBFF\"}",
        "{\"\xFF\":1}",
        "{\"a\":1}\x0b",
        "\x0c{}",
        "{\"a\":[1]]}",
        "{\"a\":{}}}",
        "{1:2}",
        "{{}:1}",
        "{[]:1}",
        "{\"a\":1 \"b\":2}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rsp_json_err err = {0};
        rsp_status st = parse_lim(bad[i], strlen(bad[i]), NULL, &err);
        if (st != RSP_ST_INVALID_FIELD)
            fprintf(stderr, "    accepted malformed #%zu: %s\n", i, bad[i]);
        UT_EQ(st, RSP_ST_INVALID_FIELD);
        UT_CHECK(err.reason != NULL);
        UT_CHECK(err.field[0] == '\0');
    }
    /* NUL bytes: inside a string and after the object. */
    rsp_json_err err;
    UT_EQ(parse_lim("{\"s\":\"a\0b\"}", 11, NULL, &err), RSP_ST_INVALID_FIELD);
    UT_EQ(parse_lim("{}\0", 3, NULL, &err), RSP_ST_INVALID_FIELD);
    UT_EQ(parse_lim("{\"a\":1}", 7, NULL, &err), RSP_OK);
    /* The offset points at the problem. */
    UT_EQ(parse_lim("{\"a\":1,}", 8, NULL, &err), RSP_ST_INVALID_FIELD);
    UT_EQ(err.offset, 7);
}

static void test_not_an_object(void)
{
    static const char *const tops[] = {"[]",   "[{}]",  "\"x\"", "1",    "-0.5e3",
                                       "true", "false", "null",  " [ ] "};
    for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
        rsp_json_err err;
        UT_EQ(parse_lim(tops[i], strlen(tops[i]), NULL, &err), RSP_ST_INVALID_FIELD);
        UT_CHECK(strcmp(err.reason, "top level is not an object") == 0);
    }
}

static void test_valid_edge_cases(void)
{
    static const char *const good[] = {
        "{}",
        " \t\r\n{ \t\r\n} \t\r\n",
        "{\"x\":-0}",
        "{\"x\":0.5e-3,\"y\":1E+10,\"z\":-12.75}",
        "{\"x\":[[],{},[{}],\"\",null,true,false]}",
        "{\"x\":\"\\u0000 in an ignored member\"}",
        "{\"x\":\"\\uD834\\uDD1E \\\" \\\\ \\/ \\b \\f \\n \\r \\t\"}",
        "{\"x\":\"\xF0\x9D\x84\x9E \xE2\x82\xAC \xC3\xA9 \x7f\"}",
        "{\"\":1}",
        "{\"x\" : 1 , \"y\" : [ 1 , 2 ] }",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        rsp_json_err err;
        rsp_status st = parse_lim(good[i], strlen(good[i]), NULL, &err);
        if (st != RSP_OK)
            fprintf(stderr, "    refused valid #%zu: %s (%s)\n", i, good[i], err.reason);
        UT_EQ(st, RSP_OK);
    }
}

static void test_limits(void)
{
    rsp_json_err err;
    /* Body size. */
    char body[200];
    memset(body, ' ', sizeof(body));
    body[0] = '{';
    body[99] = '}';
    rsp_json_limits lim = {.max_bytes = 100};
    UT_EQ(parse_lim(body, 100, &lim, &err), RSP_OK);
    UT_EQ(parse_lim(body, 101, &lim, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "body too large") == 0);
    UT_EQ(err.status, RSP_ST_INVALID_FIELD);

    /* Tokens: object, "x", 1, "y", array, 2, 3 = 7. */
    const char *seven = "{\"x\":1,\"y\":[2,3]}";
    lim = (rsp_json_limits){.max_tokens = 7};
    UT_EQ(parse_lim(seven, strlen(seven), &lim, &err), RSP_OK);
    lim.max_tokens = 6;
    UT_EQ(parse_lim(seven, strlen(seven), &lim, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "too many tokens") == 0);

    /* Default token limit with a large flat array. */
    size_t n = 3000;
    char *many = malloc(n * 2 + 16);
    size_t k = 0;
    k += (size_t)sprintf(many, "{\"x\":[");
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(many + k, i ? ",1" : "1");
    k += (size_t)sprintf(many + k, "]}");
    UT_EQ(parse_lim(many, k, NULL, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "too many tokens") == 0);
    lim = (rsp_json_limits){.max_tokens = 4000};
    UT_EQ(parse_lim(many, k, &lim, &err), RSP_OK);
    free(many);
}

static void test_nesting(void)
{
    rsp_json_err err;
    char buf[512];
    /* depth counts the top-level object: {"x": + (d-1) arrays. */
    for (unsigned d = 15; d <= 17; d++) {
        size_t k = (size_t)sprintf(buf, "{\"x\":");
        for (unsigned i = 1; i < d; i++)
            buf[k++] = '[';
        for (unsigned i = 1; i < d; i++)
            buf[k++] = ']';
        buf[k++] = '}';
        rsp_status st = parse_lim(buf, k, NULL, &err);
        UT_EQ(st, d <= RSP_JSON_DEFAULT_MAX_DEPTH ? RSP_OK : RSP_ST_INVALID_FIELD);
        if (st != RSP_OK)
            UT_CHECK(strcmp(err.reason, "nesting too deep") == 0);
    }
    /* A caller's depth is capped at RSP_JSON_MAX_DEPTH. */
    rsp_json_limits lim = {.max_depth = 1000};
    size_t k = (size_t)sprintf(buf, "{\"x\":");
    for (unsigned i = 1; i < RSP_JSON_MAX_DEPTH + 1; i++)
        buf[k++] = '[';
    for (unsigned i = 1; i < RSP_JSON_MAX_DEPTH + 1; i++)
        buf[k++] = ']';
    buf[k++] = '}';
    UT_EQ(parse_lim(buf, k, &lim, &err), RSP_ST_INVALID_FIELD);
    /* Very deep input is refused without recursion. */
    size_t big = 200000;
    char *deep = malloc(big);
    deep[0] = '{';
    memset(deep + 1, '[', big - 1);
    lim = (rsp_json_limits){.max_bytes = big};
    UT_EQ(parse_lim(deep, big, &lim, &err), RSP_ST_INVALID_FIELD);
    free(deep);
}

/* ---- Binding ---- */

static void test_wrong_types(void)
{
    static const struct {
        const char *body, *field;
    } v[] = {
        {"{\"s\":1}", "s"},          {"{\"s\":true}", "s"},        {"{\"s\":{}}", "s"},
        {"{\"s\":[]}", "s"},         {"{\"h\":12}", "h"},          {"{\"h\":[\"00\"]}", "h"},
        {"{\"b\":false}", "b"},      {"{\"b\":{}}", "b"},          {"{\"flag\":\"true\"}", "flag"},
        {"{\"flag\":1}", "flag"},    {"{\"flag\":[]}", "flag"},    {"{\"n\":\"1\"}", "n"},
        {"{\"n\":true}", "n"},       {"{\"n\":1.5}", "n"},         {"{\"n\":1e3}", "n"},
        {"{\"n\":{}}", "n"},         {"{\"obj\":[]}", "obj"},      {"{\"obj\":\"x\"}", "obj"},
        {"{\"obj\":1}", "obj"},      {"{\"arr\":{}}", "arr"},      {"{\"arr\":\"x\"}", "arr"},
        {"{\"arr\":[1]}", "arr[0]"}, {"{\"arr\":[[]]}", "arr[0]"}, {"{\"obj\":{\"inner\":5}}", "obj.inner"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct kinds k;
        rsp_json_err err;
        rsp_status st = parse(v[i].body, kinds_fields, &k, &err);
        if (st != RSP_ST_INVALID_FIELD || strcmp(err.field, v[i].field) != 0)
            fprintf(stderr, "    wrong-type case %zu: %s -> %s\n", i, v[i].body, err.field);
        UT_EQ(st, RSP_ST_INVALID_FIELD);
        UT_CHECK(strcmp(err.field, v[i].field) == 0);
    }
}

static void test_all_kinds_and_reset(void)
{
    struct kinds k;
    rsp_json_err err;
    const char *full = "{\"s\":\"str\",\"h\":\"00ff\",\"b\":\"AQI=\",\"flag\":true,\"n\":-42,"
                       "\"obj\":{\"inner\":\"in\"},\"arr\":[{\"eventId\":\"e\",\"rspServerAddress\":\"a\"}]}";
    UT_EQ(parse(full, kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(strcmp(k.s, "str") == 0);
    UT_CHECK(k.h.len == 2 && k.h.data[1] == 0xFF);
    UT_CHECK(k.b.len == 2 && k.b.data[0] == 1 && k.b.data[1] == 2);
    UT_CHECK(k.flag);
    UT_EQ(k.n, -42);
    UT_CHECK(strcmp(k.obj.inner, "in") == 0);
    UT_EQ(k.arr.count, 1);

    /* Every output is reset when its member is absent. */
    UT_EQ(parse("{}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(k.s == NULL && k.h.data == NULL && k.h.len == 0 && k.b.data == NULL && !k.flag && k.n == 0);
    UT_CHECK(k.obj.inner == NULL && k.arr.items == NULL && k.arr.count == 0);

    /* Also when the body is refused before binding. */
    memset(&k, 0xA5, sizeof(k));
    UT_EQ(parse("{", kinds_fields, &k, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(k.s == NULL && k.obj.inner == NULL && k.arr.items == NULL);

    /* Empty binaries are present with a valid pointer. */
    UT_EQ(parse("{\"h\":\"\",\"b\":\"\"}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(k.h.data != NULL && k.h.len == 0);
    UT_CHECK(k.b.data != NULL && k.b.len == 0);
}

static void test_null_members(void)
{
    struct kinds k;
    rsp_json_err err;
    UT_EQ(parse("{\"s\":null,\"h\":null,\"b\":null,\"flag\":null,\"n\":null,\"obj\":null,\"arr\":null}",
                kinds_fields, &k, &err),
          RSP_OK);
    UT_CHECK(k.s == NULL && k.h.data == NULL && k.arr.items == NULL);
    struct ac_req r;
    UT_EQ(parse("{\"transactionId\":null,\"authenticateServerResponse\":\"AA==\"}", ac_fields, &r, &err),
          RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(err.field, "transactionId") == 0);
}

static void test_duplicates(void)
{
    struct ac_req r;
    rsp_json_err err;
    /* A declared member twice. */
    UT_EQ(parse("{\"transactionId\":\"01\",\"authenticateServerResponse\":\"AA==\",\"transactionId\":\"02\"}",
                ac_fields, &r, &err),
          RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "duplicate key") == 0);
    UT_CHECK(strcmp(err.field, "transactionId") == 0);
    /* An unknown member twice at top level. */
    UT_EQ(parse("{\"x\":1,\"transactionId\":\"01\",\"authenticateServerResponse\":\"AA==\",\"x\":2}",
                ac_fields, &r, &err),
          RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "x") == 0);
    /* The same key spelt with an escape. */
    UT_EQ(parse("{\"transactionId\":\"01\",\"authenticateServerResponse\":\"AA==\",\"\\u0074ransactionId\":"
                "\"02\"}",
                ac_fields, &r, &err),
          RSP_ST_INVALID_FIELD);
    UT_EQ(
        parse(
            "{\"\\u00e9\":1,\"\xC3\xA9\":2,\"transactionId\":\"01\",\"authenticateServerResponse\":\"AA==\"}",
            ac_fields, &r, &err),
        RSP_ST_INVALID_FIELD);
    /* Keys that only look alike are distinct. */
    UT_EQ(parse("{\"x\":1,\"X\":1,\"x \":1,\"transactionId\":\"01\",\"authenticateServerResponse\":\"AA==\"}",
                ac_fields, &r, &err),
          RSP_OK);
    /* Inside a bound nested object. */
    struct reg_event e;
    UT_EQ(parse("{\"header\":{\"functionRequesterIdentifier\":\"a\",\"functionCallIdentifier\":\"b\","
                "\"functionCallIdentifier\":\"c\"},\"eid\":\"89049032123451234512345678901235\","
                "\"rspServerAddress\":\"x\",\"eventId\":\"e\"}",
                reg_fields, &e, &err),
          RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "header.functionCallIdentifier") == 0);
    /* Inside an ignored member nothing is bound, so nothing is ambiguous. */
    UT_EQ(parse("{\"ignored\":{\"a\":1,\"a\":2},\"transactionId\":\"01\",\"authenticateServerResponse\":\"AA="
                "=\"}",
                ac_fields, &r, &err),
          RSP_OK);

    /* Many distinct keys (hash table beyond the stack slots), then one repeat. */
    char *body = malloc(20000);
    size_t k = (size_t)sprintf(body, "{");
    for (int i = 0; i < 500; i++)
        k += (size_t)sprintf(body + k, "\"key%d\":%d,", i, i);
    size_t before_dup = k;
    k += (size_t)sprintf(body + k, "\"s\":\"x\"}");
    rsp_json_limits lim = {.max_tokens = 2000};
    UT_EQ(parse_lim(body, k, &lim, &err), RSP_OK);
    k = before_dup + (size_t)sprintf(body + before_dup, "\"key250\":0}");
    UT_EQ(parse_lim(body, k, &lim, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.field, "key250") == 0);
    free(body);
}

static void test_string_decoding(void)
{
    struct kinds k;
    rsp_json_err err;
    UT_EQ(parse("{\"s\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(strcmp(k.s, "q\" b\\ s/ \b\f\n\r\t") == 0);
    UT_EQ(parse("{\"s\":\"\\u0041\\u00e9\\u20AC\\uD834\\uDD1E\\u007f\"}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(strcmp(k.s, "A\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E\x7F") == 0);
    UT_EQ(parse("{\"s\":\"\\uDBFF\\uDFFF\"}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(strcmp(k.s, "\xF4\x8F\xBF\xBF") == 0);
    UT_EQ(parse("{\"s\":\"\\u07FF\\u0800\\uFFFF\"}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(strcmp(k.s, "\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF") == 0);
    UT_EQ(parse("{\"s\":\"raw \xE2\x82\xAC\"}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(strcmp(k.s, "raw \xE2\x82\xAC") == 0);
    /* A decoded NUL would cut a C string short: refused. */
    UT_EQ(parse("{\"s\":\"evil\\u0000.example.com\"}", kinds_fields, &k, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "contains NUL") == 0);
    /* A member name with escapes still matches. */
    UT_EQ(parse("{\"\\u0073\":\"esc\"}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(k.s && strcmp(k.s, "esc") == 0);
    UT_EQ(parse("{\"\\u0073x\":\"esc\"}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(k.s == NULL);

    /* Length limits count decoded bytes. */
    static const rsp_json_field bounded[] = {
        RSP_JSON_F("s", RSP_JSON_STRING, 0, 2, 4, struct kinds, s),
        RSP_JSON_END,
    };
    UT_EQ(parse("{\"s\":\"\\u20AC\"}", bounded, &k, &err), RSP_OK); /* 3 bytes */
    UT_EQ(parse("{\"s\":\"\\u20AC\\u20AC\"}", bounded, &k, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "too long") == 0);
    UT_EQ(parse("{\"s\":\"a\"}", bounded, &k, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "too short") == 0);
    UT_EQ(parse("{\"s\":\"abcd\"}", bounded, &k, &err), RSP_OK);
}

static void test_integers(void)
{
    struct kinds k;
    rsp_json_err err;
    UT_EQ(parse("{\"n\":9223372036854775807}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(k.n == INT64_MAX);
    UT_EQ(parse("{\"n\":-9223372036854775808}", kinds_fields, &k, &err), RSP_OK);
    UT_CHECK(k.n == INT64_MIN);
    UT_EQ(parse("{\"n\":9223372036854775808}", kinds_fields, &k, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(err.reason, "out of range") == 0);
    UT_EQ(parse("{\"n\":-9223372036854775809}", kinds_fields, &k, &err), RSP_ST_INVALID_FIELD);
    UT_EQ(parse("{\"n\":99999999999999999999999}", kinds_fields, &k, &err), RSP_ST_INVALID_FIELD);
    UT_EQ(parse("{\"n\":-0}", kinds_fields, &k, &err), RSP_OK);
    UT_EQ(k.n, 0);
    static const rsp_json_field ranged[] = {
        RSP_JSON_F("n", RSP_JSON_INT, 0, 1, 10, struct kinds, n),
        RSP_JSON_END,
    };
    UT_EQ(parse("{\"n\":1}", ranged, &k, &err), RSP_OK);
    UT_EQ(parse("{\"n\":10}", ranged, &k, &err), RSP_OK);
    UT_EQ(parse("{\"n\":0}", ranged, &k, &err), RSP_ST_INVALID_FIELD);
    UT_EQ(parse("{\"n\":11}", ranged, &k, &err), RSP_ST_INVALID_FIELD);
    UT_EQ(parse("{\"n\":-5}", ranged, &k, &err), RSP_ST_INVALID_FIELD);
    static const rsp_json_field at_least[] = {
        RSP_JSON_F("n", RSP_JSON_INT, 0, 5, 0, struct kinds, n),
        RSP_JSON_END,
    };
    UT_EQ(parse("{\"n\":4}", at_least, &k, &err), RSP_ST_INVALID_FIELD);
    UT_EQ(parse("{\"n\":5000000000}", at_least, &k, &err), RSP_OK);
}

static void test_absolute_outputs(void)
{
    /* The style of an ad-hoc table on the stack: outputs by address, base NULL. */
    rsp_json_bin tid;
    bool release = true;
    const char *iccid;
    const rsp_json_field f[] = {
        {"transactionId", RSP_JSON_HEX, RSP_JSON_MANDATORY, 1, 16, RSP_JSON_AT(&tid), NULL, 0},
        {"releaseFlag", RSP_JSON_BOOL, RSP_JSON_MANDATORY, 0, 0, RSP_JSON_AT(&release), NULL, 0},
        {"iccid", RSP_JSON_STRING, 0, 19, 20, RSP_JSON_AT(&iccid), NULL, 0},
        RSP_JSON_END,
    };
    rsp_json_err err;
    UT_EQ(parse("{\"transactionId\":\"0A0B\",\"releaseFlag\":false}", f, NULL, &err), RSP_OK);
    UT_EQ(tid.len, 2);
    UT_CHECK(!release);
    UT_CHECK(iccid == NULL);
    UT_EQ(parse("{\"transactionId\":\"0A0B\",\"releaseFlag\":true,\"iccid\":\"8949000000000000001F\"}", f,
                NULL, &err),
          RSP_OK);
    UT_CHECK(release);
    UT_CHECK(strcmp(iccid, "8949000000000000001F") == 0);
    UT_EQ(parse("{\"transactionId\":\"0A0B\"}", f, NULL, &err), RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(err.field, "releaseFlag") == 0);
}

static void test_arena_exhaustion(void)
{
    rsp_arena *small = rsp_arena_new(200);
    struct ia_req r;
    rsp_json_err err;
    const char *body = "{\"euiccChallenge\":\"EBESExQVFhcYGRobHB0eHw==\",\"euiccInfo1\":\"" INFO1_B64 "\"}";
    UT_EQ(rsp_json_parse(small, body, strlen(body), NULL, ia_fields, &r, &err), RSP_ST_INTERNAL);
    UT_CHECK(strcmp(err.reason, "out of memory") == 0);
    rsp_arena_free(small);
}

static void test_table_too_large(void)
{
    static rsp_json_field big[RSP_JSON_MAX_FIELDS + 2];
    static char names[RSP_JSON_MAX_FIELDS + 1][16];
    static bool outs[RSP_JSON_MAX_FIELDS + 1];
    for (int i = 0; i < RSP_JSON_MAX_FIELDS + 1; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d", i);
        big[i] = (rsp_json_field){names[i], RSP_JSON_BOOL, 0, 0, 0, RSP_JSON_AT(&outs[i]), NULL, 0};
    }
    rsp_json_err err;
    UT_EQ(parse("{}", big, NULL, &err), RSP_ST_INTERNAL);
    big[RSP_JSON_MAX_FIELDS] = (rsp_json_field)RSP_JSON_END;
    UT_EQ(parse("{\"f63\":true}", big, NULL, &err), RSP_OK);
    UT_CHECK(outs[63]);
}

static void test_err_message(void)
{
    rsp_json_err err;
    struct ac_resp r;
    char msg[128];
    UT_EQ(parse("{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},"
                "\"transactionId\":\"01\",\"eventEntries\":[{\"eventId\":\"a\"}]}",
                ac_resp_fields, &r, &err),
          RSP_ST_MANDATORY_MISSING);
    UT_CHECK(strcmp(rsp_json_err_message(&err, msg, sizeof(msg)),
                    "eventEntries[0].rspServerAddress: missing") == 0);
    UT_EQ(parse("{", ac_resp_fields, &r, &err), RSP_ST_INVALID_FIELD);
    UT_CHECK(strcmp(rsp_json_err_message(&err, msg, sizeof(msg)), "expected a member name") == 0);
    /* Truncation keeps a NUL-terminated message. */
    UT_EQ(parse("{\"header\":{}}", ac_resp_fields, &r, &err), RSP_ST_MANDATORY_MISSING);
    rsp_json_err_message(&err, msg, 8);
    UT_EQ(strlen(msg), 7);
    /* A duplicate unknown key with odd bytes is reported in printable ASCII. */
    UT_EQ(parse("{\"\\n\xC3\xA9\":1,\"\\n\xC3\xA9\":2}", ac_resp_fields, &r, &err), RSP_ST_INVALID_FIELD);
    rsp_json_err_message(&err, msg, sizeof(msg));
    for (const char *p = msg; *p; p++)
        UT_CHECK(*p >= 0x20 && *p < 0x7F);
}

static void test_jsmn_header_users_link(void)
{
    jsmn_parser p;
    jsmntok_t t[4];
    jsmn_init(&p);
    UT_EQ(jsmn_parse(&p, "{\"a\":1}", 7, t, 4), 3);
    UT_EQ(t[0].type, JSMN_OBJECT);
    UT_EQ(t[2].parent, 1); /* JSMN_PARENT_LINKS comes with //third_party/sys:jsmn */
}

static void test_round_trip_writer(void)
{
    /* What the writer produces, the reader takes back unchanged. */
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    static const uint8_t tid[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
                                    0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10};
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_header(&w, RSP_OK);
    rsp_jsonw_khex(&w, "transactionId", tid, sizeof(tid));
    rsp_jsonw_key(&w, "eventEntries");
    rsp_jsonw_arr_begin(&w);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "EVT-\"%d\"\n\xE2\x82\xAC", i);
        rsp_jsonw_obj_begin(&w);
        rsp_jsonw_kstr(&w, "eventId", id);
        rsp_jsonw_kstr(&w, "rspServerAddress", "smdp.example.com");
        rsp_jsonw_obj_end(&w);
    }
    rsp_jsonw_arr_end(&w);
    rsp_jsonw_obj_end(&w);
    const char *out;
    size_t len;
    UT_EQ(rsp_jsonw_finish(&w, &out, &len), 0);
    struct ac_resp r;
    rsp_json_err err;
    rsp_arena_reset(arena);
    UT_EQ(rsp_json_parse(arena, out, len, NULL, ac_resp_fields, &r, &err), RSP_OK);
    UT_CHECK(rsp_json_resp_ok(&r.hdr));
    UT_CHECK(r.transaction_id.len == 16 && memcmp(r.transaction_id.data, tid, 16) == 0);
    UT_EQ(r.entries.count, 3);
    const struct event_entry *e = r.entries.items;
    UT_CHECK(strcmp(e[2].event_id, "EVT-\"2\"\n\xE2\x82\xAC") == 0);
    rsp_jsonw_free(&w);
}

int main(void)
{
    arena = rsp_arena_new(1 << 20);
    UT_RUN(test_es11_initiate_authentication);
    UT_RUN(test_es11_authenticate_client_request);
    UT_RUN(test_es12_register_event);
    UT_RUN(test_es11_authenticate_client_response);
    UT_RUN(test_malformed);
    UT_RUN(test_not_an_object);
    UT_RUN(test_valid_edge_cases);
    UT_RUN(test_limits);
    UT_RUN(test_nesting);
    UT_RUN(test_wrong_types);
    UT_RUN(test_all_kinds_and_reset);
    UT_RUN(test_null_members);
    UT_RUN(test_duplicates);
    UT_RUN(test_string_decoding);
    UT_RUN(test_integers);
    UT_RUN(test_absolute_outputs);
    UT_RUN(test_arena_exhaustion);
    UT_RUN(test_table_too_large);
    UT_RUN(test_err_message);
    UT_RUN(test_jsmn_header_users_link);
    UT_RUN(test_round_trip_writer);
    rsp_arena_free(arena);
    return ut_finish();
}
