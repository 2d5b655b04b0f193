#include "rsp/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsp/json.h"
#include "tests/unit/ut.h"

static rsp_arena *arena;

/* Finishes w and compares with the expected text. */
static void expect(rsp_jsonw *w, const char *want)
{
    const char *out = NULL;
    size_t len = 0;
    UT_EQ(rsp_jsonw_finish(w, &out, &len), 0);
    UT_CHECK(out && strcmp(out, want) == 0);
    if (out && strcmp(out, want) != 0)
        fprintf(stderr, "    got  %s\n    want %s\n", out, want);
    UT_EQ(len, strlen(want));
}

/* True when text is one valid JSON object for the reader. */
static bool reparses(const char *text, size_t len)
{
    static const rsp_json_field none[] = {RSP_JSON_END};
    rsp_json_err err;
    rsp_arena_reset(arena);
    rsp_json_limits lim = {.max_bytes = 1 << 20, .max_tokens = 100000, .max_depth = RSP_JSON_MAX_DEPTH};
    return rsp_json_parse(arena, text, len, &lim, none, NULL, &err) == RSP_OK;
}

static void test_values(void)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "s", "plain");
    rsp_jsonw_kbool(&w, "t", true);
    rsp_jsonw_kbool(&w, "f", false);
    rsp_jsonw_kint(&w, "min", INT64_MIN);
    rsp_jsonw_kint(&w, "max", INT64_MAX);
    rsp_jsonw_kint(&w, "zero", 0);
    rsp_jsonw_key(&w, "nothing");
    rsp_jsonw_null(&w);
    rsp_jsonw_kbase64(&w, "b64", (const uint8_t *)"foob", 4);
    rsp_jsonw_khex(&w, "hex", (const uint8_t *)"\x01\xab\xff", 3);
    rsp_jsonw_kbase64(&w, "empty64", NULL, 0);
    rsp_jsonw_khex(&w, "emptyhex", NULL, 0);
    rsp_jsonw_key(&w, "list");
    rsp_jsonw_arr_begin(&w);
    rsp_jsonw_int(&w, 1);
    rsp_jsonw_str(&w, "two");
    rsp_jsonw_arr_begin(&w);
    rsp_jsonw_arr_end(&w);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_obj_end(&w);
    rsp_jsonw_arr_end(&w);
    rsp_jsonw_obj_end(&w);
    expect(&w, "{\"s\":\"plain\",\"t\":true,\"f\":false,\"min\":-9223372036854775808,"
               "\"max\":9223372036854775807,\"zero\":0,\"nothing\":null,\"b64\":\"Zm9vYg==\","
               "\"hex\":\"01ABFF\",\"empty64\":\"\",\"emptyhex\":\"\",\"list\":[1,\"two\",[],{}]}");
    rsp_jsonw_free(&w);
}

static void test_escaping(void)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "q\"k", "a\"b\\c/d\n\r\t\b\f\x01\x1f\x7f \xE2\x82\xAC");
    rsp_jsonw_key(&w, "nul");
    rsp_jsonw_strn(&w, "a\0b", 3);
    rsp_jsonw_obj_end(&w);
    expect(
        &w,
        "{\"q\\\"k\":\"a\\\"b\\\\c/d\\n\\r\\t\\b\\f\\u0001\\u001F\x7f \xE2\x82\xAC\",\"nul\":\"a\\u0000b\"}");
    const char *out;
    size_t len;
    rsp_jsonw_finish(&w, &out, &len);
    UT_CHECK(reparses(out, len));

    /* Decoded back, every byte value below 0x80 survives. */
    char all[128];
    for (int i = 0; i < 127; i++)
        all[i] = (char)(i + 1);
    all[127] = '\0';
    rsp_jsonw_reset(&w);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "s", all);
    rsp_jsonw_obj_end(&w);
    UT_EQ(rsp_jsonw_finish(&w, &out, &len), 0);
    const char *s;
    const rsp_json_field f[] = {{"s", RSP_JSON_STRING, RSP_JSON_MANDATORY, 0, 0, RSP_JSON_AT(&s), NULL, 0},
                                RSP_JSON_END};
    rsp_json_err err;
    rsp_arena_reset(arena);
    UT_EQ(rsp_json_parse(arena, out, len, NULL, f, NULL, &err), RSP_OK);
    UT_CHECK(strcmp(s, all) == 0);
    rsp_jsonw_free(&w);
}

