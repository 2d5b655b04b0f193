/*
 * Fuzz target for the SM-DS request handling (ES11, ES12, ES15) without sockets.
 *
 * Input: one mode byte, then the rest.
 *   0 InitiateAuthentication body      1 AuthenticateClient body
 *   2 ES12 RegisterEvent body           3 ES12 DeleteEvent body
 *   4 ES15 RegisterEvent body           5 ES15 DeleteEvent body
 *   6 a genuine transaction whose AuthenticateServerResponse is then damaged: the rest is a list of
 *     (offset hi, offset lo, xor) triples applied to the BF38 DER (byte 0 of the rest, if odd, also
 *     asks for ctxParams1.matchingId "EV-1").
 * With SMDS_FUZZ_HTTP (the request_fuzz target) the JSON bodies go as whole requests over HTTP/2 to the
 * routes of smds/server.c on an in-process server (tests/fuzz/reqserver.h), which checks the answer.
 * In JSON bodies the placeholders @INFO1@, @TID@ and @BF38@ become a valid EUICCInfo1, and the
 * transactionId and BF38 of a genuine transaction, so mutations start from inputs that pass the
 * early checks.  The harness mints its own test PKI (tools/lpasim/testserver.h) into a temporary directory
 * at start; the device is the lpasim eUICC.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rsp/codec.h"
#include "rsp/jsonw.h"
#include "smds/es11.h"
#include "smds/es12.h"
#include "smds/testutil.h"
#include "tools/lpasim/euicc.h"
#include "tools/lpasim/lpa.h"
#include "tools/lpasim/testserver.h"
#ifdef SMDS_FUZZ_HTTP
#include "smds/server.h"
#include "tests/fuzz/reqserver.h"
#endif

#define FQDN TU_FQDN
#define EID PKI_SGP26_EID

static char dir[256];
static smds_t *x;
static euicc *card;
static const char *dp_dns[] = {"testsmdpplus1.example.com"};
static const smds_caller dp = {RSP_PEER_DP, "2.999.10", dp_dns, 1};
static const char *ds_dns[] = {"alt.example.com"};
static const smds_caller ds = {RSP_PEER_DS, "2.999.21", ds_dns, 1};

#ifdef SMDS_FUZZ_HTTP
static fz_server *http;

static int routes(rsp_http_server_t *srv, int device, int s2s, void *ctx)
{
    return smds_server_routes(srv, device, s2s, ctx, false);
}
#endif

static void cleanup(void)
{
#ifdef SMDS_FUZZ_HTTP
    fz_server_stop(http);
#endif
    smds_free(x);
    euicc_free(card);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "smds_fuzz: cannot remove %s\n", dir);
}

static int setup(void)
{
    const char *tmp = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/smds_fuzz.XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    if (tu_pki_nist_inproc(dir, &card) != 0) {
        fprintf(stderr, "smds_fuzz: minting the test PKI failed\n");
        return -1;
    }
    smds_config *cfg = tu_config(dir, dir, true);
    cfg->store = (smds_store_config){.nosync = true, .per_eid_cap = 8};
    cfg->replay_capacity = 1 << 20;
    if (!(x = tu_new(cfg, "smds_fuzz")))
        return -1;
    atexit(cleanup);
    /* one event, so that discovery has something to select */
    smds_event ev = {.eid = EID,
                     .event_id = "EV-1",
                     .rsp_server_address = "testsmdpplus1.example.com",
                     .owner = "2.999.10",
                     .via = 12};
    smds_event_register_wait(x, &ev, false, time(NULL));
#ifdef SMDS_FUZZ_HTTP
    http = fz_server_start(routes, x);
#endif
    return 0;
}

/* The eUICC's EUICCInfo1 (DER in a finished writer the caller frees). */
static int info1_of(der_writer *w)
{
    der_w_init(w);
    return euicc_get_info1(card, w) == 0 && der_w_finish(w) == 0 ? 0 : -1;
}

/* A genuine transaction: the initiate result (tid) and the eUICC's BF38 (in a writer the caller frees). */
static int transaction(rsp_arena *a, bool matching, uint8_t tid[16], der_writer *bf38)
{
    return tu_transaction(x, card, a, matching ? "EV-1" : NULL, tid, bf38);
}

/* Copies the body, replacing the first @INFO1@, @TID@ and @BF38@. */
static char *expand(rsp_arena *a, const uint8_t *data, size_t size, size_t *out_len)
{
    char *s = rsp_arena_strndup(a, (const char *)data, size);
    if (!s || (!memmem(data, size, "@INFO1@", 7) && !memmem(data, size, "@TID@", 5) &&
               !memmem(data, size, "@BF38@", 6))) {
        *out_len = size;
        return s;
    }
    uint8_t tid[16];
    der_writer bf38, info1;
    char *tid_hex = NULL, *bf38_b64 = NULL, *info1_b64 = NULL;
    int rc = transaction(a, memmem(data, size, "EV-1", 4) != NULL, tid, &bf38) != 0 ||
             info1_of(&info1) != 0 || rsp_hex_encode_arena(a, tid, 16, &tid_hex, NULL) ||
             rsp_b64_encode_arena(a, bf38.buf, bf38.len, &bf38_b64, NULL) ||
             rsp_b64_encode_arena(a, info1.buf, info1.len, &info1_b64, NULL);
    der_w_free(&bf38);
    der_w_free(&info1);
    if (rc) {
        *out_len = size;
        return s;
    }
    const char *names[3] = {"@INFO1@", "@TID@", "@BF38@"}, *vals[3] = {info1_b64, tid_hex, bf38_b64};
    for (int i = 0; i < 3; i++) {
        char *at = strstr(s, names[i]);
        if (!at)
            continue;
        size_t pre = (size_t)(at - s), nl = strlen(names[i]), vl = strlen(vals[i]), rest = strlen(at + nl);
        char *n = rsp_arena_alloc(a, pre + vl + rest + 1);
        if (!n)
            break;
        memcpy(n, s, pre);
        memcpy(n + pre, vals[i], vl);
        memcpy(n + pre + vl, at + nl, rest + 1);
        s = n;
    }
    *out_len = strlen(s);
    return s;
}

