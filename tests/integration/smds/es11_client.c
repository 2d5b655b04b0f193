/*
 * es11_client - a device for the SM-DS integration tests: plays the LPA over HTTPS (libcurl) and the
 * eUICC (tests/euicc) with a certificate chain and key from files, and runs ES11 discovery.
 *
 *   es11_client --url https://HOST:PORT --cacert CA.pem --euicc-cert F --euicc-key F --eum-cert F
 *               --ci F [--ci F] --address FQDN [--auth-url URL] [--path es9plus|es11]
 *               [--address-field smdpAddress|smdsAddress] [--matching-id ID] [--svn X.Y.Z]
 *               [--tamper signature|challenge|tid|address|outer-tid|truncate] [--replay] [--skip-checks]
 *
 * --auth-url sends AuthenticateClient to another server (a transaction finished on another process).
 * Output, one line each: "OK <n>" then "EVENT <eventId> <rspServerAddress>" per event; or
 * "FAIL <function> <subjectCode>/<reasonCode>" (exit 1); or "ERROR <text>" (exit 2).  With --replay the
 * AuthenticateClient request is sent a second time and its outcome printed as a further line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <openssl/rand.h>

#include "rsp/arena.h"
#include "rsp/json.h"
#include "rsp/jsonw.h"
#include "tests/euicc/euicc_sim.h"

#define MAX_BODY (1 << 20)

static struct {
    const char *url, *auth_url, *cacert, *euicc_cert, *euicc_key, *eum_cert, *address, *path, *field,
        *matching_id, *tamper;
    const char *ci[EUICC_SIM_MAX_CI];
    size_t nci;
    bool replay, skip;
    uint8_t svn[3];
} opt;

typedef struct buf {
    char *p;
    size_t len;
} buf;

static size_t on_body(char *d, size_t sz, size_t n, void *arg)
{
    buf *b = arg;
    size_t add = sz * n;
    if (b->len + add > MAX_BODY)
        return 0;
    char *np = realloc(b->p, b->len + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->len, d, add);
    b->p = np;
    b->len += add;
    np[b->len] = 0;
    return add;
}

static int error(const char *fmt, const char *arg)
{
    printf("ERROR ");
    printf(fmt, arg ? arg : "");
    printf("\n");
    return 2;
}

/* POSTs body; returns 0 with the response in out, or prints ERROR and returns 2. */
static int post(const char *base, const char *fn, const char *body, size_t len, buf *out)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s/gsma/rsp2/%s/%s", base, opt.path, fn);
    CURL *h = curl_easy_init();
    if (!h)
        return error("curl init", NULL);
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "X-Admin-Protocol: gsma/rsp/v2.2.2");
    hdr = curl_slist_append(hdr, "User-Agent: gsma-rsp-lpad");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(h, CURLOPT_CAINFO, opt.cacert);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
        return error("transport: %s", curl_easy_strerror(rc));
    if (status != 200) {
        char s[16];
        snprintf(s, sizeof(s), "%ld", status);
        return error("HTTP status %s", s);
    }
    return 0;
}

typedef struct init_resp {
    rsp_json_resp_header hdr;
    rsp_json_bin tid, signed1, sig1, pkid, cert;
} init_resp;

static const rsp_json_field init_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, init_resp, hdr, rsp_json_resp_header_fields),
    RSP_JSON_F("transactionId", RSP_JSON_HEX, 0, 0, 16, init_resp, tid),
    RSP_JSON_F("serverSigned1", RSP_JSON_BASE64, 0, 0, 0, init_resp, signed1),
    RSP_JSON_F("serverSignature1", RSP_JSON_BASE64, 0, 0, 0, init_resp, sig1),
    RSP_JSON_F("euiccCiPKIdToBeUsed", RSP_JSON_BASE64, 0, 0, 0, init_resp, pkid),
    RSP_JSON_F("serverCertificate", RSP_JSON_BASE64, 0, 0, 0, init_resp, cert),
    RSP_JSON_END,
};

typedef struct entry {
    const char *event_id, *address;
} entry;

static const rsp_json_field entry_fields[] = {
    RSP_JSON_F("eventId", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 0, entry, event_id),
    RSP_JSON_F("rspServerAddress", RSP_JSON_STRING, RSP_JSON_MANDATORY, 1, 0, entry, address),
    RSP_JSON_END,
};

