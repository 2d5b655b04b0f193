/*
 * Fuzz target for the Default SM-DP+ request handling (ES9+ and ES2+) without sockets: the call logic
 * of call.h over a real order store, as smdp-default runs it.
 *
 * Input: fn, flags, position, then a JSON body.
 *   fn % 9     the function (smdp_fn order: initiateAuthentication .. releaseProfile); ignored when
 *              SMDP_FUZZ_FN fixes it, which is how BUILD makes one target per handler
 *   flags      bit 0: play a genuine session first (a released order for the test EID, then as many
 *                     device steps as the function needs: initiate, authenticate, getBPP + load);
 *              bit 1: damage one byte (at `position`) of the genuine DER the placeholders expand to;
 *              bit 2: ES2+ as the other operator.
 *   body       placeholders expand to genuine values: $T transactionId, $A AuthenticateServerResponse,
 *              $P PrepareDownloadResponse, $N ProfileInstallationResult, $C CancelSessionResponse,
 *              $I EUICCInfo1, $H euiccChallenge, $R the order's ICCID, $E the EID.
 * With SMDP_FUZZ_HTTP (the request_fuzz target) the body goes as a whole request over HTTP/2 to the
 * routes of smdp_default/server.c on an in-process server (tests/fuzz/reqserver.h), which checks the
 * answer; ES2+ calls then come without a client identity (a plain listener) and are refused.
 * The harness mints its own test PKI (tools/lpasim/testserver.h) in a temporary directory, imports
 * synthetic profiles and re-creates everything every few hundred sessions so the store stays small.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rsp/codec.h"
#include "smdp_default/testutil.h"
#ifdef SMDP_FUZZ_HTTP
#include "smdp_default/server.h"
#include "tests/fuzz/reqserver.h"
#endif

#define EID PKI_SGP26_EID
#define MAX_BODY (64 * 1024)
#define SESSIONS_PER_FIXTURE 300

static fx g;
static bool ready;
static unsigned sessions;
static unsigned next_profile;
static char cur[SMDP_ICCID_MAX + 1];

#ifdef SMDP_FUZZ_HTTP
static fz_server *http;

static int routes(rsp_http_server_t *srv, int device, int s2s, void *ctx)
{
    return smdp_server_routes(srv, device, s2s, ctx, false);
}
#endif

/* Clears the fixture (and the server over it). */
static void teardown(void)
{
#ifdef SMDP_FUZZ_HTTP
    fz_server_stop(http);
    http = NULL;
#endif
    fx_clear(&g);
}

static void cleanup(void)
{
    if (ready)
        teardown();
}

static bool setup(void)
{
    if (ready && sessions < SESSIONS_PER_FIXTURE)
        return true;
    if (ready)
        teardown();
    ready = fx_init(&g, NULL) == 0;
#ifdef SMDP_FUZZ_HTTP
    if (ready)
        http = fz_server_start(routes, g.x);
#endif
    sessions = 0;
    cur[0] = '\0';
    static bool registered;
    if (!registered) {
        atexit(cleanup);
        registered = true;
    }
    return ready;
}

