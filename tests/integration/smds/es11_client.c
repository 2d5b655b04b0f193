/*
 * es11_client - a device for the SM-DS integration tests: the lpasim eUICC with a certificate chain and key
 * from files, and an LPA (tools/lpasim/lpa.h over HTTPS) that runs ES11 discovery step by step so that a
 * test can make the device misbehave (tools/lpasim/tamper.h) or finish a transaction elsewhere.
 *
 *   es11_client --server HOST:PORT --cacert CA.pem --euicc-cert F --euicc-key F --eum-cert F --ci F [--ci F]
 *               --address FQDN [--auth-server HOST:PORT] [--path es9plus|es11]
 *               [--address-field smdpAddress|smdsAddress] [--matching-id ID] [--svn X.Y.Z] [--sign-ci F]
 *               [--tamper signature|challenge|tid|address|outer-tid|truncate] [--replay] [--save-auth FILE]
 *
 * --ci: a CI the eUICC trusts (and lists for signing when it issued the EUM).  --sign-ci: the only CI the
 * eUICC lists for signing, whatever issued its chain.  --auth-server sends AuthenticateClient to another
 * server (a transaction finished on another process).
 * Output, one line each: "OK <n>" then "EVENT <eventId> <rspServerAddress>" per event; or
 * "FAIL <function> <subjectCode>/<reasonCode>" (exit 1); or "ERROR <text>" (exit 2).  With --replay the
 * AuthenticateClient request is sent a second time and its outcome printed as a further line; --save-auth
 * writes that request's JSON body to FILE (a replay later, e.g. after a restart, with curl).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rsp/cert.h"
#include "rsp/codec.h"
#include "tools/lpasim/euicc.h"
#include "tools/lpasim/lpa.h"
#include "tools/lpasim/tamper.h"

#define MAX_CI 4

static struct {
    const char *server, *auth_server, *cacert, *euicc_cert, *euicc_key, *eum_cert, *address, *path, *field,
        *matching_id, *tamper, *sign_ci, *save_auth;
    const char *ci[MAX_CI];
    size_t nci;
    bool replay;
    uint8_t svn[3];
} opt;

static int error(const char *fmt, const char *arg)
{
    printf("ERROR ");
    printf(fmt, arg ? arg : "");
    printf("\n");
    return 2;
}

/* Prints why a call failed: the server's codes (exit 1) or anything else (exit 2). */
static int failed(const char *fn, const lpa_result *res)
{
    if (!res->status[0])
        return error("%s", res->detail);
    printf("FAIL %s %s/%s\n", fn, res->subject[0] ? res->subject : "?", res->reason[0] ? res->reason : "?");
    return 1;
}

static char *path_of(char *buf, size_t cap, const char *fn)
{
    snprintf(buf, cap, "/gsma/rsp2/%s/%s", opt.path, fn);
    return buf;
}

/* Sends AuthenticateClient (body is taken over) and prints the outcome. */
static int authenticate(lpa *l, char *body, const char *tid_hex)
{
    char path[128];
    lpa_response ar;
    lpa_scratch *sc;
    lpa_result res;
    if (lpa_call(l, opt.auth_server ? opt.auth_server : opt.server,
                 path_of(path, sizeof(path), "authenticateClient"), body, LPA_FN_AUTH_CLIENT_ES11,
                 "authenticateClient", &ar, &sc, &res) != 0)
        return failed("authenticateClient", &res);
    int rc = 0;
    if (!ar.transaction_id || strcasecmp(ar.transaction_id, tid_hex) != 0) {
        rc = error("authenticateClient response without the transactionId", NULL);
    } else {
        printf("OK %zu\n", ar.nevents);
        for (size_t i = 0; i < ar.nevents; i++)
            printf("EVENT %s %s\n", ar.events[i].event_id, ar.events[i].rsp_server_address);
    }
    lpa_response_free(&ar, sc);
    return rc;
}

/* Restricts the signing list to opt.sign_ci's key id. */
static int claim_ci(euicc *e)
{
    X509 *ci = rsp_load_cert(opt.sign_ci);
    const uint8_t *ski;
    size_t len;
    int rc =
        ci && rsp_cert_ski(ci, &ski, &len) == 0 ? euicc_set_ci_lists(e, NULL, NULL, 0, &ski, &len, 1) : -1;
    X509_free(ci);
    return rc;
}