typedef struct auth_resp {
    rsp_json_resp_header hdr;
    rsp_json_bin tid;
    rsp_json_array events;
} auth_resp;

static const rsp_json_field auth_fields[] = {
    RSP_JSON_OBJ("header", RSP_JSON_MANDATORY, auth_resp, hdr, rsp_json_resp_header_fields),
    RSP_JSON_F("transactionId", RSP_JSON_HEX, 0, 0, 16, auth_resp, tid),
    RSP_JSON_ARR("eventEntries", 0, 0, 0, auth_resp, events, entry_fields, entry),
    RSP_JSON_END,
};

static int failed(const char *fn, const rsp_json_resp_header *h)
{
    printf("FAIL %s %s/%s\n", fn, h->subject ? h->subject : "?", h->reason ? h->reason : "?");
    return 1;
}

/* Sends AuthenticateClient and prints the outcome. */
static int authenticate(rsp_arena *a, const char *body, size_t len)
{
    buf r = {0};
    int rc = post(opt.auth_url ? opt.auth_url : opt.url, "authenticateClient", body, len, &r);
    if (rc) {
        free(r.p);
        return rc;
    }
    auth_resp ar;
    rsp_json_err jerr;
    if (rsp_json_parse(a, r.p, r.len, NULL, auth_fields, &ar, &jerr) != RSP_OK) {
        free(r.p);
        return error("authenticateClient response: %s", jerr.reason);
    }
    free(r.p);
    if (!rsp_json_resp_ok(&ar.hdr))
        return failed("authenticateClient", &ar.hdr);
    if (!ar.tid.data)
        return error("authenticateClient response without transactionId", NULL);
    const entry *e = ar.events.items;
    printf("OK %zu\n", ar.events.count);
    for (size_t i = 0; i < ar.events.count; i++)
        printf("EVENT %s %s\n", e[i].event_id, e[i].address);
    return 0;
}