static void test_invalid_utf8_refused(void)
{
    static const char *const bad[] = {"\xC0\x80", "\xED\xA0\x80", "\xFF", "a\xC3", "\xF4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rsp_jsonw w;
        rsp_jsonw_init(&w, NULL, 0);
        rsp_jsonw_obj_begin(&w);
        UT_EQ(rsp_jsonw_kstr(&w, "s", bad[i]), RSP_JSONW_EUTF8);
        rsp_jsonw_obj_end(&w);
        const char *out;
        UT_EQ(rsp_jsonw_finish(&w, &out, NULL), RSP_JSONW_EUTF8);
        rsp_jsonw_free(&w);
    }
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    UT_EQ(rsp_jsonw_key(&w, "\xFF"), RSP_JSONW_EUTF8);
    rsp_jsonw_free(&w);
}

static void test_structure_misuse(void)
{
    const char *out;
    rsp_jsonw w;

    /* Value in an object without a key. */
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    UT_EQ(rsp_jsonw_str(&w, "x"), RSP_JSONW_ESTATE);
    /* Sticky: later calls keep the first error. */
    UT_EQ(rsp_jsonw_obj_end(&w), RSP_JSONW_ESTATE);
    UT_EQ(rsp_jsonw_finish(&w, &out, NULL), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);

    /* Key in an array, key at top level, two keys in a row. */
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_arr_begin(&w);
    UT_EQ(rsp_jsonw_key(&w, "k"), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);
    rsp_jsonw_init(&w, NULL, 0);
    UT_EQ(rsp_jsonw_key(&w, "k"), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_key(&w, "a");
    UT_EQ(rsp_jsonw_key(&w, "b"), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);

    /* Closing an object whose last key has no value; mismatched close. */
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_key(&w, "a");
    UT_EQ(rsp_jsonw_obj_end(&w), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    UT_EQ(rsp_jsonw_arr_end(&w), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);
    rsp_jsonw_init(&w, NULL, 0);
    UT_EQ(rsp_jsonw_obj_end(&w), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);

    /* Unfinished, empty, and a second top-level value. */
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    UT_EQ(rsp_jsonw_finish(&w, &out, NULL), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);
    rsp_jsonw_init(&w, NULL, 0);
    UT_EQ(rsp_jsonw_finish(&w, &out, NULL), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_obj_end(&w);
    UT_EQ(rsp_jsonw_obj_begin(&w), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);

    /* Header members outside an object. */
    rsp_jsonw_init(&w, NULL, 0);
    UT_EQ(rsp_jsonw_header(&w, RSP_OK), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);

    /* Nesting limit. */
    rsp_jsonw_init(&w, NULL, 0);
    for (int i = 0; i < RSP_JSONW_MAX_DEPTH; i++)
        UT_EQ(rsp_jsonw_arr_begin(&w), 0);
    UT_EQ(rsp_jsonw_arr_begin(&w), RSP_JSONW_ESTATE);
    rsp_jsonw_free(&w);

    /* reset clears the error and starts over. */
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_end(&w);
    rsp_jsonw_reset(&w);
    rsp_jsonw_arr_begin(&w);
    rsp_jsonw_arr_end(&w);
    expect(&w, "[]");
    rsp_jsonw_free(&w);
}

static void test_limit_and_arena(void)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 10);
    rsp_jsonw_obj_begin(&w);
    UT_EQ(rsp_jsonw_kstr(&w, "k", "12345"), RSP_JSONW_ELIMIT);
    rsp_jsonw_free(&w);
    /* Exactly at the limit is fine: {"k":"12"} is 10 bytes. */
    rsp_jsonw_init(&w, NULL, 10);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "k", "12");
    rsp_jsonw_obj_end(&w);
    expect(&w, "{\"k\":\"12\"}");
    rsp_jsonw_free(&w);

    /* Growth in an arena across many reallocations. */
    rsp_arena *a = rsp_arena_new(1 << 20);
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_key(&w, "items");
    rsp_jsonw_arr_begin(&w);
    for (int i = 0; i < 2000; i++)
        rsp_jsonw_int(&w, i);
    rsp_jsonw_arr_end(&w);
    uint8_t blob[3000];
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)i;
    rsp_jsonw_kbase64(&w, "blob", blob, sizeof(blob));
    rsp_jsonw_obj_end(&w);
    const char *out;
    size_t len;
    UT_EQ(rsp_jsonw_finish(&w, &out, &len), 0);
    UT_EQ(strlen(out), len);
    UT_CHECK(reparses(out, len));
    rsp_jsonw_free(&w);
    rsp_arena_free(a);

    /* An arena that runs out reports ENOMEM. */
    a = rsp_arena_new(300);
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    UT_EQ(rsp_jsonw_kbase64(&w, "blob", blob, 1000), RSP_JSONW_ENOMEM);
    rsp_jsonw_free(&w);
    rsp_arena_free(a);
}

