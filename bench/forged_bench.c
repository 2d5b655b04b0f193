/*
 * forged_bench - CPU cost of forged ES11 AuthenticateClient calls on the SM-DS handler (no sockets),
 * and whether a genuine device is served after the flood.
 *
 *   bazel run -c opt //bench:forged_bench [-- forged_calls]        (default 120000)
 *
 * A forged call is what the replay-cache exhaustion used: a made-up transactionId with a valid version,
 * key id and CI index, an expiry far in the future and a new tail each time, and a small
 * authenticateResponseError.  Each call parses the JSON body as the server does (a fresh arena, the
 * jsmn document) and runs smds_es11_authenticate().  The figures are thread CPU time per call, for the
 * first 100,000 calls (the default replay_cache size) and for the calls after them; then one genuine
 * discovery, with its outcome and time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asn1/sgp22.h"
#include "rsp/codec.h"
#include "rsp/jsonw.h"
#include "smds/es11.h"
#include "smds/testutil.h"
#include "tools/lpasim/euicc.h"

#ifdef RSP_TXN_TAG_LEN
#define EXPIRY_OFF 2 /* version|key, CI, expiry (the tagged layout) */
#else
#define EXPIRY_OFF 4 /* version, key, CI, flags, expiry */
#endif

static smds_t *x;
static euicc *card;

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int setup(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/forged_bench.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    if (tu_pki_nist_inproc(dir, &card) != 0)
        return -1;
    smds_config *cfg = tu_config(dir, dir, true);
    cfg->store.nosync = true;
    return (x = tu_new(cfg, "forged_bench")) ? 0 : -1;
}

static rsp_status authenticate(const uint8_t tid[16], const uint8_t *bf38, size_t len)
{
    rsp_arena *a = rsp_arena_new(1 << 20);
    rsp_jsonw w;
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_khex(&w, "transactionId", tid, 16);
    rsp_jsonw_kbase64(&w, "authenticateServerResponse", bf38, len);
    rsp_jsonw_obj_end(&w);
    const char *body;
    size_t blen;
    rsp_json_doc *doc;
    rsp_json_err jerr;
    rsp_status st = RSP_ST_INTERNAL;
    if (rsp_jsonw_finish(&w, &body, &blen) == 0 &&
        rsp_json_doc_parse(a, body, blen, NULL, &doc, &jerr) == RSP_OK) {
        smds_msg msg = {0};
        smds_es11_auth_result r;
        st = smds_es11_authenticate(x, a, doc, time(NULL), &r, &msg);
        smds_es11_auth_result_clear(&r);
    }
    rsp_arena_free(a);
    return st;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 120000;
    char dir[256];
    if (n <= 0 || setup(dir, sizeof(dir)) != 0) {
        fprintf(stderr, "forged_bench: setup failed\n");
        return 1;
    }
    rsp_arena *a = rsp_arena_new(1 << 20);
    uint8_t genuine[16], forged[16];
    der_writer bf38;
    if (tu_transaction(x, card, a, NULL, genuine, &bf38) != 0) {
        fprintf(stderr, "forged_bench: initiate failed\n");
        return 1;
    }
    der_w_free(&bf38);
    long phase = n < 100000 ? n : 100000, counts[2][2] = {{0}};
    double cpu[2] = {0};
    for (long i = 0; i < n; i++) {
        memcpy(forged, genuine, EXPIRY_OFF);
        memset(forged + EXPIRY_OFF, 0xFF, 4);
        memset(forged + EXPIRY_OFF + 4, 0, 16 - EXPIRY_OFF - 4);
        uint64_t tail = (uint64_t)i * 0x9E3779B97F4A7C15ull; /* a random-looking tail, as an attacker sends */
        memcpy(forged + 8, &tail, sizeof(tail));
        sgp22_auth_server_resp e = {.is_ok = false,
                                    .error = {.transaction_id = SGP22_BYTES(forged, 16), .code = 1}};
        der_writer w;
        der_w_init(&w);
        sgp22_auth_server_resp_encode(&w, &e);
        der_w_finish(&w);
        int p = i >= phase;
        double t0 = cpu_us();
        rsp_status st = authenticate(forged, w.buf, w.len);
        cpu[p] += cpu_us() - t0;
        counts[p][0]++;
        counts[p][1] += st == RSP_ST_INTERNAL; /* "replay cache full" */
        der_w_free(&w);
    }
    printf("forged calls 1..%ld: %.1f us CPU per call (%ld answered 1.1/5.1)\n", counts[0][0],
           cpu[0] / (double)counts[0][0], counts[0][1]);
    if (counts[1][0])
        printf("forged calls %ld..%ld: %.1f us CPU per call (%ld answered 1.1/5.1)\n", phase + 1, n,
               cpu[1] / (double)counts[1][0], counts[1][1]);
    uint8_t tid[16];
    double t0 = wall_ms();
    rsp_status st = tu_transaction(x, card, a, NULL, tid, &bf38) == 0 ? authenticate(tid, bf38.buf, bf38.len)
                                                                      : RSP_ST_INTERNAL;
    printf("then a genuine discovery: %s in %.1f ms\n", rsp_status_str(st), wall_ms() - t0);
    der_w_free(&bf38);
    rsp_arena_free(a);
    smds_free(x);
    euicc_free(card);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 && st == RSP_OK ? 0 : 1;
}