static int discover(euicc *e, lpa *l, const lpa_opts *lo)
{
    const char *t = opt.tamper ? opt.tamper : "";
    tamper_auth ta = {
        .bad_signature = strcmp(t, "signature") == 0,
        .wrong_challenge = strcmp(t, "challenge") == 0,
        .wrong_tid = strcmp(t, "tid") == 0,
        .signed_address = strcmp(t, "address") == 0 ? "wrong.example.com" : NULL,
    };
    uint8_t challenge[16];
    der_writer info1, req, resp, sent;
    der_w_init(&info1);
    der_w_init(&req);
    der_w_init(&resp);
    der_w_init(&sent);
    lpa_response ia;
    lpa_scratch *sc = NULL;
    lpa_result res;
    euicc_error err;
    char path[128], tid_hex[2 * 16 + 1], *body, *again;
    uint8_t tid[16];
    size_t tid_len, sent_len;
    int rc;
    if (euicc_get_challenge(e, challenge) != 0 || euicc_get_info1(e, &info1) != 0 ||
        der_w_finish(&info1) != 0) {
        rc = error("eUICC info", NULL);
        goto out;
    }
    body = lpa_json_initiate_auth(challenge, info1.buf, info1.len, opt.address,
                                  strcmp(opt.field, "smdsAddress") == 0);
    if (lpa_call(l, opt.server, path_of(path, sizeof(path), "initiateAuthentication"), body,
                 LPA_FN_INITIATE_AUTH, "initiateAuthentication", &ia, &sc, &res) != 0) {
        sc = NULL;
        rc = failed("initiateAuthentication", &res);
        goto out;
    }
    if (rsp_hex_decode(ia.transaction_id, strlen(ia.transaction_id), tid, sizeof(tid), &tid_len) != 0 ||
        tid_len == 0) {
        rc = error("initiateAuthentication: transactionId %s", ia.transaction_id);
        goto out;
    }
    if (lpa_build_authenticate_server(lo, &ia, opt.matching_id, &req) != 0 || der_w_finish(&req) != 0) {
        rc = error("cannot build the AuthenticateServerRequest", NULL);
        goto out;
    }
    if (euicc_authenticate_server(e, req.buf, req.len, opt.address, &resp, &err) != EUICC_OK ||
        der_w_finish(&resp) != 0) {
        rc = error("eUICC refused the server: %s", err.detail);
        goto out;
    }
    if (ta.bad_signature || ta.wrong_challenge || ta.wrong_tid || ta.signed_address) {
        if (tamper_auth_server_resp(euicc_key(e), resp.buf, resp.len, &ta, &sent) != 0 ||
            der_w_finish(&sent) != 0) {
            rc = error("cannot tamper with the AuthenticateServerResponse", NULL);
            goto out;
        }
    } else {
        der_w_raw(&sent, resp.buf, resp.len);
    }
    sent_len = sent.len;
    if (strcmp(t, "outer-tid") == 0)
        tid[tid_len - 1] ^= 0x5A;
    if (strcmp(t, "truncate") == 0)
        sent_len -= 7;
    rsp_hex_encode(tid, tid_len, tid_hex, sizeof(tid_hex), NULL);
    body = lpa_json_authenticate_client(tid_hex, sent.buf, sent_len);
    if (opt.save_auth && body) {
        FILE *f = fopen(opt.save_auth, "w");
        if (!f || fputs(body, f) < 0 || fclose(f) != 0) {
            free(body);
            rc = error("cannot write %s", opt.save_auth);
            goto out;
        }
    }
    again = opt.replay && body ? strdup(body) : NULL;
    rc = authenticate(l, body, tid_hex);
    if (opt.replay && rc != 2)
        rc = authenticate(l, again, tid_hex);
    else
        free(again);
out:
    if (sc)
        lpa_response_free(&ia, sc);
    der_w_free(&info1);
    der_w_free(&req);
    der_w_free(&resp);
    der_w_free(&sent);
    return rc;
}

static int run(void)
{
    euicc_error err;
    euicc *e = euicc_load_files(opt.euicc_cert, opt.euicc_key, opt.eum_cert, opt.ci, opt.nci, &err);
    if (!e)
        return error("eUICC: %s", err.detail);
    if (opt.svn[0] | opt.svn[1] | opt.svn[2])
        memcpy(euicc_config_of(e)->svn, opt.svn, 3);
    if (opt.sign_ci && claim_ci(e) != 0) {
        euicc_free(e);
        return error("cannot list %s for signing", opt.sign_ci);
    }
    lpa_opts lo = {.cafile = opt.cacert, .timeout_ms = 20000};
    lpa *l = lpa_new(e, &lo);
    int rc = l ? discover(e, l, &lo) : error("cannot create the LPA", NULL);
    lpa_free(l);
    euicc_free(e);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"server", required_argument, NULL, 'u'},
        {"auth-server", required_argument, NULL, 'U'},
        {"cacert", required_argument, NULL, 'C'},
        {"euicc-cert", required_argument, NULL, 'e'},
        {"euicc-key", required_argument, NULL, 'k'},
        {"eum-cert", required_argument, NULL, 'm'},
        {"ci", required_argument, NULL, 'c'},
        {"address", required_argument, NULL, 'a'},
        {"path", required_argument, NULL, 'p'},
        {"address-field", required_argument, NULL, 'f'},
        {"matching-id", required_argument, NULL, 'i'},
        {"svn", required_argument, NULL, 's'},
        {"tamper", required_argument, NULL, 't'},
        {"replay", no_argument, NULL, 'r'},
        {"sign-ci", required_argument, NULL, 'S'},
        {"save-auth", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    opt.path = "es9plus";
    opt.field = "smdpAddress";
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'u':
            opt.server = optarg;
            break;
        case 'U':
            opt.auth_server = optarg;
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
            if (opt.nci == MAX_CI)
                return error("too many --ci", NULL);
            opt.ci[opt.nci++] = optarg;
            break;
        case 'a':
            opt.address = optarg;
            break;
        case 'p':
            if (strcmp(optarg, "es9plus") != 0 && strcmp(optarg, "es11") != 0)
                return error("bad --path %s", optarg);
            opt.path = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "smdpAddress") != 0 && strcmp(optarg, "smdsAddress") != 0)
                return error("bad --address-field %s", optarg);
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
        case 'S':
            opt.sign_ci = optarg;
            break;
        case 'w':
            opt.save_auth = optarg;
            break;
        default:
            return error("usage: see the header of es11_client.c", NULL);
        }
    }
    if (!opt.server || !opt.cacert || !opt.euicc_cert || !opt.euicc_key || !opt.eum_cert || !opt.nci ||
        !opt.address)
        return error(
            "missing arguments (--server --cacert --euicc-cert --euicc-key --eum-cert --ci --address)", NULL);
    return run();
}