/* A released order for the EID that still allows a download session. */
static bool released_order(void)
{
    smdp_order o;
    if (cur[0] && smdp_orders_get(g.x->store, cur, &o) == RSP_OK) {
        if (o.state == SMDP_STATE_RELEASED && o.download_attempts < 3 && !o.has_cc)
            return true;
        if (o.state != SMDP_STATE_DOWNLOADED && o.state != SMDP_STATE_INSTALLED &&
            o.state != SMDP_STATE_ERROR && o.state != SMDP_STATE_AVAILABLE &&
            o.state != SMDP_STATE_UNAVAILABLE) {
            char body[512];
            snprintf(body, sizeof(body),
                     "{\"header\":{\"functionRequesterIdentifier\":\"f\",\"functionCallIdentifier\":\"c\"},"
                     "\"iccid\":\"%s\",\"eid\":\"%s\",\"matchingId\":\"%s\","
                     "\"finalProfileStatusIndicator\":\"Available\"}",
                     cur, o.eid, o.matching_id);
            fx_call(&g, SMDP_FN_CANCEL_ORDER, FX_OPERATOR, body, NULL);
        }
    }
    char iccid[SMDP_ICCID_MAX + 1];
    snprintf(iccid, sizeof(iccid), "89000000000002%05u", next_profile++ % 100000);
    size_t len;
    uint8_t *upp = fx_upp(iccid, &len);
    smdp_metadata md = {
        .service_provider_name = "Fuzz", .profile_name = "F", .profile_class = SMDP_CLASS_ABSENT};
    char got[SMDP_ICCID_MAX + 1];
    int detail;
    bool ok = upp && smdp_orders_import_upp(g.x->store, &g.x->mk, upp, len, "F", FX_OPERATOR, &md,
                                            (uint64_t)time(NULL), got, &detail) == RSP_OK;
    free(upp);
    if (!ok || fx_download_order(&g, EID, iccid, NULL, NULL) != RSP_OK ||
        fx_confirm(&g, iccid, true, NULL, NULL) != RSP_OK)
        return false;
    memcpy(cur, iccid, sizeof(cur));
    return true;
}

typedef struct blobs {
    char tid[40];
    uint8_t *der[5]; /* A P N C I */
    size_t len[5];
    uint8_t challenge[16];
} blobs;

enum { B_A, B_P, B_N, B_C, B_I };

static void keep(blobs *b, int which, const uint8_t *p, size_t n)
{
    b->der[which] = malloc(n ? n : 1);
    if (b->der[which]) {
        memcpy(b->der[which], p, n);
        b->len[which] = n;
    }
}

/* Plays the device steps the function needs, keeping what the placeholders expand to. */
static void session(smdp_fn fn, blobs *b)
{
    fx_dev d;
    if (fx_dev_init(&g, &d) != 0)
        return;
    der_writer w;
    der_w_init(&w);
    if (euicc_get_challenge(d.e, b->challenge) == 0 && euicc_get_info1(d.e, &w) == 0)
        keep(b, B_I, w.buf, w.len);
    der_w_free(&w);
    if (fn == SMDP_FN_INITIATE_AUTH || smdp_fn_is_es2(fn) || !released_order())
        goto out;
    sessions++;
    if (fx_dev_initiate(&g, &d, NULL) != RSP_OK)
        goto out;
    snprintf(b->tid, sizeof(b->tid), "%s", d.tid_hex);
    keep(b, B_A, d.bf38, d.bf38_len);
    if (fn == SMDP_FN_AUTH_CLIENT || fx_dev_authenticate(&g, &d, NULL) != RSP_OK)
        goto out;
    keep(b, B_P, d.bf21, d.bf21_len);
    if (fn == SMDP_FN_CANCEL_SESSION) {
        uint8_t tid[16];
        size_t tl = 0;
        rsp_hex_decode(d.tid_hex, strlen(d.tid_hex), tid, sizeof(tid), &tl);
        der_writer req, resp;
        der_w_init(&req);
        der_w_init(&resp);
        der_w_begin(&req, 0xBF41);
        der_w_tlv(&req, 0x80, tid, tl);
        der_w_int(&req, 0x81, 1);
        der_w_end(&req);
        euicc_error err;
        if (der_w_finish(&req) == 0 && euicc_cancel_session(d.e, req.buf, req.len, &resp, &err) == EUICC_OK)
            keep(b, B_C, resp.buf, resp.len);
        der_w_free(&req);
        der_w_free(&resp);
        goto out;
    }
    if (fn == SMDP_FN_GET_BPP || fx_dev_get_bpp(&g, &d) != RSP_OK)
        goto out;
    keep(b, B_N, d.pir, d.pir_len);
out:
    fx_dev_clear(&d);
}