/* Writes a success response the way the server does and checks that it is valid JSON. */
static void check_written(rsp_arena *a, rsp_jsonw *w)
{
    rsp_jsonw_obj_end(w);
    const char *out;
    size_t len;
    if (rsp_jsonw_finish(w, &out, &len) != 0)
        abort();
    rsp_json_doc *doc;
    rsp_json_err jerr;
    if (rsp_json_doc_parse(a, out, len, NULL, &doc, &jerr) != RSP_OK)
        abort();
}

static void run_json(int mode, rsp_arena *a, const char *body, size_t len)
{
#ifdef SMDS_FUZZ_HTTP
    static const char *const paths[] = {
        "/gsma/rsp2/es11/initiateAuthentication", "/gsma/rsp2/es11/authenticateClient",
        "/gsma/rsp2/es12/registerEvent",          "/gsma/rsp2/es12/deleteEvent",
        "/gsma/rsp2/es15/registerEvent",          "/gsma/rsp2/es15/deleteEvent",
    };
    (void)a;
    fz_server_post(http, paths[mode], body, len);
    return;
#endif
    rsp_json_doc *doc;
    rsp_json_err jerr;
    if (rsp_json_doc_parse(a, body, len, NULL, &doc, &jerr) != RSP_OK)
        return;
    smds_msg msg = {0};
    rsp_jsonw w;
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_header(&w, RSP_OK);
    if (mode == 0) {
        smds_es11_init_result r;
        if (smds_es11_initiate(x, a, doc, time(NULL), &r, &msg) == RSP_OK) {
            smds_es11_initiate_write(&w, &r);
            check_written(a, &w);
            smds_es11_init_result_clear(&r);
        }
    } else if (mode == 1) {
        smds_es11_auth_result r;
        if (smds_es11_authenticate(x, a, doc, time(NULL), &r, &msg) == RSP_OK) {
            smds_es11_authenticate_write(&w, &r);
            check_written(a, &w);
        }
        smds_es11_auth_result_clear(&r);
    } else if (mode == 2 || mode == 4) {
        const smds_caller *who = mode == 2 ? &dp : &ds;
        smds_event ev;
        bool fwd;
        if (smds_es12_parse_register(x, doc, who, mode == 2 ? SMDS_ES12 : SMDS_ES15, &ev, &fwd, &msg) ==
                RSP_OK &&
            smds_event_register_wait(x, &ev, fwd, time(NULL)) == RSP_OK &&
            smds_event_delete_wait(x, ev.eid, ev.event_id, who->owner) != RSP_OK)
            abort(); /* what was just registered must be deletable by its owner */
    } else {
        const smds_caller *who = mode == 3 ? &dp : &ds;
        char eid[SMDS_EID_LEN + 1], id[SMDS_EVENT_ID_MAX + 1];
        if (smds_es12_parse_delete(x, doc, who, mode == 3 ? SMDS_ES12 : SMDS_ES15, eid, id, &msg) == RSP_OK &&
            strcmp(id, "EV-1") != 0)
            smds_event_delete_wait(x, eid, id, who->owner);
    }
}

static void run_damaged(rsp_arena *a, const uint8_t *data, size_t size)
{
    uint8_t tid[16];
    der_writer bf38;
    if (transaction(a, size > 0 && (data[0] & 1), tid, &bf38) != 0) {
        der_w_free(&bf38);
        return;
    }
    for (size_t i = 1; i + 2 < size; i += 3) {
        size_t off = ((size_t)data[i] << 8 | data[i + 1]) % bf38.len;
        bf38.buf[off] ^= data[i + 2];
    }
    rsp_jsonw w;
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_khex(&w, "transactionId", tid, 16);
    rsp_jsonw_kbase64(&w, "authenticateServerResponse", bf38.buf, bf38.len);
    rsp_jsonw_obj_end(&w);
    der_w_free(&bf38);
    const char *body;
    size_t blen;
    if (rsp_jsonw_finish(&w, &body, &blen) == 0)
        run_json(1, a, body, blen);
}

/* SMDS_FUZZ_MODES (a bit mask over the modes) restricts a build to one handler's modes, which is how
 * BUILD makes one target per handler; a mode byte outside the mask maps onto the mask. */
static int pick_mode(uint8_t b)
{
    int mode = b % 7;
#ifdef SMDS_FUZZ_MODES
    if (!((SMDS_FUZZ_MODES >> mode) & 1)) {
        int k = b % __builtin_popcount(SMDS_FUZZ_MODES);
        for (mode = 0; mode < 7; mode++)
            if (((SMDS_FUZZ_MODES >> mode) & 1) && k-- == 0)
                break;
    }
#endif
    return mode;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (setup() != 0)
            abort();
        ready = 1;
    }
    if (size < 1 || size > 32 * 1024)
        return 0;
    int mode = pick_mode(data[0]);
    rsp_arena *a = rsp_arena_new(4 << 20);
    if (!a)
        return 0;
    if (mode == 6) {
        run_damaged(a, data + 1, size - 1);
    } else {
        size_t len;
        char *body = expand(a, data + 1, size - 1, &len);
        if (body)
            run_json(mode, a, body, len);
    }
    rsp_arena_free(a);
    return 0;
}