static void test_header_success(void)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_header(&w, RSP_OK);
    rsp_jsonw_obj_end(&w);
    expect(&w, "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}}}");
    rsp_jsonw_free(&w);
}

static void test_header_failed(void)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_header(&w, RSP_ST_EUM_CERT_INVALID);
    rsp_jsonw_obj_end(&w);
    expect(&w,
           "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\",\"statusCodeData\":"
           "{\"subjectCode\":\"8.1.2\",\"reasonCode\":\"6.1\",\"message\":\"EUM certificate invalid\"}}}}");
    rsp_jsonw_free(&w);

    /* Own message, with characters that need escaping. */
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_header_msg(&w, RSP_ST_MANDATORY_MISSING, "\"eid\": missing");
    rsp_jsonw_obj_end(&w);
    expect(&w, "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\",\"statusCodeData\":"
               "{\"subjectCode\":\"1.1\",\"reasonCode\":\"2.2\",\"message\":\"\\\"eid\\\": missing\"}}}}");
    rsp_jsonw_free(&w);

    /* A value outside the table is reported as an execution error. */
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_header(&w, (rsp_status)9999);
    rsp_jsonw_obj_end(&w);
    expect(&w, "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Failed\",\"statusCodeData\":"
               "{\"subjectCode\":\"1.1\",\"reasonCode\":\"5.1\",\"message\":\"Execution error\"}}}}");
    rsp_jsonw_free(&w);
}

static void test_every_status_round_trips(void)
{
    /* Each row of the status table yields a header the reader parses back to
     * the same subject and reason. */
    static const rsp_json_field fields[] = {
        {"header", RSP_JSON_OBJECT, RSP_JSON_MANDATORY, 0, 0, 0, rsp_json_resp_header_fields, 0},
        RSP_JSON_END,
    };
    for (int st = 0; st < RSP_ST__COUNT; st++) {
        rsp_jsonw w;
        rsp_jsonw_init(&w, arena, 0);
        rsp_arena_reset(arena);
        rsp_jsonw_obj_begin(&w);
        rsp_jsonw_header(&w, (rsp_status)st);
        rsp_jsonw_obj_end(&w);
        const char *out;
        size_t len;
        UT_EQ(rsp_jsonw_finish(&w, &out, &len), 0);
        rsp_json_resp_header h;
        rsp_json_err err;
        UT_EQ(rsp_json_parse(arena, out, len, NULL, fields, &h, &err), RSP_OK);
        const rsp_status_info *info = rsp_status_get((rsp_status)st);
        if (st == RSP_OK) {
            UT_CHECK(rsp_json_resp_ok(&h) && h.subject == NULL);
        } else {
            UT_CHECK(!rsp_json_resp_ok(&h));
            UT_CHECK(strcmp(h.status, "Failed") == 0);
            UT_CHECK(strcmp(h.subject, info->subject) == 0);
            UT_CHECK(strcmp(h.reason, info->reason) == 0);
            UT_CHECK(strcmp(h.message, info->message) == 0);
        }
    }
}

static void test_request_header(void)
{
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_req_header(&w, "2.999.10", "call-1");
    rsp_jsonw_kstr(&w, "eid", "89049032123451234512345678901235");
    rsp_jsonw_kstr(&w, "eventId", "EVT-1");
    rsp_jsonw_obj_end(&w);
    expect(&w,
           "{\"header\":{\"functionRequesterIdentifier\":\"2.999.10\",\"functionCallIdentifier\":\"call-1\"},"
           "\"eid\":\"89049032123451234512345678901235\",\"eventId\":\"EVT-1\"}");

    struct {
        rsp_json_req_header hdr;
        const char *eid;
    } r;
    const rsp_json_field f[] = {
        {"header", RSP_JSON_OBJECT, RSP_JSON_MANDATORY, 0, 0, RSP_JSON_AT(&r.hdr), rsp_json_req_header_fields,
         0},
        {"eid", RSP_JSON_STRING, RSP_JSON_MANDATORY, 32, 32, RSP_JSON_AT(&r.eid), NULL, 0},
        RSP_JSON_END,
    };
    const char *out;
    size_t len;
    rsp_jsonw_finish(&w, &out, &len);
    rsp_json_err err;
    rsp_arena_reset(arena);
    UT_EQ(rsp_json_parse(arena, out, len, NULL, f, NULL, &err), RSP_OK);
    UT_CHECK(strcmp(r.hdr.requester, "2.999.10") == 0);
    UT_CHECK(strcmp(r.hdr.call_id, "call-1") == 0);
    rsp_jsonw_free(&w);
}