static int run(void)
{
    euicc_sim sim;
    if (euicc_sim_load(&sim, opt.euicc_cert, opt.euicc_key, opt.eum_cert, opt.ci, opt.nci) != 0)
        return error("eUICC: %s", euicc_sim_error());
    euicc_sim_opts eo = {.matching_id = opt.matching_id, .skip_server_checks = opt.skip};
    memcpy(eo.svn, opt.svn, 3);
    const char *t = opt.tamper ? opt.tamper : "";
    eo.bad_signature = strcmp(t, "signature") == 0;
    eo.wrong_challenge = strcmp(t, "challenge") == 0;
    eo.wrong_tid = strcmp(t, "tid") == 0;
    if (strcmp(t, "address") == 0)
        eo.signed_address = "wrong.example.com";

    rsp_arena *a = rsp_arena_new(8 << 20);
    uint8_t challenge[16], *info1 = NULL;
    size_t info1_len;
    int rc = 2;
    if (!a || RAND_bytes(challenge, 16) != 1 || euicc_sim_info1(&sim, &eo, &info1, &info1_len) != 0) {
        rc = error("eUICC info: %s", euicc_sim_error());
        goto out;
    }
    rsp_jsonw w;
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_kbase64(&w, "euiccChallenge", challenge, 16);
    rsp_jsonw_kbase64(&w, "euiccInfo1", info1, info1_len);
    rsp_jsonw_kstr(&w, opt.field, opt.address);
    rsp_jsonw_obj_end(&w);
    const char *body;
    size_t len;
    rsp_jsonw_finish(&w, &body, &len);
    buf r = {0};
    if ((rc = post(opt.url, "initiateAuthentication", body, len, &r)) != 0) {
        free(r.p);
        goto out;
    }
    init_resp ir;
    rsp_json_err jerr;
    rsp_status st = rsp_json_parse(a, r.p, r.len, NULL, init_fields, &ir, &jerr);
    free(r.p);
    if (st != RSP_OK) {
        rc = error("initiateAuthentication response: %s", jerr.reason);
        goto out;
    }
    if (!rsp_json_resp_ok(&ir.hdr)) {
        rc = failed("initiateAuthentication", &ir.hdr);
        goto out;
    }
    if (!ir.tid.data || !ir.signed1.data || !ir.sig1.data || !ir.pkid.data || !ir.cert.data) {
        rc = error("initiateAuthentication response lacks a member", NULL);
        goto out;
    }
    euicc_sim_server srv = {ir.signed1.data, ir.sig1.data, ir.pkid.data, ir.cert.data,
                            ir.signed1.len,  ir.sig1.len,  ir.pkid.len,  ir.cert.len};
    uint8_t *bf38;
    size_t bf38_len;
    if (euicc_sim_authenticate(&sim, &eo, challenge, opt.address, &srv, &bf38, &bf38_len) != 0) {
        rc = error("eUICC refused the server: %s", euicc_sim_error());
        goto out;
    }
    uint8_t tid[16];
    memcpy(tid, ir.tid.data, ir.tid.len);
    if (strcmp(t, "outer-tid") == 0)
        tid[ir.tid.len - 1] ^= 0x5A;
    if (strcmp(t, "truncate") == 0)
        bf38_len -= 7;
    rsp_jsonw_init(&w, a, 0);
    rsp_jsonw_obj_begin(&w);
    rsp_jsonw_khex(&w, "transactionId", tid, ir.tid.len);
    rsp_jsonw_kbase64(&w, "authenticateServerResponse", bf38, bf38_len);
    rsp_jsonw_obj_end(&w);
    rsp_jsonw_finish(&w, &body, &len);
    free(bf38);
    rc = authenticate(a, body, len);
    if (opt.replay && rc != 2)
        rc = authenticate(a, body, len);
out:
    free(info1);
    rsp_arena_free(a);
    euicc_sim_free(&sim);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"url", required_argument, NULL, 'u'},         {"auth-url", required_argument, NULL, 'U'},
        {"cacert", required_argument, NULL, 'C'},      {"euicc-cert", required_argument, NULL, 'e'},
        {"euicc-key", required_argument, NULL, 'k'},   {"eum-cert", required_argument, NULL, 'm'},
        {"ci", required_argument, NULL, 'c'},          {"address", required_argument, NULL, 'a'},
        {"path", required_argument, NULL, 'p'},        {"address-field", required_argument, NULL, 'f'},
        {"matching-id", required_argument, NULL, 'i'}, {"svn", required_argument, NULL, 's'},
        {"tamper", required_argument, NULL, 't'},      {"replay", no_argument, NULL, 'r'},
        {"skip-checks", no_argument, NULL, 'K'},       {NULL, 0, NULL, 0},
    };
    opt.path = "es9plus";
    opt.field = "smdpAddress";
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'u':
            opt.url = optarg;
            break;
        case 'U':
            opt.auth_url = optarg;
            break;
        case 'C':
            opt.cacert = optarg;
            break;
        case 'e':
            opt.euicc_cert = optarg;
            break;
        case 'k':
            opt.euicc_key = optarg;
            break;
        case 'm':
            opt.eum_cert = optarg;
            break;
        case 'c':
            if (opt.nci == EUICC_SIM_MAX_CI)
                return error("too many --ci", NULL);
            opt.ci[opt.nci++] = optarg;
            break;
        case 'a':
            opt.address = optarg;
            break;
        case 'p':
            opt.path = optarg;
            break;
        case 'f':
            opt.field = optarg;
            break;
        case 'i':
            opt.matching_id = optarg;
            break;
        case 's': {
            unsigned x, y, z;
            if (sscanf(optarg, "%u.%u.%u", &x, &y, &z) != 3 || x > 255 || y > 255 || z > 255)
                return error("bad --svn %s", optarg);
            opt.svn[0] = (uint8_t)x;
            opt.svn[1] = (uint8_t)y;
            opt.svn[2] = (uint8_t)z;
            break;
        }
        case 't':
            opt.tamper = optarg;
            break;
        case 'r':
            opt.replay = true;
            break;
        case 'K':
            opt.skip = true;
            break;
        default:
            return error("usage: see the header of es11_client.c", NULL);
        }
    }
    if (!opt.url || !opt.cacert || !opt.euicc_cert || !opt.euicc_key || !opt.eum_cert || !opt.nci ||
        !opt.address)
        return error("missing arguments (--url --cacert --euicc-cert --euicc-key --eum-cert --ci --address)",
                     NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run();
    curl_global_cleanup();
    return rc;
}