/* Appends text, or base64 of DER (damaged at pos when asked). */
static void put(char *out, size_t *n, const char *s, size_t len)
{
    if (*n + len < MAX_BODY) {
        memcpy(out + *n, s, len);
        *n += len;
    }
}

static void put_b64(char *out, size_t *n, const uint8_t *der, size_t len, bool damage, uint8_t pos)
{
    if (!der)
        return;
    uint8_t *copy = malloc(len ? len : 1);
    char *text = malloc(rsp_b64_encoded_len(len) + 1);
    if (copy && text) {
        memcpy(copy, der, len);
        if (damage && len)
            copy[(size_t)pos * 7 % len] ^= (uint8_t)(pos | 1);
        size_t tl;
        if (rsp_b64_encode(copy, len, text, rsp_b64_encoded_len(len) + 1, &tl) == 0)
            put(out, n, text, tl);
    }
    free(copy);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > MAX_BODY / 2 || !setup())
        return 0;
#ifdef SMDP_FUZZ_FN
    smdp_fn fn = SMDP_FUZZ_FN;
#else
    smdp_fn fn = (smdp_fn)(data[0] % SMDP_FN__COUNT);
#endif
    uint8_t flags = data[1], pos = data[2];
    blobs b;
    memset(&b, 0, sizeof(b));
    if (flags & 1)
        session(fn, &b);
    char *body = malloc(MAX_BODY);
    if (!body)
        return 0;
    size_t n = 0;
    bool damage = flags & 2;
    for (size_t i = 3; i < size; i++) {
        if (data[i] != '$' || i + 1 == size) {
            put(body, &n, (const char *)&data[i], 1);
            continue;
        }
        i++;
        switch (data[i]) {
        case 'T':
            put(body, &n, b.tid, strlen(b.tid));
            break;
        case 'A':
            put_b64(body, &n, b.der[B_A], b.len[B_A], damage, pos);
            break;
        case 'P':
            put_b64(body, &n, b.der[B_P], b.len[B_P], damage, pos);
            break;
        case 'N':
            put_b64(body, &n, b.der[B_N], b.len[B_N], damage, pos);
            break;
        case 'C':
            put_b64(body, &n, b.der[B_C], b.len[B_C], damage, pos);
            break;
        case 'I':
            put_b64(body, &n, b.der[B_I], b.len[B_I], damage, pos);
            break;
        case 'H':
            put_b64(body, &n, b.challenge, sizeof(b.challenge), false, 0);
            break;
        case 'R':
            put(body, &n, cur, strlen(cur));
            break;
        case 'E':
            put(body, &n, EID, strlen(EID));
            break;
        default:
            put(body, &n, (const char *)&data[i - 1], 2);
        }
    }
    body[n] = '\0';
    /* the same path as a request: parse, then the call (fx_call) */
    if (strlen(body) == n) {
#ifdef SMDP_FUZZ_HTTP
        char path[128];
        snprintf(path, sizeof(path), "/gsma/rsp2/%s/%s", smdp_fn_is_es2(fn) ? "es2plus" : "es9plus",
                 smdp_fn_path(fn));
        fz_server_post(http, path, body, n);
#else
        const char *cn = smdp_fn_is_es2(fn) ? ((flags & 4) ? FX_OTHER_OPERATOR : FX_OPERATOR) : NULL;
        rsp_status st = fx_call(&g, fn, cn, body, NULL);
        /* for checking what the seeds reach: SMDP_FUZZ_VERBOSE=1 */
        if (getenv("SMDP_FUZZ_VERBOSE"))
            fprintf(stderr, "%s: %s\n", smdp_fn_name(fn), rsp_status_str(st));
#endif
    }
    free(body);
    for (int i = 0; i < 5; i++)
        free(b.der[i]);
    return 0;
}