static void test_binary_round_trip(void)
{
    /* Binaries of every length up to 200 come back identical through the reader. */
    uint8_t data[200];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(data); n++) {
        rsp_jsonw w;
        rsp_jsonw_init(&w, NULL, 0);
        rsp_jsonw_obj_begin(&w);
        rsp_jsonw_kbase64(&w, "b", data, n);
        rsp_jsonw_khex(&w, "h", data, n);
        rsp_jsonw_obj_end(&w);
        const char *out;
        size_t len;
        UT_EQ(rsp_jsonw_finish(&w, &out, &len), 0);
        rsp_json_bin b, h;
        const rsp_json_field f[] = {
            {"b", RSP_JSON_BASE64, RSP_JSON_MANDATORY, 0, 0, RSP_JSON_AT(&b), NULL, 0},
            {"h", RSP_JSON_HEX, RSP_JSON_MANDATORY, 0, 0, RSP_JSON_AT(&h), NULL, 0},
            RSP_JSON_END,
        };
        rsp_json_err err;
        rsp_arena_reset(arena);
        UT_EQ(rsp_json_parse(arena, out, len, NULL, f, NULL, &err), RSP_OK);
        UT_CHECK(b.len == n && (n == 0 || memcmp(b.data, data, n) == 0));
        UT_CHECK(h.len == n && (n == 0 || memcmp(h.data, data, n) == 0));
        rsp_jsonw_free(&w);
    }
}

static void test_print_line(void)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    UT_CHECK(f != NULL);
    if (!f)
        return;
    rsp_jsonw w;
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kstr(&w, "a", "line\nbreak");
    rsp_jsonw_obj_end(&w);
    UT_EQ(rsp_jsonw_print_line(&w, f), 0);
    /* an unfinished value prints nothing and gives the writer's error */
    rsp_jsonw_init(&w, NULL, 0);
    rsp_jsonw_obj_begin(&w);
    UT_EQ(rsp_jsonw_print_line(&w, f), RSP_JSONW_ESTATE);
    rsp_jsonw_init(&w, arena, 0);
    rsp_jsonw_str(&w, "two");
    UT_EQ(rsp_jsonw_print_line(&w, f), 0);
    UT_EQ(fclose(f), 0);
    UT_CHECK(strcmp(text, "{\"a\":\"line\\nbreak\"}\n\"two\"\n") == 0);
    free(text);
    /* a stream that refuses the bytes */
    FILE *ro = fopen("/dev/null", "r");
    UT_CHECK(ro != NULL);
    if (ro) {
        rsp_jsonw_init(&w, NULL, 0);
        rsp_jsonw_int(&w, 1);
        UT_EQ(rsp_jsonw_print_line(&w, ro), RSP_JSONW_EIO);
        fclose(ro);
    }
}

static void test_strerror(void)
{
    for (int e = RSP_JSONW_OK; e >= RSP_JSONW_EIO; e--)
        UT_CHECK(strcmp(rsp_jsonw_strerror(e), "unknown writer error") != 0);
    UT_CHECK(strcmp(rsp_jsonw_strerror(5), "unknown writer error") == 0);
}

int main(void)
{
    arena = rsp_arena_new(1 << 22);
    UT_RUN(test_values);
    UT_RUN(test_escaping);
    UT_RUN(test_invalid_utf8_refused);
    UT_RUN(test_structure_misuse);
    UT_RUN(test_limit_and_arena);
    UT_RUN(test_header_success);
    UT_RUN(test_header_failed);
    UT_RUN(test_every_status_round_trips);
    UT_RUN(test_request_header);
    UT_RUN(test_binary_round_trip);
    UT_RUN(test_print_line);
    UT_RUN(test_strerror);
    rsp_arena_free(arena);
    return ut_finish();
}
